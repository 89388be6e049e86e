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

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{watch, OnceCell, Semaphore};
use tracing::{info, warn};
use warroom_core::assist::{
    AlertCount, Analysis, Answer, AssistRequest, AssistResult, Passage, SimilarIncident,
};
use warroom_core::audit::AuditEntry;
use warroom_core::event::{Action, Event};
use warroom_core::incident::{AlertEvent, Entry, Incident, IncidentId, Person, TimelineEntry};
use warroom_core::ports::Store;
use warroom_knowledge::{DocKind, HistoryDoc, Hit, Knowledge, SearchAnswer, SearchOptions};

use serde_json::json;
use warroom_skills::{Agent, Language, Question};

use crate::app::Shared;
use crate::skill_context::AppContext;

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
        AssistRequest::Analyze { incident, to } => Some(AssistResult::Unavailable {
            to: Some(
                to.clone()
                    .unwrap_or(warroom_core::event::Destination::WarRoom {
                        incident: incident.clone(),
                    }),
            ),
            reason,
        }),
        AssistRequest::IndexIncident { incident } => {
            warn!(%incident, %reason, "incident not indexed as history");
            None
        }
    }
}

/// One request → its result (`None`: nothing to tell the engine).
async fn handle(shared: &Arc<Shared>, request: AssistRequest) -> Option<AssistResult> {
    let k = match open(shared).await {
        Ok(k) => k,
        Err(reason) => return unavailable(&request, reason),
    };
    let outcome = match &request {
        AssistRequest::Ask {
            question,
            to,
            incident,
            services,
            asker,
        } => match ask(shared, &k, question).await {
            Ok(mut answer) => {
                if let Some(agent) = &shared.agent {
                    write_answer(
                        shared,
                        agent,
                        asker,
                        question,
                        incident.as_ref(),
                        services,
                        &mut answer,
                    )
                    .await;
                }
                Ok(Some(AssistResult::Answer {
                    to: to.clone(),
                    question: question.clone(),
                    answer,
                    asker: Some(asker.clone()),
                }))
            }
            Err(e) => Err(e),
        },
        AssistRequest::Similar {
            incident,
            text,
            to,
            exclude,
        } => similar(shared, &k, text, to.is_some(), exclude.as_ref())
            .await
            .map(|similar| {
                Some(AssistResult::Similar {
                    incident: incident.clone(),
                    to: to.clone(),
                    text: text.clone(),
                    similar,
                })
            }),
        AssistRequest::Analyze { incident, to } => {
            analyze(shared, &k, incident).await.map(|analysis| {
                Some(AssistResult::Analysis {
                    incident: incident.clone(),
                    to: to.clone(),
                    analysis: Box::new(analysis),
                })
            })
        }
        AssistRequest::IndexIncident { incident } => {
            index(shared, &k, incident).await.map(|_| None)
        }
    };
    outcome.unwrap_or_else(|e| unavailable(&request, e))
}

/// What the system prompt names: now, the zone, the incident, and the catalog's services and
/// the schedules (ids the model must use in tool arguments).
pub fn prompt_vars(
    shared: &Shared,
    now: chrono::DateTime<chrono::Utc>,
    incident: Option<&IncidentId>,
) -> serde_json::Value {
    let cfg = &shared.config.engine;
    let services: Vec<String> = shared
        .catalog
        .get()
        .services()
        .map(|s| s.name.clone())
        .collect();
    let schedules: Vec<String> = shared.schedules.get().keys().cloned().collect();
    json!({
        "now": now.with_timezone(&cfg.tz).format("%Y-%m-%d %H:%M").to_string(),
        "tz": cfg.tz.name(),
        "incident": incident.map(ToString::to_string),
        "services": services,
        "schedules": schedules,
    })
}

/// The language of a question: Chinese when it has Chinese characters, else English.
fn language_of(text: &str) -> Language {
    if text.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)) {
        Language::Zh
    } else {
        Language::En
    }
}

