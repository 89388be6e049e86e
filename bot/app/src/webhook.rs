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

/// The JSON body of one page (documented in README); `key` is the page's outbox key,
/// the same on every retry of it.
pub fn body(page: &warroom_core::event::PageNotice, key: u64) -> serde_json::Value {
    let (kind, to, schedule) = page.target.parts();
    let whom = format!(
        "{kind}:{}",
        to.as_deref().or(schedule.as_deref()).unwrap_or("-")
    );
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
        // Same page, same key: gateways can drop duplicates after a retry, and only
        // then. A step's targets each have their own; each `/page` is its own.
        "dedup_key": match &page.by {
            Some(_) => format!("{}/page/{key}/{whom}", page.incident),
            None => format!("{}/{}/{}/{}/{whom}", page.incident, page.policy, page.round, page.step),
        },
    })
}

impl ChatSink for Webhook {
    fn adapter(&self) -> &'static str {
        ADAPTER
    }

    // Gateways deduplicate by the body's `dedup_key`.
    fn deliver<'a>(&'a self, key: u64, action: &'a Action) -> Delivery<'a> {
        Box::pin(async move {
            let Action::Notify {
                page,
                via: Via::Webhook,
            } = action
            else {
                return Ok(());
            };
            let mut req = self.client.post(&self.url).json(&body(page, key));
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

#[cfg(test)]
mod tests {
    use super::*;
    use warroom_core::event::{PageNotice, PageTarget};
    use warroom_core::incident::{IncidentId, Severity};

    fn page(target: PageTarget, by: Option<&str>) -> PageNotice {
        PageNotice {
            incident: IncidentId::parse("IMS-20261207-009").unwrap(),
            title: "t".into(),
            severity: Severity::P1,
            policy: if by.is_some() { "manual" } else { "fast" }.into(),
            step: 2,
            round: 0,
            target,
            by: by.map(Into::into),
            reason: None,
            next: None,
        }
    }

    #[test]
    fn every_page_has_its_own_dedup_key_and_a_retry_keeps_it() {
        let key = |p: &PageNotice, outbox: u64| body(p, outbox)["dedup_key"].clone();
        let boss = page(
            PageTarget::Person {
                name: "boss".into(),
                schedule: None,
            },
            None,
        );
        let leads = page(
            PageTarget::Channel {
                name: "ops-leads".into(),
            },
            None,
        );
        assert_ne!(key(&boss, 1), key(&leads, 2), "one step, two targets");
        assert_eq!(
            key(&boss, 1),
            key(&boss, 7),
            "a policy page is the same page"
        );
        let by_hand = page(
            PageTarget::Person {
                name: "yan".into(),
                schedule: Some("trading-ops".into()),
            },
            Some("alice"),
        );
        assert_ne!(
            key(&by_hand, 3),
            key(&by_hand, 4),
            "two /page calls are two pages"
        );
        assert_eq!(
            body(&by_hand, 3),
            body(&by_hand, 3),
            "a retry sends the same body"
        );
    }
}
