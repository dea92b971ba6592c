//! The report's decisions, apart from its HTML: which model is the baseline, the plain
//! sentences comparing each model with it, and the tally of the gradient-masking checks behind
//! the trust line. Everything here returns plain text or numbers; the renderer only lays them
//! out (and escapes them).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::headline::cell_at;
use crate::html::{attack_name, eps as fmt_eps, pct, pct_value};
use crate::paper;
use crate::stats::wilson;
use crate::{
    AdversarialSummary, AttackCell, AttackId, AttackKind, Check, CheckStatus, CorruptionSummary,
    ModelAdversarial, ModelCorruption, ModelOrigin, Norm, RunInfo,
};

/// Robust accuracy at or below which the verdict says a model "falls near zero".
const NEAR_ZERO: f64 = 0.05;

/// Best clean accuracy below which the verdict adds a caution about weakly trained models.
const WEAK_CLEAN: f64 = 0.5;

/// Which models are baselines and which baseline each model is compared with: the one rule
/// every verdict uses.
///
/// A baseline is one of dcrobust's networks with ordinary convolutions, whatever its name: the
/// suite records it from the model's operator in [`RunInfo::origins`]
/// ([`ModelOrigin::baseline`]; external models never are). A model is compared with the first
/// baseline trained the same way (equal [`ModelOrigin::adversarial_training`]: `cnn9-tanh-cosine-fgsm`
/// with `cnn9-baseline-fgsm`), else with the run's baseline. Results written before the suites
/// recorded this name it instead: a baseline's name contains `baseline` (any case), and a model
/// pairs with the baseline whose non-empty suffix after `baseline` ends its own name, the
/// longest such suffix first.
struct Roles<'a> {
    origins: &'a [ModelOrigin],
}

impl<'a> Roles<'a> {
    /// The roles a run's results record.
    fn of(run: &'a RunInfo) -> Self {
        Roles {
            origins: &run.origins,
        }
    }

    /// The recorded origin of `name`, when it says whether the model is a baseline.
    fn recorded(&self, name: &str) -> Option<&'a ModelOrigin> {
        self.origins
            .iter()
            .find(|o| o.model == name && o.baseline.is_some())
    }

    /// Whether the model `name` is a baseline.
    fn is_baseline(&self, name: &str) -> bool {
        match self.recorded(name) {
            Some(o) => o.baseline == Some(true),
            None => baseline_suffix(name).is_some(),
        }
    }

    /// The run's baseline among `names`: the model named `preferred` if there is one, else the
    /// first baseline, else the first model.
    fn index<'n>(
        &self,
        names: impl Iterator<Item = &'n str> + Clone,
        preferred: Option<&str>,
    ) -> usize {
        if let Some(pref) = preferred {
            if let Some(i) = names.clone().position(|n| n == pref) {
                return i;
            }
        }
        names.clone().position(|n| self.is_baseline(n)).unwrap_or(0)
    }

    /// The baseline that `name` is compared with among `models` (`default`: the run's
    /// baseline); `model_name` reads a model's name, so that both suites' summaries pair the
    /// same way (the corruption verdict's pairing; CE and mCE keep the run's one CE baseline).
    fn paired<'m, M>(
        &self,
        models: &'m [M],
        default: &'m M,
        name: &str,
        model_name: impl Fn(&M) -> &str,
    ) -> &'m M {
        if let Some(origin) = self.recorded(name) {
            return models
                .iter()
                .find(|b| {
                    let b = model_name(b);
                    self.is_baseline(b)
                        && self
                            .recorded(b)
                            .is_some_and(|o| o.adversarial_training == origin.adversarial_training)
                })
                .unwrap_or(default);
        }
        models
            .iter()
            .filter_map(|b| {
                let suffix = baseline_suffix(model_name(b))?;
                (!suffix.is_empty() && name.ends_with(suffix)).then_some((suffix.len(), b))
            })
            .max_by_key(|(len, _)| *len)
            .map_or(default, |(_, b)| b)
    }
}

/// The adversarial run's baseline (see [`Roles`]); `None` without models.
pub(crate) fn adversarial_baseline(s: &AdversarialSummary) -> Option<&ModelAdversarial> {
    s.models
        .get(Roles::of(&s.run).index(s.models.iter().map(|m| m.model.as_str()), None))
}

/// What follows the last `baseline` in a name (any case): `-fgsm` for `cnn9-baseline-fgsm`,
/// empty for `cnn9-baseline`; `None` for a name without `baseline`. The rule of results that
/// predate [`ModelOrigin::baseline`].
fn baseline_suffix(name: &str) -> Option<&str> {
    let at = name.to_ascii_lowercase().rfind("baseline")?;
    Some(&name[at + "baseline".len()..])
}

/// The corruption run's baseline: the summary's CE baseline where it names a model, else the
/// run's first baseline (see [`Roles`]), else the first model; `None` without models.
pub(crate) fn corruption_baseline(s: &CorruptionSummary) -> Option<&ModelCorruption> {
    s.models.get(Roles::of(&s.run).index(
        s.models.iter().map(|m| m.model.as_str()),
        s.baseline.as_deref(),
    ))
}

/// The CE baseline as the page names it: the summary's, else the baseline model's name, else
/// `none`.
pub(crate) fn ce_baseline_name(s: &CorruptionSummary) -> &str {
    s.baseline
        .as_deref()
        .or(corruption_baseline(s).map(|m| m.model.as_str()))
        .unwrap_or("none")
}

/// The attacks the adversarial verdict quotes at budget `e`, both evaluated on the baseline `b`:
/// the weak one (FGSM, the paper's one-step attack, else the first attack any model ran) and a
/// different, strong one (the first of the summary's [`AdversarialSummary::strong_attacks`]:
/// the worst case over the run's attacks, then the registry's strong attacks).
fn verdict_attacks(
    s: &AdversarialSummary,
    b: &ModelAdversarial,
    e: f64,
) -> (Option<AttackId>, Option<AttackId>) {
    let weak = std::iter::once(AttackId::Registry(AttackKind::Fgsm))
        .chain(
            s.models
                .iter()
                .flat_map(|m| m.cells.iter().map(|c| c.attack)),
        )
        .find(|a| cell_at(b, *a, e).is_some());
    let strong = s
        .strong_attacks
        .iter()
        .copied()
        .find(|a| Some(*a) != weak && cell_at(b, *a, e).is_some());
    (weak, strong)
}

