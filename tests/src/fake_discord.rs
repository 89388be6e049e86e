//! A fake Discord on 127.0.0.1: one tokio listener serves the REST API (HTTP/1.1
//! keep-alive, the `/api/v10` routes the adapter uses, answers that deserialize into
//! serenity's models) and the gateway (a WebSocket upgrade on the same port: HELLO,
//! IDENTIFY check, READY, heartbeat ACKs, dispatches injected by the test).
//!
//! It keeps a small guild (channels, messages, pins), records every request in order,
//! and can fail on purpose: the next N requests of a route answer 500 or 429 (with
//! `retry_after`), or are carried out but never answered (a bot killed mid-send), or
//! the whole host is unreachable (connections closed at once) for a while.
//!
//! Tests wait on its state with [`FakeDiscord::wait_until`], never on sleeps.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, watch};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::Message as Ws;
use tokio_tungstenite::WebSocketStream;

use crate::PATIENCE;

/// The guild.
pub const GUILD: u64 = 2001;
/// The application.
pub const APP: u64 = 3001;
/// The bot's user id.
pub const BOT: u64 = 1001;
/// The war rooms category.
pub const WAR_ROOMS: u64 = 4100;
/// The archive category.
pub const ARCHIVE: u64 = 4200;
/// A plain text channel.
pub const GENERAL: u64 = 4300;
/// The responder role.
pub const RESPONDERS: u64 = 5100;
/// `alice` (a commander in the test config).
pub const ALICE: (u64, &str) = (8001, "alice");
/// `guest` (a viewer in the test config).
pub const GUEST: (u64, &str) = (8002, "guest");

const NOW: &str = "2026-11-23T10:00:00.000000+00:00";

/// One request the fake received.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// `GET`, `POST`, …
    pub method: String,
    /// Path after `/api/v10`, with the query.
    pub path: String,
    /// JSON body (`null` when none).
    pub body: Value,
    /// Status answered; 0 when it was never answered (stalled).
    pub status: u16,
    /// When it arrived.
    pub at: Instant,
}

impl Recorded {
    /// Whether this is `method` on a path matching `pattern` (`*` matches one segment).
    pub fn is(&self, method: &str, pattern: &str) -> bool {
        self.method == method && matches(pattern, &self.path)
    }
}

fn matches(pattern: &str, path: &str) -> bool {
    let path = path.split('?').next().unwrap_or("");
    let p: Vec<&str> = pattern.trim_matches('/').split('/').collect();
    let a: Vec<&str> = path.trim_matches('/').split('/').collect();
    p.len() == a.len() && p.iter().zip(&a).all(|(p, a)| *p == "*" || p == a)
}

/// An injected failure.
#[derive(Clone, Debug)]
pub enum Failure {
    /// Answer 500.
    ServerError,
    /// Answer 429 with this `retry_after` (seconds) in the body and header.
    RateLimited(f64),
    /// Carry the request out but never answer it (as if the answer was lost).
    Stall,
}

struct Rule {
    method: String,
    pattern: String,
    body_contains: Option<String>,
    left: usize,
    failure: Failure,
}

/// What the fake knows. Read it in [`FakeDiscord::wait_until`] or [`FakeDiscord::with`].
#[derive(Default)]
pub struct State {
    /// Every request, in order of arrival.
    pub requests: Vec<Recorded>,
    /// Guild channels, in order of creation.
    pub channels: Vec<Value>,
    /// Messages per channel, oldest first.
    pub messages: HashMap<u64, Vec<Value>>,
    /// Pinned message ids per channel, oldest first.
    pub pins: HashMap<u64, Vec<u64>>,
    /// READY payloads sent (one per gateway session).
    pub sessions: usize,
    /// Connections refused while unreachable.
    pub refused: usize,
    /// Attachment files served at `/attachments/{name}`.
    pub files: HashMap<String, String>,
    /// DM channel id → the user it is with.
    pub dms: HashMap<u64, u64>,
    rules: Vec<Rule>,
    unreachable: bool,
    next_id: u64,
}

impl State {
    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Requests matching `method` and `pattern`.
    pub fn find(&self, method: &str, pattern: &str) -> Vec<&Recorded> {
        self.requests
            .iter()
            .filter(|r| r.is(method, pattern))
            .collect()
    }

