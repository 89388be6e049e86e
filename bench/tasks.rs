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
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0)
}

fn plan(i: usize, start: DateTime<Utc>) -> tasks::Plan {
    let teams = ["ops", "net", "dba", "app", "qa"];
    let tasks = (0..100)
        .map(|j| {
            let s = start + Duration::minutes((j as i64 % 50) * 6);
            let mut d = TaskDraft::new(j + 2, &format!("AC{}", j + 1), &format!("step {j}"), Owner::Team(teams[j % 5].into())).team(teams[j % 5]).window(s, s + Duration::minutes(20));
            if j % 10 != 0 {
                d = d.after(&[&format!("AC{j}")]);
            }
            d
        })
        .collect();
    let draft = PlanDraft { id: format!("CHG-{i:04}"), title: format!("plan {i}"), kind: PlanKind::ChangePlan, coordinator: format!("coord-{i}"), channel: Some("console:ops".into()), created_at: start, tasks };
    tasks::Plan::validate(draft).expect("valid plan")
}

fn main() {
    let start: DateTime<Utc> = "2026-11-23T14:00:00Z".parse().unwrap_or_default();
    let dir = std::env::temp_dir().join(format!("warroom-tasks-bench-{}", std::process::id()));
    let store: Arc<dyn Store> = Arc::new(SledStore::open(&dir).expect("store"));
    let t0 = Instant::now();
    let plans: Vec<tasks::Plan> = (0..1000).map(|i| plan(i, start)).collect();
    println!("built and validated 1,000 plans / 100,000 tasks in {:.2} s", t0.elapsed().as_secs_f64());
    let t0 = Instant::now();
    for chunk in plans.chunks(100) {
        store.commit(Commit { plans: chunk.to_vec(), ..Commit::default() }).expect("commit");
    }
    println!("stored them in {:.2} s", t0.elapsed().as_secs_f64());
    drop(plans);
    let before = rss_kib();
    let t0 = Instant::now();
    let mut engine = Engine::new(store.clone(), EngineConfig::default()).expect("engine");
    println!("engine load: {:.0} ms, +{:.1} MiB RSS for 100,000 tasks", t0.elapsed().as_secs_f64() * 1e3, rss_kib().saturating_sub(before) as f64 / 1024.0);

    // Mid-night: windows have closed for ~60% of the tasks and none is done, so
    // every team of every plan is late. The first tick posts every digest.
    let mut now = start + Duration::hours(3);
    engine.handle(Event::Tick, now).expect("tick");
    let t0 = Instant::now();
    let first = engine.handle(Event::Tick, now + Duration::seconds(1)).expect("tick");
    println!("first busy tick: {:.1} ms, {} actions", t0.elapsed().as_secs_f64() * 1e3, first.actions.len());
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
    drop(engine);
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}
