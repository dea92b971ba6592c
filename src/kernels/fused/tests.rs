//! Tests of the fused kernels against candle's composite operations and finite differences.

use super::affine::{
    affine_bwd_image, affine_bwd_image_body, affine_fwd_image, affine_fwd_image_body,
};
use super::sumsq::{sumsq_bwd_image, sumsq_bwd_image_body, sumsq_fwd_image, sumsq_fwd_image_body};
use super::tail::{tail_bwd_image, tail_bwd_image_body, tail_fwd_image, tail_fwd_image_body, Tail};
use super::*;
use crate::kernels::testing::{max_diff, uniform};
use candle_core::{Device, Tensor, Var};
use std::f64::consts::PI;

fn entries(t: &Tensor) -> Vec<f64> {
    t.flatten_all().unwrap().to_vec1().unwrap()
}

fn bumped(t: &Tensor, idx: usize, d: f64) -> Tensor {
    let mut v = entries(t);
    v[idx] += d;
    Tensor::from_vec(v, t.dims(), &Device::Cpu).unwrap()
}

/// `Σ r ⊙ f` and its gradients with respect to `args`, for comparing two implementations.
fn value_and_grads(
    f: impl Fn(&[Tensor]) -> Tensor,
    args: &[Tensor],
    r: &Tensor,
) -> (Tensor, Vec<Tensor>) {
    let vars: Vec<Var> = args.iter().map(|a| Var::from_tensor(a).unwrap()).collect();
    let ts: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
    let out = f(&ts);
    let g = (&out * r).unwrap().sum_all().unwrap().backward().unwrap();
    // An argument the function does not depend on has no gradient: zero.
    let grads = vars
        .iter()
        .map(|v| match g.get(v) {
            Some(t) => t.clone(),
            None => v.as_tensor().zeros_like().unwrap(),
        })
        .collect();
    (out, grads)
}

/// Central finite differences (step 1e-6) of `Σ r ⊙ f` at a few entries of every argument,
/// against the analytic gradients.
fn check_finite_differences(
    f: &dyn Fn(&[Tensor]) -> Tensor,
    args: &[Tensor],
    grads: &[Tensor],
    r: &Tensor,
    what: &str,
) {
    let loss = |a: &[Tensor]| {
        (f(a) * r)
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f64>()
            .unwrap()
    };
    let h = 1e-6;
    for (k, (a, g)) in args.iter().zip(grads).enumerate() {
        let n = a.elem_count();
        for idx in [0, n / 3, n - 1] {
            let mut plus = args.to_vec();
            plus[k] = bumped(a, idx, h);
            let mut minus = args.to_vec();
            minus[k] = bumped(a, idx, -h);
            let fd = (loss(&plus) - loss(&minus)) / (2.0 * h);
            let an = entries(g)[idx];
            assert!(
                (fd - an).abs() <= 1e-6 * (1.0 + an.abs()),
                "{what}: argument {k} entry {idx}: finite difference {fd} vs {an}"
            );
        }
    }
}

/// The composite reference: `h(n, ρ) · g(y/n)` from candle's own operations, as the
/// decoupled layer computed it before the fused kernel (decoupled.rs `magnitude`,
/// `angular`), with `acos` from [`super::super::ops::acos_composite`]'s sibling on the CPU.
fn composite(
    y: &Tensor,
    n: &Tensor,
    rho: &Tensor,
    mag: FusedMagnitude,
    ang: FusedAngular,
) -> Tensor {
    let rho = rho.reshape((1, (), 1, 1)).unwrap();
    let c = y.broadcast_div(n).unwrap();
    let acos = || crate::kernels::acos::acos(&c).unwrap();
    let g = match ang {
        FusedAngular::Cosine => c.clone(),
        FusedAngular::SquareCosine => c.mul(&c.abs().unwrap()).unwrap(),
        FusedAngular::Linear => acos().affine(-2.0 / PI, 1.0).unwrap(),
        FusedAngular::Sigmoid(k) => acos()
            .affine(-1.0 / (2.0 * k), PI / (4.0 * k))
            .unwrap()
            .tanh()
            .unwrap()
            .affine(1.0 / (PI / (4.0 * k)).tanh(), 0.0)
            .unwrap(),
    };
    let h = match mag {
        FusedMagnitude::Sphere(a) => n.ones_like().unwrap().affine(a, 0.0).unwrap(),
        FusedMagnitude::Linear(a) => n.affine(a, 0.0).unwrap(),
        FusedMagnitude::Ball(a) => n
            .broadcast_minimum(&rho)
            .unwrap()
            .broadcast_div(&rho)
            .unwrap()
            .affine(a, 0.0)
            .unwrap(),
        FusedMagnitude::Tanh(a) => n
            .broadcast_div(&rho)
            .unwrap()
            .tanh()
            .unwrap()
            .affine(a, 0.0)
            .unwrap(),
    };
    h.broadcast_mul(&g).unwrap()
}

