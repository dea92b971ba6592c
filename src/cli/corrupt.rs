//! `dcrobust corrupt`.

use super::*;
use crate::suite::{self};
use anyhow::{bail, Result};
use clap::Args;

/// `dcrobust corrupt`.
#[derive(Debug, Args)]
pub struct CorruptArgs {
    /// Data options (the test split is corrupted).
    #[command(flatten)]
    pub data: DataArgs,
    /// Common options (`--out` is required).
    #[command(flatten)]
    pub common: CommonArgs,
    /// Corruptions, as for `run --suite corruption`.
    #[arg(long, value_delimiter = ',', default_value = "all")]
    pub corruptions: Vec<String>,
    /// Severity table: cifar10-c or imagenet-c.
    #[arg(long, default_value = "cifar10-c", value_parser = crate::cli::run::parse_table)]
    pub table: dcrobust_corruptions::Table,
    /// Hide the progress bar.
    #[arg(long)]
    pub quiet: bool,
}

pub(crate) fn cmd_corrupt(a: &CorruptArgs) -> Result<()> {
    apply_threads(a.common.threads)?;
    let Some(out) = &a.common.out else {
        bail!("dcrobust corrupt needs --out DIR for the .npy files");
    };
    let corruptions = expand_corruptions(&a.corruptions)?;
    let table = a.table;
    let data = load_data(&a.data)?;
    let t = std::time::Instant::now();
    suite::corruption::write_corrupted_set(
        &data,
        &corruptions,
        table,
        a.common.seed,
        out,
        !a.quiet,
    )?;
    println!(
        "wrote {} corruptions x 5 severities of {} test images ({}x{}x{}) and labels.npy to {} in {:.1} s",
        corruptions.len(),
        data.test.len(),
        data.height,
        data.width,
        data.channels,
        out.display(),
        t.elapsed().as_secs_f64()
    );
    Ok(())
}
