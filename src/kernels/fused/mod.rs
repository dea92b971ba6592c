//! Fused CPU kernels of the decoupled convolution (docs/model.md#decoupled-operator; notes in
//! docs/performance.md#decoupled-tail): everything after the convolution with unit filters, in
//! one pass forward and one pass backward.
//!
//! A decoupled layer computes `out = h(n, ρ) · g(y / n)` where `y = conv(x, ŵ)`, `n` is the patch
//! norm and `ρ` the radius. Written with candle's operations this is five to eight full-size
//! tensors forward (`y/n`, `n/ρ`, `tanh`, the product, …) and as many again backward, each a
//! separate pass over memory. Here:
//!
//! - [`channel_sumsq`] computes `Σ_c x²` (the patch norm's first step) without the full-size
//!   `x²` tensor;
//! - [`decoupled_tail`] computes `h(n, ρ) · g(y / n)` and, backward, the gradients with respect
//!   to `y`, `n` and `ρ` in one pass.
//!
//! Both are deterministic whatever the thread count: each image is computed by one thread, and
//! the radius gradient is summed image by image in a fixed order.

use super::support::{float_dispatch, multiversion, unpack};
use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};
use rayon::prelude::*;
use std::f64::consts::PI;

/// The float operations the kernels need, for `f32` and `f64`.
pub(crate) trait Real:
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
pub(crate) fn fast_tanh(x: f32) -> f32 {
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

/// The magnitude functions the fused kernel knows (docs/model.md#magnitude-functions), with
/// their factor α.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FusedMagnitude {
    /// `h = α`.
    Sphere(f64),
    /// `h = α · min(n, ρ) / ρ`.
    Ball(f64),
    /// `h = α · tanh(n / ρ)`.
    Tanh(f64),
    /// `h = α · n`.
    Linear(f64),
}

/// The angular activations the fused kernel knows (docs/model.md#angular-activations), of
/// `c = cos θ`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FusedAngular {
    /// `g = c`.
    Cosine,
    /// `g = 1 − 2θ/π`.
    Linear,
    /// `g = c·|c|`.
    SquareCosine,
    /// `g = tanh(π/(4k) − θ/(2k)) / tanh(π/(4k))`.
    Sigmoid(f64),
}

impl FusedMagnitude {
    /// `(h, ∂h/∂n, ∂h/∂ρ)` at `(n, ρ)`.
    #[inline(always)]
    fn eval<F: Real>(self, alpha: F, n: F, rho: F) -> (F, F, F) {
        let zero = F::of(0.0);
        match self {
            FusedMagnitude::Sphere(_) => (alpha, zero, zero),
            FusedMagnitude::Linear(_) => (alpha * n, alpha, zero),
            FusedMagnitude::Ball(_) => {
                if n < rho {
                    (alpha * n / rho, alpha / rho, -(alpha * n) / (rho * rho))
                } else {
                    (alpha, zero, zero)
                }
            }
            FusedMagnitude::Tanh(_) => {
                let t = (n / rho).tanh();
                let s = alpha * (F::of(1.0) - t * t) / rho;
                (alpha * t, s, -(s * n) / rho)
            }
        }
    }

    fn alpha(self) -> f64 {
        match self {
            FusedMagnitude::Sphere(a)
            | FusedMagnitude::Ball(a)
            | FusedMagnitude::Tanh(a)
            | FusedMagnitude::Linear(a) => a,
        }
    }

    /// Whether `h` depends on ρ.
    pub fn uses_radius(self) -> bool {
        matches!(self, FusedMagnitude::Ball(_) | FusedMagnitude::Tanh(_))
    }
}

