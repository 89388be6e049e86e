//! `/plan import`: a change plan from a CSV or YAML file attached to a slash command or
//! to a `/plan import …` message. The file is downloaded (with the adapter's timeout),
//! imported with [`crate::plan_import`], and stored with `Event::ImportPlan`; the plan
//! runs in the channel it was imported in. The answer is the rendered
//! `Message::PlanImported`, or the line-numbered import errors.

use chrono::{NaiveDate, Utc};
use poise::serenity_prelude as serenity;
use tracing::warn;
use warroom_core::event::Event;

use super::sink::{State, ADAPTER};
use crate::plan_import::{self, Format, ImportError, PlanMeta};

/// Largest plan file accepted, in bytes.
pub const MAX_PLAN_BYTES: usize = 1 << 20;

/// The plan-level fields a CSV sheet does not carry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportArgs {
    /// Plan id.
    pub id: Option<String>,
    /// Coordinator.
    pub coordinator: Option<String>,
    /// Title (the id when absent).
    pub title: Option<String>,
    /// `YYYY-MM-DD` of lone `HH:MM` times.
    pub date: Option<String>,
}

impl ImportArgs {
    /// Reads `[id] [coordinator] [YYYY-MM-DD] [title…]`, the words after `/plan import`.
    pub fn from_words(words: &str) -> Self {
        let mut it = words.split_whitespace();
        let id = it.next().map(str::to_string);
        let coordinator = it.next().map(str::to_string);
        let mut rest: Vec<&str> = it.collect();
        let date = match rest.first() {
            Some(d) if NaiveDate::parse_from_str(d, "%Y-%m-%d").is_ok() => {
                Some(rest.remove(0).to_string())
            }
            _ => None,
        };
        let title = (!rest.is_empty()).then(|| rest.join(" "));
        Self {
            id,
            coordinator,
            title,
            date,
        }
    }
}

/// The words after `/plan import` when `text` is that command.
pub fn import_words(text: &str) -> Option<&str> {
    let t = text.trim_start();
    let rest = t.strip_prefix('/')?;
    let mut parts = rest.splitn(3, char::is_whitespace);
    let (cmd, sub) = (parts.next()?, parts.next()?);
    (cmd.eq_ignore_ascii_case("plan") && sub.eq_ignore_ascii_case("import"))
        .then(|| parts.next().unwrap_or(""))
}

fn one(message: String) -> Vec<ImportError> {
    vec![ImportError::Format { line: 1, message }]
}

impl State {
    /// Imports the attached plan into `channel`; returns the text to answer with.
    pub(super) async fn import_plan(
        &self,
        channel: serenity::ChannelId,
        file: &serenity::Attachment,
        args: ImportArgs,
        author: warroom_core::incident::Person,
    ) -> String {
        match self.import_inner(channel, file, args, author).await {
            Ok(text) => text,
            Err(errors) => plan_import::render(&errors),
        }
    }

    async fn import_inner(
        &self,
        channel: serenity::ChannelId,
        file: &serenity::Attachment,
        args: ImportArgs,
        author: warroom_core::incident::Person,
    ) -> Result<String, Vec<ImportError>> {
        if file.size as usize > MAX_PLAN_BYTES {
            return Err(one(format!(
                "{} is larger than {MAX_PLAN_BYTES} bytes",
                file.filename
            )));
        }
        let bytes = self
            .rest
            .download(&file.url, MAX_PLAN_BYTES)
            .await
            .map_err(|e| {
                warn!(error = %e, file = %file.filename, "cannot download the plan");
                one(format!("cannot download {}: {e}", file.filename))
            })?;
        let text = String::from_utf8(bytes)
            .map_err(|_| one(format!("{} is not UTF-8 text", file.filename)))?;
        let now = Utc::now();
        let cals = &self.shared.config.engine.calendars;
        let tz = self.shared.config.tz;
        let here = format!("{ADAPTER}:{channel}");
        let lower = file.filename.to_ascii_lowercase();
        let format = if lower.ends_with(".csv") {
            Format::Csv
        } else if lower.ends_with(".yaml") || lower.ends_with(".yml") {
            Format::Yaml
        } else {
            plan_import::detect(&text)
        };
        let mut plan = match format {
            Format::Yaml => plan_import::from_yaml_with(&text, tz, now, cals)?,
            Format::Csv => {
                let (Some(id), Some(coordinator)) = (args.id.clone(), args.coordinator.clone())
                else {
                    return Err(one(
                        "a CSV plan needs id and coordinator (/plan import <id> <coordinator> [YYYY-MM-DD] [title…])".into(),
                    ));
                };
                let date = match args.date.as_deref() {
                    Some(d) => Some(
                        NaiveDate::parse_from_str(d, "%Y-%m-%d")
                            .map_err(|_| one("date must be YYYY-MM-DD".into()))?,
                    ),
                    None => None,
                };
                let meta = PlanMeta {
                    title: args.title.clone().unwrap_or_else(|| id.clone()),
                    id,
                    coordinator,
                    channel: Some(here.clone()),
                    date,
                    tz,
                };
                plan_import::from_csv_with(&text, meta, now, cals)?
            }
        };
        // The plan runs where it was imported.
        plan.channel = Some(here);
        let outcome = match self
            .shared
            .engine
            .submit(Event::ImportPlan {
                plan,
                actor: Some(author),
            })
            .await
        {
            Ok(o) => o,
            Err(e) => return Ok(e.chat_reply(&self.shared.renderer)),
        };
        // `PlanImported`, or the engine's refusal.
        let Some(reply) = outcome.reply else {
            return Err(one("the plan was not stored".into()));
        };
        self.shared.renderer.render(&reply).map_err(|e| {
            warn!(error = %e, "cannot render the import reply");
            one(e.to_string())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_import_arguments_are_positional() {
        assert_eq!(import_words("/plan import CHG-1 bob"), Some("CHG-1 bob"));
        assert_eq!(import_words("/PLAN Import"), Some(""));
        assert_eq!(import_words("/plan CHG-1"), None);
        let a = ImportArgs::from_words("CHG-1 bob 2026-11-23 Nightly switch");
        assert_eq!(a.id.as_deref(), Some("CHG-1"));
        assert_eq!(a.coordinator.as_deref(), Some("bob"));
        assert_eq!(a.date.as_deref(), Some("2026-11-23"));
        assert_eq!(a.title.as_deref(), Some("Nightly switch"));
        let b = ImportArgs::from_words("CHG-2 carol Weekend");
        assert_eq!((b.date, b.title.as_deref()), (None, Some("Weekend")));
    }
}
