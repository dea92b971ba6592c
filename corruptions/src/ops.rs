//! Image operations the corruptions are built from, each a port of the library function the
//! reference scripts call (SciPy / scikit-image, OpenCV, Pillow, ImageMagick). Planes are
//! row-major `h x w` slices.

/// How a filter reads outside the image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Border {
    /// Repeat the edge pixel (SciPy `nearest`, ImageMagick edge, OpenCV `BORDER_REPLICATE`).
    Nearest,
    /// Half-sample symmetric `dcba|abcd` (SciPy / scikit-image `reflect`).
    Reflect,
    /// Whole-sample symmetric `dcb|abcd` (OpenCV `BORDER_REFLECT_101`, SciPy `mirror`).
    Reflect101,
}

/// Maps a possibly out-of-range index into `0..n` (`n >= 1`).
#[inline]
pub(crate) fn border_index(i: isize, n: usize, border: Border) -> usize {
    let n_i = n as isize;
    if (0..n_i).contains(&i) {
        return i as usize;
    }
    match border {
        Border::Nearest => i.clamp(0, n_i - 1) as usize,
        Border::Reflect => {
            let p = 2 * n_i;
            let m = i.rem_euclid(p);
            (if m >= n_i { p - 1 - m } else { m }) as usize
        }
        Border::Reflect101 => {
            if n == 1 {
                return 0;
            }
            let p = 2 * n_i - 2;
            let m = i.rem_euclid(p);
            (if m >= n_i { p - m } else { m }) as usize
        }
    }
}

/// SciPy's `_gaussian_kernel1d`: radius `int(truncate * sigma + 0.5)`, weights
/// `exp(-x² / (2σ²))` normalised to sum 1.
pub(crate) fn gaussian_kernel(sigma: f64, truncate: f64) -> Vec<f32> {
    let radius = (truncate * sigma + 0.5) as isize;
    let mut k: Vec<f64> = (-radius..=radius)
        .map(|x| (-0.5 / (sigma * sigma) * (x * x) as f64).exp())
        .collect();
    let s: f64 = k.iter().sum();
    k.iter_mut().for_each(|v| *v /= s);
    k.into_iter().map(|v| v as f32).collect()
}

/// Separable correlation of a plane with `ky` along columns and `kx` along rows (odd
/// kernels), reading outside the plane through `border`.
pub(crate) fn separable(
    plane: &[f32],
    h: usize,
    w: usize,
    ky: &[f32],
    kx: &[f32],
    border: Border,
) -> Vec<f32> {
    // Rows (along x): pad each row by rx on both sides, then slide the kernel.
    let rx = kx.len() / 2;
    let mut tmp = vec![0f32; h * w];
    let mut pad = vec![0f32; w + 2 * rx];
    for y in 0..h {
        let row = &plane[y * w..(y + 1) * w];
        for (i, p) in pad.iter_mut().enumerate().take(rx) {
            *p = row[border_index(i as isize - rx as isize, w, border)];
        }
        pad[rx..rx + w].copy_from_slice(row);
        for i in 0..rx {
            pad[rx + w + i] = row[border_index((w + i) as isize, w, border)];
        }
        let out = &mut tmp[y * w..(y + 1) * w];
        out.iter_mut().for_each(|o| *o = 0.0);
        for (j, &k) in kx.iter().enumerate() {
            for (o, &p) in out.iter_mut().zip(&pad[j..j + w]) {
                *o += k * p;
            }
        }
    }
    // Columns (along y): whole-row multiply-adds.
    let ry = ky.len() / 2;
    let mut out = vec![0f32; h * w];
    for y in 0..h {
        let orow = &mut out[y * w..(y + 1) * w];
        for (j, &k) in ky.iter().enumerate() {
            let sy = border_index(y as isize + j as isize - ry as isize, h, border);
            for (o, &t) in orow.iter_mut().zip(&tmp[sy * w..(sy + 1) * w]) {
                *o += k * t;
            }
        }
    }
    out
}

/// scikit-image `gaussian` / SciPy `gaussian_filter` on one plane (σ ≤ 1e-15 is the
/// identity, as in SciPy).
pub(crate) fn gaussian_filter(
    plane: &[f32],
    h: usize,
    w: usize,
    sigma: f64,
    truncate: f64,
    border: Border,
) -> Vec<f32> {
    if sigma <= 1e-15 {
        return plane.to_vec();
    }
    let k = gaussian_kernel(sigma, truncate);
    separable(plane, h, w, &k, &k, border)
}

