//! Alert sources through the real binary: 4xx reasons, per-source auth (bearer and
//! HMAC), and no acknowledged alert lost to a SIGKILL.

use serde_json::{json, Value};
use warroom_tests::{config, Bot, TOKEN};

const FAST: &str = "[alerts.route]\ngroup_wait = \"1s\"\ngroup_interval = \"5s\"\n\n[alerts.auth.grafana]\nhmac_secret_env = \"WARROOM_TEST_GRAFANA_SECRET\"\n";

fn webhook(n: usize) -> Value {
    let alerts: Vec<Value> = (0..n)
        .map(|i| {
            json!({
                "status": "firing",
                "labels": {"alertname": "DBConnectionsExhausted", "service": "trading-db",
                           "severity": "critical", "instance": format!("db-{i:02}")},
                "annotations": {"summary": "trading-db connection pool exhausted"},
                "startsAt": "2026-11-23T01:58:00Z",
            })
        })
        .collect();
    json!({"version": "4", "status": "firing", "receiver": "warroom", "groupKey": "g", "alerts": alerts})
}

async fn post(bot: &Bot, path: &str, body: &[u8], headers: &[(&str, String)]) -> (u16, Value) {
    let mut r = bot
        .http()
        .post(format!("{}{path}", bot.base))
        .header("content-type", "application/json")
        .body(body.to_vec());
    for (k, v) in headers {
        r = r.header(*k, v.as_str());
    }
    let r = r.send().await.expect("request");
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

fn bearer() -> (&'static str, String) {
    ("authorization", format!("Bearer {TOKEN}"))
}

#[tokio::test]
async fn webhooks_refuse_bad_bodies_and_bad_credentials_with_a_reason() {
    std::env::set_var("WARROOM_TEST_GRAFANA_SECRET", "s3cret");
    let dir = tempfile::tempdir().expect("tempdir");
    let bot = Bot::start(&config(dir.path(), FAST));
    let (s, b) = post(
        &bot,
        "/api/alerts/alertmanager",
        b"{\"alerts\": 5}",
        &[bearer()],
    )
    .await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(b["error"], "invalid_alerts");
    let (s, _) = post(&bot, "/api/alerts/alertmanager", b"{}", &[]).await;
    assert_eq!(s, 401);
    let (s, b) = post(
        &bot,
        "/api/events",
        b"{\"event_action\": \"explode\"}",
        &[bearer()],
    )
    .await;
    assert_eq!(s, 400, "{b}");
    // Grafana is configured for HMAC: a bearer token is not enough, a wrong signature fails.
    let body = br#"{"receiver":"warroom","status":"firing","alerts":[]}"#;
    let (s, b) = post(&bot, "/api/alerts/grafana", body, &[bearer()]).await;
    assert_eq!(s, 401, "{b}");
    assert!(
        b["reason"]
            .as_str()
            .unwrap()
            .contains("X-Warroom-Signature"),
        "{b}"
    );
    let (s, _) = post(
        &bot,
        "/api/alerts/grafana",
        body,
        &[("x-warroom-signature", "sha256=00".into())],
    )
    .await;
    assert_eq!(s, 401);
    let metrics = bot
        .http()
        .get(format!("{}/metrics", bot.base))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("warroom_alerts_received_total 0"),
        "{metrics}"
    );
}

#[tokio::test]
async fn alerts_acknowledged_with_202_survive_a_sigkill_and_become_an_incident_after_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(dir.path(), FAST);
    std::env::set_var("WARROOM_TEST_GRAFANA_SECRET", "s3cret");
    let bot = Bot::start(&cfg);
    let body = serde_json::to_vec(&webhook(3)).unwrap();
    let (s, b) = post(&bot, "/api/alerts/alertmanager", &body, &[bearer()]).await;
    assert_eq!((s, b["accepted"].as_u64()), (202, Some(3)), "{b}");
    // Killed before the group wait is over: nothing was declared yet.
    bot.kill9();
    let mut bot = Bot::start(&cfg);
    // The replayed alerts are declared after the group wait: the console prints the card.
    let card = bot.expect("IMS-");
    let list = bot.get_json("/api/incidents").await;
    let incidents = list.as_array().cloned().unwrap_or_default();
    assert_eq!(incidents.len(), 1, "{card}\n{list}");
    let id = incidents[0]["id"].as_str().unwrap().to_string();
    assert!(card.contains(&id), "{card}");
    let one = bot.get_json(&format!("/api/incidents/{id}")).await;
    assert_eq!(
        one["milestones"]["occurred"], "2026-11-23T01:58:00Z",
        "{one}"
    );
    assert!(one["milestones"]["discovered"].is_string(), "{one}");
}
