//! 2-D convolution as a candle operation with a CPU kernel of its own (im2col + gemm, parallel
//! over the batch) for the forward pass and both gradients.
//!
//! candle 0.11's CPU backward pass runs the input gradient through a naive transposed
//! convolution and always computes both gradients (docs/performance.md#candle-pitfalls, P2–P4).
//! Here the input gradient is `col2im(Wᵀ·dY)`, the weight gradient is `Σ_n dY_n·col_nᵀ`, and a
//! gradient is only computed for an argument that takes part in autograd. Results do not depend
//! on the thread count: each image is computed by one thread, and the weight gradient is summed
//! over fixed chunks of the batch in a fixed order.
//!
//! With the `cudnn` feature the same three operations run on a CUDA device for f32 tensors,
//! each pass one cuDNN call (`kernels::cudnn`): candle's own backward pass would send both
//! gradients to its direct kernels. Other devices and types use candle's own convolution.

use super::microgemm;
use super::support::{filled, multiversion};
use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp2, Layout, Result, Shape, Tensor, WithDType};
use rayon::prelude::*;

/// Images per partial sum of the weight gradient (fixed, so sums do not depend on threads).
const WGRAD_CHUNK: usize = 8;

/// A convolution's sizes: `x (n, cin, h, w)`, filters `(cout, cin, k, k)`, output
/// `(n, cout, ho, wo)`.
#[derive(Clone, Copy, Debug)]
pub(super) struct Geom {
    pub(super) n: usize,
    pub(super) cin: usize,
    pub(super) h: usize,
    pub(super) w: usize,
    pub(super) cout: usize,
    pub(super) k: usize,
    pub(super) stride: usize,
    pub(super) pad: usize,
    pub(super) ho: usize,
    pub(super) wo: usize,
}

impl Geom {
    fn kdim(&self) -> usize {
        self.cin * self.k * self.k
    }
    fn p(&self) -> usize {
        self.ho * self.wo
    }
    fn direct(&self) -> bool {
        self.k == 1 && self.stride == 1 && self.pad == 0
    }
}

/// The geometry of convolving `x` with filters `w`; an error unless `x` is `(N, C, H, W)`, `w`
/// is `(C_out, C, k, k)`, the stride is positive and the padded image holds the kernel.
pub(super) fn geom(x: &[usize], w: &[usize], stride: usize, pad: usize) -> Result<Geom> {
    let (&[n, cin, h, wd], &[cout, cin2, kh, kw]) = (x, w) else {
        candle_core::bail!("conv2d: expected (N, C, H, W) input and (C_out, C_in, k, k) filters, got {x:?} and {w:?}")
    };
    if cin != cin2 || kh != kw || stride == 0 || h + 2 * pad < kh || wd + 2 * pad < kw {
        candle_core::bail!(
            "conv2d: incompatible input {x:?}, filters {w:?}, stride {stride}, padding {pad}"
        );
    }
    Ok(Geom {
        n,
        cin,
        h,
        w: wd,
        cout,
        k: kh,
        stride,
        pad,
        ho: (h + 2 * pad - kh) / stride + 1,
        wo: (wd + 2 * pad - kw) / stride + 1,
    })
}

/// The output columns `[lo, hi)` whose input column `ox·stride + kx − pad` lies inside the
/// image (those outside read the zero padding).
fn valid_cols(g: &Geom, kx: usize) -> (usize, usize) {
    // ox·s + kx ≥ pad  ⇔  ox ≥ ceil((pad − kx) / s);  ox·s + kx − pad ≤ w − 1.
    let lo = g.pad.saturating_sub(kx).div_ceil(g.stride).min(g.wo);
    let hi = if g.w + g.pad < kx + 1 {
        0
    } else {
        ((g.w + g.pad - kx - 1) / g.stride + 1).min(g.wo)
    };
    (lo, hi.max(lo))
}

/// `col[(c·k + ky)·k + kx][oy·wo + ox] = x[c, oy·s + ky − pad, ox·s + kx − pad]` (0 outside).
/// Every entry of `col` is written.
fn im2col<T: WithDType>(g: &Geom, x: &[T], col: &mut [T]) {
    let p = g.p();
    for c in 0..g.cin {
        let xc = &x[c * g.h * g.w..][..g.h * g.w];
        for ky in 0..g.k {
            for kx in 0..g.k {
                let row = &mut col[((c * g.k + ky) * g.k + kx) * p..][..p];
                let (lo, hi) = valid_cols(g, kx);
                for oy in 0..g.ho {
                    let iy = (oy * g.stride + ky) as isize - g.pad as isize;
                    let dst = &mut row[oy * g.wo..(oy + 1) * g.wo];
                    if iy < 0 || iy >= g.h as isize || lo == hi {
                        dst.fill(T::zero());
                        continue;
                    }
                    let src = &xc[iy as usize * g.w..][..g.w];
                    dst[..lo].fill(T::zero());
                    dst[hi..].fill(T::zero());
                    let first = lo * g.stride + kx - g.pad;
                    if g.stride == 1 {
                        dst[lo..hi].copy_from_slice(&src[first..first + hi - lo]);
                    } else {
                        for (d, s) in dst[lo..hi]
                            .iter_mut()
                            .zip(src[first..].iter().step_by(g.stride))
                        {
                            *d = *s;
                        }
                    }
                }
            }
        }
    }
}

