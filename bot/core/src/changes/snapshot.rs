//! Host snapshots ("perception factors"): what one host looked like just before or
//! just after a change — processes, listening sockets, a summary of connections,
//! mounts, selected sysctls, allow-listed config files, and optionally Kubernetes
//! objects and a database schema dump.
//!
//! A snapshot is plain data with a format version ([`SNAPSHOT_FORMAT`]); the sensor
//! (`warroom::sensor`) fills it from `/proc`, and `POST /api/snapshots` receives it as
//! JSON through [`Snapshot::from_json`], which checks the version and the limits.
//! Command lines are stored redacted ([`super::redact`]).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The snapshot format this build writes and reads.
pub const SNAPSHOT_FORMAT: u32 = 1;
/// Largest config file content kept in a snapshot (256 KiB); larger files keep only
/// their hash.
pub const MAX_FILE_CONTENT: usize = 256 * 1024;
/// Most entries accepted per category (processes, listeners, files, ...).
pub const MAX_ENTRIES: usize = 100_000;
/// Largest snapshot accepted by [`Snapshot::from_json`] (64 MiB).
pub const MAX_SNAPSHOT_BYTES: usize = 64 * 1024 * 1024;

/// Before or after the change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Taken before the change.
    Before,
    /// Taken after the change.
    After,
}

/// A running process.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Process {
    /// The kernel's process name (`comm`, at most 15 bytes).
    pub name: String,
    /// The user name of its real uid (the number when the user is unknown).
    pub user: String,
    /// The command line, arguments separated by spaces, secrets masked.
    pub cmdline: String,
    /// Process id (ignored by the diff).
    pub pid: u32,
}

/// A listening socket (TCP `LISTEN`, or a bound unconnected UDP socket).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Listener {
    /// `tcp`, `tcp6`, `udp`, `udp6`.
    pub proto: String,
    /// Local address: `0.0.0.0`, `127.0.0.1`, `::`.
    pub addr: String,
    /// Local port.
    pub port: u16,
    /// Name of the owning process, when it could be found.
    pub process: Option<String>,
}

/// Established connections to one remote endpoint class, counted.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ConnSummary {
    /// Remote address.
    pub remote_addr: String,
    /// The remote port as a number (`"5432"`), or `"ephemeral"` for client ports.
    pub remote_port_class: String,
    /// TCP state, lower case (`established`).
    pub state: String,
    /// How many such connections.
    pub count: u32,
}

/// A mounted file system.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Mount {
    /// Source device (`/dev/sda1`, `tmpfs`, `server:/export`).
    pub device: String,
    /// Where it is mounted.
    pub mountpoint: String,
    /// File system type.
    pub fstype: String,
    /// Mount options as in `/proc/self/mounts`.
    pub options: String,
}

/// An allow-listed configuration file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigFile {
    /// Absolute path.
    pub path: String,
    /// SHA-256 of the whole content, lower-case hex.
    pub sha256: String,
    /// The content when it is text of at most [`MAX_FILE_CONTENT`] bytes.
    pub content: Option<String>,
    /// Permission bits in octal, `0644`.
    pub mode: String,
    /// `user:group`.
    pub owner: String,
}

/// What one host looked like at one moment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Format version: [`SNAPSHOT_FORMAT`].
    pub format: u32,
    /// Host name.
    pub host: String,
    /// The catalog service the host runs, if known.
    #[serde(default)]
    pub service: Option<String>,
    /// The change it was taken for, if any.
    #[serde(default)]
    pub change_id: Option<String>,
    /// Before or after the change.
    pub phase: Phase,
    /// When it was taken (ignored by the diff).
    pub taken_at: DateTime<Utc>,
    /// Running processes (kernel threads excluded).
    #[serde(default)]
    pub processes: Vec<Process>,
    /// Listening sockets.
    #[serde(default)]
    pub listeners: Vec<Listener>,
    /// Established connections, summarised.
    #[serde(default)]
    pub connections: Vec<ConnSummary>,
    /// Mounted file systems.
    #[serde(default)]
    pub mounts: Vec<Mount>,
    /// Allow-listed sysctls, `net.core.somaxconn` → `4096`.
    #[serde(default)]
    pub sysctls: BTreeMap<String, String>,
    /// Allow-listed config files.
    #[serde(default)]
    pub files: Vec<ConfigFile>,
    /// `kubectl get -o json` output (a `List` or one object), if collected.
    #[serde(default)]
    pub kubernetes: Option<serde_json::Value>,
    /// A database schema dump (`pg_dump --schema-only`, `mysqldump --no-data`), if collected.
    #[serde(default)]
    pub db_schema: Option<String>,
}

