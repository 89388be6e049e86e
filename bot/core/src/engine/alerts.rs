//! Alerts: the pipeline's decisions become incidents. A declared cluster becomes an
//! incident (war room, paging, milestones *occurred* = earliest onset and
//! *discovered* = first alert received); alerts that join, resolve or re-fire are
//! noted in its timeline; a more severe alert raises its severity; storms are one
//! notice. Silences come from the config, `/silence` and the API.
//!
//! The pipeline lives in memory; the alert log (written by the intake before the
//! sender got its 202) and the cluster → incident bindings are in the store. After a
//! restart [`Engine::replay_alerts`] rebuilds the pipeline from the log: clusters
//! already bound get their incident back, and a cluster whose declaration was lost
//! in a crash is declared then, so no acknowledged alert is lost.

use chrono::{DateTime, Duration, Utc};

use super::{Engine, Outcome, Plan};
use crate::alerts::{Alert, AlertRef, AlertRules, AlertStatus, Output, Silence, StormPhase};
use crate::command::Command;
use crate::event::{Action, Destination, Message, Origin};
use crate::incident::{AlertEvent, Entry, IncidentId, Milestone, Person, Source, TimelineEntry};
use crate::ports::StoreError;

/// The person alert-driven changes are recorded as.
pub fn alerts_actor() -> Person {
    Person {
        id: "bot:alerts".into(),
        name: "alerts".into(),
    }
}

/// Alerts listed in one timeline note.
const NOTE_ALERTS: usize = 8;

fn alert_line(a: &AlertRef) -> String {
    match &a.service {
        Some(s) => format!(
            "{} [{}] {} — {}",
            a.severity.code(),
            s,
            a.alertname,
            a.title
        ),
        None => format!("{} {} — {}", a.severity.code(), a.alertname, a.title),
    }
}

/// Adds `alerts` to an incident's card list (firing), keeping the newest
/// [`CARD_ALERTS_KEPT`](crate::incident::CARD_ALERTS_KEPT).
fn add_card_alerts(inc: &mut crate::incident::Incident, alerts: &[AlertRef]) {
    for a in alerts {
        let key = a.key.to_string();
        match inc.alerts.iter_mut().find(|x| x.key == key) {
            Some(x) => x.firing = true,
            None => inc.alerts.push(crate::incident::IncidentAlert {
                key,
                line: alert_line(a),
                firing: true,
            }),
        }
    }
    let over = inc
        .alerts
        .len()
        .saturating_sub(crate::incident::CARD_ALERTS_KEPT);
    inc.alerts.drain(..over);
}

/// The timeline entry for `event` on `alerts` (the first [`NOTE_ALERTS`] listed).
fn alerts_entry(event: AlertEvent, alerts: &[AlertRef]) -> Entry {
    Entry::Alerts {
        event,
        alerts: alerts.iter().take(NOTE_ALERTS).map(alert_line).collect(),
        more: alerts.len().saturating_sub(NOTE_ALERTS),
    }
}

impl Engine {
    /// Whether the alert pipeline is on.
    pub fn alerts_enabled(&self) -> bool {
        self.pipeline.is_some()
    }

    /// Rebuilds the pipeline from the stored alert log (after a restart) and returns
    /// what must still be done (declarations lost in a crash).
    ///
    /// # Errors
    /// [`StoreError`] from the store.
    pub fn replay_alerts(&mut self, now: DateTime<Utc>) -> Result<Outcome, StoreError> {
        let Some(p) = self.pipeline.as_ref() else {
            return Ok(Outcome::default());
        };
        let horizon = now - p.config().retention.get();
        let log = self.store.alert_log(horizon)?;
        self.replay_cards = self
            .store
            .incidents()?
            .into_iter()
            .filter(|i| i.declared_at >= horizon)
            .flat_map(|i| {
                let id = i.id.clone();
                i.alerts.into_iter().map(move |a| (a.key, id.clone()))
            })
            .collect();
        let mut total = Outcome::default();
        let replayed = log.into_iter().try_for_each(|(at, alerts)| {
            let out = self.alerts_in(alerts, at, true)?;
            merge(&mut total, out);
            Ok(())
        });
        let replayed = replayed.and_then(|()| self.tick_until(now, true, &mut total));
        self.replay_cards.clear();
        replayed.map(|()| total)
    }