impl FusedAngular {
    /// `(g, dg/dc)` at `c`. The derivative of `acos` is floored as in [`super::acos::acos`]:
    /// `1 / sqrt(max(1 − c², 1e-12))`.
    #[inline(always)]
    fn eval<F: Real>(self, c: F) -> (F, F) {
        let one = F::of(1.0);
        let dacos = || {
            let m = one - c * c;
            let floor = F::of(1e-12);
            one / (if m > floor { m } else { floor }).sqrt()
        };
        match self {
            FusedAngular::Cosine => (c, one),
            FusedAngular::SquareCosine => (c * c.abs(), F::of(2.0) * c.abs()),
            FusedAngular::Linear => (one - F::of(2.0 / PI) * c.acos(), F::of(2.0 / PI) * dacos()),
            FusedAngular::Sigmoid(k) => {
                let norm = F::of(1.0 / (PI / (4.0 * k)).tanh());
                let u = (F::of(PI / (4.0 * k)) - c.acos() * F::of(1.0 / (2.0 * k))).tanh();
                (
                    u * norm,
                    (one - u * u) * F::of(1.0 / (2.0 * k)) * dacos() * norm,
                )
            }
        }
    }
}

/// `h(n, ρ) · g(y/n)`, differentiable in `y`, `n` and `ρ`.
#[derive(Clone, Copy, Debug)]
struct Tail {
    mag: FusedMagnitude,
    ang: FusedAngular,
}

/// The three inputs of [`Tail`] as contiguous slices.
///
/// # Shapes
/// `y`: `(N, C, P)` (the convolution with unit filters), `n`: `(N, 1, P)` (the patch norms),
/// `rho`: `(C,)` (the radii), with `P` the pixels of one output map.
#[derive(Clone, Copy)]
struct TailInputs<'a, F> {
    y: &'a [F],
    n: &'a [F],
    rho: &'a [F],
}

/// `(N, C, P)` of `y` and checks `n: (N, 1, …)` and `ρ: (C,)`.
fn tail_dims(y: &[usize], n: &[usize], rho: &[usize]) -> Result<(usize, usize, usize)> {
    let (&[b, c, ..], &[b2, 1, ..]) = (y, n) else {
        candle_core::bail!("decoupled tail: expected (N, C, …) and (N, 1, …), got {y:?} and {n:?}")
    };
    let p: usize = y[2..].iter().product();
    if b2 != b || n[2..] != y[2..] || rho != [c] {
        candle_core::bail!(
            "decoupled tail: incompatible shapes {y:?} (output), {n:?} (norm), {rho:?} (radius)"
        );
    }
    Ok((b, c, p))
}

/// Binds `$m` and `$a` to copies of `t.mag` and `t.ang` whose variants are literal in each
/// arm, then runs `$body`: the compiler folds every `match` on them, so each (magnitude,
/// activation) pair gets a loop of its own without branches, which vectorises.
macro_rules! specialised {
    ($t:expr, |$m:ident, $a:ident| $body:expr) => {{
        let t: Tail = $t;
        match t.mag {
            FusedMagnitude::Sphere(x) => specialised!(@ang FusedMagnitude::Sphere(x), t.ang, $m, $a, $body),
            FusedMagnitude::Ball(x) => specialised!(@ang FusedMagnitude::Ball(x), t.ang, $m, $a, $body),
            FusedMagnitude::Tanh(x) => specialised!(@ang FusedMagnitude::Tanh(x), t.ang, $m, $a, $body),
            FusedMagnitude::Linear(x) => specialised!(@ang FusedMagnitude::Linear(x), t.ang, $m, $a, $body),
        }
    }};
    (@ang $mag:expr, $ang:expr, $m:ident, $a:ident, $body:expr) => {
        match $ang {
            FusedAngular::Cosine => {
                let ($m, $a) = ($mag, FusedAngular::Cosine);
                $body
            }
            FusedAngular::Linear => {
                let ($m, $a) = ($mag, FusedAngular::Linear);
                $body
            }
            FusedAngular::SquareCosine => {
                let ($m, $a) = ($mag, FusedAngular::SquareCosine);
                $body
            }
            FusedAngular::Sigmoid(k) => {
                let ($m, $a) = ($mag, FusedAngular::Sigmoid(k));
                $body
            }
        }
    };
}

