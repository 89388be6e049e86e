//! The assistant: carries out the engine's [`Action::Assist`] requests — answering questions
//! from the knowledge base, finding similar past incidents, indexing resolved incidents —
//! and hands each result back to the engine as [`Event::Assisted`].
//!
//! It reads its work from the outbox (so a request survives a crash) but runs beside the
//! dispatcher, not in it: a slow search or model call never holds up chat delivery. An item
//! leaves the outbox only after its result is committed by the engine.
//!
//! It owns the process's one handle on the knowledge index (the embedded index admits one
//! process), opened in the background at start-up, after which `[knowledge].sources` are
//! ingested. It must not decide what is said: that is the engine's job.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{watch, OnceCell, Semaphore};
use tracing::{info, warn};
use warroom_core::assist::{Answer, AssistRequest, AssistResult, Passage, SimilarIncident};
use warroom_core::event::{Action, Event};
use warroom_core::incident::{Entry, Incident, IncidentId, TimelineEntry};
use warroom_core::ports::Store;
use warroom_knowledge::{DocKind, HistoryDoc, Hit, Knowledge, SearchAnswer, SearchOptions};

use crate::app::Shared;

/// Requests handled at once (searches are cheap; model calls are not).
const CONCURRENCY: usize = 4;
/// Longest wait for one request; past it the asker hears that the knowledge base timed out.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Similar incidents looked at before dropping the incident itself and capping.
const SIMILAR_CANDIDATES: usize = 6;

/// The knowledge base as opened at start-up, or why it could not be.
pub type KnowledgeSlot = OnceCell<Result<Arc<Knowledge>, String>>;

/// Opens the knowledge base (once) and ingests the configured sources.
pub async fn open(shared: &Shared) -> Result<Arc<Knowledge>, String> {
    shared
        .knowledge
        .get_or_init(|| async {
            let cfg = shared.config.knowledge.clone();
            let data_dir = shared.config.data_dir.clone();
            let opened = tokio::task::spawn_blocking(move || Knowledge::open(&cfg, &data_dir))
                .await
                .map_err(|e| format!("knowledge: {e}"))
                .and_then(|r| r.map_err(|e| format!("{e:#}")));
            match opened {
                Ok(k) => {
                    info!(index = %k.index_dir().display(), embedder = %k.embedder_id(), "knowledge base open");
                    Ok(Arc::new(k))
                }
                Err(e) => {
                    warn!(error = %e, "knowledge base unavailable; /ask and /similar will say so");
                    Err(e)
                }
            }
        })
        .await
        .clone()
}

/// Ingests `[knowledge].sources` (incremental), logging what changed.
pub async fn ingest_sources(shared: &Shared, k: &Knowledge) {
    let dirs: Vec<PathBuf> = shared.config.knowledge.sources.clone();
    if dirs.is_empty() {
        return;
    }
    match k.ingest(&dirs, &|_| {}).await {
        Ok(report) => info!(%report, "runbooks ingested"),
        Err(e) => warn!(error = %format!("{e:#}"), "runbook ingest failed"),
    }
}

