//! PyTorch state dicts of RobustBench's CIFAR architectures: PreActResNet-18, ResNet-18 and
//! WideResNet-D-K, as `robustbench/model_zoo/architectures` defines them (`resnet.py`,
//! `wide_resnet.py`), read from `.pt`/`.pth` (PyTorch's zip format) or `.safetensors`.
//!
//! The architecture fixes the topology; the base width and the class count are read from the
//! state dict (`conv1.weight`, the last linear layer), so reduced-width variants load too, and
//! every key and shape is then checked against what the architecture expects, as PyTorch's
//! `load_state_dict(strict=True)` does.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use anyhow::{bail, Context, Result as AnyResult};
use candle_core::{DType, Device, Result, Tensor};

use crate::kernels::conv::conv2d;
use crate::kernels::fused::channel_affine;

/// PyTorch's BatchNorm2d ε, which RobustBench's architectures keep.
const BN_EPS: f64 = 1e-5;

/// An architecture `pt:ARCH:PATH` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TorchArch {
    /// `preact-resnet18`: PreActResNet-18 (He et al. 2016; RobustBench's, as Rice et al. 2020).
    PreActResNet18,
    /// `resnet18`: ResNet-18 for CIFAR (3×3 stem, no max-pool; RobustBench's `ResNet18`).
    ResNet18,
    /// `wrn-D-K`: WideResNet of depth D (D − 4 divisible by 6) and widening factor K
    /// (Zagoruyko and Komodakis 2016; RobustBench's `WideResNet`), e.g. `wrn-28-10`, `wrn-34-10`.
    WideResNet {
        /// Depth D.
        depth: usize,
        /// Widening factor K.
        widen: usize,
    },
}

impl TorchArch {
    /// The names `pt:ARCH:PATH` accepts, for error messages.
    pub(crate) const NAMES: &'static str =
        "preact-resnet18, resnet18, wrn-28-10, wrn-34-10 (any wrn-D-K)";

    /// Parses `preact-resnet18`, `resnet18` or `wrn-D-K`.
    pub(crate) fn parse(s: &str) -> AnyResult<TorchArch> {
        match s {
            "preact-resnet18" => return Ok(TorchArch::PreActResNet18),
            "resnet18" => return Ok(TorchArch::ResNet18),
            _ => {}
        }
        if let Some(rest) = s.strip_prefix("wrn-") {
            if let Some((d, k)) = rest.split_once('-') {
                if let (Ok(depth), Ok(widen)) = (d.parse::<usize>(), k.parse::<usize>()) {
                    if depth >= 10 && (depth - 4) % 6 == 0 && widen >= 1 {
                        return Ok(TorchArch::WideResNet { depth, widen });
                    }
                    bail!("`{s}`: a WideResNet's depth D must be 6n + 4 (10, 16, 22, 28, 34, ...) and its factor K at least 1");
                }
            }
        }
        bail!(
            "unknown architecture `{s}`; expected one of {}",
            Self::NAMES
        )
    }
}

impl fmt::Display for TorchArch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TorchArch::PreActResNet18 => f.write_str("preact-resnet18"),
            TorchArch::ResNet18 => f.write_str("resnet18"),
            TorchArch::WideResNet { depth, widen } => write!(f, "wrn-{depth}-{widen}"),
        }
    }
}

/// The wrapper keys of training scripts' checkpoints (`torch.save({"state_dict": ...})`), tried
/// in this order before the file's top level.
const WRAPPER_KEYS: [&str; 4] = ["state_dict", "model_state_dict", "model", "net"];

/// Reads a state dict: `.safetensors`, or PyTorch's zip format (`torch.save`, any other
/// extension), unwrapped from a `state_dict`/`model_state_dict`/`model`/`net` entry when there is
/// one, with DataParallel's `module.` prefixes removed. Tensors are on the CPU, in the file's
/// dtype.
fn read_state_dict(path: &Path) -> AnyResult<BTreeMap<String, Tensor>> {
    let meta = std::fs::metadata(path)
        .with_context(|| format!("{}: cannot read the checkpoint", path.display()))?;
    if !meta.is_file() {
        bail!("{}: expected a checkpoint file", path.display());
    }
    let safetensors = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("safetensors"));
    let raw: Vec<(String, Tensor)> = if safetensors {
        candle_core::safetensors::load(path, &Device::Cpu)
            .map_err(|e| {
                anyhow::anyhow!(
                    "{}: not a readable safetensors file ({}); expected the output of safetensors' save_file",
                    path.display(),
                    super::first_line(&e)
                )
            })?
            .into_iter()
            .collect()
    } else {
        read_pth(path)?
    };
    let mut out = BTreeMap::new();
    for (mut key, t) in raw {
        while let Some(k) = key.strip_prefix("module.") {
            key = k.to_string();
        }
        out.insert(key, t);
    }
    if out.is_empty() {
        bail!("{}: the checkpoint holds no tensors", path.display());
    }
    Ok(out)
}

