//! The corruption suite: every model on every corruption × severity of the test set, plus
//! clean, with CIFAR-10-C's recipe (in process, from the run seed) or the released files.
//!
//! Output, beside `suite.json` and `models/`:
//! - `summary.json`: [`CorruptionSummary`] (per model: clean accuracy, one cell per corruption and
//!   severity, means per severity, corruption and category, CE, mCE and relative mCE with the
//!   baseline model at 100 %);
//! - `cells.csv`: the cells as a table;
//! - `examples/`: PNGs of a few test images at every corruption and severity;
//! - `cells/`: one file per finished unit (the clean pass, each corruption × severity), from
//!   which the summary is assembled; a rerun skips the units found there.
//!
//! Image `i` under corruption `c` at severity `s` is corrupted with the seed
//! `image_seed(run seed, c, s, i)`, so the corrupted set, and every number, is the same whatever
//! the thread count or evaluation batch size. Released files (`--cifar10c`) are read with
//! [`crate::data::cifar10c`], which also writes them for `dcrobust corrupt`.

use super::cells::{unit_id, CellStore, RunInfo};
use super::{run_suite, PreparedModel, RunContext, Suite, Unit};
use crate::data::cifar10c::{self, Released};
use crate::data::{Dataset, Split};
use crate::util::{write_atomic, write_json_atomic};
use anyhow::{bail, Context, Result};
use dcrobust_corruptions::{
    corrupt_images, Category, Corruption, CorruptionSpec, ImageShape, Severity, Table,
};
use dcrobust_reports::{CorruptionCell, CorruptionExample, CorruptionSummary, ModelCorruption};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What the corruption suite evaluates. Written into `suite.json` with corruptions by name,
/// severities as numbers and the table by name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct CorruptionConfig {
    /// Corruptions, in CIFAR-10-C order, each once.
    pub(crate) corruptions: Vec<Corruption>,
    /// Severities, ascending, each once.
    pub(crate) severities: Vec<Severity>,
    /// Severity table (ignored with `cifar10c`).
    pub(crate) table: Table,
    /// Evaluate on released CIFAR-10-C files in this directory instead of corrupting in process.
    pub(crate) cifar10c: Option<PathBuf>,
    /// Model whose errors normalise CE; `None`: the run's first baseline model
    /// ([`crate::suite::PreparedModel::is_baseline`]) without adversarial training.
    pub(crate) ce_baseline: Option<String>,
    /// Test images saved as examples per corruption and severity.
    pub(crate) examples: usize,
    /// Evaluate a class-balanced subset of this many test images (`None`: all).
    #[serde(default)]
    pub(crate) eval_images: Option<usize>,
    /// Images per evaluation batch (changes no number).
    #[serde(skip)]
    pub(crate) eval_batch_size: usize,
}

impl CorruptionConfig {
    /// Puts corruptions in CIFAR-10-C order and severities in ascending order, each once, and
    /// checks that neither list is empty and the batch size is positive.
    pub(crate) fn normalized(mut self) -> Result<Self> {
        self.corruptions.sort_by_key(|c| c.index());
        self.corruptions.dedup();
        if self.corruptions.is_empty() {
            bail!("--corruptions is empty; name at least one corruption");
        }
        self.severities = severities_in_order(&self.severities)?;
        if self.eval_batch_size == 0 {
            bail!("--eval-batch-size must be at least 1");
        }
        Ok(self)
    }

    /// Checks the options that name models (`--ce-baseline`) against the run's models.
    pub(crate) fn check_models(&self, names: &[String]) -> Result<()> {
        if let Some(b) = &self.ce_baseline {
            if !names.iter().any(|m| m == b) {
                bail!(
                    "--ce-baseline `{b}` is not a model of this run ({})",
                    names.join(", ")
                );
            }
        }
        Ok(())
    }
}

