//! The engine: events in, actions out. Every adapter (console, Discord, HTTP API)
//! feeds it; it decides, writes one durable [`Commit`] (state + timeline + outbox),
//! and returns what it enqueued. Handle one event at a time (the app runs it on a
//! single task), so read-modify-write needs no locks.

mod alerts;
mod assist;
mod changes;
mod oncall;
mod proposals;
mod tasks;

pub use alerts::{alerts_actor, silence_from};
pub use assist::CARD_SIMILAR;
pub use changes::snapshot_pairs;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::calendar::Calendars;
use crate::catalog::{Catalog, SharedCatalog};
use crate::command::{self, Command, Parsed};
use crate::event::{Action, Destination, Event, Message, Origin, Refusal};
use crate::incident::{
    ChannelRef, Entry, Incident, IncidentId, Milestone, Person, Roles, Severity, Source, Status,
    TimelineEntry,
};
use crate::oncall::{Escalation, Policy, Schedule};
use crate::ports::{Commit, SchedulerState, Store, StoreError};
use crate::rbac::{Permission, Rbac};
use crate::time;

/// What the engine needs to know about the deployment.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Zone for typed times and the day part of incident ids.
    pub tz: Tz,
    /// Severity when a declaration names none.
    pub default_severity: Severity,
    /// Incident roles.
    pub roles: Roles,
    /// Access policy.
    pub rbac: Rbac,
    /// Where `/status` updates go besides the war room (the stakeholders channel).
    pub stakeholders: Option<ChannelRef>,
    /// The service catalog from the config file (API updates are merged over it).
    pub catalog: Catalog,
    /// Trading calendars.
    pub calendars: Arc<Calendars>,
    /// Market for trading-time figures and `/calendar` without an argument.
    pub market: String,
    /// On-call schedules by name.
    pub schedules: BTreeMap<String, Schedule>,
    /// Escalation policies by name.
    pub policies: BTreeMap<String, Policy>,
    /// Policy used when no affected service names one.
    pub default_policy: Option<String>,
    /// Whether pages are also sent to the outbound webhook.
    pub webhook: bool,
    /// Grace, digest interval and coordinator threshold for late tasks.
    pub task_policy: crate::tasks::EscalationPolicy,
    /// How long before a task window opens its owner is reminded.
    pub reminder_lead: chrono::Duration,
    /// Where messages of plans without a channel go.
    pub task_channel: ChannelRef,
    /// The change gate's rules.
    pub gate: crate::changes::GateRules,
    /// Where gate decisions are asked for (the task channel when `None`).
    pub change_channel: Option<ChannelRef>,
    /// The alert pipeline; `None` switches it off.
    pub alerts: Option<crate::alerts::PipelineConfig>,
    /// Where storm notices go (the task channel when `None`).
    pub alert_channel: Option<ChannelRef>,
    /// How long a write the model proposed can be confirmed.
    pub proposal_ttl: chrono::Duration,
    /// Title of the follow-up item added on resolve, in the bot's language.
    pub follow_up_title: String,
}

/// The follow-up item's title in English (the default).
pub const FOLLOW_UP_TITLE_EN: &str = "Follow up: postmortem and action items";
/// The follow-up item's title in Chinese.
pub const FOLLOW_UP_TITLE_ZH: &str = "跟进：复盘报告与改进项";

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            tz: chrono_tz::Asia::Shanghai,
            default_severity: Severity::P3,
            roles: Roles::default(),
            rbac: Rbac::default(),
            stakeholders: None,
            catalog: Catalog::default(),
            calendars: Arc::new(Calendars::builtin()),
            market: "SSE".into(),
            schedules: BTreeMap::new(),
            policies: BTreeMap::new(),
            default_policy: None,
            webhook: false,
            task_policy: crate::tasks::EscalationPolicy::default(),
            reminder_lead: chrono::Duration::minutes(10),
            task_channel: ChannelRef::new("console", "console"),
            gate: crate::changes::GateRules::default(),
            change_channel: None,
            alerts: None,
            alert_channel: None,
            proposal_ttl: chrono::Duration::minutes(30),
            follow_up_title: FOLLOW_UP_TITLE_EN.into(),
        }
    }
}

/// What handling one event did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The direct answer to the event (also enqueued when the origin is a chat channel).
    pub reply: Option<Message>,
    /// Everything enqueued in the outbox, in order.
    pub actions: Vec<Action>,
    /// The incident the event was about, if any.
    pub incident: Option<IncidentId>,
}

impl EngineConfig {
    /// The schedules an on-call question names ([`crate::oncall::schedules_for`]), with
    /// this configuration's policies and default policy.
    pub fn schedules_for(
        &self,
        lookup: crate::oncall::Lookup<'_>,
        schedules: &BTreeMap<String, Schedule>,
        catalog: &crate::catalog::Catalog,
    ) -> Option<Vec<String>> {
        crate::oncall::schedules_for(
            lookup,
            schedules,
            catalog,
            &self.policies,
            self.default_policy.as_deref(),
        )
    }
}

