//! Snow, frost, fog, brightness and spatter (`make_cifar_c.py`).

use std::sync::OnceLock;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::ops::filters::{self, Border};
use crate::ops::{colour, edges, imagemagick, resample};
use crate::{Ctx, Output, Table};

/// Luma of an RGB float image (OpenCV `RGB2GRAY`: 0.299 R + 0.587 G + 0.114 B); a grey
/// image is its own luma.
fn luma(p: &crate::Planes) -> Vec<f32> {
    if p.c == 1 {
        return p.data.clone();
    }
    let (r, g, b) = (p.plane(0), p.plane(1), p.plane(2));
    r.iter()
        .zip(g)
        .zip(b)
        .map(|((r, g), b)| 0.299 * r + 0.587 * g + 0.114 * b)
        .collect()
}

/// A Gaussian layer `N(mean, std)` of `n` values, in `f64`.
fn normal_layer(n: usize, mean: f64, std: f64, rng: &mut ChaCha8Rng) -> Vec<f32> {
    (0..n)
        .map(|_| {
            let z: f64 = StandardNormal.sample(rng);
            (mean + std * z) as f32
        })
        .collect()
}

/// Snow: a Gaussian layer, centre-zoomed, thresholded, cast to 8 bits (truncating),
/// motion-blurred by ImageMagick at `U(-135°, -45°)`; the image is blended towards
/// `max(x, 1.5·luma(x) + 0.5)` with weight `1 - blend`, then the layer and its 180° rotation
/// are added.
pub(crate) fn snow(ctx: &Ctx, rng: &mut ChaCha8Rng) -> Output {
    let p = ctx.table.snow[ctx.s()];
    let mut x = ctx.unit();
    let (h, w) = (x.h, x.w);
    let layer = normal_layer(h * w, p.mean, p.std, rng);
    let (rows, cols) = resample::clipped_zoom_maps(h, w, p.zoom);
    let layer = resample::apply_maps(&layer, w, &rows, &cols);
    let layer_u8: Vec<u8> = layer
        .iter()
        .map(|&v| {
            let v = if f64::from(v) < p.threshold { 0.0 } else { v };
            (v.clamp(0.0, 1.0) * 255.0) as u8
        })
        .collect();
    let angle: f64 = rng.random_range(-135.0..-45.0);
    let blurred = imagemagick::im_motion_blur(&layer_u8, h, w, p.blur_radius, p.blur_sigma, angle);
    let snow: Vec<f32> = blurred.iter().map(|&v| f32::from(v) / 255.0).collect();
    let grey = luma(&x);
    let blend = p.blend as f32;
    let n = h * w;
    for ch in 0..x.c {
        let plane = x.plane_mut(ch);
        for i in 0..n {
            let v = plane[i];
            let white = v.max(grey[i] * 1.5 + 0.5);
            let v = blend * v + (1.0 - blend) * white;
            plane[i] = v + snow[i] + snow[n - 1 - i];
        }
    }
    Output::Unit(x.data)
}

/// A decoded RGB texture, interleaved.
struct Texture {
    h: usize,
    w: usize,
    rgb: Vec<u8>,
}

fn decode(bytes: &[u8]) -> Texture {
    // The embedded assets are known-good; a decoding failure would be a build defect, and is
    // turned into a plain grey texture rather than a panic.
    match image::load_from_memory(bytes) {
        Ok(img) => {
            let img = img.to_rgb8();
            Texture {
                h: img.height() as usize,
                w: img.width() as usize,
                rgb: img.into_raw(),
            }
        }
        Err(_) => Texture {
            h: 64,
            w: 64,
            rgb: vec![128; 64 * 64 * 3],
        },
    }
}

/// Frost textures 1-5 resized to 20 % with OpenCV `INTER_LINEAR` (the CIFAR-10-C recipe);
/// see `assets/README.md`.
static CIFAR_FROST: [&[u8]; 5] = [
    include_bytes!("../assets/cifar_frost1.png"),
    include_bytes!("../assets/cifar_frost2.png"),
    include_bytes!("../assets/cifar_frost3.png"),
    include_bytes!("../assets/cifar_frost4.png"),
    include_bytes!("../assets/cifar_frost5.png"),
];

