//! Changes: recording change events, the change gate with its approvals and
//! overrides (audited), `/changes` and `/diff`.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::{Engine, Plan};
use crate::audit::AuditEntry;
use crate::catalog::Direction;
use crate::changes::{
    self, diff_lines, ApprovalAction, ApprovalState, ChangeEvent, ChangeQuery, Decision,
    GateRecord, Phase,
};
use crate::command::ChangesArgs;
use crate::event::{Action, ChangeListQuery, Destination, HostDiff, Message, Refusal};
use crate::incident::Person;
use crate::ports::{SnapshotMeta, StoreError};
use crate::rbac::Permission;

/// Longest change list in one message.
const LIST_CAP: usize = 20;
/// Diff lines per host on a card.
const DIFF_LINES: usize = 40;

impl Engine {
    /// Looks a change up by id, case-insensitively.
    fn change(&self, id: &str) -> Option<&ChangeEvent> {
        self.changes
            .iter()
            .find(|c| c.id.eq_ignore_ascii_case(id.trim()))
    }

    pub(super) fn record_changes(&self, changes: Vec<ChangeEvent>) -> Plan {
        let ids = changes.iter().map(|c| c.id.clone()).collect();
        Plan {
            changes,
            ..Plan::reply(Message::ChangesRecorded { ids })
        }
    }

    /// The gate: the rules' fresh verdict, settled by what people decided before.
    /// A verdict that needs a decision asks for one in the change channel once.
    pub(super) fn check_change(&self, change: ChangeEvent, now: DateTime<Utc>) -> Plan {
        let fresh = changes::check(
            &change,
            &self.cfg.gate,
            now,
            &self.cfg.calendars,
            &self.catalog.get(),
        );
        let mut rec = self.gate.get(&change.id).cloned().unwrap_or(GateRecord {
            change: change.id.clone(),
            verdict: fresh.clone(),
            checked_at: now,
            approval: None,
        });
        rec.verdict = fresh.clone();
        rec.checked_at = now;
        // An approval covers "needs approval" only; a change that now falls into a
        // freeze window must be overridden, so ask again.
        if fresh.decision == Decision::Deny
            && matches!(rec.approval, Some(ApprovalState::Approved { .. }))
        {
            rec.approval = Some(ApprovalState::Pending);
        }
        let verdict = changes::settle(&fresh, rec.approval.as_ref(), self.cfg.gate.timezone);
        let mut outbox = Vec::new();
        if verdict.decision != Decision::Allow && rec.approval.is_none() {
            rec.approval = Some(ApprovalState::Pending);
        }
        let ask = rec.approval == Some(ApprovalState::Pending)
            && self.gate.get(&change.id).and_then(|r| r.approval.as_ref())
                != Some(&ApprovalState::Pending);
        let message = Message::GateVerdict {
            change: Box::new(change.clone()),
            verdict: verdict.clone(),
            approval: rec.approval.clone(),
        };
        if ask {
            outbox.push(Action::Send {
                to: Destination::Channel {
                    channel: self.change_channel(),
                },
                message: message.clone(),
            });
        }
        let audit = AuditEntry {
            at: now,
            actor: None,
            action: "gate.check".into(),
            subject: change.id.clone(),
            detail: json!({
                "decision": verdict.decision,
                "rules": fresh.decision,
                "reasons": verdict.reasons,
                "service": change.service,
                "environment": change.environment,
                "start": change.start,
                "end": change.end,
            }),
        };
        Plan {
            changes: vec![change],
            gate: vec![rec],
            audit: vec![audit],
            outbox,
            ..Plan::reply(message)
        }
    }

    fn change_channel(&self) -> crate::incident::ChannelRef {
        self.cfg
            .change_channel
            .clone()
            .unwrap_or_else(|| self.cfg.task_channel.clone())
    }

