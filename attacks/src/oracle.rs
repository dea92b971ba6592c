//! The batch under attack and the one place that runs the model: logits, per-sample losses and
//! their input gradients.

use crate::{Model, Target};
use candle_core::{DType, Result, Tensor, Var, D};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::sync::atomic::{AtomicU64, Ordering};

/// Clean images with their labels and global indices.
#[derive(Clone, Debug)]
pub struct Batch {
    /// Images, `N·C·H·W` values in `(N, C, H, W)` order.
    pub x: Vec<f32>,
    /// `(N, C, H, W)`.
    pub shape: [usize; 4],
    /// True class of each image.
    pub labels: Vec<u32>,
    /// Target class of each image for targeted attacks; `None` for untargeted ones.
    pub targets: Option<Vec<u32>>,
    /// Index of each image in the whole evaluation set: seeds its random draws.
    pub indices: Vec<u64>,
    /// Seed of this evaluation (run seed mixed with the attack and ε).
    pub seed: u64,
}

impl Batch {
    /// An untargeted batch.
    ///
    /// # Shapes
    /// `x`: `N·C·H·W` values; `labels`, `indices`: `N` each.
    pub fn new(
        x: Vec<f32>,
        shape: [usize; 4],
        labels: Vec<u32>,
        indices: Vec<u64>,
        seed: u64,
    ) -> Result<Self> {
        let [n, c, h, w] = shape;
        if x.len() != n * c * h * w || labels.len() != n || indices.len() != n {
            candle_core::bail!(
                "batch of shape {shape:?} got {} values, {} labels and {} indices",
                x.len(),
                labels.len(),
                indices.len()
            );
        }
        Ok(Batch {
            x,
            shape,
            labels,
            targets: None,
            indices,
            seed,
        })
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.shape[0]
    }

    /// Whether the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.shape[0] == 0
    }

    /// Values per image, `C·H·W`.
    pub fn dim(&self) -> usize {
        self.shape[1] * self.shape[2] * self.shape[3]
    }

    /// The generator of sample `i` for the purpose `stream` (for example a restart number): seeded
    /// from the batch seed, the sample's global index and `stream` only.
    pub fn rng(&self, i: usize, stream: u64) -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(mix(mix(self.seed, self.indices[i]), stream))
    }

    /// Chooses target classes for `target` (random among the wrong classes, or the least likely
    /// class of `clean_logits`), `None` for untargeted.
    ///
    /// # Shapes
    /// `clean_logits`: `N·K` values, `(N, K)` row-major.
    pub fn choose_targets(
        &self,
        target: Target,
        clean_logits: &[f32],
        classes: usize,
    ) -> Option<Vec<u32>> {
        use rand::Rng;
        match target {
            Target::Untargeted => None,
            Target::Random => Some(
                (0..self.len())
                    .map(|i| {
                        let mut r = self.rng(i, STREAM_TARGET);
                        let t = r.random_range(0..classes as u32 - 1);
                        if t >= self.labels[i] {
                            t + 1
                        } else {
                            t
                        }
                    })
                    .collect(),
            ),
            Target::LeastLikely => Some(
                clean_logits
                    .chunks(classes)
                    .map(|row| ops::argmin(row) as u32)
                    .collect(),
            ),
        }
    }
}

use crate::ops;

/// Generator stream used to draw random targets.
const STREAM_TARGET: u64 = u64::MAX;

/// Mixes a seed and a value: SplitMix64's first output from the state
/// `seed ^ (v·0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019)`.
pub(crate) fn mix(seed: u64, v: u64) -> u64 {
    use rand_xoshiro::rand_core::{RngCore, SeedableRng};
    let z = seed
        ^ v.wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(0x632B_E59B_D9B4_E019);
    rand_xoshiro::SplitMix64::seed_from_u64(z).next_u64()
}

/// The per-sample quantity an attack maximises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LossKind {
    /// Cross-entropy of the true class; targeted: minus the cross-entropy of the target.
    CrossEntropy,
    /// Difference of logits ratio (Croce and Hein 2020): `−(z_y − max_{i≠y} z_i) / (z_π1 − z_π3)`;
    /// targeted: `−(z_y − z_t) / (z_π1 − (z_π3 + z_π4)/2)`. Invariant to shifting and scaling
    /// the logits.
    Dlr,
    /// Logit margin `max_{i≠y} z_i − z_y` (positive once misclassified); targeted:
    /// `z_t − max_{i≠t} z_i`.
    Margin,
    /// Targeted only: the logit gap `z_t − z_y` whose zero set FAB-T linearises (AutoAttack's
    /// `get_diff_logits_grads_batch_targeted`). An untargeted batch is an error.
    LogitGap,
}

