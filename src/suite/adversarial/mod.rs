//! The adversarial suite: white-box attacks over ε sweeps, black-box transfer between models,
//! and the gradient-masking checks, for every prepared model.
//!
//! Output, beside `suite.json` and `models/`:
//! - `summary.json`: [`AdversarialSummary`] (per model: clean accuracy, one cell per attack and
//!   ε, a `worst-case` cell per norm and ε where two or more attacks besides FGSM ran (see
//!   [`worst_case`]), the checks; transfer cells; example index; timings);
//! - `records.jsonl` or `records.csv`: one [`SampleRecord`] per sample, attack and ε;
//! - `robustbench.json`: when `autoattack` ran, its result per model in the fields of
//!   RobustBench's model cards (see [`robustbench`]);
//! - `examples/`: PNGs of a few clean and adversarial images for the report;
//! - `cells/`: one file per finished unit (see [`super::cells`]), from which the summary and the
//!   records are assembled; a rerun skips the units found there.
//!
//! Every random draw of an attack is seeded by (run seed, attack, ε, sample index), and every
//! per-sample computation is independent of the other samples of its batch (inference mode), so
//! the numbers depend neither on `--eval-batch-size` nor on the thread count.

use super::cells::{unit_id, CellStore, RunInfo};
use super::{images_f32, run_suite, PreparedModel, RunContext, Suite, Unit};
use crate::data::Dataset;
use crate::util::{derive_seed, write_atomic, write_json_atomic};
use anyhow::{bail, Context, Result};
use dcrobust_attacks::{run_attack, AttackConfig, AttackKind, Batch, Norm, Oracle, Target};
use dcrobust_reports::{
    AdversarialSummary, AttackCell, AttackId, Check, CheckStatus, ConfusionMatrix, ExampleImage,
    ModelAdversarial, SampleRecord, TransferCell,
};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

mod cell;
mod checks;
mod output;
mod robustbench;
mod transfer;
mod worst_case;

use cell::*;
use checks::*;
use output::*;
use transfer::*;

pub(crate) use output::print_table;

const SEED_ATTACK: u64 = 101;

const SEED_TRANSFER: u64 = 102;

/// Per-sample record file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub(crate) enum RecordFormat {
    /// JSON lines (`records.jsonl`).
    Jsonl,
    /// Comma-separated values with a header (`records.csv`).
    Csv,
}

/// What the adversarial suite evaluates.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct AdversarialConfig {
    /// White-box attacks, each over the ε sweep of its norm (Square and AutoAttack: the
    /// headline L∞ ε only).
    pub(crate) attacks: Vec<AttackKind>,
    /// L∞ sweep.
    pub(crate) linf_eps: Vec<f64>,
    /// L2 sweep.
    pub(crate) l2_eps: Vec<f64>,
    /// L∞ budget of the headline table, the transfer attacks and the checks.
    pub(crate) headline_linf: f64,
    /// L2 budget of the headline table.
    pub(crate) headline_l2: f64,
    /// Attack parameters.
    pub(crate) attack: AttackConfig,
    /// Attacks crafted on each source model and evaluated on every other model (empty: none).
    pub(crate) transfer_attacks: Vec<AttackKind>,
    /// Source models of the transfer attacks; `None`: every model.
    pub(crate) transfer_from: Option<Vec<TransferSource>>,
    /// Test images evaluated (a class-balanced subset); `None`: the whole test split.
    pub(crate) eval_images: Option<usize>,
    /// Images per evaluation batch (does not change any number).
    #[serde(skip)]
    pub(crate) eval_batch_size: usize,
    /// Per-sample record format.
    pub(crate) records: RecordFormat,
    /// Test images saved as examples per model and attack.
    pub(crate) examples: usize,
    /// Run the checks' own attacks (PGD with a quarter of the steps, and unbounded PGD) for the
    /// `monotone-in-steps` and `unbounded-pgd-reaches-chance` checks; `--no-checks` turns them
    /// off. The checks read off the suite's own cells cost nothing and always run.
    #[serde(default = "checks_default")]
    pub(crate) checks: bool,
}