/// One image of [`tail_fwd`].
///
/// # Shapes
/// `y`: `(C, P)`, `n`: `(P,)`, `rho`: `(C,)`, `out`: `(C, P)`.
#[inline(always)]
fn tail_fwd_image_body<F: Real>(t: Tail, y: &[F], n: &[F], rho: &[F], out: &mut [F]) {
    let (c, p) = (rho.len(), n.len());
    let alpha = F::of(t.mag.alpha());
    specialised!(t, |mag, ang| {
        for ch in 0..c {
            let yc = &y[ch * p..][..p];
            let oc = &mut out[ch * p..][..p];
            let r = rho[ch];
            for ((o, &y), &n) in oc.iter_mut().zip(yc).zip(n) {
                *o = match (mag, ang) {
                    // Kept in this order of operations, which the zoo's recorded accuracies
                    // were measured with.
                    (FusedMagnitude::Tanh(_), FusedAngular::Cosine) => {
                        alpha * (n / r).tanh() * y / n
                    }
                    _ => mag.eval(alpha, n, r).0 * ang.eval(y / n).0,
                };
            }
        }
    })
}

multiversion! {
    fn tail_fwd_image<F: Real>(t: Tail, y: &[F], n: &[F], rho: &[F], out: &mut [F]) => tail_fwd_image_body
}

/// `h(n, ρ) · g(y / n)`.
///
/// # Shapes
/// `inputs` as in [`TailInputs`], `(N, C, P)` = `(b, c, p)` → `(N, C, P)`.
fn tail_fwd<F: Real>(
    t: Tail,
    (b, c, p): (usize, usize, usize),
    TailInputs { y, n, rho }: TailInputs<'_, F>,
) -> Vec<F> {
    let mut out = vec![F::of(0.0); b * c * p];
    out.par_chunks_mut(c * p).enumerate().for_each(|(i, o)| {
        tail_fwd_image(t, &y[i * c * p..][..c * p], &n[i * p..][..p], rho, o);
    });
    out
}

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

/// `(∂/∂y, ∂/∂n, ∂/∂ρ)` of `gr · h(n, ρ)·g(y/n)` at one element: `∂/∂y = h·g'/n`,
/// `∂/∂n = h'·g − h·g'·y/n²`, `∂/∂ρ = ∂h/∂ρ·g`, each times the output gradient `gr`. A function
/// rather than a closure so that it is always inlined (a call per element does not vectorise).
#[inline(always)]
fn tail_grad_at<F: Real>(
    mag: FusedMagnitude,
    ang: FusedAngular,
    alpha: F,
    r: F,
    gr: F,
    y: F,
    n: F,
) -> (F, F, F) {
    let inv = F::of(1.0) / n;
    let cos = y * inv;
    let (h, dh_dn, dh_dr) = mag.eval(alpha, n, r);
    let (ga, dga) = ang.eval(cos);
    let hg = gr * h * dga * inv;
    (hg, gr * dh_dn * ga - hg * cos, gr * dh_dr * ga)
}

