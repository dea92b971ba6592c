//! BatchNorm in training mode as one candle operation with its own CPU kernel (forward and
//! backward), replacing about ten composite candle operations (docs/performance.md#pitfall-p7).
//!
//! Sums are taken per channel in f64, in a fixed order, so results do not depend on threads.

use super::support::{contiguous_slice, filled, float_dispatch, multiversion, unpack};
use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor, WithDType};
use rayon::prelude::*;
use std::mem::MaybeUninit;
use std::sync::{Arc, Mutex};

/// Per-channel batch mean and biased variance of the last forward pass.
type BatchStats = Arc<Mutex<Vec<(f64, f64)>>>;

struct BnTrain {
    eps: f64,
    relu: bool,
    stats: BatchStats,
}

/// The layout of a contiguous BatchNorm input `(N, C, H, W)`: `n` images of `c` channels,
/// each channel a block of `hw = H·W` values.
#[derive(Clone, Copy, Debug)]
struct BnDims {
    n: usize,
    c: usize,
    hw: usize,
}

fn dims(l: &Layout) -> Result<BnDims> {
    match l.dims() {
        &[n, c, h, w] => Ok(BnDims { n, c, hw: h * w }),
        d => candle_core::bail!("batch_norm: expected (N, C, H, W), got {d:?}"),
    }
}

/// What BatchNorm applies besides the data: the per-channel scale γ and shift β (`(C,)`
/// each), the epsilon added to the variance, and whether a ReLU follows.
#[derive(Clone, Copy)]
struct BnParams<'a, T> {
    gamma: &'a [T],
    beta: &'a [T],
    eps: f64,
    relu: bool,
}

/// `Σ f(v)` in f64 over a block, with eight interleaved partial sums added in a fixed order:
/// the same result whatever the threads, and a loop that vectorises.
#[inline(always)]
fn sum8<T: WithDType>(v: &[T], f: impl Fn(f64) -> f64) -> f64 {
    let mut acc = [0f64; 8];
    let chunks = v.chunks_exact(8);
    let rest = chunks.remainder();
    for c in chunks {
        for k in 0..8 {
            acc[k] += f(c[k].to_f64());
        }
    }
    let mut s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for r in rest {
        s += f(r.to_f64());
    }
    s
}

/// `(Σ v, Σ (v − mean)²)` of one block, each with [`sum8`].
#[inline(always)]
fn block_moments_body<T: WithDType>(v: &[T], mean: f64, second: bool) -> f64 {
    if second {
        sum8(v, |v| (v - mean) * (v - mean))
    } else {
        sum8(v, |v| v)
    }
}

multiversion! {
    fn block_moments<T: WithDType>(v: &[T], mean: f64, second: bool) -> f64 => block_moments_body
}

/// Mean and biased variance of every channel (two passes, f64).
fn channel_stats<T: WithDType>(x: &[T], BnDims { n, c, hw }: BnDims) -> Vec<(f64, f64)> {
    let count = (n * hw) as f64;
    (0..c)
        .into_par_iter()
        .map(|ch| {
            let block = |i: usize| &x[(i * c + ch) * hw..][..hw];
            let mean = (0..n)
                .map(|i| block_moments(block(i), 0.0, false))
                .sum::<f64>()
                / count;
            let var = (0..n)
                .map(|i| block_moments(block(i), mean, true))
                .sum::<f64>()
                / count;
            (mean, var)
        })
        .collect()
}

/// Each channel's `(scale, shift)` with `y = x·scale + shift` the BatchNorm output (before
/// the ReLU).
fn channel_affine<T: WithDType>(p: &BnParams<'_, T>, stats: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let (g, b, eps) = (p.gamma, p.beta, p.eps);
    stats
        .iter()
        .enumerate()
        .map(|(ch, &(mean, var))| {
            let scale = g[ch].to_f64() / (var + eps).sqrt();
            (scale, b[ch].to_f64() - mean * scale)
        })
        .collect()
}

/// `out = max(x·scale + shift, 0)` (or without the ReLU) over one block.
#[inline(always)]
fn apply_block_body<T: WithDType>(
    out: &mut [MaybeUninit<T>],
    x: &[T],
    scale: T,
    shift: T,
    relu: bool,
) {
    for (o, &v) in out.iter_mut().zip(x) {
        let y = v * scale + shift;
        // NaN counts as not positive, as in candle's `relu`.
        let keep = !relu || y > T::zero();
        o.write(if keep { y } else { T::zero() });
    }
}

