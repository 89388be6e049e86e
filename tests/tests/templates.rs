//! A snapshot per template and language: `tests/snapshots/<lang>/<template>.txt`.
//! `UPDATE_EXPECT=1` rewrites them after an intended wording change.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use warroom::config::{Config, Lang};
use warroom::render::Renderer;
use warroom_core::alerts::{Declaration, JoinReason, Link, Signal, Trigger};
use warroom_core::command::{ParseError, Problem, Syntax};
use warroom_core::event::{
    CalendarView, InvalidTransitionView, Message, OnCallEntry, PageNotice, PageTarget, Refusal,
    TaskLine,
};
use warroom_core::incident::{
    AlertEvent, ChannelRef, Entry, Incident, IncidentId, Milestone, Person, Severity, Source,
    Status, TimelineEntry, TransitionReason, COMMANDER,
};
use warroom_core::oncall::NextStep;
use warroom_core::rbac::Permission;
use warroom_core::time::TimeError;

fn t(s: &str) -> DateTime<Utc> {
    s.parse().expect("time")
}

fn incident() -> Incident {
    let id = IncidentId::parse("IMS-20261123-001").expect("id");
    let mut i = Incident::declare(
        id,
        "Payments down".into(),
        Severity::P1,
        vec!["payments".into(), "clearing".into()],
        Person::named("alice"),
        t("2026-11-23T06:00:00Z"),
    );
    i.status = Status::Mitigated;
    i.roles.insert(COMMANDER.into(), Person::named("bob"));
    i.roles.insert("comms".into(), Person::named("carol"));
    i.milestones
        .insert(Milestone::Occurred, t("2026-11-23T05:50:00Z"));
    i.milestones
        .insert(Milestone::Responded, t("2026-11-23T06:04:00Z"));
    i.milestones
        .insert(Milestone::StopLoss, t("2026-11-23T07:35:00Z"));
    i.updated_at = t("2026-11-23T07:35:00Z");
    i
}

fn rich_incident() -> Incident {
    let mut i = incident();
    i.root_cause = Some("connection pool too small after the 18:00 release".into());
    i.resolution = Some("raised pool_size to 50".into());
    i.alerts = (0..10)
        .map(|n| warroom_core::incident::IncidentAlert {
            key: format!("fp{n}@2026-11-23T05:50:00Z"),
            line: format!("P1 [payments] PaymentsLatencyHigh — p99 over 2 s on pay-{n:02}"),
            firing: n % 3 != 0,
        })
        .collect();
    i.similar = vec![warroom_core::assist::SimilarIncident {
        id: "IMS-20261101-002".into(),
        title: "Payments latency after release".into(),
        services: vec!["payments".into()],
        root_cause: Some("pool exhausted".into()),
        resolution: Some("rolled back".into()),
        score: 100,
    }];
    i
}

fn answer(
    abstain: bool,
    text: Option<&str>,
    llm_error: Option<&str>,
) -> warroom_core::assist::Answer {
    warroom_core::assist::Answer {
        passages: vec![
            warroom_core::assist::Passage {
                n: 1,
                doc: "order-gateway.md".into(),
                kind: "runbook".into(),
                title: "Order gateway".into(),
                section: "Restart procedure".into(),
                citation: "order-gateway.md:L7-L11".into(),
                link: Some("https://git.example/rb/order-gateway.md#L7-L11".into()),
                snippet: "1. Drain the FIX sessions with `ogctl drain`.\n2. Restart the service."
                    .into(),
            },
            warroom_core::assist::Passage {
                n: 2,
                doc: "IMS-20261101-002".into(),
                kind: "history".into(),
                title: "Payments latency after release".into(),
                section: String::new(),
                citation: "IMS-20261101-002".into(),
                link: None,
                snippet: "pool exhausted; rolled back".into(),
            },
        ],
        abstain,
        confidence: if abstain { 12 } else { 87 },
        text: text.map(String::from),
        llm_error: llm_error.map(String::from),
        proposals: if text.is_some() {
            vec![warroom_core::assist::ProposalLine {
                skill: "add_timeline_entry".into(),
                command: "/timeline add IMS-20261123-001 order gateway drained".into(),
                id: None,
            }]
        } else {
            Vec::new()
        },
    }
}

