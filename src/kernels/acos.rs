//! `acos` with a closed-form backward pass, for the angle θ of the decoupled operators.

use super::support::contiguous_slice;
use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};

/// `acos` as a candle operation with a backward pass, on the CPU.
///
/// Forward: `acos(clamp(c, -1, 1))`. Backward: `-1 / sqrt(max(1 - c^2, 1e-12))`, the closed-form
/// derivative, floored so that a cosine that rounds to exactly ±1 gives a large finite gradient
/// rather than an infinite one. Cosines from a decoupled layer stay strictly inside (-1, 1): the
/// `1e-4` inside both norms guarantees it.
struct Acos;

fn acos_slice<T: num_like::Float>(v: &[T]) -> Vec<T> {
    v.iter().map(|&c| c.clamp_unit().acos()).collect()
}

/// The few float operations the custom ops need, for `f32` and `f64`.
mod num_like {
    pub(crate) trait Float: Copy {
        fn clamp_unit(self) -> Self;
        fn acos(self) -> Self;
    }
    impl Float for f32 {
        fn clamp_unit(self) -> Self {
            self.clamp(-1.0, 1.0)
        }
        fn acos(self) -> Self {
            f32::acos(self)
        }
    }
    impl Float for f64 {
        fn clamp_unit(self) -> Self {
            self.clamp(-1.0, 1.0)
        }
        fn acos(self) -> Self {
            f64::acos(self)
        }
    }
}

impl CustomOp1 for Acos {
    fn name(&self) -> &'static str {
        "acos"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let out = match storage {
            CpuStorage::F32(v) => CpuStorage::F32(acos_slice(contiguous_slice(v, layout, "acos")?)),
            CpuStorage::F64(v) => CpuStorage::F64(acos_slice(contiguous_slice(v, layout, "acos")?)),
            other => {
                return Err(candle_core::Error::UnsupportedDTypeForOp(
                    other.dtype(),
                    "acos",
                ))
            }
        };
        Ok((out, layout.shape().clone()))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad_res: &Tensor) -> Result<Option<Tensor>> {
        // d/dc acos(c) = -1 / sqrt(1 - c^2)
        let one_minus = arg.sqr()?.affine(-1.0, 1.0)?.clamp(1e-12, 1.0)?;
        let d = one_minus.sqrt()?.recip()?.neg()?;
        Ok(Some(grad_res.mul(&d)?))
    }
}

/// Arc cosine of every element, differentiable.
///
/// On the CPU with f32 or f64 it is the custom operation above; on other devices or dtypes it is
/// [`acos_composite`], built from candle's own operations.
///
/// # Shapes
/// Any shape; the result has the input's shape.
pub(crate) fn acos(c: &Tensor) -> Result<Tensor> {
    if super::own_kernels(c) {
        c.contiguous()?.apply_op1(Acos)
    } else {
        acos_composite(c)
    }
}

/// Coefficients of Abramowitz & Stegun 4.4.46: `acos(a) = sqrt(1 − a) · Σ c_i a^i` on
/// `0 ≤ a ≤ 1`, absolute error at most 2e-8.
const ACOS_POLY: [f64; 8] = [
    1.570_796_305_0,
    -0.214_598_801_6,
    0.088_978_987_4,
    -0.050_174_304_6,
    0.030_891_881_0,
    -0.017_088_125_6,
    0.006_670_090_1,
    -0.001_262_491_1,
];