fn read_pth(path: &Path) -> AnyResult<Vec<(String, Tensor)>> {
    let bad = |e: candle_core::Error| {
        anyhow::anyhow!(
            "{}: not a readable PyTorch checkpoint ({}); expected a state dict saved with torch.save (zip format, PyTorch 1.6 or later) or a .safetensors file",
            path.display(),
            super::first_line(&e)
        )
    };
    for key in WRAPPER_KEYS {
        // A file without this wrapper key fails here; the next key, then the top level, is tried.
        if let Ok(t) = candle_core::pickle::read_all_with_key(path, Some(key)) {
            if !t.is_empty() {
                return Ok(t);
            }
        }
    }
    candle_core::pickle::read_all_with_key(path, None).map_err(bad)
}

/// A convolution without bias, as in every RobustBench architecture.
struct Conv {
    /// `(C_out, C_in, k, k)`.
    w: Tensor,
    stride: usize,
    pad: usize,
}

impl Conv {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        conv2d(x, &self.w, self.stride, self.pad)
    }
}

/// BatchNorm in inference, folded into a per-channel affine map.
struct Bn {
    /// `(C,)`: γ / √(running_var + ε).
    scale: Tensor,
    /// `(C,)`: β − running_mean · scale.
    shift: Tensor,
}

impl Bn {
    fn forward(&self, x: &Tensor, relu: bool) -> Result<Tensor> {
        channel_affine(x, &self.scale, &self.shift, relu)
    }
}

/// One residual block of the three families.
enum Block {
    /// `relu(bn1(x))` feeds both `conv1` and the shortcut convolution (when there is one).
    PreAct {
        bn1: Bn,
        conv1: Conv,
        bn2: Bn,
        conv2: Conv,
        shortcut: Option<Conv>,
    },
    /// `relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))`, the shortcut a convolution and a
    /// BatchNorm when the shape changes.
    Basic {
        conv1: Conv,
        bn1: Bn,
        conv2: Conv,
        bn2: Bn,
        shortcut: Option<(Conv, Bn)>,
    },
    /// WideResNet's pre-activation block; with a shortcut convolution, the activated input
    /// (not the raw one) is the residual's source.
    Wide {
        bn1: Bn,
        conv1: Conv,
        bn2: Bn,
        conv2: Conv,
        shortcut: Option<Conv>,
    },
}

impl Block {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self {
            Block::PreAct {
                bn1,
                conv1,
                bn2,
                conv2,
                shortcut,
            } => {
                let a = bn1.forward(x, true)?;
                let residual = match shortcut {
                    Some(s) => s.forward(&a)?,
                    None => x.clone(),
                };
                let h = bn2.forward(&conv1.forward(&a)?, true)?;
                conv2.forward(&h)? + residual
            }
            Block::Basic {
                conv1,
                bn1,
                conv2,
                bn2,
                shortcut,
            } => {
                let h = bn1.forward(&conv1.forward(x)?, true)?;
                let h = bn2.forward(&conv2.forward(&h)?, false)?;
                let residual = match shortcut {
                    Some((c, b)) => b.forward(&c.forward(x)?, false)?,
                    None => x.clone(),
                };
                (h + residual)?.relu()
            }
            Block::Wide {
                bn1,
                conv1,
                bn2,
                conv2,
                shortcut,
            } => {
                let a = bn1.forward(x, true)?;
                let h = bn2.forward(&conv1.forward(&a)?, true)?;
                let h = conv2.forward(&h)?;
                match shortcut {
                    Some(s) => s.forward(&a)? + h,
                    None => x + h,
                }
            }
        }
    }
}

