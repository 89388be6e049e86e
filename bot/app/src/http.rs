//! The HTTP server (axum): health, readiness, Prometheus metrics and the incident
//! API. `/api` needs `Authorization: Bearer <token>`; bodies are size-limited;
//! every error is JSON `{"error", "reason"}`.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use warroom_core::command::{Command, MAX_TITLE_CHARS};
use warroom_core::event::{Event, Message, Origin};
use warroom_core::incident::{Incident, IncidentId, Person, Severity, TimelineEntry};
use warroom_core::ports::Store;

use crate::app::Shared;
use crate::errors::{json_error, AppError};

/// The whole HTTP surface.
pub fn router(shared: Arc<Shared>) -> Router {
    let api = Router::new()
        .route("/api/incidents", get(list_incidents).post(create_incident))
        .route("/api/incidents/{id}", get(get_incident))
        .route("/api/services", get(list_services).put(put_services))
        .route(
            "/api/services/import",
            axum::routing::post(import_services_csv),
        )
        .route("/api/services/{name}", get(get_service))
        .route("/api/services/{name}/related", get(related_services))
        .route("/api/oncall", get(oncall))
        .route(
            "/api/schedules/{name}/overrides",
            axum::routing::post(add_override),
        )
        .route("/api/plans", get(list_plans).post(import_plan))
        .route("/api/plans/{id}", get(get_plan).delete(delete_plan))
        .route(
            "/api/plans/{id}/tasks/{task}",
            axum::routing::post(task_action),
        )
        .route("/api/calendar/{market}", get(calendar))
        .merge(crate::http_changes::routes(
            shared.config.snapshot_limit_bytes,
        ))
        .merge(crate::alert_intake::silence_routes())
        .merge(crate::http_knowledge::routes())
        .route_layer(middleware::from_fn_with_state(
            shared.clone(),
            require_token,
        ));
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/api/schedules/{name}/ical", get(ical))
        .merge(crate::alert_intake::routes(
            shared
                .config
                .alerts
                .as_ref()
                .map_or(1024 * 1024, |a| a.body_limit_bytes),
        ))
        .merge(api)
        .fallback(|| async { json_error(StatusCode::NOT_FOUND, "not_found", "no such endpoint") })
        .layer(DefaultBodyLimit::max(shared.config.body_limit_bytes))
        .layer(middleware::from_fn_with_state(shared.clone(), count))
        .with_state(shared)
}

async fn count(State(s): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    if status.is_success() {
        s.metrics.http_ok.fetch_add(1, Ordering::Relaxed);
    } else if status.is_client_error() {
        s.metrics.http_client_errors.fetch_add(1, Ordering::Relaxed);
    }
    resp
}

/// Constant-time comparison, so the token cannot be guessed byte by byte from timings.
pub(crate) fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn require_token(State(s): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match given {
        Some(t) if same(t.trim().as_bytes(), s.api_token.as_bytes()) => next.run(req).await,
        Some(_) => unauthorized("the bearer token is not valid"),
        None => unauthorized("missing `Authorization: Bearer <token>` header"),
    }
}

fn unauthorized(reason: &str) -> Response {
    let mut r = json_error(StatusCode::UNAUTHORIZED, "unauthorized", reason);
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer"),
    );
    r
}

async fn readyz(State(s): State<Arc<Shared>>) -> Response {
    if s.ready.load(Ordering::Relaxed) {
        "ready\n".into_response()
    } else {
        json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "starting or stopping",
        )
    }
}

async fn metrics(State(s): State<Arc<Shared>>) -> Response {
    let pending = s.store.outbox().map(|o| o.len()).unwrap_or(0);
    let incidents = s.store.incidents().unwrap_or_default();
    let cfg = &s.config.engine;
    let response = crate::metrics::ResponseTimes::over(
        &incidents,
        cfg.calendars.get(&cfg.market),
        &cfg.market,
    );
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.metrics.render(pending, &response),
    )
        .into_response()
}