fn entries() -> Vec<TimelineEntry> {
    let e = |at: &str, who: &str, source, entry| TimelineEntry {
        at: t(at),
        who: Person::named(who),
        source,
        entry,
    };
    vec![
        e(
            "2026-11-23T06:00:00Z",
            "alice",
            Source::Command,
            Entry::Declared {
                title: "Payments down".into(),
                severity: Severity::P1,
            },
        ),
        e(
            "2026-11-23T06:00:01Z",
            "warroom",
            Source::Bot,
            Entry::ChannelLinked {
                channel: ChannelRef::new("discord", "900"),
            },
        ),
        e(
            "2026-11-23T06:01:00Z",
            "alice",
            Source::Command,
            Entry::RoleAssigned {
                role: COMMANDER.into(),
                person: Person::named("bob"),
                previous: None,
            },
        ),
        e(
            "2026-11-23T06:02:00Z",
            "bob",
            Source::Command,
            Entry::MilestoneSet {
                milestone: Milestone::Occurred,
                time: t("2026-11-23T05:50:00Z"),
                previous: None,
            },
        ),
        e(
            "2026-11-23T06:04:00Z",
            "bob",
            Source::Command,
            Entry::StatusChanged {
                from: Status::Declared,
                to: Status::Investigating,
            },
        ),
        e(
            "2026-11-23T06:05:00Z",
            "guest",
            Source::Bot,
            Entry::Denied {
                permission: "update".into(),
                command: "severity".into(),
            },
        ),
        e(
            "2026-11-23T06:10:00Z",
            "bob",
            Source::Command,
            Entry::SeverityChanged {
                from: Severity::P2,
                to: Severity::P1,
            },
        ),
        e(
            "2026-11-23T07:00:00Z",
            "carol",
            Source::Chat,
            Entry::Note {
                text: "切换到备用线路 / switched to the backup line".into(),
            },
        ),
        e(
            "2026-11-23T07:05:00Z",
            "carol",
            Source::Command,
            Entry::StatusUpdate {
                text: "next update 16:00".into(),
            },
        ),
        e(
            "2026-11-23T07:06:00Z",
            "dave",
            Source::Chat,
            Entry::Captured {
                text: "DC2 link is back".into(),
                author: Person::named("dave"),
                link: Some("https://discord.com/channels/1/900/77".into()),
            },
        ),
        e(
            "2026-11-23T07:07:00Z",
            "carol",
            Source::Command,
            Entry::PageRequested {
                target: "dba".into(),
                reason: Some("replication lag".into()),
            },
        ),
        e(
            "2026-11-23T07:08:00Z",
            "carol",
            Source::Command,
            Entry::ActionAdded {
                id: "A1".into(),
                title: "raise the lag alert threshold".into(),
                owner: "bob".into(),
                due: t("2026-11-25T07:08:00Z"),
            },
        ),
    ]
    .into_iter()
    .chain(alert_entries().into_iter().map(|entry| TimelineEntry {
        at: t("2026-11-23T07:10:00Z"),
        who: Person::named("alerts"),
        source: Source::Alert,
        entry,
    }))
    .collect()
}

