//! Options shared by the commands that compute, and the value parsers.

use crate::data::{self, Cifar100Labels, DataFormat, Dataset};
use crate::models::{Angular, Arch, Magnitude, ModelConfig, OperatorConfig, Radius};
use anyhow::{bail, Context, Result};
use candle_core::Device;
use clap::{Args, ValueEnum};
use std::path::PathBuf;

/// Options every command that computes shares.
#[derive(Debug, Args)]
#[command(next_help_heading = "Execution and output")]
pub(crate) struct CommonArgs {
    /// Run seed: initialisation, shuffling and augmentation derive from it.
    #[arg(long, default_value_t = 0, value_parser = crate::cli::parse_count::<u64>, allow_negative_numbers = true)]
    pub(crate) seed: u64,
    /// Device: `cpu`, or `cuda:N` (needs a build with the `cuda` feature).
    #[arg(long, default_value = "cpu")]
    pub(crate) device: String,
    /// Worker threads for tensor kernels and data loading (default: all cores).
    #[arg(long, value_parser = crate::cli::parse_count::<usize>, allow_negative_numbers = true)]
    pub(crate) threads: Option<usize>,
    /// Output directory.
    #[arg(long)]
    pub(crate) out: Option<PathBuf>,
    /// cuDNN settings (used with --device cuda:N).
    #[command(flatten)]
    pub(crate) gpu: GpuArgs,
}

impl CommonArgs {
    /// The device `--device` names, with the cuDNN settings applied first.
    pub(crate) fn open_device(&self) -> Result<Device> {
        self.gpu.apply();
        parse_device(&self.device)
    }
}

/// How convolutions run on cuDNN (builds with the `cudnn` feature, `--device cuda:N`); the CPU
/// ignores both.
#[derive(Debug, Args)]
#[command(next_help_heading = "GPU")]
pub(crate) struct GpuArgs {
    /// cuDNN convolution math: fma (FP32 fused multiply-add, the default) or tf32 (Tensor
    /// Cores with 10-bit mantissas, about 1e-3 relative error; PyTorch's default for cuDNN
    /// convolutions). A speed comparison with PyTorch must use the same on both sides.
    #[arg(long, default_value = "fma", value_parser = parse_setting::<crate::kernels::ConvMath>)]
    pub(crate) conv_math: crate::kernels::ConvMath,
    /// cuDNN convolution algorithms: deterministic (the default: cuDNN's heuristic choice when it
    /// is reproducible, else a reproducible one; the same bits on every run), fixed (implicit
    /// precomputed GEMM forward, ALGO_1 for both gradients, no heuristic) or fastest (the
    /// heuristic's choice, atomics included: faster gradients, run-to-run differences in the
    /// last bits).
    #[arg(long, default_value = "deterministic", value_parser = parse_setting::<crate::kernels::ConvAlgos>)]
    pub(crate) conv_algos: crate::kernels::ConvAlgos,
}

impl GpuArgs {
    /// Makes the settings the process's own ([`crate::kernels::set_conv_math`],
    /// [`crate::kernels::set_conv_algos`]).
    pub(crate) fn apply(&self) {
        crate::kernels::set_conv_math(self.conv_math);
        crate::kernels::set_conv_algos(self.conv_algos);
    }
}

/// Parses a setting through its `FromStr`, whose error names the accepted values.
fn parse_setting<T>(s: &str) -> std::result::Result<T, String>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    s.parse::<T>().map_err(|e| e.to_string())
}

/// Where the data comes from.
#[derive(Debug, Args)]
#[command(next_help_heading = "Data")]
pub(crate) struct DataArgs {
    /// Data set directory (CIFAR-10/100 binary, MNIST-style IDX, or ImageFolder with train/ and
    /// test/). Without it the embedded CIFAR-10 subset is used.
    #[arg(long)]
    pub(crate) data: Option<PathBuf>,
    /// Force the format instead of detecting it: cifar10-binary, cifar100-binary, idx, image-folder.
    #[arg(long, requires = "data")]
    data_format: Option<DataFormat>,
    /// CIFAR-100 labels to use.
    #[arg(long, value_enum, default_value_t = LabelsArg::Fine)]
    pub(crate) cifar100_labels: LabelsArg,
    /// Use only the first N training images.
    #[arg(long, value_parser = crate::cli::parse_count::<usize>, allow_negative_numbers = true)]
    pub(crate) train_limit: Option<usize>,
    /// Use only the first N test images.
    #[arg(long, value_parser = crate::cli::parse_count::<usize>, allow_negative_numbers = true)]
    test_limit: Option<usize>,
}

/// CIFAR-100 label granularity.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum LabelsArg {
    /// The 100 fine classes.
    Fine,
    /// The 20 coarse superclasses.
    Coarse,
}

