//! `dcrobust corrupt`.

use super::*;
use crate::data::cifar10c::{self, CorruptedSet};
use crate::data::Splits;
use crate::suite::corruption;
use anyhow::{bail, Result};
use clap::Args;
use dcrobust_corruptions::Severity;

/// `dcrobust corrupt`.
#[derive(Debug, Args)]
pub(crate) struct CorruptArgs {
    /// Data options (only the test split is read and corrupted; the training files need not
    /// exist).
    #[command(flatten)]
    pub(crate) data: DataArgs,
    /// Common options (`--out` is required).
    #[command(flatten)]
    pub(crate) common: CommonArgs,
    /// Corruptions, as for `run --suite corruption`.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "all",
        help_heading = "Corruptions"
    )]
    pub(crate) corruptions: Vec<String>,
    /// Severities, comma-separated, 1 to 5: one block of the test split each, ascending.
    /// Anything but all five is recorded in severities.json, which `run --cifar10c` reads.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "1,2,3,4,5",
        allow_negative_numbers = true,
        help_heading = "Corruptions"
    )]
    pub(crate) severities: Vec<Severity>,
    /// Also write clean.npy: the uncorrupted test images (uint8 N x H x W x C, same order).
    #[arg(long, help_heading = "Corruptions")]
    pub(crate) clean: bool,
    /// Severity table: cifar10-c or imagenet-c.
    #[arg(long, default_value = "cifar10-c", value_parser = crate::cli::run::parse_table, help_heading = "Corruptions")]
    pub(crate) table: dcrobust_corruptions::Table,
    /// Hide the progress bar.
    #[arg(long, help_heading = "Execution and output")]
    pub(crate) quiet: bool,
}

pub(crate) fn cmd_corrupt(a: &CorruptArgs) -> Result<()> {
    apply_threads(a.common.threads)?;
    let Some(out) = &a.common.out else {
        bail!("dcrobust corrupt needs --out DIR for the .npy files");
    };
    let corruptions = expand_corruptions(&a.corruptions)?;
    let set = CorruptedSet {
        corruptions,
        severities: corruption::severities_in_order(&a.severities)?,
        table: a.table,
        seed: a.common.seed,
        clean: a.clean,
    };
    let data = load_data_splits(&a.data, Splits::TestOnly)?;
    let t = std::time::Instant::now();
    cifar10c::write_corrupted_set(&data, &set, out, !a.quiet)?;
    let sev: Vec<String> = set.severities.iter().map(|s| s.to_string()).collect();
    println!(
        "wrote {} corruptions x severities {} of {} test images ({}x{}x{}), labels.npy{} to {} in {:.1} s",
        set.corruptions.len(),
        sev.join(","),
        data.test.len(),
        data.height,
        data.width,
        data.channels,
        if set.clean { " and clean.npy" } else { "" },
        out.display(),
        t.elapsed().as_secs_f64()
    );
    Ok(())
}
