//! warroom-knowledge: runbook and incident-history retrieval with citations.
//!
//! Layout:
//! - [`config`]: the `[knowledge]` table.
//! - [`markdown`]: front matter + heading chunks with line ranges (pure).
//! - [`text`]: the lexical analyzer (jieba for Chinese, identifier splitting, stemming) and
//!   BM25 sparse vectors (pure).
//! - [`prepare`]: documents and incidents → point payloads; lexical vectors and embedding
//!   texts derive from payloads alone, so an index can be rebuilt from itself.
//! - [`embed`]: the `Embedder` port — OpenAI-compatible HTTP, in-process candle model, none.
//! - [`index`]: the `VectorIndex` port — qdrant-edge embedded (default), Qdrant server.
//! - [`state`]: the state file (embedder id and dimension, generation, content hashes).
//! - [`search`]: fusion, chunk → document aggregation, snippets, abstention.
//!
//! [`Knowledge`] ties them together. It knows nothing of the app: incidents come in as
//! [`HistoryDoc`] with plain fields. No vendor type crosses this crate's API.
#![warn(missing_docs)]

pub mod config;
pub mod embed;
pub mod error;
pub mod glossary;
pub mod index;
pub mod markdown;
pub mod prepare;
pub mod search;
pub mod state;
pub mod text;

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use sha2::{Digest, Sha256};

pub use config::{Backend, EmbedderKind, KnowledgeConfig};
pub use embed::{EmbedRole, Embedder};
pub use error::{KnowledgeError, Result};
pub use index::VectorIndex;
pub use prepare::HistoryDoc;
pub use search::{DocKind, Fusion, Hit, SearchAnswer, SearchOptions};

use index::{IndexFilter, IndexHit, IndexPoint, Layout, QueryVector};
use prepare::Prepared;
use state::{SourceEntry, State};

/// Progress of an ingest, reported once per file.
#[derive(Clone, Debug)]
pub struct IngestProgress {
    /// Files handled so far.
    pub done: usize,
    /// Files found.
    pub total: usize,
    /// The file just handled (relative to its root).
    pub path: String,
    /// Chunks written so far.
    pub chunks: usize,
}

/// What an ingest did.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct IngestReport {
    /// Files found.
    pub files: usize,
    /// New files indexed.
    pub added: usize,
    /// Changed files re-indexed.
    pub updated: usize,
    /// Unchanged files skipped.
    pub unchanged: usize,
    /// Files gone from disk, removed from the index.
    pub removed: usize,
    /// Points (chunks) written.
    pub chunks: usize,
    /// Wall time, seconds.
    pub seconds: f64,
}

impl std::fmt::Display for IngestReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} files: {} added, {} updated, {} unchanged, {} removed; {} chunks in {:.1} s ({:.0} chunks/s)",
            self.files,
            self.added,
            self.updated,
            self.unchanged,
            self.removed,
            self.chunks,
            self.seconds,
            self.chunks as f64 / self.seconds.max(1e-9)
        )
    }
}

/// A similar past incident.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct HistoryHit {
    /// Incident id.
    pub incident: String,
    /// Title.
    pub title: String,
    /// Fused score.
    pub score: f32,
    /// Excerpt of the best matching part.
    pub snippet: String,
    /// Services.
    pub services: Vec<String>,
}

/// The knowledge base: an index, an optional embedder and the state file.
///
/// `Send + Sync`; share it with `Arc`. Writers (ingest, incidents) are serialized; searches
/// run concurrently with them.
pub struct Knowledge {
    index: Arc<dyn VectorIndex>,
    embedder: Option<Arc<dyn Embedder>>,
    state: Mutex<State>,
    writer: tokio::sync::Mutex<()>,
    state_path: PathBuf,
    index_dir: PathBuf,
    cfg: KnowledgeConfig,
}

impl std::fmt::Debug for Knowledge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Knowledge")
            .field("index_dir", &self.index_dir)
            .field(
                "embedder",
                &self.embedder.as_ref().map(|e| e.id().to_string()),
            )
            .finish_non_exhaustive()
    }
}

const STATE_FILE: &str = "state.json";
/// Points per index write (and flush) during ingest.
const WRITE_BATCH: usize = 256;

fn embedder_label(id: &str, dim: usize) -> String {
    if dim == 0 {
        format!("{id} (lexical only)")
    } else {
        format!("{id} ({dim} dimensions)")
    }
}

