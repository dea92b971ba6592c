//! The adversarial suite: white-box attacks over ε sweeps, black-box transfer between models,
//! and the gradient-masking checks, for every prepared model.
//!
//! Output, beside `suite.json` and `models/`:
//! - `summary.json`: [`AdversarialSummary`] (per model: clean accuracy, one cell per attack and
//!   ε, the checks; transfer cells; example index; timings);
//! - `records.jsonl` or `records.csv`: one [`SampleRecord`] per sample, attack and ε;
//! - `examples/`: PNGs of a few clean and adversarial images for the report;
//! - `cells/`: one file per finished unit (see [`super::cells`]), from which the summary and the
//!   records are assembled; a rerun skips the units found there.
//!
//! Every random draw of an attack is seeded by (run seed, attack, ε, sample index), and every
//! per-sample computation is independent of the other samples of its batch (inference mode), so
//! the numbers depend neither on `--eval-batch-size` nor on the thread count.

use super::cells::{owned, unit_id, write_shard_record, CellStore, RunInfo, Shard};
use super::{images_f32, PreparedModel};
use crate::data::Dataset;
use crate::util::{derive_seed, progress_bar, write_atomic, write_json_atomic};
use anyhow::{bail, Context, Result};
use dcrobust_attacks::{
    run_attack, AttackConfig, AttackKind, AttackOutcome, Batch, Norm, Oracle, Target,
};
use dcrobust_reports::{
    AdversarialSummary, AttackCell, Check, CheckStatus, ExampleImage, ModelAdversarial,
    SampleRecord, TransferCell,
};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Instant;

const SEED_ATTACK: u64 = 101;
const SEED_TRANSFER: u64 = 102;

/// Per-sample record file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum RecordFormat {
    /// JSON lines (`records.jsonl`).
    Jsonl,
    /// Comma-separated values with a header (`records.csv`).
    Csv,
}

/// What the adversarial suite evaluates.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdversarialConfig {
    /// White-box attacks, each over the ε sweep of its norm (Square: the headline L∞ ε only).
    pub attacks: Vec<AttackKind>,
    /// L∞ sweep.
    pub linf_eps: Vec<f64>,
    /// L2 sweep.
    pub l2_eps: Vec<f64>,
    /// L∞ budget of the headline table, the transfer attacks and the checks.
    pub headline_linf: f64,
    /// L2 budget of the headline table.
    pub headline_l2: f64,
    /// Attack parameters.
    pub attack: AttackConfig,
    /// Attacks crafted on each source model and evaluated on every other model (empty: none).
    pub transfer_attacks: Vec<AttackKind>,
    /// Source models of the transfer attacks, by name (`baseline`: every baseline model of the
    /// run); `None`: every model.
    pub transfer_from: Option<Vec<String>>,
    /// Test images evaluated (a class-balanced subset); `None`: the whole test split.
    pub eval_images: Option<usize>,
    /// Images per evaluation batch (does not change any number).
    #[serde(skip)]
    pub eval_batch_size: usize,
    /// Per-sample record format.
    pub records: RecordFormat,
    /// Test images saved as examples per model and attack.
    pub examples: usize,
}

impl AdversarialConfig {
    /// Checks every option before any work starts, naming the bad value.
    pub fn validate(&self, data: &Dataset) -> Result<()> {
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
        if self.attack.target != Target::Untargeted && data.classes.len() < 4 {
            bail!(
                "targeted attacks need at least 4 classes, the data has {}",
                data.classes.len()
            );
        }
        Ok(())
    }

    /// The ε values `kind` runs at.
    pub fn sweep(&self, kind: AttackKind) -> Vec<f64> {
        if kind == AttackKind::Square {
            return vec![self.headline_linf];
        }
        match kind.norm() {
            Norm::Linf => self.linf_eps.clone(),
            Norm::L2 => self.l2_eps.clone(),
        }
    }
}

/// A model's logits on every test image, computed once and shared by all cells.
struct CleanLogits {
    logits: Vec<f32>,
    classes: usize,
}

impl CleanLogits {
    fn compute(model: &PreparedModel, data: &Dataset, batch_size: usize) -> Result<Self> {
        let oracle = Oracle::new(&model.net);
        let n = data.test.len();
        let (mut logits, mut classes) = (Vec::new(), 0);
        let mut first = 0;
        while first < n {
            let end = (first + batch_size).min(n);
            let x = images_f32(data, &data.test, first..end);
            let (z, k) =
                oracle.logits(&x, [end - first, data.channels, data.height, data.width])?;
            logits.extend(z);
            classes = k;
            first = end;
        }
        Ok(CleanLogits { logits, classes })
    }

