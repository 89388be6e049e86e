//! Discord adapter benchmark against the fake Discord on 127.0.0.1, with the release
//! binary: `cargo run --release -p warroom-tests --example discord_bench [N] [M]`.
//!
//! 1. Declaration → card latency: N (default 200) text declarations, one at a time; the
//!    time from the MESSAGE_CREATE dispatch to the fake receiving the war room's card
//!    (gateway → engine → outbox → list channels, create channel → engine → outbox → post
//!    card). p50, p99, max.
//! 2. Outbox throughput: M (default 500) `/incident status` commands dispatched at once;
//!    replies (card texts) posted per second until the last one arrives.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use warroom_tests::fake_discord::{FakeDiscord, ALICE, GENERAL};
use warroom_tests::TOKEN;

fn release_binary() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let ok = Command::new(cargo)
        .args([
            "build",
            "--release",
            "-q",
            "-p",
            "warroom",
            "--bin",
            "warroom",
        ])
        .current_dir(&root)
        .status()
        .expect("cargo runs")
        .success();
    assert!(ok, "building the release binary failed");
    std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("target"))
        .join("release")
        .join("warroom")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200);
    let m: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(500);
    let bin = release_binary();
    let fake = FakeDiscord::start(TOKEN).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = fake.config(dir.path(), "");
    let mut child = Command::new(&bin)
        .args(["run", "--config"])
        .arg(&cfg)
        .env("WARROOM_TEST_TOKEN", TOKEN)
        .env("RUST_LOG", "warn,warroom=info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start warroom");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("warroom ready") {
                let _ = tx.send(());
            }
            if line.contains("WARN") || line.contains("ERROR") {
                eprintln!("[bot] {line}");
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(30))
        .expect("the bot reports ready");
    fake.wait_ready(1).await;

    // 1. Declaration → card latency.
    let mut lat = Vec::with_capacity(n);
    let started = Instant::now();
    for i in 0..n {
        let suffix = format!("-bench-incident-{i}");
        let t0 = Instant::now();
        fake.say(
            GENERAL,
            ALICE,
            &format!("/incident declare Bench incident {i} P3 bench"),
        );
        let at = fake
            .wait_until(&format!("the card of declaration {i}"), |s| {
                let room = s
                    .channels
                    .iter()
                    .find(|c| c["name"].as_str().is_some_and(|x| x.ends_with(&suffix)))?;
                let path = format!("/channels/{}/messages", room["id"].as_str()?);
                s.requests
                    .iter()
                    .find(|r| {
                        r.method == "POST"
                            && r.path == path
                            && r.status == 200
                            && r.body.get("embeds").is_some()
                    })
                    .map(|r| r.at)
            })
            .await;
        lat.push(at.duration_since(t0));
    }
    let total = started.elapsed();
    lat.sort();
    let mean = lat.iter().sum::<Duration>() / lat.len().max(1) as u32;
    println!(
        "declare → card posted, {n} declarations one at a time ({:.1} s):",
        total.as_secs_f64()
    );
    println!(
        "  p50 {}  p99 {}  max {}  mean {}",
        ms(percentile(&lat, 0.50)),
        ms(percentile(&lat, 0.99)),
        ms(lat[lat.len() - 1]),
        ms(mean)
    );

    // 2. Outbox throughput: M replies posted in GENERAL.
    let inc = fake.with(|s| {
        s.channels
            .iter()
            .find_map(|c| {
                c["name"]
                    .as_str()
                    .filter(|x| x.ends_with("-bench-incident-0"))
                    .map(String::from)
            })
            .expect("first war room")
    });
    let id = inc
        .split('-')
        .take(3)
        .collect::<Vec<_>>()
        .join("-")
        .to_uppercase();
    let path = format!("/channels/{GENERAL}/messages");
    let before = fake.with(|s| {
        s.requests
            .iter()
            .filter(|r| r.method == "POST" && r.path == path && r.status == 200)
            .count()
    });
    let t0 = Instant::now();
    for _ in 0..m {
        fake.say(GENERAL, ALICE, &format!("/incident status {id}"));
    }
    let last = fake
        .wait_until("all status replies", |s| {
            let done: Vec<Instant> = s
                .requests
                .iter()
                .filter(|r| r.method == "POST" && r.path == path && r.status == 200)
                .map(|r| r.at)
                .collect();
            (done.len() >= before + m).then(|| done[done.len() - 1])
        })
        .await;
    let secs = last.duration_since(t0).as_secs_f64();
    println!(
        "outbox: {m} replies (rendered cards) posted in {:.2} s = {:.0} messages/s",
        secs,
        m as f64 / secs
    );
    let _ = child.kill();
    let _ = child.wait();
}