/// Adds each column entry back to the input position it was copied from (adjoint of im2col);
/// compiled for AVX2 where the processor has it, with the same additions in the same order.
fn col2im<T: WithDType>(g: &Geom, col: &[T], dx: &mut [T]) {
    col2im_dispatch(*g, col, dx)
}

multiversion! {
    fn col2im_dispatch<T: WithDType>(g: Geom, col: &[T], dx: &mut [T]) => col2im_at
}

#[inline(always)]
fn col2im_at<T: WithDType>(g: Geom, col: &[T], dx: &mut [T]) {
    col2im_body(&g, col, dx)
}

#[inline(always)]
fn col2im_body<T: WithDType>(g: &Geom, col: &[T], dx: &mut [T]) {
    let p = g.p();
    for c in 0..g.cin {
        let dc = &mut dx[c * g.h * g.w..][..g.h * g.w];
        for ky in 0..g.k {
            for kx in 0..g.k {
                let row = &col[((c * g.k + ky) * g.k + kx) * p..][..p];
                let (lo, hi) = valid_cols(g, kx);
                if lo == hi {
                    continue;
                }
                let first = lo * g.stride + kx - g.pad;
                for oy in 0..g.ho {
                    let iy = (oy * g.stride + ky) as isize - g.pad as isize;
                    if iy < 0 || iy >= g.h as isize {
                        continue;
                    }
                    let dst = &mut dc[iy as usize * g.w..][..g.w];
                    let src = &row[oy * g.wo + lo..oy * g.wo + hi];
                    if g.stride == 1 {
                        for (d, s) in dst[first..first + hi - lo].iter_mut().zip(src) {
                            *d += *s;
                        }
                    } else {
                        for (d, s) in dst[first..].iter_mut().step_by(g.stride).zip(src) {
                            *d += *s;
                        }
                    }
                }
            }
        }
    }
}

/// A matrix view for gemm: the first element and the row and column strides, in elements
/// (the sizes come with the product, in [`GemmDims`]).
struct Mat<T> {
    ptr: *const T,
    rs: isize,
    cs: isize,
}

fn row_major<T>(s: &[T], cols: usize) -> Mat<T> {
    Mat {
        ptr: s.as_ptr(),
        rs: cols as isize,
        cs: 1,
    }
}

fn transposed<T>(s: &[T], cols: usize) -> Mat<T> {
    // The transpose of a row-major (rows × cols) matrix, as a (cols × rows) view.
    Mat {
        ptr: s.as_ptr(),
        rs: 1,
        cs: cols as isize,
    }
}

/// The sizes of a matrix product `(m×k)·(k×n) → (m×n)`.
#[derive(Clone, Copy, Debug)]
struct GemmDims {
    /// Rows of the left factor and of the product.
    m: usize,
    /// Columns of the right factor and of the product.
    n: usize,
    /// The shared dimension, summed over.
    k: usize,
}

/// `dst (m×n, row-major) = [dst +] lhs (m×k) · rhs (k×n)`, single-threaded.
///
/// # Shapes
/// `lhs`: `(m, k)`, `rhs`: `(k, n)`, `dst`: `(m, n)` row-major, with `(m, n, k)` = `dims`.
///
/// # Safety
/// `dst` must be valid for writes of `m·n` elements (and initialised if `accumulate`), must not
/// alias the views, and each view must address memory inside the slice it was made from.
unsafe fn matmul<T: WithDType>(
    GemmDims { m, n, k }: GemmDims,
    dst: *mut T,
    accumulate: bool,
    lhs: Mat<T>,
    rhs: Mat<T>,
) {
    // SAFETY: the caller's contract; gemm writes (and with `accumulate` reads) exactly m·n
    // elements of `dst` and reads the views within their dimensions.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            1,
            n as isize,
            accumulate,
            lhs.ptr,
            lhs.cs,
            lhs.rs,
            rhs.ptr,
            rhs.cs,
            rhs.rs,
            T::one(),
            T::one(),
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    }
}

