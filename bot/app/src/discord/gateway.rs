//! The inbound half: the gateway handler (serenity + poise). It only translates:
//! messages and slash commands become chat text for the one parser, 📌 reactions
//! become captures, card clicks become the commands they stand for (so RBAC and the
//! timeline see them like any other command). Replies go through the outbox; an
//! interaction is only answered (within Discord's 3 s) with an acknowledgement.

use std::sync::Arc;
use std::time::Duration;

use poise::serenity_prelude as serenity;
use serenity::{
    ButtonStyle, ChannelType, ComponentInteraction, ComponentInteractionDataKind, Context,
    CreateActionRow, CreateButton, CreateInteractionResponse, CreateInteractionResponseFollowup,
    CreateInteractionResponseMessage, CreateMessage, FullEvent, Interaction, ReactionType,
};
use tracing::{debug, info, warn};
use warroom_core::command::{self, Parsed};
use warroom_core::event::{Event, Message};
use warroom_core::incident::{ChannelRef, IncidentId, Milestone, Person};
use warroom_core::ports::Store as _;

use super::card::Click;
use super::import::{import_words, ImportArgs};
use super::sink::{State, ADAPTER};

/// The poise user data.
pub type Data = Arc<State>;
/// Errors of command bodies (logged by poise).
pub type Error = Box<dyn std::error::Error + Send + Sync>;
type Ctx<'a> = poise::Context<'a, Data, Error>;

/// Longest an interaction waits for the engine before it is deferred (Discord allows 3 s).
const ANSWER_WITHIN: Duration = Duration::from_millis(2000);

fn person(u: &serenity::User) -> Person {
    Person {
        id: u.id.to_string(),
        name: u.name.clone(),
    }
}

fn channel_ref(c: serenity::ChannelId) -> ChannelRef {
    ChannelRef::new(ADAPTER, &c.to_string())
}

impl State {
    /// Submits an event; a machinery failure becomes one reply in `channel`.
    async fn submit_or_reply(&self, ctx: &Context, channel: serenity::ChannelId, event: Event) {
        if let Err(e) = self.shared.engine.submit(event).await {
            let text = e.chat_reply(&self.shared.renderer);
            if let Err(e) = channel.say(&ctx.http, text).await {
                warn!(error = %e, "cannot post the failure reply");
            }
        }
    }

    /// Once a proposal is decided (confirmed, cancelled, expired), its buttons leave the
    /// answer; they stay while it is still open (the click was denied, or its command was
    /// refused).
    async fn settle_proposal_buttons(
        &self,
        ctx: &Context,
        ci: &ComponentInteraction,
        id: &str,
        reply: Option<&Message>,
    ) {
        // A refusal of the proposal itself (decided, expired, unknown) settles it too.
        let open = reply.is_some_and(|m| {
            m.is_refusal()
                && !matches!(
                    m,
                    Message::Refused {
                        problem: warroom_core::event::Refusal::Proposal { .. }
                    }
                )
        });
        if open {
            return;
        }
        let mut left: Vec<String> = ci
            .message
            .components
            .iter()
            .flat_map(|row| row.components.iter())
            .filter_map(|c| match c {
                serenity::ActionRowComponent::Button(b) => match &b.data {
                    serenity::ButtonKind::NonLink { custom_id, .. } => {
                        super::card::proposal_of(custom_id)
                            .filter(|p| *p != id)
                            .map(String::from)
                    }
                    _ => None,
                },
                _ => None,
            })
            .collect();
        left.dedup(); // Confirm and Cancel of one proposal sit side by side
        let rows = super::card::proposal_rows(left.iter().map(String::as_str), &self.labels);
        if let Err(e) = ci
            .channel_id
            .edit_message(
                &ctx.http,
                ci.message.id,
                serenity::EditMessage::new().components(rows),
            )
            .await
        {
            warn!(error = %e, "cannot take the decided proposal's buttons off the answer");
        }
    }

    fn in_guild(&self, g: Option<serenity::GuildId>) -> bool {
        g.map(serenity::GuildId::get) == Some(self.cfg.guild_id)
    }

