//! Pipeline behaviour, on injected time.

use chrono::{DateTime, Duration, Utc};

use super::*;
use crate::catalog::{Catalog, Service};
use crate::incident::Severity;

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-02T01:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn at(secs: i64) -> DateTime<Utc> {
    t0() + Duration::seconds(secs)
}

fn alert(pairs: &[(&str, &str)], start: DateTime<Utc>, status: AlertStatus) -> Alert {
    let labels: Labels = pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect();
    Alert {
        fingerprint: fingerprint(&labels),
        labels,
        annotations: Labels::new(),
        status,
        starts_at: start,
        ends_at: (status == AlertStatus::Resolved).then_some(start + Duration::minutes(1)),
        source: AlertSource::Alertmanager,
        received_at: start,
    }
}

fn resolved(a: &Alert, end: DateTime<Utc>) -> Alert {
    Alert {
        status: AlertStatus::Resolved,
        ends_at: Some(end),
        ..a.clone()
    }
}

/// How many alerts `out` suppressed for `reason`.
fn suppressed(out: &[Output], reason: &SuppressReason) -> usize {
    out.iter()
        .filter(|o| matches!(o, Output::Suppressed { reason: r, .. } if r == reason))
        .count()
}

fn pipeline(cfg: PipelineConfig) -> Pipeline {
    Pipeline::new(cfg, Catalog::default()).unwrap()
}

/// Runs every timer up to and including `until`.
fn run_until(p: &mut Pipeline, until: DateTime<Utc>) -> Vec<Output> {
    let mut out = Vec::new();
    while let Some(d) = p.next_deadline().filter(|d| *d <= until) {
        out.extend(p.tick(d));
    }
    out.extend(p.tick(until));
    out
}

fn declares(out: &[Output]) -> Vec<&Output> {
    out.iter()
        .filter(|o| matches!(o, Output::Declare { .. }))
        .collect()
}

fn attaches(out: &[Output]) -> Vec<(&Vec<AlertRef>, bool)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Attach { alerts, notify, .. } => Some((alerts, *notify)),
            _ => None,
        })
        .collect()
}

fn one_signal_declares() -> PipelineConfig {
    let mut cfg = PipelineConfig::default();
    cfg.declare.signals = 1;
    cfg.declare.threshold = 0.0;
    cfg
}

#[test]
fn re_sends_of_a_firing_alert_are_one_episode_and_a_refire_is_a_new_one() {
    let mut p = pipeline(PipelineConfig::default());
    let a = alert(
        &[
            ("alertname", "HighLatency"),
            ("service", "payments"),
            ("severity", "critical"),
        ],
        at(0),
        AlertStatus::Firing,
    );
    let mut out = p.ingest(vec![a.clone()], at(10));
    out.extend(p.ingest(vec![a.clone(), a.clone()], at(20)));
    out.extend(run_until(&mut p, at(300)));
    out.extend(p.ingest(vec![a.clone()], at(300)));
    out.extend(run_until(&mut p, at(330)));
    let d = declares(&out);
    assert_eq!(d.len(), 1, "{out:#?}");
    assert!(
        matches!(d[0], Output::Declare { alerts, severity, .. } if alerts.len() == 1 && *severity == Severity::P1)
    );
    // Resolved, then firing again with a new startsAt: a second episode of the same incident.
    let mut out = p.ingest(vec![resolved(&a, at(360))], at(400));
    let again = alert(
        &[
            ("alertname", "HighLatency"),
            ("service", "payments"),
            ("severity", "critical"),
        ],
        at(480),
        AlertStatus::Firing,
    );
    out.extend(p.ingest(vec![again.clone()], at(490)));
    out.extend(run_until(&mut p, at(900)));
    assert!(
        out.iter().any(|o| matches!(
            o,
            Output::Update {
                status: AlertStatus::Resolved,
                ..
            }
        )),
        "{out:#?}"
    );
    let att = attaches(&out);
    assert_eq!(att.len(), 1, "{out:#?}");
    assert_eq!(att[0].0[0].key, again.key());
    assert_eq!(p.cluster_of(&a.key()), p.cluster_of(&again.key()));
}

#[test]
fn group_wait_then_group_interval_then_repeat_interval() {
    let mut cfg = one_signal_declares();
    cfg.route.repeat_interval = Some(Dur::hours(1));
    let mut p = pipeline(cfg);
    let a1 = alert(
        &[
            ("alertname", "QueueBacklog"),
            ("service", "mq"),
            ("instance", "mq-1"),
        ],
        at(0),
        AlertStatus::Firing,
    );
    let a2 = alert(
        &[
            ("alertname", "QueueBacklog"),
            ("service", "mq"),
            ("instance", "mq-2"),
        ],
        at(60),
        AlertStatus::Firing,
    );
    p.ingest(vec![a1.clone()], at(0));
    assert!(p.tick(at(29)).is_empty(), "nothing before group_wait");
    let first = p.tick(at(30));
    assert_eq!(
        declares(&first).len(),
        1,
        "first notification after group_wait: {first:#?}"
    );
    p.ingest(vec![a2.clone()], at(60));
    assert!(
        p.tick(at(60)).is_empty(),
        "a change waits for the group_interval"
    );
    assert_eq!(p.next_deadline(), Some(at(330)));
    let second = p.tick(at(330));
    let att = attaches(&second);
    assert_eq!(
        (att.len(), att[0].0[0].key.clone()),
        (1, a2.key()),
        "{second:#?}"
    );
    // Unchanged from then on: one reminder a repeat_interval after the last notification.
    let later = run_until(&mut p, at(330 + 3600 + 10));
    assert_eq!(
        later
            .iter()
            .filter(|o| matches!(o, Output::Reminder { .. }))
            .count(),
        1,
        "{later:#?}"
    );
    assert!(run_until(&mut p, at(330 + 3600 + 60)).is_empty());
}

#[test]
fn inhibition_mutes_targets_sharing_the_equal_label_and_only_them() {
    let mut cfg = one_signal_declares();
    cfg.inhibit_rules = vec![InhibitRule {
        source_matchers: vec![Matcher::parse("alertname=NodeDown").unwrap()],
        target_matchers: vec![Matcher::parse("alertname!=NodeDown").unwrap()],
        equal: vec!["node".into()],
    }];
    let mut p = pipeline(cfg);
    let down = alert(
        &[
            ("alertname", "NodeDown"),
            ("node", "n1"),
            ("severity", "critical"),
        ],
        at(0),
        AlertStatus::Firing,
    );
    let pod1 = alert(
        &[("alertname", "PodCrashLooping"), ("node", "n1")],
        at(5),
        AlertStatus::Firing,
    );
    let pod2 = alert(
        &[("alertname", "PodCrashLooping"), ("node", "n2")],
        at(5),
        AlertStatus::Firing,
    );
    let no_node = alert(
        &[("alertname", "PodCrashLooping"), ("pod", "x")],
        at(5),
        AlertStatus::Firing,
    );
    p.ingest(
        vec![down, pod1.clone(), pod2.clone(), no_node.clone()],
        at(10),
    );
    let out = run_until(&mut p, at(60));
    let inhibited: Vec<&AlertKey> = out
        .iter()
        .filter_map(|o| match o {
            Output::Suppressed {
                alert,
                reason: SuppressReason::Inhibited { .. },
            } => Some(&alert.key),
            _ => None,
        })
        .collect();
    assert_eq!(
        inhibited,
        vec![&pod1.key()],
        "missing `node` on the target is not equal to n1: {out:#?}"
    );
    assert!(p.cluster_of(&pod2.key()).is_some() && p.cluster_of(&pod1.key()).is_none());
}

#[test]
fn ending_a_silence_early_records_when_it_ended_and_was_updated() {
    let mut p = pipeline(one_signal_declares());
    p.add_silence(Silence {
        id: "maint-2".into(),
        matchers: vec![Matcher::parse("service=db").unwrap()],
        starts_at: at(-60),
        ends_at: Some(at(3600)),
        recurrence: None,
        created_by: "alice".into(),
        comment: String::new(),
        updated_at: Some(at(-60)),
    })
    .unwrap();
    assert_eq!(p.expire_silence("maint-2", at(300)), SilenceEnd::Ended);
    let s = p.silences().find(|s| s.id == "maint-2").unwrap();
    assert_eq!((s.ends_at, s.updated_at), (Some(at(300)), Some(at(300))));
    assert_eq!(p.expire_silence("maint-nope", at(300)), SilenceEnd::Unknown);
}

