//! `warroom knowledge ingest|search|status`: the command line of the knowledge base
//! (`warroom-knowledge`), for operators and for evaluation.
//!
//! Settings come from the `[knowledge]` table (and `general.data_dir`) of `--config` when
//! given, then from flags. `search --batch` reads `{"id","query"}` lines and writes
//! `{"id","ranked","abstain"}` lines, the run format of the retrieval scorer.

use std::io::{BufRead, BufReader, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use serde_json::json;
use warroom_knowledge::config::EmbedderKind;
use warroom_knowledge::{
    DocKind, Fusion, IngestProgress, Knowledge, KnowledgeConfig, SearchAnswer, SearchOptions,
};

/// `warroom knowledge …`.
#[derive(Args, Debug)]
pub struct KnowledgeArgs {
    #[command(subcommand)]
    command: KnowledgeCmd,
}

#[derive(Subcommand, Debug)]
enum KnowledgeCmd {
    /// Index runbooks (Markdown, plain text) under the given directories; unchanged files are
    /// skipped, deleted ones removed.
    Ingest {
        #[command(flatten)]
        common: Common,
        /// Rebuild the whole index with the configured embedder first (after a model change).
        #[arg(long)]
        reindex: bool,
        /// Directories to index (document ids are paths relative to each).
        dirs: Vec<PathBuf>,
    },
    /// Search the index.
    Search {
        #[command(flatten)]
        common: Common,
        /// Print JSON (one object; with --batch, one line per query).
        #[arg(long)]
        json: bool,
        /// Number of documents.
        #[arg(short, long, default_value_t = 5)]
        k: usize,
        /// Only runbooks of these services (repeatable).
        #[arg(long)]
        service: Vec<String>,
        /// Search resolved incidents too.
        #[arg(long)]
        history: bool,
        /// Abstention threshold (0..1), instead of the configured one.
        #[arg(long)]
        threshold: Option<f32>,
        /// Rank fusion: `convex:A` (A = dense share, the default 0.5), `blend:W` (W = dense weight) or `rrf:K`.
        #[arg(long, value_parser = parse_fusion)]
        fusion: Option<Fusion>,
        /// Read `{"id","query"}` JSON lines from this file; write `{"id","ranked","abstain"}`.
        #[arg(long)]
        batch: Option<PathBuf>,
        /// Write batch results here instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
        /// The question (not with --batch).
        query: Vec<String>,
    },
    /// Show what the index holds.
    Status {
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Args, Debug, Clone)]
struct Common {
    /// Configuration file: `[knowledge]` and `general.data_dir` are read from it.
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Data directory (default: from the config, else `warroom-data`).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Index directory (default: `<data_dir>/knowledge`).
    #[arg(long)]
    index: Option<PathBuf>,
    /// Embedder: none, local or openai.
    #[arg(long)]
    embedder: Option<EmbedderKind>,
    /// Local model directory (sentence-transformers layout).
    #[arg(long)]
    model_dir: Option<PathBuf>,
    /// OpenAI-compatible base URL (with /v1).
    #[arg(long)]
    base_url: Option<String>,
    /// Embedding model name for the openai embedder.
    #[arg(long)]
    model: Option<String>,
    /// Vector dimension of the openai embedder.
    #[arg(long)]
    dim: Option<usize>,
}

fn parse_fusion(s: &str) -> Result<Fusion, String> {
    let (kind, v) = s.split_once(':').unwrap_or((s, ""));
    let num = |d: f32| -> Result<f32, String> {
        if v.is_empty() {
            Ok(d)
        } else {
            v.parse().map_err(|_| format!("bad number in {s:?}"))
        }
    };
    match kind {
        "blend" => Ok(Fusion::Blend {
            dense_weight: num(3.0)?,
        }),
        "rrf" => Ok(Fusion::Rrf { k: num(60.0)? }),
        "convex" => Ok(Fusion::Convex { alpha: num(0.5)? }),
        _ => Err(format!("unknown fusion {s:?} (convex:A, blend:W or rrf:K)")),
    }
}

/// Runs the subcommand; errors are printed.
pub fn run(args: KnowledgeArgs) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run_async(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("warroom: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The `[knowledge]` table and data directory of `common`.
fn settings(common: &Common) -> anyhow::Result<(KnowledgeConfig, PathBuf)> {
    let mut cfg = KnowledgeConfig::default();
    let mut data_dir = PathBuf::from("warroom-data");
    if let Some(path) = &common.config {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let v: toml::Value =
            toml::from_str(&text).with_context(|| format!("{}: invalid TOML", path.display()))?;
        if let Some(d) = v
            .get("general")
            .and_then(|g| g.get("data_dir"))
            .and_then(|d| d.as_str())
        {
            data_dir = PathBuf::from(d);
        }
        if let Some(k) = v.get("knowledge") {
            cfg = k
                .clone()
                .try_into()
                .with_context(|| format!("{}: [knowledge]", path.display()))?;
        }
    }
    if let Some(d) = &common.data_dir {
        data_dir = d.clone();
    }
    if let Some(i) = &common.index {
        cfg.index_dir = Some(absolute(i));
    }
    if let Some(e) = common.embedder {
        cfg.embedder.kind = e;
    }
    if let Some(m) = &common.model_dir {
        cfg.embedder.model_dir = Some(m.clone());
    }
    if let Some(u) = &common.base_url {
        cfg.embedder.base_url = u.clone();
    }
    if let Some(m) = &common.model {
        cfg.embedder.model = m.clone();
    }
    if let Some(d) = common.dim {
        cfg.embedder.dim = Some(d);
    }
    Ok((cfg, data_dir))
}

fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|c| c.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    }
}

async fn run_async(args: KnowledgeArgs) -> anyhow::Result<()> {
    match args.command {
        KnowledgeCmd::Ingest {
            common,
            reindex,
            dirs,
        } => {
            if dirs.is_empty() && !reindex {
                bail!("name at least one directory to ingest");
            }
            let (cfg, data_dir) = settings(&common)?;
            let kb = if reindex {
                let tty = std::io::stderr().is_terminal();
                let kb = Knowledge::reindex(&cfg, &data_dir, &move |done, total| {
                    if tty {
                        eprint!("\rreindex {done}/{total} chunks");
                    } else if done == total || done % 1000 < 16 {
                        eprintln!("reindex {done}/{total} chunks");
                    }
                })
                .await?;
                if tty {
                    eprintln!();
                }
                kb
            } else {
                Knowledge::open(&cfg, &data_dir)?
            };
            if !dirs.is_empty() {
                let tty = std::io::stderr().is_terminal();
                let progress = move |p: IngestProgress| {
                    if tty {
                        eprint!(
                            "\r[{}/{}] {} chunks  {:<60}",
                            p.done,
                            p.total,
                            p.chunks,
                            cut(&p.path, 60)
                        );
                        if p.done == p.total {
                            eprintln!();
                        }
                    } else if p.done == p.total || p.done % 100 == 0 {
                        eprintln!("[{}/{}] {} chunks", p.done, p.total, p.chunks);
                    }
                };
                let report = kb.ingest(&dirs, &progress).await?;
                eprintln!("{report}");
            }
            Ok(())
        }
        KnowledgeCmd::Status { common } => {
            let (cfg, data_dir) = settings(&common)?;
            let kb = Knowledge::open(&cfg, &data_dir)?;
            println!(
                "index {}: embedder {}, {} chunks",
                kb.index_dir().display(),
                kb.embedder_id(),
                kb.count().await?
            );
            Ok(())
        }
        KnowledgeCmd::Search {
            common,
            json,
            k,
            service,
            history,
            threshold,
            fusion,
            batch,
            out,
            query,
        } => {
            let (cfg, data_dir) = settings(&common)?;
            let kb = Knowledge::open(&cfg, &data_dir)?;
            let mut kinds = vec![DocKind::Runbook];
            if history {
                kinds.push(DocKind::History);
            }
            let opts = SearchOptions {
                k,
                services: service,
                kinds,
                abstain_threshold: threshold,
                fusion: fusion.unwrap_or_default(),
            };
            match batch {
                Some(file) => {
                    if !query.is_empty() {
                        bail!("give either --batch or a query, not both");
                    }
                    search_batch(&kb, &opts, &file, out.as_deref()).await
                }
                None => {
                    let q = query.join(" ");
                    if q.trim().is_empty() {
                        bail!("give a query (or --batch FILE)");
                    }
                    let a = kb.search(&q, &opts).await?;
                    if json {
                        println!("{}", serde_json::to_string_pretty(&answer_json(&q, &a))?);
                    } else {
                        print_answer(&a);
                    }
                    Ok(())
                }
            }
        }
    }
}

fn cut(s: &str, n: usize) -> String {
    let c = s.chars().count();
    if c <= n {
        s.to_string()
    } else {
        format!("…{}", s.chars().skip(c - n + 1).collect::<String>())
    }
}

fn answer_json(q: &str, a: &SearchAnswer) -> serde_json::Value {
    json!({
        "query": q,
        "abstain": a.abstain,
        "confidence": a.confidence,
        "ranked": a.hits.iter().map(|h| h.doc.clone()).collect::<Vec<_>>(),
        "hits": a.hits.iter().map(|h| json!({
            "doc": h.doc,
            "kind": h.kind,
            "title": h.title,
            "score": h.score,
            "snippet": h.snippet,
            "citation": h.citation,
            "line_start": h.line_start,
            "line_end": h.line_end,
            "headings": h.headings,
        })).collect::<Vec<_>>(),
    })
}

fn print_answer(a: &SearchAnswer) {
    if a.abstain {
        let closest: Vec<&str> = a.hits.iter().take(3).map(|h| h.citation.as_str()).collect();
        println!(
            "No runbook covers this (confidence {:.2}); closest: {}",
            a.confidence,
            if closest.is_empty() {
                "none".to_string()
            } else {
                closest.join(", ")
            }
        );
        return;
    }
    for (i, h) in a.hits.iter().enumerate() {
        println!("{}. {} — {} ({:.3})", i + 1, h.citation, h.title, h.score);
        if !h.snippet.is_empty() {
            println!("   {}", h.snippet);
        }
    }
}

async fn search_batch(
    kb: &Knowledge,
    opts: &SearchOptions,
    file: &Path,
    out: Option<&Path>,
) -> anyhow::Result<()> {
    let f = std::fs::File::open(file).with_context(|| format!("cannot read {}", file.display()))?;
    let mut w: Box<dyn Write> = match out {
        Some(p) => Box::new(BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("cannot write {}", p.display()))?,
        )),
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
    };
    for (n, line) in BufReader::new(f).lines().enumerate() {
        let line = line.with_context(|| format!("{}: read error", file.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(&line)
            .with_context(|| format!("{}:{}: not JSON", file.display(), n + 1))?;
        let (Some(id), Some(q)) = (v.get("id"), v.get("query").and_then(|q| q.as_str())) else {
            bail!("{}:{}: need \"id\" and \"query\"", file.display(), n + 1);
        };
        let a = kb.search(q, opts).await?;
        let row = json!({
            "id": id,
            "ranked": a.hits.iter().map(|h| h.doc.clone()).collect::<Vec<_>>(),
            "abstain": a.abstain,
            "confidence": a.confidence,
        });
        writeln!(w, "{row}")?;
    }
    w.flush()?;
    Ok(())
}