/// The model's answer, grounded in the retrieved passages (sent as data, numbered) and the
/// skills. A model failure leaves the passages and says why (`llm_error`). With an
/// abstaining retrieval the written answer is kept only when a tool returned data for it:
/// the model must not write a runbook nobody has.
async fn write_answer(
    shared: &Arc<Shared>,
    agent: &Agent,
    asker: &Person,
    question: &str,
    incident: Option<&IncidentId>,
    services: &[String],
    answer: &mut Answer,
) {
    let now = chrono::Utc::now();
    let lang = language_of(question);
    let render_lang = match lang {
        Language::Zh => crate::config::Lang::Zh,
        Language::En => crate::config::Lang::En,
    };
    let vars = prompt_vars(shared, now, incident);
    let (system, last) = match (
        shared.renderer.llm_prompt(render_lang, "system", &vars),
        shared.renderer.llm_prompt(render_lang, "final", &vars),
    ) {
        (Ok(s), Ok(l)) => (s, l),
        (Err(e), _) | (_, Err(e)) => {
            answer.llm_error = Some(e.to_string());
            return;
        }
    };
    let data = json!({
        "incident": incident.map(ToString::to_string),
        "services": services,
        "runbook_passages": answer.passages.iter().map(|p| json!({
            "n": p.n, "title": p.title, "section": p.section, "citation": p.citation, "text": p.snippet,
        })).collect::<Vec<_>>(),
        "no_runbook_covers_this": answer.abstain,
    });
    let q = Question {
        text: question.to_string(),
        language: lang,
        system_prompt: system,
        incident_context: Some(data),
        final_turn_prompt: Some(last),
    };
    let ctx = AppContext::new(shared.clone(), incident.cloned(), now);
    let budget = shared
        .config
        .llm
        .as_ref()
        .map_or(Duration::from_secs(60), |l| {
            l.timeout() * l.max_rounds.max(1) + Duration::from_secs(5)
        });
    let agent = agent.clone();
    let call = tokio::spawn(async move { agent.ask(&q, &ctx).await });
    let outcome = tokio::time::timeout(budget, call).await;
    let trace: &[warroom_skills::TraceEvent] = match &outcome {
        Ok(Ok(Ok(a))) => &a.trace,
        Ok(Ok(Err(f))) => &f.trace,
        _ => &[],
    };
    audit_trace(shared, asker, incident, question, trace);
    match outcome {
        Ok(Err(e)) => answer.llm_error = Some(e.to_string()),
        Ok(Ok(Ok(a))) => {
            let used_data = a.trace.iter().any(|t| {
                matches!(
                    t,
                    warroom_skills::TraceEvent::ToolCall {
                        outcome: warroom_skills::ToolOutcome::Ok,
                        ..
                    }
                )
            });
            if !a.text.trim().is_empty() && (!answer.abstain || used_data) {
                answer.text = Some(a.text.trim().to_string());
            }
            answer.proposals = a
                .proposals
                .iter()
                .map(|p| warroom_core::assist::ProposalLine {
                    skill: p.skill.clone(),
                    command: p.command.clone(),
                    id: None,
                })
                .collect();
            info!(
                rounds = a.rounds,
                proposals = a.proposals.len(),
                "the model answered"
            );
        }
        Ok(Ok(Err(f))) => {
            warn!(error = %f.error, "the model failed; answering from retrieval");
            answer.llm_error = Some(f.error.to_string());
        }
        Err(_) => answer.llm_error = Some(format!("no answer within {} s", budget.as_secs())),
    }
}

/// Appends the question's model calls and tool calls to the audit trail (digests and masked
/// arguments only; never the unmasked text).
fn audit_trace(
    shared: &Shared,
    asker: &Person,
    incident: Option<&IncidentId>,
    question: &str,
    trace: &[warroom_skills::TraceEvent],
) {
    use sha2::Digest;
    let at = chrono::Utc::now();
    let subject = incident.map_or_else(|| "chat".to_string(), ToString::to_string);
    let mut entries = vec![AuditEntry {
        at,
        actor: Some(asker.clone()),
        action: "llm.question".into(),
        subject: subject.clone(),
        detail: json!({ "sha256": crate::audit_chain::hex(&sha2::Sha256::digest(question.as_bytes())) }),
    }];
    for ev in trace {
        let detail = serde_json::to_value(ev).unwrap_or_default();
        let kind = detail["event"].as_str().unwrap_or("event").to_string();
        entries.push(AuditEntry {
            at,
            actor: Some(asker.clone()),
            action: format!("llm.{}", kind.trim_start_matches("llm_")),
            subject: subject.clone(),
            detail,
        });
    }
    if let Err(e) = shared.store.append_audit(&entries) {
        warn!(error = %e, "cannot write the model calls to the audit trail");
    }
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
        proposals: Vec::new(),
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
    exclude: Option<&IncidentId>,
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
    // The best match scores the search's confidence in it; the others in proportion.
    let top = found
        .hits
        .first()
        .map_or(1.0, |h| h.score.max(f32::EPSILON));
    let mut out = Vec::new();
    for h in &found.hits {
        if exclude.is_some_and(|x| x.to_string() == h.doc) {
            continue;
        }
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
            score: ((h.score / top).clamp(0.0, 1.0) * found.confidence.clamp(0.0, 1.0) * 100.0)
                .round() as u8,
        });
    }
    Ok(out)
}

