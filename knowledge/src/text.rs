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

use crate::glossary;

/// BM25 term-frequency saturation.
const K1: f32 = 1.2;
/// BM25 length normalisation.
const B: f32 = 0.75;
/// Assumed average chunk length in tokens (fixed, so stored weights never go stale).
const AVG_LEN: f32 = 150.0;
/// Query term-frequency saturation (Okapi BM25's `k3`; Robertson et al. used 7–8): a term
/// an alert repeats ("Thanos Rule … Thanos Rule prometheus-01 … is failing") weighs more,
/// with diminishing returns.
const K3: f32 = 8.0;
/// Weight of a query term that comes from a host name, URL or path (`web-01.prod:9100`).
const NOISE_WEIGHT: f32 = 0.2;
/// Most glossary expansions appended to a query's embedding text.
const QUERY_GLOSS: usize = 12;

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

/// Query vector: each distinct term with its query frequency saturated by [`K3`] (1 for a
/// term said once), or [`NOISE_WEIGHT`] when it only occurs inside host names, URLs or paths.
pub fn query_vector(query: &str) -> Sparse {
    // Per term: occurrences outside noise words; whether it occurs inside one.
    let mut m: HashMap<u32, (f32, bool)> = HashMap::new();
    for word in query.split_whitespace() {
        let noise = is_noise_word(word);
        for t in tokens(word) {
            let e = m.entry(term_id(&t)).or_default();
            if noise {
                e.1 = true;
            } else {
                e.0 += 1.0;
            }
        }
    }
    Sparse::from_map(
        m.into_iter()
            .map(|(id, (tf, _))| {
                let w = if tf > 0.0 {
                    (K3 + 1.0) * tf / (K3 + tf)
                } else {
                    NOISE_WEIGHT
                };
                (id, w)
            })
            .collect(),
    )
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
/// long numbers dropped (they carry no meaning for a sentence model), and the glossary's
/// English for Chinese terms and abbreviations appended in parentheses.
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
    let g = gloss(&out, true, QUERY_GLOSS);
    if !g.is_empty() {
        out.push_str(" (");
        out.push_str(&g);
        out.push(')');
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
    A.get_or_init(|| {
        let mut jieba = Jieba::new();
        // Glossary terms come out of the segmenter as words (主库, 丢包, 消费组…).
        for (zh, _) in glossary::ZH_EN {
            jieba.add_word(zh, None, None);
        }
        Analyzer {
            jieba,
            stemmer: Stemmer::create(Algorithm::English),
        }
    })
}

fn is_han(c: char) -> bool {
    matches!(c as u32, 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2EBEF)
}

/// How an analysed term arose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Origin {
    /// A word of the text (or a whole identifier that was not split).
    Word,
    /// A whole identifier that was also split into parts (`KubePodCrashLooping`).
    Compound,
    /// A part of a split identifier.
    Part,
    /// A dictionary sub-word of the Chinese word that follows (`使用` before `使用率`).
    SubWord,
    /// A glossary expansion of the preceding word (`磁盘` → `disk`, `k8s` → `kubernetes`).
    Expansion,
}

/// Analyses `text`, calling `emit` for every term in order.
fn analyze(text: &str, emit: &mut dyn FnMut(String, Origin)) {
    let a = analyzer();
    let mut word = String::new();
    let mut han = String::new();
    let flush_han = |han: &mut String, emit: &mut dyn FnMut(String, Origin)| {
        if !han.is_empty() {
            han_terms(a, han, emit);
            han.clear();
        }
    };
    for c in text.chars() {
        if is_han(c) {
            if !word.is_empty() {
                latin_terms(a, &word, emit);
                word.clear();
            }
            han.push(c);
        } else if c.is_alphanumeric() {
            flush_han(&mut han, emit);
            word.push(c);
        } else {
            if !word.is_empty() {
                latin_terms(a, &word, emit);
                word.clear();
            }
            flush_han(&mut han, emit);
        }
    }
    if !word.is_empty() {
        latin_terms(a, &word, emit);
    }
    flush_han(&mut han, emit);
}

/// Analysed terms of `text`, in order, with repeats (glossary expansions included).
pub fn tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    analyze(text, &mut |t, _| out.push(t));
    out
}

/// One concept of a query for coverage: a word and its glossary expansions (any of them
/// present in a document covers it).
#[derive(Clone, Debug, PartialEq)]
pub struct Concept {
    /// The word first, then its expansions.
    pub forms: Vec<String>,
    /// A whole identifier that was also split into parts: it only counts when present (the
    /// parts carry its meaning otherwise).
    pub optional: bool,
}

