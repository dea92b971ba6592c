//! BIM / I-FGSM (Kurakin et al. 2017): iterated FGSM steps from the clean image, no random start.

use crate::pgd::Pgd;
use crate::{Attack, Batch, LossKind, Norm, Oracle};
use candle_core::Result;

/// Basic iterative method: `steps` L∞ steps of size α from `x`, projected after each.
#[derive(Clone, Debug)]
pub struct Bim {
    /// Budget ε.
    pub eps: f32,
    /// Iterations.
    pub steps: usize,
    /// Step size α, absolute.
    pub step_size: f32,
    /// Stop moving a sample once it is misclassified.
    pub early_stop: bool,
}

impl Attack for Bim {
    fn name(&self) -> &'static str {
        "bim"
    }
    fn norm(&self) -> Norm {
        Norm::Linf
    }
    fn eps(&self) -> f32 {
        self.eps
    }
    fn perturb(&self, oracle: &Oracle, batch: &Batch) -> Result<Vec<f32>> {
        Pgd {
            name: "bim",
            norm: Norm::Linf,
            eps: self.eps,
            steps: self.steps,
            step_size: self.step_size,
            random_start: false,
            restarts: 1,
            early_stop: self.early_stop,
            loss: LossKind::CrossEntropy,
        }
        .perturb(oracle, batch)
    }
}
