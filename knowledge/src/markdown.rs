//! Runbook parsing: YAML front matter, title, and chunks that follow the headings, each with
//! its heading trail and 1-based inclusive line range in the original file.
//!
//! Pure: text in, [`ParsedDoc`] out. Plain-text files are chunked by blank-line-separated
//! paragraphs. Sections longer than [`MAX_CHUNK_CHARS`] are split at paragraph (else line)
//! boundaries; headings inside code fences are not headings.

use serde_json::{Map, Value};

/// Longest chunk body, in characters, before a section is split.
pub const MAX_CHUNK_CHARS: usize = 4000;

/// A parsed runbook.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ParsedDoc {
    /// Front matter `title`, else the first level-1 heading, else the first heading, else the
    /// file name.
    pub title: String,
    /// Front matter `service`/`services`.
    pub services: Vec<String>,
    /// Front matter `alert`/`alerts`/`alertname`/`alert_names`.
    pub alerts: Vec<String>,
    /// Front matter `tags`.
    pub tags: Vec<String>,
    /// The whole front matter as JSON (kept as metadata).
    pub meta: Map<String, Value>,
    /// Chunks in file order.
    pub chunks: Vec<Chunk>,
}

/// One piece of a runbook.
#[derive(Clone, Debug, PartialEq)]
pub struct Chunk {
    /// Heading trail, outermost first (the title heading included when it is one).
    pub headings: Vec<String>,
    /// First line, 1-based.
    pub line_start: usize,
    /// Last line, 1-based, inclusive.
    pub line_end: usize,
    /// The chunk's text (its lines, heading line included).
    pub text: String,
}

/// Whether `name` looks like a Markdown file (else it is treated as plain text).
pub fn is_markdown(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n.ends_with(".md") || n.ends_with(".markdown")
}

/// Parses `text`; `file_stem` is the title of last resort.
pub fn parse(text: &str, file_stem: &str, markdown: bool) -> ParsedDoc {
    let lines: Vec<&str> = text.lines().collect();
    let mut doc = ParsedDoc::default();
    let body_start = front_matter(&lines, &mut doc);
    if markdown {
        chunk_markdown(&lines, body_start, &mut doc);
    } else {
        chunk_plain(&lines, body_start, &mut doc);
    }
    if doc.title.is_empty() {
        doc.title = file_stem.to_string();
    }
    doc
}