/// Trading days of changes on a fault-localization card.
const ANALYSIS_DAYS: u32 = 3;
/// Minutes of alerts on a fault-localization card.
const ANALYSIS_ALERT_MINUTES: u32 = 120;
/// The analysis counts at most this many of the newest alerts in that window (a storm
/// must not make every declaration read the whole log).
const ANALYSIS_ALERTS_READ: usize = 20_000;

/// The fault-localization card: changes in the last 3 trading days to the incident's
/// services and their neighbours, alerts of the last 2 hours there, similar incidents,
/// runbook passages, and — with a model — hypotheses citing them.
async fn analyze(shared: &Arc<Shared>, k: &Knowledge, id: &IncidentId) -> Result<Analysis, String> {
    let inc = shared
        .store
        .incident(id)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("{id} is not in the store"))?;
    let now = chrono::Utc::now();
    let cfg = &shared.config.engine;
    let catalog = shared.catalog.get();
    let mut scope: Vec<String> = Vec::new();
    for svc in &inc.services {
        let name = svc.trim().to_lowercase();
        if !scope.contains(&name) {
            scope.push(name.clone());
        }
        for r in catalog.related(&name, warroom_core::catalog::Direction::Both, 1) {
            if !scope.contains(&r.name) {
                scope.push(r.name);
            }
        }
    }
    let since = warroom_core::command::Lookback::TradingDays(ANALYSIS_DAYS)
        .since(now, cfg.calendars.get(&cfg.market))
        .unwrap_or(now - chrono::Duration::days(i64::from(ANALYSIS_DAYS)));
    let mut changes: Vec<_> = shared
        .store
        .changes()
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter(|c| {
            scope.contains(&c.service.to_lowercase())
                && c.end.unwrap_or(c.start) >= since
                && c.start <= now
        })
        .collect();
    changes.sort_by(|a, b| b.start.cmp(&a.start));
    let changes_total = changes.len();
    changes.truncate(warroom_core::assist::ANALYSIS_CHANGES);
    let window = now - chrono::Duration::minutes(i64::from(ANALYSIS_ALERT_MINUTES));
    let mut counts: Vec<AlertCount> = Vec::new();
    let store = shared.store.clone();
    let batches =
        tokio::task::spawn_blocking(move || store.alerts_since(window, ANALYSIS_ALERTS_READ))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
    // Per alert (fingerprint): its name and service from the first message that has
    // them (a generic event's resolve carries only its dedup key), how many messages,
    // and whether the last one says firing.
    let mut by_alert: BTreeMap<String, AlertCount> = BTreeMap::new();
    for (_, batch) in batches {
        for a in batch {
            let firing = a.status == warroom_core::alerts::AlertStatus::Firing;
            let c = by_alert
                .entry(a.fingerprint.clone())
                .or_insert_with(|| AlertCount {
                    name: String::new(),
                    service: None,
                    count: 0,
                    firing,
                });
            if c.name.is_empty() && !a.name().is_empty() {
                c.name = a.name().to_string();
                c.service = a.labels.get("service").cloned();
            }
            c.count += 1;
            c.firing = firing;
        }
    }
    for a in by_alert.into_values() {
        let in_scope = a
            .service
            .as_ref()
            .is_some_and(|s| scope.contains(&s.to_lowercase()));
        if a.name.is_empty() || (!in_scope && !scope.is_empty()) {
            continue;
        }
        match counts
            .iter_mut()
            .find(|c| c.name == a.name && c.service == a.service)
        {
            Some(c) => {
                c.count += a.count;
                c.firing |= a.firing;
            }
            None => counts.push(a),
        }
    }
    counts.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.name.cmp(&b.name)));
    counts.truncate(10);
    let subject = format!("{} {}", inc.title, inc.services.join(" "));
    let similar = similar(shared, k, &subject, false, Some(&inc.id))
        .await
        .unwrap_or_default();
    let runbooks = {
        let opts = SearchOptions {
            k: 3,
            ..SearchOptions::default()
        };
        match k.search(&subject, &opts).await {
            Ok(found) if !found.abstain => {
                answer_of(&found, shared.config.knowledge.link_base.as_deref()).passages
            }
            _ => Vec::new(),
        }
    };
    let mut analysis = Analysis {
        services: inc.services.clone(),
        scope,
        change_days: ANALYSIS_DAYS,
        changes,
        changes_total,
        alert_minutes: ANALYSIS_ALERT_MINUTES,
        alerts: counts,
        similar,
        runbooks,
        hypotheses: None,
        llm_error: None,
    };
    if let Some(agent) = &shared.agent {
        hypotheses(shared, agent, &inc, &mut analysis).await;
    }
    Ok(analysis)
}

