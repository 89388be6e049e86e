//! The incident aggregate: what an incident is and the rules for changing it.
//! Pure data and checks; the engine decides when to call them.

mod id;
mod milestone;
mod role;
mod severity;
mod status;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use id::{IncidentId, InvalidIncidentId};
pub use milestone::{durations, DerivedDuration, DurationKind, Milestone};
pub use role::{RoleDef, Roles, COMMANDER};
pub use severity::{InvalidSeverity, Severity};
pub use status::{InvalidTransition, Status, TransitionReason};

/// A person as chat adapters identify them.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Person {
    /// Adapter-specific id (Discord snowflake, console user name, `api:<client>`).
    pub id: String,
    /// Display name.
    pub name: String,
}

impl Person {
    /// A person whose id is their name (console, config).
    pub fn named(name: &str) -> Self {
        Self {
            id: name.into(),
            name: name.into(),
        }
    }

    /// The alert pipeline and other bot accounts (`bot:…`), or an API client that
    /// gave no name: nobody to give work to.
    pub fn is_service_account(&self) -> bool {
        self.id.starts_with("bot:") || (self.id == "api" && self.name == "api")
    }
}

/// A chat channel, named by the adapter that owns it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ChannelRef {
    /// Adapter name: `console`, `discord`.
    pub adapter: String,
    /// Adapter-specific channel id.
    pub id: String,
}

impl ChannelRef {
    /// Shorthand constructor.
    pub fn new(adapter: &str, id: &str) -> Self {
        Self {
            adapter: adapter.into(),
            id: id.into(),
        }
    }

    /// Reads `adapter:channel-id` (as written in config and plans); `None` otherwise.
    pub fn parse(s: &str) -> Option<Self> {
        let (a, id) = s.trim().split_once(':')?;
        (!a.is_empty() && !id.is_empty()).then(|| Self::new(a, id))
    }
}

/// Where a timeline entry came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// A chat command.
    Command,
    /// A chat message captured into the timeline.
    Chat,
    /// An alert.
    Alert,
    /// The bot itself.
    Bot,
    /// The HTTP API.
    Api,
}

/// What a timeline entry records. Structured so every language can render it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Entry {
    /// The incident was declared.
    Declared {
        /// Title at declaration.
        title: String,
        /// Severity at declaration.
        severity: Severity,
    },
    /// Status moved.
    StatusChanged {
        /// Before.
        from: Status,
        /// After.
        to: Status,
    },
    /// Severity changed.
    SeverityChanged {
        /// Before.
        from: Severity,
        /// After.
        to: Severity,
    },
    /// A role was given to someone.
    RoleAssigned {
        /// Role key.
        role: String,
        /// Who holds it now.
        person: Person,
        /// Who held it before, if anyone.
        previous: Option<Person>,
    },
    /// A milestone was marked.
    MilestoneSet {
        /// Which one.
        milestone: Milestone,
        /// The instant it stands for (may be back-dated).
        time: DateTime<Utc>,
        /// The instant it replaced, if it was set before.
        previous: Option<DateTime<Utc>>,
    },
    /// Free text.
    Note {
        /// The text.
        text: String,
    },
    /// The root cause was recorded (`/rootcause`).
    RootCause {
        /// The text.
        text: String,
    },
    /// The resolution was recorded (`/resolution`).
    Resolution {
        /// The text.
        text: String,
    },
    /// A status update was posted (Comms Lead's job).
    StatusUpdate {
        /// The update.
        text: String,
    },
    /// A chat message copied into the timeline (e.g. by a 📌 reaction).
    Captured {
        /// The message text.
        text: String,
        /// Its author.
        author: Person,
        /// A link to the message, when the chat has one.
        link: Option<String>,
    },
    /// Someone was paged by an escalation policy.
    Paged {
        /// Who or what (`bob (trading-ops)`, `#ops`, `nobody on trading-ops`).
        target: String,
        /// Policy.
        policy: String,
        /// Step (1-based).
        step: usize,
    },
    /// Someone paged a service, team or schedule into the incident (`/page`); the
    /// pages themselves follow as [`Entry::Paged`].
    PageRequested {
        /// As named.
        target: String,
        /// Why, if given.
        reason: Option<String>,
    },
    /// An action item was added (`/action add`).
    ActionAdded {
        /// Its id (`A1`).
        id: String,
        /// What to do.
        title: String,
        /// Who.
        owner: String,
        /// By when.
        due: DateTime<Utc>,
    },
    /// A channel was linked to the incident (the first one is its war room).
    ChannelLinked {
        /// The channel.
        channel: ChannelRef,
    },
    /// A command was refused by RBAC.
    Denied {
        /// The permission that was missing.
        permission: String,
        /// The command that was tried.
        command: String,
    },
    /// Alerts from the alert pipeline: declared together, joined, resolved or firing
    /// again.
    Alerts {
        /// What happened, with the pipeline's reason.
        event: AlertEvent,
        /// The alerts, one line each (the first few).
        alerts: Vec<String>,
        /// How many more there were.
        more: usize,
    },
}

