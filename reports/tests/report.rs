//! Rendering, loading and CSV tests on a small fixture built here.

use std::collections::BTreeMap;
use std::path::Path;

use dcrobust_reports::{
    load_run, render, tables_csv, tables_markdown, AdversarialSummary, AttackCell, Check,
    CheckStatus, CorruptionCell, CorruptionError, CorruptionExample, CorruptionSummary,
    EpochRecord, ExampleImage, ModelAdversarial, ModelCorruption, NamedAccuracy, ReportError,
    RunResults, TrainingHistory, TransferCell,
};
use dcrobust_reports::{AttackId, AttackKind};

const BASE: &str = "cnn9-baseline";
const TANH: &str = "cnn9-tanh-cosine";
const HOSTILE: &str = "<script>alert(1)</script>";

fn cell(attack: AttackKind, eps: f64, accuracy: f64) -> AttackCell {
    AttackCell {
        attack: attack.into(),
        norm: attack.norm(),
        eps,
        steps: Some(1),
        images: 100,
        accuracy,
        success_rate: 0.5,
        mean_linf: eps,
        mean_l2: eps * 10.0,
        mean_loss: 1.0,
        gradients: 100,
        queries: 100,
        seconds: 0.1,
    }
}

fn history(model: &str, accs: &[f64]) -> TrainingHistory {
    TrainingHistory {
        model: model.into(),
        epochs: accs
            .iter()
            .enumerate()
            .map(|(i, &a)| EpochRecord {
                epoch: i + 1,
                iteration: 10 * (i + 1),
                train_loss: 2.0 - a,
                train_accuracy: a,
                test_loss: 2.1 - a,
                test_accuracy: a - 0.01,
                learning_rate: 1e-3,
                wall_time_s: 5.0 * (i + 1) as f64,
                images_per_s: 1000.0,
                val_loss: None,
                val_accuracy: None,
            })
            .collect(),
        iterations: vec![],
    }
}

fn adv_model(
    model: &str,
    clean: f64,
    fgsm8: f64,
    pgd8: f64,
    status: CheckStatus,
) -> ModelAdversarial {
    let e8 = 8.0 / 255.0;
    let e4 = 4.0 / 255.0;
    ModelAdversarial {
        model: model.into(),
        parameters: 1234,
        adversarial_training: None,
        clean_accuracy: clean,
        prediction_counts: Vec::new(),
        zero_gradient_samples: 0,
        cells: vec![
            cell(AttackKind::Fgsm, 0.0, clean),
            cell(AttackKind::Fgsm, e4, (clean + fgsm8) / 2.0),
            cell(AttackKind::Fgsm, e8, fgsm8),
            cell(AttackKind::Pgd, 0.0, clean),
            cell(AttackKind::Pgd, e4, pgd8 * 2.0),
            cell(AttackKind::Pgd, e8, pgd8),
            cell(AttackKind::PgdL2, 0.0, clean),
            cell(AttackKind::PgdL2, 0.5, 0.2),
        ],
        check_cells: vec![cell(AttackKind::Pgd, 1.0, 0.0)],
        checks: vec![
            Check {
                name: "eps0-equals-clean".into(),
                status: CheckStatus::Pass,
                detail: "every attack at eps 0 gives the clean accuracy".into(),
            },
            Check {
                name: "monotone-in-eps".into(),
                status,
                detail: format!("detail for {model}"),
            },
        ],
        confusion: Vec::new(),
    }
}

