//! Ordinary convolution, BatchNorm, and the conv → BN → ReLU block both kinds of network share.

use super::config::OperatorConfig;
use super::decoupled::DecoupledConv;
use super::params::{Group, HostFlag, Mode, ParamStore};
use crate::kernels::batch_norm::batch_norm_train;
use crate::kernels::conv::conv2d;
use crate::kernels::fused::channel_affine;
use candle_core::{DType, Result, Tensor, Var};

/// The shape of a convolution layer: channels in and out, the side of its square kernel, its
/// stride and its zero padding (the same along both axes).
///
/// # Shapes
/// The layer maps `(N, c_in, H, W)` to `(N, c_out, (H + 2·padding − kernel) / stride + 1, …)`
/// with filters `(c_out, c_in, kernel, kernel)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ConvShape {
    /// Input channels `C_in`.
    pub(crate) c_in: usize,
    /// Output channels `C_out`.
    pub(crate) c_out: usize,
    /// Side `k` of the square kernel.
    pub(crate) kernel: usize,
    /// Step between windows, along both axes.
    pub(crate) stride: usize,
    /// Zeros added on every side of the input.
    pub(crate) padding: usize,
}

impl ConvShape {
    /// A 3×3 kernel with padding 1: the map keeps its size at stride 1 and halves at stride 2.
    pub(crate) fn three_by_three(c_in: usize, c_out: usize, stride: usize) -> Self {
        ConvShape {
            c_in,
            c_out,
            kernel: 3,
            stride,
            padding: 1,
        }
    }

    /// A 1×1 kernel with no padding (a projection shortcut at stride 2).
    pub(crate) fn pointwise(c_in: usize, c_out: usize, stride: usize) -> Self {
        ConvShape {
            c_in,
            c_out,
            kernel: 1,
            stride,
            padding: 0,
        }
    }

    /// A `kernel`×`kernel` window at stride 1 without padding: with the kernel as large as the
    /// map, a fully-connected layer.
    pub(crate) fn unpadded(c_in: usize, c_out: usize, kernel: usize) -> Self {
        ConvShape {
            c_in,
            c_out,
            kernel,
            stride: 1,
            padding: 0,
        }
    }

    /// The filter tensor's shape `(C_out, C_in, k, k)`.
    pub(crate) fn weight_dims(&self) -> [usize; 4] {
        [self.c_out, self.c_in, self.kernel, self.kernel]
    }

    /// The He initialisation's standard deviation, `sqrt(2 / (k² C_in))`.
    pub(crate) fn he_std(&self) -> f64 {
        (2.0 / (self.kernel * self.kernel * self.c_in) as f64).sqrt()
    }
}

/// An ordinary 2-D convolution, optionally with a bias.
pub(crate) struct PlainConv {
    /// Filters, shape `(C_out, C_in, k, k)`.
    pub(crate) weight: Var,
    /// Bias, shape `(C_out,)`.
    pub(crate) bias: Option<Var>,
    stride: usize,
    padding: usize,
}

impl PlainConv {
    /// He-initialised filters (std `sqrt(2 / (k² C_in))`, [`ConvShape::he_std`]) in `group`;
    /// a zero bias if asked.
    pub(crate) fn new(
        store: &mut ParamStore,
        name: &str,
        shape: ConvShape,
        bias: bool,
        group: Group,
    ) -> Result<Self> {
        let weight = store.normal(
            &format!("{name}.weight"),
            &shape.weight_dims(),
            shape.he_std(),
            group,
        )?;
        let bias = if bias {
            Some(store.constant(&format!("{name}.bias"), &[shape.c_out], 0.0, Group::NoDecay)?)
        } else {
            None
        };
        Ok(PlainConv {
            weight,
            bias,
            stride: shape.stride,
            padding: shape.padding,
        })
    }

    /// # Shapes
    /// `x`: `(N, C_in, H, W)` → `(N, C_out, H', W')`.
    pub(crate) fn forward(&self, x: &Tensor, mode: Mode) -> Result<Tensor> {
        let y = conv2d(x, &mode.param(&self.weight), self.stride, self.padding)?;
        match &self.bias {
            Some(b) => y.broadcast_add(&mode.param(b).reshape((1, (), 1, 1))?),
            None => Ok(y),
        }
    }
}

