//! The suites behind `dcrobust run`: prepare (train, resume or load) the models, then evaluate
//! them. A suite's output directory holds:
//! - `suite.json`: the whole configuration, seed included; a rerun with another configuration in
//!   the same directory is refused;
//! - `models/<name>/`: one training run per model (see [`crate::train`]); a rerun resumes or
//!   reuses them;
//! - `cells/`: one file per finished unit of evaluation work, which a rerun reuses (see
//!   [`cells`]); `shard.json` in a run started with `--shard K/N`;
//! - the suite's results (see [`adversarial`] and [`corruption`]).

pub(crate) mod adversarial;
pub(crate) mod cells;
pub(crate) mod corruption;
pub(crate) mod run;

use crate::data::{Dataset, Split};
use crate::external::ExternalModel;
use crate::models::{ModelConfig, Network};
use crate::train::{self, TrainConfig, TrainOptions};
use crate::util::write_json_atomic;
use crate::zoo::Checkpoint;
use anyhow::{bail, Context, Result};
use candle_core::Device;
use dcrobust_reports::TrainingHistory;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The suites.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub(crate) enum SuiteKind {
    /// Train, then attack (FGSM, PGD, ...) every model.
    Adversarial,
    /// Train, then evaluate every model on CIFAR-10-C style corruptions.
    Corruption,
}

impl SuiteKind {
    /// The name in `suite.json` and in default output paths.
    pub(crate) fn name(self) -> &'static str {
        match self {
            SuiteKind::Adversarial => "adversarial",
            SuiteKind::Corruption => "corruption",
        }
    }
}

/// The suite a run evaluates, with its options: one value, so that no code path holds both or
/// neither.
#[derive(Clone, Debug)]
pub(crate) enum SuiteConfig {
    /// `--suite adversarial` (boxed: its attack parameters make it the larger by far).
    Adversarial(Box<adversarial::AdversarialConfig>),
    /// `--suite corruption`.
    Corruption(corruption::CorruptionConfig),
}

/// Everything a suite run was started with: `suite.json`, written and read back as this type.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct SuiteRecord {
    /// dcrobust version that started the run.
    pub(crate) version: String,
    /// Which suite.
    pub(crate) suite: SuiteKind,
    /// Run seed.
    pub(crate) seed: u64,
    /// The data.
    pub(crate) data: train::DataInfo,
    /// Models trained by the run (empty when they come from `checkpoints`).
    pub(crate) models: Vec<ModelConfig>,
    /// Models evaluated instead of training: training run directories, `zoo:NAME`, `onnx:PATH`,
    /// `pt:ARCH:PATH`.
    pub(crate) checkpoints: Vec<PathBuf>,
    /// The training recipe, when the run trains.
    pub(crate) train: Option<TrainConfig>,
    /// Whether a surrogate baseline is trained as a transfer source.
    pub(crate) surrogate: bool,
    /// The adversarial suite's options.
    pub(crate) adversarial: Option<adversarial::AdversarialConfig>,
    /// The corruption suite's options.
    pub(crate) corruption: Option<corruption::CorruptionConfig>,
    /// `--shard`, if any (absent otherwise); `dcrobust merge` requires everything else to be
    /// equal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) shard: Option<cells::Shard>,
    /// `--input-mean` and `--input-std`, applied to the external models (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    input_normalization: Option<crate::external::Normalization>,
}

/// What every suite run shares beyond its own configuration, passed as one value.
#[derive(Clone, Debug)]
pub(crate) struct RunContext {
    /// Run seed: every random draw derives from it.
    pub(crate) seed: u64,
    /// Output directory.
    pub(crate) out: PathBuf,
    /// Device name as given (`cpu`, `cuda:0`), recorded in the results.
    pub(crate) device: String,
    /// Worker threads (recorded; results do not depend on it).
    pub(crate) threads: usize,
    /// Show progress bars on standard error.
    pub(crate) progress: bool,
    /// Evaluate only this shard of the units.
    pub(crate) shard: Option<cells::Shard>,
}

