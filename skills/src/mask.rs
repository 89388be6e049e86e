//! Masking: what must not reach the language model is replaced by stable
//! placeholders before it leaves the process, and put back afterwards.
//!
//! - IPv4 (with an optional `/prefix`) and IPv6 addresses → `<ip-N>`.
//! - Host names: names ending in a configured suffix (`corp.example` matches
//!   `db-01.pay.corp.example`), configured regexes, and a configured list → `<host-N>`.
//! - Secrets: `Bearer` tokens, `password=`/`token:`/`api_key=`/`密码：` values, URL
//!   credentials, well-known key shapes (`sk-…`, `AKIA…`, `ghp_…`, `xox?-…`, JWTs),
//!   PEM private keys → `<secret-N>`.
//!
//! A [`MaskSession`] lives for one question: the same value always gets the same
//! placeholder, so the model can reason about "<host-2>" across tool results, and tool
//! arguments it writes are unmasked before a skill runs. Secrets are never unmasked:
//! neither into skill arguments nor into the answer shown in chat.
//!
//! This module owns the patterns and the placeholder table; it does not decide what
//! is sent (the agent masks every message it builds).

use std::collections::HashMap;

use regex::{Captures, Regex};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The `[llm.mask]` configuration: which host names count as internal.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MaskConfig {
    /// Domain suffixes (`corp.example`, also written `*.corp.example`): every name
    /// ending in one is masked.
    pub host_suffixes: Vec<String>,
    /// Regular expressions matching host names (`\bpay-db-\d+\b`).
    pub host_patterns: Vec<String>,
    /// Host names masked wherever they appear as a word.
    pub hosts: Vec<String>,
}

/// A configuration problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("llm.mask.{key}: {message}")]
pub struct MaskError {
    /// The key (`host_patterns[2]`).
    pub key: String,
    /// What is wrong.
    pub message: String,
}

/// Compiled masking rules; build once, share, start a [`MaskSession`] per question.
#[derive(Clone, Debug)]
pub struct Masker {
    secrets: Vec<(Regex, SecretShape)>,
    ipv4: Regex,
    ipv6_candidate: Regex,
    hosts: Vec<Regex>,
    placeholder: Regex,
}

/// How a secret pattern marks what to replace.
#[derive(Clone, Copy, Debug)]
enum SecretShape {
    /// The whole match is the secret.
    Whole,
    /// Keep group `pre`, replace group `val`.
    Value,
}

fn rx(pattern: &str) -> Regex {
    // Only called with the literal patterns below, which the tests compile.
    #[allow(clippy::unwrap_used)]
    Regex::new(pattern).unwrap()
}

impl Masker {
    /// Compiles the built-in rules and `cfg`.
    ///
    /// # Errors
    /// [`MaskError`] naming a host pattern that is not a valid regex.
    pub fn new(cfg: &MaskConfig) -> Result<Self, MaskError> {
        let secrets = vec![
            (
                rx(r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----"),
                SecretShape::Whole,
            ),
            (
                rx(r"(?P<pre>(?i:bearer)\s+)(?P<val>[A-Za-z0-9._~+/=-]{8,})"),
                SecretShape::Value,
            ),
            (
                rx(r"(?P<pre>[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]+:)(?P<val>[^\s@/]+)@"),
                SecretShape::Value,
            ),
            (
                rx(
                    r#"(?P<pre>(?i:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|secret[_-]?key|auth)["']?\s*[:=：]\s*["']?|密码\s*[:=：]\s*)(?P<val>[^\s"',;]{3,})"#,
                ),
                SecretShape::Value,
            ),
            (rx(r"\bsk-[A-Za-z0-9_-]{16,}"), SecretShape::Whole),
            (rx(r"\bAKIA[0-9A-Z]{16}\b"), SecretShape::Whole),
            (rx(r"\bgh[pousr]_[A-Za-z0-9]{30,}"), SecretShape::Whole),
            (rx(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"), SecretShape::Whole),
            (
                rx(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
                SecretShape::Whole,
            ),
        ];
        let mut hosts = Vec::new();
        for (i, suffix) in cfg.host_suffixes.iter().enumerate() {
            let s = suffix
                .trim()
                .trim_start_matches("*.")
                .trim_start_matches('.');
            if s.is_empty() {
                return Err(MaskError {
                    key: format!("host_suffixes[{i}]"),
                    message: "empty suffix".into(),
                });
            }
            hosts.push(rx(&format!(
                r"(?i)\b(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+{}\b",
                regex::escape(s)
            )));
        }
        for (i, p) in cfg.host_patterns.iter().enumerate() {
            hosts.push(Regex::new(p).map_err(|e| MaskError {
                key: format!("host_patterns[{i}]"),
                message: e.to_string(),
            })?);
        }
        let listed: Vec<String> = cfg
            .hosts
            .iter()
            .map(|h| h.trim())
            .filter(|h| !h.is_empty())
            .map(regex::escape)
            .collect();
        if !listed.is_empty() {
            hosts.push(rx(&format!(r"(?i)\b(?:{})\b", listed.join("|"))));
        }
        Ok(Self {
            secrets,
            ipv4: rx(
                r"\b(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:/\d{1,2})?\b",
            ),
            ipv6_candidate: rx(r"(?i)[0-9a-f]{0,4}(?::[0-9a-f]{0,4}){2,7}(?:%[0-9a-z]+)?"),
            hosts,
            placeholder: rx(r"(?i)<(ip|host|secret)-(\d+)>"),
        })
    }

    /// A fresh placeholder table for one question.
    pub fn session(&self) -> MaskSession<'_> {
        MaskSession {
            masker: self,
            forward: HashMap::new(),
            back: HashMap::new(),
            counts: [0; 3],
        }
    }
}

/// The kind of a placeholder.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Kind {
    Ip,
    Host,
    Secret,
}

impl Kind {
    fn word(self) -> &'static str {
        match self {
            Self::Ip => "ip",
            Self::Host => "host",
            Self::Secret => "secret",
        }
    }

    fn index(self) -> usize {
        match self {
            Self::Ip => 0,
            Self::Host => 1,
            Self::Secret => 2,
        }
    }
}

/// The placeholders of one question. Not `Sync`-shared: the agent owns it.
#[derive(Debug)]
pub struct MaskSession<'m> {
    masker: &'m Masker,
    forward: HashMap<(Kind, String), String>,
    back: HashMap<String, String>,
    counts: [usize; 3],
}

