//! The knowledge base through the real binary: `/ask` answers with citations and links, in
//! English and Chinese, and says when no runbook applies; the ingest API picks up a new
//! runbook; a resolved incident comes back as "similar" with its root cause when a like one
//! is declared.

use warroom_tests::{config, Bot};

fn runbooks(dir: &std::path::Path) -> std::path::PathBuf {
    let rb = dir.join("runbooks");
    std::fs::create_dir_all(&rb).expect("mkdir");
    std::fs::write(
        rb.join("order-gateway.md"),
        "---\nservice: order-gateway\nalerts: [OrderGatewayDown]\n---\n# Order gateway\n\n## Restart procedure\n\n1. Drain the FIX sessions with `ogctl drain`.\n2. Restart the service: `systemctl restart order-gateway`.\n3. Check that every FIX session logs on again.\n\n## Disk full\n\nRotate the journal with `ogctl rotate` and delete archives older than 7 days.\n",
    )
    .expect("write");
    std::fs::write(
        rb.join("行情.md"),
        "# 行情系统\n\n## 行情延迟处理\n\n行情延迟超过 3 秒时，先检查 Kafka 消费积压，再切换到备用行情源。\n",
    )
    .expect("write");
    rb
}

/// A test bot's config with the runbooks as knowledge sources, plus `extra`.
pub(crate) fn knowledge_config(dir: &std::path::Path, extra: &str) -> std::path::PathBuf {
    let rb = runbooks(dir);
    config(
        dir,
        &format!(
            "[knowledge]\nsources = [\"{}\"]\nlink_base = \"https://git.example/rb/\"\n{extra}",
            rb.display()
        ),
    )
}

#[tokio::test]
async fn ask_cites_the_runbook_lines_and_says_when_no_runbook_applies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut bot = Bot::start(&knowledge_config(dir.path(), ""));
    bot.type_line("/ask how do I restart the order gateway?");
    let cited = bot.expect("order-gateway.md:L7-L11");
    assert!(
        cited.starts_with("[1]"),
        "the restart section ranks first: {cited}"
    );
    assert!(
        cited.contains("<https://git.example/rb/order-gateway.md#L7-L11>"),
        "{cited}"
    );
    bot.type_line("/ask 行情延迟怎么办");
    let cited = bot.expect("行情.md:L3-L5");
    assert!(cited.starts_with("[1]"), "{cited}");
    bot.type_line("/ask what is the boiling point of mercury in kelvin");
    bot.expect("No runbook covers \"what is the boiling point of mercury in kelvin\"");

    // A runbook written while the bot runs is picked up by the ingest API.
    std::fs::write(
        dir.path().join("runbooks").join("clearing.md"),
        "# Clearing\n\n## Settlement file late\n\nRe-run the settlement export job `clr-export --day T` and notify the custodian desk.\n",
    )
    .expect("write");
    let r = bot
        .http()
        .post(format!("{}/api/knowledge/ingest", bot.base))
        .bearer_auth(warroom_tests::TOKEN)
        .send()
        .await
        .expect("ingest");
    assert_eq!(r.status(), 200);
    let report: serde_json::Value = r.json().await.expect("json");
    assert_eq!(
        (report["added"].as_u64(), report["unchanged"].as_u64()),
        (Some(1), Some(2)),
        "{report}"
    );
    let found = bot
        .get_json("/api/knowledge/search?q=settlement%20export%20is%20late")
        .await;
    assert_eq!(found["abstain"], false, "{found}");
    assert_eq!(
        found["passages"][0]["citation"], "clearing.md:L3-L5",
        "{found}"
    );
}

#[tokio::test]
async fn a_resolved_incident_is_offered_with_its_root_cause_when_a_like_one_is_declared() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut bot = Bot::start(&knowledge_config(dir.path(), ""));
    bot.type_line("/incident declare \"order gateway FIX sessions dropped\" P2 order-gateway");
    let first = bot.expect("Declared **IMS-");
    let first = first
        .split("**")
        .nth(1)
        .expect("the id in bold")
        .to_string();
    bot.type_line("/rootcause connection pool too small after the evening release");
    bot.expect("root cause: connection pool too small");
    bot.type_line("/resolution raised pool_size to 50 and restarted the gateway");
    bot.expect("resolution: raised pool_size");
    bot.type_line("/incident resolve");
    bot.expect("→ Resolved");
    bot.type_line(
        "/incident declare \"order gateway FIX sessions dropping again\" P2 order-gateway",
    );
    bot.expect("Declared **IMS-");
    // The fault-localization card of the new incident lists the old one with its cause.
    bot.expect("🔎 Fault localization for");
    bot.expect("Similar past incidents:");
    let item = bot.expect(&format!("• {first} "));
    assert!(
        item.contains("root cause: connection pool too small after the evening release")
            && item.contains("fixed by: raised pool_size to 50"),
        "{item}"
    );
    let api = bot
        .get_json(&format!("/api/similar?q=FIX%20sessions%20dropped"))
        .await;
    assert_eq!(api[0]["id"], first.as_str(), "{api}");
    // An incident is not similar to itself; a match scores the share of the question it
    // covers (it read 100% whatever the question).
    bot.type_line(&format!("/similar {first}"));
    bot.expect("🔁 Similar past incidents");
    bot.expect("none in the incident history.");
    bot.type_line("/similar FIX sessions dropped during the opening auction");
    let line = bot.expect(&format!("• **{first}**"));
    let pct: u32 = line
        .rsplit('(')
        .next()
        .and_then(|p| p.split('%').next())
        .and_then(|p| p.parse().ok())
        .expect("a percentage");
    assert!(pct > 0 && pct < 100, "{line}");
}

#[tokio::test]
async fn the_fault_localization_card_counts_a_generic_event_and_its_resolve_as_one_resolved_alert()
{
    let dir = tempfile::tempdir().expect("tempdir");
    let mut bot = Bot::start(&knowledge_config(dir.path(), ""));
    let post = |body: serde_json::Value| {
        bot.http()
            .post(format!("{}/api/events", bot.base))
            .bearer_auth(warroom_tests::TOKEN)
            .json(&body)
            .send()
    };
    let r = post(serde_json::json!({
        "dedup_key": "og-1", "event_action": "trigger",
        "payload": {"summary": "Order gateway rejects orders", "service": "order-gateway",
                    "severity": "warning"}
    }))
    .await
    .expect("trigger");
    assert_eq!(r.status(), 202);
    // The resolve names only the dedup key.
    let r = post(serde_json::json!({"dedup_key": "og-1", "event_action": "resolve"}))
        .await
        .expect("resolve");
    assert_eq!(r.status(), 202);
    bot.type_line("/incident declare \"gateway trouble\" P3 order-gateway");
    bot.expect("🔎 Fault localization for");
    let line = bot.expect("×");
    assert!(
        line.contains("✅ Order gateway rejects orders [order-gateway] ×2"),
        "one alert, resolved, two messages: {line}"
    );
}
