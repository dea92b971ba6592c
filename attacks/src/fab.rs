//! FAB-T (Croce and Hein 2020, "Minimally distorted adversarial examples with a fast adaptive
//! boundary attack"), L∞, targeted, following AutoAttack's `fab_base.py` / `fab_pt.py` and
//! `fab_projections.py`. Each iteration linearises the logit gap `z_t − z_y` around the current
//! point, projects both the current point and the clean image onto the linearised decision
//! hyperplane inside the pixel box ([`projection_linf`]), and moves to a convex combination of
//! the two projections (overshot by η, biased towards the clean image by at most `alpha_max`).
//! Whenever the point is misclassified it is recorded if closer to the clean image than the best
//! so far, and pulled back towards the clean image by β (the final search). A sample counts as
//! broken when the closest misclassified point lies inside the ε-ball; otherwise the clean image
//! is returned.

use crate::ops;
use crate::{Attack, Batch, LossKind, Norm, Oracle};
use candle_core::Result;
use rand::Rng;

/// Targeted FAB, L∞.
#[derive(Clone, Debug)]
pub struct FabT {
    /// Budget ε: the largest L∞ distance at which a found point counts (and the radius of the
    /// random starts of restarts after the first).
    pub eps: f32,
    /// Iterations per target class and restart.
    pub steps: usize,
    /// Restarts per target class; the first starts at the clean image, later ones at a random
    /// point at L∞ distance ε/2.
    pub restarts: usize,
    /// Number of target classes (AutoAttack: 9); capped at K − 1.
    pub targets: usize,
    /// Largest weight α of the clean image's projection in the step (AutoAttack: 0.1).
    pub alpha_max: f32,
    /// Overshoot η of the projections (AutoAttack: 1.05).
    pub eta: f32,
    /// Backward step β towards the clean image after a success (AutoAttack: 0.9).
    pub beta: f32,
}

/// "No adversarial point found yet" as a distance (the reference's `1e10`).
const NOT_FOUND: f32 = 1e10;

/// Generator streams of FAB-T's random starts begin here (one per target class and restart).
const STREAM_BASE: u64 = 2 << 32;

