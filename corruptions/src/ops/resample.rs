//! Zooming and resizing: SciPy's order-1 `zoom` (the reference scripts' `clipped_zoom`) as
//! separable sampling maps, Pillow's BOX resize in its fixed point, and a bilinear resize of
//! interleaved RGB textures.

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
