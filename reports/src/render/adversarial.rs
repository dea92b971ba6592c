//! The adversarial section: the headline table next to the paper's numbers, the paper's tables,
//! accuracy against ε per attack, white-box vs transfer, and every white-box cell.

use std::fmt::Write as _;

use super::guide;
use crate::charts::{auto_range, grouped_bars, line_chart, Colours, LineSpec, Series};
use crate::headline::{cell_at, headline_attacks};
use crate::html::{attack_name, eps as fmt_eps, esc, norm_name, pct};
use crate::paper::{self, PaperRow, TABLE7_WHITE_BOX, TABLE8_BLACK_BOX};
use crate::stats::wilson;
use crate::{AdversarialSummary, AttackCell, AttackId, ModelAdversarial, Norm};

/// The adversarial section: headline, paper tables (CIFAR-10 runs of the paper's models only),
/// accuracy vs ε, transfer and every cell.
pub(super) fn adversarial(p: &mut String, s: &AdversarialSummary, colours: &Colours) {
    p.push_str("<h3>Adversarial robustness</h3>");
    let with_paper = paper::applies(&s.run.classes, s.models.iter().map(|m| m.model.as_str()));
    headline_table(p, s, with_paper);
    if with_paper {
        paper_tables(p);
    }
    accuracy_vs_eps(p, s, colours);
    transfer_table(p, s);
    all_cells_table(p, s);
}

/// The headline table: clean and robust accuracy at the headline budget, with the paper's
/// matching numbers beside them when `with_paper`.
fn headline_table(p: &mut String, s: &AdversarialSummary, with_paper: bool) {
    let attacks = headline_attacks(s);
    headline_heading(p, s, with_paper);
    headline_header_row(p, &attacks, with_paper);
    for m in &s.models {
        headline_row(p, m, &attacks, with_paper);
    }
    p.push_str("</table>");
    if with_paper {
        p.push_str(
            "<p class=\"note\">The paper's models reach 85–91% clean accuracy; its ε, pixel \
             scale, BIM steps, transfer source model and architecture are unknown, so compare the \
             ordering of models, not the values. Paper columns are matched by name (baseline, \
             sphere, ball, tanh) and by whether the model was adversarially trained.</p>",
        );
    }
}

/// The headline table's heading (the headline budgets) and its guide.
fn headline_heading(p: &mut String, s: &AdversarialSummary, with_paper: bool) {
    let _ = write!(
        p,
        "<h4>Headline: clean and robust accuracy at ε = {} (L∞) / {} (L2){}</h4>",
        fmt_eps(s.headline_linf, Norm::Linf),
        fmt_eps(s.headline_l2, Norm::L2),
        if with_paper {
            ", next to the paper"
        } else {
            ""
        }
    );
    guide(
        p,
        if with_paper {
            "Each row is a model: accuracy on clean test images, then on adversarial images of \
             each white-box attack at the headline budget (higher is more robust), with its 95 % \
             confidence interval; the shaded columns are the paper's numbers for the matching \
             operator, not measured here."
        } else {
            "Each row is a model: accuracy on clean test images, then on adversarial images of \
             each white-box attack at the headline budget (higher is more robust), with its 95 % \
             confidence interval."
        },
    );
}

/// The headline table's opening tag and header row: the model columns, one column per headline
/// attack, and the paper's columns when `with_paper`.
fn headline_header_row(p: &mut String, attacks: &[(AttackId, Norm, f64)], with_paper: bool) {
    p.push_str(
        "<table><tr><th class=\"l\">model</th><th class=\"l\">adv. training</th><th>parameters</th><th>clean</th>",
    );
    for (a, n, e) in attacks {
        let _ = write!(
            p,
            "<th>{} {} ε={}</th>",
            esc(&attack_name(*a)),
            norm_name(*n),
            esc(&fmt_eps(*e, *n))
        );
    }
    let paper_heads: &[&str] = if with_paper {
        &[
            "paper (Liu et al. 2018, Table 7): clean",
            "paper (Liu et al. 2018, Table 7): FGSM",
            "paper (Liu et al. 2018, Table 7): BIM",
            "paper (Liu et al. 2018, Table 8): FGSM transfer",
            "paper (Liu et al. 2018, Table 8): BIM transfer",
        ]
    } else {
        &[]
    };
    for h in paper_heads {
        let _ = write!(p, "<th class=\"paper\">{h}</th>");
    }
    p.push_str("</tr>");
}