fn open_index(
    cfg: &KnowledgeConfig,
    index_dir: &Path,
    generation: u64,
    layout: Layout,
) -> Result<Arc<dyn VectorIndex>> {
    Ok(match cfg.backend {
        Backend::Edge => Arc::new(index::edge::EdgeIndex::open(
            &shard_dir(index_dir, generation),
            layout,
        )?),
        Backend::Qdrant => Arc::new(index::server::ServerIndex::new(
            &cfg.qdrant,
            generation,
            layout,
        )?),
    })
}

fn shard_dir(index_dir: &Path, generation: u64) -> PathBuf {
    index_dir.join(format!("shard-{generation}"))
}

impl Knowledge {
    /// Opens (or creates) the knowledge base of `cfg` under `data_dir`.
    ///
    /// # Errors
    /// [`KnowledgeError::EmbedderMismatch`] when the index was built with another embedder
    /// (rebuild with [`Knowledge::reindex`]); a missing model; an index in use by another
    /// process.
    pub fn open(cfg: &KnowledgeConfig, data_dir: &Path) -> Result<Self> {
        let embedder = embed::build(&cfg.embedder)?;
        let (id, dim) = ident(embedder.as_deref());
        let index_dir = cfg.index_dir(data_dir);
        std::fs::create_dir_all(&index_dir).map_err(|e| KnowledgeError::io(&index_dir, e))?;
        let state_path = index_dir.join(STATE_FILE);
        let state = match State::load(&state_path)? {
            Some(s) => {
                if s.embedder != id || s.dim != dim {
                    return Err(KnowledgeError::EmbedderMismatch {
                        index_dir: index_dir.clone(),
                        indexed: embedder_label(&s.embedder, s.dim),
                        configured: embedder_label(&id, dim),
                    });
                }
                s
            }
            None => {
                let s = State::new(&id, dim);
                s.save(&state_path)?;
                s
            }
        };
        let index = open_index(cfg, &index_dir, state.generation, Layout { dense_dim: dim })?;
        Ok(Self {
            index,
            embedder,
            state: Mutex::new(state),
            writer: tokio::sync::Mutex::new(()),
            state_path,
            index_dir,
            cfg: cfg.clone(),
        })
    }

    /// Rebuilds the index for the configured embedder from the points already stored (runbook
    /// chunks and incidents alike), in a new generation, then opens it. Works whatever embedder
    /// built the old index; the old generation is deleted afterwards.
    ///
    /// # Errors
    /// As [`Knowledge::open`], plus embedding failures (the old generation is then kept).
    pub async fn reindex(
        cfg: &KnowledgeConfig,
        data_dir: &Path,
        progress: &(dyn Fn(usize, usize) + Send + Sync),
    ) -> Result<Self> {
        let embedder = embed::build(&cfg.embedder)?;
        let (id, dim) = ident(embedder.as_deref());
        let index_dir = cfg.index_dir(data_dir);
        std::fs::create_dir_all(&index_dir).map_err(|e| KnowledgeError::io(&index_dir, e))?;
        let state_path = index_dir.join(STATE_FILE);
        let Some(old_state) = State::load(&state_path)? else {
            // Nothing to rebuild.
            State::new(&id, dim).save(&state_path)?;
            return Self::open(cfg, data_dir);
        };
        let old_gen = old_state.generation;
        let points = {
            let old = open_index(
                cfg,
                &index_dir,
                old_gen,
                Layout {
                    dense_dim: old_state.dim,
                },
            )?;
            old.scroll_all().await?
        };
        let new_gen = old_gen + 1;
        if cfg.backend == Backend::Edge {
            // A leftover of an interrupted rebuild is never current: start it afresh.
            let d = shard_dir(&index_dir, new_gen);
            if d.exists() {
                std::fs::remove_dir_all(&d).map_err(|e| KnowledgeError::io(&d, e))?;
            }
        }
        {
            let new = open_index(cfg, &index_dir, new_gen, Layout { dense_dim: dim })?;
            let total = points.len();
            let batch = cfg.embedder.batch.max(1);
            let mut done = 0;
            for group in points.chunks(batch) {
                let prepared: Vec<Prepared> = group
                    .iter()
                    .map(|h| Prepared {
                        payload: h.payload.clone(),
                    })
                    .collect();
                let ids: Vec<u64> = group.iter().map(|h| h.id).collect();
                let pts = to_points(embedder.as_deref(), &prepared, ids).await?;
                new.upsert(pts).await?;
                done += group.len();
                progress(done, total);
            }
        }
        let mut st = old_state.clone();
        st.embedder = id;
        st.dim = dim;
        st.generation = new_gen;
        st.save(&state_path)?;
        // The old generation is no longer referenced.
        match cfg.backend {
            Backend::Edge => {
                let d = shard_dir(&index_dir, old_gen);
                if let Err(e) = std::fs::remove_dir_all(&d) {
                    tracing::warn!(dir = %d.display(), error = %e, "could not remove the old index generation");
                }
            }
            Backend::Qdrant => {
                let old = index::server::ServerIndex::new(
                    &cfg.qdrant,
                    old_gen,
                    Layout {
                        dense_dim: old_state.dim,
                    },
                )?;
                if let Err(e) = old.drop_collection().await {
                    tracing::warn!(error = %e, "could not drop the old collection");
                }
            }
        }
        Self::open(cfg, data_dir)
    }

