//! The engine's side of the assistant: `/ask`, `/similar`, `/rootcause`, `/resolution`, the
//! similar-incident lookup at declaration, history indexing at resolution, and what to say
//! when the assistant's results come back ([`Event::Assisted`](crate::event::Event)).
//!
//! The engine never searches: it enqueues an [`Action::Assist`] (durable, like any other
//! action) and turns the [`AssistResult`] into messages and card updates.

use chrono::{DateTime, Utc};

use super::{Change, Engine, Plan};
use crate::assist::{AssistRequest, AssistResult};
use crate::event::{Action, Destination, Message, Origin, Refusal};
use crate::incident::{Entry, Incident, IncidentId, Milestone, Person, Source, Status};
use crate::ports::StoreError;

/// Similar incidents kept on a card.
pub const CARD_SIMILAR: usize = 3;

/// The fault-localization card of an incident: posted in the war room (on declare), or
/// where `/analyze` was typed.
pub(super) fn analyze(id: &IncidentId, origin: &Origin) -> Action {
    Action::Assist {
        request: AssistRequest::Analyze {
            incident: id.clone(),
            to: match origin {
                Origin::Chat { channel } => Some(Destination::Channel {
                    channel: channel.clone(),
                }),
                Origin::Api => None,
            },
        },
    }
}

/// Indexing of an incident as history (after it is resolved, closed, or its root cause or
/// resolution changes afterwards).
pub(super) fn index_incident(id: &IncidentId) -> Action {
    Action::Assist {
        request: AssistRequest::IndexIncident {
            incident: id.clone(),
        },
    }
}

/// What a similar-incident search matches for an incident.
fn subject(inc: &Incident) -> String {
    let mut s = inc.title.clone();
    for svc in &inc.services {
        s.push(' ');
        s.push_str(svc);
    }
    s
}

impl Engine {
    /// `/ask <question>`: retrieval (and an LLM answer, when configured) by the assistant.
    pub(super) fn ask(
        &self,
        origin: &Origin,
        actor: Person,
        question: &str,
    ) -> Result<Plan, StoreError> {
        let Origin::Chat { channel } = origin else {
            return Ok(Plan::default());
        };
        let incident = self.store.channel_incident(channel)?;
        let services = match &incident {
            Some(id) => self
                .store
                .incident(id)?
                .map(|i| i.services)
                .unwrap_or_default(),
            None => Vec::new(),
        };
        Ok(Plan {
            outbox: vec![Action::Assist {
                request: AssistRequest::Ask {
                    question: question.to_string(),
                    incident,
                    services,
                    to: Destination::Channel {
                        channel: channel.clone(),
                    },
                    asker: actor,
                },
            }],
            ..Plan::default()
        })
    }

