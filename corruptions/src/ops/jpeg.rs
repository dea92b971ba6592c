//! A baseline JPEG round trip as libjpeg-turbo computes it (the library Pillow's
//! `Image.save(.., 'JPEG', quality=q)` and `Image.open` use), in the pixel domain.
//!
//! The pixels a decoder returns depend only on the quantised DCT coefficients; the Huffman
//! coding in between is lossless. So this module runs the lossy stages of libjpeg-turbo's
//! compressor and decompressor and skips the bytes:
//!
//! - compression (`jpeg_set_defaults` + `jpeg_set_quality(q, force_baseline = TRUE)`, as
//!   Pillow calls it): RGB → YCbCr (`jccolor.c`, 16-bit fixed point), 4:2:0 chroma
//!   subsampling by 2x2 averaging with the alternating 1, 2 rounding bias (`jcsample.c`
//!   `h2v2_downsample`), edge replication to whole blocks (`expand_right_edge`,
//!   `jcprepct.c`), the integer "slow" forward DCT (`jfdctint.c`), and quantisation with
//!   rounding (`jcdctmgr.c`, libjpeg-turbo's reciprocal multiplication);
//! - decompression (defaults): dequantisation and the integer "slow" inverse DCT
//!   (`jidctint.c`, with its range-limit table), "fancy" triangle-filter chroma upsampling
//!   (`jdsample.c` `h2v2_fancy_upsample`, edge rows and columns replicated as `jdmainct.c`
//!   does), YCbCr → RGB (`jdcolor.c`).
//!
//! Grey images are one luminance component without colour conversion or subsampling, as
//! Pillow writes mode `L`. Every stage is integer arithmetic, so the result is the same on
//! every platform; libjpeg-turbo's SIMD paths compute the same values as its C code.

/// `std_luminance_quant_tbl` (JPEG Annex K, natural order; `jcparam.c`).
const STD_LUMA: [u16; 64] = [
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113,
    92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
];

/// `std_chrominance_quant_tbl` (JPEG Annex K, natural order; `jcparam.c`).
const STD_CHROMA: [u16; 64] = [
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99,
    47, 66, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
];

/// `jpeg_quality_scaling` then `jpeg_add_quant_table(.., force_baseline = TRUE)`: the
/// table's values scaled by `5000 / q` (q < 50) or `200 - 2q` percent, rounded, clamped to
/// 1..=255. Qualities outside 1..=100 are clamped as libjpeg does.
pub(crate) fn quant_table(basic: &[u16; 64], quality: u8) -> [u16; 64] {
    let q = u32::from(quality.clamp(1, 100));
    let scale = if q < 50 { 5000 / q } else { 200 - 2 * q };
    basic.map(|b| ((u32::from(b) * scale + 50) / 100).clamp(1, 255) as u16)
}

/// `DESCALE(x, n)`: divide by `2^n`, rounding (arithmetic shift).
fn descale(x: i64, n: u32) -> i64 {
    (x + (1 << (n - 1))) >> n
}

const CONST_BITS: u32 = 13;
const PASS1_BITS: u32 = 2;
const FIX_0_298631336: i64 = 2446;
const FIX_0_390180644: i64 = 3196;
const FIX_0_541196100: i64 = 4433;
const FIX_0_765366865: i64 = 6270;
const FIX_0_899976223: i64 = 7373;
const FIX_1_175875602: i64 = 9633;
const FIX_1_501321110: i64 = 12299;
const FIX_1_847759065: i64 = 15137;
const FIX_1_961570560: i64 = 16069;
const FIX_2_053119869: i64 = 16819;
const FIX_2_562915447: i64 = 20995;
const FIX_3_072711026: i64 = 25172;

