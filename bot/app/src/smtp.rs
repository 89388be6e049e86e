//! Alerts by mail: a small SMTP listener (RFC 5321) for monitors that can only send
//! mail, and the rules that turn a message into an [`Alert`].
//!
//! ```toml
//! [alerts.email]
//! listen = "127.0.0.1:2525"          # absent = no listener
//! hostname = "warroom"               # in the greeting and EHLO reply
//! max_message_bytes = 1048576        # larger messages get 552
//! max_connections = 16               # more get 421 and are closed
//! max_recipients = 100               # per message
//! idle_timeout = "5m"                # no command or data line this long: 421, closed
//! allowed_senders = []               # envelope senders; "ops@x.example" or "@x.example"; empty = any
//! default_severity = "P3"            # for mails no rule (or rule without severity) rates
//! resolve_subject = '(?i)\b(resolved|recovered|recovery|cleared)\b|^\W*ok\b|恢复|已解决'
//!
//! [[alerts.email.rules]]             # first matching rule wins
//! from = '(?i)@zabbix\.example$'     # all given patterns must match; (?P<name>..) become labels
//! subject = '(?P<alertname>\w+) on (?P<host>[\w.-]+)'
//! body = ''
//! labels = { service = "trading-db", team = "dba" }
//! severity = "P2"
//! resolve_subject = '(?i)^(resolved|ok|恢复)'   # else the section's resolve_subject
//! ```
//!
//! **The protocol.** Greeting, `EHLO`/`HELO` (advertising `SIZE`, `8BITMIME`,
//! `ENHANCEDSTATUSCODES` and `PIPELINING`), `MAIL FROM` (with `SIZE=` and `BODY=`),
//! `RCPT TO`, `DATA` (dot-unstuffed), `RSET`, `NOOP`, `QUIT`. Unknown commands get
//! `500`, known but unsupported ones (`VRFY`, `AUTH`, `STARTTLS`, …) `502`, commands
//! out of order `503`. Command lines longer than 512 bytes get `500`; a message over
//! `max_message_bytes` gets `552` and is dropped. A client silent for `idle_timeout`
//! is told `421` and disconnected, and so is every client over `max_connections`.
//! There is no TLS and no authentication: listen on loopback or a trusted network.
//!
//! **Durability.** The alerts of one message go to [`AlertSink::accept`]; the
//! message is acknowledged (`250`) only once that returned `Ok`. On an error the
//! answer is `451 4.3.0`, so the sending mail server keeps the message and retries.
//!
//! **Mapping** ([`mail_to_alerts`], pure). The message is parsed by `mail-parser`
//! (multipart, quoted-printable, base64, RFC 2047 encoded words in any charset it
//! knows, GBK/GB2312/GB18030 included). The first rule whose patterns all match gives
//! labels: its `labels`, then the named groups its patterns captured (these win), and
//! `severity` (a captured `severity` group, else the rule's, else `default_severity`).
//! `from` is tried against the `From:` header's address, then the envelope sender.
//! A mail no rule matches still becomes an alert, `alertname="EmailAlert"`. The
//! subject is the `summary` annotation, the text body the `description`. A subject
//! matching the rule's (else the section's) `resolve_subject` resolves, unless it says
//! the recovery did not happen (`恢复失败`, `未恢复`, `not recovered`, `recovery
//! failed`): such a subject fires.
//!
//! **Fingerprint.** Equal for the problem mail and its recovery mail: the labels
//! except `severity`, the sender's address, and the subject normalized (lower case;
//! the resolve pattern's match, status words such as `PROBLEM`/`RESOLVED`/`故障`
//! and severity words removed; numbers, times, dates, counters and durations
//! removed, while host names like `db-01` and IPv4 addresses stay). Write rule
//! patterns that match both mails, or their labels (and so the fingerprint) differ.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use mail_parser::MessageParser;
use regex::Regex;
use serde::Deserialize;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use warroom_core::alerts::{fingerprint, Alert, AlertSource, AlertStatus, Dur, Labels};

use crate::alert_sink::AlertSink;

/// The configuration path the section is mounted at; error keys start with it.
pub const KEY_PREFIX: &str = "alerts.email";

/// The default `resolve_subject`.
pub const DEFAULT_RESOLVE_SUBJECT: &str =
    r"(?i)\b(resolved|recovered|recovery|cleared)\b|^\W*ok\b|恢复|已解决";

/// Subjects that say a recovery did *not* happen: they fire even where the resolve
/// pattern finds a word of recovery in them (`恢复失败`, `not recovered`).
const NOT_RECOVERED: &str = r"(?i)\b(not|never|unable to|failed to|cannot|can't|could not|un)\s*(be\s+)?(resolved|recovered|recover|cleared|restored)\b|\b(recovery|restore|resolution)\s+(has\s+)?(failed|failure|error|timed out|timeout)\b|恢复失败|未恢复|未能恢复|无法恢复|没有恢复|尚未恢复|恢复异常|恢复超时|未解决";

/// The `alertname` of a mail no rule names.
pub const DEFAULT_ALERTNAME: &str = "EmailAlert";

/// Longest command line, CRLF included (RFC 5321 4.5.3.1.4).
const MAX_COMMAND_LINE: usize = 512;
/// Commands that fail before the connection is closed.
const MAX_ERRORS: u32 = 20;
/// Longest label or annotation value kept, in bytes (as the JSON parsers do).
const MAX_VALUE: usize = 4096;
/// Longest subject kept for the summary.
const MAX_SUBJECT: usize = 1024;
/// How far in the future a `Date:` header may be before it is ignored.
const MAX_CLOCK_SKEW_SECS: i64 = 15 * 60;

/// `[alerts.email]`: the SMTP listener and its rules. Every key has a default.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmailConfig {
    /// Address to listen on (`127.0.0.1:2525`); none = no listener.
    pub listen: Option<String>,
    /// Name in the greeting and the EHLO reply.
    pub hostname: String,
    /// Largest message accepted, in bytes.
    pub max_message_bytes: usize,
    /// Connections served at once; more are told `421`.
    pub max_connections: usize,
    /// Recipients per message.
    pub max_recipients: usize,
    /// Longest wait for a command or data line.
    pub idle_timeout: Dur,
    /// Envelope senders allowed (`ops@x.example`, or `@x.example` for a domain); empty = any.
    pub allowed_senders: Vec<String>,
    /// Severity of mails that no rule gives one.
    pub default_severity: String,
    /// A subject matching this resolves (unless the rule has its own).
    pub resolve_subject: String,
    /// Rules, first match wins.
    pub rules: Vec<EmailRule>,
}

impl Default for EmailConfig {
    fn default() -> Self {
        Self {
            listen: None,
            hostname: "warroom".into(),
            max_message_bytes: 1 << 20,
            max_connections: 16,
            max_recipients: 100,
            idle_timeout: Dur::mins(5),
            allowed_senders: Vec::new(),
            default_severity: "P3".into(),
            resolve_subject: DEFAULT_RESOLVE_SUBJECT.into(),
            rules: Vec::new(),
        }
    }
}

/// `[[alerts.email.rules]]`: patterns (regular expressions; empty = any) and what a
/// match means.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmailRule {
    /// Matched against the `From:` address, then the envelope sender.
    pub from: String,
    /// Matched against the decoded subject.
    pub subject: String,
    /// Matched against the decoded text body (HTML-only mails: their text).
    pub body: String,
    /// Labels added to the alert.
    pub labels: BTreeMap<String, String>,
    /// The alert's severity (`P1`…`P4`, or any word the pipeline maps).
    pub severity: Option<String>,
    /// A subject matching this resolves; default: the section's `resolve_subject`.
    pub resolve_subject: Option<String>,
}

/// Why a message did not become alerts.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    /// Not a message: no header could be read.
    #[error("the message has no readable header")]
    Unreadable,
}

struct CompiledRule {
    from: Option<Regex>,
    subject: Option<Regex>,
    body: Option<Regex>,
    labels: Labels,
    severity: Option<String>,
    resolve_subject: Option<Regex>,
}

