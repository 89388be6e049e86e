//! Silences: matchers over a time range, optionally only inside recurring local-time
//! windows (`daily 02:00–03:00`, `weekdays 22:00–02:00`).

use chrono::{DateTime, Datelike, Duration, NaiveTime, Timelike, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::matcher::{matches_all, Matcher};
use super::Labels;

/// A recurring window in the pipeline's time zone. A window whose end is not after its
/// start crosses midnight and belongs to the day it starts on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawRecurrence", into = "RawRecurrence")]
pub struct Recurrence {
    days: u8,
    start: NaiveTime,
    end: NaiveTime,
}

/// The serde form of a [`Recurrence`]: `{days = ["weekdays"], start = "02:00", end = "03:00"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRecurrence {
    /// `mon`…`sun`, `weekdays`, `weekends`, `daily` (empty = daily).
    #[serde(default)]
    pub days: Vec<String>,
    /// Local start, `HH:MM`.
    pub start: String,
    /// Local end, `HH:MM`.
    pub end: String,
}

/// Why a silence or recurrence was refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "problem", content = "text", rename_all = "snake_case")]
pub enum SilenceError {
    /// No matchers, or only matchers that also match an empty label (would silence everything).
    #[error("a silence needs at least one matcher that does not match the empty string")]
    MatchesEverything,
    /// Ends before it starts.
    #[error("the silence ends before it starts")]
    EndsBeforeStart,
    /// A day name we do not know.
    #[error("`{0}` is not a day (mon…sun, weekdays, weekends, daily)")]
    BadDay(String),
    /// A time of day we cannot read.
    #[error("`{0}` is not a time of day (HH:MM)")]
    BadTime(String),
    /// Start and end are the same instant of the day.
    #[error("a recurring window needs different start and end times")]
    EmptyWindow,
    /// Empty id.
    #[error("a silence needs an id")]
    NoId,
}

const ALL_DAYS: u8 = 0b111_1111;

fn day_bits(name: &str) -> Result<u8, SilenceError> {
    let n = name.trim().to_ascii_lowercase();
    Ok(match n.as_str() {
        "daily" | "everyday" | "all" | "*" => ALL_DAYS,
        "weekdays" | "mon-fri" => 0b001_1111,
        "weekends" | "sat-sun" => 0b110_0000,
        _ => {
            let wd: Weekday = n
                .parse()
                .map_err(|_| SilenceError::BadDay(name.chars().take(20).collect()))?;
            1 << wd.num_days_from_monday()
        }
    })
}

impl Recurrence {
    /// A window on `days` (see [`RawRecurrence`]) from `start` to `end` (`HH:MM`).
    ///
    /// # Errors
    /// [`SilenceError`] for unknown days, unreadable or equal times.
    pub fn new(days: &[&str], start: &str, end: &str) -> Result<Self, SilenceError> {
        Self::try_from(RawRecurrence {
            days: days.iter().map(|d| (*d).to_string()).collect(),
            start: start.into(),
            end: end.into(),
        })
    }

    fn has_day(&self, d: Weekday) -> bool {
        self.days & (1 << d.num_days_from_monday()) != 0
    }

    /// The window as the configuration writes it: `weekdays 02:00–03:00`,
    /// `daily 23:00–04:00`, `mon,thu 12:00–13:00`.
    pub fn describe(&self) -> String {
        const NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
        let days = match self.days {
            ALL_DAYS => "daily".to_string(),
            0b001_1111 => "weekdays".to_string(),
            0b110_0000 => "weekends".to_string(),
            bits => NAMES
                .iter()
                .enumerate()
                .filter(|(i, _)| bits & (1 << i) != 0)
                .map(|(_, n)| *n)
                .collect::<Vec<_>>()
                .join(","),
        };
        format!(
            "{days} {}–{}",
            self.start.format("%H:%M"),
            self.end.format("%H:%M")
        )
    }

    /// Whether local time `t` (in `tz`) is inside a window.
    pub fn contains(&self, t: DateTime<Utc>, tz: Tz) -> bool {
        let local = t.with_timezone(&tz);
        let tod = local.time().with_nanosecond(0).unwrap_or(local.time());
        let today = local.weekday();
        if self.start < self.end {
            self.has_day(today) && tod >= self.start && tod < self.end
        } else {
            (self.has_day(today) && tod >= self.start)
                || (self.has_day(today.pred()) && tod < self.end)
        }
    }