/// One unit of evaluation work.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Unit {
    /// Its id: the name of its file in `cells/`.
    pub(crate) id: String,
    /// Computed by every shard (cheap, and every shard's results need it) rather than by its
    /// owner alone; such units do not count in the shards' round-robin order.
    every_shard: bool,
}

/// An evaluation suite: a fixed plan of units, each computed once and recorded in `cells/`, and
/// the results assembled from the unit files. [`run_suite`] drives one: it skips the units
/// already recorded (a resume) and those of other shards.
pub(crate) trait Suite {
    /// The results [`Suite::assemble`] returns (and writes as `summary.json`).
    type Summary;
    /// Every unit of the run, in the suite's fixed order; also writes the run description
    /// (`cells/meta.json`) and anything the units share.
    fn plan(&mut self, store: &cells::CellStore) -> Result<Vec<Unit>>;
    /// The amount of work of `unit` in the progress bar's steps (images, cells).
    fn work(&self, unit: &Unit) -> u64;
    /// Computes `unit` and records it in `store`, advancing `bar` by its work.
    fn run_unit(
        &mut self,
        store: &cells::CellStore,
        unit: &Unit,
        bar: &indicatif::ProgressBar,
    ) -> Result<()>;
    /// Assembles the results of the finished run in `out` from its unit files.
    fn assemble(&self, out: &Path) -> Result<Self::Summary>;
}

/// Runs `suite` in `ctx`: computes every unit of the plan that this process owns and that has no
/// readable file yet, then assembles the results, or, in a shard, writes `shard.json` and returns
/// `None` (`dcrobust merge` assembles the shards).
fn run_suite<S: Suite>(
    suite: &mut S,
    ctx: &RunContext,
    name: &str,
    unit_name: &str,
) -> Result<Option<S::Summary>> {
    let store = cells::CellStore::open(&ctx.out)?;
    let units = suite.plan(&store)?;
    let mut sharded = 0;
    let mut todo = Vec::new();
    for u in &units {
        let mine = u.every_shard || {
            sharded += 1;
            cells::owned(ctx.shard, sharded - 1)
        };
        if mine && store.load::<serde_json::Value>(&u.id).is_none() {
            todo.push(u);
        }
    }
    let total = todo.iter().map(|u| suite.work(u)).sum::<u64>();
    let bar = crate::util::progress_bar(ctx.progress && !todo.is_empty(), total, name, unit_name);
    for u in todo {
        suite.run_unit(&store, u, &bar)?;
    }
    bar.finish_and_clear();
    if let Some(shard) = ctx.shard {
        cells::write_shard_record(&ctx.out, shard, sharded)?;
        return Ok(None);
    }
    suite.assemble(&ctx.out).map(Some)
}

/// The names results will be keyed by for these checkpoints (a directory's from its
/// `config.json`, read without the weights), so that options naming models can be checked first.
pub(crate) fn checkpoint_model_names(checkpoints: &[Checkpoint]) -> Result<Vec<String>> {
    checkpoints.iter().map(Checkpoint::model_name).collect()
}

/// A classifier the suites evaluate: one of dcrobust's networks, or an external model.
pub(crate) enum Classifier {
    /// A network dcrobust trained (or the zoo ships).
    Native(Box<Network>),
    /// An ONNX graph or a PyTorch state dict ([`crate::external`]).
    External(Box<ExternalModel>),
}

impl Classifier {
    /// Parameters of the model.
    pub(crate) fn num_parameters(&self) -> usize {
        match self {
            Classifier::Native(n) => n.num_parameters(),
            Classifier::External(e) => e.num_parameters(),
        }
    }

    /// dcrobust's network, if it is one.
    fn native(&self) -> Option<&Network> {
        match self {
            Classifier::Native(n) => Some(n.as_ref()),
            Classifier::External(_) => None,
        }
    }

