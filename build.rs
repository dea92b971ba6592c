//! Generates the list of the model zoo's embedded models: every `src/zoo/<name>/` directory
//! holding a `zoo.json` becomes one entry, its files compiled into the binary with
//! `include_bytes!` (see src/zoo/mod.rs and docs/zoo.md).

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
}
