//! What the suite writes besides its unit files: the per-sample records (JSON lines or CSV) and
//! the headline table on standard output.

use super::*;

pub(super) fn write_records(
    out: &Path,
    format: RecordFormat,
    records: &[SampleRecord],
) -> Result<()> {
    let (name, bytes) = match format {
        RecordFormat::Jsonl => {
            let mut s = Vec::new();
            for r in records {
                serde_json::to_writer(&mut s, r)?;
                s.push(b'\n');
            }
            ("records.jsonl", s)
        }
        RecordFormat::Csv => (
            "records.csv",
            dcrobust_reports::write_csv(records).context("writing the records as CSV")?,
        ),
    };
    let path = out.join(name);
    write_atomic(&path, &bytes).with_context(|| format!("writing {}", path.display()))
}

pub(super) fn model_line(m: &ModelAdversarial, cfg: &AdversarialConfig) -> String {
    let mut parts = vec![format!("clean {:.2}%", 100.0 * m.clean_accuracy)];
    for c in &m.cells {
        let headline = match c.norm {
            Norm::Linf => cfg.headline_linf,
            Norm::L2 => cfg.headline_l2,
        };
        if c.eps == headline {
            parts.push(format!("{} {:.2}%", c.attack, 100.0 * c.accuracy));
        }
    }
    let fails = m
        .checks
        .iter()
        .filter(|c| c.status != CheckStatus::Pass)
        .map(|c| c.name.as_str())
        .collect::<Vec<_>>();
    format!(
        "{}: {}; checks: {}",
        m.model,
        parts.join(", "),
        if fails.is_empty() {
            "all pass".to_string()
        } else {
            format!("see {}", fails.join(", "))
        }
    )
}

/// The headline table: clean and robust accuracy per model at the headline budgets.
pub(crate) fn print_table(s: &AdversarialSummary) {
    for line in table_lines(s) {
        println!("{line}");
    }
}

/// The lines [`print_table`] prints: a header, one row per model, the budgets.
fn table_lines(s: &AdversarialSummary) -> Vec<String> {
    let mut out = Vec::new();
    let headline = |norm: Norm| match norm {
        Norm::Linf => s.headline_linf,
        Norm::L2 => s.headline_l2,
    };
    let mut attacks: Vec<AttackId> = Vec::new();
    for m in &s.models {
        for c in &m.cells {
            if c.eps == headline(c.norm) && !attacks.contains(&c.attack) {
                attacks.push(c.attack);
            }
        }
    }
    // Each column as wide as its attack's name, at least 9 characters (a percentage).
    let widths: Vec<usize> = attacks.iter().map(|a| a.name().len().max(8) + 1).collect();
    let mut header = format!("{:<28} {:>8}", "model", "clean");
    for (a, w) in attacks.iter().zip(&widths) {
        header.push_str(&format!(" {a:>w$}"));
    }
    header.push_str("  checks");
    out.push(header);
    for m in &s.models {
        let mut line = format!("{:<28} {:>7.2}%", m.model, 100.0 * m.clean_accuracy);
        for (a, &w) in attacks.iter().zip(&widths) {
            match m
                .cells
                .iter()
                .find(|c| c.attack == *a && c.eps == headline(c.norm))
            {
                Some(c) => line.push_str(&format!(" {:>1$.2}%", 100.0 * c.accuracy, w - 1)),
                None => line.push_str(&format!(" {:>w$}", "-")),
            }
        }
        let st = worst(m.checks.iter().map(|c| c.status));
        line.push_str(&format!(
            "  {}",
            match st {
                CheckStatus::Pass => "pass",
                CheckStatus::Warn => "warn",
                CheckStatus::Fail => "FAIL",
            }
        ));
        out.push(line);
    }
    out.push(format!(
        "L-inf attacks at eps {:.4} ({}/255), L2 at {}; {} test images",
        s.headline_linf,
        (s.headline_linf * 255.0 * 100.0).round() / 100.0,
        s.headline_l2,
        s.run.images
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use dcrobust_reports::{AttackCell, ModelAdversarial, RunInfo};

    fn cell(attack: &str, accuracy: f64) -> AttackCell {
        super::super::test_cell(attack, 8.0 / 255.0, accuracy)
    }

    /// Oracle: a fixed-width table lines up when every value ends where its header ends (the
    /// right-aligned columns after the model name); the
    /// names longer than a percentage (`worst-case`, `autoattack`) get wider columns, and the
    /// values are the cells' accuracies in %.
    #[test]
    fn columns_line_up_with_long_attack_names() {
        let model = |name: &str, a: f64| ModelAdversarial {
            model: name.into(),
            parameters: 0,
            adversarial_training: None,
            clean_accuracy: 0.9,
            prediction_counts: vec![],
            zero_gradient_samples: 0,
            cells: vec![
                cell("fgsm", a),
                cell("worst-case", a / 2.0),
                cell("pgd", 0.0),
            ],
            check_cells: vec![],
            checks: vec![],
            confusion: vec![],
        };
        let s = AdversarialSummary {
            version: String::new(),
            run: RunInfo {
                seed: 0,
                data: String::new(),
                images: 10,
                classes: vec![],
                device: "cpu".into(),
                threads: 1,
                train_seconds: 0.0,
                origins: Vec::new(),
            },
            headline_linf: 8.0 / 255.0,
            headline_l2: 0.5,
            models: vec![model("a", 0.5), model("cnn9-tanh-cosine", 0.125)],
            transfer: vec![],
            examples: vec![],
            eval_seconds: 0.0,
            strong_attacks: AttackId::strong(),
        };
        let lines = table_lines(&s);
        let ends = |l: &str| -> Vec<usize> {
            let b = l.as_bytes();
            (1..b.len())
                .filter(|&i| b[i - 1] != b' ' && b[i] == b' ')
                .collect()
        };
        // The model names are left-aligned: compare the right-aligned columns after them.
        assert_eq!(ends(&lines[0])[1..], ends(&lines[1])[1..], "{lines:#?}");
        assert_eq!(ends(&lines[0])[1..], ends(&lines[2])[1..], "{lines:#?}");
        assert!(lines[2].contains(" 12.50% ") && lines[2].contains(" 6.25% "));
    }
}
