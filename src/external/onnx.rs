//! ONNX classifiers: the graph is parsed with `candle-onnx`'s protobuf types and evaluated by a
//! small interpreter of its own, whose every operator is a differentiable candle operation (or a
//! dcrobust kernel), so attacks get input gradients.
//!
//! The interpreter covers what PyTorch's exporter writes for CIFAR-style CNNs and ResNets:
//! [`FLOAT_OPS`] on images and features, [`SHAPE_OPS`] on the integer shapes that `view` and
//! `flatten` export. A graph with any other operator is refused when it is loaded, naming the
//! operator and its node, so an attack never runs on a graph whose gradient is unknown.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{bail, Context, Result as AnyResult};
use candle_core::{Device, Result, Tensor};
use candle_onnx::onnx;

use crate::kernels::conv::conv2d;
use crate::kernels::fused::channel_affine;

/// Operators on floating-point tensors that the interpreter evaluates and differentiates.
const FLOAT_OPS: [&str; 19] = [
    "Add",
    "AveragePool",
    "BatchNormalization",
    "Concat",
    "Constant",
    "Conv",
    "Div",
    "Dropout",
    "Flatten",
    "Gemm",
    "GlobalAveragePool",
    "Identity",
    "MatMul",
    "MaxPool",
    "Mul",
    "Relu",
    "Reshape",
    "Sub",
    "Squeeze",
];

/// Operators on integer shape vectors (no gradient flows through them).
const SHAPE_OPS: [&str; 4] = ["Shape", "Gather", "Unsqueeze", "Cast"];

/// A value of the graph: a floating-point tensor on the model's device, or a small integer
/// tensor (a shape or an index, rank 0 or 1) on the host.
#[derive(Clone, Debug)]
enum Value {
    F(Tensor),
    I { v: Vec<i64>, scalar: bool },
}

/// An ONNX classifier, loaded and checked.
pub(crate) struct OnnxNet {
    nodes: Vec<onnx::NodeProto>,
    constants: HashMap<String, Value>,
    input: String,
    output: String,
    /// `(C, H, W)` of the input, where the graph fixes them.
    input_dims: [Option<usize>; 3],
    parameters: usize,
    device: Device,
    /// The model file's folder, where external data lies.
    dir: std::path::PathBuf,
}

/// The bytes of a tensor stored outside the model file (ONNX's external data, which PyTorch's
/// `dynamo=True` exporter writes to `MODEL.onnx.data`): `location` relative to the model's
/// folder, inside it, and the `offset` and `length` there.
fn external_bytes(t: &onnx::TensorProto, dir: &Path) -> AnyResult<Vec<u8>> {
    let entry = |key: &str| {
        t.external_data
            .iter()
            .find(|e| e.key == key)
            .map(|e| e.value.as_str())
    };
    let location = entry("location").with_context(|| {
        format!(
            "tensor `{}` is stored externally without a location",
            t.name
        )
    })?;
    let rel = Path::new(location);
    if rel.is_absolute()
        || rel
            .components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)))
    {
        bail!(
            "tensor `{}`: external data location `{location}` leaves the model's folder",
            t.name
        );
    }
    let parse = |key: &str| -> AnyResult<Option<u64>> {
        entry(key)
            .map(|v| {
                v.parse::<u64>()
                    .with_context(|| format!("tensor `{}`: {key} `{v}`", t.name))
            })
            .transpose()
    };
    let path = dir.join(rel);
    let bytes = std::fs::read(&path).with_context(|| {
        format!(
            "tensor `{}`: cannot read its external data {}",
            t.name,
            path.display()
        )
    })?;
    let offset = parse("offset")?.unwrap_or(0) as usize;
    let length = parse("length")?.map(|l| l as usize);
    let end = length.map_or(bytes.len(), |l| offset.saturating_add(l));
    if offset > bytes.len() || end > bytes.len() {
        bail!(
            "tensor `{}`: bytes {offset}..{end} of {}, which has {} (truncated?)",
            t.name,
            path.display(),
            bytes.len()
        );
    }
    Ok(bytes[offset..end].to_vec())
}