/// Plain sentences comparing each non-baseline model with its baseline (see
/// [`Roles::paired`]: FGSM-trained models with the FGSM-trained baseline, or the sound baseline
/// that stands in for it when it is degenerate, as in the conclusion, [`fair_baseline`]) at the
/// headline L∞ budget (clean, weak and strong attack, transfer from that baseline), then a
/// caution when the best clean accuracy is below 50 %. Empty with fewer than two models.
pub(crate) fn adversarial_verdict(s: &AdversarialSummary) -> Vec<String> {
    let mut out = Vec::new();
    if s.models.len() < 2 {
        return out;
    }
    let Some(default) = adversarial_baseline(s) else {
        return out;
    };
    let e = s.headline_linf;
    for m in &s.models {
        let paired = Roles::of(&s.run).paired(&s.models, default, &m.model, |x| &x.model);
        if paired.model == m.model {
            continue;
        }
        let (weak, strong) = verdict_attacks(s, paired, e);
        let (b, replaced) = match strong.or(weak) {
            Some(attack) => fair_baseline(s, paired, attack, e),
            None => (paired, None),
        };
        let (weak, strong) = verdict_attacks(s, b, e);
        let stand_in = match &replaced {
            Some((name, _)) if name != &b.model => {
                format!(", standing in for the degenerate {name}")
            }
            _ => String::new(),
        };
        let mut line = format!(
            "{} (clean {}) vs the baseline {} (clean {}{stand_in})",
            m.model,
            pct(m.clean_accuracy),
            b.model,
            pct(b.clean_accuracy)
        );
        if let Some(w) = weak {
            if let (Some(cm), Some(cb)) = (cell_at(m, w, e), cell_at(b, w, e)) {
                let _ = write!(
                    line,
                    ": keeps {} under {} at ε = {} vs {} for the baseline",
                    pct(cm.accuracy),
                    attack_name(w),
                    fmt_eps(e, cm.norm),
                    pct(cb.accuracy)
                );
            }
        }
        if let Some(st) = strong {
            if let (Some(cm), Some(cb)) = (cell_at(m, st, e), cell_at(b, st, e)) {
                if cm.accuracy <= NEAR_ZERO && cb.accuracy <= NEAR_ZERO {
                    let _ = write!(
                        line,
                        "; under {} both fall near zero ({} vs {})",
                        attack_name(st),
                        pct(cm.accuracy),
                        pct(cb.accuracy)
                    );
                } else {
                    let _ = write!(
                        line,
                        "; under {} it keeps {} vs {}",
                        attack_name(st),
                        pct(cm.accuracy),
                        pct(cb.accuracy)
                    );
                }
            }
        }
        if let Some(t) = s.transfer.iter().find(|t| {
            t.target == m.model
                && t.source == b.model
                && Some(t.attack) == weak
                && (t.eps - e).abs() <= 1e-9
        }) {
            let _ = write!(
                line,
                "; {} examples crafted on the baseline leave it {}",
                attack_name(t.attack),
                pct(t.accuracy)
            );
        }
        line.push_str(&refusal(&m.model, &m.checks, &b.model, &b.checks));
        line.push('.');
        out.push(line);
    }
    let best_clean = s
        .models
        .iter()
        .map(|m| m.clean_accuracy)
        .fold(0.0, f64::max);
    if best_clean < WEAK_CLEAN
        && paper::applies(&s.run.classes, s.models.iter().map(|m| m.model.as_str()))
    {
        out.push(format!(
            "Caution: the best clean accuracy is {}, far below the paper's 85–91%; robustness \
             numbers of such weakly trained models say little about the paper's claim.",
            pct(best_clean)
        ));
    }
    out
}

/// `A% [lo–hi]`: an accuracy with its 95 % Wilson interval on `n` images.
fn with_ci(acc: f64, n: usize) -> String {
    let (lo, hi) = wilson(acc, n);
    format!("{} [{:.1}–{:.1}]", pct(acc), 100.0 * lo, 100.0 * hi)
}

/// Whether accuracy `a` on `na` images is above `b` on `nb` with non-overlapping 95 % Wilson
/// intervals (a conservative test of a real difference).
fn clearly_above(a: f64, na: usize, b: f64, nb: usize) -> bool {
    wilson(a, na).0 > wilson(b, nb).1
}

/// The sentence that replaces a conclusion when `model` or its baseline fails checks; `None`
/// when neither does.
fn no_conclusion(
    model: &str,
    checks: &[Check],
    baseline: &str,
    baseline_checks: &[Check],
) -> Option<String> {
    let failed: Vec<&str> = failed_names(checks)
        .into_iter()
        .chain(failed_names(baseline_checks))
        .collect();
    (!failed.is_empty()).then(|| {
        format!(
            "No conclusion for {model} against {baseline}: checks fail ({}).",
            failed.join(", ")
        )
    })
}

/// Attack `a`'s cells at budget `e` on model `m` and baseline `b`, when both have one.
fn pair_cells<'a>(
    m: &'a ModelAdversarial,
    b: &'a ModelAdversarial,
    a: Option<AttackId>,
    e: f64,
) -> Option<(AttackId, &'a AttackCell, &'a AttackCell)> {
    let a = a?;
    Some((a, cell_at(m, a, e)?, cell_at(b, a, e)?))
}

/// The check whose warning marks single-step adversarial training's catastrophic overfitting
/// (FGSM blind where a multi-step attack breaks most images; Wong et al. 2020). A baseline that
/// raises it is no fair comparison: the suite's checks name it with this constant.
pub const CATASTROPHIC_OVERFITTING: &str = "fgsm-agrees-with-multi-step";

/// Why `m` is no fair baseline: the checks it fails, or the catastrophic-overfitting warning;
/// `None` for a sound one.
pub(crate) fn degenerate_reason(m: &ModelAdversarial) -> Option<String> {
    let failed = failed_names(&m.checks);
    if !failed.is_empty() {
        return Some(format!("fails {}", failed.join(", ")));
    }
    m.checks
        .iter()
        .any(|c| c.name == CATASTROPHIC_OVERFITTING && c.status == CheckStatus::Warn)
        .then(|| format!("warns {CATASTROPHIC_OVERFITTING}: catastrophic overfitting"))
}

/// The 95 % interval of a difference of two accuracies `a − b`, measured on `na` and `nb`
/// images: Newcombe's hybrid score interval (Newcombe 1998, method 10), built from the two
/// Wilson intervals `(la, ua)`, `(lb, ub)`: `d − sqrt((a − la)² + (ub − b)²)` to
/// `d + sqrt((ua − a)² + (b − lb)²)`. Returns `(d, lo, hi)`.
pub(crate) fn difference_interval(a: f64, na: usize, b: f64, nb: usize) -> (f64, f64, f64) {
    let ((la, ua), (lb, ub)) = (wilson(a, na), wilson(b, nb));
    let d = a - b;
    (
        d,
        d - ((a - la).powi(2) + (ub - b).powi(2)).sqrt(),
        d + ((ua - a).powi(2) + (b - lb).powi(2)).sqrt(),
    )
}

/// What one row of the conclusion says about a model against its baseline.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum RowVerdict {
    /// The robust-accuracy difference's 95 % interval lies above 0.
    MoreRobust,
    /// It lies below 0.
    LessRobust,
    /// It contains 0.
    NoClearDifference,
    /// The model or the baseline fails checks (named), so its numbers say nothing.
    NoConclusion(Vec<String>),
}

