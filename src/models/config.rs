//! Serde configuration of every model dcrobust builds: architecture, operator, switches.
//!
//! A decoupled operator is `f(w, x) = h(‖w‖, ‖x‖) · g(θ)` (docs/model.md#decoupled-operator):
//! [`Magnitude`] is `h`, [`Angular`] is `g`, [`Radius`] is the operator radius ρ that several
//! magnitudes use. The baseline of each architecture is the same network with ordinary
//! convolutions (`operator: None`). Everything here is data, saved beside every checkpoint.

use serde::{Deserialize, Serialize};

/// The magnitude function `h(‖w‖, ‖x‖)` of a decoupled operator
/// (docs/model.md#magnitude-functions and #weighted-operators).
///
/// `n` below is the patch norm ‖x‖, `ρ` the operator radius, `‖w‖` the filter's own norm.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub(crate) enum Magnitude {
    /// SphereConv: `α` (bounded; ignores ‖x‖).
    Sphere {
        /// Output scale α.
        alpha: f64,
    },
    /// BallConv: `α · min(n, ρ) / ρ` (bounded).
    Ball {
        /// Output scale α.
        alpha: f64,
    },
    /// TanhConv: `α · tanh(n / ρ)` (bounded, smooth).
    Tanh {
        /// Output scale α.
        alpha: f64,
    },
    /// LinearConv: `α · n` (unbounded). With cosine this is a convolution with unit-norm filters.
    Linear {
        /// Output scale α.
        alpha: f64,
    },
    /// SegConv: `α·n` for `n ≤ ρ`, `β·n + αρ − βρ` above (unbounded, continuous at ρ).
    Seg {
        /// Slope below the radius.
        alpha: f64,
        /// Slope above the radius.
        beta: f64,
    },
    /// LogConv: `α · ln(1 + n)` (unbounded, smooth).
    Log {
        /// Output scale α.
        alpha: f64,
    },
    /// MixConv: `α·n + β·ln(1 + n)`. The paper does not give its formula
    /// (docs/model.md#magnitude-functions marks it unknown); this linear-plus-log mix is
    /// dcrobust's choice, with both weights configurable.
    Mix {
        /// Weight of the linear term.
        alpha: f64,
        /// Weight of the log term.
        beta: f64,
    },
    /// Linearly weighted operator: `α · ‖w‖ · n` (docs/model.md#weighted-operators; the ‖x‖
    /// factor is kept).
    WeightedLinear {
        /// Output scale α.
        alpha: f64,
    },
    /// Nonlinearly weighted operator, Eq. 15: `α · tanh(‖w‖ · n / ρ)`.
    WeightedTanhEq15 {
        /// Output scale α.
        alpha: f64,
    },
    /// Nonlinearly weighted operator, Eq. 16: `α · tanh(‖w‖ / ρ) · tanh(n / ρ)`.
    WeightedTanhEq16 {
        /// Output scale α.
        alpha: f64,
    },
}

impl Magnitude {
    /// Every magnitude with the paper's default parameters (α = 1, SegConv β = 0.5,
    /// MixConv α = β = 0.5), in the order `dcrobust models` lists them.
    pub(crate) const ALL: [Magnitude; 10] = [
        Magnitude::Sphere { alpha: 1.0 },
        Magnitude::Ball { alpha: 1.0 },
        Magnitude::Tanh { alpha: 1.0 },
        Magnitude::Linear { alpha: 1.0 },
        Magnitude::Seg {
            alpha: 1.0,
            beta: 0.5,
        },
        Magnitude::Log { alpha: 1.0 },
        Magnitude::Mix {
            alpha: 0.5,
            beta: 0.5,
        },
        Magnitude::WeightedLinear { alpha: 1.0 },
        Magnitude::WeightedTanhEq15 { alpha: 1.0 },
        Magnitude::WeightedTanhEq16 { alpha: 1.0 },
    ];

