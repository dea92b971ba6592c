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
//! the thread count or evaluation batch size.

use super::cells::{owned, unit_id, write_shard_record, CellStore, RunInfo, Shard};
use super::PreparedModel;
use crate::data::{npy, Dataset, Split};
use crate::util::{write_atomic, write_json_atomic};
use anyhow::{bail, Context, Result};
use dcrobust_corruptions::{corrupt_batch, Category, Corruption, Severity, Table};
use dcrobust_reports::{
    CorruptionCell, CorruptionExample, CorruptionSummary, ModelCorruption, NamedAccuracy,
};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What the corruption suite evaluates.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CorruptionConfig {
    /// Corruption names, in CIFAR-10-C order.
    pub corruptions: Vec<String>,
    /// Severities, 1 to 5.
    pub severities: Vec<u8>,
    /// `cifar10-c` or `imagenet-c` (ignored with `cifar10c`).
    pub table: String,
    /// Evaluate on released CIFAR-10-C files in this directory instead of corrupting in process.
    pub cifar10c: Option<PathBuf>,
    /// Model whose errors normalise CE; `None`: the first baseline model of the run.
    pub ce_baseline: Option<String>,
    /// Test images saved as examples per corruption and severity.
    pub examples: usize,
    /// Images per evaluation batch (changes no number).
    #[serde(skip)]
    pub eval_batch_size: usize,
}

impl CorruptionConfig {
    /// The parsed corruptions, severities and table; errors name the bad value.
    pub fn parsed(&self) -> Result<(Vec<Corruption>, Vec<Severity>, Table)> {
        let mut cs = Vec::new();
        for name in &self.corruptions {
            let c: Corruption = name
                .parse()
                .map_err(|e| anyhow::anyhow!("--corruptions: {e}"))?;
            if !cs.contains(&c) {
                cs.push(c);
            }
        }
        if cs.is_empty() {
            bail!("--corruptions is empty; name at least one corruption");
        }
        cs.sort_by_key(|c| c.index());
        let mut ss = Vec::new();
        for &s in &self.severities {
            let s = Severity::try_from(i64::from(s))
                .map_err(|e| anyhow::anyhow!("--severities: {e}"))?;
            if !ss.contains(&s) {
                ss.push(s);
            }
        }
        if ss.is_empty() {
            bail!("--severities is empty; name at least one of 1 to 5");
        }
        ss.sort();
        let table = match self.table.as_str() {
            "cifar10-c" => Table::Cifar10C,
            "imagenet-c" => Table::ImageNetC,
            t => bail!("--table `{t}` is unknown; expected cifar10-c or imagenet-c"),
        };
        if self.eval_batch_size == 0 {
            bail!("--eval-batch-size must be at least 1");
        }
        Ok((cs, ss, table))
    }
}

/// Parses a severity list such as `1,2,3` (each 1 to 5).
pub fn parse_severity(s: &str) -> std::result::Result<u8, String> {
    let v: i64 = s
        .trim()
        .parse()
        .map_err(|_| format!("severity `{s}` is not a whole number"))?;
    Severity::try_from(v)
        .map(|s| s.get())
        .map_err(|e| e.to_string())
}

/// The released files of one corruption, in our NCHW layout, severity-major, with their labels.
struct Released {
    images: Vec<u8>,
    per_severity: usize,
}

fn read_released(dir: &Path, c: Corruption, data: &Dataset, labels: &[u32]) -> Result<Released> {
    let path = dir.join(format!("{}.npy", c.name()));
    let a = npy::read(&path)?;
    if a.descr != "|u1" && a.descr != "<u1" {
        bail!("{}: dtype {} is not uint8", path.display(), a.descr);
    }
    let (n, h, w, ch) = match a.shape[..] {
        [n, h, w, ch] => (n, h, w, ch),
        [n, h, w] => (n, h, w, 1),
        _ => bail!(
            "{}: shape {:?} is not N x H x W x C",
            path.display(),
            a.shape
        ),
    };
    if (ch, h, w) != (data.channels, data.height, data.width) {
        bail!(
            "{}: images are {h}x{w}x{ch}, the data set's are {}x{}x{}",
            path.display(),
            data.height,
            data.width,
            data.channels
        );
    }
    if n != labels.len() || n % 5 != 0 {
        bail!(
            "{}: {n} images, but labels.npy has {} labels; expected the same count, five severity blocks",
            path.display(),
            labels.len()
        );
    }
    // HWC → CHW.
    let mut images = vec![0u8; a.data.len()];
    let per = h * w * ch;
    for i in 0..n {
        let src = &a.data[i * per..(i + 1) * per];
        let dst = &mut images[i * per..(i + 1) * per];
        for y in 0..h {
            for x in 0..w {
                for k in 0..ch {
                    dst[(k * h + y) * w + x] = src[(y * w + x) * ch + k];
                }
            }
        }
    }
    Ok(Released {
        images,
        per_severity: n / 5,
    })
}

