//! The decoupled tail on a CUDA device (feature `cudnn`, f32): the `cuda_fwd` of
//! [`super::fused`]'s tail operations, launching the kernels of `src/kernels/tail.cu` (compiled
//! to PTX by `build.rs`): one pass forward, and backward one pass for `∂y` and `∂n` (a thread per
//! image and pixel, summing `∂n` over the channels in channel order) and, when ρ is trained, one
//! block per channel for `∂ρ` (a fixed-order tree), so every run gives the same bits.
//! candle's composite operations take about ten kernels each way.

use super::cudnn_layers::{one_device, view};
use super::fused::{FusedAngular, FusedMagnitude};
use candle_core::cuda_backend::cudarc::driver::{LaunchArgs, LaunchConfig, PushKernelArg};
use candle_core::cuda_backend::WrapErr;
use candle_core::{CudaStorage, Layout, Result, Shape};

/// The name errors give these operations.
const OP: &str = "decoupled tail (CUDA)";

/// The PTX of `src/kernels/tail.cu`.
const PTX: &str = include_str!(concat!(env!("OUT_DIR"), "/tail.ptx"));

/// The kernels' last parameters: `(N, C, P)`, the codes of the magnitude and the activation
/// (the numbering of `tail.cu`), α and the sigmoid's k.
struct Params {
    dims: [i64; 3],
    mag: i32,
    ang: i32,
    alpha: f32,
    k: f32,
}

impl Params {
    fn new(mag: FusedMagnitude, ang: FusedAngular, (b, c, p): (usize, usize, usize)) -> Params {
        let (m, alpha) = match mag {
            FusedMagnitude::Sphere(a) => (0, a),
            FusedMagnitude::Ball(a) => (1, a),
            FusedMagnitude::Tanh(a) => (2, a),
            FusedMagnitude::Linear(a) => (3, a),
        };
        let (g, k) = match ang {
            FusedAngular::Cosine => (0, 1.0),
            FusedAngular::Linear => (1, 1.0),
            FusedAngular::SquareCosine => (2, 1.0),
            FusedAngular::Sigmoid(k) => (3, k),
        };
        Params {
            dims: [b as i64, c as i64, p as i64],
            mag: m,
            ang: g,
            alpha: alpha as f32,
            k: k as f32,
        }
    }

    /// Appends them to `launch`, in `tail.cu`'s order.
    fn push<'a>(&'a self, launch: &mut LaunchArgs<'a>) {
        let [b, c, p] = &self.dims;
        launch.arg(b).arg(c).arg(p).arg(&self.mag).arg(&self.ang);
        launch.arg(&self.alpha).arg(&self.k);
    }
}

/// A launch over `work` items of a grid-stride kernel.
fn config(work: usize) -> LaunchConfig {
    let threads = 256u32;
    let blocks = work.div_ceil(threads as usize).clamp(1, 65_535) as u32;
    LaunchConfig {
        grid_dim: (blocks, 1, 1),
        block_dim: (threads, 1, 1),
        shared_mem_bytes: 0,
    }
}

/// `h(n, ρ) · g(y/n)`.
///
/// # Shapes
/// `y (N, C, P…)`, `n (N, 1, P…)`, `ρ (C,)` → `(N, C, P…)`, with `(N, C, P)` = `dims`.
pub(super) fn forward(
    (mag, ang): (FusedMagnitude, FusedAngular),
    (b, c, p): (usize, usize, usize),
    (sy, ly): (&CudaStorage, &Layout),
    (sn, ln): (&CudaStorage, &Layout),
    (sr, lr): (&CudaStorage, &Layout),
) -> Result<(CudaStorage, Shape)> {
    let dev = one_device(OP, &[sy, sn, sr])?;
    let y = view(OP, sy, ly, b * c * p, "output")?;
    let n = view(OP, sn, ln, b * p, "norm")?;
    let rho = view(OP, sr, lr, c, "radius")?;
    // SAFETY: the kernel writes every element.
    let mut out = unsafe { dev.alloc::<f32>(b * c * p)? };
    let params = Params::new(mag, ang, (b, c, p));
    let func = dev.get_or_load_custom_func("tail_fwd", "dcrobust_tail", PTX)?;
    let mut launch = func.builder();
    launch.arg(&y).arg(&n).arg(&rho).arg(&mut out);
    params.push(&mut launch);
    // SAFETY: the arguments match `tail_fwd`'s parameters in order and type; the buffers hold
    // the sizes the shapes give.
    unsafe { launch.launch(config(b * c * p)) }.w()?;
    Ok((
        CudaStorage::wrap_cuda_slice(out, dev.clone()),
        ly.shape().clone(),
    ))
}

