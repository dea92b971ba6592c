//! What a row of results was measured under: a registry attack, or one of the pseudo-attacks a
//! run derives from them. Results files name it by the same string as before the type existed
//! (the registry name, or `worst-case`); the norm of a cell is the attacks crate's
//! [`dcrobust_attacks::Norm`].

use dcrobust_attacks::AttackKind;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// The attack of an attack cell, a per-sample record, a transfer cell or an example: a registry
/// attack, or the per-image worst case over the run's attacks. Serialised as its name
/// ([`AttackId::name`]); reading any other name is an error that lists the expected ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AttackId {
    /// An attack of the registry (`fgsm`, `pgd`, …), by its [`AttackKind::name`].
    Registry(AttackKind),
    /// `worst-case`: the per-image worst case over the attacks a model ran at one norm and ε
    /// (an image is robust only if every one of them left it correct): the suite's worst-case
    /// cells. Never a record's attack.
    WorstCase,
}

impl AttackId {
    /// The name of [`AttackId::WorstCase`] in results.
    pub const WORST_CASE: &'static str = "worst-case";

    /// Every value: the registry's attacks in registry order, then the worst case.
    pub fn all() -> impl Iterator<Item = AttackId> {
        AttackKind::ALL
            .into_iter()
            .map(AttackId::Registry)
            .chain(std::iter::once(AttackId::WorstCase))
    }

    /// The name in results files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            AttackId::Registry(k) => k.name(),
            AttackId::WorstCase => Self::WORST_CASE,
        }
    }

    /// The value named `s`, if any.
    pub fn from_name(s: &str) -> Option<AttackId> {
        AttackId::all().find(|a| a.name() == s)
    }

    /// Every name, comma-separated, for messages.
    pub fn names() -> String {
        AttackId::all()
            .map(AttackId::name)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The attacks the verdict may quote as the strong one, in order of preference: the worst
    /// case, then the registry's [`AttackKind::strong`] attacks in [`AttackKind::quote_rank`]
    /// order. What a run records as [`crate::AdversarialSummary::strong_attacks`].
    pub fn strong() -> Vec<AttackId> {
        std::iter::once(AttackId::WorstCase)
            .chain(
                AttackKind::quoted()
                    .into_iter()
                    .filter(|k| k.strong())
                    .map(AttackId::Registry),
            )
            .collect()
    }

    /// The registry attack, or `None` for the worst case.
    pub fn kind(self) -> Option<AttackKind> {
        match self {
            AttackId::Registry(k) => Some(k),
            AttackId::WorstCase => None,
        }
    }
}

impl From<AttackKind> for AttackId {
    fn from(k: AttackKind) -> Self {
        AttackId::Registry(k)
    }
}

impl PartialEq<AttackKind> for AttackId {
    fn eq(&self, k: &AttackKind) -> bool {
        *self == AttackId::Registry(*k)
    }
}

/// The name, padded and aligned as the format asks (`{:>9}`).
impl fmt::Display for AttackId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// An attack name that is neither a registry attack nor a pseudo-attack.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown attack `{0}` in results; expected one of {names}", names = AttackId::names())]
pub struct UnknownAttack(
    /// The name read.
    pub String,
);

impl std::str::FromStr for AttackId {
    type Err = UnknownAttack;
    fn from_str(s: &str) -> Result<Self, UnknownAttack> {
        AttackId::from_name(s).ok_or_else(|| UnknownAttack(s.to_string()))
    }
}

impl Serialize for AttackId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for AttackId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = AttackId;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "an attack name, one of {}", AttackId::names())
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<AttackId, E> {
                v.parse().map_err(E::custom)
            }
        }
        d.deserialize_str(Visitor)
    }
}

/// What a confusion matrix counts: the predictions on the clean images (`clean` in results), or
/// under an attack (its name).
pub(crate) mod clean_or_attack {
    use super::AttackId;
    use serde::{Deserialize, Deserializer, Serializer};

    /// The name of the clean images' matrix.
    pub const CLEAN: &str = "clean";

    /// `clean` for `None`, the attack's name otherwise.
    pub fn serialize<S: Serializer>(a: &Option<AttackId>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(a.map_or(CLEAN, AttackId::name))
    }