/// One image of [`tail_bwd`]: writes `∂y` into `dy` and adds `∂n` into `dn` (zeroed by the
/// caller), and returns the image's share of `∂ρ` (zeros unless `need_rho`).
///
/// # Shapes
/// `y`, `g`, `dy`: `(C, P)`; `n`, `dn`: `(P,)`; `rho`: `(C,)` → `(C,)`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn tail_bwd_image_body<F: Real>(
    t: Tail,
    y: &[F],
    n: &[F],
    rho: &[F],
    g: &[F],
    dy: &mut [F],
    dn: &mut [F],
    need_rho: bool,
) -> Vec<F> {
    let (c, p) = (rho.len(), n.len());
    let alpha = F::of(t.mag.alpha());
    let zero = F::of(0.0);
    let mut dr = vec![zero; c];
    // The ∂ρ terms go through a per-pixel buffer so that the main loop has no reduction.
    let mut terms = vec![zero; if need_rho { p } else { 0 }];
    specialised!(t, |mag, ang| {
        for ch in 0..c {
            let yc = &y[ch * p..][..p];
            let gc = &g[ch * p..][..p];
            let dyc = &mut dy[ch * p..][..p];
            let r = rho[ch];
            if need_rho {
                for ((((dy, dn), tm), (&y, &gr)), &n) in dyc
                    .iter_mut()
                    .zip(dn.iter_mut())
                    .zip(terms.iter_mut())
                    .zip(yc.iter().zip(gc))
                    .zip(n)
                {
                    let (a, b, d) = tail_grad_at(mag, ang, alpha, r, gr, y, n);
                    *dy = a;
                    *dn += b;
                    *tm = d;
                }
                dr[ch] = sum8(&terms);
            } else {
                for (((dy, dn), (&y, &gr)), &n) in dyc
                    .iter_mut()
                    .zip(dn.iter_mut())
                    .zip(yc.iter().zip(gc))
                    .zip(n)
                {
                    let (a, b, _) = tail_grad_at(mag, ang, alpha, r, gr, y, n);
                    *dy = a;
                    *dn += b;
                }
            }
        }
    });
    dr
}

multiversion! {
    fn tail_bwd_image<F: Real>(
        t: Tail,
        y: &[F],
        n: &[F],
        rho: &[F],
        g: &[F],
        dy: &mut [F],
        dn: &mut [F],
        need_rho: bool,
    ) -> Vec<F> => tail_bwd_image_body
}

/// Gradients of [`Tail`] at `inputs` for the output gradient `g`: one flat buffer
/// `[∂y (N·C·P) | ∂n (N·P) | ∂ρ (C)]`; `∂ρ` is left at zero unless `need_rho`.
///
/// # Shapes
/// `inputs` as in [`TailInputs`], `g`: `(N, C, P)`, `(N, C, P)` = `(b, c, p)` →
/// `(N·C·P + N·P + C,)`.
fn tail_bwd<F: Real>(
    t: Tail,
    (b, c, p): (usize, usize, usize),
    TailInputs { y, n, rho }: TailInputs<'_, F>,
    g: &[F],
    need_rho: bool,
) -> Vec<F> {
    let zero = F::of(0.0);
    let mut out = vec![zero; b * c * p + b * p + c];
    let (dy, rest) = out.split_at_mut(b * c * p);
    let (dn, drho) = rest.split_at_mut(b * p);
    // Per image: ∂y, ∂n and that image's share of ∂ρ, summed below in image order.
    let parts: Vec<Vec<F>> = dy
        .par_chunks_mut(c * p)
        .zip(dn.par_chunks_mut(p))
        .enumerate()
        .map(|(i, (dyi, dni))| {
            let img = i * c * p..(i + 1) * c * p;
            let (yi, gi, ni) = (&y[img.clone()], &g[img], &n[i * p..][..p]);
            tail_bwd_image(t, yi, ni, rho, gi, dyi, dni, need_rho)
        })
        .collect();
    for part in &parts {
        for (d, v) in drho.iter_mut().zip(part) {
            *d += *v;
        }
    }
    out
}

impl CustomOp3 for Tail {
    fn name(&self) -> &'static str {
        "dcrobust-decoupled-tail"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let dims = tail_dims(l1.dims(), l2.dims(), l3.dims())?;
        let t = *self;
        let out = float_dispatch!(self.name(), [(s1, l1), (s2, l2), (s3, l3)], |y, n, r| {
            tail_fwd(t, dims, TailInputs { y, n, rho: r })
        });
        Ok((out, l1.shape().clone()))
    }

    fn bwd(
        &self,
        y: &Tensor,
        n: &Tensor,
        rho: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        tail_dims(y.dims(), n.dims(), rho.dims())?;
        // ρ has one value per channel: it travels in the operation, not packed with the
        // full-size gradient (which would copy that gradient).
        let flat = y.apply_op3_no_bwd(
            n,
            &grad.contiguous()?,
            &TailGrad {
                t: *self,
                need_rho: rho.track_op(),
                rho: rho.to_dtype(candle_core::DType::F64)?.to_vec1::<f64>()?,
            },
        )?;
        let [dy, dn, dr] = unpack(&flat, [y.dims(), n.dims(), rho.dims()])?;
        Ok((
            y.track_op().then_some(dy),
            n.track_op().then_some(dn),
            rho.track_op().then_some(dr),
        ))
    }
}

