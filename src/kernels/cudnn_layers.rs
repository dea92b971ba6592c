//! The cuDNN calls of [`super::gpu_layers`] (feature `cudnn`): BatchNorm in training mode
//! (`CUDNN_BATCHNORM_SPATIAL`, forward and backward) and 2×2 max-pooling with stride 2
//! (`CUDNN_POOLING_MAX_DETERMINISTIC`, forward and backward), f32, on the device's own stream.
//!
//! cudarc's safe cuDNN layer has neither call and keeps its handles' raw pointers to itself, so
//! this module holds its own raw handle per device and thread (bound to the device's stream, so
//! that the calls stay ordered with candle's kernels) and makes its descriptors per call: a few
//! host-side microseconds, against the ten or so kernel launches per pass they replace.

use super::gpu_layers::{pooled_dims, BnPack};
use candle_core::cuda_backend::cudarc::cudnn::{result, sys};
use candle_core::cuda_backend::cudarc::driver::{CudaSlice, CudaView, DevicePtr, DevicePtrMut};
use candle_core::cuda_backend::{CudaDevice, DeviceId};
use candle_core::{CudaStorage, Layout, Result, Shape};
use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::c_void;

/// The name errors give these operations.
const OP: &str = "cuDNN";

/// A cuDNN handle bound to one device's stream.
struct Handle(sys::cudnnHandle_t);

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: made by `create_handle` and dropped once.
        let _ = unsafe { result::destroy_handle(self.0) };
    }
}

thread_local! {
    static HANDLES: RefCell<HashMap<DeviceId, Handle>> = RefCell::new(HashMap::new());
}

/// Runs `f` with this thread's handle of `dev`, made on the first call.
fn with_handle<R>(dev: &CudaDevice, f: impl FnOnce(sys::cudnnHandle_t) -> Result<R>) -> Result<R> {
    dev.cuda_stream().context().bind_to_thread()?;
    HANDLES.with(|h| {
        let mut h = h.borrow_mut();
        let handle = match h.entry(dev.id()) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let raw = result::create_handle()?;
                let handle = Handle(raw);
                // SAFETY: a fresh handle, and the stream of a live device.
                unsafe { result::set_stream(raw, dev.cuda_stream().cu_stream() as *mut _) }?;
                e.insert(handle)
            }
        };
        f(handle.0)
    })
}

/// A 4-D f32 tensor descriptor in NCHW order.
struct TensorDesc(sys::cudnnTensorDescriptor_t);

impl TensorDesc {
    fn new(dims: [usize; 4]) -> Result<TensorDesc> {
        let d = TensorDesc(result::create_tensor_descriptor()?);
        let int = |v: usize| {
            std::ffi::c_int::try_from(v).map_err(|_| {
                candle_core::Error::Msg(format!("cuDNN: dimension {v} of {dims:?} is too large"))
            })
        };
        let dims = [int(dims[0])?, int(dims[1])?, int(dims[2])?, int(dims[3])?];
        // SAFETY: a descriptor just created and not yet destroyed.
        unsafe {
            result::set_tensor4d_descriptor(
                d.0,
                sys::cudnnTensorFormat_t::CUDNN_TENSOR_NCHW,
                sys::cudnnDataType_t::CUDNN_DATA_FLOAT,
                dims,
            )
        }?;
        Ok(d)
    }
}

impl Drop for TensorDesc {
    fn drop(&mut self) {
        // SAFETY: made by `create_tensor_descriptor` and dropped once.
        let _ = unsafe { result::destroy_tensor_descriptor(self.0) };
    }
}

/// The 2×2, stride-2 deterministic max-pooling descriptor.
struct PoolDesc(sys::cudnnPoolingDescriptor_t);

