//! Configuration: one TOML file plus environment variables for secrets.
//!
//! Two stages (as in ripgrep): [`RawConfig`] is what serde reads, with unknown keys
//! refused; [`Config::from_toml`] validates it into typed values. Every error names
//! the file, the line and the key.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use warroom_core::engine::EngineConfig;
use warroom_core::incident::{ChannelRef, RoleDef, Roles, Severity};
use warroom_core::rbac::{Permission, Rbac};
use warroom_core::Tz;

/// The configuration used when no file is given: demo services, console on, HTTP on loopback.
pub const EMBEDDED_DEFAULT: &str = include_str!("../../../deploy/warroom.example.toml");

/// A configuration error, located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// File it is in (`<embedded>` for the built-in default).
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// Dotted key (`http.addr`, `services[2].name`).
    pub key: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
        }
        // A file that cannot be read or parsed has no key to name.
        if !self.key.is_empty() {
            write!(f, ": key `{}`", self.key)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Interface language of chat text and cards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    /// English.
    En,
    /// 中文.
    Zh,
}

impl Lang {
    /// Template folder name.
    pub fn code(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::Zh => "zh",
        }
    }
}

/// The file as written.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RawConfig {
    /// `[general]`
    pub general: RawGeneral,
    /// `[http]`
    pub http: RawHttp,
    /// `[console]`
    pub console: RawConsole,
    /// `[severity_names]`: P1 = "Critical" …
    pub severity_names: BTreeMap<String, String>,
    /// `[[roles]]`: custom incident roles.
    pub roles: Vec<RoleDef>,
    /// `[rbac]`
    pub rbac: Option<RawRbac>,
    /// `[[services]]`
    pub services: Vec<Service>,
    /// `[discord]`
    pub discord: Option<crate::discord::DiscordConfig>,
    /// `[calendar]`
    pub calendar: crate::oncall_config::RawCalendar,
    /// `[oncall]`
    pub oncall: crate::oncall_config::RawOncall,
    /// `[[schedules]]`
    pub schedules: Vec<crate::oncall_config::RawSchedule>,
    /// `[[escalation_policies]]`
    pub escalation_policies: Vec<crate::oncall_config::RawPolicy>,
    /// `[notify]`
    pub notify: crate::oncall_config::RawNotify,
    /// `[tasks]`
    pub tasks: RawTasks,
    /// `[changes]`
    pub changes: RawChanges,
    /// `[alerts]` (validated by [`crate::alerts_config::AlertsConfig`]).
    pub alerts: Option<toml::Value>,
    /// `[knowledge]`: runbook retrieval (index, embedder, sources, abstention).
    pub knowledge: warroom_knowledge::KnowledgeConfig,
    /// `[llm]`: an OpenAI-compatible model; none means the bot runs without one.
    pub llm: Option<warroom_skills::LlmConfig>,
    /// `[mask]`: what is masked before anything reaches the model.
    pub mask: warroom_skills::MaskConfig,
    /// `[audit]`: the audit trail's signing key.
    pub audit: AuditConfig,
}

/// `[audit]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// Environment variable holding the HMAC key of the audit chain. Unset: a random key
    /// is created in `<data_dir>/audit-key` (mode 0600) on first start.
    pub key_env: Option<String>,
}

/// `[changes]`: change events, the change gate and host snapshots.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawChanges {
    /// `adapter:channel-id` where gate decisions are asked for (default: the tasks channel).
    pub channel: Option<String>,
    /// Largest snapshot body accepted by `POST /api/snapshots`.
    pub snapshot_limit_bytes: usize,
    /// `[changes.gate]`: freeze windows, risk and blast-radius rules.
    pub gate: warroom_core::changes::GateRules,
}

impl Default for RawChanges {
    fn default() -> Self {
        Self {
            channel: None,
            snapshot_limit_bytes: 16 * 1024 * 1024,
            gate: warroom_core::changes::GateRules::default(),
        }
    }
}

