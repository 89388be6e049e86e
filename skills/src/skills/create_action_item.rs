//! `create_action_item` (write): proposes an action item on an incident.

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use warroom_core::command::Command;

use super::{check_command, clip, one_line, target_incident};
use crate::skill::{
    parse_args, Proposal, ProposedAction, Skill, SkillContext, SkillError, SkillOutput,
};

/// Propose an action item (改进项/待办) for an incident: an owner, what to do, optionally a due time. Nothing is created until a person with the right to do so clicks Confirm; the result says it awaits confirmation. Use only when the user asks for a follow-up task.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Args {
    /// The owner's chat handle, one word, as the user named them.
    pub owner: String,
    /// What to do, one sentence.
    pub text: String,
    /// Due: a span such as "48h" or "3d", or a local time "YYYY-MM-DD HH:MM".
    pub due: Option<String>,
    /// Incident id; the incident of this war room when omitted.
    pub incident: Option<String>,
}

/// The skill.
pub struct CreateActionItemSkill;

#[async_trait]
impl Skill for CreateActionItemSkill {
    crate::skill_meta!("create_action_item", Write);

    async fn run(&self, ctx: &dyn SkillContext, args: Value) -> Result<SkillOutput, SkillError> {
        let a: Args = parse_args(args)?;
        let owner = a.owner.trim().to_string();
        if owner.is_empty()
            || owner.chars().any(|c| c.is_whitespace() || c == '"')
            || owner.starts_with('/')
        {
            return Err(SkillError::InvalidArgs(
                "owner: one chat handle, no spaces".into(),
            ));
        }
        let text = one_line("text", &a.text)?;
        let due = match a.due.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
            Some(d) => {
                if warroom_core::time::resolve_future(d, ctx.now(), ctx.tz()).is_none() {
                    return Err(SkillError::InvalidArgs(format!(
                        "due: `{}` is not a future time; use \"48h\", \"3d\" or \"YYYY-MM-DD HH:MM\"",
                        clip(d, 40)
                    )));
                }
                Some(d.to_string())
            }
            None => None,
        };
        let inc = target_incident(ctx, a.incident.as_deref()).await?;
        let mut command = format!("/action add {} {owner} {text}", inc.id);
        if let Some(d) = &due {
            command.push_str(&format!(" due {d}"));
        }
        check_command(
            &command,
            &Command::ActionAdd {
                incident: Some(inc.id.clone()),
                owner: owner.clone(),
                text: text.clone(),
                due: due.clone(),
            },
        )?;
        Ok(SkillOutput::Proposal(Proposal {
            skill: self.name().into(),
            summary: format!(
                "add an action item to {} for {owner}: {text}{}",
                inc.id,
                due.as_deref()
                    .map(|d| format!(" (due {d})"))
                    .unwrap_or_default()
            ),
            incident: inc.id,
            action: ProposedAction::ActionAdd { owner, text, due },
            command,
        }))
    }
}