    /// The channel called `name`.
    pub fn channel_named(&self, name: &str) -> Option<&Value> {
        self.channels.iter().find(|c| c["name"] == name)
    }

    /// Channels whose name starts with `prefix`.
    pub fn channels_starting(&self, prefix: &str) -> Vec<&Value> {
        self.channels
            .iter()
            .filter(|c| c["name"].as_str().is_some_and(|n| n.starts_with(prefix)))
            .collect()
    }

    /// Messages of a channel, oldest first.
    pub fn messages_in(&self, channel: u64) -> Vec<&Value> {
        self.messages
            .get(&channel)
            .map(|m| m.iter().collect())
            .unwrap_or_default()
    }

    /// Pinned messages of a channel, oldest pin first.
    pub fn pinned_in(&self, channel: u64) -> Vec<&Value> {
        let ids = self.pins.get(&channel).cloned().unwrap_or_default();
        ids.iter()
            .filter_map(|id| self.message(channel, *id))
            .collect()
    }

    fn message(&self, channel: u64, id: u64) -> Option<&Value> {
        self.messages.get(&channel)?.iter().find(|m| id_of(m) == id)
    }

    /// Whether the slash commands were registered `n` times (once per bot start).
    pub fn registrations(&self) -> usize {
        self.find("PUT", "/applications/*/guilds/*/commands").len()
    }
}

struct Inner {
    state: Mutex<State>,
    changed: watch::Sender<u64>,
    events: broadcast::Sender<(String, Value)>,
    token: String,
    port: u16,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn bump(&self) {
        self.changed.send_modify(|v| *v += 1);
    }
}