/// Alert pipeline entries: every event, every trigger and every way to join.
fn alert_entries() -> Vec<Entry> {
    let line = |n: u32| format!("P1 [payments] PaymentsLatencyHigh — p99 over 2 s on pay-{n:02}");
    let related = |gap_secs, link, similar_pct| JoinReason::Related {
        gap_secs,
        link,
        similar_pct,
    };
    let s = |x: &str| x.to_string();
    let links = vec![
        Link::SameAlert {
            service: s("payments"),
        },
        Link::SameService {
            service: s("payments"),
        },
        Link::SameHost { host: s("pay-01") },
        Link::RunsOn {
            node: s("k8s-node-02"),
        },
        Link::NodeUnder {
            node: s("k8s-node-02"),
            alertname: s("NodeDiskPressure"),
        },
        Link::Names {
            by: s("order-router"),
            cause: s("payments"),
        },
        Link::DependsOn {
            dependent: s("order-router"),
            on: s("payments"),
            hops: 2,
        },
        Link::NamedTogether {
            a: s("payments"),
            b: s("clearing"),
        },
        Link::OftenTogether {
            a: s("payments"),
            b: s("clearing"),
            times: 7,
            lift: 12,
        },
        Link::RightAfter {
            later: s("clearing"),
            earlier: s("payments"),
        },
    ];
    let mut joins = vec![JoinReason::Again];
    joins.extend(
        links
            .into_iter()
            .enumerate()
            .map(|(i, l)| related(30 * i as i64, l, (i == 0).then_some(80))),
    );
    vec![
        Entry::Alerts {
            event: AlertEvent::Declared {
                reason: Declaration {
                    trigger: Some(Trigger::Signals {
                        count: 2,
                        signals: vec![
                            Signal {
                                service: Some(s("payments")),
                                alertname: s("PaymentsLatencyHigh"),
                                severity: Severity::P1,
                            },
                            Signal {
                                service: None,
                                alertname: s("NodeDiskPressure"),
                                severity: Severity::P3,
                            },
                        ],
                    }),
                    joins,
                },
            },
            alerts: (1..=8).map(line).collect(),
            more: 3,
        },
        Entry::Alerts {
            event: AlertEvent::Declared {
                reason: Declaration {
                    trigger: Some(Trigger::Firing {
                        severity: Severity::P1,
                        alertname: s("RedisEvictions"),
                        pause_secs: 900,
                        held_times: Some(3),
                        held_window_secs: 86_400,
                    }),
                    joins: Vec::new(),
                },
            },
            alerts: vec![line(9)],
            more: 0,
        },
        Entry::Alerts {
            event: AlertEvent::Declared {
                reason: Declaration {
                    trigger: Some(Trigger::Pause {
                        severity: Severity::P2,
                    }),
                    joins: Vec::new(),
                },
            },
            alerts: vec![line(10)],
            more: 0,
        },
        Entry::Alerts {
            event: AlertEvent::Joined {
                confidence_pct: 66,
                reason: related(
                    120,
                    Link::DependsOn {
                        dependent: s("order-router"),
                        on: s("payments"),
                        hops: 1,
                    },
                    None,
                ),
            },
            alerts: vec![line(11), line(12)],
            more: 0,
        },
        Entry::Alerts {
            event: AlertEvent::Resolved,
            alerts: vec![line(11)],
            more: 0,
        },
        Entry::Alerts {
            event: AlertEvent::FiringAgain,
            alerts: vec![line(11)],
            more: 0,
        },
        Entry::Alerts {
            event: AlertEvent::AllResolved,
            alerts: Vec::new(),
            more: 0,
        },
        Entry::Alerts {
            event: AlertEvent::Outlived {
                cause: line(10),
                after_secs: 15 * 60,
            },
            alerts: vec![line(12)],
            more: 0,
        },
    ]
}

