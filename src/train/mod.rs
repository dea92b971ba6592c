//! Training: configuration, the loop, checkpoints and convergence curves.
//!
//! A run directory holds:
//! - `config.json`: the [`RunConfig`] (model, training, data) the run was started with;
//! - `checkpoint.safetensors`: parameters, buffers and optimiser state after the last finished
//!   epoch, written atomically;
//! - `state.json`: the [`TrainState`] that goes with the checkpoint;
//! - `history.json`: the convergence curves ([`dcrobust_reports::TrainingHistory`]).
//!
//! Every random draw is derived from the run seed and the place it is made (epoch, batch), so a
//! run stopped after any epoch and resumed ends with the same weights as an uninterrupted one.

pub mod augment;
pub mod loss;
pub mod optim;

use crate::data::{Dataset, Split};
use crate::models::{ModelConfig, Network};
use crate::util::{derive_seed, read_json, write_atomic, write_json_atomic};
use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, Tensor};
use dcrobust_reports::{EpochRecord, IterationRecord, TrainingHistory};
use optim::{Optimizer, OptimizerConfig};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Purposes of derived seeds.
const SEED_INIT: u64 = 1;
const SEED_SHUFFLE: u64 = 2;
const SEED_AUGMENT: u64 = 3;
const SEED_ADVERSARIAL: u64 = 4;

/// The attack adversarial training crafts its examples with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AdvTrainAttack {
    /// One FGSM step of ε from the clean image (Goodfellow et al. 2015).
    Fgsm,
    /// PGD with a random start (Madry et al. 2018).
    Pgd,
}

/// Adversarial training: every batch is replaced by adversarial examples crafted against the
/// current weights, in inference mode (running BatchNorm statistics, nothing updated), before
/// the training step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdvTraining {
    /// The attack.
    pub attack: AdvTrainAttack,
    /// L∞ budget ε in [0, 1] pixel units.
    pub eps: f64,
    /// PGD iterations.
    pub steps: usize,
    /// PGD step size as a fraction of ε.
    pub step_size: f64,
}

impl AdvTraining {
    /// The attack that crafts the training examples.
    pub fn build(&self) -> std::result::Result<Box<dyn dcrobust_attacks::Attack>, String> {
        let cfg = dcrobust_attacks::AttackConfig {
            steps: self.steps,
            step_size: self.step_size as f32,
            early_stop: false,
            ..Default::default()
        };
        let kind = match self.attack {
            AdvTrainAttack::Fgsm => dcrobust_attacks::AttackKind::Fgsm,
            AdvTrainAttack::Pgd => dcrobust_attacks::AttackKind::Pgd,
        };
        cfg.build(kind, self.eps)
            .map_err(|e| format!("adversarial training: {e}"))
    }
}

/// How to train.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Passes over the training split.
    pub epochs: usize,
    /// Images per optimiser step (the last batch of an epoch may be smaller).
    pub batch_size: usize,
    /// Optimiser.
    pub optimizer: OptimizerConfig,
    /// Initial learning rate.
    pub lr: f64,
    /// Epochs after which the learning rate is multiplied by `lr_gamma` (step schedule).
    pub lr_milestones: Vec<usize>,
    /// Factor applied at each milestone.
    pub lr_gamma: f64,
    /// Label smoothing ε of the training loss (official code: 0.01).
    pub label_smoothing: f64,
    /// L2 coefficient λ (loss term λ/2·Σw²) on BN γ/β, shortcut and score filters, and every
    /// filter of a baseline network (paper.md §3.1: 5e-4).
    pub weight_decay: f64,
    /// Coefficient of the orthogonality regulariser on decoupled filters (official: 1e-5).
    pub orthogonality: f64,
    /// Project decoupled filters to unit norm every this many iterations (official: 100; 0 = never).
    pub projection_every: usize,
    /// Pad-4-mirror random crop and horizontal flip.
    pub augment: bool,
    /// Record running training metrics every this many iterations (0 = only per epoch).
    pub log_every: usize,
    /// Batch size of test-split evaluation.
    pub eval_batch_size: usize,
    /// Run seed: initialisation, shuffling and augmentation all derive from it.
    pub seed: u64,
    /// Adversarial training, if any.
    #[serde(default)]
    pub adversarial: Option<AdvTraining>,
}

