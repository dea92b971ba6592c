//! The comparison of each model across the runs of a page of several runs: clean accuracy, the
//! headline attacks (adversarial runs) and mean corruption accuracy and mCE (corruption runs),
//! one column group per run.

use std::fmt::Write as _;

use super::guide;
use crate::charts::Colours;
use crate::headline::{cell_at, headline_attacks};
use crate::html::{attack_name, eps as fmt_eps, esc, norm_name, pct, pct_value};
use crate::RunResults;

/// One row per model of the page (page colour order), one column group per run; `–` where a
/// run did not evaluate the model. Nothing for a page of one run.
pub(super) fn across_runs(p: &mut String, runs: &[RunResults], colours: &Colours) {
    if runs.len() < 2 {
        return;
    }
    p.push_str("<section id=\"across\"><h2>Each model across the runs</h2>");
    guide(
        p,
        "The same model in every run of this page, side by side: clean accuracy, then the \
         headline attacks of adversarial runs or the mean corruption accuracy and mCE of \
         corruption runs.",
    );
    let mut head = String::from("<tr><th class=\"l\">model</th>");
    for (k, run) in runs.iter().enumerate() {
        let mut cols = vec!["clean".to_string()];
        if let Some(s) = &run.adversarial {
            for (a, n, e) in headline_attacks(s) {
                cols.push(format!(
                    "{} {} ε={}",
                    attack_name(a),
                    norm_name(n),
                    fmt_eps(e, n)
                ));
            }
        }
        if run.corruption.is_some() {
            cols.push("mean corruption acc.".into());
            cols.push("mCE".into());
        }
        for c in cols {
            let _ = write!(head, "<th>run {}: {}</th>", k + 1, esc(&c));
        }
    }
    head.push_str("</tr>");
    p.push_str("<table>");
    p.push_str(&head);
    for name in colours.names() {
        let _ = write!(p, "<tr><td class=\"l\">{}</td>", esc(name));
        for run in runs {
            let adv = run
                .adversarial
                .as_ref()
                .and_then(|s| s.models.iter().find(|m| m.model == *name));
            let cor = run
                .corruption
                .as_ref()
                .and_then(|s| s.models.iter().find(|m| m.model == *name));
            let clean = adv
                .map(|m| m.clean_accuracy)
                .or(cor.map(|m| m.clean_accuracy));
            let _ = write!(
                p,
                "<td>{}</td>",
                clean.map(pct).unwrap_or_else(|| "–".into())
            );
            if let Some(s) = &run.adversarial {
                for (a, _, e) in headline_attacks(s) {
                    let v = adv
                        .and_then(|m| cell_at(m, a, e))
                        .map(|c| pct(c.accuracy))
                        .unwrap_or_else(|| "–".into());
                    let _ = write!(p, "<td>{v}</td>");
                }
            }
            if run.corruption.is_some() {
                let mean = cor
                    .and_then(|m| m.mean_corruption_accuracy)
                    .map(pct)
                    .unwrap_or_else(|| "–".into());
                let mce = cor.map(|m| pct_value(m.mce)).unwrap_or_else(|| "–".into());
                let _ = write!(p, "<td>{mean}</td><td>{mce}</td>");
            }
        }
        p.push_str("</tr>");
    }
    p.push_str("</table></section>");
}
