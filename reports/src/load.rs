//! Reading a run directory (`summary.json`, `suite.json`, `models/*/history.json`, example PNGs)
//! into [`RunResults`].

use std::collections::BTreeMap;
use std::path::{Component, Path};

use serde::de::DeserializeOwned;

use crate::{AdversarialSummary, CorruptionSummary, ReportError, RunResults, TrainingHistory};

/// Which suite wrote a summary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SuiteKind {
    Adversarial,
    Corruption,
}

fn read_bytes(path: &Path) -> Result<Vec<u8>, ReportError> {
    std::fs::read(path).map_err(|error| ReportError::Io {
        path: path.to_path_buf(),
        error,
    })
}

fn parse_json<T: DeserializeOwned>(path: &Path, bytes: &[u8]) -> Result<T, ReportError> {
    serde_json::from_slice(bytes).map_err(|error| ReportError::Json {
        path: path.to_path_buf(),
        error,
    })
}

/// A parsed `summary.json`, of the suite that wrote it.
#[derive(Clone, Debug, PartialEq)]
pub enum Summary {
    /// An adversarial-suite summary.
    Adversarial(AdversarialSummary),
    /// A corruption-suite summary.
    Corruption(CorruptionSummary),
}

/// Parses the bytes of a `summary.json` (`path` names it in errors). The suite is the one named
/// by `suite_config`'s `"suite"` (the run's parsed `suite.json`, if any), else the one whose
/// summary fields are present.
pub fn parse_summary(
    path: &Path,
    bytes: &[u8],
    suite_config: Option<&serde_json::Value>,
) -> Result<Summary, ReportError> {
    let value: serde_json::Value = parse_json(path, bytes)?;
    match suite_kind(suite_config, &value) {
        Some(SuiteKind::Adversarial) => Ok(Summary::Adversarial(parse_json(path, bytes)?)),
        Some(SuiteKind::Corruption) => Ok(Summary::Corruption(parse_json(path, bytes)?)),
        None => Err(ReportError::UnknownSuite {
            path: path.to_path_buf(),
        }),
    }
}

/// Parses the bytes of a `suite.json` (the resolved suite configuration; any JSON value).
pub fn parse_suite(path: &Path, bytes: &[u8]) -> Result<serde_json::Value, ReportError> {
    parse_json(path, bytes)
}

/// Parses the bytes of a `models/<name>/history.json`.
pub fn parse_history(path: &Path, bytes: &[u8]) -> Result<TrainingHistory, ReportError> {
    parse_json(path, bytes)
}

/// Parses the bytes of a `features/<name>.json`.
pub fn parse_features(path: &Path, bytes: &[u8]) -> Result<crate::Features2d, ReportError> {
    parse_json(path, bytes)
}

/// The suite named by `suite.json`'s `"suite"` field, else the one whose summary fields are
/// present (`headline_linf` only in adversarial summaries, `corrupt_seconds` only in corruption
/// summaries).
fn suite_kind(suite: Option<&serde_json::Value>, summary: &serde_json::Value) -> Option<SuiteKind> {
    match suite.and_then(|s| s.get("suite")).and_then(|s| s.as_str()) {
        Some("adversarial") => return Some(SuiteKind::Adversarial),
        Some("corruption") => return Some(SuiteKind::Corruption),
        _ => {}
    }
    if summary.get("headline_linf").is_some() {
        Some(SuiteKind::Adversarial)
    } else if summary.get("corrupt_seconds").is_some() {
        Some(SuiteKind::Corruption)
    } else {
        None
    }
}

/// A summary-named image path that stays inside the run directory (relative, no `..`).
fn is_inside(rel: &str) -> bool {
    let p = Path::new(rel);
    !rel.is_empty() && p.components().all(|c| matches!(c, Component::Normal(_)))
}

