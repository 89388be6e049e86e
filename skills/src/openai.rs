//! `OpenAiModel`: the [`LanguageModel`] port over any OpenAI-compatible
//! `/v1/chat/completions` endpoint (OpenAI, DeepSeek, Qwen/DashScope, vLLM, Ollama,
//! llama.cpp's server) through async-openai.
//!
//! It owns the conversion between the port's types and the wire types, and only the
//! common subset of the protocol: `model`, `messages`, `tools` (function tools),
//! `temperature`. No `tool_choice`, `parallel_tool_calls` or `strict`, which several
//! local servers reject. An assistant message that made tool calls carries `content: ""`
//! rather than `null` (llama-cpp-python answers 500 to `null`).
//!
//! The API key is read once from the environment variable named in config; it lives
//! only inside the client, is never logged, and `Debug` leaves it out. Every call is
//! bounded twice: by the HTTP client's own timeout and by `tokio::time::timeout`.

use std::sync::Arc;
use std::time::Duration;

use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::types::chat::{
    ChatCompletionMessageToolCall, ChatCompletionMessageToolCalls,
    ChatCompletionRequestAssistantMessage, ChatCompletionRequestAssistantMessageContent,
    ChatCompletionRequestMessage, ChatCompletionRequestSystemMessage,
    ChatCompletionRequestToolMessage, ChatCompletionRequestToolMessageContent,
    ChatCompletionRequestUserMessage, ChatCompletionTool, ChatCompletionTools,
    CreateChatCompletionRequest, FunctionCall, FunctionObject,
};
use async_openai::Client;
use async_trait::async_trait;
use tokio::sync::Semaphore;

use crate::model::{
    ChatMessage, ChatRequest, LanguageModel, LlmConfig, ModelError, ModelReply, Role, ToolCall,
    Usage,
};

/// A chat model behind an OpenAI-compatible HTTP endpoint.
pub struct OpenAiModel {
    client: Client<OpenAIConfig>,
    model: String,
    base_url: String,
    temperature: Option<f32>,
    timeout: Duration,
    in_flight: Arc<Semaphore>,
}

impl std::fmt::Debug for OpenAiModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The client holds the API key: leave it out.
        f.debug_struct("OpenAiModel")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// reqwest 0.13 is built without a default crypto provider (no aws-lc); install ring once.
fn install_crypto_provider() {
    // Err means some provider is already installed, which is what we need.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl OpenAiModel {
    /// A client for `cfg.base_url` and `cfg.model`, with the key from `cfg.api_key_env`.
    ///
    /// # Errors
    /// [`ModelError::Other`] for an empty model or base URL, a key variable that is
    /// named but unset, or an HTTP client that cannot be built. The messages name the
    /// variable, never its value.
    pub fn new(cfg: &LlmConfig) -> Result<Self, ModelError> {
        let key = match &cfg.api_key_env {
            Some(var) => std::env::var(var).map_err(|_| {
                ModelError::Other(format!("llm.api_key_env names {var}, which is not set"))
            })?,
            None => String::new(),
        };
        Self::with_key(cfg, key)
    }

    /// As [`OpenAiModel::new`] with the key given directly (tests, secret stores).
    ///
    /// # Errors
    /// As [`OpenAiModel::new`].
    pub fn with_key(cfg: &LlmConfig, key: String) -> Result<Self, ModelError> {
        if cfg.model.trim().is_empty() {
            return Err(ModelError::Other("llm.model is empty".into()));
        }
        let base_url = cfg.base_url.trim().trim_end_matches('/').to_string();
        if base_url.is_empty() {
            return Err(ModelError::Other("llm.base_url is empty".into()));
        }
        install_crypto_provider();
        let timeout = cfg.timeout();
        let http = reqwest_013::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| ModelError::Other(format!("cannot build the HTTP client: {e}")))?;
        let conf = OpenAIConfig::new()
            .with_api_base(base_url.clone())
            .with_api_key(key);
        Ok(Self {
            client: Client::build(http, conf),
            model: cfg.model.trim().to_string(),
            base_url,
            temperature: cfg.temperature,
            timeout,
            in_flight: Arc::new(Semaphore::new(cfg.max_concurrency.max(1))),
        })
    }

    fn wire_request(&self, req: &ChatRequest) -> CreateChatCompletionRequest {
        let tools: Vec<ChatCompletionTools> = req
            .tools
            .iter()
            .map(|t| {
                ChatCompletionTools::Function(ChatCompletionTool {
                    function: FunctionObject {
                        name: t.name.clone(),
                        description: Some(t.description.clone()),
                        parameters: Some(t.parameters.clone()),
                        strict: None,
                    },
                })
            })
            .collect();
        CreateChatCompletionRequest {
            model: self.model.clone(),
            messages: req.messages.iter().map(wire_message).collect(),
            tools: (!tools.is_empty()).then_some(tools),
            temperature: self.temperature,
            ..Default::default()
        }
    }
}

