//! Correlation of alerts into incident clusters.
//!
//! A cluster starts with one alert, its **root-cause side**. A new alert is scored
//! against every open cluster, member by member, on three kinds of evidence:
//! - **relation**: the same alert re-firing soon after its last episode; the same alert
//!   name on the same service; the same service; the same host or pod (or a pod and its
//!   node); the cluster's members depending on the alert's service (a root cause
//!   reported late, only in the cluster's first minutes); the alert's service depending
//!   on a root-cause member within `hops` in the catalog (a downstream symptom); a label
//!   or annotation naming the member's service; a dependency learned from services that
//!   keep starting to alert together;
//! - **time**: the gap to that member's onset, within a window per relation, and the
//!   time since the cluster's first onset, within a span per relation;
//! - **text**: Jaccard similarity of title tokens (CamelCase, snake_case, digits split).
//!
//! `confidence = w_relation·relation + w_time·(1 − gap / 2·limit) + w_text·similarity`;
//! the alert joins the best cluster reaching `min_confidence`, else starts its own.
//! Only **symptom** alerts (latency, errors, timeouts, …; see
//! [`CorrelationConfig::symptom_words`]) join through dependencies or the same service:
//! a cause-like alert (a crash, a full disk) on a dependent service is a new root cause
//! and starts its own cluster, which is what keeps concurrent incidents apart. For the
//! same reason a cause-like alert joins through a symptom member only as the same
//! signal starting with it, never through the symptom's host, node or service.
//!
//! Causes come before their effects: a downstream symptom joins a member that started
//! before it (within `onset_tolerance`), a pod alert joins the alert of its node only
//! after it, and a node alert joins a pod's cluster only as the earlier cause of its
//! root-cause side. A member that had cleared before the candidate started explains
//! nothing about it. Every join carries a reason such as `same window (2m), payments
//! depends on db (1 hop), titles 0.7 similar`.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::duration::Dur;
use super::model::AlertKey;
use super::reason::{JoinReason, Link};
use crate::catalog::{Catalog, Direction};
use crate::incident::Severity;

/// Correlation settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CorrelationConfig {
    /// Largest gap between onsets for joins across services, hosts or dependencies.
    pub window: Dur,
    /// Largest onset gap for the same alert name on the same service (another
    /// instance). One failure reaches its instances within about a minute; later, at
    /// hundreds of incidents a day, the same signal was more often the next incident.
    pub signal_window: Dur,
    /// Largest onset gap for another alert name on the same service. Its alerts show
    /// within a minute or two of each other; a later one was more often the service's
    /// next incident (or a symptom of another), which the other relations still place.
    pub service_window: Dur,
    /// The same service, host or alert name joins only this long after the cluster's
    /// first onset (the same alert re-firing is not limited).
    pub max_span: Dur,
    /// A dependent service (or one named in the text, or a learned partner) joins only
    /// this long after the cluster's first onset.
    pub dep_span: Dur,
    /// A service that the cluster's root-cause side depends on (a root cause reported
    /// late) joins only this long after the cluster's first onset. 0s (the default):
    /// never; with several incidents open at once, an upstream alert joining a younger
    /// cluster as its "late root" was more often a concurrent incident than a late one.
    pub late_root: Dur,
    /// After the last alert of a cluster resolved, the same alert re-firing still joins
    /// it for this long.
    pub reopen: Dur,
    /// A cluster with nothing firing closes after this long.
    pub close_after: Dur,
    /// When an incident's probable root has resolved and other members still fire this
    /// long after, the war room is told they may be a separate problem (symptoms
    /// clear within minutes of their cause). 0s: never.
    pub outlived: Dur,
    /// Dependency hops followed in the catalog. One hop (the default) follows the
    /// blast radius one alerting service at a time (see `via_symptoms`) instead of
    /// jumping over services that do not alert, which chains concurrent incidents.
    pub hops: u32,
    /// Joins need at least this confidence (0..1).
    pub min_confidence: f64,
    /// Weight of the relation.
    pub w_relation: f64,
    /// Weight of time proximity.
    pub w_time: f64,
    /// Weight of title similarity.
    pub w_text: f64,
    /// Labels naming the service, first present wins (after the catalog).
    pub service_labels: Vec<String>,
    /// Values of those labels that name an exporter, not a service (`job="node"`).
    pub not_services: Vec<String>,
    /// Labels naming the machine or pod an alert is about.
    pub host_labels: Vec<String>,
    /// Labels naming the shared node a pod runs on: a pod relates to alerts about its
    /// node, not to every other pod on it.
    pub node_labels: Vec<String>,
    /// Words of symptom alerts (latency, errors, timeouts, …). An alert whose name has
    /// none of them is taken for a cause (a crash, a full disk, a node down): it joins a
    /// cluster only as the same alert, on the same host, or as the late root of its
    /// members, and otherwise starts its own cluster, so a new root cause on a service
    /// that depends on an ongoing incident's is not swallowed by it. Empty: every alert
    /// may join as a symptom.
    pub symptom_words: Vec<String>,
    /// A symptom whose service the catalog cannot relate to a cluster's root-cause side
    /// joins it on time alone when it starts within this long after a root-cause
    /// member (0s: never).
    pub temporal_window: Dur,
    /// Let dependents join through any member they depend on, not only through the
    /// root-cause side: with `hops = 1` a symptom two hops down joins through the
    /// alerting service between it and the root.
    pub via_symptoms: bool,
    /// Detection lag allowed when telling cause from effect by onset: a downstream
    /// symptom may start this much before the upstream member it joins, a pod alert
    /// this much before its node's alert, and a node alert this much after a pod's.
    pub onset_tolerance: Dur,
    /// Learn dependencies from services that start alerting together.
    pub learn: bool,
    /// A learned dependency needs this many co-starts.
    pub learn_min_count: u32,
    /// …and co-starts this many times more often than chance.
    pub learn_min_lift: f64,
}