/// An incident in API responses.
#[derive(Serialize)]
struct ApiIncident {
    id: String,
    title: String,
    severity: String,
    status: &'static str,
    services: Vec<String>,
    roles: BTreeMap<String, Person>,
    milestones: BTreeMap<&'static str, DateTime<Utc>>,
    durations: BTreeMap<&'static str, Option<i64>>,
    declared_by: Person,
    declared_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    revision: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    timeline: Option<Vec<TimelineEntry>>,
}

fn api_incident(i: Incident, timeline: Option<Vec<TimelineEntry>>) -> ApiIncident {
    ApiIncident {
        durations: i
            .durations()
            .into_iter()
            .map(|d| (d.kind.key(), d.seconds))
            .collect(),
        milestones: i.milestones.iter().map(|(m, t)| (m.key(), *t)).collect(),
        id: i.id.to_string(),
        title: i.title,
        severity: i.severity.code(),
        status: i.status.key(),
        services: i.services,
        roles: i.roles,
        declared_by: i.declared_by,
        declared_at: i.declared_at,
        updated_at: i.updated_at,
        revision: i.revision,
        timeline,
    }
}

async fn list_incidents(State(s): State<Arc<Shared>>) -> Result<Response, AppError> {
    let all = s.store.incidents().map_err(AppError::Store)?;
    Ok(Json(
        all.into_iter()
            .map(|i| api_incident(i, None))
            .collect::<Vec<_>>(),
    )
    .into_response())
}

async fn get_incident(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let id = match IncidentId::parse(&id) {
        Ok(id) => id,
        Err(e) => return Ok(json_error(StatusCode::BAD_REQUEST, "bad_id", e.to_string())),
    };
    let Some(inc) = s.store.incident(&id).map_err(AppError::Store)? else {
        return Ok(json_error(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no incident {id}"),
        ));
    };
    let timeline = s.store.timeline(&id).map_err(AppError::Store)?;
    Ok(Json(api_incident(inc, Some(timeline))).into_response())
}

/// Body of `POST /api/incidents`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateIncident {
    title: String,
    #[serde(default)]
    severity: Option<String>,
    #[serde(default)]
    services: Vec<String>,
    /// Recorded as the declarer (for the timeline); permissions are the API client's.
    #[serde(default)]
    declared_by: Option<String>,
}

async fn create_incident(
    State(s): State<Arc<Shared>>,
    body: Result<Json<CreateIncident>, JsonRejection>,
) -> Result<Response, AppError> {
    let body = match body {
        Ok(Json(b)) => b,
        Err(rej) => return Ok(json_error(rej.status(), "bad_request", rej.body_text())),
    };
    let title = body.title.trim().to_string();
    if title.is_empty() || title.chars().count() > MAX_TITLE_CHARS {
        return Ok(json_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_title",
            format!("title must be 1 to {MAX_TITLE_CHARS} characters"),
        ));
    }
    let severity = match body.severity.as_deref().map(Severity::parse).transpose() {
        Ok(s) => s,
        Err(e) => {
            return Ok(json_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "bad_severity",
                e.to_string(),
            ))
        }
    };
    if body
        .services
        .iter()
        .any(|x| x.trim().is_empty() || x.len() > 100)
    {
        return Ok(json_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_services",
            "services must be non-empty names of at most 100 bytes",
        ));
    }
    let name = body
        .declared_by
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| "api".into());
    let actor = Person {
        id: "api".into(),
        name: name.chars().take(64).collect(),
    };
    let services = body
        .services
        .iter()
        .map(|x| x.trim().to_lowercase())
        .collect();
    let command = Command::Declare {
        title,
        severity,
        services,
    };
    let outcome = s
        .engine
        .submit(Event::Command {
            origin: Origin::Api,
            actor,
            command,
        })
        .await?;
    match outcome.reply {
        Some(Message::Declared {
            incident, unknown, ..
        }) => {
            let mut body = serde_json::to_value(api_incident(*incident, None))
                .unwrap_or(serde_json::Value::Null);
            if let (Some(o), false) = (body.as_object_mut(), unknown.is_empty()) {
                // As chat warns: a misspelt service pages through the default policy.
                o.insert("unknown_services".into(), serde_json::json!(unknown));
            }
            Ok((StatusCode::CREATED, Json(body)).into_response())
        }
        Some(Message::Denied { .. }) => Ok(json_error(
            StatusCode::FORBIDDEN,
            "forbidden",
            "the API client may not declare incidents (rbac user `api`)",
        )),
        _ => Ok(json_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "rejected",
            "the incident was not declared",
        )),
    }
}