/// Scratch for one image's columns (none for 1×1 stride-1 convolutions, which use the input).
fn scratch<T: WithDType>(g: &Geom) -> Vec<T> {
    if g.direct() {
        Vec::new()
    } else {
        vec![T::zero(); g.kdim() * g.p()]
    }
}

/// `s` as f32s when `T` is `f32`.
fn as_f32<T: WithDType>(s: &[T]) -> Option<&[f32]> {
    (std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>())
        // SAFETY: `T` is `f32`.
        .then(|| unsafe { std::slice::from_raw_parts(s.as_ptr().cast::<f32>(), s.len()) })
}

/// `v` as a `Vec<T>` when `T` is `f32` (callers have checked with [`as_f32`]).
fn from_f32<T: WithDType>(v: Vec<f32>) -> Vec<T> {
    assert_eq!(std::any::TypeId::of::<T>(), std::any::TypeId::of::<f32>());
    let mut v = std::mem::ManuallyDrop::new(v);
    // SAFETY: `T` is `f32` (asserted): same layout, length and capacity.
    unsafe { Vec::from_raw_parts(v.as_mut_ptr().cast::<T>(), v.len(), v.capacity()) }
}

/// Whether [`microgemm`] computes this convolution's product `(m × shared)·(shared × P)` (f32
/// only; the caller checks the type): one that `gemm` computes as plain chains (so the bits
/// are `gemm`'s), output maps whose pixel count is a multiple of 8, and AVX2 with FMA.
fn small_path(g: &Geom, m: usize, shared: usize) -> bool {
    g.p().is_multiple_of(8) && microgemm::available() && same_chain_as_gemm(m, g.p(), shared)
}

/// Whether the `gemm` crate computes a product `(m×k)·(k×n)` as the plain chains of fused
/// multiply-adds that [`microgemm`] reproduces: one cache block deep (`k ≤ 512`), and none of
/// its special paths (`gevv` for `k ≤ 2`, `gemv` for a single row or column, the horizontal
/// kernel for at most 256 outputs).
fn same_chain_as_gemm(m: usize, n: usize, k: usize) -> bool {
    (3..=microgemm::MAX_K).contains(&k) && m >= 2 && n >= 2 && m * n > 256
}

/// Height and width of the zero-padded copy of an image.
fn padded_size(g: &Geom) -> (usize, usize) {
    (g.h + 2 * g.pad, g.w + 2 * g.pad)
}

/// Offset of column row `(c, ky, kx)` in the zero-padded image: `c·Hp·Wp + ky·Wp + kx`, so that
/// output pixel `(oy, ox)` of that row (stride 1) sits at `oy·Wp + ox` past it.
fn padded_rows(g: &Geom) -> Vec<usize> {
    let (hp, wp) = padded_size(g);
    let mut row = Vec::with_capacity(g.kdim());
    for c in 0..g.cin {
        for ky in 0..g.k {
            for kx in 0..g.k {
                row.push(c * hp * wp + ky * wp + kx);
            }
        }
    }
    row
}

/// Copies image `xi` into the interior of `buf`, the zero-padded image; the border stays zero
/// from allocation.
fn fill_padded(g: &Geom, xi: &[f32], buf: &mut [f32]) {
    let (hp, wp) = padded_size(g);
    for c in 0..g.cin {
        for y in 0..g.h {
            let dst = (c * hp + y + g.pad) * wp + g.pad;
            buf[dst..dst + g.w].copy_from_slice(&xi[(c * g.h + y) * g.w..][..g.w]);
        }
    }
}

/// How one image's column matrix is read: in place from a zero-padded copy of the image when
/// the stride is 1 and output rows are whole segments of 8 (no im2col), else from im2col's
/// columns (or the image itself for a 1×1 convolution without padding).
enum Columns {
    Padded { row: Vec<usize>, seg: Vec<usize> },
    Col { row: Vec<usize>, seg: Vec<usize> },
}

impl Columns {
    fn new(g: &Geom) -> Self {
        let p = g.p();
        if g.stride == 1 && g.wo.is_multiple_of(8) && !g.direct() {
            let wp = padded_size(g).1;
            let seg = (0..p / 8)
                .map(|s| (8 * s / g.wo) * wp + (8 * s) % g.wo)
                .collect();
            let row = padded_rows(g);
            Columns::Padded { row, seg }
        } else {
            Columns::Col {
                row: (0..g.kdim()).map(|r| r * p).collect(),
                seg: (0..p / 8).map(|s| 8 * s).collect(),
            }
        }
    }

