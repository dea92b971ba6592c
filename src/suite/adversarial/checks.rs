//! The gradient-masking checks of one model, graded pass / warn / fail from its cells.

use super::*;

/// Pass, warn or fail by how far `excess` (an accuracy above what it should be) goes, with one
/// sample of slack for pass and 2 % for warn.
pub(super) fn grade(excess: f64, n: usize) -> CheckStatus {
    let one = 1.0 / n.max(1) as f64;
    if excess <= 1e-12 {
        CheckStatus::Pass
    } else if excess <= one + 1e-12 || excess <= 0.02 {
        CheckStatus::Warn
    } else {
        CheckStatus::Fail
    }
}

pub(super) fn worst(statuses: impl IntoIterator<Item = CheckStatus>) -> CheckStatus {
    let mut w = CheckStatus::Pass;
    for s in statuses {
        w = match (w, s) {
            (CheckStatus::Fail, _) | (_, CheckStatus::Fail) => CheckStatus::Fail,
            (CheckStatus::Warn, _) | (_, CheckStatus::Warn) => CheckStatus::Warn,
            _ => CheckStatus::Pass,
        };
    }
    w
}

/// One check from per-comparison statuses and the rows that broke the rule (none run: `None`).
pub(super) fn summarise(
    name: &str,
    status: Vec<CheckStatus>,
    rows: Vec<String>,
    ok: &str,
    why: &str,
) -> Option<Check> {
    (!status.is_empty()).then(|| Check {
        name: name.into(),
        status: worst(status),
        detail: if rows.is_empty() {
            ok.into()
        } else {
            format!("{why}{}", rows.join("; "))
        },
    })
}

pub(super) fn find(cells: &[AttackCell], kind: AttackKind, eps: f64) -> Option<&AttackCell> {
    cells.iter().find(|c| c.attack == kind && c.eps == eps)
}

/// The gradient-masking and consistency checks of one model.
pub(super) fn checks(
    m: &ModelAdversarial,
    cfg: &AdversarialConfig,
    n: usize,
    classes: usize,
) -> Vec<Check> {
    let mut out: Vec<Check> = [
        eps0_equals_clean(m),
        pgd_not_weaker_than_fgsm(m, cfg, n),
        fgsm_sees_multi_step(m, &cfg.linf_eps),
        monotone_in_eps(m, cfg, n),
        flat_in_eps(m, AttackKind::Fgsm, n),
        flat_in_eps(m, AttackKind::Pgd, n),
        monotone_in_steps(m, cfg, n),
        unbounded_pgd_reaches_chance(m, classes, n),
        Some(zero_gradients(m, n)),
        square_not_stronger_than_white_box(m, cfg, n),
    ]
    .into_iter()
    .flatten()
    .collect();
    out.extend(dcrobust_reports::degenerate::prediction_checks(
        &m.prediction_counts,
        m.clean_accuracy,
    ));
    out
}

/// `eps0-equals-clean`: at ε = 0 every attack must leave the clean accuracy exactly.
fn eps0_equals_clean(m: &ModelAdversarial) -> Option<Check> {
    let zero: Vec<&AttackCell> = m.cells.iter().filter(|c| c.eps == 0.0).collect();
    if zero.is_empty() {
        return None;
    }
    let bad: Vec<String> = zero
        .iter()
        .filter(|c| c.accuracy != m.clean_accuracy)
        .map(|c| format!("{} {:.2}%", c.attack, 100.0 * c.accuracy))
        .collect();
    Some(Check {
        name: "eps0-equals-clean".into(),
        status: if bad.is_empty() {
            CheckStatus::Pass
        } else {
            CheckStatus::Fail
        },
        detail: if bad.is_empty() {
            format!(
                "every attack at eps 0 gives the clean accuracy {:.2}%",
                100.0 * m.clean_accuracy
            )
        } else {
            format!(
                "clean {:.2}% but at eps 0: {}",
                100.0 * m.clean_accuracy,
                bad.join(", ")
            )
        },
    })
}