/// One `--transfer-from` item: the run's baselines, or a model by name. Written as the option
/// gives it (`baseline`, or the name).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub(crate) enum TransferSource {
    /// Every baseline of the run ([`PreparedModel::is_baseline`]), or every model when the run
    /// has none.
    Baselines,
    /// The model of this name.
    Model(String),
}

impl From<String> for TransferSource {
    fn from(s: String) -> Self {
        if s == "baseline" {
            TransferSource::Baselines
        } else {
            TransferSource::Model(s)
        }
    }
}

impl From<TransferSource> for String {
    fn from(t: TransferSource) -> Self {
        match t {
            TransferSource::Baselines => "baseline".to_string(),
            TransferSource::Model(name) => name,
        }
    }
}

/// [`AdversarialConfig::checks`] of configurations that predate the field.
fn checks_default() -> bool {
    true
}

impl AdversarialConfig {
    /// Checks the options that name models (`--transfer-from`) against the run's models.
    pub(crate) fn check_models(&self, names: &[String]) -> Result<()> {
        if let Some(from) = &self.transfer_from {
            for f in from {
                let TransferSource::Model(f) = f else {
                    continue;
                };
                if !names.iter().any(|m| m == f) {
                    bail!(
                        "--transfer-from names `{f}`, which is not a model of this run ({})",
                        names.join(", ")
                    );
                }
            }
        }
        Ok(())
    }

    /// Checks every option before any work starts, naming the bad value.
    pub(crate) fn validate(&self, data: &Dataset) -> Result<()> {
        self.attack.validate()?;
        if self.attacks.is_empty() {
            bail!("--attacks is empty; name at least one attack");
        }
        let max_l2 = (data.image_len() as f64).sqrt();
        for &e in self.linf_eps.iter().chain([&self.headline_linf]) {
            AttackConfig::check_eps(AttackKind::Pgd, e)?;
        }
        for &e in self.l2_eps.iter().chain([&self.headline_l2]) {
            AttackConfig::check_eps(AttackKind::PgdL2, e)?;
            if e > max_l2 {
                bail!("L2 eps {e} is out of range: expected at most {max_l2:.1}, the L2 distance between an all-black and an all-white image of this data");
            }
        }
        if self.eval_batch_size == 0 {
            bail!("--eval-batch-size must be at least 1");
        }
        if self.attacks.contains(&AttackKind::ApgdDlr) && data.classes.len() < 3 {
            bail!(
                "apgd-dlr needs at least 3 classes (the DLR loss reads the third-largest logit), the data has {}",
                data.classes.len()
            );
        }
        for &k in self.attacks.iter().chain(&self.transfer_attacks) {
            if k.picks_targets() && self.attack.target != Target::Untargeted {
                bail!("{k} chooses its own target classes and runs untargeted only; drop --target");
            }
            if data.classes.len() < k.min_classes() {
                bail!(
                    "{k} needs at least {} classes (APGD-T's targeted DLR loss reads the fourth-largest logit), the data has {}",
                    k.min_classes(),
                    data.classes.len()
                );
            }
        }
        if self.attack.target != Target::Untargeted && data.classes.len() < 4 {
            bail!(
                "targeted attacks need at least 4 classes, the data has {}",
                data.classes.len()
            );
        }
        Ok(())
    }

    /// The ε values `kind` runs at.
    pub(crate) fn sweep(&self, kind: AttackKind) -> Vec<f64> {
        if matches!(kind, AttackKind::Square | AttackKind::AutoAttack) {
            return vec![self.headline_linf];
        }
        match kind.norm() {
            Norm::Linf => self.linf_eps.clone(),
            Norm::L2 => self.l2_eps.clone(),
        }
    }
}

/// Unit of work: one attack at one ε on one model.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct CellUnit {
    cell: AttackCell,
    records: Vec<SampleRecord>,
    examples: Vec<ExampleImage>,
    seconds: f64,
}

/// Unit of work: the extra PGD cells of one model's checks.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct ChecksUnit {
    check_cells: Vec<AttackCell>,
    seconds: f64,
}

/// Unit of work: one transfer attack crafted on one source and evaluated on every other model.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct TransferUnit {
    cells: Vec<TransferCell>,
    records: Vec<SampleRecord>,
    seconds: f64,
}

