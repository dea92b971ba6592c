//! `dcrobust zoo`: lists the shipped models; `dcrobust zoo pack` adds a finished run to them.

use super::*;
use crate::zoo::{self, PackRequest, ZooModel};
use anyhow::Result;
use clap::{Args, Subcommand};
use serde::Serialize;
use std::path::PathBuf;

/// `dcrobust zoo`.
#[derive(Debug, Args)]
pub(crate) struct ZooArgs {
    /// Print the list as JSON.
    #[arg(long, conflicts_with = "markdown")]
    pub(crate) json: bool,
    /// Print the list as a Markdown table (the table of docs/zoo.md, "The models").
    #[arg(long)]
    pub(crate) markdown: bool,
    /// What to do instead of listing.
    #[command(subcommand)]
    pub(crate) action: Option<ZooAction>,
}

/// `dcrobust zoo` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum ZooAction {
    /// Store a finished training run as a zoo model in src/zoo/<NAME>/ (weights, config,
    /// history, zoo.json); rebuild dcrobust to embed it (docs/zoo.md).
    Pack(PackArgs),
}

/// `dcrobust zoo pack`.
#[derive(Debug, Args)]
pub(crate) struct PackArgs {
    /// The finished training run directory.
    pub(crate) run: PathBuf,
    /// Zoo name (e.g. cnn9-tanh-cosine, cnn9-baseline-fgsm).
    #[arg(long)]
    pub(crate) name: String,
    /// CIFAR-10 whose full test split measures the clean accuracy.
    #[arg(long)]
    pub(crate) data: PathBuf,
    /// Directory that receives <NAME>/.
    #[arg(long, default_value = "src/zoo")]
    pub(crate) into: PathBuf,
    /// The command that trained the run (default: the run directory's `command` file).
    #[arg(long)]
    pub(crate) command: Option<String>,
    /// Where it was trained (default: this machine's processor).
    #[arg(long)]
    pub(crate) trained_on: Option<String>,
    /// Images per evaluation batch (changes speed and memory, never the numbers).
    #[arg(long, default_value_t = 256, value_parser = crate::cli::parse_count::<usize>, allow_negative_numbers = true)]
    pub(crate) eval_batch_size: usize,
    /// Worker threads (default: all cores).
    #[arg(long, value_parser = crate::cli::parse_count::<usize>, allow_negative_numbers = true)]
    pub(crate) threads: Option<usize>,
}

/// One row of `dcrobust zoo` (and its JSON).
#[derive(Debug, Serialize)]
struct ZooRow {
    /// Zoo name.
    pub(crate) name: String,
    /// `baseline` or the decoupled operator (`tanh-cosine`, ...).
    pub(crate) operator: String,
    /// Adversarial training (`fgsm 8/255`) or `none`.
    pub(crate) adversarial_training: String,
    /// Channel-width multiplier (1 = the paper's 128/192/256).
    pub(crate) width: f64,
    /// Trainable parameters.
    pub(crate) parameters: usize,
    /// Clean accuracy on the full test split, stored weights.
    pub(crate) test_accuracy: f64,
    /// Images of that test split.
    pub(crate) test_images: usize,
    /// The same before the weights were rounded for storage (f32).
    pub(crate) f32_test_accuracy: f64,
    /// The paper's clean accuracy (Table 7).
    pub(crate) paper_accuracy: Option<f64>,
    /// Whether the model is within 3 points of the paper's value or above it.
    meets_target: Option<bool>,
    /// Training wall time, seconds.
    pub(crate) train_seconds: f64,
    /// Wall time to 85 % test accuracy, seconds.
    pub(crate) seconds_to_85: Option<f64>,
    /// Where it was trained.
    pub(crate) trained_on: String,
    /// Stored weight type.
    pub(crate) weights_dtype: String,
    /// The command that trained it.
    pub(crate) command: String,
}

impl ZooRow {
    fn of(m: &ZooModel) -> ZooRow {
        ZooRow {
            name: m.meta.name.clone(),
            operator: m.operator(),
            adversarial_training: m.adversarial_training(),
            width: m.config.model.width,
            parameters: m.meta.parameters,
            test_accuracy: m.meta.test_accuracy,
            test_images: m.meta.test_images,
            f32_test_accuracy: m.meta.f32_test_accuracy,
            paper_accuracy: m.meta.paper_accuracy,
            meets_target: m
                .meta
                .paper_accuracy
                .map(|p| m.meta.test_accuracy >= p - 0.03),
            train_seconds: m.meta.train_seconds,
            seconds_to_85: m.meta.seconds_to_85,
            trained_on: m.meta.trained_on.clone(),
            weights_dtype: m.meta.weights_dtype.clone(),
            command: m.meta.command.clone(),
        }
    }
}

