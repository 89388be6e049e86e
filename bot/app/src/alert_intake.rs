//! Alert intake: the webhook sources (Alertmanager v4, Grafana, generic events),
//! per-source authentication, and the durable alert log with group commit.
//!
//! A request is answered 202 only after its alerts are in the log and the log is
//! flushed. Concurrent requests share one write and one flush (group commit): the
//! writer takes everything queued, appends it as one batch, flushes once, answers
//! every waiter, then hands the alerts to the engine in log order (and waits when the
//! engine is `FORWARD` batches behind: backpressure instead of a growing queue).
//!
//! | | |
//! |---|---|
//! | `POST /api/alerts/alertmanager` | Alertmanager webhook v4 body |
//! | `POST /api/alerts/grafana` | Grafana unified alerting webhook body |
//! | `POST /api/v2/alerts` | what Prometheus sends to an Alertmanager (a list of alerts; resolved = `endsAt` passed) |
//! | `POST /api/events` | `{"dedup_key", "event_action": trigger\|acknowledge\|resolve, "payload": {...}}` |
//! | `GET/POST /api/silences`, `DELETE /api/silences/{id}` | silences |
//! | `GET/POST /api/v2/silences`, `DELETE /api/v2/silence/{id}` | the same silences in Alertmanager's API v2 shape (amtool, Grafana) |
//! | `GET /api/v2/alerts`, `GET /api/v2/alerts/groups`, `GET /api/v2/status` | the alerts firing now, alone or by route group, and the server's status, in the same shape |

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::{mpsc, oneshot};
use tracing::warn;
use warroom_core::alerts::{self, Alert, Matcher, Silence};
use warroom_core::event::{Event, Message};
use warroom_core::ports::Store;

use crate::alert_sink::{AlertSink, IngestError};
use crate::app::{EngineHandle, Shared};
use crate::errors::{json_error, AppError};
use crate::store_sled::SledStore;

/// Most batches written by one group commit.
const GROUP: usize = 4096;

/// Logged batches waiting for the engine before the writer stops taking more.
const FORWARD: usize = 256;

type Waiter = (Vec<Alert>, oneshot::Sender<Result<(), IngestError>>);

/// The durable alert log's front door ([`AlertSink`]).
pub struct Intake {
    tx: mpsc::Sender<Waiter>,
    metrics: Arc<crate::metrics::Metrics>,
}

impl Intake {
    /// Starts the writer and the forwarder to the engine; `metrics` counts the
    /// alerts every source hands in.
    pub fn start(
        store: Arc<SledStore>,
        engine: EngineHandle,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> Arc<Self> {
        let (tx, mut rx) = mpsc::channel::<Waiter>(GROUP);
        // Bounded: when the engine falls behind, the writer waits here, new requests
        // wait for the writer, and senders see slower 202s instead of the bot's memory
        // filling with logged alerts.
        let (fwd_tx, mut fwd_rx) = mpsc::channel::<(DateTime<Utc>, Vec<Alert>)>(FORWARD);
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut waiters = vec![first];
                while waiters.len() < GROUP {
                    match rx.try_recv() {
                        Ok(w) => waiters.push(w),
                        Err(_) => break,
                    }
                }
                let at = Utc::now();
                let mut replies = Vec::with_capacity(waiters.len());
                let mut alerts: Vec<Alert> = Vec::new();
                for (a, reply) in waiters {
                    alerts.extend(a);
                    replies.push(reply);
                }
                let s = store.clone();
                let batch = vec![(at, alerts)];
                let (result, batch) = match tokio::task::spawn_blocking(move || {
                    let r = s.append_alerts(&batch);
                    (r, batch)
                })
                .await
                {
                    Ok((r, b)) => (r.map_err(|e| IngestError::Store(e.to_string())), b),
                    Err(_) => (Err(IngestError::Stopped), Vec::new()),
                };
                let ok = result.is_ok();
                for reply in replies {
                    let _ = reply.send(result.clone());
                }
                if ok {
                    for b in batch {
                        let _ = fwd_tx.send(b).await;
                    }
                }
            }
        });
        let counts = metrics.clone();
        tokio::spawn(async move {
            while let Some((at, alerts)) = fwd_rx.recv().await {
                let n = alerts.len() as u64;
                let event = Event::Alerts {
                    alerts,
                    received_at: at,
                };
                match engine.submit(event).await {
                    Ok(_) => {
                        counts
                            .alerts_pipelined
                            .fetch_add(n, std::sync::atomic::Ordering::Relaxed);
                    }
                    // Logged alerts are replayed at the next start-up.
                    Err(e) => warn!(error = %e, "the engine did not take logged alerts"),
                }
            }
        });
        Arc::new(Self { tx, metrics })
    }
}

