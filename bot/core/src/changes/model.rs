//! Change events: what was (or will be) changed, where, by whom, how risky, and the
//! validation that turns raw JSON from a ticket system or a script into one.
//!
//! Names are normalised on the way in: `service` and `environment` are trimmed and
//! lower-cased (the catalog's names are lower case), everything else is trimmed.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::catalog::{Catalog, Direction};

/// Longest accepted id or ticket.
const MAX_ID_LEN: usize = 64;
/// Longest accepted short text (operator, service, environment).
const MAX_NAME_LEN: usize = 200;
/// Longest accepted free text (action, object).
const MAX_TEXT_LEN: usize = 2000;

/// What kind of change this is.
///
/// In JSON and TOML a lower-case word: `release`, `config`, `database`,
/// `infrastructure`, `emergency`, or `other:<label>` (plain `other` has an empty
/// label). A few aliases are read too: `deploy`/`deployment`, `configuration`, `db`,
/// `infra`, `hotfix`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scenario {
    /// A software release or deployment.
    Release,
    /// A configuration change.
    Config,
    /// A database change (schema, data fix, parameter).
    Database,
    /// Network, hosts, storage, cloud resources.
    Infrastructure,
    /// An emergency change (a fix during an incident). The gate downgrades a freeze
    /// denial to an approval requirement for it.
    Emergency,
    /// Anything else, with a free label.
    Other(String),
}

impl Scenario {
    /// The canonical words accepted, for messages.
    pub const WORDS: &'static str =
        "release, config, database, infrastructure, emergency, other:<label>";
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Release => f.write_str("release"),
            Self::Config => f.write_str("config"),
            Self::Database => f.write_str("database"),
            Self::Infrastructure => f.write_str("infrastructure"),
            Self::Emergency => f.write_str("emergency"),
            Self::Other(label) if label.is_empty() => f.write_str("other"),
            Self::Other(label) => write!(f, "other:{label}"),
        }
    }
}

impl FromStr for Scenario {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let lower = t.to_lowercase();
        Ok(match lower.as_str() {
            "release" | "deploy" | "deployment" => Self::Release,
            "config" | "configuration" => Self::Config,
            "database" | "db" => Self::Database,
            "infrastructure" | "infra" => Self::Infrastructure,
            "emergency" | "hotfix" => Self::Emergency,
            "other" => Self::Other(String::new()),
            _ => match lower.strip_prefix("other:") {
                Some(_) => Self::Other(
                    t["other:".len()..]
                        .trim()
                        .chars()
                        .take(MAX_NAME_LEN)
                        .collect(),
                ),
                None => {
                    return Err(format!(
                        "unknown scenario `{}`; use one of {}",
                        shorten(t, 40),
                        Self::WORDS
                    ))
                }
            },
        })
    }
}

impl Serialize for Scenario {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Scenario {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// How risky the change is, as declared. Ordered: `Low < Medium < High < Critical`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Risk {
    /// Routine.
    Low,
    /// Needs care.
    Medium,
    /// Could cause an incident.
    High,
    /// Could stop trading.
    Critical,
}

impl Risk {
    /// The lower-case word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }
}

impl fmt::Display for Risk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Risk {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_lowercase().as_str() {
            "low" => Ok(Self::Low),
            "medium" | "med" => Ok(Self::Medium),
            "high" => Ok(Self::High),
            "critical" => Ok(Self::Critical),
            _ => Err(format!(
                "unknown risk `{}`; use one of low, medium, high, critical",
                shorten(s.trim(), 40)
            )),
        }
    }
}

/// Where the change stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeStatus {
    /// Announced, not started.
    #[default]
    Planned,
    /// Being carried out.
    InProgress,
    /// Finished successfully.
    Done,
    /// Undone.
    RolledBack,
    /// Finished unsuccessfully.
    Failed,
}

impl ChangeStatus {
    /// The snake_case word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Planned => "planned",
            Self::InProgress => "in_progress",
            Self::Done => "done",
            Self::RolledBack => "rolled_back",
            Self::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(
            match s.trim().to_lowercase().replace(['-', ' '], "_").as_str() {
                "planned" => Self::Planned,
                "in_progress" | "inprogress" | "started" => Self::InProgress,
                "done" | "completed" | "succeeded" => Self::Done,
                "rolled_back" | "rolledback" => Self::RolledBack,
                "failed" => Self::Failed,
                _ => return None,
            },
        )
    }
}