    fn accuracy(&self, labels: &[u32]) -> f64 {
        let p = dcrobust_attacks::ops::predictions(&self.logits, self.classes);
        p.iter().zip(labels).filter(|(a, b)| a == b).count() as f64 / labels.len().max(1) as f64
    }
}

/// Evaluates one attack at one ε on every image; returns the cell and the per-sample outcomes.
#[allow(clippy::too_many_arguments)]
fn attack_cell(
    model: &PreparedModel,
    data: &Dataset,
    kind: AttackKind,
    eps: f64,
    params: &AttackConfig,
    seed: u64,
    only_correct: bool,
    batch_size: usize,
    clean: &CleanLogits,
    bar: &indicatif::ProgressBar,
) -> Result<(AttackCell, Vec<AttackOutcome>)> {
    let attack = params.build(kind, eps)?;
    let oracle = Oracle::new(&model.net);
    let n = data.test.len();
    let shape = [0, data.channels, data.height, data.width];
    let batch_seed = derive_seed(seed, &[SEED_ATTACK, kind as u64, eps.to_bits()]);
    let start = Instant::now();
    let mut outcomes = Vec::new();
    let mut first = 0;
    while first < n {
        let end = (first + batch_size).min(n);
        let batch = Batch::new(
            images_f32(data, &data.test, first..end),
            [end - first, shape[1], shape[2], shape[3]],
            data.test.labels[first..end].to_vec(),
            (first as u64..end as u64).collect(),
            batch_seed,
        )?;
        let k = clean.classes;
        let z = &clean.logits[first * k..end * k];
        let out = run_attack(
            attack.as_ref(),
            params.target,
            only_correct,
            &oracle,
            &batch,
            Some((z, k)),
        )
        .with_context(|| format!("{} under {kind} at eps {eps}", model.name))?;
        bar.inc((end - first) as u64);
        outcomes.push(out);
        first = end;
    }
    let seconds = start.elapsed().as_secs_f64();
    let (mut correct, mut attacked, mut succ, mut linf, mut l2, mut loss) =
        (0usize, 0usize, 0usize, 0f64, 0f64, 0f64);
    let mut offset = 0;
    for o in &outcomes {
        for i in 0..o.adv_pred.len() {
            let label = data.test.labels[offset + i];
            correct += usize::from(o.adv_pred[i] == label);
            loss += f64::from(o.loss[i]);
            if o.attacked[i] {
                attacked += 1;
                succ += usize::from(o.success[i]);
                linf += f64::from(o.linf[i]);
                l2 += f64::from(o.l2[i]);
            }
        }
        offset += o.adv_pred.len();
    }
    let a = attacked.max(1) as f64;
    let steps = match kind {
        AttackKind::Pgd | AttackKind::PgdL2 => Some(params.steps),
        AttackKind::Bim => Some(params.bim_steps),
        AttackKind::Mifgsm => Some(params.mifgsm_steps),
        AttackKind::ApgdCe | AttackKind::ApgdDlr => Some(params.apgd_steps),
        AttackKind::CwL2 => Some(params.cw_steps * params.cw_search_steps),
        AttackKind::Square => Some(params.square_queries),
        AttackKind::Fgsm => Some(1),
    };
    Ok((
        AttackCell {
            attack: kind.name().to_string(),
            norm: kind.norm().name().to_string(),
            eps,
            steps,
            images: n,
            accuracy: correct as f64 / n.max(1) as f64,
            success_rate: succ as f64 / a,
            mean_linf: linf / a,
            mean_l2: l2 / a,
            mean_loss: loss / n.max(1) as f64,
            gradients: oracle.gradient_count(),
            queries: oracle.query_count(),
            seconds,
        },
        outcomes,
    ))
}

fn records_of(
    model: &str,
    source: Option<&str>,
    attack: AttackKind,
    eps: f64,
    data: &Dataset,
    outcomes: &[AttackOutcome],
    out: &mut Vec<SampleRecord>,
) {
    let mut index = 0;
    for o in outcomes {
        for i in 0..o.adv_pred.len() {
            out.push(SampleRecord {
                model: model.to_string(),
                attack: attack.name().to_string(),
                source: source.map(str::to_string),
                eps,
                index,
                label: data.test.labels[index],
                target: o.targets.as_ref().map(|t| t[i]),
                clean_pred: o.clean_pred[i],
                adv_pred: o.adv_pred[i],
                success: o.success[i],
                linf: o.linf[i],
                l2: o.l2[i],
                loss: o.loss[i],
            });
            index += 1;
        }
    }
}

