//! Helpers for warroom's end-to-end tests: build and start the real binary with a
//! private data directory and config, talk to its console over stdin/stdout and to
//! its HTTP API, and kill it.

pub mod fake_discord;
pub mod fake_openai;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The API token every test bot uses.
pub const TOKEN: &str = "test-token-0123456789";

/// How long to wait for the bot to say something before failing a test.
pub const PATIENCE: Duration = Duration::from_secs(20);

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// Path of the `warroom` binary, built once per test run from the current sources
/// (a no-op when cargo already has it up to date).
pub fn binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-q", "-p", "warroom", "--bin", "warroom"])
            .current_dir(workspace_root())
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building the warroom binary failed");
        let target = std::env::var("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|_| workspace_root().join("target"));
        target.join("debug").join("warroom")
    })
}

/// A config for a test bot: data in `dir`, HTTP on a free port, console on.
pub fn config(dir: &Path, extra: &str) -> PathBuf {
    let path = dir.join("warroom.toml");
    let text = format!(
        "[general]\nlanguage = \"en\"\ntimezone = \"Asia/Shanghai\"\ndata_dir = \"{}\"\n\n[http]\naddr = \"127.0.0.1:0\"\ntoken_env = \"WARROOM_TEST_TOKEN\"\n\n[console]\nuser = \"alice\"\n\n[rbac.users]\nalice = [\"commander\"]\nguest = [\"viewer\"]\n{extra}\n",
        dir.join("data").display()
    );
    std::fs::write(&path, text).expect("write config");
    path
}

/// A running bot.
pub struct Bot {
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    out: Receiver<String>,
    /// Everything printed on stdout so far.
    pub transcript: Vec<String>,
    log: Receiver<String>,
    /// The log lines (stderr) read so far.
    pub log_transcript: Vec<String>,
    /// Lines of `log_transcript` that [`Bot::expect_log`] has looked at.
    log_seen: usize,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
}

impl Bot {
    /// Starts the binary with `config` and waits until it reports ready.
    pub fn start(config: &Path) -> Self {
        Self::start_with(config, &[])
    }

    /// Starts the binary with `config` and extra arguments.
    pub fn start_with(config: &Path, extra_args: &[&str]) -> Self {
        let mut child = Command::new(binary())
            .arg("run")
            .arg("--config")
            .arg(config)
            .args(extra_args)
            .env("WARROOM_TEST_TOKEN", TOKEN)
            .env("RUST_LOG", "info")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start warroom");
        let stdin = child.stdin.take();
        let (tx, out) = mpsc::channel();
        let stdout = child.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let (etx, log) = mpsc::channel();
        let stderr = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[bot] {line}");
                // The test may have stopped listening; keep draining so the bot never blocks.
                let _ = etx.send(line);
            }
        });
        let mut log_transcript = Vec::new();
        let deadline = Instant::now() + PATIENCE;
        let ready = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = log.recv_timeout(left).expect("the bot reports ready");
            log_transcript.push(line.clone());
            if line.contains("warroom ready") {
                break line;
            }
        };
        let addr = ready
            .split("addr=")
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .expect("ready line names the address")
            .to_string();
        Self {
            child: Some(child),
            stdin,
            out,
            transcript: Vec::new(),
            log,
            log_transcript,
            log_seen: 0,
            base: format!("http://{addr}"),
        }
    }

    /// Types a line into the console.
    pub fn type_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{line}").expect("write to the bot");
        stdin.flush().expect("flush");
    }

    /// Closes the console input.
    pub fn close_input(&mut self) {
        self.stdin = None;
    }

    /// Waits for an output line containing `needle`; returns it.
    pub fn expect(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.out.recv_timeout(left) {
                Ok(line) => {
                    self.transcript.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no line containing {needle:?}; got:\n{}",
                    self.transcript.join("\n")
                ),
            }
        }
    }

    /// Waits for a log line (stderr) containing `needle`, not counting lines an
    /// earlier call already passed over; returns it.
    pub fn expect_log(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            while self.log_seen < self.log_transcript.len() {
                let line = &self.log_transcript[self.log_seen];
                self.log_seen += 1;
                if line.contains(needle) {
                    return line.clone();
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.log.recv_timeout(left) {
                Ok(line) => self.log_transcript.push(line),
                Err(_) => panic!(
                    "no log line containing {needle:?}; got:\n{}",
                    self.log_transcript.join("\n")
                ),
            }
        }
    }

    /// Sends `signal` to the running bot and returns at once.
    pub fn signal(&self, signal: i32) {
        let pid = self.child.as_ref().expect("running").id();
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .status()
            .expect("kill(1) runs");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Sends SIGKILL and reaps the process.
    pub fn kill9(self) {
        assert_eq!(
            self.signal_and_wait(9),
            None,
            "killed by a signal, so no exit code"
        );
    }

    /// Sends `signal` and waits for exit; returns the exit code (`None` if killed).
    pub fn signal_and_wait(mut self, signal: i32) -> Option<i32> {
        let mut child = self.child.take().expect("running");
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .status()
            .expect("kill(1) runs");
        assert!(status.success(), "kill -{signal} failed");
        let (tx, rx) = mpsc::channel();
        let pid = child.id();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait());
        });
        match rx.recv_timeout(PATIENCE) {
            Ok(Ok(status)) => status.code(),
            _ => {
                let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
                panic!("the bot did not exit after signal {signal}");
            }
        }
    }

    /// `GET {path}` with the API token: the status and the JSON body (null if none).
    pub async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        let r = self
            .http()
            .get(format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("request");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// `GET {path}` with the API token; asserts a 2xx and returns the JSON body.
    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        let (status, body) = self.get(path).await;
        assert!((200..300).contains(&status), "{path}: {status} {body}");
        body
    }

    /// An HTTP client with the API token.
    pub fn http(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("client")
    }
}

impl Drop for Bot {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