    /// Runs the pipeline's timers due by `t`, each at its own time, the way a replay
    /// of the log runs them: live and replayed runs then see the same sequence of
    /// flushes and declarations, however often the live engine ticks.
    fn tick_until(
        &mut self,
        t: DateTime<Utc>,
        replay: bool,
        total: &mut Outcome,
    ) -> Result<(), StoreError> {
        // A tick at `d` runs everything due by `d`; a deadline that did not move past
        // it would loop forever, so each step must be later than the last.
        let mut last: Option<DateTime<Utc>> = None;
        loop {
            let Some(p) = self.pipeline.as_mut() else {
                return Ok(());
            };
            match p.next_deadline() {
                Some(d) if d <= t && last.is_none_or(|l| d > l) => {
                    last = Some(d);
                    let outputs = p.tick(d);
                    let out = self.apply_alert_outputs(outputs, d, replay)?;
                    merge(total, out);
                }
                _ => return Ok(()),
            }
        }
    }

    /// New alerts, received at `at`.
    pub(super) fn alerts_in(
        &mut self,
        alerts: Vec<Alert>,
        at: DateTime<Utc>,
        replay: bool,
    ) -> Result<Outcome, StoreError> {
        let mut total = Outcome::default();
        // Timers due before the batch arrived run first, live as in a replay.
        self.tick_until(at, replay, &mut total)?;
        let Some(p) = self.pipeline.as_mut() else {
            return Ok(total);
        };
        let outputs = p.ingest(alerts, at);
        let out = self.apply_alert_outputs(outputs, at, replay)?;
        merge(&mut total, out);
        Ok(total)
    }

    /// The pipeline's timers (group waits, flapping holds, silences ending).
    pub(super) fn alerts_tick(&mut self, now: DateTime<Utc>) -> Result<Outcome, StoreError> {
        let mut total = Outcome::default();
        self.tick_until(now, false, &mut total)?;
        Ok(total)
    }

    fn apply_alert_outputs(
        &mut self,
        outputs: Vec<Output>,
        now: DateTime<Utc>,
        replay: bool,
    ) -> Result<Outcome, StoreError> {
        let mut total = Outcome::default();
        for o in outputs {
            let plan = self.alert_output(o, now, replay)?;
            if let Some(plan) = plan {
                let out = self.commit(Origin::Api, plan)?;
                merge(&mut total, out);
            }
        }
        Ok(total)
    }

    fn bound(&self, cluster: &str) -> Option<IncidentId> {
        self.bindings.get(cluster).cloned()
    }

    fn note(
        &self,
        incident: &IncidentId,
        entry: Entry,
        now: DateTime<Utc>,
    ) -> Result<Option<Plan>, StoreError> {
        // A closed incident's record is final (its postmortem is written).
        let Some(inc) = self
            .store
            .incident(incident)?
            .filter(|i| i.status != crate::incident::Status::Closed)
        else {
            return Ok(None);
        };
        let mut plan = super::Change::new(inc, &alerts_actor(), Source::Alert, now)
            .note(entry)
            .finish(false);
        // A note does not change the incident record or its card.
        plan.incident = None;
        plan.outbox
            .retain(|a| !matches!(a, Action::RefreshCard { .. }));
        plan.reply = None;
        Ok(Some(plan))
    }

    /// Changes the card's alert list of `id` (in `plan`, or a new one) and refreshes the
    /// card when the list changed.
    fn card_alerts(
        &self,
        id: &IncidentId,
        plan: Option<Plan>,
        now: DateTime<Utc>,
        change: impl FnOnce(&mut crate::incident::Incident),
    ) -> Result<Option<Plan>, StoreError> {
        let Some(mut inc) = self.store.incident(id)? else {
            return Ok(plan);
        };
        let before = inc.alerts.clone();
        change(&mut inc);
        if inc.alerts == before {
            return Ok(plan);
        }
        inc.revision += 1;
        inc.updated_at = now;
        let mut plan = plan.unwrap_or_default();
        plan.incident = Some(inc);
        plan.outbox.push(Action::RefreshCard {
            incident: id.clone(),
        });
        plan.target.get_or_insert_with(|| id.clone());
        Ok(Some(plan))
    }