/// OpenCV `getGaussianKernel(ksize, sigma)` for `sigma > 0`, in `f64`.
pub(crate) fn cv_gaussian_kernel(ksize: usize, sigma: f64) -> Vec<f64> {
    let scale2x = -0.5 / (sigma * sigma);
    let mut k: Vec<f64> = (0..ksize)
        .map(|i| {
            let x = i as f64 - (ksize as f64 - 1.0) * 0.5;
            (scale2x * x * x).exp()
        })
        .collect();
    let s: f64 = k.iter().sum();
    k.iter_mut().for_each(|v| *v /= s);
    k
}

/// OpenCV `filter2D` (correlation, anchor at the centre, `BORDER_REFLECT_101`) with an odd
/// `kh x kw` kernel, accumulated in `f64` (the reference filters a `float64` image).
pub(crate) fn filter2d(
    plane: &[f32],
    h: usize,
    w: usize,
    kernel: &[f32],
    kh: usize,
    kw: usize,
) -> Vec<f64> {
    let (ry, rx) = ((kh / 2) as isize, (kw / 2) as isize);
    let xs: Vec<Vec<usize>> = (0..w as isize)
        .map(|x| {
            (-rx..=rx)
                .map(|d| border_index(x + d, w, Border::Reflect101))
                .collect()
        })
        .collect();
    let mut out = vec![0f64; h * w];
    for y in 0..h as isize {
        for (dy, krow) in (-ry..=ry).zip(kernel.chunks(kw)) {
            let sy = border_index(y + dy, h, Border::Reflect101);
            let row = &plane[sy * w..(sy + 1) * w];
            let orow = &mut out[y as usize * w..(y as usize + 1) * w];
            for (x, o) in orow.iter_mut().enumerate() {
                let idx = &xs[x];
                let mut acc = 0f64;
                for (k, &i) in krow.iter().zip(idx) {
                    acc += f64::from(*k) * f64::from(row[i]);
                }
                *o += acc;
            }
        }
    }
    out
}

/// scikit-image `rgb2hsv` for one pixel (ties: blue beats green beats red, as its masks are
/// assigned in that order).
#[inline]
pub(crate) fn rgb_to_hsv(r: f64, g: f64, b: f64) -> (f64, f64, f64) {
    let v = r.max(g).max(b);
    let delta = v - r.min(g).min(b);
    if delta == 0.0 {
        return (0.0, 0.0, v);
    }
    let s = delta / v;
    let h6 = if b == v {
        4.0 + (r - g) / delta
    } else if g == v {
        2.0 + (b - r) / delta
    } else {
        (g - b) / delta
    };
    let h = (h6 / 6.0).rem_euclid(1.0);
    (h, s, v)
}

/// scikit-image `hsv2rgb` for one pixel.
#[inline]
pub(crate) fn hsv_to_rgb(h: f64, s: f64, v: f64) -> (f64, f64, f64) {
    let hi = (h * 6.0).floor();
    let f = h * 6.0 - hi;
    let p = v * (1.0 - s);
    let q = v * (1.0 - f * s);
    let t = v * (1.0 - (1.0 - f) * s);
    match (hi as i64).rem_euclid(256).rem_euclid(6) {
        0 => (v, t, p),
        1 => (q, v, p),
        2 => (p, v, t),
        3 => (p, q, v),
        4 => (t, p, v),
        _ => (v, p, q),
    }
}

/// One axis of SciPy `zoom(order=1)` (default `grid_mode=False`) of a length-`n` axis by `z`,
/// followed by the crop `[trim, trim + keep)`: for each kept output index the two source
/// indices and the weight of the second. The output length is `round(n * z)` and output `o`
/// reads input coordinate `o * (n - 1) / (out - 1)`.
pub(crate) fn zoom_axis(n: usize, z: f64, trim: usize, keep: usize) -> AxisMap {
    let out = (n as f64 * z).round() as usize;
    let scale = if out > 1 {
        (n as f64 - 1.0) / (out as f64 - 1.0)
    } else {
        0.0
    };
    (trim..trim + keep)
        .map(|o| {
            let c = (o as f64 * scale).min(n as f64 - 1.0).max(0.0);
            let i0 = c.floor() as usize;
            let f = c - i0 as f64;
            let i1 = (i0 + 1).min(n - 1);
            (i0, i1, f)
        })
        .collect()
}

/// One axis of a separable bilinear sampling: (first index, second index, weight of second).
pub(crate) type AxisMap = Vec<(usize, usize, f64)>;

