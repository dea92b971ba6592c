//! # dcrobust-attacks
//!
//! Adversarial attacks (FGSM, PGD and stronger, added by the adversarial-suite work) against
//! any differentiable image classifier that implements [`Model`].
//!
//! Contract:
//! - A [`Model`] takes images in `[0, 1]`, owns its input normalisation, and is always evaluated
//!   in inference mode (BatchNorm running statistics, no state changes), so an attack never
//!   alters the model it attacks.
//! - Attacks depend on candle only; randomness comes from a seeded generator passed in by the
//!   caller, never from candle's unseedable CPU generator.
#![warn(missing_docs)]

use candle_core::{Result, Tensor};

/// A differentiable classifier under attack.
pub trait Model: Send + Sync {
    /// Logits for a batch of images, in inference mode.
    ///
    /// # Shapes
    /// `x`: `(N, C, H, W)`, values in [`Model::bounds`]; returns `(N, K)`.
    fn logits(&self, x: &Tensor) -> Result<Tensor>;

    /// The valid pixel range; attacks clip to it. `(0.0, 1.0)` unless a model says otherwise.
    fn bounds(&self) -> (f32, f32) {
        (0.0, 1.0)
    }
}
