//! BatchNorm in training mode and 2×2 max-pooling on cuDNN (feature `cudnn`, CUDA, f32): each
//! pass one cuDNN call (`cudnnBatchNormalizationForwardTraining` and
//! `cudnnBatchNormalizationBackward`, `cudnnPoolingForward` and `cudnnPoolingBackward`) instead
//! of candle's composite operations, about ten kernels per BatchNorm pass and seven or more for
//! the pooling's backward pass. The operations are defined here for every build, so that the
//! callers need no `cfg`; their `cuda_fwd` is in `cudnn_layers`, and on any other device they
//! refuse to run (the callers check [`super::cuda_kernels_apply`] first).
//!
//! A candle operation returns one tensor, so BatchNorm's forward pass returns one buffer that
//! packs the output with what the backward pass and the running averages need ([`BnPack`]): the
//! batch mean and the inverse standard deviation `1/sqrt(var + eps)` that cuDNN saves, and a copy
//! of γ, which cuDNN's backward pass reads. Its backward pass returns `dx`, `dγ` and `dβ` packed the
//! same way. Nothing is read back to the host.
//!
//! Numbers: cuDNN sums in its own order, so values differ from the CPU kernels in the last bits
//! (the GPU test's tolerances: `cudnn_layers`); both BatchNorm calls and the pooling with
//! `CUDNN_POOLING_MAX_DETERMINISTIC` give the same bits on every run. The pooling routes each
//! window's gradient to one maximum, as the CPU kernel does to the first.

use candle_core::{CpuStorage, CustomOp1, CustomOp3, Layout, Result, Shape, Tensor};
use std::ops::Range;

/// Where each part of BatchNorm's packed buffers lies, for an input `(N, C, H, W)`: the forward
/// output `[y (N·C·H·W) | mean (C) | inv_std (C) | γ (C)]`, the backward output
/// `[dx (N·C·H·W) | dγ (C) | dβ (C)]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BnPack {
    /// The input's dimensions `(N, C, H, W)`.
    pub(crate) dims: [usize; 4],
}

impl BnPack {
    /// The pack of an input of `dims`; an error unless it is `(N, C, H, W)` with at least two
    /// values per channel (cuDNN refuses a batch variance of one value).
    pub(crate) fn new(dims: &[usize]) -> Result<BnPack> {
        let &[n, c, h, w] = dims else {
            candle_core::bail!("cuDNN batch_norm: expected (N, C, H, W), got {dims:?}")
        };
        if n * h * w < 2 || c == 0 {
            candle_core::bail!(
                "cuDNN batch_norm: needs two or more values per channel and one channel, got {dims:?}"
            )
        }
        Ok(BnPack { dims: [n, c, h, w] })
    }

    /// Channels.
    pub(crate) fn channels(&self) -> usize {
        self.dims[1]
    }

    /// Values of the input (and of `y`, `dx`).
    pub(crate) fn values(&self) -> usize {
        self.dims.iter().product()
    }

    /// Length of the forward output.
    #[cfg_attr(not(feature = "cudnn"), allow(dead_code))] // read by the cuDNN calls only
    pub(crate) fn forward_len(&self) -> usize {
        self.values() + 3 * self.channels()
    }

    /// Length of the backward output.
    #[cfg_attr(not(feature = "cudnn"), allow(dead_code))] // read by the cuDNN calls only
    pub(crate) fn backward_len(&self) -> usize {
        self.values() + 2 * self.channels()
    }

    /// The `k`-th per-channel block after the values.
    fn block(&self, k: usize) -> Range<usize> {
        let start = self.values() + k * self.channels();
        start..start + self.channels()
    }

    /// `y` in the forward output, `dx` in the backward output.
    pub(crate) fn data(&self) -> Range<usize> {
        0..self.values()
    }

    /// The batch mean in the forward output.
    pub(crate) fn mean(&self) -> Range<usize> {
        self.block(0)
    }

    /// `1/sqrt(var + eps)` in the forward output.
    pub(crate) fn inv_std(&self) -> Range<usize> {
        self.block(1)
    }

    /// The copy of γ in the forward output.
    #[cfg_attr(not(feature = "cudnn"), allow(dead_code))] // read by the cuDNN calls only
    pub(crate) fn gamma(&self) -> Range<usize> {
        self.block(2)
    }

    /// `dγ` in the backward output.
    pub(crate) fn dgamma(&self) -> Range<usize> {
        self.block(0)
    }

    /// `dβ` in the backward output.
    pub(crate) fn dbeta(&self) -> Range<usize> {
        self.block(1)
    }
}

/// `range` of the 1-D tensor `t`.
fn part(t: &Tensor, range: Range<usize>) -> Result<Tensor> {
    t.narrow(0, range.start, range.len())
}

/// BatchNorm's forward pass in training mode.
struct BnForward {
    eps: f64,
}

/// BatchNorm's backward pass: arguments `x`, the gradient of the packed forward output, and the
/// packed forward output.
struct BnBackward {
    #[cfg_attr(not(feature = "cudnn"), allow(dead_code))] // read by the cuDNN call only
    eps: f64,
}

