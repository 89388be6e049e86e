//! The change-defense gate: may this change go ahead now?
//!
//! [`check`] weighs a [`ChangeEvent`] against [`GateRules`] and answers a [`Verdict`]:
//! `allow`, `needs_approval` or `deny`, with one human-readable [`Reason`] per rule
//! that fired. Deny wins over needs-approval, which wins over allow.
//!
//! **The change window.** A change occupies `[start, end)`; without an `end` it is
//! `default_duration_minutes` long. For a `planned` or `in_progress` change whose
//! start has passed, the window starts at `now` (what matters is the part still to
//! come); a finished change is judged on its own window (a retrospective check).
//!
//! **Rules** (`[changes.gate]` in TOML; every key optional, defaults in brackets):
//! ```toml
//! [changes.gate]
//! enabled = true                        # [true] false: every change is allowed
//! environments = ["prod", "production"] # [these] only these are gated; [] = all
//! default_duration_minutes = 30         # [30] window length when `end` is absent
//! timezone = "Asia/Shanghai"            # [Asia/Shanghai] for `daily` windows without one
//! approval_risk = "high"                # [high] risk at or above → needs approval; "none" = off
//! deny_risk = "none"                    # [none] risk at or above → deny
//! high_risk_scenarios = ["database", "infrastructure"]  # [these] → needs approval
//! emergency_downgrade = true            # [true] emergency: freeze deny → needs approval
//!
//! [changes.gate.blast_radius]           # downstream dependents within `hops`
//! hops = 2                              # [2]
//! threshold = 5                         # [5] at least this many → `action`; 0 = off
//! action = "needs_approval"             # [needs_approval] or "deny"
//!
//! # Freeze windows. Writing any [[changes.gate.freeze]] replaces the default list,
//! # which is the first three below; `freeze = []` removes them all. Every rule takes
//! # `name` (shown as the reason's rule), `action` ("deny" / "needs_approval" / "allow")
//! # and `environments` (further narrowing; [] = every gated environment).
//! [[changes.gate.freeze]]
//! kind = "trading_sessions"             # while `market` trades       [action: deny]
//! market = "SSE"
//! [[changes.gate.freeze]]
//! kind = "market_open"                  # open ± `minutes`             [action: deny]
//! market = "SSE"
//! minutes = 15                          # [15]
//! every_session = false                 # [false] true: every session start (13:00 too)
//! [[changes.gate.freeze]]
//! kind = "holiday_eve"                  # the last trading day(s) before a holiday
//! market = "SSE"                        #                    [action: needs_approval]
//! trading_days = 1                      # [1] the last N trading days before it
//! until_reopen = false                  # [false] true: through the holiday to the reopen
//! [[changes.gate.freeze]]
//! kind = "window"                       # one fixed window             [action: deny]
//! name = "year-end"
//! start = 2026-12-31T15:00:00+08:00     # RFC 3339 (TOML datetime or string)
//! end = "2027-01-04T09:00:00+08:00"
//! [[changes.gate.freeze]]
//! kind = "daily"                        # a daily window               [action: deny]
//! name = "clearing"
//! from = "15:00"                        # `to` at or before `from` crosses midnight
//! to = "17:30"
//! weekdays = ["Mon", "Tue", "Wed", "Thu", "Fri"]  # [] = every day
//! timezone = "Asia/Shanghai"            # [the gate's timezone]
//! ```
//!
//! **Holiday eve**: a trading day followed (before `trading_days` more trading days
//! pass) by a non-trading Monday–Friday — a holiday, as opposed to a plain weekend.
//! The window is that calendar day in the market's zone (00:00–24:00), or with
//! `until_reopen` up to the first session after the holiday.
//!
//! **Emergency changes**: with `emergency_downgrade` (the default), a freeze window
//! that would deny an `emergency` change requires approval instead — an incident fix
//! must be possible during trading, but never silently. Risk, scenario and blast
//! radius denials are not downgraded.
//!
//! **Unknown answers**: when a calendar cannot answer (a date outside its covered
//! years, an unknown market), the rule needs approval and says why; the gate never
//! guesses that a day is quiet.

use std::fmt;

use chrono::{
    DateTime, Datelike, Duration, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc,
    Weekday,
};
use chrono_tz::Tz;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::model::{ChangeEvent, ChangeStatus, Risk, Scenario};
use crate::calendar::{Calendar, CalendarError, Calendars};
use crate::catalog::{Catalog, Direction};

/// What the gate decides. Ordered: `Allow < NeedsApproval < Deny`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Go ahead.
    Allow,
    /// Go ahead only with an approval.
    NeedsApproval,
    /// Do not go ahead.
    Deny,
}

impl Decision {
    /// The snake_case word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::NeedsApproval => "needs_approval",
            Self::Deny => "deny",
        }
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a rule fired.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    /// The rule: a freeze rule's name, or `risk`, `scenario`, `blast_radius`,
    /// `environments`, `gate`.
    pub rule: String,
    /// What this reason alone decides.
    pub effect: Decision,
    /// For people, in English (the API and the audit trail).
    pub message: String,
    /// The same, structured, so each language words it (absent in records written
    /// before it existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<Why>,
    /// An emergency change's freeze denial, downgraded to an approval requirement.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub downgraded: bool,
}

impl Reason {
    pub(crate) fn new(rule: impl Into<String>, effect: Decision, why: Why) -> Self {
        Self {
            rule: rule.into(),
            effect,
            message: why.to_string(),
            why: Some(why),
            downgraded: false,
        }
    }
}

/// Where a change starts relative to a market open it is too close to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpenSide {
    /// The window starts earlier and runs into the frozen minutes.
    RunsInto,
    /// It starts within the frozen minutes before the open.
    Before,
    /// It starts within the frozen minutes after the open.
    After,
}

