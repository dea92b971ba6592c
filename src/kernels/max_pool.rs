//! 2×2 max-pooling with stride 2 as a candle operation with a CPU kernel of its own: the forward
//! pass records which of the four inputs won each window, and the backward pass scatters the
//! gradient there, instead of candle's composite backward (upsample, compare, average, multiply).

use super::support::contiguous_slice;
use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor, WithDType};
use rayon::prelude::*;
use std::sync::{Arc, Mutex};

/// Forward op; keeps the winners of its last forward pass for its backward pass.
struct MaxPool2 {
    /// Per output element, the winner's place in its window: `2·dy + dx`.
    winners: Mutex<Arc<Vec<u8>>>,
}

/// Backward op: the gradient of the input from that of the output and the recorded winners.
struct MaxPool2Back {
    winners: Arc<Vec<u8>>,
    /// Input `(N·C, H, W)`.
    planes: usize,
    h: usize,
    w: usize,
}

fn dims4(l: &Layout) -> Result<(usize, usize, usize, usize)> {
    l.shape().dims4()
}

/// `x`: `planes` planes of `h × w`; returns the pooled planes of `h/2 × w/2` and the winners.
fn forward<T: WithDType + PartialOrd>(
    x: &[T],
    planes: usize,
    h: usize,
    w: usize,
) -> (Vec<T>, Vec<u8>) {
    let (oh, ow) = (h / 2, w / 2);
    let mut y = vec![T::zero(); planes * oh * ow];
    let mut win = vec![0u8; planes * oh * ow];
    if oh * ow == 0 {
        return (y, win);
    }
    y.par_chunks_mut(oh * ow)
        .zip(win.par_chunks_mut(oh * ow))
        .enumerate()
        .for_each(|(p, (yp, wp))| {
            let xp = &x[p * h * w..(p + 1) * h * w];
            for i in 0..oh {
                let r0 = &xp[2 * i * w..2 * i * w + w];
                let r1 = &xp[(2 * i + 1) * w..(2 * i + 1) * w + w];
                for j in 0..ow {
                    let cands = [r0[2 * j], r0[2 * j + 1], r1[2 * j], r1[2 * j + 1]];
                    // The first maximum in window order wins, as PyTorch's max_pool2d.
                    let mut best = 0;
                    for (k, v) in cands.iter().enumerate().skip(1) {
                        if *v > cands[best] {
                            best = k;
                        }
                    }
                    yp[i * ow + j] = cands[best];
                    wp[i * ow + j] = best as u8;
                }
            }
        });
    (y, win)
}

/// Scatters `dy` (`planes × h/2 × w/2`) to the winners; every other input gets 0.
fn backward<T: WithDType>(dy: &[T], win: &[u8], planes: usize, h: usize, w: usize) -> Vec<T> {
    let (oh, ow) = (h / 2, w / 2);
    let mut dx = vec![T::zero(); planes * h * w];
    if oh * ow == 0 {
        return dx;
    }
    dx.par_chunks_mut(h * w).enumerate().for_each(|(p, dxp)| {
        let dyp = &dy[p * oh * ow..(p + 1) * oh * ow];
        let wp = &win[p * oh * ow..(p + 1) * oh * ow];
        for i in 0..oh {
            for j in 0..ow {
                let k = wp[i * ow + j] as usize;
                dxp[(2 * i + k / 2) * w + 2 * j + k % 2] = dyp[i * ow + j];
            }
        }
    });
    dx
}

impl CustomOp1 for MaxPool2 {
    fn name(&self) -> &'static str {
        "max_pool2"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let (n, c, h, w) = dims4(l)?;
        let (y, win) = match s {
            CpuStorage::F32(v) => {
                let (y, win) = forward(contiguous_slice(v, l, "max_pool2")?, n * c, h, w);
                (CpuStorage::F32(y), win)
            }
            CpuStorage::F64(v) => {
                let (y, win) = forward(contiguous_slice(v, l, "max_pool2")?, n * c, h, w);
                (CpuStorage::F64(y), win)
            }
            other => {
                return Err(candle_core::Error::UnsupportedDTypeForOp(
                    other.dtype(),
                    "max_pool2",
                ))
            }
        };
        *self.winners.lock().expect("winners lock") = Arc::new(win);
        Ok((y, Shape::from((n, c, h / 2, w / 2))))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad_res: &Tensor) -> Result<Option<Tensor>> {
        let (n, c, h, w) = arg.dims4()?;
        let back = MaxPool2Back {
            winners: self.winners.lock().expect("winners lock").clone(),
            planes: n * c,
            h,
            w,
        };
        Ok(Some(grad_res.contiguous()?.apply_op1_no_bwd(&back)?))
    }
}

impl CustomOp1 for MaxPool2Back {
    fn name(&self) -> &'static str {
        "max_pool2_backward"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let (p, h, w) = (self.planes, self.h, self.w);
        if l.shape().elem_count() != self.winners.len() {
            candle_core::bail!("max_pool2_backward: gradient and recorded winners differ in size");
        }
        let dx = match s {
            CpuStorage::F32(v) => CpuStorage::F32(backward(
                contiguous_slice(v, l, "max_pool2_backward")?,
                &self.winners,
                p,
                h,
                w,
            )),
            CpuStorage::F64(v) => CpuStorage::F64(backward(
                contiguous_slice(v, l, "max_pool2_backward")?,
                &self.winners,
                p,
                h,
                w,
            )),
            other => {
                return Err(candle_core::Error::UnsupportedDTypeForOp(
                    other.dtype(),
                    "max_pool2_backward",
                ))
            }
        };
        let (n, c) = (l.shape().dims()[0], l.shape().dims()[1]);
        Ok((dx, Shape::from((n, c, h, w))))
    }
}