impl PoolDesc {
    fn new() -> Result<PoolDesc> {
        let d = PoolDesc(result::create_pooling_descriptor()?);
        // SAFETY: a descriptor just created; window, padding and strides have two entries each.
        // NaN propagates, so that a diverged training is caught at its loss.
        unsafe {
            result::set_pooling_descriptor(
                d.0,
                sys::cudnnPoolingMode_t::CUDNN_POOLING_MAX_DETERMINISTIC,
                sys::cudnnNanPropagation_t::CUDNN_PROPAGATE_NAN,
                2,
                &[2, 2],
                &[0, 0],
                &[2, 2],
            )
        }?;
        Ok(d)
    }
}

impl Drop for PoolDesc {
    fn drop(&mut self) {
        // SAFETY: made by `create_pooling_descriptor` and dropped once.
        let _ = unsafe { sys::cudnnDestroyPoolingDescriptor(self.0) };
    }
}

/// The f32 values of a contiguous argument of operation `op`, which must hold exactly `len` of
/// them.
pub(super) fn view<'a>(
    op: &str,
    s: &'a CudaStorage,
    l: &Layout,
    len: usize,
    what: &str,
) -> Result<CudaView<'a, f32>> {
    let (start, end) = l
        .contiguous_offsets()
        .ok_or_else(|| candle_core::Error::Msg(format!("{op}: the {what} must be contiguous")))?;
    if end - start != len {
        candle_core::bail!(
            "{op}: the {what} has {} values, expected {len}",
            end - start
        )
    }
    Ok(s.as_cuda_slice::<f32>()?.slice(start..end))
}

/// The device of the first argument of operation `op`, after checking that the others are on
/// it.
pub(super) fn one_device<'a>(op: &str, storages: &[&'a CudaStorage]) -> Result<&'a CudaDevice> {
    let dev = &storages[0].device;
    if storages.iter().any(|s| s.device.id() != dev.id()) {
        candle_core::bail!("{op}: arguments on different devices")
    }
    Ok(dev)
}

/// Address of `offset` f32 values past `base`.
fn at(base: u64, offset: usize) -> *mut c_void {
    (base as usize + offset * std::mem::size_of::<f32>()) as *mut c_void
}

fn check(status: sys::cudnnStatus_t, call: &str) -> Result<()> {
    if status == sys::cudnnStatus_t::CUDNN_STATUS_SUCCESS {
        Ok(())
    } else {
        candle_core::bail!("cuDNN {call} failed: {status:?}")
    }
}

/// Scaling factors α = 1 and β = 0, as cuDNN reads them for f32 data: results are written,
/// not added.
static ONE: f32 = 1.0;
static ZERO: f32 = 0.0;

fn one() -> *const c_void {
    (&ONE as *const f32).cast()
}

fn zero() -> *const c_void {
    (&ZERO as *const f32).cast()
}

