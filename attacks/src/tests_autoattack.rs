//! Tests of AutoAttack's pieces: the targeted DLR and logit-gap losses, the L∞ hyperplane
//! projection of FAB, APGD-T, FAB-T and the standard ensemble, on the nearest-class-mean
//! linear model of `tests_strong` (whose decision boundaries are hyperplanes, so that the
//! distance to them has a closed form).

use crate::tests_strong::{
    class_means, clean_accuracy, robust_accuracy, setup, setup_rowwise, D, K,
};
use crate::{
    ops, projection_linf, Apgd, ApgdT, Attack, AttackConfig, AttackKind, AutoAttack, Batch,
    ConfigError, FabT, LossKind, Norm, Oracle, Square, Target,
};
use candle_core::{Device, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Oracle: the targeted DLR loss `−(z_y − z_t)/(z_π1 − (z_π3 + z_π4)/2 + 1e-12)` by hand on
/// logits `[3, 1, 2, 0]` (sorted 3, 2, 1, 0, so the denominator is 3 − (1 + 0)/2 = 2.5): with
/// y = 0, t = 2 it is −(3 − 2)/2.5 = −0.4; with y = 3, t = 0 it is −(0 − 3)/2.5 = 1.2. The
/// logit gap `z_t − z_y` of the same pairs is −1 and 3.
#[test]
fn targeted_dlr_and_logit_gap_by_hand() {
    let z = Tensor::new(&[[3f32, 1., 2., 0.], [3., 1., 2., 0.]], &Device::Cpu).unwrap();
    let targets = [2u32, 0];
    let v = crate::oracle::objective(&z, &[0, 3], Some(&targets), LossKind::Dlr)
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    assert!(
        (v[0] + 0.4).abs() < 1e-6 && (v[1] - 1.2).abs() < 1e-6,
        "{v:?}"
    );
    let g = crate::oracle::objective(&z, &[0, 3], Some(&targets), LossKind::LogitGap)
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    assert_eq!(g, vec![-1.0, 3.0]);
    // The logit gap has no untargeted form, and the targeted DLR loss needs four classes.
    let err = crate::oracle::objective(&z, &[0, 3], None, LossKind::LogitGap).unwrap_err();
    assert!(err.to_string().contains("needs target classes"), "{err}");
    let z3 = Tensor::new(&[[3f32, 1., 2.]], &Device::Cpu).unwrap();
    let err = crate::oracle::objective(&z3, &[0], Some(&[1]), LossKind::Dlr).unwrap_err();
    assert!(err.to_string().contains("at least 4 classes"), "{err}");
}

/// Oracle: central finite differences of the logit gap (computed on the host from the model's
/// logits) against the oracle's input gradient; the model is linear, so the two agree up to
/// float rounding.
#[test]
fn logit_gap_gradient_matches_finite_differences() {
    let (m, mut b) = setup(4, 1);
    b.targets = Some(b.labels.iter().map(|&y| (y + 3) % K as u32).collect());
    let o = Oracle::new(&m);
    let g = o.loss_grad(&b.x, &b, LossKind::LogitGap).unwrap();
    let gap = |x: &[f32], i: usize| -> f64 {
        let (z, k) = o.logits(x, b.shape).unwrap();
        let t = b.targets.as_ref().unwrap()[i] as usize;
        f64::from(z[i * k + t]) - f64::from(z[i * k + b.labels[i] as usize])
    };
    let h = 1e-2f32;
    for t in (0..b.x.len()).step_by(7) {
        let (mut xp, mut xm) = (b.x.clone(), b.x.clone());
        xp[t] += h;
        xm[t] -= h;
        let i = t / D;
        let fd = (gap(&xp, i) - gap(&xm, i)) / (2.0 * f64::from(h));
        assert!(
            (fd - f64::from(g.grad[t])).abs() < 2e-3,
            "value {t}: fd {fd} vs {}",
            g.grad[t]
        );
    }
}

/// Oracle: AutoAttack's `sort(dim=1)[1][:, -rank]` on a fixed vector.
#[test]
fn nth_largest_ranks_classes() {
    let v = [0.5f32, 3.0, -1.0, 2.0, 2.5];
    let ranked: Vec<usize> = (1..=5).map(|r| ops::nth_largest(&v, r)).collect();
    assert_eq!(ranked, vec![1, 4, 3, 0, 2]);
}

/// The smallest L∞ radius λ at which the box-constrained step `d_i(λ) = s_i·min(λ, p_i)`
/// reaches the hyperplane `⟨w, x⟩ = b` from `t`, by bisection on λ in f64 (`None` when even the
/// best box corner does not reach it), and that step. Independent of `projection_linf`'s sort
/// and binary search over breakpoints.
fn brute_projection(t: &[f32], w: &[f32], b: f32) -> (Option<f64>, Vec<f64>) {
    let n = t.len();
    let wt: f64 = w
        .iter()
        .zip(t)
        .map(|(&a, &c)| f64::from(a) * f64::from(c))
        .sum();
    // Orient so the move decreases ⟨w, x⟩ by `need` ≥ 0.
    let sg = if wt >= f64::from(b) { 1.0 } else { -1.0 };
    let need = sg * (wt - f64::from(b));
    let dir: Vec<f64> = w.iter().map(|&v| -(sg * f64::from(v)).signum()).collect();
    let room: Vec<f64> = (0..n)
        .map(|i| {
            if dir[i] > 0.0 {
                1.0 - f64::from(t[i])
            } else {
                f64::from(t[i])
            }
        })
        .collect();
    let gain = |lam: f64| -> f64 {
        (0..n)
            .map(|i| f64::from(w[i]).abs() * lam.min(room[i]))
            .sum()
    };
    let step = |lam: f64| -> Vec<f64> {
        (0..n)
            .map(|i| {
                if w[i] == 0.0 {
                    0.0
                } else {
                    dir[i] * lam.min(room[i])
                }
            })
            .collect()
    };
    let top = room.iter().cloned().fold(0.0, f64::max);
    if gain(top) < need {
        return (None, step(top));
    }
    let (mut lo, mut hi) = (0.0, top);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if gain(mid) >= need {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    (Some(hi), step(hi))
}

/// Oracle: two closed-form cases in the box [0, 1]. `w = (1, 1)`, `b = 0.6` from
/// `t = (0.5, 0.5)`: the sum must drop by 0.4, both coordinates move by λ = 0.2. From
/// `t = (0.1, 0.9)`: the first coordinate can drop by 0.1 only, so 0.1 + λ = 0.4 gives λ = 0.3
/// and `d = (−0.1, −0.3)`. From the other side, `t = (0.1, 0.2)` (sum 0.3) rises by λ = 0.15.
/// With `b = 2.5` the box corner `(1, 1)` (sum 2) is the best reachable: `d = 1 − t`.
#[test]
fn projection_linf_closed_form() {
    let close = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-6);
    let w = [1.0f32, 1.0];
    let d = projection_linf(&[0.5, 0.5], &w, 0.6, (0.0, 1.0));
    assert!(close(&d, &[-0.2, -0.2]), "{d:?}");
    let d = projection_linf(&[0.1, 0.9], &w, 0.6, (0.0, 1.0));
    assert!(close(&d, &[-0.1, -0.3]), "{d:?}");
    let d = projection_linf(&[0.1, 0.2], &w, 0.6, (0.0, 1.0));
    assert!(close(&d, &[0.15, 0.15]), "{d:?}");
    let d = projection_linf(&[0.1, 0.2], &w, 2.5, (0.0, 1.0));
    assert!(close(&d, &[0.9, 0.8]), "{d:?}");
    // A zero weight never moves; a point on the hyperplane does not move at all.
    let d = projection_linf(&[0.5, 0.5, 0.5], &[1.0, 0.0, -2.0], -0.5, (0.0, 1.0));
    assert!(close(&d, &[0.0, 0.0, 0.0]), "{d:?}");
}

/// Oracle: [`brute_projection`] (bisection on the L∞ radius) on random small problems with
/// zero weights, points at the box faces, both orientations of the hyperplane, and
/// unreachable hyperplanes (where the box corner closest to it is the answer).
#[test]
fn projection_linf_matches_brute_force() {
    let mut rng = ChaCha8Rng::seed_from_u64(17);
    let (mut reachable, mut unreachable) = (0, 0);
    for case in 0..600 {
        let n = 1 + case % 9;
        let t: Vec<f32> = (0..n)
            .map(|_| match rng.random_range(0..6) {
                0 => 0.0,
                1 => 1.0,
                _ => rng.random_range(0.0..1.0),
            })
            .collect();
        let w: Vec<f32> = (0..n)
            .map(|_| {
                if rng.random_range(0..5) == 0 {
                    0.0
                } else {
                    rng.random_range(-2.0..2.0)
                }
            })
            .collect();
        let wt: f32 = w.iter().zip(&t).map(|(a, b)| a * b).sum();
        let b = wt + rng.random_range(-3.0..3.0);
        let d = projection_linf(&t, &w, b, (0.0, 1.0));
        let (lam, want) = brute_projection(&t, &w, b);
        for i in 0..n {
            assert!(
                (f64::from(d[i]) - want[i]).abs() < 1e-5,
                "case {case}: t {t:?} w {w:?} b {b}: got {d:?}, want {want:?}"
            );
            assert!(
                (-1e-6..=1.0 + 1e-6).contains(&(t[i] + d[i])),
                "case {case}: left the box"
            );
        }
        match lam {
            Some(lam) => {
                reachable += 1;
                assert!((f64::from(ops::linf(&d)) - lam).abs() < 1e-5, "case {case}");
                let on: f32 = w
                    .iter()
                    .zip(&t)
                    .zip(&d)
                    .map(|((a, x), s)| a * (x + s))
                    .sum();
                assert!(
                    (on - b).abs() < 1e-4 * (1.0 + b.abs()),
                    "case {case}: {on} vs {b}"
                );
            }
            None => unreachable += 1,
        }
    }
    assert!(
        reachable > 200 && unreachable > 50,
        "{reachable} / {unreachable}"
    );
}

/// The nearest-class-mean model's weights `W` (`K` rows of `D`) and biases, on the host.
fn host_model() -> (Vec<Vec<f32>>, Vec<f32>) {
    let means = class_means(7);
    let b = means
        .iter()
        .map(|m| -0.5 * m.iter().map(|v| v * v).sum::<f32>())
        .collect();
    (means, b)
}

/// For sample `x` of class `y` of the linear model: the exact box-constrained L∞ distance to
/// the hyperplane `z_t = z_y` ([`brute_projection`]), and a lower bound on the distance to
/// any misclassified point, `min_{j≠y} (z_y − z_j)/‖w_y − w_j‖₁` (Hölder; ignores the box).
fn distances(x: &[f32], y: usize, t: usize) -> (f64, f64) {
    let (w, b) = host_model();
    let z: Vec<f64> = (0..K)
        .map(|j| {
            f64::from(b[j])
                + w[j]
                    .iter()
                    .zip(x)
                    .map(|(a, c)| f64::from(a * c))
                    .sum::<f64>()
        })
        .collect();
    let gap: Vec<f32> = w[t].iter().zip(&w[y]).map(|(a, c)| a - c).collect();
    let (to_t, _) = brute_projection(x, &gap, b[y] - b[t]);
    let lower = (0..K)
        .filter(|&j| j != y)
        .map(|j| {
            let l1: f64 = w[y]
                .iter()
                .zip(&w[j])
                .map(|(a, c)| f64::from(a - c).abs())
                .sum();
            (z[y] - z[j]) / l1
        })
        .fold(f64::INFINITY, f64::min);
    (to_t.expect("the target's half-space is reachable"), lower)
}

/// Oracle: on a linear model FAB's linearisation is exact, so its first step lands at η = 1.05
/// times the box-constrained L∞ distance to the hyperplane of the first target class (the
/// second-largest logit), computed by [`brute_projection`]; later steps only shorten it. No
/// misclassified point is closer than the Hölder lower bound `min_j (z_y − z_j)/‖w_y − w_j‖₁`.
/// So with ε = 1 every correctly classified sample is broken at a distance between those two.
#[test]
fn fab_t_distance_between_closed_form_bounds() {
    let (m, b) = setup(30, 3);
    let o = Oracle::new(&m);
    let fab = FabT {
        eps: 1.0,
        steps: 100,
        restarts: 1,
        targets: 9,
        alpha_max: 0.1,
        eta: 1.05,
        beta: 0.9,
    };
    let adv = fab.perturb(&o, &b).unwrap();
    let (z, k) = o.logits(&b.x, b.shape).unwrap();
    let (za, _) = o.logits(&adv, b.shape).unwrap();
    let mut checked = 0;
    let mut tight = 0;
    for i in 0..b.len() {
        let (row, y) = (&z[i * k..(i + 1) * k], b.labels[i] as usize);
        if ops::argmax(row) != y {
            continue;
        }
        assert_ne!(
            ops::argmax(&za[i * k..(i + 1) * k]),
            y,
            "sample {i} not broken"
        );
        let x = &b.x[i * D..(i + 1) * D];
        let delta: Vec<f32> = adv[i * D..(i + 1) * D]
            .iter()
            .zip(x)
            .map(|(a, c)| a - c)
            .collect();
        let dist = f64::from(ops::linf(&delta));
        let (to_t, lower) = distances(x, y, ops::nth_largest(row, 2));
        assert!(
            dist >= lower * (1.0 - 1e-4),
            "sample {i}: {dist} below the bound {lower}"
        );
        assert!(
            dist <= 1.05 * to_t * (1.0 + 1e-4),
            "sample {i}: {dist} vs 1.05 x {to_t}"
        );
        // The backward steps refine the first overshoot towards the boundary itself.
        tight += usize::from(dist <= 1.01 * to_t);
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} samples classified correctly");
    assert!(
        tight * 2 >= checked,
        "{tight} of {checked} within 1% of the hyperplane"
    );
}

/// Oracle: the Hölder lower bound again. Below it no sample can be broken, so FAB-T returns
/// the clean images; the outputs of any ε stay in the ε-ball (the constraint `run_attack`
/// checks).
#[test]
fn fab_t_is_sound_below_the_lower_bound() {
    let (m, b) = setup(20, 4);
    let o = Oracle::new(&m);
    let (z, k) = o.logits(&b.x, b.shape).unwrap();
    let lower = (0..b.len())
        .filter(|&i| ops::argmax(&z[i * k..(i + 1) * k]) == b.labels[i] as usize)
        .map(|i| {
            let row = &z[i * k..(i + 1) * k];
            distances(
                &b.x[i * D..(i + 1) * D],
                b.labels[i] as usize,
                ops::nth_largest(row, 2),
            )
            .1
        })
        .fold(f64::INFINITY, f64::min);
    let fab = |eps: f32| FabT {
        eps,
        steps: 30,
        restarts: 2,
        targets: 3,
        alpha_max: 0.1,
        eta: 1.05,
        beta: 0.9,
    };
    let small = fab((0.99 * lower) as f32).perturb(&o, &b).unwrap();
    assert_eq!(small, b.x);
    for eps in [0.05f32, 0.1, 0.3] {
        let adv = fab(eps).perturb(&o, &b).unwrap();
        for i in 0..b.len() {
            let delta: Vec<f32> = adv[i * D..(i + 1) * D]
                .iter()
                .zip(&b.x[i * D..(i + 1) * D])
                .map(|(a, c)| a - c)
                .collect();
            assert!(ops::linf(&delta) <= eps, "eps {eps} sample {i}");
        }
    }
}

fn apgd_t(eps: f32, steps: usize, targets: usize) -> ApgdT {
    ApgdT {
        norm: Norm::Linf,
        eps,
        steps,
        restarts: 1,
        targets,
    }
}

/// Oracle: AutoAttack's rules for APGD-T. Only samples classified correctly are attacked (the
/// others come back clean); a sample comes back changed only if the returned image is
/// misclassified; the output stays in the ε-ball; and it does not depend on the batch
/// composition (per-sample seeding).
#[test]
fn apgd_t_follows_autoattack_rules() {
    let (m, b) = setup_rowwise(24, 5);
    let o = Oracle::new(&m);
    let eps = 0.1;
    let a = apgd_t(eps, 20, 9);
    let adv = a.perturb(&o, &b).unwrap();
    let (z, k) = o.logits(&b.x, b.shape).unwrap();
    let (za, _) = o.logits(&adv, b.shape).unwrap();
    let (mut broken, mut kept) = (0, 0);
    for i in 0..b.len() {
        let (x, xa) = (&b.x[i * D..(i + 1) * D], &adv[i * D..(i + 1) * D]);
        let delta: Vec<f32> = xa.iter().zip(x).map(|(p, q)| p - q).collect();
        assert!(ops::linf(&delta) <= eps * (1.0 + 1e-6), "sample {i}");
        let correct = ops::argmax(&z[i * k..(i + 1) * k]) == b.labels[i] as usize;
        if !correct || xa == x {
            assert_eq!(xa, x, "sample {i}");
            kept += 1;
        } else {
            assert_ne!(ops::argmax(&za[i * k..(i + 1) * k]), b.labels[i] as usize);
            broken += 1;
        }
    }
    assert!(
        broken > 0 && kept > 0,
        "{broken} broken, {kept} kept: pick another eps"
    );
    let mut halves = a
        .perturb(&o, &b.subset(&(0..12).collect::<Vec<_>>()))
        .unwrap();
    halves.extend(
        a.perturb(&o, &b.subset(&(12..24).collect::<Vec<_>>()))
            .unwrap(),
    );
    assert_eq!(adv, halves);
}

/// Oracle: more target classes only add runs on the samples still robust, so the robust
/// accuracy under APGD-T with 9 targets is at most that with 1 target, and APGD-T with 9
/// targets is at least as strong as untargeted APGD-DLR of the same length on this model
/// within 1 sample in 40 (the comparison AutoAttack's paper makes).
#[test]
fn apgd_t_more_targets_is_stronger() {
    let (m, b) = setup(40, 6);
    assert!(clean_accuracy(&m, &b) > 0.9);
    // At ε = 0.12 about a quarter of the samples survive (at 0.1 most, at 0.15 none).
    let eps = 0.12;
    let (one, _) = robust_accuracy(&apgd_t(eps, 30, 1), &m, &b);
    let (nine, _) = robust_accuracy(&apgd_t(eps, 30, 9), &m, &b);
    let dlr = Apgd {
        name: "apgd-dlr",
        norm: Norm::Linf,
        eps,
        steps: 30,
        restarts: 1,
        loss: LossKind::Dlr,
    };
    let (untargeted, _) = robust_accuracy(&dlr, &m, &b);
    assert!(nine <= one, "{nine} > {one}");
    assert!(nine <= untargeted + 1.0 / 40.0, "{nine} vs {untargeted}");
    assert!(
        nine > 0.0 && one < 1.0,
        "eps does not separate: {one}, {nine}"
    );
}

/// A small ensemble for tests: the standard components, shorter.
fn small_autoattack(eps: f32) -> AutoAttack {
    let mut aa = AutoAttack::standard(eps);
    aa.apgd_ce.steps = 10;
    aa.apgd_t.steps = 10;
    aa.apgd_t.targets = 3;
    aa.fab_t.steps = 10;
    aa.fab_t.targets = 3;
    aa.square.queries = 100;
    aa
}

/// Oracle: AutoAttack's worst case, recomputed from the components. Every component is
/// per-sample independent, so running it alone on all correctly classified images (with the
/// seed the ensemble gives it) breaks the same images it breaks inside the ensemble; the
/// ensemble's broken set is therefore the union of the components' broken sets, and each
/// broken image is the output of the first component that broke it.
#[test]
fn autoattack_is_the_union_of_its_components() {
    let (m, b) = setup_rowwise(30, 8);
    let o = Oracle::new(&m);
    let eps = 0.11;
    let aa = small_autoattack(eps);
    let (adv, by) = aa.run(&o, &b).unwrap();
    let (z, k) = o.logits(&b.x, b.shape).unwrap();
    let correct: Vec<usize> = (0..b.len())
        .filter(|&i| ops::argmax(&z[i * k..(i + 1) * k]) == b.labels[i] as usize)
        .collect();
    let comps: [&dyn Attack; 4] = [&aa.apgd_ce, &aa.apgd_t, &aa.fab_t, &aa.square];
    let d = D;
    let mut first: Vec<Option<usize>> = vec![None; b.len()];
    let mut first_adv = b.x.clone();
    for (c, comp) in comps.iter().enumerate() {
        let mut sub = b.subset(&correct);
        sub.seed = crate::oracle::mix(b.seed, 0xAA00 + c as u64);
        let out = comp.perturb(&o, &sub).unwrap();
        let (zo, _) = o.logits(&out, sub.shape).unwrap();
        for (j, &i) in correct.iter().enumerate() {
            if first[i].is_none() && ops::argmax(&zo[j * k..(j + 1) * k]) != b.labels[i] as usize {
                first[i] = Some(c);
                first_adv[i * d..(i + 1) * d].copy_from_slice(&out[j * d..(j + 1) * d]);
            }
        }
    }
    assert_eq!(by, first);
    assert_eq!(adv, first_adv);
    let broken = by.iter().filter(|c| c.is_some()).count();
    assert!(
        broken > 0 && broken < correct.len(),
        "{broken} of {}",
        correct.len()
    );
    // The worst case is at least as strong as its strongest component alone.
    for comp in comps {
        let (acc_c, _) = robust_accuracy(comp, &m, &b);
        let acc = (b.len() - broken - (b.len() - correct.len())) as f32 / b.len() as f32;
        assert!(acc <= acc_c + 1e-6, "{}: {acc} > {acc_c}", comp.name());
    }
}

/// Oracle: the registry's names and defaults against AutoAttack's `version='standard'`
/// (`autoattack.py`, `set_version`): APGD-CE 100 steps and 1 restart, APGD-T 100 steps with 9
/// target classes and 1 restart, FAB-T 100 steps with 9 target classes and 1 restart,
/// α_max 0.1, η 1.05, β 0.9, Square 5000 queries with p_init 0.8 and no rescaled schedule.
#[test]
fn registry_builds_the_standard_version() {
    for (name, kind) in [
        ("apgd-t", AttackKind::ApgdT),
        ("fab-t", AttackKind::FabT),
        ("autoattack", AttackKind::AutoAttack),
    ] {
        assert_eq!(name.parse::<AttackKind>().unwrap(), kind);
        assert_eq!(kind.name(), name);
        assert_eq!(kind.norm(), Norm::Linf);
        assert!(kind.picks_targets());
        let built = AttackConfig::default().build(kind, 8.0 / 255.0).unwrap();
        assert_eq!(built.name(), name);
    }
    let c = AttackConfig::default();
    let want = AutoAttack::standard(0.03);
    assert_eq!(c.apgd.steps, want.apgd_ce.steps);
    assert_eq!(c.apgd.restarts, want.apgd_ce.restarts);
    assert_eq!(
        (c.apgd.steps, c.apgd.restarts, c.apgd.targets),
        (want.apgd_t.steps, want.apgd_t.restarts, want.apgd_t.targets)
    );
    assert_eq!((c.fab.steps, c.fab.restarts, c.fab.targets), (100, 1, 9));
    assert_eq!((c.fab.alpha_max, c.fab.eta, c.fab.beta), (0.1, 1.05, 0.9));
    assert_eq!(c.autoattack.square_queries, 5000);
    assert!(!want.square.rescale_schedule);
    assert_eq!(
        (
            want.fab_t.steps,
            want.fab_t.targets,
            want.fab_t.restarts,
            want.square.queries
        ),
        (100, 9, 1, 5000)
    );
}

/// Oracle: the ranges stated in the error messages; bad options are errors, never panics.
#[test]
fn bad_autoattack_options_are_errors() {
    let base = AttackConfig::default();
    let with = |set: fn(&mut AttackConfig)| {
        let mut c = base.clone();
        set(&mut c);
        c
    };
    for (cfg, field) in [
        (with(|c| c.fab.steps = 0), "fab_steps"),
        (with(|c| c.fab.targets = 0), "fab_targets"),
        (with(|c| c.apgd.targets = 0), "apgdt_targets"),
        (with(|c| c.fab.alpha_max = 0.0), "fab_alpha_max"),
        (with(|c| c.fab.beta = 1.5), "fab_beta"),
        (with(|c| c.fab.eta = f32::NAN), "fab_eta"),
        (
            with(|c| c.autoattack.square_queries = 0),
            "autoattack_square_queries",
        ),
    ] {
        let err = cfg.build(AttackKind::AutoAttack, 0.03).err().expect(field);
        assert!(err.to_string().contains(field), "{err}");
    }
    let targeted = AttackConfig {
        target: Target::Random,
        ..base.clone()
    };
    for kind in [AttackKind::ApgdT, AttackKind::FabT, AttackKind::AutoAttack] {
        assert_eq!(
            targeted.build(kind, 0.03).err(),
            Some(ConfigError::PicksTargets(kind.name()))
        );
    }
    assert!(base.build(AttackKind::AutoAttack, 1.5).is_err());
    // A batch with targets and a model with too few classes are errors of `perturb`.
    let (m, mut b) = setup(4, 1);
    let o = Oracle::new(&m);
    b.targets = Some(vec![1, 2, 3, 4]);
    for a in [
        &small_autoattack(0.03) as &dyn Attack,
        &apgd_t(0.03, 5, 3),
        &small_autoattack(0.03).fab_t,
    ] {
        let err = a.perturb(&o, &b).unwrap_err();
        assert!(err.to_string().contains("own target classes"), "{err}");
    }
}

/// A three-class model: APGD-T's targeted DLR loss reads a fourth logit.
struct ThreeClasses;

impl crate::Model for ThreeClasses {
    fn logits(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let n = x.dim(0)?;
        let s = x.reshape((n, ()))?.sum_keepdim(1)?;
        Tensor::cat(&[&s, &s.affine(-1.0, 0.0)?, &s.affine(0.5, 0.0)?], 1)
    }
}

/// Oracle: the stated class requirement.
#[test]
fn apgd_t_needs_four_classes() {
    let o = Oracle::new(&ThreeClasses);
    let b = Batch::new(vec![0.5; 2 * 4], [2, 1, 2, 2], vec![0, 0], vec![0, 1], 1).unwrap();
    let err = apgd_t(0.1, 5, 2).perturb(&o, &b).unwrap_err();
    assert!(err.to_string().contains("at least 4 classes"), "{err}");
    assert_eq!(AttackKind::ApgdT.min_classes(), 4);
    assert_eq!(AttackKind::AutoAttack.min_classes(), 4);
    assert_eq!(AttackKind::ApgdDlr.min_classes(), 3);
    assert_eq!(AttackKind::FabT.min_classes(), 2);
}

/// Oracle: the reference's square-size schedule is indexed by the raw iteration when not
/// rescaled: at iteration 600 of 5000 queries, p = p_init/16 (500 < it ≤ 1000), while the
/// rescaled schedule reads iteration 1200 (p_init/32). Both versions stay in the ε-ball.
#[test]
fn square_schedule_not_rescaled_in_autoattack() {
    use crate::square::p_selection;
    assert_eq!(p_selection(0.8, 600, 10_000), 0.8 / 16.0);
    assert_eq!(p_selection(0.8, 600, 5_000), 0.8 / 32.0);
    let (m, b) = setup(6, 2);
    let o = Oracle::new(&m);
    for rescale_schedule in [false, true] {
        let sq = Square {
            eps: 0.05,
            queries: 50,
            p_init: 0.8,
            rescale_schedule,
            redraw: false,
        };
        let adv = sq.perturb(&o, &b).unwrap();
        assert!(adv
            .iter()
            .zip(&b.x)
            .all(|(a, x)| (a - x).abs() <= 0.05 + 1e-6));
    }
}

/// A two-class model with constant logits (class 0) that records every image it is queried with.
struct Recorder(std::sync::Mutex<Vec<Vec<f32>>>);

impl crate::Model for Recorder {
    fn logits(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let n = x.dim(0)?;
        let rows = x.reshape((n, ()))?.to_vec2::<f32>()?;
        self.0.lock().unwrap().extend(rows);
        Tensor::from_vec([1f32, 0.0].repeat(n), (n, 2), x.device())
    }
}

/// Oracle: AutoAttack's Square (autoattack/square.py, `attack_single_run`) draws a window's signs
/// once per query, so on a 1×2×2 image, where every window is one pixel already at ±ε, a query
/// leaves the image unchanged with probability 1/2 (closed form); the margin never improves
/// under constant logits, so every query starts from the stripes of the first. 100 queries give
/// a Binomial(100, 1/2) count of unchanged ones, outside [25, 75] with probability below 1e-6.
/// With `redraw` (the paper's code) no query repeats the image.
#[test]
fn square_draws_window_signs_once_unless_redraw() {
    for redraw in [false, true] {
        let model = Recorder(std::sync::Mutex::new(Vec::new()));
        let o = Oracle::new(&model);
        let b = Batch::new(vec![0.5; 4], [1, 1, 2, 2], vec![0], vec![0], 7).unwrap();
        let sq = Square {
            eps: 0.1,
            queries: 101,
            p_init: 0.8,
            rescale_schedule: false,
            redraw,
        };
        sq.perturb(&o, &b).unwrap();
        let seen = model.0.into_inner().unwrap();
        assert_eq!(seen.len(), 101, "the stripes, then one query per iteration");
        let stripes = &seen[0];
        assert!(stripes
            .iter()
            .all(|v| (v - 0.4).abs() < 1e-6 || (v - 0.6).abs() < 1e-6));
        let unchanged = seen[1..].iter().filter(|q| *q == stripes).count();
        if redraw {
            assert_eq!(unchanged, 0);
        } else {
            assert!(
                (25..=75).contains(&unchanged),
                "{unchanged} of 100 unchanged"
            );
        }
    }
}
