//! The changes API: change events (one or bulk), the change gate a deployment
//! pipeline calls, host snapshots and their diffs, and the audit trail.
//!
//! | | |
//! |---|---|
//! | `POST /api/changes` | one change object, a JSON array, or NDJSON → 201 `{stored, ids}`; all or nothing |
//! | `GET /api/changes?service=&hops=&include=&last=3td\|24h&since=&until=&environment=&operator=` | newest first |
//! | `GET /api/changes/{id}` | the change and the gate's record |
//! | `GET /api/changes/{id}/diff` | per host, the before/after snapshot diff |
//! | `POST /api/changes/check` | the gate: `{decision: allow\|needs_approval\|deny, reasons, approval}` |
//! | `POST /api/snapshots` | a snapshot (see `warroom sensor`) → 201 `{id}` once stored |
//! | `GET /api/snapshots?host=&change_id=` | what is stored, without content |
//! | `GET /api/snapshots/{id}` | one snapshot |
//! | `GET /api/diff?before=ID&after=ID` | the diff of two snapshots |
//! | `GET /api/audit` | the audit trail |

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};
use warroom_core::catalog::Direction;
use warroom_core::changes::{self, ChangeEvent, ChangeQuery, Snapshot};
use warroom_core::event::{Event, Message};
use warroom_core::ports::Store;

use crate::app::Shared;
use crate::errors::{json_error, AppError};

/// Most changes in one bulk request.
const MAX_BULK: usize = 10_000;

/// The routes (mounted behind the bearer-token check).
pub fn routes(snapshot_limit: usize) -> Router<Arc<Shared>> {
    Router::new()
        .route("/api/changes", get(list_changes).post(post_changes))
        .route("/api/changes/check", post(check_change))
        .route("/api/changes/{id}", get(get_change))
        .route("/api/changes/{id}/diff", get(change_diff))
        .route(
            "/api/snapshots",
            get(list_snapshots)
                .post(post_snapshot)
                .layer(DefaultBodyLimit::max(snapshot_limit)),
        )
        .route("/api/snapshots/{id}", get(get_snapshot))
        .route("/api/diff", get(diff_ids))
        .route("/api/audit", get(audit))
}

fn bad_json(e: &serde_json::Error) -> Response {
    json_error(
        StatusCode::BAD_REQUEST,
        "bad_json",
        format!("line {} column {}: {e}", e.line(), e.column()),
    )
}

/// Reads one object, an array, or NDJSON into raw values.
fn raw_values(headers: &HeaderMap, body: &[u8]) -> Result<Vec<Value>, Response> {
    let ndjson = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.contains("ndjson") || c.contains("jsonlines"));
    let values = if ndjson {
        let text = std::str::from_utf8(body).map_err(|_| {
            json_error(
                StatusCode::BAD_REQUEST,
                "bad_encoding",
                "the body is not UTF-8",
            )
        })?;
        let mut out = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            out.push(serde_json::from_str(line).map_err(|e| {
                json_error(
                    StatusCode::BAD_REQUEST,
                    "bad_json",
                    format!("line {}: {e}", i + 1),
                )
            })?);
        }
        out
    } else {
        match serde_json::from_slice::<Value>(body).map_err(|e| bad_json(&e))? {
            Value::Array(items) => items,
            one => vec![one],
        }
    };
    if values.is_empty() {
        return Err(json_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "empty",
            "no change given",
        ));
    }
    if values.len() > MAX_BULK {
        return Err(json_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_many",
            format!(
                "{} changes in one request; at most {MAX_BULK}",
                values.len()
            ),
        ));
    }
    Ok(values)
}

/// Validates every raw change; on any problem, a 422 listing them all by index.
fn validate_all(values: &[Value]) -> Result<Vec<ChangeEvent>, Response> {
    let mut ok = Vec::with_capacity(values.len());
    let mut problems = Vec::new();
    for (i, v) in values.iter().enumerate() {
        match changes::validate(v) {
            Ok(c) => ok.push(c),
            Err(errs) => problems.extend(
                errs.into_iter()
                    .map(|e| json!({ "index": i, "field": e.field, "message": e.message })),
            ),
        }
    }
    if problems.is_empty() {
        return Ok(ok);
    }
    let first = &problems[0];
    let reason = format!(
        "{} problem(s); first: change {} field `{}`: {}",
        problems.len(),
        first["index"],
        first["field"].as_str().unwrap_or_default(),
        first["message"].as_str().unwrap_or_default()
    );
    Err((
        StatusCode::UNPROCESSABLE_ENTITY,
        Json(json!({ "error": "invalid_change", "reason": reason, "problems": problems })),
    )
        .into_response())
}

/// `POST /api/changes`.
async fn post_changes(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let values = match raw_values(&headers, &body) {
        Ok(v) => v,
        Err(r) => return Ok(r),
    };
    let changes = match validate_all(&values) {
        Ok(c) => c,
        Err(r) => return Ok(r),
    };
    let outcome = s.engine.submit(Event::RecordChanges { changes }).await?;
    Ok(match outcome.reply {
        Some(Message::ChangesRecorded { ids }) => (
            StatusCode::CREATED,
            Json(json!({ "stored": ids.len(), "ids": ids })),
        )
            .into_response(),
        _ => json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "not_stored",
            "the changes were not stored",
        ),
    })
}

