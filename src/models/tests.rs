//! Numeric tests of the decoupled operator and the networks.

use super::config::*;
use super::decoupled::{DecoupledConv, NORM_EPS};
use super::layers::ConvShape;
use super::network::Network;
use super::params::Mode;
use super::params::ParamStore;
use candle_core::{DType, Device, Tensor, Var};
use rand::{Rng, SeedableRng};

fn rand_vec(n: usize, seed: u64) -> Vec<f64> {
    let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..n).map(|_| r.random::<f64>() * 2.0 - 1.0).collect()
}

fn op(magnitude: Magnitude, angular: Angular, radius: Radius) -> OperatorConfig {
    OperatorConfig {
        magnitude,
        angular,
        radius,
    }
}

fn scalar(t: &Tensor) -> f64 {
    t.to_dtype(DType::F64).unwrap().to_scalar::<f64>().unwrap()
}

/// Input `(2, 3, 6, 6)` whose second image is zero on rows/columns 0..4, so the stride-2
/// window at output (0, 0) (rows/columns −1..2 with padding 1) and the one at (0, 1) see an
/// all-zero patch.
fn input_with_zero_patch() -> Tensor {
    let mut v = rand_vec(2 * 3 * 6 * 6, 11);
    for c in 0..3 {
        for y in 0..4 {
            for x in 0..4 {
                v[((3 + c) * 6 + y) * 6 + x] = 0.0;
            }
        }
    }
    Tensor::from_vec(v, (2, 3, 6, 6), &Device::Cpu).unwrap()
}

fn entries(t: &Tensor) -> Vec<f64> {
    t.flatten_all().unwrap().to_vec1::<f64>().unwrap()
}

fn set_entry(v: &Var, idx: usize, value: f64) {
    let mut e = entries(v.as_tensor());
    e[idx] = value;
    v.set(&Tensor::from_vec(e, v.dims(), &Device::Cpu).unwrap())
        .unwrap();
}

/// Oracle: central finite differences in f64 (step 1e-6) of L = Σ r ⊙ f(x) against candle's
/// backward pass, for every magnitude × angular activation, with stride 2, padding 1 and an
/// all-zero patch, for the input, the filters, the learnable radius and the learnable k.
#[test]
fn decoupled_gradients_match_finite_differences() {
    let x0 = input_with_zero_patch();
    for m in Magnitude::ALL {
        for a in Angular::ALL {
            let mut store = ParamStore::new(&Device::Cpu, DType::F64, 3);
            let layer = DecoupledConv::new(
                &mut store,
                "l",
                ConvShape::three_by_three(3, 4, 2),
                op(m, a, Radius::default()),
            )
            .unwrap();
            // Move r away from 1 so that channels differ, and k away from its init.
            if let Some(r) = &layer.radius {
                r.set(&Tensor::new(&[0.7f64, 1.1, 0.9, 1.3], &Device::Cpu).unwrap())
                    .unwrap();
            }
            let x = Var::from_tensor(&x0).unwrap();
            let out = layer.forward(x.as_tensor(), Mode::Train).unwrap();
            assert_eq!(out.dims(), &[2, 4, 3, 3]);
            let r =
                Tensor::from_vec(rand_vec(out.elem_count(), 5), out.dims(), &Device::Cpu).unwrap();
            let loss_of = |xt: &Tensor| {
                scalar(
                    &(layer.forward(xt, Mode::Train).unwrap() * &r)
                        .unwrap()
                        .sum_all()
                        .unwrap(),
                )
            };
            let grads = (out * &r).unwrap().sum_all().unwrap().backward().unwrap();
            let h = 1e-6;
            let check = |what: &str, analytic: f64, plus: f64, minus: f64, h: f64| {
                let fd = (plus - minus) / (2.0 * h);
                assert!(
                    (fd - analytic).abs() <= 1e-6 + 1e-5 * fd.abs(),
                    "{} {}: {what}: finite difference {fd} vs backward {analytic}",
                    m.name(),
                    a.name()
                );
            };
            // Inputs: two in the zero region (image 1, (0,0) and (1,1)), two elsewhere.
            // Inside the zero patch cos θ moves 1/sqrt(1e-4) = 100 times faster than x, and
            // sign(c)·c² has a kink in its second derivative at 0, so the central difference's
            // error there is ~1e4·h: those entries use h = 1e-9.
            let gx = entries(grads.get(&x).unwrap());
            for idx in [3 * 36, 3 * 36 + 7, 40, 2 * 36 + 23] {
                let h = if idx < 3 * 36 + 24 { 1e-9 } else { h };
                let mut v = entries(&x0);
                v[idx] += h;
                let p = loss_of(&Tensor::from_vec(v.clone(), x0.dims(), &Device::Cpu).unwrap());
                v[idx] -= 2.0 * h;
                let q = loss_of(&Tensor::from_vec(v, x0.dims(), &Device::Cpu).unwrap());
                check(&format!("d/dx[{idx}]"), gx[idx], p, q, h);
            }
            let mut vars = vec![("weight", layer.weight.clone(), vec![0, 13, 50, 107])];
            if let Some(r) = &layer.radius {
                vars.push(("radius", r.clone(), vec![0, 3]));
            }
            if let Some(k) = &layer.sigmoid_k {
                vars.push(("sigmoid_k", k.clone(), vec![1, 2]));
            }
            for (name, var, idxs) in vars {
                let g = entries(grads.get(&var).unwrap());
                for idx in idxs {
                    let orig = entries(var.as_tensor())[idx];
                    set_entry(&var, idx, orig + h);
                    let p = loss_of(&x0);
                    set_entry(&var, idx, orig - h);
                    let q = loss_of(&x0);
                    set_entry(&var, idx, orig);
                    check(&format!("d/d{name}[{idx}]"), g[idx], p, q, h);
                }
            }
        }
    }
}

