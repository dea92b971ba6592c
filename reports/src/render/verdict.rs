//! The verdict section at the top of the page: one list of plain sentences per run, and the
//! trust line. What the sentences say is decided in `crate::verdict`; this file only lays them
//! out.

use std::fmt::Write as _;

use super::suite_name;
use crate::charts::{html_legend, trade_off_chart, Marker, TradeOffPoint};
use crate::html::attack_name;
use crate::html::esc;
use crate::paper;
use crate::stats::wilson;
use crate::verdict::{
    adversarial_conclusion, adversarial_verdict, corruption_conclusion, corruption_trust_line,
    corruption_verdict, trust_line, Conclusion,
};
use crate::{AdversarialSummary, Norm, RunResults};

/// One run's verdict: its heading, the conclusion paragraph, the comparison sentences and the
/// trust line.
pub(super) fn verdict(p: &mut String, run: &RunResults) {
    let _ = write!(p, "<h3>{} ({})</h3>", esc(&run.dir_label), suite_name(run));
    if let Some(c) = run.adversarial.as_ref().and_then(adversarial_conclusion) {
        conclusion_table(p, &c);
    }
    if let Some(s) = &run.adversarial {
        trade_off(p, s);
    }
    if let Some(c) = run.corruption.as_ref().and_then(corruption_conclusion) {
        let _ = write!(p, "<p class=\"conclusion\">{}</p>", esc(&c));
    }
    p.push_str("<ul class=\"verdict\">");
    let mut any = false;
    if let Some(s) = &run.adversarial {
        for line in adversarial_verdict(s) {
            let _ = write!(p, "<li>{}</li>", esc(&line));
            any = true;
        }
    }
    if let Some(s) = &run.corruption {
        for line in corruption_verdict(s) {
            let _ = write!(p, "<li>{}</li>", esc(&line));
            any = true;
        }
    }
    if !any {
        p.push_str("<li>No comparison: the run has fewer than two models or no summary.</li>");
    }
    p.push_str("</ul>");
    if let Some(s) = &run.adversarial {
        let _ = write!(p, "<p class=\"trust\">{}</p>", esc(&trust_line(s)));
    }
    if let Some(s) = &run.corruption {
        let _ = write!(
            p,
            "<p class=\"trust\">{}</p>",
            esc(&corruption_trust_line(s))
        );
    }
}

/// The adversarial conclusion: one row per model against its baseline (Δ clean, Δ robust with
/// its 95 % interval, verdict), then its sentence and how far to trust it.
fn conclusion_table(p: &mut String, c: &Conclusion) {
    p.push_str(
        "<table><tr><th class=\"l\">model</th><th class=\"l\">baseline</th><th>Δ clean \
         (points)</th><th>Δ robust [95 % interval] (points)</th><th class=\"l\">verdict</th></tr>",
    );
    let points = |x: f64| format!("{:+.1}", 100.0 * x);
    for r in &c.rows {
        let baseline = r.baseline_label();
        let (d, lo, hi) = r.delta_robust;
        let _ = write!(
            p,
            "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td>{} [{} to {}] \
             under {}</td><td class=\"l\">{}</td></tr>",
            esc(&r.model),
            esc(&baseline),
            points(r.delta_clean),
            points(d),
            points(lo),
            points(hi),
            esc(&attack_name(r.attack)),
            esc(&r.verdict.label())
        );
    }
    p.push_str("</table>");
    let _ = write!(
        p,
        "<p class=\"conclusion\">{}</p><p class=\"note\">{}</p>",
        esc(&c.sentence),
        esc(&c.trust)
    );
}

/// The clean-vs-robust chart of an adversarial run with two or more models: each model's
/// robust accuracy under its strongest attack at the headline L∞ budget (the lowest accuracy of
/// any attack there) against its clean accuracy, both with 95 % Wilson intervals; colour is the
/// operator (its paper column, [`paper::operator_column`]), the marker the training.
fn trade_off(p: &mut String, s: &AdversarialSummary) {
    let e = s.headline_linf;
    let points: Vec<TradeOffPoint> = s
        .models
        .iter()
        .filter_map(|m| {
            let worst = m
                .cells
                .iter()
                .filter(|c| c.norm == Norm::Linf && (c.eps - e).abs() <= 1e-9 && c.images > 0)
                .min_by(|a, b| a.accuracy.total_cmp(&b.accuracy))?;
            Some(TradeOffPoint {
                clean: m.clean_accuracy,
                clean_ci: wilson(m.clean_accuracy, s.run.images),
                robust: worst.accuracy,
                robust_ci: wilson(worst.accuracy, worst.images),
                colour: paper::operator_column(&m.model).unwrap_or(paper::OPERATOR_KEYS.len()),
                marker: Marker::of_training(m.adversarial_training.as_deref()),
            })
        })
        .collect();
    if points.len() < 2 {
        return;
    }
    let eps = crate::html::eps(e, Norm::Linf);
    p.push_str("<div>");
    p.push_str(&trade_off_chart(
        &format!("Clean vs robust accuracy at ε = {eps}"),
        "robust accuracy, strongest attack (%)",
        &points,
    ));
    p.push_str(&html_legend(
        paper::OPERATOR_KEYS
            .iter()
            .enumerate()
            .filter(|(i, _)| points.iter().any(|pt| pt.colour == *i))
            .map(|(i, o)| (*o, i)),
    ));
    let _ = write!(
        p,
        "<p class=\"note\">{} standard, {} FGSM, {} FGSM-RS, {} PGD training. Bars: 95 % \
         intervals. Up and to the right is better; a model up and to the left bought its \
         robustness with clean accuracy.</p></div>",
        Marker::Circle.symbol(),
        Marker::Triangle.symbol(),
        Marker::Diamond.symbol(),
        Marker::Square.symbol()
    );
}