fn messages() -> Vec<(&'static str, Message)> {
    let inc = incident();
    let usage = |syntax, problem| Message::Usage {
        error: ParseError { syntax, problem },
    };
    vec![
        (
            "card",
            Message::Card {
                incident: Box::new(inc.clone()),
            },
        ),
        (
            "declared",
            Message::Declared {
                incident: Box::new(inc.clone()),
                unknown: Vec::new(),
            },
        ),
        (
            "declared_unknown_service",
            Message::Declared {
                incident: Box::new(inc.clone()),
                unknown: vec!["paymnets".into()],
            },
        ),
        (
            "list",
            Message::List {
                incidents: vec![inc.clone()],
            },
        ),
        ("list_empty", Message::List { incidents: vec![] }),
        (
            "notice",
            Message::Notice {
                incident: inc.id.clone(),
                who: Person::named("bob"),
                entry: Entry::MilestoneSet {
                    milestone: Milestone::StopLoss,
                    time: t("2026-11-23T07:35:00Z"),
                    previous: Some(t("2026-11-23T07:30:00Z")),
                },
                after: Box::new(inc.clone()),
            },
        ),
        (
            "timeline",
            Message::Timeline {
                incident: Box::new(inc.clone()),
                entries: entries(),
            },
        ),
        (
            "postmortem_with_cause",
            Message::Postmortem {
                incident: Box::new(rich_incident()),
                entries: vec![],
                actions: vec![],
                generated_at: t("2026-11-23T09:00:00Z"),
            },
        ),
        (
            "postmortem",
            Message::Postmortem {
                incident: Box::new(inc.clone()),
                entries: entries(),
                actions: vec![TaskLine {
                    plan: "IMS-20261123-001/actions".into(),
                    id: "A1".into(),
                    title: "Raise the queue alert threshold".into(),
                    owner: "bob".into(),
                    team: "bob".into(),
                    status: "pending".into(),
                    start: Some(t("2026-11-23T07:00:00Z")),
                    end: Some(t("2026-11-25T07:00:00Z")),
                    overdue: false,
                    critical: false,
                    waits_for: vec![],
                }],
                generated_at: t("2026-11-23T09:00:00Z"),
            },
        ),
        ("help", Message::Help),
        (
            "page",
            Message::Page {
                page: PageNotice {
                    incident: inc.id.clone(),
                    title: inc.title.clone(),
                    severity: Severity::P1,
                    policy: "trading-critical".into(),
                    step: 2,
                    round: 1,
                    target: PageTarget::Person {
                        name: "alice".into(),
                        schedule: Some("trading-ops".into()),
                    },
                    by: None,
                    reason: None,
                    next: Some(NextStep {
                        at: t("2026-11-23T02:20:00Z"),
                        waits_for_open: false,
                    }),
                },
            },
        ),
        (
            "page_manual",
            Message::Page {
                page: PageNotice {
                    incident: inc.id.clone(),
                    title: inc.title.clone(),
                    severity: Severity::P1,
                    policy: "manual".into(),
                    step: 1,
                    round: 0,
                    target: PageTarget::Person {
                        name: "hu".into(),
                        schedule: Some("dba".into()),
                    },
                    by: Some("alice".into()),
                    reason: Some("主库连接数打满".into()),
                    next: None,
                },
            },
        ),
        (
            "page_nobody",
            Message::Page {
                page: PageNotice {
                    incident: inc.id.clone(),
                    title: inc.title.clone(),
                    severity: Severity::P1,
                    policy: "ops-default".into(),
                    step: 1,
                    round: 0,
                    target: PageTarget::Nobody {
                        schedule: "dba".into(),
                    },
                    by: None,
                    reason: None,
                    next: Some(NextStep {
                        at: t("2026-11-24T01:05:00Z"),
                        waits_for_open: true,
                    }),
                },
            },
        ),
        (
            "oncall",
            Message::OnCall {
                at: t("2026-11-23T02:00:00Z"),
                query: Some("trading-gateway".into()),
                entries: vec![
                    OnCallEntry {
                        schedule: "trading-ops".into(),
                        team: Some("ops".into()),
                        person: Some("alice".into()),
                        layer: Some("trading-hours".into()),
                        services: vec!["trading-gateway".into()],
                    },
                    OnCallEntry {
                        schedule: "dba".into(),
                        team: None,
                        person: None,
                        layer: None,
                        services: vec![],
                    },
                ],
            },
        ),
        (
            "calendar",
            Message::Calendar {
                view: CalendarView {
                    market: "SHFE".into(),
                    tz: "Asia/Shanghai".into(),
                    at: t("2026-11-20T14:00:00Z"),
                    covered: true,
                    trading: true,
                    session: Some("night".into()),
                    session_end: Some(t("2026-11-20T18:30:00Z")),
                    trading_day: chrono::NaiveDate::from_ymd_opt(2026, 11, 23),
                    next_open: Some(t("2026-11-23T01:00:00Z")),
                },
            },
        ),
        ("services_updated", Message::ServicesUpdated { count: 3 }),
        (
            "digest",
            Message::Digest {
                plan: "CHG-1123".into(),
                team: "ops".into(),
                tasks: vec!["AC3".into(), "AC21".into(), "AC40".into(), "AC58".into()],
            },
        ),
        (
            "digest_clear",
            Message::Digest {
                plan: "CHG-1123".into(),
                team: "ops".into(),
                tasks: vec![],
            },
        ),
        (
            "plan_status",
            Message::PlanStatus {
                plans: vec![warroom_core::event::PlanProgress {
                    id: "CHG-1123".into(),
                    title: "Core trading upgrade".into(),
                    coordinator: "carol".into(),
                    done: 3,
                    total: 9,
                    teams: vec![warroom_core::event::TeamProgress {
                        team: "ops".into(),
                        done: 2,
                        in_progress: 1,
                        waiting: 3,
                        overdue: vec!["AC21".into(), "AC58".into()],
                    }],
                }],
            },
        ),
        (
            "reminder",
            reminder(warroom_core::tasks::ReminderKind::BeforeStart, &[]),
        ),
        (
            "reminder_waiting",
            reminder(warroom_core::tasks::ReminderKind::AtStart, &["AC2"]),
        ),
        (
            "refused_oncall",
            Message::Refused {
                problem: Refusal::UnknownOnCall {
                    query: "nobody".into(),
                    uncovered: false,
                },
            },
        ),
        (
            "refused_oncall_uncovered",
            Message::Refused {
                problem: Refusal::UnknownOnCall {
                    query: "plain-svc".into(),
                    uncovered: true,
                },
            },
        ),
        (
            "refused_milestone_order",
            Message::Refused {
                problem: Refusal::MilestoneOrder {
                    milestone: Milestone::Recovered,
                    time: t("2026-11-23T05:00:00Z"),
                    other: Milestone::Occurred,
                    other_time: t("2026-11-23T05:50:00Z"),
                },
            },
        ),
        (
            "refused_task_waits",
            Message::Refused {
                problem: Refusal::Task {
                    error: warroom_core::tasks::TaskError::DependenciesUnfinished {
                        task: warroom_core::tasks::TaskId::parse("AC40").expect("id"),
                        blocking: vec![
                            warroom_core::tasks::TaskId::parse("AC3").expect("id"),
                            warroom_core::tasks::TaskId::parse("AC21").expect("id"),
                        ],
                    },
                },
            },
        ),
        (
            "refused_task_done",
            Message::Refused {
                problem: Refusal::Task {
                    error: warroom_core::tasks::TaskError::AlreadyFinished {
                        task: warroom_core::tasks::TaskId::parse("AC3").expect("id"),
                        status: warroom_core::tasks::TaskStatus::Done,
                    },
                },
            },
        ),
        (
            "plan_imported_again",
            Message::PlanImported {
                plan: "CHG-1123".into(),
                tasks: 5,
                kept: 2,
            },
        ),
        (
            "refused_override_span",
            Message::Refused {
                problem: Refusal::BadSpan {
                    text: "0h".into(),
                    past: false,
                },
            },
        ),
        (
            "refused_override_past",
            Message::Refused {
                problem: Refusal::BadSpan {
                    text: "2026-11-20 09:00".into(),
                    past: true,
                },
            },
        ),
        (
            "status_update",
            Message::StatusUpdate {
                incident: Box::new(inc.clone()),
                who: Person::named("carol"),
                text: "Traffic is on the backup line; next update 16:00. 已切换备用线路。".into(),
            },
        ),
        (
            "usage_missing",
            usage(Syntax::Declare, Problem::Missing("title".into())),
        ),
        (
            "usage_unknown",
            usage(Syntax::Help, Problem::UnknownCommand("frobnicate".into())),
        ),
        (
            "usage_severity",
            usage(Syntax::Severity, Problem::BadSeverity("P9".into())),
        ),
        (
            "denied",
            Message::Denied {
                permission: Permission::Close,
                command: Syntax::Transition,
            },
        ),
        (
            "refused_no_incident",
            Message::Refused {
                problem: Refusal::NoIncidentHere,
            },
        ),
        (
            "refused_transition",
            Message::Refused {
                problem: Refusal::Transition {
                    error: InvalidTransitionView {
                        from: "declared".into(),
                        to: "closed".into(),
                        reason: TransitionReason::NotResolved,
                    },
                },
            },
        ),
        (
            "refused_ack_resolved",
            Message::Refused {
                problem: Refusal::Transition {
                    error: InvalidTransitionView {
                        from: "resolved".into(),
                        to: "investigating".into(),
                        reason: TransitionReason::UseReopen,
                    },
                },
            },
        ),
        (
            "refused_role",
            Message::Refused {
                problem: Refusal::UnknownRole {
                    role: "chef".into(),
                    known: vec!["commander".into(), "comms".into()],
                },
            },
        ),
        (
            "card_with_alerts_and_history",
            Message::Card {
                incident: Box::new(rich_incident()),
            },
        ),
        (
            "answer",
            Message::Answer {
                question: "how do I restart the order gateway?".into(),
                answer: answer(false, None, None),
            },
        ),
        (
            "answer_written",
            Message::Answer {
                question: "how do I restart the order gateway?".into(),
                answer: answer(
                    false,
                    Some("Drain the FIX sessions, then restart the service [1]."),
                    None,
                ),
            },
        ),
        (
            "answer_abstain",
            Message::Answer {
                question: "what is the boiling point of mercury".into(),
                answer: answer(true, None, None),
            },
        ),
        (
            "answer_model_failed",
            Message::Answer {
                question: "how do I restart the order gateway?".into(),
                answer: answer(
                    false,
                    None,
                    Some("the language model did not answer within 30 s"),
                ),
            },
        ),
        (
            "similar",
            Message::Similar {
                incident: None,
                text: "order gateway FIX sessions dropped".into(),
                similar: rich_incident().similar,
            },
        ),
        (
            "similar_none",
            Message::Similar {
                incident: None,
                text: "printer out of toner".into(),
                similar: vec![],
            },
        ),
        (
            "analysis",
            Message::Analysis {
                incident: inc.id.clone(),
                analysis: Box::new(warroom_core::assist::Analysis {
                    services: vec!["payments".into()],
                    scope: vec!["payments".into(), "trading-db".into()],
                    change_days: 3,
                    changes: vec![],
                    changes_total: 0,
                    alert_minutes: 120,
                    alerts: vec![warroom_core::assist::AlertCount {
                        name: "PaymentsLatencyHigh".into(),
                        service: Some("payments".into()),
                        count: 14,
                        firing: true,
                    }],
                    similar: rich_incident().similar,
                    runbooks: answer(false, None, None).passages,
                    hypotheses: Some("1. CHG-501 raised the load on trading-db [1].".into()),
                    llm_error: None,
                }),
            },
        ),
        (
            "answer_with_proposals",
            Message::Answer {
                question: "page the database on-call".into(),
                answer: {
                    let mut a = answer(
                        false,
                        Some("I proposed paging the trading-db on-call."),
                        None,
                    );
                    a.proposals = vec![warroom_core::assist::ProposalLine {
                        skill: "page_oncall".into(),
                        command: "/page IMS-20261123-001 trading-db replication lag".into(),
                        id: Some("P-7".into()),
                    }];
                    a
                },
            },
        ),
        (
            "proposal_cancelled",
            Message::ProposalCancelled {
                id: "P-7".into(),
                command: "/page IMS-20261123-001 trading-db replication lag".into(),
                by: warroom_core::incident::Person::named("bob"),
            },
        ),
        (
            "refused_proposal",
            Message::Refused {
                problem: Refusal::Proposal {
                    id: "P-7".into(),
                    state: "confirmed".into(),
                    by: Some("alice".into()),
                },
            },
        ),
        (
            "assist_unavailable",
            Message::AssistUnavailable {
                reason: "the index is in use by another process".into(),
            },
        ),
        (
            "silence_list",
            Message::SilenceList {
                silences: vec![
                    silence("S-202611231005-2", "service=\"clearing\"", None),
                    // A configured window: no start, no end, every weekday night.
                    warroom_core::alerts::Silence {
                        id: "nightly-backup".into(),
                        starts_at: DateTime::<Utc>::UNIX_EPOCH,
                        ends_at: None,
                        recurrence: Some(
                            warroom_core::alerts::Recurrence::new(&["weekdays"], "02:00", "03:00")
                                .expect("window"),
                        ),
                        created_by: "dba".into(),
                        ..silence("x", "service=\"trading-db\"", None)
                    },
                ],
                ended: (1..=7)
                    .map(|i| {
                        silence(
                            &format!("S-20261123090{i}-1"),
                            "service=\"payments\"",
                            Some(t("2026-11-23T09:30:00Z")),
                        )
                    })
                    .collect(),
            },
        ),
        (
            "alert_list",
            Message::AlertList {
                alerts: vec![
                    firing(
                        "DBConnectionsExhausted",
                        "trading-db",
                        Severity::P1,
                        Some("IMS-20261123-001"),
                        None,
                    ),
                    firing(
                        "QueueBacklog",
                        "payments",
                        Severity::P1,
                        None,
                        Some(warroom_core::alerts::SuppressReason::Silenced {
                            silence: "S-202611231005-1".into(),
                        }),
                    ),
                    firing(
                        "OrderRejects",
                        "order-router",
                        Severity::P2,
                        None,
                        Some(warroom_core::alerts::SuppressReason::Flapping { changes: 6 }),
                    ),
                    firing(
                        "DiskAlmostFull",
                        "settle-db",
                        Severity::P4,
                        None,
                        Some(warroom_core::alerts::SuppressReason::Chronic { episodes: 3 }),
                    ),
                    firing(
                        "NodeNotReady",
                        "k8s-node-02",
                        Severity::P2,
                        None,
                        Some(warroom_core::alerts::SuppressReason::Inhibited {
                            by: "fp-NodeDown".into(),
                        }),
                    ),
                    firing(
                        "CertExpiringSoon",
                        "web",
                        Severity::P4,
                        None,
                        Some(warroom_core::alerts::SuppressReason::BelowMinSeverity),
                    ),
                ],
            },
        ),
        (
            "refused_silence_ended",
            Message::Refused {
                problem: Refusal::SilenceEnded {
                    silence: "S-202611231005-1".into(),
                },
            },
        ),
        (
            "refused_time",
            Message::Refused {
                problem: Refusal::BadTime {
                    error: TimeError::InFuture {
                        text: "23:00".into(),
                    },
                },
            },
        ),
        ("gate_verdict", gate_verdict()),
        (
            "change_list_unknown",
            Message::ChangeList {
                query: warroom_core::event::ChangeListQuery {
                    service: Some("支付系统".into()),
                    services: vec!["支付系统".into()],
                    since: t("2026-11-19T01:30:00Z"),
                    lookback: warroom_core::command::Lookback::TradingDays(3),
                    environment: None,
                    operator: None,
                    unknown: true,
                },
                changes: vec![],
                total: 0,
            },
        ),
    ]
}

