//! Turns core [`Message`]s into text through the handlebars templates in `prompts/`
//! (embedded in the binary; strict mode; no HTML escaping, since chat is markdown).
//! All human wording lives in the templates and `prompts/<lang>/labels.toml`; this
//! file only builds each template's typed context.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use handlebars::Handlebars;
use rust_embed::RustEmbed;
use serde::Serialize;
use warroom_core::alerts::{JoinReason, Trigger};
use warroom_core::command::Syntax;
use warroom_core::event::{Message, Refusal};
use warroom_core::incident::{
    AlertEvent, Entry, Incident, Milestone, Person, Roles, TimelineEntry,
};
use warroom_core::Tz;

use crate::config::Lang;

#[derive(RustEmbed)]
#[folder = "../../prompts"]
#[include = "*.hbs"]
#[include = "*.toml"]
struct Prompts;

type Labels = BTreeMap<String, BTreeMap<String, String>>;

/// Renders messages in one language and time zone.
pub struct Renderer {
    hb: Handlebars<'static>,
    lang: Lang,
    tz: Tz,
    labels: Labels,
    severity_names: BTreeMap<String, String>,
    roles: Roles,
    calendars: std::sync::Arc<warroom_core::calendar::Calendars>,
    market: String,
}

/// A template failed to render (a bug: every template has a snapshot test).
#[derive(Debug, thiserror::Error)]
#[error("template {template}: {message}")]
pub struct RenderError {
    template: String,
    message: String,
}

#[derive(Serialize)]
struct RoleView {
    key: String,
    label: String,
    person: String,
}

#[derive(Serialize)]
struct Labelled {
    key: String,
    label: String,
    value: String,
    /// The same span in trading time of the default market (durations only).
    trading: Option<String>,
}

/// The card's context; also embedded in other contexts.
#[derive(Serialize)]
struct IncidentView {
    id: String,
    title: String,
    severity: String,
    severity_name: String,
    status: String,
    status_label: String,
    services: String,
    roles: Vec<RoleView>,
    milestones: Vec<Labelled>,
    durations: Vec<Labelled>,
    /// Mean-time-to-acknowledge span of this incident: discovered → responded.
    mtta: Option<Labelled>,
    /// Mean-time-to-recover span of this incident: discovered → recovered.
    mttr: Option<Labelled>,
    market: String,
    declared_by: String,
    declared_at: String,
    updated_at: String,
    root_cause: Option<String>,
    resolution: Option<String>,
    similar: Vec<warroom_core::assist::SimilarIncident>,
    /// The newest alerts on the card (firing first), at most [`CARD_ALERTS`].
    alerts: Vec<serde_json::Value>,
    alerts_firing: usize,
    alerts_more: usize,
}

/// Alerts listed on a card.
const CARD_ALERTS: usize = 8;

/// One timeline entry, flattened for templates (fields a kind lacks are null).
#[derive(Serialize, Default)]
struct EntryView {
    at: String,
    who: String,
    source: String,
    kind: String,
    text: Option<String>,
    from: Option<String>,
    to: Option<String>,
    role: Option<String>,
    person: Option<String>,
    previous: Option<String>,
    milestone: Option<String>,
    when: Option<String>,
    channel: Option<String>,
    /// `alerts`: declared, joined, resolved, firing_again or all_resolved.
    event: Option<String>,
    /// `alerts`: how many alerts.
    count: Option<usize>,
    /// `alerts`: the lowest confidence of the ones that joined (percent).
    confidence: Option<u8>,
    /// `alerts`: why, one part per reason (see `prompts/<lang>/alert_reason.hbs`).
    reasons: Vec<serde_json::Value>,
}

impl Renderer {
    /// Loads the embedded templates for `lang` (trading-time figures for SSE).
    ///
    /// # Errors
    /// When a template does not compile or the labels do not parse (a build defect).
    pub fn new(
        lang: Lang,
        tz: Tz,
        severity_names: BTreeMap<String, String>,
        roles: Roles,
    ) -> anyhow::Result<Self> {
        let calendars = std::sync::Arc::new(warroom_core::calendar::Calendars::builtin());
        Self::with_calendar(lang, tz, severity_names, roles, calendars, "SSE".into())
    }

    /// The renderer a configuration asks for.
    ///
    /// # Errors
    /// As [`Renderer::new`].
    pub fn for_config(c: &crate::config::Config) -> anyhow::Result<Self> {
        Self::with_calendar(
            c.language,
            c.tz,
            c.severity_names.clone(),
            c.engine.roles.clone(),
            c.engine.calendars.clone(),
            c.engine.market.clone(),
        )
    }

    /// Like [`Renderer::new`], with trading-time figures from `market` of `calendars`.
    ///
    /// # Errors
    /// As [`Renderer::new`].
    pub fn with_calendar(
        lang: Lang,
        tz: Tz,
        severity_names: BTreeMap<String, String>,
        roles: Roles,
        calendars: std::sync::Arc<warroom_core::calendar::Calendars>,
        market: String,
    ) -> anyhow::Result<Self> {
        let mut hb = Handlebars::new();
        hb.set_strict_mode(true);
        hb.register_escape_fn(handlebars::no_escape);
        hb.register_embed_templates_with_extension::<Prompts>(".hbs")?;
        let file = Prompts::get(&format!("{}/labels.toml", lang.code()))
            .ok_or_else(|| anyhow::anyhow!("labels.toml missing for {}", lang.code()))?;
        let labels: Labels = toml::from_str(std::str::from_utf8(&file.data)?)?;
        Ok(Self {
            hb,
            lang,
            tz,
            labels,
            severity_names,
            roles,
            calendars,
            market,
        })
    }

