//! # dcrobust-attacks
//!
//! Adversarial attacks against any differentiable image classifier that implements [`Model`]:
//! FGSM, BIM, PGD (L∞ and L2, with restarts), MI-FGSM, APGD (cross-entropy and DLR), targeted
//! APGD-T and FAB-T, CW-L2, the score-based Square attack, and AutoAttack's standard ensemble.
//!
//! Contract:
//! - A [`Model`] takes images in `[0, 1]` (or its [`Model::bounds`]), owns its input
//!   normalisation, and is always evaluated in inference mode with frozen weights, so an attack
//!   never alters the model it attacks and never computes weight gradients.
//! - [`Oracle`] is the one place that runs the model: logits, per-sample losses and input
//!   gradients, counting gradient evaluations and queries for throughput figures.
//! - Attacks work on host `f32` buffers, one image after another in `(N, C, H, W)` order.
//!   Everything random is drawn per sample from a generator seeded by the run seed and the
//!   sample's global index ([`Batch::rng`]), never from candle's unseedable generator, so results
//!   do not depend on batch size, batch composition or thread count.
//! - [`run_attack`] runs an attack and checks its output after the fact: inside the ε-ball,
//!   inside the model's bounds, no NaN. A violation is an error, never a silent clip.
//!
//! Files: `lib.rs` (traits), `oracle.rs` (batch, losses, gradients), `ops.rs` (projections and
//! norms), `registry.rs` (names, parameters, construction), `run.rs` (checked execution), and one
//! file per attack.
//!
//! Feature `tensors` (default): the attacks, the oracle and the traits, on candle. Without it
//! the crate holds the attacks' identities and parameters only ([`AttackKind`], [`Norm`],
//! [`Target`], [`AttackConfig`] without `build`, [`ConfigError`]): plain data, no tensor
//! library, for the results schema (dcrobust-reports).
#![warn(missing_docs)]

#[cfg(feature = "tensors")]
mod apgd;
#[cfg(feature = "tensors")]
mod apgdt;
#[cfg(feature = "tensors")]
mod autoattack;
#[cfg(feature = "tensors")]
mod bim;
#[cfg(feature = "tensors")]
mod cw;
#[cfg(feature = "tensors")]
mod fab;
#[cfg(feature = "tensors")]
mod fgsm;
#[cfg(feature = "tensors")]
mod mifgsm;
#[cfg(feature = "tensors")]
pub mod ops;
#[cfg(feature = "tensors")]
mod oracle;
#[cfg(feature = "tensors")]
mod pgd;
mod registry;
#[cfg(feature = "tensors")]
pub mod run;
#[cfg(feature = "tensors")]
mod square;

#[cfg(all(test, feature = "tensors"))]
mod tests;
#[cfg(all(test, feature = "tensors"))]
mod tests_autoattack;
#[cfg(all(test, feature = "tensors"))]
mod tests_strong;

#[cfg(feature = "tensors")]
pub use apgd::Apgd;
#[cfg(feature = "tensors")]
pub use apgdt::ApgdT;
#[cfg(feature = "tensors")]
pub use autoattack::{AutoAttack, COMPONENTS as AUTOATTACK_COMPONENTS};
#[cfg(feature = "tensors")]
pub use bim::Bim;
#[cfg(feature = "tensors")]
pub use cw::CwL2;
#[cfg(feature = "tensors")]
pub use fab::{projection_linf, FabT};
#[cfg(feature = "tensors")]
pub use fgsm::Fgsm;
#[cfg(feature = "tensors")]
pub use mifgsm::MiFgsm;
#[cfg(feature = "tensors")]
pub use oracle::{Batch, LossGrad, LossKind, Oracle};
#[cfg(feature = "tensors")]
pub use pgd::Pgd;
pub use registry::{
    ApgdConfig, AttackConfig, AttackKind, AutoAttackConfig, BimConfig, ConfigError, CwConfig,
    FabConfig, MifgsmConfig, PgdConfig, SquareConfig,
};
#[cfg(feature = "tensors")]
pub use run::{run_attack, AttackOutcome};
#[cfg(feature = "tensors")]
pub use square::Square;

#[cfg(feature = "tensors")]
use candle_core::{Device, Result, Tensor};

/// A differentiable classifier under attack.
#[cfg(feature = "tensors")]
pub trait Model: Send + Sync {
    /// Logits for a batch of images, in inference mode. The graph from `x` to the logits must be
    /// differentiable with respect to `x`; the model's own parameters should not require
    /// gradients (attacks never read them).
    ///
    /// # Shapes
    /// `x`: `(N, C, H, W)`, values in [`Model::bounds`]; returns `(N, K)`.
    fn logits(&self, x: &Tensor) -> Result<Tensor>;

    /// The valid pixel range; attacks clip to it. `(0.0, 1.0)` unless a model says otherwise.
    fn bounds(&self) -> (f32, f32) {
        (0.0, 1.0)
    }

    /// The device the model's tensors live on; inputs are created there.
    fn device(&self) -> Device {
        Device::Cpu
    }
}

/// The norm that measures a perturbation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Norm {
    /// Largest absolute change of any pixel value.
    Linf,
    /// Euclidean length of the whole perturbation.
    L2,
}

impl Norm {
    /// `linf` or `l2`.
    pub fn name(self) -> &'static str {
        match self {
            Norm::Linf => "linf",
            Norm::L2 => "l2",
        }
    }
}

/// Which class a targeted attack aims for.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Target {
    /// Any wrong class (the usual robustness measure).
    #[default]
    Untargeted,
    /// A class drawn uniformly among the wrong ones, per sample, from the seeded generator.
    Random,
    /// The class the model finds least likely on the clean image.
    LeastLikely,
}

/// An attack: maps clean images to adversarial ones within its budget.
#[cfg(feature = "tensors")]
pub trait Attack: Send + Sync {
    /// Registry name, e.g. `pgd`.
    fn name(&self) -> &'static str;
    /// The norm of its budget.
    fn norm(&self) -> Norm;
    /// The budget ε (in pixel units of `[0, 1]` images).
    fn eps(&self) -> f32;
    /// Whether it reads input gradients (Square does not).
    fn uses_gradients(&self) -> bool {
        true
    }
    /// Adversarial images for `batch`, within the budget and the model's bounds.
    ///
    /// # Shapes
    /// Returns `N·C·H·W` values in the layout of `batch.x`.
    fn perturb(&self, oracle: &Oracle, batch: &Batch) -> Result<Vec<f32>>;
}