/// The fake. Dropping it stops the listener.
pub struct FakeDiscord {
    inner: Arc<Inner>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeDiscord {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// A Discord user object.
pub fn user(who: (u64, &str)) -> Value {
    json!({"id": who.0.to_string(), "username": who.1, "discriminator": "0",
           "global_name": who.1, "avatar": null, "bot": false})
}

fn bot_user() -> Value {
    json!({"id": BOT.to_string(), "username": "warroom", "discriminator": "0",
           "global_name": null, "avatar": null, "bot": true})
}

fn channel(id: u64, kind: u64, name: &str, parent: Option<u64>) -> Value {
    json!({"id": id.to_string(), "type": kind, "guild_id": GUILD.to_string(), "name": name,
           "topic": null, "parent_id": parent.map(|p| p.to_string()), "position": 0,
           "permission_overwrites": [], "nsfw": false})
}

fn message(id: u64, channel: u64, author: Value, content: &str) -> Value {
    json!({"id": id.to_string(), "channel_id": channel.to_string(), "guild_id": GUILD.to_string(),
           "author": author, "content": content, "timestamp": NOW, "edited_timestamp": null,
           "tts": false, "mention_everyone": false, "mentions": [], "mention_roles": [],
           "attachments": [], "embeds": [], "components": [], "pinned": false, "type": 0})
}

fn id_of(v: &Value) -> u64 {
    v["id"].as_str().and_then(|s| s.parse().ok()).unwrap_or(0)
}

impl FakeDiscord {
    /// Starts the fake; the bot must identify with `token`.
    pub async fn start(token: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake discord");
        let port = listener.local_addr().expect("addr").port();
        let mut state = State {
            next_id: 100_000,
            ..State::default()
        };
        state.channels = vec![
            channel(WAR_ROOMS, 4, "war-rooms", None),
            channel(ARCHIVE, 4, "archive", None),
            channel(GENERAL, 0, "general", None),
        ];
        let (events, _) = broadcast::channel(4096);
        let inner = Arc::new(Inner {
            state: Mutex::new(state),
            changed: watch::channel(0).0,
            events,
            token: format!("Bot {token}"),
            port,
        });
        let srv = inner.clone();
        let server = tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                if srv.lock().unreachable {
                    srv.lock().refused += 1;
                    srv.bump();
                    drop(sock);
                    continue;
                }
                tokio::spawn(connection(sock, srv.clone()));
            }
        });
        Self { inner, server }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.inner.port)
    }

    /// The `[discord]` section pointing the bot at this fake (token from `WARROOM_TEST_TOKEN`,
    /// which the test helpers set).
    pub fn discord_section(&self) -> String {
        format!(
            "\n[discord]\ntoken_env = \"WARROOM_TEST_TOKEN\"\nguild_id = {GUILD}\nwar_room_category = {WAR_ROOMS}\narchive_category = {ARCHIVE}\nresponder_role_id = {RESPONDERS}\nprivate_severities = [\"P1\"]\napi_base = \"{}\"\ntimeout_ms = 5000\n",
            self.base()
        )
    }

    /// A test bot config (see [`crate::config`]) with the `[discord]` section, then `extra`.
    pub fn config(&self, dir: &Path, extra: &str) -> PathBuf {
        crate::config(dir, &format!("{}{extra}", self.discord_section()))
    }

    /// Reads the state.
    pub fn with<T>(&self, f: impl FnOnce(&State) -> T) -> T {
        f(&self.inner.lock())
    }

    /// Waits until `f` returns `Some` (re-checked on every change); fails the test after
    /// [`PATIENCE`] with `what` and the request log.
    pub async fn wait_until<T>(&self, what: &str, mut f: impl FnMut(&State) -> Option<T>) -> T {
        let mut rx = self.inner.changed.subscribe();
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            if let Some(v) = f(&self.inner.lock()) {
                return v;
            }
            if tokio::time::timeout_at(deadline, rx.changed())
                .await
                .is_err()
            {
                let log: Vec<String> = self.with(|s| {
                    s.requests
                        .iter()
                        .map(|r| format!("{} {} -> {}", r.method, r.path, r.status))
                        .collect()
                });
                panic!(
                    "fake Discord: timed out waiting for {what}; requests:\n{}",
                    log.join("\n")
                );
            }
        }
    }

    /// Waits until the bot's `n`-th gateway session is ready and its commands registered.
    pub async fn wait_ready(&self, n: usize) {
        self.wait_until("the bot to connect and register its commands", |s| {
            (s.sessions >= n && s.registrations() >= n).then_some(())
        })
        .await;
    }

    /// The next `n` requests of `method` on `pattern` fail with `failure`.
    pub fn fail_next(&self, method: &str, pattern: &str, n: usize, failure: Failure) {
        self.inner.lock().rules.push(Rule {
            method: method.into(),
            pattern: pattern.into(),
            body_contains: None,
            left: n,
            failure,
        });
    }

    /// Like [`FakeDiscord::fail_next`], for requests whose JSON body contains `needle`.
    pub fn fail_next_with(
        &self,
        method: &str,
        pattern: &str,
        needle: &str,
        n: usize,
        failure: Failure,
    ) {
        self.inner.lock().rules.push(Rule {
            method: method.into(),
            pattern: pattern.into(),
            body_contains: Some(needle.into()),
            left: n,
            failure,
        });
    }

    /// Makes the REST host unreachable (connections closed at once) or reachable again.
    /// The gateway session stays up.
    pub fn set_unreachable(&self, on: bool) {
        self.inner.lock().unreachable = on;
        self.inner.bump();
    }

    /// Sends a gateway dispatch to the connected bot.
    pub fn dispatch(&self, t: &str, d: Value) {
        let _ = self.inner.events.send((t.to_string(), d));
    }

    /// A user writes `content` in `channel` (MESSAGE_CREATE); returns the message id.
    pub fn say(&self, channel: u64, who: (u64, &str), content: &str) -> u64 {
        let msg = {
            let mut s = self.inner.lock();
            let id = s.id();
            let m = message(id, channel, user(who), content);
            s.messages.entry(channel).or_default().push(m.clone());
            m
        };
        let id = id_of(&msg);
        self.dispatch("MESSAGE_CREATE", msg);
        id
    }

    /// A user runs a slash command (`/group sub args:…`); returns the interaction id.
    pub fn slash(
        &self,
        channel: u64,
        who: (u64, &str),
        group: &str,
        sub: Option<&str>,
        args: Option<&str>,
    ) -> u64 {
        let id = self.inner.lock().id();
        let arg = args
            .map(|a| vec![json!({"name": "args", "type": 3, "value": a})])
            .unwrap_or_default();
        let options = match sub {
            Some(sub) => vec![json!({"name": sub, "type": 1, "options": arg})],
            None => arg,
        };
        self.dispatch(
            "INTERACTION_CREATE",
            json!({"id": id.to_string(), "application_id": APP.to_string(), "type": 2,
                   "data": {"id": "9500", "name": group, "type": 1, "options": options, "guild_id": GUILD.to_string()},
                   "guild_id": GUILD.to_string(), "channel_id": channel.to_string(), "user": user(who),
                   "token": format!("tok-{id}"), "version": 1, "locale": "en-US", "app_permissions": "0",
                   "entitlements": [], "authorizing_integration_owners": {"0": GUILD.to_string()},
                   "context": 0, "attachment_size_limit": 8_388_608}),
        );
        id
    }

    /// A user clicks a component of message `message` (a select when `values` is given);
    /// returns the interaction id.
    pub fn click(
        &self,
        channel: u64,
        who: (u64, &str),
        message: u64,
        custom_id: &str,
        values: Option<&[&str]>,
    ) -> u64 {
        let (id, msg) = {
            let mut s = self.inner.lock();
            let id = s.id();
            let msg = s.message(channel, message).cloned().unwrap_or(Value::Null);
            (id, msg)
        };
        let data = match values {
            Some(v) => json!({"custom_id": custom_id, "component_type": 3, "values": v}),
            None => json!({"custom_id": custom_id, "component_type": 2}),
        };
        self.dispatch(
            "INTERACTION_CREATE",
            json!({"id": id.to_string(), "application_id": APP.to_string(), "type": 3, "data": data,
                   "guild_id": GUILD.to_string(), "channel_id": channel.to_string(), "user": user(who),
                   "token": format!("tok-{id}"), "version": 1, "message": msg, "locale": "en-US",
                   "app_permissions": "0", "entitlements": [],
                   "authorizing_integration_owners": {"0": GUILD.to_string()}, "context": 0,
                   "attachment_size_limit": 8_388_608}),
        );
        id
    }

    /// Serves `content` as an attachment called `name`; returns its attachment object
    /// (its `url` points at this fake).
    pub fn attachment(&self, name: &str, content: &str) -> Value {
        let id = {
            let mut s = self.inner.lock();
            s.files.insert(name.to_string(), content.to_string());
            s.id()
        };
        let url = format!("{}/attachments/{name}", self.base());
        json!({"id": id.to_string(), "filename": name, "size": content.len(), "url": url,
               "proxy_url": url, "content_type": "text/plain; charset=utf-8"})
    }

    /// A user writes `content` with `attachments` in `channel`; returns the message id.
    pub fn say_with_files(
        &self,
        channel: u64,
        who: (u64, &str),
        content: &str,
        attachments: Vec<Value>,
    ) -> u64 {
        let msg = {
            let mut s = self.inner.lock();
            let id = s.id();
            let mut m = message(id, channel, user(who), content);
            m["attachments"] = Value::Array(attachments);
            s.messages.entry(channel).or_default().push(m.clone());
            m
        };
        let id = id_of(&msg);
        self.dispatch("MESSAGE_CREATE", msg);
        id
    }

    /// An application-command interaction of `kind` (2: command, 4: autocomplete) with
    /// `data`; returns the interaction id.
    pub fn interaction(&self, kind: u64, channel: u64, who: (u64, &str), data: Value) -> u64 {
        let id = self.inner.lock().id();
        self.dispatch(
            "INTERACTION_CREATE",
            json!({"id": id.to_string(), "application_id": APP.to_string(), "type": kind,
                   "data": data,
                   "guild_id": GUILD.to_string(), "channel_id": channel.to_string(), "user": user(who),
                   "token": format!("tok-{id}"), "version": 1, "locale": "en-US", "app_permissions": "0",
                   "entitlements": [], "authorizing_integration_owners": {"0": GUILD.to_string()},
                   "context": 0, "attachment_size_limit": 8_388_608}),
        );
        id
    }

    /// `/plan import` with `file` (an [`FakeDiscord::attachment`]) and string `options`.
    pub fn slash_import(
        &self,
        channel: u64,
        who: (u64, &str),
        file: &Value,
        options: &[(&str, &str)],
    ) -> u64 {
        let mut opts = vec![json!({"name": "file", "type": 11, "value": file["id"]})];
        opts.extend(
            options
                .iter()
                .map(|(k, v)| json!({"name": k, "type": 3, "value": v})),
        );
        let attachments = json!({ file["id"].as_str().unwrap_or("0"): file });
        self.interaction(
            2,
            channel,
            who,
            json!({"id": "9510", "name": "plan", "type": 1, "guild_id": GUILD.to_string(),
                   "options": [{"name": "import", "type": 1, "options": opts}],
                   "resolved": {"attachments": attachments}}),
        )
    }

    /// A user types `typed` into the `args` of `/group sub`: an autocomplete interaction.
    pub fn autocomplete(
        &self,
        channel: u64,
        who: (u64, &str),
        group: &str,
        sub: Option<&str>,
        typed: &str,
    ) -> u64 {
        let arg = json!({"name": "args", "type": 3, "value": typed, "focused": true});
        let options = match sub {
            Some(sub) => vec![json!({"name": sub, "type": 1, "options": [arg]})],
            None => vec![arg],
        };
        self.interaction(
            4,
            channel,
            who,
            json!({"id": "9500", "name": group, "type": 1, "options": options,
                   "guild_id": GUILD.to_string()}),
        )
    }

    /// A user reacts to a message with `emoji` (MESSAGE_REACTION_ADD).
    pub fn react(&self, channel: u64, message: u64, who: (u64, &str), emoji: &str) {
        self.dispatch(
            "MESSAGE_REACTION_ADD",
            json!({"user_id": who.0.to_string(), "channel_id": channel.to_string(),
                   "message_id": message.to_string(), "guild_id": GUILD.to_string(),
                   "emoji": {"id": null, "name": emoji}, "burst": false, "type": 0}),
        );
    }

    /// Someone creates a text channel in the guild (CHANNEL_CREATE); returns its id.
    pub fn create_channel(&self, name: &str) -> u64 {
        let ch = {
            let mut s = self.inner.lock();
            let id = s.id();
            let c = channel(id, 0, name, None);
            s.channels.push(c.clone());
            c
        };
        let id = id_of(&ch);
        self.dispatch("CHANNEL_CREATE", ch);
        id
    }
}