/// `?at=` for endpoints that answer "at a time" (default: now).
#[derive(Deserialize)]
struct AtQuery {
    #[serde(default)]
    at: Option<String>,
}

fn at_or_now(at: Option<&str>) -> Result<DateTime<Utc>, Response> {
    match at {
        None => Ok(Utc::now()),
        Some(t) => DateTime::parse_from_rfc3339(t)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| {
                json_error(
                    StatusCode::BAD_REQUEST,
                    "bad_time",
                    format!("`at` must be RFC 3339, got `{t}`"),
                )
            }),
    }
}

async fn list_services(State(s): State<Arc<Shared>>) -> Response {
    let c = s.catalog.get();
    Json(c.services().cloned().collect::<Vec<_>>()).into_response()
}

async fn get_service(State(s): State<Arc<Shared>>, Path(name): Path<String>) -> Response {
    match s.catalog.get().get(&name) {
        Some(svc) => Json(svc.clone()).into_response(),
        None => json_error(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no service `{name}`"),
        ),
    }
}

#[derive(Deserialize)]
struct RelatedQuery {
    #[serde(default)]
    direction: Option<String>,
    #[serde(default)]
    hops: Option<u32>,
}

async fn related_services(
    State(s): State<Arc<Shared>>,
    Path(name): Path<String>,
    Query(q): Query<RelatedQuery>,
) -> Response {
    use warroom_core::catalog::Direction;
    let direction = match q.direction.as_deref().unwrap_or("both") {
        "up" | "upstream" => Direction::Upstream,
        "down" | "downstream" => Direction::Downstream,
        "both" => Direction::Both,
        other => {
            return json_error(
                StatusCode::BAD_REQUEST,
                "bad_direction",
                format!("`{other}` is not up, down or both"),
            )
        }
    };
    let hops = q.hops.unwrap_or(1);
    if !(1..=10).contains(&hops) {
        return json_error(StatusCode::BAD_REQUEST, "bad_hops", "hops must be 1 to 10");
    }
    let c = s.catalog.get();
    if c.get(&name).is_none() {
        return json_error(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no service `{name}`"),
        );
    }
    Json(c.related(&name, direction, hops)).into_response()
}

async fn store_services(
    s: &Shared,
    services: Vec<warroom_core::catalog::Service>,
) -> Result<Response, AppError> {
    let outcome = s.engine.submit(Event::UpsertServices { services }).await?;
    Ok(match outcome.reply {
        Some(Message::ServicesUpdated { count }) => {
            Json(serde_json::json!({ "stored": count })).into_response()
        }
        Some(Message::Refused {
            problem: warroom_core::event::Refusal::CatalogInvalid { problems },
        }) => json_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_catalog",
            problems.join("; "),
        ),
        _ => json_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "rejected",
            "the services were not stored",
        ),
    })
}

