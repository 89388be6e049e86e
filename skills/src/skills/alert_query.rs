//! `alert_query`: the alerts of the last minutes or hours, optionally of one service.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::Duration;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};
use warroom_core::alerts::{Alert, AlertStatus};

use super::{capped, known_service};
use crate::skill::{parse_args, Skill, SkillContext, SkillError, SkillOutput};

/// Labels worth showing the model; the rest are noise.
const LABELS: [&str; 8] = [
    "alertname",
    "service",
    "severity",
    "instance",
    "host",
    "pod",
    "namespace",
    "job",
];

/// List the alerts (告警) received recently: name, status, severity, service, host, start and end, and their summary text. Each alert appears once (its latest state). Give minutes or hours (60 minutes when omitted) and optionally a service.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Args {
    /// Service id (the service the question names); every service when omitted.
    pub service: Option<String>,
    /// Look back this many minutes, 1 to 1440.
    #[schemars(range(min = 1, max = 1440))]
    pub minutes: Option<u32>,
    /// Look back this many hours, 1 to 72.
    #[schemars(range(min = 1, max = 72))]
    pub hours: Option<u32>,
    /// Which alerts: firing (触发中, the default), resolved (已恢复) or all.
    pub status: Option<StatusFilter>,
}

/// Which alerts to list.
#[allow(missing_docs)] // the variants are explained in the field that uses them
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StatusFilter {
    // Still firing.
    Firing,
    // Resolved.
    Resolved,
    // Both.
    All,
}

/// The skill.
pub struct AlertQuerySkill;

fn view(a: &Alert) -> Value {
    let labels: BTreeMap<&str, &str> = LABELS
        .iter()
        .filter_map(|k| a.labels.get(*k).map(|v| (*k, v.as_str())))
        .collect();
    json!({
        "name": a.name(),
        "title": a.title(),
        "status": a.status,
        "labels": labels,
        "description": a.annotations.get("description"),
        "starts_at": a.starts_at,
        "ends_at": a.ends_at,
    })
}

#[async_trait]
impl Skill for AlertQuerySkill {
    crate::skill_meta!("alert_query", Read);

    async fn run(&self, ctx: &dyn SkillContext, args: Value) -> Result<SkillOutput, SkillError> {
        let a: Args = parse_args(args)?;
        let span = match (a.minutes, a.hours) {
            (Some(_), Some(_)) => {
                return Err(SkillError::InvalidArgs(
                    "give minutes or hours, not both".into(),
                ))
            }
            (Some(m), None) if (1..=1440).contains(&m) => Duration::minutes(i64::from(m)),
            (Some(_), None) => return Err(SkillError::InvalidArgs("minutes: 1 to 1440".into())),
            (None, Some(h)) if (1..=72).contains(&h) => Duration::hours(i64::from(h)),
            (None, Some(_)) => return Err(SkillError::InvalidArgs("hours: 1 to 72".into())),
            (None, None) => Duration::minutes(60),
        };
        let service = match &a.service {
            Some(s) if !s.trim().is_empty() => Some(known_service(ctx, s).await?),
            _ => None,
        };
        let since = ctx.now() - span;
        let mut latest: BTreeMap<String, Alert> = BTreeMap::new();
        for alert in ctx.alerts(since).await? {
            let newer = latest
                .get(&alert.fingerprint)
                .is_none_or(|old| alert.received_at >= old.received_at);
            if newer {
                latest.insert(alert.fingerprint.clone(), alert);
            }
        }
        let filter = a.status.unwrap_or(StatusFilter::Firing);
        let mut alerts: Vec<&Alert> = latest
            .values()
            .filter(|al| match filter {
                StatusFilter::Firing => al.status == AlertStatus::Firing,
                StatusFilter::Resolved => al.status == AlertStatus::Resolved,
                StatusFilter::All => true,
            })
            .filter(|al| {
                service.as_ref().is_none_or(|s| {
                    al.labels
                        .get("service")
                        .is_some_and(|v| v.eq_ignore_ascii_case(s))
                })
            })
            .collect();
        alerts.sort_by_key(|a| std::cmp::Reverse(a.starts_at));
        let views: Vec<Value> = alerts.into_iter().map(view).collect();
        let mut out = capped("alerts", &views)?;
        out["since"] = json!(since);
        Ok(SkillOutput::Data(out))
    }
}