/// Oracle: the closed forms of docs/model.md#magnitude-functions and #weighted-operators
/// evaluated in f64 at patch norms n ∈ {0.2, 1, 1.5, 3} with a fixed radius ρ = 1.5 and a filter
/// of norm ‖w‖ = 2.
#[test]
fn magnitudes_match_closed_forms() {
    let rho = 1.5;
    let ns = [0.2f64, 1.0, 1.5, 3.0];
    let wn = 2.0f64;
    for m in Magnitude::ALL {
        let mut store = ParamStore::new(&Device::Cpu, DType::F64, 0);
        let layer = DecoupledConv::new(
            &mut store,
            "l",
            ConvShape::unpadded(1, 1, 1),
            op(m, Angular::Cosine, Radius::Fixed { rho }),
        )
        .unwrap();
        layer
            .weight
            .set(&Tensor::new(&[[[[wn]]]], &Device::Cpu).unwrap())
            .unwrap();
        let n = Tensor::from_vec(ns.to_vec(), (1, 1, 1, 4), &Device::Cpu).unwrap();
        let got = entries(&layer.magnitude(&n, Mode::Eval).unwrap());
        for (i, &n) in ns.iter().enumerate() {
            let want = match m {
                Magnitude::Sphere { alpha } => alpha,
                Magnitude::Ball { alpha } => alpha * n.min(rho) / rho,
                Magnitude::Tanh { alpha } => alpha * (n / rho).tanh(),
                Magnitude::Linear { alpha } => alpha * n,
                Magnitude::Seg { alpha, beta } => {
                    if n <= rho {
                        alpha * n
                    } else {
                        beta * n + alpha * rho - beta * rho
                    }
                }
                Magnitude::Log { alpha } => alpha * (1.0 + n).ln(),
                Magnitude::Mix { alpha, beta } => alpha * n + beta * (1.0 + n).ln(),
                Magnitude::WeightedLinear { alpha } => alpha * wn * n,
                Magnitude::WeightedTanhEq15 { alpha } => alpha * (wn * n / rho).tanh(),
                Magnitude::WeightedTanhEq16 { alpha } => {
                    alpha * (wn / rho).tanh() * (n / rho).tanh()
                }
            };
            assert!(
                (got[i] - want).abs() < 1e-12,
                "{} at n = {n}: {} vs {want}",
                m.name(),
                got[i]
            );
        }
    }
    // Fig. 3's values at ρ = 1, n = 2 (docs/model.md#magnitude-functions): TanhConv ≈ 0.96,
    // SegConv 1.5, LogConv ≈ 1.10.
    assert!(((2.0f64).tanh() - 0.964).abs() < 1e-3);
    assert!(((3.0f64).ln() - 1.0986).abs() < 1e-4);
}

