//! Sources → [`Alert`]: Alertmanager webhook v4, Grafana unified alerting webhook,
//! and generic trigger/acknowledge/resolve events (PagerDuty Events v2 style).
//!
//! Parsers never panic: every problem is an [`AlertParseError`] naming the field.

use chrono::{DateTime, Datelike, Utc};
use serde_json::{Map, Value};

use super::model::{fingerprint, Alert, AlertSource, AlertStatus, Labels};

/// Why a body was not accepted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AlertParseError {
    /// Not JSON at all.
    #[error("not JSON: {0}")]
    NotJson(String),
    /// JSON, but a field is missing or wrong.
    #[error("{field}: {reason}")]
    Invalid {
        /// Path of the field (`alerts[2].startsAt`).
        field: String,
        /// What is wrong with it.
        reason: String,
    },
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> AlertParseError {
    AlertParseError::Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}

/// Longest label or annotation value kept, in bytes (longer ones are cut at a char boundary).
pub(super) const MAX_VALUE: usize = 4096;
/// Most labels (or annotations) on one alert.
pub(super) const MAX_PAIRS: usize = 256;

fn parse_json(body: &[u8]) -> Result<Value, AlertParseError> {
    serde_json::from_slice(body).map_err(|e| AlertParseError::NotJson(e.to_string()))
}

fn object<'a>(v: &'a Value, field: &str) -> Result<&'a Map<String, Value>, AlertParseError> {
    v.as_object()
        .ok_or_else(|| invalid(field, "expected an object"))
}

pub(super) fn cut(s: &str) -> String {
    if s.len() <= MAX_VALUE {
        return s.to_string();
    }
    let mut end = MAX_VALUE;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

/// A string map; numbers and booleans are accepted as their text.
fn string_map(v: Option<&Value>, field: &str, required: bool) -> Result<Labels, AlertParseError> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return if required {
            Err(invalid(field, "missing"))
        } else {
            Ok(Labels::new())
        };
    };
    let m = object(v, field)?;
    if m.len() > MAX_PAIRS {
        return Err(invalid(field, format!("more than {MAX_PAIRS} entries")));
    }
    let mut out = Labels::new();
    for (k, v) in m {
        let s = match v {
            Value::String(s) => cut(s),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Null => continue,
            _ => return Err(invalid(format!("{field}.{k}"), "expected a string")),
        };
        if k.is_empty() {
            return Err(invalid(field, "empty label name"));
        }
        out.insert(k.clone(), s);
    }
    Ok(out)
}

fn opt_str<'a>(
    m: &'a Map<String, Value>,
    key: &str,
    field: &str,
) -> Result<Option<&'a str>, AlertParseError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(invalid(format!("{field}.{key}"), "expected a string")),
    }
}

/// RFC 3339; Go's zero time (`0001-01-01T00:00:00Z`) and empty strings read as none.
fn time(s: Option<&str>, field: &str) -> Result<Option<DateTime<Utc>>, AlertParseError> {
    let Some(s) = s.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let t = DateTime::parse_from_rfc3339(s)
        .map_err(|e| {
            invalid(
                field,
                format!(
                    "`{}` is not an RFC 3339 time ({e})",
                    s.chars().take(40).collect::<String>()
                ),
            )
        })?
        .with_timezone(&Utc);
    Ok(if t.year() <= 1 { None } else { Some(t) })
}

fn status(s: Option<&str>, field: &str) -> Result<AlertStatus, AlertParseError> {
    match s.map(|s| s.trim().to_ascii_lowercase()).as_deref() {
        None | Some("firing") | Some("alerting") => Ok(AlertStatus::Firing),
        Some("resolved") | Some("ok") | Some("normal") => Ok(AlertStatus::Resolved),
        Some(other) => Err(invalid(
            field,
            format!(
                "unknown status `{}` (firing or resolved)",
                other.chars().take(20).collect::<String>()
            ),
        )),
    }
}

/// The text fields of one webhook alert, as sent.
pub(super) struct Raw<'a> {
    pub status: Option<&'a str>,
    pub starts_at: Option<&'a str>,
    pub ends_at: Option<&'a str>,
    pub fingerprint: Option<&'a str>,
}

