//! Reading times that people type: `14:05`, `2026-11-20 21:30`, `15m ago`,
//! `15分钟前`, RFC 3339. Local forms are in the deployment's time zone.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// Why a typed time was not accepted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum TimeError {
    /// Not a form we read.
    #[error("cannot read `{text}` as a time (use 14:05, 2026-11-20 21:30 or 15m ago)")]
    Unreadable {
        /// What was typed.
        text: String,
    },
    /// Later than now.
    #[error("`{text}` is in the future")]
    InFuture {
        /// What was typed.
        text: String,
    },
}

/// How far ahead of `now` a typed time may be (clock skew between people).
const FUTURE_SLACK: Duration = Duration::minutes(1);

/// Resolves `text` to an instant, relative to `now` in zone `tz`.
///
/// A bare time of day means the most recent such time: `23:50` typed at 00:10
/// means yesterday. Times in the future are refused.
///
/// # Errors
/// [`TimeError`] when unreadable or in the future.
pub fn resolve(text: &str, now: DateTime<Utc>, tz: Tz) -> Result<DateTime<Utc>, TimeError> {
    let t = text.trim();
    let unreadable = || TimeError::Unreadable {
        text: t.chars().take(64).collect(),
    };
    let at = if t.eq_ignore_ascii_case("now") || t == "现在" {
        now
    } else if let Some(ago) = parse_ago(t) {
        now - ago
    } else if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        dt.with_timezone(&Utc)
    } else if let Some(tod) = parse_time_of_day(t) {
        let today = now.with_timezone(&tz).date_naive();
        let candidate = local(tz, today.and_time(tod)).ok_or_else(unreadable)?;
        if candidate > now + FUTURE_SLACK {
            let yesterday = today.pred_opt().ok_or_else(unreadable)?;
            local(tz, yesterday.and_time(tod)).ok_or_else(unreadable)?
        } else {
            candidate
        }
    } else if let Some(ndt) = parse_local_datetime(t, now.with_timezone(&tz).date_naive()) {
        local(tz, ndt).ok_or_else(unreadable)?
    } else {
        return Err(unreadable());
    };
    if at > now + FUTURE_SLACK {
        return Err(TimeError::InFuture {
            text: t.chars().take(64).collect(),
        });
    }
    Ok(at)
}

fn local(tz: Tz, ndt: NaiveDateTime) -> Option<DateTime<Utc>> {
    // In a DST gap there is no such local time; in an overlap take the earlier.
    tz.from_local_datetime(&ndt)
        .earliest()
        .map(|d| d.with_timezone(&Utc))
}

/// The part of the day a Chinese time names: how a 12-hour clock hour maps to 0..24.
#[derive(Clone, Copy)]
enum DayPart {
    /// 上午, 早上: 1–11 as is, 12 is noon.
    Morning,
    /// 凌晨: 12 is midnight, 1–6 as is.
    SmallHours,
    /// 中午: 11 and 12 as is, 1–2 in the afternoon.
    Noon,
    /// 下午, 傍晚: 1–11 in the afternoon, 12 is noon.
    Afternoon,
    /// 晚上: 6–11 in the evening, 12 is midnight, 1–4 after midnight.
    Evening,
}

impl DayPart {
    /// The 24-hour hour, or `None` when the hour does not fit the part (`上午14点`).
    fn hour(self, h: u32) -> Option<u32> {
        match (self, h) {
            (_, 13..) | (_, 0) => None,
            (Self::Morning, h) => Some(h),
            (Self::SmallHours, 12) | (Self::Evening, 12) => Some(0),
            (Self::SmallHours, h) if h <= 6 => Some(h),
            (Self::Noon, 11 | 12) | (Self::Afternoon, 12) => Some(h),
            (Self::Noon, h) if h <= 2 => Some(h + 12),
            (Self::Afternoon, h) => Some(h + 12),
            (Self::Evening, h) if h <= 4 => Some(h),
            (Self::Evening, h) if h >= 6 => Some(h + 12),
            _ => None,
        }
    }
}

