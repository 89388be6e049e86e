//! Ports: the traits adapters implement. Role-named, `Send + Sync`, used as `Arc<dyn _>`.

use chrono::{DateTime, NaiveDate, Utc};

use crate::catalog::Service;
use crate::event::Action;
use crate::incident::{ChannelRef, Incident, IncidentId, TimelineEntry};
use crate::oncall::Escalation;

/// Store failures the engine and adapters act on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Someone else changed the record since it was read.
    #[error("{id} was changed concurrently (expected revision {expected}, found {found})")]
    Conflict {
        /// Incident.
        id: IncidentId,
        /// Revision the writer read.
        expected: u64,
        /// Revision in the store.
        found: u64,
    },
    /// A record could not be decoded.
    #[error("corrupt record {key}: {reason}")]
    Corrupt {
        /// Key.
        key: String,
        /// Decoder message.
        reason: String,
    },
    /// The storage engine failed.
    #[error("storage error: {0}")]
    Io(String),
}

/// One atomic, durable change: an incident, its new timeline entries, an optional
/// channel binding and the actions to deliver. Either all of it is on disk when
/// [`Store::commit`] returns `Ok`, or none of it.
#[derive(Clone, Debug, Default)]
pub struct Commit {
    /// The incident to write; its `revision` must be the stored one + 1 (0 for new).
    pub incident: Option<Incident>,
    /// Entries to append to the timeline of `incident` (or of the bound incident).
    pub timeline: Vec<(IncidentId, TimelineEntry)>,
    /// Link a channel to an incident.
    pub bind: Option<(ChannelRef, IncidentId)>,
    /// Actions for the outbox, in order.
    pub outbox: Vec<Action>,
    /// Escalations to write (by key; a finished one is kept for the record).
    pub escalations: Vec<Escalation>,
    /// Catalog services to add or replace.
    pub services: Vec<Service>,
    /// Plans to add or replace (by id).
    pub plans: Vec<crate::tasks::Plan>,
    /// Plans to remove (by id).
    pub delete_plans: Vec<String>,
    /// On-call overrides added at run time: (schedule, override).
    pub overrides: Vec<(String, crate::oncall::Override)>,
    /// The task scheduler's state, when it changed.
    pub scheduler: Option<SchedulerState>,
    /// Change events to add or replace (by id).
    pub changes: Vec<crate::changes::ChangeEvent>,
    /// Gate records to add or replace (by change id).
    pub gate: Vec<crate::changes::GateRecord>,
    /// Audit entries to append.
    pub audit: Vec<crate::audit::AuditEntry>,
    /// Alert clusters bound to the incidents declared for them.
    pub alert_bindings: Vec<(String, IncidentId)>,
    /// Silences to add or replace (by id).
    pub silences: Vec<crate::alerts::Silence>,
    /// Proposals of the language model to add or replace (by id).
    pub proposals: Vec<crate::assist::ProposalRecord>,
}

/// What the task scheduler has told so far; persisted so a restart fires each
/// reminder exactly once and never re-posts an unchanged digest.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SchedulerState {
    /// Digests posted and escalations sent.
    pub digests: crate::tasks::DigestState,
    /// Reminders up to this instant have been sent.
    pub reminded_until: Option<DateTime<Utc>>,
}

/// An action waiting in the outbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxItem {
    /// Position; delivery order.
    pub seq: u64,
    /// The action.
    pub action: Action,
    /// Delivery attempts so far.
    pub attempts: u32,
}

