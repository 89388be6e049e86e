//! Alert noise reduction: thousands of raw alerts in, a handful of incidents out.
//!
//! One straight path, all pure (no I/O, the caller's `now` everywhere, deterministic,
//! serializable state), driven by [`Pipeline::ingest`] and [`Pipeline::tick`]:
//!
//! 1. **normalize** ([`normalize`]): Alertmanager v4, Grafana and generic events →
//!    [`Alert`] with the sender's or an Alertmanager-compatible [`fingerprint`].
//! 2. **enrich**: service and owner from the [`crate::catalog::Catalog`] (else from
//!    `service`/`app`/`component`/`job`/pod labels), added as labels.
//! 3. **dedup**: one episode per fingerprint and `startsAt`; re-sends only update it.
//! 4. **group** ([`route`]): Alertmanager routes, `group_by` and the three timers.
//! 5. **inhibit** ([`inhibit`]) and **silence** ([`silence`]); resolutions still reach
//!    the incident. **Flapping** alerts are held, **chronic** ones (alone again and
//!    again) suppressed, and **storms** give one notice instead of a post per alert.
//! 6. **correlate** ([`correlate`]): into incident clusters by time, the same service
//!    or host, catalog dependencies, named services, learned co-starts and title
//!    similarity, with a confidence and a reason; causes start clusters, symptoms join.
//! 7. **declare/attach** ([`config::DeclareConfig`]): a cluster becomes an incident
//!    when enough weighted signals fire together or an alert outlives its severity's
//!    pause; [`Output`]s say what happened, for the app to turn into engine events.

pub mod config;
pub mod correlate;
pub mod duration;
pub mod inhibit;
pub mod matcher;
mod model;
pub mod normalize;
mod pipeline;
pub mod reason;
pub mod route;
pub mod silence;
mod wire;

pub use config::{
    AlertRules, ChronicConfig, DeclareConfig, FlapConfig, PipelineConfig, StormConfig,
};
pub use correlate::{Cluster, ClusterState, CorrelationConfig};
pub use duration::Dur;
pub use inhibit::InhibitRule;
pub use matcher::{MatchOp, Matcher, MatcherError};
pub use model::{fingerprint, Alert, AlertKey, AlertSource, AlertStatus, Labels};
pub use normalize::{
    alertmanager_value, parse_alertmanager, parse_event, parse_event_with, parse_grafana,
    parse_prometheus, prometheus_value, AlertParseError,
};
pub use pipeline::{
    AlertRef, AlertRoute, FiringAlert, Output, Pipeline, PipelineError, SilenceEnd, StormPhase,
    SuppressReason, ENDED_SILENCES_KEPT,
};
pub use reason::{Declaration, JoinReason, Link, Signal, Trigger};
pub use route::{Route, RouteOpts};
pub use silence::{updatable_in_place, Recurrence, Silence, SilenceError};

#[cfg(test)]
mod tests;
