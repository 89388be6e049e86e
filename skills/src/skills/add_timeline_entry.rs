//! `add_timeline_entry` (write): proposes a note on an incident's timeline.

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use warroom_core::command::Command;

use super::{check_command, one_line, target_incident};
use crate::skill::{
    parse_args, Proposal, ProposedAction, Skill, SkillContext, SkillError, SkillOutput,
};

/// Propose adding a note to an incident's timeline (时间线记录). Nothing is written until a person with the right to do so clicks Confirm; the result says it awaits confirmation. Use only when the user asks to record something.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Args {
    /// The note, one or two sentences.
    pub text: String,
    /// Incident id; the incident of this war room when omitted.
    pub incident: Option<String>,
}

/// The skill.
pub struct AddTimelineEntrySkill;

#[async_trait]
impl Skill for AddTimelineEntrySkill {
    crate::skill_meta!("add_timeline_entry", Write);

    async fn run(&self, ctx: &dyn SkillContext, args: Value) -> Result<SkillOutput, SkillError> {
        let a: Args = parse_args(args)?;
        let text = one_line("text", &a.text)?;
        let inc = target_incident(ctx, a.incident.as_deref()).await?;
        let command = format!("/timeline add {} {text}", inc.id);
        check_command(
            &command,
            &Command::TimelineAdd {
                incident: Some(inc.id.clone()),
                text: text.clone(),
            },
        )?;
        Ok(SkillOutput::Proposal(Proposal {
            skill: self.name().into(),
            summary: format!("add a timeline entry to {}: {text}", inc.id),
            incident: inc.id,
            action: ProposedAction::TimelineAdd { text },
            command,
        }))
    }
}