    /// A word of this language from `labels.toml` (`[section] key`), or the key itself.
    pub fn word(&self, section: &str, key: &str) -> String {
        self.label(section, key)
    }

    fn label(&self, section: &str, key: &str) -> String {
        self.labels
            .get(section)
            .and_then(|s| s.get(key))
            .cloned()
            .unwrap_or_else(|| key.to_string())
    }

    fn time(&self, t: DateTime<Utc>) -> String {
        t.with_timezone(&self.tz)
            .format("%Y-%m-%d %H:%M")
            .to_string()
    }

    fn duration(&self, secs: i64) -> String {
        let sign = if secs < 0 { "-" } else { "" };
        let s = secs.unsigned_abs();
        let (d, h, m, sec) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
        let u = |k: &str| self.label("units", k);
        let sep = u("sep").replace('_', " ");
        let parts: Vec<String> = if d > 0 && h == 0 {
            vec![format!("{d}{}", u("d"))]
        } else if d > 0 {
            vec![format!("{d}{}", u("d")), format!("{h}{}", u("h"))]
        } else if h > 0 {
            vec![format!("{h}{}", u("h")), format!("{m:02}{}", u("m"))]
        } else if m > 0 {
            vec![format!("{m}{}", u("m"))]
        } else {
            vec![format!("{sec}{}", u("s"))]
        };
        format!("{sign}{}", parts.join(&sep))
    }

    fn role_label(&self, key: &str) -> String {
        match self.roles.all().iter().find(|r| r.key == key) {
            Some(r) if self.lang == Lang::Zh => r.label_zh.clone(),
            Some(r) => r.label_en.clone(),
            None => key.to_string(),
        }
    }

