//! Writes the language model proposed: each gets an id when its answer is posted, and
//! waits for a person. `/confirm <id>` (or the Confirm button) runs its command as that
//! person, so their permissions apply; `/cancel <id>` drops it; after the configured time
//! it can no longer be confirmed. Every step is in the audit trail.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::{Engine, Plan};
use crate::assist::{Answer, ProposalRecord, ProposalState};
use crate::audit::AuditEntry;
use crate::command::{self, Command, Parsed};
use crate::event::{Destination, Message, Origin, Refusal};
use crate::incident::Person;
use crate::ports::StoreError;
use crate::rbac::Permission;

/// Proposal ids are `P-<n>`.
const PREFIX: &str = "P-";

fn number(id: &str) -> u64 {
    id.strip_prefix(PREFIX)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn audit(
    action: &str,
    actor: Option<&Person>,
    rec: &ProposalRecord,
    at: DateTime<Utc>,
) -> AuditEntry {
    AuditEntry {
        at,
        actor: actor.cloned(),
        action: format!("llm.proposal{action}"),
        subject: rec.id.clone(),
        detail: json!({
            "skill": rec.skill,
            "command": rec.command,
            "channel": format!("{}:{}", rec.channel.adapter, rec.channel.id),
            "asked_by": rec.asked_by.as_ref().map(|p| p.name.clone()),
            "expires_at": rec.expires_at,
        }),
    }
}

impl Engine {
    /// Gives each proposal of an answer an id and keeps it (pending) with the answer.
    pub(super) fn propose(
        &self,
        to: &Destination,
        answer: &mut Answer,
        asker: Option<&Person>,
        now: DateTime<Utc>,
        plan: &mut Plan,
    ) -> Result<(), StoreError> {
        if answer.proposals.is_empty() {
            return Ok(());
        }
        let channel = match to {
            Destination::Channel { channel } => Some(channel.clone()),
            Destination::WarRoom { incident } => {
                self.store.incident_channels(incident)?.into_iter().next()
            }
        };
        let Some(channel) = channel else {
            return Ok(());
        };
        let mut next = self.proposals.keys().map(|k| number(k)).max().unwrap_or(0);
        for line in &mut answer.proposals {
            next += 1;
            let rec = ProposalRecord {
                id: format!("{PREFIX}{next}"),
                skill: line.skill.clone(),
                command: line.command.clone(),
                channel: channel.clone(),
                asked_by: asker.cloned(),
                created_at: now,
                expires_at: now + self.cfg.proposal_ttl,
                state: ProposalState::Pending,
            };
            line.id = Some(rec.id.clone());
            plan.audit.push(audit("", asker, &rec, now));
            plan.proposals.push(rec);
        }
        Ok(())
    }

    /// `/confirm <id>` and `/cancel <id>`.
    pub(super) fn decide_proposal(
        &mut self,
        origin: &Origin,
        actor: Person,
        id: &str,
        confirm: bool,
        now: DateTime<Utc>,
    ) -> Result<Plan, StoreError> {
        let refuse = |state: &str, by: Option<&Person>| {
            Plan::refuse(Refusal::Proposal {
                id: id.chars().take(32).collect(),
                state: state.into(),
                by: by.map(|p| p.name.clone()),
            })
        };
        let Some(mut rec) = self.proposals.get(id).cloned() else {
            return Ok(refuse("unknown", None));
        };
        match &rec.state {
            ProposalState::Pending => {}
            ProposalState::Confirmed { by, .. } | ProposalState::Cancelled { by, .. } => {
                return Ok(refuse(rec.state.key(), Some(by)))
            }
            ProposalState::Expired => return Ok(refuse("expired", None)),
        }
        if now > rec.expires_at {
            rec.state = ProposalState::Expired;
            let mut plan = refuse("expired", None);
            plan.audit.push(audit(".expired", Some(&actor), &rec, now));
            plan.proposals.push(rec);
            return Ok(plan);
        }
        if !confirm {
            let asked = rec.asked_by.as_ref().is_some_and(|p| p.id == actor.id);
            if !asked && !self.cfg.rbac.permits(&actor, Permission::Update, None) {
                return Ok(Plan::reply(Message::Denied {
                    permission: Permission::Update,
                    command: command::Syntax::Proposal,
                }));
            }
            rec.state = ProposalState::Cancelled {
                by: actor.clone(),
                at: now,
            };
            let mut plan = Plan::reply(Message::ProposalCancelled {
                id: rec.id.clone(),
                command: rec.command.clone(),
                by: actor.clone(),
            });
            plan.audit
                .push(audit(".cancelled", Some(&actor), &rec, now));
            plan.proposals.push(rec);
            return Ok(plan);
        }
        let cmd = match command::parse(&rec.command) {
            // A proposal never decides another proposal.
            Parsed::Command(Command::Proposal { .. }) | Parsed::NotACommand => {
                return Ok(refuse("invalid", None))
            }
            Parsed::Invalid(error) => return Ok(Plan::reply(Message::Usage { error })),
            Parsed::Command(c) => c,
        };
        let mut plan = self.command_mut(origin, actor.clone(), cmd, now)?;
        if let Some(refusal) = plan.reply.as_ref().filter(|m| m.is_refusal()) {
            let reason = match refusal {
                Message::Denied { permission, .. } => format!("denied: {}", permission.key()),
                Message::Refused { problem } => format!(
                    "refused: {}",
                    serde_json::to_value(problem)
                        .ok()
                        .and_then(|v| v["refusal"].as_str().map(str::to_string))
                        .unwrap_or_default()
                ),
                _ => "usage".into(),
            };
            // Still pending: someone allowed to do it can confirm it.
            let mut entry = audit(".not_run", Some(&actor), &rec, now);
            entry.detail["reason"] = json!(reason);
            plan.audit.push(entry);
            return Ok(plan);
        }
        rec.state = ProposalState::Confirmed {
            by: actor.clone(),
            at: now,
        };
        plan.audit
            .push(audit(".confirmed", Some(&actor), &rec, now));
        plan.proposals.push(rec);
        Ok(plan)
    }
}
