//! Incident status and the moves allowed between statuses.

use serde::{Deserialize, Serialize};

/// Where an incident is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Declared, nobody has picked it up yet.
    Declared,
    /// Someone is working on it.
    Investigating,
    /// The impact is stopped (stop-loss), the cause may still be there.
    Mitigated,
    /// Service is fully recovered.
    Resolved,
    /// Follow-up is done; the incident is read-only.
    Closed,
}

/// A status change that is not allowed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cannot move an incident from {from:?} to {to:?}: {reason}")]
pub struct InvalidTransition {
    /// Current status.
    pub from: Status,
    /// Requested status.
    pub to: Status,
    /// Why, for the reply.
    pub reason: TransitionReason,
}

/// Why a transition is rejected; templates render it in the user's language.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransitionReason {
    /// The incident is already in that status.
    AlreadyThere,
    /// A closed incident cannot change.
    Closed,
    /// Closing needs a resolved incident.
    NotResolved,
    /// Reopening goes back to investigating, from mitigated or resolved only.
    NothingToReopen,
    /// Declared is only the starting point.
    CannotRedeclare,
    /// Going back from mitigated or resolved is a reopening, asked for as one (not
    /// `ack`, typed in the wrong channel).
    UseReopen,
}

impl std::fmt::Display for TransitionReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::AlreadyThere => "it is already there",
            Self::Closed => "it is closed",
            Self::NotResolved => "only a resolved incident can be closed",
            Self::NothingToReopen => {
                "only a mitigated or resolved incident can go back to investigating"
            }
            Self::CannotRedeclare => "declared is only the starting status",
            Self::UseReopen => "it is past that; to take it up again, reopen it",
        })
    }
}

impl Status {
    /// All statuses, in lifecycle order.
    pub const ALL: [Status; 5] = [
        Self::Declared,
        Self::Investigating,
        Self::Mitigated,
        Self::Resolved,
        Self::Closed,
    ];

    /// The machine name (`investigating`), as used in the API and templates.
    pub fn key(self) -> &'static str {
        match self {
            Self::Declared => "declared",
            Self::Investigating => "investigating",
            Self::Mitigated => "mitigated",
            Self::Resolved => "resolved",
            Self::Closed => "closed",
        }
    }

    /// True once the incident no longer needs responders (resolved or closed).
    pub fn is_over(self) -> bool {
        matches!(self, Self::Resolved | Self::Closed)
    }

    /// Checks a move asked for as `reopen` or not: going back to investigating from
    /// mitigated or resolved needs `reopen`, and `reopen` is only that move.
    ///
    /// # Errors
    /// [`InvalidTransition`] with the reason.
    pub fn check_move(self, to: Status, reopen: bool) -> Result<(), InvalidTransition> {
        let back = matches!(self, Self::Mitigated | Self::Resolved) && to == Self::Investigating;
        let reason = match (reopen, back) {
            (false, true) => TransitionReason::UseReopen,
            (true, false) if self != Self::Closed => TransitionReason::NothingToReopen,
            _ => return self.check_transition(to),
        };
        Err(InvalidTransition {
            from: self,
            to,
            reason,
        })
    }

    /// Checks a move. Forward moves may skip steps (declared → resolved for a
    /// blip), except that only a resolved incident closes; backward moves are
    /// reopenings to investigating, from mitigated or resolved.
    ///
    /// # Errors
    /// [`InvalidTransition`] with the reason.
    pub fn check_transition(self, to: Status) -> Result<(), InvalidTransition> {
        let reject = |reason| {
            Err(InvalidTransition {
                from: self,
                to,
                reason,
            })
        };
        if self == to {
            return reject(TransitionReason::AlreadyThere);
        }
        match (self, to) {
            (Self::Closed, _) => reject(TransitionReason::Closed),
            (_, Self::Declared) => reject(TransitionReason::CannotRedeclare),
            (Self::Resolved, Self::Closed) => Ok(()),
            (_, Self::Closed) => reject(TransitionReason::NotResolved),
            (Self::Mitigated | Self::Resolved, Self::Investigating) => Ok(()),
            (Self::Resolved, Self::Mitigated) => reject(TransitionReason::NothingToReopen),
            (from, to) if to > from => Ok(()),
            _ => reject(TransitionReason::NothingToReopen),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Status::*;
    use super::*;

    #[test]
    fn allows_exactly_the_documented_moves() {
        let allowed = [
            (Declared, Investigating),
            (Declared, Mitigated),
            (Declared, Resolved),
            (Investigating, Mitigated),
            (Investigating, Resolved),
            (Mitigated, Resolved),
            (Mitigated, Investigating),
            (Resolved, Investigating),
            (Resolved, Closed),
        ];
        for from in Status::ALL {
            for to in Status::ALL {
                let ok = from.check_transition(to).is_ok();
                assert_eq!(ok, allowed.contains(&(from, to)), "{from:?} -> {to:?}");
            }
        }
    }

    #[test]
    fn going_back_to_investigating_takes_reopen_and_reopen_is_only_that() {
        let reason = |from: Status, to, reopen| from.check_move(to, reopen).err().map(|e| e.reason);
        assert_eq!(
            reason(Resolved, Investigating, false),
            Some(TransitionReason::UseReopen),
            "`ack` on a resolved incident"
        );
        assert_eq!(
            reason(Mitigated, Investigating, false),
            Some(TransitionReason::UseReopen)
        );
        assert_eq!(reason(Resolved, Investigating, true), None);
        assert_eq!(reason(Mitigated, Investigating, true), None);
        assert_eq!(reason(Declared, Investigating, false), None);
        assert_eq!(
            reason(Declared, Investigating, true),
            Some(TransitionReason::NothingToReopen)
        );
        assert_eq!(
            reason(Closed, Investigating, true),
            Some(TransitionReason::Closed)
        );
    }

    #[test]
    fn explains_why_a_closed_incident_cannot_move() {
        let err = Closed.check_transition(Investigating).unwrap_err();
        assert_eq!(err.reason, TransitionReason::Closed);
        assert_eq!(
            Investigating.check_transition(Closed).unwrap_err().reason,
            TransitionReason::NotResolved
        );
    }
}
