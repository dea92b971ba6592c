//! Every attack by name, its parameters, and construction with validation.

#[cfg(feature = "tensors")]
use crate::{
    Apgd, ApgdT, Attack, AutoAttack, Bim, CwL2, FabT, Fgsm, LossKind, MiFgsm, Pgd, Square,
};
use crate::{Norm, Target};
use serde::{Deserialize, Serialize};

/// The attacks this crate provides.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AttackKind {
    /// FGSM, L∞, one step.
    Fgsm,
    /// BIM / I-FGSM, L∞, iterated from the clean image.
    Bim,
    /// PGD, L∞, random start, restarts.
    Pgd,
    /// PGD, L2, random start, restarts.
    PgdL2,
    /// MI-FGSM, L∞, momentum.
    Mifgsm,
    /// APGD with cross-entropy, L∞ (step-size free).
    ApgdCe,
    /// APGD with the DLR loss, L∞ (step-size free, logit-scale invariant).
    ApgdDlr,
    /// Carlini–Wagner L2 with a binary search over c.
    CwL2,
    /// Square attack, L∞, score-based (no gradients).
    Square,
    /// Targeted APGD on the DLR loss over the top target classes, L∞ (AutoAttack's APGD-T).
    ApgdT,
    /// Targeted FAB over the top target classes, L∞ (AutoAttack's FAB-T).
    FabT,
    /// AutoAttack's standard ensemble: APGD-CE, APGD-T, FAB-T, Square, L∞.
    #[serde(rename = "autoattack")]
    AutoAttack,
}

impl AttackKind {
    /// All attacks, in registry order.
    pub const ALL: [AttackKind; 12] = [
        AttackKind::Fgsm,
        AttackKind::Bim,
        AttackKind::Pgd,
        AttackKind::PgdL2,
        AttackKind::Mifgsm,
        AttackKind::ApgdCe,
        AttackKind::ApgdDlr,
        AttackKind::CwL2,
        AttackKind::Square,
        AttackKind::ApgdT,
        AttackKind::FabT,
        AttackKind::AutoAttack,
    ];

