//! Documents → index points: the payload of every chunk, and from the payload alone its
//! lexical vector and the text its dense vector is made from. Because both derive from the
//! stored payload, an index can be rebuilt with another embedder without the source files
//! (resolved incidents have no file).

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::markdown::ParsedDoc;
use crate::text::{DocTerms, Field, Sparse};

/// Payload `kind` of runbook chunks.
pub const KIND_RUNBOOK: &str = "runbook";
/// Payload `kind` of incident-history chunks.
pub const KIND_HISTORY: &str = "history";

/// Longest text given to the embedding model per chunk (the model truncates anyway).
const EMBED_CHARS: usize = 1500;
/// Longest preview kept in a profile point.
const PREVIEW_CHARS: usize = 600;
/// Most glossary expansions added to the embedding text of a Chinese chunk.
const PASSAGE_GLOSS: usize = 24;

/// A resolved incident, indexed as history (plain fields; the app maps its own types).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HistoryDoc {
    /// Incident id, e.g. `IMS-20261120-001` (the document id; indexing it again replaces it).
    pub id: String,
    /// Title.
    pub title: String,
    /// Affected services.
    pub services: Vec<String>,
    /// Alert names that fired.
    pub alerts: Vec<String>,
    /// Root cause.
    pub root_cause: String,
    /// Timeline summary.
    pub timeline_summary: String,
    /// Postmortem (Markdown).
    pub postmortem: String,
    /// When it was resolved (free text, e.g. RFC 3339), shown with hits.
    pub resolved_at: Option<String>,
}

/// A chunk ready for embedding and indexing.
#[derive(Clone, Debug)]
pub struct Prepared {
    /// Payload (a JSON object).
    pub payload: Map<String, Value>,
}

impl Prepared {
    /// The lexical vector, from the payload.
    pub fn sparse(&self) -> Sparse {
        sparse_of(&self.payload)
    }
    /// The text to embed, from the payload.
    pub fn embed_text(&self) -> String {
        embed_text_of(&self.payload)
    }
}

/// Words of a relative path: `docs/kube/pod-crash_loop.md` → `docs kube pod crash loop`
/// (`README`/`index` file names say nothing and are dropped).
pub fn path_words(rel: &str) -> String {
    let no_ext = match rel.rfind('.') {
        Some(i) if i > rel.rfind('/').map_or(0, |s| s + 1) => &rel[..i],
        _ => rel,
    };
    no_ext
        .split(['/', '\\'])
        .filter(|s| !s.is_empty() && !matches!(s.to_ascii_lowercase().as_str(), "readme" | "index"))
        .map(|s| s.replace(['-', '_', '.'], " "))
        .collect::<Vec<_>>()
        .join(" ")
}

fn str_list(v: &[String]) -> Value {
    Value::Array(v.iter().map(|s| Value::String(s.clone())).collect())
}

/// Chunks (plus one profile point: title, path and all headings) of a runbook.
pub fn runbook(source: &str, root: &str, rel: &str, doc: &ParsedDoc) -> Vec<Prepared> {
    let base = |part: &str| -> Map<String, Value> {
        let v = json!({
            "source": source,
            "kind": KIND_RUNBOOK,
            "doc": rel,
            "root": root,
            "title": doc.title,
            "path_words": path_words(rel),
            "services": str_list(&doc.services),
            "alerts": str_list(&doc.alerts),
            "tags": str_list(&doc.tags),
            "part": part,
        });
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    };
    let mut out = Vec::with_capacity(doc.chunks.len() + 1);
    for c in &doc.chunks {
        let mut p = base("chunk");
        p.insert("headings".into(), str_list(&c.headings));
        p.insert("line_start".into(), json!(c.line_start));
        p.insert("line_end".into(), json!(c.line_end));
        p.insert("text".into(), Value::String(c.text.clone()));
        out.push(Prepared { payload: p });
    }
    // The profile: what the document is about, without its body.
    let mut heads: Vec<String> = Vec::new();
    for c in &doc.chunks {
        for h in &c.headings {
            if *h != doc.title && !heads.contains(h) {
                heads.push(h.clone());
            }
        }
    }
    let mut p = base("profile");
    p.insert("headings".into(), str_list(&[]));
    p.insert("text".into(), Value::String(heads.join("\n")));
    let (ls, le, preview) = match doc.chunks.first() {
        Some(c) => (c.line_start, c.line_end, cut(&c.text, PREVIEW_CHARS)),
        None => (1, 1, String::new()),
    };
    p.insert("line_start".into(), json!(ls));
    p.insert("line_end".into(), json!(le));
    p.insert("preview".into(), Value::String(preview));
    if !doc.meta.is_empty() {
        p.insert("meta".into(), Value::Object(doc.meta.clone()));
    }
    out.push(Prepared { payload: p });
    out
}