/// Pass, warn or fail by how far `excess` (an accuracy above what it should be) goes, with one
/// sample of slack for pass and 2 % for warn.
fn grade(excess: f64, n: usize) -> CheckStatus {
    let one = 1.0 / n.max(1) as f64;
    if excess <= 1e-12 {
        CheckStatus::Pass
    } else if excess <= one + 1e-12 || excess <= 0.02 {
        CheckStatus::Warn
    } else {
        CheckStatus::Fail
    }
}

fn worst(statuses: impl IntoIterator<Item = CheckStatus>) -> CheckStatus {
    let mut w = CheckStatus::Pass;
    for s in statuses {
        w = match (w, s) {
            (CheckStatus::Fail, _) | (_, CheckStatus::Fail) => CheckStatus::Fail,
            (CheckStatus::Warn, _) | (_, CheckStatus::Warn) => CheckStatus::Warn,
            _ => CheckStatus::Pass,
        };
    }
    w
}

/// One check from per-comparison statuses and the rows that broke the rule (none run: `None`).
fn summarise(
    name: &str,
    status: Vec<CheckStatus>,
    rows: Vec<String>,
    ok: &str,
    why: &str,
) -> Option<Check> {
    (!status.is_empty()).then(|| Check {
        name: name.into(),
        status: worst(status),
        detail: if rows.is_empty() {
            ok.into()
        } else {
            format!("{why}{}", rows.join("; "))
        },
    })
}

fn find(cells: &[AttackCell], kind: AttackKind, eps: f64) -> Option<&AttackCell> {
    cells
        .iter()
        .find(|c| c.attack == kind.name() && c.eps == eps)
}