    /// Name used on the command line and in results.
    pub fn name(self) -> &'static str {
        match self {
            AttackKind::Fgsm => "fgsm",
            AttackKind::Bim => "bim",
            AttackKind::Pgd => "pgd",
            AttackKind::PgdL2 => "pgd-l2",
            AttackKind::Mifgsm => "mifgsm",
            AttackKind::ApgdCe => "apgd-ce",
            AttackKind::ApgdDlr => "apgd-dlr",
            AttackKind::CwL2 => "cw-l2",
            AttackKind::Square => "square",
            AttackKind::ApgdT => "apgd-t",
            AttackKind::FabT => "fab-t",
            AttackKind::AutoAttack => "autoattack",
        }
    }

    /// The norm its ε is measured in.
    pub fn norm(self) -> Norm {
        match self {
            AttackKind::PgdL2 | AttackKind::CwL2 => Norm::L2,
            _ => Norm::Linf,
        }
    }

    /// Whether it reads input gradients (AutoAttack: its white-box components do).
    pub fn uses_gradients(self) -> bool {
        self != AttackKind::Square
    }

    /// Whether it chooses its own target classes, so that it runs untargeted only.
    pub fn picks_targets(self) -> bool {
        matches!(
            self,
            AttackKind::ApgdT | AttackKind::FabT | AttackKind::AutoAttack
        )
    }

    /// The fewest classes a model needs for it: 4 for the targeted DLR loss (APGD-T and
    /// AutoAttack read the fourth-largest logit), 3 for APGD-DLR, 2 otherwise.
    pub fn min_classes(self) -> usize {
        match self {
            AttackKind::ApgdT | AttackKind::AutoAttack => 4,
            AttackKind::ApgdDlr => 3,
            _ => 2,
        }
    }

    /// One line for listings.
    pub fn describe(self) -> &'static str {
        match self {
            AttackKind::Fgsm => "one signed-gradient step of size eps (Goodfellow et al. 2015)",
            AttackKind::Bim => {
                "iterated FGSM from the clean image, no random start (Kurakin et al. 2017)"
            }
            AttackKind::Pgd => {
                "projected gradient ascent, random start, restarts (Madry et al. 2018)"
            }
            AttackKind::PgdL2 => "PGD in the L2 ball, normalised-gradient steps",
            AttackKind::Mifgsm => "iterated FGSM with gradient momentum (Dong et al. 2018)",
            AttackKind::ApgdCe => {
                "step-size-free PGD with momentum, cross-entropy (Croce and Hein 2020)"
            }
            AttackKind::ApgdDlr => "APGD on the logit-scale-invariant DLR loss (AutoAttack)",
            AttackKind::CwL2 => "Carlini-Wagner L2, Adam in tanh space, binary search over c",
            AttackKind::Square => {
                "random square updates, score-based, no gradients (Andriushchenko et al. 2020)"
            }
            AttackKind::ApgdT => {
                "APGD on the targeted DLR loss, one run per top-9 target class (AutoAttack)"
            }
            AttackKind::FabT => {
                "minimum-norm boundary attack towards the top-9 target classes (Croce and Hein 2020)"
            }
            AttackKind::AutoAttack => {
                "standard AutoAttack: APGD-CE, APGD-T, FAB-T, Square (5000 queries), worst case"
            }
        }
    }

    /// Where the report ranks it when it picks one attack to quote: the confusion matrices take
    /// the first of these a run has, the verdict the first [`AttackKind::strong`] one. Lower
    /// comes first; `None`: never quoted.
    pub fn quote_rank(self) -> Option<u8> {
        match self {
            AttackKind::Pgd => Some(0),
            AttackKind::ApgdCe => Some(1),
            AttackKind::Bim => Some(2),
            AttackKind::Mifgsm => Some(3),
            AttackKind::Fgsm => Some(4),
            _ => None,
        }
    }

    /// Whether the verdict may quote it as the strong (multi-step, gradient-based) attack beside
    /// FGSM.
    pub fn strong(self) -> bool {
        matches!(self, AttackKind::Pgd | AttackKind::ApgdCe | AttackKind::Bim)
    }

    /// The quoted attacks ([`AttackKind::quote_rank`]), in rank order.
    pub fn quoted() -> Vec<AttackKind> {
        let mut v: Vec<AttackKind> = AttackKind::ALL
            .into_iter()
            .filter(|k| k.quote_rank().is_some())
            .collect();
        v.sort_by_key(|k| k.quote_rank());
        v
    }

    /// Looks a name up.
    pub fn from_name(s: &str) -> Option<AttackKind> {
        AttackKind::ALL.into_iter().find(|k| k.name() == s)
    }

    /// Every name, comma-separated, for messages.
    pub fn names() -> String {
        AttackKind::ALL.map(AttackKind::name).join(", ")
    }
}

impl std::str::FromStr for AttackKind {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        AttackKind::from_name(s).ok_or_else(|| ConfigError::UnknownAttack(s.to_string()))
    }
}

impl std::fmt::Display for AttackKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A parameter out of range, or an unknown name.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    /// No attack has this name.
    #[error("unknown attack `{0}`; expected one of {names}", names = AttackKind::names())]
    UnknownAttack(String),
    /// ε outside its range.
    #[error("{attack}: eps {eps} is out of range: expected {expected}")]
    Eps {
        /// The attack.
        attack: &'static str,
        /// The value given.
        eps: f64,
        /// The valid range.
        expected: &'static str,
    },
    /// A targeted run of an attack that chooses its own target classes.
    #[error("{0} chooses its own target classes and runs untargeted only; drop the target option")]
    PicksTargets(&'static str),
    /// Another parameter outside its range.
    #[error("attack parameter {name} = {value} is out of range: expected {expected}")]
    Param {
        /// Parameter name (as in the configuration file).
        name: &'static str,
        /// The value given.
        value: f64,
        /// The valid range.
        expected: &'static str,
    },
}

