//! The three convolution passes on cuDNN (feature `cudnn`): forward (`cudnnConvolutionForward`),
//! input gradient (`cudnnConvolutionBackwardData`) and weight gradient
//! (`cudnnConvolutionBackwardFilter`), the `cuda_fwd` of [`super::conv`]'s three operations.
//! The calls go through cudarc's safe cuDNN layer as candle re-exports it, on the device's own
//! stream, so that they stay ordered with candle's kernels.
//!
//! cuDNN handles are neither `Send` nor `Sync`: each thread keeps, per candle device (its
//! `DeviceId`, which also names the device's stream), the handle, one plan per [`PlanKey`] (the
//! four descriptors, the algorithm and its workspace size, made on the shape's first call), and
//! one workspace buffer that only grows. What the plans contain is decided in
//! [`super::conv_plan`] (key, shapes, descriptor parameters, math type, algorithm policy), where
//! the CPU tests check it.

use super::conv::Geom;
use super::conv_plan::{
    self, BwdDataAlgo, BwdFilterAlgo, ConvMath, FwdAlgo, Pass, PassAlgo, PlanKey, WORKSPACE_LIMIT,
};
use candle_core::cuda_backend::cudarc::cudnn::{
    sys, ConvBackwardData, ConvBackwardFilter, ConvDescriptor, ConvForward, Cudnn,
    FilterDescriptor, TensorDescriptor,
};
use candle_core::cuda_backend::cudarc::driver::{CudaSlice, CudaView};
use candle_core::cuda_backend::{CudaDevice, DeviceId};
use candle_core::{CudaStorage, Layout, Result, Shape};
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

/// Plans kept per device and thread; past this the cache is emptied and refilled (evaluation
/// and attacks over many batch sizes would otherwise grow it without bound).
const MAX_PLANS: usize = 256;

/// The algorithm a plan runs, in cuDNN's type for its pass.
#[derive(Clone, Copy, Debug)]
enum Algo {
    Fwd(sys::cudnnConvolutionFwdAlgo_t),
    Data(sys::cudnnConvolutionBwdDataAlgo_t),
    Filter(sys::cudnnConvolutionBwdFilterAlgo_t),
}

/// One shape's and pass's descriptors, algorithm and workspace size.
struct Plan {
    conv: ConvDescriptor<f32>,
    /// The input `x`, or `dx` for the input gradient: `(N, C_in, H, W)`.
    x: TensorDescriptor<f32>,
    /// The filters `w`, or `dw` for the weight gradient: `(C_out, C_in, k, k)`.
    w: FilterDescriptor<f32>,
    /// The output `y`, or `dy` for both gradients: `(N, C_out, H', W')`.
    y: TensorDescriptor<f32>,
    algo: Algo,
    /// Workspace bytes `algo` needs.
    workspace: usize,
}

/// What one thread keeps for one device.
struct DeviceState {
    /// Bound to the device's stream.
    cudnn: Arc<Cudnn>,
    plans: HashMap<PlanKey, Plan>,
    /// Shared by every plan (the calls are ordered on one stream); only grows.
    workspace: Option<CudaSlice<u8>>,
}

thread_local! {
    static STATE: RefCell<HashMap<DeviceId, DeviceState>> = RefCell::new(HashMap::new());
}

fn fwd_sys(a: FwdAlgo) -> sys::cudnnConvolutionFwdAlgo_t {
    use sys::cudnnConvolutionFwdAlgo_t as S;
    match a {
        FwdAlgo::ImplicitGemm => S::CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM,
        FwdAlgo::ImplicitPrecompGemm => S::CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM,
        FwdAlgo::Gemm => S::CUDNN_CONVOLUTION_FWD_ALGO_GEMM,
        FwdAlgo::Direct => S::CUDNN_CONVOLUTION_FWD_ALGO_DIRECT,
        FwdAlgo::Fft => S::CUDNN_CONVOLUTION_FWD_ALGO_FFT,
        FwdAlgo::FftTiling => S::CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING,
        FwdAlgo::Winograd => S::CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD,
        FwdAlgo::WinogradNonfused => S::CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED,
    }
}