/// 2×2 max-pooling with stride 2 (odd last rows and columns are dropped), differentiable.
///
/// On the CPU with f32 or f64 it runs the kernel above (the gradient goes to the first maximum of
/// each window); on cuDNN [`super::gpu_layers::max_pool2`] (one maximum per window too);
/// elsewhere [`max_pool2_candle`].
///
/// # Shapes
/// `x`: `(N, C, H, W)` → `(N, C, ⌊H/2⌋, ⌊W/2⌋)`.
pub(crate) fn max_pool2(x: &Tensor) -> Result<Tensor> {
    if super::cuda_kernels_apply(x) && super::gpu_layers::pooled_dims(x.dims()).is_ok() {
        return super::gpu_layers::max_pool2(x);
    }
    if !super::own_kernels(x) {
        return max_pool2_candle(x);
    }
    x.contiguous()?.apply_op1(MaxPool2 {
        winners: Mutex::new(Arc::new(Vec::new())),
    })
}

/// candle's `max_pool2d(2)` with its gradient corrected, for the GPU.
///
/// candle 0.11's backward of `max_pool2d` multiplies the gradient by the window's share of
/// maxima (1/4 for a single maximum) where it should divide by their count, so every pooling
/// layer shrank the gradient 4×. The straight-through form `y + 4·(y − detach(y))` keeps the
/// value `y` and scales that gradient back: exact for windows with one maximum; a window with `k`
/// tied maxima gives each of them the whole gradient (after a ReLU such ties are zeros, whose
/// gradient the ReLU stops).
///
/// # Shapes
/// `x`: `(N, C, H, W)` → `(N, C, ⌊H/2⌋, ⌊W/2⌋)`.
pub(crate) fn max_pool2_candle(x: &Tensor) -> Result<Tensor> {
    let y = x.max_pool2d(2)?;
    let detached = y.detach();
    &detached + (&y - &detached)?.affine(4.0, 0.0)?
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};
    use rand::{Rng, SeedableRng};

    fn rand(shape: &[usize], seed: u64) -> Vec<f64> {
        let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        (0..shape.iter().product::<usize>())
            .map(|_| r.random::<f64>() * 2.0 - 1.0)
            .collect()
    }

    /// Oracle: a central finite difference of `Σ y·v` for a fixed random `v` on every input, and
    /// candle's own `max_pool2d` for the forward pass; the GPU path (`max_pool2_candle`) must
    /// give the same gradient for even sizes (random inputs have no ties). Odd shapes: batch 1,
    /// 3 channels, odd height and width, a 2×2 input.
    #[test]
    fn max_pool2_matches_candle_and_finite_differences() {
        for (k, shape) in [[1, 3, 5, 7], [2, 5, 8, 6], [1, 1, 2, 2], [3, 2, 9, 4]]
            .iter()
            .enumerate()
        {
            let xs = rand(shape, k as u64);
            let x = Var::from_vec(xs.clone(), shape.as_slice(), &Device::Cpu).unwrap();
            let y = max_pool2(x.as_tensor()).unwrap();
            let want = x.as_tensor().max_pool2d(2).unwrap();
            assert_eq!(y.dims(), want.dims());
            let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f64>().unwrap();
            assert_eq!(flat(&y), flat(&want), "{shape:?}");
            let v =
                Tensor::from_vec(rand(y.dims(), 100 + k as u64), y.dims(), &Device::Cpu).unwrap();
            let g = flat(
                y.mul(&v)
                    .unwrap()
                    .sum_all()
                    .unwrap()
                    .backward()
                    .unwrap()
                    .get(&x)
                    .unwrap(),
            );
            let gc = flat(
                max_pool2_candle(x.as_tensor())
                    .unwrap()
                    .mul(&v)
                    .unwrap()
                    .sum_all()
                    .unwrap()
                    .backward()
                    .unwrap()
                    .get(&x)
                    .unwrap(),
            );
            // The GPU path must agree. candle's backward upsamples the pooled map back to H×W,
            // which misplaces the gradient when H or W is odd: there only the finite difference
            // is the oracle.
            if shape[2] % 2 == 0 && shape[3] % 2 == 0 {
                for (a, b) in g.iter().zip(&gc) {
                    assert!((a - b).abs() < 1e-12, "{shape:?}: {a} vs candle {b}");
                }
            }
            let h = 1e-6;
            for i in (0..xs.len()).step_by(3) {
                let f = |d: f64| {
                    let mut p = xs.clone();
                    p[i] += d;
                    let t = Tensor::from_vec(p, shape.as_slice(), &Device::Cpu).unwrap();
                    max_pool2(&t)
                        .unwrap()
                        .mul(&v)
                        .unwrap()
                        .sum_all()
                        .unwrap()
                        .to_scalar::<f64>()
                        .unwrap()
                };
                let fd = (f(h) - f(-h)) / (2.0 * h);
                assert!(
                    (fd - g[i]).abs() < 1e-6,
                    "{shape:?} [{i}]: fd {fd} vs {}",
                    g[i]
                );
            }
        }
    }

    /// Oracle: PyTorch's rule for ties — the first maximum in window order takes the whole
    /// gradient (an all-zero window after a ReLU is the common case).
    #[test]
    fn ties_send_the_gradient_to_the_first_maximum() {
        let x = Var::from_vec(vec![0f32; 4], (1, 1, 2, 2), &Device::Cpu).unwrap();
        let y = max_pool2(x.as_tensor()).unwrap();
        let g = y.sum_all().unwrap().backward().unwrap();
        let g = g
            .get(&x)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert_eq!(g, vec![1.0, 0.0, 0.0, 0.0]);
    }
}
