//! `Σ_c x²` over the channel dimension (the patch norm's first step) in one pass, without the
//! full-size `x²` tensor, and its gradient `2·x·g`.

use super::{nc_rest, Real};
use crate::kernels::support::{float_dispatch, multiversion};
use candle_core::{CpuStorage, CustomOp2, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

/// `Σ_c x²` over the channel dimension.
struct ChannelSumSq;

/// One image of [`sumsq_fwd`]: `out = Σ_c x_c²`, the channels added in order.
///
/// # Shapes
/// `x`: `(C, P)`, `out`: `(P,)`.
#[inline(always)]
pub(super) fn sumsq_fwd_image_body<F: Real>(x: &[F], out: &mut [F]) {
    out.fill(F::of(0.0));
    for xc in x.chunks_exact(out.len()) {
        for (o, &v) in out.iter_mut().zip(xc) {
            *o += v * v;
        }
    }
}

multiversion! {
    pub(super) fn sumsq_fwd_image<F: Real>(x: &[F], out: &mut [F]) => sumsq_fwd_image_body
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
pub(super) fn sumsq_bwd_image_body<F: Real>(x: &[F], g: &[F], out: &mut [F]) {
    for (oc, xc) in out.chunks_exact_mut(g.len()).zip(x.chunks_exact(g.len())) {
        for ((o, &v), &g) in oc.iter_mut().zip(xc).zip(g) {
            *o = F::of(2.0) * v * g;
        }
    }
}

multiversion! {
    pub(super) fn sumsq_bwd_image<F: Real>(x: &[F], g: &[F], out: &mut [F]) => sumsq_bwd_image_body
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
pub(crate) fn channel_sumsq(x: &Tensor) -> Result<Tensor> {
    if !crate::kernels::own_kernels(x) {
        return x.sqr()?.sum_keepdim(1);
    }
    x.contiguous()?.apply_op1(ChannelSumSq)
}