    /// Predicted classes of the images of `split`, in batches of `batch_size`.
    pub(crate) fn predict(
        &self,
        data: &Dataset,
        split: &Split,
        batch_size: usize,
    ) -> Result<Vec<u32>> {
        match self {
            Classifier::Native(n) => train::predict(n, data, split, batch_size),
            Classifier::External(e) => {
                use dcrobust_attacks::Model as _;
                let mut out = Vec::with_capacity(split.len());
                let mut first = 0;
                while first < split.len() {
                    let end = (first + batch_size.max(1)).min(split.len());
                    let x = candle_core::Tensor::from_vec(
                        images_f32(data, split, first..end),
                        (end - first, data.channels, data.height, data.width),
                        &e.device(),
                    )?;
                    out.extend(e.logits(&x)?.argmax(1)?.to_vec1::<u32>()?);
                    first = end;
                }
                Ok(out)
            }
        }
    }
}

impl dcrobust_attacks::Model for Classifier {
    fn logits(&self, x: &candle_core::Tensor) -> candle_core::Result<candle_core::Tensor> {
        match self {
            Classifier::Native(n) => n.logits(x),
            Classifier::External(e) => e.logits(x),
        }
    }

    fn device(&self) -> Device {
        match self {
            Classifier::Native(n) => dcrobust_attacks::Model::device(n.as_ref()),
            Classifier::External(e) => e.device(),
        }
    }
}

/// A model ready for evaluation.
pub(crate) struct PreparedModel {
    /// Its name (`cnn9-tanh-cosine`, ...).
    pub(crate) name: String,
    /// The classifier, trained.
    pub(crate) net: Classifier,
    /// Its convergence curves, when the run directory has them.
    pub(crate) history: Option<TrainingHistory>,
    /// The training run directory, or `zoo:NAME` for a zoo model.
    pub(crate) dir: PathBuf,
    /// Adversarial training recipe, described, if any.
    pub(crate) adversarial_training: Option<String>,
    /// Where it came from, as the report lists it.
    origin: dcrobust_reports::ModelOrigin,
}

impl PreparedModel {
    /// Whether it is a baseline: one of dcrobust's networks with ordinary convolutions (no
    /// decoupled operator), whatever its training and name. External models are not.
    fn is_baseline(&self) -> bool {
        self.net
            .native()
            .is_some_and(|n| n.config().operator.is_none())
    }
}

/// Where the models come from.
pub(crate) enum ModelSource<'a> {
    /// Train each configuration into `<out>/models/<name>` (resuming a run found there).
    Train {
        /// Model configurations.
        models: &'a [ModelConfig],
        /// The recipe.
        recipe: &'a TrainConfig,
    },
    /// Load these training run directories and zoo models.
    Load(&'a [Checkpoint]),
}

/// Trains, resumes or loads the models of a suite.
pub(crate) fn prepare_models(
    source: ModelSource,
    data: &Dataset,
    out: &Path,
    device: &Device,
    progress: bool,
) -> Result<Vec<PreparedModel>> {
    let mut prepared = match source {
        ModelSource::Load(checkpoints) => {
            let prepared = checkpoints
                .iter()
                .map(|checkpoint| match checkpoint {
                    Checkpoint::External(spec) => load_external(spec, checkpoint, data, device),
                    _ => load_native(checkpoint, data, device),
                })
                .collect::<Result<Vec<_>>>()?;
            let mut names: Vec<&str> = prepared.iter().map(|p| p.name.as_str()).collect();
            names.sort();
            if names.windows(2).any(|w| w[0] == w[1]) {
                bail!("--checkpoint names two runs of the same model; results are keyed by model name");
            }
            prepared
        }
        ModelSource::Train { models, recipe } => models
            .iter()
            .map(|m| train_model(m, recipe, data, out, device, progress))
            .collect::<Result<Vec<_>>>()?,
    };
    // The results record each model's role, so that the report's verdicts read it instead of
    // guessing it from the name.
    for p in &mut prepared {
        p.origin.baseline = Some(p.is_baseline());
        p.origin.adversarial_training = p.adversarial_training.clone();
    }
    Ok(prepared)
}

