//! End-to-end tests of `dcrobust run --suite adversarial|corruption` and `dcrobust corrupt` on
//! the embedded data set, with tiny models so that they finish in seconds.

use std::path::Path;
use std::process::{Command, Output};

fn dcrobust(args: &[String]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dcrobust"))
        .args(args)
        .output()
        .expect("the dcrobust binary runs")
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The `near-chance` status the documented rule gives (docs/attacks.md): chance c = 1/classes,
/// margin m = max(5 %, 3·sqrt(c(1−c)/n)); fail below c + m, warn below c + 2m.
fn near_chance_status(accuracy: f64, classes: usize, n: usize) -> dcrobust_reports::CheckStatus {
    let c = 1.0 / classes as f64;
    let m = f64::max(0.05, 3.0 * (c * (1.0 - c) / n as f64).sqrt());
    if accuracy < c + m {
        dcrobust_reports::CheckStatus::Fail
    } else if accuracy < c + 2.0 * m {
        dcrobust_reports::CheckStatus::Warn
    } else {
        dcrobust_reports::CheckStatus::Pass
    }
}

fn read<T: serde::de::DeserializeOwned>(p: &Path) -> T {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

/// Tiny models trained for one epoch on 320 images; 60 test images.
const TINY: &[&str] = &[
    "--width",
    "0.0625",
    "--train-limit",
    "320",
    "--test-limit",
    "60",
    "--batch-size",
    "64",
    "--epochs",
    "1",
    "--quiet",
];

const ATTACKS: &[&str] = &[
    "--attacks",
    "fgsm,bim,pgd,square",
    "--linf-eps",
    "0,4/255,8/255",
    "--pgd-steps",
    "5",
    "--square-queries",
    "40",
    "--transfer-attacks",
    "fgsm",
    "--examples",
    "2",
];

/// Oracles: the threat model and the protocol. At ε = 0 every attack gives the clean accuracy;
/// accuracy under PGD ≤ under FGSM ≤ clean at 8/255; one record per model, attack, ε and image
/// plus the transfer records; and, because every draw is seeded per sample and inference is per
/// sample, re-evaluating the saved models with another batch size and thread count gives
/// byte-identical per-sample records.
#[test]
fn adversarial_suite_end_to_end_and_reproducible() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    let mut cmd = args(&[
        "run",
        "--suite",
        "adversarial",
        "--op",
        "baseline,tanh",
        "--out",
    ]);
    cmd.push(a.display().to_string());
    cmd.extend(args(TINY));
    cmd.extend(args(ATTACKS));
    let o = dcrobust(&cmd);
    assert!(o.status.success(), "{}", stderr(&o));
    let s: dcrobust_reports::AdversarialSummary = read(&a.join("summary.json"));
    assert!(
        !a.join("robustbench.json").exists(),
        "written without autoattack"
    );
    assert_eq!(s.models.len(), 2);
    assert_eq!(s.run.images, 60);
    for m in &s.models {
        let cell = |attack: &str, eps: f64| {
            m.cells
                .iter()
                .find(|c| c.attack.name() == attack && (c.eps - eps).abs() < 1e-12)
                .unwrap_or_else(|| panic!("{} has no {attack} cell at {eps}", m.model))
                .accuracy
        };
        for attack in ["fgsm", "bim", "pgd"] {
            assert_eq!(cell(attack, 0.0), m.clean_accuracy, "{} {attack}", m.model);
        }
        let e = 8.0 / 255.0;
        assert!(cell("pgd", e) <= cell("fgsm", e) && cell("fgsm", e) <= m.clean_accuracy);
        // The worst case over the attacks at one budget (FGSM, BIM and PGD at 4/255, and Square
        // too at 8/255) is at most each of them, and at ε = 0 it is the clean accuracy.
        assert_eq!(cell("worst-case", 0.0), m.clean_accuracy);
        for (attack, eps) in [
            ("fgsm", e),
            ("bim", e),
            ("pgd", e),
            ("square", e),
            ("fgsm", e / 2.0),
            ("bim", e / 2.0),
            ("pgd", e / 2.0),
        ] {
            assert!(
                cell("worst-case", eps) <= cell(attack, eps),
                "{attack} at {eps}"
            );
        }
        let check = |name: &str| m.checks.iter().find(|c| c.name == name).unwrap().status;
        assert_eq!(
            check("eps0-equals-clean"),
            dcrobust_reports::CheckStatus::Pass
        );
        assert_eq!(
            check("unbounded-pgd-reaches-chance"),
            dcrobust_reports::CheckStatus::Pass
        );
        assert!(m.checks.len() >= 6);
        // The clean prediction histogram covers every image once, and the degenerate-model
        // checks are graded from it and the clean accuracy.
        assert_eq!(m.prediction_counts.len(), 10);
        assert_eq!(m.prediction_counts.iter().sum::<usize>(), 60);
        assert_eq!(
            check("near-chance"),
            near_chance_status(m.clean_accuracy, 10, 60),
            "{}",
            m.model
        );
        // Confusion matrices: clean, then PGD at 8/255; their diagonals over the 60 images are
        // the clean and the PGD cell's accuracies.
        assert_eq!(m.confusion.len(), 2, "{}", m.model);
        let diag = |c: &dcrobust_reports::ConfusionMatrix| {
            (0..c.counts.len()).map(|i| c.counts[i][i]).sum::<usize>() as f64 / 60.0
        };
        assert_eq!(m.confusion[0].attack, None);
        assert_eq!(m.confusion[0].counts.iter().flatten().sum::<usize>(), 60);
        assert!((diag(&m.confusion[0]) - m.clean_accuracy).abs() < 1e-12);
        assert_eq!(m.confusion[1].attack.map(|a| a.name()), Some("pgd"));
        assert!((diag(&m.confusion[1]) - cell("pgd", 8.0 / 255.0)).abs() < 1e-12);
        for name in [
            "collapsed-predictions",
            "flat-in-eps-fgsm",
            "flat-in-eps-pgd",
        ] {
            assert!(
                m.checks.iter().any(|c| c.name == name),
                "{}: no {name}",
                m.model
            );
        }
    }
    // Transfer from the baseline (the default source) to the other model.
    assert_eq!(s.transfer.len(), 1);
    assert_eq!(
        (s.transfer[0].source.as_str(), s.transfer[0].target.as_str()),
        ("cnn9-baseline", "cnn9-tanh-cosine")
    );
    // 3 ε x 3 attacks + Square at 8/255, per model, plus 1 transfer evaluation, x 60 images.
    let records = std::fs::read_to_string(a.join("records.jsonl")).unwrap();
    assert_eq!(records.lines().count(), (2 * 10 + 1) * 60);
    // `attacked`: ε > 0 and the clean image classified correctly (nothing else is attacked);
    // `success` only for attacked images, where it means a wrong adversarial prediction.
    let mut misclassified = 0;
    for line in records.lines() {
        let r: dcrobust_reports::SampleRecord = serde_json::from_str(line).unwrap();
        assert_eq!(r.attacked, r.eps > 0.0 && r.clean_pred == r.label, "{line}");
        assert_eq!(r.success, r.attacked && r.adv_pred != r.label, "{line}");
        misclassified += usize::from(r.clean_pred != r.label);
    }
    assert!(
        misclassified > 0,
        "the tiny models should get some images wrong"
    );
    for ex in &s.examples {
        assert!(a.join(&ex.adv_png).is_file() && a.join(&ex.clean_png).is_file());
    }
    assert_eq!(s.examples.len(), 2 * 4 * 2);

    // The saved models again, batch size 7 and one thread.
    let b = dir.path().join("b");
    let mut cmd = args(&[
        "run",
        "--suite",
        "adversarial",
        "--eval-batch-size",
        "7",
        "--threads",
        "1",
        "--quiet",
        "--test-limit",
        "60",
        "--checkpoint",
    ]);
    cmd.push(format!(
        "{},{}",
        a.join("models/cnn9-baseline").display(),
        a.join("models/cnn9-tanh-cosine").display()
    ));
    cmd.push("--out".into());
    cmd.push(b.display().to_string());
    cmd.extend(args(ATTACKS));
    let o = dcrobust(&cmd);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        records == std::fs::read_to_string(b.join("records.jsonl")).unwrap(),
        "records differ with batch size 7 and one thread"
    );

    // Oracle: PGD from the clean image (no random start) with BIM's step count and step size
    // is BIM, step for step, so every adversarial prediction agrees. `--no-checks` leaves out
    // the two checks that run their own attacks and keeps the free ones.
    let c = dir.path().join("c");
    let mut cmd = args(&[
        "run",
        "--suite",
        "adversarial",
        "--quiet",
        "--test-limit",
        "60",
        "--attacks",
        "bim,pgd",
        "--linf-eps",
        "8/255",
        "--pgd-steps",
        "10",
        "--no-random-start",
        "--no-checks",
        "--no-transfer",
        "--checkpoint",
    ]);
    cmd.push(a.join("models/cnn9-baseline").display().to_string());
    cmd.push("--out".into());
    cmd.push(c.display().to_string());
    let o = dcrobust(&cmd);
    assert!(o.status.success(), "{}", stderr(&o));
    let recs: Vec<dcrobust_reports::SampleRecord> =
        std::fs::read_to_string(c.join("records.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
    let by = |attack: &str| -> Vec<u32> {
        recs.iter()
            .filter(|r| r.attack.name() == attack)
            .map(|r| r.adv_pred)
            .collect()
    };
    assert_eq!(by("pgd").len(), 60);
    assert_eq!(by("pgd"), by("bim"));
    let s: dcrobust_reports::AdversarialSummary = read(&c.join("summary.json"));
    let names: Vec<&str> = s.models[0].checks.iter().map(|c| c.name.as_str()).collect();
    assert!(
        !names.contains(&"monotone-in-steps") && !names.contains(&"unbounded-pgd-reaches-chance")
    );
    assert!(s.models[0].check_cells.is_empty());
    assert!(names.contains(&"eps0-equals-clean") || names.contains(&"collapsed-predictions"));
}

/// Oracle: option validation happens before any work — each bad value is named, the exit status
/// is non-zero and no output directory is created.
#[test]
fn bad_adversarial_options_are_refused_before_work() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("never");
    for (bad, expect) in [
        (
            vec!["--linf-eps", "0,-1"],
            "must be a finite number of 0 or more",
        ),
        (vec!["--linf-eps", "0,1.5"], "eps 1.5 is out of range"),
        (
            vec!["--attacks", "fgsm,deepfool"],
            "unknown attack `deepfool`",
        ),
        (vec!["--pgd-steps", "0"], "steps = 0 is out of range"),
        (vec!["--l2-eps", "100"], "L2 eps 100 is out of range"),
        (vec!["--transfer-from", "cnn9-nothing"], "is not a model"),
        (
            vec!["--attacks", "autoattack", "--target", "random"],
            "chooses its own target classes",
        ),
    ] {
        let mut cmd = args(&["run", "--suite", "adversarial", "--quiet", "--out"]);
        cmd.push(out.display().to_string());
        cmd.extend(args(&bad));
        if bad[0] == "--transfer-from" {
            cmd.extend(args(&["--checkpoint", "/nonexistent/run"]));
        }
        let o = dcrobust(&cmd);
        assert!(!o.status.success(), "{bad:?} was accepted");
        if bad[0] != "--transfer-from" {
            assert!(stderr(&o).contains(expect), "{bad:?}: {}", stderr(&o));
            assert!(!out.exists(), "{bad:?} created the output directory");
        } else {
            assert!(stderr(&o).contains("/nonexistent/run"), "{}", stderr(&o));
        }
    }
}

/// Oracles: the worst case over AutoAttack's components is at most every component alone (each
/// runs with the same per-sample seeds), and `robustbench.json` repeats the summary's clean and
/// AutoAttack accuracies in RobustBench's format (percent, `str(round(100·a, 2))`).
#[test]
fn autoattack_writes_robustbench_json() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    let config = dir.path().join("attack.json");
    std::fs::write(
        &config,
        r#"{"apgd_steps": 5, "apgdt_targets": 2, "fab_steps": 5, "fab_targets": 2, "autoattack_square_queries": 30}"#,
    )
    .unwrap();
    let mut cmd = args(&["run", "--suite", "adversarial", "--op", "baseline", "--out"]);
    cmd.push(a.display().to_string());
    cmd.extend(args(TINY));
    cmd.extend(args(&[
        "--attacks",
        "apgd-ce,apgd-t,fab-t,autoattack",
        "--linf-eps",
        "8/255",
        "--no-transfer",
        "--examples",
        "0",
        "--attack-config",
    ]));
    cmd.push(config.display().to_string());
    let o = dcrobust(&cmd);
    assert!(o.status.success(), "{}", stderr(&o));
    let s: dcrobust_reports::AdversarialSummary = read(&a.join("summary.json"));
    let m = &s.models[0];
    let acc = |name: &str| {
        m.cells
            .iter()
            .find(|c| c.attack.name() == name)
            .unwrap()
            .accuracy
    };
    for part in ["apgd-ce", "apgd-t", "fab-t"] {
        assert!(
            acc("autoattack") <= acc(part),
            "autoattack weaker than {part}"
        );
    }
    let rb: serde_json::Value = read(&a.join("robustbench.json"));
    let card = &rb[&m.model];
    let pct = |v: f64| format!("{}", (v * 10_000.0).round() / 100.0);
    let num = |k: &str| card[k].as_str().unwrap().parse::<f64>().unwrap();
    assert_eq!(card["threat_model"], "Linf");
    assert_eq!(card["eps"], "8/255");
    assert_eq!(card["n_examples"], 60);
    assert_eq!(
        num("clean_acc"),
        pct(m.clean_accuracy).parse::<f64>().unwrap()
    );
    assert_eq!(
        num("autoattack_acc"),
        pct(acc("autoattack")).parse::<f64>().unwrap()
    );
}

