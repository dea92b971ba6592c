//! Carlini–Wagner L2 (Carlini and Wagner 2017): Adam on a tanh reparametrisation of the image,
//! minimising `‖x' − x‖² + c·max(−margin, −κ)`, with a per-sample binary search over c, and the
//! result bounded to the ε-ball. With early stopping a sample leaves the search at the first
//! adversarial point inside the ε-ball (robust accuracy at ε is unchanged, the perturbation is no
//! longer the smallest found); without it, the search runs to the end and keeps the smallest.

use crate::ops;
use crate::{Attack, Batch, LossKind, Norm, Oracle};
use candle_core::Result;

/// CW-L2 with a binary search over c, bounded to the ε-ball.
#[derive(Clone, Debug)]
pub struct CwL2 {
    /// Budget ε (L2).
    pub eps: f32,
    /// Adam iterations per value of c.
    pub steps: usize,
    /// Binary-search steps over c.
    pub search_steps: usize,
    /// Initial c.
    pub c_init: f32,
    /// Adam learning rate.
    pub lr: f32,
    /// Confidence κ.
    pub kappa: f32,
    /// Stop optimising a sample once an adversarial point inside the ε-ball is found, and return
    /// that point. Robust accuracy at ε is unchanged (a sample counts as broken as soon as such a
    /// point exists); it saves the gradients of the rest of the search, most of CW's cost.
    pub early_stop: bool,
}

/// Adam's first-moment decay.
const BETA1: f64 = 0.9;
/// Adam's second-moment decay.
const BETA2: f64 = 0.999;
/// Adam's denominator offset.
const ADAM_EPS: f64 = 1e-8;
/// Upper bound of c that counts as "none found yet" in the binary search.
const C_UNBOUNDED: f64 = 1e10;
/// Largest |tanh w| of the starting point, so that `atanh` stays finite.
const TANH_LIMIT: f64 = 1.0 - 1e-6;

impl Attack for CwL2 {
    fn name(&self) -> &'static str {
        "cw-l2"
    }
    fn norm(&self) -> Norm {
        Norm::L2
    }
    fn eps(&self) -> f32 {
        self.eps
    }
    fn perturb(&self, oracle: &Oracle, batch: &Batch) -> Result<Vec<f32>> {
        let (n, d) = (batch.len(), batch.dim());
        if n == 0 || self.eps <= 0.0 {
            return Ok(batch.x.clone());
        }
        let bounds = oracle.model().bounds();
        let (lo, hi) = (f64::from(bounds.0), f64::from(bounds.1));
        let half = (hi - lo) / 2.0;
        // w such that lo + (hi − lo)·(tanh w + 1)/2 is the clean image.
        let w0: Vec<f64> = batch
            .x
            .iter()
            .map(|&v| {
                ((f64::from(v) - lo) / (hi - lo) * 2.0 - 1.0)
                    .clamp(-TANH_LIMIT, TANH_LIMIT)
                    .atanh()
            })
            .collect();
        let image =
            |th: f64| -> f32 { ((lo + half * (th + 1.0)) as f32).clamp(bounds.0, bounds.1) };

        let kappa = self.kappa;
        let mut c = vec![f64::from(self.c_init); n];
        let mut c_lo = vec![0f64; n];
        let mut c_up = vec![C_UNBOUNDED; n];
        let mut best = batch.x.clone();
        let mut best_l2 = vec![f32::INFINITY; n];
        let mut last = batch.x.clone();
        let mut th = vec![0f64; n * d];
        let mut xp = Vec::with_capacity(n * d);
        let mut delta = vec![0f32; d];
        for _ in 0..self.search_steps.max(1) {
            let mut w = w0.clone();
            let mut m = vec![0f64; n * d];
            let mut v = vec![0f64; n * d];
            let mut round_success = vec![false; n];
            // The samples still optimised: all of them, or those without an adversarial point
            // inside the ε-ball yet when stopping early.
            let mut active: Vec<usize> = (0..n)
                .filter(|&i| !(self.early_stop && best_l2[i].is_finite()))
                .collect();
            for t in 1..=self.steps {
                if active.is_empty() {
                    break;
                }
                let sub = batch.subset(&active);
                xp.clear();
                for &i in &active {
                    for j in i * d..(i + 1) * d {
                        th[j] = w[j].tanh();
                        xp.push(image(th[j]));
                    }
                }
                let lg = oracle.loss_grad(&xp, &sub, LossKind::Margin)?;
                let k = lg.classes;
                let (bc1, bc2) = (1.0 - BETA1.powi(t as i32), 1.0 - BETA2.powi(t as i32));
                for (s, &i) in active.iter().enumerate() {
                    let r = i * d..(i + 1) * d;
                    let rs = s * d..(s + 1) * d;
                    let margin = lg.loss[s];
                    for ((dv, &a), &x) in delta
                        .iter_mut()
                        .zip(&xp[rs.clone()])
                        .zip(&batch.x[r.clone()])
                    {
                        *dv = a - x;
                    }
                    if sub.is_success(s, &lg.logits[s * k..(s + 1) * k]) && margin >= kappa {
                        round_success[i] = true;
                        let l2 = ops::l2(&delta);
                        if l2 <= self.eps && l2 < best_l2[i] {
                            best_l2[i] = l2;
                            best[r.clone()].copy_from_slice(&xp[rs.clone()]);
                        }
                    }
                    // f = max(−margin, −κ): ∂f/∂x' = −∂margin/∂x' while −margin > −κ, else 0.
                    let hinge = if -margin > -kappa { -c[i] } else { 0.0 };
                    let g = &lg.grad[rs];
                    for j in r.clone() {
                        let gx =
                            2.0 * f64::from(delta[j - r.start]) + hinge * f64::from(g[j - r.start]);
                        let gw = gx * half * (1.0 - th[j] * th[j]);
                        m[j] = BETA1 * m[j] + (1.0 - BETA1) * gw;
                        v[j] = BETA2 * v[j] + (1.0 - BETA2) * gw * gw;
                        let (mh, vh) = (m[j] / bc1, v[j] / bc2);
                        w[j] -= f64::from(self.lr) * mh / (vh.sqrt() + ADAM_EPS);
                    }
                }
                if self.early_stop {
                    active.retain(|&i| !best_l2[i].is_finite());
                }
            }
            for (l, &wv) in last.iter_mut().zip(&w) {
                *l = image(wv.tanh());
            }
            for i in 0..n {
                if round_success[i] {
                    c_up[i] = c_up[i].min(c[i]);
                    c[i] = (c_lo[i] + c_up[i]) / 2.0;
                } else {
                    c_lo[i] = c_lo[i].max(c[i]);
                    c[i] = if c_up[i] < 1e9 {
                        (c_lo[i] + c_up[i]) / 2.0
                    } else {
                        c[i] * 10.0
                    };
                }
            }
        }
        ops::project(Norm::L2, &mut last, &batch.x, d, self.eps, bounds);
        for i in 0..n {
            if !best_l2[i].is_finite() {
                best[i * d..(i + 1) * d].copy_from_slice(&last[i * d..(i + 1) * d]);
            }
        }
        Ok(best)
    }
}