/// The rules of an [`EmailConfig`], compiled.
pub struct EmailRules {
    rules: Vec<CompiledRule>,
    default_severity: String,
    resolve_subject: Regex,
    not_recovered: Regex,
}

fn compile_pattern(key: String, pattern: &str) -> Result<Option<Regex>, (String, String)> {
    if pattern.is_empty() {
        return Ok(None);
    }
    Regex::new(pattern)
        .map(Some)
        .map_err(|e| (key, format!("not a regular expression: {e}")))
}

impl EmailRules {
    /// Compiles the rules of `cfg`.
    ///
    /// # Errors
    /// `(key, message)` for the first pattern that is not a regular expression, or
    /// an empty label name or severity; `key` is the full dotted path
    /// (`alerts.email.rules[0].subject`).
    pub fn compile(cfg: &EmailConfig) -> Result<Self, (String, String)> {
        let resolve_subject = compile_pattern(
            format!("{KEY_PREFIX}.resolve_subject"),
            &cfg.resolve_subject,
        )?
        // An empty pattern means "never": a regex that cannot match.
        .map_or_else(never, Ok)?;
        if cfg.default_severity.trim().is_empty() {
            return Err((
                format!("{KEY_PREFIX}.default_severity"),
                "must not be empty".into(),
            ));
        }
        let mut rules = Vec::with_capacity(cfg.rules.len());
        for (i, r) in cfg.rules.iter().enumerate() {
            let key = |k: &str| format!("{KEY_PREFIX}.rules[{i}].{k}");
            let mut labels = Labels::new();
            for (name, value) in &r.labels {
                if name.trim().is_empty() {
                    return Err((key("labels"), "empty label name".into()));
                }
                labels.insert(name.clone(), value.clone());
            }
            if let Some(s) = &r.severity {
                if s.trim().is_empty() {
                    return Err((key("severity"), "must not be empty".into()));
                }
            }
            rules.push(CompiledRule {
                from: compile_pattern(key("from"), &r.from)?,
                subject: compile_pattern(key("subject"), &r.subject)?,
                body: compile_pattern(key("body"), &r.body)?,
                labels,
                severity: r.severity.as_ref().map(|s| s.trim().to_string()),
                resolve_subject: match &r.resolve_subject {
                    None => None,
                    Some(p) => {
                        Some(compile_pattern(key("resolve_subject"), p)?.map_or_else(never, Ok)?)
                    }
                },
            });
        }
        Ok(Self {
            rules,
            default_severity: cfg.default_severity.trim().to_string(),
            resolve_subject,
            not_recovered: Regex::new(NOT_RECOVERED)
                .map_err(|e| (KEY_PREFIX.to_string(), e.to_string()))?,
        })
    }
}

/// A regex that matches nothing (for an empty resolve pattern).
fn never() -> Result<Regex, (String, String)> {
    Regex::new(r"[^\s\S]").map_err(|e| (KEY_PREFIX.to_string(), e.to_string()))
}

/// Checks `cfg` as the configuration loader should: the listen address, the limits,
/// the allowed senders and every pattern.
///
/// # Errors
/// `(key, message)`, `key` being the full dotted path (`alerts.email.listen`).
pub fn validate(cfg: &EmailConfig) -> Result<(), (String, String)> {
    let key = |k: &str| format!("{KEY_PREFIX}.{k}");
    if let Some(l) = &cfg.listen {
        if l.trim().parse::<SocketAddr>().is_err() {
            return Err((
                key("listen"),
                format!("`{l}` is not an address and port (such as 127.0.0.1:2525)"),
            ));
        }
    }
    let h = cfg.hostname.trim();
    if h.is_empty() || h.len() > 255 || h.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err((
            key("hostname"),
            "must be one word of at most 255 characters".into(),
        ));
    }
    if !(1..=64 << 20).contains(&cfg.max_message_bytes) {
        return Err((
            key("max_message_bytes"),
            "must be between 1 and 67108864".into(),
        ));
    }
    if !(1..=10_000).contains(&cfg.max_connections) {
        return Err((key("max_connections"), "must be between 1 and 10000".into()));
    }
    if !(1..=10_000).contains(&cfg.max_recipients) {
        return Err((key("max_recipients"), "must be between 1 and 10000".into()));
    }
    if cfg.idle_timeout.as_secs() < 1 {
        return Err((key("idle_timeout"), "must be at least 1s".into()));
    }
    for (i, s) in cfg.allowed_senders.iter().enumerate() {
        let s = s.trim();
        let ok = !s.is_empty()
            && !s.chars().any(char::is_whitespace)
            && s.contains('@')
            && !s.ends_with('@');
        if !ok {
            return Err((
                format!("{KEY_PREFIX}.allowed_senders[{i}]"),
                format!("`{s}` is not an address (ops@x.example) or a domain (@x.example)"),
            ));
        }
    }
    EmailRules::compile(cfg).map(|_| ())
}

fn sender_allowed(allowed: &[String], sender: &str) -> bool {
    if allowed.is_empty() {
        return true;
    }
    let sender = sender.to_lowercase();
    allowed.iter().any(|a| {
        let a = a.trim().to_lowercase();
        if a.starts_with('@') {
            sender.ends_with(&a)
        } else {
            sender == a
        }
    })
}

// ---------------------------------------------------------------------------
// Mail → alerts (pure)
// ---------------------------------------------------------------------------

