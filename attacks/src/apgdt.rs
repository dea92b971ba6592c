//! APGD-T (Croce and Hein 2020), AutoAttack's `APGDAttack_targeted`: APGD on the targeted DLR
//! loss, run once per target class, the targets being the classes of the 2nd to
//! (`targets` + 1)-th largest clean logit. A sample counts as broken as soon as it is
//! misclassified (into any class), and later target classes only attack the samples no earlier
//! one broke.

use crate::apgd::{Apgd, Success};
use crate::ops;
use crate::{Attack, Batch, LossKind, Norm, Oracle};
use candle_core::Result;

/// Targeted APGD on the DLR loss over the top target classes.
#[derive(Clone, Debug)]
pub struct ApgdT {
    /// Norm of the budget.
    pub norm: Norm,
    /// Budget ε.
    pub eps: f32,
    /// Iterations per target class and restart.
    pub steps: usize,
    /// Restarts per target class.
    pub restarts: usize,
    /// Number of target classes (AutoAttack: 9); capped at K − 1.
    pub targets: usize,
}

/// Generator streams of APGD-T's random starts begin here (one per target class and restart),
/// apart from the streams of the untargeted APGD.
const STREAM_BASE: u64 = 1 << 32;

impl Attack for ApgdT {
    fn name(&self) -> &'static str {
        "apgd-t"
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
        if batch.targets.is_some() {
            candle_core::bail!("apgd-t chooses its own target classes; run it untargeted");
        }
        let (z, k) = oracle.logits(&batch.x, batch.shape)?;
        if k < 4 {
            candle_core::bail!(
                "apgd-t needs at least 4 classes (the targeted DLR loss reads the fourth-largest logit), the model has {k}"
            );
        }
        // Only the samples classified correctly are attacked (the others are broken already).
        let mut robust = batch.correct(&z, k);
        let apgd = Apgd {
            name: "apgd-t",
            norm: self.norm,
            eps: self.eps,
            steps: self.steps,
            restarts: 1,
            loss: LossKind::Dlr,
        };
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
                let run = apgd.single_run(oracle, &sub, stream, Success::Misclassified)?;
                for (j, &i) in todo.iter().enumerate() {
                    if run.success[j] {
                        out[i * d..(i + 1) * d].copy_from_slice(&run.x[j * d..(j + 1) * d]);
                        robust[i] = false;
                    }
                }
            }
        }
        Ok(out)
    }
}
