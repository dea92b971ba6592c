//! `dcrobust report`.

use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;

/// `dcrobust report`.
#[derive(Debug, Args)]
pub(crate) struct ReportArgs {
    /// Run directories (written by `dcrobust run`); several are combined into one page.
    #[arg(required = true)]
    pub(crate) dirs: Vec<PathBuf>,
    /// Where to write the page (default: the run's own report.html for one directory,
    /// report.html in the current directory for several); the CSV tables go beside a run's page,
    /// or into `<page name>-tables/` for a page of several runs. A page of several runs never
    /// replaces a run's own report.html.
    #[arg(long)]
    pub(crate) out: Option<PathBuf>,
    /// Open the page in the system browser.
    #[arg(long)]
    pub(crate) open: bool,
    /// Print the tables as Markdown on standard output (the white-box table with the paper's
    /// values, accuracy against ε per attack, the transfer matrices, the checks, the corruption
    /// tables and the conclusions) instead of writing the page.
    #[arg(long, conflicts_with_all = ["out", "open"])]
    pub(crate) markdown: bool,
}

/// The results of the runs in `dirs`, in order; an error names the directory it could not read.
fn load_runs(dirs: &[PathBuf]) -> Result<Vec<dcrobust_reports::RunResults>> {
    dirs.iter()
        .map(|d| {
            dcrobust_reports::load_run(d)
                .with_context(|| format!("loading the results of {}", d.display()))
        })
        .collect()
}

/// The tables of the runs in `dirs` as Markdown (`dcrobust_reports::tables_markdown`).
pub(crate) fn markdown_tables(dirs: &[PathBuf]) -> Result<String> {
    Ok(dcrobust_reports::tables_markdown(&load_runs(dirs)?))
}

/// Renders the report of `dirs` into `out` (default: `dirs[0]/report.html` for one run,
/// `./report.html` for several), with its CSV tables beside a one-run page or in
/// `<stem>-tables/` beside a page of several runs; returns the page's path. A page of several
/// runs that would replace one run's own `report.html` is refused before anything is written.
pub(crate) fn write_report(dirs: &[PathBuf], out: Option<&std::path::Path>) -> Result<PathBuf> {
    let t = std::time::Instant::now();
    let several = dirs.len() > 1;
    let page = match out {
        Some(p) => p.to_path_buf(),
        None if several => PathBuf::from("report.html"),
        None => dirs[0].join("report.html"),
    };
    if several {
        let same = |a: &std::path::Path, b: &std::path::Path| match (
            std::fs::canonicalize(
                a.parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .unwrap_or(".".as_ref()),
            ),
            std::fs::canonicalize(
                b.parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .unwrap_or(".".as_ref()),
            ),
        ) {
            (Ok(x), Ok(y)) => x == y && a.file_name() == b.file_name(),
            _ => false,
        };
        if let Some(d) = dirs.iter().find(|d| same(&page, &d.join("report.html"))) {
            anyhow::bail!(
                "{} is the report of the run {}; a page of several runs needs its own file: give \
                 another --out (default: report.html in the current directory)",
                page.display(),
                d.display()
            );
        }
    }
    let runs = load_runs(dirs)?;
    let html = dcrobust_reports::render(&runs);
    let mut dir = page
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(|p| p.to_path_buf())
        .unwrap_or_else(|| PathBuf::from("."));
    if several {
        let stem = page
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "report".into());
        dir = dir.join(format!("{stem}-tables"));
    }
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