#[test]
fn an_ended_silence_stays_listed_for_five_days_and_cannot_be_ended_again() {
    let mut p = pipeline(one_signal_declares());
    p.add_silence(Silence {
        starts_at: at(-60),
        ends_at: Some(at(600)),
        ..silence("maint-3", "service=db")
    })
    .unwrap();
    let out = p.tick(at(601));
    assert!(out
        .iter()
        .any(|o| matches!(o, Output::SilenceExpired { id } if id == "maint-3")));
    assert_eq!(p.silences().count(), 0);
    let ended: Vec<&str> = p.ended_silences().map(|s| s.id.as_str()).collect();
    assert_eq!(ended, vec!["maint-3"]);
    assert_eq!(
        p.expire_silence("maint-3", at(700)),
        SilenceEnd::AlreadyEnded
    );
    assert_eq!(
        p.ended_silences().next().and_then(|s| s.ends_at),
        Some(at(600)),
        "ending it again changes nothing"
    );
    // Four days on it is still listed; past five days it is forgotten.
    p.tick(at(600 + 4 * 86_400));
    assert_eq!(p.ended_silences().count(), 1);
    p.tick(at(600 + 5 * 86_400 + 1));
    assert_eq!(p.ended_silences().count(), 0);
    assert_eq!(
        p.expire_silence("maint-3", at(600 + 5 * 86_400 + 2)),
        SilenceEnd::Unknown
    );
}

#[test]
fn a_silence_still_to_come_ended_early_is_over_before_it_began_and_comes_back_so() {
    let mut p = pipeline(one_signal_declares());
    let tonight = Silence {
        starts_at: at(3600),
        ends_at: Some(at(7200)),
        ..silence("batch-1", "service=clearing")
    };
    p.add_silence(tonight).unwrap();
    assert_eq!(p.expire_silence("batch-1", at(60)), SilenceEnd::Ended);
    let s = p.silences().next().cloned().unwrap();
    assert_eq!((s.starts_at, s.ends_at), (at(60), Some(at(60))));
    assert!(s.is_expired(at(60)));
    assert_eq!(
        p.expire_silence("batch-1", at(61)),
        SilenceEnd::AlreadyEnded
    );
    // As stored, it ends when it starts: a restart lists it as ended, not refused.
    let mut q = pipeline(one_signal_declares());
    q.restore_silence(s).unwrap();
    assert_eq!(q.silences().count(), 0);
    assert_eq!(
        q.ended_silences()
            .map(|s| s.id.as_str())
            .collect::<Vec<_>>(),
        vec!["batch-1"]
    );
    assert_eq!(
        q.expire_silence("batch-1", at(62)),
        SilenceEnd::AlreadyEnded
    );
}

#[test]
fn a_restart_forgets_silences_that_ended_more_than_five_days_ago() {
    let mut p = pipeline(one_signal_declares());
    for (id, end) in [("old", at(-6 * 86_400)), ("recent", at(-86_400))] {
        p.restore_silence(Silence {
            starts_at: end - Duration::hours(1),
            ends_at: Some(end),
            ..silence(id, "service=db")
        })
        .unwrap();
    }
    p.tick(at(0));
    assert_eq!(p.silences().count(), 0);
    assert_eq!(
        p.ended_silences()
            .map(|s| s.id.as_str())
            .collect::<Vec<_>>(),
        vec!["recent"]
    );
    assert_eq!(p.expire_silence("old", at(1)), SilenceEnd::Unknown);
}

#[test]
fn a_silence_past_its_end_but_not_yet_ticked_cannot_be_ended_again() {
    let mut p = pipeline(one_signal_declares());
    p.add_silence(Silence {
        starts_at: at(-60),
        ends_at: Some(at(600)),
        ..silence("maint-4", "service=db")
    })
    .unwrap();
    assert_eq!(
        p.expire_silence("maint-4", at(601)),
        SilenceEnd::AlreadyEnded
    );
    assert_eq!(p.silences().next().and_then(|s| s.ends_at), Some(at(600)));
}