    /// Per-thread scratch: the padded image or im2col's columns (none for 1×1 convolutions).
    fn scratch(&self, g: &Geom) -> Vec<f32> {
        match self {
            Columns::Padded { .. } => {
                let (hp, wp) = padded_size(g);
                vec![0f32; g.cin * hp * wp]
            }
            Columns::Col { .. } if g.direct() => Vec::new(),
            Columns::Col { .. } => vec![0f32; g.kdim() * g.p()],
        }
    }

    /// The column matrix of image `xi`, written into `buf` where needed.
    fn of<'a>(&'a self, g: &Geom, xi: &'a [f32], buf: &'a mut [f32]) -> microgemm::RightFactor<'a> {
        match self {
            Columns::Padded { row, seg } => {
                fill_padded(g, xi, buf);
                microgemm::RightFactor { b: buf, row, seg }
            }
            Columns::Col { row, seg } if g.direct() => microgemm::RightFactor { b: xi, row, seg },
            Columns::Col { row, seg } => {
                im2col(g, xi, buf);
                microgemm::RightFactor { b: buf, row, seg }
            }
        }
    }
}

/// [`forward_t`] through [`microgemm`]: the filters packed once for the whole batch.
fn forward_small(g: &Geom, x: &[f32], w: &[f32]) -> Vec<f32> {
    let (kd, p) = (g.kdim(), g.p());
    let a = microgemm::PackedLeft::new(g.cout, kd, |o, kk| w[o * kd + kk]);
    let cols = Columns::new(g);
    filled(g.n * g.cout * p, |out| {
        out.par_chunks_mut(g.cout * p).enumerate().for_each_init(
            || cols.scratch(g),
            |buf, (i, o)| {
                let xi = &x[i * g.cin * g.h * g.w..][..g.cin * g.h * g.w];
                microgemm::matmul(&a, &cols.of(g, xi, buf), o);
            },
        );
    })
}

fn forward_t<T: WithDType>(g: &Geom, x: &[T], w: &[T]) -> Vec<T> {
    if let (Some(x), Some(w)) = (as_f32(x), as_f32(w)) {
        if small_path(g, g.cout, g.kdim()) {
            return from_f32(forward_small(g, x, w));
        }
    }
    forward_gemm(g, x, w)
}

/// The forward pass through im2col and the `gemm` crate.
fn forward_gemm<T: WithDType>(g: &Geom, x: &[T], w: &[T]) -> Vec<T> {
    let (kd, p) = (g.kdim(), g.p());
    filled(g.n * g.cout * p, |out| {
        out.par_chunks_mut(g.cout * p).enumerate().for_each_init(
            || scratch(g),
            |col, (i, o)| {
                let xi = &x[i * g.cin * g.h * g.w..][..g.cin * g.h * g.w];
                let rhs = if g.direct() {
                    row_major(xi, p)
                } else {
                    im2col(g, xi, col);
                    row_major(col, p)
                };
                // SAFETY: `o` holds cout·p elements, all written (no accumulation).
                unsafe {
                    matmul(
                        GemmDims {
                            m: g.cout,
                            n: p,
                            k: kd,
                        },
                        o.as_mut_ptr().cast(),
                        false,
                        row_major(w, kd),
                        rhs,
                    )
                }
            },
        );
    })
}

/// [`grad_input_t`] through [`microgemm`]: `Wᵀ` packed once for the whole batch, each image's
/// `dY` read in place.
fn grad_input_small(g: &Geom, dy: &[f32], w: &[f32]) -> Vec<f32> {
    let (kd, p) = (g.kdim(), g.p());
    let img = g.cin * g.h * g.w;
    let a = microgemm::PackedLeft::new(kd, g.cout, |kk, o| w[o * kd + kk]);
    let row: Vec<usize> = (0..g.cout).map(|o| o * p).collect();
    let seg: Vec<usize> = (0..p / 8).map(|s| 8 * s).collect();
    let mut dx = vec![0f32; g.n * img];
    dx.par_chunks_mut(img).enumerate().for_each_init(
        || scratch::<f32>(g),
        |col, (i, d)| {
            let dyi = &dy[i * g.cout * p..][..g.cout * p];
            let b = microgemm::RightFactor {
                b: dyi,
                row: &row,
                seg: &seg,
            };
            if g.direct() {
                microgemm::matmul(&a, &b, microgemm::uninit(d));
            } else {
                microgemm::matmul(&a, &b, microgemm::uninit(col));
                col2im(g, col, d);
            }
        },
    );
    dx
}

