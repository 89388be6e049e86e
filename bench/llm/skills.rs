//! Tool choice of a real model: each question of `bench/llm/questions.jsonl` goes to an
//! OpenAI-compatible server as the bot's first round (the bot's system prompt in the
//! question's language, the incident context, every skill as a tool), through
//! `Agent::route` — the agent's own request, fallback parser for calls written into the text
//! and nudge after a reply with no words — and the first tool call is checked against the
//! expected skill and arguments. Prints one line per question, accuracy (all, en, zh) and latency.
//!
//! Usage: `llm_bench --base-url http://127.0.0.1:8088/v1 --model local [--questions FILE]
//! [--timeout 120] [--repeat 1]`. Run by `bench/llm/run.sh`, which starts llama.cpp's server
//! with the packaged Qwen2.5-Coder GGUF.

use std::sync::Arc;
use std::time::Instant;

use serde_json::{json, Value};
use warroom::config::{Config, Lang};
use warroom::render::Renderer;
use warroom_skills::{
    Agent, Language, LanguageModel, LlmConfig, MaskConfig, Masker, OpenAiModel, Question, Registry,
};

struct Case {
    q: String,
    skill: String,
    args: serde_json::Map<String, Value>,
}

fn arg(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .rposition(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| default.to_string())
}

/// A value matches when equal (strings without case), when it is one of a list of
/// alternatives (`null` among them: the argument may be left out, its default is right), or,
/// for `"*"`, when any non-empty value is there.
fn matches(want: &Value, got: Option<&Value>) -> bool {
    let Some(got) = got.filter(|g| !g.is_null()) else {
        // `null` among the alternatives: leaving the argument out is right (its default).
        return want
            .as_array()
            .is_some_and(|alts| alts.contains(&Value::Null));
    };
    match want {
        Value::String(w) if w == "*" => match got {
            Value::String(s) => !s.trim().is_empty(),
            Value::Null => false,
            _ => true,
        },
        Value::Array(alts) => alts.iter().any(|w| matches(w, Some(got))),
        Value::String(w) => got
            .as_str()
            .is_some_and(|g| g.trim().eq_ignore_ascii_case(w)),
        Value::Number(w) => {
            got.as_f64() == w.as_f64()
                || got.as_str().and_then(|s| s.parse::<f64>().ok()) == w.as_f64()
        }
        other => got == other,
    }
}