#[test]
fn the_firing_alerts_are_listed_worst_first_with_silences_read_at_the_time_asked() {
    let mut p = pipeline(one_signal_declares());
    let db = alert(
        &[
            ("alertname", "ReplicationLag"),
            ("service", "db"),
            ("severity", "warning"),
        ],
        at(0),
        AlertStatus::Firing,
    );
    let gw = alert(
        &[
            ("alertname", "GatewayDown"),
            ("service", "gw"),
            ("severity", "critical"),
        ],
        at(10),
        AlertStatus::Firing,
    );
    let gone = alert(
        &[
            ("alertname", "DiskFull"),
            ("service", "db"),
            ("severity", "critical"),
        ],
        at(5),
        AlertStatus::Resolved,
    );
    p.ingest(vec![db, gw, gone], at(20));
    let names = |v: Vec<FiringAlert>| -> Vec<(String, Option<SuppressReason>)> {
        v.into_iter().map(|a| (a.alertname, a.suppressed)).collect()
    };
    assert_eq!(
        names(p.firing_alerts(&[], at(30))),
        vec![
            ("GatewayDown".into(), None),
            ("ReplicationLag".into(), None)
        ]
    );
    let only_db = [Matcher::parse("service=db").unwrap()];
    assert_eq!(
        names(p.firing_alerts(&only_db, at(30))),
        vec![("ReplicationLag".into(), None)]
    );
    // Each with the routes that take it: the receiver and the labels of its group.
    assert_eq!(
        p.firing_alerts(&only_db, at(30))[0].routes,
        vec![AlertRoute {
            receiver: "default".into(),
            group: [("alertname", "ReplicationLag"), ("service", "db")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }]
    );
    // A silence added now shows at once, before any group flush looks at the alert.
    p.add_silence(Silence {
        starts_at: at(30),
        ends_at: Some(at(600)),
        ..silence("maint-9", "service=db")
    })
    .unwrap();
    let silenced = Some(SuppressReason::Silenced {
        silence: "maint-9".into(),
    });
    assert_eq!(
        names(p.firing_alerts(&only_db, at(31))),
        vec![("ReplicationLag".into(), silenced.clone())]
    );
    run_until(&mut p, at(300));
    assert_eq!(
        names(p.firing_alerts(&only_db, at(300))),
        vec![("ReplicationLag".into(), silenced)]
    );
    // Once the silence has ended it is no longer reported, flush or not.
    assert_eq!(
        names(p.firing_alerts(&only_db, at(601))),
        vec![("ReplicationLag".into(), None)]
    );
}

#[test]
fn a_silence_mutes_until_it_expires_then_the_alert_is_notified() {
    let mut p = pipeline(one_signal_declares());
    p.add_silence(Silence {
        id: "maint-1".into(),
        matchers: vec![Matcher::parse("service=db").unwrap()],
        starts_at: at(-60),
        ends_at: Some(at(600)),
        recurrence: None,
        created_by: "alice".into(),
        comment: "failover drill".into(),
        updated_at: None,
    })
    .unwrap();
    let a = alert(
        &[
            ("alertname", "ReplicationLag"),
            ("service", "db"),
            ("severity", "critical"),
        ],
        at(0),
        AlertStatus::Firing,
    );
    p.ingest(vec![a.clone()], at(0));
    let out = run_until(&mut p, at(599));
    assert!(out.iter().any(|o| matches!(o, Output::Suppressed { reason: SuppressReason::Silenced { silence }, .. } if silence == "maint-1")));
    assert!(declares(&out).is_empty());
    let out = run_until(&mut p, at(660));
    assert!(
        out.iter()
            .any(|o| matches!(o, Output::SilenceExpired { id } if id == "maint-1")),
        "{out:#?}"
    );
    assert_eq!(
        declares(&out).len(),
        1,
        "notified at the first flush after expiry: {out:#?}"
    );
}

#[test]
fn a_recurring_maintenance_window_mutes_only_inside_its_local_hours() {
    let mut cfg = one_signal_declares();
    cfg.timezone = "Asia/Shanghai".into();
    cfg.silences = vec![Silence {
        id: "nightly-backup".into(),
        matchers: vec![Matcher::parse("service=db").unwrap()],
        starts_at: at(-86_400),
        ends_at: None,
        recurrence: Some(Recurrence::new(&["daily"], "02:00", "03:00").unwrap()),
        created_by: "dba".into(),
        comment: "backup I/O".into(),
        updated_at: None,
    }];
    let mut p = pipeline(cfg);
    // t0 = 09:00 Shanghai; 02:30 local is 17h30m later.
    let inside = at(17 * 3600 + 1800);
    let a = alert(
        &[("alertname", "DiskIOHigh"), ("service", "db")],
        inside,
        AlertStatus::Firing,
    );
    p.ingest(vec![a], inside);
    let out = run_until(&mut p, inside + Duration::seconds(40));
    assert!(
        out.iter().any(|o| matches!(
            o,
            Output::Suppressed {
                reason: SuppressReason::Silenced { .. },
                ..
            }
        )),
        "{out:#?}"
    );
    let outside = at(18 * 3600 + 1800 + 60);
    run_until(&mut p, outside);
    let b = alert(
        &[
            ("alertname", "DiskIOHigh"),
            ("service", "db"),
            ("instance", "db-2"),
        ],
        outside,
        AlertStatus::Firing,
    );
    p.ingest(vec![b.clone()], outside);
    let out = run_until(&mut p, outside + Duration::seconds(40));
    assert!(
        !out.iter()
            .any(|o| matches!(o, Output::Suppressed { alert, .. } if alert.key == b.key())),
        "{out:#?}"
    );
}

#[test]
fn a_flapping_alert_is_held_instead_of_notified_per_flip() {
    let mut cfg = one_signal_declares();
    cfg.flapping = FlapConfig {
        changes: 4,
        window: Dur::mins(30),
    };
    cfg.route.group_wait = Some(Dur::secs(0));
    cfg.route.group_interval = Some(Dur::secs(30));
    let mut p = pipeline(cfg);
    let labels = [
        ("alertname", "ProbeFailed"),
        ("service", "fix-gateway"),
        ("severity", "critical"),
    ];
    let mut out = Vec::new();
    for i in 0..4 {
        let start = at(i * 240);
        let a = alert(&labels, start, AlertStatus::Firing);
        out.extend(p.ingest(vec![a.clone()], start));
        out.extend(run_until(&mut p, start + Duration::seconds(90)));
        out.extend(p.ingest(
            vec![resolved(&a, start + Duration::seconds(120))],
            start + Duration::seconds(120),
        ));
        out.extend(run_until(&mut p, start + Duration::seconds(200)));
    }
    assert_eq!(declares(&out).len(), 1, "{out:#?}");
    assert_eq!(
        attaches(&out).len(),
        1,
        "one post for the first re-fire, then held: {out:#?}"
    );
    let held = out
        .iter()
        .filter(|o| {
            matches!(
                o,
                Output::Suppressed {
                    reason: SuppressReason::Flapping { .. },
                    ..
                }
            )
        })
        .count();
    assert_eq!(held, 2, "{out:#?}");
    assert_eq!(
        out.iter()
            .filter(|o| matches!(o, Output::Update { .. }))
            .count(),
        2,
        "held flips post no resolves: {out:#?}"
    );
}

#[test]
fn a_storm_of_alerts_from_one_service_gives_one_notice() {
    let mut cfg = PipelineConfig::default();
    cfg.storm = StormConfig {
        per_service: 10,
        per_source: 1000,
        window: Dur::mins(2),
    };
    let mut p = pipeline(cfg);
    let mut out = Vec::new();
    for i in 0..30 {
        let pod = format!("md-feed-{i}");
        let a = alert(
            &[
                ("alertname", "FeedLatency"),
                ("service", "market-data"),
                ("pod", &pod),
                ("severity", "critical"),
            ],
            at(i * 2),
            AlertStatus::Firing,
        );
        out.extend(p.ingest(vec![a], at(i * 2)));
    }
    out.extend(run_until(&mut p, at(400)));
    let notices: Vec<&Output> = out
        .iter()
        .filter(|o| {
            matches!(
                o,
                Output::StormNotice {
                    phase: StormPhase::Started,
                    ..
                }
            )
        })
        .collect();
    assert_eq!(notices.len(), 1, "{notices:#?}");
    assert!(matches!(notices[0], Output::StormNotice { key, .. } if key == "service market-data"));
    assert_eq!(declares(&out).len(), 1, "one incident for the lot");
    assert!(
        attaches(&out).iter().all(|(_, notify)| !notify),
        "no post per alert during the storm"
    );
    assert!(
        out.iter().any(|o| matches!(
            o,
            Output::StormNotice {
                phase: StormPhase::Ended,
                count: 30,
                ..
            }
        )),
        "{out:#?}"
    );
}

#[test]
fn a_silenced_alerts_resolve_still_reaches_its_incident() {
    let mut p = pipeline(one_signal_declares());
    let a = alert(
        &[
            ("alertname", "OrderRejects"),
            ("service", "order-router"),
            ("severity", "critical"),
        ],
        at(0),
        AlertStatus::Firing,
    );
    p.ingest(vec![a.clone()], at(0));
    let out = run_until(&mut p, at(60));
    assert_eq!(declares(&out).len(), 1);
    p.add_silence(Silence {
        id: "ack".into(),
        matchers: vec![Matcher::parse("alertname=OrderRejects").unwrap()],
        starts_at: at(60),
        ends_at: Some(at(7200)),
        recurrence: None,
        created_by: "bob".into(),
        comment: "known, fixing".into(),
        updated_at: None,
    })
    .unwrap();
    p.ingest(vec![resolved(&a, at(200))], at(210));
    let out = run_until(&mut p, at(700));
    assert!(
        out.iter().any(|o| matches!(o, Output::Update { status: AlertStatus::Resolved, alert, .. } if alert.key == a.key())),
        "{out:#?}"
    );
    assert!(
        out.iter().any(|o| matches!(o, Output::Resolved { .. })),
        "{out:#?}"
    );
}

#[test]
fn a_prometheus_alert_that_is_no_longer_re_sent_resolves_at_its_end_time() {
    let mut p = pipeline(one_signal_declares());
    let body = |start: &str, end: &str| {
        format!(
            r#"[{{"labels":{{"alertname":"OrderRejects","service":"order-router","severity":"critical"}},"startsAt":"{start}","endsAt":"{end}"}}]"#
        )
    };
    // Prometheus re-sends a firing alert every minute, each time 4 minutes ahead.
    let first = parse_prometheus(
        body("2026-03-02T01:00:00Z", "2026-03-02T01:04:00Z").as_bytes(),
        at(0),
    )
    .unwrap();
    p.ingest(first.clone(), at(0));
    let out = run_until(&mut p, at(180));
    assert_eq!(declares(&out).len(), 1);
    let again = parse_prometheus(
        body("2026-03-02T01:00:00Z", "2026-03-02T01:07:00Z").as_bytes(),
        at(180),
    )
    .unwrap();
    p.ingest(again, at(180));
    // The first end time passes: the re-send moved it, nothing resolves.
    let out = run_until(&mut p, at(400));
    assert!(
        !out.iter().any(|o| matches!(
            o,
            Output::Update {
                status: AlertStatus::Resolved,
                ..
            }
        )),
        "{out:#?}"
    );
    // Then Prometheus goes quiet: the alert lapses at 01:07 and the incident learns it.
    let out = run_until(&mut p, at(1200));
    assert!(
        out.iter().any(|o| matches!(o, Output::Update { status: AlertStatus::Resolved, alert, .. } if alert.key == first[0].key())),
        "{out:#?}"
    );
    assert!(
        out.iter().any(|o| matches!(o, Output::Resolved { .. })),
        "{out:#?}"
    );
    assert_eq!(p.next_deadline().filter(|d| *d < at(1200)), None);
}

#[test]
fn an_inhibited_alerts_resolve_still_reaches_its_incident() {
    let mut cfg = one_signal_declares();
    cfg.inhibit_rules = vec![InhibitRule {
        source_matchers: vec![Matcher::parse("alertname=NodeDown").unwrap()],
        target_matchers: vec![Matcher::parse("alertname=HighLatency").unwrap()],
        equal: vec!["node".into()],
    }];
    let mut p = pipeline(cfg);
    let lat = alert(
        &[
            ("alertname", "HighLatency"),
            ("service", "risk"),
            ("node", "n3"),
            ("severity", "critical"),
        ],
        at(0),
        AlertStatus::Firing,
    );
    p.ingest(vec![lat.clone()], at(0));
    assert_eq!(declares(&run_until(&mut p, at(60))).len(), 1);
    let down = alert(
        &[
            ("alertname", "NodeDown"),
            ("node", "n3"),
            ("severity", "critical"),
        ],
        at(100),
        AlertStatus::Firing,
    );
    p.ingest(vec![down], at(100));
    p.ingest(vec![resolved(&lat, at(150))], at(150));
    let out = run_until(&mut p, at(700));
    assert!(
        out.iter()
            .any(|o| matches!(o, Output::Update { alert, .. } if alert.key == lat.key())),
        "{out:#?}"
    );
}

#[test]
fn an_alert_no_longer_inhibited_is_listed_as_firing_unmuted() {
    let mut cfg = one_signal_declares();
    cfg.inhibit_rules = vec![InhibitRule {
        source_matchers: vec![Matcher::parse("alertname=NodeDown").unwrap()],
        target_matchers: vec![Matcher::parse("alertname=HighLatency").unwrap()],
        equal: vec!["node".into()],
    }];
    let mut p = pipeline(cfg);
    let node = |name: &str, start| {
        alert(
            &[
                ("alertname", name),
                ("node", "n3"),
                ("severity", "critical"),
            ],
            at(start),
            AlertStatus::Firing,
        )
    };
    let down = node("NodeDown", 0);
    p.ingest(vec![down.clone(), node("HighLatency", 0)], at(0));
    run_until(&mut p, at(60));
    let why = |p: &Pipeline, t| -> Vec<(String, bool)> {
        let mut v: Vec<(String, bool)> = p
            .firing_alerts(&[], at(t))
            .into_iter()
            .map(|a| {
                let inhibited = matches!(a.suppressed, Some(SuppressReason::Inhibited { .. }));
                (a.alertname, inhibited)
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        why(&p, 60),
        vec![("HighLatency".into(), true), ("NodeDown".into(), false)]
    );
    // The node comes back; the latency alert keeps firing and is let through.
    p.ingest(vec![resolved(&down, at(120))], at(120));
    p.ingest(vec![node("HighLatency", 0)], at(400));
    run_until(&mut p, at(900));
    assert_eq!(why(&p, 900), vec![("HighLatency".into(), false)]);
}

fn estate() -> Catalog {
    let svc = |name: &str, deps: &[&str]| Service {
        depends_on: deps.iter().map(|d| (*d).to_string()).collect(),
        ..Service::named(name)
    };
    Catalog::new(vec![
        svc("web", &["trading-gateway"]),
        svc("trading-gateway", &["order-router", "risk"]),
        svc("order-router", &["matching"]),
        svc("matching", &[]),
        svc("risk", &["db"]),
        svc("payments", &["db"]),
        svc("db", &[]),
        svc("reporting", &[]),
    ])
    .unwrap()
}

#[test]
fn correlation_joins_a_root_cause_and_its_downstream_symptoms_and_keeps_an_unrelated_service_apart()
{
    let mut p = Pipeline::new(PipelineConfig::default(), estate()).unwrap();
    let root = alert(
        &[
            ("alertname", "DBConnectionsExhausted"),
            ("service", "db"),
            ("severity", "critical"),
        ],
        at(0),
        AlertStatus::Firing,
    );
    let risk = alert(
        &[
            ("alertname", "HighErrorRate"),
            ("service", "risk"),
            ("severity", "critical"),
        ],
        at(60),
        AlertStatus::Firing,
    );
    let pay = alert(
        &[
            ("alertname", "HighLatency"),
            ("service", "payments"),
            ("severity", "warning"),
        ],
        at(90),
        AlertStatus::Firing,
    );
    let gw = alert(
        &[
            ("alertname", "HighLatency"),
            ("service", "trading-gateway"),
            ("severity", "warning"),
        ],
        at(150),
        AlertStatus::Firing,
    );
    let other = alert(
        &[
            ("alertname", "DiskFull"),
            ("service", "reporting"),
            ("severity", "critical"),
        ],
        at(100),
        AlertStatus::Firing,
    );
    let mut out = p.ingest(vec![root.clone()], at(5));
    out.extend(run_until(&mut p, at(60)));
    out.extend(p.ingest(vec![risk.clone(), pay.clone()], at(95)));
    out.extend(p.ingest(vec![other.clone()], at(105)));
    out.extend(p.ingest(vec![gw.clone()], at(155)));
    out.extend(run_until(&mut p, at(900)));
    let c = p.cluster_of(&root.key()).unwrap().to_string();
    for a in [&risk, &pay, &gw] {
        assert_eq!(
            p.cluster_of(&a.key()),
            Some(c.as_str()),
            "{} should join the db incident: {out:#?}",
            a.name()
        );
    }
    assert_ne!(p.cluster_of(&other.key()), Some(c.as_str()));
    let reasons: String = out
        .iter()
        .filter_map(|o| match o {
            Output::Declare { reason, .. } => Some(reason.to_string()),
            Output::Attach { reason, .. } => Some(reason.to_string()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join(" | ");
    assert!(reasons.contains("risk depends on db (1 hop)"), "{reasons}");
    let title = out.iter().find_map(|o| match o {
        Output::Declare { cluster, title, .. } if *cluster == c => Some(title.clone()),
        _ => None,
    });
    assert!(
        title
            .clone()
            .unwrap_or_default()
            .starts_with("DBConnectionsExhausted on db"),
        "{title:?}"
    );
}

/// A critical alert `name` on `service`, firing since `secs`.
fn firing(name: &str, service: &str, secs: i64) -> Alert {
    alert(
        &[
            ("alertname", name),
            ("service", service),
            ("severity", "critical"),
        ],
        at(secs),
        AlertStatus::Firing,
    )
}

/// The alerts named by each `Outlived` output in `out`, with its cause.
fn outlived(out: &[Output]) -> Vec<(String, Vec<String>)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Outlived { cause, alerts, .. } => Some((
                cause.alertname.clone(),
                alerts.iter().map(|a| a.alertname.clone()).collect(),
            )),
            _ => None,
        })
        .collect()
}

#[test]
fn members_still_firing_long_after_the_root_resolved_are_reported_once_as_maybe_separate() {
    let mut p = Pipeline::new(PipelineConfig::default(), estate()).unwrap();
    let root = firing("DBConnectionsExhausted", "db", 0);
    let risk = firing("HighErrorRate", "risk", 60);
    let pay = firing("HighLatency", "payments", 70);
    let mut out = p.ingest(vec![root.clone()], at(5));
    out.extend(p.ingest(vec![risk.clone(), pay.clone()], at(75)));
    out.extend(run_until(&mut p, at(600)));
    let c = p.cluster_of(&root.key()).unwrap().to_string();
    assert_eq!(p.cluster_of(&pay.key()), Some(c.as_str()), "{out:#?}");
    // The database recovers at 10m; payments clears 3 minutes later, risk does not.
    out = p.ingest(vec![resolved(&root, at(600))], at(600));
    out.extend(p.ingest(vec![resolved(&pay, at(780))], at(780)));
    out.extend(run_until(&mut p, at(600 + 15 * 60 - 1)));
    assert_eq!(outlived(&out), vec![], "not before 15 minutes");
    out = run_until(&mut p, at(600 + 15 * 60));
    assert_eq!(
        outlived(&out),
        vec![(
            "DBConnectionsExhausted".to_string(),
            vec!["HighErrorRate".to_string()]
        )]
    );
    assert!(
        outlived(&run_until(&mut p, at(3 * 3600))).is_empty(),
        "said once"
    );

    // Symptoms that clear within the 15 minutes, or a root that fires again, say nothing.
    let mut p = Pipeline::new(PipelineConfig::default(), estate()).unwrap();
    let mut out = p.ingest(vec![root.clone()], at(5));
    out.extend(p.ingest(vec![risk.clone(), pay.clone()], at(75)));
    out.extend(run_until(&mut p, at(600)));
    out.extend(p.ingest(vec![resolved(&root, at(600))], at(600)));
    out.extend(p.ingest(vec![resolved(&pay, at(700))], at(700)));
    out.extend(p.ingest(vec![firing("DBConnectionsExhausted", "db", 900)], at(900)));
    out.extend(run_until(&mut p, at(3 * 3600)));
    assert_eq!(outlived(&out), vec![], "{out:#?}");

    // A root that flapped: counted from the end of its last episode.
    let mut p = Pipeline::new(PipelineConfig::default(), estate()).unwrap();
    let again = firing("DBConnectionsExhausted", "db", 660);
    let mut out = p.ingest(vec![root.clone()], at(5));
    out.extend(p.ingest(vec![risk.clone()], at(75)));
    out.extend(run_until(&mut p, at(600)));
    out.extend(p.ingest(vec![resolved(&root, at(600))], at(600)));
    out.extend(p.ingest(vec![again.clone()], at(660)));
    out.extend(run_until(&mut p, at(1200)));
    out.extend(p.ingest(vec![resolved(&again, at(1200))], at(1200)));
    out.extend(run_until(&mut p, at(1200 + 15 * 60 - 1)));
    assert_eq!(outlived(&out), vec![], "{out:#?}");
    let out = run_until(&mut p, at(1200 + 15 * 60));
    assert_eq!(
        outlived(&out),
        vec![(
            "DBConnectionsExhausted".to_string(),
            vec!["HighErrorRate".to_string()]
        )],
        "{out:#?}"
    );
}

#[test]
fn incident_titles_are_worded_in_the_bots_language() {
    let title = |chinese: bool| {
        let mut cfg = PipelineConfig::default();
        cfg.chinese_titles = chinese;
        let mut p = Pipeline::new(cfg, estate()).unwrap();
        let mut out = p.ingest(vec![firing("DBConnectionsExhausted", "db", 0)], at(5));
        out.extend(p.ingest(vec![firing("HighErrorRate", "risk", 60)], at(65)));
        out.extend(run_until(&mut p, at(900)));
        out.iter()
            .find_map(|o| match o {
                Output::Declare { title, .. } => Some(title.clone()),
                _ => None,
            })
            .unwrap_or_default()
    };
    assert_eq!(title(false), "DBConnectionsExhausted on db (+1 services)");
    assert_eq!(title(true), "db：DBConnectionsExhausted（另 1 个服务）");
}

#[test]
fn a_cause_on_a_dependent_service_starts_its_own_incident() {
    let mut p = Pipeline::new(PipelineConfig::default(), estate()).unwrap();
    let root = alert(
        &[
            ("alertname", "DBDown"),
            ("service", "db"),
            ("severity", "critical"),
        ],
        at(0),
        AlertStatus::Firing,
    );
    let symptom = alert(
        &[
            ("alertname", "HighErrorRate"),
            ("service", "payments"),
            ("severity", "critical"),
        ],
        at(60),
        AlertStatus::Firing,
    );
    let crash = alert(
        &[
            ("alertname", "RiskEngineOOMKilled"),
            ("service", "risk"),
            ("severity", "critical"),
        ],
        at(90),
        AlertStatus::Firing,
    );
    p.ingest(vec![root.clone()], at(5));
    p.ingest(vec![symptom.clone(), crash.clone()], at(95));
    let out = run_until(&mut p, at(600));
    assert_eq!(
        p.cluster_of(&symptom.key()),
        p.cluster_of(&root.key()),
        "{out:#?}"
    );
    assert!(p.cluster_of(&crash.key()).is_some());
    assert_ne!(
        p.cluster_of(&crash.key()),
        p.cluster_of(&root.key()),
        "an OOM kill is a cause, not a symptom"
    );
}

#[test]
fn an_alert_that_keeps_firing_alone_becomes_chronic_noise() {
    let mut cfg = PipelineConfig::default();
    cfg.chronic = ChronicConfig {
        after: 2,
        window: Dur::hours(24),
        from: Severity::P3,
        ..ChronicConfig::default()
    };
    let mut p = pipeline(cfg);
    let labels = [
        ("alertname", "GCPauseLong"),
        ("service", "reporting"),
        ("severity", "warning"),
    ];
    let mut out = Vec::new();
    for i in 0..3 {
        let start = at(i * 3600);
        let a = alert(&labels, start, AlertStatus::Firing);
        out.extend(p.ingest(vec![a.clone()], start));
        out.extend(run_until(&mut p, start + Duration::seconds(120)));
        out.extend(p.ingest(
            vec![resolved(&a, start + Duration::seconds(180))],
            start + Duration::seconds(180),
        ));
        out.extend(run_until(&mut p, start + Duration::seconds(1200)));
    }
    let transient = suppressed(&out, &SuppressReason::Transient);
    let chronic = suppressed(&out, &SuppressReason::Chronic { episodes: 2 });
    assert_eq!((transient, chronic), (2, 1), "{out:#?}");
}

#[test]
fn the_reasons_of_a_storm_of_one_alert_on_many_instances_are_listed_once() {
    let mut p = pipeline(PipelineConfig::default());
    let on = |instance: &str, start: i64| {
        let labels = [
            ("alertname", "OrderTimeout"),
            ("service", "order-router"),
            ("severity", "warning"),
            ("instance", instance),
        ];
        alert(&labels, at(start), AlertStatus::Firing)
    };
    // One more instance every minute or so, while the cluster waits out its pause.
    let mut out = p.ingest(vec![on("or-1", 0)], at(0));
    for (i, secs) in [(2, 62), (3, 125), (4, 190), (5, 256)] {
        out.extend(p.ingest(vec![on(&format!("or-{i}"), secs)], at(secs)));
    }
    out.extend(run_until(&mut p, at(900)));
    let d = declares(&out);
    assert_eq!(d.len(), 1, "{out:#?}");
    let Output::Declare { reason, alerts, .. } = d[0] else {
        unreachable!()
    };
    assert_eq!(alerts.len(), 5, "{out:#?}");
    // Four joins, each a minute or so after the last, read the same: one reason.
    assert_eq!(
        reason.joins,
        vec![JoinReason::Related {
            gap_secs: 60,
            link: Link::SameAlert {
                service: "order-router".into()
            },
            similar_pct: Some(100),
        }],
        "{reason}"
    );
}

#[test]
fn a_blip_first_seen_already_resolved_is_reported_transient_and_counts_towards_chronic_noise() {
    let mut p = pipeline(PipelineConfig::default());
    let labels = [
        ("alertname", "DiskIOHigh"),
        ("service", "reporting"),
        ("severity", "warning"),
    ];
    // Twice the alert came and went between two sends: the first message says resolved.
    let mut out = Vec::new();
    for i in 0..2 {
        let start = at(i * 3600);
        let a = alert(&labels, start, AlertStatus::Firing);
        let seen = start + Duration::seconds(150);
        out.extend(p.ingest(vec![resolved(&a, start + Duration::seconds(90))], seen));
        out.extend(run_until(&mut p, seen + Duration::seconds(1200)));
    }
    let transient = suppressed(&out, &SuppressReason::Transient);
    assert_eq!(transient, 2, "{out:#?}");
    // The third time it fires, it is chronic noise: recorded, not declared.
    let start = at(2 * 3600);
    let a = alert(&labels, start, AlertStatus::Firing);
    let mut out = p.ingest(vec![a], start);
    out.extend(run_until(&mut p, start + Duration::seconds(1800)));
    assert!(declares(&out).is_empty(), "{out:#?}");
    assert!(
        out.iter().any(|o| matches!(
            o,
            Output::Suppressed {
                reason: SuppressReason::Chronic { episodes: 2 },
                ..
            }
        )),
        "{out:#?}"
    );
}

#[test]
fn a_critical_alert_that_pages_alone_and_clears_soon_is_held_after_the_second_time_not_muted() {
    let mut p = pipeline(PipelineConfig::default());
    let labels = [
        ("alertname", "RedisEvictions"),
        ("service", "cache"),
        ("severity", "critical"),
    ];
    // Twice: fires alone, declared after the P1 pause (2m), gone by itself at 5m.
    let mut first = Vec::new();
    for i in 0..2 {
        let start = at(i * 3600);
        let a = alert(&labels, start, AlertStatus::Firing);
        first.extend(p.ingest(vec![a.clone()], start));
        first.extend(run_until(&mut p, start + Duration::seconds(300)));
        first.extend(p.ingest(
            vec![resolved(&a, start + Duration::seconds(300))],
            start + Duration::seconds(300),
        ));
        first.extend(run_until(&mut p, start + Duration::seconds(3000)));
    }
    assert_eq!(declares(&first).len(), 2, "{first:#?}");
    // Third time: a 5-minute blip is not declared (held for 15m, then transient)…
    let blip = alert(&labels, at(7200), AlertStatus::Firing);
    let mut out = p.ingest(vec![blip.clone()], at(7200));
    out.extend(run_until(&mut p, at(7500)));
    out.extend(p.ingest(vec![resolved(&blip, at(7500))], at(7500)));
    out.extend(run_until(&mut p, at(9000)));
    assert!(declares(&out).is_empty(), "{out:#?}");
    assert!(out.iter().any(|o| matches!(
        o,
        Output::Suppressed {
            reason: SuppressReason::Transient,
            ..
        }
    )));
    // …but a fourth that stays is declared after the hold, never muted.
    let stuck = alert(&labels, at(10_800), AlertStatus::Firing);
    let mut out = p.ingest(vec![stuck.clone()], at(10_800));
    out.extend(run_until(&mut p, at(10_800 + 14 * 60)));
    assert!(
        declares(&out).is_empty(),
        "declared before the hold: {out:#?}"
    );
    out.extend(run_until(&mut p, at(10_800 + 16 * 60)));
    let d = declares(&out);
    assert_eq!(d.len(), 1, "{out:#?}");
    let Output::Declare { reason, .. } = d[0] else {
        unreachable!()
    };
    assert_eq!(
        reason.trigger,
        Some(Trigger::Firing {
            severity: Severity::P1,
            alertname: "RedisEvictions".into(),
            pause_secs: 900,
            held_times: Some(3),
            held_window_secs: 86_400,
        }),
        "{reason}"
    );
    assert!(
        reason
            .to_string()
            .contains("firing for 15m (held: alone and gone soon 3 times in 1d)"),
        "{reason}"
    );
}

#[test]
fn a_lone_warning_that_resolves_within_its_pause_is_transient() {
    let mut p = pipeline(PipelineConfig::default());
    let a = alert(
        &[
            ("alertname", "CPUHigh"),
            ("instance", "batch-7"),
            ("severity", "warning"),
        ],
        at(0),
        AlertStatus::Firing,
    );
    p.ingest(vec![a.clone()], at(0));
    let mut out = run_until(&mut p, at(120));
    out.extend(p.ingest(vec![resolved(&a, at(180))], at(180)));
    out.extend(run_until(&mut p, at(3600)));
    assert!(declares(&out).is_empty(), "{out:#?}");
    assert!(out.iter().any(|o| matches!(
        o,
        Output::Suppressed {
            reason: SuppressReason::Transient,
            ..
        }
    )));
    assert_eq!(p.cluster_of(&a.key()), None);
}

#[test]
fn the_state_survives_serialization_and_continues_identically() {
    let mut a = Pipeline::new(PipelineConfig::default(), estate()).unwrap();
    let root = alert(
        &[
            ("alertname", "DBDown"),
            ("service", "db"),
            ("severity", "critical"),
        ],
        at(0),
        AlertStatus::Firing,
    );
    a.ingest(vec![root.clone()], at(0));
    run_until(&mut a, at(20));
    let json = serde_json::to_string(&a).unwrap();
    let mut b: Pipeline = serde_json::from_str(&json).unwrap();
    b.set_catalog(estate());
    let next = alert(
        &[
            ("alertname", "Errors"),
            ("service", "risk"),
            ("severity", "critical"),
        ],
        at(40),
        AlertStatus::Firing,
    );
    let oa: Vec<Output> = a
        .ingest(vec![next.clone()], at(45))
        .into_iter()
        .chain(run_until(&mut a, at(900)))
        .collect();
    let ob: Vec<Output> = b
        .ingest(vec![next], at(45))
        .into_iter()
        .chain(run_until(&mut b, at(900)))
        .collect();
    assert_eq!(oa, ob);
    assert!(!declares(&oa).is_empty());
}

fn node_alert(start: DateTime<Utc>) -> Alert {
    alert(
        &[
            ("alertname", "NodeMemoryPressure"),
            ("instance", "k8s-node-02:9100"),
            ("node", "k8s-node-02"),
            ("job", "node"),
            ("severity", "critical"),
        ],
        start,
        AlertStatus::Firing,
    )
}

fn pod_alert(start: DateTime<Utc>) -> Alert {
    alert(
        &[
            ("alertname", "KubePodCrashLooping"),
            ("service", "payments"),
            ("pod", "payments-7f9c8d5b6-x2k4p"),
            ("node", "k8s-node-02"),
            ("severity", "critical"),
        ],
        start,
        AlertStatus::Firing,
    )
}

#[test]
fn a_pod_alert_after_its_nodes_alert_joins_the_node_incident() {
    let mut p = Pipeline::new(PipelineConfig::default(), estate()).unwrap();
    let (node, pod) = (node_alert(at(0)), pod_alert(at(60)));
    let mut out = p.ingest(vec![node.clone()], at(5));
    out.extend(p.ingest(vec![pod.clone()], at(65)));
    out.extend(run_until(&mut p, at(900)));
    assert!(p.cluster_of(&node.key()).is_some(), "{out:#?}");
    assert_eq!(p.cluster_of(&pod.key()), p.cluster_of(&node.key()));
}

#[test]
fn a_node_alert_starting_well_after_a_pods_alert_is_a_separate_incident() {
    let mut p = Pipeline::new(PipelineConfig::default(), estate()).unwrap();
    let (pod, node) = (pod_alert(at(0)), node_alert(at(180)));
    let mut out = p.ingest(vec![pod.clone()], at(5));
    out.extend(run_until(&mut p, at(120)));
    out.extend(p.ingest(vec![node.clone()], at(185)));
    out.extend(run_until(&mut p, at(900)));
    assert!(p.cluster_of(&pod.key()).is_some(), "{out:#?}");
    assert!(p.cluster_of(&node.key()).is_some(), "{out:#?}");
    assert_ne!(p.cluster_of(&node.key()), p.cluster_of(&pod.key()));
}

#[test]
fn a_cause_like_alert_on_the_pod_of_a_symptom_starts_its_own_incident() {
    let mut p = Pipeline::new(PipelineConfig::default(), estate()).unwrap();
    let root = alert(
        &[
            ("alertname", "DBDown"),
            ("service", "db"),
            ("severity", "critical"),
        ],
        at(0),
        AlertStatus::Firing,
    );
    let symptom = alert(
        &[
            ("alertname", "HighErrorRate"),
            ("service", "payments"),
            ("pod", "payments-7f9c8d5b6-x2k4p"),
            ("severity", "critical"),
        ],
        at(60),
        AlertStatus::Firing,
    );
    let crash = alert(
        &[
            ("alertname", "PaymentsOOMKilled"),
            ("service", "payments"),
            ("pod", "payments-7f9c8d5b6-x2k4p"),
            ("severity", "critical"),
        ],
        at(150),
        AlertStatus::Firing,
    );
    let mut out = p.ingest(vec![root.clone()], at(5));
    out.extend(p.ingest(vec![symptom.clone()], at(65)));
    out.extend(run_until(&mut p, at(140)));
    out.extend(p.ingest(vec![crash.clone()], at(155)));
    out.extend(run_until(&mut p, at(900)));
    assert_eq!(
        p.cluster_of(&symptom.key()),
        p.cluster_of(&root.key()),
        "{out:#?}"
    );
    assert!(p.cluster_of(&crash.key()).is_some(), "{out:#?}");
    assert_ne!(
        p.cluster_of(&crash.key()),
        p.cluster_of(&root.key()),
        "sharing a pod with a symptom does not make an OOM kill part of its incident"
    );
}

#[test]
fn an_upstream_alert_that_cleared_before_a_symptom_started_does_not_explain_it() {
    let mut p = Pipeline::new(PipelineConfig::default(), estate()).unwrap();
    let root = alert(
        &[
            ("alertname", "DBDown"),
            ("service", "db"),
            ("severity", "critical"),
        ],
        at(0),
        AlertStatus::Firing,
    );
    let early = alert(
        &[
            ("alertname", "HighLatency"),
            ("service", "payments"),
            ("severity", "warning"),
        ],
        at(30),
        AlertStatus::Firing,
    );
    let late = alert(
        &[
            ("alertname", "HighErrorRate"),
            ("service", "risk"),
            ("severity", "critical"),
        ],
        at(240),
        AlertStatus::Firing,
    );
    let mut out = p.ingest(vec![root.clone()], at(5));
    out.extend(p.ingest(vec![early.clone()], at(35)));
    out.extend(run_until(&mut p, at(120)));
    out.extend(p.ingest(vec![resolved(&root, at(150))], at(150)));
    out.extend(p.ingest(vec![late.clone()], at(245)));
    out.extend(run_until(&mut p, at(1200)));
    assert_eq!(
        p.cluster_of(&early.key()),
        p.cluster_of(&root.key()),
        "{out:#?}"
    );
    assert!(p.cluster_of(&root.key()).is_some(), "{out:#?}");
    assert_ne!(
        p.cluster_of(&late.key()),
        p.cluster_of(&root.key()),
        "{out:#?}"
    );
}

#[test]
fn a_symptom_that_started_before_its_upstream_alert_is_not_taken_for_its_effect() {
    let mut p = Pipeline::new(PipelineConfig::default(), estate()).unwrap();
    let root = alert(
        &[
            ("alertname", "DBDown"),
            ("service", "db"),
            ("severity", "critical"),
        ],
        at(300),
        AlertStatus::Firing,
    );
    let before = alert(
        &[
            ("alertname", "HighErrorRate"),
            ("service", "risk"),
            ("severity", "critical"),
        ],
        at(0),
        AlertStatus::Firing,
    );
    let mut out = p.ingest(vec![root.clone()], at(305));
    out.extend(run_until(&mut p, at(340)));
    // Delivered late: it started five minutes before the database went down.
    out.extend(p.ingest(vec![before.clone()], at(345)));
    out.extend(run_until(&mut p, at(1200)));
    assert!(p.cluster_of(&root.key()).is_some(), "{out:#?}");
    assert_ne!(
        p.cluster_of(&before.key()),
        p.cluster_of(&root.key()),
        "{out:#?}"
    );
}

fn silence(id: &str, matcher: &str) -> Silence {
    Silence {
        id: id.into(),
        matchers: vec![Matcher::parse(matcher).unwrap()],
        starts_at: at(-3600),
        ends_at: None,
        recurrence: None,
        created_by: "config".into(),
        comment: String::new(),
        updated_at: None,
    }
}

fn queue_alert(instance: &str, start: DateTime<Utc>) -> Alert {
    alert(
        &[
            ("alertname", "QueueBacklog"),
            ("service", "mq"),
            ("instance", instance),
        ],
        start,
        AlertStatus::Firing,
    )
}

#[test]
fn after_a_rules_reload_a_group_keeps_its_alerts_and_new_alerts_follow_the_new_group_by() {
    let run = |reload: bool| {
        let mut p = pipeline(one_signal_declares());
        let a1 = queue_alert("mq-1", at(0));
        p.ingest(vec![a1.clone()], at(0));
        let first = run_until(&mut p, at(30));
        assert_eq!(declares(&first).len(), 1, "{first:#?}");
        let cluster = p.cluster_of(&a1.key()).map(str::to_string);
        assert!(cluster.is_some());
        if reload {
            let mut rules = p.config().rules();
            rules.route.group_by = Some(vec!["alertname".into(), "instance".into()]);
            rules.route.group_wait = Some(Dur::secs(10));
            p.reload_rules(rules).unwrap();
            assert_eq!(p.config().route.group_wait, Some(Dur::secs(10)));
        }
        // A re-send of the same episode is still a duplicate, and the cluster stays.
        let mut out = p.ingest(vec![a1.clone()], at(60));
        let a2 = queue_alert("mq-2", at(60));
        out.extend(p.ingest(vec![a2.clone()], at(60)));
        out.extend(run_until(&mut p, at(70)));
        let a2_flushed_by_70 = p.cluster_of(&a2.key()).is_some();
        assert!(declares(&out).is_empty(), "{out:#?}");
        assert_eq!(p.cluster_of(&a1.key()).map(str::to_string), cluster);
        // The old group still holds a1: its resolution reaches the incident.
        let out = p.ingest(vec![resolved(&a1, at(80))], at(80));
        let mut later = out;
        later.extend(run_until(&mut p, at(400)));
        assert!(
            later.iter().any(|o| matches!(o, Output::Update { alert, status: AlertStatus::Resolved, .. } if alert.key == a1.key())),
            "{later:#?}"
        );
        a2_flushed_by_70
    };
    // Without a reload, a2 joins a1's group and waits for its group_interval (5m)…
    assert!(!run(false));
    // …after it, a2 is a group of its own under the new group_by, flushed after 10s.
    assert!(run(true));
}

#[test]
fn a_reloaded_inhibit_rule_mutes_targets_of_a_source_that_was_already_firing() {
    let mut p = pipeline(one_signal_declares());
    let down = alert(
        &[
            ("alertname", "NodeDown"),
            ("node", "n1"),
            ("severity", "critical"),
        ],
        at(0),
        AlertStatus::Firing,
    );
    p.ingest(vec![down], at(0));
    run_until(&mut p, at(30));
    let mut rules = p.config().rules();
    rules.inhibit_rules = vec![InhibitRule {
        source_matchers: vec![Matcher::parse("alertname=NodeDown").unwrap()],
        target_matchers: vec![Matcher::parse("alertname!=NodeDown").unwrap()],
        equal: vec!["node".into()],
    }];
    p.reload_rules(rules).unwrap();
    let pod = alert(
        &[("alertname", "PodCrashLooping"), ("node", "n1")],
        at(40),
        AlertStatus::Firing,
    );
    p.ingest(vec![pod.clone()], at(40));
    let out = run_until(&mut p, at(400));
    assert!(
        out.iter().any(|o| matches!(o, Output::Suppressed { alert, reason: SuppressReason::Inhibited { .. } } if alert.key == pod.key())),
        "{out:#?}"
    );
}

#[test]
fn a_rules_reload_replaces_configured_silences_and_keeps_those_from_chat() {
    let mut cfg = one_signal_declares();
    cfg.silences = vec![silence("cfg-old", "service=db")];
    let mut p = pipeline(cfg);
    p.add_silence(silence("chat-1", "service=web")).unwrap();
    let ids = |p: &Pipeline| p.silences().map(|s| s.id.clone()).collect::<Vec<_>>();
    let mut rules = p.config().rules();
    rules.silences = vec![silence("cfg-new", "service=mq")];
    p.reload_rules(rules.clone()).unwrap();
    assert_eq!(ids(&p), vec!["cfg-new", "chat-1"]);
    // The new silence is in force.
    p.ingest(vec![queue_alert("mq-1", at(0))], at(0));
    let out = run_until(&mut p, at(60));
    assert!(
        out.iter().any(|o| matches!(o, Output::Suppressed { reason: SuppressReason::Silenced { silence }, .. } if silence == "cfg-new")),
        "{out:#?}"
    );
    // A bad set of rules changes nothing.
    rules.silences.push(silence("cfg-new", "service=x"));
    rules.route.group_wait = Some(Dur::secs(1));
    assert_eq!(
        p.reload_rules(rules),
        Err(PipelineError::DuplicateSilence("cfg-new".into()))
    );
    assert_eq!(ids(&p), vec!["cfg-new", "chat-1"]);
    assert_ne!(p.config().route.group_wait, Some(Dur::secs(1)));
}

#[test]
fn a_configured_silence_changed_in_the_file_after_it_was_ended_is_in_force_and_not_listed_as_ended()
{
    let mut cfg = one_signal_declares();
    cfg.silences = vec![silence("cfg-1", "service=db")];
    let mut p = pipeline(cfg);
    assert_eq!(p.expire_silence("cfg-1", at(0)), SilenceEnd::Ended);
    p.tick(at(1));
    assert_eq!(p.ended_silences().count(), 1);
    let mut rules = p.config().rules();
    rules.silences = vec![silence("cfg-1", "service=mq")];
    p.reload_rules(rules).unwrap();
    assert_eq!(p.ended_silences().count(), 0);
    assert_eq!(
        p.silences().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        vec!["cfg-1"]
    );
}

fn with_text(mut a: Alert, key: &str, text: &str) -> Alert {
    a.annotations.insert(key.into(), text.into());
    a
}

#[test]
fn a_symptom_naming_its_upstream_cause_waits_for_that_cause_instead_of_joining_another_incident() {
    let mut p = Pipeline::new(PipelineConfig::default(), estate()).unwrap();
    // risk crashes; the gateway depends on risk and on order-router.
    let risk = alert(
        &[
            ("alertname", "RiskEngineOOMKilled"),
            ("service", "risk"),
            ("severity", "critical"),
        ],
        at(0),
        AlertStatus::Firing,
    );
    let gw = with_text(
        alert(
            &[
                ("alertname", "HighLatency"),
                ("service", "trading-gateway"),
                ("severity", "warning"),
            ],
            at(100),
            AlertStatus::Firing,
        ),
        "description",
        "HighLatency on tgw-02; upstream order-router is degraded",
    );
    // The order router's own alert started first but its sender reports it late.
    let router = alert(
        &[
            ("alertname", "OrderRouterCrashed"),
            ("service", "order-router"),
            ("severity", "critical"),
        ],
        at(60),
        AlertStatus::Firing,
    );
    let mut out = p.ingest(vec![risk.clone()], at(5));
    out.extend(run_until(&mut p, at(105)));
    out.extend(p.ingest(vec![gw.clone()], at(105)));
    out.extend(run_until(&mut p, at(240)));
    out.extend(p.ingest(vec![router.clone()], at(240)));
    out.extend(run_until(&mut p, at(900)));
    let r = p.cluster_of(&risk.key()).unwrap().to_string();
    assert_ne!(p.cluster_of(&gw.key()), Some(r.as_str()), "{out:#?}");
    assert_eq!(
        p.cluster_of(&router.key()),
        p.cluster_of(&gw.key()),
        "{out:#?}"
    );
    assert!(
        out.iter()
            .any(|o| matches!(o, Output::Declare { reason, .. }
            if reason.to_string().contains("trading-gateway names order-router"))),
        "{out:#?}"
    );
    // Without the text, the gateway's alert is explained by the incident already open.
    let mut p = Pipeline::new(PipelineConfig::default(), estate()).unwrap();
    let plain = Alert {
        annotations: Labels::new(),
        ..gw.clone()
    };
    p.ingest(vec![risk.clone()], at(5));
    run_until(&mut p, at(105));
    p.ingest(vec![plain.clone()], at(105));
    run_until(&mut p, at(240));
    assert_eq!(p.cluster_of(&plain.key()), p.cluster_of(&risk.key()));
}

#[test]
fn a_new_episode_of_an_alert_is_read_with_its_new_text() {
    let mut p = pipeline(PipelineConfig::default());
    let labels = [
        ("alertname", "DiskFull"),
        ("instance", "db-1"),
        ("severity", "critical"),
    ];
    let first = with_text(
        alert(&labels, at(0), AlertStatus::Firing),
        "summary",
        "disk 81% full",
    );
    p.ingest(vec![first.clone()], at(0));
    p.ingest(vec![resolved(&first, at(30))], at(30));
    let mut out = run_until(&mut p, at(600));
    assert!(declares(&out).is_empty(), "a blip: {out:#?}");
    let second = with_text(
        alert(&labels, at(600), AlertStatus::Firing),
        "summary",
        "磁盘已满 99%",
    );
    out.extend(p.ingest(vec![second.clone()], at(600)));
    out.extend(run_until(&mut p, at(900)));
    let titles: Vec<&str> = out
        .iter()
        .filter_map(|o| match o {
            Output::Declare { alerts, .. } => Some(alerts[0].title.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(titles, ["磁盘已满 99%"], "{out:#?}");
}

#[test]
fn an_info_alert_never_pages_alone_but_joins_an_incident() {
    let mut p = Pipeline::new(PipelineConfig::default(), estate()).unwrap();
    let cert = alert(
        &[
            ("alertname", "CertificateExpiringSoon"),
            ("service", "reporting"),
            ("severity", "info"),
        ],
        at(0),
        AlertStatus::Firing,
    );
    let db = alert(
        &[
            ("alertname", "DBDown"),
            ("service", "db"),
            ("severity", "critical"),
        ],
        at(3000),
        AlertStatus::Firing,
    );
    let slow = alert(
        &[
            ("alertname", "HighLatency"),
            ("service", "payments"),
            ("severity", "info"),
        ],
        at(3060),
        AlertStatus::Firing,
    );
    let mut out = p.ingest(vec![cert.clone()], at(0));
    out.extend(run_until(&mut p, at(3000)));
    assert!(declares(&out).is_empty(), "{out:#?}");
    out.extend(p.ingest(vec![db.clone()], at(3000)));
    out.extend(p.ingest(vec![slow.clone()], at(3065)));
    out.extend(run_until(&mut p, at(4 * 3600)));
    assert_eq!(declares(&out).len(), 1, "{out:#?}");
    assert_eq!(p.cluster_of(&slow.key()), p.cluster_of(&db.key()));
    // A configuration that pages on P4 too declares the lone one.
    let mut cfg = PipelineConfig::default();
    cfg.declare.alone_from = Severity::P4;
    let mut p = Pipeline::new(cfg, estate()).unwrap();
    p.ingest(vec![cert.clone()], at(0));
    assert_eq!(declares(&run_until(&mut p, at(3600))).len(), 1);
}

#[test]
fn once_the_named_cause_alerts_in_an_incident_a_later_alert_of_it_is_judged_on_its_own() {
    let mut p = Pipeline::new(PipelineConfig::default(), estate()).unwrap();
    let crash = |instance: &str, start: i64| {
        alert(
            &[
                ("alertname", "OrderRouterCrashed"),
                ("service", "order-router"),
                ("instance", instance),
                ("severity", "critical"),
            ],
            at(start),
            AlertStatus::Firing,
        )
    };
    let first = crash("router-1", 0);
    let gw = with_text(
        alert(
            &[
                ("alertname", "HighLatency"),
                ("service", "trading-gateway"),
                ("severity", "warning"),
            ],
            at(60),
            AlertStatus::Firing,
        ),
        "description",
        "upstream order-router is degraded",
    );
    // Five minutes later another router instance crashes: not the same failure spreading.
    let later = crash("router-2", 300);
    let mut out = p.ingest(vec![first.clone()], at(5));
    out.extend(run_until(&mut p, at(65)));
    out.extend(p.ingest(vec![gw.clone()], at(65)));
    out.extend(run_until(&mut p, at(305)));
    out.extend(p.ingest(vec![later.clone()], at(305)));
    out.extend(run_until(&mut p, at(900)));
    assert_eq!(
        p.cluster_of(&gw.key()),
        p.cluster_of(&first.key()),
        "{out:#?}"
    );
    assert!(p.cluster_of(&later.key()).is_some(), "{out:#?}");
    assert_ne!(
        p.cluster_of(&later.key()),
        p.cluster_of(&first.key()),
        "{out:#?}"
    );
}

#[test]
fn another_alert_on_the_same_service_joins_within_two_minutes_and_later_is_judged_on_its_own() {
    let mut p = Pipeline::new(PipelineConfig::default(), estate()).unwrap();
    let on_db = |name: &str, severity: &str, start: i64| {
        alert(
            &[
                ("alertname", name),
                ("service", "db"),
                ("severity", severity),
            ],
            at(start),
            AlertStatus::Firing,
        )
    };
    let down = on_db("DBDown", "critical", 0);
    let slow = on_db("HighLatency", "warning", 60);
    let lag = on_db("ReplicationLag", "warning", 250);
    let mut out = p.ingest(vec![down.clone()], at(5));
    out.extend(run_until(&mut p, at(65)));
    out.extend(p.ingest(vec![slow.clone()], at(65)));
    out.extend(run_until(&mut p, at(255)));
    out.extend(p.ingest(vec![lag.clone()], at(255)));
    out.extend(run_until(&mut p, at(1800)));
    assert_eq!(
        p.cluster_of(&slow.key()),
        p.cluster_of(&down.key()),
        "{out:#?}"
    );
    assert!(p.cluster_of(&lag.key()).is_some(), "{out:#?}");
    assert_ne!(
        p.cluster_of(&lag.key()),
        p.cluster_of(&down.key()),
        "{out:#?}"
    );
    // A wider window puts it back with the outage.
    let mut cfg = PipelineConfig::default();
    cfg.correlation.service_window = Dur::mins(5);
    let mut p = Pipeline::new(cfg, estate()).unwrap();
    p.ingest(vec![down.clone()], at(5));
    run_until(&mut p, at(65));
    p.ingest(vec![slow.clone()], at(65));
    run_until(&mut p, at(255));
    p.ingest(vec![lag.clone()], at(255));
    run_until(&mut p, at(1800));
    assert_eq!(p.cluster_of(&lag.key()), p.cluster_of(&down.key()));
}

#[test]
fn a_silence_made_after_an_alert_was_grouped_keeps_it_from_declaring_until_it_ends() {
    let mut p = Pipeline::new(PipelineConfig::default(), estate()).unwrap();
    let disk = alert(
        &[
            ("alertname", "DiskFull"),
            ("service", "db"),
            ("severity", "warning"),
        ],
        at(0),
        AlertStatus::Firing,
    );
    let mut out = p.ingest(vec![disk.clone()], at(1));
    out.extend(run_until(&mut p, at(45)));
    assert!(p.cluster_of(&disk.key()).is_some(), "grouped: {out:#?}");
    p.add_silence(Silence {
        starts_at: at(45),
        ends_at: Some(at(1800)),
        ..silence("disk-work", "alertname=DiskFull")
    })
    .unwrap();
    let mut out = Vec::new();
    for t in (60..1800).step_by(60) {
        out.extend(p.ingest(vec![disk.clone()], at(t)));
        out.extend(run_until(&mut p, at(t + 59)));
    }
    assert!(
        declares(&out).is_empty(),
        "declared while silenced: {out:#?}"
    );
    assert!(out.iter().any(|o| matches!(
        o,
        Output::Suppressed { reason: SuppressReason::Silenced { silence }, .. } if silence == "disk-work"
    )));
    assert!(p.cluster_of(&disk.key()).is_none());
    // Still firing after the silence ended: now it declares.
    let mut out = Vec::new();
    for t in (1800..4200).step_by(60) {
        out.extend(p.ingest(vec![disk.clone()], at(t)));
        out.extend(run_until(&mut p, at(t + 59)));
    }
    assert_eq!(declares(&out).len(), 1, "{out:#?}");
}

#[test]
fn a_minor_alert_joining_a_silenced_one_does_not_page_in_its_name() {
    let mut p = Pipeline::new(PipelineConfig::default(), estate()).unwrap();
    let on_db = |name: &str, severity: &str, secs: i64| {
        alert(
            &[
                ("alertname", name),
                ("service", "db"),
                ("severity", severity),
            ],
            at(secs),
            AlertStatus::Firing,
        )
    };
    let disk = on_db("DiskFull", "warning", 0);
    let mut out = p.ingest(vec![disk.clone()], at(1));
    out.extend(run_until(&mut p, at(45)));
    assert!(p.cluster_of(&disk.key()).is_some(), "grouped: {out:#?}");
    p.add_silence(Silence {
        starts_at: at(45),
        ends_at: Some(at(3600)),
        ..silence("disk-work", "alertname=DiskFull")
    })
    .unwrap();
    let note = on_db("SlowQueryLogRotated", "info", 50);
    let mut out = Vec::new();
    for t in (60..1800).step_by(60) {
        out.extend(p.ingest(vec![disk.clone(), note.clone()], at(t)));
        out.extend(run_until(&mut p, at(t + 59)));
    }
    assert!(
        declares(&out).is_empty(),
        "declared while its cause is silenced: {out:#?}"
    );
}
