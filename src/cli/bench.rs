//! `dcrobust bench`.

use super::*;
use crate::data::{self};
use crate::models::{Arch, ModelConfig};
use anyhow::{bail, Context, Result};
use clap::Args;
use std::path::PathBuf;

/// `dcrobust bench`.
#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    #[command(flatten)]
    /// Models (CNN-9 only; default baseline,tanh).
    pub(crate) model: ModelArgs,
    /// Images per step.
    #[arg(long, default_value_t = 128, value_parser = crate::cli::parse_count::<usize>, allow_negative_numbers = true, help_heading = "Benchmark")]
    pub(crate) batch: usize,
    /// Timed steps per measurement.
    #[arg(long, default_value_t = 10, value_parser = crate::cli::parse_count::<usize>, allow_negative_numbers = true, help_heading = "Benchmark")]
    pub(crate) steps: usize,
    /// Untimed steps before each measurement.
    #[arg(long, default_value_t = 2, value_parser = crate::cli::parse_count::<usize>, allow_negative_numbers = true, help_heading = "Benchmark")]
    pub(crate) warmup: usize,
    /// Worker threads (default: all cores).
    #[arg(long, value_parser = crate::cli::parse_count::<usize>, allow_negative_numbers = true, help_heading = "Benchmark")]
    pub(crate) threads: Option<usize>,
    /// Seed of the weights and the random images.
    #[arg(long, default_value_t = 0, value_parser = crate::cli::parse_count::<u64>, allow_negative_numbers = true, help_heading = "Benchmark")]
    pub(crate) seed: u64,
    /// Kernel sets to time, comma-separated: dcrobust (own CPU kernels), candle (candle's
    /// operations).
    #[arg(long, value_delimiter = ',', default_value = "dcrobust,candle", value_parser = parse_bench_kernels, help_heading = "Benchmark")]
    pub(crate) kernels: Vec<&'static str>,
    /// Modes to time, comma-separated: train (forward, backward, optimiser step), infer
    /// (forward), attack (input gradient, weights frozen).
    #[arg(long, value_delimiter = ',', default_value = "train,infer,attack", value_parser = parse_bench_mode, help_heading = "Benchmark")]
    pub(crate) modes: Vec<&'static str>,
    /// Widths to time one after the other, comma-separated (for example 0.125,0.25,0.5,1);
    /// replaces --width.
    #[arg(long, value_delimiter = ',', conflicts_with_all = ["width", "model_config"], allow_negative_numbers = true, help_heading = "Benchmark")]
    pub(crate) widths: Vec<f64>,
    /// Also time the same networks in PyTorch with this Python interpreter (it must have
    /// torch), interleaved with dcrobust's runs, and print dcrobust's rate over PyTorch's.
    /// PyTorch runs first in every repetition, so a missing interpreter or torch is reported
    /// before any of dcrobust's measurements.
    /// The PyTorch script (benches/torch_cnn9.py) is built into dcrobust. Only the baseline and
    /// TanhConv (cosine, learnable radius) have PyTorch twins.
    #[arg(long, value_name = "PYTHON", help_heading = "Benchmark")]
    pub(crate) torch: Option<PathBuf>,
    /// Repetitions of every measurement, each preceded by PyTorch's with --torch; the table
    /// shows medians [default: 3 with --torch, else 1].
    #[arg(long, value_parser = crate::cli::parse_count::<usize>, allow_negative_numbers = true, help_heading = "Benchmark")]
    pub(crate) repeat: Option<usize>,
    /// Also write the measurements to this JSON file.
    #[arg(long, help_heading = "Benchmark")]
    pub(crate) json: Option<PathBuf>,
    /// Device: `cpu`, or `cuda:N` (a build with the `cuda` feature; with --torch, PyTorch runs
    /// on the same device). On a GPU every timed stretch ends with a device synchronisation, and the
    /// `dcrobust` kernel set means the cuDNN convolutions (feature `cudnn`), `candle` candle's
    /// own operations.
    #[arg(long, default_value = "cpu", help_heading = "Benchmark")]
    pub(crate) device: String,
    /// cuDNN settings, passed to PyTorch too with --torch.
    #[command(flatten)]
    pub(crate) gpu: GpuArgs,
    /// Time one attack step (forward, summed cross-entropy, input gradient) of this external
    /// model instead of the CNN-9s: onnx:PATH or pt:ARCH:PATH (docs/external-models.md). With
    /// --torch, a pt: model is timed in PyTorch too (benches/torch_external.py).
    #[arg(long, value_name = "ITEM", help_heading = "Benchmark")]
    pub(crate) external: Option<String>,
}

