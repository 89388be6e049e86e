//! Retrieval evaluation without the app binary: ingest a corpus into a fresh (or given) index
//! and write a run file (`{"id","ranked","abstain","confidence"}` per query) for score.py.
//!
//!   cargo run -p warroom-knowledge --example knowledge-eval -- --corpus DIR --queries FILE \
//!       [--queries FILE…] --out RUN.jsonl [--embedder none|local] [--index DIR] \
//!       [--fusion convex:A|blend:W|rrf:K] [--threshold T]
//!       [--embedder openai --embed-url URL --embed-model M --dim N]
//!
//! `warroom knowledge ingest` + `warroom knowledge search --batch` do the same through the app.

use std::io::Write;
use std::path::{Path, PathBuf};

use warroom_knowledge::config::{EmbedderConfig, EmbedderKind};
use warroom_knowledge::{Fusion, Knowledge, KnowledgeConfig, SearchOptions};

fn args_of(args: &[String], name: &str) -> Vec<String> {
    args.windows(2)
        .filter(|w| w[0] == name)
        .map(|w| w[1].clone())
        .collect()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let one = |n: &str| args_of(&args, n).into_iter().next();
    let corpus = PathBuf::from(one("--corpus").ok_or("--corpus DIR")?);
    let out = PathBuf::from(one("--out").ok_or("--out FILE")?);
    let kind: EmbedderKind = one("--embedder")
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(EmbedderKind::Local);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let tmp = tempfile::tempdir()?;
    let index = one("--index")
        .map(PathBuf::from)
        .unwrap_or_else(|| tmp.path().join("index"));
    let fusion = match one("--fusion")
        .as_deref()
        .map(|s| s.split_once(':').unwrap_or((s, "")))
    {
        None => Fusion::default(),
        Some(("rrf", k)) => Fusion::Rrf {
            k: k.parse().unwrap_or(60.0),
        },
        Some(("convex", a)) => Fusion::Convex {
            alpha: a.parse().unwrap_or(0.5),
        },
        Some((_, w)) => Fusion::Blend {
            dense_weight: w.parse().unwrap_or(1.0),
        },
    };
    let cfg = KnowledgeConfig {
        index_dir: Some(index),
        embedder: EmbedderConfig {
            kind,
            model_dir: Some(
                std::env::var_os("WARROOM_EMBED_MODEL_DIR")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| root.join(".models/all-minilm-l6-v2")),
            ),
            batch: 32,
            base_url: one("--embed-url").unwrap_or_else(|| EmbedderConfig::default().base_url),
            model: one("--embed-model").unwrap_or_else(|| EmbedderConfig::default().model),
            dim: one("--dim").and_then(|d| d.parse().ok()),
            timeout_ms: 120_000,
            ..EmbedderConfig::default()
        },
        ..KnowledgeConfig::default()
    };
    let kb = Knowledge::open(&cfg, tmp.path())?;
    let r = kb.ingest(&[corpus], &|_| {}).await?;
    eprintln!("{r}");
    let opts = SearchOptions {
        k: 10,
        abstain_threshold: one("--threshold").and_then(|t| t.parse().ok()),
        fusion,
        ..SearchOptions::default()
    };
    let mut w = std::io::BufWriter::new(std::fs::File::create(&out)?);
    for qf in args_of(&args, "--queries") {
        for line in std::fs::read_to_string(&qf)?
            .lines()
            .filter(|l| !l.trim().is_empty())
        {
            let v: serde_json::Value = serde_json::from_str(line)?;
            let q = v["query"].as_str().unwrap_or_default();
            let a = kb.search(q, &opts).await?;
            let ranked: Vec<&str> = a.hits.iter().map(|h| h.doc.as_str()).collect();
            writeln!(
                w,
                "{}",
                serde_json::json!({"id": v["id"], "ranked": ranked, "abstain": a.abstain, "confidence": a.confidence})
            )?;
        }
    }
    w.flush()?;
    Ok(())
}