/// The error of an operation `name` that runs on a CUDA device only, asked to run elsewhere.
pub(crate) fn cpu_refused(name: &str) -> candle_core::Error {
    candle_core::Error::Msg(format!(
        "{name} runs on a CUDA device only, in a build with the `cudnn` feature"
    ))
}

impl CustomOp3 for BnForward {
    fn name(&self) -> &'static str {
        "cudnn-batch-norm"
    }

    fn cpu_fwd(
        &self,
        _: &CpuStorage,
        _: &Layout,
        _: &CpuStorage,
        _: &Layout,
        _: &CpuStorage,
        _: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        Err(cpu_refused(self.name()))
    }

    #[cfg(feature = "cudnn")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
        s3: &candle_core::CudaStorage,
        l3: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        super::cudnn_layers::bn_forward(self.eps, (s1, l1), (s2, l2), (s3, l3))
    }

    fn bwd(
        &self,
        x: &Tensor,
        _gamma: &Tensor,
        _beta: &Tensor,
        res: &Tensor,
        grad_res: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let pack = BnPack::new(x.dims())?;
        let grads =
            x.apply_op3_no_bwd(&grad_res.contiguous()?, res, &BnBackward { eps: self.eps })?;
        Ok((
            Some(part(&grads, pack.data())?.reshape(x.shape())?),
            Some(part(&grads, pack.dgamma())?),
            Some(part(&grads, pack.dbeta())?),
        ))
    }
}

impl CustomOp3 for BnBackward {
    fn name(&self) -> &'static str {
        "cudnn-batch-norm-backward"
    }

    fn cpu_fwd(
        &self,
        _: &CpuStorage,
        _: &Layout,
        _: &CpuStorage,
        _: &Layout,
        _: &CpuStorage,
        _: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        Err(cpu_refused(self.name()))
    }

    #[cfg(feature = "cudnn")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
        s3: &candle_core::CudaStorage,
        l3: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        super::cudnn_layers::bn_backward(self.eps, (s1, l1), (s2, l2), (s3, l3))
    }
}

/// The biased batch variance from cuDNN's saved `inv_std = 1/sqrt(var + eps)`:
/// `var = 1/inv_std² − eps`, clamped at 0 against rounding.
///
/// # Shapes
/// `inv_std`: `(C,)` → `(C,)`.
pub(crate) fn variance_of_inv_std(inv_std: &Tensor, eps: f64) -> Result<Tensor> {
    inv_std.sqr()?.recip()?.affine(1.0, -eps)?.relu()
}

/// BatchNorm in training mode on cuDNN: the normalised, scaled and shifted `x`, and the batch
/// mean and biased variance of each channel (detached), for the running averages. Only where
/// [`super::cuda_kernels_apply`] holds.
///
/// # Shapes
/// `x`: `(N, C, H, W)` with `N·H·W ≥ 2`; `gamma`, `beta`: `(C,)` → `(N, C, H, W)`, `(C,)`,
/// `(C,)`.
pub(crate) fn batch_norm_train(
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    eps: f64,
) -> Result<(Tensor, Tensor, Tensor)> {
    let pack = BnPack::new(x.dims())?;
    let x = x.contiguous()?;
    let out = x.apply_op3(&gamma.contiguous()?, &beta.contiguous()?, BnForward { eps })?;
    let y = part(&out, pack.data())?.reshape(x.shape())?;
    let stats = out.detach();
    let mean = part(&stats, pack.mean())?;
    let var = variance_of_inv_std(&part(&stats, pack.inv_std())?, eps)?;
    Ok((y, mean, var))
}

/// 2×2 max-pooling with stride 2, forward.
struct PoolForward;

/// Its backward pass: arguments `x`, the pooled `y` and its gradient.
struct PoolBackward;

impl CustomOp1 for PoolForward {
    fn name(&self) -> &'static str {
        "cudnn-max-pool2"
    }

    fn cpu_fwd(&self, _: &CpuStorage, _: &Layout) -> Result<(CpuStorage, Shape)> {
        Err(cpu_refused(self.name()))
    }

    #[cfg(feature = "cudnn")]
    fn cuda_fwd(
        &self,
        s: &candle_core::CudaStorage,
        l: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        super::cudnn_layers::pool_forward((s, l))
    }

    fn bwd(&self, x: &Tensor, res: &Tensor, grad_res: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(x.apply_op3_no_bwd(
            res,
            &grad_res.contiguous()?,
            &PoolBackward,
        )?))
    }
}

impl CustomOp3 for PoolBackward {
    fn name(&self) -> &'static str {
        "cudnn-max-pool2-backward"
    }

    fn cpu_fwd(
        &self,
        _: &CpuStorage,
        _: &Layout,
        _: &CpuStorage,
        _: &Layout,
        _: &CpuStorage,
        _: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        Err(cpu_refused(self.name()))
    }

    #[cfg(feature = "cudnn")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
        s3: &candle_core::CudaStorage,
        l3: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        super::cudnn_layers::pool_backward((s1, l1), (s2, l2), (s3, l3))
    }
}