/// The sampling maps of `clipped_zoom` (CIFAR-10-C / imagecorruptions) for an `h x w` image:
/// crop the centre `ceil(h/z) x ceil(w/z)`, zoom it by `z` (order 1), trim to `h x w`.
/// Returns (row map, column map) in image coordinates.
pub(crate) fn clipped_zoom_maps(h: usize, w: usize, z: f64) -> (AxisMap, AxisMap) {
    let axis = |n: usize| {
        let ch = (n as f64 / z).ceil() as usize;
        let ch = ch.clamp(1, n);
        let top = (n - ch) / 2;
        let out = (ch as f64 * z).round() as usize;
        let trim = out.saturating_sub(n) / 2;
        let keep = n.min(out.saturating_sub(trim));
        let mut m = zoom_axis(ch, z, trim, keep);
        for e in m.iter_mut() {
            e.0 += top;
            e.1 += top;
        }
        // An output shorter than the image (cannot happen for z >= 1) repeats its last row.
        while m.len() < n {
            let last = *m.last().unwrap_or(&(0, 0, 0.0));
            m.push(last);
        }
        m
    };
    (axis(h), axis(w))
}

/// Applies separable sampling maps to a plane (columns of each needed row pair first, then
/// along the row), in `f64` like SciPy's interpolation, and adds the `f32`-rounded result
/// into `acc` (`rows.len() x cols.len()`). `tmp` is scratch of at least the plane width.
pub(crate) fn accumulate_maps(
    plane: &[f32],
    w: usize,
    rows: &AxisMap,
    cols: &AxisMap,
    acc: &mut [f32],
    tmp: &mut Vec<f64>,
) {
    tmp.resize(w, 0.0);
    let ow = cols.len();
    for (y, &(a, b, f)) in rows.iter().enumerate() {
        let ra = &plane[a * w..(a + 1) * w];
        if f == 0.0 {
            tmp.iter_mut().zip(ra).for_each(|(t, &p)| *t = f64::from(p));
        } else {
            let rb = &plane[b * w..(b + 1) * w];
            for ((t, &p), &q) in tmp.iter_mut().zip(ra).zip(rb) {
                *t = f64::from(p) * (1.0 - f) + f64::from(q) * f;
            }
        }
        for (o, &(c0, c1, g)) in acc[y * ow..(y + 1) * ow].iter_mut().zip(cols) {
            *o += (tmp[c0] * (1.0 - g) + tmp[c1] * g) as f32;
        }
    }
}

/// [`accumulate_maps`] into a fresh zeroed buffer.
pub(crate) fn apply_maps(plane: &[f32], w: usize, rows: &AxisMap, cols: &AxisMap) -> Vec<f32> {
    let mut out = vec![0f32; rows.len() * cols.len()];
    let mut tmp = Vec::new();
    accumulate_maps(plane, w, rows, cols, &mut out, &mut tmp);
    out
}

/// A bilinear sample: four source indices and their weights.
pub(crate) type Tap = ([u32; 4], [f32; 4]);

/// Builds a bilinear [`Tap`] at `(yi + fy, xi + fx)` with out-of-range indices mapped by
/// `border`.
#[inline]
fn bilinear_tap(h: usize, w: usize, yi: isize, xi: isize, fy: f32, fx: f32, border: Border) -> Tap {
    let ya = border_index(yi, h, border);
    let yb = border_index(yi + 1, h, border);
    let xa = border_index(xi, w, border);
    let xb = border_index(xi + 1, w, border);
    (
        [
            (ya * w + xa) as u32,
            (ya * w + xb) as u32,
            (yb * w + xa) as u32,
            (yb * w + xb) as u32,
        ],
        [
            (1.0 - fy) * (1.0 - fx),
            (1.0 - fy) * fx,
            fy * (1.0 - fx),
            fy * fx,
        ],
    )
}

/// SciPy `map_coordinates(order=1, mode='reflect')` taps at `(y, x)`: linear interpolation of
/// the half-sample symmetric extension.
#[inline]
pub(crate) fn reflect_tap(h: usize, w: usize, y: f64, x: f64) -> Tap {
    let y0 = y.floor();
    let x0 = x.floor();
    bilinear_tap(
        h,
        w,
        y0 as isize,
        x0 as isize,
        (y - y0) as f32,
        (x - x0) as f32,
        Border::Reflect,
    )
}

/// Samples a plane at precomputed taps.
pub(crate) fn sample_taps(plane: &[f32], taps: &[Tap]) -> Vec<f32> {
    taps.iter()
        .map(|(i, k)| {
            plane[i[0] as usize] * k[0]
                + plane[i[1] as usize] * k[1]
                + plane[i[2] as usize] * k[2]
                + plane[i[3] as usize] * k[3]
        })
        .collect()
}