/// A RobustBench architecture with a checkpoint's weights, in inference mode.
pub(crate) struct TorchNet {
    arch: TorchArch,
    stem: Conv,
    /// ResNet-18's BatchNorm after the stem.
    stem_bn: Option<Bn>,
    blocks: Vec<Block>,
    /// The pre-activation families' last BatchNorm (before the ReLU and the pooling).
    final_bn: Option<Bn>,
    /// `(K, C)`.
    fc_w: Tensor,
    /// `(K,)`.
    fc_b: Option<Tensor>,
    /// The average pooling's window before the classifier (4 for the ResNets, 8 for WRNs).
    pool: usize,
    parameters: usize,
}

/// The keys the architecture expects, with their shapes, in the order they are checked.
struct Expected {
    shapes: Vec<(String, Vec<usize>)>,
    /// Keys that may be absent (WideResNet's `fc.bias`, absent with `bias_last=False`).
    optional: Vec<String>,
}

impl Expected {
    fn conv(&mut self, name: &str, c_out: usize, c_in: usize, k: usize) {
        self.shapes
            .push((format!("{name}.weight"), vec![c_out, c_in, k, k]));
    }

    fn bn(&mut self, name: &str, c: usize) {
        for p in ["weight", "bias", "running_mean", "running_var"] {
            self.shapes.push((format!("{name}.{p}"), vec![c]));
        }
    }
}

/// Block `(prefix, in, out, stride)` of each stage.
fn stages(arch: TorchArch, base: usize) -> Vec<(String, usize, usize, usize)> {
    let mut out = Vec::new();
    match arch {
        TorchArch::PreActResNet18 | TorchArch::ResNet18 => {
            let mut c_in = base;
            for (i, (mult, stride)) in [(1, 1), (2, 2), (4, 2), (8, 2)].into_iter().enumerate() {
                let c = base * mult;
                for b in 0..2 {
                    let s = if b == 0 { stride } else { 1 };
                    out.push((format!("layer{}.{b}", i + 1), c_in, c, s));
                    c_in = c;
                }
            }
        }
        TorchArch::WideResNet { depth, widen } => {
            let n = (depth - 4) / 6;
            let mut c_in = 16;
            for (i, (c, stride)) in [(16 * widen, 1), (32 * widen, 2), (64 * widen, 2)]
                .into_iter()
                .enumerate()
            {
                for b in 0..n {
                    let s = if b == 0 { stride } else { 1 };
                    out.push((format!("block{}.layer.{b}", i + 1), c_in, c, s));
                    c_in = c;
                }
            }
        }
    }
    out
}

fn expected(arch: TorchArch, base: usize, classes: usize) -> Expected {
    let mut e = Expected {
        shapes: Vec::new(),
        optional: Vec::new(),
    };
    let blocks = stages(arch, base);
    let last = blocks.last().map(|b| b.2).unwrap_or(base);
    match arch {
        TorchArch::PreActResNet18 => {
            e.conv("conv1", base, 3, 3);
            for (p, c_in, c, s) in &blocks {
                e.bn(&format!("{p}.bn1"), *c_in);
                e.conv(&format!("{p}.conv1"), *c, *c_in, 3);
                e.bn(&format!("{p}.bn2"), *c);
                e.conv(&format!("{p}.conv2"), *c, *c, 3);
                if *s != 1 || c_in != c {
                    e.conv(&format!("{p}.shortcut.0"), *c, *c_in, 1);
                }
            }
            e.bn("bn", last);
            e.shapes.push(("linear.weight".into(), vec![classes, last]));
            e.shapes.push(("linear.bias".into(), vec![classes]));
        }
        TorchArch::ResNet18 => {
            e.conv("conv1", base, 3, 3);
            e.bn("bn1", base);
            for (p, c_in, c, s) in &blocks {
                e.conv(&format!("{p}.conv1"), *c, *c_in, 3);
                e.bn(&format!("{p}.bn1"), *c);
                e.conv(&format!("{p}.conv2"), *c, *c, 3);
                e.bn(&format!("{p}.bn2"), *c);
                if *s != 1 || c_in != c {
                    e.conv(&format!("{p}.shortcut.0"), *c, *c_in, 1);
                    e.bn(&format!("{p}.shortcut.1"), *c);
                }
            }
            e.shapes.push(("linear.weight".into(), vec![classes, last]));
            e.shapes.push(("linear.bias".into(), vec![classes]));
        }
        TorchArch::WideResNet { .. } => {
            e.conv("conv1", 16, 3, 3);
            for (p, c_in, c, _) in &blocks {
                e.bn(&format!("{p}.bn1"), *c_in);
                e.conv(&format!("{p}.conv1"), *c, *c_in, 3);
                e.bn(&format!("{p}.bn2"), *c);
                e.conv(&format!("{p}.conv2"), *c, *c, 3);
                if c_in != c {
                    e.conv(&format!("{p}.convShortcut"), *c, *c_in, 1);
                }
            }
            e.bn("bn1", last);
            e.shapes.push(("fc.weight".into(), vec![classes, last]));
            e.shapes.push(("fc.bias".into(), vec![classes]));
            e.optional.push("fc.bias".into());
        }
    }
    e
}