impl AlertSink for Intake {
    fn accept(
        &self,
        alerts: Vec<Alert>,
    ) -> Pin<Box<dyn Future<Output = Result<(), IngestError>> + Send + '_>> {
        Box::pin(async move {
            if alerts.is_empty() {
                return Ok(());
            }
            self.metrics
                .alerts_received
                .fetch_add(alerts.len() as u64, std::sync::atomic::Ordering::Relaxed);
            let (tx, rx) = oneshot::channel();
            self.tx
                .send((alerts, tx))
                .await
                .map_err(|_| IngestError::Stopped)?;
            rx.await.map_err(|_| IngestError::Stopped)?
        })
    }
}

/// How each source is authenticated, with secrets read once at start-up.
#[derive(Clone, Default)]
pub struct SourceSecrets {
    by_source: BTreeMap<String, Secret>,
}

#[derive(Clone)]
enum Secret {
    Bearer(String),
    Hmac(Vec<u8>),
}

impl SourceSecrets {
    /// Reads the environment variables named in `[alerts.auth]`.
    ///
    /// # Errors
    /// The first variable that is unset or empty (named, never its value).
    pub fn from_config(cfg: &crate::alerts_config::AlertsConfig) -> anyhow::Result<Self> {
        let mut by_source = BTreeMap::new();
        for (name, a) in &cfg.auth {
            let (var, hmac) = match (&a.token_env, &a.hmac_secret_env) {
                (Some(t), _) => (t, false),
                (None, Some(h)) => (h, true),
                (None, None) => continue,
            };
            let v = std::env::var(var)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| {
                    anyhow::anyhow!("alerts.auth.{name}: set the environment variable {var}")
                })?;
            let v = v.trim().to_string();
            by_source.insert(
                name.clone(),
                if hmac {
                    Secret::Hmac(v.into_bytes())
                } else {
                    Secret::Bearer(v)
                },
            );
        }
        Ok(Self { by_source })
    }
}

use crate::audit_chain::{hex, hmac_sha256};
use crate::http::same;

fn unauthorized(reason: &str) -> Response {
    json_error(StatusCode::UNAUTHORIZED, "unauthorized", reason)
}

/// Checks the request against the source's secret (the API token by default).
fn authorize(s: &Shared, source: &str, headers: &HeaderMap, body: &[u8]) -> Result<(), Response> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match s.alert_secrets.by_source.get(source) {
        Some(Secret::Hmac(key)) => {
            let given = headers
                .get("x-warroom-signature")
                .and_then(|v| v.to_str().ok())
                .map(|v| v.trim().trim_start_matches("sha256="))
                .ok_or_else(|| {
                    unauthorized("missing `X-Warroom-Signature: sha256=<hex>` header")
                })?;
            let want = hex(&hmac_sha256(key, body));
            if same(given.to_ascii_lowercase().as_bytes(), want.as_bytes()) {
                Ok(())
            } else {
                Err(unauthorized(
                    "the body's HMAC-SHA256 signature does not match",
                ))
            }
        }
        Some(Secret::Bearer(t)) => match bearer {
            Some(b) if same(b.as_bytes(), t.as_bytes()) => Ok(()),
            Some(_) => Err(unauthorized(
                "the bearer token is not valid for this source",
            )),
            None => Err(unauthorized(
                "missing `Authorization: Bearer <token>` header",
            )),
        },
        None => match bearer {
            Some(b) if same(b.as_bytes(), s.api_token.as_bytes()) => Ok(()),
            Some(_) => Err(unauthorized("the bearer token is not valid")),
            None => Err(unauthorized(
                "missing `Authorization: Bearer <token>` header",
            )),
        },
    }
}

