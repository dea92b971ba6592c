//! The report's tables as Markdown (`dcrobust report DIR... --markdown`), to paste into a README
//! or a paper: the same numbers as the HTML page and the CSV files, accuracies in % with two
//! decimals, the paper's Table 7 and 8 values in parentheses where they apply.

use std::fmt::Write;

use crate::headline::{cell_at, headline_attacks};
use crate::html::{attack_name, eps as fmt_eps};
use crate::paper::{self, TABLE7_WHITE_BOX, TABLE8_BLACK_BOX};
use crate::stats::wilson;
use crate::verdict::{adversarial_conclusion, corruption_conclusion};
use crate::{
    AdversarialSummary, AttackId, AttackKind, CheckStatus, CorruptionSummary, Norm, RunResults,
};

/// A fraction in [0, 1] as a percentage with two decimals, without the sign: `0.8535` → `85.35`.
fn pct(x: f64) -> String {
    format!("{:.2}", 100.0 * x)
}

/// One Markdown table row from its cells.
fn row(out: &mut String, cells: &[String]) {
    let _ = writeln!(out, "| {} |", cells.join(" | "));
}

/// A header row and the alignment row: the first `left` columns left-aligned, the rest right.
fn header(out: &mut String, cells: &[String], left: usize) {
    row(out, cells);
    let align: Vec<String> = (0..cells.len())
        .map(|i| if i < left { "---" } else { "---:" }.to_string())
        .collect();
    row(out, &align);
}

/// Markdown cell text: `|` would end the cell, so it is escaped.
fn text(s: &str) -> String {
    s.replace('|', "\\|")
}

/// The widest 95 % Wilson interval among accuracies measured on `images` images, as ± points:
/// the half-width at 50 %.
fn widest_interval(images: usize) -> f64 {
    let (lo, hi) = wilson(0.5, images);
    100.0 * (hi - lo) / 2.0
}

/// The paper's row for an attack: `FGSM`, `BIM`, or none (the paper ran no other attack).
fn paper_row(attack: AttackId) -> Option<&'static str> {
    match attack.kind()? {
        AttackKind::Fgsm => Some("FGSM"),
        AttackKind::Bim => Some("BIM"),
        _ => None,
    }
}

/// The paper's value for model `name` in `table`, row `attack` (`None` for clean accuracy), as
/// ` (xx.xx)`, or nothing.
fn paper_suffix(
    table: &[paper::PaperRow],
    name: &str,
    attack: Option<&str>,
    adversarial_training: Option<&str>,
) -> String {
    paper::operator_column(name)
        .and_then(|c| paper::lookup(table, c, attack?, adversarial_training))
        .map(|v| format!(" ({v:.2})"))
        .unwrap_or_default()
}

/// The adversarial run's tables: the white-box headline, each attack against ε, the transfer
/// matrices, the gradient-masking checks and the report's conclusion.
fn adversarial(out: &mut String, s: &AdversarialSummary) {
    let with_paper = paper::applies(&s.run.classes, s.models.iter().map(|m| m.model.as_str()));
    white_box_table(out, s, with_paper);
    attack_tables(out, s);
    transfer_tables(out, s, with_paper);
    checks_table(out, s);
    adversarial_conclusion_table(out, s);
}