    /// The index directory.
    pub fn index_dir(&self) -> &Path {
        &self.index_dir
    }

    /// The embedder id (`none` for lexical only).
    pub fn embedder_id(&self) -> String {
        ident(self.embedder.as_deref()).0
    }

    /// Number of indexed points (chunks).
    ///
    /// # Errors
    /// Index failures.
    pub async fn count(&self) -> Result<usize> {
        self.index.count().await
    }

    /// Indexes the Markdown (`.md`, `.markdown`) and plain-text (`.txt`) files under `dirs`.
    /// Unchanged files (same SHA-256) are skipped; files that disappeared from a given
    /// directory are removed. Document ids are paths relative to their directory.
    ///
    /// # Errors
    /// Unreadable directories, embedding or index failures (the state stays consistent: what
    /// was written is recorded, the rest is retried by the next ingest).
    pub async fn ingest(
        &self,
        dirs: &[PathBuf],
        progress: &(dyn Fn(IngestProgress) + Send + Sync),
    ) -> Result<IngestReport> {
        let _w = self.writer.lock().await;
        let t0 = Instant::now();
        let mut report = IngestReport::default();
        let mut files: Vec<(String, PathBuf, String)> = Vec::new(); // (root, abs, rel)
        let mut roots = Vec::new();
        for d in dirs {
            let root = std::fs::canonicalize(d).map_err(|e| KnowledgeError::io(d, e))?;
            if !root.is_dir() {
                return Err(KnowledgeError::Invalid(format!(
                    "{} is not a directory",
                    d.display()
                )));
            }
            let root_s = root.to_string_lossy().to_string();
            let mut found = Vec::new();
            walk(&root, &root, &mut found)?;
            found.sort();
            for rel in found {
                files.push((root_s.clone(), root.join(&rel), rel));
            }
            roots.push(root_s);
        }
        report.files = files.len();
        let total = files.len();
        let mut seen: BTreeSet<String> = BTreeSet::new();
        let mut pending: Vec<(String, Vec<Prepared>, SourceMeta)> = Vec::new();
        let mut pending_points = 0usize;
        for (i, (root, abs, rel)) in files.iter().enumerate() {
            let key = runbook_key(root, rel);
            seen.insert(key.clone());
            let bytes = std::fs::read(abs).map_err(|e| KnowledgeError::io(abs, e))?;
            let hash = hex(&Sha256::digest(&bytes));
            let previous = self.lock_state().sources.get(&key).map(|e| e.hash.clone());
            if previous.as_deref() == Some(hash.as_str()) {
                report.unchanged += 1;
            } else {
                let text = String::from_utf8_lossy(&bytes);
                let stem = Path::new(rel)
                    .file_stem()
                    .map(|s| s.to_string_lossy().to_string())
                    .unwrap_or_default();
                let parsed = markdown::parse(&text, &stem, markdown::is_markdown(rel));
                let prepared = prepare::runbook(&key, root, rel, &parsed);
                pending_points += prepared.len();
                pending.push((
                    key,
                    prepared,
                    SourceMeta {
                        kind: prepare::KIND_RUNBOOK,
                        root: Some(root.clone()),
                        doc: rel.clone(),
                        hash,
                    },
                ));
                if previous.is_some() {
                    report.updated += 1;
                } else {
                    report.added += 1;
                }
                if pending_points >= WRITE_BATCH {
                    report.chunks += self.write_sources(std::mem::take(&mut pending)).await?;
                    pending_points = 0;
                    self.save_state()?;
                }
            }
            progress(IngestProgress {
                done: i + 1,
                total,
                path: rel.clone(),
                chunks: report.chunks + pending_points,
            });
        }
        report.chunks += self.write_sources(pending).await?;
        // Files gone from the given directories.
        let gone: Vec<String> = {
            let st = self.lock_state();
            st.sources
                .iter()
                .filter(|(k, e)| {
                    e.kind == prepare::KIND_RUNBOOK
                        && e.root.as_ref().is_some_and(|r| roots.contains(r))
                        && !seen.contains(*k)
                })
                .map(|(k, _)| k.clone())
                .collect()
        };
        if !gone.is_empty() {
            self.index.replace_sources(gone.clone(), Vec::new()).await?;
            let mut st = self.lock_state();
            for key in &gone {
                st.set_source(key, None);
            }
            report.removed = gone.len();
        }
        self.save_state()?;
        report.seconds = t0.elapsed().as_secs_f64();
        Ok(report)
    }