/// The concepts of a query (noise words — host names, URLs — left out), for coverage.
pub fn query_concepts(query: &str) -> Vec<Concept> {
    let mut v: Vec<Concept> = Vec::new();
    // Sub-words (and their expansions) wait for the word they belong to.
    let mut pending: Vec<String> = Vec::new();
    let mut in_sub = false;
    let mut cur: Option<usize> = None;
    let add = |c: &mut Concept, t: String| {
        if !c.forms.contains(&t) {
            c.forms.push(t);
        }
    };
    for word in query.split_whitespace() {
        if is_noise_word(word) {
            continue;
        }
        analyze(word, &mut |t, origin| match origin {
            Origin::SubWord => {
                in_sub = true;
                pending.push(t);
            }
            Origin::Expansion if in_sub => pending.push(t),
            Origin::Expansion => {
                if let Some(i) = cur {
                    add(&mut v[i], t);
                }
            }
            Origin::Word | Origin::Compound | Origin::Part => {
                in_sub = false;
                let i = match v.iter().position(|c| c.forms[0] == t) {
                    Some(i) => i,
                    None => {
                        v.push(Concept {
                            forms: vec![t],
                            optional: origin == Origin::Compound,
                        });
                        v.len() - 1
                    }
                };
                for f in pending.drain(..) {
                    add(&mut v[i], f);
                }
                cur = Some(i);
            }
        });
    }
    v
}

/// Glossary expansions of the text's terms — English words for Chinese terms and, with
/// `abbrevs`, full words for abbreviations inside identifiers — distinct, in order of
/// appearance, at most `max`. Added to the text given to a sentence model that reads neither
/// Chinese nor ops abbreviations.
pub fn gloss(text: &str, abbrevs: bool, max: usize) -> String {
    let a = analyzer();
    let mut out: Vec<&'static str> = Vec::new();
    let mut add = |en: &'static str| {
        if out.len() < max && !out.contains(&en) {
            out.push(en);
        }
    };
    let mut han = String::new();
    let mut word = String::new();
    let flush = |han: &mut String, word: &mut String, add: &mut dyn FnMut(&'static str)| {
        if !han.is_empty() {
            for w in a.jieba.cut(han, true) {
                if let Some(en) = glossary::zh(w) {
                    add(en);
                }
            }
            han.clear();
        }
        if !word.is_empty() {
            if abbrevs {
                for part in split_identifiers(word).split(' ') {
                    if let Some(full) = glossary::abbrev(&part.to_lowercase()) {
                        add(full);
                    }
                }
            }
            word.clear();
        }
    };
    for c in text.chars() {
        if is_han(c) {
            if !word.is_empty() {
                flush(&mut String::new(), &mut word, &mut add);
            }
            han.push(c);
        } else if c.is_alphanumeric() {
            if !han.is_empty() {
                flush(&mut han, &mut String::new(), &mut add);
            }
            word.push(c);
        } else {
            flush(&mut han, &mut word, &mut add);
        }
    }
    flush(&mut han, &mut word, &mut add);
    out.join(", ")
}

/// Chinese: jieba's precise cut; a long word is preceded by its dictionary sub-words of two and
/// three characters (jieba's search mode), so `使用率` also matches `使用`. A word the glossary
/// knows is replaced by its English terms (documents and queries alike), so that a concept
/// counts once whichever language a runbook is written in; its sub-words are then left out.
fn han_terms(a: &Analyzer, han: &str, emit: &mut dyn FnMut(String, Origin)) {
    // Returns false for stop words.
    let term = |w: &str, origin: Origin, emit: &mut dyn FnMut(String, Origin)| -> bool {
        if ZH_STOP.contains(&w) {
            return false;
        }
        match glossary::zh(w) {
            Some(en) => {
                let mut first = true;
                for e in en.split(' ') {
                    let o = if first { origin } else { Origin::Expansion };
                    first &= !push_plain(a, e, o, emit);
                }
            }
            None => emit(w.to_string(), origin),
        }
        true
    };
    for word in a.jieba.cut(han, true) {
        if glossary::zh(word).is_none() {
            let idx: Vec<usize> = word
                .char_indices()
                .map(|x| x.0)
                .chain(std::iter::once(word.len()))
                .collect();
            let n = idx.len() - 1;
            for g in [2usize, 3] {
                if n > g {
                    for i in 0..=n - g {
                        let sub = &word[idx[i]..idx[i + g]];
                        if a.jieba.has_word(sub) {
                            term(sub, Origin::SubWord, emit);
                        }
                    }
                }
            }
        }
        term(word, Origin::Word, emit);
    }
}

fn latin_terms(a: &Analyzer, word: &str, emit: &mut dyn FnMut(String, Origin)) {
    let lower = word.to_lowercase();
    let split = split_identifiers(word);
    let whole = if split.contains(' ') {
        Origin::Compound
    } else {
        Origin::Word
    };
    push_latin(a, &lower, whole, emit);
    if whole == Origin::Compound {
        for part in split.split(' ') {
            push_latin(a, &part.to_lowercase(), Origin::Part, emit);
        }
    }
}

fn push_latin(a: &Analyzer, t: &str, origin: Origin, emit: &mut dyn FnMut(String, Origin)) {
    if push_plain(a, t, origin, emit) {
        if let Some(full) = glossary::abbrev(t) {
            for e in full.split(' ') {
                push_plain(a, e, Origin::Expansion, emit);
            }
        }
    }
}