/// The white-box headline table: clean and robust accuracy of every model at the headline ε,
/// with the paper's Table 7 values in parentheses when `with_paper`, and the widest confidence
/// interval of its cells.
fn white_box_table(out: &mut String, s: &AdversarialSummary, with_paper: bool) {
    let suffix =
        |table: &[paper::PaperRow], name: &str, attack: Option<&str>, adv: Option<&str>| {
            if with_paper {
                paper_suffix(table, name, attack, adv)
            } else {
                String::new()
            }
        };
    let images = s
        .models
        .iter()
        .flat_map(|m| &m.cells)
        .map(|c| c.images)
        .max();
    let attacks = headline_attacks(s);

    let l2 = if attacks.iter().any(|(_, n, _)| *n == Norm::L2) {
        format!(" / {} (L2)", fmt_eps(s.headline_l2, Norm::L2))
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "#### White-box: clean and robust accuracy (%) at ε = {} (L∞){l2}\n",
        fmt_eps(s.headline_linf, Norm::Linf),
    );
    let mut head = vec!["model".to_string(), "adv. training".into(), "clean".into()];
    head.extend(attacks.iter().map(|(a, _, _)| attack_name(*a)));
    header(out, &head, 2);
    for m in &s.models {
        let adv = m.adversarial_training.as_deref();
        let mut cells = vec![
            text(&m.model),
            text(m.adversarial_training.as_deref().unwrap_or("none")),
            format!(
                "{}{}",
                pct(m.clean_accuracy),
                suffix(&TABLE7_WHITE_BOX, &m.model, Some("None"), adv)
            ),
        ];
        for (a, _, e) in &attacks {
            cells.push(match cell_at(m, *a, *e) {
                Some(c) => format!(
                    "{}{}",
                    pct(c.accuracy),
                    suffix(&TABLE7_WHITE_BOX, &m.model, paper_row(*a), adv)
                ),
                None => "-".into(),
            });
        }
        row(out, &cells);
    }
    out.push('\n');
    if with_paper {
        out.push_str(
            "In parentheses: the paper's Table 7 (its ε, BIM steps and pixel scale are not \
             published), matched by operator name and adversarial training.\n",
        );
    }
    if let Some(n) = images {
        let _ = writeln!(
            out,
            "{n} test images per cell; 95 % Wilson intervals are at most ±{:.2} points.",
            widest_interval(n)
        );
    }
    out.push('\n');
}

/// One accuracy-against-ε table per attack the run measured, in the order the cells first name
/// them.
fn attack_tables(out: &mut String, s: &AdversarialSummary) {
    let mut seen: Vec<(AttackId, Norm)> = Vec::new();
    for m in &s.models {
        for c in &m.cells {
            if !seen.iter().any(|(a, _)| *a == c.attack) {
                seen.push((c.attack, c.norm));
            }
        }
    }
    for (attack, norm) in seen {
        attack_table(out, s, attack, norm);
    }
}

/// The accuracy of every model against `attack` (of norm `norm`) at each ε > 0 it was run at,
/// beside the clean accuracy; nothing if it has no such ε.
fn attack_table(out: &mut String, s: &AdversarialSummary, attack: AttackId, norm: Norm) {
    let mut eps: Vec<f64> = s
        .models
        .iter()
        .flat_map(|m| &m.cells)
        .filter(|c| c.attack == attack && c.eps > 0.0)
        .map(|c| c.eps)
        .collect();
    eps.sort_by(f64::total_cmp);
    eps.dedup_by(|a, b| (*a - *b).abs() <= 1e-9);
    if eps.is_empty() {
        return;
    }
    let steps = s
        .models
        .iter()
        .flat_map(|m| &m.cells)
        .find(|c| c.attack == attack)
        .and_then(|c| c.steps);
    let _ = writeln!(
        out,
        "#### {} ({}{}): accuracy (%) against ε\n",
        attack_name(attack),
        if norm == Norm::L2 { "L2" } else { "L∞" },
        steps
            .map(|k| match (attack.kind(), k) {
                (Some(AttackKind::Square), _) => format!(", {k} queries"),
                (_, 1) => ", 1 step".to_string(),
                _ => format!(", {k} steps"),
            })
            .unwrap_or_default()
    );
    let mut head = vec!["model".to_string(), "clean".into()];
    head.extend(eps.iter().map(|&e| fmt_eps(e, norm)));
    header(out, &head, 1);
    for m in &s.models {
        let mut cells = vec![text(&m.model), pct(m.clean_accuracy)];
        cells.extend(eps.iter().map(|&e| {
            cell_at(m, attack, e)
                .map(|c| pct(c.accuracy))
                .unwrap_or_else(|| "-".into())
        }));
        row(out, &cells);
    }
    out.push('\n');
}

/// One transfer matrix per (attack, ε) of the run's transfer cells, in the order the cells first
/// name them.
fn transfer_tables(out: &mut String, s: &AdversarialSummary, with_paper: bool) {
    let mut transfer_attacks: Vec<(AttackId, f64)> = Vec::new();
    for c in &s.transfer {
        if !transfer_attacks
            .iter()
            .any(|(a, e)| *a == c.attack && (e - c.eps).abs() <= 1e-9)
        {
            transfer_attacks.push((c.attack, c.eps));
        }
    }
    for (attack, e) in transfer_attacks {
        transfer_table(out, s, attack, e, with_paper);
    }
}