    /// `/similar [id | text]`.
    pub(super) fn similar(
        &self,
        origin: &Origin,
        target: Option<&str>,
    ) -> Result<Plan, StoreError> {
        let Origin::Chat { channel } = origin else {
            return Ok(Plan::default());
        };
        let (exclude, text) = match target.map(str::trim) {
            Some(t) if t.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("ims-")) => {
                let Ok(id) = IncidentId::parse(t) else {
                    return Ok(Plan::reply(Message::Usage {
                        error: crate::command::ParseError {
                            syntax: crate::command::Syntax::Similar,
                            problem: crate::command::Problem::BadIncidentId(
                                t.chars().take(64).collect(),
                            ),
                        },
                    }));
                };
                match self.store.incident(&id)? {
                    Some(inc) => (Some(id), subject(&inc)),
                    None => return Ok(Plan::refuse(Refusal::NotFound { incident: id })),
                }
            }
            Some(t) => (None, t.to_string()),
            None => match self.store.channel_incident(channel)? {
                Some(id) => match self.store.incident(&id)? {
                    Some(inc) => (Some(id), subject(&inc)),
                    None => return Ok(Plan::refuse(Refusal::NotFound { incident: id })),
                },
                None => return Ok(Plan::refuse(Refusal::NoIncidentHere)),
            },
        };
        Ok(Plan {
            outbox: vec![Action::Assist {
                request: AssistRequest::Similar {
                    incident: None,
                    text,
                    to: Some(Destination::Channel {
                        channel: channel.clone(),
                    }),
                    exclude,
                },
            }],
            ..Plan::default()
        })
    }

    /// `/rootcause` and `/resolution`: recorded on the incident and its timeline; the root
    /// cause also marks "root cause located" when nobody did. A resolved incident is indexed
    /// again so similar-incident answers carry the text.
    pub(super) fn record_cause(
        &self,
        inc: Incident,
        actor: &Person,
        source: Source,
        now: DateTime<Utc>,
        root_cause: bool,
        text: String,
        in_war_room: bool,
    ) -> Plan {
        let done = matches!(inc.status, Status::Resolved | Status::Closed);
        let id = inc.id.clone();
        let mut change = Change::new(inc, actor, source, now);
        let entry = if root_cause {
            change.inc.root_cause = Some(text.clone());
            Entry::RootCause { text }
        } else {
            change.inc.resolution = Some(text.clone());
            Entry::Resolution { text }
        };
        change = change.note(entry);
        if root_cause && !change.inc.milestones.contains_key(&Milestone::RootCause) {
            change.inc.milestones.insert(Milestone::RootCause, now);
            change = change.bot_note(Entry::MilestoneSet {
                milestone: Milestone::RootCause,
                time: now,
                previous: None,
            });
        }
        let mut plan = change.finish(in_war_room);
        if done {
            plan.outbox.push(index_incident(&id));
        }
        plan
    }

    /// The assistant's result: an answer or a similar-incident list to post, a card to update.
    pub(super) fn assisted(
        &self,
        result: AssistResult,
        now: DateTime<Utc>,
    ) -> Result<Plan, StoreError> {
        let mut plan = Plan::default();
        match result {
            AssistResult::Answer {
                to,
                question,
                mut answer,
                asker,
            } => {
                self.propose(&to, &mut answer, asker.as_ref(), now, &mut plan)?;
                plan.outbox.push(Action::Send {
                    to,
                    message: Message::Answer { question, answer },
                });
            }
            AssistResult::Similar {
                incident,
                to,
                text,
                mut similar,
            } => {
                if let Some(id) = &incident {
                    // Never list the incident as similar to itself.
                    similar.retain(|s| s.id != id.to_string());
                    similar.truncate(CARD_SIMILAR);
                    if let Some(mut inc) = self.store.incident(id)? {
                        if !similar.is_empty() && inc.similar != similar {
                            inc.similar = similar.clone();
                            inc.revision += 1;
                            inc.updated_at = now;
                            plan.incident = Some(inc);
                            plan.outbox.push(Action::RefreshCard {
                                incident: id.clone(),
                            });
                            plan.outbox.push(Action::Send {
                                to: Destination::WarRoom {
                                    incident: id.clone(),
                                },
                                message: Message::Similar {
                                    incident: Some(id.clone()),
                                    text: text.clone(),
                                    similar: similar.clone(),
                                },
                            });
                        }
                    }
                }
                if let Some(to) = to {
                    plan.outbox.push(Action::Send {
                        to,
                        message: Message::Similar {
                            incident,
                            text,
                            similar,
                        },
                    });
                }
            }
            AssistResult::Analysis {
                incident,
                to,
                mut analysis,
            } => {
                analysis.similar.retain(|s| s.id != incident.to_string());
                analysis.similar.truncate(CARD_SIMILAR);
                if let Some(mut inc) = self.store.incident(&incident)? {
                    if !analysis.similar.is_empty() && inc.similar != analysis.similar {
                        inc.similar = analysis.similar.clone();
                        inc.revision += 1;
                        inc.updated_at = now;
                        plan.incident = Some(inc);
                        plan.outbox.push(Action::RefreshCard {
                            incident: incident.clone(),
                        });
                    }
                }
                plan.outbox.push(Action::Send {
                    to: to.unwrap_or(Destination::WarRoom {
                        incident: incident.clone(),
                    }),
                    message: Message::Analysis { incident, analysis },
                });
            }
            AssistResult::Unavailable { to, reason } => {
                if let Some(to) = to {
                    plan.outbox.push(Action::Send {
                        to,
                        message: Message::AssistUnavailable { reason },
                    });
                }
            }
        }
        Ok(plan)
    }
}