/// Runs until `stop`: takes assist requests from the outbox, a few at a time.
pub async fn run(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    if let Ok(k) = open(&shared).await {
        ingest_sources(&shared, &k).await;
    }
    let busy: Arc<Mutex<BTreeSet<u64>>> = Arc::default();
    let permits = Arc::new(Semaphore::new(CONCURRENCY));
    loop {
        if *stop.borrow() {
            return;
        }
        let items = shared.store.outbox().unwrap_or_else(|e| {
            warn!(error = %e, "cannot read the outbox");
            Vec::new()
        });
        for item in items {
            let Action::Assist { request } = item.action else {
                continue;
            };
            // History is written in order: nothing queued after an incident's indexing
            // starts before it is done, so a later lookup sees the resolved incident.
            let barrier = matches!(request, AssistRequest::IndexIncident { .. });
            if !lock(&busy).insert(item.seq) {
                if barrier {
                    break;
                }
                continue;
            }
            let Ok(permit) = permits.clone().acquire_owned().await else {
                return;
            };
            let (shared, busy, seq) = (shared.clone(), busy.clone(), item.seq);
            tokio::spawn(async move {
                let result =
                    tokio::time::timeout(REQUEST_TIMEOUT, handle(&shared, request.clone()))
                        .await
                        .unwrap_or_else(|_| {
                            unavailable(
                                &request,
                                "the knowledge base did not answer in time".into(),
                            )
                        });
                let done = match result {
                    None => true,
                    Some(result) => shared
                        .engine
                        .submit(Event::Assisted { result })
                        .await
                        .map_err(|e| warn!(error = %e, seq, "cannot hand an answer to the engine"))
                        .is_ok(),
                };
                if done {
                    if let Err(e) = shared.store.ack(seq) {
                        warn!(error = %e, seq, "cannot remove a finished assist request");
                    }
                }
                drop(permit);
                lock(&busy).remove(&seq);
                // Done: look for work that waited on it. Not done: it stays in the outbox
                // and the next timed pass retries it.
                if done {
                    shared.assist.notify_one();
                }
            });
            if barrier {
                break;
            }
        }
        tokio::select! {
            // New work was enqueued (the dispatcher shares this wake-up; it re-notifies).
            _ = shared.assist.notified() => {}
            // Retries of failed requests.
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            _ = stop.changed() => {}
        }
    }
}

fn lock(m: &Mutex<BTreeSet<u64>>) -> std::sync::MutexGuard<'_, BTreeSet<u64>> {
    // Only inserts and removes happen under the lock; a poisoned set is still sound.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn unavailable(request: &AssistRequest, reason: String) -> Option<AssistResult> {
    match request {
        AssistRequest::Ask { to, .. } => Some(AssistResult::Unavailable {
            to: Some(to.clone()),
            reason,
        }),
        AssistRequest::Similar { to, .. } => Some(AssistResult::Unavailable {
            to: to.clone(),
            reason,
        }),
        AssistRequest::IndexIncident { incident } => {
            warn!(%incident, %reason, "incident not indexed as history");
            None
        }
    }
}

/// One request → its result (`None`: nothing to tell the engine).
async fn handle(shared: &Shared, request: AssistRequest) -> Option<AssistResult> {
    let k = match open(shared).await {
        Ok(k) => k,
        Err(reason) => return unavailable(&request, reason),
    };
    let outcome = match &request {
        AssistRequest::Ask { question, to, .. } => ask(shared, &k, question).await.map(|answer| {
            Some(AssistResult::Answer {
                to: to.clone(),
                question: question.clone(),
                answer,
            })
        }),
        AssistRequest::Similar { incident, text, to } => similar(shared, &k, text, to.is_some())
            .await
            .map(|similar| {
                Some(AssistResult::Similar {
                    incident: incident.clone(),
                    to: to.clone(),
                    text: text.clone(),
                    similar,
                })
            }),
        AssistRequest::IndexIncident { incident } => {
            index(shared, &k, incident).await.map(|_| None)
        }
    };
    outcome.unwrap_or_else(|e| unavailable(&request, e))
}

/// Retrieval over runbooks and past incidents.
pub async fn ask(shared: &Shared, k: &Knowledge, question: &str) -> Result<Answer, String> {
    let opts = SearchOptions {
        k: shared.config.knowledge.k.clamp(1, 10),
        kinds: vec![DocKind::Runbook, DocKind::History],
        ..SearchOptions::default()
    };
    let found = k
        .search(question, &opts)
        .await
        .map_err(|e| format!("{e:#}"))?;
    Ok(answer_of(
        &found,
        shared.config.knowledge.link_base.as_deref(),
    ))
}

/// A search answer as passages with citations and links.
pub fn answer_of(found: &SearchAnswer, link_base: Option<&str>) -> Answer {
    Answer {
        passages: found
            .hits
            .iter()
            .enumerate()
            .map(|(i, h)| passage(i + 1, h, link_base))
            .collect(),
        abstain: found.abstain,
        confidence: (found.confidence.clamp(0.0, 1.0) * 100.0).round() as u8,
        text: None,
        llm_error: None,
    }
}