    async fn introduce(&self, ctx: &Context, channel: serenity::ChannelId) {
        match self.shared.renderer.render(&Message::Help) {
            Ok(help) => {
                for part in super::card::split_message(&help) {
                    if let Err(e) = channel
                        .send_message(&ctx.http, CreateMessage::new().content(part))
                        .await
                    {
                        warn!(error = %e, %channel, "cannot introduce the bot");
                        return;
                    }
                }
            }
            Err(e) => warn!(error = %e, "cannot render help"),
        }
    }

    async fn on_message(&self, ctx: &Context, msg: &serenity::Message) {
        if msg.author.bot || !self.in_guild(msg.guild_id) {
            return;
        }
        if let (Some(words), Some(file)) = (import_words(&msg.content), msg.attachments.first()) {
            let reply = self
                .import_plan(
                    msg.channel_id,
                    file,
                    ImportArgs::from_words(words),
                    person(&msg.author),
                )
                .await;
            if let Err(e) = self.post_text(msg.channel_id.get(), &reply).await {
                warn!(error = ?e, "cannot post the import reply");
            }
            return;
        }
        let channel = channel_ref(msg.channel_id);
        // A mention of the bot is a question: `@warroom 行情延迟怎么办` → `/ask 行情延迟怎么办`.
        if let Some(question) = self
            .bot_id
            .get()
            .and_then(|id| mention_question(&msg.content, *id))
        {
            let event = Event::Chat {
                channel,
                actor: person(&msg.author),
                text: format!("/ask {question}"),
            };
            self.submit_or_reply(ctx, msg.channel_id, event).await;
            return;
        }
        let event = match command::parse(&msg.content) {
            Parsed::NotACommand if self.cfg.capture_all && !msg.content.trim().is_empty() => {
                Event::Capture {
                    channel,
                    author: person(&msg.author),
                    text: msg.content.clone(),
                    link: Some(msg.link()),
                }
            }
            Parsed::NotACommand => return,
            Parsed::Command(_) | Parsed::Invalid(_) => Event::Chat {
                channel,
                actor: person(&msg.author),
                text: msg.content.clone(),
            },
        };
        self.submit_or_reply(ctx, msg.channel_id, event).await;
    }

    async fn on_reaction(&self, ctx: &Context, r: &serenity::Reaction) {
        if !self.in_guild(r.guild_id) {
            return;
        }
        let matches = match &r.emoji {
            ReactionType::Unicode(s) => {
                s.trim_end_matches('\u{fe0f}') == self.cfg.pin_emoji.trim_end_matches('\u{fe0f}')
            }
            ReactionType::Custom { name, .. } => {
                name.as_deref() == Some(self.cfg.pin_emoji.as_str())
            }
            _ => false,
        };
        if !matches || r.user_id.map(serenity::UserId::get) == self.bot_id.get().copied() {
            return;
        }
        let msg = match r.message(&ctx.http).await {
            Ok(m) => m,
            Err(e) => {
                warn!(error = %e, "cannot read the reacted message");
                return;
            }
        };
        if msg.content.trim().is_empty() {
            return;
        }
        let event = Event::Capture {
            channel: channel_ref(r.channel_id),
            author: person(&msg.author),
            text: msg.content.clone(),
            link: Some(msg.link()),
        };
        self.submit_or_reply(ctx, r.channel_id, event).await;
    }

