//! The skill contract: the [`Skill`] trait every skill file implements, what a skill
//! returns ([`SkillOutput`]: data, or a [`Proposal`] for a write skill), its errors,
//! and the [`SkillContext`] port through which skills read the bot's state.
//!
//! A skill parses its arguments before it acts; bad arguments are
//! [`SkillError::InvalidArgs`], which the agent hands back to the model to correct.
//! Skills return data and never post to chat. A write skill never acts either: it
//! validates and returns a proposal that runs only after a person clicks Confirm.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use warroom_core::alerts::Alert;
use warroom_core::calendar::Calendar;
use warroom_core::changes::{ChangeEvent, ChangeQuery, Snapshot};
use warroom_core::event::OnCallEntry;
use warroom_core::incident::{Incident, IncidentId, Milestone, TimelineEntry};
use warroom_core::ports::SnapshotMeta;
use warroom_core::tasks::Plan;
use warroom_core::Tz;
use warroom_knowledge::{HistoryHit, SearchAnswer, SearchOptions};

/// Whether a skill only reads or proposes a change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkillKind {
    /// Reads state; runs at once.
    Read,
    /// Proposes a change; runs only after a human confirms.
    Write,
}

/// What a skill run produced.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "output", content = "value", rename_all = "snake_case")]
pub enum SkillOutput {
    /// Data for the model (a read skill).
    Data(Value),
    /// A change awaiting confirmation (a write skill).
    Proposal(Proposal),
}

/// Why a skill run failed; every variant goes back to the model as a tool error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SkillError {
    /// The arguments are wrong; the message says how to fix them.
    #[error("invalid arguments: {0}")]
    InvalidArgs(String),
    /// What the arguments name does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// A capability is not configured (no knowledge index, no calendar).
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The skill could not run (storage error).
    #[error("failed: {0}")]
    Failed(String),
}

impl SkillError {
    /// The machine word for the tool error (`invalid_args`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidArgs(_) => "invalid_args",
            Self::NotFound(_) => "not_found",
            Self::Unavailable(_) => "unavailable",
            Self::Failed(_) => "failed",
        }
    }
}

/// A failure of the app behind [`SkillContext`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ContextError {
    /// Not configured here (no knowledge index, no alert log).
    #[error("{0}")]
    Unavailable(String),
    /// Storage or index failure.
    #[error("{0}")]
    Failed(String),
}

impl From<ContextError> for SkillError {
    fn from(e: ContextError) -> Self {
        match e {
            ContextError::Unavailable(m) => Self::Unavailable(m),
            ContextError::Failed(m) => Self::Failed(m),
        }
    }
}

/// A change a write skill proposes. Nothing has happened yet: the app shows
/// `summary` with a Confirm button and, when an authorized person clicks it, runs
/// `command` as that person (so RBAC applies to the clicker, not to the model).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    /// The write skill that proposed it.
    pub skill: String,
    /// The incident it acts on (always explicit in `command`).
    pub incident: IncidentId,
    /// What to do, as data (for the confirmation card's template).
    pub action: ProposedAction,
    /// The chat command line that performs it, in the syntax of
    /// `warroom_core::command` (`/timeline add IMS-20261123-001 …`).
    pub command: String,
    /// One plain English line for logs and the model (`add a timeline entry to …`);
    /// the chat card is rendered from `action` through the prompts.
    pub summary: String,
}

/// The action of a [`Proposal`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ProposedAction {
    /// Page the on-call of a service, team or schedule, or a person.
    Page {
        /// Service, team, schedule or person as resolved by the on-call lookup.
        target: String,
        /// Who is on call for it now, when known.
        on_call: Vec<String>,
        /// Why.
        reason: String,
    },
    /// Add a note to the incident's timeline.
    TimelineAdd {
        /// The note.
        text: String,
    },
    /// Add an action item to the incident.
    ActionAdd {
        /// Owner handle.
        owner: String,
        /// What to do.
        text: String,
        /// Due as typed (`48h`, `2026-11-25 18:00`).
        due: Option<String>,
    },
    /// Record a milestone.
    Milestone {
        /// Which.
        milestone: Milestone,
        /// When, as typed (`14:05`, `2026-11-23 14:05`); now when absent.
        at: Option<String>,
    },
}