impl Default for CorrelationConfig {
    fn default() -> Self {
        Self {
            window: Dur::mins(5),
            signal_window: Dur::secs(90),
            service_window: Dur::mins(2),
            max_span: Dur::mins(10),
            dep_span: Dur::mins(10),
            late_root: Dur::secs(0),
            reopen: Dur::mins(5),
            close_after: Dur::mins(30),
            outlived: Dur::mins(15),
            hops: 1,
            min_confidence: 0.5,
            w_relation: 0.5,
            w_time: 0.3,
            w_text: 0.2,
            service_labels: [
                "service",
                "app",
                "app_kubernetes_io_name",
                "application",
                "k8s_app",
                "component",
                "job",
                "container",
                "deployment",
            ]
            .iter()
            .map(|s| (*s).to_string())
            .collect(),
            not_services: [
                "node",
                "node-exporter",
                "node_exporter",
                "blackbox",
                "blackbox-exporter",
                "kubelet",
                "cadvisor",
                "kube-state-metrics",
                "kubernetes-pods",
                "kubernetes-nodes",
                "kubernetes-service-endpoints",
                "prometheus",
                "pushgateway",
                "snmp",
                "windows",
            ]
            .iter()
            .map(|s| (*s).to_string())
            .collect(),
            host_labels: ["instance", "host", "hostname", "pod", "server"]
                .iter()
                .map(|s| (*s).to_string())
                .collect(),
            node_labels: ["node", "nodename", "kubernetes_node"]
                .iter()
                .map(|s| (*s).to_string())
                .collect(),
            symptom_words: [
                "latency",
                "latencies",
                "slow",
                "slowness",
                "delay",
                "delayed",
                "lag",
                "lagging",
                "timeout",
                "timeouts",
                "error",
                "errors",
                "err",
                "errorrate",
                "5xx",
                "4xx",
                "xx",
                "reject",
                "rejects",
                "rejected",
                "rejection",
                "stale",
                "backlog",
                "queue",
                "queued",
                "accumulation",
                "rt",
                "p99",
                "p95",
                "p999",
                "response",
                "throughput",
                "degraded",
                "fail",
                "failed",
                "failure",
                "failures",
                "apdex",
                "slo",
                "sla",
                "burn",
                "延迟",
                "延时",
                "超时",
                "错误",
                "缓慢",
                "响应",
                "失败",
                "堆积",
                "积压",
                "拒绝",
            ]
            .iter()
            .map(|s| (*s).to_string())
            .collect(),
            temporal_window: Dur::secs(0),
            via_symptoms: true,
            onset_tolerance: Dur::secs(60),
            learn: true,
            learn_min_count: 4,
            learn_min_lift: 3.0,
        }
    }
}

const STOPWORDS: &[&str] = &[
    "the", "is", "are", "on", "of", "for", "to", "in", "and", "or", "at", "by", "with", "from",
    "than", "has", "have", "be", "a", "an", "too", "over", "above", "below", "s", "ms", "pct",
    "percent",
];

/// Title tokens: lower-case words, CamelCase, snake_case, kebab-case and digit runs
/// split apart (`KubePodCrashLooping` → kube pod crash looping; `http5xx` → http 5 xx);
/// CJK text becomes its characters and character pairs. Stop words and lone digits go.
pub fn tokenize(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut word = String::new();
    let mut prev: Option<char> = None;
    let mut cjk_prev: Option<char> = None;
    let flush = |w: &mut String, out: &mut BTreeSet<String>| {
        if !w.is_empty() {
            let lw = w.to_lowercase();
            if !STOPWORDS.contains(&lw.as_str())
                && !(lw.len() == 1 && lw.chars().all(|c| c.is_ascii_digit()))
            {
                out.insert(lw);
            }
            w.clear();
        }
    };
    let chars: Vec<char> = text.chars().take(512).collect();
    for (i, &c) in chars.iter().enumerate() {
        if is_cjk(c) {
            flush(&mut word, &mut out);
            out.insert(c.to_string());
            if let Some(p) = cjk_prev {
                out.insert(format!("{p}{c}"));
            }
            cjk_prev = Some(c);
            prev = None;
            continue;
        }
        cjk_prev = None;
        if !c.is_alphanumeric() {
            flush(&mut word, &mut out);
            prev = None;
            continue;
        }
        if let Some(p) = prev {
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            let boundary = (p.is_lowercase() && c.is_uppercase())
                || (p.is_uppercase() && c.is_uppercase() && next_lower)
                || (p.is_ascii_digit() != c.is_ascii_digit());
            if boundary {
                flush(&mut word, &mut out);
            }
        }
        word.push(c);
        prev = Some(c);
    }
    flush(&mut word, &mut out);
    out
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0x3040..=0x30FF | 0xAC00..=0xD7AF)
}

/// Jaccard similarity of two token sets (0 when both are empty).
pub fn jaccard(a: &BTreeSet<String>, b: &BTreeSet<String>) -> f64 {
    if a.is_empty() && b.is_empty() {
        return 0.0;
    }
    let inter = a.intersection(b).count();
    let union = a.len() + b.len() - inter;
    inter as f64 / union as f64
}

/// Words that may name a service in free text: lower-case runs of letters, digits, `-`,
/// `_` and `.`.
pub fn mention_words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !(c.is_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .map(|w| w.trim_matches(|c| c == '.' || c == '-').to_lowercase())
        .filter(|w| w.len() >= 2)
}

