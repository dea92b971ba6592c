//! Reliability end to end: runs killed at several points and resumed, and runs split with
//! `--shard K/N` and merged, must end with the results of one uninterrupted run.
//!
//! Kills are real: `DCROBUST_FAULT=POINT:N` makes the binary call `abort()` at the N-th arrival at
//! a point (no destructor, no flush: what SIGKILL leaves), and one test sends SIGKILL itself at
//! whatever moment the run has reached.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_dcrobust"))
}

fn dcrobust(args: &[String], fault: Option<&str>) -> Output {
    let mut c = bin();
    c.args(args);
    if let Some(f) = fault {
        c.env("DCROBUST_FAULT", f);
    }
    c.output().expect("the dcrobust binary runs")
}

fn s(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Tiny models and a small evaluation: two models, FGSM and PGD at two ε, transfer, checks.
const ADV: &[&str] = &[
    "run",
    "--suite",
    "adversarial",
    "--op",
    "baseline,tanh",
    "--width",
    "0.0625",
    "--train-limit",
    "256",
    "--test-limit",
    "40",
    "--batch-size",
    "64",
    "--epochs",
    "2",
    "--attacks",
    "fgsm,pgd",
    "--linf-eps",
    "0,8/255",
    "--l2-eps",
    "0",
    "--pgd-steps",
    "4",
    "--transfer-attacks",
    "fgsm",
    "--examples",
    "2",
    "--quiet",
];

fn adv_run(out: &Path, extra: &[&str]) -> Vec<String> {
    let mut a = s(ADV);
    a.push("--out".into());
    a.push(out.display().to_string());
    a.extend(s(extra));
    a
}

/// The JSON of `path` without the fields that measure time (they differ between any two runs).
fn results(path: &Path) -> Value {
    fn strip(v: &mut Value) {
        match v {
            Value::Object(m) => {
                for k in [
                    "seconds",
                    "eval_seconds",
                    "train_seconds",
                    "corrupt_seconds",
                    "wall_time_s",
                    "images_per_s",
                ] {
                    m.remove(k);
                }
                m.values_mut().for_each(strip);
            }
            Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut v: Value = serde_json::from_slice(&bytes).unwrap();
    strip(&mut v);
    v
}

/// Asserts that run `b` ended with the results of run `a`: the summary (timings aside), every
/// per-sample record byte for byte, and the models' training curves.
fn assert_same_results(a: &Path, b: &Path) {
    assert_eq!(
        results(&a.join("summary.json")),
        results(&b.join("summary.json")),
        "{} vs {}",
        a.display(),
        b.display()
    );
    if a.join("records.jsonl").exists() {
        assert_eq!(
            std::fs::read(a.join("records.jsonl")).unwrap(),
            std::fs::read(b.join("records.jsonl")).unwrap()
        );
    }
    for m in ["cnn9-baseline", "cnn9-tanh-cosine"] {
        let h = |d: &Path| d.join("models").join(m).join("history.json");
        if h(a).exists() {
            assert_eq!(results(&h(a)), results(&h(b)), "{m}");
        }
    }
    assert!(b.join("report.html").exists());
}

/// `--checkpoint` of the two models the reference run `a` trained.
fn trained_models(a: &Path) -> String {
    format!(
        "{},{}",
        a.join("models/cnn9-baseline").display(),
        a.join("models/cnn9-tanh-cosine").display()
    )
}

fn reference(dir: &Path) -> PathBuf {
    let a = dir.join("reference");
    let o = dcrobust(&adv_run(&a, &[]), None);
    assert!(o.status.success(), "{}", stderr(&o));
    a
}

/// Oracle: an uninterrupted run with the same seed. The run is killed during training (after the
/// 3rd optimiser step, mid-epoch), between the first model's 2nd checkpoint and its state file
/// (the resume must trust the checkpoint), after the second model's first epoch, during evaluation
/// (after the 3rd finished unit), and before the report is written; each kill leaves a non-zero exit, and the sixth invocation of the same
/// command completes with identical results.
#[test]
fn killed_runs_resume_to_identical_results() {
    let dir = tempfile::tempdir().unwrap();
    let a = reference(dir.path());
    let b = dir.path().join("killed");
    for fault in ["batch:3", "checkpoint:2", "epoch:1", "cell:3", "report:1"] {
        let o = dcrobust(&adv_run(&b, &[]), Some(fault));
        assert!(!o.status.success(), "{fault}: the run was not killed");
        assert!(
            stderr(&o).contains(&format!("aborting at {}", fault.replace(':', " #"))),
            "{fault}: {}",
            stderr(&o)
        );
        // Nothing that looks complete is left truncated.
        for f in ["summary.json", "suite.json"] {
            let p = b.join(f);
            if p.exists() {
                serde_json::from_slice::<Value>(&std::fs::read(&p).unwrap())
                    .unwrap_or_else(|e| panic!("{fault}: {} is truncated: {e}", p.display()));
            }
        }
    }
    let o = dcrobust(&adv_run(&b, &[]), None);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_same_results(&a, &b);
}

/// Oracle: as above, with a real SIGKILL sent as soon as the run has finished its first
/// evaluation unit (whatever it is doing at that moment); a rerun of a finished run recomputes no
/// unit (its unit files keep their modification times) and gives the same results again.
#[test]
fn sigkill_during_evaluation_resumes_and_finished_runs_are_reused() {
    let dir = tempfile::tempdir().unwrap();
    let a = reference(dir.path());
    let b = dir.path().join("sigkilled");
    let mut child = bin()
        .args(adv_run(&b, &[]))
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let cells = b.join("cells");
    let started = std::time::Instant::now();
    loop {
        let units = std::fs::read_dir(&cells)
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .filter(|e| e.file_name().to_string_lossy().starts_with("adv--"))
                    .count()
            })
            .unwrap_or(0);
        if units >= 1 || child.try_wait().unwrap().is_some() {
            break;
        }
        assert!(started.elapsed().as_secs() < 300, "no unit finished");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let o = dcrobust(&adv_run(&b, &[]), None);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_same_results(&a, &b);

    let mtimes = |d: &Path| -> Vec<(String, std::time::SystemTime)> {
        let mut v: Vec<_> = std::fs::read_dir(d.join("cells"))
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name() != "meta.json")
            .map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                (name, e.metadata().unwrap().modified().unwrap())
            })
            .collect();
        v.sort();
        v
    };
    let before = mtimes(&b);
    let o = dcrobust(&adv_run(&b, &[]), None);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(before, mtimes(&b), "a finished run computed units again");
    assert_same_results(&a, &b);
}

