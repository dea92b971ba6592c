//! The HTML page: its skeleton (head, run list, verdict section, one block per run) and the
//! helpers every section shares. Each section lives in its own file:
//!
//! - `verdict.rs`: the verdict lines at the top (the decisions are in `crate::verdict`);
//! - `across.rs`: each model across the runs of a page of several runs;
//! - `convergence.rs`: training curves and the last-epoch table;
//! - `adversarial.rs`: the headline table next to the paper, accuracy vs ε, transfer, every cell;
//! - `checks.rs`: the gradient-masking checks;
//! - `predictions.rs`: prediction histograms and confusion matrices;
//! - `corruption.rs`: corruption accuracy tables, heatmaps, charts and the CE table;
//! - `examples.rs`: adversarial and corrupted example images with predictions;
//! - `features.rs`: 2-D feature scatter plots;
//! - `reproducibility.rs`: what produced the numbers;
//! - `style.rs`: the inline CSS.

mod across;
mod adversarial;
mod checks;
mod convergence;
mod corruption;
mod examples;
mod features;
mod predictions;
mod reproducibility;
mod style;
mod verdict;

use std::fmt::Write as _;

use crate::charts::Colours;
use crate::html::esc;
use crate::RunResults;
use style::CSS;

/// Renders the results of one or more runs into one self-contained HTML page.
///
/// The page opens with a verdict per run, then one block per run with its convergence,
/// adversarial, corruption, example, check and reproducibility sections (each section only where
/// the run has the data). Charts are inline SVG, images are `data:` URIs, styling is one inline
/// `<style>`; the page has no scripts and loads nothing from elsewhere. Every string taken from
/// the results is HTML-escaped.
pub fn render(runs: &[RunResults]) -> String {
    let mut p = String::with_capacity(1 << 20);
    p.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    p.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
    let _ = write!(
        p,
        "<title>dcrobust report</title><style>{CSS}</style></head><body>"
    );
    p.push_str("<h1>dcrobust report</h1>");
    if runs.is_empty() {
        p.push_str("<p>No runs were given.</p></body></html>\n");
        return p;
    }
    p.push_str("<p>Runs: </p><ul>");
    for (k, run) in runs.iter().enumerate() {
        let _ = write!(
            p,
            "<li><a href=\"#run-{k}\">{}</a> ({})</li>",
            esc(&run.dir_label),
            suite_name(run)
        );
    }
    p.push_str("</ul>");
    let colours = page_colours(runs);
    if !colours.names().is_empty() {
        p.push_str("<p class=\"note\">Models (one colour each in every chart of this page):</p>");
        p.push_str(&colours.legend(colours.names().iter().map(String::as_str)));
    }

    p.push_str("<section id=\"verdict\"><h2>Verdict</h2>");
    guide(
        &mut p,
        "Each line compares a decoupled model with the baseline of the same run, in plain numbers \
         taken from the tables below; the trust line says whether the gradient-masking checks \
         leave the white-box numbers believable.",
    );
    for run in runs {
        verdict::verdict(&mut p, run);
    }
    p.push_str("</section>");
    across::across_runs(&mut p, runs, &colours);

    for (k, run) in runs.iter().enumerate() {
        let _ = write!(
            p,
            "<section id=\"run-{k}\"><h2>Run {}: {} ({})</h2>",
            k + 1,
            esc(&run.dir_label),
            suite_name(run)
        );
        convergence::convergence(&mut p, &run.histories, &colours);
        if let Some(s) = &run.adversarial {
            adversarial::adversarial(&mut p, s, &colours);
        }
        if let Some(s) = &run.corruption {
            corruption::corruption(&mut p, s, &colours);
        }
        if let Some(s) = &run.adversarial {
            examples::adversarial_examples(&mut p, s, &run.images);
            predictions::predictions(&mut p, s, &colours);
            checks::checks(&mut p, s);
        }
        if let Some(s) = &run.corruption {
            examples::corruption_examples(&mut p, s, &run.images);
        }
        features::features_section(&mut p, &run.features);
        reproducibility::reproducibility(&mut p, run);
        p.push_str("</section>");
    }
    p.push_str("</body></html>\n");
    p
}

/// Every model of the page in the order it first appears: per run, the trained models'
/// histories, then the adversarial suite's models, then the corruption suite's.
fn page_colours(runs: &[RunResults]) -> Colours {
    let mut c = Colours::default();
    for run in runs {
        for h in &run.histories {
            c.add(&h.model);
        }
        for m in run.adversarial.iter().flat_map(|s| &s.models) {
            c.add(&m.model);
        }
        for m in run.corruption.iter().flat_map(|s| &s.models) {
            c.add(&m.model);
        }
    }
    c
}

/// How the page names a run's suite, from the summaries it holds.
fn suite_name(run: &RunResults) -> &'static str {
    match (&run.adversarial, &run.corruption) {
        (Some(_), Some(_)) => "adversarial and corruption",
        (Some(_), None) => "adversarial",
        (None, Some(_)) => "corruption",
        (None, None) => "no summary",
    }
}

/// A reading guide: one sentence under a heading, chart or table.
fn guide(p: &mut String, text: &str) {
    let _ = write!(p, "<p class=\"guide\">{}</p>", esc(text));
}
