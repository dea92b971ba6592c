//! `dcrobust run --suite adversarial|corruption`.

use super::*;
use crate::data::cifar10c;
use crate::suite::cells::Shard;
use crate::suite::corruption::CorruptionConfig;
use crate::suite::run::{Finished, RunPlan};
use crate::suite::{
    self, adversarial::AdversarialConfig, adversarial::RecordFormat, adversarial::TransferSource,
    SuiteConfig,
};
use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use dcrobust_attacks::{AttackConfig, AttackKind, Target};
use dcrobust_corruptions::{Corruption, Severity, Table};
use std::path::PathBuf;

/// `dcrobust run`.
#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// Which suite.
    #[arg(long, value_enum)]
    pub(crate) suite: Suite,
    /// Model options.
    #[command(flatten)]
    pub(crate) model: ModelArgs,
    /// Data options.
    #[command(flatten)]
    pub(crate) data: DataArgs,
    /// Common options.
    #[command(flatten)]
    pub(crate) common: CommonArgs,
    /// Training recipe.
    #[command(flatten)]
    pub(crate) recipe: RecipeArgs,
    /// Adversarial-suite options.
    #[command(flatten)]
    pub(crate) adversarial: AdversarialArgs,
    /// Corruption-suite options.
    #[command(flatten)]
    pub(crate) corruption: CorruptionArgs,
    /// Evaluate these models instead of training, comma-separated: training run directories
    /// (from `dcrobust train` or an earlier run's models/), zoo models (zoo:NAME, zoo:all,
    /// zoo:standard, zoo:adversarial for the FGSM-trained ones, zoo:controls for those trained
    /// with FGSM-RS or PGD; `dcrobust zoo` lists them), ONNX graphs (onnx:PATH) or
    /// PyTorch state dicts of RobustBench's architectures (pt:ARCH:PATH, ARCH one of
    /// preact-resnet18, resnet18, wrn-28-10, wrn-34-10; docs/external-models.md). Without it, and without
    /// --train or any model or recipe option, the run evaluates the zoo on CIFAR-10 data (all of
    /// it for the adversarial suite, the standard models for the corruption suite).
    #[arg(long, value_delimiter = ',', help_heading = "Models")]
    pub(crate) checkpoint: Vec<String>,
    /// Per-channel mean subtracted from the images (in [0, 1]) before every external model
    /// (onnx:, pt:), comma-separated, e.g. 0.4914,0.4822,0.4465; needs --input-std. Without
    /// them external models get the images unnormalised, as RobustBench's models expect.
    #[arg(
        long,
        value_delimiter = ',',
        requires = "input_std",
        allow_negative_numbers = true,
        help_heading = "Models"
    )]
    input_mean: Vec<f32>,
    /// Per-channel standard deviation the images are divided by after --input-mean.
    #[arg(
        long,
        value_delimiter = ',',
        requires = "input_mean",
        help_heading = "Models"
    )]
    input_std: Vec<f32>,
    /// Train the models from scratch (on the CPU, or on a GPU with --device cuda:N) instead of
    /// evaluating the model zoo. Any model option (--op, --width, ...), recipe option
    /// (--recipe, --epochs, --lr, ...) or --train-limit implies it.
    #[arg(long, conflicts_with = "checkpoint", help_heading = "Models")]
    pub(crate) train: bool,
    /// The training options given on the command line (filled by [`crate::cli::parse`]).
    #[arg(skip)]
    pub(crate) training_options: Vec<String>,
    /// Images per evaluation batch (changes speed and memory, never the numbers).
    #[arg(long, default_value_t = 128, value_parser = crate::cli::parse_count::<usize>, allow_negative_numbers = true, help_heading = "Execution and output")]
    pub(crate) eval_batch_size: usize,
    /// Hide progress bars.
    #[arg(long, help_heading = "Execution and output")]
    pub(crate) quiet: bool,
    /// Open the report in the system browser when the run ends.
    #[arg(long, help_heading = "Execution and output")]
    pub(crate) open: bool,
    /// Evaluate only shard K of N (e.g. 2/8: every 8th evaluation unit from the 2nd), as one
    /// task of a job array; each shard needs its own --out, and `dcrobust merge` combines them.
    #[arg(long, value_parser = parse_shard, help_heading = "Execution and output")]
    pub(crate) shard: Option<Shard>,
}

/// The suites (`--suite`).
pub(crate) use crate::suite::SuiteKind as Suite;

