//! `dcrobust bench`.

use super::*;
use crate::data::{self};
use crate::models::Arch;
use anyhow::{bail, Context, Result};
use clap::Args;
use std::path::PathBuf;

/// `dcrobust bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(flatten)]
    /// Models (CNN-9 only; default baseline,tanh).
    pub model: ModelArgs,
    /// Images per step.
    #[arg(long, default_value_t = 128, value_parser = crate::cli::parse_count::<usize>, allow_negative_numbers = true)]
    pub batch: usize,
    /// Timed steps per measurement.
    #[arg(long, default_value_t = 10, value_parser = crate::cli::parse_count::<usize>, allow_negative_numbers = true)]
    pub steps: usize,
    /// Untimed steps before each measurement.
    #[arg(long, default_value_t = 2, value_parser = crate::cli::parse_count::<usize>, allow_negative_numbers = true)]
    pub warmup: usize,
    /// Worker threads (default: all cores).
    #[arg(long, value_parser = crate::cli::parse_count::<usize>, allow_negative_numbers = true)]
    pub threads: Option<usize>,
    /// Seed of the weights and the random images.
    #[arg(long, default_value_t = 0, value_parser = crate::cli::parse_count::<u64>, allow_negative_numbers = true)]
    pub seed: u64,
    /// Kernel sets to time, comma-separated: dcrobust (own CPU kernels), candle (candle's
    /// operations).
    #[arg(long, value_delimiter = ',', default_value = "dcrobust,candle", value_parser = parse_bench_kernels)]
    pub kernels: Vec<&'static str>,
    /// Modes to time, comma-separated: train (forward, backward, optimiser step), infer
    /// (forward), attack (input gradient, weights frozen).
    #[arg(long, value_delimiter = ',', default_value = "train,infer,attack", value_parser = parse_bench_mode)]
    pub modes: Vec<&'static str>,
    /// Also write the measurements to this JSON file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

pub(crate) fn parse_bench_kernels(s: &str) -> std::result::Result<&'static str, String> {
    one_of(s, &crate::bench::KERNELS)
}

pub(crate) fn parse_bench_mode(s: &str) -> std::result::Result<&'static str, String> {
    one_of(s, &crate::bench::MODES)
}

pub(crate) fn one_of(s: &str, names: &[&'static str]) -> std::result::Result<&'static str, String> {
    names
        .iter()
        .find(|n| **n == s)
        .copied()
        .ok_or_else(|| format!("expected one of {}", names.join(", ")))
}

pub(crate) fn cmd_bench(a: &BenchArgs) -> Result<()> {
    apply_threads(a.threads)?;
    let data = data::embedded()?;
    let models = model_configs(&a.model, &data, &["baseline", "tanh"])?;
    if let Some(m) = models.iter().find(|m| m.arch != Arch::Cnn9) {
        bail!(
            "dcrobust bench times CNN-9 models; `{}` is not one",
            m.name()
        );
    }
    let cfg = crate::bench::BenchConfig {
        models,
        batch: a.batch,
        steps: a.steps,
        warmup: a.warmup,
        seed: a.seed,
        kernels: a.kernels.clone(),
        modes: a.modes.clone(),
    };
    let peak = crate::bench::measured_peak_gflops(0.5);
    println!(
        "CPU, {} threads, batch {}, {} timed steps after {} warm-up; GFLOP/s count convolutions",
        a.threads.unwrap_or_else(rayon::current_num_threads),
        a.batch,
        a.steps,
        a.warmup
    );
    match peak {
        Some(p) => {
            println!("measured peak (fused multiply-add loop on every thread): {p:.1} GFLOP/s")
        }
        None => println!("measured peak: unknown on this CPU (no AVX2/AVX-512)"),
    }
    println!(
        "{:<20} {:<7} {:<9} {:>10} {:>9} {:>7}",
        "model", "mode", "kernels", "images/s", "GFLOP/s", "peak"
    );
    let rows = crate::bench::run(&cfg, |r| {
        println!(
            "{:<20} {:<7} {:<9} {:>10.1} {:>9.1} {:>6.1}%",
            r.model,
            r.mode,
            r.kernels,
            r.images_per_s,
            r.gflops,
            peak.map_or(f64::NAN, |p| 100.0 * r.gflops / p)
        );
    })?;
    if a.kernels.len() > 1 {
        println!("\nspeed-up of dcrobust's kernels over candle's operations:");
    }
    for r in rows.iter().filter(|r| r.kernels == "dcrobust") {
        if let Some(c) = rows
            .iter()
            .find(|c| c.kernels == "candle" && c.model == r.model && c.mode == r.mode)
        {
            println!(
                "  {:<20} {:<7} {:.2}x",
                r.model,
                r.mode,
                r.images_per_s / c.images_per_s
            );
        }
    }
    if let Some(path) = &a.json {
        let doc = serde_json::json!({
            "threads": rayon::current_num_threads(),
            "batch": a.batch,
            "peak_gflops": peak,
            "rows": rows,
        });
        crate::util::write_json_atomic(path, &doc)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
