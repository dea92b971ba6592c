//! FGSM (Goodfellow et al. 2015): one step of size ε along the sign of the loss gradient.

use crate::ops;
use crate::{Attack, Batch, LossKind, Norm, Oracle};
use candle_core::Result;

/// Fast gradient sign method, L∞: `x' = clip(x + ε·sign(∇ₓ CE))`.
#[derive(Clone, Debug)]
pub struct Fgsm {
    /// Budget ε.
    pub eps: f32,
}

impl Attack for Fgsm {
    fn name(&self) -> &'static str {
        "fgsm"
    }
    fn norm(&self) -> Norm {
        Norm::Linf
    }
    fn eps(&self) -> f32 {
        self.eps
    }
    fn perturb(&self, oracle: &Oracle, batch: &Batch) -> Result<Vec<f32>> {
        let g = oracle.loss_grad(&batch.x, batch, LossKind::CrossEntropy)?;
        let mut adv: Vec<f32> = batch
            .x
            .iter()
            .zip(&g.grad)
            .map(|(&x, &d)| x + self.eps * ops::sign(d))
            .collect();
        ops::project(
            Norm::Linf,
            &mut adv,
            &batch.x,
            batch.dim(),
            self.eps,
            oracle.model().bounds(),
        );
        Ok(adv)
    }
}
