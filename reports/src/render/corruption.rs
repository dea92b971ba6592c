//! The corruption section: clean vs corrupted accuracy with mCE, one heatmap per model,
//! accuracy against severity and per category, the CE table, and the model checks.

use std::fmt::Write as _;

use super::guide;
use crate::charts::{grouped_bars, heatmap, line_chart, Colours, LineSpec, Series};
use crate::html::{esc, pct, pct_value};
use crate::verdict::{ce_baseline_name, corruption_trust_line};
use crate::{CorruptionSummary, ModelCorruption};

/// The corruption section: summary table, heatmaps, severity and category charts, CE table.
pub(super) fn corruption(p: &mut String, s: &CorruptionSummary, colours: &Colours) {
    p.push_str("<h3>Corruption robustness</h3>");
    summary_table(p, s);
    heatmaps(p, s);
    p.push_str(&colours.legend(s.models.iter().map(|m| m.model.as_str())));
    p.push_str("<div class=\"grid\">");
    severity_chart(p, s, colours);
    category_chart(p, s, colours);
    p.push_str("</div>");
    ce_table(p, s);
    model_checks(p, s);
}

/// The run's note (corruption source, images per cell, CE baseline) and the summary table: clean
/// accuracy, mean corruption accuracy, mCE and relative mCE per model, with its guide.
fn summary_table(p: &mut String, s: &CorruptionSummary) {
    let _ = write!(
        p,
        "<p class=\"note\">Corruptions: {}; {} test images per cell; CE baseline: {}.</p>",
        esc(&s.source),
        s.run.images,
        esc(ce_baseline_name(s))
    );
    p.push_str(
        "<table><tr><th class=\"l\">model</th><th>clean</th><th>mean corruption acc.</th>\
         <th>mCE</th><th>relative mCE</th></tr>",
    );
    for m in &s.models {
        let _ = write!(
            p,
            "<tr><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&m.model),
            pct(m.clean_accuracy),
            m.mean_corruption_accuracy
                .map(pct)
                .unwrap_or_else(|| "–".into()),
            pct_value(m.mce),
            pct_value(m.relative_mce)
        );
    }
    p.push_str("</table>");
    guide(
        p,
        "Mean corruption accuracy averages every main corruption and severity (higher is better); \
         mCE is the mean error relative to the baseline (baseline = 100%, lower is better) and \
         relative mCE measures only the drop from clean accuracy.",
    );
}

/// Accuracy per corruption and severity: one heatmap per model, on one colour scale for the whole
/// run; nothing if the run has no cells.
fn heatmaps(p: &mut String, s: &CorruptionSummary) {
    let mut corruptions: Vec<String> = Vec::new();
    let mut max_sev = 0u8;
    for m in &s.models {
        for c in &m.cells {
            if !corruptions.contains(&c.corruption) {
                corruptions.push(c.corruption.clone());
            }
            max_sev = max_sev.max(c.severity);
        }
    }
    if corruptions.is_empty() {
        return;
    }
    let values = s
        .models
        .iter()
        .flat_map(|m| m.cells.iter().map(|c| c.accuracy));
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        if v.is_finite() {
            (lo.min(v), hi.max(v))
        } else {
            (lo, hi)
        }
    });
    let cols: Vec<String> = (1..=max_sev).map(|k| format!("s{k}")).collect();
    p.push_str("<h4>Accuracy per corruption and severity</h4>");
    guide(
        p,
        "One heatmap per model, rows are corruptions and columns severities 1 (mild) to 5 \
         (severe); cells show accuracy in % on one colour scale shared by all models of the \
         run, dark low and yellow high.",
    );
    p.push_str("<div class=\"grid\">");
    for m in &s.models {
        let svg = heatmap(
            &m.model,
            &corruptions,
            &cols,
            |i, j| {
                m.cells
                    .iter()
                    .find(|c| c.corruption == corruptions[i] && usize::from(c.severity) == j + 1)
                    .map(|c| c.accuracy)
            },
            (lo, hi),
        );
        let _ = write!(p, "<figure>{svg}</figure>");
    }
    p.push_str("</div>");
}

