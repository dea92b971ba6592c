//! The training recipe options (`--recipe` and its single overrides) of `train` and `run`.

use super::*;
use crate::train::optim::OptimizerConfig;
use crate::train::{self, AdvTrainAttack, AdvTraining, TrainConfig};
use anyhow::{bail, Result};
use clap::{Args, ValueEnum};

/// The training recipe, shared by `train` and `run`.
#[derive(Debug, Args)]
#[command(next_help_heading = "Training")]
pub(crate) struct RecipeArgs {
    /// Named recipe that sets every option below; single options override it. quick: Adam 1e-3,
    /// steps ×0.1 at 50 % and 75 %; paper: the official DCNets schedule (Adam 1e-3, ×0.1 at 47,
    /// 71 and 88 %); fast: Adam, peak lr 2e-3, linear warm-up over 15 % of the steps then linear
    /// decay to 0, label smoothing 0.1 (docs/training.md).
    #[arg(long, value_enum, default_value_t = RecipeArg::Quick)]
    pub(crate) recipe: RecipeArg,
    /// Epochs (default: 5 for `train`, 2 for `run`).
    #[arg(long, value_parser = crate::cli::parse_count::<usize>, allow_negative_numbers = true)]
    pub(crate) epochs: Option<usize>,
    /// Batch size [recipe: 128].
    #[arg(long, value_parser = crate::cli::parse_count::<usize>, allow_negative_numbers = true)]
    pub(crate) batch_size: Option<usize>,
    /// Optimiser [adam].
    #[arg(long, value_enum)]
    pub(crate) optimizer: Option<OptimizerArg>,
    /// Learning rate, the peak of a triangular schedule [recipe: 1e-3; fast: 2e-3; 0.1 for SGD].
    #[arg(long, allow_negative_numbers = true)]
    pub(crate) lr: Option<f64>,
    /// SGD momentum [0.9].
    #[arg(long, allow_negative_numbers = true)]
    pub(crate) momentum: Option<f64>,
    /// Learning-rate schedule: step (×--lr-gamma after each milestone) or triangular (linear
    /// warm-up over --warmup of the steps, then linear decay to 0) [recipe].
    #[arg(long, value_enum)]
    pub(crate) schedule: Option<ScheduleArg>,
    /// Warm-up fraction of the triangular schedule [0.15].
    #[arg(long, allow_negative_numbers = true)]
    pub(crate) warmup: Option<f64>,
    /// Epochs after which the learning rate is multiplied by --lr-gamma [recipe].
    #[arg(long, value_delimiter = ',')]
    pub(crate) lr_milestones: Option<Vec<usize>>,
    /// Learning-rate factor at each milestone [0.1].
    #[arg(long, allow_negative_numbers = true)]
    pub(crate) lr_gamma: Option<f64>,
    /// Label smoothing ε [recipe: 0.01; fast: 0.1].
    #[arg(long, allow_negative_numbers = true)]
    pub(crate) label_smoothing: Option<f64>,
    /// L2 weight decay λ (on BN, shortcut and score parameters, and all baseline filters) [5e-4].
    #[arg(long, allow_negative_numbers = true)]
    pub(crate) weight_decay: Option<f64>,
    /// Orthogonality regulariser coefficient on decoupled filters [1e-5].
    #[arg(long, allow_negative_numbers = true)]
    pub(crate) orthogonality: Option<f64>,
    /// Project decoupled filters to unit norm every N iterations (0 = never) [100].
    #[arg(long, value_parser = crate::cli::parse_count::<usize>, allow_negative_numbers = true)]
    pub(crate) projection_every: Option<usize>,
    /// Train without augmentation.
    #[arg(long)]
    no_augment: bool,
    /// Record running training metrics every N iterations (0 = per epoch only).
    #[arg(long, default_value_t = 10, value_parser = crate::cli::parse_count::<usize>, allow_negative_numbers = true)]
    pub(crate) log_every: usize,
    /// Adversarial training: none; fgsm (one step of --adv-eps); fgsm-rs (one step of
    /// --adv-step-size·ε from a uniform random start in the ε-ball, Wong et al. 2020); or pgd
    /// (--adv-steps steps of --adv-step-size·ε from a random start, Madry et al. 2018). Examples
    /// are crafted in inference mode (docs/training.md).
    #[arg(long, value_enum, default_value_t = AdvTrainArg::None)]
    adv_train: AdvTrainArg,
    /// L-inf budget of adversarial training (a number or a fraction such as 8/255).
    #[arg(long, default_value = "8/255", value_parser = parse_eps, allow_negative_numbers = true)]
    adv_eps: f64,
    /// PGD iterations of adversarial training.
    #[arg(long, default_value_t = 7, value_parser = crate::cli::parse_count::<usize>, allow_negative_numbers = true)]
    adv_steps: usize,
    /// Step size of fgsm-rs and pgd as a fraction of --adv-eps (a number or a fraction such as
    /// 5/6) [fgsm-rs: 1.25, Wong et al.; pgd: 2.5/--adv-steps, enough to cross the ball from any
    /// start].
    #[arg(long, value_parser = parse_eps, allow_negative_numbers = true)]
    adv_step_size: Option<f64>,
    /// Fraction of each training batch replaced by its adversarial examples, in (0, 1]; the rest
    /// stays clean; needs --adv-train [fgsm: 0.5, Kurakin et al.'s mix; pgd: 1, Madry et al.'s].
    #[arg(long, allow_negative_numbers = true)]
    adv_fraction: Option<f64>,
    /// Training images held out as a validation split (the last of every class, class-balanced),
    /// evaluated after every epoch and recorded in the run: choose recipes, epochs and step
    /// sizes on it, never on the test split [0].
    #[arg(long, default_value_t = 0, value_parser = crate::cli::parse_count::<usize>, allow_negative_numbers = true)]
    pub(crate) holdout: usize,
}

