//! The diff of two host snapshots, per category (`added`, `missing`, `modified`),
//! with the noise that says nothing about a change filtered out.
//!
//! Noise rules ([`DiffOptions`] holds the knobs):
//! - **PIDs, timestamps, uptimes** are never compared: `pid` and `taken_at` are not
//!   part of any key, and process command lines are compared after masking volatile
//!   arguments (see below).
//! - **Processes** are matched by `(name, user, normalised command line)` and counted:
//!   a restart with a new PID is no change; 8 → 4 workers is a `modified` count.
//!   Normalising masks: the values of `volatile_flags` (`--pid 123`, `--session-id=x`),
//!   UUIDs, ISO-8601 timestamps, digit runs of 10 or more (epoch times), hex runs of 24
//!   or more with both digits and letters (container ids), `/proc/<pid>` and
//!   `/tmp/tmp…` names. Version numbers (`app-2.3.1.jar`) are kept, so a release shows.
//! - **Ephemeral ports** (≥ `ephemeral_port_min`, default 32768): a listener on one is
//!   matched by `(proto, addr, process)` without its port number, so a process that
//!   rebinds a random port is no change while an extra such listener is `added`; a
//!   connection's remote port at or above it is the class `ephemeral`.
//! - **Connections** are matched by `(remote_addr, remote_port_class, state)`; a count
//!   that moves within ± `conn_count_tolerance_pct` percent of the before count is no
//!   change.
//! - **Sysctls** in `ignore_sysctls` (counters such as `fs.file-nr`, random values such
//!   as `kernel.random.uuid`; a trailing `.` matches a prefix) are skipped; values are
//!   compared with whitespace collapsed.
//! - **Config files** are matched by path; a different SHA-256, mode or owner is
//!   `modified`, with a unified diff of the content when both sides captured it.
//! - **Kubernetes objects** are matched by `(kind, namespace, name)` and compared after
//!   dropping `status`, `metadata.{resourceVersion, managedFields, uid, generation,
//!   selfLink}`, the `kubectl.kubernetes.io/last-applied-configuration` annotation, and
//!   every key ending in `Timestamp` at any depth; `modified` lists the JSON paths
//!   that differ (list items with a `name` are matched by name: `containers[name=app]`).
//! - **Mounts** are matched by mount point; the database schema is a text diff.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::snapshot::{ConfigFile, ConnSummary, Listener, Mount, Process, Snapshot};
use super::textdiff;

/// The knobs of the noise filter (`[changes.diff]` if the app exposes it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DiffOptions {
    /// Ports at or above this are ephemeral (Linux's default range starts at 32768).
    pub ephemeral_port_min: u16,
    /// A connection count change within this percentage of the before count is noise.
    pub conn_count_tolerance_pct: u32,
    /// Flags whose value is volatile (`--pid 1`, `--pid=1`), masked before matching.
    pub volatile_flags: Vec<String>,
    /// Sysctls never compared; an entry ending in `.` is a prefix.
    pub ignore_sysctls: Vec<String>,
    /// Context lines around each hunk of a text diff.
    pub context_lines: usize,
    /// At most this many diff lines per file (the rest is cut and flagged).
    pub max_diff_lines: usize,
    /// At most this many line edits are searched for per file before the diff falls
    /// back to replacing the changed middle wholesale.
    pub max_edits: usize,
    /// At most this many field changes listed per Kubernetes object.
    pub max_k8s_fields: usize,
}

impl Default for DiffOptions {
    fn default() -> Self {
        Self {
            ephemeral_port_min: 32768,
            conn_count_tolerance_pct: 25,
            volatile_flags: [
                "--pid",
                "--ppid",
                "--session-id",
                "--nonce",
                "--timestamp",
                "--start-time",
                "--instance-id",
                "--run-id",
            ]
            .map(String::from)
            .to_vec(),
            ignore_sysctls: [
                "fs.file-nr",
                "fs.inode-nr",
                "fs.inode-state",
                "fs.dentry-state",
                "fs.quota.",
                "kernel.random.",
                "kernel.ns_last_pid",
                "kernel.pty.nr",
                "net.netfilter.nf_conntrack_count",
            ]
            .map(String::from)
            .to_vec(),
            context_lines: 3,
            max_diff_lines: 2000,
            max_edits: textdiff::DEFAULT_MAX_EDITS,
            max_k8s_fields: 100,
        }
    }
}

/// Added, missing (in the after snapshot) and modified entries of one category.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changes<T, M> {
    /// Only after.
    pub added: Vec<T>,
    /// Only before.
    pub missing: Vec<T>,
    /// In both, different.
    pub modified: Vec<M>,
}

impl<T, M> Default for Changes<T, M> {
    fn default() -> Self {
        Self {
            added: Vec::new(),
            missing: Vec::new(),
            modified: Vec::new(),
        }
    }
}

impl<T, M> Changes<T, M> {
    /// True when nothing changed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.missing.is_empty() && self.modified.is_empty()
    }

    /// Number of entries listed.
    pub fn len(&self) -> usize {
        self.added.len() + self.missing.len() + self.modified.len()
    }
}

/// Processes with one `(name, user, normalised cmdline)`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessEntry {
    /// Process name.
    pub name: String,
    /// User.
    pub user: String,
    /// Command line (redacted, as in the snapshot) of one of them.
    pub cmdline: String,
    /// How many.
    pub count: u32,
    /// Their PIDs, for people (never compared).
    pub pids: Vec<u32>,
}

/// The number of processes of one kind changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessChange {
    /// Process name.
    pub name: String,
    /// User.
    pub user: String,
    /// Command line of one of them.
    pub cmdline: String,
    /// Count before.
    pub before: u32,
    /// Count after.
    pub after: u32,
}