/// The backward kernel of [`Tail`], on `(y, n, grad)`, with the radii `rho`.
struct TailGrad {
    t: Tail,
    need_rho: bool,
    rho: Vec<f64>,
}

impl CustomOp3 for TailGrad {
    fn name(&self) -> &'static str {
        "dcrobust-decoupled-tail-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let dims = tail_dims(l1.dims(), l2.dims(), &[self.rho.len()])?;
        let (b, c, p) = dims;
        if l3.dims() != l1.dims() {
            candle_core::bail!("decoupled tail gradient: bad shape {:?}", l3.dims());
        }
        let (t, need_rho) = (self.t, self.need_rho);
        let out = float_dispatch!(self.name(), [(s1, l1), (s2, l2), (s3, l3)], |y, n, g| {
            let rho: Vec<_> = self.rho.iter().map(|&r| Real::of(r)).collect();
            tail_bwd(t, dims, TailInputs { y, n, rho: &rho }, g, need_rho)
        });
        Ok((out, Shape::from(b * c * p + b * p + c)))
    }
}

/// `h(n, ρ) · g(y / n)` in one pass, differentiable in all three arguments (CPU, f32 or f64).
///
/// # Shapes
/// `y`: `(N, C, H, W)`, `n`: `(N, 1, H, W)`, `rho`: `(C,)` → `(N, C, H, W)`.
pub fn decoupled_tail(
    y: &Tensor,
    n: &Tensor,
    rho: &Tensor,
    mag: FusedMagnitude,
    ang: FusedAngular,
) -> Result<Tensor> {
    y.contiguous()?
        .apply_op3(&n.contiguous()?, &rho.contiguous()?, Tail { mag, ang })
}

/// `Σ_c x²` over the channel dimension.
struct ChannelSumSq;

/// One image of [`sumsq_fwd`]: `out = Σ_c x_c²`, the channels added in order.
///
/// # Shapes
/// `x`: `(C, P)`, `out`: `(P,)`.
#[inline(always)]
fn sumsq_fwd_image_body<F: Real>(x: &[F], out: &mut [F]) {
    out.fill(F::of(0.0));
    for xc in x.chunks_exact(out.len()) {
        for (o, &v) in out.iter_mut().zip(xc) {
            *o += v * v;
        }
    }
}

multiversion! {
    fn sumsq_fwd_image<F: Real>(x: &[F], out: &mut [F]) => sumsq_fwd_image_body
}

/// `Σ_c x²`.
///
/// # Shapes
/// `x`: `(N, C, P)`, `(N, C, P)` = `(b, c, p)` → `(N, P)`.
fn sumsq_fwd<F: Real>(x: &[F], (b, c, p): (usize, usize, usize)) -> Vec<F> {
    let mut out = vec![F::of(0.0); b * p];
    out.par_chunks_mut(p)
        .enumerate()
        .for_each(|(i, o)| sumsq_fwd_image(&x[i * c * p..][..c * p], o));
    out
}

/// One image of [`sumsq_bwd`]: `out_c = 2·x_c·g`.
///
/// # Shapes
/// `x`, `out`: `(C, P)`, `g`: `(P,)`.
#[inline(always)]
fn sumsq_bwd_image_body<F: Real>(x: &[F], g: &[F], out: &mut [F]) {
    for (oc, xc) in out.chunks_exact_mut(g.len()).zip(x.chunks_exact(g.len())) {
        for ((o, &v), &g) in oc.iter_mut().zip(xc).zip(g) {
            *o = F::of(2.0) * v * g;
        }
    }
}