/// Oracles: CE normalises by the baseline, so the baseline's mCE is exactly 100 %; and the
/// released-file path is the in-process path: `dcrobust corrupt` writes the same corrupted
/// images (same seed) in the CIFAR-10-C layout, and evaluating on those files gives the same
/// accuracy in every cell.
#[test]
fn corruption_suite_end_to_end_and_released_layout() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    let corr = [
        "--corruptions",
        "gaussian_noise,fog,jpeg_compression,saturate",
        "--severities",
        "1,5",
    ];
    let mut cmd = args(&["run", "--suite", "corruption", "--seed", "3", "--out"]);
    cmd.push(a.display().to_string());
    cmd.extend(args(TINY));
    cmd.extend(args(&corr));
    let o = dcrobust(&cmd);
    assert!(o.status.success(), "{}", stderr(&o));
    let s: dcrobust_reports::CorruptionSummary = read(&a.join("summary.json"));
    assert_eq!(s.baseline.as_deref(), Some("cnn9-baseline"));
    assert_eq!(s.models.len(), 2);
    for m in &s.models {
        assert_eq!(m.cells.len(), 8);
        assert!(m.cells.iter().all(|c| (0.0..=1.0).contains(&c.accuracy)));
        // saturate is not one of the 15 main corruptions: three enter CE.
        assert_eq!(m.corruption_errors.len(), 3);
        assert_eq!(
            m.prediction_counts.iter().sum::<usize>(),
            s.run.images,
            "{}",
            m.model
        );
        let near = m.checks.iter().find(|c| c.name == "near-chance").unwrap();
        assert_eq!(
            near.status,
            near_chance_status(m.clean_accuracy, 10, s.run.images)
        );
        assert!(m.checks.iter().any(|c| c.name == "collapsed-predictions"));
    }
    let base = &s.models[0];
    assert!((base.mce.unwrap() - 100.0).abs() < 1e-9, "{:?}", base.mce);
    for ex in &s.examples {
        assert!(a.join(&ex.png).is_file());
        assert_eq!(ex.predictions.len(), 2);
    }
    assert!(
        std::fs::read_to_string(a.join("cells.csv"))
            .unwrap()
            .lines()
            .count()
            == 17
    );

    // The same corrupted images as released-style files.
    let c10c = dir.path().join("c10c");
    let mut cmd = args(&[
        "corrupt",
        "--test-limit",
        "60",
        "--seed",
        "3",
        "--quiet",
        "--corruptions",
        "gaussian_noise,fog,jpeg_compression,saturate",
        "--out",
    ]);
    cmd.push(c10c.display().to_string());
    let o = dcrobust(&cmd);
    assert!(o.status.success(), "{}", stderr(&o));
    let npy = std::fs::read(c10c.join("fog.npy")).unwrap();
    assert!(npy.starts_with(b"\x93NUMPY\x01\x00"));
    assert!(String::from_utf8_lossy(&npy[..128]).contains("'shape': (300, 32, 32, 3)"));
    let b = dir.path().join("b");
    let mut cmd = args(&[
        "run",
        "--suite",
        "corruption",
        "--quiet",
        "--test-limit",
        "60",
        "--eval-batch-size",
        "13",
        "--checkpoint",
    ]);
    cmd.push(format!(
        "{},{}",
        a.join("models/cnn9-baseline").display(),
        a.join("models/cnn9-tanh-cosine").display()
    ));
    cmd.extend(args(&corr));
    cmd.push("--cifar10c".into());
    cmd.push(c10c.display().to_string());
    cmd.push("--out".into());
    cmd.push(b.display().to_string());
    let o = dcrobust(&cmd);
    assert!(o.status.success(), "{}", stderr(&o));
    let r: dcrobust_reports::CorruptionSummary = read(&b.join("summary.json"));
    for (x, y) in s.models.iter().zip(&r.models) {
        assert_eq!(x.cells, y.cells, "{}", x.model);
        assert_eq!(x.clean_accuracy, y.clean_accuracy);
    }
}