    async fn on_click(&self, ctx: &Context, ci: &ComponentInteraction) {
        if let Some(text) = super::card::button_command(&ci.data.custom_id) {
            if let Err(e) = ci
                .create_response(&ctx.http, CreateInteractionResponse::Acknowledge)
                .await
            {
                warn!(error = %e, "cannot answer the interaction");
            }
            let event = Event::Chat {
                channel: channel_ref(ci.channel_id),
                actor: person(&ci.user),
                text,
            };
            match self.shared.engine.submit(event).await {
                Ok(outcome) => {
                    if let Some(id) = super::card::proposal_of(&ci.data.custom_id) {
                        self.settle_proposal_buttons(ctx, ci, id, outcome.reply.as_ref())
                            .await;
                    }
                }
                Err(e) => {
                    let text = e.chat_reply(&self.shared.renderer);
                    if let Err(e) = ci.channel_id.say(&ctx.http, text).await {
                        warn!(error = %e, "cannot post the failure reply");
                    }
                }
            }
            return;
        }
        let Some((click, id)) = Click::parse(&ci.data.custom_id) else {
            debug!(custom_id = %ci.data.custom_id, "a component that is not ours");
            return;
        };
        if click == Click::Resolve {
            let confirm = CreateInteractionResponseMessage::new()
                .ephemeral(true)
                .content(format!(
                    "{} ({id})",
                    self.labels.get("discord", "confirm_resolve")
                ))
                .components(vec![CreateActionRow::Buttons(vec![CreateButton::new(
                    Click::ResolveConfirmed.custom_id(&id),
                )
                .label(self.labels.get("discord", "confirm"))
                .style(ButtonStyle::Danger)])]);
            if let Err(e) = ci
                .create_response(&ctx.http, CreateInteractionResponse::Message(confirm))
                .await
            {
                warn!(error = %e, "cannot answer the interaction");
            }
            return;
        }
        let value = match &ci.data.kind {
            ComponentInteractionDataKind::StringSelect { values } => {
                values.first().map(String::as_str)
            }
            _ => None,
        };
        let text = click.command_text(&id, value, &ci.user.id.to_string());
        // Answer first (Discord allows 3 s); the card edit and the notice follow via the outbox.
        let answer = if click == Click::ResolveConfirmed {
            // Replace the ephemeral confirmation, so it cannot be clicked twice.
            CreateInteractionResponse::UpdateMessage(
                CreateInteractionResponseMessage::new()
                    .content(text.clone().unwrap_or_default())
                    .components(Vec::new()),
            )
        } else {
            CreateInteractionResponse::Acknowledge
        };
        if let Err(e) = ci.create_response(&ctx.http, answer).await {
            warn!(error = %e, "cannot answer the interaction");
        }
        let Some(text) = text else {
            return;
        };
        let event = Event::Chat {
            channel: channel_ref(ci.channel_id),
            actor: person(&ci.user),
            text,
        };
        if let Err(e) = self.shared.engine.submit(event).await {
            let reply = CreateInteractionResponseFollowup::new()
                .ephemeral(true)
                .content(e.chat_reply(&self.shared.renderer));
            if let Err(e) = ci.create_followup(&ctx.http, reply).await {
                warn!(error = %e, "cannot post the failure reply");
            }
        }
    }
}

/// Slash commands whose `args` are completed, and what their words can be.
const COMPLETED: [&str; 13] = [
    "incident status",
    "incident ack",
    "incident mitigate",
    "incident resolve",
    "incident close",
    "incident reopen",
    "incident sev",
    "incident link",
    "role assign",
    "milestone",
    "timeline",
    "status",
    "postmortem",
];

/// Most choices Discord shows.
const MAX_CHOICES: usize = 25;

fn starts_with_ci(word: &str, prefix: &str) -> bool {
    word.to_lowercase().starts_with(&prefix.to_lowercase())
}

