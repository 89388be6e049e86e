//! Tool calls that small local models write into the message text instead of the
//! structured `tool_calls` field (see `shared/notes/local-models.md`): Qwen2.5-Coder
//! with llama.cpp's stock template answers
//! `` ```json {"name": "change_query", "arguments": {...}} ``` `` as plain content, and
//! Qwen's own format is `<tool_call>{...}</tool_call>`.
//!
//! This module owns recognising those calls, and nothing else: it accepts fenced JSON
//! blocks (with or without a language tag), `<tool_call>` tags (also unclosed at the
//! end of the text), a bare JSON object or list as the whole text, lists of calls, the
//! `{"function": {...}}` wrapping and `parameters` for `arguments`, and the doubled
//! braces `{{...}}` the 1.5B model's template teaches. Prose around them is ignored.
//! Only names of known tools count, so a JSON example in an answer is not a call.

use serde_json::Value;

/// A tool call found in message text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmbeddedCall {
    /// Tool name (one of the known names).
    pub name: String,
    /// Arguments, a JSON object serialized as text.
    pub arguments: String,
}

/// The tool calls written into `content`, in order, keeping only names `known` accepts.
pub fn parse_embedded_calls(content: &str, known: &dyn Fn(&str) -> bool) -> Vec<EmbeddedCall> {
    let mut out = Vec::new();
    for block in candidate_blocks(content) {
        if let Some(v) = parse_json_loosely(block.text) {
            collect_calls(&v, known, &mut out);
        }
    }
    out
}

/// `content` without the blocks that hold tool calls of known tools (for showing the
/// prose around them).
pub fn strip_embedded_calls(content: &str, known: &dyn Fn(&str) -> bool) -> String {
    let mut out = String::new();
    let mut last = 0;
    for block in candidate_blocks(content) {
        let is_call = parse_json_loosely(block.text).is_some_and(|v| {
            let mut calls = Vec::new();
            collect_calls(&v, known, &mut calls);
            !calls.is_empty()
        });
        if is_call && block.start >= last {
            out.push_str(&content[last..block.start]);
            last = block.end;
        }
    }
    out.push_str(&content[last..]);
    out.trim().to_string()
}

/// A piece of text that may hold JSON: its inner text and the byte range of the whole
/// block (fences or tags included).
struct Block<'a> {
    text: &'a str,
    start: usize,
    end: usize,
}

fn candidate_blocks(content: &str) -> Vec<Block<'_>> {
    let mut blocks = Vec::new();
    // <tool_call> … </tool_call>; a missing closing tag runs to the end of the text.
    let mut from = 0;
    while let Some(rel) = content[from..].find("<tool_call>") {
        let start = from + rel;
        let inner_start = start + "<tool_call>".len();
        let (inner_end, end) = match content[inner_start..].find("</tool_call>") {
            Some(r) => (inner_start + r, inner_start + r + "</tool_call>".len()),
            None => (content.len(), content.len()),
        };
        blocks.push(Block {
            text: &content[inner_start..inner_end],
            start,
            end,
        });
        from = end;
    }
    // ``` fences, with an optional language tag on the opening line.
    let mut from = 0;
    while let Some(rel) = content[from..].find("```") {
        let start = from + rel;
        let after_ticks = start + 3;
        let body_start = match content[after_ticks..].find('\n') {
            Some(r) => {
                let tag = content[after_ticks..after_ticks + r].trim();
                // `​```{"name": …}```` on one line: no tag, the body starts at once.
                if tag.starts_with('{') || tag.starts_with('[') {
                    after_ticks
                } else {
                    after_ticks + r + 1
                }
            }
            None => after_ticks,
        };
        let Some(close_rel) = content[body_start..].find("```") else {
            blocks.push(Block {
                text: &content[body_start..],
                start,
                end: content.len(),
            });
            break;
        };
        let body_end = body_start + close_rel;
        blocks.push(Block {
            text: &content[body_start..body_end],
            start,
            end: body_end + 3,
        });
        from = body_end + 3;
    }
    // The whole text as bare JSON.
    let trimmed = content.trim();
    if blocks.is_empty() && (trimmed.starts_with('{') || trimmed.starts_with('[')) {
        blocks.push(Block {
            text: content,
            start: 0,
            end: content.len(),
        });
    }
    blocks.sort_by_key(|b| b.start);
    // Drop blocks nested in an earlier one (a fence inside a tag).
    let mut kept: Vec<Block<'_>> = Vec::new();
    for b in blocks {
        if kept.last().is_none_or(|k| b.start >= k.end) {
            kept.push(b);
        }
    }
    kept
}

/// JSON from a block: as is, with doubled braces undone, or as several JSON values
/// one after another (one call per line).
fn parse_json_loosely(text: &str) -> Option<Value> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    if let Ok(v) = serde_json::from_str::<Value>(t) {
        return Some(v);
    }
    if let Some(inner) = t.strip_prefix("{{").and_then(|s| s.strip_suffix("}}")) {
        if let Ok(v) = serde_json::from_str::<Value>(&format!("{{{inner}}}")) {
            return Some(v);
        }
    }
    let values: Vec<Value> = serde_json::Deserializer::from_str(t)
        .into_iter::<Value>()
        .map_while(Result::ok)
        .collect();
    (!values.is_empty()).then_some(Value::Array(values))
}

