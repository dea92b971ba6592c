//! What the cuDNN convolution path decides without a GPU: the key under which a shape's
//! descriptors and algorithm are cached, the shapes each pass reads and writes, the descriptor
//! parameters derived from the convolution's geometry, the math type and the algorithm policy.
//! `kernels::cudnn` (feature `cudnn`) carries these decisions out on the GPU; they are kept here,
//! outside the feature, so that the CPU tests check them.
//!
//! Both settings are process-wide and read at every convolution, so a command line can set them
//! once before training: [`set_conv_math`] (default [`ConvMath::Fma`], FP32 results) and
//! [`set_conv_algos`] (default [`ConvAlgos::Deterministic`], run-to-run identical results).

use super::conv::Geom;
use std::sync::atomic::{AtomicU8, Ordering};

/// One of a convolution's three passes, each one cuDNN call.
#[cfg_attr(not(feature = "cudnn"), allow(dead_code))] // only the cuDNN path and tests use it
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Pass {
    /// `y = conv(x, w)` (`cudnnConvolutionForward`).
    Forward,
    /// The input gradient `dx` from `dy` and `w` (`cudnnConvolutionBackwardData`).
    BackwardData,
    /// The weight gradient `dw` from `x` and `dy` (`cudnnConvolutionBackwardFilter`).
    BackwardFilter,
}

/// The arithmetic cuDNN may use for f32 convolutions, process-wide ([`set_conv_math`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) enum ConvMath {
    /// FP32 fused multiply-adds only (`CUDNN_FMA_MATH`): every product and sum rounded to f32,
    /// as in the CPU kernels. The default.
    #[default]
    Fma,
    /// Tensor cores allowed (`CUDNN_TENSOR_OP_MATH`): on Ampere and newer GPUs the f32 inputs of
    /// each product are rounded to TF32 (10-bit mantissa, about 1e-3 relative error), sums stay
    /// f32. This is PyTorch's default for cuDNN convolutions (`torch.backends.cudnn.allow_tf32`),
    /// so a speed comparison with PyTorch must use the same setting on both sides.
    Tf32,
}

impl ConvMath {
    /// The name [`ConvMath::from_str`](std::str::FromStr) reads: `fma` or `tf32`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            ConvMath::Fma => "fma",
            ConvMath::Tf32 => "tf32",
        }
    }
}

impl std::fmt::Display for ConvMath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for ConvMath {
    type Err = String;

    /// `fma` (also `fp32`) or `tf32`, case-insensitive.
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "fma" | "fp32" => Ok(ConvMath::Fma),
            "tf32" => Ok(ConvMath::Tf32),
            _ => Err(format!(
                "convolution math must be `fma` (FP32) or `tf32`, got `{s}`"
            )),
        }
    }
}

/// How cuDNN's algorithm is chosen for each pass and shape, process-wide ([`set_conv_algos`]).
///
/// cuDNN documents three algorithms as not reproducible run to run, because they accumulate
/// with atomic additions whose order varies: backward-data `ALGO_0` and backward-filter
/// `ALGO_0` and `ALGO_3`. Every forward algorithm is reproducible. What a non-deterministic
/// choice would gain is speed on the gradients, where cuDNN's heuristic ranks one of those
/// first: the atomics let many thread blocks add their partial sums (over images and pixels)
/// straight into the gradient, where the deterministic algorithms reduce them in a fixed order.
/// How much that is for CNN-9's shapes is a measurement to make on the GPU ([`Fastest`] against
/// the default); the cost is that two runs of one training no longer agree bit for bit.
///
/// [`Fastest`]: ConvAlgos::Fastest
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) enum ConvAlgos {
    /// cuDNN's heuristic choice (`cudnnGet*Algorithm_v7`, first result) when it is
    /// reproducible, else the pass's deterministic fallback: forward
    /// `IMPLICIT_PRECOMP_GEMM`, backward-data `ALGO_1`, backward-filter `ALGO_1`. Results are
    /// identical run to run on one GPU model and cuDNN version. The default.
    #[default]
    Deterministic,
    /// Always the deterministic fallbacks, without asking the heuristic: the same algorithms
    /// on every GPU and cuDNN version.
    Fixed,
    /// cuDNN's heuristic choice whatever it is, including the non-deterministic algorithms.
    Fastest,
}

impl ConvAlgos {
    /// The name [`ConvAlgos::from_str`](std::str::FromStr) reads.
    pub(crate) fn name(self) -> &'static str {
        match self {
            ConvAlgos::Deterministic => "deterministic",
            ConvAlgos::Fixed => "fixed",
            ConvAlgos::Fastest => "fastest",
        }
    }
}