/// A reminder for AC3, which waits for `waits_for`.
fn reminder(kind: warroom_core::tasks::ReminderKind, waits_for: &[&str]) -> Message {
    Message::Reminder {
        plan: "CHG-1123".into(),
        kind,
        task: TaskLine {
            plan: "CHG-1123".into(),
            id: "AC3".into(),
            title: "Stop the order gateway".into(),
            owner: "ops".into(),
            team: "ops".into(),
            status: "pending".into(),
            start: Some(t("2026-11-23T14:00:00Z")),
            end: Some(t("2026-11-23T15:00:00Z")),
            overdue: false,
            critical: true,
            waits_for: waits_for.iter().map(|w| (*w).to_string()).collect(),
        },
    }
}

fn gate_verdict() -> Message {
    use warroom_core::changes::{Decision, OpenSide, Reason, Verdict, Why};
    let change = warroom_core::changes::validate(&serde_json::json!({
        "id": "CHG-7", "start": "2026-11-23T01:20:00Z", "end": "2026-11-23T01:40:00Z",
        "scenario": "release", "operator": "alice", "service": "order-router",
        "environment": "prod", "action": "deploy v2", "risk": "high"
    }))
    .expect("change");
    let window = "2026-11-23 09:20–09:40 Asia/Shanghai".to_string();
    let reason = |rule: &str, effect: Decision, why: Why, downgraded: bool| Reason {
        rule: rule.into(),
        effect,
        message: why.to_string(),
        why: Some(why),
        downgraded,
    };
    let reasons = vec![
        reason(
            "market_open:SSE",
            Decision::NeedsApproval,
            Why::MarketOpen {
                window: window.clone(),
                market: "SSE".into(),
                open: "09:30".into(),
                date: t("2026-11-23T01:30:00Z").date_naive(),
                session: "morning".into(),
                minutes: 15,
                side: OpenSide::Before,
                off_by: 10,
            },
            true,
        ),
        reason(
            "daily",
            Decision::Deny,
            Why::DailyFreeze {
                window,
                from: "09:00".into(),
                to: "10:00".into(),
                zone: "Asia/Shanghai".into(),
                day: t("2026-11-23T01:30:00Z").date_naive(),
                weekday: chrono::Weekday::Mon,
            },
            false,
        ),
        reason(
            "environments",
            Decision::Allow,
            Why::NotGated {
                environment: "dev".into(),
                gated: vec!["prod".into(), "staging".into()],
            },
            false,
        ),
        reason(
            "risk",
            Decision::NeedsApproval,
            Why::Risk {
                risk: "high".into(),
                limit: "high".into(),
                deny: false,
            },
            false,
        ),
        reason(
            "blast_radius",
            Decision::NeedsApproval,
            Why::BlastRadius {
                service: "order-router".into(),
                count: 4,
                hops: 2,
                threshold: 4,
                names: vec![
                    "gateway".into(),
                    "api".into(),
                    "mobile".into(),
                    "web".into(),
                ],
            },
            false,
        ),
        reason(
            "rejected",
            Decision::Deny,
            Why::Decided {
                action: "rejected".into(),
                by: "bob".into(),
                at: "2026-11-23 09:05 Asia/Shanghai".into(),
                note: Some("not during the open".into()),
            },
            false,
        ),
        Reason {
            rule: "freeze".into(),
            effect: Decision::Deny,
            message: "a reason stored before reasons were structured".into(),
            why: None,
            downgraded: false,
        },
    ];
    Message::GateVerdict {
        change: Box::new(change),
        verdict: Verdict {
            decision: Decision::Deny,
            reasons,
        },
        approval: Some(warroom_core::changes::ApprovalState::Rejected {
            by: Person::named("bob"),
            at: t("2026-11-23T01:05:00Z"),
            note: Some("not during the open".into()),
        }),
    }
}

