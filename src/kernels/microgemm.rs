//! A matrix product for the convolutions' small shapes that reads its right factor in place:
//! no packing of the right factor and, for stride-1 convolutions, no im2col at all (the rows of
//! the column matrix are read as shifted windows of a zero-padded copy of the image).
//!
//! At small widths the `gemm` crate's packing of the right factor and the im2col that feeds it
//! cost as much as the products themselves (docs/performance.md#convolution). Here the left
//! factor (the filters, a few kilobytes) is packed once per call into panels of [`MR`] rows,
//! and each block of 16 output columns is computed for every panel while that block's rows
//! stay in the L1 cache.
//!
//! **Same bits as `gemm`.** Each output element is one chain of fused multiply-adds over the
//! shared dimension in order, starting from zero, as in the `gemm` crate's microkernels when
//! the shared dimension fits one of its cache blocks (at most 512, [`MAX_K`]); so either path
//! gives bit-identical results and the models' outputs do not depend on which one ran.

/// Rows of the left factor per panel (accumulators: `MR × 2` vectors of 8 floats).
const MR: usize = 6;

use std::mem::MaybeUninit;
/// Largest shared dimension handled here. The `gemm` crate splits the shared dimension into
/// blocks of at least 512 (`gemm_common::cache::kernel_params`), so up to 512 it sums each
/// element in one chain, as this kernel does.
pub(crate) const MAX_K: usize = 512;

/// The right factor `B (k × n)` as addresses into a slice: `B[kk][j] = b[row[kk] + seg[j / 8]
/// + j % 8]`, so that every run of 8 columns starting at a multiple of 8 is contiguous.
pub(crate) struct RightFactor<'a> {
    /// The values.
    pub(crate) b: &'a [f32],
    /// Offset of each row `kk` (length `k`).
    pub(crate) row: &'a [usize],
    /// Offset of each segment of 8 columns (length `n / 8`).
    pub(crate) seg: &'a [usize],
}

/// The left factor `A (m × k)` packed into panels of [`MR`] rows, `k`-major within a panel
/// (`panels[p][kk][r] = A[p·MR + r][kk]`, zero beyond `m`).
pub(crate) struct PackedLeft {
    m: usize,
    k: usize,
    data: Vec<f32>,
}

impl PackedLeft {
    /// Packs `A` given element by element: `at(i, kk) = A[i][kk]`.
    pub(crate) fn new(m: usize, k: usize, at: impl Fn(usize, usize) -> f32) -> Self {
        let panels = m.div_ceil(MR);
        let mut data = vec![0f32; panels * k * MR];
        for p in 0..panels {
            for kk in 0..k {
                for r in 0..MR.min(m - p * MR) {
                    data[(p * k + kk) * MR + r] = at(p * MR + r, kk);
                }
            }
        }
        PackedLeft { m, k, data }
    }
}

/// Whether [`matmul`] can run here: the processor has AVX2 and FMA.
pub(crate) fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        super::support::has_avx2() && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `s` viewed as possibly uninitialised memory, for [`matmul`]'s output (only ever written).
pub(crate) fn uninit(s: &mut [f32]) -> &mut [MaybeUninit<f32>] {
    // SAFETY: `MaybeUninit<f32>` has the layout of `f32`, and every value written through the
    // view is a valid f32.
    unsafe { &mut *(s as *mut [f32] as *mut [MaybeUninit<f32>]) }
}