/// What every shard computes about a model: clean accuracy and the zero-gradient count.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct ModelUnit {
    parameters: usize,
    adversarial_training: Option<String>,
    clean_accuracy: f64,
    /// Clean predictions per class.
    #[serde(default)]
    prediction_counts: Vec<usize>,
    zero_gradient_samples: usize,
    seconds: f64,
}

/// A model's units, in the suite's order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct PlanModel {
    name: String,
    /// Its [`ModelUnit`] (computed by every shard).
    info: String,
    /// One per attack and ε.
    cells: Vec<(AttackKind, f64, String)>,
    /// The checks' extra cells, when PGD runs.
    checks: Option<String>,
}

/// Every unit of a run, in order: per model its cells then its checks, then the transfers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Plan {
    models: Vec<PlanModel>,
    /// (source name, attack, unit id); the source is a model or a surrogate.
    transfers: Vec<(String, AttackKind, String)>,
}

impl Plan {
    fn new(
        models: &[PreparedModel],
        surrogates: &[PreparedModel],
        cfg: &AdversarialConfig,
    ) -> Plan {
        let pgd = cfg.attacks.contains(&AttackKind::Pgd) && cfg.checks;
        let models_plan = models
            .iter()
            .map(|m| PlanModel {
                name: m.name.clone(),
                info: unit_id(&["model", &m.name]),
                cells: cfg
                    .attacks
                    .iter()
                    .flat_map(|&k| cfg.sweep(k).into_iter().map(move |e| (k, e)))
                    .map(|(k, e)| {
                        (
                            k,
                            e,
                            unit_id(&["adv", &m.name, k.name(), &format!("{e:?}")]),
                        )
                    })
                    .collect(),
                checks: pgd.then(|| unit_id(&["checks", &m.name])),
            })
            .collect();
        let mut transfers = Vec::new();
        if (models.len() > 1 || !surrogates.is_empty()) && !cfg.transfer_attacks.is_empty() {
            let sources = models
                .iter()
                .filter(|m| is_transfer_source(cfg, models, &m.name))
                .chain(surrogates);
            for s in sources {
                for &k in &cfg.transfer_attacks {
                    transfers.push((s.name.clone(), k, unit_id(&["transfer", &s.name, k.name()])));
                }
            }
        }
        Plan {
            models: models_plan,
            transfers,
        }
    }
}

/// The run's plan and what the summary needs besides the units: `cells/meta.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Meta {
    plan: Plan,
    #[serde(flatten)]
    run: RunInfo,
}

/// What a unit of the plan computes.
#[derive(Clone, Copy, Debug)]
enum Job {
    /// Model `i`'s [`ModelUnit`].
    Model(usize),
    /// Model `i` under one attack at one ε.
    Cell(usize, AttackKind, f64),
    /// Model `i`'s extra check cells.
    Checks(usize),
    /// Transfer number `i` of the plan.
    Transfer(usize),
}

/// The adversarial suite over prepared models, as a [`Suite`].
struct AdversarialSuite<'a> {
    models: &'a [PreparedModel],
    surrogates: &'a [PreparedModel],
    data: &'a Dataset,
    cfg: &'a AdversarialConfig,
    ctx: &'a RunContext,
    train_seconds: f64,
    plan: Plan,
    jobs: HashMap<String, Job>,
    ex_idx: Vec<usize>,
    /// Clean logits per model, computed on first use.
    cleans: Vec<Option<CleanLogits>>,
}

impl AdversarialSuite<'_> {
    /// Clean logits of model `i`, computed on first use.
    fn clean(&mut self, i: usize) -> Result<&CleanLogits> {
        if self.cleans[i].is_none() {
            self.cleans[i] = Some(CleanLogits::compute(
                &self.models[i],
                self.data,
                self.cfg.eval_batch_size,
            )?);
        }
        Ok(self.cleans[i].as_ref().expect("computed above"))
    }
}