/// Oracle: the closed forms of docs/model.md#angular-activations in f64 at
/// θ ∈ {0.1, π/3, π/2, 2, 3}, including the sigmoid's anchor values g(0) = 1, g(π/2) = 0,
/// g(π) = −1 and the learnable k's effective value |k| + 0.05.
#[test]
fn angular_activations_match_closed_forms() {
    use std::f64::consts::PI;
    let thetas = [0.1f64, PI / 3.0, PI / 2.0, 2.0, 3.0];
    let sig = |t: f64, k: f64| ((PI / 2.0 - t) / (2.0 * k)).tanh() / (PI / (4.0 * k)).tanh();
    // Equivalent published form: c_k (1 − e^{t/k − π/(2k)}) / (1 + e^{t/k − π/(2k)}).
    let published = |t: f64, k: f64| {
        let e = (t / k - PI / (2.0 * k)).exp();
        let ck = (1.0 + (-PI / (2.0 * k)).exp()) / (1.0 - (-PI / (2.0 * k)).exp());
        ck * (1.0 - e) / (1.0 + e)
    };
    for &t in &thetas {
        assert!((sig(t, 0.3) - published(t, 0.3)).abs() < 1e-12);
    }
    for a in Angular::ALL {
        let mut store = ParamStore::new(&Device::Cpu, DType::F64, 0);
        let layer = DecoupledConv::new(
            &mut store,
            "l",
            ConvShape::unpadded(1, 1, 1),
            op(
                Magnitude::Sphere { alpha: 1.0 },
                a,
                Radius::Fixed { rho: 1.0 },
            ),
        )
        .unwrap();
        if let Some(k) = &layer.sigmoid_k {
            k.set(&Tensor::new(&[-0.45f64], &Device::Cpu).unwrap())
                .unwrap();
        }
        let cos = Tensor::from_vec(
            thetas.iter().map(|t| t.cos()).collect::<Vec<_>>(),
            (1, 1, 1, 5),
            &Device::Cpu,
        )
        .unwrap();
        let got = entries(&layer.angular(&cos, Mode::Eval).unwrap());
        for (i, &t) in thetas.iter().enumerate() {
            let want = match a {
                Angular::Linear => 1.0 - 2.0 * t / PI,
                Angular::Cosine => t.cos(),
                Angular::Sigmoid { k } => sig(t, k),
                Angular::SquareCosine => t.cos().signum() * t.cos().powi(2),
                Angular::LearnableSigmoid { .. } => sig(t, 0.45 + 0.05),
            };
            assert!(
                (got[i] - want).abs() < 1e-9,
                "{} at θ = {t}: {} vs {want}",
                a.name(),
                got[i]
            );
        }
    }
    assert!(
        (sig(0.0, 0.3) - 1.0).abs() < 1e-12
            && sig(PI / 2.0, 0.3).abs() < 1e-12
            && (sig(PI, 0.3) + 1.0).abs() < 1e-12
    );
}

