//! Checks that a model's clean predictions come from a working classifier: a model that puts
//! most images in two classes, or classifies at about chance level, makes every robust accuracy
//! meaningless (an attack cannot flip a prediction that ignores the image). Both suites run
//! these on the clean predictions of the evaluated images; the thresholds are documented in
//! docs/attacks.md ("Gradient-masking checks").

use crate::{Check, CheckStatus};

/// Share of the clean predictions in the two most predicted classes above which
/// `collapsed-predictions` fails (with at least [`TOP2_MIN_CLASSES`] classes).
pub const TOP2_FAIL: f64 = 0.5;
/// Share of the two most predicted classes above which `collapsed-predictions` warns.
pub const TOP2_WARN: f64 = 0.4;
/// Fewest classes for which the two-class share is judged (with 4 classes, 50 % is balanced).
pub const TOP2_MIN_CLASSES: usize = 5;
/// Normalised prediction entropy (H / ln K, 1 for balanced predictions, 0 for one class) below
/// which `collapsed-predictions` fails: predictions spread evenly over 4 of 10 classes give 0.60.
pub const ENTROPY_FAIL: f64 = 0.6;
/// Normalised prediction entropy below which `collapsed-predictions` warns (evenly over 6 of
/// 10 classes: 0.78).
pub const ENTROPY_WARN: f64 = 0.75;
/// Smallest margin above chance (1/K) that `near-chance` asks of clean accuracy; with few
/// images the margin is three standard errors of a chance-level classifier's accuracy instead.
pub const CHANCE_MARGIN: f64 = 0.05;

/// Normalised entropy of a prediction histogram: H(p) / ln K with p the predicted-class shares,
/// in [0, 1]; 1 for K < 2 or no predictions.
pub fn normalised_entropy(counts: &[usize]) -> f64 {
    let n: usize = counts.iter().sum();
    if counts.len() < 2 || n == 0 {
        return 1.0;
    }
    let h: f64 = counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / n as f64;
            -p * p.ln()
        })
        .sum();
    h / (counts.len() as f64).ln()
}

/// Share of the predictions in the two most predicted classes (0 without predictions).
pub fn top2_share(counts: &[usize]) -> f64 {
    let n: usize = counts.iter().sum();
    if n == 0 {
        return 0.0;
    }
    let mut sorted = counts.to_vec();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    sorted.iter().take(2).sum::<usize>() as f64 / n as f64
}

/// The margin above chance that `near-chance` asks for with `classes` classes and `n` images:
/// the larger of [`CHANCE_MARGIN`] and 3·sqrt(c(1−c)/n), c = 1/classes.
pub fn chance_margin(classes: usize, n: usize) -> f64 {
    let c = 1.0 / classes.max(1) as f64;
    CHANCE_MARGIN.max(3.0 * (c * (1.0 - c) / n.max(1) as f64).sqrt())
}

/// `collapsed-predictions` and `near-chance` from the clean prediction histogram `counts`
/// (length = classes, summing to the images evaluated) and the clean accuracy. Empty without
/// predictions (results written before the histogram was recorded).
pub fn prediction_checks(counts: &[usize], clean_accuracy: f64) -> Vec<Check> {
    let n: usize = counts.iter().sum();
    let k = counts.len();
    if n == 0 || k < 2 {
        return Vec::new();
    }
    let mut out = Vec::new();
    let h = normalised_entropy(counts);
    let top2 = top2_share(counts);
    let judge_top2 = k >= TOP2_MIN_CLASSES;
    let status = if h < ENTROPY_FAIL || (judge_top2 && top2 > TOP2_FAIL) {
        CheckStatus::Fail
    } else if h < ENTROPY_WARN || (judge_top2 && top2 > TOP2_WARN) {
        CheckStatus::Warn
    } else {
        CheckStatus::Pass
    };
    let shares = format!(
        "the two most predicted classes take {:.1}% of {n} clean predictions, normalised \
         prediction entropy {h:.2}",
        100.0 * top2
    );
    out.push(Check {
        name: "collapsed-predictions".into(),
        status,
        detail: match status {
            CheckStatus::Pass => format!("{shares}: predictions are spread over the classes"),
            _ => format!(
                "{shares} (fails above {:.0}% or below {ENTROPY_FAIL}, warns above {:.0}% or \
                 below {ENTROPY_WARN}): the model ignores much of the image, so attacks have \
                 little to flip and its robust accuracies say nothing about robustness",
                100.0 * TOP2_FAIL,
                100.0 * TOP2_WARN
            ),
        },
    });
    let chance = 1.0 / k as f64;
    let margin = chance_margin(k, n);
    let status = if clean_accuracy < chance + margin {
        CheckStatus::Fail
    } else if clean_accuracy < chance + 2.0 * margin {
        CheckStatus::Warn
    } else {
        CheckStatus::Pass
    };
    out.push(Check {
        name: "near-chance".into(),
        status,
        detail: format!(
            "clean accuracy {:.2}% against chance {:.2}% ({k} classes); {}",
            100.0 * clean_accuracy,
            100.0 * chance,
            match status {
                CheckStatus::Pass => format!("more than {:.1} points above it", 200.0 * margin),
                CheckStatus::Warn => format!(
                    "within {:.1} points of it: robust accuracies of so weak a model say little",
                    200.0 * margin
                ),
                CheckStatus::Fail => format!(
                    "within {:.1} points of it: the model has not learnt the task, so its \
                     robust accuracies are meaningless",
                    100.0 * margin
                ),
            }
        ),
    });
    out
}

