//! Which white-box cells the headline shows: the cell of an attack at a budget, and the attacks
//! evaluated at the headline ε. The headline table, the verdict and the CSV tables share these.

use crate::{AdversarialSummary, AttackCell, ModelAdversarial};

/// The white-box cell of `attack` at budget `eps`, if evaluated.
pub(crate) fn cell_at<'a>(
    m: &'a ModelAdversarial,
    attack: &str,
    eps: f64,
) -> Option<&'a AttackCell> {
    m.cells
        .iter()
        .find(|c| c.attack == attack && (c.eps - eps).abs() <= 1e-9)
}

/// Every attack of the run, in first-seen order, with its norm and headline budget (the L∞ or L2
/// headline ε by the attack's norm); attacks no model evaluated at that budget are left out.
pub(crate) fn headline_attacks(s: &AdversarialSummary) -> Vec<(String, String, f64)> {
    let mut out: Vec<(String, String, f64)> = Vec::new();
    for m in &s.models {
        for c in &m.cells {
            if out.iter().any(|(a, _, _)| *a == c.attack) {
                continue;
            }
            let e = if c.norm == "l2" {
                s.headline_l2
            } else {
                s.headline_linf
            };
            if s.models.iter().any(|m| cell_at(m, &c.attack, e).is_some()) {
                out.push((c.attack.clone(), c.norm.clone(), e));
            }
        }
    }
    out
}
