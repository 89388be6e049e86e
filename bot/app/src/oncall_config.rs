//! Configuration of the trading calendar, on-call schedules, escalation policies and
//! the outbound paging webhook: `[calendar]`, `[oncall]`, `[[schedules]]`,
//! `[[escalation_policies]]`, `[notify.webhook]`. Raw serde shapes here; conversion
//! to core types returns the failing key (relative, e.g. `schedules[0].layers[1].rotation`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use serde::Deserialize;
use warroom_core::calendar::Calendars;
use warroom_core::oncall::{
    Layer, Override, Policy, Restriction, Rotation, Schedule, Step, Target, WaitClock,
};
use warroom_core::Tz;

/// `[calendar]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawCalendar {
    /// Market for trading-time durations (MTTA/MTTR) and `/calendar` without an argument.
    pub default_market: String,
    /// Extra market definitions (TOML files in the calendar format), relative to the config file.
    pub extra_files: Vec<PathBuf>,
}

impl Default for RawCalendar {
    fn default() -> Self {
        Self {
            default_market: "SSE".into(),
            extra_files: Vec::new(),
        }
    }
}

/// `[oncall]`
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RawOncall {
    /// Policy used when no affected service names one.
    pub default_policy: Option<String>,
}

/// `[[schedules]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSchedule {
    /// Unique name.
    pub name: String,
    /// Owning team.
    #[serde(default)]
    pub team: Option<String>,
    /// Zone of handoffs (default: `general.timezone`).
    #[serde(default)]
    pub timezone: Option<String>,
    /// Layers, lowest first.
    pub layers: Vec<RawLayer>,
    /// Overrides.
    #[serde(default)]
    pub overrides: Vec<RawOverride>,
}

/// `[[schedules.layers]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLayer {
    /// Name.
    pub name: String,
    /// People in order.
    pub members: Vec<String>,
    /// `daily`, `weekly` or `<N>h`.
    pub rotation: String,
    /// Local handoff time, `HH:MM` (default 09:00).
    #[serde(default = "default_handoff")]
    pub handoff: String,
    /// Local date member 0 starts, `YYYY-MM-DD`.
    pub anchor: String,
    /// `always`, `sessions:MARKET`, `off-hours:MARKET`, or `HH:MM-HH:MM`.
    #[serde(default = "default_restriction")]
    pub restriction: String,
}

fn default_handoff() -> String {
    "09:00".into()
}

fn default_restriction() -> String {
    "always".into()
}

/// `[[schedules.overrides]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOverride {
    /// Who covers.
    pub person: String,
    /// Start: `YYYY-MM-DD HH:MM` in the schedule's zone, or RFC 3339.
    pub start: String,
    /// End, same forms.
    pub end: String,
}

/// `[[escalation_policies]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPolicy {
    /// Unique name.
    pub name: String,
    /// Extra passes over the steps.
    #[serde(default)]
    pub repeat: u32,
    /// `wall` or `trading:MARKET`.
    #[serde(default = "default_clock")]
    pub wait_clock: String,
    /// Steps.
    pub steps: Vec<RawStep>,
}

fn default_clock() -> String {
    "wall".into()
}

/// `[[escalation_policies.steps]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    /// `user:NAME`, `schedule:NAME`, `channel:NAME`.
    pub notify: Vec<String>,
    /// Minutes before the next step.
    #[serde(default = "default_wait")]
    pub wait_minutes: u32,
}

fn default_wait() -> u32 {
    5
}

/// `[notify]`
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RawNotify {
    /// `[notify.webhook]`
    pub webhook: Option<WebhookConfig>,
}

/// `[notify.webhook]`: pages are also POSTed as JSON here (phone/SMS gateways).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// `http(s)://…`
    pub url: String,
    /// Environment variable with a bearer token for the gateway (optional).
    #[serde(default)]
    pub token_env: Option<String>,
    /// Timeout per request.
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
}

fn default_timeout() -> u64 {
    5000
}

type KeyError = (String, String);

fn time_of_day(s: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(s.trim(), "%H:%M").ok()
}

fn instant(s: &str, tz: Tz) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s.trim()) {
        return Some(t.with_timezone(&Utc));
    }
    let ndt = NaiveDateTime::parse_from_str(s.trim(), "%Y-%m-%d %H:%M").ok()?;
    tz.from_local_datetime(&ndt)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
}

fn market_of(cal: &Calendars, m: &str, key: String) -> Result<String, KeyError> {
    match cal.get(m) {
        Some(c) => Ok(c.code().to_string()),
        None => Err((
            key,
            format!("unknown market `{m}` (known: {})", cal.markets().join(", ")),
        )),
    }
}