    /// Trading time between two instants in the default market, when both exist and
    /// the calendar covers them.
    fn trading(&self, from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> Option<String> {
        let (from, to) = (from?, to?);
        let cal = self.calendars.get(&self.market)?;
        cal.trading_duration(from, to)
            .ok()
            .map(|d| self.duration(d.num_seconds()))
    }

    fn span(&self, i: &Incident, key: &str, from: Milestone, to: Milestone) -> Option<Labelled> {
        let (a, b) = (*i.milestones.get(&from)?, *i.milestones.get(&to)?);
        // Recovered before anyone noticed (a self-healed fault): nothing to wait for.
        let b = b.max(a);
        Some(Labelled {
            key: key.into(),
            label: self.label("duration", key),
            value: self.duration((b - a).num_seconds()),
            trading: self.trading(Some(a), Some(b)),
        })
    }

    fn incident(&self, i: &Incident) -> IncidentView {
        let sev = i.severity.code();
        IncidentView {
            id: i.id.to_string(),
            title: i.title.clone(),
            // The configured name, else the language's own (`[severity]` in labels.toml).
            severity_name: self
                .severity_names
                .get(&sev)
                .cloned()
                .or_else(|| {
                    self.labels
                        .get("severity")
                        .and_then(|s| s.get(&sev))
                        .cloned()
                })
                .unwrap_or_default(),
            severity: sev,
            status: i.status.key().into(),
            status_label: self.label("status", i.status.key()),
            services: if i.services.is_empty() {
                "-".into()
            } else {
                i.services.join(", ")
            },
            roles: i
                .roles
                .iter()
                .map(|(k, p)| RoleView {
                    key: k.clone(),
                    label: self.role_label(k),
                    person: p.name.clone(),
                })
                .collect(),
            milestones: i
                .milestones
                .iter()
                .map(|(m, t)| Labelled {
                    key: m.key().into(),
                    label: self.label("milestone", m.key()),
                    value: self.time(*t),
                    trading: None,
                })
                .collect(),
            durations: i
                .durations()
                .into_iter()
                .filter_map(|d| {
                    let (from, to) = d.kind.span();
                    d.seconds.map(|s| Labelled {
                        key: d.kind.key().into(),
                        label: self.label("duration", d.kind.key()),
                        value: self.duration(s),
                        trading: self.trading(
                            i.milestones.get(&from).copied(),
                            i.milestones.get(&to).copied(),
                        ),
                    })
                })
                .collect(),
            mtta: self.span(i, "mtta", Milestone::Discovered, Milestone::Responded),
            mttr: self.span(i, "mttr", Milestone::Discovered, Milestone::Recovered),
            alerts: {
                let mut list: Vec<_> = i.alerts.iter().rev().collect();
                list.sort_by_key(|a| !a.firing); // stable: firing first, newest first
                list.iter()
                    .take(CARD_ALERTS)
                    .map(|a| serde_json::json!({ "line": one_line(&a.line), "firing": a.firing }))
                    .collect()
            },
            alerts_firing: i.alerts.iter().filter(|a| a.firing).count(),
            alerts_more: i.alerts.len().saturating_sub(CARD_ALERTS),
            root_cause: i.root_cause.as_deref().map(one_line),
            resolution: i.resolution.as_deref().map(one_line),
            similar: i
                .similar
                .iter()
                .map(|x| warroom_core::assist::SimilarIncident {
                    root_cause: x.root_cause.as_deref().map(one_line),
                    resolution: x.resolution.as_deref().map(one_line),
                    ..x.clone()
                })
                .collect(),
            market: self.market.clone(),
            declared_by: i.declared_by.name.clone(),
            declared_at: self.time(i.declared_at),
            updated_at: self.time(i.updated_at),
        }
    }

    fn entry(&self, at: DateTime<Utc>, who: &Person, source: &str, e: &Entry) -> EntryView {
        let mut v = EntryView {
            at: self.time(at),
            who: who.name.clone(),
            source: self.label("source", source),
            ..EntryView::default()
        };
        match e {
            Entry::Declared { title, severity } => {
                v.kind = "declared".into();
                v.text = Some(title.clone());
                v.to = Some(severity.code());
            }
            Entry::StatusChanged { from, to } => {
                v.kind = "status_changed".into();
                v.from = Some(self.label("status", from.key()));
                v.to = Some(self.label("status", to.key()));
            }
            Entry::SeverityChanged { from, to } => {
                v.kind = "severity_changed".into();
                v.from = Some(from.code());
                v.to = Some(to.code());
            }
            Entry::RoleAssigned {
                role,
                person,
                previous,
            } => {
                v.kind = "role_assigned".into();
                v.role = Some(self.role_label(role));
                v.person = Some(person.name.clone());
                v.previous = previous.as_ref().map(|p| p.name.clone());
            }
            Entry::MilestoneSet {
                milestone,
                time,
                previous,
            } => {
                v.kind = "milestone_set".into();
                v.milestone = Some(self.label("milestone", milestone.key()));
                v.when = Some(self.time(*time));
                v.previous = previous.map(|p| self.time(p));
            }
            Entry::Note { text } => {
                v.kind = "note".into();
                v.text = Some(text.clone());
            }
            Entry::RootCause { text } => {
                v.kind = "root_cause".into();
                v.text = Some(text.clone());
            }
            Entry::Resolution { text } => {
                v.kind = "resolution".into();
                v.text = Some(text.clone());
            }
            Entry::Paged {
                target,
                policy,
                step,
            } => {
                v.kind = "paged".into();
                v.person = Some(target.clone());
                v.text = Some(policy.clone());
                v.to = Some(step.to_string());
            }
            Entry::StatusUpdate { text } => {
                v.kind = "status_update".into();
                v.text = Some(text.clone());
            }
            Entry::Captured { text, author, link } => {
                v.kind = "captured".into();
                v.text = Some(text.clone());
                v.person = Some(author.name.clone());
                v.channel = link.clone();
            }
            Entry::PageRequested { target, reason } => {
                v.kind = "page_requested".into();
                v.person = Some(target.clone());
                v.text = reason.clone();
            }
            Entry::ActionAdded {
                id,
                title,
                owner,
                due,
            } => {
                v.kind = "action_added".into();
                v.role = Some(id.clone());
                v.text = Some(title.clone());
                v.person = Some(owner.clone());
                v.when = Some(self.time(*due));
            }
            Entry::ChannelLinked { channel } => {
                v.kind = "channel_linked".into();
                v.channel = Some(format!("{}:{}", channel.adapter, channel.id));
            }
            Entry::Denied {
                permission,
                command,
            } => {
                v.kind = "denied".into();
                v.text = Some(command.clone());
                v.role = Some(self.label("permission", permission));
            }
            Entry::Alerts {
                event,
                alerts,
                more,
            } => {
                v.kind = "alerts".into();
                let mut text = alerts.join("; ");
                if *more > 0 {
                    text.push_str(&format!("; … +{more}"));
                }
                v.text = Some(text);
                v.count = Some(alerts.len() + more);
                let key = match event {
                    AlertEvent::Declared { reason } => {
                        v.reasons = reason
                            .trigger
                            .iter()
                            .map(|t| self.trigger(t))
                            .chain(reason.joins.iter().map(|j| self.join_reason(j)))
                            .collect();
                        "declared"
                    }
                    AlertEvent::Joined {
                        confidence_pct,
                        reason,
                    } => {
                        v.confidence = Some(*confidence_pct);
                        v.reasons = vec![self.join_reason(reason)];
                        "joined"
                    }
                    AlertEvent::Resolved => "resolved",
                    AlertEvent::FiringAgain => "firing_again",
                    AlertEvent::AllResolved => "all_resolved",
                    AlertEvent::Outlived { cause, after_secs } => {
                        v.from = Some(cause.clone());
                        v.when = Some(self.duration(*after_secs));
                        "outlived"
                    }
                };
                v.event = Some(key.into());
            }
        }
        v
    }

    /// What declared a cluster, for `alert_reason.hbs` (durations in this language).
    fn trigger(&self, t: &Trigger) -> serde_json::Value {
        use serde_json::json;
        match t {
            Trigger::Firing {
                severity,
                alertname,
                pause_secs,
                held_times,
                held_window_secs,
            } => json!({
                "kind": "firing", "severity": severity.code(), "alertname": alertname,
                "pause": self.duration(*pause_secs), "held_times": held_times,
                "held_window": self.duration(*held_window_secs),
            }),
            Trigger::Signals { count, signals } => json!({
                "kind": "signals", "count": count,
                "signals": signals.iter().map(|s| json!({
                    "service": s.service, "alertname": s.alertname,
                    "severity": s.severity.code(),
                })).collect::<Vec<_>>(),
            }),
            Trigger::Pause { severity } => json!({ "kind": "pause", "severity": severity.code() }),
        }
    }

    /// Why an alert joined, for `alert_reason.hbs`.
    fn join_reason(&self, j: &JoinReason) -> serde_json::Value {
        use serde_json::json;
        match j {
            JoinReason::Again => json!({ "kind": "again" }),
            JoinReason::Related {
                gap_secs,
                link,
                similar_pct,
            } => json!({
                "kind": "related", "gap": self.duration(*gap_secs), "link": link,
                "similar": similar_pct,
            }),
        }
    }

    fn task_line(&self, t: &warroom_core::event::TaskLine) -> serde_json::Value {
        serde_json::json!({
            "plan": t.plan, "id": t.id, "title": t.title, "owner": t.owner, "team": t.team,
            "status": self.label("task_status", &t.status),
            "start": t.start.map(|x| self.time(x)), "end": t.end.map(|x| self.time(x)),
            "overdue": t.overdue, "critical": t.critical,
            "finished": t.status == "done" || t.status == "skipped",
            "waits_for": t.waits_for.join(" "),
        })
    }

    fn entries(&self, entries: &[TimelineEntry]) -> Vec<EntryView> {
        entries
            .iter()
            .map(|e| self.entry(e.at, &e.who, source_key(e.source), &e.entry))
            .collect()
    }

    fn usage_lines(&self) -> Vec<Labelled> {
        Syntax::ALL
            .iter()
            .map(|s| Labelled {
                key: s.key().into(),
                label: self.label("help", s.key()),
                value: s.usage().into(),
                trading: None,
            })
            .collect()
    }

    /// Renders a message.
    ///
    /// # Errors
    /// [`RenderError`] if a template and its context disagree (a defect).
    pub fn render(&self, msg: &Message) -> Result<String, RenderError> {
        use serde_json::json;
        let (name, ctx) = match msg {
            Message::Card { incident } => ("card", json!({ "incident": self.incident(incident) })),
            Message::Declared { incident, unknown } => (
                "declared",
                json!({ "incident": self.incident(incident), "unknown": unknown.join(", ") }),
            ),
            Message::List { incidents } => (
                "list",
                json!({ "incidents": incidents.iter().map(|i| self.incident(i)).collect::<Vec<_>>() }),
            ),
            Message::Notice {
                who, entry, after, ..
            } => (
                "notice",
                json!({ "entry": self.entry(after.updated_at, who, "command", entry), "incident": self.incident(after) }),
            ),
            Message::Page { page } => {
                let (kind, name, schedule) = page.target.parts();
                (
                    "page",
                    json!({ "incident": page.incident.to_string(), "title": page.title, "severity": page.severity.code(),
                            "policy": page.policy, "step": page.step, "round": page.round + 1,
                            "by": page.by, "reason": page.reason,
                            "next_at": page.next.map(|n| self.time(n.at)),
                            "waits_for_open": page.next.is_some_and(|n| n.waits_for_open),
                            "kind": kind, "name": name, "schedule": schedule }),
                )
            }
            Message::OnCall { at, query, entries } => (
                "oncall",
                json!({ "at": self.time(*at), "query": query, "entries": entries.iter().map(|e| json!({
                    "schedule": e.schedule, "team": e.team, "person": e.person, "layer": e.layer,
                    "services": e.services.join(", "),
                })).collect::<Vec<_>>() }),
            ),
            Message::Calendar { view } => {
                let tz: Tz = view.tz.parse().unwrap_or(self.tz);
                let local =
                    |t: DateTime<Utc>| t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string();
                (
                    "calendar",
                    json!({ "market": view.market, "tz": view.tz, "at": local(view.at), "covered": view.covered,
                            "trading": view.trading, "session": view.session.as_deref().map(|s| self.label("session", s)), "session_end": view.session_end.map(local),
                            "trading_day": view.trading_day.map(|d| d.to_string()), "next_open": view.next_open.map(local) }),
                )
            }
            Message::ServicesUpdated { count } => ("services_updated", json!({ "count": count })),
            Message::TaskUpdate {
                plan,
                task,
                events,
                who,
            } => {
                let unblocked: Vec<String> = events
                    .iter()
                    .filter_map(|e| match e {
                        warroom_core::tasks::TaskEvent::Unblocked { task } => {
                            Some(task.to_string())
                        }
                        _ => None,
                    })
                    .collect();
                (
                    "task_update",
                    json!({ "plan": plan, "id": task.id.to_string(), "title": task.title, "owner": task.owner.name(),
                            "status": self.label("task_status", task.status.key()),
                            "due": task.window.map(|w| self.time(w.end)), "who": who.name,
                            "unblocked": unblocked.join(" ") }),
                )
            }
            Message::TaskList { team, tasks } => (
                "task_list",
                json!({ "team": team, "tasks": tasks.iter().map(|t| self.task_line(t)).collect::<Vec<_>>() }),
            ),
            Message::PlanStatus { plans } => (
                "plan_status",
                json!({ "plans": plans.iter().map(|p| json!({ "id": p.id, "title": p.title, "coordinator": p.coordinator, "done": p.done, "total": p.total,
                    "teams": p.teams.iter().map(|t| json!({ "team": t.team, "done": t.done, "in_progress": t.in_progress, "waiting": t.waiting,
                        "overdue": t.overdue.join(" "), "overdue_count": t.overdue.len() })).collect::<Vec<_>>() })).collect::<Vec<_>>() }),
            ),
            Message::Reminder { plan, task, kind } => {
                let kind = match kind {
                    warroom_core::tasks::ReminderKind::BeforeStart => "before_start",
                    warroom_core::tasks::ReminderKind::AtStart => "at_start",
                    warroom_core::tasks::ReminderKind::Overdue => "overdue",
                };
                (
                    "reminder",
                    json!({ "plan": plan, "kind": kind, "task": self.task_line(task) }),
                )
            }
            Message::Unblocked { plan, task } => (
                "unblocked",
                json!({ "plan": plan, "task": self.task_line(task) }),
            ),
            Message::Digest { plan, team, tasks } => (
                "digest",
                json!({ "plan": plan, "team": team, "count": tasks.len(), "tasks": tasks.join(" ") }),
            ),
            Message::CoordinatorEscalation { escalation } => (
                "coordinator_escalation",
                json!({ "plan": escalation.plan, "coordinator": escalation.coordinator, "count": escalation.tasks.len(),
                        "tasks": escalation.tasks.iter().map(|t| json!({ "id": t.task.to_string(), "owner": t.owner.name(), "team": t.team,
                            "late": self.duration(t.late_by.num_seconds()), "critical": t.critical, "new": t.new })).collect::<Vec<_>>() }),
            ),
            Message::PlanImported { plan, tasks, kept } => (
                "plan_imported",
                json!({ "plan": plan, "tasks": tasks, "kept": kept }),
            ),
            Message::OverrideSet {
                schedule,
                person,
                start,
                end,
            } => (
                "override_set",
                json!({ "schedule": schedule, "person": person, "start": self.time(*start), "end": self.time(*end) }),
            ),
            Message::PlanDeleted { plan } => ("plan_deleted", json!({ "plan": plan })),
            Message::StatusUpdate {
                incident,
                who,
                text,
            } => (
                "status_update",
                json!({ "incident": self.incident(incident), "who": who.name, "text": text }),
            ),
            Message::Timeline { incident, entries } => (
                "timeline",
                json!({ "incident": self.incident(incident), "entries": self.entries(entries) }),
            ),
            Message::Postmortem {
                incident,
                entries,
                actions,
                generated_at,
            } => (
                "postmortem",
                json!({ "incident": self.incident(incident), "entries": self.entries(entries), "actions": actions.iter().map(|t| self.task_line(t)).collect::<Vec<_>>(),
                    "generated_at": self.time(*generated_at) }),
            ),
            Message::Help => ("help", json!({ "commands": self.usage_lines() })),
            Message::Usage { error } => {
                let detail = serde_json::to_value(&error.problem).unwrap_or_default();
                let problem = detail.get("problem").cloned().unwrap_or_default();
                let mut what = detail
                    .get("detail")
                    .map(|d| d.to_string().trim_matches('"').to_string())
                    .unwrap_or_default();
                if problem == "missing" {
                    // The argument's name in this language (`task-id` → 任务编号).
                    what = self.label("argument", &what);
                }
                (
                    "usage",
                    json!({ "usage": error.syntax.usage(), "problem": problem, "detail": what }),
                )
            }
            Message::Denied {
                permission,
                command,
            } => (
                "denied",
                json!({ "permission": self.label("permission", permission.key()), "usage": command.usage() }),
            ),
            Message::Refused { problem } => ("refused", self.refusal(problem)),
            Message::AlertStorm {
                key,
                started,
                count,
                window_secs,
                since,
            } => (
                "alert_storm",
                json!({ "key": key, "started": started, "count": count,
                        "window": self.duration(*window_secs), "since": self.time(*since) }),
            ),
            Message::SilenceSet { silence } => ("silence_set", self.silence(silence)),
            Message::SilenceEnded { silence } => ("silence_ended", json!({ "id": silence })),
            Message::Answer { question, answer } => (
                "answer",
                json!({ "question": one_line(question), "abstain": answer.abstain, "confidence": answer.confidence,
                        "text": answer.text, "llm_error": answer.llm_error, "proposals": answer.proposals,
                        "passages": answer.passages.iter().map(|p| json!({
                            "n": p.n, "title": p.title, "section": p.section, "citation": p.citation,
                            "link": p.link, "kind": p.kind, "snippet": one_line(&p.snippet),
                        })).collect::<Vec<_>>() }),
            ),
            Message::Similar {
                incident,
                text,
                similar,
            } => (
                "similar",
                json!({ "incident": incident.as_ref().map(ToString::to_string), "text": one_line(text),
                        "similar": similar.iter().map(|x| json!({
                            "id": x.id, "title": x.title, "score": x.score, "services": x.services.join(", "),
                            "root_cause": x.root_cause.as_deref().map(one_line),
                            "resolution": x.resolution.as_deref().map(one_line),
                        })).collect::<Vec<_>>() }),
            ),
            Message::Analysis {
                incident,
                analysis: a,
            } => (
                "analysis",
                json!({ "incident": incident.to_string(), "services": a.services.join(", "),
                        "scope": a.scope.join(", "), "change_days": a.change_days,
                        "changes": a.changes.iter().map(|c| self.change(c)).collect::<Vec<_>>(),
                        "changes_more": a.changes_total.saturating_sub(a.changes.len()),
                        "alert_minutes": a.alert_minutes, "alerts": a.alerts,
                        "similar": a.similar.iter().map(|x| json!({
                            "id": x.id, "title": x.title, "score": x.score,
                            "root_cause": x.root_cause.as_deref().map(one_line),
                            "resolution": x.resolution.as_deref().map(one_line),
                        })).collect::<Vec<_>>(),
                        "runbooks": a.runbooks.iter().map(|p| json!({
                            "n": p.n, "title": p.title, "section": p.section, "citation": p.citation, "link": p.link,
                        })).collect::<Vec<_>>(),
                        "hypotheses": a.hypotheses, "llm_error": a.llm_error }),
            ),
            Message::ProposalCancelled { id, command, by } => (
                "proposal_cancelled",
                json!({ "id": id, "command": command, "by": by.name }),
            ),
            Message::AssistUnavailable { reason } => {
                ("assist_unavailable", json!({ "reason": one_line(reason) }))
            }
            Message::AlertList { alerts } => (
                "alert_list",
                json!({
                    "count": alerts.len(),
                    "more": alerts.len().saturating_sub(20),
                    "alerts": alerts.iter().take(20).map(|a| json!({
                        "severity": a.severity.code(), "service": a.service,
                        "alertname": a.alertname, "title": a.title,
                        "since": self.time(a.starts_at), "incident": a.incident,
                        "suppressed": a.suppressed.as_ref().and_then(|r| serde_json::to_value(r).ok()),
                    })).collect::<Vec<_>>(),
                }),
            ),
            Message::SilenceList { silences, ended } => (
                "silence_list",
                json!({
                    "silences": silences.iter().map(|x| self.silence(x)).collect::<Vec<_>>(),
                    "ended": ended.iter().take(5).map(|x| x.id.as_str()).collect::<Vec<_>>().join(", "),
                    "ended_more": ended.len().saturating_sub(5),
                }),
            ),
            Message::ChangesRecorded { ids } => (
                "changes_recorded",
                json!({ "count": ids.len(), "ids": ids.join(" ") }),
            ),
            Message::ChangeList {
                query,
                changes,
                total,
            } => {
                let lookback = match query.lookback {
                    warroom_core::command::Lookback::TradingDays(n) => json!({ "trading_days": n }),
                    warroom_core::command::Lookback::Hours(n) => json!({ "hours": n }),
                };
                // The neighbours, beside the named service itself.
                let named = query.service.as_deref().map(|s| s.trim().to_lowercase());
                let with: Vec<&str> = query
                    .services
                    .iter()
                    .filter(|s| named.as_deref() != Some(s.as_str()))
                    .map(String::as_str)
                    .collect();
                (
                    "change_list",
                    json!({ "service": query.service, "services": with.join(", "),
                            "since": self.time(query.since), "lookback": lookback,
                            "environment": query.environment, "operator": query.operator,
                            "unknown": query.unknown, "total": total, "shown": changes.len(), "more": total > &changes.len(),
                            "changes": changes.iter().map(|c| self.change(c)).collect::<Vec<_>>() }),
                )
            }
            Message::GateVerdict {
                change,
                verdict,
                approval,
            } => (
                "gate_verdict",
                json!({ "change": self.change(change), "decision": verdict.decision.as_str(),
                        "decision_label": self.label("decision", verdict.decision.as_str()),
                        "reasons": verdict.reasons.iter().map(|r| self.gate_reason(r)).collect::<Vec<_>>(),
                        "approval": approval.as_ref().map(|a| self.label("approval", a.key())),
                        "pending": approval.as_ref().is_some_and(|a| a.key() == "pending") }),
            ),
            Message::ChangeDecided {
                change,
                action,
                who,
                note,
            } => (
                "change_decided",
                json!({ "change": change, "action": action.key(), "who": who.name, "note": note }),
            ),
            Message::SnapshotDiff { target, hosts } => (
                "snapshot_diff",
                json!({ "target": target, "hosts": hosts.iter().map(|h| json!({
                    "host": h.host, "before": h.before, "after": h.after,
                    "from": self.time(h.taken.0), "to": self.time(h.taken.1),
                    "empty": h.summary.is_empty(),
                    "summary": h.summary.iter().map(|(c, a, m, x)| json!({ "category": self.label("category", c), "added": a, "missing": m, "modified": x })).collect::<Vec<_>>(),
                    "lines": h.lines.join("\n"), "omitted": h.omitted,
                })).collect::<Vec<_>>() }),
            ),
        };
        let template = format!("{}/{name}", self.lang.code());
        self.hb
            .render(&template, &ctx)
            .map(|s| s.trim_end().to_string())
            .map_err(|e| RenderError {
                template,
                message: e.to_string(),
            })
    }

    /// A language-model prompt (`prompts/<lang>/llm_<name>.hbs`) in `lang`.
    ///
    /// # Errors
    /// [`RenderError`] if the template and its context disagree (a defect).
    pub fn llm_prompt(
        &self,
        lang: crate::config::Lang,
        name: &str,
        ctx: &serde_json::Value,
    ) -> Result<String, RenderError> {
        let template = format!("{}/llm_{name}", lang.code());
        self.hb
            .render(&template, ctx)
            .map(|s| s.trim_end().to_string())
            .map_err(|e| RenderError {
                template,
                message: e.to_string(),
            })
    }

    /// A short system line (`not_a_command`, `stopped`, `internal`) for the machinery's own replies.
    pub fn system(&self, kind: &str) -> String {
        let template = format!("{}/system", self.lang.code());
        self.hb
            .render(&template, &serde_json::json!({ "kind": kind }))
            .map(|s| s.trim_end().to_string())
            .unwrap_or_else(|_| kind.to_string())
    }

    fn silence(&self, x: &warroom_core::alerts::Silence) -> serde_json::Value {
        serde_json::json!({
            "id": x.id,
            "matchers": x.matchers.iter().map(ToString::to_string).collect::<Vec<_>>().join(" "),
            // A configured silence without a start has always been in force: no date.
            "starts": (x.starts_at != DateTime::<Utc>::UNIX_EPOCH).then(|| self.time(x.starts_at)),
            "ends": x.ends_at.map(|t| self.time(t)),
            "recurring": x.recurrence.is_some(),
            "window": x.recurrence.as_ref().map(warroom_core::alerts::Recurrence::describe),
            "by": x.created_by, "comment": x.comment,
        })
    }

    fn change(&self, c: &warroom_core::changes::ChangeEvent) -> serde_json::Value {
        serde_json::json!({
            "id": c.id, "start": self.time(c.start), "end": c.end.map(|e| self.time(e)),
            "scenario": c.scenario.to_string(), "operator": c.operator, "service": c.service,
            "environment": c.environment, "action": c.action, "object": c.object,
            "ticket": c.ticket, "risk": c.risk.as_str(), "status": c.status.as_str(),
        })
    }

    /// A task move refused: `problem` (`unknown_task`, `already_finished`, `already_there`,
    /// `not_finished`, `dependencies_unfinished`), the task, its status label, what it waits for.
    fn task_error(&self, e: &warroom_core::tasks::TaskError) -> serde_json::Value {
        use warroom_core::tasks::TaskError;
        let (problem, task, status, blocking) = match e {
            TaskError::UnknownTask { task } => ("unknown_task", task, None, &[][..]),
            TaskError::AlreadyFinished { task, status } => {
                ("already_finished", task, Some(*status), &[][..])
            }
            TaskError::AlreadyThere { task, status } => {
                ("already_there", task, Some(*status), &[][..])
            }
            TaskError::NotFinished { task, status } => {
                ("not_finished", task, Some(*status), &[][..])
            }
            TaskError::DependenciesUnfinished { task, blocking } => {
                ("dependencies_unfinished", task, None, blocking.as_slice())
            }
        };
        let blocking: Vec<&str> = blocking.iter().map(|t| t.as_str()).collect();
        serde_json::json!({
            "refusal": "task",
            "problem": problem,
            "task": task.as_str(),
            "status": status.map(|s| self.label("task_status", s.key())),
            "blocking": blocking.join(" "),
        })
    }

    /// One reason of a gate verdict: `why` holds the structured reason for
    /// `gate_reason.hbs` (with `downgraded` and a weekday in this language); records
    /// stored before reasons were structured show their English `message`.
    fn gate_reason(&self, r: &warroom_core::changes::Reason) -> serde_json::Value {
        let why = r
            .why
            .as_ref()
            .and_then(|w| serde_json::to_value(w).ok())
            .map(|mut w| {
                if let Some(o) = w.as_object_mut() {
                    o.insert("downgraded".into(), r.downgraded.into());
                    if let Some(day) = o.get("weekday").and_then(|d| d.as_str()).map(String::from) {
                        o.insert("weekday".into(), self.label("weekday", &day).into());
                    }
                    if let Some(s) = o.get("session").and_then(|s| s.as_str()).map(String::from) {
                        o.insert("session".into(), self.label("session", &s).into());
                    }
                    if let Some(a) = o.get("action").and_then(|a| a.as_str()).map(String::from) {
                        o.insert("action_label".into(), self.label("approval", &a).into());
                    }
                    for list in ["names", "gated"] {
                        if let Some(items) = o.get(list).and_then(|n| n.as_array()) {
                            let items: Vec<&str> =
                                items.iter().filter_map(|n| n.as_str()).collect();
                            let joined = items.join(self.label("units", "list_sep").as_str());
                            o.insert(list.into(), joined.into());
                        }
                    }
                }
                w
            });
        serde_json::json!({
            "rule": r.rule,
            "effect": r.effect.as_str(),
            "effect_label": self.label("decision", r.effect.as_str()),
            "message": r.message,
            "why": why,
        })
    }

    fn refusal(&self, r: &Refusal) -> serde_json::Value {
        use serde_json::json;
        match r {
            Refusal::NoIncidentHere => json!({ "refusal": "no_incident_here" }),
            Refusal::NotFound { incident } => {
                json!({ "refusal": "not_found", "incident": incident.to_string() })
            }
            Refusal::Transition { error } => json!({
                "refusal": "transition",
                "from": self.label("status", &error.from),
                "to": self.label("status", &error.to),
                "reason": self.label("transition", &serde_json::to_value(error.reason).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default()),
            }),
            Refusal::SameSeverity { severity } => {
                json!({ "refusal": "same_severity", "severity": severity })
            }
            Refusal::UnknownRole { role, known } => {
                json!({ "refusal": "unknown_role", "role": role, "known": known.join(", ") })
            }
            Refusal::BadUser { user } => json!({ "refusal": "bad_user", "user": user }),
            Refusal::BadTime { error } => {
                let (kind, text) = match error {
                    warroom_core::time::TimeError::Unreadable { text } => ("unreadable", text),
                    warroom_core::time::TimeError::InFuture { text } => ("in_future", text),
                };
                json!({ "refusal": "bad_time", "problem": kind, "text": text })
            }
            Refusal::UnknownTask { task } => json!({ "refusal": "unknown_task", "task": task }),
            Refusal::AmbiguousTask { task, plans } => {
                json!({ "refusal": "ambiguous_task", "task": task, "plans": plans.join(", ") })
            }
            Refusal::Task { error } => self.task_error(error),
            Refusal::TaskRefused { reason } => {
                json!({ "refusal": "task_refused", "reason": reason })
            }
            Refusal::UnknownPlan { plan } => json!({ "refusal": "unknown_plan", "plan": plan }),
            Refusal::BadDue { text } => json!({ "refusal": "bad_due", "text": text }),
            Refusal::BadSpan { text, past } => {
                json!({ "refusal": "bad_span", "text": text, "past": past })
            }
            Refusal::MilestoneOrder {
                milestone,
                time,
                other,
                other_time,
            } => json!({
                "refusal": "milestone_order",
                "milestone": self.label("milestone", milestone.key()),
                "time": self.time(*time),
                "other": self.label("milestone", other.key()),
                "other_time": self.time(*other_time),
                "later": time > other_time,
            }),
            Refusal::UnknownOnCall { query, uncovered } => {
                json!({ "refusal": "unknown_oncall", "query": query, "uncovered": uncovered })
            }
            Refusal::UnknownMarket { market, known } => {
                json!({ "refusal": "unknown_market", "market": market, "known": known.join(", ") })
            }
            Refusal::CatalogInvalid { problems } => {
                json!({ "refusal": "catalog_invalid", "problems": problems.join("; ") })
            }
            Refusal::Closed { incident } => {
                json!({ "refusal": "closed", "incident": incident.to_string() })
            }
            Refusal::AlertsOff => json!({ "refusal": "alerts_off" }),
            Refusal::BadSilence { problem } => {
                use warroom_core::alerts::SilenceError;
                use warroom_core::event::SilenceProblem;
                let (kind, text, detail) = match problem {
                    SilenceProblem::Matcher { text, detail } => {
                        ("matcher", text.clone(), detail.clone())
                    }
                    SilenceProblem::Duration { text } => ("duration", text.clone(), None),
                    SilenceProblem::Recurring { silence } => ("recurring", silence.clone(), None),
                    SilenceProblem::Rules { reason } => ("rules", reason.clone(), None),
                    SilenceProblem::Invalid { error } => match error {
                        SilenceError::MatchesEverything => {
                            ("matches_everything", String::new(), None)
                        }
                        SilenceError::EndsBeforeStart => ("ends_before_start", String::new(), None),
                        SilenceError::BadDay(d) => ("bad_day", d.clone(), None),
                        SilenceError::BadTime(t) => ("bad_time", t.clone(), None),
                        SilenceError::EmptyWindow => ("empty_window", String::new(), None),
                        SilenceError::NoId => ("no_id", String::new(), None),
                    },
                };
                json!({ "refusal": "bad_silence", "problem": kind, "text": text, "detail": detail })
            }
            Refusal::Proposal { id, state, by } => {
                json!({ "refusal": "proposal", "id": id, "state": state, "by": by })
            }
            Refusal::UnknownSilence { silence } => {
                json!({ "refusal": "unknown_silence", "silence": silence })
            }
            Refusal::SilenceEnded { silence } => {
                json!({ "refusal": "silence_ended", "silence": silence })
            }
            Refusal::UnknownChange { change } => {
                json!({ "refusal": "unknown_change", "change": change })
            }
            Refusal::Approval { error } => {
                let (why, state) = match error {
                    warroom_core::changes::ApprovalError::NothingToDecide => {
                        ("nothing_to_decide", String::new())
                    }
                    warroom_core::changes::ApprovalError::DeniedNeedsOverride => {
                        ("needs_override", String::new())
                    }
                    warroom_core::changes::ApprovalError::AlreadyDecided { state } => {
                        ("already_decided", self.label("approval", state))
                    }
                };
                json!({ "refusal": "approval", "why": why, "state": state })
            }
            Refusal::NoSnapshots { target } => {
                json!({ "refusal": "no_snapshots", "target": target })
            }
            Refusal::CalendarGap { market } => {
                json!({ "refusal": "calendar_gap", "market": market })
            }
        }
    }
}

fn source_key(s: warroom_core::incident::Source) -> &'static str {
    use warroom_core::incident::Source;
    match s {
        Source::Command => "command",
        Source::Chat => "chat",
        Source::Alert => "alert",
        Source::Bot => "bot",
        Source::Api => "api",
    }
}

/// Text on one line (snippets and causes are shown inline), at most 300 characters.
fn one_line(s: &str) -> String {
    let flat = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > 300 {
        let mut cut: String = flat.chars().take(299).collect();
        cut.push('…');
        cut
    } else {
        flat
    }
}