impl std::fmt::Display for ConvAlgos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for ConvAlgos {
    type Err = String;

    /// `deterministic`, `fixed` or `fastest`, case-insensitive.
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "deterministic" => Ok(ConvAlgos::Deterministic),
            "fixed" => Ok(ConvAlgos::Fixed),
            "fastest" => Ok(ConvAlgos::Fastest),
            _ => Err(format!(
                "convolution algorithms must be `deterministic`, `fixed` or `fastest`, got `{s}`"
            )),
        }
    }
}

static CONV_MATH: AtomicU8 = AtomicU8::new(0);
static CONV_ALGOS: AtomicU8 = AtomicU8::new(0);

/// Sets the math type of every later cuDNN convolution in the process (default
/// [`ConvMath::Fma`]). Plans are cached per setting, so switching back reuses the earlier ones.
pub(crate) fn set_conv_math(math: ConvMath) {
    CONV_MATH.store(math as u8, Ordering::SeqCst);
}

/// The math type set by [`set_conv_math`].
#[cfg_attr(not(feature = "cudnn"), allow(dead_code))] // only the cuDNN path and tests use it
pub(crate) fn conv_math() -> ConvMath {
    match CONV_MATH.load(Ordering::SeqCst) {
        1 => ConvMath::Tf32,
        _ => ConvMath::Fma,
    }
}

/// Sets how every later cuDNN convolution in the process picks its algorithms (default
/// [`ConvAlgos::Deterministic`]).
pub(crate) fn set_conv_algos(algos: ConvAlgos) {
    CONV_ALGOS.store(algos as u8, Ordering::SeqCst);
}

/// The policy set by [`set_conv_algos`].
#[cfg_attr(not(feature = "cudnn"), allow(dead_code))] // only the cuDNN path and tests use it
pub(crate) fn conv_algos() -> ConvAlgos {
    match CONV_ALGOS.load(Ordering::SeqCst) {
        1 => ConvAlgos::Fixed,
        2 => ConvAlgos::Fastest,
        _ => ConvAlgos::Deterministic,
    }
}

/// The algorithms of one pass, numbered as cuDNN numbers them.
#[cfg_attr(not(feature = "cudnn"), allow(dead_code))] // only the cuDNN path and tests use it
pub(crate) trait PassAlgo: Copy + Eq + std::fmt::Debug + 'static {
    /// The deterministic algorithm that every shape supports: [`ConvAlgos::Fixed`] always uses
    /// it, the other policies when their choice is ruled out.
    const FALLBACK: Self;
    /// Every algorithm, in cuDNN's order.
    const ALL: &'static [Self];
    /// Whether cuDNN documents the algorithm's results as reproducible run to run.
    fn deterministic(self) -> bool;
    /// cuDNN's number for the algorithm.
    fn index(self) -> u32;
    /// The algorithm cuDNN numbers `i`, if any (not the `_COUNT` value).
    fn from_index(i: u32) -> Option<Self> {
        Self::ALL.iter().copied().find(|a| a.index() == i)
    }
}

/// `cudnnConvolutionFwdAlgo_t`.
#[cfg_attr(not(feature = "cudnn"), allow(dead_code))] // only the cuDNN path and tests use it
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub(crate) enum FwdAlgo {
    /// `CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM`.
    ImplicitGemm = 0,
    /// `CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM`.
    ImplicitPrecompGemm = 1,
    /// `CUDNN_CONVOLUTION_FWD_ALGO_GEMM`.
    Gemm = 2,
    /// `CUDNN_CONVOLUTION_FWD_ALGO_DIRECT`.
    Direct = 3,
    /// `CUDNN_CONVOLUTION_FWD_ALGO_FFT`.
    Fft = 4,
    /// `CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING`.
    FftTiling = 5,
    /// `CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD`.
    Winograd = 6,
    /// `CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED`.
    WinogradNonfused = 7,
}

impl PassAlgo for FwdAlgo {
    const FALLBACK: Self = FwdAlgo::ImplicitPrecompGemm;
    const ALL: &'static [Self] = &[
        FwdAlgo::ImplicitGemm,
        FwdAlgo::ImplicitPrecompGemm,
        FwdAlgo::Gemm,
        FwdAlgo::Direct,
        FwdAlgo::Fft,
        FwdAlgo::FftTiling,
        FwdAlgo::Winograd,
        FwdAlgo::WinogradNonfused,
    ];
    fn deterministic(self) -> bool {
        true
    }
    fn index(self) -> u32 {
        self as u32
    }
}

