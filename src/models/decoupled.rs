//! The decoupled convolution `f(w, x) = h(‖w‖, ‖x‖) · g(θ)` (docs/model.md#decoupled-operator),
//! one layer.

use super::config::{Angular, Magnitude, OperatorConfig, Radius};
use super::layers::ConvShape;
use super::params::Mode;
use super::params::{Group, HostFlag, ParamStore};
use crate::kernels::acos::acos;
use crate::kernels::conv::conv2d;
use crate::kernels::fused::{channel_sumsq, decoupled_tail, FusedAngular, FusedMagnitude};
use candle_core::{DType, Result, Tensor, Var};
use std::f64::consts::PI;

/// Added inside both square roots (filter norm and patch norm), as in the official code: it
/// keeps `|cos θ| < 1` and the gradient of an all-zero patch finite.
pub(crate) const NORM_EPS: f64 = 1e-4;

/// A decoupled convolution layer. With a kernel as large as its input and no padding it is the
/// fully-connected (1x1) case.
pub(crate) struct DecoupledConv {
    /// Unnormalised filters; only their direction (and, for weighted operators, their norm)
    /// matters. Shape `(C_out, C_in, k, k)`.
    pub(crate) weight: Var,
    /// Learned radius factor `r`, shape `(C_out,)`, when the radius is learnable and used.
    pub(crate) radius: Option<Var>,
    /// Moving average of the mean patch norm μ, shape `(1,)`, used in inference.
    pub(crate) mu_ema: Option<Var>,
    /// Learned sigmoid steepness, shape `(C_out,)`, for [`Angular::LearnableSigmoid`].
    pub(crate) sigmoid_k: Option<Var>,
    /// Whether `mu_ema` has started (is not 0), kept on the host.
    ema_started: HostFlag,
    op: OperatorConfig,
    ones: Tensor,
    stride: usize,
    padding: usize,
}

impl DecoupledConv {
    /// Creates the layer's parameters under `name` in `store`, filters He-initialised
    /// (std `sqrt(2 / (k² C_in))`, [`ConvShape::he_std`]), `r` at the configured init.
    pub(crate) fn new(
        store: &mut ParamStore,
        name: &str,
        shape: ConvShape,
        op: OperatorConfig,
    ) -> Result<Self> {
        let ConvShape {
            c_out,
            kernel,
            stride,
            padding,
            ..
        } = shape;
        let weight = store.normal(
            &format!("{name}.weight"),
            &shape.weight_dims(),
            shape.he_std(),
            Group::NoDecay,
        )?;
        let (radius, mu_ema) = match (op.magnitude.uses_radius(), op.radius) {
            (true, Radius::Learnable { init, .. }) => (
                Some(store.constant(&format!("{name}.radius"), &[c_out], init, Group::NoDecay)?),
                Some(store.constant(&format!("{name}.mu_ema"), &[1], 0.0, Group::Buffer)?),
            ),
            _ => (None, None),
        };
        let sigmoid_k = match op.angular {
            Angular::LearnableSigmoid { k_init } => Some(store.constant(
                &format!("{name}.sigmoid_k"),
                &[c_out],
                k_init,
                Group::NoDecay,
            )?),
            _ => None,
        };
        let ones = Tensor::ones((1, 1, kernel, kernel), store.dtype(), store.device())?;
        Ok(DecoupledConv {
            weight,
            radius,
            mu_ema,
            sigmoid_k,
            ema_started: HostFlag::default(),
            op,
            ones,
            stride,
            padding,
        })
    }

    /// Unit-norm filters `ŵ = w / sqrt(Σ w² + 1e-4)`, one norm per output channel.
    ///
    /// # Shapes
    /// `(C_out, C_in, k, k)`.
    fn normalized_weight(&self, mode: Mode) -> Result<Tensor> {
        let w = &mode.param(&self.weight);
        w.broadcast_div(
            &w.sqr()?
                .sum_keepdim((1, 2, 3))?
                .affine(1.0, NORM_EPS)?
                .sqrt()?,
        )
    }

    /// The patch norm `sqrt(Σ_window x² + 1e-4)` of every sliding window, with the layer's
    /// stride and padding (padding contributes 0). Sums x² over channels first, then over the
    /// k×k window: the same sum as over all `C_in·k·k` entries, at a fraction of the cost.
    ///
    /// # Shapes
    /// `x`: `(N, C_in, H, W)` → `(N, 1, H', W')`.
    fn patch_norm(&self, x: &Tensor) -> Result<Tensor> {
        let sq = channel_sumsq(x)?;
        conv2d(&sq, &self.ones, self.stride, self.padding)?
            .affine(1.0, NORM_EPS)?
            .sqrt()
    }

