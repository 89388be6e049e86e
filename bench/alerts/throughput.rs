//! Alert ingestion throughput over HTTP on loopback, side by side with Prometheus
//! Alertmanager fed the same alerts.
//!
//! Starts the real `warroom` binary (its own data directory: the alert log is durable,
//! every 202 comes after a flush) and `alertmanager` (its own storage path, a
//! receiver that sends nowhere), then for each batch size (alerts per request) and
//! each number of concurrent clients posts for a fixed time and counts the alerts
//! acknowledged with a 2xx. warroom gets Alertmanager webhook v4 bodies
//! (`POST /api/alerts/alertmanager`), Alertmanager the same alerts as its own API
//! (`POST /api/v2/alerts`). The alerts come from a fixed estate (services,
//! instances, alert names), so, as in production, most are re-sends of alerts the
//! servers already hold. `drain s` is how long warroom's pipeline (the engine, behind
//! the durable log) needed after the load to take every acknowledged alert.
//!
//! Run: `bench/alerts/throughput.sh` (builds, then runs this with the release binary), or
//! `cargo run --release -p warroom-tests --example alerts_throughput -- \
//!    --warroom target/release/warroom --alertmanager /usr/bin/prometheus-alertmanager`
//! Options: `--clients 1,8,64 --batches 1,10 --seconds 5 --estate 20000 --warroom-api webhook`.
//! `--warroom-api v2` sends warroom the very bodies Alertmanager gets, to its
//! `POST /api/v2/alerts` (what Prometheus sends an Alertmanager).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const TOKEN: &str = "bench-token-0123456789";

struct Opts {
    warroom: PathBuf,
    alertmanager: Option<PathBuf>,
    clients: Vec<usize>,
    batches: Vec<usize>,
    seconds: f64,
    estate: usize,
    /// `webhook` (Alertmanager webhook v4 bodies) or `v2` (the Alertmanager API bodies).
    warroom_api: String,
}