impl State {
    /// Completions of the `args` of `command` typed so far: incident ids (newest first)
    /// as the first word; then roles for `/role assign`, milestones for `/milestone`.
    /// Each choice is the whole `args` value.
    pub(super) fn suggestions(&self, command: &str, typed: &str) -> Vec<String> {
        let (done, word) = match typed.rfind(char::is_whitespace) {
            Some(i) => typed.split_at(i + 1),
            None => ("", typed),
        };
        let before: Vec<&str> = done.split_whitespace().collect();
        let after_id = match before.first() {
            Some(w) if IncidentId::parse(w).is_ok() => before.len() - 1,
            _ => before.len(),
        };
        let mut words: Vec<String> = Vec::new();
        if before.is_empty() {
            match self.shared.store.incidents() {
                Ok(mut all) => {
                    all.sort_by_key(|i| std::cmp::Reverse(i.id.to_string()));
                    words.extend(
                        all.iter()
                            .map(|i| i.id.to_string())
                            .filter(|id| starts_with_ci(id, word)),
                    );
                }
                Err(e) => warn!(error = %e, "cannot list incidents for completion"),
            }
        }
        if after_id == 0 {
            match command {
                "role assign" => words.extend(
                    self.shared
                        .config
                        .engine
                        .roles
                        .all()
                        .iter()
                        .map(|r| r.key.clone())
                        .filter(|k| starts_with_ci(k, word)),
                ),
                "milestone" => words.extend(
                    Milestone::ALL
                        .iter()
                        .map(|m| m.key().to_string())
                        .filter(|k| starts_with_ci(k, word)),
                ),
                _ => {}
            }
        }
        words
            .into_iter()
            .map(|w| format!("{done}{w}"))
            .filter(|c| c.chars().count() <= 100)
            .take(MAX_CHOICES)
            .collect()
    }
}

/// The question in a message that mentions the bot (`<@id>` or `<@!id>`), if it is not
/// already a command and has words besides the mention.
fn mention_question(content: &str, bot: u64) -> Option<String> {
    let (a, b) = (format!("<@{bot}>"), format!("<@!{bot}>"));
    if !(content.contains(&a) || content.contains(&b)) {
        return None;
    }
    let rest = content.replace(&a, " ").replace(&b, " ");
    let rest = rest.split_whitespace().collect::<Vec<_>>().join(" ");
    (!rest.is_empty() && !rest.starts_with('/') && !rest.starts_with('／'))
        .then(|| rest.to_string())
}

/// Autocomplete of a slash command's `args` (poise answers with the choices).
fn complete<'a>(
    ctx: poise::ApplicationContext<'a, Data, Error>,
    typed: &'a str,
) -> poise::BoxFuture<'a, serenity::CreateAutocompleteResponse> {
    Box::pin(async move {
        let state = ctx.data();
        let mut answer = serenity::CreateAutocompleteResponse::new();
        if state.in_guild(ctx.interaction.guild_id) {
            for c in state.suggestions(&ctx.command().qualified_name, typed) {
                answer = answer.add_string_choice(c.clone(), c);
            }
        }
        answer
    })
}

/// Every gateway event lands here (poise handles the slash commands itself).
pub async fn on_event(
    fw: poise::FrameworkContext<'_, Data, Error>,
    ev: &FullEvent,
) -> Result<(), Error> {
    let ctx = fw.serenity_context;
    let state = fw.user_data;
    match ev {
        FullEvent::Ready { data_about_bot } => {
            let _ = state.bot_id.set(data_about_bot.user.id.get());
            info!(user = %data_about_bot.user.name, "Discord gateway ready");
        }
        FullEvent::Message { new_message } => state.on_message(ctx, new_message).await,
        FullEvent::ReactionAdd { add_reaction } => state.on_reaction(ctx, add_reaction).await,
        FullEvent::InteractionCreate {
            interaction: Interaction::Component(ci),
        } if state.in_guild(ci.guild_id) => state.on_click(ctx, ci).await,
        // The bot was added to the guild: introduce it where the guild greets people.
        FullEvent::GuildCreate {
            guild,
            is_new: Some(true),
        } if guild.id.get() == state.cfg.guild_id => {
            if let Some(c) = guild.system_channel_id {
                state.introduce(ctx, c).await;
            }
        }
        // A new text channel the bot can see (not one of its own war rooms).
        FullEvent::ChannelCreate { channel } => {
            let own_category = channel.parent_id.map(serenity::ChannelId::get);
            let ours = state.created_here(channel.id.get())
                || (own_category.is_some()
                    && (own_category == state.cfg.war_room_category
                        || own_category == state.cfg.archive_category));
            if channel.kind == ChannelType::Text
                && channel.guild_id.get() == state.cfg.guild_id
                && !ours
            {
                state.introduce(ctx, channel.id).await;
            }
        }
        _ => {}
    }
    Ok(())
}