/// `PUT /api/services`: a JSON array of services, added or replacing by name.
async fn put_services(
    State(s): State<Arc<Shared>>,
    body: Result<Json<Vec<warroom_core::catalog::Service>>, JsonRejection>,
) -> Result<Response, AppError> {
    match body {
        Ok(Json(services)) if services.is_empty() => Ok(json_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "empty",
            "no services given",
        )),
        Ok(Json(services)) => store_services(&s, services).await,
        Err(rej) => Ok(json_error(rej.status(), "bad_request", rej.body_text())),
    }
}

/// `POST /api/services/import` with `text/csv`: header
/// `name,owner,tier,depends_on,hosts,namespaces,schedule,escalation_policy`
/// (lists separated by `;`). Errors name the line; nothing is stored on error.
async fn import_services_csv(
    State(s): State<Arc<Shared>>,
    body: String,
) -> Result<Response, AppError> {
    match crate::catalog_csv::parse(&body) {
        Ok(services) if services.is_empty() => Ok(json_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "empty",
            "no services in the CSV",
        )),
        Ok(services) => store_services(&s, services).await,
        Err(e) => Ok(json_error(StatusCode::UNPROCESSABLE_ENTITY, "bad_csv", e)),
    }
}

#[derive(Deserialize)]
struct OnCallQuery {
    #[serde(default)]
    service: Option<String>,
    #[serde(default)]
    team: Option<String>,
    #[serde(default)]
    schedule: Option<String>,
    #[serde(default)]
    at: Option<String>,
}

/// `GET /api/oncall?service=|team=|schedule=&at=`: who is on call.
async fn oncall(State(s): State<Arc<Shared>>, Query(q): Query<OnCallQuery>) -> Response {
    let at = match at_or_now(q.at.as_deref()) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let cfg = &s.config.engine;
    let catalog = s.catalog.get();
    let schedules = s.schedules.get();
    use warroom_core::oncall::Lookup;
    let lookup = match (&q.schedule, &q.service, &q.team) {
        (Some(n), _, _) => Lookup::Schedule(n),
        (None, Some(n), _) => Lookup::Service(n),
        (None, None, Some(n)) => Lookup::Team(n),
        (None, None, None) => Lookup::All,
    };
    let Some(names) = cfg.schedules_for(lookup, &schedules, &catalog) else {
        return json_error(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such schedule, service or team",
        );
    };
    let mut out = Vec::new();
    for n in names {
        let Some(sch) = schedules.get(&n) else {
            continue;
        };
        let oc = sch.on_call(at, &cfg.calendars);
        out.push(serde_json::json!({ "schedule": n, "team": sch.team, "at": at, "person": oc.as_ref().map(|o| &o.person), "layer": oc.as_ref().map(|o| &o.layer) }));
    }
    Json(out).into_response()
}

#[derive(Deserialize)]
struct IcalQuery {
    #[serde(default)]
    days: Option<i64>,
    #[serde(default)]
    token: Option<String>,
}

/// `GET /api/schedules/{name}/ical?days=N&token=…`: the final schedule as iCalendar.
/// Calendar apps cannot send headers, so the token may also come as a query parameter.
async fn ical(
    State(s): State<Arc<Shared>>,
    Path(name): Path<String>,
    Query(q): Query<IcalQuery>,
    headers: axum::http::HeaderMap,
) -> Response {
    let header_ok = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| same(t.trim().as_bytes(), s.api_token.as_bytes()));
    let query_ok = q
        .token
        .as_deref()
        .is_some_and(|t| same(t.as_bytes(), s.api_token.as_bytes()));
    if !header_ok && !query_ok {
        return unauthorized(
            "missing or invalid token (header `Authorization: Bearer` or `?token=`)",
        );
    }
    let schedules = s.schedules.get();
    let Some(sch) = schedules.get(&name) else {
        return json_error(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no schedule `{name}`"),
        );
    };
    let days = q.days.unwrap_or(14);
    if !(1..=90).contains(&days) {
        return json_error(StatusCode::BAD_REQUEST, "bad_days", "days must be 1 to 90");
    }
    let from = Utc::now();
    let body = sch.ical(
        from,
        from + chrono::Duration::days(days),
        &s.config.engine.calendars,
        &s.renderer.word("ical", "on_call"),
        &s.renderer.word("ical", "override"),
    );
    (
        [(header::CONTENT_TYPE, "text/calendar; charset=utf-8")],
        body,
    )
        .into_response()
}

