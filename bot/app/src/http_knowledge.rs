//! The knowledge API: search the runbooks, similar past incidents, ingest.
//!
//! `GET /api/knowledge/search?q=&k=&service=&history=true` — passages with citations and the
//! abstention flag (what `/ask` shows without an LLM);
//! `GET /api/similar?q=` and `GET /api/incidents/{id}/similar` — past incidents;
//! `POST /api/knowledge/ingest` — ingest `[knowledge].sources` now (the running bot holds
//! the embedded index, so this is how to refresh it without a restart).

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use warroom_core::incident::IncidentId;
use warroom_core::ports::Store;
use warroom_knowledge::{DocKind, Knowledge, SearchOptions};

use crate::app::Shared;
use crate::assistant;
use crate::errors::json_error;

/// The routes (behind the API token).
pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/api/knowledge/search", get(search))
        .route("/api/knowledge/ingest", post(ingest))
        .route("/api/similar", get(similar_text))
        .route("/api/incidents/{id}/similar", get(similar_incident))
}

async fn knowledge(s: &Shared) -> Result<Arc<Knowledge>, Response> {
    assistant::open(s)
        .await
        .map_err(|e| json_error(StatusCode::SERVICE_UNAVAILABLE, "knowledge_unavailable", e))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchQuery {
    q: Option<String>,
    k: Option<usize>,
    service: Option<String>,
    history: Option<bool>,
}

async fn search(State(s): State<Arc<Shared>>, Query(q): Query<SearchQuery>) -> Response {
    let Some(text) = q.q.as_deref().map(str::trim).filter(|t| !t.is_empty()) else {
        return json_error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "missing `q` (the question)",
        );
    };
    let k_docs = q.k.unwrap_or(s.config.knowledge.k);
    if !(1..=50).contains(&k_docs) {
        return json_error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "`k` must be between 1 and 50",
        );
    }
    let kb = match knowledge(&s).await {
        Ok(k) => k,
        Err(r) => return r,
    };
    let mut kinds = vec![DocKind::Runbook];
    if q.history.unwrap_or(false) {
        kinds.push(DocKind::History);
    }
    let opts = SearchOptions {
        k: k_docs,
        kinds,
        services: q.service.into_iter().collect(),
        ..SearchOptions::default()
    };
    match kb.search(text, &opts).await {
        Ok(found) => Json(assistant::answer_of(
            &found,
            s.config.knowledge.link_base.as_deref(),
        ))
        .into_response(),
        Err(e) => json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "knowledge_unavailable",
            format!("{e:#}"),
        ),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SimilarQuery {
    q: Option<String>,
}

async fn similar_text(State(s): State<Arc<Shared>>, Query(q): Query<SimilarQuery>) -> Response {
    let Some(text) = q.q.as_deref().map(str::trim).filter(|t| !t.is_empty()) else {
        return json_error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "missing `q` (text to match)",
        );
    };
    similar(&s, text, None).await
}

async fn similar_incident(State(s): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let Ok(id) = IncidentId::parse(&id) else {
        return json_error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "not an incident id (IMS-YYYYMMDD-NNN)",
        );
    };
    let inc = match s.store.incident(&id) {
        Ok(Some(i)) => i,
        Ok(None) => return json_error(StatusCode::NOT_FOUND, "not_found", "no such incident"),
        Err(e) => return crate::errors::AppError::Store(e).into_response(),
    };
    let text = format!("{} {}", inc.title, inc.services.join(" "));
    similar(&s, &text, Some(&id)).await
}

async fn similar(s: &Shared, text: &str, own: Option<&IncidentId>) -> Response {
    let kb = match knowledge(s).await {
        Ok(k) => k,
        Err(r) => return r,
    };
    match assistant::similar(s, &kb, text, true, own).await {
        Ok(mut list) => {
            list.truncate(warroom_core::engine::CARD_SIMILAR);
            Json(list).into_response()
        }
        Err(e) => json_error(StatusCode::SERVICE_UNAVAILABLE, "knowledge_unavailable", e),
    }
}

async fn ingest(State(s): State<Arc<Shared>>) -> Response {
    if s.config.knowledge.sources.is_empty() {
        return json_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "no_sources",
            "`[knowledge].sources` is empty; list the runbook directories there",
        );
    }
    let kb = match knowledge(&s).await {
        Ok(k) => k,
        Err(r) => return r,
    };
    match kb.ingest(&s.config.knowledge.sources, &|_| {}).await {
        Ok(report) => Json(report).into_response(),
        Err(e) => json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "knowledge_unavailable",
            format!("{e:#}"),
        ),
    }
}
