//! The command line: `dcrobust train`, `dcrobust models`, `dcrobust run --suite ...`.

use crate::data::{self, Cifar100Labels, DataFormat, Dataset};
use crate::models::{Angular, Arch, Magnitude, ModelConfig, OperatorConfig, Radius};
use crate::suite::cells::Shard;
use crate::suite::corruption::{parse_severity, CorruptionConfig};
use crate::suite::{self, adversarial::AdversarialConfig, adversarial::RecordFormat};
use crate::train::optim::OptimizerConfig;
use crate::train::{self, AdvTrainAttack, AdvTraining, TrainConfig, TrainOptions};
use anyhow::{bail, Context, Result};
use candle_core::Device;
use clap::{Args, Parser, Subcommand, ValueEnum};
use dcrobust_attacks::{AttackConfig, AttackKind, Target};
use std::path::PathBuf;

/// Are decoupled convolutional networks more robust than ordinary CNNs? Train, attack, corrupt
/// and report.
#[derive(Debug, Parser)]
#[command(name = "dcrobust", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per process
pub enum Command {
    /// Train baseline and decoupled networks, writing checkpoints and convergence curves.
    Train(TrainArgs),
    /// List architectures, magnitude functions and angular activations.
    Models,
    /// Run a whole suite: train, then attack or corrupt, then report.
    Run(RunArgs),
    /// List the attacks and their defaults.
    Attacks,
    /// Write the corrupted test split in the released CIFAR-10-C layout (<corruption>.npy,
    /// uint8 N x H x W x C, severity-major, and labels.npy).
    Corrupt(CorruptArgs),
    /// Render the HTML report of one or more finished runs (their results files only).
    Report(ReportArgs),
    /// Combine the shards of a run started with `--shard K/N` into one results set and report.
    Merge(MergeArgs),
    /// Time training, inference and attack steps of CNN-9 models on the CPU, with dcrobust's
    /// kernels and with candle's own operations.
    Bench(BenchArgs),
}

/// Options every command that computes shares.
#[derive(Debug, Args)]
pub struct CommonArgs {
    /// Run seed: initialisation, shuffling and augmentation derive from it.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Device: `cpu`, or `cuda:N` (needs a build with the `cuda` feature).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Worker threads for tensor kernels and data loading (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Output directory.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Where the data comes from.
#[derive(Debug, Args)]
pub struct DataArgs {
    /// Data set directory (CIFAR-10/100 binary, MNIST-style IDX, or ImageFolder with train/ and
    /// test/). Without it the embedded CIFAR-10 subset is used.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Force the format instead of detecting it: cifar10-binary, cifar100-binary, idx, image-folder.
    #[arg(long, requires = "data")]
    pub data_format: Option<DataFormat>,
    /// CIFAR-100 labels to use.
    #[arg(long, value_enum, default_value_t = LabelsArg::Fine)]
    pub cifar100_labels: LabelsArg,
    /// Use only the first N training images.
    #[arg(long)]
    pub train_limit: Option<usize>,
    /// Use only the first N test images.
    #[arg(long)]
    pub test_limit: Option<usize>,
}

/// CIFAR-100 label granularity.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LabelsArg {
    /// The 100 fine classes.
    Fine,
    /// The 20 coarse superclasses.
    Coarse,
}

/// Which networks to build.
#[derive(Debug, Args)]
pub struct ModelArgs {
    /// Architecture: cnn9, resnet32 or feat2d.
    #[arg(long, default_value = "cnn9", value_parser = parse_arch)]
    pub arch: Arch,
    /// Operators to train, comma-separated: baseline (ordinary convolutions), sphere, ball, tanh,
    /// linear, seg, log, mix, weighted-linear, weighted-tanh-eq15, weighted-tanh-eq16
    /// (default: baseline,tanh; the adversarial suite: baseline,sphere,ball,tanh as in Table 7).
    #[arg(long, value_delimiter = ',')]
    pub op: Option<Vec<String>>,
    /// Angular activation of the decoupled operators: linear, cosine, sigmoid, sqcos,
    /// learnable-sigmoid.
    #[arg(long, default_value = "cosine")]
    pub angular: String,
    /// k of the sigmoid activation (initial k for learnable-sigmoid).
    #[arg(long)]
    pub sigmoid_k: Option<f64>,
    /// Operator radius: `learnable` (ρ = (r²+1e-4)·mean patch norm) or a fixed positive number.
    #[arg(long, default_value = "learnable")]
    pub radius: String,
    /// Channel-width multiplier on the paper's widths (1 = 128/192/256 for CNN-9).
    #[arg(long, default_value_t = 0.125)]
    pub width: f64,
    /// Remove BatchNorm everywhere (paper Table 2).
    #[arg(long)]
    pub no_bn: bool,
    /// Remove the ReLU after each conv block (paper Table 3).
    #[arg(long)]
    pub no_relu: bool,
    /// A ModelConfig JSON file; replaces every model option above (its input size and class
    /// count must match the data).
    #[arg(long, conflicts_with_all = ["op", "angular", "arch", "width", "no_bn", "no_relu"])]
    pub model_config: Option<PathBuf>,
}

/// The training recipe, shared by `train` and `run`.
#[derive(Debug, Args)]
pub struct RecipeArgs {
    /// Epochs (default: 5 for `train`, 2 for `run`).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Batch size.
    #[arg(long, default_value_t = 128)]
    pub batch_size: usize,
    /// Optimiser.
    #[arg(long, value_enum, default_value_t = OptimizerArg::Adam)]
    pub optimizer: OptimizerArg,
    /// Learning rate (default: 1e-3 for Adam, 0.1 for SGD).
    #[arg(long)]
    pub lr: Option<f64>,
    /// SGD momentum.
    #[arg(long, default_value_t = 0.9)]
    pub momentum: f64,
    /// Epochs after which the learning rate is multiplied by --lr-gamma (default: at 50% and 75%).
    #[arg(long, value_delimiter = ',')]
    pub lr_milestones: Option<Vec<usize>>,
    /// Learning-rate factor at each milestone.
    #[arg(long, default_value_t = 0.1)]
    pub lr_gamma: f64,
    /// Label smoothing ε.
    #[arg(long, default_value_t = 0.01)]
    pub label_smoothing: f64,
    /// L2 weight decay λ (on BN, shortcut and score parameters, and all baseline filters).
    #[arg(long, default_value_t = 5e-4)]
    pub weight_decay: f64,
    /// Orthogonality regulariser coefficient on decoupled filters.
    #[arg(long, default_value_t = 1e-5)]
    pub orthogonality: f64,
    /// Project decoupled filters to unit norm every N iterations (0 = never).
    #[arg(long, default_value_t = 100)]
    pub projection_every: usize,
    /// Train without augmentation.
    #[arg(long)]
    pub no_augment: bool,
    /// Record running training metrics every N iterations (0 = per epoch only).
    #[arg(long, default_value_t = 10)]
    pub log_every: usize,
    /// Adversarial training: none, fgsm (one step of --adv-eps) or pgd (--adv-steps steps of
    /// --adv-eps/4 from a random start); examples are crafted in inference mode.
    #[arg(long, value_enum, default_value_t = AdvTrainArg::None)]
    pub adv_train: AdvTrainArg,
    /// L-inf budget of adversarial training (a number or a fraction such as 8/255).
    #[arg(long, default_value = "8/255", value_parser = parse_eps)]
    pub adv_eps: f64,
    /// PGD iterations of adversarial training.
    #[arg(long, default_value_t = 7)]
    pub adv_steps: usize,
}