multiversion! {
    fn apply_block<T: WithDType>(
        out: &mut [MaybeUninit<T>],
        x: &[T],
        scale: T,
        shift: T,
        relu: bool,
    ) => apply_block_body
}

/// `(Σ d, Σ d·(x − mean))` over one block, `d = dy` masked by the ReLU's test
/// `x·scale + shift > 0` when `relu`.
#[inline(always)]
fn grad_sums_block_body<T: WithDType>(
    xs: &[T],
    ds: &[T],
    mean: f64,
    (scale, shift): (T, T),
    relu: bool,
) -> (f64, f64) {
    #[cfg(target_arch = "x86_64")]
    if std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>() && super::support::has_avx2() {
        // SAFETY: `T` is `f32` (checked just above), so the slices and values are f32s; the
        // processor has AVX2.
        unsafe {
            let f = |v: &[T]| std::slice::from_raw_parts(v.as_ptr().cast::<f32>(), v.len());
            let (sc, sh) = (scale.to_f64() as f32, shift.to_f64() as f32);
            return grad_sums_f32_avx2(f(xs), f(ds), mean, (sc, sh), relu);
        }
    }
    // Two copies of the loop, with and without the mask, so that neither has a branch.
    if relu {
        grad_sums_masked(xs, ds, mean, |v| v * scale + shift > T::zero())
    } else {
        grad_sums_masked(xs, ds, mean, |_| true)
    }
}

/// [`grad_sums_masked`] for f32 with AVX2 intrinsics (the compiler does not vectorise the
/// f32-to-f64 sums by itself): the same operations lane by lane, in the same order (the mask
/// as a multiply then an add, no fused multiply-add), so the result is bit-identical.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn grad_sums_f32_avx2(
    xs: &[f32],
    ds: &[f32],
    mean: f64,
    (scale, shift): (f32, f32),
    relu: bool,
) -> (f64, f64) {
    use std::arch::x86_64::*;
    let n = xs.len().min(ds.len());
    let full = n / 8 * 8;
    let (vs, vt, vm) = (
        _mm256_set1_ps(scale),
        _mm256_set1_ps(shift),
        _mm256_set1_pd(mean),
    );
    let zero = _mm256_setzero_ps();
    let (mut d_lo, mut d_hi) = (_mm256_setzero_pd(), _mm256_setzero_pd());
    let (mut x_lo, mut x_hi) = (_mm256_setzero_pd(), _mm256_setzero_pd());
    let mut i = 0;
    while i < full {
        // SAFETY: `i + 8 ≤ n`, within both slices.
        let (x, d) = unsafe {
            (
                _mm256_loadu_ps(xs.as_ptr().add(i)),
                _mm256_loadu_ps(ds.as_ptr().add(i)),
            )
        };
        let d = if relu {
            let y = _mm256_add_ps(_mm256_mul_ps(x, vs), vt);
            _mm256_and_ps(d, _mm256_cmp_ps::<_CMP_GT_OQ>(y, zero))
        } else {
            d
        };
        let (dl, dh) = (
            _mm256_cvtps_pd(_mm256_castps256_ps128(d)),
            _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(d)),
        );
        let (xl, xh) = (
            _mm256_sub_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(x)), vm),
            _mm256_sub_pd(_mm256_cvtps_pd(_mm256_extractf128_ps::<1>(x)), vm),
        );
        d_lo = _mm256_add_pd(d_lo, dl);
        d_hi = _mm256_add_pd(d_hi, dh);
        x_lo = _mm256_add_pd(x_lo, _mm256_mul_pd(dl, xl));
        x_hi = _mm256_add_pd(x_hi, _mm256_mul_pd(dh, xh));
        i += 8;
    }
    let lanes = |lo: __m256d, hi: __m256d| {
        let mut a = [0f64; 8];
        // SAFETY: `a` holds 8 f64s, two stores of 4.
        unsafe {
            _mm256_storeu_pd(a.as_mut_ptr(), lo);
            _mm256_storeu_pd(a.as_mut_ptr().add(4), hi);
        }
        ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]))
    };
    let (mut sd, mut sdx) = (lanes(d_lo, d_hi), lanes(x_lo, x_hi));
    for (&xv, &dv) in xs[full..n].iter().zip(&ds[full..n]) {
        let live = !relu || xv * scale + shift > 0.0;
        let d = if live { dv as f64 } else { 0.0 };
        sd += d;
        sdx += d * (xv as f64 - mean);
    }
    (sd, sdx)
}

