//! Engine scenarios from `tests/scenarios/*.scn`: each `>` line is an event, the
//! lines under it the actions the engine must enqueue, in a one-line summary form.
//! Run with `UPDATE_EXPECT=1` to rewrite the expectations after an intended change.
//!
//! ```text
//! @ 2026-11-23T06:00:00Z                         set the clock
//! > console:console alice: /incident declare x   a chat message (channel, user, text)
//! > api bob: declare "title" P2 svc              a declaration through the API
//! > opened IMS-20261123-001 discord:42           an adapter opened the war room
//! > pin discord:42 bob: text                     a message copied into the timeline (📌)
//! % stakeholders discord:7                       config: the stakeholders channel
//! > tick                                          the scheduler's heartbeat
//! > restart                                       a new engine over the same store
//! > import CHG-1 carol console:ops | AC3 ops 22:00 23:00 | AC21 ops 23:00 00:30 AC3
//!                                                 a change plan (local times on 2026-11-23)
//! > import-by guest: CHG-2 carol console:ops | …   the same, from chat by a person (RBAC applies)
//! > alerts {"version": "4", "alerts": […]}       an Alertmanager webhook, logged by the intake
//! > record {"id": "CHG-1", "start": …}            a change event through the API
//! > check {"id": "CHG-2", "start": …}             the change gate asked by a pipeline
//! send console:console declared IMS-20261123-001 an expected action
//! ```

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use warroom::config::Config;
use warroom::store_sled::SledStore;
use warroom_core::assist::AssistRequest;
use warroom_core::command::Command;
use warroom_core::engine::Engine;
use warroom_core::event::{Action, Destination, Event, Message, Origin, Refusal};
use warroom_core::incident::{AlertEvent, ChannelRef, Entry, IncidentId, Person, Severity};
use warroom_core::ports::Store;

fn channel(s: &str) -> ChannelRef {
    let (a, b) = s.split_once(':').expect("adapter:id");
    ChannelRef::new(a, b)
}

fn entry_summary(e: &Entry) -> String {
    match e {
        Entry::Declared { severity, .. } => format!("declared {}", severity.code()),
        Entry::StatusChanged { from, to } => format!("status {}->{}", from.key(), to.key()),
        Entry::SeverityChanged { from, to } => format!("severity {}->{}", from.code(), to.code()),
        Entry::RoleAssigned { role, person, .. } => format!("role {role}={}", person.id),
        Entry::MilestoneSet {
            milestone, time, ..
        } => format!(
            "milestone {}={}",
            milestone.key(),
            time.format("%Y-%m-%dT%H:%MZ")
        ),
        Entry::Note { text } => format!("note {text:?}"),
        Entry::RootCause { text } => format!("root_cause {text:?}"),
        Entry::Resolution { text } => format!("resolution {text:?}"),
        Entry::StatusUpdate { text } => format!("status_update {text:?}"),
        Entry::Paged {
            target,
            policy,
            step,
        } => format!("paged {target} {policy}#{step}"),
        Entry::Captured { text, author, .. } => format!("captured {}: {text:?}", author.id),
        Entry::PageRequested { target, reason } => format!("page {target} {reason:?}"),
        Entry::ActionAdded {
            id,
            title,
            owner,
            due,
        } => format!(
            "action {id} {owner} due {}: {title:?}",
            due.format("%Y-%m-%dT%H:%MZ")
        ),
        Entry::ChannelLinked { channel } => format!("linked {}:{}", channel.adapter, channel.id),
        Entry::Denied { permission, .. } => format!("denied {permission}"),
        Entry::Alerts { event, alerts, .. } => {
            let what = match event {
                AlertEvent::Declared { reason } => format!("declared ({reason})"),
                AlertEvent::Joined {
                    confidence_pct,
                    reason,
                } => format!("joined {confidence_pct}% ({reason})"),
                AlertEvent::Resolved => "resolved".into(),
                AlertEvent::FiringAgain => "firing again".into(),
                AlertEvent::AllResolved => "all resolved".into(),
                AlertEvent::Outlived { cause, after_secs } => {
                    format!("outlived {cause:?} by {after_secs}s")
                }
            };
            format!("alerts {what}: {:?}", alerts.join("; "))
        }
    }
}