/// Adversarial training choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AdvTrainArg {
    /// Standard training.
    None,
    /// FGSM adversarial training.
    Fgsm,
    /// PGD adversarial training.
    Pgd,
}

/// `dcrobust train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Model options.
    #[command(flatten)]
    pub model: ModelArgs,
    /// Data options.
    #[command(flatten)]
    pub data: DataArgs,
    /// Common options.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Training recipe.
    #[command(flatten)]
    pub recipe: RecipeArgs,
    /// Continue the runs found in --out.
    #[arg(long)]
    pub resume: bool,
    /// Stop after this many epochs as if killed (for testing resume).
    #[arg(long, hide = true)]
    pub stop_after_epochs: Option<usize>,
    /// Hide the progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// Optimisers.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum OptimizerArg {
    /// Adam (β = 0.9, 0.999; ε = 1e-8).
    Adam,
    /// SGD with momentum.
    Sgd,
}

/// `dcrobust run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Which suite.
    #[arg(long, value_enum)]
    pub suite: Suite,
    /// Model options.
    #[command(flatten)]
    pub model: ModelArgs,
    /// Data options.
    #[command(flatten)]
    pub data: DataArgs,
    /// Common options.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Training recipe.
    #[command(flatten)]
    pub recipe: RecipeArgs,
    /// Adversarial-suite options.
    #[command(flatten)]
    pub adversarial: AdversarialArgs,
    /// Corruption-suite options.
    #[command(flatten)]
    pub corruption: CorruptionArgs,
    /// Evaluate these training run directories (from `dcrobust train` or an earlier run's
    /// models/) instead of training; comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub checkpoint: Vec<PathBuf>,
    /// Images per evaluation batch (changes speed and memory, never the numbers).
    #[arg(long, default_value_t = 128)]
    pub eval_batch_size: usize,
    /// Hide progress bars.
    #[arg(long)]
    pub quiet: bool,
    /// Open the report in the system browser when the run ends.
    #[arg(long)]
    pub open: bool,
    /// Evaluate only shard K of N (e.g. 2/8: every 8th evaluation unit from the 2nd), as one
    /// task of a job array; each shard needs its own --out, and `dcrobust merge` combines them.
    #[arg(long, value_parser = parse_shard)]
    pub shard: Option<Shard>,
}

/// `dcrobust merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The shards' output directories (all N shards of one run, any order).
    #[arg(required = true)]
    pub shards: Vec<PathBuf>,
    /// Directory of the merged results and report.
    #[arg(long, required = true)]
    pub out: PathBuf,
    /// Open the report in the system browser.
    #[arg(long)]
    pub open: bool,
}

