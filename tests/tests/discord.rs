//! The Discord adapter of the real binary, against the fake Discord on 127.0.0.1
//! (serenity's own REST and gateway code runs). Every wait is on an event at the fake
//! (or, for state only the HTTP API shows, a bounded re-check of the API).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use warroom_tests::fake_discord::{
    Failure, FakeDiscord, State, ALICE, ARCHIVE, BOT, GENERAL, GUEST, GUILD, RESPONDERS, WAR_ROOMS,
};
use warroom_tests::{binary, Bot, PATIENCE, TOKEN};

fn start_bot(fake: &FakeDiscord, dir: &Path) -> Bot {
    let cfg = fake.config(dir, "");
    tokio::task::block_in_place(|| Bot::start(&cfg))
}

fn id_of(v: &Value) -> u64 {
    v["id"].as_str().and_then(|s| s.parse().ok()).unwrap_or(0)
}

fn custom_ids(msg: &Value) -> Vec<String> {
    msg["components"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|row| row["components"].as_array().cloned().unwrap_or_default())
        .filter_map(|c| c["custom_id"].as_str().map(String::from))
        .collect()
}

/// The incident id a card's buttons carry.
fn incident_of(card: &Value) -> String {
    custom_ids(card)
        .iter()
        .find_map(|c| c.strip_prefix("wr:ack:").map(String::from))
        .expect("the card carries its incident id")
}

fn is_card(m: &Value) -> bool {
    m["embeds"].as_array().is_some_and(|e| !e.is_empty())
}

fn cards_in(s: &State, channel: u64) -> usize {
    s.messages_in(channel)
        .into_iter()
        .filter(|m| is_card(m))
        .count()
}

fn texts_in(s: &State, channel: u64) -> Vec<String> {
    s.messages_in(channel)
        .into_iter()
        .filter_map(|m| m["content"].as_str().map(String::from))
        .collect()
}

/// Waits for the war room whose name ends with `suffix` to have a pinned card.
async fn war_room_with_card(fake: &FakeDiscord, suffix: &str) -> (Value, Value) {
    fake.wait_until(&format!("a war room *{suffix} with a pinned card"), |s| {
        let room = s
            .channels
            .iter()
            .find(|c| c["name"].as_str().is_some_and(|n| n.ends_with(suffix)))?;
        let card = s
            .pinned_in(id_of(room))
            .into_iter()
            .find(|m| is_card(m))?
            .clone();
        Some((room.clone(), card))
    })
    .await
}

