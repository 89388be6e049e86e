//! `warroom audit verify|export`: checks the audit trail's hash chain and writes the trail
//! for auditors (one JSON record per line, with each record's `prev` and `mac`).
//!
//! The trail is read from the store of `--config`'s data directory (with the bot stopped:
//! the store admits one process) or, with `--server`, from a running bot's
//! `GET /api/audit` (bearer token from `WARROOM_API_TOKEN`). The key comes from the
//! config's `[audit].key_env` or the data directory's `audit-key` — never from the server.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use warroom_core::audit::AuditRecord;
use warroom_core::ports::Store;

use crate::config::Config;

/// `warroom audit …`.
#[derive(Args, Debug)]
pub struct AuditArgs {
    #[command(subcommand)]
    command: AuditCmd,
}

#[derive(Subcommand, Debug)]
enum AuditCmd {
    /// Check that no record was edited, deleted, inserted or reordered.
    Verify {
        #[command(flatten)]
        from: From,
    },
    /// Write the trail as JSON lines.
    Export {
        #[command(flatten)]
        from: From,
        /// Write here instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Args, Debug)]
struct From {
    /// Configuration file (data directory and `[audit]`); the embedded default otherwise.
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// A running bot's base URL, e.g. `http://127.0.0.1:8080`.
    #[arg(long)]
    server: Option<String>,
}

/// Runs the command; exit 1 when the chain is broken, 2 on other failures.
pub fn run(args: AuditArgs) -> ExitCode {
    match run_inner(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("warroom audit: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run_inner(args: AuditArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        AuditCmd::Verify { from } => {
            let cfg = config(&from)?;
            let key = key(&cfg)?;
            let records = records(&from, &cfg)?;
            let v = crate::audit_chain::verify(&records, &key);
            match v.broken {
                None => {
                    println!("audit trail intact: {} records", v.records);
                    Ok(ExitCode::SUCCESS)
                }
                Some(b) => {
                    println!("audit trail BROKEN at record {}: {}", b.seq, b.reason);
                    Ok(ExitCode::from(1))
                }
            }
        }
        AuditCmd::Export { from, out } => {
            let cfg = config(&from)?;
            let records = records(&from, &cfg)?;
            let mut w: Box<dyn Write> = match &out {
                Some(p) => Box::new(std::io::BufWriter::new(
                    std::fs::File::create(p)
                        .with_context(|| format!("creating {}", p.display()))?,
                )),
                None => Box::new(std::io::stdout().lock()),
            };
            for r in &records {
                serde_json::to_writer(&mut w, r)?;
                w.write_all(b"\n")?;
            }
            w.flush()?;
            eprintln!("{} records", records.len());
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn config(from: &From) -> anyhow::Result<Config> {
    Ok(match &from.config {
        Some(p) => Config::load(p)?,
        None => Config::embedded()?,
    })
}

/// The key, without creating one.
fn key(cfg: &Config) -> anyhow::Result<Vec<u8>> {
    if cfg.audit.key_env.is_some() {
        return crate::app::audit_key(cfg);
    }
    let path = cfg.data_dir.join("audit-key");
    match std::fs::read_to_string(&path) {
        Ok(k) if !k.trim().is_empty() => Ok(k.trim().as_bytes().to_vec()),
        _ => bail!(
            "no audit key: {} is missing and [audit].key_env is not set",
            path.display()
        ),
    }
}

fn records(from: &From, cfg: &Config) -> anyhow::Result<Vec<AuditRecord>> {
    if let Some(url) = &from.server {
        let token = std::env::var("WARROOM_API_TOKEN")
            .context("WARROOM_API_TOKEN must hold the bot's API token")?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        return rt.block_on(async {
            let r = reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()?
                .get(format!("{}/api/audit", url.trim_end_matches('/')))
                .bearer_auth(token.trim())
                .send()
                .await
                .context("reaching the bot")?;
            if !r.status().is_success() {
                bail!("GET /api/audit answered {}", r.status());
            }
            let body: serde_json::Value = r.json().await?;
            Ok(serde_json::from_value::<Vec<AuditRecord>>(
                body["entries"].clone(),
            )?)
        });
    }
    let dir = cfg.data_dir.join("store");
    let store = crate::store_sled::SledStore::open(&dir).with_context(|| {
        format!(
            "opening {} (if the bot is running, use --server URL)",
            dir.display()
        )
    })?;
    Ok(store.audit()?)
}