impl TrainConfig {
    /// dcrobust's CPU defaults: Adam 1e-3, batch 128, steps ×0.1 at 50% and 75% of the epochs,
    /// label smoothing 0.01, weight decay 5e-4, orthogonality 1e-5, projection every 100.
    pub fn new(epochs: usize, seed: u64) -> Self {
        TrainConfig {
            epochs,
            batch_size: 128,
            optimizer: OptimizerConfig::ADAM,
            lr: 1e-3,
            lr_milestones: default_milestones(epochs),
            lr_gamma: 0.1,
            label_smoothing: 0.01,
            weight_decay: 5e-4,
            orthogonality: 1e-5,
            projection_every: 100,
            augment: true,
            log_every: 10,
            eval_batch_size: 256,
            seed,
            adversarial: None,
        }
    }

    /// Learning rate during epoch `epoch` (counted from 1).
    pub fn lr_at(&self, epoch: usize) -> f64 {
        let passed = self.lr_milestones.iter().filter(|&&m| m < epoch).count();
        self.lr * self.lr_gamma.powi(passed as i32)
    }

    /// Checks every field, naming the bad value.
    pub fn validate(&self) -> std::result::Result<(), String> {
        if self.epochs == 0 {
            return Err("epochs must be at least 1".into());
        }
        if self.batch_size == 0 || self.eval_batch_size == 0 {
            return Err("batch sizes must be at least 1".into());
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(format!(
                "learning rate must be a positive number, got {}",
                self.lr
            ));
        }
        if !(self.lr_gamma.is_finite() && self.lr_gamma > 0.0) {
            return Err(format!("lr gamma must be positive, got {}", self.lr_gamma));
        }
        if !(0.0..1.0).contains(&self.label_smoothing) {
            return Err(format!(
                "label smoothing must be in [0, 1), got {}",
                self.label_smoothing
            ));
        }
        if !(self.weight_decay >= 0.0 && self.weight_decay.is_finite()) {
            return Err(format!(
                "weight decay must be >= 0, got {}",
                self.weight_decay
            ));
        }
        if !(self.orthogonality >= 0.0 && self.orthogonality.is_finite()) {
            return Err(format!(
                "orthogonality coefficient must be >= 0, got {}",
                self.orthogonality
            ));
        }
        if let Some(a) = &self.adversarial {
            a.build()?;
        }
        match self.optimizer {
            OptimizerConfig::Adam { beta1, beta2, eps } => {
                if !(0.0..1.0).contains(&beta1)
                    || !(0.0..1.0).contains(&beta2)
                    || eps.is_nan()
                    || eps <= 0.0
                {
                    return Err(format!(
                        "Adam needs betas in [0, 1) and eps > 0, got {beta1}, {beta2}, {eps}"
                    ));
                }
            }
            OptimizerConfig::Sgd { momentum, .. } => {
                if !(0.0..1.0).contains(&momentum) {
                    return Err(format!("SGD momentum must be in [0, 1), got {momentum}"));
                }
            }
        }
        Ok(())
    }
}

/// Milestones at half and three quarters of the run (the official schedule decays at 47%, 71%
/// and 88% of its iterations; two steps suit short runs).
pub fn default_milestones(epochs: usize) -> Vec<usize> {
    let mut m: Vec<usize> = [epochs / 2, epochs * 3 / 4]
        .into_iter()
        .filter(|&e| e > 0 && e < epochs)
        .collect();
    m.dedup();
    m
}

