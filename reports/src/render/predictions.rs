//! Per model, what it predicts: the share of clean predictions per class and the confusion
//! matrices on clean images and under the headline attack.

use std::fmt::Write as _;

use super::guide;
use crate::charts::{grouped_bars, Colours};
use crate::html::{attack_name, eps as fmt_eps, esc};
use crate::{AdversarialSummary, ConfusionMatrix, Norm};

/// One folded block per model with its prediction histogram and confusion matrices; nothing
/// when no model recorded them.
pub(super) fn predictions(p: &mut String, s: &AdversarialSummary, colours: &Colours) {
    if s.models
        .iter()
        .all(|m| m.prediction_counts.is_empty() && m.confusion.is_empty())
    {
        return;
    }
    p.push_str("<h3>What the models predict</h3>");
    guide(
        p,
        "Per model: the share of the clean images predicted as each class (balanced test images \
         give about equal bars; a few tall bars mean a collapsed model), and confusion matrices \
         (rows: true class, columns: predicted class, darker: a larger share of the row) on the \
         clean images and under the headline attack.",
    );
    for m in &s.models {
        let _ = write!(p, "<details><summary>{}</summary>", esc(&m.model));
        let n: usize = m.prediction_counts.iter().sum();
        if n > 0 {
            let names = class_names(&s.run.classes, m.prediction_counts.len());
            let shares = m
                .prediction_counts
                .iter()
                .map(|&c| Some(c as f64 / n as f64))
                .collect();
            let _ = write!(
                p,
                "<figure>{}</figure>",
                grouped_bars(
                    &format!("{}: share of clean predictions per class", m.model),
                    &names,
                    &[(m.model.clone(), colours.of(&m.model), shares)],
                )
            );
        }
        p.push_str("<div class=\"grid\">");
        for c in &m.confusion {
            confusion_table(p, c, &s.run.classes);
        }
        p.push_str("</div></details>");
    }
}

/// The run's class names, or `0`, `1`, … when it recorded fewer than `k`.
fn class_names(classes: &[String], k: usize) -> Vec<String> {
    if classes.len() >= k {
        classes[..k].to_vec()
    } else {
        (0..k).map(|i| i.to_string()).collect()
    }
}

/// A confusion matrix as a table, each cell shaded by its share of the row.
fn confusion_table(p: &mut String, c: &ConfusionMatrix, classes: &[String]) {
    let names = class_names(classes, c.counts.len());
    let title = match c.attack {
        None => "clean images".to_string(),
        Some(a) => format!("{} at ε = {}", attack_name(a), fmt_eps(c.eps, Norm::Linf)),
    };
    let _ = write!(
        p,
        "<table class=\"confusion\"><caption>{}</caption><tr><th class=\"l\">true \\ predicted</th>",
        esc(&title)
    );
    for n in &names {
        let _ = write!(p, "<th>{}</th>", esc(n));
    }
    p.push_str("</tr>");
    for (t, row) in c.counts.iter().enumerate() {
        let total: usize = row.iter().sum();
        let _ = write!(p, "<tr><th class=\"l\">{}</th>", esc(&names[t]));
        for &v in row {
            let share = if total == 0 {
                0.0
            } else {
                v as f64 / total as f64
            };
            // White at 0, dark blue at the whole row; text turns white on dark cells.
            let shade = (255.0 * (1.0 - 0.8 * share)).round() as u8;
            let ink = if share > 0.5 { "white" } else { "black" };
            let _ = write!(
                p,
                "<td style=\"background:rgb({shade},{shade},255);color:{ink}\">{v}</td>"
            );
        }
        p.push_str("</tr>");
    }
    p.push_str("</table>");
}