fn data_sys(a: BwdDataAlgo) -> sys::cudnnConvolutionBwdDataAlgo_t {
    use sys::cudnnConvolutionBwdDataAlgo_t as S;
    match a {
        BwdDataAlgo::Algo0 => S::CUDNN_CONVOLUTION_BWD_DATA_ALGO_0,
        BwdDataAlgo::Algo1 => S::CUDNN_CONVOLUTION_BWD_DATA_ALGO_1,
        BwdDataAlgo::Fft => S::CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT,
        BwdDataAlgo::FftTiling => S::CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT_TILING,
        BwdDataAlgo::Winograd => S::CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD,
        BwdDataAlgo::WinogradNonfused => S::CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD_NONFUSED,
    }
}

fn filter_sys(a: BwdFilterAlgo) -> sys::cudnnConvolutionBwdFilterAlgo_t {
    use sys::cudnnConvolutionBwdFilterAlgo_t as S;
    match a {
        BwdFilterAlgo::Algo0 => S::CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0,
        BwdFilterAlgo::Algo1 => S::CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1,
        BwdFilterAlgo::Fft => S::CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT,
        BwdFilterAlgo::Algo3 => S::CUDNN_CONVOLUTION_BWD_FILTER_ALGO_3,
        BwdFilterAlgo::Winograd => S::CUDNN_CONVOLUTION_BWD_FILTER_ALGO_WINOGRAD,
        BwdFilterAlgo::WinogradNonfused => S::CUDNN_CONVOLUTION_BWD_FILTER_ALGO_WINOGRAD_NONFUSED,
        BwdFilterAlgo::FftTiling => S::CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT_TILING,
    }
}

fn math_sys(m: ConvMath) -> sys::cudnnMathType_t {
    match m {
        ConvMath::Fma => sys::cudnnMathType_t::CUDNN_FMA_MATH,
        ConvMath::Tf32 => sys::cudnnMathType_t::CUDNN_TENSOR_OP_MATH,
    }
}

/// The algorithm cuDNN numbers `i` (from its heuristic), or an error for a number this code
/// does not know.
fn known<A: PassAlgo>(i: u32) -> Result<A> {
    A::from_index(i).ok_or_else(|| {
        candle_core::Error::Msg(format!("cuDNN conv2d: unknown algorithm number {i}"))
    })
}

/// Creates the descriptors of `key` and chooses its algorithm (one heuristic query and one or
/// two workspace queries, all on the host).
fn make_plan(cudnn: &Arc<Cudnn>, key: &PlanKey) -> Result<Plan> {
    let p = key.params()?;
    let nchw = sys::cudnnTensorFormat_t::CUDNN_TENSOR_NCHW;
    let mut conv = cudnn.create_conv2d::<f32>(
        p.pad,
        p.stride,
        p.dilation,
        sys::cudnnConvolutionMode_t::CUDNN_CROSS_CORRELATION,
    )?;
    conv.set_math_type(math_sys(key.math))?;
    let x = cudnn.create_4d_tensor::<f32>(nchw, p.x)?;
    let w = cudnn.create_4d_filter::<f32>(nchw, p.w)?;
    let y = cudnn.create_4d_tensor::<f32>(nchw, p.y)?;
    let (algo, workspace) = match key.pass {
        Pass::Forward => {
            let op = ConvForward {
                conv: &conv,
                x: &x,
                w: &w,
                y: &y,
            };
            let (a, bytes) = conv_plan::choose_algo(
                key.algos,
                WORKSPACE_LIMIT,
                || known::<FwdAlgo>(op.pick_algorithm()? as u32),
                |a| Ok(op.get_workspace_size(fwd_sys(a))?),
            )?;
            (Algo::Fwd(fwd_sys(a)), bytes)
        }
        Pass::BackwardData => {
            let op = ConvBackwardData {
                conv: &conv,
                dx: &x,
                w: &w,
                dy: &y,
            };
            let (a, bytes) = conv_plan::choose_algo(
                key.algos,
                WORKSPACE_LIMIT,
                || known::<BwdDataAlgo>(op.pick_algorithm()? as u32),
                |a| Ok(op.get_workspace_size(data_sys(a))?),
            )?;
            (Algo::Data(data_sys(a)), bytes)
        }
        Pass::BackwardFilter => {
            let op = ConvBackwardFilter {
                conv: &conv,
                x: &x,
                dw: &w,
                dy: &y,
            };
            let (a, bytes) = conv_plan::choose_algo(
                key.algos,
                WORKSPACE_LIMIT,
                || known::<BwdFilterAlgo>(op.pick_algorithm()? as u32),
                |a| Ok(op.get_workspace_size(filter_sys(a))?),
            )?;
            (Algo::Filter(filter_sys(a)), bytes)
        }
    };
    Ok(Plan {
        conv,
        x,
        w,
        y,
        algo,
        workspace,
    })
}