    /// Short name used on the command line and in model names.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Magnitude::Sphere { .. } => "sphere",
            Magnitude::Ball { .. } => "ball",
            Magnitude::Tanh { .. } => "tanh",
            Magnitude::Linear { .. } => "linear",
            Magnitude::Seg { .. } => "seg",
            Magnitude::Log { .. } => "log",
            Magnitude::Mix { .. } => "mix",
            Magnitude::WeightedLinear { .. } => "weighted-linear",
            Magnitude::WeightedTanhEq15 { .. } => "weighted-tanh-eq15",
            Magnitude::WeightedTanhEq16 { .. } => "weighted-tanh-eq16",
        }
    }

    /// One line for `dcrobust models`.
    pub(crate) fn describe(&self) -> &'static str {
        match self {
            Magnitude::Sphere { .. } => "SphereConv: h = a (bounded, ignores |x|)",
            Magnitude::Ball { .. } => "BallConv: h = a*min(|x|, rho)/rho (bounded)",
            Magnitude::Tanh { .. } => "TanhConv: h = a*tanh(|x|/rho) (bounded, smooth)",
            Magnitude::Linear { .. } => "LinearConv: h = a*|x| (unbounded)",
            Magnitude::Seg { .. } => "SegConv: h = a*|x| below rho, slope b above (unbounded)",
            Magnitude::Log { .. } => "LogConv: h = a*ln(1+|x|) (unbounded, smooth)",
            Magnitude::Mix { .. } => "MixConv: h = a*|x| + b*ln(1+|x|) (dcrobust's choice)",
            Magnitude::WeightedLinear { .. } => "linearly weighted: h = a*|w|*|x|",
            Magnitude::WeightedTanhEq15 { .. } => "weighted, Eq. 15: h = a*tanh(|w|*|x|/rho)",
            Magnitude::WeightedTanhEq16 { .. } => {
                "weighted, Eq. 16: h = a*tanh(|w|/rho)*tanh(|x|/rho)"
            }
        }
    }

    /// The magnitude called `name`, with default parameters.
    pub(crate) fn from_name(name: &str) -> Option<Magnitude> {
        Magnitude::ALL.into_iter().find(|m| m.name() == name)
    }

    /// Whether this magnitude uses the operator radius ρ.
    pub(crate) fn uses_radius(&self) -> bool {
        matches!(
            self,
            Magnitude::Ball { .. }
                | Magnitude::Tanh { .. }
                | Magnitude::Seg { .. }
                | Magnitude::WeightedTanhEq15 { .. }
                | Magnitude::WeightedTanhEq16 { .. }
        )
    }

    /// Whether this magnitude uses the filter norm ‖w‖ (the weighted operators).
    pub(crate) fn uses_weight_norm(&self) -> bool {
        matches!(
            self,
            Magnitude::WeightedLinear { .. }
                | Magnitude::WeightedTanhEq15 { .. }
                | Magnitude::WeightedTanhEq16 { .. }
        )
    }

    /// Checks the parameters: finite, α > 0, β ≥ 0.
    pub(crate) fn validate(&self) -> Result<(), String> {
        let (a, b) = match *self {
            Magnitude::Seg { alpha, beta } | Magnitude::Mix { alpha, beta } => (alpha, beta),
            Magnitude::Sphere { alpha }
            | Magnitude::Ball { alpha }
            | Magnitude::Tanh { alpha }
            | Magnitude::Linear { alpha }
            | Magnitude::Log { alpha }
            | Magnitude::WeightedLinear { alpha }
            | Magnitude::WeightedTanhEq15 { alpha }
            | Magnitude::WeightedTanhEq16 { alpha } => (alpha, 0.0),
        };
        if !(a.is_finite() && a > 0.0) {
            return Err(format!(
                "{}: alpha must be a positive number, got {a}",
                self.name()
            ));
        }
        if !(b.is_finite() && b >= 0.0) {
            return Err(format!(
                "{}: beta must be a number >= 0, got {b}",
                self.name()
            ));
        }
        Ok(())
    }
}

/// The angular activation `g(θ)` of a decoupled operator (docs/model.md#angular-activations).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub(crate) enum Angular {
    /// `1 − 2θ/π`.
    Linear,
    /// `cos θ`.
    Cosine,
    /// `tanh((π/2 − θ)/(2k)) / tanh(π/(4k))`: 1 at θ = 0, 0 at π/2, −1 at π.
    Sigmoid {
        /// Steepness k (paper default 0.3).
        k: f64,
    },
    /// `sign(cos θ) · cos² θ`.
    SquareCosine,
    /// The sigmoid with one learned k per output channel; the effective k is `|k| + 0.05`.
    LearnableSigmoid {
        /// Initial k (SphereNet uses 0.7).
        k_init: f64,
    },
}

impl Angular {
    /// Every angular activation with default parameters, in listing order.
    pub(crate) const ALL: [Angular; 5] = [
        Angular::Linear,
        Angular::Cosine,
        Angular::Sigmoid { k: 0.3 },
        Angular::SquareCosine,
        Angular::LearnableSigmoid { k_init: 0.7 },
    ];

