//! Changes: every change event the firm makes, the change-defense gate that blocks
//! risky changes in risky windows, and host snapshots ("perception factors") with
//! their noise-filtered diff, so a war room sees exactly what a change altered.
//!
//! Pure like the rest of the core: no I/O, no clock. The sensor that reads `/proc`
//! lives in the app (`warroom::sensor`); HTTP, chat and persistence wire these
//! types in.
//!
//! - [`model`]: [`ChangeEvent`] and its validation from raw JSON ([`validate`]), and
//!   [`query`] (a service plus its upstream/downstream neighbours, newest first).
//! - [`gate`]: [`GateRules`] (`[changes.gate]` in TOML) and [`check`] → [`Verdict`].
//! - [`snapshot`]: [`Snapshot`], what one host looked like before or after a change.
//! - [`diff`]: [`diff()`] of two snapshots → [`SnapshotDiff`], noise filtered.
//! - [`redact()`]: masks secrets in command lines before they are stored.
//! - [`textdiff`]: a Myers line diff rendered as unified diff lines.

pub mod approval;
pub mod diff;
pub mod gate;
pub mod model;
pub mod present;
pub mod redact;
pub mod snapshot;
pub mod textdiff;

pub use approval::{settle, ApprovalAction, ApprovalError, ApprovalState, GateRecord};
pub use diff::{
    diff, diff_with, Changes, ConnChange, DiffOptions, FileChange, FileEntry, K8sChange,
    K8sFieldChange, K8sRef, ListenerChange, MountChange, ProcessChange, ProcessEntry, SnapshotDiff,
    Sysctl, SysctlChange, TextChange,
};
pub use gate::{
    change_window, check, BlastRadius, Decision, FreezeRule, GateRules, LocalTime, OpenSide,
    Reason, Verdict, Why,
};
pub use model::{
    query, validate, ChangeEvent, ChangeQuery, ChangeStatus, FieldError, Risk, Scenario,
};
pub use present::diff_lines;
pub use redact::redact;
pub use snapshot::{
    ConfigFile, ConnSummary, Listener, Mount, Phase, Process, Snapshot, SnapshotError,
    MAX_FILE_CONTENT, SNAPSHOT_FORMAT,
};