    fn alert_output(
        &mut self,
        o: Output,
        now: DateTime<Utc>,
        replay: bool,
    ) -> Result<Option<Plan>, StoreError> {
        match o {
            Output::Declare {
                cluster,
                severity,
                title,
                services,
                alerts,
                reason,
                ..
            } => {
                if let Some(id) = self.bound(&cluster) {
                    if let Some(p) = self.pipeline.as_mut() {
                        p.bind(&cluster, id.to_string());
                    }
                    return Ok(None);
                }
                // Replayed after a restart and founded differently than when it was
                // live: an incident that already lists one of its alerts is its own.
                let known = replay
                    .then(|| {
                        alerts
                            .iter()
                            .find_map(|a| self.replay_cards.get(&a.key.to_string()))
                    })
                    .flatten()
                    .cloned();
                if let Some(id) = known {
                    if let Some(p) = self.pipeline.as_mut() {
                        p.bind(&cluster, id.to_string());
                    }
                    return Ok(Some(Plan {
                        alert_bindings: vec![(cluster, id)],
                        ..Plan::default()
                    }));
                }
                let (onset, seen) = self
                    .pipeline
                    .as_ref()
                    .and_then(|p| p.cluster(&cluster))
                    .map_or((now, now), |c| (c.first_onset, c.created_at));
                let title: String = title
                    .chars()
                    .take(crate::command::MAX_TITLE_CHARS)
                    .collect();
                let mut plan = self.command(
                    &Origin::Api,
                    alerts_actor(),
                    Command::Declare {
                        title,
                        severity: Some(severity),
                        services,
                    },
                    now,
                )?;
                let Some(inc) = plan.incident.as_mut() else {
                    return Ok(Some(plan));
                };
                let id = inc.id.clone();
                add_card_alerts(inc, &alerts);
                for (m, t) in [
                    (Milestone::Occurred, onset),
                    (Milestone::Discovered, seen.min(now)),
                ] {
                    inc.milestones.insert(m, t);
                    plan.timeline.push((
                        id.clone(),
                        TimelineEntry {
                            at: now,
                            who: alerts_actor(),
                            source: Source::Alert,
                            entry: Entry::MilestoneSet {
                                milestone: m,
                                time: t,
                                previous: None,
                            },
                        },
                    ));
                }
                plan.timeline.push((
                    id.clone(),
                    TimelineEntry {
                        at: now,
                        who: alerts_actor(),
                        source: Source::Alert,
                        entry: alerts_entry(AlertEvent::Declared { reason }, &alerts),
                    },
                ));
                for (_, e) in &mut plan.timeline {
                    e.source = Source::Alert;
                }
                plan.reply = None;
                plan.alert_bindings.push((cluster.clone(), id.clone()));
                if let Some(p) = self.pipeline.as_mut() {
                    p.bind(&cluster, id.to_string());
                }
                Ok(Some(plan))
            }
            Output::Attach {
                cluster,
                alerts,
                confidence,
                reason,
                notify,
                ..
            } => match self.bound(&cluster) {
                Some(id) if !replay => {
                    let plan = if notify {
                        let event = AlertEvent::Joined {
                            confidence_pct: (confidence * 100.0).round().clamp(0.0, 100.0) as u8,
                            reason,
                        };
                        self.note(&id, alerts_entry(event, &alerts), now)?
                    } else {
                        None
                    };
                    self.card_alerts(&id, plan, now, |inc| add_card_alerts(inc, &alerts))
                }
                _ => Ok(None),
            },
            Output::Update {
                cluster,
                alert,
                status,
                notify,
                ..
            } => match self.bound(&cluster) {
                Some(id) if !replay => {
                    let event = match status {
                        AlertStatus::Resolved => AlertEvent::Resolved,
                        AlertStatus::Firing => AlertEvent::FiringAgain,
                    };
                    let plan = if notify {
                        let entry = alerts_entry(event, std::slice::from_ref(&alert));
                        self.note(&id, entry, now)?
                    } else {
                        None
                    };
                    let key = alert.key.to_string();
                    let firing = status == AlertStatus::Firing;
                    self.card_alerts(&id, plan, now, |inc| {
                        if let Some(x) = inc.alerts.iter_mut().find(|x| x.key == key) {
                            x.firing = firing;
                        }
                    })
                }
                _ => Ok(None),
            },
            Output::Outlived {
                cluster,
                cause,
                cause_resolved_at,
                alerts,
                ..
            } => match self.bound(&cluster) {
                Some(id) if !replay => {
                    let event = AlertEvent::Outlived {
                        cause: alert_line(&cause),
                        after_secs: (now - cause_resolved_at).num_seconds().max(0),
                    };
                    self.note(&id, alerts_entry(event, &alerts), now)
                }
                _ => Ok(None),
            },
            Output::Resolved { cluster, .. } => match self.bound(&cluster) {
                Some(id) if !replay => {
                    let plan = self.note(&id, alerts_entry(AlertEvent::AllResolved, &[]), now)?;
                    self.card_alerts(&id, plan, now, |inc| {
                        inc.alerts.iter_mut().for_each(|x| x.firing = false);
                    })
                }
                _ => Ok(None),
            },
            Output::Escalate {
                cluster, severity, ..
            } => match self.bound(&cluster) {
                Some(id) if !replay => {
                    let inc = self.store.incident(&id)?;
                    if inc.is_none_or(|i| i.severity <= severity || i.status.is_over()) {
                        return Ok(None);
                    }
                    let mut plan = self.command(
                        &Origin::Api,
                        alerts_actor(),
                        Command::SetSeverity {
                            incident: Some(id),
                            severity,
                        },
                        now,
                    )?;
                    plan.reply = None;
                    Ok(Some(plan))
                }
                _ => Ok(None),
            },
            Output::StormNotice {
                key,
                phase,
                count,
                window,
                since,
            } if !replay => Ok(Some(Plan {
                outbox: vec![Action::Send {
                    to: Destination::Channel {
                        channel: self.alert_channel(),
                    },
                    message: Message::AlertStorm {
                        key,
                        started: phase == StormPhase::Started,
                        count,
                        window_secs: window.as_secs(),
                        since,
                    },
                }],
                ..Plan::default()
            })),
            Output::StormNotice { .. }
            | Output::Reminder { .. }
            | Output::Suppressed { .. }
            | Output::SilenceExpired { .. } => Ok(None),
        }
    }

