//! Retrieval: lexical and dense candidates, chunk → document aggregation, rank fusion,
//! snippets with citations, and abstention.
//!
//! - Lexical: the index's IDF-weighted sparse dot product; a document scores its best chunk
//!   plus a fifth of its second best (several matching sections are evidence too).
//! - Dense: cosine of the best chunk.
//! - Fusion: by default equal shares of the min-max normalised lexical score and cosine; also
//!   a raw blend or reciprocal-rank fusion; see [`Fusion`].
//! - Abstention: a confidence in 0..1, the share of the query's IDF mass the top document
//!   covers (the same measure with or without an embedder); below the threshold the answer is
//!   "no runbook covers this", with the closest documents still listed.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::prepare::{get_list, get_str, get_usize, KIND_HISTORY, KIND_RUNBOOK};
use crate::text;

/// Candidate chunks fetched per channel.
pub const CANDIDATES: usize = 100;

/// Which kinds of documents to search.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocKind {
    /// Runbooks (files).
    Runbook,
    /// Resolved incidents.
    History,
}

impl DocKind {
    /// Payload value.
    pub fn as_str(self) -> &'static str {
        match self {
            DocKind::Runbook => KIND_RUNBOOK,
            DocKind::History => KIND_HISTORY,
        }
    }
}

/// How lexical and dense rankings are combined.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Fusion {
    /// `w * lexical/lexical_max + (1-w)_dense * cosine` — scores, not ranks.
    Blend {
        /// Weight of the dense cosine (the lexical part has weight 1).
        dense_weight: f32,
    },
    /// Convex combination of min-max normalised scores: `(1-alpha) * lexical/lexical_max +
    /// alpha * (cosine - cosine_min) / (cosine_max - cosine_min)` over the candidates (the
    /// "TM2C2" fusion of Bruch et al., *An Analysis of Fusion Functions for Hybrid Retrieval*,
    /// 2022). Both channels span 0..1 per query, so `alpha` is a plain share.
    Convex {
        /// Share of the dense channel, 0..1.
        alpha: f32,
    },
    /// Reciprocal-rank fusion with constant `k`.
    Rrf {
        /// The RRF constant (60 is customary).
        k: f32,
    },
}

impl Default for Fusion {
    /// Equal shares of the two normalised channels: no weight fitted to a query set (on the
    /// dev and own sets every share in 0.4..0.6 scores within a query or two of 0.5), and,
    /// unlike the raw-cosine blend, insensitive to how spread out a model's cosines are.
    fn default() -> Self {
        Fusion::Convex { alpha: 0.5 }
    }
}

/// Search parameters.
#[derive(Clone, Debug)]
pub struct SearchOptions {
    /// Documents to return.
    pub k: usize,
    /// Only documents tagged with one of these services (empty: all).
    pub services: Vec<String>,
    /// Document kinds (empty: runbooks only).
    pub kinds: Vec<DocKind>,
    /// Override of the configured abstention threshold.
    pub abstain_threshold: Option<f32>,
    /// Rank fusion.
    pub fusion: Fusion,
}

impl Default for SearchOptions {
    fn default() -> Self {
        Self {
            k: 5,
            services: Vec::new(),
            kinds: vec![DocKind::Runbook],
            abstain_threshold: None,
            fusion: Fusion::default(),
        }
    }
}

/// One ranked document.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Hit {
    /// Document id: the path relative to the ingested directory, or the incident id.
    pub doc: String,
    /// Runbook or history.
    pub kind: DocKind,
    /// Title.
    pub title: String,
    /// Fused score (only comparable within one answer).
    pub score: f32,
    /// The best chunk's heading trail.
    pub headings: Vec<String>,
    /// A short excerpt of the best chunk.
    pub snippet: String,
    /// First line of the best chunk (1-based).
    pub line_start: usize,
    /// Last line of the best chunk (inclusive).
    pub line_end: usize,
    /// `doc:Lstart-Lend`.
    pub citation: String,
    /// Services from the front matter or the incident.
    pub services: Vec<String>,
}

/// The answer to a search.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct SearchAnswer {
    /// Documents, best first. When `abstain` is true these are only the closest documents,
    /// not an answer.
    pub hits: Vec<Hit>,
    /// True when no document covers the question well enough ("no runbook covers this").
    pub abstain: bool,
    /// Confidence in the top document, 0..1 (compared with the threshold).
    pub confidence: f32,
}

