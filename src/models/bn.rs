//! BatchNorm in training mode as one candle operation with its own CPU kernel (forward and
//! backward), replacing about ten composite candle operations (cpu-performance.md, P7).
//!
//! Sums are taken per channel in f64, in a fixed order, so results do not depend on threads.

use super::ops::contiguous_slice;
use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor, WithDType};
use rayon::prelude::*;
use std::sync::{Arc, Mutex};

/// Per-channel batch mean and biased variance of the last forward pass.
pub type BatchStats = Arc<Mutex<Vec<(f64, f64)>>>;

struct BnTrain {
    eps: f64,
    stats: BatchStats,
}

fn dims(l: &Layout) -> Result<(usize, usize, usize)> {
    match l.dims() {
        &[n, c, h, w] => Ok((n, c, h * w)),
        d => candle_core::bail!("batch_norm: expected (N, C, H, W), got {d:?}"),
    }
}

/// Mean and biased variance of every channel (two passes, f64).
fn channel_stats<T: WithDType>(x: &[T], n: usize, c: usize, hw: usize) -> Vec<(f64, f64)> {
    let count = (n * hw) as f64;
    (0..c)
        .into_par_iter()
        .map(|ch| {
            let block = |i: usize| &x[(i * c + ch) * hw..][..hw];
            let mean = (0..n)
                .map(|i| block(i).iter().map(|v| v.to_f64()).sum::<f64>())
                .sum::<f64>()
                / count;
            let var = (0..n)
                .map(|i| {
                    block(i)
                        .iter()
                        .map(|v| (v.to_f64() - mean).powi(2))
                        .sum::<f64>()
                })
                .sum::<f64>()
                / count;
            (mean, var)
        })
        .collect()
}

fn forward<T: WithDType>(
    x: &[T],
    g: &[T],
    b: &[T],
    n: usize,
    c: usize,
    hw: usize,
    eps: f64,
) -> (Vec<T>, Vec<(f64, f64)>) {
    let stats = channel_stats(x, n, c, hw);
    let mut y = vec![T::zero(); x.len()];
    y.par_chunks_mut(hw).enumerate().for_each(|(k, out)| {
        let ch = k % c;
        let (mean, var) = stats[ch];
        let scale = g[ch].to_f64() / (var + eps).sqrt();
        let shift = b[ch].to_f64() - mean * scale;
        for (o, v) in out.iter_mut().zip(&x[k * hw..(k + 1) * hw]) {
            *o = T::from_f64(v.to_f64() * scale + shift);
        }
    });
    (y, stats)
}

/// dx = γ/σ · (dy − mean(dy) − x̂·mean(dy·x̂)), dγ = Σ dy·x̂, dβ = Σ dy.
fn backward<T: WithDType>(
    x: &[T],
    g: &[T],
    dy: &[T],
    n: usize,
    c: usize,
    hw: usize,
    eps: f64,
) -> (Vec<T>, Vec<T>, Vec<T>) {
    let stats = channel_stats(x, n, c, hw);
    let sums: Vec<(f64, f64)> = (0..c)
        .into_par_iter()
        .map(|ch| {
            let (mean, var) = stats[ch];
            let inv = 1.0 / (var + eps).sqrt();
            let (mut s_dy, mut s_dyx) = (0f64, 0f64);
            for i in 0..n {
                let off = (i * c + ch) * hw;
                for (d, v) in dy[off..off + hw].iter().zip(&x[off..off + hw]) {
                    let d = d.to_f64();
                    s_dy += d;
                    s_dyx += d * (v.to_f64() - mean) * inv;
                }
            }
            (s_dy, s_dyx)
        })
        .collect();
    let count = (n * hw) as f64;
    let mut dx = vec![T::zero(); x.len()];
    dx.par_chunks_mut(hw).enumerate().for_each(|(k, out)| {
        let ch = k % c;
        let (mean, var) = stats[ch];
        let inv = 1.0 / (var + eps).sqrt();
        let (s_dy, s_dyx) = sums[ch];
        let a = g[ch].to_f64() * inv;
        let off = k * hw;
        for ((o, d), v) in out
            .iter_mut()
            .zip(&dy[off..off + hw])
            .zip(&x[off..off + hw])
        {
            let xhat = (v.to_f64() - mean) * inv;
            *o = T::from_f64(a * (d.to_f64() - s_dy / count - xhat * s_dyx / count));
        }
    });
    let dg = sums.iter().map(|s| T::from_f64(s.1)).collect();
    let db = sums.iter().map(|s| T::from_f64(s.0)).collect();
    (dx, dg, db)
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
        let (n, c, hw) = dims(l1)?;
        let (y, stats) = match (s1, s2, s3) {
            (CpuStorage::F32(x), CpuStorage::F32(g), CpuStorage::F32(b)) => {
                let (y, s) = forward(
                    contiguous_slice(x, l1, "batch_norm")?,
                    contiguous_slice(g, l2, "batch_norm")?,
                    contiguous_slice(b, l3, "batch_norm")?,
                    n,
                    c,
                    hw,
                    self.eps,
                );
                (CpuStorage::F32(y), s)
            }
            (CpuStorage::F64(x), CpuStorage::F64(g), CpuStorage::F64(b)) => {
                let (y, s) = forward(
                    contiguous_slice(x, l1, "batch_norm")?,
                    contiguous_slice(g, l2, "batch_norm")?,
                    contiguous_slice(b, l3, "batch_norm")?,
                    n,
                    c,
                    hw,
                    self.eps,
                );
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
        let (n, c, h, w) = x.dims4()?;
        let hw = h * w;
        let dev = x.device();
        macro_rules! run {
            ($t:ty) => {{
                let xs = x.flatten_all()?.to_vec1::<$t>()?;
                let gs = g.to_vec1::<$t>()?;
                let ds = dy.flatten_all()?.to_vec1::<$t>()?;
                let (dx, dg, db) = backward(&xs, &gs, &ds, n, c, hw, self.eps);
                (
                    Tensor::from_vec(dx, x.shape(), dev)?,
                    Tensor::from_vec(dg, c, dev)?,
                    Tensor::from_vec(db, c, dev)?,
                )
            }};
        }
        let (dx, dg, db) = match x.dtype() {
            candle_core::DType::F32 => run!(f32),
            candle_core::DType::F64 => run!(f64),
            d => {
                return Err(candle_core::Error::UnsupportedDTypeForOp(
                    d,
                    "batch_norm backward",
                ))
            }
        };
        Ok((
            x.track_op().then_some(dx),
            g.track_op().then_some(dg),
            b.track_op().then_some(db),
        ))
    }
}

/// BatchNorm with batch statistics: `γ·(x − μ_c)/sqrt(σ²_c + eps) + β`, differentiable in all
/// three arguments. Returns the output and, for the running averages, each channel's batch
/// mean and biased variance.
///
/// # Shapes
/// `x`: `(N, C, H, W)` contiguous f32/f64 on the CPU; `gamma`, `beta`: `(C,)` → `(N, C, H, W)`.
pub fn batch_norm_train(
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    eps: f64,
) -> Result<(Tensor, Vec<(f64, f64)>)> {
    let stats: BatchStats = Arc::new(Mutex::new(Vec::new()));
    let y = x.contiguous()?.apply_op3(
        gamma,
        beta,
        BnTrain {
            eps,
            stats: stats.clone(),
        },
    )?;
    let s = stats.lock().map(|g| g.clone()).unwrap_or_default();
    Ok((y, s))
}
