//! The pipeline: normalize → enrich → dedup → group → inhibit → silence → correlate →
//! declare/attach, on the caller's clock.
//!
//! [`Pipeline::ingest`] takes normalized alerts, stamps them, deduplicates them into
//! episodes, records flapping, storms and co-starts, and puts new episodes into their
//! route groups. [`Pipeline::tick`] runs the timers: group flushes (first after
//! `group_wait`, changes every `group_interval`, reminders every `repeat_interval`),
//! the declare pauses, cluster closing and silence expiry. A flush mutes silenced and
//! inhibited alerts, correlates the rest into clusters and returns what happened as
//! [`Output`]s. Resolutions always reach the cluster, muted or not.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::config::{AlertRules, PipelineConfig};
use super::correlate::{Cluster, ClusterState, CoStarts, Identity, Member, Topology};
use super::duration::Dur;
use super::inhibit::Inhibitor;
use super::model::{Alert, AlertKey, AlertSource, AlertStatus, Labels};
use super::reason::{Declaration, JoinReason, Signal, Trigger};
use super::route::RouteOpts;
use super::silence::{Silence, SilenceError};
use crate::catalog::Catalog;
use crate::incident::Severity;

/// An alert as outputs name it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertRef {
    /// Episode.
    pub key: AlertKey,
    /// `alertname`.
    pub alertname: String,
    /// Service, when known.
    pub service: Option<String>,
    /// Severity.
    pub severity: Severity,
    /// Title.
    pub title: String,
}

/// Why an alert is not shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "why", rename_all = "snake_case")]
pub enum SuppressReason {
    /// A silence matches it.
    Silenced {
        /// The silence.
        silence: String,
    },
    /// A firing alert inhibits it.
    Inhibited {
        /// Fingerprint of the inhibiting alert.
        by: String,
    },
    /// It flaps and nothing it belonged to is open.
    Flapping {
        /// State changes within the flap window.
        changes: u32,
    },
    /// It resolved before it was worth an incident.
    Transient,
    /// It keeps firing without ever being part of an incident (see [`super::ChronicConfig`]).
    Chronic {
        /// Such episodes within the chronic window.
        episodes: u32,
    },
    /// Less severe than `declare.min_severity`.
    BelowMinSeverity,
}

/// Storm start or end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StormPhase {
    /// The rate went over the threshold.
    Started,
    /// It calmed down.
    Ended,
}

/// What the pipeline decided; the app turns these into engine events.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Output {
    /// A cluster became an incident.
    Declare {
        /// Cluster id.
        cluster: String,
        /// From the worst alert.
        severity: Severity,
        /// From the probable root alert.
        title: String,
        /// Services involved.
        services: Vec<String>,
        /// Owner team of the root service, from the catalog.
        owner: Option<String>,
        /// Every alert of the cluster so far.
        alerts: Vec<AlertRef>,
        /// Why it was declared and why its alerts belong together.
        reason: Declaration,
    },
    /// Alerts joined an incident.
    Attach {
        /// Cluster id.
        cluster: String,
        /// The incident (see [`Pipeline::bind`]).
        incident_key: String,
        /// The alerts.
        alerts: Vec<AlertRef>,
        /// The lowest confidence among them.
        confidence: f64,
        /// Why (for the alert with the lowest confidence).
        reason: JoinReason,
        /// False for held (flapping) alerts and during storms: record, do not post.
        notify: bool,
    },
    /// An alert of an incident resolved.
    Update {
        /// Cluster id.
        cluster: String,
        /// The incident.
        incident_key: String,
        /// The alert.
        alert: AlertRef,
        /// Its new status.
        status: AlertStatus,
        /// When.
        at: DateTime<Utc>,
        /// False for held (flapping) alerts and during storms.
        notify: bool,
    },
    /// An incident's probable root resolved, and these members still fire
    /// [`CorrelationConfig::outlived`](super::CorrelationConfig::outlived) later: maybe
    /// a separate problem.
    Outlived {
        /// Cluster id.
        cluster: String,
        /// The incident.
        incident_key: String,
        /// The root that resolved.
        cause: AlertRef,
        /// When it resolved.
        cause_resolved_at: DateTime<Utc>,
        /// The members still firing (not on the root's service).
        alerts: Vec<AlertRef>,
    },
    /// Every alert of an incident has resolved.
    Resolved {
        /// Cluster id.
        cluster: String,
        /// The incident.
        incident_key: String,
    },
    /// A more severe alert joined an incident.
    Escalate {
        /// Cluster id.
        cluster: String,
        /// The incident.
        incident_key: String,
        /// The new severity.
        severity: Severity,
    },
    /// An unchanged incident is still firing (`repeat_interval`).
    Reminder {
        /// Cluster id.
        cluster: String,
        /// The incident.
        incident_key: String,
        /// Alerts still firing in the group.
        firing: usize,
    },
    /// A storm started or ended.
    StormNotice {
        /// `service <name>` or `source <kind>`.
        key: String,
        /// Started or ended.
        phase: StormPhase,
        /// New alerts in the window (started) or during the storm (ended).
        count: usize,
        /// The window.
        window: Dur,
        /// Storm start.
        since: DateTime<Utc>,
    },
    /// An alert is not shown (once per reason).
    Suppressed {
        /// The alert.
        alert: AlertRef,
        /// Why.
        reason: SuppressReason,
    },
    /// A silence ended.
    SilenceExpired {
        /// Its id.
        id: String,
    },
}