/// The gradient-masking and consistency checks of one model.
fn checks(m: &ModelAdversarial, cfg: &AdversarialConfig, n: usize, classes: usize) -> Vec<Check> {
    let mut out = Vec::new();
    // 1. At ε = 0 every attack must leave the clean accuracy exactly.
    let zero: Vec<&AttackCell> = m.cells.iter().filter(|c| c.eps == 0.0).collect();
    if !zero.is_empty() {
        let bad: Vec<String> = zero
            .iter()
            .filter(|c| c.accuracy != m.clean_accuracy)
            .map(|c| format!("{} {:.2}%", c.attack, 100.0 * c.accuracy))
            .collect();
        out.push(Check {
            name: "eps0-equals-clean".into(),
            status: if bad.is_empty() {
                CheckStatus::Pass
            } else {
                CheckStatus::Fail
            },
            detail: if bad.is_empty() {
                format!(
                    "every attack at eps 0 gives the clean accuracy {:.2}%",
                    100.0 * m.clean_accuracy
                )
            } else {
                format!(
                    "clean {:.2}% but at eps 0: {}",
                    100.0 * m.clean_accuracy,
                    bad.join(", ")
                )
            },
        });
    }
    // 2. PGD must do at least as well as FGSM at every L∞ ε.
    let mut rows = Vec::new();
    let mut status = Vec::new();
    for &e in &cfg.linf_eps {
        if let (Some(f), Some(p)) = (
            find(&m.cells, AttackKind::Fgsm, e),
            find(&m.cells, AttackKind::Pgd, e),
        ) {
            status.push(grade(p.accuracy - f.accuracy, n));
            if p.accuracy > f.accuracy {
                rows.push(format!(
                    "eps {e:.4}: PGD {:.2}% > FGSM {:.2}%",
                    100.0 * p.accuracy,
                    100.0 * f.accuracy
                ));
            }
        }
    }
    out.extend(summarise(
        "pgd-not-weaker-than-fgsm",
        status,
        rows,
        "PGD accuracy <= FGSM accuracy at every eps",
        "a multi-step attack weaker than one step points to noisy or masked gradients: ",
    ));
    // 3. Accuracy must not increase with ε.
    let mut rows = Vec::new();
    let mut status = Vec::new();
    for kind in &cfg.attacks {
        let mut cells: Vec<&AttackCell> =
            m.cells.iter().filter(|c| c.attack == kind.name()).collect();
        cells.sort_by(|a, b| a.eps.total_cmp(&b.eps));
        for w in cells.windows(2) {
            let excess = w[1].accuracy - w[0].accuracy;
            // A single step overshoots where the loss curves, so FGSM accuracy can rise with ε
            // on undefended models: worth a look, not a verdict.
            let s = grade(excess, n);
            status.push(if *kind == AttackKind::Fgsm && s == CheckStatus::Fail {
                CheckStatus::Warn
            } else {
                s
            });
            if excess > 0.0 {
                rows.push(format!(
                    "{} {:.2}% at eps {:.4} > {:.2}% at eps {:.4}",
                    kind,
                    100.0 * w[1].accuracy,
                    w[1].eps,
                    100.0 * w[0].accuracy,
                    w[0].eps
                ));
            }
        }
    }
    out.extend(summarise(
        "monotone-in-eps",
        status,
        rows,
        "accuracy never rises with eps",
        "",
    ));
    // 4. More PGD steps must not help the model.
    let few = m.check_cells.iter().find(|c| {
        c.attack == "pgd" && c.eps == cfg.headline_linf && c.steps != Some(cfg.attack.steps)
    });
    if let (Some(few), Some(full)) = (few, find(&m.cells, AttackKind::Pgd, cfg.headline_linf)) {
        let excess = full.accuracy - few.accuracy;
        out.push(Check {
            name: "monotone-in-steps".into(),
            status: grade(excess, n),
            detail: format!(
                "PGD at eps {:.4}: {} steps {:.2}%, {} steps {:.2}%",
                cfg.headline_linf,
                few.steps.unwrap_or(0),
                100.0 * few.accuracy,
                cfg.attack.steps,
                100.0 * full.accuracy
            ),
        });
    }
    // 5. An unbounded attack must reach chance or below.
    if let Some(u) = m
        .check_cells
        .iter()
        .find(|c| c.attack == "pgd" && c.eps == 1.0)
    {
        let chance = 1.0 / classes as f64;
        out.push(Check {
            name: "unbounded-pgd-reaches-chance".into(),
            status: grade(u.accuracy - chance, n),
            detail: format!(
                "PGD at eps 1 (any image reachable): {:.2}% (chance {:.2}%); more means the attack cannot follow the gradients",
                100.0 * u.accuracy,
                100.0 * chance
            ),
        });
    }
    // 6. Zero input gradients hide samples from gradient attacks.
    let share = m.zero_gradient_samples as f64 / n.max(1) as f64;
    out.push(Check {
        name: "zero-gradients".into(),
        status: if m.zero_gradient_samples == 0 {
            CheckStatus::Pass
        } else if share <= 0.1 {
            CheckStatus::Warn
        } else {
            CheckStatus::Fail
        },
        detail: format!(
            "{} of {n} samples have an all-zero input gradient of the loss at the clean image",
            m.zero_gradient_samples
        ),
    });
    // 7. A gradient-free attack must not beat the white-box ones.
    if let Some(sq) = find(&m.cells, AttackKind::Square, cfg.headline_linf) {
        let best = m
            .cells
            .iter()
            .filter(|c| c.norm == "linf" && c.eps == cfg.headline_linf && c.attack != "square")
            .map(|c| c.accuracy)
            .fold(f64::INFINITY, f64::min);
        if best.is_finite() {
            out.push(Check {
                name: "square-not-stronger-than-white-box".into(),
                status: grade(best - sq.accuracy, n),
                detail: format!(
                    "at eps {:.4}: Square {:.2}%, best white-box {:.2}%; a black-box attack that wins points to masked gradients",
                    cfg.headline_linf,
                    100.0 * sq.accuracy,
                    100.0 * best
                ),
            });
        }
    }
    out
}

/// Samples whose clean-image loss gradient is exactly zero.
fn zero_gradients(model: &PreparedModel, data: &Dataset, batch_size: usize) -> Result<usize> {
    let oracle = Oracle::new(&model.net);
    let n = data.test.len();
    let d = data.image_len();
    let mut count = 0;
    let mut first = 0;
    while first < n {
        let end = (first + batch_size).min(n);
        let batch = Batch::new(
            images_f32(data, &data.test, first..end),
            [end - first, data.channels, data.height, data.width],
            data.test.labels[first..end].to_vec(),
            (first as u64..end as u64).collect(),
            0,
        )?;
        let g = oracle.loss_grad(&batch.x, &batch, dcrobust_attacks::LossKind::CrossEntropy)?;
        count += g
            .grad
            .chunks(d)
            .filter(|s| s.iter().all(|&v| v == 0.0))
            .count();
        first = end;
    }
    Ok(count)
}

/// Writes an image (`C·H·W` values in [0, 1]) as PNG.
fn save_png(path: &Path, x: &[f32], c: usize, h: usize, w: usize) -> Result<()> {
    let bytes: Vec<u8> = x
        .iter()
        .map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8)
        .collect();
    super::save_png(path, &bytes, c, h, w)
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
        let pgd = cfg.attacks.contains(&AttackKind::Pgd);
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

    /// Units that shards split, in order (the model units are computed by every shard).
    fn sharded_units(&self) -> Vec<&str> {
        let mut v = Vec::new();
        for m in &self.models {
            v.extend(m.cells.iter().map(|c| c.2.as_str()));
            v.extend(m.checks.as_deref());
        }
        v.extend(self.transfers.iter().map(|t| t.2.as_str()));
        v
    }
}