/// How an alert is placed in the estate: derived once per alert.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Identity {
    /// Service (catalog name when the catalog knows the alert).
    pub service: Option<String>,
    /// Owner team from the catalog.
    pub owner: Option<String>,
    /// Hosts and pods.
    pub hosts: Vec<String>,
    /// The node it runs on.
    pub node: Option<String>,
    /// `alertname`.
    pub alertname: String,
    /// Title tokens.
    pub tokens: BTreeSet<String>,
    /// Words of other label values and annotations (to spot a named service).
    pub mentions: BTreeSet<String>,
    /// Other catalog services its text names (`upstream matching-engine is degraded`),
    /// when it has a service of its own.
    #[serde(default)]
    pub named: BTreeSet<String>,
    /// A symptom alert (its name has one of the symptom words).
    pub symptom: bool,
}

/// Strips Kubernetes' generated suffixes from a pod name: `order-router-7f9c8d5b6-x2k4p`
/// → `order-router`, `kafka-2` → `kafka`.
pub fn workload_of(pod: &str) -> String {
    let parts: Vec<&str> = pod.split('-').collect();
    let mut keep = parts.len();
    while keep > 1 {
        let p = parts[keep - 1];
        let hashy = (p.len() >= 4
            && p.len() <= 10
            && p.chars().all(|c| c.is_ascii_alphanumeric())
            && p.chars().any(|c| c.is_ascii_digit()))
            || p.chars().all(|c| c.is_ascii_digit())
            || (p.len() == 5
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                && keep == parts.len());
        if hashy {
            keep -= 1;
        } else {
            break;
        }
    }
    parts[..keep].join("-")
}

/// The catalog with its dependency walks precomputed.
#[derive(Clone, Debug, Default)]
pub struct Topology {
    catalog: Catalog,
    /// service → (upstream service → hops)
    up: BTreeMap<String, BTreeMap<String, u32>>,
}

/// A relation between a new alert and a cluster member.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RelKind {
    /// Same service and alert name.
    SameSignal,
    /// Same service.
    SameService,
    /// A shared host, node or pod.
    SameHost,
    /// The new alert's service depends on the member's (a downstream symptom).
    DependsOn,
    /// The member's service depends on the new alert's (a root reported late).
    DependedOnBy,
    /// One names the other's service.
    Mentions,
    /// One's text names the other's service as a catalog service (`upstream X is
    /// degraded`): the named one is the cause.
    Named,
    /// Learned from co-starts.
    Learned,
    /// Only close in time (a symptom right after a root the catalog cannot place).
    Temporal,
    /// A pod and the node it runs on.
    OnNode,
}

impl Topology {
    /// Precomputes the walks of `catalog` up to `hops`.
    pub fn new(catalog: Catalog, hops: u32) -> Self {
        let mut up = BTreeMap::new();
        for s in catalog.services() {
            let m: BTreeMap<String, u32> = catalog
                .related(&s.name, Direction::Upstream, hops)
                .into_iter()
                .map(|r| (r.name, r.hops))
                .collect();
            up.insert(s.name.clone(), m);
        }
        Self { catalog, up }
    }

    /// The catalog.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Hops from `a` up to `b` when `a` depends on `b` (transitively).
    pub fn depends(&self, a: &str, b: &str) -> Option<u32> {
        self.up.get(a).and_then(|m| m.get(b)).copied()
    }

    /// Derives the identity of an alert: catalog enrichment first, then the configured
    /// service labels, then the workload of a `pod` label.
    pub fn identify(
        &self,
        cfg: &CorrelationConfig,
        labels: &super::Labels,
        annotations: &super::Labels,
        title: &str,
    ) -> Identity {
        let svc = self.catalog.enrich(labels);
        let service = svc
            .map(|s| s.name.clone())
            .or_else(|| {
                cfg.service_labels
                    .iter()
                    .filter_map(|k| labels.get(k))
                    .map(|v| v.trim().to_lowercase())
                    .find(|v| !v.is_empty() && !cfg.not_services.contains(v))
            })
            .or_else(|| labels.get("pod").map(|p| workload_of(p).to_lowercase()));
        let owner = svc.and_then(|s| s.owner.clone());
        let mut hosts: Vec<String> = cfg
            .host_labels
            .iter()
            .filter_map(|k| labels.get(k).map(|v| (k, v)))
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| {
                let v = if k == "instance" {
                    v.rsplit_once(':').map_or(v.as_str(), |(h, p)| {
                        if p.chars().all(|c| c.is_ascii_digit()) {
                            h
                        } else {
                            v
                        }
                    })
                } else {
                    v
                };
                v.to_lowercase()
            })
            .collect();
        let node = cfg
            .node_labels
            .iter()
            .find_map(|k| labels.get(k))
            .filter(|v| !v.is_empty())
            .map(|v| v.to_lowercase());
        // An alert about a node itself (its instance is the node) is about that host.
        if let Some(n) = &node {
            if labels.get("pod").is_none()
                && !hosts.contains(n)
                && cfg.service_labels.iter().all(|k| {
                    labels
                        .get(k)
                        .is_none_or(|v| cfg.not_services.contains(&v.to_lowercase()))
                })
            {
                hosts.push(n.clone());
            }
        }
        hosts.sort();
        hosts.dedup();
        let alertname = labels.get("alertname").cloned().unwrap_or_default();
        let name_tokens = tokenize(&alertname);
        let symptom = cfg.symptom_words.is_empty()
            || name_tokens
                .iter()
                .any(|t| cfg.symptom_words.iter().any(|w| w == t))
            || cfg
                .symptom_words
                .iter()
                .any(|w| !w.is_ascii() && alertname.contains(w.as_str()));
        let mut tokens = name_tokens;
        tokens.extend(tokenize(title));
        let mut mentions = BTreeSet::new();
        let service_keys: BTreeSet<&str> = cfg.service_labels.iter().map(String::as_str).collect();
        for (k, v) in labels {
            if !service_keys.contains(k.as_str()) && k != "alertname" {
                mentions.extend(mention_words(v));
            }
        }
        for v in annotations.values() {
            mentions.extend(mention_words(v).take(64));
        }
        if let Some(s) = &service {
            mentions.remove(s);
        }
        let named = if service.is_some() {
            mentions
                .iter()
                .filter(|w| self.catalog.get(w).is_some())
                .cloned()
                .collect()
        } else {
            BTreeSet::new()
        };
        Identity {
            service,
            owner,
            hosts,
            node,
            alertname,
            tokens,
            mentions,
            named,
            symptom,
        }
    }
}