/// Loads one run directory.
///
/// Reads `DIR/summary.json` (required; adversarial or corruption, decided by `DIR/suite.json`'s
/// `"suite"` or else by the summary's fields), `DIR/suite.json` (optional),
/// `DIR/models/*/history.json` (each optional, in directory-name order) and every example PNG the
/// summary names. A PNG that is missing, or whose path leaves the run directory, is skipped (the
/// page says so); a missing summary or any file with invalid JSON is an error naming the file.
pub fn load_run(dir: &Path) -> Result<RunResults, ReportError> {
    let summary_path = dir.join("summary.json");
    let summary_bytes = read_bytes(&summary_path)?;
    // Invalid JSON in the summary is reported before anything else is read.
    let _: serde_json::Value = parse_json(&summary_path, &summary_bytes)?;

    let suite_path = dir.join("suite.json");
    let suite_config: Option<serde_json::Value> = if suite_path.is_file() {
        Some(parse_suite(&suite_path, &read_bytes(&suite_path)?)?)
    } else {
        None
    };

    let mut run = RunResults {
        dir_label: dir.display().to_string(),
        suite_config,
        ..RunResults::default()
    };
    let mut pngs: Vec<String> = Vec::new();
    match parse_summary(&summary_path, &summary_bytes, run.suite_config.as_ref())? {
        Summary::Adversarial(s) => {
            for e in &s.examples {
                pngs.push(e.clean_png.clone());
                pngs.push(e.adv_png.clone());
            }
            run.adversarial = Some(s);
        }
        Summary::Corruption(s) => {
            pngs.extend(s.examples.iter().map(|e| e.png.clone()));
            run.corruption = Some(s);
        }
    }

    let models = dir.join("models");
    if models.is_dir() {
        let entries = std::fs::read_dir(&models).map_err(|error| ReportError::Io {
            path: models.clone(),
            error,
        })?;
        let mut files: Vec<_> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.path().join("history.json"))
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        for f in files {
            run.histories.push(parse_history(&f, &read_bytes(&f)?)?);
        }
    }

    let features = dir.join("features");
    if features.is_dir() {
        let entries = std::fs::read_dir(&features).map_err(|error| ReportError::Io {
            path: features.clone(),
            error,
        })?;
        let mut files: Vec<_> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        for f in files {
            run.features.push(parse_features(&f, &read_bytes(&f)?)?);
        }
    }

    let mut images = BTreeMap::new();
    for rel in pngs {
        if images.contains_key(&rel) || !is_inside(&rel) {
            continue;
        }
        if let Ok(bytes) = std::fs::read(dir.join(&rel)) {
            images.insert(rel, bytes);
        }
    }
    run.images = images;
    // Histories in the run's model order (the summaries'), so that tables and charts list the
    // models alike; histories of models no summary names follow, by name.
    let order: Vec<String> = run
        .adversarial
        .iter()
        .flat_map(|s| s.models.iter().map(|m| m.model.clone()))
        .chain(
            run.corruption
                .iter()
                .flat_map(|s| s.models.iter().map(|m| m.model.clone())),
        )
        .collect();
    run.histories.sort_by_key(|h| {
        (
            order
                .iter()
                .position(|m| *m == h.model)
                .unwrap_or(usize::MAX),
            h.model.clone(),
        )
    });
    Ok(run)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Oracle: the path rule by hand: relative plain paths pass; absolute paths, `..` and empty
    /// strings do not.
    #[test]
    fn image_paths_must_stay_inside_the_run() {
        assert!(is_inside("examples/clean-0.png"));
        assert!(!is_inside("/etc/passwd"));
        assert!(!is_inside("examples/../../secret.png"));
        assert!(!is_inside(""));
    }

    /// Oracle: the decision table in `suite_kind`'s doc.
    #[test]
    fn suite_kind_prefers_suite_json_then_fields() {
        let adv = serde_json::json!({"headline_linf": 0.03});
        let cor = serde_json::json!({"corrupt_seconds": 1.0});
        let s_cor = serde_json::json!({"suite": "corruption"});
        assert_eq!(suite_kind(None, &adv), Some(SuiteKind::Adversarial));
        assert_eq!(suite_kind(None, &cor), Some(SuiteKind::Corruption));
        assert_eq!(suite_kind(Some(&s_cor), &adv), Some(SuiteKind::Corruption));
        assert_eq!(suite_kind(None, &serde_json::json!({})), None);
    }
}
