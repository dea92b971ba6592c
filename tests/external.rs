//! External models (`--checkpoint onnx:PATH`, `pt:ARCH:PATH`) against PyTorch.
//!
//! Oracle: `tests/fixtures/external/reference.safetensors`, written by
//! `tests/fixtures/external/make_fixtures.py` with PyTorch (torch 2.15, CPU): for each fixture
//! model, the eval-mode logits of ten embedded test images (stored beside them as `x`, labels
//! `y`) and the input gradient of the summed cross-entropy loss, both computed in float64 from
//! the float32 weights. dcrobust computes in float32, so the tolerances are float32 rounding
//! over a network's depth: logits within 1e-4 of the largest logit's magnitude, gradients
//! within 1e-3 of the largest gradient entry.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use candle_core::{DType, Device, Tensor, Var};
use dcrobust::external::{ExternalModel, ExternalSpec};
use dcrobust_attacks::Model;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/external")
        .join(name)
}

fn references() -> HashMap<String, Tensor> {
    candle_core::safetensors::load(fixture("reference.safetensors"), &Device::Cpu).unwrap()
}

fn load(item: &str) -> anyhow::Result<ExternalModel> {
    let spec = ExternalSpec::parse(item).expect("an external item")?;
    ExternalModel::load(&spec, &Device::Cpu)
}