/// Frost textures 1-5 enlarged by 1.1 with OpenCV `INTER_CUBIC` (imagecorruptions' ImageNet-C
/// recipe for images the texture covers), stored as JPEG quality 90; see `assets/README.md`.
static IMAGENET_FROST: [&[u8]; 5] = [
    include_bytes!("../assets/imagenet_frost1.jpg"),
    include_bytes!("../assets/imagenet_frost2.jpg"),
    include_bytes!("../assets/imagenet_frost3.jpg"),
    include_bytes!("../assets/imagenet_frost4.jpg"),
    include_bytes!("../assets/imagenet_frost5.jpg"),
];

fn textures(table: Table) -> &'static [Texture] {
    static CIFAR: OnceLock<Vec<Texture>> = OnceLock::new();
    static IMAGENET: OnceLock<Vec<Texture>> = OnceLock::new();
    match table {
        Table::Cifar10C => CIFAR.get_or_init(|| CIFAR_FROST.iter().map(|b| decode(b)).collect()),
        Table::ImageNetC => {
            IMAGENET.get_or_init(|| IMAGENET_FROST.iter().map(|b| decode(b)).collect())
        }
    }
}

/// Frost: texture `randint(5)`, a random `h x w` crop (start rows from `[0, th - h)`, columns
/// from `[0, tw - w)`), `out = clip(a·x + b·frost, 0, 255)` in 8-bit units. A texture not
/// larger than the image in both sides is first enlarged bilinearly to
/// `(h + 1, w + 1)`-covering size, keeping its aspect ratio.
pub(crate) fn frost(ctx: &Ctx, rng: &mut ChaCha8Rng, table: Table) -> Output {
    let (a, b) = ctx.table.frost[ctx.s()];
    let (a, b) = (a as f32, b as f32);
    let (h, w) = (ctx.h, ctx.w);
    let tex = &textures(table)[rng.random_range(0..5usize)];
    let resized;
    let (th, tw, rgb): (usize, usize, &[u8]) = if tex.h > h && tex.w > w {
        (tex.h, tex.w, &tex.rgb)
    } else {
        let f = ((h + 1) as f64 / tex.h as f64).max((w + 1) as f64 / tex.w as f64);
        let nh = ((tex.h as f64 * f).ceil() as usize).max(h + 1);
        let nw = ((tex.w as f64 * f).ceil() as usize).max(w + 1);
        resized = resample::resize_bilinear_rgb(&tex.rgb, tex.h, tex.w, nh, nw);
        (nh, nw, &resized)
    };
    let y0 = rng.random_range(0..th - h);
    let x0 = rng.random_range(0..tw - w);
    let n = h * w;
    let mut out = vec![0f32; ctx.c * n];
    for ch in 0..ctx.c {
        for y in 0..h {
            for x in 0..w {
                let i = y * w + x;
                let f = f32::from(rgb[((y0 + y) * tw + x0 + x) * 3 + ch]);
                out[ch * n + i] = a * f32::from(ctx.src[ch * n + i]) + b * f;
            }
        }
    }
    Output::Byte(out)
}

