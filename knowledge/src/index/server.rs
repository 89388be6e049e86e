//! [`VectorIndex`] on a Qdrant server over gRPC (qdrant-client 1.20).
//!
//! One collection per index generation (`<prefix>_g<N>`), a named dense vector (cosine) and a
//! named sparse vector with the IDF modifier, keyword payload indexes on `source`, `kind`,
//! `services`. Writes use `wait=true`, so they are durable when they return. Every call has the
//! configured timeout. Requests are built by plain functions (tested here without a server).

use std::collections::HashMap;
use std::time::Duration;

use qdrant_client::qdrant::{
    point_id::PointIdOptions, r#match::MatchValue, Condition, CountPointsBuilder, CreateCollection,
    CreateCollectionBuilder, CreateFieldIndexCollection, CreateFieldIndexCollectionBuilder,
    DeletePoints, DeletePointsBuilder, Distance, FieldType, Filter, Modifier, NamedVectors,
    PointId, PointStruct, Query, QueryPoints, QueryPointsBuilder, ScrollPointsBuilder,
    SparseVectorParamsBuilder, SparseVectorsConfigBuilder, UpsertPoints, UpsertPointsBuilder,
    Value as QValue, Vector, VectorInput, VectorParamsBuilder, VectorsConfigBuilder,
};
use qdrant_client::{Payload, Qdrant};
use serde_json::{Map, Value};

use super::{
    IndexFilter, IndexHit, IndexPoint, Layout, QueryVector, VectorIndex, DENSE, KEYWORD_FIELDS,
    LEXICAL,
};
use crate::config::QdrantConfig;
use crate::embed::BoxFut;
use crate::error::{KnowledgeError, Result};

/// A collection on a Qdrant server.
pub struct ServerIndex {
    client: Qdrant,
    collection: String,
    layout: Layout,
    ready: tokio::sync::OnceCell<()>,
}

impl std::fmt::Debug for ServerIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerIndex")
            .field("collection", &self.collection)
            .finish_non_exhaustive()
    }
}

fn err(e: impl std::fmt::Display) -> KnowledgeError {
    KnowledgeError::Index(format!("qdrant server: {e}"))
}

/// Collection name of a generation.
pub fn collection_name(prefix: &str, generation: u64) -> String {
    format!("{prefix}_g{generation}")
}

impl ServerIndex {
    /// Connects (lazily: the first call dials) to `cfg.url`; the collection is created on
    /// [`ServerIndex::ensure_collection`].
    ///
    /// # Errors
    /// A bad URL, or an API-key variable that is named but unset.
    pub fn new(cfg: &QdrantConfig, generation: u64, layout: Layout) -> Result<Self> {
        crate::embed::openai::install_crypto_provider();
        let key = match &cfg.api_key_env {
            Some(var) => Some(std::env::var(var).map_err(|_| {
                KnowledgeError::Config(format!("qdrant.api_key_env names {var}, which is not set"))
            })?),
            None => None,
        };
        let t = Duration::from_millis(cfg.timeout_ms.max(1));
        let client = Qdrant::from_url(&cfg.url)
            .api_key(key)
            .timeout(t)
            .connect_timeout(t)
            .skip_compatibility_check()
            .build()
            .map_err(err)?;
        Ok(Self {
            client,
            collection: collection_name(&cfg.collection, generation),
            layout,
            ready: tokio::sync::OnceCell::new(),
        })
    }

    /// Creates the collection and its payload indexes unless it exists.
    ///
    /// # Errors
    /// The server is unreachable or refuses.
    pub async fn ensure_collection(&self) -> Result<()> {
        self.ready
            .get_or_try_init(|| self.create_if_missing())
            .await
            .map(|_| ())
    }

    async fn create_if_missing(&self) -> Result<()> {
        if self
            .client
            .collection_exists(self.collection.as_str())
            .await
            .map_err(err)?
        {
            return Ok(());
        }
        self.client
            .create_collection(create_collection_request(&self.collection, self.layout))
            .await
            .map_err(err)?;
        for f in KEYWORD_FIELDS {
            self.client
                .create_field_index(field_index_request(&self.collection, f))
                .await
                .map_err(err)?;
        }
        Ok(())
    }

    /// Deletes the collection (used after a rebuild moved to the next generation).
    ///
    /// # Errors
    /// The server is unreachable or refuses.
    pub async fn drop_collection(&self) -> Result<()> {
        self.client
            .delete_collection(self.collection.as_str())
            .await
            .map_err(err)?;
        Ok(())
    }
}

/// The create-collection request for a layout.
pub fn create_collection_request(name: &str, layout: Layout) -> CreateCollection {
    let mut sparse = SparseVectorsConfigBuilder::default();
    sparse.add_named_vector_params(
        LEXICAL,
        SparseVectorParamsBuilder::default().modifier(Modifier::Idf),
    );
    let mut b = CreateCollectionBuilder::new(name).sparse_vectors_config(sparse);
    if layout.dense_dim > 0 {
        let mut dense = VectorsConfigBuilder::default();
        dense.add_named_vector_params(
            DENSE,
            VectorParamsBuilder::new(layout.dense_dim as u64, Distance::Cosine),
        );
        b = b.vectors_config(dense);
    }
    b.build()
}

