//! Wiring: opens the store, starts the engine task, the outbox dispatcher, the
//! console and the HTTP server, and stops them in order on shutdown.

use std::future::{Future, IntoFuture};
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot, watch, Notify};
use tracing::{info, warn};
use warroom_core::engine::{Engine, Outcome};
use warroom_core::event::{Action, Event, Message};
use warroom_core::ports::{Clock, Store, StoreError};

use crate::config::Config;
use crate::errors::AppError;
use crate::metrics::Metrics;
use crate::render::Renderer;
use crate::store_sled::SledStore;

/// The wall clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

type Job = (Event, oneshot::Sender<Result<Outcome, StoreError>>);

/// Submits events to the engine, which runs on one dedicated thread: events are
/// decided one at a time, and sled's blocking flush never stalls the async runtime.
#[derive(Clone)]
pub struct EngineHandle {
    tx: mpsc::Sender<Job>,
}

impl EngineHandle {
    /// Starts the engine thread.
    pub fn spawn(
        engine: Engine,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
        outbox: Arc<Notify>,
        assist: Arc<Notify>,
    ) -> Self {
        let (tx, mut rx) = mpsc::channel::<Job>(1024);
        std::thread::Builder::new()
            .name("warroom-engine".into())
            .spawn(move || {
                let mut engine = engine;
                while let Some((event, reply)) = rx.blocking_recv() {
                    let started = Instant::now();
                    let result = engine.handle(event, clock.now());
                    metrics.observe_engine(started.elapsed().as_secs_f64());
                    match &result {
                        Ok(outcome) => {
                            // Every declaration, by a person or by the alert pipeline,
                            // opens one war room.
                            let declared = outcome
                                .actions
                                .iter()
                                .filter(|a| matches!(a, Action::OpenWarRoom { .. }))
                                .count();
                            metrics
                                .declared
                                .fetch_add(declared as u64, Ordering::Relaxed);
                            if matches!(
                                outcome.reply,
                                Some(
                                    Message::Usage { .. }
                                        | Message::Denied { .. }
                                        | Message::Refused { .. }
                                )
                            ) {
                                metrics.rejected_commands.fetch_add(1, Ordering::Relaxed);
                            }
                            if !outcome.actions.is_empty() {
                                outbox.notify_one();
                            }
                            if outcome
                                .actions
                                .iter()
                                .any(|a| matches!(a, Action::Assist { .. }))
                            {
                                assist.notify_one();
                            }
                        }
                        Err(e) => {
                            metrics.engine_errors.fetch_add(1, Ordering::Relaxed);
                            warn!(error = %e, "engine could not store an event");
                        }
                    }
                    let _ = reply.send(result);
                }
            })
            .map(|_| ())
            .unwrap_or_else(|e| warn!(error = %e, "cannot start the engine thread"));
        Self { tx }
    }

    /// Hands `event` to the engine and waits until its effects are durably stored.
    ///
    /// # Errors
    /// [`AppError::Store`] when nothing was stored; [`AppError::Stopped`] during shutdown.
    pub async fn submit(&self, event: Event) -> Result<Outcome, AppError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send((event, tx))
            .await
            .map_err(|_| AppError::Stopped)?;
        rx.await
            .map_err(|_| AppError::Stopped)?
            .map_err(AppError::Store)
    }
}

/// Why a delivery failed.
#[derive(Debug)]
pub enum DeliveryError {
    /// Try again later (after at least this long, if the peer said so).
    Retry(Option<Duration>),
    /// Will never work (logged and dropped).
    Permanent(String),
}

/// A boxed delivery future.
pub type Delivery<'a> = Pin<Box<dyn Future<Output = Result<(), DeliveryError>> + Send + 'a>>;

/// A chat adapter's outbound half: performs one outbox action.
pub trait ChatSink: Send + Sync {
    /// Adapter name, matched against `ChannelRef::adapter`.
    fn adapter(&self) -> &'static str;
    /// Performs `action`. Must be idempotent: after a crash or a lost answer it may run
    /// again, with the same `key` (the outbox position), which sinks can hand to a peer
    /// that deduplicates (Discord's message nonce).
    fn deliver<'a>(&'a self, key: u64, action: &'a Action) -> Delivery<'a>;
}

