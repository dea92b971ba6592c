//! Projected gradient descent (Madry et al. 2018), L∞ or L2, with a random start and restarts
//! that keep each sample's worst case.

use crate::ops;
use crate::{Attack, Batch, LossKind, Norm, Oracle};
use candle_core::Result;

/// PGD: from `x` (or a random point of the ε-ball), `steps` times step `α` along the steepest
/// ascent direction of the loss (`sign(∇)` for L∞, `∇/‖∇‖₂` for L2) and project back onto the
/// ε-ball and the pixel box. With several restarts each sample keeps a successful restart if any,
/// else the one with the largest margin.
#[derive(Clone, Debug)]
pub struct Pgd {
    /// Registry name (`pgd`, `pgd-l2` or `bim`).
    pub name: &'static str,
    /// Norm of the budget.
    pub norm: Norm,
    /// Budget ε.
    pub eps: f32,
    /// Iterations per restart.
    pub steps: usize,
    /// Step size α, absolute.
    pub step_size: f32,
    /// Start from a uniform random point of the ε-ball instead of `x`.
    pub random_start: bool,
    /// Independent runs; each sample keeps its worst case.
    pub restarts: usize,
    /// Stop moving a sample once it is misclassified (the result keeps that point), and run
    /// later restarts only on the samples no earlier restart broke. Robust accuracy is
    /// unchanged; it saves the gradients of samples already broken.
    pub early_stop: bool,
    /// The loss it ascends.
    pub loss: LossKind,
}

impl Attack for Pgd {
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
        if self.restarts <= 1 {
            return self.run_once(oracle, batch, 0);
        }
        let mut best = batch.x.clone();
        let mut best_score = vec![(false, f32::NEG_INFINITY); n];
        for r in 0..self.restarts {
            // With early stopping, a restart attacks only the samples no earlier one broke.
            let todo: Vec<usize> = (0..n)
                .filter(|&i| !(self.early_stop && best_score[i].0))
                .collect();
            if todo.is_empty() {
                break;
            }
            let sub = batch.subset(&todo);
            let adv = self.run_once(oracle, &sub, r as u64)?;
            let (z, k) = oracle.logits(&adv, sub.shape)?;
            for (j, &i) in todo.iter().enumerate() {
                let row = &z[j * k..(j + 1) * k];
                let score = (sub.is_success(j, row), sub.margin(j, row));
                if score > best_score[i] {
                    best_score[i] = score;
                    best[i * d..(i + 1) * d].copy_from_slice(&adv[j * d..(j + 1) * d]);
                }
            }
        }
        Ok(best)
    }
}

impl Pgd {
    /// One run of `steps` iterations on every sample of `batch`, from the clean images or from
    /// the random start of restart `restart`.
    ///
    /// # Shapes
    /// Returns `N·C·H·W` values, `batch.shape`.
    fn run_once(&self, oracle: &Oracle, batch: &Batch, restart: u64) -> Result<Vec<f32>> {
        let (n, d) = (batch.len(), batch.dim());
        let bounds = oracle.model().bounds();
        let mut adv = batch.x.clone();
        if self.random_start {
            for i in 0..n {
                let off = ops::random_offset(self.norm, self.eps, d, &mut batch.rng(i, restart));
                for (a, o) in adv[i * d..(i + 1) * d].iter_mut().zip(off) {
                    *a += o;
                }
            }
            ops::project(self.norm, &mut adv, &batch.x, d, self.eps, bounds);
        }
        let mut active: Vec<usize> = (0..n).collect();
        for _ in 0..self.steps {
            if active.is_empty() {
                break;
            }
            let sub = batch.subset(&active);
            let mut cur = Vec::with_capacity(active.len() * d);
            for &i in &active {
                cur.extend_from_slice(&adv[i * d..(i + 1) * d]);
            }
            let mut g = oracle.loss_grad(&cur, &sub, self.loss)?;
            ops::ascent_direction(self.norm, &mut g.grad, d);
            let mut still = Vec::with_capacity(active.len());
            for (j, &i) in active.iter().enumerate() {
                let row = &g.logits[j * g.classes..(j + 1) * g.classes];
                if self.early_stop && sub.is_success(j, row) {
                    continue;
                }
                let a = &mut adv[i * d..(i + 1) * d];
                for (v, s) in a.iter_mut().zip(&g.grad[j * d..(j + 1) * d]) {
                    *v += self.step_size * s;
                }
                ops::project(
                    self.norm,
                    a,
                    &batch.x[i * d..(i + 1) * d],
                    d,
                    self.eps,
                    bounds,
                );
                still.push(i);
            }
            active = still;
        }
        Ok(adv)
    }
}