/// `GET /api/calendar/{market}?at=`: sessions and trading-day facts.
async fn calendar(
    State(s): State<Arc<Shared>>,
    Path(market): Path<String>,
    Query(q): Query<AtQuery>,
) -> Response {
    let at = match at_or_now(q.at.as_deref()) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let Some(cal) = s.config.engine.calendars.get(&market) else {
        return json_error(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("unknown market `{market}`"),
        );
    };
    let session = match cal.session_at(at) {
        Ok(sess) => sess,
        Err(e) => {
            return json_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "not_covered",
                e.to_string(),
            )
        }
    };
    Json(serde_json::json!({
        "market": cal.code(),
        "timezone": cal.tz().name(),
        "at": at,
        "trading": session.is_some(),
        "session": session,
        "trading_day": cal.trading_day_of(at).ok(),
        "next_open": cal.next_open(at).ok(),
        "covered_years": cal.covered_years(),
    }))
    .into_response()
}

/// `GET /api/plans`: every plan with its progress.
async fn list_plans(State(s): State<Arc<Shared>>) -> Result<Response, AppError> {
    let now = Utc::now();
    let grace = s.config.engine.task_policy.grace;
    let plans = s.store.plans().map_err(AppError::Store)?;
    Ok(Json(
        plans
            .iter()
            .map(|p| {
                serde_json::json!({
                    "id": p.id, "title": p.title, "kind": p.kind, "coordinator": p.coordinator, "channel": p.channel,
                    "tasks": p.tasks.len(),
                    "done": p.tasks.iter().filter(|t| t.status.is_finished()).count(),
                    "overdue": p.tasks.iter().filter(|t| t.late_by(now, grace).is_some()).count(),
                })
            })
            .collect::<Vec<_>>(),
    )
    .into_response())
}

/// `GET /api/plans/{id}`: the plan, each task with `overdue`.
async fn get_plan(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let now = Utc::now();
    let grace = s.config.engine.task_policy.grace;
    let Some(p) = s
        .store
        .plans()
        .map_err(AppError::Store)?
        .into_iter()
        .find(|p| p.id == id)
    else {
        return Ok(json_error(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no plan `{id}`"),
        ));
    };
    let tasks: Vec<serde_json::Value> = p
        .tasks
        .iter()
        .map(|t| {
            let mut v = serde_json::to_value(t).unwrap_or_default();
            v["overdue"] = serde_json::json!(t.late_by(now, grace).is_some());
            v
        })
        .collect();
    Ok(Json(serde_json::json!({ "id": p.id, "title": p.title, "kind": p.kind, "coordinator": p.coordinator, "channel": p.channel, "created_at": p.created_at, "tasks": tasks })).into_response())
}

/// Query of `POST /api/plans` (CSV needs the plan fields; YAML and JSON carry their own).
#[derive(Deserialize)]
struct ImportQuery {
    #[serde(default)]
    format: Option<String>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    coordinator: Option<String>,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    date: Option<String>,
}