/// A fixed port now served by other processes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListenerChange {
    /// Protocol.
    pub proto: String,
    /// Address.
    pub addr: String,
    /// Port.
    pub port: u16,
    /// Owning processes before (`?` when unknown).
    pub before: Vec<String>,
    /// Owning processes after.
    pub after: Vec<String>,
}

/// A connection count that moved beyond the tolerance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnChange {
    /// Remote address.
    pub remote_addr: String,
    /// Remote port class.
    pub remote_port_class: String,
    /// State.
    pub state: String,
    /// Count before.
    pub before: u32,
    /// Count after.
    pub after: u32,
}

/// A mount point mounted differently.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountChange {
    /// The mount point.
    pub mountpoint: String,
    /// Before.
    pub before: Mount,
    /// After.
    pub after: Mount,
}

/// A sysctl and its value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sysctl {
    /// Name (`vm.swappiness`).
    pub name: String,
    /// Value.
    pub value: String,
}

/// A sysctl whose value changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SysctlChange {
    /// Name.
    pub name: String,
    /// Value before.
    pub before: String,
    /// Value after.
    pub after: String,
}

/// A config file, without its content.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Path.
    pub path: String,
    /// SHA-256.
    pub sha256: String,
    /// Mode.
    pub mode: String,
    /// Owner.
    pub owner: String,
}

impl From<&ConfigFile> for FileEntry {
    fn from(f: &ConfigFile) -> Self {
        Self {
            path: f.path.clone(),
            sha256: f.sha256.clone(),
            mode: f.mode.clone(),
            owner: f.owner.clone(),
        }
    }
}

/// A config file that changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileChange {
    /// Path.
    pub path: String,
    /// SHA-256 before.
    pub before_sha256: String,
    /// SHA-256 after.
    pub after_sha256: String,
    /// `(before, after)` when the mode changed.
    pub mode: Option<(String, String)>,
    /// `(before, after)` when the owner changed.
    pub owner: Option<(String, String)>,
    /// Unified diff lines of the content (`@@ … @@`, ` `, `-`, `+`).
    pub diff: Vec<String>,
    /// True when `diff` was cut at `max_diff_lines`.
    pub diff_truncated: bool,
    /// Why there is no line diff although the hash changed, if so.
    pub note: Option<String>,
}

/// Identifies a Kubernetes object.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct K8sRef {
    /// `Deployment`, `ConfigMap`, ...
    pub kind: String,
    /// Namespace; empty for cluster-scoped objects.
    pub namespace: String,
    /// Name.
    pub name: String,
}

/// One JSON path that differs in a Kubernetes object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct K8sFieldChange {
    /// `spec.template.spec.containers[name=app].image`.
    pub path: String,
    /// Value before (`None`: absent).
    pub before: Option<Value>,
    /// Value after (`None`: absent).
    pub after: Option<Value>,
}

/// A Kubernetes object that changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct K8sChange {
    /// Which object.
    #[serde(flatten)]
    pub object: K8sRef,
    /// What differs (at most `max_k8s_fields`).
    pub fields: Vec<K8sFieldChange>,
    /// True when more fields differed than listed.
    pub truncated: bool,
}

/// A text (the database schema) that changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextChange {
    /// Unified diff lines.
    pub diff: Vec<String>,
    /// True when cut.
    pub truncated: bool,
    /// `added` / `missing` when only one snapshot has the text.
    pub note: Option<String>,
}

/// What differs between two snapshots, per category.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotDiff {
    /// Host of the first (before) snapshot.
    pub host_before: String,
    /// Host of the second (after) snapshot.
    pub host_after: String,
    /// When the first was taken.
    pub taken_before: Option<DateTime<Utc>>,
    /// When the second was taken.
    pub taken_after: Option<DateTime<Utc>>,
    /// Processes.
    pub processes: Changes<ProcessEntry, ProcessChange>,
    /// Listening sockets.
    pub listeners: Changes<Listener, ListenerChange>,
    /// Connection summaries.
    pub connections: Changes<ConnSummary, ConnChange>,
    /// Mounts.
    pub mounts: Changes<Mount, MountChange>,
    /// Sysctls.
    pub sysctls: Changes<Sysctl, SysctlChange>,
    /// Config files.
    pub files: Changes<FileEntry, FileChange>,
    /// Kubernetes objects.
    pub kubernetes: Changes<K8sRef, K8sChange>,
    /// Database schema.
    pub db_schema: Option<TextChange>,
}

impl SnapshotDiff {
    /// True when no category changed.
    pub fn is_empty(&self) -> bool {
        self.processes.is_empty()
            && self.listeners.is_empty()
            && self.connections.is_empty()
            && self.mounts.is_empty()
            && self.sysctls.is_empty()
            && self.files.is_empty()
            && self.kubernetes.is_empty()
            && self.db_schema.is_none()
    }

    /// Entries listed per category, `(category, added, missing, modified)`, for a
    /// one-line summary in chat.
    pub fn summary(&self) -> Vec<(&'static str, usize, usize, usize)> {
        fn c<T, M>(name: &'static str, x: &Changes<T, M>) -> (&'static str, usize, usize, usize) {
            (name, x.added.len(), x.missing.len(), x.modified.len())
        }
        vec![
            c("processes", &self.processes),
            c("listeners", &self.listeners),
            c("connections", &self.connections),
            c("mounts", &self.mounts),
            c("sysctls", &self.sysctls),
            c("files", &self.files),
            c("kubernetes", &self.kubernetes),
            ("db_schema", 0, 0, usize::from(self.db_schema.is_some())),
        ]
    }
}

/// The diff of `a` (before) and `b` (after) with the default [`DiffOptions`].
pub fn diff(a: &Snapshot, b: &Snapshot) -> SnapshotDiff {
    diff_with(a, b, &DiffOptions::default())
}

