//! Task benchmark: 100,000 tasks across 1,000 plans — the per-tick cost of overdue
//! detection (reminders, digests, coordinator escalation) and memory, on the real
//! engine and sled store.
//!
//! Run: `cargo run --release -p warroom-tests --example tasks_bench`

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use warroom::store_sled::SledStore;
use warroom_core::engine::{Engine, EngineConfig};
use warroom_core::event::Event;
use warroom_core::ports::{Commit, Store};
use warroom_core::tasks::{self, Owner, PlanDraft, PlanKind, TaskDraft};

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn plan(i: usize, start: DateTime<Utc>) -> tasks::Plan {
    let teams = ["ops", "net", "dba", "app", "qa"];
    let tasks = (0..100)
        .map(|j| {
            let s = start + Duration::minutes((j as i64 % 50) * 6);
            let mut d = TaskDraft::new(
                j + 2,
                &format!("AC{}", j + 1),
                &format!("step {j}"),
                Owner::Team(teams[j % 5].into()),
            )
            .team(teams[j % 5])
            .window(s, s + Duration::minutes(20));
            if j % 10 != 0 {
                d = d.after(&[&format!("AC{j}")]);
            }
            d
        })
        .collect();
    let draft = PlanDraft {
        id: format!("CHG-{i:04}"),
        title: format!("plan {i}"),
        kind: PlanKind::ChangePlan,
        coordinator: format!("coord-{i}"),
        channel: Some("console:ops".into()),
        created_at: start,
        tasks,
    };
    tasks::Plan::validate(draft).expect("valid plan")
}

fn main() {
    let start: DateTime<Utc> = "2026-11-23T14:00:00Z".parse().unwrap_or_default();
    let args: Vec<String> = std::env::args().collect();
    if args.len() == 3 && args[1] == "--load" {
        return load_and_tick(std::path::Path::new(&args[2]), start);
    }
    let dir = std::env::temp_dir().join(format!("warroom-tasks-bench-{}", std::process::id()));
    {
        let store: Arc<dyn Store> = Arc::new(SledStore::open(&dir).expect("store"));
        let t0 = Instant::now();
        let plans: Vec<tasks::Plan> = (0..1000).map(|i| plan(i, start)).collect();
        println!(
            "built and validated 1,000 plans / 100,000 tasks in {:.2} s",
            t0.elapsed().as_secs_f64()
        );
        let t0 = Instant::now();
        for chunk in plans.chunks(100) {
            store
                .commit(Commit {
                    plans: chunk.to_vec(),
                    ..Commit::default()
                })
                .expect("commit");
        }
        println!("stored them in {:.2} s", t0.elapsed().as_secs_f64());
    }
    // Load in a fresh process, so its memory figure is the engine's own.
    let status = std::process::Command::new(&args[0])
        .arg("--load")
        .arg(&dir)
        .status()
        .expect("re-run");
    assert!(status.success());
    let _ = std::fs::remove_dir_all(&dir);
}

fn load_and_tick(dir: &std::path::Path, start: DateTime<Utc>) {
    let store: Arc<dyn Store> = Arc::new(SledStore::open(dir).expect("store"));
    let before = rss_kib();
    let t0 = Instant::now();
    let mut engine = Engine::new(store.clone(), EngineConfig::default()).expect("engine");
    println!(
        "engine load: {:.0} ms; RSS {:.1} MiB before, {:.1} MiB after (+{:.1} MiB for 100,000 tasks, sled cache included)",
        t0.elapsed().as_secs_f64() * 1e3,
        before as f64 / 1024.0,
        rss_kib() as f64 / 1024.0,
        rss_kib().saturating_sub(before) as f64 / 1024.0
    );
    // Mid-night: ~60% of the windows have closed and nothing is done, so every team of
    // every plan is late: the first tick posts every digest and escalation.
    let mut now = start + Duration::hours(3);
    let t0 = Instant::now();
    let first = engine.handle(Event::Tick, now).expect("tick");
    println!(
        "busy tick (every digest and escalation posted, one commit): {:.1} ms, {} actions",
        t0.elapsed().as_secs_f64() * 1e3,
        first.actions.len()
    );
    // Steady state: once a second, nothing changes (the common case): no message, no write.
    let mut total = std::time::Duration::ZERO;
    let n = 50;
    for _ in 0..n {
        now += Duration::seconds(1);
        let t0 = Instant::now();
        let out = engine.handle(Event::Tick, now).expect("tick");
        total += t0.elapsed();
        assert!(out.actions.is_empty(), "an unchanged state posts nothing");
    }
    println!("steady tick over 100,000 tasks / 1,000 plans (overdue detection, digests, reminders): {:.2} ms per tick", total.as_secs_f64() / n as f64 * 1e3);
}
