//! Gaussian, shot, impulse and speckle noise (`make_cifar_c.py`).

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Poisson, StandardNormal};

use crate::{Ctx, Output};

/// `clip(x + N(0, σ), 0, 1)`.
pub(crate) fn gaussian_noise(ctx: &Ctx, rng: &mut ChaCha8Rng) -> Output {
    let sigma = ctx.table.gaussian_noise[ctx.s()] as f32;
    let mut p = ctx.unit();
    for v in p.data.iter_mut() {
        let n: f32 = StandardNormal.sample(rng);
        *v += sigma * n;
    }
    Output::Unit(p.data)
}

/// `clip(Poisson(x·c) / c, 0, 1)`.
pub(crate) fn shot_noise(ctx: &Ctx, rng: &mut ChaCha8Rng) -> Output {
    let c = ctx.table.shot_noise[ctx.s()];
    // The input has at most 256 distinct values, so each rate's sampler is built once.
    let mut samplers: Vec<Option<Poisson<f64>>> = vec![None; 256];
    let data = ctx
        .src
        .iter()
        .map(|&v| {
            let lambda = f64::from(v) / 255.0 * c;
            if lambda <= 0.0 {
                return 0.0;
            }
            let d = samplers[v as usize].get_or_insert_with(|| {
                Poisson::new(lambda).unwrap_or_else(|_| Poisson::new(1e-300).expect("positive"))
            });
            (d.sample(rng) / c) as f32
        })
        .collect();
    Output::Unit(data)
}

/// scikit-image `random_noise(mode='s&p', amount=p)`: each value independently is replaced
/// with probability `p`, by 1 (salt) or 0 (pepper) with equal odds. One uniform draw `u` per
/// value decides both: `u < p/2` salt, `p/2 <= u < p` pepper.
pub(crate) fn impulse_noise(ctx: &Ctx, rng: &mut ChaCha8Rng) -> Output {
    let amount = ctx.table.impulse_noise[ctx.s()];
    let mut p = ctx.unit();
    for v in p.data.iter_mut() {
        let u: f64 = rng.random();
        if u < amount * 0.5 {
            *v = 1.0;
        } else if u < amount {
            *v = 0.0;
        }
    }
    Output::Unit(p.data)
}

/// `clip(x + x·N(0, σ), 0, 1)`.
pub(crate) fn speckle_noise(ctx: &Ctx, rng: &mut ChaCha8Rng) -> Output {
    let sigma = ctx.table.speckle_noise[ctx.s()] as f32;
    let mut p = ctx.unit();
    for v in p.data.iter_mut() {
        let n: f32 = StandardNormal.sample(rng);
        *v += *v * sigma * n;
    }
    Output::Unit(p.data)
}