/// What a [`Reason`] says, structured. Times are local and already formatted
/// (`window`: `2026-11-20 09:50–10:00 Asia/Shanghai`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "why", rename_all = "snake_case")]
pub enum Why {
    /// `[changes.gate] enabled = false`.
    GateOff,
    /// The change's environment is not gated.
    NotGated {
        /// The change's environment.
        environment: String,
        /// The gated ones.
        gated: Vec<String>,
    },
    /// The calendar cannot tell whether a freeze applies.
    Unknowable {
        /// The calendar's words.
        error: String,
    },
    /// The window overlaps a trading session.
    TradingSession {
        /// The change window.
        window: String,
        /// Market code.
        market: String,
        /// Session name (`day`, `night`, `morning`…).
        session: String,
        /// Session start `HH:MM`.
        start: String,
        /// Session end `HH:MM`.
        end: String,
        /// Its trading day.
        trading_day: NaiveDate,
    },
    /// The change is too close to a market open.
    MarketOpen {
        /// The change window.
        window: String,
        /// Market code.
        market: String,
        /// The open, `HH:MM`.
        open: String,
        /// Its date.
        date: NaiveDate,
        /// Session name.
        session: String,
        /// Minutes frozen either side of the open.
        minutes: u32,
        /// Where the change starts.
        side: OpenSide,
        /// How many minutes before or after the open it starts.
        off_by: i64,
    },
    /// The window falls on one of the last trading days before a holiday.
    HolidayEve {
        /// The change window.
        window: String,
        /// The day it falls on.
        day: NaiveDate,
        /// Market code.
        market: String,
        /// The holiday.
        holiday: NaiveDate,
        /// Frozen until this reopen (`YYYY-MM-DD HH:MM`), when the rule says so.
        reopen: Option<String>,
    },
    /// The window overlaps a fixed freeze window.
    FreezeWindow {
        /// The change window.
        window: String,
        /// The freeze window.
        freeze: String,
    },
    /// The window overlaps a daily freeze.
    DailyFreeze {
        /// The change window.
        window: String,
        /// `HH:MM`.
        from: String,
        /// `HH:MM`.
        to: String,
        /// Time zone name.
        zone: String,
        /// The day the freeze starts.
        day: NaiveDate,
        /// Its weekday.
        weekday: Weekday,
    },
    /// The change's risk is at or above a limit.
    Risk {
        /// The change's risk.
        risk: String,
        /// The limit.
        limit: String,
        /// Denied (else needs approval).
        deny: bool,
    },
    /// The scenario is a high-risk one.
    Scenario {
        /// The scenario.
        scenario: String,
    },
    /// The service is not in the catalog.
    BlastUnknown {
        /// The service.
        service: String,
    },
    /// A person decided the change (`approved`, `overridden` or `rejected`).
    Decided {
        /// `approved`, `overridden` or `rejected`.
        action: String,
        /// Who.
        by: String,
        /// When, `YYYY-MM-DD HH:MM Zone` in the gate's timezone.
        at: String,
        /// Their note.
        note: Option<String>,
    },
    /// The service has many downstream dependents.
    BlastRadius {
        /// The service.
        service: String,
        /// How many dependents.
        count: usize,
        /// Within how many hops.
        hops: u32,
        /// The threshold.
        threshold: u32,
        /// The first ten (`…` when there are more).
        names: Vec<String>,
    },
}

impl fmt::Display for Why {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::GateOff => f.write_str("the change gate is switched off"),
            Self::NotGated { environment, gated } => write!(
                f,
                "environment `{environment}` is not gated (gated: {})",
                gated.join(", ")
            ),
            Self::Unknowable { error } => write!(
                f,
                "cannot tell whether the change falls in this freeze window ({error}); approval required"
            ),
            Self::TradingSession {
                window,
                market,
                session,
                start,
                end,
                trading_day,
            } => write!(
                f,
                "the change window {window} overlaps the {market} {session} session {start}–{end} (trading day {trading_day}); changes are frozen while the market trades"
            ),
            Self::MarketOpen {
                window,
                market,
                open,
                date,
                session,
                minutes,
                side,
                off_by,
            } => {
                let open = format!("the {market} open at {open} ({date}, {session} session)");
                match side {
                    OpenSide::RunsInto => write!(
                        f,
                        "the change window {window} runs into the {minutes} minutes before {open}"
                    ),
                    OpenSide::Before => write!(
                        f,
                        "the change starts {off_by} minutes before {open}; changes are frozen {minutes} minutes either side of the open"
                    ),
                    OpenSide::After => write!(
                        f,
                        "the change starts {off_by} minutes after {open}; changes are frozen {minutes} minutes either side of the open"
                    ),
                }
            }
            Self::HolidayEve {
                window,
                day,
                market,
                holiday,
                reopen,
            } => {
                write!(
                    f,
                    "the change window {window} falls on {day}, the last {market} trading day before the holiday on {holiday}"
                )?;
                if let Some(r) = reopen {
                    write!(f, " (frozen until the reopen at {r})")?;
                }
                Ok(())
            }
            Self::FreezeWindow { window, freeze } => write!(
                f,
                "the change window {window} overlaps the freeze window {freeze}"
            ),
            Self::DailyFreeze {
                window,
                from,
                to,
                zone,
                day,
                weekday,
            } => write!(
                f,
                "the change window {window} overlaps the daily freeze {from}–{to} {zone} on {day} ({weekday})"
            ),
            Self::Risk { risk, limit, deny } => write!(
                f,
                "risk is {risk}: changes of risk {limit} or above {}",
                if *deny { "are denied" } else { "need approval" }
            ),
            Self::Scenario { scenario } => write!(
                f,
                "{scenario} changes are a high-risk scenario: approval required"
            ),
            Self::BlastUnknown { service } => write!(
                f,
                "service `{service}` is not in the catalog, so its blast radius is unknown"
            ),
            Self::Decided {
                action,
                by,
                at,
                note,
            } => {
                write!(f, "{action} by {by} at {at}")?;
                match note {
                    Some(n) => write!(f, ": {n}"),
                    None => Ok(()),
                }
            }
            Self::BlastRadius {
                service,
                count,
                hops,
                threshold,
                names,
            } => write!(
                f,
                "{service} has {count} downstream dependents within {hops} hops (threshold {threshold}): {}",
                names.join(", ")
            ),
        }
    }
}

/// The gate's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// The strongest effect among the reasons (`allow` when there are none).
    pub decision: Decision,
    /// Every rule that fired, in rule order: freeze windows, risk, scenario, blast radius.
    pub reasons: Vec<Reason>,
}

/// A local time of day written `HH:MM` (or `HH:MM:SS`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalTime(pub NaiveTime);

impl Serialize for LocalTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0.format("%H:%M"))
    }
}

impl<'de> Deserialize<'de> for LocalTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        NaiveTime::parse_from_str(s.trim(), "%H:%M")
            .or_else(|_| NaiveTime::parse_from_str(s.trim(), "%H:%M:%S"))
            .map(LocalTime)
            .map_err(|_| serde::de::Error::custom(format!("`{s}` is not a time of day like 15:00")))
    }
}