/// Runs one cuDNN call on `dev`'s stream with this thread's handle: `call` gets the handle, the
/// addresses of `inputs` (in their order) and that of `out`, and returns cuDNN's status; `out`
/// then becomes a candle storage of `shape`.
fn launch(
    dev: &CudaDevice,
    inputs: &[&CudaView<'_, f32>],
    mut out: CudaSlice<f32>,
    shape: Shape,
    name: &str,
    call: impl FnOnce(sys::cudnnHandle_t, &[u64], u64) -> sys::cudnnStatus_t,
) -> Result<(CudaStorage, Shape)> {
    let stream = dev.cuda_stream();
    with_handle(dev, |handle| {
        // The guards order the buffers' other uses after this call; kept until it is queued.
        let guards: Vec<_> = inputs.iter().map(|v| v.device_ptr(&stream)).collect();
        let addrs: Vec<u64> = guards.iter().map(|g| g.0).collect();
        let (po, _ro) = out.device_ptr_mut(&stream);
        check(call(handle, &addrs, po), name)
    })?;
    Ok((CudaStorage::wrap_cuda_slice(out, dev.clone()), shape))
}

/// BatchNorm's forward pass in training mode, packed as [`BnPack`] says.
///
/// # Shapes
/// `x (N, C, H, W)`, `γ (C,)`, `β (C,)` → `(N·C·H·W + 3C,)`.
pub(super) fn bn_forward(
    eps: f64,
    (sx, lx): (&CudaStorage, &Layout),
    (sg, lg): (&CudaStorage, &Layout),
    (sb, lb): (&CudaStorage, &Layout),
) -> Result<(CudaStorage, Shape)> {
    let pack = BnPack::new(lx.dims())?;
    let c = pack.channels();
    let dev = one_device(OP, &[sx, sg, sb])?;
    let x = view(OP, sx, lx, pack.values(), "input")?;
    let gamma = view(OP, sg, lg, c, "scale")?;
    let beta = view(OP, sb, lb, c, "shift")?;
    // SAFETY: cuDNN writes y, the mean and inv_std, and the copy writes γ's block: every value.
    let mut out = unsafe { dev.alloc::<f32>(pack.forward_len())? };
    dev.memcpy_dtod(&gamma, &mut out.slice_mut(pack.gamma()))?;
    let (data, per_channel) = (TensorDesc::new(pack.dims)?, TensorDesc::new([1, c, 1, 1])?);
    let shape = Shape::from(pack.forward_len());
    launch(
        dev,
        &[&x, &gamma, &beta],
        out,
        shape,
        "BatchNormalizationForwardTraining",
        |h, a, po| {
            // SAFETY: the descriptors describe the buffers (x and y: `pack.dims`, contiguous NCHW;
            // γ, β and the saved statistics: C values each, inside `out` at `pack`'s offsets); the
            // running averages are not updated (null, as cuDNN allows), the caller does that.
            unsafe {
                sys::cudnnBatchNormalizationForwardTraining(
                    h,
                    sys::cudnnBatchNormMode_t::CUDNN_BATCHNORM_SPATIAL,
                    one(),
                    zero(),
                    data.0,
                    a[0] as *const c_void,
                    data.0,
                    at(po, pack.data().start),
                    per_channel.0,
                    a[1] as *const c_void,
                    a[2] as *const c_void,
                    0.0,
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    eps,
                    at(po, pack.mean().start),
                    at(po, pack.inv_std().start),
                )
            }
        },
    )
}

/// BatchNorm's backward pass from `x`, the gradient of the packed forward output (its `y`
/// part) and the packed forward output (mean, inv_std, γ), packed as [`BnPack`] says.
///
/// # Shapes
/// `x (N, C, H, W)`, `(N·C·H·W + 3C,)` twice → `(N·C·H·W + 2C,)`.
pub(super) fn bn_backward(
    eps: f64,
    (sx, lx): (&CudaStorage, &Layout),
    (sd, ld): (&CudaStorage, &Layout),
    (sr, lr): (&CudaStorage, &Layout),
) -> Result<(CudaStorage, Shape)> {
    let pack = BnPack::new(lx.dims())?;
    let dev = one_device(OP, &[sx, sd, sr])?;
    let x = view(OP, sx, lx, pack.values(), "input")?;
    let grad = view(OP, sd, ld, pack.forward_len(), "output gradient")?;
    let res = view(OP, sr, lr, pack.forward_len(), "forward output")?;
    // SAFETY: cuDNN writes dx, dγ and dβ (β = 0 for both): every value.
    let out = unsafe { dev.alloc::<f32>(pack.backward_len())? };
    let c = pack.channels();
    let (data, per_channel) = (TensorDesc::new(pack.dims)?, TensorDesc::new([1, c, 1, 1])?);
    let shape = Shape::from(pack.backward_len());
    launch(
        dev,
        &[&x, &grad, &res],
        out,
        shape,
        "BatchNormalizationBackward",
        |h, a, po| {
            let (pd, pr) = (a[1], a[2]);
            // SAFETY: as in `bn_forward`; dy is the `y` part of the gradient, the saved statistics
            // and γ are read from the forward output, and dx, dγ, dβ written at `pack`'s offsets.
            unsafe {
                sys::cudnnBatchNormalizationBackward(
                    h,
                    sys::cudnnBatchNormMode_t::CUDNN_BATCHNORM_SPATIAL,
                    one(),
                    zero(),
                    one(),
                    zero(),
                    data.0,
                    a[0] as *const c_void,
                    data.0,
                    at(pd, pack.data().start),
                    data.0,
                    at(po, pack.data().start),
                    per_channel.0,
                    at(pr, pack.gamma().start),
                    at(po, pack.dgamma().start),
                    at(po, pack.dbeta().start),
                    eps,
                    at(pr, pack.mean().start),
                    at(pr, pack.inv_std().start),
                )
            }
        },
    )
}

/// The input and pooled descriptors of `dims` and the pooling descriptor.
fn pool_descs(dims: &[usize], out: [usize; 4]) -> Result<(TensorDesc, TensorDesc, PoolDesc)> {
    Ok((
        TensorDesc::new([dims[0], dims[1], dims[2], dims[3]])?,
        TensorDesc::new(out)?,
        PoolDesc::new()?,
    ))
}

/// 2×2 max-pooling with stride 2.
///
/// # Shapes
/// `x (N, C, H, W)` → `(N, C, H/2, W/2)`.
pub(super) fn pool_forward((sx, lx): (&CudaStorage, &Layout)) -> Result<(CudaStorage, Shape)> {
    let dims = lx.dims();
    let out_dims = pooled_dims(dims)?;
    let dev = &sx.device;
    let x = view(OP, sx, lx, dims.iter().product(), "input")?;
    // SAFETY: the pooling writes every output value (β = 0).
    let out = unsafe { dev.alloc::<f32>(out_dims.iter().product())? };
    let (xd, yd, pool) = pool_descs(dims, out_dims)?;
    let shape = Shape::from(out_dims.to_vec());
    launch(dev, &[&x], out, shape, "PoolingForward", |h, a, po| {
        // SAFETY: the descriptors describe the contiguous buffers; an odd last row or column
        // is left out, as the descriptor's output dimensions say.
        unsafe {
            sys::cudnnPoolingForward(
                h,
                pool.0,
                one(),
                xd.0,
                a[0] as *const c_void,
                zero(),
                yd.0,
                po as *mut c_void,
            )
        }
    })
}

/// The gradient of 2×2 max-pooling's input from `x`, the pooled `y` and its gradient `dy`.
///
/// # Shapes
/// `x (N, C, H, W)`, `y`, `dy (N, C, H/2, W/2)` → `(N, C, H, W)`.
pub(super) fn pool_backward(
    (sx, lx): (&CudaStorage, &Layout),
    (sy, ly): (&CudaStorage, &Layout),
    (sd, ld): (&CudaStorage, &Layout),
) -> Result<(CudaStorage, Shape)> {
    let dims = lx.dims();
    let out_dims = pooled_dims(dims)?;
    let dev = one_device(OP, &[sx, sy, sd])?;
    let n_in = dims.iter().product();
    let n_out = out_dims.iter().product();
    let x = view(OP, sx, lx, n_in, "input")?;
    let y = view(OP, sy, ly, n_out, "pooled output")?;
    let dy = view(OP, sd, ld, n_out, "output gradient")?;
    // Zeroed: an odd last row or column gets no gradient, and cuDNN may leave it unwritten.
    let dx = dev.alloc_zeros::<f32>(n_in)?;
    let (xd, yd, pool) = pool_descs(dims, out_dims)?;
    let shape = Shape::from(dims.to_vec());
    launch(
        dev,
        &[&x, &y, &dy],
        dx,
        shape,
        "PoolingBackward",
        |h, a, po| {
            // SAFETY: the descriptors describe the contiguous buffers; y is the forward output of
            // this x under the same descriptor.
            unsafe {
                sys::cudnnPoolingBackward(
                    h,
                    pool.0,
                    one(),
                    yd.0,
                    a[1] as *const c_void,
                    yd.0,
                    a[2] as *const c_void,
                    xd.0,
                    a[0] as *const c_void,
                    zero(),
                    xd.0,
                    po as *mut c_void,
                )
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use crate::kernels::testing::uniform;
    use crate::kernels::{batch_norm, gpu_layers, max_pool};
    use candle_core::{DType, Device, Tensor, Var};

    fn host(t: &Tensor) -> Vec<f32> {
        t.flatten_all()
            .unwrap()
            .to_device(&Device::Cpu)
            .unwrap()
            .to_dtype(DType::F32)
            .unwrap()
            .to_vec1()
            .unwrap()
    }

    /// Asserts `got` within `tol` of `want`'s largest magnitude, and prints the comparison for
    /// the GPU check's log.
    fn close(what: &str, got: &[f32], want: &[f32], tol: f32) {
        assert_eq!(got.len(), want.len(), "{what}");
        let scale = want.iter().fold(1e-6f32, |m, v| m.max(v.abs()));
        let err = got
            .iter()
            .zip(want)
            .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        eprintln!("{what}: max error {err:.2e}, scale {scale:.2e}, tolerance {tol:.0e} relative");
        assert!(err <= tol * scale, "{what}: error {err}, scale {scale}");
    }

    /// BatchNorm (no ReLU) of `x` with `γ`, `β` on `dev` and the gradients of `Σ r ⊙ y`:
    /// `[y, mean, biased var, dx, dγ, dβ]` on the host.
    fn bn_on(dev: &Device, x: &Tensor, g: &Tensor, b: &Tensor, r: &Tensor) -> Vec<Vec<f32>> {
        let to = |t: &Tensor| Var::from_tensor(&t.to_device(dev).unwrap()).unwrap();
        let (xv, gv, bv) = (to(x), to(g), to(b));
        let eps = 1e-3;
        let (y, mean, var) = if dev.is_cuda() {
            assert!(crate::kernels::cuda_kernels_apply(xv.as_tensor()));
            gpu_layers::batch_norm_train(&xv, &gv, &bv, eps).unwrap()
        } else {
            let (y, stats) = batch_norm::batch_norm_train(&xv, &gv, &bv, eps, false).unwrap();
            let col = |k: usize| {
                let v: Vec<f32> = stats
                    .iter()
                    .map(|s| if k == 0 { s.0 } else { s.1 } as f32)
                    .collect();
                Tensor::new(v, dev).unwrap()
            };
            (y, col(0), col(1))
        };
        let grads = (&y * r.to_device(dev).unwrap())
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let mut out = vec![host(&y), host(&mean), host(&var)];
        for v in [&xv, &gv, &bv] {
            out.push(host(grads.get(v).unwrap()));
        }
        out
    }

    /// Max-pooling of `x` on `dev` and the gradient of `Σ r ⊙ pool(x)`: `[y, dx]` on the host.
    fn pool_on(dev: &Device, x: &Tensor, r: &Tensor) -> [Vec<f32>; 2] {
        let xv = Var::from_tensor(&x.to_device(dev).unwrap()).unwrap();
        let y = max_pool::max_pool2(&xv).unwrap();
        let g = (&y * r.to_device(dev).unwrap())
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        [host(&y), host(g.get(&xv).unwrap())]
    }

    /// Oracle: dcrobust's CPU operations in f32. BatchNorm (every shape CNN-9's BatchNorms take
    /// at width 0.25, the 1×1 `fc6` output, odd channel counts and sizes, one channel): output,
    /// batch mean and biased variance, and the gradients of x, γ and β, within 1e-4 of each
    /// reference's largest magnitude (f32 sums in another order). Max-pooling of values without
    /// ties (odd sizes included): the same bits, values and gradient, since a maximum is exact;
    /// with ties (a ReLU's zeros), each window's gradient lands whole on one of its maxima. A
    /// second GPU run gives the same bits. Needs a CUDA device: without one it says so and
    /// passes, unless `DCROBUST_REQUIRE_GPU` is set.
    #[test]
    fn cudnn_layers_match_the_cpu_operations() {
        let Some(dev) = crate::kernels::testing::cuda_or_skip("the cuDNN layer comparison") else {
            return;
        };
        let f32s = |t: Tensor| t.to_dtype(DType::F32).unwrap();
        let bn_cases = [
            [8, 32, 32, 32],
            [8, 48, 16, 16],
            [8, 64, 8, 8],
            [16, 64, 1, 1],
            [3, 13, 5, 7],
            [2, 1, 2, 1],
        ];
        for (i, dims) in bn_cases.iter().enumerate() {
            let seed = 100 + 10 * i as u64;
            let c = dims[1];
            let x = f32s(uniform(dims, -2.0, 3.0, seed));
            let g = f32s(uniform(&[c], 0.5, 1.5, seed + 1));
            let b = f32s(uniform(&[c], -0.5, 0.5, seed + 2));
            let r = f32s(uniform(dims, -1.0, 1.0, seed + 3));
            let want = bn_on(&Device::Cpu, &x, &g, &b, &r);
            let got = bn_on(&dev, &x, &g, &b, &r);
            for (k, what) in ["y", "mean", "var", "dx", "dgamma", "dbeta"]
                .iter()
                .enumerate()
            {
                close(
                    &format!("batch_norm {dims:?} {what}"),
                    &got[k],
                    &want[k],
                    1e-4,
                );
            }
            assert_eq!(got, bn_on(&dev, &x, &g, &b, &r), "second run, {dims:?}");
        }
        for (i, dims) in [[4, 8, 32, 32], [2, 3, 5, 7], [1, 1, 2, 2]]
            .iter()
            .enumerate()
        {
            let seed = 200 + 10 * i as u64;
            let x = f32s(uniform(dims, -1.0, 1.0, seed));
            let pooled = [dims[0], dims[1], dims[2] / 2, dims[3] / 2];
            let r = f32s(uniform(&pooled, -1.0, 1.0, seed + 1));
            let want = pool_on(&Device::Cpu, &x, &r);
            let got = pool_on(&dev, &x, &r);
            assert_eq!(got, want, "max_pool2 {dims:?}");
            assert_eq!(got, pool_on(&dev, &x, &r), "second run, {dims:?}");
            // Ties: a quarter to all of each window at 0.
            let tied = x.relu().unwrap();
            let [y, dx] = pool_on(&dev, &tied, &r);
            let [want_y, _] = pool_on(&Device::Cpu, &tied, &r);
            assert_eq!(y, want_y, "max_pool2 with ties {dims:?}");
            let xs = host(&tied);
            let rs = host(&r);
            let [n, c, h, w] = *dims;
            let (oh, ow) = (h / 2, w / 2);
            for p in 0..n * c {
                for i in 0..oh {
                    for j in 0..ow {
                        let o = (p * oh + i) * ow + j;
                        let at = |a: usize, b: usize| (p * h + 2 * i + a) * w + 2 * j + b;
                        let win = [at(0, 0), at(0, 1), at(1, 0), at(1, 1)];
                        let got: Vec<usize> =
                            win.iter().copied().filter(|&k| dx[k] != 0.0).collect();
                        assert!(got.len() <= 1, "window {o}: gradient split over {got:?}");
                        if rs[o] != 0.0 {
                            assert_eq!(got.len(), 1, "window {o}: gradient lost");
                            assert_eq!(dx[got[0]], rs[o], "window {o}");
                            assert_eq!(xs[got[0]], y[o], "window {o}: not a maximum");
                        }
                    }
                }
            }
        }
    }
}
