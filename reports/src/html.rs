//! HTML escaping, and the number formats and display names the page and the verdict share.

use crate::{AttackId, Norm};

/// Escapes `&`, `<`, `>`, `"` and `'`, so the text is safe in element content and in quoted
/// attribute values.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A fraction as a percentage with one decimal, e.g. `0.276` → `27.6%`; `–` for non-finite.
pub(crate) fn pct(x: f64) -> String {
    if x.is_finite() {
        format!("{:.1}%", x * 100.0)
    } else {
        "–".to_string()
    }
}

/// A value already in percent, with one decimal, e.g. `106.83` → `106.8%`.
pub(crate) fn pct_value(x: Option<f64>) -> String {
    match x {
        Some(v) if v.is_finite() => format!("{v:.1}%"),
        _ => "–".to_string(),
    }
}

/// A budget: L∞ budgets that are whole multiples of 1/255 as `k/255`, anything else as a short
/// decimal (e.g. `0.5`, `1`).
pub fn eps(e: f64, norm: Norm) -> String {
    let k = e * 255.0;
    if norm == Norm::Linf && e > 0.0 && e < 1.0 && (k - k.round()).abs() < 1e-6 {
        format!("{}/255", k.round() as i64)
    } else {
        let s = format!("{e:.4}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        s.to_string()
    }
}

/// An attack's display name, e.g. `pgd-l2` → `PGD-L2`.
pub(crate) fn attack_name(a: AttackId) -> String {
    a.name().to_uppercase()
}

/// A norm's display name: `linf` → `L∞`, `l2` → `L2`.
pub(crate) fn norm_name(norm: Norm) -> &'static str {
    match norm {
        Norm::Linf => "L∞",
        Norm::L2 => "L2",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Oracle: the five HTML special characters, replaced by hand.
    #[test]
    fn escapes_markup() {
        assert_eq!(
            esc("<script>alert('x\"&')</script>"),
            "&lt;script&gt;alert(&#39;x&quot;&amp;&#39;)&lt;/script&gt;"
        );
    }

    /// Oracle: 8/255 = 0.0313725… (an L∞ budget as a fraction of 255, the same value in L2 as a
    /// rounded decimal), 0.5 is not a multiple of 1/255 in L2, 0 stays 0.
    #[test]
    fn formats_budgets() {
        assert_eq!(eps(8.0 / 255.0, Norm::Linf), "8/255");
        assert_eq!(eps(8.0 / 255.0, Norm::L2), "0.0314");
        assert_eq!(eps(0.5, Norm::L2), "0.5");
        assert_eq!(eps(0.0, Norm::Linf), "0");
        assert_eq!(eps(1.0, Norm::Linf), "1");
        assert_eq!(pct(0.276), "27.6%");
        assert_eq!(pct_value(Some(106.834)), "106.8%");
    }
}
