//! `change_query`: change events of a service and its dependency neighbours in a
//! time window (the last N trading days, N hours, or since/until).

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};
use warroom_core::catalog::Direction;
use warroom_core::changes::ChangeQuery;
use warroom_core::command::Lookback;

use super::{capped, known_service, past_time};
use crate::skill::{parse_args, Skill, SkillContext, SkillError, SkillOutput};

/// List change events (变更: releases, config, database and infrastructure changes) of a service and of the services it depends on (upstream) or that depend on it (downstream), newest first, with change id, time, operator, risk and status. Use for "what changed", "最近有哪些变更", "昨天支付系统有哪些变更". Give at most one of trading_days, hours or since; without any, the last 3 trading days.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Args {
    /// Service id as in the catalog (lower-case English id). Omit for every service.
    pub service: Option<String>,
    /// Look back this many trading days, 1 to 30 ("最近3个交易日" → 3).
    #[schemars(range(min = 1, max = 30))]
    pub trading_days: Option<u32>,
    /// Look back this many hours, 1 to 720 ("最近24小时" → 24).
    #[schemars(range(min = 1, max = 720))]
    pub hours: Option<u32>,
    /// Window start, local time "YYYY-MM-DD HH:MM" (for "yesterday", 00:00 of that day).
    pub since: Option<String>,
    /// Window end, local time "YYYY-MM-DD HH:MM"; now when omitted.
    pub until: Option<String>,
    /// Which dependency neighbours to include: upstream (what the service depends on), downstream (what depends on it), both, or none (the service alone); both when omitted.
    pub include: Option<Include>,
    /// Dependency hops to follow, 0 to 3; 1 when omitted.
    #[schemars(range(max = 3))]
    pub hops: Option<u32>,
    /// Only this environment (prod, uat, ...).
    pub environment: Option<String>,
}

/// Which neighbours of the service to include.
#[allow(missing_docs)] // the variants are explained in the field that uses them
#[derive(Clone, Copy, Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Include {
    // What the service depends on (the usual suspects).
    Upstream,
    // What depends on the service.
    Downstream,
    // Both directions.
    Both,
    // The service alone.
    None,
}

/// The skill.
pub struct ChangeQuerySkill;

#[async_trait]
impl Skill for ChangeQuerySkill {
    crate::skill_meta!("change_query", Read);

    async fn run(&self, ctx: &dyn SkillContext, args: Value) -> Result<SkillOutput, SkillError> {
        let a: Args = parse_args(args)?;
        let given = [
            a.trading_days.is_some(),
            a.hours.is_some(),
            a.since.is_some(),
        ];
        if given.iter().filter(|g| **g).count() > 1 {
            return Err(SkillError::InvalidArgs(
                "give only one of trading_days, hours or since".into(),
            ));
        }
        let now = ctx.now();
        let since = if let Some(s) = &a.since {
            past_time(ctx, "since", s)?
        } else if let Some(h) = a.hours {
            if !(1..=720).contains(&h) {
                return Err(SkillError::InvalidArgs("hours: 1 to 720".into()));
            }
            Lookback::Hours(h).since(now, None).unwrap_or(now)
        } else {
            let n = a.trading_days.unwrap_or(3);
            if !(1..=30).contains(&n) {
                return Err(SkillError::InvalidArgs("trading_days: 1 to 30".into()));
            }
            let cal = ctx.calendar(None);
            Lookback::TradingDays(n)
                .since(now, cal.as_ref())
                .ok_or_else(|| {
                    SkillError::Unavailable(
                        "no trading calendar covers this range; give hours or since instead".into(),
                    )
                })?
        };
        let until = a
            .until
            .as_deref()
            .map(|u| past_time(ctx, "until", u))
            .transpose()?;
        if until.is_some_and(|u| u < since) {
            return Err(SkillError::InvalidArgs(
                "until is before the start of the window".into(),
            ));
        }
        let hops = a.hops.unwrap_or(1);
        if hops > 3 {
            return Err(SkillError::InvalidArgs("hops: 0 to 3".into()));
        }
        let service = match &a.service {
            Some(s) if !s.trim().is_empty() => Some(known_service(ctx, s).await?),
            _ => None,
        };
        let (include, hops) = match a.include.unwrap_or(Include::Both) {
            Include::Upstream => (Direction::Upstream, hops),
            Include::Downstream => (Direction::Downstream, hops),
            Include::Both => (Direction::Both, hops),
            Include::None => (Direction::Both, 0),
        };
        let query = ChangeQuery {
            service: service.clone(),
            include,
            hops,
            since,
            until,
            environment: a.environment.clone().filter(|e| !e.trim().is_empty()),
            operator: None,
        };
        let found = ctx.changes(&query).await?;
        let mut out = capped("changes", &found)?;
        out["window"] = json!({ "since": since, "until": until.unwrap_or(now) });
        out["service"] = json!(service);
        out["include"] = json!(include);
        out["hops"] = json!(hops);
        Ok(SkillOutput::Data(out))
    }
}