/// An RFC 3339 instant given as a TOML datetime or a string.
mod instant {
    use super::*;

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Text(String),
        Toml(toml::value::Datetime),
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<DateTime<FixedOffset>, D::Error> {
        let text = match Raw::deserialize(d)? {
            Raw::Text(s) => s,
            Raw::Toml(t) => t.to_string(),
        };
        DateTime::parse_from_rfc3339(text.trim()).map_err(|_| {
            serde::de::Error::custom(format!("`{text}` is not an RFC 3339 time with an offset, such as 2026-12-31T15:00:00+08:00"))
        })
    }

    pub(super) fn serialize<S: Serializer>(
        t: &DateTime<FixedOffset>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_str(&t.to_rfc3339())
    }
}

/// A risk threshold that may be switched off with `"none"` / `"off"`.
mod risk_opt {
    use super::*;

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Risk>, D::Error> {
        let s = String::deserialize(d)?;
        match s.trim().to_lowercase().as_str() {
            "none" | "off" | "" => Ok(None),
            other => other.parse().map(Some).map_err(serde::de::Error::custom),
        }
    }

    pub(super) fn serialize<S: Serializer>(r: &Option<Risk>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(r.map_or("none", Risk::as_str))
    }
}

fn deny() -> Decision {
    Decision::Deny
}
fn needs_approval() -> Decision {
    Decision::NeedsApproval
}
fn fifteen() -> u32 {
    15
}
fn one() -> u32 {
    1
}

/// A freeze window. See the module docs for the TOML form and defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum FreezeRule {
    /// While the market trades (any session).
    TradingSessions {
        /// Rule name for reasons (default `trading_sessions:<market>`).
        #[serde(default)]
        name: Option<String>,
        /// Market code or alias (`SSE`, `SHFE`, ...).
        market: String,
        /// Effect when the change window overlaps a session.
        #[serde(default = "deny")]
        action: Decision,
        /// Only for these environments (empty: every gated one).
        #[serde(default)]
        environments: Vec<String>,
    },
    /// `minutes` either side of the market's open.
    MarketOpen {
        /// Rule name (default `market_open:<market>`).
        #[serde(default)]
        name: Option<String>,
        /// Market code or alias.
        market: String,
        /// Minutes before and after the open.
        #[serde(default = "fifteen")]
        minutes: u32,
        /// Every session start, not only the first session of each trading day.
        #[serde(default)]
        every_session: bool,
        /// Effect.
        #[serde(default = "deny")]
        action: Decision,
        /// Only for these environments.
        #[serde(default)]
        environments: Vec<String>,
    },
    /// The last trading day(s) before a holiday.
    HolidayEve {
        /// Rule name (default `holiday_eve:<market>`).
        #[serde(default)]
        name: Option<String>,
        /// Market code or alias.
        market: String,
        /// The last this many trading days before the holiday.
        #[serde(default = "one")]
        trading_days: u32,
        /// Extend the window through the holiday to the first session after it.
        #[serde(default)]
        until_reopen: bool,
        /// Effect.
        #[serde(default = "needs_approval")]
        action: Decision,
        /// Only for these environments.
        #[serde(default)]
        environments: Vec<String>,
    },
    /// One fixed window `[start, end)`.
    Window {
        /// Rule name (default `window`).
        #[serde(default)]
        name: Option<String>,
        /// Start (RFC 3339).
        #[serde(with = "instant")]
        start: DateTime<FixedOffset>,
        /// End (RFC 3339).
        #[serde(with = "instant")]
        end: DateTime<FixedOffset>,
        /// Effect.
        #[serde(default = "deny")]
        action: Decision,
        /// Only for these environments.
        #[serde(default)]
        environments: Vec<String>,
    },
    /// A window every day (or on `weekdays`), `from`–`to` local time.
    Daily {
        /// Rule name (default `daily:<from>-<to>`).
        #[serde(default)]
        name: Option<String>,
        /// Start, local time.
        from: LocalTime,
        /// End, local time; at or before `from` means the next day.
        to: LocalTime,
        /// Days on which the window starts; empty: every day.
        #[serde(default)]
        weekdays: Vec<Weekday>,
        /// Zone of `from`/`to` (default: the gate's `timezone`).
        #[serde(default)]
        timezone: Option<Tz>,
        /// Effect.
        #[serde(default = "deny")]
        action: Decision,
        /// Only for these environments.
        #[serde(default)]
        environments: Vec<String>,
    },
}

impl FreezeRule {
    /// The rule's name as reasons show it.
    pub fn name(&self) -> String {
        match self {
            Self::TradingSessions { name, market, .. } => name
                .clone()
                .unwrap_or_else(|| format!("trading_sessions:{market}")),
            Self::MarketOpen { name, market, .. } => name
                .clone()
                .unwrap_or_else(|| format!("market_open:{market}")),
            Self::HolidayEve { name, market, .. } => name
                .clone()
                .unwrap_or_else(|| format!("holiday_eve:{market}")),
            Self::Window { name, .. } => name.clone().unwrap_or_else(|| "window".into()),
            Self::Daily { name, from, to, .. } => name.clone().unwrap_or_else(|| {
                format!("daily:{}-{}", from.0.format("%H:%M"), to.0.format("%H:%M"))
            }),
        }
    }

    /// The effect when the window overlaps the change.
    pub fn action(&self) -> Decision {
        match self {
            Self::TradingSessions { action, .. }
            | Self::MarketOpen { action, .. }
            | Self::HolidayEve { action, .. }
            | Self::Window { action, .. }
            | Self::Daily { action, .. } => *action,
        }
    }

    fn environments(&self) -> &[String] {
        match self {
            Self::TradingSessions { environments, .. }
            | Self::MarketOpen { environments, .. }
            | Self::HolidayEve { environments, .. }
            | Self::Window { environments, .. }
            | Self::Daily { environments, .. } => environments,
        }
    }

    fn market(&self) -> Option<&str> {
        match self {
            Self::TradingSessions { market, .. }
            | Self::MarketOpen { market, .. }
            | Self::HolidayEve { market, .. } => Some(market),
            Self::Window { .. } | Self::Daily { .. } => None,
        }
    }
}

/// Blast radius: how many services depend on the changed one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BlastRadius {
    /// Dependency hops followed downstream.
    pub hops: u32,
    /// At least this many downstream dependents → `action`; 0 switches the rule off.
    pub threshold: u32,
    /// Effect.
    pub action: Decision,
}

impl Default for BlastRadius {
    fn default() -> Self {
        Self {
            hops: 2,
            threshold: 5,
            action: Decision::NeedsApproval,
        }
    }
}