/// Durable state: incidents, timelines, counters, channel links and the outbox.
pub trait Store: Send + Sync {
    /// Takes the next id for `day`. Durable before it returns: an id is never handed out twice,
    /// even if the process dies before the incident is written (then the number is skipped).
    ///
    /// # Errors
    /// [`StoreError::Io`].
    fn allocate_incident_id(&self, day: NaiveDate) -> Result<IncidentId, StoreError>;
    /// One incident.
    ///
    /// # Errors
    /// [`StoreError::Io`], [`StoreError::Corrupt`].
    fn incident(&self, id: &IncidentId) -> Result<Option<Incident>, StoreError>;
    /// All incidents, newest first.
    ///
    /// # Errors
    /// As [`Store::incident`].
    fn incidents(&self) -> Result<Vec<Incident>, StoreError>;
    /// An incident's timeline, oldest first.
    ///
    /// # Errors
    /// As [`Store::incident`].
    fn timeline(&self, id: &IncidentId) -> Result<Vec<TimelineEntry>, StoreError>;
    /// The incident linked to a channel.
    ///
    /// # Errors
    /// As [`Store::incident`].
    fn channel_incident(&self, channel: &ChannelRef) -> Result<Option<IncidentId>, StoreError>;
    /// The channels linked to an incident; the first is its war room.
    ///
    /// # Errors
    /// As [`Store::incident`].
    fn incident_channels(&self, id: &IncidentId) -> Result<Vec<ChannelRef>, StoreError>;
    /// Applies `commit` atomically and flushes it; returns the outbox items it created.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] on a stale revision, [`StoreError::Io`].
    fn commit(&self, commit: Commit) -> Result<Vec<OutboxItem>, StoreError>;
    /// Undelivered actions, in order.
    ///
    /// # Errors
    /// As [`Store::incident`].
    fn outbox(&self) -> Result<Vec<OutboxItem>, StoreError>;
    /// Running escalations (those with a next step).
    ///
    /// # Errors
    /// As [`Store::incident`].
    fn escalations(&self) -> Result<Vec<Escalation>, StoreError>;
    /// Catalog services stored through the API.
    ///
    /// # Errors
    /// As [`Store::incident`].
    fn services(&self) -> Result<Vec<Service>, StoreError>;
    /// On-call overrides added at run time (schedule, override), oldest first.
    ///
    /// # Errors
    /// As [`Store::incident`].
    fn overrides(&self) -> Result<Vec<(String, crate::oncall::Override)>, StoreError>;
    /// All plans.
    ///
    /// # Errors
    /// As [`Store::incident`].
    fn plans(&self) -> Result<Vec<crate::tasks::Plan>, StoreError>;
    /// The task scheduler's state.
    ///
    /// # Errors
    /// As [`Store::incident`].
    fn scheduler_state(&self) -> Result<SchedulerState, StoreError>;
    /// Removes a delivered action.
    ///
    /// # Errors
    /// [`StoreError::Io`].
    fn ack(&self, seq: u64) -> Result<(), StoreError>;
    /// Records a failed attempt (for backoff).
    ///
    /// # Errors
    /// [`StoreError::Io`].
    fn record_attempt(&self, seq: u64) -> Result<(), StoreError>;
    /// Every change event.
    ///
    /// # Errors
    /// As [`Store::incident`].
    fn changes(&self) -> Result<Vec<crate::changes::ChangeEvent>, StoreError>;
    /// Every gate record.
    ///
    /// # Errors
    /// As [`Store::incident`].
    fn gate_records(&self) -> Result<Vec<crate::changes::GateRecord>, StoreError>;
    /// The audit trail, oldest first.
    ///
    /// # Errors
    /// As [`Store::incident`].
    fn audit(&self) -> Result<Vec<crate::audit::AuditRecord>, StoreError>;
    /// Stores a snapshot durably and returns its id (ids grow).
    ///
    /// # Errors
    /// [`StoreError::Io`].
    fn put_snapshot(&self, snapshot: &crate::changes::Snapshot) -> Result<u64, StoreError>;
    /// One snapshot.
    ///
    /// # Errors
    /// As [`Store::incident`].
    fn snapshot(&self, id: u64) -> Result<Option<crate::changes::Snapshot>, StoreError>;
    /// What every stored snapshot is, oldest first (without content).
    ///
    /// # Errors
    /// As [`Store::incident`].
    fn snapshot_index(&self) -> Result<Vec<SnapshotMeta>, StoreError>;
    /// Appends alert batches (each with the instant it was received) durably, in order.
    ///
    /// # Errors
    /// [`StoreError::Io`].
    fn append_alerts(
        &self,
        batches: &[(DateTime<Utc>, Vec<crate::alerts::Alert>)],
    ) -> Result<(), StoreError>;
    /// Alert batches received at or after `since`, oldest first; older ones are dropped.
    ///
    /// # Errors
    /// As [`Store::incident`].
    fn alert_log(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<(DateTime<Utc>, Vec<crate::alerts::Alert>)>, StoreError>;
    /// Alert clusters and their incidents.
    ///
    /// # Errors
    /// As [`Store::incident`].
    fn alert_bindings(&self) -> Result<Vec<(String, IncidentId)>, StoreError>;
    /// Stored silences (from chat and the API).
    ///
    /// # Errors
    /// As [`Store::incident`].
    fn silences(&self) -> Result<Vec<crate::alerts::Silence>, StoreError>;

    /// Every proposal of the language model, by id.
    ///
    /// # Errors
    /// [`StoreError`] when the store cannot be read.
    fn proposals(&self) -> Result<Vec<crate::assist::ProposalRecord>, StoreError>;
}

/// What a stored snapshot is, without its content.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SnapshotMeta {
    /// Id.
    pub id: u64,
    /// Host.
    pub host: String,
    /// Service, if given.
    pub service: Option<String>,
    /// Change id, if given.
    pub change_id: Option<String>,
    /// Before or after.
    pub phase: crate::changes::Phase,
    /// When it was taken.
    pub taken_at: DateTime<Utc>,
}

/// The time source. Domain code takes `now` from here (or as an argument), never from the OS.
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;
}
