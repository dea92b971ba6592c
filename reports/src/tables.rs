//! Machine-readable tables: the numbers behind the report's tables, as CSV files written by
//! [`write_csv`] from one serde row type per file.

use serde::{Serialize, Serializer};

use crate::csv_writer::write_csv;
use crate::headline::{cell_at, headline_attacks};
use crate::RunResults;

/// A number written as Rust's `Display` writes it (`0`, `0.85`, `0.03137254901960784`), as the
/// tables always have been; `Option<Num>` leaves `None` empty.
#[derive(Clone, Copy)]
struct Num(f64);

impl Serialize for Num {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

fn num(x: Option<f64>) -> Option<Num> {
    x.map(Num)
}

/// `adversarial_headline.csv`: clean accuracy (attack `none`, ε 0) and each headline attack.
#[derive(Serialize)]
struct HeadlineRow<'a> {
    run: &'a str,
    model: &'a str,
    adversarial_training: &'a str,
    attack: &'static str,
    norm: &'static str,
    eps: Num,
    accuracy: Option<Num>,
}

/// `adversarial_cells.csv`: one white-box cell.
#[derive(Serialize)]
struct AttackCellRow<'a> {
    run: &'a str,
    model: &'a str,
    attack: &'static str,
    norm: &'static str,
    eps: Num,
    steps: Option<usize>,
    images: usize,
    accuracy: Num,
    success_rate: Num,
    mean_linf: Num,
    mean_l2: Num,
    mean_loss: Num,
    gradients: u64,
    queries: u64,
    seconds: Num,
}

/// `adversarial_transfer.csv`: one transfer cell.
#[derive(Serialize)]
struct TransferRow<'a> {
    run: &'a str,
    source: &'a str,
    target: &'a str,
    attack: &'static str,
    eps: Num,
    accuracy: Num,
    source_accuracy: Num,
}

/// `corruption_cells.csv`: one model, corruption and severity.
#[derive(Serialize)]
struct CorruptionCellRow<'a> {
    run: &'a str,
    model: &'a str,
    corruption: &'a str,
    category: &'a str,
    severity: u8,
    accuracy: Num,
}

/// `corruption_ce.csv`: CE and relative CE of one model and corruption.
#[derive(Serialize)]
struct CorruptionErrorRow<'a> {
    run: &'a str,
    model: &'a str,
    corruption: &'a str,
    ce: Num,
    relative_ce: Option<Num>,
}

/// `corruption_summary.csv`: one model's clean and mean corruption accuracy, mCE, relative mCE.
#[derive(Serialize)]
struct CorruptionSummaryRow<'a> {
    run: &'a str,
    model: &'a str,
    clean_accuracy: Num,
    mean_corruption_accuracy: Option<Num>,
    mce: Option<Num>,
    relative_mce: Option<Num>,
}

/// The rows of every table, gathered over the runs.
#[derive(Default)]
struct Tables<'a> {
    headline: Vec<HeadlineRow<'a>>,
    cells: Vec<AttackCellRow<'a>>,
    transfer: Vec<TransferRow<'a>>,
    corruption_cells: Vec<CorruptionCellRow<'a>>,
    corruption_summary: Vec<CorruptionSummaryRow<'a>>,
    corruption_errors: Vec<CorruptionErrorRow<'a>>,
}