/// The diff of `a` (before) and `b` (after) with the given noise rules.
pub fn diff_with(a: &Snapshot, b: &Snapshot, o: &DiffOptions) -> SnapshotDiff {
    SnapshotDiff {
        host_before: a.host.clone(),
        host_after: b.host.clone(),
        taken_before: Some(a.taken_at),
        taken_after: Some(b.taken_at),
        processes: processes(&a.processes, &b.processes, o),
        listeners: listeners(&a.listeners, &b.listeners, o),
        connections: connections(&a.connections, &b.connections, o),
        mounts: mounts(&a.mounts, &b.mounts),
        sysctls: sysctls(&a.sysctls, &b.sysctls, o),
        files: files(&a.files, &b.files, o),
        kubernetes: kubernetes(a.kubernetes.as_ref(), b.kubernetes.as_ref(), o),
        db_schema: text(a.db_schema.as_deref(), b.db_schema.as_deref(), o),
    }
}

// ---------------------------------------------------------------- processes

/// The command line with volatile arguments masked (see the module docs).
pub fn normalize_cmdline(cmdline: &str, volatile_flags: &[String]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut mask_next = false;
    for token in cmdline.split_whitespace() {
        if mask_next {
            out.push("<v>".into());
            mask_next = false;
            continue;
        }
        if volatile_flags.iter().any(|f| f == token) {
            out.push(token.to_string());
            mask_next = true;
            continue;
        }
        if let Some(flag) = volatile_flags.iter().find(|f| {
            token.len() > f.len()
                && token.starts_with(f.as_str())
                && token.as_bytes()[f.len()] == b'='
        }) {
            out.push(format!("{flag}=<v>"));
            continue;
        }
        out.push(normalize_token(token));
    }
    out.join(" ")
}

/// Copies the literal text before `*i`, then `with`, and skips `len` bytes.
fn replace(t: &str, out: &mut String, lit: &mut usize, i: &mut usize, len: usize, with: &str) {
    out.push_str(&t[*lit..*i]);
    out.push_str(with);
    *i += len;
    *lit = *i;
}

fn normalize_token(t: &str) -> String {
    let b = t.as_bytes();
    let mut out = String::with_capacity(t.len());
    let mut lit = 0;
    let mut i = 0;
    let boundary = |i: usize| i == 0 || !b[i - 1].is_ascii_alphanumeric();
    while i < b.len() {
        if boundary(i) {
            if let Some(len) = match_timestamp(&b[i..]) {
                replace(t, &mut out, &mut lit, &mut i, len, "<ts>");
                continue;
            }
            if let Some(len) = match_uuid(&b[i..]) {
                replace(t, &mut out, &mut lit, &mut i, len, "<uuid>");
                continue;
            }
        }
        if b[i..].starts_with(b"/proc/") {
            let digits = b[i + 6..].iter().take_while(|c| c.is_ascii_digit()).count();
            if digits > 0 {
                replace(t, &mut out, &mut lit, &mut i, 6 + digits, "/proc/<pid>");
                continue;
            }
        }
        if b[i..].starts_with(b"/tmp/tmp") || b[i..].starts_with(b"/tmp/.tmp") {
            let len = b[i + 5..].iter().take_while(|c| **c != b'/').count() + 5;
            replace(t, &mut out, &mut lit, &mut i, len, "/tmp/<tmp>");
            continue;
        }
        if b[i].is_ascii_alphanumeric() && boundary(i) {
            let run = b[i..]
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric())
                .count();
            let word = &b[i..i + run];
            let digits = word.iter().all(u8::is_ascii_digit);
            let hex = word.iter().all(u8::is_ascii_hexdigit);
            let has_digit = word.iter().any(u8::is_ascii_digit);
            let has_alpha = word.iter().any(u8::is_ascii_alphabetic);
            if digits && run >= 10 {
                replace(t, &mut out, &mut lit, &mut i, run, "<n>");
            } else if hex && run >= 24 && has_digit && has_alpha {
                replace(t, &mut out, &mut lit, &mut i, run, "<hex>");
            } else {
                i += run;
            }
            continue;
        }
        i += 1;
    }
    out.push_str(&t[lit..]);
    out
}

/// `YYYY-MM-DDTHH:MM[:SS[.fff]][Z|±HH[:]MM]` at the start of `b`.
fn match_timestamp(b: &[u8]) -> Option<usize> {
    let d = |i: usize| b.get(i).is_some_and(u8::is_ascii_digit);
    let is = |i: usize, c: u8| b.get(i) == Some(&c);
    let date = (0..4).all(d) && is(4, b'-') && d(5) && d(6) && is(7, b'-') && d(8) && d(9);
    if !(date && (is(10, b'T') || is(10, b'_')) && d(11) && d(12) && is(13, b':') && d(14) && d(15))
    {
        return None;
    }
    let mut n = 16;
    if is(n, b':') && d(n + 1) && d(n + 2) {
        n += 3;
        if is(n, b'.') {
            n += 1;
            while d(n) {
                n += 1;
            }
        }
    }
    if is(n, b'Z') {
        n += 1;
    } else if (is(n, b'+') || is(n, b'-')) && d(n + 1) && d(n + 2) {
        n += 3;
        if is(n, b':') {
            n += 1;
        }
        if d(n) && d(n + 1) {
            n += 2;
        }
    }
    Some(n)
}

/// `8-4-4-4-12` hex digits at the start of `b`.
fn match_uuid(b: &[u8]) -> Option<usize> {
    if b.len() < 36 {
        return None;
    }
    let ok = b[..36].iter().enumerate().all(|(i, c)| match i {
        8 | 13 | 18 | 23 => *c == b'-',
        _ => c.is_ascii_hexdigit(),
    });
    let end_ok = b.get(36).is_none_or(|c| !c.is_ascii_alphanumeric());
    (ok && end_ok).then_some(36)
}