    /// Indexes (or re-indexes) a resolved incident as history.
    ///
    /// # Errors
    /// An empty id; embedding or index failures.
    pub async fn index_incident(&self, doc: HistoryDoc) -> Result<()> {
        if doc.id.trim().is_empty() {
            return Err(KnowledgeError::Invalid("incident id is empty".into()));
        }
        let _w = self.writer.lock().await;
        let key = format!("history:{}", doc.id);
        let hash = hex(&Sha256::digest(
            serde_json::to_vec(&doc).unwrap_or_default(),
        ));
        if self.lock_state().sources.get(&key).map(|e| e.hash.as_str()) == Some(hash.as_str()) {
            return Ok(());
        }
        let prepared = prepare::history(&key, &doc);
        self.write_sources(vec![(
            key,
            prepared,
            SourceMeta {
                kind: prepare::KIND_HISTORY,
                root: None,
                doc: doc.id.clone(),
                hash,
            },
        )])
        .await?;
        self.save_state()
    }

    /// Searches runbooks (and/or history, per `opts.kinds`).
    ///
    /// # Errors
    /// Embedding or index failures.
    pub async fn search(&self, query: &str, opts: &SearchOptions) -> Result<SearchAnswer> {
        let threshold = opts.abstain_threshold.unwrap_or(self.cfg.abstain_threshold);
        let filter = IndexFilter {
            kinds: if opts.kinds.is_empty() {
                vec![prepare::KIND_RUNBOOK.to_string()]
            } else {
                opts.kinds.iter().map(|k| k.as_str().to_string()).collect()
            },
            services: opts.services.clone(),
        };
        let sparse = text::query_vector(query);
        let lexical = self.index.query(
            QueryVector::Sparse(sparse),
            filter.clone(),
            search::CANDIDATES,
        );
        let dense = async {
            match &self.embedder {
                None => Ok(Vec::new()),
                Some(e) => {
                    let mut q = text::clean_for_embedding(query);
                    if q.trim().is_empty() {
                        q = query.to_string();
                    }
                    let v = e.embed(&[q], EmbedRole::Query).await?;
                    let v = v.into_iter().next().unwrap_or_default();
                    self.index
                        .query(QueryVector::Dense(v), filter.clone(), search::CANDIDATES)
                        .await
                }
            }
        };
        let (lexical, dense) = tokio::join!(lexical, dense);
        let (lexical, dense): (Vec<IndexHit>, Vec<IndexHit>) = (lexical?, dense?);
        let st = self.lock_state();
        Ok(search::rank(
            query,
            lexical,
            dense,
            self.embedder.is_some(),
            opts,
            threshold,
            &*st,
        ))
    }

    /// Past incidents similar to `text` (an alert, a symptom, a new incident's title).
    ///
    /// # Errors
    /// Embedding or index failures.
    pub async fn similar_incidents(&self, text: &str, k: usize) -> Result<Vec<HistoryHit>> {
        let opts = SearchOptions {
            k,
            kinds: vec![DocKind::History],
            ..SearchOptions::default()
        };
        let a = self.search(text, &opts).await?;
        Ok(a.hits
            .into_iter()
            .map(|h| HistoryHit {
                incident: h.doc,
                title: h.title,
                score: h.score,
                snippet: h.snippet,
                services: h.services,
            })
            .collect())
    }

