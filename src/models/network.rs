//! Whole networks: CNN-9, ResNet-32 and the 2-D-feature CNN, each decoupled or baseline.

use super::config::{Arch, ModelConfig};
use super::decoupled::DecoupledConv;
use super::layers::{BatchNorm, Conv, ConvBlock, ConvShape, PlainConv};
use super::params::Mode;
use super::params::{Group, ParamStore};
use candle_core::{DType, Device, Result, Tensor};

/// A post-activation residual unit (docs/model.md#resnet-32): conv(stride) → BN → ReLU → conv
/// → BN, plus an identity or 1x1-projection shortcut, then ReLU.
struct ResidualUnit {
    first: ConvBlock,
    second: ConvBlock,
    shortcut: Option<(PlainConv, Option<BatchNorm>)>,
}

impl ResidualUnit {
    fn forward(&self, x: &Tensor, mode: Mode) -> Result<Tensor> {
        let y = self.second.forward(&self.first.forward(x, mode)?, mode)?;
        let s = match &self.shortcut {
            None => x.clone(),
            Some((conv, bn)) => {
                let s = conv.forward(x, mode)?;
                match bn {
                    Some(bn) => bn.forward(&s, mode)?,
                    None => s,
                }
            }
        };
        (y + s)?.relu()
    }

    fn convs(&self) -> [&Conv; 2] {
        [&self.first.conv, &self.second.conv]
    }
}

/// One stage of a network's sequence.
enum Layer {
    /// Conv block.
    Block(ConvBlock),
    /// Residual unit.
    Residual(Box<ResidualUnit>),
    /// 2x2 max-pool, stride 2.
    MaxPool2,
    /// Mean over the spatial dimensions, keeping a 1x1 map.
    GlobalAvgPool,
}

impl Layer {
    fn forward(&self, x: &Tensor, mode: Mode) -> Result<Tensor> {
        match self {
            Layer::Block(b) => b.forward(x, mode),
            Layer::Residual(r) => r.forward(x, mode),
            Layer::MaxPool2 => crate::kernels::max_pool::max_pool2(x),
            Layer::GlobalAvgPool => x.mean_keepdim((2, 3)),
        }
    }
}

/// A trainable classifier built from a [`ModelConfig`].
pub struct Network {
    config: ModelConfig,
    params: ParamStore,
    layers: Vec<Layer>,
    /// `layers[..feature_end]` produce the penultimate features; the rest is the score layer.
    feature_end: usize,
}

struct Builder<'a> {
    cfg: &'a ModelConfig,
    store: &'a mut ParamStore,
}

impl Builder<'_> {
    /// A conv block of the configured kind (decoupled or plain) named `name`, followed by
    /// BatchNorm when `bn` is set and the configuration has BatchNorm, then by a ReLU if `relu`.
    fn block(&mut self, name: &str, shape: ConvShape, bn: bool, relu: bool) -> Result<ConvBlock> {
        let bn_on = bn && self.cfg.batch_norm;
        let conv = Conv::new(self.store, name, shape, self.cfg.operator.as_ref(), !bn_on)?;
        let bn = if bn_on {
            Some(BatchNorm::new(
                self.store,
                &format!("{name}.bn"),
                shape.c_out,
                self.cfg.bn_decay,
                self.cfg.bn_eps,
            )?)
        } else {
            None
        };
        Ok(ConvBlock { conv, bn, relu })
    }

    /// The plain 1x1 (fully-connected) score layer, with weight decay, no BN, no bias.
    fn score(&mut self, c_in: usize) -> Result<ConvBlock> {
        let conv = PlainConv::new(
            self.store,
            "score",
            ConvShape::pointwise(c_in, self.cfg.num_classes, 1),
            false,
            Group::Decay,
        )?;
        Ok(ConvBlock {
            conv: Conv::Plain(conv),
            bn: None,
            relu: false,
        })
    }

    /// CNN-9 body: 3 stages of 3 conv3x3 and a max-pool, then `fc6` over the whole final map.
    fn cnn9(&mut self, fc6_out: usize) -> Result<(Vec<Layer>, usize)> {
        let widths = [128, 192, 256].map(|w| self.cfg.scaled(w));
        let mut layers = Vec::new();
        let mut c = self.cfg.in_channels;
        for (s, &w) in widths.iter().enumerate() {
            for j in 0..3 {
                let relu = self.cfg.relu;
                layers.push(Layer::Block(self.block(
                    &format!("stage{}.conv{}", s + 1, j + 1),
                    ConvShape::three_by_three(c, w, 1),
                    true,
                    relu,
                )?));
                c = w;
            }
            layers.push(Layer::MaxPool2);
        }
        // fc6 covers what is left of the image (4x4 for 32x32 inputs, as in docs/model.md#cnn-9),
        // without BN or ReLU.
        let [h, w] = self.cfg.image_size.map(|s| s / 8);
        if h != w {
            candle_core::bail!("CNN-9 needs square images, got {:?}", self.cfg.image_size);
        }
        layers.push(Layer::Block(self.block(
            "fc6",
            ConvShape::unpadded(c, fc6_out, h),
            false,
            false,
        )?));
        Ok((layers, fc6_out))
    }

    fn resnet32(&mut self) -> Result<(Vec<Layer>, usize)> {
        let widths = [96, 192, 384].map(|w| self.cfg.scaled(w));
        let mut layers = Vec::new();
        // Root: conv → BN, no ReLU (the official DCNet code).
        layers.push(Layer::Block(self.block(
            "root",
            ConvShape::three_by_three(self.cfg.in_channels, widths[0], 1),
            true,
            false,
        )?));
        let mut c = widths[0];
        for (s, &w) in widths.iter().enumerate() {
            for u in 0..5 {
                let stride = if s > 0 && u == 0 { 2 } else { 1 };
                let name = format!("stage{}.unit{}", s + 1, u + 1);
                let first = self.block(
                    &format!("{name}.conv1"),
                    ConvShape::three_by_three(c, w, stride),
                    true,
                    true,
                )?;
                let second = self.block(
                    &format!("{name}.conv2"),
                    ConvShape::three_by_three(w, w, 1),
                    true,
                    false,
                )?;
                let shortcut = if c != w || stride != 1 {
                    let conv = PlainConv::new(
                        self.store,
                        &format!("{name}.shortcut"),
                        ConvShape::pointwise(c, w, stride),
                        !self.cfg.batch_norm,
                        Group::Decay,
                    )?;
                    let bn = if self.cfg.batch_norm {
                        Some(BatchNorm::new(
                            self.store,
                            &format!("{name}.shortcut.bn"),
                            w,
                            self.cfg.bn_decay,
                            self.cfg.bn_eps,
                        )?)
                    } else {
                        None
                    };
                    Some((conv, bn))
                } else {
                    None
                };
                layers.push(Layer::Residual(Box::new(ResidualUnit {
                    first,
                    second,
                    shortcut,
                })));
                c = w;
            }
        }
        layers.push(Layer::GlobalAvgPool);
        Ok((layers, c))
    }
}

