//! Tests of the oracle, the projections and the first-order attacks on a linear softmax model,
//! whose input gradient has a closed form.

use crate::ops;
use crate::{
    run_attack, Attack, AttackConfig, AttackKind, Batch, Bim, Fgsm, LossKind, MiFgsm, Model, Norm,
    Oracle, Pgd, Target,
};
use candle_core::{Device, Result, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// `logits = x_flat · Wᵀ + b`.
pub(crate) struct Linear {
    pub w: Vec<f32>,
    pub b: Vec<f32>,
    pub k: usize,
    pub d: usize,
}

impl Linear {
    pub fn random(k: usize, d: usize, seed: u64) -> Self {
        let mut r = ChaCha8Rng::seed_from_u64(seed);
        Linear {
            w: (0..k * d).map(|_| r.random_range(-1.0..1.0)).collect(),
            b: (0..k).map(|_| r.random_range(-0.1..0.1)).collect(),
            k,
            d,
        }
    }

    /// Host logits of one image.
    pub fn logits_of(&self, x: &[f32]) -> Vec<f32> {
        (0..self.k)
            .map(|j| {
                self.b[j]
                    + self.w[j * self.d..(j + 1) * self.d]
                        .iter()
                        .zip(x)
                        .map(|(a, b)| a * b)
                        .sum::<f32>()
            })
            .collect()
    }
}

impl Model for Linear {
    fn logits(&self, x: &Tensor) -> Result<Tensor> {
        let w = Tensor::from_slice(&self.w, (self.k, self.d), x.device())?;
        let b = Tensor::from_slice(&self.b, self.k, x.device())?;
        x.flatten_from(1)?.matmul(&w.t()?)?.broadcast_add(&b)
    }
}

pub(crate) fn batch(n: usize, shape: [usize; 3], k: usize, seed: u64) -> Batch {
    let mut r = ChaCha8Rng::seed_from_u64(seed ^ 0xABCD);
    let d = shape.iter().product::<usize>();
    let x = (0..n * d).map(|_| r.random_range(0.0..1.0)).collect();
    let labels = (0..n).map(|_| r.random_range(0..k as u32)).collect();
    Batch::new(
        x,
        [n, shape[0], shape[1], shape[2]],
        labels,
        (0..n as u64).collect(),
        seed,
    )
    .unwrap()
}

fn softmax(z: &[f32]) -> Vec<f64> {
    let m = z.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    let e: Vec<f64> = z.iter().map(|&v| f64::from(v - m).exp()).collect();
    let s: f64 = e.iter().sum();
    e.iter().map(|v| v / s).collect()
}

/// Oracle: for a linear softmax model the cross-entropy input gradient is `Wᵀ(softmax(z) − e_y)`
/// (closed form), so FGSM must equal `clip(x + ε·sign(Wᵀ(p − e_y)))`.
#[test]
fn fgsm_matches_closed_form_on_linear_model() {
    let (k, shape) = (5, [3, 4, 4]);
    let m = Linear::random(k, 48, 1);
    let b = batch(6, shape, k, 2);
    let eps = 8.0 / 255.0;
    let adv = Fgsm { eps }.perturb(&Oracle::new(&m), &b).unwrap();
    let d = b.dim();
    let mut checked = 0;
    for i in 0..b.len() {
        let x = &b.x[i * d..(i + 1) * d];
        let p = softmax(&m.logits_of(x));
        for t in 0..d {
            let g: f64 = (0..k)
                .map(|j| {
                    let e = if j as u32 == b.labels[i] { 1.0 } else { 0.0 };
                    f64::from(m.w[j * d + t]) * (p[j] - e)
                })
                .sum();
            if g.abs() < 1e-6 {
                continue; // sign undecided at float precision
            }
            let want = (x[t] + eps * g.signum() as f32).clamp(0.0, 1.0);
            assert!((adv[i * d + t] - want).abs() < 1e-6, "sample {i} value {t}");
            checked += 1;
        }
    }
    assert!(checked > 250);
}

/// Oracle: central finite differences of the per-sample objective (computed on the host from
/// the model's logits) against the oracle's input gradient, for every loss, untargeted and
/// targeted (the targeted DLR loss of APGD-T and FAB-T's logit gap included).
#[test]
fn loss_gradients_match_finite_differences() {
    let (k, shape) = (6, [1, 3, 3]);
    let m = Linear::random(k, 9, 3);
    let mut b = batch(3, shape, k, 4);
    let o = Oracle::new(&m);
    let host = |x: &[f32], b: &Batch, loss: LossKind| -> Vec<f32> {
        let t = Tensor::from_slice(x, b.shape.to_vec(), &Device::Cpu).unwrap();
        let z = m.logits(&t).unwrap();
        crate::oracle::objective(&z, &b.labels, b.targets.as_deref(), loss)
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()
    };
    for targets in [
        None,
        Some(vec![
            (b.labels[0] + 1) % k as u32,
            (b.labels[1] + 2) % k as u32,
            (b.labels[2] + 3) % k as u32,
        ]),
    ] {
        b.targets = targets;
        for loss in [
            LossKind::CrossEntropy,
            LossKind::Dlr,
            LossKind::Margin,
            LossKind::LogitGap,
        ] {
            if loss == LossKind::LogitGap && b.targets.is_none() {
                continue; // targeted only
            }
            let g = o.loss_grad(&b.x, &b, loss).unwrap();
            // A small step keeps the sort order of the logits fixed inside the difference window.
            let h = 1e-3f32;
            for t in 0..b.x.len() {
                let (mut xp, mut xm) = (b.x.clone(), b.x.clone());
                xp[t] += h;
                xm[t] -= h;
                let (fp, fm) = (host(&xp, &b, loss), host(&xm, &b, loss));
                let i = t / b.dim();
                let fd = (fp[i] - fm[i]) / (2.0 * h);
                let tol = 5e-3 + 2e-2 * fd.abs();
                assert!(
                    (fd - g.grad[t]).abs() < tol,
                    "{loss:?} value {t}: fd {fd} vs {}",
                    g.grad[t]
                );
            }
        }
    }
}

/// Oracle: DLR's definition `−(z_y − max_{i≠y} z_i)/(z_π1 − z_π3)` evaluated by hand on fixed
/// logits `[3, 1, 2, 0]` with y = 0: −(3 − 2)/(3 − 1) = −0.5; with y = 3: −(0 − 3)/(3 − 1) = 1.5.
#[test]
fn dlr_value_by_hand() {
    let z = Tensor::new(&[[3f32, 1., 2., 0.], [3., 1., 2., 0.]], &Device::Cpu).unwrap();
    let v = crate::oracle::objective(&z, &[0, 3], None, LossKind::Dlr)
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    assert!(
        (v[0] + 0.5).abs() < 1e-6 && (v[1] - 1.5).abs() < 1e-6,
        "{v:?}"
    );
}

/// The attack with default parameters, but without early stopping: the random linear models
/// misclassify most samples already, and early stopping would leave them untouched.
fn first_order(kind: AttackKind, eps: f64) -> Box<dyn Attack> {
    let cfg = AttackConfig {
        early_stop: false,
        ..AttackConfig::default()
    };
    cfg.build(kind, eps).unwrap()
}

/// Oracle: the threat model's definition: every output lies in the ε-ball (L∞ or L2) around its
/// input and in [0, 1], and is finite, over a table of ε and seeds.
#[test]
fn outputs_stay_in_ball_and_box() {
    let (k, shape) = (4, [3, 4, 4]);
    let m = Linear::random(k, 48, 5);
    for seed in [0u64, 7, 99] {
        let b = batch(5, shape, k, seed);
        for (kind, eps) in [
            (AttackKind::Fgsm, 2.0 / 255.0),
            (AttackKind::Fgsm, 0.3),
            (AttackKind::Bim, 8.0 / 255.0),
            (AttackKind::Pgd, 8.0 / 255.0),
            (AttackKind::Pgd, 0.5),
            (AttackKind::Mifgsm, 16.0 / 255.0),
            (AttackKind::PgdL2, 0.25),
            (AttackKind::PgdL2, 3.0),
        ] {
            let a = first_order(kind, eps);
            let adv = a.perturb(&Oracle::new(&m), &b).unwrap();
            let d = b.dim();
            for i in 0..b.len() {
                let delta: Vec<f32> = (0..d).map(|t| adv[i * d + t] - b.x[i * d + t]).collect();
                let n = ops::norm_of(kind.norm(), &delta);
                assert!(
                    n <= eps as f32 * (1.0 + 1e-5) + 1e-6,
                    "{kind} eps {eps}: norm {n}"
                );
                assert!(adv[i * d..(i + 1) * d]
                    .iter()
                    .all(|v| v.is_finite() && (0.0..=1.0).contains(v)));
            }
            assert!(adv != b.x, "{kind} eps {eps} changed nothing");
        }
    }
}

/// Oracle: with ε = 0 the ball is the input itself, so every attack returns it unchanged.
#[test]
fn zero_eps_returns_input() {
    let (k, shape) = (4, [3, 4, 4]);
    let m = Linear::random(k, 48, 6);
    let b = batch(4, shape, k, 1);
    for kind in [
        AttackKind::Fgsm,
        AttackKind::Bim,
        AttackKind::Pgd,
        AttackKind::PgdL2,
        AttackKind::Mifgsm,
    ] {
        let adv = first_order(kind, 0.0)
            .perturb(&Oracle::new(&m), &b)
            .unwrap();
        assert_eq!(adv, b.x, "{kind}");
    }
}

/// Oracle: PGD with one step of size ε, no random start and no early stop is FGSM by
/// definition (same sign step, same projection).
#[test]
fn one_step_pgd_is_fgsm() {
    let m = Linear::random(4, 48, 8);
    let b = batch(6, [3, 4, 4], 4, 3);
    let eps = 8.0 / 255.0;
    let pgd = Pgd {
        name: "pgd",
        norm: Norm::Linf,
        eps,
        steps: 1,
        step_size: eps,
        random_start: false,
        restarts: 1,
        early_stop: false,
        loss: LossKind::CrossEntropy,
    };
    let o = Oracle::new(&m);
    assert_eq!(
        pgd.perturb(&o, &b).unwrap(),
        Fgsm { eps }.perturb(&o, &b).unwrap()
    );
}

/// Oracle: every random draw is seeded by (seed, sample index), so the same seed reproduces
/// the output bit for bit, another seed changes the random start, and splitting the batch in two
/// changes nothing.
#[test]
fn seeded_and_batch_independent() {
    let m = Linear::random(4, 48, 9);
    let b = batch(8, [3, 4, 4], 4, 5);
    let o = Oracle::new(&m);
    // Two short steps: long runs on a linear model end in the same corner of the ball whatever
    // the start, which would hide the random start.
    let eps = 4.0 / 255.0;
    let a = Pgd {
        name: "pgd",
        norm: Norm::Linf,
        eps,
        steps: 2,
        step_size: eps / 4.0,
        random_start: true,
        restarts: 1,
        early_stop: false,
        loss: LossKind::CrossEntropy,
    };
    let one = a.perturb(&o, &b).unwrap();
    assert_eq!(one, a.perturb(&o, &b).unwrap());
    let mut other = b.clone();
    other.seed = 6;
    assert!(one != a.perturb(&o, &other).unwrap());
    let lo = a.perturb(&o, &b.subset(&[0, 1, 2])).unwrap();
    let hi = a.perturb(&o, &b.subset(&[3, 4, 5, 6, 7])).unwrap();
    assert_eq!(one, [lo, hi].concat());
}

/// Oracle: random targets are never the true class and come from the sample's own generator;
/// least-likely targets are the argmin of the clean logits.
#[test]
fn target_choice() {
    let b = batch(50, [1, 2, 2], 10, 11);
    let t = b.choose_targets(Target::Random, &[], 10).unwrap();
    assert!(t.iter().zip(&b.labels).all(|(t, y)| t != y && *t < 10));
    assert!(t.iter().collect::<std::collections::HashSet<_>>().len() > 5);
    let z = [0.5f32, -1.0, 2.0, 0.0, 3.0, -2.0];
    let b2 = batch(2, [1, 2, 2], 3, 1);
    assert_eq!(
        b2.choose_targets(Target::LeastLikely, &z, 3).unwrap(),
        vec![1, 2]
    );
}

/// Trains the linear model by gradient descent on two well separated Gaussian blobs per class.
fn trained_linear(k: usize, d: usize) -> (Linear, Batch) {
    let mut r = ChaCha8Rng::seed_from_u64(21);
    let centers: Vec<Vec<f32>> = (0..k)
        .map(|_| (0..d).map(|_| r.random_range(0.3..0.7)).collect())
        .collect();
    let n = 64;
    let labels: Vec<u32> = (0..n).map(|i| (i % k) as u32).collect();
    let x: Vec<f32> = labels
        .iter()
        .flat_map(|&y| {
            let c = centers[y as usize].clone();
            c.into_iter()
                .map(|v| (v + 0.05 * ops::gaussian(&mut r)).clamp(0.0, 1.0))
                .collect::<Vec<_>>()
        })
        .collect();
    let b = Batch::new(x, [n, 1, 4, d / 4], labels, (0..n as u64).collect(), 3).unwrap();
    let mut m = Linear {
        w: vec![0.0; k * d],
        b: vec![0.0; k],
        k,
        d,
    };
    for _ in 0..200 {
        for i in 0..n {
            let xi = &b.x[i * d..(i + 1) * d];
            let p = softmax(&m.logits_of(xi));
            for (j, &pj) in p.iter().enumerate() {
                let e = pj as f32 - if j as u32 == b.labels[i] { 1.0 } else { 0.0 };
                for (wt, &xt) in m.w[j * d..(j + 1) * d].iter_mut().zip(xi) {
                    *wt -= 0.05 * e * xt;
                }
                m.b[j] -= 0.05 * e;
            }
        }
    }
    (m, b)
}

/// Oracle: the ordering every sound evaluation satisfies on a trained model: accuracy under
/// PGD ≤ under BIM and FGSM ≤ clean, and BIM/PGD/MI-FGSM do break samples at a large ε.
#[test]
fn stronger_attacks_lower_accuracy() {
    let (m, b) = trained_linear(3, 16);
    let o = Oracle::new(&m);
    let acc = |kind: AttackKind, eps: f64| -> f64 {
        let out = run_attack(
            first_order(kind, eps).as_ref(),
            Target::Untargeted,
            true,
            &o,
            &b,
            None,
        )
        .unwrap();
        out.success.iter().filter(|s| !**s).count() as f64 / b.len() as f64
    };
    let clean = acc(AttackKind::Fgsm, 0.0);
    assert!(clean > 0.9, "the linear model did not train: {clean}");
    for eps in [0.02, 0.05, 0.1] {
        let (f, bim, p) = (
            acc(AttackKind::Fgsm, eps),
            acc(AttackKind::Bim, eps),
            acc(AttackKind::Pgd, eps),
        );
        assert!(
            f <= clean && bim <= f + 1e-9 && p <= f + 1e-9,
            "eps {eps}: clean {clean} fgsm {f} bim {bim} pgd {p}"
        );
    }
    assert!(acc(AttackKind::Pgd, 0.3) < 0.5 * clean);
    assert!(acc(AttackKind::Mifgsm, 0.3) < 0.5 * clean);
}

/// Oracle: `run_attack`'s after-the-fact check must reject an attack that leaves the ball.
#[test]
fn run_attack_rejects_out_of_ball_output() {
    struct Cheat;
    impl Attack for Cheat {
        fn name(&self) -> &'static str {
            "cheat"
        }
        fn norm(&self) -> Norm {
            Norm::Linf
        }
        fn eps(&self) -> f32 {
            0.01
        }
        fn perturb(&self, _: &Oracle, b: &Batch) -> Result<Vec<f32>> {
            Ok(b.x.iter().map(|v| (v + 0.1).min(1.0)).collect())
        }
    }
    let m = Linear::random(3, 12, 2);
    let b = batch(4, [3, 2, 2], 3, 2);
    let e = run_attack(
        &Cheat,
        Target::Untargeted,
        false,
        &Oracle::new(&m),
        &b,
        None,
    )
    .unwrap_err();
    assert!(e.to_string().contains("left the linf ball"), "{e}");
}

