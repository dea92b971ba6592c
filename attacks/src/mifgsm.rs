//! MI-FGSM (Dong et al. 2018): iterated sign steps on an accumulated, L1-normalised gradient.

use crate::ops;
use crate::{Attack, Batch, LossKind, Norm, Oracle};
use candle_core::Result;

/// Momentum iterative FGSM, L∞: `g ← μ·g + ∇/‖∇‖₁`, `x' ← Π(x' + α·sign(g))`, α = ε / steps.
#[derive(Clone, Debug)]
pub struct MiFgsm {
    /// Budget ε.
    pub eps: f32,
    /// Iterations.
    pub steps: usize,
    /// Momentum decay μ.
    pub decay: f32,
}

impl Attack for MiFgsm {
    fn name(&self) -> &'static str {
        "mifgsm"
    }
    fn norm(&self) -> Norm {
        Norm::Linf
    }
    fn eps(&self) -> f32 {
        self.eps
    }
    fn perturb(&self, oracle: &Oracle, batch: &Batch) -> Result<Vec<f32>> {
        let d = batch.dim();
        let alpha = self.eps / self.steps.max(1) as f32;
        let bounds = oracle.model().bounds();
        let mut adv = batch.x.clone();
        let mut momentum = vec![0f32; adv.len()];
        for _ in 0..self.steps {
            let g = oracle.loss_grad(&adv, batch, LossKind::CrossEntropy)?;
            for ((m, gs), (a, x)) in momentum
                .chunks_mut(d)
                .zip(g.grad.chunks(d))
                .zip(adv.chunks_mut(d).zip(batch.x.chunks(d)))
            {
                let l1 = gs.iter().map(|v| v.abs()).sum::<f32>().max(1e-12);
                for (mv, gv) in m.iter_mut().zip(gs) {
                    *mv = self.decay * *mv + gv / l1;
                }
                for (av, mv) in a.iter_mut().zip(m.iter()) {
                    *av += alpha * ops::sign(*mv);
                }
                ops::project(Norm::Linf, a, x, d, self.eps, bounds);
            }
        }
        Ok(adv)
    }
}