/// What a run trained on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataInfo {
    /// Loader name.
    pub name: String,
    /// Where it came from.
    pub source: String,
    /// Training images used.
    pub train_images: usize,
    /// Test images used.
    pub test_images: usize,
}

impl DataInfo {
    /// Describes `data`.
    pub fn of(data: &Dataset) -> Self {
        DataInfo {
            name: data.name.clone(),
            source: data.source.clone(),
            train_images: data.train.len(),
            test_images: data.test.len(),
        }
    }
}

/// Everything a training run was started with; `config.json` of the run directory.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// dcrobust version that wrote it.
    pub version: String,
    /// The network.
    pub model: ModelConfig,
    /// The training recipe.
    pub train: TrainConfig,
    /// The data.
    pub data: DataInfo,
}

/// Progress saved with each checkpoint.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// Epochs finished.
    pub epochs_done: usize,
    /// Optimiser steps taken.
    pub iteration: usize,
    /// Seconds of training so far (evaluation excluded).
    pub wall_time_s: f64,
    /// Whether the run reached its last epoch.
    pub finished: bool,
}

/// How to run the loop, beyond the recipe.
#[derive(Clone, Debug, Default)]
pub struct TrainOptions {
    /// Continue the run found in the output directory.
    pub resume: bool,
    /// Stop (as if killed) after this many epochs in total; the run can be resumed.
    pub stop_after_epochs: Option<usize>,
    /// Show a progress bar on standard error.
    pub progress: bool,
}

/// Paths of a run directory.
pub struct RunDir {
    /// The directory.
    pub dir: PathBuf,
}

impl RunDir {
    /// `config.json`.
    pub fn config(&self) -> PathBuf {
        self.dir.join("config.json")
    }
    /// `checkpoint.safetensors`.
    pub fn checkpoint(&self) -> PathBuf {
        self.dir.join("checkpoint.safetensors")
    }
    /// `state.json`.
    pub fn state(&self) -> PathBuf {
        self.dir.join("state.json")
    }
    /// `history.json`.
    pub fn history(&self) -> PathBuf {
        self.dir.join("history.json")
    }
}

/// Loads a trained network from a run directory (its `config.json` and checkpoint).
pub fn load_network(dir: &Path, device: &Device) -> Result<(RunConfig, Network)> {
    let rd = RunDir {
        dir: dir.to_path_buf(),
    };
    let cfg: RunConfig = read_json(&rd.config())?;
    let net = Network::new(cfg.model.clone(), device, DType::F32, 0)?;
    let tensors = load_checkpoint(&rd.checkpoint(), device)?;
    net.params()
        .load(&tensors)
        .map_err(|e| anyhow::anyhow!("{}: {e}", rd.checkpoint().display()))?;
    Ok((cfg, net))
}

fn load_checkpoint(path: &Path, device: &Device) -> Result<HashMap<String, Tensor>> {
    let bytes =
        std::fs::read(path).with_context(|| format!("reading checkpoint {}", path.display()))?;
    checkpoint_tensors(&bytes, path, device)
}

fn checkpoint_tensors(
    bytes: &[u8],
    path: &Path,
    device: &Device,
) -> Result<HashMap<String, Tensor>> {
    candle_core::safetensors::load_buffer(bytes, device).with_context(|| {
        format!(
            "{} is not a valid safetensors checkpoint (truncated or corrupt?)",
            path.display()
        )
    })
}

/// Metadata key of the training progress saved inside each checkpoint.
const META_PROGRESS: &str = "dcrobust.progress";

/// How far training had gone when a checkpoint was written (no timings, so that the checkpoint's
/// bytes depend only on the computation).
#[derive(Debug, Serialize, Deserialize)]
struct Progress {
    epochs_done: usize,
    iteration: usize,
    finished: bool,
}

