//! The data of a plan: task ids and their natural order, statuses, owners,
//! windows, tasks and plans. Checks live in `validate`, moves in `plan`.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// Longest task id accepted, in characters.
pub const MAX_TASK_ID_LEN: usize = 32;

/// A task id as imported (`AC3`, `A1`, `db-2.1`): 1–32 characters of
/// `[A-Za-z0-9_.-]`, kept exactly as written.
///
/// Ids order naturally (`AC3 < AC21 < AC40`, see [`natural_cmp`]); two ids are
/// equal only when their text is identical.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TaskId(String);

/// Why a string is not a task id.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a task id (1-32 letters, digits, `_`, `.` or `-`)")]
pub struct InvalidTaskId(pub String);

impl TaskId {
    /// Checks and wraps `s`.
    ///
    /// # Errors
    /// [`InvalidTaskId`] when empty, longer than 32 characters or containing
    /// anything but ASCII letters, digits, `_`, `.` and `-`.
    pub fn parse(s: &str) -> Result<Self, InvalidTaskId> {
        let ok = !s.is_empty()
            && s.len() <= MAX_TASK_ID_LEN
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidTaskId(s.chars().take(64).collect()))
        }
    }

    /// The id as imported.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for TaskId {
    type Error = InvalidTaskId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<TaskId> for String {
    fn from(id: TaskId) -> Self {
        id.0
    }
}

impl PartialOrd for TaskId {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for TaskId {
    fn cmp(&self, other: &Self) -> Ordering {
        natural_cmp(&self.0, &other.0)
    }
}

/// Natural order for ids imported from spreadsheets: runs of digits compare
/// by value (`AC3 < AC21 < AC40`), other characters compare ignoring ASCII
/// case. Ties (`AC03` and `AC3`, `ac3` and `AC3`) are broken by the raw bytes,
/// so the order is total and agrees with string equality.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut x, mut y) = (a.as_bytes(), b.as_bytes());
    loop {
        let (p, q) = match (x.first(), y.first()) {
            (None, None) => return a.cmp(b),
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(&p), Some(&q)) => (p, q),
        };
        if p.is_ascii_digit() && q.is_ascii_digit() {
            let (nx, rest_x) = x.split_at(x.iter().take_while(|c| c.is_ascii_digit()).count());
            let (ny, rest_y) = y.split_at(y.iter().take_while(|c| c.is_ascii_digit()).count());
            let (nx, ny) = (strip_zeros(nx), strip_zeros(ny));
            // Equal-length digit strings without leading zeros compare as numbers.
            let ord = nx.len().cmp(&ny.len()).then_with(|| nx.cmp(ny));
            if ord != Ordering::Equal {
                return ord;
            }
            (x, y) = (rest_x, rest_y);
        } else {
            let ord = p.to_ascii_lowercase().cmp(&q.to_ascii_lowercase());
            if ord != Ordering::Equal {
                return ord;
            }
            (x, y) = (&x[1..], &y[1..]);
        }
    }
}

fn strip_zeros(digits: &[u8]) -> &[u8] {
    let zeros = digits.iter().take_while(|&&c| c == b'0').count();
    &digits[zeros..]
}

/// Where a task is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    /// Not started.
    #[default]
    Pending,
    /// Someone is on it.
    InProgress,
    /// Completed.
    Done,
    /// Deliberately not done (counts as finished for dependencies).
    Skipped,
    /// Stuck; the reason is on the task.
    Blocked,
}

impl TaskStatus {
    /// Done or skipped: needs nobody any more and no longer holds up dependents.
    pub fn is_finished(self) -> bool {
        matches!(self, Self::Done | Self::Skipped)
    }

    /// The machine name (`in_progress`), as used in the API and templates.
    pub fn key(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::InProgress => "in_progress",
            Self::Done => "done",
            Self::Skipped => "skipped",
            Self::Blocked => "blocked",
        }
    }
}

/// Who answers for a task: a person or a whole team.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", content = "name", rename_all = "snake_case")]
pub enum Owner {
    /// A person, by chat handle.
    Person(String),
    /// A team, by handle (`ops`).
    Team(String),
}

impl Owner {
    /// The handle, whichever kind it is.
    pub fn name(&self) -> &str {
        match self {
            Self::Person(n) | Self::Team(n) => n,
        }
    }
}

/// When a task is planned to run. Instants are UTC, so a window across local
/// midnight (22:30→01:30) needs no special case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Window {
    /// Planned start.
    pub start: DateTime<Utc>,
    /// Planned end; the task is late after this (plus the policy's grace).
    pub end: DateTime<Utc>,
}

impl Window {
    /// The planned length; zero for a window that ends before it starts.
    pub fn duration(&self) -> Duration {
        (self.end - self.start).max(Duration::zero())
    }
}

/// One subtask of a plan, or one action item of an incident.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    /// Id as imported, unique in the plan.
    pub id: TaskId,
    /// What to do.
    pub title: String,
    /// Who answers for it.
    pub owner: Owner,
    /// The team its overdue notices go to (one digest per plan and team).
    pub team: String,
    /// When it should run; tasks without a window are never late.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<Window>,
    /// Tasks that must finish before this one starts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<TaskId>,
    /// Where it is.
    #[serde(default)]
    pub status: TaskStatus,
    /// On the critical path (computed by [`Plan::mark_critical_path`]) or
    /// flagged by hand; critical tasks may escalate as soon as they are late.
    #[serde(default)]
    pub critical: bool,
    /// Why it is blocked, while it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked_reason: Option<String>,
    /// When it was started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    /// When it was done or skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
}