multiversion! {
    fn sumsq_bwd_image<F: Real>(x: &[F], g: &[F], out: &mut [F]) => sumsq_bwd_image_body
}

/// The gradient of `Σ_c x²` for the output gradient `g`: `2·x·g`.
///
/// # Shapes
/// `x`: `(N, C, P)`, `g`: `(N, P)`, `(N, C, P)` = `(b, c, p)` → `(N, C, P)`.
fn sumsq_bwd<F: Real>(x: &[F], g: &[F], (b, c, p): (usize, usize, usize)) -> Vec<F> {
    let mut out = vec![F::of(0.0); b * c * p];
    out.par_chunks_mut(c * p)
        .enumerate()
        .for_each(|(i, o)| sumsq_bwd_image(&x[i * c * p..][..c * p], &g[i * p..][..p], o));
    out
}

fn nc_rest(d: &[usize]) -> Result<(usize, usize, usize)> {
    match d {
        [b, c, rest @ ..] => Ok((*b, *c, rest.iter().product())),
        _ => candle_core::bail!("channel sum of squares: expected (N, C, …), got {d:?}"),
    }
}

impl candle_core::CustomOp1 for ChannelSumSq {
    fn name(&self) -> &'static str {
        "dcrobust-channel-sumsq"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let dims = nc_rest(l.dims())?;
        let out = float_dispatch!(self.name(), [(s, l)], |x| sumsq_fwd(x, dims));
        let mut shape = l.dims().to_vec();
        shape[1] = 1;
        Ok((out, Shape::from(shape)))
    }

    fn bwd(&self, x: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(x.apply_op2_no_bwd(
            &grad.contiguous()?,
            &ChannelSumSqGrad,
        )?))
    }
}

/// `∂/∂x Σ_c x² · g = 2·x·g`, on `(x, g)`.
struct ChannelSumSqGrad;

impl CustomOp2 for ChannelSumSqGrad {
    fn name(&self) -> &'static str {
        "dcrobust-channel-sumsq-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let dims = nc_rest(l1.dims())?;
        if l2.dims().iter().product::<usize>() != dims.0 * dims.2 {
            candle_core::bail!("channel sum of squares gradient: bad shape {:?}", l2.dims());
        }
        let out = float_dispatch!(self.name(), [(s1, l1), (s2, l2)], |x, g| sumsq_bwd(
            x, g, dims
        ));
        Ok((out, l1.shape().clone()))
    }
}

/// `Σ_c x²`, differentiable.
///
/// On the CPU with f32 or f64 it is one pass of dcrobust's own kernel; elsewhere candle's
/// `sqr` and `sum_keepdim`.
///
/// # Shapes
/// `x`: `(N, C, …)` → `(N, 1, …)`.
pub fn channel_sumsq(x: &Tensor) -> Result<Tensor> {
    if !super::own_kernels(x) {
        return x.sqr()?.sum_keepdim(1);
    }
    x.contiguous()?.apply_op1(ChannelSumSq)
}

/// `max(x·scale_c + shift_c, 0)` (or without the ReLU) per channel.
struct ChannelAffine {
    relu: bool,
}

/// One image of [`affine_fwd`].
///
/// # Shapes
/// `x`, `out`: `(C, P)`; `s`, `t`: `(C,)`.
#[inline(always)]
fn affine_fwd_image_body<F: Real>(x: &[F], s: &[F], t: &[F], out: &mut [F], relu: bool) {
    let zero = F::of(0.0);
    let p = x.len() / s.len();
    for ((o, xs), (&sc, &sh)) in out
        .chunks_exact_mut(p)
        .zip(x.chunks_exact(p))
        .zip(s.iter().zip(t))
    {
        for (o, &v) in o.iter_mut().zip(xs) {
            let y = v * sc + sh;
            // NaN counts as not positive, as in candle's `relu`.
            let keep = !relu || y > zero;
            *o = if keep { y } else { zero };
        }
    }
}

