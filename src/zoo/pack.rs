//! `dcrobust zoo pack`: turns a finished training run into a zoo directory.

use super::*;
use crate::data::Dataset;
use crate::util::{write_atomic, write_json_atomic};
use candle_core::DType;
use std::path::Path;

/// Largest change of clean test accuracy (as a fraction) that storing the weights in f16 may
/// cause; above it they are stored in f32.
pub(crate) const HALF_TOLERANCE: f64 = 0.001;

/// What to pack and where.
pub(crate) struct PackRequest<'a> {
    /// The finished training run directory.
    pub(crate) run: &'a Path,
    /// Zoo name of the model.
    pub(crate) name: &'a str,
    /// Directory that receives `<name>/` (the repository's `src/zoo`).
    pub(crate) into: &'a Path,
    /// The training command; when `None`, the run directory's `command` file.
    pub(crate) command: Option<&'a str>,
    /// Where the training ran; when `None`, this machine's processor.
    pub(crate) trained_on: Option<&'a str>,
    /// The data whose test split measures clean accuracy (the full CIFAR-10 test split).
    pub(crate) data: &'a Dataset,
    /// Images per evaluation batch (changes no number).
    pub(crate) batch_size: usize,
}

/// This machine's processor as `/proc/cpuinfo` names it, and its logical core count.
fn this_processor() -> String {
    let name = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown processor".into());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!("{name}, {cores} logical cores")
}

/// Number of `split` images `net` classifies correctly (inference mode).
pub(crate) fn correct(
    net: &Network,
    data: &Dataset,
    split: &crate::data::Split,
    batch_size: usize,
) -> Result<usize> {
    let pred = train::predict(net, data, split, batch_size)?;
    Ok(pred
        .iter()
        .zip(&split.labels)
        .filter(|(p, y)| p == y)
        .count())
}

/// Packs a finished run into `<into>/<name>/`: stores the weights (f16 when that moves clean
/// test accuracy by less than [`HALF_TOLERANCE`]), the configuration with the stored weights'
/// SHA-256, the history, and `zoo.json` with the accuracies measured here.
/// `PATH/TO/<last component>` for a data folder, so that a recorded command or configuration
/// names no folder of the machine that trained the model (`PATH/TO/...` is left as it is).
pub(crate) fn portable_path(path: &str) -> String {
    if path.starts_with("PATH/TO/") {
        return path.to_string();
    }
    let last = Path::new(path.trim_end_matches('/'))
        .file_name()
        .map_or_else(|| "data".to_string(), |n| n.to_string_lossy().to_string());
    format!("PATH/TO/{last}")
}

/// `command` with the value of every `--data` option (`--data DIR` or `--data=DIR`) made
/// [`portable_path`]; the rest is kept as written.
pub(crate) fn portable_command(command: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut after_data = false;
    for word in command.split_whitespace() {
        if after_data {
            out.push(portable_path(word));
            after_data = false;
        } else if let Some(v) = word.strip_prefix("--data=") {
            out.push(format!("--data={}", portable_path(v)));
        } else {
            after_data = word == "--data";
            out.push(word.to_string());
        }
    }
    out.join(" ")
}

pub(crate) fn pack(req: &PackRequest) -> Result<ZooMeta> {
    let name = req.name;
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
    {
        bail!("zoo name `{name}` may hold only a-z, 0-9, '-' and '.'");
    }
    let (mut cfg, net) = train::load_network(req.run, &Device::Cpu)?;
    let history_path = req.run.join("history.json");
    let history_bytes = std::fs::read(&history_path)
        .with_context(|| format!("reading {}", history_path.display()))?;
    let history: TrainingHistory = serde_json::from_slice(&history_bytes)
        .with_context(|| format!("{} is not a training history", history_path.display()))?;
    if history.epochs.len() != cfg.train.epochs {
        bail!(
            "{} has trained {} of its {} epochs; finish it (rerun its command with --resume) before packing",
            req.run.display(),
            history.epochs.len(),
            cfg.train.epochs
        );
    }
    if !fits(req.data) {
        bail!("--data must be CIFAR-10 (the zoo's models classify its ten classes)");
    }
    let command = match req.command {
        Some(c) => c.to_string(),
        None => {
            let p = req.run.join("command");
            std::fs::read_to_string(&p)
                .with_context(|| {
                    format!(
                        "reading {} (runs started before dcrobust recorded commands have none: give --command)",
                        p.display()
                    )
                })?
                .trim()
                .to_string()
        }
    };
    // A zoo record names no folder of the machine that trained it.
    let command = portable_command(&command);
    if cfg.data.source != "embedded" {
        cfg.data.source = portable_path(&cfg.data.source);
    }
    let test = &req.data.test;
    let n = test.len();
    let f32_correct = correct(&net, req.data, test, req.batch_size)?;
    let f32_bytes = train::weights_bytes(&net, DType::F32)?;
    let f16_bytes = train::weights_bytes(&net, DType::F16)?;
    let mut half_cfg = cfg.clone();
    half_cfg.weights_sha256 = Some(train::sha256_hex(&f16_bytes));
    let half =
        train::network_from_weights(&half_cfg, &f16_bytes, "f16 weights", "-", &Device::Cpu)?;
    let f16_correct = correct(&half, req.data, test, req.batch_size)?;
    let moved = (f16_correct as f64 - f32_correct as f64).abs() / n as f64;
    let (bytes, dtype, stored, stored_correct) = if moved < HALF_TOLERANCE {
        (f16_bytes, "f16", half, f16_correct)
    } else {
        (f32_bytes, "f32", net, f32_correct)
    };
    cfg.weights_sha256 = Some(train::sha256_hex(&bytes));
    let embedded = crate::data::embedded()?;
    let embedded_correct = correct(&stored, &embedded, &embedded.test, req.batch_size)?;
    let last = history.last().expect("a finished run has epochs");
    let meta = ZooMeta {
        name: name.to_string(),
        parameters: stored.num_parameters(),
        test_accuracy: stored_correct as f64 / n as f64,
        test_images: n,
        f32_test_accuracy: f32_correct as f64 / n as f64,
        weights_dtype: dtype.into(),
        embedded_correct,
        embedded_images: embedded.test.len(),
        paper_accuracy: paper_accuracy(&cfg),
        train_seconds: last.wall_time_s,
        seconds_to_85: history
            .epochs
            .iter()
            .find(|e| e.test_accuracy >= 0.85)
            .map(|e| e.wall_time_s),
        trained_on: req
            .trained_on
            .map_or_else(this_processor, |s| s.to_string()),
        command,
    };
    let dir = req.into.join(name);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let write = |file: &str, bytes: &[u8]| {
        let p = dir.join(file);
        write_atomic(&p, bytes).with_context(|| format!("writing {}", p.display()))
    };
    write("model.safetensors", &bytes)?;
    write("history.json", &history_bytes)?;
    let p = dir.join("config.json");
    write_json_atomic(&p, &cfg).with_context(|| format!("writing {}", p.display()))?;
    let p = dir.join("zoo.json");
    write_json_atomic(&p, &meta).with_context(|| format!("writing {}", p.display()))?;
    Ok(meta)
}
