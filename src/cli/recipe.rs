//! The training recipe options (`--recipe` and its single overrides) of `train` and `run`.

use super::*;
use crate::train::optim::OptimizerConfig;
use crate::train::{self, AdvTrainAttack, AdvTraining, TrainConfig};
use anyhow::{bail, Result};
use clap::{Args, ValueEnum};

/// The training recipe, shared by `train` and `run`.
#[derive(Debug, Args)]
pub struct RecipeArgs {
    /// Named recipe that sets every option below; single options override it. quick: Adam 1e-3,
    /// steps ×0.1 at 50 % and 75 %; paper: the official DCNets schedule (Adam 1e-3, ×0.1 at 47,
    /// 71 and 88 %); fast: Adam, peak lr 2e-3, linear warm-up over 15 % of the steps then linear
    /// decay to 0, label smoothing 0.1 (docs/training.md).
    #[arg(long, value_enum, default_value_t = RecipeArg::Quick)]
    pub recipe: RecipeArg,
    /// Epochs (default: 5 for `train`, 2 for `run`).
    #[arg(long, value_parser = crate::cli::parse_count::<usize>, allow_negative_numbers = true)]
    pub epochs: Option<usize>,
    /// Batch size [recipe: 128].
    #[arg(long, value_parser = crate::cli::parse_count::<usize>, allow_negative_numbers = true)]
    pub batch_size: Option<usize>,
    /// Optimiser [adam].
    #[arg(long, value_enum)]
    pub optimizer: Option<OptimizerArg>,
    /// Learning rate, the peak of a triangular schedule [recipe: 1e-3; fast: 2e-3; 0.1 for SGD].
    #[arg(long, allow_negative_numbers = true)]
    pub lr: Option<f64>,
    /// SGD momentum [0.9].
    #[arg(long, allow_negative_numbers = true)]
    pub momentum: Option<f64>,
    /// Learning-rate schedule: step (×--lr-gamma after each milestone) or triangular (linear
    /// warm-up over --warmup of the steps, then linear decay to 0) [recipe].
    #[arg(long, value_enum)]
    pub schedule: Option<ScheduleArg>,
    /// Warm-up fraction of the triangular schedule [0.15].
    #[arg(long, allow_negative_numbers = true)]
    pub warmup: Option<f64>,
    /// Epochs after which the learning rate is multiplied by --lr-gamma [recipe].
    #[arg(long, value_delimiter = ',')]
    pub lr_milestones: Option<Vec<usize>>,
    /// Learning-rate factor at each milestone [0.1].
    #[arg(long, allow_negative_numbers = true)]
    pub lr_gamma: Option<f64>,
    /// Label smoothing ε [recipe: 0.01; fast: 0.1].
    #[arg(long, allow_negative_numbers = true)]
    pub label_smoothing: Option<f64>,
    /// L2 weight decay λ (on BN, shortcut and score parameters, and all baseline filters) [5e-4].
    #[arg(long, allow_negative_numbers = true)]
    pub weight_decay: Option<f64>,
    /// Orthogonality regulariser coefficient on decoupled filters [1e-5].
    #[arg(long, allow_negative_numbers = true)]
    pub orthogonality: Option<f64>,
    /// Project decoupled filters to unit norm every N iterations (0 = never) [100].
    #[arg(long, value_parser = crate::cli::parse_count::<usize>, allow_negative_numbers = true)]
    pub projection_every: Option<usize>,
    /// Train without augmentation.
    #[arg(long)]
    pub no_augment: bool,
    /// Record running training metrics every N iterations (0 = per epoch only).
    #[arg(long, default_value_t = 10, value_parser = crate::cli::parse_count::<usize>, allow_negative_numbers = true)]
    pub log_every: usize,
    /// Adversarial training: none, fgsm (one step of --adv-eps) or pgd (--adv-steps steps of
    /// --adv-eps/4 from a random start); examples are crafted in inference mode.
    #[arg(long, value_enum, default_value_t = AdvTrainArg::None)]
    pub adv_train: AdvTrainArg,
    /// L-inf budget of adversarial training (a number or a fraction such as 8/255).
    #[arg(long, default_value = "8/255", value_parser = parse_eps, allow_negative_numbers = true)]
    pub adv_eps: f64,
    /// PGD iterations of adversarial training.
    #[arg(long, default_value_t = 7, value_parser = crate::cli::parse_count::<usize>, allow_negative_numbers = true)]
    pub adv_steps: usize,
    /// Fraction of each training batch replaced by its adversarial examples, in (0, 1]; the rest
    /// stays clean; needs --adv-train [fgsm: 0.5, Kurakin et al.'s mix; pgd: 1, Madry et al.'s].
    #[arg(long, allow_negative_numbers = true)]
    pub adv_fraction: Option<f64>,
}

