//! Turning an imported draft into a [`Plan`]: every problem is collected with
//! its source line, and nothing is imported while any remain.

use std::collections::HashMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::graph;
use super::model::{natural_cmp, Owner, Plan, PlanKind, Task, TaskId, TaskStatus, Window};

/// A plan as read by an importer (CSV, YAML, chat), not yet checked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanDraft {
    /// Plan id.
    pub id: String,
    /// Plan title.
    pub title: String,
    /// What kind of plan.
    pub kind: PlanKind,
    /// Who escalations go to.
    pub coordinator: String,
    /// The chat channel it runs in.
    #[serde(default)]
    pub channel: Option<String>,
    /// When it is created.
    pub created_at: DateTime<Utc>,
    /// The rows, in source order.
    pub tasks: Vec<TaskDraft>,
}

/// One imported row, with the source line it came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskDraft {
    /// Source line (1-based), quoted in every issue about this row.
    pub line: usize,
    /// Id as written; checked by [`TaskId::parse`].
    pub id: String,
    /// What to do.
    pub title: String,
    /// Who answers for it.
    pub owner: Owner,
    /// The team its overdue digests go to; empty means the owner's handle.
    #[serde(default)]
    pub team: String,
    /// Planned window.
    #[serde(default)]
    pub window: Option<Window>,
    /// Ids of the tasks it waits for, as written.
    #[serde(default)]
    pub depends_on: Vec<String>,
    /// Status at import (a re-imported sheet may carry progress).
    #[serde(default)]
    pub status: TaskStatus,
    /// Flagged critical by hand (the critical path is added on validation).
    #[serde(default)]
    pub critical: bool,
}

impl TaskDraft {
    /// A pending row without team, window or dependencies.
    pub fn new(line: usize, id: &str, title: &str, owner: Owner) -> Self {
        Self {
            line,
            id: id.to_owned(),
            title: title.to_owned(),
            owner,
            team: String::new(),
            window: None,
            depends_on: Vec::new(),
            status: TaskStatus::Pending,
            critical: false,
        }
    }

    /// Sets the team.
    pub fn team(mut self, team: &str) -> Self {
        self.team = team.to_owned();
        self
    }

    /// Sets the window.
    pub fn window(mut self, start: DateTime<Utc>, end: DateTime<Utc>) -> Self {
        self.window = Some(Window { start, end });
        self
    }

    /// Adds dependencies.
    pub fn after(mut self, ids: &[&str]) -> Self {
        self.depends_on.extend(ids.iter().map(|s| (*s).to_owned()));
        self
    }
}

/// A field that must not be empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    /// Plan id.
    Id,
    /// Plan or task title.
    Title,
    /// Task owner.
    Owner,
    /// Plan coordinator.
    Coordinator,
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Id => "id",
            Self::Title => "title",
            Self::Owner => "owner",
            Self::Coordinator => "coordinator",
        })
    }
}

/// One problem in a draft. Structured so templates can render it in any
/// language; `Display` is the English fallback.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum PlanIssue {
    /// A plan-level field is empty.
    #[error("the plan has no {field}")]
    EmptyPlanField {
        /// Which field.
        field: Field,
    },
    /// A change plan's id has characters chat cannot address (spaces, `/`, `:`).
    #[error("`{id}` is not a plan id (1-64 letters, digits, `_`, `.` or `-`)")]
    InvalidPlanId {
        /// The id as written (at most 64 characters).
        id: String,
    },
    /// A row's id is not a valid task id.
    #[error("line {line}: `{id}` is not a task id (1-32 letters, digits, `_`, `.` or `-`)")]
    InvalidId {
        /// Source line.
        line: usize,
        /// The id as written (at most 64 characters).
        id: String,
    },
    /// Several rows share an id.
    #[error("task id {id} is used on lines {}", join(.lines))]
    DuplicateId {
        /// The id.
        id: String,
        /// Every line it appears on (for [`Plan::add_task`], the new row's only).
        lines: Vec<usize>,
    },
    /// A row depends on an id no row has.
    #[error("line {line}: {task} depends on unknown task `{dependency}`")]
    UnknownDependency {
        /// Source line of the dependent row.
        line: usize,
        /// The dependent row's id.
        task: String,
        /// The missing id as written (at most 64 characters).
        dependency: String,
    },
    /// Tasks wait for each other in a ring.
    #[error("dependency cycle {} (lines {})", cycle(.ids), join(.lines))]
    Cycle {
        /// The ids in order: each must run before the next, and the last
        /// before the first. Starts at the naturally smallest id.
        ids: Vec<TaskId>,
        /// Their source lines, in the same order.
        lines: Vec<usize>,
    },
    /// A window ends before it starts.
    #[error("line {line}: the window of {task} ends before it starts")]
    WindowEndsBeforeStart {
        /// Source line.
        line: usize,
        /// The row's id.
        task: String,
    },
    /// A required field of a row is empty.
    #[error("line {line}: {field} is empty")]
    EmptyField {
        /// Source line.
        line: usize,
        /// Which field.
        field: Field,
    },
}