fn processes(
    a: &[Process],
    b: &[Process],
    o: &DiffOptions,
) -> Changes<ProcessEntry, ProcessChange> {
    type Key = (String, String, String);
    let group = |ps: &[Process]| {
        let mut m: BTreeMap<Key, ProcessEntry> = BTreeMap::new();
        for p in ps {
            let key = (
                p.name.clone(),
                p.user.clone(),
                normalize_cmdline(&p.cmdline, &o.volatile_flags),
            );
            let e = m.entry(key).or_insert_with(|| ProcessEntry {
                name: p.name.clone(),
                user: p.user.clone(),
                cmdline: p.cmdline.clone(),
                count: 0,
                pids: Vec::new(),
            });
            e.count += 1;
            e.pids.push(p.pid);
        }
        m
    };
    let (ga, mut gb) = (group(a), group(b));
    let mut out = Changes::default();
    for (key, ea) in ga {
        match gb.remove(&key) {
            None => out.missing.push(ea),
            Some(eb) if eb.count != ea.count => out.modified.push(ProcessChange {
                name: eb.name,
                user: eb.user,
                cmdline: eb.cmdline,
                before: ea.count,
                after: eb.count,
            }),
            Some(_) => {}
        }
    }
    out.added = gb.into_values().collect();
    out
}

// ---------------------------------------------------------------- listeners

type FixedKey = (String, String, u16);
type EphemeralKey = (String, String, Option<String>);

/// Listeners on fixed ports, keyed by (proto, addr, port).
fn fixed_ports(ls: &[Listener], min: u16) -> BTreeMap<FixedKey, Vec<&Listener>> {
    let mut m: BTreeMap<FixedKey, Vec<&Listener>> = BTreeMap::new();
    for l in ls.iter().filter(|l| l.port < min) {
        m.entry((l.proto.clone(), l.addr.clone(), l.port))
            .or_default()
            .push(l);
    }
    m
}

/// Listeners on ephemeral ports, keyed by (proto, addr, process).
fn ephemeral_ports(ls: &[Listener], min: u16) -> BTreeMap<EphemeralKey, Vec<&Listener>> {
    let mut m: BTreeMap<EphemeralKey, Vec<&Listener>> = BTreeMap::new();
    for l in ls.iter().filter(|l| l.port >= min) {
        m.entry((l.proto.clone(), l.addr.clone(), l.process.clone()))
            .or_default()
            .push(l);
    }
    m
}

fn listeners(a: &[Listener], b: &[Listener], o: &DiffOptions) -> Changes<Listener, ListenerChange> {
    let proc_name = |l: &Listener| l.process.clone().unwrap_or_else(|| "?".into());
    let mut out = Changes::default();

    // Fixed ports: keyed by (proto, addr, port); the owners compared as a multiset.
    let (fa, mut fb) = (
        fixed_ports(a, o.ephemeral_port_min),
        fixed_ports(b, o.ephemeral_port_min),
    );
    for (key, la) in fa {
        match fb.remove(&key) {
            None => out.missing.extend(la.into_iter().cloned()),
            Some(lb) => {
                let mut pa: Vec<String> = la.iter().map(|l| proc_name(l)).collect();
                let mut pb: Vec<String> = lb.iter().map(|l| proc_name(l)).collect();
                pa.sort();
                pb.sort();
                if pa != pb {
                    out.modified.push(ListenerChange {
                        proto: key.0,
                        addr: key.1,
                        port: key.2,
                        before: pa,
                        after: pb,
                    });
                }
            }
        }
    }
    out.added.extend(fb.into_values().flatten().cloned());

    // Ephemeral ports: keyed by (proto, addr, process), counted.
    let (ea, mut eb) = (
        ephemeral_ports(a, o.ephemeral_port_min),
        ephemeral_ports(b, o.ephemeral_port_min),
    );
    for (key, la) in ea {
        let lb = eb.remove(&key).unwrap_or_default();
        let (ports_a, ports_b): (BTreeSet<u16>, BTreeSet<u16>) = (
            la.iter().map(|l| l.port).collect(),
            lb.iter().map(|l| l.port).collect(),
        );
        if lb.len() > la.len() {
            // Report the new ones: ports not seen before first.
            let mut extra: Vec<&Listener> = lb.clone();
            extra.sort_by_key(|l| ports_a.contains(&l.port));
            out.added
                .extend(extra.into_iter().take(lb.len() - la.len()).cloned());
        } else if la.len() > lb.len() {
            let mut gone: Vec<&Listener> = la.clone();
            gone.sort_by_key(|l| ports_b.contains(&l.port));
            out.missing
                .extend(gone.into_iter().take(la.len() - lb.len()).cloned());
        }
    }
    out.added.extend(eb.into_values().flatten().cloned());
    out.added.sort();
    out.missing.sort();
    out
}

// ---------------------------------------------------------------- connections

fn connections(
    a: &[ConnSummary],
    b: &[ConnSummary],
    o: &DiffOptions,
) -> Changes<ConnSummary, ConnChange> {
    let class = |c: &str| match c.parse::<u16>() {
        Ok(p) if p >= o.ephemeral_port_min => "ephemeral".to_string(),
        _ => c.to_string(),
    };
    let group = |cs: &[ConnSummary]| {
        let mut m: BTreeMap<(String, String, String), u32> = BTreeMap::new();
        for c in cs {
            *m.entry((
                c.remote_addr.clone(),
                class(&c.remote_port_class),
                c.state.clone(),
            ))
            .or_default() += c.count;
        }
        m
    };
    let summary =
        |(remote_addr, remote_port_class, state): (String, String, String), count| ConnSummary {
            remote_addr,
            remote_port_class,
            state,
            count,
        };
    let (ga, mut gb) = (group(a), group(b));
    let mut out = Changes::default();
    for (key, na) in ga {
        match gb.remove(&key) {
            None => out.missing.push(summary(key, na)),
            Some(nb) => {
                let delta = u64::from(na.abs_diff(nb)) * 100;
                if delta > u64::from(o.conn_count_tolerance_pct) * u64::from(na) {
                    out.modified.push(ConnChange {
                        remote_addr: key.0,
                        remote_port_class: key.1,
                        state: key.2,
                        before: na,
                        after: nb,
                    });
                }
            }
        }
    }
    out.added = gb.into_iter().map(|(k, n)| summary(k, n)).collect();
    out
}