fn minutes(s: f64) -> String {
    format!("{:.0} min", s / 60.0)
}

/// `243072` as `243,072`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The Markdown table of `dcrobust zoo --markdown`: a header, a rule and one line per model.
fn markdown_table(rows: &[ZooRow]) -> Vec<String> {
    let mut lines = vec![
        "| name | operator | adversarial training | parameters | clean | paper | target | training | to 85 % |".to_string(),
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |".to_string(),
    ];
    for r in rows {
        lines.push(format!(
            "| {} | {} | {} | {} | {:.2} % (f32: {:.2} %) | {} | {} | {} | {} |",
            r.name,
            r.operator,
            r.adversarial_training,
            thousands(r.parameters),
            100.0 * r.test_accuracy,
            100.0 * r.f32_test_accuracy,
            r.paper_accuracy
                .map_or("-".into(), |p| format!("{:.2} %", 100.0 * p)),
            target_word(r.meets_target),
            minutes(r.train_seconds),
            r.seconds_to_85.map_or("-".into(), minutes),
        ));
    }
    lines
}

fn target_word(meets: Option<bool>) -> &'static str {
    match meets {
        Some(true) => "met",
        Some(false) => "missed",
        None => "-",
    }
}

pub(crate) fn cmd_zoo(a: &ZooArgs) -> Result<()> {
    if let Some(ZooAction::Pack(p)) = &a.action {
        return cmd_pack(p);
    }
    let rows: Vec<ZooRow> = zoo::models()?.iter().map(ZooRow::of).collect();
    if a.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    if a.markdown {
        for line in markdown_table(&rows) {
            println!("{line}");
        }
        return Ok(());
    }
    if rows.is_empty() {
        println!("this dcrobust was built without zoo models (src/zoo/ holds none)");
        return Ok(());
    }
    // The text columns are as wide as their longest entry, so that every row lines up.
    let width = |head: &str, cell: fn(&ZooRow) -> &str| {
        rows.iter()
            .map(|r| cell(r).chars().count())
            .chain([head.len()])
            .max()
            .unwrap_or(0)
    };
    let wn = width("name", |r| &r.name);
    let wo = width("operator", |r| &r.operator);
    let wa = width("adv. train", |r| &r.adversarial_training);
    println!(
        "{:<wn$} {:<wo$} {:<wa$} {:>5} {:>7} {:>8} {:>7} {:>6} {:>8} {:>7}  command",
        "name",
        "operator",
        "adv. train",
        "width",
        "params",
        "test acc",
        "paper",
        "target",
        "train",
        "to 85%"
    );
    for r in &rows {
        println!(
            "{:<wn$} {:<wo$} {:<wa$} {:>5} {:>7} {:>7.2}% {:>7} {:>6} {:>8} {:>7}  {}",
            r.name,
            r.operator,
            r.adversarial_training,
            r.width,
            r.parameters,
            100.0 * r.test_accuracy,
            r.paper_accuracy
                .map_or("-".into(), |p| format!("{:.2}%", 100.0 * p)),
            target_word(r.meets_target),
            minutes(r.train_seconds),
            r.seconds_to_85.map_or("-".into(), minutes),
            r.command
        );
    }
    println!(
        "test acc: clean accuracy on the {} test images of CIFAR-10; target: within 3 points of the paper's Table 7 or above; times: wall time on {}",
        rows[0].test_images, rows[0].trained_on
    );
    Ok(())
}

fn cmd_pack(p: &PackArgs) -> Result<()> {
    apply_threads(p.threads)?;
    if p.eval_batch_size == 0 {
        anyhow::bail!("--eval-batch-size must be at least 1");
    }
    let data = crate::data::load(&p.data, None, crate::data::Cifar100Labels::Fine)?;
    eprintln!("{}", describe_data(&data));
    let meta = zoo::pack(&PackRequest {
        run: &p.run,
        name: &p.name,
        into: &p.into,
        command: p.command.as_deref(),
        trained_on: p.trained_on.as_deref(),
        data: &data,
        batch_size: p.eval_batch_size,
    })?;
    println!(
        "{}: {:.2}% on {} test images ({} weights; f32 {:.2}%), {}/{} embedded test images; written to {}",
        meta.name,
        100.0 * meta.test_accuracy,
        meta.test_images,
        meta.weights_dtype,
        100.0 * meta.f32_test_accuracy,
        meta.embedded_correct,
        meta.embedded_images,
        p.into.join(&meta.name).display()
    );
    println!("rebuild dcrobust to embed it (cargo build --release)");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::thousands;

    /// Oracle: the usual thousands grouping, written out by hand.
    #[test]
    fn thousands_groups_digits_by_three() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(243072), "243,072");
        assert_eq!(thousands(1234567), "1,234,567");
    }
}