/// Everything the adapters share.
pub struct Shared {
    /// Validated configuration.
    pub config: Config,
    /// The store.
    pub store: Arc<SledStore>,
    /// The engine.
    pub engine: EngineHandle,
    /// Message renderer.
    pub renderer: Renderer,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Wakes the dispatcher.
    pub outbox: Arc<Notify>,
    /// Wakes the assistant.
    pub assist: Arc<Notify>,
    /// The knowledge base, opened in the background at start-up (or why it could not be).
    pub knowledge: crate::assistant::KnowledgeSlot,
    /// The LLM agent, when `[llm]` is configured.
    pub agent: Option<warroom_skills::Agent>,
    /// Set once every part is running.
    pub ready: AtomicBool,
    /// Bearer token for `/api`.
    pub api_token: String,
    /// The catalog in force (written by the engine).
    pub catalog: warroom_core::catalog::SharedCatalog,
    /// Schedules with run-time overrides (written by the engine).
    pub schedules: warroom_core::shared::Shared<
        std::collections::BTreeMap<String, warroom_core::oncall::Schedule>,
    >,
    /// The durable alert log's front door, when the alert pipeline is on.
    pub intake: Option<Arc<crate::alert_intake::Intake>>,
    /// Per-source webhook secrets.
    pub alert_secrets: crate::alert_intake::SourceSecrets,
    /// When the bot started.
    pub started_at: chrono::DateTime<chrono::Utc>,
}

impl Shared {
    /// Reads one incident from the store.
    ///
    /// # Errors
    /// Store failures.
    pub fn store_incident(
        &self,
        id: &warroom_core::incident::IncidentId,
    ) -> Result<Option<warroom_core::incident::Incident>, StoreError> {
        self.store.incident(id)
    }
}

/// Delivers the outbox in order, through the sink of each action's adapter.
/// Stops after `stop` turns true and the outbox is empty (or after a grace period).
pub async fn dispatch(
    shared: Arc<Shared>,
    sinks: Vec<Arc<dyn ChatSink>>,
    mut stop: watch::Receiver<bool>,
) {
    let primary = sinks.first().cloned();
    let mut backoff = Duration::from_millis(100);
    let mut stopping_since: Option<Instant> = None;
    loop {
        let items = match shared.store.outbox() {
            Ok(items) => items,
            Err(e) => {
                warn!(error = %e, "cannot read the outbox");
                Vec::new()
            }
        };
        let mut wait = Duration::from_secs(1);
        for item in &items {
            let adapter = match &item.action {
                // The assistant takes these (`assistant::run`), beside the dispatcher.
                Action::Assist { .. } => continue,
                Action::Notify {
                    via: warroom_core::event::Via::Webhook,
                    ..
                } => Some(crate::webhook::ADAPTER),
                Action::Digest { channel, .. } => Some(channel.adapter.as_str()),
                Action::Send {
                    to: warroom_core::event::Destination::Channel { channel },
                    ..
                }
                | Action::PostCard { channel, .. } => Some(channel.adapter.as_str()),
                _ => None,
            };
            let sink = match adapter {
                Some(a) => sinks.iter().find(|s| s.adapter() == a).cloned(),
                None => primary.clone(),
            };
            let Some(sink) = sink else {
                warn!(seq = item.seq, adapter = ?adapter, "no chat adapter for this action; dropping it");
                let _ = shared.store.ack(item.seq);
                continue;
            };
            match sink.deliver(item.seq, &item.action).await {
                Ok(()) => {
                    shared.metrics.delivered.fetch_add(1, Ordering::Relaxed);
                    if let Err(e) = shared.store.ack(item.seq) {
                        warn!(error = %e, seq = item.seq, "cannot remove a delivered action");
                    }
                    backoff = Duration::from_millis(100);
                }
                Err(DeliveryError::Permanent(reason)) => {
                    shared
                        .metrics
                        .delivery_failures
                        .fetch_add(1, Ordering::Relaxed);
                    warn!(seq = item.seq, %reason, "action cannot be delivered; dropping it");
                    let _ = shared.store.ack(item.seq);
                }
                Err(DeliveryError::Retry(after)) => {
                    shared
                        .metrics
                        .delivery_failures
                        .fetch_add(1, Ordering::Relaxed);
                    let _ = shared.store.record_attempt(item.seq);
                    wait = after.unwrap_or(backoff).max(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(60));
                    break; // keep order: nothing after a failed action goes first
                }
            }
        }
        if *stop.borrow() {
            let since = *stopping_since.get_or_insert_with(Instant::now);
            let empty = shared
                .store
                .outbox()
                .map(|o| o.iter().all(|i| matches!(i.action, Action::Assist { .. })))
                .unwrap_or(true);
            if empty || since.elapsed() > Duration::from_secs(5) {
                return;
            }
            wait = wait.min(Duration::from_millis(50));
        }
        tokio::select! {
            // New actions were enqueued.
            _ = shared.outbox.notified() => {}
            // Periodic retry of failed deliveries.
            _ = tokio::time::sleep(wait) => {}
            // Shutdown: loop once more to drain.
            _ = stop.changed() => {}
        }
    }
}