    /// `None` for `clean`, the attack otherwise.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<AttackId>, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        if s == CLEAN {
            Ok(None)
        } else {
            s.parse().map(Some).map_err(|e: super::UnknownAttack| {
                serde::de::Error::custom(format!("{e} (or `{CLEAN}`)"))
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ConfusionMatrix;

    /// Oracle: the registry's own names ([`AttackKind::name`], written by hand there) and the
    /// literal `worst-case`: every value serialises to its name as a JSON string and reads back
    /// as itself, and no two values share a name.
    #[test]
    fn every_attack_round_trips_through_its_name() {
        let all: Vec<AttackId> = AttackId::all().collect();
        assert_eq!(all.len(), AttackKind::ALL.len() + 1);
        for a in &all {
            let json = serde_json::to_string(a).unwrap();
            assert_eq!(json, format!("\"{}\"", a.name()));
            let back: AttackId = serde_json::from_str(&json).unwrap();
            assert_eq!(back, *a);
            assert_eq!(all.iter().filter(|b| b.name() == a.name()).count(), 1);
        }
        for k in AttackKind::ALL {
            let json = serde_json::to_string(&AttackId::from(k)).unwrap();
            // The attacks crate's own serde names agree with the schema's.
            assert_eq!(json, serde_json::to_string(&k).unwrap());
            assert_eq!(AttackId::from(k), k);
        }
        assert_eq!(
            serde_json::to_string(&AttackId::WorstCase).unwrap(),
            "\"worst-case\""
        );
        // Display is the name, and pads like a string (the suite's table columns).
        assert_eq!(
            format!(
                "{:>6}|{}",
                AttackId::from(AttackKind::Pgd),
                AttackId::WorstCase
            ),
            "   pgd|worst-case"
        );
        assert_eq!(
            serde_json::from_str::<AttackId>("\"autoattack\"").unwrap(),
            AttackKind::AutoAttack
        );
        assert_eq!(
            serde_json::from_str::<AttackId>("\"pgd-l2\"").unwrap(),
            AttackKind::PgdL2
        );
    }

    /// Oracle: the list summaries written before `strong_attacks` was recorded were quoted
    /// with, by hand (their dcrobust's order); [`AttackId::strong`] is their default, so a change
    /// of the registry's ranking must not change it silently.
    #[test]
    fn the_strong_attacks_are_the_worst_case_then_pgd_apgd_ce_bim() {
        let names: Vec<&str> = AttackId::strong().into_iter().map(AttackId::name).collect();
        assert_eq!(names, ["worst-case", "pgd", "apgd-ce", "bim"]);
    }

    /// Oracle: the message names the value read and lists the registry's names and
    /// `worst-case`; a case variant of a real name is not accepted either.
    #[test]
    fn an_unknown_attack_is_refused_naming_it_and_the_expected_names() {
        for bad in ["pgd-linf", "PGD", "clean", ""] {
            let e = serde_json::from_str::<AttackId>(&format!("\"{bad}\""))
                .unwrap_err()
                .to_string();
            assert!(e.contains(&format!("unknown attack `{bad}`")), "{e}");
            assert!(
                e.contains("fgsm, bim, pgd, pgd-l2, mifgsm, apgd-ce, apgd-dlr, cw-l2, square, apgd-t, fab-t, autoattack, worst-case"),
                "{e}"
            );
        }
        // A non-string is refused too, saying what was expected.
        let e = serde_json::from_str::<AttackId>("3")
            .unwrap_err()
            .to_string();
        assert!(e.contains("an attack name"), "{e}");
    }

    /// Oracle: `clean` reads as no attack and writes back as `clean`; an attack name as that
    /// attack; an unknown name is refused with `clean` among the expected names.
    #[test]
    fn a_confusion_matrix_names_clean_or_an_attack() {
        for (name, attack) in [
            ("clean", None),
            ("pgd", Some(AttackId::Registry(AttackKind::Pgd))),
            ("worst-case", Some(AttackId::WorstCase)),
        ] {
            let json = format!("{{\"attack\":\"{name}\",\"eps\":0.0,\"counts\":[[1]]}}");
            let m: ConfusionMatrix = serde_json::from_str(&json).unwrap();
            assert_eq!(m.attack, attack);
            assert_eq!(serde_json::to_string(&m).unwrap(), json);
        }
        let e = serde_json::from_str::<ConfusionMatrix>(
            "{\"attack\":\"dirty\",\"eps\":0.0,\"counts\":[]}",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("unknown attack `dirty`"), "{e}");
        assert!(e.contains("(or `clean`)"), "{e}");
    }
}