/// `(Σ d, Σ d·(x − mean))` over one block with `d = dy` where `live(x)`, else 0; eight
/// interleaved f64 partial sums per total, added in a fixed order.
#[inline(always)]
fn grad_sums_masked<T: WithDType>(
    xs: &[T],
    ds: &[T],
    mean: f64,
    live: impl Fn(T) -> bool,
) -> (f64, f64) {
    let (mut s_d, mut s_dx) = ([0f64; 8], [0f64; 8]);
    let (xc, dc) = (xs.chunks_exact(8), ds.chunks_exact(8));
    let (xr, dr) = (xc.remainder(), dc.remainder());
    for (xv, dv) in xc.zip(dc) {
        let mut d = [0f64; 8];
        let mut xm = [0f64; 8];
        for j in 0..8 {
            d[j] = (if live(xv[j]) { dv[j] } else { T::zero() }).to_f64();
            xm[j] = xv[j].to_f64() - mean;
        }
        for j in 0..8 {
            s_d[j] += d[j];
            s_dx[j] += d[j] * xm[j];
        }
    }
    let fold = |a: [f64; 8]| ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
    let (mut sd, mut sdx) = (fold(s_d), fold(s_dx));
    for (&xv, &dv) in xr.iter().zip(dr) {
        let d = (if live(xv) { dv } else { T::zero() }).to_f64();
        sd += d;
        sdx += d * (xv.to_f64() - mean);
    }
    (sd, sdx)
}

multiversion! {
    fn grad_sums_block<T: WithDType>(
        xs: &[T],
        ds: &[T],
        mean: f64,
        affine: (T, T),
        relu: bool,
    ) -> (f64, f64) => grad_sums_block_body
}

/// `dx = k_d·d − k_x·x + k_0` over one block, `d` masked as in [`grad_sums_block`].
#[inline(always)]
fn dx_block_body<T: WithDType>(
    out: &mut [MaybeUninit<T>],
    dy: &[T],
    x: &[T],
    (k_d, k_x, k_0): (T, T, T),
    (scale, shift): (T, T),
    relu: bool,
) {
    for ((o, &d), &v) in out.iter_mut().zip(dy).zip(x) {
        let live = !relu || v * scale + shift > T::zero();
        let d = if live { d } else { T::zero() };
        o.write(k_d * d - k_x * v + k_0);
    }
}

multiversion! {
    fn dx_block<T: WithDType>(
        out: &mut [MaybeUninit<T>],
        dy: &[T],
        x: &[T],
        k: (T, T, T),
        affine: (T, T),
        relu: bool,
    ) => dx_block_body
}

/// The BatchNorm (and ReLU) output of `x` and the batch statistics it used.
fn forward<T: WithDType>(x: &[T], p: &BnParams<'_, T>, d: BnDims) -> (Vec<T>, Vec<(f64, f64)>) {
    let (c, hw, relu) = (d.c, d.hw, p.relu);
    let stats = channel_stats(x, d);
    let affine = channel_affine(p, &stats);
    let y = filled(x.len(), |y| {
        y.par_chunks_mut(hw).enumerate().for_each(|(k, out)| {
            let (scale, shift) = affine[k % c];
            let (scale, shift) = (T::from_f64(scale), T::from_f64(shift));
            apply_block(out, &x[k * hw..(k + 1) * hw], scale, shift, relu);
        })
    });
    (y, stats)
}