/// Options of `warroom run` that are not configuration.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Stop when the console's input ends (for scripts and pipes).
    pub exit_on_eof: bool,
    /// The configuration file, reloaded for alert rules on SIGHUP and on change
    /// (`None`: the embedded default).
    pub config_path: Option<std::path::PathBuf>,
}

/// The audit chain's HMAC key: from `[audit].key_env`, else `<data_dir>/audit-key`
/// (created with a random key, mode 0600, on first start).
///
/// # Errors
/// A named variable that is unset; an unreadable or unwritable key file.
pub fn audit_key(cfg: &Config) -> anyhow::Result<Vec<u8>> {
    if let Some(var) = &cfg.audit.key_env {
        return match std::env::var(var) {
            Ok(k) if !k.trim().is_empty() => Ok(k.trim().as_bytes().to_vec()),
            _ => anyhow::bail!("audit.key_env names {var}, which is not set"),
        };
    }
    let path = cfg.data_dir.join("audit-key");
    if let Ok(k) = std::fs::read_to_string(&path) {
        if !k.trim().is_empty() {
            return Ok(k.trim().as_bytes().to_vec());
        }
    }
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes)
        .map_err(|e| anyhow::anyhow!("no randomness for the audit key: {e}"))?;
    let key = crate::audit_chain::hex(&bytes);
    write_private(&path, &key).with_context(|| format!("writing {}", path.display()))?;
    info!(file = %path.display(), "generated the audit chain key (keep a copy for auditors' verification)");
    Ok(key.into_bytes())
}

/// Reads the API token from the configured env var, or from `<data_dir>/api-token`,
/// creating that file with a random token (mode 0600) on first start.
fn api_token(cfg: &Config) -> anyhow::Result<String> {
    if let Ok(t) = std::env::var(&cfg.token_env) {
        if !t.trim().is_empty() {
            return Ok(t.trim().to_string());
        }
    }
    let path = cfg.data_dir.join("api-token");
    if let Ok(t) = std::fs::read_to_string(&path) {
        if !t.trim().is_empty() {
            return Ok(t.trim().to_string());
        }
    }
    let mut bytes = [0u8; 24];
    getrandom::getrandom(&mut bytes)
        .map_err(|e| anyhow::anyhow!("no randomness for the API token: {e}"))?;
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    write_private(&path, &token).with_context(|| format!("writing {}", path.display()))?;
    info!(file = %path.display(), env = %cfg.token_env, "generated an API token (set the env var to choose your own)");
    Ok(token)
}

fn write_private(path: &Path, content: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)?.write_all(content.as_bytes())
}

/// Longest wait, after the console input ended, for queued replies to go out.
const EOF_DRAIN: Duration = Duration::from_secs(90);