/// The run's plan and what the summary needs besides the units: `cells/meta.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Meta {
    plan: Plan,
    #[serde(flatten)]
    run: RunInfo,
}

/// Clean logits of model `i`, computed on first use.
fn clean_of<'a>(
    cache: &'a mut [Option<CleanLogits>],
    i: usize,
    models: &[PreparedModel],
    data: &Dataset,
    batch_size: usize,
) -> Result<&'a CleanLogits> {
    if cache[i].is_none() {
        cache[i] = Some(CleanLogits::compute(&models[i], data, batch_size)?);
    }
    Ok(cache[i].as_ref().expect("computed above"))
}

/// Runs the suite on prepared models and writes its results into `out`.
///
/// `surrogates` are models trained only to craft transfer attacks: they are transfer sources and
/// are not evaluated themselves. Every finished unit is recorded in `out/cells/`, and units found
/// there are not computed again. With a shard only that shard's units
/// are evaluated, `shard.json` is written and `None` is returned; `dcrobust merge` assembles the
/// shards.
#[allow(clippy::too_many_arguments)]
pub fn run(
    models: &[PreparedModel],
    surrogates: &[PreparedModel],
    data: &Dataset,
    cfg: &AdversarialConfig,
    seed: u64,
    out: &Path,
    device: &str,
    threads: usize,
    train_seconds: f64,
    progress: bool,
    shard: Option<Shard>,
) -> Result<Option<AdversarialSummary>> {
    if let Some(from) = &cfg.transfer_from {
        for f in from.iter().filter(|f| *f != "baseline") {
            if !models.iter().any(|m| &m.name == f) {
                let names: Vec<&str> = models.iter().map(|m| m.name.as_str()).collect();
                bail!(
                    "--transfer-from names `{f}`, which is not a model of this run ({})",
                    names.join(", ")
                );
            }
        }
    }
    let n = data.test.len();
    let (c, h, w) = (data.channels, data.height, data.width);
    let store = CellStore::open(out)?;
    let plan = Plan::new(models, surrogates, cfg);
    store.save(
        "meta",
        &Meta {
            plan: plan.clone(),
            run: RunInfo::new(data, n, seed, device, threads, train_seconds),
        },
    )?;
    let ex_dir = out.join("examples");
    let ex_idx = super::example_indices(n, cfg.examples);
    if !ex_idx.is_empty() {
        std::fs::create_dir_all(&ex_dir)
            .with_context(|| format!("creating {}", ex_dir.display()))?;
        for &i in &ex_idx {
            save_png(
                &ex_dir.join(format!("clean-{i}.png")),
                &images_f32(data, &data.test, i..i + 1),
                c,
                h,
                w,
            )?;
        }
    }
    let order = plan.sharded_units();
    let todo = |id: &str| {
        let i = order.iter().position(|u| *u == id).expect("planned unit");
        owned(shard, i) && !store.path(id).exists()
    };
    let mut cleans: Vec<Option<CleanLogits>> = models.iter().map(|_| None).collect();
    for (mi, (model, pm)) in models.iter().zip(&plan.models).enumerate() {
        if store.load::<ModelUnit>(&pm.info).is_none() {
            let t = Instant::now();
            let clean = clean_of(&mut cleans, mi, models, data, cfg.eval_batch_size)?;
            let unit = ModelUnit {
                parameters: model.net.num_parameters(),
                adversarial_training: model.adversarial_training.clone(),
                clean_accuracy: clean.accuracy(&data.test.labels),
                zero_gradient_samples: zero_gradients(model, data, cfg.eval_batch_size)?,
                seconds: t.elapsed().as_secs_f64(),
            };
            store.save(&pm.info, &unit)?;
        }
        let cells_todo: Vec<_> = pm.cells.iter().filter(|c| todo(&c.2)).collect();
        let checks_todo = pm.checks.as_deref().filter(|id| todo(id));
        if cells_todo.is_empty() && checks_todo.is_none() {
            continue;
        }
        let total = (cells_todo.len() + 2 * usize::from(checks_todo.is_some())) * n;
        let pb = progress_bar(progress, total as u64, &model.name, "images");
        for (kind, eps, id) in cells_todo {
            let (kind, eps) = (*kind, *eps);
            pb.set_message(format!("{kind} eps {eps:.4}"));
            let clean = clean_of(&mut cleans, mi, models, data, cfg.eval_batch_size)?;
            let t = Instant::now();
            let (cell, outcomes) = attack_cell(
                model,
                data,
                kind,
                eps,
                &cfg.attack,
                seed,
                true,
                cfg.eval_batch_size,
                clean,
                &pb,
            )?;
            let mut records = Vec::new();
            records_of(&model.name, None, kind, eps, data, &outcomes, &mut records);
            let headline = match kind.norm() {
                Norm::Linf => cfg.headline_linf,
                Norm::L2 => cfg.headline_l2,
            };
            let examples = if eps == headline {
                cell_examples(out, model, kind, eps, data, &ex_idx, &outcomes)?
            } else {
                Vec::new()
            };
            store.finish(
                id,
                &CellUnit {
                    cell,
                    records,
                    examples,
                    seconds: t.elapsed().as_secs_f64(),
                },
            )?;
        }
        if let Some(id) = checks_todo {
            pb.set_message("checks");
            let clean = clean_of(&mut cleans, mi, models, data, cfg.eval_batch_size)?;
            let t = Instant::now();
            let few = AttackConfig {
                steps: (cfg.attack.steps / 4).max(1),
                ..cfg.attack.clone()
            };
            let mut check_cells = Vec::new();
            if few.steps != cfg.attack.steps {
                check_cells.push(
                    attack_cell(
                        model,
                        data,
                        AttackKind::Pgd,
                        cfg.headline_linf,
                        &few,
                        seed,
                        true,
                        cfg.eval_batch_size,
                        clean,
                        &pb,
                    )?
                    .0,
                );
            } else {
                pb.inc(n as u64);
            }
            check_cells.push(
                attack_cell(
                    model,
                    data,
                    AttackKind::Pgd,
                    1.0,
                    &cfg.attack,
                    seed,
                    true,
                    cfg.eval_batch_size,
                    clean,
                    &pb,
                )?
                .0,
            );
            store.finish(
                id,
                &ChecksUnit {
                    check_cells,
                    seconds: t.elapsed().as_secs_f64(),
                },
            )?;
        }
        pb.finish_and_clear();
    }
    for (source_name, kind, id) in &plan.transfers {
        if !todo(id) {
            continue;
        }
        let t = Instant::now();
        let mut targets = Vec::new();
        for (i, m) in models.iter().enumerate() {
            if &m.name != source_name {
                let c = clean_of(&mut cleans, i, models, data, cfg.eval_batch_size)?;
                targets.push((m, dcrobust_attacks::ops::predictions(&c.logits, c.classes)));
            }
        }
        // A source is a model of the run (its clean logits are cached) or a surrogate.
        let own;
        let (source, source_clean) = match models.iter().position(|m| &m.name == source_name) {
            Some(i) => (
                &models[i],
                clean_of(&mut cleans, i, models, data, cfg.eval_batch_size)?,
            ),
            None => {
                let s = surrogates
                    .iter()
                    .find(|m| &m.name == source_name)
                    .expect("planned source");
                own = CleanLogits::compute(s, data, cfg.eval_batch_size)?;
                (s, &own)
            }
        };
        let (cells, records) = transfer(
            source,
            source_clean,
            &targets,
            *kind,
            data,
            cfg,
            seed,
            progress,
        )?;
        store.finish(
            id,
            &TransferUnit {
                cells,
                records,
                seconds: t.elapsed().as_secs_f64(),
            },
        )?;
    }
    if let Some(shard) = shard {
        write_shard_record(out, shard, order.len())?;
        return Ok(None);
    }
    finish(out, cfg).map(Some)
}

