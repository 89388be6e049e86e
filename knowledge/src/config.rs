//! `[knowledge]` configuration: where the index lives, which embedder, abstention.
//!
//! Deserialized with `deny_unknown_fields`; every field has a default, so an empty table (or
//! none) gives a working lexical-only setup with the embedded index under the data directory.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The `[knowledge]` table.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct KnowledgeConfig {
    /// Index directory (state file + embedded shard). Relative paths are under the data dir.
    /// Default: `<data_dir>/knowledge`.
    pub index_dir: Option<PathBuf>,
    /// Which vector index: `edge` (embedded, default) or `qdrant` (a Qdrant server).
    pub backend: Backend,
    /// Qdrant server settings (for `backend = "qdrant"`).
    pub qdrant: QdrantConfig,
    /// The embedding model.
    pub embedder: EmbedderConfig,
    /// Answers whose confidence is below this are abstentions ("no runbook covers this").
    /// Confidence is in 0..1; see `search::confidence`.
    pub abstain_threshold: f32,
    /// Default number of documents returned.
    pub k: usize,
    /// Runbook directories the bot ingests at start-up (incremental; unchanged files are
    /// skipped). Relative paths are relative to the working directory.
    pub sources: Vec<PathBuf>,
    /// Base URL of the runbooks (e.g. a Git web view); a passage's link is
    /// `<link_base><path>#L<start>-L<end>`. None: citations without links.
    pub link_base: Option<String>,
}

impl Default for KnowledgeConfig {
    fn default() -> Self {
        Self {
            index_dir: None,
            backend: Backend::Edge,
            qdrant: QdrantConfig::default(),
            embedder: EmbedderConfig::default(),
            abstain_threshold: DEFAULT_ABSTAIN_THRESHOLD,
            k: 5,
            sources: Vec::new(),
            link_base: None,
        }
    }
}

/// Abstain when the top document covers less than 22 % of the query's IDF mass.
///
/// Calibrated on the project's own zh/en question set (75 answerable, 22 unanswerable; the
/// threshold → false/true abstention table is in `knowledge/eval/README.md`): 0.22 keeps false
/// abstention on answerable questions at or below 10 % with both the `none` and the `local`
/// embedder while abstaining on about 80 % of the unanswerable ones. Confidence is pure
/// coverage for every embedder (see `search::confidence`), so one threshold serves them all.
pub const DEFAULT_ABSTAIN_THRESHOLD: f32 = 0.22;

impl KnowledgeConfig {
    /// The index directory for this data directory.
    pub fn index_dir(&self, data_dir: &Path) -> PathBuf {
        match &self.index_dir {
            Some(p) if p.is_absolute() => p.clone(),
            Some(p) => data_dir.join(p),
            None => data_dir.join("knowledge"),
        }
    }
}

/// Vector index backend.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// qdrant-edge, in process (the default).
    #[default]
    Edge,
    /// A Qdrant server over gRPC.
    Qdrant,
}

/// `[knowledge.qdrant]`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct QdrantConfig {
    /// gRPC URL, e.g. `http://127.0.0.1:6334`.
    pub url: String,
    /// Collection name prefix; the generation number is appended.
    pub collection: String,
    /// Name of the environment variable holding the API key (optional).
    pub api_key_env: Option<String>,
    /// Timeout of every call, milliseconds.
    pub timeout_ms: u64,
}

impl Default for QdrantConfig {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:6334".into(),
            collection: "warroom_knowledge".into(),
            api_key_env: None,
            timeout_ms: 5_000,
        }
    }
}

/// `[knowledge.embedder]`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EmbedderConfig {
    /// `none` (lexical only), `local` (in-process model) or `openai` (HTTP endpoint).
    pub kind: EmbedderKind,
    /// `local`: a sentence-transformers directory (model.safetensors, tokenizer.json,
    /// config.json). Default: `$WARROOM_EMBED_MODEL_DIR`, else `.models/all-minilm-l6-v2`.
    pub model_dir: Option<PathBuf>,
    /// `openai`: base URL including `/v1`, e.g. `http://127.0.0.1:8090/v1`.
    pub base_url: String,
    /// `openai`: model name sent in the request.
    pub model: String,
    /// `openai`: name of the environment variable that holds the API key (never the key).
    pub api_key_env: Option<String>,
    /// `openai`: vector dimension the model returns (fixes the index layout).
    pub dim: Option<usize>,
    /// `openai`: timeout of every call, milliseconds.
    pub timeout_ms: u64,
    /// Texts per embedding call during ingest.
    pub batch: usize,
}

impl Default for EmbedderConfig {
    fn default() -> Self {
        Self {
            kind: EmbedderKind::None,
            model_dir: None,
            base_url: "http://127.0.0.1:8090/v1".into(),
            model: "text-embedding".into(),
            api_key_env: None,
            dim: None,
            timeout_ms: 10_000,
            batch: 16,
        }
    }
}

/// Embedder choice.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum EmbedderKind {
    /// Lexical only.
    #[default]
    None,
    /// In-process sentence-transformers model (candle).
    Local,
    /// Any OpenAI-compatible `/v1/embeddings` endpoint.
    Openai,
}

impl std::str::FromStr for EmbedderKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "none" => Ok(Self::None),
            "local" => Ok(Self::Local),
            "openai" => Ok(Self::Openai),
            other => Err(format!("unknown embedder {other:?} (none, local, openai)")),
        }
    }
}

/// Default location of the in-process model: `$WARROOM_EMBED_MODEL_DIR`, else
/// `.models/all-minilm-l6-v2` (what `deploy/setup-models.sh` installs).
pub fn default_model_dir() -> PathBuf {
    match std::env::var_os("WARROOM_EMBED_MODEL_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => PathBuf::from(".models/all-minilm-l6-v2"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_table_gives_the_lexical_embedded_defaults() {
        let c: KnowledgeConfig = toml_like("{}");
        assert_eq!(c, KnowledgeConfig::default());
        assert_eq!(c.index_dir(Path::new("/d")), PathBuf::from("/d/knowledge"));
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let r: Result<KnowledgeConfig, _> = serde_json::from_str(r#"{"embeder": {}}"#);
        assert!(r.is_err());
    }

    fn toml_like(s: &str) -> KnowledgeConfig {
        serde_json::from_str(s).expect("valid config")
    }
}
