//! `similar_incidents`: past incidents like a description or like a given incident.

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};

use super::target_incident;
use crate::skill::{parse_args, Skill, SkillContext, SkillError, SkillOutput};

/// Find past incidents (历史故障) similar to a symptom description or to an incident, with their ids, titles, services and the matching excerpt. Give `text` for a description, or `incident` for an incident id; with neither, the incident this war room is about.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Args {
    /// Symptoms in the user's words.
    pub text: Option<String>,
    /// An incident id (IMS-YYYYMMDD-NNN) to find look-alikes of.
    pub incident: Option<String>,
    /// Incidents to return, 1 to 10; 5 when omitted.
    #[schemars(range(min = 1, max = 10))]
    pub k: Option<u32>,
}

/// The skill.
pub struct SimilarIncidentsSkill;

#[async_trait]
impl Skill for SimilarIncidentsSkill {
    crate::skill_meta!("similar_incidents", Read);

    async fn run(&self, ctx: &dyn SkillContext, args: Value) -> Result<SkillOutput, SkillError> {
        let a: Args = parse_args(args)?;
        let k = a.k.unwrap_or(5);
        if !(1..=10).contains(&k) {
            return Err(SkillError::InvalidArgs("k: 1 to 10".into()));
        }
        let text = a.text.as_deref().map(str::trim).filter(|t| !t.is_empty());
        if text.is_some() && a.incident.is_some() {
            return Err(SkillError::InvalidArgs(
                "give text or incident, not both".into(),
            ));
        }
        let (query, exclude) = match text {
            Some(t) => (t.to_string(), None),
            None => {
                let inc = target_incident(ctx, a.incident.as_deref()).await?;
                (
                    format!("{} {}", inc.title, inc.services.join(" ")),
                    Some(inc.id.to_string()),
                )
            }
        };
        let hits = ctx.similar_incidents(&query, k as usize + 1).await?;
        let hits: Vec<Value> = hits
            .into_iter()
            .filter(|h| exclude.as_deref() != Some(h.incident.as_str()))
            .take(k as usize)
            .map(|h| {
                json!({
                    "incident": h.incident,
                    "title": h.title,
                    "services": h.services,
                    "snippet": h.snippet,
                })
            })
            .collect();
        Ok(SkillOutput::Data(json!({ "incidents": hits })))
    }
}
