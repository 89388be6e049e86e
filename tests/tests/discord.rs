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

/// Re-reads the incident through the HTTP API until `done` holds (bounded by PATIENCE):
/// for effects that show nowhere but the store.
async fn incident_when(bot: &Bot, id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let inc = bot.get_json(&format!("/api/incidents/{id}")).await;
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

    let inc_json = bot.get_json(&format!("/api/incidents/{inc}")).await;
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
    let inc_json = bot.get_json(&format!("/api/incidents/{inc}")).await;
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

#[test]
fn every_discord_label_exists_in_english_and_chinese() {
    use warroom::config::Lang;
    use warroom::discord::card::{Labels, DISCORD_KEYS};
    for lang in [Lang::En, Lang::Zh] {
        let labels = Labels::new(lang);
        for key in DISCORD_KEYS {
            assert_ne!(labels.get("discord", key), key, "{lang:?}: [discord] {key}");
        }
    }
}

/// The choices of the autocomplete answer to `interaction`, once it is sent.
async fn choices(fake: &FakeDiscord, interaction: u64) -> Vec<String> {
    fake.wait_until("the autocomplete answer", |s| {
        s.find("POST", &format!("/interactions/{interaction}/*/callback"))
            .into_iter()
            .find(|r| r.body["type"] == 8)
            .map(|r| {
                r.body["data"]["choices"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|c| c["value"].as_str().map(String::from))
                    .collect()
            })
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slash_options_autocomplete_incident_ids_roles_and_milestones() {
    let fake = FakeDiscord::start(TOKEN).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let _bot = start_bot(&fake, dir.path());
    fake.wait_ready(1).await;
    fake.say(GENERAL, ALICE, "/incident declare Feed one down P3 feed");
    let (_, first) = war_room_with_card(&fake, "-feed-one-down").await;
    fake.say(GENERAL, ALICE, "/incident declare Feed two down P3 feed");
    let (_, second) = war_room_with_card(&fake, "-feed-two-down").await;
    let (first, second) = (incident_of(&first), incident_of(&second));

    let ac = fake.autocomplete(GENERAL, ALICE, "incident", Some("ack"), "ims");
    assert_eq!(
        choices(&fake, ac).await,
        vec![second.clone(), first.clone()]
    );
    let ac = fake.autocomplete(GENERAL, ALICE, "incident", Some("ack"), "XYZ");
    assert!(choices(&fake, ac).await.is_empty());
    let ac = fake.autocomplete(
        GENERAL,
        ALICE,
        "role",
        Some("assign"),
        &format!("{first} comm"),
    );
    let got = choices(&fake, ac).await;
    assert!(got.contains(&format!("{first} commander")), "{got:?}");
    assert!(got.contains(&format!("{first} comms")), "{got:?}");
    let ac = fake.autocomplete(GENERAL, ALICE, "milestone", None, "sto");
    assert_eq!(choices(&fake, ac).await, vec!["stop-loss".to_string()]);
}

const PLAN_CSV: &str = "id,title,owner,team,start,end,depends_on\n\
AC1,stop order feeds,@bob,trading,22:30,22:50,\n\
AC2,drain core-sw-1,@bob,net,22:50,23:40,AC1\n";

async fn plan_when(bot: &Bot, id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let (status, plan) = bot.get(&format!("/api/plans/{id}")).await;
        if (200..300).contains(&status) && done(&plan) {
            return plan;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn task_status(plan: &Value, task: &str) -> String {
    plan["tasks"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["id"] == task))
        .and_then(|t| t["status"].as_str())
        .unwrap_or("")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_file_is_imported_from_an_attachment_or_its_errors_are_shown_by_line() {
    let fake = FakeDiscord::start(TOKEN).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let bot = start_bot(&fake, dir.path());
    fake.wait_ready(1).await;

    // A slash command with a broken sheet: the errors, by line, and nothing stored.
    let bad = fake.attachment(
        "bad.csv",
        "id,title,owner,start,end,depends_on\nAC1,a,@bob,22:00,23:00,AC9\nAC2,b,@bob,25:61,23:30,\n",
    );
    fake.slash_import(
        GENERAL,
        ALICE,
        &bad,
        &[
            ("id", "CHG-9"),
            ("coordinator", "carol"),
            ("date", "2026-11-23"),
        ],
    );
    let answer = fake
        .wait_until("the import errors", |s| {
            s.find("POST", "/webhooks/*/*")
                .into_iter()
                .find_map(|r| r.body["content"].as_str().map(String::from))
        })
        .await;
    assert!(
        answer.contains("line 2") && answer.contains("AC9") && answer.contains("line 3"),
        "{answer}"
    );

    // A message with the sheet attached: stored, running in this channel.
    let good = fake.attachment("plan.csv", PLAN_CSV);
    fake.say_with_files(
        GENERAL,
        ALICE,
        "/plan import CHG-1 carol 2026-11-23 Core switch",
        vec![good],
    );
    fake.wait_until("the import reply", |s| {
        texts_in(s, GENERAL)
            .iter()
            .any(|t| t.contains("Plan **CHG-1** stored with 2 tasks"))
            .then_some(())
    })
    .await;
    let plan = plan_when(&bot, "CHG-1", "the plan", |_| true).await;
    assert_eq!(plan["channel"], format!("discord:{GENERAL}"), "{plan}");
    assert_eq!(plan["title"], "Core switch", "{plan}");
    fake.with(|s| {
        // The file was fetched without the bot token (and CHG-9 never stored).
        assert_eq!(s.find("GET", "/attachments/*").len(), 2);
    });
    let r = bot
        .http()
        .get(format!("{}/api/plans/CHG-9", bot.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reminder_buttons_start_and_finish_the_task() {
    let fake = FakeDiscord::start(TOKEN).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let bot = start_bot(&fake, dir.path());
    fake.wait_ready(1).await;
    let file = fake.attachment("plan.csv", PLAN_CSV);
    fake.say_with_files(
        GENERAL,
        ALICE,
        "/plan import CHG-2 carol 2026-11-23",
        vec![file],
    );
    plan_when(&bot, "CHG-2", "the plan", |_| true).await;

    fake.say(GENERAL, ALICE, "/task done CHG-2:AC1");
    let start = "wr:task-start:CHG-2:AC2";
    let msg = fake
        .wait_until("the unblocked message with its buttons", |s| {
            s.messages_in(GENERAL)
                .into_iter()
                .find(|m| custom_ids(m).iter().any(|c| c == start))
                .map(id_of)
        })
        .await;
    fake.with(|s| {
        let m = s
            .messages_in(GENERAL)
            .into_iter()
            .find(|m| id_of(m) == msg)
            .cloned()
            .expect("message");
        assert!(custom_ids(&m).contains(&"wr:task-done:CHG-2:AC2".to_string()));
        assert!(m.to_string().contains("\"Start\""), "{m}");
    });
    fake.click(GENERAL, ALICE, msg, start, None);
    plan_when(&bot, "CHG-2", "AC2 in progress", |p| {
        task_status(p, "AC2") == "in_progress"
    })
    .await;
    fake.click(GENERAL, ALICE, msg, "wr:task-done:CHG-2:AC2", None);
    plan_when(&bot, "CHG-2", "AC2 done", |p| {
        task_status(p, "AC2") == "done"
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_mentions_and_messages_the_person_and_lets_them_into_a_private_war_room() {
    let fake = FakeDiscord::start(TOKEN).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let extra = format!(
        r#"
[discord.users]
alice = {}

[[schedules]]
name = "desk"
  [[schedules.layers]]
  name = "primary"
  members = ["alice"]
  rotation = "weekly"
  anchor = "2026-11-02"

[[schedules]]
name = "backup"
  [[schedules.layers]]
  name = "primary"
  members = ["zed"]
  rotation = "weekly"
  anchor = "2026-11-02"

[[escalation_policies]]
name = "desk-first"
  [[escalation_policies.steps]]
  notify = ["schedule:desk", "schedule:backup"]
  wait_minutes = 5

[[services]]
name = "gateway"
escalation_policy = "desk-first"
"#,
        ALICE.0
    );
    let cfg = fake.config(dir.path(), &extra);
    let _bot = tokio::task::block_in_place(|| Bot::start(&cfg));
    fake.wait_ready(1).await;
    fake.say(
        GENERAL,
        ALICE,
        "/incident declare Orders rejected P1 gateway",
    );
    let (room, _) = war_room_with_card(&fake, "-orders-rejected").await;
    let room = id_of(&room);
    let mention = format!("<@{}>", ALICE.0);
    let texts = fake
        .wait_until("both pages in the war room", |s| {
            let t = texts_in(s, room);
            let both = t.iter().any(|x| x.contains("Paging **alice**"))
                && t.iter().any(|x| x.contains("Paging **zed**"));
            both.then_some(t)
        })
        .await;
    let alice = texts
        .iter()
        .find(|t| t.contains("Paging **alice**"))
        .expect("page");
    assert!(alice.starts_with(&mention), "{alice}");
    let zed = texts
        .iter()
        .find(|t| t.contains("Paging **zed**"))
        .expect("page");
    assert!(!zed.contains("<@"), "{zed}");
    fake.with(|s| {
        let opened = s.find("POST", "/users/@me/channels");
        assert_eq!(opened.len(), 1, "one DM, for alice only");
        assert_eq!(opened[0].body["recipient_id"], ALICE.0.to_string());
        let (dm, _) = s
            .dms
            .iter()
            .find(|(_, u)| **u == ALICE.0)
            .expect("a DM channel");
        assert!(texts_in(s, *dm)
            .iter()
            .any(|t| t.contains("Paging **alice**")));
        let room = s.channels.iter().find(|c| id_of(c) == room).expect("room");
        let o = overwrite(room, ALICE.0);
        assert_eq!(o["type"], 1, "{room}");
        assert_eq!(bits(&o["allow"]) & (VIEW | SEND), VIEW | SEND, "{room}");
    });
}

#[tokio::test(flavor = "multi_thread")]
async fn a_message_whose_answer_was_lost_is_posted_once() {
    let fake = FakeDiscord::start(TOKEN).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let _bot = start_bot(&fake, dir.path());
    fake.wait_ready(1).await;
    fake.say(
        GENERAL,
        ALICE,
        "/incident declare Fee calculation wrong P3 clearing",
    );
    let (room, _) = war_room_with_card(&fake, "-fee-calculation-wrong").await;
    let room = id_of(&room);
    // Discord creates the message but the answer never arrives; the bot times out and retries.
    fake.fail_next(
        "POST",
        &format!("/channels/{room}/messages"),
        1,
        Failure::Stall,
    );
    fake.say(room, ALICE, "/status vendor confirmed the fix");
    let path = format!("/channels/{room}/messages");
    fake.wait_until("the retry", |s| {
        let posts = s
            .find("POST", &path)
            .into_iter()
            .filter(|r| r.body.to_string().contains("vendor confirmed the fix"))
            .count();
        (posts >= 2).then_some(())
    })
    .await;
    fake.with(|s| {
        // The bot's status post (the user's own `/status …` message is in the channel too).
        let shown = texts_in(s, room)
            .into_iter()
            .filter(|t| t.starts_with("📣") && t.contains("vendor confirmed the fix"))
            .count();
        assert_eq!(
            shown, 1,
            "the retry carried the same nonce, so Discord kept one message"
        );
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_the_model_proposes_runs_only_when_an_authorized_person_clicks_confirm() {
    use warroom_tests::fake_openai::{FakeOpenAi, Reply};
    let llm = FakeOpenAi::start(vec![
        // The declaration's fault-localization card.
        Reply::Text("No hypothesis.".into()),
        // The question: the model may only propose the write.
        Reply::Tools(vec![(
            "add_timeline_entry".into(),
            serde_json::json!({"text": "FIX sessions drained by the model"}),
        )]),
        Reply::Text("I proposed a timeline entry.".into()),
    ])
    .await;
    let fake = FakeDiscord::start(TOKEN).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let rb = dir.path().join("runbooks");
    std::fs::create_dir_all(&rb).expect("mkdir");
    std::fs::write(
        rb.join("order-gateway.md"),
        "# Order gateway\n\n## Restart procedure\n\nDrain the FIX sessions with `ogctl drain`, then restart.\n",
    )
    .expect("write");
    let cfg = fake.config(
        dir.path(),
        &format!(
            "[knowledge]\nsources = [\"{}\"]\n\n[llm]\nbase_url = \"{}\"\nmodel = \"qwen2.5-coder\"\ntimeout_secs = 10\n",
            rb.display(),
            llm.base
        ),
    );
    let bot = tokio::task::block_in_place(|| Bot::start(&cfg));
    fake.wait_ready(1).await;
    fake.say(
        GENERAL,
        ALICE,
        "/incident declare \"order gateway rejects orders\" P2 order-gateway",
    );
    let (room, card) = war_room_with_card(&fake, "-order-gateway-rejects-orders").await;
    let (room, inc) = (id_of(&room), incident_of(&card));
    fake.wait_until("the analysis card", |s| {
        texts_in(s, room)
            .iter()
            .any(|t| t.contains("No hypothesis."))
            .then_some(())
    })
    .await;

    fake.say(
        room,
        ALICE,
        "/ask please note that the FIX sessions were drained",
    );
    let answer = fake
        .wait_until("the answer with Confirm and Cancel buttons", |s| {
            s.messages_in(room)
                .into_iter()
                .find(|m| custom_ids(m).iter().any(|c| c == "wr:prop-yes:P-1"))
                .cloned()
        })
        .await;
    assert!(
        custom_ids(&answer).contains(&"wr:prop-no:P-1".to_string()),
        "{answer}"
    );
    let text = answer["content"].as_str().unwrap_or_default();
    assert!(text.contains("/confirm P-1"), "{text}");
    let path = format!("/api/incidents/{inc}");
    assert!(!bot
        .get_json(&path)
        .await
        .to_string()
        .contains("drained by the model"));

    // A viewer's click is denied and the proposal stays open.
    fake.click(room, GUEST, id_of(&answer), "wr:prop-yes:P-1", None);
    fake.wait_until("the denial", |s| {
        texts_in(s, room)
            .iter()
            .any(|t| t.starts_with("⛔"))
            .then_some(())
    })
    .await;
    assert!(!bot
        .get_json(&path)
        .await
        .to_string()
        .contains("drained by the model"));

    // A responder's click runs it, as them; a second click is told it is done.
    fake.click(room, ALICE, id_of(&answer), "wr:prop-yes:P-1", None);
    fake.wait_until("the note in the war room", |s| {
        texts_in(s, room)
            .iter()
            .any(|t| t.contains("FIX sessions drained by the model") && !t.contains("/confirm"))
            .then_some(())
    })
    .await;
    assert!(bot
        .get_json(&path)
        .await
        .to_string()
        .contains("drained by the model"));
    // Decided, its buttons leave the answer (the denied click left them).
    let answer_path = format!("/channels/{room}/messages/{}", id_of(&answer));
    let edits = fake
        .wait_until("the answer edited without P-1's buttons", |s| {
            let edits = s.find("PATCH", &answer_path);
            (!edits.is_empty()).then(|| edits.iter().map(|r| r.body.clone()).collect::<Vec<_>>())
        })
        .await;
    assert_eq!(edits.len(), 1, "only the confirmed click edits: {edits:?}");
    assert!(!edits[0].to_string().contains("wr:prop-"), "{}", edits[0]);
    fake.click(room, ALICE, id_of(&answer), "wr:prop-no:P-1", None);
    fake.wait_until("the proposal is already decided", |s| {
        texts_in(s, room)
            .iter()
            .any(|t| t.contains("P-1 was already confirmed by alice"))
            .then_some(())
    })
    .await;

    let trail = bot.get_json("/api/audit").await;
    let actions: Vec<(String, String)> = trail["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["subject"] == "P-1")
        .map(|e| {
            (
                e["action"].as_str().unwrap_or_default().to_string(),
                e["actor"]["name"].as_str().unwrap_or("-").to_string(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("llm.proposal".to_string(), "alice".to_string()),
            ("llm.proposal.not_run".to_string(), "guest".to_string()),
            ("llm.proposal.confirmed".to_string(), "alice".to_string()),
        ],
        "{trail}"
    );
}
