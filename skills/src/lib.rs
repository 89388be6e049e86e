//! warroom-skills: the LLM agent of the war room. Questions in chat become
//! function calls ("skills") through an OpenAI-compatible model; answers come back
//! with citations, write actions come back as proposals a person must confirm.
//!
//! Dependency direction: app → skills → knowledge → core. This crate knows no chat
//! adapter, no store layout and no template: the app implements [`SkillContext`]
//! over its store, catalog, schedules, calendars and knowledge index, renders the
//! system prompt, shows the answer and proposals, and writes the trace to its audit log.
//!
//! Layout:
//! - [`model`]: the [`LanguageModel`] port — vendor-free messages, tool specs, tool
//!   calls, replies, [`ModelError`], and [`LlmConfig`] (`[llm]`).
//! - [`openai`]: [`OpenAiModel`], the port on async-openai's chat completions (OpenAI,
//!   DeepSeek, Qwen, vLLM, Ollama, llama.cpp): the common subset of the protocol,
//!   timeouts, the API key from an env var and never logged.
//! - [`fallback`]: tool calls small local models write into the text (fenced JSON,
//!   `<tool_call>` tags).
//! - [`mask`]: [`Masker`] / [`MaskSession`]: IPs, internal host names and secrets
//!   become `<ip-N>`, `<host-N>`, `<secret-N>` before anything reaches the model.
//! - [`skill`]: the [`Skill`] trait, [`SkillOutput`], [`Proposal`], [`SkillError`],
//!   the [`SkillContext`] port, and schema/argument helpers.
//! - [`skills`]: one file per skill — read: `change_query`, `snapshot_diff`,
//!   `runbook_search`, `similar_incidents`, `incident_lookup`, `oncall_lookup`,
//!   `alert_query`, `task_status`, `calendar`; write (propose only): `page_oncall`,
//!   `add_timeline_entry`, `create_action_item`, `set_milestone`.
//! - [`registry`]: [`Registry`] — the skills on offer and their tool specs.
//! - [`agent`]: [`Agent::ask`] — the bounded loop: rounds, concurrency, budgets,
//!   the tool-less last round, masking, proposals, the trace.
//!
//! Wiring (in the app):
//! ```text
//! let model: Arc<dyn LanguageModel> = Arc::new(OpenAiModel::new(&cfg.llm)?);
//! let agent = Agent::new(model, Arc::new(Registry::builtin()), cfg.llm.clone(),
//!                        Arc::new(Masker::new(&cfg.llm_mask)?));
//! match agent.ask(&Question { text, language, system_prompt, ..Default::default() }, &ctx).await {
//!     Ok(answer) => { /* post answer.text; a Confirm card per answer.proposals; audit answer.trace */ }
//!     Err(failure) => { /* audit failure.trace; answer from retrieval alone */ }
//! }
//! // On Confirm by an authorized person: run proposal.command as that person.
//! ```
#![warn(missing_docs)]

pub mod agent;
pub mod fallback;
pub mod mask;
pub mod model;
pub mod openai;
pub mod registry;
pub mod skill;
pub mod skills;

#[cfg(test)]
mod testkit;
#[cfg(test)]
mod tests;

pub use agent::{Agent, AgentAnswer, AgentFailure, Language, Question, ToolOutcome, TraceEvent};
pub use mask::{MaskConfig, MaskError, MaskSession, Masker};
pub use model::{
    ChatMessage, ChatRequest, LanguageModel, LlmConfig, ModelError, ModelReply, Role, ToolCall,
    ToolSpec, Usage,
};
pub use openai::OpenAiModel;
pub use registry::{DuplicateSkill, Registry};
pub use skill::{
    ContextError, Proposal, ProposedAction, Skill, SkillContext, SkillError, SkillKind, SkillOutput,
};