impl Network {
    /// Builds the network, initialising every parameter from `seed`.
    pub(crate) fn new(
        config: ModelConfig,
        device: &Device,
        dtype: DType,
        seed: u64,
    ) -> Result<Self> {
        config.validate().map_err(candle_core::Error::Msg)?;
        let mut params = ParamStore::new(device, dtype, seed);
        let mut b = Builder {
            cfg: &config,
            store: &mut params,
        };
        let (mut layers, feat) = match config.arch {
            Arch::Cnn9 => {
                let w = b.cfg.scaled(256);
                b.cnn9(w)?
            }
            Arch::Feat2d => b.cnn9(2)?,
            Arch::Resnet32 => b.resnet32()?,
        };
        let feature_end = layers.len();
        layers.push(Layer::Block(b.score(feat)?));
        Ok(Network {
            config,
            params,
            layers,
            feature_end,
        })
    }

    /// The configuration it was built from.
    pub(crate) fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// Its parameters and buffers.
    pub fn params(&self) -> &ParamStore {
        &self.params
    }

    /// Maps images in [0, 1] to the range the official code feeds its networks:
    /// `(255·x − 127.5) / 128`.
    fn normalize(x: &Tensor) -> Result<Tensor> {
        x.affine(255.0 / 128.0, -127.5 / 128.0)
    }

    /// Penultimate features (for Feat2d, the 2-D features of the paper's Fig. 1/4).
    ///
    /// # Shapes
    /// `x`: `(N, C, H, W)` in [0, 1] → `(N, F)`.
    pub(crate) fn features(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let mode = if train { Mode::Train } else { Mode::Eval };
        let mut y = Self::normalize(x)?;
        for l in &self.layers[..self.feature_end] {
            y = l.forward(&y, mode)?;
        }
        y.flatten_from(1)
    }

    /// Logits. `train` selects batch statistics (and updates running averages) or inference.
    ///
    /// # Shapes
    /// `x`: `(N, C, H, W)` in [0, 1] → `(N, K)`.
    pub(crate) fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        self.forward_mode(x, if train { Mode::Train } else { Mode::Eval })
    }

    /// Logits in any [`Mode`].
    ///
    /// # Shapes
    /// `x`: `(N, C, H, W)` in [0, 1] → `(N, K)`.
    pub(crate) fn forward_mode(&self, x: &Tensor, mode: Mode) -> Result<Tensor> {
        let mut y = Self::normalize(x)?;
        for l in &self.layers {
            y = l.forward(&y, mode)?;
        }
        y.flatten_from(1)
    }

    /// Every decoupled layer, in order.
    pub(crate) fn decoupled_layers(&self) -> Vec<&DecoupledConv> {
        let mut out = Vec::new();
        for l in &self.layers {
            match l {
                Layer::Block(b) => out.extend(b.conv.decoupled()),
                Layer::Residual(r) => out.extend(r.convs().iter().filter_map(|c| c.decoupled())),
                Layer::MaxPool2 | Layer::GlobalAvgPool => {}
            }
        }
        out
    }

    /// Sum of the orthogonality regulariser over the decoupled layers (0 for a baseline).
    ///
    /// # Shapes
    /// Returns a scalar (rank 0).
    pub(crate) fn orthogonality(&self) -> Result<Tensor> {
        let mut total = Tensor::zeros((), self.params.dtype(), self.params.device())?;
        for l in self.decoupled_layers() {
            total = (total + l.orthogonality()?)?;
        }
        Ok(total)
    }

    /// Weight projection of every decoupled layer.
    pub(crate) fn project_weights(&self) -> Result<()> {
        for l in self.decoupled_layers() {
            l.project()?;
        }
        Ok(())
    }

    /// Number of trained scalars.
    pub(crate) fn num_parameters(&self) -> usize {
        self.params.trainable().map(|p| p.var.elem_count()).sum()
    }
}

/// Attacks see the network in inference mode with frozen parameters: BatchNorm uses its running
/// statistics, nothing is updated, and backward computes the input gradient only.
impl dcrobust_attacks::Model for Network {
    fn logits(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_mode(x, Mode::Frozen)
    }

    fn device(&self) -> Device {
        self.params.device().clone()
    }
}