    /// `/change approve|reject|override`.
    pub(super) fn decide_change(
        &self,
        actor: &Person,
        id: &str,
        action: ApprovalAction,
        note: Option<String>,
        now: DateTime<Utc>,
    ) -> Plan {
        let needed = match action {
            ApprovalAction::Override => Permission::Override,
            ApprovalAction::Approve | ApprovalAction::Reject => Permission::Approve,
        };
        if !self.cfg.rbac.permits(actor, needed, None) {
            return Plan::reply(Message::Denied {
                permission: needed,
                command: crate::command::Syntax::Change,
            });
        }
        let Some(change) = self.change(id) else {
            return Plan::refuse(Refusal::UnknownChange { change: id.into() });
        };
        let Some(mut rec) = self.gate.get(&change.id).cloned() else {
            return Plan::refuse(Refusal::Approval {
                error: changes::ApprovalError::NothingToDecide,
            });
        };
        if let Err(error) = rec.decide(action, actor.clone(), now, note.clone()) {
            return Plan::refuse(Refusal::Approval { error });
        }
        let audit = AuditEntry {
            at: now,
            actor: Some(actor.clone()),
            action: format!("gate.{}", action.key()),
            subject: change.id.clone(),
            detail: json!({ "note": note, "rules": rec.verdict.decision }),
        };
        Plan {
            gate: vec![rec],
            audit: vec![audit],
            ..Plan::reply(Message::ChangeDecided {
                change: change.id.clone(),
                action,
                who: actor.clone(),
                note,
            })
        }
    }

    /// `/changes`.
    pub(super) fn changes_answer(&self, args: &ChangesArgs, now: DateTime<Utc>) -> Message {
        let lookback = args.lookback.unwrap_or_default();
        let market = &self.cfg.market;
        let Some(since) = lookback.since(now, self.cfg.calendars.get(market)) else {
            return Message::Refused {
                problem: Refusal::CalendarGap {
                    market: market.clone(),
                },
            };
        };
        let catalog = self.catalog.get();
        let include = args.include.unwrap_or(Direction::Both);
        let hops = args.hops.unwrap_or(1);
        let q = ChangeQuery {
            service: args.service.clone(),
            include,
            hops,
            since,
            until: None,
            environment: args.environment.clone(),
            operator: args.operator.clone(),
        };
        let found = changes::query(&self.changes, &q, &catalog);
        let services = match &args.service {
            None => Vec::new(),
            Some(s) => {
                let name = s.trim().to_lowercase();
                let mut v = vec![name.clone()];
                if hops > 0 {
                    v.extend(
                        catalog
                            .related(&name, include, hops)
                            .into_iter()
                            .map(|r| r.name),
                    );
                }
                v
            }
        };
        Message::ChangeList {
            query: ChangeListQuery {
                service: args.service.clone(),
                services,
                since,
                lookback,
                environment: args.environment.clone(),
                operator: args.operator.clone(),
                unknown: args.service.as_deref().is_some_and(|s| {
                    let name = s.trim().to_lowercase();
                    catalog.get(&name).is_none()
                        && !self
                            .changes
                            .iter()
                            .any(|c| c.service.eq_ignore_ascii_case(&name))
                }),
            },
            total: found.len(),
            changes: found.into_iter().take(LIST_CAP).cloned().collect(),
        }
    }

    /// `/diff <change-id|host>`: per host, the latest before and after snapshots.
    pub(super) fn diff_answer(&self, target: &str) -> Result<Message, StoreError> {
        let index = self.store.snapshot_index()?;
        let pairs = snapshot_pairs(&index, target);
        if pairs.is_empty() {
            return Ok(Message::Refused {
                problem: Refusal::NoSnapshots {
                    target: target.into(),
                },
            });
        }
        let mut hosts = Vec::new();
        for (before, after) in pairs {
            let (Some(a), Some(b)) = (
                self.store.snapshot(before.id)?,
                self.store.snapshot(after.id)?,
            ) else {
                continue;
            };
            let d = changes::diff(&a, &b);
            let (lines, omitted) = diff_lines(&d, DIFF_LINES);
            hosts.push(HostDiff {
                host: after.host.clone(),
                before: before.id,
                after: after.id,
                taken: (a.taken_at, b.taken_at),
                summary: d
                    .summary()
                    .into_iter()
                    .filter(|(_, x, y, z)| x + y + z > 0)
                    .map(|(c, x, y, z)| (c.to_string(), x, y, z))
                    .collect(),
                lines,
                omitted,
            });
        }
        Ok(Message::SnapshotDiff {
            target: target.into(),
            hosts,
        })
    }
}

