//! APGD (Croce and Hein 2020), L∞ or L2, following AutoAttack's `autopgd_base.py`: a random start
//! on the sphere of the ε-ball, heavy-ball steps, and a step size that halves at checkpoints where
//! the loss oscillates or stalls, restarting the sample from its best point.

use crate::ops;
use crate::{Attack, Batch, LossKind, Norm, Oracle};
use candle_core::Result;
use rand::Rng;

/// Auto-PGD.
#[derive(Clone, Debug)]
pub struct Apgd {
    /// Registry name (`apgd-ce` or `apgd-dlr`).
    pub name: &'static str,
    /// Norm of the budget.
    pub norm: Norm,
    /// Budget ε.
    pub eps: f32,
    /// Iterations per restart.
    pub steps: usize,
    /// Restarts; each sample keeps its best point.
    pub restarts: usize,
    /// The loss it ascends.
    pub loss: LossKind,
}

/// Weight α of the new step in the heavy-ball update (`1 − α` goes to the previous move).
const MOMENTUM: f32 = 0.75;

/// Fraction ρ of the iterations between two checkpoints that must increase the loss for the
/// step size to be kept.
const RHO: f32 = 0.75;

/// The iteration counts `w_0 = 0 < w_1 < …` (at most `steps`) after which APGD checks its step
/// size, computed as AutoAttack does in integers: the first gap is `⌊0.22·steps⌋`, every later
/// gap shrinks by `⌊0.03·steps⌋` down to at least `⌊0.06·steps⌋`, each of them at least 1. For
/// 100 steps: 0, 22, 41, 57, 70, 80, 87, 93, 99.
pub(crate) fn checkpoints(steps: usize) -> Vec<usize> {
    let frac = |p: f64| ((p * steps as f64) as usize).max(1);
    let (first, decr, min_gap) = (frac(0.22), frac(0.03), frac(0.06));
    let mut out = vec![0];
    let (mut at, mut gap) = (0, first);
    while at + gap <= steps {
        at += gap;
        out.push(at);
        gap = gap.saturating_sub(decr).max(min_gap);
    }
    out
}

/// What counts as a successful iterate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Success {
    /// [`Batch::is_success`]: a wrong class when untargeted, the target when targeted.
    Batch,
    /// Any class but the true label, even when the batch has targets (AutoAttack's APGD-T and
    /// FAB-T aim at a target class but count any misclassification).
    Misclassified,
}

impl Success {
    /// Whether logits row `row` of sample `i` of `b` counts as a success.
    pub(crate) fn check(self, b: &Batch, i: usize, row: &[f32]) -> bool {
        match self {
            Success::Batch => b.is_success(i, row),
            Success::Misclassified => !b.is_correct(i, row),
        }
    }
}

/// The result of one APGD run on a batch.
pub(crate) struct Run {
    /// Per sample: the first successful iterate if any, else the iterate of highest loss.
    pub(crate) x: Vec<f32>,
    /// Highest loss reached per sample.
    pub(crate) loss: Vec<f32>,
    /// Whether the sample reached a successful iterate.
    pub(crate) success: Vec<bool>,
}

impl Attack for Apgd {
    fn name(&self) -> &'static str {
        self.name
    }
    fn norm(&self) -> Norm {
        self.norm
    }
    fn eps(&self) -> f32 {
        self.eps
    }
    fn perturb(&self, oracle: &Oracle, batch: &Batch) -> Result<Vec<f32>> {
        let (n, d) = (batch.len(), batch.dim());
        let mut out = batch.x.clone();
        if n == 0 || self.eps <= 0.0 {
            return Ok(out);
        }
        let mut found = vec![false; n];
        let mut out_loss = vec![f32::NEG_INFINITY; n];
        for r in 0..self.restarts.max(1) {
            // Later restarts only attack the samples no earlier restart broke.
            let todo: Vec<usize> = (0..n).filter(|&i| !found[i]).collect();
            if todo.is_empty() {
                break;
            }
            let sub = batch.subset(&todo);
            let run = self.single_run(oracle, &sub, r as u64, Success::Batch)?;
            for (j, &i) in todo.iter().enumerate() {
                if run.success[j] || run.loss[j] > out_loss[i] {
                    out[i * d..(i + 1) * d].copy_from_slice(&run.x[j * d..(j + 1) * d]);
                    out_loss[i] = run.loss[j];
                    found[i] = run.success[j];
                }
            }
        }
        Ok(out)
    }
}

impl Apgd {
    /// The random start of sample `i` for restart `stream`: `x + ε·t/‖t‖` with `t` uniform in
    /// `[−1, 1]^d` (L∞, normalised by its largest entry) or standard normal (L2), not yet
    /// projected.
    fn start(&self, batch: &Batch, i: usize, stream: u64) -> Vec<f32> {
        let d = batch.dim();
        let mut rng = batch.rng(i, stream);
        let t: Vec<f32> = match self.norm {
            Norm::Linf => (0..d).map(|_| 2.0 * rng.random::<f32>() - 1.0).collect(),
            Norm::L2 => (0..d).map(|_| ops::gaussian(&mut rng)).collect(),
        };
        let s = ops::norm_of(self.norm, &t) + 1e-12;
        batch.x[i * d..(i + 1) * d]
            .iter()
            .zip(&t)
            .map(|(&x, &t)| x + self.eps * t / s)
            .collect()
    }

