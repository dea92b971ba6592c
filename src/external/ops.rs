//! Pooling for external models, built from reshapes and reductions whose gradients candle
//! computes exactly (candle 0.11's own `max_pool2d` backward scales the gradient wrongly; see
//! `kernels::max_pool::max_pool2_candle`).

use candle_core::{Result, Tensor};

/// The `(N, C, H/k, k, W/k, k)` view of `x` after dropping the rows and columns that do not fill
/// a window (PyTorch's and ONNX's floor mode).
fn windows(x: &Tensor, k: usize) -> Result<Tensor> {
    let (n, c, h, w) = x.dims4()?;
    if k == 0 || h < k || w < k {
        candle_core::bail!("a {k}x{k} pooling window does not fit a {h}x{w} feature map");
    }
    let (oh, ow) = (h / k, w / k);
    let x = if oh * k != h || ow * k != w {
        x.narrow(2, 0, oh * k)?.narrow(3, 0, ow * k)?
    } else {
        x.clone()
    };
    x.contiguous()?.reshape((n, c, oh, k, ow, k))
}

/// Average pooling with a k×k window and stride k, no padding.
///
/// # Shapes
/// `x`: `(N, C, H, W)` → `(N, C, ⌊H/k⌋, ⌊W/k⌋)`.
pub(crate) fn avg_pool(x: &Tensor, k: usize) -> Result<Tensor> {
    windows(x, k)?.mean(5)?.mean(3)
}

/// Max pooling with a k×k window and stride k, no padding. As in PyTorch, the gradient goes to
/// one maximum of each window, the first in row-major order, also when several pixels tie (after
/// a ReLU, an all-zero window ties everywhere).
///
/// # Shapes
/// `x`: `(N, C, H, W)` → `(N, C, ⌊H/k⌋, ⌊W/k⌋)`.
pub(crate) fn max_pool(x: &Tensor, k: usize) -> Result<Tensor> {
    let (n, c, _, _) = x.dims4()?;
    let w = windows(x, k)?;
    let (oh, ow) = (w.dim(2)?, w.dim(4)?);
    // (N, C, oh, ow, k·k), each window's pixels in row-major order.
    let w = w
        .permute((0, 1, 2, 4, 3, 5))?
        .contiguous()?
        .reshape((n, c, oh, ow, k * k))?;
    // The first maximum of each window, as a one-hot mask that carries no gradient.
    let first = w.detach().argmax_keepdim(4)?;
    let positions =
        Tensor::arange(0u32, (k * k) as u32, x.device())?.reshape((1, 1, 1, 1, k * k))?;
    let mask = positions.broadcast_eq(&first)?.to_dtype(x.dtype())?;
    (w * mask)?.sum(4)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    /// Oracle: hand-computed windows of a 1×1×5×4 ramp (the fifth row is dropped), and the
    /// gradients of the sum: 1/4 to every pixel of a window for the mean, 1 to each window's
    /// largest (bottom-right) pixel for the max; in a window of equal values, 1 to its top-left
    /// pixel only (PyTorch's `max_pool2d`).
    #[test]
    fn pooling_values_and_gradients_by_hand() {
        let v: Vec<f32> = (0..20).map(|i| i as f32).collect();
        let x = Var::from_vec(v, (1, 1, 5, 4), &Device::Cpu).unwrap();
        let avg = avg_pool(x.as_tensor(), 2).unwrap();
        assert_eq!(
            avg.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            vec![2.5, 4.5, 10.5, 12.5]
        );
        let g = avg.sum_all().unwrap().backward().unwrap();
        let g = g.get(x.as_tensor()).unwrap().flatten_all().unwrap();
        let mut want = vec![0.25f32; 16];
        want.extend([0.0; 4]);
        assert_eq!(g.to_vec1::<f32>().unwrap(), want);

        let mx = max_pool(x.as_tensor(), 2).unwrap();
        assert_eq!(
            mx.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            vec![5.0, 7.0, 13.0, 15.0]
        );
        let g = mx.sum_all().unwrap().backward().unwrap();
        let g = g.get(x.as_tensor()).unwrap().flatten_all().unwrap();
        let mut want = vec![0.0f32; 20];
        for i in [5, 7, 13, 15] {
            want[i] = 1.0;
        }
        assert_eq!(g.to_vec1::<f32>().unwrap(), want);
        assert!(avg_pool(x.as_tensor(), 6).is_err());

        let ties = Var::from_vec(vec![0f32; 8], (1, 2, 2, 2), &Device::Cpu).unwrap();
        let g = max_pool(ties.as_tensor(), 2)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let g = g.get(ties.as_tensor()).unwrap().flatten_all().unwrap();
        assert_eq!(
            g.to_vec1::<f32>().unwrap(),
            vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0]
        );
    }
}