/// What skills may read: the port the app implements over its store, the shared
/// catalog and schedules, the calendars and the knowledge index. Object-safe; every
/// method returns plain data. Implementations must not block the runtime (use
/// `spawn_blocking` for sled or the index) and should bound their own work.
#[async_trait]
pub trait SkillContext: Send + Sync {
    /// The current instant (tests inject it).
    fn now(&self) -> DateTime<Utc>;

    /// The configured time zone (typed times such as `14:05` are read in it).
    fn tz(&self) -> Tz;

    /// The incident whose war room the question was asked in, if any.
    fn current_incident(&self) -> Option<IncidentId>;

    /// A trading calendar by market code or alias; `None` asks for the configured
    /// default market. `None` back when unknown.
    fn calendar(&self, market: Option<&str>) -> Option<Calendar>;

    /// The market codes known (for error messages).
    fn markets(&self) -> Vec<String>;

    /// Names of the services in the catalog, lower case.
    ///
    /// # Errors
    /// [`ContextError`].
    async fn service_names(&self) -> Result<Vec<String>, ContextError>;

    /// The changes `query` asks for, newest first: `warroom_core::changes::query`
    /// over the stored changes and the catalog.
    ///
    /// # Errors
    /// [`ContextError`].
    async fn changes(&self, query: &ChangeQuery) -> Result<Vec<ChangeEvent>, ContextError>;

    /// What every stored snapshot is (`Store::snapshot_index`).
    ///
    /// # Errors
    /// [`ContextError`].
    async fn snapshot_index(&self) -> Result<Vec<SnapshotMeta>, ContextError>;

    /// One snapshot (`Store::snapshot`).
    ///
    /// # Errors
    /// [`ContextError`].
    async fn snapshot(&self, id: u64) -> Result<Option<Snapshot>, ContextError>;

    /// Runbook search (`Knowledge::search`).
    ///
    /// # Errors
    /// [`ContextError::Unavailable`] without a knowledge index.
    async fn search_runbooks(
        &self,
        query: &str,
        options: &SearchOptions,
    ) -> Result<SearchAnswer, ContextError>;

    /// Past incidents like `text` (`Knowledge::similar_incidents`).
    ///
    /// # Errors
    /// [`ContextError::Unavailable`] without a knowledge index.
    async fn similar_incidents(
        &self,
        text: &str,
        k: usize,
    ) -> Result<Vec<HistoryHit>, ContextError>;

    /// One incident.
    ///
    /// # Errors
    /// [`ContextError`].
    async fn incident(&self, id: &IncidentId) -> Result<Option<Incident>, ContextError>;

    /// All incidents, newest first.
    ///
    /// # Errors
    /// [`ContextError`].
    async fn incidents(&self) -> Result<Vec<Incident>, ContextError>;

    /// An incident's timeline, oldest first.
    ///
    /// # Errors
    /// [`ContextError`].
    async fn timeline(&self, id: &IncidentId) -> Result<Vec<TimelineEntry>, ContextError>;

    /// Who is on call at `at` for a schedule, service or team name (resolved as
    /// `/oncall` does, `oncall::schedules_for(Lookup::Any(..))`), or for every
    /// schedule when `name` is `None`. `Ok(None)` when the name matches nothing.
    ///
    /// # Errors
    /// [`ContextError`].
    async fn oncall(
        &self,
        name: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<Option<Vec<OnCallEntry>>, ContextError>;

    /// Alerts received at or after `since` (`Store::alert_log`, flattened, oldest
    /// first; re-sends of one alert appear once per receipt).
    ///
    /// # Errors
    /// [`ContextError`].
    async fn alerts(&self, since: DateTime<Utc>) -> Result<Vec<Alert>, ContextError>;

    /// Every plan (change plans and incidents' action items).
    ///
    /// # Errors
    /// [`ContextError`].
    async fn plans(&self) -> Result<Vec<Plan>, ContextError>;

    /// How long after its window a task counts as overdue (the tasks escalation
    /// policy's grace); zero unless the app says otherwise.
    fn task_grace(&self) -> chrono::Duration {
        chrono::Duration::zero()
    }
}

/// A function the model may call.
#[async_trait]
pub trait Skill: Send + Sync {
    /// Tool name (`change_query`); unique in a registry.
    fn name(&self) -> &'static str;

