//! `warroom sensor`: takes a snapshot of this host and posts it to the bot's
//! `POST /api/snapshots` (or prints it), so a deployment pipeline can run
//! `warroom sensor --change-id CHG-1 --phase before` and again with `--phase after`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use warroom_core::changes::Phase;

use crate::sensor::{collect, SensorOptions};

/// Arguments of `warroom sensor`.
#[derive(Args, Debug)]
pub struct SensorArgs {
    /// The change the snapshot is taken for.
    #[arg(long)]
    pub change_id: Option<String>,
    /// `before` or `after` the change.
    #[arg(long, default_value = "before", value_parser = ["before", "after"])]
    pub phase: String,
    /// The catalog service this host runs.
    #[arg(long)]
    pub service: Option<String>,
    /// Host name to record (default: the kernel's host name).
    #[arg(long)]
    pub host: Option<String>,
    /// Config files to include: paths or globs (`/etc/nginx/**/*.conf`); repeatable.
    #[arg(long = "file")]
    pub files: Vec<String>,
    /// Extra sysctls to read besides the default list; repeatable.
    #[arg(long = "sysctl")]
    pub sysctls: Vec<String>,
    /// A file with `kubectl get … -o json` output.
    #[arg(long)]
    pub kubectl_json: Option<PathBuf>,
    /// A file with a database schema dump.
    #[arg(long)]
    pub db_schema: Option<PathBuf>,
    /// The bot's base URL (`http://127.0.0.1:8080`); without it the snapshot is printed.
    #[arg(long)]
    pub server: Option<String>,
    /// Environment variable holding the API token.
    #[arg(long, default_value = "WARROOM_API_TOKEN")]
    pub token_env: String,
    /// Write the snapshot JSON here as well.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Only these processes and the sockets they own (a service on a shared host); repeatable.
    #[arg(long = "pid")]
    pub pids: Vec<u32>,
    /// Seconds to wait for the server.
    #[arg(long, default_value_t = 30)]
    pub timeout: u64,
}

/// Runs `warroom sensor`; returns the line to print.
///
/// # Errors
/// /proc unreadable, the server unreachable or refusing the snapshot (its reason is
/// included), the token variable unset.
pub fn run(args: SensorArgs) -> anyhow::Result<String> {
    let mut opts = SensorOptions {
        change_id: args.change_id.clone(),
        phase: if args.phase == "after" {
            Phase::After
        } else {
            Phase::Before
        },
        service: args.service.clone(),
        host: args.host.clone(),
        files: args.files.clone(),
        kubectl_json: args.kubectl_json.clone(),
        db_schema: args.db_schema.clone(),
        ..SensorOptions::default()
    };
    opts.sysctls.extend(args.sysctls.iter().cloned());
    if !args.pids.is_empty() {
        opts.pids = Some(args.pids.iter().copied().collect());
    }
    let started = std::time::Instant::now();
    let snap = collect(&opts)?;
    let body = serde_json::to_vec(&snap)?;
    if let Some(path) = &args.output {
        std::fs::write(path, &body).with_context(|| format!("cannot write {}", path.display()))?;
    }
    let took = started.elapsed();
    let Some(server) = args.server else {
        if args.output.is_none() {
            return Ok(String::from_utf8_lossy(&body).into_owned());
        }
        return Ok(format!(
            "snapshot of {} ({} processes, {} listeners, {} files, {} bytes) written in {} ms",
            snap.host,
            snap.processes.len(),
            snap.listeners.len(),
            snap.files.len(),
            body.len(),
            took.as_millis()
        ));
    };
    let token = std::env::var(&args.token_env)
        .with_context(|| format!("set {} to the bot's API token", args.token_env))?;
    let url = format!("{}/api/snapshots", server.trim_end_matches('/'));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (status, text) = rt.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(args.timeout.max(1)))
            .build()?;
        let resp = client
            .post(&url)
            .bearer_auth(token.trim())
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .with_context(|| format!("cannot reach {url}"))?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        anyhow::Ok((status, text))
    })?;
    if !status.is_success() {
        bail!("{url} answered {status}: {}", text.trim());
    }
    let id = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v.get("id").and_then(serde_json::Value::as_u64))
        .context("the server's answer has no snapshot id")?;
    Ok(format!(
        "snapshot {id} stored: {} {}{} ({} processes, {} listeners, {} files, {} bytes, collected in {} ms)",
        snap.host,
        args.phase,
        args.change_id
            .map(|c| format!(" of {c}"))
            .unwrap_or_default(),
        snap.processes.len(),
        snap.listeners.len(),
        snap.files.len(),
        body.len(),
        took.as_millis()
    ))
}