/// The `TensorProto` element types the interpreter reads; `dir` is the model's folder, where
/// external data lies.
fn tensor_of(t: &onnx::TensorProto, device: &Device, dir: &Path) -> AnyResult<Value> {
    let dims: Vec<usize> = t
        .dims
        .iter()
        .map(|&d| usize::try_from(d).context("a negative dimension"))
        .collect::<AnyResult<_>>()?;
    let n: usize = dims.iter().product();
    // ONNX's DataLocation: 0 DEFAULT (in the file), 1 EXTERNAL.
    let external;
    let raw = if t.data_location == 1 {
        external = external_bytes(t, dir)?;
        &external
    } else {
        &t.raw_data
    };
    let from_raw = |width: usize| -> AnyResult<&[u8]> {
        if raw.len() != n * width {
            bail!(
                "tensor `{}` holds {} bytes for {n} values of {width} bytes (a truncated file?)",
                t.name,
                raw.len()
            );
        }
        Ok(raw)
    };
    let floats: Vec<f32> = match t.data_type {
        // FLOAT
        1 => {
            if !t.float_data.is_empty() {
                t.float_data.clone()
            } else {
                from_raw(4)?
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect()
            }
        }
        // DOUBLE
        11 => {
            if !t.double_data.is_empty() {
                t.double_data.iter().map(|&v| v as f32).collect()
            } else {
                from_raw(8)?
                    .chunks_exact(8)
                    .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")) as f32)
                    .collect()
            }
        }
        // FLOAT16
        10 => from_raw(2)?
            .chunks_exact(2)
            .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        // INT64, INT32
        7 | 6 => {
            let v: Vec<i64> = if t.data_type == 7 && !t.int64_data.is_empty() {
                t.int64_data.clone()
            } else if t.data_type == 6 && !t.int32_data.is_empty() {
                t.int32_data.iter().map(|&v| v as i64).collect()
            } else if t.data_type == 7 {
                from_raw(8)?
                    .chunks_exact(8)
                    .map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")))
                    .collect()
            } else {
                from_raw(4)?
                    .chunks_exact(4)
                    .map(|b| i32::from_le_bytes(b.try_into().expect("4 bytes")) as i64)
                    .collect()
            };
            if v.len() != n || dims.len() > 1 {
                bail!(
                    "integer tensor `{}` of shape {dims:?}: only integer scalars and vectors (shapes, indices) are supported",
                    t.name
                );
            }
            return Ok(Value::I {
                v,
                scalar: dims.is_empty(),
            });
        }
        other => bail!(
            "tensor `{}` has ONNX element type {other}; expected float, double, float16, int32 or int64",
            t.name
        ),
    };
    if floats.len() != n {
        bail!(
            "tensor `{}` holds {} values for shape {dims:?}",
            t.name,
            floats.len()
        );
    }
    Ok(Value::F(
        Tensor::from_vec(floats, dims.as_slice(), &Device::Cpu)?.to_device(device)?,
    ))
}

fn attr<'a>(node: &'a onnx::NodeProto, name: &str) -> Option<&'a onnx::AttributeProto> {
    node.attribute.iter().find(|a| a.name == name)
}

fn attr_i(node: &onnx::NodeProto, name: &str, default: i64) -> i64 {
    attr(node, name).map(|a| a.i).unwrap_or(default)
}

fn attr_f(node: &onnx::NodeProto, name: &str, default: f32) -> f32 {
    attr(node, name).map(|a| a.f).unwrap_or(default)
}

fn attr_ints(node: &onnx::NodeProto, name: &str) -> Option<Vec<i64>> {
    attr(node, name).map(|a| a.ints.clone())
}

/// The node's name for messages: its name, else its op and first output.
fn node_label(node: &onnx::NodeProto) -> String {
    if node.name.is_empty() {
        format!(
            "{} -> {}",
            node.op_type,
            node.output.first().map(String::as_str).unwrap_or("?")
        )
    } else {
        format!("{} ({})", node.name, node.op_type)
    }
}

