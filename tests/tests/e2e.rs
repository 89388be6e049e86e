//! The one integration-test binary. Modules by layer:
//! - `engine`: data-driven engine scenarios (events in, actions out) over the real sled store.
//! - `store`: the sled adapter: round trips, ids across reopen, conflicts, outbox order.
//! - `templates`: a snapshot per template and language.
//! - `binary`: the real `warroom` binary: console, SIGKILL durability, SIGTERM, config check.
//! - `http`: the HTTP API of the real binary.
//! - `oncall`: catalog, on-call, iCal and calendar API; paging to chat and a webhook.

mod binary;
mod discord;
mod engine;
mod http;
mod oncall;
mod store;
mod templates;