/// The (before, after) pairs `/diff target` compares: for a change id, per host the
/// latest before and after snapshots of that change; for a host, the same for the
/// latest change with both phases there, else its last two snapshots.
pub fn snapshot_pairs<'a>(
    index: &'a [SnapshotMeta],
    target: &str,
) -> Vec<(&'a SnapshotMeta, &'a SnapshotMeta)> {
    let t = target.trim();
    let of_change = |change: &str, host: Option<&str>| {
        let mut hosts: Vec<&str> = index
            .iter()
            .filter(|m| {
                m.change_id
                    .as_deref()
                    .is_some_and(|c| c.eq_ignore_ascii_case(change))
            })
            .filter(|m| host.is_none_or(|h| m.host == h))
            .map(|m| m.host.as_str())
            .collect();
        hosts.sort_unstable();
        hosts.dedup();
        hosts
            .into_iter()
            .filter_map(|h| {
                let latest = |phase: Phase| {
                    index
                        .iter()
                        .filter(|m| {
                            m.host == h
                                && m.phase == phase
                                && m.change_id
                                    .as_deref()
                                    .is_some_and(|c| c.eq_ignore_ascii_case(change))
                        })
                        .max_by_key(|m| (m.taken_at, m.id))
                };
                Some((latest(Phase::Before)?, latest(Phase::After)?))
            })
            .collect::<Vec<_>>()
    };
    let by_change = of_change(t, None);
    if !by_change.is_empty() {
        return by_change;
    }
    let on_host: Vec<&SnapshotMeta> = index
        .iter()
        .filter(|m| m.host.eq_ignore_ascii_case(t))
        .collect();
    let host = match on_host.first() {
        Some(m) => m.host.as_str(),
        None => return Vec::new(),
    };
    // The latest change on the host that has both phases.
    let mut changes_here: Vec<(&DateTime<Utc>, &str)> = on_host
        .iter()
        .filter_map(|m| m.change_id.as_deref().map(|c| (&m.taken_at, c)))
        .collect();
    changes_here.sort();
    for (_, c) in changes_here.iter().rev() {
        let pairs = of_change(c, Some(host));
        if !pairs.is_empty() {
            return pairs;
        }
    }
    let mut sorted = on_host;
    sorted.sort_by_key(|m| (m.taken_at, m.id));
    match sorted.as_slice() {
        [.., a, b] => vec![(*a, *b)],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(id: u64, host: &str, change: Option<&str>, phase: Phase, min: i64) -> SnapshotMeta {
        SnapshotMeta {
            id,
            host: host.into(),
            service: None,
            change_id: change.map(String::from),
            phase,
            taken_at: DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::minutes(min),
        }
    }

    #[test]
    fn a_change_pairs_the_latest_before_and_after_snapshot_of_each_host() {
        let index = vec![
            meta(1, "a", Some("CHG-1"), Phase::Before, 0),
            meta(2, "a", Some("CHG-1"), Phase::Before, 1),
            meta(3, "b", Some("CHG-1"), Phase::Before, 1),
            meta(4, "a", Some("CHG-1"), Phase::After, 5),
            meta(5, "c", Some("CHG-1"), Phase::After, 5),
        ];
        let p = snapshot_pairs(&index, "chg-1");
        assert_eq!(p.len(), 1, "hosts b and c lack a phase");
        assert_eq!((p[0].0.id, p[0].1.id), (2, 4));
    }

    #[test]
    fn a_host_pairs_its_latest_change_or_else_its_last_two_snapshots() {
        let index = vec![
            meta(1, "a", Some("CHG-1"), Phase::Before, 0),
            meta(2, "a", Some("CHG-1"), Phase::After, 1),
            meta(3, "a", Some("CHG-2"), Phase::Before, 2),
            meta(4, "a", Some("CHG-2"), Phase::After, 3),
            meta(5, "b", None, Phase::Before, 0),
            meta(6, "b", None, Phase::Before, 9),
            meta(7, "b", None, Phase::Before, 4),
        ];
        let p = snapshot_pairs(&index, "a");
        assert_eq!((p[0].0.id, p[0].1.id), (3, 4));
        let p = snapshot_pairs(&index, "b");
        assert_eq!((p[0].0.id, p[0].1.id), (7, 6));
        assert!(snapshot_pairs(&index, "zzz").is_empty());
    }
}