/// `pgd-not-weaker-than-fgsm`: PGD must do at least as well as FGSM at every L∞ ε.
fn pgd_not_weaker_than_fgsm(
    m: &ModelAdversarial,
    cfg: &AdversarialConfig,
    n: usize,
) -> Option<Check> {
    let mut rows = Vec::new();
    let mut status = Vec::new();
    for &e in &cfg.linf_eps {
        if let (Some(f), Some(p)) = (
            find(&m.cells, AttackKind::Fgsm, e),
            find(&m.cells, AttackKind::Pgd, e),
        ) {
            status.push(grade(p.accuracy - f.accuracy, n));
            if p.accuracy > f.accuracy {
                rows.push(format!(
                    "eps {e:.4}: PGD {:.2}% > FGSM {:.2}%",
                    100.0 * p.accuracy,
                    100.0 * f.accuracy
                ));
            }
        }
    }
    summarise(
        "pgd-not-weaker-than-fgsm",
        status,
        rows,
        "PGD accuracy <= FGSM accuracy at every eps",
        "a multi-step attack weaker than one step points to noisy or masked gradients: ",
    )
}

/// `monotone-in-eps`: accuracy must not increase with ε.
fn monotone_in_eps(m: &ModelAdversarial, cfg: &AdversarialConfig, n: usize) -> Option<Check> {
    let mut rows = Vec::new();
    let mut status = Vec::new();
    for kind in &cfg.attacks {
        let mut cells: Vec<&AttackCell> = m.cells.iter().filter(|c| c.attack == *kind).collect();
        cells.sort_by(|a, b| a.eps.total_cmp(&b.eps));
        for w in cells.windows(2) {
            let excess = w[1].accuracy - w[0].accuracy;
            // A single step overshoots where the loss curves, so FGSM accuracy can rise with ε
            // on undefended models: worth a look, not a verdict.
            let s = grade(excess, n);
            status.push(if *kind == AttackKind::Fgsm && s == CheckStatus::Fail {
                CheckStatus::Warn
            } else {
                s
            });
            if excess > 0.0 {
                rows.push(format!(
                    "{} {:.2}% at eps {:.4} > {:.2}% at eps {:.4}",
                    kind,
                    100.0 * w[1].accuracy,
                    w[1].eps,
                    100.0 * w[0].accuracy,
                    w[0].eps
                ));
            }
        }
    }
    summarise(
        "monotone-in-eps",
        status,
        rows,
        "accuracy never rises with eps",
        "",
    )
}

/// `monotone-in-steps`: more PGD steps must not help the model.
fn monotone_in_steps(m: &ModelAdversarial, cfg: &AdversarialConfig, n: usize) -> Option<Check> {
    let few = m.check_cells.iter().find(|c| {
        c.attack == AttackKind::Pgd
            && c.eps == cfg.headline_linf
            && c.steps != Some(cfg.attack.pgd.steps)
    });
    let (few, full) = (few?, find(&m.cells, AttackKind::Pgd, cfg.headline_linf)?);
    let excess = full.accuracy - few.accuracy;
    Some(Check {
        name: "monotone-in-steps".into(),
        status: grade(excess, n),
        detail: format!(
            "PGD at eps {:.4}: {} steps {:.2}%, {} steps {:.2}%",
            cfg.headline_linf,
            few.steps.unwrap_or(0),
            100.0 * few.accuracy,
            cfg.attack.pgd.steps,
            100.0 * full.accuracy
        ),
    })
}