/// `dcrobust bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(flatten)]
    /// Models (CNN-9 only; default baseline,tanh).
    pub model: ModelArgs,
    /// Images per step.
    #[arg(long, default_value_t = 128)]
    pub batch: usize,
    /// Timed steps per measurement.
    #[arg(long, default_value_t = 10)]
    pub steps: usize,
    /// Untimed steps before each measurement.
    #[arg(long, default_value_t = 2)]
    pub warmup: usize,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Seed of the weights and the random images.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Kernel sets to time, comma-separated: dcrobust (own CPU kernels), candle (candle's
    /// operations).
    #[arg(long, value_delimiter = ',', default_value = "dcrobust,candle", value_parser = parse_bench_kernels)]
    pub kernels: Vec<&'static str>,
    /// Modes to time, comma-separated: train (forward, backward, optimiser step), infer
    /// (forward), attack (input gradient, weights frozen).
    #[arg(long, value_delimiter = ',', default_value = "train,infer,attack", value_parser = parse_bench_mode)]
    pub modes: Vec<&'static str>,
    /// Also write the measurements to this JSON file.
    #[arg(long)]
    pub json: Option<PathBuf>,
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

fn cmd_bench(a: &BenchArgs) -> Result<()> {
    apply_threads(a.threads)?;
    let data = data::embedded()?;
    let models = model_configs(&a.model, &data, &["baseline", "tanh"])?;
    if let Some(m) = models.iter().find(|m| m.arch != Arch::Cnn9) {
        bail!(
            "dcrobust bench times CNN-9 models; `{}` is not one",
            m.name()
        );
    }
    let cfg = crate::bench::BenchConfig {
        models,
        batch: a.batch,
        steps: a.steps,
        warmup: a.warmup,
        seed: a.seed,
        kernels: a.kernels.clone(),
        modes: a.modes.clone(),
    };
    let peak = crate::bench::measured_peak_gflops(0.5);
    println!(
        "CPU, {} threads, batch {}, {} timed steps after {} warm-up; GFLOP/s count convolutions",
        a.threads.unwrap_or_else(rayon::current_num_threads),
        a.batch,
        a.steps,
        a.warmup
    );
    match peak {
        Some(p) => {
            println!("measured peak (fused multiply-add loop on every thread): {p:.1} GFLOP/s")
        }
        None => println!("measured peak: unknown on this CPU (no AVX2/AVX-512)"),
    }
    println!(
        "{:<20} {:<7} {:<9} {:>10} {:>9} {:>7}",
        "model", "mode", "kernels", "images/s", "GFLOP/s", "peak"
    );
    let rows = crate::bench::run(&cfg, |r| {
        println!(
            "{:<20} {:<7} {:<9} {:>10.1} {:>9.1} {:>6.1}%",
            r.model,
            r.mode,
            r.kernels,
            r.images_per_s,
            r.gflops,
            peak.map_or(f64::NAN, |p| 100.0 * r.gflops / p)
        );
    })?;
    if a.kernels.len() > 1 {
        println!("\nspeed-up of dcrobust's kernels over candle's operations:");
    }
    for r in rows.iter().filter(|r| r.kernels == "dcrobust") {
        if let Some(c) = rows
            .iter()
            .find(|c| c.kernels == "candle" && c.model == r.model && c.mode == r.mode)
        {
            println!(
                "  {:<20} {:<7} {:.2}x",
                r.model,
                r.mode,
                r.images_per_s / c.images_per_s
            );
        }
    }
    if let Some(path) = &a.json {
        let doc = serde_json::json!({
            "threads": rayon::current_num_threads(),
            "batch": a.batch,
            "peak_gflops": peak,
            "rows": rows,
        });
        crate::util::write_json_atomic(path, &doc)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// Parses `--shard K/N`.
fn parse_shard(s: &str) -> std::result::Result<Shard, String> {
    Shard::parse(s)
}

/// Options of the adversarial suite.
#[derive(Debug, Args)]
pub struct AdversarialArgs {
    /// White-box attacks, comma-separated: fgsm, bim, pgd, pgd-l2, mifgsm, apgd-ce, apgd-dlr,
    /// cw-l2, square (`dcrobust attacks` lists them). Square runs at --headline-linf only.
    #[arg(long, value_delimiter = ',', default_value = "fgsm,bim,pgd,pgd-l2,square", value_parser = parse_attack)]
    pub attacks: Vec<AttackKind>,
    /// L-inf budgets of the sweep (numbers or fractions such as 8/255).
    #[arg(long, value_delimiter = ',', default_value = "0,1/255,2/255,4/255,8/255,16/255", value_parser = parse_eps)]
    pub linf_eps: Vec<f64>,
    /// L2 budgets of the sweep.
    #[arg(long, value_delimiter = ',', default_value = "0,0.25,0.5,1", value_parser = parse_eps)]
    pub l2_eps: Vec<f64>,
    /// L-inf budget of the headline table, transfer attacks and checks.
    #[arg(long, default_value = "8/255", value_parser = parse_eps)]
    pub headline_linf: f64,
    /// L2 budget of the headline table.
    #[arg(long, default_value = "0.5", value_parser = parse_eps)]
    pub headline_l2: f64,
    /// Attack parameters as a JSON file (fields of AttackConfig; the options below override it).
    #[arg(long)]
    pub attack_config: Option<PathBuf>,
    /// PGD and PGD-L2 iterations (default 20).
    #[arg(long)]
    pub pgd_steps: Option<usize>,
    /// PGD, BIM step size as a fraction of eps (default 0.25: 2/255 at 8/255).
    #[arg(long)]
    pub step_size: Option<f32>,
    /// PGD restarts (default 1).
    #[arg(long)]
    pub restarts: Option<usize>,
    /// APGD iterations (default 100).
    #[arg(long)]
    pub apgd_steps: Option<usize>,
    /// Square attack queries per image (default 500).
    #[arg(long)]
    pub square_queries: Option<usize>,
    /// Targeted attacks: random or least-likely target class.
    #[arg(long, value_enum)]
    pub target: Option<TargetArg>,
    /// Keep iterating samples that are already misclassified (slower; same robust accuracy).
    #[arg(long)]
    pub no_early_stop: bool,
    /// Transfer (black-box) attacks crafted on each model and evaluated on the others.
    #[arg(long, value_delimiter = ',', default_value = "fgsm,bim", value_parser = parse_attack)]
    pub transfer_attacks: Vec<AttackKind>,
    /// Skip the transfer attacks.
    #[arg(long)]
    pub no_transfer: bool,
    /// Also train a separate surrogate (a baseline with the run's model options and its own
    /// seed, in <out>/surrogate/) as a source of the transfer attacks only.
    #[arg(long)]
    pub surrogate: bool,
    /// Source models of the transfer attacks: `baseline` (the run's baseline models), `all`, or
    /// model names (e.g. cnn9-tanh-cosine), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "baseline")]
    pub transfer_from: Vec<String>,
    /// Test images the attacks evaluate: a class-balanced subset of the test split (0 = all).
    #[arg(long, default_value_t = 500)]
    pub eval_images: usize,
    /// Per-sample record format.
    #[arg(long, value_enum, default_value_t = RecordFormat::Jsonl)]
    pub records: RecordFormat,
    /// Test images saved as examples per model and attack.
    #[arg(long, default_value_t = 8)]
    pub examples: usize,
}

/// Options of the corruption suite.
#[derive(Debug, Args)]
pub struct CorruptionArgs {
    /// Corruptions, comma-separated CIFAR-10-C names, or `all` (the 19), `main` (the 15 of
    /// mCE), `noise`, `blur`, `weather`, `digital`.
    #[arg(long, value_delimiter = ',', default_value = "all")]
    pub corruptions: Vec<String>,
    /// Severities, comma-separated, each 1 to 5.
    #[arg(long, value_delimiter = ',', default_value = "1,2,3,4,5", value_parser = parse_severity)]
    pub severities: Vec<u8>,
    /// Severity table: cifar10-c (made for 32x32) or imagenet-c (for larger images; far harsher
    /// on small ones).
    #[arg(long, default_value = "cifar10-c")]
    pub table: String,
    /// Evaluate on released CIFAR-10-C files (<corruption>.npy, labels.npy) in this directory
    /// instead of corrupting the test split in process; --data must then be CIFAR-10.
    #[arg(long)]
    pub cifar10c: Option<PathBuf>,
    /// Model whose errors normalise CE (default: the baseline model of the run).
    #[arg(long)]
    pub ce_baseline: Option<String>,
    /// Test images saved as examples per corruption and severity.
    #[arg(long, default_value_t = 2)]
    pub corruption_examples: usize,
}

/// `dcrobust report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Run directories (written by `dcrobust run`); several are combined into one page.
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
    /// Where to write the page (default: report.html in the first directory); the CSV tables go
    /// beside it.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Open the page in the system browser.
    #[arg(long)]
    pub open: bool,
}

/// `dcrobust corrupt`.
#[derive(Debug, Args)]
pub struct CorruptArgs {
    /// Data options (the test split is corrupted).
    #[command(flatten)]
    pub data: DataArgs,
    /// Common options (`--out` is required).
    #[command(flatten)]
    pub common: CommonArgs,
    /// Corruptions, as for `run --suite corruption`.
    #[arg(long, value_delimiter = ',', default_value = "all")]
    pub corruptions: Vec<String>,
    /// Severity table: cifar10-c or imagenet-c.
    #[arg(long, default_value = "cifar10-c")]
    pub table: String,
    /// Hide the progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// Expands corruption names and groups into CIFAR-10-C names.
pub fn expand_corruptions(list: &[String]) -> Result<Vec<String>> {
    use dcrobust_corruptions::Corruption;
    let mut out: Vec<Corruption> = Vec::new();
    for item in list {
        let group: Vec<Corruption> = match item.as_str() {
            "all" => Corruption::ALL.to_vec(),
            "main" => Corruption::MAIN.to_vec(),
            "noise" | "blur" | "weather" | "digital" => Corruption::MAIN
                .iter()
                .copied()
                .filter(|c| c.category().name() == item)
                .collect(),
            name => vec![name
                .parse::<Corruption>()
                .map_err(|e| anyhow::anyhow!("--corruptions: {e}"))?],
        };
        for c in group {
            if !out.contains(&c) {
                out.push(c);
            }
        }
    }
    if out.is_empty() {
        bail!("--corruptions is empty; name at least one corruption");
    }
    out.sort_by_key(|c| c.index());
    Ok(out.iter().map(|c| c.name().to_string()).collect())
}

/// Target choice of targeted attacks.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum TargetArg {
    /// A random wrong class per image.
    Random,
    /// The class the model finds least likely on the clean image.
    LeastLikely,
}

fn parse_attack(s: &str) -> std::result::Result<AttackKind, String> {
    s.parse::<AttackKind>().map_err(|e| e.to_string())
}

/// The suites.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Suite {
    /// Train, then attack (FGSM, PGD, ...) every model.
    Adversarial,
    /// Train, then evaluate every model on CIFAR-10-C style corruptions.
    Corruption,
}

fn parse_arch(s: &str) -> std::result::Result<Arch, String> {
    Arch::from_name(s).ok_or_else(|| {
        let names: Vec<&str> = Arch::ALL.iter().map(|a| a.name()).collect();
        format!(
            "unknown architecture `{s}`; expected one of {}",
            names.join(", ")
        )
    })
}

/// Parses `cpu`, `cuda` or `cuda:N`.
pub fn parse_device(s: &str) -> Result<Device> {
    if s == "cpu" {
        return Ok(Device::Cpu);
    }
    let ordinal = match s.strip_prefix("cuda") {
        Some("") => 0,
        Some(rest) => match rest.strip_prefix(':').and_then(|n| n.parse::<usize>().ok()) {
            Some(n) => n,
            None => bail!("unknown device `{s}`; expected cpu, cuda or cuda:N"),
        },
        None => bail!("unknown device `{s}`; expected cpu, cuda or cuda:N"),
    };
    if !candle_core::utils::cuda_is_available() {
        bail!("device `{s}` needs a dcrobust built with the `cuda` feature (cargo build --release --features cuda)");
    }
    Device::new_cuda(ordinal).with_context(|| {
        format!("opening CUDA device {ordinal} (is an NVIDIA driver loaded and a GPU visible?)")
    })
}

/// Loads the data set the options name, or the embedded one.
pub fn load_data(args: &DataArgs) -> Result<Dataset> {
    let mut ds = match &args.data {
        Some(dir) => {
            let labels = match args.cifar100_labels {
                LabelsArg::Fine => Cifar100Labels::Fine,
                LabelsArg::Coarse => Cifar100Labels::Coarse,
            };
            data::load(dir, args.data_format, labels)?
        }
        None => data::embedded()?,
    };
    ds.truncate(args.train_limit, args.test_limit);
    if ds.train.is_empty() || ds.test.is_empty() {
        bail!(
            "the data set has {} training and {} test images; both splits need at least one",
            ds.train.len(),
            ds.test.len()
        );
    }
    Ok(ds)
}

/// The model configurations the options describe, sized for `data`.
pub fn model_configs(
    args: &ModelArgs,
    data: &Dataset,
    default_ops: &[&str],
) -> Result<Vec<ModelConfig>> {
    let mut cfgs = Vec::new();
    if let Some(path) = &args.model_config {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let cfg: ModelConfig = serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is not a valid model configuration", path.display()))?;
        cfgs.push(cfg);
    } else {
        let mut angular = Angular::from_name(&args.angular).ok_or_else(|| {
            let names: Vec<&str> = Angular::ALL.iter().map(|a| a.name()).collect();
            anyhow::anyhow!(
                "unknown angular activation `{}`; expected one of {}",
                args.angular,
                names.join(", ")
            )
        })?;
        if let Some(k) = args.sigmoid_k {
            angular = match angular {
                Angular::Sigmoid { .. } => Angular::Sigmoid { k },
                Angular::LearnableSigmoid { .. } => Angular::LearnableSigmoid { k_init: k },
                _ => bail!(
                    "--sigmoid-k applies to the sigmoid activations, not `{}`",
                    args.angular
                ),
            };
        }
        let radius = match args.radius.as_str() {
            "learnable" => Radius::default(),
            r => match r.parse::<f64>() {
                Ok(rho) => Radius::Fixed { rho },
                Err(_) => bail!("--radius must be `learnable` or a positive number, got `{r}`"),
            },
        };
        let ops: Vec<String> = match &args.op {
            Some(ops) => ops.clone(),
            None => default_ops.iter().map(|s| s.to_string()).collect(),
        };
        for name in &ops {
            let operator = if name == "baseline" {
                None
            } else {
                let magnitude = Magnitude::from_name(name).ok_or_else(|| {
                    let names: Vec<&str> = Magnitude::ALL.iter().map(|m| m.name()).collect();
                    anyhow::anyhow!(
                        "unknown operator `{name}`; expected baseline or one of {}",
                        names.join(", ")
                    )
                })?;
                Some(OperatorConfig {
                    magnitude,
                    angular,
                    radius,
                })
            };
            let mut cfg = ModelConfig::new(args.arch, operator, args.width);
            cfg.batch_norm = !args.no_bn;
            cfg.relu = !args.no_relu;
            cfgs.push(cfg);
        }
        for cfg in &mut cfgs {
            cfg.in_channels = data.channels;
            cfg.image_size = [data.height, data.width];
            cfg.num_classes = data.classes.len();
        }
    }
    for cfg in &cfgs {
        if cfg.in_channels != data.channels
            || cfg.image_size != [data.height, data.width]
            || cfg.num_classes != data.classes.len()
        {
            bail!(
                "model {} expects {}x{}x{} images and {} classes, the data has {}x{}x{} and {}",
                cfg.name(),
                cfg.in_channels,
                cfg.image_size[0],
                cfg.image_size[1],
                cfg.num_classes,
                data.channels,
                data.height,
                data.width,
                data.classes.len()
            );
        }
        cfg.validate()
            .map_err(|e| anyhow::anyhow!("model {}: {e}", cfg.name()))?;
    }
    let mut names: Vec<String> = cfgs.iter().map(|c| c.name()).collect();
    names.sort();
    if names.windows(2).any(|w| w[0] == w[1]) {
        bail!("--op names the same model twice");
    }
    Ok(cfgs)
}

/// The training recipe the options describe.
pub fn train_config(a: &RecipeArgs, seed: u64, default_epochs: usize) -> Result<TrainConfig> {
    let mut cfg = TrainConfig::new(a.epochs.unwrap_or(default_epochs), seed);
    cfg.batch_size = a.batch_size;
    cfg.optimizer = match a.optimizer {
        OptimizerArg::Adam => OptimizerConfig::ADAM,
        OptimizerArg::Sgd => OptimizerConfig::Sgd {
            momentum: a.momentum,
            nesterov: false,
        },
    };
    cfg.lr = a.lr.unwrap_or(match a.optimizer {
        OptimizerArg::Adam => 1e-3,
        OptimizerArg::Sgd => 0.1,
    });
    if let Some(m) = &a.lr_milestones {
        cfg.lr_milestones = m.clone();
    }
    cfg.lr_gamma = a.lr_gamma;
    cfg.label_smoothing = a.label_smoothing;
    cfg.weight_decay = a.weight_decay;
    cfg.orthogonality = a.orthogonality;
    cfg.projection_every = a.projection_every;
    cfg.augment = !a.no_augment;
    cfg.log_every = a.log_every;
    cfg.adversarial = match a.adv_train {
        AdvTrainArg::None => None,
        kind => Some(AdvTraining {
            attack: if kind == AdvTrainArg::Fgsm {
                AdvTrainAttack::Fgsm
            } else {
                AdvTrainAttack::Pgd
            },
            eps: a.adv_eps,
            steps: a.adv_steps,
            step_size: 0.25,
        }),
    };
    cfg.validate().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(cfg)
}

/// Parses a budget: a number (`0.5`) or a fraction (`8/255`).
pub fn parse_eps(s: &str) -> std::result::Result<f64, String> {
    let v = match s.split_once('/') {
        Some((a, b)) => {
            let a: f64 = a
                .trim()
                .parse()
                .map_err(|_| format!("`{s}` is not a number or a fraction like 8/255"))?;
            let b: f64 = b
                .trim()
                .parse()
                .map_err(|_| format!("`{s}` is not a number or a fraction like 8/255"))?;
            if b == 0.0 {
                return Err(format!("`{s}` divides by zero"));
            }
            a / b
        }
        None => s
            .trim()
            .parse()
            .map_err(|_| format!("`{s}` is not a number or a fraction like 8/255"))?,
    };
    if !v.is_finite() || v < 0.0 {
        return Err(format!("eps `{s}` must be a finite number of 0 or more"));
    }
    Ok(v)
}

/// Applies `--threads` to candle's kernels and the rayon pool.
pub fn apply_threads(threads: Option<usize>) -> Result<()> {
    if let Some(n) = threads {
        if n == 0 {
            bail!("--threads must be at least 1");
        }
        // candle's CPU kernels read RAYON_NUM_THREADS; the global pool serves data loading.
        std::env::set_var("RAYON_NUM_THREADS", n.to_string());
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global();
    }
    Ok(())
}

fn cmd_train(a: &TrainArgs) -> Result<()> {
    apply_threads(a.common.threads)?;
    let device = parse_device(&a.common.device)?;
    let cfg = train_config(&a.recipe, a.common.seed, 5)?;
    let data = load_data(&a.data)?;
    let models = model_configs(&a.model, &data, &["baseline", "tanh"])?;
    let out = a
        .common
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("runs/train"));
    eprintln!(
        "data: {} ({}), {} train / {} test images, {}x{}x{}, {} classes",
        data.name,
        data.source,
        data.train.len(),
        data.test.len(),
        data.channels,
        data.height,
        data.width,
        data.classes.len()
    );
    let opts = TrainOptions {
        resume: a.resume,
        stop_after_epochs: a.stop_after_epochs,
        progress: !a.quiet,
    };
    let mut summary = Vec::new();
    for m in &models {
        let dir = out.join(m.name());
        let net = train::build_network(m, cfg.seed, &device)?;
        eprintln!(
            "training {} ({} parameters) into {}",
            m.name(),
            net.num_parameters(),
            dir.display()
        );
        let h = train::train(&net, m, &data, &cfg, &dir, &opts)?;
        summary.push((m.name(), h));
    }
    println!(
        "{:<28} {:>6} {:>10} {:>10} {:>10}",
        "model", "epochs", "test acc", "test loss", "img/s"
    );
    for (name, h) in &summary {
        if let Some(e) = h.last() {
            let ips = h.epochs.iter().map(|e| e.images_per_s).sum::<f64>() / h.epochs.len() as f64;
            println!(
                "{name:<28} {:>6} {:>9.2}% {:>10.4} {:>10.1}",
                e.epoch,
                100.0 * e.test_accuracy,
                e.test_loss,
                ips
            );
        }
    }
    println!("results in {}", out.display());
    Ok(())
}