/// `[tasks]`: reminders and overdue escalation of change plans and action items.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawTasks {
    /// Minutes after a window ends before a task counts as overdue.
    pub grace_minutes: u32,
    /// A team gets at most one new digest message per this many minutes (changes edit it).
    pub digest_interval_minutes: u32,
    /// Minutes late after which the plan's coordinator is told.
    pub coordinator_after_minutes: u32,
    /// Critical-path tasks go to the coordinator as soon as they are overdue.
    pub critical_immediate: bool,
    /// Minutes before a window opens that its owner is reminded.
    pub reminder_lead_minutes: u32,
    /// `adapter:channel-id` for plans that name no channel.
    pub default_channel: String,
}

impl Default for RawTasks {
    fn default() -> Self {
        Self {
            grace_minutes: 5,
            digest_interval_minutes: 30,
            coordinator_after_minutes: 30,
            critical_immediate: true,
            reminder_lead_minutes: 10,
            default_channel: "console:console".into(),
        }
    }
}

/// `[general]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawGeneral {
    /// `en` or `zh`.
    pub language: Lang,
    /// IANA zone, e.g. `Asia/Shanghai`.
    pub timezone: String,
    /// Where the store lives.
    pub data_dir: PathBuf,
    /// `P1`…`P4`.
    pub default_severity: String,
    /// Channel that also receives `/status` updates, as `adapter:channel-id` (e.g. `discord:1234`).
    pub stakeholders_channel: Option<String>,
}

impl Default for RawGeneral {
    fn default() -> Self {
        Self {
            language: Lang::En,
            timezone: "Asia/Shanghai".into(),
            data_dir: "warroom-data".into(),
            default_severity: "P3".into(),
            stakeholders_channel: None,
        }
    }
}

/// `[http]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawHttp {
    /// Listen address.
    pub addr: String,
    /// Environment variable holding the API bearer token.
    pub token_env: String,
    /// Largest request body.
    pub body_limit_bytes: usize,
}

impl Default for RawHttp {
    fn default() -> Self {
        Self {
            addr: "127.0.0.1:8080".into(),
            token_env: "WARROOM_API_TOKEN".into(),
            body_limit_bytes: 64 * 1024,
        }
    }
}

/// `[console]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawConsole {
    /// Read commands from stdin.
    pub enabled: bool,
    /// Who types at the console (defaults to `$USER`).
    pub user: Option<String>,
}

impl Default for RawConsole {
    fn default() -> Self {
        Self {
            enabled: true,
            user: None,
        }
    }
}

/// `[rbac]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRbac {
    /// Access roles of unlisted users; `["responder"]` when omitted, `[]` to deny them everything.
    #[serde(default)]
    pub default_roles: Option<Vec<String>>,
    /// Access role → permissions.
    #[serde(default)]
    pub roles: BTreeMap<String, Vec<String>>,
    /// User → access roles.
    #[serde(default)]
    pub users: BTreeMap<String, Vec<String>>,
}

/// A service of the catalog: `[[services]]` (see `warroom_core::catalog::Service`).
pub use warroom_core::catalog::Service;

/// Validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Language of cards and replies.
    pub language: Lang,
    /// Time zone for display and typed times.
    pub tz: Tz,
    /// Store directory.
    pub data_dir: PathBuf,
    /// HTTP listen address.
    pub http_addr: SocketAddr,
    /// Env var with the API token.
    pub token_env: String,
    /// Request body limit.
    pub body_limit_bytes: usize,
    /// Console on?
    pub console_enabled: bool,
    /// Console user.
    pub console_user: String,
    /// Severity display names (P1 → name).
    pub severity_names: BTreeMap<String, String>,
    /// What the engine needs.
    pub engine: EngineConfig,
    /// Outbound paging webhook.
    pub webhook: Option<crate::oncall_config::WebhookConfig>,
    /// The Discord adapter, when configured.
    pub discord: Option<crate::discord::DiscordConfig>,
    /// Largest snapshot body.
    pub snapshot_limit_bytes: usize,
    /// The alert intake, when on.
    pub alerts: Option<crate::alerts_config::AlertsConfig>,
    /// Runbook retrieval.
    pub knowledge: warroom_knowledge::KnowledgeConfig,
    /// The language model, when configured (`[llm]` with a `model`).
    pub llm: Option<warroom_skills::LlmConfig>,
    /// Masking before the model.
    pub mask: warroom_skills::MaskConfig,
    /// The audit chain's key source.
    pub audit: AuditConfig,
    /// SHA-256 of the configuration text (recorded in the audit trail at start).
    pub digest: String,
}

