//! warroom: the binary's library half — configuration, adapters and wiring.
//!
//! Layout:
//! - [`config`]: TOML + env, validated with file/line/key errors.
//! - [`app`]: start-up, the engine thread, the outbox dispatcher, shutdown.
//! - [`skill_context`]: the skills' read-only view of the bot (store, catalog, schedules, knowledge).
//! - [`audit_chain`]: the audit trail's HMAC hash chain and its verification.
//! - [`assistant`]: the engine's retrieval work: `/ask` answers, similar incidents, history indexing.
//! - [`store_sled`]: the `Store` port on sled (the only file that knows the layout).
//! - [`console`]: the console chat adapter (the embedded default).
//! - [`discord`]: the Discord chat adapter (serenity + poise).
//! - [`http`]: axum server: health, metrics, incident API.
//! - [`render`]: messages → text through the templates in `prompts/`.
//! - [`webhook`]: the outbound paging webhook (phone/SMS gateways).
//! - [`errors`]: the one place failures become replies.
//! - [`metrics`]: Prometheus counters.
//! - [`oncall_config`]: calendar, schedules, escalation policies, paging webhook config.
//! - [`sensor`]: host snapshots from `/proc` and allow-listed files (change perception factors).
//! - [`plan_import`]: change plans from CSV (Excel) and YAML, with source lines.

pub mod alert_intake;
pub mod alert_sink;
pub mod alerts_cli;
pub mod alerts_config;
pub mod app;
pub mod assistant;
pub mod audit_chain;
pub mod audit_cli;
pub mod catalog_csv;
pub mod config;
pub mod console;
pub mod discord;
pub mod errors;
pub mod http;
pub mod http_changes;
pub mod http_knowledge;
pub mod knowledge_cli;
pub mod metrics;
pub mod oncall_config;
pub mod plan_import;
pub mod reload;
pub mod render;
pub mod sensor;
pub mod sensor_cli;
pub mod skill_context;
pub mod smtp;
pub mod store_sled;
pub mod webhook;