/// A keyword payload index request.
pub fn field_index_request(name: &str, field: &str) -> CreateFieldIndexCollection {
    CreateFieldIndexCollectionBuilder::new(name, field, FieldType::Keyword)
        .wait(true)
        .build()
}

/// The upsert request (waits for the write to be applied).
///
/// # Errors
/// A payload that is not a JSON object cannot happen (the type is a map); conversion errors
/// are reported as index errors.
pub fn upsert_request(name: &str, points: Vec<IndexPoint>) -> Result<UpsertPoints> {
    let mut out = Vec::with_capacity(points.len());
    for p in points {
        let mut nv = NamedVectors::default();
        if let Some(d) = p.dense {
            nv = nv.add_vector(DENSE, Vector::from(d));
        }
        if !p.sparse.is_empty() {
            nv = nv.add_vector(
                LEXICAL,
                Vector::new_sparse(p.sparse.indices.clone(), p.sparse.values.clone()),
            );
        }
        out.push(PointStruct::new(p.id, nv, Payload::from(p.payload)));
    }
    Ok(UpsertPointsBuilder::new(name, out).wait(true).build())
}

/// Delete-by-filter on `source` (any of `sources`).
pub fn delete_sources_request(name: &str, sources: Vec<String>) -> DeletePoints {
    let m = match <[String; 1]>::try_from(sources) {
        Ok([one]) => MatchValue::Keyword(one),
        Err(many) => MatchValue::Keywords(qdrant_client::qdrant::RepeatedStrings { strings: many }),
    };
    DeletePointsBuilder::new(name)
        .points(Filter::must([Condition::matches("source", m)]))
        .wait(true)
        .build()
}

fn to_filter(f: &IndexFilter) -> Option<Filter> {
    let mut must = Vec::new();
    if !f.kinds.is_empty() {
        must.push(Condition::matches(
            "kind",
            MatchValue::Keywords(qdrant_client::qdrant::RepeatedStrings {
                strings: f.kinds.clone(),
            }),
        ));
    }
    if !f.services.is_empty() {
        must.push(Condition::matches(
            "services",
            MatchValue::Keywords(qdrant_client::qdrant::RepeatedStrings {
                strings: f.services.clone(),
            }),
        ));
    }
    (!must.is_empty()).then(|| Filter::must(must))
}

/// The nearest-neighbour request for one vector.
pub fn query_request(
    name: &str,
    q: QueryVector,
    filter: &IndexFilter,
    limit: usize,
) -> QueryPoints {
    let (input, using) = match q {
        QueryVector::Dense(v) => (VectorInput::new_dense(v), DENSE),
        QueryVector::Sparse(s) => (VectorInput::new_sparse(s.indices, s.values), LEXICAL),
    };
    let mut b = QueryPointsBuilder::new(name)
        .query(Query::new_nearest(input))
        .using(using)
        .limit(limit.max(1) as u64)
        .with_payload(true);
    if let Some(f) = to_filter(filter) {
        b = b.filter(f);
    }
    b.build()
}

fn num_id(id: Option<PointId>) -> u64 {
    match id.and_then(|i| i.point_id_options) {
        Some(PointIdOptions::Num(n)) => n,
        _ => 0,
    }
}

fn to_json(p: HashMap<String, QValue>) -> Map<String, Value> {
    p.into_iter().map(|(k, v)| (k, v.into_json())).collect()
}