/// Returns once the outbox is empty: every queued reply delivered, every assist
/// request answered.
async fn drained(shared: &Shared) {
    loop {
        match shared.store.outbox() {
            Ok(items) if items.is_empty() => return,
            Ok(_) => {}
            Err(e) => {
                warn!(error = %e, "cannot read the outbox");
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs the bot until `shutdown` completes (or the console input ends, with `exit_on_eof`).
///
/// # Errors
/// Start-up failures (store, port, templates), with context.
pub async fn run(
    config: Config,
    opts: RunOptions,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let started = Instant::now();
    // Before anything slow: a SIGHUP from now on reloads the alert rules, never kills.
    let hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .map_err(|e| warn!(error = %e, "cannot listen for SIGHUP; reload by editing the file"))
        .ok();
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data dir {}", config.data_dir.display()))?;
    let dir = config.data_dir.join("store");
    let store = Arc::new(
        tokio::task::spawn_blocking(move || SledStore::open(&dir))
            .await?
            .context("opening the store")?,
    );
    let api_token = api_token(&config)?;
    store.set_audit_key(audit_key(&config)?);
    store
        .append_audit(&[warroom_core::audit::AuditEntry {
            at: chrono::Utc::now(),
            actor: None,
            action: "config.loaded".into(),
            subject: "warroom".into(),
            detail: serde_json::json!({
                "sha256": config.digest,
                "llm": config.llm.as_ref().map(|l| serde_json::json!({"base_url": l.base_url, "model": l.model})),
            }),
        }])
        .context("writing the audit trail")?;
    let renderer = Renderer::new(
        config.language,
        config.tz,
        config.severity_names.clone(),
        config.engine.roles.clone(),
    )?;
    let metrics = Arc::new(Metrics::default());
    let outbox = Arc::new(Notify::new());
    let assist = Arc::new(Notify::new());
    let engine = {
        let store = store.clone() as Arc<dyn Store>;
        let cfg = config.engine.clone();
        tokio::task::spawn_blocking(move || {
            let mut e = Engine::new(store, cfg)?;
            // Rebuild the alert pipeline from the log; declare what a crash lost.
            let replayed = e.replay_alerts(chrono::Utc::now())?;
            Ok::<_, warroom_core::ports::StoreError>((e, replayed))
        })
        .await?
        .context("loading engine state")?
    };
    let (engine, replayed) = engine;
    if !replayed.actions.is_empty() {
        info!(actions = replayed.actions.len(), "alert log replayed");
    }
    let alert_secrets = match &config.alerts {
        Some(a) => crate::alert_intake::SourceSecrets::from_config(a)?,
        None => Default::default(),
    };
    let agent = match &config.llm {
        None => None,
        Some(l) => {
            let model =
                warroom_skills::OpenAiModel::new(l).map_err(|e| anyhow::anyhow!("llm: {e}"))?;
            let masker =
                warroom_skills::Masker::new(&config.mask).map_err(|e| anyhow::anyhow!("{e}"))?;
            info!(base_url = %l.base_url, model = %l.model, "language model configured");
            Some(warroom_skills::Agent::new(
                Arc::new(model),
                Arc::new(warroom_skills::Registry::builtin()),
                l.clone(),
                Arc::new(masker),
            ))
        }
    };
    let catalog = engine.catalog();
    let schedules = engine.schedules();
    let engine = EngineHandle::spawn(
        engine,
        Arc::new(SystemClock),
        metrics.clone(),
        outbox.clone(),
        assist.clone(),
    );
    let listener = tokio::net::TcpListener::bind(config.http_addr)
        .await
        .with_context(|| format!("binding http.addr {}", config.http_addr))?;
    let addr = listener.local_addr()?;
    let intake = config.alerts.is_some().then(|| {
        crate::alert_intake::Intake::start(store.clone(), engine.clone(), metrics.clone())
    });
    // The mail source: bound now, so a taken port stops start-up with a clear error.
    let smtp_listener = match (&intake, config.alerts.as_ref().map(|a| &a.email)) {
        (Some(_), Some(email)) => match email.listen.as_deref() {
            Some(l) => {
                let l = l.trim();
                let listener = tokio::net::TcpListener::bind(l)
                    .await
                    .with_context(|| format!("binding alerts.email.listen {l}"))?;
                info!(smtp = %listener.local_addr()?, "alert mail (SMTP) listening");
                Some((listener, Arc::new(email.clone())))
            }
            None => None,
        },
        _ => None,
    };
    if intake.is_none() {
        // `[alerts] enabled = false` drops the whole section, mail included.
        info!("alert pipeline off: no webhook or mail (SMTP) source");
    }
    let shared = Arc::new(Shared {
        intake,
        alert_secrets,
        config,
        store,
        engine,
        renderer,
        metrics,
        outbox,
        assist,
        knowledge: Default::default(),
        agent,
        ready: AtomicBool::new(false),
        api_token,
        catalog,
        schedules,
        started_at: chrono::Utc::now(),
    });

    let (stop_tx, stop_rx) = watch::channel(false);
    let mut sinks: Vec<Arc<dyn ChatSink>> = Vec::new();
    let (eof_tx, eof_rx) = oneshot::channel::<()>();
    if shared.config.console_enabled {
        let console = Arc::new(crate::console::Console::new(shared.clone()));
        sinks.push(console.clone());
        tokio::spawn(console.read_loop(tokio::io::stdin(), stop_rx.clone(), eof_tx));
    }
    // Discord, when configured, is the primary adapter: war rooms open there.
    if let Some(discord) = shared.config.discord.clone() {
        let sink = crate::discord::start(shared.clone(), discord, stop_rx.clone())
            .await
            .context("starting the Discord adapter")?;
        sinks.insert(0, sink);
    }
    if let Some(w) = &shared.config.webhook {
        sinks.push(Arc::new(
            crate::webhook::Webhook::new(w).context("building the paging webhook client")?,
        ));
    }
    // The scheduler's heartbeat: escalation steps come due on ticks.
    let ticker = {
        let engine = shared.engine.clone();
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(1));
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = every.tick() => {
                        if *stop.borrow() || engine.submit(Event::Tick).await.is_err() {
                            return;
                        }
                    }
                    _ = stop.changed() => return,
                }
            }
        })
    };
    let dispatcher = tokio::spawn(dispatch(shared.clone(), sinks, stop_rx.clone()));
    let assistant = tokio::spawn(crate::assistant::run(shared.clone(), stop_rx.clone()));
    let mut http_stop = stop_rx.clone();
    let http = tokio::spawn(
        axum::serve(listener, crate::http::router(shared.clone()))
            .with_graceful_shutdown(async move {
                let _ = http_stop.wait_for(|s| *s).await;
            })
            .into_future(),
    );
    let smtp = match (smtp_listener, shared.intake.clone()) {
        (Some((listener, email)), Some(intake)) => {
            let sink: Arc<dyn crate::alert_sink::AlertSink> = intake;
            let mut smtp_stop = stop_rx.clone();
            Some(tokio::spawn(crate::smtp::serve(
                listener,
                email,
                sink,
                async move {
                    let _ = smtp_stop.wait_for(|s| *s).await;
                },
            )))
        }
        _ => None,
    };
    let reloader = tokio::spawn(crate::reload::watch(
        opts.config_path.clone(),
        shared.clone(),
        hangup,
        stop_rx.clone(),
    ));
    shared.ready.store(true, Ordering::Relaxed);
    info!(%addr, elapsed_ms = started.elapsed().as_millis() as u64, "warroom ready");

    let eof = async {
        match eof_rx.await {
            Ok(()) if opts.exit_on_eof => {}
            _ => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        // SIGINT/SIGTERM from main, or the test harness.
        _ = shutdown => info!("shutting down"),
        // Console input ended and the caller asked to stop then: answer what was asked
        // first (answers from the knowledge base, analysis cards), within a bound.
        _ = eof => {
            info!("console input ended; finishing queued replies");
            if tokio::time::timeout(EOF_DRAIN, drained(&shared)).await.is_err() {
                warn!("queued work left for the next start");
            }
            info!("shutting down");
        }
    }
    shared.ready.store(false, Ordering::Relaxed);
    let _ = stop_tx.send(true);
    let _ = ticker.await;
    let _ = reloader.await;
    let _ = dispatcher.await;
    // The assistant may be inside a long ingest; what it has not finished stays queued.
    assistant.abort();
    let _ = assistant.await;
    let _ = http.await;
    if let Some(smtp) = smtp {
        match smtp.await {
            Ok(Err(e)) => warn!(error = %e, "the SMTP listener failed"),
            Err(e) => warn!(error = %e, "the SMTP listener task failed"),
            Ok(Ok(())) => {}
        }
    }
    tokio::task::spawn_blocking(move || drop(shared)).await?;
    info!("stopped");
    Ok(())
}
