//! `warroom alerts replay`: runs a recorded Alertmanager webhook stream through the
//! production pipeline on simulated time and writes which incident each alert episode
//! ended up in.
//!
//! Input: one Alertmanager webhook (v4) body per line, in send order, each optionally
//! with a top-level `x_sentAt` (RFC 3339), the simulated send time (else the latest
//! `startsAt`/`endsAt` of the batch). Timers run at their exact simulated deadlines
//! between batches, and for two hours after the last one.
//!
//! Output: one line per alert episode, in order of first appearance:
//! `{"alert_key": "<fingerprint>@<startsAt as sent>", "group_id": "<cluster id>"|null}`,
//! `null` when the episode never became part of an incident (silenced, inhibited,
//! flapping, transient). Deterministic: the same input gives the same bytes.

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use warroom_core::alerts::{
    alertmanager_value, AlertKey, AlertStatus, Output, Pipeline, SuppressReason,
};
use warroom_core::catalog::{Catalog, Service};

use crate::alerts_config::AlertsConfig;

/// What a replay did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReplayStats {
    /// Webhook bodies read.
    pub bodies: usize,
    /// Lines that were not a valid body (skipped).
    pub bad_lines: usize,
    /// Alerts in all bodies, re-sends included.
    pub raw_alerts: usize,
    /// Distinct episodes (fingerprint + startsAt).
    pub episodes: usize,
    /// Distinct incidents (clusters) episodes were put in.
    pub incidents: usize,
    /// Episodes in no incident.
    pub unassigned: usize,
    /// Suppressions reported, by reason (silenced, inhibited, flapping, transient, below_min_severity).
    pub suppressed: Vec<(String, usize)>,
    /// Storm notices.
    pub storms: usize,
    /// Wall time of the replay, seconds.
    pub seconds: f64,
}

impl ReplayStats {
    /// Raw alerts per second of wall time.
    pub fn alerts_per_sec(&self) -> f64 {
        self.raw_alerts as f64 / self.seconds.max(1e-9)
    }
}

impl fmt::Display for ReplayStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ratio = if self.incidents == 0 {
            0.0
        } else {
            self.raw_alerts as f64 / self.incidents as f64
        };
        write!(
            f,
            "replayed {} bodies ({} bad lines): {} raw alerts, {} episodes -> {} incidents ({ratio:.1}x), {} episodes unassigned",
            self.bodies, self.bad_lines, self.raw_alerts, self.episodes, self.incidents, self.unassigned
        )?;
        let sup: Vec<String> = self
            .suppressed
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        if !sup.is_empty() {
            write!(f, "; suppressed: {}", sup.join(", "))?;
        }
        write!(
            f,
            "; {} storm notices; {:.3}s, {:.0} alerts/s",
            self.storms,
            self.seconds,
            self.alerts_per_sec()
        )
    }
}

/// The pipeline and catalog a config file describes (`[alerts]`, `[[services]]`,
/// `[general].timezone`); defaults without a file.
///
/// # Errors
/// Unreadable file, bad TOML, bad `[alerts]` keys, invalid catalog.
pub fn load_pipeline(config: Option<&Path>) -> anyhow::Result<Pipeline> {
    let Some(path) = config else {
        return Ok(Pipeline::new(
            AlertsConfig::default().pipeline_config("UTC"),
            Catalog::default(),
        )?);
    };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let doc: toml::Value =
        toml::from_str(&text).with_context(|| format!("{}: not valid TOML", path.display()))?;
    let alerts = match doc.get("alerts") {
        Some(t) => {
            AlertsConfig::from_toml(t.clone()).with_context(|| path.display().to_string())?
        }
        None => AlertsConfig::default(),
    };
    let tz = doc
        .get("general")
        .and_then(|g| g.get("timezone"))
        .and_then(toml::Value::as_str)
        .unwrap_or("UTC");
    let services: Vec<Service> = match doc.get("services") {
        Some(s) => serde_path_to_error::deserialize(s.clone()).map_err(|e| {
            anyhow::anyhow!("{}: services{}: {}", path.display(), e.path(), e.inner())
        })?,
        None => Vec::new(),
    };
    let catalog = Catalog::new(services).map_err(|errs| {
        let list: Vec<String> = errs.iter().map(ToString::to_string).collect();
        anyhow::anyhow!("{}: {}", path.display(), list.join("; "))
    })?;
    Ok(Pipeline::new(alerts.pipeline_config(tz), catalog)
        .with_context(|| path.display().to_string())?)
}

/// Where each episode went, from the pipeline's outputs.
#[derive(Default)]
struct Recorder {
    cluster: HashMap<AlertKey, String>,
    suppressed: HashMap<&'static str, usize>,
    storms: usize,
    trace: Option<BufWriter<File>>,
    trace_error: Option<std::io::Error>,
}