/// The diamond-square plasma fractal of `make_cifar_c.py` (after FLHerne/mapgen): an
/// `n x n` map (`n` a power of two), wibble starting at 100 and divided by `decay` each
/// level, noise `wibble · U(-wibble, wibble)`, `np.roll` wrap-around, rescaled to `[0, 1]`.
pub(crate) fn plasma_fractal(n: usize, decay: f64, rng: &mut ChaCha8Rng) -> Vec<f64> {
    let mut m = vec![0f64; n * n];
    let mut step = n;
    let mut wibble = 100.0f64;
    while step >= 2 {
        let half = step / 2;
        let k = n / step;
        let at = |m: &[f64], i: usize, j: usize, oi: usize, oj: usize| {
            m[(i * step + oi) * n + j * step + oj]
        };
        // fillsquares
        for i in 0..k {
            for j in 0..k {
                let s = at(&m, i, j, 0, 0)
                    + at(&m, (i + 1) % k, j, 0, 0)
                    + at(&m, i, (j + 1) % k, 0, 0)
                    + at(&m, (i + 1) % k, (j + 1) % k, 0, 0);
                let u: f64 = rng.random_range(-wibble..wibble);
                m[(i * step + half) * n + j * step + half] = s / 4.0 + wibble * u;
            }
        }
        // filldiamonds
        let mut a = vec![0f64; k * k];
        let mut b = vec![0f64; k * k];
        for i in 0..k {
            for j in 0..k {
                let ldr = at(&m, i, j, half, half) + at(&m, (i + k - 1) % k, j, half, half);
                let lul = at(&m, i, j, 0, 0) + at(&m, i, (j + 1) % k, 0, 0);
                let u: f64 = rng.random_range(-wibble..wibble);
                a[i * k + j] = (ldr + lul) / 4.0 + wibble * u;
            }
        }
        for i in 0..k {
            for j in 0..k {
                let tdr = at(&m, i, j, half, half) + at(&m, i, (j + k - 1) % k, half, half);
                let tul = at(&m, i, j, 0, 0) + at(&m, (i + 1) % k, j, 0, 0);
                let u: f64 = rng.random_range(-wibble..wibble);
                b[i * k + j] = (tdr + tul) / 4.0 + wibble * u;
            }
        }
        for i in 0..k {
            for j in 0..k {
                m[(i * step) * n + j * step + half] = a[i * k + j];
                m[(i * step + half) * n + j * step] = b[i * k + j];
            }
        }
        step /= 2;
        wibble /= decay;
    }
    let min = m.iter().cloned().fold(f64::INFINITY, f64::min);
    m.iter_mut().for_each(|v| *v -= min);
    let max = m.iter().cloned().fold(0.0, f64::max);
    if max > 0.0 {
        m.iter_mut().for_each(|v| *v /= max);
    }
    m
}

/// Fog: `x + strength · plasma[:h, :w]` (plasma side = next power of two >= max(h, w), 32 for
/// CIFAR), rescaled by `max(x) / (max(x) + strength)`.
pub(crate) fn fog(ctx: &Ctx, rng: &mut ChaCha8Rng) -> Output {
    let (strength, decay) = ctx.table.fog[ctx.s()];
    let mut x = ctx.unit();
    let (h, w) = (x.h, x.w);
    let max_val = f64::from(x.data.iter().cloned().fold(0.0f32, f32::max));
    let n = h.max(w).next_power_of_two();
    let plasma = plasma_fractal(n, decay, rng);
    let scale = max_val / (max_val + strength);
    for ch in 0..x.c {
        let plane = x.plane_mut(ch);
        for y in 0..h {
            for xx in 0..w {
                let v = &mut plane[y * w + xx];
                *v = ((f64::from(*v) + strength * plasma[y * n + xx]) * scale) as f32;
            }
        }
    }
    Output::Unit(x.data)
}

/// scikit-image RGB→HSV, `v = clip(v + c, 0, 1)`, HSV→RGB, in `f64`.
pub(crate) fn brightness(ctx: &Ctx) -> Output {
    let c = ctx.table.brightness[ctx.s()];
    Output::Unit64(map_hsv(ctx, |h, s, v| (h, s, (v + c).clamp(0.0, 1.0))))
}

/// Applies a per-pixel HSV edit (scikit-image conversions, `f64`) to an RGB image.
pub(crate) fn map_hsv(ctx: &Ctx, f: impl Fn(f64, f64, f64) -> (f64, f64, f64)) -> Vec<f64> {
    let n = ctx.h * ctx.w;
    let mut out = vec![0f64; 3 * n];
    for i in 0..n {
        let r = f64::from(ctx.src[i]) / 255.0;
        let g = f64::from(ctx.src[n + i]) / 255.0;
        let b = f64::from(ctx.src[2 * n + i]) / 255.0;
        let (hh, s, v) = colour::rgb_to_hsv(r, g, b);
        let (hh, s, v) = f(hh, s, v);
        let (r, g, b) = colour::hsv_to_rgb(hh, s, v);
        out[i] = r;
        out[n + i] = g;
        out[2 * n + i] = b;
    }
    out
}

