//! Tasks: `/task`, `/plan status`, `/action`, plan imports, and on each tick the
//! reminders, per-team overdue digests and coordinator escalations.

use chrono::{DateTime, Duration, Utc};

use super::{person_from, Engine, Plan};
use crate::event::{Action, Destination, Message, PlanProgress, Refusal, TaskLine, TeamProgress};
use crate::incident::{ChannelRef, Entry, Incident, IncidentId, Person, Source, TimelineEntry};
use crate::ports::StoreError;
use crate::tasks::{
    self, natural_cmp, Owner, PlanKind, Task, TaskAction, TaskDraft, TaskEvent, TaskId,
};

/// How long after resolve the follow-up falls due.
const FOLLOW_UP: Duration = Duration::hours(48);
/// Longest task list in one message.
const LIST_CAP: usize = 200;

impl Engine {
    pub(super) fn plan_index(&self, id: &str) -> Option<usize> {
        self.plans.iter().position(|p| p.id == id)
    }

    fn line(&self, plan: &tasks::Plan, t: &Task, now: DateTime<Utc>) -> TaskLine {
        TaskLine {
            plan: plan.id.clone(),
            id: t.id.to_string(),
            title: t.title.clone(),
            owner: t.owner.name().to_string(),
            team: t.team.clone(),
            status: t.status.key().to_string(),
            start: t.window.map(|w| w.start),
            end: t.window.map(|w| w.end),
            overdue: t.late_by(now, self.cfg.task_policy.grace).is_some(),
            critical: t.critical,
            waits_for: if matches!(
                t.status,
                tasks::TaskStatus::Pending | tasks::TaskStatus::Blocked
            ) {
                t.depends_on
                    .iter()
                    .filter(|d| plan.task(d).is_some_and(|d| !d.status.is_finished()))
                    .map(ToString::to_string)
                    .collect()
            } else {
                vec![]
            },
        }
    }

    /// Where a plan's messages go: its channel, the incident's war room for action
    /// items, else the configured default.
    fn plan_destination(&self, plan: &tasks::Plan) -> Destination {
        if let Some(channel) = plan.channel.as_deref().and_then(ChannelRef::parse) {
            return Destination::Channel { channel };
        }
        if let PlanKind::ActionItems { incident } = &plan.kind {
            if let Ok(id) = IncidentId::parse(incident) {
                return Destination::WarRoom { incident: id };
            }
        }
        Destination::Channel {
            channel: self.cfg.task_channel.clone(),
        }
    }

    fn plan_channel(&self, plan: &tasks::Plan) -> Result<ChannelRef, StoreError> {
        Ok(match self.plan_destination(plan) {
            Destination::Channel { channel } => channel,
            Destination::WarRoom { incident } => self
                .store
                .incident_channels(&incident)?
                .into_iter()
                .next()
                .unwrap_or_else(|| self.cfg.task_channel.clone()),
        })
    }