/// The gradients `[∂y (N·C·P) | ∂n (N·P) | ∂ρ (C)]`, `∂ρ` zero unless `need_rho`, at `y`, `n`,
/// `ρ` for the output gradient `grad`, as the CPU kernel packs them.
///
/// # Shapes
/// `y`, `grad`: `(N, C, P…)`, `n`: `(N, 1, P…)`, `ρ`: `(C,)` → `(N·C·P + N·P + C,)`.
#[allow(clippy::too_many_arguments)]
pub(super) fn backward(
    (mag, ang): (FusedMagnitude, FusedAngular),
    (b, c, p): (usize, usize, usize),
    need_rho: bool,
    (sy, ly): (&CudaStorage, &Layout),
    (sn, ln): (&CudaStorage, &Layout),
    (sg, lg): (&CudaStorage, &Layout),
    (sr, lr): (&CudaStorage, &Layout),
) -> Result<(CudaStorage, Shape)> {
    let dev = one_device(OP, &[sy, sn, sg, sr])?;
    let y = view(OP, sy, ly, b * c * p, "output")?;
    let n = view(OP, sn, ln, b * p, "norm")?;
    let grad = view(OP, sg, lg, b * c * p, "output gradient")?;
    let rho = view(OP, sr, lr, c, "radius")?;
    let len = b * c * p + b * p + c;
    // Zeroed: ∂ρ stays 0 when it is not computed.
    let mut out = dev.alloc_zeros::<f32>(len)?;
    let params = Params::new(mag, ang, (b, c, p));
    {
        let (mut dy, mut rest) = out.split_at_mut(b * c * p);
        let func = dev.get_or_load_custom_func("tail_bwd_yn", "dcrobust_tail", PTX)?;
        let mut dn = rest.slice_mut(0..b * p);
        let mut launch = func.builder();
        launch
            .arg(&y)
            .arg(&n)
            .arg(&rho)
            .arg(&grad)
            .arg(&mut dy)
            .arg(&mut dn);
        params.push(&mut launch);
        // SAFETY: as in `forward`; dy and dn are the first two parts of `out`.
        unsafe { launch.launch(config(b * p)) }.w()?;
    }
    if need_rho {
        let mut drho = out.slice_mut(b * c * p + b * p..len);
        let func = dev.get_or_load_custom_func("tail_bwd_rho", "dcrobust_tail", PTX)?;
        let mut launch = func.builder();
        launch.arg(&y).arg(&n).arg(&rho).arg(&grad).arg(&mut drho);
        params.push(&mut launch);
        let cfg = LaunchConfig {
            grid_dim: (c as u32, 1, 1),
            // RHO_THREADS in tail.cu.
            block_dim: (256, 1, 1),
            shared_mem_bytes: 0,
        };
        // SAFETY: as in `forward`; one block per channel, each writing its channel of ∂ρ.
        unsafe { launch.launch(cfg) }.w()?;
    }
    Ok((
        CudaStorage::wrap_cuda_slice(out, dev.clone()),
        Shape::from(len),
    ))
}

#[cfg(test)]
mod tests {
    use crate::kernels::fused::{decoupled_tail, FusedAngular, FusedMagnitude};
    use crate::kernels::testing::uniform;
    use candle_core::{DType, Device, Tensor, Var};

    /// The tail and the gradients of `Σ r ⊙ tail` with respect to y, n and ρ on `dev`, in f32
    /// on the host.
    fn run_on(
        dev: &Device,
        args: &[Tensor; 3],
        r: &Tensor,
        (mag, ang): (FusedMagnitude, FusedAngular),
    ) -> [Vec<f32>; 4] {
        let vars: Vec<Var> = args
            .iter()
            .map(|t| Var::from_tensor(&t.to_device(dev).unwrap()).unwrap())
            .collect();
        let out = decoupled_tail(&vars[0], &vars[1], &vars[2], mag, ang).unwrap();
        let g = (&out * r.to_device(dev).unwrap())
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let host = |t: &Tensor| -> Vec<f32> {
            t.flatten_all()
                .unwrap()
                .to_device(&Device::Cpu)
                .unwrap()
                .to_vec1()
                .unwrap()
        };
        [
            host(&out),
            host(g.get(&vars[0]).unwrap()),
            host(g.get(&vars[1]).unwrap()),
            host(g.get(&vars[2]).unwrap()),
        ]
    }

    /// Oracle: the CPU kernel in f32 (itself checked against candle's composite operations and
    /// finite differences, `kernels::fused::tests`). For every magnitude × activation, on a
    /// batch of 3 with 5 channels and 7×6 maps whose norms lie on both sides of the radii (both
    /// branches of BallConv): the output within 1e-5 and the gradients of y, n and ρ within 1e-4
    /// of each reference's largest magnitude (∂n and ∂ρ are sums taken in another order), and
    /// the same bits on a second run. Needs a CUDA device: without one it says so and passes,
    /// unless `DCROBUST_REQUIRE_GPU` is set.
    #[test]
    fn cuda_tail_matches_the_cpu_kernel() {
        let Some(dev) = crate::kernels::testing::cuda_or_skip("the CUDA tail comparison") else {
            return;
        };
        let f32s = |t: Tensor| t.to_dtype(DType::F32).unwrap();
        let args = [
            f32s(uniform(&[3, 5, 7, 6], -1.0, 1.0, 1)),
            f32s(uniform(&[3, 1, 7, 6], 1.2, 2.4, 2)),
            f32s(uniform(&[5], 1.0, 3.0, 3)),
        ];
        let r = f32s(uniform(&[3, 5, 7, 6], -1.0, 1.0, 4));
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
                let want = run_on(&Device::Cpu, &args, &r, (mag, ang));
                let got = run_on(&dev, &args, &r, (mag, ang));
                for (k, what) in ["value", "dy", "dn", "drho"].iter().enumerate() {
                    let scale = want[k].iter().fold(1e-6f32, |m, v| m.max(v.abs()));
                    let err = got[k]
                        .iter()
                        .zip(&want[k])
                        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
                    let tol = if k == 0 { 1e-5 } else { 1e-4 };
                    eprintln!(
                        "tail {mag:?} {ang:?} {what}: max error {err:.2e}, scale {scale:.2e}, \
                         tolerance {tol:.0e} relative"
                    );
                    assert!(
                        err <= tol * scale,
                        "{mag:?} {ang:?} {what}: {err} vs {scale}"
                    );
                }
                assert_eq!(got, run_on(&dev, &args, &r, (mag, ang)), "{mag:?} {ang:?}");
            }
        }
    }
}
