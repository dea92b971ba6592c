//! End-to-end tests of the model zoo: `dcrobust zoo`, `--checkpoint zoo:...`, and the default
//! run's choice between evaluating the zoo and training.

use std::path::Path;
use std::process::{Command, Output};

fn dcrobust(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dcrobust"))
        .args(args)
        .output()
        .expect("the dcrobust binary runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn read_json(p: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

/// The zoo names in the repository: the `src/zoo/*/` directories that hold a `zoo.json`.
fn zoo_dirs() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/zoo");
    let mut names: Vec<String> = std::fs::read_dir(root)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("zoo.json").is_file())
        .map(|e| e.file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// Which half of the paper's Table 7 a zoo model reproduces, from the adversarial training
/// `dcrobust zoo --json` records for it (`none`, or the description a run records):
/// `Some(false)` standard, `Some(true)` FGSM-trained, and `None` for a control trained another
/// way (FGSM-RS, PGD), which Table 7 has no column for.
fn paper_half(m: &serde_json::Value) -> Option<bool> {
    match m["adversarial_training"].as_str().unwrap() {
        "none" => Some(false),
        t => dcrobust_reports::paper::training_row(Some(t)),
    }
}

/// `zoo:<name>` under FGSM and PGD-20 at ε = 0, 2/255 and 8/255 on the first 100 embedded test
/// images (no transfer attacks): the model's entry of `summary.json`.
fn fgsm_pgd_on_100_images(name: &str) -> serde_json::Value {
    assert!(
        zoo_dirs().contains(&name.to_string()),
        "{name} is not in src/zoo"
    );
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let checkpoint = format!("zoo:{name}");
    let o = dcrobust(&[
        "run",
        "--suite",
        "adversarial",
        "--checkpoint",
        &checkpoint,
        "--eval-images",
        "100",
        "--attacks",
        "fgsm,pgd",
        "--linf-eps",
        "0,2/255,8/255",
        "--l2-eps",
        "0",
        "--no-transfer",
        "--examples",
        "0",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    read_json(&out.join("summary.json"))["models"][0].clone()
}

/// The accuracy of `attack` at `eps` in a model entry of `summary.json`.
fn cell_accuracy(model: &serde_json::Value, attack: &str, eps: f64) -> f64 {
    model["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["attack"] == attack && (c["eps"].as_f64().unwrap() - eps).abs() < 1e-9)
        .unwrap_or_else(|| panic!("no {attack} cell at {eps}"))["accuracy"]
        .as_f64()
        .unwrap()
}

/// `dcrobust report docs/results/FOLDER --markdown`: a committed run's tables.
fn committed_markdown(folder: &str) -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("docs/results")
        .join(folder);
    let o = dcrobust(&["report", dir.to_str().unwrap(), "--markdown"]);
    assert!(o.status.success(), "{}", stderr(&o));
    String::from_utf8(o.stdout).unwrap()
}

/// The rows (header and rule included) of the first Markdown table after the line starting
/// with `heading`.
fn table_under<'a>(md: &'a str, heading: &str) -> Vec<&'a str> {
    md.lines()
        .skip_while(|l| !l.starts_with(heading))
        .skip(1)
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .collect()
}

/// The trimmed cells of a Markdown table row, `| a | b |` giving `["a", "b"]`.
fn cells(row: &str) -> Vec<&str> {
    row.trim_matches('|').split('|').map(str::trim).collect()
}

/// A document of the repository (`README.md`, `docs/reproduction.md`, ...): its path and text.
struct Doc {
    path: &'static str,
    text: String,
}

fn doc(path: &'static str) -> Doc {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    Doc { path, text }
}

/// Asserts that the document has `row` as a line of its own.
fn assert_quoted(doc: &Doc, row: &str) {
    assert!(
        doc.text.lines().any(|l| l == row),
        "{} lacks {row:?}",
        doc.path
    );
}

/// Oracle: the repository's zoo directories. `dcrobust zoo --json` lists exactly those, each
/// with its own `zoo.json`'s accuracy and command, and the operator its `config.json` names.
#[test]
fn zoo_lists_the_shipped_models() {
    let o = dcrobust(&["zoo", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    let mut names: Vec<String> = rows
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    assert_eq!(names, zoo_dirs());
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/zoo");
    for r in &rows {
        let name = r["name"].as_str().unwrap();
        let meta = read_json(&root.join(name).join("zoo.json"));
        assert_eq!(r["test_accuracy"], meta["test_accuracy"], "{name}");
        assert_eq!(r["command"], meta["command"], "{name}");
        let cfg = read_json(&root.join(name).join("config.json"));
        let op = &cfg["model"]["operator"];
        let want = if op.is_null() {
            "baseline".to_string()
        } else {
            format!(
                "{}-{}",
                op["magnitude"]["kind"].as_str().unwrap(),
                op["angular"]["kind"].as_str().unwrap()
            )
        };
        assert_eq!(r["operator"].as_str().unwrap(), want, "{name}");
        assert_eq!(
            r["adversarial_training"].as_str().unwrap() != "none",
            !cfg["train"]["adversarial"].is_null()
        );
    }
    // The table has a header, one line per model and a footnote.
    let o = dcrobust(&["zoo"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(text.lines().count(), rows.len() + 2, "{text}");
}

/// Oracle: the shipped models' own `zoo.json` files, through `dcrobust zoo --markdown` (one
/// line per model, checked against `zoo --json` above). The table of docs/zoo.md, "The models",
/// must be exactly that output, line for line.
#[test]
fn docs_zoo_table_is_dcrobust_zoo_markdown() {
    let o = dcrobust(&["zoo", "--markdown"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let table = String::from_utf8_lossy(&o.stdout);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), zoo_dirs().len() + 2, "{table}");
    let zoo_doc = doc("docs/zoo.md");
    let section: Vec<&str> = zoo_doc
        .text
        .lines()
        .skip_while(|l| *l != "## The models")
        .skip(1)
        .take_while(|l| !l.starts_with("## "))
        .collect();
    let start = section
        .iter()
        .position(|l| *l == lines[0])
        .expect("docs/zoo.md's section \"The models\" has the zoo table's header");
    let doc_table: Vec<&str> = section[start..]
        .iter()
        .take_while(|l| l.starts_with('|'))
        .copied()
        .collect();
    assert_eq!(doc_table, lines, "docs/zoo.md's zoo table");
}

/// Oracles: with no model, recipe or training option the run evaluates every zoo model (its
/// `suite.json` records them as `zoo:NAME` and no training recipe, and their histories are
/// copied for the report); one training option (here
/// `--epochs`) makes it train instead; an unknown zoo name and `--train` with `--checkpoint`
/// are refused.
#[test]
fn default_run_evaluates_the_zoo_and_training_options_train() {
    let names = zoo_dirs();
    let dir = tempfile::tempdir().unwrap();
    let quick = [
        "--eval-images",
        "20",
        "--attacks",
        "fgsm",
        "--linf-eps",
        "0,8/255",
        "--no-transfer",
        "--examples",
        "0",
        "--quiet",
    ];
    let zoo_out = dir.path().join("zoo");
    let mut args = vec![
        "run",
        "--suite",
        "adversarial",
        "--out",
        zoo_out.to_str().unwrap(),
    ];
    args.extend(quick);
    let o = dcrobust(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let suite = read_json(&zoo_out.join("suite.json"));
    if names.is_empty() {
        assert!(stderr(&o).contains("without zoo models"), "{}", stderr(&o));
    } else {
        assert!(
            stderr(&o).contains("evaluating the model zoo"),
            "{}",
            stderr(&o)
        );
        let mut got: Vec<String> = suite["checkpoints"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_string())
            .collect();
        got.sort();
        let want: Vec<String> = names.iter().map(|n| format!("zoo:{n}")).collect();
        assert_eq!(got, want);
        assert!(suite["train"].is_null());
        let summary = read_json(&zoo_out.join("summary.json"));
        assert_eq!(summary["models"].as_array().unwrap().len(), names.len());
        // Their training histories are where the report's convergence section reads them,
        // under the zoo names, with as many epochs as each model's config.json trained.
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/zoo");
        for n in &names {
            let h = read_json(&zoo_out.join("models").join(n).join("history.json"));
            assert_eq!(h["model"].as_str().unwrap(), n);
            let cfg = read_json(&root.join(n).join("config.json"));
            assert_eq!(
                h["epochs"].as_array().unwrap().len() as u64,
                cfg["train"]["epochs"].as_u64().unwrap()
            );
        }
    }

    let train_out = dir.path().join("train");
    let mut args = vec![
        "run",
        "--suite",
        "adversarial",
        "--out",
        train_out.to_str().unwrap(),
        "--op",
        "baseline",
        "--width",
        "0.0625",
        "--train-limit",
        "64",
        "--epochs",
        "1",
    ];
    args.extend(quick);
    let o = dcrobust(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let suite = read_json(&train_out.join("suite.json"));
    assert!(suite["checkpoints"].as_array().unwrap().is_empty());
    assert_eq!(suite["models"].as_array().unwrap().len(), 1);
    assert!(!suite["train"].is_null());

    let o = dcrobust(&[
        "run",
        "--suite",
        "adversarial",
        "--checkpoint",
        "zoo:no-such-model",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("no-such-model"), "{}", stderr(&o));
    let o = dcrobust(&[
        "run",
        "--suite",
        "adversarial",
        "--train",
        "--checkpoint",
        "zoo:all",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

/// Oracle: the committed summaries of the reproduction runs (`docs/results/paper-standard/`,
/// `paper-adversarial/`, `paper-transfer/`, `strong-standard/`, `strong-adversarial/`,
/// `l2-standard/`, `l2-adversarial/`, `paper-corruption/` and `paper-corruption-adv/`, written by
/// the commands in docs/reproduction.md): `dcrobust report --markdown` prints their white-box,
/// transfer, worst-case, L2 and corruption tables, and docs/reproduction.md quotes each of them
/// verbatim; the models are the zoo's paper models (standard or FGSM-trained, four each; the
/// controls trained another way have runs of their own) with the clean
/// accuracies `dcrobust zoo` records for the full test split.
#[test]
fn reproduction_tables_are_the_committed_results() {
    let repro = doc("docs/reproduction.md");
    let zoo = dcrobust(&["zoo", "--json"]);
    let zoo: serde_json::Value = serde_json::from_slice(&zoo.stdout).unwrap();
    // The paper protocol's two runs: `paper-standard/` for the four standard models,
    // `paper-adversarial/` for the four FGSM-trained ones. docs/reproduction.md quotes every white-box row,
    // whose clean accuracy must be the zoo's.
    let zoo = zoo.as_array().unwrap();
    for (folder, fgsm, training) in [
        ("paper-standard", false, "none"),
        ("paper-adversarial", true, "fgsm eps=0.0314 fraction=0.5"),
    ] {
        let md = committed_markdown(folder);
        let mut rows = 0;
        for m in zoo {
            let name = m["name"].as_str().unwrap();
            if paper_half(m) != Some(fgsm) {
                continue;
            }
            let acc = m["test_accuracy"].as_f64().unwrap();
            let row = md
                .lines()
                .find(|l| l.starts_with(&format!("| {name} | {training} | ")))
                .unwrap_or_else(|| panic!("{folder}: no white-box row of {name} in\n{md}"));
            assert!(
                row.contains(&format!("| {:.2} (", 100.0 * acc)),
                "{row}: clean accuracy is not the zoo's {acc}"
            );
            assert_quoted(&repro, row);
            rows += 1;
        }
        assert_eq!(rows, 4, "{folder}: four models");
        if fgsm {
            // Its transfer matrices are quoted whole, the paper's Table 8 row included.
            let mut in_transfer = false;
            let transfer: Vec<&str> = md
                .lines()
                .filter(|l| {
                    if l.starts_with("####") {
                        in_transfer = l.starts_with("#### Transfer");
                    }
                    in_transfer && (l.starts_with("| cnn9-") || l.starts_with("| paper"))
                })
                .collect();
            assert_eq!(
                transfer.len(),
                6,
                "two sources and the paper, twice, in\n{md}"
            );
            for row in transfer {
                assert_quoted(&repro, row);
            }
        }
    }

    // The transfer run between all eight models (`docs/results/paper-transfer/`): docs/reproduction.md
    // quotes its FGSM and BIM matrices whole (a header, a rule, eight sources and the paper's
    // row each). Its white-box cells were copied from the FGSM-trained half's run, so the five
    // models they share have the same white-box rows in both.
    let md = committed_markdown("paper-transfer");
    for attack in ["FGSM", "BIM"] {
        let table = table_under(&md, &format!("#### Transfer (black-box) {attack} "));
        assert_eq!(table.len(), 11, "{attack} transfer matrix in\n{md}");
        // Every source's only empty cell is its own column: white-box, not transfer.
        let header = cells(table[0]);
        for row in table.iter().filter(|l| l.starts_with("| cnn9-")) {
            let row = cells(row);
            let empty: Vec<&str> = (1..row.len())
                .filter(|&i| row[i] == "-")
                .map(|i| header[i])
                .collect();
            assert_eq!(empty, [row[0]], "{attack}: {row:?}");
        }
        for row in table {
            assert_quoted(&repro, row);
        }
    }
    let white_box = table_under(&md, "#### White-box");
    assert_eq!(white_box.len(), 10, "eight white-box rows in\n{md}");
    let adv = committed_markdown("paper-adversarial");
    for row in table_under(&adv, "#### White-box").iter().skip(2) {
        assert!(white_box.contains(row), "paper-transfer lacks {row:?}");
    }

    // The stronger attacks' runs (`docs/results/strong-standard/` for the standard models,
    // `docs/results/strong-adversarial/` for the FGSM-trained ones): docs/reproduction.md quotes the rows of
    // each one's worst-case table, one per model of the run's half of the zoo, and the
    // FGSM-trained run's white-box table at 8/255 whole.
    for (folder, fgsm) in [("strong-standard", false), ("strong-adversarial", true)] {
        let md = committed_markdown(folder);
        let worst: Vec<&str> = table_under(&md, "#### WORST-CASE")
            .into_iter()
            .filter(|l| l.starts_with("| cnn9-"))
            .collect();
        assert_eq!(worst.len(), 4, "{folder}: worst-case rows in\n{md}");
        for row in worst {
            assert_eq!(cells(row)[0].ends_with("-fgsm"), fgsm, "{folder}: {row}");
            assert_quoted(&repro, row);
        }
        if fgsm {
            let white_box = table_under(&md, "#### White-box");
            assert_eq!(white_box.len(), 6, "{folder}: white-box table in\n{md}");
            for row in white_box {
                assert_quoted(&repro, row);
            }
        }
    }

    // The L2 runs (`docs/results/l2-standard/` for the standard models,
    // `docs/results/l2-adversarial/` for the FGSM-trained ones): docs/reproduction.md quotes each one's CW-L2,
    // PGD-L2 and worst-case tables against ε whole, a header, a rule and one row per model of the
    // run's half of the zoo each.
    for (folder, fgsm) in [("l2-standard", false), ("l2-adversarial", true)] {
        let md = committed_markdown(folder);
        for heading in ["#### CW-L2", "#### PGD-L2", "#### WORST-CASE (L2)"] {
            let table = table_under(&md, heading);
            assert_eq!(table.len(), 6, "{folder}: {heading} in\n{md}");
            for row in &table[2..] {
                assert_eq!(cells(row)[0].ends_with("-fgsm"), fgsm, "{folder}: {row}");
            }
            for row in table {
                assert_quoted(&repro, row);
            }
        }
    }

    // The corruption runs: `docs/results/paper-corruption/` for the four standard models and
    // `docs/results/paper-corruption-adv/` for the standard baseline and the four FGSM-trained
    // ones. docs/reproduction.md quotes each one's mCE table and its accuracies per corruption and per
    // severity whole, with each model's full-split clean accuracy.
    for (folder, fgsm, models) in [
        ("paper-corruption", false, 4),
        ("paper-corruption-adv", true, 5),
    ] {
        let md = committed_markdown(folder);
        let mce = table_under(&md, "#### Corruptions: clean accuracy");
        let corruption = table_under(&md, "#### Accuracy (%) per corruption");
        let severity = table_under(&md, "#### Accuracy (%) per severity");
        assert_eq!(
            (mce.len(), corruption.len(), severity.len()),
            (2 + models, 21, 7),
            "{folder}: tables in\n{md}"
        );
        for row in mce.iter().chain(&corruption).chain(&severity) {
            assert_quoted(&repro, row);
        }
        // The FGSM-trained models' run has the standard baseline beside them, as the CE
        // baseline.
        for m in zoo.iter().filter(|m| {
            paper_half(m) == Some(fgsm) || (fgsm && m["name"].as_str() == Some("cnn9-baseline"))
        }) {
            let row = format!(
                "| {} | {:.2} |",
                m["name"].as_str().unwrap(),
                100.0 * m["test_accuracy"].as_f64().unwrap()
            );
            assert!(
                mce.iter().any(|l| l.starts_with(&row)),
                "{folder}: no mCE row starts with {row:?}"
            );
        }
    }
}

/// Oracle: the committed runs behind docs/reproduction.md, through `dcrobust report --markdown`.
/// Each row of README.md's headline table ("The answer") is, cell for cell, a zoo model's
/// white-box row at 8/255 (clean, FGSM and BIM with the paper's values in parentheses, from
/// `paper-standard/` or `paper-adversarial/`), its worst case at 8/255 (`strong-standard/` or
/// `strong-adversarial/`) and its mCE (`paper-corruption/` or `paper-corruption-adv/`); the
/// table has one row per paper model of the zoo (standard or FGSM-trained, [`paper_half`]).
#[test]
fn readme_headline_table_is_the_committed_results() {
    let readme = doc("README.md");
    let rows: Vec<Vec<&str>> = readme
        .text
        .lines()
        .skip_while(|l| *l != "## The answer")
        .take_while(|l| *l != "## Set-up")
        .skip_while(|l| !l.starts_with("| model | adversarial training | clean |"))
        .take_while(|l| l.starts_with('|'))
        .filter(|l| l.starts_with("| cnn9-"))
        .map(cells)
        .collect();
    let zoo = dcrobust(&["zoo", "--json"]);
    let zoo: Vec<serde_json::Value> = serde_json::from_slice(&zoo.stdout).unwrap();
    let mut paper: Vec<&str> = zoo
        .iter()
        .filter(|m| paper_half(m).is_some())
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    let mut named: Vec<&str> = rows.iter().map(|r| r[0]).collect();
    paper.sort_unstable();
    named.sort_unstable();
    assert_eq!(named, paper, "{rows:?}");
    let runs: Vec<String> = [
        "paper-standard",
        "paper-adversarial",
        "strong-standard",
        "strong-adversarial",
        "paper-corruption",
        "paper-corruption-adv",
    ]
    .iter()
    .map(|f| committed_markdown(f))
    .collect();
    // The column of `heading` in the table whose first row is `header`.
    let column = |header: &str, heading: &str| {
        cells(header)
            .iter()
            .position(|h| *h == heading)
            .unwrap_or_else(|| panic!("no column {heading} in {header}"))
    };
    for row in rows {
        let name = row[0];
        let fgsm = usize::from(name.ends_with("-fgsm"));
        assert_eq!(row[1], ["none", "FGSM"][fgsm], "{name}");
        let training = ["none", "fgsm eps=0.0314 fraction=0.5"][fgsm];
        let white_box = runs[fgsm]
            .lines()
            .find(|l| l.starts_with(&format!("| {name} | {training} | ")))
            .map(cells)
            .unwrap_or_else(|| panic!("no white-box row of {name}"));
        assert_eq!(row[2..5], white_box[2..5], "{name}: clean, FGSM, BIM");
        let worst = table_under(&runs[2 + fgsm], "#### WORST-CASE");
        let at8 = column(worst[0], "8/255");
        let w = worst.iter().map(|l| cells(l)).find(|c| c[0] == name);
        assert_eq!(Some(row[5]), w.map(|c| c[at8]), "{name}: worst case");
        let mce = table_under(&runs[4 + fgsm], "#### Corruptions: clean accuracy");
        let col = column(mce[0], "mCE");
        let m = mce.iter().map(|l| cells(l)).find(|c| c[0] == name);
        assert_eq!(Some(row[6]), m.map(|c| c[col]), "{name}: mCE");
    }
}

/// Oracle: the shipped FGSM-trained baseline's known gradient masking (docs/zoo.md, "The models";
/// docs/training.md, "Adversarial training"). One FGSM step from the clean image stopped finding
/// its errors during training, so FGSM at 8/255 leaves most images correct while PGD breaks
/// them, and FGSM does better at 8/255 than at 2/255. The checks must say so: a warning for
/// accuracy rising with ε, one for FGSM blind to what PGD finds, and PGD still not weaker than
/// FGSM.
#[test]
fn the_fgsm_trained_baseline_is_flagged_for_masked_gradients() {
    let model = fgsm_pgd_on_100_images("cnn9-baseline-fgsm");
    let acc = |attack: &str, eps: f64| cell_accuracy(&model, attack, eps);
    let (fgsm2, fgsm8, pgd8) = (
        acc("fgsm", 2.0 / 255.0),
        acc("fgsm", 8.0 / 255.0),
        acc("pgd", 8.0 / 255.0),
    );
    assert!(
        fgsm8 >= pgd8 + 0.4,
        "FGSM {fgsm8} against PGD {pgd8} at 8/255"
    );
    assert!(fgsm8 > fgsm2, "FGSM {fgsm8} at 8/255, {fgsm2} at 2/255");
    let status = |name: &str| {
        model["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no check {name}"))["status"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(status("monotone-in-eps"), "warn");
    assert_eq!(status("pgd-not-weaker-than-fgsm"), "pass");
    // FGSM keeps nearly all of the clean accuracy at 8/255 where PGD keeps none.
    assert!(
        fgsm8 >= 0.9 * model["clean_accuracy"].as_f64().unwrap(),
        "FGSM {fgsm8} at 8/255"
    );
    assert_eq!(status("fgsm-agrees-with-multi-step"), "warn");
}

/// Oracle: the same images give the same predictions. Evaluating a zoo model on an ImageFolder
/// that holds only `test/` (the first two test images of each class, copied byte for byte from
/// the embedded subset) needs no training split and gives exactly the per-image records of the
/// embedded subset's class-balanced first 20 images, which are those images in the same order.
#[test]
fn checkpoints_are_evaluated_on_a_folder_without_a_training_split() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("test-only");
    let tar_gz =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("src/data/embedded/cifar10-small.tar.gz");
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(
        std::fs::File::open(tar_gz).unwrap(),
    ));
    let mut copied = 0;
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().into_owned();
        let name = path.to_string_lossy().trim_start_matches("./").to_string();
        let keep = name.starts_with("test/")
            && (name.ends_with("/0000.jpg") || name.ends_with("/0001.jpg"));
        if keep {
            let to = data.join(&name);
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            entry.unpack(&to).unwrap();
            copied += 1;
        }
    }
    assert_eq!(copied, 20, "two test images of each of the ten classes");
    assert!(!data.join("train").exists());
    let run = |out: &Path, source: &[&str]| {
        let mut args = vec![
            "run",
            "--suite",
            "adversarial",
            "--checkpoint",
            "zoo:cnn9-baseline",
            "--attacks",
            "fgsm",
            "--linf-eps",
            "0,2/255",
            "--l2-eps",
            "0",
            "--no-transfer",
            "--no-checks",
            "--examples",
            "0",
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(source);
        let o = dcrobust(&args);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        let records = std::fs::read_to_string(out.join("records.jsonl")).unwrap();
        records
            .lines()
            .map(|l| {
                let r: serde_json::Value = serde_json::from_str(l).unwrap();
                (
                    r["index"].as_u64().unwrap(),
                    r["label"].as_u64().unwrap(),
                    r["clean_pred"].as_u64().unwrap(),
                    r["adv_pred"].as_u64().unwrap(),
                )
            })
            .collect::<Vec<_>>()
    };
    let from_folder = run(
        &dir.path().join("folder"),
        &["--data", data.to_str().unwrap(), "--eval-images", "0"],
    );
    let from_embedded = run(&dir.path().join("embedded"), &["--eval-images", "20"]);
    assert_eq!(from_folder.len(), 40, "20 images at two budgets");
    assert_eq!(from_folder, from_embedded);
}

/// The rows of the AutoAttack comparison tables (docs/attacks.md, "Against the reference"): clean
/// accuracy, then each attack.
const COMPARISON_ROWS: [&str; 7] = [
    "clean",
    "apgd-ce",
    "apgd-dlr",
    "apgd-t",
    "fab-t",
    "square",
    "autoattack",
];

/// Oracle: the committed comparison runs (`attacks/scripts/results/*.json`, written by
/// `attacks/scripts/reference_compare.py --json`). Each row of the 100-image table of
/// docs/attacks.md, "Against the reference", is their robust accuracies in percent, column by column: 8/255 and 2/255 on
/// the same pixels (dcrobust, reference), then the reference on Pillow's pixels with seeds 0 and 1.
#[test]
fn autoattack_table_is_the_committed_comparison() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let results = root.join("attacks/scripts/results");
    let eps8 = read_json(&results.join("eps8-100.json"));
    let eps2 = read_json(&results.join("eps2-100.json"));
    let pillow0 = read_json(&results.join("eps2-100-pillow.json"));
    let pillow1 = read_json(&results.join("eps2-100-pillow-ref-seed1.json"));
    assert_eq!(eps2["pixels"], "dcrobust");
    assert_eq!(eps8["pixels"], "dcrobust");
    let pct = |v: &serde_json::Value| format!("{:.0}", 100.0 * v.as_f64().unwrap());
    let attacks = doc("docs/attacks.md");
    let mut rows = 0;
    for attack in COMPARISON_ROWS {
        let cells = if attack == "clean" {
            vec![
                pct(&eps8["ours_clean"]),
                pct(&eps8["reference_clean"]),
                pct(&eps2["ours_clean"]),
                pct(&eps2["reference_clean"]),
                pct(&pillow0["reference_clean"]),
                pct(&pillow1["reference_clean"]),
            ]
        } else {
            vec![
                pct(&eps8["ours"][attack]),
                pct(&eps8["reference"][attack]),
                pct(&eps2["ours"][attack]),
                pct(&eps2["reference"][attack]),
                pct(&pillow0["reference"][attack]),
                pct(&pillow1["reference"][attack]),
            ]
        };
        let label = if attack == "clean" {
            "clean".to_string()
        } else if attack == "square" {
            "`square` (5,000 queries)".to_string()
        } else {
            format!("`{attack}`")
        };
        let row = format!("| {label} | {} |", cells.join(" | "));
        assert_quoted(&attacks, &row);
        rows += 1;
    }
    assert_eq!(rows, 7);
}

/// Oracle: the committed merged comparisons `attacks/scripts/results/eps2-300.json` and
/// `eps8-300.json` (each written by `reference_compare.py --merge` from three 100-image chunks
/// beside it). Each row of the merged table of docs/attacks.md, "Against the reference", is, per budget, the robust accuracy in
/// percent on each side, their difference and the number of images robust on one side only;
/// every attack agrees within 0.5 points at both budgets, the agreement the comparison is held to.
#[test]
fn merged_autoattack_table_is_the_committed_comparison() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let merged: Vec<_> = ["eps2-300.json", "eps8-300.json"]
        .iter()
        .map(|f| read_json(&root.join("attacks/scripts/results").join(f)))
        .collect();
    for m in &merged {
        assert_eq!(m["images"], 300);
        assert_eq!(m["chunks"].as_array().unwrap().len(), 3);
    }
    let attacks = doc("docs/attacks.md");
    let pct = |v: &serde_json::Value| 100.0 * v.as_f64().unwrap();
    // In hundredths of a point, without a negative zero (the reference's accuracies are f32).
    let diff = |o: f64, r: f64| {
        let d = ((o - r) * 100.0).round() / 100.0;
        if d == 0.0 {
            0.0
        } else {
            d
        }
    };
    let only = |a: &serde_json::Value, b: &serde_json::Value| {
        let b: Vec<_> = b.as_array().unwrap().iter().collect();
        a.as_array()
            .unwrap()
            .iter()
            .filter(|v| !b.contains(v))
            .count()
    };
    for attack in COMPARISON_ROWS {
        let mut cells = Vec::new();
        for m in &merged {
            if attack == "clean" {
                let (o, r) = (pct(&m["ours_clean"]), pct(&m["reference_clean"]));
                assert!((o - r).abs() < 1e-6, "clean {o} against {r}");
                cells.push(format!("{o:.2} | {r:.2} | {:+.2} | -", diff(o, r)));
            } else {
                let (o, r) = (pct(&m["ours"][attack]), pct(&m["reference"][attack]));
                assert!((o - r).abs() <= 0.5 + 1e-6, "{attack}: {o} against {r}");
                let (so, sr) = (&m["ours_robust"][attack], &m["reference_robust"][attack]);
                cells.push(format!(
                    "{o:.2} | {r:.2} | {:+.2} | {} / {}",
                    diff(o, r),
                    only(so, sr),
                    only(sr, so)
                ));
            }
        }
        let label = if attack == "clean" {
            "clean".to_string()
        } else {
            format!("`{attack}`")
        };
        let row = format!("| {label} | {} |", cells.join(" | "));
        assert_quoted(&attacks, &row);
    }
}

/// Oracle: the shipped FGSM-trained decoupled models' measured robustness (docs/zoo.md, "The
/// models": of 300 embedded test images under PGD-20 at 2/255, 4/255 and 8/255, TanhConv keeps 65 %,
/// 52 % and 30 %, BallConv 65 %, 53 % and 29 %, SphereConv 60 %, 49 % and 23 %). Unlike the
/// FGSM-trained baseline, PGD does not break them at 8/255, their accuracy falls with ε under
/// both attacks, and no gradient-masking check warns. The bounds leave room for the smaller
/// sample (100 images: ±10 points at 95 %).
#[test]
fn the_fgsm_trained_decoupled_models_resist_pgd() {
    for name in [
        "cnn9-tanh-cosine-fgsm",
        "cnn9-ball-cosine-fgsm",
        "cnn9-sphere-cosine-fgsm",
    ] {
        let model = fgsm_pgd_on_100_images(name);
        let acc = |attack: &str, eps: f64| cell_accuracy(&model, attack, eps);
        let (pgd2, pgd8) = (acc("pgd", 2.0 / 255.0), acc("pgd", 8.0 / 255.0));
        let (fgsm2, fgsm8) = (acc("fgsm", 2.0 / 255.0), acc("fgsm", 8.0 / 255.0));
        assert!(pgd8 >= 0.15, "{name}: PGD leaves {pgd8} at 8/255");
        assert!(
            pgd2 > pgd8 && fgsm2 > fgsm8,
            "{name}: PGD {pgd2} > {pgd8}, FGSM {fgsm2} > {fgsm8}"
        );
        assert!(fgsm8 >= pgd8, "{name}: FGSM {fgsm8} against PGD {pgd8}");
        for check in model["checks"].as_array().unwrap() {
            assert_ne!(check["status"], "warn", "{name}: {check}");
        }
    }
}

/// The ε of the AutoAttack table of docs/reproduction.md, in 255ths: one committed run per
/// adversarially trained zoo model and budget, `docs/results/autoattack/<model>-eps<k>/`.
const AUTOATTACK_EPS: [u32; 2] = [4, 8];

/// Oracle: the committed AutoAttack runs (`docs/results/autoattack/<model>-eps<k>/`, each the
/// standard AutoAttack ensemble at k/255 on the same 1,000 class-balanced test images, written by
/// the command in docs/reproduction.md, "AutoAttack on the adversarially trained models"). The
/// table there has one row per adversarially trained zoo model (as `dcrobust zoo --json` lists
/// them): its clean accuracy on those images and, per budget, its AutoAttack accuracy with the 95 %
/// Wilson interval (`dcrobust_reports::stats::wilson`), or `pending` where no run is committed
/// yet. No committed run belongs to anything else.
#[test]
fn autoattack_table_is_the_committed_runs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/results/autoattack");
    let zoo = dcrobust(&["zoo", "--json"]);
    let zoo: Vec<serde_json::Value> = serde_json::from_slice(&zoo.stdout).unwrap();
    let mut want = vec![
        "| model | adversarial training | clean | AutoAttack 4/255 [95 %] | AutoAttack 8/255 [95 %] |"
            .to_string(),
        "| --- | --- | ---: | ---: | ---: |".to_string(),
    ];
    let mut expected_dirs = Vec::new();
    for m in zoo.iter().filter(|m| m["adversarial_training"] != "none") {
        let name = m["name"].as_str().unwrap();
        let mut clean: Option<f64> = None;
        let mut robust = Vec::new();
        for k in AUTOATTACK_EPS {
            let dir = format!("{name}-eps{k}");
            expected_dirs.push(dir.clone());
            let path = root.join(&dir).join("summary.json");
            if !path.is_file() {
                robust.push("pending".to_string());
                continue;
            }
            let s = read_json(&path);
            assert_eq!(s["images"], 1000, "{dir}");
            assert_eq!(s["data"], "imagefolder (PATH/TO/cifar10)", "{dir}");
            let models = s["models"].as_array().unwrap();
            assert_eq!(models.len(), 1, "{dir}");
            assert_eq!(models[0]["model"], name, "{dir}");
            let c = models[0]["clean_accuracy"].as_f64().unwrap();
            assert_eq!(
                *clean.get_or_insert(c),
                c,
                "{dir}: the same images at every budget"
            );
            let cell = models[0]["cells"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| {
                    c["attack"] == "autoattack"
                        && (c["eps"].as_f64().unwrap() - f64::from(k) / 255.0).abs() < 1e-9
                })
                .unwrap_or_else(|| panic!("{dir}: no AutoAttack cell at {k}/255"));
            assert_eq!(cell["images"], 1000, "{dir}");
            let a = cell["accuracy"].as_f64().unwrap();
            let (lo, hi) = dcrobust_reports::stats::wilson(a, 1000);
            robust.push(format!(
                "{:.1} [{:.1}, {:.1}]",
                100.0 * a,
                100.0 * lo,
                100.0 * hi
            ));
        }
        let clean = clean.map_or("pending".to_string(), |c| format!("{:.1}", 100.0 * c));
        want.push(format!(
            "| {name} | {} | {clean} | {} |",
            m["adversarial_training"].as_str().unwrap(),
            robust.join(" | ")
        ));
    }
    if root.is_dir() {
        for e in std::fs::read_dir(&root).unwrap() {
            let dir = e.unwrap().file_name().into_string().unwrap();
            assert!(
                expected_dirs.contains(&dir),
                "docs/results/autoattack/{dir} is no adversarially trained zoo model at {AUTOATTACK_EPS:?}/255"
            );
        }
    }
    let repro = doc("docs/reproduction.md");
    let got: Vec<&str> = repro
        .text
        .lines()
        .skip_while(|l| *l != want[0])
        .take_while(|l| l.starts_with('|'))
        .collect();
    assert_eq!(got, want, "docs/reproduction.md's AutoAttack table");
}
