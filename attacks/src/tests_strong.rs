//! Tests of APGD, CW-L2 and Square against a small linear softmax model whose classes are well
//! separated (a nearest-class-mean classifier on synthetic images).

use crate::apgd::checkpoints;
use crate::square::p_selection;
use crate::{
    ops, run_attack, Apgd, Attack, AttackConfig, AttackKind, Batch, CwL2, LossKind, Model, Norm,
    Oracle, Square, Target,
};
use candle_core::{Device, Result, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Image shape `(C, H, W)`.
pub(crate) const C: usize = 3;
pub(crate) const H: usize = 8;
pub(crate) const W: usize = 8;
/// Values per image.
pub(crate) const D: usize = C * H * W;
/// Classes.
pub(crate) const K: usize = 10;

/// `logits = x_flat·Wᵀ + b`.
pub(crate) struct Linear {
    /// `Wᵀ`, `(D, K)`.
    w_t: Tensor,
    /// `W` as `(1, K, D)`.
    w: Tensor,
    /// `(K,)`.
    b: Tensor,
    /// Compute `x_flat·Wᵀ` as a broadcast product summed over the input dimension instead of a
    /// matrix product, so that each row's logits and gradient are computed the same way whatever
    /// the batch size (candle's CPU matrix product takes another path, with another rounding,
    /// for the input gradient of a single row).
    rowwise: bool,
}

impl Model for Linear {
    fn logits(&self, x: &Tensor) -> Result<Tensor> {
        let n = x.dim(0)?;
        let z = if self.rowwise {
            x.reshape((n, 1, D))?.broadcast_mul(&self.w)?.sum(2)?
        } else {
            x.reshape((n, D))?.matmul(&self.w_t)?
        };
        z.broadcast_add(&self.b)
    }
}

/// Class means drawn from `seed`, uniform in `[0.25, 0.75]` per pixel.
pub(crate) fn class_means(seed: u64) -> Vec<Vec<f32>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..K)
        .map(|_| (0..D).map(|_| rng.random_range(0.25..0.75)).collect())
        .collect()
}

/// The nearest-class-mean classifier of `means`: `z_k = μ_k·x − ‖μ_k‖²/2`.
fn model(means: &[Vec<f32>], rowwise: bool) -> Linear {
    let w: Vec<f32> = means.iter().flatten().copied().collect();
    let b: Vec<f32> = means
        .iter()
        .map(|m| -0.5 * m.iter().map(|v| v * v).sum::<f32>())
        .collect();
    let w = Tensor::from_vec(w, (1, K, D), &Device::Cpu).unwrap();
    Linear {
        w_t: w.squeeze(0).unwrap().t().unwrap().contiguous().unwrap(),
        w,
        b: Tensor::from_vec(b, K, &Device::Cpu).unwrap(),
        rowwise,
    }
}

/// `n` images `clip(μ_y + N(0, 0.15²))` with labels `i mod K`, from `data_seed`, attacked with
/// run seed `seed`.
fn batch(means: &[Vec<f32>], n: usize, data_seed: u64, seed: u64) -> Batch {
    let mut rng = ChaCha8Rng::seed_from_u64(data_seed);
    let labels: Vec<u32> = (0..n).map(|i| (i % K) as u32).collect();
    let mut x = Vec::with_capacity(n * D);
    for &y in &labels {
        for &m in &means[y as usize] {
            x.push((m + 0.15 * ops::gaussian(&mut rng)).clamp(0.0, 1.0));
        }
    }
    Batch::new(x, [n, C, H, W], labels, (0..n as u64).collect(), seed).unwrap()
}

/// The model (a matrix product) and a batch of `n` images for run seed `seed`.
pub(crate) fn setup(n: usize, seed: u64) -> (Linear, Batch) {
    let means = class_means(7);
    (model(&means, false), batch(&means, n, 11, seed))
}

/// The same with the row-by-row model, for bitwise comparisons across batch compositions.
pub(crate) fn setup_rowwise(n: usize, seed: u64) -> (Linear, Batch) {
    let means = class_means(7);
    (model(&means, true), batch(&means, n, 11, seed))
}

fn apgd(norm: Norm, eps: f32, loss: LossKind, steps: usize, restarts: usize) -> Apgd {
    Apgd {
        name: if loss == LossKind::Dlr {
            "apgd-dlr"
        } else {
            "apgd-ce"
        },
        norm,
        eps,
        steps,
        restarts,
        loss,
    }
}