/// The alert routes (their own authentication, so mounted outside the API token layer).
pub fn routes(body_limit: usize) -> Router<Arc<Shared>> {
    Router::new()
        .route("/api/alerts/alertmanager", post(alertmanager))
        .route("/api/alerts/grafana", post(grafana))
        // Prometheus's own alert push, so `alerting.alertmanagers` can point here.
        .route("/api/v2/alerts", post(prometheus))
        .route("/api/events", post(events))
        .layer(DefaultBodyLimit::max(body_limit))
}

/// Silence routes (behind the API token).
pub fn silence_routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/api/silences", get(list_silences).post(add_silence))
        .route("/api/silences/{id}", delete(expire_silence))
        // Alertmanager's API v2, so amtool and Grafana's Alertmanager data source can
        // list, add and expire silences here.
        .route(
            "/api/v2/silences",
            get(am_list_silences).post(am_add_silence),
        )
        .route(
            "/api/v2/silence/{id}",
            get(am_get_silence).delete(am_expire_silence),
        )
        .route("/api/v2/status", get(am_status))
        .route("/api/v2/alerts", get(am_list_alerts))
        .route("/api/v2/alerts/groups", get(am_alert_groups))
}

/// A webhook body, or why it could not be read (too large, cut off).
type Body = Result<Bytes, BytesRejection>;

/// The answer to a body that could not be read, as JSON like every other refusal; a
/// body over the limit is told the limit.
fn body_refused(s: &Shared, e: &BytesRejection) -> Response {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        let limit = s
            .config
            .alerts
            .as_ref()
            .map_or(1024 * 1024, |a| a.body_limit_bytes);
        return json_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!(
                "the body is larger than the {limit} bytes an alert request may have ([alerts] body_limit_bytes); send fewer alerts per request"
            ),
        );
    }
    json_error(e.status(), "unreadable_body", e.body_text())
}

async fn take(
    s: Arc<Shared>,
    source: &str,
    headers: HeaderMap,
    body: Body,
    parse: impl FnOnce(&[u8]) -> Result<Vec<Alert>, alerts::AlertParseError>,
) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(e) => return body_refused(&s, &e),
    };
    if let Err(r) = authorize(&s, source, &headers, &body) {
        return r;
    }
    let Some(intake) = s.intake.as_ref() else {
        return json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "alerts_off",
            "the alert pipeline is switched off ([alerts] enabled = false)",
        );
    };
    let parsed = match parse(&body) {
        Ok(a) => a,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, "invalid_alerts", e.to_string()),
    };
    let n = parsed.len();
    // An event's key, made from its labels when the sender gave none, so the sender
    // can acknowledge and resolve it (as PagerDuty's Events API answers).
    let key = (source == "events")
        .then(|| parsed.first().map(|a| a.fingerprint.clone()))
        .flatten();
    match intake.accept(parsed).await {
        Ok(()) => {
            let mut body = json!({ "accepted": n });
            if let Some(k) = key {
                body["dedup_key"] = json!(k);
            }
            (StatusCode::ACCEPTED, Json(body)).into_response()
        }
        Err(e) => json_error(StatusCode::SERVICE_UNAVAILABLE, "not_stored", e.to_string()),
    }
}

async fn alertmanager(State(s): State<Arc<Shared>>, headers: HeaderMap, body: Body) -> Response {
    take(s, "alertmanager", headers, body, alerts::parse_alertmanager).await
}

async fn grafana(State(s): State<Arc<Shared>>, headers: HeaderMap, body: Body) -> Response {
    take(s, "grafana", headers, body, alerts::parse_grafana).await
}

async fn prometheus(State(s): State<Arc<Shared>>, headers: HeaderMap, body: Body) -> Response {
    let now = Utc::now();
    take(s, "prometheus", headers, body, |b| {
        alerts::parse_prometheus(b, now)
    })
    .await
}