fn gather(runs: &[RunResults]) -> Tables<'_> {
    let mut t = Tables::default();
    for run in runs {
        let r = run.dir_label.as_str();
        if let Some(s) = &run.adversarial {
            let attacks = headline_attacks(s);
            for m in &s.models {
                let adv = m.adversarial_training.as_deref().unwrap_or_default();
                t.headline.push(HeadlineRow {
                    run: r,
                    model: &m.model,
                    adversarial_training: adv,
                    attack: "none",
                    norm: "",
                    eps: Num(0.0),
                    accuracy: Some(Num(m.clean_accuracy)),
                });
                for (attack, norm, e) in &attacks {
                    t.headline.push(HeadlineRow {
                        run: r,
                        model: &m.model,
                        adversarial_training: adv,
                        attack: attack.name(),
                        norm: norm.name(),
                        eps: Num(*e),
                        accuracy: num(cell_at(m, *attack, *e).map(|c| c.accuracy)),
                    });
                }
                t.cells.extend(m.cells.iter().map(|c| AttackCellRow {
                    run: r,
                    model: &m.model,
                    attack: c.attack.name(),
                    norm: c.norm.name(),
                    eps: Num(c.eps),
                    steps: c.steps,
                    images: c.images,
                    accuracy: Num(c.accuracy),
                    success_rate: Num(c.success_rate),
                    mean_linf: Num(c.mean_linf),
                    mean_l2: Num(c.mean_l2),
                    mean_loss: Num(c.mean_loss),
                    gradients: c.gradients,
                    queries: c.queries,
                    seconds: Num(c.seconds),
                }));
            }
            t.transfer.extend(s.transfer.iter().map(|c| TransferRow {
                run: r,
                source: &c.source,
                target: &c.target,
                attack: c.attack.name(),
                eps: Num(c.eps),
                accuracy: Num(c.accuracy),
                source_accuracy: Num(c.source_accuracy),
            }));
        }
        if let Some(s) = &run.corruption {
            for m in &s.models {
                t.corruption_cells
                    .extend(m.cells.iter().map(|c| CorruptionCellRow {
                        run: r,
                        model: &m.model,
                        corruption: &c.corruption,
                        category: &c.category,
                        severity: c.severity,
                        accuracy: Num(c.accuracy),
                    }));
                t.corruption_errors
                    .extend(m.corruption_errors.iter().map(|e| CorruptionErrorRow {
                        run: r,
                        model: &m.model,
                        corruption: &e.corruption,
                        ce: Num(e.ce),
                        relative_ce: num(e.relative_ce),
                    }));
                t.corruption_summary.push(CorruptionSummaryRow {
                    run: r,
                    model: &m.model,
                    clean_accuracy: Num(m.clean_accuracy),
                    mean_corruption_accuracy: num(m.mean_corruption_accuracy),
                    mce: num(m.mce),
                    relative_mce: num(m.relative_mce),
                });
            }
        }
    }
    t
}

/// One table as a named CSV file, or nothing when it has no rows.
fn file<T: Serialize>(out: &mut Vec<(String, String)>, name: &str, rows: &[T]) {
    if rows.is_empty() {
        return;
    }
    // Every row type above is a flat struct of strings and numbers, which the writer always
    // accepts, and its fields are UTF-8 strings, so neither step can fail.
    let bytes = write_csv(rows).expect("flat rows are valid CSV");
    let text = String::from_utf8(bytes).expect("CSV of UTF-8 fields is UTF-8");
    out.push((name.to_string(), text));
}

/// The report's tables as CSV files, `(file name, contents)`, each with a header row and a `run`
/// column (the run's `dir_label`) so several runs share one file; accuracies are fractions in
/// [0, 1], CE values are in %, numbers are written as Rust's `Display` writes them. Files without
/// rows are left out.
///
/// - `adversarial_headline.csv`: clean accuracy and the accuracy under every attack at the
///   headline ε (the headline table), one row per model and attack;
/// - `adversarial_cells.csv`: every white-box cell;
/// - `adversarial_transfer.csv`: transfer cells;
/// - `corruption_cells.csv`: accuracy per model, corruption and severity;
/// - `corruption_summary.csv`: clean accuracy, mean corruption accuracy, mCE and relative mCE;
/// - `corruption_ce.csv`: CE and relative CE per model and corruption.
pub fn tables_csv(runs: &[RunResults]) -> Vec<(String, String)> {
    let t = gather(runs);
    let mut out = Vec::new();
    file(&mut out, "adversarial_headline.csv", &t.headline);
    file(&mut out, "adversarial_cells.csv", &t.cells);
    file(&mut out, "adversarial_transfer.csv", &t.transfer);
    file(&mut out, "corruption_cells.csv", &t.corruption_cells);
    file(&mut out, "corruption_summary.csv", &t.corruption_summary);
    file(&mut out, "corruption_ce.csv", &t.corruption_errors);
    out
}