/// `minutes` that are whole hours also count as `hours` (the skills take either).
fn same_window(mut args: Value) -> Value {
    if let Some(o) = args.as_object_mut() {
        let minutes = o.get("minutes").and_then(Value::as_u64);
        if let (None, Some(m)) = (o.get("hours"), minutes) {
            if m > 0 && m % 60 == 0 {
                o.insert("hours".into(), json!(m / 60));
            }
        }
    }
    args
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let path = arg("--questions", "bench/llm/questions.jsonl");
    let cases: Vec<Case> = std::fs::read_to_string(&path)?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Value = serde_json::from_str(l)?;
            Ok(Case {
                q: v["q"].as_str().unwrap_or_default().to_string(),
                skill: v["skill"].as_str().unwrap_or_default().to_string(),
                args: v["args"].as_object().cloned().unwrap_or_default(),
            })
        })
        .collect::<anyhow::Result<_>>()?;
    let cfg = LlmConfig {
        base_url: arg("--base-url", "http://127.0.0.1:8088/v1"),
        model: arg("--model", "local"),
        timeout_secs: arg("--timeout", "180").parse()?,
        temperature: Some(0.0),
        ..LlmConfig::default()
    };
    let repeat: usize = arg("--repeat", "1").parse()?;
    let model: Arc<dyn LanguageModel> = Arc::new(OpenAiModel::new(&cfg)?);
    let registry = Arc::new(Registry::builtin());
    let agent = Agent::new(
        model.clone(),
        registry.clone(),
        cfg.clone(),
        Arc::new(Masker::new(&MaskConfig::default())?),
    );
    let config = Config::embedded()?;
    let renderer = Renderer::new(
        Lang::En,
        config.tz,
        config.severity_names.clone(),
        config.engine.roles.clone(),
    )?;
    let incident = "IMS-20261206-001";
    // As the bot's `assistant::prompt_vars` fills them, from the embedded demo config.
    let vars = json!({
        "now": "2026-12-07 10:15", "tz": config.tz.name(), "incident": incident,
        "services": config.engine.catalog.services().map(|s| s.name.clone()).collect::<Vec<_>>(),
        "schedules": config.engine.schedules.keys().collect::<Vec<_>>(),
    });

    let (mut ok, mut skill_ok) = (0usize, 0usize);
    let mut by_lang = [(0usize, 0usize), (0usize, 0usize)];
    let mut times = Vec::new();
    let mut embedded = 0usize;
    let mut first = None;
    for round in 0..repeat {
        for c in &cases {
            let zh =
                c.q.chars()
                    .any(|ch| ('\u{4e00}'..='\u{9fff}').contains(&ch));
            let lang = if zh { Lang::Zh } else { Lang::En };
            let question = Question {
                text: c.q.clone(),
                language: if zh { Language::Zh } else { Language::En },
                system_prompt: renderer.llm_prompt(lang, "system", &vars)?,
                incident_context: Some(json!({
                    "incident": incident, "services": ["payments"], "runbook_passages": [],
                    "no_runbook_covers_this": false,
                })),
                final_turn_prompt: None,
            };
            let t = Instant::now();
            let routed = agent.route(&question).await;
            let secs = t.elapsed().as_secs_f64();
            let (name, args, how) = match routed {
                Ok(Some((call, in_text))) => {
                    embedded += usize::from(in_text);
                    (
                        call.name,
                        serde_json::from_str::<Value>(&call.arguments).unwrap_or(Value::Null),
                        if in_text { "in text" } else { "tool_calls" },
                    )
                }
                Ok(None) => (String::new(), Value::Null, "no call"),
                Err(e) => (String::new(), Value::String(e.to_string()), "error"),
            };
            if first.is_none() {
                first = Some(secs);
            } else {
                times.push(secs);
            }
            let args = same_window(args);
            let right_skill = name == c.skill;
            let right = right_skill && c.args.iter().all(|(k, w)| matches(w, args.get(k)));
            skill_ok += usize::from(right_skill);
            ok += usize::from(right);
            let l = &mut by_lang[usize::from(zh)];
            l.0 += usize::from(right);
            l.1 += 1;
            println!(
                "{} {:>6.2}s {:<3} {:<19} {:<10} {} {}",
                if right { "ok  " } else { "MISS" },
                secs,
                if zh { "zh" } else { "en" },
                if name.is_empty() { "-" } else { &name },
                how,
                args,
                if right {
                    String::new()
                } else {
                    format!("  (want {} {})", c.skill, Value::Object(c.args.clone()))
                },
            );
            let _ = round;
        }
    }
    let n = cases.len() * repeat;
    times.sort_by(f64::total_cmp);
    let pct = |a: usize, b: usize| 100.0 * a as f64 / b.max(1) as f64;
    println!(
        "\nmodel {} at {}: {} questions ({} en, {} zh)",
        cfg.model, cfg.base_url, n, by_lang[0].1, by_lang[1].1
    );
    println!(
        "accuracy (skill and arguments): {:.1} %  (en {:.1} %, zh {:.1} %); skill only {:.1} %; calls written into the text and read by the fallback parser: {embedded}",
        pct(ok, n),
        pct(by_lang[0].0, by_lang[0].1),
        pct(by_lang[1].0, by_lang[1].1),
        pct(skill_ok, n)
    );
    println!(
        "latency per question: first (cold prompt cache) {:.2} s; then p50 {:.2} s, p90 {:.2} s, max {:.2} s",
        first.unwrap_or(0.0),
        percentile(&times, 50.0),
        percentile(&times, 90.0),
        times.last().copied().unwrap_or(0.0)
    );
    Ok(())
}
