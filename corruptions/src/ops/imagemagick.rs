//! ImageMagick's `MotionBlurImage` in Q16 arithmetic, with the kernel width, kernel and sample
//! offsets it is built from, as the CIFAR-10-C script runs it through Wand.

use super::filters::{border_index, Border};

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