impl SearchAnswer {
    /// The closest documents when abstaining (else empty).
    pub fn closest(&self) -> &[Hit] {
        if self.abstain {
            &self.hits
        } else {
            &[]
        }
    }
}

/// Per-document evidence gathered from the candidate chunks.
#[derive(Default)]
struct DocAgg {
    lex: Vec<f32>,
    dense: Option<f32>,
    /// Best lexical chunk payload and score.
    best_lex: Option<(f32, Map<String, Value>)>,
    /// Best dense chunk payload and score.
    best_dense: Option<(f32, Map<String, Value>)>,
    /// Best lexical and dense chunks with text under their heading (what to cite when
    /// the best chunk is a heading alone, such as a runbook's `# Title` line).
    body_lex: Option<(f32, Map<String, Value>)>,
    body_dense: Option<(f32, Map<String, Value>)>,
    any: Option<Map<String, Value>>,
}

/// A chunk with text of its own: not the profile, and not a heading line alone.
fn has_body(p: &Map<String, Value>) -> bool {
    if get_str(p, "part") == "profile" {
        return false;
    }
    let text = get_str(p, "text").trim();
    !(text.starts_with('#') && !text.contains('\n'))
}

fn keep_best(slot: &mut Option<(f32, Map<String, Value>)>, score: f32, p: &Map<String, Value>) {
    if slot.as_ref().is_none_or(|(s, _)| score > *s) {
        *slot = Some((score, p.clone()));
    }
}

impl DocAgg {
    fn lex_score(&self) -> f32 {
        let mut v = self.lex.clone();
        v.sort_by(|a, b| b.total_cmp(a));
        v.first().copied().unwrap_or(0.0) + 0.2 * v.get(1).copied().unwrap_or(0.0)
    }

    /// The chunk to cite: the best lexical non-profile chunk, else the best dense one, else
    /// whatever was seen (a profile cites the document's first section).
    fn cite(&self, prefer_dense: bool) -> Option<&Map<String, Value>> {
        let lex = self.body_lex.as_ref().map(|(_, p)| p);
        let dense = self.body_dense.as_ref().map(|(_, p)| p);
        let body = if prefer_dense {
            dense.or(lex)
        } else {
            lex.or(dense)
        };
        if body.is_some() {
            return body;
        }
        let is_chunk = |p: &&Map<String, Value>| get_str(p, "part") != "profile";
        let lex = self.best_lex.as_ref().map(|(_, p)| p).filter(is_chunk);
        let dense = self.best_dense.as_ref().map(|(_, p)| p).filter(is_chunk);
        let first = if prefer_dense {
            dense.or(lex)
        } else {
            lex.or(dense)
        };
        first.or(self.any.as_ref())
    }
}

/// Lexical statistics the caller provides (from the index state).
pub trait Idf {
    /// IDF of a term id.
    fn idf(&self, term: u32) -> f32;
}