impl AdversarialSuite<'_> {
    /// [`Job::Model`]: model `mi`'s clean accuracy, predictions per class and zero-gradient count.
    fn model_unit(&mut self, mi: usize, store: &CellStore, id: &str, t: Instant) -> Result<()> {
        let (models, data, cfg) = (self.models, self.data, self.cfg);
        let model = &models[mi];
        let clean = self.clean(mi)?;
        let clean_accuracy = clean.accuracy(&data.test.labels);
        let prediction_counts = dcrobust_reports::degenerate::prediction_counts(
            dcrobust_attacks::ops::predictions(&clean.logits, clean.classes)
                .into_iter()
                .map(|p| p as usize),
            clean.classes,
        );
        let unit_value = ModelUnit {
            parameters: model.net.num_parameters(),
            adversarial_training: model.adversarial_training.clone(),
            clean_accuracy,
            prediction_counts,
            zero_gradient_samples: zero_gradients(model, data, cfg.eval_batch_size)?,
            seconds: t.elapsed().as_secs_f64(),
        };
        store.save(id, &unit_value)?;
        Ok(())
    }

    /// [`Job::Cell`]: attack `kind` at `eps` on model `mi`, with its records and, at the
    /// headline budget, its example images.
    #[allow(clippy::too_many_arguments)]
    fn cell_unit(
        &mut self,
        mi: usize,
        kind: AttackKind,
        eps: f64,
        store: &CellStore,
        id: &str,
        bar: &indicatif::ProgressBar,
        t: Instant,
    ) -> Result<()> {
        let (models, data, cfg) = (self.models, self.data, self.cfg);
        let (seed, out) = (self.ctx.seed, self.ctx.out.clone());
        let model = &models[mi];
        bar.set_message(format!("{} {kind} eps {eps:.4}", model.name));
        let ex_idx = self.ex_idx.clone();
        let headline = match kind.norm() {
            Norm::Linf => cfg.headline_linf,
            Norm::L2 => cfg.headline_l2,
        };
        let shown: &[usize] = if eps == headline { &ex_idx } else { &[] };
        let clean = self.clean(mi)?;
        let job = CellJob {
            kind,
            eps,
            params: &cfg.attack,
            seed,
            only_correct: true,
            keep: Keep::Only(shown),
            journal: Some(BatchJournal { store, unit: id }),
        };
        let (cell, batches) = attack_cell(model, data, job, cfg.eval_batch_size, clean, bar)?;
        let mut records = Vec::new();
        records_of(&model.name, None, kind, eps, data, &batches, &mut records);
        let examples = cell_examples(&out, model, kind, eps, data, shown, &batches)?;
        store.finish(
            id,
            &CellUnit {
                cell,
                records,
                examples,
                seconds: t.elapsed().as_secs_f64(),
            },
        )?;
        Ok(())
    }

    /// [`Job::Checks`]: model `mi`'s extra cells for the checks: PGD with a quarter of the steps
    /// at the headline budget, and PGD at ε = 1.
    fn checks_unit(
        &mut self,
        mi: usize,
        store: &CellStore,
        id: &str,
        bar: &indicatif::ProgressBar,
        t: Instant,
    ) -> Result<()> {
        let (models, data, cfg) = (self.models, self.data, self.cfg);
        let seed = self.ctx.seed;
        let n = data.test.len();
        let model = &models[mi];
        bar.set_message(format!("{} checks", model.name));
        let clean = self.clean(mi)?;
        let mut few = cfg.attack.clone();
        few.pgd.steps = (cfg.attack.pgd.steps / 4).max(1);
        let mut check_cells = Vec::new();
        if few.pgd.steps != cfg.attack.pgd.steps {
            let job = CellJob {
                kind: AttackKind::Pgd,
                eps: cfg.headline_linf,
                params: &few,
                seed,
                only_correct: true,
                keep: Keep::Only(&[]),
                journal: None,
            };
            check_cells.push(attack_cell(model, data, job, cfg.eval_batch_size, clean, bar)?.0);
        } else {
            bar.inc(n as u64);
        }
        let job = CellJob {
            kind: AttackKind::Pgd,
            eps: 1.0,
            params: &cfg.attack,
            seed,
            only_correct: true,
            keep: Keep::Only(&[]),
            journal: None,
        };
        check_cells.push(attack_cell(model, data, job, cfg.eval_batch_size, clean, bar)?.0);
        store.finish(
            id,
            &ChecksUnit {
                check_cells,
                seconds: t.elapsed().as_secs_f64(),
            },
        )?;
        Ok(())
    }

    /// [`Job::Transfer`]: the `ti`-th planned transfer attack, crafted on its source and
    /// evaluated on every other model.
    fn transfer_unit(
        &mut self,
        ti: usize,
        store: &CellStore,
        id: &str,
        bar: &indicatif::ProgressBar,
        t: Instant,
    ) -> Result<()> {
        let (models, data, cfg) = (self.models, self.data, self.cfg);
        let seed = self.ctx.seed;
        let (source_name, kind, _) = self.plan.transfers[ti].clone();
        bar.set_message(format!("transfer {kind} from {source_name}"));
        for i in 0..models.len() {
            self.clean(i)?;
        }
        let cleans: Vec<&CleanLogits> = self
            .cleans
            .iter()
            .map(|c| c.as_ref().expect("computed above"))
            .collect();
        let targets: Vec<(&PreparedModel, Vec<u32>)> = models
            .iter()
            .zip(&cleans)
            .filter(|(m, _)| m.name != source_name)
            .map(|(m, c)| (m, dcrobust_attacks::ops::predictions(&c.logits, c.classes)))
            .collect();
        // A source is a model of the run (its clean logits are cached) or a surrogate.
        let own;
        let (source, source_clean) = match models.iter().position(|m| m.name == source_name) {
            Some(i) => (&models[i], cleans[i]),
            None => {
                let s = self
                    .surrogates
                    .iter()
                    .find(|m| m.name == source_name)
                    .expect("planned source");
                own = CleanLogits::compute(s, data, cfg.eval_batch_size)?;
                (s, &own)
            }
        };
        let job = TransferJob {
            source,
            source_clean,
            kind,
        };
        let (cells, records) = transfer(job, &targets, data, cfg, seed, bar)?;
        store.finish(
            id,
            &TransferUnit {
                cells,
                records,
                seconds: t.elapsed().as_secs_f64(),
            },
        )?;
        Ok(())
    }
}