/// An external model (`onnx:` or `pt:`), loaded and checked against the data.
fn load_external(
    spec: &crate::external::ExternalSpec,
    checkpoint: &Checkpoint,
    data: &Dataset,
    device: &Device,
) -> Result<PreparedModel> {
    let model = ExternalModel::load(spec, device)?;
    model.check_fits(data.channels, data.height, data.width, data.classes.len())?;
    let origin = dcrobust_reports::ModelOrigin {
        model: spec.model_name(),
        source: spec.label(),
        format: match &spec.normalization {
            Some(n) => format!(
                "{}, inputs normalised with mean {:?} and std {:?}",
                spec.format, n.mean, n.std
            ),
            None => spec.format.to_string(),
        },
        sha256: Some(model.sha256().to_string()),
        ..Default::default()
    };
    Ok(PreparedModel {
        name: spec.model_name(),
        net: Classifier::External(Box::new(model)),
        history: None,
        dir: checkpoint.label(),
        adversarial_training: None,
        origin,
    })
}

/// A network dcrobust trained: a training run directory or a zoo model, checked against the
/// data.
fn load_native(checkpoint: &Checkpoint, data: &Dataset, device: &Device) -> Result<PreparedModel> {
    let (name, cfg, net, history) = match checkpoint {
        Checkpoint::Dir(dir) => {
            let (cfg, net) = train::load_network(dir, device)?;
            let history = std::fs::read(dir.join("history.json"))
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok());
            (cfg.model.name(), cfg, net, history)
        }
        Checkpoint::Zoo(z) => {
            if !crate::zoo::fits(data) {
                bail!(
                    "zoo:{} classifies CIFAR-10 ({}); the data ({}) has {} classes of {}x{}x{} images: {}",
                    z.meta.name,
                    crate::data::CIFAR10_CLASSES.join(", "),
                    data.source,
                    data.classes.len(),
                    data.channels,
                    data.height,
                    data.width,
                    data.classes.join(", ")
                );
            }
            // Keyed by the zoo name, like the model's results.
            let mut history = z.history()?;
            history.model = z.meta.name.clone();
            (
                z.meta.name.clone(),
                z.config.clone(),
                z.network(device)?,
                Some(history),
            )
        }
        Checkpoint::External(_) => {
            bail!("{} is not a dcrobust network", checkpoint.label().display())
        }
    };
    let m = &cfg.model;
    if m.in_channels != data.channels
        || m.image_size != [data.height, data.width]
        || m.num_classes != data.classes.len()
    {
        bail!(
            "the model {} expects {}x{}x{} images and {} classes, the data has {}x{}x{} and {}",
            checkpoint.label().display(),
            m.in_channels,
            m.image_size[0],
            m.image_size[1],
            m.num_classes,
            data.channels,
            data.height,
            data.width,
            data.classes.len()
        );
    }
    let origin = dcrobust_reports::ModelOrigin {
        model: name.clone(),
        source: checkpoint.label().display().to_string(),
        format: match checkpoint {
            Checkpoint::Zoo(_) => "zoo model",
            _ => "dcrobust training run",
        }
        .to_string(),
        sha256: cfg.weights_sha256.clone(),
        ..Default::default()
    };
    Ok(PreparedModel {
        name,
        net: Classifier::Native(Box::new(net)),
        history,
        dir: checkpoint.label(),
        adversarial_training: describe_adv(&cfg.train),
        origin,
    })
}

/// Trains `m` with `recipe` into `<out>/models/<name>/`, resuming a run found there.
fn train_model(
    m: &ModelConfig,
    recipe: &TrainConfig,
    data: &Dataset,
    out: &Path,
    device: &Device,
    progress: bool,
) -> Result<PreparedModel> {
    let dir = out.join("models").join(m.name());
    let net = train::build_network(m, recipe.seed, device)?;
    let resume = dir.join("state.json").exists();
    eprintln!(
        "{} {} ({} parameters) in {}",
        if resume { "resuming" } else { "training" },
        m.name(),
        net.num_parameters(),
        dir.display()
    );
    let opts = TrainOptions {
        resume,
        stop_after_epochs: None,
        progress,
    };
    let history = train::train(&net, m, data, recipe, &dir, &opts)?;
    Ok(PreparedModel {
        name: m.name(),
        net: Classifier::Native(Box::new(net)),
        history: Some(history),
        // Relative to the run directory, so that runs and shards elsewhere agree.
        origin: dcrobust_reports::ModelOrigin {
            model: m.name(),
            source: format!("models/{}", m.name()),
            format: "trained by this run".to_string(),
            ..Default::default()
        },
        dir,
        adversarial_training: describe_adv(recipe),
    })
}

