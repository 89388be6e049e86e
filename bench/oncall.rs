//! On-call benchmark: who-is-on-call over 1,000 schedules, and 100,000 pending
//! escalation steps (timer cost per tick and memory), on the real engine and sled store.
//!
//! Run: `cargo run --release -p warroom-tests --example oncall_bench`

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use warroom::store_sled::SledStore;
use warroom_core::calendar::Calendars;
use warroom_core::engine::{Engine, EngineConfig};
use warroom_core::event::Event;
use warroom_core::oncall::{
    Escalation, Layer, Policy, Restriction, Rotation, Schedule, Step, Target, WaitClock,
};
use warroom_core::ports::{Commit, Store};

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

fn schedule(i: usize) -> Schedule {
    let anchor = NaiveDate::from_ymd_opt(2026, 1, 5).unwrap_or_default();
    let layer = |name: &str, rotation, restriction| Layer {
        name: name.into(),
        members: (0..5).map(|m| format!("user-{i}-{m}")).collect(),
        rotation,
        handoff: NaiveTime::from_hms_opt(9, 0, 0).unwrap_or_default(),
        anchor,
        restriction,
    };
    Schedule {
        name: format!("schedule-{i}"),
        team: Some(format!("team-{}", i % 50)),
        tz: chrono_tz::Asia::Shanghai,
        layers: vec![
            layer("base", Rotation::Weekly, Restriction::Always),
            layer(
                "trading",
                Rotation::Daily,
                if i % 2 == 0 {
                    Restriction::Sessions {
                        market: "SSE".into(),
                    }
                } else {
                    Restriction::Sessions {
                        market: "SHFE".into(),
                    }
                },
            ),
        ],
        overrides: vec![],
    }
}

fn main() {
    let cal = Calendars::builtin();
    let schedules: Vec<Schedule> = (0..1000).map(schedule).collect();
    let start: DateTime<Utc> = "2026-11-23T00:00:00Z".parse().unwrap_or_default();
    // Who is on call: 1,000 schedules × 100 instants spread over two weeks.
    let t0 = Instant::now();
    let mut answered = 0usize;
    for k in 0..100 {
        let at = start + Duration::minutes(k * 197);
        for s in &schedules {
            answered += usize::from(s.on_call(at, &cal).is_some());
        }
    }
    let per = t0.elapsed().as_secs_f64() / 100_000.0;
    println!("who-is-on-call: 1,000 schedules (2 layers, session restrictions): {:.1} µs per schedule, {:.2} ms for all 1,000 ({answered} answers)", per * 1e6, per * 1e3 * 1000.0);

    // 100,000 running escalations in the store, loaded by a fresh engine.
    let dir = std::env::temp_dir().join(format!("warroom-oncall-bench-{}", std::process::id()));
    let store: Arc<dyn Store> = Arc::new(SledStore::open(&dir).expect("store"));
    let policy = Policy {
        name: "p".into(),
        steps: vec![
            Step {
                targets: vec![Target::User("u".into())],
                wait_minutes: 5
            };
            3
        ],
        repeat: 2,
        clock: WaitClock::Wall,
    };
    let t0 = Instant::now();
    for chunk in 0..100 {
        let escalations = (0..1000)
            .map(|j| {
                let n = chunk * 1000 + j;
                Escalation {
                    key: format!("IMS-20261123-{:06}/p", n + 1),
                    policy: "p".into(),
                    step: 0,
                    round: 0,
                    // Due times spread over 10 hours.
                    next_at: Some(start + Duration::milliseconds(n as i64 * 360)),
                    acked: None,
                    started_at: start,
                }
            })
            .collect();
        store
            .commit(Commit {
                escalations,
                ..Commit::default()
            })
            .expect("commit");
    }
    println!(
        "stored 100,000 escalations in {:.2} s",
        t0.elapsed().as_secs_f64()
    );
    let cfg = EngineConfig {
        policies: BTreeMap::from([("p".to_string(), policy)]),
        ..EngineConfig::default()
    };
    let before = rss_kib();
    let t0 = Instant::now();
    let mut engine = Engine::new(store.clone(), cfg).expect("engine");
    let load = t0.elapsed();
    let after = rss_kib();
    println!(
        "engine load with 100,000 pending steps: {:.0} ms, timer index + states ≈ {:.1} MiB RSS ({} running)",
        load.as_secs_f64() * 1e3,
        (after.saturating_sub(before)) as f64 / 1024.0,
        engine.running_escalations()
    );
    // Idle ticks: nothing due (the common case, once a second).
    let t0 = Instant::now();
    for _ in 0..10_000 {
        engine
            .handle(Event::Tick, start - Duration::seconds(1))
            .expect("tick");
    }
    println!(
        "idle tick with 100,000 pending: {:.2} µs",
        t0.elapsed().as_secs_f64() / 10_000.0 * 1e6
    );
    // Busy ticks: the incidents do not exist, so each due step is retired; measures index + store cost per step.
    let t0 = Instant::now();
    let mut now = start;
    let mut ticks = 0;
    while engine.running_escalations() > 0 && ticks < 10_000 {
        now += Duration::seconds(60);
        engine.handle(Event::Tick, now).expect("tick");
        ticks += 1;
    }
    println!("draining 100,000 due steps over {ticks} ticks: {:.1} µs per step (commit + flush per tick included)", t0.elapsed().as_secs_f64() / 100_000.0 * 1e6);
    drop(engine);
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}
