//! The HTML page: verdict, convergence, adversarial, corruption, examples, checks and
//! reproducibility sections, one block per run.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::charts::{auto_range, grouped_bars, heatmap, html_legend, line_chart, LineSpec, Series};
use crate::html::{eps as fmt_eps, esc, pct, pct_value};
use crate::images::{magnified_perturbation, png_data_uri};
use crate::paper::{self, PaperRow, TABLE7_WHITE_BOX, TABLE8_BLACK_BOX};
use crate::{
    AdversarialSummary, AttackCell, CheckStatus, CorruptionSummary, ModelAdversarial,
    ModelCorruption, RunResults, TrainingHistory,
};

const CSS: &str = "body{font-family:sans-serif;margin:0 auto;max-width:1200px;padding:0 16px 40px;\
color:#222;line-height:1.4}h1{margin-top:24px}h2{border-bottom:2px solid #ccc;padding-bottom:4px;\
margin-top:40px}h3{margin-top:28px}table{border-collapse:collapse;margin:8px 0;font-size:13px}\
th,td{border:1px solid #ccc;padding:3px 7px;text-align:right}th{background:#f2f2f2}\
td.l,th.l{text-align:left}.guide{color:#555;font-size:13px;font-style:italic;margin:4px 0 12px}\
.grid{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start}figure{margin:0}\
figcaption{max-width:480px}svg{max-width:100%;height:auto}\
.badge{display:inline-block;padding:1px 8px;border-radius:9px;font-size:12px;font-weight:bold;\
color:white}.pass{background:#2a8a3e}.warn{background:#c98a00}.fail{background:#c0392b}\
.paper{background:#f7f3e8}img.px{image-rendering:pixelated;width:64px;height:64px;display:block}\
.ex td{text-align:center;font-size:11px;vertical-align:top}.wrong{color:#c0392b;font-weight:bold}\
.missing{color:#c0392b;font-size:11px}pre{background:#f6f6f6;padding:8px;overflow:auto;\
font-size:12px}.verdict li{margin:4px 0}.trust{font-weight:bold}.note{font-size:13px}\
details{margin:8px 0}summary{cursor:pointer}.err{color:#c0392b}\
.legend{font-size:13px;margin:6px 0}.legend span{margin-right:14px;white-space:nowrap}\
.legend i{display:inline-block;width:18px;height:4px;margin-right:5px;vertical-align:middle}";

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

    p.push_str("<section id=\"verdict\"><h2>Verdict</h2>");
    guide(
        &mut p,
        "Each line compares a decoupled model with the baseline of the same run, in plain numbers \
         taken from the tables below; the trust line says whether the gradient-masking checks \
         leave the white-box numbers believable.",
    );
    for run in runs {
        verdict(&mut p, run);
    }
    p.push_str("</section>");

    for (k, run) in runs.iter().enumerate() {
        let _ = write!(
            p,
            "<section id=\"run-{k}\"><h2>Run {}: {} ({})</h2>",
            k + 1,
            esc(&run.dir_label),
            suite_name(run)
        );
        convergence(&mut p, &run.histories);
        if let Some(s) = &run.adversarial {
            adversarial(&mut p, s);
        }
        if let Some(s) = &run.corruption {
            corruption(&mut p, s);
        }
        if let Some(s) = &run.adversarial {
            adversarial_examples(&mut p, s, &run.images);
            checks(&mut p, s);
        }
        if let Some(s) = &run.corruption {
            corruption_examples(&mut p, s, &run.images);
        }
        features_section(&mut p, &run.features);
        reproducibility(&mut p, run);
        p.push_str("</section>");
    }
    p.push_str("</body></html>\n");
    p
}

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

/// An attack's display name, e.g. `pgd-l2` → `PGD-L2`.
fn attack_name(a: &str) -> String {
    a.to_uppercase()
}

fn norm_name(norm: &str) -> &str {
    match norm {
        "linf" => "L∞",
        "l2" => "L2",
        other => other,
    }
}