    /// The next instant after `t` at which [`Recurrence::contains`] may change (a window
    /// edge), at most a day ahead.
    pub fn next_edge(&self, t: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
        let local = t.with_timezone(&tz);
        let secs = |x: NaiveTime| i64::from(x.num_seconds_from_midnight());
        let now_s = secs(local.time());
        let mut best = 86_400;
        for edge in [secs(self.start), secs(self.end)] {
            let mut d = edge - now_s;
            if d <= 0 {
                d += 86_400;
            }
            best = best.min(d);
        }
        t + Duration::seconds(best)
    }
}

fn read_time(s: &str) -> Result<NaiveTime, SilenceError> {
    let t = s.trim().replace('：', ":");
    NaiveTime::parse_from_str(&t, "%H:%M")
        .or_else(|_| NaiveTime::parse_from_str(&t, "%H:%M:%S"))
        .map_err(|_| SilenceError::BadTime(s.chars().take(20).collect()))
}

impl TryFrom<RawRecurrence> for Recurrence {
    type Error = SilenceError;
    fn try_from(r: RawRecurrence) -> Result<Self, Self::Error> {
        let mut days = 0;
        for d in &r.days {
            days |= day_bits(d)?;
        }
        if r.days.is_empty() {
            days = ALL_DAYS;
        }
        let (start, end) = (read_time(&r.start)?, read_time(&r.end)?);
        if start == end {
            return Err(SilenceError::EmptyWindow);
        }
        Ok(Self { days, start, end })
    }
}

impl From<Recurrence> for RawRecurrence {
    fn from(r: Recurrence) -> Self {
        let days = if r.days == ALL_DAYS {
            vec!["daily".to_string()]
        } else {
            [
                Weekday::Mon,
                Weekday::Tue,
                Weekday::Wed,
                Weekday::Thu,
                Weekday::Fri,
                Weekday::Sat,
                Weekday::Sun,
            ]
            .iter()
            .filter(|d| r.has_day(**d))
            .map(|d| d.to_string().to_lowercase())
            .collect()
        };
        Self {
            days,
            start: r.start.format("%H:%M").to_string(),
            end: r.end.format("%H:%M").to_string(),
        }
    }
}

/// A silence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Silence {
    /// Unique id.
    pub id: String,
    /// All must match.
    pub matchers: Vec<Matcher>,
    /// Active from (inclusive).
    pub starts_at: DateTime<Utc>,
    /// Active until (exclusive); `None` = until removed (usual for recurring windows).
    #[serde(default)]
    pub ends_at: Option<DateTime<Utc>>,
    /// Only inside these windows, when set.
    #[serde(default)]
    pub recurrence: Option<Recurrence>,
    /// Who created it.
    #[serde(default)]
    pub created_by: String,
    /// Why.
    #[serde(default)]
    pub comment: String,
    /// When it was last written (created or ended); the caller sets it.
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
}

/// Whether `old` can become `new` keeping its id, as Alertmanager decides: the same
/// matchers, and if `old` is in force the same start (to the second) and an end not
/// yet past, or if it is still to come a start not yet past. An ended silence never.
pub fn updatable_in_place(old: &Silence, new: &Silence, now: DateTime<Utc>) -> bool {
    if old.matchers != new.matchers || old.recurrence != new.recurrence || old.is_expired(now) {
        return false;
    }
    if old.starts_at <= now {
        old.starts_at.timestamp() == new.starts_at.timestamp()
            && new.ends_at.is_none_or(|e| e >= now)
    } else {
        new.starts_at >= now
    }
}

impl Silence {
    /// Refuses silences that would match everything or end before they start.
    ///
    /// # Errors
    /// [`SilenceError`].
    pub fn validate(&self) -> Result<(), SilenceError> {
        if self.id.trim().is_empty() {
            return Err(SilenceError::NoId);
        }
        if !self.matchers.iter().any(|m| !m.matches_value("")) {
            return Err(SilenceError::MatchesEverything);
        }
        if matches!(self.ends_at, Some(e) if e <= self.starts_at) {
            return Err(SilenceError::EndsBeforeStart);
        }
        Ok(())
    }

