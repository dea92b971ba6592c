//! Adam and SGD with momentum, with L2 weight decay on the parameters whose group asks for it.
//!
//! Optimiser state is kept in detached tensors: gradients from `backward()` carry the step's
//! whole graph, and a momentum buffer built from them would keep every step's activations alive
//! (docs/performance.md#pitfall-p1).

use crate::models::params::{Group, Param};
use candle_core::backprop::GradStore;
use candle_core::{Result, Tensor};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Which optimiser, with its constants.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub(crate) enum OptimizerConfig {
    /// Adam (Kingma & Ba), bias-corrected: `w -= lr · m̂ / (sqrt(v̂) + eps)`.
    Adam {
        /// First-moment decay.
        beta1: f64,
        /// Second-moment decay.
        beta2: f64,
        /// Denominator epsilon.
        eps: f64,
    },
    /// SGD with heavy-ball momentum: `b = μ·b + g; w -= lr · b` (Nesterov: `w -= lr·(g + μ·b)`).
    Sgd {
        /// Momentum μ.
        momentum: f64,
        /// Nesterov momentum.
        nesterov: bool,
    },
}

impl OptimizerConfig {
    /// Adam with TensorFlow's defaults (the official code's optimiser).
    pub(crate) const ADAM: OptimizerConfig = OptimizerConfig::Adam {
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
    };
}

/// Per-parameter state: Adam's two moments or SGD's momentum buffer (second slot unused).
#[derive(Default)]
struct Slot {
    a: Option<Tensor>,
    b: Option<Tensor>,
}

/// An optimiser over a fixed list of parameters.
pub(crate) struct Optimizer {
    cfg: OptimizerConfig,
    weight_decay: f64,
    params: Vec<Param>,
    slots: Vec<Slot>,
    /// Steps taken (Adam's bias correction uses it).
    pub(crate) steps: u64,
}