/// Oracle: for one 2x2x2 patch and one filter, SphereConv with cosine is
/// cos θ = (w·x / sqrt(‖w‖² + 1e-4)) / sqrt(‖x‖² + 1e-4), computed by hand.
#[test]
fn sphere_cosine_is_cos_theta_by_hand() {
    let w = [0.5f64, -1.0, 2.0, 0.25, 1.5, 0.0, -0.5, 1.0];
    let x = [1.0f64, 2.0, -1.0, 0.5, 0.0, 3.0, 1.0, -2.0];
    let dot: f64 = w.iter().zip(&x).map(|(a, b)| a * b).sum();
    let nw = (w.iter().map(|v| v * v).sum::<f64>() + NORM_EPS).sqrt();
    let nx = (x.iter().map(|v| v * v).sum::<f64>() + NORM_EPS).sqrt();
    let want = dot / nw / nx;
    let mut store = ParamStore::new(&Device::Cpu, DType::F64, 0);
    let layer = DecoupledConv::new(
        &mut store,
        "l",
        ConvShape::unpadded(2, 1, 2),
        op(
            Magnitude::Sphere { alpha: 1.0 },
            Angular::Cosine,
            Radius::default(),
        ),
    )
    .unwrap();
    layer
        .weight
        .set(&Tensor::from_vec(w.to_vec(), (1, 2, 2, 2), &Device::Cpu).unwrap())
        .unwrap();
    let xt = Tensor::from_vec(x.to_vec(), (1, 2, 2, 2), &Device::Cpu).unwrap();
    let got = entries(&layer.forward(&xt, Mode::Eval).unwrap());
    assert_eq!(got.len(), 1);
    assert!((got[0] - want).abs() < 1e-14, "{} vs {want}", got[0]);
    // LinearConv + cosine is w·x / ‖w‖ (the official linear_cos), the same dot product.
    let mut store = ParamStore::new(&Device::Cpu, DType::F64, 0);
    let lin = DecoupledConv::new(
        &mut store,
        "l",
        ConvShape::unpadded(2, 1, 2),
        op(
            Magnitude::Linear { alpha: 1.0 },
            Angular::Cosine,
            Radius::default(),
        ),
    )
    .unwrap();
    lin.weight
        .set(&Tensor::from_vec(w.to_vec(), (1, 2, 2, 2), &Device::Cpu).unwrap())
        .unwrap();
    assert!((entries(&lin.forward(&xt, Mode::Eval).unwrap())[0] - dot / nw).abs() < 1e-13);
}

/// Oracle: the learnable radius is ρ = (r² + 1e-4)·μ with μ the batch mean patch norm in
/// training; afterwards inference uses the stored μ. TanhConv output for a single 1x1 patch
/// x = [3, 4] (n = sqrt(25 + 1e-4)) is tanh(n/ρ)·cos θ, computed by hand.
#[test]
fn learnable_radius_uses_batch_mean_then_its_average() {
    let mut store = ParamStore::new(&Device::Cpu, DType::F64, 0);
    let cfg = op(
        Magnitude::Tanh { alpha: 1.0 },
        Angular::Cosine,
        Radius::Learnable {
            init: 0.5,
            ema_decay: 0.9,
        },
    );
    let layer = DecoupledConv::new(&mut store, "l", ConvShape::unpadded(2, 1, 1), cfg).unwrap();
    layer
        .weight
        .set(&Tensor::new(&[[[[1.0f64]], [[0.0]]]], &Device::Cpu).unwrap())
        .unwrap();
    let x = Tensor::new(&[[[[3.0f64]], [[4.0]]]], &Device::Cpu).unwrap();
    let n = (25.0f64 + NORM_EPS).sqrt();
    let cos = 3.0 / (1.0f64 + NORM_EPS).sqrt() / n;
    let rho = (0.25 + NORM_EPS) * n;
    let want = (n / rho).tanh() * cos;
    let got = entries(&layer.forward(&x, Mode::Train).unwrap())[0];
    assert!((got - want).abs() < 1e-14, "{got} vs {want}");
    assert!((entries(layer.mu_ema.as_ref().unwrap().as_tensor())[0] - n).abs() < 1e-14);
    let eval = entries(
        &layer
            .forward(&x.affine(2.0, 0.0).unwrap(), Mode::Eval)
            .unwrap(),
    )[0];
    let want_eval = (2.0 * n / rho).tanh() * cos; // n doubles (up to eps), ρ keeps the stored μ
    assert!((eval - want_eval).abs() < 1e-4, "{eval} vs {want_eval}");
}

/// Oracle: ½‖ŴŴᵀ − I‖²_F by hand — 0 for orthonormal filters; for two equal filters the
/// off-diagonal entries are ‖w‖²/(‖w‖² + 1e-4) and the diagonal misses 1 by 1e-4/(‖w‖² + 1e-4).
#[test]
fn orthogonality_regulariser_by_hand() {
    let mut store = ParamStore::new(&Device::Cpu, DType::F64, 0);
    let layer = DecoupledConv::new(
        &mut store,
        "l",
        ConvShape::unpadded(2, 2, 1),
        op(
            Magnitude::Sphere { alpha: 1.0 },
            Angular::Cosine,
            Radius::default(),
        ),
    )
    .unwrap();
    layer
        .weight
        .set(&Tensor::new(&[[[[1.0f64]], [[0.0]]], [[[0.0]], [[1.0]]]], &Device::Cpu).unwrap())
        .unwrap();
    let d = 1.0 / (1.0 + NORM_EPS) - 1.0;
    assert!((scalar(&layer.orthogonality().unwrap()) - d * d).abs() < 1e-15);
    layer
        .weight
        .set(&Tensor::new(&[[[[3.0f64]], [[4.0]]], [[[3.0]], [[4.0]]]], &Device::Cpu).unwrap())
        .unwrap();
    let off = 25.0 / (25.0 + NORM_EPS);
    let diag = off - 1.0;
    let want = 0.5 * (2.0 * off * off + 2.0 * diag * diag);
    assert!((scalar(&layer.orthogonality().unwrap()) - want).abs() < 1e-14);
}