/// Oracle: bad parameters are refused with the value and the expected range named.
#[test]
fn bad_parameters_refused() {
    let c = AttackConfig::default();
    for (kind, eps) in [
        (AttackKind::Pgd, -0.1),
        (AttackKind::Fgsm, 1.5),
        (AttackKind::PgdL2, f64::NAN),
    ] {
        let e = c.build(kind, eps).err().unwrap().to_string();
        assert!(e.contains("out of range"), "{e}");
    }
    let mut bad = AttackConfig::default();
    bad.pgd.steps = 0;
    assert!(bad
        .build(AttackKind::Pgd, 0.1)
        .err()
        .unwrap()
        .to_string()
        .contains("steps = 0"));
    assert!("foo"
        .parse::<AttackKind>()
        .unwrap_err()
        .to_string()
        .contains("unknown attack `foo`"));
    for k in AttackKind::ALL {
        assert_eq!(k.name().parse::<AttackKind>().unwrap(), k);
    }
}

/// Oracle: MI-FGSM with μ = 0 takes plain sign steps of ε/steps; one step equals FGSM.
#[test]
fn mifgsm_one_step_is_fgsm() {
    let m = Linear::random(4, 48, 12);
    let b = batch(5, [3, 4, 4], 4, 8);
    let o = Oracle::new(&m);
    let eps = 4.0 / 255.0;
    let mi = MiFgsm {
        eps,
        steps: 1,
        decay: 0.0,
    }
    .perturb(&o, &b)
    .unwrap();
    assert_eq!(mi, Fgsm { eps }.perturb(&o, &b).unwrap());
    let bim = Bim {
        eps,
        steps: 3,
        step_size: eps / 3.0,
        early_stop: false,
    }
    .perturb(&o, &b)
    .unwrap();
    assert!(bim
        .iter()
        .zip(&b.x)
        .all(|(a, x)| (a - x).abs() <= eps + 1e-7));
}

