//! Results of the adversarial suite: `summary.json` and the per-sample records.

use crate::attack_id::{clean_or_attack, AttackId};
use dcrobust_attacks::Norm;
use serde::{Deserialize, Serialize};

/// One sample under one attack at one ε: a line of `records.jsonl` (or a row of `records.csv`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SampleRecord {
    /// The model evaluated.
    pub model: String,
    /// The attack.
    pub attack: AttackId,
    /// For transfer attacks, the model the examples were crafted on; `None` for white-box.
    #[serde(default)]
    pub source: Option<String>,
    /// Budget ε.
    pub eps: f64,
    /// Index of the image in the evaluated test split.
    pub index: usize,
    /// True class.
    pub label: u32,
    /// Target class of a targeted attack.
    #[serde(default)]
    pub target: Option<u32>,
    /// Prediction on the clean image.
    pub clean_pred: u32,
    /// Prediction on the adversarial image.
    pub adv_pred: u32,
    /// Whether the sample was attacked: ε > 0 and the model classified the clean image
    /// correctly (targeted: did not already predict the target). Transfer records: the evaluated
    /// model classified the clean image correctly. Samples not attacked keep their clean image.
    /// (Records written before this field existed read as attacked.)
    #[serde(default = "attacked_default")]
    pub attacked: bool,
    /// The attack succeeded on an attacked sample: untargeted, the adversarial prediction is
    /// wrong; targeted, it is the target. Always false for samples not attacked, so that
    /// misclassified clean images do not count as successes.
    pub success: bool,
    /// L∞ norm of the perturbation.
    pub linf: f32,
    /// L2 norm of the perturbation.
    pub l2: f32,
    /// Cross-entropy of the true class at the adversarial image.
    pub loss: f32,
}

/// [`SampleRecord::attacked`] of records that predate the field.
fn attacked_default() -> bool {
    true
}

/// Accuracy of one model under one attack at one ε.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttackCell {
    /// Attack (a registry attack, or the worst case over them).
    pub attack: AttackId,
    /// The norm of the budget (`linf` or `l2` in results).
    pub norm: Norm,
    /// Budget ε.
    pub eps: f64,
    /// Iterations, for iterative attacks (recorded so step sweeps can be told apart).
    #[serde(default)]
    pub steps: Option<usize>,
    /// Images evaluated.
    pub images: usize,
    /// Accuracy on the adversarial images (untargeted: the robust accuracy).
    pub accuracy: f64,
    /// Fraction of attacked samples where the attack succeeded.
    pub success_rate: f64,
    /// Mean L∞ norm of the perturbations of attacked samples.
    pub mean_linf: f64,
    /// Mean L2 norm of the perturbations of attacked samples.
    pub mean_l2: f64,
    /// Mean true-class cross-entropy at the adversarial images.
    pub mean_loss: f64,
    /// Images × input gradients computed.
    pub gradients: u64,
    /// Images × forward passes without gradient.
    pub queries: u64,
    /// Wall time of the cell.
    pub seconds: f64,
}

/// Outcome of a sanity check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    /// As expected.
    Pass,
    /// Suspicious; read the detail.
    Warn,
    /// The evaluation is not trustworthy as it stands.
    Fail,
}

/// A gradient-masking or consistency check of one model's evaluation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// Short identifier, e.g. `eps0-equals-clean`.
    pub name: String,
    /// Result.
    pub status: CheckStatus,
    /// What was compared, with the numbers.
    pub detail: String,
}

/// Everything measured on one model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelAdversarial {
    /// Model name.
    pub model: String,
    /// Parameters trained.
    pub parameters: usize,
    /// Adversarial training recipe, if any (e.g. `fgsm eps=0.0314`).
    #[serde(default)]
    pub adversarial_training: Option<String>,
    /// Clean test accuracy on the evaluated images.
    pub clean_accuracy: f64,
    /// Clean predictions per class (index = class), over the evaluated images.
    #[serde(default)]
    pub prediction_counts: Vec<usize>,
    /// Samples whose input gradient of the loss is exactly zero at the clean image.
    pub zero_gradient_samples: usize,
    /// White-box results.
    pub cells: Vec<AttackCell>,
    /// Extra cells for the checks (step sweep, ε = 1).
    #[serde(default)]
    pub check_cells: Vec<AttackCell>,
    /// Gradient-masking and consistency checks.
    pub checks: Vec<Check>,
    /// Confusion matrices: on the clean images, then under the headline attack (see
    /// [`ConfusionMatrix`]).
    #[serde(default)]
    pub confusion: Vec<ConfusionMatrix>,
}

