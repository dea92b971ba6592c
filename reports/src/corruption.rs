//! Results of the corruption suite: `summary.json`, and the arithmetic that turns a model's
//! cells into its summary metrics (means, CE, relative CE, mCE; docs/corruptions.md#metrics).
//!
//! The metric functions are pure: cells and accuracies in, numbers out. Which corruptions count
//! as main (the 15 of the benchmark) and the category order are the caller's, so this crate
//! needs no corruption list of its own.

use serde::{Deserialize, Serialize};

use crate::Check;

/// Accuracy of one model on one corruption at one severity.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CorruptionCell {
    /// Corruption name (CIFAR-10-C file stem).
    pub corruption: String,
    /// noise, blur, weather or digital.
    pub category: String,
    /// 1 to 5.
    pub severity: u8,
    /// Accuracy on the corrupted test images.
    pub accuracy: f64,
}

/// A named mean accuracy (per corruption or per category).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NamedAccuracy {
    /// Corruption or category.
    pub name: String,
    /// Mean accuracy over severities (and corruptions, for a category).
    pub accuracy: f64,
}

/// Corruption error of one corruption, normalised by the baseline model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CorruptionError {
    /// Corruption name.
    pub corruption: String,
    /// `Σ_s E(f,c,s) / Σ_s E(baseline,c,s)`, in %.
    pub ce: f64,
    /// `Σ_s (E(f,c,s) − E_clean(f)) / Σ_s (E(baseline,c,s) − E_clean(baseline))`, in %; `None`
    /// where the baseline does not degrade at all (the ratio is undefined).
    pub relative_ce: Option<f64>,
}

/// Everything measured on one model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelCorruption {
    /// Model name.
    pub model: String,
    /// Clean test accuracy.
    pub clean_accuracy: f64,
    /// Clean predictions per class (index = class), over the evaluated images.
    #[serde(default)]
    pub prediction_counts: Vec<usize>,
    /// The degenerate-model checks of the clean predictions (`crate::degenerate`).
    #[serde(default)]
    pub checks: Vec<Check>,
    /// One cell per corruption and severity.
    pub cells: Vec<CorruptionCell>,
    /// Mean accuracy at each severity over the main corruptions evaluated (index 0 = severity 1).
    pub per_severity: Vec<Option<f64>>,
    /// Mean accuracy per corruption over the severities evaluated.
    pub per_corruption: Vec<NamedAccuracy>,
    /// Mean accuracy per category over its main corruptions evaluated.
    pub per_category: Vec<NamedAccuracy>,
    /// Mean accuracy over every main-corruption cell evaluated (RobustBench's headline).
    pub mean_corruption_accuracy: Option<f64>,
    /// Per-corruption CE and relative CE (main corruptions; empty without a baseline).
    pub corruption_errors: Vec<CorruptionError>,
    /// Mean CE over the main corruptions, in % (baseline = 100).
    pub mce: Option<f64>,
    /// Mean relative CE over the main corruptions where it is defined, in %.
    pub relative_mce: Option<f64>,
}

/// A corrupted example image with every model's prediction.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CorruptionExample {
    /// Corruption name, or `clean`.
    pub corruption: String,
    /// Severity (0 for clean).
    pub severity: u8,
    /// Index in the evaluated test split.
    pub index: usize,
    /// True class name.
    pub label: String,
    /// PNG path relative to the run directory.
    pub png: String,
    /// (model, predicted class name) pairs.
    pub predictions: Vec<(String, String)>,
}

/// `summary.json` of a corruption run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CorruptionSummary {
    /// dcrobust version.
    pub version: String,
    /// The run: seed, data, images per cell, device, training time.
    #[serde(flatten)]
    pub run: crate::RunInfo,
    /// `cifar10-c` or `imagenet-c` (in-process corruption), or the released files' directory.
    pub source: String,
    /// The model whose errors normalise CE (AlexNet's role in ImageNet-C), if any.
    pub baseline: Option<String>,
    /// Per model.
    pub models: Vec<ModelCorruption>,
    /// Saved examples.
    pub examples: Vec<CorruptionExample>,
    /// Seconds spent corrupting images, summed over units (across resumes and shards).
    pub corrupt_seconds: f64,
    /// Seconds spent evaluating the models, summed over units (across resumes and shards).
    pub eval_seconds: f64,
}