fn cmd_attacks() {
    println!("Attacks (--attacks, --transfer-attacks):");
    for k in AttackKind::ALL {
        println!("  {:<10} {:<5} {}", k.name(), k.norm().name(), k.describe());
    }
    let d = AttackConfig::default();
    println!(
        "\nDefaults: PGD {} steps of {} x eps, random start, {} restart(s); BIM {} steps; MI-FGSM {} steps; APGD {} steps; CW-L2 {} x {} steps from c = {}; Square {} queries.",
        d.steps, d.step_size, d.restarts, d.bim_steps, d.mifgsm_steps, d.apgd_steps, d.cw_search_steps, d.cw_steps, d.cw_c, d.square_queries
    );
}

fn attack_config(a: &AdversarialArgs) -> Result<AttackConfig> {
    let mut cfg = match &a.attack_config {
        Some(path) => {
            let bytes =
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            serde_json::from_slice::<AttackConfig>(&bytes).with_context(|| {
                format!("{} is not a valid attack configuration", path.display())
            })?
        }
        None => AttackConfig::default(),
    };
    if let Some(v) = a.pgd_steps {
        cfg.steps = v;
    }
    if let Some(v) = a.step_size {
        cfg.step_size = v;
    }
    if let Some(v) = a.restarts {
        cfg.restarts = v;
    }
    if let Some(v) = a.apgd_steps {
        cfg.apgd_steps = v;
    }
    if let Some(v) = a.square_queries {
        cfg.square_queries = v;
    }
    if let Some(t) = a.target {
        cfg.target = match t {
            TargetArg::Random => Target::Random,
            TargetArg::LeastLikely => Target::LeastLikely,
        };
    }
    if a.no_early_stop {
        cfg.early_stop = false;
    }
    cfg.validate()?;
    Ok(cfg)
}