/// Options of the adversarial suite.
#[derive(Debug, Args)]
#[command(next_help_heading = "Attacks")]
pub(crate) struct AdversarialArgs {
    /// Attacks, comma-separated: fgsm, bim, pgd, pgd-l2, mifgsm, apgd-ce, apgd-dlr, cw-l2, and
    /// the black-box square (`dcrobust attacks` lists them; docs/reproduction.md, "Full evaluation",
    /// runs them all). Square runs at --headline-linf only. The default keeps the default run of the
    /// eight zoo models under 5 minutes on 2 cores.
    #[arg(long, value_delimiter = ',', default_value = "fgsm,pgd", value_parser = parse_attack)]
    pub(crate) attacks: Vec<AttackKind>,
    /// L-inf budgets of the sweep (numbers or fractions such as 8/255).
    #[arg(long, value_delimiter = ',', default_value = "0,2/255,4/255,8/255", value_parser = parse_eps, allow_negative_numbers = true)]
    pub(crate) linf_eps: Vec<f64>,
    /// L2 budgets of the sweep.
    #[arg(long, value_delimiter = ',', default_value = "0,0.25,0.5,1", value_parser = parse_eps, allow_negative_numbers = true)]
    pub(crate) l2_eps: Vec<f64>,
    /// L-inf budget of the headline table, transfer attacks and checks.
    #[arg(long, default_value = "8/255", value_parser = parse_eps, allow_negative_numbers = true)]
    pub(crate) headline_linf: f64,
    /// L2 budget of the headline table.
    #[arg(long, default_value = "0.5", value_parser = parse_eps, allow_negative_numbers = true)]
    pub(crate) headline_l2: f64,
    /// Attack parameters as a JSON file (fields of AttackConfig; the options below override it).
    #[arg(long)]
    attack_config: Option<PathBuf>,
    /// PGD and PGD-L2 iterations (default 20).
    #[arg(long, value_parser = crate::cli::parse_count::<usize>, allow_negative_numbers = true)]
    pgd_steps: Option<usize>,
    /// PGD, BIM step size as a fraction of eps (default 0.25: 2/255 at 8/255).
    #[arg(long, allow_negative_numbers = true)]
    pub(crate) step_size: Option<f32>,
    /// PGD restarts (default 1).
    #[arg(long, value_parser = crate::cli::parse_count::<usize>, allow_negative_numbers = true)]
    pub(crate) restarts: Option<usize>,
    /// APGD iterations (default 100).
    #[arg(long, value_parser = crate::cli::parse_count::<usize>, allow_negative_numbers = true)]
    pub(crate) apgd_steps: Option<usize>,
    /// Square attack queries per image (default 500).
    #[arg(long, value_parser = crate::cli::parse_count::<usize>, allow_negative_numbers = true)]
    pub(crate) square_queries: Option<usize>,
    /// Targeted attacks: random or least-likely target class.
    #[arg(long, value_enum)]
    pub(crate) target: Option<TargetArg>,
    /// Keep iterating samples that are already misclassified, run every PGD restart on every
    /// sample and let CW-L2 search for the smallest perturbation (slower; same robust accuracy).
    #[arg(long)]
    no_early_stop: bool,
    /// Start PGD and PGD-L2 at the clean image instead of a random point of the eps-ball
    /// (AttackConfig field `random_start`).
    #[arg(long)]
    no_random_start: bool,
    /// Skip the gradient-masking checks' own attacks (PGD with a quarter of the steps and
    /// unbounded PGD), and so the checks monotone-in-steps and unbounded-pgd-reaches-chance;
    /// the checks read off the attack results still run, at no cost.
    #[arg(long)]
    no_checks: bool,
    /// Transfer (black-box) attacks crafted on each model and evaluated on the others.
    #[arg(long, value_delimiter = ',', default_value = "fgsm,bim", value_parser = parse_attack)]
    pub(crate) transfer_attacks: Vec<AttackKind>,
    /// Skip the transfer attacks.
    #[arg(long)]
    no_transfer: bool,
    /// Also train a separate surrogate (a baseline with the run's model options and its own
    /// seed, in <out>/surrogate/) as a source of the transfer attacks only.
    #[arg(long)]
    pub(crate) surrogate: bool,
    /// Source models of the transfer attacks: `baseline` (the run's baseline models: dcrobust's
    /// networks with ordinary convolutions, however trained), `all`, or model names (e.g.
    /// cnn9-tanh-cosine), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "baseline")]
    pub(crate) transfer_from: Vec<String>,
    /// Test images evaluated, by either suite: a class-balanced subset of the test split
    /// (0 = all) [default: 300; all with --cifar10c].
    #[arg(long, value_parser = crate::cli::parse_count::<usize>, allow_negative_numbers = true)]
    pub(crate) eval_images: Option<usize>,
    /// Per-sample record format.
    #[arg(long, value_enum, default_value_t = RecordFormat::Jsonl)]
    pub(crate) records: RecordFormat,
    /// Test images saved as examples per model and attack.
    #[arg(long, default_value_t = 8, value_parser = crate::cli::parse_count::<usize>, allow_negative_numbers = true)]
    pub(crate) examples: usize,
}

