//! On-call through the real binary: the API for the catalog, on-call, iCal and the
//! calendar; pages reaching the console and a phone/SMS webhook that fails first.

use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use warroom_tests::{config, Bot, TOKEN};

async fn get(bot: &Bot, path: &str) -> reqwest::Response {
    bot.http()
        .get(format!("{}{path}", bot.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("request")
}

#[tokio::test]
async fn the_api_answers_who_is_on_call_and_serves_an_ical_feed_and_the_calendar() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The embedded demo schedules are not in the test config: add one.
    let extra = r#"
[[schedules]]
name = "desk"
team = "ops"
  [[schedules.layers]]
  name = "primary"
  members = ["ann", "ben"]
  rotation = "daily"
  anchor = "2026-11-02"
"#;
    let bot = Bot::start(&config(dir.path(), extra));
    let all: Value = get(&bot, "/api/oncall?at=2026-11-23T02:00:00Z")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        all,
        json!([{"schedule": "desk", "team": "ops", "at": "2026-11-23T02:00:00Z", "person": "ben", "layer": "primary"}])
    );
    assert_eq!(get(&bot, "/api/oncall?schedule=nope").await.status(), 404);
    let r = bot
        .http()
        .post(format!("{}/api/schedules/desk/overrides", bot.base))
        .bearer_auth(TOKEN)
        .json(&json!({"person": "cat", "start": "2026-11-23T01:00:00Z", "end": "2026-11-23T03:00:00Z"}))
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), 201);
    let now: Value = get(&bot, "/api/oncall?schedule=desk&at=2026-11-23T02:00:00Z")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        (now[0]["person"].as_str(), now[0]["layer"].as_str()),
        (Some("cat"), Some("override"))
    );
    let r = bot
        .http()
        .post(format!("{}/api/schedules/desk/overrides", bot.base))
        .bearer_auth(TOKEN)
        .json(&json!({"person": "cat", "end": "2020-01-01T00:00:00Z"}))
        .send()
        .await
        .expect("req");
    assert_eq!(
        r.status(),
        422,
        "an override ending before it starts is refused"
    );
    assert_eq!(get(&bot, "/api/oncall?at=yesterday").await.status(), 400);

    let r = bot
        .http()
        .get(format!(
            "{}/api/schedules/desk/ical?days=2&token={TOKEN}",
            bot.base
        ))
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap_or("")
        .starts_with("text/calendar"));
    let ics = r.text().await.expect("text");
    assert!(
        ics.starts_with("BEGIN:VCALENDAR\r\n")
            && ics.contains("SUMMARY:On call: ")
            && ics.trim_end().ends_with("END:VCALENDAR"),
        "{ics}"
    );
    let r = bot
        .http()
        .get(format!("{}/api/schedules/desk/ical?token=wrong", bot.base))
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), 401);

    let cal: Value = get(&bot, "/api/calendar/SHFE?at=2026-11-20T14:00:00Z")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        (cal["trading"].as_bool(), cal["trading_day"].as_str()),
        (Some(true), Some("2026-11-23")),
        "{cal}"
    );
    assert_eq!(get(&bot, "/api/calendar/MOON").await.status(), 404);
    let r = get(&bot, "/api/calendar/SSE?at=2031-01-02T02:00:00Z").await;
    assert_eq!(
        r.status(),
        422,
        "a year without holiday data is not guessed"
    );
}

#[tokio::test]
async fn services_are_added_by_json_and_csv_and_dependency_walks_follow_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(dir.path(), "[[services]]\nname = \"trading-db\"\n");
    let bot = Bot::start(&cfg);
    let c = bot.http();
    let url = format!("{}/api/services", bot.base);
    let r = c
        .put(&url)
        .bearer_auth(TOKEN)
        .json(&json!([{"name": "order-router", "depends_on": ["trading-db"], "owner": "ops"}]))
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), 200);
    let csv = "name,owner,depends_on,hosts\ngateway,ops,order-router,tgw-01;tgw-02\n";
    let r = c
        .post(format!("{url}/import"))
        .bearer_auth(TOKEN)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    let up: Value = get(&bot, "/api/services/gateway/related?direction=up&hops=2")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        up,
        json!([{"name": "order-router", "hops": 1, "direction": "upstream"}, {"name": "trading-db", "hops": 2, "direction": "upstream"}])
    );
    // Bad input is refused with a reason and stores nothing.
    let r = c
        .put(&url)
        .bearer_auth(TOKEN)
        .json(&json!([{"name": "x", "depends_on": ["ghost"]}]))
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), 422);
    let r = c
        .post(format!("{url}/import"))
        .bearer_auth(TOKEN)
        .body("name,tier\ny,high\n")
        .send()
        .await
        .expect("req");
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["reason"], "line 2: tier `high` is not a number");
    assert_eq!(get(&bot, "/api/services/x").await.status(), 404);
    drop(bot);
    // Stored services survive a restart.
    let bot = Bot::start(&cfg);
    assert_eq!(get(&bot, "/api/services/gateway").await.status(), 200);
}