/// Co-start statistics for learning dependencies without a catalog: a service
/// "starts" when it alerts after a quiet `window`; pairs that start within `window` of
/// each other are counted.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CoStarts {
    starts: BTreeMap<String, u32>,
    pairs: BTreeMap<String, BTreeMap<String, u32>>,
    last: BTreeMap<String, DateTime<Utc>>,
    recent: VecDeque<(DateTime<Utc>, String)>,
    since: Option<DateTime<Utc>>,
}

impl CoStarts {
    /// Records an alert onset of `service` at `t`.
    pub fn observe(&mut self, service: &str, t: DateTime<Utc>, window: Duration) {
        self.since = Some(self.since.map_or(t, |s| s.min(t)));
        let quiet = self
            .last
            .get(service)
            .is_none_or(|l| t - *l > window || t < *l);
        self.last.insert(service.to_string(), t);
        if !quiet {
            return;
        }
        while self.recent.front().is_some_and(|(at, _)| t - *at > window) {
            self.recent.pop_front();
        }
        let mut seen = BTreeSet::new();
        for (_, other) in &self.recent {
            if other != service && seen.insert(other.clone()) {
                let (a, b) = if other.as_str() < service {
                    (other.clone(), service.to_string())
                } else {
                    (service.to_string(), other.clone())
                };
                let c = self.pairs.entry(a).or_default().entry(b).or_insert(0);
                *c = c.saturating_add(1);
            }
        }
        let n = self.starts.entry(service.to_string()).or_insert(0);
        *n = n.saturating_add(1);
        self.recent.push_back((t, service.to_string()));
        if self.recent.len() > 4096 {
            self.recent.pop_front();
        }
    }

    /// `(count, lift)` of `a` and `b` starting together, when learned.
    pub fn edge(
        &self,
        a: &str,
        b: &str,
        now: DateTime<Utc>,
        window: Duration,
        cfg: &CorrelationConfig,
    ) -> Option<(u32, f64)> {
        let (x, y) = if a < b { (a, b) } else { (b, a) };
        let n = *self.pairs.get(x)?.get(y)?;
        if n < cfg.learn_min_count {
            return None;
        }
        let (na, nb) = (
            f64::from(*self.starts.get(a)?),
            f64::from(*self.starts.get(b)?),
        );
        let elapsed = (now - self.since?).num_seconds().max(3600) as f64;
        let expected = na * nb * 2.0 * window.num_seconds().max(1) as f64 / elapsed;
        let lift = f64::from(n) / expected.max(1e-9);
        (lift >= cfg.learn_min_lift).then_some((n, lift))
    }

    /// Forgets onsets older than `horizon` in the recent list (the counts are kept).
    pub fn trim(&mut self, now: DateTime<Utc>, horizon: Duration) {
        while self
            .recent
            .front()
            .is_some_and(|(at, _)| now - *at > horizon)
        {
            self.recent.pop_front();
        }
        self.last.retain(|_, t| now - *t <= horizon);
    }
}

/// Where a cluster stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClusterState {
    /// Collecting evidence; not yet an incident (see the declare policy).
    Pending,
    /// An incident was declared for it.
    Declared,
    /// Nothing fired for `close_after`; takes no more alerts.
    Closed,
}

/// A cluster member, as much as correlation needs of it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Member {
    /// Episode.
    pub key: AlertKey,
    /// Service.
    pub service: Option<String>,
    /// Hosts.
    pub hosts: Vec<String>,
    /// Node.
    #[serde(default)]
    pub node: Option<String>,
    /// Alert name.
    pub alertname: String,
    /// Title tokens.
    pub tokens: BTreeSet<String>,
    /// Mention words.
    pub mentions: BTreeSet<String>,
    /// Other catalog services its text names (see [`Identity::named`]).
    #[serde(default)]
    pub named: BTreeSet<String>,
    /// Severity.
    pub severity: Severity,
    /// Title.
    pub title: String,
    /// When this episode resolved (none while it fires).
    #[serde(default)]
    pub resolved_at: Option<DateTime<Utc>>,
    /// Whether its onset counts for time proximity (false for re-fires of a member).
    #[serde(default = "yes")]
    pub anchor: bool,
    /// A symptom alert (see [`CorrelationConfig::symptom_words`]).
    #[serde(default = "yes")]
    pub symptom: bool,
    /// On the root-cause side of the cluster: its founder, a late root, or the same
    /// alert, service or host as one of those.
    #[serde(default)]
    pub cause: bool,
}

fn yes() -> bool {
    true
}

impl Member {
    /// Whether this member still fires, or resolved less than `reopen` before `t`.
    fn active_near(&self, t: DateTime<Utc>, reopen: Duration) -> bool {
        self.resolved_at.is_none_or(|r| t - r <= reopen)
    }
}

