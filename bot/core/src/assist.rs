//! Work the engine hands to the assistant and what comes back: answering a question from the
//! runbooks (`/ask`, a mention), finding similar past incidents (on declare, `/similar`), and
//! indexing a resolved incident as history.
//!
//! Data only. The engine puts an [`AssistRequest`] in the outbox (so it survives a crash);
//! the app's assistant does the retrieval (and the LLM call, when one is configured) and
//! returns an [`AssistResult`] as an event; the engine then decides what is said.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::event::Destination;
use crate::incident::{ChannelRef, IncidentId, Person};

/// What the assistant is asked to do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AssistRequest {
    /// Answer a question from the runbooks (and past incidents).
    Ask {
        /// The question as typed.
        question: String,
        /// The incident of the channel it was asked in, if any.
        incident: Option<IncidentId>,
        /// That incident's services (a retrieval hint; empty outside a war room).
        services: Vec<String>,
        /// Where the answer goes.
        to: Destination,
        /// Who asked.
        asker: Person,
    },
    /// Past incidents similar to an incident (posted on its card) or to a text.
    Similar {
        /// The incident whose card gets the list, when it is about one.
        incident: Option<IncidentId>,
        /// What to match: the incident's title, services and alerts, or the user's text.
        text: String,
        /// Where to post the list (none: only the card).
        to: Option<Destination>,
        /// An incident left out of the list (`/similar <id>`: not itself).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exclude: Option<IncidentId>,
    },
    /// The fault-localization card of an incident (on declare and `/analyze`): recent
    /// changes around its services, recent alerts, similar incidents, runbook hits and,
    /// with a model, hypotheses.
    Analyze {
        /// The incident.
        incident: IncidentId,
        /// Where to post it (none: the war room).
        to: Option<Destination>,
    },
    /// Index a resolved (or closed) incident as history.
    IndexIncident {
        /// The incident.
        incident: IncidentId,
    },
}

/// What the assistant found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AssistResult {
    /// The answer to an [`AssistRequest::Ask`].
    Answer {
        /// Where it goes.
        to: Destination,
        /// The question.
        question: String,
        /// The answer.
        answer: Answer,
        /// Who asked (recorded on the answer's proposals).
        #[serde(default)]
        asker: Option<Person>,
    },
    /// The result of an [`AssistRequest::Similar`].
    Similar {
        /// The incident whose card gets the list.
        incident: Option<IncidentId>,
        /// Where to post the list.
        to: Option<Destination>,
        /// What was matched (for the reply's heading).
        text: String,
        /// Best first, at most three for a card.
        similar: Vec<SimilarIncident>,
    },
    /// The result of an [`AssistRequest::Analyze`].
    Analysis {
        /// The incident.
        incident: IncidentId,
        /// Where to post it (none: the war room).
        to: Option<Destination>,
        /// The sections.
        analysis: Box<Analysis>,
    },
    /// The knowledge base could not be reached (index locked, embedder down…).
    Unavailable {
        /// Whom to tell, if anyone asked.
        to: Option<Destination>,
        /// The machinery's reason (shown to operators; contains no secret).
        reason: String,
    },
}

/// A retrieval answer: passages with citations, or an abstention with the closest ones.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    /// Passages, best first, numbered from 1 (the `[n]` a written answer cites).
    pub passages: Vec<Passage>,
    /// True when no runbook covers the question; `passages` are then only the closest.
    pub abstain: bool,
    /// Confidence in the top passage, percent.
    pub confidence: u8,
    /// A grounded answer written by the language model, citing `[n]`; none without an LLM,
    /// when retrieval abstained, or when the model failed (then `llm_error` says why).
    pub text: Option<String>,
    /// Why the model gave no text although one is configured (timeout, HTTP error).
    pub llm_error: Option<String>,
    /// Changes the model proposed through write skills. None has been carried out: a person
    /// does it by sending the command (so their permissions apply).
    #[serde(default)]
    pub proposals: Vec<ProposalLine>,
}

/// A write the model proposed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProposalLine {
    /// The skill that proposed it (`add_timeline_entry`).
    pub skill: String,
    /// The chat command that carries it out.
    pub command: String,
    /// The id a person confirms or cancels it by (`P-7`); given by the engine when the
    /// answer is posted.
    #[serde(default)]
    pub id: Option<String>,
}

