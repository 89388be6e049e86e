//! Changes benchmark: the host sensor on this machine (time, snapshot size as JSON),
//! and the snapshot diff on a synthetic host with 1,000 processes and 200 config
//! files of ~5 KiB, 5% of them edited, every PID changed.
//!
//! Run: `cargo run --release -p warroom-tests --example changes_bench`

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use warroom::sensor::{collect, sha256_hex, SensorOptions};
use warroom_core::changes::{
    diff, ConfigFile, ConnSummary, Listener, Mount, Phase, Process, Snapshot,
};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn sensor() {
    let opts = SensorOptions {
        files: vec!["/etc/*.conf".into(), "/etc/**/*.cnf".into()],
        ..SensorOptions::default()
    };
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..7 {
        let t0 = Instant::now();
        let snap = collect(&opts).expect("this machine has /proc");
        times.push(t0.elapsed());
        last = Some(snap);
    }
    let Some(snap) = last else { return };
    let json = serde_json::to_vec(&snap).expect("serialises");
    let content: usize = snap
        .files
        .iter()
        .filter_map(|f| f.content.as_ref())
        .map(String::len)
        .sum();
    println!("sensor on this machine ({}):", snap.host);
    println!(
        "  {} processes, {} listeners, {} connection summaries, {} mounts, {} sysctls, {} files ({} KiB content)",
        snap.processes.len(),
        snap.listeners.len(),
        snap.connections.len(),
        snap.mounts.len(),
        snap.sysctls.len(),
        snap.files.len(),
        content / 1024
    );
    println!(
        "  collect: median {:.2} ms, min {:.2} ms over {} runs",
        ms(median(times.clone())),
        ms(times.iter().min().copied().unwrap_or_default()),
        times.len()
    );
    println!(
        "  snapshot JSON: {} bytes ({:.1} KiB)",
        json.len(),
        json.len() as f64 / 1024.0
    );
}

/// ~5 KiB of config text: 100 lines of ~50 bytes.
fn config_text(file: usize, edit: bool) -> String {
    (0..100)
        .map(|l| {
            let v = if edit && l % 25 == 7 {
                format!("{}", l * 1000 + 1)
            } else {
                format!("{}", l * 1000)
            };
            format!(
                "section{}.key_{l:03} = value-{file:03}-{v:>12} # comment\n",
                l / 10
            )
        })
        .collect()
}

fn synthetic(phase: Phase, taken_at: DateTime<Utc>, pid_base: u32, edited: bool) -> Snapshot {
    let mut s = Snapshot::new("trade-gw-01", phase, taken_at);
    let names = [
        "java",
        "nginx",
        "python3",
        "postgres",
        "envoy",
        "node",
        "sshd",
        "bash",
        "agent",
        "redis-server",
    ];
    s.processes = (0..1000u32)
        .map(|i| {
            let name = names[i as usize % names.len()];
            Process {
                name: name.into(),
                user: if i % 3 == 0 {
                    "root".into()
                } else {
                    "app".into()
                },
                cmdline: format!(
                    "/usr/bin/{name} --config /etc/{name}/{}.conf --pid {} --worker {}",
                    i % 50,
                    pid_base + i,
                    i % 200
                ),
                pid: pid_base + i,
            }
        })
        .collect();
    s.listeners = (0..60u16)
        .map(|i| Listener {
            proto: if i % 2 == 0 {
                "tcp".into()
            } else {
                "tcp6".into()
            },
            addr: "0.0.0.0".into(),
            port: if i < 50 {
                8000 + i
            } else {
                40000 + i + (pid_base / 1000 % 100) as u16
            },
            process: Some(names[i as usize % names.len()].into()),
        })
        .collect();
    s.connections = (0..200u32)
        .map(|i| ConnSummary {
            remote_addr: format!("10.0.{}.{}", i / 250, i % 250),
            remote_port_class: if i % 2 == 0 {
                "5432".into()
            } else {
                "ephemeral".into()
            },
            state: "established".into(),
            count: 10 + (i % 7) + (pid_base % 2),
        })
        .collect();
    s.mounts = (0..40)
        .map(|i| Mount {
            device: format!("/dev/sd{}", i),
            mountpoint: format!("/data/{i}"),
            fstype: "xfs".into(),
            options: "rw,noatime".into(),
        })
        .collect();
    s.sysctls = (0..30)
        .map(|i| (format!("net.core.knob{i}"), format!("{}", i * 10)))
        .collect::<BTreeMap<_, _>>();
    s.files = (0..200)
        .map(|f| {
            // 5%: every 20th file is edited in the after snapshot.
            let text = config_text(f, edited && f % 20 == 0);
            ConfigFile {
                path: format!("/etc/app/conf.d/{f:03}.conf"),
                sha256: sha256_hex(text.as_bytes()),
                content: Some(text),
                mode: "0644".into(),
                owner: "root:root".into(),
            }
        })
        .collect();
    s
}

fn diff_bench() {
    let t = |s: &str| -> DateTime<Utc> { s.parse().unwrap_or_default() };
    let a = synthetic(Phase::Before, t("2026-11-20T12:00:00Z"), 10_000, false);
    let b = synthetic(Phase::After, t("2026-11-20T12:30:00Z"), 20_000, true);
    let bytes: usize = a
        .files
        .iter()
        .filter_map(|f| f.content.as_ref())
        .map(String::len)
        .sum();
    let json = serde_json::to_vec(&a).map(|j| j.len()).unwrap_or(0);
    let d = diff(&a, &b);
    let mut times = Vec::new();
    for _ in 0..50 {
        let t0 = Instant::now();
        let d = diff(&a, &b);
        times.push(t0.elapsed());
        assert_eq!(d.files.modified.len(), 10);
    }
    println!("diff of two synthetic snapshots (1,000 processes, 200 files / {} KiB of config, 60 listeners, 200 connection summaries; every PID and the ephemeral ports changed, 10 files edited):", bytes / 1024);
    println!(
        "  snapshot JSON: {} bytes ({:.1} KiB)",
        json,
        json as f64 / 1024.0
    );
    println!(
        "  diff: median {:.2} ms, min {:.2} ms over {} runs",
        ms(median(times.clone())),
        ms(times.iter().min().copied().unwrap_or_default()),
        times.len()
    );
    let lines: usize = d.files.modified.iter().map(|f| f.diff.len()).sum();
    println!(
        "  result: {:?} (category, added, missing, modified); {} unified diff lines",
        d.summary()
            .into_iter()
            .filter(|c| c.1 + c.2 + c.3 > 0)
            .collect::<Vec<_>>(),
        lines
    );
}

fn main() {
    sensor();
    diff_bench();
}