impl DeviceState {
    fn new(dev: &CudaDevice) -> Result<Self> {
        Ok(DeviceState {
            cudnn: Cudnn::new(dev.cuda_stream())?,
            plans: HashMap::new(),
            workspace: None,
        })
    }

    /// Runs `key`'s pass on its two arguments `a`, `b` (in [`PlanKey::arg_dims`]'s order) into
    /// `out`, planning the shape on its first call and growing the workspace when the plan
    /// needs more.
    fn run(
        &mut self,
        key: &PlanKey,
        dev: &CudaDevice,
        a: &CudaView<'_, f32>,
        b: &CudaView<'_, f32>,
        out: &mut CudaSlice<f32>,
    ) -> Result<()> {
        if !self.plans.contains_key(key) {
            if self.plans.len() >= MAX_PLANS {
                self.plans.clear();
            }
            let plan = make_plan(&self.cudnn, key)?;
            self.plans.insert(*key, plan);
        }
        let Some(plan) = self.plans.get(key) else {
            candle_core::bail!("cuDNN conv2d: plan for {key:?} missing after insertion")
        };
        if plan.workspace > self.workspace.as_ref().map_or(0, |w| w.len()) {
            // The old buffer is freed in stream order, after the calls that use it.
            self.workspace = None;
            self.workspace = Some(dev.alloc_zeros::<u8>(plan.workspace)?);
        }
        let ws = self.workspace.as_mut();
        let (one, zero) = (1f32, 0f32);
        // SAFETY: the descriptors were made from `key`, and the caller checked that `a`, `b`
        // and `out` are contiguous f32 buffers of exactly the shapes `key` gives them
        // (`arg_dims`, `out_dims`), on this plan's device and stream. β = 0: cuDNN only writes
        // `out`. The workspace holds at least the plan's bytes.
        unsafe {
            match plan.algo {
                Algo::Fwd(algo) => ConvForward {
                    conv: &plan.conv,
                    x: &plan.x,
                    w: &plan.w,
                    y: &plan.y,
                }
                .launch(algo, ws, (one, zero), a, b, out),
                Algo::Data(algo) => ConvBackwardData {
                    conv: &plan.conv,
                    dx: &plan.x,
                    w: &plan.w,
                    dy: &plan.y,
                }
                .launch(algo, ws, (one, zero), out, b, a),
                Algo::Filter(algo) => ConvBackwardFilter {
                    conv: &plan.conv,
                    x: &plan.x,
                    dw: &plan.w,
                    dy: &plan.y,
                }
                .launch(algo, ws, (one, zero), a, out, b),
            }
        }?;
        Ok(())
    }
}

/// The f32 values a contiguous layout covers, from its start offset.
fn view<'a>(s: &'a CudaStorage, l: &Layout, what: &str) -> Result<CudaView<'a, f32>> {
    let (start, end) = l.contiguous_offsets().ok_or_else(|| {
        candle_core::Error::Msg(format!("cuDNN conv2d: the {what} must be contiguous"))
    })?;
    Ok(s.as_cuda_slice::<f32>()?.slice(start..end))
}

