//! Alert sources through the real binary: 4xx reasons, per-source auth (bearer and
//! HMAC), no acknowledged alert lost to a SIGKILL, and mail through a real SMTP client.

use chrono::Timelike;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
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

/// POSTs `body` as JSON with the API token.
async fn post_json(bot: &Bot, path: &str, body: &Value) -> (u16, Value) {
    post(
        bot,
        path,
        &serde_json::to_vec(body).expect("json"),
        &[bearer()],
    )
    .await
}

/// DELETEs `path` with the API token; the status.
async fn delete(bot: &Bot, path: &str) -> u16 {
    bot.http()
        .delete(format!("{}{path}", bot.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("delete")
        .status()
        .as_u16()
}

#[tokio::test]
async fn webhooks_refuse_bad_bodies_and_bad_credentials_with_a_reason() {
    std::env::set_var("WARROOM_TEST_GRAFANA_SECRET", "s3cret");
    let dir = tempfile::tempdir().expect("tempdir");
    let extra = format!("{FAST}\n[alerts.declare]\nseverity_map = {{ sev-zero = \"P1\" }}\n");
    let bot = Bot::start(&config(dir.path(), &extra));
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
    // An unknown severity is refused; one the deployment's severity_map adds is taken.
    let event = |sev: &str| {
        json!({"event_action": "trigger", "dedup_key": "k1",
               "payload": {"summary": "x", "severity": sev}})
    };
    let (s, b) = post_json(&bot, "/api/events", &event("bogus")).await;
    assert_eq!(s, 400, "{b}");
    let (s, b) = post_json(&bot, "/api/events", &event("Sev-Zero")).await;
    assert_eq!(s, 202, "{b}");
    // A trigger without a key is answered with the key that resolves it.
    let (s, b) = post_json(
        &bot,
        "/api/events",
        &json!({"event_action": "trigger", "payload": {"summary": "risk calc stuck", "source": "risk-01"}}),
    )
    .await;
    assert_eq!(s, 202, "{b}");
    let key = b["dedup_key"].as_str().expect("a dedup_key").to_string();
    let (s, b) = post_json(
        &bot,
        "/api/events",
        &json!({"event_action": "resolve", "dedup_key": key}),
    )
    .await;
    assert_eq!(s, 202, "{b}");
    // A body over the limit is refused in JSON, with the limit.
    let huge = vec![b' '; 5 * 1024 * 1024];
    let (s, b) = post(&bot, "/api/alerts/alertmanager", &huge, &[bearer()]).await;
    assert_eq!(s, 413, "{b}");
    assert_eq!(b["error"], "too_large", "{b}");
    assert!(
        b["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("body_limit_bytes"),
        "{b}"
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

const MAIL: &str = r#"
[alerts.route]
group_wait = "1s"
group_interval = "5s"

[alerts.email]
listen = "127.0.0.1:0"

[[alerts.email.rules]]
from = '@zabbix\.example$'
subject = '(?P<alertname>\w+) on (?P<host>[\w.-]+)'
labels = { service = "trading-db" }
severity = "P1"
"#;

/// The SMTP address the bot logged at start-up.
fn smtp_addr(bot: &mut Bot) -> String {
    let line = bot.expect_log("alert mail (SMTP) listening");
    line.split("smtp=")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string()
}

/// Sends one message with Python's `smtplib`; returns `{ok, code, reply}`.
async fn send_mail(addr: &str, date: &str) -> Value {
    let (host, port) = addr.rsplit_once(':').expect("host:port");
    let script = r#"
import json, smtplib, sys
host, port, date = sys.argv[1], int(sys.argv[2]), sys.argv[3]
msg = ("From: Zabbix <zabbix@zabbix.example>\r\nTo: warroom@ops.example\r\n"
       "Subject: Problem: DiskFull on db-01.prod\r\nDate: " + date + "\r\n"
       "Message-ID: <e2e-1@zabbix.example>\r\n\r\nFree space on /data is 3%.\r\n")
try:
    with smtplib.SMTP(host, port, timeout=20) as s:
        s.ehlo('monitor.example')
        s.mail('zabbix@zabbix.example')
        s.rcpt('warroom@ops.example')
        code, reply = s.data(msg.encode())
        print(json.dumps({'ok': code == 250, 'code': code, 'reply': reply.decode()}))
except smtplib.SMTPResponseException as e:
    print(json.dumps({'ok': False, 'code': e.smtp_code, 'reply': e.smtp_error.decode()}))
"#;
    let args = [host.to_string(), port.to_string(), date.to_string()];
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .arg("-c")
            .arg(script)
            .args(args)
            .output()
    })
    .await
    .expect("join")
    .expect("python3 runs");
    assert!(
        out.status.success(),
        "python3: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json from the script")
}

/// A hand-driven SMTP conversation: what a well-behaved client never sends.
struct Raw {
    r: BufReader<tokio::net::tcp::OwnedReadHalf>,
    w: tokio::net::tcp::OwnedWriteHalf,
}

impl Raw {
    async fn connect(addr: &str) -> Self {
        let (r, w) = tokio::net::TcpStream::connect(addr)
            .await
            .expect("connect")
            .into_split();
        Self {
            r: BufReader::new(r),
            w,
        }
    }

    /// One whole reply, all its lines.
    async fn reply(&mut self) -> String {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(
                std::time::Duration::from_secs(20),
                self.r.read_line(&mut line),
            )
            .await
            .expect("a reply in time")
            .expect("read");
            all.push_str(&line);
            if n == 0 || line.as_bytes().get(3) != Some(&b'-') {
                return all;
            }
        }
    }

    async fn cmd(&mut self, line: &str) -> String {
        self.w
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .expect("write");
        self.reply().await
    }
}

#[tokio::test]
async fn a_mail_sent_with_smtplib_becomes_an_incident_and_a_malformed_conversation_gets_5xx_reasons(
) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut bot = Bot::start(&config(dir.path(), MAIL));
    let addr = smtp_addr(&mut bot);

    // Out of order and broken input: 5xx with a reason, and no alert from it.
    let mut raw = Raw::connect(&addr).await;
    assert!(raw.reply().await.starts_with("220 "));
    let r = raw.cmd("MAIL FROM:<zabbix@zabbix.example>").await;
    assert!(r.starts_with("503 5.5.1 Bad sequence"), "{r}");
    assert!(raw.cmd("EHLO monitor.example").await.starts_with("250"));
    let r = raw.cmd("FLY me to the moon").await;
    assert!(r.starts_with("500 5.5.2 Command not recognized"), "{r}");
    assert!(raw
        .cmd("MAIL FROM:<zabbix@zabbix.example>")
        .await
        .starts_with("250 "));
    assert!(raw
        .cmd("RCPT TO:<warroom@ops.example>")
        .await
        .starts_with("250 "));
    assert!(raw.cmd("DATA").await.starts_with("354 "));
    let r = raw.cmd(".").await;
    assert!(
        r.starts_with("554 5.6.0 the message has no readable header"),
        "{r}"
    );
    assert!(raw.cmd("QUIT").await.starts_with("221"));

    // A problem mail from a monitor an hour ago (the Date header is its onset).
    let onset = chrono::Utc::now()
        .with_nanosecond(0)
        .expect("whole seconds")
        - chrono::Duration::hours(1);
    let sent = send_mail(&addr, &onset.to_rfc2822()).await;
    assert_eq!(sent["ok"], true, "{sent}");
    assert!(
        sent["reply"]
            .as_str()
            .unwrap_or_default()
            .contains("accepted as"),
        "{sent}"
    );

    // A lone P1 that has fired for an hour is declared after the group wait.
    let card = bot.expect("IMS-");
    let list = bot.get_json("/api/incidents").await;
    let incidents = list.as_array().cloned().unwrap_or_default();
    assert_eq!(incidents.len(), 1, "{card}\n{list}");
    let id = incidents[0]["id"].as_str().expect("id").to_string();
    assert!(card.contains(&id), "{card}");
    let one = bot.get_json(&format!("/api/incidents/{id}")).await;
    assert!(
        one["title"]
            .as_str()
            .unwrap_or_default()
            .contains("DiskFull on db-01.prod"),
        "{one}"
    );
    assert_eq!(
        one["milestones"]["occurred"],
        onset.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "{one}"
    );
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
        metrics.contains("warroom_alerts_received_total 1\n"),
        "only the good mail counts: {metrics}"
    );
}