/// OpenCV `getAffineTransform`: the 2x3 matrix mapping `src[i]` to `dst[i]` (points are
/// `(x, y)`). Returns `None` for collinear points.
pub(crate) fn affine_from_points(src: [[f64; 2]; 3], dst: [[f64; 2]; 3]) -> Option<[f64; 6]> {
    // Solve [x y 1] * [a b c]^T = x' and the same for y'.
    let det = src[0][0] * (src[1][1] - src[2][1]) - src[0][1] * (src[1][0] - src[2][0])
        + (src[1][0] * src[2][1] - src[2][0] * src[1][1]);
    if det.abs() < 1e-12 {
        return None;
    }
    let solve = |t: [f64; 3]| -> [f64; 3] {
        // Cramer's rule on [[x0 y0 1][x1 y1 1][x2 y2 1]] * [a b c] = t.
        let m = |a: [[f64; 3]; 3]| {
            a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1])
                - a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0])
                + a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0])
        };
        let base = [
            [src[0][0], src[0][1], 1.0],
            [src[1][0], src[1][1], 1.0],
            [src[2][0], src[2][1], 1.0],
        ];
        let d = m(base);
        let mut r = [0.0; 3];
        for (col, rv) in r.iter_mut().enumerate() {
            let mut a = base;
            for row in 0..3 {
                a[row][col] = t[row];
            }
            *rv = m(a) / d;
        }
        r
    };
    let a = solve([dst[0][0], dst[1][0], dst[2][0]]);
    let b = solve([dst[0][1], dst[1][1], dst[2][1]]);
    Some([a[0], a[1], a[2], b[0], b[1], b[2]])
}

/// The taps of OpenCV `warpAffine(src, M, (w, h), flags=INTER_LINEAR,
/// borderMode=BORDER_REFLECT_101)`: inverts `M`, maps each destination pixel back with 10-bit
/// fixed point and samples bilinearly at 1/32-pixel steps (`INTER_BITS = 5`), as OpenCV's
/// `WarpAffineInvoker` does.
pub(crate) fn warp_affine_taps(h: usize, w: usize, m: [f64; 6]) -> Vec<Tap> {
    let d = m[0] * m[4] - m[1] * m[3];
    let d = if d != 0.0 { 1.0 / d } else { 0.0 };
    let (a11, a22) = (m[4] * d, m[0] * d);
    let (a12, a21) = (-m[1] * d, -m[3] * d);
    let b1 = -a11 * m[2] - a12 * m[5];
    let b2 = -a21 * m[2] - a22 * m[5];
    const AB_SCALE: f64 = 1024.0;
    const ROUND_DELTA: i64 = 16; // AB_SCALE / INTER_TAB_SIZE / 2
    let mut taps = Vec::with_capacity(h * w);
    for y in 0..h {
        let x0 = (((a12 * y as f64 + b1) * AB_SCALE).round_ties_even() as i64) + ROUND_DELTA;
        let y0 = (((a22 * y as f64 + b2) * AB_SCALE).round_ties_even() as i64) + ROUND_DELTA;
        for x in 0..w {
            let adx = (a11 * x as f64 * AB_SCALE).round_ties_even() as i64;
            let ady = (a21 * x as f64 * AB_SCALE).round_ties_even() as i64;
            let xf = (x0 + adx) >> 5;
            let yf = (y0 + ady) >> 5;
            let (xi, yi) = ((xf >> 5) as isize, (yf >> 5) as isize);
            let (fx, fy) = ((xf & 31) as f32 / 32.0, (yf & 31) as f32 / 32.0);
            taps.push(bilinear_tap(h, w, yi, xi, fy, fx, Border::Reflect101));
        }
    }
    taps
}

/// Pillow's resampling coefficients (`precompute_coeffs`) for the BOX filter, converted to
/// its 8-bit fixed point (22 fractional bits): for each output index, the first input index
/// and the integer weights.
fn pil_box_coeffs(in_size: usize, out_size: usize) -> Vec<(usize, Vec<i32>)> {
    const PRECISION_BITS: u32 = 32 - 8 - 2;
    let scale = in_size as f64 / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = 0.5 * filterscale;
    let ss = 1.0 / filterscale;
    (0..out_size)
        .map(|xx| {
            let center = (xx as f64 + 0.5) * scale;
            let xmin = ((center - support + 0.5) as isize).max(0) as usize;
            let xmax = ((center + support + 0.5) as isize).min(in_size as isize) as usize;
            let n = xmax.saturating_sub(xmin);
            let mut k: Vec<f64> = (0..n)
                .map(|x| {
                    let t = (x as f64 + xmin as f64 - center + 0.5) * ss;
                    if t > -0.5 && t <= 0.5 {
                        1.0
                    } else {
                        0.0
                    }
                })
                .collect();
            let ww: f64 = k.iter().sum();
            if ww != 0.0 {
                k.iter_mut().for_each(|v| *v /= ww);
            }
            let ki = k
                .iter()
                .map(|&v| {
                    let s = v * f64::from(1u32 << PRECISION_BITS);
                    (if v < 0.0 { s - 0.5 } else { s + 0.5 }) as i32
                })
                .collect();
            (xmin, ki)
        })
        .collect()
}

