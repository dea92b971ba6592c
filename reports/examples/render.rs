//! Renders one report from run directories and reports how long it took.
//!
//! `cargo run --release -p dcrobust-reports --example render -- DIR...` loads every `DIR`,
//! renders one page, and writes it as `report.html` in the first `DIR`.

use std::path::PathBuf;
use std::time::Instant;

/// The page's file name, written inside the first run directory.
const OUT_FILE_NAME: &str = "report.html";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dirs: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    if dirs.is_empty() {
        return Err("usage: render DIR...".into());
    }
    let t0 = Instant::now();
    let runs = dirs
        .iter()
        .map(|d| dcrobust_reports::load_run(d))
        .collect::<Result<Vec<_>, _>>()?;
    let t1 = Instant::now();
    let html = dcrobust_reports::render(&runs);
    let t2 = Instant::now();
    let csv = dcrobust_reports::tables_csv(&runs);
    let t3 = Instant::now();
    let out = dirs[0].join(OUT_FILE_NAME);
    std::fs::write(&out, &html)?;
    println!(
        "{}: {} bytes; load {:.1} ms, render {:.1} ms, csv {:.1} ms ({} tables, not written)",
        out.display(),
        html.len(),
        (t1 - t0).as_secs_f64() * 1e3,
        (t2 - t1).as_secs_f64() * 1e3,
        (t3 - t2).as_secs_f64() * 1e3,
        csv.len()
    );
    Ok(())
}
