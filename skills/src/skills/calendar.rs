//! `calendar`: trading days and sessions of a market (交易日历).

use async_trait::async_trait;
use chrono::{Duration, NaiveDate};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};
use warroom_core::calendar::Calendar;

use super::clip;
use crate::skill::{parse_args, Skill, SkillContext, SkillError, SkillOutput};

/// How far to walk looking for trading days (holiday weeks are long, not this long).
const MAX_WALK_DAYS: i64 = 120;

/// Trading calendar (交易日历): whether a date is a trading day of a market, its sessions (with night sessions, which belong to the next trading day), whether trading is on now, and the previous or next N trading days. Omit `market` for the default market and `date` for today.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Args {
    /// Market code.
    pub market: Option<String>,
    /// Date "YYYY-MM-DD"; today when omitted.
    pub date: Option<String>,
    /// Also list this many trading days before the date, 0 to 10.
    #[schemars(range(max = 10))]
    pub previous: Option<u32>,
    /// Also list this many trading days after the date, 0 to 10.
    #[schemars(range(max = 10))]
    pub next: Option<u32>,
}

/// The skill.
pub struct CalendarSkill;

fn walk(cal: &Calendar, from: NaiveDate, n: u32, step: i64) -> Result<Vec<NaiveDate>, SkillError> {
    let mut out = Vec::new();
    let mut day = from;
    for _ in 0..MAX_WALK_DAYS {
        if out.len() >= n as usize {
            break;
        }
        day = match day.checked_add_signed(Duration::days(step)) {
            Some(d) => d,
            None => break,
        };
        if cal
            .is_trading_day(day)
            .map_err(|e| SkillError::Unavailable(e.to_string()))?
        {
            out.push(day);
        }
    }
    Ok(out)
}

#[async_trait]
impl Skill for CalendarSkill {
    crate::skill_meta!("calendar", Read);

    async fn run(&self, ctx: &dyn SkillContext, args: Value) -> Result<SkillOutput, SkillError> {
        let a: Args = parse_args(args)?;
        let market = a.market.as_deref().map(str::trim).filter(|m| !m.is_empty());
        let cal = ctx.calendar(market).ok_or_else(|| {
            SkillError::InvalidArgs(format!(
                "market: unknown `{}`; known: {}",
                clip(market.unwrap_or("(default)"), 30),
                ctx.markets().join(", ")
            ))
        })?;
        let now = ctx.now();
        let today = now.with_timezone(&cal.tz()).date_naive();
        let date = match a.date.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
            Some(d) => NaiveDate::parse_from_str(d, "%Y-%m-%d")
                .map_err(|_| SkillError::InvalidArgs("date: write it as YYYY-MM-DD".into()))?,
            None => today,
        };
        let (prev, next) = (a.previous.unwrap_or(0), a.next.unwrap_or(0));
        if prev > 10 || next > 10 {
            return Err(SkillError::InvalidArgs("previous and next: 0 to 10".into()));
        }
        let not_covered =
            |e: warroom_core::calendar::CalendarError| SkillError::Unavailable(e.to_string());
        let trading_day = cal.is_trading_day(date).map_err(not_covered)?;
        let sessions: Vec<Value> = cal
            .sessions_of(date)
            .map_err(not_covered)?
            .into_iter()
            .map(|s| json!({ "name": s.name, "start": s.start, "end": s.end }))
            .collect();
        let mut out = json!({
            "market": cal.code(),
            "tz": cal.tz().name(),
            "date": date,
            "is_trading_day": trading_day,
            "sessions": sessions,
            "previous_trading_days": walk(&cal, date, prev, -1)?,
            "next_trading_days": walk(&cal, date, next, 1)?,
        });
        if date == today {
            let session = cal.session_at(now).map_err(not_covered)?;
            out["now"] = json!({
                "at": now,
                "trading": session.is_some(),
                "session": session.as_ref().map(|s| &s.name),
                "session_end": session.as_ref().map(|s| s.end),
                "next_open": cal.next_open(now).ok().map(|s| s.start),
            });
        }
        Ok(SkillOutput::Data(out))
    }
}