/// Alert `i` of a webhook body from its maps and text fields (both parsers).
pub(super) fn assemble(
    i: usize,
    labels: Labels,
    annotations: Labels,
    raw: Raw<'_>,
    source: AlertSource,
) -> Result<Alert, AlertParseError> {
    let f = |k: &str| format!("alerts[{i}].{k}");
    let st = status(raw.status, &f("status"))?;
    let starts_at =
        time(raw.starts_at, &f("startsAt"))?.ok_or_else(|| invalid(f("startsAt"), "missing"))?;
    let ends_at = time(raw.ends_at, &f("endsAt"))?.filter(|e| *e >= starts_at);
    let fp = match raw.fingerprint.map(str::trim) {
        Some(s) if !s.is_empty() => s.chars().take(128).collect(),
        _ => fingerprint(&labels),
    };
    let received_at = match (st, ends_at) {
        (AlertStatus::Resolved, Some(e)) => e,
        _ => starts_at,
    };
    Ok(Alert {
        fingerprint: fp,
        labels,
        annotations,
        status: st,
        starts_at,
        ends_at,
        source,
        received_at,
    })
}

/// One alert object of a list at `f`: the object, its labels (at least one) and its
/// annotations.
fn alert_object<'a>(
    a: &'a Value,
    f: &str,
) -> Result<(&'a Map<String, Value>, Labels, Labels), AlertParseError> {
    let m = object(a, f)?;
    let labels = string_map(m.get("labels"), &format!("{f}.labels"), true)?;
    if labels.is_empty() {
        return Err(invalid(format!("{f}.labels"), "no labels"));
    }
    let annotations = string_map(m.get("annotations"), &format!("{f}.annotations"), false)?;
    Ok((m, labels, annotations))
}

/// The tree-based parser: reads any body and names the field of the first problem.
fn webhook_alerts(v: &Value, source: AlertSource) -> Result<Vec<Alert>, AlertParseError> {
    let body = object(v, "body")?;
    let alerts = match body.get("alerts") {
        Some(Value::Array(a)) => a,
        Some(_) => return Err(invalid("alerts", "expected a list")),
        None => return Err(invalid("alerts", "missing")),
    };
    let mut out = Vec::with_capacity(alerts.len());
    for (i, a) in alerts.iter().enumerate() {
        let f = format!("alerts[{i}]");
        let (m, labels, annotations) = alert_object(a, &f)?;
        let raw = Raw {
            status: opt_str(m, "status", &f)?,
            starts_at: opt_str(m, "startsAt", &f)?,
            ends_at: opt_str(m, "endsAt", &f)?,
            fingerprint: opt_str(m, "fingerprint", &f)?,
        };
        out.push(assemble(i, labels, annotations, raw, source)?);
    }
    Ok(out)
}

/// Parses an Alertmanager webhook (version 4) body.
///
/// `received_at` of each alert is its own latest time; [`super::Pipeline::ingest`]
/// stamps the real arrival time.
///
/// # Errors
/// [`AlertParseError`] when the body is not JSON, has another `version`, or an alert
/// lacks labels or a readable `startsAt`.
pub fn parse_alertmanager(body: &[u8]) -> Result<Vec<Alert>, AlertParseError> {
    match super::wire::webhook(body, AlertSource::Alertmanager, true) {
        Some(alerts) => Ok(alerts),
        None => alertmanager_value(&parse_json(body)?),
    }
}

/// [`parse_alertmanager`] for a body already parsed as JSON (replays read extra fields).
///
/// # Errors
/// As [`parse_alertmanager`].
pub fn alertmanager_value(v: &Value) -> Result<Vec<Alert>, AlertParseError> {
    if let Some(ver) = v.get("version") {
        match ver.as_str() {
            Some("4") => {}
            Some(other) => {
                return Err(invalid(
                    "version",
                    format!(
                        "unsupported version `{}` (expected 4)",
                        other.chars().take(10).collect::<String>()
                    ),
                ))
            }
            None => return Err(invalid("version", "expected a string")),
        }
    }
    webhook_alerts(v, AlertSource::Alertmanager)
}

/// Parses a Grafana unified alerting webhook body (the Alertmanager alert list plus
/// `title`, `state`, `orgId`, `values`, which are ignored).
///
/// # Errors
/// As [`parse_alertmanager`], without the version check.
pub fn parse_grafana(body: &[u8]) -> Result<Vec<Alert>, AlertParseError> {
    match super::wire::webhook(body, AlertSource::Grafana, false) {
        Some(alerts) => Ok(alerts),
        None => webhook_alerts(&parse_json(body)?, AlertSource::Grafana),
    }
}