/// PGD and PGD-L2 parameters (the step size is BIM's too).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PgdConfig {
    /// PGD and PGD-L2 iterations.
    pub steps: usize,
    /// PGD, PGD-L2 and BIM step size as a fraction of ε.
    pub step_size: f32,
    /// PGD and PGD-L2 restarts.
    pub restarts: usize,
    /// PGD and PGD-L2 start at a random point of the ε-ball.
    pub random_start: bool,
}

impl Default for PgdConfig {
    fn default() -> Self {
        PgdConfig {
            steps: 20,
            step_size: 0.25,
            restarts: 1,
            random_start: true,
        }
    }
}

impl PgdConfig {
    /// Checks every parameter's range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        at_least_one("steps", self.steps)?;
        at_least_one("restarts", self.restarts)?;
        positive(
            "step_size",
            self.step_size,
            "a fraction of eps in (0, 10]",
            10.0,
        )
    }

    #[cfg(feature = "tensors")]
    /// PGD named `name` in `norm` on `loss` at budget `eps`.
    fn attack(
        &self,
        name: &'static str,
        norm: Norm,
        loss: LossKind,
        eps: f32,
        early_stop: bool,
    ) -> Pgd {
        Pgd {
            name,
            norm,
            eps,
            steps: self.steps,
            step_size: self.step_size * eps,
            random_start: self.random_start,
            restarts: self.restarts,
            early_stop,
            loss,
        }
    }
}

/// BIM parameters (its step size is [`PgdConfig::step_size`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BimConfig {
    /// BIM iterations.
    #[serde(rename = "bim_steps")]
    pub steps: usize,
}

impl Default for BimConfig {
    fn default() -> Self {
        BimConfig { steps: 10 }
    }
}

impl BimConfig {
    /// Checks every parameter's range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        at_least_one("bim_steps", self.steps)
    }

    #[cfg(feature = "tensors")]
    /// BIM at budget `eps` with steps of `step_size`·ε.
    fn attack(&self, eps: f32, step_size: f32, early_stop: bool) -> Bim {
        Bim {
            eps,
            steps: self.steps,
            step_size: step_size * eps,
            early_stop,
        }
    }
}

/// MI-FGSM parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MifgsmConfig {
    /// MI-FGSM iterations (step ε / steps).
    #[serde(rename = "mifgsm_steps")]
    pub steps: usize,
    /// MI-FGSM momentum decay μ.
    #[serde(rename = "mifgsm_decay")]
    pub decay: f32,
}

impl Default for MifgsmConfig {
    fn default() -> Self {
        MifgsmConfig {
            steps: 10,
            decay: 1.0,
        }
    }
}

impl MifgsmConfig {
    /// Checks every parameter's range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        at_least_one("mifgsm_steps", self.steps)?;
        at_least_zero("mifgsm_decay", self.decay)
    }

    #[cfg(feature = "tensors")]
    /// MI-FGSM at budget `eps`.
    fn attack(&self, eps: f32) -> MiFgsm {
        MiFgsm {
            eps,
            steps: self.steps,
            decay: self.decay,
        }
    }
}

/// APGD parameters: APGD-CE, APGD-DLR, APGD-T, and AutoAttack's APGD components.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ApgdConfig {
    /// APGD iterations (APGD-CE, APGD-DLR, APGD-T, and AutoAttack's APGD components).
    #[serde(rename = "apgd_steps")]
    pub steps: usize,
    /// APGD restarts (APGD-T: per target class).
    #[serde(rename = "apgd_restarts")]
    pub restarts: usize,
    /// APGD-T target classes (the 2nd to (n + 1)-th most likely; AutoAttack: 9).
    #[serde(rename = "apgdt_targets")]
    pub targets: usize,
}

impl Default for ApgdConfig {
    fn default() -> Self {
        ApgdConfig {
            steps: 100,
            restarts: 1,
            targets: 9,
        }
    }
}