fn cut(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

/// Collapses runs of white space (folded headers, tabs) into one space.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Matches `re` (if any) against `text`; the named groups that took part go to `out`.
fn capture(re: Option<&Regex>, text: &str, out: &mut Labels) -> bool {
    let Some(re) = re else {
        return true;
    };
    let Some(caps) = re.captures(text) else {
        return false;
    };
    for name in re.capture_names().flatten() {
        if let Some(m) = caps.name(name) {
            let v = m.as_str().trim();
            if !v.is_empty() {
                out.insert(name.to_string(), cut(v, MAX_VALUE));
            }
        }
    }
    true
}

impl CompiledRule {
    /// The captured labels when all patterns match.
    fn matches(&self, from: &[&str], subject: &str, body: &str) -> Option<Labels> {
        let mut caps = Labels::new();
        if self.from.is_some()
            && !from
                .iter()
                .any(|f| capture(self.from.as_ref(), f, &mut caps))
        {
            return None;
        }
        if !capture(self.subject.as_ref(), subject, &mut caps)
            || !capture(self.body.as_ref(), body, &mut caps)
        {
            return None;
        }
        Some(caps)
    }
}

/// Turns one mail into its alert.
///
/// `envelope_from` is the `MAIL FROM` address (may be empty); `now` is used when the
/// `Date:` header is missing, unreadable or more than 15 minutes ahead. Never panics.
///
/// # Errors
/// [`MailError::Unreadable`] when `raw` has no header at all.
pub fn mail_to_alerts(
    rules: &EmailRules,
    envelope_from: &str,
    raw: &[u8],
    now: DateTime<Utc>,
) -> Result<Vec<Alert>, MailError> {
    let msg = MessageParser::default()
        .parse(raw)
        .ok_or(MailError::Unreadable)?;
    let header_from = msg
        .from()
        .and_then(|a| a.first())
        .and_then(|a| a.address())
        .map(str::trim)
        .filter(|a| !a.is_empty());
    let envelope_from = envelope_from.trim();
    let mut from_candidates: Vec<&str> = header_from.into_iter().collect();
    if !envelope_from.is_empty() && header_from != Some(envelope_from) {
        from_candidates.push(envelope_from);
    }
    let sender = header_from.unwrap_or(envelope_from).to_lowercase();
    let subject = cut(&one_line(msg.subject().unwrap_or("")), MAX_SUBJECT);
    let body: String = (0..msg.text_body_count())
        .filter_map(|i| msg.body_text(i))
        .collect::<Vec<_>>()
        .join("\n");
    let body = body.trim();

    let matched = rules.rules.iter().find_map(|r| {
        r.matches(&from_candidates, &subject, body)
            .map(|caps| (r, caps))
    });
    let mut labels = Labels::new();
    let mut severity = None;
    let mut resolve = &rules.resolve_subject;
    if let Some((rule, caps)) = matched {
        labels.extend(rule.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
        labels.extend(caps);
        severity = rule.severity.clone();
        if let Some(r) = &rule.resolve_subject {
            resolve = r;
        }
    }
    let severity = labels
        .remove("severity")
        .or(severity)
        .unwrap_or_else(|| rules.default_severity.clone());
    labels
        .entry("alertname".into())
        .or_insert_with(|| DEFAULT_ALERTNAME.into());

    let mut key = labels.clone();
    key.insert("__email_from".into(), sender.clone());
    key.insert(
        "__email_subject".into(),
        normalize_subject(&subject, resolve),
    );
    let fp = fingerprint(&key);
    labels.insert("severity".into(), severity);

    let status = if resolve.is_match(&subject) && !rules.not_recovered.is_match(&subject) {
        AlertStatus::Resolved
    } else {
        AlertStatus::Firing
    };
    let at = msg
        .date()
        .filter(|d| d.is_valid())
        .and_then(|d| DateTime::<Utc>::from_timestamp(d.to_timestamp(), 0))
        .filter(|d| (*d - now).num_seconds() <= MAX_CLOCK_SKEW_SECS)
        .unwrap_or(now);

    let mut annotations = Labels::new();
    annotations.insert(
        "summary".into(),
        if subject.is_empty() {
            "(no subject)".into()
        } else {
            subject
        },
    );
    if !body.is_empty() {
        annotations.insert("description".into(), cut(body, MAX_VALUE));
    }
    if !sender.is_empty() {
        annotations.insert("from".into(), cut(&sender, MAX_VALUE));
    }
    if let Some(id) = msg.message_id().map(str::trim).filter(|s| !s.is_empty()) {
        annotations.insert("message_id".into(), cut(id, MAX_VALUE));
    }
    Ok(vec![Alert {
        fingerprint: fp,
        labels,
        annotations,
        status,
        starts_at: at,
        ends_at: (status == AlertStatus::Resolved).then_some(at),
        source: AlertSource::Email,
        received_at: at,
    }])
}

/// Words that tell the state or severity rather than the condition.
const STATUS_WORDS: &[&str] = &[
    "re",
    "fw",
    "fwd",
    "aw",
    "problem",
    "problems",
    "resolved",
    "resolve",
    "recovered",
    "recovery",
    "ok",
    "firing",
    "fired",
    "alert",
    "alarm",
    "alerting",
    "trigger",
    "triggered",
    "cleared",
    "clear",
    "in",
    "critical",
    "crit",
    "warning",
    "warn",
    "unknown",
    "high",
    "average",
    "disaster",
    "information",
    "info",
    "major",
    "minor",
    "emergency",
    "error",
    "normal",
    "p1",
    "p2",
    "p3",
    "p4",
    "回复",
    "转发",
    "故障",
    "恢复",
    "已恢复",
    "告警",
    "报警",
    "警报",
    "问题",
    "解决",
    "已解决",
    "正常",
    "异常",
    "触发",
    "严重",
    "警告",
    "一般",
    "信息",
    "灾难",
    "紧急",
    "重要",
    "次要",
    "通知",
];

/// Units a number may carry and still be a measurement (`5m`, `97%`, `1.2gb`).
const UNITS: &[&str] = &[
    "", "ms", "us", "ns", "s", "m", "h", "d", "w", "%", "k", "kb", "mb", "gb", "tb", "b", "x",
    "min", "mins", "sec", "secs", "hr", "hrs", "day", "days", "秒", "分", "分钟", "小时", "天",
    "次", "个", "条",
];

fn is_ipv4(t: &str) -> bool {
    let parts: Vec<&str> = t.split('.').collect();
    parts.len() == 4
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()))
}

/// A number, time, date, counter or measurement: not part of the condition's identity.
fn volatile(t: &str) -> bool {
    if !t.chars().any(|c| c.is_ascii_digit()) || is_ipv4(t) {
        return false;
    }
    if t.chars()
        .all(|c| c.is_ascii_digit() || ".-/+,_%".contains(c))
    {
        return true;
    }
    let mut rest = t;
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if n == 0 {
            return false;
        }
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        if !UNITS.contains(&&rest[..u]) {
            return false;
        }
        rest = &rest[u..];
    }
    true
}

/// The subject as the fingerprint sees it (see the module docs).
pub fn normalize_subject(subject: &str, resolve: &Regex) -> String {
    let s = resolve.replace_all(subject, " ").to_lowercase();
    let separators = |c: char| {
        c.is_whitespace() || ":;,()[]{}<>|\"'=!?*`：；，。、（）【】「」《》！？".contains(c)
    };
    let mut out: Vec<&str> = Vec::new();
    for tok in s.split(separators) {
        // ASCII runs are judged apart from the rest, so that digits glued to CJK
        // text (`当前值45%`) are seen as a number.
        let mut pieces = Vec::new();
        let (mut start, mut prev) = (0, None);
        for (i, c) in tok.char_indices() {
            if prev.is_some_and(|p| p != c.is_ascii()) {
                pieces.push(&tok[start..i]);
                start = i;
            }
            prev = Some(c.is_ascii());
        }
        pieces.push(&tok[start..]);
        for piece in pieces {
            let piece = piece.trim_matches(|c: char| !c.is_alphanumeric());
            if !piece.is_empty() && !STATUS_WORDS.contains(&piece) && !volatile(piece) {
                out.push(piece);
            }
        }
    }
    out.join(" ")
}

// ---------------------------------------------------------------------------
// The listener
// ---------------------------------------------------------------------------

struct Ctx {
    cfg: Arc<EmailConfig>,
    rules: EmailRules,
    sink: Arc<dyn AlertSink>,
    idle: Duration,
}

/// Serves SMTP on `listener` until `shutdown` completes, then tells waiting clients
/// `421`, lets messages being stored finish, and returns.
///
/// # Errors
/// `InvalidInput` when `cfg` does not pass [`validate`] (the message names the key).
pub async fn serve(
    listener: TcpListener,
    cfg: Arc<EmailConfig>,
    sink: Arc<dyn AlertSink>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let invalid = |(k, m): (String, String)| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{k}: {m}"))
    };
    validate(&cfg).map_err(invalid)?;
    let rules = EmailRules::compile(&cfg).map_err(invalid)?;
    let ctx = Arc::new(Ctx {
        idle: Duration::from_secs(u64::try_from(cfg.idle_timeout.as_secs()).unwrap_or(300)),
        cfg: cfg.clone(),
        rules,
        sink,
    });
    let slots = Arc::new(Semaphore::new(cfg.max_connections));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let ctx = ctx.clone();
                    let stop = stop_rx.clone();
                    match slots.clone().try_acquire_owned() {
                        Ok(permit) => {
                            tasks.spawn(async move {
                                let mut s = Session::new(stream, &ctx, stop);
                                if let Err(e) = s.run().await {
                                    tracing::debug!(%peer, error = %e, "smtp session ended");
                                }
                                drop(permit);
                            });
                        }
                        Err(_) => {
                            tracing::warn!(%peer, "smtp: too many connections");
                            tasks.spawn(async move {
                                let mut stream = stream;
                                let msg = format!(
                                    "421 4.3.2 {} Too many connections, try again later\r\n",
                                    ctx.cfg.hostname
                                );
                                let _ = tokio::time::timeout(
                                    ctx.idle.min(Duration::from_secs(10)),
                                    stream.write_all(msg.as_bytes()),
                                )
                                .await;
                                let _ = stream.shutdown().await;
                            });
                        }
                    }
                }
                Err(e) => {
                    // Out of file descriptors and the like: let sessions finish a bit.
                    tracing::warn!(error = %e, "smtp: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                if let Err(e) = done {
                    tracing::error!(error = %e, "smtp session task failed");
                }
            }
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    while tasks.join_next().await.is_some() {}
    Ok(())
}