/// Accuracy of `model` on `images` (NCHW u8) with `labels`, and its predictions.
fn accuracy(
    model: &PreparedModel,
    data: &Dataset,
    images: Vec<u8>,
    labels: Vec<u32>,
    batch: usize,
) -> Result<(f64, Vec<u32>)> {
    let split = Split { images, labels };
    let preds = model.net.predict(data, &split, batch)?;
    let correct = preds
        .iter()
        .zip(&split.labels)
        .filter(|(a, b)| a == b)
        .count();
    Ok((correct as f64 / split.len().max(1) as f64, preds))
}

/// The summary metrics of one model from its cells (pure; see [`CorruptionSummary`]); the
/// arithmetic is [`dcrobust_reports::corruption::model_corruption`]'s, with this crate's main
/// corruptions and category order.
///
/// `baseline`: the baseline model's clean accuracy and cells, for CE.
fn model_metrics(
    model: &str,
    clean: f64,
    cells: Vec<CorruptionCell>,
    baseline: Option<(f64, &[CorruptionCell])>,
) -> ModelCorruption {
    let main = |name: &str| Corruption::MAIN.iter().any(|c| c.name() == name);
    let categories = [
        Category::Noise,
        Category::Blur,
        Category::Weather,
        Category::Digital,
    ]
    .map(Category::name);
    dcrobust_reports::corruption::model_corruption(model, clean, cells, baseline, main, &categories)
}

use super::save_png;

/// Unit of work: every model on the clean test images (accuracy, example predictions).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct CleanUnit {
    accuracy: Vec<f64>,
    /// Clean predictions per class, per model.
    #[serde(default)]
    prediction_counts: Vec<Vec<usize>>,
    examples: Vec<CorruptionExample>,
    seconds: f64,
}

/// Unit of work: one corruption at one severity, every model.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct CellUnit {
    /// One cell per model, in the run's model order.
    cells: Vec<CorruptionCell>,
    examples: Vec<CorruptionExample>,
    corrupt_seconds: f64,
    seconds: f64,
}

/// The run's units and what the summary needs besides them: `cells/meta.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Meta {
    models: Vec<String>,
    baseline: Option<String>,
    /// Unit ids: the clean unit, then one per corruption and severity.
    clean: String,
    cells: Vec<String>,
    source: String,
    #[serde(flatten)]
    run: RunInfo,
}

/// What a unit of the plan computes.
#[derive(Clone, Copy, Debug)]
enum Job {
    /// Every model on the uncorrupted images.
    Clean,
    /// Every model under one corruption at one severity.
    Cell(Corruption, Severity),
}

/// The corruption suite over prepared models, as a [`Suite`].
struct CorruptionSuite<'a> {
    models: &'a [PreparedModel],
    data: &'a Dataset,
    cfg: &'a CorruptionConfig,
    ctx: &'a RunContext,
    train_seconds: f64,
    /// Images evaluated per cell.
    n: usize,
    /// Their labels: the test split's, or the released files'.
    labels: Vec<u32>,
    /// The released CIFAR-10-C files, if evaluated instead of corrupting in process.
    released_dir: Option<PathBuf>,
    /// The severities of the released files' blocks, in block order (empty without them).
    released_severities: Vec<Severity>,
    /// The released file read last.
    released: Option<(Corruption, Released)>,
    jobs: HashMap<String, Job>,
    ex_idx: Vec<usize>,
    /// Per model, the clean accuracy and predictions computed while planning (to choose the
    /// examples), reused by the clean unit instead of a second pass.
    clean: Option<Vec<(f64, Vec<u32>)>>,
}