/// The gate's rules: `[changes.gate]`. See the module docs for the schema.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GateRules {
    /// False: every change is allowed.
    pub enabled: bool,
    /// Only changes in these environments are gated (case-insensitive); empty: all.
    pub environments: Vec<String>,
    /// Window length when a change has no end.
    pub default_duration_minutes: u32,
    /// Zone for `daily` windows that name none.
    pub timezone: Tz,
    /// Risk at or above this needs approval; `None` ("none") switches it off.
    #[serde(with = "risk_opt")]
    pub approval_risk: Option<Risk>,
    /// Risk at or above this is denied; `None` ("none") switches it off.
    #[serde(with = "risk_opt")]
    pub deny_risk: Option<Risk>,
    /// Scenarios that need approval (`other` matches every `other:<label>`).
    pub high_risk_scenarios: Vec<Scenario>,
    /// An emergency change's freeze denial becomes needs-approval.
    pub emergency_downgrade: bool,
    /// The blast-radius rule.
    pub blast_radius: BlastRadius,
    /// Freeze windows.
    pub freeze: Vec<FreezeRule>,
}

impl Default for GateRules {
    fn default() -> Self {
        Self {
            enabled: true,
            environments: vec!["prod".into(), "production".into()],
            default_duration_minutes: 30,
            timezone: chrono_tz::Asia::Shanghai,
            approval_risk: Some(Risk::High),
            deny_risk: None,
            high_risk_scenarios: vec![Scenario::Database, Scenario::Infrastructure],
            emergency_downgrade: true,
            blast_radius: BlastRadius::default(),
            freeze: vec![
                FreezeRule::TradingSessions {
                    name: None,
                    market: "SSE".into(),
                    action: Decision::Deny,
                    environments: Vec::new(),
                },
                FreezeRule::MarketOpen {
                    name: None,
                    market: "SSE".into(),
                    minutes: 15,
                    every_session: false,
                    action: Decision::Deny,
                    environments: Vec::new(),
                },
                FreezeRule::HolidayEve {
                    name: None,
                    market: "SSE".into(),
                    trading_days: 1,
                    until_reopen: false,
                    action: Decision::NeedsApproval,
                    environments: Vec::new(),
                },
            ],
        }
    }
}

#[derive(Deserialize)]
struct Document {
    #[serde(default)]
    changes: ChangesSection,
}

#[derive(Default, Deserialize)]
struct ChangesSection {
    #[serde(default)]
    gate: GateRules,
}

impl GateRules {
    /// Reads `[changes.gate]` from a whole TOML config file (defaults when absent;
    /// other tables are ignored).
    ///
    /// # Errors
    /// The TOML error, with line and column, for bad syntax or a bad gate key.
    pub fn from_toml(text: &str) -> Result<Self, toml::de::Error> {
        toml::from_str::<Document>(text).map(|d| d.changes.gate)
    }

    /// Checks what serde cannot: markets exist, windows are not empty, numbers are
    /// sane. Keys are given as `changes.gate.freeze[1].market`.
    ///
    /// # Errors
    /// Every problem, as `key: message`.
    pub fn validate(&self, calendars: &Calendars) -> Result<(), Vec<String>> {
        let mut errs = Vec::new();
        let key = "changes.gate";
        if self.default_duration_minutes == 0 || self.default_duration_minutes > 7 * 24 * 60 {
            errs.push(format!("{key}.default_duration_minutes: must be 1..=10080"));
        }
        if self.blast_radius.hops > 10 {
            errs.push(format!("{key}.blast_radius.hops: at most 10"));
        }
        if let (Some(a), Some(d)) = (self.approval_risk, self.deny_risk) {
            if d < a {
                errs.push(format!("{key}.deny_risk: `{d}` is below approval_risk `{a}`; approval would never apply"));
            }
        }
        for (i, rule) in self.freeze.iter().enumerate() {
            let at = format!("{key}.freeze[{i}]");
            if let Some(m) = rule.market() {
                if calendars.get(m).is_none() {
                    errs.push(format!(
                        "{at}.market: unknown market `{m}` (known: {})",
                        calendars.markets().join(", ")
                    ));
                }
            }
            match rule {
                FreezeRule::MarketOpen { minutes, .. } if *minutes > 720 => {
                    errs.push(format!("{at}.minutes: at most 720"));
                }
                FreezeRule::HolidayEve { trading_days, .. }
                    if *trading_days == 0 || *trading_days > 10 =>
                {
                    errs.push(format!("{at}.trading_days: must be 1..=10"));
                }
                FreezeRule::Window { start, end, .. } if end <= start => {
                    errs.push(format!("{at}.end: {end} is not after start {start}"));
                }
                FreezeRule::Daily { from, to, .. } if from == to => {
                    errs.push(format!(
                        "{at}.to: equals `from`; a daily window needs a length"
                    ));
                }
                _ => {}
            }
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(errs)
        }
    }
}

fn env_listed(list: &[String], env: &str) -> bool {
    list.is_empty()
        || list
            .iter()
            .any(|e| e.trim().eq_ignore_ascii_case(env.trim()))
}

/// The window a change is judged on; see the module docs.
pub fn change_window(
    change: &ChangeEvent,
    rules: &GateRules,
    now: DateTime<Utc>,
) -> (DateTime<Utc>, DateTime<Utc>) {
    let d = Duration::minutes(i64::from(rules.default_duration_minutes.max(1)));
    let planned_end = change.planned_end(d);
    let active = matches!(
        change.status,
        ChangeStatus::Planned | ChangeStatus::InProgress
    );
    let ws = if active && change.start < now {
        now
    } else {
        change.start
    };
    let mut we = if active && planned_end <= ws {
        ws + d
    } else {
        planned_end
    };
    if we <= ws {
        we = ws + Duration::minutes(1);
    }
    (ws, we)
}