    /// One APGD run of `self.steps` iterations from the random start of generator stream
    /// `stream`. Samples leave the active set once successful by `success`.
    pub(crate) fn single_run(
        &self,
        oracle: &Oracle,
        b: &Batch,
        stream: u64,
        success_of: Success,
    ) -> Result<Run> {
        let (n, d) = (b.len(), b.dim());
        let (norm, eps) = (self.norm, self.eps);
        let bounds = oracle.model().bounds();

        let mut x_adv = Vec::with_capacity(n * d);
        for i in 0..n {
            x_adv.extend(self.start(b, i, stream));
        }
        ops::project(norm, &mut x_adv, &b.x, d, eps, bounds);

        let lg = oracle.loss_grad(&x_adv, b, self.loss)?;
        let k = lg.classes;
        let mut grad = lg.grad;
        let mut grad_best = grad.clone();
        let mut x_best = x_adv.clone();
        let mut loss_best = lg.loss.clone();
        let mut last_loss = lg.loss;
        let mut success: Vec<bool> = (0..n)
            .map(|i| success_of.check(b, i, &lg.logits[i * k..(i + 1) * k]))
            .collect();
        let mut x_succ = x_adv.clone();

        let mut step = vec![2.0 * eps; n];
        let mut x_prev = x_adv.clone();
        // Iterations since the last checkpoint whose loss exceeded the previous iterate's.
        let mut increases = vec![0usize; n];
        // Reduced at the last checkpoint (true before the first, so the first only looks at
        // oscillation), and the best loss then.
        let mut reduced_last = vec![true; n];
        let mut best_at_check = loss_best.clone();
        let checks = checkpoints(self.steps);
        let mut next_check = 1;

        let mut active: Vec<usize> = (0..n).filter(|&i| !success[i]).collect();
        let mut dir = vec![0f32; d];
        let mut z = vec![0f32; d];
        for it in 0..self.steps {
            if active.is_empty() {
                break;
            }
            // The first step is a plain projected step, later ones add momentum.
            let a = if it > 0 { MOMENTUM } else { 1.0 };
            for &i in &active {
                let r = i * d..(i + 1) * d;
                let x = &b.x[r.clone()];
                dir.copy_from_slice(&grad[r.clone()]);
                ops::ascent_direction(norm, &mut dir, d);
                let cur = &x_adv[r.clone()];
                for ((zv, &c), &g) in z.iter_mut().zip(cur).zip(&dir) {
                    *zv = c + step[i] * g;
                }
                ops::project(norm, &mut z, x, d, eps, bounds);
                let prev = &mut x_prev[r.clone()];
                let cur = &mut x_adv[r];
                for ((c, p), &zv) in cur.iter_mut().zip(prev.iter_mut()).zip(&z) {
                    let old = *c;
                    *c = old + a * (zv - old) + (1.0 - a) * (old - *p);
                    *p = old;
                }
                ops::project(norm, cur, x, d, eps, bounds);
            }

            let sub = b.subset(&active);
            let mut pts = Vec::with_capacity(active.len() * d);
            for &i in &active {
                pts.extend_from_slice(&x_adv[i * d..(i + 1) * d]);
            }
            let lg = oracle.loss_grad(&pts, &sub, self.loss)?;
            for (j, &i) in active.iter().enumerate() {
                let r = i * d..(i + 1) * d;
                let g = &lg.grad[j * d..(j + 1) * d];
                grad[r.clone()].copy_from_slice(g);
                let l = lg.loss[j];
                if l > last_loss[i] {
                    increases[i] += 1;
                }
                last_loss[i] = l;
                if l > loss_best[i] {
                    loss_best[i] = l;
                    x_best[r.clone()].copy_from_slice(&x_adv[r.clone()]);
                    grad_best[r.clone()].copy_from_slice(g);
                }
                if success_of.check(&sub, j, &lg.logits[j * k..(j + 1) * k]) {
                    success[i] = true;
                    x_succ[r.clone()].copy_from_slice(&x_adv[r]);
                }
            }

            if next_check < checks.len() && checks[next_check] == it + 1 {
                let gap = (checks[next_check] - checks[next_check - 1]) as f32;
                for &i in &active {
                    // AutoAttack's test is `count <= ρ·gap`.
                    let oscillating = increases[i] as f32 <= RHO * gap;
                    let stalled = !reduced_last[i] && best_at_check[i] >= loss_best[i];
                    let reduce = oscillating || stalled;
                    reduced_last[i] = reduce;
                    best_at_check[i] = loss_best[i];
                    increases[i] = 0;
                    if reduce {
                        step[i] /= 2.0;
                        let r = i * d..(i + 1) * d;
                        x_adv[r.clone()].copy_from_slice(&x_best[r.clone()]);
                        grad[r.clone()].copy_from_slice(&grad_best[r]);
                    }
                }
                next_check += 1;
            }
            active.retain(|&i| !success[i]);
        }

        for i in 0..n {
            if success[i] {
                x_best[i * d..(i + 1) * d].copy_from_slice(&x_succ[i * d..(i + 1) * d]);
            }
        }
        Ok(Run {
            x: x_best,
            loss: loss_best,
            success,
        })
    }
}