impl CorruptionSuite<'_> {
    /// Model `i`'s clean accuracy and predictions on the `n` evaluated test images.
    fn clean_pass(&self, i: usize) -> Result<(f64, Vec<u32>)> {
        if let Some(done) = self.clean.as_ref().and_then(|c| c.get(i)) {
            return Ok(done.clone());
        }
        let (data, n) = (self.data, self.n);
        let len = data.image_len();
        accuracy(
            &self.models[i],
            data,
            data.test.images[..n * len].to_vec(),
            data.test.labels[..n].to_vec(),
            self.cfg.eval_batch_size,
        )
    }

    /// Class name of label `k`.
    fn class(&self, k: u32) -> String {
        self.data
            .classes
            .get(k as usize)
            .cloned()
            .unwrap_or_else(|| k.to_string())
    }

    fn run_clean(&self, store: &CellStore, unit: &Unit) -> Result<()> {
        let (models, data) = (self.models, self.data);
        let (c, h, w) = (data.channels, data.height, data.width);
        let len = data.image_len();
        let out = self.ctx.out.clone();
        let ex_idx = self.ex_idx.clone();
        let class = |k: u32| self.class(k);
        let t = Instant::now();
        let mut accuracy_all = Vec::new();
        let mut counts_all = Vec::new();
        let mut examples: Vec<CorruptionExample> = Vec::new();
        for (mi, model) in models.iter().enumerate() {
            let (acc, preds) = self.clean_pass(mi)?;
            accuracy_all.push(acc);
            counts_all.push(dcrobust_reports::degenerate::prediction_counts(
                preds.iter().map(|&p| p as usize),
                data.classes.len(),
            ));
            for (j, &i) in ex_idx.iter().enumerate() {
                if examples.len() < ex_idx.len() {
                    let rel = format!("examples/clean-{i}.png");
                    save_png(
                        &out.join(&rel),
                        &data.test.images[i * len..(i + 1) * len],
                        c,
                        h,
                        w,
                    )?;
                    examples.push(CorruptionExample {
                        corruption: "clean".into(),
                        severity: 0,
                        index: i,
                        label: class(data.test.labels[i]),
                        png: rel,
                        predictions: Vec::new(),
                    });
                }
                examples[j]
                    .predictions
                    .push((model.name.clone(), class(preds[i])));
            }
        }
        store.finish(
            &unit.id,
            &CleanUnit {
                accuracy: accuracy_all,
                prediction_counts: counts_all,
                examples,
                seconds: t.elapsed().as_secs_f64(),
            },
        )?;
        Ok(())
    }

    /// The `n` evaluated images under `corr` at `sev` and their labels: the released files'
    /// block of that severity (read once per corruption), or the test images corrupted here.
    fn cell_images(&mut self, corr: Corruption, sev: Severity) -> Result<(Vec<u8>, Vec<u32>)> {
        let (data, n) = (self.data, self.n);
        let len = data.image_len();
        if let Some(dir) = &self.released_dir {
            if self.released.as_ref().map(|r| r.0) != Some(corr) {
                let held = &self.released_severities;
                self.released = Some((
                    corr,
                    cifar10c::read_released(dir, corr, held, data, &self.labels)?,
                ));
            }
        }
        if let Some((_, r)) = &self.released {
            let first = r.first(sev)?;
            return Ok((
                r.images[first * len..(first + n) * len].to_vec(),
                self.labels[first..first + n].to_vec(),
            ));
        }
        let shape = ImageShape {
            channels: data.channels,
            height: data.height,
            width: data.width,
        };
        let spec = CorruptionSpec {
            corruption: corr,
            severity: sev,
            table: self.cfg.table,
        };
        let images = corrupt_images(
            &data.test.images[..n * len],
            n,
            shape,
            spec,
            self.ctx.seed,
            0,
        )
        .with_context(|| format!("corrupting with {} at severity {sev}", corr.name()))?;
        Ok((images, data.test.labels[..n].to_vec()))
    }

    fn run_cell(
        &mut self,
        store: &CellStore,
        unit: &Unit,
        (corr, sev): (Corruption, Severity),
        pb: &indicatif::ProgressBar,
    ) -> Result<()> {
        let (models, data, cfg) = (self.models, self.data, self.cfg);
        let (c, h, w) = (data.channels, data.height, data.width);
        let len = data.image_len();
        let out = self.ctx.out.clone();
        let ex_idx = self.ex_idx.clone();
        pb.set_message(format!("{} severity {sev}", corr.name()));
        let t_unit = Instant::now();
        let t = Instant::now();
        let (images, cell_labels) = self.cell_images(corr, sev)?;
        let corrupt_seconds = t.elapsed().as_secs_f64();
        let mut cells = Vec::new();
        let mut preds_per_model = Vec::new();
        for m in models {
            let (acc, preds) = accuracy(
                m,
                data,
                images.clone(),
                cell_labels.clone(),
                cfg.eval_batch_size,
            )?;
            cells.push(CorruptionCell {
                corruption: corr.name().to_string(),
                category: corr.category().name().to_string(),
                severity: sev.get(),
                accuracy: acc,
            });
            preds_per_model.push(preds);
        }
        let mut examples = Vec::new();
        for &i in &ex_idx {
            let rel = format!("examples/{}-s{}-{i}.png", corr.name(), sev.get());
            save_png(&out.join(&rel), &images[i * len..(i + 1) * len], c, h, w)?;
            examples.push(CorruptionExample {
                corruption: corr.name().to_string(),
                severity: sev.get(),
                index: i,
                label: self.class(cell_labels[i]),
                png: rel,
                predictions: models
                    .iter()
                    .zip(&preds_per_model)
                    .map(|(m, p)| (m.name.clone(), self.class(p[i])))
                    .collect(),
            });
        }
        store.finish(
            &unit.id,
            &CellUnit {
                cells,
                examples,
                corrupt_seconds,
                seconds: t_unit.elapsed().as_secs_f64(),
            },
        )?;
        pb.inc(1);
        Ok(())
    }
}

