//! Per-sample vector operations on flat image buffers: signs, norms, projections onto ε-balls
//! and the pixel box, and random starts.

use crate::Norm;
use rand::Rng;

/// Index of the largest value (the first on ties).
pub fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

/// Index of the smallest value (the first on ties).
pub fn argmin(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x < v[best] {
            best = i;
        }
    }
    best
}

/// Predicted class of each row of `(N, K)` logits.
pub fn predictions(logits: &[f32], classes: usize) -> Vec<u32> {
    logits.chunks(classes).map(|r| argmax(r) as u32).collect()
}

/// `sign(v)` with `sign(0) = 0`.
pub fn sign(v: f32) -> f32 {
    if v > 0.0 {
        1.0
    } else if v < 0.0 {
        -1.0
    } else {
        0.0
    }
}

/// L∞ norm of one sample.
pub fn linf(v: &[f32]) -> f32 {
    v.iter().fold(0f32, |m, x| m.max(x.abs()))
}

/// L2 norm of one sample, accumulated in f64.
pub fn l2(v: &[f32]) -> f32 {
    v.iter()
        .map(|&x| f64::from(x) * f64::from(x))
        .sum::<f64>()
        .sqrt() as f32
}

/// The norm of `v` in `norm`.
pub fn norm_of(norm: Norm, v: &[f32]) -> f32 {
    match norm {
        Norm::Linf => linf(v),
        Norm::L2 => l2(v),
    }
}

/// Projects every sample of `adv` (`dim` values each) onto the `norm` ball of radius `eps`
/// around the matching sample of `x`, then clips it to `[lo, hi]`.
pub fn project(norm: Norm, adv: &mut [f32], x: &[f32], dim: usize, eps: f32, (lo, hi): (f32, f32)) {
    match norm {
        Norm::Linf => {
            for (a, &c) in adv.iter_mut().zip(x) {
                *a = a.clamp(c - eps, c + eps).clamp(lo, hi);
            }
        }
        Norm::L2 => {
            for (a, c) in adv.chunks_mut(dim).zip(x.chunks(dim)) {
                let n = a
                    .iter()
                    .zip(c)
                    .map(|(&p, &q)| f64::from(p - q) * f64::from(p - q))
                    .sum::<f64>()
                    .sqrt();
                if n > f64::from(eps) {
                    let s = (f64::from(eps) / n) as f32;
                    for (p, &q) in a.iter_mut().zip(c) {
                        *p = q + (*p - q) * s;
                    }
                }
                for p in a.iter_mut() {
                    *p = p.clamp(lo, hi);
                }
            }
        }
    }
}

/// The steepest-ascent direction of `g` under `norm`: `sign(g)` for L∞, `g / ‖g‖₂` for L2 (zero
/// where the gradient is zero). Applied per sample of `dim` values, in place.
pub fn ascent_direction(norm: Norm, g: &mut [f32], dim: usize) {
    match norm {
        Norm::Linf => g.iter_mut().for_each(|v| *v = sign(*v)),
        Norm::L2 => {
            for s in g.chunks_mut(dim) {
                let n = l2(s);
                if n > 0.0 {
                    s.iter_mut().for_each(|v| *v /= n);
                }
            }
        }
    }
}

/// A random point of the `norm` ball of radius `eps` (L∞: uniform in the cube; L2: uniform in
/// the ball, by a Gaussian direction and a radius `eps·u^(1/d)`), as an offset of `dim` values.
pub fn random_offset(norm: Norm, eps: f32, dim: usize, rng: &mut impl Rng) -> Vec<f32> {
    match norm {
        Norm::Linf => (0..dim).map(|_| rng.random_range(-eps..=eps)).collect(),
        Norm::L2 => {
            let mut d: Vec<f32> = (0..dim).map(|_| gaussian(rng)).collect();
            let n = l2(&d).max(1e-12);
            let u: f64 = rng.random::<f64>();
            let r = f64::from(eps) * u.powf(1.0 / dim as f64);
            d.iter_mut()
                .for_each(|v| *v = (f64::from(*v) / f64::from(n) * r) as f32);
            d
        }
    }
}

/// A standard normal draw (`rand_distr`'s ziggurat sampler, in f64, rounded to f32).
pub fn gaussian(rng: &mut impl Rng) -> f32 {
    rng.sample::<f64, _>(rand_distr::StandardNormal) as f32
}

/// Index of the `rank`-th largest value of `v` (`rank` 1 is the largest; ties keep the lower
/// index first), as AutoAttack's `sort(dim=1)[1][:, -rank]` picks a target class.
pub fn nth_largest(v: &[f32], rank: usize) -> usize {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[b].total_cmp(&v[a]).then(a.cmp(&b)));
    idx[rank.clamp(1, v.len().max(1)) - 1]
}