/// A slash command: the same text a person would type, through the one parser.
/// The interaction is answered with an ephemeral echo of the command once the engine
/// has stored it (or deferred if that takes long); the reply itself goes through the
/// outbox like every reply.
async fn run_slash(ctx: Ctx<'_>, words: &str, args: Option<String>) -> Result<(), Error> {
    let state = ctx.data().clone();
    if !state.in_guild(ctx.guild_id()) {
        return Ok(());
    }
    let text = match args.as_deref().map(str::trim) {
        Some(a) if !a.is_empty() => format!("/{words} {a}"),
        _ => format!("/{words}"),
    };
    let event = Event::Chat {
        channel: channel_ref(ctx.channel_id()),
        actor: person(ctx.author()),
        text: text.clone(),
    };
    let submit = state.shared.engine.submit(event);
    tokio::pin!(submit);
    let result = tokio::select! {
        r = &mut submit => r,
        _ = tokio::time::sleep(ANSWER_WITHIN) => {
            ctx.defer_ephemeral().await?;
            submit.await
        }
    };
    let answer = match result {
        Ok(_) => format!("`{}`", text.replace('`', "'")),
        Err(e) => e.chat_reply(&state.shared.renderer),
    };
    ctx.send(
        poise::CreateReply::default()
            .content(answer)
            .ephemeral(true),
    )
    .await?;
    Ok(())
}