/// Checks a pooling or convolution node's window attributes: one square size `k`, stride `s`,
/// symmetric padding `p`, no dilation. Returns `(k, s, p)`.
fn window(node: &onnx::NodeProto, k_default: Option<usize>) -> AnyResult<(usize, usize, usize)> {
    let label = node_label(node);
    let uniform = |name: &str, v: Option<Vec<i64>>, default: i64| -> AnyResult<usize> {
        let v = v.unwrap_or_default();
        let first = v.first().copied().unwrap_or(default);
        if v.iter().any(|&x| x != first) || first < 0 {
            bail!("node {label}: {name} {v:?}; dcrobust evaluates square windows with equal strides and padding on every side");
        }
        Ok(first as usize)
    };
    let k = match (attr_ints(node, "kernel_shape"), k_default) {
        (Some(k), _) => uniform("kernel_shape", Some(k), 0)?,
        (None, Some(k)) => k,
        (None, None) => bail!("node {label}: no kernel_shape"),
    };
    let s = uniform("strides", attr_ints(node, "strides"), 1)?;
    let p = uniform("pads", attr_ints(node, "pads"), 0)?;
    let d = uniform("dilations", attr_ints(node, "dilations"), 1)?;
    if d != 1 {
        bail!("node {label}: dilation {d}; dcrobust evaluates undilated windows");
    }
    if let Some(a) = attr(node, "auto_pad") {
        let mode = String::from_utf8_lossy(&a.s);
        if mode != "NOTSET" && !mode.is_empty() {
            bail!("node {label}: auto_pad {mode}; dcrobust evaluates explicit padding (NOTSET)");
        }
    }
    Ok((k, s, p))
}

impl OnnxNet {
    /// Reads and checks the graph of `path`: one image input of rank 4, one output, and only
    /// operators of [`FLOAT_OPS`] and [`SHAPE_OPS`] (the first other one is named). Weights are
    /// put on `device` in f32.
    pub(crate) fn load(path: &Path, device: &Device) -> AnyResult<OnnxNet> {
        std::fs::metadata(path)
            .with_context(|| format!("{}: cannot read the ONNX file", path.display()))?;
        let model = candle_onnx::read_file(path).map_err(|e| {
            anyhow::anyhow!(
                "{}: not an ONNX model ({}); expected a file written by torch.onnx.export or onnx.save (truncated?)",
                path.display(),
                super::first_line(&e)
            )
        })?;
        let dir = path.parent().unwrap_or(Path::new("."));
        Self::from_model(model, device, dir).with_context(|| path.display().to_string())
    }

