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

fn audit_cli(args: &[&str]) -> (i32, String) {
    let out = std::process::Command::new(warroom_tests::binary())
        .arg("audit")
        .args(args)
        .env("WARROOM_API_TOKEN", TOKEN)
        .output()
        .expect("run warroom audit");
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_trail_records_the_model_calls_and_names_an_edited_deleted_or_moved_record() {
    let fake = FakeOpenAi::start(vec![
        Reply::Tools(vec![("oncall_lookup".into(), json!({"name": "payments"}))]),
        Reply::Text("erin is on call for payments.".into()),
    ])
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = knowledge_config(dir.path(), &llm(&fake, 10));
    let mut bot = Bot::start(&cfg);
    bot.type_line("/ask who is on call for payments?");
    bot.expect("on call for payments");
    let trail = bot.get_json("/api/audit").await;
    let actions: Vec<&str> = trail["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for a in [
        "config.loaded",
        "llm.question",
        "llm.request",
        "llm.reply",
        "llm.tool_call",
    ] {
        assert!(actions.contains(&a), "{a} missing from {actions:?}");
    }
    let (code, out) = audit_cli(&[
        "verify",
        "--config",
        cfg.to_str().expect("utf-8"),
        "--server",
        &bot.base,
    ]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(bot.signal_and_wait(15), Some(0));

    let cfg_arg = cfg.to_str().expect("utf-8").to_string();
    let verify = || audit_cli(&["verify", "--config", &cfg_arg]);
    let (code, out) = verify();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("intact"), "{out}");
    let (code, export) = audit_cli(&["export", "--config", &cfg_arg]);
    assert_eq!(code, 0, "{export}");
    assert!(export.contains("\"mac\""), "{export}");

    let store = dir.path().join("data").join("store");
    // sled's background threads may hold a dropped handle's file lock a little longer:
    // wait until it is free (a blocking lock, as sled's own tests do), before opening it
    // here and before the CLI opens it.
    let unlocked = || {
        let f = std::fs::File::open(store.join("db")).expect("the store's file");
        f.lock().expect("wait for the store's lock");
    };
    let tamper = |f: &dyn Fn(&sled::Tree, &[(sled::IVec, sled::IVec)])| {
        unlocked();
        let rows = {
            let db = sled::open(&store).expect("open the store");
            let tree = db.open_tree("audit").expect("audit tree");
            let rows: Vec<(sled::IVec, sled::IVec)> =
                tree.iter().map(|r| r.expect("row")).collect();
            f(&tree, &rows);
            db.flush().expect("flush");
            rows
        };
        unlocked();
        rows
    };
    // An edit: a tool call's name changed.
    let rows = tamper(&|tree, rows| {
        let (k, v) = rows
            .iter()
            .find(|(_, v)| String::from_utf8_lossy(v).contains("llm.tool_call"))
            .expect("a tool call record");
        let edited = String::from_utf8_lossy(v).replace("oncall_lookup", "page_oncall");
        tree.insert(k, edited.as_bytes()).expect("edit");
    });
    let (code, out) = verify();
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("BROKEN") && out.contains("edited"), "{out}");
    let restore = |rows: &[(sled::IVec, sled::IVec)]| {
        tamper(&|tree, _| {
            tree.clear().expect("clear");
            for (k, v) in rows {
                tree.insert(k, v.clone()).expect("restore");
            }
        });
    };
    restore(&rows);
    assert_eq!(verify().0, 0, "restored");
    // A deletion.
    tamper(&|tree, rows| {
        tree.remove(&rows[2].0).expect("delete");
    });
    let (code, out) = verify();
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("deleted"), "{out}");
    restore(&rows);
    // A reordering: two records swap places.
    tamper(&|tree, rows| {
        tree.insert(&rows[1].0, rows[2].1.clone()).expect("swap");
        tree.insert(&rows[2].0, rows[1].1.clone()).expect("swap");
    });
    let (code, out) = verify();
    assert_eq!(code, 1, "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_incident_gets_a_fault_localization_card_with_changes_and_hypotheses() {
    let fake = FakeOpenAi::start(vec![Reply::Text(
        "1. CHG-777 (order-gateway release) fits the onset.".into(),
    )])
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut bot = Bot::start(&knowledge_config(dir.path(), &llm(&fake, 10)));
    record_change(&bot, "CHG-777", "order-gateway").await;
    bot.type_line("/incident declare \"order gateway rejects orders\" P2 order-gateway");
    bot.expect("🔎 Fault localization for");
    let change = bot.expect("`CHG-777`");
    assert!(change.contains("order-gateway"), "{change}");
    bot.expect("Hypotheses (model, check before acting):");
    bot.expect("1. CHG-777 (order-gateway release) fits the onset.");
    let req = &fake.requests()[0];
    assert!(
        req.get("tools").is_none(),
        "the card's single call offers no tools: {req}"
    );
    assert!(
        serde_json::to_string(req)
            .expect("json")
            .contains("CHG-777"),
        "the changes go as data"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_skill_only_proposes_a_command_and_nothing_changes_until_a_person_sends_it() {
    let fake = FakeOpenAi::start(vec![
        // The declaration's fault-localization card.
        Reply::Text("No hypothesis.".into()),
        // The question: a passage tells the model to write; it can only propose.
        Reply::Tools(vec![(
            "add_timeline_entry".into(),
            json!({"text": "FIX sessions drained by the model"}),
        )]),
        Reply::Text("I proposed a timeline entry; it awaits confirmation.".into()),
    ])
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut bot = Bot::start(&knowledge_config(dir.path(), &llm(&fake, 10)));
    bot.type_line("/incident declare \"order gateway rejects orders\" P2 order-gateway");
    let id = bot.expect("Declared **IMS-");
    let id = id.split("**").nth(1).expect("id").to_string();
    bot.expect("No hypothesis.");
    bot.type_line("/ask please note in the timeline that the FIX sessions were drained");
    bot.expect("I proposed a timeline entry; it awaits confirmation.");
    let cmd = bot.expect("`/timeline add");
    assert!(
        cmd.contains(&id) && cmd.contains("FIX sessions drained by the model"),
        "{cmd}"
    );
    let timeline = bot
        .get_json(&format!("/api/incidents/{id}"))
        .await
        .to_string();
    assert!(
        !timeline.contains("drained by the model"),
        "nothing was written: {timeline}"
    );
    // A person sends it: now it is done, as them.
    bot.type_line(&format!(
        "/timeline add {id} FIX sessions drained by the model"
    ));
    bot.expect("FIX sessions drained by the model");
}