    /// The layer's output.
    ///
    /// In training μ is the batch mean of the patch norm (differentiable) and its moving average
    /// is updated; in inference the moving average is used and nothing changes.
    ///
    /// # Shapes
    /// `x`: `(N, C_in, H, W)` → `(N, C_out, H', W')`.
    pub(crate) fn forward(&self, x: &Tensor, mode: Mode) -> Result<Tensor> {
        let w_hat = self.normalized_weight(mode)?;
        let y = conv2d(x, &w_hat, self.stride, self.padding)?;
        // LinearConv with cosine is exactly a convolution with unit-norm filters: n·(y/n) = y.
        if let (Magnitude::Linear { alpha }, Angular::Cosine) = (self.op.magnitude, self.op.angular)
        {
            return y.affine(alpha, 0.0);
        }
        let n = self.patch_norm(x)?;
        let fused_here = crate::kernels::own_kernels(&y) || crate::kernels::cuda_kernels_apply(&y);
        if let (Some((mag, ang)), true) = (self.fused(), fused_here) {
            let c = y.dim(1)?;
            let rho = if mag.uses_radius() {
                self.radius_tensor(&n, mode)?
                    .flatten_all()?
                    .broadcast_as(c)?
                    .contiguous()?
            } else {
                Tensor::ones(c, y.dtype(), y.device())?
            };
            return decoupled_tail(&y, &n, &rho, mag, ang);
        }
        let cos = y.broadcast_div(&n)?;
        let g = self.angular(&cos, mode)?;
        let h = self.magnitude(&n, mode)?;
        h.broadcast_mul(&g)
    }

    /// The operator as the fused kernels (CPU and CUDA) know it, if they do: the magnitudes
    /// without the filter norm and the angular activations without a learned parameter.
    fn fused(&self) -> Option<(FusedMagnitude, FusedAngular)> {
        let mag = match self.op.magnitude {
            Magnitude::Sphere { alpha } => FusedMagnitude::Sphere(alpha),
            Magnitude::Ball { alpha } => FusedMagnitude::Ball(alpha),
            Magnitude::Tanh { alpha } => FusedMagnitude::Tanh(alpha),
            Magnitude::Linear { alpha } => FusedMagnitude::Linear(alpha),
            _ => return None,
        };
        let ang = match self.op.angular {
            Angular::Cosine => FusedAngular::Cosine,
            Angular::Linear => FusedAngular::Linear,
            Angular::SquareCosine => FusedAngular::SquareCosine,
            Angular::Sigmoid { k } => FusedAngular::Sigmoid(k),
            Angular::LearnableSigmoid { .. } => return None,
        };
        Some((mag, ang))
    }

    fn channel_shape(&self, t: &Tensor) -> Result<Tensor> {
        t.reshape((1, (), 1, 1))
    }

    /// `g(θ)` from `cos θ`, any shape; learnable k broadcasts over dimension 1.
    pub(crate) fn angular(&self, cos: &Tensor, mode: Mode) -> Result<Tensor> {
        match self.op.angular {
            Angular::Cosine => Ok(cos.clone()),
            Angular::Linear => acos(cos)?.affine(-2.0 / PI, 1.0),
            Angular::SquareCosine => cos.mul(&cos.abs()?),
            Angular::Sigmoid { k } => {
                let theta = acos(cos)?;
                theta
                    .affine(-1.0 / (2.0 * k), PI / (4.0 * k))?
                    .tanh()?
                    .affine(1.0 / (PI / (4.0 * k)).tanh(), 0.0)
            }
            Angular::LearnableSigmoid { .. } => {
                let k = self
                    .sigmoid_k
                    .as_ref()
                    .ok_or_else(|| candle_core::Error::Msg("sigmoid k missing".into()))?;
                let k = self.channel_shape(&mode.param(k).abs()?.affine(1.0, 0.05)?)?;
                let theta = acos(cos)?;
                // tanh((π/2 − θ) / (2k)) / tanh(π / (4k))
                let num = theta
                    .affine(-1.0, PI / 2.0)?
                    .broadcast_div(&k.affine(2.0, 0.0)?)?
                    .tanh()?;
                let den = k.recip()?.affine(PI / 4.0, 0.0)?.tanh()?;
                num.broadcast_div(&den)
            }
        }
    }