async fn events(State(s): State<Arc<Shared>>, headers: HeaderMap, body: Body) -> Response {
    let now = Utc::now();
    let custom: Vec<String> = s
        .config
        .engine
        .alerts
        .as_ref()
        .map(|a| a.declare.severity_map.keys().cloned().collect())
        .unwrap_or_default();
    let known = move |w: &str| {
        let w = w.trim().to_lowercase();
        custom.iter().any(|c| *c == w)
    };
    take(s, "events", headers, body, move |b| {
        alerts::parse_event_with(b, now, &known)
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewSilence {
    matchers: Vec<String>,
    #[serde(default)]
    starts_at: Option<DateTime<Utc>>,
    #[serde(default)]
    ends_at: Option<DateTime<Utc>>,
    /// `2h`, `30m`; instead of `ends_at`.
    #[serde(default)]
    duration: Option<String>,
    #[serde(default)]
    recurrence: Option<alerts::Recurrence>,
    #[serde(default)]
    created_by: Option<String>,
    #[serde(default)]
    comment: String,
    #[serde(default)]
    id: Option<String>,
}

async fn add_silence(State(s): State<Arc<Shared>>, body: Bytes) -> Result<Response, AppError> {
    let bad =
        |reason: String| json_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_silence", reason);
    let n: NewSilence = match serde_json::from_slice(&body) {
        Ok(n) => n,
        Err(e) => return Ok(bad(e.to_string())),
    };
    let mut matchers = Vec::new();
    for m in &n.matchers {
        match Matcher::parse(m) {
            Ok(x) => matchers.push(x),
            Err(e) => return Ok(bad(format!("matcher `{m}`: {e}"))),
        }
    }
    let now = Utc::now();
    let starts_at = n.starts_at.unwrap_or(now);
    let ends_at = match (&n.ends_at, &n.duration) {
        (Some(_), Some(_)) => return Ok(bad("give ends_at or duration, not both".into())),
        (Some(e), None) => Some(*e),
        (None, Some(d)) => match alerts::Dur::parse(d) {
            Ok(d) => Some(starts_at + d.get()),
            Err(_) => return Ok(bad(format!("duration `{d}` is not like 30m or 2h"))),
        },
        (None, None) if n.recurrence.is_some() => None,
        (None, None) => return Ok(bad("give ends_at or duration (or a recurrence)".into())),
    };
    let silence = Silence {
        id: n
            .id
            .unwrap_or_else(|| format!("S-API-{}", now.timestamp_nanos_opt().unwrap_or_default())),
        matchers,
        starts_at,
        ends_at,
        recurrence: n.recurrence,
        created_by: n.created_by.unwrap_or_else(|| "api".into()),
        comment: n.comment,
        updated_at: None,
    };
    Ok(match store_silence(&s, silence).await? {
        Ok(silence) => (StatusCode::CREATED, Json(silence)).into_response(),
        Err(reason) => bad(reason),
    })
}

/// Hands a silence to the engine: the stored silence, or why it was refused.
async fn store_silence(s: &Shared, silence: Silence) -> Result<Result<Silence, String>, AppError> {
    Ok(submit_silence(s, Event::AddSilence { silence })
        .await?
        .map_err(|e| e.unwrap_or_else(|| "no such silence".into())))
}

/// Hands a silence event to the engine: the stored silence, `None` when the silence
/// to change does not exist, or why it was refused.
async fn submit_silence(
    s: &Shared,
    event: Event,
) -> Result<Result<Silence, Option<String>>, AppError> {
    let outcome = s.engine.submit(event).await?;
    Ok(match outcome.reply {
        Some(Message::SilenceSet { silence }) => Ok(silence),
        Some(Message::Refused {
            problem: warroom_core::event::Refusal::UnknownSilence { .. },
        }) => Err(None),
        Some(Message::Refused { problem }) => {
            Err(Some(crate::errors::refusal_reason(&s.renderer, problem)))
        }
        _ => Err(Some("the silence was not stored".into())),
    })
}

/// A matcher as Alertmanager's API v2 writes it.
#[derive(Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct AmMatcher {
    name: String,
    value: String,
    #[serde(default)]
    is_regex: bool,
    #[serde(default = "yes")]
    is_equal: bool,
}

fn yes() -> bool {
    true
}

/// `POST /api/v2/silences` body (Alertmanager's `postableSilence`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AmSilence {
    #[serde(default)]
    id: Option<String>,
    matchers: Vec<AmMatcher>,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    #[serde(default)]
    created_by: String,
    #[serde(default)]
    comment: String,
}

async fn am_add_silence(State(s): State<Arc<Shared>>, body: Bytes) -> Result<Response, AppError> {
    let bad = |reason: String| json_error(StatusCode::BAD_REQUEST, "invalid_silence", reason);
    let n: AmSilence = match serde_json::from_slice(&body) {
        Ok(n) => n,
        Err(e) => return Ok(bad(e.to_string())),
    };
    let mut matchers = Vec::new();
    for m in &n.matchers {
        let op = match (m.is_regex, m.is_equal) {
            (false, true) => alerts::MatchOp::Eq,
            (false, false) => alerts::MatchOp::Ne,
            (true, true) => alerts::MatchOp::Re,
            (true, false) => alerts::MatchOp::NotRe,
        };
        match Matcher::new(&m.name, op, &m.value) {
            Ok(x) => matchers.push(x),
            Err(e) => return Ok(bad(format!("matcher `{}`: {e}", m.name))),
        }
    }
    let now = Utc::now();
    let fresh_id = format!("S-AM-{}", now.timestamp_nanos_opt().unwrap_or_default());
    // With an id it is `amtool silence update`: the engine keeps the id or ends the old
    // silence and adds this one anew, as Alertmanager does.
    let update = n.id.filter(|i| !i.trim().is_empty());
    let silence = Silence {
        id: update.clone().unwrap_or_else(|| fresh_id.clone()),
        matchers,
        starts_at: if update.is_some() {
            n.starts_at
        } else {
            n.starts_at.max(now)
        },
        ends_at: Some(n.ends_at),
        recurrence: None,
        created_by: if n.created_by.trim().is_empty() {
            "alertmanager-api".into()
        } else {
            n.created_by
        },
        comment: n.comment,
        updated_at: None,
    };
    let event = match update {
        Some(_) => Event::UpdateSilence { silence, fresh_id },
        None => Event::AddSilence { silence },
    };
    Ok(match submit_silence(&s, event).await? {
        Ok(silence) => Json(json!({ "silenceID": silence.id })).into_response(),
        Err(None) => json_error(StatusCode::NOT_FOUND, "not_found", "silence not found"),
        Err(Some(reason)) => bad(reason),
    })
}

/// `GET /api/v2/silences[?filter=M&filter=…]`: the silences in force, to come and
/// ended within five days, as Alertmanager's `gettableSilences` in its order (active
/// by end, pending by start, expired latest end first). Each `filter` is a matcher
/// (`alertname="X"`, `team=~"db.*"`, what `amtool silence query` sends) that a listed
/// silence has among its own, as Alertmanager 0.25 (Debian's) lists them.
async fn am_list_silences(
    State(s): State<Arc<Shared>>,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let filters = match filters(&query) {
        Ok(f) => f,
        Err(bad) => return Ok(bad),
    };
    let Some((current, ended)) = current_silences(&s).await? else {
        return Ok(no_pipeline());
    };
    let now = Utc::now();
    let tz = silence_tz(&s);
    let mut listed: Vec<&Silence> = current
        .iter()
        .chain(&ended)
        .filter(|x| filter_matches(&filters, x))
        .collect();
    let rank = |x: &Silence| match am_state(x, now, tz) {
        "active" => 0,
        "pending" => 1,
        _ => 2,
    };
    listed.sort_by(|a, b| {
        let by_time = match rank(a) {
            0 => a
                .ends_at
                .is_none()
                .cmp(&b.ends_at.is_none())
                .then(a.ends_at.cmp(&b.ends_at)),
            1 => a.starts_at.cmp(&b.starts_at),
            _ => b.ends_at.cmp(&a.ends_at),
        };
        rank(a)
            .cmp(&rank(b))
            .then(by_time)
            .then_with(|| a.id.cmp(&b.id))
    });
    let out: Vec<serde_json::Value> = listed.iter().map(|x| am_silence(x, now, tz)).collect();
    Ok(Json(out).into_response())
}

/// `GET /api/v2/status`, as Alertmanager's `alertmanagerStatus`: what Grafana's
/// Alertmanager data source calls when it is tested, and `amtool config show`. There
/// is no cluster and no Alertmanager configuration file; `config.original` says so.
async fn am_status(State(s): State<Arc<Shared>>) -> Json<serde_json::Value> {
    Json(json!({
        "cluster": {"status": "disabled", "peers": []},
        "versionInfo": {
            "version": env!("CARGO_PKG_VERSION"),
            "branch": "", "revision": "", "buildUser": "warroom", "buildDate": "",
            "goVersion": "",
        },
        "config": {"original": "# warroom: routes, inhibit rules and silences are in the [alerts] section of its TOML configuration\n"},
        "uptime": s.started_at,
    }))
}

/// `GET /api/v2/alerts[?filter=M&…&receiver=R&active=&silenced=&inhibited=]`: the
/// alerts firing now, as Alertmanager's `gettableAlerts` (what `amtool alert query` and
/// Grafana list). A silenced or inhibited alert is `suppressed` with the silence or the
/// inhibiting alert's fingerprint; one held as flapping or chronic noise is `active`
/// (Alertmanager has no such state), and so is one below the paging severity.
async fn am_list_alerts(
    State(s): State<Arc<Shared>>,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let listed = match queried_alerts(&s, &query).await? {
        Ok(l) => l,
        Err(r) => return Ok(r),
    };
    let out: Vec<serde_json::Value> = listed.into_iter().map(|(_, v)| v).collect();
    Ok(Json(out).into_response())
}

/// `GET /api/v2/alerts/groups[?filter=…&receiver=…&active=…]`: the same alerts by the
/// group each route puts them in, as Alertmanager's `alertGroups` (Grafana's alert
/// groups view): one entry per receiver and group labels, ordered by labels, then
/// receiver; an alert taken by two routes is in both groups.
async fn am_alert_groups(
    State(s): State<Arc<Shared>>,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let receiver = match receiver_filter(&query) {
        Ok(r) => r,
        Err(bad) => return Ok(bad),
    };
    let listed = match queried_alerts(&s, &query).await? {
        Ok(l) => l,
        Err(r) => return Ok(r),
    };
    let mut groups: BTreeMap<(&alerts::Labels, &str), Vec<&serde_json::Value>> = BTreeMap::new();
    for (a, v) in &listed {
        for r in &a.routes {
            if receiver.as_ref().is_none_or(|re| re.is_match(&r.receiver)) {
                let g = groups.entry((&r.group, &r.receiver)).or_default();
                // Two routes with the same receiver and group labels: listed once.
                if !g.iter().any(|x| std::ptr::eq(*x, v)) {
                    g.push(v);
                }
            }
        }
    }
    let out: Vec<serde_json::Value> = groups
        .into_iter()
        .map(|((labels, name), alerts)| {
            json!({"labels": labels, "receiver": {"name": name}, "alerts": alerts})
        })
        .collect();
    Ok(Json(out).into_response())
}

/// The firing alerts an Alertmanager API query selects (`filter` matchers, `receiver`,
/// the `active` / `silenced` / `inhibited` flags), each with its `gettableAlert`; or the
/// 400 for a bad parameter.
async fn queried_alerts(
    s: &Shared,
    query: &[(String, String)],
) -> Result<Result<Vec<(alerts::FiringAlert, serde_json::Value)>, Response>, AppError> {
    let matchers = match filters(query) {
        Ok(f) => f.iter().map(ToString::to_string).collect(),
        Err(bad) => return Ok(Err(bad)),
    };
    let receiver = match receiver_filter(query) {
        Ok(r) => r,
        Err(bad) => return Ok(Err(bad)),
    };
    // Each flag as Go's strconv.ParseBool reads it; absent is true.
    let flag = |name: &str| {
        query
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .is_none_or(|(_, v)| matches!(v.to_ascii_lowercase().as_str(), "1" | "t" | "true"))
    };
    let (active, silenced, inhibited) = (flag("active"), flag("silenced"), flag("inhibited"));
    let outcome = s
        .engine
        .submit(Event::Command {
            origin: warroom_core::event::Origin::Api,
            actor: warroom_core::engine::alerts_actor(),
            command: warroom_core::command::Command::AlertList { matchers },
        })
        .await?;
    let Some(Message::AlertList { alerts }) = outcome.reply else {
        return Ok(Err(no_pipeline()));
    };
    let now = Utc::now();
    Ok(Ok(alerts
        .into_iter()
        .filter(|a| {
            receiver
                .as_ref()
                .is_none_or(|re| a.routes.iter().any(|r| re.is_match(&r.receiver)))
        })
        .filter_map(|a| {
            let (silenced_by, inhibited_by): (Vec<&str>, Vec<&str>) = match &a.suppressed {
                Some(alerts::SuppressReason::Silenced { silence }) => (vec![silence], vec![]),
                Some(alerts::SuppressReason::Inhibited { by }) => (vec![], vec![by]),
                _ => (vec![], vec![]),
            };
            let (shown, state) = match (silenced_by.is_empty(), inhibited_by.is_empty()) {
                (true, true) => (active, "active"),
                (false, _) => (silenced, "suppressed"),
                (_, false) => (inhibited, "suppressed"),
            };
            let receivers: Vec<serde_json::Value> = a
                .routes
                .iter()
                .map(|r| json!({"name": r.receiver}))
                .collect();
            let v = json!({
                "fingerprint": a.fingerprint,
                "labels": a.labels,
                "annotations": a.annotations,
                "startsAt": a.starts_at,
                // Alertmanager's default resolve_timeout ahead when the sender gave none.
                "endsAt": a.ends_at.unwrap_or(now + chrono::Duration::minutes(5)),
                "updatedAt": a.updated_at,
                "receivers": receivers,
                "status": {"state": state, "silencedBy": silenced_by, "inhibitedBy": inhibited_by},
            });
            shown.then_some((a, v))
        })
        .collect()))
}

/// The `receiver` parameter: a regular expression that must match a receiver's whole
/// name (as Alertmanager anchors it), or a 400.
fn receiver_filter(query: &[(String, String)]) -> Result<Option<regex::Regex>, Response> {
    let Some((_, r)) = query.iter().rev().find(|(k, _)| k == "receiver") else {
        return Ok(None);
    };
    regex::Regex::new(&format!("^(?:{r})$"))
        .map(Some)
        .map_err(|e| {
            json_error(
                StatusCode::BAD_REQUEST,
                "invalid_receiver",
                format!("receiver `{r}`: {e}"),
            )
        })
}

/// `GET /api/v2/silence/{id}`: one silence, as Alertmanager's `gettableSilence`.
async fn am_get_silence(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let Some((current, ended)) = current_silences(&s).await? else {
        return Ok(no_pipeline());
    };
    Ok(match current.iter().chain(&ended).find(|x| x.id == id) {
        Some(x) => Json(am_silence(x, Utc::now(), silence_tz(&s))).into_response(),
        None => json_error(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no silence `{id}`"),
        ),
    })
}

/// The zone recurring silences are read in: the pipeline's.
fn silence_tz(s: &Shared) -> chrono_tz::Tz {
    s.config
        .engine
        .alerts
        .as_ref()
        .and_then(|a| a.timezone.parse().ok())
        .unwrap_or(s.config.engine.tz)
}

/// Alertmanager's state of a silence at `now`; a recurring window (from the
/// configuration) outside its hours is `pending`.
fn am_state(x: &Silence, now: DateTime<Utc>, tz: chrono_tz::Tz) -> &'static str {
    if x.is_expired(now) {
        "expired"
    } else if x.is_active(now, tz) {
        "active"
    } else {
        "pending"
    }
}