/// `POST /api/changes/check`: the body is one change, as for `POST /api/changes`.
async fn check_change(State(s): State<Arc<Shared>>, body: Bytes) -> Result<Response, AppError> {
    let value: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return Ok(bad_json(&e)),
    };
    if value.is_array() {
        return Ok(json_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "one_change",
            "the gate checks one change per request",
        ));
    }
    let change = match validate_all(std::slice::from_ref(&value)) {
        Ok(mut c) => c.remove(0),
        Err(r) => return Ok(r),
    };
    let outcome = s.engine.submit(Event::CheckChange { change }).await?;
    Ok(match outcome.reply {
        Some(Message::GateVerdict {
            change,
            verdict,
            approval,
        }) => Json(json!({
            "change_id": change.id,
            "decision": verdict.decision,
            "reasons": verdict.reasons,
            "approval": approval.as_ref().map(|a| a.key()),
            "approval_detail": approval,
        }))
        .into_response(),
        _ => json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "no_verdict",
            "the gate gave no verdict",
        ),
    })
}

#[derive(Deserialize)]
struct ListQuery {
    service: Option<String>,
    hops: Option<u32>,
    include: Option<String>,
    /// `3td` (trading days) or `24h` / `2d`.
    last: Option<String>,
    since: Option<String>,
    until: Option<String>,
    environment: Option<String>,
    operator: Option<String>,
    limit: Option<usize>,
}

fn bad_query(reason: impl Into<String>) -> Response {
    json_error(StatusCode::BAD_REQUEST, "bad_query", reason)
}

fn rfc3339(key: &str, v: &str) -> Result<DateTime<Utc>, Response> {
    DateTime::parse_from_rfc3339(v)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| bad_query(format!("{key}: `{v}` is not an RFC 3339 time")))
}

/// `GET /api/changes`.
async fn list_changes(
    State(s): State<Arc<Shared>>,
    Query(q): Query<ListQuery>,
) -> Result<Response, AppError> {
    let now = Utc::now();
    let since = match (&q.since, &q.last) {
        (Some(_), Some(_)) => return Ok(bad_query("give `since` or `last`, not both")),
        (Some(t), None) => match rfc3339("since", t) {
            Ok(t) => t,
            Err(r) => return Ok(r),
        },
        (None, last) => {
            let words: Vec<String> = last
                .as_deref()
                .unwrap_or("3td")
                .split_whitespace()
                .map(String::from)
                .collect();
            let cfg = &s.config.engine;
            match warroom_core::command::parse_lookback(&words) {
                Some((lookback, n)) if n == words.len() => {
                    match lookback.since(now, cfg.calendars.get(&cfg.market)) {
                        Some(t) => t,
                        None => {
                            return Ok(json_error(
                                StatusCode::UNPROCESSABLE_ENTITY,
                                "calendar_gap",
                                format!("the {} calendar does not cover that range", cfg.market),
                            ))
                        }
                    }
                }
                _ => {
                    return Ok(bad_query(format!(
                        "last: `{}` is not 3td, 24h or 2d",
                        last.as_deref().unwrap_or_default()
                    )))
                }
            }
        }
    };
    let until = match q.until.as_deref().map(|u| rfc3339("until", u)).transpose() {
        Ok(u) => u,
        Err(r) => return Ok(r),
    };
    let include = match q.include.as_deref() {
        None | Some("both") => Direction::Both,
        Some("upstream") | Some("up") => Direction::Upstream,
        Some("downstream") | Some("down") => Direction::Downstream,
        Some(other) => {
            return Ok(bad_query(format!(
                "include: `{other}` is not upstream, downstream or both"
            )))
        }
    };
    let query = ChangeQuery {
        service: q.service.clone(),
        include,
        hops: q.hops.unwrap_or(1).min(10),
        since,
        until,
        environment: q.environment.clone(),
        operator: q.operator.clone(),
    };
    let all = s.store.changes().map_err(AppError::Store)?;
    let catalog = s.catalog.get();
    let found = changes::query(&all, &query, &catalog);
    let limit = q.limit.unwrap_or(500).min(10_000);
    Ok(Json(json!({
        "since": since,
        "total": found.len(),
        "changes": found.into_iter().take(limit).collect::<Vec<_>>(),
    }))
    .into_response())
}

/// `GET /api/changes/{id}`.
async fn get_change(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let all = s.store.changes().map_err(AppError::Store)?;
    let Some(c) = all.into_iter().find(|c| c.id.eq_ignore_ascii_case(&id)) else {
        return Ok(json_error(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no change `{id}`"),
        ));
    };
    let gate = s
        .store
        .gate_records()
        .map_err(AppError::Store)?
        .into_iter()
        .find(|r| r.change == c.id);
    Ok(Json(json!({ "change": c, "gate": gate })).into_response())
}

