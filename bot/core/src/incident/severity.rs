//! Severity P1 (worst) to P4.

use serde::{Deserialize, Serialize};

/// Incident severity; 1 is the most severe. Display names come from config.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Severity(u8);

/// Why a string is not a severity.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a severity (use P1, P2, P3 or P4)")]
pub struct InvalidSeverity(pub String);

impl Severity {
    /// The most severe level.
    pub const P1: Severity = Severity(1);
    /// Major.
    pub const P2: Severity = Severity(2);
    /// Minor.
    pub const P3: Severity = Severity(3);
    /// Low.
    pub const P4: Severity = Severity(4);
    /// All levels, worst first.
    pub const ALL: [Severity; 4] = [Self::P1, Self::P2, Self::P3, Self::P4];

    /// Parses `P1`…`P4`, `SEV1`…`SEV4` (any case).
    ///
    /// # Errors
    /// [`InvalidSeverity`] otherwise.
    pub fn parse(s: &str) -> Result<Self, InvalidSeverity> {
        let lower = s.trim().to_ascii_lowercase();
        let digits = lower
            .strip_prefix("sev")
            .or_else(|| lower.strip_prefix('p'));
        match digits {
            Some("1") => Ok(Self::P1),
            Some("2") => Ok(Self::P2),
            Some("3") => Ok(Self::P3),
            Some("4") => Ok(Self::P4),
            _ => Err(InvalidSeverity(s.chars().take(32).collect())),
        }
    }

    /// The level number, 1…4.
    pub fn level(self) -> u8 {
        self.0
    }

    /// `P1`…`P4`.
    pub fn code(self) -> String {
        format!("P{}", self.0)
    }
}

impl TryFrom<String> for Severity {
    type Error = InvalidSeverity;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Severity> for String {
    fn from(s: Severity) -> Self {
        s.code()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_p_and_sev_forms_and_rejects_the_rest() {
        assert_eq!(Severity::parse("p2").unwrap(), Severity::P2);
        assert_eq!(Severity::parse("SEV1").unwrap(), Severity::P1);
        assert!(Severity::parse("P5").is_err());
        assert!(Severity::parse("P").is_err());
    }
}