/// `14:05`, `14:05:30`, `14点05`, `14点05分`, `14点`, `下午2:05`, `晚上9点半`, `凌晨12点`.
fn parse_time_of_day(t: &str) -> Option<NaiveTime> {
    let mut t = t.trim().replace('：', ":");
    let mut part = None;
    for (prefix, p) in [
        ("下午", DayPart::Afternoon),
        ("傍晚", DayPart::Afternoon),
        ("晚上", DayPart::Evening),
        ("上午", DayPart::Morning),
        ("早上", DayPart::Morning),
        ("凌晨", DayPart::SmallHours),
        ("中午", DayPart::Noon),
    ] {
        if let Some(rest) = t.strip_prefix(prefix) {
            part = Some(p);
            t = rest.trim().to_string();
            break;
        }
    }
    if let Some((h, m)) = t.split_once('点') {
        let m = m.trim_end_matches('分');
        let m = match m {
            "" | "整" => "00",
            "半" => "30",
            m => m,
        };
        t = format!("{h}:{m}");
    }
    let tod = NaiveTime::parse_from_str(&t, "%H:%M")
        .or_else(|_| NaiveTime::parse_from_str(&t, "%H:%M:%S"))
        .ok()?;
    match part {
        None => Some(tod),
        Some(p) => {
            use chrono::Timelike;
            tod.with_hour(p.hour(tod.hour())?)
        }
    }
}

/// Days named relative to today.
const DAY_WORDS: [(&str, i64); 8] = [
    ("前天", -2),
    ("昨天", -1),
    ("yesterday", -1),
    ("今天", 0),
    ("today", 0),
    ("明天", 1),
    ("tomorrow", 1),
    ("后天", 2),
];

/// Whether `word` reads as (the start of) a time: it begins with a digit, or names a
/// day (`tomorrow`, `明天`) or now.
pub fn is_time_word(word: &str) -> bool {
    word.starts_with(|c: char| c.is_ascii_digit())
        || word.eq_ignore_ascii_case("now")
        || word == "现在"
        || DAY_WORDS.iter().any(|(w, _)| word.eq_ignore_ascii_case(w))
}

/// `昨天 14:05`, `yesterday 14:05`, `今天 9:30`, `明天 09:00`, `tomorrow 9:00`: a day
/// relative to `today` and a time of day.
fn parse_relative_day(t: &str, today: NaiveDate) -> Option<NaiveDateTime> {
    let t = t.trim();
    for (word, days) in DAY_WORDS {
        let Some(rest) = t
            .get(..word.len())
            .filter(|p| p.eq_ignore_ascii_case(word))
            .map(|_| &t[word.len()..])
        else {
            continue;
        };
        let day = today.checked_add_signed(Duration::days(days))?;
        return Some(day.and_time(parse_time_of_day(rest)?));
    }
    None
}

fn parse_local_datetime(t: &str, today: NaiveDate) -> Option<NaiveDateTime> {
    if let Some(v) = parse_relative_day(t, today) {
        return Some(v);
    }
    let t = t.replace('：', ":").replace('T', " ").replace('/', "-");
    for f in ["%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"] {
        if let Ok(v) = NaiveDateTime::parse_from_str(&t, f) {
            return Some(v);
        }
    }
    // `11-20 21:30`: this year.
    let (date, time) = t.split_once(' ')?;
    let (m, d) = date.split_once('-')?;
    let date = NaiveDate::from_ymd_opt(
        chrono::Datelike::year(&today),
        m.parse().ok()?,
        d.parse().ok()?,
    )?;
    Some(date.and_time(parse_time_of_day(time.trim())?))
}

