//! Reminders to task owners, as instants derived from windows.
//!
//! Each reminder has a fixed instant, so asking for the half-open interval
//! `(from, to]` of consecutive ticks yields each reminder exactly once. The
//! durable scheduler persists the last `to` it handled and resumes from it
//! after a restart: nothing is lost and nothing is repeated.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::model::{Owner, Plan, TaskId, TaskStatus};

/// Which reminder.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReminderKind {
    /// `lead` before the window starts (none when `lead` is zero or negative).
    BeforeStart,
    /// The window starts.
    AtStart,
    /// The window ended and the task is not finished.
    Overdue,
}

/// A reminder due to a task's owner.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reminder {
    /// The task.
    pub task: TaskId,
    /// Who to remind.
    pub owner: Owner,
    /// Which reminder.
    pub kind: ReminderKind,
    /// Its instant.
    pub at: DateTime<Utc>,
}

/// The reminders of `plan` whose instant falls in `(from_excl, to_incl]`,
/// ordered by instant, then task (natural order), then kind.
///
/// - `BeforeStart` at `start - lead` and `AtStart` at `start`, for tasks not
///   yet started (pending or blocked);
/// - `Overdue` at `end`, for tasks not finished.
///
/// Finished tasks and tasks without a window get none. The owner's digest and
/// coordinator escalation (with grace) are separate: see `overdue`.
pub fn due_reminders(
    plan: &Plan,
    from_excl: DateTime<Utc>,
    to_incl: DateTime<Utc>,
    lead: Duration,
) -> Vec<Reminder> {
    let mut out = Vec::new();
    if to_incl <= from_excl {
        return out;
    }
    let due = |at: DateTime<Utc>| from_excl < at && at <= to_incl;
    for t in &plan.tasks {
        if t.status.is_finished() {
            continue;
        }
        let Some(w) = &t.window else { continue };
        let not_started = matches!(t.status, TaskStatus::Pending | TaskStatus::Blocked);
        let mut push = |kind, at| {
            out.push(Reminder {
                task: t.id.clone(),
                owner: t.owner.clone(),
                kind,
                at,
            });
        };
        if not_started {
            if lead > Duration::zero() {
                if let Some(at) = w.start.checked_sub_signed(lead).filter(|&at| due(at)) {
                    push(ReminderKind::BeforeStart, at);
                }
            }
            if due(w.start) {
                push(ReminderKind::AtStart, w.start);
            }
        }
        if due(w.end) {
            push(ReminderKind::Overdue, w.end);
        }
    }
    out.sort_by(|a, b| {
        a.at.cmp(&b.at)
            .then_with(|| a.task.cmp(&b.task))
            .then_with(|| a.kind.cmp(&b.kind))
    });
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::testkit::{id, night, plan, row};
    use super::super::TaskAction;
    use super::*;

    fn tonight() -> Plan {
        let mut p = plan(vec![
            row(2, "AC3", "ops", "22:00", "22:30"),
            row(3, "AC21", "dba", "22:30", "01:30").after(&["AC3"]),
            row(4, "AC40", "ops", "23:59", "00:01"),
            row(5, "AC58", "net", "02:00", "05:45"),
        ]);
        // Off-the-minute instants too.
        if let Some(w) = &mut p.tasks[2].window {
            w.start += Duration::seconds(30);
            w.end += Duration::seconds(17);
        }
        p
    }

    /// Count of each (task, kind) over ticks of `step` from 21:00 to 07:00.
    fn fired(p: &Plan, step: Duration) -> BTreeMap<(String, ReminderKind), usize> {
        let (mut from, end) = (night("21:00"), night("07:00"));
        let mut seen = BTreeMap::new();
        while from < end {
            let to = (from + step).min(end);
            for r in due_reminders(p, from, to, Duration::minutes(15)) {
                assert!(from < r.at && r.at <= to);
                *seen.entry((r.task.to_string(), r.kind)).or_insert(0) += 1;
            }
            from = to;
        }
        seen
    }

    #[test]
    fn reminders_over_consecutive_one_minute_ticks_fire_exactly_once_each() {
        let p = tonight();
        let seen = fired(&p, Duration::minutes(1));
        assert_eq!(seen.len(), 4 * 3, "{seen:?}");
        assert!(seen.values().all(|&n| n == 1), "{seen:?}");
        // Any other split of the night gives the same reminders.
        assert_eq!(fired(&p, Duration::seconds(7)), seen);
        assert_eq!(fired(&p, Duration::minutes(13)), seen);
        assert_eq!(fired(&p, Duration::hours(10)), seen);
    }

    #[test]
    fn reminders_fall_on_their_instants_and_skip_what_is_no_longer_needed() {
        let mut p = tonight();
        let due = |p: &Plan, from: &str, to: &str| {
            due_reminders(p, night(from), night(to), Duration::minutes(15))
        };
        let r: Vec<(String, ReminderKind)> = due(&p, "21:44", "22:00")
            .into_iter()
            .map(|r| (r.task.to_string(), r.kind))
            .collect();
        assert_eq!(
            r,
            [
                ("AC3".to_string(), ReminderKind::BeforeStart),
                ("AC3".to_string(), ReminderKind::AtStart),
            ]
        );
        assert!(
            due(&p, "21:45", "21:59").is_empty(),
            "21:45 was the last tick"
        );

        // Started: no start reminders, still the overdue one. Done: nothing.
        p.apply(
            &id("AC21"),
            TaskAction::Start { force: true },
            night("22:00"),
        )
        .unwrap();
        let kinds: Vec<ReminderKind> = due(&p, "22:00", "01:30")
            .iter()
            .filter(|r| r.task == id("AC21"))
            .map(|r| r.kind)
            .collect();
        assert_eq!(kinds, [ReminderKind::Overdue]);
        p.apply(&id("AC58"), TaskAction::Done, night("01:00"))
            .unwrap();
        assert!(due(&p, "01:00", "07:00")
            .iter()
            .all(|r| r.task != id("AC58")));
        assert!(due(&p, "07:00", "06:00").is_empty());
    }
}
