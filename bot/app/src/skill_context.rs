//! [`SkillContext`] over the running bot: the skills' read-only view of the store, the
//! engine's catalog and schedules, the calendars and the knowledge index.
//!
//! It only reads. Write skills never reach it: they return proposals that run as chat
//! commands after a person confirms them.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use warroom_core::alerts::Alert;
use warroom_core::calendar::Calendar;
use warroom_core::changes::{ChangeEvent, ChangeQuery, Snapshot};
use warroom_core::event::OnCallEntry;
use warroom_core::incident::{Incident, IncidentId, TimelineEntry};
use warroom_core::oncall::Lookup;
use warroom_core::ports::{SnapshotMeta, Store, StoreError};
use warroom_core::tasks::Plan;
use warroom_core::Tz;
use warroom_knowledge::{HistoryHit, SearchAnswer, SearchOptions};
use warroom_skills::{ContextError, SkillContext};

/// The `alert_query` skill reads at most this many of the newest alerts.
const ALERTS_READ: usize = 20_000;

use crate::app::Shared;

/// The context of one question.
pub struct AppContext {
    shared: Arc<Shared>,
    incident: Option<IncidentId>,
    now: DateTime<Utc>,
}

impl AppContext {
    /// A context for a question asked at `now`, in `incident`'s war room if any.
    pub fn new(shared: Arc<Shared>, incident: Option<IncidentId>, now: DateTime<Utc>) -> Self {
        Self {
            shared,
            incident,
            now,
        }
    }

    async fn knowledge(&self) -> Result<Arc<warroom_knowledge::Knowledge>, ContextError> {
        crate::assistant::open(&self.shared)
            .await
            .map_err(ContextError::Unavailable)
    }

    /// Runs a blocking store read off the async runtime.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&crate::store_sled::SledStore) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, ContextError> {
        let store = self.shared.store.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| ContextError::Failed(e.to_string()))?
            .map_err(|e| ContextError::Failed(e.to_string()))
    }
}

#[async_trait]
impl SkillContext for AppContext {
    fn now(&self) -> DateTime<Utc> {
        self.now
    }

    fn tz(&self) -> Tz {
        self.shared.config.engine.tz
    }

    fn current_incident(&self) -> Option<IncidentId> {
        self.incident.clone()
    }

    fn calendar(&self, market: Option<&str>) -> Option<Calendar> {
        let cfg = &self.shared.config.engine;
        cfg.calendars.get(market.unwrap_or(&cfg.market)).cloned()
    }

    fn markets(&self) -> Vec<String> {
        self.shared
            .config
            .engine
            .calendars
            .markets()
            .into_iter()
            .map(String::from)
            .collect()
    }

    async fn service_names(&self) -> Result<Vec<String>, ContextError> {
        Ok(self
            .shared
            .catalog
            .get()
            .services()
            .map(|s| s.name.clone())
            .collect())
    }

    async fn changes(&self, q: &ChangeQuery) -> Result<Vec<ChangeEvent>, ContextError> {
        let all = self.read(|s| s.changes()).await?;
        let catalog = self.shared.catalog.get();
        Ok(warroom_core::changes::query(&all, q, &catalog)
            .into_iter()
            .cloned()
            .collect())
    }

    async fn snapshot_index(&self) -> Result<Vec<SnapshotMeta>, ContextError> {
        self.read(|s| s.snapshot_index()).await
    }

    async fn snapshot(&self, id: u64) -> Result<Option<Snapshot>, ContextError> {
        self.read(move |s| s.snapshot(id)).await
    }

    async fn search_runbooks(
        &self,
        query: &str,
        options: &SearchOptions,
    ) -> Result<SearchAnswer, ContextError> {
        self.knowledge()
            .await?
            .search(query, options)
            .await
            .map_err(|e| ContextError::Failed(format!("{e:#}")))
    }

    async fn similar_incidents(
        &self,
        text: &str,
        k: usize,
    ) -> Result<Vec<HistoryHit>, ContextError> {
        self.knowledge()
            .await?
            .similar_incidents(text, k)
            .await
            .map_err(|e| ContextError::Failed(format!("{e:#}")))
    }

    async fn incident(&self, id: &IncidentId) -> Result<Option<Incident>, ContextError> {
        let id = id.clone();
        self.read(move |s| s.incident(&id)).await
    }

    async fn incidents(&self) -> Result<Vec<Incident>, ContextError> {
        self.read(|s| s.incidents()).await
    }

    async fn timeline(&self, id: &IncidentId) -> Result<Vec<TimelineEntry>, ContextError> {
        let id = id.clone();
        self.read(move |s| s.timeline(&id)).await
    }

    async fn oncall(
        &self,
        name: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<Option<Vec<OnCallEntry>>, ContextError> {
        let cfg = &self.shared.config.engine;
        let catalog = self.shared.catalog.get();
        let schedules = self.shared.schedules.get();
        let lookup = name.map_or(Lookup::All, Lookup::Any);
        let Some(names) = cfg.schedules_for(lookup, &schedules, &catalog) else {
            return Ok(None);
        };
        Ok(Some(warroom_core::oncall::entries(
            &names,
            &schedules,
            &catalog,
            &cfg.calendars,
            at,
        )))
    }

    async fn alerts(&self, since: DateTime<Utc>) -> Result<Vec<Alert>, ContextError> {
        let batches = self
            .read(move |s| s.alerts_since(since, ALERTS_READ))
            .await?;
        Ok(batches.into_iter().flat_map(|(_, a)| a).collect())
    }

    async fn plans(&self) -> Result<Vec<Plan>, ContextError> {
        self.read(|s| s.plans()).await
    }

    fn task_grace(&self) -> chrono::Duration {
        self.shared.config.engine.task_policy.grace
    }
}