impl Suite for AdversarialSuite<'_> {
    type Summary = AdversarialSummary;

    fn plan(&mut self, store: &CellStore) -> Result<Vec<Unit>> {
        let data = self.data;
        let n = data.test.len();
        let (c, h, w) = (data.channels, data.height, data.width);
        if self.cfg.examples > 0 {
            // Examples among the images every model classifies correctly, so each is attacked.
            let mut correct = vec![true; n];
            for i in 0..self.models.len() {
                let clean = self.clean(i)?;
                let preds = dcrobust_attacks::ops::predictions(&clean.logits, clean.classes);
                for (ok, (p, l)) in correct.iter_mut().zip(preds.iter().zip(&data.test.labels)) {
                    *ok &= p == l;
                }
            }
            self.ex_idx = crate::suite::example_indices_where(n, self.cfg.examples, |i| correct[i]);
        }
        store.save(
            "meta",
            &Meta {
                plan: self.plan.clone(),
                run: crate::suite::cells::run_info(
                    data,
                    n,
                    self.ctx.seed,
                    &self.ctx.device,
                    self.ctx.threads,
                    self.train_seconds,
                    self.models.iter().map(|m| m.origin.clone()).collect(),
                ),
            },
        )?;
        let ex_dir = self.ctx.out.join("examples");
        if !self.ex_idx.is_empty() {
            std::fs::create_dir_all(&ex_dir)
                .with_context(|| format!("creating {}", ex_dir.display()))?;
            for &i in &self.ex_idx {
                save_png(
                    &ex_dir.join(format!("clean-{i}.png")),
                    &images_f32(data, &data.test, i..i + 1),
                    c,
                    h,
                    w,
                )?;
            }
        }
        let mut units = Vec::new();
        let mut add = |id: &str, job: Job, every_shard: bool| {
            self.jobs.insert(id.to_string(), job);
            units.push(Unit {
                id: id.to_string(),
                every_shard,
            });
        };
        for (mi, pm) in self.plan.models.iter().enumerate() {
            add(&pm.info, Job::Model(mi), true);
            for (kind, eps, id) in &pm.cells {
                add(id, Job::Cell(mi, *kind, *eps), false);
            }
            if let Some(id) = &pm.checks {
                add(id, Job::Checks(mi), false);
            }
        }
        for (ti, (_, _, id)) in self.plan.transfers.iter().enumerate() {
            add(id, Job::Transfer(ti), false);
        }
        Ok(units)
    }

    fn work(&self, unit: &Unit) -> u64 {
        let n = self.data.test.len() as u64;
        match self.jobs[&unit.id] {
            Job::Model(_) => 0,
            Job::Cell(..) => n,
            Job::Checks(_) => 2 * n,
            Job::Transfer(ti) => {
                // Crafting on the source, then one pass per other model of the run.
                let source = &self.plan.transfers[ti].0;
                let own = self.models.iter().any(|m| &m.name == source);
                n * (self.models.len() + usize::from(!own)) as u64
            }
        }
    }

    fn run_unit(
        &mut self,
        store: &CellStore,
        unit: &Unit,
        bar: &indicatif::ProgressBar,
    ) -> Result<()> {
        let t = Instant::now();
        let id = unit.id.as_str();
        match self.jobs[id] {
            Job::Model(mi) => self.model_unit(mi, store, id, t),
            Job::Cell(mi, kind, eps) => self.cell_unit(mi, kind, eps, store, id, bar, t),
            Job::Checks(mi) => self.checks_unit(mi, store, id, bar, t),
            Job::Transfer(ti) => self.transfer_unit(ti, store, id, bar, t),
        }
    }

    fn assemble(&self, out: &Path) -> Result<AdversarialSummary> {
        finish(out, self.cfg)
    }
}