/// The progress stored in a checkpoint's metadata (`None` for checkpoints written without it).
fn checkpoint_progress(bytes: &[u8], path: &Path) -> Result<Option<Progress>> {
    let bad = || {
        format!(
            "{} is not a valid safetensors checkpoint (truncated or corrupt?)",
            path.display()
        )
    };
    let (_, meta) = safetensors::SafeTensors::read_metadata(bytes).with_context(bad)?;
    match meta.metadata().as_ref().and_then(|m| m.get(META_PROGRESS)) {
        Some(p) => Ok(Some(serde_json::from_str(p).with_context(bad)?)),
        None => Ok(None),
    }
}

/// Builds a batch: images `(B, C, H, W)` f32 in [0, 1] and labels `(B,)` u32.
fn make_batch(
    data: &Dataset,
    split: &Split,
    idx: &[usize],
    augment: Option<&mut ChaCha8Rng>,
    device: &Device,
) -> Result<(Tensor, Tensor)> {
    let (c, h, w) = (data.channels, data.height, data.width);
    let len = data.image_len();
    let mut buf = vec![0f32; idx.len() * len];
    let mut labels = Vec::with_capacity(idx.len());
    let mut rng = augment;
    for (k, &i) in idx.iter().enumerate() {
        let img = &split.images[i * len..(i + 1) * len];
        let out = &mut buf[k * len..(k + 1) * len];
        match rng.as_deref_mut() {
            Some(r) => augment::augment_into(img, c, h, w, r, out),
            None => augment::to_unit(img, out),
        }
        labels.push(split.labels[i]);
    }
    let x = Tensor::from_vec(buf, (idx.len(), c, h, w), device)?;
    let y = Tensor::from_vec(labels, idx.len(), device)?;
    Ok((x, y))
}

/// Loss (without label smoothing) and accuracy of `net` on `split`, in inference mode.
pub fn evaluate(
    net: &Network,
    data: &Dataset,
    split: &Split,
    batch_size: usize,
) -> Result<(f64, f64)> {
    let device = net.params().device().clone();
    let (mut loss_sum, mut correct) = (0f64, 0usize);
    let order: Vec<usize> = (0..split.len()).collect();
    for chunk in order.chunks(batch_size.max(1)) {
        let (x, y) = make_batch(data, split, chunk, None, &device)?;
        let logits = net.forward_t(&x, false)?;
        let l = loss::cross_entropy(&logits, &y, 0.0)?
            .to_dtype(DType::F64)?
            .to_scalar::<f64>()?;
        loss_sum += l * chunk.len() as f64;
        correct += count_correct(&logits, &y)?;
    }
    let n = split.len().max(1) as f64;
    Ok((loss_sum / n, correct as f64 / n))
}

/// Predicted class of every image of `split`, in inference mode.
pub fn predict(
    net: &Network,
    data: &Dataset,
    split: &Split,
    batch_size: usize,
) -> Result<Vec<u32>> {
    let device = net.params().device().clone();
    let order: Vec<usize> = (0..split.len()).collect();
    let mut out = Vec::with_capacity(split.len());
    for chunk in order.chunks(batch_size.max(1)) {
        let (x, _) = make_batch(data, split, chunk, None, &device)?;
        out.extend(net.forward_t(&x, false)?.argmax(1)?.to_vec1::<u32>()?);
    }
    Ok(out)
}

fn count_correct(logits: &Tensor, y: &Tensor) -> Result<usize> {
    let pred = logits.argmax(1)?.to_vec1::<u32>()?;
    let y = y.to_vec1::<u32>()?;
    Ok(pred.iter().zip(&y).filter(|(a, b)| a == b).count())
}