macro_rules! slash {
    ($(#[$meta:meta])* $name:ident => $words:literal) => {
        $(#[$meta])*
        async fn $name(
            ctx: Ctx<'_>,
            #[description = "arguments"] args: Option<String>,
        ) -> Result<(), Error> {
            run_slash(ctx, $words, args).await
        }
    };
}

slash!(#[poise::command(slash_command)] declare => "incident declare");
slash!(#[poise::command(slash_command, rename = "status")] incident_status => "incident status");
slash!(#[poise::command(slash_command)] list => "incident list");
slash!(#[poise::command(slash_command)] ack => "incident ack");
slash!(#[poise::command(slash_command)] mitigate => "incident mitigate");
slash!(#[poise::command(slash_command)] resolve => "incident resolve");
slash!(#[poise::command(slash_command)] close => "incident close");
slash!(#[poise::command(slash_command)] reopen => "incident reopen");
slash!(#[poise::command(slash_command)] sev => "incident sev");
slash!(#[poise::command(slash_command)] link => "incident link");
slash!(#[poise::command(slash_command)] assign => "role assign");
slash!(#[poise::command(slash_command)] milestone => "milestone");
slash!(#[poise::command(slash_command)] timeline => "timeline");
slash!(#[poise::command(slash_command, rename = "status")] status_update => "status");
slash!(#[poise::command(slash_command)] postmortem => "postmortem");
slash!(#[poise::command(slash_command)] help => "help");
slash!(#[poise::command(slash_command)] oncall => "oncall");
slash!(#[poise::command(slash_command)] calendar => "calendar");
slash!(#[poise::command(slash_command)] task => "task");
slash!(#[poise::command(slash_command, rename = "status")] plan_status => "plan status");
slash!(#[poise::command(slash_command)] action => "action");
slash!(#[poise::command(slash_command)] ask => "ask");
slash!(#[poise::command(slash_command)] similar => "similar");
slash!(#[poise::command(slash_command)] analyze => "analyze");
slash!(#[poise::command(slash_command)] rootcause => "rootcause");
slash!(#[poise::command(slash_command)] resolution => "resolution");
slash!(#[poise::command(slash_command)] confirm => "confirm");
slash!(#[poise::command(slash_command)] cancel => "cancel");
slash!(#[poise::command(slash_command)] page => "page");

/// `/incident <subcommand>` (a group: only its subcommands run).
#[poise::command(
    slash_command,
    subcommands(
        "declare",
        "incident_status",
        "list",
        "ack",
        "mitigate",
        "resolve",
        "close",
        "reopen",
        "sev",
        "link"
    )
)]
async fn incident(_ctx: Ctx<'_>) -> Result<(), Error> {
    Ok(())
}

/// `/plan status`, `/plan import`.
#[poise::command(slash_command, subcommands("plan_status", "plan_import"))]
async fn plan(_ctx: Ctx<'_>) -> Result<(), Error> {
    Ok(())
}

/// `/plan import`: a CSV or YAML plan file; `id`, `coordinator` (and `title`, `date`)
/// for CSV.
#[poise::command(slash_command, rename = "import")]
async fn plan_import(
    ctx: Ctx<'_>,
    #[description = "CSV or YAML plan file"] file: serenity::Attachment,
    #[description = "plan id (CSV)"] id: Option<String>,
    #[description = "coordinator (CSV)"] coordinator: Option<String>,
    #[description = "title (CSV)"] title: Option<String>,
    #[description = "YYYY-MM-DD of HH:MM times (CSV)"] date: Option<String>,
) -> Result<(), Error> {
    let state = ctx.data().clone();
    if !state.in_guild(ctx.guild_id()) {
        return Ok(());
    }
    // The download and import may take longer than Discord's 3 s.
    ctx.defer().await?;
    let args = ImportArgs {
        id,
        coordinator,
        title,
        date,
    };
    let reply = state
        .import_plan(ctx.channel_id(), &file, args, person(ctx.author()))
        .await;
    let text: String = reply.chars().take(super::card::MAX_CONTENT).collect();
    ctx.send(poise::CreateReply::default().content(text))
        .await?;
    Ok(())
}

/// `/role assign`.
#[poise::command(slash_command, subcommands("assign"))]
async fn role(_ctx: Ctx<'_>) -> Result<(), Error> {
    Ok(())
}

/// The slash commands, described in the configured language (from `[help]` in the labels).
pub fn commands(labels: &super::card::Labels) -> Vec<poise::Command<Data, Error>> {
    let mut cmds = vec![
        incident(),
        role(),
        milestone(),
        timeline(),
        status_update(),
        postmortem(),
        help(),
        oncall(),
        calendar(),
        task(),
        plan(),
        action(),
        ask(),
        similar(),
        analyze(),
        confirm(),
        cancel(),
        page(),
        rootcause(),
        resolution(),
    ];
    let describe = |c: &mut poise::Command<Data, Error>, key: &str, path: &str| {
        c.description = Some(labels.help(key).into());
        for p in &mut c.parameters {
            if p.name != "args" {
                continue;
            }
            p.description = Some(match key {
                "declare" => "<title…> [P1..P4] [service…]".into(),
                _ => "…".into(),
            });
            if COMPLETED.contains(&path) {
                p.autocomplete_callback = Some(complete);
            }
        }
    };
    for c in &mut cmds {
        let key = match &*c.name {
            "incident" => "status",
            "role" => "role",
            "status" => "status_update",
            "rootcause" | "resolution" => "root_cause",
            "confirm" | "cancel" => "proposal",
            other => other,
        }
        .to_string();
        let group = c.name.clone();
        describe(c, &key, &group);
        for sub in &mut c.subcommands {
            let path = format!("{group} {}", sub.name);
            let key = match &*sub.name {
                _ if group == "plan" => "plan",
                "declare" => "declare",
                "status" => "status",
                "list" => "list",
                "sev" => "severity",
                "link" => "link",
                "assign" => "role",
                _ => "transition",
            };
            describe(sub, key, &path);
        }
    }
    cmds
}

#[cfg(test)]
mod tests {
    use super::mention_question;

    #[test]
    fn a_mention_of_the_bot_becomes_the_question_around_it() {
        assert_eq!(
            mention_question("<@42> 行情延迟怎么办", 42).as_deref(),
            Some("行情延迟怎么办")
        );
        assert_eq!(
            mention_question("how do I restart the gateway, <@!42>?", 42).as_deref(),
            Some("how do I restart the gateway, ?")
        );
        assert_eq!(mention_question("<@7> hello", 42), None, "another user");
        assert_eq!(mention_question("<@42>", 42), None, "nothing asked");
        assert_eq!(
            mention_question("<@42> /incident list", 42),
            None,
            "a command"
        );
    }
}