/// `acos` from candle's element-wise operations, for devices without the custom kernel (CUDA).
///
/// Value: the Abramowitz & Stegun 4.4.46 polynomial on `|c|` (error ≤ 2e-8), mirrored with
/// `acos(−a) = π − acos(a)`, after clamping to [-1, 1]. Gradient: the same closed form as the CPU
/// operation, `-1 / sqrt(max(1 − c², 1e-12))`, attached with the straight-through identity
/// `v + (c·d − detach(c·d))`, whose value is `v` and whose derivative is `d`.
///
/// # Shapes
/// Any shape; the result has the input's shape.
pub(crate) fn acos_composite(c: &Tensor) -> Result<Tensor> {
    let cc = c.detach().clamp(-1.0, 1.0)?;
    let a = cc.abs()?;
    let mut p = a.ones_like()?.affine(0.0, ACOS_POLY[7])?;
    for &coef in ACOS_POLY[..7].iter().rev() {
        p = p.mul(&a)?.affine(1.0, coef)?;
    }
    let r = a.affine(-1.0, 1.0)?.sqrt()?.mul(&p)?;
    let mirrored = r.affine(-1.0, std::f64::consts::PI)?;
    let value = cc.ge(0.0)?.where_cond(&r, &mirrored)?;
    let d = c
        .detach()
        .sqr()?
        .affine(-1.0, 1.0)?
        .clamp(1e-12, 1.0)?
        .sqrt()?
        .recip()?
        .neg()?;
    let lin = c.mul(&d)?;
    value + (&lin - lin.detach())?
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    /// Oracle: the closed forms acos(c) and d/dc acos(c) = -1/sqrt(1-c^2), evaluated in f64.
    #[test]
    fn acos_matches_closed_form_and_its_derivative() {
        let cs = [-0.999f64, -0.5, 0.0, 0.3, 0.9];
        let x = Var::from_vec(cs.to_vec(), cs.len(), &Device::Cpu).unwrap();
        let y = acos(x.as_tensor()).unwrap();
        let got = y.to_vec1::<f64>().unwrap();
        let g = y.sum_all().unwrap().backward().unwrap();
        let dg = g.get(&x).unwrap().to_vec1::<f64>().unwrap();
        for (i, &c) in cs.iter().enumerate() {
            assert!((got[i] - c.acos()).abs() < 1e-15, "acos({c})");
            let want = -1.0 / (1.0 - c * c).sqrt();
            assert!((dg[i] - want).abs() < 1e-9 * want.abs(), "d acos({c})");
        }
    }

    /// Oracle: the closed forms, as above, for the composite used on CUDA: values within the
    /// Abramowitz & Stegun 4.4.46 bound (2e-8) plus f64 rounding, the derivative exact.
    #[test]
    fn composite_acos_matches_closed_form_and_its_derivative() {
        let cs = [
            -1.0f64, -0.999, -0.7, -0.5, -1e-9, 0.0, 0.3, 0.5, 0.9, 0.9999, 1.0,
        ];
        let x = Var::from_vec(cs.to_vec(), cs.len(), &Device::Cpu).unwrap();
        let y = acos_composite(x.as_tensor()).unwrap();
        let got = y.to_vec1::<f64>().unwrap();
        let g = y.sum_all().unwrap().backward().unwrap();
        let dg = g.get(&x).unwrap().to_vec1::<f64>().unwrap();
        for (i, &c) in cs.iter().enumerate() {
            assert!((got[i] - c.acos()).abs() < 3e-8, "acos({c}): {}", got[i]);
            let want = -1.0 / (1.0 - c * c).max(1e-12).sqrt();
            assert!((dg[i] - want).abs() < 1e-9 * want.abs(), "d acos({c})");
        }
        // f32 agrees with the CPU kernel to f32 rounding.
        let x32 = Tensor::new(&[-0.99f32, -0.25, 0.0, 0.6, 0.97], &Device::Cpu).unwrap();
        let a = acos_composite(&x32).unwrap().to_vec1::<f32>().unwrap();
        let b = acos(&x32).unwrap().to_vec1::<f32>().unwrap();
        for (p, q) in a.iter().zip(&b) {
            assert!((p - q).abs() < 1e-6, "{p} vs {q}");
        }
    }

    /// Oracle: acos(±1) = 0, π, and inputs just outside [-1, 1] clamp instead of giving NaN.
    #[test]
    fn acos_clamps_rounding_overshoot() {
        let x = Tensor::new(&[1.0000001f32, -1.0000001, 1.0, -1.0], &Device::Cpu).unwrap();
        let y = acos(&x).unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(y[0], 0.0);
        assert!((y[1] - std::f32::consts::PI).abs() < 1e-6);
        assert!(y.iter().all(|v| v.is_finite()));
    }
}
