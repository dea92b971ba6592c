//! `dcrobust merge`.

use super::*;
use crate::suite::cells::Shard;
use crate::suite::{self};
use anyhow::{bail, Context, Result};
use clap::Args;
use std::path::PathBuf;

/// `dcrobust merge`.
#[derive(Debug, Args)]
pub(crate) struct MergeArgs {
    /// The shards' output directories (all N shards of one run, any order).
    #[arg(required = true)]
    pub(crate) shards: Vec<PathBuf>,
    /// Directory of the merged results and report.
    #[arg(long, required = true)]
    pub(crate) out: PathBuf,
    /// Open the report in the system browser.
    #[arg(long)]
    pub(crate) open: bool,
}

/// Copies the files under `src` into `dst` (atomically each), creating folders; `None` when `src`
/// does not exist.
fn copy_tree(src: &std::path::Path, dst: &std::path::Path) -> Result<Option<usize>> {
    if !src.is_dir() {
        return Ok(None);
    }
    std::fs::create_dir_all(dst).with_context(|| format!("creating {}", dst.display()))?;
    let mut n = 0;
    for e in std::fs::read_dir(src).with_context(|| format!("reading {}", src.display()))? {
        let e = e.with_context(|| format!("reading {}", src.display()))?;
        let name = e.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let (from, to) = (e.path(), dst.join(&name));
        if from.is_dir() {
            n += copy_tree(&from, &to)?.unwrap_or(0);
        } else {
            let bytes =
                std::fs::read(&from).with_context(|| format!("reading {}", from.display()))?;
            crate::util::write_atomic(&to, &bytes)
                .with_context(|| format!("writing {}", to.display()))?;
            n += 1;
        }
    }
    Ok(Some(n))
}

/// The shards' common configuration (without `shard`) and each shard with its directory, after
/// checking that they are the N finished shards of one run, each given once.
fn read_shards(a: &MergeArgs) -> Result<(suite::SuiteRecord, Vec<(Shard, &PathBuf)>)> {
    let mut configs = Vec::new();
    let mut shards: Vec<(Shard, &PathBuf)> = Vec::new();
    for dir in &a.shards {
        let suite_path = dir.join("suite.json");
        if !suite_path.exists() {
            bail!(
                "{} has no suite.json: not the output directory of `dcrobust run`",
                dir.display()
            );
        }
        let mut cfg: suite::SuiteRecord = crate::util::read_json(&suite_path)?;
        let shard_path = dir.join("shard.json");
        if !shard_path.exists() {
            bail!(
                "{} has no shard.json: it is not a finished shard (rerun its `dcrobust run --shard K/N` command to finish it)",
                dir.display()
            );
        }
        let record: suite::cells::ShardRecord = crate::util::read_json(&shard_path)?;
        if cfg.shard != Some(record.shard) {
            bail!(
                "{}: shard.json says shard {} but suite.json says {}",
                dir.display(),
                record.shard,
                cfg.shard.map_or("none".to_string(), |s| s.to_string())
            );
        }
        cfg.shard = None;
        configs.push(cfg);
        shards.push((record.shard, dir));
    }
    for (i, cfg) in configs.iter().enumerate().skip(1) {
        if cfg != &configs[0] {
            let diff = crate::train::json_diff(
                "",
                &serde_json::to_value(&configs[0])?,
                &serde_json::to_value(cfg)?,
            );
            bail!(
                "{} and {} come from different configurations ({}); only shards of one run can be merged",
                a.shards[0].display(),
                a.shards[i].display(),
                diff.join(", ")
            );
        }
    }
    let count = shards[0].0.count;
    if let Some((s, d)) = shards.iter().find(|(s, _)| s.count != count) {
        bail!(
            "{} is shard {s} but {} is shard {}: the shard counts differ",
            d.display(),
            shards[0].1.display(),
            shards[0].0
        );
    }
    for k in 1..=count {
        let with_k: Vec<&PathBuf> = shards
            .iter()
            .filter(|(s, _)| s.index == k)
            .map(|(_, d)| *d)
            .collect();
        match with_k.len() {
            1 => {}
            0 => bail!(
                "shard {k}/{count} is missing; pass the output directories of all {count} shards"
            ),
            _ => bail!(
                "shard {k}/{count} is given twice ({} and {})",
                with_k[0].display(),
                with_k[1].display()
            ),
        }
    }
    Ok((configs.swap_remove(0), shards))
}

/// `dcrobust merge`: checks that the shards are the N shards of one configuration, copies their
/// units, models and examples into `--out`, assembles the results and renders the report.
pub(crate) fn cmd_merge(a: &MergeArgs) -> Result<()> {
    let (config, shards) = read_shards(a)?;
    let count = shards[0].0.count;
    // The merged run's configuration is an unsharded run's: the shards' without `shard`.
    suite::record_config(&a.out, &config)?;
    let store = suite::cells::CellStore::open(&a.out)?;
    let mut units = 0;
    let mut by_index: Vec<&(Shard, &PathBuf)> = shards.iter().collect();
    by_index.sort_by_key(|(s, _)| s.index);
    for (_, dir) in &by_index {
        units += store.copy_from(&suite::cells::CellStore::existing(dir)?)?;
        copy_tree(&dir.join("examples"), &a.out.join("examples"))?;
    }
    let first = by_index[0].1;
    for sub in ["models", "surrogate", "features"] {
        copy_tree(&first.join(sub), &a.out.join(sub))?;
    }
    match (config.suite, &config.adversarial) {
        (suite::SuiteKind::Adversarial, Some(cfg)) => {
            let summary = suite::adversarial::finish(&a.out, cfg)?;
            suite::adversarial::print_table(&summary);
        }
        (suite::SuiteKind::Adversarial, None) => bail!(
            "{}: suite.json has no adversarial configuration",
            a.shards[0].display()
        ),
        (suite::SuiteKind::Corruption, _) => {
            let summary = suite::corruption::finish(&a.out)?;
            suite::corruption::print_table(&summary);
        }
    }
    println!(
        "merged {count} shards ({units} unit files) into {}",
        a.out.display()
    );
    let page = write_report(std::slice::from_ref(&a.out), None)?;
    println!("report: {}", page.display());
    if a.open {
        open_in_browser(&page);
    }
    Ok(())
}
