//! The host sensor: reads this Linux host's `/proc` (and allow-listed files) into a
//! [`Snapshot`] of its "perception factors", taken before and after a change and
//! diffed by `warroom_core::changes::diff`.
//!
//! What it reads:
//! - processes: `/proc/<pid>/cmdline` (secrets masked by [`redact`]) and `status`
//!   (`Name`, real `Uid`), users from `/etc/passwd`; kernel threads (empty command
//!   line) are left out;
//! - sockets: `/proc/net/{tcp,tcp6,udp,udp6}` — TCP `LISTEN` and unconnected bound UDP
//!   sockets are listeners, TCP `ESTABLISHED` connections are counted per remote
//!   address and port class; owners are found through the `socket:[inode]` links in
//!   `/proc/<pid>/fd` where readable;
//! - mounts from `/proc/self/mounts`, sysctls from `/proc/sys` (an allow-list);
//! - config files from an allow-list of paths and globs (`*`, `?`, `**`): SHA-256 of
//!   the whole file, the content when it is UTF-8 text of at most 256 KiB, mode, owner;
//! - optionally `kubectl get -o json` output and a database schema dump, from files.
//!
//! Anything unreadable (a process that exited, another user's `fd` directory, a
//! missing file) is skipped, never a panic; configured items that cannot be used are
//! logged at `warn`. Only an unreadable `/proc` itself is an error.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::io::Read;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use warroom_core::changes::{
    redact, ConfigFile, ConnSummary, Listener, Mount, Phase, Process, Snapshot, MAX_FILE_CONTENT,
};

/// Largest `kubectl` JSON or schema dump read (16 MiB).
const MAX_SIDE_FILE: u64 = 16 * 1024 * 1024;
/// Deepest directory level a `**` descends.
const MAX_GLOB_DEPTH: usize = 8;

/// What to collect. `Default` reads the real `/proc` with a small sysctl allow-list
/// and no files.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SensorOptions {
    /// Where procfs is mounted.
    pub proc_root: PathBuf,
    /// The user database (uid → name).
    pub passwd: PathBuf,
    /// The group database (gid → name).
    pub group: PathBuf,
    /// Host name to record; default: `/proc/sys/kernel/hostname`.
    pub host: Option<String>,
    /// The catalog service this host runs.
    pub service: Option<String>,
    /// The change the snapshot is taken for.
    pub change_id: Option<String>,
    /// Before or after the change.
    pub phase: Phase,
    /// Time to record; default: now.
    pub taken_at: Option<DateTime<Utc>>,
    /// Sysctls to read (`net.core.somaxconn`).
    pub sysctls: Vec<String>,
    /// Config files: absolute paths or globs (`/etc/nginx/**/*.conf`).
    pub files: Vec<String>,
    /// Content larger than this keeps only its hash (at most 256 KiB).
    pub max_file_bytes: usize,
    /// At most this many files are read.
    pub max_files: usize,
    /// A file with `kubectl get … -o json` output.
    pub kubectl_json: Option<PathBuf>,
    /// A file with a schema dump (`pg_dump --schema-only`).
    pub db_schema: Option<PathBuf>,
    /// Only these processes, and only sockets they own (for tests and per-service
    /// snapshots on shared hosts); `None` = everything.
    pub pids: Option<BTreeSet<u32>>,
    /// Read mounts.
    pub include_mounts: bool,
    /// Remote ports at or above this count as `ephemeral` in connection summaries.
    pub ephemeral_port_min: u16,
}

