//! Fused CPU kernels of the decoupled convolution (docs/model.md#decoupled-operator; notes in
//! docs/performance.md#decoupled-tail): everything after the convolution with unit filters, in
//! one pass forward and one pass backward.
//!
//! A decoupled layer computes `out = h(n, ρ) · g(y / n)` where `y = conv(x, ŵ)`, `n` is the patch
//! norm and `ρ` the radius. Written with candle's operations this is five to eight full-size
//! tensors forward (`y/n`, `n/ρ`, `tanh`, the product, …) and as many again backward, each a
//! separate pass over memory. Here:
//!
//! - [`channel_sumsq`] (`sumsq.rs`) computes `Σ_c x²` (the patch norm's first step) without the
//!   full-size `x²` tensor;
//! - [`decoupled_tail`] (`tail.rs`) computes `h(n, ρ) · g(y / n)` and, backward, the gradients
//!   with respect to `y`, `n` and `ρ` in one pass;
//! - [`channel_affine`] (`affine.rs`) computes BatchNorm's inference form, one scale and shift
//!   per channel and an optional ReLU, in one pass.
//!
//! All are deterministic whatever the thread count: each image is computed by one thread, and
//! every sum over images (the radius gradient, the scale and shift gradients) is taken image by
//! image in a fixed order. This file holds what the operations share: the `Real` float trait
//! (with `fast_tanh` for f32), the fixed-order sum `sum8` and the `(N, C, …)` shape check
//! `nc_rest`.

use candle_core::Result;

mod affine;
mod sumsq;
mod tail;

pub(crate) use affine::channel_affine;
pub(crate) use sumsq::channel_sumsq;
pub(crate) use tail::{decoupled_tail, FusedAngular, FusedMagnitude};

/// The float operations the kernels need, for `f32` and `f64`.
trait Real:
    Copy
    + Send
    + Sync
    + PartialOrd
    + std::ops::Add<Output = Self>
    + std::ops::Sub<Output = Self>
    + std::ops::Mul<Output = Self>
    + std::ops::Div<Output = Self>
    + std::ops::AddAssign
    + std::ops::Neg<Output = Self>
{
    fn of(v: f64) -> Self;
    fn tanh(self) -> Self;
    fn acos(self) -> Self;
    fn sqrt(self) -> Self;
    fn abs(self) -> Self;
}

/// `tanh` in f32 as a rational function that vectorises (libm's `tanhf` is a call per element
/// and was a tenth of a decoupled training step): `x·P(x²)/Q(x²)` with the coefficients of
/// Eigen's `generic_fast_tanh_float`, clamped to ±7.905 where it reaches ±1 in f32. Largest
/// error against f64 `tanh` over [−10, 10]: 3.97e-7 (`fast_tanh_is_accurate`).
#[inline(always)]
fn fast_tanh(x: f32) -> f32 {
    const A: [f32; 7] = [
        4.893_524_6e-3,
        6.372_619_3e-4,
        1.485_722_4e-5,
        5.122_297e-8,
        -8.604_672e-11,
        2.000_188e-13,
        -2.760_768_5e-16,
    ];
    const B: [f32; 4] = [4.893_525e-3, 2.268_434_6e-3, 1.185_347_1e-4, 1.198_258_4e-6];
    let x = x.clamp(-7.905_311, 7.905_311);
    let x2 = x * x;
    let mut p = A[6];
    for a in A[..6].iter().rev() {
        p = p * x2 + a;
    }
    let q = ((B[3] * x2 + B[2]) * x2 + B[1]) * x2 + B[0];
    x * p / q
}

macro_rules! real {
    ($t:ty, $tanh:expr) => {
        impl Real for $t {
            fn of(v: f64) -> Self {
                v as $t
            }
            fn tanh(self) -> Self {
                $tanh(self)
            }
            fn acos(self) -> Self {
                <$t>::acos(self.clamp(-1.0, 1.0))
            }
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            fn abs(self) -> Self {
                <$t>::abs(self)
            }
        }
    };
}
real!(f32, fast_tanh);
real!(f64, f64::tanh);

/// `Σ v` with eight interleaved partial sums in a fixed order (vectorises; thread-independent).
#[inline(always)]
fn sum8<F: Real>(v: &[F]) -> F {
    let zero = F::of(0.0);
    let mut acc = [zero; 8];
    let chunks = v.chunks_exact(8);
    let rest = chunks.remainder();
    for c in chunks {
        for k in 0..8 {
            acc[k] += c[k];
        }
    }
    let mut s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for &r in rest {
        s += r;
    }
    s
}

/// `(N, C, P)` of an `(N, C, …)` shape, `P` the product of the remaining dimensions.
fn nc_rest(d: &[usize]) -> Result<(usize, usize, usize)> {
    match d {
        [b, c, rest @ ..] => Ok((*b, *c, rest.iter().product())),
        _ => candle_core::bail!("channel sum of squares: expected (N, C, …), got {d:?}"),
    }
}

#[cfg(test)]
mod tests;