impl VectorIndex for ServerIndex {
    fn upsert(&self, points: Vec<IndexPoint>) -> BoxFut<'_, Result<()>> {
        Box::pin(async move {
            self.ensure_collection().await?;
            if points.is_empty() {
                return Ok(());
            }
            self.client
                .upsert_points(upsert_request(&self.collection, points)?)
                .await
                .map_err(err)?;
            Ok(())
        })
    }

    fn replace_sources(
        &self,
        sources: Vec<String>,
        points: Vec<IndexPoint>,
    ) -> BoxFut<'_, Result<()>> {
        Box::pin(async move {
            self.ensure_collection().await?;
            if !sources.is_empty() {
                self.client
                    .delete_points(delete_sources_request(&self.collection, sources))
                    .await
                    .map_err(err)?;
            }
            if !points.is_empty() {
                self.client
                    .upsert_points(upsert_request(&self.collection, points)?)
                    .await
                    .map_err(err)?;
            }
            Ok(())
        })
    }

    fn query(
        &self,
        q: QueryVector,
        filter: IndexFilter,
        limit: usize,
    ) -> BoxFut<'_, Result<Vec<IndexHit>>> {
        Box::pin(async move {
            self.ensure_collection().await?;
            match &q {
                QueryVector::Dense(_) if self.layout.dense_dim == 0 => return Ok(Vec::new()),
                QueryVector::Sparse(s) if s.is_empty() => return Ok(Vec::new()),
                _ => {}
            }
            let resp = self
                .client
                .query(query_request(&self.collection, q, &filter, limit))
                .await
                .map_err(err)?;
            Ok(resp
                .result
                .into_iter()
                .map(|p| IndexHit {
                    id: num_id(p.id),
                    score: p.score,
                    payload: to_json(p.payload),
                })
                .collect())
        })
    }

    fn scroll_all(&self) -> BoxFut<'_, Result<Vec<IndexHit>>> {
        Box::pin(async move {
            self.ensure_collection().await?;
            let mut out = Vec::new();
            let mut offset: Option<PointId> = None;
            loop {
                let mut b = ScrollPointsBuilder::new(self.collection.as_str())
                    .limit(1000)
                    .with_payload(true);
                if let Some(o) = offset.take() {
                    b = b.offset(o);
                }
                let resp = self.client.scroll(b).await.map_err(err)?;
                out.extend(resp.result.into_iter().map(|p| IndexHit {
                    id: num_id(p.id),
                    score: 0.0,
                    payload: to_json(p.payload),
                }));
                match resp.next_page_offset {
                    Some(n) => offset = Some(n),
                    None => break,
                }
            }
            Ok(out)
        })
    }

    fn count(&self) -> BoxFut<'_, Result<usize>> {
        Box::pin(async move {
            self.ensure_collection().await?;
            let resp = self
                .client
                .count(CountPointsBuilder::new(self.collection.as_str()).exact(true))
                .await
                .map_err(err)?;
            Ok(resp.result.map(|r| r.count as usize).unwrap_or(0))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::Sparse;
    use qdrant_client::qdrant::{
        condition::ConditionOneOf, points_selector::PointsSelectorOneOf, query::Variant,
        vector_input, vectors_config::Config as VConfig,
    };

    #[test]
    fn a_lexical_only_collection_has_an_idf_sparse_vector_and_no_dense_one() {
        let c = create_collection_request("kb_g1", Layout { dense_dim: 0 });
        assert_eq!(c.collection_name, "kb_g1");
        assert!(c.vectors_config.is_none());
        let sparse = c.sparse_vectors_config.expect("sparse config");
        let lex = sparse.map.get(LEXICAL).expect("lexical vector");
        assert_eq!(lex.modifier, Some(Modifier::Idf as i32));
    }

    #[test]
    fn a_dense_collection_uses_cosine_with_the_model_dimension() {
        let c = create_collection_request("kb_g2", Layout { dense_dim: 384 });
        let Some(qdrant_client::qdrant::VectorsConfig {
            config: Some(VConfig::ParamsMap(m)),
        }) = c.vectors_config
        else {
            panic!("named dense vectors expected");
        };
        let d = m.map.get(DENSE).expect("dense vector");
        assert_eq!(d.size, 384);
        assert_eq!(d.distance, Distance::Cosine as i32);
    }

    #[test]
    fn deleting_a_source_matches_the_keyword_even_with_spaces() {
        let d = delete_sources_request("kb_g1", vec!["runbooks/disk full.md".into()]);
        assert_eq!(d.wait, Some(true));
        let Some(PointsSelectorOneOf::Filter(f)) = d.points.and_then(|p| p.points_selector_one_of)
        else {
            panic!("filter selector expected");
        };
        let Some(ConditionOneOf::Field(fc)) = f.must[0].condition_one_of.clone() else {
            panic!("field condition expected");
        };
        assert_eq!(fc.key, "source");
        assert_eq!(
            fc.r#match.and_then(|m| m.match_value),
            Some(MatchValue::Keyword("runbooks/disk full.md".into()))
        );
    }

    #[test]
    fn a_sparse_query_uses_the_lexical_vector_and_the_service_filter() {
        let q = query_request(
            "kb_g1",
            QueryVector::Sparse(Sparse {
                indices: vec![3, 9],
                values: vec![1.0, 0.2],
            }),
            &IndexFilter {
                kinds: vec!["runbook".into()],
                services: vec!["gateway".into()],
            },
            7,
        );
        assert_eq!(q.using.as_deref(), Some(LEXICAL));
        assert_eq!(q.limit, Some(7));
        let Some(Variant::Nearest(input)) = q.query.and_then(|q| q.variant) else {
            panic!("nearest query expected");
        };
        let Some(vector_input::Variant::Sparse(s)) = input.variant else {
            panic!("sparse input expected");
        };
        assert_eq!(s.indices, vec![3, 9]);
        assert_eq!(q.filter.expect("filter").must.len(), 2);
    }

    #[test]
    fn upserted_points_carry_both_vectors_and_the_payload() {
        let mut payload = Map::new();
        payload.insert("source".into(), Value::String("a.md".into()));
        let u = upsert_request(
            "kb_g1",
            vec![IndexPoint {
                id: 42,
                dense: Some(vec![0.6, 0.8]),
                sparse: Sparse {
                    indices: vec![1],
                    values: vec![0.5],
                },
                payload,
            }],
        )
        .expect("request");
        assert_eq!(u.wait, Some(true));
        assert_eq!(u.points.len(), 1);
        let p = &u.points[0];
        assert_eq!(num_id(p.id.clone()), 42);
        assert_eq!(
            p.payload.get("source").map(|v| v.clone().into_json()),
            Some(Value::String("a.md".into()))
        );
    }
}
