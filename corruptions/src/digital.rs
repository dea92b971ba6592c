//! Contrast, elastic transform, pixelate, JPEG and saturate (`make_cifar_c.py`).

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::ops::filters::{self, Border};
use crate::ops::{jpeg, resample, warp};
use crate::{Ctx, Output};

/// `(x - mean_c) · factor + mean_c` per channel, in `f64`.
pub(crate) fn contrast(ctx: &Ctx) -> Output {
    let f = ctx.table.contrast[ctx.s()];
    let n = ctx.h * ctx.w;
    let mut out = Vec::with_capacity(ctx.c * n);
    for ch in 0..ctx.c {
        let src = &ctx.src[ch * n..(ch + 1) * n];
        let mean = src.iter().map(|&v| f64::from(v) / 255.0).sum::<f64>() / n as f64;
        out.extend(
            src.iter()
                .map(|&v| (f64::from(v) / 255.0 - mean) * f + mean),
        );
    }
    Output::Unit64(out)
}

/// scikit-image RGB→HSV, `s = clip(s · a + b, 0, 1)`, HSV→RGB, in `f64`.
pub(crate) fn saturate(ctx: &Ctx) -> Output {
    let (a, b) = ctx.table.saturate[ctx.s()];
    Output::Unit64(crate::weather::map_hsv(ctx, |h, s, v| {
        (h, (s * a + b).clamp(0.0, 1.0), v)
    }))
}

/// Pillow BOX resize of each channel to `(int(w·c), int(h·c))` and back.
pub(crate) fn pixelate(ctx: &Ctx) -> Output {
    let c = ctx.table.pixelate[ctx.s()];
    let (h, w) = (ctx.h, ctx.w);
    let sh = ((h as f64 * c) as usize).max(1);
    let sw = ((w as f64 * c) as usize).max(1);
    let n = h * w;
    let down = resample::PilBoxResize::new(h, w, sh, sw);
    let up = resample::PilBoxResize::new(sh, sw, h, w);
    let mut out = Vec::with_capacity(ctx.c * n);
    for ch in 0..ctx.c {
        out.extend(up.apply(&down.apply(&ctx.src[ch * n..(ch + 1) * n])));
    }
    Output::Bytes(out)
}

/// JPEG round trip at the table's quality as Pillow (libjpeg-turbo) does it:
/// `Image.save(.., 'JPEG', quality=q)` then `Image.open`, i.e. YCbCr with 4:2:0 chroma
/// subsampling for RGB, one luminance component for grey (see [`jpeg`]).
pub(crate) fn jpeg_compression(ctx: &Ctx) -> Output {
    let q = ctx.table.jpeg_quality[ctx.s()];
    let (h, w) = (ctx.h, ctx.w);
    let n = h * w;
    Output::Bytes(if ctx.c == 3 {
        jpeg::round_trip_rgb(
            &ctx.src[..n],
            &ctx.src[n..2 * n],
            &ctx.src[2 * n..],
            h,
            w,
            q,
        )
    } else {
        jpeg::round_trip_grey(ctx.src, h, w, q)
    })
}

/// Elastic transform (`make_cifar_c.py`, after erniejunior's gist): a random affine warp
/// (control points centre ± side/3 as `(shape//2 ± side//3)`, jittered by `U(±jitter)`,
/// OpenCV `warpAffine`, `BORDER_REFLECT_101`), then a displacement field `(dx, dy)`, each
/// `gaussian(U(-1, 1), σ, mode='reflect', truncate=3) · α`, sampled bilinearly with SciPy
/// `map_coordinates(order=1, mode='reflect')` at `(row + dy, col + dx)`. α, σ and the jitter
/// are the table's fractions times `elastic_unit · min(h, w) / reference_size` (32 for a
/// 32x32 CIFAR image, 244 for a 224x224 ImageNet image, as in the scripts).
pub(crate) fn elastic_transform(ctx: &Ctx, rng: &mut ChaCha8Rng) -> Output {
    let t = ctx.table;
    let (fa, fs, fj) = t.elastic[ctx.s()];
    let (h, w) = (ctx.h, ctx.w);
    let unit = t.elastic_unit * h.min(w) as f64 / t.reference_size as f64;
    let (alpha, sigma, jitter) = (fa * unit, fs * unit, fj * unit);
    let img = ctx.unit();
    let c0 = (h / 2) as f64;
    let c1 = (w / 2) as f64;
    let sq = (h.min(w) / 3) as f64;
    let pts1 = [[c0 + sq, c1 + sq], [c0 + sq, c1 - sq], [c0 - sq, c1 - sq]];
    let mut pts2 = pts1;
    for p in pts2.iter_mut() {
        for v in p.iter_mut() {
            let u: f64 = if jitter > 0.0 {
                rng.random_range(-jitter..jitter)
            } else {
                0.0
            };
            *v = f64::from((*v + u) as f32);
        }
    }
    let m = warp::affine_from_points(pts1, pts2).unwrap_or([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]);
    let n = h * w;
    let taps = warp::warp_affine_taps(h, w, m);
    let mut warped = Vec::with_capacity(ctx.c * n);
    for ch in 0..ctx.c {
        warped.extend(warp::sample_taps(img.plane(ch), &taps));
    }
    let field = |rng: &mut ChaCha8Rng| -> Vec<f32> {
        let u: Vec<f32> = (0..n)
            .map(|_| rng.random_range(-1.0f64..1.0) as f32)
            .collect();
        filters::gaussian_filter(&u, h, w, sigma, 3.0, Border::Reflect)
            .into_iter()
            .map(|v| (f64::from(v) * alpha) as f32)
            .collect()
    };
    let dx = field(rng);
    let dy = field(rng);
    if alpha == 0.0 {
        return Output::Unit(warped);
    }
    let mut taps = Vec::with_capacity(n);
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            taps.push(warp::reflect_tap(
                h,
                w,
                y as f64 + f64::from(dy[i]),
                x as f64 + f64::from(dx[i]),
            ));
        }
    }
    let mut out = Vec::with_capacity(ctx.c * n);
    for ch in 0..ctx.c {
        out.extend(warp::sample_taps(&warped[ch * n..(ch + 1) * n], &taps));
    }
    Output::Unit(out)
}