/// A phone/SMS gateway on 127.0.0.1 that answers 500 to the first page, then 200.
async fn flaky_gateway() -> (
    String,
    Arc<Mutex<Vec<(u16, String)>>>,
    tokio::sync::mpsc::UnboundedReceiver<()>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/page", listener.local_addr().expect("addr"));
    let log: Arc<Mutex<Vec<(u16, String)>>> = Arc::default();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let seen = log.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            // Read headers and the body (Content-Length).
            let body = loop {
                let Ok(n) = sock.read(&mut chunk).await else {
                    break None;
                };
                if n == 0 {
                    break None;
                }
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let len = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if body.len() >= len {
                        break Some(body.to_string());
                    }
                }
            };
            let Some(body) = body else { continue };
            let status = if seen.lock().expect("lock").is_empty() {
                500
            } else {
                200
            };
            seen.lock().expect("lock").push((status, body));
            let _ = sock
                .write_all(
                    format!(
                        "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                    )
                    .as_bytes(),
                )
                .await;
            let _ = tx.send(());
        }
    });
    (url, log, rx)
}

#[tokio::test]
async fn declaring_pages_the_on_call_in_chat_and_through_a_webhook_that_is_retried() {
    let (url, log, mut hits) = flaky_gateway().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let extra = format!(
        r#"
[notify.webhook]
url = "{url}"
timeout_ms = 2000

[[schedules]]
name = "desk"
  [[schedules.layers]]
  name = "primary"
  members = ["ann"]
  rotation = "weekly"
  anchor = "2026-11-02"

[[escalation_policies]]
name = "desk-first"
  [[escalation_policies.steps]]
  notify = ["schedule:desk"]
  wait_minutes = 5

[[services]]
name = "gateway"
escalation_policy = "desk-first"
"#
    );
    let mut bot = Bot::start(&config(dir.path(), &extra));
    bot.type_line("/incident declare Orders rejected P1 gateway");
    bot.expect("Paging **ann** (on call for desk)");
    for _ in 0..2 {
        tokio::time::timeout(std::time::Duration::from_secs(20), hits.recv())
            .await
            .expect("the gateway is called")
            .expect("hit");
    }
    let calls = log.lock().expect("lock").clone();
    assert_eq!(
        calls.iter().map(|c| c.0).collect::<Vec<_>>(),
        vec![500, 200],
        "retried once after the 500"
    );
    let page: Value = serde_json::from_str(&calls[1].1).expect("json body");
    assert_eq!(
        page["target"],
        json!({"kind": "person", "name": "ann", "schedule": "desk"})
    );
    assert_eq!(page["severity"], "P1");
    assert_eq!(
        calls[0].1, calls[1].1,
        "the retry sends the same page (same dedup_key)"
    );
    // The API answers like /oncall: a service's schedules include those its policy pages.
    let by_service: Value = get(&bot, "/api/oncall?service=gateway")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        by_service
            .as_array()
            .map(|a| a.iter().map(|e| e["schedule"].clone()).collect::<Vec<_>>()),
        Some(vec![Value::from("desk")])
    );
    assert_eq!(get(&bot, "/api/oncall?team=nobody").await.status(), 404);
    bot.type_line("/incident ack");
    bot.expect("status Declared → Investigating");
    let m = bot
        .http()
        .get(format!("{}/metrics", bot.base))
        .send()
        .await
        .expect("req")
        .text()
        .await
        .expect("text");
    assert!(
        m.contains("warroom_incident_mtta_seconds_count{clock=\"wall\",market=\"SSE\"} 1"),
        "{m}"
    );
}