/// Why a pipeline could not be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PipelineError {
    /// Unknown time zone.
    #[error("`{0}` is not an IANA time zone")]
    BadTimezone(String),
    /// A configured silence is invalid.
    #[error("silence `{id}`: {error}")]
    BadSilence {
        /// Its id.
        id: String,
        /// The problem.
        error: SilenceError,
    },
    /// Two silences share an id.
    #[error("silence `{0}` is defined twice")]
    DuplicateSilence(String),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Episode {
    starts_at: DateTime<Utc>,
    ends_at: Option<DateTime<Utc>>,
    status: AlertStatus,
    last_seen: DateTime<Utc>,
    cluster: Option<String>,
    /// Considered by a flush (correlated, or suppressed for good).
    decided: bool,
    /// Suppression last reported.
    suppressed: Option<SuppressReason>,
    resolve_reported: bool,
    held: bool,
    /// Clusters this episode founded (it founds another when it still fires after
    /// the first one ended).
    #[serde(default)]
    founded: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct AlertState {
    labels: Labels,
    annotations: Labels,
    source: AlertSource,
    identity: Identity,
    severity: Severity,
    title: String,
    episodes: Vec<Episode>,
    changes: VecDeque<DateTime<Utc>>,
    /// Starts of recent episodes that ended without being part of an incident.
    #[serde(default)]
    unconfirmed: VecDeque<DateTime<Utc>>,
    flapping: bool,
    last_seen: DateTime<Utc>,
    groups: Vec<String>,
}

impl AlertState {
    fn current(&self) -> Option<&Episode> {
        self.episodes.last()
    }

    fn firing(&self) -> bool {
        self.current()
            .is_some_and(|e| e.status == AlertStatus::Firing)
    }

    fn aref(&self, fp: &str, ep: &Episode) -> AlertRef {
        AlertRef {
            key: AlertKey {
                fingerprint: fp.to_string(),
                starts_at: ep.starts_at,
            },
            alertname: self.identity.alertname.clone(),
            service: self.identity.service.clone(),
            severity: self.severity,
            title: self.title.clone(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Group {
    opts: RouteOpts,
    members: BTreeSet<String>,
    next_flush: DateTime<Utc>,
    flushed: bool,
    last_sent: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Storm {
    times: VecDeque<DateTime<Utc>>,
    active: bool,
    since: DateTime<Utc>,
    total: usize,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct State {
    alerts: BTreeMap<String, AlertState>,
    groups: BTreeMap<String, Group>,
    clusters: BTreeMap<String, Cluster>,
    open: BTreeSet<String>,
    silences: BTreeMap<String, Silence>,
    storms: BTreeMap<String, Storm>,
    costarts: CoStarts,
    last_prune: Option<DateTime<Utc>>,
    clock: Option<DateTime<Utc>>,
    /// When firing alerts from Prometheus lapse unless re-sent (their `endsAt`), with
    /// their fingerprints; entries left behind by a re-send are skipped at the tick.
    #[serde(default)]
    lapses: BTreeSet<(DateTime<Utc>, String)>,
    /// Silences that ended, kept [`ENDED_SILENCES_KEPT`] after their end so they can
    /// still be listed (as Alertmanager does) and are not ended twice.
    #[serde(default)]
    ended: BTreeMap<String, Silence>,
}

#[derive(Clone, Debug, Default)]
struct Derived {
    topo: Topology,
    inhibitor: Option<Inhibitor>,
    tz: Option<Tz>,
}

/// The alert pipeline and all its state. Serializable; after deserializing, call
/// [`Pipeline::set_catalog`] (the catalog is configuration, not state).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Pipeline {
    config: PipelineConfig,
    state: State,
    #[serde(skip)]
    derived: Derived,
}

/// Most episodes remembered per fingerprint.
const MAX_EPISODES: usize = 16;

/// How long an ended silence is still listed: Alertmanager's default
/// `--data.retention`.
pub const ENDED_SILENCES_KEPT: Duration = Duration::hours(120);

/// An alert firing now, as the pipeline holds it (`/alerts`, `GET /api/v2/alerts`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FiringAlert {
    /// Fingerprint.
    pub fingerprint: String,
    /// Labels (with the catalog's service and team when the sender had none).
    pub labels: Labels,
    /// Annotations.
    pub annotations: Labels,
    /// When this episode started.
    pub starts_at: DateTime<Utc>,
    /// When the sender said it would end unless sent again, if it said.
    pub ends_at: Option<DateTime<Utc>>,
    /// When it was last received.
    pub updated_at: DateTime<Utc>,
    /// Severity.
    pub severity: Severity,
    /// Alert name.
    pub alertname: String,
    /// Service, when known.
    pub service: Option<String>,
    /// Title.
    pub title: String,
    /// Why it is not paged on its own, if it is not.
    pub suppressed: Option<SuppressReason>,
    /// The cluster it belongs to, if any.
    pub cluster: Option<String>,
    /// The incident that cluster was declared as, if it was (the engine fills it).
    #[serde(default)]
    pub incident: Option<String>,
    /// The routes that take it: each one's receiver and the labels of its group there.
    #[serde(default)]
    pub routes: Vec<AlertRoute>,
}

/// A route that takes an alert, as Alertmanager lists alert groups.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertRoute {
    /// The route's receiver.
    pub receiver: String,
    /// The labels naming the alert's group under that route.
    pub group: Labels,
}

/// What ending a silence did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SilenceEnd {
    /// It ended now (or, when it had not started, will never start).
    Ended,
    /// It had already ended.
    AlreadyEnded,
    /// No silence has that id.
    Unknown,
}

impl Pipeline {
    /// A pipeline with `config` over `catalog`.
    ///
    /// # Errors
    /// [`PipelineError`] for an unknown time zone or invalid configured silences.
    pub fn new(config: PipelineConfig, catalog: Catalog) -> Result<Self, PipelineError> {
        let tz: Tz = config
            .timezone
            .parse()
            .map_err(|_| PipelineError::BadTimezone(config.timezone.chars().take(64).collect()))?;
        let mut state = State::default();
        for s in &config.silences {
            s.validate().map_err(|error| PipelineError::BadSilence {
                id: s.id.clone(),
                error,
            })?;
            if state.silences.insert(s.id.clone(), s.clone()).is_some() {
                return Err(PipelineError::DuplicateSilence(s.id.clone()));
            }
        }
        let topo = Topology::new(catalog, config.correlation.hops);
        Ok(Self {
            config,
            state,
            derived: Derived {
                topo,
                inhibitor: None,
                tz: Some(tz),
            },
        })
    }

    /// Replaces the routing tree, the inhibition rules and the configured silences
    /// (hot reload) and keeps every piece of state: alerts and their episodes,
    /// groups with their members and timers, clusters and their incident bindings,
    /// flapping and storm counters, and the silences from chat and the API.
    ///
    /// Groups that exist keep their members and the route options they were made
    /// with; the new routes decide the groups of episodes that start from now on. The
    /// inhibition index is rebuilt from the firing alerts under the new rules. A
    /// configured silence that left the file ends (unless chat or the API replaced
    /// it); one that is new or changed takes effect; an unchanged one is left alone
    /// (so an early end from the API stays).
    ///
    /// # Errors
    /// [`PipelineError`] for an invalid or duplicated silence; nothing is changed then.
    pub fn reload_rules(&mut self, rules: AlertRules) -> Result<(), PipelineError> {
        let mut ids = BTreeSet::new();
        for s in &rules.silences {
            s.validate().map_err(|error| PipelineError::BadSilence {
                id: s.id.clone(),
                error,
            })?;
            if !ids.insert(s.id.as_str()) {
                return Err(PipelineError::DuplicateSilence(s.id.clone()));
            }
        }
        for old in &self.config.silences {
            let still = rules.silences.iter().any(|s| s.id == old.id);
            if !still && self.state.silences.get(&old.id) == Some(old) {
                self.state.silences.remove(&old.id);
            }
        }
        for s in &rules.silences {
            let before = self.config.silences.iter().find(|o| o.id == s.id);
            if before != Some(s) {
                self.state.ended.remove(&s.id);
                self.state.silences.insert(s.id.clone(), s.clone());
            }
        }
        self.config.route = rules.route;
        self.config.inhibit_rules = rules.inhibit_rules;
        self.config.silences = rules.silences;
        self.derived.inhibitor = None;
        let route = &self.config.route;
        for st in self.state.alerts.values_mut() {
            st.groups = route
                .resolve(&st.labels)
                .iter()
                .map(|o| o.group_key(&st.labels))
                .collect();
        }
        Ok(())
    }

    /// Replaces the catalog (also needed after deserializing).
    pub fn set_catalog(&mut self, catalog: Catalog) {
        self.derived.topo = Topology::new(catalog, self.config.correlation.hops);
    }

    /// The configuration.
    pub fn config(&self) -> &PipelineConfig {
        &self.config
    }

    fn tz(&self) -> Tz {
        self.derived
            .tz
            .unwrap_or_else(|| self.config.timezone.parse().unwrap_or(Tz::UTC))
    }

    /// Binds a cluster to the incident the app created for it; later outputs carry
    /// `incident_key`. False when there is no such cluster.
    pub fn bind(&mut self, cluster: &str, incident_key: String) -> bool {
        match self.state.clusters.get_mut(cluster) {
            Some(c) => {
                c.incident_key = Some(incident_key);
                true
            }
            None => false,
        }
    }

    /// A cluster by id.
    pub fn cluster(&self, id: &str) -> Option<&Cluster> {
        self.state.clusters.get(id)
    }

    /// The cluster an episode was put in, if any.
    pub fn cluster_of(&self, key: &AlertKey) -> Option<&str> {
        let st = self.state.alerts.get(&key.fingerprint)?;
        st.episodes
            .iter()
            .find(|e| e.starts_at == key.starts_at)?
            .cluster
            .as_deref()
    }

    /// Adds (or replaces) a silence.
    ///
    /// # Errors
    /// [`SilenceError`] when it would match everything or ends before it starts.
    pub fn add_silence(&mut self, s: Silence) -> Result<(), SilenceError> {
        s.validate()?;
        self.state.ended.remove(&s.id);
        self.state.silences.insert(s.id.clone(), s);
        Ok(())
    }

    /// Puts back a silence read from the store at start-up. One that was ended before
    /// it began (it ends when it starts) goes straight to the ended ones; the others
    /// are added, and the next tick moves those past their end to the ended ones or,
    /// ended longer than [`ENDED_SILENCES_KEPT`] ago, forgets them.
    ///
    /// # Errors
    /// As [`Pipeline::add_silence`].
    pub fn restore_silence(&mut self, s: Silence) -> Result<(), SilenceError> {
        if s.ends_at.is_some_and(|e| e == s.starts_at) {
            self.state.silences.remove(&s.id);
            self.state.ended.insert(s.id.clone(), s);
            return Ok(());
        }
        self.add_silence(s)
    }

    /// Ends a silence now (one still to come is then over before it began).
    pub fn expire_silence(&mut self, id: &str, now: DateTime<Utc>) -> SilenceEnd {
        match self.state.silences.get_mut(id) {
            Some(s) if s.is_expired(now) => SilenceEnd::AlreadyEnded,
            Some(s) => {
                // A silence still to come ends before it began, as in Alertmanager.
                s.starts_at = s.starts_at.min(now);
                s.ends_at = Some(now);
                s.updated_at = Some(now);
                SilenceEnd::Ended
            }
            None if self.state.ended.contains_key(id) => SilenceEnd::AlreadyEnded,
            None => SilenceEnd::Unknown,
        }
    }

    /// The silences in force or to come (and ended ones the tick has not seen yet),
    /// by id.
    pub fn silences(&self) -> impl Iterator<Item = &Silence> {
        self.state.silences.values()
    }

    /// The alerts firing now whose labels match every one of `matchers`, worst
    /// severity first, then latest start. Silences are read at `now` (as Alertmanager
    /// does when it lists alerts), not at the alert's last group flush.
    pub fn firing_alerts(
        &self,
        matchers: &[super::Matcher],
        now: DateTime<Utc>,
    ) -> Vec<FiringAlert> {
        let mut out: Vec<FiringAlert> = self
            .state
            .alerts
            .iter()
            .filter(|(_, st)| super::matcher::matches_all(matchers, &st.labels))
            .filter_map(|(fp, st)| {
                let ep = st.current().filter(|e| e.status == AlertStatus::Firing)?;
                Some(FiringAlert {
                    fingerprint: fp.clone(),
                    labels: st.labels.clone(),
                    annotations: st.annotations.clone(),
                    starts_at: ep.starts_at,
                    ends_at: ep.ends_at,
                    updated_at: ep.last_seen,
                    severity: st.severity,
                    alertname: st.identity.alertname.clone(),
                    service: st.identity.service.clone(),
                    title: st.title.clone(),
                    suppressed: match (self.silenced_by(&st.labels, now), &ep.suppressed) {
                        (Some(silence), _) => Some(SuppressReason::Silenced { silence }),
                        (None, Some(SuppressReason::Silenced { .. })) => None,
                        (None, other) => other.clone(),
                    },
                    cluster: ep.cluster.clone(),
                    incident: None,
                    routes: self
                        .config
                        .route
                        .resolve(&st.labels)
                        .into_iter()
                        .map(|o| AlertRoute {
                            group: o.group_labels(&st.labels),
                            receiver: o.receiver,
                        })
                        .collect(),
                })
            })
            .collect();
        out.sort_by(|a, b| {
            (a.severity, std::cmp::Reverse(a.starts_at), &a.fingerprint).cmp(&(
                b.severity,
                std::cmp::Reverse(b.starts_at),
                &b.fingerprint,
            ))
        });
        out
    }

    /// The silences that ended within [`ENDED_SILENCES_KEPT`], by id.
    pub fn ended_silences(&self) -> impl Iterator<Item = &Silence> {
        self.state.ended.values()
    }

    /// Time never runs backwards for the pipeline: an earlier `now` reads as the latest seen.
    fn clock(&mut self, now: DateTime<Utc>) -> DateTime<Utc> {
        let t = self.state.clock.map_or(now, |c| c.max(now));
        self.state.clock = Some(t);
        t
    }

    /// Builds the inhibition index if it is missing (after deserializing).
    fn ensure_inhibitor(&mut self) {
        let rules = &self.config.inhibit_rules;
        let alerts = &self.state.alerts;
        self.derived.inhibitor.get_or_insert_with(|| {
            let mut inh = Inhibitor::new(rules);
            for (fp, st) in alerts {
                if st.firing() {
                    inh.add(rules, fp, &st.labels);
                }
            }
            inh
        });
    }

    /// Takes a batch of normalized alerts received at `now`.
    pub fn ingest(&mut self, alerts: Vec<Alert>, now: DateTime<Utc>) -> Vec<Output> {
        let now = self.clock(now);
        let mut out = Vec::new();
        for mut a in alerts {
            a.received_at = now;
            self.ingest_one(a, now, &mut out);
        }
        out
    }

    /// How the estate places `a` (from its labels and text), and its title.
    fn read(&self, a: &Alert) -> (Identity, String) {
        let title = a.title();
        let identity =
            self.derived
                .topo
                .identify(&self.config.correlation, &a.labels, &a.annotations, &title);
        (identity, title)
    }

    fn ingest_one(&mut self, a: Alert, now: DateTime<Utc>, out: &mut Vec<Output>) {
        let fp = a.fingerprint.clone();
        if let (AlertSource::Prometheus, AlertStatus::Firing, Some(e)) =
            (a.source, a.status, a.ends_at)
        {
            self.state.lapses.insert((e, fp.clone()));
        }
        if !self.state.alerts.contains_key(&fp) {
            let (identity, title) = self.read(&a);
            let severity = self.config.declare.severity_of(&a.labels);
            let mut labels = a.labels.clone();
            enrich(&mut labels, &identity);
            let groups = self
                .config
                .route
                .resolve(&labels)
                .iter()
                .map(|o| o.group_key(&labels))
                .collect();
            self.state.alerts.insert(
                fp.clone(),
                AlertState {
                    labels,
                    annotations: a.annotations.clone(),
                    source: a.source,
                    identity,
                    severity,
                    title,
                    episodes: Vec::new(),
                    changes: VecDeque::new(),
                    unconfirmed: VecDeque::new(),
                    flapping: false,
                    last_seen: now,
                    groups,
                },
            );
        }
        let Some(st) = self.state.alerts.get_mut(&fp) else {
            return;
        };
        st.last_seen = now;
        // Which episode does this message belong to?
        let event_source = matches!(a.source, AlertSource::Event | AlertSource::Email);
        let idx = if event_source {
            match st.episodes.last() {
                Some(e) if e.status == AlertStatus::Firing => Some(st.episodes.len() - 1),
                Some(_) if a.status == AlertStatus::Resolved => Some(st.episodes.len() - 1),
                _ => None,
            }
        } else {
            st.episodes.iter().rposition(|e| e.starts_at == a.starts_at)
        };
        match idx {
            Some(i) => {
                let was = st.episodes[i].status;
                let ep = &mut st.episodes[i];
                ep.last_seen = now;
                if was == AlertStatus::Resolved {
                    // A late re-send of a resolved episode: nothing to learn.
                    return;
                }
                if a.status == AlertStatus::Resolved {
                    let at = a.ends_at.unwrap_or(now);
                    ep.ends_at = Some(at);
                    ep.status = AlertStatus::Resolved;
                    self.on_resolved(&fp, i, at);
                } else if a.ends_at.is_some() {
                    ep.ends_at = a.ends_at;
                }
            }
            None => {
                if !event_source
                    && st
                        .episodes
                        .last()
                        .is_some_and(|e| e.starts_at > a.starts_at)
                {
                    // An episode older than the current one we never saw: only record it.
                    if st.episodes.len() < MAX_EPISODES && a.status == AlertStatus::Resolved {
                        let pos = st
                            .episodes
                            .iter()
                            .position(|e| e.starts_at > a.starts_at)
                            .unwrap_or(0);
                        st.episodes
                            .insert(pos, new_episode(&a, now, AlertStatus::Resolved, true));
                    }
                    return;
                }
                // A new episode; a still-firing previous one evidently ended.
                let last = st.episodes.len().checked_sub(1);
                if let Some(l) = last.filter(|l| st.episodes[*l].status == AlertStatus::Firing) {
                    let at = a.starts_at;
                    st.episodes[l].status = AlertStatus::Resolved;
                    st.episodes[l].ends_at = Some(at);
                    self.on_resolved(&fp, l, at);
                }
                // A new episode may say something new (another value, another cause
                // named): its text is read again.
                let fresh = self
                    .state
                    .alerts
                    .get(&fp)
                    .filter(|st| st.annotations != a.annotations)
                    .map(|_| self.read(&a));
                let Some(st) = self.state.alerts.get_mut(&fp) else {
                    return;
                };
                if let Some((identity, title)) = fresh {
                    st.identity = identity;
                    st.title = title;
                    st.annotations.clone_from(&a.annotations);
                }
                if st.episodes.len() >= MAX_EPISODES {
                    // Forget the oldest settled episode.
                    if let Some(p) = st.episodes.iter().position(|e| {
                        e.status == AlertStatus::Resolved
                            && (e.resolve_reported || e.cluster.is_none())
                    }) {
                        st.episodes.remove(p);
                    }
                }
                if a.status == AlertStatus::Resolved {
                    // Resolved without ever being seen firing: a blip that came and
                    // went between two sends, alone (it counts towards chronic noise).
                    st.episodes
                        .push(new_episode(&a, now, AlertStatus::Resolved, true));
                    let idx = st.episodes.len() - 1;
                    self.suppress(&fp, idx, SuppressReason::Transient, out);
                    return;
                }
                st.episodes
                    .push(new_episode(&a, now, AlertStatus::Firing, false));
                self.on_new_firing(&fp, a.starts_at, now, out);
            }
        }
    }

    fn on_new_firing(
        &mut self,
        fp: &str,
        starts_at: DateTime<Utc>,
        now: DateTime<Utc>,
        out: &mut Vec<Output>,
    ) {
        let flap = &self.config.flapping;
        let Some(st) = self.state.alerts.get_mut(fp) else {
            return;
        };
        record_change(st, starts_at, flap.window.get(), flap.changes);
        let service = st.identity.service.clone();
        let source = st.source;
        let labels = st.labels.clone();
        let group_keys = st.groups.clone();
        if let Some(s) = &service {
            if self.config.correlation.learn {
                self.state
                    .costarts
                    .observe(s, starts_at, self.config.correlation.window.get());
            }
        }
        // Storms.
        let storm_cfg = self.config.storm.clone();
        let mut keys = vec![(
            format!("source {}", source_name(source)),
            storm_cfg.per_source,
        )];
        if let Some(s) = &service {
            keys.push((format!("service {s}"), storm_cfg.per_service));
        }
        for (key, threshold) in keys {
            let storm = self
                .state
                .storms
                .entry(key.clone())
                .or_insert_with(|| Storm {
                    times: VecDeque::new(),
                    active: false,
                    since: now,
                    total: 0,
                });
            storm.times.push_back(now);
            while storm
                .times
                .front()
                .is_some_and(|t| now - *t > storm_cfg.window.get())
            {
                storm.times.pop_front();
            }
            if storm.active {
                storm.total += 1;
            } else if threshold > 0 && storm.times.len() >= threshold as usize {
                storm.active = true;
                storm.since = storm.times.front().copied().unwrap_or(now);
                storm.total = storm.times.len();
                out.push(Output::StormNotice {
                    key,
                    phase: StormPhase::Started,
                    count: storm.times.len(),
                    window: storm_cfg.window,
                    since: storm.since,
                });
            }
        }
        // Inhibition sources.
        self.ensure_inhibitor();
        if let Some(inh) = self.derived.inhibitor.as_mut() {
            inh.add(&self.config.inhibit_rules, fp, &labels);
        }
        // Groups.
        let routes = self.config.route.resolve(&labels);
        for (opts, key) in routes.into_iter().zip(group_keys) {
            let g = self.state.groups.entry(key).or_insert_with(|| Group {
                next_flush: now + opts.group_wait.get(),
                opts: opts.clone(),
                members: BTreeSet::new(),
                flushed: false,
                last_sent: None,
            });
            g.members.insert(fp.to_string());
            if !g.flushed && starts_at + g.opts.group_wait.get() < now {
                // An alert that is already old: no reason to wait (as Alertmanager does).
                g.next_flush = g.next_flush.min(now);
            }
        }
    }

    fn on_resolved(&mut self, fp: &str, idx: usize, at: DateTime<Utc>) {
        let flap = self.config.flapping.clone();
        let Some(st) = self.state.alerts.get_mut(fp) else {
            return;
        };
        record_change(st, at, flap.window.get(), flap.changes);
        let labels = st.labels.clone();
        let cluster = st.episodes.get(idx).and_then(|e| e.cluster.clone());
        let still_firing = st.firing();
        if !still_firing {
            self.ensure_inhibitor();
            if let Some(inh) = self.derived.inhibitor.as_mut() {
                inh.remove(&self.config.inhibit_rules, fp, &labels);
            }
        }
        if let Some(c) = cluster.and_then(|c| self.state.clusters.get_mut(&c)) {
            c.firing.remove(fp);
            let start = self
                .state
                .alerts
                .get(fp)
                .and_then(|st| st.episodes.get(idx))
                .map(|e| e.starts_at);
            if let Some(m) = c
                .members
                .iter_mut()
                .rev()
                .find(|m| m.key.fingerprint == fp && Some(m.key.starts_at) == start)
            {
                m.resolved_at = Some(at);
            }
            if c.firing.is_empty() {
                c.quiet_since = Some(at);
            }
        }
    }

    /// The earliest time at which [`Pipeline::tick`] has something to do.
    pub fn next_deadline(&self) -> Option<DateTime<Utc>> {
        let mut best: Option<DateTime<Utc>> = None;
        let mut consider = |t: DateTime<Utc>| best = Some(best.map_or(t, |b| b.min(t)));
        for g in self.state.groups.values() {
            consider(g.next_flush);
        }
        for id in &self.state.open {
            if let Some(c) = self.state.clusters.get(id) {
                if let Some(t) = self.cluster_deadline(c) {
                    consider(t);
                }
            }
        }
        for s in self.state.silences.values() {
            if let Some(e) = s.ends_at {
                consider(e);
            }
        }
        if let Some((t, _)) = self.state.lapses.first() {
            consider(*t);
        }
        best
    }

    /// Firing Prometheus alerts whose `endsAt` passed without a re-send resolve then,
    /// as in Alertmanager: a Prometheus that stopped sending leaves nothing firing.
    fn lapse(&mut self, now: DateTime<Utc>) {
        while let Some((t, fp)) = self.state.lapses.first().cloned() {
            if t > now {
                break;
            }
            self.state.lapses.pop_first();
            let Some(st) = self.state.alerts.get_mut(&fp) else {
                continue;
            };
            let Some(i) = st.episodes.len().checked_sub(1) else {
                continue;
            };
            let ep = &mut st.episodes[i];
            if ep.status != AlertStatus::Firing || ep.ends_at != Some(t) {
                continue;
            }
            ep.status = AlertStatus::Resolved;
            self.on_resolved(&fp, i, t);
        }
    }

    fn cluster_deadline(&self, c: &Cluster) -> Option<DateTime<Utc>> {
        let corr = &self.config.correlation;
        match (c.state, c.quiet_since) {
            (ClusterState::Pending, Some(q)) => Some(q + corr.window.get()),
            (ClusterState::Pending, None) => {
                // Symptoms alone wait longer: their cause is often elsewhere.
                let factor = if c.members.iter().all(|m| m.symptom) {
                    self.config.declare.symptom_pause.max(1.0)
                } else {
                    1.0
                };
                let alone = self.config.declare.alone_from;
                c.members
                    .iter()
                    .filter(|m| m.resolved_at.is_none() && m.severity <= alone)
                    .map(|m| m.key.starts_at + self.pause_for(m, factor).0)
                    .min()
            }
            (ClusterState::Declared, Some(q)) => Some(q + corr.close_after.get()),
            (ClusterState::Declared, None) => c.outlived_due,
            _ => None,
        }
    }

    /// Runs the timers due at `now`.
    pub fn tick(&mut self, now: DateTime<Utc>) -> Vec<Output> {
        let now = self.clock(now);
        let mut out = Vec::new();
        self.lapse(now);
        // Silences that ended.
        let expired: Vec<String> = self
            .state
            .silences
            .values()
            .filter(|s| s.is_expired(now))
            .map(|s| s.id.clone())
            .collect();
        for id in expired {
            if let Some(s) = self.state.silences.remove(&id) {
                if s.ends_at.is_some_and(|e| now - e < ENDED_SILENCES_KEPT) {
                    self.state.ended.insert(id.clone(), s);
                }
            }
            out.push(Output::SilenceExpired { id });
        }
        // Group flushes.
        let due: Vec<String> = self
            .state
            .groups
            .iter()
            .filter(|(_, g)| g.next_flush <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for key in due {
            self.flush(&key, now, &mut out);
        }
        // Clusters: declare after the pause, give up on transient ones, close quiet ones.
        let open: Vec<String> = self.state.open.iter().cloned().collect();
        for id in open {
            let due_to_declare = self.state.clusters.get(&id).is_some_and(|c| {
                c.state == ClusterState::Pending
                    && c.quiet_since.is_none()
                    && self.cluster_deadline(c).is_some_and(|d| d <= now)
            });
            if due_to_declare && self.silenced_before_declaring(&id, now, &mut out) {
                continue;
            }
            let Some(c) = self.state.clusters.get(&id) else {
                self.state.open.remove(&id);
                continue;
            };
            let Some(deadline) = self.cluster_deadline(c) else {
                continue;
            };
            if deadline > now {
                continue;
            }
            match (c.state, c.quiet_since.is_some()) {
                (ClusterState::Pending, true) => self.drop_transient(&id, &mut out),
                (ClusterState::Pending, false) => {
                    let alone = self.config.declare.alone_from;
                    let reason = c
                        .members
                        .iter()
                        .filter(|m| m.resolved_at.is_none() && m.severity <= alone)
                        .map(|m| (m, self.pause_for(m, 1.0)))
                        .min_by_key(|(m, (pause, _))| m.key.starts_at + *pause)
                        .map(|(m, (pause, held))| Trigger::Firing {
                            severity: m.severity,
                            alertname: m.alertname.clone(),
                            pause_secs: pause.num_seconds(),
                            held_times: held.map(|n| u32::try_from(n).unwrap_or(u32::MAX)),
                            held_window_secs: self.config.chronic.window.as_secs(),
                        });
                    self.declare(&id, reason, &mut out);
                }
                (ClusterState::Declared, true) => {
                    if let Some(c) = self.state.clusters.get_mut(&id) {
                        c.state = ClusterState::Closed;
                    }
                    self.state.open.remove(&id);
                }
                (ClusterState::Declared, false) => self.outlived(&id, &mut out),
                _ => {}
            }
        }
        // Storms that calmed down.
        let window = self.config.storm.window;
        for (key, s) in &mut self.state.storms {
            while s.times.front().is_some_and(|t| now - *t > window.get()) {
                s.times.pop_front();
            }
            if s.active && s.times.is_empty() {
                s.active = false;
                out.push(Output::StormNotice {
                    key: key.clone(),
                    phase: StormPhase::Ended,
                    count: s.total,
                    window,
                    since: s.since,
                });
            }
        }
        self.state
            .storms
            .retain(|_, s| s.active || !s.times.is_empty());
        self.prune(now);
        out
    }

    fn prune(&mut self, now: DateTime<Utc>) {
        if self
            .state
            .last_prune
            .is_some_and(|p| now - p < Duration::minutes(10))
        {
            return;
        }
        self.state.last_prune = Some(now);
        let keep = self.config.retention.get();
        let in_groups: BTreeSet<&String> = self
            .state
            .groups
            .values()
            .flat_map(|g| g.members.iter())
            .collect();
        let drop: Vec<String> = self
            .state
            .alerts
            .iter()
            .filter(|(fp, st)| !st.firing() && now - st.last_seen > keep && !in_groups.contains(fp))
            .map(|(fp, _)| fp.clone())
            .collect();
        for fp in drop {
            self.state.alerts.remove(&fp);
        }
        let clusters = &self.state.clusters;
        let old: Vec<String> = clusters
            .iter()
            .filter(|(_, c)| {
                c.state == ClusterState::Closed && c.quiet_since.is_none_or(|q| now - q > keep)
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in old {
            self.state.clusters.remove(&id);
        }
        self.state.costarts.trim(now, keep);
        self.state
            .ended
            .retain(|_, s| s.ends_at.is_some_and(|e| now - e < ENDED_SILENCES_KEPT));
    }

    fn silenced_by(&self, labels: &Labels, now: DateTime<Utc>) -> Option<String> {
        let tz = self.tz();
        self.state
            .silences
            .values()
            .find(|s| s.mutes(labels, now, tz))
            .map(|s| s.id.clone())
    }

    fn storming(&self, st: &AlertState) -> bool {
        let active = |k: String| self.state.storms.get(&k).is_some_and(|s| s.active);
        active(format!("source {}", source_name(st.source)))
            || st
                .identity
                .service
                .as_ref()
                .is_some_and(|s| active(format!("service {s}")))
    }

    fn flush(&mut self, key: &str, now: DateTime<Utc>, out: &mut Vec<Output>) {
        let Some(g) = self.state.groups.get(key) else {
            return;
        };
        let members: Vec<String> = g.members.iter().cloned().collect();
        let mut changed = false;
        let mut batch: Vec<(DateTime<Utc>, String)> = Vec::new();
        let mut done: Vec<String> = Vec::new();
        self.ensure_inhibitor();
        for fp in &members {
            // Resolutions reach their incident whatever mutes the alert.
            let resolved: Vec<(usize, String)> = match self.state.alerts.get(fp) {
                Some(st) => st
                    .episodes
                    .iter()
                    .enumerate()
                    .filter(|(_, e)| e.status == AlertStatus::Resolved && !e.resolve_reported)
                    .filter_map(|(i, e)| e.cluster.clone().map(|c| (i, c)))
                    .collect(),
                None => {
                    done.push(fp.clone());
                    continue;
                }
            };
            for (i, cid) in resolved {
                changed |= self.report_resolve(fp, i, &cid, out);
            }
            let Some(st) = self.state.alerts.get(fp) else {
                continue;
            };
            // Episodes that resolved before anyone looked at them.
            let transient: Vec<usize> = st
                .episodes
                .iter()
                .enumerate()
                .filter(|(_, e)| {
                    e.status == AlertStatus::Resolved && !e.decided && e.cluster.is_none()
                })
                .map(|(i, _)| i)
                .collect();
            for i in transient {
                self.suppress(fp, i, SuppressReason::Transient, out);
                if let Some(e) = self.episode_mut(fp, i) {
                    e.decided = true;
                }
            }
            let Some(st) = self.state.alerts.get(fp) else {
                continue;
            };
            let Some(cur) = st.current() else {
                done.push(fp.clone());
                continue;
            };
            if cur.status == AlertStatus::Resolved {
                done.push(fp.clone());
                continue;
            }
            if cur.decided {
                continue;
            }
            let idx = st.episodes.len() - 1;
            let reason = if st.severity > self.config.declare.min_severity {
                Some(SuppressReason::BelowMinSeverity)
            } else if let Some(id) = self.silenced_by(&st.labels, now) {
                Some(SuppressReason::Silenced { silence: id })
            } else {
                let alerts = &self.state.alerts;
                self.derived
                    .inhibitor
                    .as_ref()
                    .and_then(|inh| {
                        inh.inhibited_by(&self.config.inhibit_rules, fp, &st.labels, |f| {
                            alerts.get(f).map(|s| &s.labels)
                        })
                    })
                    .map(|by| SuppressReason::Inhibited { by })
            };
            match reason {
                Some(r) => {
                    let for_good = r == SuppressReason::BelowMinSeverity;
                    self.suppress(fp, idx, r, out);
                    if for_good {
                        if let Some(e) = self.episode_mut(fp, idx) {
                            e.decided = true;
                        }
                    }
                }
                None => {
                    let start = cur.starts_at;
                    // No longer muted: a silence or inhibition it had is over.
                    if let Some(e) = self.episode_mut(fp, idx).filter(|e| {
                        matches!(
                            e.suppressed,
                            Some(
                                SuppressReason::Silenced { .. } | SuppressReason::Inhibited { .. }
                            )
                        )
                    }) {
                        e.suppressed = None;
                    }
                    batch.push((start, fp.clone()));
                }
            }
        }
        batch.sort();
        if !batch.is_empty() {
            changed = true;
            self.correlate(batch, now, out);
        }
        let Some(g) = self.state.groups.get_mut(key) else {
            return;
        };
        for fp in done {
            g.members.remove(&fp);
        }
        g.flushed = true;
        g.next_flush = now + g.opts.group_interval.get();
        if changed {
            g.last_sent = Some(now);
        } else if g
            .last_sent
            .is_some_and(|l| now - l >= g.opts.repeat_interval.get())
        {
            g.last_sent = Some(now);
            let mut per_cluster: BTreeMap<String, usize> = BTreeMap::new();
            for fp in &g.members {
                if let Some(c) = self
                    .state
                    .alerts
                    .get(fp)
                    .and_then(|st| st.current())
                    .filter(|e| e.status == AlertStatus::Firing)
                    .and_then(|e| e.cluster.clone())
                {
                    *per_cluster.entry(c).or_insert(0) += 1;
                }
            }
            for (cid, firing) in per_cluster {
                if let Some(c) = self
                    .state
                    .clusters
                    .get(&cid)
                    .filter(|c| c.state == ClusterState::Declared)
                {
                    out.push(Output::Reminder {
                        cluster: cid.clone(),
                        incident_key: c.incident_key(),
                        firing,
                    });
                }
            }
        }
        if g.members.is_empty() {
            self.state.groups.remove(key);
        }
    }

    fn suppress(&mut self, fp: &str, idx: usize, reason: SuppressReason, out: &mut Vec<Output>) {
        let Some(st) = self.state.alerts.get_mut(fp) else {
            return;
        };
        let Some(ep) = st.episodes.get(idx) else {
            return;
        };
        if ep.suppressed.as_ref() == Some(&reason) {
            return;
        }
        let alert = st.aref(fp, ep);
        let lonely = |r: Option<&SuppressReason>| {
            matches!(
                r,
                Some(
                    SuppressReason::Transient
                        | SuppressReason::Flapping { .. }
                        | SuppressReason::Chronic { .. }
                )
            )
        };
        if lonely(Some(&reason)) && !lonely(ep.suppressed.as_ref()) {
            st.unconfirmed.push_back(ep.starts_at);
            while st.unconfirmed.len() > 64 {
                st.unconfirmed.pop_front();
            }
        }
        if let Some(ep) = st.episodes.get_mut(idx) {
            ep.suppressed = Some(reason.clone());
        }
        out.push(Output::Suppressed { alert, reason });
    }

    fn episode_mut(&mut self, fp: &str, idx: usize) -> Option<&mut Episode> {
        self.state
            .alerts
            .get_mut(fp)
            .and_then(|s| s.episodes.get_mut(idx))
    }

    /// Suppresses episode `idx` of `fp` for `reason` and holds it: decided, and not
    /// posted when it later joins or resolves.
    fn hold(&mut self, fp: &str, idx: usize, reason: SuppressReason, out: &mut Vec<Output>) {
        self.suppress(fp, idx, reason, out);
        if let Some(e) = self.episode_mut(fp, idx) {
            e.decided = true;
            e.held = true;
        }
    }

    /// Tells a declared cluster's incident which members still fire long after its
    /// probable root resolved (once per resolution of the root; nothing when the root
    /// fires again or only its own service still fires).
    fn outlived(&mut self, cid: &str, out: &mut Vec<Output>) {
        let topo = &self.derived.topo;
        let Some(c) = self.state.clusters.get_mut(cid) else {
            return;
        };
        c.outlived_due = None;
        let Some(root) = c.root(topo) else {
            return;
        };
        if c.firing.contains(&root.key.fingerprint) {
            return; // the cause fires again
        }
        // When its last episode ended.
        let Some(cause_resolved_at) = c
            .members
            .iter()
            .filter(|m| m.key.fingerprint == root.key.fingerprint)
            .filter_map(|m| m.resolved_at)
            .max()
        else {
            return;
        };
        let aref = |m: &super::correlate::Member| AlertRef {
            key: m.key.clone(),
            alertname: m.alertname.clone(),
            service: m.service.clone(),
            severity: m.severity,
            title: m.title.clone(),
        };
        let alerts: Vec<AlertRef> = c
            .members
            .iter()
            .filter(|m| m.resolved_at.is_none() && m.service != root.service)
            .map(aref)
            .collect();
        if alerts.is_empty() {
            return;
        }
        out.push(Output::Outlived {
            cluster: cid.to_string(),
            incident_key: c.incident_key(),
            cause: aref(root),
            cause_resolved_at,
            alerts,
        });
    }

    /// Reports a resolution to the cluster's incident; true when something was output.
    fn report_resolve(&mut self, fp: &str, idx: usize, cid: &str, out: &mut Vec<Output>) -> bool {
        if self
            .state
            .clusters
            .get(cid)
            .is_none_or(|c| c.state == ClusterState::Pending)
        {
            // A pending cluster learns resolutions at once; its declaration reports them.
            return false;
        }
        let storming = self
            .state
            .alerts
            .get(fp)
            .is_some_and(|st| self.storming(st));
        let Some(st) = self.state.alerts.get_mut(fp) else {
            return false;
        };
        let Some(ep) = st.episodes.get_mut(idx) else {
            return false;
        };
        ep.resolve_reported = true;
        let (held, at) = (ep.held, ep.ends_at);
        let aref = st.aref(fp, &st.episodes[idx]);
        let Some(c) = self.state.clusters.get_mut(cid) else {
            return false;
        };
        // The root alert (any of its episodes: it may have flapped) stopped firing.
        let root_stopped = c
            .root(&self.derived.topo)
            .is_some_and(|r| r.key.fingerprint == fp && !c.firing.contains(fp));
        let outlived = self.config.correlation.outlived.get();
        if c.firing.is_empty() {
            c.outlived_due = None; // all clear: a later re-fire is news of its own
        } else if root_stopped && outlived > Duration::zero() {
            c.outlived_due = Some(at.unwrap_or(c.created_at) + outlived);
        }
        out.push(Output::Update {
            cluster: cid.to_string(),
            incident_key: c.incident_key(),
            alert: aref,
            status: AlertStatus::Resolved,
            at: at.unwrap_or(c.created_at),
            notify: !held && !storming,
        });
        if c.firing.is_empty() && !c.resolved_reported {
            let alerts = &self.state.alerts;
            let all_reported = c.members.iter().all(|m| {
                alerts
                    .get(&m.key.fingerprint)
                    .and_then(|st| st.episodes.iter().find(|e| e.starts_at == m.key.starts_at))
                    .is_none_or(|e| e.status == AlertStatus::Firing || e.resolve_reported)
            });
            if all_reported {
                c.resolved_reported = true;
                out.push(Output::Resolved {
                    cluster: cid.to_string(),
                    incident_key: c.incident_key(),
                });
                // An incident of this one alert alone that went away by itself soon
                // counts as a lonely episode; any other incident clears its alerts'
                // counts (part of an incident: not chronic noise).
                let lone = self.config.chronic.lone.get();
                let end = at.unwrap_or(c.created_at);
                let start = c.members.last().map(|m| m.key.starts_at);
                if c.fingerprints.len() == 1
                    && lone > Duration::zero()
                    && end - c.first_onset <= lone
                {
                    if let (Some(st), Some(start)) = (self.state.alerts.get_mut(fp), start) {
                        if !st.unconfirmed.contains(&start) {
                            st.unconfirmed.push_back(start);
                            while st.unconfirmed.len() > 64 {
                                st.unconfirmed.pop_front();
                            }
                        }
                    }
                } else {
                    for f in &c.fingerprints {
                        if let Some(st) = self.state.alerts.get_mut(f) {
                            st.unconfirmed.clear();
                        }
                    }
                }
            }
        }
        true
    }

    /// Lonely episodes (see [`super::ChronicConfig`]) of `fp` within the chronic window
    /// before `t`.
    fn lonely(&self, fp: &str, t: DateTime<Utc>) -> usize {
        let window = self.config.chronic.window.get();
        self.state.alerts.get(fp).map_or(0, |st| {
            st.unconfirmed
                .iter()
                .filter(|u| **u < t && t - **u <= window)
                .count()
        })
    }

    /// How long a pending member must fire before its cluster is declared: its
    /// severity's pause (times `factor`), or the chronic hold for a chronic alert too
    /// severe to mute. The second value is its lonely-episode count when held.
    fn pause_for(&self, m: &Member, factor: f64) -> (Duration, Option<usize>) {
        let pause = scale(self.config.declare.pause_of(m.severity).get(), factor);
        let chronic = &self.config.chronic;
        if chronic.after == 0 || m.severity >= chronic.from {
            return (pause, None);
        }
        let lonely = self.lonely(&m.key.fingerprint, m.key.starts_at);
        if lonely >= chronic.after as usize && chronic.hold.get() > pause {
            (chronic.hold.get(), Some(lonely))
        } else {
            (pause, None)
        }
    }

    fn member(&self, fp: &str, st: &AlertState, ep: &Episode) -> Member {
        Member {
            key: AlertKey {
                fingerprint: fp.to_string(),
                starts_at: ep.starts_at,
            },
            service: st.identity.service.clone(),
            hosts: st.identity.hosts.clone(),
            node: st.identity.node.clone(),
            alertname: st.identity.alertname.clone(),
            tokens: st.identity.tokens.clone(),
            mentions: st.identity.mentions.clone(),
            named: st.identity.named.clone(),
            severity: st.severity,
            title: st.title.clone(),
            resolved_at: (ep.status == AlertStatus::Resolved)
                .then(|| ep.ends_at.unwrap_or(ep.starts_at)),
            anchor: true,
            symptom: st.identity.symptom,
            cause: false,
        }
    }

    fn correlate(
        &mut self,
        batch: Vec<(DateTime<Utc>, String)>,
        now: DateTime<Utc>,
        out: &mut Vec<Output>,
    ) {
        for id in &self.state.open {
            if let Some(c) = self.state.clusters.get_mut(id) {
                c.index();
            }
        }
        // Per cluster: (alert, confidence, reason, notify) joined in this batch.
        let mut joined: BTreeMap<String, Vec<(AlertRef, f64, JoinReason, bool)>> = BTreeMap::new();
        let mut severities: BTreeMap<String, Severity> = BTreeMap::new();
        for (_, fp) in batch {
            let Some(st) = self.state.alerts.get(&fp) else {
                continue;
            };
            let idx = st.episodes.len() - 1;
            let ep = &st.episodes[idx];
            let member = self.member(&fp, st, ep);
            let aref = st.aref(&fp, ep);
            let storming = self.storming(st);
            let chronic = &self.config.chronic;
            let lonely = self.lonely(&fp, now);
            // Chronic and mild enough to mute (a more severe one is correlated as usual
            // and held before its declaration: see `pause_for`).
            if chronic.after > 0 && lonely >= chronic.after as usize && st.severity >= chronic.from
            {
                let episodes = u32::try_from(lonely).unwrap_or(u32::MAX);
                self.hold(&fp, idx, SuppressReason::Chronic { episodes }, out);
                continue;
            }
            if st.flapping {
                // Held: a flapping alert is neither posted nor attached per flip; the
                // incident keeps the episodes from before it started flapping.
                let changes = u32::try_from(st.changes.len()).unwrap_or(u32::MAX);
                self.hold(&fp, idx, SuppressReason::Flapping { changes }, out);
                continue;
            }
            let mut best: Option<(f64, JoinReason, String, bool)> = None;
            for cid in &self.state.open {
                let Some(c) = self.state.clusters.get(cid) else {
                    continue;
                };
                if let Some(ev) = c.score(
                    &member,
                    &self.derived.topo,
                    &self.state.costarts,
                    &self.config.correlation,
                    now,
                ) {
                    if best.as_ref().is_none_or(|(b, _, _, _)| ev.confidence > *b) {
                        best = Some((ev.confidence, ev.reason, cid.clone(), ev.cause));
                    }
                }
            }
            let mut member = member;
            match best {
                Some((conf, reason, cid, cause)) => {
                    let before = self.state.clusters.get(&cid).map(|c| c.severity);
                    member.cause = cause;
                    self.join(&fp, idx, &cid, member, Some(reason.clone()));
                    if let (Some(b), Some(c)) = (before, self.state.clusters.get(&cid)) {
                        if c.severity < b && c.state == ClusterState::Declared {
                            severities.insert(cid.clone(), c.severity);
                        }
                    }
                    joined
                        .entry(cid)
                        .or_default()
                        .push((aref, conf, reason, !storming));
                }
                None => {
                    let founded = self.episode_mut(&fp, idx).map_or(1, |e| {
                        e.founded += 1;
                        e.founded
                    });
                    let cid = cluster_id(&member.key, founded);
                    self.state
                        .clusters
                        .insert(cid.clone(), Cluster::new(cid.clone(), member, now));
                    self.state.open.insert(cid.clone());
                    if let Some(e) = self.episode_mut(&fp, idx) {
                        e.cluster = Some(cid.clone());
                        e.decided = true;
                    }
                    joined.entry(cid).or_default();
                }
            }
        }
        for (cid, alerts) in joined {
            let Some(c) = self.state.clusters.get(&cid) else {
                continue;
            };
            match c.state {
                ClusterState::Declared => {
                    let key = c.incident_key();
                    for notify in [true, false] {
                        let part: Vec<&(AlertRef, f64, JoinReason, bool)> =
                            alerts.iter().filter(|a| a.3 == notify).collect();
                        let Some(weakest) = part.iter().min_by(|a, b| a.1.total_cmp(&b.1)) else {
                            continue;
                        };
                        out.push(Output::Attach {
                            cluster: cid.clone(),
                            incident_key: key.clone(),
                            alerts: part.iter().map(|a| a.0.clone()).collect(),
                            confidence: weakest.1,
                            reason: weakest.2.clone(),
                            notify,
                        });
                    }
                    if let Some(sev) = severities.get(&cid) {
                        out.push(Output::Escalate {
                            cluster: cid.clone(),
                            incident_key: key,
                            severity: *sev,
                        });
                    }
                }
                ClusterState::Pending => {
                    let decl = &self.config.declare;
                    let signals = c.firing_signals();
                    let weight: f64 = signals.values().map(|s| decl.weight_of(*s)).sum();
                    if signals.len() >= decl.signals.max(1) && weight + 1e-9 >= decl.threshold {
                        let trigger = Trigger::Signals {
                            count: signals.len(),
                            signals: signals
                                .iter()
                                .take(4)
                                .map(|((svc, name), sev)| Signal {
                                    service: svc.map(str::to_string),
                                    alertname: (*name).to_string(),
                                    severity: *sev,
                                })
                                .collect(),
                        };
                        if !self.silenced_before_declaring(&cid, now, out) {
                            self.declare(&cid, Some(trigger), out);
                        }
                    } else if self.cluster_deadline(c).is_some_and(|d| d <= now) {
                        let trigger = Trigger::Pause {
                            severity: c.severity,
                        };
                        if !self.silenced_before_declaring(&cid, now, out) {
                            self.declare(&cid, Some(trigger), out);
                        }
                    }
                }
                ClusterState::Closed => {}
            }
        }
    }

    fn join(
        &mut self,
        fp: &str,
        idx: usize,
        cid: &str,
        mut member: Member,
        reason: Option<JoinReason>,
    ) {
        if let Some(c) = self.state.clusters.get_mut(cid) {
            // A re-fire does not move the cluster's time anchors.
            member.anchor = member.anchor && !c.fingerprints.contains(fp);
            c.add(member, reason);
        }
        if let Some(e) = self.episode_mut(fp, idx) {
            e.cluster = Some(cid.to_string());
            e.decided = true;
        }
    }

    fn declare(&mut self, cid: &str, why: Option<Trigger>, out: &mut Vec<Output>) {
        let topo = &self.derived.topo;
        let Some(c) = self.state.clusters.get_mut(cid) else {
            return;
        };
        c.state = ClusterState::Declared;
        // Part of an incident with other alerts: not chronic noise. An incident of one
        // alert alone is settled when it resolves (see `report_resolve`).
        if c.fingerprints.len() > 1 {
            for fp in &c.fingerprints {
                if let Some(st) = self.state.alerts.get_mut(fp) {
                    st.unconfirmed.clear();
                }
            }
        }
        let title = c.title(topo, self.config.chinese_titles);
        let owner = c
            .root(topo)
            .and_then(|r| r.service.as_deref())
            .and_then(|s| topo.catalog().get(s))
            .and_then(|s| s.owner.clone());
        let services: Vec<String> = c
            .members
            .iter()
            .filter_map(|m| m.service.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let reason = Declaration {
            trigger: why,
            joins: c.reasons.clone(),
        };
        let alerts: Vec<AlertRef> = c
            .members
            .iter()
            .map(|m| AlertRef {
                key: m.key.clone(),
                alertname: m.alertname.clone(),
                service: m.service.clone(),
                severity: m.severity,
                title: m.title.clone(),
            })
            .collect();
        out.push(Output::Declare {
            cluster: cid.to_string(),
            severity: c.severity,
            title,
            services,
            owner,
            alerts,
            reason,
        });
        // Members that already resolved while the cluster was pending.
        let keys: Vec<AlertKey> = c
            .members
            .iter()
            .filter(|m| m.resolved_at.is_some())
            .map(|m| m.key.clone())
            .collect();
        for k in keys {
            let idx = self.state.alerts.get(&k.fingerprint).and_then(|st| {
                st.episodes.iter().position(|e| {
                    e.starts_at == k.starts_at
                        && e.status == AlertStatus::Resolved
                        && !e.resolve_reported
                })
            });
            if let Some(i) = idx {
                self.report_resolve(&k.fingerprint, i, cid, out);
            }
        }
    }

    /// A pending cluster whose firing alerts are silenced now (the silence came after
    /// they were grouped), all but ones too minor to page alone (below
    /// `declare.alone_from`), is not declared: it closes, its silenced alerts are muted,
    /// and its firing alerts go back to their route groups undecided, so a later flush
    /// takes them up again (the silenced ones once the silence ends). Returns whether it
    /// closed.
    fn silenced_before_declaring(
        &mut self,
        cid: &str,
        now: DateTime<Utc>,
        out: &mut Vec<Output>,
    ) -> bool {
        let Some(c) = self.state.clusters.get(cid) else {
            return false;
        };
        let alone = self.config.declare.alone_from;
        let mut muted = Vec::new();
        let mut minor = Vec::new();
        for m in c.members.iter().filter(|m| m.resolved_at.is_none()) {
            let silence = self
                .state
                .alerts
                .get(&m.key.fingerprint)
                .and_then(|st| self.silenced_by(&st.labels, now));
            match silence {
                Some(id) => muted.push((m.key.clone(), id)),
                None if m.severity > alone => minor.push(m.key.clone()),
                None => return false,
            }
        }
        if muted.is_empty() {
            return false;
        }
        let resolved: Vec<AlertKey> = c
            .members
            .iter()
            .filter(|m| m.resolved_at.is_some())
            .map(|m| m.key.clone())
            .collect();
        if let Some(c) = self.state.clusters.get_mut(cid) {
            c.state = ClusterState::Closed;
        }
        self.state.open.remove(cid);
        for k in resolved {
            if let Some(e) = self.episode_of_mut(&k) {
                e.cluster = None;
                e.resolve_reported = true;
            }
        }
        for k in minor {
            if let Some(e) = self.episode_of_mut(&k) {
                e.cluster = None;
                e.decided = false;
            }
        }
        for (k, silence) in muted {
            let Some(i) = self.episode_index(&k) else {
                continue;
            };
            if let Some(e) = self.episode_mut(&k.fingerprint, i) {
                e.cluster = None;
                e.decided = false;
            }
            self.suppress(&k.fingerprint, i, SuppressReason::Silenced { silence }, out);
        }
        true
    }

    /// Where episode `k` is among its alert's episodes.
    fn episode_index(&self, k: &AlertKey) -> Option<usize> {
        self.state
            .alerts
            .get(&k.fingerprint)
            .and_then(|st| st.episodes.iter().position(|e| e.starts_at == k.starts_at))
    }

    /// Episode `k`, to change.
    fn episode_of_mut(&mut self, k: &AlertKey) -> Option<&mut Episode> {
        let i = self.episode_index(k)?;
        self.episode_mut(&k.fingerprint, i)
    }

    fn drop_transient(&mut self, cid: &str, out: &mut Vec<Output>) {
        let Some(c) = self.state.clusters.get_mut(cid) else {
            return;
        };
        c.state = ClusterState::Closed;
        let keys: Vec<AlertKey> = c.members.iter().map(|m| m.key.clone()).collect();
        self.state.open.remove(cid);
        for k in keys {
            if let Some(i) = self.episode_index(&k) {
                if let Some(e) = self.episode_mut(&k.fingerprint, i) {
                    e.cluster = None;
                    e.resolve_reported = true;
                }
                self.suppress(&k.fingerprint, i, SuppressReason::Transient, out);
            }
        }
    }
}

fn scale(d: Duration, factor: f64) -> Duration {
    Duration::seconds((d.num_seconds() as f64 * factor).round() as i64)
}

fn source_name(s: AlertSource) -> &'static str {
    match s {
        AlertSource::Alertmanager => "alertmanager",
        AlertSource::Grafana => "grafana",
        AlertSource::Prometheus => "prometheus",
        AlertSource::Event => "event",
        AlertSource::Email => "email",
    }
}

fn new_episode(a: &Alert, now: DateTime<Utc>, status: AlertStatus, decided: bool) -> Episode {
    Episode {
        starts_at: a.starts_at,
        ends_at: a.ends_at,
        status,
        last_seen: now,
        cluster: None,
        decided,
        suppressed: None,
        resolve_reported: false,
        held: false,
        founded: 0,
    }
}

/// Adds the catalog's service and owner as labels when the alert lacks them, so routes
/// and silences can match on them.
fn enrich(labels: &mut Labels, id: &Identity) {
    if let Some(s) = &id.service {
        labels.entry("service".into()).or_insert_with(|| s.clone());
    }
    if let Some(o) = &id.owner {
        labels.entry("team".into()).or_insert_with(|| o.clone());
    }
}

/// Notes a state change at `at`; flapping when `limit` changes fall within `window`.
fn record_change(st: &mut AlertState, at: DateTime<Utc>, window: Duration, limit: u32) {
    st.changes.push_back(at);
    let latest = st.changes.iter().max().copied().unwrap_or(at);
    while st.changes.front().is_some_and(|t| latest - *t > window) {
        st.changes.pop_front();
    }
    while st.changes.len() > 64 {
        st.changes.pop_front();
    }
    st.flapping = limit > 0 && st.changes.len() >= limit as usize;
}

/// A cluster's id, named after the episode that founded it (and how many clusters that
/// episode founded before), not after a count of clusters: a replay of the alert log
/// after a restart gives each cluster the id it had, so its incident binding holds even
/// where the replay and the live run saw the alerts a little differently (a silence, a
/// reloaded route).
fn cluster_id(founder: &AlertKey, nth: u32) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let stamp = founder
        .starts_at
        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
    for b in founder
        .fingerprint
        .bytes()
        .chain([0xff])
        .chain(stamp.bytes())
    {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    if nth > 1 {
        format!("C-{h:016x}-{nth}")
    } else {
        format!("C-{h:016x}")
    }
}
