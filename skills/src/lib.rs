//! warroom-skills: the skills the LLM agent calls through function calling, one file
//! per skill, each with a JSON Schema derived from its argument type.
//!
//! Empty so far: the skills arrive with the agent work, after the capabilities they
//! wrap (changes, on-call, tasks, knowledge). The crate exists now to fix the
//! dependency direction: app → skills → knowledge → core.
#![warn(missing_docs)]
