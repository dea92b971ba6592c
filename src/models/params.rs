//! The named parameters and buffers of a network, with their weight-decay group.

use candle_core::{DType, Device, Result, Tensor, Var};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// How many times parameters have been loaded in this process ([`ParamStore::load`]); a
/// [`HostFlag`] read before the last load reads its buffer again.
static LOADS: AtomicU64 = AtomicU64::new(0);

/// A yes/no fact about a buffer that a training step needs on the host (whether a running
/// average has started), read from the device once and then kept on the host, so that a
/// training step on a GPU does not wait for the device to answer it. Loading parameters
/// ([`ParamStore::load`]) makes every flag read its buffer again.
#[derive(Debug, Default)]
pub(crate) struct HostFlag {
    /// 0: not read; else `1 + (load generation << 1 | value)`.
    state: AtomicU64,
}

impl HostFlag {
    /// The fact: the kept value, or `read()` when it was never read or parameters were loaded
    /// since.
    pub(crate) fn get(&self, read: impl FnOnce() -> Result<bool>) -> Result<bool> {
        let generation = LOADS.load(Ordering::SeqCst);
        let s = self.state.load(Ordering::SeqCst);
        if s != 0 && (s - 1) >> 1 == generation {
            return Ok((s - 1) & 1 == 1);
        }
        let v = read()?;
        self.set(v);
        Ok(v)
    }

    /// Records the fact after the step changed the buffer.
    pub(crate) fn set(&self, value: bool) {
        let generation = LOADS.load(Ordering::SeqCst);
        self.state
            .store(1 + (generation << 1 | u64::from(value)), Ordering::SeqCst);
    }
}

impl Clone for HostFlag {
    fn clone(&self) -> Self {
        HostFlag {
            state: AtomicU64::new(self.state.load(Ordering::SeqCst)),
        }
    }
}

/// How a forward pass runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Batch statistics; running averages are updated; gradients reach every parameter.
    Train,
    /// Running averages; nothing changes.
    Eval,
    /// Like `Eval`, with every parameter detached from the graph: gradients reach the input
    /// only, and no weight gradient is computed (attacks).
    Frozen,
}

impl Mode {
    /// Whether batch statistics are used and running averages updated.
    pub(crate) fn is_train(self) -> bool {
        self == Mode::Train
    }

    /// The value of `v` as this mode uses it: detached when frozen.
    pub(crate) fn param(self, v: &Var) -> Tensor {
        match self {
            Mode::Frozen => v.as_tensor().detach(),
            _ => v.as_tensor().clone(),
        }
    }
}

/// How the optimiser treats a tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Group {
    /// Trained, with L2 weight decay (docs/model.md#training-recipe: BN γ/β, shortcut filters,
    /// score layer, and every filter of a baseline network).
    Decay,
    /// Trained, without weight decay (decoupled filters, radii, learnable k, biases).
    NoDecay,
    /// Not trained: running statistics saved with the checkpoint.
    Buffer,
}

/// One named tensor of a network.
#[derive(Clone, Debug)]
pub(crate) struct Param {
    /// Dotted name, e.g. `stage1.conv2.weight`; the key in the checkpoint.
    pub(crate) name: String,
    /// The value.
    pub(crate) var: Var,
    /// How the optimiser treats it.
    pub(crate) group: Group,
}

/// All parameters and buffers of one network, in creation order, plus the seeded generator
/// that initialises them.
pub struct ParamStore {
    params: Vec<Param>,
    device: Device,
    dtype: DType,
    rng: ChaCha8Rng,
}

