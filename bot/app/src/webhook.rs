//! Outbound paging webhook: each page is POSTed as JSON to a phone/SMS gateway.
//! Delivered from the outbox, so a gateway outage delays pages but loses none.

use std::time::Duration;

use serde_json::json;
use warroom_core::event::{Action, Via};

use crate::app::{ChatSink, Delivery, DeliveryError};
use crate::oncall_config::WebhookConfig;

/// Adapter name used for routing.
pub const ADAPTER: &str = "webhook";

/// The webhook sink.
pub struct Webhook {
    url: String,
    token: Option<String>,
    client: reqwest::Client,
}

impl Webhook {
    /// A sink for `cfg`; the token (if any) is read from its env var now.
    ///
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn new(cfg: &WebhookConfig) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(cfg.timeout_ms))
            .build()?;
        let token = cfg
            .token_env
            .as_ref()
            .and_then(|v| std::env::var(v).ok())
            .filter(|t| !t.is_empty());
        Ok(Self {
            url: cfg.url.clone(),
            token,
            client,
        })
    }
}

/// The JSON body of one page (documented in README).
pub fn body(page: &warroom_core::event::PageNotice) -> serde_json::Value {
    let (kind, to, schedule) = page.target.parts();
    json!({
        "event": "page",
        "incident": page.incident.to_string(),
        "title": page.title,
        "severity": page.severity.code(),
        "policy": page.policy,
        "step": page.step,
        "round": page.round,
        "target": { "kind": kind, "name": to, "schedule": schedule },
        "by": page.by,
        "reason": page.reason,
        // Same page, same key: gateways can drop duplicates after a retry.
        "dedup_key": match &page.by {
            // Each `/page` is its own: by whom, to whom.
            Some(by) => format!("{}/page/{by}/{}", page.incident, to.as_deref().unwrap_or("-")),
            None => format!("{}/{}/{}/{}", page.incident, page.policy, page.round, page.step),
        },
    })
}

impl ChatSink for Webhook {
    fn adapter(&self) -> &'static str {
        ADAPTER
    }

    // Gateways deduplicate by the body's `dedup_key`.
    fn deliver<'a>(&'a self, _key: u64, action: &'a Action) -> Delivery<'a> {
        Box::pin(async move {
            let Action::Notify {
                page,
                via: Via::Webhook,
            } = action
            else {
                return Ok(());
            };
            let mut req = self.client.post(&self.url).json(&body(page));
            if let Some(t) = &self.token {
                req = req.bearer_auth(t);
            }
            match req.send().await {
                Ok(r) if r.status().is_success() => Ok(()),
                Ok(r) if r.status().as_u16() == 429 || r.status().is_server_error() => {
                    let after = r
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<u64>().ok())
                        .map(Duration::from_secs);
                    Err(DeliveryError::Retry(after))
                }
                Ok(r) => Err(DeliveryError::Permanent(format!(
                    "gateway answered {}",
                    r.status()
                ))),
                // Timeouts and refused connections: the gateway may come back.
                Err(_) => Err(DeliveryError::Retry(None)),
            }
        })
    }
}