/// BatchNorm over channels: batch statistics while training (running averages updated with
/// `decay`), running averages in inference. γ and β carry weight decay
/// (docs/model.md#training-recipe).
pub(crate) struct BatchNorm {
    /// Scale γ, shape `(C,)`.
    pub(crate) gamma: Var,
    /// Shift β, shape `(C,)`.
    pub(crate) beta: Var,
    /// Running mean, shape `(C,)`.
    pub(crate) running_mean: Var,
    /// Running (unbiased) variance, shape `(C,)`.
    pub(crate) running_var: Var,
    /// Number of training batches seen, shape `(1,)`: the running averages start at the first
    /// batch's statistics rather than at 0 and 1, which would take hundreds of steps to forget
    /// for decoupled layers, whose outputs have variances around 1e-3.
    pub(crate) updates: Var,
    /// Whether `updates` is above 0, kept on the host.
    started: HostFlag,
    decay: f64,
    eps: f64,
}

impl BatchNorm {
    /// γ = 1, β = 0, running mean 0, running variance 1.
    pub(crate) fn new(
        store: &mut ParamStore,
        name: &str,
        c: usize,
        decay: f64,
        eps: f64,
    ) -> Result<Self> {
        Ok(BatchNorm {
            gamma: store.constant(&format!("{name}.gamma"), &[c], 1.0, Group::Decay)?,
            beta: store.constant(&format!("{name}.beta"), &[c], 0.0, Group::Decay)?,
            running_mean: store.constant(
                &format!("{name}.running_mean"),
                &[c],
                0.0,
                Group::Buffer,
            )?,
            running_var: store.constant(
                &format!("{name}.running_var"),
                &[c],
                1.0,
                Group::Buffer,
            )?,
            updates: store.constant(&format!("{name}.updates"), &[1], 0.0, Group::Buffer)?,
            started: HostFlag::default(),
            decay,
            eps,
        })
    }

    /// # Shapes
    /// `x`: `(N, C, H, W)` → same.
    pub(crate) fn forward(&self, x: &Tensor, mode: Mode) -> Result<Tensor> {
        self.forward_act(x, mode, false)
    }

    /// BatchNorm, then a ReLU if `relu`; on the CPU the two are one kernel, on cuDNN the
    /// BatchNorm is one call each way (`kernels::gpu_layers`).
    ///
    /// # Shapes
    /// `x`: `(N, C, H, W)` → same.
    fn forward_act(&self, x: &Tensor, mode: Mode, relu: bool) -> Result<Tensor> {
        let shape4 = |t: &Tensor| t.reshape((1, (), 1, 1));
        let act = |y: Tensor| if relu { y.relu() } else { Ok(y) };
        let (mean, var) = if mode.is_train() {
            let (n, _, h, w) = x.dims4()?;
            let count = (n * h * w) as f64;
            let (y, mean, var) = if crate::kernels::own_kernels(x) {
                let (y, stats) = batch_norm_train(
                    x,
                    self.gamma.as_tensor(),
                    self.beta.as_tensor(),
                    self.eps,
                    relu,
                )?;
                let mean: Vec<f64> = stats.iter().map(|s| s.0).collect();
                let var: Vec<f64> = stats.iter().map(|s| s.1).collect();
                let dev = x.device();
                (y, Tensor::new(mean, dev)?, Tensor::new(var, dev)?)
            } else if crate::kernels::cuda_kernels_apply(x)
                && crate::kernels::gpu_layers::BnPack::new(x.dims()).is_ok()
            {
                let (y, mean, var) = crate::kernels::gpu_layers::batch_norm_train(
                    x,
                    self.gamma.as_tensor(),
                    self.beta.as_tensor(),
                    self.eps,
                )?;
                (act(y)?, mean, var)
            } else {
                // Composite path for other devices: sum the contiguous inner dimensions first.
                let mean = x
                    .sum_keepdim((2, 3))?
                    .sum_keepdim(0)?
                    .affine(1.0 / count, 0.0)?;
                let centered = x.broadcast_sub(&mean)?;
                let var = centered
                    .sqr()?
                    .sum_keepdim((2, 3))?
                    .sum_keepdim(0)?
                    .affine(1.0 / count, 0.0)?;
                let y = centered
                    .broadcast_div(&var.affine(1.0, self.eps)?.sqrt()?)?
                    .broadcast_mul(&shape4(self.gamma.as_tensor())?)?
                    .broadcast_add(&shape4(self.beta.as_tensor())?)?;
                (
                    act(y)?,
                    mean.detach().flatten_all()?,
                    var.detach().flatten_all()?,
                )
            };
            let dtype = self.running_mean.dtype();
            let (mean, var) = (mean.to_dtype(dtype)?, var.to_dtype(dtype)?);
            let unbiased = var.affine(count / (count - 1.0).max(1.0), 0.0)?;
            let seen = self.started.get(|| {
                Ok(self
                    .updates
                    .as_tensor()
                    .to_dtype(DType::F64)?
                    .to_vec1::<f64>()?[0]
                    != 0.0)
            })?;
            self.updates
                .set(&self.updates.as_tensor().affine(1.0, 1.0)?)?;
            self.started.set(true);
            let d = if seen { self.decay } else { 0.0 };
            let rm =
                (self.running_mean.as_tensor().affine(d, 0.0)? + mean.affine(1.0 - d, 0.0)?)?;
            let rv =
                (self.running_var.as_tensor().affine(d, 0.0)? + unbiased.affine(1.0 - d, 0.0)?)?;
            self.running_mean.set(&rm)?;
            self.running_var.set(&rv)?;
            return Ok(y);
        } else {
            (
                shape4(&self.running_mean.as_tensor().detach())?,
                shape4(&self.running_var.as_tensor().detach())?,
            )
        };
        // Inference: one scale and one shift per channel.
        let scale =
            shape4(&mode.param(&self.gamma))?.broadcast_div(&var.affine(1.0, self.eps)?.sqrt()?)?;
        let shift = shape4(&mode.param(&self.beta))?.broadcast_sub(&mean.broadcast_mul(&scale)?)?;
        if crate::kernels::own_kernels(x) {
            return channel_affine(x, &scale.flatten_all()?, &shift.flatten_all()?, relu);
        }
        act(x.broadcast_mul(&scale)?.broadcast_add(&shift)?)
    }
}