impl Suite for CorruptionSuite<'_> {
    type Summary = CorruptionSummary;

    fn plan(&mut self, store: &CellStore) -> Result<Vec<Unit>> {
        let (models, data, cfg, n) = (self.models, self.data, self.cfg, self.n);
        if cfg.examples > 0 {
            // Examples among the images every model classifies correctly.
            let mut correct = vec![true; n];
            let mut passes = Vec::with_capacity(models.len());
            for mi in 0..models.len() {
                let (acc, preds) = self.clean_pass(mi)?;
                for (ok, (p, l)) in correct.iter_mut().zip(preds.iter().zip(&data.test.labels)) {
                    *ok &= p == l;
                }
                passes.push((acc, preds));
            }
            self.clean = Some(passes);
            self.ex_idx = super::example_indices_where(n, cfg.examples, |i| correct[i]);
        }
        let baseline_name = match &cfg.ce_baseline {
            Some(b) => Some(b.clone()),
            None => models
                .iter()
                .find(|m| m.is_baseline() && m.adversarial_training.is_none())
                .map(|m| m.name.clone()),
        };
        let mut units = vec![Unit {
            id: "clean".into(),
            every_shard: false,
        }];
        self.jobs.insert("clean".into(), Job::Clean);
        for &corr in &cfg.corruptions {
            for &sev in &cfg.severities {
                let id = unit_id(&["corruption", corr.name(), &sev.get().to_string()]);
                self.jobs.insert(id.clone(), Job::Cell(corr, sev));
                units.push(Unit {
                    id,
                    every_shard: false,
                });
            }
        }
        let meta = Meta {
            models: models.iter().map(|m| m.name.clone()).collect(),
            baseline: baseline_name,
            clean: "clean".into(),
            cells: units[1..].iter().map(|u| u.id.clone()).collect(),
            source: match &self.released_dir {
                Some(d) => d.display().to_string(),
                None => cfg.table.name().to_string(),
            },
            run: super::cells::run_info(
                data,
                n,
                self.ctx.seed,
                &self.ctx.device,
                self.ctx.threads,
                self.train_seconds,
                self.models.iter().map(|m| m.origin.clone()).collect(),
            ),
        };
        store.save("meta", &meta)?;
        let ex_dir = self.ctx.out.join("examples");
        if !self.ex_idx.is_empty() {
            std::fs::create_dir_all(&ex_dir)
                .with_context(|| format!("creating {}", ex_dir.display()))?;
        }
        Ok(units)
    }

    fn work(&self, _unit: &Unit) -> u64 {
        1
    }

    fn run_unit(
        &mut self,
        store: &CellStore,
        unit: &Unit,
        bar: &indicatif::ProgressBar,
    ) -> Result<()> {
        match self.jobs[&unit.id] {
            Job::Clean => {
                bar.set_message("clean");
                self.run_clean(store, unit)?;
                bar.inc(1);
                Ok(())
            }
            Job::Cell(corr, sev) => self.run_cell(store, unit, (corr, sev), bar),
        }
    }

    fn assemble(&self, out: &Path) -> Result<CorruptionSummary> {
        finish(out)
    }
}