/// Oracle: weight projection leaves the layer's output unchanged (the forward pass only sees
/// w/‖w‖, up to the 1e-4 in the norm) and brings every filter norm to ≈ 1.
#[test]
fn projection_keeps_output_and_normalises() {
    let mut store = ParamStore::new(&Device::Cpu, DType::F64, 2);
    let layer = DecoupledConv::new(
        &mut store,
        "l",
        ConvShape::three_by_three(3, 4, 1),
        op(
            Magnitude::Tanh { alpha: 1.0 },
            Angular::Cosine,
            Radius::Fixed { rho: 1.0 },
        ),
    )
    .unwrap();
    layer
        .weight
        .set(&layer.weight.as_tensor().affine(5.0, 0.0).unwrap())
        .unwrap();
    let x = input_with_zero_patch();
    let before = entries(&layer.forward(&x, Mode::Eval).unwrap());
    layer.project().unwrap();
    let after = entries(&layer.forward(&x, Mode::Eval).unwrap());
    for (a, b) in before.iter().zip(&after) {
        assert!((a - b).abs() < 1e-4 * a.abs().max(1e-3), "{a} vs {b}");
    }
    let norms = entries(
        &layer
            .weight
            .as_tensor()
            .sqr()
            .unwrap()
            .sum_keepdim((1, 2, 3))
            .unwrap()
            .sqrt()
            .unwrap(),
    );
    assert!(norms.iter().all(|n| (n - 1.0).abs() < 1e-4), "{norms:?}");
}

fn count(net: &Network, f: impl Fn(&str) -> bool) -> usize {
    net.params().all().iter().filter(|p| f(&p.name)).count()
}

/// Oracle: the layer counts of docs/model.md#architectures: CNN-9 has 9 conv layers, fc6 and a
/// score layer; ResNet-32 has a root conv, 15 units of 2 convs, 2 projection shortcuts (at the
/// two width changes) and a score layer (1 + 30 + 1 = 32 weighted layers on the main path).
/// Feat2d's features are 2-D. Shapes (N, K) and the baseline twin's lack of decoupled layers
/// follow.
#[test]
fn architectures_have_the_papers_layers() {
    let tanh = Some(op(
        Magnitude::Tanh { alpha: 1.0 },
        Angular::Cosine,
        Radius::default(),
    ));
    let x = seeded_images((2, 3, 32, 32), 232);
    let net = Network::new(
        ModelConfig::new(Arch::Cnn9, tanh, 0.0625),
        &Device::Cpu,
        DType::F32,
        0,
    )
    .unwrap();
    assert_eq!(net.decoupled_layers().len(), 10);
    assert_eq!(net.forward_t(&x, false).unwrap().dims(), &[2, 10]);
    let base = Network::new(
        ModelConfig::new(Arch::Cnn9, None, 0.0625),
        &Device::Cpu,
        DType::F32,
        0,
    )
    .unwrap();
    assert!(base.decoupled_layers().is_empty());
    assert_eq!(count(&base, |n| n.ends_with(".weight")), 11);

    let res = Network::new(
        ModelConfig::new(Arch::Resnet32, tanh, 0.0625),
        &Device::Cpu,
        DType::F32,
        0,
    )
    .unwrap();
    assert_eq!(res.decoupled_layers().len(), 31);
    assert_eq!(count(&res, |n| n.ends_with("shortcut.weight")), 2);
    assert_eq!(
        count(&res, |n| n.ends_with(".weight") && !n.contains("shortcut")),
        32
    );
    assert_eq!(res.forward_t(&x, true).unwrap().dims(), &[2, 10]);

    let f2 = Network::new(
        ModelConfig::new(Arch::Feat2d, tanh, 0.0625),
        &Device::Cpu,
        DType::F32,
        0,
    )
    .unwrap();
    assert_eq!(f2.features(&x, false).unwrap().dims(), &[2, 2]);
    assert_eq!(f2.forward_t(&x, false).unwrap().dims(), &[2, 10]);

    let mut grey = ModelConfig::new(Arch::Cnn9, None, 0.0625);
    grey.in_channels = 1;
    grey.image_size = [28, 28];
    let g = Network::new(grey, &Device::Cpu, DType::F32, 0).unwrap();
    let xg = seeded_images((3, 1, 28, 28), 328);
    assert_eq!(g.forward_t(&xg, false).unwrap().dims(), &[3, 10]);
}