impl RowVerdict {
    /// The verdict as the table prints it.
    pub(crate) fn label(&self) -> String {
        match self {
            RowVerdict::MoreRobust => "more robust".into(),
            RowVerdict::LessRobust => "less robust".into(),
            RowVerdict::NoClearDifference => "no clear difference".into(),
            RowVerdict::NoConclusion(f) => format!("no conclusion: checks fail ({})", f.join(", ")),
        }
    }
}

/// One row of the adversarial conclusion: a non-baseline model against the baseline it is
/// compared with, at the headline L∞ budget.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ConclusionRow {
    /// The model.
    pub(crate) model: String,
    /// The baseline it is compared with.
    pub(crate) baseline: String,
    /// The baseline trained the same way, when it is degenerate and `baseline` stands in for
    /// it: `(name, reason)`.
    pub(crate) replaced: Option<(String, String)>,
    /// Clean accuracy, model minus baseline.
    pub(crate) delta_clean: f64,
    /// The attack the robust accuracies are measured under (the strong one when run).
    pub(crate) attack: AttackId,
    /// Robust accuracy, model minus baseline, with its 95 % interval: `(d, lo, hi)`.
    pub(crate) delta_robust: (f64, f64, f64),
    /// The verdict.
    pub(crate) verdict: RowVerdict,
}

impl ConclusionRow {
    /// The baseline as the table names it: `B (stands in for D)` where `B` replaces the
    /// degenerate `D`, `B (degenerate)` where no sound baseline could, else `B`.
    pub(crate) fn baseline_label(&self) -> String {
        match &self.replaced {
            Some((name, _)) if name != &self.baseline => {
                format!("{} (stands in for {name})", self.baseline)
            }
            Some(_) => format!("{} (degenerate)", self.baseline),
            None => self.baseline.clone(),
        }
    }
}

/// The adversarial run's conclusion: one row per non-baseline model, one sentence, and how far
/// to trust it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Conclusion {
    /// The comparisons, in the run's model order.
    pub(crate) rows: Vec<ConclusionRow>,
    /// The answer in one sentence.
    pub(crate) sentence: String,
    /// Checks, images and clean accuracy against the paper.
    pub(crate) trust: String,
}

/// The baseline `m` is compared with under `attack` at `e`: the baseline trained the same way
/// (see [`Roles::paired`]) unless it is degenerate ([`degenerate_reason`]); then the sound
/// baseline with the highest accuracy under `attack` at `e`, if any, with the replaced one and
/// why. A degenerate baseline with no sound one to stand in stays, named as degenerate.
fn fair_baseline<'a>(
    s: &'a AdversarialSummary,
    paired: &'a ModelAdversarial,
    attack: AttackId,
    e: f64,
) -> (&'a ModelAdversarial, Option<(String, String)>) {
    let Some(reason) = degenerate_reason(paired) else {
        return (paired, None);
    };
    let best = s
        .models
        .iter()
        .filter(|b| Roles::of(&s.run).is_baseline(&b.model) && degenerate_reason(b).is_none())
        .filter_map(|b| Some((cell_at(b, attack, e)?.accuracy, b)))
        .max_by(|x, y| x.0.total_cmp(&y.0));
    match best {
        Some((_, b)) => (b, Some((paired.model.clone(), reason))),
        None => (paired, Some((paired.model.clone(), reason))),
    }
}

/// The adversarial run's conclusion (see [`Conclusion`]): for each model compared with its
/// baseline (see [`Roles::paired`], and [`fair_baseline`] for a degenerate one), the
/// difference in clean accuracy and in robust accuracy at the headline L∞ budget under the
/// strong (multi-step) attack, else the weak one, with the difference's 95 % interval
/// ([`difference_interval`]); "more robust" needs the interval above 0 and passing checks.
/// Then one sentence that counts the verdicts and names a degenerate baseline, and how far to
/// trust it: the checks, clean accuracy against the paper (CIFAR-10 runs of the paper's
/// models), and the number of images. `None` with fewer than two models.
pub(crate) fn adversarial_conclusion(s: &AdversarialSummary) -> Option<Conclusion> {
    if s.models.len() < 2 {
        return None;
    }
    let default = adversarial_baseline(s)?;
    let e = s.headline_linf;
    let mut rows = Vec::new();
    let mut one_step_only = false;
    for m in &s.models {
        let paired = Roles::of(&s.run).paired(&s.models, default, &m.model, |x| &x.model);
        if paired.model == m.model || Roles::of(&s.run).is_baseline(&m.model) {
            continue;
        }
        let (weak, strong) = verdict_attacks(s, paired, e);
        let Some(attack) = strong.or(weak) else {
            continue;
        };
        let (b, replaced) = fair_baseline(s, paired, attack, e);
        let Some((a, cm, cb)) = pair_cells(m, b, Some(attack), e) else {
            continue;
        };
        one_step_only |= strong.is_none() && attack == AttackKind::Fgsm;
        let delta_robust = difference_interval(cm.accuracy, cm.images, cb.accuracy, cb.images);
        let failed: Vec<String> = failed_names(&m.checks)
            .into_iter()
            .chain(failed_names(&b.checks))
            .map(String::from)
            .collect();
        let verdict = if !failed.is_empty() {
            RowVerdict::NoConclusion(failed)
        } else if delta_robust.1 > 0.0 {
            RowVerdict::MoreRobust
        } else if delta_robust.2 < 0.0 {
            RowVerdict::LessRobust
        } else {
            RowVerdict::NoClearDifference
        };
        rows.push(ConclusionRow {
            model: m.model.clone(),
            baseline: b.model.clone(),
            replaced,
            delta_clean: m.clean_accuracy - b.clean_accuracy,
            attack: a,
            delta_robust,
            verdict,
        });
    }
    if rows.is_empty() {
        return None;
    }
    let sentence = conclusion_sentence(&rows, e, one_step_only);
    let t = tally_checks(s);
    let mut trust = format!(
        "How far to trust this: {} of {} checks pass ({} warn, {} fail); {} test images per \
         cell, so each difference is known to within the bracketed 95 % interval",
        t.pass,
        t.total(),
        t.warn,
        t.fail,
        s.run.images
    );
    if paper::applies(&s.run.classes, s.models.iter().map(|m| m.model.as_str())) {
        let clean: Vec<String> = s
            .models
            .iter()
            .filter_map(|m| {
                let col = paper::operator_column(&m.model)?;
                let paper = paper::lookup(
                    &paper::TABLE7_WHITE_BOX,
                    col,
                    "None",
                    m.adversarial_training.as_deref(),
                )?;
                Some(format!(
                    "{} {} (paper {paper:.2}%)",
                    m.model,
                    pct(m.clean_accuracy)
                ))
            })
            .collect();
        let _ = write!(trust, "; clean accuracy {}", clean.join(", "));
    }
    trust.push('.');
    Some(Conclusion {
        rows,
        sentence,
        trust,
    })
}

