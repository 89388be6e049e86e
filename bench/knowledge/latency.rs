//! Knowledge latency benchmark: ingest rate and end-to-end query latency (query embedding +
//! lexical and dense search + fusion) over at least 10,000 chunks.
//!
//!   cargo run --release -p warroom-knowledge --example knowledge-bench -- \
//!       [--corpus DIR] [--queries FILE] [--chunks N] [--embedder local|none] [--model-dir DIR]
//!
//! The corpus (default: the dev runbooks) is copied as many times as needed to reach N chunks
//! (default 10,000); queries (default: the dev queries) are run in order, twice, the first
//! pass as warm-up. Prints chunks/s for ingest and p50/p90/p99 per query.

use std::path::{Path, PathBuf};
use std::time::Instant;

use warroom_knowledge::config::{EmbedderConfig, EmbedderKind};
use warroom_knowledge::{Knowledge, KnowledgeConfig, SearchOptions};

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<usize> {
    let mut n = 0;
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let p = e.path();
        if e.file_type()?.is_dir() {
            n += copy_tree(&p, &to.join(e.file_name()))?;
        } else {
            std::fs::copy(&p, to.join(e.file_name()))?;
            n += 1;
        }
    }
    Ok(n)
}

async fn write_run(
    kb: &Knowledge,
    queries: &Path,
    out: &Path,
) -> Result<(), Box<dyn std::error::Error>> {
    use std::io::Write;
    let mut w = std::io::BufWriter::new(std::fs::File::create(out)?);
    let opts = SearchOptions {
        k: 10,
        ..SearchOptions::default()
    };
    for line in std::fs::read_to_string(queries)?
        .lines()
        .filter(|l| !l.trim().is_empty())
    {
        let v: serde_json::Value = serde_json::from_str(line)?;
        let a = kb
            .search(v["query"].as_str().unwrap_or_default(), &opts)
            .await?;
        let ranked: Vec<&str> = a.hits.iter().map(|h| h.doc.as_str()).collect();
        writeln!(
            w,
            "{}",
            serde_json::json!({"id": v["id"], "ranked": ranked, "abstain": a.abstain, "confidence": a.confidence})
        )?;
    }
    w.flush()?;
    println!("run written to {}", out.display());
    Ok(())
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let corpus = arg(&args, "--corpus")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/work/shared/data/runbooks-dev/corpus"));
    let queries = arg(&args, "--queries")
        .map(PathBuf::from)
        .unwrap_or_else(|| corpus.join("../queries.jsonl"));
    // With --run-out, the query set is also scored on the first copy alone (score.py format).
    let run_out = arg(&args, "--run-out").map(PathBuf::from);
    let want: usize = arg(&args, "--chunks")
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let kind: EmbedderKind = arg(&args, "--embedder")
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(EmbedderKind::Local);
    let model_dir = arg(&args, "--model-dir")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("WARROOM_EMBED_MODEL_DIR").map(PathBuf::from))
        .unwrap_or_else(|| root.join(".models/all-minilm-l6-v2"));

    let work = tempfile::tempdir()?;
    let cfg = KnowledgeConfig {
        embedder: EmbedderConfig {
            kind,
            model_dir: Some(model_dir),
            batch: 32,
            ..EmbedderConfig::default()
        },
        ..KnowledgeConfig::default()
    };
    let kb = Knowledge::open(&cfg, &work.path().join("data"))?;
    println!("embedder: {}", kb.embedder_id());

    // Ingest copies of the corpus until the index holds `want` chunks.
    let mut copies = 0;
    let mut ingest_chunks = 0usize;
    let mut ingest_secs = 0.0f64;
    while kb.count().await? < want {
        copies += 1;
        let dir = work.path().join(format!("copy-{copies}"));
        let files = copy_tree(&corpus, &dir)?;
        let t = Instant::now();
        let r = kb.ingest(&[dir], &|_| {}).await?;
        ingest_secs += t.elapsed().as_secs_f64();
        ingest_chunks += r.chunks;
        println!(
            "copy {copies}: {files} files, {} chunks in {:.1} s; index now {} chunks",
            r.chunks,
            t.elapsed().as_secs_f64(),
            kb.count().await?
        );
        if r.chunks == 0 {
            return Err("the corpus produced no chunks".into());
        }
        if copies == 1 {
            if let Some(out) = &run_out {
                write_run(&kb, &queries, out).await?;
            }
        }
    }
    println!(
        "ingest: {ingest_chunks} chunks in {ingest_secs:.1} s = {:.0} chunks/s (parse + embed + index + flush)",
        ingest_chunks as f64 / ingest_secs
    );

    let qs: Vec<String> = std::fs::read_to_string(&queries)?
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v.get("query").and_then(|q| q.as_str()).map(str::to_string))
        .collect();
    let opts = SearchOptions {
        k: 10,
        ..SearchOptions::default()
    };
    for q in qs.iter().take(20) {
        kb.search(q, &opts).await?;
    }
    let mut lat = Vec::with_capacity(qs.len());
    for q in &qs {
        let t = Instant::now();
        let a = kb.search(q, &opts).await?;
        lat.push(t.elapsed().as_secs_f64() * 1e3);
        std::hint::black_box(a);
    }
    lat.sort_by(f64::total_cmp);
    println!(
        "query latency over {} chunks, {} queries (embedding + lexical + dense + fusion): p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        kb.count().await?,
        lat.len(),
        pct(&lat, 0.5),
        pct(&lat, 0.9),
        pct(&lat, 0.99),
        lat.last().copied().unwrap_or(0.0)
    );
    Ok(())
}
