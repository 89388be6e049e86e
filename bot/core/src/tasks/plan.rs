//! Moving tasks through their statuses, the events those moves produce
//! (including "AC21 is unblocked"), and the critical path.

use std::cmp::Ordering;
use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::graph;
use super::model::{natural_cmp, Plan, TaskId, TaskStatus};

/// What someone does to a task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum TaskAction {
    /// Begin work. Refused while a dependency is unfinished, unless `force`.
    Start {
        /// Start anyway (the coordinator knows better than the sheet).
        #[serde(default)]
        force: bool,
    },
    /// Completed. Allowed whatever the dependencies: it reports a fact.
    Done,
    /// Deliberately not done; dependents may go ahead.
    Skip,
    /// Stuck.
    Block {
        /// Why, for the owner and the coordinator.
        reason: String,
    },
    /// A done or skipped task needs doing again; it goes back to pending.
    Reopen,
}

/// Something that happened to a plan, for the timeline and for messages.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum TaskEvent {
    /// Work began.
    Started {
        /// The task.
        task: TaskId,
        /// When.
        at: DateTime<Utc>,
        /// Unfinished dependencies it was started over (only when forced).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        forced_past: Vec<TaskId>,
    },
    /// Done or skipped.
    Finished {
        /// The task.
        task: TaskId,
        /// `done` or `skipped`.
        status: TaskStatus,
        /// When.
        at: DateTime<Utc>,
    },
    /// Marked blocked.
    Blocked {
        /// The task.
        task: TaskId,
        /// Why.
        reason: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// Back to pending after being done or skipped.
    Reopened {
        /// The task.
        task: TaskId,
        /// When.
        at: DateTime<Utc>,
    },
    /// The last unfinished dependency of a pending or blocked task just
    /// finished: its owner may start.
    Unblocked {
        /// The task that may start now.
        task: TaskId,
    },
}

/// A move that is not allowed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum TaskError {
    /// No task has that id.
    #[error("there is no task {task} in this plan")]
    UnknownTask {
        /// The id asked for.
        task: TaskId,
    },
    /// The task is done or skipped; only reopening moves it.
    #[error("{task} is already {}; reopen it first", .status.key())]
    AlreadyFinished {
        /// The task.
        task: TaskId,
        /// `done` or `skipped`.
        status: TaskStatus,
    },
    /// The task is already in the requested status.
    #[error("{task} is already {}", .status.key())]
    AlreadyThere {
        /// The task.
        task: TaskId,
        /// Its status.
        status: TaskStatus,
    },
    /// Only done or skipped tasks can be reopened.
    #[error("{task} is {}, not done or skipped: nothing to reopen", .status.key())]
    NotFinished {
        /// The task.
        task: TaskId,
        /// Its status.
        status: TaskStatus,
    },
    /// Start refused: dependencies are unfinished.
    #[error("{task} waits for {}: finish them first or force the start", ids(.blocking))]
    DependenciesUnfinished {
        /// The task.
        task: TaskId,
        /// The unfinished dependencies, in natural order.
        blocking: Vec<TaskId>,
    },
}

fn ids(list: &[TaskId]) -> String {
    let parts: Vec<&str> = list.iter().map(TaskId::as_str).collect();
    parts.join(" ")
}

