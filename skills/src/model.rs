//! The `LanguageModel` port: vendor-free chat messages, tool specs, tool calls and
//! replies, the errors callers act on, and the `[llm]` configuration.
//!
//! This module owns the shape of one chat-completion exchange as the agent sees it.
//! It knows no HTTP and no vendor type: [`crate::openai`] converts at the edge, and
//! tests use a scripted double.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// Who wrote a chat message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Instructions for the model.
    System,
    /// The person asking (and data the agent hands over on their behalf).
    User,
    /// The model.
    Assistant,
    /// The result of one tool call.
    Tool,
}

/// One tool call the model asked for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCall {
    /// Call id, echoed in the tool message that answers it.
    pub id: String,
    /// Tool (skill) name.
    pub name: String,
    /// Arguments as the model wrote them: a JSON object in a string, not yet parsed.
    pub arguments: String,
}

/// One chat message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Who wrote it.
    pub role: Role,
    /// Its text (may be empty next to tool calls).
    pub content: String,
    /// Tool calls of an assistant message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// For a tool message: the call it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl ChatMessage {
    /// A system message.
    pub fn system(content: impl Into<String>) -> Self {
        Self::plain(Role::System, content.into())
    }

    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Self::plain(Role::User, content.into())
    }

    /// An assistant message, with the tool calls it made.
    pub fn assistant(content: impl Into<String>, tool_calls: Vec<ToolCall>) -> Self {
        Self {
            role: Role::Assistant,
            content: content.into(),
            tool_calls,
            tool_call_id: None,
        }
    }

    /// The result of tool call `id`.
    pub fn tool(id: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            role: Role::Tool,
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: Some(id.into()),
        }
    }

    fn plain(role: Role, content: String) -> Self {
        Self {
            role,
            content,
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }
}

/// A tool offered to the model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    /// Name (`change_query`).
    pub name: String,
    /// What it does and when to use it; the model reads this.
    pub description: String,
    /// JSON Schema of the arguments (an object schema).
    pub parameters: serde_json::Value,
}

/// One request: the conversation so far and the tools on offer. No tools means the
/// request is sent without a `tools` field, so the model has to answer in text.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// The conversation, oldest first.
    pub messages: Vec<ChatMessage>,
    /// Tools on offer; empty for none.
    pub tools: Vec<ToolSpec>,
}

/// Token counts, when the server reports them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens.
    pub prompt_tokens: u32,
    /// Completion tokens.
    pub completion_tokens: u32,
}

/// The model's reply.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelReply {
    /// Text (empty when the model only called tools).
    pub content: String,
    /// Structured tool calls (empty when none, or when the model wrote them into
    /// `content`, see [`crate::fallback`]).
    pub tool_calls: Vec<ToolCall>,
    /// Token counts.
    pub usage: Option<Usage>,
}

/// Why a model call failed. The agent hands these to its caller, which answers
/// without the model (a cited retrieval answer) on any of them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// No answer within the configured time.
    #[error("the language model did not answer within {secs} s")]
    Timeout {
        /// The limit, seconds.
        secs: u64,
    },
    /// The server answered with an HTTP error.
    #[error("the language model answered HTTP {status}: {message}")]
    Http {
        /// Status code.
        status: u16,
        /// The server's message, shortened.
        message: String,
    },
    /// The answer did not follow the protocol (undecodable, no choices).
    #[error("the language model's answer is malformed: {0}")]
    Protocol(String),
    /// Anything else (connection refused, configuration).
    #[error("language model error: {0}")]
    Other(String),
}

/// A chat-completion model with function calling. `Send + Sync`, used as
/// `Arc<dyn LanguageModel>`.
#[async_trait]
pub trait LanguageModel: Send + Sync {
    /// A short id for logs and the audit trail (`openai:qwen2.5-coder`); no secrets.
    fn id(&self) -> String;

    /// One chat completion.
    ///
    /// # Errors
    /// [`ModelError`]; implementations bound the call with a timeout.
    async fn complete(&self, request: &ChatRequest) -> Result<ModelReply, ModelError>;
}

/// The `[llm]` configuration table.
///
/// ```toml
/// [llm]
/// base_url = "http://127.0.0.1:8088/v1"   # include /v1 for vLLM, Ollama, llama.cpp
/// model = "qwen2.5-coder-1.5b"
/// api_key_env = "WARROOM_LLM_KEY"         # the variable's name; the key never sits in the file
/// timeout_secs = 30
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LlmConfig {
    /// OpenAI-compatible base URL, up to and including `/v1`.
    pub base_url: String,
    /// Model name as the server knows it.
    pub model: String,
    /// Name of the environment variable holding the API key; none for local servers.
    pub api_key_env: Option<String>,
    /// Limit for one model call, seconds (also used for one skill run).
    pub timeout_secs: u64,
    /// Sampling temperature; the server's default when absent.
    pub temperature: Option<f32>,
    /// Most model calls per question; the last one is sent without tools.
    pub max_rounds: u32,
    /// Longest tool result handed to the model, in characters; longer ones are cut
    /// with a note saying so.
    pub tool_result_budget_chars: usize,
    /// Most model calls in flight at once (per [`crate::openai::OpenAiModel`]).
    pub max_concurrency: usize,
    /// Most tool calls of one round running at once.
    pub tool_concurrency: usize,
    /// How long a write the model proposed can be confirmed, minutes.
    pub proposal_ttl_minutes: u32,
}

impl Default for LlmConfig {
    fn default() -> Self {
        Self {
            base_url: "http://127.0.0.1:8088/v1".into(),
            model: String::new(),
            api_key_env: None,
            timeout_secs: 30,
            temperature: Some(0.0),
            max_rounds: 8,
            tool_result_budget_chars: 6000,
            max_concurrency: 2,
            tool_concurrency: 4,
            proposal_ttl_minutes: 30,
        }
    }
}

impl LlmConfig {
    /// The per-call limit as a duration (at least one second).
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_defaults_fill_a_table_that_names_only_url_and_model() {
        let cfg: LlmConfig =
            toml_like(r#"{"base_url":"http://h/v1","model":"m"}"#).expect("valid config");
        assert_eq!(cfg.timeout_secs, 30);
        assert_eq!(cfg.max_rounds, 8);
        assert_eq!(cfg.api_key_env, None);
    }

    #[test]
    fn config_rejects_an_unknown_key() {
        assert!(toml_like(r#"{"model":"m","api_key":"sk-123"}"#).is_err());
    }

    fn toml_like(s: &str) -> Result<LlmConfig, serde_json::Error> {
        serde_json::from_str(s)
    }
}
