//! Trading calendars: when a market trades, and how much trading time lies between
//! two instants.
//!
//! It owns the market data (sessions, holidays, half days, China's night-session
//! rule) and the arithmetic on it: the session in progress, the trading day of an
//! instant, the next open, "N trading days back", trading time between instants and
//! trading time added to an instant. It does no I/O and reads no clock: instants come
//! in as [`DateTime<Utc>`]; market data is embedded TOML (`bot/core/calendars/*.toml`,
//! whose header documents the format) or TOML text handed to [`Calendars::add_toml`].
//!
//! Terms used throughout:
//! - A *session* is a half-open interval `[start, end)`: trading at `start`, not at `end`.
//! - Every session belongs to one *trading day*. A `day_offset = -1` session (a China
//!   futures night session) opens on the evening of the previous trading day and
//!   belongs to the next one: Friday 21:00 – Saturday 02:30 belongs to Monday.
//! - The sessions of successive trading days follow each other in time, so the market's
//!   sessions form one ordered timeline; the functions here walk it day by day.
//! - Dates outside a market's covered years give [`CalendarError::NotCovered`]: the
//!   calendar never assumes that an unknown weekday trades.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{
    DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Timelike, Utc, Weekday,
};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use toml::Value;

/// The embedded market files, parsed by [`Calendars::builtin`].
const BUILTIN: [(&str, &str); 9] = [
    ("sse.toml", include_str!("../calendars/sse.toml")),
    ("shfe.toml", include_str!("../calendars/shfe.toml")),
    ("ine.toml", include_str!("../calendars/ine.toml")),
    ("dce.toml", include_str!("../calendars/dce.toml")),
    ("czce.toml", include_str!("../calendars/czce.toml")),
    ("gfex.toml", include_str!("../calendars/gfex.toml")),
    ("cffex.toml", include_str!("../calendars/cffex.toml")),
    ("hkex.toml", include_str!("../calendars/hkex.toml")),
    ("nyse.toml", include_str!("../calendars/nyse.toml")),
];

const MINUTES_PER_DAY: i64 = 24 * 60;

/// Why a calendar question has no answer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    /// The answer needs a date outside the years the market's holiday data covers.
    #[error("the {market} calendar does not cover {date}; its holiday data needs updating")]
    NotCovered {
        /// Market code.
        market: String,
        /// The date that was needed.
        date: NaiveDate,
    },
    /// No market has this code or alias.
    #[error("unknown market `{0}`")]
    UnknownMarket(String),
    /// Calendar data (TOML) or an argument is not acceptable.
    #[error("invalid calendar data at `{key}`: {message}")]
    Invalid {
        /// Where: a TOML key path such as `sessions[1].start`, or the argument's name.
        key: String,
        /// What is wrong.
        message: String,
    },
}

fn invalid(key: impl Into<String>, message: impl Into<String>) -> CalendarError {
    CalendarError::Invalid {
        key: key.into(),
        message: message.into(),
    }
}

/// One session on one trading day, as instants.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInstance {
    /// The trading day the session belongs to (for a night session, the next day's).
    pub trading_day: NaiveDate,
    /// Session name from the market data: "morning", "afternoon", "night", ...
    pub name: String,
    /// First instant of trading.
    pub start: DateTime<Utc>,
    /// First instant after trading (the session is `[start, end)`).
    pub end: DateTime<Utc>,
}

/// A session as the market data defines it, in local time.
#[derive(Clone, Debug)]
struct SessionDef {
    name: String,
    start: NaiveTime,
    end: NaiveTime,
    /// `day_offset = -1`: opens on the previous trading day's evening.
    night: bool,
}

impl SessionDef {
    fn crosses_midnight(&self) -> bool {
        self.end <= self.start
    }
}

/// What a half day changes.
#[derive(Clone, Debug)]
enum HalfDay {
    /// Early close: sessions from this time on are dropped, an open one is cut.
    CloseAt(NaiveTime),
    /// Only these sessions trade.
    Only(Vec<String>),
}

/// The trading calendar of one market.
#[derive(Clone, Debug)]
pub struct Calendar {
    code: String,
    name: Option<String>,
    aliases: Vec<String>,
    tz: Tz,
    years: (i32, i32),
    /// Indexed by `Weekday::num_days_from_monday`.
    weekdays: [bool; 7],
    /// Night sessions first, then day sessions, each in time order.
    sessions: Vec<SessionDef>,
    holidays: BTreeSet<NaiveDate>,
    extra_closures: BTreeSet<NaiveDate>,
    half_days: BTreeMap<NaiveDate, HalfDay>,
    no_night_before_holiday: bool,
    no_night_sessions: BTreeSet<NaiveDate>,
    /// The latest local end time of a session that crosses midnight, if any does.
    latest_crossing_end: Option<NaiveTime>,
}

impl Calendar {
    /// Parses one market definition (the format of `bot/core/calendars/*.toml`).
    ///
    /// # Errors
    /// [`CalendarError::Invalid`] naming the offending key.
    pub fn from_toml(text: &str) -> Result<Self, CalendarError> {
        parse::calendar(text)
    }