impl Plan {
    /// Applies `action` to `task` at `now`.
    ///
    /// Rules: finished (done/skipped) tasks only accept `Reopen`; `Start` is
    /// refused while a dependency is unfinished unless forced, and on a task
    /// already in progress; `Block` on a blocked task is refused; `Done` and
    /// `Skip` are accepted from any unfinished status. Finishing a task emits
    /// [`TaskEvent::Unblocked`] for every pending or blocked dependent whose
    /// dependencies are now all finished (natural order). `Start` records
    /// `started_at` (kept when resuming a blocked task); `Reopen` clears
    /// `finished_at`. Dependencies missing from the plan never hold a task up.
    ///
    /// # Errors
    /// [`TaskError`] explaining the refusal; the plan is unchanged then.
    pub fn apply(
        &mut self,
        task: &TaskId,
        action: TaskAction,
        now: DateTime<Utc>,
    ) -> Result<Vec<TaskEvent>, TaskError> {
        let Some(pos) = self.tasks.iter().position(|t| &t.id == task) else {
            return Err(TaskError::UnknownTask { task: task.clone() });
        };
        let status = self.tasks[pos].status;
        let id = task.clone();
        if status.is_finished() && action != TaskAction::Reopen {
            return Err(TaskError::AlreadyFinished { task: id, status });
        }
        match action {
            TaskAction::Start { force } => {
                if status == TaskStatus::InProgress {
                    return Err(TaskError::AlreadyThere { task: id, status });
                }
                let blocking = self.unfinished_dependencies(pos);
                if !blocking.is_empty() && !force {
                    return Err(TaskError::DependenciesUnfinished { task: id, blocking });
                }
                let t = &mut self.tasks[pos];
                if status != TaskStatus::Blocked || t.started_at.is_none() {
                    t.started_at = Some(now);
                }
                t.status = TaskStatus::InProgress;
                t.blocked_reason = None;
                Ok(vec![TaskEvent::Started {
                    task: id,
                    at: now,
                    forced_past: blocking,
                }])
            }
            TaskAction::Done | TaskAction::Skip => {
                // Done is the end of a start: a task not under way still waits for its
                // dependencies (a forced start lets it past them). Skipping always may.
                if action == TaskAction::Done && status != TaskStatus::InProgress {
                    let blocking = self.unfinished_dependencies(pos);
                    if !blocking.is_empty() {
                        return Err(TaskError::DependenciesUnfinished { task: id, blocking });
                    }
                }
                let to = if action == TaskAction::Done {
                    TaskStatus::Done
                } else {
                    TaskStatus::Skipped
                };
                let t = &mut self.tasks[pos];
                t.status = to;
                t.finished_at = Some(now);
                t.blocked_reason = None;
                let mut events = vec![TaskEvent::Finished {
                    task: id,
                    status: to,
                    at: now,
                }];
                events.extend(
                    self.newly_unblocked(pos)
                        .into_iter()
                        .map(|task| TaskEvent::Unblocked { task }),
                );
                Ok(events)
            }
            TaskAction::Block { reason } => {
                if status == TaskStatus::Blocked {
                    return Err(TaskError::AlreadyThere { task: id, status });
                }
                let t = &mut self.tasks[pos];
                t.status = TaskStatus::Blocked;
                t.blocked_reason = Some(reason.clone());
                Ok(vec![TaskEvent::Blocked {
                    task: id,
                    reason,
                    at: now,
                }])
            }
            TaskAction::Reopen => {
                if !status.is_finished() {
                    return Err(TaskError::NotFinished { task: id, status });
                }
                let t = &mut self.tasks[pos];
                t.status = TaskStatus::Pending;
                t.finished_at = None;
                Ok(vec![TaskEvent::Reopened { task: id, at: now }])
            }
        }
    }

