//! Corrupts a raw batch of images, for comparisons against the Python reference
//! (`corruptions/scripts/measure_fidelity.py`):
//! `cargo run --release -p dcrobust-corruptions --example corrupt_raw -- CORRUPTION SEVERITY
//! RUN_SEED HEIGHT WIDTH < in.raw > out.raw`, where `in.raw` holds RGB images back to back,
//! each channel-major (CHW) `u8`, and image `i` gets the seed `image_seed(RUN_SEED, .., i)`.

use std::io::{Read, Write};
use std::process::ExitCode;

use dcrobust_corruptions::{
    corrupt_images, Corruption, CorruptionSpec, ImageShape, Severity, Table,
};

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [corruption, severity, seed, height, width] = args.as_slice() else {
        return Err(
            "usage: corrupt_raw CORRUPTION SEVERITY RUN_SEED HEIGHT WIDTH < in.raw > out.raw"
                .into(),
        );
    };
    let corruption: Corruption = corruption.parse().map_err(|e| format!("{e}"))?;
    let severity: i64 = severity.parse().map_err(|e| format!("severity: {e}"))?;
    let severity = Severity::try_from(severity).map_err(|e| format!("{e}"))?;
    let seed: u64 = seed.parse().map_err(|e| format!("seed: {e}"))?;
    let height: usize = height.parse().map_err(|e| format!("height: {e}"))?;
    let width: usize = width.parse().map_err(|e| format!("width: {e}"))?;
    let shape = ImageShape {
        channels: 3,
        height,
        width,
    };
    let mut input = Vec::new();
    std::io::stdin()
        .read_to_end(&mut input)
        .map_err(|e| format!("stdin: {e}"))?;
    let per = shape.byte_count();
    if per == 0 || input.len() % per != 0 {
        return Err(format!(
            "stdin has {} bytes, not a multiple of {per} (3 x {height} x {width})",
            input.len()
        ));
    }
    let spec = CorruptionSpec {
        corruption,
        severity,
        table: Table::Cifar10C,
    };
    let out = corrupt_images(&input, input.len() / per, shape, spec, seed, 0)
        .map_err(|e| format!("{e}"))?;
    std::io::stdout()
        .write_all(&out)
        .map_err(|e| format!("stdout: {e}"))
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("corrupt_raw: {e}");
            ExitCode::FAILURE
        }
    }
}