impl Default for SensorOptions {
    fn default() -> Self {
        Self {
            proc_root: PathBuf::from("/proc"),
            passwd: PathBuf::from("/etc/passwd"),
            group: PathBuf::from("/etc/group"),
            host: None,
            service: None,
            change_id: None,
            phase: Phase::Before,
            taken_at: None,
            sysctls: [
                "net.core.somaxconn",
                "net.core.rmem_max",
                "net.core.wmem_max",
                "net.ipv4.tcp_max_syn_backlog",
                "net.ipv4.tcp_tw_reuse",
                "net.ipv4.tcp_keepalive_time",
                "net.ipv4.ip_local_port_range",
                "vm.swappiness",
                "vm.overcommit_memory",
                "vm.max_map_count",
                "fs.file-max",
                "kernel.pid_max",
                "kernel.shmmax",
            ]
            .map(String::from)
            .to_vec(),
            files: Vec::new(),
            max_file_bytes: MAX_FILE_CONTENT,
            max_files: 2000,
            kubectl_json: None,
            db_schema: None,
            pids: None,
            include_mounts: true,
            ephemeral_port_min: 32768,
        }
    }
}

/// Takes a snapshot of this host.
///
/// # Errors
/// Only when `opts.proc_root` cannot be listed (not Linux, or procfs not mounted).
pub fn collect(opts: &SensorOptions) -> anyhow::Result<Snapshot> {
    let proc_root = &opts.proc_root;
    let entries = fs::read_dir(proc_root).with_context(|| {
        format!(
            "reading {} (the sensor needs Linux procfs)",
            proc_root.display()
        )
    })?;
    let host = opts
        .host
        .clone()
        .or_else(|| {
            fs::read_to_string(proc_root.join("sys/kernel/hostname"))
                .ok()
                .map(|h| h.trim().to_string())
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into());
    let mut snap = Snapshot::new(&host, opts.phase, opts.taken_at.unwrap_or_else(Utc::now));
    snap.service = opts.service.clone();
    snap.change_id = opts.change_id.clone();

    let users = id_names(&opts.passwd);
    let groups = id_names(&opts.group);

    // Processes, and the socket inodes each owns.
    let mut sockets: HashMap<u64, String> = HashMap::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if opts.pids.as_ref().is_some_and(|p| !p.contains(&pid)) {
            continue;
        }
        let dir = entry.path();
        let Some(p) = read_process(&dir, pid, &users) else {
            continue;
        };
        for inode in socket_inodes(&dir) {
            sockets.entry(inode).or_insert_with(|| p.name.clone());
        }
        snap.processes.push(p);
    }
    snap.processes.sort();

    // Sockets.
    let mut conns: BTreeMap<(String, String), u32> = BTreeMap::new();
    for proto in ["tcp", "tcp6", "udp", "udp6"] {
        let Ok(text) = fs::read_to_string(proc_root.join("net").join(proto)) else {
            continue;
        };
        for s in parse_proc_net(&text) {
            let owner = sockets.get(&s.inode).cloned();
            if opts.pids.is_some() && owner.is_none() {
                continue;
            }
            let tcp = proto.starts_with("tcp");
            if (tcp && s.state == TCP_LISTEN)
                || (!tcp && s.state == UDP_UNCONN && s.remote_port == 0)
            {
                snap.listeners.push(Listener {
                    proto: proto.to_string(),
                    addr: s.local_addr,
                    port: s.local_port,
                    process: owner,
                });
            } else if tcp && s.state == TCP_ESTABLISHED {
                let class = if s.remote_port >= opts.ephemeral_port_min {
                    "ephemeral".to_string()
                } else {
                    s.remote_port.to_string()
                };
                *conns.entry((s.remote_addr, class)).or_default() += 1;
            }
        }
    }
    snap.listeners.sort();
    snap.listeners.dedup();
    snap.connections = conns
        .into_iter()
        .map(|((remote_addr, remote_port_class), count)| ConnSummary {
            remote_addr,
            remote_port_class,
            state: "established".into(),
            count,
        })
        .collect();

    if opts.include_mounts {
        if let Ok(text) = fs::read_to_string(proc_root.join("self/mounts")) {
            snap.mounts = parse_mounts(&text);
        }
    }

    for name in &opts.sysctls {
        // Only plain components under /proc/sys: `.` and `/` both separate, so no
        // `..` and no absolute path can be formed.
        let mut path = proc_root.join("sys");
        let parts: Vec<&str> = name.split(['.', '/']).filter(|c| !c.is_empty()).collect();
        if parts.is_empty() {
            continue;
        }
        path.extend(parts);
        if let Ok(v) = fs::read_to_string(&path) {
            snap.sysctls
                .insert(name.trim().to_string(), v.trim().to_string());
        }
    }

    let mut paths = BTreeSet::new();
    for pattern in &opts.files {
        expand_glob(pattern, opts.max_files, &mut paths);
    }
    let cap = opts.max_file_bytes.min(MAX_FILE_CONTENT);
    for path in paths.into_iter().take(opts.max_files) {
        match read_config_file(&path, cap, &users, &groups) {
            Some(f) => snap.files.push(f),
            None => {
                tracing::warn!(path = %path.display(), "sensor: config file unreadable, skipped")
            }
        }
    }

    if let Some(path) = &opts.kubectl_json {
        match read_capped(path).and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
        {
            Ok(v) => snap.kubernetes = Some(v),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "sensor: kubectl JSON skipped")
            }
        }
    }
    if let Some(path) = &opts.db_schema {
        match read_capped(path)
            .and_then(|b| String::from_utf8(b).map_err(|_| "not UTF-8 text".to_string()))
        {
            Ok(s) => snap.db_schema = Some(s),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "sensor: schema dump skipped")
            }
        }
    }
    Ok(snap)
}