/// Replaces `path` in one step (write, then rename), as editors and config managers do.
fn replace_file(path: &std::path::Path, text: &str) {
    let tmp = path.with_extension("toml.tmp");
    std::fs::write(&tmp, text).expect("write");
    std::fs::rename(&tmp, path).expect("rename");
}

fn alert(name: &str, service: &str, summary: &str) -> Value {
    json!({
        "status": "firing",
        "labels": {"alertname": name, "service": service, "severity": "critical",
                   "instance": format!("{service}-01")},
        "annotations": {"summary": summary},
        "startsAt": "2026-11-23T01:58:00Z",
    })
}

async fn metric(bot: &Bot, name: &str) -> String {
    let text = bot
        .http()
        .get(format!("{}/metrics", bot.base))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    text.lines()
        .find(|l| l.starts_with(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no {name} in {text}"))
        .to_string()
}

#[tokio::test]
async fn a_silence_added_to_the_file_of_a_running_bot_mutes_alerts_within_a_second_and_a_broken_file_keeps_the_rules(
) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = config(
        dir.path(),
        "[alerts.route]\ngroup_wait = \"1s\"\ngroup_interval = \"5s\"\n",
    );
    let base = std::fs::read_to_string(&path).expect("read");
    let mut bot = Bot::start(&path);

    // Edit the running bot's file: a maintenance silence for trading-db.
    let with_silence = format!(
        "{base}\n[[alerts.silences]]\nid = \"db-maint\"\nmatchers = ['service=\"trading-db\"']\ncomment = \"failover drill\"\n"
    );
    let edited = std::time::Instant::now();
    replace_file(&path, &with_silence);
    let line = bot.expect_log("alert rules reloaded");
    let took = edited.elapsed();
    assert!(
        line.contains("file change") && line.contains("silences=1"),
        "{line}"
    );
    assert!(
        took < std::time::Duration::from_secs(1),
        "reloaded after {took:?}"
    );

    // Two alerts of the same kind: the silenced service's is muted, the other declared.
    let body = json!({"version": "4", "status": "firing", "receiver": "warroom", "groupKey": "g",
        "alerts": [alert("ConnectionsExhausted", "trading-db", "trading-db connections exhausted"),
                   alert("ConnectionsExhausted", "payments", "payments connections exhausted")]});
    let (s, b) = post_json(&bot, "/api/alerts/alertmanager", &body).await;
    assert_eq!(s, 202, "{b}");
    let card = bot.expect("IMS-");
    let list = bot.get_json("/api/incidents").await;
    let incidents = list.as_array().cloned().unwrap_or_default();
    assert_eq!(incidents.len(), 1, "{card}\n{list}");
    let title = incidents[0]["title"].as_str().unwrap_or_default();
    assert!(title.contains("payments"), "{list}");
    assert!(
        !list.to_string().contains("trading-db connections"),
        "{list}"
    );

    // SIGHUP reloads too, with the file unchanged.
    bot.signal(1);
    let line = bot.expect_log("alert rules reloaded");
    assert!(line.contains("SIGHUP"), "{line}");

    // A broken file is refused with its line and key; the silence stays in force.
    let broken = with_silence.replace("group_wait = \"1s\"", "group_wait = \"soon\"");
    let bad_line = broken
        .lines()
        .position(|l| l.contains("\"soon\""))
        .expect("the bad line")
        + 1;
    replace_file(&path, &broken);
    let line = bot.expect_log("config reload refused");
    assert!(
        line.contains(&format!(
            "warroom.toml:{bad_line}: key `alerts.route.group_wait`"
        )),
        "{line}"
    );
    let silences = bot.get_json("/api/silences").await;
    assert!(
        silences["silences"].to_string().contains("db-maint"),
        "{silences}"
    );
    assert_eq!(
        metric(&bot, "warroom_config_reloads_total").await,
        "warroom_config_reloads_total 2"
    );
    assert_eq!(
        metric(&bot, "warroom_config_reload_failures_total").await,
        "warroom_config_reload_failures_total 1"
    );

    // Every reload, applied or refused, is in the audit trail with the file's digest or reason.
    let trail = bot.get_json("/api/audit").await;
    let of = |action: &str| -> Vec<serde_json::Value> {
        trail["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .filter(|e| e["action"] == action)
            .cloned()
            .collect()
    };
    let applied = of("config.reloaded");
    assert_eq!(applied.len(), 2, "{trail}");
    assert_eq!(applied[0]["detail"]["silences"], 1, "{trail}");
    assert_eq!(applied[1]["detail"]["trigger"], "SIGHUP", "{trail}");
    assert_eq!(
        applied[0]["detail"]["sha256"].as_str().map(str::len),
        Some(64),
        "{trail}"
    );
    let refused = of("config.reload_refused");
    assert_eq!(refused.len(), 1, "{trail}");
    assert!(
        refused[0]["detail"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("alerts.route.group_wait")),
        "{trail}"
    );
}

#[tokio::test]
async fn prometheus_can_send_straight_to_warroom_as_its_alertmanager() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::env::set_var("WARROOM_TEST_GRAFANA_SECRET", "s3cret");
    let mut bot = Bot::start(&config(dir.path(), FAST));
    // What Prometheus POSTs to <alertmanager>/api/v2/alerts: no status, no version.
    let ends = (chrono::Utc::now() + chrono::Duration::minutes(4)).to_rfc3339();
    let body = json!([{
        "labels": {"alertname": "MatchingEngineDown", "service": "matching", "severity": "critical",
                   "instance": "me-01:9100", "job": "matching"},
        "annotations": {"summary": "撮合引擎不可用 matching engine down"},
        "startsAt": "2026-11-23T01:58:00Z",
        "endsAt": ends,
        "generatorURL": "http://prometheus:9090/graph?g0.expr=up%3D%3D0"
    }]);
    let (s, b) = post_json(&bot, "/api/v2/alerts", &body).await;
    assert_eq!((s, b["accepted"].as_u64()), (202, Some(1)), "{b}");
    let (s, b) = post(&bot, "/api/v2/alerts", br#"{"alerts":[]}"#, &[bearer()]).await;
    assert_eq!(s, 400, "{b}");
    assert!(
        b["reason"]
            .as_str()
            .unwrap_or("")
            .contains("expected a list"),
        "{b}"
    );
    let (s, _) = post(&bot, "/api/v2/alerts", b"[]", &[]).await;
    assert_eq!(s, 401);
    let card = bot.expect("IMS-");
    assert!(card.contains("撮合引擎不可用"), "{card}");
    assert_eq!(
        metric(&bot, "warroom_incidents_declared_total").await,
        "warroom_incidents_declared_total 1",
        "a declaration by the pipeline counts"
    );
    assert_eq!(
        metric(&bot, "warroom_alerts_received_total").await,
        "warroom_alerts_received_total 1"
    );
}

#[tokio::test]
async fn silences_can_be_added_listed_and_expired_through_alertmanagers_api() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::env::set_var("WARROOM_TEST_GRAFANA_SECRET", "s3cret");
    let bot = Bot::start(&config(dir.path(), FAST));
    let now = chrono::Utc::now();
    // What Grafana's Alertmanager data source calls when tested (and `amtool config show`).
    let status = bot.get_json("/api/v2/status").await;
    assert_eq!(status["cluster"]["status"], "disabled", "{status}");
    let up = status["uptime"].as_str().unwrap_or_default();
    assert!(
        chrono::DateTime::parse_from_rfc3339(up).is_ok_and(|t| t <= now),
        "{status}"
    );
    assert!(status["config"]["original"].is_string(), "{status}");
    // What `amtool silence add alertname=OrderRejects service=~"order-.*"` posts.
    let body = json!({
        "matchers": [
            {"name": "alertname", "value": "OrderRejects", "isRegex": false, "isEqual": true},
            {"name": "service", "value": "order-.*", "isRegex": true}
        ],
        "startsAt": now.to_rfc3339(),
        "endsAt": (now + chrono::Duration::hours(2)).to_rfc3339(),
        "createdBy": "bob",
        "comment": "夜间变更 night change CHG-42"
    });
    let (s, b) = post_json(&bot, "/api/v2/silences", &body).await;
    assert_eq!(s, 200, "{b}");
    let id = b["silenceID"].as_str().expect("an id").to_string();
    let list = bot.get_json("/api/v2/silences").await;
    let listed = list
        .as_array()
        .and_then(|l| l.iter().find(|x| x["id"] == id.as_str()))
        .cloned()
        .unwrap_or_else(|| panic!("{id} not in {list}"));
    assert_eq!(listed["status"]["state"], "active", "{listed}");
    // One for tonight's window is pending; its updatedAt is when it was written, not
    // when its window starts.
    let tonight = now + chrono::Duration::hours(6);
    let (s, b) = post_json(
        &bot,
        "/api/v2/silences",
        &json!({
            "matchers": [{"name": "service", "value": "clearing", "isRegex": false}],
            "startsAt": tonight.to_rfc3339(),
            "endsAt": (tonight + chrono::Duration::hours(1)).to_rfc3339(),
            "createdBy": "carol", "comment": "batch window"
        }),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let pending_id = b["silenceID"].as_str().expect("an id").to_string();
    let list = bot.get_json("/api/v2/silences").await;
    let pending = list
        .as_array()
        .and_then(|l| l.iter().find(|x| x["id"] == b["silenceID"]))
        .cloned()
        .unwrap_or_else(|| panic!("{b} not in {list}"));
    let at = |k: &str| {
        pending[k]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .unwrap_or_else(|| panic!("{k} in {pending}"))
    };
    assert_eq!(pending["status"]["state"], "pending", "{pending}");
    assert!(
        at("updatedAt") >= now && at("updatedAt") < now + chrono::Duration::hours(1),
        "{pending}"
    );
    assert_eq!(at("startsAt"), tonight, "{pending}");
    assert_eq!(listed["comment"], "夜间变更 night change CHG-42");
    assert_eq!(
        listed["matchers"],
        json!([
            {"name": "alertname", "value": "OrderRejects", "isRegex": false, "isEqual": true},
            {"name": "service", "value": "order-.*", "isRegex": true, "isEqual": true}
        ])
    );
    // Our own API sees the same silence.
    let ours = bot.get_json("/api/silences").await;
    assert!(ours["silences"].to_string().contains(&id), "{ours}");
    // A matcher that matches everything is refused with the reason.
    let (s, b) = post_json(
        &bot,
        "/api/v2/silences",
        &json!({
            "matchers": [{"name": "alertname", "value": ".*", "isRegex": true}],
            "startsAt": now.to_rfc3339(), "endsAt": (now + chrono::Duration::hours(1)).to_rfc3339()
        }),
    )
    .await;
    assert_eq!(s, 400, "{b}");
    let reason = b["reason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("Cannot silence: ") && !reason.contains('{'),
        "worded as in chat, not the refusal's debug form: {b}"
    );
    let (s, b) = post(&bot, "/api/v2/silences", b"{\"matchers\": 1}", &[bearer()]).await;
    assert_eq!(
        (s, b["error"].as_str()),
        (400, Some("invalid_silence")),
        "{b}"
    );
    let (s, _) = post(&bot, "/api/v2/silences", b"{}", &[]).await;
    assert_eq!(s, 401, "behind the API token");
    // `amtool silence query alertname=OrderRejects` filters on the silences' matchers.
    let ids = |list: &Value| -> Vec<(String, String)> {
        list.as_array()
            .map(|l| {
                l.iter()
                    .map(|x| {
                        let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
                        (s(&x["id"]), s(&x["status"]["state"]))
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let found = bot
        .get_json("/api/v2/silences?filter=alertname%3D%22OrderRejects%22")
        .await;
    assert_eq!(ids(&found), vec![(id.clone(), "active".into())]);
    // Alertmanager (0.25, Debian's) lists the silences having the filter's matcher
    // itself, not those whose matcher values it would match.
    let found = bot
        .get_json("/api/v2/silences?filter=service%3D%22clearing%22")
        .await;
    assert_eq!(ids(&found), vec![(pending_id.clone(), "pending".into())]);
    let found = bot
        .get_json("/api/v2/silences?filter=service%3D~%22order-.%2A%22")
        .await;
    assert_eq!(ids(&found), vec![(id.clone(), "active".into())]);
    let found = bot
        .get_json("/api/v2/silences?filter=service%3D~%22clear.%2A%22")
        .await;
    assert_eq!(ids(&found), vec![]);
    let (s, b) = bot.get("/api/v2/silences?filter=%3D%3D").await;
    assert_eq!(
        (s, b["error"].as_str()),
        (400, Some("invalid_filter")),
        "a filter that is not a matcher: {b}"
    );
    // amtool silence expire <id>: it stays listed, expired, after the others (as in
    // Alertmanager, which keeps it until its retention ends).
    assert_eq!(delete(&bot, &format!("/api/v2/silence/{id}")).await, 200);
    let list = bot.get_json("/api/v2/silences").await;
    assert_eq!(
        ids(&list),
        vec![
            (pending_id.clone(), "pending".into()),
            (id.clone(), "expired".into())
        ]
    );
    let one = bot.get_json(&format!("/api/v2/silence/{id}")).await;
    assert_eq!(one["status"]["state"], "expired", "{one}");
    assert_eq!(one["comment"], "夜间变更 night change CHG-42", "{one}");
    let ours = bot.get_json("/api/silences").await;
    assert!(ours["ended"].to_string().contains(&id), "{ours}");
    assert!(!ours["silences"].to_string().contains(&id), "{ours}");
    // Ending it again changes nothing: Alertmanager's API answers 200, ours 409.
    assert_eq!(delete(&bot, &format!("/api/v2/silence/{id}")).await, 200);
    assert_eq!(bot.get_json(&format!("/api/v2/silence/{id}")).await, one);
    assert_eq!(delete(&bot, &format!("/api/silences/{id}")).await, 409);
    // A silence still to come ends before it began: expired at once, ended once only.
    assert_eq!(
        delete(&bot, &format!("/api/v2/silence/{pending_id}")).await,
        200
    );
    let ended = bot.get_json(&format!("/api/v2/silence/{pending_id}")).await;
    assert_eq!(ended["status"]["state"], "expired", "{ended}");
    assert_eq!(ended["startsAt"], ended["endsAt"], "{ended}");
    assert_eq!(
        delete(&bot, &format!("/api/silences/{pending_id}")).await,
        409
    );
    // Latest end first.
    let list = bot.get_json("/api/v2/silences").await;
    assert_eq!(
        ids(&list),
        vec![
            (pending_id.clone(), "expired".into()),
            (id.clone(), "expired".into())
        ]
    );
    assert_eq!(
        delete(&bot, "/api/v2/silence/S-nope").await,
        404,
        "an unknown id"
    );
    // `amtool silence update`: a later end keeps the id; other matchers end the old
    // silence and add a new one; an ended one comes back under a new id; an unknown id
    // is 404 (as Alertmanager 0.25 answers).
    let created = chrono::Utc::now();
    let body = json!({
        "matchers": [{"name": "service", "value": "margin", "isRegex": false}],
        "startsAt": created.to_rfc3339(),
        "endsAt": (created + chrono::Duration::hours(1)).to_rfc3339(),
        "createdBy": "dave", "comment": "margin run"
    });
    let (s, b) = post_json(&bot, "/api/v2/silences", &body).await;
    assert_eq!(s, 200, "{b}");
    let margin = b["silenceID"].as_str().expect("an id").to_string();
    // amtool sends back the start the bot stored (it may be a little after `created`).
    let stored = bot.get_json(&format!("/api/v2/silence/{margin}")).await;
    let start = stored["startsAt"]
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&chrono::Utc))
        .unwrap_or_else(|| panic!("{stored}"));
    let window = |id: Option<&str>, value: &str, hours: i64| {
        let mut b = json!({
            "matchers": [{"name": "service", "value": value, "isRegex": false}],
            "startsAt": start.to_rfc3339(),
            "endsAt": (start + chrono::Duration::hours(hours)).to_rfc3339(),
            "createdBy": "dave", "comment": "margin run"
        });
        if let Some(id) = id {
            b["id"] = json!(id);
        }
        b
    };
    let (s, b) = post_json(
        &bot,
        "/api/v2/silences",
        &window(Some(&margin), "margin", 3),
    )
    .await;
    assert_eq!(
        (s, b["silenceID"].as_str()),
        (200, Some(margin.as_str())),
        "{b}"
    );
    let one = bot.get_json(&format!("/api/v2/silence/{margin}")).await;
    let end = chrono::DateTime::parse_from_rfc3339(one["endsAt"].as_str().unwrap_or_default());
    assert_eq!(
        end.ok(),
        Some((start + chrono::Duration::hours(3)).fixed_offset())
    );
    let (s, b) = post_json(
        &bot,
        "/api/v2/silences",
        &window(Some(&margin), "margin-calc", 3),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let calc = b["silenceID"].as_str().expect("an id").to_string();
    assert_ne!(calc, margin);
    let state = |x: Value| {
        x["status"]["state"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(
        state(bot.get_json(&format!("/api/v2/silence/{margin}")).await),
        "expired"
    );
    assert_eq!(
        state(bot.get_json(&format!("/api/v2/silence/{calc}")).await),
        "active"
    );
    let (s, b) = post_json(
        &bot,
        "/api/v2/silences",
        &window(Some(&margin), "margin", 2),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let again = b["silenceID"].as_str().expect("an id").to_string();
    assert!(again != margin && again != calc, "{again}");
    assert_eq!(
        state(bot.get_json(&format!("/api/v2/silence/{margin}")).await),
        "expired"
    );
    assert_eq!(
        state(bot.get_json(&format!("/api/v2/silence/{calc}")).await),
        "active",
        "bringing back an ended silence leaves the others be"
    );
    let (s, b) = post_json(
        &bot,
        "/api/v2/silences",
        &window(Some("S-nope"), "margin", 2),
    )
    .await;
    assert_eq!((s, b["error"].as_str()), (404, Some("not_found")), "{b}");
}

#[tokio::test]
async fn the_alerts_firing_now_are_listed_as_alertmanagers_api_lists_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Grouped by service; the database's alerts go to the DBAs.
    let routes = "[alerts.route]\ngroup_wait = \"1s\"\ngroup_interval = \"5s\"\ngroup_by = [\"service\"]\n\n[[alerts.route.routes]]\nreceiver = \"dba\"\nmatchers = ['service=\"trading-db\"']\n";
    let bot = Bot::start(&config(dir.path(), routes));
    let now = chrono::Utc::now().to_rfc3339();
    let firing = |name: &str, service: &str, severity: &str| {
        json!({"status": "firing", "startsAt": now,
               "labels": {"alertname": name, "service": service, "severity": severity},
               "annotations": {"summary": format!("{name} on {service}")}})
    };
    let body = json!({"version": "4", "status": "firing", "receiver": "warroom", "alerts": [
        firing("DBConnectionsExhausted", "trading-db", "critical"),
        firing("HighLatency", "order-router", "warning"),
    ]});
    let (s, b) = post_json(&bot, "/api/alerts/alertmanager", &body).await;
    assert_eq!(s, 202, "{b}");
    // (alertname, state, silencedBy) of each listed alert.
    let listed = |v: &Value| -> Vec<(String, String, String)> {
        v.as_array()
            .map(|l| {
                l.iter()
                    .map(|a| {
                        let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
                        (
                            s(&a["labels"]["alertname"]),
                            s(&a["status"]["state"]),
                            a["status"]["silencedBy"].to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let row =
        |name: &str, state: &str, by: &str| (name.to_string(), state.to_string(), by.to_string());
    assert_eq!(
        listed(&bot.get_json("/api/v2/alerts").await),
        vec![
            row("DBConnectionsExhausted", "active", "[]"),
            row("HighLatency", "active", "[]")
        ]
    );
    // `amtool silence add service=order-router`: `amtool alert query` shows it at once.
    let (s, b) = post_json(
        &bot,
        "/api/v2/silences",
        &json!({
            "matchers": [{"name": "service", "value": "order-router", "isRegex": false}],
            "startsAt": now,
            "endsAt": (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339(),
            "createdBy": "bob", "comment": "known slowness"
        }),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let silence = b["silenceID"].as_str().expect("an id").to_string();
    let by = format!("[\"{silence}\"]");
    assert_eq!(
        listed(&bot.get_json("/api/v2/alerts").await),
        vec![
            row("DBConnectionsExhausted", "active", "[]"),
            row("HighLatency", "suppressed", &by)
        ]
    );
    assert_eq!(
        listed(
            &bot.get_json("/api/v2/alerts?filter=service%3D%22trading-db%22")
                .await
        ),
        vec![row("DBConnectionsExhausted", "active", "[]")]
    );
    assert_eq!(
        listed(&bot.get_json("/api/v2/alerts?silenced=false").await),
        vec![row("DBConnectionsExhausted", "active", "[]")]
    );
    assert_eq!(
        listed(&bot.get_json("/api/v2/alerts?active=false").await),
        vec![row("HighLatency", "suppressed", &by)]
    );
    let (s, b) = bot.get("/api/v2/alerts?filter=%3D%3D").await;
    assert_eq!(
        (s, b["error"].as_str()),
        (400, Some("invalid_filter")),
        "{b}"
    );
    // Each alert names the receivers of the routes that take it; `receiver` is a regular
    // expression on the whole name (`amtool alert query --receiver`).
    let receivers = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .map(|a| format!("{}:{}", a["labels"]["alertname"], a["receivers"]))
            .collect()
    };
    assert_eq!(
        receivers(&bot.get_json("/api/v2/alerts").await),
        vec![
            r#""DBConnectionsExhausted":[{"name":"dba"}]"#,
            r#""HighLatency":[{"name":"default"}]"#
        ]
    );
    assert_eq!(
        listed(&bot.get_json("/api/v2/alerts?receiver=db.").await),
        vec![row("DBConnectionsExhausted", "active", "[]")]
    );
    assert!(listed(&bot.get_json("/api/v2/alerts?receiver=db").await).is_empty());
    let (s, b) = bot.get("/api/v2/alerts?receiver=%28").await;
    assert_eq!(
        (s, b["error"].as_str()),
        (400, Some("invalid_receiver")),
        "{b}"
    );
    // By group, as Grafana's alert groups view reads them: labels, receiver, alerts.
    let groups = |v: &Value| -> Vec<(String, String, Vec<(String, String, String)>)> {
        v.as_array()
            .into_iter()
            .flatten()
            .map(|g| {
                (
                    g["labels"].to_string(),
                    g["receiver"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    listed(&g["alerts"]),
                )
            })
            .collect()
    };
    assert_eq!(
        groups(&bot.get_json("/api/v2/alerts/groups").await),
        vec![
            (
                r#"{"service":"order-router"}"#.to_string(),
                "default".to_string(),
                vec![row("HighLatency", "suppressed", &by)]
            ),
            (
                r#"{"service":"trading-db"}"#.to_string(),
                "dba".to_string(),
                vec![row("DBConnectionsExhausted", "active", "[]")]
            ),
        ]
    );
    assert_eq!(
        groups(
            &bot.get_json("/api/v2/alerts/groups?silenced=false&receiver=default")
                .await
        ),
        vec![],
        "a group left with no alert is not listed"
    );
    let r = bot
        .http()
        .get(format!("{}/api/v2/alerts", bot.base))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status().as_u16(), 401, "behind the API token");
}