/// Oracle: inference mode changes nothing: running statistics and μ averages are
/// bit-identical before and after an inference pass, and a training pass changes them.
#[test]
fn inference_leaves_buffers_alone() {
    let net = tanh_cnn9(0);
    let x = seeded_images((4, 3, 32, 32), 432);
    let snapshot = || -> Vec<Vec<f32>> {
        net.params()
            .all()
            .iter()
            .filter(|p| p.group == super::params::Group::Buffer)
            .map(|p| {
                p.var
                    .as_tensor()
                    .flatten_all()
                    .unwrap()
                    .to_vec1::<f32>()
                    .unwrap()
            })
            .collect()
    };
    let before = snapshot();
    net.forward_t(&x, false).unwrap();
    assert_eq!(before, snapshot());
    net.forward_t(&x, true).unwrap();
    assert_ne!(before, snapshot());
}

/// Oracle: configuration validation names the bad value.
#[test]
fn bad_configurations_are_refused() {
    let mut c = ModelConfig::new(Arch::Cnn9, None, 0.0);
    assert!(c.validate().unwrap_err().contains("width"));
    c.width = 1.0;
    c.image_size = [4, 4];
    assert!(c.validate().unwrap_err().contains("4x4"));
    let bad = op(
        Magnitude::Seg {
            alpha: 1.0,
            beta: -1.0,
        },
        Angular::Sigmoid { k: 0.0 },
        Radius::Fixed { rho: 0.0 },
    );
    assert!(bad.validate().unwrap_err().contains("beta"));
    let c = ModelConfig {
        operator: Some(bad),
        ..ModelConfig::new(Arch::Cnn9, None, 1.0)
    };
    assert!(Network::new(c, &Device::Cpu, DType::F32, 0).is_err());
    // The serde form round-trips and refuses unknown fields.
    let good = ModelConfig::new(
        Arch::Resnet32,
        Some(op(
            Magnitude::Mix {
                alpha: 0.5,
                beta: 0.5,
            },
            Angular::LearnableSigmoid { k_init: 0.7 },
            Radius::default(),
        )),
        0.5,
    );
    let s = serde_json::to_string(&good).unwrap();
    assert_eq!(serde_json::from_str::<ModelConfig>(&s).unwrap(), good);
    assert!(serde_json::from_str::<ModelConfig>(&s.replace("\"width\"", "\"widht\"")).is_err());
}

/// A small trained-for-one-step decoupled CNN-9 (running statistics away from their start).
fn stepped_network() -> Network {
    let net = tanh_cnn9(3);
    let x = seeded_images((8, 3, 32, 32), 832);
    net.forward_t(&x, true).unwrap();
    net
}

/// Uniform [0, 1) images from a seeded generator (candle's own cannot be seeded), so every test
/// input is the same on every run.
fn seeded_values(len: usize, seed: u64) -> Vec<f32> {
    let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..len).map(|_| r.random_range(0.0..1.0)).collect()
}

/// [`seeded_values`] as an image batch.
///
/// # Shapes
/// Returns `shape` = `(N, C, H, W)`.
fn seeded_images(shape: (usize, usize, usize, usize), seed: u64) -> Tensor {
    let len = shape.0 * shape.1 * shape.2 * shape.3;
    Tensor::from_vec(seeded_values(len, seed), shape, &Device::Cpu).unwrap()
}