/// The `endsAt` written for a silence without an end (a configured one): Alertmanager's
/// clients (`amtool`, Grafana) need a time there.
const NO_END: &str = "9999-12-31T23:59:59Z";

/// A silence as Alertmanager's API v2 writes it.
fn am_silence(x: &Silence, now: DateTime<Utc>, tz: chrono_tz::Tz) -> serde_json::Value {
    let matchers: Vec<AmMatcher> = x
        .matchers
        .iter()
        .map(|m| AmMatcher {
            name: m.name().to_string(),
            value: m.value().to_string(),
            is_regex: matches!(m.op(), alerts::MatchOp::Re | alerts::MatchOp::NotRe),
            is_equal: matches!(m.op(), alerts::MatchOp::Eq | alerts::MatchOp::Re),
        })
        .collect();
    json!({
        "id": x.id,
        "status": {"state": am_state(x, now, tz)},
        "updatedAt": x.updated_at.unwrap_or(x.starts_at.min(now)),
        "matchers": matchers,
        "startsAt": x.starts_at,
        "endsAt": x.ends_at.map_or_else(|| json!(NO_END), |e| json!(e)),
        "createdBy": x.created_by,
        "comment": x.comment,
    })
}

/// The `filter` parameters (label matchers, as `amtool` sends them), or a 400 naming
/// the first that is not a matcher.
fn filters(query: &[(String, String)]) -> Result<Vec<Matcher>, Response> {
    query
        .iter()
        .filter(|(k, _)| k == "filter")
        .map(|(_, v)| {
            Matcher::parse(v).map_err(|e| {
                json_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_filter",
                    format!("filter `{v}`: {e}"),
                )
            })
        })
        .collect()
}