fn passage(n: usize, h: &Hit, link_base: Option<&str>) -> Passage {
    let link = match (link_base, h.kind) {
        (Some(base), DocKind::Runbook) => {
            Some(format!("{base}{}#L{}-L{}", h.doc, h.line_start, h.line_end))
        }
        _ => None,
    };
    Passage {
        n,
        doc: h.doc.clone(),
        kind: h.kind.as_str().to_string(),
        title: h.title.clone(),
        // The trail starts with the document's own title more often than not.
        section: h
            .headings
            .iter()
            .skip(usize::from(h.headings.first() == Some(&h.title)))
            .cloned()
            .collect::<Vec<_>>()
            .join(" › "),
        citation: h.citation.clone(),
        link,
        snippet: h.snippet.clone(),
    }
}

/// Past incidents like `text`, with the root cause and resolution from the store. For a
/// card (`explicit` false) only confident matches count; `/similar` shows the closest.
pub async fn similar(
    shared: &Shared,
    k: &Knowledge,
    text: &str,
    explicit: bool,
) -> Result<Vec<SimilarIncident>, String> {
    let opts = SearchOptions {
        k: SIMILAR_CANDIDATES,
        kinds: vec![DocKind::History],
        ..SearchOptions::default()
    };
    let found = k.search(text, &opts).await.map_err(|e| format!("{e:#}"))?;
    if found.abstain && !explicit {
        return Ok(Vec::new());
    }
    let top = found
        .hits
        .first()
        .map_or(1.0, |h| h.score.max(f32::EPSILON));
    let mut out = Vec::new();
    for h in &found.hits {
        let stored = IncidentId::parse(&h.doc)
            .ok()
            .and_then(|id| shared.store.incident(&id).ok().flatten());
        let (root_cause, resolution) = stored
            .map(|i| (i.root_cause, i.resolution))
            .unwrap_or_default();
        out.push(SimilarIncident {
            id: h.doc.clone(),
            title: h.title.clone(),
            services: h.services.clone(),
            root_cause,
            resolution,
            score: ((h.score / top).clamp(0.0, 1.0) * 100.0).round() as u8,
        });
    }
    Ok(out)
}

/// Indexes an incident (read from the store) as history.
async fn index(shared: &Shared, k: &Knowledge, id: &IncidentId) -> Result<(), String> {
    let inc = shared
        .store
        .incident(id)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("{id} is not in the store"))?;
    let timeline = shared.store.timeline(id).map_err(|e| e.to_string())?;
    k.index_incident(history_doc(&inc, &timeline))
        .await
        .map_err(|e| format!("{e:#}"))?;
    info!(incident = %id, "incident indexed as history");
    Ok(())
}

/// The history document of an incident: what a later responder searches for.
pub fn history_doc(inc: &Incident, timeline: &[TimelineEntry]) -> HistoryDoc {
    let mut alerts = Vec::new();
    let mut summary = Vec::new();
    for e in timeline {
        let line = match &e.entry {
            Entry::Note { text } if text.starts_with('🔔') => {
                alerts.push(text.trim_start_matches('🔔').trim().to_string());
                continue;
            }
            Entry::Note { text } | Entry::StatusUpdate { text } | Entry::Captured { text, .. } => {
                text.clone()
            }
            Entry::RootCause { .. } | Entry::Resolution { .. } => continue,
            _ => continue,
        };
        summary.push(format!("{} {}", e.at.format("%Y-%m-%d %H:%M"), line));
    }
    HistoryDoc {
        id: inc.id.to_string(),
        title: inc.title.clone(),
        services: inc.services.clone(),
        alerts,
        root_cause: inc.root_cause.clone().unwrap_or_default(),
        timeline_summary: summary.join("\n"),
        postmortem: inc.resolution.clone().unwrap_or_default(),
        resolved_at: inc
            .milestones
            .get(&warroom_core::incident::Milestone::Recovered)
            .map(|t| t.to_rfc3339()),
    }
}