/// `POST /api/plans[?format=csv|yaml|json&id=&title=&coordinator=&channel=&date=]`:
/// imports a plan; every problem is reported with its line and nothing is stored on error.
async fn import_plan(
    State(s): State<Arc<Shared>>,
    Query(q): Query<ImportQuery>,
    headers: axum::http::HeaderMap,
    body: String,
) -> Result<Response, AppError> {
    use crate::plan_import::{self, Format};
    let now = Utc::now();
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let format = match q.format.as_deref() {
        Some("csv") => "csv",
        Some("yaml") | Some("yml") => "yaml",
        Some("json") => "json",
        Some(other) => {
            return Ok(json_error(
                StatusCode::BAD_REQUEST,
                "bad_format",
                format!("`{other}` is not csv, yaml or json"),
            ))
        }
        None if ctype.starts_with("application/json") => "json",
        None if ctype.contains("csv") => "csv",
        None if ctype.contains("yaml") => "yaml",
        None => match plan_import::detect(&body) {
            Format::Csv => "csv",
            Format::Yaml => "yaml",
        },
    };
    let tz = s.config.tz;
    let result = match format {
        "json" => match serde_json::from_str::<warroom_core::tasks::PlanDraft>(&body) {
            Ok(draft) => warroom_core::tasks::Plan::validate(draft)
                .map_err(|issues| vec![plan_import::ImportError::Invalid(issues)]),
            Err(e) => {
                return Ok(json_error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "bad_plan",
                    format!("line {}: {e}", e.line()),
                ))
            }
        },
        "yaml" => plan_import::from_yaml_with(&body, tz, now, &s.config.engine.calendars),
        _ => {
            let (Some(id), Some(coordinator)) = (q.id.clone(), q.coordinator.clone()) else {
                return Ok(json_error(
                    StatusCode::BAD_REQUEST,
                    "missing_plan_fields",
                    "CSV needs ?id=…&coordinator=… (and optionally title, channel, date)",
                ));
            };
            let date = match q
                .date
                .as_deref()
                .map(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d"))
                .transpose()
            {
                Ok(d) => d,
                Err(_) => {
                    return Ok(json_error(
                        StatusCode::BAD_REQUEST,
                        "bad_date",
                        "date must be YYYY-MM-DD",
                    ))
                }
            };
            let meta = plan_import::PlanMeta {
                title: q.title.clone().unwrap_or_else(|| id.clone()),
                id,
                coordinator,
                channel: q.channel.clone(),
                date,
                tz,
            };
            plan_import::from_csv_with(&body, meta, now, &s.config.engine.calendars)
        }
    };
    let plan = match result {
        Ok(p) => p,
        Err(errors) => {
            let mut r = json_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_plan",
                plan_import::render(&errors),
            );
            r.headers_mut()
                .insert("x-import-errors", header::HeaderValue::from(errors.len()));
            return Ok(r);
        }
    };
    // Every reminder and escalation of the plan goes to its channel: one no chat
    // adapter of this bot serves would drop them all.
    if let Some(channel) = plan.channel.as_deref() {
        let mut adapters = vec!["console"];
        if s.config.discord.is_some() {
            adapters.push("discord");
        }
        let served = warroom_core::incident::ChannelRef::parse(channel)
            .is_some_and(|c| adapters.contains(&c.adapter.as_str()));
        if !served {
            return Ok(json_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "bad_channel",
                format!(
                    "channel `{channel}` is not a channel this bot posts to: write adapter:channel-id with one of {}",
                    adapters.join(", ")
                ),
            ));
        }
    }
    let outcome = s
        .engine
        .submit(Event::ImportPlan { plan, actor: None })
        .await?;
    Ok(match outcome.reply {
        Some(Message::PlanImported { plan, tasks, kept }) => (
            StatusCode::CREATED,
            Json(serde_json::json!({ "plan": plan, "tasks": tasks, "kept": kept })),
        )
            .into_response(),
        _ => json_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "rejected",
            "the plan was not stored",
        ),
    })
}

/// `DELETE /api/plans/{id}`.
async fn delete_plan(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let outcome = s
        .engine
        .submit(Event::DeletePlan { plan: id.clone() })
        .await?;
    Ok(match outcome.reply {
        Some(Message::PlanDeleted { .. }) => StatusCode::NO_CONTENT.into_response(),
        _ => json_error(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no plan `{id}`"),
        ),
    })
}

