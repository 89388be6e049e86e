//! The skills, one file each: its argument type (whose `///` docs are what the model
//! reads), its validation and what it returns. Shared argument helpers live here.
//!
//! Read skills: [`change_query`], [`snapshot_diff`], [`runbook_search`],
//! [`similar_incidents`], [`incident_lookup`], [`oncall_lookup`], [`alert_query`],
//! [`task_status`], [`calendar`]. Write skills (they only propose): [`page_oncall`],
//! [`add_timeline_entry`], [`create_action_item`], [`set_milestone`].

pub mod add_timeline_entry;
pub mod alert_query;
pub mod calendar;
pub mod change_query;
pub mod create_action_item;
pub mod incident_lookup;
pub mod oncall_lookup;
pub mod page_oncall;
pub mod runbook_search;
pub mod set_milestone;
pub mod similar_incidents;
pub mod snapshot_diff;
pub mod task_status;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};
use warroom_core::command::{parse, Command, Parsed};
use warroom_core::incident::{Incident, IncidentId};

use crate::skill::{SkillContext, SkillError};

/// Most items of one list handed to the model; the rest are counted in `omitted`.
pub(crate) const LIST_CAP: usize = 30;

/// Longest free text a write skill accepts (a note, an action item).
pub(crate) const MAX_TEXT_CHARS: usize = 500;

/// `{"total": n, <key>: first LIST_CAP items, "omitted": n - shown}`.
pub(crate) fn capped<T: Serialize>(key: &str, items: &[T]) -> Result<Value, SkillError> {
    let shown: Vec<&T> = items.iter().take(LIST_CAP).collect();
    let mut v = json!({ "total": items.len(), "omitted": items.len() - shown.len() });
    v[key] = to_value(&shown)?;
    Ok(v)
}

pub(crate) fn to_value<T: Serialize + ?Sized>(v: &T) -> Result<Value, SkillError> {
    serde_json::to_value(v)
        .map_err(|e| SkillError::Failed(format!("cannot encode the result: {e}")))
}

/// A typed time (`14:05`, `2026-11-23 14:05`, `15m ago`, RFC 3339) in the configured
/// zone, read as the chat commands read it; `what` names the argument.
pub(crate) fn past_time(
    ctx: &dyn SkillContext,
    what: &str,
    text: &str,
) -> Result<DateTime<Utc>, SkillError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text.trim()) {
        return Ok(t.with_timezone(&Utc));
    }
    warroom_core::time::resolve(text, ctx.now(), ctx.tz()).map_err(|e| {
        SkillError::InvalidArgs(format!(
            "{what}: {e}; write a local time as \"HH:MM\" or \"YYYY-MM-DD HH:MM\""
        ))
    })
}

/// The incident a write skill (or a lookup) targets: the one named, else the one the
/// question was asked in. It must exist.
pub(crate) async fn target_incident(
    ctx: &dyn SkillContext,
    given: Option<&str>,
) -> Result<Incident, SkillError> {
    let id = match given.map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => IncidentId::parse(s).map_err(|_| {
            SkillError::InvalidArgs(format!(
                "incident: `{}` is not an incident id (IMS-YYYYMMDD-NNN)",
                clip(s, 40)
            ))
        })?,
        None => ctx.current_incident().ok_or_else(|| {
            SkillError::InvalidArgs(
                "incident: this question was not asked in an incident's war room; give the incident id"
                    .into(),
            )
        })?,
    };
    ctx.incident(&id)
        .await?
        .ok_or_else(|| SkillError::NotFound(format!("no incident {id}")))
}

/// Free text for a one-line chat command: one line, straight quotes replaced (the
/// command tokenizer treats `"` as quoting), trimmed, at most `MAX_TEXT_CHARS`.
pub(crate) fn one_line(what: &str, text: &str) -> Result<String, SkillError> {
    let t: String = text
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace(['"', '“', '”'], "'");
    if t.is_empty() {
        return Err(SkillError::InvalidArgs(format!(
            "{what}: must not be empty"
        )));
    }
    if t.chars().count() > MAX_TEXT_CHARS {
        return Err(SkillError::InvalidArgs(format!(
            "{what}: at most {MAX_TEXT_CHARS} characters"
        )));
    }
    if t.starts_with('/') {
        return Err(SkillError::InvalidArgs(format!(
            "{what}: must not start with `/`"
        )));
    }
    Ok(t)
}

/// Checks that `line` parses to exactly `expected` with the bot's own parser, so the
/// command that runs on Confirm is the one that was shown.
pub(crate) fn check_command(line: &str, expected: &Command) -> Result<(), SkillError> {
    match parse(line) {
        Parsed::Command(c) if &c == expected => Ok(()),
        _ => Err(SkillError::InvalidArgs(
            "the text cannot be expressed as one chat command (avoid the words `due`/`at` at the end and quotes); rephrase it"
                .into(),
        )),
    }
}

pub(crate) fn clip(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// Whether `name` is a catalog service, with a helpful error otherwise.
pub(crate) async fn known_service(
    ctx: &dyn SkillContext,
    name: &str,
) -> Result<String, SkillError> {
    let n = name.trim().to_lowercase();
    let names = ctx.service_names().await?;
    if names.is_empty() || names.contains(&n) {
        return Ok(n);
    }
    let mut list: Vec<&str> = names.iter().map(String::as_str).take(60).collect();
    list.sort_unstable();
    Err(SkillError::InvalidArgs(format!(
        "service: `{}` is not in the catalog; use one of: {}",
        clip(name, 40),
        list.join(", ")
    )))
}