    /// Short name used on the command line and in model names.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Angular::Linear => "linear",
            Angular::Cosine => "cosine",
            Angular::Sigmoid { .. } => "sigmoid",
            Angular::SquareCosine => "sqcos",
            Angular::LearnableSigmoid { .. } => "learnable-sigmoid",
        }
    }

    /// One line for `dcrobust models`.
    pub(crate) fn describe(&self) -> &'static str {
        match self {
            Angular::Linear => "g = 1 - 2*theta/pi",
            Angular::Cosine => "g = cos(theta)",
            Angular::Sigmoid { .. } => "g = tanh((pi/2 - theta)/(2k)) / tanh(pi/(4k)), k = 0.3",
            Angular::SquareCosine => "g = sign(cos theta) * cos^2 theta",
            Angular::LearnableSigmoid { .. } => "sigmoid with k learned per channel (|k| + 0.05)",
        }
    }

    /// The activation called `name`, with default parameters.
    pub(crate) fn from_name(name: &str) -> Option<Angular> {
        Angular::ALL.into_iter().find(|a| a.name() == name)
    }

    /// Checks the parameters: k finite and positive.
    pub(crate) fn validate(&self) -> Result<(), String> {
        match *self {
            Angular::Sigmoid { k } | Angular::LearnableSigmoid { k_init: k }
                if !(k.is_finite() && k > 0.0) =>
            {
                Err(format!(
                    "{}: k must be a positive number, got {k}",
                    self.name()
                ))
            }
            _ => Ok(()),
        }
    }
}

/// The operator radius ρ.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub(crate) enum Radius {
    /// A fixed radius, in the units of the patch norm.
    Fixed {
        /// ρ, positive.
        rho: f64,
    },
    /// `ρ = (r² + 1e-4) · μ` with one learned `r` per output channel (initialised at `init`) and
    /// `μ` the mean patch norm: the batch mean while training (differentiable), its moving
    /// average in inference (docs/model.md#operator-radius).
    Learnable {
        /// Initial r.
        init: f64,
        /// Decay of μ's moving average (the official code uses 0.999; short CPU runs need less).
        ema_decay: f64,
    },
}

impl Default for Radius {
    fn default() -> Self {
        Radius::Learnable {
            init: 1.0,
            ema_decay: 0.9,
        }
    }
}

/// One decoupled operator: magnitude × angular activation, and its radius.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorConfig {
    /// `h(‖w‖, ‖x‖)`.
    pub(crate) magnitude: Magnitude,
    /// `g(θ)`.
    pub(crate) angular: Angular,
    /// ρ, used by the magnitudes for which [`Magnitude::uses_radius`] holds.
    #[serde(default)]
    pub(crate) radius: Radius,
}

impl OperatorConfig {
    /// Name fragment such as `tanh-cosine`.
    pub(crate) fn name(&self) -> String {
        format!("{}-{}", self.magnitude.name(), self.angular.name())
    }

    /// Checks every parameter.
    pub(crate) fn validate(&self) -> Result<(), String> {
        self.magnitude.validate()?;
        self.angular.validate()?;
        match self.radius {
            Radius::Fixed { rho } if !(rho.is_finite() && rho > 0.0) => {
                Err(format!("radius must be a positive number, got {rho}"))
            }
            Radius::Learnable { init, ema_decay }
                if !init.is_finite() || !(0.0..1.0).contains(&ema_decay) =>
            {
                Err(format!(
                    "learnable radius needs a finite init and an EMA decay in [0, 1), got init {init}, decay {ema_decay}"
                ))
            }
            _ => Ok(()),
        }
    }
}

/// Network architecture.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Arch {
    /// Plain CNN-9 (docs/model.md#cnn-9): 3 stages of 3 conv 3x3 at 128/192/256 channels, 2x2
    /// max-pool after each, an `fc6` conv covering the final map, a 1x1 score layer.
    Cnn9,
    /// CIFAR ResNet-32 (docs/model.md#resnet-32): root conv + BN, 3 stages of 5 post-activation
    /// residual units at 96/192/384 channels, global average pool, 1x1 score layer.
    Resnet32,
    /// CNN-9's body with a 2-channel `fc6`: 2-D features for the paper's Fig. 1/4 plots.
    Feat2d,
}

impl Arch {
    /// Every architecture, in listing order.
    pub(crate) const ALL: [Arch; 3] = [Arch::Cnn9, Arch::Resnet32, Arch::Feat2d];

