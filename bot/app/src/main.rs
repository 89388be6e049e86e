//! `warroom` command line: `run` (the default) and `config check`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use warroom::app::{self, RunOptions};
use warroom::config::Config;

/// mimalloc instead of glibc malloc: per-thread heaps, no arena lock between the HTTP
/// workers, the log writer and the engine (bench/alerts/README.md, throughput).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// warroom: incident-response ChatOps bot.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the bot (the default). Without --config it runs on the embedded demo defaults.
    Run {
        /// Configuration file (TOML).
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Stop when console input ends (for pipes and scripts).
        #[arg(long)]
        exit_on_eof: bool,
    },
    /// Configuration tools.
    Config {
        #[command(subcommand)]
        command: ConfigCmd,
    },
    /// Alert pipeline tools.
    Alerts {
        #[command(subcommand)]
        command: AlertsCmd,
    },
    /// Runbook and incident-history retrieval (ingest, search).
    Knowledge(warroom::knowledge_cli::KnowledgeArgs),
    /// Verify or export the hash-chained audit trail.
    Audit(warroom::audit_cli::AuditArgs),
    /// Snapshot this host (processes, ports, mounts, sysctls, config files) and post it.
    Sensor(warroom::sensor_cli::SensorArgs),
}

#[derive(Subcommand)]
enum AlertsCmd {
    /// Replay an Alertmanager webhook stream (JSONL) through the pipeline on simulated time.
    Replay {
        /// One webhook body per line, in send order (optional `x_sentAt`).
        #[arg(long)]
        input: PathBuf,
        /// One `{"alert_key","group_id"}` line per alert episode.
        #[arg(long)]
        output: PathBuf,
        /// Configuration file (`[alerts]`, `[[services]]`).
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Also write every pipeline decision (declare, attach, suppress, …) as JSON lines here.
        #[arg(long)]
        trace: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum ConfigCmd {
    /// Validate a configuration file; errors name the line and key.
    Check {
        /// The file.
        file: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sled=warn".into()),
        )
        .init();
    match cli.command.unwrap_or(Cmd::Run {
        config: None,
        exit_on_eof: false,
    }) {
        Cmd::Alerts {
            command:
                AlertsCmd::Replay {
                    input,
                    output,
                    config,
                    trace,
                },
        } => match warroom::alerts_cli::replay_traced(
            &input,
            &output,
            config.as_deref(),
            trace.as_deref(),
        ) {
            Ok(stats) => {
                eprintln!("{stats}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("warroom: {e:#}");
                ExitCode::FAILURE
            }
        },
        Cmd::Knowledge(args) => warroom::knowledge_cli::run(args),
        Cmd::Audit(args) => warroom::audit_cli::run(args),
        Cmd::Sensor(args) => match warroom::sensor_cli::run(args) {
            Ok(line) => {
                println!("{line}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("warroom sensor: {e:#}");
                ExitCode::FAILURE
            }
        },
        Cmd::Config {
            command: ConfigCmd::Check { file },
        } => match Config::load(&file) {
            Ok(_) => {
                println!("{}: ok", file.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(2)
            }
        },
        Cmd::Run {
            config,
            exit_on_eof,
        } => {
            let cfg = match config
                .as_deref()
                .map(Config::load)
                .unwrap_or_else(Config::embedded)
            {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(2);
                }
            };
            let rt = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("cannot start the runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let result = rt.block_on(async {
                let shutdown = shutdown_signal();
                let opts = RunOptions {
                    exit_on_eof,
                    config_path: config.clone(),
                };
                app::run(cfg, opts, shutdown).await
            });
            // The console's stdin reader is a blocking read that never returns on its own;
            // everything else has stopped by now, so do not wait for it.
            rt.shutdown_timeout(std::time::Duration::from_millis(200));
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("warroom: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    // Register the handlers now, not when the future is first polled: `run` polls it only
    // once start-up is done, and a SIGTERM before that would kill the process outright.
    // Must be called inside the runtime.
    #[cfg(unix)]
    let (mut int, mut term) = {
        use tokio::signal::unix::{signal, SignalKind};
        (
            signal(SignalKind::interrupt()).ok(),
            signal(SignalKind::terminate()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                // Ctrl-C.
                _ = wait(int.take()) => {}
                // systemd, docker stop, kill.
                _ = wait(term.take()) => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