/// Converts `[[schedules]]`.
///
/// # Errors
/// The failing key and why.
pub fn schedules(
    raw: &[RawSchedule],
    default_tz: Tz,
    cal: &Calendars,
) -> Result<BTreeMap<String, Schedule>, KeyError> {
    let mut out = BTreeMap::new();
    for (i, s) in raw.iter().enumerate() {
        let k = |rest: &str| format!("schedules[{i}]{rest}");
        let tz: Tz = match &s.timezone {
            Some(z) => z
                .parse()
                .map_err(|_| (k(".timezone"), format!("unknown time zone `{z}`")))?,
            None => default_tz,
        };
        let mut layers = Vec::new();
        for (j, l) in s.layers.iter().enumerate() {
            let lk = |f: &str| k(&format!(".layers[{j}].{f}"));
            if l.members.is_empty() {
                return Err((lk("members"), "a layer needs at least one member".into()));
            }
            let rotation = match l.rotation.trim() {
                "daily" => Rotation::Daily,
                "weekly" => Rotation::Weekly,
                r => match r
                    .strip_suffix('h')
                    .and_then(|n| n.parse::<u32>().ok())
                    .filter(|n| *n > 0)
                {
                    Some(n) => Rotation::Hours(n),
                    None => {
                        return Err((
                            lk("rotation"),
                            format!("`{r}` is not daily, weekly or a number of hours like 12h"),
                        ))
                    }
                },
            };
            let handoff = time_of_day(&l.handoff)
                .ok_or_else(|| (lk("handoff"), format!("`{}` is not HH:MM", l.handoff)))?;
            let anchor = NaiveDate::parse_from_str(l.anchor.trim(), "%Y-%m-%d")
                .map_err(|_| (lk("anchor"), format!("`{}` is not YYYY-MM-DD", l.anchor)))?;
            let r = l.restriction.trim();
            let restriction = if r == "always" {
                Restriction::Always
            } else if let Some(m) = r.strip_prefix("sessions:") {
                Restriction::Sessions {
                    market: market_of(cal, m, lk("restriction"))?,
                }
            } else if let Some(m) = r.strip_prefix("off-hours:") {
                Restriction::OffHours {
                    market: market_of(cal, m, lk("restriction"))?,
                }
            } else if let Some((a, b)) = r
                .split_once('-')
                .and_then(|(a, b)| Some((time_of_day(a)?, time_of_day(b)?)))
            {
                Restriction::Daily { from: a, to: b }
            } else {
                return Err((
                    lk("restriction"),
                    format!(
                        "`{r}` is not always, sessions:MARKET, off-hours:MARKET or HH:MM-HH:MM"
                    ),
                ));
            };
            layers.push(Layer {
                name: l.name.clone(),
                members: l.members.clone(),
                rotation,
                handoff,
                anchor,
                restriction,
            });
        }
        let mut overrides = Vec::new();
        for (j, o) in s.overrides.iter().enumerate() {
            let ok = |f: &str| k(&format!(".overrides[{j}].{f}"));
            let start = instant(&o.start, tz).ok_or_else(|| {
                (
                    ok("start"),
                    format!("`{}` is not YYYY-MM-DD HH:MM", o.start),
                )
            })?;
            let end = instant(&o.end, tz)
                .ok_or_else(|| (ok("end"), format!("`{}` is not YYYY-MM-DD HH:MM", o.end)))?;
            if end <= start {
                return Err((ok("end"), "ends before it starts".into()));
            }
            overrides.push(Override {
                person: o.person.clone(),
                start,
                end,
            });
        }
        let sched = Schedule {
            name: s.name.clone(),
            team: s.team.clone(),
            tz,
            layers,
            overrides,
        };
        sched.validate(cal).map_err(|e| (k(""), e.to_string()))?;
        if out.insert(s.name.clone(), sched).is_some() {
            return Err((
                k(".name"),
                format!("schedule `{}` is defined twice", s.name),
            ));
        }
    }
    Ok(out)
}

/// Converts `[[escalation_policies]]`, checking schedule references.
///
/// # Errors
/// The failing key and why.
pub fn policies(
    raw: &[RawPolicy],
    schedules: &BTreeMap<String, Schedule>,
    cal: &Calendars,
) -> Result<BTreeMap<String, Policy>, KeyError> {
    let mut out = BTreeMap::new();
    for (i, p) in raw.iter().enumerate() {
        let k = |rest: &str| format!("escalation_policies[{i}]{rest}");
        let clock = match p.wait_clock.trim() {
            "wall" => WaitClock::Wall,
            c => match c.strip_prefix("trading:") {
                Some(m) => WaitClock::Trading {
                    market: market_of(cal, m, k(".wait_clock"))?,
                },
                None => {
                    return Err((
                        k(".wait_clock"),
                        format!("`{c}` is not wall or trading:MARKET"),
                    ))
                }
            },
        };
        let mut steps = Vec::new();
        for (j, s) in p.steps.iter().enumerate() {
            let mut targets = Vec::new();
            for t in &s.notify {
                let bad = || {
                    (
                        k(&format!(".steps[{j}].notify")),
                        format!("`{t}` is not user:NAME, schedule:NAME or channel:NAME"),
                    )
                };
                let (kind, name) = t.split_once(':').ok_or_else(bad)?;
                let name = name.trim().to_string();
                if name.is_empty() {
                    return Err(bad());
                }
                targets.push(match kind.trim() {
                    "user" => Target::User(name),
                    "channel" => Target::Channel(name),
                    "schedule" if schedules.contains_key(&name) => Target::Schedule(name),
                    "schedule" => {
                        return Err((
                            k(&format!(".steps[{j}].notify")),
                            format!("unknown schedule `{name}`"),
                        ))
                    }
                    _ => return Err(bad()),
                });
            }
            steps.push(Step {
                targets,
                wait_minutes: s.wait_minutes,
            });
        }
        let policy = Policy {
            name: p.name.clone(),
            steps,
            repeat: p.repeat,
            clock,
        };
        policy.validate(cal).map_err(|e| (k(""), e.to_string()))?;
        if out.insert(p.name.clone(), policy).is_some() {
            return Err((k(".name"), format!("policy `{}` is defined twice", p.name)));
        }
    }
    Ok(out)
}
