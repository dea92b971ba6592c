//! Running an attack with its output checked after the fact.

use crate::ops;
use crate::{Attack, Batch, Oracle, Target};
use candle_core::Result;

/// What an attack did to each sample of a batch.
#[derive(Clone, Debug)]
pub struct AttackOutcome {
    /// Adversarial images, `N·C·H·W` values (the clean image where nothing was attacked).
    pub adv: Vec<f32>,
    /// Prediction on the clean image.
    pub clean_pred: Vec<u32>,
    /// Prediction on the adversarial image.
    pub adv_pred: Vec<u32>,
    /// Target class per sample, for targeted attacks.
    pub targets: Option<Vec<u32>>,
    /// Untargeted: the adversarial prediction is wrong. Targeted: it is the target.
    pub success: Vec<bool>,
    /// Whether the attack ran on the sample (samples already wrong, or already at their target,
    /// are left clean, as AutoAttack does).
    pub attacked: Vec<bool>,
    /// L∞ norm of the perturbation.
    pub linf: Vec<f32>,
    /// L2 norm of the perturbation.
    pub l2: Vec<f32>,
    /// Cross-entropy of the true class at the adversarial image.
    pub loss: Vec<f32>,
}

/// Runs `attack` on `batch` and checks its output: every sample inside the ε-ball (with a
/// relative tolerance of 1e-5 for float rounding), inside the model's bounds, and finite; a
/// violation is an error naming the sample. With `only_correct`, samples the model already gets
/// wrong (or, targeted, already assigns to their target) are not attacked. At ε = 0 nothing is
/// searched. Samples left clean keep their clean logits; only attacked samples are evaluated
/// again. `clean_logits` (`(N, K)` row-major, and K) saves the clean forward pass when the caller
/// already has it.
pub fn run_attack(
    attack: &dyn Attack,
    target: Target,
    only_correct: bool,
    oracle: &Oracle,
    batch: &Batch,
    clean_logits: Option<(&[f32], usize)>,
) -> Result<AttackOutcome> {
    let (n, d) = (batch.len(), batch.dim());
    let computed;
    let (z, k): (&[f32], usize) = match clean_logits {
        Some((z, k)) if z.len() == n * k => (z, k),
        Some((z, k)) => candle_core::bail!(
            "clean logits of {} values do not fit a batch of {n} and {k} classes",
            z.len()
        ),
        None => {
            computed = oracle.logits(&batch.x, batch.shape)?;
            (&computed.0, computed.1)
        }
    };
    let z: &[f32] = z;
    let clean_pred = ops::predictions(z, k);
    let mut b = batch.clone();
    b.targets = b.choose_targets(target, z, k);
    let todo: Vec<usize> = (0..n)
        .filter(|&i| !(only_correct && b.is_success(i, &z[i * k..(i + 1) * k])))
        .collect();
    let mut adv = b.x.clone();
    let mut attacked = vec![false; n];
    if attack.eps() > 0.0 && !todo.is_empty() {
        let sub = b.subset(&todo);
        let out = attack.perturb(oracle, &sub)?;
        check(attack, oracle, &sub, &out)?;
        for (j, &i) in todo.iter().enumerate() {
            adv[i * d..(i + 1) * d].copy_from_slice(&out[j * d..(j + 1) * d]);
            attacked[i] = true;
        }
    }
    // Logits at the adversarial images: the clean ones where nothing was attacked.
    let mut z_adv = z.to_vec();
    let hit: Vec<usize> = (0..n).filter(|&i| attacked[i]).collect();
    if !hit.is_empty() {
        let sub = b.subset(&hit);
        let mut xa = Vec::with_capacity(hit.len() * d);
        for &i in &hit {
            xa.extend_from_slice(&adv[i * d..(i + 1) * d]);
        }
        let (za, _) = oracle.logits(&xa, sub.shape)?;
        for (j, &i) in hit.iter().enumerate() {
            z_adv[i * k..(i + 1) * k].copy_from_slice(&za[j * k..(j + 1) * k]);
        }
    }
    let adv_pred = ops::predictions(&z_adv, k);
    let loss = cross_entropy(&z_adv, k, &b.labels);
    let mut linf = Vec::with_capacity(n);
    let mut l2 = Vec::with_capacity(n);
    let mut delta = vec![0f32; d];
    for i in 0..n {
        for (t, (a, x)) in delta
            .iter_mut()
            .zip(adv[i * d..(i + 1) * d].iter().zip(&b.x[i * d..(i + 1) * d]))
        {
            *t = a - x;
        }
        linf.push(ops::linf(&delta));
        l2.push(ops::l2(&delta));
    }
    let success = (0..n)
        .map(|i| match &b.targets {
            None => adv_pred[i] != b.labels[i],
            Some(t) => adv_pred[i] == t[i],
        })
        .collect();
    Ok(AttackOutcome {
        adv,
        clean_pred,
        adv_pred,
        targets: b.targets,
        success,
        attacked,
        linf,
        l2,
        loss,
    })
}

/// Predictions and true-class cross-entropy of the model on `x` (images shaped like `batch`).
pub fn predict(oracle: &Oracle, x: &[f32], batch: &Batch) -> Result<(Vec<u32>, Vec<f32>)> {
    let (z, k) = oracle.logits(x, batch.shape)?;
    Ok((ops::predictions(&z, k), cross_entropy(&z, k, &batch.labels)))
}

/// True-class cross-entropy of each row of `(N, K)` logits.
fn cross_entropy(z: &[f32], k: usize, labels: &[u32]) -> Vec<f32> {
    z.chunks(k)
        .zip(labels)
        .map(|(row, &y)| {
            let m = row.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
            let lse = m + row.iter().map(|v| (v - m).exp()).sum::<f32>().ln();
            lse - row[y as usize]
        })
        .collect()
}

fn check(attack: &dyn Attack, oracle: &Oracle, batch: &Batch, adv: &[f32]) -> Result<()> {
    let d = batch.dim();
    if adv.len() != batch.x.len() {
        candle_core::bail!(
            "attack {} returned {} values for a batch of {}",
            attack.name(),
            adv.len(),
            batch.x.len()
        );
    }
    let (lo, hi) = oracle.model().bounds();
    let eps = attack.eps();
    let tol = 1e-5 * eps.max(1.0);
    for i in 0..batch.len() {
        let a = &adv[i * d..(i + 1) * d];
        let x = &batch.x[i * d..(i + 1) * d];
        let idx = batch.indices[i];
        if a.iter().any(|v| !v.is_finite()) {
            candle_core::bail!(
                "attack {} produced a non-finite value for sample {idx}",
                attack.name()
            );
        }
        if a.iter().any(|&v| v < lo - 1e-6 || v > hi + 1e-6) {
            candle_core::bail!(
                "attack {} left the valid range [{lo}, {hi}] for sample {idx}",
                attack.name()
            );
        }
        let delta: Vec<f32> = a.iter().zip(x).map(|(p, q)| p - q).collect();
        let norm = ops::norm_of(attack.norm(), &delta);
        if norm > eps + tol {
            candle_core::bail!(
                "attack {} left the {} ball of radius {eps} for sample {idx} (norm {norm})",
                attack.name(),
                attack.norm().name()
            );
        }
    }
    Ok(())
}
