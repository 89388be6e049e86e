//! `page_oncall` (write): proposes paging the on-call of a service, team or schedule.
//!
//! The command line is `/page <incident-id> <target> <reason…>`. `warroom_core::command`
//! has no `/page` yet (paging runs from escalation policies on declare); the app
//! either adds that command or executes [`ProposedAction::Page`] directly, as the
//! person who clicked Confirm.

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use super::{clip, one_line, target_incident};
use crate::skill::{
    parse_args, Proposal, ProposedAction, Skill, SkillContext, SkillError, SkillOutput,
};

/// Propose paging (呼叫/拉人) whoever is on call for a service, team or schedule into an incident. Nothing is sent until a person with the right to do so clicks Confirm; the result says it awaits confirmation. Use only when the user asks to page or call someone in.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Args {
    /// Service id, team or schedule name whose on-call to page.
    pub target: String,
    /// Why, one sentence; shown to the person paged.
    pub reason: String,
    /// Incident id; the incident of this war room when omitted.
    pub incident: Option<String>,
}

/// The skill.
pub struct PageOncallSkill;

#[async_trait]
impl Skill for PageOncallSkill {
    crate::skill_meta!("page_oncall", Write);

    async fn run(&self, ctx: &dyn SkillContext, args: Value) -> Result<SkillOutput, SkillError> {
        let a: Args = parse_args(args)?;
        let target = a.target.trim().trim_start_matches('@').to_lowercase();
        if target.is_empty() || target.contains(char::is_whitespace) {
            return Err(SkillError::InvalidArgs(
                "target: one service id, team or schedule name".into(),
            ));
        }
        let reason = one_line("reason", &a.reason)?;
        let entries = ctx.oncall(Some(&target), ctx.now()).await?.ok_or_else(|| {
            SkillError::InvalidArgs(format!(
                "target: no schedule, service or team named `{}`",
                clip(&target, 40)
            ))
        })?;
        let on_call: Vec<String> = entries.iter().filter_map(|e| e.person.clone()).collect();
        let inc = target_incident(ctx, a.incident.as_deref()).await?;
        Ok(SkillOutput::Proposal(Proposal {
            skill: self.name().into(),
            command: format!("/page {} {target} {reason}", inc.id),
            summary: format!(
                "page the on-call of {target} ({}) into {}: {reason}",
                if on_call.is_empty() {
                    "nobody on call".to_string()
                } else {
                    on_call.join(", ")
                },
                inc.id
            ),
            incident: inc.id,
            action: ProposedAction::Page {
                target,
                on_call,
                reason,
            },
        }))
    }
}