/// What [`check_keys`] learns from a state dict that matches its architecture.
struct CheckedKeys {
    /// The first stage's width (16 for WideResNets).
    base: usize,
    /// Trainable parameters (running statistics excluded).
    parameters: usize,
    /// A WideResNet's `fc.bias`, which its definition makes optional, is expected.
    optional_fc_bias: bool,
}

/// Checks that `sd` holds every key `arch` needs with its shape and no other key (apart from
/// [`ignored`] ones), reading the widths and class count from the stem and the classifier.
fn check_keys(arch: TorchArch, sd: &BTreeMap<String, Tensor>) -> AnyResult<CheckedKeys> {
    let fc = match arch {
        TorchArch::WideResNet { .. } => "fc.weight",
        _ => "linear.weight",
    };
    let dims = |key: &str| -> AnyResult<Vec<usize>> {
        match sd.get(key) {
            Some(t) => Ok(t.dims().to_vec()),
            None => {
                let some: Vec<&str> = sd.keys().take(4).map(String::as_str).collect();
                bail!(
                    "it has no `{key}` (its keys begin {}); is this the right architecture?",
                    some.join(", ")
                )
            }
        }
    };
    let base = match arch {
        TorchArch::WideResNet { .. } => 16,
        _ => {
            let d = dims("conv1.weight")?;
            if d.len() != 4 || d[0] == 0 {
                bail!("`conv1.weight` has shape {d:?}; expected (width, 3, 3, 3)");
            }
            d[0]
        }
    };
    let fc_dims = dims(fc)?;
    if fc_dims.len() != 2 || fc_dims[0] < 2 {
        bail!("`{fc}` has shape {fc_dims:?}; expected (classes, features) with at least 2 classes");
    }
    let classes = fc_dims[0];
    let want = expected(arch, base, classes);
    for (key, shape) in &want.shapes {
        match sd.get(key) {
            Some(t) if t.dims() == shape.as_slice() => {}
            Some(t) => bail!(
                "`{key}` has shape {:?}; {arch} with these widths expects {shape:?}",
                t.dims()
            ),
            None if want.optional.contains(key) => {}
            None => bail!("it has no `{key}` (shape {shape:?}), which {arch} needs"),
        }
    }
    let unexpected: Vec<&String> = sd
        .keys()
        .filter(|k| !ignored(arch, k) && !want.shapes.iter().any(|(w, _)| w == *k))
        .collect();
    if !unexpected.is_empty() {
        let shown: Vec<&str> = unexpected.iter().take(5).map(|s| s.as_str()).collect();
        bail!(
            "{} key(s) that {arch} does not have: {}{}",
            unexpected.len(),
            shown.join(", "),
            if unexpected.len() > 5 { ", ..." } else { "" }
        );
    }
    let parameters = want
        .shapes
        .iter()
        .filter(|(k, _)| !k.ends_with("running_mean") && !k.ends_with("running_var"))
        .filter_map(|(k, _)| sd.get(k).map(|t| t.elem_count()))
        .sum();
    Ok(CheckedKeys {
        base,
        parameters,
        optional_fc_bias: want.optional.iter().any(|k| k == "fc.bias"),
    })
}

/// Takes the checked state dict's tensors apart into layers, in f32 on the target device.
struct Taker<'a> {
    sd: BTreeMap<String, Tensor>,
    device: &'a Device,
}