/// Assembles the summary and the per-sample records of run directory `out` from its unit files,
/// writes `summary.json` and the records file, and prints one line per model.
pub fn finish(out: &Path, cfg: &AdversarialConfig) -> Result<AdversarialSummary> {
    let store = CellStore::existing(out)?;
    let meta: Meta = need(&store, "meta")?;
    let n = meta.run.images;
    let mut records = Vec::new();
    let mut examples = Vec::new();
    let mut eval_seconds = 0.0;
    let mut results = Vec::new();
    for pm in &meta.plan.models {
        let info: ModelUnit = need(&store, &pm.info)?;
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
        let mut m = ModelAdversarial {
            model: pm.name.clone(),
            parameters: info.parameters,
            adversarial_training: info.adversarial_training,
            clean_accuracy: info.clean_accuracy,
            zero_gradient_samples: info.zero_gradient_samples,
            cells,
            check_cells,
            checks: Vec::new(),
        };
        m.checks = checks(&m, cfg, n, meta.run.classes.len());
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
        seed: meta.run.seed,
        data: meta.run.data,
        images: n,
        classes: meta.run.classes,
        device: meta.run.device,
        threads: meta.run.threads,
        headline_linf: cfg.headline_linf,
        headline_l2: cfg.headline_l2,
        models: results,
        transfer,
        examples,
        train_seconds: meta.run.train_seconds,
        eval_seconds,
    };
    let path = out.join("summary.json");
    write_json_atomic(&path, &summary).with_context(|| format!("writing {}", path.display()))?;
    Ok(summary)
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

/// Saves the examples of one cell (adversarial image PNGs) and describes them.
fn cell_examples(
    out: &Path,
    model: &PreparedModel,
    kind: AttackKind,
    eps: f64,
    data: &Dataset,
    ex_idx: &[usize],
    outcomes: &[AttackOutcome],
) -> Result<Vec<ExampleImage>> {
    let (c, h, w) = (data.channels, data.height, data.width);
    let d = data.image_len();
    let class = |k: u32| {
        data.classes
            .get(k as usize)
            .cloned()
            .unwrap_or_else(|| k.to_string())
    };
    let mut examples = Vec::new();
    if ex_idx.is_empty() {
        return Ok(examples);
    }
    let dir = out.join("examples").join(&model.name);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    for &index in ex_idx {
        // The batch holding image `index`, and its place there.
        let (mut o, mut i) = (&outcomes[0], index);
        for b in outcomes {
            o = b;
            if i < b.adv_pred.len() {
                break;
            }
            i -= b.adv_pred.len();
        }
        let rel = format!("examples/{}/{}-{index}.png", model.name, kind.name());
        save_png(&out.join(&rel), &o.adv[i * d..(i + 1) * d], c, h, w)?;
        examples.push(ExampleImage {
            model: model.name.clone(),
            attack: kind.name().to_string(),
            eps,
            index,
            label: class(data.test.labels[index]),
            clean_pred: class(o.clean_pred[i]),
            adv_pred: class(o.adv_pred[i]),
            clean_png: format!("examples/clean-{index}.png"),
            adv_png: rel,
        });
    }
    Ok(examples)
}

/// One transfer attack crafted on `source` at the headline ε and evaluated on each target
/// (with its clean predictions); returns the cells and the per-sample records.
#[allow(clippy::too_many_arguments)]
fn transfer(
    source: &PreparedModel,
    source_clean: &CleanLogits,
    targets: &[(&PreparedModel, Vec<u32>)],
    kind: AttackKind,
    data: &Dataset,
    cfg: &AdversarialConfig,
    seed: u64,
    progress: bool,
) -> Result<(Vec<TransferCell>, Vec<SampleRecord>)> {
    let n = data.test.len();
    let eps = cfg.headline_linf;
    // Transfer examples are crafted on every sample and without early stopping: a point just
    // across the source's boundary transfers poorly.
    let params = AttackConfig {
        early_stop: false,
        ..cfg.attack.clone()
    };
    let mut cells = Vec::new();
    let mut records = Vec::new();
    let pb = progress_bar(
        progress,
        (n * (targets.len() + 1)) as u64,
        &format!("transfer from {}", source.name),
        "images",
    );
    pb.set_message(format!("{kind} eps {eps:.4}"));
    let (src_cell, outcomes) = attack_cell(
        source,
        data,
        kind,
        eps,
        &params,
        derive_seed(seed, &[SEED_TRANSFER]),
        false,
        cfg.eval_batch_size,
        source_clean,
        &pb,
    )?;
    for (target, clean_pred) in targets {
        let oracle = Oracle::new(&target.net);
        let mut correct = 0;
        let mut index = 0;
        for o in &outcomes {
            let k = o.adv_pred.len();
            let batch = Batch::new(
                images_f32(data, &data.test, index..index + k),
                [k, data.channels, data.height, data.width],
                data.test.labels[index..index + k].to_vec(),
                (index as u64..(index + k) as u64).collect(),
                0,
            )?;
            let (pred, loss) = dcrobust_attacks::run::predict(&oracle, &o.adv, &batch)?;
            for i in 0..k {
                let label = batch.labels[i];
                correct += usize::from(pred[i] == label);
                records.push(SampleRecord {
                    model: target.name.clone(),
                    attack: kind.name().to_string(),
                    source: Some(source.name.clone()),
                    eps,
                    index: index + i,
                    label,
                    target: None,
                    clean_pred: clean_pred[index + i],
                    adv_pred: pred[i],
                    success: pred[i] != label,
                    linf: o.linf[i],
                    l2: o.l2[i],
                    loss: loss[i],
                });
            }
            index += k;
            pb.inc(k as u64);
        }
        cells.push(TransferCell {
            source: source.name.clone(),
            target: target.name.clone(),
            attack: kind.name().to_string(),
            eps,
            accuracy: correct as f64 / n.max(1) as f64,
            source_accuracy: src_cell.accuracy,
        });
    }
    pb.finish_and_clear();
    Ok((cells, records))
}

/// Whether `name` is a source of transfer attacks: named in `--transfer-from`, or a baseline
/// model when the list says `baseline` (every model when the run has no baseline).
fn is_transfer_source(cfg: &AdversarialConfig, models: &[PreparedModel], name: &str) -> bool {
    match &cfg.transfer_from {
        None => true,
        Some(from) => from.iter().any(|f| {
            f == name
                || (f == "baseline"
                    && (name.ends_with("-baseline")
                        || !models.iter().any(|m| m.name.ends_with("-baseline"))))
        }),
    }
}

fn write_records(out: &Path, format: RecordFormat, records: &[SampleRecord]) -> Result<()> {
    let (name, bytes) = match format {
        RecordFormat::Jsonl => {
            let mut s = Vec::new();
            for r in records {
                serde_json::to_writer(&mut s, r)?;
                s.push(b'\n');
            }
            ("records.jsonl", s)
        }
        RecordFormat::Csv => {
            let mut s = String::from("model,attack,source,eps,index,label,target,clean_pred,adv_pred,success,linf,l2,loss\n");
            for r in records {
                s.push_str(&format!(
                    "{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
                    csv_field(&r.model),
                    r.attack,
                    r.source.as_deref().map(csv_field).unwrap_or_default(),
                    r.eps,
                    r.index,
                    r.label,
                    r.target.map(|t| t.to_string()).unwrap_or_default(),
                    r.clean_pred,
                    r.adv_pred,
                    r.success,
                    r.linf,
                    r.l2,
                    r.loss
                ));
            }
            ("records.csv", s.into_bytes())
        }
    };
    let path = out.join(name);
    write_atomic(&path, &bytes).with_context(|| format!("writing {}", path.display()))
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn model_line(m: &ModelAdversarial, cfg: &AdversarialConfig) -> String {
    let mut parts = vec![format!("clean {:.2}%", 100.0 * m.clean_accuracy)];
    for c in &m.cells {
        let headline = if c.norm == "linf" {
            cfg.headline_linf
        } else {
            cfg.headline_l2
        };
        if c.eps == headline {
            parts.push(format!("{} {:.2}%", c.attack, 100.0 * c.accuracy));
        }
    }
    let fails = m
        .checks
        .iter()
        .filter(|c| c.status != CheckStatus::Pass)
        .map(|c| c.name.as_str())
        .collect::<Vec<_>>();
    format!(
        "{}: {}; checks: {}",
        m.model,
        parts.join(", "),
        if fails.is_empty() {
            "all pass".to_string()
        } else {
            format!("see {}", fails.join(", "))
        }
    )
}

/// The headline table: clean and robust accuracy per model at the headline budgets.
pub fn print_table(s: &AdversarialSummary) {
    let mut attacks: Vec<String> = Vec::new();
    for m in &s.models {
        for c in &m.cells {
            let headline = if c.norm == "linf" {
                s.headline_linf
            } else {
                s.headline_l2
            };
            if c.eps == headline && !attacks.contains(&c.attack) {
                attacks.push(c.attack.clone());
            }
        }
    }
    let mut header = format!("{:<28} {:>8}", "model", "clean");
    for a in &attacks {
        header.push_str(&format!(" {:>9}", a));
    }
    header.push_str("  checks");
    println!("{header}");
    for m in &s.models {
        let mut line = format!("{:<28} {:>7.2}%", m.model, 100.0 * m.clean_accuracy);
        for a in &attacks {
            match m.cells.iter().find(|c| {
                &c.attack == a
                    && c.eps
                        == if c.norm == "linf" {
                            s.headline_linf
                        } else {
                            s.headline_l2
                        }
            }) {
                Some(c) => line.push_str(&format!(" {:>8.2}%", 100.0 * c.accuracy)),
                None => line.push_str(&format!(" {:>9}", "-")),
            }
        }
        let st = worst(m.checks.iter().map(|c| c.status));
        line.push_str(&format!(
            "  {}",
            match st {
                CheckStatus::Pass => "pass",
                CheckStatus::Warn => "warn",
                CheckStatus::Fail => "FAIL",
            }
        ));
        println!("{line}");
    }
    println!(
        "L-inf attacks at eps {:.4} ({}/255), L2 at {}; {} test images",
        s.headline_linf,
        (s.headline_linf * 255.0 * 100.0).round() / 100.0,
        s.headline_l2,
        s.images
    );
}