fn firing(
    alertname: &str,
    service: &str,
    severity: Severity,
    incident: Option<&str>,
    suppressed: Option<warroom_core::alerts::SuppressReason>,
) -> warroom_core::alerts::FiringAlert {
    warroom_core::alerts::FiringAlert {
        fingerprint: format!("fp-{alertname}"),
        labels: [("alertname".to_string(), alertname.to_string())]
            .into_iter()
            .collect(),
        annotations: Default::default(),
        starts_at: t("2026-11-23T01:58:00Z"),
        ends_at: None,
        updated_at: t("2026-11-23T02:04:00Z"),
        severity,
        alertname: alertname.into(),
        service: Some(service.into()),
        title: format!("{alertname} on {service} 连接池耗尽"),
        suppressed,
        cluster: None,
        incident: incident.map(String::from),
        routes: Vec::new(),
    }
}

fn silence(id: &str, matcher: &str, ended: Option<DateTime<Utc>>) -> warroom_core::alerts::Silence {
    warroom_core::alerts::Silence {
        id: id.into(),
        matchers: vec![warroom_core::alerts::Matcher::parse(matcher).expect("matcher")],
        starts_at: t("2026-11-23T08:00:00Z"),
        ends_at: Some(ended.unwrap_or_else(|| t("2026-11-23T12:00:00Z"))),
        recurrence: None,
        created_by: "alice".into(),
        comment: "batch window 批处理窗口".into(),
        updated_at: ended,
    }
}

