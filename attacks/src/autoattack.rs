//! AutoAttack's standard ensemble (Croce and Hein 2020, `version='standard'`): APGD-CE, APGD-T,
//! FAB-T and Square at one L∞ ε, each run only on the images every earlier component left
//! correctly classified. An image counts as broken if any component broke it, and the
//! adversarial image kept is that of the first component that did.

use crate::oracle::mix;
use crate::{Apgd, ApgdT, Attack, AttackConfig, Batch, FabT, Norm, Oracle, Square};
use candle_core::Result;

/// The standard AutoAttack ensemble, L∞.
#[derive(Clone, Debug)]
pub struct AutoAttack {
    /// Budget ε, shared by every component.
    pub eps: f32,
    /// APGD on the cross-entropy (standard: 100 steps, 1 restart).
    pub apgd_ce: Apgd,
    /// Targeted APGD on the DLR loss (standard: 100 steps, 9 target classes, 1 restart each).
    pub apgd_t: ApgdT,
    /// Targeted FAB (standard: 100 steps, 9 target classes, 1 restart each).
    pub fab_t: FabT,
    /// Square (standard: 5 000 queries, p_init 0.8, schedule not rescaled).
    pub square: Square,
}

/// The components' names, in the order they run.
pub const COMPONENTS: [&str; 4] = ["apgd-ce", "apgd-t", "fab-t", "square"];

impl AutoAttack {
    /// The standard version at budget `eps`, with AutoAttack's settings: APGD-CE (100 steps, 1
    /// restart), APGD-T and FAB-T (100 steps, 9 target classes, 1 restart each; FAB-T with
    /// α_max 0.1, η 1.05, β 0.9), Square (5,000 queries, p_init 0.8, schedule not rescaled),
    /// which are [`AttackConfig`]'s defaults.
    pub fn standard(eps: f32) -> AutoAttack {
        AttackConfig::default().autoattack(eps)
    }

    fn components(&self) -> [&dyn Attack; 4] {
        [&self.apgd_ce, &self.apgd_t, &self.fab_t, &self.square]
    }

    /// Runs the ensemble: the adversarial images, and per image the index (into
    /// [`COMPONENTS`]) of the component that broke it, `None` where none did or where the clean
    /// image is already misclassified.
    ///
    /// # Shapes
    /// Returns `N·C·H·W` values in the layout of `batch.x`, and `N` entries.
    pub fn run(&self, oracle: &Oracle, batch: &Batch) -> Result<(Vec<f32>, Vec<Option<usize>>)> {
        let (n, d) = (batch.len(), batch.dim());
        let mut out = batch.x.clone();
        let mut broken_by = vec![None; n];
        if n == 0 || self.eps <= 0.0 {
            return Ok((out, broken_by));
        }
        if batch.targets.is_some() {
            candle_core::bail!("autoattack chooses its own target classes; run it untargeted");
        }
        let (z, k) = oracle.logits(&batch.x, batch.shape)?;
        let mut robust = batch.correct(&z, k);
        for (c, attack) in self.components().into_iter().enumerate() {
            let todo: Vec<usize> = (0..n).filter(|&i| robust[i]).collect();
            if todo.is_empty() {
                break;
            }
            let mut sub = batch.subset(&todo);
            // Each component draws from its own generators.
            sub.seed = mix(batch.seed, STREAM_COMPONENT + c as u64);
            let adv = attack.perturb(oracle, &sub)?;
            let (za, _) = oracle.logits(&adv, sub.shape)?;
            for (j, &i) in todo.iter().enumerate() {
                if !batch.is_correct(i, &za[j * k..(j + 1) * k]) {
                    out[i * d..(i + 1) * d].copy_from_slice(&adv[j * d..(j + 1) * d]);
                    robust[i] = false;
                    broken_by[i] = Some(c);
                }
            }
        }
        Ok((out, broken_by))
    }
}

/// Seeds of the components: the batch seed mixed with this plus the component's index.
const STREAM_COMPONENT: u64 = 0xAA00;

impl Attack for AutoAttack {
    fn name(&self) -> &'static str {
        "autoattack"
    }
    fn norm(&self) -> Norm {
        Norm::Linf
    }
    fn eps(&self) -> f32 {
        self.eps
    }
    fn perturb(&self, oracle: &Oracle, batch: &Batch) -> Result<Vec<f32>> {
        Ok(self.run(oracle, batch)?.0)
    }
}