/// A convolution of either kind.
pub(crate) enum Conv {
    /// Ordinary convolution.
    Plain(PlainConv),
    /// Decoupled operator.
    Decoupled(DecoupledConv),
}

impl Conv {
    /// A decoupled layer when `op` is given, else an ordinary one whose filters take weight
    /// decay (the baseline's rule) and that has a bias only when no BatchNorm follows.
    pub(crate) fn new(
        store: &mut ParamStore,
        name: &str,
        shape: ConvShape,
        op: Option<&OperatorConfig>,
        bias_if_plain: bool,
    ) -> Result<Self> {
        Ok(match op {
            Some(op) => Conv::Decoupled(DecoupledConv::new(store, name, shape, *op)?),
            None => Conv::Plain(PlainConv::new(
                store,
                name,
                shape,
                bias_if_plain,
                Group::Decay,
            )?),
        })
    }

    /// # Shapes
    /// `x`: `(N, C_in, H, W)` → `(N, C_out, H', W')`.
    pub(crate) fn forward(&self, x: &Tensor, mode: Mode) -> Result<Tensor> {
        match self {
            Conv::Plain(c) => c.forward(x, mode),
            Conv::Decoupled(c) => c.forward(x, mode),
        }
    }

    /// The decoupled layer, if this is one.
    pub(crate) fn decoupled(&self) -> Option<&DecoupledConv> {
        match self {
            Conv::Decoupled(c) => Some(c),
            Conv::Plain(_) => None,
        }
    }
}

/// Convolution, then BatchNorm and ReLU where switched on.
pub(crate) struct ConvBlock {
    /// The convolution.
    pub(crate) conv: Conv,
    /// BatchNorm after it, if any.
    pub(crate) bn: Option<BatchNorm>,
    /// Whether a ReLU follows.
    pub(crate) relu: bool,
}

impl ConvBlock {
    /// # Shapes
    /// `x`: `(N, C_in, H, W)` → `(N, C_out, H', W')`.
    pub(crate) fn forward(&self, x: &Tensor, mode: Mode) -> Result<Tensor> {
        let y = self.conv.forward(x, mode)?;
        match &self.bn {
            Some(bn) => bn.forward_act(&y, mode, self.relu),
            None if self.relu => y.relu(),
            None => Ok(y),
        }
    }
}