/// One model's headline row: its clean accuracy, its accuracy with a 95 % interval under each
/// headline attack, and the paper's numbers for its operator when `with_paper`.
fn headline_row(
    p: &mut String,
    m: &ModelAdversarial,
    attacks: &[(AttackId, Norm, f64)],
    with_paper: bool,
) {
    let _ = write!(
        p,
        "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td>",
        esc(&m.model),
        esc(m.adversarial_training.as_deref().unwrap_or("none")),
        m.parameters,
        pct(m.clean_accuracy)
    );
    for (a, _, e) in attacks {
        let v = cell_at(m, *a, *e)
            .map(|c| {
                let (lo, hi) = wilson(c.accuracy, c.images);
                format!(
                    "{}<br><small>{:.1}–{:.1}</small>",
                    pct(c.accuracy),
                    100.0 * lo,
                    100.0 * hi
                )
            })
            .unwrap_or_else(|| "–".into());
        let _ = write!(p, "<td>{v}</td>");
    }
    if with_paper {
        paper_cells(p, m);
    }
    p.push_str("</tr>");
}

/// The paper's numbers for `m`'s operator and adversarial training: Table 7's clean, FGSM and
/// BIM accuracy and Table 8's FGSM and BIM transfer accuracy, `–` where the paper has none.
fn paper_cells(p: &mut String, m: &ModelAdversarial) {
    let col = paper::operator_column(&m.model);
    let adv = m.adversarial_training.as_deref();
    for (table, row) in [
        (&TABLE7_WHITE_BOX, "None"),
        (&TABLE7_WHITE_BOX, "FGSM"),
        (&TABLE7_WHITE_BOX, "BIM"),
        (&TABLE8_BLACK_BOX, "FGSM"),
        (&TABLE8_BLACK_BOX, "BIM"),
    ] {
        let v = col
            .and_then(|c| paper::lookup(table, c, row, adv))
            .map(|v| format!("{v:.2}%"))
            .unwrap_or_else(|| "–".into());
        let _ = write!(p, "<td class=\"paper\">{v}</td>");
    }
}

/// One of the paper's tables, as published.
fn paper_table(p: &mut String, caption: &str, rows: &[PaperRow]) {
    let _ = write!(
        p,
        "<table class=\"paper\"><caption>{}</caption><tr><th class=\"l\">training</th><th class=\"l\">attack</th>",
        esc(caption)
    );
    for op in paper::OPERATORS {
        let _ = write!(p, "<th>{op}</th>");
    }
    p.push_str("</tr>");
    for r in rows {
        let _ = write!(
            p,
            "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td>",
            if r.adversarially_trained {
                "adversarial"
            } else {
                "standard"
            },
            r.attack
        );
        for v in r.accuracy {
            let _ = write!(p, "<td>{v:.2}</td>");
        }
        p.push_str("</tr>");
    }
    p.push_str("</table>");
}

/// The paper's Tables 7 and 8 in full, folded.
fn paper_tables(p: &mut String) {
    p.push_str(
        "<details><summary>The paper's Tables 7 and 8 in full</summary><div class=\"grid\">",
    );
    paper_table(
        p,
        "paper (Liu et al. 2018, Table 7): white-box attacks on CIFAR-10, accuracy (%)",
        &TABLE7_WHITE_BOX,
    );
    paper_table(
        p,
        "paper (Liu et al. 2018, Table 8): black-box attacks on CIFAR-10, accuracy (%)",
        &TABLE8_BLACK_BOX,
    );
    p.push_str("</div>");
    guide(
        p,
        "Published numbers, not measured here; settings unknown (see above); which unlabelled \
         table is white-box is inferred from its lower accuracies.",
    );
    p.push_str("</details>");
}