/// `out (m × n, row-major) = A · B`; every element of `out` is written.
///
/// # Shapes
/// `a`: `(m, k)` packed, `b`: `(k, n)` as addresses, `out`: `(m, n)` row-major, with `n` a
/// multiple of 8, `k ≤ MAX_K`.
///
/// # Panics
/// If the shapes disagree or [`available`] is false (callers check both).
pub(crate) fn matmul(a: &PackedLeft, b: &RightFactor<'_>, out: &mut [MaybeUninit<f32>]) {
    let n = b.seg.len() * 8;
    assert!(b.row.len() == a.k && out.len() == a.m * n && a.k <= MAX_K && available());
    // Every address the kernel reads must lie inside `b`.
    let last = b.row.iter().max().copied().unwrap_or(0) + b.seg.iter().max().copied().unwrap_or(0);
    assert!(a.k == 0 || n == 0 || last + 8 <= b.b.len());
    #[cfg(target_arch = "x86_64")]
    // SAFETY: AVX2 and FMA are present (asserted), and the addresses are in bounds (asserted).
    unsafe {
        matmul_avx2(a, b, out, n)
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn matmul_avx2(a: &PackedLeft, b: &RightFactor<'_>, out: &mut [MaybeUninit<f32>], n: usize) {
    use std::arch::x86_64::*;
    let (m, k) = (a.m, a.k);
    let bp = b.b.as_ptr();
    let segs = b.seg.len();
    // Two segments (16 columns) at a time, then a last single segment if `n / 8` is odd.
    let mut s = 0;
    while s < segs {
        let two = s + 1 < segs;
        let (s0, s1) = (b.seg[s], if two { b.seg[s + 1] } else { b.seg[s] });
        for p in 0..m.div_ceil(MR) {
            let ap = a.data.as_ptr().add(p * k * MR);
            let mut acc = [[_mm256_setzero_ps(); 2]; MR];
            for kk in 0..k {
                let row = bp.add(*b.row.get_unchecked(kk));
                let b0 = _mm256_loadu_ps(row.add(s0));
                let b1 = _mm256_loadu_ps(row.add(s1));
                let av = ap.add(kk * MR);
                for (r, acc) in acc.iter_mut().enumerate() {
                    let x = _mm256_broadcast_ss(&*av.add(r));
                    // x·b + acc, fused: the `gemm` crate's `mul_add(lhs, rhs, acc)`.
                    acc[0] = _mm256_fmadd_ps(x, b0, acc[0]);
                    acc[1] = _mm256_fmadd_ps(x, b1, acc[1]);
                }
            }
            for (r, acc) in acc.iter().enumerate().take(m - p * MR) {
                let o = out.as_mut_ptr().cast::<f32>().add((p * MR + r) * n + s * 8);
                _mm256_storeu_ps(o, acc[0]);
                if two {
                    _mm256_storeu_ps(o.add(8), acc[1]);
                }
            }
        }
        s += 2;
    }
}

/// Output channels per block of the weight-gradient kernel (two vectors of 8).
const WG_O: usize = 16;
/// Filter columns per block of the weight-gradient kernel.
const WG_J: usize = 6;

/// `dW (o × kd, row-major) (+)= dY · colᵀ` for one image, as the `gemm` crate computes it:
/// each element is one chain of fused multiply-adds over the pixels in order from zero, then
/// stored (`accumulate` false) or added to `dW` (`dW + chain`, `gemm`'s `mul_add(1, acc, dst)`).
///
/// # Shapes
/// `dyt`: `(P, o_pad)`, `dY` transposed with its channels padded with zeros to a multiple of
/// 16; `col`: the column matrix `(kd, P)` read as `col[row[j] + pix[p]]`; `dw`: `(o, kd)`.
///
/// # Panics
/// If the shapes disagree, `P > MAX_K`, or [`available`] is false.
pub(crate) fn weight_grad(
    dyt: &[f32],
    o: usize,
    col: &[f32],
    row: &[usize],
    pix: &[usize],
    dw: &mut [f32],
    accumulate: bool,
) {
    let (kd, np) = (row.len(), pix.len());
    let o_pad = o.div_ceil(WG_O) * WG_O;
    assert!(np <= MAX_K && dyt.len() == np * o_pad && dw.len() == o * kd && available());
    let last = row.iter().max().copied().unwrap_or(0) + pix.iter().max().copied().unwrap_or(0);
    assert!(kd == 0 || np == 0 || last < col.len());
    #[cfg(target_arch = "x86_64")]
    // SAFETY: AVX2 and FMA are present and every address is in bounds (asserted).
    unsafe {
        weight_grad_avx2(dyt, o, o_pad, col, row, pix, dw, accumulate)
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn weight_grad_avx2(
    dyt: &[f32],
    o: usize,
    o_pad: usize,
    col: &[f32],
    row: &[usize],
    pix: &[usize],
    dw: &mut [f32],
    accumulate: bool,
) {
    use std::arch::x86_64::*;
    let kd = row.len();
    let cp = col.as_ptr();
    for o0 in (0..o_pad).step_by(WG_O) {
        for j0 in (0..kd).step_by(WG_J) {
            let nj = WG_J.min(kd - j0);
            // Rows past the end repeat the last one; their sums are not stored.
            let rows: [*const f32; WG_J] =
                std::array::from_fn(|r| cp.add(*row.get_unchecked(j0 + r.min(nj - 1))));
            let mut acc = [[_mm256_setzero_ps(); 2]; WG_J];
            for (p, &off) in pix.iter().enumerate() {
                let a = dyt.as_ptr().add(p * o_pad + o0);
                let (a0, a1) = (_mm256_loadu_ps(a), _mm256_loadu_ps(a.add(8)));
                for (r, acc) in acc.iter_mut().enumerate() {
                    let x = _mm256_broadcast_ss(&*rows[r].add(off));
                    // dY·col + acc, fused: `gemm`'s `mul_add(lhs, rhs, acc)`.
                    acc[0] = _mm256_fmadd_ps(a0, x, acc[0]);
                    acc[1] = _mm256_fmadd_ps(a1, x, acc[1]);
                }
            }
            for (r, acc) in acc.iter().enumerate().take(nj) {
                let mut lanes = [0f32; WG_O];
                _mm256_storeu_ps(lanes.as_mut_ptr(), acc[0]);
                _mm256_storeu_ps(lanes.as_mut_ptr().add(8), acc[1]);
                for (l, &v) in lanes.iter().enumerate().take(o.saturating_sub(o0)) {
                    let d = dw.get_unchecked_mut((o0 + l) * kd + j0 + r);
                    *d = if accumulate { v.mul_add(1.0, *d) } else { v };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn values(len: usize, seed: u64) -> Vec<f32> {
        let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        (0..len).map(|_| r.random::<f32>() * 2.0 - 1.0).collect()
    }

    /// Oracle: the `gemm` crate on the same row-major matrices must give the same bits (both
    /// sum each element as one chain of fused multiply-adds in order), and an f64 product must
    /// agree to rounding; odd sizes, and a right factor read through a row offset table.
    #[test]
    fn matches_gemm_bit_for_bit() {
        if !available() {
            return;
        }
        for &(m, k, n) in &[
            (1, 1, 8),
            (5, 27, 24),
            (16, 144, 1024),
            (13, 512, 40),
            (24, 216, 256),
        ] {
            let av = values(m * k, 1);
            let bv = values(k * n, 2);
            let a = PackedLeft::new(m, k, |i, kk| av[i * k + kk]);
            let row: Vec<usize> = (0..k).map(|kk| kk * n).collect();
            let seg: Vec<usize> = (0..n / 8).map(|s| s * 8).collect();
            let mut out = vec![f32::NAN; m * n];
            matmul(
                &a,
                &RightFactor {
                    b: &bv,
                    row: &row,
                    seg: &seg,
                },
                uninit(&mut out),
            );
            let mut want = vec![0f32; m * n];
            // SAFETY: the pointers cover m·k, k·n and m·n elements with these strides.
            unsafe {
                gemm::gemm(
                    m,
                    n,
                    k,
                    want.as_mut_ptr(),
                    1,
                    n as isize,
                    false,
                    av.as_ptr(),
                    1,
                    k as isize,
                    bv.as_ptr(),
                    1,
                    n as isize,
                    1.0,
                    1.0,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                )
            };
            for i in 0..m * n {
                assert_eq!(
                    out[i].to_bits(),
                    want[i].to_bits(),
                    "({m}, {k}, {n}) at {i}"
                );
                let exact: f64 = (0..k)
                    .map(|kk| av[(i / n) * k + kk] as f64 * bv[kk * n + i % n] as f64)
                    .sum();
                assert!(
                    (out[i] as f64 - exact).abs() < 1e-5 * k as f64,
                    "({m}, {k}, {n})"
                );
            }
        }
    }

    /// Oracle: the `gemm` crate's weight gradient `dW (+)= dY · colᵀ` (row-major `dY`,
    /// transposed view of `col`, as `conv::grad_weight_t` calls it) over two images, the second
    /// accumulated, must give the same bits; odd channel and column counts.
    #[test]
    fn weight_grad_matches_gemm_bit_for_bit() {
        if !available() {
            return;
        }
        for &(o, kd, np) in &[
            (16, 144, 256),
            (24, 216, 512),
            (33, 9, 100),
            (3, 100, 64),
            (64, 576, 64),
        ] {
            let mut want = vec![0f32; o * kd];
            let mut got = vec![f32::NAN; o * kd];
            let o_pad = o.div_ceil(WG_O) * WG_O;
            for img in 0..2u64 {
                let dy = values(o * np, 10 + img);
                let col = values(kd * np, 20 + img);
                // SAFETY: the pointers cover o·np, kd·np and o·kd elements with these strides.
                unsafe {
                    gemm::gemm(
                        o,
                        kd,
                        np,
                        want.as_mut_ptr(),
                        1,
                        kd as isize,
                        img > 0,
                        dy.as_ptr(),
                        1,
                        np as isize,
                        col.as_ptr(),
                        np as isize,
                        1,
                        1.0,
                        1.0,
                        false,
                        false,
                        false,
                        gemm::Parallelism::None,
                    )
                };
                let mut dyt = vec![0f32; np * o_pad];
                for c in 0..o {
                    for p in 0..np {
                        dyt[p * o_pad + c] = dy[c * np + p];
                    }
                }
                let row: Vec<usize> = (0..kd).map(|j| j * np).collect();
                let pix: Vec<usize> = (0..np).collect();
                weight_grad(&dyt, o, &col, &row, &pix, &mut got, img > 0);
            }
            for i in 0..o * kd {
                assert_eq!(
                    got[i].to_bits(),
                    want[i].to_bits(),
                    "({o}, {kd}, {np}) at {i}"
                );
            }
        }
    }
}