    fn from_model(model: onnx::ModelProto, device: &Device, dir: &Path) -> AnyResult<OnnxNet> {
        let Some(graph) = model.graph else {
            bail!("the ONNX model has no graph (a truncated or empty file?)");
        };
        for node in &graph.node {
            let op = node.op_type.as_str();
            if !node.domain.is_empty() && node.domain != "ai.onnx" {
                bail!(
                    "node {} is from the operator domain `{}`; dcrobust evaluates the standard ONNX operators",
                    node_label(node),
                    node.domain
                );
            }
            if !FLOAT_OPS.contains(&op) && !SHAPE_OPS.contains(&op) {
                bail!(
                    "node {} is a {op}, an operator dcrobust cannot differentiate; it evaluates graphs of {} (and {} on shapes)",
                    node_label(node),
                    FLOAT_OPS.join(", "),
                    SHAPE_OPS.join(", ")
                );
            }
        }
        let mut constants = HashMap::new();
        let mut parameters = 0;
        for t in &graph.initializer {
            let v =
                tensor_of(t, device, dir).with_context(|| format!("initializer `{}`", t.name))?;
            if let Value::F(f) = &v {
                parameters += f.elem_count();
            }
            constants.insert(t.name.clone(), v);
        }
        let inputs: Vec<&onnx::ValueInfoProto> = graph
            .input
            .iter()
            .filter(|i| !constants.contains_key(&i.name))
            .collect();
        let [input] = inputs.as_slice() else {
            let names: Vec<&str> = inputs.iter().map(|i| i.name.as_str()).collect();
            bail!(
                "the graph has {} inputs ({}); expected one, the images",
                names.len(),
                names.join(", ")
            );
        };
        let Some(onnx::type_proto::Value::TensorType(tt)) =
            input.r#type.as_ref().and_then(|t| t.value.as_ref())
        else {
            bail!("input `{}` is not a tensor", input.name);
        };
        if ![1, 10, 11].contains(&tt.elem_type) {
            bail!(
                "input `{}` has ONNX element type {}; expected floating-point images",
                input.name,
                tt.elem_type
            );
        }
        let dims: Vec<Option<usize>> = tt
            .shape
            .as_ref()
            .map(|s| {
                s.dim
                    .iter()
                    .map(|d| match d.value {
                        Some(onnx::tensor_shape_proto::dimension::Value::DimValue(v)) if v > 0 => {
                            Some(v as usize)
                        }
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        if dims.len() != 4 {
            bail!(
                "input `{}` has rank {}; expected images of shape (N, C, H, W)",
                input.name,
                dims.len()
            );
        }
        let [output] = graph.output.as_slice() else {
            bail!(
                "the graph has {} outputs; expected one, the logits",
                graph.output.len()
            );
        };
        Ok(OnnxNet {
            nodes: graph.node,
            constants,
            input: input.name.clone(),
            output: output.name.clone(),
            input_dims: [dims[1], dims[2], dims[3]],
            parameters,
            device: device.clone(),
            dir: dir.to_path_buf(),
        })
    }

    /// `(C, H, W)` of the input where the graph fixes them (`None`: any).
    pub(crate) fn input_dims(&self) -> [Option<usize>; 3] {
        self.input_dims
    }

    /// Elements of the graph's floating-point initializers (weights and buffers).
    pub(crate) fn num_parameters(&self) -> usize {
        self.parameters
    }

    /// Evaluates the graph on `x`.
    ///
    /// # Shapes
    /// `x`: `(N, C, H, W)` → the graph's output, `(N, K)` for a classifier.
    pub(crate) fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut values: HashMap<&str, Value> = HashMap::new();
        values.insert(self.input.as_str(), Value::F(x.clone()));
        for node in &self.nodes {
            let outs = self.eval(node, &values).map_err(|e| {
                candle_core::Error::Msg(format!("ONNX node {}: {e}", node_label(node)))
            })?;
            for (name, v) in node.output.iter().zip(outs) {
                values.insert(name.as_str(), v);
            }
        }
        match values.remove(self.output.as_str()) {
            Some(Value::F(t)) => Ok(t),
            Some(Value::I { .. }) => candle_core::bail!("the graph's output is an integer tensor"),
            None => candle_core::bail!("no node computes the graph's output `{}`", self.output),
        }
    }

    /// The outputs of `node` given the values computed so far: one function per operator.
    fn eval(&self, node: &onnx::NodeProto, values: &HashMap<&str, Value>) -> AnyResult<Vec<Value>> {
        let x = Inputs {
            node,
            values,
            constants: &self.constants,
        };
        let f = Value::F;
        let out = match node.op_type.as_str() {
            "Identity" | "Dropout" => x.get(0)?,
            "Relu" => f(x.float(0)?.relu()?),
            "Add" => f(x.float(0)?.broadcast_add(&x.float(1)?)?),
            "Sub" => f(x.float(0)?.broadcast_sub(&x.float(1)?)?),
            "Mul" => f(x.float(0)?.broadcast_mul(&x.float(1)?)?),
            "Div" => f(x.float(0)?.broadcast_div(&x.float(1)?)?),
            "MatMul" => f(x.float(0)?.broadcast_matmul(&x.float(1)?)?),
            "GlobalAveragePool" => f(x.float(0)?.mean_keepdim(3)?.mean_keepdim(2)?),
            "Constant" => self.constant(node)?,
            "Conv" => f(conv(&x)?),
            "BatchNormalization" => f(batch_norm(&x)?),
            "MaxPool" | "AveragePool" => f(pool(&x)?),
            "Flatten" => f(flatten(&x)?),
            "Reshape" => f(reshape(&x)?),
            "Gemm" => f(gemm(&x)?),
            "Concat" => concat(&x)?,
            "Squeeze" => f(squeeze(&x)?),
            "Shape" => shape(&x)?,
            "Gather" => gather(&x)?,
            "Unsqueeze" => unsqueeze(&x)?,
            "Cast" => match x.get(0)? {
                Value::I { v, scalar } => Value::I { v, scalar },
                Value::F(_) => bail!("Cast of float tensors is not supported"),
            },
            op => bail!("operator {op} is not supported"),
        };
        Ok(vec![out])
    }

    /// A `Constant` node's value.
    fn constant(&self, node: &onnx::NodeProto) -> AnyResult<Value> {
        let a = node
            .attribute
            .first()
            .context("a Constant without a value")?;
        Ok(match a.name.as_str() {
            "value" => tensor_of(a.t.as_ref().context("no tensor")?, &self.device, &self.dir)?,
            "value_float" => Value::F(Tensor::new(a.f, &self.device)?),
            "value_floats" => Value::F(Tensor::new(a.floats.as_slice(), &self.device)?),
            "value_int" => Value::I {
                v: vec![a.i],
                scalar: true,
            },
            "value_ints" => Value::I {
                v: a.ints.clone(),
                scalar: false,
            },
            other => bail!("a Constant given by `{other}`"),
        })
    }
}

/// A node's inputs, looked up among the values computed so far and the graph's constants.
struct Inputs<'a> {
    node: &'a onnx::NodeProto,
    values: &'a HashMap<&'a str, Value>,
    constants: &'a HashMap<String, Value>,
}

impl Inputs<'_> {
    /// Input `i`.
    fn get(&self, i: usize) -> AnyResult<Value> {
        let name = self
            .node
            .input
            .get(i)
            .filter(|n| !n.is_empty())
            .with_context(|| format!("input {i} is missing"))?;
        self.values
            .get(name.as_str())
            .or_else(|| self.constants.get(name))
            .cloned()
            .with_context(|| format!("no value named `{name}`"))
    }

    /// Whether the optional input `i` is given.
    fn has(&self, i: usize) -> bool {
        self.node.input.get(i).is_some_and(|n| !n.is_empty())
    }

    /// Input `i`, a float tensor.
    fn float(&self, i: usize) -> AnyResult<Tensor> {
        match self.get(i)? {
            Value::F(t) => Ok(t),
            Value::I { .. } => bail!("input {i} is an integer tensor; expected floats"),
        }
    }

    /// Input `i`, integers (a shape or indices) and whether they are a scalar.
    fn ints(&self, i: usize) -> AnyResult<(Vec<i64>, bool)> {
        match self.get(i)? {
            Value::I { v, scalar } => Ok((v, scalar)),
            Value::F(_) => bail!("input {i} is a float tensor; expected integers"),
        }
    }

    /// The `axes` of Squeeze and Unsqueeze: input 1 (opset 13 on) or the attribute.
    fn axes(&self) -> AnyResult<Vec<i64>> {
        Ok(if self.has(1) {
            self.ints(1)?.0
        } else {
            attr_ints(self.node, "axes").unwrap_or_default()
        })
    }
}

/// ONNX axis `a` (negative counts from the end) of a rank-`rank` tensor.
fn axis(a: i64, rank: usize) -> AnyResult<usize> {
    let r = rank as i64;
    if a < -r || a >= r {
        bail!("axis {a} is outside rank {rank}");
    }
    Ok(((a + r) % r) as usize)
}

/// `Conv`: a 2-D convolution, group 1, square kernel.
///
/// # Shapes
/// `(N, C, H, W)` by `(K, C, k, k)` (bias `(K,)`) gives `(N, K, H', W')`.
fn conv(x: &Inputs) -> AnyResult<Tensor> {
    let node = x.node;
    let group = attr_i(node, "group", 1);
    if group != 1 {
        bail!("group {group}; dcrobust evaluates Conv with group 1");
    }
    let w = x.float(1)?;
    let (k, s, p) = window(node, Some(w.dim(2)?))?;
    if w.rank() != 4 || w.dim(2)? != k || w.dim(3)? != k {
        bail!(
            "weight of shape {:?}; dcrobust evaluates 2-D convolutions with square kernels",
            w.dims()
        );
    }
    let y = conv2d(&x.float(0)?, &w, s, p)?;
    Ok(if x.has(2) {
        y.broadcast_add(&x.float(2)?.reshape((1, (), 1, 1))?)?
    } else {
        y
    })
}

/// `BatchNormalization` in inference mode: a per-channel affine map of `(N, C, H, W)`.
fn batch_norm(x: &Inputs) -> AnyResult<Tensor> {
    if attr_i(x.node, "training_mode", 0) != 0 {
        bail!("training_mode 1; export the model in eval mode");
    }
    let eps = attr_f(x.node, "epsilon", 1e-5) as f64;
    let (g, b, m, v) = (x.float(1)?, x.float(2)?, x.float(3)?, x.float(4)?);
    let scale = (g / (v + eps)?.sqrt()?)?;
    let shift = (b - (m * &scale)?)?;
    Ok(channel_affine(&x.float(0)?, &scale, &shift, false)?)
}

/// `MaxPool` and `AveragePool` with a stride equal to the window, unpadded, floor mode.
///
/// # Shapes
/// `(N, C, H, W)` gives `(N, C, H / k, W / k)`.
fn pool(x: &Inputs) -> AnyResult<Tensor> {
    let node = x.node;
    let (k, s, p) = window(node, None)?;
    if attr_i(node, "ceil_mode", 0) != 0 {
        bail!("ceil_mode 1; dcrobust evaluates floor mode");
    }
    if k != s || p != 0 {
        bail!("a {k}x{k} window with stride {s} and padding {p}; dcrobust evaluates pooling whose stride equals its window, unpadded");
    }
    if attr_ints(node, "storage_order").is_some_and(|o| o.iter().any(|&x| x != 0)) {
        bail!("storage_order 1 is not supported");
    }
    let input = x.float(0)?;
    if node.op_type == "MaxPool" {
        if node.output.len() > 1 && !node.output[1].is_empty() {
            bail!("MaxPool's indices output is not supported");
        }
        Ok(super::ops::max_pool(&input, k)?)
    } else {
        Ok(super::ops::avg_pool(&input, k)?)
    }
}

/// `Flatten`: the dimensions before `axis` into the first, the rest into the second.
fn flatten(x: &Inputs) -> AnyResult<Tensor> {
    let input = x.float(0)?;
    let a = axis(attr_i(x.node, "axis", 1), input.rank() + 1)?;
    let lead: usize = input.dims()[..a].iter().product();
    Ok(input.reshape((lead, ()))?)
}

/// `Reshape` to the shape of input 1 (0 copies the input's dimension, -1 is inferred).
fn reshape(x: &Inputs) -> AnyResult<Tensor> {
    let input = x.float(0)?;
    let (shape, _) = x.ints(1)?;
    if attr_i(x.node, "allowzero", 0) != 0 && shape.contains(&0) {
        bail!("a shape with a 0 dimension (allowzero 1)");
    }
    let mut dims = Vec::with_capacity(shape.len());
    let mut infer = None;
    for (i, &d) in shape.iter().enumerate() {
        match d {
            0 => dims.push(*input.dims().get(i).context("0 past the input's rank")?),
            -1 if infer.is_none() => {
                infer = Some(i);
                dims.push(1);
            }
            d if d > 0 => dims.push(d as usize),
            d => bail!("shape entry {d}"),
        }
    }
    if let Some(i) = infer {
        let known: usize = dims.iter().product();
        if known == 0 || input.elem_count() % known != 0 {
            bail!("cannot reshape {:?} to {shape:?}", input.dims());
        }
        dims[i] = input.elem_count() / known;
    }
    Ok(input.reshape(dims.as_slice())?)
}

/// `Gemm`: α·op(A)·op(B) + β·C.
///
/// # Shapes
/// `(M, K)` by `(K, N)` (after the transposes) gives `(M, N)`; C broadcasts to it.
fn gemm(x: &Inputs) -> AnyResult<Tensor> {
    let node = x.node;
    let (a, b) = (x.float(0)?, x.float(1)?);
    let a = if attr_i(node, "transA", 0) != 0 {
        a.t()?
    } else {
        a
    };
    let b = if attr_i(node, "transB", 0) != 0 {
        b.t()?
    } else {
        b
    };
    let y = (a.matmul(&b)? * attr_f(node, "alpha", 1.0) as f64)?;
    Ok(if x.has(2) {
        let c = (x.float(2)? * attr_f(node, "beta", 1.0) as f64)?;
        y.broadcast_add(&c)?
    } else {
        y
    })
}

/// `Concat` of float tensors along `axis`, or of integer shapes being built.
fn concat(x: &Inputs) -> AnyResult<Value> {
    let parts: Vec<Value> = (0..x.node.input.len())
        .map(|i| x.get(i))
        .collect::<AnyResult<_>>()?;
    match parts.first() {
        Some(Value::I { .. }) => {
            let mut v = Vec::new();
            for p in &parts {
                match p {
                    Value::I { v: ints, .. } => v.extend(ints),
                    Value::F(_) => bail!("mixes integer and float inputs"),
                }
            }
            Ok(Value::I { v, scalar: false })
        }
        Some(Value::F(t)) => {
            let a = axis(attr_i(x.node, "axis", 0), t.rank())?;
            let ts: Vec<Tensor> = parts
                .into_iter()
                .map(|p| match p {
                    Value::F(t) => Ok(t),
                    Value::I { .. } => bail!("mixes integer and float inputs"),
                })
                .collect::<AnyResult<_>>()?;
            Ok(Value::F(Tensor::cat(&ts, a)?))
        }
        None => bail!("no inputs"),
    }
}

/// `Squeeze`: drops the given size-1 axes (all of them when none is given).
fn squeeze(x: &Inputs) -> AnyResult<Tensor> {
    let input = x.float(0)?;
    let ax: Vec<usize> = x
        .axes()?
        .iter()
        .map(|&a| axis(a, input.rank()))
        .collect::<AnyResult<_>>()?;
    let mut keep: Vec<usize> = Vec::new();
    for (i, &d) in input.dims().iter().enumerate() {
        let squeeze = if ax.is_empty() {
            d == 1
        } else {
            ax.contains(&i)
        };
        if squeeze && d != 1 {
            bail!("axis {i} has size {d}, not 1");
        }
        if !squeeze {
            keep.push(d);
        }
    }
    Ok(input.reshape(keep.as_slice())?)
}

/// `Shape`: the input's dimensions as integers.
fn shape(x: &Inputs) -> AnyResult<Value> {
    Ok(match x.get(0)? {
        Value::F(t) => Value::I {
            v: t.dims().iter().map(|&d| d as i64).collect(),
            scalar: false,
        },
        Value::I { v, scalar } => Value::I {
            v: if scalar { vec![] } else { vec![v.len() as i64] },
            scalar: false,
        },
    })
}

/// `Gather` along axis 0 of an integer shape.
fn gather(x: &Inputs) -> AnyResult<Value> {
    let (data, _) = x.ints(0)?;
    let (idx, scalar) = x.ints(1)?;
    if attr_i(x.node, "axis", 0) != 0 {
        bail!("Gather on shapes along an axis other than 0");
    }
    let n = data.len() as i64;
    let v = idx
        .iter()
        .map(|&i| {
            let j = if i < 0 { i + n } else { i };
            data.get(j as usize)
                .copied()
                .with_context(|| format!("index {i} outside {n} entries"))
        })
        .collect::<AnyResult<_>>()?;
    Ok(Value::I { v, scalar })
}

/// `Unsqueeze` of an integer scalar along axis 0 (a shape being built).
fn unsqueeze(x: &Inputs) -> AnyResult<Value> {
    let (v, scalar) = x.ints(0)?;
    if !scalar || x.axes()? != [0] {
        bail!("Unsqueeze is supported on integer scalars along axis 0 (a shape being built)");
    }
    Ok(Value::I { v, scalar: false })
}