/// The unit folders of `run`'s recorded batches (`cells/batches/<unit>`), and the files in each.
fn recorded_batches(run: &Path) -> Vec<(String, Vec<String>)> {
    let Ok(dirs) = std::fs::read_dir(run.join("cells/batches")) else {
        return Vec::new();
    };
    let mut v: Vec<(String, Vec<String>)> = dirs
        .map(|e| {
            let e = e.unwrap();
            let mut files: Vec<String> = std::fs::read_dir(e.path())
                .unwrap()
                .map(|f| f.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            files.sort();
            (e.file_name().to_string_lossy().into_owned(), files)
        })
        .collect();
    v.sort();
    v
}

/// Oracle: the reference run's results (evaluated in one batch per cell). The same models are
/// evaluated in batches of 16 (three per cell) and killed after the 11th recorded batch: the 2nd
/// batch of the first model's PGD cell at 8/255 (cells run FGSM then PGD, each at ε 0 then
/// 8/255). The rerun is killed after the first batch it computes: had it computed the recorded
/// batches again, the cell would still hold two batch files; it holds three. The third run ends
/// with the reference's results and example images, and without the batch folder.
#[test]
fn killed_attack_cells_resume_from_their_last_batch() {
    let dir = tempfile::tempdir().unwrap();
    let a = reference(dir.path());
    let ckpt = trained_models(&a);
    let b = dir.path().join("batches");
    let args = adv_run(&b, &["--checkpoint", &ckpt, "--eval-batch-size", "16"]);
    let o = dcrobust(&args, Some("attack-batch:11"));
    assert!(!o.status.success(), "the run was not killed");
    let recorded = recorded_batches(&b);
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    let (unit, files) = &recorded[0];
    assert!(
        unit.contains("cnn9-baseline") && unit.contains("pgd"),
        "{unit}"
    );
    assert_eq!(files, &["0.json", "16.json"]);
    let o = dcrobust(&args, Some("attack-batch:1"));
    assert!(!o.status.success(), "the rerun was not killed");
    assert_eq!(
        recorded_batches(&b),
        vec![(unit.clone(), s(&["0.json", "16.json", "32.json"]))]
    );
    let o = dcrobust(&args, None);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(recorded_batches(&b).is_empty());
    assert!(!b.join("cells/batches").exists());
    let (mut want, mut got) = (
        results(&a.join("summary.json")),
        results(&b.join("summary.json")),
    );
    want.as_object_mut().unwrap().remove("origins");
    got.as_object_mut().unwrap().remove("origins");
    assert_eq!(want, got);
    assert_eq!(
        std::fs::read(a.join("records.jsonl")).unwrap(),
        std::fs::read(b.join("records.jsonl")).unwrap()
    );
    let pngs = |d: &Path| -> Vec<(String, Vec<u8>)> {
        let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(d.join("examples/cnn9-baseline"))
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let name = e.file_name().to_string_lossy().into_owned();
                (name, std::fs::read(e.path()).unwrap())
            })
            .collect();
        v.sort();
        v
    };
    let want_png = pngs(&a);
    assert!(
        want_png.iter().any(|(n, _)| n.starts_with("pgd-")),
        "{want_png:?}"
    );
    assert_eq!(want_png, pngs(&b));
}