/// Fuses the two candidate lists into ranked documents and decides on abstention.
pub(crate) fn rank(
    query: &str,
    lexical: Vec<crate::index::IndexHit>,
    dense: Vec<crate::index::IndexHit>,
    has_dense: bool,
    opts: &SearchOptions,
    threshold: f32,
    idf: &dyn Idf,
) -> SearchAnswer {
    let mut docs: HashMap<String, DocAgg> = HashMap::new();
    for h in lexical {
        let key = get_str(&h.payload, "source").to_string();
        let d = docs.entry(key).or_default();
        d.lex.push(h.score);
        let is_profile = get_str(&h.payload, "part") == "profile";
        let better = match &d.best_lex {
            None => true,
            Some((s, p)) => {
                (get_str(p, "part") == "profile" && !is_profile)
                    || (h.score > *s && is_profile == (get_str(p, "part") == "profile"))
            }
        };
        if better {
            d.best_lex = Some((h.score, h.payload.clone()));
        }
        if has_body(&h.payload) {
            keep_best(&mut d.body_lex, h.score, &h.payload);
        }
        d.any.get_or_insert(h.payload);
    }
    for h in dense {
        let key = get_str(&h.payload, "source").to_string();
        let d = docs.entry(key).or_default();
        d.dense = Some(d.dense.map_or(h.score, |x: f32| x.max(h.score)));
        let is_profile = get_str(&h.payload, "part") == "profile";
        let better = match &d.best_dense {
            None => true,
            Some((s, p)) => {
                (get_str(p, "part") == "profile" && !is_profile)
                    || (h.score > *s && is_profile == (get_str(p, "part") == "profile"))
            }
        };
        if better {
            d.best_dense = Some((h.score, h.payload.clone()));
        }
        if has_body(&h.payload) {
            keep_best(&mut d.body_dense, h.score, &h.payload);
        }
        d.any.get_or_insert(h.payload);
    }
    if docs.is_empty() {
        return SearchAnswer {
            hits: Vec::new(),
            abstain: true,
            confidence: 0.0,
        };
    }
    let lex_max = docs.values().map(DocAgg::lex_score).fold(0.0f32, f32::max);
    let dense_min = docs
        .values()
        .filter_map(|d| d.dense)
        .fold(f32::INFINITY, f32::min);
    let dense_max = docs
        .values()
        .filter_map(|d| d.dense)
        .fold(f32::NEG_INFINITY, f32::max);
    let dense_floor = if dense_min.is_finite() {
        dense_min
    } else {
        0.0
    };
    let mut scored: Vec<(f32, &String, &DocAgg)> = match opts.fusion {
        Fusion::Blend { dense_weight } => docs
            .iter()
            .map(|(k, d)| {
                let l = if lex_max > 0.0 {
                    d.lex_score() / lex_max
                } else {
                    0.0
                };
                let s = if has_dense {
                    l + dense_weight * d.dense.unwrap_or(dense_floor)
                } else {
                    l
                };
                (s, k, d)
            })
            .collect(),
        Fusion::Convex { alpha } => docs
            .iter()
            .map(|(k, d)| {
                let l = if lex_max > 0.0 {
                    d.lex_score() / lex_max
                } else {
                    0.0
                };
                let s = if has_dense {
                    let c = d.dense.unwrap_or(dense_floor);
                    let span = dense_max - dense_floor;
                    let n = if span > 0.0 {
                        (c - dense_floor) / span
                    } else {
                        0.0
                    };
                    (1.0 - alpha) * l + alpha * n
                } else {
                    l
                };
                (s, k, d)
            })
            .collect(),
        Fusion::Rrf { k } => {
            let mut by_lex: Vec<(&String, f32)> = docs
                .iter()
                .filter(|(_, d)| !d.lex.is_empty())
                .map(|(k, d)| (k, d.lex_score()))
                .collect();
            by_lex.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
            let mut by_dense: Vec<(&String, f32)> = docs
                .iter()
                .filter_map(|(k, d)| d.dense.map(|s| (k, s)))
                .collect();
            by_dense.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
            let mut rrf: HashMap<&String, f32> = HashMap::new();
            for (r, (key, _)) in by_lex.iter().enumerate() {
                *rrf.entry(key).or_default() += 1.0 / (k + r as f32 + 1.0);
            }
            for (r, (key, _)) in by_dense.iter().enumerate() {
                *rrf.entry(key).or_default() += 1.0 / (k + r as f32 + 1.0);
            }
            docs.iter()
                .map(|(key, d)| (rrf.get(key).copied().unwrap_or(0.0), key, d))
                .collect()
        }
    };
    // A runbook whose whole title the question names is about what was asked: an alert text
    // says what is failing ("Thanos Rule is failing to send alerts"), and the runbook of that
    // thing is titled by it, while its siblings share only some of the words.
    let asked: std::collections::HashSet<String> = text::tokens(query).into_iter().collect();
    for (s, _, d) in &mut scored {
        let title = [
            d.any.as_ref(),
            d.best_lex.as_ref().map(|x| &x.1),
            d.best_dense.as_ref().map(|x| &x.1),
        ]
        .into_iter()
        .flatten()
        .map(|p| get_str(p, "title"))
        .find(|t| !t.is_empty())
        .unwrap_or_default();
        let named = text::tokens(title);
        if !named.is_empty() && named.iter().all(|t| asked.contains(t)) {
            *s += TITLE_NAMED;
        }
    }
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
    let terms = text::query_terms(query);

    let confidence = scored
        .first()
        .map(|(_, _, d)| confidence(&text::query_concepts(query), d, idf))
        .unwrap_or(0.0);
    let hits: Vec<Hit> = scored
        .iter()
        .take(opts.k.max(1))
        .filter_map(|(score, _, d)| {
            let prefer_dense = d.lex.is_empty();
            d.cite(prefer_dense).map(|p| to_hit(*score, p, &terms))
        })
        .collect();
    SearchAnswer {
        abstain: confidence < threshold,
        hits,
        confidence,
    }
}