/// Checks the released files a run will read (headers and lengths only), before any training:
/// `labels.npy` and one uint8 `N x H x W x C` file per corruption, N = the label count.
pub fn check_released(dir: &Path, corruptions: &[String], data: &Dataset) -> Result<()> {
    let (lshape, _) = npy::check(&dir.join("labels.npy"))?;
    let n = lshape.iter().product::<usize>();
    if n == 0 || n % 5 != 0 {
        bail!(
            "{}: {n} labels; expected five equal severity blocks",
            dir.join("labels.npy").display()
        );
    }
    for c in corruptions {
        let path = dir.join(format!("{c}.npy"));
        let (shape, descr) = npy::check(&path)?;
        let want4 = [n, data.height, data.width, data.channels];
        let ok = descr.ends_with("u1")
            && (shape == want4 || (data.channels == 1 && shape == want4[..3]));
        if !ok {
            bail!(
                "{}: {descr} array of shape {shape:?}; expected uint8 of shape {want4:?} to match labels.npy and the data set",
                path.display()
            );
        }
    }
    Ok(())
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
    let preds = crate::train::predict(&model.net, data, &split, batch)?;
    let correct = preds
        .iter()
        .zip(&split.labels)
        .filter(|(a, b)| a == b)
        .count();
    Ok((correct as f64 / split.len().max(1) as f64, preds))
}

/// The summary metrics of one model from its cells (pure; see [`CorruptionSummary`]).
///
/// `baseline`: the baseline model's clean accuracy and cells, for CE.
pub fn model_metrics(
    model: &str,
    clean: f64,
    cells: Vec<CorruptionCell>,
    baseline: Option<(f64, &[CorruptionCell])>,
) -> ModelCorruption {
    let main = |name: &str| {
        name.parse::<Corruption>()
            .map(|c| c.is_main())
            .unwrap_or(false)
    };
    let mean = |v: &[f64]| {
        if v.is_empty() {
            None
        } else {
            Some(v.iter().sum::<f64>() / v.len() as f64)
        }
    };
    let per_severity = (1..=5u8)
        .map(|s| {
            let v: Vec<f64> = cells
                .iter()
                .filter(|c| c.severity == s && main(&c.corruption))
                .map(|c| c.accuracy)
                .collect();
            mean(&v)
        })
        .collect();
    let mut names: Vec<String> = Vec::new();
    for c in &cells {
        if !names.contains(&c.corruption) {
            names.push(c.corruption.clone());
        }
    }
    let per_corruption: Vec<NamedAccuracy> = names
        .iter()
        .filter_map(|n| {
            let v: Vec<f64> = cells
                .iter()
                .filter(|c| &c.corruption == n)
                .map(|c| c.accuracy)
                .collect();
            mean(&v).map(|a| NamedAccuracy {
                name: n.clone(),
                accuracy: a,
            })
        })
        .collect();
    let per_category = [
        Category::Noise,
        Category::Blur,
        Category::Weather,
        Category::Digital,
    ]
    .iter()
    .filter_map(|cat| {
        let v: Vec<f64> = cells
            .iter()
            .filter(|c| c.category == cat.name() && main(&c.corruption))
            .map(|c| c.accuracy)
            .collect();
        mean(&v).map(|a| NamedAccuracy {
            name: cat.name().to_string(),
            accuracy: a,
        })
    })
    .collect();
    let all_main: Vec<f64> = cells
        .iter()
        .filter(|c| main(&c.corruption))
        .map(|c| c.accuracy)
        .collect();
    let mut errors = Vec::new();
    if let Some((b_clean, b_cells)) = baseline {
        for n in names.iter().filter(|n| main(n)) {
            let mine: Vec<&CorruptionCell> = cells.iter().filter(|c| &c.corruption == n).collect();
            let theirs: Vec<&CorruptionCell> = mine
                .iter()
                .filter_map(|m| {
                    b_cells
                        .iter()
                        .find(|b| b.corruption == m.corruption && b.severity == m.severity)
                })
                .collect();
            if theirs.len() != mine.len() || mine.is_empty() {
                continue;
            }
            let e_f: f64 = mine.iter().map(|c| 1.0 - c.accuracy).sum();
            let e_b: f64 = theirs.iter().map(|c| 1.0 - c.accuracy).sum();
            let s = mine.len() as f64;
            let rel_b = e_b - s * (1.0 - b_clean);
            errors.push(dcrobust_reports::corruption::CorruptionError {
                corruption: n.clone(),
                ce: if e_b > 0.0 {
                    100.0 * e_f / e_b
                } else {
                    f64::NAN
                },
                relative_ce: (rel_b > 1e-12).then(|| 100.0 * (e_f - s * (1.0 - clean)) / rel_b),
            });
        }
    }
    let ces: Vec<f64> = errors
        .iter()
        .map(|e| e.ce)
        .filter(|v| v.is_finite())
        .collect();
    let rels: Vec<f64> = errors.iter().filter_map(|e| e.relative_ce).collect();
    ModelCorruption {
        model: model.to_string(),
        clean_accuracy: clean,
        per_severity,
        per_corruption,
        per_category,
        mean_corruption_accuracy: mean(&all_main),
        mce: if ces.len() == errors.len() {
            mean(&ces)
        } else {
            None
        },
        // Relative CE is undefined where the baseline does not degrade (its corrupted error is
        // no higher than its clean error); the mean covers the corruptions where it is defined.
        relative_mce: mean(&rels),
        corruption_errors: errors,
        cells,
    }
}