/// Runs the suite on prepared models and writes its results into `ctx.out`.
///
/// Every finished unit (the clean pass, each corruption × severity) is recorded in `out/cells/`
/// and not computed again by a rerun. With a shard only that shard's units are evaluated,
/// `shard.json` is written and `None` is returned.
pub(crate) fn run(
    models: &[PreparedModel],
    data: &Dataset,
    cfg: &CorruptionConfig,
    ctx: &RunContext,
    train_seconds: f64,
) -> Result<Option<CorruptionSummary>> {
    let names: Vec<String> = models.iter().map(|m| m.name.clone()).collect();
    cfg.check_models(&names)?;
    // The evaluated images and labels: the test split, or the released files' first blocks.
    let (labels, released_dir, released_severities) = match &cfg.cifar10c {
        Some(dir) => {
            let (l, held) = cifar10c::read_labels(dir)?;
            (l, Some(dir.clone()), held)
        }
        None => (data.test.labels.clone(), None, Vec::new()),
    };
    let n = match &released_dir {
        Some(_) => (labels.len() / released_severities.len()).min(data.test.len()),
        None => data.test.len(),
    };
    let mut suite = CorruptionSuite {
        models,
        data,
        cfg,
        ctx,
        train_seconds,
        n,
        labels,
        released_dir,
        released_severities,
        released: None,
        jobs: HashMap::new(),
        ex_idx: super::example_indices(n, cfg.examples),
        clean: None,
    };
    run_suite(&mut suite, ctx, "corruptions", "cells")
}

/// Assembles the summary of run directory `out` from its unit files and writes `summary.json`
/// and `cells.csv`.
pub(crate) fn finish(out: &Path) -> Result<CorruptionSummary> {
    use super::adversarial::need;
    let store = CellStore::existing(out)?;
    let meta: Meta = need(&store, "meta")?;
    let clean: CleanUnit = need(&store, &meta.clean)?;
    let mut eval_seconds = clean.seconds;
    let mut corrupt_seconds = 0.0;
    let mut examples = clean.examples;
    let mut cells: Vec<Vec<CorruptionCell>> = vec![Vec::new(); meta.models.len()];
    for id in &meta.cells {
        let u: CellUnit = need(&store, id)?;
        if u.cells.len() != meta.models.len() {
            bail!(
                "{} holds {} models, the run has {}",
                store.path(id).display(),
                u.cells.len(),
                meta.models.len()
            );
        }
        eval_seconds += u.seconds - u.corrupt_seconds;
        corrupt_seconds += u.corrupt_seconds;
        for (k, cell) in u.cells.into_iter().enumerate() {
            cells[k].push(cell);
        }
        examples.extend(u.examples);
    }
    let base_idx = meta
        .baseline
        .as_ref()
        .and_then(|b| meta.models.iter().position(|m| m == b));
    let base_cells = base_idx.map(|i| (clean.accuracy[i], cells[i].clone()));
    let results: Vec<ModelCorruption> = meta
        .models
        .iter()
        .zip(cells)
        .zip(&clean.accuracy)
        .enumerate()
        .map(|(i, ((m, cs), &cl))| {
            let mut r = model_metrics(
                m,
                cl,
                cs,
                base_cells.as_ref().map(|(c, v)| (*c, v.as_slice())),
            );
            r.prediction_counts = clean.prediction_counts.get(i).cloned().unwrap_or_default();
            r.checks = dcrobust_reports::degenerate::prediction_checks(
                &r.prediction_counts,
                r.clean_accuracy,
            );
            r
        })
        .collect();
    write_cells_csv(out, &results)?;
    let summary = CorruptionSummary {
        version: env!("CARGO_PKG_VERSION").to_string(),
        run: meta.run,
        source: meta.source,
        baseline: meta.baseline,
        models: results,
        examples,
        corrupt_seconds,
        eval_seconds,
    };
    let path = out.join("summary.json");
    write_json_atomic(&path, &summary).with_context(|| format!("writing {}", path.display()))?;
    Ok(summary)
}