/// Reads `---` YAML front matter; returns the index of the first body line.
fn front_matter(lines: &[&str], doc: &mut ParsedDoc) -> usize {
    if lines.first().map(|l| l.trim_end()) != Some("---") {
        return 0;
    }
    let Some(end) = lines
        .iter()
        .enumerate()
        .skip(1)
        .find(|(_, l)| matches!(l.trim_end(), "---" | "..."))
        .map(|(i, _)| i)
    else {
        return 0;
    };
    let yaml = lines[1..end].join("\n");
    let Ok(v) = serde_yaml::from_str::<serde_yaml::Value>(&yaml) else {
        // Not YAML after all: keep the lines as body text.
        return 0;
    };
    let Ok(Value::Object(map)) = serde_json::to_value(&v) else {
        return end + 1;
    };
    let strings = |keys: &[&str]| -> Vec<String> {
        let mut out = Vec::new();
        for k in keys {
            match map.get(*k) {
                Some(Value::String(s)) => out.extend(
                    s.split(',')
                        .map(|x| x.trim().to_string())
                        .filter(|x| !x.is_empty()),
                ),
                Some(Value::Array(a)) => out.extend(a.iter().filter_map(|x| match x {
                    Value::String(s) => Some(s.trim().to_string()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                })),
                _ => {}
            }
        }
        out
    };
    if let Some(t) = strings(&["title"]).into_iter().next() {
        doc.title = t;
    }
    doc.services = strings(&["service", "services"]);
    doc.alerts = strings(&["alert", "alerts", "alertname", "alert_name", "alert_names"]);
    doc.tags = strings(&["tags", "tag", "keywords"]);
    doc.meta = map;
    end + 1
}

fn heading(line: &str) -> Option<(usize, String)> {
    let t = line.trim_start();
    if line.len() - t.len() > 3 {
        return None;
    }
    let level = t.bytes().take_while(|b| *b == b'#').count();
    if level == 0 || level > 6 {
        return None;
    }
    let rest = &t[level..];
    if !rest.is_empty() && !rest.starts_with([' ', '\t']) {
        return None;
    }
    let h = rest.trim().trim_end_matches('#').trim();
    Some((level, h.to_string()))
}

fn chunk_markdown(lines: &[&str], start: usize, doc: &mut ParsedDoc) {
    let mut stack: Vec<(usize, String)> = Vec::new();
    let mut sec_start = start;
    let mut in_fence: Option<&str> = None;
    let mut first_heading: Option<String> = None;
    let mut h1: Option<String> = None;
    let mut trail: Vec<String> = Vec::new();
    for (i, line) in lines.iter().enumerate().skip(start) {
        let t = line.trim_start();
        if let Some(f) = in_fence {
            if t.starts_with(f) {
                in_fence = None;
            }
            continue;
        }
        if t.starts_with("```") {
            in_fence = Some("```");
            continue;
        }
        if t.starts_with("~~~") {
            in_fence = Some("~~~");
            continue;
        }
        if let Some((level, h)) = heading(line) {
            push_section(lines, sec_start, i, &trail, doc);
            if first_heading.is_none() {
                first_heading = Some(h.clone());
            }
            if level == 1 && h1.is_none() {
                h1 = Some(h.clone());
            }
            stack.retain(|(l, _)| *l < level);
            stack.push((level, h));
            trail = stack.iter().map(|(_, h)| h.clone()).collect();
            sec_start = i;
        }
    }
    push_section(lines, sec_start, lines.len(), &trail, doc);
    if doc.title.is_empty() {
        if let Some(t) = h1.or(first_heading) {
            doc.title = t;
        }
    }
}

fn chunk_plain(lines: &[&str], start: usize, doc: &mut ParsedDoc) {
    if doc.title.is_empty() {
        if let Some(first) = lines[start.min(lines.len())..]
            .iter()
            .map(|l| l.trim())
            .find(|l| !l.is_empty())
        {
            if first.chars().count() <= 120 {
                doc.title = first.to_string();
            }
        }
    }
    push_section(lines, start, lines.len(), &[], doc);
}

/// Adds lines `from..to` (0-based, exclusive end) as one or more chunks.
fn push_section(lines: &[&str], from: usize, to: usize, trail: &[String], doc: &mut ParsedDoc) {
    if from >= to {
        return;
    }
    // Trim blank lines at both ends so ranges point at text.
    let mut a = from;
    let mut b = to;
    while a < b && lines[a].trim().is_empty() {
        a += 1;
    }
    while b > a && lines[b - 1].trim().is_empty() {
        b -= 1;
    }
    if a >= b {
        return;
    }
    let mut piece_start = a;
    let mut size = 0usize;
    let mut last_blank: Option<usize> = None;
    let mut i = a;
    while i < b {
        size += lines[i].chars().count() + 1;
        if lines[i].trim().is_empty() {
            last_blank = Some(i);
        }
        if size > MAX_CHUNK_CHARS && i + 1 < b {
            // Cut after the last blank line of this piece if there is one, else here.
            let cut = match last_blank {
                Some(bl) if bl > piece_start => bl,
                _ => i,
            };
            emit(lines, piece_start, cut + 1, trail, doc);
            piece_start = cut + 1;
            while piece_start < b && lines[piece_start].trim().is_empty() {
                piece_start += 1;
            }
            i = piece_start;
            size = 0;
            last_blank = None;
            continue;
        }
        i += 1;
    }
    if piece_start < b {
        emit(lines, piece_start, b, trail, doc);
    }
}

fn emit(lines: &[&str], a: usize, b: usize, trail: &[String], doc: &mut ParsedDoc) {
    let mut end = b;
    while end > a && lines[end - 1].trim().is_empty() {
        end -= 1;
    }
    if end <= a {
        return;
    }
    let text = lines[a..end].join("\n");
    // A heading with nothing under it is kept: it still names the topic.
    doc.chunks.push(Chunk {
        headings: trail.to_vec(),
        line_start: a + 1,
        line_end: end,
        text,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    const RB: &str = "---\ntitle: Disk full\nservice: [matching, gateway]\nalerts: NodeDiskFull, DiskWillFillIn4Hours\ntags: [disk]\n---\n# Disk full on a host\n\nIntro line.\n\n## Symptoms\n\nWrites fail.\n\n```\n# not a heading\n```\n\n## Fix\n\nDelete old logs.\n";

    #[test]
    fn front_matter_gives_title_services_and_alerts() {
        let d = parse(RB, "disk", true);
        assert_eq!(d.title, "Disk full");
        assert_eq!(d.services, ["matching", "gateway"]);
        assert_eq!(d.alerts, ["NodeDiskFull", "DiskWillFillIn4Hours"]);
        assert_eq!(d.tags, ["disk"]);
        assert!(d.meta.contains_key("service"));
    }

    #[test]
    fn chunks_follow_headings_with_line_ranges() {
        let d = parse(RB, "disk", true);
        let lines: Vec<&str> = RB.lines().collect();
        assert_eq!(d.chunks.len(), 3, "{:#?}", d.chunks);
        let sym = &d.chunks[1];
        assert_eq!(sym.headings, ["Disk full on a host", "Symptoms"]);
        assert_eq!(lines[sym.line_start - 1], "## Symptoms");
        assert_eq!(
            lines[sym.line_end - 1],
            "```",
            "the fenced heading stays inside"
        );
        let fix = &d.chunks[2];
        assert_eq!(lines[fix.line_start - 1], "## Fix");
        assert_eq!(lines[fix.line_end - 1], "Delete old logs.");
    }

    #[test]
    fn long_sections_split_at_blank_lines() {
        let para = "word ".repeat(200);
        let text = format!("# T\n\n{para}\n\n{para}\n\n{para}\n\n{para}\n\n{para}\n");
        let d = parse(&text, "t", true);
        assert!(d.chunks.len() >= 2);
        for c in &d.chunks {
            assert!(c.text.len() <= MAX_CHUNK_CHARS + 1100);
        }
        let lines: Vec<&str> = text.lines().collect();
        for c in &d.chunks {
            assert!(!lines[c.line_start - 1].trim().is_empty());
            assert!(!lines[c.line_end - 1].trim().is_empty());
        }
    }

    #[test]
    fn plain_text_uses_its_first_line_as_title() {
        let d = parse("\nFIX session down\n\nCheck the logon.\n", "fix", false);
        assert_eq!(d.title, "FIX session down");
        assert_eq!(d.chunks[0].line_start, 2);
        assert_eq!(d.chunks[0].line_end, 4);
    }

    #[test]
    fn a_file_without_headings_is_titled_by_its_name() {
        let d = parse("just text", "notes", true);
        assert_eq!(d.title, "notes");
        assert_eq!(d.chunks.len(), 1);
    }
}