impl PlanIssue {
    /// The first source line the issue points at; `None` for plan-level issues.
    pub fn line(&self) -> Option<usize> {
        match self {
            Self::EmptyPlanField { .. } | Self::InvalidPlanId { .. } => None,
            Self::DuplicateId { lines, .. } | Self::Cycle { lines, .. } => {
                lines.iter().copied().min()
            }
            Self::InvalidId { line, .. }
            | Self::UnknownDependency { line, .. }
            | Self::WindowEndsBeforeStart { line, .. }
            | Self::EmptyField { line, .. } => Some(*line),
        }
    }
}

fn join(lines: &[usize]) -> String {
    let parts: Vec<String> = lines.iter().map(usize::to_string).collect();
    parts.join(", ")
}

fn cycle(ids: &[TaskId]) -> String {
    let mut parts: Vec<&str> = ids.iter().map(TaskId::as_str).collect();
    if let Some(first) = parts.first().copied() {
        parts.push(first);
    }
    parts.join(" → ")
}

fn clip(s: &str) -> String {
    s.chars().take(64).collect()
}

/// Checks the row-local rules; returns the task (without dependencies) when
/// its id is valid, whatever else is wrong.
fn check_row(row: &TaskDraft, issues: &mut Vec<PlanIssue>) -> Option<Task> {
    let line = row.line;
    let id = match TaskId::parse(row.id.trim()) {
        Ok(id) => Some(id),
        Err(_) => {
            issues.push(PlanIssue::InvalidId {
                line,
                id: clip(&row.id),
            });
            None
        }
    };
    let title = row.title.trim();
    if title.is_empty() {
        issues.push(PlanIssue::EmptyField {
            line,
            field: Field::Title,
        });
    }
    let owner = match &row.owner {
        Owner::Person(n) => Owner::Person(n.trim().to_owned()),
        Owner::Team(n) => Owner::Team(n.trim().to_owned()),
    };
    if owner.name().is_empty() {
        issues.push(PlanIssue::EmptyField {
            line,
            field: Field::Owner,
        });
    }
    if let Some(w) = &row.window {
        if w.end < w.start {
            issues.push(PlanIssue::WindowEndsBeforeStart {
                line,
                task: clip(&row.id),
            });
        }
    }
    let team = match row.team.trim() {
        "" => owner.name().to_owned(),
        t => t.to_owned(),
    };
    Some(Task {
        id: id?,
        title: title.to_owned(),
        owner,
        team,
        window: row.window,
        depends_on: Vec::new(),
        status: row.status,
        critical: row.critical,
        blocked_reason: None,
        started_at: None,
        finished_at: None,
    })
}

