//! Paging: escalations start when an incident is declared, advance on ticks, and
//! stop when someone acknowledges; `/oncall`, `/calendar` and catalog updates.

use chrono::{DateTime, Utc};

use super::{bot, Engine, Plan};
use crate::catalog::Service;
use crate::event::{Action, CalendarView, Message, PageNotice, PageTarget, Refusal, Via};
use crate::incident::{Entry, Incident, IncidentId, Source, TimelineEntry};
use crate::oncall::{Lookup, NextStep, Page, Policy, Step, Target};
use crate::ports::StoreError;

/// Prefix of the policy made for a service with a schedule but no policy of its own.
const SCHEDULE_POLICY: &str = "schedule:";

/// Most escalation steps fired in one tick (the rest fire on the next one).
const TICK_BATCH: usize = 1000;

impl Engine {
    /// The policies for an incident: those of its services (a service with an on-call
    /// schedule but no policy pages its schedule first, see [`Self::policy_named`]),
    /// else the default.
    fn policies_for(&self, inc: &Incident) -> Vec<Policy> {
        let catalog = self.catalog.get();
        let mut names: Vec<String> = Vec::new();
        for svc in inc.services.iter().filter_map(|s| catalog.get(s)) {
            let name = match (&svc.escalation_policy, &svc.schedule) {
                (Some(p), _) => p.clone(),
                (None, Some(s)) => format!("{SCHEDULE_POLICY}{s}"),
                (None, None) => continue,
            };
            if !names.contains(&name) {
                names.push(name);
            }
        }
        if names.is_empty() {
            names.extend(self.cfg.default_policy.clone());
        }
        names.iter().filter_map(|n| self.policy_named(n)).collect()
    }

    /// A configured policy, or the one made for a service that names an on-call
    /// schedule but no policy (`schedule:<name>`): its schedule first, then, if nobody
    /// acknowledges within the default policy's first wait, the default policy's steps.
    fn policy_named(&self, name: &str) -> Option<Policy> {
        if let Some(p) = self.cfg.policies.get(name) {
            return Some(p.clone());
        }
        let schedule = name.strip_prefix(SCHEDULE_POLICY)?;
        let schedule = crate::oncall::schedule_name(&self.schedules.get(), schedule)?;
        let fallback = self
            .cfg
            .default_policy
            .as_ref()
            .and_then(|d| self.cfg.policies.get(d));
        let mut steps = vec![Step {
            targets: vec![Target::Schedule(schedule)],
            wait_minutes: fallback
                .and_then(|p| p.steps.first())
                .map_or(5, |s| s.wait_minutes),
        }];
        steps.extend(fallback.map(|p| p.steps.clone()).unwrap_or_default());
        Some(Policy {
            name: name.to_string(),
            steps,
            repeat: 0,
            clock: fallback.map(|p| p.clock.clone()).unwrap_or_default(),
        })
    }

    /// Starts the escalations of a newly declared incident (first step pages now).
    pub(super) fn start_paging(&self, inc: &Incident, now: DateTime<Utc>, plan: &mut Plan) {
        for policy in self.policies_for(inc) {
            let key = format!("{}/{}", inc.id, policy.name);
            let (esc, pages) = policy.start(&key, now, &self.cfg.calendars);
            let next = esc.next_step(&policy, now);
            plan.escalations.push(esc);
            self.page(inc, pages, next, now, plan);
        }
    }

    /// Turns pages into notifications (chat, and the webhook when configured) and timeline entries.
    /// `next`: when the policy's next step follows, told with each page.
    fn page(
        &self,
        inc: &Incident,
        pages: Vec<Page>,
        next: Option<NextStep>,
        now: DateTime<Utc>,
        plan: &mut Plan,
    ) {
        for p in pages {
            let target = match &p.target {
                Target::User(name) => PageTarget::Person {
                    name: name.clone(),
                    schedule: None,
                },
                Target::Channel(name) => PageTarget::Channel { name: name.clone() },
                Target::Schedule(s) => match self
                    .schedules
                    .get()
                    .get(s)
                    .and_then(|sch| sch.on_call(now, &self.cfg.calendars))
                {
                    Some(oc) => PageTarget::Person {
                        name: oc.person,
                        schedule: Some(s.clone()),
                    },
                    None => PageTarget::Nobody {
                        schedule: s.clone(),
                    },
                },
            };
            let notice = PageNotice {
                incident: inc.id.clone(),
                title: inc.title.clone(),
                severity: inc.severity,
                policy: p.policy.clone(),
                step: p.step + 1,
                round: p.round,
                target: target.clone(),
                by: p.by.clone(),
                reason: p.reason.clone(),
                next,
            };
            let entry = Entry::Paged {
                target: target.label(),
                policy: p.policy.clone(),
                step: p.step + 1,
            };
            plan.timeline.push((
                inc.id.clone(),
                TimelineEntry {
                    at: now,
                    who: bot(),
                    source: Source::Bot,
                    entry,
                },
            ));
            plan.outbox.push(Action::Notify {
                page: notice.clone(),
                via: Via::Chat,
            });
            if self.cfg.webhook {
                plan.outbox.push(Action::Notify {
                    page: notice,
                    via: Via::Webhook,
                });
            }
        }
    }

