//! `runbook_search`: runbook passages for a question or an alert, with citations.

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};
use warroom_knowledge::SearchOptions;

use crate::skill::{parse_args, Skill, SkillContext, SkillError, SkillOutput};

/// Search the runbooks (运维手册/应急预案) for how to diagnose or fix something: "what do I check when …", "怎么处理…", an alert name, an error message. Returns passages with a citation (document and line range) to quote. When `abstain` is true no runbook covers the question: say so instead of guessing.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Args {
    /// What to look for, in the user's words (Chinese or English), or an alert name.
    pub query: String,
    /// Only runbooks of this service id.
    pub service: Option<String>,
    /// Passages to return, 1 to 10; 5 when omitted.
    #[schemars(range(min = 1, max = 10))]
    pub k: Option<u32>,
}

/// The skill.
pub struct RunbookSearchSkill;

#[async_trait]
impl Skill for RunbookSearchSkill {
    crate::skill_meta!("runbook_search", Read);

    async fn run(&self, ctx: &dyn SkillContext, args: Value) -> Result<SkillOutput, SkillError> {
        let a: Args = parse_args(args)?;
        let query = a.query.trim();
        if query.is_empty() {
            return Err(SkillError::InvalidArgs("query: must not be empty".into()));
        }
        let k = a.k.unwrap_or(5);
        if !(1..=10).contains(&k) {
            return Err(SkillError::InvalidArgs("k: 1 to 10".into()));
        }
        let opts = SearchOptions {
            k: k as usize,
            services: a
                .service
                .iter()
                .map(|s| s.trim().to_lowercase())
                .filter(|s| !s.is_empty())
                .collect(),
            ..SearchOptions::default()
        };
        let answer = ctx.search_runbooks(query, &opts).await?;
        let hits: Vec<Value> = answer
            .hits
            .iter()
            .map(|h| {
                json!({
                    "citation": h.citation,
                    "title": h.title,
                    "headings": h.headings,
                    "snippet": h.snippet,
                    "services": h.services,
                })
            })
            .collect();
        Ok(SkillOutput::Data(json!({
            "abstain": answer.abstain,
            "confidence": answer.confidence,
            "hits": hits,
        })))
    }
}