/// The header dict and the payload of a `.npy` file.
fn npy_parts(bytes: &[u8]) -> (String, &[u8]) {
    assert!(bytes.starts_with(b"\x93NUMPY\x01\x00"));
    let len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    (
        String::from_utf8_lossy(&bytes[10..10 + len]).into_owned(),
        &bytes[10 + len..],
    )
}

/// Oracles: the released layout by construction. A CIFAR-10 binary folder holding only
/// `test_batch.bin` (records written here from the embedded test images) is enough for
/// `dcrobust corrupt`; `clean.npy` is exactly those pixels, transposed from the records' CHW to
/// HWC; `labels.npy` is uint8 (as in the released CIFAR-10-C), one block per chosen severity;
/// `severities.json` lists the blocks, and `run --cifar10c` evaluates a severity it lists and
/// refuses, by name, one it does not.
#[test]
fn corrupt_reads_only_the_test_split_and_writes_chosen_severities() {
    let dir = tempfile::tempdir().unwrap();
    let mut data = dcrobust::data::embedded().unwrap();
    data.truncate(None, Some(20));
    let bin = dir.path().join("cifar");
    std::fs::create_dir_all(&bin).unwrap();
    let mut records = Vec::new();
    for (i, &l) in data.test.labels.iter().enumerate() {
        records.push(l as u8);
        records.extend_from_slice(&data.test.images[i * 3072..(i + 1) * 3072]);
    }
    std::fs::write(bin.join("test_batch.bin"), &records).unwrap();
    let out = dir.path().join("c10c");
    let o = dcrobust(&args(&[
        "corrupt",
        "--data",
        &bin.display().to_string(),
        "--severities",
        "3,1",
        "--clean",
        "--quiet",
        "--corruptions",
        "contrast",
        "--out",
        &out.display().to_string(),
    ]));
    assert!(o.status.success(), "{}", stderr(&o));
    let clean = std::fs::read(out.join("clean.npy")).unwrap();
    let (header, pixels) = npy_parts(&clean);
    assert!(header.contains("'descr': '|u1'"), "{header}");
    assert!(header.contains("'shape': (20, 32, 32, 3)"), "{header}");
    for i in 0..20 {
        for y in 0..32 {
            for x in 0..32 {
                for c in 0..3 {
                    assert_eq!(
                        pixels[((i * 32 + y) * 32 + x) * 3 + c],
                        data.test.images[i * 3072 + (c * 32 + y) * 32 + x]
                    );
                }
            }
        }
    }
    let labels = std::fs::read(out.join("labels.npy")).unwrap();
    let (header, payload) = npy_parts(&labels);
    assert!(header.contains("'descr': '|u1'"), "{header}");
    assert!(header.contains("'shape': (40,)"), "{header}");
    let want: Vec<u8> = data
        .test
        .labels
        .iter()
        .chain(&data.test.labels)
        .map(|&l| l as u8)
        .collect();
    assert_eq!(payload, &want[..]);
    let contrast = std::fs::read(out.join("contrast.npy")).unwrap();
    assert!(npy_parts(&contrast).0.contains("'shape': (40, 32, 32, 3)"));
    let listed: Vec<u8> = read(&out.join("severities.json"));
    assert_eq!(listed, vec![1, 3]);

    let eval = |sev: &str| {
        dcrobust(&args(&[
            "run",
            "--suite",
            "corruption",
            "--quiet",
            "--test-limit",
            "20",
            "--checkpoint",
            "zoo:cnn9-baseline",
            "--corruptions",
            "contrast",
            "--severities",
            sev,
            "--cifar10c",
            &out.display().to_string(),
            "--out",
            &dir.path().join(format!("run{sev}")).display().to_string(),
        ]))
    };
    let o = eval("3");
    assert!(o.status.success(), "{}", stderr(&o));
    let s: dcrobust_reports::CorruptionSummary = read(&dir.path().join("run3/summary.json"));
    assert_eq!(s.models[0].cells.len(), 1);
    assert_eq!(s.models[0].cells[0].severity, 3);
    let o = eval("2");
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("hold severities 1, 3 only") && stderr(&o).contains("severity 2"),
        "{}",
        stderr(&o)
    );
    assert!(!dir.path().join("run2").exists());
}

