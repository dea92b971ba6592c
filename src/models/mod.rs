//! Models: the decoupled operator and the networks built from it (paper.md §1–2).
//!
//! - [`config`]: serde configuration (architecture, magnitude, angular activation, radius).
//! - [`decoupled`]: the decoupled convolution layer.
//! - [`layers`]: ordinary convolution, BatchNorm, conv blocks.
//! - [`network`]: CNN-9, ResNet-32 and the 2-D-feature CNN.
//! - [`params`]: named parameters with their weight-decay group.
//! - [`ops`]: differentiable `acos`.
//! - [`bn`]: BatchNorm training kernel.
//! - [`conv`]: 2-D convolution with dcrobust's CPU kernels.
//! - [`fused`]: the decoupled convolution's element-wise tail and patch-norm sum, fused.
//! - [`pool`]: 2×2 max-pooling that records its winners for the backward pass.

pub mod bn;
pub mod config;
pub mod conv;
pub mod decoupled;
pub mod fused;
pub mod layers;
pub mod network;
pub mod ops;
pub mod params;
pub mod pool;

pub use config::{Angular, Arch, Magnitude, ModelConfig, OperatorConfig, Radius};
pub use layers::Mode;
pub use network::Network;

use std::sync::atomic::{AtomicBool, Ordering};

static CANDLE_KERNELS: AtomicBool = AtomicBool::new(false);

/// Makes every layer use candle's own operations instead of dcrobust's CPU kernels (convolution,
/// BatchNorm, `acos`, max-pooling, the fused decoupled tail), for the whole process; `dcrobust
/// bench` uses it as the reference.
pub fn use_candle_kernels(on: bool) {
    CANDLE_KERNELS.store(on, Ordering::SeqCst);
}

/// Whether dcrobust's CPU kernels apply to `t`: an f32 or f64 tensor on the CPU, unless
/// [`use_candle_kernels`] turned them off.
pub(crate) fn own_kernels(t: &candle_core::Tensor) -> bool {
    t.device().is_cpu()
        && matches!(t.dtype(), candle_core::DType::F32 | candle_core::DType::F64)
        && !CANDLE_KERNELS.load(Ordering::SeqCst)
}

#[cfg(test)]
mod tests;

/// Helpers shared by the kernels' tests.
#[cfg(test)]
pub(crate) mod testing {
    use candle_core::{Device, Tensor};
    use rand::{Rng, SeedableRng};

    /// Uniform f64 values in `[lo, hi)` from a seeded generator.
    pub fn uniform(shape: &[usize], lo: f64, hi: f64, seed: u64) -> Tensor {
        let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let n: usize = shape.iter().product();
        let v: Vec<f64> = (0..n).map(|_| lo + (hi - lo) * r.random::<f64>()).collect();
        Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
    }

    /// Largest absolute difference between two f64 tensors of one shape.
    pub fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
        let d: Vec<f64> = (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        d.into_iter().fold(0.0, f64::max)
    }
}
