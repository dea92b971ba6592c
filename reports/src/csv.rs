//! Machine-readable tables: the numbers behind the report's tables, as CSV files.

use std::fmt::Write as _;

use crate::render::{cell_at, headline_attacks};
use crate::RunResults;

/// Quotes a CSV field when it holds a comma, quote or line break (RFC 4180).
fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn opt(x: Option<f64>) -> String {
    x.map(|v| v.to_string()).unwrap_or_default()
}

fn line(out: &mut String, fields: &[String]) {
    let row: Vec<String> = fields.iter().map(|f| field(f)).collect();
    let _ = writeln!(out, "{}", row.join(","));
}

/// The report's tables as CSV files, `(file name, contents)`, each with a header row and a `run`
/// column (the run's `dir_label`) so several runs share one file; accuracies are fractions in
/// [0, 1], CE values are in %. Files without rows are left out.
///
/// - `adversarial_headline.csv`: clean accuracy and the accuracy under every attack at the
///   headline ε (the headline table), one row per model and attack;
/// - `adversarial_cells.csv`: every white-box cell;
/// - `adversarial_transfer.csv`: transfer cells;
/// - `corruption_cells.csv`: accuracy per model, corruption and severity;
/// - `corruption_ce.csv`: CE and relative CE per model and corruption;
/// - `corruption_summary.csv`: clean accuracy, mean corruption accuracy, mCE and relative mCE.
pub fn tables_csv(runs: &[RunResults]) -> Vec<(String, String)> {
    let mut headline = String::new();
    line(
        &mut headline,
        &[
            "run",
            "model",
            "adversarial_training",
            "attack",
            "norm",
            "eps",
            "accuracy",
        ]
        .map(String::from),
    );
    let mut cells = String::new();
    line(
        &mut cells,
        &[
            "run",
            "model",
            "attack",
            "norm",
            "eps",
            "steps",
            "images",
            "accuracy",
            "success_rate",
            "mean_linf",
            "mean_l2",
            "mean_loss",
            "gradients",
            "queries",
            "seconds",
        ]
        .map(String::from),
    );
    let mut transfer = String::new();
    line(
        &mut transfer,
        &[
            "run",
            "source",
            "target",
            "attack",
            "eps",
            "accuracy",
            "source_accuracy",
        ]
        .map(String::from),
    );
    let mut ccells = String::new();
    line(
        &mut ccells,
        &[
            "run",
            "model",
            "corruption",
            "category",
            "severity",
            "accuracy",
        ]
        .map(String::from),
    );
    let mut ce = String::new();
    line(
        &mut ce,
        &["run", "model", "corruption", "ce", "relative_ce"].map(String::from),
    );
    let mut csum = String::new();
    line(
        &mut csum,
        &[
            "run",
            "model",
            "clean_accuracy",
            "mean_corruption_accuracy",
            "mce",
            "relative_mce",
        ]
        .map(String::from),
    );
    let (mut n_adv, mut n_trans, mut n_cor, mut n_ce) = (0, 0, 0, 0);

    for run in runs {
        let r = run.dir_label.clone();
        if let Some(s) = &run.adversarial {
            let attacks = headline_attacks(s);
            for m in &s.models {
                n_adv += 1;
                let adv = m.adversarial_training.clone().unwrap_or_default();
                line(
                    &mut headline,
                    &[
                        r.clone(),
                        m.model.clone(),
                        adv.clone(),
                        "none".into(),
                        String::new(),
                        "0".into(),
                        m.clean_accuracy.to_string(),
                    ],
                );
                for (attack, norm, e) in &attacks {
                    let acc = cell_at(m, attack, *e).map(|c| c.accuracy);
                    line(
                        &mut headline,
                        &[
                            r.clone(),
                            m.model.clone(),
                            adv.clone(),
                            attack.clone(),
                            norm.clone(),
                            e.to_string(),
                            opt(acc),
                        ],
                    );
                }
                for c in &m.cells {
                    line(
                        &mut cells,
                        &[
                            r.clone(),
                            m.model.clone(),
                            c.attack.clone(),
                            c.norm.clone(),
                            c.eps.to_string(),
                            c.steps.map(|s| s.to_string()).unwrap_or_default(),
                            c.images.to_string(),
                            c.accuracy.to_string(),
                            c.success_rate.to_string(),
                            c.mean_linf.to_string(),
                            c.mean_l2.to_string(),
                            c.mean_loss.to_string(),
                            c.gradients.to_string(),
                            c.queries.to_string(),
                            c.seconds.to_string(),
                        ],
                    );
                }
            }
            for t in &s.transfer {
                n_trans += 1;
                line(
                    &mut transfer,
                    &[
                        r.clone(),
                        t.source.clone(),
                        t.target.clone(),
                        t.attack.clone(),
                        t.eps.to_string(),
                        t.accuracy.to_string(),
                        t.source_accuracy.to_string(),
                    ],
                );
            }
        }
        if let Some(s) = &run.corruption {
            for m in &s.models {
                n_cor += 1;
                for c in &m.cells {
                    line(
                        &mut ccells,
                        &[
                            r.clone(),
                            m.model.clone(),
                            c.corruption.clone(),
                            c.category.clone(),
                            c.severity.to_string(),
                            c.accuracy.to_string(),
                        ],
                    );
                }
                for e in &m.corruption_errors {
                    n_ce += 1;
                    line(
                        &mut ce,
                        &[
                            r.clone(),
                            m.model.clone(),
                            e.corruption.clone(),
                            e.ce.to_string(),
                            opt(e.relative_ce),
                        ],
                    );
                }
                line(
                    &mut csum,
                    &[
                        r.clone(),
                        m.model.clone(),
                        m.clean_accuracy.to_string(),
                        opt(m.mean_corruption_accuracy),
                        opt(m.mce),
                        opt(m.relative_mce),
                    ],
                );
            }
        }
    }

    let mut out = Vec::new();
    if n_adv > 0 {
        out.push(("adversarial_headline.csv".to_string(), headline));
        out.push(("adversarial_cells.csv".to_string(), cells));
    }
    if n_trans > 0 {
        out.push(("adversarial_transfer.csv".to_string(), transfer));
    }
    if n_cor > 0 {
        out.push(("corruption_cells.csv".to_string(), ccells));
        out.push(("corruption_summary.csv".to_string(), csum));
    }
    if n_ce > 0 {
        out.push(("corruption_ce.csv".to_string(), ce));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Oracle: RFC 4180 quoting, by hand.
    #[test]
    fn quotes_fields_that_need_it() {
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }
}