fn max_abs(t: &Tensor) -> f32 {
    t.abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

/// Logits and the input gradient of the summed cross-entropy loss.
fn logits_and_grad(model: &dyn Model, x: &Tensor, y: &Tensor) -> (Tensor, Tensor) {
    let xv = Var::from_tensor(x).unwrap();
    let logits = model.logits(xv.as_tensor()).unwrap();
    let n = x.dim(0).unwrap() as f64;
    let loss = (candle_nn::loss::cross_entropy(&logits, y).unwrap() * n).unwrap();
    let grads = loss.backward().unwrap();
    let g = grads.get(xv.as_tensor()).unwrap().clone();
    (logits.detach(), g)
}

fn check_against_pytorch(item: &str, reference: &str) {
    let refs = references();
    let x = &refs["x"];
    let y = refs["y"].to_dtype(DType::U32).unwrap();
    let model = load(item).unwrap_or_else(|e| panic!("{item}: {e:#}"));
    model.check_fits(3, 32, 32, 10).unwrap();
    let (logits, grad) = logits_and_grad(&model, x, &y);
    let want_logits = &refs[&format!("{reference}.logits")];
    let want_grad = &refs[&format!("{reference}.grad")];
    let dl = max_abs(&(&logits - want_logits).unwrap());
    let scale = max_abs(want_logits).max(1.0);
    assert!(
        dl <= 1e-4 * scale,
        "{item}: logits differ from PyTorch's by {dl} (largest logit {scale})"
    );
    let dg = max_abs(&(&grad - want_grad).unwrap());
    let gscale = max_abs(want_grad);
    assert!(gscale > 0.0, "{item}: the reference gradient is zero");
    assert!(
        dg <= 1e-3 * gscale,
        "{item}: input gradients differ from PyTorch's by {dg} (largest entry {gscale})"
    );
    // The comparison is not trivial: the logits differ between images.
    let first = logits.narrow(0, 0, 1).unwrap();
    let spread = max_abs(&logits.broadcast_sub(&first).unwrap());
    assert!(
        spread > 1e-3 * scale,
        "{item}: logits vary by {spread} between images, within 10x the tolerance"
    );
}

#[test]
fn preact_resnet18_from_a_wrapped_pt_matches_pytorch() {
    let item = format!(
        "pt:preact-resnet18:{}",
        fixture("preact-resnet18.pt").display()
    );
    check_against_pytorch(&item, "preact-resnet18");
}

#[test]
fn resnet18_from_a_plain_pth_matches_pytorch() {
    let item = format!("pt:resnet18:{}", fixture("resnet18.pth").display());
    check_against_pytorch(&item, "resnet18");
}

#[test]
fn wide_resnets_from_safetensors_match_pytorch() {
    for (arch, name) in [("wrn-28-1", "wrn-28-1"), ("wrn-34-1", "wrn-34-1")] {
        let item = format!(
            "pt:{arch}:{}",
            fixture(&format!("{name}.safetensors")).display()
        );
        check_against_pytorch(&item, name);
    }
}

#[test]
fn onnx_graphs_match_pytorch() {
    for name in ["preact-resnet18-normalized", "small-cnn"] {
        let item = format!("onnx:{}", fixture(&format!("{name}.onnx")).display());
        check_against_pytorch(&item, name);
    }
    // The same network from torch.export's exporter, weights in external data.
    let item = format!("onnx:{}", fixture("preact-resnet18-dynamo.onnx").display());
    check_against_pytorch(&item, "preact-resnet18-normalized");
}

/// The one-line message of a refused load.
fn refusal(item: &str) -> String {
    match load(item) {
        Ok(_) => panic!("{item} was accepted"),
        Err(e) => format!("{e:#}"),
    }
}

#[test]
fn bad_models_are_refused_naming_the_file_and_what_was_expected() {
    let unsupported = fixture("unsupported.onnx");
    let e = refusal(&format!("onnx:{}", unsupported.display()));
    assert!(
        e.contains("unsupported.onnx")
            && e.contains("Softplus")
            && e.contains("cannot differentiate"),
        "{e}"
    );

    // The wrong architecture: ResNet-18's keys are not PreActResNet-18's.
    let e = refusal(&format!(
        "pt:preact-resnet18:{}",
        fixture("resnet18.pth").display()
    ));
    assert!(
        e.contains("resnet18.pth") && e.contains("not a preact-resnet18 state dict"),
        "{e}"
    );
    assert!(e.contains('`'), "the message names a key: {e}");

    // The right family at the wrong width: WRN-28-1's tensors for WRN-28-2.
    let wrn = fixture("wrn-28-1.safetensors");
    let e = refusal(&format!("pt:wrn-28-2:{}", wrn.display()));
    assert!(e.contains("has shape") && e.contains("expects"), "{e}");
    // The wrong depth: WRN-34-1 has keys WRN-28-1 lacks.
    let e = refusal(&format!(
        "pt:wrn-28-1:{}",
        fixture("wrn-34-1.safetensors").display()
    ));
    assert!(e.contains("does not have: block1.layer.4"), "{e}");

    // Truncated files of every format.
    let dir = tempfile::tempdir().unwrap();
    for (name, item) in [
        ("preact-resnet18.pt", "pt:preact-resnet18"),
        ("wrn-28-1.safetensors", "pt:wrn-28-1"),
        ("small-cnn.onnx", "onnx"),
    ] {
        let bytes = std::fs::read(fixture(name)).unwrap();
        let cut = dir.path().join(name);
        std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
        let e = refusal(&format!("{item}:{}", cut.display()));
        assert!(e.contains(&cut.display().to_string()), "{e}");
        assert!(!e.contains('\n'), "one line: {e}");
    }
    // A graph whose external weights file is cut short, then missing.
    let graph = dir.path().join("preact-resnet18-dynamo.onnx");
    std::fs::copy(fixture("preact-resnet18-dynamo.onnx"), &graph).unwrap();
    let data = std::fs::read(fixture("preact-resnet18-dynamo.onnx.data")).unwrap();
    let data_path = dir.path().join("preact-resnet18-dynamo.onnx.data");
    std::fs::write(&data_path, &data[..data.len() - 100]).unwrap();
    let e = refusal(&format!("onnx:{}", graph.display()));
    assert!(
        e.contains("preact-resnet18-dynamo.onnx") && e.contains("truncated"),
        "{e}"
    );
    std::fs::remove_file(&data_path).unwrap();
    let e = refusal(&format!("onnx:{}", graph.display()));
    assert!(e.contains("cannot read its external data"), "{e}");

    let e = refusal(&format!(
        "onnx:{}",
        dir.path().join("missing.onnx").display()
    ));
    assert!(
        e.contains("missing.onnx") && e.contains("cannot read"),
        "{e}"
    );

    // A model whose input is not the data's images.
    let model = load(&format!("onnx:{}", fixture("small-cnn.onnx").display())).unwrap();
    let e = format!("{:#}", model.check_fits(1, 28, 28, 10).unwrap_err());
    assert!(e.contains("3x32x32") && e.contains("1x28x28"), "{e}");
    let e = format!("{:#}", model.check_fits(3, 32, 32, 100).unwrap_err());
    assert!(e.contains("[1, 10]") && e.contains("100 classes"), "{e}");
}

fn dcrobust(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dcrobust"))
        .args(args)
        .output()
        .expect("the dcrobust binary runs")
}

fn read_json(p: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

/// `v` without its `seconds` fields (timings, which differ between two evaluations).
fn untimed(v: &serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(o) => o
            .iter()
            .filter(|(k, _)| k.as_str() != "seconds")
            .map(|(k, v)| (k.clone(), untimed(v)))
            .collect(),
        serde_json::Value::Array(a) => a.iter().map(untimed).collect(),
        other => other.clone(),
    }
}

/// Both suites on an ONNX graph, a PyTorch checkpoint and a zoo model, with transfer attacks
/// between them: every model is evaluated, the report renders and names where each came from.
#[test]
fn both_suites_run_on_external_and_zoo_models() {
    let dir = tempfile::tempdir().unwrap();
    let onnx = format!("onnx:{}", fixture("small-cnn.onnx").display());
    let pt = format!("pt:wrn-28-1:{}", fixture("wrn-28-1.safetensors").display());
    let models = format!("{onnx},{pt},zoo:cnn9-baseline");
    let out = dir.path().join("adv");
    let run = |out: &Path, shard: Option<&str>| {
        let mut args = vec![
            "run",
            "--suite",
            "adversarial",
            "--checkpoint",
            &models,
            "--eval-images",
            "20",
            "--attacks",
            "fgsm,pgd",
            "--pgd-steps",
            "3",
            "--linf-eps",
            "0,8/255",
            "--l2-eps",
            "0",
            "--transfer-attacks",
            "fgsm",
            "--transfer-from",
            "small-cnn,cnn9-baseline",
            "--examples",
            "0",
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ];
        if let Some(s) = shard {
            args.extend(["--shard", s]);
        }
        let o = dcrobust(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    run(&out, None);
    let s = read_json(&out.join("summary.json"));
    // Rerun in place: every unit is found done, and the results are the same.
    run(&out, None);
    let again = read_json(&out.join("summary.json"));
    assert_eq!(again["models"], s["models"]);
    assert_eq!(again["transfer"], s["transfer"]);
    // The same run in two shards, merged: the same results.
    let (a, b) = (dir.path().join("s1"), dir.path().join("s2"));
    run(&a, Some("1/2"));
    run(&b, Some("2/2"));
    let merged = dir.path().join("merged");
    let o = dcrobust(&[
        "merge",
        "--out",
        merged.to_str().unwrap(),
        a.to_str().unwrap(),
        b.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let m = read_json(&merged.join("summary.json"));
    assert_eq!(untimed(&m["models"]), untimed(&s["models"]));
    assert_eq!(m["transfer"], s["transfer"]);
    let names: Vec<&str> = s["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["model"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["small-cnn", "wrn-28-1", "cnn9-baseline"]);
    let transfer = s["transfer"].as_array().unwrap();
    assert!(
        transfer
            .iter()
            .any(|t| t["source"] == "small-cnn" && t["target"] == "cnn9-baseline")
            && transfer
                .iter()
                .any(|t| t["source"] == "cnn9-baseline" && t["target"] == "wrn-28-1"),
        "transfer cells: {transfer:?}"
    );
    let origins = s["origins"].as_array().unwrap();
    let wrn = origins.iter().find(|o| o["model"] == "wrn-28-1").unwrap();
    assert_eq!(wrn["format"], "PyTorch state dict (wrn-28-1)");
    assert_eq!(wrn["sha256"].as_str().unwrap().len(), 64);
    let page = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(page.contains("Models evaluated") && page.contains(wrn["sha256"].as_str().unwrap()));

    // The corruption suite on every fixture: both ONNX exports and each architecture.
    let every = [
        onnx.clone(),
        format!("onnx:{}", fixture("preact-resnet18-dynamo.onnx").display()),
        format!(
            "pt:preact-resnet18:{}",
            fixture("preact-resnet18.pt").display()
        ),
        format!("pt:resnet18:{}", fixture("resnet18.pth").display()),
        pt.clone(),
        format!("pt:wrn-34-1:{}", fixture("wrn-34-1.safetensors").display()),
    ]
    .join(",");
    let out = dir.path().join("corr");
    let o = dcrobust(&[
        "run",
        "--suite",
        "corruption",
        "--checkpoint",
        &every,
        "--eval-images",
        "20",
        "--corruptions",
        "gaussian_noise,contrast",
        "--severities",
        "1,5",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s = read_json(&out.join("summary.json"));
    let names: Vec<&str> = s["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["model"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "small-cnn",
            "preact-resnet18-dynamo",
            "preact-resnet18",
            "resnet18",
            "wrn-28-1",
            "wrn-34-1"
        ]
    );
    assert!(out.join("report.html").is_file());
}

/// Bad items on the command line: one line on standard error, exit status 1, nothing written.
#[test]
fn the_cli_refuses_bad_external_models_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    for (item, expect) in [
        (
            format!("onnx:{}", fixture("unsupported.onnx").display()),
            "Softplus",
        ),
        (
            format!("pt:resnet50:{}", fixture("resnet18.pth").display()),
            "unknown architecture `resnet50`",
        ),
        (
            format!("pt:resnet18:{}", fixture("wrn-28-1.safetensors").display()),
            "not a resnet18 state dict",
        ),
    ] {
        let o = dcrobust(&[
            "run",
            "--suite",
            "adversarial",
            "--checkpoint",
            &item,
            "--eval-images",
            "10",
            "--out",
            out.to_str().unwrap(),
        ]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{item}: {err}");
        // The refusal is one line (after the line describing the data).
        let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error")).collect();
        assert_eq!(errors.len(), 1, "{item}: {err}");
        assert!(errors[0].contains(expect), "{item}: {err}");
        assert!(err.lines().last() == Some(errors[0]), "{item}: {err}");
        assert!(!out.exists(), "{item} left {}", out.display());
    }
}

/// `dcrobust bench --external` times an external model's attack step; `--torch` is refused for
/// an ONNX graph, which has no PyTorch source.
#[test]
fn bench_times_an_external_model() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("bench.json");
    let item = format!("pt:wrn-28-1:{}", fixture("wrn-28-1.safetensors").display());
    let o = dcrobust(&[
        "bench",
        "--external",
        &item,
        "--batch",
        "4",
        "--steps",
        "1",
        "--warmup",
        "0",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("wrn-28-1: dcrobust"), "{out}");
    let doc = read_json(&json);
    let rates = doc["dcrobust_images_per_s"].as_array().unwrap();
    assert_eq!(rates.len(), 1);
    assert!(rates[0].as_f64().unwrap() > 0.0);

    let onnx = format!("onnx:{}", fixture("small-cnn.onnx").display());
    let o = dcrobust(&["bench", "--external", &onnx, "--torch", "python3"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--torch times pt:ARCH:PATH models"));
}

/// The baseline is found by the model's operator, not its name: an external model called
/// `my-baseline-net` is no transfer source under `--transfer-from baseline`, the zoo's
/// `cnn9-baseline` is.
#[test]
fn an_external_model_named_baseline_is_not_the_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let renamed = dir.path().join("my-baseline-net.onnx");
    std::fs::copy(fixture("small-cnn.onnx"), &renamed).unwrap();
    let models = format!(
        "onnx:{},zoo:cnn9-baseline,zoo:cnn9-tanh-cosine",
        renamed.display()
    );
    let out = dir.path().join("run");
    let o = dcrobust(&[
        "run",
        "--suite",
        "adversarial",
        "--checkpoint",
        &models,
        "--eval-images",
        "20",
        "--attacks",
        "fgsm",
        "--linf-eps",
        "8/255",
        "--l2-eps",
        "0",
        "--transfer-attacks",
        "fgsm",
        "--examples",
        "0",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s = read_json(&out.join("summary.json"));
    let mut sources: Vec<&str> = s["transfer"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["source"].as_str().unwrap())
        .collect();
    sources.dedup();
    assert_eq!(sources, ["cnn9-baseline"]);
}