/// One chart per attack: accuracy against the budget ε, one line per model; an attack run at
/// a single non-zero ε (Square, usually) gets bars instead, one per model.
fn accuracy_vs_eps(p: &mut String, s: &AdversarialSummary, colours: &Colours) {
    let mut attacks: Vec<(AttackId, Norm)> = Vec::new();
    for m in &s.models {
        for c in &m.cells {
            if !attacks.iter().any(|(a, _)| *a == c.attack) {
                attacks.push((c.attack, c.norm));
            }
        }
    }
    if attacks.is_empty() {
        return;
    }
    p.push_str("<h4>Accuracy vs budget ε, per attack</h4>");
    guide(
        p,
        "Each chart is one white-box attack, each line one model: accuracy on adversarial images \
         as the budget grows (ε = 0 is clean accuracy); a higher line is a more robust model, and \
         a line that rises with ε hints at a failing attack. An attack run at one budget only is \
         drawn as bars.",
    );
    p.push_str(&colours.legend(s.models.iter().map(|m| m.model.as_str())));
    p.push_str("<div class=\"grid\">");
    for &(a, norm) in &attacks {
        let linf = norm == Norm::Linf;
        let scale = |e: f64| if linf { e * 255.0 } else { e };
        let title = format!("{} ({})", attack_name(a), norm_name(norm));
        let mut budgets: Vec<f64> = s
            .models
            .iter()
            .flat_map(|m| m.cells.iter().filter(|c| c.attack == a && c.eps > 0.0))
            .map(|c| c.eps)
            .collect();
        budgets.sort_by(f64::total_cmp);
        budgets.dedup();
        if budgets.len() == 1 {
            let e = budgets[0];
            let bars: Vec<(String, usize, Vec<Option<f64>>)> = s
                .models
                .iter()
                .map(|m| {
                    (
                        m.model.clone(),
                        colours.of(&m.model),
                        vec![cell_at(m, a, e).map(|c| c.accuracy)],
                    )
                })
                .collect();
            let group = format!("ε = {}", fmt_eps(e, norm));
            let _ = write!(
                p,
                "<figure>{}</figure>",
                grouped_bars(&title, &[group], &bars)
            );
            continue;
        }
        let series: Vec<Series> = s
            .models
            .iter()
            .map(|m| {
                let mut pts: Vec<(f64, f64)> = m
                    .cells
                    .iter()
                    .filter(|c| c.attack == a)
                    .map(|c| (scale(c.eps), c.accuracy * 100.0))
                    .collect();
                pts.sort_by(|x, y| x.0.total_cmp(&y.0));
                Series {
                    points: pts,
                    colour: colours.of(&m.model),
                    markers: true,
                }
            })
            .collect();
        let hi = auto_range(
            series.iter().flat_map(|s| s.points.iter().map(|p| p.1)),
            true,
        )
        .1;
        let x_desc = if linf { "ε × 255 (L∞)" } else { "ε (L2)" };
        let svg = line_chart(
            &LineSpec {
                title: &title,
                x_desc,
                y_desc: "accuracy %",
                integer_x: false,
                y_range: Some((0.0, hi.min(100.0))),
                log_y: false,
                size: (380, 280),
            },
            &series,
        );
        let _ = write!(p, "<figure>{svg}</figure>");
    }
    p.push_str("</div>");
}

/// Transfer (black-box) accuracy next to the target's white-box accuracy.
fn transfer_table(p: &mut String, s: &AdversarialSummary) {
    if s.transfer.is_empty() {
        return;
    }
    p.push_str("<h4>White-box vs transfer (black-box)</h4>");
    guide(
        p,
        "Examples crafted on the source model and fed to the target: the target should do better \
         on transferred examples than under its own white-box attack; the opposite points to \
         masked gradients on the target.",
    );
    p.push_str(
        "<table><tr><th class=\"l\">source</th><th class=\"l\">target</th><th class=\"l\">attack</th>\
         <th>ε</th><th>target, transfer</th><th>target, white-box</th><th>source, white-box</th></tr>",
    );
    for t in &s.transfer {
        let target = s.models.iter().find(|m| m.model == t.target);
        let wb = target.and_then(|m| cell_at(m, t.attack, t.eps));
        let norm = wb.map_or(Norm::Linf, |c| c.norm);
        let _ = write!(
            p,
            "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&t.source),
            esc(&t.target),
            esc(&attack_name(t.attack)),
            esc(&fmt_eps(t.eps, norm)),
            pct(t.accuracy),
            wb.map(|c| pct(c.accuracy)).unwrap_or_else(|| "–".into()),
            pct(t.source_accuracy)
        );
    }
    p.push_str("</table>");
}

/// One table row per attack cell (the columns of [`CELLS_HEADER`]).
pub(super) fn cells_rows(p: &mut String, model: &str, cells: &[AttackCell]) {
    for c in cells {
        let _ = write!(
            p,
            "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{:.4}</td><td>{:.3}</td><td>{:.3}</td><td>{}</td><td>{}</td><td>{:.2}</td></tr>",
            esc(model),
            esc(&attack_name(c.attack)),
            esc(&fmt_eps(c.eps, c.norm)),
            c.steps.map(|s| s.to_string()).unwrap_or_else(|| "–".into()),
            c.images,
            pct(c.accuracy),
            pct(c.success_rate),
            c.mean_linf,
            c.mean_l2,
            c.mean_loss,
            c.gradients,
            c.queries,
            c.seconds
        );
    }
}

/// The header row of an attack-cell table (opens the `<table>`).
pub(super) const CELLS_HEADER: &str =
    "<table><tr><th class=\"l\">model</th><th class=\"l\">attack</th><th>ε</th>\
<th>steps</th><th>images</th><th>accuracy</th><th>success</th><th>mean L∞</th><th>mean L2</th>\
<th>mean loss</th><th>gradients</th><th>queries</th><th>seconds</th></tr>";

/// Every white-box cell, folded.
fn all_cells_table(p: &mut String, s: &AdversarialSummary) {
    p.push_str("<details><summary>Every white-box cell</summary>");
    guide(
        p,
        "One row per model, attack and ε: success is the fraction of attacked images the attack \
         fooled; gradients and queries count images × backward and forward passes.",
    );
    p.push_str(CELLS_HEADER);
    for m in &s.models {
        cells_rows(p, &m.model, &m.cells);
    }
    p.push_str("</table></details>");
}