/// The plain mean of `values` (summed in order, then divided by the count); `None` when empty.
pub fn mean(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        None
    } else {
        Some(values.iter().sum::<f64>() / values.len() as f64)
    }
}

/// Mean accuracy at each severity 1 to 5 over the main corruptions' cells (index 0 = severity
/// 1); `None` at a severity without such cells.
pub fn per_severity_means(
    cells: &[CorruptionCell],
    is_main: impl Fn(&str) -> bool,
) -> Vec<Option<f64>> {
    (1..=5u8)
        .map(|s| {
            let v: Vec<f64> = cells
                .iter()
                .filter(|c| c.severity == s && is_main(&c.corruption))
                .map(|c| c.accuracy)
                .collect();
            mean(&v)
        })
        .collect()
}

/// The corruptions of `cells`, each once, in first-seen order.
pub fn corruption_names(cells: &[CorruptionCell]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for c in cells {
        if !names.contains(&c.corruption) {
            names.push(c.corruption.clone());
        }
    }
    names
}

/// Mean accuracy of every corruption of `cells` (main or not) over its severities, in
/// first-seen order.
pub fn per_corruption_means(cells: &[CorruptionCell]) -> Vec<NamedAccuracy> {
    corruption_names(cells)
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
        .collect()
}

/// Mean accuracy of each category in `categories` (in that order) over its main corruptions'
/// cells; a category without such cells is left out.
pub fn per_category_means(
    cells: &[CorruptionCell],
    categories: &[&str],
    is_main: impl Fn(&str) -> bool,
) -> Vec<NamedAccuracy> {
    categories
        .iter()
        .filter_map(|cat| {
            let v: Vec<f64> = cells
                .iter()
                .filter(|c| c.category == *cat && is_main(&c.corruption))
                .map(|c| c.accuracy)
                .collect();
            mean(&v).map(|a| NamedAccuracy {
                name: cat.to_string(),
                accuracy: a,
            })
        })
        .collect()
}

/// Mean accuracy over every main-corruption cell (RobustBench's headline); `None` without one.
pub fn mean_corruption_accuracy(
    cells: &[CorruptionCell],
    is_main: impl Fn(&str) -> bool,
) -> Option<f64> {
    let v: Vec<f64> = cells
        .iter()
        .filter(|c| is_main(&c.corruption))
        .map(|c| c.accuracy)
        .collect();
    mean(&v)
}

/// CE and relative CE of one corruption, in %.
///
/// `pairs` holds `(model accuracy, baseline accuracy)` at each severity both were evaluated at;
/// `clean` and `baseline_clean` are the clean accuracies. With errors `E = 1 − accuracy` and
/// `S = pairs.len()`:
/// - `ce = 100 · Σ E(model) / Σ E(baseline)`, NaN where the baseline makes no error at all;
/// - `relative_ce = 100 · (Σ E(model) − S·E_clean(model)) / (Σ E(baseline) − S·E_clean(baseline))`,
///   `None` where the baseline's denominator is not above 1e-12 (it does not degrade).
pub fn corruption_error(
    corruption: &str,
    clean: f64,
    baseline_clean: f64,
    pairs: &[(f64, f64)],
) -> CorruptionError {
    let e_f: f64 = pairs.iter().map(|p| 1.0 - p.0).sum();
    let e_b: f64 = pairs.iter().map(|p| 1.0 - p.1).sum();
    let s = pairs.len() as f64;
    let rel_b = e_b - s * (1.0 - baseline_clean);
    CorruptionError {
        corruption: corruption.to_string(),
        ce: if e_b > 0.0 {
            100.0 * e_f / e_b
        } else {
            f64::NAN
        },
        relative_ce: (rel_b > 1e-12).then(|| 100.0 * (e_f - s * (1.0 - clean)) / rel_b),
    }
}

