//! The sink's Discord REST calls. serenity's own client (used by the gateway side)
//! cannot report a 429's `retry_after` when its ratelimiter is off (it fails to decode
//! the body), so the outbox's calls go through this thin client instead: same reqwest
//! client (with its timeout), same `/api/v10` routes, and every failure classified for
//! the dispatcher: 429, 5xx, timeouts and refused connections are retried, other 4xx
//! are permanent.

use std::fmt;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::app::DeliveryError;

/// A failed call.
#[derive(Debug)]
pub enum RestError {
    /// Discord answered with a non-success status.
    Status {
        /// The status.
        status: StatusCode,
        /// How long Discord asked us to wait (429, or a `Retry-After` header).
        retry_after: Option<Duration>,
        /// The start of the body, for the log.
        body: String,
    },
    /// No answer: refused, reset, timed out.
    Transport(String),
    /// A success whose body is not what the API documents.
    Decode(String),
}

impl fmt::Display for RestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Status { status, body, .. } => write!(f, "Discord answered {status}: {body}"),
            Self::Transport(e) => write!(f, "Discord unreachable: {e}"),
            Self::Decode(e) => write!(f, "unexpected Discord response: {e}"),
        }
    }
}

impl RestError {
    /// Whether Discord said the thing does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::Status { status, .. } if *status == StatusCode::NOT_FOUND)
    }

    /// How the dispatcher should treat it.
    pub fn delivery(&self) -> DeliveryError {
        match self {
            Self::Status {
                status,
                retry_after,
                ..
            } if *status == StatusCode::TOO_MANY_REQUESTS
                || *status == StatusCode::REQUEST_TIMEOUT
                || status.is_server_error() =>
            {
                DeliveryError::Retry(*retry_after)
            }
            Self::Transport(_) => DeliveryError::Retry(None),
            other => DeliveryError::Permanent(other.to_string()),
        }
    }
}

/// Reads Discord's wait hint: `retry_after` (seconds, fractional) from a JSON body,
/// else the `Retry-After` header (whole seconds). Capped at 10 minutes.
pub fn retry_after(header: Option<&str>, body: &str) -> Option<Duration> {
    let from_body = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v.get("retry_after").and_then(Value::as_f64));
    let from_header = header.and_then(|h| h.trim().parse::<f64>().ok());
    from_body
        .or(from_header)
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| Duration::from_secs_f64(s.min(600.0)))
}

/// The REST client of the sink.
pub struct Rest {
    client: reqwest::Client,
    api: String,
    auth: String,
}

impl fmt::Debug for Rest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the token.
        f.debug_struct("Rest").field("api", &self.api).finish()
    }
}

impl Rest {
    /// A client for `host` (`https://discord.com` or a fake) with the bot `token`.
    pub fn new(client: reqwest::Client, host: &str, token: &str) -> Self {
        Self {
            client,
            api: format!("{host}/api/v10"),
            auth: format!("Bot {token}"),
        }
    }

    async fn raw(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<String, RestError> {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.api))
            .header(reqwest::header::AUTHORIZATION, &self.auth);
        req = match body {
            Some(b) => req.json(b),
            None => req.header(reqwest::header::CONTENT_LENGTH, "0"),
        };
        let resp = req
            .send()
            .await
            .map_err(|e| RestError::Transport(e.without_url().to_string()))?;
        let status = resp.status();
        let header = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let text = resp
            .text()
            .await
            .map_err(|e| RestError::Transport(e.without_url().to_string()))?;
        if status.is_success() {
            return Ok(text);
        }
        Err(RestError::Status {
            status,
            retry_after: retry_after(header.as_deref(), &text),
            body: text.chars().take(300).collect(),
        })
    }

    /// A call whose answer is a JSON document of type `T`.
    ///
    /// # Errors
    /// [`RestError`].
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<T, RestError> {
        let text = self.raw(method, path, body).await?;
        serde_json::from_str(&text).map_err(|e| RestError::Decode(format!("{path}: {e}")))
    }

    /// Downloads an attachment (at most `limit` bytes) from `url` with the same client and
    /// timeout, but without the bot token: attachment URLs are Discord's CDN, not the API.
    ///
    /// # Errors
    /// [`RestError`]; a body over `limit` is a [`RestError::Decode`].
    pub async fn download(&self, url: &str, limit: usize) -> Result<Vec<u8>, RestError> {
        let mut resp = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| RestError::Transport(e.without_url().to_string()))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(RestError::Status {
                status,
                retry_after: None,
                body: String::new(),
            });
        }
        let mut out = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| RestError::Transport(e.without_url().to_string()))?
        {
            if out.len() + chunk.len() > limit {
                return Err(RestError::Decode(format!("larger than {limit} bytes")));
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }

    /// A call whose answer is ignored (204 routes such as pinning).
    ///
    /// # Errors
    /// [`RestError`].
    pub async fn call_empty(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(), RestError> {
        self.raw(method, path, body).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_comes_from_the_body_first_then_the_header() {
        assert_eq!(
            retry_after(
                Some("3"),
                r#"{"message":"slow down","retry_after":0.25,"global":false}"#
            ),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            retry_after(Some("2"), "<html>"),
            Some(Duration::from_secs(2))
        );
        assert_eq!(retry_after(None, "{}"), None);
        assert_eq!(retry_after(Some("-1"), ""), None);
    }
}