/// One step of a key path.
enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

/// Finds the line of `path` in `text` (the value's line; the table's line for a missing key).
fn line_of(text: &str, path: &[Seg<'_>]) -> Option<usize> {
    let doc = toml_edit::ImDocument::parse(text).ok()?;
    let mut item: &toml_edit::Item = doc.as_item();
    let mut span = None;
    for seg in path {
        let next = match seg {
            Seg::Key(k) => item.get(*k),
            Seg::Index(i) => item.get(*i),
        };
        let Some(n) = next else { break };
        item = n;
        if let Some(s) = n.span() {
            span = Some(s);
        }
    }
    let start = span?.start;
    Some(text[..start.min(text.len())].matches('\n').count() + 1)
}

fn path_of(key: &str) -> Vec<Seg<'_>> {
    let mut out = Vec::new();
    for part in key.split('.') {
        match part.split_once('[') {
            Some((name, rest)) => {
                if !name.is_empty() {
                    out.push(Seg::Key(name));
                }
                for idx in rest.split('[') {
                    if let Ok(i) = idx.trim_end_matches(']').parse() {
                        out.push(Seg::Index(i));
                    }
                }
            }
            None => out.push(Seg::Key(part)),
        }
    }
    out
}

impl Config {
    /// Reads and validates `path`.
    ///
    /// # Errors
    /// [`ConfigError`] naming file, line and key.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: file.clone(),
            line: None,
            key: String::new(),
            message: format!("cannot read: {e}"),
        })?;
        Self::from_toml(&text, &file)
    }

    /// The built-in default (demo) configuration.
    ///
    /// # Errors
    /// Only if the embedded file is broken (a test guards it).
    pub fn embedded() -> Result<Self, ConfigError> {
        Self::from_toml(EMBEDDED_DEFAULT, "<embedded>")
    }

    /// Parses and validates TOML `text`; `file` names it in errors.
    ///
    /// # Errors
    /// [`ConfigError`] naming file, line and key.
    pub fn from_toml(text: &str, file: &str) -> Result<Self, ConfigError> {
        let raw: RawConfig = serde_path_to_error::deserialize(toml::Deserializer::new(text))
            .map_err(|e| {
                let key = e.path().to_string();
                let inner = e.into_inner();
                let line = inner
                    .span()
                    .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
                ConfigError {
                    file: file.into(),
                    line,
                    key: if key == "." { String::new() } else { key },
                    message: inner.message().trim().to_string(),
                }
            })?;
        let err = |key: &str, message: String| ConfigError {
            file: file.into(),
            line: line_of(text, &path_of(key)),
            key: key.into(),
            message,
        };

        let tz: Tz = raw.general.timezone.parse().map_err(|_| {
            err(
                "general.timezone",
                format!(
                    "unknown time zone `{}` (use an IANA name such as Asia/Shanghai)",
                    raw.general.timezone
                ),
            )
        })?;
        let default_severity = Severity::parse(&raw.general.default_severity)
            .map_err(|e| err("general.default_severity", e.to_string()))?;
        let http_addr: SocketAddr = raw.http.addr.parse().map_err(|_| {
            err(
                "http.addr",
                format!(
                    "`{}` is not an address such as 127.0.0.1:8080",
                    raw.http.addr
                ),
            )
        })?;
        if raw.http.body_limit_bytes < 1024 {
            return Err(err("http.body_limit_bytes", "must be at least 1024".into()));
        }
        if raw.http.token_env.is_empty() {
            return Err(err(
                "http.token_env",
                "must name an environment variable".into(),
            ));
        }
        for code in raw.severity_names.keys() {
            if Severity::parse(code)
                .map(|s| s.code() != *code)
                .unwrap_or(true)
            {
                return Err(err(
                    &format!("severity_names.{code}"),
                    "keys must be P1, P2, P3 or P4".into(),
                ));
            }
        }
        for (i, r) in raw.roles.iter().enumerate() {
            if r.key.trim().is_empty() || r.key.contains(char::is_whitespace) {
                return Err(err(&format!("roles[{i}].key"), "must be one word".into()));
            }
        }
        let roles = Roles::with_custom(raw.roles.clone()).map_err(|dup| {
            let i = raw
                .roles
                .iter()
                .position(|r| r.key == dup || r.aliases.contains(&dup))
                .unwrap_or(0);
            err(
                &format!("roles[{i}]"),
                format!("`{dup}` is already the name of another role"),
            )
        })?;
        let rbac = match raw.rbac {
            None => Rbac::default(),
            Some(r) => {
                let mut roles_map = Rbac::default().roles;
                for (name, perms) in &r.roles {
                    let mut set = std::collections::BTreeSet::new();
                    for p in perms {
                        set.insert(Permission::parse(p).ok_or_else(|| {
                            err(&format!("rbac.roles.{name}"), format!("unknown permission `{p}` (known: view, declare, update, assign, resolve, close, approve, override)"))
                        })?);
                    }
                    roles_map.insert(name.clone(), set);
                }
                for (user, rs) in &r.users {
                    if let Some(bad) = rs.iter().find(|x| !roles_map.contains_key(*x)) {
                        return Err(err(
                            &format!("rbac.users.{user}"),
                            format!("unknown access role `{bad}`"),
                        ));
                    }
                }
                let default_roles = r
                    .default_roles
                    .unwrap_or_else(|| Rbac::default().default_roles);
                if let Some(bad) = default_roles.iter().find(|x| !roles_map.contains_key(*x)) {
                    return Err(err(
                        "rbac.default_roles",
                        format!("unknown access role `{bad}`"),
                    ));
                }
                Rbac {
                    roles: roles_map,
                    users: r.users,
                    default_roles,
                }
            }
        };
        let catalog =
            warroom_core::catalog::Catalog::new(raw.services.clone()).map_err(|errors| {
                let first = &errors[0];
                let name = match first {
                    warroom_core::catalog::CatalogError::Duplicate { name }
                    | warroom_core::catalog::CatalogError::BadName { name } => name.clone(),
                    warroom_core::catalog::CatalogError::UnknownDependency { service, .. } => {
                        service.clone()
                    }
                };
                // A duplicate points at its second definition.
                let positions: Vec<usize> = raw
                    .services
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| s.name.trim().eq_ignore_ascii_case(name.trim()))
                    .map(|(i, _)| i)
                    .collect();
                let i = match first {
                    warroom_core::catalog::CatalogError::Duplicate { .. } => {
                        positions.get(1).or(positions.first()).copied().unwrap_or(0)
                    }
                    _ => positions.first().copied().unwrap_or(0),
                };
                let field = if matches!(
                    first,
                    warroom_core::catalog::CatalogError::UnknownDependency { .. }
                ) {
                    "depends_on"
                } else {
                    "name"
                };
                err(&format!("services[{i}].{field}"), first.to_string())
            })?;
        let mut calendars = warroom_core::calendar::Calendars::builtin();
        let base = Path::new(file).parent().unwrap_or(Path::new("."));
        for (i, f) in raw.calendar.extra_files.iter().enumerate() {
            let key = format!("calendar.extra_files[{i}]");
            let path = base.join(f);
            let text = std::fs::read_to_string(&path)
                .map_err(|e| err(&key, format!("cannot read {}: {e}", path.display())))?;
            calendars
                .add_toml(&text)
                .map_err(|e| err(&key, format!("{}: {e}", path.display())))?;
        }
        let market = match calendars.get(&raw.calendar.default_market) {
            Some(c) => c.code().to_string(),
            None => {
                return Err(err(
                    "calendar.default_market",
                    format!(
                        "unknown market `{}` (known: {})",
                        raw.calendar.default_market,
                        calendars.markets().join(", ")
                    ),
                ))
            }
        };
        let schedules = crate::oncall_config::schedules(&raw.schedules, tz, &calendars)
            .map_err(|(k, m)| err(&k, m))?;
        let policies =
            crate::oncall_config::policies(&raw.escalation_policies, &schedules, &calendars)
                .map_err(|(k, m)| err(&k, m))?;
        if let Some(p) = &raw.oncall.default_policy {
            if !policies.contains_key(p) {
                return Err(err(
                    "oncall.default_policy",
                    format!("unknown escalation policy `{p}`"),
                ));
            }
        }
        for (i, svc) in raw.services.iter().enumerate() {
            if let Some(p) = svc
                .escalation_policy
                .as_ref()
                .filter(|p| !policies.contains_key(*p))
            {
                return Err(err(
                    &format!("services[{i}].escalation_policy"),
                    format!("unknown escalation policy `{p}`"),
                ));
            }
            if let Some(s) = svc
                .schedule
                .as_ref()
                .filter(|s| !schedules.contains_key(*s))
            {
                return Err(err(
                    &format!("services[{i}].schedule"),
                    format!("unknown schedule `{s}`"),
                ));
            }
        }
        if let Some(w) = &raw.notify.webhook {
            if !(w.url.starts_with("http://") || w.url.starts_with("https://")) {
                return Err(err(
                    "notify.webhook.url",
                    format!("`{}` is not an http(s) URL", w.url),
                ));
            }
            if w.timeout_ms == 0 {
                return Err(err("notify.webhook.timeout_ms", "must be above 0".into()));
            }
        }
        let channel = |key: &str, text: &str| {
            ChannelRef::parse(text).ok_or_else(|| {
                err(
                    key,
                    format!("`{text}` is not `adapter:channel-id` (e.g. discord:1234)"),
                )
            })
        };
        let stakeholders = raw
            .general
            .stakeholders_channel
            .as_deref()
            .map(|c| channel("general.stakeholders_channel", c))
            .transpose()?;
        if let Some(d) = &raw.discord {
            d.validate()
                .map_err(|(k, m)| err(&format!("discord.{k}"), m))?;
        }
        let task_channel = channel("tasks.default_channel", &raw.tasks.default_channel)?;
        let change_channel = raw
            .changes
            .channel
            .as_deref()
            .map(|c| channel("changes.channel", c))
            .transpose()?;
        if let Err(problems) = raw.changes.gate.validate(&calendars) {
            let first = problems.first().map(String::as_str).unwrap_or_default();
            let (key, message) = first.split_once(": ").unwrap_or(("changes.gate", first));
            return Err(err(key, message.to_string()));
        }
        let knowledge = raw.knowledge;
        if knowledge.embedder.kind == warroom_knowledge::EmbedderKind::Openai
            && knowledge.embedder.dim.is_none()
        {
            return Err(err(
                "knowledge.embedder.dim",
                "the openai embedder needs the model's vector dimension (e.g. dim = 384)".into(),
            ));
        }
        if !(0.0..=1.0).contains(&knowledge.abstain_threshold) {
            return Err(err(
                "knowledge.abstain_threshold",
                format!(
                    "must be between 0 and 1, not {}",
                    knowledge.abstain_threshold
                ),
            ));
        }
        let llm = match raw.llm {
            Some(l) if l.model.trim().is_empty() => {
                return Err(err(
                    "llm.model",
                    "name the model the server serves (e.g. qwen2.5-coder-1.5b)".into(),
                ))
            }
            Some(l)
                if !(l.base_url.starts_with("http://") || l.base_url.starts_with("https://")) =>
            {
                return Err(err(
                    "llm.base_url",
                    format!("not an http(s) URL: {:?}", l.base_url),
                ))
            }
            Some(l) if l.max_rounds == 0 => {
                return Err(err("llm.max_rounds", "must be at least 1".into()))
            }
            other => other,
        };
        if let Err(e) = warroom_skills::Masker::new(&raw.mask) {
            return Err(err(&format!("mask.{}", e.key), e.message.clone()));
        }
        let alerts = match raw.alerts.clone() {
            None => Some(crate::alerts_config::AlertsConfig::default()),
            Some(t) => {
                let a = crate::alerts_config::AlertsConfig::from_toml(t)
                    .map_err(|e| err(&format!("alerts.{}", e.key), e.message.clone()))?;
                a.enabled.then_some(a)
            }
        };
        let alert_channel = alerts
            .as_ref()
            .and_then(|a| a.channel.as_deref())
            .map(|c| channel("alerts.channel", c))
            .transpose()?;
        if raw.changes.snapshot_limit_bytes < 64 * 1024 {
            return Err(err(
                "changes.snapshot_limit_bytes",
                "must be at least 65536".into(),
            ));
        }
        let minutes = |m: u32| chrono::Duration::minutes(i64::from(m));
        let task_policy = warroom_core::tasks::EscalationPolicy {
            grace: minutes(raw.tasks.grace_minutes),
            digest_interval: minutes(raw.tasks.digest_interval_minutes),
            coordinator_after: minutes(raw.tasks.coordinator_after_minutes),
            critical_immediate: raw.tasks.critical_immediate,
        };
        let console_user = raw
            .console
            .user
            .or_else(|| std::env::var("USER").ok())
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "operator".into());
        Ok(Self {
            language: raw.general.language,
            tz,
            data_dir: raw.general.data_dir,
            http_addr,
            token_env: raw.http.token_env,
            body_limit_bytes: raw.http.body_limit_bytes,
            console_enabled: raw.console.enabled,
            console_user,
            severity_names: raw.severity_names,
            engine: EngineConfig {
                stakeholders,
                tz,
                default_severity,
                roles,
                rbac,
                catalog,
                calendars: std::sync::Arc::new(calendars),
                market,
                schedules,
                policies,
                default_policy: raw.oncall.default_policy,
                webhook: raw.notify.webhook.is_some(),
                task_policy,
                reminder_lead: minutes(raw.tasks.reminder_lead_minutes),
                task_channel,
                gate: raw.changes.gate,
                change_channel,
                alerts: alerts.as_ref().map(|a| {
                    let mut p = a.pipeline_config(&raw.general.timezone);
                    p.chinese_titles = raw.general.language == Lang::Zh;
                    p
                }),
                alert_channel,
                proposal_ttl: minutes(llm.as_ref().map_or(30, |l: &warroom_skills::LlmConfig| {
                    l.proposal_ttl_minutes.max(1)
                })),
                follow_up_title: match raw.general.language {
                    Lang::Zh => warroom_core::engine::FOLLOW_UP_TITLE_ZH,
                    _ => warroom_core::engine::FOLLOW_UP_TITLE_EN,
                }
                .into(),
            },
            webhook: raw.notify.webhook,
            discord: raw.discord,
            snapshot_limit_bytes: raw.changes.snapshot_limit_bytes,
            alerts,
            knowledge,
            llm,
            mask: raw.mask,
            audit: raw.audit,
            digest: crate::audit_chain::hex(&<sha2::Sha256 as sha2::Digest>::digest(
                text.as_bytes(),
            )),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_default_is_valid() {
        let c = Config::embedded().unwrap();
        assert!(!c.engine.catalog.is_empty());
        assert!(!c.engine.schedules.is_empty() && !c.engine.policies.is_empty());
        assert_eq!(c.http_addr.ip().to_string(), "127.0.0.1");
    }

    #[test]
    fn a_bad_value_is_reported_with_file_line_and_key() {
        let text = "[general]\nlanguage = \"en\"\ntimezone = \"Mars/Olympus\"\n";
        let e = Config::from_toml(text, "w.toml").unwrap_err();
        assert_eq!((e.line, e.key.as_str()), (Some(3), "general.timezone"));
        assert!(
            e.to_string()
                .starts_with("w.toml:3: key `general.timezone`"),
            "{e}"
        );
    }

    #[test]
    fn a_wrong_type_or_unknown_key_is_reported_with_its_line() {
        let e = Config::from_toml("[http]\n\nbody_limit_bytes = \"big\"\n", "w.toml").unwrap_err();
        assert_eq!((e.line, e.key.as_str()), (Some(3), "http.body_limit_bytes"));
        let e =
            Config::from_toml("[general]\nlanguage = \"en\"\ncolour = 1\n", "w.toml").unwrap_err();
        assert_eq!(e.line, Some(3));
        assert!(e.message.contains("colour"), "{e}");
        let e = Config::from_toml("[general]\nlanguage = \"fr\"\n", "w.toml").unwrap_err();
        assert_eq!((e.line, e.key.as_str()), (Some(2), "general.language"));
    }

    #[test]
    fn a_knowledge_table_is_read_and_checked_with_its_line() {
        let c = Config::from_toml(
            "[knowledge]\nsources = [\"runbooks\"]\nlink_base = \"https://git/rb/\"\n",
            "w.toml",
        )
        .unwrap();
        assert_eq!(
            c.knowledge.sources,
            vec![std::path::PathBuf::from("runbooks")]
        );
        let e = Config::from_toml(
            "[knowledge]\nk = 3\n[knowledge.embedder]\nkind = \"openai\"\n",
            "w.toml",
        )
        .unwrap_err();
        assert_eq!(e.key, "knowledge.embedder.dim", "{e}");
        let e = Config::from_toml("[knowledge]\nsorces = []\n", "w.toml").unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");
    }

    #[test]
    fn config_errors_read_as_one_line_and_name_a_key_only_when_there_is_one() {
        let e = Config::from_toml("[alerts.route]\ngroup_wait = \"30 parsecs\"\n", "w.toml")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "w.toml:2: key `alerts.route.group_wait`: `30 parsecs` is not a duration (use 30s, 5m, 1h30m or 2d)"
        );
        let e = Config::from_toml("[[services]]\nname = \"a\"\ntier = 1\ntier = 2\n", "w.toml")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "w.toml:4: duplicate key `tier` in table `services`"
        );
    }

    #[test]
    fn a_bad_alert_mail_setting_is_reported_with_file_line_and_key() {
        let text = "[alerts.email]\nlisten = \"127.0.0.1:2525\"\n\n[[alerts.email.rules]]\nsubject = '(unclosed'\n";
        let e = Config::from_toml(text, "w.toml").unwrap_err();
        assert_eq!(
            (e.line, e.key.as_str()),
            (Some(5), "alerts.email.rules[0].subject")
        );
        assert!(e.message.contains("regular expression"), "{e}");
        let e = Config::from_toml("[alerts.email]\nlisten = \"nowhere\"\n", "w.toml").unwrap_err();
        assert_eq!((e.line, e.key.as_str()), (Some(2), "alerts.email.listen"));
        let e = Config::from_toml("[alerts.email]\n\nlisen = \"127.0.0.1:25\"\n", "w.toml")
            .unwrap_err();
        assert_eq!(e.line, Some(3), "{e}");
        assert!(e.message.contains("lisen"), "{e}");
    }

    #[test]
    fn the_commented_out_alerts_example_in_the_deploy_file_reads_when_uncommented() {
        let from = EMBEDDED_DEFAULT
            .find("# [alerts]\n")
            .expect("an [alerts] example");
        let text: String = EMBEDDED_DEFAULT[from..]
            .lines()
            .filter_map(|l| l.strip_prefix("# "))
            .filter(|l| {
                l.starts_with('[')
                    || l.split_once(" = ").is_some_and(|(k, _)| {
                        !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                    })
            })
            .map(|l| format!("{l}\n"))
            .collect();
        let c = Config::from_toml(&text, "example").unwrap_or_else(|e| panic!("{e}\n{text}"));
        let email = c.alerts.expect("alerts on").email;
        assert_eq!(email.listen.as_deref(), Some("127.0.0.1:2525"));
        assert_eq!(email.rules.len(), 1);
    }

    #[test]
    fn an_alert_mail_listener_is_read_from_the_file() {
        let c = Config::from_toml("[alerts.email]\nlisten = \"127.0.0.1:0\"\n", "w.toml").unwrap();
        let email = &c.alerts.expect("alerts on").email;
        assert_eq!(email.listen.as_deref(), Some("127.0.0.1:0"));
        assert!(Config::embedded()
            .unwrap()
            .alerts
            .unwrap()
            .email
            .listen
            .is_none());
    }

    #[test]
    fn errors_inside_arrays_of_tables_point_at_the_entry() {
        let text = "[[services]]\nname = \"a\"\n\n[[services]]\nname = \"a\"\n";
        let e = Config::from_toml(text, "w.toml").unwrap_err();
        assert_eq!((e.line, e.key.as_str()), (Some(5), "services[1].name"));
        let e =
            Config::from_toml("[rbac.roles]\nops = [\"view\", \"fly\"]\n", "w.toml").unwrap_err();
        assert_eq!((e.line, e.key.as_str()), (Some(2), "rbac.roles.ops"));
    }
}