fn write_cells_csv(out: &Path, results: &[ModelCorruption]) -> Result<()> {
    /// One line of `cells.csv`.
    #[derive(Serialize)]
    struct Row<'a> {
        model: &'a str,
        corruption: &'a str,
        category: &'a str,
        severity: u8,
        accuracy: f64,
    }
    let rows = results.iter().flat_map(|m| {
        m.cells.iter().map(|c| Row {
            model: &m.model,
            corruption: &c.corruption,
            category: &c.category,
            severity: c.severity,
            accuracy: c.accuracy,
        })
    });
    let bytes = dcrobust_reports::write_csv(rows).context("writing the cells as CSV")?;
    let path = out.join("cells.csv");
    write_atomic(&path, &bytes).with_context(|| format!("writing {}", path.display()))
}

/// The headline table: clean, mean corruption accuracy, per category, mCE.
pub(crate) fn print_table(s: &CorruptionSummary) {
    println!(
        "{:<28} {:>8} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8} {:>9}",
        "model", "clean", "corrupt", "noise", "blur", "weather", "digital", "mCE", "rel. mCE"
    );
    for m in &s.models {
        let cat = |n: &str| {
            m.per_category
                .iter()
                .find(|c| c.name == n)
                .map(|c| format!("{:.2}%", 100.0 * c.accuracy))
                .unwrap_or_else(|| "-".into())
        };
        let pct = |v: Option<f64>, scale: f64| {
            v.map(|v| format!("{:.1}%", scale * v))
                .unwrap_or_else(|| "-".into())
        };
        println!(
            "{:<28} {:>7.2}% {:>9} {:>8} {:>8} {:>8} {:>8} {:>8} {:>9}",
            m.model,
            100.0 * m.clean_accuracy,
            pct(m.mean_corruption_accuracy, 100.0),
            cat("noise"),
            cat("blur"),
            cat("weather"),
            cat("digital"),
            pct(m.mce, 1.0),
            pct(m.relative_mce, 1.0)
        );
    }
    println!(
        "{} test images per cell; corruption accuracy and categories average the 15 main corruptions; CE normalised by {}",
        s.run.images,
        s.baseline.as_deref().unwrap_or("(no baseline model: CE not computed)")
    );
}