/// Seed purpose of the surrogate model of transfer attacks.
const SEED_SURROGATE: u64 = 201;

/// Everything a suite run was started with: `suite.json`.
#[derive(Debug, serde::Serialize)]
struct SuiteRecord<'a> {
    version: &'a str,
    suite: &'a str,
    seed: u64,
    data: crate::train::DataInfo,
    models: Vec<ModelConfig>,
    checkpoints: &'a [PathBuf],
    train: Option<&'a TrainConfig>,
    surrogate: bool,
    adversarial: Option<&'a AdversarialConfig>,
    corruption: Option<&'a CorruptionConfig>,
    /// `--shard`, if any (absent otherwise); `dcrobust merge` requires everything else to be
    /// equal.
    #[serde(skip_serializing_if = "Option::is_none")]
    shard: Option<Shard>,
}

/// Renders the report of `dirs` into `out` (default `dirs[0]/report.html`), with its CSV tables
/// beside it; returns the page's path.
pub fn write_report(dirs: &[PathBuf], out: Option<&std::path::Path>) -> Result<PathBuf> {
    let t = std::time::Instant::now();
    let mut runs = Vec::new();
    for d in dirs {
        runs.push(
            dcrobust_reports::load_run(d)
                .with_context(|| format!("loading the results of {}", d.display()))?,
        );
    }
    let page = match out {
        Some(p) => p.to_path_buf(),
        None => dirs[0].join("report.html"),
    };
    let html = dcrobust_reports::render(&runs);
    let dir = page
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(|p| p.to_path_buf())
        .unwrap_or_else(|| PathBuf::from("."));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    for (name, csv) in dcrobust_reports::tables_csv(&runs) {
        let p = dir.join(name);
        crate::util::write_atomic(&p, csv.as_bytes())
            .with_context(|| format!("writing {}", p.display()))?;
    }
    crate::suite::cells::fault_point("report");
    crate::util::write_atomic(&page, html.as_bytes())
        .with_context(|| format!("writing {}", page.display()))?;
    eprintln!(
        "rendered {} in {:.0} ms",
        page.display(),
        t.elapsed().as_secs_f64() * 1e3
    );
    Ok(page)
}