fn describe_adv(cfg: &TrainConfig) -> Option<String> {
    cfg.adversarial.as_ref().map(|a| {
        let name = a.attack_label();
        if a.fraction < 1.0 {
            format!("{name} eps={:.4} fraction={}", a.eps, a.fraction)
        } else {
            format!("{name} eps={:.4}", a.eps)
        }
    })
}

/// Writes `suite.json` into `out`, or checks that the one there matches: a rerun in the same
/// directory must use the same configuration, so that resumed results stay consistent.
pub(crate) fn record_config(out: &Path, config: &SuiteRecord) -> Result<()> {
    let path = out.join("suite.json");
    // Compared as read back from text, as the file is: an f32 option turned into a JSON value
    // directly would differ from its own printed form (0.1f32 → 0.10000000149011612).
    let new: serde_json::Value = serde_json::from_slice(&serde_json::to_vec(config)?)?;
    if path.exists() {
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let old: serde_json::Value = serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is not a valid dcrobust file", path.display()))?;
        if old != new {
            let diff = crate::train::json_diff("", &old, &new);
            bail!(
                "{} holds a run with a different configuration ({}); rerun with the same options or choose another --out",
                out.display(),
                diff.join(", ")
            );
        }
        return Ok(());
    }
    std::fs::create_dir_all(out)
        .with_context(|| format!("creating output directory {}", out.display()))?;
    write_json_atomic(&path, config).with_context(|| format!("writing {}", path.display()))
}

/// Images `first..first+n` of a split as `f32` in [0, 1], NCHW.
fn images_f32(
    data: &Dataset,
    split: &crate::data::Split,
    range: std::ops::Range<usize>,
) -> Vec<f32> {
    let len = data.image_len();
    split.images[range.start * len..range.end * len]
        .iter()
        .map(|&v| f32::from(v) / 255.0)
        .collect()
}

/// Writes a planar (`C·H·W`, channel-major) 8-bit image as PNG, atomically.
fn save_png(path: &Path, img: &[u8], c: usize, h: usize, w: usize) -> Result<()> {
    let mut buf = Vec::with_capacity(img.len());
    for y in 0..h {
        for x in 0..w {
            for k in 0..c {
                buf.push(img[(k * h + y) * w + x]);
            }
        }
    }
    let mut bytes = Vec::new();
    let color = if c == 1 {
        image::ExtendedColorType::L8
    } else {
        image::ExtendedColorType::Rgb8
    };
    image::ImageEncoder::write_image(
        image::codecs::png::PngEncoder::new(&mut bytes),
        &buf,
        w as u32,
        h as u32,
        color,
    )?;
    crate::util::write_atomic(path, &bytes).with_context(|| format!("writing {}", path.display()))
}

/// `k` image indices spread evenly over `0..n` (the first of each of `k` equal slices), so that
/// examples cover a class-sorted test split.
fn example_indices(n: usize, k: usize) -> Vec<usize> {
    let k = k.min(n);
    (0..k).map(|j| j * n / k).collect()
}

/// Like [`example_indices`], but each example moves to the first image of its stretch
/// `[j·n/k, (j+1)·n/k)` for which `usable` holds (the suites ask for images every model
/// classifies correctly, so that every example is attacked); a stretch without one keeps
/// `j·n/k`.
fn example_indices_where(n: usize, k: usize, usable: impl Fn(usize) -> bool) -> Vec<usize> {
    let k = k.min(n);
    (0..k)
        .map(|j| {
            let (lo, hi) = (j * n / k, (j + 1) * n / k);
            (lo..hi).find(|&i| usable(i)).unwrap_or(lo)
        })
        .collect()
}