fn cw(eps: f32, steps: usize, search_steps: usize) -> CwL2 {
    CwL2 {
        eps,
        steps,
        search_steps,
        c_init: 0.1,
        lr: 0.01,
        kappa: 0.0,
        early_stop: false,
    }
}

fn square(eps: f32, queries: usize) -> Square {
    Square {
        eps,
        queries,
        p_init: 0.8,
        rescale_schedule: true,
        redraw: false,
    }
}

/// Short versions of the three attacks for `norm` at `eps`.
fn quick_attacks(norm: Norm, eps: f32) -> Vec<Box<dyn Attack>> {
    match norm {
        Norm::Linf => vec![
            Box::new(apgd(norm, eps, LossKind::CrossEntropy, 20, 2)),
            Box::new(apgd(norm, eps, LossKind::Dlr, 20, 1)),
            Box::new(square(eps, 150)),
        ],
        Norm::L2 => vec![
            Box::new(apgd(norm, eps, LossKind::CrossEntropy, 20, 2)),
            Box::new(apgd(norm, eps, LossKind::Dlr, 20, 1)),
            Box::new(cw(eps, 20, 3)),
        ],
    }
}

/// The constraint `run_attack` enforces: finite, inside `[0, 1]`, and inside the ε-ball with a
/// relative tolerance of 1e-5 for float rounding.
fn assert_valid(name: &str, norm: Norm, eps: f32, adv: &[f32], x: &[f32]) {
    assert_eq!(adv.len(), x.len(), "{name}: output length");
    for (i, (a, c)) in adv.chunks(D).zip(x.chunks(D)).enumerate() {
        assert!(
            a.iter().all(|v| v.is_finite()),
            "{name} eps {eps}: non-finite value in sample {i}"
        );
        assert!(
            a.iter().all(|&v| (0.0..=1.0).contains(&v)),
            "{name} eps {eps}: sample {i} outside [0, 1]"
        );
        let delta: Vec<f32> = a.iter().zip(c).map(|(p, q)| p - q).collect();
        let nrm = ops::norm_of(norm, &delta);
        assert!(
            nrm <= eps + 1e-5 * eps.max(1.0),
            "{name} eps {eps}: sample {i} has {} norm {nrm}",
            norm.name()
        );
    }
}

/// Accuracy under `attack` (samples the model gets wrong stay wrong; the others are attacked),
/// with the outcome.
pub(crate) fn robust_accuracy(
    attack: &dyn Attack,
    model: &Linear,
    b: &Batch,
) -> (f32, crate::AttackOutcome) {
    let oracle = Oracle::new(model);
    let out = run_attack(attack, Target::Untargeted, true, &oracle, b, None).unwrap();
    let correct = out
        .adv_pred
        .iter()
        .zip(&b.labels)
        .filter(|(p, y)| p == y)
        .count();
    (correct as f32 / b.len() as f32, out)
}

pub(crate) fn clean_accuracy(model: &Linear, b: &Batch) -> f32 {
    let oracle = Oracle::new(model);
    let (z, k) = oracle.logits(&b.x, b.shape).unwrap();
    let pred = ops::predictions(&z, k);
    pred.iter().zip(&b.labels).filter(|(p, y)| p == y).count() as f32 / b.len() as f32
}

fn build(kind: AttackKind, eps: f32) -> Box<dyn Attack> {
    AttackConfig::default().build(kind, f64::from(eps)).unwrap()
}

#[test]
fn outputs_stay_in_ball_and_box_without_nan() {
    // Oracle: the ball, box and finiteness constraint that `run_attack` checks, recomputed here
    // with `ops` norms on the raw `perturb` output.
    let table = [
        (Norm::Linf, [2.0 / 255.0, 8.0 / 255.0, 0.3]),
        (Norm::L2, [0.25, 1.0, 3.0]),
    ];
    for seed in [1, 2] {
        let (m, b) = setup(30, seed);
        let oracle = Oracle::new(&m);
        for (norm, epss) in table {
            for eps in epss {
                for a in quick_attacks(norm, eps) {
                    let adv = a.perturb(&oracle, &b).unwrap();
                    assert_valid(a.name(), norm, eps, &adv, &b.x);
                    // A perturbation was searched for: the output is not the clean image.
                    assert_ne!(adv, b.x, "{} eps {eps} returned the clean images", a.name());
                }
            }
        }
    }
}

