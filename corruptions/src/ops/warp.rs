//! Geometric warps by bilinear sampling at precomputed taps: SciPy's `map_coordinates`
//! (order 1, `reflect`), OpenCV's `getAffineTransform` and `warpAffine` (with its fixed-point
//! source coordinates).

use super::filters::{border_index, Border};

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
