//! `[alerts]`: the alert pipeline's settings in the configuration file.
//!
//! Every key has a default, so an absent `[alerts]` section is a working pipeline
//! (group by `alertname` + `service`, 30s / 5m / 4h, no inhibition, no silences).
//! Durations are `"30s"`, `"5m"`, `"1h30m"`; matchers are Alertmanager text
//! (`'service=~"db|cache"'`); times are RFC 3339 strings.
//!
//! ```toml
//! [alerts]
//! timezone = "Asia/Shanghai"            # recurring silence windows (default: [general].timezone)
//! retention = "24h"                     # memory of resolved alerts and closed clusters
//!
//! [alerts.route]                        # Alertmanager routing tree
//! group_by = ["alertname", "service"]   # ["..."] = every label
//! group_wait = "30s"
//! group_interval = "5m"
//! repeat_interval = "4h"
//! [[alerts.route.routes]]
//! matchers = ['team="dba"']
//! group_wait = "10s"
//! continue = true
//!
//! [[alerts.inhibit_rules]]
//! source_matchers = ['alertname="NodeDown"']
//! target_matchers = ['alertname!="NodeDown"']
//! equal = ["node"]
//!
//! [[alerts.silences]]
//! id = "nightly-backup"
//! matchers = ['service="db"', 'alertname=~"DiskIO.*"']
//! recurrence = { days = ["daily"], start = "02:00", end = "03:00" }
//! created_by = "dba"
//! comment = "backup I/O"
//! # starts_at / ends_at = "2026-03-01T00:00:00Z" (optional)
//!
//! [alerts.flapping]                     # 5 state changes in 30m = flapping (held)
//! changes = 5
//! window = "30m"
//!
//! [alerts.chronic]                      # 2 lonely episodes (transient, flapping) in 24h = noise
//! after = 2
//! window = "24h"
//! from = "P3"                           # never mutes P1/P2 alerts…
//! hold = "15m"                          # …they are declared after 15m instead of their pause
//! lone = "15m"                          # an incident of one alert gone in 15m counts as lonely
//!
//! [alerts.storm]                        # one notice instead of a post per alert
//! per_service = 20
//! per_source = 100
//! window = "2m"
//!
//! [alerts.correlation]
//! window = "5m"             # onset gap to a related member (host, service, dependency)
//! signal_window = "90s"     # onset gap for the same alert name on the same service
//! service_window = "2m"     # onset gap for another alert name on the same service
//! max_span = "10m"          # same service/host/alert name joins this long after a cluster starts
//! dep_span = "10m"          # dependents (catalog, named in text, learned) join this long after
//! late_root = "0s"          # what members depend on (a late root cause) joins this long after
//! reopen = "5m"             # the same alert re-firing this soon after it resolved
//! close_after = "30m"       # quiet clusters close
//! outlived = "15m"          # members firing this long after the root resolved: told in the war room (0s: never)
//! hops = 1                  # catalog dependency hops
//! min_confidence = 0.5
//! w_relation = 0.5
//! w_time = 0.3
//! w_text = 0.2
//! temporal_window = "0s"    # > 0: symptoms the catalog cannot place join on time alone
//! via_symptoms = true       # true: dependents may join through symptom members too
//! learn = true              # learn dependencies from services alerting together
//! learn_min_count = 4
//! learn_min_lift = 3.0
//! # service_labels = ["service", "app", ...], not_services = ["node", "blackbox", ...],
//! # host_labels = ["instance", "host", "pod", ...], node_labels = ["node", ...],
//! # symptom_words = ["latency", "error", "timeout", ...]
//!
//! [alerts.declare]
//! signals = 2               # distinct firing (service, alertname) pairs that declare at once...
//! threshold = 1.0           # ...when their severity weights add up to this
//! weights = { P1 = 1.0, P2 = 0.6, P3 = 0.3, P4 = 0.1 }
//! pause = { P1 = "2m", P2 = "5m", P3 = "10m", P4 = "30m" }  # a lone alert must fire this long
//! alone_from = "P3"         # less severe (info) alerts join incidents but never page alone
//! symptom_pause = 1.0       # pause multiplier for clusters of symptom alerts only
//! min_severity = "P4"       # less severe alerts are recorded, never correlated
//! default_severity = "P3"
//! severity_labels = ["severity", "priority", "level"]
//! severity_map = { disaster = "P1" }    # extra words
//! ```

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use warroom_core::alerts::{
    ChronicConfig, CorrelationConfig, DeclareConfig, Dur, FlapConfig, InhibitRule, Matcher,
    PipelineConfig, Recurrence, Route, Silence, StormConfig,
};