impl ApgdConfig {
    /// Checks every parameter's range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        at_least_one("apgd_steps", self.steps)?;
        at_least_one("apgd_restarts", self.restarts)?;
        at_least_one("apgdt_targets", self.targets)
    }

    #[cfg(feature = "tensors")]
    /// Untargeted L∞ APGD named `name` on `loss` at budget `eps`.
    fn attack(&self, name: &'static str, loss: LossKind, eps: f32) -> Apgd {
        Apgd {
            name,
            norm: Norm::Linf,
            eps,
            steps: self.steps,
            restarts: self.restarts,
            loss,
        }
    }

    /// APGD-T at budget `eps`.
    #[cfg(feature = "tensors")]
    fn targeted(&self, eps: f32) -> ApgdT {
        ApgdT {
            norm: Norm::Linf,
            eps,
            steps: self.steps,
            restarts: self.restarts,
            targets: self.targets,
        }
    }
}

/// FAB-T parameters (the defaults are AutoAttack's).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FabConfig {
    /// FAB-T iterations per target class and restart (AutoAttack: 100).
    #[serde(rename = "fab_steps")]
    pub steps: usize,
    /// FAB-T restarts per target class (AutoAttack's standard version: 1).
    #[serde(rename = "fab_restarts")]
    pub restarts: usize,
    /// FAB-T target classes (AutoAttack: 9).
    #[serde(rename = "fab_targets")]
    pub targets: usize,
    /// FAB-T largest weight of the clean image's projection, α_max (AutoAttack: 0.1).
    #[serde(rename = "fab_alpha_max")]
    pub alpha_max: f32,
    /// FAB-T overshoot η (AutoAttack: 1.05).
    #[serde(rename = "fab_eta")]
    pub eta: f32,
    /// FAB-T backward step β after a success (AutoAttack: 0.9).
    #[serde(rename = "fab_beta")]
    pub beta: f32,
}

impl Default for FabConfig {
    fn default() -> Self {
        FabConfig {
            steps: 100,
            restarts: 1,
            targets: 9,
            alpha_max: 0.1,
            eta: 1.05,
            beta: 0.9,
        }
    }
}

impl FabConfig {
    /// Checks every parameter's range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        at_least_one("fab_steps", self.steps)?;
        at_least_one("fab_restarts", self.restarts)?;
        at_least_one("fab_targets", self.targets)?;
        positive("fab_alpha_max", self.alpha_max, "in (0, 1]", 1.0)?;
        positive("fab_eta", self.eta, "in (0, 10]", 10.0)?;
        positive("fab_beta", self.beta, "in (0, 1]", 1.0)
    }

    #[cfg(feature = "tensors")]
    /// FAB-T at budget `eps`.
    fn attack(&self, eps: f32) -> FabT {
        FabT {
            eps,
            steps: self.steps,
            restarts: self.restarts,
            targets: self.targets,
            alpha_max: self.alpha_max,
            eta: self.eta,
            beta: self.beta,
        }
    }
}

/// Parameters of the AutoAttack ensemble of its own; its components otherwise take those of
/// [`ApgdConfig`], [`FabConfig`] and [`SquareConfig`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AutoAttackConfig {
    /// Queries of AutoAttack's Square component (AutoAttack: 5000, schedule not rescaled).
    #[serde(rename = "autoattack_square_queries")]
    pub square_queries: usize,
}

impl Default for AutoAttackConfig {
    fn default() -> Self {
        AutoAttackConfig {
            square_queries: 5000,
        }
    }
}

impl AutoAttackConfig {
    /// Checks every parameter's range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        at_least_one("autoattack_square_queries", self.square_queries)
    }

    #[cfg(feature = "tensors")]
    /// The ensemble at budget `eps`, its components built from `apgd`, `fab` and `square`.
    fn attack(
        &self,
        eps: f32,
        apgd: &ApgdConfig,
        fab: &FabConfig,
        square: &SquareConfig,
    ) -> AutoAttack {
        AutoAttack {
            eps,
            apgd_ce: apgd.attack("apgd-ce", LossKind::CrossEntropy, eps),
            apgd_t: apgd.targeted(eps),
            fab_t: fab.attack(eps),
            square: Square {
                queries: self.square_queries,
                rescale_schedule: false,
                ..square.attack(eps)
            },
        }
    }
}

