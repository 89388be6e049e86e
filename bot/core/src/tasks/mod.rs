//! Tasks and change plans: ordered subtasks with time windows and owners
//! (a night's change plan, or an incident's action items), their validation,
//! status moves, critical path, reminders, and overdue digests and
//! escalations. Pure: no I/O, no clock (every call takes `now`); importers,
//! chat, templates and persistence live in the app.
//!
//! A scheduler tick calls [`due_reminders`] for the interval since the last
//! tick, then [`digests`] with the persisted [`DigestState`], performs what it
//! returns and [`DigestState::record`]s it.

mod graph;
mod model;
mod overdue;
mod plan;
mod reminders;
mod validate;

pub use model::{
    natural_cmp, InvalidTaskId, Owner, Plan, PlanKind, Task, TaskId, TaskStatus, Window,
    MAX_TASK_ID_LEN,
};
pub use overdue::{
    digest_key, digests, overdue, CoordinatorEscalation, DigestAction, DigestPlan, DigestState,
    DigestUpdate, EscalatedTask, EscalationPolicy, Overdue, PostedDigest, TeamDigest,
};
pub use plan::{TaskAction, TaskError, TaskEvent};
pub use reminders::{due_reminders, Reminder, ReminderKind};
pub use validate::{Field, PlanDraft, PlanIssue, TaskDraft};

/// Durations as whole seconds in JSON (`late_by: 1800`), for templates.
mod secs {
    use chrono::Duration;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(d.num_seconds())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let n = i64::deserialize(d)?;
        Duration::try_seconds(n).ok_or_else(|| serde::de::Error::custom("duration out of range"))
    }
}

#[cfg(test)]
pub(crate) mod testkit {
    //! Builders shared by the tests of this module.

    use chrono::{DateTime, Utc};

    use super::*;

    /// An instant from RFC 3339 (`2026-11-23T22:30:00+08:00`).
    pub(crate) fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    /// A night in Shanghai: `night("22:30")` is the 23rd, `night("01:30")` the 24th.
    pub(crate) fn night(hhmm: &str) -> DateTime<Utc> {
        let day = if hhmm < "12:00" { 24 } else { 23 };
        at(&format!("2026-11-{day}T{hhmm}:00+08:00"))
    }

    pub(crate) fn id(s: &str) -> TaskId {
        TaskId::parse(s).unwrap()
    }

    pub(crate) fn ids(list: &[&str]) -> Vec<TaskId> {
        list.iter().map(|s| id(s)).collect()
    }

    /// A row owned by person `<id lowercased>-owner` of `team`, window `from`→`to` (night times).
    pub(crate) fn row(line: usize, task: &str, team: &str, from: &str, to: &str) -> TaskDraft {
        TaskDraft::new(
            line,
            task,
            &format!("do {task}"),
            Owner::Person(format!("{}-owner", task.to_lowercase())),
        )
        .team(team)
        .window(night(from), night(to))
    }

    pub(crate) fn draft(plan_id: &str, rows: Vec<TaskDraft>) -> PlanDraft {
        PlanDraft {
            id: plan_id.into(),
            title: "core switch upgrade".into(),
            kind: PlanKind::ChangePlan,
            coordinator: "carol".into(),
            channel: Some("chg-night".into()),
            created_at: at("2026-11-23T12:00:00Z"),
            tasks: rows,
        }
    }

    pub(crate) fn plan(rows: Vec<TaskDraft>) -> Plan {
        Plan::validate(draft("CHG-1123", rows)).unwrap()
    }
}
