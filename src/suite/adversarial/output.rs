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
        let headline = if c.norm == "linf" {
            cfg.headline_linf
        } else {
            cfg.headline_l2
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
pub fn print_table(s: &AdversarialSummary) {
    let mut attacks: Vec<String> = Vec::new();
    for m in &s.models {
        for c in &m.cells {
            let headline = if c.norm == "linf" {
                s.headline_linf
            } else {
                s.headline_l2
            };
            if c.eps == headline && !attacks.contains(&c.attack) {
                attacks.push(c.attack.clone());
            }
        }
    }
    let mut header = format!("{:<28} {:>8}", "model", "clean");
    for a in &attacks {
        header.push_str(&format!(" {:>9}", a));
    }
    header.push_str("  checks");
    println!("{header}");
    for m in &s.models {
        let mut line = format!("{:<28} {:>7.2}%", m.model, 100.0 * m.clean_accuracy);
        for a in &attacks {
            match m.cells.iter().find(|c| {
                &c.attack == a
                    && c.eps
                        == if c.norm == "linf" {
                            s.headline_linf
                        } else {
                            s.headline_l2
                        }
            }) {
                Some(c) => line.push_str(&format!(" {:>8.2}%", 100.0 * c.accuracy)),
                None => line.push_str(&format!(" {:>9}", "-")),
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
        println!("{line}");
    }
    println!(
        "L-inf attacks at eps {:.4} ({}/255), L2 at {}; {} test images",
        s.headline_linf,
        (s.headline_linf * 255.0 * 100.0).round() / 100.0,
        s.headline_l2,
        s.run.images
    );
}