fn grad_input_t<T: WithDType>(g: &Geom, dy: &[T], w: &[T]) -> Vec<T> {
    if let (Some(dy), Some(w)) = (as_f32(dy), as_f32(w)) {
        if small_path(g, g.kdim(), g.cout) {
            return from_f32(grad_input_small(g, dy, w));
        }
    }
    grad_input_gemm(g, dy, w)
}

/// The input gradient through the `gemm` crate and col2im.
fn grad_input_gemm<T: WithDType>(g: &Geom, dy: &[T], w: &[T]) -> Vec<T> {
    let (kd, p) = (g.kdim(), g.p());
    let img = g.cin * g.h * g.w;
    let mut dx = vec![T::zero(); g.n * img];
    dx.par_chunks_mut(img).enumerate().for_each_init(
        || scratch(g),
        |col, (i, d)| {
            let dyi = &dy[i * g.cout * p..][..g.cout * p];
            let (lhs, rhs) = (transposed(w, kd), row_major(dyi, p));
            let dims = GemmDims {
                m: kd,
                n: p,
                k: g.cout,
            };
            if g.direct() {
                // SAFETY: `d` holds kd·p = C_in·H·W elements.
                unsafe { matmul(dims, d.as_mut_ptr(), false, lhs, rhs) };
            } else {
                // SAFETY: `col` holds kd·p elements.
                unsafe { matmul(dims, col.as_mut_ptr(), false, lhs, rhs) };
                col2im(g, col, d);
            }
        },
    );
    dx
}

/// [`grad_weight_t`] through [`microgemm::weight_grad`]: `dY` transposed per image, the
/// columns read in place from a zero-padded copy of the image for stride-1 convolutions.
fn grad_weight_small(g: &Geom, x: &[f32], dy: &[f32]) -> Vec<f32> {
    let (kd, p) = (g.kdim(), g.p());
    let img = g.cin * g.h * g.w;
    let o_pad = g.cout.div_ceil(16) * 16;
    let padded = g.stride == 1 && !g.direct();
    let (hp, wp) = padded_size(g);
    let (row, pix): (Vec<usize>, Vec<usize>) = if padded {
        (
            padded_rows(g),
            (0..p).map(|q| (q / g.wo) * wp + q % g.wo).collect(),
        )
    } else {
        ((0..kd).map(|r| r * p).collect(), (0..p).collect())
    };
    let chunks: Vec<usize> = (0..g.n.div_ceil(WGRAD_CHUNK)).collect();
    let partials: Vec<Vec<f32>> = chunks
        .par_iter()
        .map_init(
            || {
                let buf = if padded {
                    vec![0f32; g.cin * hp * wp]
                } else {
                    scratch::<f32>(g)
                };
                (buf, vec![0f32; p * o_pad])
            },
            |(buf, dyt), &c| {
                let mut acc = vec![0f32; g.cout * kd];
                for i in c * WGRAD_CHUNK..((c + 1) * WGRAD_CHUNK).min(g.n) {
                    let xi = &x[i * img..][..img];
                    let dyi = &dy[i * g.cout * p..][..g.cout * p];
                    for (o, dyo) in dyi.chunks_exact(p).enumerate() {
                        for (q, &v) in dyo.iter().enumerate() {
                            dyt[q * o_pad + o] = v;
                        }
                    }
                    let cols: &[f32] = if padded {
                        fill_padded(g, xi, buf);
                        buf
                    } else if g.direct() {
                        xi
                    } else {
                        im2col(g, xi, buf);
                        buf
                    };
                    let first = i == c * WGRAD_CHUNK;
                    microgemm::weight_grad(dyt, g.cout, cols, &row, &pix, &mut acc, !first);
                }
                acc
            },
        )
        .collect();
    let mut out = vec![0f32; g.cout * kd];
    for part in &partials {
        for (o, v) in out.iter_mut().zip(part) {
            *o += *v;
        }
    }
    out
}

fn grad_weight_t<T: WithDType>(g: &Geom, x: &[T], dy: &[T]) -> Vec<T> {
    if let (Some(x), Some(dy)) = (as_f32(x), as_f32(dy)) {
        if microgemm::available() && same_chain_as_gemm(g.cout, g.kdim(), g.p()) {
            return from_f32(grad_weight_small(g, x, dy));
        }
    }
    grad_weight_gemm(g, x, dy)
}

