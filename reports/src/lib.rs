//! # dcrobust-reports
//!
//! The results schema shared by every dcrobust run, and the pure function that renders the results
//! of one or more runs into one self-contained HTML page.
//!
//! Contract:
//! - This crate depends on neither candle nor clap: it reads and writes plain data. Attacks and
//!   norms are the attacks crate's identities ([`AttackKind`], [`Norm`]), taken without its
//!   `tensors` feature.
//! - Every results file a run writes (`history.json` today) is described by a serde type here, so
//!   a report can be rendered again from the files alone.
//! - Types only grow by adding fields with defaults, so older results files stay readable.
//!
//! Files: `lib.rs` (this overview), `history.rs` (training convergence curves), `adversarial.rs`
//! (adversarial-suite summary and per-sample records), `attack_id.rs` (the attack a result was
//! measured under: a registry attack or the worst case), `corruption.rs` (corruption-suite summary,
//! and the arithmetic of its metrics: means, CE, mCE), `degenerate.rs` (the collapsed-predictions
//! and near-chance checks of both suites), `load.rs` (reading a run directory into [`RunResults`]),
//! `verdict.rs` (the report's decisions: baseline, comparison sentences, the check tally behind the
//! trust line), `headline.rs` (which attack cells the headline shows), `render/` (the HTML page,
//! one file per section), `charts.rs` (inline SVG charts), `images.rs` (PNG data URIs and magnified
//! perturbations), `paper.rs` (the paper's published numbers), `stats.rs` (confidence intervals),
//! `csv_writer.rs` (the one CSV writer, [`write_csv`]), `tables.rs` (the report's tables as CSV),
//! `markdown.rs` (the same tables as Markdown), `html.rs` (escaping and display formats),
//! `training.rs` (the attack a model was adversarially trained with).
//!
//! Report contract:
//! - [`render`] is pure: results in, one HTML string out. The page holds inline CSS and inline SVG
//!   only: no scripts, no external fonts, images or style sheets (PNGs become `data:` URIs).
//! - Every string taken from results, paths or configuration is HTML-escaped, inside SVG too.
#![warn(missing_docs)]

pub mod adversarial;
pub mod attack_id;
mod charts;
pub mod corruption;
mod csv_writer;
pub mod degenerate;
pub mod features;
mod headline;
pub mod history;
mod html;
mod images;
mod load;
mod markdown;
pub mod paper;
mod render;
mod run_info;
pub mod stats;
mod tables;
pub mod training;
mod verdict;

pub use adversarial::{
    AdversarialSummary, AttackCell, Check, CheckStatus, ConfusionMatrix, ExampleImage,
    ModelAdversarial, SampleRecord, TransferCell,
};
pub use attack_id::{AttackId, UnknownAttack};
pub use corruption::{
    CorruptionCell, CorruptionError, CorruptionExample, CorruptionSummary, ModelCorruption,
    NamedAccuracy,
};
pub use csv_writer::{write_csv, CsvError};
pub use dcrobust_attacks::{AttackKind, Norm};
pub use features::Features2d;
pub use history::{EpochRecord, IterationRecord, TrainingHistory};
pub use html::eps as format_eps;
pub use load::{load_run, parse_features, parse_history, parse_suite, parse_summary, Summary};
pub use markdown::tables_markdown;
pub use render::render;
pub use run_info::{ModelOrigin, RunInfo};
pub use tables::tables_csv;
pub use training::AdvTrainAttack;
pub use verdict::CATASTROPHIC_OVERFITTING;

use std::collections::BTreeMap;
use std::path::PathBuf;

/// Everything one run directory holds that a report shows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunResults {
    /// How the run is named on the page (usually its directory).
    pub dir_label: String,
    /// The run's `suite.json` (the resolved suite configuration), if present.
    pub suite_config: Option<serde_json::Value>,
    /// Convergence curves, one per model trained.
    pub histories: Vec<TrainingHistory>,
    /// Adversarial-suite summary, for an adversarial run.
    pub adversarial: Option<AdversarialSummary>,
    /// Corruption-suite summary, for a corruption run.
    pub corruption: Option<CorruptionSummary>,
    /// Example PNGs: path relative to the run directory (as the summary names it) → file bytes.
    pub images: BTreeMap<String, Vec<u8>>,
    /// 2-D features of the run's `feat2d` models (`features/*.json`), in file-name order.
    pub features: Vec<Features2d>,
}

/// Why a run directory could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A file could not be read (missing, or not readable).
    #[error("cannot read {path}: {error}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error, said in the message, so not returned again by `source()`.
        error: std::io::Error,
    },
    /// A file is not valid JSON, or does not match the expected schema.
    #[error("invalid JSON in {path}: {error}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The underlying error, said in the message, so not returned again by `source()`.
        error: serde_json::Error,
    },
    /// `summary.json` is neither an adversarial nor a corruption summary.
    #[error(
        "cannot tell the suite of {path}: expected suite.json's \"suite\" to be \"adversarial\" \
         or \"corruption\", or summary fields of one of them"
    )]
    UnknownSuite {
        /// The summary file.
        path: PathBuf,
    },
}