/// `POST /api/plans/{id}/tasks/{task}` with `{"action": "start"|"done"|"skip"|"block"|"reopen", "reason"?, "force"?, "by"?}`.
async fn task_action(
    State(s): State<Arc<Shared>>,
    Path((plan, task)): Path<(String, String)>,
    body: Result<Json<serde_json::Value>, JsonRejection>,
) -> Result<Response, AppError> {
    let mut body = match body {
        Ok(Json(b)) => b,
        Err(rej) => return Ok(json_error(rej.status(), "bad_request", rej.body_text())),
    };
    let by = body
        .get("by")
        .and_then(|v| v.as_str())
        .unwrap_or("api")
        .chars()
        .take(64)
        .collect::<String>();
    if let Some(o) = body.as_object_mut() {
        o.remove("by");
    }
    let action: warroom_core::tasks::TaskAction = match serde_json::from_value(body) {
        Ok(a) => a,
        Err(e) => {
            return Ok(json_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "bad_action",
                format!("{e} (actions: start, done, skip, block with reason, reopen)"),
            ))
        }
    };
    let actor = Person {
        id: "api".into(),
        name: by,
    };
    let outcome = s
        .engine
        .submit(Event::TaskAction {
            plan,
            task,
            action,
            actor,
        })
        .await?;
    Ok(match outcome.reply {
        Some(Message::TaskUpdate { task, events, .. }) => {
            Json(serde_json::json!({ "task": task, "events": events })).into_response()
        }
        Some(Message::Refused { problem }) => {
            use warroom_core::event::Refusal;
            match problem {
                Refusal::UnknownPlan { plan } => json_error(
                    StatusCode::NOT_FOUND,
                    "not_found",
                    format!("no plan `{plan}`"),
                ),
                Refusal::UnknownTask { task } => json_error(
                    StatusCode::NOT_FOUND,
                    "not_found",
                    format!("no task `{task}`"),
                ),
                problem @ (Refusal::Task { .. } | Refusal::TaskRefused { .. }) => json_error(
                    StatusCode::CONFLICT,
                    "refused",
                    crate::errors::refusal_reason(&s.renderer, problem),
                ),
                other => json_error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "refused",
                    crate::errors::refusal_reason(&s.renderer, other),
                ),
            }
        }
        _ => json_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "rejected",
            "nothing was changed",
        ),
    })
}

/// Body of `POST /api/schedules/{name}/overrides`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewOverride {
    person: String,
    #[serde(default)]
    start: Option<DateTime<Utc>>,
    end: DateTime<Utc>,
}

/// `POST /api/schedules/{name}/overrides` `{"person", "start"?, "end"}` (RFC 3339; start defaults to now).
async fn add_override(
    State(s): State<Arc<Shared>>,
    Path(name): Path<String>,
    body: Result<Json<NewOverride>, JsonRejection>,
) -> Result<Response, AppError> {
    let o = match body {
        Ok(Json(o)) => o,
        Err(rej) => return Ok(json_error(rej.status(), "bad_request", rej.body_text())),
    };
    let start = o.start.unwrap_or_else(Utc::now);
    let outcome = s
        .engine
        .submit(Event::AddOverride {
            schedule: name,
            person: o.person,
            start,
            end: o.end,
        })
        .await?;
    Ok(match outcome.reply {
        Some(Message::OverrideSet { schedule, person, start, end }) => {
            (StatusCode::CREATED, Json(serde_json::json!({ "schedule": schedule, "person": person, "start": start, "end": end }))).into_response()
        }
        Some(Message::Refused { problem: warroom_core::event::Refusal::UnknownOnCall { query, .. } }) => json_error(StatusCode::NOT_FOUND, "not_found", format!("no schedule `{query}`")),
        _ => json_error(StatusCode::UNPROCESSABLE_ENTITY, "rejected", "the override needs a person and an end after its start"),
    })
}
