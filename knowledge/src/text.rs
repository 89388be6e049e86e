//! Lexical analysis: the one tokenizer for documents and queries, and the sparse (BM25-style)
//! vectors built from it.
//!
//! - Latin words are lowercased and stemmed (Snowball English); English stop words are dropped.
//! - Identifiers are also split: `KubePodCrashLooping` → `kube pod crash looping`,
//!   `disk_usage_high` → `disk usage high`, `p99Latency` → `p 99 latency` (the whole word is
//!   kept too, so an exact alert name still matches best).
//! - Chinese runs are segmented with jieba (search mode, which also emits the sub-words of long
//!   words); Chinese function words are dropped.
//! - Terms are hashed to `u32` (FNV-1a) — the same hashing for documents and queries.
//!
//! Documents get BM25 term weights (`k1`, `b`, a fixed average length, so weights never need
//! recomputing) from field-weighted term frequencies (title, path and alert names count more
//! than body text). The index applies IDF at query time (`Modifier::Idf`), so a query vector is
//! just its terms with weight 1 (or less for noise such as host names and URLs).

use std::collections::HashMap;
use std::sync::OnceLock;

use jieba_rs::Jieba;
use rust_stemmers::{Algorithm, Stemmer};

/// BM25 term-frequency saturation.
const K1: f32 = 1.2;
/// BM25 length normalisation.
const B: f32 = 0.75;
/// Assumed average chunk length in tokens (fixed, so stored weights never go stale).
const AVG_LEN: f32 = 150.0;
/// Weight of a query term that comes from a host name, URL or path (`web-01.prod:9100`).
const NOISE_WEIGHT: f32 = 0.2;

/// A sparse vector: sorted unique term ids and their weights.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sparse {
    /// Term ids, ascending, unique.
    pub indices: Vec<u32>,
    /// Weights, same length.
    pub values: Vec<f32>,
}

impl Sparse {
    fn from_map(m: HashMap<u32, f32>) -> Self {
        let mut v: Vec<(u32, f32)> = m.into_iter().filter(|(_, w)| *w > 0.0).collect();
        v.sort_unstable_by_key(|(i, _)| *i);
        Self {
            indices: v.iter().map(|(i, _)| *i).collect(),
            values: v.iter().map(|(_, w)| *w).collect(),
        }
    }

    /// True when no term survived analysis.
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }
}

/// Field weights for document text (BM25F-style: weighted term frequencies).
#[derive(Clone, Copy, Debug)]
pub enum Field {
    /// Document title.
    Title,
    /// Path of the file relative to the ingested directory.
    Path,
    /// Alert names, tags and services from front matter.
    Meta,
    /// The chunk's heading trail.
    Heading,
    /// Body text.
    Body,
}

impl Field {
    fn weight(self) -> f32 {
        match self {
            Field::Title | Field::Path | Field::Meta => 5.0,
            Field::Heading => 2.0,
            Field::Body => 1.0,
        }
    }
}

/// Accumulates the fields of one chunk into a document sparse vector.
#[derive(Default)]
pub struct DocTerms {
    tf: HashMap<u32, f32>,
    len: usize,
}

impl DocTerms {
    /// Adds `text` as `field`.
    pub fn add(&mut self, field: Field, text: &str) {
        let toks = tokens(text);
        // Length counts the body and the short identifying fields once, not their boosts.
        if !matches!(field, Field::Heading) {
            self.len += toks.len();
        }
        for t in toks {
            *self.tf.entry(term_id(&t)).or_default() += field.weight();
        }
    }

    /// BM25 document weights.
    pub fn finish(self) -> Sparse {
        let norm = K1 * (1.0 - B + B * self.len as f32 / AVG_LEN);
        Sparse::from_map(
            self.tf
                .into_iter()
                .map(|(id, tf)| (id, tf * (K1 + 1.0) / (tf + norm)))
                .collect(),
        )
    }
}

/// Query vector: each distinct term once, weight 1, or [`NOISE_WEIGHT`] when it only occurs
/// inside host names, URLs or paths.
pub fn query_vector(query: &str) -> Sparse {
    let mut m: HashMap<u32, f32> = HashMap::new();
    for word in query.split_whitespace() {
        let w = if is_noise_word(word) {
            NOISE_WEIGHT
        } else {
            1.0
        };
        for t in tokens(word) {
            let e = m.entry(term_id(&t)).or_default();
            *e = e.max(w);
        }
    }
    Sparse::from_map(m)
}

