//! The index state file (`<index_dir>/state.json`): which embedder built the index, the
//! current generation, the next point id, and per source its content hash and lexical
//! statistics (term → number of its chunks containing it; their sum is the corpus document
//! frequency used for abstention).
//!
//! Written atomically (temporary file + fsync + rename). It is written after the index writes it
//! describes: a crash in between leaves a source with an old hash, which the next ingest
//! re-indexes (every source is deleted by filter before it is written), so the two converge.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{KnowledgeError, Result};

/// Format version of the state file.
pub const STATE_VERSION: u32 = 1;

/// See the module docs.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct State {
    /// [`STATE_VERSION`].
    pub version: u32,
    /// Embedder id (`none` for lexical only).
    pub embedder: String,
    /// Dense dimension (0 for none).
    pub dim: usize,
    /// Index generation (a rebuild moves to the next one).
    pub generation: u64,
    /// Next point id.
    pub next_id: u64,
    /// Indexed sources by key.
    pub sources: BTreeMap<String, SourceEntry>,
    /// Corpus document frequency by term id (derived from `sources`, not stored).
    #[serde(skip)]
    pub df: HashMap<u32, u32>,
    /// Number of points (derived).
    #[serde(skip)]
    pub points: u64,
}

/// One indexed file or incident.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SourceEntry {
    /// `runbook` or `history`.
    pub kind: String,
    /// The ingested root directory (runbooks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<String>,
    /// Path relative to the root, or the incident id.
    pub doc: String,
    /// SHA-256 of the content.
    pub hash: String,
    /// Points written for it.
    pub points: u64,
    /// `(term id, number of its points containing the term)`.
    pub terms: Vec<(u32, u32)>,
}

impl State {
    /// A new, empty state.
    pub fn new(embedder: &str, dim: usize) -> Self {
        Self {
            version: STATE_VERSION,
            embedder: embedder.to_string(),
            dim,
            generation: 1,
            next_id: 1,
            sources: BTreeMap::new(),
            df: HashMap::new(),
            points: 0,
        }
    }

    /// Reads `path`; `Ok(None)` when it does not exist.
    ///
    /// # Errors
    /// Unreadable or unparsable file.
    pub fn load(path: &Path) -> Result<Option<Self>> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(KnowledgeError::io(path, e)),
        };
        let mut s: State = serde_json::from_str(&text).map_err(|e| KnowledgeError::State {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        if s.version != STATE_VERSION {
            return Err(KnowledgeError::State {
                path: path.to_path_buf(),
                reason: format!("unknown version {}", s.version),
            });
        }
        s.rebuild_stats();
        Ok(Some(s))
    }

    /// Writes atomically.
    ///
    /// # Errors
    /// I/O failures.
    pub fn save(&self, path: &Path) -> Result<()> {
        let tmp: PathBuf = path.with_extension("json.tmp");
        let data = serde_json::to_vec(self).map_err(|e| KnowledgeError::State {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&data)?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)?;
            if let Some(dir) = path.parent() {
                // Make the rename durable too.
                if let Ok(d) = std::fs::File::open(dir) {
                    let _ = d.sync_all();
                }
            }
            Ok(())
        };
        write().map_err(|e| KnowledgeError::io(path, e))
    }

    /// Recomputes `df` and `points` from the sources.
    pub fn rebuild_stats(&mut self) {
        self.df.clear();
        self.points = 0;
        for s in self.sources.values() {
            self.points += s.points;
            for (t, n) in &s.terms {
                *self.df.entry(*t).or_default() += n;
            }
        }
    }

    /// Replaces (or with `None` removes) a source, keeping the statistics current.
    pub fn set_source(&mut self, key: &str, entry: Option<SourceEntry>) {
        if let Some(old) = self.sources.remove(key) {
            self.points = self.points.saturating_sub(old.points);
            for (t, n) in &old.terms {
                if let Some(d) = self.df.get_mut(t) {
                    *d = d.saturating_sub(*n);
                    if *d == 0 {
                        self.df.remove(t);
                    }
                }
            }
        }
        if let Some(new) = entry {
            self.points += new.points;
            for (t, n) in &new.terms {
                *self.df.entry(*t).or_default() += n;
            }
            self.sources.insert(key.to_string(), new);
        }
    }

    /// BM25 inverse document frequency of a term over the indexed points.
    pub fn idf(&self, term: u32) -> f32 {
        let n = self.points.max(1) as f32;
        let df = self.df.get(&term).copied().unwrap_or(0) as f32;
        (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_follow_added_and_removed_sources() {
        let mut s = State::new("none", 0);
        let e = |terms: Vec<(u32, u32)>| SourceEntry {
            kind: "runbook".into(),
            root: None,
            doc: "a.md".into(),
            hash: "h".into(),
            points: 2,
            terms,
        };
        s.set_source("a", Some(e(vec![(1, 2), (2, 1)])));
        s.set_source("b", Some(e(vec![(1, 1)])));
        assert_eq!(s.df.get(&1), Some(&3));
        assert_eq!(s.points, 4);
        assert!(s.idf(2) > s.idf(1));
        s.set_source("a", None);
        assert_eq!(s.df.get(&1), Some(&1));
        assert_eq!(s.df.get(&2), None);
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("state.json");
        s.save(&p).expect("save");
        let back = State::load(&p).expect("load").expect("exists");
        assert_eq!(back.df, s.df);
        assert_eq!(back.points, 2);
    }
}
