//! The decoupled tail: `h(n, ρ) · g(y / n)` for a decoupled layer's convolution with unit
//! filters `y`, patch norms `n` and radii `ρ`, forward in one pass and, backward, the gradients
//! with respect to `y`, `n` and `ρ` in one pass, for the magnitudes of [`FusedMagnitude`] and the
//! activations of [`FusedAngular`].

use super::{sum8, Real};
use crate::kernels::support::{float_dispatch, multiversion, unpack};
use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};
use rayon::prelude::*;
use std::f64::consts::PI;

/// The magnitude functions the fused kernel knows (docs/model.md#magnitude-functions), with
/// their factor α.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum FusedMagnitude {
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
pub(crate) enum FusedAngular {
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
    pub(crate) fn uses_radius(self) -> bool {
        matches!(self, FusedMagnitude::Ball(_) | FusedMagnitude::Tanh(_))
    }
}

impl FusedAngular {
    /// `(g, dg/dc)` at `c`. The derivative of `acos` is floored as in
    /// [`crate::kernels::acos::acos`]: `1 / sqrt(max(1 − c², 1e-12))`.
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
pub(super) struct Tail {
    pub(super) mag: FusedMagnitude,
    pub(super) ang: FusedAngular,
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
pub(super) fn tail_fwd_image_body<F: Real>(t: Tail, y: &[F], n: &[F], rho: &[F], out: &mut [F]) {
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
    pub(super) fn tail_fwd_image<F: Real>(t: Tail, y: &[F], n: &[F], rho: &[F], out: &mut [F]) => tail_fwd_image_body
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
pub(super) fn tail_bwd_image_body<F: Real>(
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
    pub(super) fn tail_bwd_image<F: Real>(
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

    #[cfg(feature = "cudnn")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
        s3: &candle_core::CudaStorage,
        l3: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        let dims = tail_dims(l1.dims(), l2.dims(), l3.dims())?;
        crate::kernels::cuda_tail::forward((self.mag, self.ang), dims, (s1, l1), (s2, l2), (s3, l3))
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
        let grad = grad.contiguous()?;
        let flat = if y.device().is_cuda() {
            // On the GPU ρ stays there: the operation reads its buffer.
            y.apply_op3_no_bwd(
                n,
                &grad,
                &TailGradCuda {
                    t: *self,
                    need_rho: rho.track_op(),
                    rho: rho.contiguous()?,
                },
            )?
        } else {
            // ρ has one value per channel: it travels in the operation, not packed with the
            // full-size gradient (which would copy that gradient).
            y.apply_op3_no_bwd(
                n,
                &grad,
                &TailGrad {
                    t: *self,
                    need_rho: rho.track_op(),
                    rho: rho.to_dtype(candle_core::DType::F64)?.to_vec1::<f64>()?,
                },
            )?
        };
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

/// The backward kernel of [`Tail`] on a CUDA device, on `(y, n, grad)`, with the radii `rho`
/// (`(C,)`, on the same device).
#[cfg_attr(not(feature = "cudnn"), allow(dead_code))] // read by the CUDA kernel only
struct TailGradCuda {
    t: Tail,
    need_rho: bool,
    rho: Tensor,
}

impl CustomOp3 for TailGradCuda {
    fn name(&self) -> &'static str {
        "dcrobust-decoupled-tail-grad-cuda"
    }

    fn cpu_fwd(
        &self,
        _: &CpuStorage,
        _: &Layout,
        _: &CpuStorage,
        _: &Layout,
        _: &CpuStorage,
        _: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        Err(crate::kernels::gpu_layers::cpu_refused(self.name()))
    }

    #[cfg(feature = "cudnn")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
        s3: &candle_core::CudaStorage,
        l3: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        let dims = tail_dims(l1.dims(), l2.dims(), self.rho.dims())?;
        if l3.dims() != l1.dims() {
            candle_core::bail!("decoupled tail gradient: bad shape {:?}", l3.dims());
        }
        let (rs, rl) = self.rho.storage_and_layout();
        let candle_core::Storage::Cuda(rs) = &*rs else {
            candle_core::bail!("decoupled tail gradient: the radii are not on the CUDA device")
        };
        crate::kernels::cuda_tail::backward(
            (self.t.mag, self.t.ang),
            dims,
            self.need_rho,
            (s1, l1),
            (s2, l2),
            (s3, l3),
            (rs, rl),
        )
    }
}

/// `h(n, ρ) · g(y / n)` in one pass, differentiable in all three arguments (CPU, f32 or f64; on
/// a CUDA device, f32, in a build with the `cudnn` feature: `kernels::cuda_tail`).
///
/// # Shapes
/// `y`: `(N, C, H, W)`, `n`: `(N, 1, H, W)`, `rho`: `(C,)` → `(N, C, H, W)`.
pub(crate) fn decoupled_tail(
    y: &Tensor,
    n: &Tensor,
    rho: &Tensor,
    mag: FusedMagnitude,
    ang: FusedAngular,
) -> Result<Tensor> {
    y.contiguous()?
        .apply_op3(&n.contiguous()?, &rho.contiguous()?, Tail { mag, ang })
}