/// The smallest-L∞ step `d` that moves `t` onto the hyperplane `⟨w, x⟩ = b` while keeping
/// `t + d` inside the box `[lo, hi]`; where the box does not allow reaching the hyperplane, the
/// box corner closest to it (`d` then moves every coordinate with `w_i ≠ 0` as far as the box
/// allows towards the hyperplane). Coordinates with `w_i = 0` do not move. AutoAttack's
/// `projection_linf` for one point, with its binary search over the sorted box distances; sums
/// are accumulated in f64.
///
/// With `s_i = sign` of the move of coordinate i and `p_i` its room in the box, the step at
/// L∞ radius λ is `d_i(λ) = s_i·min(λ, p_i)`, and `⟨w, d(λ)⟩ = −Σ_i |w_i| min(λ, p_i)` is
/// piecewise linear in λ with breakpoints at the `p_i`: the search finds the segment where it
/// crosses `b − ⟨w, t⟩`, then λ in closed form.
///
/// # Shapes
/// `t`, `w`: `D` values each; returns `D` values.
pub fn projection_linf(t: &[f32], w: &[f32], b: f32, (lo, hi): (f32, f32)) -> Vec<f32> {
    let n = t.len();
    if n == 0 {
        return Vec::new();
    }
    let dot = |u: &[f64], v: &[f64]| -> f64 { u.iter().zip(v).map(|(a, b)| a * b).sum() };
    let t: Vec<f64> = t.iter().map(|&v| f64::from(v)).collect();
    let mut w: Vec<f64> = w.iter().map(|&v| f64::from(v)).collect();
    let mut b = f64::from(b);
    let (lo, hi) = (f64::from(lo), f64::from(hi));
    // Orient the hyperplane so that ⟨w, t⟩ ≥ b: the move has to decrease ⟨w, x⟩.
    if dot(&w, &t) - b < 0.0 {
        w.iter_mut().for_each(|v| *v = -*v);
        b = -b;
    }
    // a_i: coordinate i moves up (towards hi), since w_i < 0.
    let a: Vec<bool> = w.iter().map(|&v| v < 0.0).collect();
    // The box corner that minimises ⟨w, x⟩, as a step, and each coordinate's room p_i = |d_i|.
    let mut d: Vec<f64> = (0..n)
        .map(|i| {
            if w[i] == 0.0 {
                0.0
            } else if a[i] {
                hi - t[i]
            } else {
                lo - t[i]
            }
        })
        .collect();
    let p: Vec<f64> = (0..n)
        .map(|i| if a[i] { hi - t[i] } else { t[i] - lo })
        .collect();
    let mut indp: Vec<usize> = (0..n).collect();
    indp.sort_by(|&i, &j| p[i].total_cmp(&p[j]));
    // The change of ⟨w, x⟩ needed (≤ 0), and the largest change the box allows (≤ it or not).
    let need = b - dot(&w, &t);
    let b0 = dot(&w, &d);
    // Over coordinates in decreasing room: s[j] = Σ_{k≤j} |w|, sb[j] = b0 + Σ_{k≤j} |w_k| p_k,
    // so that ⟨w, d(λ)⟩ at λ = (j-th largest room) is sb[j] − s[j]·p_(j).
    let (mut s, mut sb) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut acc_s, mut acc_b) = (0f64, b0);
    for j in 0..n {
        let i = indp[n - 1 - j];
        acc_s += w[i].abs();
        acc_b += -w[i] * d[i];
        s.push(acc_s);
        sb.push(acc_b);
    }
    let change_at = |j: usize| sb[j] - s[j] * p[indp[n - 1 - j]];
    // Reached before the smallest room saturates: every coordinate moves by λ.
    let unsaturated = need - change_at(n - 1) > 0.0;
    // Reachable inside the box at all.
    let reachable = need - b0 > 0.0 && !unsaturated;
    if unsaturated {
        let lambda = ((need - sb[n - 1]) / -s[n - 1]).max(0.0);
        for i in 0..n {
            d[i] = if a[i] { lambda } else { -lambda };
        }
    } else if reachable {
        let (mut lb, mut ub) = (0usize, n - 1);
        let iters = (n as f64).log2().ceil() as usize;
        for _ in 0..iters {
            let mid = (lb + ub) / 2;
            if need - change_at(mid) > 0.0 {
                lb = mid;
            } else {
                ub = mid;
            }
        }
        let lambda = ((need - sb[lb]) / -s[lb]).max(0.0);
        for i in 0..n {
            d[i] = if a[i] {
                lambda.min(d[i])
            } else {
                (-lambda).max(d[i])
            };
        }
    }
    (0..n)
        .map(|i| if w[i] == 0.0 { 0.0 } else { d[i] as f32 })
        .collect()
}

/// Result of one FAB run: per sample the closest misclassified point found (the clean image if
/// none) and its L∞ distance ([`NOT_FOUND`] if none).
struct Run {
    adv: Vec<f32>,
    dist: Vec<f32>,
}

impl Attack for FabT {
    fn name(&self) -> &'static str {
        "fab-t"
    }
    fn norm(&self) -> Norm {
        Norm::Linf
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
        if batch.targets.is_some() {
            candle_core::bail!("fab-t chooses its own target classes; run it untargeted");
        }
        let (z, k) = oracle.logits(&batch.x, batch.shape)?;
        if k < 2 {
            candle_core::bail!("fab-t needs at least 2 classes, the model has {k}");
        }
        let mut robust = batch.correct(&z, k);
        let restarts = self.restarts.max(1);
        for rank in 2..=self.targets.min(k - 1) + 1 {
            for r in 0..restarts {
                let todo: Vec<usize> = (0..n).filter(|&i| robust[i]).collect();
                if todo.is_empty() {
                    return Ok(out);
                }
                let mut sub = batch.subset(&todo);
                sub.targets = Some(
                    todo.iter()
                        .map(|&i| ops::nth_largest(&z[i * k..(i + 1) * k], rank) as u32)
                        .collect(),
                );
                let stream = STREAM_BASE + ((rank - 2) * restarts + r) as u64;
                let run = self.single_run(oracle, &sub, stream, r > 0)?;
                // Broken: a misclassified point was found within ε (AutoAttack re-evaluates it).
                let near: Vec<usize> = (0..todo.len())
                    .filter(|&j| run.dist[j] <= self.eps)
                    .collect();
                if near.is_empty() {
                    continue;
                }
                let mut pts = Vec::with_capacity(near.len() * d);
                for &j in &near {
                    pts.extend_from_slice(&run.adv[j * d..(j + 1) * d]);
                }
                let (za, _) =
                    oracle.logits(&pts, [near.len(), sub.shape[1], sub.shape[2], sub.shape[3]])?;
                for (m, &j) in near.iter().enumerate() {
                    let i = todo[j];
                    if !batch.is_correct(i, &za[m * k..(m + 1) * k]) {
                        out[i * d..(i + 1) * d].copy_from_slice(&run.adv[j * d..(j + 1) * d]);
                        robust[i] = false;
                    }
                }
            }
        }
        Ok(out)
    }
}