/// Runs the suite on prepared models and writes its results into `ctx.out`.
///
/// `surrogates` are models trained only to craft transfer attacks: they are transfer sources and
/// are not evaluated themselves. Every finished unit is recorded in `out/cells/`, and units found
/// there are not computed again. With a shard only that shard's units are evaluated,
/// `shard.json` is written and `None` is returned; `dcrobust merge` assembles the shards.
pub(crate) fn run(
    models: &[PreparedModel],
    surrogates: &[PreparedModel],
    data: &Dataset,
    cfg: &AdversarialConfig,
    ctx: &RunContext,
    train_seconds: f64,
) -> Result<Option<AdversarialSummary>> {
    let names: Vec<String> = models.iter().map(|m| m.name.clone()).collect();
    cfg.check_models(&names)?;
    let mut suite = AdversarialSuite {
        models,
        surrogates,
        data,
        cfg,
        ctx,
        train_seconds,
        plan: Plan::new(models, surrogates, cfg),
        jobs: HashMap::new(),
        ex_idx: crate::suite::example_indices(data.test.len(), cfg.examples),
        cleans: models.iter().map(|_| None).collect(),
    };
    run_suite(&mut suite, ctx, "attacks", "images")
}

/// The model's confusion matrices from its white-box records: on the clean images (every
/// record carries the clean prediction; those of one cell are used) and under the strongest
/// attack run at the L∞ budget `headline` (the first of PGD, APGD-CE, BIM, MI-FGSM, FGSM).
fn confusion_matrices(
    model: &str,
    records: &[SampleRecord],
    classes: usize,
    headline: f64,
) -> Vec<ConfusionMatrix> {
    let mine = |attack: AttackKind, eps: f64| {
        records
            .iter()
            .filter(move |r| {
                r.model == model && r.source.is_none() && r.attack == attack && r.eps == eps
            })
            .map(|r| (r.label as usize, r.clean_pred as usize, r.adv_pred as usize))
    };
    let Some(attack) = AttackKind::quoted()
        .into_iter()
        .find(|a| mine(*a, headline).next().is_some())
    else {
        return Vec::new();
    };
    vec![
        ConfusionMatrix::from_pairs(
            None,
            0.0,
            classes,
            mine(attack, headline).map(|(t, c, _)| (t, c)),
        ),
        ConfusionMatrix::from_pairs(
            Some(attack.into()),
            headline,
            classes,
            mine(attack, headline).map(|(t, _, a)| (t, a)),
        ),
    ]
}