/// Carlini–Wagner L2 parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CwConfig {
    /// CW-L2 Adam iterations per value of c.
    #[serde(rename = "cw_steps")]
    pub steps: usize,
    /// CW-L2 binary-search steps over c.
    #[serde(rename = "cw_search_steps")]
    pub search_steps: usize,
    /// CW-L2 initial c.
    #[serde(rename = "cw_c")]
    pub c: f32,
    /// CW-L2 Adam learning rate.
    #[serde(rename = "cw_lr")]
    pub lr: f32,
    /// CW-L2 confidence κ.
    #[serde(rename = "cw_kappa")]
    pub kappa: f32,
}

impl Default for CwConfig {
    fn default() -> Self {
        CwConfig {
            steps: 100,
            search_steps: 5,
            c: 0.1,
            lr: 0.01,
            kappa: 0.0,
        }
    }
}

impl CwConfig {
    /// Checks every parameter's range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        at_least_one("cw_steps", self.steps)?;
        at_least_one("cw_search_steps", self.search_steps)?;
        positive("cw_c", self.c, "in (0, 1e6]", 1e6)?;
        positive("cw_lr", self.lr, "in (0, 10]", 10.0)?;
        at_least_zero("cw_kappa", self.kappa)
    }

    #[cfg(feature = "tensors")]
    /// CW-L2 at budget `eps`.
    fn attack(&self, eps: f32, early_stop: bool) -> CwL2 {
        CwL2 {
            eps,
            steps: self.steps,
            search_steps: self.search_steps,
            c_init: self.c,
            lr: self.lr,
            kappa: self.kappa,
            early_stop,
        }
    }
}

/// Square attack parameters (the initial fraction and the redraw are the autoattack
/// ensemble's Square's too).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SquareConfig {
    /// Square attack queries per sample.
    #[serde(rename = "square_queries")]
    pub queries: usize,
    /// Square attack initial fraction of pixels per square.
    #[serde(rename = "square_p_init")]
    pub p_init: f32,
    /// Square (and the autoattack ensemble's Square) redraws a window's signs while they would
    /// leave the image unchanged, as the Square paper's code does; off, as in AutoAttack.
    #[serde(rename = "square_redraw")]
    pub redraw: bool,
}

impl Default for SquareConfig {
    fn default() -> Self {
        SquareConfig {
            queries: 500,
            p_init: 0.8,
            redraw: false,
        }
    }
}

impl SquareConfig {
    /// Checks every parameter's range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        at_least_one("square_queries", self.queries)?;
        positive("square_p_init", self.p_init, "in (0, 1]", 1.0)
    }

    #[cfg(feature = "tensors")]
    /// The Square attack at budget `eps`, its schedule rescaled to its queries.
    fn attack(&self, eps: f32) -> Square {
        Square {
            eps,
            queries: self.queries,
            p_init: self.p_init,
            rescale_schedule: true,
            redraw: self.redraw,
        }
    }
}

/// Parameters of every attack, one struct per attack (or family) and the shared ones; the
/// defaults follow the usual CIFAR-10 protocols (docs/attacks.md#pgd-settings): PGD-20 with
/// α = ε/4 (2/255 at ε = 8/255) and a random start.
///
/// Its serialised form (an `--attack-config` file, and the `attack` of a suite's
/// configuration) is one flat object: the per-attack structs' fields sit beside the shared
/// ones under the names of [`AttackConfig::FIELDS`], in that order, and any other key is
/// refused.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AttackConfig {
    /// PGD and PGD-L2 (`steps`, `step_size`, `restarts`, `random_start`).
    #[serde(flatten)]
    pub pgd: PgdConfig,
    /// PGD and BIM stop moving a sample once it is misclassified, later PGD restarts attack only
    /// the samples no earlier restart broke, and CW-L2 stops a sample at its first adversarial
    /// point inside the ε-ball; robust accuracy is the same either way.
    pub early_stop: bool,
    /// BIM (`bim_steps`).
    #[serde(flatten)]
    pub bim: BimConfig,
    /// MI-FGSM (`mifgsm_steps`, `mifgsm_decay`).
    #[serde(flatten)]
    pub mifgsm: MifgsmConfig,
    /// APGD-CE, APGD-DLR and APGD-T (`apgd_steps`, `apgd_restarts`, `apgdt_targets`).
    #[serde(flatten)]
    pub apgd: ApgdConfig,
    /// FAB-T (`fab_steps`, `fab_restarts`, `fab_targets`, `fab_alpha_max`, `fab_eta`,
    /// `fab_beta`).
    #[serde(flatten)]
    pub fab: FabConfig,
    /// The autoattack ensemble (`autoattack_square_queries`).
    #[serde(flatten)]
    pub autoattack: AutoAttackConfig,
    /// CW-L2 (`cw_steps`, `cw_search_steps`, `cw_c`, `cw_lr`, `cw_kappa`).
    #[serde(flatten)]
    pub cw: CwConfig,
    /// Square (`square_queries`, `square_p_init`, `square_redraw`).
    #[serde(flatten)]
    pub square: SquareConfig,
    /// Untargeted, or the target choice for targeted attacks.
    pub target: Target,
}

