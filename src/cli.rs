//! The command line: `dcrobust train`, `dcrobust models`, `dcrobust run --suite ...`.

use crate::data::{self, Cifar100Labels, DataFormat, Dataset};
use crate::models::{Angular, Arch, Magnitude, ModelConfig, OperatorConfig, Radius};
use crate::train::optim::OptimizerConfig;
use crate::train::{self, TrainConfig, TrainOptions};
use anyhow::{bail, Context, Result};
use candle_core::Device;
use clap::{Args, Parser, Subcommand, ValueEnum};
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
    /// linear, seg, log, mix, weighted-linear, weighted-tanh-eq15, weighted-tanh-eq16.
    #[arg(long, value_delimiter = ',', default_value = "baseline,tanh")]
    pub op: Vec<String>,
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
    /// Epochs.
    #[arg(long, default_value_t = 5)]
    pub epochs: usize,
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
    /// Common options.
    #[command(flatten)]
    pub common: CommonArgs,
}

/// The suites.
#[derive(Debug, Clone, Copy, ValueEnum)]
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
    Device::new_cuda(ordinal).with_context(|| format!("opening CUDA device {ordinal}"))
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
pub fn model_configs(args: &ModelArgs, data: &Dataset) -> Result<Vec<ModelConfig>> {
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
        for name in &args.op {
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

fn train_config(a: &TrainArgs) -> Result<TrainConfig> {
    let mut cfg = TrainConfig::new(a.epochs, a.common.seed);
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
    cfg.validate().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(cfg)
}

fn apply_threads(threads: Option<usize>) -> Result<()> {
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
    let cfg = train_config(a)?;
    let data = load_data(&a.data)?;
    let models = model_configs(&a.model, &data)?;
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
        Command::Run(r) => {
            let name = match r.suite {
                Suite::Adversarial => "adversarial",
                Suite::Corruption => "corruption",
            };
            bail!("the {name} suite is not available in this version yet; `dcrobust train` trains the models it will evaluate")
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