/// Per-sample losses and their input gradients at one point.
pub struct LossGrad {
    /// The loss of each sample (the quantity maximised).
    pub loss: Vec<f32>,
    /// `∂ loss_i / ∂ x_i`, `N·C·H·W` values.
    pub grad: Vec<f32>,
    /// Logits, `(N, K)` row-major.
    pub logits: Vec<f32>,
    /// Number of classes K.
    pub classes: usize,
}

/// Runs a model for attacks and counts its use.
pub struct Oracle<'a> {
    model: &'a dyn Model,
    gradients: AtomicU64,
    queries: AtomicU64,
}

impl<'a> Oracle<'a> {
    /// Wraps `model`.
    pub fn new(model: &'a dyn Model) -> Self {
        Oracle {
            model,
            gradients: AtomicU64::new(0),
            queries: AtomicU64::new(0),
        }
    }

    /// The model.
    pub fn model(&self) -> &dyn Model {
        self.model
    }

    /// Images times input gradients computed so far.
    pub fn gradient_count(&self) -> u64 {
        self.gradients.load(Ordering::Relaxed)
    }

    /// Images times forward passes without gradient so far.
    pub fn query_count(&self) -> u64 {
        self.queries.load(Ordering::Relaxed)
    }

    fn tensor(&self, x: &[f32], shape: [usize; 4]) -> Result<Tensor> {
        Tensor::from_slice(x, shape.to_vec(), &self.model.device())
    }

    /// Logits of `x`, `(N, K)` row-major, and K.
    ///
    /// # Shapes
    /// `x`: `N·C·H·W` values of shape `shape`.
    pub fn logits(&self, x: &[f32], shape: [usize; 4]) -> Result<(Vec<f32>, usize)> {
        let z = self.model.logits(&self.tensor(x, shape)?)?.detach();
        self.queries.fetch_add(shape[0] as u64, Ordering::Relaxed);
        let k = z.dim(1)?;
        Ok((z.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?, k))
    }

    /// Per-sample `loss` of `x` against `batch`'s labels (or targets) and its input gradient.
    ///
    /// # Shapes
    /// `x`: `N·C·H·W` values of `batch.shape`.
    pub fn loss_grad(&self, x: &[f32], batch: &Batch, loss: LossKind) -> Result<LossGrad> {
        let var = Var::from_tensor(&self.tensor(x, batch.shape)?)?;
        let z = self.model.logits(var.as_tensor())?.to_dtype(DType::F32)?;
        let per_sample = objective(&z, &batch.labels, batch.targets.as_deref(), loss)?;
        let grads = per_sample.sum_all()?.backward()?;
        let g = match grads.get(var.as_tensor()) {
            Some(g) => g.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?,
            // The logits do not depend on the input at all: the gradient is zero.
            None => vec![0.0; x.len()],
        };
        self.gradients
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        let classes = z.dim(1)?;
        Ok(LossGrad {
            loss: per_sample.to_vec1::<f32>()?,
            grad: g,
            logits: z.detach().flatten_all()?.to_vec1::<f32>()?,
            classes,
        })
    }
}

