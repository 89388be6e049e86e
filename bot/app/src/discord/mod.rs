//! The Discord chat adapter (serenity 0.12 + poise 0.7).
//!
//! - [`gateway`]: inbound. Messages, slash commands, 📌 reactions and card clicks become
//!   events for the engine (text through the one command parser).
//! - [`sink`]: outbound. Delivers outbox actions over REST: war room channels, the
//!   pinned card (edited in place), messages, archiving. 429/5xx/timeouts are retried by
//!   the outbox; every call has a timeout.
//! - [`card`]: channel names, the card's embed and components, reminder task buttons.
//! - [`import`]: `/plan import` from an attached CSV/YAML file.
//! - [`rest`]: the sink's REST client and its failure classification.
//!
//! With `api_base` set (a fake Discord in tests), serenity is pointed at it with
//! `HttpBuilder::proxy`, which serenity honours only with its ratelimiter disabled;
//! rate limits are then the outbox's business (it reads `retry_after` itself).

pub mod card;
pub mod config;
pub mod gateway;
pub mod import;
pub mod rest;
pub mod sink;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use poise::serenity_prelude as serenity;
use tokio::sync::watch;
use tracing::{info, warn};

pub use card::channel_name;
pub use config::DiscordConfig;
pub use sink::{DiscordSink, ADAPTER};

use crate::app::{ChatSink, Shared};

/// Gateway intents the adapter needs (MESSAGE_CONTENT is privileged: enable it in the
/// developer portal).
pub fn intents() -> serenity::GatewayIntents {
    serenity::GatewayIntents::GUILDS
        | serenity::GatewayIntents::GUILD_MESSAGES
        | serenity::GatewayIntents::MESSAGE_CONTENT
        | serenity::GatewayIntents::GUILD_MESSAGE_REACTIONS
}

/// Starts the gateway client and returns the outbound sink. The gateway connects (and
/// reconnects) in the background; the sink works as soon as REST does.
///
/// # Errors
/// Start-up failures (token missing, HTTP client), with context.
pub async fn start(
    shared: Arc<Shared>,
    cfg: DiscordConfig,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<Arc<dyn ChatSink>> {
    let token = std::env::var(&cfg.token_env)
        .ok()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .with_context(|| {
            format!(
                "the Discord bot token: environment variable {} is not set",
                cfg.token_env
            )
        })?;
    let timeout = Duration::from_millis(cfg.timeout_ms);
    // serenity's default client has no timeout; this one bounds every call, REST and sink.
    let client = reqwest::Client::builder()
        .use_rustls_tls()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .user_agent(concat!(
            "DiscordBot (https://github.com/warroom, ",
            env!("CARGO_PKG_VERSION"),
            ")"
        ))
        .build()
        .context("building the Discord HTTP client")?;
    let host = cfg.api_host();
    let mut http = serenity::HttpBuilder::new(&token).client(client.clone());
    if cfg.api_base.is_some() {
        // serenity only applies the proxy with its ratelimiter off (serenity#1739).
        http = http.proxy(host.clone()).ratelimiter_disabled(true);
    }
    if let Some(app) = cfg.application_id {
        http = http.application_id(serenity::ApplicationId::new(app));
    }
    let http = http.build();

    let state = Arc::new(sink::State::new(
        shared.clone(),
        cfg.clone(),
        rest::Rest::new(client, &host, &token),
    ));
    let guild = serenity::GuildId::new(cfg.guild_id);
    let data = state.clone();
    let framework = poise::Framework::builder()
        .options(poise::FrameworkOptions {
            commands: gateway::commands(&state.labels),
            event_handler: |fw, ev| Box::pin(gateway::on_event(fw, ev)),
            ..Default::default()
        })
        .initialize_owners(false)
        .setup(move |ctx, _ready, fw| {
            Box::pin(async move {
                // Registration is retried in the background: a Discord hiccup at start-up
                // must not leave the framework without its data.
                let http = ctx.http.clone();
                let commands = poise::builtins::create_application_commands(&fw.options().commands);
                tokio::spawn(async move {
                    let mut wait = Duration::from_millis(200);
                    for _ in 0..10 {
                        match guild.set_commands(&http, commands.clone()).await {
                            Ok(c) => {
                                info!(count = c.len(), %guild, "slash commands registered");
                                return;
                            }
                            Err(e) => warn!(error = %e, "cannot register slash commands; retrying"),
                        }
                        tokio::time::sleep(wait).await;
                        wait = (wait * 2).min(Duration::from_secs(30));
                    }
                });
                Ok(data)
            })
        })
        .build();
    let mut client = serenity::ClientBuilder::new_with_http(http, intents())
        .framework(framework)
        .await
        .context("building the Discord client")?;
    let shards = client.shard_manager.clone();
    tokio::spawn(async move {
        if let Err(e) = client.start().await {
            warn!(error = %e, "the Discord gateway client stopped");
        }
    });
    tokio::spawn(async move {
        let _ = stop.wait_for(|s| *s).await;
        shards.shutdown_all().await;
    });
    info!(guild = cfg.guild_id, api = %host, "Discord adapter started");
    Ok(Arc::new(DiscordSink::new(state)))
}
