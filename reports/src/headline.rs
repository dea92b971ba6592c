//! Which white-box cells the headline shows: the cell of an attack at a budget, and the attacks
//! evaluated at the headline ε. The headline table, the verdict and the CSV tables share these.

use crate::{AdversarialSummary, AttackCell, AttackId, ModelAdversarial, Norm};

/// The white-box cell of `attack` at budget `eps`, if evaluated.
pub(crate) fn cell_at(m: &ModelAdversarial, attack: AttackId, eps: f64) -> Option<&AttackCell> {
    m.cells
        .iter()
        .find(|c| c.attack == attack && (c.eps - eps).abs() <= 1e-9)
}

/// Every attack of the run, in first-seen order, with its norm and headline budget (the L∞ or L2
/// headline ε by the attack's norm); attacks no model evaluated at that budget are left out.
pub(crate) fn headline_attacks(s: &AdversarialSummary) -> Vec<(AttackId, Norm, f64)> {
    let mut out: Vec<(AttackId, Norm, f64)> = Vec::new();
    for m in &s.models {
        for c in &m.cells {
            if out.iter().any(|(a, _, _)| *a == c.attack) {
                continue;
            }
            let e = match c.norm {
                Norm::L2 => s.headline_l2,
                Norm::Linf => s.headline_linf,
            };
            if s.models.iter().any(|m| cell_at(m, c.attack, e).is_some()) {
                out.push((c.attack, c.norm, e));
            }
        }
    }
    out
}
