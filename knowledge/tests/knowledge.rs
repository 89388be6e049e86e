//! The knowledge base end to end: ingest, incremental updates, embedders (a fake
//! OpenAI-compatible server on 127.0.0.1 speaking the real wire format, and the in-process
//! model when `deploy/setup-models.sh` installed it), abstention, Chinese, citations, history.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use warroom_knowledge::config::{EmbedderConfig, EmbedderKind};
use warroom_knowledge::embed::openai::OpenAiEmbedder;
use warroom_knowledge::{
    DocKind, EmbedRole, Embedder, HistoryDoc, Knowledge, KnowledgeConfig, KnowledgeError,
    SearchOptions,
};

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(p, text).expect("write");
}

fn lexical() -> KnowledgeConfig {
    KnowledgeConfig::default()
}

fn quiet(_: warroom_knowledge::IngestProgress) {}

fn top(a: &warroom_knowledge::SearchAnswer) -> &str {
    a.hits.first().map(|h| h.doc.as_str()).unwrap_or("")
}

const DISK: &str = "---\ntitle: Filesystem almost full\nservice: matching\nalerts: [NodeFilesystemAlmostFull]\n---\n# Filesystem almost full\n\n## Symptoms\n\nWrites fail with No space left on device.\n\n## Free space\n\nCompress rotated logs older than the retention period.\nNever delete the write-ahead log by hand.\n";
const KAFKA: &str = "---\ntitle: Kafka consumer lag\nservice: streaming\n---\n# Kafka consumer lag\n\n## Symptoms\n\nThe consumer group falls behind the latest offsets.\n\n## Recovery\n\nScale the consumer group up to the number of partitions.\n";
const CERT: &str = "# TLS certificate expiring\n\n## Renew\n\nRequest a new certificate from the internal CA with the same SANs.\n";

/// A lexical index (in its own temporary data directory) over the files in `docs`.
async fn lexical_index(docs: &Path) -> (tempfile::TempDir, Knowledge) {
    let data = tempfile::tempdir().expect("tempdir");
    let kb = Knowledge::open(&lexical(), data.path()).expect("open");
    kb.ingest(&[docs.to_path_buf()], &quiet)
        .await
        .expect("ingest");
    (data, kb)
}

