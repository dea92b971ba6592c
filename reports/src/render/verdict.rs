//! The verdict section at the top of the page: one list of plain sentences per run, and the
//! trust line. What the sentences say is decided in `crate::verdict`; this file only lays them
//! out.

use std::fmt::Write as _;

use super::suite_name;
use crate::html::esc;
use crate::verdict::{
    adversarial_conclusion, adversarial_verdict, corruption_conclusion, corruption_trust_line,
    corruption_verdict, trust_line,
};
use crate::RunResults;

/// One run's verdict: its heading, the conclusion paragraph, the comparison sentences and the
/// trust line.
pub(super) fn verdict(p: &mut String, run: &RunResults) {
    let _ = write!(p, "<h3>{} ({})</h3>", esc(&run.dir_label), suite_name(run));
    let conclusion = run
        .adversarial
        .as_ref()
        .and_then(adversarial_conclusion)
        .into_iter()
        .chain(run.corruption.as_ref().and_then(corruption_conclusion));
    for c in conclusion {
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