/// Oracle: the reference run's results. Its trained models are evaluated in N = 1, 2 and 3 shards
/// (`--checkpoint`, so shards differ only in which units they evaluate); each set of shards,
/// merged in a scrambled order, gives the reference summary and records, and the merged directory
/// accepts the unsharded command as a finished run. Merging refuses a
/// missing shard, a duplicated shard, and shards of different configurations.
#[test]
fn shards_merge_to_the_unsharded_results() {
    let dir = tempfile::tempdir().unwrap();
    let a = reference(dir.path());
    let ckpt = trained_models(&a);
    let shard_dir = |n: usize, k: usize| dir.path().join(format!("n{n}-k{k}"));
    for n in 1..=3 {
        for k in 1..=n {
            let spec = format!("{k}/{n}");
            let o = dcrobust(
                &adv_run(&shard_dir(n, k), &["--checkpoint", &ckpt, "--shard", &spec]),
                None,
            );
            assert!(o.status.success(), "shard {spec}: {}", stderr(&o));
            assert!(!shard_dir(n, k).join("summary.json").exists());
        }
        let merged = dir.path().join(format!("merged-{n}"));
        let mut m = s(&["merge", "--out"]);
        m.push(merged.display().to_string());
        m.extend((1..=n).rev().map(|k| shard_dir(n, k).display().to_string()));
        let o = dcrobust(&m, None);
        assert!(o.status.success(), "merge {n}: {}", stderr(&o));
        // The reference trained its models and the shards loaded them: only the recorded
        // origins differ (`models/NAME` against the run directories given).
        let (mut want, mut got) = (
            results(&a.join("summary.json")),
            results(&merged.join("summary.json")),
        );
        let origins = got.as_object_mut().unwrap().remove("origins").unwrap();
        want.as_object_mut().unwrap().remove("origins");
        assert_eq!(want, got, "{n} shards");
        assert_eq!(
            origins[0]["source"],
            a.join("models/cnn9-baseline").display().to_string()
        );
        assert_eq!(
            std::fs::read(a.join("records.jsonl")).unwrap(),
            std::fs::read(merged.join("records.jsonl")).unwrap()
        );
        assert!(merged.join("report.html").exists());
        // The merged directory is an unsharded run's: the same command without --shard finds
        // every unit finished there and gives the same results again.
        let o = dcrobust(&adv_run(&merged, &["--checkpoint", &ckpt]), None);
        assert!(o.status.success(), "rerun in merged-{n}: {}", stderr(&o));
        let mut again = results(&merged.join("summary.json"));
        again.as_object_mut().unwrap().remove("origins");
        assert_eq!(want, again);
    }
    let merge = |dirs: &[PathBuf]| {
        let mut m = s(&["merge", "--out"]);
        m.push(dir.path().join("refused").display().to_string());
        m.extend(dirs.iter().map(|d| d.display().to_string()));
        dcrobust(&m, None)
    };
    let o = merge(&[shard_dir(3, 1), shard_dir(3, 3)]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("shard 2/3 is missing"),
        "{}",
        stderr(&o)
    );
    let o = merge(&[shard_dir(2, 1), shard_dir(2, 1), shard_dir(2, 2)]);
    assert!(
        stderr(&o).contains("shard 1/2 is given twice"),
        "{}",
        stderr(&o)
    );
    let other = dir.path().join("other-k2");
    let o = dcrobust(
        &adv_run(
            &other,
            &["--checkpoint", &ckpt, "--shard", "2/2", "--seed", "1"],
        ),
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = merge(&[shard_dir(2, 1), other]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("different configurations") && e.contains("seed"),
        "{e}"
    );
    assert_eq!(e.lines().count(), 1, "{e}");
}

/// Oracle: an unsharded corruption run of the same models; two shards merged give its summary.
#[test]
fn corruption_shards_merge_to_the_unsharded_results() {
    let dir = tempfile::tempdir().unwrap();
    let a = reference(dir.path());
    let ckpt = trained_models(&a);
    let corr = |out: &Path, shard: Option<&str>| {
        let mut c = s(&[
            "run",
            "--suite",
            "corruption",
            "--test-limit",
            "40",
            "--corruptions",
            "gaussian_noise,fog,jpeg_compression",
            "--severities",
            "1,5",
            "--quiet",
            "--checkpoint",
            &ckpt,
            "--out",
        ]);
        c.push(out.display().to_string());
        if let Some(k) = shard {
            c.extend(s(&["--shard", k]));
        }
        let o = dcrobust(&c, None);
        assert!(o.status.success(), "{}", stderr(&o));
    };
    let whole = dir.path().join("whole");
    corr(&whole, None);
    corr(&dir.path().join("c1"), Some("1/2"));
    corr(&dir.path().join("c2"), Some("2/2"));
    let merged = dir.path().join("merged");
    let mut m = s(&["merge", "--out"]);
    m.push(merged.display().to_string());
    m.push(dir.path().join("c2").display().to_string());
    m.push(dir.path().join("c1").display().to_string());
    let o = dcrobust(&m, None);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        results(&whole.join("summary.json")),
        results(&merged.join("summary.json"))
    );
    assert_eq!(
        std::fs::read(whole.join("cells.csv")).unwrap(),
        std::fs::read(merged.join("cells.csv")).unwrap()
    );
}
