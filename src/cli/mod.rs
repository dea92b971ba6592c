//! The command line: one file per command, the argument groups they share in `common` and
//! `recipe`, and [`run()`], the single entry point.
//!
//! - `common.rs`: options every computing command shares (seed, device, threads, output), data
//!   and model options, and the value parsers;
//! - `recipe.rs`: the training recipe options and their `TrainConfig`;
//! - `train.rs`, `run.rs`, `merge.rs`, `report.rs`, `corrupt.rs`, `bench.rs`, `info.rs`: the
//!   commands `train`, `run`, `merge`, `report`, `corrupt`, `bench`, and `models` / `attacks`;
//! - `zoo.rs`: `zoo` (the shipped models) and `zoo pack`.

mod bench;
mod common;
mod corrupt;
mod info;
mod merge;
mod recipe;
mod report;
mod run;
mod train;
mod zoo;

pub(crate) use bench::*;
pub(crate) use common::*;
pub(crate) use corrupt::*;
pub(crate) use merge::*;
pub(crate) use recipe::*;
pub(crate) use report::*;
pub(crate) use run::*;
pub(crate) use train::*;
pub(crate) use zoo::*;

use anyhow::Result;
use clap::{parser::ValueSource, Args, CommandFactory, FromArgMatches, Parser, Subcommand};

/// Are decoupled convolutional networks more robust than ordinary CNNs? Train, attack, corrupt
/// and report.
#[derive(Debug, Parser)]
#[command(name = "dcrobust", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per process
pub(crate) enum Command {
    /// Train baseline and decoupled networks, writing checkpoints and convergence curves.
    Train(TrainArgs),
    /// List architectures, magnitude functions and angular activations.
    Models,
    /// Run a whole suite: train, then attack or corrupt, then report.
    Run(RunArgs),
    /// List the attacks and their defaults.
    Attacks,
    /// Write the corrupted test split in the released CIFAR-10-C layout (<corruption>.npy,
    /// uint8 N x H x W x C, severity-major, and labels.npy).
    Corrupt(CorruptArgs),
    /// Render the HTML report of one or more finished runs (their results files only).
    Report(ReportArgs),
    /// Combine the shards of a run started with `--shard K/N` into one results set and report.
    Merge(MergeArgs),
    /// List the model zoo: the CNN-9 models dcrobust trained on CIFAR-10 and ships (name,
    /// operator, adversarial training, width, parameters, clean accuracy, training time, command).
    Zoo(ZooArgs),
    /// Time training, inference and attack steps of CNN-9 models on the CPU, with dcrobust's
    /// kernels and with candle's own operations.
    Bench(BenchArgs),
}

/// Parses the process's command line (exiting with clap's message on a usage error), noting for
/// `run` which training options were given explicitly: those decide between evaluating the
/// model zoo and training.
pub fn parse() -> Cli {
    parse_from(std::env::args_os())
}

/// [`parse`] on the given arguments (the first is the program name).
fn parse_from<I, T>(args: I) -> Cli
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let matches = short_help(Cli::command()).get_matches_from(args);
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    if let (Command::Run(r), Some(("run", sub))) = (&mut cli.command, matches.subcommand()) {
        r.training_options = training_option_ids()
            .into_iter()
            .filter(|id| sub.value_source(id) == Some(ValueSource::CommandLine))
            .collect();
    }
    cli
}

/// `-h` gives one line per option, `--help` the whole text, as ripgrep does: every option
/// whose help is longer than its first sentence keeps the whole text as its long help and that
/// sentence (without its final period) as its short one; subcommands alike.
fn short_help(cmd: clap::Command) -> clap::Command {
    cmd.mut_args(|a| {
        if a.get_long_help().is_some() {
            return a;
        }
        let Some(full) = a.get_help().map(|h| h.to_string()) else {
            return a;
        };
        let short = first_sentence(&full);
        if short.len() == full.trim_end_matches('.').len() {
            return a;
        }
        let short = short.to_string();
        a.long_help(full).help(short)
    })
    .mut_subcommands(short_help)
}

/// The text up to the first sentence end: a period, colon or semicolon followed by a space,
/// 12 characters or more in (so `8/255`, `1.25`, `e.g.` and a short `Device:` stay whole), or
/// a parenthesis opened at the top level after at least 40 characters; the whole text without
/// its final period if none.
fn first_sentence(text: &str) -> &str {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    for (i, &c) in bytes.iter().enumerate() {
        match c {
            b'(' | b'[' if depth == 0 && i >= 40 => return text[..i].trim_end(),
            b'(' | b'[' => depth += 1,
            b')' | b']' => depth = depth.saturating_sub(1),
            b'.' | b':' | b';'
                if depth == 0
                    && i >= 12
                    && bytes.get(i + 1) == Some(&b' ')
                    && !text[..i].ends_with("e.g")
                    && !text[..i].ends_with("i.e") =>
            {
                return &text[..i];
            }
            _ => {}
        }
    }
    text.trim_end_matches('.')
}

