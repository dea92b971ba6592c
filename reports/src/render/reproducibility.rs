//! The reproducibility section: version, seed, data, device, timings and the suite
//! configuration of a run.

use std::fmt::Write as _;

use super::guide;
use crate::html::esc;
use crate::RunResults;

/// What produced the run's numbers, as a table, and its `suite.json`, folded.
pub(super) fn reproducibility(p: &mut String, run: &RunResults) {
    p.push_str("<h3>Reproducibility</h3>");
    guide(p, "What produced these numbers: rerunning the same suite configuration with the same seed, data and version should reproduce them.");
    p.push_str("<table>");
    let mut row = |k: &str, v: String| {
        let _ = write!(
            p,
            "<tr><th class=\"l\">{}</th><td class=\"l\">{}</td></tr>",
            esc(k),
            esc(&v)
        );
    };
    row("run directory", run.dir_label.clone());
    if let Some(s) = &run.adversarial {
        row("suite", "adversarial".into());
        row("dcrobust version", s.version.clone());
        row("seed", s.run.seed.to_string());
        row("data", s.run.data.clone());
        row("test images evaluated", s.run.images.to_string());
        row(
            "classes",
            format!("{} ({})", s.run.classes.len(), s.run.classes.join(", ")),
        );
        row("device", s.run.device.clone());
        row("threads", s.run.threads.to_string());
        row(
            "training / loading time",
            format!("{:.1} s", s.run.train_seconds),
        );
        row("evaluation time", format!("{:.1} s", s.eval_seconds));
    }
    if let Some(s) = &run.corruption {
        row("suite", "corruption".into());
        row("dcrobust version", s.version.clone());
        row("seed", s.run.seed.to_string());
        row("data", s.run.data.clone());
        row("test images per cell", s.run.images.to_string());
        row(
            "classes",
            format!("{} ({})", s.run.classes.len(), s.run.classes.join(", ")),
        );
        row("device", s.run.device.clone());
        row("threads", s.run.threads.to_string());
        row("corruption source", s.source.clone());
        row(
            "CE baseline",
            s.baseline.clone().unwrap_or_else(|| "none".into()),
        );
        row(
            "training / loading time",
            format!("{:.1} s", s.run.train_seconds),
        );
        row("corruption time", format!("{:.1} s", s.corrupt_seconds));
        row("evaluation time", format!("{:.1} s", s.eval_seconds));
    }
    p.push_str("</table>");
    let origins = run
        .adversarial
        .as_ref()
        .map(|s| &s.run.origins)
        .or(run.corruption.as_ref().map(|s| &s.run.origins));
    if let Some(origins) = origins.filter(|o| !o.is_empty()) {
        p.push_str("<h4>Models evaluated</h4><table><tr><th class=\"l\">model</th><th class=\"l\">source</th><th class=\"l\">format</th><th class=\"l\">SHA-256</th></tr>");
        for o in origins {
            let _ = write!(
                p,
                "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\"><code>{}</code></td></tr>",
                esc(&o.model),
                esc(&o.source),
                esc(&o.format),
                esc(o.sha256.as_deref().unwrap_or("-"))
            );
        }
        p.push_str("</table>");
    }
    if let Some(cfg) = &run.suite_config {
        let pretty = serde_json::to_string_pretty(cfg).unwrap_or_default();
        let _ = write!(
            p,
            "<details><summary>Suite configuration (suite.json)</summary><pre>{}</pre></details>",
            esc(&pretty)
        );
    }
}
