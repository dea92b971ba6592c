//! Helpers shared by the kernels' and the models' tests.

use candle_core::{Device, Tensor};
use rand::{Rng, SeedableRng};

/// Uniform f64 values in `[lo, hi)` from a seeded generator.
pub(crate) fn uniform(shape: &[usize], lo: f64, hi: f64, seed: u64) -> Tensor {
    let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let n: usize = shape.iter().product();
    let v: Vec<f64> = (0..n).map(|_| lo + (hi - lo) * r.random::<f64>()).collect();
    Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
}

/// Largest absolute difference between two f64 tensors of one shape.
pub(crate) fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
    let d: Vec<f64> = (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    d.into_iter().fold(0.0, f64::max)
}

/// Held by every test that sets the process-wide cuDNN convolution settings
/// (`kernels::set_conv_math`, `kernels::set_conv_algos`) or depends on them, so that tests run
/// in parallel do not see each other's settings.
static CONV_SETTINGS: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Takes [`CONV_SETTINGS`], also after a test that held it failed.
pub(crate) fn conv_settings() -> std::sync::MutexGuard<'static, ()> {
    CONV_SETTINGS.lock().unwrap_or_else(|e| e.into_inner())
}

/// CUDA device 0 for a test that compares it with the CPU, or `None` when none opens: the test
/// then says so (naming `what` did not run) and passes, unless `DCROBUST_REQUIRE_GPU` is set
/// (`.ci/gpu-check` sets it), where a missing device fails it.
pub(crate) fn cuda_or_skip(what: &str) -> Option<Device> {
    match Device::new_cuda(0) {
        Ok(d) => Some(d),
        Err(e) => {
            assert!(
                std::env::var_os("DCROBUST_REQUIRE_GPU").is_none(),
                "DCROBUST_REQUIRE_GPU is set but no CUDA device opens: {e}"
            );
            eprintln!("no CUDA device ({e}); {what} did not run");
            None
        }
    }
}