/// Resolves a time in the future: a duration from now (`48h`, `3d`, `90m`, `4小时`),
/// a time of day (`09:00`: its next occurrence), a local date and time
/// (`2026-11-25 18:00`) or RFC 3339. `None` when unreadable or not in the future.
pub fn resolve_future(text: &str, now: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
    let t = text.trim();
    if let Some(d) = parse_span(t).filter(|d| *d >= Duration::minutes(1)) {
        return Some(now + d);
    }
    if let Some(tod) = parse_time_of_day(t) {
        let today = now.with_timezone(&tz).date_naive();
        let at = local(tz, today.and_time(tod))?;
        return if at > now {
            Some(at)
        } else {
            local(tz, today.succ_opt()?.and_time(tod))
        };
    }
    let at = if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        dt.with_timezone(&Utc)
    } else if let Ok(day) = NaiveDate::parse_from_str(&t.replace('/', "-"), "%Y-%m-%d") {
        // A date alone: by the end of that day.
        local(tz, day.and_hms_opt(23, 59, 0)?)?
    } else if let Some((_, days)) = DAY_WORDS.iter().find(|(w, _)| t.eq_ignore_ascii_case(w)) {
        // `tomorrow`, `明天` alone: by the end of that day.
        let day = now
            .with_timezone(&tz)
            .date_naive()
            .checked_add_signed(Duration::days(*days))?;
        local(tz, day.and_hms_opt(23, 59, 0)?)?
    } else {
        local(
            tz,
            parse_local_datetime(t, now.with_timezone(&tz).date_naive())?,
        )?
    };
    (at > now).then_some(at)
}

/// Whether `text` is a form [`resolve_future`] reads (whatever the date today).
pub fn is_future_form(text: &str) -> bool {
    let long_ago = DateTime::<Utc>::UNIX_EPOCH;
    resolve_future(text, long_ago, chrono_tz::UTC).is_some()
}

/// `15m ago`, `1 hour ago`, `-15m`, `90s ago`, `15分钟前`, `2小时前`, `半小时前`.
fn parse_ago(t: &str) -> Option<Duration> {
    let lower = t.to_lowercase();
    let body = lower
        .strip_suffix("ago")
        .map(str::trim_end)
        .or_else(|| lower.strip_prefix('-'))
        .or_else(|| lower.strip_suffix('前'))?;
    parse_span(body)
}

/// A span: a whole number and a unit, singular or plural, English or Chinese (`90s`,
/// `15m`, `1 hour`, `2 hours`, `3d`, `1 day`, `15分钟`, `2小时`, `2个小时`, `3天`), or
/// `半小时` (half an hour); positive and below 100,000 units.
pub fn parse_span(body: &str) -> Option<Duration> {
    let body = with_digits(body.trim());
    let body = body.as_str();
    if body == "半小时" || body == "半个小时" {
        return Some(Duration::minutes(30));
    }
    let digits_end = body.find(|c: char| !c.is_ascii_digit())?;
    let n: i64 = body[..digits_end].parse().ok()?;
    if n == 0 || n > 100_000 {
        return None;
    }
    match body[digits_end..].trim() {
        "个半小时" | "个半钟头" => Some(Duration::minutes(n * 60 + 30)),
        "s" | "sec" | "secs" | "second" | "seconds" | "秒" | "秒钟" => {
            Some(Duration::seconds(n))
        }
        "m" | "min" | "mins" | "minute" | "minutes" | "分" | "分钟" => {
            Some(Duration::minutes(n))
        }
        "h" | "hr" | "hrs" | "hour" | "hours" | "小时" | "个小时" => Some(Duration::hours(n)),
        "d" | "day" | "days" | "天" => Some(Duration::days(n)),
        _ => None,
    }
}

/// `text` with a leading Chinese count written in digits (`两小时` → `2小时`, `十五分钟`
/// → `15分钟`, `二十四小时` → `24小时`); counts from 1 to 99.
pub fn with_digits(text: &str) -> String {
    let digit = |c: char| {
        "零一二三四五六七八九"
            .chars()
            .position(|d| d == c)
            .map(|d| d as i64)
            .or((c == '两').then_some(2))
    };
    let end = text
        .char_indices()
        .find(|&(_, c)| digit(c).is_none() && c != '十')
        .map_or(text.len(), |(i, _)| i);
    let head: Vec<char> = text[..end].chars().collect();
    let n = match head.iter().position(|&c| c == '十') {
        None if head.len() == 1 => digit(head[0]),
        Some(pos) if head.len() <= 3 && head.iter().filter(|&&c| c == '十').count() == 1 => {
            let tens = match pos {
                0 => Some(1),
                1 => digit(head[0]).filter(|&d| d > 0),
                _ => None,
            };
            let ones = match &head[pos + 1..] {
                [] => Some(0),
                [c] => digit(*c).filter(|&d| d > 0),
                _ => None,
            };
            tens.zip(ones).map(|(t, o)| t * 10 + o)
        }
        _ => None,
    };
    match n.filter(|&n| n > 0) {
        Some(n) => format!("{n}{}", &text[end..]),
        None => text.to_string(),
    }
}