/// Pillow `Image.resize((out_w, out_h), Image.BOX)` for one input and output size, with the
/// coefficients computed once and applied to any number of 8-bit planes.
pub(crate) struct PilBoxResize {
    h: usize,
    w: usize,
    out_h: usize,
    out_w: usize,
    cx: Vec<(usize, Vec<i32>)>,
    cy: Vec<(usize, Vec<i32>)>,
}

impl PilBoxResize {
    /// Coefficients for `h x w -> out_h x out_w`.
    pub(crate) fn new(h: usize, w: usize, out_h: usize, out_w: usize) -> Self {
        PilBoxResize {
            h,
            w,
            out_h,
            out_w,
            cx: pil_box_coeffs(w, out_w),
            cy: pil_box_coeffs(h, out_h),
        }
    }

    /// Resizes one plane: a horizontal pass then a vertical pass, each rounded to 8 bits,
    /// a pass skipped when that size is unchanged (as Pillow's `ImagingResample`).
    pub(crate) fn apply(&self, plane: &[u8]) -> Vec<u8> {
        const PRECISION_BITS: u32 = 32 - 8 - 2;
        let apply = |src: &[u8], start: usize, stride: usize, coeffs: &(usize, Vec<i32>)| -> u8 {
            let mut ss: i64 = 1 << (PRECISION_BITS - 1);
            for (j, &k) in coeffs.1.iter().enumerate() {
                ss += i64::from(src[start + (coeffs.0 + j) * stride]) * i64::from(k);
            }
            (ss >> PRECISION_BITS).clamp(0, 255) as u8
        };
        let (h, w, out_h, out_w) = (self.h, self.w, self.out_h, self.out_w);
        let tmp: Vec<u8> = if out_w != w {
            let mut t = Vec::with_capacity(h * out_w);
            for y in 0..h {
                for c in &self.cx {
                    t.push(apply(plane, y * w, 1, c));
                }
            }
            t
        } else {
            plane.to_vec()
        };
        if out_h == h {
            return tmp;
        }
        let mut out = Vec::with_capacity(out_h * out_w);
        for c in &self.cy {
            for x in 0..out_w {
                out.push(apply(&tmp, x, out_w, c));
            }
        }
        out
    }
}

/// ImageMagick `GetOptimalKernelWidth1D(radius, sigma)` (MagickCore/gem.c) for the case the
/// recipes use, `radius > MagickEpsilon`: `2 * ceil(radius) + 1`. A radius of 0 (not used by
/// any table) falls back to the width where the Gaussian drops below 1/65535, as ImageMagick's
/// search loop does for Q16.
pub(crate) fn im_optimal_kernel_width(radius: f64, sigma: f64) -> usize {
    if radius > 1.0e-12 {
        return (2.0 * radius.ceil() + 1.0) as usize;
    }
    let gamma = sigma.abs();
    if gamma <= 1.0e-12 {
        return 3;
    }
    let alpha = 1.0 / (2.0 * gamma * gamma);
    let beta = 1.0 / ((2.0 * std::f64::consts::PI).sqrt() * gamma);
    let mut width = 5usize;
    loop {
        let j = ((width - 1) / 2) as isize;
        let normalize: f64 = (-j..=j)
            .map(|i| (-((i * i) as f64) * alpha).exp() * beta)
            .sum();
        let value = (-((j * j) as f64) * alpha).exp() * beta / normalize;
        if value < 1.0 / 65535.0 || value < 1.0e-12 {
            break;
        }
        width += 2;
    }
    width - 2
}