    /// Past its end.
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        matches!(self.ends_at, Some(e) if now >= e)
    }

    /// In force at `now` (inside its range and, if recurring, inside a window).
    pub fn is_active(&self, now: DateTime<Utc>, tz: Tz) -> bool {
        now >= self.starts_at
            && !self.is_expired(now)
            && self.recurrence.as_ref().is_none_or(|r| r.contains(now, tz))
    }

    /// Whether it silences `labels` at `now`.
    pub fn mutes(&self, labels: &Labels, now: DateTime<Utc>, tz: Tz) -> bool {
        self.is_active(now, tz) && matches_all(&self.matchers, labels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SH: Tz = chrono_tz::Asia::Shanghai;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn silence(rec: Option<Recurrence>, ends: Option<&str>) -> Silence {
        Silence {
            id: "s1".into(),
            matchers: vec![Matcher::parse("service=\"db\"").unwrap()],
            starts_at: utc("2026-03-01T00:00:00Z"),
            ends_at: ends.map(utc),
            recurrence: rec,
            created_by: "alice".into(),
            comment: "db maintenance".into(),
            updated_at: None,
        }
    }

    #[test]
    fn a_silence_stops_muting_when_it_expires() {
        let s = silence(None, Some("2026-03-02T02:00:00Z"));
        let l: Labels = [("service".to_string(), "db".to_string())].into();
        assert!(s.mutes(&l, utc("2026-03-02T01:59:59Z"), SH));
        assert!(!s.mutes(&l, utc("2026-03-02T02:00:00Z"), SH));
        assert!(s.is_expired(utc("2026-03-02T02:00:00Z")));
        assert!(
            !s.mutes(&l, utc("2026-02-28T12:00:00Z"), SH),
            "not before it starts"
        );
    }

    #[test]
    fn a_daily_window_mutes_only_between_its_local_times() {
        let s = silence(
            Some(Recurrence::new(&["daily"], "02:00", "03:00").unwrap()),
            None,
        );
        let l: Labels = [("service".to_string(), "db".to_string())].into();
        // 02:30 Shanghai = 18:30 UTC the day before.
        assert!(s.mutes(&l, utc("2026-03-04T18:30:00Z"), SH));
        assert!(
            !s.mutes(&l, utc("2026-03-04T19:00:00Z"), SH),
            "03:00 is outside"
        );
        assert!(!s.mutes(&l, utc("2026-03-05T06:00:00Z"), SH));
    }

    #[test]
    fn a_weekday_window_across_midnight_belongs_to_the_day_it_starts() {
        let r = Recurrence::new(&["fri"], "22:00", "02:00").unwrap();
        // Friday 2026-03-06 23:00 and Saturday 01:00 in Shanghai are inside; Sat 23:00 is not.
        assert!(r.contains(utc("2026-03-06T15:00:00Z"), SH));
        assert!(r.contains(utc("2026-03-06T17:00:00Z"), SH));
        assert!(!r.contains(utc("2026-03-07T15:00:00Z"), SH));
        assert!(
            !r.contains(utc("2026-03-05T17:00:00Z"), SH),
            "Friday 01:00 belongs to Thursday's window"
        );
    }

    #[test]
    fn silences_that_would_mute_everything_are_refused() {
        let mut s = silence(None, None);
        s.matchers = vec![Matcher::parse("service=~\".*\"").unwrap()];
        assert_eq!(s.validate(), Err(SilenceError::MatchesEverything));
        assert!(Recurrence::new(&["someday"], "02:00", "03:00").is_err());
        assert!(Recurrence::new(&[], "02:00", "02:00").is_err());
        assert!(Recurrence::new(&[], "25:00", "02:00").is_err());
    }
    #[test]
    fn only_a_later_end_or_a_new_comment_keeps_a_silence_in_force_in_place() {
        let t = |secs: i64| utc("2026-11-23T02:00:00Z") + chrono::Duration::seconds(secs);
        let base = Silence {
            starts_at: t(0),
            ends_at: Some(t(3600)),
            ..silence(None, None)
        };
        let now = t(600);
        let later = Silence {
            ends_at: Some(t(7200)),
            comment: "longer".into(),
            ..base.clone()
        };
        assert!(updatable_in_place(&base, &later, now));
        let other = Silence {
            matchers: vec![Matcher::parse("service=mq").unwrap()],
            ..later.clone()
        };
        assert!(!updatable_in_place(&base, &other, now), "other matchers");
        let moved = Silence {
            starts_at: t(60),
            ..later.clone()
        };
        assert!(
            !updatable_in_place(&base, &moved, now),
            "a silence in force keeps its start"
        );
        let past = Silence {
            ends_at: Some(t(300)),
            ..base.clone()
        };
        assert!(
            !updatable_in_place(&base, &past, now),
            "an end already past"
        );
        assert!(!updatable_in_place(&past, &later, now), "an ended silence");
        let pending = Silence {
            starts_at: t(1200),
            ..base.clone()
        };
        let sooner = Silence {
            starts_at: t(900),
            ..base.clone()
        };
        assert!(
            updatable_in_place(&pending, &sooner, now),
            "still to come, a start not past"
        );
        let started = Silence {
            starts_at: t(300),
            ..base.clone()
        };
        assert!(
            !updatable_in_place(&pending, &started, now),
            "a start already past"
        );
    }
}