/// Oracle: severity 0 and 6 do not exist in CIFAR-10-C, unknown corruptions are named, and a
/// truncated released file is refused with its name.
#[test]
fn bad_corruption_inputs_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for (bad, expect) in [
        (vec!["--severities", "0"], "severity 0 is out of range"),
        (vec!["--severities", "1,6"], "severity 6 is out of range"),
        (
            vec!["--corruptions", "fog,rain"],
            "unknown corruption \"rain\"",
        ),
        (
            vec!["--table", "cifar100-c"],
            "--table `cifar100-c` is unknown",
        ),
    ] {
        let mut cmd = args(&["run", "--suite", "corruption", "--quiet", "--out"]);
        cmd.push(dir.path().join("never").display().to_string());
        cmd.extend(args(&bad));
        let o = dcrobust(&cmd);
        assert!(!o.status.success());
        assert!(stderr(&o).contains(expect), "{bad:?}: {}", stderr(&o));
    }
    assert!(!dir.path().join("never").exists());
    // A released file cut short is named before any training starts.
    let c10c = dir.path().join("c10c");
    let o = dcrobust(&args(&[
        "corrupt",
        "--test-limit",
        "20",
        "--quiet",
        "--corruptions",
        "fog",
        "--out",
        &c10c.display().to_string(),
    ]));
    assert!(o.status.success(), "{}", stderr(&o));
    let fog = std::fs::read(c10c.join("fog.npy")).unwrap();
    std::fs::write(c10c.join("fog.npy"), &fog[..fog.len() - 100]).unwrap();
    let out = dir.path().join("run");
    let o = dcrobust(&args(&[
        "run",
        "--suite",
        "corruption",
        "--quiet",
        "--corruptions",
        "fog",
        "--cifar10c",
        &c10c.display().to_string(),
        "--out",
        &out.display().to_string(),
    ]));
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("fog.npy is truncated"),
        "{}",
        stderr(&o)
    );
    assert!(!out.exists());
}