// ---------------------------------------------------------------- mounts, sysctls

fn mounts(a: &[Mount], b: &[Mount]) -> Changes<Mount, MountChange> {
    let group = |ms: &[Mount]| {
        let mut m: BTreeMap<String, Vec<Mount>> = BTreeMap::new();
        for x in ms {
            m.entry(x.mountpoint.clone()).or_default().push(x.clone());
        }
        for v in m.values_mut() {
            v.sort();
        }
        m
    };
    let (ga, mut gb) = (group(a), group(b));
    let mut out = Changes::default();
    for (mp, ma) in ga {
        let mb = gb.remove(&mp).unwrap_or_default();
        if ma == mb {
            continue;
        }
        if let ([x], [y]) = (ma.as_slice(), mb.as_slice()) {
            out.modified.push(MountChange {
                mountpoint: mp,
                before: x.clone(),
                after: y.clone(),
            });
            continue;
        }
        out.missing
            .extend(ma.iter().filter(|m| !mb.contains(m)).cloned());
        out.added
            .extend(mb.iter().filter(|m| !ma.contains(m)).cloned());
    }
    out.added.extend(gb.into_values().flatten());
    out
}

fn sysctls(
    a: &BTreeMap<String, String>,
    b: &BTreeMap<String, String>,
    o: &DiffOptions,
) -> Changes<Sysctl, SysctlChange> {
    let ignored = |name: &str| {
        o.ignore_sysctls.iter().any(|i| {
            if i.ends_with('.') {
                name.starts_with(i.as_str())
            } else {
                name == i
            }
        })
    };
    let norm = |v: &str| v.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out = Changes::default();
    for (name, va) in a.iter().filter(|(n, _)| !ignored(n)) {
        match b.get(name) {
            None => out.missing.push(Sysctl {
                name: name.clone(),
                value: va.clone(),
            }),
            Some(vb) if norm(va) != norm(vb) => out.modified.push(SysctlChange {
                name: name.clone(),
                before: va.clone(),
                after: vb.clone(),
            }),
            Some(_) => {}
        }
    }
    for (name, vb) in b.iter().filter(|(n, _)| !ignored(n) && !a.contains_key(*n)) {
        out.added.push(Sysctl {
            name: name.clone(),
            value: vb.clone(),
        });
    }
    out
}

// ---------------------------------------------------------------- files, texts

fn files(a: &[ConfigFile], b: &[ConfigFile], o: &DiffOptions) -> Changes<FileEntry, FileChange> {
    let index = |fs: &[ConfigFile]| -> BTreeMap<String, usize> {
        fs.iter()
            .enumerate()
            .map(|(i, f)| (f.path.clone(), i))
            .collect()
    };
    let (ia, mut ib) = (index(a), index(b));
    let mut out = Changes::default();
    for (path, i) in ia {
        let fa = &a[i];
        let Some(j) = ib.remove(&path) else {
            out.missing.push(FileEntry::from(fa));
            continue;
        };
        let fb = &b[j];
        let mode = (fa.mode != fb.mode).then(|| (fa.mode.clone(), fb.mode.clone()));
        let owner = (fa.owner != fb.owner).then(|| (fa.owner.clone(), fb.owner.clone()));
        let content_changed = fa.sha256 != fb.sha256;
        if !content_changed && mode.is_none() && owner.is_none() {
            continue;
        }
        let (mut lines, mut cut, mut note) = (Vec::new(), false, None);
        if content_changed {
            match (&fa.content, &fb.content) {
                (Some(ca), Some(cb)) => {
                    (lines, cut) =
                        textdiff::unified(ca, cb, o.context_lines, o.max_diff_lines, o.max_edits);
                    if lines.is_empty() {
                        note = Some("only line endings or the final newline changed".into());
                    }
                }
                _ => {
                    note = Some(
                        "content not captured (binary or over 256 KiB): only the hashes differ"
                            .into(),
                    )
                }
            }
        }
        out.modified.push(FileChange {
            path,
            before_sha256: fa.sha256.clone(),
            after_sha256: fb.sha256.clone(),
            mode,
            owner,
            diff: lines,
            diff_truncated: cut,
            note,
        });
    }
    let mut added: Vec<usize> = ib.into_values().collect();
    added.sort_unstable();
    out.added = added.into_iter().map(|j| FileEntry::from(&b[j])).collect();
    out
}

fn text(a: Option<&str>, b: Option<&str>, o: &DiffOptions) -> Option<TextChange> {
    match (a, b) {
        (None, None) => None,
        (Some(x), Some(y)) if x == y => None,
        (x, y) => {
            let (lines, truncated) = textdiff::unified(
                x.unwrap_or(""),
                y.unwrap_or(""),
                o.context_lines,
                o.max_diff_lines,
                o.max_edits,
            );
            let note = match (x, y) {
                (None, _) => Some("added".to_string()),
                (_, None) => Some("missing".to_string()),
                _ if lines.is_empty() => {
                    Some("only line endings or the final newline changed".to_string())
                }
                _ => None,
            };
            Some(TextChange {
                diff: lines,
                truncated,
                note,
            })
        }
    }
}