/// Opens `page` with the system's browser; says so and carries on if none can be started.
fn open_in_browser(page: &std::path::Path) {
    let (cmd, args): (&str, Vec<&std::ffi::OsStr>) = if cfg!(target_os = "macos") {
        ("open", vec![page.as_os_str()])
    } else if cfg!(target_os = "windows") {
        (
            "cmd",
            vec![
                "/C".as_ref(),
                "start".as_ref(),
                "".as_ref(),
                page.as_os_str(),
            ],
        )
    } else {
        ("xdg-open", vec![page.as_os_str()])
    };
    if let Err(e) = std::process::Command::new(cmd).args(args).spawn() {
        eprintln!(
            "could not open a browser ({cmd}: {e}); the report is {}",
            page.display()
        );
    }
}

fn cmd_corrupt(a: &CorruptArgs) -> Result<()> {
    apply_threads(a.common.threads)?;
    let Some(out) = &a.common.out else {
        bail!("dcrobust corrupt needs --out DIR for the .npy files");
    };
    let names = expand_corruptions(&a.corruptions)?;
    let cfg = CorruptionConfig {
        corruptions: names,
        severities: vec![1, 2, 3, 4, 5],
        table: a.table.clone(),
        cifar10c: None,
        ce_baseline: None,
        examples: 0,
        eval_batch_size: 1,
    };
    let (corruptions, _, table) = cfg.parsed()?;
    let data = load_data(&a.data)?;
    let t = std::time::Instant::now();
    suite::corruption::write_corrupted_set(
        &data,
        &corruptions,
        table,
        a.common.seed,
        out,
        !a.quiet,
    )?;
    println!(
        "wrote {} corruptions x 5 severities of {} test images ({}x{}x{}) and labels.npy to {} in {:.1} s",
        corruptions.len(),
        data.test.len(),
        data.height,
        data.width,
        data.channels,
        out.display(),
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

fn cmd_run(r: &RunArgs) -> Result<()> {
    apply_threads(r.common.threads)?;
    let device = parse_device(&r.common.device)?;
    let suite = match r.suite {
        Suite::Adversarial => "adversarial",
        Suite::Corruption => "corruption",
    };
    // Every option is checked before any work starts.
    let recipe = train_config(&r.recipe, r.common.seed, 2)?;
    let data = load_data(&r.data)?;
    let (adv, corr) = match r.suite {
        Suite::Adversarial => {
            let adv = AdversarialConfig {
                attacks: r.adversarial.attacks.clone(),
                linf_eps: r.adversarial.linf_eps.clone(),
                l2_eps: r.adversarial.l2_eps.clone(),
                headline_linf: r.adversarial.headline_linf,
                headline_l2: r.adversarial.headline_l2,
                attack: attack_config(&r.adversarial)?,
                transfer_attacks: if r.adversarial.no_transfer {
                    Vec::new()
                } else {
                    r.adversarial.transfer_attacks.clone()
                },
                transfer_from: if r.adversarial.transfer_from.iter().any(|f| f == "all") {
                    None
                } else {
                    Some(r.adversarial.transfer_from.clone())
                },
                eval_images: (r.adversarial.eval_images > 0).then_some(r.adversarial.eval_images),
                eval_batch_size: r.eval_batch_size,
                records: r.adversarial.records,
                examples: r.adversarial.examples,
            };
            adv.validate(&data)?;
            (Some(adv), None)
        }
        Suite::Corruption => {
            let corr = CorruptionConfig {
                corruptions: expand_corruptions(&r.corruption.corruptions)?,
                severities: r.corruption.severities.clone(),
                table: r.corruption.table.clone(),
                cifar10c: r.corruption.cifar10c.clone(),
                ce_baseline: r.corruption.ce_baseline.clone(),
                examples: r.corruption.corruption_examples,
                eval_batch_size: r.eval_batch_size,
            };
            corr.parsed()?;
            if let Some(dir) = &corr.cifar10c {
                suite::corruption::check_released(dir, &corr.corruptions, &data)?;
            }
            (None, Some(corr))
        }
    };
    let default_ops: &[&str] = match r.suite {
        Suite::Adversarial => &["baseline", "sphere", "ball", "tanh"],
        Suite::Corruption => &["baseline", "tanh"],
    };
    let models = if r.checkpoint.is_empty() {
        model_configs(&r.model, &data, default_ops)?
    } else {
        Vec::new()
    };
    let out = r
        .common
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("runs/{suite}")));
    eprintln!(
        "data: {} ({}), {} train / {} test images, {}x{}x{}, {} classes",
        data.name,
        data.source,
        data.train.len(),
        data.test.len(),
        data.channels,
        data.height,
        data.width,
        data.classes.len()
    );
    let threads = r.common.threads.unwrap_or_else(rayon::current_num_threads);
    // Checkpoints are loaded (and checked) before anything is written, so that a refused one
    // leaves no output directory behind.
    let t0 = std::time::Instant::now();
    let loaded = if r.checkpoint.is_empty() {
        None
    } else {
        Some(suite::prepare_models(
            suite::ModelSource::Load(&r.checkpoint),
            &data,
            &out,
            &device,
            !r.quiet,
        )?)
    };
    suite::record_config(
        &out,
        &SuiteRecord {
            version: env!("CARGO_PKG_VERSION"),
            suite,
            seed: r.common.seed,
            data: crate::train::DataInfo::of(&data),
            models: models.clone(),
            checkpoints: &r.checkpoint,
            train: (r.checkpoint.is_empty() || r.adversarial.surrogate).then_some(&recipe),
            surrogate: adv.is_some() && r.adversarial.surrogate,
            adversarial: adv.as_ref(),
            corruption: corr.as_ref(),
            shard: r.shard,
        },
    )?;
    let prepared = match loaded {
        Some(p) => p,
        None => suite::prepare_models(
            suite::ModelSource::Train {
                models: &models,
                recipe: &recipe,
            },
            &data,
            &out,
            &device,
            !r.quiet,
        )?,
    };
    let surrogates = if adv.is_some() && r.adversarial.surrogate {
        let mut cfg = ModelConfig::new(r.model.arch, None, r.model.width);
        cfg.batch_norm = !r.model.no_bn;
        cfg.relu = !r.model.no_relu;
        cfg.in_channels = data.channels;
        cfg.image_size = [data.height, data.width];
        cfg.num_classes = data.classes.len();
        let mut surrogate_recipe = recipe.clone();
        surrogate_recipe.seed = crate::util::derive_seed(r.common.seed, &[SEED_SURROGATE]);
        let mut s = suite::prepare_models(
            suite::ModelSource::Train {
                models: std::slice::from_ref(&cfg),
                recipe: &surrogate_recipe,
            },
            &data,
            &out.join("surrogate"),
            &device,
            !r.quiet,
        )?;
        for m in &mut s {
            m.name = format!("surrogate-{}", m.name);
        }
        s
    } else {
        Vec::new()
    };
    // Training time over every start of the run: the models' histories sum it across resumes.
    let train_seconds = if r.checkpoint.is_empty() {
        prepared
            .iter()
            .chain(&surrogates)
            .filter_map(|m| m.history.as_ref()?.epochs.last().map(|e| e.wall_time_s))
            .sum()
    } else {
        t0.elapsed().as_secs_f64()
    };
    let shard = r.shard;
    if shard.is_some() {
        suite::write_features(&prepared, &data, &out, r.eval_batch_size)?;
    }
    if let Some(adv) = &adv {
        let mut eval_data = data.clone();
        eval_data.truncate(None, adv.eval_images);
        let Some(summary) = suite::adversarial::run(
            &prepared,
            &surrogates,
            &eval_data,
            adv,
            r.common.seed,
            &out,
            &r.common.device,
            threads,
            train_seconds,
            !r.quiet,
            shard,
        )?
        else {
            return shard_done(&out, shard.expect("a shard returns no summary"));
        };
        suite::adversarial::print_table(&summary);
        println!(
            "results in {} (summary.json, records.{}); training {:.0} s, evaluation {:.0} s",
            out.display(),
            match adv.records {
                RecordFormat::Jsonl => "jsonl",
                RecordFormat::Csv => "csv",
            },
            summary.train_seconds,
            summary.eval_seconds
        );
    }
    if let Some(corr) = &corr {
        let Some(summary) = suite::corruption::run(
            &prepared,
            &data,
            corr,
            r.common.seed,
            &out,
            &r.common.device,
            threads,
            train_seconds,
            !r.quiet,
            shard,
        )?
        else {
            return shard_done(&out, shard.expect("a shard returns no summary"));
        };
        suite::corruption::print_table(&summary);
        println!(
            "results in {} (summary.json, cells.csv); training {:.0} s, corrupting {:.0} s, evaluation {:.0} s",
            out.display(),
            summary.train_seconds,
            summary.corrupt_seconds,
            summary.eval_seconds
        );
    }
    suite::write_features(&prepared, &data, &out, r.eval_batch_size)?;
    let page = write_report(std::slice::from_ref(&out), None)?;
    println!("report: {}", page.display());
    if r.open {
        open_in_browser(&page);
    }
    Ok(())
}

