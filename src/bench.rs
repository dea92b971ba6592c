//! `dcrobust bench`: images per second of a training step, an inference pass and an attack step
//! (input gradient, weights frozen) of CNN-9 models, with dcrobust's CPU kernels and with
//! candle's own operations in the same process, so that every figure is a ratio against a
//! reference measured on the same machine at the same moment.
//!
//! The same network in PyTorch is timed by `benches/torch_cnn9.py` (same shapes and threads).

use crate::models::{ModelConfig, Network};
use crate::train::optim::Optimizer;
use crate::train::{build_network, loss, TrainConfig};
use anyhow::{bail, Result};
use candle_core::{DType, Device, Tensor};
use dcrobust_attacks::{Batch, LossKind, Oracle};
use rand::{Rng, SeedableRng};
use std::time::Instant;

/// What to time.
#[derive(Clone, Debug)]
pub(crate) struct BenchConfig {
    /// The models (CNN-9 configurations).
    pub(crate) models: Vec<ModelConfig>,
    /// Images per step.
    pub(crate) batch: usize,
    /// Timed steps per measurement.
    pub(crate) steps: usize,
    /// Untimed steps before each measurement.
    pub(crate) warmup: usize,
    /// Seed of the weights and the random images.
    pub(crate) seed: u64,
    /// Kernel sets to time: `dcrobust` (own CPU kernels) and/or `candle` (candle's operations).
    pub(crate) kernels: Vec<&'static str>,
    /// Modes to time: `train`, `infer` and/or `attack`.
    pub(crate) modes: Vec<&'static str>,
    /// Where to run; on a GPU every timed stretch ends with a synchronisation.
    pub(crate) device: Device,
}

/// Kernel sets `dcrobust bench` knows.
pub(crate) const KERNELS: [&str; 2] = ["dcrobust", "candle"];
/// Modes `dcrobust bench` knows.
pub(crate) const MODES: [&str; 3] = ["train", "infer", "attack"];

/// One measurement.
#[derive(Clone, Debug, serde::Serialize)]
pub(crate) struct BenchRow {
    /// Model name.
    pub(crate) model: String,
    /// `train`, `infer` or `attack`.
    pub(crate) mode: &'static str,
    /// `dcrobust` (own CPU kernels) or `candle` (candle's operations).
    pub(crate) kernels: &'static str,
    /// Images per second.
    pub(crate) images_per_s: f64,
    /// Convolution GFLOP/s reached (forward FLOPs × 1 for inference, × 2 for an attack step,
    /// × 3 for a training step).
    pub(crate) gflops: f64,
}

/// Forward convolution FLOPs (2 per multiply-add) of one image through a CNN-9.
///
/// Closed form from the architecture (src/models/network.rs): three stages of three 3×3
/// convolutions at the stage's width on maps of 32, 16 and 8 pixels (for 32×32 inputs), the
/// `fc6` convolution over the final map and the 1×1 score layer. The decoupled operators' patch
/// norms (one 1-channel convolution per layer) are left out.
pub fn cnn9_flops(cfg: &ModelConfig) -> f64 {
    let mut c = cfg.in_channels;
    let mut side = cfg.image_size[0];
    let mut flops = 0.0;
    for w in [128, 192, 256].map(|w| cfg.scaled(w)) {
        for _ in 0..3 {
            flops += 2.0 * (c * 9 * w * side * side) as f64;
            c = w;
        }
        side /= 2;
    }
    let fc6 = cfg.scaled(256);
    flops += 2.0 * (c * side * side * fc6) as f64;
    flops + 2.0 * (fc6 * cfg.num_classes) as f64
}

/// The machine's peak f32 rate in GFLOP/s, measured: every worker thread runs at once a loop of
/// 12 independent chains of fused multiply-adds (AVX-512 where the CPU has it, else AVX2+FMA)
/// for about `seconds`. `None` on CPUs with neither.
pub(crate) fn measured_peak_gflops(seconds: f64) -> Option<f64> {
    let per_iter = fma_flops_per_iter()?;
    // Calibrate the iteration count on one thread, then run it on all of them together.
    let mut iters = 1usize << 16;
    loop {
        let t = Instant::now();
        std::hint::black_box(fma_loop(iters));
        let s = t.elapsed().as_secs_f64();
        if s > 0.02 {
            iters = ((iters as f64) * seconds / s).max(1.0) as usize;
            break;
        }
        iters *= 4;
    }
    let threads = rayon::current_num_threads();
    let t = Instant::now();
    rayon::broadcast(|_| std::hint::black_box(fma_loop(iters)));
    let s = t.elapsed().as_secs_f64();
    Some(per_iter * (iters * threads) as f64 / s / 1e9)
}

/// FLOPs of one iteration of [`fma_loop`] on this CPU: 12 chains × lanes × 2.
fn fma_flops_per_iter() -> Option<f64> {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return Some(12.0 * 16.0 * 2.0);
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return Some(12.0 * 8.0 * 2.0);
        }
    }
    None
}

