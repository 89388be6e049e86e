//! `[discord]` configuration.

use serde::Deserialize;

/// `[discord]`: present means the Discord adapter runs (and is the primary chat adapter).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DiscordConfig {
    /// Environment variable holding the bot token.
    #[serde(default = "default_token_env")]
    pub token_env: String,
    /// The guild (server) war rooms are created in; slash commands are registered there.
    pub guild_id: u64,
}

fn default_token_env() -> String {
    "DISCORD_TOKEN".into()
}

impl DiscordConfig {
    /// Checks values serde cannot; returns the offending key (under `discord.`) and why.
    ///
    /// # Errors
    /// `(key, message)`.
    pub fn validate(&self) -> Result<(), (String, String)> {
        if self.guild_id == 0 {
            return Err(("guild_id".into(), "must be a guild id".into()));
        }
        Ok(())
    }
}