/// [`corruption_error`] of every main corruption of `cells`, in first-seen order.
///
/// Each of the model's cells of a corruption is paired with the baseline's cell of the same
/// corruption and severity; a corruption where the baseline lacks one of those cells is left
/// out.
pub fn corruption_errors(
    cells: &[CorruptionCell],
    clean: f64,
    baseline_cells: &[CorruptionCell],
    baseline_clean: f64,
    is_main: impl Fn(&str) -> bool,
) -> Vec<CorruptionError> {
    let mut errors = Vec::new();
    for n in corruption_names(cells).iter().filter(|n| is_main(n)) {
        let mine: Vec<&CorruptionCell> = cells.iter().filter(|c| &c.corruption == n).collect();
        let pairs: Vec<(f64, f64)> = mine
            .iter()
            .filter_map(|m| {
                baseline_cells
                    .iter()
                    .find(|b| b.corruption == m.corruption && b.severity == m.severity)
                    .map(|b| (m.accuracy, b.accuracy))
            })
            .collect();
        if pairs.len() != mine.len() || mine.is_empty() {
            continue;
        }
        errors.push(corruption_error(n, clean, baseline_clean, &pairs));
    }
    errors
}

/// mCE: the mean CE of `errors`, in %; `None` when there is none or any CE is not finite (the
/// baseline made no error on that corruption).
pub fn mce(errors: &[CorruptionError]) -> Option<f64> {
    let ces: Vec<f64> = errors
        .iter()
        .map(|e| e.ce)
        .filter(|v| v.is_finite())
        .collect();
    if ces.len() == errors.len() {
        mean(&ces)
    } else {
        None
    }
}

/// Relative mCE: the mean relative CE over the corruptions where it is defined, in %; `None`
/// where it is defined for none.
pub fn relative_mce(errors: &[CorruptionError]) -> Option<f64> {
    // Relative CE is undefined where the baseline does not degrade (its corrupted error is no
    // higher than its clean error); the mean covers the corruptions where it is defined.
    let rels: Vec<f64> = errors.iter().filter_map(|e| e.relative_ce).collect();
    mean(&rels)
}

