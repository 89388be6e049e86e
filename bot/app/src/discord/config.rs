//! `[discord]` configuration. Secrets are never in the file: the bot token is read
//! from the environment variable named by `token_env`.

use std::collections::BTreeMap;

use serde::Deserialize;
use warroom_core::incident::Severity;

/// `[discord]`: present means the Discord adapter runs (and is the primary chat adapter).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DiscordConfig {
    /// Environment variable holding the bot token.
    #[serde(default = "default_token_env")]
    pub token_env: String,
    /// The application id; learnt from the gateway's READY when absent.
    #[serde(default)]
    pub application_id: Option<u64>,
    /// The guild (server) war rooms are created in; slash commands are registered there.
    pub guild_id: u64,
    /// Category new war room channels are created under (top level when absent).
    #[serde(default)]
    pub war_room_category: Option<u64>,
    /// Category closed incidents' war rooms are moved to (left in place when absent).
    #[serde(default)]
    pub archive_category: Option<u64>,
    /// Severities whose war rooms are private: only the bot and the responder role see them.
    #[serde(default = "default_private_severities")]
    pub private_severities: Vec<String>,
    /// Role that may see private war rooms.
    #[serde(default)]
    pub responder_role_id: Option<u64>,
    /// Reacting with this emoji copies a message into the incident timeline.
    #[serde(default = "default_pin_emoji")]
    pub pin_emoji: String,
    /// Copy every (non-command) war-room message into the timeline.
    #[serde(default)]
    pub capture_all: bool,
    /// Base URL of the Discord API host, e.g. `http://127.0.0.1:PORT` for a fake. The
    /// gateway URL is then taken from `GET /gateway` on that host, as usual.
    #[serde(default)]
    pub api_base: Option<String>,
    /// Timeout of every Discord HTTP request, in milliseconds.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// `[discord.users]`: on-call names → Discord user ids, for pages by DM and mentions.
    #[serde(default)]
    pub users: BTreeMap<String, u64>,
}

fn default_token_env() -> String {
    "DISCORD_TOKEN".into()
}

fn default_private_severities() -> Vec<String> {
    vec!["P1".into()]
}

fn default_pin_emoji() -> String {
    "📌".into()
}

fn default_timeout_ms() -> u64 {
    10_000
}

impl DiscordConfig {
    /// Checks values serde cannot; returns the offending key (under `discord.`) and why.
    ///
    /// # Errors
    /// `(key, message)`.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let bad = |k: &str, m: &str| Err((k.to_string(), m.to_string()));
        if self.token_env.trim().is_empty() {
            return bad("token_env", "must name an environment variable");
        }
        if self.guild_id == 0 {
            return bad("guild_id", "must be a guild id");
        }
        for (key, v) in [
            ("application_id", self.application_id),
            ("war_room_category", self.war_room_category),
            ("archive_category", self.archive_category),
            ("responder_role_id", self.responder_role_id),
        ] {
            if v == Some(0) {
                return bad(key, "must be a Discord id (a snowflake), not 0");
            }
        }
        for s in &self.private_severities {
            if Severity::parse(s).is_err() {
                return Err((
                    "private_severities".into(),
                    format!("`{s}` is not a severity (use P1, P2, P3 or P4)"),
                ));
            }
        }
        if self.pin_emoji.trim().is_empty() || self.pin_emoji.chars().count() > 64 {
            return bad("pin_emoji", "must be one emoji (e.g. \"📌\")");
        }
        if let Some(base) = &self.api_base {
            let ok = (base.starts_with("http://") || base.starts_with("https://"))
                && !base.contains(char::is_whitespace)
                && !base.contains('?');
            if !ok {
                return bad(
                    "api_base",
                    "must be an http(s) URL without a path, e.g. \"http://127.0.0.1:8081\"",
                );
            }
        }
        if let Some((name, _)) = self.users.iter().find(|(_, id)| **id == 0) {
            return Err((
                format!("users.{name}"),
                "must be a Discord user id (a snowflake), not 0".into(),
            ));
        }
        if !(100..=120_000).contains(&self.timeout_ms) {
            return bad("timeout_ms", "must be between 100 and 120000");
        }
        Ok(())
    }

    /// Whether war rooms of this severity are private.
    pub fn is_private(&self, severity: Severity) -> bool {
        self.private_severities
            .iter()
            .any(|s| Severity::parse(s).ok() == Some(severity))
    }

    /// The API host: `api_base` without a trailing slash, or Discord's.
    pub fn api_host(&self) -> String {
        self.api_base
            .as_deref()
            .map(|b| b.trim_end_matches('/').to_string())
            .unwrap_or_else(|| "https://discord.com".into())
    }
}
