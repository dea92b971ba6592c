//! The committed results (`docs/results/*/summary.json`) read into the typed schema and write
//! back byte for byte, as the run that made them wrote them.

use std::path::{Path, PathBuf};

use dcrobust_reports::{AdversarialSummary, AttackId, CorruptionSummary};

/// Every committed `summary.json` (`docs/results/*/` and the AutoAttack runs in
/// `docs/results/autoattack/*/`), in name order.
fn committed_summaries() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/results");
    let runs = |dir: &Path| -> Vec<PathBuf> {
        std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path().join("summary.json"))
            .filter(|p| p.is_file())
            .collect()
    };
    let mut out = runs(&dir);
    out.extend(runs(&dir.join("autoattack")));
    out.sort();
    out
}

/// `value` as a run writes it: pretty JSON and a final newline (`write_json_atomic`).
fn written<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value).unwrap() + "\n"
}

/// Asserts that `got` is `expected` byte for byte, line by line, except that a number may
/// differ in its last digits: serde_json (without its `float_roundtrip` feature) reads a
/// decimal to within a unit in the last place, so a re-written float can differ there. Names,
/// keys, layout and every other token must be identical.
fn same_but_float_parsing(got: &str, expected: &str, path: &Path) {
    let (g, e): (Vec<&str>, Vec<&str>) = (got.lines().collect(), expected.lines().collect());
    assert_eq!(g.len(), e.len(), "{}: line count", path.display());
    assert_eq!(got.ends_with('\n'), expected.ends_with('\n'));
    for (k, (a, b)) in g.iter().zip(&e).enumerate() {
        if a == b {
            continue;
        }
        // `  "key": NUMBER,` with the same key and punctuation, numbers within 4 ulp.
        let (Some((ha, x, ta)), Some((hb, y, tb))) = (number_line(a), number_line(b)) else {
            panic!("{} line {}: {a:?} != {b:?}", path.display(), k + 1);
        };
        let ulps = (x.to_bits() as i64 - y.to_bits() as i64).unsigned_abs();
        assert!(
            ha == hb && ta == tb && ulps <= 4,
            "{} line {}: {a:?} != {b:?}",
            path.display(),
            k + 1
        );
    }
}

/// A line holding one number, as `(text before it, the number, "," or "")`.
fn number_line(l: &str) -> Option<(&str, f64, &str)> {
    let start = l
        .rfind(": ")
        .map_or(l.len() - l.trim_start().len(), |i| i + 2);
    let (head, rest) = l.split_at(start);
    let (num, tail) = rest.strip_suffix(',').map_or((rest, ""), |n| (n, ","));
    Some((head, num.parse().ok()?, tail))
}

/// Oracle: the files themselves. Each adversarial summary reads into [`AdversarialSummary`] and
/// writes back to the same bytes, apart from `strong_attacks`, which these summaries predate:
/// it reads as [`AttackId::strong`] and is written last, so the file plus that field is the
/// output. Corruption summaries hold no attacks and must round-trip too. At least one summary of
/// each suite is committed, and the adversarial ones hold the worst case and transfer cells.
#[test]
fn committed_summaries_round_trip_byte_for_byte() {
    let (mut adversarial, mut corruption, mut worst, mut transfer) = (0, 0, 0, 0);
    for path in committed_summaries() {
        let text = std::fs::read_to_string(&path).unwrap();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        if value.get("headline_linf").is_some() {
            adversarial += 1;
            let s: AdversarialSummary =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            worst += s
                .models
                .iter()
                .flat_map(|m| &m.cells)
                .filter(|c| c.attack == AttackId::WorstCase)
                .count();
            transfer += s.transfer.len();
            let expected = if value.get("strong_attacks").is_some() {
                text.clone()
            } else {
                assert_eq!(s.strong_attacks, AttackId::strong(), "{}", path.display());
                let strong = serde_json::to_string_pretty(&s.strong_attacks)
                    .unwrap()
                    .replace('\n', "\n  ");
                let body = text.strip_suffix("\n}\n").expect("a pretty JSON object");
                format!("{body},\n  \"strong_attacks\": {strong}\n}}\n")
            };
            same_but_float_parsing(&written(&s), &expected, &path);
        } else {
            corruption += 1;
            let s: CorruptionSummary =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            same_but_float_parsing(&written(&s), &text, &path);
        }
    }
    assert!(
        adversarial >= 1 && corruption >= 1,
        "{adversarial} {corruption}"
    );
    assert!(worst >= 1 && transfer >= 1, "{worst} {transfer}");
}

/// Oracle: the message of [`dcrobust_reports::UnknownAttack`]: a summary whose cell names an
/// attack outside the registry and the pseudo-attacks does not load, and the error names the
/// value and the expected names.
#[test]
fn a_summary_with_an_unknown_attack_is_refused() {
    let path = committed_summaries()
        .into_iter()
        .find(|p| {
            std::fs::read_to_string(p)
                .unwrap()
                .contains("\"attack\": \"fgsm\"")
        })
        .unwrap();
    let text = std::fs::read_to_string(path).unwrap();
    let bad = text.replacen("\"attack\": \"fgsm\"", "\"attack\": \"fgsm-9000\"", 1);
    assert_ne!(bad, text);
    let e = serde_json::from_str::<AdversarialSummary>(&bad)
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown attack `fgsm-9000`"), "{e}");
    assert!(e.contains("expected one of fgsm, bim, pgd"), "{e}");
    assert!(e.contains("worst-case"), "{e}");
}