/// The decision core.
pub struct Engine {
    store: Arc<dyn Store>,
    cfg: EngineConfig,
    /// The catalog in force (config merged with API updates); shared read-only with HTTP.
    catalog: SharedCatalog,
    /// Running escalations by key (`IMS-…/policy`); finished ones are dropped from memory.
    escalations: BTreeMap<String, Escalation>,
    /// (due time, key) of every running escalation: the timer wheel.
    due: BTreeSet<(DateTime<Utc>, String)>,
    /// Change plans and action items, by id.
    plans: Vec<crate::tasks::Plan>,
    /// What the task scheduler has sent so far.
    sched: SchedulerState,
    /// Schedules with the overrides added at run time; shared read-only with HTTP.
    schedules: crate::shared::Shared<BTreeMap<String, Schedule>>,
    /// Every change event.
    changes: Vec<crate::changes::ChangeEvent>,
    /// The gate's records by change id.
    gate: BTreeMap<String, crate::changes::GateRecord>,
    /// The alert pipeline, when on.
    pipeline: Option<crate::alerts::Pipeline>,
    /// Alert clusters → their incidents.
    bindings: BTreeMap<String, IncidentId>,
    /// During a replay of the alert log: the alerts on incidents' cards → the incident,
    /// so a cluster the replay founded differently from the live run (or under the
    /// counted ids of an older version) binds to its incident instead of declaring again.
    replay_cards: BTreeMap<String, IncidentId>,
    /// Writes the model proposed, by id.
    proposals: BTreeMap<String, crate::assist::ProposalRecord>,
}

/// Work in progress for one event; becomes a [`Commit`].
#[derive(Default)]
struct Plan {
    incident: Option<Incident>,
    timeline: Vec<(IncidentId, TimelineEntry)>,
    bind: Option<(ChannelRef, IncidentId)>,
    outbox: Vec<Action>,
    reply: Option<Message>,
    target: Option<IncidentId>,
    escalations: Vec<Escalation>,
    services: Vec<crate::catalog::Service>,
    plans: Vec<crate::tasks::Plan>,
    delete_plans: Vec<String>,
    overrides: Vec<(String, crate::oncall::Override)>,
    scheduler: Option<SchedulerState>,
    /// Move the reminder mark in memory only (nothing was sent).
    mark: Option<DateTime<Utc>>,
    changes: Vec<crate::changes::ChangeEvent>,
    gate: Vec<crate::changes::GateRecord>,
    audit: Vec<crate::audit::AuditEntry>,
    alert_bindings: Vec<(String, IncidentId)>,
    silences: Vec<crate::alerts::Silence>,
    proposals: Vec<crate::assist::ProposalRecord>,
}

impl Plan {
    fn reply(message: Message) -> Self {
        Self {
            reply: Some(message),
            ..Self::default()
        }
    }

    fn refuse(problem: Refusal) -> Self {
        Self::reply(Message::Refused { problem })
    }
}

impl Engine {
    /// An engine over `store` with `cfg`; loads the catalog updates and running
    /// escalations the store holds.
    ///
    /// # Errors
    /// [`StoreError`] when the store cannot be read.
    pub fn new(store: Arc<dyn Store>, mut cfg: EngineConfig) -> Result<Self, StoreError> {
        // Alert-driven changes are the bot's own; they need every permission.
        cfg.rbac
            .users
            .insert(alerts::alerts_actor().id, vec!["commander".into()]);
        cfg.rbac
            .roles
            .entry("commander".into())
            .or_insert_with(|| Permission::ALL.into_iter().collect());
        let stored = store.services()?;
        let catalog = cfg
            .catalog
            .merged(stored)
            .unwrap_or_else(|_| cfg.catalog.clone());
        let mut plans = store.plans()?;
        plans.sort_by(|a, b| a.id.cmp(&b.id));
        let sched = store.scheduler_state()?;
        let mut schedules = cfg.schedules.clone();
        for (name, o) in store.overrides()? {
            if let Some(s) = schedules.get_mut(&name) {
                s.overrides.push(o);
            }
        }
        let schedules = crate::shared::Shared::new(schedules);
        let mut engine = Self {
            store,
            cfg,
            catalog: SharedCatalog::new(catalog),
            escalations: BTreeMap::new(),
            due: BTreeSet::new(),
            plans,
            sched,
            schedules,
            changes: Vec::new(),
            gate: BTreeMap::new(),
            pipeline: None,
            bindings: BTreeMap::new(),
            replay_cards: BTreeMap::new(),
            proposals: BTreeMap::new(),
        };
        if let Some(pc) = engine.cfg.alerts.clone() {
            // The configuration was validated when it was loaded.
            if let Ok(mut p) =
                crate::alerts::Pipeline::new(pc, engine.catalog.get().as_ref().clone())
            {
                for s in engine.store.silences()? {
                    let _ = p.restore_silence(s);
                }
                engine.pipeline = Some(p);
            }
        }
        engine.bindings = engine.store.alert_bindings()?.into_iter().collect();
        engine.proposals = engine
            .store
            .proposals()?
            .into_iter()
            .map(|p| (p.id.clone(), p))
            .collect();
        engine.changes = engine.store.changes()?;
        engine.gate = engine
            .store
            .gate_records()?
            .into_iter()
            .map(|r| (r.change.clone(), r))
            .collect();
        for esc in engine.store.escalations()? {
            engine.remember(esc);
        }
        Ok(engine)
    }

    /// The catalog in force, shared (HTTP reads it).
    pub fn catalog(&self) -> SharedCatalog {
        self.catalog.clone()
    }

    /// The schedules in force (config plus run-time overrides), shared.
    pub fn schedules(&self) -> crate::shared::Shared<BTreeMap<String, Schedule>> {
        self.schedules.clone()
    }

    /// A snapshot of every plan (for the API).
    pub fn plans(&self) -> &[crate::tasks::Plan] {
        &self.plans
    }

    /// Number of running escalations (for metrics).
    pub fn running_escalations(&self) -> usize {
        self.due.len()
    }