/// `cudnnConvolutionBwdDataAlgo_t`.
#[cfg_attr(not(feature = "cudnn"), allow(dead_code))] // only the cuDNN path and tests use it
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub(crate) enum BwdDataAlgo {
    /// `CUDNN_CONVOLUTION_BWD_DATA_ALGO_0` (atomic additions: not reproducible).
    Algo0 = 0,
    /// `CUDNN_CONVOLUTION_BWD_DATA_ALGO_1`.
    Algo1 = 1,
    /// `CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT`.
    Fft = 2,
    /// `CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT_TILING`.
    FftTiling = 3,
    /// `CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD`.
    Winograd = 4,
    /// `CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD_NONFUSED`.
    WinogradNonfused = 5,
}

impl PassAlgo for BwdDataAlgo {
    const FALLBACK: Self = BwdDataAlgo::Algo1;
    const ALL: &'static [Self] = &[
        BwdDataAlgo::Algo0,
        BwdDataAlgo::Algo1,
        BwdDataAlgo::Fft,
        BwdDataAlgo::FftTiling,
        BwdDataAlgo::Winograd,
        BwdDataAlgo::WinogradNonfused,
    ];
    fn deterministic(self) -> bool {
        self != BwdDataAlgo::Algo0
    }
    fn index(self) -> u32 {
        self as u32
    }
}

/// `cudnnConvolutionBwdFilterAlgo_t`.
#[cfg_attr(not(feature = "cudnn"), allow(dead_code))] // only the cuDNN path and tests use it
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub(crate) enum BwdFilterAlgo {
    /// `CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0` (atomic additions: not reproducible).
    Algo0 = 0,
    /// `CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1`.
    Algo1 = 1,
    /// `CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT`.
    Fft = 2,
    /// `CUDNN_CONVOLUTION_BWD_FILTER_ALGO_3` (atomic additions: not reproducible).
    Algo3 = 3,
    /// `CUDNN_CONVOLUTION_BWD_FILTER_ALGO_WINOGRAD`.
    Winograd = 4,
    /// `CUDNN_CONVOLUTION_BWD_FILTER_ALGO_WINOGRAD_NONFUSED`.
    WinogradNonfused = 5,
    /// `CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT_TILING`.
    FftTiling = 6,
}

impl PassAlgo for BwdFilterAlgo {
    const FALLBACK: Self = BwdFilterAlgo::Algo1;
    const ALL: &'static [Self] = &[
        BwdFilterAlgo::Algo0,
        BwdFilterAlgo::Algo1,
        BwdFilterAlgo::Fft,
        BwdFilterAlgo::Algo3,
        BwdFilterAlgo::Winograd,
        BwdFilterAlgo::WinogradNonfused,
        BwdFilterAlgo::FftTiling,
    ];
    fn deterministic(self) -> bool {
        !matches!(self, BwdFilterAlgo::Algo0 | BwdFilterAlgo::Algo3)
    }
    fn index(self) -> u32 {
        self as u32
    }
}

/// The most workspace a heuristic choice may take (512 MiB); a choice that needs more (FFT
/// algorithms on large maps can) is replaced by the pass's fallback, whose workspace is small.
#[cfg_attr(not(feature = "cudnn"), allow(dead_code))] // only the cuDNN path and tests use it
pub(crate) const WORKSPACE_LIMIT: usize = 512 << 20;

/// The algorithm `policy` runs for one pass and shape, with its workspace in bytes.
///
/// `heuristic` asks cuDNN for its first choice and is only called when the policy uses it;
/// `workspace` asks for an algorithm's workspace size. A choice that is not deterministic under
/// [`ConvAlgos::Deterministic`], or that needs more than `limit` bytes, becomes
/// [`PassAlgo::FALLBACK`]. Errors of either query are returned as they are.
#[cfg_attr(not(feature = "cudnn"), allow(dead_code))] // only the cuDNN path and tests use it
pub(crate) fn choose_algo<A: PassAlgo, E>(
    policy: ConvAlgos,
    limit: usize,
    heuristic: impl FnOnce() -> Result<A, E>,
    workspace: impl Fn(A) -> Result<usize, E>,
) -> Result<(A, usize), E> {
    let pick = match policy {
        ConvAlgos::Fixed => A::FALLBACK,
        ConvAlgos::Deterministic => Some(heuristic()?)
            .filter(|a| a.deterministic())
            .unwrap_or(A::FALLBACK),
        ConvAlgos::Fastest => heuristic()?,
    };
    let bytes = workspace(pick)?;
    if pick != A::FALLBACK && bytes > limit {
        return Ok((A::FALLBACK, workspace(A::FALLBACK)?));
    }
    Ok((pick, bytes))
}

