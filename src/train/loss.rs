//! Cross-entropy with label smoothing.

use candle_core::{Result, Tensor, D};

/// Mean cross-entropy against the smoothed target `(1 − ε)·onehot(y) + ε/K`, computed as
/// `(1 − ε)·(−log p_y) + ε·mean_k(−log p_k)` from a stable log-softmax. ε = 0 is the plain loss.
///
/// # Shapes
/// `logits`: `(N, K)`, `labels`: `(N,)` u32 → scalar.
pub(crate) fn cross_entropy(logits: &Tensor, labels: &Tensor, smoothing: f64) -> Result<Tensor> {
    let logp = candle_nn::ops::log_softmax(logits, D::Minus1)?;
    let nll = logp.gather(&labels.unsqueeze(1)?, 1)?.squeeze(1)?.neg()?;
    if smoothing == 0.0 {
        return nll.mean_all();
    }
    let uniform = logp.mean(D::Minus1)?.neg()?;
    (nll.affine(1.0 - smoothing, 0.0)? + uniform.affine(smoothing, 0.0)?)?.mean_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// Oracle: −Σ_k t_k log softmax(z)_k computed by hand in f64 for z = [1, 2, 0.5], y = 1,
    /// ε = 0.1, K = 3, t = [0.0333.., 0.9333.., 0.0333..].
    #[test]
    fn smoothed_cross_entropy_by_hand() {
        let z = [1.0f64, 2.0, 0.5];
        let lse = z.iter().map(|v| v.exp()).sum::<f64>().ln();
        let logp: Vec<f64> = z.iter().map(|v| v - lse).collect();
        let eps = 0.1;
        let t = [eps / 3.0, 1.0 - eps + eps / 3.0, eps / 3.0];
        let want: f64 = -(0..3).map(|k| t[k] * logp[k]).sum::<f64>();
        let logits = Tensor::new(&[z], &Device::Cpu).unwrap();
        let y = Tensor::new(&[1u32], &Device::Cpu).unwrap();
        let got = cross_entropy(&logits, &y, eps)
            .unwrap()
            .to_scalar::<f64>()
            .unwrap();
        assert!((got - want).abs() < 1e-12, "{got} vs {want}");
        let plain = cross_entropy(&logits, &y, 0.0)
            .unwrap()
            .to_scalar::<f64>()
            .unwrap();
        assert!((plain + logp[1]).abs() < 1e-12);
    }
}