/// Chunks of a resolved incident: a summary chunk, then the postmortem by headings.
pub fn history(source: &str, h: &HistoryDoc) -> Vec<Prepared> {
    let base = |part: &str| -> Map<String, Value> {
        let v = json!({
            "source": source,
            "kind": KIND_HISTORY,
            "doc": h.id,
            "title": h.title,
            "path_words": "",
            "services": str_list(&h.services),
            "alerts": str_list(&h.alerts),
            "tags": str_list(&[]),
            "part": part,
            "resolved_at": h.resolved_at,
        });
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    };
    let mut summary = Vec::new();
    summary.push(h.title.clone());
    if !h.services.is_empty() {
        summary.push(format!("Services: {}", h.services.join(", ")));
    }
    if !h.alerts.is_empty() {
        summary.push(format!("Alerts: {}", h.alerts.join(", ")));
    }
    if !h.root_cause.trim().is_empty() {
        summary.push(format!("Root cause: {}", h.root_cause.trim()));
    }
    if !h.timeline_summary.trim().is_empty() {
        summary.push(format!("Timeline: {}", h.timeline_summary.trim()));
    }
    let text = summary.join("\n");
    let mut out = Vec::new();
    let mut p = base("chunk");
    p.insert("headings".into(), str_list(&[]));
    p.insert("line_start".into(), json!(1));
    p.insert("line_end".into(), json!(text.lines().count().max(1)));
    p.insert("text".into(), Value::String(text));
    out.push(Prepared { payload: p });
    if !h.postmortem.trim().is_empty() {
        let pm = crate::markdown::parse(&h.postmortem, "postmortem", true);
        for c in &pm.chunks {
            let mut p = base("postmortem");
            p.insert("headings".into(), str_list(&c.headings));
            p.insert("line_start".into(), json!(c.line_start));
            p.insert("line_end".into(), json!(c.line_end));
            p.insert("text".into(), Value::String(c.text.clone()));
            out.push(Prepared { payload: p });
        }
    }
    out
}

pub(crate) fn get_str<'a>(p: &'a Map<String, Value>, k: &str) -> &'a str {
    p.get(k).and_then(Value::as_str).unwrap_or("")
}

pub(crate) fn get_list(p: &Map<String, Value>, k: &str) -> Vec<String> {
    match p.get(k) {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

pub(crate) fn get_usize(p: &Map<String, Value>, k: &str) -> usize {
    p.get(k).and_then(Value::as_u64).unwrap_or(0) as usize
}

/// Lexical vector of a stored payload (field-weighted BM25).
pub fn sparse_of(p: &Map<String, Value>) -> Sparse {
    let mut d = DocTerms::default();
    let title = get_str(p, "title");
    d.add(Field::Title, title);
    d.add(Field::Path, get_str(p, "path_words"));
    let mut meta = get_list(p, "alerts");
    meta.extend(get_list(p, "tags"));
    meta.extend(get_list(p, "services"));
    d.add(Field::Meta, &meta.join(" "));
    for h in get_list(p, "headings") {
        if h != title {
            d.add(Field::Heading, &h);
        }
    }
    d.add(Field::Body, get_str(p, "text"));
    d.finish()
}

/// The text a chunk's dense vector is made from.
pub fn embed_text_of(p: &Map<String, Value>) -> String {
    let title = get_str(p, "title");
    let heads: Vec<String> = get_list(p, "headings")
        .into_iter()
        .filter(|h| h != title)
        .collect();
    let mut s = String::from(title);
    if get_str(p, "part") == "profile" {
        let pw = get_str(p, "path_words");
        if !pw.is_empty() {
            s.push('\n');
            s.push_str(pw);
        }
        let alerts = get_list(p, "alerts");
        if !alerts.is_empty() {
            s.push('\n');
            s.push_str(&crate::text::split_identifiers(&alerts.join(", ")));
        }
        s.push('\n');
        s.push_str(&get_str(p, "text").replace('\n', ", "));
        let g = crate::text::gloss(&s, false, PASSAGE_GLOSS);
        if !g.is_empty() {
            s.push('\n');
            s.push_str(&g);
        }
    } else {
        if !heads.is_empty() {
            s.push_str(" — ");
            s.push_str(&heads.join(" > "));
        }
        // Chinese text: the glossary's English first, before the model's passage limit cuts
        // it (the sentence model does not read Chinese).
        let g = crate::text::gloss(
            &format!("{s}\n{}", get_str(p, "text")),
            false,
            PASSAGE_GLOSS,
        );
        if !g.is_empty() {
            s.push('\n');
            s.push_str(&g);
        }
        s.push('\n');
        s.push_str(get_str(p, "text"));
    }
    cut(&s, EMBED_CHARS)
}

/// The first `max` characters of `s`.
pub fn cut(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => s[..i].to_string(),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_words_drop_the_extension_and_readme() {
        assert_eq!(
            path_words("docs/kube/pod-crash_loop.md"),
            "docs kube pod crash loop"
        );
        assert_eq!(path_words("docs/blackbox/README.md"), "docs blackbox");
        assert_eq!(path_words("v1.2/notes"), "v1 2 notes");
    }

    #[test]
    fn a_runbook_gives_one_point_per_chunk_plus_a_profile() {
        let d = crate::markdown::parse("# Kafka lag\n\n## Check\n\nlook\n", "k", true);
        let ps = runbook("s", "/r", "kafka.md", &d);
        assert_eq!(ps.len(), d.chunks.len() + 1);
        assert_eq!(
            get_str(&ps.last().expect("profile").payload, "part"),
            "profile"
        );
        assert!(!ps[0].sparse().is_empty());
        assert!(ps[1].embed_text().starts_with("Kafka lag — Check"));
    }
}