// ---------------------------------------------------------------- kubernetes

/// The objects in `kubectl get -o json` output, keyed and normalised (noise dropped).
pub fn k8s_objects(v: &Value) -> BTreeMap<K8sRef, Value> {
    let mut out = BTreeMap::new();
    collect_objects(v, &mut out, 0);
    out
}

fn collect_objects(v: &Value, out: &mut BTreeMap<K8sRef, Value>, depth: usize) {
    if depth > 4 {
        return;
    }
    match v {
        Value::Array(items) => items
            .iter()
            .for_each(|i| collect_objects(i, out, depth + 1)),
        Value::Object(o) => {
            let name = o
                .get("metadata")
                .and_then(|m| m.get("name"))
                .and_then(Value::as_str);
            if let (Some(Value::Array(items)), None) = (o.get("items"), name) {
                items
                    .iter()
                    .for_each(|i| collect_objects(i, out, depth + 1));
                return;
            }
            let kind = o.get("kind").and_then(Value::as_str);
            if let (Some(kind), Some(name)) = (kind, name) {
                let namespace = o
                    .get("metadata")
                    .and_then(|m| m.get("namespace"))
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let key = K8sRef {
                    kind: kind.to_string(),
                    namespace: namespace.to_string(),
                    name: name.to_string(),
                };
                out.insert(key, normalize_k8s(v));
            }
        }
        _ => {}
    }
}

fn normalize_k8s(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("status");
        if let Some(Value::Object(m)) = o.get_mut("metadata") {
            for k in [
                "resourceVersion",
                "managedFields",
                "uid",
                "generation",
                "selfLink",
            ] {
                m.remove(k);
            }
            if let Some(Value::Object(ann)) = m.get_mut("annotations") {
                ann.remove("kubectl.kubernetes.io/last-applied-configuration");
                if ann.is_empty() {
                    m.remove("annotations");
                }
            }
        }
    }
    drop_timestamps(&mut v);
    v
}

fn drop_timestamps(v: &mut Value) {
    match v {
        Value::Object(o) => {
            o.retain(|k, _| !k.ends_with("Timestamp"));
            o.values_mut().for_each(drop_timestamps);
        }
        Value::Array(a) => a.iter_mut().for_each(drop_timestamps),
        _ => {}
    }
}

fn kubernetes(a: Option<&Value>, b: Option<&Value>, o: &DiffOptions) -> Changes<K8sRef, K8sChange> {
    let none = Value::Null;
    let (oa, mut ob) = (
        k8s_objects(a.unwrap_or(&none)),
        k8s_objects(b.unwrap_or(&none)),
    );
    let mut out = Changes::default();
    for (key, va) in oa {
        let Some(vb) = ob.remove(&key) else {
            out.missing.push(key);
            continue;
        };
        if va == vb {
            continue;
        }
        let mut fields = Vec::new();
        let mut truncated = false;
        json_diff(
            String::new(),
            Some(&va),
            Some(&vb),
            &mut fields,
            o.max_k8s_fields,
            &mut truncated,
        );
        out.modified.push(K8sChange {
            object: key,
            fields,
            truncated,
        });
    }
    out.added = ob.into_keys().collect();
    out
}

