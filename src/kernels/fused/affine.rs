//! A per-channel affine map `x·scale_c + shift_c`, with an optional ReLU: BatchNorm's inference
//! form in one pass, and its gradients with respect to `x`, the scales and the shifts.

use super::{nc_rest, sum8, Real};
use crate::kernels::support::{float_dispatch, multiversion, unpack};
use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

/// `max(x·scale_c + shift_c, 0)` (or without the ReLU) per channel.
struct ChannelAffine {
    relu: bool,
}

/// One image of [`affine_fwd`].
///
/// # Shapes
/// `x`, `out`: `(C, P)`; `s`, `t`: `(C,)`.
#[inline(always)]
pub(super) fn affine_fwd_image_body<F: Real>(x: &[F], s: &[F], t: &[F], out: &mut [F], relu: bool) {
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
    pub(super) fn affine_fwd_image<F: Real>(x: &[F], s: &[F], t: &[F], out: &mut [F], relu: bool) => affine_fwd_image_body
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
pub(super) fn affine_bwd_image_body<F: Real>(
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
    pub(super) fn affine_bwd_image<F: Real>(
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
pub(crate) fn channel_affine(
    x: &Tensor,
    scale: &Tensor,
    shift: &Tensor,
    relu: bool,
) -> Result<Tensor> {
    if !crate::kernels::own_kernels(x) {
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