/// The weight gradient through the `gemm` crate: `Σ_n dY_n·col_nᵀ` over fixed chunks.
fn grad_weight_gemm<T: WithDType>(g: &Geom, x: &[T], dy: &[T]) -> Vec<T> {
    let (kd, p) = (g.kdim(), g.p());
    let img = g.cin * g.h * g.w;
    let chunks: Vec<usize> = (0..g.n.div_ceil(WGRAD_CHUNK)).collect();
    let partials: Vec<Vec<T>> = chunks
        .par_iter()
        .map_init(
            || scratch(g),
            |col, &c| {
                let mut acc = vec![T::zero(); g.cout * kd];
                for i in c * WGRAD_CHUNK..((c + 1) * WGRAD_CHUNK).min(g.n) {
                    let xi = &x[i * img..][..img];
                    let dyi = &dy[i * g.cout * p..][..g.cout * p];
                    let rhs = if g.direct() {
                        transposed(xi, p)
                    } else {
                        im2col(g, xi, col);
                        transposed(col, p)
                    };
                    // SAFETY: `acc` holds cout·kd initialised elements.
                    unsafe {
                        matmul(
                            GemmDims {
                                m: g.cout,
                                n: kd,
                                k: p,
                            },
                            acc.as_mut_ptr(),
                            i > c * WGRAD_CHUNK,
                            row_major(dyi, p),
                            rhs,
                        )
                    }
                }
                acc
            },
        )
        .collect();
    let mut out = vec![T::zero(); g.cout * kd];
    for part in &partials {
        for (o, v) in out.iter_mut().zip(part) {
            *o += *v;
        }
    }
    out
}

fn slices<'a>(s: &'a CpuStorage, l: &Layout, what: &str) -> Result<(&'a CpuStorage, usize, usize)> {
    let (a, b) = l
        .contiguous_offsets()
        .ok_or_else(|| candle_core::Error::Msg(format!("conv2d: {what} must be contiguous")))?;
    Ok((s, a, b))
}

macro_rules! dispatch {
    ($name:expr, $s1:expr, $l1:expr, $s2:expr, $l2:expr, |$a:ident, $b:ident| $body:expr) => {{
        let (s1, a1, b1) = slices($s1, $l1, "first argument")?;
        let (s2, a2, b2) = slices($s2, $l2, "second argument")?;
        match (s1, s2) {
            (CpuStorage::F32(x), CpuStorage::F32(y)) => {
                let ($a, $b) = (&x[a1..b1], &y[a2..b2]);
                CpuStorage::F32($body)
            }
            (CpuStorage::F64(x), CpuStorage::F64(y)) => {
                let ($a, $b) = (&x[a1..b1], &y[a2..b2]);
                CpuStorage::F64($body)
            }
            _ => return Err(candle_core::Error::UnsupportedDTypeForOp(s1.dtype(), $name)),
        }
    }};
}

struct Conv2d {
    stride: usize,
    pad: usize,
}

impl CustomOp2 for Conv2d {
    fn name(&self) -> &'static str {
        "dcrobust-conv2d"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = geom(l1.dims(), l2.dims(), self.stride, self.pad)?;
        let out = dispatch!("conv2d", s1, l1, s2, l2, |x, w| forward_t(&g, x, w));
        Ok((out, Shape::from((g.n, g.cout, g.ho, g.wo))))
    }

    #[cfg(feature = "cudnn")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        let g = geom(l1.dims(), l2.dims(), self.stride, self.pad)?;
        super::cudnn::conv(super::conv_plan::Pass::Forward, &g, (s1, l1), (s2, l2))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        dy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let dy = dy.contiguous()?;
        let g = geom(x.dims(), w.dims(), self.stride, self.pad)?;
        let dx = if x.track_op() {
            Some(dy.apply_op2_no_bwd(w, &GradInput { g })?)
        } else {
            None
        };
        let dw = if w.track_op() {
            Some(x.apply_op2_no_bwd(&dy, &GradWeight { g })?)
        } else {
            None
        };
        Ok((dx, dw))
    }
}

struct GradInput {
    g: Geom,
}

impl CustomOp2 for GradInput {
    fn name(&self) -> &'static str {
        "dcrobust-conv2d-grad-input"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = self.g;
        let out = dispatch!("conv2d-grad-input", s1, l1, s2, l2, |dy, w| grad_input_t(
            &g, dy, w
        ));
        Ok((out, Shape::from((g.n, g.cin, g.h, g.w))))
    }

    #[cfg(feature = "cudnn")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        let g = self.g;
        super::cudnn::conv(super::conv_plan::Pass::BackwardData, &g, (s1, l1), (s2, l2))
    }
}

struct GradWeight {
    g: Geom,
}