/// Which networks to build.
#[derive(Debug, Args)]
#[command(next_help_heading = "Models")]
pub(crate) struct ModelArgs {
    /// Architecture: cnn9, resnet32 or feat2d.
    #[arg(long, default_value = "cnn9", value_parser = parse_arch)]
    pub(crate) arch: Arch,
    /// Operators to train, comma-separated: baseline (ordinary convolutions), sphere, ball, tanh,
    /// linear, seg, log, mix, weighted-linear, weighted-tanh-eq15, weighted-tanh-eq16
    /// (default: baseline,tanh; the adversarial suite: baseline,sphere,ball,tanh as in Table 7).
    #[arg(long, value_delimiter = ',')]
    pub(crate) op: Option<Vec<String>>,
    /// Angular activation of the decoupled operators: linear, cosine, sigmoid, sqcos,
    /// learnable-sigmoid.
    #[arg(long, default_value = "cosine")]
    pub(crate) angular: String,
    /// k of the sigmoid activation (initial k for learnable-sigmoid).
    #[arg(long, allow_negative_numbers = true)]
    pub(crate) sigmoid_k: Option<f64>,
    /// Operator radius: `learnable` (ρ = (r²+1e-4)·mean patch norm) or a fixed positive number.
    #[arg(long, default_value = "learnable")]
    pub(crate) radius: String,
    /// Channel-width multiplier on the paper's widths (1 = 128/192/256 for CNN-9).
    #[arg(long, default_value_t = 0.125, allow_negative_numbers = true)]
    pub(crate) width: f64,
    /// Remove BatchNorm everywhere (paper Table 2).
    #[arg(long)]
    no_bn: bool,
    /// Remove the ReLU after each conv block (paper Table 3).
    #[arg(long)]
    no_relu: bool,
    /// A ModelConfig JSON file; replaces every model option above (its input size and class
    /// count must match the data).
    #[arg(long, conflicts_with_all = ["op", "angular", "arch", "width", "no_bn", "no_relu"])]
    pub(crate) model_config: Option<PathBuf>,
}

impl ModelArgs {
    /// The one model configuration these options describe with `operator` (`None`: the
    /// baseline), sized for `data`'s images and classes: the one place a [`ModelConfig`] is built
    /// from the command line (the `--op` models and the adversarial suite's surrogate).
    pub(crate) fn config(&self, operator: Option<OperatorConfig>, data: &Dataset) -> ModelConfig {
        let mut cfg = ModelConfig::new(self.arch, operator, self.width);
        cfg.batch_norm = !self.no_bn;
        cfg.relu = !self.no_relu;
        cfg.in_channels = data.channels;
        cfg.image_size = [data.height, data.width];
        cfg.num_classes = data.classes.len();
        cfg
    }
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
pub(crate) fn parse_device(s: &str) -> Result<Device> {
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

/// One line describing a loaded data set: name, source, split sizes, image shape, classes.
pub(crate) fn describe_data(data: &Dataset) -> String {
    format!(
        "data: {} ({}), {} train / {} test images, {}x{}x{}, {} classes",
        data.name,
        data.source,
        data.train.len(),
        data.test.len(),
        data.channels,
        data.height,
        data.width,
        data.classes.len()
    )
}

/// Loads the data set the options name, or the embedded one.
pub(crate) fn load_data(args: &DataArgs) -> Result<Dataset> {
    load_data_splits(args, data::Splits::Both)
}

/// As [`load_data`], reading only `splits` from a data directory (the embedded subset is always
/// whole); with [`data::Splits::TestOnly`] the training split is empty and not required.
pub(crate) fn load_data_splits(args: &DataArgs, splits: data::Splits) -> Result<Dataset> {
    let mut ds = match &args.data {
        Some(dir) => {
            let labels = match args.cifar100_labels {
                LabelsArg::Fine => Cifar100Labels::Fine,
                LabelsArg::Coarse => Cifar100Labels::Coarse,
            };
            data::load_splits(dir, args.data_format, labels, splits)?
        }
        None => data::embedded()?,
    };
    ds.truncate(args.train_limit, args.test_limit);
    if splits == data::Splits::TestOnly {
        if ds.test.is_empty() {
            bail!("the data set has no test images; the test split needs at least one");
        }
    } else if ds.train.is_empty() || ds.test.is_empty() {
        bail!(
            "the data set has {} training and {} test images; both splits need at least one",
            ds.train.len(),
            ds.test.len()
        );
    }
    Ok(ds)
}

/// The model configurations the options describe, sized for `data`.
pub(crate) fn model_configs(
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
            cfgs.push(args.config(operator, data));
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

/// Parses a budget: a number (`0.5`) or a fraction (`8/255`).
pub(crate) fn parse_eps(s: &str) -> std::result::Result<f64, String> {
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

/// Parses a whole number of 0 or more; a negative number or other text is named in the error.
pub(crate) fn parse_count<T: std::str::FromStr>(s: &str) -> std::result::Result<T, String> {
    s.trim().parse::<T>().map_err(|_| {
        if s.trim().starts_with('-') {
            format!("`{s}` is negative; expected a whole number of 0 or more")
        } else {
            format!("`{s}` is not a whole number")
        }
    })
}

/// Most worker threads `--threads` accepts: four per core.
fn max_threads() -> usize {
    4 * std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Applies `--threads` to candle's kernels and the rayon pool.
pub(crate) fn apply_threads(threads: Option<usize>) -> Result<()> {
    if let Some(n) = threads {
        if n == 0 {
            bail!("--threads must be at least 1");
        }
        if n > max_threads() {
            bail!(
                "--threads {n} is more than 4 per core ({} on this machine)",
                max_threads()
            );
        }
        // candle's CPU kernels read RAYON_NUM_THREADS; the global pool serves data loading.
        std::env::set_var("RAYON_NUM_THREADS", n.to_string());
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global();
    }
    Ok(())
}
