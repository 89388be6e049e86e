//! `oncall_lookup`: who is on call for a schedule, service or team, now or at a time.

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{clip, past_time};
use crate::skill::{parse_args, Skill, SkillContext, SkillError, SkillOutput};

/// Who is on call (值班) for a service, team or schedule: the person, the layer or override, and the services that page that schedule. Omit `name` for every schedule. Read-only: to page someone use page_oncall.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Args {
    /// Service id, team or schedule name.
    pub name: Option<String>,
    /// When, local time "YYYY-MM-DD HH:MM" or "HH:MM" (past or now); now when omitted.
    pub at: Option<String>,
}

/// The skill.
pub struct OncallLookupSkill;

#[async_trait]
impl Skill for OncallLookupSkill {
    crate::skill_meta!("oncall_lookup", Read);

    async fn run(&self, ctx: &dyn SkillContext, args: Value) -> Result<SkillOutput, SkillError> {
        let a: Args = parse_args(args)?;
        let at = match &a.at {
            Some(t) => past_time(ctx, "at", t)?,
            None => ctx.now(),
        };
        let name = a.name.as_deref().map(str::trim).filter(|n| !n.is_empty());
        match ctx.oncall(name, at).await? {
            Some(entries) => Ok(SkillOutput::Data(json!({ "at": at, "oncall": entries }))),
            None => Err(SkillError::NotFound(format!(
                "no schedule, service or team named `{}`",
                clip(name.unwrap_or_default(), 60)
            ))),
        }
    }
}