/// Options of the corruption suite.
#[derive(Debug, Args)]
#[command(next_help_heading = "Corruptions")]
pub(crate) struct CorruptionArgs {
    /// Corruptions, comma-separated CIFAR-10-C names, or `all` (the 19), `main` (the 15 of
    /// mCE), `noise`, `blur`, `weather`, `digital`.
    #[arg(long, value_delimiter = ',', default_value = "all")]
    pub(crate) corruptions: Vec<String>,
    /// Severities, comma-separated, each 1 to 5.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "1,2,3,4,5",
        allow_negative_numbers = true
    )]
    pub(crate) severities: Vec<Severity>,
    /// Severity table: cifar10-c (made for 32x32) or imagenet-c (for larger images; far harsher
    /// on small ones).
    #[arg(long, default_value = "cifar10-c", value_parser = parse_table)]
    pub(crate) table: Table,
    /// Evaluate on released CIFAR-10-C files (<corruption>.npy, labels.npy) in this directory
    /// instead of corrupting the test split in process; --data must then be CIFAR-10.
    #[arg(long)]
    pub(crate) cifar10c: Option<PathBuf>,
    /// Model whose errors normalise CE (default: the run's first baseline model without
    /// adversarial training).
    #[arg(long)]
    pub(crate) ce_baseline: Option<String>,
    /// Test images saved as examples per corruption and severity.
    #[arg(long, default_value_t = 2, value_parser = crate::cli::parse_count::<usize>, allow_negative_numbers = true)]
    corruption_examples: usize,
}

/// Target choice of targeted attacks.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum TargetArg {
    /// A random wrong class per image.
    Random,
    /// The class the model finds least likely on the clean image.
    LeastLikely,
}

fn parse_attack(s: &str) -> std::result::Result<AttackKind, String> {
    s.parse::<AttackKind>().map_err(|e| e.to_string())
}

/// Parses `--table`, naming the option in the error.
pub(crate) fn parse_table(s: &str) -> std::result::Result<Table, String> {
    s.parse::<Table>()
        .map_err(|_| format!("--table `{s}` is unknown; expected cifar10-c or imagenet-c"))
}

/// Parses `--shard K/N`.
fn parse_shard(s: &str) -> std::result::Result<Shard, String> {
    Shard::parse(s)
}

/// Expands corruption names and groups (`all`, `main`, `noise`, `blur`, `weather`, `digital`)
/// into corruptions, in CIFAR-10-C order, each once.
pub(crate) fn expand_corruptions(list: &[String]) -> Result<Vec<Corruption>> {
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
        out.extend(group);
    }
    if out.is_empty() {
        bail!("--corruptions is empty; name at least one corruption");
    }
    out.sort_by_key(|c| c.index());
    out.dedup();
    Ok(out)
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
        cfg.pgd.steps = v;
    }
    if let Some(v) = a.step_size {
        cfg.pgd.step_size = v;
    }
    if let Some(v) = a.restarts {
        cfg.pgd.restarts = v;
    }
    if let Some(v) = a.apgd_steps {
        cfg.apgd.steps = v;
    }
    if let Some(v) = a.square_queries {
        cfg.square.queries = v;
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
    if a.no_random_start {
        cfg.pgd.random_start = false;
    }
    cfg.validate()?;
    Ok(cfg)
}

