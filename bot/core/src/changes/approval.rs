//! What people decided about a gated change: approvals of `needs_approval`
//! verdicts, overrides of `deny` verdicts, rejections. The gate's own [`Verdict`]
//! is recomputed at every check (windows move); a recorded decision then turns it
//! into the final answer the pipeline gets ([`settle`]).

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::gate::{Decision, Reason, Verdict, Why};
use crate::incident::Person;

/// A person's decision on a gated change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ApprovalState {
    /// Waiting for someone authorized.
    Pending,
    /// A `needs_approval` verdict was approved.
    Approved {
        /// Who.
        by: Person,
        /// When.
        at: DateTime<Utc>,
        /// Why, if said.
        note: Option<String>,
    },
    /// A `deny` verdict was overridden (break-glass).
    Overridden {
        /// Who.
        by: Person,
        /// When.
        at: DateTime<Utc>,
        /// Why (required in chat; "button" from a card).
        note: Option<String>,
    },
    /// The change was rejected.
    Rejected {
        /// Who.
        by: Person,
        /// When.
        at: DateTime<Utc>,
        /// Why, if said.
        note: Option<String>,
    },
}

impl ApprovalState {
    /// `pending`, `approved`, `overridden`, `rejected`.
    pub fn key(&self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved { .. } => "approved",
            Self::Overridden { .. } => "overridden",
            Self::Rejected { .. } => "rejected",
        }
    }
}

/// The gate's latest verdict on one change and what people decided about it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateRecord {
    /// The change.
    pub change: String,
    /// The gate's own verdict at the last check (before any approval).
    pub verdict: Verdict,
    /// When it was last checked.
    pub checked_at: DateTime<Utc>,
    /// `None` while nobody had to decide (allowed changes).
    pub approval: Option<ApprovalState>,
}

/// What a person asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalAction {
    /// Approve a `needs_approval` verdict.
    Approve,
    /// Override a `deny` verdict.
    Override,
    /// Reject the change.
    Reject,
}

impl ApprovalAction {
    /// `approve`, `override`, `reject`.
    pub fn key(self) -> &'static str {
        match self {
            Self::Approve => "approve",
            Self::Override => "override",
            Self::Reject => "reject",
        }
    }
}

/// Why a decision could not be recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "why", rename_all = "snake_case")]
pub enum ApprovalError {
    /// The gate allowed it; there is nothing to approve.
    #[error("the gate allowed this change; nothing to decide")]
    NothingToDecide,
    /// Approving a denial is not enough; it takes an override.
    #[error("the gate denied this change; only an override can let it through")]
    DeniedNeedsOverride,
    /// Someone already decided.
    #[error("already {state}")]
    AlreadyDecided {
        /// `approved`, `overridden`, `rejected`.
        state: String,
    },
}

impl GateRecord {
    /// Records `action` by `by`; the gate verdict decides which actions make sense.
    ///
    /// # Errors
    /// [`ApprovalError`] when the action does not fit the verdict or someone already
    /// decided.
    pub fn decide(
        &mut self,
        action: ApprovalAction,
        by: Person,
        at: DateTime<Utc>,
        note: Option<String>,
    ) -> Result<(), ApprovalError> {
        match &self.approval {
            None | Some(ApprovalState::Pending) => {}
            Some(done) => {
                return Err(ApprovalError::AlreadyDecided {
                    state: done.key().into(),
                })
            }
        }
        let state = match (self.verdict.decision, action) {
            (Decision::Allow, _) => return Err(ApprovalError::NothingToDecide),
            (_, ApprovalAction::Reject) => ApprovalState::Rejected { by, at, note },
            (Decision::NeedsApproval, ApprovalAction::Approve) => {
                ApprovalState::Approved { by, at, note }
            }
            (Decision::Deny, ApprovalAction::Approve) => {
                return Err(ApprovalError::DeniedNeedsOverride)
            }
            (_, ApprovalAction::Override) => ApprovalState::Overridden { by, at, note },
        };
        self.approval = Some(state);
        Ok(())
    }
}