/// dx = γ/σ · (d − mean(d) − x̂·mean(d·x̂)), dγ = Σ d·x̂, dβ = Σ d, where `d = dy`, or with the
/// ReLU `d = dy·[x·scale + shift > 0]` (the forward pass's test, in the same precision).
/// `stats` are the forward pass's batch statistics. Returns one buffer `[dx | dγ | dβ]`.
fn backward<T: WithDType>(
    x: &[T],
    dy: &[T],
    p: &BnParams<'_, T>,
    stats: &[(f64, f64)],
    BnDims { n, c, hw }: BnDims,
) -> Vec<T> {
    let (g, eps, relu) = (p.gamma, p.eps, p.relu);
    let affine: Vec<(T, T)> = channel_affine(p, stats)
        .into_iter()
        .map(|(s, t)| (T::from_f64(s), T::from_f64(t)))
        .collect();
    // Per (image, channel) block: Σ d and Σ d·(x − mean), then per channel in image order.
    let blocks: Vec<(f64, f64)> = (0..n * c)
        .into_par_iter()
        .map(|k| {
            let ch = k % c;
            let (xs, ds) = (&x[k * hw..][..hw], &dy[k * hw..][..hw]);
            grad_sums_block(xs, ds, stats[ch].0, affine[ch], relu)
        })
        .collect();
    let sums: Vec<(f64, f64)> = (0..c)
        .map(|ch| {
            let inv = 1.0 / (stats[ch].1 + eps).sqrt();
            let (sd, sdx) = (0..n).fold((0.0, 0.0), |(a, b), i| {
                let (d, dx) = blocks[i * c + ch];
                (a + d, b + dx)
            });
            (sd, sdx * inv)
        })
        .collect();
    let count = (n * hw) as f64;
    let len = x.len();
    filled(len + 2 * c, |out| {
        let (dx, tail) = out.split_at_mut(len);
        dx.par_chunks_mut(hw).enumerate().for_each(|(k, o)| {
            let ch = k % c;
            let (mean, var) = stats[ch];
            let inv = 1.0 / (var + eps).sqrt();
            let (s_dy, s_dyx) = sums[ch];
            let a = g[ch].to_f64() * inv;
            // dx = a·d − a·mean(d) − a·x̂·mean(d·x̂), with x̂ = (x − mean)·inv, as one affine
            // map of (d, x) per channel.
            let k_d = T::from_f64(a);
            let k_x = T::from_f64(a * inv * s_dyx / count);
            let k_0 = T::from_f64(a * inv * s_dyx / count * mean - a * s_dy / count);
            let off = k * hw;
            let (dys, xs) = (&dy[off..off + hw], &x[off..off + hw]);
            dx_block(o, dys, xs, (k_d, k_x, k_0), affine[ch], relu);
        });
        for (ch, (s_dy, s_dyx)) in sums.iter().enumerate() {
            tail[ch].write(T::from_f64(*s_dyx));
            tail[c + ch].write(T::from_f64(*s_dy));
        }
    })
}

impl CustomOp3 for BnTrain {
    fn name(&self) -> &'static str {
        "dcrobust-batch-norm-train"
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
        let d = dims(l1)?;
        let (y, stats) = match (s1, s2, s3) {
            (CpuStorage::F32(x), CpuStorage::F32(g), CpuStorage::F32(b)) => {
                let params = BnParams {
                    gamma: contiguous_slice(g, l2, "batch_norm")?,
                    beta: contiguous_slice(b, l3, "batch_norm")?,
                    eps: self.eps,
                    relu: self.relu,
                };
                let (y, s) = forward(contiguous_slice(x, l1, "batch_norm")?, &params, d);
                (CpuStorage::F32(y), s)
            }
            (CpuStorage::F64(x), CpuStorage::F64(g), CpuStorage::F64(b)) => {
                let params = BnParams {
                    gamma: contiguous_slice(g, l2, "batch_norm")?,
                    beta: contiguous_slice(b, l3, "batch_norm")?,
                    eps: self.eps,
                    relu: self.relu,
                };
                let (y, s) = forward(contiguous_slice(x, l1, "batch_norm")?, &params, d);
                (CpuStorage::F64(y), s)
            }
            _ => {
                return Err(candle_core::Error::UnsupportedDTypeForOp(
                    s1.dtype(),
                    "batch_norm",
                ))
            }
        };
        if let Ok(mut guard) = self.stats.lock() {
            *guard = stats;
        }
        Ok((y, l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        g: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        dy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let dy = dy.contiguous()?;
        x.dims4()?;
        let stats = self.stats.lock().map(|s| s.clone()).unwrap_or_default();
        let flat = x.apply_op3_no_bwd(
            &dy,
            &Tensor::cat(&[g, b], 0)?,
            &BnGrad {
                eps: self.eps,
                relu: self.relu,
                stats,
            },
        )?;
        let [dx, dg, db] = unpack(&flat, [x.dims(), g.dims(), b.dims()])?;
        Ok((
            x.track_op().then_some(dx),
            g.track_op().then_some(dg),
            b.track_op().then_some(db),
        ))
    }
}

/// The backward kernel of [`BnTrain`], on `(x, dy, [γ | β])`; returns `[dx | dγ | dβ]`.
struct BnGrad {
    eps: f64,
    relu: bool,
    stats: Vec<(f64, f64)>,
}

impl CustomOp3 for BnGrad {
    fn name(&self) -> &'static str {
        "dcrobust-batch-norm-train-grad"
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
        let d = dims(l1)?;
        let BnDims { n, c, hw } = d;
        if l2.dims() != l1.dims() || l3.dims() != [2 * c] || self.stats.len() != c {
            candle_core::bail!("batch_norm backward: inconsistent shapes or statistics");
        }
        let (eps, relu, stats) = (self.eps, self.relu, &self.stats);
        let out = float_dispatch!(
            "batch_norm backward",
            [(s1, l1), (s2, l2), (s3, l3)],
            |x, dy, gb| {
                let params = BnParams {
                    gamma: &gb[..c],
                    beta: &gb[c..],
                    eps,
                    relu,
                };
                backward(x, dy, &params, stats, d)
            }
        );
        Ok((out, Shape::from(n * c * hw + 2 * c)))
    }
}