impl Taker<'_> {
    /// The tensor `key`.
    fn take(&mut self, key: &str) -> AnyResult<Tensor> {
        let t = self
            .sd
            .remove(key)
            .with_context(|| format!("it has no `{key}`"))?;
        Ok(t.to_dtype(DType::F32)?.to_device(self.device)?)
    }

    /// The bias-free convolution `name` with `stride`, padded to keep odd kernels centred.
    fn conv(&mut self, name: &str, stride: usize) -> AnyResult<Conv> {
        let w = self.take(&format!("{name}.weight"))?;
        let pad = w.dim(2)? / 2;
        Ok(Conv { w, stride, pad })
    }

    /// The BatchNorm `name`, folded into its inference-mode scale and shift.
    fn bn(&mut self, name: &str) -> AnyResult<Bn> {
        let g = self.take(&format!("{name}.weight"))?;
        let b = self.take(&format!("{name}.bias"))?;
        let m = self.take(&format!("{name}.running_mean"))?;
        let v = self.take(&format!("{name}.running_var"))?;
        let scale = (g / (v + BN_EPS)?.sqrt()?)?;
        let shift = (b - (m * &scale)?)?;
        Ok(Bn { scale, shift })
    }

    /// The residual block at prefix `p` with stride `s`; `widens` when its input and output
    /// widths differ.
    fn block(&mut self, arch: TorchArch, p: &str, widens: bool, s: usize) -> AnyResult<Block> {
        Ok(match arch {
            TorchArch::PreActResNet18 => Block::PreAct {
                bn1: self.bn(&format!("{p}.bn1"))?,
                conv1: self.conv(&format!("{p}.conv1"), s)?,
                bn2: self.bn(&format!("{p}.bn2"))?,
                conv2: self.conv(&format!("{p}.conv2"), 1)?,
                shortcut: if s != 1 || widens {
                    Some(self.conv(&format!("{p}.shortcut.0"), s)?)
                } else {
                    None
                },
            },
            TorchArch::ResNet18 => Block::Basic {
                conv1: self.conv(&format!("{p}.conv1"), s)?,
                bn1: self.bn(&format!("{p}.bn1"))?,
                conv2: self.conv(&format!("{p}.conv2"), 1)?,
                bn2: self.bn(&format!("{p}.bn2"))?,
                shortcut: if s != 1 || widens {
                    Some((
                        self.conv(&format!("{p}.shortcut.0"), s)?,
                        self.bn(&format!("{p}.shortcut.1"))?,
                    ))
                } else {
                    None
                },
            },
            TorchArch::WideResNet { .. } => Block::Wide {
                bn1: self.bn(&format!("{p}.bn1"))?,
                conv1: self.conv(&format!("{p}.conv1"), s)?,
                bn2: self.bn(&format!("{p}.bn2"))?,
                conv2: self.conv(&format!("{p}.conv2"), 1)?,
                shortcut: if widens {
                    Some(self.conv(&format!("{p}.convShortcut"), s)?)
                } else {
                    None
                },
            },
        })
    }
}

/// Whether a key of the file is not a parameter the forward pass reads: BatchNorm's
/// `num_batches_tracked` counters, and TRADES-style WideResNets' `sub_block1`, which their
/// forward pass never calls (RobustBench builds those models with `sub_block1=True` only to
/// accept the key).
fn ignored(arch: TorchArch, key: &str) -> bool {
    key.ends_with(".num_batches_tracked")
        || (matches!(arch, TorchArch::WideResNet { .. }) && key.starts_with("sub_block1."))
}

impl TorchNet {
    /// Builds `arch` from the state dict of `path` ([`read_state_dict`]) on `device`, in f32.
    /// Every key the architecture needs must be there with its shape, and no other key may be.
    pub(crate) fn load(arch: TorchArch, path: &Path, device: &Device) -> AnyResult<TorchNet> {
        let sd = read_state_dict(path)?;
        Self::from_state_dict(arch, sd, device)
            .with_context(|| format!("{}: not a {arch} state dict", path.display()))
    }