/// Oracle: the registry — `dcrobust attacks` names all twelve attacks with their norms.
#[test]
fn attacks_lists_the_registry() {
    let o = dcrobust(&args(&["attacks"]));
    assert!(o.status.success());
    let s = String::from_utf8_lossy(&o.stdout);
    for name in [
        "fgsm",
        "bim",
        "pgd ",
        "pgd-l2",
        "mifgsm",
        "apgd-ce",
        "apgd-dlr",
        "cw-l2",
        "square",
        "apgd-t",
        "fab-t",
        "autoattack",
    ] {
        assert!(s.contains(name), "{name} missing from:\n{s}");
    }
}

/// `dcrobust train` of the baseline at the tests' tiny size into `out`, with `extra` options.
fn train_tiny_baseline(out: &Path, extra: &[&str]) -> Output {
    let mut cmd = args(&[
        "train",
        "--op",
        "baseline",
        "--out",
        &out.display().to_string(),
    ]);
    cmd.extend(args(TINY));
    cmd.extend(args(extra));
    dcrobust(&cmd)
}

/// Oracle: adversarial training is part of the recorded recipe, changes what is learned (the
/// weights differ from standard training with the same seed), and a resume with another
/// adversarial setting is refused.
#[test]
fn adversarial_training_is_recorded_and_changes_training() {
    let dir = tempfile::tempdir().unwrap();
    let run = train_tiny_baseline;
    let (plain, adv) = (dir.path().join("plain"), dir.path().join("adv"));
    assert!(run(&plain, &[]).status.success());
    let o = run(
        &adv,
        &[
            "--adv-train",
            "pgd",
            "--adv-steps",
            "2",
            "--adv-eps",
            "4/255",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let cfg: serde_json::Value = read(&adv.join("cnn9-baseline/config.json"));
    let a = &cfg["train"]["adversarial"];
    assert_eq!(a["attack"], "pgd");
    assert_eq!(a["steps"], 2);
    assert_eq!(
        a["fraction"], 1.0,
        "PGD training replaces the whole batch by default"
    );
    assert!((a["eps"].as_f64().unwrap() - 4.0 / 255.0).abs() < 1e-12);
    let w = |d: &Path| std::fs::read(d.join("cnn9-baseline/model.safetensors")).unwrap();
    assert!(
        w(&plain) != w(&adv),
        "adversarial training left the weights as standard training"
    );
    let o = run(
        &adv,
        &["--adv-train", "fgsm", "--adv-eps", "4/255", "--resume"],
    );
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("train.adversarial.attack"),
        "{}",
        stderr(&o)
    );
}

/// Oracle: the definition of `--holdout`: the run records it, every epoch reports an accuracy
/// on the held-out images (a fraction in [0, 1]) beside the test split's, FGSM-RS training is
/// recorded with its one step of 1.25 ε; a hold-out that leaves no training images is refused,
/// naming the option, with a non-zero exit and no run written.
#[test]
fn holdout_is_recorded_and_evaluated_every_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let run = train_tiny_baseline;
    let out = dir.path().join("h");
    let o = run(&out, &["--holdout", "40", "--adv-train", "fgsm-rs"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let cfg: serde_json::Value = read(&out.join("cnn9-baseline/config.json"));
    assert_eq!(cfg["train"]["holdout"], 40);
    let a = &cfg["train"]["adversarial"];
    assert_eq!(
        (
            a["attack"].as_str(),
            a["steps"].as_u64(),
            a["step_size"].as_f64()
        ),
        (Some("fgsm-rs"), Some(1), Some(1.25))
    );
    let h: serde_json::Value = read(&out.join("cnn9-baseline/history.json"));
    let epochs = h["epochs"].as_array().unwrap();
    assert_eq!(epochs.len(), 1);
    for e in epochs {
        let v = e["val_accuracy"]
            .as_f64()
            .expect("val_accuracy every epoch");
        assert!((0.0..=1.0).contains(&v), "{v}");
        assert!(e["val_loss"].as_f64().unwrap().is_finite());
    }
    let bad = dir.path().join("bad");
    let o = run(&bad, &["--holdout", "1000"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--holdout 1000"), "{}", stderr(&o));
    assert!(!bad.join("cnn9-baseline/state.json").exists());
}

/// Oracle: the surrogate's role — trained with its own seed into `surrogate/`, it is a source of
/// transfer attacks and never evaluated itself; with one model in the run it is the only source.
#[test]
fn surrogate_is_a_transfer_source_only() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("s");
    let mut cmd = args(&[
        "run",
        "--suite",
        "adversarial",
        "--op",
        "tanh",
        "--surrogate",
        "--attacks",
        "fgsm",
        "--linf-eps",
        "0,8/255",
        "--l2-eps",
        "0",
        "--transfer-attacks",
        "fgsm",
        "--examples",
        "0",
        "--out",
    ]);
    cmd.push(out.display().to_string());
    cmd.extend(args(TINY));
    let o = dcrobust(&cmd);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(out
        .join("surrogate/models/cnn9-baseline/model.safetensors")
        .is_file());
    let s: dcrobust_reports::AdversarialSummary = read(&out.join("summary.json"));
    assert_eq!(s.models.len(), 1);
    assert_eq!(s.transfer.len(), 1);
    assert_eq!(s.transfer[0].source, "surrogate-cnn9-baseline");
    assert_eq!(s.transfer[0].target, "cnn9-tanh-cosine");
}

/// Oracle: a `feat2d` model's penultimate layer has two features, so the run writes one (x, y)
/// pair per test image for each model, and the report plots them (one point per image).
#[test]
fn feat2d_runs_write_feature_plots() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("f");
    let mut cmd = args(&[
        "run",
        "--suite",
        "corruption",
        "--arch",
        "feat2d",
        "--op",
        "baseline,tanh",
        "--corruptions",
        "fog",
        "--severities",
        "1",
        "--out",
    ]);
    cmd.push(out.display().to_string());
    cmd.extend(args(TINY));
    let o = dcrobust(&cmd);
    assert!(o.status.success(), "{}", stderr(&o));
    for model in ["feat2d-baseline", "feat2d-tanh-cosine"] {
        let f: dcrobust_reports::Features2d = read(&out.join(format!("features/{model}.json")));
        assert_eq!((f.x.len(), f.y.len(), f.labels.len()), (60, 60, 60));
        assert!(f.x.iter().chain(&f.y).all(|v| v.is_finite()));
    }
    let page = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(page.contains("2-D features"));
    // Two scatter plots of 60 points each, the section's only circles.
    let features = &page[page.find("2-D features").unwrap()..];
    let features = &features[..features.find("</section>").unwrap_or(features.len())];
    assert_eq!(features.matches("<circle").count(), 120);
}