/// The distinct analysed terms of a query (for snippets and coverage).
pub fn query_terms(query: &str) -> Vec<String> {
    let mut v = Vec::new();
    for word in query.split_whitespace() {
        if is_noise_word(word) {
            continue;
        }
        for t in tokens(word) {
            if !v.contains(&t) {
                v.push(t);
            }
        }
    }
    v
}

/// Text for a dense embedding of a query: identifiers split into words, host names, URLs and
/// long numbers dropped (they carry no meaning for a sentence model).
pub fn clean_for_embedding(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if is_noise_word(word) {
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&split_identifiers(word));
    }
    out
}

/// `KubePodCrashLooping` → `Kube Pod Crash Looping`; `disk_usage_high` → `disk usage high`.
pub fn split_identifiers(word: &str) -> String {
    let mut out = String::with_capacity(word.len() + 8);
    let chars: Vec<char> = word.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c == '_' {
            out.push(' ');
            continue;
        }
        if i > 0 && c.is_ascii_alphanumeric() {
            let p = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            let boundary = (p.is_ascii_lowercase() && c.is_ascii_uppercase())
                || (p.is_ascii_uppercase() && c.is_ascii_uppercase() && next_lower)
                || (p.is_ascii_digit() != c.is_ascii_digit() && p.is_ascii_alphanumeric());
            if boundary {
                out.push(' ');
            }
        }
        out.push(c);
    }
    out
}

/// A word that names a machine or a location rather than saying something: it has a dot,
/// colon, slash, `@` or `=` between alphanumerics (`web-01.prod.internal:9100`, `a/b/c`,
/// `https://…`, `k=v`).
fn is_noise_word(word: &str) -> bool {
    let w = word.trim_matches(|c: char| !c.is_alphanumeric());
    if w.contains("://") {
        return true;
    }
    let b = w.as_bytes();
    (1..b.len().saturating_sub(1)).any(|i| {
        matches!(b[i], b'.' | b':' | b'/' | b'@' | b'=')
            && b[i - 1].is_ascii_alphanumeric()
            && b[i + 1].is_ascii_alphanumeric()
    })
}

struct Analyzer {
    jieba: Jieba,
    stemmer: Stemmer,
}

fn analyzer() -> &'static Analyzer {
    static A: OnceLock<Analyzer> = OnceLock::new();
    A.get_or_init(|| Analyzer {
        jieba: Jieba::new(),
        stemmer: Stemmer::create(Algorithm::English),
    })
}

fn is_han(c: char) -> bool {
    matches!(c as u32, 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2EBEF)
}

/// Analysed terms of `text`, in order, with repeats.
pub fn tokens(text: &str) -> Vec<String> {
    let a = analyzer();
    let mut out = Vec::new();
    let mut word = String::new();
    let mut han = String::new();
    let flush_word = |word: &mut String, out: &mut Vec<String>| {
        if !word.is_empty() {
            latin_terms(a, word, out);
            word.clear();
        }
    };
    let flush_han = |han: &mut String, out: &mut Vec<String>| {
        if !han.is_empty() {
            for w in a.jieba.cut_for_search(han, true) {
                if !ZH_STOP.contains(&w) {
                    out.push(w.to_string());
                }
            }
            han.clear();
        }
    };
    for c in text.chars() {
        if is_han(c) {
            flush_word(&mut word, &mut out);
            han.push(c);
        } else if c.is_alphanumeric() {
            flush_han(&mut han, &mut out);
            word.push(c);
        } else {
            flush_word(&mut word, &mut out);
            flush_han(&mut han, &mut out);
        }
    }
    flush_word(&mut word, &mut out);
    flush_han(&mut han, &mut out);
    out
}

fn latin_terms(a: &Analyzer, word: &str, out: &mut Vec<String>) {
    let lower = word.to_lowercase();
    push_latin(a, &lower, out);
    let split = split_identifiers(word);
    if split.contains(' ') {
        for part in split.split(' ') {
            push_latin(a, &part.to_lowercase(), out);
        }
    }
}

fn push_latin(a: &Analyzer, t: &str, out: &mut Vec<String>) {
    if t.chars().count() < 2 || EN_STOP.binary_search(&t).is_ok() {
        return;
    }
    // Long numbers are ids, timestamps and counters, not topics.
    if t.len() > 4 && t.bytes().all(|b| b.is_ascii_digit()) {
        return;
    }
    out.push(a.stemmer.stem(t).into_owned());
}

