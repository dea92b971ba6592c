//! The training recipe and the record of what a run was started with (`config.json`).

use super::*;

pub(crate) use dcrobust_reports::AdvTrainAttack;

/// Adversarial training: the first `fraction` of every (shuffled) batch is replaced by its
/// adversarial examples, crafted against the current weights in inference mode (running
/// BatchNorm statistics, nothing updated), before the training step; the loss is the mean over
/// the mixed batch (Kurakin et al. 2017 with λ = 1 at `fraction` 0.5).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AdvTraining {
    /// The attack.
    pub(crate) attack: AdvTrainAttack,
    /// L∞ budget ε in [0, 1] pixel units.
    pub(crate) eps: f64,
    /// PGD iterations (FGSM and FGSM-RS take one step and ignore it).
    pub(crate) steps: usize,
    /// Step size as a fraction of ε (PGD and FGSM-RS; FGSM always steps ε and ignores it).
    pub(crate) step_size: f64,
    /// Fraction of each batch replaced by adversarial examples, in (0, 1]; run configurations
    /// written before the option existed replaced every image, so it defaults to 1.
    #[serde(default = "whole_batch")]
    pub(crate) fraction: f64,
}

fn whole_batch() -> f64 {
    1.0
}

impl AdvTraining {
    /// How many images of a batch of `batch` are replaced: `⌈fraction · batch⌉`, at least 1.
    pub(crate) fn replaced(&self, batch: usize) -> usize {
        ((self.fraction * batch as f64).ceil() as usize).clamp(1, batch.max(1))
    }

    /// The attack's short name: `fgsm`, `fgsm-rs`, or `pgd-<steps>`, the first word of the
    /// description a run records ([`AdvTrainAttack::of_recorded`] reads it back).
    pub(crate) fn attack_label(&self) -> String {
        self.attack.label(self.steps)
    }

    /// The attack that crafts the training examples.
    pub(crate) fn build(&self) -> std::result::Result<Box<dyn dcrobust_attacks::Attack>, String> {
        let cfg = dcrobust_attacks::AttackConfig {
            pgd: dcrobust_attacks::PgdConfig {
                steps: match self.attack {
                    AdvTrainAttack::FgsmRs => 1,
                    _ => self.steps,
                },
                step_size: self.step_size as f32,
                random_start: true,
                restarts: 1,
            },
            early_stop: false,
            ..Default::default()
        };
        let kind = match self.attack {
            AdvTrainAttack::Fgsm => dcrobust_attacks::AttackKind::Fgsm,
            AdvTrainAttack::FgsmRs | AdvTrainAttack::Pgd => dcrobust_attacks::AttackKind::Pgd,
        };
        cfg.build(kind, self.eps)
            .map_err(|e| format!("adversarial training: {e}"))
    }
}