use super::save_png;

/// Unit of work: every model on the clean test images (accuracy, example predictions).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct CleanUnit {
    accuracy: Vec<f64>,
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

/// Runs the suite on prepared models and writes its results into `out`.
///
/// Every finished unit (the clean pass, each corruption × severity) is recorded in `out/cells/`
/// and not computed again by a rerun. With a shard only that shard's
/// units are evaluated, `shard.json` is written and `None` is returned.
#[allow(clippy::too_many_arguments)]
pub fn run(
    models: &[PreparedModel],
    data: &Dataset,
    cfg: &CorruptionConfig,
    seed: u64,
    out: &Path,
    device: &str,
    threads: usize,
    train_seconds: f64,
    progress: bool,
    shard: Option<Shard>,
) -> Result<Option<CorruptionSummary>> {
    let (corruptions, severities, table) = cfg.parsed()?;
    let (c, h, w) = (data.channels, data.height, data.width);
    let len = data.image_len();
    // The evaluated images and labels: the test split, or the released files' first blocks.
    let (labels, released_dir) = match &cfg.cifar10c {
        Some(dir) => {
            let l = npy::read(&dir.join("labels.npy"))?
                .to_u32(&dir.join("labels.npy").display().to_string())?;
            if l.len() % 5 != 0 || l.is_empty() {
                bail!(
                    "{}: {} labels; expected five equal severity blocks",
                    dir.join("labels.npy").display(),
                    l.len()
                );
            }
            (l, Some(dir.clone()))
        }
        None => (data.test.labels.clone(), None),
    };
    let per_block = if released_dir.is_some() {
        labels.len() / 5
    } else {
        labels.len()
    };
    let n = match (released_dir.is_some(), cfg.cifar10c.as_ref()) {
        (true, _) => per_block.min(data.test.len()),
        _ => data.test.len(),
    };
    let baseline_name = match &cfg.ce_baseline {
        Some(b) => {
            if !models.iter().any(|m| &m.name == b) {
                let names: Vec<&str> = models.iter().map(|m| m.name.as_str()).collect();
                bail!(
                    "--ce-baseline `{b}` is not a model of this run ({})",
                    names.join(", ")
                );
            }
            Some(b.clone())
        }
        None => models
            .iter()
            .find(|m| m.name.ends_with("-baseline"))
            .map(|m| m.name.clone()),
    };
    let class = |k: u32| {
        data.classes
            .get(k as usize)
            .cloned()
            .unwrap_or_else(|| k.to_string())
    };
    let store = CellStore::open(out)?;
    let units: Vec<(Corruption, Severity, String)> = corruptions
        .iter()
        .flat_map(|&corr| severities.iter().map(move |&sev| (corr, sev)))
        .map(|(corr, sev)| {
            let id = unit_id(&["corruption", corr.name(), &sev.get().to_string()]);
            (corr, sev, id)
        })
        .collect();
    let meta = Meta {
        models: models.iter().map(|m| m.name.clone()).collect(),
        baseline: baseline_name,
        clean: "clean".into(),
        cells: units.iter().map(|u| u.2.clone()).collect(),
        source: match &released_dir {
            Some(d) => d.display().to_string(),
            None => cfg.table.clone(),
        },
        run: RunInfo::new(data, n, seed, device, threads, train_seconds),
    };
    store.save("meta", &meta)?;
    let ex_dir = out.join("examples");
    let ex_idx = super::example_indices(n, cfg.examples);
    if !ex_idx.is_empty() {
        std::fs::create_dir_all(&ex_dir)
            .with_context(|| format!("creating {}", ex_dir.display()))?;
    }
    // The clean pass is unit 0, corruption × severity unit i is unit i + 1.
    let todo = |unit: usize, id: &str| owned(shard, unit) && !store.path(id).exists();
    if todo(0, &meta.clean) {
        let t = Instant::now();
        let mut accuracy_all = Vec::new();
        let mut examples: Vec<CorruptionExample> = Vec::new();
        for m in models {
            let (acc, preds) = accuracy(
                m,
                data,
                data.test.images[..n * len].to_vec(),
                data.test.labels[..n].to_vec(),
                cfg.eval_batch_size,
            )?;
            accuracy_all.push(acc);
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
                    .push((m.name.clone(), class(preds[i])));
            }
        }
        store.finish(
            &meta.clean,
            &CleanUnit {
                accuracy: accuracy_all,
                examples,
                seconds: t.elapsed().as_secs_f64(),
            },
        )?;
    }
    let pending: Vec<usize> = (0..units.len())
        .filter(|&i| todo(i + 1, &units[i].2))
        .collect();
    let pb = crate::util::progress_bar(
        progress && !pending.is_empty(),
        pending.len() as u64,
        "corruptions",
        "cells",
    );
    let mut released: Option<(Corruption, Released)> = None;
    for i in pending {
        let (corr, sev, id) = &units[i];
        let (corr, sev) = (*corr, *sev);
        pb.set_message(format!("{} severity {sev}", corr.name()));
        let t_unit = Instant::now();
        if let Some(dir) = &released_dir {
            if released.as_ref().map(|r| r.0) != Some(corr) {
                released = Some((corr, read_released(dir, corr, data, &labels)?));
            }
        }
        let t = Instant::now();
        let (images, cell_labels) = match &released {
            Some((_, r)) => {
                let first = sev.index() * r.per_severity;
                (
                    r.images[first * len..(first + n) * len].to_vec(),
                    labels[first..first + n].to_vec(),
                )
            }
            None => (
                corrupt_batch(
                    &data.test.images[..n * len],
                    n,
                    c,
                    h,
                    w,
                    corr,
                    sev,
                    table,
                    seed,
                    0,
                )
                .with_context(|| format!("corrupting with {} at severity {sev}", corr.name()))?,
                data.test.labels[..n].to_vec(),
            ),
        };
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
                label: class(cell_labels[i]),
                png: rel,
                predictions: models
                    .iter()
                    .zip(&preds_per_model)
                    .map(|(m, p)| (m.name.clone(), class(p[i])))
                    .collect(),
            });
        }
        store.finish(
            id,
            &CellUnit {
                cells,
                examples,
                corrupt_seconds,
                seconds: t_unit.elapsed().as_secs_f64(),
            },
        )?;
        pb.inc(1);
    }
    pb.finish_and_clear();
    if let Some(shard) = shard {
        write_shard_record(out, shard, units.len() + 1)?;
        return Ok(None);
    }
    finish(out).map(Some)
}