/// Why a session stops reading.
#[derive(Debug)]
enum End {
    /// The client closed the connection.
    Eof,
    /// Nothing arrived for the idle timeout.
    Timeout,
    /// The server is shutting down.
    Stop,
    /// The connection failed.
    Io(std::io::Error),
}

impl std::fmt::Display for End {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            End::Eof => f.write_str("client closed the connection"),
            End::Timeout => f.write_str("idle timeout"),
            End::Stop => f.write_str("shutting down"),
            End::Io(e) => write!(f, "{e}"),
        }
    }
}

/// One line read with a cap.
enum Line {
    /// The line (with its line end) is in the buffer.
    Full,
    /// The line was longer than the cap; it was read and dropped.
    TooLong,
}

/// Reads up to and including `\n`, keeping at most `max` bytes; a longer line is
/// consumed and reported as [`Line::TooLong`]. A partial line at the end is EOF.
async fn read_line<R: AsyncBufRead + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> Result<Line, End> {
    buf.clear();
    let mut too_long = false;
    loop {
        let avail = r.fill_buf().await.map_err(End::Io)?;
        if avail.is_empty() {
            return Err(End::Eof);
        }
        let (n, done) = match avail.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (avail.len(), false),
        };
        if !too_long {
            if buf.len() + n > max {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(&avail[..n]);
            }
        }
        r.consume(n);
        if done {
            return Ok(if too_long { Line::TooLong } else { Line::Full });
        }
    }
}

fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// `FROM:<a@b> PARAM=x …` (the part after the verb) → the address and the parameters.
fn parse_path<'a>(arg: &'a str, prefix: &str) -> Option<(&'a str, Vec<&'a str>)> {
    let head = arg.get(..prefix.len())?;
    if !head.eq_ignore_ascii_case(prefix) {
        return None;
    }
    let rest = arg[prefix.len()..].trim_start();
    let (path, params) = if let Some(r) = rest.strip_prefix('<') {
        let close = r.find('>')?;
        (&r[..close], &r[close + 1..])
    } else {
        // Lenient: a bare address without angle brackets.
        match rest.find(char::is_whitespace) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        }
    };
    // A source route (`@a,@b:user@c`) is ignored (RFC 5321 4.1.1.3).
    let path = match path.strip_prefix('@') {
        Some(p) => p.split_once(':').map_or("", |(_, a)| a),
        None => path,
    };
    if path.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    Some((path, params.split_whitespace().collect()))
}

struct Session<'c, S> {
    io: BufReader<S>,
    ctx: &'c Ctx,
    stop: watch::Receiver<bool>,
    buf: Vec<u8>,
    helo: Option<String>,
    mail_from: Option<String>,
    rcpts: Vec<String>,
    errors: u32,
}

impl<'c, S: AsyncRead + AsyncWrite + Unpin> Session<'c, S> {
    fn new(stream: S, ctx: &'c Ctx, stop: watch::Receiver<bool>) -> Self {
        Self {
            io: BufReader::new(stream),
            ctx,
            stop,
            buf: Vec::with_capacity(MAX_COMMAND_LINE),
            helo: None,
            mail_from: None,
            rcpts: Vec::new(),
            errors: 0,
        }
    }

    async fn reply(&mut self, text: &str) -> Result<(), End> {
        let mut out = String::with_capacity(text.len() + 2);
        out.push_str(text);
        out.push_str("\r\n");
        let idle = self.ctx.idle;
        let io = self.io.get_mut();
        let write = async {
            io.write_all(out.as_bytes()).await?;
            io.flush().await
        };
        match tokio::time::timeout(idle, write).await {
            Ok(r) => r.map_err(End::Io),
            Err(_) => Err(End::Timeout),
        }
    }

    async fn next_line(&mut self, max: usize) -> Result<Line, End> {
        if *self.stop.borrow() {
            return Err(End::Stop);
        }
        let idle = self.ctx.idle;
        let (io, buf, stop) = (&mut self.io, &mut self.buf, &mut self.stop);
        tokio::select! {
            r = tokio::time::timeout(idle, read_line(io, buf, max)) => match r {
                Ok(r) => r,
                Err(_) => Err(End::Timeout),
            },
            _ = stop.changed() => Err(End::Stop),
        }
    }

    fn reset(&mut self) {
        self.mail_from = None;
        self.rcpts.clear();
    }

    /// A failed command: counts towards closing the connection.
    async fn refuse(&mut self, text: &str) -> Result<(), End> {
        self.errors += 1;
        self.reply(text).await?;
        if self.errors >= MAX_ERRORS {
            let host = self.ctx.cfg.hostname.clone();
            self.reply(&format!(
                "421 4.7.0 {host} Too many errors, closing connection"
            ))
            .await?;
            return Err(End::Stop);
        }
        Ok(())
    }