fn opts() -> Opts {
    let mut o = Opts {
        warroom: PathBuf::from("target/release/warroom"),
        alertmanager: Some(PathBuf::from("/usr/bin/prometheus-alertmanager")),
        clients: vec![1, 8, 64],
        batches: vec![1, 10],
        seconds: 5.0,
        estate: 20_000,
        warroom_api: "webhook".into(),
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let list = |s: &str| -> Vec<usize> {
        s.split(',')
            .map(|x| x.trim().parse().expect("a list of numbers"))
            .collect()
    };
    let mut i = 0;
    while i < args.len() {
        let v = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--warroom" => o.warroom = v.into(),
            "--alertmanager" if v == "none" => o.alertmanager = None,
            "--alertmanager" => o.alertmanager = Some(v.into()),
            "--clients" => o.clients = list(&v),
            "--batches" => o.batches = list(&v),
            "--seconds" => o.seconds = v.parse().expect("seconds"),
            "--estate" => o.estate = v.parse().expect("estate size"),
            "--warroom-api" if v == "webhook" || v == "v2" => o.warroom_api = v,
            other => panic!("unknown option {other}"),
        }
        i += 2;
    }
    o
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A server process, killed on drop.
struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn wait_until_up(url: &str, what: &str) {
    let c = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = c.get(url).send().await {
            if r.status().is_success() {
                return;
            }
        }
        assert!(Instant::now() < deadline, "{what} did not come up at {url}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn start_warroom(bin: &Path, dir: &Path) -> Server {
    let port = free_port();
    std::fs::create_dir_all(dir).expect("bench dir");
    let cfg = dir.join("warroom.toml");
    std::fs::write(
        &cfg,
        format!(
            "[general]\ndata_dir = \"{}\"\n\n[http]\naddr = \"127.0.0.1:{port}\"\ntoken_env = \"WARROOM_BENCH_TOKEN\"\n\n[console]\nenabled = false\n",
            dir.join("data").display()
        ),
    )
    .expect("write config");
    let child = Command::new(bin)
        .args(["run", "--config"])
        .arg(&cfg)
        .env("WARROOM_BENCH_TOKEN", TOKEN)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(
            std::fs::File::create(dir.join("warroom.log")).expect("log file"),
        ))
        .spawn()
        .expect("start warroom");
    let base = format!("http://127.0.0.1:{port}");
    let s = Server { child, base };
    wait_until_up(&format!("{}/readyz", s.base), "warroom").await;
    s
}

async fn start_alertmanager(bin: &Path, dir: &Path) -> Server {
    let port = free_port();
    std::fs::create_dir_all(dir).expect("bench dir");
    let cfg = dir.join("alertmanager.yml");
    std::fs::write(
        &cfg,
        "route:\n  receiver: nowhere\n  group_by: [alertname, service]\n  group_wait: 30s\n  group_interval: 5m\n  repeat_interval: 4h\nreceivers:\n  - name: nowhere\n",
    )
    .expect("write config");
    std::fs::create_dir_all(dir.join("am-data")).expect("storage dir");
    let child = Command::new(bin)
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!("--storage.path={}", dir.join("am-data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .arg("--log.level=warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(
            std::fs::File::create(dir.join("alertmanager.log")).expect("log file"),
        ))
        .spawn()
        .expect("start alertmanager");
    let base = format!("http://127.0.0.1:{port}");
    let s = Server { child, base };
    wait_until_up(&format!("{}/-/ready", s.base), "alertmanager").await;
    s
}

/// Alert `i` of the estate: 40 services × 25 alert names × instances.
fn alert(i: usize, starts: &str) -> Value {
    const NAMES: [&str; 25] = [
        "HighLatency",
        "HighErrorRate",
        "CPUThrottling",
        "MemoryPressure",
        "DiskFull",
        "DiskIOSaturated",
        "PodCrashLooping",
        "PodNotReady",
        "NodeNotReady",
        "ReplicationLag",
        "ConnectionsExhausted",
        "QueueBacklog",
        "ConsumerLag",
        "CertificateExpiring",
        "TargetDown",
        "SLOBurnRateFast",
        "SLOBurnRateSlow",
        "GCPauseLong",
        "ThreadPoolSaturated",
        "CacheHitRateLow",
        "Http5xxSpike",
        "OrderRejectSpike",
        "MarketDataStale",
        "ClockSkew",
        "PacketLoss",
    ];
    let service = format!("svc-{:02}", i % 40);
    let name = NAMES[(i / 40) % NAMES.len()];
    let instance = format!("{service}-{:03}", i / 1000);
    let severity = match i % 10 {
        0 => "critical",
        1..=3 => "warning",
        _ => "info",
    };
    json!({
        "labels": {
            "alertname": name,
            "service": service,
            "instance": instance,
            "job": "node",
            "severity": severity,
            "env": "prod",
        },
        "annotations": {
            "summary": format!("{name} on {instance}"),
            "description": format!("{name} has been firing on {instance} of {service} for 5 minutes; see the dashboard."),
        },
        "startsAt": starts,
        "generatorURL": format!("http://prometheus.example:9090/graph?g0.expr=up%7Binstance%3D%22{instance}%22%7D"),
    })
}

/// Request bodies for warroom (webhook v4) and Alertmanager (API v2), same alerts.
fn bodies(estate: usize, batch: usize) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let starts = (chrono::Utc::now() - chrono::Duration::minutes(10))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut wr = Vec::new();
    let mut am = Vec::new();
    let n = estate.div_ceil(batch);
    for b in 0..n {
        let alerts: Vec<Value> = (0..batch)
            .map(|k| alert((b * batch + k) % estate, &starts))
            .collect();
        let webhook_alerts: Vec<Value> = alerts
            .iter()
            .map(|a| {
                let mut a = a.clone();
                a["status"] = json!("firing");
                a["endsAt"] = json!("0001-01-01T00:00:00Z");
                a
            })
            .collect();
        let webhook = json!({
            "version": "4",
            "groupKey": format!("{{}}:{{alertname=\"{}\"}}", alerts[0]["labels"]["alertname"]),
            "truncatedAlerts": 0,
            "status": "firing",
            "receiver": "warroom",
            "groupLabels": {"alertname": alerts[0]["labels"]["alertname"]},
            "commonLabels": {"env": "prod"},
            "commonAnnotations": {},
            "externalURL": "http://alertmanager.example:9093",
            "alerts": webhook_alerts,
        });
        wr.push(serde_json::to_vec(&webhook).expect("json"));
        am.push(serde_json::to_vec(&alerts).expect("json"));
    }
    (wr, am)
}

#[derive(Clone, Copy, Default)]
struct Figures {
    alerts_per_s: f64,
    requests_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: u64,
}

/// `clients` loops posting `bodies` to `url` for `seconds` (after a short warm-up).
async fn load(
    url: &str,
    auth: Option<&str>,
    bodies: Arc<Vec<Vec<u8>>>,
    batch: usize,
    clients: usize,
    seconds: f64,
) -> Figures {
    let warm = Duration::from_millis(500);
    let run = Duration::from_secs_f64(seconds);
    let start = Instant::now();
    let ok = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(1)
            .build()
            .expect("client");
        let url = url.to_string();
        let auth = auth.map(str::to_string);
        let (bodies, ok, errors, next) = (bodies.clone(), ok.clone(), errors.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let now = start.elapsed();
                if now >= warm + run {
                    return lat;
                }
                let i = next.fetch_add(1, Ordering::Relaxed) as usize % bodies.len();
                let mut r = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(bodies[i].clone());
                if let Some(a) = &auth {
                    r = r.bearer_auth(a);
                }
                let t0 = Instant::now();
                let res = r.send().await;
                let took = t0.elapsed();
                let counted = now >= warm && start.elapsed() <= warm + run;
                match res {
                    Ok(resp) if resp.status().is_success() => {
                        let _ = resp.bytes().await;
                        if counted {
                            ok.fetch_add(1, Ordering::Relaxed);
                            lat.push(took);
                        }
                    }
                    Ok(resp) => {
                        if counted {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                        let status = resp.status();
                        let text = resp.text().await.unwrap_or_default();
                        eprintln!(
                            "{url}: {status} {}",
                            text.chars().take(200).collect::<String>()
                        );
                    }
                    Err(e) => {
                        if counted {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                        eprintln!("{url}: {e}");
                    }
                }
            }
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.expect("client task"));
    }
    lat.sort();
    let q = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1e3)
    };
    let reqs = ok.load(Ordering::Relaxed) as f64;
    Figures {
        alerts_per_s: reqs * batch as f64 / seconds,
        requests_per_s: reqs / seconds,
        p50_ms: q(0.5),
        p99_ms: q(0.99),
        errors: errors.load(Ordering::Relaxed),
    }
}