    /// Finds `typed` (`AC3`, or `PLAN:AC3`) among the plans.
    fn find_task(&self, typed: &str) -> Result<(usize, TaskId), Refusal> {
        let unknown = || Refusal::UnknownTask {
            task: typed.chars().take(64).collect(),
        };
        if let Some((plan, task)) = typed.rsplit_once(':') {
            let i = self.plan_index(plan).ok_or_else(|| Refusal::UnknownPlan {
                plan: plan.chars().take(64).collect(),
            })?;
            return self.plans[i]
                .resolve_id(task)
                .map(|t| (i, t))
                .ok_or_else(unknown);
        }
        let hits: Vec<(usize, TaskId)> = self
            .plans
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.resolve_id(typed).map(|t| (i, t)))
            .collect();
        match hits.len() {
            0 => Err(unknown()),
            1 => Ok(hits[0].clone()),
            _ => Err(Refusal::AmbiguousTask {
                task: typed.chars().take(64).collect(),
                plans: hits
                    .iter()
                    .map(|(i, _)| self.plans[*i].id.clone())
                    .collect(),
            }),
        }
    }

    /// `/task <action> <id>`.
    pub(super) fn task_action(
        &self,
        typed: &str,
        action: TaskAction,
        who: &Person,
        now: DateTime<Utc>,
    ) -> Plan {
        let (i, id) = match self.find_task(typed) {
            Ok(x) => x,
            Err(r) => return Plan::refuse(r),
        };
        let mut updated = self.plans[i].clone();
        match updated.apply(&id, action, now) {
            Err(error) => Plan::refuse(Refusal::Task { error }),
            Ok(events) => {
                let mut plan = Plan::default();
                let dest = self.plan_destination(&updated);
                for e in &events {
                    if let TaskEvent::Unblocked { task } = e {
                        if let Some(t) = updated.task(task) {
                            plan.outbox.push(Action::Send {
                                to: dest.clone(),
                                message: Message::Unblocked {
                                    plan: updated.id.clone(),
                                    task: self.line(&updated, t, now),
                                },
                            });
                        }
                    }
                }
                let task = updated.task(&id).cloned();
                if let Some(task) = task {
                    plan.reply = Some(Message::TaskUpdate {
                        plan: updated.id.clone(),
                        task,
                        events,
                        who: who.clone(),
                    });
                }
                plan.plans.push(updated);
                plan
            }
        }
    }

    /// `/task list [team]`: unfinished and late tasks first, then the rest.
    pub(super) fn task_list(&self, team: Option<&str>, now: DateTime<Utc>) -> Message {
        let mut lines: Vec<TaskLine> = self
            .plans
            .iter()
            .flat_map(|p| p.tasks.iter().map(move |t| (p, t)))
            .filter(|(_, t)| {
                team.is_none_or(|want| {
                    t.team.eq_ignore_ascii_case(want) || t.owner.name().eq_ignore_ascii_case(want)
                })
            })
            .map(|(p, t)| self.line(p, t, now))
            .collect();
        lines.sort_by(|a, b| {
            (b.overdue, a.plan.as_str())
                .cmp(&(a.overdue, b.plan.as_str()))
                .then_with(|| natural_cmp(&a.id, &b.id))
        });
        lines.truncate(LIST_CAP);
        Message::TaskList {
            team: team.map(str::to_string),
            tasks: lines,
        }
    }

    /// `/plan status [plan]`.
    pub(super) fn plan_status(&self, id: Option<&str>, now: DateTime<Utc>) -> Message {
        let chosen: Vec<&tasks::Plan> = match id {
            Some(id) => match self.plan_index(id) {
                Some(i) => vec![&self.plans[i]],
                None => {
                    return Message::Refused {
                        problem: Refusal::UnknownPlan {
                            plan: id.chars().take(64).collect(),
                        },
                    }
                }
            },
            None => self
                .plans
                .iter()
                .filter(|p| p.tasks.iter().any(|t| !t.status.is_finished()))
                .collect(),
        };
        let plans = chosen
            .into_iter()
            .map(|p| {
                let mut teams: std::collections::BTreeMap<String, TeamProgress> =
                    std::collections::BTreeMap::new();
                for t in &p.tasks {
                    let e = teams.entry(t.team.clone()).or_insert_with(|| TeamProgress {
                        team: t.team.clone(),
                        done: 0,
                        in_progress: 0,
                        waiting: 0,
                        overdue: vec![],
                    });
                    match t.status {
                        s if s.is_finished() => e.done += 1,
                        tasks::TaskStatus::InProgress => e.in_progress += 1,
                        _ => e.waiting += 1,
                    }
                    if t.late_by(now, self.cfg.task_policy.grace).is_some() {
                        e.overdue.push(t.id.to_string());
                    }
                }
                for tp in teams.values_mut() {
                    tp.overdue.sort_by(|a, b| natural_cmp(a, b));
                }
                PlanProgress {
                    id: p.id.clone(),
                    title: p.title.clone(),
                    coordinator: p.coordinator.clone(),
                    done: p.tasks.iter().filter(|t| t.status.is_finished()).count(),
                    total: p.tasks.len(),
                    teams: teams.into_values().collect(),
                }
            })
            .collect();
        Message::PlanStatus { plans }
    }

    /// The action-items plan of an incident (a new one if it has none yet).
    fn action_plan(&self, inc: &Incident, now: DateTime<Utc>) -> tasks::Plan {
        let id = format!("{}/actions", inc.id);
        match self.plan_index(&id) {
            Some(i) => self.plans[i].clone(),
            None => {
                let coordinator = inc.commander().unwrap_or(&inc.declared_by).name.clone();
                tasks::Plan::action_items(&inc.id.to_string(), &coordinator, now)
            }
        }
    }

    /// `/action add`: a new action item, due `due` (default 48h) from now.
    pub(super) fn action_add(
        &self,
        inc: &Incident,
        owner: &str,
        text: &str,
        due: Option<&str>,
        who: &Person,
        now: DateTime<Utc>,
    ) -> Plan {
        let owner = match owner
            .strip_prefix("team:")
            .or_else(|| owner.strip_prefix('#'))
        {
            Some(team) if !team.is_empty() => Owner::Team(team.to_string()),
            _ => match person_from(owner) {
                Some(p) => Owner::Person(p.name),
                None => {
                    return Plan::refuse(Refusal::BadUser {
                        user: owner.chars().take(64).collect(),
                    })
                }
            },
        };
        let end = match due {
            None => now + FOLLOW_UP,
            Some(d) => match crate::time::resolve_future(d, now, self.cfg.tz) {
                Some(t) => t,
                None => {
                    return Plan::refuse(Refusal::BadDue {
                        text: d.chars().take(64).collect(),
                    })
                }
            },
        };
        let mut items = self.action_plan(inc, now);
        let Ok(id) = items.next_task_id("A") else {
            return Plan::refuse(Refusal::TaskRefused {
                reason: "no free action item id".into(),
            });
        };
        let team = owner.name().to_string();
        let draft = TaskDraft::new(0, id.as_str(), text, owner)
            .team(&team)
            .window(now, end);
        match items.add_task(draft) {
            Err(issues) => Plan::refuse(Refusal::TaskRefused {
                reason: issues
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
            }),
            Ok(id) => {
                let mut plan = Plan::default();
                if let Some(task) = items.task(&id).cloned() {
                    plan.timeline.push((
                        inc.id.clone(),
                        TimelineEntry {
                            at: now,
                            who: who.clone(),
                            source: Source::Command,
                            entry: Entry::ActionAdded {
                                id: id.to_string(),
                                title: task.title.clone(),
                                owner: task.owner.name().to_string(),
                                due: end,
                            },
                        },
                    ));
                    plan.reply = Some(Message::TaskUpdate {
                        plan: items.id.clone(),
                        task,
                        events: vec![],
                        who: who.clone(),
                    });
                }
                plan.plans.push(items);
                plan
            }
        }
    }

    /// `/action list`.
    pub(super) fn action_list(&self, inc: &Incident, now: DateTime<Utc>) -> Message {
        let id = format!("{}/actions", inc.id);
        let tasks = match self.plan_index(&id) {
            Some(i) => self.plans[i]
                .tasks
                .iter()
                .map(|t| self.line(&self.plans[i], t, now))
                .collect(),
            None => vec![],
        };
        Message::TaskList { team: None, tasks }
    }

    /// The action items of an incident, for the postmortem.
    pub(super) fn action_lines(&self, id: &IncidentId, now: DateTime<Utc>) -> Vec<TaskLine> {
        match self.plan_index(&format!("{id}/actions")) {
            Some(i) => self.plans[i]
                .tasks
                .iter()
                .map(|t| self.line(&self.plans[i], t, now))
                .collect(),
            None => vec![],
        }
    }

    /// On resolve: a follow-up item (postmortem and action items) due 48 hours later, once.
    pub(super) fn follow_up(
        &self,
        inc: &Incident,
        resolver: &Person,
        now: DateTime<Utc>,
        plan: &mut Plan,
    ) {
        let mut items = self.action_plan(inc, now);
        if items.tasks.iter().any(|t| t.id.as_str().starts_with('F')) {
            return;
        }
        // The commander, else whoever resolved or declared it: a person, not the
        // alert pipeline or an API client.
        let owner = inc
            .commander()
            .into_iter()
            .chain([resolver, &inc.declared_by])
            .find(|p| !p.is_service_account())
            .unwrap_or(&inc.declared_by)
            .name
            .clone();
        let Ok(id) = items.next_task_id("F") else {
            return;
        };
        let draft = TaskDraft::new(
            0,
            id.as_str(),
            &self.cfg.follow_up_title,
            Owner::Person(owner.clone()),
        )
        .team(&owner)
        .window(now, now + FOLLOW_UP);
        if items.add_task(draft).is_ok() {
            plan.plans.push(items);
        }
    }

    /// Stores an imported plan. One with the same id is replaced, keeping the progress
    /// of its tasks that the new one still has unchanged in what they are (same id, title
    /// and dependencies; a corrected time window does not reset what is done, a changed
    /// task starts over).
    ///
    /// A task whose "starts soon" reminder fell before the import (it opens within the
    /// reminder lead) is reminded at once, unless the plan it replaces had it at the
    /// same start already.
    pub(super) fn import_plan(&self, mut p: tasks::Plan, now: DateTime<Utc>) -> Plan {
        let mut kept = 0;
        let old = self.plan_index(&p.id).map(|i| &self.plans[i]);
        let lead = self.cfg.reminder_lead;
        // Reminders after the scheduler's mark are still to be sent by its next tick.
        let missed_until = self.sched.reminded_until.unwrap_or(now).min(now);
        let soon: Vec<TaskId> = p
            .tasks
            .iter()
            .filter(|t| {
                t.window
                    .is_some_and(|w| w.start > now && w.start - lead <= missed_until)
                    && !old.is_some_and(|o| {
                        o.task(&t.id)
                            .is_some_and(|o| o.window.map(|w| w.start) == t.window.map(|w| w.start))
                    })
            })
            .map(|t| t.id.clone())
            .collect();
        if let Some(old) = self.plan_index(&p.id).map(|i| &self.plans[i]) {
            for t in &mut p.tasks {
                let Some(o) = old
                    .tasks
                    .iter()
                    .find(|o| o.id == t.id && o.title == t.title && o.depends_on == t.depends_on)
                else {
                    continue;
                };
                if o.status != tasks::TaskStatus::Pending || o.blocked_reason.is_some() {
                    t.status = o.status;
                    t.blocked_reason.clone_from(&o.blocked_reason);
                    t.started_at = o.started_at;
                    t.finished_at = o.finished_at;
                    kept += 1;
                }
            }
        }
        p.mark_critical_path();
        let tasks = p.tasks.len();
        let dest = self.plan_destination(&p);
        let outbox = soon
            .iter()
            .filter_map(|id| p.task(id))
            .filter(|t| {
                matches!(
                    t.status,
                    tasks::TaskStatus::Pending | tasks::TaskStatus::Blocked
                )
            })
            .map(|t| Action::Send {
                to: dest.clone(),
                message: Message::Reminder {
                    plan: p.id.clone(),
                    task: self.line(&p, t, now),
                    kind: tasks::ReminderKind::BeforeStart,
                },
            })
            .collect();
        Plan {
            reply: Some(Message::PlanImported {
                plan: p.id.clone(),
                tasks,
                kept,
            }),
            plans: vec![p],
            outbox,
            ..Plan::default()
        }
    }

    /// Removes a plan and what the scheduler remembers of it.
    pub(super) fn delete_plan(&self, id: &str) -> Plan {
        if self.plan_index(id).is_none() {
            return Plan::refuse(Refusal::UnknownPlan {
                plan: id.chars().take(64).collect(),
            });
        }
        let mut state = self.sched.clone();
        state.digests.drop_plan(id);
        Plan {
            reply: Some(Message::PlanDeleted {
                plan: id.to_string(),
            }),
            delete_plans: vec![id.to_string()],
            scheduler: Some(state),
            ..Plan::default()
        }
    }

    /// Records the chat id of a posted digest.
    pub(super) fn digest_posted(&self, plan: &str, team: &str, message: String) -> Plan {
        let mut state = self.sched.clone();
        if state.digests.set_message(plan, team, message) {
            Plan {
                scheduler: Some(state),
                ..Plan::default()
            }
        } else {
            Plan::default()
        }
    }

    /// The task half of a tick: reminders in (last tick, now], digests, escalations.
    pub(super) fn task_tick(&self, now: DateTime<Utc>, plan: &mut Plan) -> Result<(), StoreError> {
        let from = self.sched.reminded_until.unwrap_or(now);
        let mut state = self.sched.clone();
        let mut changed = false;
        for p in &self.plans {
            let reminders = tasks::due_reminders(p, from, now, self.cfg.reminder_lead);
            if reminders.is_empty() {
                continue;
            }
            let dest = self.plan_destination(p);
            for r in reminders {
                if let Some(t) = p.task(&r.task) {
                    plan.outbox.push(Action::Send {
                        to: dest.clone(),
                        message: Message::Reminder {
                            plan: p.id.clone(),
                            task: self.line(p, t, now),
                            kind: r.kind,
                        },
                    });
                    changed = true;
                }
            }
        }
        let digests = tasks::digests(&self.plans, now, &self.cfg.task_policy, &state.digests);
        if !digests.is_empty() {
            for u in &digests.updates {
                let Some(i) = self.plan_index(&u.digest.plan) else {
                    continue;
                };
                let edit = match &u.action {
                    tasks::DigestAction::Post => None,
                    tasks::DigestAction::Edit { message }
                    | tasks::DigestAction::Clear { message } => message.clone(),
                };
                plan.outbox.push(Action::Digest {
                    channel: self.plan_channel(&self.plans[i])?,
                    plan: u.digest.plan.clone(),
                    team: u.digest.team.clone(),
                    edit,
                    message: Message::Digest {
                        plan: u.digest.plan.clone(),
                        team: u.digest.team.clone(),
                        tasks: u.digest.tasks.iter().map(ToString::to_string).collect(),
                    },
                });
            }
            for e in &digests.escalations {
                let Some(i) = self.plan_index(&e.plan) else {
                    continue;
                };
                plan.outbox.push(Action::Send {
                    to: self.plan_destination(&self.plans[i]),
                    message: Message::CoordinatorEscalation {
                        escalation: e.clone(),
                    },
                });
            }
            state.digests.record(&digests, now);
            changed = true;
        }
        // Only what was sent is persisted; the in-memory mark always moves on (see
        // `SchedulerState`): after a restart the interval since the last send is
        // replayed, and it holds exactly the reminders not yet sent.
        state.reminded_until = Some(now);
        if changed {
            plan.scheduler = Some(state);
        } else {
            plan.mark = Some(now);
        }
        Ok(())
    }
}