impl Recorder {
    fn record(&mut self, outs: Vec<Output>) {
        if let Some(w) = self.trace.as_mut() {
            for o in &outs {
                let written = serde_json::to_writer(&mut *w, o)
                    .map_err(std::io::Error::from)
                    .and_then(|()| w.write_all(b"\n"));
                if let Err(e) = written {
                    self.trace_error.get_or_insert(e);
                }
            }
        }
        for o in outs {
            match o {
                Output::Declare {
                    cluster, alerts, ..
                }
                | Output::Attach {
                    cluster, alerts, ..
                } => {
                    for a in alerts {
                        self.cluster.insert(a.key, cluster.clone());
                    }
                }
                Output::Suppressed { alert, reason } => {
                    if reason == SuppressReason::Transient {
                        self.cluster.remove(&alert.key);
                    }
                    let k = match reason {
                        SuppressReason::Silenced { .. } => "silenced",
                        SuppressReason::Inhibited { .. } => "inhibited",
                        SuppressReason::Flapping { .. } => "flapping",
                        SuppressReason::Transient => "transient",
                        SuppressReason::Chronic { .. } => "chronic",
                        SuppressReason::BelowMinSeverity => "below_min_severity",
                    };
                    *self.suppressed.entry(k).or_insert(0) += 1;
                }
                Output::StormNotice { .. } => self.storms += 1,
                _ => {}
            }
        }
    }
}

/// Runs timers due up to `until`, each at its own deadline.
fn run_timers(p: &mut Pipeline, until: DateTime<Utc>, rec: &mut Recorder) {
    while let Some(d) = p.next_deadline() {
        if d > until {
            break;
        }
        rec.record(p.tick(d));
    }
}