/// Says that a shard finished and how to merge.
fn shard_done(out: &std::path::Path, shard: Shard) -> Result<()> {
    println!(
        "shard {shard} finished: its units are in {}; when every shard has finished, combine them with `dcrobust merge --out DIR SHARD_DIRS...`",
        out.join("cells").display()
    );
    Ok(())
}

/// Copies the files under `src` into `dst` (atomically each), creating folders; `None` when `src`
/// does not exist.
fn copy_tree(src: &std::path::Path, dst: &std::path::Path) -> Result<Option<usize>> {
    if !src.is_dir() {
        return Ok(None);
    }
    std::fs::create_dir_all(dst).with_context(|| format!("creating {}", dst.display()))?;
    let mut n = 0;
    for e in std::fs::read_dir(src).with_context(|| format!("reading {}", src.display()))? {
        let e = e.with_context(|| format!("reading {}", src.display()))?;
        let name = e.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let (from, to) = (e.path(), dst.join(&name));
        if from.is_dir() {
            n += copy_tree(&from, &to)?.unwrap_or(0);
        } else {
            let bytes =
                std::fs::read(&from).with_context(|| format!("reading {}", from.display()))?;
            crate::util::write_atomic(&to, &bytes)
                .with_context(|| format!("writing {}", to.display()))?;
            n += 1;
        }
    }
    Ok(Some(n))
}

