//! Truncated, corrupted and hostile inputs: every loader answers with a clear error
//! naming the file and what was expected — exit code 1 and one `error:` line from the binary —
//! never a panic and never an allocation sized by a declared header the file cannot back.
//!
//! The byte-level loaders are also covered by the fuzz targets in `tests/fuzz/`; the unit tests
//! beside each loader cover the ordinary malformed cases (wrong magic, bad labels, ...).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use candle_core::{DType, Device, Tensor};
use dcrobust::data::fuzz_entry;

/// Runs the binary with `args`; with `vm_limit_kib`, under `ulimit -v` (virtual memory cap), so
/// an attempt to allocate from a huge declared size aborts instead of returning an error.
fn dcrobust_limited(args: &[&str], vm_limit_kib: Option<u64>) -> Output {
    let bin = env!("CARGO_BIN_EXE_dcrobust");
    match vm_limit_kib {
        None => Command::new(bin).args(args).output(),
        Some(kib) => Command::new("sh")
            .arg("-c")
            .arg(format!("ulimit -v {kib} && exec \"$0\" \"$@\""))
            .arg(bin)
            .args(args)
            .output(),
    }
    .expect("the dcrobust binary runs")
}

fn dcrobust(args: &[&str]) -> Output {
    dcrobust_limited(args, None)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The CLI contract for bad input: exit code 1, exactly one line starting with `error`, which
/// holds every needle (the file's name and what was wrong), and no panic.
fn assert_clear_error(o: &Output, needles: &[&str]) {
    let e = stderr(o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(!e.contains("panicked"), "{e}");
    let errors: Vec<&str> = e.lines().filter(|l| l.starts_with("error")).collect();
    assert_eq!(errors.len(), 1, "{e}");
    for n in needles {
        assert!(errors[0].contains(n), "expected `{n}` in: {e}");
    }
}

/// 2 GiB of address space: plenty for these tiny runs (checked by `limit_is_harmless`), far
/// below what any of the huge declared sizes below would need.
const VM_LIMIT_KIB: u64 = 2 << 20;

/// Oracle: the same limit lets an ordinary command through, so a failure under it below is the
/// loader's doing, not the limit's.
#[test]
fn limit_is_harmless() {
    let o = dcrobust_limited(&["models"], Some(VM_LIMIT_KIB));
    assert!(o.status.success(), "{}", stderr(&o));
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// Oracle: record arithmetic — a CIFAR-10 batch of 2 records cut by one byte is 6145 bytes,
/// not a multiple of 3073, and `train` names the file and both numbers before training.
#[test]
fn truncated_cifar_batch_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("cifar");
    let record = |label: u8| {
        let mut r = vec![label];
        r.extend((0..3072).map(|i| (i % 251) as u8));
        r
    };
    for k in 1..=5 {
        write(
            &data.join(format!("data_batch_{k}.bin")),
            &[record(k), record(0)].concat(),
        );
    }
    write(&data.join("test_batch.bin"), &record(1));
    let batch2 = data.join("data_batch_2.bin");
    let bytes = std::fs::read(&batch2).unwrap();
    std::fs::write(&batch2, &bytes[..bytes.len() - 1]).unwrap();
    let out = tmp.path().join("out");
    let o = dcrobust(&[
        "train",
        "--data",
        data.to_str().unwrap(),
        "--epochs",
        "1",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_clear_error(
        &o,
        &[
            "data_batch_2.bin",
            "truncated or not CIFAR-10 binary",
            "6145 bytes",
            "multiple of 3073",
        ],
    );
}

fn idx_header(magic: u32, dims: &[u32]) -> Vec<u8> {
    let mut out = magic.to_be_bytes().to_vec();
    for d in dims {
        out.extend(d.to_be_bytes());
    }
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// Oracle: the file-length bound — an IDX header declaring 4294967295x28x28 (3.4 TB) over 16
/// data bytes, raw or gzipped, is refused by comparing the declared size with what the file can
/// hold; under a 2 GiB address-space limit, allocating first would abort instead.
#[test]
fn idx_with_huge_declared_dimensions_is_refused_without_allocating() {
    let images = [idx_header(0x803, &[u32::MAX, 28, 28]), vec![7; 16]].concat();
    let labels = [idx_header(0x801, &[2]), vec![1, 2]].concat();
    for gzipped in [false, true] {
        let tmp = tempfile::tempdir().unwrap();
        let (suffix, bytes) = if gzipped {
            (".gz", gzip(&images))
        } else {
            ("", images.clone())
        };
        let name = format!("train-images-idx3-ubyte{suffix}");
        write(&tmp.path().join(&name), &bytes);
        write(&tmp.path().join("train-labels-idx1-ubyte"), &labels);
        let o = dcrobust_limited(
            &[
                "train",
                "--data",
                tmp.path().to_str().unwrap(),
                "--epochs",
                "1",
                "--quiet",
                "--out",
                tmp.path().join("out").to_str().unwrap(),
            ],
            Some(VM_LIMIT_KIB),
        );
        let problem = if gzipped {
            "more than a gzip file"
        } else {
            "truncated IDX file"
        };
        assert_clear_error(&o, &[&name, "4294967295x28x28", problem]);

        // The byte-level entry point the fuzzer drives gives the same error.
        let e = fuzz_entry::idx(
            Path::new(&name),
            &bytes,
            Path::new("train-labels-idx1-ubyte"),
            &labels,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains(problem) && e.contains(&name), "{e}");
    }
}

fn npy_bytes(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
    let header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}\n");
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header.as_bytes());
    out.extend(data);
    out
}

/// Oracle: the file-length bound — a `.npy` header declaring 10^9 x 32 x 32 x 3 bytes (3 TB)
/// over 10 data bytes is refused by length before reading, and a shape whose product overflows
/// is refused as too large; `run --cifar10c` names the file before any training, under a 2 GiB
/// address-space limit.
#[test]
fn npy_with_huge_declared_shape_is_refused() {
    let huge = npy_bytes("|u1", "(1000000000, 32, 32, 3)", &[0; 10]);
    let e = fuzz_entry::npy(Path::new("fog.npy"), &huge)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("fog.npy is truncated") && e.contains("3072000000000 data bytes"),
        "{e}"
    );
    let overflow = npy_bytes("<i8", "(18446744073709551615, 2)", &[]);
    let e = fuzz_entry::npy(Path::new("labels.npy"), &overflow)
        .unwrap_err()
        .to_string();
    assert!(e.contains("labels.npy") && e.contains("too large"), "{e}");

    let tmp = tempfile::tempdir().unwrap();
    let c10c = tmp.path().join("c10c");
    write(
        &c10c.join("labels.npy"),
        &npy_bytes("<i8", "(1000000000000,)", &[0; 16]),
    );
    write(&c10c.join("fog.npy"), &huge);
    let out = tmp.path().join("out");
    let o = dcrobust_limited(
        &[
            "run",
            "--suite",
            "corruption",
            "--quiet",
            "--corruptions",
            "fog",
            "--cifar10c",
            c10c.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        Some(VM_LIMIT_KIB),
    );
    assert_clear_error(&o, &["labels.npy is truncated", "8000000000000 data bytes"]);
    assert!(!out.exists());
}

/// Trains a tiny baseline (width 0.0625, one epoch) into `dir`; returns its run directory.
fn tiny_checkpoint(dir: &Path) -> PathBuf {
    let o = dcrobust(&[
        "train",
        "--op",
        "baseline",
        "--width",
        "0.0625",
        "--epochs",
        "1",
        "--train-limit",
        "64",
        "--test-limit",
        "32",
        "--batch-size",
        "32",
        "--quiet",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    dir.join("cnn9-baseline")
}

/// Copies a training run directory's config and weights to `to`, without the weights' SHA-256
/// in the config (so that each damage below meets its own check, not the hash check).
fn copy_run(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    std::fs::copy(from.join("model.safetensors"), to.join("model.safetensors")).unwrap();
    let mut cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(from.join("config.json")).unwrap()).unwrap();
    cfg.as_object_mut().unwrap().remove("weights_sha256");
    std::fs::write(to.join("config.json"), cfg.to_string()).unwrap();
}

/// Evaluates the run directory `ckpt` with the adversarial suite (fast options), writing into
/// `ckpt`'s sibling `<name>-out`; a refused checkpoint must leave that directory uncreated.
fn evaluate(ckpt: &Path) -> Output {
    let out = ckpt.with_file_name(format!(
        "{}-out",
        ckpt.file_name().unwrap().to_string_lossy()
    ));
    let o = dcrobust(&[
        "run",
        "--suite",
        "adversarial",
        "--checkpoint",
        ckpt.to_str().unwrap(),
        "--test-limit",
        "20",
        "--eval-images",
        "20",
        "--attacks",
        "fgsm",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    if !o.status.success() {
        assert!(!out.exists(), "a refused checkpoint left {}", out.display());
    }
    o
}

fn load_tensors(path: &Path) -> HashMap<String, Tensor> {
    candle_core::safetensors::load(path, &Device::Cpu).unwrap()
}

fn save_tensors(tensors: &HashMap<String, Tensor>, path: &Path) {
    candle_core::safetensors::save(tensors, path).unwrap();
}

/// Oracle: each damaged checkpoint is refused by `run --checkpoint` and by the library loader
/// with the checkpoint's path and the fault named: NaN weights (the finiteness check), weights of
/// a wider network under the config (shape check, both shapes printed), a missing tensor (name
/// check), a truncated file and a header declaring 2^64-1 bytes (safetensors parse). The intact
/// copy loads (control).
#[test]
fn damaged_checkpoints_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let good = tiny_checkpoint(&tmp.path().join("train"));
    let ckpt_file = |dir: &Path| dir.join("model.safetensors");
    let tensors = load_tensors(&ckpt_file(&good));

    // Control: the intact run directory loads.
    dcrobust::train::load_network(&good, &Device::Cpu).unwrap();

    // NaN weights.
    let nan = tmp.path().join("nan");
    copy_run(&good, &nan);
    let mut t = tensors.clone();
    let w = &t["stage1.conv1.weight"];
    let mut values = w.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    values[3] = f32::NAN;
    let shape = w.dims().to_vec();
    t.insert(
        "stage1.conv1.weight".into(),
        Tensor::from_vec(values, shape, &Device::Cpu).unwrap(),
    );
    save_tensors(&t, &ckpt_file(&nan));
    let o = evaluate(&nan);
    assert_clear_error(
        &o,
        &[
            &ckpt_file(&nan).display().to_string(),
            "stage1.conv1.weight",
            "NaN or infinite",
        ],
    );
    let e = format!(
        "{:#}",
        dcrobust::train::load_network(&nan, &Device::Cpu)
            .err()
            .unwrap()
    );
    assert!(e.contains("NaN or infinite"), "{e}");

    // Another architecture: width-0.0625 weights under a width-0.125 config.
    let wide = tmp.path().join("wide");
    copy_run(&good, &wide);
    let mut cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(wide.join("config.json")).unwrap()).unwrap();
    cfg["model"]["width"] = serde_json::json!(0.125);
    std::fs::write(wide.join("config.json"), cfg.to_string()).unwrap();
    let o = evaluate(&wide);
    assert_clear_error(
        &o,
        &[
            &ckpt_file(&wide).display().to_string(),
            "in the checkpoint, the model expects",
        ],
    );

    // A missing tensor.
    let missing = tmp.path().join("missing");
    copy_run(&good, &missing);
    let mut t = tensors.clone();
    t.remove("fc6.weight").unwrap();
    save_tensors(&t, &ckpt_file(&missing));
    let o = evaluate(&missing);
    assert_clear_error(
        &o,
        &[
            &ckpt_file(&missing).display().to_string(),
            "the checkpoint has no tensor `fc6.weight`",
        ],
    );

    // Truncated, and a header length of 2^64-1.
    let bytes = std::fs::read(ckpt_file(&good)).unwrap();
    let mut huge_header = bytes.clone();
    huge_header[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    for (name, damaged) in [
        ("truncated", bytes[..bytes.len() * 2 / 3].to_vec()),
        ("huge-header", huge_header),
    ] {
        let dir = tmp.path().join(name);
        copy_run(&good, &dir);
        std::fs::write(ckpt_file(&dir), damaged).unwrap();
        let o = evaluate(&dir);
        assert_clear_error(
            &o,
            &[
                &ckpt_file(&dir).display().to_string(),
                "not a valid safetensors checkpoint",
            ],
        );
    }
    // A float type the model does not use is converted, not refused: F64 weights load.
    let f64_dir = tmp.path().join("f64");
    copy_run(&good, &f64_dir);
    let t: HashMap<String, Tensor> = tensors
        .iter()
        .map(|(k, v)| (k.clone(), v.to_dtype(DType::F64).unwrap()))
        .collect();
    save_tensors(&t, &ckpt_file(&f64_dir));
    dcrobust::train::load_network(&f64_dir, &Device::Cpu).unwrap();
}

/// Oracle: `config.json` records the SHA-256 of `model.safetensors` (the library's digest, which
/// `sha256_of_abc` checks against FIPS 180-2's test vector); 2,000 flipped bytes in
/// the middle of the weights, which would otherwise load and evaluate at chance, are refused
/// with the file named and the mismatch stated.
#[test]
fn flipped_weight_bytes_fail_the_checksum() {
    let tmp = tempfile::tempdir().unwrap();
    let good = tiny_checkpoint(&tmp.path().join("train"));
    let cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(good.join("config.json")).unwrap()).unwrap();
    let bytes = std::fs::read(good.join("model.safetensors")).unwrap();
    assert_eq!(
        cfg["weights_sha256"].as_str().unwrap(),
        dcrobust::train::sha256_hex(&bytes)
    );
    let bad = tmp.path().join("flipped");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::copy(good.join("config.json"), bad.join("config.json")).unwrap();
    let mut flipped = bytes.clone();
    let mid = flipped.len() / 2;
    for b in &mut flipped[mid - 1000..mid + 1000] {
        *b ^= 0x5a;
    }
    std::fs::write(bad.join("model.safetensors"), &flipped).unwrap();
    let o = evaluate(&bad);
    assert_clear_error(
        &o,
        &[
            &bad.join("model.safetensors").display().to_string(),
            "does not match",
            "SHA-256",
        ],
    );
}

/// Oracle: a run directory in dcrobust 0.1's single-file layout (`checkpoint.safetensors` with
/// weights and optimiser state, BatchNorm's `gamma`/`beta`/`updates`) loads with the same
/// weights as the two-file layout it is converted from, so evaluation of old runs keeps working.
#[test]
fn single_file_checkpoints_still_load() {
    let tmp = tempfile::tempdir().unwrap();
    let good = tiny_checkpoint(&tmp.path().join("train"));
    let legacy = tmp.path().join("legacy");
    std::fs::create_dir_all(&legacy).unwrap();
    std::fs::copy(good.join("config.json"), legacy.join("config.json")).unwrap();
    let mut t = HashMap::new();
    for (k, v) in load_tensors(&good.join("model.safetensors")) {
        let (k, v) = match k.rsplit_once(".bn.") {
            Some((stem, "weight")) => (format!("{stem}.bn.gamma"), v),
            Some((stem, "bias")) => (format!("{stem}.bn.beta"), v),
            Some((stem, "num_batches_tracked")) => (
                format!("{stem}.bn.updates"),
                v.to_dtype(DType::F32).unwrap().reshape(1).unwrap(),
            ),
            _ => (k, v),
        };
        t.insert(k, v);
    }
    for (k, v) in load_tensors(&good.join("optimizer.safetensors")) {
        t.insert(k, v);
    }
    save_tensors(&t, &legacy.join("checkpoint.safetensors"));
    let (_, a) = dcrobust::train::load_network(&good, &Device::Cpu).unwrap();
    let (_, b) = dcrobust::train::load_network(&legacy, &Device::Cpu).unwrap();
    let (ta, tb) = (a.params().tensors(), b.params().tensors());
    assert_eq!(ta.len(), tb.len());
    for (k, v) in &ta {
        let d = (v - &tb[k]).unwrap().abs().unwrap().flatten_all().unwrap();
        let d = d
            .max(0)
            .unwrap()
            .to_dtype(DType::F64)
            .unwrap()
            .to_scalar::<f64>()
            .unwrap();
        assert_eq!(d, 0.0, "{k} differs");
    }
}

/// A seed file of the `results_json` fuzz target without its leading kind byte: the real
/// results file of a tiny run.
fn results_seed(name: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz/corpus/results_json")
        .join(name);
    std::fs::read(p).unwrap()[1..].to_vec()
}

/// Oracle: the seed summaries of the `results_json` fuzz target (real files of a tiny run, with
/// their kind byte) render (control); cut short, `report` names the file and says the JSON is
/// invalid. A cut `history.json` is named the same way, and a missing `summary.json` is named with
/// the system's reason ("(os error 2)", ENOENT on Linux) said exactly once.
#[test]
fn truncated_results_json_is_named() {
    for summary_seed in [
        "adversarial-summary.json.bin",
        "corruption-summary.json.bin",
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let run = tmp.path().join("run");
        let summary = results_seed(summary_seed);
        write(&run.join("summary.json"), &summary);
        write(
            &run.join("models/cnn9-baseline/history.json"),
            &results_seed("history.json.bin"),
        );
        let o = dcrobust(&["report", run.to_str().unwrap()]);
        assert!(o.status.success(), "{}", stderr(&o));

        write(&run.join("summary.json"), &summary[..summary.len() / 2]);
        let o = dcrobust(&["report", run.to_str().unwrap()]);
        assert_clear_error(
            &o,
            &[
                &run.join("summary.json").display().to_string(),
                "invalid JSON",
                "EOF",
            ],
        );

        write(&run.join("summary.json"), &summary);
        let history = results_seed("history.json.bin");
        let hist_path = run.join("models/cnn9-baseline/history.json");
        write(&hist_path, &history[..history.len() - 3]);
        let o = dcrobust(&["report", run.to_str().unwrap()]);
        assert_clear_error(&o, &[&hist_path.display().to_string(), "invalid JSON"]);

        // A missing summary is named, with the system's reason said once.
        std::fs::remove_file(run.join("summary.json")).unwrap();
        let o = dcrobust(&["report", run.to_str().unwrap()]);
        assert_clear_error(
            &o,
            &[
                &run.join("summary.json").display().to_string(),
                "cannot read",
            ],
        );
        let err = stderr(&o);
        assert_eq!(err.matches("(os error 2)").count(), 1, "{err}");
    }
}

/// Oracle: the rule in `dcrobust report --help`: a page of two runs goes to report.html in the
/// current directory with its CSV tables in report-tables/, leaving the runs' folders alone; a
/// page of two runs aimed at one run's own report.html is refused (exit 1, naming the file and
/// the run) before anything is written.
#[test]
fn a_page_of_several_runs_never_replaces_a_runs_own_report() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("adv"), tmp.path().join("cor"));
    write(
        &a.join("summary.json"),
        &results_seed("adversarial-summary.json.bin"),
    );
    write(
        &b.join("summary.json"),
        &results_seed("corruption-summary.json.bin"),
    );
    let before = |d: &Path| {
        let mut v: Vec<_> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        v.sort();
        v
    };
    let (files_a, files_b) = (before(&a), before(&b));
    let o = Command::new(env!("CARGO_BIN_EXE_dcrobust"))
        .args(["report", "adv", "cor"])
        .current_dir(tmp.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let page = std::fs::read_to_string(tmp.path().join("report.html")).unwrap();
    assert!(page.contains("Each model across the runs"));
    assert!(tmp
        .path()
        .join("report-tables/adversarial_headline.csv")
        .is_file());
    assert!(tmp
        .path()
        .join("report-tables/corruption_summary.csv")
        .is_file());
    assert_eq!(
        before(&a),
        files_a,
        "the adversarial run's folder is untouched"
    );
    assert_eq!(
        before(&b),
        files_b,
        "the corruption run's folder is untouched"
    );

    let own = a.join("report.html");
    let o = dcrobust(&[
        "report",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--out",
        own.to_str().unwrap(),
    ]);
    assert_clear_error(
        &o,
        &[&own.display().to_string(), "is the report of the run"],
    );
    assert!(!own.exists());
}

/// Oracle: `dcrobust report --help`: `--markdown` prints the tables of the runs on standard
/// output (one section per run, with the CSV headline's clean accuracy of the fixture's
/// baseline as a percentage) and writes no file; a cut summary is named as for the page.
#[test]
fn markdown_tables_go_to_stdout_and_write_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("adv"), tmp.path().join("cor"));
    let summary = results_seed("adversarial-summary.json.bin");
    write(&a.join("summary.json"), &summary);
    write(
        &b.join("summary.json"),
        &results_seed("corruption-summary.json.bin"),
    );
    let o = Command::new(env!("CARGO_BIN_EXE_dcrobust"))
        .args(["report", "adv", "cor", "--markdown"])
        .current_dir(tmp.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let md = String::from_utf8(o.stdout).unwrap();
    let json: serde_json::Value = serde_json::from_slice(&summary).unwrap();
    let m0 = &json["models"][0];
    let clean = format!("{:.2}", 100.0 * m0["clean_accuracy"].as_f64().unwrap());
    let name = m0["model"].as_str().unwrap();
    assert!(md.contains("### adv\n") && md.contains("### cor\n"), "{md}");
    assert!(
        md.lines()
            .any(|l| l.starts_with(&format!("| {name} |")) && l.contains(&clean)),
        "no row of {name} with {clean} in\n{md}"
    );
    assert!(md.contains("mean corruption accuracy"), "{md}");
    let mut files: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(files, ["adv", "cor"], "--markdown wrote files");
    assert_eq!(std::fs::read_dir(&a).unwrap().count(), 1);

    write(&a.join("summary.json"), &summary[..summary.len() / 2]);
    let o = dcrobust(&["report", a.to_str().unwrap(), "--markdown"]);
    assert_clear_error(
        &o,
        &[
            &a.join("summary.json").display().to_string(),
            "invalid JSON",
        ],
    );
}

/// A PNG of `width` x `height` 8-bit RGBA pixels whose chunks are valid (correct CRCs) but whose
/// image data is one row's filter byte.
fn png_header_only(width: u32, height: u32) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut chunk = |kind: &[u8], data: &[u8]| {
        out.extend((data.len() as u32).to_be_bytes());
        let mut crc = flate2::Crc::new();
        crc.update(kind);
        crc.update(data);
        out.extend(kind);
        out.extend(data);
        out.extend(crc.sum().to_be_bytes());
    };
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend(height.to_be_bytes());
    ihdr.extend([8, 6, 0, 0, 0]); // 8 bits, RGBA, deflate, adaptive filter, no interlace
    chunk(b"IHDR", &ihdr);
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(&[0]).unwrap();
    chunk(b"IDAT", &z.finish().unwrap());
    chunk(b"IEND", &[]);
    out
}

/// Oracle: the decoder limits (16384 pixels a side, 256 MiB a buffer) — a PNG of under 100 bytes declaring
/// 100000x100000 or 16000x16000 RGBA pixels (40 GB, 1 GB) is refused by the ImageFolder decoder
/// with the file named, before the pixel buffer is allocated (under the fuzzer's 512 MB malloc
/// limit this would be a finding); a 1x1 one with too little data fails later, as truncated (control: the
/// limit is not what refuses everything).
#[test]
fn image_with_huge_declared_size_is_refused() {
    let path = Path::new("train/cat/huge.png");
    for (w, h) in [(100_000, 100_000), (16_000, 16_000)] {
        let e = fuzz_entry::image(path, &png_header_only(w, h))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("train/cat/huge.png: cannot decode image") && e.contains("limit"),
            "{w}x{h}: {e}"
        );
    }
    let e = fuzz_entry::image(path, &png_header_only(1, 1))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("cannot decode image") && !e.contains("limit"),
        "{e}"
    );
}