/// Added to a document's fused score (0 to 1) when the question holds every word of its
/// title: a tenth of the scale, enough to order siblings, not to lift an unrelated page.
const TITLE_NAMED: f32 = 0.1;

/// Confidence in a document: the share of the query's IDF mass found in its best chunks,
/// title, path and front matter. The query is taken as concepts (a word with its glossary
/// forms, so `磁盘` is covered by `disk`; a Chinese word with its sub-words), each weighing the
/// IDF of its commonest form; a whole identifier that was split counts only when present.
///
/// The same for every embedder, so one threshold serves them all. The dense cosine is left
/// out on purpose: with all-MiniLM-L6-v2 it did not separate answerable from unanswerable
/// questions any better than coverage alone (Chinese questions get high cosines with
/// everything), and adding it made the threshold depend on the model.
fn confidence(concepts: &[text::Concept], d: &DocAgg, idf: &dyn Idf) -> f32 {
    let mut doc_text = String::new();
    for p in [
        d.best_lex.as_ref().map(|x| &x.1),
        d.best_dense.as_ref().map(|x| &x.1),
        d.any.as_ref(),
    ]
    .into_iter()
    .flatten()
    {
        for k in ["title", "path_words", "text", "preview"] {
            doc_text.push_str(get_str(p, k));
            doc_text.push('\n');
        }
        for k in ["headings", "alerts", "tags", "services"] {
            doc_text.push_str(&get_list(p, k).join(" "));
            doc_text.push('\n');
        }
    }
    let have: std::collections::HashSet<String> = text::tokens(&doc_text).into_iter().collect();
    let mut total = 0.0f32;
    let mut covered = 0.0f32;
    for c in concepts {
        // A concept is as informative as its commonest form (unknown forms have the top IDF).
        let w = c
            .forms
            .iter()
            .map(|t| idf.idf(text::term_id(t)))
            .fold(f32::INFINITY, f32::min);
        let hit = c.forms.iter().any(|t| have.contains(t));
        if c.optional && !hit {
            continue;
        }
        total += w;
        if hit {
            covered += w;
        }
    }
    if total > 0.0 {
        covered / total
    } else {
        0.0
    }
}

fn to_hit(score: f32, p: &Map<String, Value>, terms: &[String]) -> Hit {
    let doc = get_str(p, "doc").to_string();
    let kind = if get_str(p, "kind") == KIND_HISTORY {
        DocKind::History
    } else {
        DocKind::Runbook
    };
    let line_start = get_usize(p, "line_start").max(1);
    let line_end = get_usize(p, "line_end").max(line_start);
    let body = if get_str(p, "part") == "profile" {
        get_str(p, "preview")
    } else {
        get_str(p, "text")
    };
    Hit {
        citation: format!("{doc}:L{line_start}-L{line_end}"),
        doc,
        kind,
        title: get_str(p, "title").to_string(),
        score,
        headings: get_list(p, "headings"),
        snippet: snippet(body, terms),
        line_start,
        line_end,
        services: get_list(p, "services"),
    }
}

/// Up to ~240 characters starting at the line with the most query terms (heading lines and
/// blank lines only when nothing else matches).
pub fn snippet(body: &str, terms: &[String]) -> String {
    const MAX: usize = 240;
    let lines: Vec<&str> = body.lines().collect();
    let mut best = None;
    let mut best_score = 0usize;
    for (i, l) in lines.iter().enumerate() {
        let t = l.trim();
        if t.is_empty() || t.starts_with('#') || t.starts_with("```") {
            continue;
        }
        let toks = text::tokens(t);
        let s = terms.iter().filter(|q| toks.contains(q)).count();
        if best.is_none() || s > best_score {
            best = Some(i);
            best_score = s;
        }
    }
    let start = best.unwrap_or(0);
    let mut out = String::new();
    for l in &lines[start.min(lines.len())..] {
        let t = l.trim();
        if t.is_empty() || t.starts_with("```") {
            if out.is_empty() {
                continue;
            }
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(t);
        if out.chars().count() >= MAX {
            break;
        }
    }
    let cut = crate::prepare::cut(&out, MAX);
    if cut.len() < out.len() {
        format!("{cut}…")
    } else {
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snippet_starts_at_the_line_that_matches_the_query() {
        let body = "## Fix\n\nRestart nothing.\nDelete old logs under /var/log to free the disk.\nThen check.";
        let s = snippet(body, &text::query_terms("free disk"));
        assert!(s.starts_with("Delete old logs"), "{s}");
    }
}
