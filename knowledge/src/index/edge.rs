//! [`VectorIndex`] on qdrant-edge 0.7.2, embedded in the process.
//!
//! 0.7.2 has three defects this adapter works around (see `shared/notes/qdrant-edge-0.7.2.md`):
//! no WAL replay on load (so every write batch is followed by `flush()`), `flush()` panics
//! when it races an `update()` (so updates and flushes share one mutex), and the WAL must never
//! be deleted by hand (a rebuild goes into a fresh directory instead). Calls are synchronous
//! and run under `spawn_blocking`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use qdrant_edge::{
    Condition, CountRequest, CreateIndex, Distance, EdgeConfigBuilder, EdgeShard,
    EdgeSparseVectorParamsBuilder, EdgeVectorParamsBuilder, FieldCondition, FieldIndexOperations,
    Filter, JsonPath, Match, Modifier, NamedQuery, Payload, PayloadFieldSchema, PayloadSchemaType,
    PointId, PointInsertOperations, PointOperations, PointStructPersisted, QueryEnum, QueryRequest,
    ScoringQuery, ScrollRequest, SparseVector, UpdateOperation, Vector, VectorInternal,
    VectorStructPersisted, Vectors, WithPayloadInterface, WithVector,
};
use serde_json::{Map, Value};

use super::{
    IndexFilter, IndexHit, IndexPoint, Layout, QueryVector, VectorIndex, DENSE, KEYWORD_FIELDS,
    LEXICAL,
};
use crate::embed::BoxFut;
use crate::error::{KnowledgeError, Result};
use crate::text::Sparse;

/// An embedded shard in one directory.
#[derive(Clone)]
pub struct EdgeIndex {
    inner: Arc<Inner>,
}

struct Inner {
    shard: EdgeShard,
    /// Held for every update, flush and optimize (0.7.2's flush panics on a concurrent update).
    write: Mutex<()>,
    path: PathBuf,
}

fn err(e: impl std::fmt::Display) -> KnowledgeError {
    KnowledgeError::Index(e.to_string())
}

fn key(name: &str) -> Result<JsonPath> {
    name.parse::<JsonPath>()
        .map_err(|_| KnowledgeError::Index(format!("bad payload key {name}")))
}

impl EdgeIndex {
    /// Opens the shard in `dir`, creating it with `layout` when the directory holds none.
    ///
    /// # Errors
    /// The shard is open elsewhere (another warroom process), or its files are unreadable.
    pub fn open(dir: &Path, layout: Layout) -> Result<Self> {
        let exists = dir.join("edge_config.json").is_file();
        let shard = if exists {
            EdgeShard::load(dir, None).map_err(|e| {
                KnowledgeError::Index(format!(
                    "cannot open the index in {} (is another warroom process using it?): {e}",
                    dir.display()
                ))
            })?
        } else {
            std::fs::create_dir_all(dir).map_err(|e| KnowledgeError::io(dir, e))?;
            let mut b = EdgeConfigBuilder::new().sparse_vector(
                LEXICAL,
                EdgeSparseVectorParamsBuilder::new()
                    .modifier(Modifier::Idf)
                    .build(),
            );
            if layout.dense_dim > 0 {
                b = b.vector(
                    DENSE,
                    EdgeVectorParamsBuilder::new(layout.dense_dim, Distance::Cosine).build(),
                );
            }
            let shard = EdgeShard::new(dir, b.build()).map_err(err)?;
            for f in KEYWORD_FIELDS {
                shard
                    .update(UpdateOperation::FieldIndexOperation(
                        FieldIndexOperations::CreateIndex(CreateIndex {
                            field_name: key(f)?,
                            field_schema: Some(PayloadFieldSchema::FieldType(
                                PayloadSchemaType::Keyword,
                            )),
                        }),
                    ))
                    .map_err(err)?;
            }
            shard.flush();
            shard
        };
        Ok(Self {
            inner: Arc::new(Inner {
                shard,
                write: Mutex::new(()),
                path: dir.to_path_buf(),
            }),
        })
    }

    /// The shard directory.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Builds the HNSW and sparse indexes (slow in debug builds; optional).
    ///
    /// # Errors
    /// [`KnowledgeError::Index`].
    pub fn optimize(&self) -> Result<()> {
        let _g = self.inner.lock();
        self.inner.shard.optimize().map_err(err)?;
        self.inner.shard.flush();
        Ok(())
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        // A poisoned lock only means another writer panicked; the shard itself is intact.
        self.write.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self, op: UpdateOperation) -> Result<()> {
        let _g = self.lock();
        self.shard.update(op).map_err(err)?;
        self.shard.flush();
        Ok(())
    }
}

fn sparse_vec(s: &Sparse) -> Result<SparseVector> {
    SparseVector::new(s.indices.clone(), s.values.clone()).map_err(err)
}

fn to_point(p: IndexPoint) -> Result<PointStructPersisted> {
    let mut named: Vec<(&str, Vector)> = Vec::with_capacity(2);
    if let Some(d) = p.dense {
        named.push((DENSE, Vector::from(d)));
    }
    if !p.sparse.is_empty() {
        named.push((LEXICAL, Vector::from(sparse_vec(&p.sparse)?)));
    }
    Ok(PointStructPersisted {
        id: PointId::NumId(p.id),
        vector: VectorStructPersisted::from(Vectors::new_named(named).0),
        payload: Some(Payload(p.payload)),
    })
}

