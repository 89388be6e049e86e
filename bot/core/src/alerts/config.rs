//! Pipeline settings (serde, with defaults for every field).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::correlate::CorrelationConfig;
use super::duration::Dur;
use super::inhibit::InhibitRule;
use super::route::Route;
use super::silence::Silence;
use super::Labels;
use crate::incident::Severity;

/// Everything the pipeline can be told.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineConfig {
    /// IANA zone of recurring silence windows.
    pub timezone: String,
    /// The routing tree.
    pub route: Route,
    /// Inhibition rules.
    pub inhibit_rules: Vec<InhibitRule>,
    /// Silences present from the start (maintenance windows).
    pub silences: Vec<Silence>,
    /// Flapping detection.
    pub flapping: FlapConfig,
    /// Chronic noise detection.
    pub chronic: ChronicConfig,
    /// Storm detection.
    pub storm: StormConfig,
    /// Correlation into incident clusters.
    pub correlation: CorrelationConfig,
    /// When a cluster becomes an incident, and how severe.
    pub declare: DeclareConfig,
    /// How long resolved alerts and closed clusters are remembered.
    pub retention: Dur,
    /// Word incident titles in Chinese (`trading-db：主库不可用（另 2 个服务）`) instead of
    /// English (`主库不可用 on trading-db (+2 services)`): the bot's language.
    pub chinese_titles: bool,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            timezone: "UTC".into(),
            route: Route::default_root(),
            inhibit_rules: Vec::new(),
            silences: Vec::new(),
            flapping: FlapConfig::default(),
            chronic: ChronicConfig::default(),
            storm: StormConfig::default(),
            correlation: CorrelationConfig::default(),
            declare: DeclareConfig::default(),
            retention: Dur::hours(24),
            chinese_titles: false,
        }
    }
}

/// The rules that can be replaced while the pipeline runs (hot reload): the routing
/// tree, the inhibition rules and the configured silences.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertRules {
    /// The routing tree.
    pub route: Route,
    /// Inhibition rules.
    pub inhibit_rules: Vec<InhibitRule>,
    /// Configured silences (silences from chat and the API are not part of it).
    pub silences: Vec<Silence>,
}

impl PipelineConfig {
    /// The replaceable rules of this configuration.
    pub fn rules(&self) -> AlertRules {
        AlertRules {
            route: self.route.clone(),
            inhibit_rules: self.inhibit_rules.clone(),
            silences: self.silences.clone(),
        }
    }
}

/// An alert that changes state `changes` times within `window` is flapping: its new
/// episodes are held (they join the incident of the earlier ones without a post, or are
/// suppressed) until it has been calm for a `window`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FlapConfig {
    /// State changes (fire or resolve) that make an alert flapping.
    pub changes: u32,
    /// Within this long.
    pub window: Dur,
}

impl Default for FlapConfig {
    fn default() -> Self {
        Self {
            changes: 5,
            window: Dur::mins(30),
        }
    }
}

/// An alert whose last `after` episodes within `window` all ended without being part
/// of an incident (transient, flapping) is chronic noise: later episodes are recorded
/// and suppressed, not correlated, until those episodes age out of the window. Being
/// part of a declared incident clears the count, except an incident of this one alert
/// alone that cleared by itself within `lone` (the alert that pages, alone, and goes
/// away in minutes: it counts as lonely too). Alerts more severe than `from` are never
/// muted this way: once chronic, their incident waits `hold` instead of the severity's
/// pause, so a stuck one still pages and a blip does not. `after = 0` disables it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChronicConfig {
    /// Lonely episodes that make an alert chronic.
    pub after: u32,
    /// Within this long.
    pub window: Dur,
    /// The most severe severity it mutes.
    pub from: Severity,
    /// A lone incident of the alert that resolves within this long counts as a lonely
    /// episode (0s: never).
    pub lone: Dur,
    /// How long a chronic alert more severe than `from` fires before it is declared.
    pub hold: Dur,
}

impl Default for ChronicConfig {
    fn default() -> Self {
        Self {
            after: 2,
            window: Dur::hours(24),
            from: Severity::P3,
            lone: Dur::mins(15),
            hold: Dur::mins(15),
        }
    }
}

/// More than `per_service` new alerts of one service (or `per_source` of one sender
/// kind) within `window` is a storm: one notice instead of a post per alert.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StormConfig {
    /// New alerts of one service.
    pub per_service: u32,
    /// New alerts from one sender kind.
    pub per_source: u32,
    /// Within this long.
    pub window: Dur,
}

impl Default for StormConfig {
    fn default() -> Self {
        Self {
            per_service: 20,
            per_source: 100,
            window: Dur::mins(2),
        }
    }
}