impl MaskSession<'_> {
    fn placeholder(&mut self, kind: Kind, value: &str) -> String {
        if let Some(p) = self.forward.get(&(kind, value.to_string())) {
            return p.clone();
        }
        self.counts[kind.index()] += 1;
        let p = format!("<{}-{}>", kind.word(), self.counts[kind.index()]);
        self.forward.insert((kind, value.to_string()), p.clone());
        if kind != Kind::Secret {
            self.back.insert(p.clone(), value.to_string());
        }
        p
    }

    /// `text` with secrets, addresses and internal host names replaced.
    pub fn mask(&mut self, text: &str) -> String {
        let m = self.masker;
        let mut s = text.to_string();
        for (re, shape) in &m.secrets {
            s = replace_all(re, &s, |c| match shape {
                SecretShape::Whole => self.placeholder(Kind::Secret, &c[0]),
                SecretShape::Value => {
                    let pre = c.name("pre").map_or("", |x| x.as_str()).to_string();
                    let val = c.name("val").map_or("", |x| x.as_str());
                    let tail = &c[0][pre.len() + val.len()..];
                    if is_placeholder(val) {
                        return c[0].to_string();
                    }
                    format!("{pre}{}{tail}", self.placeholder(Kind::Secret, val))
                }
            });
        }
        s = replace_all(&m.ipv4, &s, |c| self.placeholder(Kind::Ip, &c[0]));
        s = self.mask_ipv6(&s);
        for re in &m.hosts {
            s = replace_all(re, &s, |c| {
                if is_placeholder(&c[0]) {
                    c[0].to_string()
                } else {
                    self.placeholder(Kind::Host, &c[0])
                }
            });
        }
        s
    }

    fn mask_ipv6(&mut self, s: &str) -> String {
        let m = self.masker;
        let mut out = String::with_capacity(s.len());
        let mut last = 0;
        for found in m.ipv6_candidate.find_iter(s) {
            let text = found.as_str();
            let before = s[..found.start()].chars().next_back();
            let after = s[found.end()..].chars().next();
            let bounded = before.is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == ':'))
                && after.is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
            let addr = text.split('%').next().unwrap_or(text);
            if bounded && addr.parse::<std::net::Ipv6Addr>().is_ok() {
                out.push_str(&s[last..found.start()]);
                out.push_str(&self.placeholder(Kind::Ip, text));
                last = found.end();
            }
        }
        out.push_str(&s[last..]);
        out
    }

    /// Masks every string in `v` (keys stay as they are).
    pub fn mask_value(&mut self, v: &Value) -> Value {
        match v {
            Value::String(s) => Value::String(self.mask(s)),
            Value::Array(a) => Value::Array(a.iter().map(|x| self.mask_value(x)).collect()),
            Value::Object(o) => Value::Object(
                o.iter()
                    .map(|(k, x)| (k.clone(), self.mask_value(x)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    /// `text` with `<ip-N>` and `<host-N>` put back; `<secret-N>` stays.
    pub fn unmask(&self, text: &str) -> String {
        replace_all(&self.masker.placeholder, text, |c| {
            let key = format!("<{}-{}>", c[1].to_lowercase(), &c[2]);
            self.back
                .get(&key)
                .cloned()
                .unwrap_or_else(|| c[0].to_string())
        })
    }

    /// Unmasks every string in `v` (tool arguments from the model).
    pub fn unmask_value(&self, v: &Value) -> Value {
        match v {
            Value::String(s) => Value::String(self.unmask(s)),
            Value::Array(a) => Value::Array(a.iter().map(|x| self.unmask_value(x)).collect()),
            Value::Object(o) => Value::Object(
                o.iter()
                    .map(|(k, x)| (k.clone(), self.unmask_value(x)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}

fn is_placeholder(s: &str) -> bool {
    s.starts_with('<') && s.ends_with('>') && s.contains('-')
}

fn replace_all(re: &Regex, s: &str, mut f: impl FnMut(&Captures<'_>) -> String) -> String {
    re.replace_all(s, |c: &Captures<'_>| f(c)).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masker() -> Masker {
        Masker::new(&MaskConfig {
            host_suffixes: vec!["*.corp.example".into()],
            host_patterns: vec![r"\bpay-db-\d+\b".into()],
            hosts: vec!["ledger01".into()],
        })
        .expect("valid config")
    }

    #[test]
    fn masks_addresses_hosts_and_secrets_with_stable_placeholders() {
        let m = masker();
        let mut s = m.session();
        let out = s.mask(
            "db 10.1.2.3 and 10.1.2.3/24 on pay-db-07, api.pay.corp.example, LEDGER01; fe80::1 and 2001:db8::8a2e:370:7334",
        );
        assert_eq!(
            out,
            "db <ip-1> and <ip-2> on <host-2>, <host-1>, <host-3>; <ip-3> and <ip-4>"
        );
        assert_eq!(s.mask("again 10.1.2.3"), "again <ip-1>");
    }

    #[test]
    fn leaves_times_versions_paths_and_ordinary_words_alone() {
        let m = masker();
        let mut s = m.session();
        let text = "at 14:05:30 deploy v2.3.1 via std::net, ratio 1:2:3, 支付系统 payments";
        assert_eq!(s.mask(text), text);
    }

    #[test]
    fn masks_tokens_passwords_url_credentials_and_keys_and_never_unmasks_them() {
        let m = masker();
        let mut s = m.session();
        let out = s.mask(
            "Authorization: Bearer abcdefghijklmnop password=hunter22 token: \"t0k3n-xyz\" 密码：Zz123456 postgres://app:s3cret@db/x key sk-abcdefghijklmnopqrstuv",
        );
        for leaked in [
            "abcdefghijklmnop",
            "hunter22",
            "t0k3n-xyz",
            "Zz123456",
            "s3cret",
            "sk-abc",
        ] {
            assert!(!out.contains(leaked), "{leaked} leaked in {out}");
        }
        assert!(out.contains("password=<secret-3>"), "{out}");
        assert!(out.contains("postgres://app:<secret-2>@db/x"), "{out}");
        assert_eq!(s.unmask(&out).matches("<secret-").count(), 6);
    }

    #[test]
    fn unmasks_addresses_and_hosts_including_placeholders_in_another_case() {
        let m = masker();
        let mut s = m.session();
        let masked = s.mask("10.9.8.7 is pay-db-01");
        assert_eq!(s.unmask(&masked), "10.9.8.7 is pay-db-01");
        assert_eq!(s.unmask("<IP-1> and <host-9>"), "10.9.8.7 and <host-9>");
    }

    #[test]
    fn masks_and_unmasks_json_values_recursively() {
        let m = masker();
        let mut s = m.session();
        let v = serde_json::json!({"host": "a.corp.example", "ips": ["192.168.0.1"], "n": 3});
        let masked = s.mask_value(&v);
        assert_eq!(
            masked,
            serde_json::json!({"host": "<host-1>", "ips": ["<ip-1>"], "n": 3})
        );
        assert_eq!(s.unmask_value(&masked), v);
    }

    #[test]
    fn rejects_an_invalid_host_pattern_naming_its_key() {
        let e = Masker::new(&MaskConfig {
            host_patterns: vec!["ok".into(), "(".into()],
            ..MaskConfig::default()
        })
        .expect_err("invalid regex");
        assert_eq!(e.key, "host_patterns[1]");
    }
}