/// The conclusion's one sentence: how many models are more robust, less robust or not clearly
/// different under the attack(s) of `rows` at `e`, the range of their clean-accuracy
/// differences, and each degenerate baseline that another stands in for.
fn conclusion_sentence(rows: &[ConclusionRow], e: f64, one_step_only: bool) -> String {
    let count = |v: &RowVerdict| rows.iter().filter(|r| &r.verdict == v).count();
    let undecided = rows
        .iter()
        .filter(|r| matches!(r.verdict, RowVerdict::NoConclusion(_)))
        .count();
    let mut attacks: Vec<String> = Vec::new();
    for r in rows {
        let a = attack_name(r.attack);
        if !attacks.contains(&a) {
            attacks.push(a);
        }
    }
    let (lo, hi) = rows
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), r| {
            (l.min(r.delta_clean), h.max(r.delta_clean))
        });
    let clean = if (hi - lo).abs() < 5e-4 {
        format!("{:+.1} points", 100.0 * lo)
    } else {
        format!("{:+.1} to {:+.1} points", 100.0 * lo, 100.0 * hi)
    };
    let mut out = format!(
        "Under {} at ε = {}, {} of {} models {} more robust than their baseline, {} less robust \
         and {} without a clear difference{}, at {clean} of clean accuracy",
        attacks.join(" / "),
        fmt_eps(e, Norm::Linf),
        count(&RowVerdict::MoreRobust),
        rows.len(),
        if count(&RowVerdict::MoreRobust) == 1 {
            "is"
        } else {
            "are"
        },
        count(&RowVerdict::LessRobust),
        count(&RowVerdict::NoClearDifference),
        if undecided > 0 {
            format!(" ({undecided} without a conclusion: checks fail)")
        } else {
            String::new()
        }
    );
    let mut replaced: Vec<String> = Vec::new();
    for line in rows.iter().filter_map(|r| {
        let (name, why) = r.replaced.as_ref()?;
        Some(if &r.baseline == name {
            format!("{name} is a degenerate baseline ({why}) and no sound one stands in")
        } else {
            format!(
                "{name} is a degenerate baseline ({why}), so {} stands in for it",
                r.baseline
            )
        })
    }) {
        if !replaced.contains(&line) {
            replaced.push(line);
        }
    }
    for r in replaced {
        let _ = write!(out, "; {r}");
    }
    if one_step_only {
        out.push_str("; no multi-step attack was run, and one-step attacks overstate robustness");
    }
    out.push('.');
    out
}

/// The corruption run's conclusion, one paragraph: for each model against its baseline (see
/// [`Roles::paired`]: FGSM-trained models with the FGSM-trained baseline), whether its mean
/// corruption accuracy is higher with non-overlapping 95 % intervals (over the images of one
/// cell, a conservative bound for the mean over cells), and its mCE against the run's CE
/// baseline; then the checks and the number of images. `None` with fewer than two models.
pub(crate) fn corruption_conclusion(s: &CorruptionSummary) -> Option<String> {
    if s.models.len() < 2 {
        return None;
    }
    let default = corruption_baseline(s)?;
    let ce = ce_baseline_name(s);
    let n = s.run.images;
    let mut parts = Vec::new();
    for m in &s.models {
        let b = Roles::of(&s.run).paired(&s.models, default, &m.model, |x| &x.model);
        if b.model == m.model {
            continue;
        }
        if let Some(no) = no_conclusion(&m.model, &m.checks, &b.model, &b.checks) {
            parts.push(no);
            continue;
        }
        let (Some(am), Some(ab)) = (m.mean_corruption_accuracy, b.mean_corruption_accuracy) else {
            continue;
        };
        let above = clearly_above(am, n, ab, n);
        let mut sentence = format!(
            "{} is {} to corruptions than {}: mean corruption accuracy {} vs {}",
            m.model,
            if above {
                "more robust"
            } else {
                "not clearly more robust"
            },
            b.model,
            with_ci(am, n),
            with_ci(ab, n)
        );
        if m.mce.is_some() {
            let _ = write!(sentence, ", mCE {} ({ce} 100%)", pct_value(m.mce));
        }
        sentence.push('.');
        parts.push(sentence);
    }
    if parts.is_empty() {
        return None;
    }
    let t = tally(
        s.models
            .iter()
            .map(|m| (m.model.as_str(), m.checks.as_slice())),
    );
    parts.push(format!(
        "How far to trust this: {} of {} model checks pass ({} fail); {n} test images per cell.",
        t.pass,
        t.total(),
        t.fail
    ));
    Some(parts.join(" "))
}

/// The gradient-masking checks of a run, counted by status; the warned and failed checks by
/// name (in name order), each with the models (in model order) that raised it.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct CheckTally {
    /// Checks that passed.
    pub(crate) pass: usize,
    /// Checks that warned.
    pub(crate) warn: usize,
    /// Checks that failed.
    pub(crate) fail: usize,
    /// Check name → models that warned on it.
    pub(crate) warned: BTreeMap<String, Vec<String>>,
    /// Check name → models that failed it.
    pub(crate) failed: BTreeMap<String, Vec<String>>,
}

impl CheckTally {
    /// Checks recorded, whatever their status.
    pub(crate) fn total(&self) -> usize {
        self.pass + self.warn + self.fail
    }
}

/// Counts every model's gradient-masking checks.
pub(crate) fn tally_checks(s: &AdversarialSummary) -> CheckTally {
    tally(
        s.models
            .iter()
            .map(|m| (m.model.as_str(), m.checks.as_slice())),
    )
}

/// Counts the checks of `(model, checks)` pairs, in the order given.
fn tally<'a>(models: impl Iterator<Item = (&'a str, &'a [Check])>) -> CheckTally {
    let mut t = CheckTally::default();
    for (model, checks) in models {
        for c in checks {
            let flagged = match c.status {
                CheckStatus::Pass => {
                    t.pass += 1;
                    continue;
                }
                CheckStatus::Warn => {
                    t.warn += 1;
                    &mut t.warned
                }
                CheckStatus::Fail => {
                    t.fail += 1;
                    &mut t.failed
                }
            };
            flagged
                .entry(c.name.clone())
                .or_default()
                .push(model.to_string());
        }
    }
    t
}

/// The names of the checks in `checks` that fail, in their order.
fn failed_names(checks: &[Check]) -> Vec<&str> {
    checks
        .iter()
        .filter(|c| c.status == CheckStatus::Fail)
        .map(|c| c.name.as_str())
        .collect()
}

/// The clause a verdict line ends with when the model or its baseline fails its own checks:
/// the comparison then says nothing about robustness, and the clause names who fails what.
fn refusal(model: &str, checks: &[Check], baseline: &str, baseline_checks: &[Check]) -> String {
    let mut who = Vec::new();
    for (name, cs) in [(model, checks), (baseline, baseline_checks)] {
        let failed = failed_names(cs);
        if !failed.is_empty() {
            who.push(format!("{name} fails {}", failed.join(", ")));
        }
    }
    if who.is_empty() {
        String::new()
    } else {
        format!(
            ". No conclusion about robustness from this comparison: {}",
            who.join(" and ")
        )
    }
}

