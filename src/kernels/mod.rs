//! dcrobust's CPU kernels: candle custom operations with their own forward and backward passes,
//! used on the CPU for f32 and f64 tensors (on the GPU, and after [`use_candle_kernels`], the
//! models use candle's own operations instead, except for the convolution below). Each operation
//! is deterministic whatever the thread count: an image is computed by one thread, and every sum
//! over images runs in a fixed order. Performance notes: docs/performance.md#kernels.
//!
//! The convolution also runs on a CUDA device when built with the `cudnn` feature: for f32
//! tensors its forward pass, input gradient and weight gradient are each one cuDNN call
//! (`cudnn`, a per-shape cache of descriptors, algorithms and a growing workspace), with the
//! deterministic algorithms and FP32 math by default; [`conv_plan`] holds that path's shape
//! logic and its two process-wide settings, [`set_conv_math`] and [`set_conv_algos`]. BatchNorm in
//! training mode and max-pooling run on cuDNN there too, forward and backward ([`gpu_layers`]).
//!
//! | operation | shapes | oracle (tests) |
//! | --- | --- | --- |
//! | [`conv::conv2d`] | `x (N, C, H, W)`, `w (O, C, k, k)` → `(N, O, H', W')` | candle's `conv2d` values and gradients; finite differences |
//! | [`conv::conv2d`] on cuDNN (feature `cudnn`, CUDA, f32) | as above | on the CPU: the cache key, shapes and descriptor parameters of every CNN-9 convolution against the CPU operation's shapes, the algorithm policy against cuDNN's reproducibility notes; on a GPU (`DCROBUST_REQUIRE_GPU=1`): the CPU operation's values and gradients under each math type and policy, and the same bits on a second run |
//! | [`batch_norm::batch_norm_train`] (+ReLU) | `x (N, C, H, W)`, `γ, β (C,)` → `(N, C, H, W)` and the batch statistics `(C,)` | candle's composite BatchNorm; finite differences of dx, dγ, dβ |
//! | [`max_pool::max_pool2`] | `(N, C, H, W)` → `(N, C, H/2, W/2)` | the closed form (gradient routed to each window's first maximum) |
//! | [`gpu_layers::batch_norm_train`], [`gpu_layers::max_pool2`] on cuDNN (feature `cudnn`, CUDA, f32) | as the CPU operations | on the CPU: the packed buffers' layout, the variance from cuDNN's saved inverse standard deviation, the shapes refused; on a GPU (`DCROBUST_REQUIRE_GPU=1`): the CPU operations' values, statistics and gradients, and the same bits on a second run |
//! | [`fused::decoupled_tail`] | `y, n (N, O, H, W)`/`(N, 1, H, W)`, `ρ (O,)` → `(N, O, H, W)` | candle's composite `h(n, ρ)·g(y/n)` for every magnitude × activation; finite differences |
//! | [`fused::decoupled_tail`] on CUDA (feature `cudnn`, f32; kernels in `src/kernels/tail.cu`) | as above | on a GPU (`DCROBUST_REQUIRE_GPU=1`): the CPU kernel's values and gradients for every magnitude × activation, and the same bits on a second run |
//! | [`fused::channel_sumsq`] | `(N, C, H, W)` → `(N, 1, H, W)` | candle's `sqr().sum_keepdim(1)` |
//! | [`fused::channel_affine`] (+ReLU) | `x (N, C, H, W)`, `scale, shift (C,)` → `(N, C, H, W)` | candle's broadcast affine map |
//! | [`acos::acos`] | any shape → same shape | the closed forms `acos(c)` and `−1/sqrt(1 − c²)` |
//!
//! [`support`] holds what the operations share (the f32/f64 dispatch, packed gradients,
//! unzeroed buffers, AVX2 copies of the element-wise kernels); `microgemm` the convolutions'
//! matrix kernel for small shapes, checked bit for bit against the `gemm` crate.

pub(crate) mod acos;
pub(crate) mod batch_norm;
pub(crate) mod conv;
mod conv_plan;
#[cfg(feature = "cudnn")]
mod cuda_tail;
#[cfg(feature = "cudnn")]
pub(crate) mod cudnn;
#[cfg(feature = "cudnn")]
mod cudnn_layers;
pub(crate) mod fused;
pub(crate) mod gpu_layers;
pub(crate) mod max_pool;
mod microgemm;
mod support;
#[cfg(test)]
pub(crate) mod testing;

pub(crate) use conv_plan::{set_conv_algos, set_conv_math, ConvAlgos, ConvMath};

use std::sync::atomic::{AtomicBool, Ordering};

static CANDLE_KERNELS: AtomicBool = AtomicBool::new(false);

/// Makes every layer use candle's own operations instead of dcrobust's CPU kernels (convolution,
/// BatchNorm, `acos`, max-pooling, the fused decoupled tail) and its cuDNN convolution, for the
/// whole process; `dcrobust bench` uses it as the reference.
pub(crate) fn use_candle_kernels(on: bool) {
    CANDLE_KERNELS.store(on, Ordering::SeqCst);
}

/// Whether dcrobust's CPU kernels apply to `t`: an f32 or f64 tensor on the CPU, unless
/// [`use_candle_kernels`] turned them off.
pub(crate) fn own_kernels(t: &candle_core::Tensor) -> bool {
    t.device().is_cpu()
        && matches!(t.dtype(), candle_core::DType::F32 | candle_core::DType::F64)
        && !CANDLE_KERNELS.load(Ordering::SeqCst)
}

/// Whether BatchNorm in training mode and max-pooling run on cuDNN ([`gpu_layers`]), and the
/// decoupled tail on dcrobust's CUDA kernel ([`fused::decoupled_tail`]): built with
/// the `cudnn` feature, a non-empty f32 tensor on a CUDA device, unless [`use_candle_kernels`]
/// turned dcrobust's operations off.
pub(crate) fn cuda_kernels_apply(x: &candle_core::Tensor) -> bool {
    cfg!(feature = "cudnn")
        && x.device().is_cuda()
        && x.dtype() == candle_core::DType::F32
        && x.elem_count() > 0
        && !CANDLE_KERNELS.load(Ordering::SeqCst)
}

/// Whether the convolution runs on dcrobust's cuDNN path ([`conv::conv2d`]): built with the
/// `cudnn` feature, non-empty f32 tensors on a CUDA device, unless [`use_candle_kernels`]
/// turned dcrobust's operations off.
fn cudnn_conv(x: &candle_core::Tensor, w: &candle_core::Tensor) -> bool {
    cfg!(feature = "cudnn")
        && x.device().is_cuda()
        && x.dtype() == candle_core::DType::F32
        && w.dtype() == candle_core::DType::F32
        && x.elem_count() > 0
        && w.elem_count() > 0
        && !CANDLE_KERNELS.load(Ordering::SeqCst)
}