/// Assembles the summary of run directory `out` from its unit files and writes `summary.json`
/// and `cells.csv`.
pub fn finish(out: &Path) -> Result<CorruptionSummary> {
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
        .map(|((m, cs), &cl)| {
            model_metrics(
                m,
                cl,
                cs,
                base_cells.as_ref().map(|(c, v)| (*c, v.as_slice())),
            )
        })
        .collect();
    write_cells_csv(out, &results)?;
    let summary = CorruptionSummary {
        version: env!("CARGO_PKG_VERSION").to_string(),
        seed: meta.run.seed,
        data: meta.run.data,
        images: meta.run.images,
        classes: meta.run.classes,
        device: meta.run.device,
        threads: meta.run.threads,
        source: meta.source,
        baseline: meta.baseline,
        models: results,
        examples,
        train_seconds: meta.run.train_seconds,
        corrupt_seconds,
        eval_seconds,
    };
    let path = out.join("summary.json");
    write_json_atomic(&path, &summary).with_context(|| format!("writing {}", path.display()))?;
    Ok(summary)
}

fn write_cells_csv(out: &Path, results: &[ModelCorruption]) -> Result<()> {
    let mut s = String::from("model,corruption,category,severity,accuracy\n");
    for m in results {
        for c in &m.cells {
            s.push_str(&format!(
                "{},{},{},{},{}\n",
                m.model, c.corruption, c.category, c.severity, c.accuracy
            ));
        }
    }
    let path = out.join("cells.csv");
    write_atomic(&path, s.as_bytes()).with_context(|| format!("writing {}", path.display()))
}

