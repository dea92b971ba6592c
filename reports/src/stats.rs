//! Confidence intervals for the accuracies the report quotes.

/// z of a two-sided 95 % normal interval.
const Z95: f64 = 1.959_963_984_540_054;

/// The 95 % Wilson score interval of an accuracy `p` measured on `n` images, as fractions in
/// [0, 1]: centre (p + z²/2n)/(1 + z²/n), half-width z·sqrt(p(1−p)/n + z²/4n²)/(1 + z²/n).
/// Unlike the normal approximation it stays inside [0, 1] and is not empty at 0 % or 100 %.
/// `(0, 1)` when `n` is 0.
pub fn wilson(p: f64, n: usize) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let n = n as f64;
    let z2 = Z95 * Z95;
    let d = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / d;
    let half = Z95 * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / d;
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Oracles: the textbook value for 50 of 100 (0.4038, 0.5962, e.g. R's
    /// `binom.confint(50, 100, methods = "wilson")`), and the closed form at p = 0: the interval
    /// is [0, z²/(n + z²)] (0.01264 for 300 images).
    #[test]
    fn wilson_matches_reference_values() {
        let (lo, hi) = wilson(0.5, 100);
        assert!(
            (lo - 0.4038).abs() < 1e-4 && (hi - 0.5962).abs() < 1e-4,
            "{lo} {hi}"
        );
        let (lo, hi) = wilson(0.0, 300);
        assert!(lo.abs() < 1e-12);
        assert!((hi - Z95 * Z95 / (300.0 + Z95 * Z95)).abs() < 1e-12);
        assert_eq!(wilson(0.3, 0), (0.0, 1.0));
    }
}