/// The simulated send time of a body: `x_sentAt`, else its latest alert time.
fn sent_at(body: &Value, alerts: &[warroom_core::alerts::Alert]) -> Option<DateTime<Utc>> {
    if let Some(t) = body
        .get("x_sentAt")
        .and_then(Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
    {
        return Some(t.with_timezone(&Utc));
    }
    alerts
        .iter()
        .map(|a| match (a.status, a.ends_at) {
            (AlertStatus::Resolved, Some(e)) => e.max(a.starts_at),
            _ => a.starts_at,
        })
        .max()
}

/// Replays `input` into `output` (see the module docs).
///
/// # Errors
/// Unreadable input, unwritable output, or a bad config file. Bad lines are skipped and
/// counted, not errors.
pub fn replay(input: &Path, output: &Path, config: Option<&Path>) -> anyhow::Result<ReplayStats> {
    replay_traced(input, output, config, None)
}

/// [`replay`], also writing every pipeline output as a JSON line to `trace` (to see
/// why alerts were joined, declared or suppressed).
///
/// # Errors
/// As [`replay`], and an unwritable trace file.
pub fn replay_traced(
    input: &Path,
    output: &Path,
    config: Option<&Path>,
    trace: Option<&Path>,
) -> anyhow::Result<ReplayStats> {
    let mut p = load_pipeline(config)?;
    let reader = BufReader::new(
        File::open(input).with_context(|| format!("cannot read {}", input.display()))?,
    );
    let started = Instant::now();
    let mut stats = ReplayStats::default();
    let mut rec = Recorder::default();
    if let Some(t) = trace {
        rec.trace = Some(BufWriter::new(
            File::create(t).with_context(|| format!("cannot write {}", t.display()))?,
        ));
    }
    // Episodes in order of first appearance, with the startsAt text as sent.
    let mut order: Vec<(AlertKey, String)> = Vec::new();
    let mut seen: HashMap<AlertKey, ()> = HashMap::new();
    let mut last: Option<DateTime<Utc>> = None;
    for (n, line) in reader.lines().enumerate() {
        let line =
            line.with_context(|| format!("{}: read error at line {}", input.display(), n + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let parsed = serde_json::from_str::<Value>(&line)
            .map_err(|e| e.to_string())
            .and_then(|v| match alertmanager_value(&v) {
                Ok(a) => Ok((v, a)),
                Err(e) => Err(e.to_string()),
            });
        let (body, alerts) = match parsed {
            Ok(x) => x,
            Err(e) => {
                if stats.bad_lines < 5 {
                    tracing::warn!("{}:{}: skipped: {e}", input.display(), n + 1);
                }
                stats.bad_lines += 1;
                continue;
            }
        };
        stats.bodies += 1;
        stats.raw_alerts += alerts.len();
        let raw_starts: Vec<Option<&str>> = body
            .get("alerts")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|x| x.get("startsAt").and_then(Value::as_str))
                    .collect()
            })
            .unwrap_or_default();
        for (i, a) in alerts.iter().enumerate() {
            let key = a.key();
            if seen.insert(key.clone(), ()).is_none() {
                let raw = raw_starts
                    .get(i)
                    .copied()
                    .flatten()
                    .map_or_else(|| key.to_string(), |s| format!("{}@{s}", a.fingerprint));
                order.push((key, raw));
            }
        }
        let Some(now) = sent_at(&body, &alerts).map(|t| last.map_or(t, |l| l.max(t))) else {
            continue;
        };
        last = Some(now);
        run_timers(&mut p, now, &mut rec);
        rec.record(p.ingest(alerts, now));
    }
    if let Some(l) = last {
        run_timers(&mut p, l + Duration::hours(2), &mut rec);
    }
    let out = File::create(output).with_context(|| format!("cannot write {}", output.display()))?;
    let mut w = BufWriter::new(out);
    let mut incidents = std::collections::HashSet::new();
    for (key, raw) in &order {
        let group = rec.cluster.get(key);
        match group {
            Some(g) => {
                incidents.insert(g.clone());
            }
            None => stats.unassigned += 1,
        }
        let line = serde_json::json!({ "alert_key": raw, "group_id": group });
        writeln!(w, "{line}")?;
    }
    w.flush()
        .with_context(|| format!("cannot write {}", output.display()))?;
    if let Some(t) = rec.trace.as_mut() {
        if let Err(e) = t.flush() {
            rec.trace_error.get_or_insert(e);
        }
    }
    if let (Some(e), Some(t)) = (rec.trace_error.take(), trace) {
        return Err(anyhow::Error::from(e).context(format!("cannot write {}", t.display())));
    }
    stats.episodes = order.len();
    stats.incidents = incidents.len();
    let mut sup: Vec<(String, usize)> = rec
        .suppressed
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    sup.sort();
    stats.suppressed = sup;
    stats.storms = rec.storms;
    stats.seconds = started.elapsed().as_secs_f64();
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(sent: &str, alerts: &[(&str, &str, &str, &str)]) -> String {
        let list: Vec<Value> = alerts
            .iter()
            .map(|(name, service, status, start)| {
                serde_json::json!({
                    "status": status,
                    "labels": {"alertname": name, "service": service, "severity": "critical"},
                    "annotations": {},
                    "startsAt": start,
                    "endsAt": if *status == "resolved" { sent } else { "0001-01-01T00:00:00Z" },
                })
            })
            .collect();
        serde_json::json!({"version": "4", "status": "firing", "alerts": list, "x_sentAt": sent})
            .to_string()
    }

    #[test]
    fn replay_is_deterministic_and_writes_one_line_per_episode() {
        let dir = std::env::temp_dir().join(format!("warroom-replay-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let input = dir.join("stream.jsonl");
        let cfg = dir.join("w.toml");
        std::fs::write(
            &cfg,
            "[general]\ntimezone = \"Asia/Shanghai\"\n[[services]]\nname = \"db\"\n[[services]]\nname = \"risk\"\ndepends_on = [\"db\"]\n[alerts.declare]\nsignals = 2\n",
        )
        .unwrap();
        let lines = [
            body(
                "2026-03-02T01:00:30Z",
                &[("DBDown", "db", "firing", "2026-03-02T09:00:00+08:00")],
            ),
            "not json".to_string(),
            body(
                "2026-03-02T01:01:30Z",
                &[
                    ("Errors", "risk", "firing", "2026-03-02T01:01:00Z"),
                    ("DBDown", "db", "firing", "2026-03-02T09:00:00+08:00"),
                ],
            ),
            body(
                "2026-03-02T01:02:00Z",
                &[("Disk", "reporting", "firing", "2026-03-02T01:01:50Z")],
            ),
            body(
                "2026-03-02T01:03:00Z",
                &[("Disk", "reporting", "resolved", "2026-03-02T01:01:50Z")],
            ),
            body(
                "2026-03-02T01:20:00Z",
                &[("DBDown", "db", "resolved", "2026-03-02T09:00:00+08:00")],
            ),
        ];
        std::fs::write(&input, lines.join("\n")).unwrap();
        let (o1, o2) = (dir.join("a.jsonl"), dir.join("b.jsonl"));
        let s1 = replay(&input, &o1, Some(&cfg)).unwrap();
        let s2 = replay(&input, &o2, Some(&cfg)).unwrap();
        let (t1, t2) = (
            std::fs::read_to_string(&o1).unwrap(),
            std::fs::read_to_string(&o2).unwrap(),
        );
        assert_eq!(t1, t2);
        assert_eq!(
            (
                s1.bodies,
                s1.bad_lines,
                s1.raw_alerts,
                s1.episodes,
                s1.incidents
            ),
            (5, 1, 6, 3, 1),
            "{s1}\n{t1}"
        );
        assert_eq!(s1.episodes, s2.episodes);
        let rows: Vec<Value> = t1
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert!(
            rows[0]["alert_key"]
                .as_str()
                .unwrap()
                .ends_with("@2026-03-02T09:00:00+08:00"),
            "the startsAt text as sent"
        );
        assert_eq!(
            rows[0]["group_id"], rows[1]["group_id"],
            "risk joins the db incident"
        );
        assert!(
            rows[2]["group_id"].is_null(),
            "a two-second blip is transient"
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn a_bad_config_file_is_an_error_naming_the_key() {
        let dir = std::env::temp_dir().join(format!("warroom-replay-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cfg = dir.join("w.toml");
        std::fs::write(&cfg, "[alerts.correlation]\nwindow = \"later\"\n").unwrap();
        let e = format!("{:#}", load_pipeline(Some(&cfg)).unwrap_err());
        assert!(e.contains("alerts.correlation.window"), "{e}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