/// Whether silence `x` has every filter among its matchers: the same label, operator
/// and value (`service=~"order-.*"` finds the silence made with exactly that matcher,
/// not one made with `service="order-router"`), as Alertmanager 0.25 filters.
fn filter_matches(filters: &[Matcher], x: &Silence) -> bool {
    filters.iter().all(|f| {
        x.matchers
            .iter()
            .any(|m| m.name() == f.name() && m.op() == f.op() && m.value() == f.value())
    })
}

/// `DELETE /api/v2/silence/{id}`: 200, also for a silence that had already ended
/// (Alertmanager 0.25 answers so and changes nothing), or 404.
async fn am_expire_silence(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    end_silence(&s, &id, StatusCode::OK, StatusCode::OK).await
}

/// Ends silence `id`: `done`, `again` when it had already ended, or 404.
async fn end_silence(
    s: &Shared,
    id: &str,
    done: StatusCode,
    again: StatusCode,
) -> Result<Response, AppError> {
    let outcome = s
        .engine
        .submit(Event::ExpireSilence { id: id.to_string() })
        .await?;
    Ok(match outcome.reply {
        Some(Message::SilenceEnded { .. }) => done.into_response(),
        Some(Message::Refused {
            problem: warroom_core::event::Refusal::SilenceEnded { .. },
        }) if again.is_success() => again.into_response(),
        Some(Message::Refused {
            problem: warroom_core::event::Refusal::SilenceEnded { .. },
        }) => json_error(
            again,
            "already_ended",
            format!("silence `{id}` has already ended"),
        ),
        _ => json_error(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no silence `{id}`"),
        ),
    })
}