/// One change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeEvent {
    /// The ticket id when given, else a deterministic id (see [`validate`]).
    pub id: String,
    /// When it starts (or started).
    pub start: DateTime<Utc>,
    /// When it ends (or ended); `None` when not announced.
    pub end: Option<DateTime<Utc>>,
    /// What kind of change.
    pub scenario: Scenario,
    /// Who carries it out.
    pub operator: String,
    /// The catalog service it changes (lower case).
    pub service: String,
    /// `prod`, `uat`, ... (lower case).
    pub environment: String,
    /// What is done: "deploy v2.3.1", "raise max_connections".
    pub action: String,
    /// What it is done to: a host, a file, a table; may be empty.
    pub object: String,
    /// The change ticket, if any.
    pub ticket: Option<String>,
    /// Declared risk.
    pub risk: Risk,
    /// Where it stands.
    pub status: ChangeStatus,
}

impl ChangeEvent {
    /// The end used for window checks: `end`, or `start + default` when not announced.
    pub fn planned_end(&self, default: chrono::Duration) -> DateTime<Utc> {
        self.end.unwrap_or(self.start + default)
    }
}

/// One reason a raw change was refused (a 4xx body lists them all).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    /// The JSON field, or empty for the whole body.
    pub field: String,
    /// What is wrong, for a person.
    pub message: String,
}

impl FieldError {
    fn new(field: &str, message: impl Into<String>) -> Self {
        Self {
            field: field.to_string(),
            message: message.into(),
        }
    }
}

const FIELDS: [&str; 12] = [
    "id",
    "start",
    "end",
    "scenario",
    "operator",
    "service",
    "environment",
    "action",
    "object",
    "ticket",
    "risk",
    "status",
];

fn shorten(s: &str, n: usize) -> String {
    let mut out: String = s.chars().take(n).collect();
    if s.chars().count() > n {
        out.push('…');
    }
    out
}

/// Validates a raw change (the body of `POST /api/changes`) and returns the change or
/// every problem found.
///
/// Required: `start` (RFC 3339), `scenario`, `operator`, `service`, `environment`,
/// `action`, `risk`. Optional: `id`, `end` (RFC 3339, not before `start`), `object`,
/// `ticket`, `status` (default `planned`). Unknown fields are refused, so a typo such
/// as `sevice` is a clear 4xx rather than a silently missing value.
///
/// Without an `id` the `ticket` is the id; without either, the id is
/// `chg-<start as YYYYMMDDHHMM UTC>-<8 hex digits of a hash of service, environment,
/// operator, action, object and start>`: deterministic, so posting the same change
/// twice names the same change.
///
/// # Errors
/// Every [`FieldError`], in field order.
pub fn validate(raw: &Value) -> Result<ChangeEvent, Vec<FieldError>> {
    let Some(obj) = raw.as_object() else {
        return Err(vec![FieldError::new(
            "",
            "expected a JSON object with the change's fields",
        )]);
    };
    let mut errors = Vec::new();
    for key in obj.keys() {
        if !FIELDS.contains(&key.as_str()) {
            errors.push(FieldError::new(
                &shorten(key, 40),
                format!("unknown field; known fields are {}", FIELDS.join(", ")),
            ));
        }
    }
    let mut r = Reader { obj, errors };
    let id = r.opt_id("id");
    let start = r.time("start", true);
    let end = r.time("end", false);
    let scenario = r.text("scenario", true, MAX_NAME_LEN).and_then(|s| {
        s.parse::<Scenario>()
            .map_err(|m| r.errors.push(FieldError::new("scenario", m)))
            .ok()
    });
    let operator = r.text("operator", true, MAX_NAME_LEN);
    let service = r
        .text("service", true, MAX_NAME_LEN)
        .map(|s| s.to_lowercase());
    let environment = r
        .text("environment", true, MAX_NAME_LEN)
        .map(|s| s.to_lowercase());
    let action = r.text("action", true, MAX_TEXT_LEN);
    let object = r.text("object", false, MAX_TEXT_LEN).unwrap_or_default();
    let ticket = r.opt_id("ticket");
    let risk = r.text("risk", true, MAX_NAME_LEN).and_then(|s| {
        s.parse::<Risk>()
            .map_err(|m| r.errors.push(FieldError::new("risk", m)))
            .ok()
    });
    let status = match r.text("status", false, MAX_NAME_LEN) {
        None => Some(ChangeStatus::Planned),
        Some(s) => match ChangeStatus::parse(&s) {
            Some(st) => Some(st),
            None => {
                r.errors.push(FieldError::new(
                    "status",
                    format!(
                        "unknown status `{}`; use one of planned, in_progress, done, rolled_back, failed",
                        shorten(&s, 40)
                    ),
                ));
                None
            }
        },
    };
    if let (Some(s), Some(e)) = (start, end) {
        if e < s {
            r.errors.push(FieldError::new(
                "end",
                format!("end {} is before start {}", e.to_rfc3339(), s.to_rfc3339()),
            ));
        }
    }
    let mut errors = r.errors;
    match (
        start,
        scenario,
        operator,
        service,
        environment,
        action,
        risk,
        status,
    ) {
        (
            Some(start),
            Some(scenario),
            Some(operator),
            Some(service),
            Some(environment),
            Some(action),
            Some(risk),
            Some(status),
        ) if errors.is_empty() => {
            let id = id.or_else(|| ticket.clone()).unwrap_or_else(|| {
                generated_id(
                    start,
                    &[&service, &environment, &operator, &action, &object],
                )
            });
            Ok(ChangeEvent {
                id,
                start,
                end,
                scenario,
                operator,
                service,
                environment,
                action,
                object,
                ticket,
                risk,
                status,
            })
        }
        _ => {
            if errors.is_empty() {
                // Every None above pushed an error; this only guards that invariant.
                errors.push(FieldError::new("", "the change is incomplete"));
            }
            Err(errors)
        }
    }
}