/// The `[alerts]` section.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    /// False: no alert intake and no pipeline.
    pub enabled: bool,
    /// `adapter:channel-id` for storm notices (default: the tasks channel).
    pub channel: Option<String>,
    /// Per-source authentication of the webhooks (`[alerts.auth.alertmanager]`, …).
    pub auth: BTreeMap<String, SourceAuth>,
    /// Largest webhook body, in bytes.
    pub body_limit_bytes: usize,
    /// `[alerts.email]`: the SMTP listener and its rules (see `crate::smtp`).
    #[serde(default, skip_serializing)]
    pub email: crate::smtp::EmailConfig,
    /// Zone of recurring silence windows; `[general].timezone` when unset.
    pub timezone: Option<String>,
    /// Routing tree.
    pub route: Route,
    /// Inhibition rules.
    pub inhibit_rules: Vec<InhibitRule>,
    /// Silences that exist from start-up (maintenance windows).
    pub silences: Vec<SilenceConfig>,
    /// Flapping detection.
    pub flapping: FlapConfig,
    /// Chronic noise detection.
    pub chronic: ChronicConfig,
    /// Storm detection.
    pub storm: StormConfig,
    /// Correlation.
    pub correlation: CorrelationConfig,
    /// Declare policy and severities.
    pub declare: DeclareConfig,
    /// Memory of resolved alerts and closed clusters.
    pub retention: Dur,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        let p = PipelineConfig::default();
        Self {
            enabled: true,
            channel: None,
            auth: BTreeMap::new(),
            body_limit_bytes: 4 * 1024 * 1024,
            email: crate::smtp::EmailConfig::default(),
            timezone: None,
            route: p.route,
            inhibit_rules: p.inhibit_rules,
            silences: Vec::new(),
            flapping: p.flapping,
            chronic: p.chronic,
            storm: p.storm,
            correlation: p.correlation,
            declare: p.declare,
            retention: p.retention,
        }
    }
}

/// How one webhook source proves who it is. Without an entry a source uses the
/// API bearer token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceAuth {
    /// Environment variable with this source's own bearer token.
    #[serde(default)]
    pub token_env: Option<String>,
    /// Environment variable with an HMAC-SHA256 secret: the body's signature is
    /// expected as `X-Warroom-Signature: sha256=<hex>` (Grafana's and most senders'
    /// format).
    #[serde(default)]
    pub hmac_secret_env: Option<String>,
}

/// A configured silence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SilenceConfig {
    /// Unique id.
    pub id: String,
    /// All must match.
    pub matchers: Vec<Matcher>,
    /// Start (RFC 3339); always when unset.
    #[serde(default)]
    pub starts_at: Option<DateTime<Utc>>,
    /// End (RFC 3339); never when unset.
    #[serde(default)]
    pub ends_at: Option<DateTime<Utc>>,
    /// Only inside these local windows.
    #[serde(default)]
    pub recurrence: Option<Recurrence>,
    /// Who asked for it.
    #[serde(default = "config_author")]
    pub created_by: String,
    /// Why.
    #[serde(default)]
    pub comment: String,
}

fn config_author() -> String {
    "config".into()
}

/// What is wrong with an `[alerts]` section.
#[derive(Debug, thiserror::Error)]
#[error("alerts.{key}: {message}")]
pub struct AlertsConfigError {
    /// Dotted key under `alerts`.
    pub key: String,
    /// The problem.
    pub message: String,
}