/// SHA-256 of `bytes`, lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        // Writing to a String cannot fail.
        let _ = write!(s, "{b:02x}");
    }
    s
}

fn read_capped(path: &Path) -> Result<Vec<u8>, String> {
    let f = fs::File::open(path).map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    f.take(MAX_SIDE_FILE + 1)
        .read_to_end(&mut buf)
        .map_err(|e| e.to_string())?;
    if buf.len() as u64 > MAX_SIDE_FILE {
        return Err(format!("larger than {MAX_SIDE_FILE} bytes"));
    }
    Ok(buf)
}

/// `name:x:id:...` lines (passwd, group) → id → name.
fn id_names(path: &Path) -> HashMap<u32, String> {
    fs::read_to_string(path)
        .map(|t| parse_id_names(&t))
        .unwrap_or_default()
}

fn parse_id_names(text: &str) -> HashMap<u32, String> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let mut f = l.split(':');
            let name = f.next()?;
            let id = f.nth(1)?.parse().ok()?;
            Some((id, name.to_string()))
        })
        .collect()
}

fn name_of(ids: &HashMap<u32, String>, id: u32) -> String {
    ids.get(&id).cloned().unwrap_or_else(|| id.to_string())
}

fn read_process(dir: &Path, pid: u32, users: &HashMap<u32, String>) -> Option<Process> {
    let raw = fs::read(dir.join("cmdline")).ok()?;
    let args: Vec<String> = raw
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    if args.is_empty() {
        return None; // a kernel thread, or a zombie
    }
    let status = fs::read_to_string(dir.join("status")).ok()?;
    let field = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .map(str::trim)
    };
    let name = field("Name:")?.to_string();
    let uid = field("Uid:")
        .and_then(|u| u.split_whitespace().next())
        .and_then(|u| u.parse().ok())?;
    Some(Process {
        name,
        user: name_of(users, uid),
        cmdline: redact(&args.join(" ")),
        pid,
    })
}

fn socket_inodes(dir: &Path) -> Vec<u64> {
    let Ok(fds) = fs::read_dir(dir.join("fd")) else {
        return Vec::new();
    };
    fds.flatten()
        .filter_map(|fd| fs::read_link(fd.path()).ok())
        .filter_map(|target| {
            let t = target.to_str()?;
            t.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok()
        })
        .collect()
}

const TCP_ESTABLISHED: u8 = 0x01;
const TCP_LISTEN: u8 = 0x0A;
const UDP_UNCONN: u8 = 0x07;