/// One 1-D pass of `jpeg_fdct_islow` over `d[o], d[o + s], .., d[o + 7s]`: pass 1 (rows)
/// scales its outputs up by `2^PASS1_BITS`, pass 2 (columns) removes that scaling.
fn fdct_1d(d: &mut [i64; 64], o: usize, s: usize, pass1: bool) {
    let at = |k: usize| o + k * s;
    let (tmp0, tmp7) = (d[at(0)] + d[at(7)], d[at(0)] - d[at(7)]);
    let (tmp1, tmp6) = (d[at(1)] + d[at(6)], d[at(1)] - d[at(6)]);
    let (tmp2, tmp5) = (d[at(2)] + d[at(5)], d[at(2)] - d[at(5)]);
    let (tmp3, tmp4) = (d[at(3)] + d[at(4)], d[at(3)] - d[at(4)]);
    let (tmp10, tmp13) = (tmp0 + tmp3, tmp0 - tmp3);
    let (tmp11, tmp12) = (tmp1 + tmp2, tmp1 - tmp2);
    let bits = if pass1 {
        CONST_BITS - PASS1_BITS
    } else {
        CONST_BITS + PASS1_BITS
    };
    if pass1 {
        d[at(0)] = (tmp10 + tmp11) << PASS1_BITS;
        d[at(4)] = (tmp10 - tmp11) << PASS1_BITS;
    } else {
        d[at(0)] = descale(tmp10 + tmp11, PASS1_BITS);
        d[at(4)] = descale(tmp10 - tmp11, PASS1_BITS);
    }
    let z1 = (tmp12 + tmp13) * FIX_0_541196100;
    d[at(2)] = descale(z1 + tmp13 * FIX_0_765366865, bits);
    d[at(6)] = descale(z1 - tmp12 * FIX_1_847759065, bits);

    let z1 = tmp4 + tmp7;
    let z2 = tmp5 + tmp6;
    let z3 = tmp4 + tmp6;
    let z4 = tmp5 + tmp7;
    let z5 = (z3 + z4) * FIX_1_175875602;
    let tmp4 = tmp4 * FIX_0_298631336;
    let tmp5 = tmp5 * FIX_2_053119869;
    let tmp6 = tmp6 * FIX_3_072711026;
    let tmp7 = tmp7 * FIX_1_501321110;
    let z1 = -z1 * FIX_0_899976223;
    let z2 = -z2 * FIX_2_562915447;
    let z3 = -z3 * FIX_1_961570560 + z5;
    let z4 = -z4 * FIX_0_390180644 + z5;
    d[at(7)] = descale(tmp4 + z1 + z3, bits);
    d[at(5)] = descale(tmp5 + z2 + z4, bits);
    d[at(3)] = descale(tmp6 + z2 + z3, bits);
    d[at(1)] = descale(tmp7 + z1 + z4, bits);
}

/// `jpeg_fdct_islow`: rows, then columns; the result is 8 times a true DCT.
fn fdct_islow(d: &mut [i64; 64]) {
    for row in 0..8 {
        fdct_1d(d, row * 8, 1, true);
    }
    for col in 0..8 {
        fdct_1d(d, col, 8, false);
    }
}

/// libjpeg-turbo's `compute_reciprocal` for one divisor: (reciprocal, correction, shift).
fn reciprocal(divisor: u32) -> (u32, u32, u32) {
    if divisor <= 1 {
        return (1, 0, 0);
    }
    let b = 31 - divisor.leading_zeros();
    let mut r = 16 + b;
    let mut fq = (1u64 << r) / u64::from(divisor);
    let fr = (1u64 << r) % u64::from(divisor);
    let mut c = divisor / 2;
    if fr == 0 {
        fq >>= 1;
        r -= 1;
    } else if fr <= u64::from(divisor / 2) {
        c += 1;
    } else {
        fq += 1;
    }
    (fq as u32, c, r)
}

/// libjpeg-turbo's `quantize`: `|x| / divisor` rounded half up, by reciprocal
/// multiplication, with the sign restored.
fn quantize(x: i64, (recip, corr, shift): (u32, u32, u32)) -> i64 {
    let q = ((x.unsigned_abs() + u64::from(corr)) * u64::from(recip)) >> shift;
    if x < 0 {
        -(q as i64)
    } else {
        q as i64
    }
}