    /// The unfinished dependencies of the task at `pos`, in natural order.
    fn unfinished_dependencies(&self, pos: usize) -> Vec<TaskId> {
        let Some(task) = self.tasks.get(pos) else {
            return Vec::new();
        };
        let index = self.index();
        let mut out: Vec<TaskId> = task
            .depends_on
            .iter()
            .filter(|d| {
                index
                    .get(d.as_str())
                    .is_some_and(|&i| !self.tasks[i].status.is_finished())
            })
            .cloned()
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Pending or blocked dependents of the task at `pos` (just finished)
    /// whose dependencies are now all finished, in natural order.
    fn newly_unblocked(&self, pos: usize) -> Vec<TaskId> {
        let Some(finished) = self.tasks.get(pos).map(|t| &t.id) else {
            return Vec::new();
        };
        let index = self.index();
        let mut out: Vec<TaskId> = self
            .tasks
            .iter()
            .filter(|t| matches!(t.status, TaskStatus::Pending | TaskStatus::Blocked))
            .filter(|t| t.depends_on.contains(finished))
            .filter(|t| {
                t.depends_on.iter().all(|d| {
                    index
                        .get(d.as_str())
                        .is_none_or(|&i| self.tasks[i].status.is_finished())
                })
            })
            .map(|t| t.id.clone())
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// The critical path: the chain through the dependency graph with the
    /// largest total window duration (tasks without a window count zero),
    /// first task first. Among equal totals the chain with more tasks wins,
    /// then the one ending at the naturally smallest id. Empty when no chain
    /// has any duration. Tasks in a dependency cycle (only possible in a plan
    /// that skipped validation) are left out.
    pub fn critical_path(&self) -> Vec<TaskId> {
        let index = self.index();
        let deps = self.dependency_positions(&index);
        let succ = graph::successors(&deps);
        let order = graph::topo_order(&deps, &succ);
        let n = self.tasks.len();
        // For each position: (seconds, tasks) of the best chain ending there.
        let mut best: Vec<(i64, usize)> = vec![(0, 0); n];
        let mut pred: Vec<Option<usize>> = vec![None; n];
        // Larger chain first; on a tie, the naturally smaller id ranks higher.
        let rank = |best: &[(i64, usize)], a: usize, b: usize| -> Ordering {
            best[a]
                .cmp(&best[b])
                .then_with(|| natural_cmp(self.tasks[b].id.as_str(), self.tasks[a].id.as_str()))
        };
        for &v in &order {
            let p = deps[v].iter().copied().max_by(|&a, &b| rank(&best, a, b));
            let (secs, count) = p.map_or((0, 0), |p| best[p]);
            let own = self.tasks[v]
                .window
                .map_or(0, |w| w.duration().num_seconds());
            best[v] = (secs.saturating_add(own), count.saturating_add(1));
            pred[v] = p;
        }
        let Some(end) = order.iter().copied().max_by(|&a, &b| rank(&best, a, b)) else {
            return Vec::new();
        };
        if best[end].0 == 0 {
            return Vec::new();
        }
        let mut path = vec![self.tasks[end].id.clone()];
        let mut at = end;
        // A chain visits each position at most once; the bound is a backstop.
        while let Some(p) = pred[at].filter(|_| path.len() <= n) {
            path.push(self.tasks[p].id.clone());
            at = p;
        }
        path.reverse();
        path
    }

    /// Marks every task on the [critical path](Plan::critical_path) critical
    /// and returns the path. Tasks flagged by hand stay critical; nothing is
    /// unmarked.
    pub fn mark_critical_path(&mut self) -> Vec<TaskId> {
        let path = self.critical_path();
        let on_path: HashSet<&TaskId> = path.iter().collect();
        for t in &mut self.tasks {
            if on_path.contains(&t.id) {
                t.critical = true;
            }
        }
        path
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{id, ids, night, plan, row};
    use super::super::TaskDraft;
    use super::*;

    fn cutover() -> Plan {
        plan(vec![
            row(2, "AC3", "ops", "22:00", "22:30"),
            row(3, "AC21", "dba", "22:30", "23:00").after(&["AC3"]),
            row(4, "AC40", "ops", "23:00", "23:30").after(&["AC21"]),
            row(5, "AC41", "net", "23:00", "23:30").after(&["AC3", "AC21"]),
        ])
    }

    #[test]
    fn finishing_ac3_unblocks_ac21_and_starting_ac40_while_ac21_is_pending_is_refused_listing_ac21()
    {
        let mut p = cutover();
        let now = night("22:31");
        let err = p
            .apply(&id("AC40"), TaskAction::Start { force: false }, now)
            .unwrap_err();
        assert_eq!(
            err,
            TaskError::DependenciesUnfinished {
                task: id("AC40"),
                blocking: ids(&["AC21"]),
            }
        );
        assert_eq!(
            err.to_string(),
            "AC40 waits for AC21: finish them first or force the start"
        );
        assert_eq!(p.tasks[2].status, TaskStatus::Pending);

        let events = p.apply(&id("AC3"), TaskAction::Done, now).unwrap();
        assert_eq!(
            events,
            vec![
                TaskEvent::Finished {
                    task: id("AC3"),
                    status: TaskStatus::Done,
                    at: now,
                },
                TaskEvent::Unblocked { task: id("AC21") },
            ]
        );
        // AC41 still waits for AC21; skipping AC21 frees both dependents.
        let events = p.apply(&id("AC21"), TaskAction::Skip, now).unwrap();
        assert_eq!(
            events[1..],
            [
                TaskEvent::Unblocked { task: id("AC40") },
                TaskEvent::Unblocked { task: id("AC41") },
            ]
        );
    }

    #[test]
    fn a_task_waiting_for_its_dependencies_cannot_be_marked_done_unless_started_by_force() {
        let mut p = cutover();
        let now = night("22:10");
        assert_eq!(
            p.apply(&id("AC21"), TaskAction::Done, now).unwrap_err(),
            TaskError::DependenciesUnfinished {
                task: id("AC21"),
                blocking: ids(&["AC3"]),
            }
        );
        assert_eq!(p.tasks[1].status, TaskStatus::Pending);
        p.apply(&id("AC21"), TaskAction::Start { force: true }, now)
            .unwrap();
        p.apply(&id("AC21"), TaskAction::Done, now).unwrap();
        assert_eq!(p.tasks[1].status, TaskStatus::Done);
        // Skipping needs nothing finished first.
        p.apply(&id("AC40"), TaskAction::Skip, now).unwrap();
    }

    #[test]
    fn a_finished_task_refuses_moves_until_reopened() {
        let mut p = cutover();
        let now = night("22:10");
        p.apply(&id("AC3"), TaskAction::Start { force: false }, now)
            .unwrap();
        assert_eq!(p.tasks[0].started_at, Some(now));
        p.apply(&id("AC3"), TaskAction::Done, now).unwrap();
        let err = p
            .apply(&id("AC3"), TaskAction::Start { force: false }, now)
            .unwrap_err();
        assert_eq!(
            err,
            TaskError::AlreadyFinished {
                task: id("AC3"),
                status: TaskStatus::Done,
            }
        );
        assert_eq!(err.to_string(), "AC3 is already done; reopen it first");
        assert!(p.apply(&id("AC3"), TaskAction::Skip, now).is_err());
        assert!(p
            .apply(&id("AC3"), TaskAction::Block { reason: "x".into() }, now)
            .is_err());
        p.apply(&id("AC3"), TaskAction::Reopen, now).unwrap();
        assert_eq!(p.tasks[0].status, TaskStatus::Pending);
        assert_eq!(p.tasks[0].finished_at, None);
        assert!(matches!(
            p.apply(&id("AC3"), TaskAction::Reopen, now),
            Err(TaskError::NotFinished { .. })
        ));
        assert!(matches!(
            p.apply(&id("AC99"), TaskAction::Done, now),
            Err(TaskError::UnknownTask { .. })
        ));
    }

    #[test]
    fn a_forced_start_goes_past_unfinished_dependencies_and_says_so() {
        let mut p = cutover();
        let now = night("22:40");
        let events = p
            .apply(&id("AC41"), TaskAction::Start { force: true }, now)
            .unwrap();
        assert_eq!(
            events,
            vec![TaskEvent::Started {
                task: id("AC41"),
                at: now,
                forced_past: ids(&["AC3", "AC21"]),
            }]
        );
        // An in-progress dependent is not "unblocked" again.
        let events = p.apply(&id("AC3"), TaskAction::Done, now).unwrap();
        assert!(!events.contains(&TaskEvent::Unblocked { task: id("AC41") }));
    }

    #[test]
    fn blocking_records_the_reason_and_starting_resumes_keeping_the_start_time() {
        let mut p = cutover();
        let (t1, t2) = (night("22:01"), night("22:20"));
        p.apply(&id("AC3"), TaskAction::Start { force: false }, t1)
            .unwrap();
        p.apply(
            &id("AC3"),
            TaskAction::Block {
                reason: "vendor on the phone".into(),
            },
            t2,
        )
        .unwrap();
        assert_eq!(p.tasks[0].status, TaskStatus::Blocked);
        assert_eq!(
            p.tasks[0].blocked_reason.as_deref(),
            Some("vendor on the phone")
        );
        p.apply(&id("AC3"), TaskAction::Start { force: false }, t2)
            .unwrap();
        assert_eq!(p.tasks[0].started_at, Some(t1));
        assert_eq!(p.tasks[0].blocked_reason, None);
    }

    #[test]
    fn the_critical_path_is_the_longest_chain_by_window_duration() {
        let p = plan(vec![
            row(2, "AC1", "ops", "21:00", "22:00"),
            row(3, "AC2", "ops", "22:00", "22:30").after(&["AC1"]),
            row(4, "AC3", "dba", "22:00", "00:00").after(&["AC1"]),
            row(5, "AC4", "ops", "00:00", "01:00").after(&["AC2", "AC3"]),
            row(6, "AC5", "net", "21:00", "00:00"),
            TaskDraft::new(7, "AC6", "verify", super::super::Owner::Team("ops".into()))
                .after(&["AC4"]),
        ]);
        assert_eq!(p.critical_path(), ids(&["AC1", "AC3", "AC4", "AC6"]));
        let critical: Vec<&str> = p
            .tasks
            .iter()
            .filter(|t| t.critical)
            .map(|t| t.id.as_str())
            .collect();
        assert_eq!(critical, ["AC1", "AC3", "AC4", "AC6"]);
        let no_windows = plan(vec![TaskDraft::new(
            2,
            "A1",
            "write postmortem",
            super::super::Owner::Person("bob".into()),
        )]);
        assert!(no_windows.critical_path().is_empty());
    }
}
