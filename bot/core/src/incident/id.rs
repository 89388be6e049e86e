//! `IncidentId`: `IMS-YYYYMMDD-NNN`, a per-day sequence. Allocation lives in the store
//! (it must survive restarts); this file only parses and prints.

use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// An incident id such as `IMS-20261123-001`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IncidentId {
    date: NaiveDate,
    seq: u32,
}

/// Why a string is not an incident id.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an incident id (expected IMS-YYYYMMDD-NNN, e.g. IMS-20261123-001)")]
pub struct InvalidIncidentId(pub String);

impl IncidentId {
    /// The id for sequence number `seq` (1-based) on `date`.
    pub fn new(date: NaiveDate, seq: u32) -> Self {
        Self { date, seq }
    }

    /// Parses `IMS-YYYYMMDD-NNN` (case-insensitive prefix, at least three digits).
    ///
    /// # Errors
    /// [`InvalidIncidentId`] for anything else.
    pub fn parse(s: &str) -> Result<Self, InvalidIncidentId> {
        let bad = || InvalidIncidentId(s.chars().take(64).collect());
        let mut parts = s.split('-');
        let (Some(prefix), Some(day), Some(seq), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        if !prefix.eq_ignore_ascii_case("IMS")
            || day.len() != 8
            || seq.len() < 3
            || seq.len() > 6
            || !day.bytes().all(|b| b.is_ascii_digit())
            || !seq.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(bad());
        }
        let date = NaiveDate::parse_from_str(day, "%Y%m%d").map_err(|_| bad())?;
        let seq: u32 = seq.parse().map_err(|_| bad())?;
        if seq == 0 {
            return Err(bad());
        }
        Ok(Self { date, seq })
    }

    /// The day the id was allocated for.
    pub fn date(&self) -> NaiveDate {
        self.date
    }

    /// The per-day sequence number (1-based).
    pub fn seq(&self) -> u32 {
        self.seq
    }
}

impl fmt::Display for IncidentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IMS-{}-{:03}", self.date.format("%Y%m%d"), self.seq)
    }
}

impl TryFrom<String> for IncidentId {
    type Error = InvalidIncidentId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<IncidentId> for String {
    fn from(id: IncidentId) -> Self {
        id.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_and_parses_the_same_id() {
        let id = IncidentId::new(NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(), 7);
        assert_eq!(id.to_string(), "IMS-20261123-007");
        assert_eq!(IncidentId::parse("ims-20261123-007").unwrap(), id);
        assert_eq!(IncidentId::parse("IMS-20261123-1234").unwrap().seq(), 1234);
    }

    #[test]
    fn rejects_ids_with_bad_dates_or_sequences() {
        for s in [
            "IMS-20261332-001",
            "IMS-2026112-001",
            "IMS-20261123-01",
            "IMS-20261123-000",
            "INC-20261123-001",
            "IMS-20261123-001-x",
            "",
        ] {
            assert!(IncidentId::parse(s).is_err(), "{s}");
        }
    }
}