/// `text` with every Chinese count written in digits (`一小时三十分钟` → `1小时30分钟`).
pub fn all_digits(text: &str) -> String {
    let numeral = |c: char| "零一二两三四五六七八九十".contains(c);
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    for c in text.chars() {
        if numeral(c) {
            run.push(c);
            continue;
        }
        if !run.is_empty() {
            out.push_str(&with_digits(&run));
            run.clear();
        }
        out.push(c);
    }
    out.push_str(&with_digits(&run));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_counts_are_read_as_numbers() {
        for (text, mins) in [
            ("两小时", 120),
            ("两个小时", 120),
            ("三天", 3 * 1440),
            ("十五分钟", 15),
            ("二十四小时", 1440),
            ("十分钟", 10),
            ("一个半小时", 90),
            ("2个半小时", 150),
            ("半小时", 30),
        ] {
            assert_eq!(parse_span(text), Some(Duration::minutes(mins)), "{text}");
        }
        for bad in ["零小时", "十十分钟", "一二小时", "两", "百小时"] {
            assert_eq!(parse_span(bad), None, "{bad}");
        }
        assert_eq!(
            resolve("两小时前", utc("2026-11-23T07:00:00Z"), SH).unwrap(),
            utc("2026-11-23T05:00:00Z")
        );
    }

    const SH: Tz = chrono_tz::Asia::Shanghai;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_time_of_day_is_today_in_the_configured_zone() {
        let now = utc("2026-11-23T07:00:00Z"); // 15:00 in Shanghai
        assert_eq!(
            resolve("14:05", now, SH).unwrap(),
            utc("2026-11-23T06:05:00Z")
        );
    }

    #[test]
    fn a_time_of_day_later_than_now_means_yesterday() {
        let now = utc("2026-11-22T16:10:00Z"); // 00:10 on the 23rd in Shanghai
        assert_eq!(
            resolve("23:50", now, SH).unwrap(),
            utc("2026-11-22T15:50:00Z")
        );
    }

    #[test]
    fn reads_full_dates_relative_forms_and_rfc3339() {
        let now = utc("2026-11-23T07:00:00Z");
        assert_eq!(
            resolve("2026-11-20 21:30", now, SH).unwrap(),
            utc("2026-11-20T13:30:00Z")
        );
        assert_eq!(
            resolve("11-20 21:30", now, SH).unwrap(),
            utc("2026-11-20T13:30:00Z")
        );
        assert_eq!(
            resolve("15m ago", now, SH).unwrap(),
            utc("2026-11-23T06:45:00Z")
        );
        assert_eq!(
            resolve("15分钟前", now, SH).unwrap(),
            utc("2026-11-23T06:45:00Z")
        );
        assert_eq!(
            resolve("2026-11-23T06:00:00Z", now, SH).unwrap(),
            utc("2026-11-23T06:00:00Z")
        );
    }

    #[test]
    fn future_times_read_durations_next_times_of_day_and_dates() {
        let now = utc("2026-11-23T07:00:00Z"); // 15:00 Shanghai
        assert_eq!(
            resolve_future("4h", now, SH),
            Some(utc("2026-11-23T11:00:00Z"))
        );
        assert_eq!(
            resolve_future("09:00", now, SH),
            Some(utc("2026-11-24T01:00:00Z")),
            "tomorrow morning"
        );
        assert_eq!(
            resolve_future("21:30", now, SH),
            Some(utc("2026-11-23T13:30:00Z")),
            "tonight"
        );
        assert_eq!(
            resolve_future("2026-11-25 18:00", now, SH),
            Some(utc("2026-11-25T10:00:00Z"))
        );
        assert_eq!(
            resolve_future("2026-11-20 18:00", now, SH),
            None,
            "in the past"
        );
        assert_eq!(resolve_future("soon", now, SH), None);
    }

    #[test]
    fn reads_singular_units_and_chinese_forms() {
        let now = utc("2026-11-23T07:00:00Z"); // 15:00 Shanghai
        let past = |s: &str| resolve(s, now, SH).map_err(|e| e.to_string());
        for (text, want) in [
            ("1 hour ago", "2026-11-23T06:00:00Z"),
            ("1 minute ago", "2026-11-23T06:59:00Z"),
            ("1 day ago", "2026-11-22T07:00:00Z"),
            ("半小时前", "2026-11-23T06:30:00Z"),
            ("2个小时前", "2026-11-23T05:00:00Z"),
            ("14点05", "2026-11-23T06:05:00Z"),
            ("14点05分", "2026-11-23T06:05:00Z"),
            ("下午2:05", "2026-11-23T06:05:00Z"),
            ("下午2点半", "2026-11-23T06:30:00Z"),
            ("上午9点", "2026-11-23T01:00:00Z"),
            ("昨天 14:05", "2026-11-22T06:05:00Z"),
            ("yesterday 21:30", "2026-11-22T13:30:00Z"),
            ("今天 9:30", "2026-11-23T01:30:00Z"),
            ("中午1点半", "2026-11-23T05:30:00Z"),
            ("中午12点", "2026-11-23T04:00:00Z"),
            ("晚上12点", "2026-11-22T16:00:00Z"),
            ("凌晨12点", "2026-11-22T16:00:00Z"),
            ("凌晨2点", "2026-11-22T18:00:00Z"),
            ("晚上1点", "2026-11-22T17:00:00Z"),
            ("下午12:30", "2026-11-23T04:30:00Z"),
        ] {
            assert_eq!(past(text), Ok(utc(want)), "{text}");
        }
        assert!(matches!(
            resolve("明天 09:00", now, SH),
            Err(TimeError::InFuture { .. })
        ));
        for hour_that_does_not_fit in ["上午14点", "晚上5点", "凌晨9点"] {
            assert!(
                resolve(hour_that_does_not_fit, now, SH).is_err(),
                "{hour_that_does_not_fit}"
            );
        }
        let future = |s: &str| resolve_future(s, now, SH);
        assert_eq!(future("1 day"), Some(utc("2026-11-24T07:00:00Z")));
        assert_eq!(future("1 hour"), Some(utc("2026-11-23T08:00:00Z")));
        assert_eq!(
            future("2026-12-31"),
            Some(utc("2026-12-31T15:59:00Z")),
            "a date alone: by the end of that day"
        );
        assert_eq!(future("明天 18:00"), Some(utc("2026-11-24T10:00:00Z")));
        assert_eq!(
            future("明天"),
            Some(utc("2026-11-24T15:59:00Z")),
            "a day alone: by its end"
        );
        assert_eq!(future("tomorrow 9:00"), Some(utc("2026-11-24T01:00:00Z")));
        assert_eq!(future("0h"), None);
        assert_eq!(future("30s"), None, "less than a minute");
        assert!(is_future_form("2d") && !is_future_form("diligence docs"));
    }

    #[test]
    fn refuses_future_and_unreadable_times() {
        let now = utc("2026-11-23T07:00:00Z");
        assert!(matches!(
            resolve("2026-11-24 09:00", now, SH),
            Err(TimeError::InFuture { .. })
        ));
        assert!(matches!(
            resolve("teatime", now, SH),
            Err(TimeError::Unreadable { .. })
        ));
        assert!(matches!(
            resolve("25:00", now, SH),
            Err(TimeError::Unreadable { .. })
        ));
    }
}
