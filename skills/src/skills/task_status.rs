//! `task_status`: where a change plan, an incident's action items or one task stands,
//! and which tasks are overdue.

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};
use warroom_core::tasks::{Plan, PlanKind, Task};

use super::{capped, clip};
use crate::skill::{parse_args, Skill, SkillContext, SkillError, SkillOutput};

/// Show the status of a change plan (变更计划) or an incident's action items (改进项): each task's owner, team, window, status, and how late it is. Give `plan` for a plan id, `task` for one task id (optionally with its plan); omit both for the action items of this war room's incident, or every plan with unfinished tasks. Set `overdue_only` to list only late tasks.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Args {
    /// Plan id, or an incident id for its action items.
    pub plan: Option<String>,
    /// Task id within a plan.
    pub task: Option<String>,
    /// True to list only overdue tasks.
    pub overdue_only: Option<bool>,
}

/// The skill.
pub struct TaskStatusSkill;

fn task_view(t: &Task, late: Option<chrono::Duration>) -> Value {
    json!({
        "id": t.id.as_str(),
        "title": t.title,
        "owner": t.owner,
        "team": t.team,
        "status": t.status,
        "window": t.window,
        "critical": t.critical,
        "blocked_reason": t.blocked_reason,
        "late_by_minutes": late.map(|d| d.num_minutes()),
    })
}

fn plan_matches(p: &Plan, typed: &str) -> bool {
    let typed = typed.trim();
    p.id.eq_ignore_ascii_case(typed)
        || matches!(&p.kind, PlanKind::ActionItems { incident } if incident.eq_ignore_ascii_case(typed))
}

#[async_trait]
impl Skill for TaskStatusSkill {
    crate::skill_meta!("task_status", Read);

    async fn run(&self, ctx: &dyn SkillContext, args: Value) -> Result<SkillOutput, SkillError> {
        let a: Args = parse_args(args)?;
        let now = ctx.now();
        let grace = ctx.task_grace();
        let overdue_only = a.overdue_only.unwrap_or(false);
        let plans = ctx.plans().await?;
        let plan_arg = a.plan.as_deref().map(str::trim).filter(|p| !p.is_empty());
        let current = ctx.current_incident().map(|i| i.to_string());
        let selected: Vec<&Plan> = match (plan_arg, &a.task, &current) {
            (Some(p), _, _) => plans.iter().filter(|x| plan_matches(x, p)).collect(),
            (None, Some(_), _) => plans.iter().collect(),
            (None, None, Some(inc)) => plans.iter().filter(|x| plan_matches(x, inc)).collect(),
            (None, None, None) => plans
                .iter()
                .filter(|p| p.tasks.iter().any(|t| !t.status.is_finished()))
                .collect(),
        };
        if let Some(p) = plan_arg {
            if selected.is_empty() {
                return Err(SkillError::NotFound(format!("no plan `{}`", clip(p, 60))));
            }
        }
        if let Some(typed) = &a.task {
            let hits: Vec<Value> = selected
                .iter()
                .filter_map(|p| {
                    let id = p.resolve_id(typed)?;
                    let t = p.task(&id)?;
                    let mut v = task_view(t, t.late_by(now, grace));
                    v["plan"] = json!(p.id);
                    v["depends_on"] =
                        json!(t.depends_on.iter().map(|d| d.as_str()).collect::<Vec<_>>());
                    Some(v)
                })
                .collect();
            return match hits.len() {
                0 => Err(SkillError::NotFound(format!(
                    "no task `{}`",
                    clip(typed, 60)
                ))),
                _ => Ok(SkillOutput::Data(json!({ "tasks": hits }))),
            };
        }
        let views: Vec<Value> = selected
            .iter()
            .map(|p| {
                let tasks: Vec<Value> = p
                    .tasks
                    .iter()
                    .map(|t| (t, t.late_by(now, grace)))
                    .filter(|(_, late)| !overdue_only || late.is_some())
                    .map(|(t, late)| task_view(t, late))
                    .collect();
                let done = p.tasks.iter().filter(|t| t.status.is_finished()).count();
                let overdue = p
                    .tasks
                    .iter()
                    .filter(|t| t.late_by(now, grace).is_some())
                    .count();
                json!({
                    "plan": p.id,
                    "title": p.title,
                    "coordinator": p.coordinator,
                    "finished": done,
                    "total": p.tasks.len(),
                    "overdue": overdue,
                    "tasks": tasks,
                })
            })
            .collect();
        let mut out = capped("plans", &views)?;
        out["now"] = json!(now);
        Ok(SkillOutput::Data(out))
    }
}