impl Default for AttackConfig {
    fn default() -> Self {
        AttackConfig {
            pgd: PgdConfig::default(),
            early_stop: true,
            bim: BimConfig::default(),
            mifgsm: MifgsmConfig::default(),
            apgd: ApgdConfig::default(),
            fab: FabConfig::default(),
            autoattack: AutoAttackConfig::default(),
            cw: CwConfig::default(),
            square: SquareConfig::default(),
            target: Target::Untargeted,
        }
    }
}

/// Reads the flat form, refusing any key that no field takes (serde's `deny_unknown_fields`
/// does not combine with `flatten`): the per-attack structs take their keys first, and a key
/// left over is serde's unknown-field error, naming it and every accepted name
/// ([`AttackConfig::FIELDS`]).
impl<'de> Deserialize<'de> for AttackConfig {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        /// [`AttackConfig`]'s fields, in its order, and then the keys none of them took.
        #[derive(Deserialize)]
        struct Wire {
            #[serde(flatten)]
            pgd: PgdConfig,
            #[serde(default = "early_stop_default")]
            early_stop: bool,
            #[serde(flatten)]
            bim: BimConfig,
            #[serde(flatten)]
            mifgsm: MifgsmConfig,
            #[serde(flatten)]
            apgd: ApgdConfig,
            #[serde(flatten)]
            fab: FabConfig,
            #[serde(flatten)]
            autoattack: AutoAttackConfig,
            #[serde(flatten)]
            cw: CwConfig,
            #[serde(flatten)]
            square: SquareConfig,
            #[serde(default)]
            target: Target,
            /// Last, so that it sees only the keys the fields above left.
            #[serde(flatten)]
            _rest: NoOtherKeys,
        }
        fn early_stop_default() -> bool {
            AttackConfig::default().early_stop
        }
        let Wire {
            pgd,
            early_stop,
            bim,
            mifgsm,
            apgd,
            fab,
            autoattack,
            cw,
            square,
            target,
            _rest: NoOtherKeys,
        } = Wire::deserialize(deserializer)?;
        Ok(AttackConfig {
            pgd,
            early_stop,
            bim,
            mifgsm,
            apgd,
            fab,
            autoattack,
            cw,
            square,
            target,
        })
    }
}

/// The keys of a serialised [`AttackConfig`] that none of its fields took: reads only an empty
/// map, and refuses its first key with serde's unknown-field error.
struct NoOtherKeys;

impl<'de> Deserialize<'de> for NoOtherKeys {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Refuse;
        impl<'de> serde::de::Visitor<'de> for Refuse {
            type Value = NoOtherKeys;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("no keys besides the attack parameters")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<NoOtherKeys, A::Error> {
                match map.next_key::<String>()? {
                    Some(key) => Err(serde::de::Error::unknown_field(
                        &key,
                        &AttackConfig::FIELD_NAMES,
                    )),
                    None => Ok(NoOtherKeys),
                }
            }
        }
        deserializer.deserialize_map(Refuse)
    }
}