/// What a plan is for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PlanKind {
    /// A change plan: ordered subtasks with windows, run by several teams.
    ChangePlan,
    /// The action items of an incident.
    ActionItems {
        /// The incident id (`IMS-20261123-001`).
        incident: String,
    },
}

/// A set of tasks run together under one coordinator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// Unique id (`CHG-2026-1123`, or `IMS-20261123-001/actions` for action items).
    pub id: String,
    /// What the plan is.
    pub title: String,
    /// What kind of plan it is.
    pub kind: PlanKind,
    /// Who escalations go to.
    pub coordinator: String,
    /// The chat channel the plan runs in, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// The tasks, in imported order.
    pub tasks: Vec<Task>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

impl Plan {
    /// An empty plan holding the action items of `incident`, with id
    /// `<incident>/actions`. Items are added with [`Plan::add_task`].
    pub fn action_items(incident: &str, coordinator: &str, created_at: DateTime<Utc>) -> Self {
        Self {
            id: format!("{incident}/actions"),
            title: format!("{incident} action items"),
            kind: PlanKind::ActionItems {
                incident: incident.to_owned(),
            },
            coordinator: coordinator.to_owned(),
            channel: None,
            tasks: Vec::new(),
            created_at,
        }
    }

    /// The task with exactly this id.
    pub fn task(&self, id: &TaskId) -> Option<&Task> {
        self.tasks.iter().find(|t| &t.id == id)
    }

    /// Finds the id a person typed: the exact id, else the only id equal to
    /// it ignoring ASCII case (`ac3` → `AC3`).
    pub fn resolve_id(&self, typed: &str) -> Option<TaskId> {
        let typed = typed.trim();
        if let Some(t) = self.tasks.iter().find(|t| t.id.as_str() == typed) {
            return Some(t.id.clone());
        }
        let mut hits = self
            .tasks
            .iter()
            .filter(|t| t.id.as_str().eq_ignore_ascii_case(typed));
        match (hits.next(), hits.next()) {
            (Some(t), None) => Some(t.id.clone()),
            _ => None,
        }
    }

    /// The next free id `<prefix><n>` (`A1`, `A2`, …) for a new action item:
    /// one more than the largest number already used after `prefix`.
    ///
    /// # Errors
    /// [`InvalidTaskId`] when `prefix` cannot start a task id.
    pub fn next_task_id(&self, prefix: &str) -> Result<TaskId, InvalidTaskId> {
        let max = self
            .tasks
            .iter()
            .filter_map(|t| t.id.as_str().strip_prefix(prefix)?.parse::<u64>().ok())
            .max()
            .unwrap_or(0);
        TaskId::parse(&format!("{prefix}{}", max.saturating_add(1)))
    }

    /// Position of each id in `tasks` (the first, should an id repeat).
    pub(crate) fn index(&self) -> HashMap<&str, usize> {
        let mut index = HashMap::with_capacity(self.tasks.len());
        for (i, t) in self.tasks.iter().enumerate() {
            index.entry(t.id.as_str()).or_insert(i);
        }
        index
    }

    /// For each task, the positions of its dependencies that exist in the
    /// plan, without repeats. Unknown ids are left out.
    pub(crate) fn dependency_positions(&self, index: &HashMap<&str, usize>) -> Vec<Vec<usize>> {
        self.tasks
            .iter()
            .map(|t| {
                let mut deps: Vec<usize> = t
                    .depends_on
                    .iter()
                    .filter_map(|d| index.get(d.as_str()).copied())
                    .collect();
                deps.sort_unstable();
                deps.dedup();
                deps
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> TaskId {
        TaskId::parse(s).unwrap()
    }

    #[test]
    fn ids_sort_naturally_not_by_bytes() {
        let mut ids: Vec<TaskId> = ["AC40", "AC3", "ac21", "AC21", "AB9", "AC03", "AC3a", "AC"]
            .into_iter()
            .map(id)
            .collect();
        ids.sort();
        let got: Vec<&str> = ids.iter().map(TaskId::as_str).collect();
        assert_eq!(
            got,
            ["AB9", "AC", "AC03", "AC3", "AC3a", "AC21", "ac21", "AC40"]
        );
    }

    #[test]
    fn task_ids_accept_spreadsheet_forms_and_refuse_the_rest() {
        for ok in ["AC3", "a", "db-2.1_x", &"X".repeat(32)] {
            assert!(TaskId::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "AC 3", "AC3!", "任务1", &"X".repeat(33)] {
            assert!(TaskId::parse(bad).is_err(), "{bad}");
        }
        assert!(serde_json::from_str::<TaskId>("\"a b\"").is_err());
        assert_eq!(serde_json::to_string(&id("AC3")).unwrap(), "\"AC3\"");
    }

    #[test]
    fn typed_ids_resolve_ignoring_case_only_when_unambiguous() {
        let mut plan = Plan::action_items("IMS-20261123-001", "carol", DateTime::UNIX_EPOCH);
        for (i, s) in ["AC3", "ab1", "AB1"].into_iter().enumerate() {
            plan.tasks.push(Task {
                id: id(s),
                title: format!("t{i}"),
                owner: Owner::Person("bob".into()),
                team: "ops".into(),
                window: None,
                depends_on: vec![],
                status: TaskStatus::Pending,
                critical: false,
                blocked_reason: None,
                started_at: None,
                finished_at: None,
            });
        }
        assert_eq!(plan.resolve_id("ac3"), Some(id("AC3")));
        assert_eq!(plan.resolve_id("ab1"), Some(id("ab1")));
        assert_eq!(plan.resolve_id("Ab1"), None);
        assert_eq!(plan.next_task_id("AC").unwrap(), id("AC4"));
        assert_eq!(plan.id, "IMS-20261123-001/actions");
    }
}
