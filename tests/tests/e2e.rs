//! The one integration-test binary. Modules by layer:
//! - `engine`: data-driven engine scenarios (events in, actions out) over the real sled store.
//! - `store`: the sled adapter: round trips, ids across reopen, conflicts, outbox order.
//! - `templates`: a snapshot per template and language.
//! - `binary`: the real `warroom` binary: console, SIGKILL durability, SIGTERM, config check.
//! - `http`: the HTTP API of the real binary.
//! - `plans`: change plans through the API: import errors with lines, task moves, durability.
//! - `alerts`: the webhook and mail sources, their auth and 4xx/5xx reasons, durability across SIGKILL.
//! - `changes`: the changes API, the gate and `warroom sensor` snapshots and diffs.
//! - `knowledge`: `/ask` with citations and abstention, the ingest and search API, similar incidents.
//! - `llm`: a fake OpenAI server: skills called by the model, grounded answers, masking, timeouts.
//! - `oncall`: catalog, on-call, iCal and calendar API; paging to chat and a webhook.

mod alerts;
mod binary;
mod changes;
mod discord;
mod engine;
mod http;
mod knowledge;
mod llm;
mod oncall;
mod plans;
mod store;
mod templates;