/// What identifies a cached cuDNN plan (descriptors, algorithm, workspace size): the
/// convolution's shape, the pass, and the two settings that change the plan (the math type is
/// set on the convolution descriptor, and both change the algorithm), so that changing a
/// setting never reuses a plan made under the other.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct PlanKey {
    /// Batch size N.
    pub(crate) n: usize,
    /// Input channels.
    pub(crate) c_in: usize,
    /// Input height.
    pub(crate) h: usize,
    /// Input width.
    pub(crate) w: usize,
    /// Output channels (filters).
    pub(crate) c_out: usize,
    /// Square kernel size.
    pub(crate) k: usize,
    /// Stride, both directions.
    pub(crate) stride: usize,
    /// Zero padding, all four sides.
    pub(crate) pad: usize,
    /// Which pass.
    pub(crate) pass: Pass,
    /// The math type the plan was made for.
    pub(crate) math: ConvMath,
    /// The algorithm policy the plan was made for.
    pub(crate) algos: ConvAlgos,
}

/// The parameters of the four cuDNN descriptors of one convolution, as cuDNN's `int`s: NCHW
/// tensors, cross-correlation, no dilation, one group.
#[cfg_attr(not(feature = "cudnn"), allow(dead_code))] // only the cuDNN path and tests use it
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct DescParams {
    /// The input (`x` or `dx`): `[N, C_in, H, W]`.
    pub(crate) x: [i32; 4],
    /// The filters (`w` or `dw`): `[C_out, C_in, k, k]`.
    pub(crate) w: [i32; 4],
    /// The output (`y` or `dy`): `[N, C_out, H', W']`.
    pub(crate) y: [i32; 4],
    /// Zero padding `[height, width]`.
    pub(crate) pad: [i32; 2],
    /// Stride `[height, width]`.
    pub(crate) stride: [i32; 2],
    /// Dilation `[height, width]` (always 1).
    pub(crate) dilation: [i32; 2],
}

#[cfg_attr(not(feature = "cudnn"), allow(dead_code))] // only the cuDNN path and tests use it
impl PlanKey {
    /// The key of `pass` over the convolution `g`, under the given settings.
    pub(super) fn new(g: &Geom, pass: Pass, math: ConvMath, algos: ConvAlgos) -> Self {
        PlanKey {
            n: g.n,
            c_in: g.cin,
            h: g.h,
            w: g.w,
            c_out: g.cout,
            k: g.k,
            stride: g.stride,
            pad: g.pad,
            pass,
            math,
            algos,
        }
    }

    /// Output height and width: `(H + 2p − k)/s + 1` and `(W + 2p − k)/s + 1`, rounded down
    /// (what cuDNN's `cudnnGetConvolution2dForwardOutputDim` gives).
    fn out_hw(&self) -> (usize, usize) {
        (
            (self.h + 2 * self.pad - self.k) / self.stride + 1,
            (self.w + 2 * self.pad - self.k) / self.stride + 1,
        )
    }

    fn x_dims(&self) -> [usize; 4] {
        [self.n, self.c_in, self.h, self.w]
    }

    fn w_dims(&self) -> [usize; 4] {
        [self.c_out, self.c_in, self.k, self.k]
    }

    fn y_dims(&self) -> [usize; 4] {
        let (ho, wo) = self.out_hw();
        [self.n, self.c_out, ho, wo]
    }

    /// The shapes of the pass's two arguments, in the order the custom operations take them:
    /// forward `(x, w)`, backward-data `(dy, w)`, backward-filter `(x, dy)`.
    ///
    /// # Shapes
    /// `x`: `(N, C_in, H, W)`, `w`: `(C_out, C_in, k, k)`, `dy`: `(N, C_out, H', W')`.
    pub(crate) fn arg_dims(&self) -> [[usize; 4]; 2] {
        match self.pass {
            Pass::Forward => [self.x_dims(), self.w_dims()],
            Pass::BackwardData => [self.y_dims(), self.w_dims()],
            Pass::BackwardFilter => [self.x_dims(), self.y_dims()],
        }
    }

    /// The shape of what the pass writes.
    ///
    /// # Shapes
    /// forward `y`: `(N, C_out, H', W')`; backward-data `dx`: `(N, C_in, H, W)`;
    /// backward-filter `dw`: `(C_out, C_in, k, k)`.
    pub(crate) fn out_dims(&self) -> [usize; 4] {
        match self.pass {
            Pass::Forward => self.y_dims(),
            Pass::BackwardData => self.x_dims(),
            Pass::BackwardFilter => self.w_dims(),
        }
    }

