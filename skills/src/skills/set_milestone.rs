//! `set_milestone` (write): proposes recording an incident milestone.

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use warroom_core::command::Command;
use warroom_core::incident::Milestone;

use super::{check_command, past_time, target_incident};
use crate::skill::{
    parse_args, Proposal, ProposedAction, Skill, SkillContext, SkillError, SkillOutput,
};

/// Propose recording an incident milestone (里程碑): occurred 发生, discovered 发现, responded 响应, delimited 定界, stop-loss 止损, recovered 恢复, root-cause 定位根因, postmortem 复盘; now or at a past local time. Use only when the user asks to mark or set a milestone (标记里程碑), never to answer a question about the incident. Nothing is recorded until a person with the right to do so clicks Confirm; the result says it awaits confirmation.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Args {
    /// Which milestone: occurred (发生), discovered (发现), responded (响应), delimited (定界), stop-loss (止损), recovered (恢复), root-cause (定位根因), postmortem (复盘).
    pub milestone: MilestoneName,
    /// When, local time "HH:MM" or "YYYY-MM-DD HH:MM"; now when omitted.
    pub at: Option<String>,
    /// Incident id; the incident of this war room when omitted.
    pub incident: Option<String>,
}

/// A milestone name.
#[allow(missing_docs)] // the variants are explained in the field that uses them
#[derive(Clone, Copy, Debug, Deserialize, JsonSchema)]
pub enum MilestoneName {
    // 发生: the fault began.
    #[serde(rename = "occurred")]
    Occurred,
    // 发现: noticed.
    #[serde(rename = "discovered")]
    Discovered,
    // 响应: a responder started.
    #[serde(rename = "responded")]
    Responded,
    // 定界: scope located.
    #[serde(rename = "delimited")]
    Delimited,
    // 止损: impact stopped.
    #[serde(rename = "stop-loss")]
    StopLoss,
    // 恢复: fully recovered.
    #[serde(rename = "recovered")]
    Recovered,
    // 定位根因: root cause found.
    #[serde(rename = "root-cause")]
    RootCause,
    // 复盘: postmortem done.
    #[serde(rename = "postmortem")]
    Postmortem,
}

impl From<MilestoneName> for Milestone {
    fn from(m: MilestoneName) -> Self {
        match m {
            MilestoneName::Occurred => Self::Occurred,
            MilestoneName::Discovered => Self::Discovered,
            MilestoneName::Responded => Self::Responded,
            MilestoneName::Delimited => Self::Delimited,
            MilestoneName::StopLoss => Self::StopLoss,
            MilestoneName::Recovered => Self::Recovered,
            MilestoneName::RootCause => Self::RootCause,
            MilestoneName::Postmortem => Self::Postmortem,
        }
    }
}

/// The skill.
pub struct SetMilestoneSkill;

#[async_trait]
impl Skill for SetMilestoneSkill {
    crate::skill_meta!("set_milestone", Write);

    async fn run(&self, ctx: &dyn SkillContext, args: Value) -> Result<SkillOutput, SkillError> {
        let a: Args = parse_args(args)?;
        let milestone = Milestone::from(a.milestone);
        let at = match a.at.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            Some(t) => {
                past_time(ctx, "at", t)?;
                Some(t.split_whitespace().collect::<Vec<_>>().join(" "))
            }
            None => None,
        };
        let inc = target_incident(ctx, a.incident.as_deref()).await?;
        let mut command = format!("/milestone {} {}", inc.id, milestone.key());
        if let Some(t) = &at {
            command.push_str(&format!(" at {t}"));
        }
        check_command(
            &command,
            &Command::Milestone {
                incident: Some(inc.id.clone()),
                milestone,
                at: at.clone(),
            },
        )?;
        Ok(SkillOutput::Proposal(Proposal {
            skill: self.name().into(),
            summary: format!(
                "record milestone {} on {}{}",
                milestone.key(),
                inc.id,
                at.as_deref()
                    .map(|t| format!(" at {t}"))
                    .unwrap_or_default()
            ),
            incident: inc.id,
            action: ProposedAction::Milestone { milestone, at },
            command,
        }))
    }
}
