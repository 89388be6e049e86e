//! The outbound half: delivers outbox actions to Discord over REST.
//!
//! Idempotency (every action may run again after a crash, see `ChatSink::deliver`):
//! - `OpenWarRoom` first lists the guild's channels and reuses one with the war room's
//!   name, so a crash between "created" and "acknowledged" never makes a second channel.
//! - The card's message id is not stored: its buttons' custom ids carry the incident id,
//!   and the card is found again in the channel's pins (or, if the bot died before it
//!   pinned it, among the latest messages). A cache keeps the lookup off the hot path.
//! - Edits (`RefreshCard`, `ArchiveWarRoom`) set absolute state, so repeating them is harmless.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};

use reqwest::Method;
use serde_json::{json, Value};
use serenity::all::{CreateMessage, EditMessage, GuildChannel, Permissions};
use tracing::{info, warn};
use warroom_core::event::{Action, Destination, Event, Message, PageNotice, PageTarget};
use warroom_core::incident::{ChannelRef, Incident, IncidentId};
use warroom_core::ports::Store as _;

use super::card::{self, Labels};
use super::rest::{Rest, RestError};
use super::DiscordConfig;
use crate::app::{ChatSink, Delivery, DeliveryError, Shared};

/// Adapter name, matched against `ChannelRef::adapter`.
pub const ADAPTER: &str = "discord";

/// Where an incident's card is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct CardRef {
    channel: u64,
    message: u64,
}