/// Every summary metric of one model from its clean accuracy and cells.
///
/// `baseline`: the baseline model's clean accuracy and cells, for CE (without it
/// `corruption_errors` is empty and `mce`, `relative_mce` are `None`). `is_main` tells the main
/// corruptions (the only ones in the severity, category and overall means and in CE);
/// `categories` names the categories in the order `per_category` lists them.
pub fn model_corruption(
    model: &str,
    clean: f64,
    cells: Vec<CorruptionCell>,
    baseline: Option<(f64, &[CorruptionCell])>,
    is_main: impl Fn(&str) -> bool,
    categories: &[&str],
) -> ModelCorruption {
    let corruption_errors = match baseline {
        Some((b_clean, b_cells)) => corruption_errors(&cells, clean, b_cells, b_clean, &is_main),
        None => Vec::new(),
    };
    ModelCorruption {
        model: model.to_string(),
        clean_accuracy: clean,
        prediction_counts: Vec::new(),
        checks: Vec::new(),
        per_severity: per_severity_means(&cells, &is_main),
        per_corruption: per_corruption_means(&cells),
        per_category: per_category_means(&cells, categories, &is_main),
        mean_corruption_accuracy: mean_corruption_accuracy(&cells, &is_main),
        mce: mce(&corruption_errors),
        relative_mce: relative_mce(&corruption_errors),
        corruption_errors,
        cells,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `fog` and `gaussian_noise` are main here, `speckle_noise` is not (as in CIFAR-10-C).
    fn is_main(name: &str) -> bool {
        name != "speckle_noise"
    }

    fn cell(corruption: &str, severity: u8, accuracy: f64) -> CorruptionCell {
        let category = if corruption == "fog" {
            "weather"
        } else {
            "noise"
        };
        CorruptionCell {
            corruption: corruption.into(),
            category: category.into(),
            severity,
            accuracy,
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    /// Baseline cells: gaussian_noise 0.8, 0.6 (severities 1, 2), speckle_noise 0.1.
    fn baseline() -> Vec<CorruptionCell> {
        vec![
            cell("gaussian_noise", 1, 0.8),
            cell("gaussian_noise", 2, 0.6),
            cell("speckle_noise", 1, 0.1),
        ]
    }

    /// Model cells: gaussian_noise 0.9, 0.7, speckle_noise 0.2, fog 0.5 (severity 2 only).
    fn model() -> Vec<CorruptionCell> {
        vec![
            cell("gaussian_noise", 1, 0.9),
            cell("gaussian_noise", 2, 0.7),
            cell("speckle_noise", 1, 0.2),
            cell("fog", 2, 0.5),
        ]
    }

    /// Oracle: the arithmetic mean by hand: (1 + 2 + 6) / 3 = 3; nothing to average is `None`.
    #[test]
    fn mean_by_hand() {
        assert_eq!(mean(&[1.0, 2.0, 6.0]), Some(3.0));
        assert_eq!(mean(&[]), None);
    }

    /// Oracle: by hand from `model()`: severity 1 averages the main cells 0.9 (speckle_noise is
    /// left out), severity 2 averages 0.7 and 0.5 = 0.6, severities 3 to 5 have no cells.
    #[test]
    fn per_severity_by_hand() {
        let v = per_severity_means(&model(), is_main);
        assert_eq!(v.len(), 5);
        assert_eq!(v[0], Some(0.9));
        assert!(close(v[1].unwrap(), 0.6), "{v:?}");
        assert_eq!(&v[2..], &[None, None, None]);
    }

    /// Oracle: by hand from `model()`: every corruption, main or not, in first-seen order:
    /// gaussian_noise (0.9 + 0.7) / 2 = 0.8, speckle_noise 0.2, fog 0.5.
    #[test]
    fn per_corruption_by_hand() {
        let v = per_corruption_means(&model());
        let names: Vec<&str> = v.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["gaussian_noise", "speckle_noise", "fog"]);
        assert!(close(v[0].accuracy, 0.8));
        assert_eq!(v[1].accuracy, 0.2);
        assert_eq!(v[2].accuracy, 0.5);
    }

    /// Oracle: by hand from `model()`: categories in the order asked; noise averages the main
    /// noise cells 0.9 and 0.7 = 0.8 (speckle_noise is not main), weather is fog's 0.5, blur has
    /// no cells and is left out.
    #[test]
    fn per_category_by_hand() {
        let v = per_category_means(&model(), &["noise", "blur", "weather"], is_main);
        let names: Vec<&str> = v.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["noise", "weather"]);
        assert!(close(v[0].accuracy, 0.8));
        assert_eq!(v[1].accuracy, 0.5);
    }

    /// Oracle: by hand from `model()`: the main cells 0.9, 0.7, 0.5 average 0.7; without main
    /// cells there is no mean.
    #[test]
    fn mean_corruption_accuracy_by_hand() {
        assert!(close(
            mean_corruption_accuracy(&model(), is_main).unwrap(),
            0.7
        ));
        assert_eq!(
            mean_corruption_accuracy(&[cell("speckle_noise", 1, 0.3)], is_main),
            None
        );
    }

    /// Oracle: CE and relative CE by hand (docs/corruptions.md#metrics). Baseline clean 0.9,
    /// accuracies 0.8 and 0.6 → errors 0.2 + 0.4 = 0.6; model clean 0.95, accuracies 0.9 and 0.7
    /// → errors 0.1 + 0.3 = 0.4. CE = 0.4 / 0.6 = 66.67 %; relative CE = (0.4 − 2·0.05) /
    /// (0.6 − 2·0.1) = 0.3 / 0.4 = 75 %. A baseline without errors leaves CE undefined (NaN), a
    /// baseline no worse than clean leaves relative CE undefined.
    #[test]
    fn corruption_error_by_hand() {
        let e = corruption_error("gaussian_noise", 0.95, 0.9, &[(0.9, 0.8), (0.7, 0.6)]);
        assert_eq!(e.corruption, "gaussian_noise");
        assert!((e.ce - 200.0 / 3.0).abs() < 1e-9, "{}", e.ce);
        assert!((e.relative_ce.unwrap() - 75.0).abs() < 1e-9);
        let perfect = corruption_error("fog", 0.9, 1.0, &[(0.5, 1.0)]);
        assert!(perfect.ce.is_nan() && perfect.relative_ce.is_none());
        let flat = corruption_error("fog", 0.9, 0.8, &[(0.5, 0.8)]);
        assert!((flat.ce - 250.0).abs() < 1e-9, "0.5 / 0.2");
        assert_eq!(flat.relative_ce, None);
    }

    /// Oracle: by hand: only gaussian_noise counts (speckle_noise is not main; the baseline has
    /// no fog cell), with the CE of `corruption_error_by_hand`.
    #[test]
    fn corruption_errors_pair_main_cells_with_the_baseline() {
        let v = corruption_errors(&model(), 0.95, &baseline(), 0.9, is_main);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].corruption, "gaussian_noise");
        assert!((v[0].ce - 200.0 / 3.0).abs() < 1e-9);
    }

    /// Oracle: by hand: the mean of CEs 50 and 150 is 100; one NaN CE makes mCE undefined;
    /// relative mCE averages the defined relative CEs only (80 and 120 → 100, the `None` is
    /// skipped) and is undefined when none is.
    #[test]
    fn mce_and_relative_mce_by_hand() {
        let e = |ce: f64, rel: Option<f64>| CorruptionError {
            corruption: "c".into(),
            ce,
            relative_ce: rel,
        };
        let v = [e(50.0, Some(80.0)), e(150.0, None), e(100.0, Some(120.0))];
        assert_eq!(mce(&v[..2]), Some(100.0));
        assert_eq!(relative_mce(&v), Some(100.0));
        assert_eq!(mce(&[e(50.0, None), e(f64::NAN, None)]), None);
        assert_eq!(relative_mce(&v[1..2]), None);
        assert_eq!(mce(&[]), None);
    }

    /// Oracle: the by-hand numbers above, assembled; the baseline against itself scores exactly
    /// 100 % (each ratio is x / x); without a baseline there is no CE.
    #[test]
    fn model_corruption_assembles_the_metrics() {
        let cats = ["noise", "blur", "weather", "digital"];
        let base = baseline();
        let m = model_corruption("m", 0.95, model(), Some((0.9, &base)), is_main, &cats);
        assert_eq!(m.model, "m");
        assert_eq!(m.cells, model());
        assert!((m.mce.unwrap() - 200.0 / 3.0).abs() < 1e-9, "{:?}", m.mce);
        assert!((m.relative_mce.unwrap() - 75.0).abs() < 1e-9);
        assert!(close(m.mean_corruption_accuracy.unwrap(), 0.7));
        assert_eq!(m.per_corruption.len(), 3);
        assert_eq!(m.per_category.len(), 2);
        let b = model_corruption("b", 0.9, base.clone(), Some((0.9, &base)), is_main, &cats);
        assert_eq!((b.mce, b.relative_mce), (Some(100.0), Some(100.0)));
        let none = model_corruption("m", 0.9, base.clone(), None, is_main, &cats);
        assert!(none.mce.is_none() && none.relative_mce.is_none());
        assert!(none.corruption_errors.is_empty());
    }
}