/// BatchNorm with batch statistics: `γ·(x − μ_c)/sqrt(σ²_c + eps) + β`, followed by a ReLU when
/// `relu` is set, differentiable in all three arguments. Returns the output and, for the
/// running averages, each channel's batch mean and biased variance.
///
/// # Shapes
/// `x`: `(N, C, H, W)` contiguous f32/f64 on the CPU; `gamma`, `beta`: `(C,)` → `(N, C, H, W)`.
pub(crate) fn batch_norm_train(
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    eps: f64,
    relu: bool,
) -> Result<(Tensor, Vec<(f64, f64)>)> {
    let stats: BatchStats = Arc::new(Mutex::new(Vec::new()));
    let y = x.contiguous()?.apply_op3(
        gamma,
        beta,
        BnTrain {
            eps,
            relu,
            stats: stats.clone(),
        },
    )?;
    let s = stats.lock().map(|g| g.clone()).unwrap_or_default();
    Ok((y, s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::testing::{max_diff, uniform};
    use candle_core::{Device, Var};

    /// BatchNorm from candle's operations: batch mean and biased variance per channel, then
    /// `γ·(x − μ)/sqrt(σ² + eps) + β` and, if `relu`, a ReLU.
    fn composite(x: &Tensor, g: &Tensor, b: &Tensor, eps: f64, relu: bool) -> Tensor {
        let (n, c, h, w) = x.dims4().unwrap();
        let count = (n * h * w) as f64;
        let mean = x
            .sum_keepdim((0, 2, 3))
            .unwrap()
            .affine(1.0 / count, 0.0)
            .unwrap();
        let centered = x.broadcast_sub(&mean).unwrap();
        let var = centered
            .sqr()
            .unwrap()
            .sum_keepdim((0, 2, 3))
            .unwrap()
            .affine(1.0 / count, 0.0)
            .unwrap();
        let y = centered
            .broadcast_div(&var.affine(1.0, eps).unwrap().sqrt().unwrap())
            .unwrap()
            .broadcast_mul(&g.reshape((1, c, 1, 1)).unwrap())
            .unwrap()
            .broadcast_add(&b.reshape((1, c, 1, 1)).unwrap())
            .unwrap();
        if relu {
            y.relu().unwrap()
        } else {
            y
        }
    }

    /// Oracles: the composite of candle's operations (values, batch statistics and the gradients
    /// with respect to x, γ and β, f64), and central finite differences (step 1e-6) at a few
    /// entries, with and without the fused ReLU; 5 channels, batch 3, 3×2 maps, β of both signs
    /// so that the ReLU cuts part of every channel.
    #[test]
    fn batch_norm_train_matches_composite_and_finite_differences() {
        let x0 = uniform(&[3, 5, 3, 2], -2.0, 2.0, 1);
        let g0 = uniform(&[5], 0.5, 1.5, 2);
        let b0 = uniform(&[5], -0.5, 0.5, 3);
        let r = uniform(&[3, 5, 3, 2], -1.0, 1.0, 4);
        let eps = 1e-5;
        for relu in [false, true] {
            let (x, g, b) = (
                Var::from_tensor(&x0).unwrap(),
                Var::from_tensor(&g0).unwrap(),
                Var::from_tensor(&b0).unwrap(),
            );
            let (ours, stats) =
                batch_norm_train(x.as_tensor(), g.as_tensor(), b.as_tensor(), eps, relu).unwrap();
            let theirs = composite(x.as_tensor(), g.as_tensor(), b.as_tensor(), eps, relu);
            assert!(max_diff(&ours, &theirs) < 1e-12, "relu {relu}: value");
            let mean: Vec<f64> = x0
                .sum_keepdim((0, 2, 3))
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            for (ch, (m, _)) in stats.iter().enumerate() {
                assert!(
                    (m - mean[ch] / 18.0).abs() < 1e-12,
                    "relu {relu}: mean of channel {ch}"
                );
            }
            let g1 = (&ours * &r).unwrap().sum_all().unwrap().backward().unwrap();
            let g2 = (&theirs * &r)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            for (name, v) in [("x", &x), ("gamma", &g), ("beta", &b)] {
                let d = max_diff(g1.get(v).unwrap(), g2.get(v).unwrap());
                assert!(d < 1e-11, "relu {relu}: gradient of {name} differs by {d}");
            }
            let loss = |x: &Tensor, g: &Tensor, b: &Tensor| {
                let (y, _) = batch_norm_train(x, g, b, eps, relu).unwrap();
                (y * &r)
                    .unwrap()
                    .sum_all()
                    .unwrap()
                    .to_scalar::<f64>()
                    .unwrap()
            };
            let bump = |t: &Tensor, i: usize, d: f64| {
                let mut v: Vec<f64> = t.flatten_all().unwrap().to_vec1().unwrap();
                v[i] += d;
                Tensor::from_vec(v, t.dims(), &Device::Cpu).unwrap()
            };
            let h = 1e-6;
            let gx: Vec<f64> = g1
                .get(&x)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            for i in [0, 41, 89] {
                let fd = (loss(&bump(&x0, i, h), &g0, &b0) - loss(&bump(&x0, i, -h), &g0, &b0))
                    / (2.0 * h);
                assert!(
                    (fd - gx[i]).abs() < 1e-6,
                    "relu {relu}: dx[{i}] {fd} vs {}",
                    gx[i]
                );
            }
            let gg: Vec<f64> = g1.get(&g).unwrap().to_vec1().unwrap();
            let gb: Vec<f64> = g1.get(&b).unwrap().to_vec1().unwrap();
            for i in [0, 4] {
                let fd = (loss(&x0, &bump(&g0, i, h), &b0) - loss(&x0, &bump(&g0, i, -h), &b0))
                    / (2.0 * h);
                assert!(
                    (fd - gg[i]).abs() < 1e-6,
                    "relu {relu}: dgamma[{i}] {fd} vs {}",
                    gg[i]
                );
                let fd = (loss(&x0, &g0, &bump(&b0, i, h)) - loss(&x0, &g0, &bump(&b0, i, -h)))
                    / (2.0 * h);
                assert!(
                    (fd - gb[i]).abs() < 1e-6,
                    "relu {relu}: dbeta[{i}] {fd} vs {}",
                    gb[i]
                );
            }
        }
    }

    /// Oracle: the portable loop [`grad_sums_masked`] (scalar f64 sums in eight interleaved
    /// lanes); the AVX2 intrinsics must give the same bits, with and without the ReLU mask,
    /// at lengths around the vector width, with values on both sides of the mask's threshold.
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn avx2_gradient_sums_match_the_portable_loop() {
        if !crate::kernels::support::has_avx2() {
            return;
        }
        for len in [1, 7, 8, 9, 17, 64, 1023] {
            let x: Vec<f32> = uniform(&[len], -1.0, 1.0, len as u64)
                .to_dtype(candle_core::DType::F32)
                .unwrap()
                .to_vec1()
                .unwrap();
            let d: Vec<f32> = uniform(&[len], -2.0, 2.0, 100 + len as u64)
                .to_dtype(candle_core::DType::F32)
                .unwrap()
                .to_vec1()
                .unwrap();
            let (scale, shift, mean) = (1.3f32, -0.1f32, 0.05f64);
            for relu in [false, true] {
                // SAFETY: the processor has AVX2 (checked above).
                let fast = unsafe { grad_sums_f32_avx2(&x, &d, mean, (scale, shift), relu) };
                let slow = if relu {
                    grad_sums_masked(&x, &d, mean, |v| v * scale + shift > 0.0)
                } else {
                    grad_sums_masked(&x, &d, mean, |_| true)
                };
                assert_eq!(
                    fast.0.to_bits(),
                    slow.0.to_bits(),
                    "Σd, len {len}, relu {relu}"
                );
                assert_eq!(
                    fast.1.to_bits(),
                    slow.1.to_bits(),
                    "Σd·x, len {len}, relu {relu}"
                );
            }
        }
    }
}
