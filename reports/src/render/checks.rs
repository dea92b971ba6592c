//! The gradient-masking checks section: the trust line, one badge table per model, and the
//! extra cells the checks ran. The trust line's wording is decided in `crate::verdict`.

use std::fmt::Write as _;

use super::adversarial::{cells_rows, CELLS_HEADER};
use super::guide;
use crate::html::esc;
use crate::verdict::trust_line;
use crate::{AdversarialSummary, Check, CheckStatus};

/// Every model's checks as pass / warn / fail badges with their detail.
pub(super) fn checks(p: &mut String, s: &AdversarialSummary) {
    p.push_str("<h3>Gradient-masking checks</h3>");
    guide(
        p,
        "Sanity checks of each model's white-box evaluation: pass is as expected, warn needs a \
         look at the detail, fail means the robust accuracies cannot be trusted as they stand. \
         collapsed-predictions and near-chance judge the clean predictions themselves.",
    );
    let _ = write!(p, "<p class=\"trust\">{}</p>", esc(&trust_line(s)));
    for m in &s.models {
        model_checks(p, &m.model, &m.checks);
    }
    if s.models.iter().any(|m| !m.check_cells.is_empty()) {
        p.push_str("<details><summary>Extra cells run for the checks</summary>");
        guide(
            p,
            "Step sweeps and the unbounded (ε = 1) attack the checks compare against.",
        );
        p.push_str(CELLS_HEADER);
        for m in &s.models {
            cells_rows(p, &m.model, &m.check_cells);
        }
        p.push_str("</table></details>");
    }
}

/// One model's checks as a badge table under its name.
pub(super) fn model_checks(p: &mut String, model: &str, checks: &[Check]) {
    let _ = write!(
        p,
        "<h4>{}</h4><table><tr><th class=\"l\">status</th><th class=\"l\">check</th>\
         <th class=\"l\">detail</th></tr>",
        esc(model)
    );
    for c in checks {
        let (cls, word) = match c.status {
            CheckStatus::Pass => ("pass", "pass"),
            CheckStatus::Warn => ("warn", "warn"),
            CheckStatus::Fail => ("fail", "fail"),
        };
        let _ = write!(
            p,
            "<tr><td class=\"l\"><span class=\"badge {cls}\">{word}</span></td>\
             <td class=\"l\">{}</td><td class=\"l\">{}</td></tr>",
            esc(&c.name),
            esc(&c.detail)
        );
    }
    p.push_str("</table>");
}
