//! How a model was adversarially trained: the attack that crafted its training examples.
//!
//! A run records each model's adversarial training as one line of text
//! ([`ModelOrigin::adversarial_training`](crate::ModelOrigin), e.g. `fgsm eps=0.0314
//! fraction=0.5` or `pgd-3 eps=0.0314 fraction=0.5`) whose first word names the attack. This file
//! is the one place that word is read: the paper's tables and the report's markers go through
//! [`AdvTrainAttack::of_recorded`]; the zoo reads the typed attack from its configuration.

use serde::{Deserialize, Serialize};

/// The attack adversarial training crafts its examples with. The order (FGSM, the paper's
/// adversarial training, then the controls) is the zoo's listing order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AdvTrainAttack {
    /// One FGSM step of ε from the clean image (Goodfellow et al. 2015), the paper's adversarial
    /// training.
    Fgsm,
    /// FGSM from a uniform random start in the ε-ball, one step of `step_size`·ε (1.25 ε by
    /// default), projected back onto the ball (Wong, Rice and Kolter 2020, "Fast is better than
    /// free"): PGD with one step and a random start.
    #[serde(rename = "fgsm-rs")]
    FgsmRs,
    /// PGD with a random start (Madry et al. 2018).
    Pgd,
}

impl AdvTrainAttack {
    /// Every attack, in listing order.
    pub const ALL: [AdvTrainAttack; 3] = [
        AdvTrainAttack::Fgsm,
        AdvTrainAttack::FgsmRs,
        AdvTrainAttack::Pgd,
    ];

    /// Its name in configurations and on the command line: `fgsm`, `fgsm-rs`, `pgd`.
    pub const fn name(self) -> &'static str {
        match self {
            AdvTrainAttack::Fgsm => "fgsm",
            AdvTrainAttack::FgsmRs => "fgsm-rs",
            AdvTrainAttack::Pgd => "pgd",
        }
    }

    /// The label that starts a recorded description: the name, with PGD's step count
    /// (`pgd-3`); FGSM and FGSM-RS take one step whatever `steps` says.
    pub fn label(self, steps: usize) -> String {
        match self {
            AdvTrainAttack::Pgd => format!("pgd-{steps}"),
            _ => self.name().to_string(),
        }
    }

    /// Whether it is the paper's adversarial training (plain FGSM), whose models the paper's
    /// tables report; the controls trained with FGSM-RS or PGD have no paper values.
    pub const fn is_papers(self) -> bool {
        matches!(self, AdvTrainAttack::Fgsm)
    }

    /// The attack a recorded description names (its first word, as [`AdvTrainAttack::label`]
    /// wrote it), or `None` for a word it is not.
    pub fn of_recorded(description: &str) -> Option<AdvTrainAttack> {
        let word = description.split_whitespace().next()?;
        Self::ALL.into_iter().find(|a| match a {
            AdvTrainAttack::Pgd => word
                .strip_prefix("pgd-")
                .is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())),
            _ => word == a.name(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Oracle: the labels written by [`AdvTrainAttack::label`], read back; descriptions from
    /// committed results (`docs/results/*/summary.json`) by hand.
    #[test]
    fn recorded_descriptions_name_their_attack() {
        for a in AdvTrainAttack::ALL {
            let recorded = format!("{} eps=0.0314 fraction=0.5", a.label(3));
            assert_eq!(
                AdvTrainAttack::of_recorded(&recorded),
                Some(a),
                "{recorded}"
            );
        }
        assert_eq!(
            AdvTrainAttack::of_recorded("fgsm eps=0.0314 fraction=0.5"),
            Some(AdvTrainAttack::Fgsm)
        );
        assert_eq!(
            AdvTrainAttack::of_recorded("fgsm-rs eps=0.0314"),
            Some(AdvTrainAttack::FgsmRs)
        );
        assert_eq!(
            AdvTrainAttack::of_recorded("pgd-10 eps=0.0314"),
            Some(AdvTrainAttack::Pgd)
        );
        for other in ["", "fgsmrs eps=0.0314", "pgd eps=0.0314", "pgd-x", "trades"] {
            assert_eq!(AdvTrainAttack::of_recorded(other), None, "{other:?}");
        }
        assert!(AdvTrainAttack::Fgsm.is_papers());
        assert!(!AdvTrainAttack::FgsmRs.is_papers() && !AdvTrainAttack::Pgd.is_papers());
    }

    /// Oracle: the names configurations were written with (`src/zoo/*/config.json`).
    #[test]
    fn serde_names_are_the_configuration_names() {
        for a in AdvTrainAttack::ALL {
            let json = serde_json::to_string(&a).unwrap();
            assert_eq!(json, format!("\"{}\"", a.name()));
            assert_eq!(serde_json::from_str::<AdvTrainAttack>(&json).unwrap(), a);
        }
    }
}