impl CustomOp2 for GradWeight {
    fn name(&self) -> &'static str {
        "dcrobust-conv2d-grad-weight"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = self.g;
        let out = dispatch!("conv2d-grad-weight", s1, l1, s2, l2, |x, dy| grad_weight_t(
            &g, x, dy
        ));
        Ok((out, Shape::from((g.cout, g.cin, g.k, g.k))))
    }

    #[cfg(feature = "cudnn")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        let g = self.g;
        super::cudnn::conv(
            super::conv_plan::Pass::BackwardFilter,
            &g,
            (s1, l1),
            (s2, l2),
        )
    }
}

/// 2-D convolution (no dilation, no groups, square kernel), differentiable.
///
/// On the CPU with f32 or f64 it runs dcrobust's kernels; on a CUDA device with f32, when built
/// with the `cudnn` feature, cuDNN for the forward pass and both gradients; elsewhere (and after
/// [`super::use_candle_kernels`]) candle's `conv2d`.
///
/// # Shapes
/// `x`: `(N, C_in, H, W)`, `w`: `(C_out, C_in, k, k)` → `(N, C_out, (H+2p−k)/s+1, (W+2p−k)/s+1)`.
pub(crate) fn conv2d(x: &Tensor, w: &Tensor, stride: usize, padding: usize) -> Result<Tensor> {
    if !super::own_kernels(x) && !super::cudnn_conv(x, w) {
        return x.conv2d(w, padding, stride, 1, 1);
    }
    x.contiguous()?.apply_op2(
        &w.contiguous()?,
        Conv2d {
            stride,
            pad: padding,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    fn rand(shape: &[usize], seed: u64) -> Tensor {
        use rand::{Rng, SeedableRng};
        let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let n: usize = shape.iter().product();
        let v: Vec<f64> = (0..n).map(|_| r.random::<f64>() * 2.0 - 1.0).collect();
        Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
    }

    fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar::<f64>()
            .unwrap()
    }

    /// Oracle: candle's own conv2d and its backward pass, in f64, on odd shapes (stride 2 with
    /// padding, 1x1, batch 1, channel counts that are not multiples of 8, a batch larger than
    /// the weight-gradient chunk).
    #[test]
    fn matches_candle_forward_and_gradients() {
        let cases = [
            // (n, cin, h, w, cout, k, stride, pad)
            (2, 3, 7, 7, 5, 3, 1, 1),
            (1, 5, 8, 6, 3, 3, 2, 1),
            (3, 4, 5, 5, 6, 1, 1, 0),
            (11, 2, 6, 6, 3, 3, 2, 0),
            (2, 3, 4, 4, 2, 4, 1, 0),
            (1, 1, 5, 5, 1, 3, 1, 2),
        ];
        for (i, &(n, cin, h, w, cout, k, s, p)) in cases.iter().enumerate() {
            let x = Var::from_tensor(&rand(&[n, cin, h, w], i as u64)).unwrap();
            let wt = Var::from_tensor(&rand(&[cout, cin, k, k], 100 + i as u64)).unwrap();
            let r = rand(
                &[n, cout, (h + 2 * p - k) / s + 1, (w + 2 * p - k) / s + 1],
                200 + i as u64,
            );
            let ours = conv2d(x.as_tensor(), wt.as_tensor(), s, p).unwrap();
            let theirs = x.as_tensor().conv2d(wt.as_tensor(), p, s, 1, 1).unwrap();
            assert!(max_diff(&ours, &theirs) < 1e-12, "case {i} forward");
            let g1 = (ours * &r).unwrap().sum_all().unwrap().backward().unwrap();
            let g2 = (theirs * &r)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            assert!(
                max_diff(g1.get(&x).unwrap(), g2.get(&x).unwrap()) < 1e-11,
                "case {i} dx"
            );
            assert!(
                max_diff(g1.get(&wt).unwrap(), g2.get(&wt).unwrap()) < 1e-11,
                "case {i} dw"
            );
        }
    }

    /// Oracle: a central finite difference of L = Σ r ⊙ conv(x, w) with respect to one input
    /// and one weight entry (the loss is linear in each, so the difference is exact up to rounding).
    #[test]
    fn gradients_match_finite_differences() {
        let (x, w, r) = (
            rand(&[2, 3, 5, 5], 1),
            rand(&[4, 3, 3, 3], 2),
            rand(&[2, 4, 3, 3], 3),
        );
        let loss = |x: &Tensor, w: &Tensor| {
            (conv2d(x, w, 2, 1).unwrap() * &r)
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f64>()
                .unwrap()
        };
        let xv = Var::from_tensor(&x).unwrap();
        let wv = Var::from_tensor(&w).unwrap();
        let g = (conv2d(xv.as_tensor(), wv.as_tensor(), 2, 1).unwrap() * &r)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let h = 1e-6;
        let bump = |t: &Tensor, idx: usize, d: f64| {
            let mut v = t.flatten_all().unwrap().to_vec1::<f64>().unwrap();
            v[idx] += d;
            Tensor::from_vec(v, t.dims(), &Device::Cpu).unwrap()
        };
        for idx in [0, 17, 49] {
            let fd = (loss(&bump(&x, idx, h), &w) - loss(&bump(&x, idx, -h), &w)) / (2.0 * h);
            let an = g
                .get(&xv)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f64>()
                .unwrap()[idx];
            assert!((fd - an).abs() < 1e-7, "dx[{idx}] {fd} vs {an}");
        }
        for idx in [0, 40, 107] {
            let fd = (loss(&x, &bump(&w, idx, h)) - loss(&x, &bump(&w, idx, -h))) / (2.0 * h);
            let an = g
                .get(&wv)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f64>()
                .unwrap()[idx];
            assert!((fd - an).abs() < 1e-7, "dw[{idx}] {fd} vs {an}");
        }
    }

    /// Oracle: an input that does not take part in autograd gets no gradient computed.
    #[test]
    fn constant_input_gets_no_gradient() {
        let x = rand(&[1, 2, 4, 4], 5);
        let w = Var::from_tensor(&rand(&[3, 2, 3, 3], 6)).unwrap();
        let g = conv2d(&x, w.as_tensor(), 1, 1)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        assert!(g.get(&x).is_none());
        assert!(g.get(&w).is_some());
    }

    /// Oracle: the same col2im compiled for baseline x86-64 (`col2im_body`, called directly)
    /// must give the bits of the version the kernels run (AVX2 where present), at stride 1 and
    /// 2, with padding, on odd sizes; and the microgemm paths of the forward pass and the input
    /// gradient must give the bits of the `gemm` paths on a layer they both cover.
    #[test]
    fn dispatched_paths_match_bit_for_bit() {
        use rand::{Rng, SeedableRng};
        let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        for (stride, pad) in [(1, 1), (2, 1), (1, 0)] {
            let g = geom(&[1, 3, 9, 11], &[4, 3, 3, 3], stride, pad).unwrap();
            let col: Vec<f32> = (0..g.kdim() * g.p())
                .map(|_| r.random::<f32>() - 0.5)
                .collect();
            let (mut a, mut b) = (vec![0f32; 3 * 9 * 11], vec![0f32; 3 * 9 * 11]);
            col2im(&g, &col, &mut a);
            col2im_body(&g, &col, &mut b);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&a), bits(&b), "stride {stride}, padding {pad}");
        }
        if !microgemm::available() {
            return;
        }
        // 16 → 24 channels, 3×3, 16×16 maps: the shared dimensions 144 and 24 fit one chain.
        let g = geom(&[3, 16, 16, 16], &[24, 16, 3, 3], 1, 1).unwrap();
        let x: Vec<f32> = (0..3 * 16 * 256).map(|_| r.random::<f32>() - 0.5).collect();
        let w: Vec<f32> = (0..24 * 144).map(|_| r.random::<f32>() - 0.5).collect();
        let dy: Vec<f32> = (0..3 * 24 * 256).map(|_| r.random::<f32>() - 0.5).collect();
        assert!(small_path(&g, g.cout, g.kdim()) && small_path(&g, g.kdim(), g.cout));
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        // The `gemm` paths, as for f64 or a processor without AVX2.
        assert_eq!(
            bits(&forward_small(&g, &x, &w)),
            bits(&forward_gemm(&g, &x, &w)),
            "forward"
        );
        assert_eq!(
            bits(&grad_input_small(&g, &dy, &w)),
            bits(&grad_input_gemm(&g, &dy, &w)),
            "input gradient"
        );
        // 10 images: one chunk of 8 and one of 2, each summed in order, then the chunks.
        for (stride, pad, k) in [(1, 1, 3), (2, 1, 3), (1, 0, 1)] {
            let g = geom(&[10, 16, 16, 16], &[24, 16, k, k], stride, pad).unwrap();
            let x: Vec<f32> = (0..10 * 16 * 256)
                .map(|_| r.random::<f32>() - 0.5)
                .collect();
            let dy: Vec<f32> = (0..10 * 24 * g.p())
                .map(|_| r.random::<f32>() - 0.5)
                .collect();
            assert!(same_chain_as_gemm(g.cout, g.kdim(), g.p()), "{g:?}");
            let (a, b) = (
                grad_weight_small(&g, &x, &dy),
                grad_weight_gemm(&g, &x, &dy),
            );
            assert_eq!(
                bits(&a),
                bits(&b),
                "weight gradient, stride {stride}, k {k}"
            );
        }
    }
}
