//! Defocus, glass, motion, zoom and Gaussian blur (`make_cifar_c.py`).

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::ops::filters::{self, Border};
use crate::ops::{imagemagick, resample};
use crate::tables::zoom_factors;
use crate::{Ctx, Output};

/// scikit-image `gaussian(x, sigma, multichannel=True)`: per channel, `truncate = 4`,
/// mode `nearest`.
pub(crate) fn gaussian_blur(ctx: &Ctx) -> Output {
    let sigma = ctx.table.gaussian_blur[ctx.s()];
    let mut p = ctx.unit();
    for ch in 0..p.c {
        let out = filters::gaussian_filter(p.plane(ch), p.h, p.w, sigma, 4.0, Border::Nearest);
        p.plane_mut(ch).copy_from_slice(&out);
    }
    Output::Unit(p.data)
}

/// Gaussian blur, `np.uint8(x * 255)` (truncating), the pixel walk of [`glass_shuffle`]
/// with offsets `(dx, dy)` drawn from the image's stream (`dx` first, each uniform in
/// `[-δ, δ)`), then the same Gaussian blur again.
pub(crate) fn glass_blur(ctx: &Ctx, rng: &mut ChaCha8Rng) -> Output {
    let p = ctx.table.glass_blur[ctx.s()];
    let (c, h, w) = (ctx.c, ctx.h, ctx.w);
    let n = h * w;
    let unit = ctx.unit();
    let mut q = vec![0u8; c * n];
    for ch in 0..c {
        let b = filters::gaussian_filter(unit.plane(ch), h, w, p.sigma, 4.0, Border::Nearest);
        for (d, v) in q[ch * n..(ch + 1) * n].iter_mut().zip(&b) {
            *d = (v.clamp(0.0, 1.0) * 255.0) as u8;
        }
    }
    let d = p.delta as i64;
    glass_shuffle(&mut q, c, h, w, p.delta, p.iterations, || {
        let dx = rng.random_range(-d..d) as isize;
        let dy = rng.random_range(-d..d) as isize;
        (dx, dy)
    });
    let mut out = vec![0f32; c * n];
    for ch in 0..c {
        let plane: Vec<f32> = q[ch * n..(ch + 1) * n]
            .iter()
            .map(|&v| f32::from(v) / 255.0)
            .collect();
        let b = filters::gaussian_filter(&plane, h, w, p.sigma, 4.0, Border::Nearest);
        out[ch * n..(ch + 1) * n].copy_from_slice(&b);
    }
    Output::Unit(out)
}

/// The pixel walk of `glass_blur` on `c` planes of `h x w` bytes: for each of `iterations`
/// passes, rows `h - δ` down to `δ + 1` and, within each, columns `w - δ` down to `δ + 1`
/// (`range(32 - δ, δ, -1)` in the script); at each pixel `offset()` gives `(dx, dy)` and the
/// pixel (all channels) takes the value of the one at `(y + dy, x + dx)`. Offsets outside
/// `[-δ, δ)` are clamped into it, so every read stays inside the image; δ = 0 leaves the
/// planes as they are.
///
/// The value is copied, not swapped: the reference's
/// `x[h, w], x[h_prime, w_prime] = x[h_prime, w_prime], x[h, w]` assigns NumPy views, so
/// `x[h, w]` takes the neighbour's value and the neighbour, assigned from the already
/// overwritten `x[h, w]`, keeps its own. The released CIFAR-10-C was made this way.
pub(crate) fn glass_shuffle(
    q: &mut [u8],
    c: usize,
    h: usize,
    w: usize,
    delta: usize,
    iterations: usize,
    mut offset: impl FnMut() -> (isize, isize),
) {
    if delta == 0 {
        return;
    }
    let n = h * w;
    let d = delta as isize;
    let (hi, wi) = (h as isize, w as isize);
    for _ in 0..iterations {
        let mut y = hi - d;
        while y > d {
            let mut x = wi - d;
            while x > d {
                let (dx, dy) = offset();
                let (dx, dy) = (dx.clamp(-d, d - 1), dy.clamp(-d, d - 1));
                let a = (y * wi + x) as usize;
                let b = ((y + dy) * wi + x + dx) as usize;
                for ch in 0..c {
                    q[ch * n + a] = q[ch * n + b];
                }
                x -= 1;
            }
            y -= 1;
        }
    }
}

