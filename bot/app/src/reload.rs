//! Hot reload of the alert rules: routes, inhibit rules and configured silences are
//! re-read from the configuration file on SIGHUP and when the file changes, and
//! swapped into the running pipeline without losing its state.
//!
//! The file is watched by polling its modification time and length every
//! [`POLL`]: no extra dependency, works on every file system (network mounts and
//! container bind mounts included, where inotify is unreliable), and a change is
//! taken once the file has looked the same for one poll, so a half-written file is
//! not read. A change is in force in under a second.
//!
//! The file goes through the same loader as at start-up ([`Config::load`]), so a
//! bad file is refused with its file, line and key, and the rules in force stay.
//! Settings other than the three rule sets are read at start-up only; a reload that
//! changes them says so in the log. `warroom_config_reloads_total` and
//! `warroom_config_reload_failures_total` count the outcomes.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::watch;
use tracing::{info, warn};
use warroom_core::event::{Event, Message};

use crate::alerts_config::AlertsConfig;
use crate::app::Shared;
use crate::config::Config;

/// How often the file is looked at.
pub const POLL: Duration = Duration::from_millis(200);

/// What identifies a version of the file without reading it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
}

fn stamp(path: &Path) -> Option<Stamp> {
    let m = std::fs::metadata(path).ok()?;
    Some(Stamp {
        modified: m.modified().ok(),
        len: m.len(),
    })
}

/// Why a reload was attempted.
#[derive(Clone, Copy, Debug)]
enum Trigger {
    Signal,
    FileChange,
}

impl Trigger {
    fn name(self) -> &'static str {
        match self {
            Self::Signal => "SIGHUP",
            Self::FileChange => "file change",
        }
    }
}

/// The next SIGHUP; never without a handler.
async fn hup(h: &mut Option<tokio::signal::unix::Signal>) -> Option<()> {
    match h {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}

/// Reloads on SIGHUP (registered by the caller, so a signal during start-up is
/// not lost) and on changes of `path`, until `stop` turns true. Without a file
/// (the embedded default) a SIGHUP is only logged.
pub async fn watch(
    path: Option<PathBuf>,
    shared: Arc<Shared>,
    mut hangup: Option<tokio::signal::unix::Signal>,
    mut stop: watch::Receiver<bool>,
) {
    let mut in_force = shared.config.alerts.clone();
    let mut seen = path.as_deref().and_then(stamp);
    // An edit between the start-up load and this task's first look is caught by the
    // content: the file no longer has the digest of the text that was loaded.
    if let Some(p) = path.as_deref() {
        let loaded = std::fs::read(p)
            .map(|b| crate::audit_chain::hex(&<sha2::Sha256 as sha2::Digest>::digest(&b)));
        if loaded.ok().as_deref() != Some(shared.config.digest.as_str()) {
            seen = None;
        }
    }
    // A changed stamp waiting to be confirmed by the next poll.
    let mut pending: Option<Option<Stamp>> = None;
    let mut every = tokio::time::interval(POLL);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let trigger = tokio::select! {
            _ = stop.changed() => return,
            Some(()) = hup(&mut hangup) => Trigger::Signal,
            _ = every.tick(), if path.is_some() => {
                let now = path.as_deref().and_then(stamp);
                match pending {
                    Some(p) if p == now => {
                        pending = None;
                        seen = now;
                        Trigger::FileChange
                    }
                    _ if now != seen => {
                        pending = Some(now);
                        continue;
                    }
                    _ => {
                        pending = None;
                        continue;
                    }
                }
            }
        };
        if *stop.borrow() {
            return;
        }
        let Some(path) = path.as_deref() else {
            info!("SIGHUP: running on the embedded default, there is no file to reload");
            continue;
        };
        if matches!(trigger, Trigger::Signal) {
            seen = stamp(path);
            pending = None;
        }
        if let Some(rules) = reload(path, &shared, in_force.as_ref(), trigger).await {
            in_force = Some(rules);
        }
    }
}

/// One reload; the new `[alerts]` section when it is in force.
async fn reload(
    path: &Path,
    shared: &Shared,
    in_force: Option<&AlertsConfig>,
    trigger: Trigger,
) -> Option<AlertsConfig> {
    let file = path.display().to_string();
    let fail = |reason: &dyn std::fmt::Display| {
        shared
            .metrics
            .config_reload_failures
            .fetch_add(1, Ordering::Relaxed);
        warn!(trigger = trigger.name(), error = %reason, "config reload refused; the alert rules in force stay");
        audit(
            shared,
            "config.reload_refused",
            serde_json::json!({"file": file, "trigger": trigger.name(), "reason": reason.to_string()}),
        );
    };
    let owned = path.to_path_buf();
    let loaded = match tokio::task::spawn_blocking(move || Config::load(&owned)).await {
        Ok(r) => r,
        Err(e) => {
            fail(&e);
            return None;
        }
    };
    let cfg = match loaded {
        Ok(c) => c,
        Err(e) => {
            fail(&e);
            return None;
        }
    };
    let (Some(new), Some(old)) = (cfg.alerts.as_ref(), in_force) else {
        fail(&format!(
            "{file}: key `alerts.enabled`: switching the alert pipeline on or off needs a restart"
        ));
        return None;
    };
    let Some(pc) = cfg.engine.alerts.as_ref() else {
        fail(&format!("{file}: key `alerts`: no pipeline settings"));
        return None;
    };
    let rules = pc.rules();
    let counts = (
        rules.route.routes.len(),
        rules.inhibit_rules.len(),
        rules.silences.len(),
    );
    match shared
        .engine
        .submit(Event::ReloadAlertRules { rules })
        .await
    {
        Ok(outcome) => {
            if let Some(Message::Refused { problem }) = outcome.reply {
                fail(&format!("{file}: key `alerts.silences`: {problem:?}"));
                return None;
            }
        }
        Err(e) => {
            fail(&e);
            return None;
        }
    }
    shared
        .metrics
        .config_reloads
        .fetch_add(1, Ordering::Relaxed);
    audit(
        shared,
        "config.reloaded",
        serde_json::json!({
            "file": file, "trigger": trigger.name(), "sha256": cfg.digest,
            "routes": counts.0, "inhibit_rules": counts.1, "silences": counts.2,
        }),
    );
    info!(
        file = %file,
        trigger = trigger.name(),
        routes = counts.0,
        inhibit_rules = counts.1,
        silences = counts.2,
        "alert rules reloaded"
    );
    let mut rest = new.clone();
    rest.route = old.route.clone();
    rest.inhibit_rules = old.inhibit_rules.clone();
    rest.silences = old.silences.clone();
    if &rest != old {
        warn!(
            file = %file,
            "settings of [alerts] other than route, inhibit_rules and silences take effect at the next restart"
        );
    }
    let mut now_in_force = old.clone();
    now_in_force.route = new.route.clone();
    now_in_force.inhibit_rules = new.inhibit_rules.clone();
    now_in_force.silences = new.silences.clone();
    Some(now_in_force)
}

/// Appends a reload (or a refused one) to the audit trail; a failure to write it is logged,
/// never fatal to the rules already in force.
fn audit(shared: &Shared, action: &str, detail: serde_json::Value) {
    let entry = warroom_core::audit::AuditEntry {
        at: chrono::Utc::now(),
        actor: None,
        action: action.into(),
        subject: "warroom".into(),
        detail,
    };
    if let Err(e) = shared.store.append_audit(&[entry]) {
        warn!(error = %e, action, "cannot write the audit trail");
    }
}