    async fn run(&mut self) -> Result<(), End> {
        let host = self.ctx.cfg.hostname.clone();
        self.reply(&format!("220 {host} ESMTP warroom")).await?;
        let result = self.commands().await;
        let goodbye = match &result {
            Err(End::Timeout) => Some(format!("421 4.4.2 {host} Idle timeout, closing connection")),
            Err(End::Stop) if *self.stop.borrow() => {
                Some(format!("421 4.3.2 {host} Shutting down, try again later"))
            }
            _ => None,
        };
        if let Some(g) = goodbye {
            let _ = self.reply(&g).await;
        }
        let _ = self.io.get_mut().shutdown().await;
        match result {
            Ok(()) | Err(End::Eof) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The command loop; `Ok` after QUIT.
    async fn commands(&mut self) -> Result<(), End> {
        loop {
            match self.next_line(MAX_COMMAND_LINE).await? {
                Line::TooLong => {
                    self.refuse("500 5.5.2 Line too long").await?;
                    continue;
                }
                Line::Full => {}
            }
            let line = String::from_utf8_lossy(trim_eol(&self.buf)).into_owned();
            let (verb, arg) = match line.split_once(' ') {
                Some((v, a)) => (v.to_ascii_uppercase(), a.trim().to_string()),
                None => (line.trim().to_ascii_uppercase(), String::new()),
            };
            match verb.as_str() {
                "EHLO" | "HELO" => {
                    if arg.is_empty() {
                        self.refuse(&format!("501 5.5.4 Syntax: {verb} hostname"))
                            .await?;
                        continue;
                    }
                    self.reset();
                    self.helo = Some(arg.clone());
                    let host = &self.ctx.cfg.hostname;
                    let text = if verb == "EHLO" {
                        format!(
                            "250-{host} Hello {arg}\r\n250-SIZE {}\r\n250-8BITMIME\r\n\
                             250-ENHANCEDSTATUSCODES\r\n250 PIPELINING",
                            self.ctx.cfg.max_message_bytes
                        )
                    } else {
                        format!("250 {host} Hello {arg}")
                    };
                    self.reply(&text).await?;
                }
                "MAIL" => self.mail(&arg).await?,
                "RCPT" => self.rcpt(&arg).await?,
                "DATA" => {
                    if !arg.is_empty() {
                        self.refuse("501 5.5.4 Syntax: DATA").await?;
                    } else if self.mail_from.is_none() {
                        self.refuse("503 5.5.1 Bad sequence of commands: need MAIL first")
                            .await?;
                    } else if self.rcpts.is_empty() {
                        self.refuse("503 5.5.1 Bad sequence of commands: need RCPT first")
                            .await?;
                    } else {
                        self.data().await?;
                    }
                }
                "RSET" => {
                    self.reset();
                    self.reply("250 2.0.0 Ok").await?;
                }
                "NOOP" => self.reply("250 2.0.0 Ok").await?,
                "QUIT" => {
                    let host = self.ctx.cfg.hostname.clone();
                    self.reply(&format!("221 2.0.0 {host} Bye")).await?;
                    return Ok(());
                }
                "VRFY" | "EXPN" | "HELP" | "TURN" | "ETRN" | "ATRN" | "AUTH" | "STARTTLS"
                | "BDAT" | "SEND" | "SOML" | "SAML" => {
                    self.refuse(&format!("502 5.5.1 {verb} not implemented"))
                        .await?;
                }
                _ => self.refuse("500 5.5.2 Command not recognized").await?,
            }
        }
    }

    async fn mail(&mut self, arg: &str) -> Result<(), End> {
        if self.helo.is_none() {
            return self
                .refuse("503 5.5.1 Bad sequence of commands: send EHLO or HELO first")
                .await;
        }
        if self.mail_from.is_some() {
            return self
                .refuse("503 5.5.1 Bad sequence of commands: nested MAIL")
                .await;
        }
        let Some((path, params)) = parse_path(arg, "FROM:") else {
            return self.refuse("501 5.5.4 Syntax: MAIL FROM:<address>").await;
        };
        for p in params {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            match k.to_ascii_uppercase().as_str() {
                "SIZE" => match v.parse::<u64>() {
                    Ok(n) if n > self.ctx.cfg.max_message_bytes as u64 => {
                        return self
                            .refuse("552 5.3.4 Message size exceeds fixed maximum message size")
                            .await;
                    }
                    Ok(_) => {}
                    Err(_) => return self.refuse("501 5.5.4 Syntax: SIZE=<number>").await,
                },
                "BODY" if v.eq_ignore_ascii_case("7BIT") || v.eq_ignore_ascii_case("8BITMIME") => {}
                _ => {
                    return self
                        .refuse("555 5.5.4 MAIL FROM parameter not recognized")
                        .await
                }
            }
        }
        if !sender_allowed(&self.ctx.cfg.allowed_senders, path) {
            return self.refuse("550 5.7.1 Sender not allowed").await;
        }
        self.mail_from = Some(path.to_string());
        self.reply("250 2.1.0 Ok").await
    }

    async fn rcpt(&mut self, arg: &str) -> Result<(), End> {
        if self.mail_from.is_none() {
            return self
                .refuse("503 5.5.1 Bad sequence of commands: need MAIL first")
                .await;
        }
        let Some((path, _params)) = parse_path(arg, "TO:").filter(|(p, _)| !p.is_empty()) else {
            return self.refuse("501 5.5.4 Syntax: RCPT TO:<address>").await;
        };
        if self.rcpts.len() >= self.ctx.cfg.max_recipients {
            return self.refuse("452 4.5.3 Too many recipients").await;
        }
        self.rcpts.push(path.to_string());
        self.reply("250 2.1.5 Ok").await
    }

    async fn data(&mut self) -> Result<(), End> {
        self.reply("354 End data with <CR><LF>.<CR><LF>").await?;
        let max = self.ctx.cfg.max_message_bytes;
        let mut msg = Vec::new();
        let mut over = false;
        loop {
            let line = self.next_line(max.saturating_add(2)).await?;
            if matches!(line, Line::TooLong) {
                over = true;
                msg = Vec::new();
                continue;
            }
            let l = &self.buf[..];
            if trim_eol(l) == b"." {
                break;
            }
            let l = l.strip_prefix(b".").unwrap_or(l);
            if !over {
                if msg.len() + l.len() > max {
                    over = true;
                    msg = Vec::new();
                } else {
                    msg.extend_from_slice(l);
                }
            }
        }
        let from = self.mail_from.take().unwrap_or_default();
        let rcpts = std::mem::take(&mut self.rcpts);
        if over {
            return self
                .refuse("552 5.3.4 Message size exceeds fixed maximum message size")
                .await;
        }
        let alerts = match mail_to_alerts(&self.ctx.rules, &from, &msg, Utc::now()) {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(%from, error = %e, "smtp: message refused");
                return self.refuse(&format!("554 5.6.0 {e}")).await;
            }
        };
        let fps: Vec<String> = alerts.iter().map(|a| a.fingerprint.clone()).collect();
        let ctx = self.ctx;
        match ctx.sink.accept(alerts).await {
            Ok(()) => {
                tracing::info!(%from, rcpts = rcpts.len(), fingerprints = ?fps, "smtp: alert accepted");
                self.reply(&format!("250 2.0.0 Ok: accepted as {}", fps.join(",")))
                    .await
            }
            Err(e) => {
                tracing::warn!(%from, error = %e, "smtp: alert not stored, sender will retry");
                self.reply(&format!(
                    "451 4.3.0 {}: try again later",
                    one_line(&e.to_string())
                ))
                .await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;

    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
    use tokio::net::TcpStream;
    use tokio::sync::oneshot;
    use tokio::task::JoinHandle;

    use super::*;
    use crate::alert_sink::IngestError;

    /// Stores what it is given, or fails every time.
    struct TestSink {
        stored: Mutex<Vec<Alert>>,
        attempts: AtomicUsize,
        fail: bool,
    }

    impl AlertSink for TestSink {
        fn accept(
            &self,
            alerts: Vec<Alert>,
        ) -> std::pin::Pin<Box<dyn Future<Output = Result<(), IngestError>> + Send + '_>> {
            Box::pin(async move {
                self.attempts.fetch_add(1, Ordering::SeqCst);
                if self.fail {
                    return Err(IngestError::Store("disk full".into()));
                }
                self.stored.lock().unwrap().extend(alerts);
                Ok(())
            })
        }
    }

    impl TestSink {
        fn alerts(&self) -> Vec<Alert> {
            self.stored.lock().unwrap().clone()
        }
    }

    struct Server {
        port: u16,
        sink: Arc<TestSink>,
        stop: Option<oneshot::Sender<()>>,
        task: JoinHandle<std::io::Result<()>>,
    }

    impl Server {
        async fn start(cfg: EmailConfig, fail: bool) -> Self {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            let sink = Arc::new(TestSink {
                stored: Mutex::new(Vec::new()),
                attempts: AtomicUsize::new(0),
                fail,
            });
            let (tx, rx) = oneshot::channel::<()>();
            let task = tokio::spawn(serve(listener, Arc::new(cfg), sink.clone(), async {
                let _ = rx.await;
            }));
            Self {
                port,
                sink,
                stop: Some(tx),
                task,
            }
        }

        async fn stop(mut self) {
            if let Some(tx) = self.stop.take() {
                let _ = tx.send(());
            }
            self.task.await.unwrap().unwrap();
        }
    }

    fn config() -> EmailConfig {
        toml::from_str(
            r#"
            listen = "127.0.0.1:0"
            default_severity = "P3"
            [[rules]]
            from = '(?i)@zabbix\.example$'
            subject = '(?P<alertname>\w+) on (?P<host>[\w.-]+)'
            labels = { service = "trading-db", team = "dba" }
            severity = "P2"
            resolve_subject = '(?i)^(resolved|ok|恢复)'
            [[rules]]
            from = '(?i)@grafana\.example$'
            subject = '(?P<host>db-\d+)$'
            body = '(?P<component>交易库)'
            labels = { service = "trading-db" }
            "#,
        )
        .unwrap()
    }

    const PY_PRELUDE: &str = r#"
import base64, json, quopri, smtplib, sys
port = int(sys.argv[1])
results = []
def send(sender, rcpts, msg):
    try:
        with smtplib.SMTP('127.0.0.1', port, timeout=30) as s:
            s.ehlo('monitor.example')
            s.sendmail(sender, rcpts, msg)
        results.append({'ok': True})
    except smtplib.SMTPResponseException as e:
        results.append({'ok': False, 'code': e.smtp_code, 'error': e.smtp_error.decode('utf-8', 'replace')})
    except smtplib.SMTPRecipientsRefused as e:
        code, err = list(e.recipients.values())[0]
        results.append({'ok': False, 'code': code, 'error': err.decode('utf-8', 'replace')})
"#;

    /// Runs `body` (Python that calls `send(...)`) with `smtplib` against `port`;
    /// returns one `{ok, code, error}` per `send`.
    async fn smtplib(port: u16, body: &str) -> Vec<serde_json::Value> {
        let script = format!("{PY_PRELUDE}\n{body}\nprint(json.dumps(results))\n");
        let out = tokio::task::spawn_blocking(move || {
            std::process::Command::new("python3")
                .arg("-c")
                .arg(&script)
                .arg(port.to_string())
                .output()
        })
        .await
        .unwrap()
        .expect("python3 runs");
        assert!(
            out.status.success(),
            "python3 failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// A hand-driven SMTP client for what a well-behaved one never sends.
    struct Raw {
        r: BufReader<OwnedReadHalf>,
        w: OwnedWriteHalf,
    }

    impl Raw {
        async fn connect(port: u16) -> Self {
            let (r, w) = TcpStream::connect(("127.0.0.1", port))
                .await
                .unwrap()
                .into_split();
            Self {
                r: BufReader::new(r),
                w,
            }
        }

        /// One whole reply (all its lines), or "" at EOF.
        async fn reply(&mut self) -> String {
            let mut all = String::new();
            loop {
                let mut line = String::new();
                if self.r.read_line(&mut line).await.unwrap() == 0 {
                    return all;
                }
                all.push_str(&line);
                if line.as_bytes().get(3) != Some(&b'-') {
                    return all;
                }
            }
        }

        async fn send(&mut self, text: &str) {
            self.w.write_all(text.as_bytes()).await.unwrap();
        }

        async fn cmd(&mut self, line: &str) -> String {
            self.send(&format!("{line}\r\n")).await;
            self.reply().await
        }
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[tokio::test]
    async fn a_plain_mail_matching_a_rule_becomes_one_firing_alert_with_the_rules_labels() {
        let srv = Server::start(config(), false).await;
        let r = smtplib(
            srv.port,
            r#"
msg = (b"From: Zabbix <zabbix@zabbix.example>\r\nTo: warroom@ops.example\r\n"
       b"Subject: Problem: DiskFull on db-01.prod\r\n"
       b"Date: Mon, 02 Mar 2026 09:00:00 +0800\r\nMessage-ID: <e1@zabbix.example>\r\n\r\n"
       b"Free space on /data is 3%.\r\n.starts with a dot\r\n")
send('zabbix@zabbix.example', ['warroom@ops.example'], msg)
"#,
        )
        .await;
        assert_eq!(r[0]["ok"], true, "{r:?}");
        let a = srv.sink.alerts();
        assert_eq!(a.len(), 1);
        let a = &a[0];
        assert_eq!(a.source, AlertSource::Email);
        assert_eq!(a.status, AlertStatus::Firing);
        assert_eq!(a.labels["alertname"], "DiskFull");
        assert_eq!(a.labels["host"], "db-01.prod");
        assert_eq!(a.labels["service"], "trading-db");
        assert_eq!(a.labels["team"], "dba");
        assert_eq!(a.labels["severity"], "P2");
        assert_eq!(a.annotations["summary"], "Problem: DiskFull on db-01.prod");
        assert_eq!(a.annotations["from"], "zabbix@zabbix.example");
        assert_eq!(a.annotations["message_id"], "e1@zabbix.example");
        let d = &a.annotations["description"];
        assert!(d.contains("Free space on /data is 3%."), "{d}");
        assert!(
            d.contains("\n.starts with a dot"),
            "dot-stuffing is undone: {d}"
        );
        assert_eq!(
            a.starts_at,
            at("2026-03-02T01:00:00Z"),
            "from the Date header"
        );
        assert_eq!((a.ends_at, a.received_at), (None, a.starts_at));
        srv.stop().await;
    }

    #[tokio::test]
    async fn a_multipart_mail_with_a_base64_chinese_subject_and_quoted_printable_body_is_decoded() {
        let srv = Server::start(config(), false).await;
        let r = smtplib(
            srv.port,
            r#"
subj = '【故障】交易库 CPU 使用率过高 on db-02'
body = '交易库 CPU 使用率 97%，请立即处理。\r\n这是一段很长的中文正文，用来确认 quoted-printable 的软换行会被正确还原，不会把字拆开。\r\n'
qp = quopri.encodestring(body.encode('utf-8')).decode('ascii')
msg = ("From: =?UTF-8?B?" + base64.b64encode('监控'.encode()).decode() + "?= <monitor@grafana.example>\r\n"
       "To: warroom@ops.example\r\n"
       "Subject: =?UTF-8?B?" + base64.b64encode(subj.encode()).decode() + "?=\r\n"
       "MIME-Version: 1.0\r\n"
       "Content-Type: multipart/alternative; boundary=\"b1\"\r\n\r\n"
       "--b1\r\nContent-Type: text/plain; charset=utf-8\r\n"
       "Content-Transfer-Encoding: quoted-printable\r\n\r\n" + qp + "\r\n"
       "--b1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>html twin</p>\r\n"
       "--b1--\r\n").encode('ascii')
assert '=E4=BA=A4' in qp
send('monitor@grafana.example', ['warroom@ops.example'], msg)
"#,
        )
        .await;
        assert_eq!(r[0]["ok"], true, "{r:?}");
        let a = srv.sink.alerts();
        assert_eq!(a.len(), 1);
        let a = &a[0];
        assert_eq!(
            a.annotations["summary"],
            "【故障】交易库 CPU 使用率过高 on db-02"
        );
        let d = &a.annotations["description"];
        assert!(d.starts_with("交易库 CPU 使用率 97%，请立即处理。"), "{d}");
        assert!(d.contains("软换行会被正确还原，不会把字拆开。"), "{d}");
        assert!(
            !d.contains("html twin"),
            "the text part, not the HTML one: {d}"
        );
        assert_eq!(a.labels["host"], "db-02");
        assert_eq!(a.labels["component"], "交易库");
        assert_eq!(a.labels["alertname"], DEFAULT_ALERTNAME);
        assert_eq!(a.labels["severity"], "P3", "the rule has none: the default");
        assert_eq!(a.status, AlertStatus::Firing);
        srv.stop().await;
    }

    #[tokio::test]
    async fn a_resolved_mail_resolves_the_alert_with_the_same_fingerprint() {
        let srv = Server::start(config(), false).await;
        let r = smtplib(
            srv.port,
            r#"
def mail(subject, date):
    return ("From: zabbix@zabbix.example\r\nTo: warroom@ops.example\r\n"
            "Subject: " + subject + "\r\nDate: " + date + "\r\n\r\nevent body\r\n").encode()
send('zabbix@zabbix.example', ['w@ops.example'], mail('Problem: DiskFull on db-01.prod (event 18732, 2026-03-02 09:00:00)', 'Mon, 02 Mar 2026 09:00:00 +0800'))
send('zabbix@zabbix.example', ['w@ops.example'], mail('Problem: DiskFull on db-02.prod (event 18733, 2026-03-02 09:01:00)', 'Mon, 02 Mar 2026 09:01:00 +0800'))
send('zabbix@zabbix.example', ['w@ops.example'], mail('Resolved: DiskFull on db-01.prod (event 18790, 2026-03-02 09:25:13)', 'Mon, 02 Mar 2026 09:25:13 +0800'))
"#,
        )
        .await;
        assert!(r.iter().all(|x| x["ok"] == true), "{r:?}");
        let a = srv.sink.alerts();
        assert_eq!(a.len(), 3);
        let (fire, other, resolve) = (&a[0], &a[1], &a[2]);
        assert_eq!(fire.status, AlertStatus::Firing);
        assert_eq!(resolve.status, AlertStatus::Resolved);
        assert_eq!(resolve.fingerprint, fire.fingerprint);
        assert_ne!(
            other.fingerprint, fire.fingerprint,
            "another host, another alert"
        );
        assert_eq!(resolve.labels, fire.labels);
        assert_eq!(resolve.ends_at, Some(at("2026-03-02T01:25:13Z")));
        srv.stop().await;
    }

    #[tokio::test]
    async fn commands_out_of_order_get_503_and_the_session_goes_on() {
        let srv = Server::start(config(), false).await;
        let mut c = Raw::connect(srv.port).await;
        assert!(c.reply().await.starts_with("220 "));
        assert!(c.cmd("MAIL FROM:<a@b.example>").await.starts_with("503 "));
        let ehlo = c.cmd("EHLO client.example").await;
        assert!(ehlo.starts_with("250-"), "{ehlo}");
        for ext in [
            "SIZE 1048576",
            "8BITMIME",
            "PIPELINING",
            "ENHANCEDSTATUSCODES",
        ] {
            assert!(ehlo.contains(ext), "{ehlo}");
        }
        assert!(c.cmd("RCPT TO:<w@ops.example>").await.starts_with("503 "));
        assert!(c.cmd("DATA").await.starts_with("503 "));
        assert!(c.cmd("MAIL FROM:<a@b.example>").await.starts_with("250 "));
        assert!(
            c.cmd("MAIL FROM:<a@b.example>").await.starts_with("503 "),
            "nested MAIL"
        );
        let data = c.cmd("DATA").await;
        assert!(data.starts_with("503 5.5.1"), "DATA before RCPT: {data}");
        assert!(c.cmd("RCPT TO:<w@ops.example>").await.starts_with("250 "));
        assert!(c.cmd("RSET").await.starts_with("250 "));
        assert!(
            c.cmd("DATA").await.starts_with("503 "),
            "RSET forgot the transaction"
        );
        assert!(c.cmd("NOOP").await.starts_with("250 "));
        assert!(c.cmd("QUIT").await.starts_with("221 "));
        assert_eq!(c.reply().await, "", "closed after QUIT");
        assert_eq!(srv.sink.attempts.load(Ordering::SeqCst), 0);
        srv.stop().await;
    }

    #[tokio::test]
    async fn unknown_commands_get_500_unsupported_ones_502_and_long_lines_500() {
        let srv = Server::start(config(), false).await;
        let mut c = Raw::connect(srv.port).await;
        c.reply().await;
        assert!(c.cmd("FROB").await.starts_with("500 5.5.2"));
        assert!(c.cmd("VRFY root").await.starts_with("502 "));
        assert!(c.cmd("STARTTLS").await.starts_with("502 "));
        assert!(c.cmd("EHLO").await.starts_with("501 "), "EHLO needs a name");
        let long = format!("NOOP {}", "x".repeat(600));
        assert!(c.cmd(&long).await.starts_with("500 5.5.2 Line too long"));
        assert!(c.cmd("noop").await.starts_with("250 "), "verbs in any case");
        srv.stop().await;
    }

    #[tokio::test]
    async fn an_oversize_message_gets_552_and_nothing_is_accepted() {
        let mut cfg = config();
        cfg.max_message_bytes = 1024;
        let srv = Server::start(cfg, false).await;
        let mut c = Raw::connect(srv.port).await;
        c.reply().await;
        c.cmd("EHLO client.example").await;
        let size = c.cmd("MAIL FROM:<zabbix@zabbix.example> SIZE=5000").await;
        assert!(size.starts_with("552 5.3.4"), "declared size: {size}");
        assert!(c
            .cmd("MAIL FROM:<zabbix@zabbix.example>")
            .await
            .starts_with("250 "));
        assert!(c.cmd("RCPT TO:<w@ops.example>").await.starts_with("250 "));
        assert!(c.cmd("DATA").await.starts_with("354 "));
        let mut msg = String::from("Subject: Problem: Big on db-01\r\n\r\n");
        for _ in 0..40 {
            msg.push_str(&"y".repeat(70));
            msg.push_str("\r\n");
        }
        msg.push_str(".\r\n");
        c.send(&msg).await;
        let r = c.reply().await;
        assert!(r.starts_with("552 5.3.4"), "{r}");
        assert_eq!(srv.sink.attempts.load(Ordering::SeqCst), 0);
        assert!(
            c.cmd("NOOP").await.starts_with("250 "),
            "the session goes on"
        );
        srv.stop().await;
    }

    #[tokio::test]
    async fn a_real_client_declaring_an_oversize_message_is_refused_at_mail_from() {
        let mut cfg = config();
        cfg.max_message_bytes = 1024;
        let srv = Server::start(cfg, false).await;
        let r = smtplib(
            srv.port,
            r#"send('zabbix@zabbix.example', ['w@ops.example'], b"Subject: big\r\n\r\n" + b"z" * 4000)"#,
        )
        .await;
        assert_eq!(
            (&r[0]["ok"], &r[0]["code"]),
            (&false.into(), &552.into()),
            "{r:?}"
        );
        assert!(srv.sink.alerts().is_empty());
        srv.stop().await;
    }

    #[tokio::test]
    async fn a_failing_sink_answers_451_and_the_mail_is_not_acknowledged() {
        let srv = Server::start(config(), true).await;
        let r = smtplib(
            srv.port,
            r#"send('zabbix@zabbix.example', ['w@ops.example'], b"From: zabbix@zabbix.example\r\nSubject: Problem: DiskFull on db-01\r\n\r\nx\r\n")"#,
        )
        .await;
        assert_eq!(r[0]["ok"], false, "{r:?}");
        assert_eq!(r[0]["code"], 451, "{r:?}");
        assert!(
            r[0]["error"].as_str().unwrap().starts_with("4.3.0"),
            "{r:?}"
        );
        assert_eq!(srv.sink.attempts.load(Ordering::SeqCst), 1);
        assert!(srv.sink.alerts().is_empty());
        srv.stop().await;
    }

    #[tokio::test]
    async fn pipelined_commands_get_their_replies_in_order() {
        let srv = Server::start(config(), false).await;
        let mut c = Raw::connect(srv.port).await;
        c.reply().await;
        c.send("EHLO p.example\r\nMAIL FROM:<zabbix@zabbix.example>\r\nRCPT TO:<a@ops.example>\r\nRCPT TO:<b@ops.example>\r\nDATA\r\n")
            .await;
        assert!(c.reply().await.starts_with("250-"));
        assert!(c.reply().await.starts_with("250 2.1.0"));
        assert!(c.reply().await.starts_with("250 2.1.5"));
        assert!(c.reply().await.starts_with("250 2.1.5"));
        assert!(c.reply().await.starts_with("354 "));
        c.send("Subject: Problem: Lag on db-09\r\n\r\n..dot\r\n.\r\nQUIT\r\n")
            .await;
        assert!(c.reply().await.starts_with("250 2.0.0"));
        assert!(c.reply().await.starts_with("221 "));
        let a = srv.sink.alerts();
        assert_eq!(a.len(), 1, "one alert for two recipients");
        assert_eq!(a[0].labels["host"], "db-09");
        assert_eq!(a[0].annotations["description"], ".dot");
        srv.stop().await;
    }

    #[tokio::test]
    async fn an_idle_client_is_told_421_and_disconnected() {
        let mut cfg = config();
        cfg.idle_timeout = Dur::secs(1);
        let srv = Server::start(cfg, false).await;
        let mut c = Raw::connect(srv.port).await;
        c.reply().await;
        let r = c.reply().await;
        assert!(r.starts_with("421 4.4.2"), "{r}");
        assert_eq!(c.reply().await, "", "closed");
        srv.stop().await;
    }

    #[tokio::test]
    async fn connections_over_the_cap_are_told_421() {
        let mut cfg = config();
        cfg.max_connections = 1;
        let srv = Server::start(cfg, false).await;
        let mut first = Raw::connect(srv.port).await;
        assert!(first.reply().await.starts_with("220 "));
        let mut second = Raw::connect(srv.port).await;
        assert!(second.reply().await.starts_with("421 4.3.2"));
        assert_eq!(second.reply().await, "");
        assert!(first.cmd("QUIT").await.starts_with("221 "));
        assert_eq!(first.reply().await, "");
        srv.stop().await;
    }

    #[tokio::test]
    async fn shutdown_tells_waiting_clients_421_and_serve_returns() {
        let srv = Server::start(config(), false).await;
        let mut c = Raw::connect(srv.port).await;
        c.reply().await;
        assert!(c.cmd("EHLO x.example").await.starts_with("250"));
        let Server { stop, task, .. } = srv;
        let _ = stop.unwrap().send(());
        assert!(c.reply().await.starts_with("421 4.3.2"));
        task.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn senders_outside_the_allow_list_are_refused() {
        let mut cfg = config();
        cfg.allowed_senders = vec!["@zabbix.example".into(), "ops@grafana.example".into()];
        let srv = Server::start(cfg, false).await;
        let mut c = Raw::connect(srv.port).await;
        c.reply().await;
        c.cmd("HELO x.example").await;
        assert!(c
            .cmd("MAIL FROM:<x@evil.example>")
            .await
            .starts_with("550 5.7.1"));
        assert!(c.cmd("MAIL FROM:<>").await.starts_with("550 5.7.1"));
        assert!(c
            .cmd("MAIL FROM:<other@grafana.example>")
            .await
            .starts_with("550"));
        assert!(c
            .cmd("MAIL FROM:<OPS@Grafana.example>")
            .await
            .starts_with("250"));
        c.cmd("RSET").await;
        assert!(c
            .cmd("MAIL FROM:<z@zabbix.example>")
            .await
            .starts_with("250"));
        srv.stop().await;
    }

    fn rules() -> EmailRules {
        EmailRules::compile(&config()).unwrap()
    }

    fn now() -> DateTime<Utc> {
        at("2026-03-02T02:00:00Z")
    }

    #[test]
    fn a_mail_matching_no_rule_becomes_an_email_alert_with_the_default_severity() {
        let raw = b"From: cron@host.example\r\nSubject: backup job failed\r\n\r\nexit 3\r\n";
        let a = mail_to_alerts(&rules(), "cron@host.example", raw, now()).unwrap();
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].labels["alertname"], "EmailAlert");
        assert_eq!(a[0].labels["severity"], "P3");
        assert_eq!(a[0].labels.len(), 2);
        assert_eq!(a[0].annotations["summary"], "backup job failed");
        assert_eq!(a[0].starts_at, now(), "no Date header: now");
        assert_eq!(a[0].status, AlertStatus::Firing);
        let ok = b"From: cron@host.example\r\nSubject: RESOLVED backup job failed\r\n\r\n";
        let r = mail_to_alerts(&rules(), "", ok, now()).unwrap();
        assert_eq!(r[0].status, AlertStatus::Resolved);
        assert_eq!(r[0].fingerprint, a[0].fingerprint);
    }

    #[test]
    fn a_subject_saying_the_recovery_failed_fires_rather_than_resolves() {
        for subject in [
            "告警：trading-db 主从复制恢复失败",
            "数据库未恢复",
            "CRITICAL: backup restore not recovered on db-02",
            "Recovery failed for job settle-eod",
            "Service is unresolved after failover",
        ] {
            let raw = format!("From: mon@host.example\r\nSubject: {subject}\r\n\r\nx\r\n");
            let a = mail_to_alerts(&rules(), "", raw.as_bytes(), now()).unwrap();
            assert_eq!(a[0].status, AlertStatus::Firing, "{subject}");
        }
        for subject in [
            "【恢复】交易库连接数过高",
            "RESOLVED backup job failed",
            "Recovered: disk full",
        ] {
            let raw = format!("From: mon@host.example\r\nSubject: {subject}\r\n\r\nx\r\n");
            let a = mail_to_alerts(&rules(), "", raw.as_bytes(), now()).unwrap();
            assert_eq!(a[0].status, AlertStatus::Resolved, "{subject}");
        }
    }

    #[test]
    fn gbk_and_gb2312_subjects_and_bodies_are_decoded() {
        let raw = "From: zabbix@zabbix.example\r\n\
                   Subject: =?GB2312?B?yv2+3b/iway908r9uf243yBvbiBkYi0wMw==?=\r\n\
                   Content-Type: text/plain; charset=gbk\r\n\
                   Content-Transfer-Encoding: base64\r\n\r\n\
                   way908r9IDk4MKOs49DWtSA4MDChow==\r\n";
        let a = mail_to_alerts(&rules(), "", raw.as_bytes(), now()).unwrap();
        assert_eq!(a[0].annotations["summary"], "数据库连接数过高 on db-03");
        assert_eq!(a[0].annotations["description"], "连接数 980，阈值 800。");
        assert_eq!(a[0].labels["host"], "db-03");
    }

    #[test]
    fn counters_times_and_status_words_do_not_change_the_fingerprint_but_hosts_do() {
        let r = Regex::new(DEFAULT_RESOLVE_SUBJECT).unwrap();
        let n = |s: &str| normalize_subject(s, &r);
        assert_eq!(
            n("PROBLEM: Disk /data 95% full on db-01 (event #18732) at 2026-03-02 09:00:00"),
            n("Resolved in 5m 3s: Disk /data 12% full on db-01 (event #18790) at 2026-03-02 09:05:03"),
        );
        assert_eq!(
            n("** PROBLEM Service Alert: web-01/HTTP is CRITICAL **"),
            n("** RECOVERY Service Alert: web-01/HTTP is OK **"),
        );
        assert_eq!(
            n("【故障】交易库连接数过高 当前值:980 主机 10.0.0.12"),
            n("【恢复】交易库连接数过高 当前值：45 主机 10.0.0.12"),
        );
        assert_eq!(n("当前值45%"), n("当前值97%"));
        assert_ne!(n("Disk full on db-01"), n("Disk full on db-02"));
        assert_ne!(n("Ping loss 10.0.0.1"), n("Ping loss 10.0.0.2"));
        assert_eq!(n("Disk full on db-01"), "disk full on db-01");
    }

    #[test]
    fn a_bogus_or_future_date_header_falls_back_to_now() {
        let raw = b"Subject: x\r\nDate: Fri, 01 Jan 2100 00:00:00 +0000\r\n\r\n";
        assert_eq!(
            mail_to_alerts(&rules(), "", raw, now()).unwrap()[0].starts_at,
            now()
        );
        let raw = b"Subject: x\r\nDate: yesterday-ish\r\n\r\n";
        assert_eq!(
            mail_to_alerts(&rules(), "", raw, now()).unwrap()[0].starts_at,
            now()
        );
    }

    #[test]
    fn a_message_without_headers_is_unreadable() {
        assert_eq!(
            mail_to_alerts(&rules(), "", b"", now()),
            Err(MailError::Unreadable)
        );
    }

    #[test]
    fn the_config_section_has_defaults_and_refuses_unknown_keys() {
        let c: EmailConfig = toml::from_str("").unwrap();
        assert_eq!(c, EmailConfig::default());
        assert_eq!(c.listen, None);
        assert_eq!(c.max_message_bytes, 1_048_576);
        assert!(validate(&c).is_ok());
        assert!(toml::from_str::<EmailConfig>("lisen = \"x\"").is_err());
        assert!(toml::from_str::<EmailConfig>("[[rules]]\nsubjet = \"x\"").is_err());
        assert!(validate(&config()).is_ok());
    }

    #[test]
    fn config_errors_name_the_key() {
        let key = |c: &EmailConfig| validate(c).unwrap_err().0;
        let mut c = config();
        c.listen = Some("localhost".into());
        assert_eq!(key(&c), "alerts.email.listen");
        let mut c = config();
        c.rules[1].body = "(unclosed".into();
        assert_eq!(key(&c), "alerts.email.rules[1].body");
        let mut c = config();
        c.rules[0].resolve_subject = Some("[".into());
        assert_eq!(key(&c), "alerts.email.rules[0].resolve_subject");
        let mut c = config();
        c.resolve_subject = "(?P<".into();
        assert_eq!(key(&c), "alerts.email.resolve_subject");
        let mut c = config();
        c.allowed_senders = vec!["zabbix".into()];
        assert_eq!(key(&c), "alerts.email.allowed_senders[0]");
        let mut c = config();
        c.max_message_bytes = 0;
        assert_eq!(key(&c), "alerts.email.max_message_bytes");
        let mut c = config();
        c.idle_timeout = Dur::secs(0);
        assert_eq!(key(&c), "alerts.email.idle_timeout");
    }
}