/// An incident cluster.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cluster {
    /// Id (`C-` and 16 hex digits named after its founding alert, see `cluster_id` in the pipeline).
    pub id: String,
    /// State.
    pub state: ClusterState,
    /// The incident the app bound it to (defaults to the id).
    pub incident_key: Option<String>,
    /// Created at.
    pub created_at: DateTime<Utc>,
    /// Earliest member onset.
    pub first_onset: DateTime<Utc>,
    /// Members, in join order.
    pub members: Vec<Member>,
    /// Fingerprints currently firing.
    pub firing: BTreeSet<String>,
    /// Fingerprints of all members.
    pub fingerprints: BTreeSet<String>,
    /// When the last firing member resolved (none while something fires).
    pub quiet_since: Option<DateTime<Utc>>,
    /// Worst severity.
    pub severity: Severity,
    /// Why members joined (first few).
    pub reasons: Vec<JoinReason>,
    /// Whether the all-resolved output was given for the current quiet spell.
    pub resolved_reported: bool,
    /// When to tell the war room that members outlived the resolved root (see
    /// [`CorrelationConfig::outlived`]).
    #[serde(default)]
    pub outlived_due: Option<DateTime<Utc>>,
    /// What its members can be related through (not stored; see [`Cluster::index`]).
    #[serde(skip)]
    reach: Option<Reach>,
}

/// The services, hosts, nodes and named words of a cluster's members: enough to tell
/// that a candidate is related to none of them without visiting each (a storm of
/// thousands of alerts on unrelated services).
#[derive(Clone, Debug, Default, PartialEq)]
struct Reach {
    services: BTreeSet<String>,
    hosts: BTreeSet<String>,
    nodes: BTreeSet<String>,
    mentions: BTreeSet<String>,
}

impl Reach {
    /// Whether `cand` shares a host, node or service with a member, or a member names
    /// its service.
    fn shares(&self, cand: &Member) -> bool {
        cand.hosts
            .iter()
            .any(|h| self.hosts.contains(h) || self.nodes.contains(h))
            || cand.node.as_ref().is_some_and(|n| self.hosts.contains(n))
            || cand
                .service
                .as_ref()
                .is_some_and(|a| self.services.contains(a) || self.mentions.contains(a))
    }

    /// Whether the catalog, the learned edges or the candidate's text relate its
    /// service to a member's (`pairs`: [`Pair::of`] it and each of `services`). With
    /// [`Reach::shares`], false only when [`relation`] is `None` for every member.
    fn related(&self, cand: &Member, pairs: &[(&str, Pair)], cfg: &CorrelationConfig) -> bool {
        cand.service.is_some()
            && pairs.iter().any(|(b, p)| {
                p.member_on_cand.is_some()
                    || p.cand_on_member.is_some()
                    || p.learned.is_some()
                    || cand.mentions.contains(*b)
                    || (p.unknown && cfg.temporal_window.as_secs() > 0)
            })
    }

    fn add(&mut self, m: &Member) {
        // Only values not seen yet are copied (members mostly repeat them).
        fn put<'a>(set: &mut BTreeSet<String>, values: impl IntoIterator<Item = &'a String>) {
            for v in values {
                if !set.contains(v) {
                    set.insert(v.clone());
                }
            }
        }
        put(&mut self.services, &m.service);
        put(&mut self.hosts, &m.hosts);
        put(&mut self.nodes, &m.node);
        put(&mut self.mentions, &m.mentions);
    }
}

/// Why an alert joins a cluster.
#[derive(Clone, Debug, PartialEq)]
pub struct Evidence {
    /// Confidence 0..1.
    pub confidence: f64,
    /// Why (words it in either language).
    pub reason: JoinReason,
    /// The alert joins on the root-cause side (see [`Member::cause`]).
    pub cause: bool,
}

impl Cluster {
    /// A new pending cluster around its first member.
    pub fn new(id: String, mut m: Member, now: DateTime<Utc>) -> Self {
        m.cause = true;
        let mut c = Self {
            id,
            state: ClusterState::Pending,
            incident_key: None,
            created_at: now,
            first_onset: m.key.starts_at,
            members: Vec::new(),
            firing: BTreeSet::new(),
            fingerprints: BTreeSet::new(),
            quiet_since: None,
            severity: m.severity,
            reasons: Vec::new(),
            resolved_reported: false,
            outlived_due: None,
            reach: Some(Reach::default()),
        };
        c.add(m, None);
        c
    }

    /// Adds a firing member.
    pub fn add(&mut self, m: Member, reason: Option<JoinReason>) {
        self.first_onset = self.first_onset.min(m.key.starts_at);
        self.severity = self.severity.min(m.severity);
        self.firing.insert(m.key.fingerprint.clone());
        self.fingerprints.insert(m.key.fingerprint.clone());
        self.quiet_since = None;
        self.resolved_reported = false;
        if let Some(r) = reason {
            if self.reasons.len() < 8 && !self.reasons.contains(&r) {
                self.reasons.push(r);
            }
        }
        if let Some(r) = &mut self.reach {
            r.add(&m);
        }
        self.members.push(m);
    }

    /// Rebuilds what [`Cluster::score`] uses to skip unrelated clusters (after the
    /// cluster was read back from the store).
    pub fn index(&mut self) {
        if self.reach.is_none() {
            let mut r = Reach::default();
            for m in &self.members {
                r.add(m);
            }
            self.reach = Some(r);
        }
    }

    /// The key the incident is known by.
    pub fn incident_key(&self) -> String {
        self.incident_key.clone().unwrap_or_else(|| self.id.clone())
    }