    /// Command-line name.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Arch::Cnn9 => "cnn9",
            Arch::Resnet32 => "resnet32",
            Arch::Feat2d => "feat2d",
        }
    }

    /// One line for `dcrobust models`.
    pub(crate) fn describe(&self) -> &'static str {
        match self {
            Arch::Cnn9 => "plain CNN-9: 3x(3 conv3x3) at 128/192/256 x width, max-pool, fc6, score",
            Arch::Resnet32 => "ResNet-32: root conv, 3x5 residual units at 96/192/384 x width",
            Arch::Feat2d => "CNN-9 body with 2-D penultimate features (paper Fig. 1/4 plots)",
        }
    }

    /// The architecture called `name`.
    pub(crate) fn from_name(name: &str) -> Option<Arch> {
        Arch::ALL.into_iter().find(|a| a.name() == name)
    }
}

/// Everything needed to build a network; saved with every checkpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Architecture.
    pub(crate) arch: Arch,
    /// The decoupled operator of every decoupled layer, or `None` for the baseline twin.
    pub(crate) operator: Option<OperatorConfig>,
    /// Channel-width multiplier applied to the paper's widths (1.0 = paper).
    pub(crate) width: f64,
    /// BatchNorm after each conv (paper Tables 2 and 3 switch it).
    pub(crate) batch_norm: bool,
    /// ReLU after each conv block (paper Table 3 switches it).
    pub(crate) relu: bool,
    /// Input channels (3 for RGB, 1 for grey).
    pub(crate) in_channels: usize,
    /// Input height and width.
    pub(crate) image_size: [usize; 2],
    /// Number of classes.
    pub(crate) num_classes: usize,
    /// Decay of the BatchNorm running statistics (official code: 0.999; PyTorch: 0.9).
    pub(crate) bn_decay: f64,
    /// BatchNorm epsilon (official code: 1e-3).
    pub(crate) bn_eps: f64,
}

impl ModelConfig {
    /// A CIFAR-sized configuration with dcrobust's defaults (BN, ReLU, BN decay 0.9, eps 1e-3).
    pub fn new(arch: Arch, operator: Option<OperatorConfig>, width: f64) -> Self {
        ModelConfig {
            arch,
            operator,
            width,
            batch_norm: true,
            relu: true,
            in_channels: 3,
            image_size: [32, 32],
            num_classes: 10,
            bn_decay: 0.9,
            bn_eps: 1e-3,
        }
    }

    /// A readable name such as `cnn9-baseline` or `cnn9-tanh-cosine`.
    pub(crate) fn name(&self) -> String {
        let op = match &self.operator {
            None => "baseline".to_string(),
            Some(o) => o.name(),
        };
        let mut name = format!("{}-{}", self.arch.name(), op);
        if !self.batch_norm {
            name.push_str("-nobn");
        }
        if !self.relu {
            name.push_str("-norelu");
        }
        name
    }

    /// Scales a paper width by the multiplier (at least 2 channels).
    pub(crate) fn scaled(&self, paper_width: usize) -> usize {
        ((paper_width as f64 * self.width).round() as usize).max(2)
    }

    /// Checks every field, naming the bad value.
    pub(crate) fn validate(&self) -> Result<(), String> {
        if !(self.width.is_finite() && self.width > 0.0 && self.width <= 8.0) {
            return Err(format!(
                "width multiplier must be in (0, 8], got {}",
                self.width
            ));
        }
        if self.in_channels == 0 || self.num_classes < 2 {
            return Err(format!(
                "need at least 1 input channel and 2 classes, got {} and {}",
                self.in_channels, self.num_classes
            ));
        }
        let min = match self.arch {
            Arch::Cnn9 | Arch::Feat2d => 8,
            Arch::Resnet32 => 4,
        };
        if self.image_size.iter().any(|&s| s < min) {
            return Err(format!(
                "{} needs images of at least {min}x{min} pixels, got {}x{}",
                self.arch.name(),
                self.image_size[0],
                self.image_size[1]
            ));
        }
        if !(0.0..1.0).contains(&self.bn_decay) || self.bn_eps.is_nan() || self.bn_eps <= 0.0 {
            return Err(format!(
                "BatchNorm decay must be in [0, 1) and eps > 0, got {} and {}",
                self.bn_decay, self.bn_eps
            ));
        }
        if let Some(op) = &self.operator {
            op.validate()?;
        }
        Ok(())
    }
}