    /// `/page`: pages whoever is on call now for a service, team or schedule into `inc`
    /// (one page per schedule), with the reason on the timeline.
    pub(super) fn manual_page(
        &self,
        inc: &Incident,
        actor: &crate::incident::Person,
        target: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Plan {
        let schedules = self.schedules.get();
        let catalog = self.catalog.get();
        let Some(names) = self
            .cfg
            .schedules_for(Lookup::Any(target), &schedules, &catalog)
        else {
            return Plan::refuse(Refusal::UnknownOnCall {
                query: target.chars().take(64).collect(),
                uncovered: false,
            });
        };
        if names.is_empty() {
            return Plan::refuse(Refusal::UnknownOnCall {
                query: target.chars().take(64).collect(),
                uncovered: true,
            });
        }
        let pages = names
            .into_iter()
            .map(|s| Page {
                key: inc.id.to_string(),
                policy: "manual".into(),
                step: 0,
                round: 0,
                target: Target::Schedule(s),
                by: Some(actor.name.clone()),
                reason: Some(reason.trim().chars().take(200).collect::<String>())
                    .filter(|r| !r.is_empty()),
            })
            .collect();
        // Who paged, on the timeline (the page entries themselves are the bot's).
        let mut plan = Plan::default();
        plan.timeline.push((
            inc.id.clone(),
            TimelineEntry {
                at: now,
                who: actor.clone(),
                source: Source::Command,
                entry: Entry::PageRequested {
                    target: target.to_string(),
                    reason: Some(reason.trim().chars().take(200).collect::<String>())
                        .filter(|r| !r.is_empty()),
                },
            },
        ));
        self.page(inc, pages, None, now, &mut plan);
        plan
    }

    /// Acknowledges every running escalation of `id`.
    pub(super) fn ack_paging(
        &self,
        id: &IncidentId,
        who: &str,
        now: DateTime<Utc>,
        plan: &mut Plan,
    ) {
        let prefix = format!("{id}/");
        for (_, esc) in self
            .escalations
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
        {
            let mut esc = esc.clone();
            esc.ack(who, now);
            plan.escalations.push(esc);
        }
    }

    /// Fires every escalation step due at `now` (at most [`TICK_BATCH`]).
    pub(super) fn tick(&mut self, now: DateTime<Utc>) -> Result<Plan, StoreError> {
        let mut plan = Plan::default();
        let due: Vec<String> = self
            .due
            .iter()
            .take_while(|(t, _)| *t <= now)
            .take(TICK_BATCH)
            .map(|(_, k)| k.clone())
            .collect();
        for key in due {
            let Some(mut esc) = self.escalations.get(&key).cloned() else {
                continue;
            };
            let policy = self.policy_named(&esc.policy);
            let incident = key
                .split_once('/')
                .and_then(|(id, _)| IncidentId::parse(id).ok());
            let inc = match &incident {
                Some(id) => self.store.incident(id)?,
                None => None,
            };
            match (policy, inc) {
                (Some(policy), Some(inc)) if !inc.status.is_over() => {
                    let pages = esc.advance(&policy, now, &self.cfg.calendars);
                    let next = esc.next_step(&policy, now);
                    self.page(&inc, pages, next, now, &mut plan);
                }
                // The policy was removed from the config, or the incident is over: stop.
                _ => esc.next_at = None,
            }
            plan.escalations.push(esc);
        }
        Ok(plan)
    }

    /// Who is on call: all schedules, or those of a service, team or schedule name.
    pub(super) fn oncall_answer(&self, query: Option<&str>, now: DateTime<Utc>) -> Message {
        let catalog = self.catalog.get();
        let schedules = self.schedules.get();
        let lookup = query.map_or(Lookup::All, Lookup::Any);
        let Some(names) = self.cfg.schedules_for(lookup, &schedules, &catalog) else {
            return Message::Refused {
                problem: Refusal::UnknownOnCall {
                    query: query.unwrap_or_default().chars().take(64).collect(),
                    uncovered: false,
                },
            };
        };
        let entries =
            crate::oncall::entries(&names, &schedules, &catalog, &self.cfg.calendars, now);
        Message::OnCall {
            at: now,
            query: query.map(str::to_string),
            entries,
        }
    }

    /// `/oncall override`: `person` covers `schedule` from now for a duration or until a time.
    pub(super) fn add_override(
        &self,
        schedule: &str,
        person: &str,
        span: &str,
        until: bool,
        now: DateTime<Utc>,
    ) -> Plan {
        let end = if until {
            crate::time::resolve_future(span, now, self.cfg.tz)
        } else {
            // `for` takes durations only: `for 09:00` would be a mistake, not a time.
            crate::time::parse_span(span)
                .filter(|d| *d >= chrono::Duration::minutes(1))
                .map(|d| now + d)
        };
        let Some(end) = end else {
            return Plan::refuse(Refusal::BadSpan {
                text: span.chars().take(64).collect(),
                past: until && crate::time::resolve(span, now, self.cfg.tz).is_ok(),
            });
        };
        self.store_override(schedule, person, now, end)
    }

    /// Stores an override (chat or API).
    pub(super) fn store_override(
        &self,
        schedule: &str,
        person: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Plan {
        let Some(name) = crate::oncall::schedule_name(&self.schedules.get(), schedule) else {
            return Plan::refuse(Refusal::UnknownOnCall {
                query: schedule.chars().take(64).collect(),
                uncovered: false,
            });
        };
        let Some(p) = super::person_from(person) else {
            return Plan::refuse(Refusal::BadUser {
                user: person.chars().take(64).collect(),
            });
        };
        if end <= start {
            return Plan::refuse(Refusal::BadSpan {
                text: end.to_rfc3339(),
                past: false,
            });
        }
        let o = crate::oncall::Override {
            person: p.name.clone(),
            start,
            end,
        };
        Plan {
            reply: Some(Message::OverrideSet {
                schedule: name.clone(),
                person: p.name,
                start,
                end,
            }),
            overrides: vec![(name, o)],
            ..Plan::default()
        }
    }

    /// The trading calendar's answer for a market at `now`.
    pub(super) fn calendar_answer(&self, market: Option<&str>, now: DateTime<Utc>) -> Message {
        let code = market.unwrap_or(&self.cfg.market);
        let Some(cal) = self.cfg.calendars.get(code) else {
            return Message::Refused {
                problem: Refusal::UnknownMarket {
                    market: code.chars().take(32).collect(),
                    known: self
                        .cfg
                        .calendars
                        .markets()
                        .iter()
                        .map(|m| m.to_string())
                        .collect(),
                },
            };
        };
        let session = cal.session_at(now).ok().flatten();
        Message::Calendar {
            view: CalendarView {
                market: cal.code().to_string(),
                tz: cal.tz().name().to_string(),
                at: now,
                covered: cal.is_trading(now).is_ok(),
                trading: session.is_some(),
                session: session.as_ref().map(|s| s.name.clone()),
                session_end: session.as_ref().map(|s| s.end),
                trading_day: cal.trading_day_of(now).ok(),
                next_open: cal.next_open(now).ok().map(|s| s.start),
            },
        }
    }

    /// Adds or replaces catalog services (from the API); the merged catalog must validate.
    pub(super) fn upsert_services(&self, services: Vec<Service>) -> Plan {
        match self.catalog.get().merged(services.clone()) {
            Ok(_) => Plan {
                reply: Some(Message::ServicesUpdated {
                    count: services.len(),
                }),
                services,
                ..Plan::default()
            },
            Err(errors) => Plan::refuse(Refusal::CatalogInvalid {
                problems: errors.iter().map(ToString::to_string).collect(),
            }),
        }
    }
}