fn corpus() -> tempfile::TempDir {
    let d = tempfile::tempdir().expect("tempdir");
    write(d.path(), "infra/disk-full.md", DISK);
    write(d.path(), "platform/kafka.md", KAFKA);
    write(d.path(), "infra/cert.md", CERT);
    d
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_indexes_files_with_ids_relative_to_the_directory_and_skips_unchanged_ones() {
    let docs = corpus();
    let data = tempfile::tempdir().expect("tempdir");
    let kb = Knowledge::open(&lexical(), data.path()).expect("open");
    let r = kb
        .ingest(&[docs.path().to_path_buf()], &quiet)
        .await
        .expect("ingest");
    assert_eq!((r.files, r.added, r.unchanged), (3, 3, 0));
    let a = kb
        .search("No space left on device", &SearchOptions::default())
        .await
        .expect("search");
    assert_eq!(top(&a), "infra/disk-full.md");
    assert!(!a.abstain, "confidence {}", a.confidence);
    let again = kb
        .ingest(&[docs.path().to_path_buf()], &quiet)
        .await
        .expect("ingest");
    assert_eq!(
        (again.added, again.updated, again.unchanged, again.chunks),
        (0, 0, 3, 0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_file_is_reindexed_and_its_old_text_is_gone() {
    let docs = corpus();
    let (_data, kb) = lexical_index(docs.path()).await;
    let before = kb.count().await.expect("count");
    write(
        docs.path(),
        "infra/cert.md",
        "# TLS certificate expiring\n\n## Renew\n\nUse the zebrafish ACME client.\n",
    );
    let r = kb
        .ingest(&[docs.path().to_path_buf()], &quiet)
        .await
        .expect("ingest");
    assert_eq!((r.updated, r.unchanged), (1, 2));
    assert_eq!(
        kb.count().await.expect("count"),
        before,
        "old chunks were replaced, not added to"
    );
    let a = kb
        .search("zebrafish", &SearchOptions::default())
        .await
        .expect("search");
    assert_eq!(top(&a), "infra/cert.md");
    let old = kb
        .search("internal CA SANs", &SearchOptions::default())
        .await
        .expect("search");
    assert!(
        old.hits.iter().all(|h| !h.snippet.contains("internal CA")),
        "{old:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_file_disappears_from_results() {
    let docs = corpus();
    let (_data, kb) = lexical_index(docs.path()).await;
    std::fs::remove_file(docs.path().join("platform/kafka.md")).expect("rm");
    let r = kb
        .ingest(&[docs.path().to_path_buf()], &quiet)
        .await
        .expect("ingest");
    assert_eq!(r.removed, 1);
    let a = kb
        .search("Kafka consumer lag offsets", &SearchOptions::default())
        .await
        .expect("search");
    assert!(a.hits.iter().all(|h| h.doc != "platform/kafka.md"), "{a:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_index_survives_a_restart() {
    let docs = corpus();
    let data = tempfile::tempdir().expect("tempdir");
    {
        let kb = Knowledge::open(&lexical(), data.path()).expect("open");
        kb.ingest(&[docs.path().to_path_buf()], &quiet)
            .await
            .expect("ingest");
    }
    let kb = Knowledge::open(&lexical(), data.path()).expect("reopen");
    let a = kb
        .search("consumer group falls behind", &SearchOptions::default())
        .await
        .expect("search");
    assert_eq!(top(&a), "platform/kafka.md");
    let r = kb
        .ingest(&[docs.path().to_path_buf()], &quiet)
        .await
        .expect("ingest");
    assert_eq!(r.unchanged, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_question_naming_a_runbooks_title_cites_text_not_the_title_line_alone() {
    let docs = tempfile::tempdir().expect("tempdir");
    write(
        docs.path(),
        "platform/kafka-consumer-lag.md",
        "# Kafka consumer lag\n\n## Symptoms\n\nA consumer group falls behind and downstream data is late.\n\n## Recovery\n\nScale the consumer group up; restart a stuck instance.\n",
    );
    let (_data, kb) = lexical_index(docs.path()).await;
    let a = kb
        .search("kafka consumer lag", &SearchOptions::default())
        .await
        .expect("search");
    let h = &a.hits[0];
    assert_eq!(h.doc, "platform/kafka-consumer-lag.md");
    assert!(
        h.line_start > 1,
        "cited the title line alone: {}",
        h.citation
    );
    assert!(!h.snippet.starts_with('#'), "{}", h.snippet);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn citations_point_at_the_lines_of_the_matching_section() {
    let docs = corpus();
    let (_data, kb) = lexical_index(docs.path()).await;
    let a = kb
        .search("compress rotated logs retention", &SearchOptions::default())
        .await
        .expect("search");
    let h = &a.hits[0];
    assert_eq!(h.doc, "infra/disk-full.md");
    let lines: Vec<&str> = DISK.lines().collect();
    assert_eq!(lines[h.line_start - 1], "## Free space");
    assert_eq!(
        lines[h.line_end - 1],
        "Never delete the write-ahead log by hand."
    );
    assert_eq!(
        h.citation,
        format!("infra/disk-full.md:L{}-L{}", h.line_start, h.line_end)
    );
    assert!(
        h.snippet.starts_with("Compress rotated logs"),
        "{}",
        h.snippet
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_question_no_runbook_covers_is_an_abstention_with_the_closest_documents() {
    let docs = corpus();
    let (_data, kb) = lexical_index(docs.path()).await;
    let a = kb
        .search(
            "how do I book a meeting room for the offsite",
            &SearchOptions::default(),
        )
        .await
        .expect("search");
    assert!(a.abstain, "{a:?}");
    let b = kb
        .search(
            "compress rotated logs to free space on the device",
            &SearchOptions::default(),
        )
        .await
        .expect("search");
    assert!(!b.abstain, "{b:?}");
    // Partly related: the closest document is still named.
    let c = kb
        .search(
            "kafka broker disk replacement procedure for racks",
            &SearchOptions::default(),
        )
        .await
        .expect("search");
    assert!(c.abstain, "{c:?}");
    assert!(!c.closest().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chinese_questions_find_chinese_runbooks() {
    let docs = tempfile::tempdir().expect("tempdir");
    write(docs.path(), "行情/网关断连.md", "---\ntitle: 行情网关断连\nservice: md-gateway\n---\n# 行情网关断连\n\n## 现象\n\n行情网关与交易所的连接断开，策略收不到最新报价。\n\n## 处置\n\n执行重连命令，必要时切换到备用线路。\n");
    write(docs.path(), "清算/批处理失败.md", "# 日终清算批处理失败\n\n## 现象\n\n收盘后的清算任务失败，柜台停留在清算中。\n\n## 处置\n\n从失败的步骤重跑。\n");
    write(docs.path(), "infra/disk.md", DISK);
    let (_data, kb) = lexical_index(docs.path()).await;
    let a = kb
        .search(
            "策略拿不到报价了，和交易所连接是不是断了",
            &SearchOptions::default(),
        )
        .await
        .expect("search");
    assert_eq!(top(&a), "行情/网关断连.md");
    assert!(!a.abstain, "{a:?}");
    let b = kb
        .search("收盘以后清算任务挂了怎么重跑", &SearchOptions::default())
        .await
        .expect("search");
    assert_eq!(top(&b), "清算/批处理失败.md");
    let c = kb
        .search("如何申请年假", &SearchOptions::default())
        .await
        .expect("search");
    assert!(c.abstain, "{c:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_filter_keeps_only_that_services_runbooks() {
    let docs = corpus();
    let (_data, kb) = lexical_index(docs.path()).await;
    let opts = SearchOptions {
        services: vec!["streaming".into()],
        ..SearchOptions::default()
    };
    let a = kb
        .search("No space left on device consumer", &opts)
        .await
        .expect("search");
    assert!(!a.hits.is_empty());
    assert!(a.hits.iter().all(|h| h.doc == "platform/kafka.md"), "{a:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resolved_incidents_are_found_as_history_and_never_as_runbooks() {
    let docs = corpus();
    let (_data, kb) = lexical_index(docs.path()).await;
    kb.index_incident(HistoryDoc {
        id: "IMS-20261120-001".into(),
        title: "Matching engine stalled after disk filled up".into(),
        services: vec!["matching".into()],
        alerts: vec!["NodeFilesystemAlmostFull".into()],
        root_cause: "Audit logs were not rotated after the upgrade.".into(),
        timeline_summary: "14:05 alert, 14:20 logs compressed, 14:31 resolved".into(),
        postmortem: "# Postmortem\n\n## Actions\n\nAdd logrotate for the audit directory.\n".into(),
        resolved_at: Some("2026-11-20T14:31:00+08:00".into()),
    })
    .await
    .expect("index incident");
    let similar = kb
        .similar_incidents("audit logs filling the disk on matching", 3)
        .await
        .expect("similar");
    assert_eq!(similar[0].incident, "IMS-20261120-001");
    let runbooks = kb
        .search(
            "audit logs were not rotated after the upgrade",
            &SearchOptions::default(),
        )
        .await
        .expect("search");
    assert!(
        runbooks.hits.iter().all(|h| h.kind == DocKind::Runbook),
        "{runbooks:?}"
    );
    let both = SearchOptions {
        kinds: vec![DocKind::Runbook, DocKind::History],
        ..SearchOptions::default()
    };
    let a = kb
        .search("audit logs were not rotated after the upgrade", &both)
        .await
        .expect("search");
    assert_eq!(top(&a), "IMS-20261120-001");
    assert!(
        kb.index_incident(HistoryDoc::default()).await.is_err(),
        "an empty id is refused"
    );
}

// ---- the OpenAI-compatible embedder against a fake /v1/embeddings ----

#[derive(Default)]
struct Fake {
    calls: AtomicUsize,
    auth: Mutex<Vec<String>>,
    inputs: Mutex<Vec<String>>,
}

const FAKE_DIM: usize = 32;

/// Bag-of-words hashed into 32 dimensions: texts sharing words are close.
fn fake_vector(text: &str) -> Vec<f32> {
    let mut v = vec![0.0f32; FAKE_DIM];
    for w in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.len() > 2)
    {
        let h = w
            .to_lowercase()
            .bytes()
            .fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
        v[(h as usize) % FAKE_DIM] += 1.0;
    }
    v[0] += 0.01;
    v
}

async fn embeddings(
    State(fake): State<Arc<Fake>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Json<Value> {
    fake.calls.fetch_add(1, Ordering::SeqCst);
    if let Some(a) = headers.get("authorization").and_then(|v| v.to_str().ok()) {
        fake.auth.lock().expect("lock").push(a.to_string());
    }
    if body["model"] == "hang" {
        std::future::pending::<()>().await;
    }
    let inputs: Vec<String> = match &body["input"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    };
    fake.inputs
        .lock()
        .expect("lock")
        .extend(inputs.iter().cloned());
    // Answer in reverse order: clients must sort by `index`.
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .rev()
        .map(|(i, t)| json!({"object": "embedding", "index": i, "embedding": fake_vector(t)}))
        .collect();
    let n = inputs.len() as u64;
    Json(json!({
        "object": "list",
        "data": data,
        "model": body["model"],
        "usage": {"prompt_tokens": n, "total_tokens": n}
    }))
}

async fn fake_server() -> (String, Arc<Fake>) {
    let fake = Arc::new(Fake::default());
    let app = Router::new()
        .route("/v1/embeddings", post(embeddings))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/v1"), fake)
}

fn openai_cfg(base: &str, model: &str) -> EmbedderConfig {
    EmbedderConfig {
        kind: EmbedderKind::Openai,
        base_url: base.into(),
        model: model.into(),
        api_key_env: Some("WARROOM_TEST_EMBED_KEY".into()),
        dim: Some(FAKE_DIM),
        timeout_ms: 2_000,
        ..EmbedderConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openai_embedder_speaks_the_embeddings_wire_format() {
    std::env::set_var("WARROOM_TEST_EMBED_KEY", "sk-test-secret");
    let (base, fake) = fake_server().await;
    let e = OpenAiEmbedder::new(&openai_cfg(&base, "nomic-embed-text")).expect("embedder");
    assert!(!format!("{e:?}").contains("sk-test-secret"));
    let texts = vec!["disk full on host".to_string(), "kafka lag".to_string()];
    let v = e.embed(&texts, EmbedRole::Passage).await.expect("embed");
    assert_eq!(v.len(), 2);
    assert_eq!(v[0].len(), FAKE_DIM);
    let norm: f32 = v[0].iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-4, "vectors are normalized");
    // Reordered by index, not by position in the response.
    let mut expect = fake_vector("disk full on host");
    warroom_knowledge::embed::normalize(&mut expect);
    assert!(v[0].iter().zip(&expect).all(|(a, b)| (a - b).abs() < 1e-5));
    assert_eq!(
        fake.auth.lock().expect("lock").as_slice(),
        ["Bearer sk-test-secret"]
    );
    assert_eq!(
        fake.inputs.lock().expect("lock").as_slice(),
        texts.as_slice()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_embedding_endpoint_that_never_answers_times_out() {
    std::env::set_var("WARROOM_TEST_EMBED_KEY", "sk-test-secret");
    let (base, _fake) = fake_server().await;
    let mut cfg = openai_cfg(&base, "hang");
    cfg.timeout_ms = 300;
    let e = OpenAiEmbedder::new(&cfg).expect("embedder");
    let err = e
        .embed(&["x".to_string()], EmbedRole::Query)
        .await
        .expect_err("timeout");
    assert!(matches!(err, KnowledgeError::EmbedTimeout(300)), "{err}");
    assert!(!err.to_string().contains("sk-test-secret"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_embedding_endpoint_is_an_error_without_the_key() {
    std::env::set_var("WARROOM_TEST_EMBED_KEY", "sk-test-secret");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    let e = OpenAiEmbedder::new(&openai_cfg(&format!("http://127.0.0.1:{port}/v1"), "m"))
        .expect("embedder");
    let err = e
        .embed(&["x".to_string()], EmbedRole::Query)
        .await
        .expect_err("refused");
    assert!(!err.to_string().contains("sk-test-secret"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_index_built_with_another_embedder_is_refused_until_reindexed() {
    std::env::set_var("WARROOM_TEST_EMBED_KEY", "sk-test-secret");
    let (base, fake) = fake_server().await;
    let docs = corpus();
    let data = tempfile::tempdir().expect("tempdir");
    {
        let kb = Knowledge::open(&lexical(), data.path()).expect("open");
        kb.ingest(&[docs.path().to_path_buf()], &quiet)
            .await
            .expect("ingest");
        kb.index_incident(HistoryDoc {
            id: "IMS-1".into(),
            title: "Consumer lag during close".into(),
            ..HistoryDoc::default()
        })
        .await
        .expect("incident");
    }
    let dense = KnowledgeConfig {
        embedder: openai_cfg(&base, "nomic-embed-text"),
        ..KnowledgeConfig::default()
    };
    let err = Knowledge::open(&dense, data.path()).expect_err("mismatch");
    assert!(
        matches!(err, KnowledgeError::EmbedderMismatch { .. }),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("--reindex")
            && msg.contains("none")
            && msg.contains("openai:nomic-embed-text"),
        "{msg}"
    );

    let kb = Knowledge::reindex(&dense, data.path(), &|_, _| {})
        .await
        .expect("reindex");
    assert!(
        fake.calls.load(Ordering::SeqCst) > 0,
        "points were embedded"
    );
    assert_eq!(kb.embedder_id(), "openai:nomic-embed-text");
    let a = kb
        .search(
            "consumer group falls behind offsets",
            &SearchOptions::default(),
        )
        .await
        .expect("search");
    assert_eq!(top(&a), "platform/kafka.md");
    let h = kb
        .similar_incidents("consumer lag at the close", 1)
        .await
        .expect("history");
    assert_eq!(h[0].incident, "IMS-1", "history survives a rebuild");
    let r = kb
        .ingest(&[docs.path().to_path_buf()], &quiet)
        .await
        .expect("ingest");
    assert_eq!(r.unchanged, 3, "file hashes survive a rebuild");
    drop(kb);
    // And the old layout is now the mismatch.
    assert!(matches!(
        Knowledge::open(&lexical(), data.path()),
        Err(KnowledgeError::EmbedderMismatch { .. })
    ));
}

// ---- the in-process model ----

fn model_dir() -> PathBuf {
    let dir = match std::env::var_os("WARROOM_EMBED_MODEL_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../.models/all-minilm-l6-v2"),
    };
    assert!(
        dir.join("model.safetensors").is_file(),
        "the in-process embedding model is not installed in {}: run deploy/setup-models.sh \
         (or set WARROOM_EMBED_MODEL_DIR)",
        dir.display()
    );
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_in_process_model_finds_a_paraphrase_that_shares_no_words() {
    let cfg = KnowledgeConfig {
        embedder: EmbedderConfig {
            kind: EmbedderKind::Local,
            model_dir: Some(model_dir()),
            ..EmbedderConfig::default()
        },
        ..KnowledgeConfig::default()
    };
    let docs = corpus();
    let data = tempfile::tempdir().expect("tempdir");
    let kb = Knowledge::open(&cfg, data.path()).expect("open");
    assert_eq!(kb.embedder_id(), "local:all-minilm-l6-v2");
    kb.ingest(&[docs.path().to_path_buf()], &quiet)
        .await
        .expect("ingest");
    let a = kb
        .search(
            "the storage volume ran out of room",
            &SearchOptions::default(),
        )
        .await
        .expect("search");
    assert_eq!(top(&a), "infra/disk-full.md", "{a:?}");
    let b = kb
        .search("renew an expiring x509 cert", &SearchOptions::default())
        .await
        .expect("search");
    assert_eq!(top(&b), "infra/cert.md", "{b:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_that_names_a_runbooks_whole_title_finds_that_runbook_before_its_siblings() {
    let docs = tempfile::tempdir().expect("tempdir");
    write(
        docs.path(),
        "monitoring/alertmanager-notification-failures.md",
        "# Alertmanager notification failures\n\nAlertmanager is failing to send alerts to a receiver. Check the integration that rejects them.\n",
    );
    write(
        docs.path(),
        "monitoring/thanos-rule.md",
        "# Thanos Rule\n\n## Overview\n\nThe ruler evaluates recording and alerting rules and sends what fires to Alertmanager.\n\n## Queue\n\nA full queue drops notifications; look at the queue length.\n",
    );
    let (_data, kb) = lexical_index(docs.path()).await;
    let a = kb
        .search(
            "Thanos Rule is failing to send alerts. Thanos Rule prometheus-01 is failing to send alerts to the Alertmanager.",
            &SearchOptions::default(),
        )
        .await
        .expect("search");
    let ranked: Vec<(&str, f32)> = a.hits.iter().map(|h| (h.doc.as_str(), h.score)).collect();
    assert_eq!(top(&a), "monitoring/thanos-rule.md", "{ranked:?}");
}