/// Decides whether `change` may go ahead, judged at `now`. See the module docs.
pub fn check(
    change: &ChangeEvent,
    rules: &GateRules,
    now: DateTime<Utc>,
    calendars: &Calendars,
    catalog: &Catalog,
) -> Verdict {
    let mut reasons = Vec::new();
    if !rules.enabled {
        reasons.push(Reason::new("gate", Decision::Allow, Why::GateOff));
        return verdict(reasons);
    }
    if !env_listed(&rules.environments, &change.environment) {
        reasons.push(Reason::new(
            "environments",
            Decision::Allow,
            Why::NotGated {
                environment: change.environment.clone(),
                gated: rules.environments.clone(),
            },
        ));
        return verdict(reasons);
    }
    let (ws, we) = change_window(change, rules, now);
    let emergency = change.scenario == Scenario::Emergency && rules.emergency_downgrade;
    for rule in rules
        .freeze
        .iter()
        .filter(|r| env_listed(r.environments(), &change.environment))
    {
        let name = rule.name();
        let mut reason = match freeze_hit(rule, ws, we, calendars, rules.timezone) {
            Ok(None) => continue,
            Ok(Some(why)) => Reason::new(name, rule.action(), why),
            Err(e) => Reason::new(
                name,
                Decision::NeedsApproval,
                Why::Unknowable {
                    error: e.to_string(),
                },
            ),
        };
        if emergency && reason.effect == Decision::Deny {
            reason.effect = Decision::NeedsApproval;
            reason.downgraded = true;
            reason.message.push_str(
                "; emergency change: the freeze denial is downgraded to an approval requirement",
            );
        }
        reasons.push(reason);
    }
    let risk = |limit: &dyn fmt::Display, deny: bool| Why::Risk {
        risk: change.risk.to_string(),
        limit: limit.to_string(),
        deny,
    };
    if let Some(limit) = rules.deny_risk.filter(|r| change.risk >= *r) {
        reasons.push(Reason::new("risk", Decision::Deny, risk(&limit, true)));
    } else if let Some(limit) = rules.approval_risk.filter(|r| change.risk >= *r) {
        reasons.push(Reason::new(
            "risk",
            Decision::NeedsApproval,
            risk(&limit, false),
        ));
    }
    let high_risk = rules.high_risk_scenarios.iter().any(|s| {
        *s == change.scenario
            || (*s == Scenario::Other(String::new())
                && matches!(change.scenario, Scenario::Other(_)))
    });
    if high_risk {
        reasons.push(Reason::new(
            "scenario",
            Decision::NeedsApproval,
            Why::Scenario {
                scenario: change.scenario.to_string(),
            },
        ));
    }
    let br = &rules.blast_radius;
    if br.threshold > 0 {
        if catalog.get(&change.service).is_none() {
            reasons.push(Reason::new(
                "blast_radius",
                Decision::Allow,
                Why::BlastUnknown {
                    service: change.service.clone(),
                },
            ));
        } else {
            let deps = catalog.related(&change.service, Direction::Downstream, br.hops);
            if deps.len() >= br.threshold as usize {
                let mut names: Vec<String> = deps.iter().take(10).map(|r| r.name.clone()).collect();
                if deps.len() > 10 {
                    names.push("…".into());
                }
                reasons.push(Reason::new(
                    "blast_radius",
                    br.action,
                    Why::BlastRadius {
                        service: change.service.clone(),
                        count: deps.len(),
                        hops: br.hops,
                        threshold: br.threshold,
                        names,
                    },
                ));
            }
        }
    }
    verdict(reasons)
}

fn verdict(reasons: Vec<Reason>) -> Verdict {
    let decision = reasons
        .iter()
        .map(|r| r.effect)
        .max()
        .unwrap_or(Decision::Allow);
    Verdict { decision, reasons }
}

// ---------------------------------------------------------------- windows

fn local(tz: Tz, t: NaiveDateTime) -> Option<DateTime<Utc>> {
    // A local time in a DST gap does not exist: take the first instant after it.
    (0..4)
        .find_map(|h| tz.from_local_datetime(&(t + Duration::hours(h))).earliest())
        .map(|x| x.with_timezone(&Utc))
}

fn hm(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz).format("%H:%M").to_string()
}

fn span(ws: DateTime<Utc>, we: DateTime<Utc>, tz: Tz) -> String {
    let (a, b) = (ws.with_timezone(&tz), we.with_timezone(&tz));
    if a.date_naive() == b.date_naive() {
        format!(
            "{}–{} {}",
            a.format("%Y-%m-%d %H:%M"),
            b.format("%H:%M"),
            tz.name()
        )
    } else {
        format!(
            "{} – {} {}",
            a.format("%Y-%m-%d %H:%M"),
            b.format("%Y-%m-%d %H:%M"),
            tz.name()
        )
    }
}

fn freeze_hit(
    rule: &FreezeRule,
    ws: DateTime<Utc>,
    we: DateTime<Utc>,
    calendars: &Calendars,
    default_tz: Tz,
) -> Result<Option<Why>, CalendarError> {
    match rule {
        FreezeRule::TradingSessions { market, .. } => {
            trading_sessions(calendars.try_get(market)?, ws, we)
        }
        FreezeRule::MarketOpen {
            market,
            minutes,
            every_session,
            ..
        } => market_open(calendars.try_get(market)?, ws, we, *minutes, *every_session),
        FreezeRule::HolidayEve {
            market,
            trading_days,
            until_reopen,
            ..
        } => holiday_eve(
            calendars.try_get(market)?,
            ws,
            we,
            (*trading_days).max(1),
            *until_reopen,
        ),
        FreezeRule::Window { start, end, .. } => {
            let (s, e) = (start.with_timezone(&Utc), end.with_timezone(&Utc));
            Ok((s < we && e > ws).then(|| Why::FreezeWindow {
                window: span(ws, we, default_tz),
                freeze: span(s, e, default_tz),
            }))
        }
        FreezeRule::Daily {
            from,
            to,
            weekdays,
            timezone,
            ..
        } => Ok(daily(
            ws,
            we,
            from.0,
            to.0,
            weekdays,
            timezone.unwrap_or(default_tz),
        )),
    }
}

fn trading_sessions(
    cal: &Calendar,
    ws: DateTime<Utc>,
    we: DateTime<Utc>,
) -> Result<Option<Why>, CalendarError> {
    let tz = cal.tz();
    let session = match cal.session_at(ws)? {
        Some(s) => s,
        None => {
            let s = cal.next_open(ws)?;
            if s.start >= we {
                return Ok(None);
            }
            s
        }
    };
    Ok(Some(Why::TradingSession {
        window: span(ws, we, tz),
        market: cal.code().to_string(),
        session: session.name.to_string(),
        start: hm(session.start, tz),
        end: hm(session.end, tz),
        trading_day: session.trading_day,
    }))
}