#[test]
fn eps_zero_returns_the_input_exactly() {
    // Oracle: at ε = 0 the ball is the clean image itself, bit for bit.
    let (m, b) = setup(12, 3);
    let oracle = Oracle::new(&m);
    let attacks: Vec<Box<dyn Attack>> = vec![
        Box::new(apgd(Norm::Linf, 0.0, LossKind::CrossEntropy, 10, 2)),
        Box::new(apgd(Norm::L2, 0.0, LossKind::Dlr, 10, 1)),
        Box::new(cw(0.0, 10, 2)),
        Box::new(square(0.0, 50)),
    ];
    for a in attacks {
        assert_eq!(a.perturb(&oracle, &b).unwrap(), b.x, "{}", a.name());
    }
}

#[test]
fn same_seed_gives_identical_output() {
    // Oracle: every draw comes from `Batch::rng`, so a rerun with the same seed reproduces the
    // output bit for bit, and the randomised attacks change with the seed.
    let (m, b) = setup(20, 5);
    let oracle = Oracle::new(&m);
    let mut other = b.clone();
    other.seed = 6;
    for (norm, eps) in [(Norm::Linf, 8.0 / 255.0), (Norm::L2, 1.0)] {
        for a in quick_attacks(norm, eps) {
            let first = a.perturb(&oracle, &b).unwrap();
            assert_eq!(
                first,
                a.perturb(&oracle, &b).unwrap(),
                "{} is not reproducible",
                a.name()
            );
            if a.name() != "cw-l2" {
                assert_ne!(
                    first,
                    a.perturb(&oracle, &other).unwrap(),
                    "{} ignores the seed",
                    a.name()
                );
            }
        }
    }
}

#[test]
fn whole_batch_equals_two_halves() {
    // Oracle: per-sample results do not depend on batch composition, so attacking the batch at
    // once and attacking its two halves (`Batch::subset`) give identical outputs. ε is chosen so
    // that some samples succeed early and leave the active set while others keep going.
    let (m, b) = setup_rowwise(24, 9);
    let oracle = Oracle::new(&m);
    let attacks: Vec<Box<dyn Attack>> = vec![
        Box::new(apgd(Norm::Linf, 0.12, LossKind::CrossEntropy, 30, 2)),
        Box::new(apgd(Norm::L2, 1.5, LossKind::Dlr, 30, 1)),
        Box::new(cw(1.8, 30, 3)),
        Box::new(square(0.15, 200)),
    ];
    let first: Vec<usize> = (0..12).collect();
    let second: Vec<usize> = (12..24).collect();
    for a in attacks {
        let whole = a.perturb(&oracle, &b).unwrap();
        let mut halves = a.perturb(&oracle, &b.subset(&first)).unwrap();
        halves.extend(a.perturb(&oracle, &b.subset(&second)).unwrap());
        assert_eq!(
            whole,
            halves,
            "{} depends on the batch composition",
            a.name()
        );
    }
}