fn host_diffs(s: &Shared, target: &str) -> Result<Vec<Value>, AppError> {
    let index = s.store.snapshot_index().map_err(AppError::Store)?;
    let mut out = Vec::new();
    for (before, after) in warroom_core::engine::snapshot_pairs(&index, target) {
        let (Some(a), Some(b)) = (
            s.store.snapshot(before.id).map_err(AppError::Store)?,
            s.store.snapshot(after.id).map_err(AppError::Store)?,
        ) else {
            continue;
        };
        out.push(json!({
            "host": after.host, "before": before.id, "after": after.id,
            "diff": changes::diff(&a, &b),
        }));
    }
    Ok(out)
}

/// `GET /api/changes/{id}/diff`.
async fn change_diff(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let hosts = host_diffs(&s, &id)?;
    if hosts.is_empty() {
        return Ok(json_error(
            StatusCode::NOT_FOUND,
            "no_snapshots",
            format!("no host has both a before and an after snapshot for `{id}`"),
        ));
    }
    Ok(Json(json!({ "target": id, "hosts": hosts })).into_response())
}

/// `POST /api/snapshots`: 201 only once the snapshot is stored durably.
async fn post_snapshot(State(s): State<Arc<Shared>>, body: Bytes) -> Result<Response, AppError> {
    let snap = match Snapshot::from_json(&body) {
        Ok(s) => s,
        Err(e) => {
            let status = match e {
                changes::SnapshotError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
                changes::SnapshotError::Malformed { .. } => StatusCode::BAD_REQUEST,
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            };
            return Ok(json_error(status, "invalid_snapshot", e.to_string()));
        }
    };
    let store = s.store.clone();
    let meta = (snap.host.clone(), snap.phase, snap.change_id.clone());
    let id = tokio::task::spawn_blocking(move || store.put_snapshot(&snap))
        .await
        .map_err(|_| AppError::Stopped)?
        .map_err(AppError::Store)?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "id": id, "host": meta.0, "phase": meta.1, "change_id": meta.2 })),
    )
        .into_response())
}

#[derive(Deserialize)]
struct SnapshotQuery {
    host: Option<String>,
    change_id: Option<String>,
}

/// `GET /api/snapshots`.
async fn list_snapshots(
    State(s): State<Arc<Shared>>,
    Query(q): Query<SnapshotQuery>,
) -> Result<Response, AppError> {
    let index = s.store.snapshot_index().map_err(AppError::Store)?;
    let items: Vec<_> = index
        .into_iter()
        .filter(|m| {
            q.host
                .as_ref()
                .is_none_or(|h| m.host.eq_ignore_ascii_case(h))
        })
        .filter(|m| {
            q.change_id.as_ref().is_none_or(|c| {
                m.change_id
                    .as_deref()
                    .is_some_and(|x| x.eq_ignore_ascii_case(c))
            })
        })
        .collect();
    Ok(Json(json!({ "snapshots": items })).into_response())
}

fn snapshot_id(text: &str) -> Result<u64, Response> {
    text.parse().map_err(|_| {
        json_error(
            StatusCode::BAD_REQUEST,
            "bad_id",
            format!("`{text}` is not a snapshot id (a number)"),
        )
    })
}

/// `GET /api/snapshots/{id}`.
async fn get_snapshot(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let id = match snapshot_id(&id) {
        Ok(i) => i,
        Err(r) => return Ok(r),
    };
    Ok(match s.store.snapshot(id).map_err(AppError::Store)? {
        Some(snap) => Json(snap).into_response(),
        None => json_error(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no snapshot {id}"),
        ),
    })
}

#[derive(Deserialize)]
struct DiffQuery {
    before: Option<String>,
    after: Option<String>,
}

/// `GET /api/diff?before=ID&after=ID`.
async fn diff_ids(
    State(s): State<Arc<Shared>>,
    Query(q): Query<DiffQuery>,
) -> Result<Response, AppError> {
    let (Some(b), Some(a)) = (q.before, q.after) else {
        return Ok(bad_query("give `before` and `after` snapshot ids"));
    };
    let (b, a) = match (snapshot_id(&b), snapshot_id(&a)) {
        (Ok(b), Ok(a)) => (b, a),
        (Err(r), _) | (_, Err(r)) => return Ok(r),
    };
    let (Some(x), Some(y)) = (
        s.store.snapshot(b).map_err(AppError::Store)?,
        s.store.snapshot(a).map_err(AppError::Store)?,
    ) else {
        return Ok(json_error(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("snapshot {b} or {a} does not exist"),
        ));
    };
    Ok(Json(json!({ "before": b, "after": a, "diff": changes::diff(&x, &y) })).into_response())
}

/// `GET /api/audit`.
async fn audit(State(s): State<Arc<Shared>>) -> Result<Response, AppError> {
    let trail = s.store.audit().map_err(AppError::Store)?;
    Ok(Json(json!({ "entries": trail })).into_response())
}