impl AdversarialArgs {
    /// The adversarial suite's configuration; `eval_batch_size` changes no number.
    fn to_config(&self, eval_batch_size: usize) -> Result<AdversarialConfig> {
        Ok(AdversarialConfig {
            attacks: self.attacks.clone(),
            linf_eps: self.linf_eps.clone(),
            l2_eps: self.l2_eps.clone(),
            headline_linf: self.headline_linf,
            headline_l2: self.headline_l2,
            attack: attack_config(self)?,
            transfer_attacks: if self.no_transfer {
                Vec::new()
            } else {
                self.transfer_attacks.clone()
            },
            transfer_from: if self.transfer_from.iter().any(|f| f == "all") {
                None
            } else {
                Some(
                    self.transfer_from
                        .iter()
                        .map(|f| TransferSource::from(f.clone()))
                        .collect(),
                )
            },
            eval_images: eval_images(self.eval_images),
            eval_batch_size,
            records: self.records,
            examples: self.examples,
            checks: !self.no_checks,
        })
    }
}

/// Test images a suite evaluates when `--eval-images` is not given.
const DEFAULT_EVAL_IMAGES: usize = 300;

/// `--eval-images` as a subset size: the default when absent, `None` (all) for 0.
fn eval_images(given: Option<usize>) -> Option<usize> {
    match given.unwrap_or(DEFAULT_EVAL_IMAGES) {
        0 => None,
        n => Some(n),
    }
}

impl CorruptionArgs {
    /// The corruption suite's configuration; `eval_images` is `--eval-images` (released
    /// CIFAR-10-C files are evaluated whole), `eval_batch_size` changes no number.
    fn to_config(
        &self,
        eval_images: Option<usize>,
        eval_batch_size: usize,
    ) -> Result<CorruptionConfig> {
        let eval_images = match (&self.cifar10c, eval_images) {
            (None, given) => self::eval_images(given),
            (Some(_), None | Some(0)) => None,
            (Some(_), Some(n)) => bail!(
                "--eval-images {n}: released CIFAR-10-C files (--cifar10c) are evaluated whole; leave the option out"
            ),
        };
        CorruptionConfig {
            eval_images,
            corruptions: expand_corruptions(&self.corruptions)?,
            severities: self.severities.clone(),
            table: self.table,
            cifar10c: self.cifar10c.clone(),
            ce_baseline: self.ce_baseline.clone(),
            examples: self.corruption_examples,
            eval_batch_size,
        }
        .normalized()
    }
}

pub(crate) fn cmd_run(r: &RunArgs) -> Result<()> {
    apply_threads(r.common.threads)?;
    let device = r.common.open_device()?;
    let plan = run_plan(r)?;
    let out = plan.ctx.out.clone();
    let line = match suite::run::execute(&plan, &device)? {
        Finished::Adversarial(s) => {
            suite::adversarial::print_table(&s);
            format!(
                "results in {} (summary.json, records.{}); training {:.0} s, evaluation {:.0} s",
                out.display(),
                match &plan.config {
                    SuiteConfig::Adversarial(a) if matches!(a.records, RecordFormat::Csv) => "csv",
                    _ => "jsonl",
                },
                s.run.train_seconds,
                s.eval_seconds
            )
        }
        Finished::Corruption(s) => {
            suite::corruption::print_table(&s);
            format!(
                "results in {} (summary.json, cells.csv); training {:.0} s, corrupting {:.0} s, evaluation {:.0} s",
                out.display(),
                s.run.train_seconds,
                s.corrupt_seconds,
                s.eval_seconds
            )
        }
        Finished::Shard => {
            let shard = plan.ctx.shard.context("a shard finished without --shard")?;
            return shard_done(&out, shard);
        }
    };
    println!("{line}");
    let page = write_report(std::slice::from_ref(&out), None)?;
    println!("report: {}", page.display());
    if r.open {
        open_in_browser(&page);
    }
    Ok(())
}