fn market_open(
    cal: &Calendar,
    ws: DateTime<Utc>,
    we: DateTime<Utc>,
    minutes: u32,
    every: bool,
) -> Result<Option<Why>, CalendarError> {
    let tz = cal.tz();
    let m = Duration::minutes(i64::from(minutes));
    let mut t = ws - m;
    // Bounded: a change window spanning more than this many opens has hit one long before.
    for _ in 0..1000 {
        let s = cal.next_open(t)?;
        if s.start >= we + m {
            return Ok(None);
        }
        let counts = every
            || cal
                .sessions_of(s.trading_day)?
                .first()
                .is_some_and(|f| f.start == s.start);
        if counts {
            let (side, off_by) = if ws < s.start - m {
                (OpenSide::RunsInto, 0)
            } else if ws < s.start {
                (OpenSide::Before, (s.start - ws).num_minutes().max(1))
            } else {
                (OpenSide::After, (ws - s.start).num_minutes())
            };
            return Ok(Some(Why::MarketOpen {
                window: span(ws, we, tz),
                market: cal.code().to_string(),
                open: hm(s.start, tz),
                date: s.start.with_timezone(&tz).date_naive(),
                session: s.name.to_string(),
                minutes,
                side,
                off_by,
            }));
        }
        t = s.start;
    }
    Ok(None)
}

/// When `day` is one of the last `n` trading days before a holiday: that holiday.
fn holiday_after(
    cal: &Calendar,
    day: NaiveDate,
    n: u32,
) -> Result<Option<NaiveDate>, CalendarError> {
    if !cal.is_trading_day(day)? {
        return Ok(None);
    }
    let mut passed = 0;
    let mut d = day;
    for _ in 0..40 {
        let Some(next) = d.succ_opt() else {
            return Ok(None);
        };
        d = next;
        if cal.is_trading_day(d)? {
            passed += 1;
            if passed >= n {
                return Ok(None);
            }
        } else if !matches!(d.weekday(), Weekday::Sat | Weekday::Sun) {
            return Ok(Some(d));
        }
    }
    Ok(None)
}

fn holiday_eve(
    cal: &Calendar,
    ws: DateTime<Utc>,
    we: DateTime<Utc>,
    n: u32,
    until_reopen: bool,
) -> Result<Option<Why>, CalendarError> {
    let tz = cal.tz();
    let d0 = ws.with_timezone(&tz).date_naive();
    let d1 = (we - Duration::seconds(1)).with_timezone(&tz).date_naive();
    let mut days = Vec::new();
    if until_reopen {
        // The eve may lie before the window, which then starts during the holiday.
        let mut d = d0;
        for _ in 0..40 {
            if cal.is_trading_day(d)? {
                days.push(d);
                break;
            }
            match d.pred_opt() {
                Some(p) => d = p,
                None => break,
            }
        }
    }
    let mut d = d0;
    for _ in 0..62 {
        if d > d1 {
            break;
        }
        days.push(d);
        match d.succ_opt() {
            Some(s) => d = s,
            None => break,
        }
    }
    days.sort_unstable();
    days.dedup();
    for day in days {
        let Some(holiday) = holiday_after(cal, day, n)? else {
            continue;
        };
        let Some(from) = local(tz, day.and_time(NaiveTime::MIN)) else {
            continue;
        };
        let to = if until_reopen {
            cal.next_open(from + Duration::days(1))?
                .start
                .max(from + Duration::days(1))
        } else {
            match day
                .succ_opt()
                .and_then(|s| local(tz, s.and_time(NaiveTime::MIN)))
            {
                Some(t) => t,
                None => continue,
            }
        };
        if from < we && to > ws {
            return Ok(Some(Why::HolidayEve {
                window: span(ws, we, tz),
                day,
                market: cal.code().to_string(),
                holiday,
                reopen: until_reopen
                    .then(|| to.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string()),
            }));
        }
    }
    Ok(None)
}