fn collect_calls(v: &Value, known: &dyn Fn(&str) -> bool, out: &mut Vec<EmbeddedCall>) {
    match v {
        Value::Array(items) => items.iter().for_each(|i| collect_calls(i, known, out)),
        Value::Object(map) => {
            if let Some(f @ Value::Object(_)) = map.get("function") {
                return collect_calls(f, known, out);
            }
            let Some(name) = map.get("name").and_then(Value::as_str) else {
                return;
            };
            if !known(name) {
                return;
            }
            let args = map.get("arguments").or_else(|| map.get("parameters"));
            let arguments = match args {
                None | Some(Value::Null) => "{}".to_string(),
                // Some servers and models double-encode: the arguments are a JSON string.
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
            };
            out.push(EmbeddedCall {
                name: name.to_string(),
                arguments,
            });
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(name: &str) -> bool {
        matches!(name, "change_query" | "alert_query" | "runbook_search")
    }

    fn calls(content: &str) -> Vec<(String, Value)> {
        parse_embedded_calls(content, &known)
            .into_iter()
            .map(|c| {
                let v: Value = serde_json::from_str(&c.arguments).expect("arguments are JSON");
                (c.name, v)
            })
            .collect()
    }

    #[test]
    fn reads_the_fenced_json_qwen_coder_writes_with_the_stock_template() {
        let content = "```json\n{\"name\": \"change_query\", \"arguments\": {\"service\": \"payments\", \"trading_days\": 3}}\n```";
        assert_eq!(
            calls(content),
            vec![(
                "change_query".to_string(),
                serde_json::json!({"service": "payments", "trading_days": 3})
            )]
        );
    }

    #[test]
    fn reads_tool_call_tags_with_prose_around_them() {
        let content = "好的，我来查询支付系统的变更。\n<tool_call>\n{\"name\": \"change_query\", \"arguments\": {\"service\": \"payments\"}}\n</tool_call>\n请稍等。";
        assert_eq!(calls(content).len(), 1);
        assert_eq!(calls(content)[0].1["service"], "payments");
    }

    #[test]
    fn reads_an_unclosed_tool_call_tag_at_the_end_of_the_text() {
        let content = "<tool_call>\n{\"name\": \"alert_query\", \"arguments\": {\"minutes\": 30}}";
        assert_eq!(calls(content)[0].0, "alert_query");
    }

    #[test]
    fn reads_a_list_of_calls_in_one_fence_and_calls_in_two_fences() {
        let list = "```json\n[{\"name\": \"change_query\", \"arguments\": {}}, {\"name\": \"alert_query\", \"arguments\": {\"minutes\": 60}}]\n```";
        assert_eq!(calls(list).len(), 2);
        let two = "First:\n```json\n{\"name\": \"change_query\", \"arguments\": {}}\n```\nThen:\n```\n{\"name\": \"runbook_search\", \"arguments\": {\"query\": \"disk full\"}}\n```";
        let names: Vec<String> = calls(two).into_iter().map(|c| c.0).collect();
        assert_eq!(names, ["change_query", "runbook_search"]);
    }

    #[test]
    fn reads_bare_json_doubled_braces_string_arguments_and_the_function_wrapper() {
        assert_eq!(
            calls("{\"name\": \"alert_query\", \"arguments\": {\"minutes\": 5}}")[0].1["minutes"],
            5
        );
        assert_eq!(
            calls("{{\"name\": \"alert_query\", \"arguments\": {\"minutes\": 5}}}")[0].1["minutes"],
            5
        );
        assert_eq!(
            calls("{\"name\": \"alert_query\", \"arguments\": \"{\\\"minutes\\\": 7}\"}")[0].1
                ["minutes"],
            7
        );
        assert_eq!(
            calls("{\"type\":\"function\",\"function\":{\"name\":\"alert_query\",\"parameters\":{\"minutes\":9}}}")[0].1["minutes"],
            9
        );
    }

    #[test]
    fn ignores_unknown_names_plain_answers_and_broken_json() {
        assert!(calls("```json\n{\"name\": \"rm_rf\", \"arguments\": {}}\n```").is_empty());
        assert!(calls("支付系统最近3天有两次变更：CHG-1 和 CHG-2。").is_empty());
        assert!(calls("```json\n{\"name\": \"change_query\", \"arguments\": {\n```").is_empty());
        assert!(calls("```json\n{\"service\": \"payments\"}\n```").is_empty());
        assert!(calls("").is_empty());
    }

    #[test]
    fn strips_call_blocks_and_keeps_the_prose() {
        let content =
            "Let me check.\n```json\n{\"name\": \"change_query\", \"arguments\": {}}\n```\nDone.";
        assert_eq!(
            strip_embedded_calls(content, &known),
            "Let me check.\n\nDone."
        );
        let example = "Example:\n```json\n{\"a\": 1}\n```";
        assert_eq!(strip_embedded_calls(example, &known), example);
    }
}