/// The run the options describe, every option checked and the data loaded, before any model is
/// trained or loaded.
fn run_plan(r: &RunArgs) -> Result<RunPlan> {
    let recipe = train_config(&r.recipe, r.common.seed, 2)?;
    if r.eval_batch_size == 0 {
        bail!("--eval-batch-size must be at least 1");
    }
    // Evaluating given checkpoints needs no training images (a surrogate is trained on them), so
    // only the test split is read: faster, and a folder holding only `test/` works.
    let trains_surrogate = matches!(r.suite, Suite::Adversarial) && r.adversarial.surrogate;
    let splits = if r.checkpoint.is_empty() || trains_surrogate {
        crate::data::Splits::Both
    } else {
        crate::data::Splits::TestOnly
    };
    let data = load_data_splits(&r.data, splits)?;
    let config = match r.suite {
        Suite::Adversarial => {
            let adv = r.adversarial.to_config(r.eval_batch_size)?;
            adv.validate(&data)?;
            SuiteConfig::Adversarial(Box::new(adv))
        }
        Suite::Corruption => {
            let corr = r
                .corruption
                .to_config(r.adversarial.eval_images, r.eval_batch_size)?;
            if let Some(dir) = &corr.cifar10c {
                cifar10c::check_released(dir, &corr.corruptions, &corr.severities, &data)?;
            }
            SuiteConfig::Corruption(corr)
        }
    };
    let default_ops: &[&str] = match r.suite {
        Suite::Adversarial => &["baseline", "sphere", "ball", "tanh"],
        Suite::Corruption => &["baseline", "tanh"],
    };
    let mut checkpoints = crate::zoo::resolve(&checkpoint_items(r, &data)?)?;
    let normalization = if r.input_mean.is_empty() {
        None
    } else {
        let n = crate::external::Normalization::new(r.input_mean.clone(), r.input_std.clone())?;
        let mut external = 0;
        for c in &mut checkpoints {
            if let crate::zoo::Checkpoint::External(spec) = c {
                spec.normalization = Some(n.clone());
                external += 1;
            }
        }
        if external == 0 {
            bail!("--input-mean and --input-std apply to external models (--checkpoint onnx:PATH or pt:ARCH:PATH); none is given");
        }
        Some(n)
    };
    let models = if checkpoints.is_empty() {
        model_configs(&r.model, &data, default_ops)?
    } else {
        Vec::new()
    };
    let names = if checkpoints.is_empty() {
        models.iter().map(|m| m.name()).collect()
    } else {
        suite::checkpoint_model_names(&checkpoints)?
    };
    match &config {
        SuiteConfig::Adversarial(adv) => adv.check_models(&names)?,
        SuiteConfig::Corruption(corr) => corr.check_models(&names)?,
    }
    let out = r
        .common
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("runs/{}", r.suite.name())));
    eprintln!("{}", describe_data(&data));
    let surrogate = trains_surrogate.then(|| r.model.config(None, &data));
    Ok(RunPlan {
        config,
        data,
        models,
        checkpoints,
        normalization,
        recipe,
        surrogate,
        eval_batch_size: r.eval_batch_size,
        ctx: suite::RunContext {
            seed: r.common.seed,
            out,
            device: r.common.device.clone(),
            threads: r.common.threads.unwrap_or_else(rayon::current_num_threads),
            progress: !r.quiet,
            shard: r.shard,
        },
    })
}

/// The `--checkpoint` items of the run: the ones given, or the zoo's models when the run names
/// no model, recipe or training option and the data is CIFAR-10; none (train) otherwise.
fn checkpoint_items(r: &RunArgs, data: &crate::data::Dataset) -> Result<Vec<String>> {
    if !r.checkpoint.is_empty() {
        return Ok(r.checkpoint.clone());
    }
    if r.train || !r.training_options.is_empty() {
        return Ok(Vec::new());
    }
    if crate::zoo::EMBEDDED.is_empty() {
        eprintln!("this dcrobust was built without zoo models: training the models instead");
        return Ok(Vec::new());
    }
    if !crate::zoo::fits(data) {
        eprintln!(
            "the model zoo holds CIFAR-10 models and {} is not CIFAR-10: training the models instead",
            data.source
        );
        return Ok(Vec::new());
    }
    let spec = match r.suite {
        Suite::Adversarial => "zoo:all",
        Suite::Corruption => "zoo:standard",
    };
    let chosen = crate::zoo::resolve(&[spec.to_string()])?;
    let names: Vec<String> = chosen
        .iter()
        .map(|c| c.label().display().to_string())
        .collect();
    eprintln!(
        "evaluating the model zoo ({}; --train trains from scratch instead)",
        names.join(", ").replace("zoo:", "")
    );
    Ok(vec![spec.to_string()])
}

/// Says that a shard finished and how to merge.
fn shard_done(out: &std::path::Path, shard: Shard) -> Result<()> {
    println!(
        "shard {shard} finished: its units are in {}; when every shard has finished, combine them with `dcrobust merge --out DIR SHARD_DIRS...`",
        out.join("cells").display()
    );
    Ok(())
}