    fn lock_state(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is only mutated in small, panic-free steps; a poisoned lock is still sound.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn save_state(&self) -> Result<()> {
        let st = self.lock_state().clone();
        st.save(&self.state_path)
    }

    /// Replaces the points of each source (delete by source, then insert, one durable write),
    /// then records the sources in the state. Returns the number of points written.
    async fn write_sources(
        &self,
        items: Vec<(String, Vec<Prepared>, SourceMeta)>,
    ) -> Result<usize> {
        if items.is_empty() {
            return Ok(0);
        }
        let total: usize = items.iter().map(|i| i.1.len()).sum();
        let first_id = {
            let mut st = self.lock_state();
            let id = st.next_id;
            st.next_id += total as u64;
            id
        };
        let all: Vec<Prepared> = items.iter().flat_map(|i| i.1.iter().cloned()).collect();
        let ids: Vec<u64> = (first_id..first_id + total as u64).collect();
        let mut points = Vec::with_capacity(total);
        let batch = self.cfg.embedder.batch.max(1);
        for (group, gids) in all.chunks(batch).zip(ids.chunks(batch)) {
            points.extend(to_points(self.embedder.as_deref(), group, gids.to_vec()).await?);
        }
        // Term statistics (points per term) of each source, for the state.
        let mut entries = Vec::with_capacity(items.len());
        let mut at = 0usize;
        for (key, prepared, meta) in items {
            let n = prepared.len();
            let mut counts: HashMap<u32, u32> = HashMap::new();
            for p in &points[at..at + n] {
                for t in &p.sparse.indices {
                    *counts.entry(*t).or_default() += 1;
                }
            }
            at += n;
            let mut terms: Vec<(u32, u32)> = counts.into_iter().collect();
            terms.sort_unstable();
            entries.push((
                key,
                SourceEntry {
                    kind: meta.kind.to_string(),
                    root: meta.root,
                    doc: meta.doc,
                    hash: meta.hash,
                    points: n as u64,
                    terms,
                },
            ));
        }
        let keys: Vec<String> = entries.iter().map(|(k, _)| k.clone()).collect();
        self.index.replace_sources(keys, points).await?;
        let mut st = self.lock_state();
        for (key, entry) in entries {
            st.set_source(&key, Some(entry));
        }
        Ok(total)
    }
}

struct SourceMeta {
    kind: &'static str,
    root: Option<String>,
    doc: String,
    hash: String,
}

impl search::Idf for State {
    fn idf(&self, term: u32) -> f32 {
        State::idf(self, term)
    }
}

fn ident(e: Option<&dyn Embedder>) -> (String, usize) {
    match e {
        Some(e) => (e.id().to_string(), e.dim()),
        None => ("none".to_string(), 0),
    }
}

async fn to_points(
    embedder: Option<&dyn Embedder>,
    prepared: &[Prepared],
    ids: Vec<u64>,
) -> Result<Vec<IndexPoint>> {
    let dense: Vec<Option<Vec<f32>>> = match embedder {
        Some(e) => {
            let texts: Vec<String> = prepared.iter().map(Prepared::embed_text).collect();
            e.embed(&texts, EmbedRole::Passage)
                .await?
                .into_iter()
                .map(Some)
                .collect()
        }
        None => vec![None; prepared.len()],
    };
    Ok(prepared
        .iter()
        .zip(ids)
        .zip(dense)
        .map(|((p, id), dense)| IndexPoint {
            id,
            dense,
            sparse: p.sparse(),
            payload: p.payload.clone(),
        })
        .collect())
}

fn runbook_key(root: &str, rel: &str) -> String {
    format!("runbook:{root}//{rel}")
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Collects runbook files under `dir` as paths relative to `root` (`/`-separated). Hidden
/// entries and symlinks are skipped.
fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<()> {
    let rd = std::fs::read_dir(dir).map_err(|e| KnowledgeError::io(dir, e))?;
    for entry in rd {
        let entry = entry.map_err(|e| KnowledgeError::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().to_string();
        if name.starts_with('.') {
            continue;
        }
        let ft = entry
            .file_type()
            .map_err(|e| KnowledgeError::io(entry.path(), e))?;
        let path = entry.path();
        if ft.is_dir() {
            walk(root, &path, out)?;
        } else if ft.is_file() {
            let lower = name.to_ascii_lowercase();
            if lower.ends_with(".md") || lower.ends_with(".markdown") || lower.ends_with(".txt") {
                if let Ok(rel) = path.strip_prefix(root) {
                    let rel: Vec<String> = rel
                        .components()
                        .map(|c| c.as_os_str().to_string_lossy().to_string())
                        .collect();
                    out.push(rel.join("/"));
                }
            }
        }
    }
    Ok(())
}
