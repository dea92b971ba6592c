//! One suite run from its checked options to its results: load or train the models, record the
//! run (`suite.json`), train the surrogate, evaluate, and write the models' features. The command
//! line (`dcrobust run`) only turns its options into a [`RunPlan`], and prints and renders what
//! [`execute`] returns.

use super::{
    adversarial, corruption, prepare_models, record_config, write_features, write_loaded_histories,
    ModelSource, PreparedModel, RunContext, SuiteConfig, SuiteKind, SuiteRecord,
};
use crate::data::Dataset;
use crate::external::Normalization;
use crate::models::ModelConfig;
use crate::train::{DataInfo, TrainConfig};
use crate::zoo::Checkpoint;
use anyhow::Result;
use candle_core::Device;
use dcrobust_reports::{AdversarialSummary, CorruptionSummary};

/// A suite run with every option checked and the data loaded: what [`execute`] carries out.
pub(crate) struct RunPlan {
    /// The suite and its options.
    pub(crate) config: SuiteConfig,
    /// The data: both splits when the run trains (models or a surrogate), else the test split.
    pub(crate) data: Dataset,
    /// The models to train, when `checkpoints` is empty.
    pub(crate) models: Vec<ModelConfig>,
    /// The models to evaluate instead of training, already resolved.
    pub(crate) checkpoints: Vec<Checkpoint>,
    /// `--input-mean`/`--input-std`, as applied to the external checkpoints.
    pub(crate) normalization: Option<Normalization>,
    /// The training recipe of the models and of the surrogate.
    pub(crate) recipe: TrainConfig,
    /// The adversarial suite's surrogate baseline (a transfer source trained on the run's
    /// training split with its own seed), if the run trains one.
    pub(crate) surrogate: Option<ModelConfig>,
    /// Batch size of the features written beside the results.
    pub(crate) eval_batch_size: usize,
    /// Seed, output directory, device, threads, progress and shard.
    pub(crate) ctx: RunContext,
}

/// How a run ended.
pub(crate) enum Finished {
    /// The adversarial suite's results.
    Adversarial(Box<AdversarialSummary>),
    /// The corruption suite's results.
    Corruption(Box<CorruptionSummary>),
    /// This shard's units are recorded; `dcrobust merge` assembles the results.
    Shard,
}

impl RunPlan {
    /// What `suite.json` records of this plan.
    pub(crate) fn record(&self) -> SuiteRecord {
        let (adversarial, corruption) = match &self.config {
            SuiteConfig::Adversarial(a) => (Some(a.as_ref().clone()), None),
            SuiteConfig::Corruption(c) => (None, Some(c.clone())),
        };
        SuiteRecord {
            version: env!("CARGO_PKG_VERSION").to_string(),
            suite: self.suite(),
            seed: self.ctx.seed,
            data: DataInfo::of(&self.data),
            models: self.models.clone(),
            checkpoints: self.checkpoints.iter().map(|c| c.label()).collect(),
            train: (self.checkpoints.is_empty() || self.surrogate.is_some())
                .then(|| self.recipe.clone()),
            surrogate: self.surrogate.is_some(),
            adversarial,
            corruption,
            shard: self.ctx.shard,
            input_normalization: self.normalization.clone(),
        }
    }

    /// The suite this plan runs.
    pub(crate) fn suite(&self) -> SuiteKind {
        match self.config {
            SuiteConfig::Adversarial(_) => SuiteKind::Adversarial,
            SuiteConfig::Corruption(_) => SuiteKind::Corruption,
        }
    }
}

/// Runs `plan` on `device`: loads the checkpoints (before anything is written, so that a refused
/// one leaves no output directory behind), records `suite.json`, trains what the run trains
/// (resuming models found in the output directory), evaluates, and writes the results and the
/// models' features into the output directory.
pub(crate) fn execute(plan: &RunPlan, device: &Device) -> Result<Finished> {
    let out = &plan.ctx.out;
    let progress = plan.ctx.progress;
    let t0 = std::time::Instant::now();
    let loaded = if plan.checkpoints.is_empty() {
        None
    } else {
        Some(prepare_models(
            ModelSource::Load(&plan.checkpoints),
            &plan.data,
            out,
            device,
            progress,
        )?)
    };
    record_config(out, &plan.record())?;
    let prepared = match loaded {
        Some(p) => {
            write_loaded_histories(&p, out)?;
            p
        }
        None => prepare_models(
            ModelSource::Train {
                models: &plan.models,
                recipe: &plan.recipe,
            },
            &plan.data,
            out,
            device,
            progress,
        )?,
    };
    let surrogates = match &plan.surrogate {
        Some(cfg) => train_surrogate(plan, cfg, device)?,
        None => Vec::new(),
    };
    // Training time over every start of the run: the models' histories sum it across resumes.
    let train_seconds = if plan.checkpoints.is_empty() {
        prepared
            .iter()
            .chain(&surrogates)
            .filter_map(|m| m.history.as_ref()?.epochs.last().map(|e| e.wall_time_s))
            .sum()
    } else {
        t0.elapsed().as_secs_f64()
    };
    if plan.ctx.shard.is_some() {
        write_features(&prepared, &plan.data, out, plan.eval_batch_size)?;
    }
    let finished = evaluate(plan, &prepared, &surrogates, train_seconds)?;
    match finished {
        Some(f) => {
            write_features(&prepared, &plan.data, out, plan.eval_batch_size)?;
            Ok(f)
        }
        None if plan.ctx.shard.is_some() => Ok(Finished::Shard),
        None => anyhow::bail!(
            "the {} suite finished without a summary",
            plan.suite().name()
        ),
    }
}

/// Evaluates the prepared models on the test images the suite's options select: the results, or
/// `None` when this run is a shard.
fn evaluate(
    plan: &RunPlan,
    prepared: &[PreparedModel],
    surrogates: &[PreparedModel],
    train_seconds: f64,
) -> Result<Option<Finished>> {
    let mut eval_data = plan.data.clone();
    Ok(match &plan.config {
        SuiteConfig::Adversarial(adv) => {
            eval_data.truncate(None, adv.eval_images);
            adversarial::run(
                prepared,
                surrogates,
                &eval_data,
                adv,
                &plan.ctx,
                train_seconds,
            )?
            .map(|s| Finished::Adversarial(Box::new(s)))
        }
        SuiteConfig::Corruption(corr) => {
            eval_data.truncate(None, corr.eval_images);
            corruption::run(prepared, &eval_data, corr, &plan.ctx, train_seconds)?
                .map(|s| Finished::Corruption(Box::new(s)))
        }
    })
}

/// The surrogate, trained into `<out>/surrogate/models/` with the run's recipe and its own seed,
/// and named `surrogate-<name>`.
fn train_surrogate(
    plan: &RunPlan,
    cfg: &ModelConfig,
    device: &Device,
) -> Result<Vec<PreparedModel>> {
    let mut recipe = plan.recipe.clone();
    recipe.seed = crate::util::derive_seed(plan.ctx.seed, &[SEED_SURROGATE]);
    let mut s = prepare_models(
        ModelSource::Train {
            models: std::slice::from_ref(cfg),
            recipe: &recipe,
        },
        &plan.data,
        &plan.ctx.out.join("surrogate"),
        device,
        plan.ctx.progress,
    )?;
    for m in &mut s {
        m.name = format!("surrogate-{}", m.name);
    }
    Ok(s)
}

/// Seed purpose of the surrogate model of transfer attacks.
const SEED_SURROGATE: u64 = 201;