/// `unbounded-pgd-reaches-chance`: an unbounded attack must reach chance or below.
fn unbounded_pgd_reaches_chance(m: &ModelAdversarial, classes: usize, n: usize) -> Option<Check> {
    let u = m
        .check_cells
        .iter()
        .find(|c| c.attack == AttackKind::Pgd && c.eps == 1.0)?;
    let chance = 1.0 / classes as f64;
    Some(Check {
        name: "unbounded-pgd-reaches-chance".into(),
        status: grade(u.accuracy - chance, n),
        detail: format!(
            "PGD at eps 1 (any image reachable): {:.2}% (chance {:.2}%); more means the attack cannot follow the gradients",
            100.0 * u.accuracy,
            100.0 * chance
        ),
    })
}

/// `zero-gradients`: zero input gradients hide samples from gradient attacks.
fn zero_gradients(m: &ModelAdversarial, n: usize) -> Check {
    let share = m.zero_gradient_samples as f64 / n.max(1) as f64;
    Check {
        name: "zero-gradients".into(),
        status: if m.zero_gradient_samples == 0 {
            CheckStatus::Pass
        } else if share <= 0.1 {
            CheckStatus::Warn
        } else {
            CheckStatus::Fail
        },
        detail: format!(
            "{} of {n} samples have an all-zero input gradient of the loss at the clean image",
            m.zero_gradient_samples
        ),
    }
}

/// `square-not-stronger-than-white-box`: a gradient-free attack must not beat the white-box
/// ones.
fn square_not_stronger_than_white_box(
    m: &ModelAdversarial,
    cfg: &AdversarialConfig,
    n: usize,
) -> Option<Check> {
    let sq = find(&m.cells, AttackKind::Square, cfg.headline_linf)?;
    let best = m
        .cells
        .iter()
        .filter(|c| {
            c.norm == Norm::Linf && c.eps == cfg.headline_linf && c.attack != AttackKind::Square
        })
        .map(|c| c.accuracy)
        .fold(f64::INFINITY, f64::min);
    best.is_finite().then(|| Check {
        name: "square-not-stronger-than-white-box".into(),
        status: grade(best - sq.accuracy, n),
        detail: format!(
            "at eps {:.4}: Square {:.2}%, best white-box {:.2}%; a black-box attack that wins points to masked gradients",
            cfg.headline_linf,
            100.0 * sq.accuracy,
            100.0 * best
        ),
    })
}

/// `fgsm-agrees-with-multi-step`: warns at every L∞ ε of `linf_eps` where FGSM keeps at least
/// [`FGSM_BLIND_KEEPS`] of the clean accuracy while the strongest multi-step gradient attack of
/// the run (BIM, PGD, MI-FGSM, APGD and the like, not Square) at the same ε keeps at most
/// [`MULTI_STEP_BREAKS_KEEPS`] of it. One step then barely moves the predictions although the
/// budget holds adversarial images for most of them: the loss is flat along the gradient sign at
/// the clean image and curves further out, the mark of single-step adversarial training's
/// "catastrophic overfitting" (Wong et al., 2020), and the FGSM figure is no robustness. A model
/// that FGSM hurts (every undefended one) passes whatever the multi-step attack does. `None`
/// when no ε has both FGSM and a multi-step attack.
pub(super) fn fgsm_sees_multi_step(m: &ModelAdversarial, linf_eps: &[f64]) -> Option<Check> {
    let clean = m.clean_accuracy;
    let mut status = Vec::new();
    let mut rows = Vec::new();
    for &e in linf_eps.iter().filter(|&&e| e > 0.0) {
        let Some(f) = find(&m.cells, AttackKind::Fgsm, e) else {
            continue;
        };
        let strongest = m
            .cells
            .iter()
            .filter(|c| c.eps == e)
            .filter(|c| {
                c.attack.kind().is_some_and(|k| {
                    k != AttackKind::Fgsm && k.uses_gradients() && k.norm() == Norm::Linf
                })
            })
            .min_by(|a, b| a.accuracy.total_cmp(&b.accuracy));
        let Some(s) = strongest else { continue };
        let blind =
            f.accuracy >= FGSM_BLIND_KEEPS * clean && s.accuracy <= MULTI_STEP_BREAKS_KEEPS * clean;
        status.push(if blind {
            CheckStatus::Warn
        } else {
            CheckStatus::Pass
        });
        if blind {
            rows.push(format!(
                "eps {e:.4}: FGSM {:.2}%, {} {:.2}%, clean {:.2}%",
                100.0 * f.accuracy,
                s.attack,
                100.0 * s.accuracy,
                100.0 * clean
            ));
        }
    }
    summarise(
        dcrobust_reports::CATASTROPHIC_OVERFITTING,
        status,
        rows,
        "wherever a multi-step attack breaks most images, FGSM breaks some too",
        "FGSM keeps nearly every clean-correct image where a multi-step attack of the same \
         budget breaks most of them: the loss is flat along the gradient sign at the clean image \
         (single-step training's catastrophic overfitting), so the FGSM figure is no robustness: ",
    )
}

