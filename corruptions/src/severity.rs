//! The severity level of a corruption.

/// A corruption severity, 1 (mildest) to 5 (strongest), as in CIFAR-10-C; written in results
/// files as the number.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "i64", into = "u8")]
pub struct Severity(u8);

/// A severity outside 1..=5.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("severity {0} is out of range: expected 1 to 5")]
pub struct SeverityError(pub i64);

impl Severity {
    /// All five severities, mildest first.
    pub const ALL: [Severity; 5] = [
        Severity(1),
        Severity(2),
        Severity(3),
        Severity(4),
        Severity(5),
    ];

    /// The severity as a number, 1 to 5.
    pub fn get(self) -> u8 {
        self.0
    }

    /// Index into a five-entry severity table, 0 to 4.
    pub fn index(self) -> usize {
        usize::from(self.0 - 1)
    }
}

impl TryFrom<i64> for Severity {
    type Error = SeverityError;

    fn try_from(v: i64) -> Result<Self, Self::Error> {
        match u8::try_from(v) {
            Ok(s @ 1..=5) => Ok(Severity(s)),
            _ => Err(SeverityError(v)),
        }
    }
}

impl From<Severity> for u8 {
    fn from(s: Severity) -> u8 {
        s.0
    }
}

impl std::str::FromStr for Severity {
    type Err = String;

    /// Parses `1` to `5`; the error names the value and the range.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let v: i64 = s
            .trim()
            .parse()
            .map_err(|_| format!("severity `{s}` is not a whole number: expected 1 to 5"))?;
        Severity::try_from(v).map_err(|e| e.to_string())
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Oracle: CIFAR-10-C defines severities 1..=5 only; 0 and 6 must be refused.
    #[test]
    fn only_one_to_five_are_severities() {
        for v in [-1, 0, 6, 256] {
            assert_eq!(Severity::try_from(v), Err(SeverityError(v)));
        }
        for v in 1..=5 {
            let s = Severity::try_from(v).unwrap();
            assert_eq!(i64::from(s.get()), v);
            assert_eq!(s.index() as i64, v - 1);
        }
        assert_eq!(
            SeverityError(6).to_string(),
            "severity 6 is out of range: expected 1 to 5"
        );
    }
}