/// Trains `net` on `data` following `cfg`, writing the run directory `out` as it goes.
/// Returns the convergence history.
pub fn train(
    net: &Network,
    model_cfg: &ModelConfig,
    data: &Dataset,
    cfg: &TrainConfig,
    out: &Path,
    opts: &TrainOptions,
) -> Result<TrainingHistory> {
    let rd = RunDir {
        dir: out.to_path_buf(),
    };
    let run_cfg = RunConfig {
        version: env!("CARGO_PKG_VERSION").to_string(),
        model: model_cfg.clone(),
        train: cfg.clone(),
        data: DataInfo::of(data),
    };
    let device = net.params().device().clone();
    let mut opt = Optimizer::new(cfg.optimizer, cfg.weight_decay, net.params().all().iter());
    let mut state = TrainState::default();
    let mut history = TrainingHistory {
        model: model_cfg.name(),
        ..Default::default()
    };
    if opts.resume {
        if !rd.state().exists() {
            bail!(
                "--resume: {} holds no training run to resume (no state.json)",
                out.display()
            );
        }
        let saved: RunConfig = read_json(&rd.config())?;
        if saved != run_cfg {
            let a = serde_json::to_value(&saved)?;
            let b = serde_json::to_value(&run_cfg)?;
            let diff = json_diff("", &a, &b);
            bail!(
                "--resume: the run in {} was started with a different configuration ({}); rerun with the same options or choose another --out",
                out.display(),
                diff.join(", ")
            );
        }
        // The checkpoint carries the state and history it was saved with: a run killed between
        // writing the checkpoint and state.json resumes from the checkpoint's own epoch.
        let bytes = std::fs::read(rd.checkpoint())
            .with_context(|| format!("reading checkpoint {}", rd.checkpoint().display()))?;
        state = read_json(&rd.state())?;
        history = read_json(&rd.history())?;
        if let Some(p) = checkpoint_progress(&bytes, &rd.checkpoint())? {
            if p.epochs_done != state.epochs_done {
                // Killed after the checkpoint and before state.json: the history, written
                // first, holds the checkpoint's epoch and its cumulative training time.
                state.wall_time_s = history
                    .epochs
                    .iter()
                    .find(|e| e.epoch == p.epochs_done)
                    .map_or(state.wall_time_s, |e| e.wall_time_s);
                state.epochs_done = p.epochs_done;
                state.iteration = p.iteration;
                state.finished = p.finished;
            }
        }
        let tensors = checkpoint_tensors(&bytes, &rd.checkpoint(), &device)?;
        net.params()
            .load(&tensors)
            .map_err(|e| anyhow::anyhow!("{}: {e}", rd.checkpoint().display()))?;
        opt.load_state(&tensors, state.iteration as u64)
            .map_err(|e| anyhow::anyhow!("{}: {e}", rd.checkpoint().display()))?;
        history.epochs.truncate(state.epochs_done);
        history
            .iterations
            .retain(|r| r.iteration <= state.iteration);
        if state.finished || state.epochs_done >= cfg.epochs {
            eprintln!(
                "{}: training already finished ({} epochs)",
                out.display(),
                state.epochs_done
            );
            return Ok(history);
        }
    } else if rd.state().exists() {
        bail!(
            "{} already holds a training run; pass --resume to continue it, or choose another --out",
            out.display()
        );
    }
    std::fs::create_dir_all(out)
        .with_context(|| format!("creating output directory {}", out.display()))?;
    write_json_atomic(&rd.config(), &run_cfg)
        .with_context(|| format!("writing {}", rd.config().display()))?;

    let n = data.train.len();
    let batches_per_epoch = n.div_ceil(cfg.batch_size);
    let total = (cfg.epochs * batches_per_epoch) as u64;
    let bar = crate::util::progress_bar(opts.progress, total, &history.model, "it");
    bar.set_position((state.epochs_done * batches_per_epoch) as u64);
    let mut window = (0f64, 0usize, 0usize, 0usize); // loss sum, correct, seen, steps
    let adversary = match &cfg.adversarial {
        Some(a) => Some(a.build().map_err(anyhow::Error::msg)?),
        None => None,
    };

    for epoch in state.epochs_done + 1..=cfg.epochs {
        let lr = cfg.lr_at(epoch);
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(derive_seed(
            cfg.seed,
            &[SEED_SHUFFLE, epoch as u64],
        )));
        let start = Instant::now();
        let (mut loss_sum, mut correct, mut seen) = (0f64, 0usize, 0usize);
        for (b, idx) in order.chunks(cfg.batch_size).enumerate() {
            let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(
                cfg.seed,
                &[SEED_AUGMENT, epoch as u64, b as u64],
            ));
            let (x, y) = make_batch(
                data,
                &data.train,
                idx,
                cfg.augment.then_some(&mut rng),
                &device,
            )?;
            let x = match &adversary {
                Some(attack) => craft(
                    net,
                    attack.as_ref(),
                    &x,
                    idx,
                    data,
                    derive_seed(cfg.seed, &[SEED_ADVERSARIAL, epoch as u64, b as u64]),
                )?,
                None => x,
            };
            let logits = net.forward_t(&x, true)?;
            let ce = loss::cross_entropy(&logits, &y, cfg.label_smoothing)?;
            let ce_value = ce.to_dtype(DType::F64)?.to_scalar::<f64>()?;
            if !ce_value.is_finite() {
                bail!(
                    "training diverged: the loss is {ce_value} at epoch {epoch}, iteration {} (learning rate {lr}); {} keeps the last good checkpoint (epoch {}). Try a lower --lr.",
                    state.iteration + 1,
                    out.display(),
                    state.epochs_done
                );
            }
            let total_loss = if cfg.orthogonality > 0.0 && !net.decoupled_layers().is_empty() {
                (ce + net.orthogonality()?.affine(cfg.orthogonality, 0.0)?)?
            } else {
                ce
            };
            let grads = total_loss.backward()?;
            opt.step(&grads, lr)?;
            drop(grads);
            crate::suite::cells::fault_point("batch");
            state.iteration += 1;
            if cfg.projection_every > 0 && state.iteration % cfg.projection_every == 0 {
                net.project_weights()?;
            }
            let c = count_correct(&logits, &y)?;
            loss_sum += ce_value * idx.len() as f64;
            correct += c;
            seen += idx.len();
            window = (
                window.0 + ce_value * idx.len() as f64,
                window.1 + c,
                window.2 + idx.len(),
                window.3 + 1,
            );
            let elapsed = state.wall_time_s + start.elapsed().as_secs_f64();
            if cfg.log_every > 0 && window.3 >= cfg.log_every {
                history.iterations.push(IterationRecord {
                    iteration: state.iteration,
                    epoch,
                    train_loss: window.0 / window.2 as f64,
                    train_accuracy: window.1 as f64 / window.2 as f64,
                    learning_rate: lr,
                    wall_time_s: elapsed,
                });
                window = (0.0, 0, 0, 0);
            }
            bar.set_message(format!(
                "epoch {epoch}/{} loss {:.3} acc {:.1}%",
                cfg.epochs,
                loss_sum / seen as f64,
                100.0 * correct as f64 / seen as f64
            ));
            bar.inc(1);
        }
        let train_time = start.elapsed().as_secs_f64();
        state.wall_time_s += train_time;
        let (test_loss, test_accuracy) = evaluate(net, data, &data.test, cfg.eval_batch_size)?;
        history.epochs.push(EpochRecord {
            epoch,
            iteration: state.iteration,
            train_loss: loss_sum / seen.max(1) as f64,
            train_accuracy: correct as f64 / seen.max(1) as f64,
            test_loss,
            test_accuracy,
            learning_rate: lr,
            wall_time_s: state.wall_time_s,
            images_per_s: seen as f64 / train_time.max(1e-9),
        });
        state.epochs_done = epoch;
        state.finished = epoch == cfg.epochs;
        bar.println(format!(
            "{} epoch {epoch}/{}: train loss {:.4} acc {:.2}% | test loss {:.4} acc {:.2}% | {:.0} img/s",
            history.model,
            cfg.epochs,
            loss_sum / seen.max(1) as f64,
            100.0 * correct as f64 / seen.max(1) as f64,
            test_loss,
            100.0 * test_accuracy,
            seen as f64 / train_time.max(1e-9)
        ));
        save_checkpoint(&rd, net, &opt, &state, &history)?;
        crate::suite::cells::fault_point("epoch");
        if opts.stop_after_epochs == Some(epoch) && epoch < cfg.epochs {
            bar.abandon_with_message(format!("stopped after epoch {epoch}; resume with --resume"));
            return Ok(history);
        }
    }
    bar.finish_and_clear();
    Ok(history)
}