/// `severities` in ascending order, each once; an error if there are none.
pub(crate) fn severities_in_order(severities: &[Severity]) -> Result<Vec<Severity>> {
    let mut out = severities.to_vec();
    out.sort();
    out.dedup();
    if out.is_empty() {
        bail!("--severities is empty; name at least one of 1 to 5");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dcrobust_reports::NamedAccuracy;

    fn cell(c: &str, s: u8, a: f64) -> CorruptionCell {
        let cat = c
            .parse::<Corruption>()
            .unwrap()
            .category()
            .name()
            .to_string();
        CorruptionCell {
            corruption: c.into(),
            category: cat,
            severity: s,
            accuracy: a,
        }
    }

    /// Oracle: CE and relative CE by hand (Hendrycks & Dietterich 2019,
    /// docs/corruptions.md#metrics).
    /// Baseline clean 0.9, gaussian_noise accuracies 0.8 and 0.6 → errors 0.2 + 0.4 = 0.6; model
    /// clean 0.95, accuracies 0.9 and 0.7 → errors 0.1 + 0.3 = 0.4. CE = 0.4 / 0.6 = 66.67 %;
    /// relative CE = (0.4 − 2·0.05) / (0.6 − 2·0.1) = 0.3 / 0.4 = 75 %. The baseline's own CE is
    /// 100 %. speckle_noise is not a main corruption and stays out of CE and the category mean.
    #[test]
    fn ce_and_relative_ce_by_hand() {
        let base = vec![
            cell("gaussian_noise", 1, 0.8),
            cell("gaussian_noise", 2, 0.6),
            cell("speckle_noise", 1, 0.1),
        ];
        let mine = vec![
            cell("gaussian_noise", 1, 0.9),
            cell("gaussian_noise", 2, 0.7),
            cell("speckle_noise", 1, 0.2),
        ];
        let m = model_metrics("m", 0.95, mine, Some((0.9, &base)));
        assert!((m.mce.unwrap() - 200.0 / 3.0).abs() < 1e-9, "{:?}", m.mce);
        assert!((m.relative_mce.unwrap() - 75.0).abs() < 1e-9);
        assert_eq!(m.corruption_errors.len(), 1);
        assert_eq!(
            m.per_category,
            vec![NamedAccuracy {
                name: "noise".into(),
                accuracy: 0.8
            }]
        );
        assert_eq!(m.per_severity[0], Some(0.9));
        assert!((m.mean_corruption_accuracy.unwrap() - 0.8).abs() < 1e-12);
        assert_eq!(m.per_corruption.len(), 2);
        let b = model_metrics("b", 0.9, base.clone(), Some((0.9, &base)));
        assert!(
            (b.mce.unwrap() - 100.0).abs() < 1e-9 && (b.relative_mce.unwrap() - 100.0).abs() < 1e-9
        );
        let none = model_metrics("m", 0.9, base.clone(), None);
        assert!(none.mce.is_none() && none.corruption_errors.is_empty());
    }

    /// Oracle: the option grammar — corruptions come out in CIFAR-10-C order and severities
    /// ascending, each once; empty lists, and severities 0 and 6, are refused by name.
    #[test]
    fn options_are_normalised_and_bad_ones_named() {
        let c = CorruptionConfig {
            corruptions: vec![Corruption::Fog, Corruption::GaussianNoise, Corruption::Fog],
            severities: vec![Severity::ALL[2], Severity::ALL[0]],
            table: Table::Cifar10C,
            cifar10c: None,
            ce_baseline: Some("cnn9-baseline".into()),
            examples: 0,
            eval_images: None,
            eval_batch_size: 10,
        }
        .normalized()
        .unwrap();
        assert_eq!(
            c.corruptions,
            vec![Corruption::GaussianNoise, Corruption::Fog]
        );
        assert_eq!(
            c.severities.iter().map(|s| s.get()).collect::<Vec<_>>(),
            vec![1, 3]
        );
        let e = c.check_models(&["cnn9-tanh-cosine".into()]).unwrap_err();
        assert!(
            e.to_string().contains("--ce-baseline `cnn9-baseline`"),
            "{e}"
        );
        let mut empty = c.clone();
        empty.corruptions.clear();
        assert!(empty
            .normalized()
            .unwrap_err()
            .to_string()
            .contains("--corruptions is empty"));
        assert!("fogg"
            .parse::<Corruption>()
            .unwrap_err()
            .to_string()
            .contains("fogg"));
        assert!("0"
            .parse::<Severity>()
            .unwrap_err()
            .contains("severity 0 is out of range"));
        assert!("6".parse::<Severity>().unwrap_err().contains("severity 6"));
        // suite.json keeps the names and numbers it had with untyped options.
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(
            json["corruptions"],
            serde_json::json!(["gaussian_noise", "fog"])
        );
        assert_eq!(json["severities"], serde_json::json!([1, 3]));
        assert_eq!(json["table"], serde_json::json!("cifar10-c"));
        let back: CorruptionConfig = serde_json::from_value(json).unwrap();
        assert_eq!(back.corruptions, c.corruptions);
    }
}