/// The declare policy. A cluster is declared an incident as soon as it has `signals`
/// distinct firing (service, alert name) pairs whose severity weights add up to
/// `threshold` (a critical and a warning: 1.0 + 0.3), or when one of its alerts has
/// fired for the pause of its severity (`P1 = "2m"`: a lone critical alert that resolves
/// within two minutes was transient). Alerts less severe than `min_severity` are
/// recorded but never correlated.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeclareConfig {
    /// Labels holding the severity, first present wins.
    pub severity_labels: Vec<String>,
    /// Extra (or overriding) severity words → P1…P4, lower-case.
    pub severity_map: BTreeMap<String, Severity>,
    /// Severity of alerts without a recognised severity.
    pub default_severity: Severity,
    /// Less severe alerts are not correlated.
    pub min_severity: Severity,
    /// Distinct firing signals that declare at once (with enough weight).
    pub signals: usize,
    /// Weight of a signal per severity.
    pub weights: BTreeMap<Severity, f64>,
    /// Total weight that declares at once (with enough signals).
    pub threshold: f64,
    /// Pause per severity before a lone alert is declared.
    pub pause: BTreeMap<Severity, Dur>,
    /// The least severe alert that is declared an incident by itself after its pause.
    /// Less severe ones (P4, `info`: by convention not paged) join incidents, and count
    /// towards `signals`, but never page alone, however long they fire.
    pub alone_from: Severity,
    /// The pause is this many times longer for a cluster of symptom alerts only
    /// (see `correlation.symptom_words`): their cause often shows up elsewhere.
    pub symptom_pause: f64,
}

impl Default for DeclareConfig {
    fn default() -> Self {
        Self {
            severity_labels: vec!["severity".into(), "priority".into(), "level".into()],
            severity_map: BTreeMap::new(),
            default_severity: Severity::P3,
            min_severity: Severity::P4,
            signals: 2,
            weights: [
                (Severity::P1, 1.0),
                (Severity::P2, 0.6),
                (Severity::P3, 0.3),
                (Severity::P4, 0.1),
            ]
            .into_iter()
            .collect(),
            threshold: 1.0,
            symptom_pause: 1.0,
            alone_from: Severity::P3,
            pause: [
                (Severity::P1, Dur::mins(2)),
                (Severity::P2, Dur::mins(5)),
                (Severity::P3, Dur::mins(10)),
                (Severity::P4, Dur::mins(30)),
            ]
            .into_iter()
            .collect(),
        }
    }
}

/// The severity a common word names (`critical`, `warning`, `P2`, `sev-1`, `严重`, `警告`…),
/// case-insensitive; `None` for any other word.
pub fn builtin_severity(word: &str) -> Option<Severity> {
    let w = word.trim().to_lowercase();
    Some(match w.as_str() {
        "critical" | "crit" | "page" | "emergency" | "emerg" | "disaster" | "fatal" | "alert"
        | "p1" | "sev1" | "sev-1" | "紧急" | "致命" | "灾难" => Severity::P1,
        // 严重 is Zabbix's "High" and the bot's own word for P2 (紧急/严重/一般/轻微).
        "error" | "err" | "high" | "major" | "p2" | "sev2" | "sev-2" | "严重" | "重要" | "高"
        | "错误" => Severity::P2,
        "warning" | "warn" | "medium" | "average" | "minor" | "p3" | "sev3" | "sev-3" | "警告"
        | "中" | "次要" | "一般" | "一般严重" => Severity::P3,
        "info" | "information" | "informational" | "low" | "notice" | "none" | "debug" | "p4"
        | "sev4" | "sev-4" | "提示" | "低" | "信息" | "轻微" => Severity::P4,
        _ => return Severity::parse(&w).ok(),
    })
}

impl DeclareConfig {
    /// The severity of an alert with `labels`.
    pub fn severity_of(&self, labels: &Labels) -> Severity {
        let Some(word) = self.severity_labels.iter().find_map(|k| labels.get(k)) else {
            return self.default_severity;
        };
        let w = word.trim().to_lowercase();
        if let Some(s) = self.severity_map.get(&w) {
            return *s;
        }
        builtin_severity(&w).unwrap_or(self.default_severity)
    }

    /// The weight of a signal of severity `sev`.
    pub fn weight_of(&self, sev: Severity) -> f64 {
        self.weights.get(&sev).copied().unwrap_or(0.0)
    }

    /// The pause of `sev` (the longest configured one when `sev` has none).
    pub fn pause_of(&self, sev: Severity) -> Dur {
        self.pause
            .get(&sev)
            .copied()
            .or_else(|| self.pause.values().max().copied())
            .unwrap_or(Dur::mins(10))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_severity_words_mean_what_the_bot_and_zabbix_call_them() {
        // The bot's own names (紧急/严重/一般/轻微) and Zabbix's Chinese levels
        // (灾难, 严重 = High, 一般严重 = Average, 警告, 信息).
        for (word, sev) in [
            ("紧急", Severity::P1),
            ("灾难", Severity::P1),
            ("严重", Severity::P2),
            ("一般", Severity::P3),
            ("一般严重", Severity::P3),
            ("警告", Severity::P3),
            ("轻微", Severity::P4),
            ("信息", Severity::P4),
        ] {
            assert_eq!(builtin_severity(word), Some(sev), "{word}");
        }
    }
}