fn at_least_one(name: &'static str, v: usize) -> Result<(), ConfigError> {
    if v == 0 {
        return Err(ConfigError::Param {
            name,
            value: 0.0,
            expected: "at least 1",
        });
    }
    Ok(())
}

fn positive(
    name: &'static str,
    v: f32,
    expected: &'static str,
    max: f32,
) -> Result<(), ConfigError> {
    if !(v.is_finite() && v > 0.0 && v <= max) {
        return Err(ConfigError::Param {
            name,
            value: f64::from(v),
            expected,
        });
    }
    Ok(())
}

fn at_least_zero(name: &'static str, v: f32) -> Result<(), ConfigError> {
    if !(v.is_finite() && v >= 0.0) {
        return Err(ConfigError::Param {
            name,
            value: f64::from(v),
            expected: "0 or more",
        });
    }
    Ok(())
}

impl AttackConfig {
    /// The steps (iterations, or queries for Square) that `kind` takes per sample under these
    /// parameters, as results record them; `None` for AutoAttack, an ensemble of attacks of
    /// different lengths.
    pub fn steps_of(&self, kind: AttackKind) -> Option<usize> {
        match kind {
            AttackKind::Pgd | AttackKind::PgdL2 => Some(self.pgd.steps),
            AttackKind::Bim => Some(self.bim.steps),
            AttackKind::Mifgsm => Some(self.mifgsm.steps),
            AttackKind::ApgdCe | AttackKind::ApgdDlr | AttackKind::ApgdT => Some(self.apgd.steps),
            AttackKind::CwL2 => Some(self.cw.steps * self.cw.search_steps),
            AttackKind::Square => Some(self.square.queries),
            AttackKind::Fgsm => Some(1),
            AttackKind::FabT => Some(self.fab.steps),
            AttackKind::AutoAttack => None,
        }
    }
}

