//! A fake OpenAI-compatible server on 127.0.0.1: `POST /v1/chat/completions` answers from a
//! script (text, tool calls, or never), and every request body is recorded, so tests can
//! check what the bot sent (tools, data, masking) through the real client code.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

/// One scripted answer.
#[derive(Clone, Debug)]
pub enum Reply {
    /// An assistant message with this text.
    Text(String),
    /// Tool calls: (name, arguments as JSON).
    Tools(Vec<(String, Value)>),
    /// Never answer (the client must time out).
    Hang,
}

#[derive(Default)]
struct Inner {
    script: VecDeque<Reply>,
    requests: Vec<Value>,
}

/// The running fake.
pub struct FakeOpenAi {
    /// Base URL including `/v1`.
    pub base: String,
    inner: Arc<Mutex<Inner>>,
}

impl FakeOpenAi {
    /// Starts the fake with `script`; it answers "(script exhausted)" afterwards.
    pub async fn start(script: Vec<Reply>) -> Self {
        let inner = Arc::new(Mutex::new(Inner {
            script: script.into(),
            requests: Vec::new(),
        }));
        let app = Router::new()
            .route("/v1/chat/completions", post(complete))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake OpenAI server");
        let addr = listener.local_addr().expect("address");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            base: format!("http://{addr}/v1"),
            inner,
        }
    }

    /// Every request body received so far.
    pub fn requests(&self) -> Vec<Value> {
        self.inner.lock().expect("not poisoned").requests.clone()
    }
}

async fn complete(State(inner): State<Arc<Mutex<Inner>>>, Json(body): Json<Value>) -> Json<Value> {
    let reply = {
        let mut g = inner.lock().expect("not poisoned");
        g.requests.push(body.clone());
        g.script
            .pop_front()
            .unwrap_or(Reply::Text("(script exhausted)".into()))
    };
    let model = body["model"].clone();
    let (message, finish) = match reply {
        Reply::Hang => std::future::pending().await,
        Reply::Text(t) => (json!({"role": "assistant", "content": t}), "stop"),
        Reply::Tools(calls) => (
            json!({"role": "assistant", "content": null, "tool_calls": calls.iter().enumerate().map(|(i, (name, args))| json!({
                "id": format!("call_{}", i + 1), "type": "function",
                "function": {"name": name, "arguments": args.to_string()},
            })).collect::<Vec<_>>()}),
            "tool_calls",
        ),
    };
    Json(json!({
        "id": "chatcmpl-fake", "object": "chat.completion", "created": 0, "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }))
}