/// Serves one connection: HTTP requests until it closes, or the gateway after an upgrade.
async fn connection(mut sock: TcpStream, inner: Arc<Inner>) {
    let mut buf: Vec<u8> = Vec::new();
    loop {
        let Some(head_end) = read_head(&mut sock, &mut buf).await else {
            return;
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let mut lines = head.split("\r\n");
        let mut first = lines.next().unwrap_or("").split(' ');
        let (method, target) = (
            first.next().unwrap_or("").to_string(),
            first.next().unwrap_or("").to_string(),
        );
        let mut headers = HashMap::new();
        for l in lines {
            if let Some((k, v)) = l.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
        }
        if headers
            .get("upgrade")
            .is_some_and(|u| u.eq_ignore_ascii_case("websocket"))
        {
            let key = headers
                .get("sec-websocket-key")
                .cloned()
                .unwrap_or_default();
            let resp = format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
                derive_accept_key(key.as_bytes())
            );
            if sock.write_all(resp.as_bytes()).await.is_err() {
                return;
            }
            let ws = WebSocketStream::from_raw_socket(sock, Role::Server, None).await;
            gateway(ws, inner).await;
            return;
        }
        let len: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        while buf.len() < head_end + 4 + len {
            let mut tmp = [0u8; 16384];
            match sock.read(&mut tmp).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&tmp[..n]),
            }
        }
        let body: Value =
            serde_json::from_slice(&buf[head_end + 4..head_end + 4 + len]).unwrap_or(Value::Null);
        buf.drain(..head_end + 4 + len);
        if inner.lock().unreachable {
            inner.lock().refused += 1;
            inner.bump();
            return;
        }
        let path = target
            .strip_prefix("/api/v10")
            .unwrap_or(&target)
            .to_string();
        let auth_ok = headers.get("authorization").map(String::as_str)
            == Some(inner.token.as_str())
            || path.starts_with("/gateway")
            || path.starts_with("/interactions/")
            || path.starts_with("/webhooks/")
            || path.starts_with("/attachments/");
        let (status, resp, stall) = {
            let mut s = inner.lock();
            let failure = s
                .rules
                .iter_mut()
                .find(|r| {
                    r.left > 0
                        && r.method == method
                        && matches(&r.pattern, &path)
                        && r.body_contains
                            .as_ref()
                            .is_none_or(|n| body.to_string().contains(n.as_str()))
                })
                .map(|r| {
                    r.left -= 1;
                    r.failure.clone()
                });
            let (status, resp, stall) = match failure {
                _ if !auth_ok => (
                    401,
                    json!({"message": "401: Unauthorized", "code": 0}),
                    false,
                ),
                Some(Failure::ServerError) => {
                    (500, json!({"message": "fake 500", "code": 0}), false)
                }
                Some(Failure::RateLimited(after)) => (
                    429,
                    json!({"message": "You are being rate limited.", "retry_after": after, "global": false}),
                    false,
                ),
                Some(Failure::Stall) => {
                    let (_, v) = route(&mut s, &method, &path, &body, &inner);
                    (0, v, true)
                }
                None => {
                    let (st, v) = route(&mut s, &method, &path, &body, &inner);
                    (st, v, false)
                }
            };
            s.requests.push(Recorded {
                method: method.clone(),
                path: path.clone(),
                body,
                status,
                at: Instant::now(),
            });
            (status, resp, stall)
        };
        inner.bump();
        if stall {
            // Carried out, never answered: hold the connection until the client goes away.
            let mut tmp = [0u8; 1024];
            while matches!(sock.read(&mut tmp).await, Ok(n) if n > 0) {}
            return;
        }
        let text = match resp.as_str() {
            _ if status == 204 => String::new(),
            // A file: served as it is.
            Some(raw) if path.starts_with("/attachments/") => raw.to_string(),
            _ => resp.to_string(),
        };
        let mut out = format!("HTTP/1.1 {status} {}\r\n", reason(status));
        if status == 429 {
            let after = resp["retry_after"].as_f64().unwrap_or(1.0).ceil() as u64;
            out.push_str(&format!(
                "retry-after: {after}\r\nx-ratelimit-scope: user\r\n"
            ));
        }
        if status != 204 {
            out.push_str(&format!(
                "content-type: application/json\r\ncontent-length: {}\r\n",
                text.len()
            ));
        }
        out.push_str("\r\n");
        out.push_str(&text);
        if sock.write_all(out.as_bytes()).await.is_err() {
            return;
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        401 => "Unauthorized",
        404 => "Not Found",
        429 => "Too Many Requests",
        _ => "Internal Server Error",
    }
}