/// Per-class counts of `predictions` over `classes` classes (predictions out of range are not
/// counted).
pub fn prediction_counts(
    predictions: impl IntoIterator<Item = usize>,
    classes: usize,
) -> Vec<usize> {
    let mut counts = vec![0; classes];
    for p in predictions {
        if let Some(c) = counts.get_mut(p) {
            *c += 1;
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Oracle: closed forms. Balanced predictions have entropy ln K / ln K = 1; two of ten
    /// classes evenly give ln 2 / ln 10 = 0.30103; one class gives 0.
    #[test]
    fn entropy_and_top2_follow_their_closed_forms() {
        assert!((normalised_entropy(&[5; 10]) - 1.0).abs() < 1e-12);
        let two = [50, 50, 0, 0, 0, 0, 0, 0, 0, 0];
        assert!((normalised_entropy(&two) - 2f64.ln() / 10f64.ln()).abs() < 1e-12);
        assert_eq!(normalised_entropy(&[7, 0, 0]), 0.0);
        assert_eq!(top2_share(&two), 1.0);
        assert!((top2_share(&[10; 10]) - 0.2).abs() < 1e-12);
        assert_eq!(prediction_counts([0, 2, 2, 9, 1], 3), vec![1, 1, 2]);
    }

    /// Oracle: the thresholds by hand. 84 % of predictions in two classes (the collapse the
    /// default run once showed) fails; 45 % warns; a balanced histogram passes. At 300 images
    /// and 10 classes the chance margin is max(5 %, 3·sqrt(0.09/300) = 5.196 %) = 5.196 %:
    /// 15 % fails, 20 % warns, 21 % passes.
    #[test]
    fn collapse_and_chance_are_graded_by_the_documented_thresholds() {
        let status = |counts: &[usize], acc: f64| {
            prediction_checks(counts, acc)
                .iter()
                .map(|c| (c.name.clone(), c.status))
                .collect::<Vec<_>>()
        };
        let collapsed = [126, 126, 6, 6, 6, 6, 6, 6, 6, 6];
        assert_eq!(
            status(&collapsed, 0.9)[0],
            ("collapsed-predictions".into(), CheckStatus::Fail)
        );
        let leaning = [70, 65, 21, 21, 21, 21, 21, 20, 20, 20];
        assert_eq!(status(&leaning, 0.9)[0].1, CheckStatus::Warn);
        let balanced = [30; 10];
        assert_eq!(status(&balanced, 0.9)[0].1, CheckStatus::Pass);
        assert!((chance_margin(10, 300) - 0.051962).abs() < 1e-6);
        assert_eq!(chance_margin(10, 100_000), CHANCE_MARGIN);
        assert_eq!(
            status(&balanced, 0.15)[1],
            ("near-chance".into(), CheckStatus::Fail)
        );
        assert_eq!(status(&balanced, 0.20)[1].1, CheckStatus::Warn);
        assert_eq!(status(&balanced, 0.21)[1].1, CheckStatus::Pass);
        // Four balanced classes: the two-class share (50 %) is not judged, entropy 1 passes.
        assert_eq!(status(&[25; 4], 0.9)[0].1, CheckStatus::Pass);
        assert!(prediction_checks(&[], 0.5).is_empty());
    }
}