/// `DELETE /api/silences/{id}`: 204, 409 when it had already ended, or 404.
async fn expire_silence(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    end_silence(&s, &id, StatusCode::NO_CONTENT, StatusCode::CONFLICT).await
}

/// The silences in force or to come, and those ended within five days; `None`
/// without an alert pipeline.
async fn current_silences(s: &Shared) -> Result<Option<(Vec<Silence>, Vec<Silence>)>, AppError> {
    let outcome = s
        .engine
        .submit(Event::Command {
            origin: warroom_core::event::Origin::Api,
            actor: warroom_core::engine::alerts_actor(),
            command: warroom_core::command::Command::SilenceList,
        })
        .await?;
    Ok(match outcome.reply {
        Some(Message::SilenceList { silences, ended }) => Some((silences, ended)),
        _ => None,
    })
}

fn no_pipeline() -> Response {
    json_error(
        StatusCode::SERVICE_UNAVAILABLE,
        "alerts_off",
        "no alert pipeline",
    )
}

async fn list_silences(State(s): State<Arc<Shared>>) -> Result<Response, AppError> {
    Ok(match current_silences(&s).await? {
        Some((silences, ended)) => {
            Json(json!({ "silences": silences, "ended": ended })).into_response()
        }
        None => no_pipeline(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_configured_window_reads_as_alertmanager_writes_a_silence_pending_outside_its_hours() {
        let window = Silence {
            id: "nightly-backup".into(),
            matchers: vec![Matcher::parse("service=\"trading-db\"").unwrap()],
            starts_at: DateTime::<Utc>::UNIX_EPOCH,
            ends_at: None,
            recurrence: Some(alerts::Recurrence::new(&["daily"], "02:00", "03:00").unwrap()),
            created_by: "dba".into(),
            comment: "backup".into(),
            updated_at: None,
        };
        let tz = chrono_tz::Asia::Shanghai;
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        // 03:29 Shanghai: outside the window.
        let out = am_silence(&window, at("2026-12-06T19:29:00Z"), tz);
        assert_eq!(out["status"]["state"], "pending");
        assert_eq!(out["endsAt"], NO_END, "amtool needs an end");
        // 02:30 Shanghai: inside.
        let inside = am_silence(&window, at("2026-12-06T18:30:00Z"), tz);
        assert_eq!(inside["status"]["state"], "active");
    }
}
