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
}