/// ImageMagick `GetMotionBlurKernel(width, sigma)` (MagickCore/effect.c): the one-sided
/// Gaussian `k[i] = exp(-i² / (2σ²)) / (sqrt(2π) σ)` for `i = 0..width`, normalised to sum 1.
pub(crate) fn im_motion_kernel(width: usize, sigma: f64) -> Vec<f64> {
    let s = if sigma.abs() < 1.0e-12 {
        1.0e-12
    } else {
        sigma
    };
    let sq2pi = (2.0 * std::f64::consts::PI).sqrt();
    let mut k: Vec<f64> = (0..width)
        .map(|i| (-((i * i) as f64) / (2.0 * s * s)).exp() / (sq2pi * s))
        .collect();
    let n: f64 = k.iter().sum();
    k.iter_mut().for_each(|v| *v /= n);
    k
}

/// ImageMagick `MotionBlurImage`'s sample offsets: with `point = (width·sin a, width·cos a)`,
/// `offset[i].x = ceil(i·point.y / hypot(point) - 0.5)` and
/// `offset[i].y = ceil(i·point.x / hypot(point) - 0.5)`, i.e. tap `i` reads the pixel about
/// `i` steps along `(cos a, sin a)` (x right, y down).
pub(crate) fn im_motion_offsets(width: usize, angle_deg: f64) -> Vec<(isize, isize)> {
    let a = angle_deg.to_radians();
    let px = width as f64 * a.sin();
    let py = width as f64 * a.cos();
    let hyp = px.hypot(py);
    (0..width)
        .map(|i| {
            let ox = ((i as f64 * py) / hyp - 0.5).ceil() as isize;
            let oy = ((i as f64 * px) / hyp - 0.5).ceil() as isize;
            (ox, oy)
        })
        .collect()
}

/// A port of ImageMagick 6/7 `MotionBlurImage(image, radius, sigma, angle)` (MagickCore/
/// effect.c, Andrew Protano's effect) on one 8-bit plane, as the CIFAR-10-C script runs it
/// through Wand on a PNG: width from `GetOptimalKernelWidth1D`, kernel from
/// `GetMotionBlurKernel`, offsets as in [`im_motion_offsets`], out-of-image reads use the
/// default virtual-pixel method (edge: clamp). Arithmetic follows a Q16 non-HDRI build
/// (Debian's `libmagickcore-6.q16`): the 8-bit input is scaled by 257, the weighted sum is
/// rounded to a 16-bit quantum by `ClampToQuantum`, and the 8-bit PNG written back holds
/// `q / 257` (integer division), which is what Wand on ImageMagick 6.9.11 Q16 returns for
/// every pixel of the reference images in the tests.
pub(crate) fn im_motion_blur(
    plane: &[u8],
    h: usize,
    w: usize,
    radius: f64,
    sigma: f64,
    angle_deg: f64,
) -> Vec<u8> {
    let width = im_optimal_kernel_width(radius, sigma);
    let kernel = im_motion_kernel(width, sigma);
    let offsets = im_motion_offsets(width, angle_deg);
    // Taps with a weight that cannot change a Q16 sum of 8-bit values are skipped.
    let taps: Vec<(f64, isize, isize)> = kernel
        .iter()
        .zip(&offsets)
        .filter(|(k, _)| **k * 65535.0 > 1e-9)
        .map(|(k, o)| (k * 257.0, o.0, o.1))
        .collect();
    // Edge-replicated copy with margins covering every offset (the edge virtual pixels).
    let mx = taps.iter().map(|t| t.1.unsigned_abs()).max().unwrap_or(0);
    let my = taps.iter().map(|t| t.2.unsigned_abs()).max().unwrap_or(0);
    let (pw, ph) = (w + 2 * mx, h + 2 * my);
    let mut padded = vec![0f64; pw * ph];
    for py in 0..ph {
        let sy = border_index(py as isize - my as isize, h, Border::Nearest);
        for px in 0..pw {
            let sx = border_index(px as isize - mx as isize, w, Border::Nearest);
            padded[py * pw + px] = f64::from(plane[sy * w + sx]);
        }
    }
    let mut out = vec![0u8; h * w];
    let mut acc = vec![0f64; w];
    for y in 0..h {
        acc.iter_mut().for_each(|a| *a = 0.0);
        for &(k, ox, oy) in &taps {
            let start = ((y as isize + oy) as usize + my) * pw;
            let x0 = (ox + mx as isize) as usize;
            for (a, &v) in acc.iter_mut().zip(&padded[start + x0..start + x0 + w]) {
                *a += k * v;
            }
        }
        for (o, &a) in out[y * w..(y + 1) * w].iter_mut().zip(&acc) {
            let q: u32 = if a <= 0.0 {
                0
            } else if a >= 65535.0 {
                65535
            } else {
                (a + 0.5) as u32
            };
            *o = (q / 257) as u8;
        }
    }
    out
}

