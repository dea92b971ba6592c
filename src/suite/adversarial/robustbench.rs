//! `robustbench.json`: the AutoAttack result of every model in the fields of RobustBench's
//! model cards (`model_info/<dataset>/<threat model>/<model>.json`, written by RobustBench's
//! `update_json`): `dataset`, `eps` as a string such as `"8/255"`, `clean_acc` and
//! `autoattack_acc` in percent as strings rounded to two decimals, `additional_data`,
//! `number_forward_passes`; plus `threat_model` (`"Linf"`, the card's folder) and `n_examples`
//! (the images evaluated, `benchmark`'s argument), which the cards keep outside the file.

use crate::util::write_json_atomic;
use anyhow::{Context, Result};
use dcrobust_attacks::AttackKind;
use dcrobust_reports::AdversarialSummary;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// One model's card.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(super) struct RobustBenchCard {
    /// The model's name in the run.
    pub(super) name: String,
    /// RobustBench's data set name (`cifar10`, `cifar100`) or dcrobust's.
    pub(super) dataset: String,
    /// Always `Linf`: the standard AutoAttack of this crate is L∞.
    pub(super) threat_model: &'static str,
    /// ε, as `k/255` where it is one, else the number.
    pub(super) eps: String,
    /// Clean accuracy on the evaluated images, percent, two decimals.
    pub(super) clean_acc: String,
    /// Accuracy under AutoAttack (standard version), percent, two decimals.
    pub(super) autoattack_acc: String,
    /// Images evaluated.
    pub(super) n_examples: usize,
    /// No data beyond the training split.
    pub(super) additional_data: bool,
    /// One forward pass per prediction (no randomness, no ensembling).
    pub(super) number_forward_passes: usize,
}

/// `8/255` for ε = 8/255, else the number as written by `{}`.
pub(super) fn eps_string(eps: f64) -> String {
    let k = eps * 255.0;
    if (k - k.round()).abs() < 1e-6 {
        format!("{}/255", k.round() as i64)
    } else {
        format!("{eps}")
    }
}

/// A fraction in [0, 1] as RobustBench writes percentages: `str(round(100·a, 2))`.
pub(super) fn percent(a: f64) -> String {
    let p = (a * 10_000.0).round() / 100.0;
    let s = format!("{p}");
    if s.contains('.') {
        s
    } else {
        format!("{s}.0")
    }
}

/// The cards of the models that ran `autoattack` at the headline L∞ ε, by model name.
pub(super) fn cards(summary: &AdversarialSummary) -> BTreeMap<String, RobustBenchCard> {
    let data = &summary.run.data;
    let dataset = if data.starts_with("cifar100") {
        "cifar100"
    } else if data.starts_with("cifar10") || data.starts_with("embedded-cifar10") {
        "cifar10"
    } else {
        data.split(' ').next().unwrap_or(data)
    };
    summary
        .models
        .iter()
        .filter_map(|m| {
            let c = m
                .cells
                .iter()
                .find(|c| c.attack == AttackKind::AutoAttack && c.eps == summary.headline_linf)?;
            Some((
                m.model.clone(),
                RobustBenchCard {
                    name: m.model.clone(),
                    dataset: dataset.to_string(),
                    threat_model: "Linf",
                    eps: eps_string(c.eps),
                    clean_acc: percent(m.clean_accuracy),
                    autoattack_acc: percent(c.accuracy),
                    n_examples: c.images,
                    additional_data: false,
                    number_forward_passes: 1,
                },
            ))
        })
        .collect()
}

/// Writes `out/robustbench.json` when some model ran `autoattack`; otherwise writes nothing.
pub(super) fn write(out: &Path, summary: &AdversarialSummary) -> Result<()> {
    let cards = cards(summary);
    if cards.is_empty() {
        return Ok(());
    }
    let path = out.join("robustbench.json");
    write_json_atomic(&path, &cards).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Oracle: RobustBench's own strings, `str(round(100·a, 2))` and the `8/255` of its cards.
    #[test]
    fn strings_as_robustbench_writes_them() {
        assert_eq!(eps_string(8.0 / 255.0), "8/255");
        assert_eq!(eps_string(0.5), "0.5");
        assert_eq!(percent(0.9478), "94.78");
        assert_eq!(percent(0.0), "0.0");
        assert_eq!(percent(0.85), "85.0");
        assert_eq!(percent(0.123456), "12.35");
    }
}
