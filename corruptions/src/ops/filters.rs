//! Linear filters on planes, and how they read outside the image: SciPy's separable
//! correlation and `gaussian_filter`, OpenCV's `getGaussianKernel`, `filter2D` and 3x3 `blur`.

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