/// Parses what Prometheus sends to an Alertmanager (`POST /api/v2/alerts`): a list of
/// `{"labels", "annotations", "startsAt", "endsAt", "generatorURL"}`. There is no
/// status: an alert whose `endsAt` is at or before `now` is resolved, a later `endsAt`
/// is when a firing alert lapses unless re-sent. A missing `startsAt` is `now`.
///
/// # Errors
/// [`AlertParseError`] when the body is not a JSON list, or an alert is not an object,
/// lacks labels or has an unreadable time.
pub fn parse_prometheus(body: &[u8], now: DateTime<Utc>) -> Result<Vec<Alert>, AlertParseError> {
    match super::wire::prometheus(body, now) {
        Some(alerts) => Ok(alerts),
        None => prometheus_value(&parse_json(body)?, now),
    }
}

/// [`parse_prometheus`] for a body already parsed as JSON.
///
/// # Errors
/// As [`parse_prometheus`].
pub fn prometheus_value(v: &Value, now: DateTime<Utc>) -> Result<Vec<Alert>, AlertParseError> {
    let items = v
        .as_array()
        .ok_or_else(|| invalid("body", "expected a list of alerts"))?;
    let mut out = Vec::with_capacity(items.len());
    for (i, a) in items.iter().enumerate() {
        let f = format!("[{i}]");
        let (m, labels, annotations) = alert_object(a, &f)?;
        let starts = opt_str(m, "startsAt", &f)?;
        let ends = opt_str(m, "endsAt", &f)?;
        out.push(prometheus_alert(i, labels, annotations, starts, ends, now)?);
    }
    Ok(out)
}

/// Alert `i` of a Prometheus push from its maps and times (both parsers).
pub(super) fn prometheus_alert(
    i: usize,
    labels: Labels,
    annotations: Labels,
    starts: Option<&str>,
    ends: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Alert, AlertParseError> {
    let starts_at = time(starts, &format!("[{i}].startsAt"))?.unwrap_or(now);
    let ends_at = time(ends, &format!("[{i}].endsAt"))?.filter(|e| *e >= starts_at);
    let status = if ends_at.is_some_and(|e| e <= now) {
        AlertStatus::Resolved
    } else {
        AlertStatus::Firing
    };
    Ok(Alert {
        fingerprint: fingerprint(&labels),
        labels,
        annotations,
        status,
        starts_at,
        ends_at,
        source: AlertSource::Prometheus,
        received_at: match status {
            AlertStatus::Resolved => ends_at.unwrap_or(starts_at),
            AlertStatus::Firing => starts_at,
        },
    })
}

/// Parses one generic event, or a list of them:
/// `{"dedup_key","action":"trigger|acknowledge|resolve","summary","severity","source",
/// "service","labels":{..},"timestamp"}`. PagerDuty Events v2 bodies
/// (`event_action`, `payload.{summary,severity,source,component,group,class,timestamp}`)
/// are read too.
///
/// The fingerprint is the `dedup_key`, else the labels' fingerprint. The start is
/// `timestamp`, else `now`; `acknowledge` keeps the alert firing and is marked in the
/// `acknowledged` annotation.
///
/// # Errors
/// [`AlertParseError`] for a missing or unknown action, a resolve without a
/// `dedup_key`, a trigger without a summary, or an unreadable timestamp.
pub fn parse_event(body: &[u8], now: DateTime<Utc>) -> Result<Vec<Alert>, AlertParseError> {
    parse_event_with(body, now, &|_| false)
}

/// As [`parse_event`], also accepting as `payload.severity` the words `custom` knows
/// (`[alerts.declare] severity_map`).
///
/// # Errors
/// As [`parse_event`].
pub fn parse_event_with(
    body: &[u8],
    now: DateTime<Utc>,
    custom: &dyn Fn(&str) -> bool,
) -> Result<Vec<Alert>, AlertParseError> {
    let v = parse_json(body)?;
    match &v {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, e)| event(e, &format!("[{i}]"), now, custom))
            .collect(),
        _ => Ok(vec![event(&v, "", now, custom)?]),
    }
}