impl Plan {
    /// Checks a draft and builds the plan, or reports every problem found:
    /// empty plan fields, invalid or duplicate ids (all lines), unknown
    /// dependencies, dependency cycles (each once, ids in order), windows
    /// ending before they start, empty titles and owners. Issues are ordered
    /// by their first line, plan-level ones first.
    ///
    /// On success, text is trimmed, an empty team becomes the owner's handle,
    /// repeated dependencies are dropped and the critical path is marked
    /// (on top of tasks flagged critical by hand).
    ///
    /// # Errors
    /// All [`PlanIssue`]s; importers import nothing then.
    pub fn validate(draft: PlanDraft) -> Result<Plan, Vec<PlanIssue>> {
        let mut issues = Vec::new();
        for (field, value) in [
            (Field::Id, &draft.id),
            (Field::Title, &draft.title),
            (Field::Coordinator, &draft.coordinator),
        ] {
            if value.trim().is_empty() {
                issues.push(PlanIssue::EmptyPlanField { field });
            }
        }
        // A change plan's id is typed in chat (`/plan status CHG-1123`, `CHG-1123:AC3`)
        // and must not take an incident's action-item plan (`IMS-…/actions`).
        let id = draft.id.trim();
        if draft.kind == PlanKind::ChangePlan
            && !id.is_empty()
            && (id.chars().count() > 64
                || !id
                    .chars()
                    .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.')))
        {
            issues.push(PlanIssue::InvalidPlanId { id: clip(id) });
        }

        let rows: Vec<Option<Task>> = draft
            .tasks
            .iter()
            .map(|row| check_row(row, &mut issues))
            .collect();

        // Ids → rows; the first row wins for dependency lookups.
        let mut lines_of: HashMap<&str, Vec<usize>> = HashMap::new();
        let mut first_of: HashMap<&str, usize> = HashMap::new();
        let mut order: Vec<&str> = Vec::new();
        for (pos, task) in rows.iter().enumerate() {
            if let Some(task) = task {
                let id = task.id.as_str();
                let lines = lines_of.entry(id).or_default();
                if lines.is_empty() {
                    order.push(id);
                    first_of.insert(id, pos);
                }
                lines.push(draft.tasks[pos].line);
            }
        }
        for id in order {
            if let Some(lines) = lines_of.get(id).filter(|l| l.len() > 1) {
                issues.push(PlanIssue::DuplicateId {
                    id: id.to_owned(),
                    lines: lines.clone(),
                });
            }
        }

        // Dependencies, by position.
        let mut deps: Vec<Vec<usize>> = Vec::with_capacity(rows.len());
        for row in &draft.tasks {
            let mut mine = Vec::new();
            for dep in &row.depends_on {
                match first_of.get(dep.trim()) {
                    Some(&pos) => mine.push(pos),
                    None => issues.push(PlanIssue::UnknownDependency {
                        line: row.line,
                        task: clip(&row.id),
                        dependency: clip(dep),
                    }),
                }
            }
            mine.sort_unstable();
            mine.dedup();
            deps.push(mine);
        }

        // Cycles: one issue per strongly connected component that loops.
        let succ = graph::successors(&deps);
        let name = |pos: usize| draft.tasks[pos].id.trim();
        for comp in graph::sccs(&succ) {
            let looping = comp.len() > 1 || comp.iter().any(|&v| deps[v].contains(&v));
            if !looping {
                continue;
            }
            let Some(&start) = comp.iter().min_by(|&&a, &&b| natural_cmp(name(a), name(b))) else {
                continue;
            };
            if let Some(path) = graph::cycle_through(start, &comp, &succ) {
                issues.push(PlanIssue::Cycle {
                    ids: path
                        .iter()
                        .filter_map(|&p| rows[p].as_ref())
                        .map(|t| t.id.clone())
                        .collect(),
                    lines: path.iter().map(|&p| draft.tasks[p].line).collect(),
                });
            }
        }

        if !issues.is_empty() {
            issues.sort_by_key(|i| i.line());
            return Err(issues);
        }

        let mut tasks = Vec::with_capacity(rows.len());
        for (task, mine) in rows.into_iter().zip(&deps) {
            // Every row has a valid id here, or an InvalidId issue was raised.
            let Some(mut task) = task else { continue };
            task.depends_on = mine
                .iter()
                .map(|&p| draft.tasks[p].id.trim())
                .filter_map(|s| TaskId::parse(s).ok())
                .collect();
            tasks.push(task);
        }
        let mut plan = Plan {
            id: draft.id.trim().to_owned(),
            title: draft.title.trim().to_owned(),
            kind: draft.kind,
            // `@carol` as typed in a sheet is carol (the notices add the @).
            coordinator: draft.coordinator.trim().trim_start_matches('@').to_owned(),
            channel: draft.channel,
            tasks,
            created_at: draft.created_at,
        };
        plan.mark_critical_path();
        Ok(plan)
    }

    /// Adds one task (an `/action add`) under the same rules as
    /// [`Plan::validate`]; its dependencies must already be in the plan, so
    /// it cannot close a cycle except on itself.
    ///
    /// # Errors
    /// All [`PlanIssue`]s for the row; the plan is unchanged then.
    pub fn add_task(&mut self, row: TaskDraft) -> Result<TaskId, Vec<PlanIssue>> {
        let mut issues = Vec::new();
        let task = check_row(&row, &mut issues);
        if let Some(task) = &task {
            if self.task(&task.id).is_some() {
                issues.push(PlanIssue::DuplicateId {
                    id: task.id.to_string(),
                    lines: vec![row.line],
                });
            }
        }
        let mut depends_on: Vec<TaskId> = Vec::new();
        for dep in &row.depends_on {
            let dep = dep.trim();
            if task.as_ref().is_some_and(|t| t.id.as_str() == dep) {
                if let Some(t) = &task {
                    issues.push(PlanIssue::Cycle {
                        ids: vec![t.id.clone()],
                        lines: vec![row.line],
                    });
                }
                continue;
            }
            match self.tasks.iter().find(|t| t.id.as_str() == dep) {
                Some(t) if !depends_on.contains(&t.id) => depends_on.push(t.id.clone()),
                Some(_) => {}
                None => issues.push(PlanIssue::UnknownDependency {
                    line: row.line,
                    task: clip(&row.id),
                    dependency: clip(dep),
                }),
            }
        }
        match task {
            Some(mut task) if issues.is_empty() => {
                task.depends_on = depends_on;
                let id = task.id.clone();
                self.tasks.push(task);
                self.mark_critical_path();
                Ok(id)
            }
            _ => Err(issues),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{draft, ids, night, plan, row};
    use super::*;

    #[test]
    fn a_change_plan_id_chat_cannot_address_is_refused_and_an_at_coordinator_is_a_name() {
        let rows = || vec![row(2, "AC1", "ops", "22:00", "22:10")];
        for bad in ["IMS-20261207-006/actions", "has space", "A:B"] {
            let issues = Plan::validate(draft(bad, rows())).unwrap_err();
            assert_eq!(
                issues,
                vec![PlanIssue::InvalidPlanId { id: bad.into() }],
                "{bad}"
            );
        }
        let mut d = draft("CHG-1207", rows());
        d.coordinator = "@carol".into();
        assert_eq!(Plan::validate(d).unwrap().coordinator, "carol");
    }

    #[test]
    fn validation_reports_duplicates_unknown_dependencies_a_cycle_and_a_bad_window_at_once() {
        let rows = vec![
            row(2, "AC1", "ops", "22:00", "22:10").after(&["AC3"]),
            row(3, "AC2", "ops", "22:10", "22:20").after(&["AC1"]),
            row(4, "AC3", "ops", "22:20", "22:30").after(&["AC2"]),
            row(5, "AC5", "ops", "22:30", "22:40"),
            row(6, "AC5", "dba", "22:40", "22:50"),
            row(7, "AC7", "ops", "23:00", "23:10").after(&["AC99"]),
            row(8, "AC8", "ops", "23:30", "23:10"),
            TaskDraft::new(9, "AC9", " ", Owner::Team("ops".into())),
            TaskDraft::new(10, "AC 10", "bad id", Owner::Person(String::new())),
        ];
        let issues = Plan::validate(draft("CHG-1", rows)).unwrap_err();
        assert_eq!(
            issues,
            vec![
                PlanIssue::Cycle {
                    ids: ids(&["AC1", "AC2", "AC3"]),
                    lines: vec![2, 3, 4],
                },
                PlanIssue::DuplicateId {
                    id: "AC5".into(),
                    lines: vec![5, 6],
                },
                PlanIssue::UnknownDependency {
                    line: 7,
                    task: "AC7".into(),
                    dependency: "AC99".into(),
                },
                PlanIssue::WindowEndsBeforeStart {
                    line: 8,
                    task: "AC8".into(),
                },
                PlanIssue::EmptyField {
                    line: 9,
                    field: Field::Title,
                },
                PlanIssue::InvalidId {
                    line: 10,
                    id: "AC 10".into(),
                },
                PlanIssue::EmptyField {
                    line: 10,
                    field: Field::Owner,
                },
            ]
        );
        assert_eq!(
            issues[0].to_string(),
            "dependency cycle AC1 → AC2 → AC3 → AC1 (lines 2, 3, 4)"
        );
        assert_eq!(issues[1].to_string(), "task id AC5 is used on lines 5, 6");
    }

    #[test]
    fn a_task_depending_on_itself_is_a_cycle_and_an_empty_coordinator_is_reported() {
        let mut d = draft(
            "CHG-1",
            vec![row(2, "AC1", "ops", "22:00", "22:10").after(&["AC1"])],
        );
        d.coordinator = "  ".into();
        assert_eq!(
            Plan::validate(d).unwrap_err(),
            vec![
                PlanIssue::EmptyPlanField {
                    field: Field::Coordinator
                },
                PlanIssue::Cycle {
                    ids: ids(&["AC1"]),
                    lines: vec![2],
                },
            ]
        );
    }

    #[test]
    fn a_valid_draft_is_trimmed_defaults_its_team_and_marks_the_critical_path() {
        let p = plan(vec![
            TaskDraft::new(2, " AC1 ", "stop feeds", Owner::Person(" bob ".into()))
                .window(night("22:00"), night("23:00")),
            row(3, "AC2", "ops", "23:00", "23:05").after(&["AC1", "AC1"]),
            TaskDraft::new(4, "AC3", "check", Owner::Team("noc".into())),
        ]);
        assert_eq!(p.tasks[0].id.as_str(), "AC1");
        assert_eq!(p.tasks[0].owner, Owner::Person("bob".into()));
        assert_eq!(p.tasks[0].team, "bob");
        assert_eq!(p.tasks[2].team, "noc");
        assert_eq!(p.tasks[1].depends_on, ids(&["AC1"]));
        let critical: Vec<&str> = p
            .tasks
            .iter()
            .filter(|t| t.critical)
            .map(|t| t.id.as_str())
            .collect();
        assert_eq!(critical, ["AC1", "AC2"]);
    }

    #[test]
    fn adding_an_action_item_is_checked_like_an_import() {
        let mut p = Plan::action_items("IMS-20261123-001", "carol", night("23:00"));
        let a1 = p
            .add_task(TaskDraft::new(
                1,
                "A1",
                "fix alert threshold",
                Owner::Person("bob".into()),
            ))
            .unwrap();
        assert_eq!(a1.as_str(), "A1");
        let next = p.next_task_id("A").unwrap();
        assert_eq!(next.as_str(), "A2");
        let dup = TaskDraft::new(2, "A1", "again", Owner::Person("bob".into())).after(&["A7"]);
        assert_eq!(
            p.add_task(dup).unwrap_err(),
            vec![
                PlanIssue::DuplicateId {
                    id: "A1".into(),
                    lines: vec![2],
                },
                PlanIssue::UnknownDependency {
                    line: 2,
                    task: "A1".into(),
                    dependency: "A7".into(),
                },
            ]
        );
        assert_eq!(p.tasks.len(), 1);
    }

    #[test]
    fn a_chain_of_100k_tasks_validates_without_deep_recursion() {
        let start = night("22:00");
        let rows: Vec<TaskDraft> = (1..=100_000usize)
            .map(|i| {
                let mut r = TaskDraft::new(i, &format!("T{i}"), "step", Owner::Team("ops".into()));
                r.window = Some(Window {
                    start,
                    end: start + chrono::Duration::minutes(1),
                });
                if i > 1 {
                    r.depends_on.push(format!("T{}", i - 1));
                }
                r
            })
            .collect();
        let p = Plan::validate(draft("CHG-LONG", rows)).unwrap();
        let path = p.critical_path();
        assert_eq!(path.len(), 100_000);
        assert_eq!(path[0].as_str(), "T1");
        assert!(p.tasks.iter().all(|t| t.critical));
    }
}