fn message_summary(m: &Message) -> String {
    match m {
        Message::Card { incident } => format!(
            "card {} {} {}",
            incident.id,
            incident.status.key(),
            incident.severity.code()
        ),
        Message::Declared { incident, unknown } => format!(
            "declared {} {} {:?} [{}]{}",
            incident.id,
            incident.severity.code(),
            incident.title,
            incident.services.join(","),
            if unknown.is_empty() {
                String::new()
            } else {
                format!(" unknown={}", unknown.join(","))
            }
        ),
        Message::List { incidents } => format!("list {}", incidents.len()),
        Message::Notice {
            incident, entry, ..
        } => format!("notice {incident} {}", entry_summary(entry)),
        Message::Page { page } => format!("page {} {}", page.incident, page.target.label()),
        Message::OnCall { entries, .. } => {
            format!(
                "oncall {}",
                entries
                    .iter()
                    .map(|e| format!("{}={}", e.schedule, e.person.as_deref().unwrap_or("-")))
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        }
        Message::Calendar { view } => format!(
            "calendar {} trading={} session={} day={} next_open={}",
            view.market,
            view.trading,
            view.session.as_deref().unwrap_or("-"),
            view.trading_day.map(|d| d.to_string()).unwrap_or_default(),
            view.next_open
                .map(|t| t.format("%Y-%m-%dT%H:%MZ").to_string())
                .unwrap_or_default()
        ),
        Message::ServicesUpdated { count } => format!("services_updated {count}"),
        Message::TaskUpdate {
            plan, task, events, ..
        } => format!(
            "task {plan} {} {} events={}",
            task.id,
            task.status.key(),
            events.len()
        ),
        Message::TaskList { tasks, .. } => format!(
            "task_list {}",
            tasks
                .iter()
                .map(|t| format!(
                    "{}{}={}@{}",
                    if t.overdue { "!" } else { "" },
                    t.id,
                    t.status,
                    t.owner
                ))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        Message::PlanStatus { plans } => format!(
            "plan_status {}",
            plans
                .iter()
                .map(|p| format!(
                    "{} {}/{} [{}]",
                    p.id,
                    p.done,
                    p.total,
                    p.teams
                        .iter()
                        .map(|t| format!(
                            "{}:{}/{}/{} late={}",
                            t.team,
                            t.done,
                            t.in_progress,
                            t.waiting,
                            t.overdue.join(",")
                        ))
                        .collect::<Vec<_>>()
                        .join(" ")
                ))
                .collect::<Vec<_>>()
                .join("; ")
        ),
        Message::Reminder { task, kind, .. } => format!("reminder {} {kind:?}", task.id),
        Message::Unblocked { task, .. } => format!("unblocked {}", task.id),
        Message::Digest { team, tasks, .. } => format!("digest @{team}: {}", tasks.join(" ")),
        Message::CoordinatorEscalation { escalation } => format!(
            "escalation @{}: {}",
            escalation.coordinator,
            escalation
                .tasks
                .iter()
                .map(|t| format!("{}{}", t.task, if t.new { "*" } else { "" }))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        Message::PlanImported { plan, tasks, kept } => {
            format!("plan_imported {plan} {tasks} kept={kept}")
        }
        Message::PlanDeleted { plan } => format!("plan_deleted {plan}"),
        Message::OverrideSet {
            schedule,
            person,
            start,
            end,
        } => format!(
            "override {schedule} {person} {} {}",
            start.format("%Y-%m-%dT%H:%MZ"),
            end.format("%Y-%m-%dT%H:%MZ")
        ),
        Message::StatusUpdate { incident, text, .. } => {
            format!("status_update {} {text:?}", incident.id)
        }
        Message::Timeline { incident, entries } => {
            format!("timeline {} {} entries", incident.id, entries.len())
        }
        Message::Postmortem { incident, .. } => {
            let at = |m| {
                incident
                    .milestones
                    .get(&m)
                    .map_or("-".to_string(), |t| t.format("%H:%MZ").to_string())
            };
            format!(
                "postmortem {} stop-loss={} recovered={}",
                incident.id,
                at(warroom_core::incident::Milestone::StopLoss),
                at(warroom_core::incident::Milestone::Recovered)
            )
        }
        Message::Help => "help".into(),
        Message::Answer { question, answer } => format!(
            "answer {question:?} abstain={} [{}]{}",
            answer.abstain,
            answer
                .passages
                .iter()
                .map(|p| p.citation.as_str())
                .collect::<Vec<_>>()
                .join(" "),
            answer
                .proposals
                .iter()
                .map(|p| format!(" {}={:?}", p.id.as_deref().unwrap_or("-"), p.command))
                .collect::<String>()
        ),
        Message::ProposalCancelled { id, by, .. } => {
            format!("proposal_cancelled {id} by {}", by.name)
        }
        Message::Similar {
            incident, similar, ..
        } => format!(
            "similar {} [{}]",
            incident.as_ref().map_or("-".into(), ToString::to_string),
            similar
                .iter()
                .map(|x| x.id.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        ),
        Message::AssistUnavailable { reason } => format!("assist_unavailable {reason:?}"),
        Message::Analysis { incident, analysis } => format!(
            "analysis {incident} changes=[{}] similar=[{}]",
            analysis
                .changes
                .iter()
                .map(|c| c.id.as_str())
                .collect::<Vec<_>>()
                .join(" "),
            analysis
                .similar
                .iter()
                .map(|x| x.id.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        ),
        Message::Usage { error } => format!("usage {} {:?}", error.syntax.key(), error.problem),
        Message::Denied { permission, .. } => format!("denied {}", permission.key()),
        Message::ChangesRecorded { ids } => format!("changes_recorded {}", ids.join(" ")),
        Message::AlertStorm {
            key,
            started,
            count,
            ..
        } => {
            format!("alert_storm {key} started={started} {count}")
        }
        Message::SilenceSet { silence } => format!("silence_set {}", silence.id),
        Message::SilenceEnded { silence } => format!("silence_ended {silence}"),
        Message::AlertList { alerts } => format!(
            "alert_list {}",
            alerts
                .iter()
                .map(|a| {
                    let why = a.suppressed.as_ref().and_then(|r| {
                        serde_json::to_value(r)
                            .ok()
                            .and_then(|v| v["why"].as_str().map(String::from))
                    });
                    format!(
                        "{}@{}{}",
                        a.alertname,
                        a.incident.as_deref().unwrap_or("-"),
                        why.map(|w| format!(":{w}")).unwrap_or_default()
                    )
                })
                .collect::<Vec<_>>()
                .join(" ")
        ),
        Message::SilenceList { silences, ended } => {
            let ids = |l: &[warroom_core::alerts::Silence]| {
                l.iter()
                    .map(|x| x.id.as_str())
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            let mut line = format!("silence_list {}", ids(silences));
            if !ended.is_empty() {
                if silences.is_empty() {
                    line.push('-');
                }
                line.push_str(&format!(" ended={}", ids(ended)));
            }
            line
        }
        Message::ChangeList {
            changes,
            total,
            query,
        } => format!(
            "change_list since={} [{}]{} {total}: {}",
            query.since.format("%Y-%m-%dT%H:%MZ"),
            query.services.join(","),
            if query.unknown { " unknown" } else { "" },
            changes
                .iter()
                .map(|c| c.id.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        ),
        Message::GateVerdict {
            change,
            verdict,
            approval,
        } => format!(
            "gate {} {} [{}]{}",
            change.id,
            verdict.decision,
            verdict
                .reasons
                .iter()
                .map(|r| format!("{}:{}", r.rule, r.effect))
                .collect::<Vec<_>>()
                .join(" "),
            approval
                .as_ref()
                .map(|a| format!(" approval={}", a.key()))
                .unwrap_or_default()
        ),
        Message::ChangeDecided {
            change,
            action,
            who,
            ..
        } => format!("change_decided {change} {} by {}", action.key(), who.id),
        Message::SnapshotDiff { target, hosts } => format!(
            "snapshot_diff {target} {}",
            hosts
                .iter()
                .map(|h| format!("{}:{}", h.host, h.lines.len()))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        Message::Refused { problem } => match problem {
            Refusal::Transition { error } => format!(
                "refused transition {}->{} {:?}",
                error.from, error.to, error.reason
            ),
            Refusal::BadSpan { text, past: true } => format!("refused bad_span {text:?} past"),
            Refusal::Proposal { id, state, by } => {
                format!(
                    "refused proposal {id} {state} by={}",
                    by.as_deref().unwrap_or("-")
                )
            }
            other => format!(
                "refused {}",
                serde_json::to_value(other)
                    .ok()
                    .and_then(|v| v.get("refusal").and_then(|r| r.as_str()).map(String::from))
                    .unwrap_or_default()
            ),
        },
    }
}

fn destination(d: &Destination) -> String {
    match d {
        Destination::Channel { channel } => format!("{}:{}", channel.adapter, channel.id),
        Destination::WarRoom { incident } => format!("warroom:{incident}"),
    }
}

fn action_summary(a: &Action) -> String {
    match a {
        Action::Send {
            to: Destination::Channel { channel },
            message,
        } => format!(
            "send {}:{} {}",
            channel.adapter,
            channel.id,
            message_summary(message)
        ),
        Action::Send {
            to: Destination::WarRoom { incident },
            message,
        } => format!("send warroom:{incident} {}", message_summary(message)),
        Action::OpenWarRoom { incident } => format!("open_war_room {incident}"),
        Action::PostCard { incident, channel } => {
            format!("post_card {incident} {}:{}", channel.adapter, channel.id)
        }
        Action::RefreshCard { incident } => format!("refresh_card {incident}"),
        Action::Assist { request } => match request {
            AssistRequest::Ask {
                question,
                incident,
                to,
                asker,
                ..
            } => format!(
                "assist ask {question:?} by {} in {} to {}",
                asker.name,
                incident.as_ref().map_or("-".into(), ToString::to_string),
                destination(to)
            ),
            AssistRequest::Similar {
                incident,
                text,
                to,
                exclude,
            } => format!(
                "assist similar {} {text:?} to {}{}",
                incident.as_ref().map_or("-".into(), ToString::to_string),
                to.as_ref().map_or("card".into(), destination),
                exclude
                    .as_ref()
                    .map_or(String::new(), |x| format!(" except {x}"))
            ),
            AssistRequest::IndexIncident { incident } => format!("assist index {incident}"),
            AssistRequest::Analyze { incident, to } => format!(
                "assist analyze {incident} to {}",
                to.as_ref().map_or("warroom".into(), destination)
            ),
        },
        Action::ArchiveWarRoom { incident } => format!("archive_war_room {incident}"),
        Action::Digest {
            channel,
            team,
            edit,
            message,
            ..
        } => format!(
            "digest {}:{} @{team} {} {}",
            channel.adapter,
            channel.id,
            if edit.is_some() { "edit" } else { "post" },
            message_summary(message)
        ),
        Action::Notify { page, via } => format!(
            "notify {via:?} {} step {} round {} -> {}",
            page.incident,
            page.step,
            page.round,
            page.target.label()
        ),
    }
}

/// `import PLAN COORDINATOR CHANNEL | ID TEAM HH:MM HH:MM [DEP,DEP] | …` with local
/// Shanghai times on 2026-11-23 (an end before its start is the next day).
fn import_event(rest: &str, now: DateTime<Utc>) -> Event {
    use chrono::TimeZone;
    use warroom_core::tasks::{Owner, Plan, PlanDraft, PlanKind, TaskDraft};
    let mut parts = rest.split('|').map(str::trim);
    let head: Vec<&str> = parts
        .next()
        .expect("plan head")
        .split_whitespace()
        .collect();
    let day = chrono::NaiveDate::from_ymd_opt(2026, 11, 23).expect("day");
    let at = |hm: &str, next: bool| {
        let t = chrono::NaiveTime::parse_from_str(hm, "%H:%M").expect("HH:MM");
        let d = if next {
            day.succ_opt().expect("day")
        } else {
            day
        };
        chrono_tz::Asia::Shanghai
            .from_local_datetime(&d.and_time(t))
            .single()
            .expect("local")
            .with_timezone(&Utc)
    };
    let tasks = parts
        .enumerate()
        .map(|(i, t)| {
            let f: Vec<&str> = t.split_whitespace().collect();
            let (start, end) = (at(f[2], false), at(f[3], f[3] < f[2]));
            let mut d = TaskDraft::new(
                i + 2,
                f[0],
                &format!("step {}", f[0]),
                Owner::Team(f[1].into()),
            )
            .team(f[1])
            .window(start, end);
            if let Some(deps) = f.get(4) {
                d = d.after(&deps.split(',').collect::<Vec<_>>());
            }
            d
        })
        .collect();
    let draft = PlanDraft {
        id: head[0].into(),
        title: format!("change plan {}", head[0]),
        kind: PlanKind::ChangePlan,
        coordinator: head[1].into(),
        channel: Some(head[2].into()),
        created_at: now,
        tasks,
    };
    Event::ImportPlan {
        actor: None,
        plan: Plan::validate(draft).expect("valid plan"),
    }
}

fn parse_event(line: &str, now: DateTime<Utc>) -> Event {
    let line = line.trim_start_matches('>').trim();
    if let Some(rest) = line.strip_prefix("import ") {
        return import_event(rest, now);
    }
    if let Some((who, rest)) = line
        .strip_prefix("import-by ")
        .and_then(|r| r.split_once(": "))
    {
        return match import_event(rest, now) {
            Event::ImportPlan { plan, .. } => Event::ImportPlan {
                plan,
                actor: Some(Person::named(who)),
            },
            other => other,
        };
    }
    if let Some(rest) = line.strip_prefix("opened ") {
        let (id, ch) = rest.split_once(' ').expect("opened ID CHANNEL");
        return Event::WarRoomOpened {
            incident: IncidentId::parse(id).expect("id"),
            channel: channel(ch),
        };
    }
    if line == "tick" {
        return Event::Tick;
    }
    if let Some(rest) = line.strip_prefix("assisted ") {
        return Event::Assisted {
            result: serde_json::from_str(rest).expect("assisted JSON (an AssistResult)"),
        };
    }
    if let Some(rest) = line.strip_prefix("alerts ") {
        let alerts = warroom_core::alerts::parse_alertmanager(rest.as_bytes()).expect("webhook");
        return Event::Alerts {
            alerts,
            received_at: now,
        };
    }
    if let Some(rest) = line.strip_prefix("record ") {
        let raw: serde_json::Value = serde_json::from_str(rest).expect("record JSON");
        let change = warroom_core::changes::validate(&raw).expect("valid change");
        return Event::RecordChanges {
            changes: vec![change],
        };
    }
    if let Some(rest) = line.strip_prefix("check ") {
        let raw: serde_json::Value = serde_json::from_str(rest).expect("check JSON");
        let change = warroom_core::changes::validate(&raw).expect("valid change");
        return Event::CheckChange { change };
    }
    if let Some(rest) = line.strip_prefix("pin ") {
        // pin CHANNEL AUTHOR: TEXT
        let (head, text) = rest.split_once(": ").expect("pin CHANNEL AUTHOR: TEXT");
        let (ch, author) = head.split_once(' ').expect("CHANNEL AUTHOR");
        return Event::Capture {
            channel: channel(ch),
            author: Person::named(author),
            text: text.into(),
            link: Some("https://chat/msg/1".into()),
        };
    }
    if let Some(rest) = line.strip_prefix("api ") {
        let (user, rest) = rest
            .split_once(": declare ")
            .expect("api USER: declare ...");
        let mut words: Vec<&str> = rest.rsplitn(2, '"').collect();
        words.reverse();
        let title = words[0].trim_start_matches('"').to_string();
        let mut tail = words.get(1).copied().unwrap_or("").split_whitespace();
        let severity = tail.next().map(|s| Severity::parse(s).expect("severity"));
        let services = tail.map(String::from).collect();
        return Event::Command {
            origin: Origin::Api,
            actor: Person::named(user),
            command: Command::Declare {
                title,
                severity,
                services,
            },
        };
    }
    let (head, text) = line.split_once(": ").expect("CHANNEL USER: TEXT");
    let (ch, user) = head.split_once(' ').expect("CHANNEL USER");
    Event::Chat {
        channel: channel(ch),
        actor: Person::named(user),
        text: text.to_string(),
    }
}

/// Runs one scenario file and returns its text with the actual actions filled in.
fn run(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("scenario");
    let dir = tempfile::tempdir().expect("tempdir");
    let store: Arc<dyn Store> =
        Arc::new(SledStore::open(&dir.path().join("store")).expect("store"));
    let mut cfg = Config::embedded().expect("embedded config").engine;
    if let Some(line) = text.lines().find(|l| l.starts_with("% stakeholders ")) {
        cfg.stakeholders = Some(channel(line.trim_start_matches("% stakeholders ").trim()));
    }
    let mut engine = Engine::new(store.clone(), cfg.clone()).expect("engine");
    let mut now: DateTime<Utc> = "2026-11-23T06:00:00Z".parse().expect("time");
    let mut out = String::new();
    for line in text.lines() {
        if line.starts_with('@') {
            now = line[1..].trim().parse().expect("@ RFC3339 time");
        }
        if line == "> restart" {
            // A new engine over the same store: what a process restart sees.
            drop(engine);
            engine = Engine::new(store.clone(), cfg.clone()).expect("engine after restart");
            out.push_str(line);
            out.push('\n');
            let replayed = engine.replay_alerts(now).expect("replay");
            for a in &replayed.actions {
                out.push_str(&action_summary(a));
                out.push('\n');
            }
            continue;
        }
        if line.starts_with('>') {
            let event = parse_event(line, now);
            if let Event::Alerts {
                alerts,
                received_at,
            } = &event
            {
                // The intake logs what it accepts before the engine sees it.
                store
                    .append_alerts(&[(*received_at, alerts.clone())])
                    .expect("alert log");
            }
            let from_api = !matches!(event, Event::Chat { .. });
            let outcome = engine.handle(event, now).expect("store works");
            out.push_str(line);
            out.push('\n');
            // Chat replies appear as `send` actions; API answers only here.
            if let (true, Some(reply)) = (from_api, &outcome.reply) {
                out.push_str(&format!("reply {}\n", message_summary(reply)));
            }
            for a in &outcome.actions {
                out.push_str(&action_summary(a));
                out.push('\n');
            }
        } else if line.starts_with('#')
            || line.starts_with('@')
            || line.starts_with('%')
            || line.trim().is_empty()
        {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[test]
fn engine_scenarios_produce_the_expected_actions() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("scenarios dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "scn"))
        .collect();
    files.sort();
    assert!(files.len() >= 4, "scenario files are missing");
    let mut failures = Vec::new();
    for f in files {
        let expected = std::fs::read_to_string(&f).expect("read");
        let actual = run(&f);
        if actual != expected {
            if std::env::var_os("UPDATE_EXPECT").is_some() {
                std::fs::write(&f, &actual).expect("update");
            } else {
                failures.push(format!("--- {}\n{}", f.display(), diff(&expected, &actual)));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "scenarios differ (UPDATE_EXPECT=1 to accept):\n{}",
        failures.join("\n")
    );
}

fn diff(expected: &str, actual: &str) -> String {
    let (e, a): (Vec<_>, Vec<_>) = (expected.lines().collect(), actual.lines().collect());
    let mut out = String::new();
    for i in 0..e.len().max(a.len()) {
        match (e.get(i), a.get(i)) {
            (Some(x), Some(y)) if x == y => {}
            (x, y) => out.push_str(&format!(
                "line {}:\n  expected: {}\n  actual:   {}\n",
                i + 1,
                x.unwrap_or(&"<none>"),
                y.unwrap_or(&"<none>")
            )),
        }
    }
    out
}

#[test]
fn a_restart_after_an_upgrade_binds_replayed_clusters_to_the_incidents_listing_their_alerts() {
    let body = r#"{"version": "4", "status": "firing", "receiver": "warroom", "groupKey": "g1", "alerts": [{"status": "firing", "labels": {"alertname": "DBConnectionsExhausted", "service": "trading-db", "severity": "critical", "instance": "db-01"}, "annotations": {"summary": "pool exhausted"}, "startsAt": "2026-11-23T01:58:00Z", "fingerprint": "aaa1"}]}"#;
    let alerts = warroom_core::alerts::parse_alertmanager(body.as_bytes()).expect("webhook");
    let at: DateTime<Utc> = "2026-11-23T02:00:00Z".parse().expect("time");
    let cfg = Config::embedded().expect("embedded config").engine;
    // The live run declares the incident.
    let live_dir = tempfile::tempdir().expect("tempdir");
    let live: Arc<dyn Store> =
        Arc::new(SledStore::open(&live_dir.path().join("store")).expect("store"));
    live.append_alerts(&[(at, alerts.clone())]).expect("log");
    let mut engine = Engine::new(live.clone(), cfg.clone()).expect("engine");
    engine
        .handle(
            Event::Alerts {
                alerts: alerts.clone(),
                received_at: at,
            },
            at,
        )
        .expect("alerts");
    engine
        .handle(Event::Tick, at + chrono::Duration::seconds(5))
        .expect("tick");
    let mut inc = live.incidents().expect("incidents").remove(0);
    assert_eq!(inc.alerts.len(), 1, "the alert is on the card");
    // What an older version left on disk: the same log and incident, the cluster bound
    // under the counted id it used then.
    let old_dir = tempfile::tempdir().expect("tempdir");
    let old: Arc<dyn Store> =
        Arc::new(SledStore::open(&old_dir.path().join("store")).expect("store"));
    old.append_alerts(&[(at, alerts)]).expect("log");
    inc.revision = 0;
    old.commit(warroom_core::ports::Commit {
        incident: Some(inc.clone()),
        alert_bindings: vec![("C-000001".into(), inc.id.clone())],
        ..Default::default()
    })
    .expect("commit");
    let mut upgraded = Engine::new(old.clone(), cfg).expect("engine");
    let replayed = upgraded
        .replay_alerts(at + chrono::Duration::minutes(3))
        .expect("replay");
    assert!(
        replayed.actions.is_empty(),
        "nothing declared or paged again: {:?}",
        replayed
            .actions
            .iter()
            .map(action_summary)
            .collect::<Vec<_>>()
    );
    assert_eq!(old.incidents().expect("incidents").len(), 1);
    let bound: Vec<_> = old
        .alert_bindings()
        .expect("bindings")
        .into_iter()
        .filter(|(c, _)| c != "C-000001")
        .collect();
    assert_eq!(bound.len(), 1, "{bound:?}");
    assert_eq!(bound[0].1, inc.id, "the replayed cluster is bound to it");
}

/// The embedded configuration plus `extra`, as an engine over a fresh store.
fn engine_with(extra: &str) -> (tempfile::TempDir, Engine) {
    let text = format!("{}\n{extra}", warroom::config::EMBEDDED_DEFAULT);
    let cfg = Config::from_toml(&text, "test.toml")
        .expect("config")
        .engine;
    let dir = tempfile::tempdir().expect("tempdir");
    let store: Arc<dyn Store> =
        Arc::new(SledStore::open(&dir.path().join("store")).expect("store"));
    let engine = Engine::new(store, cfg).expect("engine");
    (dir, engine)
}

fn say(engine: &mut Engine, text: &str, now: DateTime<Utc>) -> Vec<String> {
    let out = engine
        .handle(
            Event::Chat {
                channel: channel("console:console"),
                actor: Person::named("alice"),
                text: text.into(),
            },
            now,
        )
        .expect("store works");
    out.actions.iter().map(action_summary).collect()
}

#[test]
fn a_service_with_a_schedule_but_no_policy_pages_its_own_on_call_whatever_the_case_of_names() {
    let (_dir, mut engine) = engine_with(
        r#"
[[schedules]]
name = "NightDesk"
  [[schedules.layers]]
  name = "night"
  members = ["nick"]
  rotation = "weekly"
  anchor = "2026-11-02"

[[services]]
name = "night-md"
schedule = "NightDesk"
"#,
    );
    let now: DateTime<Utc> = "2026-11-23T14:00:00Z".parse().expect("time");
    let declared = say(&mut engine, "/incident declare Feed down P1 night-md", now);
    assert!(
        declared
            .iter()
            .any(|a| a.contains("step 1 round 0 -> nick (NightDesk)")),
        "the person /oncall names is paged: {declared:?}"
    );
    assert!(
        !declared.iter().any(|a| a.contains("(trading-ops)")),
        "not the default policy's schedule first: {declared:?}"
    );
    // Nobody acknowledges within the default policy's first wait: its chain follows.
    let later = engine
        .handle(Event::Tick, now + chrono::Duration::minutes(15))
        .expect("tick");
    let later: Vec<String> = later.actions.iter().map(action_summary).collect();
    assert!(
        later
            .iter()
            .any(|a| a.contains("step 2") && a.contains("(trading-ops)")),
        "{later:?}"
    );
    for query in ["/oncall nightdesk", "/oncall NIGHTDESK", "/oncall night-md"] {
        let answer = say(&mut engine, query, now);
        assert!(
            answer.iter().any(|a| a.contains("NightDesk=nick")),
            "{query}: {answer:?}"
        );
    }
    let set = say(&mut engine, "/oncall override nightdesk zed for 1h", now);
    assert!(
        set.iter().any(|a| a.contains("override NightDesk zed")),
        "an override by any case of the name, stored under the configured one: {set:?}"
    );
}

#[test]
fn paging_a_service_without_a_schedule_pages_the_default_policys_on_call() {
    let (_dir, mut engine) = engine_with("");
    let now: DateTime<Utc> = "2026-11-23T02:00:00Z".parse().expect("time");
    let declared = say(
        &mut engine,
        "/incident declare Payments slow P2 payments",
        now,
    );
    assert!(
        declared
            .iter()
            .any(|a| a.contains("-> alice (trading-ops)")),
        "{declared:?}"
    );
    let paged = say(
        &mut engine,
        "/page IMS-20261123-001 payments the queue is stuck",
        now,
    );
    assert!(
        paged.iter().any(|a| a.contains("-> alice (trading-ops)")),
        "/page pages whom a declaration pages: {paged:?}"
    );
    let who = say(&mut engine, "/oncall payments", now);
    assert!(
        who.iter().any(|a| a.contains("trading-ops=alice")),
        "{who:?}"
    );
}
