//! An in-process sentence-transformers model (BERT family, e.g. all-MiniLM-L6-v2) on candle:
//! `model.safetensors` + `tokenizer.json` + `config.json` from a local directory (installed by
//! `deploy/setup-models.sh`). Mean pooling over the attention mask, then L2 normalisation — the
//! sentence-transformers recipe.
//!
//! Inference runs on the calling thread; callers in async code use `spawn_blocking`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

use super::{check_dims, BoxFut, EmbedRole, Embedder};
use crate::error::{KnowledgeError, Result};

/// Longest query in word pieces (the model's limit).
const QUERY_TOKENS: usize = 256;
/// Longest passage in word pieces. all-MiniLM-L6-v2 was fine-tuned on 128-piece inputs, and a
/// chunk's title, headings and first lines carry its topic; this halves the ingest cost.
const PASSAGE_TOKENS: usize = 128;

/// A local BERT sentence-embedding model.
#[derive(Clone)]
pub struct LocalEmbedder {
    inner: Arc<Inner>,
    id: String,
    dim: usize,
}

struct Inner {
    model: BertModel,
    passage_tokenizer: Tokenizer,
    query_tokenizer: Tokenizer,
    device: Device,
}

impl std::fmt::Debug for LocalEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalEmbedder")
            .field("id", &self.id)
            .field("dim", &self.dim)
            .finish_non_exhaustive()
    }
}

fn missing(dir: &Path, what: &str) -> KnowledgeError {
    KnowledgeError::Config(format!(
        "no embedding model in {}: {what} is missing; run deploy/setup-models.sh \
         (or set WARROOM_EMBED_MODEL_DIR / embedder.model_dir)",
        dir.display()
    ))
}

impl LocalEmbedder {
    /// Loads the model from `dir`.
    ///
    /// # Errors
    /// Missing or unreadable files (the message says to run `deploy/setup-models.sh`).
    pub fn load(dir: &Path) -> Result<Self> {
        let file = |n: &str| -> Result<PathBuf> {
            let p = dir.join(n);
            if p.is_file() {
                Ok(p)
            } else {
                Err(missing(dir, n))
            }
        };
        let cfg_path = file("config.json")?;
        let tok_path = file("tokenizer.json")?;
        let weights = file("model.safetensors")?;
        let cfg_text =
            std::fs::read_to_string(&cfg_path).map_err(|e| KnowledgeError::io(&cfg_path, e))?;
        let cfg: Config = serde_json::from_str(&cfg_text)
            .map_err(|e| KnowledgeError::Config(format!("{}: {e}", cfg_path.display())))?;
        let dim = serde_json::from_str::<serde_json::Value>(&cfg_text)
            .ok()
            .and_then(|v| v.get("hidden_size").and_then(|h| h.as_u64()))
            .unwrap_or(0) as usize;
        if dim == 0 {
            return Err(KnowledgeError::Config(format!(
                "{}: no hidden_size",
                cfg_path.display()
            )));
        }
        let tokenizer = |max_length: usize| -> Result<Tokenizer> {
            let mut t = Tokenizer::from_file(&tok_path)
                .map_err(|e| KnowledgeError::Config(format!("{}: {e}", tok_path.display())))?;
            t.with_truncation(Some(TruncationParams {
                max_length,
                ..Default::default()
            }))
            .map_err(|e| KnowledgeError::Config(format!("tokenizer: {e}")))?;
            t.with_padding(Some(PaddingParams {
                strategy: PaddingStrategy::BatchLongest,
                ..Default::default()
            }));
            Ok(t)
        };
        let passage_tokenizer = tokenizer(PASSAGE_TOKENS)?;
        let query_tokenizer = tokenizer(QUERY_TOKENS)?;
        let device = Device::Cpu;
        let bytes = std::fs::read(&weights).map_err(|e| KnowledgeError::io(&weights, e))?;
        let vb = VarBuilder::from_buffered_safetensors(bytes, DType::F32, &device)
            .map_err(|e| KnowledgeError::Config(format!("{}: {e}", weights.display())))?;
        let model = BertModel::load(vb, &cfg)
            .map_err(|e| KnowledgeError::Config(format!("{}: {e}", weights.display())))?;
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().to_lowercase())
            .unwrap_or_else(|| "model".into());
        Ok(Self {
            inner: Arc::new(Inner {
                model,
                passage_tokenizer,
                query_tokenizer,
                device,
            }),
            id: format!("local:{name}"),
            dim,
        })
    }

    /// Embeds on the current thread (blocking).
    ///
    /// # Errors
    /// Tokenizer or tensor failures.
    pub fn embed_blocking(&self, texts: &[String], role: EmbedRole) -> Result<Vec<Vec<f32>>> {
        let mut out = Vec::with_capacity(texts.len());
        // Small batches of similar length waste little on padding.
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|i| texts[*i].len());
        let mut result: Vec<Option<Vec<f32>>> = vec![None; texts.len()];
        for group in order.chunks(8) {
            let batch: Vec<&str> = group.iter().map(|i| texts[*i].as_str()).collect();
            let vs = self
                .inner
                .forward(&batch, role)
                .map_err(|e| KnowledgeError::Embed(e.to_string()))?;
            for (i, v) in group.iter().zip(vs) {
                result[*i] = Some(v);
            }
        }
        for v in result {
            out.push(v.ok_or_else(|| KnowledgeError::Embed("missing vector".into()))?);
        }
        check_dims(&self.id, self.dim, &out, texts.len())?;
        Ok(out)
    }
}

impl Inner {
    fn forward(
        &self,
        batch: &[&str],
        role: EmbedRole,
    ) -> std::result::Result<Vec<Vec<f32>>, Box<dyn std::error::Error + Send + Sync>> {
        let tokenizer = match role {
            EmbedRole::Passage => &self.passage_tokenizer,
            EmbedRole::Query => &self.query_tokenizer,
        };
        let enc = tokenizer.encode_batch(batch.to_vec(), true)?;
        let n = enc.len();
        let len = enc.first().map(|e| e.get_ids().len()).unwrap_or(0);
        let mut ids = Vec::with_capacity(n * len);
        let mut mask = Vec::with_capacity(n * len);
        for e in &enc {
            ids.extend_from_slice(e.get_ids());
            mask.extend_from_slice(e.get_attention_mask());
        }
        let ids = Tensor::from_vec(ids, (n, len), &self.device)?;
        let mask = Tensor::from_vec(mask, (n, len), &self.device)?;
        let types = ids.zeros_like()?;
        let h = self.model.forward(&ids, &types, Some(&mask))?; // [n, len, dim]
        let m = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
        let summed = h.broadcast_mul(&m)?.sum(1)?;
        let counts = m.sum(1)?.clamp(1e-9, f64::MAX)?;
        let pooled = summed.broadcast_div(&counts)?;
        let norm = pooled
            .sqr()?
            .sum_keepdim(1)?
            .sqrt()?
            .clamp(1e-12, f64::MAX)?;
        Ok(pooled.broadcast_div(&norm)?.to_vec2::<f32>()?)
    }
}

impl Embedder for LocalEmbedder {
    fn id(&self) -> &str {
        &self.id
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn embed<'a>(
        &'a self,
        texts: &'a [String],
        role: EmbedRole,
    ) -> BoxFut<'a, Result<Vec<Vec<f32>>>> {
        let me = self.clone();
        let owned = texts.to_vec();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || me.embed_blocking(&owned, role))
                .await
                .map_err(|e| KnowledgeError::Embed(format!("embedding task failed: {e}")))?
        })
    }
}
