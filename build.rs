//! Generates the list of the model zoo's embedded models: every `src/zoo/<name>/` directory
//! holding a `zoo.json` becomes one entry, its files compiled into the binary with
//! `include_bytes!` (see src/zoo/mod.rs and docs/zoo.md). With the `cudnn` feature it also
//! compiles dcrobust's own CUDA kernels (`src/kernels/tail.cu`) to PTX with nvcc.

use std::fmt::Write as _;
use std::path::Path;

/// The files of a zoo directory, each compiled in.
const FILES: [(&str, &str); 4] = [
    ("meta", "zoo.json"),
    ("config", "config.json"),
    ("weights", "model.safetensors"),
    ("history", "history.json"),
];

fn main() {
    let zoo = Path::new("src/zoo");
    // A directory path makes cargo rerun this script when anything below it changes.
    println!("cargo:rerun-if-changed=src/zoo");
    let mut names: Vec<String> = std::fs::read_dir(zoo)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter(|e| e.path().join("zoo.json").is_file())
                .filter_map(|e| e.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    let mut code = String::from("&[\n");
    for name in &names {
        let valid = name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
        if !valid {
            println!("cargo:warning=src/zoo/{name}: a zoo model's name may hold only a-z, 0-9, '-' and '.'; left out");
            continue;
        }
        let missing: Vec<&str> = FILES
            .iter()
            .map(|(_, f)| *f)
            .filter(|f| !zoo.join(name).join(f).is_file())
            .collect();
        if !missing.is_empty() {
            println!(
                "cargo:warning=src/zoo/{name} lacks {}; left out",
                missing.join(", ")
            );
            continue;
        }
        write!(code, "    Embedded {{\n        name: {name:?},\n").unwrap();
        for (field, file) in FILES {
            writeln!(
                code,
                "        {field}: include_bytes!(concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/src/zoo/{name}/{file}\")),"
            )
            .unwrap();
        }
        code.push_str("    },\n");
    }
    code.push(']');
    let out =
        Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("zoo_entries.rs");
    std::fs::write(&out, code).expect("OUT_DIR is writable");
    if std::env::var_os("CARGO_FEATURE_CUDNN").is_some() {
        compile_ptx("src/kernels/tail.cu", "tail.ptx");
    }
}

/// Compiles the CUDA source `src` to PTX `OUT_DIR/out` with nvcc (`$NVCC`, else
/// `$CUDA_ROOT/bin/nvcc`, else `nvcc` on the PATH; `.cuda/env.sh` sets the first two) for the
/// architecture `CUDA_COMPUTE_CAP` (default 90, the H100 and H200), as candle's kernels.
fn compile_ptx(src: &str, out: &str) {
    for var in ["NVCC", "CUDA_ROOT", "CUDA_COMPUTE_CAP", "NVCC_APPEND_FLAGS"] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    println!("cargo:rerun-if-changed={src}");
    let nvcc = std::env::var("NVCC").unwrap_or_else(|_| {
        std::env::var("CUDA_ROOT").map_or_else(|_| "nvcc".to_string(), |r| format!("{r}/bin/nvcc"))
    });
    let cap = std::env::var("CUDA_COMPUTE_CAP").unwrap_or_else(|_| "90".to_string());
    let out = Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join(out);
    let status = std::process::Command::new(&nvcc)
        .args(["--ptx", &format!("-arch=sm_{cap}"), "-o"])
        .arg(&out)
        .arg(src)
        .status()
        .unwrap_or_else(|e| panic!("running {nvcc} to compile {src} (feature cudnn): {e}"));
    assert!(status.success(), "{nvcc} failed to compile {src}: {status}");
}