async fn read_head(sock: &mut TcpStream, buf: &mut Vec<u8>) -> Option<usize> {
    loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            return Some(p);
        }
        let mut tmp = [0u8; 16384];
        match sock.read(&mut tmp).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
        }
    }
}

fn not_found() -> (u16, Value) {
    (404, json!({"message": "Unknown (fake)", "code": 10003}))
}

/// The REST routes.
fn route(s: &mut State, method: &str, path: &str, body: &Value, inner: &Inner) -> (u16, Value) {
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let seg: Vec<&str> = path.trim_matches('/').split('/').collect();
    let num = |x: &str| x.parse::<u64>().unwrap_or(0);
    match (method, seg.as_slice()) {
        ("GET", ["gateway"]) => (
            200,
            json!({"url": format!("ws://127.0.0.1:{}", inner.port)}),
        ),
        ("GET", ["gateway", "bot"]) => (
            200,
            json!({"url": format!("ws://127.0.0.1:{}", inner.port), "shards": 1,
                   "session_start_limit": {"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1}}),
        ),
        ("GET", ["users", "@me"]) => (200, bot_user()),
        ("PUT", ["applications", _, "guilds", _, "commands"])
        | ("PUT", ["applications", _, "commands"]) => {
            let cmds: Vec<Value> = body
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .enumerate()
                .map(|(i, mut c)| {
                    c["id"] = json!(format!("95{i:02}"));
                    c["application_id"] = json!(APP.to_string());
                    c["version"] = json!("1");
                    if c.get("type").is_none() {
                        c["type"] = json!(1);
                    }
                    c
                })
                .collect();
            (200, Value::Array(cmds))
        }
        ("GET", ["guilds", _, "channels"]) => (200, Value::Array(s.channels.clone())),
        ("POST", ["guilds", _, "channels"]) => {
            let id = s.id();
            let mut c = channel(
                id,
                body["type"].as_u64().unwrap_or(0),
                body["name"].as_str().unwrap_or(""),
                None,
            );
            c["topic"] = body["topic"].clone();
            c["parent_id"] = body["parent_id"].clone();
            if let Some(o) = body.get("permission_overwrites") {
                c["permission_overwrites"] = o.clone();
            }
            s.channels.push(c.clone());
            let _ = inner.events.send(("CHANNEL_CREATE".into(), c.clone()));
            (200, c)
        }
        ("GET", ["channels", c]) => match s.channels.iter().find(|x| x["id"] == *c) {
            Some(ch) => (200, ch.clone()),
            None => not_found(),
        },
        ("PATCH", ["channels", c]) => match s.channels.iter_mut().find(|x| x["id"] == *c) {
            Some(ch) => {
                for k in ["name", "topic", "parent_id", "permission_overwrites"] {
                    if let Some(v) = body.get(k) {
                        ch[k] = v.clone();
                    }
                }
                (200, ch.clone())
            }
            None => not_found(),
        },
        ("POST", ["channels", c, "messages"]) => {
            // Discord's dedup: with `enforce_nonce`, a nonce seen recently in this channel
            // returns the message already created instead of a new one.
            if body["enforce_nonce"].as_bool() == Some(true) {
                if let Some(n) = body.get("nonce").filter(|n| !n.is_null()) {
                    let seen = s
                        .messages
                        .get(&num(c))
                        .and_then(|ms| ms.iter().find(|m| m.get("nonce") == Some(n)).cloned());
                    if let Some(m) = seen {
                        return (200, m);
                    }
                }
            }
            let (c, id) = (num(c), s.id());
            let mut m = message(id, c, bot_user(), body["content"].as_str().unwrap_or(""));
            for k in ["embeds", "components", "nonce"] {
                if let Some(v) = body.get(k) {
                    m[k] = v.clone();
                }
            }
            s.messages.entry(c).or_default().push(m.clone());
            let _ = inner.events.send(("MESSAGE_CREATE".into(), m.clone()));
            (200, m)
        }
        ("GET", ["channels", c, "messages"]) => {
            let limit = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("limit="))
                .and_then(|v| v.parse().ok())
                .unwrap_or(50usize);
            let list: Vec<Value> = s
                .messages_in(num(c))
                .into_iter()
                .rev()
                .take(limit)
                .cloned()
                .collect();
            (200, Value::Array(list))
        }
        ("GET", ["channels", c, "messages", m]) => match s.message(num(c), num(m)) {
            Some(msg) => (200, msg.clone()),
            None => not_found(),
        },
        ("PATCH", ["channels", c, "messages", m]) => {
            let Some(msg) = s
                .messages
                .get_mut(&num(c))
                .and_then(|l| l.iter_mut().find(|x| x["id"] == *m))
            else {
                return not_found();
            };
            for k in ["content", "embeds", "components"] {
                if let Some(v) = body.get(k) {
                    msg[k] = v.clone();
                }
            }
            msg["edited_timestamp"] = json!(NOW);
            (200, msg.clone())
        }
        ("GET", ["channels", c, "pins"]) => {
            let list: Vec<Value> = s.pinned_in(num(c)).into_iter().rev().cloned().collect();
            (200, Value::Array(list))
        }
        ("PUT", ["channels", c, "pins", m]) => {
            let (c, m) = (num(c), num(m));
            let Some(msg) = s
                .messages
                .get_mut(&c)
                .and_then(|l| l.iter_mut().find(|x| id_of(x) == m))
            else {
                return not_found();
            };
            msg["pinned"] = json!(true);
            let pins = s.pins.entry(c).or_default();
            if !pins.contains(&m) {
                pins.push(m);
            }
            (204, Value::Null)
        }
        ("POST", ["interactions", _, _, "callback"]) => (204, Value::Null),
        ("GET", ["attachments", name]) => match s.files.get(*name) {
            Some(f) => (200, Value::String(f.clone())),
            None => not_found(),
        },
        ("POST", ["users", "@me", "channels"]) => {
            let to = body["recipient_id"]
                .as_str()
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
            let id = match s.dms.iter().find(|(_, u)| **u == to) {
                Some((c, _)) => *c,
                None => {
                    let c = s.id();
                    s.dms.insert(c, to);
                    c
                }
            };
            let who = json!({"id": to.to_string(), "username": format!("user{to}"),
                             "discriminator": "0", "global_name": null, "avatar": null, "bot": false});
            (
                200,
                json!({"id": id.to_string(), "type": 1, "recipients": [who], "last_message_id": null}),
            )
        }
        ("PUT", ["channels", c, "permissions", who]) => {
            let Some(ch) = s.channels.iter_mut().find(|x| x["id"] == *c) else {
                return not_found();
            };
            let mut list = ch["permission_overwrites"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            list.retain(|o| o["id"] != *who);
            list.push(json!({"id": who, "type": body["type"].clone(),
                             "allow": body["allow"].clone(), "deny": body["deny"].clone()}));
            ch["permission_overwrites"] = Value::Array(list);
            (204, Value::Null)
        }
        ("POST", ["webhooks", _, _]) | ("PATCH", ["webhooks", _, _, "messages", _]) => {
            let id = s.id();
            let mut m = message(
                id,
                GENERAL,
                bot_user(),
                body["content"].as_str().unwrap_or(""),
            );
            m["flags"] = body.get("flags").cloned().unwrap_or(json!(0));
            (200, m)
        }
        _ => not_found(),
    }
}

/// One gateway session: HELLO, IDENTIFY (token checked), READY, then heartbeats and
/// the test's dispatches.
async fn gateway(mut ws: WebSocketStream<TcpStream>, inner: Arc<Inner>) {
    let hello = json!({"op": 10, "d": {"heartbeat_interval": 41250}});
    if ws.send(Ws::Text(hello.to_string())).await.is_err() {
        return;
    }
    let mut seq = 0u64;
    let mut events: Option<broadcast::Receiver<(String, Value)>> = None;
    loop {
        let next_event = async {
            match events.as_mut() {
                Some(rx) => rx.recv().await.ok(),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            m = ws.next() => {
                let Some(Ok(m)) = m else { return };
                let Ws::Text(t) = m else { continue };
                let v: Value = serde_json::from_str(&t).unwrap_or(Value::Null);
                let reply = match v["op"].as_u64() {
                    Some(1) => json!({"op": 11}),
                    Some(2) => {
                        if v["d"]["token"] != inner.token.as_str() {
                            let _ = ws.close(None).await;
                            return;
                        }
                        events = Some(inner.events.subscribe());
                        seq += 1;
                        json!({"op": 0, "s": seq, "t": "READY", "d": {
                            "v": 10, "user": bot_user(), "guilds": [{"id": GUILD.to_string(), "unavailable": true}],
                            "session_id": "fake-session", "resume_gateway_url": format!("ws://127.0.0.1:{}", inner.port),
                            "shard": [0, 1], "application": {"id": APP.to_string(), "flags": 0}}})
                    }
                    // RESUME: not supported; make the bot identify again.
                    Some(6) => json!({"op": 9, "d": false}),
                    _ => continue,
                };
                if ws.send(Ws::Text(reply.to_string())).await.is_err() {
                    return;
                }
                if reply["t"] == "READY" {
                    inner.lock().sessions += 1;
                    inner.bump();
                }
            }
            e = next_event => {
                let Some((t, d)) = e else { continue };
                seq += 1;
                let frame = json!({"op": 0, "s": seq, "t": t, "d": d});
                if ws.send(Ws::Text(frame.to_string())).await.is_err() { return; }
            }
        }
    }
}