/// Oracles: the composite of candle's operations (values and the gradients with respect to
/// `y`, `n` and `ρ`, in f64) and central finite differences, for every fused magnitude ×
/// angular activation, on a batch of 2 with 3 channels (not a multiple of the vector width)
/// and 4×5 maps; the radii put some norms below and some above ρ (both branches of Ball).
#[test]
fn tail_matches_composite_and_finite_differences() {
    let (y, n, rho) = (
        uniform(&[2, 3, 4, 5], -1.0, 1.0, 1),
        uniform(&[2, 1, 4, 5], 1.2, 2.4, 2),
        uniform(&[3], 1.0, 3.0, 3),
    );
    let r = uniform(&[2, 3, 4, 5], -1.0, 1.0, 4);
    let mags = [
        FusedMagnitude::Sphere(1.0),
        FusedMagnitude::Ball(1.5),
        FusedMagnitude::Tanh(0.7),
        FusedMagnitude::Linear(1.0),
    ];
    let angs = [
        FusedAngular::Cosine,
        FusedAngular::Linear,
        FusedAngular::SquareCosine,
        FusedAngular::Sigmoid(0.3),
    ];
    let args = [y, n, rho];
    for mag in mags {
        for ang in angs {
            let what = format!("{mag:?} {ang:?}");
            let fused = |a: &[Tensor]| decoupled_tail(&a[0], &a[1], &a[2], mag, ang).unwrap();
            let reference = |a: &[Tensor]| composite(&a[0], &a[1], &a[2], mag, ang);
            let (v1, g1) = value_and_grads(fused, &args, &r);
            let (v2, g2) = value_and_grads(reference, &args, &r);
            assert!(max_diff(&v1, &v2) < 1e-12, "{what}: value");
            for (k, (a, b)) in g1.iter().zip(&g2).enumerate() {
                assert!(max_diff(a, b) < 1e-10, "{what}: gradient {k}");
            }
            check_finite_differences(&fused, &args, &g1, &r, &what);
        }
    }
}

/// Oracle: f64 `tanh` on a grid of 200,001 points over [−10, 10] and at ±0, ±∞.
#[test]
fn fast_tanh_is_accurate() {
    let mut worst = 0f64;
    for i in 0..=200_000 {
        let x = -10.0 + 20.0 * i as f64 / 200_000.0;
        worst = worst.max((fast_tanh(x as f32) as f64 - (x as f32 as f64).tanh()).abs());
    }
    assert!(worst < 5e-7, "largest error {worst}");
    assert_eq!(fast_tanh(0.0), 0.0);
    assert_eq!(fast_tanh(f32::INFINITY), 1.0);
    assert_eq!(fast_tanh(f32::NEG_INFINITY), -1.0);
    assert!(fast_tanh(f32::NAN).is_nan());
}

/// Oracle: `sqr().sum_keepdim(1)` and its gradient `2·x·g`, and finite differences, on a
/// batch of 3 with 5 channels.
#[test]
fn channel_sumsq_matches_composite() {
    let x = uniform(&[3, 5, 2, 3], -1.0, 1.0, 5);
    let r = uniform(&[3, 1, 2, 3], -1.0, 1.0, 6);
    let fused = |a: &[Tensor]| channel_sumsq(&a[0]).unwrap();
    let reference = |a: &[Tensor]| a[0].sqr().unwrap().sum_keepdim(1).unwrap();
    let args = [x];
    let (v1, g1) = value_and_grads(fused, &args, &r);
    let (v2, g2) = value_and_grads(reference, &args, &r);
    assert_eq!(v1.dims(), [3, 1, 2, 3]);
    assert!(max_diff(&v1, &v2) < 1e-13);
    assert!(max_diff(&g1[0], &g2[0]) < 1e-13);
    check_finite_differences(&fused, &args, &g1, &r, "channel sumsq");
}

/// Oracle: `x·scale + shift` from candle's broadcast operations, then `relu`, in values and
/// the gradients with respect to all three arguments, and finite differences; inputs of both
/// signs so that the ReLU cuts about half of them; batch 1, 7 channels.
#[test]
fn channel_affine_matches_composite() {
    let (x, s, t) = (
        uniform(&[1, 7, 3, 3], -1.0, 1.0, 7),
        uniform(&[7], 0.5, 2.0, 8),
        uniform(&[7], -0.5, 0.5, 9),
    );
    let r = uniform(&[1, 7, 3, 3], -1.0, 1.0, 10);
    for relu in [false, true] {
        let fused = |a: &[Tensor]| channel_affine(&a[0], &a[1], &a[2], relu).unwrap();
        let reference = |a: &[Tensor]| {
            let y = a[0]
                .broadcast_mul(&a[1].reshape((1, 7, 1, 1)).unwrap())
                .unwrap()
                .broadcast_add(&a[2].reshape((1, 7, 1, 1)).unwrap())
                .unwrap();
            if relu {
                y.relu().unwrap()
            } else {
                y
            }
        };
        let args = [x.clone(), s.clone(), t.clone()];
        let (v1, g1) = value_and_grads(fused, &args, &r);
        let (v2, g2) = value_and_grads(reference, &args, &r);
        assert!(max_diff(&v1, &v2) < 1e-13, "relu {relu}: value");
        for (k, (a, b)) in g1.iter().zip(&g2).enumerate() {
            assert!(max_diff(a, b) < 1e-12, "relu {relu}: gradient {k}");
        }
        check_finite_differences(
            &fused,
            &args,
            &g1,
            &r,
            &format!("channel affine relu {relu}"),
        );
    }
}