    fn from_state_dict(
        arch: TorchArch,
        sd: BTreeMap<String, Tensor>,
        device: &Device,
    ) -> AnyResult<TorchNet> {
        let checked = check_keys(arch, &sd)?;
        let mut t = Taker { sd, device };
        let stem = t.conv("conv1", 1)?;
        let stem_bn = match arch {
            TorchArch::ResNet18 => Some(t.bn("bn1")?),
            _ => None,
        };
        let blocks = stages(arch, checked.base)
            .into_iter()
            .map(|(p, c_in, c, s)| t.block(arch, &p, c_in != c, s))
            .collect::<AnyResult<Vec<Block>>>()?;
        let (final_bn, fc_w, fc_b, pool) = match arch {
            TorchArch::PreActResNet18 => (
                Some(t.bn("bn")?),
                t.take("linear.weight")?,
                Some(t.take("linear.bias")?),
                4,
            ),
            TorchArch::ResNet18 => (
                None,
                t.take("linear.weight")?,
                Some(t.take("linear.bias")?),
                4,
            ),
            TorchArch::WideResNet { .. } => {
                let fc_b = if checked.optional_fc_bias {
                    t.take("fc.bias").ok()
                } else {
                    None
                };
                (Some(t.bn("bn1")?), t.take("fc.weight")?, fc_b, 8)
            }
        };
        Ok(TorchNet {
            arch,
            stem,
            stem_bn,
            blocks,
            final_bn,
            fc_w,
            fc_b,
            pool,
            parameters: checked.parameters,
        })
    }

    /// The architecture.
    pub(crate) fn arch(&self) -> TorchArch {
        self.arch
    }

    /// Parameters (convolution, BatchNorm affine and linear weights; not the running statistics).
    pub(crate) fn num_parameters(&self) -> usize {
        self.parameters
    }

    /// The image size the classifier's input fits: the average pooling must leave 1×1, as in
    /// the architectures' `avg_pool2d(out, 4)` (8 for WRNs) on 32×32 images.
    pub(crate) fn image_size(&self) -> usize {
        32
    }

    /// Logits.
    ///
    /// # Shapes
    /// `x`: `(N, 3, 32, 32)` → `(N, K)`.
    pub(crate) fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut h = self.stem.forward(x)?;
        if let Some(bn) = &self.stem_bn {
            h = bn.forward(&h, true)?;
        }
        for b in &self.blocks {
            h = b.forward(&h)?;
        }
        if let Some(bn) = &self.final_bn {
            h = bn.forward(&h, true)?;
        }
        let h = super::ops::avg_pool(&h, self.pool)?.flatten_from(1)?;
        let y = h.matmul(&self.fc_w.t()?)?;
        match &self.fc_b {
            Some(b) => y.broadcast_add(b),
            None => Ok(y),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn architecture_names_parse_and_print_back() {
        for s in [
            "preact-resnet18",
            "resnet18",
            "wrn-28-10",
            "wrn-34-10",
            "wrn-28-1",
        ] {
            assert_eq!(TorchArch::parse(s).unwrap().to_string(), s);
        }
        for s in ["resnet50", "wrn-27-10", "wrn-28-0", "wrn-28", ""] {
            assert!(TorchArch::parse(s).is_err(), "{s}");
        }
    }

    /// Oracle: PyTorch's `sum(p.numel() for p in model.parameters())` for the full-width models
    /// of tests/fixtures/external/make_fixtures.py (RobustBench's definitions), torch 2.15:
    /// ResNet-18 11,173,962; PreActResNet-18 11,172,170; WRN-28-10 36,479,194; WRN-34-10
    /// 46,160,474.
    #[test]
    fn full_width_parameter_counts_match_pytorch() {
        let count = |arch: TorchArch, base: usize| -> usize {
            let e = expected(arch, base, 10);
            e.shapes
                .iter()
                .filter(|(k, _)| !k.ends_with("running_mean") && !k.ends_with("running_var"))
                .map(|(_, s)| s.iter().product::<usize>())
                .sum()
        };
        assert_eq!(count(TorchArch::ResNet18, 64), 11_173_962);
        assert_eq!(count(TorchArch::PreActResNet18, 64), 11_172_170);
        assert_eq!(
            count(
                TorchArch::WideResNet {
                    depth: 28,
                    widen: 10
                },
                16
            ),
            36_479_194
        );
        assert_eq!(
            count(
                TorchArch::WideResNet {
                    depth: 34,
                    widen: 10
                },
                16
            ),
            46_160_474
        );
    }
}