/// A short hypothesis list from the model over the card's data (one call, no tools: the
/// data is all there, and the card must not wait for a long loop).
async fn hypotheses(shared: &Arc<Shared>, agent: &Agent, inc: &Incident, analysis: &mut Analysis) {
    let lang = language_of(&inc.title);
    let render_lang = match lang {
        Language::Zh => crate::config::Lang::Zh,
        Language::En => crate::config::Lang::En,
    };
    let now = chrono::Utc::now();
    let vars = prompt_vars(shared, now, Some(&inc.id));
    let (system, ask) = match (
        shared.renderer.llm_prompt(render_lang, "system", &vars),
        shared.renderer.llm_prompt(render_lang, "card", &vars),
    ) {
        (Ok(s), Ok(a)) => (s, a),
        (Err(e), _) | (_, Err(e)) => {
            analysis.llm_error = Some(e.to_string());
            return;
        }
    };
    let data = json!({
        "incident": {"id": inc.id.to_string(), "title": inc.title, "services": inc.services, "severity": inc.severity.code()},
        "changes": analysis.changes,
        "alerts": analysis.alerts,
        "similar_incidents": analysis.similar,
        "runbook_passages": analysis.runbooks.iter().map(|p| json!({"n": p.n, "title": p.title, "citation": p.citation, "text": p.snippet})).collect::<Vec<_>>(),
    });
    let q = Question {
        text: ask.clone(),
        language: lang,
        system_prompt: system,
        incident_context: Some(data),
        final_turn_prompt: Some(ask),
    };
    let ctx = AppContext::new(shared.clone(), Some(inc.id.clone()), now);
    let agent = agent.clone().with_max_rounds(1);
    let call = tokio::spawn(async move { agent.ask(&q, &ctx).await });
    let budget = shared
        .config
        .llm
        .as_ref()
        .map_or(Duration::from_secs(30), |l| {
            l.timeout() + Duration::from_secs(5)
        });
    let outcome = tokio::time::timeout(budget, call).await;
    let trace: &[warroom_skills::TraceEvent] = match &outcome {
        Ok(Ok(Ok(a))) => &a.trace,
        Ok(Ok(Err(f))) => &f.trace,
        _ => &[],
    };
    audit_trace(
        shared,
        &Person::named("warroom"),
        Some(&inc.id),
        "fault-localization card",
        trace,
    );
    match outcome {
        Ok(Ok(Ok(a))) if !a.text.trim().is_empty() => {
            analysis.hypotheses = Some(a.text.trim().to_string());
        }
        Ok(Ok(Ok(_))) => {}
        Ok(Ok(Err(f))) => analysis.llm_error = Some(f.error.to_string()),
        Ok(Err(e)) => analysis.llm_error = Some(e.to_string()),
        Err(_) => analysis.llm_error = Some(format!("no answer within {} s", budget.as_secs())),
    }
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
            Entry::Alerts {
                event: AlertEvent::Declared { .. } | AlertEvent::Joined { .. },
                alerts: lines,
                ..
            } => {
                alerts.push(lines.join("; "));
                continue;
            }
            Entry::Alerts {
                event:
                    event @ (AlertEvent::Resolved | AlertEvent::FiringAgain | AlertEvent::AllResolved),
                alerts: lines,
                ..
            } => {
                let what = match event {
                    AlertEvent::Resolved => "✅ resolved",
                    AlertEvent::FiringAgain => "🔥 firing again",
                    _ => "✅ every alert of this incident has resolved",
                };
                if lines.is_empty() {
                    what.to_string()
                } else {
                    format!("{what}: {}", lines.join("; "))
                }
            }
            Entry::Alerts {
                event: AlertEvent::Outlived { cause, .. },
                alerts: lines,
                ..
            } => format!(
                "⚠️ still firing after the probable cause recovered ({cause}): {}",
                lines.join("; ")
            ),
            // Notes written before alert entries were structured.
            Entry::Note { text } if text.starts_with('🔔') => {
                alerts.push(text.trim_start_matches('🔔').trim().to_string());
                continue;
            }
            Entry::Note { text } | Entry::StatusUpdate { text } | Entry::Captured { text, .. } => {
                text.clone()
            }
            Entry::ActionAdded {
                id, title, owner, ..
            } => format!("action item {id}: {title} ({owner})"),
            Entry::PageRequested {
                target,
                reason: Some(reason),
            } => format!("page {target}: {reason}"),
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