impl Optimizer {
    /// Optimises `params` (buffers are skipped); `weight_decay` is the L2 coefficient λ of the
    /// loss term `λ/2 · Σ w²`, applied as `g += λ·w` to parameters in [`Group::Decay`].
    pub(crate) fn new<'a>(
        cfg: OptimizerConfig,
        weight_decay: f64,
        params: impl Iterator<Item = &'a Param>,
    ) -> Self {
        let params: Vec<Param> = params
            .filter(|p| p.group != Group::Buffer)
            .cloned()
            .collect();
        let slots = params.iter().map(|_| Slot::default()).collect();
        Optimizer {
            cfg,
            weight_decay,
            params,
            slots,
            steps: 0,
        }
    }

    /// One update with learning rate `lr` from the gradients in `grads`.
    pub(crate) fn step(&mut self, grads: &GradStore, lr: f64) -> Result<()> {
        self.steps += 1;
        let t = self.steps as i32;
        for (p, slot) in self.params.iter().zip(self.slots.iter_mut()) {
            let Some(g) = grads.get(&p.var) else { continue };
            let w = p.var.as_tensor().detach();
            let mut g = g.detach();
            if p.group == Group::Decay && self.weight_decay > 0.0 {
                g = (g + w.affine(self.weight_decay, 0.0)?)?;
            }
            let update = match self.cfg {
                OptimizerConfig::Adam { beta1, beta2, eps } => {
                    let m = match &slot.a {
                        Some(m) => (m.affine(beta1, 0.0)? + g.affine(1.0 - beta1, 0.0)?)?,
                        None => g.affine(1.0 - beta1, 0.0)?,
                    };
                    let v = match &slot.b {
                        Some(v) => (v.affine(beta2, 0.0)? + g.sqr()?.affine(1.0 - beta2, 0.0)?)?,
                        None => g.sqr()?.affine(1.0 - beta2, 0.0)?,
                    };
                    let m_hat = m.affine(1.0 / (1.0 - beta1.powi(t)), 0.0)?;
                    let v_hat = v.affine(1.0 / (1.0 - beta2.powi(t)), 0.0)?;
                    let u = m_hat.div(&v_hat.sqrt()?.affine(1.0, eps)?)?;
                    slot.a = Some(m);
                    slot.b = Some(v);
                    u
                }
                OptimizerConfig::Sgd { momentum, nesterov } => {
                    let b = match &slot.a {
                        Some(b) => (b.affine(momentum, 0.0)? + &g)?,
                        None => g.clone(),
                    };
                    let u = if nesterov {
                        (&g + b.affine(momentum, 0.0)?)?
                    } else {
                        b.clone()
                    };
                    slot.a = Some(b);
                    u
                }
            };
            p.var.set(&(w - update.affine(lr, 0.0)?)?)?;
        }
        Ok(())
    }

    /// The state as named tensors (`optim.a.<param>`, `optim.b.<param>`), for checkpoints.
    pub(crate) fn state_tensors(&self) -> HashMap<String, Tensor> {
        let mut out = HashMap::new();
        for (p, s) in self.params.iter().zip(&self.slots) {
            if let Some(a) = &s.a {
                out.insert(format!("optim.a.{}", p.name), a.clone());
            }
            if let Some(b) = &s.b {
                out.insert(format!("optim.b.{}", p.name), b.clone());
            }
        }
        out
    }

    /// Restores the state saved by [`Optimizer::state_tensors`] after `steps` steps.
    pub(crate) fn load_state(
        &mut self,
        tensors: &HashMap<String, Tensor>,
        steps: u64,
    ) -> std::result::Result<(), String> {
        self.steps = steps;
        for (p, s) in self.params.iter().zip(self.slots.iter_mut()) {
            for (key, slot) in [("a", &mut s.a), ("b", &mut s.b)] {
                let name = format!("optim.{key}.{}", p.name);
                *slot = match tensors.get(&name) {
                    Some(t) if t.dims() == p.var.dims() => Some(
                        t.to_device(p.var.device())
                            .and_then(|t| t.to_dtype(p.var.dtype()))
                            .map_err(|e| format!("{name}: {e}"))?,
                    ),
                    Some(t) => {
                        return Err(format!(
                            "optimiser state `{name}` has shape {:?}, expected {:?}",
                            t.dims(),
                            p.var.dims()
                        ))
                    }
                    None => None,
                };
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::params::ParamStore;
    use candle_core::{DType, Device};

    fn quadratic_grad(store: &ParamStore) -> GradStore {
        // L = ½ Σ w², so ∂L/∂w = w.
        let w = store.all()[0].var.as_tensor();
        w.sqr()
            .unwrap()
            .sum_all()
            .unwrap()
            .affine(0.5, 0.0)
            .unwrap()
            .backward()
            .unwrap()
    }

    /// Oracle: hand-computed first two Adam steps on L = ½w² from w0 = 2 (lr 0.1):
    /// step 1: m = 0.2, v = 0.004·... m̂ = g, v̂ = g², so w1 = w0 − lr·g/(|g| + eps) ≈ 1.9;
    /// step 2: g = 1.9, m = 0.9·0.2 + 0.1·1.9 = 0.37, v = 0.999·0.004 + 0.001·3.61 = 0.007606,
    /// m̂ = 0.37/0.19, v̂ = 0.007606/0.001999, w2 = 1.9 − 0.1·m̂/sqrt(v̂).
    #[test]
    fn adam_matches_hand_computation() {
        let mut s = ParamStore::new(&Device::Cpu, DType::F64, 0);
        s.constant("w", &[1], 2.0, Group::NoDecay).unwrap();
        let mut opt = Optimizer::new(OptimizerConfig::ADAM, 0.0, s.all().iter());
        opt.step(&quadratic_grad(&s), 0.1).unwrap();
        let w1 = s.all()[0].var.as_tensor().to_vec1::<f64>().unwrap()[0];
        assert!(
            (w1 - (2.0 - 0.1 * 2.0 / (2.0 + 1e-8))).abs() < 1e-12,
            "{w1}"
        );
        opt.step(&quadratic_grad(&s), 0.1).unwrap();
        let w2 = s.all()[0].var.as_tensor().to_vec1::<f64>().unwrap()[0];
        let m_hat = (0.9 * 0.2 + 0.1 * w1) / (1.0 - 0.81);
        let v_hat = (0.999 * 0.004 + 0.001 * w1 * w1) / (1.0 - 0.999f64.powi(2));
        let want = w1 - 0.1 * m_hat / (v_hat.sqrt() + 1e-8);
        assert!((w2 - want).abs() < 1e-12, "{w2} vs {want}");
    }

    /// Oracle: SGD with momentum μ on L = ½w² with weight decay λ has gradient (1+λ)w; two
    /// steps by hand: b1 = g0, w1 = w0 − lr·b1; b2 = μ·b1 + g1, w2 = w1 − lr·b2. Parameters in
    /// the NoDecay group ignore λ.
    #[test]
    fn sgd_momentum_and_decay_groups() {
        let mut s = ParamStore::new(&Device::Cpu, DType::F64, 0);
        s.constant("w", &[1], 1.0, Group::Decay).unwrap();
        let (lr, mu, wd) = (0.1, 0.9, 0.5);
        let cfg = OptimizerConfig::Sgd {
            momentum: mu,
            nesterov: false,
        };
        let mut opt = Optimizer::new(cfg, wd, s.all().iter());
        opt.step(&quadratic_grad(&s), lr).unwrap();
        opt.step(&quadratic_grad(&s), lr).unwrap();
        let g0 = 1.5 * 1.0;
        let w1 = 1.0 - lr * g0;
        let b2 = mu * g0 + 1.5 * w1;
        let w2 = w1 - lr * b2;
        let got = s.all()[0].var.as_tensor().to_vec1::<f64>().unwrap()[0];
        assert!((got - w2).abs() < 1e-12, "{got} vs {w2}");

        let mut s = ParamStore::new(&Device::Cpu, DType::F64, 0);
        s.constant("w", &[1], 1.0, Group::NoDecay).unwrap();
        let mut opt = Optimizer::new(cfg, wd, s.all().iter());
        opt.step(&quadratic_grad(&s), lr).unwrap();
        let got = s.all()[0].var.as_tensor().to_vec1::<f64>().unwrap()[0];
        assert!((got - 0.9).abs() < 1e-12, "{got}");
    }

    /// Oracle: the state tensors hold no autograd graph (docs/performance.md#pitfall-p1): they are detached values.
    #[test]
    fn state_is_detached_and_round_trips() {
        let mut s = ParamStore::new(&Device::Cpu, DType::F64, 0);
        s.constant("w", &[3], 1.0, Group::NoDecay).unwrap();
        let mut opt = Optimizer::new(OptimizerConfig::ADAM, 0.0, s.all().iter());
        opt.step(&quadratic_grad(&s), 0.1).unwrap();
        let st = opt.state_tensors();
        assert_eq!(st.len(), 2);
        assert!(st.values().all(|t| !t.track_op()));
        let mut other = Optimizer::new(OptimizerConfig::ADAM, 0.0, s.all().iter());
        other.load_state(&st, 1).unwrap();
        assert_eq!(
            other.state_tensors()["optim.a.w"].to_vec1::<f64>().unwrap(),
            st["optim.a.w"].to_vec1::<f64>().unwrap()
        );
    }
}