impl AttackConfig {
    /// Every key of the flat serialised form, in the order serde writes them (the per-attack
    /// structs' fields under their renamed keys), with what it sets: the listing of `dcrobust
    /// attacks`, the fields an `--attack-config` JSON file may hold, and the names the
    /// unknown-field error lists (a test checks that it names exactly the serialised fields).
    pub const FIELDS: &'static [(&'static str, &'static str)] = &[
        ("steps", "PGD and PGD-L2 iterations"),
        (
            "step_size",
            "PGD, PGD-L2 and BIM step size, as a fraction of eps",
        ),
        (
            "restarts",
            "PGD and PGD-L2 restarts (each sample keeps its worst case)",
        ),
        (
            "random_start",
            "PGD and PGD-L2 start at a random point of the eps-ball",
        ),
        (
            "early_stop",
            "PGD and BIM stop moving a sample once it is misclassified; later PGD restarts attack only the samples still standing; CW-L2 stops a sample at its first adversarial point in the eps-ball (off: CW-L2 keeps searching for the smallest)",
        ),
        ("bim_steps", "BIM iterations"),
        ("mifgsm_steps", "MI-FGSM iterations (step eps / steps)"),
        ("mifgsm_decay", "MI-FGSM momentum decay"),
        ("apgd_steps", "APGD iterations"),
        ("apgd_restarts", "APGD restarts"),
        (
            "apgdt_targets",
            "APGD-T target classes (the highest-scoring wrong ones)",
        ),
        ("fab_steps", "FAB-T iterations per target class and restart"),
        ("fab_restarts", "FAB-T restarts per target class"),
        ("fab_targets", "FAB-T target classes"),
        (
            "fab_alpha_max",
            "FAB-T largest weight of the clean image's projection",
        ),
        ("fab_eta", "FAB-T overshoot"),
        ("fab_beta", "FAB-T backward step after a success"),
        (
            "autoattack_square_queries",
            "queries of the autoattack ensemble's Square component",
        ),
        ("cw_steps", "CW-L2 Adam iterations per value of c"),
        ("cw_search_steps", "CW-L2 binary-search steps over c"),
        ("cw_c", "CW-L2 initial c"),
        ("cw_lr", "CW-L2 Adam learning rate"),
        ("cw_kappa", "CW-L2 confidence kappa"),
        ("square_queries", "Square attack queries per image"),
        (
            "square_p_init",
            "Square attack initial fraction of pixels per square",
        ),
        (
            "square_redraw",
            "Square redraws a window's signs until the image changes (the paper's code; AutoAttack does not)",
        ),
        (
            "target",
            "untargeted, random or least-likely (targeted attacks' target class)",
        ),
    ];

    /// The names of [`AttackConfig::FIELDS`]: every key the serialised form takes.
    const FIELD_NAMES: [&'static str; AttackConfig::FIELDS.len()] = {
        let mut names = [""; AttackConfig::FIELDS.len()];
        let mut i = 0;
        while i < names.len() {
            names[i] = Self::FIELDS[i].0;
            i += 1;
        }
        names
    };

    /// Checks every parameter's range, attack by attack.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.pgd.validate()?;
        self.bim.validate()?;
        self.mifgsm.validate()?;
        self.apgd.validate()?;
        self.fab.validate()?;
        self.autoattack.validate()?;
        self.cw.validate()?;
        self.square.validate()
    }

    /// Checks `eps` for `kind`: L∞ budgets lie in [0, 1] (the pixel range), L2 budgets are
    /// finite and non-negative.
    pub fn check_eps(kind: AttackKind, eps: f64) -> Result<(), ConfigError> {
        let (ok, expected) = match kind.norm() {
            Norm::Linf => (
                (0.0..=1.0).contains(&eps),
                "0 to 1 (pixel values in [0, 1])",
            ),
            Norm::L2 => (eps.is_finite() && eps >= 0.0, "a finite value of 0 or more"),
        };
        if ok {
            Ok(())
        } else {
            Err(ConfigError::Eps {
                attack: kind.name(),
                eps,
                expected,
            })
        }
    }

    /// Builds `kind` with budget `eps`, from its own parameters (and the shared `early_stop`).
    #[cfg(feature = "tensors")]
    pub fn build(&self, kind: AttackKind, eps: f64) -> Result<Box<dyn Attack>, ConfigError> {
        self.validate()?;
        Self::check_eps(kind, eps)?;
        if kind.picks_targets() && self.target != Target::Untargeted {
            return Err(ConfigError::PicksTargets(kind.name()));
        }
        let eps = eps as f32;
        let early_stop = self.early_stop;
        Ok(match kind {
            AttackKind::Fgsm => Box::new(Fgsm { eps }),
            AttackKind::Bim => Box::new(self.bim.attack(eps, self.pgd.step_size, early_stop)),
            AttackKind::Pgd => Box::new(self.pgd.attack(
                "pgd",
                Norm::Linf,
                LossKind::CrossEntropy,
                eps,
                early_stop,
            )),
            AttackKind::PgdL2 => Box::new(self.pgd.attack(
                "pgd-l2",
                Norm::L2,
                LossKind::CrossEntropy,
                eps,
                early_stop,
            )),
            AttackKind::Mifgsm => Box::new(self.mifgsm.attack(eps)),
            AttackKind::ApgdCe => {
                Box::new(self.apgd.attack(kind.name(), LossKind::CrossEntropy, eps))
            }
            AttackKind::ApgdDlr => Box::new(self.apgd.attack(kind.name(), LossKind::Dlr, eps)),
            AttackKind::CwL2 => Box::new(self.cw.attack(eps, early_stop)),
            AttackKind::Square => Box::new(self.square.attack(eps)),
            AttackKind::ApgdT => Box::new(self.apgd.targeted(eps)),
            AttackKind::FabT => Box::new(self.fab.attack(eps)),
            AttackKind::AutoAttack => Box::new(self.autoattack(eps)),
        })
    }

    /// The AutoAttack ensemble with these parameters at budget `eps` (the defaults are
    /// AutoAttack's standard version, [`AutoAttack::standard`]).
    #[cfg(feature = "tensors")]
    pub(crate) fn autoattack(&self, eps: f32) -> AutoAttack {
        self.autoattack
            .attack(eps, &self.apgd, &self.fab, &self.square)
    }
}