fn daily(
    ws: DateTime<Utc>,
    we: DateTime<Utc>,
    from: NaiveTime,
    to: NaiveTime,
    weekdays: &[Weekday],
    tz: Tz,
) -> Option<Why> {
    let mut d = ws.with_timezone(&tz).date_naive().pred_opt()?;
    let last = we.with_timezone(&tz).date_naive();
    for _ in 0..400 {
        if d > last {
            break;
        }
        if weekdays.is_empty() || weekdays.contains(&d.weekday()) {
            let end_day = if to <= from { d.succ_opt()? } else { d };
            if let (Some(s), Some(e)) =
                (local(tz, d.and_time(from)), local(tz, end_day.and_time(to)))
            {
                if s < we && e > ws {
                    return Some(Why::DailyFreeze {
                        window: span(ws, we, tz),
                        from: from.format("%H:%M").to_string(),
                        to: to.format("%H:%M").to_string(),
                        zone: tz.name().to_string(),
                        day: d,
                        weekday: d.weekday(),
                    });
                }
            }
        }
        d = d.succ_opt()?;
    }
    None
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::catalog::Service;
    use crate::changes::model::validate;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    /// A low-risk prod release of `service` from `start` (Shanghai time) for 30 minutes.
    fn change(start: &str, minutes: i64) -> ChangeEvent {
        let s = at(&format!("{start}+08:00"));
        validate(&json!({
            "start": s.to_rfc3339(), "end": (s + Duration::minutes(minutes)).to_rfc3339(),
            "scenario": "release", "operator": "alice", "service": "order-router",
            "environment": "prod", "action": "deploy v2", "risk": "low"
        }))
        .unwrap()
    }

    fn svc(name: &str, deps: &[&str]) -> Service {
        Service {
            depends_on: deps.iter().map(|d| (*d).to_string()).collect(),
            ..Service::named(name)
        }
    }

    fn catalog() -> Catalog {
        // order-router ← gateway ← {web, mobile, api} ; matching ← order-router
        Catalog::new(vec![
            svc("matching", &[]),
            svc("order-router", &["matching"]),
            svc("gateway", &["order-router"]),
            svc("web", &["gateway"]),
            svc("mobile", &["gateway"]),
            svc("api", &["gateway"]),
        ])
        .unwrap()
    }

    struct Env {
        cals: Calendars,
        cat: Catalog,
        rules: GateRules,
    }

    impl Env {
        fn new() -> Self {
            Self {
                cals: Calendars::builtin(),
                cat: catalog(),
                rules: GateRules::default(),
            }
        }

        /// Checked as if `now` were just before the change.
        fn check(&self, c: &ChangeEvent) -> Verdict {
            check(
                c,
                &self.rules,
                c.start - Duration::minutes(5),
                &self.cals,
                &self.cat,
            )
        }
    }

    fn rules_of(v: &Verdict) -> Vec<(&str, Decision)> {
        v.reasons
            .iter()
            .map(|r| (r.rule.as_str(), r.effect))
            .collect()
    }

    // 2026-11-20 is a Friday, an ordinary SSE trading day; 2026-09-30 (Wed) is the eve
    // of the National Day holiday (2026-10-01..07).

    #[test]
    fn inside_an_sse_session_is_denied() {
        let e = Env::new();
        let v = e.check(&change("2026-11-20T10:00:00", 30));
        assert_eq!(v.decision, Decision::Deny);
        assert_eq!(rules_of(&v), [("trading_sessions:SSE", Decision::Deny)]);
        assert!(
            v.reasons[0]
                .message
                .contains("overlaps the SSE morning session 09:30–11:30"),
            "{}",
            v.reasons[0].message
        );
        // A window that starts at lunch but runs into the afternoon session.
        let v = e.check(&change("2026-11-20T12:45:00", 30));
        assert_eq!(v.decision, Decision::Deny);
        assert!(v.reasons[0]
            .message
            .contains("afternoon session 13:00–15:00"));
    }

    #[test]
    fn ten_minutes_before_the_open_is_denied_by_the_15_minute_rule() {
        let e = Env::new();
        let v = e.check(&change("2026-11-20T09:20:00", 5));
        assert_eq!(v.decision, Decision::Deny);
        assert_eq!(rules_of(&v), [("market_open:SSE", Decision::Deny)]);
        assert!(
            v.reasons[0]
                .message
                .contains("starts 10 minutes before the SSE open at 09:30"),
            "{}",
            v.reasons[0].message
        );
        // 20 minutes before, 5 minutes long: clear of the ±15 minute window.
        assert_eq!(
            e.check(&change("2026-11-20T09:10:00", 5)).decision,
            Decision::Allow
        );
        // The afternoon reopen is not "the open" unless every_session is set.
        let mut e = Env::new();
        e.rules
            .freeze
            .retain(|r| matches!(r, FreezeRule::MarketOpen { .. }));
        assert_eq!(
            e.check(&change("2026-11-20T12:50:00", 5)).decision,
            Decision::Allow
        );
        if let FreezeRule::MarketOpen { every_session, .. } = &mut e.rules.freeze[0] {
            *every_session = true;
        }
        assert_eq!(
            e.check(&change("2026-11-20T12:50:00", 5)).decision,
            Decision::Deny
        );
    }

    #[test]
    fn holiday_eves_need_approval_or_deny_per_rules() {
        let mut e = Env::new();
        let eve = change("2026-09-30T19:00:00", 60);
        let v = e.check(&eve);
        assert_eq!(v.decision, Decision::NeedsApproval);
        assert_eq!(rules_of(&v), [("holiday_eve:SSE", Decision::NeedsApproval)]);
        assert!(
            v.reasons[0]
                .message
                .contains("last SSE trading day before the holiday on 2026-10-01"),
            "{}",
            v.reasons[0].message
        );
        // A plain Friday before a weekend is no eve.
        assert_eq!(
            e.check(&change("2026-11-20T19:00:00", 60)).decision,
            Decision::Allow
        );
        // During the holiday: only with until_reopen.
        let mid = change("2026-10-03T10:00:00", 60);
        assert_eq!(e.check(&mid).decision, Decision::Allow);
        for r in &mut e.rules.freeze {
            if let FreezeRule::HolidayEve {
                action,
                until_reopen,
                ..
            } = r
            {
                *action = Decision::Deny;
                *until_reopen = true;
            }
        }
        assert_eq!(e.check(&eve).decision, Decision::Deny);
        let v = e.check(&mid);
        assert_eq!(v.decision, Decision::Deny);
        assert!(
            v.reasons[0]
                .message
                .contains("frozen until the reopen at 2026-10-08 09:30"),
            "{}",
            v.reasons[0].message
        );
        // Two trading days before: 2026-09-24 (Thu) is the eve of 09-25 (Fri); with
        // trading_days = 2, 09-23 is frozen too.
        assert_eq!(
            e.check(&change("2026-09-23T19:00:00", 60)).decision,
            Decision::Allow
        );
        for r in &mut e.rules.freeze {
            if let FreezeRule::HolidayEve { trading_days, .. } = r {
                *trading_days = 2;
            }
        }
        assert_eq!(
            e.check(&change("2026-09-23T19:00:00", 60)).decision,
            Decision::Deny
        );
    }

    #[test]
    fn outside_every_window_a_low_risk_change_is_allowed() {
        let e = Env::new();
        let v = e.check(&change("2026-11-20T19:00:00", 60));
        assert_eq!(
            v,
            Verdict {
                decision: Decision::Allow,
                reasons: vec![]
            }
        );
        // A weekend change that ends before Monday's open window.
        assert_eq!(
            e.check(&change("2026-11-22T10:00:00", 120)).decision,
            Decision::Allow
        );
        // Ending at 09:20 on Monday reaches the open window.
        assert_eq!(
            e.check(&change("2026-11-23T08:00:00", 80)).decision,
            Decision::Deny
        );
    }

    #[test]
    fn high_risk_scenarios_and_levels_need_approval() {
        let mut e = Env::new();
        let mut c = change("2026-11-20T19:00:00", 60);
        c.scenario = Scenario::Database;
        let v = e.check(&c);
        assert_eq!(rules_of(&v), [("scenario", Decision::NeedsApproval)]);
        assert_eq!(
            v.reasons[0].message,
            "database changes are a high-risk scenario: approval required"
        );
        c.scenario = Scenario::Release;
        c.risk = Risk::High;
        assert_eq!(rules_of(&e.check(&c)), [("risk", Decision::NeedsApproval)]);
        e.rules.deny_risk = Some(Risk::Critical);
        c.risk = Risk::Critical;
        assert_eq!(e.check(&c).decision, Decision::Deny);
        e.rules.high_risk_scenarios = vec![Scenario::Other(String::new())];
        c.risk = Risk::Low;
        c.scenario = Scenario::Other("dns".into());
        assert_eq!(e.check(&c).decision, Decision::NeedsApproval);
    }

    #[test]
    fn a_wide_blast_radius_needs_approval() {
        let mut e = Env::new();
        let c = change("2026-11-20T19:00:00", 60);
        // order-router: gateway (1 hop), web, mobile, api (2 hops) = 4 < 5.
        assert_eq!(e.check(&c).decision, Decision::Allow);
        e.rules.blast_radius.threshold = 4;
        let v = e.check(&c);
        assert_eq!(rules_of(&v), [("blast_radius", Decision::NeedsApproval)]);
        assert_eq!(v.reasons[0].message, "order-router has 4 downstream dependents within 2 hops (threshold 4): gateway, api, mobile, web");
        e.rules.blast_radius.hops = 1;
        assert_eq!(e.check(&c).decision, Decision::Allow);
        let mut unknown = c.clone();
        unknown.service = "ghost".into();
        assert_eq!(
            rules_of(&e.check(&unknown)),
            [("blast_radius", Decision::Allow)]
        );
    }

    #[test]
    fn emergency_changes_downgrade_freeze_denials_only() {
        let mut e = Env::new();
        let mut c = change("2026-11-20T10:00:00", 30);
        c.scenario = Scenario::Emergency;
        let v = e.check(&c);
        assert_eq!(v.decision, Decision::NeedsApproval);
        assert!(v.reasons[0].message.ends_with(
            "emergency change: the freeze denial is downgraded to an approval requirement"
        ));
        e.rules.deny_risk = Some(Risk::High);
        c.risk = Risk::High;
        assert_eq!(
            e.check(&c).decision,
            Decision::Deny,
            "risk denials are not downgraded"
        );
        e.rules.emergency_downgrade = false;
        c.risk = Risk::Low;
        assert_eq!(e.check(&c).decision, Decision::Deny);
    }

    #[test]
    fn windows_environments_status_and_unknown_answers() {
        let mut e = Env::new();
        let mut c = change("2026-11-20T10:00:00", 30);
        c.environment = "uat".into();
        assert_eq!(rules_of(&e.check(&c)), [("environments", Decision::Allow)]);
        // A planned change whose start has passed is judged from now.
        let c = change("2026-11-20T08:00:00", 120);
        let v = check(
            &c,
            &e.rules,
            at("2026-11-20T09:50:00+08:00"),
            &e.cals,
            &e.cat,
        );
        assert!(
            v.reasons[0].message.contains("2026-11-20 09:50–10:00"),
            "{}",
            v.reasons[0].message
        );
        // Outside the covered years: approval, never a guess.
        let c = change("2027-03-01T19:00:00", 30);
        let v = e.check(&c);
        assert_eq!(v.decision, Decision::NeedsApproval);
        assert!(
            v.reasons[0].message.contains("does not cover"),
            "{}",
            v.reasons[0].message
        );
        // Custom windows.
        e.rules = GateRules::from_toml(
            r#"
            [changes.gate]
            environments = []
            [[changes.gate.freeze]]
            kind = "window"
            name = "year-end"
            start = 2026-12-31T15:00:00+08:00
            end = "2027-01-04T09:00:00+08:00"
            [[changes.gate.freeze]]
            kind = "daily"
            name = "clearing"
            from = "15:00"
            to = "17:30"
            weekdays = ["Mon", "Tue", "Wed", "Thu", "Fri"]
            action = "needs_approval"
            [[changes.gate.freeze]]
            kind = "daily"
            name = "night-batch"
            from = "23:30"
            to = "00:30"
            timezone = "Asia/Hong_Kong"
            "#,
        )
        .unwrap();
        e.rules.validate(&e.cals).unwrap();
        assert_eq!(
            rules_of(&e.check(&change("2027-01-01T10:00:00", 30))),
            [("year-end", Decision::Deny)]
        );
        assert_eq!(
            rules_of(&e.check(&change("2026-11-20T17:00:00", 60))),
            [("clearing", Decision::NeedsApproval)]
        );
        assert_eq!(
            e.check(&change("2026-11-21T17:00:00", 60)).decision,
            Decision::Allow,
            "Saturday"
        );
        assert_eq!(
            rules_of(&e.check(&change("2026-11-21T00:10:00", 10))),
            [("night-batch", Decision::Deny)]
        );
        let mut uat = change("2026-11-21T00:10:00", 10);
        uat.environment = "uat".into();
        assert_eq!(
            e.check(&uat).decision,
            Decision::Deny,
            "environments = [] gates every environment"
        );
    }

    #[test]
    fn rules_parse_with_defaults_and_validate() {
        let r = GateRules::from_toml("[other]\nx = 1\n").unwrap();
        assert_eq!(r, GateRules::default());
        r.validate(&Calendars::builtin()).unwrap();
        let r = GateRules::from_toml(
            "[changes.gate]\napproval_risk = \"none\"\nhigh_risk_scenarios = [\"db\", \"other:dns\"]\n[changes.gate.blast_radius]\nthreshold = 0\n",
        )
        .unwrap();
        assert_eq!(r.approval_risk, None);
        assert_eq!(
            r.high_risk_scenarios,
            [Scenario::Database, Scenario::Other("dns".into())]
        );
        assert_eq!(
            r.blast_radius,
            BlastRadius {
                threshold: 0,
                ..BlastRadius::default()
            }
        );
        assert_eq!(r.freeze.len(), 3, "defaults kept when no freeze is written");

        let err = GateRules::from_toml("[changes.gate]\nenviroments = []\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `enviroments`"), "{err}");
        let err = GateRules::from_toml(
            "[[changes.gate.freeze]]\nkind = \"trading_sessions\"\nmarket = \"SSE\"\nminutes = 3\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("unknown field `minutes`"), "{err}");
        let err = GateRules::from_toml("[changes.gate]\nhigh_risk_scenarios = [\"yolo\"]\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown scenario `yolo`"), "{err}");

        let r = GateRules::from_toml(
            "[[changes.gate.freeze]]\nkind = \"market_open\"\nmarket = \"XXX\"\n[[changes.gate.freeze]]\nkind = \"window\"\nstart = \"2026-01-02T00:00:00Z\"\nend = \"2026-01-01T00:00:00Z\"\n",
        )
        .unwrap();
        let errs = r.validate(&Calendars::builtin()).unwrap_err();
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(errs[0].starts_with("changes.gate.freeze[0].market: unknown market `XXX`"));
        assert!(errs[1].starts_with("changes.gate.freeze[1].end:"));

        // Serialises back to TOML that reads the same.
        let text = toml::to_string(&Document2 {
            changes: Section2 {
                gate: GateRules::default(),
            },
        })
        .unwrap();
        assert_eq!(GateRules::from_toml(&text).unwrap(), GateRules::default());
    }

    #[derive(Serialize)]
    struct Document2 {
        changes: Section2,
    }

    #[derive(Serialize)]
    struct Section2 {
        gate: GateRules,
    }
}
