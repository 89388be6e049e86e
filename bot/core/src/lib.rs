//! warroom-core: the domain of the warroom incident bot.
//!
//! It knows incidents, commands and the rules between them, and nothing of Discord,
//! sled, HTTP or LLMs. It does no I/O of its own: it reads the time from its
//! callers and reaches storage only through the [`ports::Store`] port.
//!
//! Layout:
//! - [`incident`]: the incident aggregate (id, severity, status, roles, milestones, timeline).
//! - [`command`]: the one chat command parser.
//! - [`engine`]: events in, actions out; writes one durable commit per event.
//! - [`event`]: events, actions and the language-neutral messages adapters render.
//! - [`rbac`]: who may do what.
//! - [`shared`]: engine-owned state that readers see as snapshots.
//! - [`assist`]: questions, similar incidents and history indexing handed to the assistant.
//! - [`alerts`]: alert noise reduction: normalize, dedup, group, inhibit, silence, correlate, declare.
//! - [`catalog`]: services, owners, dependencies (the CMDB view).
//! - [`oncall`]: schedules and escalation policies.
//! - [`tasks`]: change plans and action items: checks, moves, reminders, overdue digests.
//! - [`changes`]: change events, the change-defense gate, host snapshots and their diff.
//! - [`calendar`]: trading calendars (sessions, holidays, night sessions, trading time) per market.
//! - [`time`]: typed times (`at 14:05`).
//! - [`ports`]: traits adapters implement (`Store`, `Clock`).
#![warn(missing_docs)]

pub mod alerts;
pub mod assist;
pub mod audit;
pub mod calendar;
pub mod catalog;
pub mod changes;
pub mod command;
pub mod engine;
pub mod event;
pub mod incident;
pub mod oncall;
pub mod ports;
pub mod rbac;
pub mod shared;
pub mod tasks;
pub mod time;

pub use chrono_tz::Tz;
