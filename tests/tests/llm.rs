//! The language model through the real binary and a fake OpenAI-compatible server: skills
//! called by the model, grounded answers citing passages, masking on the wire, and a cited
//! retrieval answer when the model times out.

use serde_json::{json, Value};
use warroom_tests::fake_openai::{FakeOpenAi, Reply};
use warroom_tests::{Bot, TOKEN};

use crate::knowledge::knowledge_config;

fn llm(fake: &FakeOpenAi, timeout_secs: u64) -> String {
    format!(
        "\n[llm]\nbase_url = \"{}\"\nmodel = \"qwen2.5-coder\"\ntimeout_secs = {timeout_secs}\n\n[mask]\nhosts = [\"pay-db-01\"]\n",
        fake.base
    )
}

async fn record_change(bot: &Bot, id: &str, service: &str) {
    let now = chrono::Utc::now();
    let change = json!({
        "id": id, "start": (now - chrono::Duration::hours(3)).to_rfc3339(),
        "end": (now - chrono::Duration::hours(2)).to_rfc3339(),
        "scenario": "release", "operator": "alice", "service": service, "environment": "prod",
        "action": "deploy", "risk": "low", "status": "completed"
    });
    let r = bot
        .http()
        .post(format!("{}/api/changes", bot.base))
        .bearer_auth(TOKEN)
        .json(&change)
        .send()
        .await
        .expect("post change");
    assert!(
        r.status().is_success(),
        "{}",
        r.text().await.unwrap_or_default()
    );
}

fn messages_of(req: &Value) -> Vec<Value> {
    req["messages"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_model_calls_change_query_and_the_answer_cites_the_change_with_nothing_unmasked_sent() {
    let fake = FakeOpenAi::start(vec![
        Reply::Tools(vec![(
            "change_query".into(),
            json!({"service": "payments", "hours": 24}),
        )]),
        Reply::Text("支付系统昨天有 1 个变更：CHG-501（alice 发布）。<host-1> 未见变更。".into()),
    ])
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut bot = Bot::start(&knowledge_config(dir.path(), &llm(&fake, 10)));
    record_change(&bot, "CHG-501", "payments").await;
    bot.type_line("/ask 昨天支付系统有哪些变更？pay-db-01 (10.20.30.40) 有变更吗");
    let answer = bot.expect("CHG-501（alice 发布）");
    assert!(
        answer.contains("pay-db-01 未见变更"),
        "the host is unmasked in the reply: {answer}"
    );

    let reqs = fake.requests();
    assert_eq!(reqs.len(), 2, "one tool round, then the answer");
    let wire = serde_json::to_string(&reqs).expect("json");
    assert!(
        !wire.contains("10.20.30.40") && !wire.contains("pay-db-01"),
        "{wire}"
    );
    assert!(
        wire.contains("<ip-1>") && wire.contains("<host-1>"),
        "{wire}"
    );
    let first = &reqs[0];
    assert_eq!(first["model"], "qwen2.5-coder");
    let tools: Vec<&str> = first["tools"]
        .as_array()
        .expect("tools offered")
        .iter()
        .filter_map(|t| t["function"]["name"].as_str())
        .collect();
    assert!(
        tools.contains(&"change_query") && tools.contains(&"page_oncall"),
        "{tools:?}"
    );
    let m = messages_of(first);
    assert_eq!(m[0]["role"], "system");
    assert!(
        m[0]["content"].as_str().unwrap_or("").contains("规则"),
        "the Chinese system prompt"
    );
    let tool_result = messages_of(&reqs[1])
        .into_iter()
        .find(|m| m["role"] == "tool")
        .expect("the tool result goes back");
    assert!(
        tool_result["content"]
            .as_str()
            .unwrap_or("")
            .contains("CHG-501"),
        "{tool_result}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grounded_answer_cites_the_numbered_passages_with_links() {
    let fake = FakeOpenAi::start(vec![Reply::Text(
        "Drain the FIX sessions with ogctl drain, then restart the service [1].".into(),
    )])
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut bot = Bot::start(&knowledge_config(dir.path(), &llm(&fake, 10)));
    bot.type_line("/ask how do I restart the order gateway?");
    bot.expect("📖 Drain the FIX sessions with ogctl drain, then restart the service [1].");
    bot.expect("Sources:");
    let source = bot.expect("order-gateway.md:L7-L11");
    assert!(
        source.starts_with("[1] Order gateway › Restart procedure"),
        "{source}"
    );
    assert!(
        source.contains("<https://git.example/rb/order-gateway.md#L7-L11>"),
        "{source}"
    );
    let data = serde_json::to_string(&messages_of(&fake.requests()[0])).expect("json");
    assert!(
        data.contains("order-gateway.md:L7-L11"),
        "the passages go to the model as data: {data}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_model_times_out_the_answer_is_the_cited_retrieval() {
    let fake = FakeOpenAi::start(vec![Reply::Hang]).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut bot = Bot::start(&knowledge_config(dir.path(), &llm(&fake, 1)));
    bot.type_line("/ask how do I restart the order gateway?");
    let cited = bot.expect("order-gateway.md:L7-L11");
    assert!(cited.starts_with("[1]"), "{cited}");
    bot.expect("No written answer: the language model failed");
}