/// The defocus kernel of `make_cifar_c.py`'s `disk(radius, alias_blur)`: a normalised
/// `X² + Y² <= r²` disk on the grid `-8..=8` (or `-r..=r` for `r > 8`), smoothed by OpenCV
/// `GaussianBlur` (3x3, or 5x5 for `r > 8`, σ = alias blur, `BORDER_REFLECT_101`), then
/// trimmed to its non-zero centred support. Returns (kernel, side).
pub(crate) fn disk_kernel(radius: f64, alias_blur: f64) -> (Vec<f32>, usize) {
    let (half, ksize) = if radius <= 8.0 {
        (8isize, 3usize)
    } else {
        (radius.floor() as isize, 5usize)
    };
    let side = (2 * half + 1) as usize;
    let mut disk = vec![0f64; side * side];
    for (iy, y) in (-half..=half).enumerate() {
        for (ix, x) in (-half..=half).enumerate() {
            if ((x * x + y * y) as f64) <= radius * radius {
                disk[iy * side + ix] = 1.0;
            }
        }
    }
    let total: f64 = disk.iter().sum();
    disk.iter_mut()
        .for_each(|v| *v = (*v / total) as f32 as f64);
    let g = filters::cv_gaussian_kernel(ksize, alias_blur);
    let r = (ksize / 2) as isize;
    let mut k = vec![0f64; side * side];
    for y in 0..side as isize {
        for x in 0..side as isize {
            let mut acc = 0.0;
            for (j, gy) in g.iter().enumerate() {
                let sy = filters::border_index(y + j as isize - r, side, Border::Reflect101);
                for (i, gx) in g.iter().enumerate() {
                    let sx = filters::border_index(x + i as isize - r, side, Border::Reflect101);
                    acc += gy * gx * disk[sy * side + sx];
                }
            }
            k[y as usize * side + x as usize] = acc;
        }
    }
    // Trim all-zero outer rings (the kernel is symmetric about its centre).
    let c = side / 2;
    let mut keep = 0usize;
    for y in 0..side {
        for x in 0..side {
            if k[y * side + x] != 0.0 {
                keep = keep.max(y.abs_diff(c)).max(x.abs_diff(c));
            }
        }
    }
    let new_side = 2 * keep + 1;
    let mut out = Vec::with_capacity(new_side * new_side);
    for y in c - keep..=c + keep {
        for x in c - keep..=c + keep {
            out.push(k[y * side + x] as f32);
        }
    }
    (out, new_side)
}

/// OpenCV `filter2D` of each channel with [`disk_kernel`].
pub(crate) fn defocus_blur(ctx: &Ctx) -> Output {
    let (radius, alias) = ctx.table.defocus_blur[ctx.s()];
    let (k, side) = disk_kernel(radius, alias);
    let p = ctx.unit();
    let mut out = Vec::with_capacity(p.data.len());
    for ch in 0..p.c {
        out.extend(filters::filter2d(p.plane(ch), p.h, p.w, &k, side, side));
    }
    Output::Unit64(out)
}

/// ImageMagick `MotionBlurImage(radius, σ, angle)` with `angle ~ U(-45°, 45°)`, on the 8-bit
/// image (the script's PNG round trip); the result is the 8-bit output.
pub(crate) fn motion_blur(ctx: &Ctx, rng: &mut ChaCha8Rng) -> Output {
    let (radius, sigma) = ctx.table.motion_blur[ctx.s()];
    let angle: f64 = rng.random_range(-45.0..45.0);
    let n = ctx.h * ctx.w;
    let mut out = Vec::with_capacity(ctx.c * n);
    for ch in 0..ctx.c {
        out.extend(imagemagick::im_motion_blur(
            &ctx.src[ch * n..(ch + 1) * n],
            ctx.h,
            ctx.w,
            radius,
            sigma,
            angle,
        ));
    }
    Output::Bytes(out)
}

/// `(x + Σ_z clipped_zoom(x, z)) / (n + 1)` over the `numpy.arange` zoom factors, in `f32`.
pub(crate) fn zoom_blur(ctx: &Ctx) -> Output {
    let (stop, step) = ctx.table.zoom_blur[ctx.s()];
    let factors = zoom_factors(stop, step);
    let mut p = ctx.unit();
    let maps: Vec<_> = factors
        .iter()
        .map(|&z| resample::clipped_zoom_maps(p.h, p.w, z))
        .collect();
    let count = factors.len() as f32 + 1.0;
    let mut acc = vec![0f32; p.h * p.w];
    let mut tmp = Vec::new();
    for ch in 0..p.c {
        acc.iter_mut().for_each(|a| *a = 0.0);
        for (rows, cols) in &maps {
            resample::accumulate_maps(p.plane(ch), p.w, rows, cols, &mut acc, &mut tmp);
        }
        for (d, a) in p.plane_mut(ch).iter_mut().zip(&acc) {
            *d = (*d + a) / count;
        }
    }
    Output::Unit(p.data)
}
