//! `incident_lookup`: one incident with its recent timeline, or the open incidents.

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};
use warroom_core::incident::Incident;

use super::{capped, target_incident, to_value};
use crate::skill::{parse_args, Skill, SkillContext, SkillError, SkillOutput};

/// Timeline entries handed to the model (the latest ones).
const TIMELINE_TAIL: usize = 20;

/// Look up an incident (故障单/事件) by id, or list the open incidents (未关闭的事件): title, severity, status, services, roles, milestones and the latest timeline entries. Give `incident` for an id; omit it for the incident of this war room; set `open` to list every incident that is not resolved or closed.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Args {
    /// Incident id (IMS-YYYYMMDD-NNN).
    pub incident: Option<String>,
    /// True to list the open incidents instead.
    pub open: Option<bool>,
}

/// The skill.
pub struct IncidentLookupSkill;

fn brief(i: &Incident) -> Value {
    json!({
        "id": i.id,
        "title": i.title,
        "severity": i.severity,
        "status": i.status,
        "services": i.services,
        "declared_at": i.declared_at,
    })
}

#[async_trait]
impl Skill for IncidentLookupSkill {
    crate::skill_meta!("incident_lookup", Read);

    async fn run(&self, ctx: &dyn SkillContext, args: Value) -> Result<SkillOutput, SkillError> {
        let a: Args = parse_args(args)?;
        let list =
            a.open.unwrap_or(false) || (a.incident.is_none() && ctx.current_incident().is_none());
        if list {
            if a.incident.is_some() {
                return Err(SkillError::InvalidArgs(
                    "give incident or open, not both".into(),
                ));
            }
            let open: Vec<Value> = ctx
                .incidents()
                .await?
                .iter()
                .filter(|i| !i.status.is_over())
                .map(brief)
                .collect();
            return Ok(SkillOutput::Data(capped("open_incidents", &open)?));
        }
        let inc = target_incident(ctx, a.incident.as_deref()).await?;
        let timeline = ctx.timeline(&inc.id).await?;
        let skip = timeline.len().saturating_sub(TIMELINE_TAIL);
        let mut out = brief(&inc);
        out["roles"] = to_value(&inc.roles)?;
        out["milestones"] = to_value(&inc.milestones)?;
        out["timeline"] = to_value(&timeline[skip..])?;
        out["timeline_omitted"] = json!(skip);
        Ok(SkillOutput::Data(out))
    }
}
