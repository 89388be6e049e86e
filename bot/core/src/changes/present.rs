//! A snapshot diff as short text lines for a chat card: `+` added, `-` missing,
//! `~` modified, config-file line diffs indented below their file. The words are
//! technical identifiers (categories, paths, ports), the same in every language.

use super::diff::SnapshotDiff;

/// Lines for a card, at most `max`; the second value counts the lines left out.
pub fn diff_lines(d: &SnapshotDiff, max: usize) -> (Vec<String>, usize) {
    let mut out: Vec<String> = Vec::new();
    for p in &d.processes.added {
        out.push(format!(
            "+ process {} ({}) ×{}: {}",
            p.name, p.user, p.count, p.cmdline
        ));
    }
    for p in &d.processes.missing {
        out.push(format!(
            "- process {} ({}) ×{}: {}",
            p.name, p.user, p.count, p.cmdline
        ));
    }
    for p in &d.processes.modified {
        out.push(format!(
            "~ process {} ({}) ×{} → ×{}",
            p.name, p.user, p.before, p.after
        ));
    }
    let owner = |o: &Option<String>| o.clone().unwrap_or_else(|| "?".into());
    for l in &d.listeners.added {
        out.push(format!(
            "+ listener {} {}:{} {}",
            l.proto,
            l.addr,
            l.port,
            owner(&l.process)
        ));
    }
    for l in &d.listeners.missing {
        out.push(format!(
            "- listener {} {}:{} {}",
            l.proto,
            l.addr,
            l.port,
            owner(&l.process)
        ));
    }
    for l in &d.listeners.modified {
        out.push(format!(
            "~ listener {} {}:{} {} → {}",
            l.proto,
            l.addr,
            l.port,
            l.before.join(","),
            l.after.join(",")
        ));
    }
    for c in &d.connections.added {
        out.push(format!(
            "+ connections {}:{} {} ×{}",
            c.remote_addr, c.remote_port_class, c.state, c.count
        ));
    }
    for c in &d.connections.missing {
        out.push(format!(
            "- connections {}:{} {} ×{}",
            c.remote_addr, c.remote_port_class, c.state, c.count
        ));
    }
    for c in &d.connections.modified {
        out.push(format!(
            "~ connections {}:{} {} ×{} → ×{}",
            c.remote_addr, c.remote_port_class, c.state, c.before, c.after
        ));
    }
    for m in &d.mounts.added {
        out.push(format!(
            "+ mount {} {} ({})",
            m.mountpoint, m.device, m.fstype
        ));
    }
    for m in &d.mounts.missing {
        out.push(format!(
            "- mount {} {} ({})",
            m.mountpoint, m.device, m.fstype
        ));
    }
    for m in &d.mounts.modified {
        out.push(format!(
            "~ mount {} {} → {}",
            m.mountpoint, m.before.options, m.after.options
        ));
    }
    for s in &d.sysctls.added {
        out.push(format!("+ sysctl {} = {}", s.name, s.value));
    }
    for s in &d.sysctls.missing {
        out.push(format!("- sysctl {} = {}", s.name, s.value));
    }
    for s in &d.sysctls.modified {
        out.push(format!("~ sysctl {} {} → {}", s.name, s.before, s.after));
    }
    for f in &d.files.added {
        out.push(format!("+ file {}", f.path));
    }
    for f in &d.files.missing {
        out.push(format!("- file {}", f.path));
    }
    for f in &d.files.modified {
        let mut head = format!("~ file {}", f.path);
        if let Some((a, b)) = &f.mode {
            head.push_str(&format!(" mode {a} → {b}"));
        }
        if let Some((a, b)) = &f.owner {
            head.push_str(&format!(" owner {a} → {b}"));
        }
        out.push(head);
        out.extend(f.diff.iter().map(|l| format!("    {l}")));
        if let Some(n) = &f.note {
            out.push(format!("    ({n})"));
        }
    }
    let k = |r: &super::diff::K8sRef| {
        if r.namespace.is_empty() {
            format!("{}/{}", r.kind, r.name)
        } else {
            format!("{}/{}/{}", r.kind, r.namespace, r.name)
        }
    };
    for r in &d.kubernetes.added {
        out.push(format!("+ k8s {}", k(r)));
    }
    for r in &d.kubernetes.missing {
        out.push(format!("- k8s {}", k(r)));
    }
    for c in &d.kubernetes.modified {
        out.push(format!("~ k8s {}", k(&c.object)));
        let v = |x: &Option<serde_json::Value>| {
            x.as_ref()
                .map_or_else(|| "∅".to_string(), |v| v.to_string())
        };
        out.extend(
            c.fields
                .iter()
                .map(|f| format!("    {}: {} → {}", f.path, v(&f.before), v(&f.after))),
        );
    }
    if let Some(t) = &d.db_schema {
        out.push(format!(
            "~ db_schema{}",
            t.note
                .as_deref()
                .map(|n| format!(" ({n})"))
                .unwrap_or_default()
        ));
        out.extend(t.diff.iter().map(|l| format!("    {l}")));
    }
    let omitted = out.len().saturating_sub(max);
    out.truncate(max);
    (out, omitted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::changes::diff::{FileChange, Sysctl};
    use crate::changes::snapshot::Listener;

    #[test]
    fn a_diff_lists_added_listeners_and_changed_files_with_their_lines() {
        let mut d = SnapshotDiff::default();
        d.listeners.added.push(Listener {
            proto: "tcp".into(),
            addr: "0.0.0.0".into(),
            port: 8080,
            process: Some("python3".into()),
        });
        d.files.modified.push(FileChange {
            path: "/etc/app.conf".into(),
            before_sha256: "a".into(),
            after_sha256: "b".into(),
            mode: None,
            owner: None,
            diff: vec!["@@ -1 +1 @@".into(), "-a=1".into(), "+a=2".into()],
            diff_truncated: false,
            note: None,
        });
        d.sysctls.added.push(Sysctl {
            name: "vm.swappiness".into(),
            value: "10".into(),
        });
        let (lines, omitted) = diff_lines(&d, 100);
        assert_eq!(omitted, 0);
        assert_eq!(lines[0], "+ listener tcp 0.0.0.0:8080 python3");
        assert!(lines.contains(&"~ file /etc/app.conf".to_string()));
        assert!(lines.contains(&"    +a=2".to_string()));
        let (short, omitted) = diff_lines(&d, 2);
        assert_eq!((short.len(), omitted), (2, 4));
    }
}