/// One pass of the convolution `g` on cuDNN, the `cuda_fwd` of the convolution operations:
/// the arguments in the order the operation takes them, the result a new buffer on their
/// device. f32 only; both arguments contiguous (any start offset) on one device.
///
/// # Shapes
/// forward: `x (N, C_in, H, W)`, `w (C_out, C_in, k, k)` → `y (N, C_out, H', W')`;
/// input gradient: `dy (N, C_out, H', W')`, `w` → `dx (N, C_in, H, W)`;
/// weight gradient: `x`, `dy` → `dw (C_out, C_in, k, k)`.
pub(super) fn conv(
    pass: Pass,
    g: &Geom,
    (s1, l1): (&CudaStorage, &Layout),
    (s2, l2): (&CudaStorage, &Layout),
) -> Result<(CudaStorage, Shape)> {
    let key = PlanKey::new(g, pass, conv_plan::conv_math(), conv_plan::conv_algos());
    let [d1, d2] = key.arg_dims();
    if l1.dims() != d1 || l2.dims() != d2 {
        candle_core::bail!(
            "cuDNN conv2d ({pass:?}): expected arguments {d1:?} and {d2:?}, got {:?} and {:?}",
            l1.dims(),
            l2.dims()
        )
    }
    let dev = &s1.device;
    if s2.device.id() != dev.id() {
        candle_core::bail!("cuDNN conv2d: arguments on different devices")
    }
    let (a, b) = (
        view(s1, l1, "first argument")?,
        view(s2, l2, "second argument")?,
    );
    let out_dims = key.out_dims();
    // cuDNN runs in the current context; candle binds it too, but make sure.
    dev.cuda_stream().context().bind_to_thread()?;
    // SAFETY: every element is written by the pass (β = 0) before anything reads the buffer.
    let mut out = unsafe { dev.alloc::<f32>(out_dims.iter().product())? };
    STATE.with(|state| -> Result<()> {
        let mut state = state.borrow_mut();
        let st = match state.entry(dev.id()) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => e.insert(DeviceState::new(dev)?),
        };
        st.run(&key, dev, &a, &b, &mut out)
    })?;
    Ok((
        CudaStorage::wrap_cuda_slice(out, dev.clone()),
        Shape::from(out_dims.to_vec()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::conv::conv2d;
    use crate::kernels::conv_plan::{set_conv_algos, set_conv_math, ConvAlgos};
    use candle_core::{DType, Device, Tensor, Var};

    /// `conv2d` forward and backward of `L = Σ r ⊙ conv(x, w)` on `dev`, where `x` and `w` are
    /// the rows after the first of `x_big` and `w_big` (so both start at a nonzero offset):
    /// `y`, then the gradients of `x_big` and `w_big`, as f32 values on the host.
    fn run_on(
        dev: &Device,
        (x_big, w_big, r): (&Tensor, &Tensor, &Tensor),
        stride: usize,
        pad: usize,
    ) -> [Vec<f32>; 3] {
        let xv = Var::from_tensor(&x_big.to_device(dev).unwrap()).unwrap();
        let wv = Var::from_tensor(&w_big.to_device(dev).unwrap()).unwrap();
        let x = xv.narrow(0, 1, xv.dim(0).unwrap() - 1).unwrap();
        let w = wv.narrow(0, 1, wv.dim(0).unwrap() - 1).unwrap();
        if dev.is_cuda() {
            assert!(
                crate::kernels::cudnn_conv(&x, &w),
                "the cuDNN path must be taken"
            );
        }
        let y = conv2d(&x, &w, stride, pad).unwrap();
        let g = (&y * r.to_device(dev).unwrap())
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        [&y, g.get(&xv).unwrap(), g.get(&wv).unwrap()].map(|t| {
            t.flatten_all()
                .unwrap()
                .to_device(&Device::Cpu)
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
        })
    }

    /// Oracle: dcrobust's CPU convolution in f32 (values, input gradient, weight gradient),
    /// within 1e-4 of the reference's largest magnitude under FP32 math and 2e-2 under TF32,
    /// for every kind of convolution CNN-9 runs (3×3 pad 1 from 3 input channels, odd channel
    /// counts, batch 1, the 4×4 valid `fc6`, the 1×1 `score`, the one-channel norm
    /// convolutions) plus a stride-2 case, under every math type and algorithm policy; and, for
    /// the two deterministic policies, a second run giving the same bits. Needs a CUDA device:
    /// without one it says so and passes, unless `DCROBUST_REQUIRE_GPU` is set.
    #[test]
    fn cudnn_matches_the_cpu_operation() {
        let Some(dev) = crate::kernels::testing::cuda_or_skip("the cuDNN comparison") else {
            return;
        };
        // (N, C_in, H, C_out, k, stride, pad)
        let cases = [
            (2, 3, 32, 13, 3, 1, 1),
            (1, 13, 16, 19, 3, 1, 1),
            (16, 32, 32, 48, 3, 1, 1),
            (3, 25, 4, 25, 4, 1, 0),
            (3, 25, 1, 10, 1, 1, 0),
            (2, 1, 8, 1, 3, 1, 1),
            (1, 1, 4, 1, 4, 1, 0),
            (5, 7, 9, 11, 3, 2, 1),
        ];
        let _settings = crate::kernels::testing::conv_settings();
        for (i, &(n, c_in, h, c_out, k, s, p)) in cases.iter().enumerate() {
            let seed = 10 * i as u64;
            let f32s = |t: Tensor| t.to_dtype(DType::F32).unwrap();
            let x = f32s(crate::kernels::testing::uniform(
                &[n + 1, c_in, h, h],
                -1.0,
                1.0,
                seed,
            ));
            let w = f32s(crate::kernels::testing::uniform(
                &[c_out + 1, c_in, k, k],
                -1.0,
                1.0,
                seed + 1,
            ));
            let ho = (h + 2 * p - k) / s + 1;
            let r = f32s(crate::kernels::testing::uniform(
                &[n, c_out, ho, ho],
                -1.0,
                1.0,
                seed + 2,
            ));
            let want = run_on(&Device::Cpu, (&x, &w, &r), s, p);
            for math in [ConvMath::Fma, ConvMath::Tf32] {
                for algos in [
                    ConvAlgos::Deterministic,
                    ConvAlgos::Fixed,
                    ConvAlgos::Fastest,
                ] {
                    set_conv_math(math);
                    set_conv_algos(algos);
                    let got = run_on(&dev, (&x, &w, &r), s, p);
                    let tol = if math == ConvMath::Fma { 1e-4 } else { 2e-2 };
                    for (what, (g, r)) in ["y", "dx", "dw"].iter().zip(got.iter().zip(&want)) {
                        let scale = r.iter().fold(1f32, |m, v| m.max(v.abs()));
                        let err = g.iter().zip(r).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
                        // The GPU check's log (run with --nocapture) shows every comparison.
                        eprintln!(
                            "case {i} {what} ({math}, {algos}): max error {err:.2e}, scale \
                             {scale:.2e}, tolerance {:.0e} relative",
                            tol
                        );
                        assert!(
                            err <= tol * scale,
                            "case {i} {what} ({math}, {algos}): error {err}, scale {scale}"
                        );
                    }
                    if algos != ConvAlgos::Fastest {
                        let again = run_on(&dev, (&x, &w, &r), s, p);
                        let bits = |v: &[Vec<f32>; 3]| {
                            v.iter()
                                .map(|v| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>())
                                .collect::<Vec<_>>()
                        };
                        assert_eq!(bits(&got), bits(&again), "case {i} ({math}, {algos})");
                    }
                }
            }
        }
        set_conv_math(ConvMath::default());
        set_conv_algos(ConvAlgos::default());
    }

    /// Oracle: cudarc's bindings of `cudnn_cnn.h` — each of our algorithms must map to cuDNN's
    /// value with its own number, and the math types to `CUDNN_FMA_MATH` (FP32) and
    /// `CUDNN_TENSOR_OP_MATH` (TF32 allowed). Needs no GPU.
    #[test]
    fn algorithms_map_to_cudnn_numbers() {
        for &a in FwdAlgo::ALL {
            assert_eq!(fwd_sys(a) as u32, a.index(), "{a:?}");
        }
        for &a in BwdDataAlgo::ALL {
            assert_eq!(data_sys(a) as u32, a.index(), "{a:?}");
        }
        for &a in BwdFilterAlgo::ALL {
            assert_eq!(filter_sys(a) as u32, a.index(), "{a:?}");
        }
        assert_eq!(
            math_sys(ConvMath::Fma),
            sys::cudnnMathType_t::CUDNN_FMA_MATH
        );
        assert_eq!(
            math_sys(ConvMath::Tf32),
            sys::cudnnMathType_t::CUDNN_TENSOR_OP_MATH
        );
    }
}