/// How to train.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TrainConfig {
    /// Passes over the training split.
    pub(crate) epochs: usize,
    /// Images per optimiser step (the last batch of an epoch may be smaller).
    pub(crate) batch_size: usize,
    /// Optimiser.
    pub(crate) optimizer: OptimizerConfig,
    /// Initial learning rate.
    pub(crate) lr: f64,
    /// Learning-rate schedule; `lr_milestones` and `lr_gamma` belong to [`Schedule::Step`].
    #[serde(default)]
    pub(crate) schedule: Schedule,
    /// Epochs after which the learning rate is multiplied by `lr_gamma` (step schedule).
    pub(crate) lr_milestones: Vec<usize>,
    /// Factor applied at each milestone.
    pub(crate) lr_gamma: f64,
    /// Label smoothing ε of the training loss (official code: 0.01).
    pub(crate) label_smoothing: f64,
    /// L2 coefficient λ (loss term λ/2·Σw²) on BN γ/β, shortcut and score filters, and every
    /// filter of a baseline network (docs/model.md#training-recipe: 5e-4).
    pub(crate) weight_decay: f64,
    /// Coefficient of the orthogonality regulariser on decoupled filters (official: 1e-5).
    pub(crate) orthogonality: f64,
    /// Project decoupled filters to unit norm every this many iterations (official: 100; 0 = never).
    pub(crate) projection_every: usize,
    /// Pad-4-mirror random crop and horizontal flip.
    pub(crate) augment: bool,
    /// Record running training metrics every this many iterations (0 = only per epoch).
    pub(crate) log_every: usize,
    /// Batch size of test-split evaluation.
    pub(crate) eval_batch_size: usize,
    /// Run seed: initialisation, shuffling and augmentation all derive from it.
    pub(crate) seed: u64,
    /// Adversarial training, if any.
    #[serde(default)]
    pub(crate) adversarial: Option<AdvTraining>,
    /// Training images held out as a validation split ([`crate::data::Dataset::hold_out`]),
    /// evaluated after every epoch, so that recipe choices are made without the test split.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub(crate) holdout: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl TrainConfig {
    /// dcrobust's CPU defaults: Adam 1e-3, batch 128, steps ×0.1 at 50% and 75% of the epochs,
    /// label smoothing 0.01, weight decay 5e-4, orthogonality 1e-5, projection every 100.
    pub(crate) fn new(epochs: usize, seed: u64) -> Self {
        TrainConfig {
            epochs,
            batch_size: 128,
            optimizer: OptimizerConfig::ADAM,
            lr: 1e-3,
            schedule: Schedule::Step,
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
            holdout: 0,
        }
    }

    /// The recipe `recipe` for `epochs` epochs: [`Recipe::Quick`] is [`TrainConfig::new`].
    pub(crate) fn recipe(recipe: Recipe, epochs: usize, seed: u64) -> Self {
        let mut cfg = TrainConfig::new(epochs, seed);
        match recipe {
            Recipe::Quick => {}
            Recipe::Paper => {
                // The official CIFAR-100 script: 42,500 iterations of batch 128, decays at
                // 20,000, 30,000 and 37,500 iterations (47 %, 71 % and 88 % of the run).
                cfg.lr_milestones = [0.47, 0.71, 0.88]
                    .iter()
                    .map(|f| (f * epochs as f64).round() as usize)
                    .filter(|&e| e > 0 && e < epochs)
                    .collect();
                cfg.lr_milestones.dedup();
            }
            Recipe::Fast => {
                // Adam rather than SGD: CNN-9's fc6 has no BatchNorm, and a decoupled fc6
                // outputs values of about 0.02 at initialisation, so the logits start near 0 and
                // SGD's gradient-sized steps barely move the score layer (docs/training.md).
                cfg.lr = 2e-3;
                cfg.schedule = Schedule::Triangular {
                    warmup: 0.15,
                    start: 0.1,
                    end: 0.0,
                };
                cfg.lr_milestones = Vec::new();
                cfg.label_smoothing = 0.1;
            }
        }
        cfg
    }

    /// Learning rate of optimiser step `iteration` (counted from 0) of a run of
    /// `total_iterations` steps, which falls in epoch `epoch` (counted from 1).
    pub(crate) fn lr_at(&self, epoch: usize, iteration: usize, total_iterations: usize) -> f64 {
        self.lr
            * self
                .schedule
                .factor(epoch, iteration, total_iterations, self)
    }

    /// Checks every field, naming the bad value.
    pub(crate) fn validate(&self) -> std::result::Result<(), String> {
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
        if let Schedule::Triangular { warmup, start, end } = self.schedule {
            if !(0.0..1.0).contains(&warmup) {
                return Err(format!("warm-up fraction must be in [0, 1), got {warmup}"));
            }
            if !(start >= 0.0 && start.is_finite() && end >= 0.0 && end.is_finite()) {
                return Err(format!(
                    "triangular schedule factors must be finite and >= 0, got start {start}, end {end}"
                ));
            }
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
            if !(a.fraction > 0.0 && a.fraction <= 1.0) {
                return Err(format!(
                    "adversarial fraction must be in (0, 1], got {}",
                    a.fraction
                ));
            }
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

/// Named training recipes: every field of [`TrainConfig`] at once; single options override them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Recipe {
    /// dcrobust's short-run defaults ([`TrainConfig::new`]): Adam 1e-3, batch 128, ×0.1 at 50 %
    /// and 75 % of the epochs, label smoothing 0.01.
    Quick,
    /// The official DCNets CIFAR recipe: Adam 1e-3, batch 128, ×0.1 at 47 %, 71 % and 88 % of
    /// the run, label smoothing 0.01, weight decay 5e-4, orthogonality 1e-5 (about 109 epochs
    /// in the official script).
    Paper,
    /// Few-epoch recipe (docs/training.md): Adam with a triangular schedule (linear warm-up from
    /// 2e-4 to 2e-3 over the first 15 % of the steps, then linear decay to 0), label smoothing
    /// 0.1, weight decay 5e-4, batch 128.
    Fast,
}

/// Learning-rate schedule, as a factor on [`TrainConfig::lr`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub(crate) enum Schedule {
    /// Constant within an epoch, multiplied by `lr_gamma` after each of `lr_milestones`.
    #[default]
    Step,
    /// Per step: linear from `start` to 1 over the first `warmup` fraction of the steps, then
    /// linear from 1 to `end` at the last step.
    Triangular {
        /// Fraction of the run's steps spent warming up, in [0, 1).
        warmup: f64,
        /// Factor at the first step.
        start: f64,
        /// Factor at the last step.
        end: f64,
    },
}

impl Schedule {
    /// The factor on the base learning rate at step `iteration` (from 0) of `total` steps, in
    /// epoch `epoch` (from 1).
    pub(crate) fn factor(
        &self,
        epoch: usize,
        iteration: usize,
        total: usize,
        cfg: &TrainConfig,
    ) -> f64 {
        match *self {
            Schedule::Step => {
                let passed = cfg.lr_milestones.iter().filter(|&&m| m < epoch).count();
                cfg.lr_gamma.powi(passed as i32)
            }
            Schedule::Triangular { warmup, start, end } => {
                let total = total.max(1) as f64;
                let t = iteration as f64;
                let peak = (warmup * total).round();
                if t < peak {
                    start + (1.0 - start) * t / peak
                } else {
                    let rest = (total - 1.0 - peak).max(1.0);
                    1.0 + (end - 1.0) * ((t - peak) / rest).min(1.0)
                }
            }
        }
    }
}

/// Milestones at half and three quarters of the run (the official schedule decays at 47%, 71%
/// and 88% of its iterations; two steps suit short runs).
fn default_milestones(epochs: usize) -> Vec<usize> {
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
pub(crate) struct DataInfo {
    /// Loader name.
    pub(crate) name: String,
    /// Where it came from.
    pub(crate) source: String,
    /// Training images used.
    train_images: usize,
    /// Test images used.
    pub(crate) test_images: usize,
}

impl DataInfo {
    /// Describes `data`.
    pub(crate) fn of(data: &Dataset) -> Self {
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
    pub(crate) version: String,
    /// The network.
    pub(crate) model: ModelConfig,
    /// The training recipe.
    pub(crate) train: TrainConfig,
    /// The data.
    pub(crate) data: DataInfo,
    /// SHA-256 (hex) of `model.safetensors` as last written; a file that does not match is
    /// refused when the run is loaded for evaluation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) weights_sha256: Option<String>,
}
