//! Change plans through the real binary's API: import with line-numbered errors,
//! task moves with dependency rules, durability across SIGKILL, delete.

use serde_json::Value;
use warroom_tests::{config, Bot, TOKEN};

const PLAN_CSV: &str = "编号,任务,负责人,团队,计划开始,计划结束,前置,关键\n\
AC1,stop order feeds,@bob,trading,22:30,22:50,,\n\
AC2,\"drain core-sw-1, then core-sw-2\",team:net,net,22:50,23:40,AC1,yes\n\
AC3,upgrade core-sw-1,#net,net,23:40,00:30,AC2,\n";

fn url(bot: &Bot, path: &str) -> String {
    format!("{}{path}", bot.base)
}

#[tokio::test]
async fn a_plan_with_errors_is_refused_with_its_lines_and_nothing_is_stored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bot = Bot::start(&config(dir.path(), ""));
    let c = bot.http();
    let bad = "id,title,owner,start,end,depends_on\nAC1,a,@bob,22:00,23:00,AC9\nAC2,b,@bob,25:61,23:30,\n";
    let r = c
        .post(url(
            &bot,
            "/api/plans?format=csv&id=CHG-1&coordinator=carol&date=2026-11-23",
        ))
        .bearer_auth(TOKEN)
        .body(bad)
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), 422);
    let body: Value = r.json().await.expect("json");
    let reason = body["reason"].as_str().expect("reason");
    assert!(
        reason.contains("line 2") && reason.contains("AC9") && reason.contains("line 3"),
        "{reason}"
    );
    let list: Value = c
        .get(url(&bot, "/api/plans"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("req")
        .json()
        .await
        .expect("json");
    assert_eq!(list, serde_json::json!([]));
    let r = c
        .post(url(&bot, "/api/plans?format=csv"))
        .bearer_auth(TOKEN)
        .body(PLAN_CSV)
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), 400, "CSV needs the plan's id and coordinator");
    // A channel no adapter of this bot serves would drop every reminder.
    let r = c
        .post(url(
            &bot,
            "/api/plans?format=csv&id=CHG-1&coordinator=carol&date=2026-11-23&channel=slack:foo",
        ))
        .bearer_auth(TOKEN)
        .body(PLAN_CSV)
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), 422);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["error"], "bad_channel", "{body}");
}

#[tokio::test]
async fn an_imported_plan_runs_through_the_api_and_chat_and_survives_a_sigkill() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(dir.path(), "");
    let mut bot = Bot::start(&cfg);
    let c = bot.http();
    let r = c
        .post(url(&bot, "/api/plans?format=csv&id=CHG-1123&title=Core%20switch%20upgrade&coordinator=carol&channel=console:console&date=2026-11-23"))
        .bearer_auth(TOKEN)
        .header("content-type", "text/csv")
        .body(PLAN_CSV)
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), 201, "{:?}", r.text().await);
    let r = c
        .post(url(&bot, "/api/plans/CHG-1123/tasks/AC2"))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({"action": "start"}))
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), 409, "AC2 waits for AC1");
    let body: Value = r.json().await.expect("json");
    assert!(
        body["reason"].as_str().unwrap_or("").contains("AC1"),
        "{body}"
    );
    let r = c
        .post(url(&bot, "/api/plans/CHG-1123/tasks/AC1"))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({"action": "done", "by": "bob"}))
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), 200);
    bot.expect("AC2"); // "AC2 … is unblocked" in the plan's channel (the console)
    bot.type_line("/task start AC2");
    bot.expect("**AC2** drain core-sw-1, then core-sw-2");
    bot.type_line("/plan status CHG-1123");
    bot.expect("CHG-1123");
    bot.kill9();

    let bot = Bot::start(&cfg);
    let c = bot.http();
    let plan: Value = c
        .get(url(&bot, "/api/plans/CHG-1123"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("req")
        .json()
        .await
        .expect("json");
    let status = |id: &str| {
        plan["tasks"]
            .as_array()
            .and_then(|ts| ts.iter().find(|t| t["id"] == id))
            .map(|t| t["status"].clone())
    };
    assert_eq!(status("AC1"), Some(Value::from("done")));
    assert_eq!(status("AC2"), Some(Value::from("in_progress")));
    let r = c
        .post(url(&bot, "/api/plans/CHG-1123/tasks/AC1"))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({"action": "fly"}))
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), 422);
    let r = c
        .delete(url(&bot, "/api/plans/CHG-1123"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), 204);
    assert_eq!(
        c.get(url(&bot, "/api/plans/CHG-1123"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("req")
            .status(),
        404
    );
}