/// The accuracy-against-severity figure: one line per model, from its clean accuracy (severity
/// 0) through its mean accuracy at each severity.
fn severity_chart(p: &mut String, s: &CorruptionSummary, colours: &Colours) {
    let series: Vec<Series> = s
        .models
        .iter()
        .map(|m| Series {
            colour: colours.of(&m.model),
            markers: true,
            points: std::iter::once((0.0, m.clean_accuracy * 100.0))
                .chain(
                    m.per_severity
                        .iter()
                        .enumerate()
                        .filter_map(|(k, v)| v.map(|v| ((k + 1) as f64, v * 100.0))),
                )
                .collect(),
        })
        .collect();
    p.push_str("<figure>");
    p.push_str(&line_chart(
        &LineSpec {
            title: "Accuracy vs severity",
            x_desc: "severity (0 = clean)",
            y_desc: "accuracy %",
            integer_x: true,
            y_range: None,
            log_y: false,
            size: (460, 300),
        },
        &series,
    ));
    p.push_str(
        "<figcaption class=\"guide\">Mean accuracy over the main corruptions at each severity, \
         one line per model; a flatter line degrades more gracefully.</figcaption></figure>",
    );
}

/// The accuracy-per-category figure: grouped bars, one per model in each corruption category;
/// nothing if no model has per-category accuracies.
fn category_chart(p: &mut String, s: &CorruptionSummary, colours: &Colours) {
    let mut categories: Vec<String> = Vec::new();
    for m in &s.models {
        for c in &m.per_category {
            if !categories.contains(&c.name) {
                categories.push(c.name.clone());
            }
        }
    }
    if categories.is_empty() {
        return;
    }
    let bars: Vec<(String, usize, Vec<Option<f64>>)> = s
        .models
        .iter()
        .map(|m| {
            (
                m.model.clone(),
                colours.of(&m.model),
                categories
                    .iter()
                    .map(|c| {
                        m.per_category
                            .iter()
                            .find(|x| x.name == *c)
                            .map(|x| x.accuracy)
                    })
                    .collect(),
            )
        })
        .collect();
    p.push_str("<figure>");
    p.push_str(&grouped_bars(
        "Accuracy per corruption category",
        &categories,
        &bars,
    ));
    p.push_str(
        "<figcaption class=\"guide\">Mean accuracy (%) over each category's corruptions and \
         severities, one bar per model.</figcaption></figure>",
    );
}

/// The model checks: the trust line and each model's checks; nothing if no model ran any.
fn model_checks(p: &mut String, s: &CorruptionSummary) {
    if !s.models.iter().any(|m| !m.checks.is_empty()) {
        return;
    }
    p.push_str("<h3>Model checks</h3>");
    guide(
        p,
        "Whether each model's clean predictions are a classifier's: pass is as expected, warn \
         needs a look at the detail, fail means its corruption accuracies say nothing about \
         robustness.",
    );
    let _ = write!(
        p,
        "<p class=\"trust\">{}</p>",
        esc(&corruption_trust_line(s))
    );
    for m in &s.models {
        super::checks::model_checks(p, &m.model, &m.checks);
    }
}

/// CE and relative CE per corruption, one column pair per model with a CE baseline.
fn ce_table(p: &mut String, s: &CorruptionSummary) {
    let models: Vec<&ModelCorruption> = s
        .models
        .iter()
        .filter(|m| !m.corruption_errors.is_empty())
        .collect();
    if models.is_empty() {
        p.push_str("<p>No corruption errors: the run has no CE baseline.</p>");
        return;
    }
    p.push_str("<h4>Corruption error (CE) per corruption</h4>");
    guide(
        p,
        "CE is the model's summed error over severities divided by the baseline's (baseline = \
         100%, lower is better); relative CE does the same for the drop from clean error, and is \
         blank where the baseline does not degrade.",
    );
    p.push_str("<table><tr><th class=\"l\">corruption</th>");
    for m in &models {
        let _ = write!(
            p,
            "<th>{} CE</th><th>{} rel. CE</th>",
            esc(&m.model),
            esc(&m.model)
        );
    }
    p.push_str("</tr>");
    let mut names: Vec<&str> = Vec::new();
    for m in &models {
        for e in &m.corruption_errors {
            if !names.contains(&e.corruption.as_str()) {
                names.push(&e.corruption);
            }
        }
    }
    for n in names {
        let _ = write!(p, "<tr><td class=\"l\">{}</td>", esc(n));
        for m in &models {
            let e = m.corruption_errors.iter().find(|e| e.corruption == n);
            let _ = write!(
                p,
                "<td>{}</td><td>{}</td>",
                pct_value(e.map(|e| e.ce)),
                pct_value(e.and_then(|e| e.relative_ce))
            );
        }
        p.push_str("</tr>");
    }
    p.push_str("<tr><th class=\"l\">mean (mCE, relative mCE)</th>");
    for m in &models {
        let _ = write!(
            p,
            "<th>{}</th><th>{}</th>",
            pct_value(m.mce),
            pct_value(m.relative_mce)
        );
    }
    p.push_str("</tr></table>");
}