/// Adversarial examples of the training batch `x` (images of training indices `idx`) against the
/// current weights.
///
/// # Shapes
/// `x`: `(B, C, H, W)` → `(B, C, H, W)`.
fn craft(
    net: &Network,
    attack: &dyn dcrobust_attacks::Attack,
    x: &Tensor,
    idx: &[usize],
    data: &Dataset,
    seed: u64,
) -> Result<Tensor> {
    let dims = x.dims4()?;
    let batch = dcrobust_attacks::Batch::new(
        x.flatten_all()?.to_vec1::<f32>()?,
        [dims.0, dims.1, dims.2, dims.3],
        idx.iter().map(|&i| data.train.labels[i]).collect(),
        idx.iter().map(|&i| i as u64).collect(),
        seed,
    )?;
    let oracle = dcrobust_attacks::Oracle::new(net);
    let adv = attack.perturb(&oracle, &batch)?;
    Ok(Tensor::from_vec(adv, dims, x.device())?)
}

/// Writes history, checkpoint and state, in this order, each atomically. The checkpoint carries
/// its epoch and iteration (safetensors metadata) and a resume trusts it over `state.json`; the
/// history is written first, so it always holds the checkpoint's epoch. A kill between the three
/// writes loses nothing.
fn save_checkpoint(
    rd: &RunDir,
    net: &Network,
    opt: &Optimizer,
    state: &TrainState,
    history: &TrainingHistory,
) -> Result<()> {
    let mut tensors = net.params().tensors();
    tensors.extend(opt.state_tensors());
    let progress = Progress {
        epochs_done: state.epochs_done,
        iteration: state.iteration,
        finished: state.finished,
    };
    let meta = HashMap::from([(META_PROGRESS.to_string(), serde_json::to_string(&progress)?)]);
    let bytes = safetensors_bytes(&tensors, Some(meta))?;
    write_json_atomic(&rd.history(), history)
        .with_context(|| format!("writing {}", rd.history().display()))?;
    write_atomic(&rd.checkpoint(), &bytes)
        .with_context(|| format!("writing {}", rd.checkpoint().display()))?;
    crate::suite::cells::fault_point("checkpoint");
    write_json_atomic(&rd.state(), state)
        .with_context(|| format!("writing {}", rd.state().display()))?;
    Ok(())
}

fn safetensors_bytes(
    tensors: &HashMap<String, Tensor>,
    meta: Option<HashMap<String, String>>,
) -> Result<Vec<u8>> {
    let mut sorted: Vec<(&String, &Tensor)> = tensors.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    Ok(safetensors::serialize(sorted, meta)?)
}

pub(crate) fn json_diff(prefix: &str, a: &serde_json::Value, b: &serde_json::Value) -> Vec<String> {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter()
                .flat_map(|k| {
                    let p = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    json_diff(
                        &p,
                        x.get(k).unwrap_or(&Value::Null),
                        y.get(k).unwrap_or(&Value::Null),
                    )
                })
                .collect()
        }
        _ if a == b => vec![],
        _ => vec![format!("{prefix}: was {a}, now {b}")],
    }
}

/// Builds the network for `model_cfg` with its initialisation seed derived from the run seed.
pub fn build_network(model_cfg: &ModelConfig, seed: u64, device: &Device) -> Result<Network> {
    Ok(Network::new(
        model_cfg.clone(),
        device,
        DType::F32,
        derive_seed(seed, &[SEED_INIT]),
    )?)
}