    /// Distinct `(service, alertname)` signals among firing members, with the worst
    /// severity of each.
    pub fn firing_signals(&self) -> BTreeMap<(Option<&str>, &str), Severity> {
        let mut out: BTreeMap<(Option<&str>, &str), Severity> = BTreeMap::new();
        for m in self.members.iter().filter(|m| m.resolved_at.is_none()) {
            let e = out
                .entry((m.service.as_deref(), m.alertname.as_str()))
                .or_insert(m.severity);
            *e = (*e).min(m.severity);
        }
        out
    }

    /// The probable root: the earliest member whose service depends on no other
    /// member's service.
    pub fn root(&self, topo: &Topology) -> Option<&Member> {
        let services: BTreeSet<&str> = self
            .members
            .iter()
            .filter_map(|m| m.service.as_deref())
            .collect();
        let is_symptom = |m: &Member| {
            m.service.as_deref().is_some_and(|s| {
                services
                    .iter()
                    .any(|o| *o != s && topo.depends(s, o).is_some())
            })
        };
        self.members
            .iter()
            .filter(|m| !is_symptom(m))
            .min_by_key(|m| (m.severity, m.key.starts_at))
            .or_else(|| self.members.iter().min_by_key(|m| m.key.starts_at))
    }

    /// Title for the incident: the root's title and its service, in English or Chinese.
    pub fn title(&self, topo: &Topology, chinese: bool) -> String {
        let Some(root) = self.root(topo) else {
            return self.id.clone();
        };
        let services: BTreeSet<&str> = self
            .members
            .iter()
            .filter_map(|m| m.service.as_deref())
            .collect();
        let mut t = match &root.service {
            Some(s) if !mention_words(&root.title).any(|w| w == *s) => {
                if chinese {
                    format!("{s}：{}", root.title)
                } else {
                    format!("{} on {s}", root.title)
                }
            }
            _ => root.title.clone(),
        };
        match (services.len(), chinese) {
            (0 | 1, _) => {}
            (n, true) => t.push_str(&format!("（另 {} 个服务）", n - 1)),
            (n, false) => t.push_str(&format!(" (+{} services)", n - 1)),
        }
        t
    }

    /// How well `cand` fits this cluster, if at all.
    pub fn score(
        &self,
        cand: &Member,
        topo: &Topology,
        learned: &CoStarts,
        cfg: &CorrelationConfig,
        now: DateTime<Utc>,
    ) -> Option<Evidence> {
        if self.state == ClusterState::Closed {
            return None;
        }
        let window = cfg.window.get();
        let start = cand.key.starts_at;
        if self.fingerprints.contains(&cand.key.fingerprint) {
            // The same alert again: it continues the cluster if its last episode is recent.
            let recent = self
                .members
                .iter()
                .rev()
                .find(|m| m.key.fingerprint == cand.key.fingerprint)
                .is_some_and(|m| m.active_near(start, cfg.reopen.get()));
            let cause = self
                .members
                .iter()
                .any(|m| m.key.fingerprint == cand.key.fingerprint && m.cause);
            return recent.then_some(Evidence {
                confidence: 1.0,
                reason: JoinReason::Again,
                cause,
            });
        }
        let since_start = start - self.first_onset;
        // The widest limits of any relation: cheap checks before the relations.
        let max_gap = window
            .max(cfg.signal_window.get())
            .max(cfg.service_window.get())
            .max(cfg.temporal_window.get());
        let max_span = cfg
            .max_span
            .get()
            .max(cfg.dep_span.get())
            .max(cfg.late_root.get())
            .max(cfg.temporal_window.get());
        if since_start > max_span {
            return None;
        }
        let mut best: Option<(f64, JoinReason, bool)> = None;
        // What the catalog and the learned edges say about the candidate's service and
        // a member's depends only on the two services: looked up once per service.
        let mut pairs: Vec<(&str, Pair)> = Vec::new();
        if let Some(r) = self.reach.as_ref().filter(|r| !r.shares(cand)) {
            if let Some(a) = &cand.service {
                for b in &r.services {
                    pairs.push((b.as_str(), Pair::of(a, b, topo, learned, cfg, now)));
                }
            }
            if !r.related(cand, &pairs, cfg) {
                return None;
            }
        }
        let named_here = cand.service.as_ref().is_some_and(|a| match &self.reach {
            Some(r) => r.services.contains(a),
            None => self.members.iter().any(|m| m.service.as_ref() == Some(a)),
        });
        let explained_by = |m: &Member| {
            cand.named.is_empty()
                || m.service.as_deref().is_some_and(|b| {
                    cand.named
                        .iter()
                        .any(|n| n == b || topo.depends(n, b).is_some())
                })
        };
        // Recent members are the relevant ones; big storms are capped.
        let skip = self.members.len().saturating_sub(256);
        for m in self.members[skip..].iter().filter(|m| m.anchor) {
            let gap = (start - m.key.starts_at).abs();
            if gap > max_gap {
                continue;
            }
            let pair = match (&cand.service, &m.service) {
                (Some(a), Some(b)) => Some(match pairs.iter().find(|(s, _)| *s == b.as_str()) {
                    Some((_, p)) => *p,
                    None => {
                        let p = Pair::of(a, b, topo, learned, cfg, now);
                        pairs.push((b.as_str(), p));
                        p
                    }
                }),
                _ => None,
            };
            let Some(rel) = relation(cand, m, pair, cfg) else {
                continue;
            };
            // Once the named service alerts in the cluster, the naming is explained:
            // another alert of that service joins as the same service would.
            if rel.kind == RelKind::Named && named_here {
                continue;
            }
            // A member that had already cleared when the candidate started explains
            // nothing about it (only the same signal recurring links them).
            if rel.kind != RelKind::SameSignal && m.resolved_at.is_some_and(|r| r < start) {
                continue;
            }
            // A cause-like alert next to a symptom is a new root cause, not more of the
            // symptom: it joins through a symptom member only as the same signal
            // starting with it (the same failure seen on several instances).
            let sibling = rel.kind == RelKind::SameSignal && gap <= cfg.onset_tolerance.get();
            if !(cand.symptom || m.cause || sibling || rel.kind == RelKind::Named) {
                continue;
            }
            // An alert naming its cause joins another service's alerts only where that
            // cause, or something it depends on, alerts.
            let across = matches!(
                rel.kind,
                RelKind::DependsOn | RelKind::Mentions | RelKind::Learned | RelKind::Temporal
            );
            if across && !explained_by(m) {
                continue;
            }
            let (limit, span) = match rel.kind {
                RelKind::SameSignal => (cfg.signal_window.get(), cfg.max_span.get()),
                RelKind::SameService => (cfg.service_window.get(), cfg.max_span.get()),
                RelKind::SameHost | RelKind::OnNode => (window, cfg.max_span.get()),
                RelKind::DependedOnBy => (window, cfg.late_root.get()),
                RelKind::Temporal => (cfg.temporal_window.get(), cfg.temporal_window.get()),
                _ => (window, cfg.dep_span.get()),
            };
            if gap > limit || since_start > span {
                continue;
            }
            let time = 1.0 - 0.5 * (gap.num_seconds() as f64 / limit.num_seconds().max(1) as f64);
            let text = jaccard(&cand.tokens, &m.tokens);
            let conf = cfg.w_relation * rel.strength + cfg.w_time * time + cfg.w_text * text;
            if best.as_ref().is_none_or(|(b, _, _)| conf > *b) {
                // As precise as it is read (seconds under a minute, else minutes; tens of
                // percent), so a storm's reasons are not all different by a second.
                let secs = gap.num_seconds().abs();
                let reason = JoinReason::Related {
                    gap_secs: if secs < 60 {
                        secs
                    } else {
                        (secs + 30) / 60 * 60
                    },
                    link: rel.why.clone(),
                    similar_pct: (text >= 0.2).then(|| (text * 10.0).round().min(10.0) as u8 * 10),
                };
                let cause = match rel.kind {
                    RelKind::DependedOnBy => true,
                    RelKind::SameSignal | RelKind::SameService | RelKind::SameHost => m.cause,
                    RelKind::OnNode => {
                        m.cause && cand.hosts.iter().any(|h| m.node.as_ref() == Some(h))
                    }
                    RelKind::Named => m.named.iter().any(|n| cand.service.as_ref() == Some(n)),
                    _ => false,
                };
                best = Some((conf, reason, cause));
            }
        }
        best.filter(|(c, _, _)| *c >= cfg.min_confidence)
            .map(|(confidence, reason, cause)| Evidence {
                confidence,
                reason,
                cause,
            })
    }
}

