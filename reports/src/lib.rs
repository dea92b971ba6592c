//! # dcrobust-reports
//!
//! The results schema shared by every dcrobust run, and (in later work) the pure function that
//! renders a run's results into one self-contained HTML page.
//!
//! Contract:
//! - This crate depends on neither candle nor clap: it reads and writes plain data.
//! - Every results file a run writes (`history.json` today) is described by a serde type here, so
//!   a report can be rendered again from the files alone.
//! - Types only grow by adding fields with defaults, so older results files stay readable.
//!
//! Files: `lib.rs` (this overview), `history.rs` (training convergence curves),
//! `adversarial.rs` (adversarial-suite summary and per-sample records), `corruption.rs`
//! (corruption-suite summary).
#![warn(missing_docs)]

pub mod adversarial;
pub mod corruption;
pub mod history;

pub use adversarial::{
    AdversarialSummary, AttackCell, Check, CheckStatus, ExampleImage, ModelAdversarial,
    SampleRecord, TransferCell,
};
pub use corruption::{
    CorruptionCell, CorruptionExample, CorruptionSummary, ModelCorruption, NamedAccuracy,
};
pub use history::{EpochRecord, IterationRecord, TrainingHistory};
