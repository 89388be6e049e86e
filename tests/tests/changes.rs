//! Changes through the real binary: the changes API with its 4xx reasons, the gate,
//! and `warroom sensor` posting before/after snapshots whose diff shows exactly what
//! changed.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use serde_json::{json, Value};
use warroom_tests::{binary, config, Bot, TOKEN};

async fn post(bot: &Bot, path: &str, body: Vec<u8>, ctype: &str) -> (u16, Value) {
    let r = bot
        .http()
        .post(format!("{}{path}", bot.base))
        .bearer_auth(TOKEN)
        .header("content-type", ctype)
        .body(body)
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn change(id: &str, service: &str, env: &str) -> Value {
    json!({
        "id": id, "start": "2026-11-23T19:00:00+08:00", "end": "2026-11-23T19:30:00+08:00",
        "scenario": "release", "operator": "alice", "service": service, "environment": env,
        "action": "deploy", "risk": "low", "status": "completed"
    })
}

#[tokio::test]
async fn malformed_changes_and_snapshots_get_a_4xx_with_the_reason_and_nothing_is_stored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bot = Bot::start(&config(dir.path(), ""));
    let j = "application/json";
    let (s, b) = post(&bot, "/api/changes", b"{not json".to_vec(), j).await;
    assert_eq!(s, 400, "{b}");
    assert!(b["reason"].as_str().unwrap().contains("line 1"), "{b}");
    // A bulk request with one bad change stores none of them.
    let mut bad = change("CHG-2", "payments", "prod");
    bad["sevice"] = json!("typo");
    bad["risk"] = json!("extreme");
    let body = serde_json::to_vec(&json!([change("CHG-1", "payments", "prod"), bad])).unwrap();
    let (s, b) = post(&bot, "/api/changes", body, j).await;
    assert_eq!(s, 422, "{b}");
    assert_eq!(b["error"], "invalid_change");
    let fields: Vec<&str> = b["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["field"].as_str().unwrap())
        .collect();
    assert!(
        fields.contains(&"risk") && fields.contains(&"sevice"),
        "{b}"
    );
    assert!(b["problems"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["index"] == 1));
    let listed = bot.get_json("/api/changes?last=72h").await;
    assert_eq!(listed["total"], 0, "{listed}");
    let (s, _) = post(&bot, "/api/changes", b"[]".to_vec(), j).await;
    assert_eq!(s, 422);
    let (s, b) = post(&bot, "/api/changes/check", b"[{}]".to_vec(), j).await;
    assert_eq!((s, b["error"].as_str()), (422, Some("one_change")));
    let (s, b) = post(&bot, "/api/snapshots", b"{\"host\": 3}".to_vec(), j).await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(b["error"], "invalid_snapshot");
    let future =
        json!({"format": 99, "host": "h", "phase": "before", "taken_at": "2026-11-23T00:00:00Z"});
    let (s, b) = post(
        &bot,
        "/api/snapshots",
        serde_json::to_vec(&future).unwrap(),
        j,
    )
    .await;
    assert_eq!(s, 422, "{b}");
    assert!(b["reason"].as_str().unwrap().contains("format 99"), "{b}");
    let (s, b) = bot.get("/api/changes?last=soon").await;
    assert_eq!(s, 400, "{b}");
}

#[tokio::test]
async fn changes_posted_as_ndjson_are_listed_with_their_upstream_neighbours_and_audited_checks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let services = "[[services]]\nname = \"order-router\"\nowner = \"oms\"\ndepends_on = [\"trading-db\"]\n\n[[services]]\nname = \"trading-db\"\nowner = \"dba\"\n\n[[services]]\nname = \"market-data\"\nowner = \"md\"\n";
    let bot = Bot::start(&config(dir.path(), services));
    let lines = [
        change("CHG-1", "trading-db", "prod"),
        change("CHG-2", "market-data", "prod"),
        change("CHG-3", "order-router", "uat"),
    ]
    .iter()
    .map(|c| c.to_string())
    .collect::<Vec<_>>()
    .join("\n");
    let (s, b) = post(
        &bot,
        "/api/changes",
        lines.into_bytes(),
        "application/x-ndjson",
    )
    .await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["ids"], json!(["CHG-1", "CHG-2", "CHG-3"]));
    // order-router depends on trading-db; market-data is unrelated.
    let listed = bot
        .get_json("/api/changes?service=order-router&since=2026-11-20T00:00:00Z")
        .await;
    let ids: Vec<&str> = listed["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["CHG-3", "CHG-1"], "{listed}");
    let listed = bot
        .get_json("/api/changes?service=order-router&since=2026-11-20T00:00:00Z&environment=prod")
        .await;
    assert_eq!(listed["total"], 1);
    // The gate: a database change in a far-off quiet hour still needs approval.
    let mut db = change("CHG-9", "trading-db", "prod");
    db["scenario"] = json!("database");
    db["status"] = json!("planned");
    db["start"] = json!("2026-11-28T21:00:00+08:00");
    db["end"] = json!("2026-11-28T21:30:00+08:00");
    let (s, v) = post(
        &bot,
        "/api/changes/check",
        serde_json::to_vec(&db).unwrap(),
        "application/json",
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["decision"], "needs_approval", "{v}");
    assert_eq!(v["approval"], "pending");
    assert!(
        v["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["rule"] == "scenario"),
        "{v}"
    );
    let got = bot.get_json("/api/changes/chg-9").await;
    assert_eq!(got["gate"]["approval"]["state"], "pending", "{got}");
    let trail = bot.get_json("/api/audit").await;
    let entries = trail["entries"].as_array().expect("entries");
    assert_eq!(
        entries[0]["action"], "config.loaded",
        "the trail opens with the start"
    );
    let e = &entries[1];
    assert_eq!(
        (e["action"].as_str(), e["subject"].as_str()),
        (Some("gate.check"), Some("CHG-9"))
    );
    assert_eq!(e["detail"]["decision"], "needs_approval");
}

/// A child process that listens on a TCP port once told to.
fn listener_child() -> (
    std::process::Child,
    std::process::ChildStdin,
    BufReader<std::process::ChildStdout>,
) {
    let mut child = Command::new("python3")
        .args([
            "-c",
            "import socket,sys\nprint('ready',flush=True)\nsys.stdin.readline()\ns=socket.socket()\ns.bind(('127.0.0.1',0))\ns.listen()\nprint(s.getsockname()[1],flush=True)\nsys.stdin.readline()",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    let stdin = child.stdin.take().expect("stdin");
    let stdout = BufReader::new(child.stdout.take().expect("stdout"));
    (child, stdin, stdout)
}

fn sensor(bot: &Bot, phase: &str, pid: u32, file: &std::path::Path) -> String {
    let out = Command::new(binary())
        .args([
            "sensor",
            "--server",
            &bot.base,
            "--change-id",
            "CHG-77",
            "--phase",
            phase,
        ])
        .args(["--host", "app-01", "--pid", &pid.to_string()])
        .args(["--file", &file.display().to_string()])
        .env("WARROOM_API_TOKEN", TOKEN)
        .output()
        .expect("run sensor");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "sensor failed: {stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[tokio::test]
async fn the_sensor_posts_before_and_after_snapshots_whose_diff_shows_the_new_listener_and_the_edited_file_only(
) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut bot = Bot::start(&config(dir.path(), ""));
    let conf = dir.path().join("app.conf");
    std::fs::write(&conf, "pool_size = 10\ntimeout_ms = 500\n").unwrap();
    let (mut child, mut stdin, mut stdout) = listener_child();
    // Wait until the interpreter runs (a launcher script may exec it first).
    let mut ready = String::new();
    stdout.read_line(&mut ready).unwrap();
    assert_eq!(ready.trim(), "ready");
    let line = sensor(&bot, "before", child.id(), &conf);
    assert!(line.contains("stored: app-01 before of CHG-77"), "{line}");
    // The change: the process starts listening, and the config file is edited.
    writeln!(stdin).unwrap();
    let mut port = String::new();
    stdout.read_line(&mut port).unwrap();
    let port = port.trim().to_string();
    std::fs::write(&conf, "pool_size = 50\ntimeout_ms = 500\n").unwrap();
    sensor(&bot, "after", child.id(), &conf);
    let d = bot.get_json("/api/changes/CHG-77/diff").await;
    let diff = &d["hosts"][0]["diff"];
    assert_eq!(d["hosts"].as_array().unwrap().len(), 1, "{d}");
    let added = diff["listeners"]["added"].as_array().unwrap();
    assert_eq!(added.len(), 1, "{diff}");
    assert_eq!(added[0]["port"].to_string(), port);
    let files = diff["files"]["modified"].as_array().unwrap();
    assert_eq!(files.len(), 1, "{diff}");
    assert!(
        files[0]["diff"]
            .as_array()
            .unwrap()
            .contains(&json!("+pool_size = 50")),
        "{diff}"
    );
    for category in [
        "processes",
        "connections",
        "mounts",
        "sysctls",
        "kubernetes",
    ] {
        for kind in ["added", "missing", "modified"] {
            assert_eq!(diff[category][kind], json!([]), "{category}.{kind}: {diff}");
        }
    }
    assert_eq!(diff["listeners"]["missing"], json!([]));
    assert_eq!(diff["files"]["added"], json!([]));
    // The same diff as a chat card.
    bot.type_line("/diff CHG-77");
    bot.expect(&format!("+ listener tcp 127.0.0.1:{port}"));
    bot.expect("+pool_size = 50");
    drop(stdin);
    let _ = child.wait();
}