/// Spatter. Both modes start from a Gaussian layer `N(mean, std)` blurred by scikit-image
/// `gaussian(σ)` (mode `nearest`) with values below the threshold set to 0.
///
/// Water (mode 0): the layer as 8 bits, OpenCV `Canny(50, 150)`, `distanceTransform(DIST_L2,
/// 5)` of the non-edges, truncated at 20, 3x3 box blur cast to 8 bits, `equalizeHist`, the
/// emboss kernel `[[-2,-1,0],[-1,1,1],[0,1,2]]` (8-bit output), 3x3 box blur; the mask
/// `m = layer · dist` is normalised by its maximum, scaled by `k`, and pale turquoise
/// (175, 238, 238)/255 times `m` is added. Where the reference would divide 0 by 0 (a mask
/// that is zero everywhere, giving NaN), the mask is left at 0 and the image unchanged.
///
/// Mud (mode 1): `m = gaussian(layer > threshold, σ = k)`, values below 0.8 set to 0,
/// `x·(1 - m) + brown·m` with mud brown (63, 42, 20)/255.
///
/// The Canny port is OpenCV's algorithm (see `ops::edges::canny`); the distance transform is
/// OpenCV's 5x5 chamfer approximation in `f32`.
pub(crate) fn spatter(ctx: &Ctx, rng: &mut ChaCha8Rng) -> Output {
    let p = ctx.table.spatter[ctx.s()];
    let mut x = ctx.unit();
    let (h, w) = (x.h, x.w);
    let n = h * w;
    let layer = normal_layer(n, p.mean, p.std, rng);
    let mut layer = filters::gaussian_filter(&layer, h, w, p.blur_sigma, 4.0, Border::Nearest);
    layer.iter_mut().for_each(|v| {
        if f64::from(*v) < p.threshold {
            *v = 0.0
        }
    });
    if !p.mud {
        let lu8: Vec<u8> = layer
            .iter()
            .map(|&v| (v * 255.0).clamp(0.0, 255.0) as u8)
            .collect();
        let edges = edges::canny(&lu8, h, w, 50, 150);
        let inv: Vec<u8> = edges.iter().map(|&e| 255 - e).collect();
        let dist: Vec<f32> = edges::distance_transform_l2_5(&inv, h, w)
            .into_iter()
            .map(|d| d.min(20.0))
            .collect();
        let dist: Vec<u8> = filters::box3(&dist, h, w)
            .into_iter()
            .map(|v| v.clamp(0.0, 255.0) as u8)
            .collect();
        let dist = edges::equalize_hist(&dist);
        const KER: [[i32; 3]; 3] = [[-2, -1, 0], [-1, 1, 1], [0, 1, 2]];
        let mut emb = vec![0u8; n];
        for y in 0..h as isize {
            for xx in 0..w as isize {
                let mut s = 0i32;
                for (dy, krow) in (-1..=1).zip(KER.iter()) {
                    let sy = filters::border_index(y + dy, h, Border::Reflect101);
                    for (dx, k) in (-1..=1).zip(krow.iter()) {
                        let sx = filters::border_index(xx + dx, w, Border::Reflect101);
                        s += k * i32::from(dist[sy * w + sx]);
                    }
                }
                emb[y as usize * w + xx as usize] = s.clamp(0, 255) as u8;
            }
        }
        let dist = filters::box3_u8(&emb, h, w);
        let mut m: Vec<f32> = lu8
            .iter()
            .zip(&dist)
            .map(|(&l, &d)| f32::from(l) * f32::from(d))
            .collect();
        let max = m.iter().cloned().fold(0.0f32, f32::max);
        let k = p.k as f32;
        if max > 0.0 {
            m.iter_mut().for_each(|v| *v = *v / max * k);
        } else {
            m.iter_mut().for_each(|v| *v = 0.0);
        }
        let colour = [175.0f32 / 255.0, 238.0 / 255.0, 238.0 / 255.0];
        for (ch, col) in colour.iter().enumerate().take(x.c) {
            for (v, mv) in x.plane_mut(ch).iter_mut().zip(&m) {
                *v += mv * col;
            }
        }
    } else {
        let mask: Vec<f32> = layer
            .iter()
            .map(|&v| if f64::from(v) > p.threshold { 1.0 } else { 0.0 })
            .collect();
        let mut m = filters::gaussian_filter(&mask, h, w, p.k, 4.0, Border::Nearest);
        m.iter_mut().for_each(|v| {
            if *v < 0.8 {
                *v = 0.0
            }
        });
        let colour = [63.0f32 / 255.0, 42.0 / 255.0, 20.0 / 255.0];
        for (ch, col) in colour.iter().enumerate().take(x.c) {
            for (v, mv) in x.plane_mut(ch).iter_mut().zip(&m) {
                *v = *v * (1.0 - mv) + col * mv;
            }
        }
    }
    Output::Unit(x.data)
}