    /// The descriptors' parameters; an error if a dimension is zero or a tensor has more
    /// elements than cuDNN's `int` sizes and strides can address.
    pub(crate) fn params(&self) -> candle_core::Result<DescParams> {
        let (x, w, y) = (self.x_dims(), self.w_dims(), self.y_dims());
        let int = |v: usize| i32::try_from(v).ok().filter(|&v| v > 0);
        let dims = |d: [usize; 4]| -> Option<[i32; 4]> {
            int(d.iter().product())?;
            Some([int(d[0])?, int(d[1])?, int(d[2])?, int(d[3])?])
        };
        let (Some(xd), Some(wd), Some(yd), Some(stride)) =
            (dims(x), dims(w), dims(y), int(self.stride))
        else {
            candle_core::bail!(
                "cuDNN conv2d: input {x:?}, filters {w:?}, output {y:?} and stride {} must be \
                 positive and below 2^31 elements",
                self.stride
            )
        };
        let Ok(pad) = i32::try_from(self.pad) else {
            candle_core::bail!("cuDNN conv2d: padding {} too large", self.pad)
        };
        Ok(DescParams {
            x: xd,
            w: wd,
            y: yd,
            pad: [pad, pad],
            stride: [stride, stride],
            dilation: [1, 1],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::conv::{conv2d, geom};
    use candle_core::{Device, Tensor, Var};

    /// Every convolution of CNN-9 on 32×32 images with input channels `c_in` and stage widths
    /// `c`, as `(C_in, H, C_out, k, stride, pad)`: three 3×3 layers per stage (32, 16, 8), the 4×4
    /// valid `fc6`, the 1×1 `score`, and the decoupled layers' one-channel norm convolution of
    /// each (1 → 1 channel, the layer's window).
    fn cnn9_convs(c_in: usize, c: [usize; 3]) -> Vec<(usize, usize, usize, usize, usize, usize)> {
        let mut v = Vec::new();
        let mut ch = c_in;
        for (s, &width) in c.iter().enumerate() {
            let h = 32 >> s;
            for _ in 0..3 {
                v.push((ch, h, width, 3, 1, 1));
                v.push((1, h, 1, 3, 1, 1));
                ch = width;
            }
        }
        v.push((ch, 4, c[2], 4, 1, 0));
        v.push((1, 4, 1, 4, 1, 0));
        v.push((c[2], 1, 10, 1, 1, 0));
        v
    }

    /// Paper width, the zoo's width 0.25, and a width whose channel counts are odd.
    const WIDTHS: [[usize; 3]; 3] = [[128, 192, 256], [32, 48, 64], [13, 19, 25]];

    fn key(g: &Geom, pass: Pass) -> PlanKey {
        PlanKey::new(g, pass, ConvMath::Fma, ConvAlgos::Deterministic)
    }

    /// Oracle: the shapes dcrobust's CPU convolution and its autograd produce (forward output,
    /// input gradient, weight gradient) for every CNN-9 convolution shape, at batch 1 and an odd
    /// batch of 3, at the zoo's width and a width with odd channel counts; and the arguments
    /// the custom operations receive (x and w forward, dy and w for the input gradient, x and
    /// dy for the weight gradient).
    #[test]
    fn plan_shapes_match_the_cpu_convolution() {
        for widths in &WIDTHS[1..] {
            for (i, &(c_in, h, c_out, k, s, p)) in cnn9_convs(3, *widths).iter().enumerate() {
                for n in [1, 3] {
                    let x = Var::from_tensor(
                        &Tensor::ones((n, c_in, h, h), candle_core::DType::F32, &Device::Cpu)
                            .unwrap(),
                    )
                    .unwrap();
                    let w = Var::from_tensor(
                        &Tensor::ones((c_out, c_in, k, k), candle_core::DType::F32, &Device::Cpu)
                            .unwrap(),
                    )
                    .unwrap();
                    let y = conv2d(x.as_tensor(), w.as_tensor(), s, p).unwrap();
                    let grads = y.sum_all().unwrap().backward().unwrap();
                    let g = geom(x.dims(), w.dims(), s, p).unwrap();
                    let case = format!("conv {i}, widths {widths:?}, batch {n}");
                    let fwd = key(&g, Pass::Forward);
                    assert_eq!(fwd.out_dims().as_slice(), y.dims(), "{case}");
                    assert_eq!(fwd.arg_dims(), [x.dims(), w.dims()].map(dims4), "{case}");
                    let data = key(&g, Pass::BackwardData);
                    assert_eq!(
                        data.out_dims().as_slice(),
                        grads.get(&x).unwrap().dims(),
                        "{case}"
                    );
                    assert_eq!(data.arg_dims(), [y.dims(), w.dims()].map(dims4), "{case}");
                    let filt = key(&g, Pass::BackwardFilter);
                    assert_eq!(
                        filt.out_dims().as_slice(),
                        grads.get(&w).unwrap().dims(),
                        "{case}"
                    );
                    assert_eq!(filt.arg_dims(), [x.dims(), y.dims()].map(dims4), "{case}");
                }
            }
        }
    }

    fn dims4(d: &[usize]) -> [usize; 4] {
        d.try_into().unwrap()
    }

    /// Oracle: cuDNN's descriptor conventions written out by hand — NCHW input `[N, C_in, H,
    /// W]`, filters `[C_out, C_in, k, k]`, output `[N, C_out, H', W']` with the convolution
    /// arithmetic `H' = (H + 2p − k)/s + 1`, the same padding and stride in both directions, no
    /// dilation — for every CNN-9 shape at paper width and batch 128 (3×3 maps keep their size,
    /// `fc6` and `score` give 1×1), at batch 1 with odd channels, and for a ResNet-style 3×3
    /// stride-2 and 1×1 stride-2 shortcut on odd sizes.
    #[test]
    fn descriptor_parameters_follow_the_geometry() {
        let mut cases = Vec::new();
        for (n, widths) in [(128, WIDTHS[0]), (1, WIDTHS[2]), (7, WIDTHS[1])] {
            for c in cnn9_convs(3, widths) {
                cases.push((n, c));
            }
        }
        cases.push((5, (7, 9, 11, 3, 2, 1)));
        cases.push((5, (7, 9, 11, 1, 2, 0)));
        for (n, (c_in, h, c_out, k, s, p)) in cases {
            let g = geom(&[n, c_in, h, h], &[c_out, c_in, k, k], s, p).unwrap();
            for pass in [Pass::Forward, Pass::BackwardData, Pass::BackwardFilter] {
                let d = key(&g, pass).params().unwrap();
                let ho = ((h + 2 * p - k) / s + 1) as i32;
                let case = format!("{:?}", (n, c_in, h, c_out, k, s, p, pass));
                if k == 3 && s == 1 {
                    assert_eq!(ho, h as i32, "{case}: 3x3 pad 1 keeps the size");
                }
                if k == h && p == 0 {
                    assert_eq!(ho, 1, "{case}: fc6 and score give 1x1");
                }
                assert_eq!(d.x, [n, c_in, h, h].map(|v| v as i32), "{case}");
                assert_eq!(d.w, [c_out, c_in, k, k].map(|v| v as i32), "{case}");
                assert_eq!(d.y, [n as i32, c_out as i32, ho, ho], "{case}");
                assert_eq!(
                    (d.pad, d.stride, d.dilation),
                    ([p as i32; 2], [s as i32; 2], [1; 2])
                );
            }
        }
    }

    /// Oracle: cuDNN's `int` descriptors cannot describe a tensor of 2^31 or more elements;
    /// such a shape must be an error, not a wrapped size. A shape just under the limit passes.
    #[test]
    fn oversized_tensors_are_errors() {
        // 2^31 elements in x: 2^14 images of 2^17 values.
        let g = geom(&[1 << 14, 2, 256, 256], &[1, 2, 1, 1], 1, 0).unwrap();
        assert!(key(&g, Pass::Forward).params().is_err());
        let g = geom(&[(1 << 14) - 1, 2, 256, 256], &[1, 2, 1, 1], 1, 0).unwrap();
        assert!(key(&g, Pass::Forward).params().is_ok());
    }

    /// Oracle: the key must tell apart everything that changes the plan (each shape field,
    /// the pass, the math type, the policy) and nothing else: two keys of one geometry and
    /// settings are equal and hash alike (one cache entry per shape and pass).
    #[test]
    fn keys_separate_shapes_passes_and_settings() {
        use std::collections::HashSet;
        let base = geom(&[1, 3, 32, 32], &[13, 3, 3, 3], 1, 1).unwrap();
        let variants = [
            geom(&[2, 3, 32, 32], &[13, 3, 3, 3], 1, 1),
            geom(&[1, 5, 32, 32], &[13, 5, 3, 3], 1, 1),
            geom(&[1, 3, 30, 32], &[13, 3, 3, 3], 1, 1),
            geom(&[1, 3, 32, 30], &[13, 3, 3, 3], 1, 1),
            geom(&[1, 3, 32, 32], &[11, 3, 3, 3], 1, 1),
            geom(&[1, 3, 32, 32], &[13, 3, 1, 1], 1, 1),
            geom(&[1, 3, 32, 32], &[13, 3, 3, 3], 2, 1),
            geom(&[1, 3, 32, 32], &[13, 3, 3, 3], 1, 0),
        ];
        let mut keys = HashSet::new();
        assert!(keys.insert(key(&base, Pass::Forward)));
        assert!(
            !keys.insert(key(&base, Pass::Forward)),
            "same geometry, same key"
        );
        for g in variants {
            let g = g.unwrap();
            assert!(keys.insert(key(&g, Pass::Forward)), "{g:?}");
        }
        assert!(keys.insert(key(&base, Pass::BackwardData)));
        assert!(keys.insert(key(&base, Pass::BackwardFilter)));
        assert!(keys.insert(PlanKey::new(
            &base,
            Pass::Forward,
            ConvMath::Tf32,
            ConvAlgos::Deterministic
        )));
        assert!(keys.insert(PlanKey::new(
            &base,
            Pass::Forward,
            ConvMath::Fma,
            ConvAlgos::Fastest
        )));
        assert_eq!(keys.len(), 13);
    }

    /// Oracle: cuDNN's documentation (section "Reproducibility"): backward-data `ALGO_0` and
    /// backward-filter `ALGO_0` and `ALGO_3` use atomics and are not reproducible; every other
    /// algorithm is. The fallbacks are the deterministic ones [`ConvAlgos`] documents
    /// (`IMPLICIT_PRECOMP_GEMM`, `ALGO_1`, `ALGO_1`), and the numbering is cuDNN's
    /// (`cudnn_cnn.h`: `IMPLICIT_PRECOMP_GEMM` = 1, `ALGO_1` = 1, `ALGO_3` = 3, `COUNT` = 8,
    /// 6 and 7).
    #[test]
    fn algorithm_tables_follow_cudnn() {
        let of = |all: Vec<(u32, bool)>| {
            all.into_iter()
                .filter(|&(_, d)| !d)
                .map(|(i, _)| i)
                .collect::<Vec<_>>()
        };
        let fwd = FwdAlgo::ALL.iter().map(|a| (a.index(), a.deterministic()));
        let data = BwdDataAlgo::ALL
            .iter()
            .map(|a| (a.index(), a.deterministic()));
        let filt = BwdFilterAlgo::ALL
            .iter()
            .map(|a| (a.index(), a.deterministic()));
        assert_eq!(of(fwd.collect()), Vec::<u32>::new());
        assert_eq!(of(data.collect()), vec![0]);
        assert_eq!(of(filt.collect()), vec![0, 3]);
        assert_eq!(
            (
                FwdAlgo::ALL.len(),
                BwdDataAlgo::ALL.len(),
                BwdFilterAlgo::ALL.len()
            ),
            (8, 6, 7)
        );
        assert_eq!(FwdAlgo::FALLBACK.index(), 1);
        assert_eq!(BwdDataAlgo::FALLBACK.index(), 1);
        assert_eq!(BwdFilterAlgo::FALLBACK.index(), 1);
        assert!(FwdAlgo::FALLBACK.deterministic());
        assert!(BwdDataAlgo::FALLBACK.deterministic());
        assert!(BwdFilterAlgo::FALLBACK.deterministic());
        for i in 0..8 {
            assert_eq!(FwdAlgo::from_index(i).map(|a| a.index()), Some(i));
        }
        assert_eq!(FwdAlgo::from_index(8), None, "_COUNT is no algorithm");
        assert_eq!(BwdDataAlgo::from_index(6), None);
        assert_eq!(BwdFilterAlgo::from_index(7), None);
        assert_eq!(BwdFilterAlgo::from_index(6), Some(BwdFilterAlgo::FftTiling));
    }

    type Chosen<A> = Result<(A, usize), &'static str>;

    fn run<A: PassAlgo>(policy: ConvAlgos, heuristic: A, ws: impl Fn(A) -> usize) -> Chosen<A> {
        choose_algo(policy, 1000, || Ok(heuristic), |a| Ok(ws(a)))
    }

    /// Oracle: the policy as documented on [`ConvAlgos`]. The default keeps a deterministic
    /// heuristic choice and replaces `ALGO_0`/`ALGO_3` by `ALGO_1`; `Fixed` never asks the
    /// heuristic; `Fastest` keeps even the atomic algorithms; a choice over the workspace
    /// limit becomes the fallback under every policy; query errors are passed on.
    #[test]
    fn algorithm_policy_is_deterministic_by_default() {
        assert_eq!(ConvAlgos::default(), ConvAlgos::Deterministic);
        fn ws<A>(_: A) -> usize {
            10
        }
        let det = ConvAlgos::Deterministic;
        assert_eq!(
            run(det, BwdFilterAlgo::Algo0, ws),
            Ok((BwdFilterAlgo::Algo1, 10))
        );
        assert_eq!(
            run(det, BwdFilterAlgo::Algo3, ws),
            Ok((BwdFilterAlgo::Algo1, 10))
        );
        assert_eq!(
            run(det, BwdFilterAlgo::Fft, ws),
            Ok((BwdFilterAlgo::Fft, 10))
        );
        assert_eq!(
            run(det, BwdDataAlgo::Algo0, ws),
            Ok((BwdDataAlgo::Algo1, 10))
        );
        assert_eq!(
            run(det, BwdDataAlgo::Winograd, ws),
            Ok((BwdDataAlgo::Winograd, 10))
        );
        assert_eq!(run(det, FwdAlgo::Winograd, ws), Ok((FwdAlgo::Winograd, 10)));
        // Every algorithm the default runs is deterministic, whatever the heuristic says.
        for &a in BwdFilterAlgo::ALL {
            assert!(run(det, a, ws).unwrap().0.deterministic(), "{a:?}");
        }
        for &a in BwdDataAlgo::ALL {
            assert!(run(det, a, ws).unwrap().0.deterministic(), "{a:?}");
        }

        let fixed: Chosen<FwdAlgo> = choose_algo(
            ConvAlgos::Fixed,
            1000,
            || Err("the heuristic must not be asked"),
            |_| Ok(3),
        );
        assert_eq!(fixed, Ok((FwdAlgo::ImplicitPrecompGemm, 3)));

        let fast = ConvAlgos::Fastest;
        assert_eq!(
            run(fast, BwdFilterAlgo::Algo3, ws),
            Ok((BwdFilterAlgo::Algo3, 10))
        );
        assert_eq!(
            run(fast, BwdDataAlgo::Algo0, ws),
            Ok((BwdDataAlgo::Algo0, 10))
        );

        // FFT over the limit: the fallback, with the fallback's own workspace.
        let big = |a: FwdAlgo| if a == FwdAlgo::Fft { 5000 } else { 7 };
        assert_eq!(
            run(det, FwdAlgo::Fft, big),
            Ok((FwdAlgo::ImplicitPrecompGemm, 7))
        );
        assert_eq!(
            run(fast, FwdAlgo::Fft, big),
            Ok((FwdAlgo::ImplicitPrecompGemm, 7))
        );
        // The fallback is kept even over the limit (nothing smaller to fall back to).
        let all_big = |_: FwdAlgo| 5000;
        assert_eq!(
            run(det, FwdAlgo::ImplicitPrecompGemm, all_big),
            Ok((FwdAlgo::ImplicitPrecompGemm, 5000))
        );

        let failed: Chosen<BwdDataAlgo> =
            choose_algo(det, 1000, || Err("heuristic failed"), |_| Ok(0));
        assert_eq!(failed, Err("heuristic failed"));
        let failed: Chosen<BwdDataAlgo> = choose_algo(
            det,
            1000,
            || Ok(BwdDataAlgo::Fft),
            |_| Err("workspace failed"),
        );
        assert_eq!(failed, Err("workspace failed"));
    }

    /// Oracle: the documented defaults (FP32 FMA math, deterministic algorithms), the names a
    /// command line passes, and the process-wide setters reading back what was set (restored
    /// after, under the lock that the GPU test also takes).
    #[test]
    fn settings_default_parse_and_round_trip() {
        assert_eq!(ConvMath::default(), ConvMath::Fma);
        assert_eq!("fma".parse(), Ok(ConvMath::Fma));
        assert_eq!("FP32".parse(), Ok(ConvMath::Fma));
        assert_eq!("tf32".parse(), Ok(ConvMath::Tf32));
        assert!("fp16".parse::<ConvMath>().is_err());
        for a in [
            ConvAlgos::Deterministic,
            ConvAlgos::Fixed,
            ConvAlgos::Fastest,
        ] {
            assert_eq!(a.name().parse(), Ok(a));
            assert_eq!(a.to_string(), a.name());
        }
        assert!("random".parse::<ConvAlgos>().is_err());

        let _settings = crate::kernels::testing::conv_settings();
        let (math, algos) = (conv_math(), conv_algos());
        for m in [ConvMath::Tf32, ConvMath::Fma] {
            set_conv_math(m);
            assert_eq!(conv_math(), m);
        }
        for a in [
            ConvAlgos::Fastest,
            ConvAlgos::Fixed,
            ConvAlgos::Deterministic,
        ] {
            set_conv_algos(a);
            assert_eq!(conv_algos(), a);
        }
        set_conv_math(math);
        set_conv_algos(algos);
    }
}
