//! The port every alert source hands its alerts to. [`AlertSink::accept`] returns
//! only once the alerts are durably stored, so a source may acknowledge its sender
//! (HTTP 202, SMTP 250) exactly when it returns `Ok`.

use std::future::Future;
use std::pin::Pin;

use warroom_core::alerts::Alert;

/// Why alerts were not accepted; the sender should retry.
#[derive(Debug, Clone, thiserror::Error)]
pub enum IngestError {
    /// The store failed; nothing was kept.
    #[error("the alert store failed: {0}")]
    Store(String),
    /// The bot is shutting down.
    #[error("the bot is shutting down")]
    Stopped,
}

/// Where sources put alerts.
pub trait AlertSink: Send + Sync {
    /// Stores `alerts` durably, then queues them for the pipeline. Resolves when stored.
    fn accept(
        &self,
        alerts: Vec<Alert>,
    ) -> Pin<Box<dyn Future<Output = Result<(), IngestError>> + Send + '_>>;
}