    fn alert_channel(&self) -> crate::incident::ChannelRef {
        self.cfg
            .alert_channel
            .clone()
            .unwrap_or_else(|| self.cfg.task_channel.clone())
    }

    /// `/silence <matcher…> for <2h> [-- comment]` and the API.
    pub(super) fn add_silence(&mut self, mut silence: Silence, now: DateTime<Utc>) -> Plan {
        silence.updated_at = Some(now);
        let Some(p) = self.pipeline.as_mut() else {
            return Plan::refuse(crate::event::Refusal::AlertsOff);
        };
        if let Err(error) = p.add_silence(silence.clone()) {
            return Plan::refuse(crate::event::Refusal::BadSilence {
                problem: crate::event::SilenceProblem::Invalid { error },
            });
        }
        Plan {
            silences: vec![silence.clone()],
            ..Plan::reply(Message::SilenceSet { silence })
        }
    }

    /// Changes a silence as Alertmanager does (see [`Event::UpdateSilence`]).
    ///
    /// [`Event::UpdateSilence`]: crate::event::Event::UpdateSilence
    pub(super) fn update_silence(
        &mut self,
        mut silence: Silence,
        fresh_id: String,
        now: DateTime<Utc>,
    ) -> Plan {
        let Some(p) = self.pipeline.as_ref() else {
            return Plan::refuse(crate::event::Refusal::AlertsOff);
        };
        let Some(old) = p
            .silences()
            .chain(p.ended_silences())
            .find(|s| s.id == silence.id)
            .cloned()
        else {
            return Plan::refuse(crate::event::Refusal::UnknownSilence {
                silence: silence.id,
            });
        };
        if old.recurrence.is_some() {
            // Alertmanager's API has no recurring windows: replacing one would mute all day.
            return Plan::refuse(crate::event::Refusal::BadSilence {
                problem: crate::event::SilenceProblem::Recurring { silence: old.id },
            });
        }
        if crate::alerts::updatable_in_place(&old, &silence, now) {
            return self.add_silence(silence, now);
        }
        silence.id = fresh_id;
        silence.starts_at = silence.starts_at.max(now);
        let mut plan = self.add_silence(silence, now);
        if !matches!(plan.reply, Some(Message::SilenceSet { .. })) || old.is_expired(now) {
            return plan;
        }
        let ended = self.expire_silence(&old.id, now);
        plan.silences.extend(ended.silences);
        plan
    }

