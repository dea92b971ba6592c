//! What every results file says about the run itself.

use serde::{Deserialize, Serialize};

/// The run a summary belongs to: seed, data, images, device and training time. Both suites'
/// summaries carry it (flattened, so its fields sit at the top level of `summary.json`), and the
/// suites keep it in their `cells/meta.json`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// Run seed.
    pub seed: u64,
    /// Data set name and source.
    pub data: String,
    /// Test images evaluated (per cell).
    pub images: usize,
    /// Class names.
    pub classes: Vec<String>,
    /// Device of the last process that ran.
    pub device: String,
    /// Its worker threads.
    pub threads: usize,
    /// Seconds spent training (or loading) models, over every start of the run.
    pub train_seconds: f64,
    /// Where each evaluated model came from (absent in runs written before it was recorded).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub origins: Vec<ModelOrigin>,
}

/// Where one evaluated model came from: the `--checkpoint` item, its format and, for a file,
/// the SHA-256 of its bytes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelOrigin {
    /// The model's name in the results.
    pub model: String,
    /// The `--checkpoint` item (`zoo:NAME`, a run directory, `onnx:PATH`, `pt:ARCH:PATH`), or
    /// `models/NAME` for a model the run trained (inside the run directory).
    pub source: String,
    /// `zoo model`, `dcrobust training run`, `ONNX graph`, `PyTorch state dict (ARCH)`.
    pub format: String,
    /// SHA-256 of the weights file, in hex, where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Whether the model is a baseline: one of dcrobust's networks with ordinary convolutions
    /// (no decoupled operator), as the suite read it from the model's configuration; external
    /// models never are. Absent in results written before it was recorded, whose verdicts go by
    /// the models' names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<bool>,
    /// The model's adversarial training (e.g. `fgsm eps=0.0314`), `None` for standard training
    /// or an external model: the verdicts compare a model with the baseline trained the same way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adversarial_training: Option<String>,
}