/// The pooled dimensions of `(N, C, H, W)`: `(N, C, H/2, W/2)`, rounding down as the CPU kernel
/// and candle do; an error for any other rank or an empty result.
pub(crate) fn pooled_dims(dims: &[usize]) -> Result<[usize; 4]> {
    let &[n, c, h, w] = dims else {
        candle_core::bail!("cuDNN max_pool2: expected (N, C, H, W), got {dims:?}")
    };
    let out = [n, c, h / 2, w / 2];
    if out.iter().product::<usize>() == 0 {
        candle_core::bail!("cuDNN max_pool2: input {dims:?} pools to nothing")
    }
    Ok(out)
}

/// 2×2 max-pooling with stride 2 on cuDNN. Only where [`super::cuda_kernels_apply`] holds.
///
/// # Shapes
/// `x`: `(N, C, H, W)` → `(N, C, H/2, W/2)`.
pub(crate) fn max_pool2(x: &Tensor) -> Result<Tensor> {
    pooled_dims(x.dims())?;
    x.contiguous()?.apply_op1(PoolForward)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// Oracle: the layout written out by hand. For `(2, 3, 2, 2)` (24 values, 3 channels) the
    /// forward buffer is `[y 0..24 | mean 24..27 | inv_std 27..30 | γ 30..33]` and the backward
    /// buffer `[dx 0..24 | dγ 24..27 | dβ 27..30]`; and for every shape the parts tile each
    /// buffer with no gap or overlap.
    #[test]
    fn packed_parts_tile_the_buffers() {
        let p = BnPack::new(&[2, 3, 2, 2]).unwrap();
        assert_eq!(
            (p.data(), p.mean(), p.inv_std(), p.gamma()),
            (0..24, 24..27, 27..30, 30..33)
        );
        assert_eq!((p.dgamma(), p.dbeta()), (24..27, 27..30));
        assert_eq!((p.forward_len(), p.backward_len()), (33, 30));
        for dims in [
            [1, 1, 1, 2],
            [128, 32, 32, 32],
            [7, 13, 3, 5],
            [128, 64, 1, 1],
        ] {
            let p = BnPack::new(&dims).unwrap();
            let tiles = |parts: &[Range<usize>], len: usize| {
                let mut at = 0;
                for r in parts {
                    assert_eq!(r.start, at, "{dims:?}");
                    at = r.end;
                }
                assert_eq!(at, len, "{dims:?}");
            };
            tiles(
                &[p.data(), p.mean(), p.inv_std(), p.gamma()],
                p.forward_len(),
            );
            tiles(&[p.data(), p.dgamma(), p.dbeta()], p.backward_len());
        }
    }

    /// Oracle: cuDNN refuses a batch variance of a single value per channel and other ranks;
    /// the pack says so first, naming the shape. Pooling refuses a result with no element.
    #[test]
    fn shapes_cudnn_cannot_take_are_refused() {
        for bad in [&[1, 4, 1, 1][..], &[4, 0, 2, 2], &[2, 3, 4]] {
            let e = BnPack::new(bad).unwrap_err().to_string();
            assert!(e.contains(&format!("{bad:?}")), "{e}");
        }
        assert_eq!(pooled_dims(&[2, 3, 5, 4]).unwrap(), [2, 3, 2, 2]);
        assert!(pooled_dims(&[2, 3, 1, 4]).is_err());
        assert!(pooled_dims(&[3, 4]).is_err());
    }

    /// Oracle: the closed form. `inv_std = 1/sqrt(var + eps)` for var = 0.25, 2 and 0 with
    /// eps = 1e-3 gives back those variances (within f32 rounding), and a rounding that would
    /// make the variance negative gives 0.
    #[test]
    fn variance_comes_back_from_the_inverse_standard_deviation() {
        let eps = 1e-3;
        let vars = [0.25f64, 2.0, 0.0];
        let inv: Vec<f32> = vars
            .iter()
            .map(|v| (1.0 / (v + eps).sqrt()) as f32)
            .chain([(1.0 / eps.sqrt()) as f32 * 1.0001])
            .collect();
        let t = Tensor::new(inv, &Device::Cpu).unwrap();
        let got = variance_of_inv_std(&t, eps)
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        for (g, w) in got.iter().zip(vars.iter().chain([&0.0])) {
            assert!((f64::from(*g) - w).abs() <= 1e-6 * (1.0 + w), "{g} vs {w}");
        }
        assert_eq!(got[3], 0.0);
    }

    /// Oracle: the operations' own contract. Off cuDNN they refuse to run with an error naming
    /// what they need instead of computing anything.
    #[test]
    fn the_operations_refuse_the_cpu() {
        let x = Tensor::ones((2, 3, 4, 4), candle_core::DType::F32, &Device::Cpu).unwrap();
        let g = Tensor::ones(3, candle_core::DType::F32, &Device::Cpu).unwrap();
        let e = batch_norm_train(&x, &g, &g, 1e-3).unwrap_err().to_string();
        assert!(e.contains("runs on a CUDA device only"), "{e}");
        let e = max_pool2(&x).unwrap_err().to_string();
        assert!(e.contains("runs on a CUDA device only"), "{e}");
    }
}