/// `check (model, model); check (model)`: flagged checks as the trust line lists them.
fn flagged_list(flagged: &BTreeMap<String, Vec<String>>) -> String {
    flagged
        .iter()
        .map(|(name, models)| format!("{name} ({})", models.join(", ")))
        .collect::<Vec<_>>()
        .join("; ")
}

/// One sentence summarising the gradient-masking checks over all models: the counts, then
/// whether any check fails (the white-box numbers are then unreliable) and which warn.
pub(crate) fn trust_line(s: &AdversarialSummary) -> String {
    let t = tally_checks(s);
    let total = t.total();
    if total == 0 {
        return "Trust: no gradient-masking checks were recorded.".to_string();
    }
    let mut line = format!(
        "Trust: {} of {total} gradient-masking checks pass, {} warn, {} fail.",
        t.pass, t.warn, t.fail
    );
    if t.fail > 0 {
        let _ = write!(
            line,
            " Failed: {}. Treat those models' robust accuracies as unreliable until the failure is explained.",
            flagged_list(&t.failed)
        );
    } else {
        line.push_str(
            " No check fails, so the white-box numbers show no sign of masked gradients.",
        );
    }
    if t.warn > 0 {
        let _ = write!(
            line,
            " Warnings (read the detail below): {}.",
            flagged_list(&t.warned)
        );
    }
    line
}

/// One sentence summarising the corruption run's model checks (collapsed predictions, chance
/// level): the counts, then which fail (those models' corruption numbers are then meaningless)
/// and which warn.
pub(crate) fn corruption_trust_line(s: &CorruptionSummary) -> String {
    let t = tally(
        s.models
            .iter()
            .map(|m| (m.model.as_str(), m.checks.as_slice())),
    );
    let total = t.total();
    if total == 0 {
        return "Trust: no model checks were recorded.".to_string();
    }
    let mut line = format!(
        "Trust: {} of {total} model checks pass, {} warn, {} fail.",
        t.pass, t.warn, t.fail
    );
    if t.fail > 0 {
        let _ = write!(
            line,
            " Failed: {}. Those models do not classify the clean images, so their corruption \
             accuracies say nothing about robustness.",
            flagged_list(&t.failed)
        );
    } else {
        line.push_str(" Every model classifies the clean images.");
    }
    if t.warn > 0 {
        let _ = write!(
            line,
            " Warnings (read the detail below): {}.",
            flagged_list(&t.warned)
        );
    }
    line
}

