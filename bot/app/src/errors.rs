//! The one place where failures become replies: a chat line, an HTTP status with a
//! JSON reason, and one log line. User mistakes are not errors (the engine answers
//! them as messages); these are the failures of the machinery itself.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use warroom_core::ports::StoreError;

use crate::render::Renderer;

/// Failures of the bot's own machinery.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The store failed; nothing was changed.
    #[error("store: {0}")]
    Store(StoreError),
    /// The bot is shutting down.
    #[error("the bot is shutting down")]
    Stopped,
    /// A template failed (a defect).
    #[error("render: {0}")]
    Render(#[from] crate::render::RenderError),
}

impl AppError {
    /// The chat reply (logged once here).
    pub fn chat_reply(&self, renderer: &Renderer) -> String {
        tracing::error!(error = %self, "command failed");
        renderer.system(match self {
            Self::Stopped => "stopped",
            _ => "internal",
        })
    }
}

/// A refusal worded as chat words it (in the bot's language), for an HTTP reason.
pub fn refusal_reason(renderer: &Renderer, problem: warroom_core::event::Refusal) -> String {
    let text = renderer
        .render(&warroom_core::event::Message::Refused { problem })
        .unwrap_or_else(|e| format!("refused ({e})"));
    text.trim()
        .trim_start_matches('⚠')
        .trim_start_matches('\u{fe0f}')
        .trim()
        .to_string()
}

/// A JSON error body: `{"error": code, "reason": text}`.
pub fn json_error(status: StatusCode, code: &str, reason: impl Into<String>) -> Response {
    (
        status,
        Json(serde_json::json!({ "error": code, "reason": reason.into() })),
    )
        .into_response()
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        tracing::error!(error = %self, "request failed");
        match self {
            Self::Stopped => json_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the bot is shutting down",
            ),
            Self::Store(StoreError::Conflict { .. }) => json_error(
                StatusCode::CONFLICT,
                "conflict",
                "the incident changed concurrently; retry",
            ),
            _ => json_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal error; nothing was changed",
            ),
        }
    }
}