/// A width-1/16 TanhConv + cosine CNN-9 initialised from `seed`.
fn tanh_cnn9(seed: u64) -> Network {
    let tanh = Some(op(
        Magnitude::Tanh { alpha: 1.0 },
        Angular::Cosine,
        Radius::default(),
    ));
    Network::new(
        ModelConfig::new(Arch::Cnn9, tanh, 0.0625),
        &Device::Cpu,
        DType::F32,
        seed,
    )
    .unwrap()
}

fn attack_batch(n: usize, seed: u64) -> dcrobust_attacks::Batch {
    let x = seeded_values(n * 3 * 32 * 32, seed);
    let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0xFF);
    let labels = (0..n).map(|_| r.random_range(0..10u32)).collect();
    dcrobust_attacks::Batch::new(x, [n, 3, 32, 32], labels, (0..n as u64).collect(), seed).unwrap()
}

/// Oracle: an attack reads the model in inference mode, so every parameter and buffer
/// (BatchNorm running statistics, μ moving averages) is bit-identical before and after it.
#[test]
fn attacks_leave_every_tensor_bit_identical() {
    use dcrobust_attacks::{AttackConfig, AttackKind, Oracle, Target};
    let net = stepped_network();
    let snapshot = || -> Vec<(String, Vec<u32>)> {
        let mut v: Vec<(String, Vec<u32>)> = net
            .params()
            .tensors()
            .into_iter()
            .map(|(k, t)| {
                let bits = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
                (k, bits.iter().map(|f| f.to_bits()).collect())
            })
            .collect();
        v.sort();
        v
    };
    let before = snapshot();
    let b = attack_batch(4, 1);
    let oracle = Oracle::new(&net);
    for kind in [AttackKind::Pgd, AttackKind::ApgdCe, AttackKind::Square] {
        let mut cfg = AttackConfig {
            early_stop: false,
            ..Default::default()
        };
        cfg.pgd.steps = 3;
        cfg.apgd.steps = 3;
        cfg.square.queries = 5;
        let a = cfg.build(kind, 8.0 / 255.0).unwrap();
        dcrobust_attacks::run_attack(a.as_ref(), Target::Untargeted, false, &oracle, &b, None)
            .unwrap();
    }
    assert_eq!(before, snapshot());
}

/// Oracle: in `Mode::Frozen` the parameters are detached, so backward yields the input gradient
/// and no gradient for any parameter; in `Mode::Eval` the parameters do get gradients. The input
/// gradients of both modes agree (same function).
#[test]
fn frozen_mode_computes_input_gradient_only() {
    let net = stepped_network();
    let x = candle_core::Var::from_tensor(&seeded_images((2, 3, 32, 32), 232)).unwrap();
    let grads_of = |mode: Mode| {
        net.forward_mode(x.as_tensor(), mode)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap()
    };
    let frozen = grads_of(Mode::Frozen);
    let eval = grads_of(Mode::Eval);
    let trainable: Vec<_> = net.params().trainable().collect();
    assert!(trainable
        .iter()
        .all(|p| frozen.get(p.var.as_tensor()).is_none()));
    assert!(trainable
        .iter()
        .any(|p| eval.get(p.var.as_tensor()).is_some()));
    let gf = frozen
        .get(x.as_tensor())
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let ge = eval
        .get(x.as_tensor())
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    assert_eq!(gf, ge);
    assert!(gf.iter().any(|&v| v != 0.0));
}

/// Oracle: inference is per sample (one GEMM per image, per-element BatchNorm), so a PGD attack
/// gives bit-identical results on the whole batch and on any split of it.
#[test]
fn attack_results_do_not_depend_on_batch_split() {
    use dcrobust_attacks::{AttackConfig, AttackKind, Oracle};
    let net = stepped_network();
    let b = attack_batch(6, 2);
    let oracle = Oracle::new(&net);
    let mut cfg = AttackConfig::default();
    cfg.pgd.steps = 3;
    let a = cfg.build(AttackKind::Pgd, 4.0 / 255.0).unwrap();
    let whole = a.perturb(&oracle, &b).unwrap();
    let parts = [
        a.perturb(&oracle, &b.subset(&[0])).unwrap(),
        a.perturb(&oracle, &b.subset(&[1, 2, 3, 4])).unwrap(),
        a.perturb(&oracle, &b.subset(&[5])).unwrap(),
    ]
    .concat();
    assert!(whole == parts, "batch split changed the adversarial images");
}