/// OpenCV `blur(src, (3, 3))` (normalised box, `BORDER_REFLECT_101`) on a float plane.
pub(crate) fn box3(plane: &[f32], h: usize, w: usize) -> Vec<f32> {
    let k = [1.0f32 / 3.0; 3];
    // OpenCV's box filter sums then scales by 1/9; the separable 1/3 * 1/3 differs by rounding
    // only.
    separable(plane, h, w, &k, &k, Border::Reflect101)
}

/// OpenCV `blur(src, (3, 3))` on an 8-bit plane (integer sum, times 1/9, rounded).
pub(crate) fn box3_u8(plane: &[u8], h: usize, w: usize) -> Vec<u8> {
    let mut out = vec![0u8; h * w];
    for y in 0..h as isize {
        for x in 0..w as isize {
            let mut s = 0u32;
            for dy in -1..=1 {
                let sy = border_index(y + dy, h, Border::Reflect101);
                for dx in -1..=1 {
                    let sx = border_index(x + dx, w, Border::Reflect101);
                    s += u32::from(plane[sy * w + sx]);
                }
            }
            out[y as usize * w + x as usize] = (s as f32 * (1.0 / 9.0)).round_ties_even() as u8;
        }
    }
    out
}

/// OpenCV `Canny(src, low, high)` with `apertureSize = 3` and the L1 gradient: 3x3 Sobel
/// (`BORDER_REPLICATE`), magnitude `|dx| + |dy|`, non-maximum suppression over four sectors
/// (fixed-point tan 22.5° test as OpenCV), double threshold and 8-connected hysteresis.
/// Returns 255 on edges, 0 elsewhere. OpenCV's in-row tie-breaking (`prev_flag`) only decides
/// which of two adjacent strong pixels seeds the hysteresis, so the edge set is the same.
pub(crate) fn canny(plane: &[u8], h: usize, w: usize, low: i32, high: i32) -> Vec<u8> {
    let at = |y: isize, x: isize| -> i32 {
        let sy = border_index(y, h, Border::Nearest);
        let sx = border_index(x, w, Border::Nearest);
        i32::from(plane[sy * w + sx])
    };
    let mut dx = vec![0i32; h * w];
    let mut dy = vec![0i32; h * w];
    let mut mag = vec![0i32; (h + 2) * (w + 2)];
    let mw = w + 2;
    for y in 0..h as isize {
        for x in 0..w as isize {
            let gx = (at(y - 1, x + 1) + 2 * at(y, x + 1) + at(y + 1, x + 1))
                - (at(y - 1, x - 1) + 2 * at(y, x - 1) + at(y + 1, x - 1));
            let gy = (at(y + 1, x - 1) + 2 * at(y + 1, x) + at(y + 1, x + 1))
                - (at(y - 1, x - 1) + 2 * at(y - 1, x) + at(y - 1, x + 1));
            let i = y as usize * w + x as usize;
            dx[i] = gx;
            dy[i] = gy;
            mag[(y as usize + 1) * mw + x as usize + 1] = gx.abs() + gy.abs();
        }
    }
    const SHIFT: i32 = 15;
    const TG22: i64 = 13573; // 0.4142135623730950488 * (1 << 15), rounded
                             // 0 = candidate, 1 = not an edge, 2 = strong edge.
    let mut map = vec![1u8; h * w];
    let mut stack = Vec::new();
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            let mi = (y + 1) * mw + x + 1;
            let m = mag[mi];
            if m <= low {
                continue;
            }
            let xs = dx[i];
            let ys = dy[i];
            let ax = i64::from(xs.abs());
            let ay = i64::from(ys.abs()) << SHIFT;
            let tg22x = ax * TG22;
            let keep = if ay < tg22x {
                m > mag[mi - 1] && m >= mag[mi + 1]
            } else {
                let tg67x = tg22x + (ax << (SHIFT + 1));
                if ay > tg67x {
                    m > mag[mi - mw] && m >= mag[mi + mw]
                } else {
                    let s: isize = if (xs ^ ys) < 0 { -1 } else { 1 };
                    let p = (mi as isize - mw as isize - s) as usize;
                    let n = (mi as isize + mw as isize + s) as usize;
                    m > mag[p] && m > mag[n]
                }
            };
            if keep {
                if m > high {
                    map[i] = 2;
                    stack.push(i);
                } else {
                    map[i] = 0;
                }
            }
        }
    }
    while let Some(i) = stack.pop() {
        let (y, x) = ((i / w) as isize, (i % w) as isize);
        for dy in -1..=1 {
            for dx in -1..=1 {
                let (ny, nx) = (y + dy, x + dx);
                if ny < 0 || nx < 0 || ny >= h as isize || nx >= w as isize {
                    continue;
                }
                let j = ny as usize * w + nx as usize;
                if map[j] == 0 {
                    map[j] = 2;
                    stack.push(j);
                }
            }
        }
    }
    map.into_iter()
        .map(|v| if v == 2 { 255 } else { 0 })
        .collect()
}