/// The ids of `run`'s options that make it train: every model and recipe option, and
/// --train-limit.
fn training_option_ids() -> Vec<String> {
    let ids = |c: clap::Command| -> Vec<String> {
        c.get_arguments().map(|a| a.get_id().to_string()).collect()
    };
    let mut out = ids(ModelArgs::augment_args(clap::Command::new("model")));
    out.extend(ids(RecipeArgs::augment_args(clap::Command::new("recipe"))));
    out.push("train_limit".into());
    out
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    match &cli.command {
        Command::Train(a) => train::cmd_train(a),
        Command::Models => {
            info::cmd_models();
            Ok(())
        }
        Command::Run(r) => run::cmd_run(r),
        Command::Attacks => {
            info::cmd_attacks();
            Ok(())
        }
        Command::Corrupt(a) => corrupt::cmd_corrupt(a),
        Command::Merge(a) => merge::cmd_merge(a),
        Command::Bench(a) => bench::cmd_bench(a),
        Command::Zoo(a) => zoo::cmd_zoo(a),
        Command::Report(a) if a.markdown => {
            print!("{}", report::markdown_tables(&a.dirs)?);
            Ok(())
        }
        Command::Report(a) => {
            let page = write_report(&a.dirs, a.out.as_deref())?;
            println!("report: {}", page.display());
            if a.open {
                open_in_browser(&page);
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Oracle: the rule by hand on sentences of the real help: a period or colon followed by a
    /// space ends the sentence, not `8/255`, `1.25` or `e.g.`; an early colon does not; a
    /// parenthesis after 40 characters does; and `run -h` (the short help) has one line per
    /// option where `run --help` has the whole text, with every option in both.
    #[test]
    fn short_help_keeps_the_first_sentence() {
        assert_eq!(
            first_sentence("Operators to train, comma-separated: baseline (ordinary ...)"),
            "Operators to train, comma-separated"
        );
        assert_eq!(
            first_sentence(
                "L-inf budget of adversarial training (a number or a fraction such as 8/255)."
            ),
            "L-inf budget of adversarial training (a number or a fraction such as 8/255)"
        );
        assert_eq!(
            first_sentence("Step 1.25 e.g. here. Then more."),
            "Step 1.25 e.g. here"
        );
        assert_eq!(
            first_sentence("Device: `cpu`, or `cuda:N`."),
            "Device: `cpu`, or `cuda:N`"
        );
        assert_eq!(
            first_sentence(
                "Train the models from scratch (on the CPU, or on a GPU with --device cuda:N) \
                 instead of evaluating the model zoo. Any model option implies it."
            ),
            "Train the models from scratch (on the CPU, or on a GPU with --device cuda:N) \
             instead of evaluating the model zoo"
        );
        assert_eq!(
            first_sentence(
                "Operator radius, fixed or learnable, for every decoupled layer (default)"
            ),
            "Operator radius, fixed or learnable, for every decoupled layer"
        );
        let mut cmd = short_help(Cli::command());
        let run = cmd.find_subcommand_mut("run").unwrap();
        let (short, long) = (
            run.render_help().to_string(),
            run.render_long_help().to_string(),
        );
        assert!(
            2 * short.lines().count() < long.lines().count(),
            "{} vs {} lines",
            short.lines().count(),
            long.lines().count()
        );
        for opt in [
            "--linf-eps",
            "--checkpoint",
            "--adv-train",
            "--holdout",
            "--severities",
        ] {
            assert!(short.contains(opt) && long.contains(opt), "{opt}");
        }
        assert!(!short.contains("the run evaluates the zoo on CIFAR-10 data"));
        assert!(long.contains("the run evaluates the zoo on CIFAR-10 data"));
    }
    use candle_core::Device;
    use clap::CommandFactory;

    /// Oracle: clap's own consistency checks of the argument definitions.
    #[test]
    fn verify_cli() {
        Cli::command().debug_assert();
    }

    /// Oracle: the device grammar — cpu accepted, malformed names refused with the expected forms.
    #[test]
    fn device_names() {
        assert!(matches!(parse_device("cpu").unwrap(), Device::Cpu));
        for bad in ["gpu", "cuda:x", "cuda1", ""] {
            let e = parse_device(bad).unwrap_err().to_string();
            assert!(e.contains("expected cpu, cuda or cuda:N"), "{bad}: {e}");
        }
        if !candle_core::utils::cuda_is_available() {
            let e = parse_device("cuda:0").unwrap_err().to_string();
            assert!(e.contains("`cuda` feature"), "{e}");
        }
    }
}
