//! The JSON files of a run directory that `dcrobust report` reads. The first byte picks the file
//! kind (summary.json, suite.json + summary.json, history.json, features/*.json); the rest is the
//! file's text. Whatever parses is rendered into the HTML page and CSV tables, as `dcrobust
//! report` does.
//! Oracle: parsing and rendering return, never panic.
#![no_main]

use std::path::Path;

use dcrobust_reports::{
    parse_features, parse_history, parse_suite, parse_summary, render, tables_csv, RunResults,
    Summary,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&kind, text)) = data.split_first() else {
        return;
    };
    let mut run = RunResults {
        dir_label: "run".to_string(),
        ..RunResults::default()
    };
    match kind % 4 {
        0 | 1 => {
            // Kind 1: a suite.json precedes the summary, separated by the first NUL byte.
            let (suite, summary) = if kind % 4 == 1 {
                match text.iter().position(|&b| b == 0) {
                    Some(i) => (Some(&text[..i]), &text[i + 1..]),
                    None => (None, text),
                }
            } else {
                (None, text)
            };
            let suite = match suite.map(|s| parse_suite(Path::new("suite.json"), s)) {
                Some(Ok(v)) => Some(v),
                Some(Err(_)) => return,
                None => None,
            };
            match parse_summary(Path::new("summary.json"), summary, suite.as_ref()) {
                Ok(Summary::Adversarial(s)) => run.adversarial = Some(s),
                Ok(Summary::Corruption(s)) => run.corruption = Some(s),
                Err(_) => return,
            }
            run.suite_config = suite;
        }
        2 => match parse_history(Path::new("models/m/history.json"), text) {
            Ok(h) => {
                run.histories.push(h);
            }
            Err(_) => return,
        },
        _ => match parse_features(Path::new("features/m.json"), text) {
            Ok(f) => {
                run.features.push(f);
            }
            Err(_) => return,
        },
    }
    let runs = [run];
    let _ = render(&runs);
    let _ = tables_csv(&runs);
});