/// `dcrobust merge`: checks that the shards are the N shards of one configuration, copies their
/// units, models and examples into `--out`, assembles the results and renders the report.
fn cmd_merge(a: &MergeArgs) -> Result<()> {
    let mut configs = Vec::new();
    let mut shards: Vec<(Shard, &PathBuf)> = Vec::new();
    for dir in &a.shards {
        let suite_path = dir.join("suite.json");
        if !suite_path.exists() {
            bail!(
                "{} has no suite.json: not the output directory of `dcrobust run`",
                dir.display()
            );
        }
        let mut cfg: serde_json::Value = crate::util::read_json(&suite_path)?;
        let shard_path = dir.join("shard.json");
        if !shard_path.exists() {
            bail!(
                "{} has no shard.json: it is not a finished shard (rerun its `dcrobust run --shard K/N` command to finish it)",
                dir.display()
            );
        }
        let record: suite::cells::ShardRecord = crate::util::read_json(&shard_path)?;
        let declared = cfg
            .get("shard")
            .and_then(|s| serde_json::from_value::<Shard>(s.clone()).ok());
        if declared != Some(record.shard) {
            bail!(
                "{}: shard.json says shard {} but suite.json says {}",
                dir.display(),
                record.shard,
                declared.map_or("none".to_string(), |s| s.to_string())
            );
        }
        if let Some(o) = cfg.as_object_mut() {
            o.remove("shard");
        }
        configs.push(cfg);
        shards.push((record.shard, dir));
    }
    for (i, cfg) in configs.iter().enumerate().skip(1) {
        if cfg != &configs[0] {
            let diff = crate::train::json_diff("", &configs[0], cfg);
            bail!(
                "{} and {} come from different configurations ({}); only shards of one run can be merged",
                a.shards[0].display(),
                a.shards[i].display(),
                diff.join(", ")
            );
        }
    }
    let count = shards[0].0.count;
    if let Some((s, d)) = shards.iter().find(|(s, _)| s.count != count) {
        bail!(
            "{} is shard {s} but {} is shard {}: the shard counts differ",
            d.display(),
            shards[0].1.display(),
            shards[0].0
        );
    }
    for k in 1..=count {
        let with_k: Vec<&PathBuf> = shards
            .iter()
            .filter(|(s, _)| s.index == k)
            .map(|(_, d)| *d)
            .collect();
        match with_k.len() {
            1 => {}
            0 => bail!(
                "shard {k}/{count} is missing; pass the output directories of all {count} shards"
            ),
            _ => bail!(
                "shard {k}/{count} is given twice ({} and {})",
                with_k[0].display(),
                with_k[1].display()
            ),
        }
    }
    // The merged run's configuration is an unsharded run's: the shards' without `shard`.
    suite::record_config(&a.out, &configs[0])?;
    let store = suite::cells::CellStore::open(&a.out)?;
    let mut units = 0;
    let mut by_index: Vec<&(Shard, &PathBuf)> = shards.iter().collect();
    by_index.sort_by_key(|(s, _)| s.index);
    for (_, dir) in &by_index {
        units += store.copy_from(&suite::cells::CellStore::existing(dir)?)?;
        copy_tree(&dir.join("examples"), &a.out.join("examples"))?;
    }
    let first = by_index[0].1;
    for sub in ["models", "surrogate", "features"] {
        copy_tree(&first.join(sub), &a.out.join(sub))?;
    }
    let suite_name = configs[0]
        .get("suite")
        .and_then(|s| s.as_str())
        .unwrap_or("");
    match suite_name {
        "adversarial" => {
            let cfg: AdversarialConfig = serde_json::from_value(configs[0]["adversarial"].clone())
                .with_context(|| {
                    format!("{}: no adversarial configuration", a.shards[0].display())
                })?;
            let summary = suite::adversarial::finish(&a.out, &cfg)?;
            suite::adversarial::print_table(&summary);
        }
        "corruption" => {
            let summary = suite::corruption::finish(&a.out)?;
            suite::corruption::print_table(&summary);
        }
        other => bail!("{}: unknown suite `{other}`", a.shards[0].display()),
    }
    println!(
        "merged {count} shards ({units} unit files) into {}",
        a.out.display()
    );
    let page = write_report(std::slice::from_ref(&a.out), None)?;
    println!("report: {}", page.display());
    if a.open {
        open_in_browser(&page);
    }
    Ok(())
}

fn cmd_models() {
    println!("Architectures (--arch):");
    for a in Arch::ALL {
        println!("  {:<20} {}", a.name(), a.describe());
    }
    println!("\nOperators (--op): baseline = ordinary convolution, or a magnitude function h:");
    println!(
        "  {:<20} ordinary convolution: <w, x> = |w||x|cos(theta)",
        "baseline"
    );
    for m in Magnitude::ALL {
        println!("  {:<20} {}", m.name(), m.describe());
    }
    println!("\nAngular activations (--angular):");
    for g in Angular::ALL {
        println!("  {:<20} {}", g.name(), g.describe());
    }
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    match &cli.command {
        Command::Train(a) => cmd_train(a),
        Command::Models => {
            cmd_models();
            Ok(())
        }
        Command::Run(r) => cmd_run(r),
        Command::Attacks => {
            cmd_attacks();
            Ok(())
        }
        Command::Corrupt(a) => cmd_corrupt(a),
        Command::Merge(a) => cmd_merge(a),
        Command::Bench(a) => cmd_bench(a),
        Command::Report(a) => {
            let page = write_report(&a.dirs, a.out.as_deref())?;
            println!("report: {}", page.display());
            if a.open {
                open_in_browser(&page);
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// Oracle: clap's own consistency checks of the argument definitions.
    #[test]
    fn verify_cli() {
        Cli::command().debug_assert();
    }

    /// Oracle: the device grammar — cpu accepted, malformed names refused with the expected forms.
    #[test]
    fn device_names() {
        assert!(matches!(parse_device("cpu").unwrap(), Device::Cpu));
        for bad in ["gpu", "cuda:x", "cuda1", ""] {
            let e = parse_device(bad).unwrap_err().to_string();
            assert!(e.contains("expected cpu, cuda or cuda:N"), "{bad}: {e}");
        }
        if !candle_core::utils::cuda_is_available() {
            let e = parse_device("cuda:0").unwrap_err().to_string();
            assert!(e.contains("`cuda` feature"), "{e}");
        }
    }
}