    /// What the skill does and when to use it: the `///` text of its argument type.
    fn description(&self) -> String;

    /// Read or write.
    fn kind(&self) -> SkillKind;

    /// JSON Schema of the arguments: an object schema with `additionalProperties: false`.
    fn parameters(&self) -> Value;

    /// Runs the skill. Read skills return [`SkillOutput::Data`], write skills
    /// [`SkillOutput::Proposal`] and nothing else.
    ///
    /// # Errors
    /// [`SkillError::InvalidArgs`] for arguments that do not parse or validate;
    /// the others when the state cannot be read.
    async fn run(&self, ctx: &dyn SkillContext, args: Value) -> Result<SkillOutput, SkillError>;
}

/// The four descriptive methods of a [`Skill`] whose arguments are the file's `Args` type:
/// its name, `Args`' doc comment as the description, its kind and `Args`' schema.
#[macro_export]
macro_rules! skill_meta {
    ($name:literal, $kind:ident) => {
        fn name(&self) -> &'static str {
            $name
        }

        fn description(&self) -> String {
            $crate::skill::description_of::<Args>()
        }

        fn kind(&self) -> $crate::skill::SkillKind {
            $crate::skill::SkillKind::$kind
        }

        fn parameters(&self) -> serde_json::Value {
            $crate::skill::schema_for::<Args>()
        }
    };
}

/// The argument schema of `T` for the model: inline (no `$ref`), no `$schema`, no
/// title, no top-level description (that is the tool's description), optional fields
/// simply not required (no `null` types), no integer formats.
pub fn schema_for<T: JsonSchema>() -> Value {
    let mut v = raw_schema::<T>();
    if let Value::Object(map) = &mut v {
        for key in ["$schema", "title", "description", "definitions", "$defs"] {
            map.remove(key);
        }
    }
    clean(&mut v);
    v
}

/// The `///` doc comment of `T`, which the model reads as the tool's description.
pub fn description_of<T: JsonSchema>() -> String {
    raw_schema::<T>()
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn raw_schema<T: JsonSchema>() -> Value {
    let settings = schemars::generate::SchemaSettings::draft07().with(|s| {
        s.inline_subschemas = true;
        s.meta_schema = None;
    });
    schemars::SchemaGenerator::new(settings)
        .into_root_schema_for::<T>()
        .to_value()
}

fn clean(v: &mut Value) {
    match v {
        Value::Object(map) => {
            if let Some(Value::Array(types)) = map.get("type") {
                let rest: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
                if rest.len() == 1 {
                    map.insert("type".into(), rest[0].clone());
                }
            }
            if let Some(Value::Array(any)) = map.get("anyOf") {
                let rest: Vec<Value> = any
                    .iter()
                    .filter(|s| s.get("type").is_none_or(|t| t != "null"))
                    .cloned()
                    .collect();
                if rest.len() == 1 {
                    map.remove("anyOf");
                    if let Value::Object(inner) = &rest[0] {
                        for (k, x) in inner {
                            map.entry(k.clone()).or_insert_with(|| x.clone());
                        }
                    }
                }
            }
            if let Some(Value::Array(values)) = map.get_mut("enum") {
                values.retain(|x| !x.is_null());
            }
            if map.get("format").and_then(Value::as_str).is_some_and(|f| {
                f.starts_with("int") || f.starts_with("uint") || f == "double" || f == "float"
            }) {
                map.remove("format");
            }
            if map.get("default").is_some_and(Value::is_null) {
                map.remove("default");
            }
            map.values_mut().for_each(clean);
        }
        Value::Array(items) => items.iter_mut().for_each(clean),
        _ => {}
    }
}

/// Parses tool arguments; a missing or `null` argument object counts as `{}`.
///
/// # Errors
/// [`SkillError::InvalidArgs`] with serde's message (which names the field).
pub fn parse_args<T: DeserializeOwned>(args: Value) -> Result<T, SkillError> {
    let args = if args.is_null() {
        Value::Object(Default::default())
    } else {
        args
    };
    serde_json::from_value(args).map_err(|e| SkillError::InvalidArgs(e.to_string()))
}