#[test]
fn every_template_renders_as_its_snapshot_in_both_languages() {
    let cfg = Config::embedded().expect("config");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("snapshots");
    let mut failures = Vec::new();
    for lang in [Lang::En, Lang::Zh] {
        let names: BTreeMap<String, String> = cfg.severity_names.clone();
        let r = Renderer::new(lang, cfg.tz, names, cfg.engine.roles.clone()).expect("renderer");
        for (name, msg) in messages() {
            let text = r
                .render(&msg)
                .unwrap_or_else(|e| panic!("{} {name}: {e}", lang.code()));
            let path = root.join(lang.code()).join(format!("{name}.txt"));
            let expected = std::fs::read_to_string(&path).unwrap_or_default();
            if expected.trim_end() != text {
                if std::env::var_os("UPDATE_EXPECT").is_some() {
                    std::fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
                    std::fs::write(&path, format!("{text}\n")).expect("write");
                } else {
                    failures.push(format!(
                        "{}:\n--- expected\n{expected}\n--- actual\n{text}\n",
                        path.display()
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "snapshots differ (UPDATE_EXPECT=1 to accept):\n{}",
        failures.join("\n")
    );
}

#[test]
fn chinese_cards_carry_chinese_labels_and_english_cards_english_ones() {
    let cfg = Config::embedded().expect("config");
    let card = Message::Card {
        incident: Box::new(incident()),
    };
    let zh = Renderer::new(
        Lang::Zh,
        cfg.tz,
        cfg.severity_names.clone(),
        cfg.engine.roles.clone(),
    )
    .expect("zh")
    .render(&card)
    .expect("render");
    let en = Renderer::new(
        Lang::En,
        cfg.tz,
        cfg.severity_names.clone(),
        cfg.engine.roles.clone(),
    )
    .expect("en")
    .render(&card)
    .expect("render");
    assert!(
        zh.contains("事件指挥官：bob") && zh.contains("已止损") && zh.contains("止损耗时"),
        "{zh}"
    );
    assert!(
        en.contains("Incident Commander: bob")
            && en.contains("Mitigated")
            && en.contains("Time to stop loss"),
        "{en}"
    );
    // 05:50Z is 13:50 in Shanghai; stop-loss 1h45m after occurrence.
    assert!(
        en.contains("Occurred: 2026-11-23 13:50") && en.contains("(occurred → stop-loss): 1h 45m"),
        "{en}"
    );
    assert!(zh.contains("1小时45分钟"), "{zh}");
    assert!(
        !en.contains("&quot;") && !en.contains("&lt;"),
        "no HTML escaping"
    );
}

#[test]
fn the_machinery_lines_exist_in_both_languages() {
    let cfg = Config::embedded().expect("config");
    for (lang, word) in [(Lang::En, "command"), (Lang::Zh, "命令")] {
        let r = Renderer::new(
            lang,
            cfg.tz,
            cfg.severity_names.clone(),
            cfg.engine.roles.clone(),
        )
        .expect("renderer");
        let lines: Vec<String> = ["not_a_command", "stopped", "internal"]
            .iter()
            .map(|k| r.system(k))
            .collect();
        assert!(
            lines[0].contains("/help") && lines[1].contains(word),
            "{lines:?}"
        );
        assert!(lines[0] != lines[1] && lines[1] != lines[2], "{lines:?}");
    }
}
