//! The crate's one error type. Messages are for humans; none carries a secret (API keys are
//! never formatted into an error, and HTTP bodies are cut short).

use std::path::PathBuf;

/// What can go wrong in ingest, indexing, embedding or search.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KnowledgeError {
    /// The configuration is unusable (a missing model directory, a bad value, …).
    #[error("knowledge config: {0}")]
    Config(String),
    /// The index was built with another embedding model (or dimension) than the configured one.
    #[error(
        "the knowledge index at {index_dir} was built with embedder {indexed}, but the configured \
         embedder is {configured}; rebuild it with `warroom knowledge ingest --reindex DIR…` \
         (or configure the embedder it was built with)"
    )]
    EmbedderMismatch {
        /// Where the index lives.
        index_dir: PathBuf,
        /// Model id and dimension recorded in the index.
        indexed: String,
        /// Model id and dimension configured now.
        configured: String,
    },
    /// Reading a runbook or the index state failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The embedding model or endpoint failed.
    #[error("embedding failed: {0}")]
    Embed(String),
    /// The embedding endpoint did not answer in time.
    #[error("embedding endpoint timed out after {0} ms")]
    EmbedTimeout(u64),
    /// The vector index (embedded shard or Qdrant server) failed.
    #[error("vector index: {0}")]
    Index(String),
    /// The index state file is unreadable.
    #[error("index state {path} is corrupt: {reason}; rebuild with `warroom knowledge ingest --reindex DIR…`")]
    State {
        /// The state file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A caller-supplied value is invalid (an empty incident id, …).
    #[error("invalid input: {0}")]
    Invalid(String),
}

impl KnowledgeError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

/// Result alias.
pub type Result<T, E = KnowledgeError> = std::result::Result<T, E>;