    /// The market code, e.g. `SSE`.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// The display name, or the code when the data has none.
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.code)
    }

    /// Other codes that find this market.
    pub fn aliases(&self) -> &[String] {
        &self.aliases
    }

    /// The time zone the sessions are defined in.
    pub fn tz(&self) -> Tz {
        self.tz
    }

    /// Years the holiday data covers, `(first, last)`, both inclusive. Questions that
    /// need a date outside them give [`CalendarError::NotCovered`], never a guess.
    pub fn covered_years(&self) -> (i32, i32) {
        self.years
    }

    /// Whether `day` is a trading day: a weekly trading weekday that is neither a
    /// holiday nor an extra closure. Half days are trading days.
    ///
    /// # Errors
    /// [`CalendarError::NotCovered`] outside the covered years.
    pub fn is_trading_day(&self, day: NaiveDate) -> Result<bool, CalendarError> {
        self.covered(day)?;
        Ok(self.weekly_trading(day)
            && !self.holidays.contains(&day)
            && !self.extra_closures.contains(&day))
    }

    /// The session in progress at `t`, if any.
    ///
    /// # Errors
    /// [`CalendarError::NotCovered`] when the answer depends on uncovered dates.
    pub fn session_at(&self, t: DateTime<Utc>) -> Result<Option<SessionInstance>, CalendarError> {
        let mut found = None;
        self.walk(t, Some(t), |s| {
            if s.end <= t {
                return false;
            }
            if s.start <= t {
                found = Some(s.clone());
            }
            true
        })?;
        Ok(found)
    }

    /// Whether a session is in progress at `t`.
    ///
    /// # Errors
    /// As [`Calendar::session_at`].
    pub fn is_trading(&self, t: DateTime<Utc>) -> Result<bool, CalendarError> {
        Ok(self.session_at(t)?.is_some())
    }

    /// The trading day `t` belongs to: the trading day of the first session that has
    /// not ended at `t`. In a session, that session's day (a night session's is the
    /// next trading day); between sessions, the day of the next session: the same day
    /// over lunch, the next trading day after the close (for China futures, Friday
    /// 15:30 already belongs to Monday, whose night session opens at 21:00).
    ///
    /// # Errors
    /// [`CalendarError::NotCovered`] when the next session is beyond the covered years.
    pub fn trading_day_of(&self, t: DateTime<Utc>) -> Result<NaiveDate, CalendarError> {
        let mut day = None;
        self.walk(t, None, |s| {
            if s.end > t {
                day = Some(s.trading_day);
                return true;
            }
            false
        })?;
        // `walk` only returns Ok after the visitor stopped it (it errs on leaving the data).
        day.ok_or_else(|| self.not_covered(t))
    }

    /// The first session that starts strictly after `t`.
    ///
    /// # Errors
    /// [`CalendarError::NotCovered`] when it is beyond the covered years.
    pub fn next_open(&self, t: DateTime<Utc>) -> Result<SessionInstance, CalendarError> {
        let mut next = None;
        self.walk(t, None, |s| {
            if s.start > t {
                next = Some(s.clone());
                return true;
            }
            false
        })?;
        next.ok_or_else(|| self.not_covered(t))
    }

    /// All sessions of trading day `day` in time order: a night session (opened on the
    /// previous trading day's evening) first, then the day sessions, with half days
    /// applied. Empty when `day` is not a trading day.
    ///
    /// # Errors
    /// [`CalendarError::NotCovered`] when `day` (or, for a night session, the days back
    /// to the previous trading day) is outside the covered years.
    pub fn sessions_of(&self, day: NaiveDate) -> Result<Vec<SessionInstance>, CalendarError> {
        if !self.is_trading_day(day)? {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        if self.has_night() {
            if let Some(evening) = self.night_anchor_before(day)? {
                out = self.night_sessions(evening, day)?;
            }
        }
        out.extend(self.day_sessions(day)?);
        Ok(out)
    }

    /// The start of trading day D − `n`, where D is [`Calendar::trading_day_of`]`(t)`
    /// and D − n is the trading day `n` trading days before D; its start is the start
    /// of its first session (for China futures usually the night session of the
    /// evening before).
    ///
    /// So "the last 3 trading days" (`n = 3`) at Wednesday noon starts at the previous
    /// Friday's open: Friday, Monday, Tuesday in full plus Wednesday so far. `n = 0` is
    /// the start of the current trading day; when `t` is after the close that is the
    /// *next* trading day, so the result can be later than `t`.
    ///
    /// # Errors
    /// [`CalendarError::NotCovered`] when the walk leaves the covered years.
    pub fn trading_days_back(
        &self,
        t: DateTime<Utc>,
        n: u32,
    ) -> Result<DateTime<Utc>, CalendarError> {
        let mut day = self.trading_day_of(t)?;
        for _ in 0..n {
            day = self.prev_trading_day(day)?;
        }
        self.sessions_of(day)?
            .first()
            .map(|s| s.start)
            // A trading day always has a session: validation refuses data without one.
            .ok_or_else(|| invalid("sessions", format!("trading day {day} has no session")))
    }

    /// Trading time between `from` and `to`: the total overlap of `[from, to)` with
    /// the sessions. Zero when `to <= from`.
    ///
    /// # Errors
    /// [`CalendarError::NotCovered`] when the span reaches uncovered dates.
    pub fn trading_duration(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Duration, CalendarError> {
        let mut total = Duration::zero();
        if to <= from {
            return Ok(total);
        }
        self.walk(from, Some(to), |s| {
            if s.start >= to {
                return true;
            }
            let overlap = s.end.min(to) - s.start.max(from);
            if overlap > Duration::zero() {
                total += overlap;
            }
            s.end >= to
        })?;
        Ok(total)
    }

    /// The instant at which `d` of trading time has passed after `from`: inverse of
    /// [`Calendar::trading_duration`]. If the time runs out exactly at a session's end,
    /// that end is returned, not the next open. `d = 0` returns `from`.
    ///
    /// # Errors
    /// [`CalendarError::Invalid`] (key `d`) for a negative duration;
    /// [`CalendarError::NotCovered`] when the result lies beyond the covered years.
    pub fn add_trading_time(
        &self,
        from: DateTime<Utc>,
        d: Duration,
    ) -> Result<DateTime<Utc>, CalendarError> {
        if d < Duration::zero() {
            return Err(invalid("d", "trading time to add is negative"));
        }
        if d.is_zero() {
            return Ok(from);
        }
        let mut left = d;
        let mut at = None;
        self.walk(from, None, |s| {
            if s.end <= from {
                return false;
            }
            let begin = s.start.max(from);
            let available = s.end - begin;
            if left <= available {
                // Cannot overflow: begin + left <= s.end.
                at = Some(begin + left);
                return true;
            }
            left -= available;
            false
        })?;
        at.ok_or_else(|| self.not_covered(from))
    }

    // ---- internals ----

    fn covered(&self, day: NaiveDate) -> Result<(), CalendarError> {
        if (self.years.0..=self.years.1).contains(&day.year()) {
            Ok(())
        } else {
            Err(CalendarError::NotCovered {
                market: self.code.clone(),
                date: day,
            })
        }
    }

    fn not_covered(&self, t: DateTime<Utc>) -> CalendarError {
        CalendarError::NotCovered {
            market: self.code.clone(),
            date: t.date_naive(),
        }
    }

    /// The local date of `t`. Instants far outside the data are refused first, so the
    /// conversion cannot overflow chrono's date range (`DateTime::MAX_UTC` + 8 h).
    fn local_date(&self, t: DateTime<Utc>) -> Result<NaiveDate, CalendarError> {
        let utc_day = t.date_naive();
        if (self.years.0 - 1..=self.years.1 + 1).contains(&utc_day.year()) {
            Ok(t.with_timezone(&self.tz).date_naive())
        } else {
            Err(self.not_covered(t))
        }
    }

    fn weekly_trading(&self, day: NaiveDate) -> bool {
        self.weekdays[day.weekday().num_days_from_monday() as usize]
    }

    fn has_night(&self) -> bool {
        self.sessions.iter().any(|s| s.night)
    }

    fn next_day(&self, day: NaiveDate) -> Result<NaiveDate, CalendarError> {
        day.succ_opt().ok_or_else(|| CalendarError::NotCovered {
            market: self.code.clone(),
            date: day,
        })
    }

    fn prev_day(&self, day: NaiveDate) -> Result<NaiveDate, CalendarError> {
        day.pred_opt().ok_or_else(|| CalendarError::NotCovered {
            market: self.code.clone(),
            date: day,
        })
    }

    /// The previous trading day; errs once the walk leaves the covered years.
    fn prev_trading_day(&self, day: NaiveDate) -> Result<NaiveDate, CalendarError> {
        let mut d = self.prev_day(day)?;
        while !self.is_trading_day(d)? {
            d = self.prev_day(d)?;
        }
        Ok(d)
    }

    /// A weekday that would trade by the weekly pattern but is closed: a holiday or
    /// an extra closure (assumes `day` is not a trading day).
    fn is_closure(&self, day: NaiveDate) -> bool {
        self.weekly_trading(day)
    }

    /// The evening whose night session belongs to trading day `day`: the previous
    /// trading day, or `None` when the night session does not happen.
    fn night_anchor_before(&self, day: NaiveDate) -> Result<Option<NaiveDate>, CalendarError> {
        if self.no_night_sessions.contains(&day) {
            return Ok(None);
        }
        let mut d = self.prev_day(day)?;
        while !self.is_trading_day(d)? {
            if self.no_night_before_holiday && self.is_closure(d) {
                return Ok(None);
            }
            d = self.prev_day(d)?;
        }
        Ok(Some(d))
    }

    /// The trading day that the night session opened on trading day `evening` belongs
    /// to, or `None` when there is none that evening.
    fn night_target_after(&self, evening: NaiveDate) -> Result<Option<NaiveDate>, CalendarError> {
        let mut d = self.next_day(evening)?;
        while !self.is_trading_day(d)? {
            if self.no_night_before_holiday && self.is_closure(d) {
                return Ok(None);
            }
            d = self.next_day(d)?;
        }
        Ok((!self.no_night_sessions.contains(&d)).then_some(d))
    }

    /// Whether `def` runs on trading day `day` by the half-day session list.
    fn runs(&self, def: &SessionDef, day: NaiveDate) -> bool {
        match self.half_days.get(&day) {
            Some(HalfDay::Only(names)) => names.contains(&def.name),
            _ => true,
        }
    }

    /// The local wall time `time` on `day` as an instant. A time in a DST gap does not
    /// exist; the clocks jumped past it, so the next existing half hour is taken.
    fn at_local(&self, day: NaiveDate, time: NaiveTime) -> Result<DateTime<Utc>, CalendarError> {
        let mut local = day.and_time(time);
        for _ in 0..8 {
            if let Some(t) = self.tz.from_local_datetime(&local).earliest() {
                return Ok(t.with_timezone(&Utc));
            }
            local = local
                .checked_add_signed(Duration::minutes(30))
                .ok_or_else(|| CalendarError::NotCovered {
                    market: self.code.clone(),
                    date: day,
                })?;
        }
        Err(invalid(
            "timezone",
            format!("{day} {time} does not exist in {}", self.tz),
        ))
    }

    fn instance(
        &self,
        def: &SessionDef,
        opens_on: NaiveDate,
        trading_day: NaiveDate,
    ) -> Result<SessionInstance, CalendarError> {
        let end_day = if def.crosses_midnight() {
            self.next_day(opens_on)?
        } else {
            opens_on
        };
        Ok(SessionInstance {
            trading_day,
            name: def.name.clone(),
            start: self.at_local(opens_on, def.start)?,
            end: self.at_local(end_day, def.end)?,
        })
    }

    /// The `day_offset = 0` sessions of trading day `day`, half day applied.
    fn day_sessions(&self, day: NaiveDate) -> Result<Vec<SessionInstance>, CalendarError> {
        let close = match self.half_days.get(&day) {
            Some(HalfDay::CloseAt(t)) => Some(self.at_local(day, *t)?),
            _ => None,
        };
        let mut out = Vec::new();
        for def in self
            .sessions
            .iter()
            .filter(|s| !s.night && self.runs(s, day))
        {
            let mut s = self.instance(def, day, day)?;
            if let Some(close) = close {
                if s.start >= close {
                    continue;
                }
                s.end = s.end.min(close);
            }
            out.push(s);
        }
        Ok(out)
    }

    /// The night sessions opened on the evening of `evening`, belonging to `day`.
    fn night_sessions(
        &self,
        evening: NaiveDate,
        day: NaiveDate,
    ) -> Result<Vec<SessionInstance>, CalendarError> {
        self.sessions
            .iter()
            .filter(|s| s.night && self.runs(s, day))
            .map(|def| self.instance(def, evening, day))
            .collect()
    }

    /// Visits the sessions in time order, starting early enough that no session still
    /// open at `t` is missed, until `visit` returns true. With `until`, stops before
    /// computing sessions that cannot start at or before it (so a span ending on the
    /// last covered day needs no data beyond it). Sessions are computed per calendar
    /// day: the day sessions of a trading day, then the night sessions opened on its
    /// evening. Errs with NotCovered once the walk leaves the covered years, so it
    /// always ends.
    fn walk(
        &self,
        t: DateTime<Utc>,
        until: Option<DateTime<Utc>>,
        mut visit: impl FnMut(&SessionInstance) -> bool,
    ) -> Result<(), CalendarError> {
        let mut day = self.local_date(t)?;
        if let Some(latest_end) = self.latest_crossing_end {
            if t.with_timezone(&self.tz).time() <= latest_end {
                // A session opened yesterday evening may still be open.
                day = self.prev_day(day)?;
            }
        }
        let beyond = |start: DateTime<Utc>| until.is_some_and(|u| start > u);
        loop {
            if beyond(self.at_local(day, NaiveTime::MIN)?) {
                return Ok(());
            }
            if self.is_trading_day(day)? {
                for s in self.day_sessions(day)? {
                    if visit(&s) {
                        return Ok(());
                    }
                }
                if let Some(first_night) = self.sessions.iter().find(|s| s.night) {
                    if beyond(self.at_local(day, first_night.start)?) {
                        return Ok(());
                    }
                    if let Some(target) = self.night_target_after(day)? {
                        for s in self.night_sessions(day, target)? {
                            if visit(&s) {
                                return Ok(());
                            }
                        }
                    }
                }
            }
            day = self.next_day(day)?;
        }
    }
}

/// All known markets, found by code or alias (case-insensitive).
#[derive(Clone, Debug, Default)]
pub struct Calendars {
    markets: Vec<Calendar>,
    /// Upper-cased code or alias → index into `markets`.
    index: HashMap<String, usize>,
}

fn lookup_key(code: &str) -> String {
    code.trim().to_uppercase()
}

impl Calendars {
    /// The built-in markets:
    /// - `SSE` (aliases `SZSE`, `CN-STOCK`, `XSHG`, `XSHE`): 09:30–11:30, 13:00–15:00 Shanghai.
    /// - `SHFE` (aliases `CN-FUTURES`, `XSGE`): 09:00–10:15, 10:30–11:30, 13:30–15:00, plus
    ///   the night 21:00–02:30 belonging to the next trading day (none before a holiday).
    /// - `CFFEX` (alias `CCFX`): 09:30–11:30, 13:00–15:00, no night.
    /// - `HKEX` (aliases `XHKG`, `HK`): 09:30–12:00, 13:00–16:00, half days 09:30–12:00.
    /// - `NYSE` (alias `XNYS`): 09:30–16:00 New York, early closes 13:00.
    ///
    /// Mainland data covers 2025–2026, HKEX and NYSE 2025–2027.
    pub fn builtin() -> Self {
        let mut all = Self::default();
        for (file, text) in BUILTIN {
            // The embedded files are fixed at compile time, and the test
            // `every_builtin_market_parses_and_is_listed` parses each of them, so a
            // broken file fails the build's tests, never a running bot.
            if let Err(e) = all.add_toml(text) {
                panic!("embedded calendar {file} is invalid: {e}");
            }
        }
        all
    }

    /// Adds a market from TOML text in the format of the embedded files, replacing a
    /// market with the same code. Its code and aliases take over aliases that other
    /// markets had; an alias equal to another market's code is refused. On error
    /// nothing changes.
    ///
    /// # Errors
    /// [`CalendarError::Invalid`] naming the offending key.
    pub fn add_toml(&mut self, text: &str) -> Result<(), CalendarError> {
        let cal = Calendar::from_toml(text)?;
        let code = lookup_key(&cal.code);
        let replaced = self
            .markets
            .iter()
            .position(|c| lookup_key(&c.code) == code);
        for (i, other) in self.markets.iter().enumerate() {
            if Some(i) == replaced {
                continue;
            }
            if let Some(alias) = cal
                .aliases
                .iter()
                .find(|a| lookup_key(a) == lookup_key(&other.code))
            {
                return Err(invalid(
                    "aliases",
                    format!("`{alias}` is the code of market {}", other.code),
                ));
            }
        }
        let names: Vec<String> = std::iter::once(&cal.code)
            .chain(&cal.aliases)
            .map(|n| lookup_key(n))
            .collect();
        for (i, other) in self.markets.iter_mut().enumerate() {
            if Some(i) != replaced {
                other.aliases.retain(|a| !names.contains(&lookup_key(a)));
            }
        }
        match replaced {
            Some(i) => self.markets[i] = cal,
            None => self.markets.push(cal),
        }
        self.index.clear();
        for (i, c) in self.markets.iter().enumerate() {
            for name in std::iter::once(&c.code).chain(&c.aliases) {
                self.index.insert(lookup_key(name), i);
            }
        }
        Ok(())
    }

    /// The market with this code or alias, case-insensitive.
    pub fn get(&self, market: &str) -> Option<&Calendar> {
        self.index
            .get(&lookup_key(market))
            .and_then(|&i| self.markets.get(i))
    }

    /// As [`Calendars::get`], with an error for an unknown market.
    ///
    /// # Errors
    /// [`CalendarError::UnknownMarket`].
    pub fn try_get(&self, market: &str) -> Result<&Calendar, CalendarError> {
        self.get(market)
            .ok_or_else(|| CalendarError::UnknownMarket(market.trim().chars().take(64).collect()))
    }

    /// The market codes (not aliases), sorted.
    pub fn markets(&self) -> Vec<&str> {
        let mut codes: Vec<&str> = self.markets.iter().map(|c| c.code.as_str()).collect();
        codes.sort_unstable();
        codes
    }
}

/// Reading and validating the TOML market format.
mod parse {
    use super::*;

    const KEYS: [&str; 12] = [
        "code",
        "name",
        "aliases",
        "timezone",
        "covered_years",
        "weekdays",
        "no_night_before_holiday",
        "no_night_sessions",
        "holidays",
        "extra_closures",
        "half_days",
        "sessions",
    ];
    const SESSION_KEYS: [&str; 4] = ["name", "start", "end", "day_offset"];

    pub(super) fn calendar(text: &str) -> Result<Calendar, CalendarError> {
        let table: toml::Table = toml::from_str(text).map_err(|e| syntax(text, &e))?;
        if let Some(k) = table.keys().find(|k| !KEYS.contains(&k.as_str())) {
            return Err(invalid(
                k.as_str(),
                format!("unknown key (known: {})", KEYS.join(", ")),
            ));
        }
        let code = code(required(&table, "code")?, "code")?;
        let name = table
            .get("name")
            .map(|v| string(v, "name").map(str::to_string))
            .transpose()?;
        let aliases = match table.get("aliases") {
            Some(v) => array(v, "aliases")?
                .iter()
                .enumerate()
                .map(|(i, a)| self::code(a, &format!("aliases[{i}]")))
                .collect::<Result<Vec<_>, _>>()?,
            None => Vec::new(),
        };
        let tz_text = string(required(&table, "timezone")?, "timezone")?;
        let tz: Tz = tz_text
            .parse()
            .map_err(|_| invalid("timezone", format!("unknown time zone `{tz_text}`")))?;
        let years = years(required(&table, "covered_years")?)?;
        let weekdays = weekdays(table.get("weekdays"))?;
        let no_night_before_holiday = match table.get("no_night_before_holiday") {
            Some(v) => v
                .as_bool()
                .ok_or_else(|| invalid("no_night_before_holiday", expected("true or false", v)))?,
            None => false,
        };
        let in_years = |d: NaiveDate, key: &str| {
            if (years.0..=years.1).contains(&d.year()) {
                Ok(d)
            } else {
                Err(invalid(key, format!("{d} is outside covered_years")))
            }
        };
        let date_set = |key: &str| -> Result<BTreeSet<NaiveDate>, CalendarError> {
            let Some(v) = table.get(key) else {
                return Ok(BTreeSet::new());
            };
            array(v, key)?
                .iter()
                .enumerate()
                .map(|(i, d)| {
                    let k = format!("{key}[{i}]");
                    in_years(date(d, &k)?, &k)
                })
                .collect()
        };
        let holidays = date_set("holidays")?;
        let extra_closures = date_set("extra_closures")?;
        let no_night_sessions = date_set("no_night_sessions")?;
        let sessions = sessions(required(&table, "sessions")?)?;

        let mut cal = Calendar {
            code,
            name,
            aliases,
            tz,
            years,
            weekdays,
            latest_crossing_end: sessions
                .iter()
                .filter(|s| s.crosses_midnight())
                .map(|s| s.end)
                .max(),
            sessions,
            holidays,
            extra_closures,
            half_days: BTreeMap::new(),
            no_night_before_holiday,
            no_night_sessions,
        };
        if let Some(v) = table.get("half_days") {
            let t = v
                .as_table()
                .ok_or_else(|| invalid("half_days", expected("a table of DATE = ...", v)))?;
            for (day_text, rule) in t {
                let key = format!("half_days.{day_text}");
                let day = NaiveDate::parse_from_str(day_text, "%Y-%m-%d")
                    .map_err(|_| invalid(&key, "expected a YYYY-MM-DD date as key"))?;
                in_years(day, &key)?;
                if !cal.is_trading_day(day)? {
                    return Err(invalid(&key, format!("{day} is not a trading day")));
                }
                let rule = half_day(&cal, rule, &key)?;
                cal.half_days.insert(day, rule);
            }
        }
        Ok(cal)
    }

    fn half_day(cal: &Calendar, v: &Value, key: &str) -> Result<HalfDay, CalendarError> {
        if let Some(arr) = v.as_array() {
            let mut names = Vec::new();
            for (i, n) in arr.iter().enumerate() {
                let k = format!("{key}[{i}]");
                let n = string(n, &k)?;
                if !cal.sessions.iter().any(|s| s.name == n) {
                    return Err(invalid(k, format!("no session named `{n}`")));
                }
                names.push(n.to_string());
            }
            if names.is_empty() {
                return Err(invalid(key, "a half day needs at least one session"));
            }
            return Ok(HalfDay::Only(names));
        }
        let close = time(v, key)?;
        if !cal
            .sessions
            .iter()
            .any(|s| !s.night && (s.start < close || s.crosses_midnight()))
        {
            return Err(invalid(key, "closes before the first session opens"));
        }
        Ok(HalfDay::CloseAt(close))
    }

    fn sessions(v: &Value) -> Result<Vec<SessionDef>, CalendarError> {
        let arr = array(v, "sessions")?;
        if arr.is_empty() {
            return Err(invalid("sessions", "at least one session is needed"));
        }
        let mut defs = Vec::new();
        for (i, s) in arr.iter().enumerate() {
            let key = format!("sessions[{i}]");
            let t = s
                .as_table()
                .ok_or_else(|| invalid(&key, expected("a table", s)))?;
            if let Some(k) = t.keys().find(|k| !SESSION_KEYS.contains(&k.as_str())) {
                return Err(invalid(format!("{key}.{k}"), "unknown key"));
            }
            let field = |f: &str| {
                t.get(f)
                    .ok_or_else(|| invalid(format!("{key}.{f}"), "missing"))
            };
            let name = string(field("name")?, &format!("{key}.name"))?.to_string();
            if name.trim().is_empty()
                || defs
                    .iter()
                    .any(|(_, d): &(usize, SessionDef)| d.name == name)
            {
                return Err(invalid(
                    format!("{key}.name"),
                    "session names must be non-empty and unique",
                ));
            }
            let start = time(field("start")?, &format!("{key}.start"))?;
            let end = time(field("end")?, &format!("{key}.end"))?;
            if start == end {
                return Err(invalid(format!("{key}.end"), "equals start"));
            }
            let night = match t.get("day_offset") {
                None => false,
                Some(Value::Integer(0)) => false,
                Some(Value::Integer(-1)) => true,
                Some(_) => return Err(invalid(format!("{key}.day_offset"), "must be 0 or -1")),
            };
            defs.push((
                i,
                SessionDef {
                    name,
                    start,
                    end,
                    night,
                },
            ));
        }
        defs.sort_by_key(|(_, d)| (!d.night, d.start));
        check_order(&defs)?;
        Ok(defs.into_iter().map(|(_, d)| d).collect())
    }

    /// Sessions must follow each other without overlap, within a trading day and
    /// from one trading day to the next (which starts at least a day later).
    fn check_order(defs: &[(usize, SessionDef)]) -> Result<(), CalendarError> {
        // Positions in minutes from the midnight of the evening the night sessions open:
        // that day's day sessions, then the night sessions, then the next trading day's
        // day sessions (a day later at the earliest).
        let span = |d: &SessionDef| {
            let s = minutes(d.start);
            let e = minutes(d.end);
            (s, if e <= s { e + MINUTES_PER_DAY } else { e })
        };
        let days: Vec<(usize, (i64, i64))> = defs
            .iter()
            .filter(|(_, d)| !d.night)
            .map(|(i, d)| (*i, span(d)))
            .collect();
        let nights = defs
            .iter()
            .filter(|(_, d)| d.night)
            .map(|(i, d)| (*i, span(d)));
        let next_days = days
            .iter()
            .map(|&(i, (s, e))| (i, (s + MINUTES_PER_DAY, e + MINUTES_PER_DAY)));
        let timeline: Vec<(usize, (i64, i64))> = days
            .iter()
            .copied()
            .chain(nights)
            .chain(next_days)
            .collect();
        for pair in timeline.windows(2) {
            if let [(_, (_, prev_end)), (i, (start, _))] = pair {
                if start < prev_end {
                    return Err(invalid(
                        format!("sessions[{i}].start"),
                        "overlaps the session before it (sessions of consecutive trading days included)",
                    ));
                }
            }
        }
        Ok(())
    }

    fn minutes(t: NaiveTime) -> i64 {
        i64::from(t.num_seconds_from_midnight() / 60)
    }

    fn required<'a>(t: &'a toml::Table, key: &str) -> Result<&'a Value, CalendarError> {
        t.get(key).ok_or_else(|| invalid(key, "missing"))
    }

    fn expected(what: &str, v: &Value) -> String {
        format!("expected {what}, found {}", v.type_str())
    }

    fn string<'a>(v: &'a Value, key: &str) -> Result<&'a str, CalendarError> {
        v.as_str()
            .ok_or_else(|| invalid(key, expected("a string", v)))
    }

    fn array<'a>(v: &'a Value, key: &str) -> Result<&'a [Value], CalendarError> {
        v.as_array()
            .map(Vec::as_slice)
            .ok_or_else(|| invalid(key, expected("an array", v)))
    }

    fn code(v: &Value, key: &str) -> Result<String, CalendarError> {
        let c = string(v, key)?;
        if c.is_empty() || c.len() > 32 || c.chars().any(char::is_whitespace) {
            return Err(invalid(
                key,
                "a market code is 1-32 characters without spaces",
            ));
        }
        Ok(c.to_string())
    }

    fn time(v: &Value, key: &str) -> Result<NaiveTime, CalendarError> {
        let s = string(v, key)?;
        NaiveTime::parse_from_str(s, "%H:%M")
            .map_err(|_| invalid(key, format!("`{s}` is not a HH:MM time")))
    }

    fn date(v: &Value, key: &str) -> Result<NaiveDate, CalendarError> {
        let parsed = match v {
            Value::String(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d").ok(),
            Value::Datetime(dt) if dt.time.is_none() && dt.offset.is_none() => {
                dt.date.and_then(|d| {
                    NaiveDate::from_ymd_opt(i32::from(d.year), u32::from(d.month), u32::from(d.day))
                })
            }
            _ => None,
        };
        parsed.ok_or_else(|| invalid(key, expected("a YYYY-MM-DD date", v)))
    }

    fn years(v: &Value) -> Result<(i32, i32), CalendarError> {
        let key = "covered_years";
        let bad = || invalid(key, "expected [first, last], e.g. [2025, 2026]");
        let arr = array(v, key)?;
        let [first, last] = arr else {
            return Err(bad());
        };
        let year = |y: &Value| {
            y.as_integer()
                .filter(|y| (1970..=9999).contains(y))
                .and_then(|y| i32::try_from(y).ok())
                .ok_or_else(bad)
        };
        let (first, last) = (year(first)?, year(last)?);
        if first > last {
            return Err(bad());
        }
        Ok((first, last))
    }

    fn weekdays(v: Option<&Value>) -> Result<[bool; 7], CalendarError> {
        let Some(v) = v else {
            return Ok([true, true, true, true, true, false, false]);
        };
        let mut days = [false; 7];
        for (i, d) in array(v, "weekdays")?.iter().enumerate() {
            let key = format!("weekdays[{i}]");
            let w: Weekday = string(d, &key)?
                .parse()
                .map_err(|_| invalid(&key, "expected Mon, Tue, Wed, Thu, Fri, Sat or Sun"))?;
            days[w.num_days_from_monday() as usize] = true;
        }
        if !days.contains(&true) {
            return Err(invalid("weekdays", "at least one weekday must trade"));
        }
        Ok(days)
    }

    /// A TOML syntax error, attributed to the key on the offending line.
    fn syntax(text: &str, e: &toml::de::Error) -> CalendarError {
        let message = e.message().trim().replace('\n', " ");
        let Some(offset) = e.span().map(|s| s.start) else {
            return invalid("<toml>", message);
        };
        let before = text.get(..offset).unwrap_or(text);
        let line_no = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let line = text
            .get(line_start..)
            .and_then(|rest| rest.lines().next())
            .unwrap_or("")
            .trim();
        let key = match line.split_once('=') {
            Some((k, _)) if !k.trim().is_empty() => k.trim().to_string(),
            _ if line.starts_with('[') => line
                .trim_matches(|c| c == '[' || c == ']')
                .trim()
                .to_string(),
            _ => "<toml>".to_string(),
        };
        invalid(key, format!("line {line_no}: {message}"))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn cals() -> Calendars {
        Calendars::builtin()
    }

    fn cal(code: &str) -> Calendar {
        cals().get(code).unwrap().clone()
    }

    /// An exchange-local wall time as an instant.
    fn at(c: &Calendar, s: &str) -> DateTime<Utc> {
        let ndt = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
        c.tz()
            .from_local_datetime(&ndt)
            .single()
            .unwrap()
            .with_timezone(&Utc)
    }

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn builtin(file: &str) -> &'static str {
        BUILTIN.iter().find(|(f, _)| *f == file).expect("builtin").1
    }

    #[test]
    fn every_builtin_market_parses_and_is_listed() {
        for (file, text) in BUILTIN {
            assert!(Calendar::from_toml(text).is_ok(), "{file}");
        }
        assert_eq!(
            cals().markets(),
            vec!["CFFEX", "CZCE", "DCE", "GFEX", "HKEX", "INE", "NYSE", "SHFE", "SSE"]
        );
    }

    #[test]
    fn markets_are_found_case_insensitively_and_by_alias() {
        let all = cals();
        assert_eq!(all.get("sse").unwrap().code(), "SSE");
        assert_eq!(all.get("SZSE").unwrap().code(), "SSE");
        assert_eq!(all.get("cn-stock").unwrap().code(), "SSE");
        assert_eq!(all.get(" CN-Futures ").unwrap().code(), "SHFE");
        assert_eq!(all.get("nyse").unwrap().tz(), chrono_tz::America::New_York);
        assert!(all.get("LSE").is_none());
        for (name, code) in [
            ("上交所", "SSE"),
            ("深交所", "SSE"),
            ("期货", "SHFE"),
            ("大商所", "DCE"),
            ("郑商所", "CZCE"),
            ("上期能源", "INE"),
            ("广期所", "GFEX"),
            ("中金所", "CFFEX"),
            ("港股", "HKEX"),
            ("美股", "NYSE"),
        ] {
            assert_eq!(all.get(name).map(Calendar::code), Some(code), "{name}");
        }
    }

    #[test]
    fn an_unknown_market_is_unknown_market() {
        assert_eq!(
            cals().try_get("LSE").unwrap_err(),
            CalendarError::UnknownMarket("LSE".into())
        );
    }

    #[test]
    fn mainland_trading_day_counts_match_the_published_calendars() {
        for code in ["SSE", "SHFE", "CFFEX"] {
            let c = cal(code);
            assert_eq!(c.covered_years(), (2025, 2026));
            let count = |y: i32| {
                day(&format!("{y}-01-01"))
                    .iter_days()
                    .take_while(|d| d.year() == y)
                    .filter(|d| c.is_trading_day(*d).unwrap())
                    .count()
            };
            assert_eq!((count(2025), count(2026)), (243, 242), "{code}");
        }
    }

    #[test]
    fn sse_trades_in_its_morning_and_afternoon_sessions_only() {
        let sse = cal("SSE");
        assert!(sse.is_trading(at(&sse, "2026-11-18 10:00")).unwrap());
        assert!(sse.is_trading(at(&sse, "2026-11-18 14:00")).unwrap());
        assert!(!sse.is_trading(at(&sse, "2026-11-18 12:00")).unwrap());
        assert!(!sse.is_trading(at(&sse, "2026-11-18 15:01")).unwrap());
        assert!(!sse.is_trading(at(&sse, "2026-11-18 15:00")).unwrap());
        let s = sse
            .session_at(at(&sse, "2026-11-18 14:00"))
            .unwrap()
            .unwrap();
        assert_eq!(s.name, "afternoon");
        assert_eq!(s.start, at(&sse, "2026-11-18 13:00"));
        assert_eq!(s.end, at(&sse, "2026-11-18 15:00"));
    }

    #[test]
    fn sse_does_not_trade_on_a_saturday_national_day_or_an_adjusted_working_saturday() {
        let sse = cal("SSE");
        assert!(!sse.is_trading(at(&sse, "2026-11-21 10:00")).unwrap());
        assert!(!sse.is_trading_day(day("2026-11-21")).unwrap());
        assert!(!sse.is_trading(at(&sse, "2026-10-01 10:00")).unwrap());
        assert!(!sse.is_trading_day(day("2026-10-01")).unwrap());
        assert!(!sse.is_trading(at(&sse, "2026-02-14 10:00")).unwrap());
        assert!(!sse.is_trading_day(day("2026-02-14")).unwrap());
        assert!(sse.is_trading_day(day("2026-11-20")).unwrap());
    }

    #[test]
    fn dalian_and_zhengzhou_night_sessions_end_at_23_and_guangzhou_has_none() {
        for code in ["DCE", "CZCE"] {
            let c = cal(code);
            let s = c.session_at(at(&c, "2026-11-23 22:00")).unwrap().unwrap();
            assert_eq!(s.end, at(&c, "2026-11-23 23:00"), "{code}");
            assert!(!c.is_trading(at(&c, "2026-11-23 23:30")).unwrap(), "{code}");
        }
        let ine = cal("INE");
        assert!(ine.is_trading(at(&ine, "2026-11-24 02:00")).unwrap());
        let gfex = cal("GFEX");
        assert!(!gfex.is_trading(at(&gfex, "2026-11-23 22:00")).unwrap());
        assert!(gfex.is_trading(at(&gfex, "2026-11-23 09:30")).unwrap());
    }

    #[test]
    fn shfe_friday_night_session_belongs_to_monday_and_runs_past_midnight() {
        let shfe = cal("SHFE");
        let s = shfe
            .session_at(at(&shfe, "2026-11-20 22:00"))
            .unwrap()
            .unwrap();
        assert_eq!(s.name, "night");
        assert_eq!(s.trading_day, day("2026-11-23"));
        assert_eq!(s.start, at(&shfe, "2026-11-20 21:00"));
        assert_eq!(s.end, at(&shfe, "2026-11-21 02:30"));
        let late = shfe
            .session_at(at(&shfe, "2026-11-21 01:00"))
            .unwrap()
            .unwrap();
        assert_eq!(late, s);
        assert!(!shfe.is_trading(at(&shfe, "2026-11-21 02:30")).unwrap());
        assert_eq!(
            shfe.trading_day_of(at(&shfe, "2026-11-20 15:30")).unwrap(),
            day("2026-11-23")
        );
    }

    #[test]
    fn shfe_has_no_night_session_before_national_day_and_a_day_session_only_after_it() {
        let shfe = cal("SHFE");
        assert!(!shfe.is_trading(at(&shfe, "2026-09-30 21:30")).unwrap());
        assert!(!shfe.is_trading(at(&shfe, "2026-10-01 01:00")).unwrap());
        let names: Vec<String> = shfe
            .sessions_of(day("2026-10-08"))
            .unwrap()
            .into_iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(names, ["morning-1", "morning-2", "afternoon"]);
        let normal = shfe.sessions_of(day("2026-11-23")).unwrap();
        assert_eq!(normal.len(), 4);
        assert_eq!(normal[0].name, "night");
        assert_eq!(normal[0].start, at(&shfe, "2026-11-20 21:00"));
        assert_eq!(
            shfe.trading_day_of(at(&shfe, "2026-09-30 15:30")).unwrap(),
            day("2026-10-08")
        );
    }

    #[test]
    fn shfe_night_sessions_match_the_futures_package_for_2025_and_2026() {
        let shfe = cal("SHFE");
        let no_night_evenings = [
            "2025-01-27",
            "2025-04-03",
            "2025-04-30",
            "2025-05-30",
            "2025-09-30",
            "2025-12-31",
            "2026-02-13",
            "2026-04-03",
            "2026-04-30",
            "2026-06-18",
            "2026-09-24",
            "2026-09-30",
        ];
        let day_only = [
            "2025-01-02",
            "2025-02-05",
            "2025-04-07",
            "2025-05-06",
            "2025-06-03",
            "2025-10-09",
            "2026-01-05",
            "2026-02-24",
            "2026-04-07",
            "2026-05-06",
            "2026-06-22",
            "2026-09-28",
            "2026-10-08",
        ];
        let mut evenings = Vec::new();
        let mut firsts = Vec::new();
        for d in day("2025-01-01")
            .iter_days()
            .take_while(|d| d.year() < 2027)
        {
            if !shfe.is_trading_day(d).unwrap() {
                continue;
            }
            if d < day("2026-12-31") && !shfe.is_trading(at(&shfe, &format!("{d} 21:30"))).unwrap()
            {
                evenings.push(d.to_string());
            }
            if shfe.sessions_of(d).unwrap()[0].name != "night" {
                firsts.push(d.to_string());
            }
        }
        assert_eq!(evenings, no_night_evenings);
        assert_eq!(firsts, day_only);
    }

    #[test]
    fn next_open_from_friday_close_is_monday_morning() {
        let sse = cal("SSE");
        let open = sse.next_open(at(&sse, "2026-11-20 15:30")).unwrap();
        assert_eq!(open.start, at(&sse, "2026-11-23 09:30"));
        assert_eq!(open.name, "morning");
        let after_lunch = sse.next_open(at(&sse, "2026-11-23 09:30")).unwrap();
        assert_eq!(after_lunch.start, at(&sse, "2026-11-23 13:00"));
    }

    #[test]
    fn next_open_before_national_day_is_after_the_holiday_week() {
        let sse = cal("SSE");
        let open = sse.next_open(at(&sse, "2026-09-30 15:30")).unwrap();
        assert_eq!(open.start, at(&sse, "2026-10-08 09:30"));
        assert_eq!(open.trading_day, day("2026-10-08"));
    }

    #[test]
    fn three_trading_days_back_from_wednesday_noon_is_the_previous_friday_open() {
        let sse = cal("SSE");
        let now = at(&sse, "2026-11-25 12:00");
        assert_eq!(
            sse.trading_days_back(now, 3).unwrap(),
            at(&sse, "2026-11-20 09:30")
        );
        assert_eq!(
            sse.trading_days_back(now, 0).unwrap(),
            at(&sse, "2026-11-25 09:30")
        );
        let shfe = cal("SHFE");
        // SHFE's Friday trading day opened with Thursday's night session.
        assert_eq!(
            shfe.trading_days_back(at(&shfe, "2026-11-25 12:00"), 3)
                .unwrap(),
            at(&shfe, "2026-11-19 21:00")
        );
    }

    #[test]
    fn trading_days_back_skips_a_holiday_week() {
        let sse = cal("SSE");
        let now = at(&sse, "2026-10-09 12:00");
        assert_eq!(
            sse.trading_days_back(now, 3).unwrap(),
            at(&sse, "2026-09-29 09:30")
        );
    }

    #[test]
    fn trading_duration_across_lunch_counts_only_sessions() {
        let sse = cal("SSE");
        let d = sse
            .trading_duration(at(&sse, "2026-11-18 11:00"), at(&sse, "2026-11-18 13:30"))
            .unwrap();
        assert_eq!(d, Duration::minutes(60));
        assert_eq!(
            sse.trading_duration(at(&sse, "2026-11-18 13:30"), at(&sse, "2026-11-18 11:00"))
                .unwrap(),
            Duration::zero()
        );
    }

    #[test]
    fn trading_duration_across_a_weekend_counts_only_sessions() {
        let sse = cal("SSE");
        let d = sse
            .trading_duration(at(&sse, "2026-11-20 14:00"), at(&sse, "2026-11-23 10:00"))
            .unwrap();
        assert_eq!(d, Duration::minutes(90));
        let weeks = sse
            .trading_duration(at(&sse, "2026-11-02 00:00"), at(&sse, "2026-11-30 00:00"))
            .unwrap();
        assert_eq!(weeks, Duration::hours(4 * 20));
    }

    #[test]
    fn nyse_trading_duration_across_the_march_dst_change_is_exact() {
        let nyse = cal("NYSE");
        let from = at(&nyse, "2026-03-06 15:00");
        let to = at(&nyse, "2026-03-09 10:00");
        assert_eq!(to - from, Duration::hours(66)); // 67 wall-clock hours, one lost on 03-08
        assert_eq!(
            nyse.trading_duration(from, to).unwrap(),
            Duration::minutes(90)
        );
        assert_eq!(
            nyse.add_trading_time(from, Duration::minutes(90)).unwrap(),
            to
        );
    }

    #[test]
    fn hkex_half_day_closes_at_noon() {
        let hkex = cal("HKEX");
        let s = hkex.sessions_of(day("2026-12-24")).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].end, at(&hkex, "2026-12-24 12:00"));
        assert!(!hkex.is_trading(at(&hkex, "2026-12-24 14:00")).unwrap());
        assert!(hkex.is_trading(at(&hkex, "2026-12-23 14:00")).unwrap());
    }

    #[test]
    fn nyse_early_close_is_at_one_pm() {
        let nyse = cal("NYSE");
        let s = nyse.sessions_of(day("2026-11-27")).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].start, at(&nyse, "2026-11-27 09:30"));
        assert_eq!(s[0].end, at(&nyse, "2026-11-27 13:00"));
        assert!(!nyse.is_trading(at(&nyse, "2026-11-27 13:30")).unwrap());
        assert!(nyse.sessions_of(day("2026-11-26")).unwrap().is_empty());
    }

    #[test]
    fn add_trading_time_from_friday_afternoon_lands_on_monday_morning() {
        let sse = cal("SSE");
        assert_eq!(
            sse.add_trading_time(at(&sse, "2026-11-20 14:50"), Duration::minutes(20))
                .unwrap(),
            at(&sse, "2026-11-23 09:40")
        );
        // Exactly used up at the close: the close, not Monday's open.
        assert_eq!(
            sse.add_trading_time(at(&sse, "2026-11-20 14:50"), Duration::minutes(10))
                .unwrap(),
            at(&sse, "2026-11-20 15:00")
        );
        assert!(sse
            .add_trading_time(at(&sse, "2026-11-20 14:50"), Duration::minutes(-1))
            .is_err());
    }

    #[test]
    fn add_trading_time_inverts_trading_duration() {
        let shfe = cal("SHFE");
        let mut from = at(&shfe, "2026-09-20 00:07");
        for step in 0..200 {
            let d = Duration::minutes(step * 37 % 900);
            let to = shfe.add_trading_time(from, d).unwrap();
            assert_eq!(shfe.trading_duration(from, to).unwrap(), d, "from {from}");
            from += Duration::minutes(173);
        }
    }

    #[test]
    fn dates_outside_the_data_are_not_covered_rather_than_guessed() {
        let sse = cal("SSE");
        let not_covered = CalendarError::NotCovered {
            market: "SSE".into(),
            date: day("2028-03-01"),
        };
        assert_eq!(
            sse.is_trading_day(day("2028-03-01")).unwrap_err(),
            not_covered
        );
        assert!(matches!(
            sse.is_trading(at(&sse, "2028-03-01 10:00")),
            Err(CalendarError::NotCovered { .. })
        ));
        assert!(matches!(
            sse.is_trading_day(day("2027-01-04")),
            Err(CalendarError::NotCovered { .. })
        ));
        // After the last covered close the next open is unknown, but the last day is not.
        assert!(matches!(
            sse.next_open(at(&sse, "2026-12-31 15:30")),
            Err(CalendarError::NotCovered { .. })
        ));
        assert!(!sse.is_trading(at(&sse, "2026-12-31 16:00")).unwrap());
        assert_eq!(
            sse.trading_duration(at(&sse, "2026-12-31 09:00"), at(&sse, "2026-12-31 23:00"))
                .unwrap(),
            Duration::hours(4)
        );
    }

    #[test]
    fn extreme_instants_are_not_covered_rather_than_a_panic() {
        for c in cals().markets.iter() {
            for t in [DateTime::<Utc>::MAX_UTC, DateTime::<Utc>::MIN_UTC] {
                assert!(matches!(
                    c.session_at(t),
                    Err(CalendarError::NotCovered { .. })
                ));
                assert!(
                    c.trading_duration(DateTime::<Utc>::MIN_UTC, t).is_err()
                        || t == DateTime::<Utc>::MIN_UTC
                );
                assert!(c.add_trading_time(t, Duration::hours(1)).is_err());
            }
        }
    }

    #[test]
    fn malformed_toml_gives_invalid_with_the_key() {
        let base = BUILTIN[0].1;
        let key_of = |text: &str| match Calendars::builtin().add_toml(text) {
            Err(CalendarError::Invalid { key, .. }) => key,
            other => panic!("expected Invalid, got {other:?}"),
        };
        assert_eq!(
            key_of(&base.replace("\"09:30\"", "\"9h30\"")),
            "sessions[0].start"
        );
        assert_eq!(
            key_of(&base.replace("Asia/Shanghai", "Mars/Olympus")),
            "timezone"
        );
        assert_eq!(
            key_of(&base.replace("\"Asia/Shanghai\"", "\"Asia")),
            "timezone"
        );
        assert_eq!(
            key_of(&base.replace("covered_years", "coverd_years")),
            "coverd_years"
        );
        assert_eq!(
            key_of(&base.replace("2026-09-25", "2028-09-25")),
            "holidays[31]"
        );
        assert_eq!(
            key_of(&base.replace("\"13:00\"", "\"11:00\"")),
            "sessions[1].start"
        );
        assert_eq!(key_of("code = \"X\""), "timezone");
        assert_eq!(
            key_of(&format!("{base}\n[half_days]\n2026-12-24 = [\"lunch\"]\n")),
            "half_days.2026-12-24[0]"
        );
        let mut all = Calendars::builtin();
        let _ = all.add_toml("code = \"X\"");
        assert!(all.get("X").is_none());
    }

    #[test]
    fn add_toml_overrides_a_market_and_a_new_code_takes_over_an_alias() {
        let mut all = cals();
        let szse = BUILTIN[0]
            .1
            .replace("code = \"SSE\"", "code = \"SZSE\"")
            .replace(
                "aliases = [\"SZSE\", \"CN-STOCK\", \"XSHG\", \"XSHE\", \"上交所\", \"深交所\", \"A股\", \"沪深\"]",
                "aliases = [\"XSHE\"]",
            )
            + "\n[half_days]\n2026-11-20 = [\"morning\"]\n";
        all.add_toml(&szse).unwrap();
        assert_eq!(all.get("SZSE").unwrap().code(), "SZSE");
        assert_eq!(all.get("XSHE").unwrap().code(), "SZSE");
        assert_eq!(all.get("XSHG").unwrap().code(), "SSE");
        assert_eq!(all.markets().len(), BUILTIN.len() + 1);
        let szse = all.get("szse").unwrap();
        assert_eq!(szse.sessions_of(day("2026-11-20")).unwrap().len(), 1);
        assert!(matches!(
            all.add_toml(&builtin("hkex.toml").replace("\"HK\"", "\"NYSE\"")),
            Err(CalendarError::Invalid { key, .. }) if key == "aliases"
        ));
    }
}