fn to_filter(f: &IndexFilter) -> Result<Option<Filter>> {
    let mut must = Vec::new();
    if !f.kinds.is_empty() {
        must.push(Condition::Field(FieldCondition::new_match(
            key("kind")?,
            Match::from(f.kinds.clone()),
        )));
    }
    if !f.services.is_empty() {
        must.push(Condition::Field(FieldCondition::new_match(
            key("services")?,
            Match::from(f.services.clone()),
        )));
    }
    Ok((!must.is_empty()).then(|| {
        let mut flt = Filter::new();
        flt.must = Some(must);
        flt
    }))
}

fn num_id(id: &PointId) -> u64 {
    match id {
        PointId::NumId(n) => *n,
        PointId::Uuid(_) => 0,
    }
}

fn payload_map(p: Option<Payload>) -> Map<String, Value> {
    p.map(|p| p.0).unwrap_or_default()
}

impl VectorIndex for EdgeIndex {
    fn upsert(&self, points: Vec<IndexPoint>) -> BoxFut<'_, Result<()>> {
        let inner = self.inner.clone();
        Box::pin(async move {
            if points.is_empty() {
                return Ok(());
            }
            blocking(move || {
                let pts = points
                    .into_iter()
                    .map(to_point)
                    .collect::<Result<Vec<_>>>()?;
                inner.write(UpdateOperation::PointOperation(
                    PointOperations::UpsertPoints(PointInsertOperations::PointsList(pts)),
                ))
            })
            .await
        })
    }

    fn replace_sources(
        &self,
        sources: Vec<String>,
        points: Vec<IndexPoint>,
    ) -> BoxFut<'_, Result<()>> {
        let inner = self.inner.clone();
        Box::pin(async move {
            if sources.is_empty() && points.is_empty() {
                return Ok(());
            }
            blocking(move || {
                let pts = points
                    .into_iter()
                    .map(to_point)
                    .collect::<Result<Vec<_>>>()?;
                let _g = inner.lock();
                if !sources.is_empty() {
                    let f = Filter::new_must(Condition::Field(FieldCondition::new_match(
                        key("source")?,
                        Match::from(sources),
                    )));
                    inner
                        .shard
                        .update(UpdateOperation::PointOperation(
                            PointOperations::DeletePointsByFilter(f),
                        ))
                        .map_err(err)?;
                }
                if !pts.is_empty() {
                    inner
                        .shard
                        .update(UpdateOperation::PointOperation(
                            PointOperations::UpsertPoints(PointInsertOperations::PointsList(pts)),
                        ))
                        .map_err(err)?;
                }
                // One flush per batch: 0.7.2 does not replay its WAL, so this is what makes
                // the batch durable.
                inner.shard.flush();
                Ok(())
            })
            .await
        })
    }

    fn query(
        &self,
        q: QueryVector,
        filter: IndexFilter,
        limit: usize,
    ) -> BoxFut<'_, Result<Vec<IndexHit>>> {
        let inner = self.inner.clone();
        Box::pin(async move {
            blocking(move || {
                let (vector, using) = match q {
                    QueryVector::Dense(v) => {
                        if !inner.shard.config().vectors.contains_key(DENSE) {
                            return Ok(Vec::new());
                        }
                        (VectorInternal::from(v), DENSE)
                    }
                    QueryVector::Sparse(s) => {
                        if s.is_empty() {
                            return Ok(Vec::new());
                        }
                        (VectorInternal::from(sparse_vec(&s)?), LEXICAL)
                    }
                };
                let req = QueryRequest {
                    prefetches: vec![],
                    query: Some(ScoringQuery::Vector(QueryEnum::Nearest(NamedQuery {
                        query: vector,
                        using: Some(using.to_string()),
                    }))),
                    filter: to_filter(&filter)?,
                    score_threshold: None,
                    limit: limit.max(1),
                    offset: 0,
                    params: None,
                    with_vector: WithVector::Bool(false),
                    with_payload: WithPayloadInterface::Bool(true),
                };
                let hits = inner.shard.query(req).map_err(err)?;
                Ok(hits
                    .into_iter()
                    .map(|h| IndexHit {
                        id: num_id(&h.id),
                        score: h.score,
                        payload: payload_map(h.payload),
                    })
                    .collect())
            })
            .await
        })
    }

    fn scroll_all(&self) -> BoxFut<'_, Result<Vec<IndexHit>>> {
        let inner = self.inner.clone();
        Box::pin(async move {
            blocking(move || {
                let mut out = Vec::new();
                let mut offset = None;
                loop {
                    let (recs, next) = inner
                        .shard
                        .scroll(ScrollRequest {
                            offset,
                            limit: Some(1000),
                            filter: None,
                            with_payload: Some(WithPayloadInterface::Bool(true)),
                            with_vector: WithVector::Bool(false),
                            order_by: None,
                        })
                        .map_err(err)?;
                    out.extend(recs.into_iter().map(|r| IndexHit {
                        id: num_id(&r.id),
                        score: 0.0,
                        payload: payload_map(r.payload),
                    }));
                    match next {
                        Some(n) => offset = Some(n),
                        None => break,
                    }
                }
                Ok(out)
            })
            .await
        })
    }

    fn count(&self) -> BoxFut<'_, Result<usize>> {
        let inner = self.inner.clone();
        Box::pin(async move {
            blocking(move || {
                inner
                    .shard
                    .count(CountRequest {
                        filter: None,
                        exact: true,
                    })
                    .map_err(err)
            })
            .await
        })
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| KnowledgeError::Index(format!("index task failed: {e}")))?
}
