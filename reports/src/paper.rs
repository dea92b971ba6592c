//! The paper's published adversarial-robustness numbers (Liu et al. 2018, "Decoupled Networks",
//! Tables 7 and 8, CIFAR-10, accuracy in %), for side-by-side display.
//!
//! The paper does not state ε, the pixel scale, BIM's step size and iterations, the black-box
//! source model, the adversarial-training recipe or the target architecture, so these numbers show
//! trends to compare with, not values a run is expected to reproduce. Which of the two unlabelled
//! tables is white-box (Table 7) and which black-box (Table 8) is inferred: the one with the lower
//! accuracies is white-box.

use crate::AdvTrainAttack;

/// The paper's column order: the operator of each column.
pub const OPERATORS: [&str; 4] = ["Baseline", "SphereConv", "BallConv", "TanhConv"];

/// One row of Table 7 or 8: accuracy (%) per operator, in [`OPERATORS`] order.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PaperRow {
    /// Row label as the paper prints it.
    pub attack: &'static str,
    /// `true` for the adversarially trained models (the last three rows).
    pub adversarially_trained: bool,
    /// Accuracy in %, per operator.
    pub accuracy: [f64; 4],
}

/// Table 7, white-box attacks on CIFAR-10, accuracy (%).
pub const TABLE7_WHITE_BOX: [PaperRow; 6] = [
    row("None", false, [85.35, 88.58, 91.13, 91.45]),
    row("FGSM", false, [18.82, 43.64, 50.47, 52.60]),
    row("BIM", false, [8.67, 8.89, 7.74, 10.18]),
    row("None", true, [83.70, 87.41, 87.47, 87.54]),
    row("FGSM", true, [78.96, 85.98, 82.20, 81.46]),
    row("BIM", true, [7.96, 35.07, 17.38, 19.86]),
];

/// Table 8, black-box (transfer) attacks on CIFAR-10, accuracy (%).
pub const TABLE8_BLACK_BOX: [PaperRow; 6] = [
    row("None", false, [85.35, 88.58, 91.13, 91.45]),
    row("FGSM", false, [50.90, 56.71, 49.50, 50.61]),
    row("BIM", false, [36.22, 43.10, 27.48, 29.06]),
    row("None", true, [83.70, 87.41, 87.47, 87.54]),
    row("FGSM", true, [77.57, 76.29, 78.67, 80.38]),
    row("BIM", true, [78.55, 77.79, 80.59, 82.47]),
];

const fn row(attack: &'static str, adv: bool, accuracy: [f64; 4]) -> PaperRow {
    PaperRow {
        attack,
        adversarially_trained: adv,
        accuracy,
    }
}

/// The keys of the paper's operator columns, in column order: Baseline, SphereConv, BallConv,
/// TanhConv.
pub const OPERATOR_KEYS: [&str; 4] = ["baseline", "sphere", "ball", "tanh"];

/// The paper column a model name belongs to: `baseline` → Baseline, `sphere` → SphereConv,
/// `ball` → BallConv, `tanh` → TanhConv (case-insensitive substring match of
/// [`OPERATOR_KEYS`]), else `None`.
pub fn operator_column(model: &str) -> Option<usize> {
    let m = model.to_ascii_lowercase();
    OPERATOR_KEYS.iter().position(|k| m.contains(k))
}

/// CIFAR-10's class names in label order, as every dcrobust CIFAR-10 run records them.
pub const CIFAR10_CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

/// Whether the paper's CIFAR-10 numbers apply to a run: its classes are CIFAR-10's and at least
/// one of its models is named after a Table 7 operator (CNN-9 networks: the name holds `cnn9`).
pub fn applies<'a>(classes: &[String], models: impl IntoIterator<Item = &'a str>) -> bool {
    classes.len() == CIFAR10_CLASSES.len()
        && classes.iter().zip(CIFAR10_CLASSES).all(|(a, b)| a == b)
        && models
            .into_iter()
            .any(|m| m.contains("cnn9") && operator_column(m).is_some())
}

/// Which of the paper's training rows a model's adversarial training matches: `Some(false)` for
/// none, `Some(true)` for FGSM, the paper's adversarial training, and `None` for any other
/// (FGSM-RS, PGD), which the paper did not train.
pub fn training_row_of(training: Option<AdvTrainAttack>) -> Option<bool> {
    match training {
        None => Some(false),
        Some(a) if a.is_papers() => Some(true),
        Some(_) => None,
    }
}

/// [`training_row_of`] for a model's recorded adversarial training (its `adversarial_training`
/// in the results, e.g. `fgsm eps=0.0314 fraction=0.5`); a description that names no known
/// attack matches no row.
pub fn training_row(adversarial_training: Option<&str>) -> Option<bool> {
    match adversarial_training {
        None => Some(false),
        Some(t) => training_row_of(Some(AdvTrainAttack::of_recorded(t)?)),
    }
}

/// The paper's accuracy (%) for an operator column, attack row (`None`, `FGSM`, `BIM`) and a
/// model's recorded adversarial training ([`training_row`]), from `table`.
pub fn lookup(
    table: &[PaperRow],
    column: usize,
    attack: &str,
    adversarial_training: Option<&str>,
) -> Option<f64> {
    row_accuracy(table, column, attack, training_row(adversarial_training)?)
}

/// Table 7's clean accuracy (%, its `None` rows) for an operator column ([`OPERATOR_KEYS`]) and
/// a model's adversarial training ([`training_row_of`]).
pub fn clean_accuracy(column: usize, training: Option<AdvTrainAttack>) -> Option<f64> {
    row_accuracy(
        &TABLE7_WHITE_BOX,
        column,
        "None",
        training_row_of(training)?,
    )
}

fn row_accuracy(
    table: &[PaperRow],
    column: usize,
    attack: &str,
    adversarially_trained: bool,
) -> Option<f64> {
    table
        .iter()
        .find(|r| r.attack == attack && r.adversarially_trained == adversarially_trained)
        .and_then(|r| r.accuracy.get(column).copied())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Oracle: docs/model.md#tables-7-and-8, read by hand (TanhConv's FGSM white-box cell,
    /// Baseline's BIM black-box cell).
    #[test]
    fn tables_match_the_paper() {
        let tanh = operator_column("cnn9-tanh-cosine").unwrap();
        assert_eq!(lookup(&TABLE7_WHITE_BOX, tanh, "FGSM", None), Some(52.60));
        let base = operator_column("cnn9-baseline").unwrap();
        assert_eq!(lookup(&TABLE8_BLACK_BOX, base, "BIM", None), Some(36.22));
        // The FGSM-trained baseline's clean accuracy, 83.70; the paper trained no FGSM-RS or
        // PGD model, so those have no value.
        let fgsm = Some("fgsm eps=0.0314 fraction=0.5");
        assert_eq!(lookup(&TABLE7_WHITE_BOX, base, "None", fgsm), Some(83.70));
        for other in [
            "fgsm-rs eps=0.0314 fraction=0.5",
            "pgd-3 eps=0.0314 fraction=0.5",
        ] {
            assert_eq!(lookup(&TABLE7_WHITE_BOX, base, "None", Some(other)), None);
        }
        assert_eq!(clean_accuracy(tanh, None), Some(91.45));
        assert_eq!(
            clean_accuracy(tanh, Some(AdvTrainAttack::Fgsm)),
            Some(87.54)
        );
        assert_eq!(clean_accuracy(base, Some(AdvTrainAttack::FgsmRs)), None);
        assert_eq!(clean_accuracy(base, Some(AdvTrainAttack::Pgd)), None);
        assert_eq!(operator_column("resnet"), None);
    }
}