/// Oracle: the definition of each attack's length, by hand, with a distinct value in every
/// parameter (so a kind reading the wrong field fails): CW-L2 takes its Adam steps in each of
/// its binary-search steps, FGSM one step, and AutoAttack, an ensemble, has no single length.
#[test]
fn every_attack_records_its_own_length() {
    let mut cfg = AttackConfig::default();
    cfg.pgd.steps = 2;
    cfg.bim.steps = 3;
    cfg.mifgsm.steps = 5;
    cfg.apgd.steps = 7;
    cfg.cw.steps = 11;
    cfg.cw.search_steps = 13;
    cfg.square.queries = 17;
    cfg.fab.steps = 19;
    let want = [
        (AttackKind::Fgsm, Some(1)),
        (AttackKind::Bim, Some(3)),
        (AttackKind::Pgd, Some(2)),
        (AttackKind::PgdL2, Some(2)),
        (AttackKind::Mifgsm, Some(5)),
        (AttackKind::ApgdCe, Some(7)),
        (AttackKind::ApgdDlr, Some(7)),
        (AttackKind::CwL2, Some(143)),
        (AttackKind::Square, Some(17)),
        (AttackKind::ApgdT, Some(7)),
        (AttackKind::FabT, Some(19)),
        (AttackKind::AutoAttack, None),
    ];
    for (kind, steps) in want {
        assert_eq!(cfg.steps_of(kind), steps, "{kind:?}");
    }
}

/// The registry's ranking is the one the report quoted before it lived there: the confusion
/// matrices' order pgd, apgd-ce, bim, mifgsm, fgsm, and the verdict's strong attacks pgd,
/// apgd-ce, bim; an unknown name's message lists every attack.
#[test]
fn registry_ranks_the_quoted_attacks() {
    let quoted: Vec<&str> = AttackKind::quoted()
        .into_iter()
        .map(AttackKind::name)
        .collect();
    assert_eq!(quoted, ["pgd", "apgd-ce", "bim", "mifgsm", "fgsm"]);
    let strong: Vec<&str> = AttackKind::quoted()
        .into_iter()
        .filter(|k| k.strong())
        .map(AttackKind::name)
        .collect();
    assert_eq!(strong, ["pgd", "apgd-ce", "bim"]);
    assert!(AttackKind::ALL
        .into_iter()
        .all(|k| !k.strong() || k.quote_rank().is_some()));
    let e = "nope".parse::<AttackKind>().unwrap_err().to_string();
    for k in AttackKind::ALL {
        assert!(e.contains(k.name()), "{e}");
    }
}