/// Assembles the summary and the per-sample records of run directory `out` from its unit files,
/// writes `summary.json` and the records file, and prints one line per model.
pub(crate) fn finish(out: &Path, cfg: &AdversarialConfig) -> Result<AdversarialSummary> {
    let store = CellStore::existing(out)?;
    let meta: Meta = need(&store, "meta")?;
    let n = meta.run.images;
    let mut records = Vec::new();
    let mut examples = Vec::new();
    let mut eval_seconds = 0.0;
    let mut results = Vec::new();
    for pm in &meta.plan.models {
        let info: ModelUnit = need(&store, &pm.info)?;
        // This model's white-box records start here.
        let first_record = records.len();
        eval_seconds += info.seconds;
        let mut cells = Vec::new();
        for (_, _, id) in &pm.cells {
            let u: CellUnit = need(&store, id)?;
            eval_seconds += u.seconds;
            cells.push(u.cell);
            records.extend(u.records);
            examples.extend(u.examples);
        }
        let check_cells = match &pm.checks {
            Some(id) => {
                let u: ChecksUnit = need(&store, id)?;
                eval_seconds += u.seconds;
                u.check_cells
            }
            None => Vec::new(),
        };
        let confusion = confusion_matrices(
            &pm.name,
            &records,
            meta.run.classes.len(),
            cfg.headline_linf,
        );
        let mut m = ModelAdversarial {
            confusion,
            model: pm.name.clone(),
            parameters: info.parameters,
            adversarial_training: info.adversarial_training,
            clean_accuracy: info.clean_accuracy,
            prediction_counts: info.prediction_counts,
            zero_gradient_samples: info.zero_gradient_samples,
            cells,
            check_cells,
            checks: Vec::new(),
        };
        m.checks = checks(&m, cfg, n, meta.run.classes.len());
        let worst = worst_case::worst_case_cells(&pm.name, &m.cells, &records[first_record..]);
        m.cells.extend(worst);
        eprintln!("{}", model_line(&m, cfg));
        results.push(m);
    }
    let mut transfer = Vec::new();
    for (_, _, id) in &meta.plan.transfers {
        let u: TransferUnit = need(&store, id)?;
        eval_seconds += u.seconds;
        transfer.extend(u.cells);
        records.extend(u.records);
    }
    write_records(out, cfg.records, &records)?;
    let summary = AdversarialSummary {
        version: env!("CARGO_PKG_VERSION").to_string(),
        run: dcrobust_reports::RunInfo {
            images: n,
            ..meta.run
        },
        headline_linf: cfg.headline_linf,
        headline_l2: cfg.headline_l2,
        models: results,
        transfer,
        examples,
        eval_seconds,
        strong_attacks: AttackId::strong(),
    };
    let path = out.join("summary.json");
    write_json_atomic(&path, &summary).with_context(|| format!("writing {}", path.display()))?;
    robustbench::write(out, &summary)?;
    Ok(summary)
}

/// A white-box cell of `attack` (a registry name or `worst-case`) at L∞ budget `eps` with
/// `accuracy` on 100 images, every other field zero or empty: the fixture of this module's
/// tests.
#[cfg(test)]
fn test_cell(attack: &str, eps: f64, accuracy: f64) -> AttackCell {
    AttackCell {
        attack: attack.parse().unwrap(),
        norm: Norm::Linf,
        eps,
        steps: None,
        images: 100,
        accuracy,
        success_rate: 0.0,
        mean_linf: 0.0,
        mean_l2: 0.0,
        mean_loss: 0.0,
        gradients: 0,
        queries: 0,
        seconds: 0.0,
    }
}

/// Unit `id` of `store`, which must be there.
pub(crate) fn need<T: serde::de::DeserializeOwned>(store: &CellStore, id: &str) -> Result<T> {
    store.load(id).with_context(|| {
        format!(
            "{} is missing: the run or one of its shards did not finish",
            store.path(id).display()
        )
    })
}