/// f32 values in `[lo, hi)` from a seeded generator.
fn uniform_f32(len: usize, lo: f32, hi: f32, seed: u64) -> Vec<f32> {
    use rand::{Rng, SeedableRng};
    let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..len)
        .map(|_| lo + (hi - lo) * r.random::<f32>())
        .collect()
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Oracle: the same kernel body compiled for baseline x86-64 (the `_body` functions called
/// directly from this test) must give bit-identical results to the version the kernels run
/// (AVX2 where the processor has it), for every magnitude × activation and for the affine
/// and sum-of-squares kernels; 37 pixels, not a multiple of any vector width.
#[test]
fn dispatched_kernels_match_the_portable_build_bit_for_bit() {
    let (c, p) = (3, 37);
    let y = uniform_f32(c * p, -1.0, 1.0, 11);
    let n = uniform_f32(p, 0.8, 2.4, 12);
    let rho = uniform_f32(c, 1.0, 2.0, 13);
    let g = uniform_f32(c * p, -1.0, 1.0, 14);
    for mag in [
        FusedMagnitude::Sphere(1.0),
        FusedMagnitude::Ball(1.5),
        FusedMagnitude::Tanh(0.7),
        FusedMagnitude::Linear(1.0),
    ] {
        for ang in [
            FusedAngular::Cosine,
            FusedAngular::Linear,
            FusedAngular::SquareCosine,
            FusedAngular::Sigmoid(0.3),
        ] {
            let t = Tail { mag, ang };
            let (mut a, mut b) = (vec![0f32; c * p], vec![0f32; c * p]);
            tail_fwd_image(t, &y, &n, &rho, &mut a);
            tail_fwd_image_body(t, &y, &n, &rho, &mut b);
            assert_eq!(bits(&a), bits(&b), "{mag:?} {ang:?}: forward");
            for need_rho in [false, true] {
                let (mut dy1, mut dn1) = (vec![0f32; c * p], vec![0f32; p]);
                let (mut dy2, mut dn2) = (vec![0f32; c * p], vec![0f32; p]);
                let r1 = tail_bwd_image(t, &y, &n, &rho, &g, &mut dy1, &mut dn1, need_rho);
                let r2 = tail_bwd_image_body(t, &y, &n, &rho, &g, &mut dy2, &mut dn2, need_rho);
                let what = format!("{mag:?} {ang:?} need_rho={need_rho}");
                assert_eq!(bits(&dy1), bits(&dy2), "{what}: ∂y");
                assert_eq!(bits(&dn1), bits(&dn2), "{what}: ∂n");
                assert_eq!(bits(&r1), bits(&r2), "{what}: ∂ρ");
            }
        }
    }
    let (s, t) = (uniform_f32(c, 0.5, 2.0, 15), uniform_f32(c, -0.5, 0.5, 16));
    for relu in [false, true] {
        let (mut a, mut b) = (vec![0f32; c * p], vec![0f32; c * p]);
        affine_fwd_image(&y, &s, &t, &mut a, relu);
        affine_fwd_image_body(&y, &s, &t, &mut b, relu);
        assert_eq!(bits(&a), bits(&b), "affine forward, relu={relu}");
        let sa = affine_bwd_image(&y, &g, &s, &t, &mut a, relu, true);
        let sb = affine_bwd_image_body(&y, &g, &s, &t, &mut b, relu, true);
        assert_eq!(bits(&a), bits(&b), "affine backward, relu={relu}");
        let pairs = |v: &[(f32, f32)]| -> Vec<u32> {
            v.iter()
                .flat_map(|&(x, y)| [x.to_bits(), y.to_bits()])
                .collect()
        };
        assert_eq!(pairs(&sa), pairs(&sb), "affine parameter sums, relu={relu}");
    }
    let (mut a, mut b) = (vec![0f32; p], vec![0f32; p]);
    sumsq_fwd_image(&y, &mut a);
    sumsq_fwd_image_body(&y, &mut b);
    assert_eq!(bits(&a), bits(&b), "sum of squares");
    let (mut a, mut b) = (vec![0f32; c * p], vec![0f32; c * p]);
    sumsq_bwd_image(&y, &n, &mut a);
    sumsq_bwd_image_body(&y, &n, &mut b);
    assert_eq!(bits(&a), bits(&b), "sum of squares, gradient");
}