/// Counts of (true class, predicted class) over the evaluated images.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConfusionMatrix {
    /// The attack whose adversarial predictions are counted; `None` (`clean` in results): the
    /// clean images' predictions.
    #[serde(with = "clean_or_attack")]
    pub attack: Option<AttackId>,
    /// The attack's budget (0 for clean).
    pub eps: f64,
    /// `counts[true][predicted]`, classes × classes.
    pub counts: Vec<Vec<usize>>,
}

impl ConfusionMatrix {
    /// The matrix of `(label, prediction)` pairs over `classes` classes under `attack` (`None`:
    /// clean); pairs out of range are not counted.
    pub fn from_pairs(
        attack: Option<AttackId>,
        eps: f64,
        classes: usize,
        pairs: impl IntoIterator<Item = (usize, usize)>,
    ) -> Self {
        let mut counts = vec![vec![0; classes]; classes];
        for (t, p) in pairs {
            if let Some(c) = counts.get_mut(t).and_then(|row| row.get_mut(p)) {
                *c += 1;
            }
        }
        ConfusionMatrix {
            attack,
            eps,
            counts,
        }
    }
}

/// Accuracy of a target model on examples crafted on a source model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TransferCell {
    /// Model the examples were crafted on.
    pub source: String,
    /// Model evaluated.
    pub target: String,
    /// Attack.
    pub attack: AttackId,
    /// Budget ε.
    pub eps: f64,
    /// Target's accuracy on the transferred examples.
    pub accuracy: f64,
    /// Source's own accuracy on them (white-box).
    pub source_accuracy: f64,
}

/// A saved example image: PNG paths relative to the run directory.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExampleImage {
    /// Model attacked.
    pub model: String,
    /// Attack.
    pub attack: AttackId,
    /// Budget ε.
    pub eps: f64,
    /// Index in the evaluated test split.
    pub index: usize,
    /// True class name.
    pub label: String,
    /// Predicted class name on the clean image.
    pub clean_pred: String,
    /// Predicted class name on the adversarial image.
    pub adv_pred: String,
    /// Clean image.
    pub clean_png: String,
    /// Adversarial image.
    pub adv_png: String,
}

/// `summary.json` of an adversarial run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdversarialSummary {
    /// dcrobust version.
    pub version: String,
    /// The run: seed, data, images, device, training time.
    #[serde(flatten)]
    pub run: crate::RunInfo,
    /// The L∞ budget the headline table uses.
    pub headline_linf: f64,
    /// The L2 budget the headline table uses.
    pub headline_l2: f64,
    /// Per model.
    pub models: Vec<ModelAdversarial>,
    /// Black-box transfer results.
    pub transfer: Vec<TransferCell>,
    /// Saved examples.
    pub examples: Vec<ExampleImage>,
    /// Seconds spent evaluating: the sum over evaluation units, across resumes and shards.
    pub eval_seconds: f64,
    /// The attacks the verdict may quote as the strong one, in order of preference (the worst
    /// case first), as the registry of the dcrobust that wrote the summary ranks them.
    /// Summaries written before the field was recorded read as [`AttackId::strong`]: their
    /// dcrobust ranked them the same way (a test pins the list).
    #[serde(default = "AttackId::strong")]
    pub strong_attacks: Vec<AttackId>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Oracle: counted by hand: pairs (0,0), (0,1), (1,1), (1,1) and an out-of-range (2,0) over
    /// two classes give [[1, 1], [0, 2]].
    #[test]
    fn confusion_counts_true_by_predicted() {
        let c = ConfusionMatrix::from_pairs(None, 0.0, 2, [(0, 0), (0, 1), (1, 1), (1, 1), (2, 0)]);
        assert_eq!(c.counts, vec![vec![1, 1], vec![0, 2]]);
    }
}