/// FNV-1a, 32 bit: the term id used for documents and queries alike.
pub fn term_id(term: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in term.as_bytes() {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// English stop words (sorted, for binary search).
const EN_STOP: &[&str] = &[
    "about", "after", "all", "also", "am", "an", "and", "any", "are", "as", "at", "be", "been",
    "being", "but", "by", "can", "could", "did", "do", "does", "doing", "for", "from", "had",
    "has", "have", "having", "he", "her", "here", "his", "how", "if", "in", "into", "is", "it",
    "its", "just", "me", "might", "my", "no", "nor", "not", "of", "on", "only", "or", "our", "out",
    "over", "shall", "she", "should", "so", "some", "such", "than", "that", "the", "their", "them",
    "then", "there", "these", "they", "this", "those", "to", "too", "up", "us", "very", "was",
    "we", "were", "what", "when", "where", "which", "while", "who", "why", "will", "with", "would",
    "you", "your",
];

/// Chinese function words and question words that say nothing about the topic.
const ZH_STOP: &[&str] = &[
    "的",
    "了",
    "和",
    "是",
    "在",
    "我",
    "我们",
    "你",
    "有",
    "也",
    "都",
    "就",
    "要",
    "会",
    "对",
    "吗",
    "呢",
    "啊",
    "吧",
    "怎么",
    "怎么办",
    "怎样",
    "如何",
    "什么",
    "为什么",
    "哪些",
    "哪个",
    "一个",
    "这个",
    "那个",
    "这",
    "那",
    "可以",
    "需要",
    "应该",
    "时候",
    "与",
    "及",
    "或",
    "把",
    "被",
    "让",
    "给",
    "从",
    "到",
    "还",
    "又",
    "该",
    "请",
    "一下",
    "之后",
    "以后",
    "然后",
    "如果",
    "时",
    "后",
    "中",
    "上",
    "下",
    "里",
    "个",
    "些",
    "得",
    "地",
    "着",
    "过",
    "没有",
    "不",
    "没",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stop_word_list_is_sorted() {
        let mut s = EN_STOP.to_vec();
        s.sort_unstable();
        assert_eq!(s, EN_STOP);
    }

    #[test]
    fn camel_case_alert_names_split_into_words_and_keep_the_whole_name() {
        let t = tokens("KubePodCrashLooping");
        assert_eq!(t[0], "kubepodcrashloop");
        assert!(t.contains(&"kube".to_string()));
        assert!(t.contains(&"pod".to_string()));
        assert!(t.contains(&"crash".to_string()));
        assert!(t.contains(&"loop".to_string()));
        assert_eq!(split_identifiers("HTTPServerDown"), "HTTP Server Down");
        assert_eq!(split_identifiers("disk_usage_high"), "disk usage high");
        assert_eq!(split_identifiers("p99Latency"), "p 99 Latency");
    }

    #[test]
    fn chinese_is_segmented_into_words_without_function_words() {
        let t = tokens("行情网关断开了怎么办");
        assert!(t.contains(&"行情".to_string()), "{t:?}");
        assert!(t.contains(&"网关".to_string()), "{t:?}");
        assert!(!t.contains(&"了".to_string()));
        assert!(!t.contains(&"怎么办".to_string()));
    }

    #[test]
    fn host_names_weigh_less_than_words_in_a_query() {
        let q = query_vector("Chef failed on web-01-sv-gprd.c.gitlab-production.internal");
        let w = |t: &str| {
            let id = term_id(t);
            q.indices.iter().position(|i| *i == id).map(|p| q.values[p])
        };
        assert_eq!(w("chef"), Some(1.0));
        assert_eq!(w("gprd"), Some(NOISE_WEIGHT));
        assert_eq!(
            clean_for_embedding("ChefClientError on a.b.c:9100"),
            "Chef Client Error on"
        );
    }

    #[test]
    fn documents_and_queries_hash_terms_the_same_way() {
        let mut d = DocTerms::default();
        d.add(Field::Body, "Disk full on the matching engine");
        let doc = d.finish();
        let q = query_vector("disk");
        assert!(doc.indices.contains(&q.indices[0]));
        assert!(doc.indices.windows(2).all(|w| w[0] < w[1]));
    }
}
