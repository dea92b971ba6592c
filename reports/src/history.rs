//! Convergence curves of one training run, written as `history.json` while training goes.

use serde::{Deserialize, Serialize};

/// Train and test metrics at the end of one epoch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// Epoch number, counted from 1.
    pub epoch: usize,
    /// Optimiser steps taken so far, over the whole run.
    pub iteration: usize,
    /// Mean cross-entropy (with label smoothing) over the epoch's training batches.
    pub train_loss: f64,
    /// Fraction of training images classified correctly during the epoch (augmented, train mode).
    pub train_accuracy: f64,
    /// Mean cross-entropy (without label smoothing) on the test split, in inference mode.
    pub test_loss: f64,
    /// Fraction of test images classified correctly, in inference mode.
    pub test_accuracy: f64,
    /// Learning rate in force at the end of the epoch.
    pub learning_rate: f64,
    /// Seconds spent training since the run started (evaluation excluded), summed over resumes.
    pub wall_time_s: f64,
    /// Training throughput of this epoch, images per second.
    pub images_per_s: f64,
    /// Mean cross-entropy on the validation split held out of the training images (`--holdout`),
    /// in inference mode; `None` without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_loss: Option<f64>,
    /// Fraction of the validation split classified correctly; `None` without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_accuracy: Option<f64>,
}

/// Running training metrics, averaged over the last `every` iterations.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IterationRecord {
    /// Optimiser steps taken so far.
    pub iteration: usize,
    /// Epoch the iteration belongs to, counted from 1.
    pub epoch: usize,
    /// Mean training loss over the window.
    pub train_loss: f64,
    /// Training accuracy over the window.
    pub train_accuracy: f64,
    /// Learning rate of the last step in the window.
    pub learning_rate: f64,
    /// Seconds spent training since the run started.
    pub wall_time_s: f64,
}

/// Everything a convergence chart needs for one model.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainingHistory {
    /// Model name, e.g. `cnn9-tanh-cosine`.
    pub model: String,
    /// One record per finished epoch.
    pub epochs: Vec<EpochRecord>,
    /// One record per logging window (`--log-every` iterations).
    #[serde(default)]
    pub iterations: Vec<IterationRecord>,
}

impl TrainingHistory {
    /// The record of the last finished epoch, if any.
    pub fn last(&self) -> Option<&EpochRecord> {
        self.epochs.last()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Oracle: serde round trip must give back the same value, and a file without the optional
    /// `iterations` field (an older writer) must still parse.
    #[test]
    fn history_round_trips_and_tolerates_missing_iterations() {
        let h = TrainingHistory {
            model: "m".into(),
            epochs: vec![EpochRecord {
                epoch: 1,
                iteration: 10,
                train_loss: 2.0,
                train_accuracy: 0.25,
                test_loss: 1.5,
                test_accuracy: 0.5,
                learning_rate: 1e-3,
                wall_time_s: 3.0,
                images_per_s: 100.0,
                val_loss: Some(1.25),
                val_accuracy: Some(0.75),
            }],
            iterations: vec![],
        };
        let s = serde_json::to_string(&h).unwrap();
        let back: TrainingHistory = serde_json::from_str(&s).unwrap();
        assert_eq!(back, h);
        let old = s.replace(",\"iterations\":[]", "");
        assert!(!old.contains("iterations"));
        let back: TrainingHistory = serde_json::from_str(&old).unwrap();
        assert_eq!(back.last().unwrap().test_accuracy, 0.5);
    }
}
