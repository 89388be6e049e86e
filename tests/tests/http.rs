//! The HTTP API of the real binary.

use serde_json::{json, Value};
use warroom_tests::{config, Bot, TOKEN};

#[tokio::test]
async fn health_readiness_and_metrics_answer_without_a_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bot = Bot::start(&config(dir.path(), ""));
    let c = bot.http();
    assert_eq!(
        c.get(format!("{}/healthz", bot.base))
            .send()
            .await
            .expect("req")
            .status(),
        200
    );
    assert_eq!(
        c.get(format!("{}/readyz", bot.base))
            .send()
            .await
            .expect("req")
            .status(),
        200
    );
    let m = c
        .get(format!("{}/metrics", bot.base))
        .send()
        .await
        .expect("req")
        .text()
        .await
        .expect("text");
    assert!(
        m.contains("# TYPE warroom_engine_event_seconds histogram")
            && m.contains("warroom_outbox_pending"),
        "{m}"
    );
}

#[tokio::test]
async fn the_api_refuses_requests_without_the_right_bearer_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bot = Bot::start(&config(dir.path(), ""));
    let c = bot.http();
    let r = c
        .get(format!("{}/api/incidents", bot.base))
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["error"], "unauthorized");
    let r = c
        .get(format!("{}/api/incidents", bot.base))
        .bearer_auth("wrong")
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn posting_an_incident_declares_it_and_reading_it_back_shows_the_timeline() {
    let dir = tempfile::tempdir().expect("tempdir");
    let catalog = "[[services]]\nname = \"market-data\"\n";
    let mut bot = Bot::start(&config(dir.path(), catalog));
    let c = bot.http();
    let r = c
        .post(format!("{}/api/incidents", bot.base))
        .bearer_auth(TOKEN)
        .json(&json!({"title": "行情延迟 quotes delayed", "severity": "P2", "services": ["market-data"], "declared_by": "pipeline"}))
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.expect("json");
    let id = created["id"].as_str().expect("id").to_string();
    assert_eq!(created["status"], "declared");
    // The war room (the console here) gets the card.
    bot.expect(&format!("🚨 **{id}** 行情延迟 quotes delayed"));

    let got: Value = c
        .get(format!("{}/api/incidents/{id}", bot.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("req")
        .json()
        .await
        .expect("json");
    assert_eq!(got["services"], json!(["market-data"]));
    assert_eq!(got["timeline"][0]["kind"], "declared");
    assert_eq!(got["timeline"][0]["source"], "api");
    assert_eq!(got["timeline"][0]["who"]["name"], "pipeline");
    assert!(got["milestones"]["discovered"].is_string());
    assert!(created.get("unknown_services").is_none(), "{created}");

    // A service the catalog does not know is named back, as chat warns of it.
    let r = c
        .post(format!("{}/api/incidents", bot.base))
        .bearer_auth(TOKEN)
        .json(&json!({"title": "x", "services": ["market-data", "nosuch"]}))
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.expect("json");
    assert_eq!(created["unknown_services"], json!(["nosuch"]), "{created}");
}

#[tokio::test]
async fn bad_requests_get_a_4xx_with_a_json_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bot = Bot::start(&config(dir.path(), ""));
    let c = bot.http();
    let url = format!("{}/api/incidents", bot.base);
    let cases: Vec<(reqwest::RequestBuilder, u16, &str)> = vec![
        (
            c.post(&url)
                .bearer_auth(TOKEN)
                .header("content-type", "application/json")
                .body("{not json"),
            400,
            "bad_request",
        ),
        (
            c.post(&url).bearer_auth(TOKEN).body("title=x"),
            415,
            "bad_request",
        ),
        (
            c.post(&url)
                .bearer_auth(TOKEN)
                .json(&json!({"title": "x", "colour": "red"})),
            422,
            "bad_request",
        ),
        (
            c.post(&url)
                .bearer_auth(TOKEN)
                .json(&json!({"title": "  "})),
            422,
            "bad_title",
        ),
        (
            c.post(&url)
                .bearer_auth(TOKEN)
                .json(&json!({"title": "x", "severity": "P9"})),
            422,
            "bad_severity",
        ),
        (
            c.post(&url)
                .bearer_auth(TOKEN)
                .header("content-type", "application/json")
                .body(format!("{{\"title\": \"{}\"}}", "x".repeat(100_000))),
            413,
            "bad_request",
        ),
        (
            c.get(format!("{url}/IMS-2026")).bearer_auth(TOKEN),
            400,
            "bad_id",
        ),
        (
            c.get(format!("{url}/IMS-20261123-042")).bearer_auth(TOKEN),
            404,
            "not_found",
        ),
        (c.get(format!("{}/nope", bot.base)), 404, "not_found"),
    ];
    for (req, status, code) in cases {
        let r = req.send().await.expect("req");
        assert_eq!(r.status().as_u16(), status);
        let body: Value = r.json().await.expect("json error body");
        assert_eq!(body["error"], code, "{body}");
        assert!(
            body["reason"].as_str().is_some_and(|s| !s.is_empty()),
            "{body}"
        );
    }
    let list: Value = c
        .get(&url)
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("req")
        .json()
        .await
        .expect("json");
    assert_eq!(list, json!([]), "nothing was declared by bad requests");
}