/// What the catalog and the learned co-starts say about two services.
#[derive(Clone, Copy)]
struct Pair {
    /// Hops when the member's service depends on the candidate's.
    member_on_cand: Option<u32>,
    /// Hops when the candidate's service depends on the member's.
    cand_on_member: Option<u32>,
    /// One of them is not in the catalog.
    unknown: bool,
    /// A learned edge `(count, lift)` (only looked up when `unknown`).
    learned: Option<(u32, f64)>,
}

impl Pair {
    fn of(
        a: &str,
        b: &str,
        topo: &Topology,
        learned: &CoStarts,
        cfg: &CorrelationConfig,
        now: DateTime<Utc>,
    ) -> Self {
        let unknown = topo.catalog().get(a).is_none() || topo.catalog().get(b).is_none();
        Self {
            member_on_cand: topo.depends(b, a),
            cand_on_member: topo.depends(a, b),
            unknown,
            learned: (cfg.learn && unknown && a != b)
                .then(|| learned.edge(a, b, now, cfg.window.get(), cfg))
                .flatten(),
        }
    }
}

struct Relation {
    kind: RelKind,
    strength: f64,
    why: Link,
}

/// The strongest relation between a candidate and a member (before time limits);
/// `pair` is [`Pair::of`] their services when both have one.
fn relation(
    cand: &Member,
    m: &Member,
    pair: Option<Pair>,
    cfg: &CorrelationConfig,
) -> Option<Relation> {
    let rel = |kind, strength, why: Link| {
        Some(Relation {
            kind,
            strength,
            why,
        })
    };
    let same_service = matches!((&cand.service, &m.service), (Some(a), Some(b)) if a == b);
    if let (true, Some(a)) = (same_service, &cand.service) {
        // A sibling symptom is weaker evidence than the root-cause side: concurrent
        // incidents upstream give a shared dependent the same symptoms.
        let side = if m.cause { 0.0 } else { 0.2 };
        if cand.alertname == m.alertname {
            return rel(
                RelKind::SameSignal,
                0.95 - side,
                Link::SameAlert { service: a.clone() },
            );
        }
        if cand.symptom {
            return rel(
                RelKind::SameService,
                0.8 - side,
                Link::SameService { service: a.clone() },
            );
        }
    }
    if let Some(h) = cand.hosts.iter().find(|h| m.hosts.contains(h)) {
        return rel(RelKind::SameHost, 0.85, Link::SameHost { host: h.clone() });
    }
    // A pod and its node: the node is the cause, so it comes first. A pod alert joins
    // a node alert that started before it; a node alert joins a pod's cluster only as
    // the late root of its root-cause side, having started before that pod's alert.
    let tolerance = cfg.onset_tolerance.get();
    if let Some(n) = cand.node.as_ref().filter(|n| m.hosts.contains(n)) {
        if cand.key.starts_at + tolerance >= m.key.starts_at {
            return rel(RelKind::OnNode, 0.7, Link::RunsOn { node: n.clone() });
        }
    }
    if let Some(n) = m.node.as_ref().filter(|n| cand.hosts.contains(n)) {
        if m.cause && cand.key.starts_at <= m.key.starts_at + tolerance {
            return rel(
                RelKind::OnNode,
                0.7,
                Link::NodeUnder {
                    node: n.clone(),
                    alertname: m.alertname.clone(),
                },
            );
        }
    }
    let (Some(a), Some(b), Some(pair)) = (&cand.service, &m.service, pair) else {
        return None;
    };
    // Text naming the other's service as its cause (`upstream X is degraded`) places
    // the two more surely than the catalog, which lists every service either may be
    // waiting on; it also lets a cause reported late join the symptoms that named it.
    if m.named.contains(a) {
        return rel(
            RelKind::Named,
            0.9,
            Link::Names {
                by: b.clone(),
                cause: a.clone(),
            },
        );
    }
    // A root cause reported late explains the cluster's root-cause side, not its
    // symptoms (which would chain unrelated incidents through shared dependents).
    if let Some(h) = pair.member_on_cand.filter(|_| m.cause) {
        return rel(
            RelKind::DependedOnBy,
            0.75 - 0.15 * f64::from(h - 1),
            Link::DependsOn {
                dependent: b.clone(),
                on: a.clone(),
                hops: h,
            },
        );
    }
    // A cause on a dependent service is a new root, not a symptom; symptoms follow
    // the root-cause side of a cluster.
    if !cand.symptom || !(m.cause || cfg.via_symptoms) {
        return None;
    }
    // Effects follow their cause: a downstream symptom starting well before the
    // member is not its effect.
    let after = cand.key.starts_at + cfg.onset_tolerance.get() >= m.key.starts_at;
    if let Some(h) = pair.cand_on_member.filter(|_| after) {
        return rel(
            RelKind::DependsOn,
            0.85 - 0.15 * f64::from(h - 1),
            Link::DependsOn {
                dependent: a.clone(),
                on: b.clone(),
                hops: h,
            },
        );
    }
    if cand.mentions.contains(b) || m.mentions.contains(a) {
        return rel(
            RelKind::Mentions,
            0.7,
            Link::NamedTogether {
                a: a.clone(),
                b: b.clone(),
            },
        );
    }
    let unknown = pair.unknown;
    if cfg.learn && unknown {
        if let Some((n, lift)) = pair.learned {
            return rel(
                RelKind::Learned,
                0.6,
                Link::OftenTogether {
                    a: a.clone(),
                    b: b.clone(),
                    times: n,
                    lift: lift.round().clamp(0.0, f64::from(u32::MAX)) as u32,
                },
            );
        }
    }
    if unknown && m.cause && cfg.temporal_window.as_secs() > 0 {
        return rel(
            RelKind::Temporal,
            0.5,
            Link::RightAfter {
                later: a.clone(),
                earlier: b.clone(),
            },
        );
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_split_camel_case_snake_case_and_digits() {
        let t = tokenize("KubePodCrashLooping on order_router-7 HTTP5xx");
        for w in [
            "kube", "pod", "crash", "looping", "order", "router", "http", "xx",
        ] {
            assert!(t.contains(w), "{w} missing from {t:?}");
        }
        assert!(!t.contains("on") && !t.contains("7"));
        let zh = tokenize("数据库连接超时");
        assert!(zh.contains("数据") && zh.contains("超时"));
        assert!(jaccard(&tokenize("HighLatency"), &tokenize("high_latency")) > 0.99);
    }

    fn member(fp: &str, service: &str, host: &str, name: &str) -> Member {
        let start = DateTime::parse_from_rfc3339("2026-03-02T01:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        Member {
            key: AlertKey {
                fingerprint: fp.into(),
                starts_at: start,
            },
            service: Some(service.into()),
            hosts: vec![host.into()],
            node: None,
            alertname: name.into(),
            tokens: tokenize(name),
            mentions: BTreeSet::new(),
            named: BTreeSet::new(),
            severity: Severity::P2,
            title: name.into(),
            resolved_at: None,
            anchor: true,
            symptom: true,
            cause: false,
        }
    }

    #[test]
    fn a_cluster_skips_an_unrelated_alert_without_losing_a_related_one_also_after_a_restart() {
        let (topo, learned, cfg) = (
            Topology::default(),
            CoStarts::default(),
            CorrelationConfig::default(),
        );
        let now = member("a", "x", "h", "X").key.starts_at;
        let fresh = Cluster::new("C-1".into(), member("a", "orders", "db-1", "DiskFull"), now);
        let mut stored: Cluster =
            serde_json::from_str(&serde_json::to_string(&fresh).unwrap()).unwrap();
        assert!(stored.reach.is_none(), "the summary is not stored");
        let unrelated = member("b", "quotes", "md-7", "HighLatency");
        let same_host = member("c", "quotes", "db-1", "HighLatency");
        let mut named = member("d", "quotes", "md-7", "HighLatency");
        named.mentions.insert("orders".into());
        for c in [&fresh, &stored] {
            assert!(c.score(&unrelated, &topo, &learned, &cfg, now).is_none());
            assert!(c.score(&same_host, &topo, &learned, &cfg, now).is_some());
            assert!(c.score(&named, &topo, &learned, &cfg, now).is_some());
        }
        stored.index();
        assert_eq!(stored.reach, fresh.reach);
    }

    #[test]
    fn pod_names_lose_their_generated_suffixes() {
        assert_eq!(workload_of("order-router-7f9c8d5b6-x2k4p"), "order-router");
        assert_eq!(workload_of("kafka-2"), "kafka");
        assert_eq!(workload_of("risk-engine"), "risk-engine");
    }
}