/// Plain sentences comparing each non-baseline model's corruption robustness with its
/// baseline's (see [`Roles::paired`]): mean corruption accuracy, the points corruption costs
/// each, mCE and relative mCE (against the run's CE baseline). Empty with fewer than two models.
pub(crate) fn corruption_verdict(s: &CorruptionSummary) -> Vec<String> {
    let mut out = Vec::new();
    if s.models.len() < 2 {
        return out;
    }
    let Some(default) = corruption_baseline(s) else {
        return out;
    };
    let ce = ce_baseline_name(s);
    for m in &s.models {
        let b = Roles::of(&s.run).paired(&s.models, default, &m.model, |x| &x.model);
        if b.model == m.model {
            continue;
        }
        let mut line = format!("{} vs the baseline {}", m.model, b.model);
        if let (Some(am), Some(ab)) = (m.mean_corruption_accuracy, b.mean_corruption_accuracy) {
            let _ = write!(
                line,
                ": mean corruption accuracy {} vs {} (clean {} vs {}); corruption costs it {:.1} points vs {:.1} for the baseline",
                pct(am),
                pct(ab),
                pct(m.clean_accuracy),
                pct(b.clean_accuracy),
                (m.clean_accuracy - am) * 100.0,
                (b.clean_accuracy - ab) * 100.0
            );
        }
        if m.mce.is_some() {
            let _ = write!(
                line,
                "; mCE {} and relative mCE {} ({ce} = 100%)",
                pct_value(m.mce),
                pct_value(m.relative_mce)
            );
        }
        line.push_str(&refusal(&m.model, &m.checks, &b.model, &b.checks));
        line.push('.');
        out.push(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const E8: f64 = 8.0 / 255.0;

    fn cell(attack: &str, accuracy: f64) -> AttackCell {
        AttackCell {
            attack: attack.parse().unwrap(),
            norm: Norm::Linf,
            eps: E8,
            steps: None,
            images: 100,
            accuracy,
            success_rate: 0.0,
            mean_linf: 0.0,
            mean_l2: 0.0,
            mean_loss: 0.0,
            gradients: 0,
            queries: 0,
            seconds: 0.0,
        }
    }

    fn check(name: &str, status: CheckStatus) -> Check {
        Check {
            name: name.into(),
            status,
            detail: String::new(),
        }
    }

    fn model(
        name: &str,
        clean: f64,
        cells: Vec<AttackCell>,
        checks: Vec<Check>,
    ) -> ModelAdversarial {
        ModelAdversarial {
            model: name.into(),
            parameters: 1,
            adversarial_training: None,
            clean_accuracy: clean,
            prediction_counts: Vec::new(),
            zero_gradient_samples: 0,
            cells,
            check_cells: Vec::new(),
            checks,
            confusion: Vec::new(),
        }
    }

    fn summary(models: Vec<ModelAdversarial>) -> AdversarialSummary {
        AdversarialSummary {
            version: "0".into(),
            run: crate::RunInfo {
                seed: 0,
                data: String::new(),
                images: 100,
                classes: Vec::new(),
                device: "cpu".into(),
                threads: 1,
                train_seconds: 0.0,
                origins: Vec::new(),
            },
            headline_linf: E8,
            headline_l2: 0.5,
            models,
            transfer: Vec::new(),
            examples: Vec::new(),
            eval_seconds: 0.0,
            strong_attacks: AttackId::strong(),
        }
    }

    /// Oracle: the rule by hand. Recorded roles win over names: `reference` is the baseline
    /// although its name does not say so, `not-a-baseline` (a decoupled model) is not although its
    /// name does, and each model pairs with the baseline of its own adversarial training;
    /// `legacy-baseline-fgsm`, which the results record nothing of, keeps the name rule.
    #[test]
    fn recorded_roles_decide_the_baseline_and_the_pairing() {
        let origin = |model: &str, baseline: bool, adv: Option<&str>| ModelOrigin {
            model: model.into(),
            baseline: Some(baseline),
            adversarial_training: adv.map(String::from),
            ..Default::default()
        };
        let mut s = summary(vec![
            model("not-a-baseline", 0.8, vec![cell("fgsm", 0.2)], vec![]),
            model("reference", 0.85, vec![cell("fgsm", 0.1)], vec![]),
            model("reference-adv", 0.8, vec![cell("fgsm", 0.4)], vec![]),
            model("tanh-adv", 0.82, vec![cell("fgsm", 0.5)], vec![]),
        ]);
        s.run.origins = vec![
            origin("not-a-baseline", false, None),
            origin("reference", true, None),
            origin("reference-adv", true, Some("fgsm eps=0.0314")),
            origin("tanh-adv", false, Some("fgsm eps=0.0314")),
        ];
        assert_eq!(adversarial_baseline(&s).unwrap().model, "reference");
        let roles = Roles::of(&s.run);
        let default = adversarial_baseline(&s).unwrap();
        let pair = |name: &str| {
            roles
                .paired(&s.models, default, name, |x| &x.model)
                .model
                .clone()
        };
        assert_eq!(pair("not-a-baseline"), "reference");
        assert_eq!(pair("tanh-adv"), "reference-adv");
        assert!(!roles.is_baseline("not-a-baseline"));
        assert!(roles.is_baseline("legacy-baseline-fgsm"));
        let v = adversarial_verdict(&s);
        assert!(
            v.iter()
                .any(|l| l.starts_with("tanh-adv (clean 82.0%) vs the baseline reference-adv")),
            "{v:?}"
        );
        assert!(!v.iter().any(|l| l.starts_with("reference-adv")), "{v:?}");
    }

    /// Oracle: the rule by hand: a model named as preferred wins, else the first name containing
    /// `baseline` in any case, else index 0.
    #[test]
    fn baseline_is_preferred_then_named_then_first() {
        let names = ["a", "cnn9-Baseline", "b-baseline", "c"];
        let legacy = Roles { origins: &[] };
        assert_eq!(legacy.index(names.iter().copied(), Some("c")), 3);
        assert_eq!(legacy.index(names.iter().copied(), Some("zz")), 1);
        assert_eq!(legacy.index(names.iter().copied(), None), 1);
        assert_eq!(legacy.index(["a", "b"].iter().copied(), None), 0);
    }

    /// Oracle: counted by hand: three passes, one warning (check `m` on model y) and one check
    /// `f` failed by both models, listed in model order.
    #[test]
    fn checks_are_tallied_by_status() {
        let s = summary(vec![
            model(
                "x",
                0.9,
                vec![],
                vec![check("p", CheckStatus::Pass), check("f", CheckStatus::Fail)],
            ),
            model(
                "y",
                0.9,
                vec![],
                vec![
                    check("p", CheckStatus::Pass),
                    check("q", CheckStatus::Pass),
                    check("m", CheckStatus::Warn),
                    check("f", CheckStatus::Fail),
                ],
            ),
        ]);
        let t = tally_checks(&s);
        assert_eq!((t.pass, t.warn, t.fail, t.total()), (3, 1, 2, 6));
        assert_eq!(t.failed["f"], ["x", "y"]);
        assert_eq!(t.warned["m"], ["y"]);
        let line = trust_line(&s);
        assert!(line.starts_with("Trust: 3 of 6 gradient-masking checks pass, 1 warn, 2 fail."));
        assert!(line.contains("Failed: f (x, y)."), "{line}");
        assert!(
            line.ends_with("Warnings (read the detail below): m (y)."),
            "{line}"
        );
        assert_eq!(
            trust_line(&summary(vec![])),
            "Trust: no gradient-masking checks were recorded."
        );
    }

    /// Oracle: the fixture by hand: the baseline keeps 1 % under FGSM and 2 % under PGD, the
    /// other model 30 % and 4 %: FGSM is quoted as the weak attack, PGD both near zero (≤ 5 %);
    /// raising the model's PGD accuracy to 40 % switches to "it keeps"; best clean 40 % < 50 %
    /// adds the caution on a CIFAR-10 run of CNN-9 models (where the paper's 85–91 % applies)
    /// and only there.
    #[test]
    fn adversarial_verdict_decides_from_the_numbers() {
        let mut s = summary(vec![
            model(
                "cnn9-m",
                0.4,
                vec![cell("fgsm", 0.3), cell("pgd", 0.04)],
                vec![],
            ),
            model(
                "cnn9-baseline",
                0.3,
                vec![cell("fgsm", 0.01), cell("pgd", 0.02)],
                vec![],
            ),
        ]);
        let v = adversarial_verdict(&s);
        assert_eq!(v.len(), 1, "not CIFAR-10: no caution {v:?}");
        s.run.classes = paper::CIFAR10_CLASSES.map(String::from).to_vec();
        let v = adversarial_verdict(&s);
        assert_eq!(v.len(), 2, "{v:?}");
        assert_eq!(
            v[0],
            "cnn9-m (clean 40.0%) vs the baseline cnn9-baseline (clean 30.0%): keeps 30.0% under \
             FGSM at ε = 8/255 vs 1.0% for the baseline; under PGD both fall near zero (4.0% vs \
             2.0%)."
        );
        assert!(v[1].starts_with("Caution: the best clean accuracy is 40.0%"));
        s.models[0].cells[1].accuracy = 0.4;
        s.models[0].clean_accuracy = 0.9;
        let v = adversarial_verdict(&s);
        assert_eq!(v.len(), 1, "no caution at 90 % clean");
        assert!(
            v[0].ends_with("under PGD it keeps 40.0% vs 2.0%."),
            "{}",
            v[0]
        );
        s.models.truncate(1);
        assert!(
            adversarial_verdict(&s).is_empty(),
            "one model: no comparison"
        );
    }

    /// Oracle: the pairing rule by hand: `-fgsm` models meet `cnn9-baseline-fgsm` (its suffix
    /// `-fgsm` ends their names), the others `cnn9-baseline` (the run's first baseline); each
    /// baseline is compared with nothing, as it pairs with itself.
    #[test]
    fn fgsm_trained_models_are_compared_with_the_fgsm_trained_baseline() {
        let s = summary(vec![
            model("cnn9-baseline", 0.85, vec![cell("fgsm", 0.1)], vec![]),
            model("cnn9-tanh-cosine", 0.86, vec![cell("fgsm", 0.2)], vec![]),
            model("cnn9-baseline-fgsm", 0.8, vec![cell("fgsm", 0.4)], vec![]),
            model(
                "cnn9-tanh-cosine-fgsm",
                0.82,
                vec![cell("fgsm", 0.5)],
                vec![],
            ),
        ]);
        assert_eq!(baseline_suffix("cnn9-Baseline-fgsm"), Some("-fgsm"));
        assert_eq!(baseline_suffix("cnn9-tanh"), None);
        let v = adversarial_verdict(&s);
        assert_eq!(v.len(), 2, "{v:?}");
        assert!(
            v[0].starts_with(
                "cnn9-tanh-cosine (clean 86.0%) vs the baseline cnn9-baseline (clean 85.0%)"
            ) && v[0].ends_with("vs 10.0% for the baseline."),
            "{}",
            v[0]
        );
        assert!(
            v[1].starts_with(
                "cnn9-tanh-cosine-fgsm (clean 82.0%) vs the baseline cnn9-baseline-fgsm (clean 80.0%)"
            ) && v[1].ends_with("vs 40.0% for the baseline."),
            "{}",
            v[1]
        );
    }

    /// Oracle: the rule by hand: a verdict line gains the refusal clause, naming who fails what,
    /// exactly when the model or its baseline fails a check; warnings do not refuse.
    #[test]
    fn verdict_refuses_a_conclusion_when_a_model_fails_its_own_checks() {
        let mut s = summary(vec![
            model("cnn9-baseline", 0.85, vec![cell("fgsm", 0.1)], vec![]),
            model(
                "cnn9-tanh-cosine",
                0.3,
                vec![cell("fgsm", 0.2)],
                vec![
                    check("collapsed-predictions", CheckStatus::Fail),
                    check("near-chance", CheckStatus::Warn),
                ],
            ),
        ]);
        let v = adversarial_verdict(&s);
        assert!(
            v[0].ends_with(
                "for the baseline. No conclusion about robustness from this comparison: \
                 cnn9-tanh-cosine fails collapsed-predictions."
            ),
            "{}",
            v[0]
        );
        s.models[1].checks[0].status = CheckStatus::Warn;
        let v = adversarial_verdict(&s);
        assert!(!v[0].contains("No conclusion"), "{}", v[0]);
        s.models[0].checks = vec![check("near-chance", CheckStatus::Fail)];
        let v = adversarial_verdict(&s);
        assert!(
            v[0].ends_with("comparison: cnn9-baseline fails near-chance."),
            "{}",
            v[0]
        );
        assert!(trust_line(&s).contains("Failed: near-chance (cnn9-baseline)."));
        assert!(!trust_line(&s).contains("no sign of masked gradients"));
    }

    /// A corruption model with clean accuracy 80 %, mean corruption accuracy `mean` and the
    /// given checks; no cells.
    fn corruption_model(name: &str, mean: f64, checks: Vec<Check>) -> ModelCorruption {
        ModelCorruption {
            model: name.into(),
            clean_accuracy: 0.8,
            prediction_counts: Vec::new(),
            checks,
            cells: Vec::new(),
            per_severity: Vec::new(),
            per_corruption: Vec::new(),
            per_category: Vec::new(),
            mean_corruption_accuracy: Some(mean),
            corruption_errors: Vec::new(),
            mce: None,
            relative_mce: None,
        }
    }

    /// A corruption run of `models` on `images` images, CE baseline `baseline`.
    fn corruption_summary(
        models: Vec<ModelCorruption>,
        images: usize,
        baseline: Option<&str>,
    ) -> CorruptionSummary {
        CorruptionSummary {
            version: "0".into(),
            run: crate::RunInfo {
                seed: 0,
                data: String::new(),
                images,
                classes: Vec::new(),
                device: "cpu".into(),
                threads: 1,
                train_seconds: 0.0,
                origins: Vec::new(),
            },
            source: String::new(),
            baseline: baseline.map(Into::into),
            models,
            examples: Vec::new(),
            corrupt_seconds: 0.0,
            eval_seconds: 0.0,
        }
    }

    /// Oracle: counted by hand: one model passes both checks, the other fails one and warns on
    /// the other; the corruption verdict refuses its comparison and names the failure.
    #[test]
    fn corruption_trust_line_and_verdict_follow_the_model_checks() {
        let s = corruption_summary(
            vec![
                corruption_model(
                    "cnn9-baseline",
                    0.6,
                    vec![
                        check("collapsed-predictions", CheckStatus::Pass),
                        check("near-chance", CheckStatus::Pass),
                    ],
                ),
                corruption_model(
                    "cnn9-ball-cosine",
                    0.6,
                    vec![
                        check("collapsed-predictions", CheckStatus::Fail),
                        check("near-chance", CheckStatus::Warn),
                    ],
                ),
            ],
            100,
            None,
        );
        assert_eq!(
            corruption_trust_line(&s),
            "Trust: 2 of 4 model checks pass, 1 warn, 1 fail. Failed: collapsed-predictions \
             (cnn9-ball-cosine). Those models do not classify the clean images, so their \
             corruption accuracies say nothing about robustness. Warnings (read the detail \
             below): near-chance (cnn9-ball-cosine)."
        );
        let v = corruption_verdict(&s);
        assert_eq!(v.len(), 1);
        assert!(
            v[0].ends_with("cnn9-ball-cosine fails collapsed-predictions."),
            "{}",
            v[0]
        );
    }

    /// Oracle: the pairing rule by hand, as in the adversarial verdict: each FGSM-trained model is
    /// compared with `cnn9-baseline-fgsm`, each standard one with `cnn9-baseline`, and the
    /// FGSM-trained baseline with nobody; mCE stays relative to the CE baseline, named. On 1,000
    /// images the 95 % Wilson intervals of 69 % [66.1–71.8] and 62 % [59.0–64.9] do not overlap
    /// (more robust), those of 63 % [60.0–65.9] and 62 % do.
    #[test]
    fn corruption_verdict_pairs_models_trained_the_same_way() {
        let mut s = corruption_summary(
            vec![
                corruption_model("cnn9-baseline", 0.62, Vec::new()),
                corruption_model("cnn9-tanh-cosine", 0.63, Vec::new()),
                corruption_model("cnn9-baseline-fgsm", 0.62, Vec::new()),
                corruption_model("cnn9-tanh-cosine-fgsm", 0.69, Vec::new()),
            ],
            1000,
            Some("cnn9-baseline"),
        );
        s.models[3].mce = Some(0.9);
        let v = corruption_verdict(&s);
        assert_eq!(v.len(), 2, "{v:?}");
        assert!(
            v[0].starts_with("cnn9-tanh-cosine vs the baseline cnn9-baseline:"),
            "{}",
            v[0]
        );
        assert!(
            v[1].starts_with("cnn9-tanh-cosine-fgsm vs the baseline cnn9-baseline-fgsm:"),
            "{}",
            v[1]
        );
        assert!(v[1].contains("(cnn9-baseline = 100%)"), "{}", v[1]);
        let c = corruption_conclusion(&s).unwrap();
        assert!(
            c.contains(
                "cnn9-tanh-cosine is not clearly more robust to corruptions than cnn9-baseline:"
            ),
            "{c}"
        );
        assert!(
            c.contains(
                "cnn9-tanh-cosine-fgsm is more robust to corruptions than cnn9-baseline-fgsm:"
            ),
            "{c}"
        );
        assert!(!c.contains("cnn9-baseline-fgsm is"), "{c}");
    }

    /// Oracle: Newcombe (1998), Table II, example (a): 56/70 − 48/80 has the hybrid score
    /// interval 0.0524 to 0.3339 (method 10); and the closed form at 0 − 0 on n images: Wilson's
    /// upper bound is z²/(n + z²), so the interval is ±z²/(n + z²).
    #[test]
    fn difference_interval_matches_newcombe() {
        let (d, lo, hi) = difference_interval(56.0 / 70.0, 70, 48.0 / 80.0, 80);
        assert!((d - 0.2).abs() < 1e-12);
        assert!(
            (lo - 0.0524).abs() < 1e-4 && (hi - 0.3339).abs() < 1e-4,
            "{lo} {hi}"
        );
        let (_, lo, hi) = difference_interval(0.0, 300, 0.0, 300);
        let u = wilson(0.0, 300).1;
        assert!(
            (hi - u).abs() < 1e-12 && (lo + u).abs() < 1e-12,
            "{lo} {hi}"
        );
    }

    /// Oracle: the fixture by hand, 100 images a cell. PGD 1 % vs 0 %: Δ = +1.0 with Newcombe's
    /// interval containing 0 (no clear difference), the row names PGD (the strong attack), Δ
    /// clean +1.0; PGD 30 % vs 0 %: the interval's lower end, 0.30 − sqrt(0.081² + 0.037²),
    /// is above 0 (more robust); a failing check turns the row into "no conclusion" naming it; one
    /// model alone has no conclusion.
    #[test]
    fn conclusion_rows_state_the_difference_with_its_interval() {
        let mut s = summary(vec![
            model(
                "cnn9-baseline",
                0.85,
                vec![cell("fgsm", 0.08), cell("pgd", 0.0)],
                vec![],
            ),
            model(
                "cnn9-tanh-cosine",
                0.86,
                vec![cell("fgsm", 0.4), cell("pgd", 0.01)],
                vec![],
            ),
        ]);
        let c = adversarial_conclusion(&s).unwrap();
        assert_eq!(c.rows.len(), 1);
        let r = &c.rows[0];
        assert_eq!(
            (r.model.as_str(), r.baseline.as_str(), r.attack.name()),
            ("cnn9-tanh-cosine", "cnn9-baseline", "pgd")
        );
        assert!((r.delta_clean - 0.01).abs() < 1e-12);
        assert!(r.delta_robust.1 < 0.0 && r.delta_robust.2 > 0.01);
        assert_eq!(r.verdict, RowVerdict::NoClearDifference);
        assert_eq!(
            c.sentence,
            "Under PGD at ε = 8/255, 0 of 1 models are more robust than their baseline, 0 less \
             robust and 1 without a clear difference, at +1.0 points of clean accuracy."
        );
        assert!(
            c.trust
                .starts_with("How far to trust this: 0 of 0 checks pass"),
            "{}",
            c.trust
        );
        s.models[1].cells[1].accuracy = 0.3;
        let c = adversarial_conclusion(&s).unwrap();
        assert_eq!(c.rows[0].verdict, RowVerdict::MoreRobust);
        assert!(
            c.sentence.contains("1 of 1 models is more robust"),
            "{}",
            c.sentence
        );
        s.models[1].checks = vec![check("collapsed-predictions", CheckStatus::Fail)];
        let c = adversarial_conclusion(&s).unwrap();
        assert_eq!(
            c.rows[0].verdict.label(),
            "no conclusion: checks fail (collapsed-predictions)"
        );
        s.models.truncate(1);
        assert!(adversarial_conclusion(&s).is_none());
    }

    /// Oracle: the fixture by hand. The FGSM-trained baseline warns the catastrophic-overfitting
    /// check, so the FGSM-trained TanhConv is compared with the sound baseline that keeps most
    /// under PGD (the FGSM-RS one, 40 %, not the standard one, 0 %), and the sentence names the
    /// degenerate one, as do the plain sentences; the standard TanhConv keeps its own baseline.
    /// With no sound baseline trained adversarially left but the standard one, that one stands
    /// in; with none at all the degenerate baseline stays and is named as such.
    #[test]
    fn a_degenerate_baseline_is_replaced_by_the_strongest_sound_one() {
        let co = || vec![check(CATASTROPHIC_OVERFITTING, CheckStatus::Warn)];
        let mut s = summary(vec![
            model("cnn9-baseline", 0.85, vec![cell("pgd", 0.0)], vec![]),
            model("cnn9-tanh-cosine", 0.85, vec![cell("pgd", 0.0)], vec![]),
            model("cnn9-baseline-fgsm", 0.82, vec![cell("pgd", 0.0)], co()),
            model(
                "cnn9-tanh-cosine-fgsm",
                0.75,
                vec![cell("pgd", 0.25)],
                vec![],
            ),
            model("cnn9-baseline-fgsmrs", 0.78, vec![cell("pgd", 0.4)], vec![]),
        ]);
        let c = adversarial_conclusion(&s).unwrap();
        let rows: Vec<(&str, &str)> = c
            .rows
            .iter()
            .map(|r| (r.model.as_str(), r.baseline.as_str()))
            .collect();
        assert_eq!(
            rows,
            [
                ("cnn9-tanh-cosine", "cnn9-baseline"),
                ("cnn9-tanh-cosine-fgsm", "cnn9-baseline-fgsmrs")
            ]
        );
        let r = &c.rows[1];
        assert_eq!(
            r.replaced,
            Some((
                "cnn9-baseline-fgsm".to_string(),
                format!("warns {CATASTROPHIC_OVERFITTING}: catastrophic overfitting")
            ))
        );
        assert_eq!(
            r.verdict,
            RowVerdict::LessRobust,
            "25 % vs 40 % on 100 images"
        );
        assert!(
            c.sentence.contains(
                "; cnn9-baseline-fgsm is a degenerate baseline (warns fgsm-agrees-with-multi-step: \
                 catastrophic overfitting), so cnn9-baseline-fgsmrs stands in for it."
            ),
            "{}",
            c.sentence
        );
        // The plain sentences compare with the same stand-in and say whom it stands in for.
        let lines = adversarial_verdict(&s);
        let tanh = lines
            .iter()
            .find(|l| l.starts_with("cnn9-tanh-cosine-fgsm "))
            .unwrap();
        assert!(
            tanh.starts_with(
                "cnn9-tanh-cosine-fgsm (clean 75.0%) vs the baseline cnn9-baseline-fgsmrs \
                 (clean 78.0%, standing in for the degenerate cnn9-baseline-fgsm)"
            ),
            "{tanh}"
        );
        assert!(
            tanh.contains("keeps 25.0% under PGD at ε = 8/255 vs 40.0% for the baseline"),
            "{tanh}"
        );
        s.models.pop();
        let c = adversarial_conclusion(&s).unwrap();
        assert_eq!(c.rows[1].baseline, "cnn9-baseline");
        assert_eq!(c.rows[1].verdict, RowVerdict::MoreRobust);
        s.models[0].checks = co();
        let c = adversarial_conclusion(&s).unwrap();
        assert_eq!(c.rows[1].baseline, "cnn9-baseline-fgsm");
        assert!(
            c.sentence
                .contains("cnn9-baseline-fgsm is a degenerate baseline (warns"),
            "{}",
            c.sentence
        );
        assert!(
            c.sentence.contains("and no sound one stands in"),
            "{}",
            c.sentence
        );
    }
}