/// A 2×2 RGB PNG filled with `v`, except the first pixel's red channel, which is `r0`.
fn png(v: u8, r0: u8) -> Vec<u8> {
    let mut data = vec![v; 12];
    data[0] = r0;
    let img = image::RgbImage::from_raw(2, 2, data).unwrap();
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

fn adversarial_run(tanh: &str, class: &str) -> RunResults {
    let e8 = 8.0 / 255.0;
    let summary = AdversarialSummary {
        version: "0.1.0".into(),
        run: dcrobust_reports::RunInfo {
            seed: 7,
            data: "synthetic".into(),
            images: 100,
            // CIFAR-10's classes for the plain fixture (the paper's columns then apply); two
            // classes, one of them `class`, otherwise.
            classes: if class == "bird" {
                dcrobust_reports::paper::CIFAR10_CLASSES
                    .map(String::from)
                    .to_vec()
            } else {
                vec!["airplane".into(), class.into()]
            },
            device: "cpu".into(),
            threads: 2,
            train_seconds: 12.5,
            origins: vec![dcrobust_reports::ModelOrigin {
                model: "wrn-28-10".into(),
                source: "pt:wrn-28-10:models/<robust>.pt".into(),
                format: "PyTorch state dict (wrn-28-10)".into(),
                sha256: Some("ab".repeat(32)),
                baseline: Some(false),
                adversarial_training: None,
            }],
        },
        headline_linf: e8,
        headline_l2: 0.5,
        models: vec![
            ModelAdversarial {
                prediction_counts: vec![3, 7],
                confusion: vec![dcrobust_reports::ConfusionMatrix {
                    attack: None,
                    eps: 0.0,
                    counts: vec![vec![3, 2], vec![0, 5]],
                }],
                ..adv_model(BASE, 0.85, 0.004, 0.01, CheckStatus::Pass)
            },
            adv_model(tanh, 0.9, 0.134, 0.012, CheckStatus::Fail),
        ],
        transfer: vec![TransferCell {
            source: BASE.into(),
            target: tanh.into(),
            attack: AttackKind::Fgsm.into(),
            eps: e8,
            accuracy: 0.5,
            source_accuracy: 0.004,
        }],
        examples: vec![ExampleImage {
            model: tanh.into(),
            attack: AttackKind::Fgsm.into(),
            eps: e8,
            index: 0,
            label: class.into(),
            clean_pred: class.into(),
            adv_pred: "airplane".into(),
            clean_png: "examples/clean-0.png".into(),
            adv_png: "examples/tanh/fgsm-0.png".into(),
        }],
        eval_seconds: 3.25,
        strong_attacks: AttackId::strong(),
    };
    let mut images = BTreeMap::new();
    images.insert("examples/clean-0.png".to_string(), png(100, 100));
    images.insert("examples/tanh/fgsm-0.png".to_string(), png(100, 108));
    RunResults {
        dir_label: "runs/adv".into(),
        suite_config: Some(serde_json::json!({"suite": "adversarial", "note": tanh})),
        histories: vec![history(BASE, &[0.5, 0.8]), history(tanh, &[0.4, 0.85])],
        adversarial: Some(summary),
        corruption: None,
        images,
        features: Vec::new(),
    }
}

fn cor_model(model: &str, clean: f64, accs: [f64; 4], ce: f64) -> ModelCorruption {
    let names = [("gaussian_noise", "noise"), ("fog", "weather")];
    let mut cells = Vec::new();
    for (k, (c, cat)) in names.iter().enumerate() {
        for s in 1..=2u8 {
            cells.push(CorruptionCell {
                corruption: c.to_string(),
                category: cat.to_string(),
                severity: s,
                accuracy: accs[k * 2 + usize::from(s) - 1],
            });
        }
    }
    ModelCorruption {
        model: model.into(),
        clean_accuracy: clean,
        prediction_counts: Vec::new(),
        checks: Vec::new(),
        per_severity: vec![
            Some((accs[0] + accs[2]) / 2.0),
            Some((accs[1] + accs[3]) / 2.0),
        ],
        per_corruption: vec![],
        per_category: vec![
            NamedAccuracy {
                name: "noise".into(),
                accuracy: (accs[0] + accs[1]) / 2.0,
            },
            NamedAccuracy {
                name: "weather".into(),
                accuracy: (accs[2] + accs[3]) / 2.0,
            },
        ],
        mean_corruption_accuracy: Some(accs.iter().sum::<f64>() / 4.0),
        corruption_errors: vec![CorruptionError {
            corruption: "gaussian_noise".into(),
            ce,
            relative_ce: None,
        }],
        mce: Some(ce),
        relative_mce: None,
        cells,
    }
}

fn corruption_run() -> RunResults {
    let summary = CorruptionSummary {
        version: "0.1.0".into(),
        run: dcrobust_reports::RunInfo {
            seed: 3,
            data: "synthetic".into(),
            images: 50,
            classes: vec!["a".into(), "b".into()],
            device: "cpu".into(),
            threads: 1,
            train_seconds: 1.0,
            origins: Vec::new(),
        },
        source: "cifar10-c".into(),
        baseline: Some(BASE.into()),
        models: vec![
            cor_model(BASE, 0.8, [0.7, 0.6, 0.75, 0.65], 100.0),
            cor_model(TANH, 0.82, [0.72, 0.61, 0.77, 0.69], 106.83),
        ],
        examples: vec![CorruptionExample {
            corruption: "fog".into(),
            severity: 2,
            index: 0,
            label: "a".into(),
            png: "examples/fog-s2-0.png".into(),
            predictions: vec![(BASE.into(), "a".into()), (TANH.into(), "b".into())],
        }],
        corrupt_seconds: 2.0,
        eval_seconds: 3.0,
    };
    let mut images = BTreeMap::new();
    images.insert("examples/fog-s2-0.png".to_string(), png(50, 50));
    RunResults {
        dir_label: "runs/cor".into(),
        suite_config: None,
        histories: vec![],
        adversarial: None,
        corruption: Some(summary),
        images,
        features: Vec::new(),
    }
}

/// Oracle: the fixture's own numbers, formatted as the page prints them (`{:.1}%`), the chart
/// count the fixture implies, and the paper's Table 7 as docs/model.md#tables-7-and-8 prints it.
#[test]
fn page_shows_every_section_with_the_fixture_numbers() {
    let page = render(&[adversarial_run(TANH, "bird"), corruption_run()]);
    assert!(page.starts_with("<!DOCTYPE html>"));
    // 4 convergence charts + 3 attacks (fgsm, pgd, pgd-l2) + 2 heatmaps + severity + category bars.
    // + the two loss charts on a log scale + the baseline's prediction histogram + the
    // clean-vs-robust chart of the adversarial run.
    assert_eq!(
        page.matches("<svg").count(),
        4 + 2 + 3 + 2 + 1 + 1 + 1 + 1,
        "svg count"
    );
    assert!(page.contains("<summary>The losses on a log scale</summary>"));
    for title in [
        "Training loss",
        "Test accuracy",
        "FGSM (L∞)",
        "PGD-L2 (L2)",
        "Accuracy vs severity",
    ] {
        assert!(page.contains(title), "missing chart {title}");
    }
    // The page's model legend at the top, then one per chart grid: convergence, attacks,
    // corruption; each model keeps its colour (slot 1, the second palette colour, for TanhConv)
    // in all of them. The clean-vs-robust chart's legend names operators (tanh in slot 3).
    assert_eq!(page.matches("<div class=\"legend\">").count(), 5);
    assert!(page.contains("<i style=\"background:rgb(214,39,40)\"></i>tanh</span>"));
    assert!(page.contains("Clean vs robust accuracy at ε = 8/255"));
    assert_eq!(
        page.matches("<i style=\"background:rgb(255,127,14)\"></i>cnn9-tanh-cosine")
            .count(),
        4
    );
    // Each run's conclusion comes before its per-model lines; TanhConv fails a check in the
    // adversarial run, so its row of the conclusion table refuses to draw one.
    let conclusion = page
        .find("<tr><td class=\"l\">cnn9-tanh-cosine</td><td class=\"l\">cnn9-baseline</td>")
        .expect("conclusion row");
    assert!(page[conclusion..].contains("<td class=\"l\">no conclusion: checks fail ("));
    assert!(conclusion < page.find("<ul class=\"verdict\">").unwrap());
    assert!(page.contains(
        "<p class=\"conclusion\">cnn9-tanh-cosine is not clearly more robust to corruptions"
    ));
    assert!(page.contains("</i>cnn9-tanh-cosine</span>"));
    // Verdict computed from the data.
    assert!(
        page.contains("keeps 13.4% under FGSM at ε = 8/255 vs 0.4% for the baseline"),
        "verdict"
    );
    assert!(page.contains("under PGD both fall near zero (1.2% vs 1.0%)"));
    assert!(page.contains("Trust: 3 of 4 gradient-masking checks pass, 0 warn, 1 fail."));
    // Headline table: clean and robust accuracies.
    for v in ["85.0%", "90.0%"] {
        assert!(page.contains(&format!("<td>{v}</td>")), "headline {v}");
    }
    // Robust accuracies with their 95 % Wilson intervals on 100 images (stats::wilson's oracle).
    for v in [
        "13.4%<br><small>",
        "0.4%<br><small>0.0–",
        "20.0%<br><small>",
    ] {
        assert!(page.contains(&format!("<td>{v}")), "headline {v}");
    }
    // Transfer table: transfer 50.0%, target white-box 13.4%, source 0.4%.
    assert!(page.contains("<td>50.0%</td><td>13.4%</td><td>0.4%</td>"));
    // The paper's Table 7, labelled.
    assert!(page.contains("paper (Liu et al. 2018, Table 7)"));
    assert!(
        page.contains("<td class=\"paper\">52.60%</td>"),
        "tanh FGSM in the headline row"
    );
    for v in ["85.35", "18.82", "8.67", "91.45", "35.07"] {
        assert!(page.contains(&format!("<td>{v}</td>")), "paper value {v}");
    }
    // Checks as badges.
    assert!(page.contains("<span class=\"badge fail\">fail</span>"));
    assert!(page.contains("<span class=\"badge pass\">pass</span>"));
    // Corruption: CE table, mCE, heatmap value 77.0 (tanh fog s1).
    assert!(page.contains("106.8%"));
    assert!(page.contains(">\n77.0\n</text>"));
    assert!(page.contains(&format!("mCE 106.8% and relative mCE – ({BASE} = 100%)")));
    // Examples: clean, adversarial, perturbation, corrupted image.
    assert_eq!(page.matches("src=\"data:image/png;base64,").count(), 4);
    // Two runs: each model across them, TanhConv clean 90.0 % then FGSM 13.4 % in run 1.
    assert!(page.contains("Each model across the runs"));
    assert!(
        page.contains("<tr><td class=\"l\">cnn9-tanh-cosine</td><td>90.0%</td><td>13.4%</td>"),
        "across-runs row"
    );
    // Predictions: the baseline's histogram and its clean confusion matrix (row 0: 3 of 5
    // right, shaded 255·(1 − 0.8·3/5) = 133).
    assert!(page.contains("What the models predict"));
    assert!(page.contains("share of clean predictions per class"));
    assert!(page.contains("<td style=\"background:rgb(133,133,255);color:white\">3</td>"));
    // Reproducibility.
    assert!(page.contains("<td class=\"l\">7</td>"), "seed");
    // Where each model came from, escaped, with its SHA-256.
    assert!(page.contains("Models evaluated"));
    assert!(page.contains("pt:wrn-28-10:models/&lt;robust&gt;.pt"));
    assert!(page.contains(&format!("<code>{}</code>", "ab".repeat(32))));
    assert!(page.contains("&quot;suite&quot;: &quot;adversarial&quot;"));
}

/// Oracle: a hostile model and class name, dir label and configuration value must appear only
/// escaped; the page has no scripts and loads nothing from other hosts.
#[test]
fn hostile_names_are_escaped_and_page_is_self_contained() {
    let mut run = adversarial_run(HOSTILE, HOSTILE);
    run.dir_label = HOSTILE.into();
    let mut cor = corruption_run();
    if let Some(s) = cor.corruption.as_mut() {
        s.models[1].model = HOSTILE.into();
        s.models[1].cells[0].corruption = HOSTILE.into();
        s.examples[0].predictions[1] = (HOSTILE.into(), HOSTILE.into());
    }
    let page = render(&[run, cor]);
    assert!(
        !page.to_ascii_lowercase().contains("<script"),
        "unescaped script tag"
    );
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    // Inside SVG text too (plotters escapes it): both heatmaps have the hostile corruption's row
    // (one is also titled by the hostile model), and the hostile class labels the baseline's
    // prediction histogram.
    let in_svg = page
        .split("<svg")
        .skip(1)
        .filter(|s| s.split("</svg>").next().unwrap().contains("&lt;script&gt;"))
        .count();
    assert_eq!(
        in_svg, 3,
        "two heatmaps and the baseline's prediction histogram (the hostile class on its axis)"
    );
    // Two classes, not CIFAR-10's: no paper columns.
    assert!(!page.contains("paper (Liu et al. 2018, Table 7)"));
    let lower = page.to_ascii_lowercase();
    for bad in [
        "src=\"http",
        "href=\"http",
        "src='http",
        "href='http",
        "url(",
        "@import",
        "<link",
        "<iframe",
    ] {
        assert!(!lower.contains(bad), "external resource: {bad}");
    }
    // Every href is a fragment link within the page.
    for (i, _) in lower.match_indices("href=") {
        assert_eq!(&lower[i + 5..i + 7], "\"#", "non-local href");
    }
}

/// Oracle: render is a pure function: the same input gives the same bytes, and no runs give a
/// page that says so.
#[test]
fn render_is_deterministic() {
    let runs = [adversarial_run(TANH, "bird")];
    assert_eq!(render(&runs), render(&runs));
    assert!(render(&[]).contains("No runs were given."));
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// Oracle: what the test wrote: loading gives back the same summary, histories and PNG bytes.
#[test]
fn load_run_reads_what_a_run_writes() {
    let dir = tempfile::tempdir().unwrap();
    let run = adversarial_run(TANH, "bird");
    let s = run.adversarial.as_ref().unwrap();
    write(
        &dir.path().join("summary.json"),
        serde_json::to_string(s).unwrap().as_bytes(),
    );
    write(
        &dir.path().join("suite.json"),
        br#"{"suite":"adversarial"}"#,
    );
    for h in &run.histories {
        let p = dir
            .path()
            .join("models")
            .join(&h.model)
            .join("history.json");
        write(&p, serde_json::to_string(h).unwrap().as_bytes());
    }
    for (rel, bytes) in &run.images {
        write(&dir.path().join(rel), bytes);
    }
    let back = load_run(dir.path()).unwrap();
    assert_eq!(back.adversarial.as_ref(), Some(s));
    assert_eq!(
        back.histories, run.histories,
        "sorted by directory name: baseline, tanh"
    );
    assert_eq!(back.images, run.images);
    assert_eq!(
        back.suite_config,
        Some(serde_json::json!({"suite": "adversarial"}))
    );

    // A corruption summary without suite.json is told apart by its fields.
    let dir2 = tempfile::tempdir().unwrap();
    let cor = corruption_run();
    write(
        &dir2.path().join("summary.json"),
        serde_json::to_string(cor.corruption.as_ref().unwrap())
            .unwrap()
            .as_bytes(),
    );
    let back = load_run(dir2.path()).unwrap();
    assert_eq!(back.corruption, cor.corruption);
    assert!(back.images.is_empty(), "missing PNG is skipped");
    assert!(render(&[back]).contains("missing: examples/fog-s2-0.png"));
}

/// Oracle: each error names the file at fault (missing summary, invalid suite.json, invalid
/// history.json, summary of no known suite).
#[test]
fn load_run_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let err = load_run(dir.path()).unwrap_err();
    assert!(matches!(err, ReportError::Io { .. }));
    assert!(err.to_string().contains("summary.json"), "{err}");

    let run = adversarial_run(TANH, "bird");
    let summary = serde_json::to_string(run.adversarial.as_ref().unwrap()).unwrap();
    write(&dir.path().join("summary.json"), summary.as_bytes());
    write(&dir.path().join("suite.json"), b"{not json");
    let err = load_run(dir.path()).unwrap_err();
    assert!(matches!(err, ReportError::Json { .. }));
    assert!(err.to_string().contains("suite.json"), "{err}");

    std::fs::remove_file(dir.path().join("suite.json")).unwrap();
    write(&dir.path().join("models/m/history.json"), b"[1,2");
    let err = load_run(dir.path()).unwrap_err();
    assert!(err.to_string().contains("history.json"), "{err}");

    std::fs::remove_file(dir.path().join("models/m/history.json")).unwrap();
    write(&dir.path().join("summary.json"), b"{\"version\":\"x\"}");
    let err = load_run(dir.path()).unwrap_err();
    assert!(matches!(err, ReportError::UnknownSuite { .. }));
    assert!(err.to_string().contains("summary.json"), "{err}");

    write(
        &dir.path().join("summary.json"),
        b"{\"headline_linf\": 0.1}",
    );
    let err = load_run(dir.path()).unwrap_err();
    assert!(
        matches!(err, ReportError::Json { .. }),
        "schema mismatch: {err}"
    );
    assert!(err.to_string().contains("summary.json"), "{err}");
}

/// Oracle: the fixture's numbers written with `f64`'s `Display`, and the file list the fixture
/// implies (adversarial, transfer and corruption tables).
/// Oracle: the fixture's own numbers as percentages with two decimals (FGSM at 4/255 is the
/// fixture's (0.85 + 0.004)/2; a corruption's mean is over its two severities), the paper's
/// Tables 7 and 8 as docs/model.md#tables-7-and-8 prints them, and the 95 % Wilson half-width at
/// 50 % for 100 images, 9.62 points (z·sqrt(0.25/n + z²/4n²)/(1 + z²/n), z = 1.96).
#[test]
fn markdown_tables_hold_the_fixture_numbers() {
    let md = tables_markdown(&[adversarial_run(TANH, "bird"), corruption_run()]);
    for line in [
        "### runs/adv",
        "| model | adv. training | clean | FGSM | PGD | PGD-L2 |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
        "| cnn9-baseline | none | 85.00 (85.35) | 0.40 (18.82) | 1.00 | 20.00 |",
        "| cnn9-tanh-cosine | none | 90.00 (91.45) | 13.40 (52.60) | 1.20 | 20.00 |",
        "100 test images per cell; 95 % Wilson intervals are at most ±9.62 points.",
        "| model | clean | 4/255 | 8/255 |",
        "| cnn9-baseline | 85.00 | 42.70 | 0.40 |",
        "| source | cnn9-baseline | cnn9-tanh-cosine |",
        "| cnn9-baseline | - | 50.00 |",
        "| paper, Table 8 | (50.90) | (50.61) |",
        "| cnn9-tanh-cosine | 1 of 2 | - | monotone-in-eps |",
        "### runs/cor",
        "| cnn9-baseline | 80.00 | 67.50 | 100.00 | - |",
        "| cnn9-tanh-cosine | 82.00 | 69.75 | 106.83 | - |",
        "| gaussian_noise | noise | 65.00 | 66.50 |",
        "| fog | weather | 70.00 | 73.00 |",
        "| 1 | 72.50 | 74.50 |",
    ] {
        assert!(
            md.lines().any(|l| l == line),
            "missing line {line:?} in\n{md}"
        );
    }
    // Every table row has as many cells as its header.
    let mut cols = 0;
    for l in md.lines().filter(|l| l.starts_with('|')) {
        let n = l.matches(" | ").count() + 1;
        if l.starts_with("| --- ") {
            assert_eq!(n, cols, "alignment row {l}");
        } else if cols == 0 || !md.contains(&format!("{l}\n| ---")) {
            assert!(
                cols == 0 || n == cols,
                "row {l} has {n} cells, header {cols}"
            );
        }
        if md.contains(&format!("{l}\n| ---")) {
            cols = n;
        }
    }
}

#[test]
fn csv_tables_hold_the_fixture_numbers() {
    let files = tables_csv(&[adversarial_run(TANH, "bird"), corruption_run()]);
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "adversarial_headline.csv",
            "adversarial_cells.csv",
            "adversarial_transfer.csv",
            "corruption_cells.csv",
            "corruption_summary.csv",
            "corruption_ce.csv"
        ]
    );
    let get = |n: &str| &files.iter().find(|(f, _)| f == n).unwrap().1;
    let headline = get("adversarial_headline.csv");
    assert!(headline.starts_with("run,model,adversarial_training,attack,norm,eps,accuracy\n"));
    assert!(headline.contains(&format!(
        "runs/adv,cnn9-tanh-cosine,,fgsm,linf,{},0.134\n",
        8.0 / 255.0
    )));
    assert!(headline.contains("runs/adv,cnn9-baseline,,none,,0,0.85\n"));
    assert!(headline.contains("runs/adv,cnn9-baseline,,pgd-l2,l2,0.5,0.2\n"));
    assert!(get("corruption_cells.csv").contains("runs/cor,cnn9-tanh-cosine,fog,weather,1,0.77\n"));
    assert!(get("corruption_ce.csv").contains("runs/cor,cnn9-tanh-cosine,gaussian_noise,106.83,\n"));
    // Hostile names are quoted, not split.
    let files = tables_csv(&[adversarial_run("a,\"b\"", "bird")]);
    assert!(files[0].1.contains("\"a,\"\"b\"\"\""));
}

/// Oracle: the fixture's point count — one `<circle` per finite feature point — and escaping of
/// a hostile model name in the scatter's SVG title.
#[test]
fn feature_scatter_plots_every_point() {
    let mut run = corruption_run();
    run.features = vec![dcrobust_reports::Features2d {
        model: "<script>alert(1)</script>".into(),
        classes: vec!["a".into(), "b".into()],
        x: vec![0.0, 1.0, 2.0, f32::NAN],
        y: vec![1.0, 0.5, -1.0, 0.0],
        labels: vec![0, 1, 1, 0],
    }];
    let page = dcrobust_reports::render(&[run]);
    assert!(page.contains("2-D features"));
    // The scatter (the last chart of the page) draws one circle per finite point.
    let scatter = &page[page.find("2-D features").unwrap()..];
    assert_eq!(scatter.matches("<circle").count(), 3);
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!page.contains("<script"));
}