#[test]
fn apgd_checkpoints_follow_autoattack() {
    // Oracle: AutoAttack's integer schedule. For 100 steps the first gap is ⌊0.22·100⌋ = 22,
    // each later gap shrinks by ⌊0.03·100⌋ = 3 down to ⌊0.06·100⌋ = 6: gaps 22, 19, 16, 13, 10,
    // 7, 6, 6 give 0, 22, 41, 57, 70, 80, 87, 93, 99 (the next, 105, exceeds 100). This equals
    // w_j = ⌈100·p_j⌉ for p = 0, .22, .41, .57, .70, .80, .87, .93, .99 in exact arithmetic.
    assert_eq!(checkpoints(100), vec![0, 22, 41, 57, 70, 80, 87, 93, 99]);
    // 10 steps: gaps ⌊2.2⌋ = 2, then 2 − ⌊0.3⌋∨1 = 1 floored at ⌊0.6⌋∨1 = 1.
    assert_eq!(checkpoints(10), vec![0, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    // 1 step: every gap is at least 1.
    assert_eq!(checkpoints(1), vec![0, 1]);
}

#[test]
fn square_p_schedule_halves_at_the_reference_iterations() {
    // Oracle: `p_selection` of the reference, with the iteration rescaled to 10 000 queries.
    let p = 0.8;
    for (it, div) in [
        (0, 1.0),
        (10, 1.0),
        (11, 2.0),
        (50, 2.0),
        (51, 4.0),
        (200, 4.0),
        (500, 8.0),
        (1000, 16.0),
        (2000, 32.0),
        (4000, 64.0),
        (6000, 128.0),
        (8000, 256.0),
        (8001, 512.0),
    ] {
        assert_eq!(p_selection(p, it, 10_000), p / div, "iteration {it}");
    }
    // 1000 queries: iteration 2 counts as 20 of 10 000.
    assert_eq!(p_selection(p, 1, 1000), p);
    assert_eq!(p_selection(p, 2, 1000), p / 2.0);
}

/// L∞ budget at which PGD-20 breaks part, not all, of the batch.
const EPS_LINF_MID: f32 = 0.13;
/// L2 budget at which PGD-L2 breaks part, not all, of the batch.
const EPS_L2_MID: f32 = 1.6;

#[test]
fn apgd_linf_is_at_least_as_strong_as_pgd() {
    // Oracle: PGD-20 from pgd.rs (α = ε/4, random start) at the same ε; APGD-CE and APGD-DLR
    // (100 steps) reach an accuracy at most 2 points above it.
    let (m, b) = setup(100, 21);
    let clean = clean_accuracy(&m, &b);
    assert!(clean >= 0.95, "clean accuracy {clean}");
    let (pgd, _) = robust_accuracy(build(AttackKind::Pgd, EPS_LINF_MID).as_ref(), &m, &b);
    assert!(
        pgd <= clean - 0.2,
        "PGD accuracy {pgd} vs clean {clean}: nothing to compare"
    );
    for kind in [AttackKind::ApgdCe, AttackKind::ApgdDlr] {
        let (acc, _) = robust_accuracy(build(kind, EPS_LINF_MID).as_ref(), &m, &b);
        assert!(acc <= pgd + 0.02, "{kind}: accuracy {acc} vs PGD {pgd}");
    }
}

#[test]
fn apgd_l2_is_at_least_as_strong_as_pgd_l2() {
    // Oracle: PGD-L2 (20 steps, α = ε/4, random start) from pgd.rs at the same ε; APGD-CE and
    // APGD-DLR in L2 (100 steps) reach an accuracy at most 2 points above it.
    let (m, b) = setup(100, 22);
    let clean = clean_accuracy(&m, &b);
    let (pgd, _) = robust_accuracy(build(AttackKind::PgdL2, EPS_L2_MID).as_ref(), &m, &b);
    assert!(
        pgd <= clean - 0.2,
        "PGD-L2 accuracy {pgd} vs clean {clean}: nothing to compare"
    );
    for loss in [LossKind::CrossEntropy, LossKind::Dlr] {
        let (acc, _) = robust_accuracy(&apgd(Norm::L2, EPS_L2_MID, loss, 100, 1), &m, &b);
        assert!(
            acc <= pgd + 0.02,
            "APGD-L2 {loss:?}: accuracy {acc} vs PGD-L2 {pgd}"
        );
    }
}

#[test]
fn apgd_dlr_targeted_reaches_targets() {
    // Oracle: at ε = 0.3 PGD breaks every sample of this model; targeted APGD-DLR with random
    // targets (`Batch::choose_targets`) lands on the target for nearly all of them.
    let (m, b) = setup(40, 23);
    let oracle = Oracle::new(&m);
    let out = run_attack(
        &apgd(Norm::Linf, 0.3, LossKind::Dlr, 50, 1),
        Target::Random,
        true,
        &oracle,
        &b,
        None,
    )
    .unwrap();
    let rate = out.success.iter().filter(|&&s| s).count() as f32 / b.len() as f32;
    assert!(rate >= 0.9, "targeted success rate {rate}");
}

#[test]
fn square_breaks_the_model_at_a_large_eps() {
    // Oracle: clean accuracy of the model; with ε = 0.2 (where the classes are within reach),
    // Square's accuracy is far below it.
    let (m, b) = setup(60, 24);
    let clean = clean_accuracy(&m, &b);
    let (acc, out) = robust_accuracy(&square(0.2, 300), &m, &b);
    assert_valid("square", Norm::Linf, 0.2, &out.adv, &b.x);
    assert!(acc <= clean - 0.5, "square accuracy {acc} vs clean {clean}");
}

#[test]
fn cw_succeeds_with_smaller_perturbations_than_pgd_l2() {
    // Oracle: PGD-L2 from pgd.rs at ε = 3 (which breaks this model); CW-L2 at the same ε, run
    // to the end of its search, succeeds on nearly every sample and its successful
    // perturbations are shorter on average.
    let (m, b) = setup(60, 25);
    let eps = 3.0;
    // Without early stopping CW-L2 searches for the smallest perturbation; with it, it would
    // stop at the first one inside the ball.
    let full_search = AttackConfig {
        early_stop: false,
        ..AttackConfig::default()
    };
    let cw = full_search.build(AttackKind::CwL2, f64::from(eps)).unwrap();
    let (_, cw_out) = robust_accuracy(cw.as_ref(), &m, &b);
    let (_, pgd_out) = robust_accuracy(build(AttackKind::PgdL2, eps).as_ref(), &m, &b);
    let mean_l2 = |o: &crate::AttackOutcome| {
        let v: Vec<f32> = (0..b.len())
            .filter(|&i| o.success[i] && o.attacked[i])
            .map(|i| o.l2[i])
            .collect();
        (v.iter().sum::<f32>() / v.len().max(1) as f32, v.len())
    };
    let (cw_l2, cw_n) = mean_l2(&cw_out);
    let (pgd_l2, pgd_n) = mean_l2(&pgd_out);
    let attacked = cw_out.attacked.iter().filter(|&&a| a).count();
    assert!(
        cw_n as f32 >= 0.95 * attacked as f32,
        "CW broke {cw_n} of {attacked}"
    );
    assert!(pgd_n > 0, "PGD-L2 broke nothing");
    assert!(cw_l2 < pgd_l2, "CW mean L2 {cw_l2} vs PGD-L2 {pgd_l2}");
}

#[test]
fn early_stopping_keeps_the_robust_set_and_saves_gradients() {
    // Oracle: early stopping only stops samples already broken inside the ε-ball (PGD's later
    // restarts skip them; CW-L2 stops at its first adversarial point in the ball), and each
    // sample's trajectory does not depend on the others (row-by-row model, per-sample random
    // streams), so the samples left standing are exactly those left standing without it, while
    // the input gradients computed must fall. ε is chosen so that some samples survive.
    let (m, b) = setup_rowwise(40, 31);
    let cases = [
        (AttackKind::Pgd, 0.15, 4),
        (AttackKind::PgdL2, 1.5, 3),
        (AttackKind::CwL2, 2.0, 1),
    ];
    for (kind, eps, restarts) in cases {
        let outcome = |early_stop: bool| {
            let mut cfg = AttackConfig {
                early_stop,
                ..AttackConfig::default()
            };
            cfg.pgd.restarts = restarts;
            cfg.pgd.steps = 10;
            cfg.cw.steps = 30;
            cfg.cw.search_steps = 3;
            let attack = cfg.build(kind, eps).unwrap();
            let oracle = Oracle::new(&m);
            let out =
                run_attack(attack.as_ref(), Target::Untargeted, true, &oracle, &b, None).unwrap();
            (out, oracle.gradient_count())
        };
        let (fast, fast_grads) = outcome(true);
        let (full, full_grads) = outcome(false);
        let name = kind.name();
        assert_valid(name, kind.norm(), eps as f32, &fast.adv, &b.x);
        let standing = |o: &crate::AttackOutcome| -> Vec<usize> {
            (0..b.len())
                .filter(|&i| o.attacked[i] && !o.success[i])
                .collect()
        };
        let attacked = full.attacked.iter().filter(|&&a| a).count();
        assert!(
            !standing(&full).is_empty() && standing(&full).len() < attacked,
            "{name} at {eps}: {} of {attacked} stand, so the test checks nothing",
            standing(&full).len()
        );
        assert_eq!(standing(&fast), standing(&full), "{name} at {eps}");
        assert!(
            fast_grads < full_grads,
            "{name}: {fast_grads} gradients with early stopping, {full_grads} without"
        );
    }
}
