//! Training: configuration, the loop, checkpoints and convergence curves.
//!
//! A run directory holds:
//! - `config.json`: the [`RunConfig`] (model, training, data) the run was started with;
//! - `checkpoint.safetensors`: parameters, buffers and optimiser state after the last finished
//!   epoch, written atomically;
//! - `state.json`: the `TrainState` that goes with the checkpoint;
//! - `history.json`: the convergence curves ([`dcrobust_reports::TrainingHistory`]).
//!
//! Every random draw is derived from the run seed and the place it is made (epoch, batch), so a
//! run stopped after any epoch and resumed ends with the same weights as an uninterrupted one.

pub(crate) mod augment;
mod checkpoint;
mod config;
pub(crate) mod loss;
pub(crate) mod optim;

pub use checkpoint::*;
pub use config::*;

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

/// Progress saved with each checkpoint.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct TrainState {
    /// Epochs finished.
    epochs_done: usize,
    /// Optimiser steps taken.
    pub(crate) iteration: usize,
    /// Seconds of training so far (evaluation excluded).
    pub(crate) wall_time_s: f64,
    /// Whether the run reached its last epoch.
    pub(crate) finished: bool,
}

/// How to run the loop, beyond the recipe.
#[derive(Clone, Debug, Default)]
pub(crate) struct TrainOptions {
    /// Continue the run found in the output directory.
    pub(crate) resume: bool,
    /// Stop (as if killed) after this many epochs in total; the run can be resumed.
    pub(crate) stop_after_epochs: Option<usize>,
    /// Show a progress bar on standard error.
    pub(crate) progress: bool,
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
pub(crate) fn evaluate(
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
pub(crate) fn predict(
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

/// A step's (or a few steps') training loss and correct count, read on the host.
struct Reading {
    /// Σ over the steps of the mean loss × the step's images.
    loss_x_images: f64,
    /// Images classified correctly.
    correct: usize,
    /// Images.
    images: usize,
    /// Steps.
    steps: usize,
}

/// Sums the training loss and correct count of each step for the progress bar, the
/// per-iteration log and the divergence check. On the CPU every step is read at once; on a GPU
/// the sums stay on the device and are read every `every` steps (the log interval, 10 when
/// there is none) and at the epoch's last step, so that a step does not wait for the device.
/// A diverged loss is then caught up to `every - 1` steps late, still before the epoch's
/// checkpoint is written.
struct Meter {
    every: usize,
    /// The device's running sums: loss × images and correct count, f32 scalars.
    sums: Option<(Tensor, Tensor)>,
    images: usize,
    steps: usize,
}

impl Meter {
    fn new(device: &Device, log_every: usize) -> Self {
        Meter::every(match (device.is_cpu(), log_every) {
            (true, _) => 1,
            (false, 0) => 10,
            (false, n) => n,
        })
    }

    /// A meter read every `every` steps (1: every step, read at once).
    fn every(every: usize) -> Self {
        Meter {
            every,
            sums: None,
            images: 0,
            steps: 0,
        }
    }

    /// Adds one step of `n` images (mean loss `ce`, `logits` against labels `y`); returns the
    /// sums since the last reading when this step is read (`last`: the epoch's last step).
    ///
    /// # Shapes
    /// `ce`: scalar; `logits`: `(n, K)`; `y`: `(n,)` u32.
    fn add(
        &mut self,
        ce: &Tensor,
        logits: &Tensor,
        y: &Tensor,
        n: usize,
        last: bool,
    ) -> Result<Option<Reading>> {
        if self.every == 1 {
            let v = ce.to_dtype(DType::F64)?.to_scalar::<f64>()?;
            return Ok(Some(Reading {
                loss_x_images: v * n as f64,
                correct: count_correct(logits, y)?,
                images: n,
                steps: 1,
            }));
        }
        let loss = ce.detach().to_dtype(DType::F32)?.affine(n as f64, 0.0)?;
        let right = logits.argmax(1)?.eq(y)?.to_dtype(DType::F32)?.sum_all()?;
        self.sums = Some(match self.sums.take() {
            None => (loss, right),
            Some((l, c)) => ((l + loss)?, (c + right)?),
        });
        self.images += n;
        self.steps += 1;
        if self.steps < self.every && !last {
            return Ok(None);
        }
        let Some((l, c)) = self.sums.take() else {
            return Ok(None);
        };
        let reading = Reading {
            loss_x_images: l.to_dtype(DType::F64)?.to_scalar::<f64>()?,
            correct: c.to_dtype(DType::F64)?.to_scalar::<f64>()?.round() as usize,
            images: self.images,
            steps: self.steps,
        };
        (self.images, self.steps) = (0, 0);
        Ok(Some(reading))
    }
}

/// Where [`resume`] leaves a run.
enum Resumed {
    /// Continue from this state and history.
    Continue(TrainState, TrainingHistory),
    /// The run had already finished: its history.
    Finished(TrainingHistory),
}

/// Loads the run in `rd` for `--resume`: checks that it was started with `run_cfg` (taking its
/// recorded weights' SHA-256), restores the weights and optimizer state from the checkpoint, and
/// trims the history to the checkpoint's progress.
fn resume(
    rd: &RunDir,
    net: &Network,
    opt: &mut Optimizer,
    run_cfg: &mut RunConfig,
    cfg: &TrainConfig,
) -> Result<Resumed> {
    if !rd.state().exists() {
        bail!(
            "--resume: {} holds no training run to resume (no state.json)",
            rd.dir.display()
        );
    }
    let saved: RunConfig = read_json(&rd.config())?;
    run_cfg.weights_sha256 = saved.weights_sha256.clone();
    if saved != *run_cfg {
        let a = serde_json::to_value(&saved)?;
        let b = serde_json::to_value(&*run_cfg)?;
        let diff = json_diff("", &a, &b);
        bail!(
            "--resume: the run in {} was started with a different configuration ({}); rerun with the same options or choose another --out",
            rd.dir.display(),
            diff.join(", ")
        );
    }
    // The checkpoint files carry the progress they were saved at: a run killed between
    // writing them and state.json resumes from their own epoch.
    let mut state: TrainState = read_json(&rd.state())?;
    let mut history: TrainingHistory = read_json(&rd.history())?;
    let saved_state = state.clone();
    let progress = load_for_resume(rd, net, opt, |p| {
        p.map_or(saved_state.iteration, |p| p.iteration) as u64
    })?;
    if let Some(p) = progress {
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
    history.epochs.truncate(state.epochs_done);
    history
        .iterations
        .retain(|r| r.iteration <= state.iteration);
    if state.finished || state.epochs_done >= cfg.epochs {
        eprintln!(
            "{}: training already finished ({} epochs)",
            rd.dir.display(),
            state.epochs_done
        );
        return Ok(Resumed::Finished(history));
    }
    Ok(Resumed::Continue(state, history))
}

/// Trains `net` on `data` following `cfg`, writing the run directory `out` as it goes.
/// Returns the convergence history.
pub(crate) fn train(
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
    let mut run_cfg = RunConfig {
        version: env!("CARGO_PKG_VERSION").to_string(),
        model: model_cfg.clone(),
        train: cfg.clone(),
        data: DataInfo::of(data),
        weights_sha256: None,
    };
    // The validation split leaves the training images before anything is written, so a
    // `--holdout` too large is refused with nothing half made.
    let held;
    let (data, validation) = if cfg.holdout > 0 {
        let mut d = data.clone();
        let v = d.hold_out(cfg.holdout).map_err(anyhow::Error::msg)?;
        held = d;
        (&held, v)
    } else {
        (data, Split::default())
    };
    let device = net.params().device().clone();
    let mut opt = Optimizer::new(cfg.optimizer, cfg.weight_decay, net.params().all().iter());
    let mut state = TrainState::default();
    let mut history = TrainingHistory {
        model: model_cfg.name(),
        ..Default::default()
    };
    if opts.resume {
        match resume(&rd, net, &mut opt, &mut run_cfg, cfg)? {
            Resumed::Continue(st, h) => (state, history) = (st, h),
            Resumed::Finished(h) => return Ok(h),
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

    let batches_per_epoch = data.train.len().div_ceil(cfg.batch_size);
    let total = (cfg.epochs * batches_per_epoch) as u64;
    let trainer = Trainer {
        net,
        cfg,
        data,
        adversary: match &cfg.adversarial {
            Some(a) => Some((a.build().map_err(anyhow::Error::msg)?, a)),
            None => None,
        },
        out,
        bar: crate::util::progress_bar(opts.progress, total, &history.model, "it"),
        batches_per_epoch,
    };
    let bar = &trainer.bar;
    bar.set_position((state.epochs_done * batches_per_epoch) as u64);
    let mut window = Sums::default();
    let mut meter = Meter::new(&device, cfg.log_every);
    for epoch in state.epochs_done + 1..=cfg.epochs {
        let start = Instant::now();
        let mut sums = Sums::default();
        let lr = trainer.epoch(
            epoch,
            &mut opt,
            &mut meter,
            &mut state,
            &mut history,
            (&mut sums, &mut window),
            start,
        )?;
        let (loss_sum, correct, seen) = (sums.loss_x_images, sums.correct, sums.images);
        let train_time = start.elapsed().as_secs_f64();
        state.wall_time_s += train_time;
        let eval = evaluate_epoch(net, data, &validation, cfg.eval_batch_size)?;
        let record = EpochRecord {
            epoch,
            iteration: state.iteration,
            train_loss: loss_sum / seen.max(1) as f64,
            train_accuracy: correct as f64 / seen.max(1) as f64,
            learning_rate: lr,
            wall_time_s: state.wall_time_s,
            images_per_s: seen as f64 / train_time.max(1e-9),
            test_loss: eval.test.0,
            test_accuracy: eval.test.1,
            val_loss: eval.validation.map(|v| v.0),
            val_accuracy: eval.validation.map(|v| v.1),
        };
        bar.println(epoch_line(&history.model, cfg.epochs, &record));
        history.epochs.push(record);
        state.epochs_done = epoch;
        state.finished = epoch == cfg.epochs;
        save_checkpoint(&rd, &mut run_cfg, net, &opt, &state, &history)?;
        crate::util::fault_point("epoch");
        if opts.stop_after_epochs == Some(epoch) && epoch < cfg.epochs {
            bar.abandon_with_message(format!("stopped after epoch {epoch}; resume with --resume"));
            return Ok(history);
        }
    }
    bar.finish_and_clear();
    Ok(history)
}

/// Sums of meter readings: over an epoch, or over the current logging window.
#[derive(Clone, Copy, Default)]
struct Sums {
    /// Loss × images.
    loss_x_images: f64,
    /// Correct predictions.
    correct: usize,
    /// Images.
    images: usize,
    /// Optimizer steps.
    steps: usize,
}

impl Sums {
    /// Adds one reading.
    fn add(&mut self, r: &Reading) {
        self.loss_x_images += r.loss_x_images;
        self.correct += r.correct;
        self.images += r.images;
        self.steps += r.steps;
    }
}

/// What stays fixed while a run trains: the network, recipe, data, adversary, output directory
/// and progress bar.
struct Trainer<'a> {
    net: &'a Network,
    cfg: &'a TrainConfig,
    data: &'a Dataset,
    adversary: Option<(Box<dyn dcrobust_attacks::Attack>, &'a AdvTraining)>,
    out: &'a Path,
    bar: indicatif::ProgressBar,
    batches_per_epoch: usize,
}

impl Trainer<'_> {
    /// The optimizer steps of `epoch` (from 1), in its seeded order: each reading added to the
    /// epoch's and the logging window's sums (`sums`), the window written to `history` every
    /// `log_every` steps. Returns the learning rate of the epoch's last step.
    #[allow(clippy::too_many_arguments)]
    fn epoch(
        &self,
        epoch: usize,
        opt: &mut Optimizer,
        meter: &mut Meter,
        state: &mut TrainState,
        history: &mut TrainingHistory,
        (sums, window): (&mut Sums, &mut Sums),
        start: Instant,
    ) -> Result<f64> {
        let (cfg, bar) = (self.cfg, &self.bar);
        let total_iterations = cfg.epochs * self.batches_per_epoch;
        let mut lr = cfg.lr_at(epoch, state.iteration, total_iterations);
        let mut order: Vec<usize> = (0..self.data.train.len()).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(derive_seed(
            cfg.seed,
            &[SEED_SHUFFLE, epoch as u64],
        )));
        for (b, idx) in order.chunks(cfg.batch_size).enumerate() {
            lr = cfg.lr_at(epoch, state.iteration, total_iterations);
            let step = Step {
                epoch,
                batch: b,
                iteration: state.iteration,
                lr,
                last: b + 1 == self.batches_per_epoch,
            };
            let reading = train_step(
                self.net,
                opt,
                meter,
                cfg,
                self.adversary.as_ref().map(|(a, adv)| (a.as_ref(), *adv)),
                self.data,
                idx,
                &step,
            )
            .map_err(|e| match e.downcast::<Diverged>() {
                Ok(d) => anyhow::anyhow!(
                    "{d}; {} keeps the last good checkpoint (epoch {}). Try a lower --lr.",
                    self.out.display(),
                    state.epochs_done
                ),
                Err(e) => e,
            })?;
            crate::util::fault_point("batch");
            state.iteration += 1;
            if cfg.projection_every > 0 && state.iteration.is_multiple_of(cfg.projection_every) {
                self.net.project_weights()?;
            }
            let Some(r) = reading else {
                bar.inc(1);
                continue;
            };
            sums.add(&r);
            window.add(&r);
            let elapsed = state.wall_time_s + start.elapsed().as_secs_f64();
            if cfg.log_every > 0 && window.steps >= cfg.log_every {
                history.iterations.push(IterationRecord {
                    iteration: state.iteration,
                    epoch,
                    train_loss: window.loss_x_images / window.images as f64,
                    train_accuracy: window.correct as f64 / window.images as f64,
                    learning_rate: lr,
                    wall_time_s: elapsed,
                });
                *window = Sums::default();
            }
            bar.set_message(format!(
                "epoch {epoch}/{} loss {:.3} acc {:.1}%",
                cfg.epochs,
                sums.loss_x_images / sums.images as f64,
                100.0 * sums.correct as f64 / sums.images as f64
            ));
            bar.inc(1);
        }
        Ok(lr)
    }
}

/// Loss and accuracy of `net` at the end of an epoch.
struct EpochEval {
    /// On the test split.
    test: (f64, f64),
    /// On the validation split, when the run holds one out.
    validation: Option<(f64, f64)>,
}

/// The test (and validation) loss and accuracy of `net` at the end of an epoch.
fn evaluate_epoch(
    net: &Network,
    data: &Dataset,
    validation: &Split,
    batch: usize,
) -> Result<EpochEval> {
    Ok(EpochEval {
        test: evaluate(net, data, &data.test, batch)?,
        validation: if validation.is_empty() {
            None
        } else {
            Some(evaluate(net, data, validation, batch)?)
        },
    })
}

/// The line printed after each epoch.
fn epoch_line(model: &str, epochs: usize, r: &EpochRecord) -> String {
    let val_text = match (r.val_loss, r.val_accuracy) {
        (Some(l), Some(a)) => format!(" | val loss {l:.4} acc {:.2}%", 100.0 * a),
        _ => String::new(),
    };
    format!(
        "{model} epoch {}/{epochs}: train loss {:.4} acc {:.2}%{val_text} | test loss {:.4} acc {:.2}% | {:.0} img/s",
        r.epoch,
        r.train_loss,
        100.0 * r.train_accuracy,
        r.test_loss,
        100.0 * r.test_accuracy,
        r.images_per_s
    )
}

/// Where a training step falls in the run.
struct Step {
    /// Epoch, from 1.
    epoch: usize,
    /// Batch within the epoch, from 0.
    batch: usize,
    /// Optimizer steps taken before this one.
    iteration: usize,
    /// Learning rate of this step.
    lr: f64,
    /// The epoch's last batch (its meter reading is always taken).
    last: bool,
}

/// The loss read back is not finite: training diverged.
#[derive(Debug, thiserror::Error)]
#[error("training diverged: the loss is {loss} at epoch {epoch}, {at} (learning rate {lr})")]
struct Diverged {
    loss: f64,
    epoch: usize,
    at: String,
    lr: f64,
}

/// One optimizer step on the training images `idx`: the augmented batch (its first images
/// replaced by adversarial examples when `adversary` is given), the forward pass, the loss (with
/// the orthogonality penalty), the backward pass and the update. Returns the meter's reading when
/// this step is read; a non-finite loss read back is a [`Diverged`] error, before the update.
#[allow(clippy::too_many_arguments)]
fn train_step(
    net: &Network,
    opt: &mut Optimizer,
    meter: &mut Meter,
    cfg: &TrainConfig,
    adversary: Option<(&dyn dcrobust_attacks::Attack, &AdvTraining)>,
    data: &Dataset,
    idx: &[usize],
    step: &Step,
) -> Result<Option<Reading>> {
    let (epoch, b) = (step.epoch as u64, step.batch as u64);
    let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(cfg.seed, &[SEED_AUGMENT, epoch, b]));
    let device = net.params().device().clone();
    let (x, y) = make_batch(
        data,
        &data.train,
        idx,
        cfg.augment.then_some(&mut rng),
        &device,
    )?;
    let x = match adversary {
        Some((attack, adv)) => craft(
            net,
            attack,
            adv.replaced(idx.len()),
            &x,
            idx,
            data,
            derive_seed(cfg.seed, &[SEED_ADVERSARIAL, epoch, b]),
        )?,
        None => x,
    };
    let logits = net.forward_t(&x, true)?;
    let ce = loss::cross_entropy(&logits, &y, cfg.label_smoothing)?;
    let reading = meter.add(&ce, &logits, &y, idx.len(), step.last)?;
    if let Some(r) = &reading {
        if !r.loss_x_images.is_finite() {
            let first = step.iteration + 2 - r.steps;
            let at = if r.steps == 1 {
                format!("iteration {first}")
            } else {
                format!("iterations {first}-{}", step.iteration + 1)
            };
            return Err(Diverged {
                loss: r.loss_x_images / r.images as f64,
                epoch: step.epoch,
                at,
                lr: step.lr,
            }
            .into());
        }
    }
    let total_loss = if cfg.orthogonality > 0.0 && !net.decoupled_layers().is_empty() {
        (ce + net.orthogonality()?.affine(cfg.orthogonality, 0.0)?)?
    } else {
        ce
    };
    let grads = total_loss.backward()?;
    opt.step(&grads, step.lr)?;
    drop(grads);
    Ok(reading)
}

/// The training batch `x` (images of training indices `idx`) with its first `k` images replaced
/// by their adversarial examples against the current weights; the other `B - k` stay as they are.
///
/// # Shapes
/// `x`: `(B, C, H, W)` → `(B, C, H, W)`.
fn craft(
    net: &Network,
    attack: &dyn dcrobust_attacks::Attack,
    k: usize,
    x: &Tensor,
    idx: &[usize],
    data: &Dataset,
    seed: u64,
) -> Result<Tensor> {
    let b = idx.len();
    let (head, idx) = (x.narrow(0, 0, k)?, &idx[..k]);
    let dims = head.dims4()?;
    let batch = dcrobust_attacks::Batch::new(
        head.flatten_all()?.to_vec1::<f32>()?,
        [dims.0, dims.1, dims.2, dims.3],
        idx.iter().map(|&i| data.train.labels[i]).collect(),
        idx.iter().map(|&i| i as u64).collect(),
        seed,
    )?;
    let oracle = dcrobust_attacks::Oracle::new(net);
    let adv = Tensor::from_vec(attack.perturb(&oracle, &batch)?, dims, x.device())?;
    if k == b {
        return Ok(adv);
    }
    Ok(Tensor::cat(&[&adv, &x.narrow(0, k, b - k)?], 0)?)
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
pub(crate) fn build_network(
    model_cfg: &ModelConfig,
    seed: u64,
    device: &Device,
) -> Result<Network> {
    Ok(Network::new(
        model_cfg.clone(),
        device,
        DType::F32,
        derive_seed(seed, &[SEED_INIT]),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Oracle: sums by hand. Steps of 2 images with losses 1, 2, 3, 4 (a logit row that
    /// predicts class 0, labels 0 and 1: one correct each): read every 3 steps, the first two
    /// steps give nothing, the third the sums 2·(1+2+3) = 12 and 3 correct over 6 images, and the
    /// epoch's last step is read alone (8, 1, 2 images); read every step, the same step reads
    /// 2·4 = 8 at once.
    #[test]
    fn the_meter_sums_steps_until_it_is_read() {
        let logits = Tensor::new(&[[1f32, 0.0], [1.0, 0.0]], &Device::Cpu).unwrap();
        let y = Tensor::new(&[0u32, 1], &Device::Cpu).unwrap();
        let ce = |v: f32| Tensor::new(v, &Device::Cpu).unwrap();
        let mut m = Meter::every(3);
        assert!(m.add(&ce(1.0), &logits, &y, 2, false).unwrap().is_none());
        assert!(m.add(&ce(2.0), &logits, &y, 2, false).unwrap().is_none());
        let r = m.add(&ce(3.0), &logits, &y, 2, false).unwrap().unwrap();
        assert_eq!(
            (r.loss_x_images, r.correct, r.images, r.steps),
            (12.0, 3, 6, 3)
        );
        let r = m.add(&ce(4.0), &logits, &y, 2, true).unwrap().unwrap();
        assert_eq!(
            (r.loss_x_images, r.correct, r.images, r.steps),
            (8.0, 1, 2, 1)
        );
        let r = Meter::every(1)
            .add(&ce(4.0), &logits, &y, 2, false)
            .unwrap()
            .unwrap();
        assert_eq!(
            (r.loss_x_images, r.correct, r.images, r.steps),
            (8.0, 1, 2, 1)
        );
    }

    /// A two-class linear model whose class-0 logit is 0: with every label 0 the cross-entropy
    /// input gradient is `softmax(z)₁ · w`, so its sign is `sign(w)` wherever the image is.
    struct TwoClass(Vec<f32>);

    impl dcrobust_attacks::Model for TwoClass {
        fn logits(&self, x: &Tensor) -> candle_core::Result<Tensor> {
            let d = self.0.len();
            let w = Tensor::cat(
                &[
                    Tensor::zeros((1, d), DType::F32, x.device())?,
                    Tensor::from_slice(&self.0, (1, d), x.device())?,
                ],
                0,
            )?;
            x.flatten_from(1)?.matmul(&w.t()?)
        }
    }

    /// The perturbation `δ·sign(w)` per pixel of the adversarial-training attack `adv` on 8
    /// grey (0.5) images of 3×32×32, labels 0, against [`TwoClass`], in units of ε.
    fn signed_steps(adv: &AdvTraining) -> Vec<f32> {
        let d = 3 * 32 * 32;
        let w: Vec<f32> = (0..d)
            .map(|i| if (i * 7919) % 3 == 0 { -0.01 } else { 0.01 })
            .collect();
        let batch = dcrobust_attacks::Batch::new(
            vec![0.5; 8 * d],
            [8, 3, 32, 32],
            vec![0; 8],
            (0..8).collect(),
            11,
        )
        .unwrap();
        let model = TwoClass(w.clone());
        let x = adv
            .build()
            .unwrap()
            .perturb(&dcrobust_attacks::Oracle::new(&model), &batch)
            .unwrap();
        let eps = adv.eps as f32;
        x.iter()
            .enumerate()
            .map(|(i, v)| (v - 0.5) * w[i % d].signum() / eps)
            .collect()
    }

    /// Oracle: closed form of FGSM-RS (Wong et al. 2020) where the gradient's sign is constant
    /// ([`TwoClass`]) and no pixel meets the box: from `u ~ U[-ε, ε]` one step of 1.25 ε along
    /// `sign(w)` and the projection give `δ·sign(w) = min(u + 1.25 ε, ε)`. So every pixel moves
    /// by 0.25 ε to ε the gradient's way, `P(δ = ε) = P(u ≥ −0.25 ε) = 0.625`, and the rest are
    /// uniform on `[0.25 ε, ε)` with mean 0.625 ε. 24,576 pixels: the share's standard error is
    /// 0.003 and the mean's 0.0023 ε, so the bounds below are over 6 standard errors wide.
    #[test]
    fn fgsm_rs_matches_its_closed_form() {
        let adv = AdvTraining {
            attack: AdvTrainAttack::FgsmRs,
            eps: 8.0 / 255.0,
            steps: 1,
            step_size: 1.25,
            fraction: 0.5,
        };
        assert_eq!(adv.attack_label(), "fgsm-rs");
        let s = signed_steps(&adv);
        let tol = 1e-4;
        assert!(s.iter().all(|&v| (0.25 - tol..=1.0 + tol).contains(&v)));
        let at_eps = s.iter().filter(|&&v| v > 1.0 - tol).count() as f64 / s.len() as f64;
        assert!((at_eps - 0.625).abs() < 0.02, "share at ε {at_eps}");
        let inner: Vec<f64> = s
            .iter()
            .filter(|&&v| v <= 1.0 - tol)
            .map(|&v| f64::from(v))
            .collect();
        let mean = inner.iter().sum::<f64>() / inner.len() as f64;
        assert!(
            (mean - 0.625).abs() < 0.015,
            "mean of the inner steps {mean}"
        );
    }

    /// Oracle: closed form of PGD training with a constant gradient sign ([`TwoClass`]): from
    /// `u ~ U[-ε, ε]`, `k` steps of `α` give `δ·sign(w) = min(u + kα, ε)`. With the default
    /// `α = 2.5 ε / k` every start reaches ε (`u + 2.5 ε ≥ 1.5 ε`); with `α = ε/4` and `k = 3`
    /// only the starts with `u ≥ 0.25 ε` do, a share of 0.375.
    #[test]
    fn pgd_training_step_size_reaches_the_boundary() {
        let pgd = |step_size| AdvTraining {
            attack: AdvTrainAttack::Pgd,
            eps: 8.0 / 255.0,
            steps: 3,
            step_size,
            fraction: 1.0,
        };
        let tol = 1e-4;
        assert!(signed_steps(&pgd(2.5 / 3.0))
            .iter()
            .all(|&v| (v - 1.0).abs() < tol));
        let short = signed_steps(&pgd(0.25));
        let at_eps = short.iter().filter(|&&v| v > 1.0 - tol).count() as f64 / short.len() as f64;
        assert!((at_eps - 0.375).abs() < 0.02, "share at ε {at_eps}");
        assert!(short
            .iter()
            .all(|&v| (-0.25 - tol..=1.0 + tol).contains(&v)));
    }

    /// Oracle: the definition of the mixed batch. Rows `k..B` are the clean images bit for bit;
    /// rows `0..k` are FGSM examples, so each pixel moved by at most ε (up to f32 rounding) and
    /// some moved; and `replaced` is `⌈fraction · B⌉`.
    #[test]
    fn a_fraction_of_the_batch_is_replaced() {
        let data = crate::data::embedded().unwrap();
        let net = build_network(
            &ModelConfig::new(crate::models::Arch::Cnn9, None, 0.125),
            0,
            &Device::Cpu,
        )
        .unwrap();
        let adv = AdvTraining {
            attack: AdvTrainAttack::Fgsm,
            eps: 8.0 / 255.0,
            steps: 1,
            step_size: 0.25,
            fraction: 0.5,
        };
        assert_eq!(adv.replaced(8), 4);
        assert_eq!(adv.replaced(7), 4);
        assert_eq!(adv.replaced(1), 1);
        let idx: Vec<usize> = (0..8).collect();
        let (x, _) = make_batch(&data, &data.train, &idx, None, &Device::Cpu).unwrap();
        let attack = adv.build().unwrap();
        let mixed = craft(&net, attack.as_ref(), 4, &x, &idx, &data, 7).unwrap();
        assert_eq!(mixed.dims(), x.dims());
        let rows = |t: &Tensor| t.flatten_from(1).unwrap().to_vec2::<f32>().unwrap();
        let (clean, mixed) = (rows(&x), rows(&mixed));
        for i in 4..8 {
            assert_eq!(clean[i], mixed[i], "row {i} is past k and must stay clean");
        }
        for i in 0..4 {
            let moved = clean[i].iter().zip(&mixed[i]).map(|(a, b)| (a - b).abs());
            let max = moved.fold(0f32, f32::max);
            assert!(max <= 8.0 / 255.0 + 1e-6, "row {i} moved by {max}");
            assert!(max > 1.0 / 255.0, "row {i} was not attacked (moved {max})");
        }
        let bad = TrainConfig {
            adversarial: Some(AdvTraining {
                fraction: 0.0,
                ..adv
            }),
            ..TrainConfig::new(1, 0)
        };
        let err = bad.validate().unwrap_err();
        assert!(err.contains("fraction") && err.contains('0'), "{err}");
    }
}