/// The headline table: clean, mean corruption accuracy, per category, mCE.
pub fn print_table(s: &CorruptionSummary) {
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
        s.images,
        s.baseline.as_deref().unwrap_or("(no baseline model: CE not computed)")
    );
}

/// `dcrobust corrupt`: writes the corrupted test split in the released CIFAR-10-C layout.
#[allow(clippy::too_many_arguments)]
pub fn write_corrupted_set(
    data: &Dataset,
    corruptions: &[Corruption],
    table: Table,
    seed: u64,
    out: &Path,
    progress: bool,
) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let (c, h, w) = (data.channels, data.height, data.width);
    let n = data.test.len();
    let len = data.image_len();
    let pb =
        crate::util::progress_bar(progress, (corruptions.len() * 5) as u64, "corrupt", "cells");
    for &corr in corruptions {
        let mut hwc = Vec::with_capacity(5 * n * len);
        for sev in Severity::ALL {
            pb.set_message(format!("{} severity {sev}", corr.name()));
            let chw = corrupt_batch(&data.test.images, n, c, h, w, corr, sev, table, seed, 0)?;
            for img in chw.chunks(len) {
                for y in 0..h {
                    for x in 0..w {
                        for k in 0..c {
                            hwc.push(img[(k * h + y) * w + x]);
                        }
                    }
                }
            }
            pb.inc(1);
        }
        let path = out.join(format!("{}.npy", corr.name()));
        write_atomic(&path, &npy::encode("|u1", &[5 * n, h, w, c], &hwc))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let mut labels = Vec::with_capacity(5 * n * 8);
    for _ in 0..5 {
        for &l in &data.test.labels {
            labels.extend_from_slice(&i64::from(l).to_le_bytes());
        }
    }
    let path = out.join("labels.npy");
    write_atomic(&path, &npy::encode("<i8", &[5 * n], &labels))
        .with_context(|| format!("writing {}", path.display()))?;
    pb.finish_and_clear();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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

    /// Oracle: CE and relative CE by hand (Hendrycks & Dietterich 2019, robustness-anchors §2.5).
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

    /// Oracle: the option grammar — unknown names and severities 0 and 6 are refused by name.
    #[test]
    fn bad_options_are_named() {
        let mut c = CorruptionConfig {
            corruptions: vec!["fog".into(), "gaussian_noise".into()],
            severities: vec![3, 1],
            table: "cifar10-c".into(),
            cifar10c: None,
            ce_baseline: None,
            examples: 0,
            eval_batch_size: 10,
        };
        let (cs, ss, _) = c.parsed().unwrap();
        assert_eq!(cs, vec![Corruption::GaussianNoise, Corruption::Fog]);
        assert_eq!(ss.iter().map(|s| s.get()).collect::<Vec<_>>(), vec![1, 3]);
        c.corruptions = vec!["fogg".into()];
        assert!(c.parsed().unwrap_err().to_string().contains("fogg"));
        assert!(parse_severity("0")
            .unwrap_err()
            .contains("severity 0 is out of range"));
        assert!(parse_severity("6").unwrap_err().contains("severity 6"));
    }
}