/// Writes the training history of every loaded model (a `--checkpoint` directory or zoo model)
/// to `<out>/models/<name>/history.json`, where the report reads the convergence curves of
/// trained ones; models trained by the run already have theirs there.
fn write_loaded_histories(models: &[PreparedModel], out: &Path) -> Result<()> {
    for m in models {
        let Some(history) = &m.history else { continue };
        let dir = out.join("models").join(&m.name);
        if m.dir == dir {
            continue;
        }
        let path = dir.join("history.json");
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        write_json_atomic(&path, history).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// Writes `features/<model>.json` (the 2-D penultimate features of up to 1,000 test images) for
/// every `feat2d` model, for the report's feature plots.
fn write_features(
    models: &[PreparedModel],
    data: &Dataset,
    out: &Path,
    batch: usize,
) -> Result<()> {
    let n = data.test.len().min(1000);
    for (m, net) in models
        .iter()
        .filter_map(|m| Some((m, m.net.native()?)))
        .filter(|(_, net)| net.config().arch == crate::models::Arch::Feat2d)
    {
        let (mut x, mut y) = (Vec::with_capacity(n), Vec::with_capacity(n));
        let mut first = 0;
        while first < n {
            let end = (first + batch.max(1)).min(n);
            let t = candle_core::Tensor::from_vec(
                images_f32(data, &data.test, first..end),
                (end - first, data.channels, data.height, data.width),
                net.params().device(),
            )?;
            let f = net
                .features(&t, false)?
                .to_dtype(candle_core::DType::F32)?
                .to_vec2::<f32>()?;
            for row in f {
                x.push(row.first().copied().unwrap_or(f32::NAN));
                y.push(row.get(1).copied().unwrap_or(f32::NAN));
            }
            first = end;
        }
        let dir = out.join("features");
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join(format!("{}.json", m.name));
        let f = dcrobust_reports::Features2d {
            model: m.name.clone(),
            classes: data.classes.clone(),
            x,
            y,
            labels: data.test.labels[..n].to_vec(),
        };
        write_json_atomic(&path, &f).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Oracle: the stretches by hand: 10 images, 3 examples → stretches [0, 3), [3, 6), [6, 10);
    /// with images 0, 1, 4 and 6-9 unusable the picks are 2, 3 and 6 (the stretch's start,
    /// since none is usable); with everything usable they are example_indices' 0, 3, 6.
    #[test]
    fn examples_move_to_the_first_usable_image_of_their_stretch() {
        let bad = [0, 1, 4, 6, 7, 8, 9];
        assert_eq!(
            example_indices_where(10, 3, |i| !bad.contains(&i)),
            vec![2, 3, 6]
        );
        assert_eq!(
            example_indices_where(10, 3, |_| true),
            example_indices(10, 3)
        );
        assert_eq!(example_indices_where(2, 5, |_| true), vec![0, 1]);
    }

    /// Oracle: the report reads the attack back from the recorded description's first word
    /// (`AdvTrainAttack::of_recorded`); every attack the recipe can record must come back as
    /// itself, and standard training records nothing.
    #[test]
    fn recorded_adversarial_training_names_its_attack() {
        let mut cfg = TrainConfig::new(1, 0);
        assert_eq!(describe_adv(&cfg), None);
        for attack in crate::train::AdvTrainAttack::ALL {
            for fraction in [0.5, 1.0] {
                cfg.adversarial = Some(crate::train::AdvTraining {
                    attack,
                    eps: 8.0 / 255.0,
                    steps: 3,
                    step_size: 1.25,
                    fraction,
                });
                let recorded = describe_adv(&cfg).unwrap();
                assert_eq!(
                    crate::train::AdvTrainAttack::of_recorded(&recorded),
                    Some(attack),
                    "{recorded}"
                );
            }
        }
    }
}