fn named_items(v: &[Value]) -> Option<BTreeMap<&str, &Value>> {
    let mut m = BTreeMap::new();
    for i in v {
        let name = i.get("name").and_then(Value::as_str)?;
        if m.insert(name, i).is_some() {
            return None;
        }
    }
    Some(m)
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn json_diff(
    path: String,
    a: Option<&Value>,
    b: Option<&Value>,
    out: &mut Vec<K8sFieldChange>,
    cap: usize,
    truncated: &mut bool,
) {
    if a == b {
        return;
    }
    if out.len() >= cap {
        *truncated = true;
        return;
    }
    match (a, b) {
        (Some(Value::Object(x)), Some(Value::Object(y))) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                json_diff(join(&path, k), x.get(k), y.get(k), out, cap, truncated);
            }
        }
        (Some(Value::Array(x)), Some(Value::Array(y))) => match (named_items(x), named_items(y)) {
            (Some(nx), Some(ny)) if !nx.is_empty() || !ny.is_empty() => {
                let names: BTreeSet<&str> = nx.keys().chain(ny.keys()).copied().collect();
                for n in names {
                    json_diff(
                        format!("{path}[name={n}]"),
                        nx.get(n).copied(),
                        ny.get(n).copied(),
                        out,
                        cap,
                        truncated,
                    );
                }
            }
            _ => {
                for i in 0..x.len().max(y.len()) {
                    json_diff(
                        format!("{path}[{i}]"),
                        x.get(i),
                        y.get(i),
                        out,
                        cap,
                        truncated,
                    );
                }
            }
        },
        _ => out.push(K8sFieldChange {
            path,
            before: a.cloned(),
            after: b.cloned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::changes::snapshot::Phase;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn proc_(name: &str, cmd: &str, pid: u32) -> Process {
        Process {
            name: name.into(),
            user: "app".into(),
            cmdline: cmd.into(),
            pid,
        }
    }

    fn listener(proto: &str, port: u16, process: &str) -> Listener {
        Listener {
            proto: proto.into(),
            addr: "0.0.0.0".into(),
            port,
            process: Some(process.into()),
        }
    }

    fn conn(addr: &str, class: &str, count: u32) -> ConnSummary {
        ConnSummary {
            remote_addr: addr.into(),
            remote_port_class: class.into(),
            state: "established".into(),
            count,
        }
    }

    fn file(path: &str, content: &str) -> ConfigFile {
        ConfigFile {
            path: path.into(),
            // A stand-in hash: the diff only compares it.
            sha256: format!(
                "{:x}",
                content.len() * 31 + content.bytes().map(usize::from).sum::<usize>()
            ),
            content: Some(content.into()),
            mode: "0644".into(),
            owner: "root:root".into(),
        }
    }

    fn base() -> Snapshot {
        let mut s = Snapshot::new("trade-gw-01", Phase::Before, t("2026-11-20T12:00:00Z"));
        s.processes = vec![
            proc_("java", "java -Xmx4g -jar gw-2.3.1.jar --pid 4242", 4242),
            proc_("nginx", "nginx: worker process", 100),
            proc_("nginx", "nginx: worker process", 101),
            proc_(
                "agent",
                "agent --run-id=8f14e45f-ceea-467f-a0e6-0123456789ab --since 2026-11-20T11:59:03Z",
                300,
            ),
        ];
        s.listeners = vec![
            listener("tcp", 8080, "java"),
            listener("tcp", 40001, "java"),
            listener("udp", 514, "rsyslogd"),
        ];
        s.connections = vec![
            conn("10.0.0.5", "5432", 20),
            conn("10.0.0.9", "ephemeral", 100),
        ];
        s.mounts = vec![Mount {
            device: "/dev/sda1".into(),
            mountpoint: "/".into(),
            fstype: "ext4".into(),
            options: "rw,relatime".into(),
        }];
        s.sysctls = BTreeMap::from([
            ("net.core.somaxconn".into(), "4096".into()),
            ("fs.file-nr".into(), "1024\t0\t100".into()),
            ("net.ipv4.ip_local_port_range".into(), "32768\t60999".into()),
        ]);
        s.files = vec![file(
            "/etc/gw/gw.conf",
            "a = 1\nb = 2\nc = 3\nd = 4\ne = 5\n",
        )];
        s
    }

    /// Everything volatile moves: PIDs, times, ephemeral ports, counters, connection
    /// counts within tolerance.
    fn noisy(b: &Snapshot) -> Snapshot {
        let mut s = b.clone();
        s.phase = Phase::After;
        s.taken_at = t("2026-11-20T12:30:00Z");
        s.processes = vec![
            proc_("java", "java -Xmx4g -jar gw-2.3.1.jar --pid 5151", 5151),
            proc_("nginx", "nginx: worker process", 201),
            proc_("nginx", "nginx: worker process", 200),
            proc_(
                "agent",
                "agent --run-id=0c2bd1f0-1b7c-4a52-9d3e-fedcba987654 --since 2026-11-20T12:29:58Z",
                999,
            ),
        ];
        s.listeners = vec![
            listener("udp", 514, "rsyslogd"),
            listener("tcp", 8080, "java"),
            listener("tcp", 51234, "java"),
        ];
        s.connections = vec![conn("10.0.0.5", "5432", 22), conn("10.0.0.9", "51000", 90)];
        s.sysctls.insert("fs.file-nr".into(), "2048\t0\t100".into());
        s.sysctls
            .insert("net.ipv4.ip_local_port_range".into(), "32768 60999".into());
        s
    }

    #[test]
    fn noise_alone_is_an_empty_diff() {
        let a = base();
        let d = diff(&a, &noisy(&a));
        assert!(d.is_empty(), "{d:#?}");
        assert!(diff(&a, &a).is_empty());
    }

    #[test]
    fn pid_only_and_ephemeral_port_only_changes_are_empty() {
        let a = base();
        let mut b = a.clone();
        b.processes[0].pid = 1;
        assert!(diff(&a, &b).is_empty());
        let mut b = a.clone();
        b.listeners[1].port = 60000;
        assert!(diff(&a, &b).is_empty());
    }

    #[test]
    fn real_changes_show_in_their_category() {
        let a = base();
        let mut b = noisy(&a);
        // A release: new jar; one nginx worker fewer.
        b.processes[0].cmdline = "java -Xmx4g -jar gw-2.3.2.jar --pid 5151".into();
        b.processes.pop(); // agent gone
        b.processes.remove(2);
        // New fixed listener, a second ephemeral one, 8080 now served by envoy.
        b.listeners.push(listener("tcp", 9090, "java"));
        b.listeners.push(listener("tcp", 45000, "java"));
        b.listeners[1].process = Some("envoy".into());
        // Connections: a new database, a big drop.
        b.connections.push(conn("10.0.0.6", "3306", 4));
        b.connections[0].count = 5;
        b.sysctls.insert("net.core.somaxconn".into(), "128".into());
        b.files[0] = file("/etc/gw/gw.conf", "a = 1\nb = 2\nc = 30\nd = 4\ne = 5\n");
        b.files.push(file("/etc/gw/new.conf", "x\n"));
        b.mounts[0].options = "ro,relatime".into();
        b.db_schema = Some("CREATE TABLE t (id int);\n".into());

        let d = diff(&a, &b);
        let p = &d.processes;
        assert_eq!(
            p.added
                .iter()
                .map(|e| e.cmdline.as_str())
                .collect::<Vec<_>>(),
            ["java -Xmx4g -jar gw-2.3.2.jar --pid 5151"]
        );
        assert_eq!(p.missing.len(), 2, "old jar and agent: {p:#?}");
        assert_eq!(
            (
                p.modified[0].name.as_str(),
                p.modified[0].before,
                p.modified[0].after
            ),
            ("nginx", 2, 1)
        );

        let l = &d.listeners;
        // Which of two ephemeral ports is "the new one" cannot be known; one is added.
        assert_eq!(l.added.len(), 2, "{l:#?}");
        assert_eq!(l.added[0].port, 9090);
        assert!(l.added[1].port >= 32768);
        assert!(l.missing.is_empty());
        assert_eq!(
            (l.modified[0].before.clone(), l.modified[0].after.clone()),
            (vec!["java".to_string()], vec!["envoy".to_string()])
        );

        let c = &d.connections;
        assert_eq!(c.added, [conn("10.0.0.6", "3306", 4)]);
        assert_eq!((c.modified[0].before, c.modified[0].after), (20, 5));

        assert_eq!(
            d.sysctls.modified,
            [SysctlChange {
                name: "net.core.somaxconn".into(),
                before: "4096".into(),
                after: "128".into()
            }]
        );
        assert_eq!(d.mounts.modified.len(), 1);
        let f = &d.files;
        assert_eq!(f.added.len(), 1);
        assert_eq!(
            f.modified[0].diff,
            [
                "@@ -1,5 +1,5 @@",
                " a = 1",
                " b = 2",
                "-c = 3",
                "+c = 30",
                " d = 4",
                " e = 5"
            ]
        );
        assert_eq!(
            d.db_schema.as_ref().and_then(|s| s.note.as_deref()),
            Some("added")
        );
        assert_eq!(d.summary()[1], ("listeners", 2, 0, 1));
    }

    #[test]
    fn files_report_mode_owner_and_uncaptured_content() {
        let a = base();
        let mut b = a.clone();
        b.files[0].mode = "0600".into();
        b.files[0].owner = "app:app".into();
        let d = diff(&a, &b);
        assert_eq!(
            d.files.modified[0].mode,
            Some(("0644".into(), "0600".into()))
        );
        assert!(d.files.modified[0].diff.is_empty());
        let mut b = a.clone();
        b.files[0].sha256 = "ff".into();
        b.files[0].content = None;
        assert!(diff(&a, &b).files.modified[0]
            .note
            .as_deref()
            .unwrap()
            .contains("not captured"));
        let mut b = a.clone();
        b.files.clear();
        assert_eq!(diff(&a, &b).files.missing[0].path, "/etc/gw/gw.conf");
    }

    proptest::proptest! {
        #[test]
        fn cmdline_normalisation_never_panics(s in "\\PC{0,80}", t in "[-0-9a-f/=:.T+Z procm]{0,60}") {
            let flags = DiffOptions::default().volatile_flags;
            for input in [s.clone(), t.clone(), format!("{t}{s}{t}")] {
                let once = normalize_cmdline(&input, &flags);
                proptest::prop_assert_eq!(normalize_cmdline(&once, &flags), once.clone());
            }
        }
    }

    #[test]
    fn cmdline_normalisation_masks_volatile_values_only() {
        let flags = DiffOptions::default().volatile_flags;
        let n = |s: &str| normalize_cmdline(s, &flags);
        assert_eq!(
            n("x --pid=12 --pid 13 --port 8080"),
            "x --pid=<v> --pid <v> --port 8080"
        );
        assert_eq!(
            n("x /proc/1234/fd --at=2026-11-20T12:00:00.123+08:00 y"),
            "x /proc/<pid>/fd --at=<ts> y"
        );
        assert_eq!(
            n("shim -id 4f3c2b1a0e9d8c7b6a5f4e3d2c1b0a99887766554433 -t 1763640000"),
            "shim -id <hex> -t <n>"
        );
        assert_eq!(
            n("app-2.3.1.jar --workers 8 /tmp/tmpa1b2c3/sock"),
            "app-2.3.1.jar --workers 8 /tmp/<tmp>/sock"
        );
        assert_eq!(n("id=8f14e45f-ceea-467f-a0e6-0123456789ab"), "id=<uuid>");
        assert_eq!(n("名字 --pid"), "名字 --pid");
    }

    fn deployment(image: &str, rv: &str, replicas: u32) -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {
                "name": "gw", "namespace": "trading", "resourceVersion": rv, "uid": format!("uid-{rv}"),
                "generation": rv.len(), "creationTimestamp": "2026-11-01T00:00:00Z",
                "managedFields": [{"manager": "kubectl", "time": rv}],
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": rv}
            },
            "spec": {"replicas": replicas, "template": {"metadata": {"annotations": {}}, "spec": {"containers": [
                {"name": "sidecar", "image": "envoy:1"},
                {"name": "app", "image": image}
            ]}}},
            "status": {"observedGeneration": rv.len(), "conditions": [{"lastUpdateTime": rv}]}
        })
    }

    #[test]
    fn kubernetes_ignores_bookkeeping_and_names_changed_paths() {
        let list = |items: Vec<Value>| json!({"apiVersion": "v1", "kind": "List", "items": items});
        let cm = json!({"kind": "ConfigMap", "metadata": {"name": "gw-conf", "namespace": "trading"}, "data": {"a": "1"}});
        let mut a = base();
        a.kubernetes = Some(list(vec![deployment("gw:2.3.1", "100", 3), cm.clone()]));
        let mut b = a.clone();
        b.kubernetes = Some(list(vec![deployment("gw:2.3.1", "187", 3), cm.clone()]));
        assert!(
            diff(&a, &b).is_empty(),
            "resourceVersion, uid, managedFields, status, timestamps ignored"
        );

        b.kubernetes = Some(list(vec![deployment("gw:2.3.2", "190", 4)]));
        let d = diff(&a, &b);
        assert_eq!(
            d.kubernetes.missing,
            [K8sRef {
                kind: "ConfigMap".into(),
                namespace: "trading".into(),
                name: "gw-conf".into()
            }]
        );
        let paths: Vec<(&str, Option<&Value>)> = d.kubernetes.modified[0]
            .fields
            .iter()
            .map(|f| (f.path.as_str(), f.after.as_ref()))
            .collect();
        assert_eq!(
            paths,
            [
                ("spec.replicas", Some(&json!(4))),
                (
                    "spec.template.spec.containers[name=app].image",
                    Some(&json!("gw:2.3.2"))
                ),
            ]
        );
    }
}