impl ParamStore {
    /// An empty store whose initialisers draw from `seed`.
    pub(crate) fn new(device: &Device, dtype: DType, seed: u64) -> Self {
        ParamStore {
            params: Vec::new(),
            device: device.clone(),
            dtype,
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// Device of every tensor.
    pub(crate) fn device(&self) -> &Device {
        &self.device
    }

    /// Float type of every tensor.
    pub(crate) fn dtype(&self) -> DType {
        self.dtype
    }

    /// Every parameter and buffer, in creation order.
    pub(crate) fn all(&self) -> &[Param] {
        &self.params
    }

    /// The trained parameters (groups `Decay` and `NoDecay`).
    pub(crate) fn trainable(&self) -> impl Iterator<Item = &Param> {
        self.params.iter().filter(|p| p.group != Group::Buffer)
    }

    fn add(&mut self, name: &str, values: Vec<f64>, shape: &[usize], group: Group) -> Result<Var> {
        if self.params.iter().any(|p| p.name == name) {
            candle_core::bail!("parameter {name} defined twice");
        }
        let t = Tensor::from_vec(values, shape, &Device::Cpu)?
            .to_dtype(self.dtype)?
            .to_device(&self.device)?;
        let var = Var::from_tensor(&t)?;
        self.params.push(Param {
            name: name.to_string(),
            var: var.clone(),
            group,
        });
        Ok(var)
    }

    /// A tensor of normal draws with mean 0 and standard deviation `std`.
    ///
    /// # Shapes
    /// `shape`, e.g. `(C_out, C_in, k, k)` for a filter.
    pub(crate) fn normal(
        &mut self,
        name: &str,
        shape: &[usize],
        std: f64,
        group: Group,
    ) -> Result<Var> {
        let n: usize = shape.iter().product();
        let values = (0..n)
            .map(|_| std * standard_normal(&mut self.rng))
            .collect();
        self.add(name, values, shape, group)
    }

    /// A tensor filled with `value`.
    pub(crate) fn constant(
        &mut self,
        name: &str,
        shape: &[usize],
        value: f64,
        group: Group,
    ) -> Result<Var> {
        let n: usize = shape.iter().product();
        self.add(name, vec![value; n], shape, group)
    }

    /// Name → tensor map of everything, for saving.
    pub fn tensors(&self) -> HashMap<String, Tensor> {
        self.params
            .iter()
            .map(|p| (p.name.clone(), p.var.as_tensor().detach()))
            .collect()
    }

    /// Overwrites every parameter and buffer from `tensors`, which must hold each name with the
    /// same shape. Extra entries (such as optimiser state) are ignored.
    pub(crate) fn load(
        &self,
        tensors: &HashMap<String, Tensor>,
    ) -> std::result::Result<(), String> {
        for p in &self.params {
            let t = tensors
                .get(&p.name)
                .ok_or_else(|| format!("the checkpoint has no tensor `{}`", p.name))?;
            if t.dims() != p.var.dims() {
                return Err(format!(
                    "tensor `{}` has shape {:?} in the checkpoint, the model expects {:?}",
                    p.name,
                    t.dims(),
                    p.var.dims()
                ));
            }
            let t = t
                .to_dtype(self.dtype)
                .and_then(|t| t.to_device(&self.device))
                .map_err(|e| format!("tensor `{}`: {e}", p.name))?;
            let finite = t
                .to_dtype(DType::F64)
                .and_then(|t| t.flatten_all()?.to_vec1::<f64>())
                .map_err(|e| format!("tensor `{}`: {e}", p.name))?
                .iter()
                .all(|v| v.is_finite());
            if !finite {
                return Err(format!("tensor `{}` holds NaN or infinite values", p.name));
            }
            p.var
                .set(&t)
                .map_err(|e| format!("tensor `{}`: {e}", p.name))?;
        }
        LOADS.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

/// One standard normal draw (Box–Muller), from our own seeded generator.
fn standard_normal(rng: &mut impl Rng) -> f64 {
    let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Oracle: the sample mean and standard deviation of 20,000 draws of N(0, 0.5²) lie within
    /// five standard errors of 0 and 0.5; the same seed gives the same draws.
    #[test]
    fn normal_init_has_the_requested_moments_and_is_seeded() {
        let mut a = ParamStore::new(&Device::Cpu, DType::F64, 7);
        let v = a.normal("w", &[20_000], 0.5, Group::Decay).unwrap();
        let xs = v.as_tensor().to_vec1::<f64>().unwrap();
        let n = xs.len() as f64;
        let mean = xs.iter().sum::<f64>() / n;
        let sd = (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
        assert!(mean.abs() < 5.0 * 0.5 / n.sqrt(), "mean {mean}");
        assert!((sd - 0.5).abs() < 5.0 * 0.5 / (2.0 * n).sqrt(), "sd {sd}");
        let mut b = ParamStore::new(&Device::Cpu, DType::F64, 7);
        let w = b.normal("w", &[20_000], 0.5, Group::Decay).unwrap();
        assert_eq!(w.as_tensor().to_vec1::<f64>().unwrap(), xs);
    }

    /// Oracle: the definition of [`HostFlag`]: the first `get` reads the buffer, later ones
    /// return what was read or set without reading, and a [`ParamStore::load`] anywhere in the
    /// process makes the next `get` read again.
    #[test]
    fn host_flag_reads_once_until_parameters_are_loaded() {
        let flag = HostFlag::default();
        let reads = std::cell::Cell::new(0);
        let read = |v: bool| {
            reads.set(reads.get() + 1);
            Ok(v)
        };
        assert!(!flag.get(|| read(false)).unwrap());
        assert!(!flag.get(|| read(true)).unwrap(), "kept, not read again");
        flag.set(true);
        assert!(flag.get(|| read(false)).unwrap());
        assert_eq!(reads.get(), 1);
        let mut store = ParamStore::new(&Device::Cpu, DType::F32, 0);
        store.constant("b", &[1], 2.0, Group::Buffer).unwrap();
        let fresh = HashMap::from([("b".to_string(), Tensor::new(&[3f32], &Device::Cpu).unwrap())]);
        store.load(&fresh).unwrap();
        assert!(
            !flag.get(|| read(false)).unwrap(),
            "read again after a load"
        );
        assert_eq!(reads.get(), 2);
        assert!(flag.clone().get(|| read(true)).is_ok_and(|v| !v));
    }

    /// Oracle: loading refuses a missing name, a wrong shape and NaN values, naming the tensor.
    #[test]
    fn load_names_what_is_wrong() {
        let mut s = ParamStore::new(&Device::Cpu, DType::F32, 1);
        s.constant("a.weight", &[2, 3], 1.0, Group::Decay).unwrap();
        let mut m = HashMap::new();
        let e = s.load(&m).unwrap_err();
        assert!(e.contains("a.weight"), "{e}");
        m.insert(
            "a.weight".to_string(),
            Tensor::zeros((3, 2), DType::F32, &Device::Cpu).unwrap(),
        );
        let e = s.load(&m).unwrap_err();
        assert!(e.contains("[3, 2]") && e.contains("[2, 3]"), "{e}");
        let nan = Tensor::new(&[[f32::NAN, 0., 0.], [0., 0., 0.]], &Device::Cpu).unwrap();
        m.insert("a.weight".to_string(), nan);
        assert!(s.load(&m).unwrap_err().contains("NaN"));
        m.insert(
            "a.weight".to_string(),
            Tensor::ones((2, 3), DType::F32, &Device::Cpu).unwrap(),
        );
        s.load(&m).unwrap();
    }
}