    /// The radius ρ: a scalar tensor, or `(1, C_out, 1, 1)` when learnable.
    fn radius_tensor(&self, n: &Tensor, mode: Mode) -> Result<Tensor> {
        match self.op.radius {
            Radius::Fixed { rho } => Tensor::new(&[rho], n.device())?.to_dtype(n.dtype()),
            Radius::Learnable { ema_decay, .. } => {
                let (r, ema) = match (&self.radius, &self.mu_ema) {
                    (Some(r), Some(e)) => (r, e),
                    _ => candle_core::bail!("learnable radius parameters missing"),
                };
                let mu = if mode.is_train() {
                    let mu = n.mean_all()?.reshape(1)?;
                    let started = self.ema_started.get(|| {
                        Ok(ema.as_tensor().to_dtype(DType::F64)?.to_vec1::<f64>()?[0] != 0.0)
                    })?;
                    // The average starts at the first batch's value rather than at 0 (μ is a
                    // mean of norms of at least 1e-2, so a started average is never 0).
                    let new = if !started {
                        mu.detach()
                    } else {
                        (ema.as_tensor().affine(ema_decay, 0.0)?
                            + mu.detach().affine(1.0 - ema_decay, 0.0)?)?
                    };
                    ema.set(&new)?;
                    self.ema_started.set(true);
                    mu
                } else {
                    ema.as_tensor().detach()
                };
                let rr = self.channel_shape(&mode.param(r).sqr()?.affine(1.0, NORM_EPS)?)?;
                rr.broadcast_mul(&mu.reshape((1, 1, 1, 1))?)
            }
        }
    }

    /// `h(‖w‖, n)`; broadcasts to `(N, C_out, H', W')` or stays `(N, 1, H', W')`.
    pub(crate) fn magnitude(&self, n: &Tensor, mode: Mode) -> Result<Tensor> {
        let rho = || self.radius_tensor(n, mode);
        let w_norm = || -> Result<Tensor> {
            let w = &mode.param(&self.weight);
            self.channel_shape(&w.sqr()?.sum_keepdim((1, 2, 3))?.sqrt()?.flatten_all()?)
        };
        match self.op.magnitude {
            Magnitude::Sphere { alpha } => n.ones_like()?.affine(alpha, 0.0),
            Magnitude::Ball { alpha } => {
                let rho = rho()?;
                n.broadcast_minimum(&rho)?
                    .broadcast_div(&rho)?
                    .affine(alpha, 0.0)
            }
            Magnitude::Tanh { alpha } => n.broadcast_div(&rho()?)?.tanh()?.affine(alpha, 0.0),
            Magnitude::Linear { alpha } => n.affine(alpha, 0.0),
            Magnitude::Seg { alpha, beta } => {
                // α·min(n, ρ) + β·relu(n − ρ): α·n below ρ, β·n + αρ − βρ above.
                let rho = rho()?;
                let low = n.broadcast_minimum(&rho)?.affine(alpha, 0.0)?;
                let high = n.broadcast_sub(&rho)?.relu()?.affine(beta, 0.0)?;
                low + high
            }
            Magnitude::Log { alpha } => n.affine(1.0, 1.0)?.log()?.affine(alpha, 0.0),
            Magnitude::Mix { alpha, beta } => {
                n.affine(alpha, 0.0)? + n.affine(1.0, 1.0)?.log()?.affine(beta, 0.0)?
            }
            Magnitude::WeightedLinear { alpha } => n.broadcast_mul(&w_norm()?)?.affine(alpha, 0.0),
            Magnitude::WeightedTanhEq15 { alpha } => n
                .broadcast_mul(&w_norm()?)?
                .broadcast_div(&rho()?)?
                .tanh()?
                .affine(alpha, 0.0),
            Magnitude::WeightedTanhEq16 { alpha } => {
                let rho = rho()?;
                let tw = w_norm()?.broadcast_div(&rho)?.tanh()?;
                n.broadcast_div(&rho)?
                    .tanh()?
                    .broadcast_mul(&tw)?
                    .affine(alpha, 0.0)
            }
        }
    }

    /// The orthogonality regulariser `½‖ŴŴᵀ − I‖²_F` with the filters as unit rows
    /// (docs/model.md#orthogonality-regulariser; multiply by the coefficient, 1e-5 in the official
    /// code).
    ///
    /// # Shapes
    /// Returns a scalar (rank 0).
    pub(crate) fn orthogonality(&self) -> Result<Tensor> {
        let w = self.weight.as_tensor().flatten_from(1)?;
        let w = w.broadcast_div(&w.sqr()?.sum_keepdim(1)?.affine(1.0, NORM_EPS)?.sqrt()?)?;
        let gram = w.matmul(&w.t()?)?;
        let eye = Tensor::eye(gram.dim(0)?, gram.dtype(), gram.device())?;
        (gram - eye)?.sqr()?.sum_all()?.affine(0.5, 0.0)
    }

    /// Weight projection `w ← ŵ` (docs/model.md#weight-projection): the forward pass is
    /// unchanged, the filter norms return to ~1 so that gradient steps keep their relative size.
    /// Skipped for the weighted operators, whose output depends on ‖w‖.
    pub(crate) fn project(&self) -> Result<()> {
        if self.op.magnitude.uses_weight_norm() {
            return Ok(());
        }
        let w = self.normalized_weight(Mode::Frozen)?;
        self.weight.set(&w)
    }
}
