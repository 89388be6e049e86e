//! The `VectorIndex` port: points with an optional dense vector, a sparse lexical vector and
//! a JSON payload; nearest-neighbour queries on either vector with payload filters.
//!
//! Implementations: [`edge::EdgeIndex`] (qdrant-edge, embedded, the default) and
//! [`server::ServerIndex`] (a Qdrant server via qdrant-client). Nothing outside this module
//! sees a Qdrant type.

pub mod edge;
pub mod server;

use serde_json::{Map, Value};

use crate::embed::BoxFut;
use crate::error::Result;
use crate::text::Sparse;

/// Name of the dense vector.
pub const DENSE: &str = "dense";
/// Name of the sparse lexical vector (IDF applied by the index).
pub const LEXICAL: &str = "lexical";
/// Payload fields with a keyword index (filters and deletes use them).
pub const KEYWORD_FIELDS: [&str; 3] = ["source", "kind", "services"];

/// What a point carries.
#[derive(Clone, Debug)]
pub struct IndexPoint {
    /// Unique id.
    pub id: u64,
    /// Dense vector (absent when the index has no dense layout).
    pub dense: Option<Vec<f32>>,
    /// Lexical vector (may be empty).
    pub sparse: Sparse,
    /// JSON object.
    pub payload: Map<String, Value>,
}

/// Vector layout of an index generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Dense dimension; 0 means lexical only.
    pub dense_dim: usize,
}

/// The query vector of one search.
#[derive(Clone, Debug)]
pub enum QueryVector {
    /// Cosine similarity on [`DENSE`].
    Dense(Vec<f32>),
    /// IDF-weighted dot product on [`LEXICAL`].
    Sparse(Sparse),
}

/// Payload conditions, all of which must hold; an empty list means "any".
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IndexFilter {
    /// `kind` is one of these.
    pub kinds: Vec<String>,
    /// `services` contains one of these.
    pub services: Vec<String>,
}

/// A scored point.
#[derive(Clone, Debug)]
pub struct IndexHit {
    /// Point id.
    pub id: u64,
    /// Similarity (higher is better).
    pub score: f32,
    /// The point's payload.
    pub payload: Map<String, Value>,
}

/// A vector index.
pub trait VectorIndex: Send + Sync {
    /// Inserts or replaces points; durable when it returns.
    ///
    /// # Errors
    /// [`crate::KnowledgeError::Index`].
    fn upsert(&self, points: Vec<IndexPoint>) -> BoxFut<'_, Result<()>>;
    /// Deletes every point whose `source` payload is one of `sources`, then inserts `points`;
    /// durable when it returns.
    ///
    /// # Errors
    /// [`crate::KnowledgeError::Index`].
    fn replace_sources(
        &self,
        sources: Vec<String>,
        points: Vec<IndexPoint>,
    ) -> BoxFut<'_, Result<()>>;
    /// The `limit` nearest points to `q` that pass `filter`, best first.
    ///
    /// # Errors
    /// [`crate::KnowledgeError::Index`].
    fn query(
        &self,
        q: QueryVector,
        filter: IndexFilter,
        limit: usize,
    ) -> BoxFut<'_, Result<Vec<IndexHit>>>;
    /// Every point's id and payload (score 0), for rebuilding an index.
    ///
    /// # Errors
    /// [`crate::KnowledgeError::Index`].
    fn scroll_all(&self) -> BoxFut<'_, Result<Vec<IndexHit>>>;
    /// Number of points.
    ///
    /// # Errors
    /// [`crate::KnowledgeError::Index`].
    fn count(&self) -> BoxFut<'_, Result<usize>>;
}