/// Share of the clean accuracy FGSM keeps at or above which `fgsm-agrees-with-multi-step`
/// calls it blind (when the multi-step attack also breaks most images).
pub(super) const FGSM_BLIND_KEEPS: f64 = 0.9;

/// Share of the clean accuracy the strongest multi-step attack keeps at or below which
/// `fgsm-agrees-with-multi-step` says that it breaks most images.
pub(super) const MULTI_STEP_BREAKS_KEEPS: f64 = 0.5;

/// `flat-in-eps-<attack>`: warns when `kind`'s L∞ accuracy at the largest non-zero ε is not
/// below the one at the smallest (at least two non-zero budgets run), saying whether the model
/// is saturated (already at about zero, one sample of slack, at the smallest ε) or the attack
/// stalls (flat curves are a classic sign of masked gradients); `None` when not measurable.
pub(super) fn flat_in_eps(m: &ModelAdversarial, kind: AttackKind, n: usize) -> Option<Check> {
    let mut cells: Vec<&AttackCell> = m
        .cells
        .iter()
        .filter(|c| c.attack == kind && c.norm == Norm::Linf && c.eps > 0.0)
        .collect();
    cells.sort_by(|a, b| a.eps.total_cmp(&b.eps));
    let (lo, hi) = (*cells.first()?, *cells.last()?);
    if cells.len() < 2 || lo.eps == hi.eps {
        return None;
    }
    let one = 1.0 / n.max(1) as f64;
    let curve = format!(
        "{kind}: {:.2}% at eps {:.4}, {:.2}% at eps {:.4}",
        100.0 * lo.accuracy,
        lo.eps,
        100.0 * hi.accuracy,
        hi.eps
    );
    let (status, detail) = if hi.accuracy < lo.accuracy {
        (
            CheckStatus::Pass,
            format!("{curve}: accuracy falls as eps grows"),
        )
    } else if lo.accuracy <= one + 1e-12 {
        (
            CheckStatus::Warn,
            format!(
                "{curve}: saturated, the attack already leaves about nothing at the smallest eps; \
                 add smaller budgets to see the curve"
            ),
        )
    } else {
        (
            CheckStatus::Warn,
            format!(
                "{curve}: flat, a larger budget does not lower accuracy, a classic sign of \
                 masked gradients (or of predictions that ignore the image)"
            ),
        )
    };
    Some(Check {
        name: format!("flat-in-eps-{kind}"),
        status,
        detail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(attack: &str, eps: f64, accuracy: f64) -> AttackCell {
        super::super::test_cell(attack, eps, accuracy)
    }

    fn model(cells: Vec<AttackCell>) -> ModelAdversarial {
        ModelAdversarial {
            model: "m".into(),
            parameters: 1,
            adversarial_training: None,
            clean_accuracy: 0.9,
            prediction_counts: Vec::new(),
            zero_gradient_samples: 0,
            cells,
            check_cells: Vec::new(),
            checks: Vec::new(),
            confusion: Vec::new(),
        }
    }

    /// Oracle: the rule by hand on 100 images (one sample = 1 %): a curve that falls from the
    /// smallest to the largest non-zero ε passes; one already at 0 % (or 1 %, one sample) at
    /// the smallest ε is saturated; one that stays at 16 % is flat; both warn. ε = 0 cells and
    /// a single non-zero ε give no check.
    #[test]
    fn flat_in_eps_tells_saturated_from_flat() {
        let e = |k: f64| k / 255.0;
        let falls = model(vec![
            cell("fgsm", 0.0, 0.9),
            cell("fgsm", e(2.0), 0.4),
            cell("fgsm", e(8.0), 0.1),
        ]);
        let c = flat_in_eps(&falls, AttackKind::Fgsm, 100).unwrap();
        assert_eq!(
            (c.name.as_str(), c.status),
            ("flat-in-eps-fgsm", CheckStatus::Pass)
        );
        let saturated = model(vec![cell("pgd", e(2.0), 0.01), cell("pgd", e(8.0), 0.01)]);
        let c = flat_in_eps(&saturated, AttackKind::Pgd, 100).unwrap();
        assert_eq!(c.status, CheckStatus::Warn);
        assert!(c.detail.contains("saturated"), "{}", c.detail);
        let flat = model(vec![
            cell("fgsm", e(2.0), 0.16),
            cell("fgsm", e(4.0), 0.15),
            cell("fgsm", e(16.0), 0.16),
        ]);
        let c = flat_in_eps(&flat, AttackKind::Fgsm, 100).unwrap();
        assert_eq!(c.status, CheckStatus::Warn);
        assert!(c.detail.contains("flat"), "{}", c.detail);
        assert!(flat_in_eps(&flat, AttackKind::Pgd, 100).is_none());
        let one = model(vec![cell("fgsm", 0.0, 0.9), cell("fgsm", e(8.0), 0.1)]);
        assert!(flat_in_eps(&one, AttackKind::Fgsm, 100).is_none());
    }

    /// Oracle: the rule by hand on 100 images, clean 80 %. FGSM-trained baseline of the zoo
    /// (full split, 8/255: FGSM 79.01 %, BIM 0.00 %, clean 80.60 %): FGSM keeps 99 % of clean,
    /// BIM 0 %, so it warns and names BIM. An FGSM-trained decoupled model (FGSM 40.5 %, BIM
    /// 31.5 %, clean 76.5 %) and an undefended one (FGSM 9.9 %, BIM 0.2 %) pass; FGSM alone
    /// gives no check; Square (no gradients) is not a multi-step gradient attack.
    #[test]
    fn fgsm_blind_to_multi_step_warns() {
        let e = 8.0 / 255.0;
        let run = |cells: Vec<AttackCell>, clean: f64| {
            let mut m = model(cells);
            m.clean_accuracy = clean;
            fgsm_sees_multi_step(&m, &[0.0, e])
        };
        let c = run(vec![cell("fgsm", e, 0.7901), cell("bim", e, 0.0)], 0.806).unwrap();
        assert_eq!(
            (c.name.as_str(), c.status),
            ("fgsm-agrees-with-multi-step", CheckStatus::Warn)
        );
        assert!(c.detail.contains("bim 0.00%"), "{}", c.detail);
        let c = run(vec![cell("fgsm", e, 0.405), cell("bim", e, 0.315)], 0.765).unwrap();
        assert_eq!(c.status, CheckStatus::Pass);
        let c = run(
            vec![
                cell("fgsm", e, 0.099),
                cell("pgd", e, 0.002),
                cell("bim", e, 0.0),
            ],
            0.8535,
        )
        .unwrap();
        assert_eq!(c.status, CheckStatus::Pass);
        assert!(run(vec![cell("fgsm", e, 0.79)], 0.8).is_none());
        assert!(run(vec![cell("fgsm", e, 0.79), cell("square", e, 0.0)], 0.8).is_none());
    }
}
