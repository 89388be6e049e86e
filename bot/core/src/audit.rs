//! The audit trail: who decided what, when. Entries are appended through the
//! store's [`crate::ports::Commit`] together with the state they explain, so an
//! entry exists exactly when its decision was stored.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::incident::Person;

/// One audited decision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// When.
    pub at: DateTime<Utc>,
    /// Who; `None` for the API (its bearer token is the authority) and the bot.
    pub actor: Option<Person>,
    /// What, dotted: `gate.check`, `gate.approve`, `gate.override`, `gate.reject`.
    pub action: String,
    /// What it is about: a change id, an incident id.
    pub subject: String,
    /// Details (the verdict, the note).
    pub detail: serde_json::Value,
}

/// A stored entry with its position in the trail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Position, from 1, in append order.
    pub seq: u64,
    /// The entry.
    #[serde(flatten)]
    pub entry: AuditEntry,
    /// MAC of the record before it (empty for the first): the hash chain.
    #[serde(default)]
    pub prev: String,
    /// HMAC-SHA256 of (seq, prev, entry) under the deployment's audit key.
    #[serde(default)]
    pub mac: String,
}