/// The post-IDCT range limit of `jdmaster.c` (`IDCT_range_limit`): `x + 128` clamped to
/// 0..=255 for `-512 <= x < 512`, wrapping with period 1024 beyond, as the table lookup
/// `range_limit[x & RANGE_MASK]` does.
fn idct_range_limit(x: i64) -> u8 {
    let m = x & 1023;
    match m {
        0..=127 => (m + 128) as u8,
        128..=511 => 255,
        512..=895 => 0,
        _ => (m - 896) as u8,
    }
}

/// `jpeg_idct_islow` on dequantised coefficients `coef[i] · quant[i]`, writing 8x8 samples.
fn idct_islow(coef: &[i64; 64], quant: &[u16; 64], out: &mut [u8; 64]) {
    let mut ws = [0i64; 64];
    for col in 0..8 {
        let c = |k: usize| coef[k * 8 + col] * i64::from(quant[k * 8 + col]);
        if (1..8).all(|k| coef[k * 8 + col] == 0) {
            let dc = c(0) << PASS1_BITS;
            for k in 0..8 {
                ws[k * 8 + col] = dc;
            }
            continue;
        }
        let v = idct_1d([c(0), c(1), c(2), c(3), c(4), c(5), c(6), c(7)]);
        for k in 0..8 {
            ws[k * 8 + col] = descale(v[k], CONST_BITS - PASS1_BITS);
        }
    }
    for row in 0..8 {
        let w = &ws[row * 8..row * 8 + 8];
        if w[1..].iter().all(|&v| v == 0) {
            let dc = idct_range_limit(descale(w[0], PASS1_BITS + 3));
            out[row * 8..row * 8 + 8].fill(dc);
            continue;
        }
        let v = idct_1d([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
        for k in 0..8 {
            out[row * 8 + k] = idct_range_limit(descale(v[k], CONST_BITS + PASS1_BITS + 3));
        }
    }
}

/// The shared 1-D body of `jpeg_idct_islow` (both passes), before the final descale.
fn idct_1d(x: [i64; 8]) -> [i64; 8] {
    let z1 = (x[2] + x[6]) * FIX_0_541196100;
    let tmp2 = z1 - x[6] * FIX_1_847759065;
    let tmp3 = z1 + x[2] * FIX_0_765366865;
    let tmp0 = (x[0] + x[4]) << CONST_BITS;
    let tmp1 = (x[0] - x[4]) << CONST_BITS;
    let (tmp10, tmp13) = (tmp0 + tmp3, tmp0 - tmp3);
    let (tmp11, tmp12) = (tmp1 + tmp2, tmp1 - tmp2);

    let (t0, t1, t2, t3) = (x[7], x[5], x[3], x[1]);
    let z1 = t0 + t3;
    let z2 = t1 + t2;
    let z3 = t0 + t2;
    let z4 = t1 + t3;
    let z5 = (z3 + z4) * FIX_1_175875602;
    let z1 = -z1 * FIX_0_899976223;
    let z2 = -z2 * FIX_2_562915447;
    let z3 = -z3 * FIX_1_961570560 + z5;
    let z4 = -z4 * FIX_0_390180644 + z5;
    let t0 = t0 * FIX_0_298631336 + z1 + z3;
    let t1 = t1 * FIX_2_053119869 + z2 + z4;
    let t2 = t2 * FIX_3_072711026 + z2 + z3;
    let t3 = t3 * FIX_1_501321110 + z1 + z4;
    [
        tmp10 + t3,
        tmp11 + t2,
        tmp12 + t1,
        tmp13 + t0,
        tmp13 - t0,
        tmp12 - t1,
        tmp11 - t2,
        tmp10 - t3,
    ]
}

/// A component plane padded to whole 8x8 blocks (`ph x pw`, both multiples of 8).
struct Plane {
    ph: usize,
    pw: usize,
    data: Vec<u8>,
}

impl Plane {
    /// `src` (`h x w`) padded to whole blocks by repeating its last column and last row
    /// (`expand_right_edge`, `expand_bottom_edge`).
    fn padded(src: &[u8], h: usize, w: usize) -> Plane {
        let (ph, pw) = (h.div_ceil(8) * 8, w.div_ceil(8) * 8);
        let mut data = vec![0u8; ph * pw];
        for y in 0..ph {
            let row = &src[y.min(h - 1) * w..(y.min(h - 1) + 1) * w];
            let out = &mut data[y * pw..(y + 1) * pw];
            out[..w].copy_from_slice(row);
            out[w..].fill(row[w - 1]);
        }
        Plane { ph, pw, data }
    }

    /// Forward DCT, quantisation, dequantisation and inverse DCT of every block, in place.
    fn code(&mut self, quant: &[u16; 64]) {
        let recips: Vec<(u32, u32, u32)> = quant
            .iter()
            .map(|&q| reciprocal(u32::from(q) << 3))
            .collect();
        let mut block = [0i64; 64];
        let mut out = [0u8; 64];
        for by in (0..self.ph).step_by(8) {
            for bx in (0..self.pw).step_by(8) {
                for y in 0..8 {
                    for x in 0..8 {
                        block[y * 8 + x] = i64::from(self.data[(by + y) * self.pw + bx + x]) - 128;
                    }
                }
                fdct_islow(&mut block);
                for (v, &r) in block.iter_mut().zip(&recips) {
                    *v = quantize(*v, r);
                }
                idct_islow(&block, quant, &mut out);
                for y in 0..8 {
                    self.data[(by + y) * self.pw + bx..(by + y) * self.pw + bx + 8]
                        .copy_from_slice(&out[y * 8..y * 8 + 8]);
                }
            }
        }
    }

    /// The top-left `h x w` samples.
    fn crop(&self, h: usize, w: usize) -> Vec<u8> {
        (0..h)
            .flat_map(|y| &self.data[y * self.pw..y * self.pw + w])
            .copied()
            .collect()
    }
}

/// `h2v2_downsample` of one full-resolution chroma plane (`h x w`): the input is widened to
/// `2 · pw` columns (`pw` = the chroma width in whole blocks) by repeating its last column and
/// made even in height by repeating its last row; each output sample is the 2x2 sum plus a
/// bias of 1, 2, 1, 2, … along the row, shifted right by 2. The result (`ceil(h/2)` rows,
/// `pw` columns) is then padded to whole blocks by repeating its last row.
fn downsample_h2v2(src: &[u8], h: usize, w: usize) -> Plane {
    let (ch, cw) = (h.div_ceil(2), w.div_ceil(2));
    let (ph, pw) = (ch.div_ceil(8) * 8, cw.div_ceil(8) * 8);
    let at = |y: usize, x: usize| u32::from(src[y.min(h - 1) * w + x.min(w - 1)]);
    let mut data = vec![0u8; ph * pw];
    for oy in 0..ph {
        let y = oy.min(ch - 1) * 2;
        for ox in 0..pw {
            let x = ox * 2;
            let bias = if ox % 2 == 0 { 1 } else { 2 };
            let sum = at(y, x) + at(y, x + 1) + at(y + 1, x) + at(y + 1, x + 1);
            data[oy * pw + ox] = ((sum + bias) >> 2) as u8;
        }
    }
    Plane { ph, pw, data }
}

/// `h2v2_fancy_upsample` of a decoded chroma plane (`ch x cw` samples, `ch, cw >= 1`) to
/// `h x w`: each output sample is 9/16, 3/16, 3/16, 1/16 of its four nearest inputs
/// (vertical sums `3·near + far` first, then `(3·this + other + 8 or 7) >> 4` horizontally);
/// the row above the first and below the last repeat them, and the first and last columns
/// use `4 · colsum`.
fn upsample_h2v2_fancy(src: &[u8], ch: usize, cw: usize, h: usize, w: usize) -> Vec<u8> {
    let mut out = vec![0u8; h * w];
    let mut sums = vec![0i32; cw];
    let mut row = vec![0u8; 2 * cw];
    for oy in 0..h {
        let near = oy / 2;
        let far = if oy % 2 == 0 {
            near.saturating_sub(1)
        } else {
            (near + 1).min(ch - 1)
        };
        for (x, s) in sums.iter_mut().enumerate() {
            *s = 3 * i32::from(src[near * cw + x]) + i32::from(src[far * cw + x]);
        }
        for x in 0..cw {
            let this = sums[x];
            row[2 * x] = if x == 0 {
                ((this * 4 + 8) >> 4) as u8
            } else {
                ((this * 3 + sums[x - 1] + 8) >> 4) as u8
            };
            row[2 * x + 1] = if x + 1 == cw {
                ((this * 4 + 7) >> 4) as u8
            } else {
                ((this * 3 + sums[x + 1] + 7) >> 4) as u8
            };
        }
        out[oy * w..(oy + 1) * w].copy_from_slice(&row[..w]);
    }
    out
}

/// Grey JPEG round trip of one `h x w` plane (`h, w >= 1`) at `quality`.
pub(crate) fn round_trip_grey(src: &[u8], h: usize, w: usize, quality: u8) -> Vec<u8> {
    let mut y = Plane::padded(src, h, w);
    y.code(&quant_table(&STD_LUMA, quality));
    y.crop(h, w)
}

/// Colour JPEG round trip (YCbCr, 4:2:0) of planar RGB (`r`, `g`, `b`, each `h x w`,
/// `h, w >= 1`) at `quality`; returns the decoded R, G and B planes back to back.
pub(crate) fn round_trip_rgb(
    r: &[u8],
    g: &[u8],
    b: &[u8],
    h: usize,
    w: usize,
    quality: u8,
) -> Vec<u8> {
    // jccolor.c: FIX(x) = round(x · 2^16).
    const ONE_HALF: i32 = 1 << 15;
    const CBCR_OFFSET: i32 = 128 << 16;
    let n = h * w;
    let (mut yp, mut cb, mut cr) = (vec![0u8; n], vec![0u8; n], vec![0u8; n]);
    for i in 0..n {
        let (r, g, b) = (i32::from(r[i]), i32::from(g[i]), i32::from(b[i]));
        yp[i] = ((19595 * r + 38470 * g + 7471 * b + ONE_HALF) >> 16) as u8;
        cb[i] = ((-11059 * r - 21709 * g + 32768 * b + CBCR_OFFSET + ONE_HALF - 1) >> 16) as u8;
        cr[i] = ((32768 * r - 27439 * g - 5329 * b + CBCR_OFFSET + ONE_HALF - 1) >> 16) as u8;
    }
    let lq = quant_table(&STD_LUMA, quality);
    let cq = quant_table(&STD_CHROMA, quality);
    let mut y = Plane::padded(&yp, h, w);
    y.code(&lq);
    let yd = y.crop(h, w);
    let (ch, cw) = (h.div_ceil(2), w.div_ceil(2));
    let mut chroma = [downsample_h2v2(&cb, h, w), downsample_h2v2(&cr, h, w)];
    let [cbd, crd] = chroma.each_mut().map(|p| {
        p.code(&cq);
        upsample_h2v2_fancy(&p.crop(ch, cw), ch, cw, h, w)
    });
    // jdcolor.c: R = Y + round(1.402·(Cr-128)), B = Y + round(1.772·(Cb-128)),
    // G = Y + ((-0.34414·(Cb-128) - 0.71414·(Cr-128)) · 2^16 + 2^15) >> 16.
    let mut out = vec![0u8; 3 * n];
    for i in 0..n {
        let yv = i32::from(yd[i]);
        let cbv = i32::from(cbd[i]) - 128;
        let crv = i32::from(crd[i]) - 128;
        let rv = yv + ((91881 * crv + ONE_HALF) >> 16);
        let gv = yv + ((-22554 * cbv + ONE_HALF - 46802 * crv) >> 16);
        let bv = yv + ((116130 * cbv + ONE_HALF) >> 16);
        out[i] = rv.clamp(0, 255) as u8;
        out[n + i] = gv.clamp(0, 255) as u8;
        out[2 * n + i] = bv.clamp(0, 255) as u8;
    }
    out
}