impl FabT {
    /// One targeted FAB run of `self.steps` iterations on `b` (whose targets are set), from the
    /// clean image or, with `random_start`, from a random point at L∞ distance ε/2 drawn from
    /// generator stream `stream`.
    fn single_run(
        &self,
        oracle: &Oracle,
        b: &Batch,
        stream: u64,
        random_start: bool,
    ) -> Result<Run> {
        let (n, d) = (b.len(), b.dim());
        let bounds = oracle.model().bounds();
        let x0 = &b.x;
        let mut x1 = x0.clone();
        if random_start {
            for i in 0..n {
                let mut rng = b.rng(i, stream);
                let t: Vec<f32> = (0..d).map(|_| 2.0 * rng.random::<f32>() - 1.0).collect();
                let m = ops::linf(&t).max(1e-12);
                for (v, (&c, &tv)) in x1[i * d..(i + 1) * d]
                    .iter_mut()
                    .zip(x0[i * d..(i + 1) * d].iter().zip(&t))
                {
                    *v = (c + self.eps * tv / m * 0.5).clamp(bounds.0, bounds.1);
                }
            }
        }
        let mut adv = x0.clone();
        let mut dist = vec![NOT_FOUND; n];
        let mut delta = vec![0f32; d];
        for _ in 0..self.steps {
            let lg = oracle.loss_grad(&x1, b, LossKind::LogitGap)?;
            for i in 0..n {
                let r = i * d..(i + 1) * d;
                let g = &lg.grad[r.clone()];
                let cur = &x1[r.clone()];
                let orig = &x0[r.clone()];
                // The linearisation z_t − z_y ≈ df + ⟨g, x − x1⟩ vanishes on ⟨g, x⟩ = ⟨g, x1⟩ − df.
                let gx: f64 = g
                    .iter()
                    .zip(cur)
                    .map(|(&a, &c)| f64::from(a) * f64::from(c))
                    .sum();
                let hb = (gx - f64::from(lg.loss[i])) as f32;
                let d1 = projection_linf(cur, g, hb, bounds);
                let d2 = projection_linf(orig, g, hb, bounds);
                let a1 = ops::linf(&d1).max(1e-8);
                let a2 = ops::linf(&d2).max(1e-8);
                let alpha = (a1 / (a1 + a2)).clamp(0.0, self.alpha_max);
                // Each coordinate's new value reads only its own old value: update in place.
                for (j, v) in x1[r].iter_mut().enumerate() {
                    *v = ((*v + self.eta * d1[j]) * (1.0 - alpha)
                        + (orig[j] + self.eta * d2[j]) * alpha)
                        .clamp(bounds.0, bounds.1);
                }
            }
            let (z, k) = oracle.logits(&x1, b.shape)?;
            for i in 0..n {
                if b.is_correct(i, &z[i * k..(i + 1) * k]) {
                    continue;
                }
                let r = i * d..(i + 1) * d;
                for (t, (&p, &q)) in delta
                    .iter_mut()
                    .zip(x1[r.clone()].iter().zip(&x0[r.clone()]))
                {
                    *t = p - q;
                }
                let t = ops::linf(&delta);
                if t < dist[i] {
                    adv[r.clone()].copy_from_slice(&x1[r.clone()]);
                    dist[i] = t;
                }
                for (p, &q) in x1[r.clone()].iter_mut().zip(&x0[r]) {
                    *p = q + (*p - q) * self.beta;
                }
            }
        }
        Ok(Run { adv, dist })
    }
}
