//! `dcrobust train`.

use super::*;
use crate::train::{self, TrainOptions};
use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;

/// `dcrobust train`.
#[derive(Debug, Args)]
pub(crate) struct TrainArgs {
    /// Model options.
    #[command(flatten)]
    pub(crate) model: ModelArgs,
    /// Data options.
    #[command(flatten)]
    pub(crate) data: DataArgs,
    /// Common options.
    #[command(flatten)]
    pub(crate) common: CommonArgs,
    /// Training recipe.
    #[command(flatten)]
    pub(crate) recipe: RecipeArgs,
    /// Continue the runs found in --out.
    #[arg(long)]
    pub(crate) resume: bool,
    /// Stop after this many epochs as if killed (for testing resume).
    #[arg(long, hide = true, value_parser = crate::cli::parse_count::<usize>, allow_negative_numbers = true)]
    pub(crate) stop_after_epochs: Option<usize>,
    /// Hide the progress bar.
    #[arg(long, help_heading = "Execution and output")]
    pub(crate) quiet: bool,
}

pub(crate) fn cmd_train(a: &TrainArgs) -> Result<()> {
    apply_threads(a.common.threads)?;
    let device = a.common.open_device()?;
    let cfg = train_config(&a.recipe, a.common.seed, 5)?;
    let data = load_data(&a.data)?;
    let models = model_configs(&a.model, &data, &["baseline", "tanh"])?;
    let out = a
        .common
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("runs/train"));
    eprintln!("{}", describe_data(&data));
    let opts = TrainOptions {
        resume: a.resume,
        stop_after_epochs: a.stop_after_epochs,
        progress: !a.quiet,
    };
    let mut summary = Vec::new();
    for m in &models {
        let dir = out.join(m.name());
        let net = train::build_network(m, cfg.seed, &device)?;
        eprintln!(
            "training {} ({} parameters) into {}",
            m.name(),
            net.num_parameters(),
            dir.display()
        );
        // The command that started the run, for `dcrobust zoo pack` and anyone rerunning it.
        let command = dir.join("command");
        // A run that has finished an epoch keeps the command it was started with.
        let started = dir.join("state.json").exists();
        if !started || (a.resume && !command.exists()) {
            std::fs::create_dir_all(&dir)
                .and_then(|_| {
                    crate::util::write_atomic(
                        &command,
                        format!("{}\n", crate::util::command_line()).as_bytes(),
                    )
                })
                .with_context(|| format!("writing {}", command.display()))?;
        }
        let h = train::train(&net, m, &data, &cfg, &dir, &opts)?;
        summary.push((m.name(), h));
    }
    println!(
        "{:<28} {:>6} {:>10} {:>10} {:>10}",
        "model", "epochs", "test acc", "test loss", "img/s"
    );
    for (name, h) in &summary {
        if let Some(e) = h.last() {
            let ips = h.epochs.iter().map(|e| e.images_per_s).sum::<f64>() / h.epochs.len() as f64;
            println!(
                "{name:<28} {:>6} {:>9.2}% {:>10.4} {:>10.1}",
                e.epoch,
                100.0 * e.test_accuracy,
                e.test_loss,
                ips
            );
        }
    }
    println!("results in {}", out.display());
    Ok(())
}