impl AlertsConfig {
    /// Reads the `[alerts]` table (already parsed TOML); errors name the key.
    ///
    /// # Errors
    /// [`AlertsConfigError`] for unknown keys and bad values.
    pub fn from_toml(table: toml::Value) -> Result<Self, AlertsConfigError> {
        let cfg: Self = serde_path_to_error::deserialize(table).map_err(|e| AlertsConfigError {
            key: e.path().to_string(),
            message: e.inner().message().trim().to_string(),
        })?;
        cfg.validate()?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<(), AlertsConfigError> {
        let err = |key: &str, message: String| {
            Err(AlertsConfigError {
                key: key.into(),
                message,
            })
        };
        let c = &self.correlation;
        if !(0.0..=1.0).contains(&c.min_confidence) {
            return err(
                "correlation.min_confidence",
                "must be between 0 and 1".into(),
            );
        }
        if [c.w_relation, c.w_time, c.w_text].iter().any(|w| *w < 0.0) {
            return err("correlation", "weights must not be negative".into());
        }
        for (name, a) in &self.auth {
            if !matches!(
                name.as_str(),
                "alertmanager" | "grafana" | "prometheus" | "events"
            ) {
                return err(
                    &format!("auth.{name}"),
                    "sources are alertmanager, grafana, prometheus and events".into(),
                );
            }
            if a.token_env.is_none() == a.hmac_secret_env.is_none() {
                return err(
                    &format!("auth.{name}"),
                    "give exactly one of token_env and hmac_secret_env".into(),
                );
            }
        }
        if self.body_limit_bytes < 1024 {
            return err("body_limit_bytes", "must be at least 1024".into());
        }
        if self.declare.signals == 0 {
            return err("declare.signals", "must be at least 1".into());
        }
        for (i, s) in self.silences.iter().enumerate() {
            if let Err(e) = self.silence(s).validate() {
                return err(&format!("silences[{i}]"), e.to_string());
            }
            if self.silences[..i].iter().any(|o| o.id == s.id) {
                return err(
                    &format!("silences[{i}].id"),
                    format!("`{}` is the id of an earlier silence", s.id),
                );
            }
        }
        if let Some(tz) = &self.timezone {
            if tz.parse::<chrono_tz::Tz>().is_err() {
                return err("timezone", format!("`{tz}` is not an IANA time zone"));
            }
        }
        if let Err((key, message)) = crate::smtp::validate(&self.email) {
            // `smtp` names full paths (`alerts.email.listen`); ours are under `alerts`.
            let key = key.strip_prefix("alerts.").unwrap_or(&key).to_string();
            return Err(AlertsConfigError { key, message });
        }
        Ok(())
    }

    fn silence(&self, s: &SilenceConfig) -> Silence {
        Silence {
            id: s.id.clone(),
            matchers: s.matchers.clone(),
            starts_at: s.starts_at.unwrap_or(DateTime::<Utc>::UNIX_EPOCH),
            ends_at: s.ends_at,
            recurrence: s.recurrence.clone(),
            created_by: s.created_by.clone(),
            comment: s.comment.clone(),
            updated_at: None,
        }
    }

    /// The core pipeline settings; `default_timezone` is `[general].timezone`.
    pub fn pipeline_config(&self, default_timezone: &str) -> PipelineConfig {
        PipelineConfig {
            timezone: self
                .timezone
                .clone()
                .unwrap_or_else(|| default_timezone.to_string()),
            route: self.route.clone(),
            inhibit_rules: self.inhibit_rules.clone(),
            silences: self.silences.iter().map(|s| self.silence(s)).collect(),
            flapping: self.flapping.clone(),
            chronic: self.chronic.clone(),
            storm: self.storm.clone(),
            correlation: self.correlation.clone(),
            declare: self.declare.clone(),
            retention: self.retention,
            // Set from `[general].language` by the caller.
            chinese_titles: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<AlertsConfig, AlertsConfigError> {
        let v: toml::Value = toml::from_str(text).expect("toml");
        AlertsConfig::from_toml(
            v.get("alerts")
                .cloned()
                .unwrap_or(toml::Value::Table(Default::default())),
        )
    }

    #[test]
    fn an_absent_section_is_the_default_pipeline() {
        assert_eq!(parse("").unwrap(), AlertsConfig::default());
    }

    #[test]
    fn the_documented_example_reads() {
        let doc: String = include_str!("alerts_config.rs")
            .lines()
            .skip_while(|l| !l.starts_with("//! ```toml"))
            .skip(1)
            .take_while(|l| !l.starts_with("//! ```"))
            .map(|l| {
                l.strip_prefix("//! ")
                    .or_else(|| l.strip_prefix("//!"))
                    .unwrap_or(l)
            })
            .collect::<Vec<_>>()
            .join("\n");
        let c = parse(&doc).unwrap();
        assert_eq!(c.route.routes.len(), 1);
        assert!(c.route.routes[0].continue_matching);
        assert_eq!(c.inhibit_rules[0].equal, vec!["node".to_string()]);
        assert_eq!(c.silences[0].id, "nightly-backup");
        assert_eq!(c.correlation.window, Dur::mins(5));
        let p = c.pipeline_config("UTC");
        assert_eq!(p.timezone, "Asia/Shanghai");
        assert!(warroom_core::alerts::Pipeline::new(p, Default::default()).is_ok());
    }

    #[test]
    fn mistakes_name_the_key() {
        let e = parse("[alerts.route]\ngroup_wait = \"soon\"\n").unwrap_err();
        assert!(e.key.starts_with("route.group_wait"), "{e}");
        let e = parse("[alerts]\n[[alerts.inhibit_rules]]\nsource_matchers = ['a=~\"(\"']\ntarget_matchers = []\n").unwrap_err();
        assert!(e.to_string().contains("inhibit_rules"), "{e}");
        let e = parse("[alerts.correlation]\nwindw = \"5m\"\n").unwrap_err();
        assert!(e.to_string().contains("windw"), "{e}");
        let e = parse("[[alerts.silences]]\nid = \"x\"\nmatchers = ['a=~\".*\"']\n").unwrap_err();
        assert_eq!(e.key, "silences[0]");
        let e = parse("[[alerts.silences]]\nid = \"x\"\nmatchers = ['a=\"1\"']\n[[alerts.silences]]\nid = \"x\"\nmatchers = ['a=\"2\"']\n").unwrap_err();
        assert_eq!(e.key, "silences[1].id", "{e}");
    }
}