fn event(
    v: &Value,
    prefix: &str,
    now: DateTime<Utc>,
    custom: &dyn Fn(&str) -> bool,
) -> Result<Alert, AlertParseError> {
    let f = |k: &str| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        }
    };
    let top = object(v, if prefix.is_empty() { "body" } else { prefix })?;
    let payload = match top.get("payload") {
        Some(p @ Value::Object(_)) => Some(object(p, &f("payload"))?),
        _ => None,
    };
    // A field from the top level, else from `payload`.
    let get = |k: &str| -> Result<Option<&str>, AlertParseError> {
        match opt_str(top, k, prefix)? {
            Some(s) => Ok(Some(s)),
            None => match payload {
                Some(p) => opt_str(p, k, &f("payload")),
                None => Ok(None),
            },
        }
    };
    let action = get("action")?
        .or(get("event_action")?)
        .ok_or_else(|| invalid(f("action"), "missing (trigger, acknowledge or resolve)"))?;
    let st = match action.trim().to_ascii_lowercase().as_str() {
        "trigger" | "firing" => AlertStatus::Firing,
        "acknowledge" | "ack" => AlertStatus::Firing,
        "resolve" | "resolved" => AlertStatus::Resolved,
        other => {
            return Err(invalid(
                f("action"),
                format!(
                    "unknown action `{}`",
                    other.chars().take(20).collect::<String>()
                ),
            ))
        }
    };
    let acknowledged = action.trim().to_ascii_lowercase().starts_with("ack");
    let mut labels = string_map(top.get("labels"), &f("labels"), false)?;
    if let Some(p) = payload {
        if let Some(cd) = p.get("custom_details").filter(|c| c.is_object()) {
            for (k, v) in string_map(Some(cd), &f("payload.custom_details"), false)? {
                labels.entry(k).or_insert(v);
            }
        }
    }
    let summary = get("summary")?.map(cut);
    if let Some(sev) = get("severity")? {
        // As PagerDuty's Events API, an unknown severity is an error, not a guess.
        if super::config::builtin_severity(sev).is_none() && !custom(sev) {
            return Err(invalid(
                f("payload.severity"),
                format!(
                    "unknown severity `{}` (critical, error, warning or info; P1 to P4; or a word of [alerts.declare] severity_map)",
                    sev.chars().take(20).collect::<String>()
                ),
            ));
        }
        labels.insert("severity".into(), cut(sev.trim()));
    }
    if let Some(svc) = get("service")?.or(get("component")?) {
        labels
            .entry("service".into())
            .or_insert_with(|| cut(svc.trim()));
    }
    if let Some(src) = get("source")? {
        labels
            .entry("instance".into())
            .or_insert_with(|| cut(src.trim()));
    }
    if let Some(class) = get("class")? {
        labels
            .entry("alertname".into())
            .or_insert_with(|| cut(class.trim()));
    }
    let dedup_key = get("dedup_key")?.map(str::trim).filter(|s| !s.is_empty());
    if st == AlertStatus::Firing
        && !acknowledged
        && summary.is_none()
        && !labels.contains_key("alertname")
    {
        return Err(invalid(f("summary"), "missing (a trigger needs a summary)"));
    }
    if let Some(s) = &summary {
        labels
            .entry("alertname".into())
            .or_insert_with(|| s.chars().take(120).collect());
    }
    let fp = match dedup_key {
        Some(k) => k.chars().take(128).collect(),
        None if st == AlertStatus::Resolved || acknowledged => {
            return Err(invalid(
                f("dedup_key"),
                "missing (needed to resolve or acknowledge)",
            ))
        }
        None => fingerprint(&labels),
    };
    if labels.is_empty() {
        labels.insert("dedup_key".into(), fp.clone());
    }
    let at = time(get("timestamp")?, &f("timestamp"))?.unwrap_or(now);
    let mut annotations = Labels::new();
    if let Some(s) = summary {
        annotations.insert("summary".into(), s);
    }
    if acknowledged {
        annotations.insert("acknowledged".into(), "true".into());
    }
    let ends_at = (st == AlertStatus::Resolved).then_some(at);
    Ok(Alert {
        fingerprint: fp,
        labels,
        annotations,
        status: st,
        starts_at: at,
        ends_at,
        source: AlertSource::Event,
        received_at: at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-03-02T01:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    const AM: &str = r#"{"version":"4","status":"firing","receiver":"warroom","groupLabels":{"alertname":"HighLatency"},
      "commonLabels":{},"alerts":[
        {"status":"firing","labels":{"alertname":"HighLatency","service":"payments","severity":"critical"},
         "annotations":{"summary":"p99 latency 2.3s"},"startsAt":"2026-03-02T09:00:00.123+08:00",
         "endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prom/graph","fingerprint":"abc123"},
        {"status":"resolved","labels":{"alertname":"DiskFull","instance":"db-01:9100"},
         "annotations":{},"startsAt":"2026-03-02T00:50:00Z","endsAt":"2026-03-02T00:58:00Z"}]}"#;

    #[test]
    fn alertmanager_bodies_normalize_with_sender_or_computed_fingerprints() {
        let a = parse_alertmanager(AM.as_bytes()).unwrap();
        assert_eq!(a.len(), 2);
        assert_eq!(a[0].fingerprint, "abc123");
        assert_eq!(a[0].status, AlertStatus::Firing);
        assert_eq!(a[0].ends_at, None, "Go's zero time means no end");
        assert_eq!(a[0].starts_at.to_rfc3339(), "2026-03-02T01:00:00.123+00:00");
        assert_eq!(a[0].title(), "p99 latency 2.3s");
        assert_eq!(a[1].fingerprint, fingerprint(&a[1].labels));
        assert_eq!(a[1].status, AlertStatus::Resolved);
        assert!(a[1].ends_at.is_some());
    }

    #[test]
    fn malformed_alertmanager_bodies_are_errors_naming_the_field() {
        assert!(matches!(
            parse_alertmanager(b"{nope"),
            Err(AlertParseError::NotJson(_))
        ));
        let e = parse_alertmanager(br#"{"version":"3","alerts":[]}"#).unwrap_err();
        assert!(
            matches!(&e, AlertParseError::Invalid { field, .. } if field == "version"),
            "{e}"
        );
        let e = parse_alertmanager(br#"{"version":"4"}"#).unwrap_err();
        assert_eq!(e.to_string(), "alerts: missing");
        let e = parse_alertmanager(br#"{"alerts":[{"labels":{"a":"b"},"startsAt":"yesterday"}]}"#)
            .unwrap_err();
        assert!(
            matches!(&e, AlertParseError::Invalid { field, .. } if field == "alerts[0].startsAt"),
            "{e}"
        );
        let e =
            parse_alertmanager(br#"{"alerts":[{"labels":{},"startsAt":"2026-03-02T00:50:00Z"}]}"#)
                .unwrap_err();
        assert_eq!(e.to_string(), "alerts[0].labels: no labels");
        let e = parse_alertmanager(
            br#"{"alerts":[{"labels":{"a":["x"]},"startsAt":"2026-03-02T00:50:00Z"}]}"#,
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "alerts[0].labels.a: expected a string");
        let e = parse_alertmanager(br#"{"alerts":[{"status":"exploded","labels":{"a":"b"},"startsAt":"2026-03-02T00:50:00Z"}]}"#).unwrap_err();
        assert!(e.to_string().contains("unknown status"));
        assert!(parse_alertmanager(b"[1,2]").is_err());
    }

    #[test]
    fn grafana_bodies_normalize_and_ignore_their_extra_fields() {
        let body = r#"{"receiver":"wr","status":"firing","orgId":1,"title":"[FIRING:1] CPU","state":"alerting","version":"1",
          "alerts":[{"status":"firing","labels":{"alertname":"CPU","grafana_folder":"infra","instance":"h1"},
          "annotations":{"summary":"CPU 97%"},"startsAt":"2026-03-02T00:59:00Z","endsAt":"0001-01-01T00:00:00Z",
          "fingerprint":"f00d","values":{"A":97.2},"valueString":"[ var='A' value=97.2 ]"}]}"#;
        let a = parse_grafana(body.as_bytes()).unwrap();
        assert_eq!(
            (a[0].fingerprint.as_str(), a[0].source, a[0].name()),
            ("f00d", AlertSource::Grafana, "CPU")
        );
        assert!(matches!(
            parse_grafana(br#"{"title":"x"}"#),
            Err(AlertParseError::Invalid { .. })
        ));
        assert!(parse_grafana(br#"{"alerts":[{"labels":{"a":"b"}}]}"#)
            .unwrap_err()
            .to_string()
            .contains("startsAt: missing"));
    }

    #[test]
    fn generic_events_trigger_acknowledge_and_resolve_by_dedup_key() {
        let t = parse_event(
            br#"{"dedup_key":"k1","action":"trigger","summary":"Order router rejects","severity":"critical",
                 "source":"or-01","service":"order-router","labels":{"env":"prod"}}"#,
            now(),
        )
        .unwrap();
        assert_eq!(t[0].fingerprint, "k1");
        assert_eq!(t[0].labels["service"], "order-router");
        assert_eq!(t[0].labels["instance"], "or-01");
        assert_eq!(t[0].starts_at, now());
        let r = parse_event(br#"{"dedup_key":"k1","action":"resolve"}"#, now()).unwrap();
        assert_eq!(
            (r[0].status, r[0].fingerprint.as_str()),
            (AlertStatus::Resolved, "k1")
        );
        let pd = parse_event(
            br#"{"routing_key":"x","event_action":"trigger","payload":{"summary":"Disk 95%","severity":"warning","source":"h9","timestamp":"2026-03-02T00:40:00Z"}}"#,
            now(),
        )
        .unwrap();
        assert_eq!(pd[0].labels["severity"], "warning");
        assert!(pd[0].starts_at < now());
    }

    #[test]
    fn malformed_generic_events_are_errors_with_a_reason() {
        assert_eq!(
            parse_event(br#"{"summary":"x"}"#, now())
                .unwrap_err()
                .to_string(),
            "action: missing (trigger, acknowledge or resolve)"
        );
        assert!(parse_event(br#"{"action":"explode","summary":"x"}"#, now())
            .unwrap_err()
            .to_string()
            .contains("unknown action"));
        assert!(parse_event(br#"{"action":"resolve"}"#, now())
            .unwrap_err()
            .to_string()
            .contains("dedup_key"));
        assert!(parse_event(br#"{"action":"trigger"}"#, now())
            .unwrap_err()
            .to_string()
            .contains("summary"));
        assert!(parse_event(
            br#"{"action":"trigger","summary":"x","timestamp":"noon"}"#,
            now()
        )
        .is_err());
        assert!(parse_event(b"\xff\xfe", now()).is_err());
        assert_eq!(
            parse_event(
                br#"{"event_action":"trigger","payload":{"summary":"x","severity":"bogus"}}"#,
                now()
            )
            .unwrap_err()
            .to_string(),
            "payload.severity: unknown severity `bogus` (critical, error, warning or info; P1 to P4; or a word of [alerts.declare] severity_map)"
        );
        for known in ["critical", "Warning", "P2", "严重"] {
            let body = format!(
                r#"{{"event_action":"trigger","payload":{{"summary":"x","severity":"{known}"}}}}"#
            );
            assert!(parse_event(body.as_bytes(), now()).is_ok(), "{known}");
        }
        // A word the deployment's severity_map adds is known too.
        let body = br#"{"event_action":"trigger","payload":{"summary":"x","severity":"Sev-Zero"}}"#;
        assert!(parse_event(body, now()).is_err());
        let alerts = parse_event_with(body, now(), &|w| w.trim().eq_ignore_ascii_case("sev-zero"))
            .expect("a custom word");
        assert_eq!(
            alerts[0].labels.get("severity").map(String::as_str),
            Some("Sev-Zero")
        );
    }

    #[test]
    fn prometheus_pushes_resolve_by_their_end_time_and_bad_ones_name_the_field() {
        let body = r#"[
          {"labels":{"alertname":"OrderGatewayDown","service":"order-gw","severity":"critical"},
           "annotations":{"summary":"订单网关不可用"},"startsAt":"2026-03-02T00:55:00Z",
           "endsAt":"2026-03-02T01:04:00Z","generatorURL":"http://prom:9090/graph"},
          {"labels":{"alertname":"DiskFull","instance":"db-01:9100"},
           "startsAt":"2026-03-02T00:40:00Z","endsAt":"2026-03-02T00:59:00Z"},
          {"labels":{"alertname":"NoStart"}}]"#;
        let a = parse_prometheus(body.as_bytes(), now()).unwrap();
        assert_eq!(a.len(), 3);
        assert_eq!(
            a[0].status,
            AlertStatus::Firing,
            "endsAt after now: still firing"
        );
        assert_eq!(a[0].source, AlertSource::Prometheus);
        assert_eq!(a[0].fingerprint, fingerprint(&a[0].labels));
        assert_eq!(a[0].title(), "订单网关不可用");
        assert_eq!(
            a[1].status,
            AlertStatus::Resolved,
            "endsAt passed: resolved"
        );
        assert_eq!(
            a[1].ends_at.map(|e| e.to_rfc3339()).as_deref(),
            Some("2026-03-02T00:59:00+00:00")
        );
        assert_eq!(a[2].starts_at, now(), "no startsAt: now");
        for (body, want) in [
            (r#"{"alerts":[]}"#, "body: expected a list of alerts"),
            (r#"[{"annotations":{}}]"#, "[0].labels: missing"),
            (r#"[{"labels":{}}]"#, "[0].labels: no labels"),
            (
                r#"[{"labels":{"a":"b"},"endsAt":"soon"}]"#,
                "[0].endsAt: `soon` is not an RFC 3339 time",
            ),
        ] {
            let e = parse_prometheus(body.as_bytes(), now())
                .unwrap_err()
                .to_string();
            assert!(e.starts_with(want), "{body}: {e}");
        }
    }

    /// The tree parser alone, as a body that the typed path refuses gets it.
    fn tree(body: &[u8], source: AlertSource) -> Result<Vec<Alert>, AlertParseError> {
        let v = parse_json(body)?;
        match source {
            AlertSource::Alertmanager => alertmanager_value(&v),
            _ => webhook_alerts(&v, source),
        }
    }

    fn same_as_tree(body: &str) {
        let b = body.as_bytes();
        assert_eq!(
            parse_prometheus(b, now()),
            parse_json(b).and_then(|v| prometheus_value(&v, now())),
            "prometheus: {body}"
        );
        assert_eq!(
            parse_alertmanager(b),
            tree(b, AlertSource::Alertmanager),
            "alertmanager: {body}"
        );
        assert_eq!(
            parse_grafana(b),
            tree(b, AlertSource::Grafana),
            "grafana: {body}"
        );
    }

    #[test]
    fn the_typed_path_reads_ordinary_bodies_and_agrees_with_the_tree_parser() {
        assert!(
            super::super::wire::webhook(AM.as_bytes(), AlertSource::Alertmanager, true).is_some(),
            "an ordinary body takes the typed path"
        );
        assert!(
            super::super::wire::prometheus(
                br#"[{"labels":{"alertname":"A"},"annotations":{"summary":"s"},"startsAt":"2026-03-02T00:00:00Z","endsAt":"2026-03-02T01:04:00Z","generatorURL":"http://p"}]"#,
                now()
            )
            .is_some(),
            "an ordinary Prometheus push takes the typed path"
        );
        let long = "長".repeat(2000);
        for body in [
            AM.to_string(),
            // Values the typed path leaves to the tree: numbers, booleans, escapes, nulls.
            r#"{"alerts":[{"labels":{"alertname":"A","port":8080,"up":true},"startsAt":"2026-03-02T00:00:00Z"}]}"#.into(),
            r#"{"alerts":[{"labels":{"alertname":"A\n\u00e9","x":null,"x":"1"},"startsAt":"2026-03-02T00:00:00Z"}]}"#.into(),
            r#"{"alerts":[{"labels":{"alertname":"A","x":"1","x":null},"startsAt":"2026-03-02T00:00:00Z"}]}"#.into(),
            r#"{"alerts":[{"labels":{"alertname":"A","":null},"startsAt":"2026-03-02T00:00:00Z"}]}"#.into(),
            r#"{"alerts":[{"labels":{"alertname":"A","":"x"},"startsAt":"2026-03-02T00:00:00Z"}]}"#.into(),
            r#"{"alerts":[{"labels":{"alertname":"A"},"startsAt":"2026-03-02T00:00:00\u005a"}]}"#.into(),
            r#"{"alerts":[{"labels":{"alertname":"A"},"status":null,"endsAt":null,"fingerprint":"  ","startsAt":"2026-03-02T00:00:00Z"}]}"#.into(),
            r#"{"alerts":[{"labels":{"alertname":"A"},"status":"bogus","startsAt":"2026-03-02T00:00:00Z"}]}"#.into(),
            r#"{"alerts":[{"labels":{"alertname":"A"},"status":"resolved","startsAt":"2026-03-02T00:00:00Z","endsAt":"2026-03-01T00:00:00Z"}]}"#.into(),
            r#"{"alerts":[{"labels":{"alertname":"A"},"labels":{"alertname":"B"},"startsAt":"2026-03-02T00:00:00Z"}]}"#.into(),
            r#"{"alerts":[{"labels":{"alertname":"A"},"startsAt":"2026-03-02T00:00:00Z","startsAt":"2026-03-03T00:00:00Z"}]}"#.into(),
            r#"{"alerts":[{"labels":{},"startsAt":"2026-03-02T00:00:00Z"}]}"#.into(),
            r#"{"alerts":[{"labels":null,"startsAt":"2026-03-02T00:00:00Z"}]}"#.into(),
            r#"{"alerts":[{"startsAt":"2026-03-02T00:00:00Z"}]}"#.into(),
            r#"{"alerts":[{"labels":{"alertname":"A"}}]}"#.into(),
            r#"{"alerts":[["firing",{"alertname":"A"}]]}"#.into(),
            r#"["4",[]]"#.into(),
            r#"{"version":null,"alerts":[]}"#.into(),
            r#"{"version":"3","alerts":[]}"#.into(),
            r#"{"version":4,"alerts":[]}"#.into(),
            r#"{"alerts":null}"#.into(),
            r#"{"alerts":[]} x"#.into(),
            // Prometheus pushes: a list, resolved by a passed endsAt.
            r#"[{"labels":{"alertname":"A"},"startsAt":"2026-03-02T00:00:00Z","endsAt":"2026-03-02T00:30:00Z"}]"#.into(),
            r#"[{"labels":{"alertname":"A"},"endsAt":"2026-03-02T05:00:00Z","status":5}]"#.into(),
            r#"[{"labels":{"alertname":"A"},"endsAt":"2026-03-02T05:00:00Z","generatorURL":"http://p"},{"labels":{}}]"#.into(),
            r#"[{"labels":{"alertname":"A","alertname":"B"},"startsAt":null}]"#.into(),
            r#"[[{"alertname":"A"}]]"#.into(),
            r#"{"alerts":[{"labels":{"alertname":"A"},"annotations":{"d":{"deep":1}},"startsAt":"2026-03-02T00:00:00Z"}]}"#.into(),
            format!(r#"{{"alerts":[{{"labels":{{"alertname":"A"}},"annotations":{{"d":"{long}"}},"startsAt":"2026-03-02T00:00:00Z"}}]}}"#),
            format!(
                r#"{{"alerts":[{{"labels":{{"alertname":"A",{}}},"startsAt":"2026-03-02T00:00:00Z"}}]}}"#,
                (0..256).map(|i| format!(r#""k{i}":"v""#)).collect::<Vec<_>>().join(",")
            ),
            format!(
                r#"{{"alerts":[{{"labels":{{"alertname":"A",{}}},"startsAt":"2026-03-02T00:00:00Z"}}]}}"#,
                (0..255).map(|i| format!(r#""k{i}":"v""#)).collect::<Vec<_>>().join(",")
            ),
        ] {
            same_as_tree(&body);
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]
        /// Bodies pieced together from the fragments senders get wrong: both paths
        /// accept the same ones and give the same alerts or the same error.
        #[test]
        fn the_typed_path_and_the_tree_parser_agree_on_any_body(
            parts in proptest::collection::vec(proptest::sample::select(vec![
                r#"{"alerts":["#, r#"{"version":"4","alerts":["#, "]}", "{", "}", ",", "[", "]",
                r#"[{"labels":{"alertname":"A"}"#, "}]",
                r#""labels":{"#, r#""annotations":{"#, r#""alertname":"A""#, r#""x":"#,
                r#""status":"resolved""#, r#""status":"firing""#, r#""status":null"#,
                r#""startsAt":"2026-03-02T00:00:00Z""#, r#""endsAt":"2026-03-02T01:00:00Z""#,
                r#""fingerprint":"f1""#, "null", "1", "true", r#""v""#, r#""\u0041""#, ":",
            ]), 0..40)
        ) {
            same_as_tree(&parts.concat());
        }
    }
}