/// The source × target matrix of `attack` at ε `e`: the accuracy of each target (columns) on the
/// images crafted on each source (rows), and the paper's Table 8 row when `with_paper` and the
/// paper ran the attack.
fn transfer_table(
    out: &mut String,
    s: &AdversarialSummary,
    attack: AttackId,
    e: f64,
    with_paper: bool,
) {
    let cells: Vec<_> = s
        .transfer
        .iter()
        .filter(|c| c.attack == attack && (c.eps - e).abs() <= 1e-9)
        .collect();
    let mut sources: Vec<&str> = Vec::new();
    for c in &cells {
        if !sources.contains(&c.source.as_str()) {
            sources.push(&c.source);
        }
    }
    let _ = writeln!(
        out,
        "#### Transfer (black-box) {} at ε = {}: accuracy (%) of each target (columns) on \
         images crafted on each source (rows)\n",
        attack_name(attack),
        fmt_eps(e, Norm::Linf)
    );
    let mut head = vec!["source".to_string()];
    head.extend(s.models.iter().map(|m| text(&m.model)));
    header(out, &head, 1);
    for src in &sources {
        let mut r = vec![text(src)];
        for m in &s.models {
            r.push(
                cells
                    .iter()
                    .find(|c| c.source == *src && c.target == m.model)
                    .map(|c| pct(c.accuracy))
                    .unwrap_or_else(|| "-".into()),
            );
        }
        row(out, &r);
    }
    if let (true, Some(pr)) = (with_paper, paper_row(attack)) {
        let mut r = vec!["paper, Table 8".to_string()];
        for m in &s.models {
            let adv = m.adversarial_training.as_deref();
            let v = paper::operator_column(&m.model)
                .and_then(|c| paper::lookup(&TABLE8_BLACK_BOX, c, pr, adv));
            r.push(v.map(|v| format!("({v:.2})")).unwrap_or_else(|| "-".into()));
        }
        row(out, &r);
    }
    out.push('\n');
}

/// The gradient-masking checks of each model: how many passed, and the names of those that
/// warned or failed; nothing if no model ran any.
fn checks_table(out: &mut String, s: &AdversarialSummary) {
    if !s.models.iter().any(|m| !m.checks.is_empty()) {
        return;
    }
    out.push_str("#### Gradient-masking checks\n\n");
    header(
        out,
        &[
            "model".into(),
            "passed".into(),
            "warnings".into(),
            "failed".into(),
        ],
        4,
    );
    for m in &s.models {
        let names = |st: CheckStatus| {
            let v: Vec<&str> = m
                .checks
                .iter()
                .filter(|c| c.status == st)
                .map(|c| c.name.as_str())
                .collect();
            if v.is_empty() {
                "-".to_string()
            } else {
                text(&v.join(", "))
            }
        };
        let passed = m
            .checks
            .iter()
            .filter(|c| c.status == CheckStatus::Pass)
            .count();
        row(
            out,
            &[
                text(&m.model),
                format!("{passed} of {}", m.checks.len()),
                names(CheckStatus::Warn),
                names(CheckStatus::Fail),
            ],
        );
    }
    out.push('\n');
}

/// The report's conclusion for an adversarial run: one row per compared model (its deltas to the
/// baseline and verdict), then the conclusion's sentence and trust line; nothing if the report
/// draws none.
fn adversarial_conclusion_table(out: &mut String, s: &AdversarialSummary) {
    let Some(c) = adversarial_conclusion(s) else {
        return;
    };
    let _ = writeln!(out, "Conclusion (as the report states it):\n");
    header(
        out,
        &[
            "model".into(),
            "baseline".into(),
            "Δ clean".into(),
            "Δ robust".into(),
            "95 % interval".into(),
            "attack".into(),
            "verdict".into(),
        ],
        2,
    );
    for r in &c.rows {
        let baseline = r.baseline_label();
        let (d, lo, hi) = r.delta_robust;
        row(
            out,
            &[
                text(&r.model),
                text(&baseline),
                format!("{:+.2}", 100.0 * r.delta_clean),
                format!("{:+.2}", 100.0 * d),
                format!("{:+.1} to {:+.1}", 100.0 * lo, 100.0 * hi),
                text(r.attack.name()),
                text(&r.verdict.label()),
            ],
        );
    }
    let _ = writeln!(out, "\n{} {}\n", c.sentence, c.trust);
}