async fn api(bot: &Bot, path: &str) -> Value {
    let r = bot
        .http()
        .get(format!("{}{path}", bot.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("request");
    assert!(r.status().is_success(), "{path}: {}", r.status());
    r.json().await.expect("json")
}

/// Re-reads the incident through the HTTP API until `done` holds (bounded by PATIENCE):
/// for effects that show nowhere but the store.
async fn incident_when(bot: &Bot, id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let inc = api(bot, &format!("/api/incidents/{id}")).await;
        if done(&inc) {
            return inc;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}: {inc}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn overwrite(room: &Value, id: u64) -> &Value {
    room["permission_overwrites"]
        .as_array()
        .and_then(|o| o.iter().find(|o| id_of(o) == id))
        .unwrap_or(&Value::Null)
}

fn bits(v: &Value) -> u64 {
    v.as_str().and_then(|s| s.parse().ok()).unwrap_or(0)
}

const VIEW: u64 = 1 << 10;
const SEND: u64 = 1 << 11;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slash_declaration_opens_a_private_war_room_with_its_card_pinned() {
    let fake = FakeDiscord::start(TOKEN).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let _bot = start_bot(&fake, dir.path());
    fake.wait_ready(1).await;

    let interaction = fake.slash(
        GENERAL,
        ALICE,
        "incident",
        Some("declare"),
        Some("Payments down P1 payments"),
    );
    let (room, card) = war_room_with_card(&fake, "-payments-down").await;
    let name = room["name"].as_str().expect("name");
    assert!(
        name.starts_with("ims-") && name.ends_with("-001-payments-down"),
        "{name}"
    );
    let topic = room["topic"].as_str().expect("topic");
    assert!(
        topic.contains("IMS-") && topic.contains("P1") && topic.contains("Payments down"),
        "{topic}"
    );
    assert_eq!(room["parent_id"], WAR_ROOMS.to_string());
    // P1 is private: @everyone cannot see it; the bot and the responders can.
    assert_eq!(
        bits(&overwrite(&room, GUILD)["deny"]) & VIEW,
        VIEW,
        "{room}"
    );
    assert_eq!(
        bits(&overwrite(&room, BOT)["allow"]) & (VIEW | SEND),
        VIEW | SEND,
        "{room}"
    );
    assert_eq!(
        bits(&overwrite(&room, RESPONDERS)["allow"]) & VIEW,
        VIEW,
        "{room}"
    );

    let embed = &card["embeds"][0];
    assert!(
        embed["title"]
            .as_str()
            .expect("title")
            .contains("Payments down"),
        "{embed}"
    );
    assert!(embed.to_string().contains("P1"), "{embed}");
    let ids = custom_ids(&card);
    let inc = incident_of(&card);
    for kind in ["ack", "ic", "sev", "ms", "resolve"] {
        assert!(ids.contains(&format!("wr:{kind}:{inc}")), "{ids:?}");
    }

    let room_id = id_of(&room);
    fake.with(|s| {
        // The slash command was answered (an ephemeral echo), the reply posted where it was typed.
        let cb = s.find("POST", &format!("/interactions/{interaction}/*/callback"));
        assert_eq!(cb.len(), 1);
        assert_eq!(cb[0].body["type"], 4);
        assert!(texts_in(s, GENERAL)
            .iter()
            .any(|t| t.contains(&format!("Declared **{inc}**"))));
        assert_eq!(cards_in(s, room_id), 1);
    });

    // A text declaration works the same way; a Chinese title keeps the id and ASCII words,
    // and a P3 war room is public.
    fake.say(GENERAL, ALICE, "/incident declare 支付 API 超时 P3");
    let (room2, _) = war_room_with_card(&fake, "-002-api").await;
    assert!(
        room2["permission_overwrites"]
            .as_array()
            .is_none_or(|o| o.is_empty()),
        "{room2}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn card_clicks_are_answered_and_edit_the_pinned_card_in_place() {
    let fake = FakeDiscord::start(TOKEN).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let bot = start_bot(&fake, dir.path());
    fake.wait_ready(1).await;
    fake.say(
        GENERAL,
        ALICE,
        "/incident declare Quotes stale P2 market-data",
    );
    let (room, card) = war_room_with_card(&fake, "-quotes-stale").await;
    let (room, card_id, inc) = (id_of(&room), id_of(&card), incident_of(&card));
    let card_path = format!("/channels/{room}/messages/{card_id}");

    let click = fake.click(room, ALICE, card_id, &format!("wr:ack:{inc}"), None);
    fake.wait_until(
        "the click answered and the card edited to Investigating",
        |s| {
            let answered = s
                .find("POST", &format!("/interactions/{click}/*/callback"))
                .iter()
                .any(|r| r.body["type"] == 6);
            let edited = s
                .find("PATCH", &card_path)
                .iter()
                .any(|r| r.body.to_string().contains("Investigating"));
            (answered && edited).then_some(())
        },
    )
    .await;

    // The severity select goes through the same parser and RBAC.
    fake.click(
        room,
        ALICE,
        card_id,
        &format!("wr:sev:{inc}"),
        Some(&["P1"]),
    );
    fake.wait_until("the card edited to P1", |s| {
        s.find("PATCH", &card_path)
            .iter()
            .any(|r| r.body.to_string().contains("**P1**"))
            .then_some(())
    })
    .await;

    // Resolve asks first (ephemeral); a viewer's confirmation is denied and recorded.
    let ask = fake.click(room, GUEST, card_id, &format!("wr:resolve:{inc}"), None);
    fake.wait_until("the ephemeral confirmation", |s| {
        s.find("POST", &format!("/interactions/{ask}/*/callback"))
            .into_iter()
            .find(|r| {
                r.body["type"] == 4
                    && r.body["data"]["flags"] == 64
                    && r.body
                        .to_string()
                        .contains(&format!("wr:resolve-yes:{inc}"))
            })
            .map(|_| ())
    })
    .await;
    fake.click(room, GUEST, card_id, &format!("wr:resolve-yes:{inc}"), None);
    fake.wait_until("the denial in the war room", |s| {
        texts_in(s, room)
            .iter()
            .any(|t| t.starts_with("⛔"))
            .then_some(())
    })
    .await;
    fake.click(room, ALICE, card_id, &format!("wr:resolve-yes:{inc}"), None);
    fake.wait_until("the card edited to Resolved", |s| {
        s.find("PATCH", &card_path)
            .iter()
            .any(|r| r.body.to_string().contains("Resolved"))
            .then_some(())
    })
    .await;

    let inc_json = api(&bot, &format!("/api/incidents/{inc}")).await;
    assert_eq!(inc_json["status"], "resolved");
    assert_eq!(inc_json["severity"], "P1");
    assert!(
        inc_json["timeline"].to_string().contains("\"denied\""),
        "{inc_json}"
    );
    // Edited in place: still exactly one card in the war room.
    fake.with(|s| assert_eq!(cards_in(s, room), 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pin_reaction_copies_the_message_into_the_timeline() {
    let fake = FakeDiscord::start(TOKEN).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let bot = start_bot(&fake, dir.path());
    fake.wait_ready(1).await;
    fake.slash(
        GENERAL,
        ALICE,
        "incident",
        Some("declare"),
        Some("Settlement delayed P3 settlement"),
    );
    let (room, card) = war_room_with_card(&fake, "-settlement-delayed").await;
    let (room, inc) = (id_of(&room), incident_of(&card));

    let msg = fake.say(room, ALICE, "DC2 failover complete, error rate falling");
    fake.react(room, msg, ALICE, "📌");
    let found = incident_when(&bot, &inc, "the captured message", |i| {
        i["timeline"].to_string().contains("DC2 failover complete")
    })
    .await;
    let entry = found["timeline"]
        .as_array()
        .and_then(|t| {
            t.iter()
                .find(|e| e.to_string().contains("DC2 failover complete"))
        })
        .cloned()
        .expect("entry");
    assert_eq!(entry["kind"], "captured", "{entry}");
    assert!(
        entry["link"]
            .as_str()
            .is_some_and(|l| l.contains(&format!("/{room}/{msg}"))),
        "{entry}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discord_errors_500_and_429_are_retried_with_nothing_lost_or_duplicated() {
    let fake = FakeDiscord::start(TOKEN).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let _bot = start_bot(&fake, dir.path());
    fake.wait_ready(1).await;
    fake.fail_next("POST", "/channels/*/messages", 1, Failure::ServerError);
    fake.fail_next(
        "POST",
        "/channels/*/messages",
        1,
        Failure::RateLimited(0.05),
    );
    fake.fail_next("POST", "/guilds/*/channels", 1, Failure::ServerError);
    fake.fail_next("POST", "/guilds/*/channels", 1, Failure::RateLimited(0.05));
    fake.fail_next("PUT", "/channels/*/pins/*", 1, Failure::ServerError);

    fake.say(
        GENERAL,
        ALICE,
        "/incident declare Margin calls failing P2 margin",
    );
    let (room, _) = war_room_with_card(&fake, "-margin-calls-failing").await;
    let room = id_of(&room);
    fake.with(|s| {
        let creates = s.find("POST", "/guilds/*/channels");
        let statuses: Vec<u16> = creates.iter().map(|r| r.status).collect();
        assert_eq!(statuses, vec![500, 429, 200]);
        assert_eq!(s.channels_starting("ims-").len(), 1);
        let declared: Vec<String> = texts_in(s, GENERAL)
            .into_iter()
            .filter(|t| t.contains("Declared"))
            .collect();
        assert_eq!(declared.len(), 1, "{declared:?}");
        assert_eq!(cards_in(s, room), 1);
        assert_eq!(s.pinned_in(room).len(), 1);
        // In order: the reply to the declaration went out before the war room was made.
        let reply_ok = s.requests.iter().position(|r| {
            r.is("POST", &format!("/channels/{GENERAL}/messages")) && r.status == 200
        });
        let room_ok = s
            .requests
            .iter()
            .position(|r| r.is("POST", "/guilds/*/channels") && r.status == 200);
        assert!(reply_ok < room_ok, "{reply_ok:?} {room_ok:?}");
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_queued_while_discord_is_unreachable_are_delivered_in_order_afterwards() {
    let fake = FakeDiscord::start(TOKEN).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut bot = start_bot(&fake, dir.path());
    fake.wait_ready(1).await;
    fake.say(
        GENERAL,
        ALICE,
        "/incident declare Order book lag P3 matching",
    );
    let (room, card) = war_room_with_card(&fake, "-order-book-lag").await;
    let (room, card_id, inc) = (id_of(&room), id_of(&card), incident_of(&card));

    fake.set_unreachable(true);
    // The console handles lines one at a time, so the engine sees them in this order.
    bot.type_line(&format!("/status {inc} first update"));
    bot.type_line(&format!("/status {inc} second update"));
    bot.type_line(&format!("/incident ack {inc}"));
    fake.wait_until("delivery attempts to fail", |s| {
        (s.refused >= 3).then_some(())
    })
    .await;
    fake.set_unreachable(false);

    let texts = fake
        .wait_until("the queued messages", |s| {
            let t = texts_in(s, room);
            let done = t
                .iter()
                .any(|x| x.contains("status Declared → Investigating"));
            done.then_some(t)
        })
        .await;
    let pos = |needle: &str| {
        let p: Vec<usize> = texts
            .iter()
            .enumerate()
            .filter(|(_, t)| t.contains(needle))
            .map(|(i, _)| i)
            .collect();
        assert_eq!(p.len(), 1, "{needle:?} exactly once in {texts:#?}");
        p[0]
    };
    assert!(pos("first update") < pos("second update"));
    assert!(pos("second update") < pos("Declared → Investigating"));
    fake.wait_until("the card edited to Investigating", |s| {
        s.find("PATCH", &format!("/channels/{room}/messages/{card_id}"))
            .iter()
            .any(|r| r.status == 200 && r.body.to_string().contains("Investigating"))
            .then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bot_killed_while_creating_a_war_room_makes_no_second_one_after_restart() {
    let fake = FakeDiscord::start(TOKEN).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let bot = start_bot(&fake, dir.path());
    fake.wait_ready(1).await;
    // Discord creates the channel, but the answer never reaches the bot.
    fake.fail_next("POST", "/guilds/*/channels", 1, Failure::Stall);
    fake.slash(
        GENERAL,
        ALICE,
        "incident",
        Some("declare"),
        Some("Clearing stuck P2 clearing"),
    );
    fake.wait_until("the channel to be created", |s| {
        s.channels_starting("ims-").first().map(|_| ())
    })
    .await;
    tokio::task::block_in_place(|| bot.kill9());

    let bot = start_bot(&fake, dir.path());
    fake.wait_ready(2).await;
    let (room, _) = war_room_with_card(&fake, "-clearing-stuck").await;
    let room = id_of(&room);
    fake.with(|s| {
        assert_eq!(s.channels_starting("ims-").len(), 1);
        assert_eq!(s.find("POST", "/guilds/*/channels").len(), 1);
        assert_eq!(cards_in(s, room), 1);
        let declared = texts_in(s, GENERAL)
            .into_iter()
            .filter(|t| t.contains("Declared"))
            .count();
        assert_eq!(declared, 1);
    });
    drop(bot);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bot_killed_while_posting_the_card_pins_that_card_after_restart() {
    let fake = FakeDiscord::start(TOKEN).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let bot = start_bot(&fake, dir.path());
    fake.wait_ready(1).await;
    // Discord stores the card, but the answer never reaches the bot (so it is not pinned).
    fake.fail_next_with("POST", "/channels/*/messages", "wr:ack:", 1, Failure::Stall);
    fake.say(GENERAL, ALICE, "/incident declare Fix feed down P2 fix");
    let room = fake
        .wait_until("the card to be stored", |s| {
            let room = s.channels_starting("ims-").first().map(|c| id_of(c))?;
            (cards_in(s, room) == 1).then_some(room)
        })
        .await;
    tokio::task::block_in_place(|| bot.kill9());

    let _bot = start_bot(&fake, dir.path());
    fake.wait_ready(2).await;
    fake.wait_until("the stored card to be pinned", |s| {
        s.pinned_in(room).first().map(|_| ())
    })
    .await;
    fake.with(|s| {
        assert_eq!(cards_in(s, room), 1, "no second card");
        // Found among the latest messages (it was never pinned), then edited and pinned.
        assert!(!s
            .find("GET", &format!("/channels/{room}/messages"))
            .is_empty());
        assert!(!s
            .find("PATCH", &format!("/channels/{room}/messages/*"))
            .is_empty());
        assert_eq!(s.channels_starting("ims-").len(), 1);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_channel_gets_the_introduction_and_text_and_slash_link_reach_the_parser() {
    let fake = FakeDiscord::start(TOKEN).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let bot = start_bot(&fake, dir.path());
    fake.wait_ready(1).await;
    fake.say(GENERAL, ALICE, "/incident declare Risk engine slow P4 risk");
    let (room, card) = war_room_with_card(&fake, "-risk-engine-slow").await;
    let inc = incident_of(&card);

    let team = fake.create_channel("risk-team");
    fake.wait_until("the introduction", |s| {
        texts_in(s, team)
            .iter()
            .any(|t| t.starts_with("warroom commands:"))
            .then_some(())
    })
    .await;
    // The bot's own war room got no introduction.
    fake.with(|s| {
        assert!(texts_in(s, id_of(&room))
            .iter()
            .all(|t| !t.starts_with("warroom commands:")))
    });

    fake.slash(team, ALICE, "incident", Some("link"), Some(&inc));
    fake.wait_until("the link notice", |s| {
        texts_in(s, team)
            .iter()
            .any(|t| t.contains(&format!("channel discord:{team} linked")))
            .then_some(())
    })
    .await;
    let ops = fake.create_channel("ops");
    fake.say(ops, ALICE, &format!("/incident link {inc}"));
    fake.wait_until("the text link notice", |s| {
        texts_in(s, ops)
            .iter()
            .any(|t| t.contains(&format!("channel discord:{ops} linked")))
            .then_some(())
    })
    .await;
    let inc_json = api(&bot, &format!("/api/incidents/{inc}")).await;
    let tl = inc_json["timeline"].to_string();
    assert!(
        tl.contains(&team.to_string()) && tl.contains(&ops.to_string()),
        "{tl}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_an_incident_archives_and_locks_its_war_room() {
    let fake = FakeDiscord::start(TOKEN).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let _bot = start_bot(&fake, dir.path());
    fake.wait_ready(1).await;
    fake.say(
        GENERAL,
        ALICE,
        "/incident declare Exchange link down P1 gateway",
    );
    let (room, card) = war_room_with_card(&fake, "-exchange-link-down").await;
    let (room, card_id) = (id_of(&room), id_of(&card));
    fake.say(room, ALICE, "/incident resolve");
    fake.wait_until("the resolve notice", |s| {
        texts_in(s, room)
            .iter()
            .any(|t| t.contains("→ Resolved"))
            .then_some(())
    })
    .await;
    fake.say(room, ALICE, "/incident close");
    let archived = fake
        .wait_until("the war room moved to the archive", |s| {
            s.channels
                .iter()
                .find(|c| id_of(c) == room && c["parent_id"] == ARCHIVE.to_string())
                .cloned()
        })
        .await;
    // Still private, and now read-only for everyone else.
    let everyone = bits(&overwrite(&archived, GUILD)["deny"]);
    assert_eq!(everyone & (VIEW | SEND), VIEW | SEND, "{archived}");
    assert_eq!(
        bits(&overwrite(&archived, BOT)["allow"]) & SEND,
        SEND,
        "{archived}"
    );
    fake.with(|s| {
        assert!(texts_in(s, room)
            .iter()
            .any(|t| t.contains("# Postmortem draft")));
        // The closed card's buttons are all disabled, and there is still one card.
        let card = s
            .messages_in(room)
            .into_iter()
            .find(|m| id_of(m) == card_id)
            .cloned()
            .expect("card");
        let rows = card["components"].as_array().cloned().unwrap_or_default();
        assert_eq!(rows.len(), 1, "{card}");
        assert!(
            rows[0]["components"]
                .as_array()
                .is_some_and(|b| b.iter().all(|b| b["disabled"] == true)),
            "{card}"
        );
        assert_eq!(cards_in(s, room), 1);
    });
}

#[test]
fn config_check_names_the_discord_key_that_is_wrong() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "[discord]\nguild_id = 1\nprivate_severities = [\"P9\"]\n",
    )
    .expect("write");
    let out = Command::new(binary())
        .args(["config", "check"])
        .arg(&path)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("key `discord.private_severities`") && err.contains("P9"),
        "{err}"
    );
}