multiversion! {
    fn affine_fwd_image<F: Real>(x: &[F], s: &[F], t: &[F], out: &mut [F], relu: bool) => affine_fwd_image_body
}

/// `max(x·scale_c + shift_c, 0)` (or without the ReLU).
///
/// # Shapes
/// `x`: `(N, C, P)`, `s`, `t`: `(C,)`, `(N, C, P)` = `(b, c, p)` → `(N, C, P)`.
fn affine_fwd<F: Real>(
    x: &[F],
    s: &[F],
    t: &[F],
    (b, c, p): (usize, usize, usize),
    relu: bool,
) -> Vec<F> {
    let mut out = vec![F::of(0.0); b * c * p];
    out.par_chunks_mut(c * p).enumerate().for_each(|(i, o)| {
        affine_fwd_image(&x[i * c * p..][..c * p], s, t, o, relu);
    });
    out
}

/// One image of [`affine_bwd`]: writes `dx` into `out` and returns, per channel, the sums
/// for `(dscale, dshift)` (zeros unless `need_params`).
///
/// # Shapes
/// `x`, `g`, `out`: `(C, P)`; `s`, `t`: `(C,)` → `(C,)`.
#[inline(always)]
fn affine_bwd_image_body<F: Real>(
    x: &[F],
    g: &[F],
    s: &[F],
    t: &[F],
    out: &mut [F],
    relu: bool,
    need_params: bool,
) -> Vec<(F, F)> {
    let zero = F::of(0.0);
    let p = x.len() / s.len();
    let mut sums = Vec::with_capacity(s.len());
    // Plain loops, no closures: a closure would be compiled apart from the AVX2 copy.
    for (ch, (&sc, &sh)) in s.iter().zip(t).enumerate() {
        let (o, xs, gs) = (
            &mut out[ch * p..][..p],
            &x[ch * p..][..p],
            &g[ch * p..][..p],
        );
        for ((o, &v), &gr) in o.iter_mut().zip(xs).zip(gs) {
            let keep = !relu || v * sc + sh > zero;
            *o = if keep { gr } else { zero };
        }
        sums.push(if need_params {
            (dot8(o, xs), sum8(o))
        } else {
            (zero, zero)
        });
        for o in o.iter_mut() {
            *o = *o * sc;
        }
    }
    sums
}

multiversion! {
    fn affine_bwd_image<F: Real>(
        x: &[F],
        g: &[F],
        s: &[F],
        t: &[F],
        out: &mut [F],
        relu: bool,
        need_params: bool,
    ) -> Vec<(F, F)> => affine_bwd_image_body
}

/// `[dx | dscale | dshift]` of [`ChannelAffine`]; the ReLU's mask is recomputed as forward.
///
/// # Shapes
/// `x`, `g`: `(N, C, P)`, `s`, `t`: `(C,)`, `(N, C, P)` = `(b, c, p)` → `(N·C·P + 2·C,)`.
fn affine_bwd<F: Real>(
    x: &[F],
    g: &[F],
    s: &[F],
    t: &[F],
    (b, c, p): (usize, usize, usize),
    relu: bool,
    need_params: bool,
) -> Vec<F> {
    let len = b * c * p;
    let mut out = vec![F::of(0.0); len + 2 * c];
    // Per (image, channel) block: the masked gradient, its sums for dscale and dshift when
    // they are wanted, then dx = masked gradient · scale. Every loop vectorises.
    let sums: Vec<Vec<(F, F)>> = out[..len]
        .par_chunks_mut(c * p)
        .enumerate()
        .map(|(i, o)| {
            let img = i * c * p..(i + 1) * c * p;
            affine_bwd_image(&x[img.clone()], &g[img], s, t, o, relu, need_params)
        })
        .collect();
    // Summed image by image in a fixed order, whatever the thread count.
    for image in sums {
        for (ch, (ds, dt)) in image.into_iter().enumerate() {
            out[len + ch] += ds;
            out[len + c + ch] += dt;
        }
    }
    out
}