/// What happened to the alerts of an [`Entry::Alerts`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AlertEvent {
    /// They made the incident.
    Declared {
        /// Why.
        reason: crate::alerts::Declaration,
    },
    /// They joined it.
    Joined {
        /// The lowest confidence among them, in percent.
        confidence_pct: u8,
        /// Why (for the one with the lowest confidence).
        reason: crate::alerts::JoinReason,
    },
    /// It resolved.
    Resolved,
    /// It fired again.
    FiringAgain,
    /// Every alert of the incident has resolved.
    AllResolved,
    /// They still fire this long after the incident's probable root resolved.
    Outlived {
        /// The root, as an alert line.
        cause: String,
        /// How long after it resolved, in seconds.
        after_secs: i64,
    },
}

/// One line of the timeline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEntry {
    /// When it was recorded.
    pub at: DateTime<Utc>,
    /// Who caused it.
    pub who: Person,
    /// Which channel of input it came through.
    pub source: Source,
    /// What happened.
    #[serde(flatten)]
    pub entry: Entry,
}

/// An incident as stored: everything but the timeline, which is kept apart
/// because it grows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incident {
    /// `IMS-YYYYMMDD-NNN`.
    pub id: IncidentId,
    /// What is wrong, in a line.
    pub title: String,
    /// Current severity.
    pub severity: Severity,
    /// Current status.
    pub status: Status,
    /// Services affected.
    pub services: Vec<String>,
    /// Role key → holder.
    pub roles: BTreeMap<String, Person>,
    /// Milestones marked so far.
    pub milestones: BTreeMap<Milestone, DateTime<Utc>>,
    /// Who declared it.
    pub declared_by: Person,
    /// When it was declared.
    pub declared_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Revision, +1 on every stored change (optimistic concurrency in the store).
    pub revision: u64,
    /// What caused it (`/rootcause`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_cause: Option<String>,
    /// What fixed it (`/resolution`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<String>,
    /// Similar past incidents found when it was declared (shown on the card).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub similar: Vec<crate::assist::SimilarIncident>,
    /// The alerts it was declared from or that joined it (shown on the card), at most
    /// [`CARD_ALERTS_KEPT`], oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alerts: Vec<IncidentAlert>,
}

/// Alerts remembered on an incident record.
pub const CARD_ALERTS_KEPT: usize = 50;

/// An alert of an incident, as its card lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentAlert {
    /// The episode (`fingerprint@startsAt`).
    pub key: String,
    /// `P2 [trading-db] DBConnectionsExhausted — pool exhausted`.
    pub line: String,
    /// Still firing.
    pub firing: bool,
}

impl Incident {
    /// A freshly declared incident. `discovered` is set to the declaration time.
    pub fn declare(
        id: IncidentId,
        title: String,
        severity: Severity,
        services: Vec<String>,
        by: Person,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id,
            title,
            severity,
            status: Status::Declared,
            services,
            roles: BTreeMap::new(),
            milestones: BTreeMap::from([(Milestone::Discovered, now)]),
            declared_by: by,
            declared_at: now,
            updated_at: now,
            revision: 0,
            root_cause: None,
            resolution: None,
            similar: Vec::new(),
            alerts: Vec::new(),
        }
    }

    /// Durations derived from the milestones.
    pub fn durations(&self) -> Vec<DerivedDuration> {
        durations(&self.milestones)
    }

    /// The Incident Commander, if assigned.
    pub fn commander(&self) -> Option<&Person> {
        self.roles.get(COMMANDER)
    }
}