fn wire_message(m: &ChatMessage) -> ChatCompletionRequestMessage {
    match m.role {
        Role::System => ChatCompletionRequestMessage::System(
            ChatCompletionRequestSystemMessage::from(m.content.as_str()),
        ),
        Role::User => ChatCompletionRequestMessage::User(ChatCompletionRequestUserMessage::from(
            m.content.as_str(),
        )),
        Role::Assistant => {
            let calls: Vec<ChatCompletionMessageToolCalls> = m
                .tool_calls
                .iter()
                .map(|c| {
                    ChatCompletionMessageToolCalls::Function(ChatCompletionMessageToolCall {
                        id: c.id.clone(),
                        function: FunctionCall {
                            name: c.name.clone(),
                            arguments: c.arguments.clone(),
                        },
                    })
                })
                .collect();
            ChatCompletionRequestMessage::Assistant(ChatCompletionRequestAssistantMessage {
                content: Some(ChatCompletionRequestAssistantMessageContent::from(
                    m.content.as_str(),
                )),
                tool_calls: (!calls.is_empty()).then_some(calls),
                ..Default::default()
            })
        }
        Role::Tool => ChatCompletionRequestMessage::Tool(ChatCompletionRequestToolMessage {
            content: ChatCompletionRequestToolMessageContent::from(m.content.as_str()),
            tool_call_id: m.tool_call_id.clone().unwrap_or_default(),
        }),
    }
}

fn map_error(e: OpenAIError, secs: u64) -> ModelError {
    match e {
        OpenAIError::Reqwest(e) if e.is_timeout() => ModelError::Timeout { secs },
        OpenAIError::Reqwest(e) => match e.status() {
            Some(s) => ModelError::Http {
                status: s.as_u16(),
                message: short(&e.to_string()),
            },
            None => ModelError::Other(short(&e.to_string())),
        },
        OpenAIError::ApiError(api) => ModelError::Http {
            status: api.status_code.as_u16(),
            message: short(&api.api_error.message),
        },
        OpenAIError::JSONDeserialize(e, _) => ModelError::Protocol(short(&e.to_string())),
        other => ModelError::Other(short(&other.to_string())),
    }
}

/// Error bodies can be long (HTML pages); keep the first few hundred characters.
fn short(s: &str) -> String {
    const MAX: usize = 300;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

#[async_trait]
impl LanguageModel for OpenAiModel {
    fn id(&self) -> String {
        format!("openai:{}", self.model)
    }

    async fn complete(&self, request: &ChatRequest) -> Result<ModelReply, ModelError> {
        let secs = self.timeout.as_secs();
        let wire = self.wire_request(request);
        let call = async {
            // The semaphore is never closed, so acquiring can only wait, not fail.
            let _permit = self
                .in_flight
                .acquire()
                .await
                .map_err(|_| ModelError::Other("model client shut down".into()))?;
            self.client
                .chat()
                .create(wire)
                .await
                .map_err(|e| map_error(e, secs))
        };
        let resp = tokio::time::timeout(self.timeout, call)
            .await
            .map_err(|_| ModelError::Timeout { secs })??;
        let usage = resp.usage.as_ref().map(|u| Usage {
            prompt_tokens: u.prompt_tokens,
            completion_tokens: u.completion_tokens,
        });
        let choice = resp
            .choices
            .into_iter()
            .next()
            .ok_or_else(|| ModelError::Protocol("no choices in the answer".into()))?;
        let tool_calls = choice
            .message
            .tool_calls
            .unwrap_or_default()
            .into_iter()
            .filter_map(|c| match c {
                ChatCompletionMessageToolCalls::Function(f) => Some(ToolCall {
                    id: f.id,
                    name: f.function.name,
                    arguments: f.function.arguments,
                }),
                ChatCompletionMessageToolCalls::Custom(_) => None,
            })
            .collect();
        tracing::debug!(model = %self.model, ?usage, "llm call done");
        Ok(ModelReply {
            content: choice.message.content.unwrap_or_default(),
            tool_calls,
            usage,
        })
    }
}