    /// Keeps the in-memory timer index in step with a stored escalation.
    fn remember(&mut self, esc: Escalation) {
        if let Some(old) = self.escalations.remove(&esc.key) {
            if let Some(t) = old.next_at {
                self.due.remove(&(t, old.key));
            }
        }
        if let Some(t) = esc.next_at {
            self.due.insert((t, esc.key.clone()));
            self.escalations.insert(esc.key.clone(), esc);
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> &EngineConfig {
        &self.cfg
    }

    /// Handles one event at `now`. User mistakes become replies in the [`Outcome`];
    /// only storage failures are errors, and then nothing was changed or enqueued.
    ///
    /// # Errors
    /// [`StoreError`] from the store.
    pub fn handle(&mut self, event: Event, now: DateTime<Utc>) -> Result<Outcome, StoreError> {
        let (origin, plan) = match event {
            Event::Chat {
                channel,
                actor,
                text,
            } => {
                let origin = Origin::Chat { channel };
                let plan = match command::parse(&text) {
                    Parsed::NotACommand => return Ok(Outcome::default()),
                    Parsed::Invalid(error) => Plan::reply(Message::Usage { error }),
                    Parsed::Command(c) => self.command_mut(&origin, actor, c, now)?,
                };
                (origin, plan)
            }
            Event::Command {
                origin,
                actor,
                command,
            } => {
                let plan = self.command_mut(&origin, actor, command, now)?;
                (origin, plan)
            }
            Event::WarRoomOpened { incident, channel } => {
                (Origin::Api, self.war_room_opened(incident, channel, now)?)
            }
            Event::Capture {
                channel,
                author,
                text,
                link,
            } => (Origin::Api, self.capture(channel, author, text, link, now)?),
            Event::Tick => {
                let mut plan = self.tick(now)?;
                self.task_tick(now, &mut plan)?;
                let mut out = self.alerts_tick(now)?;
                let rest = self.commit(Origin::Api, plan)?;
                alerts::merge(&mut out, rest);
                return Ok(out);
            }
            Event::Alerts {
                alerts,
                received_at,
            } => return self.alerts_in(alerts, received_at, false),
            Event::AddSilence { silence } => (Origin::Api, self.add_silence(silence, now)),
            Event::UpdateSilence { silence, fresh_id } => {
                (Origin::Api, self.update_silence(silence, fresh_id, now))
            }
            Event::ExpireSilence { id } => (Origin::Api, self.expire_silence(&id, now)),
            Event::ImportPlan { plan, actor } => {
                let plan = match actor {
                    Some(a) if !self.cfg.rbac.permits(&a, Permission::Update, None) => {
                        Plan::reply(Message::Denied {
                            permission: Permission::Update,
                            command: crate::command::Syntax::Plan,
                        })
                    }
                    _ => self.import_plan(plan, now),
                };
                (Origin::Api, plan)
            }
            Event::AddOverride {
                schedule,
                person,
                start,
                end,
            } => (
                Origin::Api,
                self.store_override(&schedule, &person, start, end),
            ),
            Event::DeletePlan { plan } => (Origin::Api, self.delete_plan(&plan)),
            Event::TaskAction {
                plan,
                task,
                action,
                actor,
            } => (
                Origin::Api,
                self.task_action(&format!("{plan}:{task}"), action, &actor, now),
            ),
            Event::DigestPosted {
                plan,
                team,
                message,
            } => (Origin::Api, self.digest_posted(&plan, &team, message)),
            Event::UpsertServices { services } => (Origin::Api, self.upsert_services(services)),
            Event::RecordChanges { changes } => (Origin::Api, self.record_changes(changes)),
            Event::CheckChange { change } => (Origin::Api, self.check_change(change, now)),
            Event::Assisted { result } => (Origin::Api, self.assisted(result, now)?),
            Event::ReloadAlertRules { rules } => (Origin::Api, self.reload_alert_rules(rules)),
        };
        self.commit(origin, plan)
    }

    fn commit(&mut self, origin: Origin, mut plan: Plan) -> Result<Outcome, StoreError> {
        if let (Some(reply), Origin::Chat { channel }) = (&plan.reply, &origin) {
            plan.outbox.insert(
                0,
                Action::Send {
                    to: Destination::Channel {
                        channel: channel.clone(),
                    },
                    message: reply.clone(),
                },
            );
        }
        let actions = plan.outbox.clone();
        let escalations = plan.escalations.clone();
        let services = plan.services.clone();
        let plans = plan.plans.clone();
        let deleted = plan.delete_plans.clone();
        let overrides = plan.overrides.clone();
        let scheduler = plan.scheduler.clone();
        let changes = std::mem::take(&mut plan.changes);
        let gate = std::mem::take(&mut plan.gate);
        let audit = std::mem::take(&mut plan.audit);
        let alert_bindings = std::mem::take(&mut plan.alert_bindings);
        let silences = std::mem::take(&mut plan.silences);
        let proposals = std::mem::take(&mut plan.proposals);
        if !changes.is_empty()
            || !proposals.is_empty()
            || !gate.is_empty()
            || !audit.is_empty()
            || !alert_bindings.is_empty()
            || !silences.is_empty()
            || plan.incident.is_some()
            || !plan.timeline.is_empty()
            || plan.bind.is_some()
            || !plan.outbox.is_empty()
            || !plan.escalations.is_empty()
            || !plan.services.is_empty()
            || !plan.plans.is_empty()
            || !plan.delete_plans.is_empty()
            || !plan.overrides.is_empty()
            || plan.scheduler.is_some()
        {
            self.store.commit(Commit {
                incident: plan.incident,
                timeline: plan.timeline,
                bind: plan.bind,
                outbox: plan.outbox,
                escalations: plan.escalations,
                services: plan.services,
                plans: plan.plans,
                delete_plans: plan.delete_plans,
                overrides: plan.overrides,
                scheduler: plan.scheduler,
                changes: changes.clone(),
                gate: gate.clone(),
                audit,
                alert_bindings: alert_bindings.clone(),
                silences,
                proposals: proposals.clone(),
            })?;
        }
        for p in proposals {
            self.proposals.insert(p.id.clone(), p);
        }
        self.bindings.extend(alert_bindings);
        for c in changes {
            match self.changes.iter_mut().find(|x| x.id == c.id) {
                Some(x) => *x = c,
                None => self.changes.push(c),
            }
        }
        for r in gate {
            self.gate.insert(r.change.clone(), r);
        }
        // Memory follows the store, never leads it.
        for esc in escalations {
            self.remember(esc);
        }
        for p in plans {
            match self.plan_index(&p.id) {
                Some(i) => self.plans[i] = p,
                None => {
                    let at = self.plans.partition_point(|x| x.id < p.id);
                    self.plans.insert(at, p);
                }
            }
        }
        self.plans.retain(|p| !deleted.contains(&p.id));
        if !overrides.is_empty() {
            let mut schedules = (*self.schedules.get()).clone();
            for (name, o) in overrides {
                if let Some(s) = schedules.get_mut(&name) {
                    s.overrides.push(o);
                }
            }
            self.schedules.set(schedules);
        }
        if let Some(s) = scheduler {
            self.sched = s;
        }
        if let Some(m) = plan.mark {
            self.sched.reminded_until = Some(m);
        }
        if !services.is_empty() {
            if let Ok(merged) = self.catalog.get().merged(services) {
                self.catalog.set(merged);
            }
        }
        Ok(Outcome {
            reply: plan.reply,
            actions,
            incident: plan.target,
        })
    }

    fn war_room_opened(
        &self,
        id: IncidentId,
        channel: ChannelRef,
        now: DateTime<Utc>,
    ) -> Result<Plan, StoreError> {
        // Idempotent: an adapter may report the same war room again after a restart.
        if self.store.incident(&id)?.is_none()
            || self.store.incident_channels(&id)?.contains(&channel)
        {
            return Ok(Plan::default());
        }
        let entry = TimelineEntry {
            at: now,
            who: bot(),
            source: Source::Bot,
            entry: Entry::ChannelLinked {
                channel: channel.clone(),
            },
        };
        Ok(Plan {
            timeline: vec![(id.clone(), entry)],
            bind: Some((channel.clone(), id.clone())),
            outbox: vec![Action::PostCard {
                incident: id.clone(),
                channel,
            }],
            target: Some(id),
            ..Plan::default()
        })
    }

    fn capture(
        &self,
        channel: ChannelRef,
        author: Person,
        text: String,
        link: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<Plan, StoreError> {
        let Some(id) = self.store.channel_incident(&channel)? else {
            return Ok(Plan::default());
        };
        let text: String = text.chars().take(command::MAX_COMMAND_CHARS).collect();
        let entry = TimelineEntry {
            at: now,
            who: author.clone(),
            source: Source::Chat,
            entry: Entry::Captured { text, author, link },
        };
        Ok(Plan {
            timeline: vec![(id.clone(), entry)],
            target: Some(id),
            ..Plan::default()
        })
    }

    /// Commands that change the alert pipeline need `&mut self`; the rest go to [`Self::command`].
    fn command_mut(
        &mut self,
        origin: &Origin,
        actor: Person,
        cmd: Command,
        now: DateTime<Utc>,
    ) -> Result<Plan, StoreError> {
        match &cmd {
            Command::Silence {
                matchers,
                span,
                comment,
            } => {
                if !self.cfg.rbac.permits(&actor, Permission::Update, None) {
                    return Ok(Plan::reply(Message::Denied {
                        permission: Permission::Update,
                        command: cmd.syntax(),
                    }));
                }
                let mut parsed = Vec::new();
                for m in matchers {
                    match crate::alerts::Matcher::parse(m) {
                        Ok(x) => parsed.push(x),
                        Err(e) => {
                            let detail = match e {
                                crate::alerts::MatcherError::BadRegex { reason, .. } => {
                                    Some(reason)
                                }
                                _ => None,
                            };
                            return Ok(Plan::refuse(Refusal::BadSilence {
                                problem: crate::event::SilenceProblem::Matcher {
                                    text: m.chars().take(64).collect(),
                                    detail,
                                },
                            }));
                        }
                    }
                }
                // A bare number is not a span in chat (it would be seconds), nor is zero.
                let d = crate::alerts::Dur::parse(span).ok().filter(|d| {
                    d.as_secs() > 0 && !span.trim().chars().all(|c| c.is_ascii_digit())
                });
                let Some(d) = d else {
                    return Ok(Plan::refuse(Refusal::BadSilence {
                        problem: crate::event::SilenceProblem::Duration {
                            text: span.chars().take(64).collect(),
                        },
                    }));
                };
                // The minute and the first number no silence, current or ended, has.
                let stamp = now.with_timezone(&self.cfg.tz).format("%Y%m%d%H%M");
                let taken: BTreeSet<&str> = self
                    .pipeline
                    .iter()
                    .flat_map(|p| p.silences().chain(p.ended_silences()))
                    .map(|s| s.id.as_str())
                    .collect();
                let id = (1..)
                    .map(|n| format!("S-{stamp}-{n}"))
                    .find(|id| !taken.contains(id.as_str()))
                    .unwrap_or_default();
                let s = alerts::silence_from(
                    id,
                    parsed,
                    now,
                    d.get(),
                    &actor,
                    comment.clone().unwrap_or_default(),
                );
                Ok(self.add_silence(s, now))
            }
            Command::SilenceExpire { id } => {
                if !self.cfg.rbac.permits(&actor, Permission::Update, None) {
                    return Ok(Plan::reply(Message::Denied {
                        permission: Permission::Update,
                        command: cmd.syntax(),
                    }));
                }
                Ok(self.expire_silence(id, now))
            }
            Command::Proposal { id, confirm } => {
                let (id, confirm) = (id.clone(), *confirm);
                self.decide_proposal(origin, actor, &id, confirm, now)
            }
            _ => self.command(origin, actor, cmd, now),
        }
    }

    fn command(
        &self,
        origin: &Origin,
        actor: Person,
        cmd: Command,
        now: DateTime<Utc>,
    ) -> Result<Plan, StoreError> {
        let source = match origin {
            Origin::Chat { .. } => Source::Command,
            Origin::Api => Source::Api,
        };
        // Commands without a target incident.
        match &cmd {
            Command::Help => {
                return Ok(self.guard(
                    &actor,
                    Permission::View,
                    &cmd,
                    None,
                    now,
                    Plan::reply(Message::Help),
                ))
            }
            Command::List => {
                let plan = Plan::reply(Message::List {
                    incidents: self.store.incidents()?.into_iter().take(25).collect(),
                });
                return Ok(self.guard(&actor, Permission::View, &cmd, None, now, plan));
            }
            Command::OnCall { query } => {
                let plan = Plan::reply(self.oncall_answer(query.as_deref(), now));
                return Ok(self.guard(&actor, Permission::View, &cmd, None, now, plan));
            }
            Command::Calendar { market } => {
                let plan = Plan::reply(self.calendar_answer(market.as_deref(), now));
                return Ok(self.guard(&actor, Permission::View, &cmd, None, now, plan));
            }
            Command::OnCallOverride {
                schedule,
                person,
                span,
                until,
            } => {
                if !self.cfg.rbac.permits(&actor, Permission::Update, None) {
                    return Ok(Plan::reply(Message::Denied {
                        permission: Permission::Update,
                        command: cmd.syntax(),
                    }));
                }
                return Ok(self.add_override(schedule, person, span, *until, now));
            }
            Command::TaskList { team } => {
                let plan = Plan::reply(self.task_list(team.as_deref(), now));
                return Ok(self.guard(&actor, Permission::View, &cmd, None, now, plan));
            }
            Command::PlanStatus { plan: id } => {
                let plan = Plan::reply(self.plan_status(id.as_deref(), now));
                return Ok(self.guard(&actor, Permission::View, &cmd, None, now, plan));
            }
            Command::Changes { args } => {
                let plan = Plan::reply(self.changes_answer(args, now));
                return Ok(self.guard(&actor, Permission::View, &cmd, None, now, plan));
            }
            Command::Diff { target } => {
                let plan = Plan::reply(self.diff_answer(target)?);
                return Ok(self.guard(&actor, Permission::View, &cmd, None, now, plan));
            }
            Command::ChangeDecision {
                change,
                action,
                note,
            } => return Ok(self.decide_change(&actor, change, *action, note.clone(), now)),
            Command::SilenceList => {
                let plan = Plan::reply(Message::SilenceList {
                    silences: self.silences(now),
                    ended: self.ended_silences(now),
                });
                return Ok(self.guard(&actor, Permission::View, &cmd, None, now, plan));
            }
            Command::AlertList { matchers } => {
                let plan = match self.firing_alerts(matchers, now) {
                    Some(alerts) => Plan::reply(Message::AlertList { alerts }),
                    None => Plan::refuse(Refusal::AlertsOff),
                };
                return Ok(self.guard(&actor, Permission::View, &cmd, None, now, plan));
            }
            Command::Silence { .. } | Command::SilenceExpire { .. } => {
                // Handled by `command_mut` (they change the pipeline).
                return Ok(Plan::default());
            }
            Command::Ask { question } => {
                let plan = self.ask(origin, actor.clone(), question)?;
                return Ok(self.guard(&actor, Permission::View, &cmd, None, now, plan));
            }
            Command::Similar { target } => {
                let plan = self.similar(origin, target.as_deref())?;
                return Ok(self.guard(&actor, Permission::View, &cmd, None, now, plan));
            }
            Command::Task { task, action } => {
                if !self.cfg.rbac.permits(&actor, Permission::Update, None) {
                    return Ok(Plan::reply(Message::Denied {
                        permission: Permission::Update,
                        command: cmd.syntax(),
                    }));
                }
                return Ok(self.task_action(task, action.clone(), &actor, now));
            }
            Command::Declare {
                title,
                severity,
                services,
            } => {
                if !self.cfg.rbac.permits(&actor, Permission::Declare, None) {
                    return Ok(Plan::reply(Message::Denied {
                        permission: Permission::Declare,
                        command: cmd.syntax(),
                    }));
                }
                let day = now.with_timezone(&self.cfg.tz).date_naive();
                let id = self.store.allocate_incident_id(day)?;
                let severity = severity.unwrap_or(self.cfg.default_severity);
                let inc = Incident::declare(
                    id.clone(),
                    title.clone(),
                    severity,
                    services.clone(),
                    actor.clone(),
                    now,
                );
                let entry = TimelineEntry {
                    at: now,
                    who: actor,
                    source,
                    entry: Entry::Declared {
                        title: title.clone(),
                        severity,
                    },
                };
                let catalog = self.catalog.get();
                let unknown = if catalog.is_empty() {
                    Vec::new()
                } else {
                    services
                        .iter()
                        .filter(|s| catalog.get(s).is_none())
                        .cloned()
                        .collect()
                };
                let mut plan = Plan {
                    reply: Some(Message::Declared {
                        incident: Box::new(inc.clone()),
                        unknown,
                    }),
                    timeline: vec![(id.clone(), entry)],
                    outbox: vec![Action::OpenWarRoom {
                        incident: id.clone(),
                    }],
                    target: Some(id),
                    ..Plan::default()
                };
                self.start_paging(&inc, now, &mut plan);
                plan.outbox.push(assist::analyze(&inc.id, &Origin::Api));
                plan.incident = Some(inc);
                return Ok(plan);
            }
            _ => {}
        }
        // Everything else targets an incident: named, or linked to this channel.
        let here = match origin {
            Origin::Chat { channel } => self.store.channel_incident(channel)?,
            Origin::Api => None,
        };
        let Some(id) = cmd.explicit_incident().cloned().or(here.clone()) else {
            return Ok(Plan::refuse(Refusal::NoIncidentHere));
        };
        let Some(inc) = self.store.incident(&id)? else {
            return Ok(Plan::refuse(Refusal::NotFound { incident: id }));
        };
        let needed = permission_for(&cmd, inc.status);
        if !self.cfg.rbac.permits(&actor, needed, Some(&inc)) {
            return Ok(self.guard(&actor, needed, &cmd, Some(&inc), now, Plan::default()));
        }
        let in_war_room = here.as_ref() == Some(&id);
        let mut plan = match cmd {
            Command::Show { .. } => Plan::reply(Message::Card {
                incident: Box::new(inc),
            }),
            Command::Timeline { .. } => {
                let entries = self.store.timeline(&id)?;
                Plan::reply(Message::Timeline {
                    incident: Box::new(inc),
                    entries,
                })
            }
            Command::Postmortem { .. } => {
                let entries = self.store.timeline(&id)?;
                let actions = self.action_lines(&id, now);
                Plan::reply(Message::Postmortem {
                    incident: Box::new(inc),
                    entries,
                    actions,
                    generated_at: now,
                })
            }
            // Action items outlive the incident: they may be added after close.
            Command::ActionAdd {
                owner, text, due, ..
            } => self.action_add(&inc, &owner, &text, due.as_deref(), &actor, now),
            Command::ActionList { .. } => Plan::reply(self.action_list(&inc, now)),
            // A closed incident's record is final: no channel joins it.
            Command::Link { .. } if inc.status == Status::Closed => Plan::refuse(Refusal::Closed {
                incident: id.clone(),
            }),
            Command::Link { .. } => match origin {
                Origin::Chat { channel } => {
                    let mut plan = Change::new(inc, &actor, source, now)
                        .note(Entry::ChannelLinked {
                            channel: channel.clone(),
                        })
                        .finish(in_war_room);
                    plan.incident = None; // linking does not change the incident record
                    plan.bind = Some((channel.clone(), id.clone()));
                    plan
                }
                Origin::Api => Plan::refuse(Refusal::NoIncidentHere),
            },
            // The cause is often written down after close, for the postmortem.
            Command::RootCause { text, .. } => {
                self.record_cause(inc, &actor, source, now, true, text, in_war_room)
            }
            Command::Resolution { text, .. } => {
                self.record_cause(inc, &actor, source, now, false, text, in_war_room)
            }
            cmd if inc.status == Status::Closed => {
                let _ = cmd;
                Plan::refuse(Refusal::Closed {
                    incident: id.clone(),
                })
            }
            Command::Transition { to, reopen, .. } => match inc.status.check_move(to, reopen) {
                Err(e) => Plan::refuse(Refusal::Transition { error: e.into() }),
                Ok(()) => {
                    let from = inc.status;
                    let mut change = Change::new(inc, &actor, source, now);
                    change.inc.status = to;
                    if reopen {
                        // Not recovered any more: resolving again records the new time, so
                        // time to recover counts the relapse. The earlier time stays in the
                        // timeline; stop-loss stays (the first stop of the impact).
                        change.inc.milestones.remove(&Milestone::Recovered);
                    }
                    let auto = match to {
                        Status::Investigating if from == Status::Declared => {
                            Some(Milestone::Responded)
                        }
                        Status::Mitigated => Some(Milestone::StopLoss),
                        Status::Resolved => Some(Milestone::Recovered),
                        _ => None,
                    };
                    let mut change = change.note(Entry::StatusChanged { from, to });
                    if let Some(m) = auto.filter(|m| !change.inc.milestones.contains_key(m)) {
                        change.inc.milestones.insert(m, now);
                        change = change.bot_note(Entry::MilestoneSet {
                            milestone: m,
                            time: now,
                            previous: None,
                        });
                    }
                    let mut plan = change.finish(in_war_room);
                    // Any move past "declared" means someone is on it: stop paging.
                    self.ack_paging(&id, &actor.name, now, &mut plan);
                    if to == Status::Resolved {
                        if let Some(inc) = plan.incident.clone() {
                            self.follow_up(&inc, &actor, now, &mut plan);
                        }
                    }
                    if matches!(to, Status::Resolved | Status::Closed) {
                        plan.outbox.push(assist::index_incident(&id));
                    }
                    if to == Status::Closed {
                        // Closing archives the war room and leaves the draft there.
                        let entries = self.store.timeline(&id)?;
                        if let Some(inc) = &plan.incident {
                            let actions = self.action_lines(&id, now);
                            let draft = Message::Postmortem {
                                incident: Box::new(inc.clone()),
                                entries,
                                actions,
                                generated_at: now,
                            };
                            plan.outbox.push(Action::Send {
                                to: Destination::WarRoom {
                                    incident: id.clone(),
                                },
                                message: draft,
                            });
                        }
                        plan.outbox.push(Action::ArchiveWarRoom {
                            incident: id.clone(),
                        });
                    }
                    plan
                }
            },
            Command::StatusUpdate { text, .. } => {
                let mut plan = Change::new(inc, &actor, source, now)
                    .note(Entry::StatusUpdate { text: text.clone() })
                    .finish(true);
                plan.incident = None; // an update does not change the incident record
                let snapshot = self.store.incident(&id)?.map(Box::new);
                plan.outbox.clear();
                if let Some(incident) = snapshot {
                    let update = Message::StatusUpdate {
                        incident,
                        who: actor.clone(),
                        text,
                    };
                    plan.outbox.push(Action::Send {
                        to: Destination::WarRoom {
                            incident: id.clone(),
                        },
                        message: update.clone(),
                    });
                    if let Some(ch) = &self.cfg.stakeholders {
                        plan.outbox.push(Action::Send {
                            to: Destination::Channel {
                                channel: ch.clone(),
                            },
                            message: update,
                        });
                    }
                }
                if in_war_room {
                    plan.reply = None; // the update itself is the war room's answer
                }
                plan
            }
            Command::SetSeverity { severity, .. } if severity == inc.severity => {
                Plan::refuse(Refusal::SameSeverity {
                    severity: severity.code(),
                })
            }
            Command::SetSeverity { severity, .. } => {
                let from = inc.severity;
                let mut change = Change::new(inc, &actor, source, now);
                change.inc.severity = severity;
                change
                    .note(Entry::SeverityChanged { from, to: severity })
                    .finish(in_war_room)
            }
            Command::AssignRole { role, user, .. } => {
                match (self.cfg.roles.find(&role), person_from(&user)) {
                    (None, _) => Plan::refuse(Refusal::UnknownRole {
                        role,
                        known: self.cfg.roles.all().iter().map(|r| r.key.clone()).collect(),
                    }),
                    (_, None) => Plan::refuse(Refusal::BadUser {
                        user: user.chars().take(64).collect(),
                    }),
                    (Some(def), Some(person)) => {
                        let mut change = Change::new(inc, &actor, source, now);
                        let previous = change.inc.roles.insert(def.key.clone(), person.clone());
                        change
                            .note(Entry::RoleAssigned {
                                role: def.key.clone(),
                                person,
                                previous,
                            })
                            .finish(in_war_room)
                    }
                }
            }
            Command::Milestone { milestone, at, .. } => {
                let at = match at.map(|t| time::resolve(&t, now, self.cfg.tz)).transpose() {
                    Ok(at) => at.unwrap_or(now),
                    Err(error) => return Ok(Plan::refuse(Refusal::BadTime { error })),
                };
                if let Some((other, other_time)) = milestone.out_of_order(at, &inc.milestones) {
                    return Ok(Plan::refuse(Refusal::MilestoneOrder {
                        milestone,
                        time: at,
                        other,
                        other_time,
                    }));
                }
                let mut change = Change::new(inc, &actor, source, now);
                let previous = change.inc.milestones.insert(milestone, at);
                change
                    .note(Entry::MilestoneSet {
                        milestone,
                        time: at,
                        previous,
                    })
                    .finish(in_war_room)
            }
            Command::TimelineAdd { text, .. } => {
                let mut plan = Change::new(inc, &actor, source, now)
                    .note(Entry::Note { text })
                    .finish(in_war_room);
                plan.incident = None; // a note does not change the incident record
                plan.outbox
                    .retain(|a| !matches!(a, Action::RefreshCard { .. }));
                plan
            }
            Command::Help
            | Command::List
            | Command::Declare { .. }
            | Command::OnCall { .. }
            | Command::OnCallOverride { .. }
            | Command::Calendar { .. }
            | Command::Task { .. }
            | Command::TaskList { .. }
            | Command::PlanStatus { .. }
            | Command::Changes { .. }
            | Command::ChangeDecision { .. }
            | Command::Diff { .. }
            | Command::Silence { .. }
            | Command::SilenceList
            | Command::SilenceExpire { .. }
            | Command::AlertList { .. }
            | Command::Ask { .. }
            | Command::Similar { .. }
            | Command::Proposal { .. } => Plan::default(),
            Command::Page { target, reason, .. } => {
                self.manual_page(&inc, &actor, &target, &reason, now)
            }
            Command::Analyze { .. } => Plan {
                outbox: vec![assist::analyze(&id, origin)],
                ..Plan::default()
            },
        };
        plan.target = Some(id);
        Ok(plan)
    }

    /// Replaces `plan` with a denial (reply + timeline entry) when `actor` lacks `needed`.
    fn guard(
        &self,
        actor: &Person,
        needed: Permission,
        cmd: &Command,
        inc: Option<&Incident>,
        now: DateTime<Utc>,
        plan: Plan,
    ) -> Plan {
        if self.cfg.rbac.permits(actor, needed, inc) {
            return plan;
        }
        let mut denied = Plan::reply(Message::Denied {
            permission: needed,
            command: cmd.syntax(),
        });
        if let Some(inc) = inc {
            let entry = Entry::Denied {
                permission: needed.key().into(),
                command: cmd.syntax().key().into(),
            };
            denied.timeline.push((
                inc.id.clone(),
                TimelineEntry {
                    at: now,
                    who: actor.clone(),
                    source: Source::Bot,
                    entry,
                },
            ));
            denied.target = Some(inc.id.clone());
        }
        denied
    }
}

/// A change to one incident: the new record, its timeline entries, and the notice.
struct Change {
    inc: Incident,
    actor: Person,
    source: Source,
    now: DateTime<Utc>,
    entries: Vec<TimelineEntry>,
}

impl Change {
    fn new(inc: Incident, actor: &Person, source: Source, now: DateTime<Utc>) -> Self {
        Self {
            inc,
            actor: actor.clone(),
            source,
            now,
            entries: Vec::new(),
        }
    }

    fn note(mut self, entry: Entry) -> Self {
        self.entries.push(TimelineEntry {
            at: self.now,
            who: self.actor.clone(),
            source: self.source,
            entry,
        });
        self
    }

    fn bot_note(mut self, entry: Entry) -> Self {
        self.entries.push(TimelineEntry {
            at: self.now,
            who: self.actor.clone(),
            source: Source::Bot,
            entry,
        });
        self
    }

    /// The plan: store the incident, append entries, reply with a notice of the
    /// first entry, refresh the card, and tell the war room when the change was
    /// made elsewhere.
    fn finish(mut self, in_war_room: bool) -> Plan {
        self.inc.revision += 1;
        self.inc.updated_at = self.now;
        let id = self.inc.id.clone();
        let first = self
            .entries
            .first()
            .map(|e| e.entry.clone())
            .unwrap_or(Entry::Note {
                text: String::new(),
            });
        let notice = Message::Notice {
            incident: id.clone(),
            who: self.actor.clone(),
            entry: first,
            after: Box::new(self.inc.clone()),
        };
        let mut outbox = vec![Action::RefreshCard {
            incident: id.clone(),
        }];
        if !in_war_room {
            outbox.push(Action::Send {
                to: Destination::WarRoom {
                    incident: id.clone(),
                },
                message: notice.clone(),
            });
        }
        Plan {
            timeline: self.entries.into_iter().map(|e| (id.clone(), e)).collect(),
            incident: Some(self.inc),
            outbox,
            reply: Some(notice),
            target: Some(id),
            bind: None,
            escalations: Vec::new(),
            services: Vec::new(),
            plans: Vec::new(),
            delete_plans: Vec::new(),
            overrides: Vec::new(),
            scheduler: None,
            mark: None,
            changes: Vec::new(),
            gate: Vec::new(),
            audit: Vec::new(),
            alert_bindings: Vec::new(),
            silences: Vec::new(),
            proposals: Vec::new(),
        }
    }
}

fn bot() -> Person {
    Person::named("warroom")
}

/// What a command needs, given the incident's current status.
fn permission_for(cmd: &Command, status: Status) -> Permission {
    match cmd {
        Command::Help
        | Command::List
        | Command::OnCall { .. }
        | Command::Calendar { .. }
        | Command::TaskList { .. }
        | Command::PlanStatus { .. }
        | Command::ActionList { .. }
        | Command::Show { .. }
        | Command::Timeline { .. }
        | Command::Changes { .. }
        | Command::Diff { .. }
        | Command::SilenceList
        | Command::AlertList { .. }
        | Command::Ask { .. }
        | Command::Similar { .. }
        | Command::Analyze { .. }
        | Command::Postmortem { .. } => Permission::View,
        Command::ChangeDecision {
            action: crate::changes::ApprovalAction::Override,
            ..
        } => Permission::Override,
        Command::ChangeDecision { .. } => Permission::Approve,
        Command::Silence { .. } | Command::SilenceExpire { .. } => Permission::Update,
        Command::Declare { .. } => Permission::Declare,
        Command::AssignRole { .. } => Permission::Assign,
        Command::Transition {
            to: Status::Resolved,
            ..
        } => Permission::Resolve,
        Command::Transition {
            to: Status::Closed, ..
        } => Permission::Close,
        Command::Transition {
            to: Status::Investigating,
            ..
        } if status.is_over() => Permission::Resolve,
        Command::Transition { .. }
        | Command::SetSeverity { .. }
        | Command::Milestone { .. }
        | Command::TimelineAdd { .. }
        | Command::Link { .. }
        | Command::StatusUpdate { .. }
        | Command::Task { .. }
        | Command::OnCallOverride { .. }
        | Command::RootCause { .. }
        | Command::Resolution { .. }
        | Command::ActionAdd { .. }
        | Command::Page { .. } => Permission::Update,
        // Checked against the proposal's own command when it runs.
        Command::Proposal { .. } => Permission::View,
    }
}

/// Reads `alice`, `@alice` or a Discord mention `<@123>` / `<@!123>`.
fn person_from(user: &str) -> Option<Person> {
    let u = user.trim();
    if let Some(id) = u
        .strip_prefix("<@")
        .and_then(|s| s.strip_suffix('>'))
        .map(|s| s.trim_start_matches('!'))
    {
        return (!id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())).then(|| Person {
            id: id.into(),
            name: format!("<@{id}>"),
        });
    }
    let name = u.trim_start_matches('@');
    let ok = !name.is_empty()
        && name.chars().count() <= 64
        && !name.chars().any(|c| c.is_control() || c == '<' || c == '>');
    ok.then(|| Person::named(name))
}
