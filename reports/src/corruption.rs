//! Results of the corruption suite: `summary.json`.

use serde::{Deserialize, Serialize};

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
    /// Run seed.
    pub seed: u64,
    /// Data set name and source.
    pub data: String,
    /// Test images evaluated per cell.
    pub images: usize,
    /// Class names.
    pub classes: Vec<String>,
    /// Device.
    pub device: String,
    /// Worker threads.
    pub threads: usize,
    /// `cifar10-c` or `imagenet-c` (in-process corruption), or the released files' directory.
    pub source: String,
    /// The model whose errors normalise CE (AlexNet's role in ImageNet-C), if any.
    pub baseline: Option<String>,
    /// Per model.
    pub models: Vec<ModelCorruption>,
    /// Saved examples.
    pub examples: Vec<CorruptionExample>,
    /// Seconds spent training (or loading) models.
    pub train_seconds: f64,
    /// Seconds spent corrupting images, summed over units (across resumes and shards).
    pub corrupt_seconds: f64,
    /// Seconds spent evaluating the models, summed over units (across resumes and shards).
    pub eval_seconds: f64,
}