/// The corruption run's tables.
fn corruption(out: &mut String, s: &CorruptionSummary) {
    let _ = writeln!(
        out,
        "#### Corruptions: clean accuracy, mean corruption accuracy (%), mCE and relative mCE \
         ({} at 100 %)\n",
        text(crate::verdict::ce_baseline_name(s))
    );
    header(
        out,
        &[
            "model".into(),
            "clean".into(),
            "mean corruption accuracy".into(),
            "mCE".into(),
            "relative mCE".into(),
        ],
        1,
    );
    let opt = |v: Option<f64>, scale: f64| {
        v.map(|v| format!("{:.2}", scale * v))
            .unwrap_or_else(|| "-".into())
    };
    for m in &s.models {
        row(
            out,
            &[
                text(&m.model),
                pct(m.clean_accuracy),
                opt(m.mean_corruption_accuracy, 100.0),
                opt(m.mce, 1.0),
                opt(m.relative_mce, 1.0),
            ],
        );
    }
    let _ = writeln!(
        out,
        "\n{} test images per corruption and severity; mean corruption accuracy and mCE over the \
         15 main corruptions.\n",
        s.run.images
    );

    // Accuracy per corruption (mean over the severities), then per severity.
    let mut names: Vec<(&str, &str)> = Vec::new();
    for m in &s.models {
        for c in &m.cells {
            if !names.iter().any(|(n, _)| *n == c.corruption) {
                names.push((&c.corruption, &c.category));
            }
        }
    }
    out.push_str("#### Accuracy (%) per corruption, mean over the severities run\n\n");
    let mut head = vec!["corruption".to_string(), "category".into()];
    head.extend(s.models.iter().map(|m| text(&m.model)));
    header(out, &head, 2);
    for (name, category) in &names {
        let mut r = vec![text(name), text(category)];
        for m in &s.models {
            let acc: Vec<f64> = m
                .cells
                .iter()
                .filter(|c| c.corruption == *name)
                .map(|c| c.accuracy)
                .collect();
            r.push(if acc.is_empty() {
                "-".into()
            } else {
                pct(acc.iter().sum::<f64>() / acc.len() as f64)
            });
        }
        row(out, &r);
    }
    out.push_str("\n#### Accuracy (%) per severity, mean over the corruptions run\n\n");
    let mut head = vec!["severity".to_string()];
    head.extend(s.models.iter().map(|m| text(&m.model)));
    header(out, &head, 1);
    let severities = s
        .models
        .iter()
        .map(|m| m.per_severity.len())
        .max()
        .unwrap_or(0);
    for k in 0..severities {
        let mut r = vec![(k + 1).to_string()];
        let mut any = false;
        for m in &s.models {
            let v = m.per_severity.get(k).copied().flatten();
            any |= v.is_some();
            r.push(v.map(pct).unwrap_or_else(|| "-".into()));
        }
        if any {
            row(out, &r);
        }
    }
    out.push('\n');
    if let Some(c) = corruption_conclusion(s) {
        let _ = writeln!(out, "Conclusion (as the report states it): {c}\n");
    }
}

/// The tables of `runs` as Markdown, one `###` section per run (headed by its `dir_label`):
/// for an adversarial run the white-box headline table (with the paper's Table 7 values in
/// parentheses for CIFAR-10 CNN-9 runs), one accuracy-against-ε table per attack, one transfer
/// matrix per transfer attack (with Table 8's values), the checks and the report's conclusion;
/// for a corruption run the mCE summary, accuracy per corruption and per severity, and the
/// conclusion. Accuracies are in % with two decimals.
pub fn tables_markdown(runs: &[RunResults]) -> String {
    let mut out = String::new();
    for run in runs {
        let _ = writeln!(out, "### {}\n", text(&run.dir_label));
        if let Some(s) = &run.adversarial {
            adversarial(&mut out, s);
        }
        if let Some(s) = &run.corruption {
            corruption(&mut out, s);
        }
        if run.adversarial.is_none() && run.corruption.is_none() {
            out.push_str("No suite results in this run.\n\n");
        }
    }
    out
}