/// Emits the stem of `t` unless it is a stop word, a single character or a long number.
fn push_plain(a: &Analyzer, t: &str, origin: Origin, emit: &mut dyn FnMut(String, Origin)) -> bool {
    if t.chars().count() < 2 || EN_STOP.binary_search(&t).is_ok() {
        return false;
    }
    // Long numbers are ids, timestamps and counters, not topics.
    if t.len() > 4 && t.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    emit(a.stemmer.stem(t).into_owned(), origin);
    true
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
    "已经",
    "一直",
    "越来越",
    "越来",
    "最近",
    "现在",
    "刚才",
    "突然",
    "好像",
    "似乎",
    "可能",
    "是不是",
    "能不能",
    "有没有",
    "要不要",
    "会不会",
    "还是",
    "但是",
    "因为",
    "所以",
    "而且",
    "或者",
    "并且",
    "一次",
    "一些",
    "一点",
    "很",
    "太",
    "更",
    "最",
    "多",
    "少",
    "好几",
    "几",
    "哪",
    "哪里",
    "怎么样",
    "咋办",
    "咋",
    "呀",
    "嘛",
    "啦",
    "能",
    "想",
    "问",
    "问题",
    "情况",
    "进去",
    "出来",
    "起来",
    "下来",
    "之前",
    "以前",
    "的话",
    "为",
    "以",
    "于",
    "其",
    "它",
    "他",
    "她",
    "他们",
    "自己",
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
        let t = tokens("柜台撮合延迟了怎么办");
        assert!(
            t.contains(&"柜台".to_string()) || t.contains(&"counter".to_string()),
            "{t:?}"
        );
        assert!(!t.contains(&"了".to_string()));
        assert!(!t.contains(&"怎么办".to_string()));
        // Words outside the glossary stay Chinese, with their sub-words.
        let t = tokens("八点半集合竞价");
        assert!(t.contains(&"集合竞价".to_string()), "{t:?}");
        assert!(t.contains(&"竞价".to_string()), "{t:?}");
    }

    #[test]
    fn glossary_terms_meet_across_languages() {
        // A Chinese ops word becomes the English terms an English runbook uses.
        let zh = tokens("磁盘满了");
        let en = tokens("Disk full");
        assert!(zh.contains(&"disk".to_string()), "{zh:?}");
        assert!(zh.contains(&"full".to_string()), "{zh:?}");
        assert!(!zh.contains(&"磁盘".to_string()), "{zh:?}");
        assert!(en.iter().all(|t| zh.contains(t)), "{en:?} vs {zh:?}");
        // Abbreviations keep the short form and add the full word.
        let k = tokens("k8s");
        assert_eq!(k, vec!["k8s".to_string(), "kubernet".to_string()]);
        assert!(tokens("KubeNodeNotReady").contains(&"kubernet".to_string()));
    }

    #[test]
    fn query_concepts_group_forms_and_mark_split_identifiers_optional() {
        let c = query_concepts("消息队列积压 KubePodCrashLooping");
        let forms: Vec<&Vec<String>> = c.iter().map(|c| &c.forms).collect();
        assert!(
            forms
                .iter()
                .any(|f| f.contains(&"messag".to_string()) && f.contains(&"queue".to_string())),
            "{c:?}"
        );
        let whole = c
            .iter()
            .find(|c| c.forms[0] == "kubepodcrashloop")
            .expect("whole name");
        assert!(whole.optional);
        assert!(c.iter().any(|c| c.forms[0] == "crash" && !c.optional));
        // A Chinese word outside the glossary carries its sub-words as forms.
        let c = query_concepts("集合竞价");
        assert_eq!(c.len(), 1, "{c:?}");
        assert!(c[0].forms.contains(&"竞价".to_string()), "{c:?}");
    }

    #[test]
    fn the_embedding_text_of_a_chinese_query_carries_the_glossary_english() {
        let e = clean_for_embedding("数据库主从延迟");
        assert!(e.starts_with("数据库主从延迟 ("), "{e}");
        assert!(e.contains("database"), "{e}");
        assert!(e.contains("latency"), "{e}");
        assert_eq!(clean_for_embedding("disk full"), "disk full");
    }

    #[test]
    fn a_word_the_query_repeats_weighs_more_with_diminishing_returns() {
        let v =
            query_vector("Thanos Rule is failing. Thanos Rule web-01.prod:9090 is failing to send");
        let w = |t: &str| {
            let id = term_id(t);
            v.indices.iter().position(|i| *i == id).map(|p| v.values[p])
        };
        assert_eq!(w("send"), Some(1.0));
        let twice = w("thano").or(w("thanos")).expect("thanos is a term");
        assert!(twice > 1.5 && twice < 2.0, "{twice}");
        assert_eq!(w("prod"), Some(NOISE_WEIGHT));
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
