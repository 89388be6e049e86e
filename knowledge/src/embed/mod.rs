//! The `Embedder` port: text → dense vectors. Implementations: [`openai::OpenAiEmbedder`]
//! (any OpenAI-compatible `/v1/embeddings`), [`local::LocalEmbedder`] (an in-process
//! sentence-transformers model) and none (lexical only: [`build`] returns `None`).
//!
//! Every embedder has an id and a dimension; both are recorded in the index so that a model
//! change is detected instead of silently mixing vector spaces.

pub mod local;
pub mod openai;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::config::{default_model_dir, EmbedderConfig, EmbedderKind};
use crate::error::{KnowledgeError, Result};

/// A boxed `Send` future (the ports are object-safe).
pub type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Whether a text is a stored passage or a question (some models embed them differently).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EmbedRole {
    /// A chunk being indexed.
    Passage,
    /// A search query.
    Query,
}

/// Text → unit-length dense vectors.
pub trait Embedder: Send + Sync {
    /// Stable model id recorded in the index (e.g. `local:all-minilm-l6-v2`).
    fn id(&self) -> &str;
    /// Vector dimension.
    fn dim(&self) -> usize;
    /// One vector per text, same order.
    ///
    /// # Errors
    /// [`KnowledgeError::Embed`] or [`KnowledgeError::EmbedTimeout`].
    fn embed<'a>(
        &'a self,
        texts: &'a [String],
        role: EmbedRole,
    ) -> BoxFut<'a, Result<Vec<Vec<f32>>>>;
}

/// Builds the configured embedder; `Ok(None)` for `none`.
///
/// # Errors
/// A missing model directory or an incomplete `openai` section.
pub fn build(cfg: &EmbedderConfig) -> Result<Option<Arc<dyn Embedder>>> {
    match cfg.kind {
        EmbedderKind::None => Ok(None),
        EmbedderKind::Local => {
            let dir = cfg.model_dir.clone().unwrap_or_else(default_model_dir);
            Ok(Some(Arc::new(local::LocalEmbedder::load(&dir)?)))
        }
        EmbedderKind::Openai => Ok(Some(Arc::new(openai::OpenAiEmbedder::new(cfg)?))),
    }
}

/// Scales `v` to unit length (a zero vector stays zero).
pub fn normalize(v: &mut [f32]) {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 {
        v.iter_mut().for_each(|x| *x /= n);
    }
}

pub(crate) fn check_dims(id: &str, dim: usize, vs: &[Vec<f32>], n: usize) -> Result<()> {
    if vs.len() != n {
        return Err(KnowledgeError::Embed(format!(
            "{id} returned {} vectors for {n} texts",
            vs.len()
        )));
    }
    if let Some(v) = vs.iter().find(|v| v.len() != dim) {
        return Err(KnowledgeError::Embed(format!(
            "{id} returned a {}-dimensional vector, expected {dim}",
            v.len()
        )));
    }
    Ok(())
}