/// The white-box cell of `attack` at budget `eps`, if evaluated.
pub(crate) fn cell_at<'a>(
    m: &'a ModelAdversarial,
    attack: &str,
    eps: f64,
) -> Option<&'a AttackCell> {
    m.cells
        .iter()
        .find(|c| c.attack == attack && (c.eps - eps).abs() <= 1e-9)
}

/// Every attack of the run, in first-seen order, with its norm and headline budget (the L∞ or L2
/// headline ε by the attack's norm); attacks no model evaluated at that budget are left out.
pub(crate) fn headline_attacks(s: &AdversarialSummary) -> Vec<(String, String, f64)> {
    let mut out: Vec<(String, String, f64)> = Vec::new();
    for m in &s.models {
        for c in &m.cells {
            if out.iter().any(|(a, _, _)| *a == c.attack) {
                continue;
            }
            let e = if c.norm == "l2" {
                s.headline_l2
            } else {
                s.headline_linf
            };
            if s.models.iter().any(|m| cell_at(m, &c.attack, e).is_some()) {
                out.push((c.attack.clone(), c.norm.clone(), e));
            }
        }
    }
    out
}

/// The baseline's index: the first model whose name contains `baseline`, else `preferred`, else
/// the first model.
fn baseline_index<'a>(
    names: impl Iterator<Item = &'a str> + Clone,
    preferred: Option<&str>,
) -> usize {
    if let Some(pref) = preferred {
        if let Some(i) = names.clone().position(|n| n == pref) {
            return i;
        }
    }
    names
        .clone()
        .position(|n| n.to_ascii_lowercase().contains("baseline"))
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------
// Verdict

fn verdict(p: &mut String, run: &RunResults) {
    let _ = write!(
        p,
        "<h3>{} ({})</h3><ul class=\"verdict\">",
        esc(&run.dir_label),
        suite_name(run)
    );
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
}

/// Plain sentences comparing each non-baseline model with the baseline at the headline budget.
pub(crate) fn adversarial_verdict(s: &AdversarialSummary) -> Vec<String> {
    let mut out = Vec::new();
    if s.models.len() < 2 {
        return out;
    }
    let b = &s.models[baseline_index(s.models.iter().map(|m| m.model.as_str()), None)];
    let e = s.headline_linf;
    let weak = ["fgsm"]
        .into_iter()
        .chain(
            s.models
                .iter()
                .flat_map(|m| m.cells.iter().map(|c| c.attack.as_str())),
        )
        .find(|a| cell_at(b, a, e).is_some());
    let strong = ["pgd", "apgd-ce", "apgd", "bim"]
        .into_iter()
        .find(|a| Some(*a) != weak && cell_at(b, a, e).is_some());
    for m in s.models.iter().filter(|m| m.model != b.model) {
        let mut line = format!(
            "{} (clean {}) vs the baseline {} (clean {})",
            m.model,
            pct(m.clean_accuracy),
            b.model,
            pct(b.clean_accuracy)
        );
        if let Some(w) = weak {
            if let (Some(cm), Some(cb)) = (cell_at(m, w, e), cell_at(b, w, e)) {
                let _ = write!(
                    line,
                    ": keeps {} under {} at ε = {} vs {} for the baseline",
                    pct(cm.accuracy),
                    attack_name(w),
                    fmt_eps(e, &cm.norm),
                    pct(cb.accuracy)
                );
            }
        }
        if let Some(st) = strong {
            if let (Some(cm), Some(cb)) = (cell_at(m, st, e), cell_at(b, st, e)) {
                if cm.accuracy <= 0.05 && cb.accuracy <= 0.05 {
                    let _ = write!(
                        line,
                        "; under {} both fall near zero ({} vs {})",
                        attack_name(st),
                        pct(cm.accuracy),
                        pct(cb.accuracy)
                    );
                } else {
                    let _ = write!(
                        line,
                        "; under {} it keeps {} vs {}",
                        attack_name(st),
                        pct(cm.accuracy),
                        pct(cb.accuracy)
                    );
                }
            }
        }
        if let Some(t) = s.transfer.iter().find(|t| {
            t.target == m.model
                && t.source == b.model
                && Some(t.attack.as_str()) == weak
                && (t.eps - e).abs() <= 1e-9
        }) {
            let _ = write!(
                line,
                "; {} examples crafted on the baseline leave it {}",
                attack_name(&t.attack),
                pct(t.accuracy)
            );
        }
        line.push('.');
        out.push(line);
    }
    let best_clean = s
        .models
        .iter()
        .map(|m| m.clean_accuracy)
        .fold(0.0, f64::max);
    if best_clean < 0.5 {
        out.push(format!(
            "Caution: the best clean accuracy is {}, far below the paper's 85–91%; robustness \
             numbers of such weakly trained models say little about the paper's claim.",
            pct(best_clean)
        ));
    }
    out
}

/// One sentence summarising the gradient-masking checks over all models.
pub(crate) fn trust_line(s: &AdversarialSummary) -> String {
    let mut counts = [0usize; 3];
    let mut flagged: BTreeMap<(u8, String), Vec<String>> = BTreeMap::new();
    for m in &s.models {
        for c in &m.checks {
            let k = match c.status {
                CheckStatus::Pass => 0,
                CheckStatus::Warn => 1,
                CheckStatus::Fail => 2,
            };
            counts[k] += 1;
            if k > 0 {
                flagged
                    .entry((k as u8, c.name.clone()))
                    .or_default()
                    .push(m.model.clone());
            }
        }
    }
    let total: usize = counts.iter().sum();
    if total == 0 {
        return "Trust: no gradient-masking checks were recorded.".to_string();
    }
    let mut line = format!(
        "Trust: {} of {total} gradient-masking checks pass, {} warn, {} fail.",
        counts[0], counts[1], counts[2]
    );
    let list = |k: u8| {
        flagged
            .iter()
            .filter(|((kk, _), _)| *kk == k)
            .map(|((_, name), models)| format!("{name} ({})", models.join(", ")))
            .collect::<Vec<_>>()
            .join("; ")
    };
    if counts[2] > 0 {
        let _ = write!(
            line,
            " Failed: {}. Treat those models' robust accuracies as unreliable until the failure is explained.",
            list(2)
        );
    } else {
        line.push_str(
            " No check fails, so the white-box numbers show no sign of masked gradients.",
        );
    }
    if counts[1] > 0 {
        let _ = write!(line, " Warnings (read the detail below): {}.", list(1));
    }
    line
}

/// Plain sentences comparing each non-baseline model's corruption robustness with the baseline's.
pub(crate) fn corruption_verdict(s: &CorruptionSummary) -> Vec<String> {
    let mut out = Vec::new();
    if s.models.len() < 2 {
        return out;
    }
    let b = &s.models[baseline_index(
        s.models.iter().map(|m| m.model.as_str()),
        s.baseline.as_deref(),
    )];
    for m in s.models.iter().filter(|m| m.model != b.model) {
        let mut line = format!("{} vs the baseline {}", m.model, b.model);
        if let (Some(am), Some(ab)) = (m.mean_corruption_accuracy, b.mean_corruption_accuracy) {
            let _ = write!(
                line,
                ": mean corruption accuracy {} vs {} (clean {} vs {}); corruption costs it {:.1} points vs {:.1} for the baseline",
                pct(am),
                pct(ab),
                pct(m.clean_accuracy),
                pct(b.clean_accuracy),
                (m.clean_accuracy - am) * 100.0,
                (b.clean_accuracy - ab) * 100.0
            );
        }
        if m.mce.is_some() {
            let _ = write!(
                line,
                "; mCE {} and relative mCE {} (baseline = 100%)",
                pct_value(m.mce),
                pct_value(m.relative_mce)
            );
        }
        line.push('.');
        out.push(line);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Convergence

fn convergence(p: &mut String, histories: &[TrainingHistory]) {
    p.push_str("<h3>Convergence</h3>");
    if histories.iter().all(|h| h.epochs.is_empty()) {
        p.push_str("<p>No training history (models were loaded, or no epoch finished).</p>");
        return;
    }
    guide(
        p,
        "Loss and accuracy at the end of each epoch, one line per model: train metrics use \
         augmented images in train mode, test metrics the test split in inference mode; curves \
         still moving at the last epoch mean training stopped before convergence.",
    );
    type Get = fn(&crate::EpochRecord) -> f64;
    let metrics: [(&str, &str, Get, bool); 4] = [
        ("Train loss", "cross-entropy", |e| e.train_loss, false),
        ("Test loss", "cross-entropy", |e| e.test_loss, false),
        (
            "Train accuracy",
            "accuracy %",
            |e| e.train_accuracy * 100.0,
            true,
        ),
        (
            "Test accuracy",
            "accuracy %",
            |e| e.test_accuracy * 100.0,
            true,
        ),
    ];
    p.push_str(&html_legend(histories.iter().map(|h| h.model.as_str())));
    p.push_str("<div class=\"grid\">");
    for (title, y_desc, get, _) in metrics {
        let series: Vec<Series> = histories
            .iter()
            .map(|h| Series {
                points: h.epochs.iter().map(|e| (e.epoch as f64, get(e))).collect(),
            })
            .collect();
        let svg = line_chart(
            &LineSpec {
                title,
                x_desc: "epoch",
                y_desc,
                integer_x: true,
                y_range: None,
                size: (460, 300),
            },
            &series,
        );
        let _ = write!(p, "<figure>{svg}</figure>");
    }
    p.push_str("</div>");
    p.push_str(
        "<table><tr><th class=\"l\">model</th><th>epochs</th><th>train loss</th>\
         <th>test loss</th><th>train acc.</th><th>test acc.</th><th>train time (s)</th>\
         <th>images/s</th></tr>",
    );
    for h in histories {
        if let Some(e) = h.last() {
            let _ = write!(
                p,
                "<tr><td class=\"l\">{}</td><td>{}</td><td>{:.3}</td><td>{:.3}</td><td>{}</td>\
                 <td>{}</td><td>{:.1}</td><td>{:.0}</td></tr>",
                esc(&h.model),
                e.epoch,
                e.train_loss,
                e.test_loss,
                pct(e.train_accuracy),
                pct(e.test_accuracy),
                e.wall_time_s,
                e.images_per_s
            );
        }
    }
    p.push_str("</table>");
    guide(p, "The last epoch of each model; train time sums training across resumes, evaluation excluded.");
}

// ---------------------------------------------------------------------------------------------
// Adversarial

fn adversarial(p: &mut String, s: &AdversarialSummary) {
    p.push_str("<h3>Adversarial robustness</h3>");
    headline_table(p, s);
    paper_tables(p);
    accuracy_vs_eps(p, s);
    transfer_table(p, s);
    all_cells_table(p, s);
}

fn headline_table(p: &mut String, s: &AdversarialSummary) {
    let attacks = headline_attacks(s);
    let _ = write!(
        p,
        "<h4>Headline: clean and robust accuracy at ε = {} (L∞) / {} (L2), next to the paper</h4>",
        fmt_eps(s.headline_linf, "linf"),
        fmt_eps(s.headline_l2, "l2")
    );
    guide(
        p,
        "Each row is a model: accuracy on clean test images, then on adversarial images of each \
         white-box attack at the headline budget (higher is more robust); the shaded columns are \
         the paper's numbers for the matching operator, not measured here.",
    );
    p.push_str(
        "<table><tr><th class=\"l\">model</th><th class=\"l\">adv. training</th><th>parameters</th><th>clean</th>",
    );
    for (a, n, e) in &attacks {
        let _ = write!(
            p,
            "<th>{} {} ε={}</th>",
            esc(&attack_name(a)),
            norm_name(n),
            esc(&fmt_eps(*e, n))
        );
    }
    for h in [
        "paper (Liu et al. 2018, Table 7): clean",
        "paper (Liu et al. 2018, Table 7): FGSM",
        "paper (Liu et al. 2018, Table 7): BIM",
        "paper (Liu et al. 2018, Table 8): FGSM transfer",
        "paper (Liu et al. 2018, Table 8): BIM transfer",
    ] {
        let _ = write!(p, "<th class=\"paper\">{h}</th>");
    }
    p.push_str("</tr>");
    for m in &s.models {
        let _ = write!(
            p,
            "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td>",
            esc(&m.model),
            esc(m.adversarial_training.as_deref().unwrap_or("none")),
            m.parameters,
            pct(m.clean_accuracy)
        );
        for (a, _, e) in &attacks {
            let v = cell_at(m, a, *e)
                .map(|c| pct(c.accuracy))
                .unwrap_or_else(|| "–".into());
            let _ = write!(p, "<td>{v}</td>");
        }
        let col = paper::operator_column(&m.model);
        let adv = m.adversarial_training.is_some();
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
        p.push_str("</tr>");
    }
    p.push_str("</table>");
    p.push_str(
        "<p class=\"note\">The paper's models reach 85–91% clean accuracy; its ε, pixel scale, \
         BIM steps, transfer source model and architecture are unknown, so compare the ordering \
         of models, not the values. Paper columns are matched by name (baseline, sphere, ball, \
         tanh) and by whether the model was adversarially trained.</p>",
    );
}

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

fn accuracy_vs_eps(p: &mut String, s: &AdversarialSummary) {
    let mut attacks: Vec<(String, String)> = Vec::new();
    for m in &s.models {
        for c in &m.cells {
            if !attacks.iter().any(|(a, _)| *a == c.attack) {
                attacks.push((c.attack.clone(), c.norm.clone()));
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
         a line that rises with ε hints at a failing attack.",
    );
    p.push_str(&html_legend(s.models.iter().map(|m| m.model.as_str())));
    p.push_str("<div class=\"grid\">");
    for (a, norm) in &attacks {
        let linf = norm == "linf";
        let series: Vec<Series> = s
            .models
            .iter()
            .map(|m| {
                let mut pts: Vec<(f64, f64)> = m
                    .cells
                    .iter()
                    .filter(|c| c.attack == *a)
                    .map(|c| (if linf { c.eps * 255.0 } else { c.eps }, c.accuracy * 100.0))
                    .collect();
                pts.sort_by(|x, y| x.0.total_cmp(&y.0));
                Series { points: pts }
            })
            .collect();
        let hi = auto_range(
            series.iter().flat_map(|s| s.points.iter().map(|p| p.1)),
            true,
        )
        .1;
        let title = format!("{} ({})", attack_name(a), norm_name(norm));
        let x_desc = if linf { "ε × 255 (L∞)" } else { "ε (L2)" };
        let svg = line_chart(
            &LineSpec {
                title: &title,
                x_desc,
                y_desc: "accuracy %",
                integer_x: false,
                y_range: Some((0.0, hi.min(100.0))),
                size: (380, 280),
            },
            &series,
        );
        let _ = write!(p, "<figure>{svg}</figure>");
    }
    p.push_str("</div>");
}

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
        let wb = target.and_then(|m| cell_at(m, &t.attack, t.eps));
        let norm = wb.map(|c| c.norm.as_str()).unwrap_or("linf");
        let _ = write!(
            p,
            "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&t.source),
            esc(&t.target),
            esc(&attack_name(&t.attack)),
            esc(&fmt_eps(t.eps, norm)),
            pct(t.accuracy),
            wb.map(|c| pct(c.accuracy)).unwrap_or_else(|| "–".into()),
            pct(t.source_accuracy)
        );
    }
    p.push_str("</table>");
}

fn cells_rows(p: &mut String, model: &str, cells: &[AttackCell]) {
    for c in cells {
        let _ = write!(
            p,
            "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{:.4}</td><td>{:.3}</td><td>{:.3}</td><td>{}</td><td>{}</td><td>{:.2}</td></tr>",
            esc(model),
            esc(&attack_name(&c.attack)),
            esc(&fmt_eps(c.eps, &c.norm)),
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

const CELLS_HEADER: &str =
    "<table><tr><th class=\"l\">model</th><th class=\"l\">attack</th><th>ε</th>\
<th>steps</th><th>images</th><th>accuracy</th><th>success</th><th>mean L∞</th><th>mean L2</th>\
<th>mean loss</th><th>gradients</th><th>queries</th><th>seconds</th></tr>";

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

// ---------------------------------------------------------------------------------------------
// Gradient-masking checks

fn checks(p: &mut String, s: &AdversarialSummary) {
    p.push_str("<h3>Gradient-masking checks</h3>");
    guide(
        p,
        "Sanity checks of each model's white-box evaluation: pass is as expected, warn needs a \
         look at the detail, fail means the robust accuracies cannot be trusted as they stand.",
    );
    let _ = write!(p, "<p class=\"trust\">{}</p>", esc(&trust_line(s)));
    for m in &s.models {
        let _ = write!(
            p,
            "<h4>{}</h4><table><tr><th class=\"l\">status</th><th class=\"l\">check</th>\
             <th class=\"l\">detail</th></tr>",
            esc(&m.model)
        );
        for c in &m.checks {
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

// ---------------------------------------------------------------------------------------------
// Corruption

fn corruption(p: &mut String, s: &CorruptionSummary) {
    p.push_str("<h3>Corruption robustness</h3>");
    let base = s.models.get(baseline_index(
        s.models.iter().map(|m| m.model.as_str()),
        s.baseline.as_deref(),
    ));
    let _ = write!(
        p,
        "<p class=\"note\">Corruptions: {}; {} test images per cell; CE baseline: {}.</p>",
        esc(&s.source),
        s.images,
        esc(s
            .baseline
            .as_deref()
            .or(base.map(|m| m.model.as_str()))
            .unwrap_or("none"))
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

    // Heatmaps: one per model, on one colour scale for the whole run.
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
    if !corruptions.is_empty() {
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
                        .find(|c| {
                            c.corruption == corruptions[i] && usize::from(c.severity) == j + 1
                        })
                        .map(|c| c.accuracy)
                },
                (lo, hi),
            );
            let _ = write!(p, "<figure>{svg}</figure>");
        }
        p.push_str("</div>");
    }

    // Accuracy vs severity, and per category.
    let series: Vec<Series> = s
        .models
        .iter()
        .map(|m| Series {
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
    p.push_str(&html_legend(s.models.iter().map(|m| m.model.as_str())));
    p.push_str("<div class=\"grid\"><figure>");
    p.push_str(&line_chart(
        &LineSpec {
            title: "Accuracy vs severity",
            x_desc: "severity (0 = clean)",
            y_desc: "accuracy %",
            integer_x: true,
            y_range: None,
            size: (460, 300),
        },
        &series,
    ));
    p.push_str(
        "<figcaption class=\"guide\">Mean accuracy over the main corruptions at each severity, \
         one line per model; a flatter line degrades more gracefully.</figcaption></figure>",
    );
    let mut categories: Vec<String> = Vec::new();
    for m in &s.models {
        for c in &m.per_category {
            if !categories.contains(&c.name) {
                categories.push(c.name.clone());
            }
        }
    }
    if !categories.is_empty() {
        let bars: Vec<(String, Vec<Option<f64>>)> = s
            .models
            .iter()
            .map(|m| {
                (
                    m.model.clone(),
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
    p.push_str("</div>");
    ce_table(p, s);
}

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

// ---------------------------------------------------------------------------------------------
// Examples

fn img(p: &mut String, images: &BTreeMap<String, Vec<u8>>, path: &str, alt: &str) {
    match images.get(path).and_then(|b| png_data_uri(b)) {
        Some(uri) => {
            let _ = write!(p, "<img class=\"px\" src=\"{uri}\" alt=\"{}\">", esc(alt));
        }
        None => {
            let _ = write!(p, "<span class=\"missing\">missing: {}</span>", esc(path));
        }
    }
}

fn pred(p: &mut String, label: &str, predicted: &str) {
    let cls = if label == predicted {
        ""
    } else {
        " class=\"wrong\""
    };
    let _ = write!(p, "<div{cls}>{}</div>", esc(predicted));
}

fn adversarial_examples(
    p: &mut String,
    s: &AdversarialSummary,
    images: &BTreeMap<String, Vec<u8>>,
) {
    if s.examples.is_empty() {
        return;
    }
    p.push_str("<h3>Adversarial examples</h3>");
    guide(
        p,
        "Per model: the clean images with their true and predicted class, then for each attack \
         at the headline budget the adversarial image, its perturbation |adv − clean| magnified \
         so that ε is full brightness (L2 attacks: the image's largest change is), and the \
         prediction (red when wrong); an all-black perturbation means the clean image was \
         already misclassified, so it was not attacked.",
    );
    let mut models: Vec<&str> = Vec::new();
    for e in &s.examples {
        if !models.contains(&e.model.as_str()) {
            models.push(&e.model);
        }
    }
    for (k, model) in models.iter().enumerate() {
        let ex: Vec<_> = s.examples.iter().filter(|e| e.model == *model).collect();
        let mut indices: Vec<usize> = ex.iter().map(|e| e.index).collect();
        indices.sort_unstable();
        indices.dedup();
        let mut attacks: Vec<&str> = Vec::new();
        for e in &ex {
            if !attacks.contains(&e.attack.as_str()) {
                attacks.push(&e.attack);
            }
        }
        let m = s.models.iter().find(|m| m.model == *model);
        let _ = write!(
            p,
            "<details{}><summary>{}</summary><table class=\"ex\"><tr><th class=\"l\">image</th>",
            if k == 0 { " open" } else { "" },
            esc(model)
        );
        for i in &indices {
            let _ = write!(p, "<th>#{i}</th>");
        }
        p.push_str("</tr><tr><th class=\"l\">clean<br>true / predicted</th>");
        for i in &indices {
            p.push_str("<td>");
            if let Some(e) = ex.iter().find(|e| e.index == *i) {
                img(p, images, &e.clean_png, "clean");
                let _ = write!(p, "<div>{}</div>", esc(&e.label));
                pred(p, &e.label, &e.clean_pred);
            }
            p.push_str("</td>");
        }
        p.push_str("</tr>");
        for a in &attacks {
            let first = ex.iter().find(|e| e.attack == *a);
            let e_a = first.map(|e| e.eps).unwrap_or(0.0);
            let norm = m
                .and_then(|m| m.cells.iter().find(|c| c.attack == *a))
                .map(|c| c.norm.clone())
                .unwrap_or_else(|| "linf".into());
            let _ = write!(
                p,
                "<tr><th class=\"l\">{} ε={}<br>adv. / perturbation</th>",
                esc(&attack_name(a)),
                esc(&fmt_eps(e_a, &norm))
            );
            for i in &indices {
                p.push_str("<td>");
                if let Some(e) = ex.iter().find(|e| e.attack == *a && e.index == *i) {
                    img(p, images, &e.adv_png, "adversarial");
                    let scale = (norm == "linf").then_some(e.eps);
                    let diff = images
                        .get(&e.clean_png)
                        .zip(images.get(&e.adv_png))
                        .and_then(|(c, a)| magnified_perturbation(c, a, scale))
                        .and_then(|png| png_data_uri(&png));
                    match diff {
                        Some(uri) => {
                            let _ =
                                write!(p, "<img class=\"px\" src=\"{uri}\" alt=\"perturbation\">");
                        }
                        None => p.push_str("<span class=\"missing\">no perturbation</span>"),
                    }
                    pred(p, &e.label, &e.adv_pred);
                }
                p.push_str("</td>");
            }
            p.push_str("</tr>");
        }
        p.push_str("</table></details>");
    }
}

fn corruption_examples(p: &mut String, s: &CorruptionSummary, images: &BTreeMap<String, Vec<u8>>) {
    if s.examples.is_empty() {
        return;
    }
    p.push_str("<h3>Corrupted examples</h3>");
    guide(
        p,
        "Per test image: the clean image, then each corruption at severities 1 to 5, each with \
         every model's prediction (red when wrong).",
    );
    let mut indices: Vec<usize> = s.examples.iter().map(|e| e.index).collect();
    indices.sort_unstable();
    indices.dedup();
    let mut corruptions: Vec<&str> = Vec::new();
    let mut max_sev = 0u8;
    for e in &s.examples {
        if e.corruption != "clean" && !corruptions.contains(&e.corruption.as_str()) {
            corruptions.push(&e.corruption);
        }
        max_sev = max_sev.max(e.severity);
    }
    let cell = |p: &mut String, e: &crate::CorruptionExample| {
        img(p, images, &e.png, &e.corruption);
        for (model, predicted) in &e.predictions {
            let cls = if *predicted == e.label {
                ""
            } else {
                " class=\"wrong\""
            };
            let _ = write!(p, "<div{cls}>{}: {}</div>", esc(model), esc(predicted));
        }
    };
    for (k, i) in indices.iter().enumerate() {
        let ex: Vec<_> = s.examples.iter().filter(|e| e.index == *i).collect();
        let label = ex.first().map(|e| e.label.as_str()).unwrap_or("");
        let _ = write!(
            p,
            "<details{}><summary>image #{i} (true class: {})</summary><table class=\"ex\">",
            if k == 0 { " open" } else { "" },
            esc(label)
        );
        if let Some(c) = ex.iter().find(|e| e.corruption == "clean") {
            p.push_str("<tr><th class=\"l\">clean</th><td>");
            cell(p, c);
            p.push_str("</td></tr>");
        }
        p.push_str("<tr><th class=\"l\">corruption</th>");
        for sev in 1..=max_sev {
            let _ = write!(p, "<th>severity {sev}</th>");
        }
        p.push_str("</tr>");
        for c in &corruptions {
            let _ = write!(p, "<tr><th class=\"l\">{}</th>", esc(c));
            for sev in 1..=max_sev {
                p.push_str("<td>");
                if let Some(e) = ex.iter().find(|e| e.corruption == *c && e.severity == sev) {
                    cell(p, e);
                }
                p.push_str("</td>");
            }
            p.push_str("</tr>");
        }
        p.push_str("</table></details>");
    }
}

// ---------------------------------------------------------------------------------------------
// Reproducibility

fn reproducibility(p: &mut String, run: &RunResults) {
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
        row("seed", s.seed.to_string());
        row("data", s.data.clone());
        row("test images evaluated", s.images.to_string());
        row(
            "classes",
            format!("{} ({})", s.classes.len(), s.classes.join(", ")),
        );
        row("device", s.device.clone());
        row("threads", s.threads.to_string());
        row(
            "training / loading time",
            format!("{:.1} s", s.train_seconds),
        );
        row("evaluation time", format!("{:.1} s", s.eval_seconds));
    }
    if let Some(s) = &run.corruption {
        row("suite", "corruption".into());
        row("dcrobust version", s.version.clone());
        row("seed", s.seed.to_string());
        row("data", s.data.clone());
        row("test images per cell", s.images.to_string());
        row(
            "classes",
            format!("{} ({})", s.classes.len(), s.classes.join(", ")),
        );
        row("device", s.device.clone());
        row("threads", s.threads.to_string());
        row("corruption source", s.source.clone());
        row(
            "CE baseline",
            s.baseline.clone().unwrap_or_else(|| "none".into()),
        );
        row(
            "training / loading time",
            format!("{:.1} s", s.train_seconds),
        );
        row("corruption time", format!("{:.1} s", s.corrupt_seconds));
        row("evaluation time", format!("{:.1} s", s.eval_seconds));
    }
    p.push_str("</table>");
    if let Some(cfg) = &run.suite_config {
        let pretty = serde_json::to_string_pretty(cfg).unwrap_or_default();
        let _ = write!(
            p,
            "<details><summary>Suite configuration (suite.json)</summary><pre>{}</pre></details>",
            esc(&pretty)
        );
    }
}

/// 2-D feature scatter plots, one per `feat2d` model (the paper's Fig. 1 and 4).
fn features_section(p: &mut String, features: &[crate::Features2d]) {
    if features.is_empty() {
        return;
    }
    p.push_str("<h3>2-D features (paper Fig. 1 and 4)</h3>");
    guide(
        p,
        "Each point is a test image placed by the model's two penultimate features and coloured by \
         its true class: decoupled operators with bounded magnitudes should show class clusters \
         along angular directions, the baseline clusters spread radially.",
    );
    if let Some(f) = features.first() {
        p.push_str(&html_legend(f.classes.iter().map(String::as_str)));
    }
    p.push_str("<div class=\"grid\">");
    for f in features {
        p.push_str(&crate::charts::scatter(&f.model, &f.x, &f.y, &f.labels));
    }
    p.push_str("</div>");
}