    /// Swaps the pipeline's routes, inhibit rules and configured silences (hot
    /// reload); its state stays. Nothing is stored: the file is the record.
    pub(super) fn reload_alert_rules(&mut self, rules: AlertRules) -> Plan {
        let Some(p) = self.pipeline.as_mut() else {
            return Plan::refuse(crate::event::Refusal::AlertsOff);
        };
        if let Err(e) = p.reload_rules(rules.clone()) {
            return Plan::refuse(crate::event::Refusal::BadSilence {
                problem: crate::event::SilenceProblem::Rules {
                    reason: e.to_string(),
                },
            });
        }
        if let Some(c) = self.cfg.alerts.as_mut() {
            c.route = rules.route;
            c.inhibit_rules = rules.inhibit_rules;
            c.silences = rules.silences;
        }
        Plan::default()
    }

    /// Ends a silence now.
    pub(super) fn expire_silence(&mut self, id: &str, now: DateTime<Utc>) -> Plan {
        let Some(p) = self.pipeline.as_mut() else {
            return Plan::refuse(crate::event::Refusal::AlertsOff);
        };
        // Ids as typed in chat: `s-202612070112-1` is `S-202612070112-1`.
        let known = || p.silences().chain(p.ended_silences());
        let exact = known()
            .find(|s| s.id == id)
            .or_else(|| known().find(|s| s.id.eq_ignore_ascii_case(id)))
            .map(|s| s.id.clone());
        let id = exact.as_deref().unwrap_or(id);
        match p.expire_silence(id, now) {
            crate::alerts::SilenceEnd::Ended => {}
            crate::alerts::SilenceEnd::AlreadyEnded => {
                return Plan::refuse(crate::event::Refusal::SilenceEnded { silence: id.into() })
            }
            crate::alerts::SilenceEnd::Unknown => {
                return Plan::refuse(crate::event::Refusal::UnknownSilence { silence: id.into() })
            }
        }
        Plan {
            silences: p.silences().filter(|s| s.id == id).cloned().collect(),
            ..Plan::reply(Message::SilenceEnded { silence: id.into() })
        }
    }

    /// The silences in force or to come.
    pub fn silences(&self, now: DateTime<Utc>) -> Vec<Silence> {
        self.pipeline
            .as_ref()
            .map(|p| {
                p.silences()
                    .filter(|s| s.ends_at.is_none_or(|e| e > now))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The alerts firing now whose labels satisfy `matchers` (`None` without an alert
    /// pipeline), each with the incident its cluster was declared as.
    pub fn firing_alerts(
        &self,
        matchers: &[String],
        now: DateTime<Utc>,
    ) -> Option<Vec<crate::alerts::FiringAlert>> {
        let p = self.pipeline.as_ref()?;
        let ms: Vec<crate::alerts::Matcher> = matchers
            .iter()
            .filter_map(|m| crate::alerts::Matcher::parse(m).ok())
            .collect();
        let mut alerts = p.firing_alerts(&ms, now);
        for a in &mut alerts {
            a.incident = a
                .cluster
                .as_deref()
                .and_then(|c| self.bound(c))
                .map(|i| i.to_string());
        }
        Some(alerts)
    }

    /// The silences that ended within [`crate::alerts::ENDED_SILENCES_KEPT`], latest
    /// end first.
    pub fn ended_silences(&self, now: DateTime<Utc>) -> Vec<Silence> {
        let Some(p) = self.pipeline.as_ref() else {
            return Vec::new();
        };
        let kept = crate::alerts::ENDED_SILENCES_KEPT;
        let mut out: Vec<Silence> = p
            .ended_silences()
            .chain(p.silences().filter(|s| s.is_expired(now)))
            .filter(|s| s.ends_at.is_some_and(|e| now - e < kept))
            .cloned()
            .collect();
        out.sort_by(|a, b| b.ends_at.cmp(&a.ends_at).then_with(|| a.id.cmp(&b.id)));
        out
    }
}

/// Adds `b`'s actions to `a`.
pub(super) fn merge(a: &mut Outcome, b: Outcome) {
    a.actions.extend(b.actions);
    if a.incident.is_none() {
        a.incident = b.incident;
    }
    if a.reply.is_none() {
        a.reply = b.reply;
    }
}

/// A silence from chat: matchers, a span, an author and a comment.
pub fn silence_from(
    id: String,
    matchers: Vec<crate::alerts::Matcher>,
    now: DateTime<Utc>,
    span: Duration,
    by: &Person,
    comment: String,
) -> Silence {
    Silence {
        id,
        matchers,
        starts_at: now,
        ends_at: Some(now + span),
        recurrence: None,
        created_by: by.name.clone(),
        comment,
        updated_at: Some(now),
    }
}
