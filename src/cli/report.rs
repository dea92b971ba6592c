//! `dcrobust report`.

use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;

/// `dcrobust report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Run directories (written by `dcrobust run`); several are combined into one page.
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
    /// Where to write the page (default: report.html in the first directory); the CSV tables go
    /// beside it.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Open the page in the system browser.
    #[arg(long)]
    pub open: bool,
}

/// Renders the report of `dirs` into `out` (default `dirs[0]/report.html`), with its CSV tables
/// beside it; returns the page's path.
pub fn write_report(dirs: &[PathBuf], out: Option<&std::path::Path>) -> Result<PathBuf> {
    let t = std::time::Instant::now();
    let mut runs = Vec::new();
    for d in dirs {
        runs.push(
            dcrobust_reports::load_run(d)
                .with_context(|| format!("loading the results of {}", d.display()))?,
        );
    }
    let page = match out {
        Some(p) => p.to_path_buf(),
        None => dirs[0].join("report.html"),
    };
    let html = dcrobust_reports::render(&runs);
    let dir = page
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(|p| p.to_path_buf())
        .unwrap_or_else(|| PathBuf::from("."));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    for (name, csv) in dcrobust_reports::tables_csv(&runs) {
        let p = dir.join(name);
        crate::util::write_atomic(&p, csv.as_bytes())
            .with_context(|| format!("writing {}", p.display()))?;
    }
    crate::util::fault_point("report");
    crate::util::write_atomic(&page, html.as_bytes())
        .with_context(|| format!("writing {}", page.display()))?;
    eprintln!(
        "rendered {} in {:.0} ms",
        page.display(),
        t.elapsed().as_secs_f64() * 1e3
    );
    Ok(page)
}

/// Opens `page` with the system's browser; says so and carries on if none can be started.
pub(crate) fn open_in_browser(page: &std::path::Path) {
    let (cmd, args): (&str, Vec<&std::ffi::OsStr>) = if cfg!(target_os = "macos") {
        ("open", vec![page.as_os_str()])
    } else if cfg!(target_os = "windows") {
        (
            "cmd",
            vec![
                "/C".as_ref(),
                "start".as_ref(),
                "".as_ref(),
                page.as_os_str(),
            ],
        )
    } else {
        ("xdg-open", vec![page.as_os_str()])
    };
    if let Err(e) = std::process::Command::new(cmd).args(args).spawn() {
        eprintln!(
            "could not open a browser ({cmd}: {e}); the report is {}",
            page.display()
        );
    }
}