fn fma_loop(iters: usize) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F (checked just above).
            return unsafe { fma_loop_avx512(iters) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU has AVX2 and FMA (checked just above).
            return unsafe { fma_loop_avx2(iters) };
        }
    }
    let _ = iters;
    0.0
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn fma_loop_avx512(iters: usize) -> f32 {
    use std::arch::x86_64::*;
    let (a, b) = (_mm512_set1_ps(0.999_999), _mm512_set1_ps(1e-7));
    let mut acc = [_mm512_setzero_ps(); 12];
    for _ in 0..iters {
        for r in acc.iter_mut() {
            *r = _mm512_fmadd_ps(*r, a, b);
        }
    }
    let mut s = _mm512_setzero_ps();
    for r in acc {
        s = _mm512_add_ps(s, r);
    }
    _mm512_reduce_add_ps(s)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn fma_loop_avx2(iters: usize) -> f32 {
    use std::arch::x86_64::*;
    let (a, b) = (_mm256_set1_ps(0.999_999), _mm256_set1_ps(1e-7));
    let mut acc = [_mm256_setzero_ps(); 12];
    for _ in 0..iters {
        for r in acc.iter_mut() {
            *r = _mm256_fmadd_ps(*r, a, b);
        }
    }
    let mut s = _mm256_setzero_ps();
    for r in acc {
        s = _mm256_add_ps(s, r);
    }
    let mut lanes = [0f32; 8];
    // SAFETY: `lanes` holds 8 f32s, the width of the store.
    unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), s) };
    lanes.iter().sum()
}

/// Times every model in every mode, with dcrobust's kernels then candle's.
pub(crate) fn run(cfg: &BenchConfig, mut report: impl FnMut(&BenchRow)) -> Result<Vec<BenchRow>> {
    if cfg.batch == 0 || cfg.steps == 0 {
        bail!("--batch and --steps must be at least 1");
    }
    let device = &cfg.device;
    let mut rows = Vec::new();
    for m in &cfg.models {
        let [h, w] = m.image_size;
        let shape = [cfg.batch, m.in_channels, h, w];
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(cfg.seed);
        let x: Vec<f32> = (0..shape.iter().product())
            .map(|_| rng.random::<f32>())
            .collect();
        let labels: Vec<u32> = (0..cfg.batch)
            .map(|_| rng.random_range(0..m.num_classes as u32))
            .collect();
        let flops = cnn9_flops(m);
        for &kernels in &cfg.kernels {
            crate::kernels::use_candle_kernels(kernels == "candle");
            let net = build_network(m, cfg.seed, device)?;
            let timed = time_modes(&net, cfg, &x, &labels, shape);
            crate::kernels::use_candle_kernels(false);
            for (mode, per_s) in timed? {
                let factor = match mode {
                    "train" => 3.0,
                    "attack" => 2.0,
                    _ => 1.0,
                };
                let row = BenchRow {
                    model: m.name(),
                    mode,
                    kernels,
                    images_per_s: per_s,
                    gflops: per_s * flops * factor / 1e9,
                };
                report(&row);
                rows.push(row);
            }
        }
    }
    Ok(rows)
}

/// Images per second of the three modes on one network.
fn time_modes(
    net: &Network,
    cfg: &BenchConfig,
    x: &[f32],
    labels: &[u32],
    shape: [usize; 4],
) -> Result<Vec<(&'static str, f64)>> {
    let device = &cfg.device;
    let xt = Tensor::from_slice(x, shape.as_slice(), device)?;
    let yt = Tensor::from_slice(labels, labels.len(), device)?;
    let recipe = TrainConfig::new(1, cfg.seed);
    let mut opt = Optimizer::new(
        recipe.optimizer,
        recipe.weight_decay,
        net.params().all().iter(),
    );
    let mut out = Vec::new();
    let want = |mode: &str| cfg.modes.contains(&mode);
    let time = |f: &mut dyn FnMut() -> Result<()>| -> Result<f64> {
        for _ in 0..cfg.warmup {
            f()?;
        }
        device.synchronize()?;
        let t = Instant::now();
        for _ in 0..cfg.steps {
            f()?;
        }
        device.synchronize()?;
        Ok((cfg.steps * cfg.batch) as f64 / t.elapsed().as_secs_f64())
    };
    if want("train") {
        out.push((
            "train",
            time(&mut || {
                let logits = net.forward_t(&xt, true)?;
                let ce = loss::cross_entropy(&logits, &yt, 0.01)?;
                let grads = ce.backward()?;
                opt.step(&grads, 1e-3)?;
                Ok(())
            })?,
        ));
    }
    if want("infer") {
        out.push((
            "infer",
            time(&mut || {
                let z = net.forward_t(&xt, false)?;
                z.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
                Ok(())
            })?,
        ));
    }
    if !want("attack") {
        return Ok(out);
    }
    let batch = Batch::new(
        x.to_vec(),
        shape,
        labels.to_vec(),
        (0..shape[0] as u64).collect(),
        0,
    )?;
    let oracle = Oracle::new(net);
    out.push((
        "attack",
        time(&mut || {
            oracle.loss_grad(&batch.x, &batch, LossKind::CrossEntropy)?;
            Ok(())
        })?,
    ));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::Arch;

    /// Oracle: the layer-by-layer sum written out for width 1 on 32×32×3 inputs:
    /// stage 1: 2·32²·9·(3·128 + 128·128 + 128·128), stage 2: 2·16²·9·(128·192 + 2·192·192),
    /// stage 3: 2·8²·9·(192·256 + 2·256·256), fc6: 2·4²·256·256, score: 2·256·10.
    #[test]
    fn cnn9_flops_by_hand() {
        let cfg = ModelConfig::new(Arch::Cnn9, None, 1.0);
        let want = 2.0 * 1024.0 * 9.0 * (3.0 * 128.0 + 2.0 * 128.0 * 128.0)
            + 2.0 * 256.0 * 9.0 * (128.0 * 192.0 + 2.0 * 192.0 * 192.0)
            + 2.0 * 64.0 * 9.0 * (192.0 * 256.0 + 2.0 * 256.0 * 256.0)
            + 2.0 * 16.0 * 256.0 * 256.0
            + 2.0 * 256.0 * 10.0;
        assert_eq!(cnn9_flops(&cfg), want);
    }
}