/// Adversarial training choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum AdvTrainArg {
    /// Standard training.
    None,
    /// FGSM adversarial training.
    Fgsm,
    /// FGSM from a random start with a 1.25 ε step (Wong et al. 2020).
    FgsmRs,
    /// PGD adversarial training.
    Pgd,
}

/// Optimisers.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum OptimizerArg {
    /// Adam (β = 0.9, 0.999; ε = 1e-8).
    Adam,
    /// SGD with heavy-ball momentum.
    Sgd,
    /// SGD with Nesterov momentum.
    Nesterov,
}

/// Named recipes (`--recipe`).
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum RecipeArg {
    /// dcrobust's short-run defaults.
    Quick,
    /// The official DCNets CIFAR schedule.
    Paper,
    /// The model zoo's few-epoch recipe: Adam, triangular schedule, label smoothing 0.1.
    Fast,
}

/// Learning-rate schedules (`--schedule`).
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum ScheduleArg {
    /// Constant per epoch, ×--lr-gamma after each milestone.
    Step,
    /// Linear warm-up, then linear decay to 0.
    Triangular,
}

/// The training recipe the options describe.
pub(crate) fn train_config(
    a: &RecipeArgs,
    seed: u64,
    default_epochs: usize,
) -> Result<TrainConfig> {
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
    cfg.adversarial = adversarial_training(a)?;
    cfg.holdout = a.holdout;
    cfg.validate().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(cfg)
}

/// The adversarial training the `--adv-*` options describe (`None` without `--adv-train`), each
/// option checked against the attack it applies to.
fn adversarial_training(a: &RecipeArgs) -> Result<Option<AdvTraining>> {
    if a.adv_train == AdvTrainArg::None {
        if let Some(f) = a.adv_fraction {
            bail!("--adv-fraction {f} needs --adv-train fgsm, fgsm-rs or pgd: it is the share of each batch made adversarial");
        }
    }
    if let Some(s) = a.adv_step_size {
        if !matches!(a.adv_train, AdvTrainArg::FgsmRs | AdvTrainArg::Pgd) {
            bail!(
                "--adv-step-size {s} needs --adv-train fgsm-rs or pgd: fgsm always steps --adv-eps"
            );
        }
        if !(s > 0.0 && s.is_finite()) {
            bail!("--adv-step-size must be a positive fraction of --adv-eps, got {s}");
        }
    }
    // FGSM ignores steps and step size; it records the values runs have always recorded
    // (--adv-steps and 0.25), so their config.json stays the same and they resume.
    let (attack, steps, step_size, fraction) = match a.adv_train {
        AdvTrainArg::None => (None, a.adv_steps, 0.25, 1.0),
        AdvTrainArg::Fgsm => (Some(AdvTrainAttack::Fgsm), a.adv_steps, 0.25, 0.5),
        AdvTrainArg::FgsmRs => (Some(AdvTrainAttack::FgsmRs), 1, 1.25, 0.5),
        AdvTrainArg::Pgd => (
            Some(AdvTrainAttack::Pgd),
            a.adv_steps,
            2.5 / a.adv_steps.max(1) as f64,
            1.0,
        ),
    };
    Ok(attack.map(|attack| AdvTraining {
        attack,
        eps: a.adv_eps,
        steps,
        step_size: a.adv_step_size.unwrap_or(step_size),
        fraction: a.adv_fraction.unwrap_or(fraction),
    }))
}