fn generated_id(start: DateTime<Utc>, parts: &[&str]) -> String {
    // FNV-1a, 64 bit: stable across builds and platforms (unlike std's hasher).
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let stamp = start.to_rfc3339();
    for part in parts.iter().copied().chain([stamp.as_str()]) {
        for b in part.bytes().chain([0u8]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("chg-{}-{:08x}", start.format("%Y%m%d%H%M"), h & 0xffff_ffff)
}

struct Reader<'a> {
    obj: &'a Map<String, Value>,
    errors: Vec<FieldError>,
}

impl Reader<'_> {
    /// A string field: trimmed, non-empty when present, at most `max` characters.
    /// `null` counts as absent.
    fn text(&mut self, field: &str, required: bool, max: usize) -> Option<String> {
        match self.obj.get(field) {
            None | Some(Value::Null) => {
                if required {
                    self.errors
                        .push(FieldError::new(field, "missing (required)"));
                }
                None
            }
            Some(Value::String(s)) => {
                let t = s.trim();
                if t.is_empty() {
                    self.errors.push(FieldError::new(field, "is empty"));
                    None
                } else if t.chars().count() > max {
                    self.errors.push(FieldError::new(
                        field,
                        format!("is longer than {max} characters"),
                    ));
                    None
                } else {
                    Some(t.to_string())
                }
            }
            Some(Value::Number(n)) if field == "ticket" || field == "id" => Some(n.to_string()),
            Some(other) => {
                self.errors.push(FieldError::new(
                    field,
                    format!("must be a string, not {}", kind(other)),
                ));
                None
            }
        }
    }

    fn opt_id(&mut self, field: &str) -> Option<String> {
        let s = self.text(field, false, MAX_ID_LEN)?;
        if s.chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '/' | '#'))
        {
            Some(s)
        } else {
            self.errors.push(FieldError::new(
                field,
                "may contain only letters, digits and - _ . : / #",
            ));
            None
        }
    }

    fn time(&mut self, field: &str, required: bool) -> Option<DateTime<Utc>> {
        let s = self.text(field, required, MAX_NAME_LEN)?;
        match DateTime::parse_from_rfc3339(&s) {
            Ok(t) => Some(t.with_timezone(&Utc)),
            Err(_) => {
                self.errors.push(FieldError::new(
                    field,
                    format!(
                        "`{}` is not an RFC 3339 time with an offset, such as 2026-11-20T21:30:00+08:00",
                        shorten(&s, 40)
                    ),
                ));
                None
            }
        }
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Which changes to list: those of `service` and its neighbours, in a time range.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeQuery {
    /// The service asked about; `None` for every service.
    #[serde(default)]
    pub service: Option<String>,
    /// Which neighbours of `service` to include (via the catalog).
    #[serde(default = "default_direction")]
    pub include: Direction,
    /// How many dependency hops to follow; 0 = the service only.
    #[serde(default)]
    pub hops: u32,
    /// Changes whose window `[start, end]` reaches this instant or later.
    pub since: DateTime<Utc>,
    /// Changes that start at or before this instant; `None` = no upper bound.
    #[serde(default)]
    pub until: Option<DateTime<Utc>>,
    /// Only this environment (case-insensitive).
    #[serde(default)]
    pub environment: Option<String>,
    /// Only this operator (case-insensitive).
    #[serde(default)]
    pub operator: Option<String>,
}

fn default_direction() -> Direction {
    Direction::Upstream
}

impl ChangeQuery {
    /// Every change since `since`.
    pub fn since(since: DateTime<Utc>) -> Self {
        Self {
            service: None,
            include: Direction::Upstream,
            hops: 0,
            since,
            until: None,
            environment: None,
            operator: None,
        }
    }
}

/// The changes `q` asks for, newest first (by start, then id).
///
/// With a service, the changes of that service and of the services within `q.hops`
/// of it in direction `q.include` (upstream: what it depends on, the usual suspects
/// of an incident; downstream: what depends on it). A service missing from the
/// catalog matches only itself. A change matches the time range when its window
/// `[start, end]` (just `start` without an end) overlaps `[since, until]`, so a long
/// change that began before `since` but was still running is included.
pub fn query<'a>(
    changes: &'a [ChangeEvent],
    q: &ChangeQuery,
    catalog: &Catalog,
) -> Vec<&'a ChangeEvent> {
    let services: Option<BTreeSet<String>> = q.service.as_ref().map(|s| {
        let name = s.trim().to_lowercase();
        let mut set: BTreeSet<String> = if q.hops > 0 {
            catalog
                .related(&name, q.include, q.hops)
                .into_iter()
                .map(|r| r.name)
                .collect()
        } else {
            BTreeSet::new()
        };
        set.insert(name);
        set
    });
    let env = q.environment.as_ref().map(|e| e.trim().to_lowercase());
    let op = q.operator.as_ref().map(|o| o.trim().to_lowercase());
    let mut out: Vec<&ChangeEvent> = changes
        .iter()
        .filter(|c| services.as_ref().is_none_or(|s| s.contains(&c.service)))
        .filter(|c| {
            env.as_ref()
                .is_none_or(|e| c.environment.eq_ignore_ascii_case(e))
        })
        .filter(|c| op.as_ref().is_none_or(|o| c.operator.to_lowercase() == *o))
        .filter(|c| c.end.unwrap_or(c.start) >= q.since)
        .filter(|c| q.until.is_none_or(|u| c.start <= u))
        .collect();
    out.sort_by(|a, b| b.start.cmp(&a.start).then_with(|| b.id.cmp(&a.id)));
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::catalog::Service;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn raw() -> Value {
        json!({
            "start": "2026-11-20T21:30:00+08:00",
            "end": "2026-11-20T22:00:00+08:00",
            "scenario": "release",
            "operator": "alice",
            "service": "Order-Router",
            "environment": "PROD",
            "action": "deploy v2.3.1",
            "object": "order-router",
            "risk": "medium"
        })
    }

    fn fields(errs: &[FieldError]) -> Vec<&str> {
        errs.iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn a_valid_change_is_normalised_with_a_stable_generated_id() {
        let c = validate(&raw()).unwrap();
        assert_eq!(c.service, "order-router");
        assert_eq!(c.environment, "prod");
        assert_eq!(c.status, ChangeStatus::Planned);
        assert_eq!(c.start, at("2026-11-20T13:30:00Z"));
        assert!(c.id.starts_with("chg-202611201330-"), "{}", c.id);
        assert_eq!(validate(&raw()).unwrap().id, c.id);
        let mut other = raw();
        other["action"] = json!("deploy v2.3.2");
        assert_ne!(validate(&other).unwrap().id, c.id);
        // The ticket becomes the id; an explicit id wins.
        other["ticket"] = json!("CHG-1234");
        assert_eq!(validate(&other).unwrap().id, "CHG-1234");
        other["id"] = json!("x-1");
        assert_eq!(validate(&other).unwrap().id, "x-1");
        // Round trip through serde.
        let back: ChangeEvent = serde_json::from_value(serde_json::to_value(&c).unwrap()).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn validation_lists_every_reason() {
        let errs = validate(&json!({"scenario": "deploy-ish", "risk": "extreme", "sevice": "x"}))
            .unwrap_err();
        assert_eq!(
            fields(&errs),
            [
                "sevice",
                "start",
                "scenario",
                "operator",
                "service",
                "environment",
                "action",
                "risk"
            ]
        );
        let msg = |f: &str| errs.iter().find(|e| e.field == f).unwrap().message.clone();
        assert!(
            msg("scenario").contains("unknown scenario `deploy-ish`"),
            "{}",
            msg("scenario")
        );
        assert!(msg("risk").contains("unknown risk `extreme`"));
        assert!(msg("start").contains("missing"));
        assert!(msg("sevice").contains("unknown field"));

        let mut r = raw();
        r["end"] = json!("2026-11-20T21:00:00+08:00");
        let errs = validate(&r).unwrap_err();
        assert_eq!(fields(&errs), ["end"]);
        assert!(
            errs[0].message.contains("before start"),
            "{}",
            errs[0].message
        );

        r["end"] = json!("tomorrow");
        r["operator"] = json!(7);
        let errs = validate(&r).unwrap_err();
        assert_eq!(fields(&errs), ["end", "operator"]);
        assert!(errs[0].message.contains("RFC 3339"));
        assert!(errs[1].message.contains("must be a string, not a number"));

        assert_eq!(fields(&validate(&json!([1])).unwrap_err()), [""]);
    }

    #[test]
    fn scenarios_and_statuses_read_aliases_and_other_labels() {
        assert_eq!("DB".parse::<Scenario>().unwrap(), Scenario::Database);
        assert_eq!(
            "other:DNS cutover".parse::<Scenario>().unwrap(),
            Scenario::Other("DNS cutover".into())
        );
        assert_eq!(Scenario::Other("x".into()).to_string(), "other:x");
        let mut r = raw();
        r["status"] = json!("rolled-back");
        r["scenario"] = json!("hotfix");
        let c = validate(&r).unwrap();
        assert_eq!(
            (c.status, c.scenario),
            (ChangeStatus::RolledBack, Scenario::Emergency)
        );
        r["status"] = json!("paused");
        assert_eq!(fields(&validate(&r).unwrap_err()), ["status"]);
    }

    fn svc(name: &str, deps: &[&str]) -> Service {
        Service {
            depends_on: deps.iter().map(|d| (*d).to_string()).collect(),
            ..Service::named(name)
        }
    }

    fn change(id: &str, service: &str, start: &str, end: Option<&str>) -> ChangeEvent {
        let mut r = raw();
        r["id"] = json!(id);
        r["service"] = json!(service);
        r["start"] = json!(start);
        r["end"] = end.map_or(Value::Null, |e| json!(e));
        validate(&r).unwrap()
    }

    #[test]
    fn query_follows_the_catalog_and_sorts_newest_first() {
        // web → gateway → router → matching; gateway → risk → db
        let catalog = Catalog::new(vec![
            svc("web", &["gateway"]),
            svc("gateway", &["router", "risk"]),
            svc("router", &["matching"]),
            svc("matching", &[]),
            svc("risk", &["db"]),
            svc("db", &[]),
        ])
        .unwrap();
        let changes = vec![
            change("c-db", "db", "2026-11-20T10:00:00Z", None),
            change("c-router", "router", "2026-11-20T11:00:00Z", None),
            change("c-web", "web", "2026-11-20T12:00:00Z", None),
            change(
                "c-gw",
                "gateway",
                "2026-11-20T09:00:00Z",
                Some("2026-11-20T10:30:00Z"),
            ),
            change(
                "c-old",
                "gateway",
                "2026-11-19T09:00:00Z",
                Some("2026-11-19T10:00:00Z"),
            ),
            change("c-other", "unlisted", "2026-11-20T11:30:00Z", None),
        ];
        let ids = |q: &ChangeQuery| -> Vec<String> {
            query(&changes, q, &catalog)
                .iter()
                .map(|c| c.id.clone())
                .collect()
        };
        let mut q = ChangeQuery::since(at("2026-11-20T10:00:00Z"));
        assert_eq!(ids(&q), ["c-web", "c-other", "c-router", "c-db", "c-gw"]);
        q.service = Some("Gateway".into());
        assert_eq!(ids(&q), ["c-gw"], "still running at since, so included");
        q.hops = 1;
        assert_eq!(
            ids(&q),
            ["c-router", "c-gw"],
            "upstream 1 hop: router, risk"
        );
        q.hops = 2;
        assert_eq!(ids(&q), ["c-router", "c-db", "c-gw"]);
        q.include = Direction::Downstream;
        assert_eq!(ids(&q), ["c-web", "c-gw"]);
        q.include = Direction::Both;
        q.until = Some(at("2026-11-20T10:59:00Z"));
        assert_eq!(ids(&q), ["c-db", "c-gw"]);
        q.environment = Some("uat".into());
        assert!(ids(&q).is_empty());
        q.environment = Some("Prod".into());
        q.operator = Some("ALICE".into());
        assert_eq!(ids(&q).len(), 2);
        q.service = Some("unlisted".into());
        q.until = None;
        assert_eq!(
            ids(&q),
            ["c-other"],
            "a service outside the catalog matches itself"
        );
    }
}