/// OpenCV `distanceTransform(src, DIST_L2, 5)`: the two-pass 5x5 chamfer distance
/// (weights a = 1, b = 1.4, c = 2.1969) to the nearest zero pixel; pixels outside the image
/// count as far away. With no zero pixel every distance is large (OpenCV's initial value).
pub(crate) fn distance_transform_l2_5(plane: &[u8], h: usize, w: usize) -> Vec<f32> {
    const A: f32 = 1.0;
    const B: f32 = 1.4;
    const C: f32 = 2.1969;
    const BIG: f32 = 8192.0 * 16.0;
    let mut d: Vec<f32> = plane
        .iter()
        .map(|&v| if v == 0 { 0.0 } else { BIG })
        .collect();
    let fwd: [(isize, isize, f32); 8] = [
        (-2, -1, C),
        (-2, 1, C),
        (-1, -2, C),
        (-1, -1, B),
        (-1, 0, A),
        (-1, 1, B),
        (-1, 2, C),
        (0, -1, A),
    ];
    let (hi, wi) = (h as isize, w as isize);
    let relax = |d: &mut Vec<f32>, y: isize, x: isize, dir: isize| {
        let i = (y * wi + x) as usize;
        let mut best = d[i];
        for &(oy, ox, c) in &fwd {
            let (ny, nx) = (y + dir * oy, x + dir * ox);
            if ny >= 0 && nx >= 0 && ny < hi && nx < wi {
                let v = d[(ny * wi + nx) as usize] + c;
                if v < best {
                    best = v;
                }
            }
        }
        d[i] = best;
    };
    for y in 0..hi {
        for x in 0..wi {
            relax(&mut d, y, x, 1);
        }
    }
    for y in (0..hi).rev() {
        for x in (0..wi).rev() {
            relax(&mut d, y, x, -1);
        }
    }
    d
}

/// OpenCV `equalizeHist` on an 8-bit plane.
pub(crate) fn equalize_hist(plane: &[u8]) -> Vec<u8> {
    let mut hist = [0usize; 256];
    for &v in plane {
        hist[v as usize] += 1;
    }
    let total = plane.len();
    let mut i = 0;
    while i < 255 && hist[i] == 0 {
        i += 1;
    }
    if hist[i] == total {
        return vec![i as u8; total];
    }
    let scale = 255.0f32 / (total - hist[i]) as f32;
    let mut lut = [0u8; 256];
    let mut sum = 0usize;
    lut[i] = 0;
    for j in i + 1..256 {
        sum += hist[j];
        lut[j] = ((sum as f32) * scale).round_ties_even().clamp(0.0, 255.0) as u8;
    }
    plane.iter().map(|&v| lut[v as usize]).collect()
}

/// Bilinear resize of an interleaved RGB texture (`h x w x 3`) to `out_h x out_w`
/// (OpenCV `INTER_LINEAR` sampling grid, half-pixel centres, edge clamp).
pub(crate) fn resize_bilinear_rgb(
    src: &[u8],
    h: usize,
    w: usize,
    out_h: usize,
    out_w: usize,
) -> Vec<u8> {
    let axis = |n: usize, out: usize| -> Vec<(usize, usize, f32)> {
        let scale = n as f64 / out as f64;
        (0..out)
            .map(|o| {
                let c = ((o as f64 + 0.5) * scale - 0.5).max(0.0);
                let i0 = (c.floor() as usize).min(n - 1);
                let i1 = (i0 + 1).min(n - 1);
                (i0, i1, (c - i0 as f64) as f32)
            })
            .collect()
    };
    let ys = axis(h, out_h);
    let xs = axis(w, out_w);
    let mut out = Vec::with_capacity(out_h * out_w * 3);
    for &(y0, y1, fy) in &ys {
        for &(x0, x1, fx) in &xs {
            for ch in 0..3 {
                let p = |y: usize, x: usize| f32::from(src[(y * w + x) * 3 + ch]);
                let top = p(y0, x0) * (1.0 - fx) + p(y0, x1) * fx;
                let bot = p(y1, x0) * (1.0 - fx) + p(y1, x1) * fx;
                out.push((top * (1.0 - fy) + bot * fy).round().clamp(0.0, 255.0) as u8);
            }
        }
    }
    out
}