/// State shared by the sink and the gateway handler.
pub struct State {
    pub(super) shared: Arc<Shared>,
    pub(super) cfg: DiscordConfig,
    pub(super) rest: Rest,
    pub(super) labels: Labels,
    /// The bot's own user id (from READY, or `GET /users/@me`).
    pub(super) bot_id: OnceLock<u64>,
    /// Channels this process created (war rooms): no card lookup needed, no introduction.
    pub(super) created: Mutex<HashSet<u64>>,
    cards: Mutex<HashMap<IncidentId, CardRef>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // std Mutex, never held across an await; a poisoned one still holds valid data.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn snowflake(v: &Value) -> Option<u64> {
    match v {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

fn permanent(e: impl std::fmt::Display) -> DeliveryError {
    DeliveryError::Permanent(e.to_string())
}

fn rest_err(what: &str, e: RestError) -> DeliveryError {
    let d = e.delivery();
    match &d {
        DeliveryError::Retry(after) => {
            warn!(%what, error = %e, ?after, "Discord call failed; will retry")
        }
        DeliveryError::Permanent(_) => warn!(%what, error = %e, "Discord refused the call"),
    }
    d
}

/// The channel's Discord id, if it is a Discord channel.
pub fn discord_channel(c: &ChannelRef) -> Option<u64> {
    (c.adapter == ADAPTER).then(|| c.id.parse().ok()).flatten()
}

impl State {
    /// Shared state for the sink and the gateway.
    pub fn new(shared: Arc<Shared>, cfg: DiscordConfig, rest: Rest) -> Self {
        let labels = Labels::new(shared.config.language);
        Self {
            shared,
            cfg,
            rest,
            labels,
            bot_id: OnceLock::new(),
            created: Mutex::new(HashSet::new()),
            cards: Mutex::new(HashMap::new()),
        }
    }

    /// Whether this process created `channel` (one of its war rooms).
    pub(super) fn created_here(&self, channel: u64) -> bool {
        lock(&self.created).contains(&channel)
    }

    fn incident(&self, id: &IncidentId) -> Result<Incident, DeliveryError> {
        match self.shared.store_incident(id) {
            Ok(Some(i)) => Ok(i),
            Ok(None) => Err(permanent(format!("{id} does not exist"))),
            Err(e) => {
                warn!(error = %e, "cannot load incident");
                Err(DeliveryError::Retry(None))
            }
        }
    }

    /// The incident's Discord war room, if it has one.
    fn war_room(&self, id: &IncidentId) -> Result<Option<u64>, DeliveryError> {
        match self.shared.store.incident_channels(id) {
            Ok(chs) => Ok(chs.iter().find_map(discord_channel)),
            Err(e) => {
                warn!(error = %e, "cannot read the incident's channels");
                Err(DeliveryError::Retry(None))
            }
        }
    }

    async fn bot_id(&self) -> Result<u64, DeliveryError> {
        if let Some(id) = self.bot_id.get() {
            return Ok(*id);
        }
        let me: Value = self
            .rest
            .call(Method::GET, "/users/@me", None)
            .await
            .map_err(|e| rest_err("GET /users/@me", e))?;
        let id = me
            .get("id")
            .and_then(snowflake)
            .ok_or_else(|| permanent("GET /users/@me has no id"))?;
        let _ = self.bot_id.set(id);
        Ok(id)
    }

    fn render(&self, message: &Message) -> Result<String, DeliveryError> {
        self.shared.renderer.render(message).map_err(permanent)
    }

    /// Posts text (split below 2000 characters); returns the last message's id.
    pub(super) async fn post_text(&self, channel: u64, text: &str) -> Result<(), DeliveryError> {
        self.post_with(channel, text, Vec::new(), None).await
    }

    /// Posts text like [`State::post_text`]; `row` (buttons) goes on the last part.
    async fn post_with(
        &self,
        channel: u64,
        text: &str,
        rows: Vec<serenity::all::CreateActionRow>,
        nonce: Option<&str>,
    ) -> Result<(), DeliveryError> {
        let parts = card::split_message(text);
        let last = parts.len().saturating_sub(1);
        for (i, part) in parts.into_iter().enumerate() {
            let mut body = json!({ "content": part, "allowed_mentions": { "parse": ["users"] } });
            if let Some(n) = nonce {
                // One nonce per part (≤ 25 characters): a retry skips the parts already posted.
                body["nonce"] = json!(format!("{n}.{i}"));
                body["enforce_nonce"] = json!(true);
            }
            if i == last && !rows.is_empty() {
                body["components"] = serde_json::to_value(&rows).map_err(permanent)?;
            }
            self.rest
                .call::<Value>(
                    Method::POST,
                    &format!("/channels/{channel}/messages"),
                    Some(&body),
                )
                .await
                .map_err(|e| rest_err("post message", e))?;
        }
        Ok(())
    }

    fn card_parts(
        &self,
        inc: &Incident,
    ) -> Result<
        (
            serenity::all::CreateEmbed,
            Vec<serenity::all::CreateActionRow>,
        ),
        DeliveryError,
    > {
        let text = self.render(&Message::Card {
            incident: Box::new(inc.clone()),
        })?;
        Ok((
            card::embed(inc, &text),
            card::components(inc, &self.labels, &self.shared.config.severity_names),
        ))
    }

    async fn open_war_room(&self, id: &IncidentId) -> Result<(), DeliveryError> {
        let inc = self.incident(id)?;
        let guild = self.cfg.guild_id;
        let name = card::channel_name(&inc.id, &inc.title);
        let existing: Vec<GuildChannel> = self
            .rest
            .call(Method::GET, &format!("/guilds/{guild}/channels"), None)
            .await
            .map_err(|e| rest_err("list guild channels", e))?;
        let channel = match existing.iter().find(|c| c.name == name) {
            Some(c) => {
                info!(incident = %id, channel = %c.id, "war room exists already; reusing it");
                c.id.get()
            }
            None => {
                let mut body = json!({
                    "name": name,
                    "type": 0,
                    "topic": card::topic(&inc),
                });
                if let Some(cat) = self.cfg.war_room_category {
                    body["parent_id"] = json!(cat.to_string());
                }
                if self.cfg.is_private(inc.severity) {
                    let bot = self.bot_id().await?;
                    let member = Permissions::VIEW_CHANNEL
                        | Permissions::SEND_MESSAGES
                        | Permissions::READ_MESSAGE_HISTORY
                        | Permissions::ADD_REACTIONS;
                    let bot_allow = member
                        | Permissions::MANAGE_MESSAGES
                        | Permissions::EMBED_LINKS
                        | Permissions::MANAGE_CHANNELS;
                    let mut overwrites = vec![
                        json!({ "id": guild.to_string(), "type": 0, "allow": "0",
                                "deny": Permissions::VIEW_CHANNEL.bits().to_string() }),
                        json!({ "id": bot.to_string(), "type": 1,
                                "allow": bot_allow.bits().to_string(), "deny": "0" }),
                    ];
                    if let Some(role) = self.cfg.responder_role_id {
                        overwrites.push(json!({ "id": role.to_string(), "type": 0,
                            "allow": member.bits().to_string(), "deny": "0" }));
                    }
                    body["permission_overwrites"] = Value::Array(overwrites);
                }
                let created: GuildChannel = self
                    .rest
                    .call(
                        Method::POST,
                        &format!("/guilds/{guild}/channels"),
                        Some(&body),
                    )
                    .await
                    .map_err(|e| rest_err("create war room", e))?;
                info!(incident = %id, channel = %created.id, %name, "war room created");
                lock(&self.created).insert(created.id.get());
                created.id.get()
            }
        };
        let opened = Event::WarRoomOpened {
            incident: id.clone(),
            channel: ChannelRef::new(ADAPTER, &channel.to_string()),
        };
        self.shared
            .engine
            .submit(opened)
            .await
            .map(|_| ())
            .map_err(|e| {
                warn!(error = %e, "cannot record the war room");
                DeliveryError::Retry(None)
            })
    }

    /// Finds the card of `id` in `channel`: its pins, then (if `recent`) its latest messages.
    async fn find_card(
        &self,
        channel: u64,
        id: &IncidentId,
        recent: bool,
    ) -> Result<Option<(u64, bool)>, DeliveryError> {
        let pins: Vec<Value> = self
            .rest
            .call(Method::GET, &format!("/channels/{channel}/pins"), None)
            .await
            .map_err(|e| rest_err("list pins", e))?;
        if let Some(m) = pins.iter().find(|m| card::is_card_of(m, id)) {
            return Ok(m.get("id").and_then(snowflake).map(|m| (m, true)));
        }
        if !recent {
            return Ok(None);
        }
        let latest: Vec<Value> = self
            .rest
            .call(
                Method::GET,
                &format!("/channels/{channel}/messages?limit=50"),
                None,
            )
            .await
            .map_err(|e| rest_err("list messages", e))?;
        Ok(latest
            .iter()
            .find(|m| card::is_card_of(m, id))
            .and_then(|m| m.get("id").and_then(snowflake))
            .map(|m| (m, false)))
    }

    async fn pin(&self, c: CardRef) -> Result<(), DeliveryError> {
        self.rest
            .call_empty(
                Method::PUT,
                &format!("/channels/{}/pins/{}", c.channel, c.message),
                None,
            )
            .await
            .map_err(|e| rest_err("pin card", e))
    }

    async fn post_new_card(&self, inc: &Incident, channel: u64) -> Result<(), DeliveryError> {
        let (embed, rows) = self.card_parts(inc)?;
        let body = serde_json::to_value(CreateMessage::new().embed(embed).components(rows))
            .map_err(permanent)?;
        let posted: Value = self
            .rest
            .call(
                Method::POST,
                &format!("/channels/{channel}/messages"),
                Some(&body),
            )
            .await
            .map_err(|e| rest_err("post card", e))?;
        let message = posted
            .get("id")
            .and_then(snowflake)
            .ok_or_else(|| permanent("posted card has no id"))?;
        let c = CardRef { channel, message };
        // Remembered before pinning: a retry after a failed pin pins this one.
        lock(&self.cards).insert(inc.id.clone(), c);
        self.pin(c).await
    }

    /// PATCHes the card; `Ok(false)` when the message is gone.
    async fn edit_card(&self, inc: &Incident, c: CardRef) -> Result<bool, DeliveryError> {
        let (embed, rows) = self.card_parts(inc)?;
        let body = serde_json::to_value(EditMessage::new().embed(embed).components(rows))
            .map_err(permanent)?;
        match self
            .rest
            .call::<Value>(
                Method::PATCH,
                &format!("/channels/{}/messages/{}", c.channel, c.message),
                Some(&body),
            )
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => {
                lock(&self.cards).remove(&inc.id);
                Ok(false)
            }
            Err(e) => Err(rest_err("edit card", e)),
        }
    }

    /// Makes sure `channel` shows `inc`'s current card, pinned, exactly once.
    async fn ensure_card(
        &self,
        inc: &Incident,
        channel: u64,
        full_search: bool,
    ) -> Result<(), DeliveryError> {
        let cached = lock(&self.cards)
            .get(&inc.id)
            .copied()
            .filter(|c| c.channel == channel);
        if let Some(c) = cached {
            if self.edit_card(inc, c).await? {
                return self.pin(c).await;
            }
        } else if !lock(&self.created).contains(&channel) {
            if let Some((message, pinned)) = self.find_card(channel, &inc.id, full_search).await? {
                let c = CardRef { channel, message };
                lock(&self.cards).insert(inc.id.clone(), c);
                if self.edit_card(inc, c).await? {
                    return if pinned { Ok(()) } else { self.pin(c).await };
                }
            }
        }
        self.post_new_card(inc, channel).await
    }

    async fn post_card(&self, id: &IncidentId, channel: &ChannelRef) -> Result<(), DeliveryError> {
        let channel = discord_channel(channel).ok_or_else(|| {
            permanent(format!(
                "{}:{} is not a Discord channel",
                channel.adapter, channel.id
            ))
        })?;
        let inc = self.incident(id)?;
        self.ensure_card(&inc, channel, true).await
    }

    async fn refresh_card(&self, id: &IncidentId) -> Result<(), DeliveryError> {
        let Some(channel) = self.war_room(id)? else {
            info!(incident = %id, "no Discord war room; card not refreshed");
            return Ok(());
        };
        let inc = self.incident(id)?;
        // Edit in place; a card that is gone (unpinned and deleted) is posted again.
        self.ensure_card(&inc, channel, false).await
    }

    async fn archive(&self, id: &IncidentId) -> Result<(), DeliveryError> {
        let Some(channel) = self.war_room(id)? else {
            info!(incident = %id, "no Discord war room to archive");
            return Ok(());
        };
        let current: GuildChannel = self
            .rest
            .call(Method::GET, &format!("/channels/{channel}"), None)
            .await
            .map_err(|e| rest_err("read war room", e))?;
        let everyone = self.cfg.guild_id;
        let mut found = false;
        let mut overwrites: Vec<Value> = current
            .permission_overwrites
            .iter()
            .map(|o| {
                let (kind, oid) = match o.kind {
                    serenity::all::PermissionOverwriteType::Member(u) => (1, u.get()),
                    serenity::all::PermissionOverwriteType::Role(r) => (0, r.get()),
                    _ => (0, 0),
                };
                let mut deny = o.deny;
                if kind == 0 && oid == everyone {
                    found = true;
                    deny |= Permissions::SEND_MESSAGES;
                }
                json!({ "id": oid.to_string(), "type": kind,
                        "allow": o.allow.bits().to_string(), "deny": deny.bits().to_string() })
            })
            .filter(|o| o["id"] != "0")
            .collect();
        if !found {
            overwrites.push(json!({ "id": everyone.to_string(), "type": 0, "allow": "0",
                "deny": Permissions::SEND_MESSAGES.bits().to_string() }));
        }
        let mut body = json!({ "permission_overwrites": overwrites });
        if let Some(cat) = self.cfg.archive_category {
            body["parent_id"] = json!(cat.to_string());
        }
        self.rest
            .call::<Value>(Method::PATCH, &format!("/channels/{channel}"), Some(&body))
            .await
            .map_err(|e| rest_err("archive war room", e))?;
        info!(incident = %id, %channel, "war room archived");
        Ok(())
    }

    /// Posts a team's digest, or edits the one posted before; a new post is reported
    /// back to the engine so later changes edit it.
    async fn digest(
        &self,
        channel: &ChannelRef,
        plan: &str,
        team: &str,
        edit: Option<&str>,
        message: &Message,
        nonce: &str,
    ) -> Result<(), DeliveryError> {
        let ch = discord_channel(channel).ok_or_else(|| {
            permanent(format!(
                "{}:{} is not a Discord channel",
                channel.adapter, channel.id
            ))
        })?;
        let text = self.render(message)?;
        let content: String = text.chars().take(card::MAX_CONTENT).collect();
        let body = json!({ "content": content, "allowed_mentions": { "parse": ["users"] } });
        if let Some(id) = edit.and_then(|m| m.parse::<u64>().ok()) {
            match self
                .rest
                .call::<Value>(
                    Method::PATCH,
                    &format!("/channels/{ch}/messages/{id}"),
                    Some(&body),
                )
                .await
            {
                Ok(_) => return Ok(()),
                // Deleted meanwhile: post it again below.
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(rest_err("edit digest", e)),
            }
        }
        let mut body = body;
        body["nonce"] = json!(nonce);
        body["enforce_nonce"] = json!(true);
        let posted: Value = self
            .rest
            .call(
                Method::POST,
                &format!("/channels/{ch}/messages"),
                Some(&body),
            )
            .await
            .map_err(|e| rest_err("post digest", e))?;
        let Some(id) = posted.get("id").and_then(snowflake) else {
            return Err(permanent("posted digest has no id"));
        };
        let event = Event::DigestPosted {
            plan: plan.to_string(),
            team: team.to_string(),
            message: id.to_string(),
        };
        self.shared
            .engine
            .submit(event)
            .await
            .map(|_| ())
            .map_err(|e| {
                warn!(error = %e, "cannot record the digest message");
                DeliveryError::Retry(None)
            })
    }

    async fn send(
        &self,
        to: &Destination,
        message: &Message,
        nonce: Option<&str>,
    ) -> Result<(), DeliveryError> {
        let channel = match to {
            Destination::Channel { channel } => discord_channel(channel).ok_or_else(|| {
                permanent(format!(
                    "{}:{} is not a Discord channel",
                    channel.adapter, channel.id
                ))
            })?,
            Destination::WarRoom { incident } => match self.war_room(incident)? {
                Some(c) => c,
                None => {
                    info!(%incident, "no Discord war room; message not posted");
                    return Ok(());
                }
            },
        };
        let text = self.render(message)?;
        let rows = match message {
            Message::Answer { answer, .. } => {
                card::proposal_buttons(&answer.proposals, &self.labels)
            }
            Message::Reminder { plan, task, .. } | Message::Unblocked { plan, task } => {
                card::task_buttons(plan, &task.id, &self.labels)
                    .into_iter()
                    .collect()
            }
            Message::GateVerdict {
                change,
                verdict,
                approval: Some(warroom_core::changes::ApprovalState::Pending),
            } => card::gate_buttons(
                &change.id,
                verdict.decision == warroom_core::changes::Decision::Deny,
                &self.labels,
            )
            .into_iter()
            .collect(),
            _ => Vec::new(),
        };
        self.post_with(channel, &text, rows, nonce).await
    }

    /// A page: posted in the war room (mentioning the person when `[discord.users]`
    /// knows them), sent to them by DM, and, in a private war room, the person is let in.
    async fn notify(&self, page: &PageNotice, nonce: &str) -> Result<(), DeliveryError> {
        let user = match &page.target {
            PageTarget::Person { name, .. } => self.cfg.users.get(name).copied(),
            _ => None,
        };
        let text = self.render(&Message::Page { page: page.clone() })?;
        let room = self.war_room(&page.incident)?;
        if let (Some(room), Some(user)) = (room, user) {
            if self.cfg.is_private(page.severity) {
                let allow = Permissions::VIEW_CHANNEL
                    | Permissions::SEND_MESSAGES
                    | Permissions::READ_MESSAGE_HISTORY;
                let body = json!({ "type": 1, "allow": allow.bits().to_string(), "deny": "0" });
                self.rest
                    .call_empty(
                        Method::PUT,
                        &format!("/channels/{room}/permissions/{user}"),
                        Some(&body),
                    )
                    .await
                    .map_err(|e| rest_err("let the paged person in", e))?;
            }
        }
        if let Some(user) = user {
            let body = json!({ "recipient_id": user.to_string() });
            let dm: Value = self
                .rest
                .call(Method::POST, "/users/@me/channels", Some(&body))
                .await
                .map_err(|e| rest_err("open DM channel", e))?;
            let dm = dm
                .get("id")
                .and_then(snowflake)
                .ok_or_else(|| permanent("the DM channel has no id"))?;
            self.post_with(dm, &text, Vec::new(), Some(&format!("{nonce}d")))
                .await?;
        }
        match room {
            Some(room) => {
                let text = match user {
                    Some(u) => format!("<@{u}> {text}"),
                    None => text,
                };
                self.post_with(room, &text, Vec::new(), Some(&format!("{nonce}r")))
                    .await
            }
            None => {
                info!(incident = %page.incident, "no Discord war room; page not posted there");
                Ok(())
            }
        }
    }
}

/// The Discord sink.
pub struct DiscordSink {
    state: Arc<State>,
}

impl DiscordSink {
    /// The sink over the shared adapter state.
    pub fn new(state: Arc<State>) -> Self {
        Self { state }
    }
}

impl ChatSink for DiscordSink {
    fn adapter(&self) -> &'static str {
        ADAPTER
    }

    fn deliver<'a>(&'a self, key: u64, action: &'a Action) -> Delivery<'a> {
        Box::pin(async move {
            let s = &self.state;
            // Every message this action posts carries a nonce derived from its outbox
            // position, with `enforce_nonce`: a retry after a lost answer returns the
            // message Discord already has instead of posting it again.
            let nonce = key.to_string();
            match action {
                Action::Send { to, message } => s.send(to, message, Some(&nonce)).await,
                Action::OpenWarRoom { incident } => s.open_war_room(incident).await,
                Action::PostCard { incident, channel } => s.post_card(incident, channel).await,
                Action::RefreshCard { incident } => s.refresh_card(incident).await,
                Action::ArchiveWarRoom { incident } => s.archive(incident).await,
                Action::Digest {
                    channel,
                    plan,
                    team,
                    edit,
                    message,
                } => {
                    s.digest(channel, plan, team, edit.as_deref(), message, &nonce)
                        .await
                }
                Action::Notify { page, .. } => s.notify(page, &nonce).await,
                // The assistant's work, not a chat action (never routed here).
                Action::Assist { .. } => Ok(()),
            }
        })
    }
}