/// One line of `/proc/net/{tcp,udp}[6]`.
#[derive(Debug, PartialEq, Eq)]
struct RawSocket {
    local_addr: String,
    local_port: u16,
    remote_addr: String,
    remote_port: u16,
    state: u8,
    inode: u64,
}

fn parse_proc_net(text: &str) -> Vec<RawSocket> {
    text.lines()
        .skip(1)
        .filter_map(parse_proc_net_line)
        .collect()
}

fn parse_proc_net_line(line: &str) -> Option<RawSocket> {
    let f: Vec<&str> = line.split_whitespace().collect();
    let (local_addr, local_port) = parse_endpoint(f.get(1)?)?;
    let (remote_addr, remote_port) = parse_endpoint(f.get(2)?)?;
    Some(RawSocket {
        local_addr,
        local_port,
        remote_addr,
        remote_port,
        state: u8::from_str_radix(f.get(3)?, 16).ok()?,
        inode: f.get(9)?.parse().ok()?,
    })
}

/// `0100007F:1F90` (IPv4) or 32 hex digits `:PORT` (IPv6). The kernel prints each
/// 32-bit word of the network-order address as a host-order number, so the words are
/// turned back into bytes in host order.
fn parse_endpoint(s: &str) -> Option<(String, u16)> {
    let (addr, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |i: usize| -> Option<[u8; 4]> {
        Some(
            u32::from_str_radix(addr.get(i * 8..i * 8 + 8)?, 16)
                .ok()?
                .to_ne_bytes(),
        )
    };
    let ip = match addr.len() {
        8 => Ipv4Addr::from(word(0)?).to_string(),
        32 => {
            let mut b = [0u8; 16];
            for i in 0..4 {
                b[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            Ipv6Addr::from(b).to_string()
        }
        _ => return None,
    };
    Some((ip, port))
}

fn parse_mounts(text: &str) -> Vec<Mount> {
    let mut out: Vec<Mount> = text
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some(Mount {
                device: unescape_octal(f.first()?),
                mountpoint: unescape_octal(f.get(1)?),
                fstype: (*f.get(2)?).to_string(),
                options: (*f.get(3)?).to_string(),
            })
        })
        .collect();
    out.sort();
    out
}

/// `/proc/mounts` writes space, tab, newline and backslash as `\040` etc.
fn unescape_octal(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..=i + 3].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (u32::from(b[i + 1] - b'0') << 6)
                | (u32::from(b[i + 2] - b'0') << 3)
                | u32::from(b[i + 3] - b'0');
            if let Ok(byte) = u8::try_from(v) {
                out.push(byte);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn read_config_file(
    path: &Path,
    cap: usize,
    users: &HashMap<u32, String>,
    groups: &HashMap<u32, String>,
) -> Option<ConfigFile> {
    let meta = fs::metadata(path).ok()?;
    if !meta.is_file() {
        return None;
    }
    let mut f = fs::File::open(path).ok()?;
    let mut hasher = Sha256::new();
    let mut kept: Vec<u8> = Vec::new();
    let mut total = 0usize;
    let mut buf = [0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        let chunk = buf.get(..n)?;
        hasher.update(chunk);
        if total <= cap {
            kept.extend_from_slice(chunk);
        }
        total += n;
    }
    let content = if total <= cap {
        String::from_utf8(kept).ok()
    } else {
        None
    };
    Some(ConfigFile {
        path: path.to_string_lossy().into_owned(),
        sha256: hex(&hasher.finalize()),
        content,
        mode: format!("{:04o}", meta.mode() & 0o7777),
        owner: format!(
            "{}:{}",
            name_of(users, meta.uid()),
            name_of(groups, meta.gid())
        ),
    })
}

// ---------------------------------------------------------------- globs

/// Adds the regular files `pattern` names to `out` (at most `cap` in all). Plain paths
/// are taken as they are; `*` and `?` match within one path component (not a leading
/// `.` unless the pattern has one); `**` matches any number of directories (at most
/// 8 deep, symlinked directories not followed).
fn expand_glob(pattern: &str, cap: usize, out: &mut BTreeSet<PathBuf>) {
    let pattern = pattern.trim();
    if pattern.is_empty() {
        return;
    }
    if !pattern.contains(['*', '?']) {
        out.insert(PathBuf::from(pattern));
        return;
    }
    let (base, rest) = match pattern.strip_prefix('/') {
        Some(r) => (PathBuf::from("/"), r),
        None => (PathBuf::from("."), pattern),
    };
    let comps: Vec<&str> = rest
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    walk(&base, &comps, 0, cap, out);
}

fn walk(base: &Path, comps: &[&str], depth: usize, cap: usize, out: &mut BTreeSet<PathBuf>) {
    if out.len() >= cap {
        return;
    }
    let Some((first, rest)) = comps.split_first() else {
        if base.is_file() {
            out.insert(base.to_path_buf());
        }
        return;
    };
    if *first == "**" {
        walk(base, rest, depth, cap, out);
        if depth >= MAX_GLOB_DEPTH {
            return;
        }
        for dir in children(base)
            .into_iter()
            .filter(|p| fs::symlink_metadata(p).is_ok_and(|m| m.is_dir()))
        {
            walk(&dir, comps, depth + 1, cap, out);
        }
    } else if first.contains(['*', '?']) {
        for child in children(base) {
            let name = child.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if wildcard(first, name) {
                walk(&child, rest, depth, cap, out);
            }
        }
    } else {
        walk(&base.join(first), rest, depth, cap, out);
    }
}

fn children(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// `*` (any run) and `?` (one character) within one name.
fn wildcard(pattern: &str, name: &str) -> bool {
    if name.starts_with('.') && !pattern.starts_with('.') {
        return false;
    }
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ni));
                pi += 1;
            }
            Some(c) if *c == '?' || *c == n[ni] => {
                pi += 1;
                ni += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    pi = sp + 1;
                    ni = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Child, Command, Stdio};

    use warroom_core::changes::diff;

    use super::*;

    #[test]
    fn proc_net_lines_parse_v4_and_v6() {
        let v4 = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 124821 1 0000 100 0 0 10 0\n   1: 0500000A:C350 0600000A:1538 01 00000000:00000000 00:00000000 00000000  1000        0 99 1\n   2: garbage\n";
        let s = parse_proc_net(v4);
        assert_eq!(s.len(), 2);
        if cfg!(target_endian = "little") {
            assert_eq!(
                (
                    s[0].local_addr.as_str(),
                    s[0].local_port,
                    s[0].state,
                    s[0].inode
                ),
                ("127.0.0.1", 8080, TCP_LISTEN, 124821)
            );
            assert_eq!(
                (s[1].remote_addr.as_str(), s[1].remote_port, s[1].state),
                ("10.0.0.6", 5432, TCP_ESTABLISHED)
            );
        }
        let v6 = "hdr\n 0: 00000000000000000000000000000000:0016 00000000000000000000000000000000:0000 0A 0:0 0:0 0 0 0 777 1\n 1: 0000000000000000FFFF00000100007F:1F90 00000000000000000000000000000000:0000 0A 0:0 0:0 0 0 0 778 1\n";
        let s = parse_proc_net(v6);
        assert_eq!((s[0].local_addr.as_str(), s[0].local_port), ("::", 22));
        if cfg!(target_endian = "little") {
            assert_eq!(s[1].local_addr, "::ffff:127.0.0.1");
        }
        assert_eq!(parse_endpoint("XYZ:1"), None);
        assert_eq!(parse_endpoint("0100007F"), None);
    }

    #[test]
    fn mounts_passwd_and_wildcards() {
        let m = parse_mounts(
            "/dev/sda1 / ext4 rw,relatime 0 0\nserver:/x /mnt/my\\040disk nfs ro 0 0\nshort line\n",
        );
        assert_eq!(m.len(), 2);
        assert_eq!(m[1].mountpoint, "/mnt/my disk");
        assert_eq!(unescape_octal("a\\134b\\0"), "a\\b\\0");
        let ids = parse_id_names(
            "root:x:0:0:root:/root:/bin/bash\n# c\nbad\napp:x:1000:1000::/home/app:/bin/sh\n",
        );
        assert_eq!(
            (
                ids.get(&0).map(String::as_str),
                ids.get(&1000).map(String::as_str)
            ),
            (Some("root"), Some("app"))
        );
        assert!(wildcard("*.conf", "nginx.conf"));
        assert!(wildcard("n?inx.*", "nginx.conf"));
        assert!(wildcard("*", "a"));
        assert!(!wildcard("*.conf", ".hidden.conf"));
        assert!(wildcard(".*", ".hidden"));
        assert!(!wildcard("*.conf", "nginx.conf.bak"));
        assert!(wildcard("a*b*c", "axxbyyc"));
        assert!(!wildcard("a*b*c", "axxbyy"));
    }

    #[test]
    fn globs_find_files_and_skip_the_unreadable() {
        let dir = TempDir::new("glob");
        let root = dir.path();
        fs::create_dir_all(root.join("a/b")).unwrap();
        for f in ["x.conf", "a/y.conf", "a/b/z.conf", "a/b/skip.txt"] {
            fs::write(root.join(f), "k = v\n").unwrap();
        }
        let mut out = BTreeSet::new();
        expand_glob(&format!("{}/**/*.conf", root.display()), 100, &mut out);
        assert_eq!(out.len(), 3, "{out:?}");
        let mut out = BTreeSet::new();
        expand_glob(&format!("{}/*/*.conf", root.display()), 100, &mut out);
        assert_eq!(out.len(), 1);
        let users = HashMap::new();
        assert!(read_config_file(&root.join("missing"), 10, &users, &users).is_none());
        assert!(
            read_config_file(&root.join("a"), 10, &users, &users).is_none(),
            "a directory"
        );
        let big = read_config_file(&root.join("x.conf"), 3, &users, &users).unwrap();
        assert_eq!(
            (big.content, big.sha256.len()),
            (None, 64),
            "over the cap: hash only"
        );
        let f = read_config_file(&root.join("x.conf"), 100, &users, &users).unwrap();
        assert_eq!(f.sha256, sha256_hex(b"k = v\n"));
        assert_eq!(f.content.as_deref(), Some("k = v\n"));
    }

    #[test]
    fn sha256_matches_a_known_vector() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    /// A directory under the system temp dir, removed on drop (no `tempfile` in this crate).
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> Self {
            let nanos = Utc::now().timestamp_nanos_opt().unwrap_or_default();
            let p = std::env::temp_dir().join(format!(
                "warroom-sensor-{tag}-{}-{nanos}",
                std::process::id()
            ));
            fs::create_dir_all(&p).unwrap();
            Self(p)
        }

        fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    /// Kills the helper child if the test fails half-way.
    struct Reap(Child);

    impl Drop for Reap {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    /// Reads lines until one contains `marker`; returns the rest of that line, trimmed.
    fn read_until(out: &mut impl BufRead, marker: &str) -> Option<String> {
        let mut line = String::new();
        while out.read_line(&mut line).ok()? > 0 {
            if let Some(i) = line.find(marker) {
                return Some(line[i + marker.len()..].trim().to_string());
            }
            line.clear();
        }
        None
    }

    const CHILD_ENV: &str = "WARROOM_SENSOR_TEST_CHILD";

    /// The helper process of [`a_real_snapshot_diff_shows_exactly_the_new_listener_and_file`]:
    /// a no-op in a normal test run; with `WARROOM_SENSOR_TEST_CHILD` set it prints
    /// `READY`, waits for a line on stdin, binds 127.0.0.1:0, prints `PORT <n>` and waits
    /// for stdin to close.
    #[test]
    fn sensor_listener_child() {
        if std::env::var_os(CHILD_ENV).is_none() {
            return;
        }
        println!("\nREADY");
        std::io::stdout().flush().unwrap();
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).unwrap();
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        println!("\nPORT {}", l.local_addr().unwrap().port());
        std::io::stdout().flush().unwrap();
        line.clear();
        let _ = std::io::stdin().read_line(&mut line);
        drop(l);
    }

    /// Snapshots THIS machine's real /proc twice, around a new TCP listener and an edit
    /// of an allow-listed config file, and checks the diff shows exactly those two.
    ///
    /// Filtering: the listener is opened by a child process (this test binary re-run
    /// with only `sensor_listener_child`), and the sensor is restricted to that child's
    /// PID (`SensorOptions::pids`), so other processes and other tests running in this
    /// process cannot add processes or sockets; the config allow-list is a glob in a
    /// fresh temp dir. Mounts and a static sysctl are read unfiltered: the few
    /// milliseconds between the snapshots would have to see a mount change to flake.
    #[test]
    fn a_real_snapshot_diff_shows_exactly_the_new_listener_and_file() {
        if !Path::new("/proc/self/stat").exists() {
            eprintln!("skipped: no /proc on this machine");
            return;
        }
        let dir = TempDir::new("real");
        let conf = dir.path().join("app.conf");
        fs::write(&conf, "listen = 8080\nworkers = 4\n").unwrap();

        let exe = std::env::current_exe().unwrap();
        let child = Command::new(exe)
            .args([
                "sensor::tests::sensor_listener_child",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut child = Reap(child);
        let pid = child.0.id();
        let mut out = BufReader::new(child.0.stdout.take().unwrap());
        // Wait until the child runs its test (exec and harness start-up done).
        assert!(read_until(&mut out, "READY").is_some(), "the child started");
        let mut opts = SensorOptions {
            pids: Some(BTreeSet::from([pid])),
            files: vec![format!("{}/*.conf", dir.path().display())],
            sysctls: vec![
                "kernel.ostype".into(),
                "no.such.sysctl".into(),
                "../../etc/passwd".into(),
            ],
            ..SensorOptions::default()
        };
        let before = collect(&opts).unwrap();
        assert_eq!(before.processes.len(), 1, "{:?}", before.processes);
        assert_eq!(before.processes[0].pid, pid);
        assert!(before.listeners.is_empty(), "{:?}", before.listeners);
        assert!(
            before.mounts.iter().any(|m| m.mountpoint == "/"),
            "{:?}",
            before.mounts
        );
        assert_eq!(before.sysctls.keys().collect::<Vec<_>>(), ["kernel.ostype"]);
        assert_eq!(before.files.len(), 1);
        assert_eq!(
            before.files[0].sha256,
            sha256_hex(b"listen = 8080\nworkers = 4\n")
        );
        let json = serde_json::to_vec(&before).unwrap();
        assert_eq!(Snapshot::from_json(&json).unwrap(), before);

        // The change: a new listener in the child, an edited config file.
        let mut stdin = child.0.stdin.take().unwrap();
        writeln!(stdin, "listen").unwrap();
        let port = read_until(&mut out, "PORT ")
            .and_then(|p| p.parse::<u16>().ok())
            .expect("the child printed its port");
        fs::write(&conf, "listen = 8080\nworkers = 8\n").unwrap();
        opts.phase = Phase::After;
        let after = collect(&opts).unwrap();
        drop(stdin);

        let mut d = diff(&before, &after);
        let added = std::mem::take(&mut d.listeners.added);
        assert_eq!(
            added,
            [Listener {
                proto: "tcp".into(),
                addr: "127.0.0.1".into(),
                port,
                process: Some(before.processes[0].name.clone()),
            }]
        );
        let files = std::mem::take(&mut d.files.modified);
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].path, conf.display().to_string());
        assert_eq!(
            files[0].diff,
            [
                "@@ -1,2 +1,2 @@",
                " listen = 8080",
                "-workers = 4",
                "+workers = 8"
            ]
        );
        assert!(d.is_empty(), "nothing else changed: {d:#?}");
    }
}
