//! Throughput of the 15 main corruptions at severity 3 on random 32x32 RGB images, with 1 and
//! 2 rayon threads: `cargo run --release -p dcrobust-corruptions --example throughput [N]`.

use std::time::Instant;

use dcrobust_corruptions::{
    corrupt_images, Corruption, CorruptionSpec, ImageShape, Severity, Table,
};
use rand::{Rng, SeedableRng};

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2000);
    let (c, h, w) = (3, 32, 32);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2024);
    let images: Vec<u8> = (0..n * c * h * w).map(|_| rng.random()).collect();
    let severity = Severity::try_from(3).expect("3 is a severity");
    let shape = ImageShape {
        channels: c,
        height: h,
        width: w,
    };
    let spec = |corruption| CorruptionSpec {
        corruption,
        severity,
        table: Table::Cifar10C,
    };
    // Warm-up (frost texture decoding, page faults).
    corrupt_images(
        &images[..c * h * w],
        1,
        shape,
        spec(Corruption::Frost),
        0,
        0,
    )
    .expect("valid batch");
    for threads in [1usize, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("thread pool");
        println!("{threads} thread(s), {n} images of {h}x{w}x{c}, severity {severity}:");
        let mut total = 0.0f64;
        for corruption in Corruption::MAIN {
            let t = Instant::now();
            let out = pool.install(|| corrupt_images(&images, n, shape, spec(corruption), 1, 0));
            let secs = t.elapsed().as_secs_f64();
            assert_eq!(out.expect("valid batch").len(), images.len());
            total += secs;
            println!(
                "  {:<18} {:8.4} ms/image",
                corruption.name(),
                secs * 1e3 / n as f64
            );
        }
        println!(
            "  all 15: {:.4} ms/image, {:.0} images/s (each image through all 15)",
            total * 1e3 / n as f64,
            n as f64 / total
        );
    }
}
