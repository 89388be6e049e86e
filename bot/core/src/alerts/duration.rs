//! Durations as people write them in configuration: `30s`, `5m`, `1h30m`, `2d`
//! (or a bare number of seconds). Serialized back in the same form.

use std::fmt;

use chrono::Duration;
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A non-negative duration with a human-readable serde form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Dur(i64);

/// Why a duration text was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a duration (use 30s, 5m, 1h30m or 2d)")]
pub struct InvalidDuration(pub String);

/// The longest duration accepted (about ten years), so arithmetic never overflows.
const MAX_SECS: i64 = 10 * 366 * 86_400;

impl Dur {
    /// `n` seconds (clamped to 0..=ten years).
    pub const fn secs(n: i64) -> Self {
        Self(if n < 0 {
            0
        } else if n > MAX_SECS {
            MAX_SECS
        } else {
            n
        })
    }

    /// `n` minutes.
    pub const fn mins(n: i64) -> Self {
        Self::secs(n * 60)
    }

    /// `n` hours.
    pub const fn hours(n: i64) -> Self {
        Self::secs(n * 3600)
    }

    /// Whole seconds.
    pub fn as_secs(self) -> i64 {
        self.0
    }

    /// As a chrono duration.
    pub fn get(self) -> Duration {
        Duration::seconds(self.0)
    }

    /// Reads `30s`, `5m`, `1h30m`, `2d`, `1w`, `250ms` (rounded up to a second) or
    /// a bare number of seconds.
    ///
    /// # Errors
    /// [`InvalidDuration`] for anything else.
    pub fn parse(text: &str) -> Result<Self, InvalidDuration> {
        let t = text.trim();
        let bad = || InvalidDuration(t.chars().take(32).collect());
        if t.is_empty() {
            return Err(bad());
        }
        if let Ok(n) = t.parse::<i64>() {
            return if (0..=MAX_SECS).contains(&n) {
                Ok(Self(n))
            } else {
                Err(bad())
            };
        }
        // One count and a unit as people type it: `2 hours`, `两小时`, `一个半小时`.
        if let Some(d) = crate::time::parse_span(t).filter(|d| d.num_seconds() <= MAX_SECS) {
            return Ok(Self(d.num_seconds()));
        }
        let digits = crate::time::all_digits(t);
        let mut total: i64 = 0;
        let mut rest = digits.as_str();
        while !rest.is_empty() {
            let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
            if digits == 0 || digits > 9 {
                return Err(bad());
            }
            let n: i64 = rest[..digits].parse().map_err(|_| bad())?;
            rest = &rest[digits..];
            let unit_len = rest
                .find(|c: char| c.is_ascii_digit())
                .unwrap_or(rest.len());
            let secs = match &rest[..unit_len] {
                "ms" => (n + 999) / 1000,
                "s" | "秒" | "秒钟" => n,
                "m" | "分" | "分钟" => n * 60,
                "h" | "小时" | "个小时" => n * 3600,
                "d" | "天" => n * 86_400,
                "w" | "周" => n * 7 * 86_400,
                _ => return Err(bad()),
            };
            rest = &rest[unit_len..];
            total = total.checked_add(secs).ok_or_else(bad)?;
            if total > MAX_SECS {
                return Err(bad());
            }
        }
        Ok(Self(total))
    }
}

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = self.0;
        if s == 0 {
            return f.write_str("0s");
        }
        for (unit, len) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
            if s >= len {
                write!(f, "{}{unit}", s / len)?;
                s %= len;
            }
        }
        Ok(())
    }
}

impl Serialize for Dur {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Dur;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as \"30s\", \"5m\", \"1h30m\" or a number of seconds")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Dur, E> {
                Dur::parse(v).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Dur, E> {
                if (0..=MAX_SECS).contains(&v) {
                    Ok(Dur(v))
                } else {
                    Err(E::custom(InvalidDuration(v.to_string())))
                }
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Dur, E> {
                self.visit_i64(i64::try_from(v).unwrap_or(i64::MAX))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_units_and_print_back_the_same_way() {
        assert_eq!(Dur::parse("30s").unwrap(), Dur::secs(30));
        assert_eq!(Dur::parse("1h30m").unwrap(), Dur::mins(90));
        assert_eq!(Dur::parse("90").unwrap(), Dur::secs(90));
        assert_eq!(Dur::mins(90).to_string(), "1h30m");
        assert_eq!(Dur::parse("2d").unwrap().to_string(), "2d");
        assert_eq!(
            Dur::parse("2小时").unwrap(),
            Dur::hours(2),
            "as typed in Chinese"
        );
        assert_eq!(Dur::parse("1小时30分钟").unwrap(), Dur::mins(90));
        assert_eq!(Dur::parse("3天").unwrap(), Dur::hours(72));
        assert_eq!(Dur::parse("两小时").unwrap(), Dur::hours(2));
        assert_eq!(Dur::parse("2 hours").unwrap(), Dur::hours(2));
        assert_eq!(Dur::parse("一个半小时").unwrap(), Dur::mins(90));
        assert_eq!(Dur::parse("一小时三十分钟").unwrap(), Dur::mins(90));
        assert_eq!(Dur::parse("两周").unwrap(), Dur::hours(14 * 24));
        for bad in ["", "5x", "m", "-5m", "99999999999d", "1.5h"] {
            assert!(Dur::parse(bad).is_err(), "{bad}");
        }
    }
}