/// `Σ a·b` with eight interleaved partial sums in a fixed order.
#[inline(always)]
fn dot8<F: Real>(a: &[F], b: &[F]) -> F {
    let zero = F::of(0.0);
    let mut acc = [zero; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    let mut s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (&x, &y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

fn affine_dims(x: &[usize], s: &[usize]) -> Result<(usize, usize, usize)> {
    let dims = nc_rest(x)?;
    if s != [2 * dims.1] {
        candle_core::bail!(
            "channel affine: expected {} scale and shift values, got {s:?}",
            dims.1
        );
    }
    Ok(dims)
}

impl CustomOp2 for ChannelAffine {
    fn name(&self) -> &'static str {
        "dcrobust-channel-affine"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let dims = affine_dims(l1.dims(), l2.dims())?;
        let relu = self.relu;
        let out = float_dispatch!(self.name(), [(s1, l1), (s2, l2)], |x, st| {
            let (s, t) = st.split_at(dims.1);
            affine_fwd(x, s, t, dims, relu)
        });
        Ok((out, l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        st: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        affine_dims(x.dims(), st.dims())?;
        let flat = x.apply_op3_no_bwd(
            &grad.contiguous()?,
            st,
            &ChannelAffineGrad {
                relu: self.relu,
                need_params: st.track_op(),
            },
        )?;
        let [dx, dst] = unpack(&flat, [x.dims(), st.dims()])?;
        Ok((x.track_op().then_some(dx), st.track_op().then_some(dst)))
    }
}

/// The backward kernel of [`ChannelAffine`], on `(x, grad, [scale | shift])`; the scale and
/// shift gradients are left at zero unless `need_params`.
struct ChannelAffineGrad {
    relu: bool,
    need_params: bool,
}

impl CustomOp3 for ChannelAffineGrad {
    fn name(&self) -> &'static str {
        "dcrobust-channel-affine-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let dims = affine_dims(l1.dims(), l3.dims())?;
        if l2.dims() != l1.dims() {
            candle_core::bail!("channel affine gradient: bad shape {:?}", l2.dims());
        }
        let (relu, need) = (self.relu, self.need_params);
        let out = float_dispatch!(self.name(), [(s1, l1), (s2, l2), (s3, l3)], |x, g, st| {
            let (s, t) = st.split_at(dims.1);
            affine_bwd(x, g, s, t, dims, relu, need)
        });
        Ok((out, Shape::from(dims.0 * dims.1 * dims.2 + 2 * dims.1)))
    }
}

/// `x·scale_c + shift_c` per channel, then a ReLU if `relu`: BatchNorm in inference, in one
/// pass. Differentiable in `x`, `scale` and `shift`.
///
/// On the CPU with f32 or f64 it is dcrobust's kernel; elsewhere candle's broadcast operations.
///
/// # Shapes
/// `x`: `(N, C, …)`, `scale`, `shift`: `(C,)` → same as `x`.
pub fn channel_affine(x: &Tensor, scale: &Tensor, shift: &Tensor, relu: bool) -> Result<Tensor> {
    if !super::own_kernels(x) {
        let shape: Vec<usize> = (0..x.rank())
            .map(|d| if d == 1 { scale.elem_count() } else { 1 })
            .collect();
        let y = x
            .broadcast_mul(&scale.reshape(shape.as_slice())?)?
            .broadcast_add(&shift.reshape(shape.as_slice())?)?;
        return if relu { y.relu() } else { Ok(y) };
    }
    x.contiguous()?
        .apply_op2(&Tensor::cat(&[scale, shift], 0)?, ChannelAffine { relu })
}

#[cfg(test)]
mod tests;
