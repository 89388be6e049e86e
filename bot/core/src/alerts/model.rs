//! The alert as every source is normalized into.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

/// Labels or annotations, sorted by name.
pub type Labels = BTreeMap<String, String>;

/// Firing or resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    /// The condition holds.
    Firing,
    /// The condition cleared.
    Resolved,
}

/// Where an alert came from; decides how episodes are told apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertSource {
    /// Prometheus Alertmanager webhook (v4).
    Alertmanager,
    /// Grafana unified alerting webhook.
    Grafana,
    /// Prometheus sending straight to warroom as its Alertmanager (`POST /api/v2/alerts`):
    /// no status, a resolved alert is one whose `endsAt` has passed.
    Prometheus,
    /// A generic event (`trigger`/`acknowledge`/`resolve`, like PagerDuty Events v2).
    /// Such events carry no start time of their own, so an episode lasts from the
    /// first trigger to the resolve.
    Event,
    /// A mail to the built-in SMTP listener, mapped to labels by rules; episodes
    /// work as for [`AlertSource::Event`].
    Email,
}

/// One alert, normalized.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    /// The sender's fingerprint, or [`fingerprint`] of the labels.
    pub fingerprint: String,
    /// Identifying labels (`alertname`, `service`, `instance`, `severity`, …).
    pub labels: Labels,
    /// Descriptive annotations (`summary`, `description`, `runbook_url`, …).
    pub annotations: Labels,
    /// Firing or resolved.
    pub status: AlertStatus,
    /// When the condition started (the episode's identity together with the fingerprint).
    pub starts_at: DateTime<Utc>,
    /// When it ended (resolved alerts) or is expected to end without a refresh.
    pub ends_at: Option<DateTime<Utc>>,
    /// The sender kind.
    pub source: AlertSource,
    /// When the pipeline received it ([`crate::alerts::Pipeline::ingest`] stamps it with
    /// its `now`; parsers put the alert's own latest time here).
    pub received_at: DateTime<Utc>,
}

impl Alert {
    /// The `alertname` label, or `""`.
    pub fn name(&self) -> &str {
        self.labels.get("alertname").map_or("", String::as_str)
    }

    /// A one-line title: the `summary` (or `title`) annotation, else the alert name.
    pub fn title(&self) -> String {
        ["summary", "title", "message"]
            .iter()
            .find_map(|k| self.annotations.get(*k).filter(|s| !s.trim().is_empty()))
            .map(|s| s.lines().next().unwrap_or("").chars().take(200).collect())
            .unwrap_or_else(|| self.name().to_string())
    }

    /// This alert's episode key.
    pub fn key(&self) -> AlertKey {
        AlertKey {
            fingerprint: self.fingerprint.clone(),
            starts_at: self.starts_at,
        }
    }
}

/// One episode of an alert: its fingerprint and start.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AlertKey {
    /// Fingerprint.
    pub fingerprint: String,
    /// Start of the episode.
    pub starts_at: DateTime<Utc>,
}

impl fmt::Display for AlertKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}@{}",
            self.fingerprint,
            self.starts_at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
        )
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
const SEP: u8 = 0xff;

/// The Alertmanager fingerprint of a label set: FNV-1a 64 over
/// `name 0xff value 0xff …` in sorted name order, as 16 hex digits.
pub fn fingerprint(labels: &Labels) -> String {
    let mut h = FNV_OFFSET;
    let mut add = |b: u8| {
        h ^= u64::from(b);
        h = h.wrapping_mul(FNV_PRIME);
    };
    for (k, v) in labels {
        k.bytes().for_each(&mut add);
        add(SEP);
        v.bytes().for_each(&mut add);
        add(SEP);
    }
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_match_alertmanager_and_ignore_label_order() {
        // Test vector of prometheus/common model.labelSetToFingerprint (signature_test.go):
        // 5799056148416392346 = 0x507a62d79ee76c9a.
        let l: Labels = [("name", "garland, briggs"), ("fear", "love is not enough")]
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        assert_eq!(fingerprint(&l), "507a62d79ee76c9a");
        assert_eq!(fingerprint(&Labels::new()), "cbf29ce484222325");
    }
}