/// Why a snapshot was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum SnapshotError {
    /// Not JSON of the snapshot shape.
    #[error("not a snapshot: {message}")]
    Malformed {
        /// The parser's message.
        message: String,
    },
    /// Written by a newer (or unknown) format.
    #[error("snapshot format {found} is not supported (this build reads format {supported})")]
    Format {
        /// The version in the snapshot.
        found: u32,
        /// [`SNAPSHOT_FORMAT`].
        supported: u32,
    },
    /// Over a size limit.
    #[error("snapshot too large: {what}")]
    TooLarge {
        /// Which limit.
        what: String,
    },
    /// A required field is empty.
    #[error("snapshot field `{field}` is empty")]
    Empty {
        /// The field.
        field: String,
    },
}

impl Snapshot {
    /// An empty snapshot of `host` in the current format.
    pub fn new(host: &str, phase: Phase, taken_at: DateTime<Utc>) -> Self {
        Self {
            format: SNAPSHOT_FORMAT,
            host: host.to_string(),
            service: None,
            change_id: None,
            phase,
            taken_at,
            processes: Vec::new(),
            listeners: Vec::new(),
            connections: Vec::new(),
            mounts: Vec::new(),
            sysctls: BTreeMap::new(),
            files: Vec::new(),
            kubernetes: None,
            db_schema: None,
        }
    }

    /// Reads a snapshot from JSON (the body of `POST /api/snapshots`) and [`check`](Self::check)s it.
    ///
    /// # Errors
    /// [`SnapshotError`] for malformed JSON, another format version or a limit exceeded.
    pub fn from_json(bytes: &[u8]) -> Result<Self, SnapshotError> {
        if bytes.len() > MAX_SNAPSHOT_BYTES {
            return Err(SnapshotError::TooLarge {
                what: format!("{} bytes (at most {MAX_SNAPSHOT_BYTES})", bytes.len()),
            });
        }
        let s: Self = serde_json::from_slice(bytes).map_err(|e| SnapshotError::Malformed {
            message: e.to_string(),
        })?;
        s.check()?;
        Ok(s)
    }

    /// Checks the format version, the host name and the limits.
    ///
    /// # Errors
    /// The first problem found.
    pub fn check(&self) -> Result<(), SnapshotError> {
        if self.format != SNAPSHOT_FORMAT {
            return Err(SnapshotError::Format {
                found: self.format,
                supported: SNAPSHOT_FORMAT,
            });
        }
        if self.host.trim().is_empty() {
            return Err(SnapshotError::Empty {
                field: "host".into(),
            });
        }
        let counts = [
            ("processes", self.processes.len()),
            ("listeners", self.listeners.len()),
            ("connections", self.connections.len()),
            ("mounts", self.mounts.len()),
            ("sysctls", self.sysctls.len()),
            ("files", self.files.len()),
        ];
        for (what, n) in counts {
            if n > MAX_ENTRIES {
                return Err(SnapshotError::TooLarge {
                    what: format!("{n} {what} (at most {MAX_ENTRIES})"),
                });
            }
        }
        if let Some(f) = self.files.iter().find(|f| {
            f.content
                .as_ref()
                .is_some_and(|c| c.len() > MAX_FILE_CONTENT)
        }) {
            return Err(SnapshotError::TooLarge {
                what: format!("content of {} (at most {MAX_FILE_CONTENT} bytes)", f.path),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_and_checks() {
        let mut s = Snapshot::new("db1", Phase::Before, DateTime::<Utc>::UNIX_EPOCH);
        s.files.push(ConfigFile {
            path: "/etc/x.conf".into(),
            sha256: "00".into(),
            content: Some("a=1\n".into()),
            mode: "0644".into(),
            owner: "root:root".into(),
        });
        let bytes = serde_json::to_vec(&s).unwrap();
        assert_eq!(Snapshot::from_json(&bytes).unwrap(), s);

        let mut v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        v["format"] = 2.into();
        let err = Snapshot::from_json(&serde_json::to_vec(&v).unwrap()).unwrap_err();
        assert_eq!(
            err,
            SnapshotError::Format {
                found: 2,
                supported: 1
            }
        );

        assert!(matches!(
            Snapshot::from_json(b"{\"host\":1}"),
            Err(SnapshotError::Malformed { .. })
        ));
        s.files[0].content = Some("x".repeat(MAX_FILE_CONTENT + 1));
        assert!(matches!(s.check(), Err(SnapshotError::TooLarge { .. })));
        s.host = " ".into();
        s.files.clear();
        assert_eq!(
            s.check(),
            Err(SnapshotError::Empty {
                field: "host".into()
            })
        );
    }
}