/// A counter from warroom's `/metrics` (`None` when this build has no such counter).
async fn counter(base: &str, name: &str) -> Option<u64> {
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
}

/// Seconds after the load until warroom's pipeline has taken every logged alert.
async fn drain(base: &str) -> f64 {
    let t0 = Instant::now();
    loop {
        let received = counter(base, "warroom_alerts_received_total").await;
        let Some(taken) = counter(base, "warroom_alerts_pipelined_total").await else {
            return f64::NAN;
        };
        if Some(taken) >= received || t0.elapsed() > Duration::from_secs(300) {
            return t0.elapsed().as_secs_f64();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::main]
async fn main() {
    let o = opts();
    let dir = tempfile::tempdir().expect("tempdir");
    let wr = start_warroom(&o.warroom, &dir.path().join("warroom")).await;
    let am = match &o.alertmanager {
        Some(bin) => Some(start_alertmanager(bin, &dir.path().join("am")).await),
        None => None,
    };
    println!(
        "alert ingestion over HTTP on loopback, {} s per cell, estate of {} distinct alerts, warroom fed {}, {} cores",
        o.seconds,
        o.estate,
        if o.warroom_api == "v2" {
            "the same Alertmanager API bodies (/api/v2/alerts)"
        } else {
            "Alertmanager webhook v4 bodies"
        },
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "{:>5} {:>7} | {:>12} {:>9} {:>8} {:>8} {:>7} | {:>12} {:>9} {:>8} {:>8} | {:>6}",
        "batch",
        "clients",
        "warroom a/s",
        "req/s",
        "p50 ms",
        "p99 ms",
        "drain s",
        "AM a/s",
        "req/s",
        "p50 ms",
        "p99 ms",
        "ratio"
    );
    for &batch in &o.batches {
        let (wb, ab) = bodies(o.estate, batch);
        let (wb, ab) = (Arc::new(wb), Arc::new(ab));
        let (path, wb) = if o.warroom_api == "v2" {
            ("/api/v2/alerts", ab.clone())
        } else {
            ("/api/alerts/alertmanager", wb)
        };
        for &clients in &o.clients {
            let w = load(
                &format!("{}{path}", wr.base),
                Some(TOKEN),
                wb.clone(),
                batch,
                clients,
                o.seconds,
            )
            .await;
            let drained = drain(&wr.base).await;
            let a = match &am {
                Some(am) => {
                    load(
                        &format!("{}/api/v2/alerts", am.base),
                        None,
                        ab.clone(),
                        batch,
                        clients,
                        o.seconds,
                    )
                    .await
                }
                None => Figures::default(),
            };
            let ratio = if a.alerts_per_s > 0.0 {
                format!("{:.2}x", w.alerts_per_s / a.alerts_per_s)
            } else {
                "-".into()
            };
            println!(
                "{:>5} {:>7} | {:>12.0} {:>9.0} {:>8.2} {:>8.2} {:>7.2} | {:>12.0} {:>9.0} {:>8.2} {:>8.2} | {:>6}",
                batch,
                clients,
                w.alerts_per_s,
                w.requests_per_s,
                w.p50_ms,
                w.p99_ms,
                drained,
                a.alerts_per_s,
                a.requests_per_s,
                a.p50_ms,
                a.p99_ms,
                ratio
            );
            if w.errors + a.errors > 0 {
                println!(
                    "      errors: warroom {}, alertmanager {}",
                    w.errors, a.errors
                );
            }
        }
    }
    // The pipeline behind the log: how far the engine got (alerts it has taken).
    if let Ok(r) = reqwest::get(format!("{}/metrics", wr.base)).await {
        let text = r.text().await.unwrap_or_default();
        for l in text.lines().filter(|l| {
            l.starts_with("warroom_alerts_received_total")
                || l.starts_with("warroom_alerts_pipelined_total")
                || l.starts_with("warroom_incidents_declared_total")
                || l.starts_with("warroom_engine_event_seconds_count")
        }) {
            println!("warroom {l}");
        }
    }
}
