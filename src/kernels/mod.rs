//! dcrobust's CPU kernels: candle custom operations with their own forward and backward passes,
//! used on the CPU for f32 and f64 tensors (on the GPU, and after [`use_candle_kernels`], the
//! models use candle's own operations instead). Each operation is deterministic whatever the
//! thread count: an image is computed by one thread, and every sum over images runs in a fixed
//! order. Performance notes: docs/performance.md#kernels.
//!
//! | operation | shapes | oracle (tests) |
//! | --- | --- | --- |
//! | [`conv::conv2d`] | `x (N, C, H, W)`, `w (O, C, k, k)` → `(N, O, H', W')` | candle's `conv2d` values and gradients; finite differences |
//! | [`batch_norm::batch_norm_train`] (+ReLU) | `x (N, C, H, W)`, `γ, β (C,)` → `(N, C, H, W)` and the batch statistics `(C,)` | candle's composite BatchNorm; finite differences of dx, dγ, dβ |
//! | [`max_pool::max_pool2`] | `(N, C, H, W)` → `(N, C, H/2, W/2)` | the closed form (gradient routed to each window's first maximum) |
//! | [`fused::decoupled_tail`] | `y, n (N, O, H, W)`/`(N, 1, H, W)`, `ρ (O,)` → `(N, O, H, W)` | candle's composite `h(n, ρ)·g(y/n)` for every magnitude × activation; finite differences |
//! | [`fused::channel_sumsq`] | `(N, C, H, W)` → `(N, 1, H, W)` | candle's `sqr().sum_keepdim(1)` |
//! | [`fused::channel_affine`] (+ReLU) | `x (N, C, H, W)`, `scale, shift (C,)` → `(N, C, H, W)` | candle's broadcast affine map |
//! | [`acos::acos`] | any shape → same shape | the closed forms `acos(c)` and `−1/sqrt(1 − c²)` |
//!
//! [`support`] holds what the operations share (the f32/f64 dispatch, packed gradients,
//! unzeroed buffers, AVX2 copies of the element-wise kernels); `microgemm` the convolutions'
//! matrix kernel for small shapes, checked bit for bit against the `gemm` crate.

pub mod acos;
pub mod batch_norm;
pub mod conv;
pub mod fused;
pub mod max_pool;
pub(crate) mod microgemm;
pub(crate) mod support;
#[cfg(test)]
pub(crate) mod testing;

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