/// Adversarial training choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AdvTrainArg {
    /// Standard training.
    None,
    /// FGSM adversarial training.
    Fgsm,
    /// PGD adversarial training.
    Pgd,
}

/// Optimisers.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum OptimizerArg {
    /// Adam (β = 0.9, 0.999; ε = 1e-8).
    Adam,
    /// SGD with heavy-ball momentum.
    Sgd,
    /// SGD with Nesterov momentum.
    Nesterov,
}

/// Named recipes (`--recipe`).
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RecipeArg {
    /// dcrobust's short-run defaults.
    Quick,
    /// The official DCNets CIFAR schedule.
    Paper,
    /// The model zoo's few-epoch recipe: Adam, triangular schedule, label smoothing 0.1.
    Fast,
}

/// Learning-rate schedules (`--schedule`).
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ScheduleArg {
    /// Constant per epoch, ×--lr-gamma after each milestone.
    Step,
    /// Linear warm-up, then linear decay to 0.
    Triangular,
}

/// The training recipe the options describe.
pub fn train_config(a: &RecipeArgs, seed: u64, default_epochs: usize) -> Result<TrainConfig> {
    let recipe = match a.recipe {
        RecipeArg::Quick => train::Recipe::Quick,
        RecipeArg::Paper => train::Recipe::Paper,
        RecipeArg::Fast => train::Recipe::Fast,
    };
    let mut cfg = TrainConfig::recipe(recipe, a.epochs.unwrap_or(default_epochs), seed);
    if let Some(b) = a.batch_size {
        cfg.batch_size = b;
    }
    let momentum = a.momentum.unwrap_or(0.9);
    if let Some(o) = a.optimizer {
        cfg.optimizer = match o {
            OptimizerArg::Adam => OptimizerConfig::ADAM,
            OptimizerArg::Sgd | OptimizerArg::Nesterov => OptimizerConfig::Sgd {
                momentum,
                nesterov: matches!(o, OptimizerArg::Nesterov),
            },
        };
        if a.lr.is_none() {
            cfg.lr = if matches!(o, OptimizerArg::Adam) {
                1e-3
            } else {
                0.1
            };
        }
    } else if let OptimizerConfig::Sgd { nesterov, .. } = cfg.optimizer {
        cfg.optimizer = OptimizerConfig::Sgd { momentum, nesterov };
    }
    if let Some(lr) = a.lr {
        cfg.lr = lr;
    }
    match a.schedule {
        Some(ScheduleArg::Step) => cfg.schedule = train::Schedule::Step,
        Some(ScheduleArg::Triangular) if matches!(cfg.schedule, train::Schedule::Step) => {
            cfg.schedule = train::Schedule::Triangular {
                warmup: 0.15,
                start: 0.1,
                end: 0.0,
            }
        }
        _ => {}
    }
    if let Some(w) = a.warmup {
        match &mut cfg.schedule {
            train::Schedule::Triangular { warmup, .. } => *warmup = w,
            train::Schedule::Step => bail!("--warmup needs --schedule triangular"),
        }
    }
    if let Some(m) = &a.lr_milestones {
        cfg.lr_milestones = m.clone();
    }
    if let Some(g) = a.lr_gamma {
        cfg.lr_gamma = g;
    }
    if let Some(v) = a.label_smoothing {
        cfg.label_smoothing = v;
    }
    if let Some(v) = a.weight_decay {
        cfg.weight_decay = v;
    }
    if let Some(v) = a.orthogonality {
        cfg.orthogonality = v;
    }
    if let Some(v) = a.projection_every {
        cfg.projection_every = v;
    }
    cfg.augment = !a.no_augment;
    cfg.log_every = a.log_every;
    if a.adv_train == AdvTrainArg::None {
        if let Some(f) = a.adv_fraction {
            bail!("--adv-fraction {f} needs --adv-train fgsm or pgd: it is the share of each batch made adversarial");
        }
    }
    cfg.adversarial = match a.adv_train {
        AdvTrainArg::None => None,
        kind => Some(AdvTraining {
            attack: if kind == AdvTrainArg::Fgsm {
                AdvTrainAttack::Fgsm
            } else {
                AdvTrainAttack::Pgd
            },
            eps: a.adv_eps,
            steps: a.adv_steps,
            step_size: 0.25,
            fraction: a
                .adv_fraction
                .unwrap_or(if kind == AdvTrainArg::Fgsm { 0.5 } else { 1.0 }),
        }),
    };
    cfg.validate().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(cfg)
}