/// The per-sample objective of `loss`.
///
/// # Shapes
/// `z`: `(N, K)` logits → `(N,)`.
pub fn objective(
    z: &Tensor,
    labels: &[u32],
    targets: Option<&[u32]>,
    loss: LossKind,
) -> Result<Tensor> {
    let (n, k) = z.dims2()?;
    let dev = z.device();
    let onehot = |cls: &[u32]| -> Result<Tensor> {
        let mut v = vec![0f32; n * k];
        for (i, &c) in cls.iter().enumerate() {
            v[i * k + c as usize] = 1.0;
        }
        Tensor::from_vec(v, (n, k), dev)
    };
    let pick = |oh: &Tensor| -> Result<Tensor> { (z * oh)?.sum(1) };
    let max_other = |oh: &Tensor| -> Result<Tensor> { (z - oh.affine(1e9, 0.0)?)?.max(1) };
    let y = onehot(labels)?;
    let zy = pick(&y)?;
    match (loss, targets) {
        (LossKind::CrossEntropy, None) => logsumexp(z)? - zy,
        (LossKind::CrossEntropy, Some(t)) => pick(&onehot(t)?)? - logsumexp(z)?,
        (LossKind::Margin, None) => max_other(&y)? - zy,
        (LossKind::Margin, Some(t)) => {
            let t = onehot(t)?;
            pick(&t)? - max_other(&t)?
        }
        (LossKind::LogitGap, None) => {
            candle_core::bail!("the logit-gap loss z_t - z_y needs target classes")
        }
        (LossKind::LogitGap, Some(t)) => pick(&onehot(t)?)? - zy,
        (LossKind::Dlr, t) => {
            let need = if t.is_some() { 4 } else { 3 };
            if k < need {
                candle_core::bail!("the DLR loss needs at least {need} classes, the model has {k}");
            }
            let (sorted, _) = z.sort_last_dim(false)?;
            let s = |j: usize| sorted.narrow(D::Minus1, j, 1).and_then(|t| t.squeeze(1));
            match t {
                None => {
                    let den = (s(0)? - s(2)?)?.affine(1.0, 1e-12)?;
                    (max_other(&y)? - zy)?.div(&den)
                }
                Some(t) => {
                    let zt = pick(&onehot(t)?)?;
                    let den = (s(0)? - (s(2)? + s(3)?)?.affine(0.5, 0.0)?)?.affine(1.0, 1e-12)?;
                    (zt - zy)?.div(&den)
                }
            }
        }
    }
}

/// `log Σ_j exp z_j` per row, stable.
///
/// # Shapes
/// `(N, K)` → `(N,)`.
fn logsumexp(z: &Tensor) -> Result<Tensor> {
    let m = z.max_keepdim(1)?.detach();
    z.broadcast_sub(&m)?.exp()?.sum(1)?.log()? + m.squeeze(1)?
}

impl Batch {
    /// The samples at positions `keep`, with their labels, targets and global indices (so their
    /// random draws are unchanged).
    pub fn subset(&self, keep: &[usize]) -> Batch {
        let d = self.dim();
        let mut x = Vec::with_capacity(keep.len() * d);
        for &i in keep {
            x.extend_from_slice(&self.x[i * d..(i + 1) * d]);
        }
        Batch {
            x,
            shape: [keep.len(), self.shape[1], self.shape[2], self.shape[3]],
            labels: keep.iter().map(|&i| self.labels[i]).collect(),
            targets: self
                .targets
                .as_ref()
                .map(|t| keep.iter().map(|&i| t[i]).collect()),
            indices: keep.iter().map(|&i| self.indices[i]).collect(),
            seed: self.seed,
        }
    }

    /// Whether logits row `row` of sample `i` predicts its true label (whatever the targets).
    pub fn is_correct(&self, i: usize, row: &[f32]) -> bool {
        ops::argmax(row) as u32 == self.labels[i]
    }

    /// Per sample, whether `(N, K)` row-major logits `z` predict its true label: the images an
    /// attack that counts any misclassification still has to break.
    pub fn correct(&self, z: &[f32], k: usize) -> Vec<bool> {
        (0..self.len())
            .map(|i| self.is_correct(i, &z[i * k..(i + 1) * k]))
            .collect()
    }

    /// Whether logits row `row` of sample `i` counts as a success: a wrong class when
    /// untargeted, the target class when targeted.
    pub fn is_success(&self, i: usize, row: &[f32]) -> bool {
        let p = ops::argmax(row) as u32;
        match &self.targets {
            None => p != self.labels[i],
            Some(t) => p == t[i],
        }
    }

    /// Logit margin of sample `i` (positive once the attack succeeds): `max_{j≠y} z_j − z_y`,
    /// or `z_t − max_{j≠t} z_j` when targeted.
    pub fn margin(&self, i: usize, row: &[f32]) -> f32 {
        let (c, sgn) = match &self.targets {
            None => (self.labels[i] as usize, -1.0),
            Some(t) => (t[i] as usize, 1.0),
        };
        let other = row
            .iter()
            .enumerate()
            .filter(|&(j, _)| j != c)
            .fold(f32::NEG_INFINITY, |m, (_, &v)| m.max(v));
        sgn * (row[c] - other)
    }
}