/// A write the model proposed, kept until a person confirms it (then its command runs as
/// that person, under their permissions), cancels it, or it expires.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProposalRecord {
    /// `P-<n>`, never reused.
    pub id: String,
    /// The write skill that proposed it.
    pub skill: String,
    /// The chat command it runs.
    pub command: String,
    /// Where the answer was posted (the command runs there).
    pub channel: ChannelRef,
    /// Who asked the question that led to it.
    pub asked_by: Option<Person>,
    /// When it was proposed.
    pub created_at: DateTime<Utc>,
    /// After this, it can no longer be confirmed.
    pub expires_at: DateTime<Utc>,
    /// Where it stands.
    pub state: ProposalState,
}

/// Where a proposal stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ProposalState {
    /// Waiting for a click.
    Pending,
    /// Confirmed; its command ran as `by`.
    Confirmed {
        /// Who confirmed.
        by: Person,
        /// When.
        at: DateTime<Utc>,
    },
    /// Cancelled by `by`.
    Cancelled {
        /// Who cancelled.
        by: Person,
        /// When.
        at: DateTime<Utc>,
    },
    /// Nobody decided in time.
    Expired,
}

impl ProposalState {
    /// `pending`, `confirmed`, `cancelled`, `expired`.
    pub fn key(&self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Confirmed { .. } => "confirmed",
            Self::Cancelled { .. } => "cancelled",
            Self::Expired => "expired",
        }
    }
}

/// One cited passage.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Passage {
    /// 1-based number for `[n]` citations.
    pub n: usize,
    /// Runbook path (relative to its directory) or incident id.
    pub doc: String,
    /// `runbook` or `history`.
    pub kind: String,
    /// Document title.
    pub title: String,
    /// Heading trail of the passage, joined with " › ".
    pub section: String,
    /// `path:L12-L30`.
    pub citation: String,
    /// A link to the passage, when `[knowledge].link_base` is set.
    pub link: Option<String>,
    /// A short excerpt.
    pub snippet: String,
}

/// A similar past incident.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimilarIncident {
    /// Its id.
    pub id: String,
    /// Its title.
    pub title: String,
    /// Services.
    pub services: Vec<String>,
    /// Root cause, when recorded (`/rootcause`).
    pub root_cause: Option<String>,
    /// Resolution, when recorded (`/resolution`).
    pub resolution: Option<String>,
    /// Similarity, percent of the best match in the answer.
    pub score: u8,
}

/// A fault-localization card: the deterministic sections, and the model's hypotheses when
/// one is configured.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Analysis {
    /// The incident's services.
    pub services: Vec<String>,
    /// Those and their upstream/downstream neighbours, whose changes are listed.
    pub scope: Vec<String>,
    /// Trading days looked back for changes.
    pub change_days: u32,
    /// Changes in that window to the scope, newest first (at most [`ANALYSIS_CHANGES`]).
    pub changes: Vec<crate::changes::ChangeEvent>,
    /// Changes found in all (the list may be cut).
    pub changes_total: usize,
    /// Minutes looked back for alerts.
    pub alert_minutes: u32,
    /// Alerts of that window on the scope, by name and service, most frequent first.
    pub alerts: Vec<AlertCount>,
    /// Similar past incidents.
    pub similar: Vec<SimilarIncident>,
    /// Runbook passages for the incident (empty when retrieval abstains).
    pub runbooks: Vec<Passage>,
    /// Hypotheses from the model, citing change ids, incidents and `[n]` passages.
    pub hypotheses: Option<String>,
    /// Why there are none although a model is configured.
    pub llm_error: Option<String>,
}

/// Changes listed on a fault-localization card.
pub const ANALYSIS_CHANGES: usize = 10;

/// Alerts of one name on one service.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertCount {
    /// `alertname`.
    pub name: String,
    /// Service label, if any.
    pub service: Option<String>,
    /// Receipts in the window.
    pub count: usize,
    /// Whether the latest receipt was firing.
    pub firing: bool,
}