/// The final answer for a change whose fresh gate verdict is `fresh`, given what
/// people decided before (`prior`). An approval lifts `needs_approval` only; a
/// fresh `deny` (the change now falls into a freeze window) needs an override. A
/// rejection denies. Each decision is added as a reason.
pub fn settle(fresh: &Verdict, prior: Option<&ApprovalState>, tz: Tz) -> Verdict {
    let mut out = fresh.clone();
    let decided =
        |action: &str, by: &Person, at: &DateTime<Utc>, note: &Option<String>| Why::Decided {
            action: action.into(),
            by: by.name.clone(),
            at: format!(
                "{} {}",
                at.with_timezone(&tz).format("%Y-%m-%d %H:%M"),
                tz.name()
            ),
            note: note.clone().filter(|n| !n.is_empty()),
        };
    match prior {
        Some(ApprovalState::Approved { by, at, note })
            if fresh.decision == Decision::NeedsApproval =>
        {
            out.reasons.push(Reason::new(
                "approval",
                Decision::Allow,
                decided("approved", by, at, note),
            ));
            out.decision = Decision::Allow;
        }
        Some(ApprovalState::Overridden { by, at, note }) if fresh.decision != Decision::Allow => {
            out.reasons.push(Reason::new(
                "override",
                Decision::Allow,
                decided("overridden", by, at, note),
            ));
            out.decision = Decision::Allow;
        }
        Some(ApprovalState::Rejected { by, at, note }) => {
            out.reasons.push(Reason::new(
                "rejected",
                Decision::Deny,
                decided("rejected", by, at, note),
            ));
            out.decision = Decision::Deny;
        }
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(decision: Decision) -> Verdict {
        Verdict {
            decision,
            reasons: vec![Reason {
                rule: "freeze".into(),
                effect: decision,
                message: "m".into(),
                why: None,
                downgraded: false,
            }],
        }
    }

    fn at() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-23T01:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn rec(decision: Decision) -> GateRecord {
        GateRecord {
            change: "CHG-1".into(),
            verdict: verdict(decision),
            checked_at: at(),
            approval: Some(ApprovalState::Pending),
        }
    }

    /// A change the gate asked approval for, approved by `lead` at [`at`].
    fn approved_by_lead() -> GateRecord {
        let mut r = rec(Decision::NeedsApproval);
        r.decide(ApprovalAction::Approve, Person::named("lead"), at(), None)
            .unwrap();
        r
    }

    #[test]
    fn an_approved_change_is_allowed_while_the_gate_only_asks_for_approval() {
        let r = approved_by_lead();
        let v = settle(
            &verdict(Decision::NeedsApproval),
            r.approval.as_ref(),
            chrono_tz::UTC,
        );
        assert_eq!(v.decision, Decision::Allow);
        assert_eq!(v.reasons.last().unwrap().rule, "approval");
        // The change slid into a freeze window: the approval does not cover a denial.
        let v = settle(
            &verdict(Decision::Deny),
            r.approval.as_ref(),
            chrono_tz::UTC,
        );
        assert_eq!(v.decision, Decision::Deny);
    }

    #[test]
    fn a_denied_change_needs_an_override_not_an_approval() {
        let mut r = rec(Decision::Deny);
        assert_eq!(
            r.decide(ApprovalAction::Approve, Person::named("lead"), at(), None),
            Err(ApprovalError::DeniedNeedsOverride)
        );
        r.decide(
            ApprovalAction::Override,
            Person::named("cto"),
            at(),
            Some("hotfix".into()),
        )
        .unwrap();
        let v = settle(
            &verdict(Decision::Deny),
            r.approval.as_ref(),
            chrono_tz::UTC,
        );
        assert_eq!(v.decision, Decision::Allow);
        assert!(v.reasons.last().unwrap().message.contains("hotfix"));
    }

    #[test]
    fn a_decision_is_dated_in_the_gates_timezone_not_in_utc() {
        let r = approved_by_lead();
        let v = settle(
            &verdict(Decision::NeedsApproval),
            r.approval.as_ref(),
            chrono_tz::Asia::Shanghai,
        );
        let last = v.reasons.last().unwrap();
        assert!(
            last.message.contains("at 2026-11-23 09:00 Asia/Shanghai"),
            "{}",
            last.message
        );
    }

    #[test]
    fn a_decision_is_final_and_a_rejection_denies() {
        let mut r = rec(Decision::NeedsApproval);
        r.decide(ApprovalAction::Reject, Person::named("lead"), at(), None)
            .unwrap();
        assert!(matches!(
            r.decide(ApprovalAction::Approve, Person::named("x"), at(), None),
            Err(ApprovalError::AlreadyDecided { .. })
        ));
        let v = settle(
            &verdict(Decision::NeedsApproval),
            r.approval.as_ref(),
            chrono_tz::UTC,
        );
        assert_eq!(v.decision, Decision::Deny);
        let mut ok = rec(Decision::Allow);
        assert_eq!(
            ok.decide(ApprovalAction::Approve, Person::named("x"), at(), None),
            Err(ApprovalError::NothingToDecide)
        );
    }
}