fn parse_bench_kernels(s: &str) -> std::result::Result<&'static str, String> {
    one_of(s, &crate::bench::KERNELS)
}

fn parse_bench_mode(s: &str) -> std::result::Result<&'static str, String> {
    one_of(s, &crate::bench::MODES)
}

fn one_of(s: &str, names: &[&'static str]) -> std::result::Result<&'static str, String> {
    names
        .iter()
        .find(|n| **n == s)
        .copied()
        .ok_or_else(|| format!("expected one of {}", names.join(", ")))
}

/// The PyTorch twin of `benches/torch_cnn9.py` for a model, if it has one: the baseline or
/// TanhConv with the cosine activation and the learnable radius, with BatchNorm and ReLU, on
/// 32×32 RGB images and 10 classes.
fn torch_twin(m: &crate::models::ModelConfig) -> Option<&'static str> {
    use crate::models::{Angular, Magnitude, OperatorConfig, Radius};
    let plain = m.arch == Arch::Cnn9
        && m.batch_norm
        && m.relu
        && m.in_channels == 3
        && m.image_size == [32, 32]
        && m.num_classes == 10;
    let tanh = OperatorConfig {
        magnitude: Magnitude::from_name("tanh")?,
        angular: Angular::Cosine,
        radius: Radius::default(),
    };
    match m.operator {
        _ if !plain => None,
        None => Some("baseline"),
        Some(o) if o == tanh => Some("tanh"),
        Some(_) => None,
    }
}

/// The PyTorch script, built in so that `--torch` works from any directory.
const TORCH_SCRIPT: &str = include_str!("../../benches/torch_cnn9.py");

/// PyTorch's images/s per `(op, mode)`.
type TorchRates = Vec<(String, String, f64)>;

/// One run of the PyTorch script: images/s per `(op, mode)`, and torch's version.
fn run_torch(
    python: &std::path::Path,
    width: f64,
    ops: &[&str],
    a: &BenchArgs,
) -> Result<(TorchRates, String)> {
    /// Removes the temporary folder however the run ends.
    struct TempDir(PathBuf);
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let dir = TempDir(std::env::temp_dir().join(format!(
        "dcrobust-bench-torch-{}-{width}",
        std::process::id()
    )));
    std::fs::create_dir_all(&dir.0)
        .with_context(|| format!("--torch: making {}", dir.0.display()))?;
    let (script, out) = (dir.0.join("torch_cnn9.py"), dir.0.join("torch.json"));
    std::fs::write(&script, TORCH_SCRIPT)
        .with_context(|| format!("--torch: writing {}", script.display()))?;
    let o = std::process::Command::new(python)
        .arg(&script)
        .arg("--device")
        .arg(&a.device)
        .arg("--conv-math")
        .arg(a.gpu.conv_math.name())
        .args((a.gpu.conv_algos != crate::kernels::ConvAlgos::Fastest).then_some("--deterministic"))
        .arg("--threads")
        .arg(rayon::current_num_threads().to_string())
        .arg("--width")
        .arg(width.to_string())
        .arg("--batch")
        .arg(a.batch.to_string())
        .arg("--ops")
        .arg(ops.join(","))
        .arg("--modes")
        .arg(a.modes.join(","))
        .arg("--steps")
        .arg(a.steps.to_string())
        .arg("--warmup")
        .arg(a.warmup.to_string())
        .arg("--seed")
        .arg(a.seed.to_string())
        .arg("--json")
        .arg(&out)
        .output()
        .with_context(|| format!("--torch: could not run `{}`", python.display()))?;
    if !o.status.success() {
        let err = String::from_utf8_lossy(&o.stderr);
        let tail: Vec<&str> = err.lines().rev().take(5).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!(
            "--torch: `{} torch_cnn9.py` failed ({}); does that Python have torch?\n{}",
            python.display(),
            o.status,
            tail.join("\n")
        );
    }
    let doc: serde_json::Value = serde_json::from_slice(
        &std::fs::read(&out).context("--torch: the PyTorch script wrote no results")?,
    )
    .context("--torch: the PyTorch script's results are not JSON")?;
    let version = doc["torch"].as_str().unwrap_or("?").to_string();
    let rows = doc["results"]
        .as_array()
        .context("--torch: no `results` in the PyTorch script's output")?
        .iter()
        .filter_map(|r| {
            Some((
                r["op"].as_str()?.to_string(),
                r["mode"].as_str()?.to_string(),
                r["images_per_s"].as_f64()?,
            ))
        })
        .collect();
    Ok((rows, version))
}

/// The median of `v` (the mean of the middle two for an even count).
fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

/// One row of the table: medians over the repetitions, with PyTorch's where it ran.
#[derive(serde::Serialize)]
struct SummaryRow {
    width: f64,
    model: String,
    mode: &'static str,
    kernels: &'static str,
    /// Median images/s.
    images_per_s: f64,
    /// Convolution GFLOP/s at the median rate.
    gflops: f64,
    /// images/s of every repetition, in order.
    runs: Vec<f64>,
    /// PyTorch's median images/s, same network, mode, batch and threads.
    torch_images_per_s: Option<f64>,
    /// PyTorch's images/s of every repetition.
    torch_runs: Vec<f64>,
    /// `images_per_s / torch_images_per_s`.
    vs_torch: Option<f64>,
}

pub(crate) fn cmd_bench(a: &BenchArgs) -> Result<()> {
    apply_threads(a.threads)?;
    a.gpu.apply();
    let device = parse_device(&a.device)?;
    if let Some(item) = &a.external {
        return bench_external(a, item, &device);
    }
    let data = data::embedded()?;
    let models = model_configs(&a.model, &data, &["baseline", "tanh"])?;
    if let Some(m) = models.iter().find(|m| m.arch != Arch::Cnn9) {
        bail!(
            "dcrobust bench times CNN-9 models; `{}` is not one",
            m.name()
        );
    }
    let (widths, per_width) = models_per_width(a, &models)?;
    let repeat = a.repeat.unwrap_or(if a.torch.is_some() { 3 } else { 1 });
    if repeat == 0 {
        bail!("--repeat must be at least 1");
    }
    let twins: Vec<&str> = {
        let mut t: Vec<&str> = per_width[0].iter().filter_map(torch_twin).collect();
        t.dedup();
        t
    };
    if a.torch.is_some() && twins.is_empty() {
        bail!("--torch: none of these models has a PyTorch twin (the baseline and TanhConv with the cosine activation and the learnable radius do)");
    }
    let peak = crate::bench::measured_peak_gflops(0.5);
    let on = match &device {
        candle_core::Device::Cpu => "CPU".to_string(),
        _ => format!(
            "{}, convolutions {} / {}",
            a.device, a.gpu.conv_math, a.gpu.conv_algos
        ),
    };
    println!(
        "{on}, {} threads, batch {}, {} timed steps after {} warm-up, {} repetition(s), medians; GFLOP/s count convolutions",
        a.threads.unwrap_or_else(rayon::current_num_threads),
        a.batch,
        a.steps,
        a.warmup,
        repeat
    );
    match peak {
        Some(p) => {
            println!("measured peak (fused multiply-add loop on every thread): {p:.1} GFLOP/s")
        }
        None => println!("measured peak: unknown on this CPU (no AVX2/AVX-512)"),
    }
    let mut torch_version = None;
    let mut summary: Vec<SummaryRow> = Vec::new();
    for (w, models) in widths.iter().zip(&per_width) {
        let cfg = crate::bench::BenchConfig {
            models: models.clone(),
            batch: a.batch,
            steps: a.steps,
            warmup: a.warmup,
            seed: a.seed,
            kernels: a.kernels.clone(),
            modes: a.modes.clone(),
            device: device.clone(),
        };
        let mut runs: Vec<Vec<crate::bench::BenchRow>> = Vec::new();
        let mut torch_runs: Vec<TorchRates> = Vec::new();
        for r in 0..repeat {
            if repeat > 1 || a.torch.is_some() {
                eprintln!("width {w}: repetition {}/{repeat}", r + 1);
            }
            if let Some(python) = &a.torch {
                let (rows, version) = run_torch(python, *w, &twins, a)?;
                torch_version = Some(version);
                torch_runs.push(rows);
            }
            runs.push(crate::bench::run(&cfg, |_| {})?);
        }
        summary.extend(summary_rows(*w, models, &runs, &torch_runs));
    }
    print_summary(&summary, peak, a.torch.is_some());
    if let Some(v) = &torch_version {
        println!("PyTorch {v} (benches/torch_cnn9.py), same threads, batch and steps");
    }
    if let Some(path) = &a.json {
        write_bench_json(path, a, repeat, peak, torch_version.as_deref(), &summary)?;
    }
    Ok(())
}

/// The models to time at each width: the `--widths` (or the models' own width), each model
/// checked at that width.
fn models_per_width(
    a: &BenchArgs,
    models: &[ModelConfig],
) -> Result<(Vec<f64>, Vec<Vec<ModelConfig>>)> {
    let widths: Vec<f64> = if a.widths.is_empty() {
        vec![models[0].width]
    } else {
        a.widths.clone()
    };
    let mut per_width = Vec::new();
    for &w in &widths {
        let models: Vec<_> = models
            .iter()
            .map(|m| {
                let mut m = m.clone();
                m.width = w;
                m
            })
            .collect();
        for m in &models {
            m.validate()
                .map_err(|e| anyhow::anyhow!("--widths: model {}: {e}", m.name()))?;
        }
        per_width.push(models);
    }
    Ok((widths, per_width))
}

/// One summary row per row of the first repetition at width `w`: the median over `runs`, and
/// PyTorch's median over `torch_runs` for the models with a PyTorch twin.
fn summary_rows(
    w: f64,
    models: &[ModelConfig],
    runs: &[Vec<crate::bench::BenchRow>],
    torch_runs: &[TorchRates],
) -> Vec<SummaryRow> {
    let mut summary = Vec::new();
    for (i, row) in runs[0].iter().enumerate() {
        let rates: Vec<f64> = runs.iter().map(|r| r[i].images_per_s).collect();
        let ips = median(&rates);
        let twin = models
            .iter()
            .find(|m| m.name() == row.model)
            .and_then(torch_twin);
        let t_rates: Vec<f64> = match twin {
            Some(op) => torch_runs
                .iter()
                .filter_map(|rows| {
                    rows.iter()
                        .find(|(o, m, _)| o == op && m == row.mode)
                        .map(|r| r.2)
                })
                .collect(),
            None => Vec::new(),
        };
        let t = (!t_rates.is_empty()).then(|| median(&t_rates));
        summary.push(SummaryRow {
            width: w,
            model: row.model.clone(),
            mode: row.mode,
            kernels: row.kernels,
            images_per_s: ips,
            gflops: row.gflops / row.images_per_s * ips,
            runs: rates,
            torch_images_per_s: t,
            torch_runs: t_rates,
            vs_torch: t.map(|t| ips / t),
        });
    }
    summary
}

/// `--json`: the rows, the summary and the settings.
fn write_bench_json(
    path: &std::path::Path,
    a: &BenchArgs,
    repeat: usize,
    peak: Option<f64>,
    torch_version: Option<&str>,
    summary: &[SummaryRow],
) -> Result<()> {
    let rows: Vec<crate::bench::BenchRow> = summary
        .iter()
        .map(|r| crate::bench::BenchRow {
            model: r.model.clone(),
            mode: r.mode,
            kernels: r.kernels,
            images_per_s: r.images_per_s,
            gflops: r.gflops,
        })
        .collect();
    let doc = serde_json::json!({
        "threads": rayon::current_num_threads(),
        "batch": a.batch,
        "repeat": repeat,
        "peak_gflops": peak,
        "torch": torch_version,
        "rows": rows,
        "summary": summary,
    });
    crate::util::write_json_atomic(path, &doc)
        .with_context(|| format!("writing {}", path.display()))
}

/// The table: one line per width × model × mode × kernel set, with PyTorch's rate and the
/// ratio when `torch`, then dcrobust's kernels over candle's operations where both ran.
fn print_summary(rows: &[SummaryRow], peak: Option<f64>, torch: bool) {
    print!(
        "{:<6} {:<20} {:<7} {:<9} {:>10} {:>9} {:>7}",
        "width", "model", "mode", "kernels", "images/s", "GFLOP/s", "peak"
    );
    if torch {
        print!(" {:>10} {:>7}", "PyTorch", "ratio");
    }
    println!();
    for r in rows {
        print!(
            "{:<6} {:<20} {:<7} {:<9} {:>10.1} {:>9.1} {:>6.1}%",
            r.width,
            r.model,
            r.mode,
            r.kernels,
            r.images_per_s,
            r.gflops,
            peak.map_or(f64::NAN, |p| 100.0 * r.gflops / p)
        );
        if torch {
            match (r.torch_images_per_s, r.vs_torch) {
                (Some(t), Some(q)) => print!(" {t:>10.1} {q:>6.2}x"),
                _ => print!(" {:>10} {:>7}", "-", "-"),
            }
        }
        println!();
    }
    let pairs: Vec<(&SummaryRow, &SummaryRow)> = rows
        .iter()
        .filter(|r| r.kernels == "dcrobust")
        .filter_map(|r| {
            rows.iter()
                .find(|c| {
                    c.kernels == "candle"
                        && c.width == r.width
                        && c.model == r.model
                        && c.mode == r.mode
                })
                .map(|c| (r, c))
        })
        .collect();
    if !pairs.is_empty() {
        println!("\nspeed-up of dcrobust's kernels over candle's operations:");
    }
    for (r, c) in pairs {
        println!(
            "  {:<6} {:<20} {:<7} {:.2}x",
            r.width,
            r.model,
            r.mode,
            r.images_per_s / c.images_per_s
        );
    }
}

/// The PyTorch side of `--external`: the timing script and the architectures it imports.
const TORCH_EXTERNAL_SCRIPT: &str = include_str!("../../benches/torch_external.py");
const TORCH_ARCHS: &str = include_str!("../../benches/robustbench_archs.py");

/// `dcrobust bench --external ITEM`: images/s of one attack step of an external model, with
/// PyTorch's on the same file beside it (`--torch`), medians over `--repeat` repetitions.
fn bench_external(a: &BenchArgs, item: &str, device: &candle_core::Device) -> Result<()> {
    use crate::external::{ExternalFormat, ExternalModel, ExternalSpec};
    use candle_core::{Tensor, Var};
    use dcrobust_attacks::Model as _;
    use rand::{Rng, SeedableRng};

    let spec = ExternalSpec::parse(item)
        .with_context(|| format!("--external {item}: expected onnx:PATH or pt:ARCH:PATH"))??;
    let arch = match (spec.format, &a.torch) {
        (ExternalFormat::Torch(arch), _) => Some(arch),
        (ExternalFormat::Onnx, Some(_)) => {
            bail!("--torch times pt:ARCH:PATH models; an ONNX graph has no PyTorch source here")
        }
        (ExternalFormat::Onnx, None) => None,
    };
    let model = ExternalModel::load(&spec, device)?;
    if a.steps == 0 {
        bail!("--steps must be at least 1");
    }
    let repeat = a.repeat.unwrap_or(if a.torch.is_some() { 3 } else { 1 });
    if repeat == 0 {
        bail!("--repeat must be at least 1");
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(a.seed);
    let (c, h, w) = (3, 32, 32);
    let n = a.batch * c * h * w;
    let x: Vec<f32> = (0..n).map(|_| rng.random::<f32>()).collect();
    let x = Tensor::from_vec(x, (a.batch, c, h, w), device)?;
    let classes = model.logits(&x.narrow(0, 0, 1)?)?.dim(1)?;
    let y: Vec<u32> = (0..a.batch)
        .map(|_| rng.random_range(0..classes as u32))
        .collect();
    let y = Tensor::from_vec(y, a.batch, device)?;
    let step = || -> Result<()> {
        let xv = Var::from_tensor(&x)?;
        let logits = model.logits(xv.as_tensor())?;
        let loss = (candle_nn::loss::cross_entropy(&logits, &y)? * a.batch as f64)?;
        let grads = loss.backward()?;
        let g = grads
            .get(xv.as_tensor())
            .context("the model's output does not depend on its input")?;
        // Reading one value waits for the device.
        g.flatten_all()?.narrow(0, 0, 1)?.to_vec1::<f32>()?;
        Ok(())
    };
    let threads = rayon::current_num_threads();
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    let mut torch_version = None;
    for _ in 0..repeat {
        if let (Some(python), Some(arch)) = (&a.torch, arch) {
            let (rate, version) = run_torch_external(python, arch, &spec.path, threads, a)?;
            theirs.push(rate);
            torch_version = Some(version);
        }
        for _ in 0..a.warmup {
            step()?;
        }
        let t = std::time::Instant::now();
        for _ in 0..a.steps {
            step()?;
        }
        ours.push((a.batch * a.steps) as f64 / t.elapsed().as_secs_f64());
    }
    let name = spec.model_name();
    println!(
        "attack step of {} ({}): batch {}, {} steps after {} warm-up, {} thread(s), {}; medians of {repeat}",
        spec.label(),
        spec.format,
        a.batch,
        a.steps,
        a.warmup,
        threads,
        a.device
    );
    let ours_m = median(&ours);
    if theirs.is_empty() {
        println!("{name}: dcrobust {ours_m:.1} images/s");
    } else {
        let theirs_m = median(&theirs);
        println!(
            "{name}: dcrobust {ours_m:.1} images/s, PyTorch {} {theirs_m:.1} images/s, dcrobust/PyTorch {:.2}",
            torch_version.as_deref().unwrap_or("?"),
            ours_m / theirs_m
        );
    }
    if let Some(path) = &a.json {
        let doc = serde_json::json!({
            "external": spec.label(),
            "batch": a.batch,
            "threads": threads,
            "device": a.device,
            "dcrobust_images_per_s": ours,
            "torch": torch_version,
            "torch_images_per_s": theirs,
        });
        crate::util::write_json_atomic(path, &doc)
            .with_context(|| format!("--json: writing {}", path.display()))?;
    }
    Ok(())
}

/// One run of benches/torch_external.py on `file`: PyTorch's images/s and torch's version.
fn run_torch_external(
    python: &std::path::Path,
    arch: crate::external::TorchArch,
    file: &std::path::Path,
    threads: usize,
    a: &BenchArgs,
) -> Result<(f64, String)> {
    if a.device != "cpu" {
        bail!("--external with --torch times the CPU only");
    }
    let dir = std::env::temp_dir().join(format!("dcrobust-bench-external-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("--torch: making {}", dir.display()))?;
    let script = dir.join("torch_external.py");
    let out = dir.join("torch.json");
    let written = std::fs::write(&script, TORCH_EXTERNAL_SCRIPT)
        .and_then(|_| std::fs::write(dir.join("robustbench_archs.py"), TORCH_ARCHS));
    let result = written
        .with_context(|| format!("--torch: writing {}", script.display()))
        .and_then(|_| {
            std::process::Command::new(python)
                .arg(&script)
                .arg("--arch")
                .arg(arch.to_string())
                .arg("--file")
                .arg(file)
                .arg("--batch")
                .arg(a.batch.to_string())
                .arg("--steps")
                .arg(a.steps.to_string())
                .arg("--warmup")
                .arg(a.warmup.to_string())
                .arg("--threads")
                .arg(threads.to_string())
                .arg("--seed")
                .arg(a.seed.to_string())
                .arg("--json")
                .arg(&out)
                .output()
                .with_context(|| format!("--torch: could not run `{}`", python.display()))
        })
        .and_then(|o| {
            if !o.status.success() {
                let err = String::from_utf8_lossy(&o.stderr);
                let last = err.lines().last().unwrap_or_default().to_string();
                bail!(
                    "--torch: `{} torch_external.py` failed ({}): {last}",
                    python.display(),
                    o.status
                );
            }
            let doc: serde_json::Value = serde_json::from_slice(
                &std::fs::read(&out).context("--torch: the PyTorch script wrote no results")?,
            )
            .context("--torch: the PyTorch script's results are not JSON")?;
            let rate = doc["images_per_s"]
                .as_f64()
                .context("--torch: no images_per_s in the PyTorch script's output")?;
            Ok((rate, doc["torch"].as_str().unwrap_or("?").to_string()))
        });
    let _ = std::fs::remove_dir_all(&dir);
    result
}
