//! The sled store adapter.

use chrono::{NaiveDate, TimeZone, Utc};
use warroom::store_sled::SledStore;
use warroom_core::event::{Action, Destination, Message};
use warroom_core::incident::{
    ChannelRef, Entry, Incident, Person, Severity, Source, TimelineEntry,
};
use warroom_core::ports::{Commit, Store, StoreError};

fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 23).expect("date")
}

fn new_incident(store: &SledStore) -> Incident {
    let id = store.allocate_incident_id(day()).expect("id");
    let now = Utc
        .with_ymd_and_hms(2026, 11, 23, 6, 0, 0)
        .single()
        .expect("time");
    Incident::declare(
        id,
        "Quotes stale".into(),
        Severity::P2,
        vec!["market-data".into()],
        Person::named("alice"),
        now,
    )
}

#[test]
fn ids_continue_after_reopen_and_are_never_reused() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = SledStore::open(dir.path()).expect("open");
        assert_eq!(
            store.allocate_incident_id(day()).expect("id").to_string(),
            "IMS-20261123-001"
        );
        assert_eq!(
            store.allocate_incident_id(day()).expect("id").to_string(),
            "IMS-20261123-002"
        );
        let other = NaiveDate::from_ymd_opt(2026, 11, 24).expect("date");
        assert_eq!(
            store.allocate_incident_id(other).expect("id").to_string(),
            "IMS-20261124-001"
        );
    }
    let store = SledStore::open(dir.path()).expect("reopen");
    assert_eq!(
        store.allocate_incident_id(day()).expect("id").to_string(),
        "IMS-20261123-003"
    );
}

#[test]
fn an_outbox_record_this_build_cannot_read_is_set_aside_and_holds_up_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SledStore::open(dir.path()).expect("open");
    let send = Action::Send {
        to: Destination::Channel {
            channel: ChannelRef::new("console", "console"),
        },
        message: Message::Help,
    };
    let items = store
        .commit(Commit {
            outbox: vec![send.clone(), send.clone()],
            ..Commit::default()
        })
        .expect("commit");
    drop(store);
    {
        let db = sled::open(dir.path()).expect("sled");
        let outbox = db.open_tree("outbox").expect("tree");
        outbox
            .insert(
                items[0].seq.to_be_bytes(),
                &br#"{"v":1,"data":{"action":"from the future"}}"#[..],
            )
            .expect("insert");
        db.flush().expect("flush");
    }
    let store = SledStore::open(dir.path()).expect("reopen");
    let pending = store.outbox().expect("the rest is delivered");
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].seq, items[1].seq);
    drop(store);
    let db = sled::open(dir.path()).expect("sled");
    let aside = db.open_tree("outbox-unreadable").expect("tree");
    assert_eq!(aside.len(), 1, "kept for an operator, not lost");
}

#[test]
fn a_commit_stores_incident_timeline_binding_and_outbox_together() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SledStore::open(dir.path()).expect("open");
    let inc = new_incident(&store);
    let ch = ChannelRef::new("discord", "42");
    let entry = TimelineEntry {
        at: inc.declared_at,
        who: Person::named("alice"),
        source: Source::Command,
        entry: Entry::Note {
            text: "行情延迟".into(),
        },
    };
    let actions = vec![
        Action::OpenWarRoom {
            incident: inc.id.clone(),
        },
        Action::Send {
            to: Destination::WarRoom {
                incident: inc.id.clone(),
            },
            message: Message::Help,
        },
    ];
    let items = store
        .commit(Commit {
            incident: Some(inc.clone()),
            timeline: vec![(inc.id.clone(), entry.clone())],
            bind: Some((ch.clone(), inc.id.clone())),
            outbox: actions.clone(),
            ..Commit::default()
        })
        .expect("commit");
    assert_eq!(items.len(), 2);
    drop(store);

    let store = SledStore::open(dir.path()).expect("reopen");
    assert_eq!(store.incident(&inc.id).expect("read"), Some(inc.clone()));
    assert_eq!(store.timeline(&inc.id).expect("read"), vec![entry]);
    assert_eq!(
        store.channel_incident(&ch).expect("read"),
        Some(inc.id.clone())
    );
    assert_eq!(store.incident_channels(&inc.id).expect("read"), vec![ch]);
    let pending = store.outbox().expect("outbox");
    assert_eq!(
        pending.iter().map(|i| i.action.clone()).collect::<Vec<_>>(),
        actions
    );
    assert!(pending[0].seq < pending[1].seq, "outbox keeps order");
    store.ack(pending[0].seq).expect("ack");
    store.record_attempt(pending[1].seq).expect("attempt");
    let left = store.outbox().expect("outbox");
    assert_eq!((left.len(), left[0].attempts), (1, 1));
}

#[test]
fn a_stale_revision_is_a_conflict_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SledStore::open(dir.path()).expect("open");
    let inc = new_incident(&store);
    store
        .commit(Commit {
            incident: Some(inc.clone()),
            ..Commit::default()
        })
        .expect("first write");
    let mut changed = inc.clone();
    changed.revision = 1;
    changed.severity = Severity::P1;
    store
        .commit(Commit {
            incident: Some(changed.clone()),
            ..Commit::default()
        })
        .expect("second write");
    let mut stale = inc.clone();
    stale.revision = 1;
    stale.title = "lost update".into();
    let err = store
        .commit(Commit {
            incident: Some(stale),
            outbox: vec![Action::OpenWarRoom {
                incident: inc.id.clone(),
            }],
            ..Commit::default()
        })
        .expect_err("conflict");
    assert!(
        matches!(
            err,
            StoreError::Conflict {
                expected: 0,
                found: 1,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(store.incident(&inc.id).expect("read"), Some(changed));
    assert!(
        store.outbox().expect("outbox").is_empty(),
        "nothing of a failed commit is kept"
    );
}

#[test]
fn incidents_are_listed_newest_first_even_past_sequence_999() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SledStore::open(dir.path()).expect("open");
    let mut last = None;
    for _ in 0..1001 {
        let inc = new_incident(&store);
        last = Some(inc.id.clone());
        store
            .commit(Commit {
                incident: Some(inc),
                ..Commit::default()
            })
            .expect("write");
    }
    let all = store.incidents().expect("list");
    assert_eq!(all.len(), 1001);
    assert_eq!(Some(all[0].id.clone()), last);
    assert_eq!(all[0].id.to_string(), "IMS-20261123-1001");
}

#[test]
fn escalations_and_catalog_services_survive_a_reopen() {
    use warroom_core::catalog::Service;
    use warroom_core::oncall::Escalation;
    let dir = tempfile::tempdir().expect("tempdir");
    let now = Utc
        .with_ymd_and_hms(2026, 11, 23, 2, 0, 0)
        .single()
        .expect("time");
    let running = Escalation {
        key: "IMS-20261123-001/p".into(),
        policy: "p".into(),
        step: 1,
        round: 0,
        next_at: Some(now),
        acked: None,
        started_at: now,
    };
    let finished = Escalation {
        key: "IMS-20261123-002/p".into(),
        next_at: None,
        ..running.clone()
    };
    {
        let store = SledStore::open(dir.path()).expect("open");
        let commit = Commit {
            escalations: vec![running.clone(), finished],
            services: vec![Service::named("Cache")],
            ..Commit::default()
        };
        store.commit(commit).expect("commit");
    }
    let store = SledStore::open(dir.path()).expect("reopen");
    assert_eq!(
        store.escalations().expect("read"),
        vec![running],
        "only running escalations are loaded"
    );
    assert_eq!(
        store
            .services()
            .expect("read")
            .iter()
            .map(|s| s.name.clone())
            .collect::<Vec<_>>(),
        vec!["cache".to_string()]
    );
}

#[test]
fn a_large_alert_batch_is_logged_inline_in_records_and_read_back_whole_and_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let at = Utc
        .with_ymd_and_hms(2026, 11, 23, 1, 30, 0)
        .single()
        .expect("time");
    // 3,000 alerts with long annotations: about 1.5 MB as one batch.
    let alerts: Vec<serde_json::Value> = (0..3000)
        .map(|i| {
            serde_json::json!({
                "status": "firing",
                "labels": {"alertname": "OrderGatewayLatency", "service": "order-gw", "instance": format!("gw-{i:04}:9100"), "severity": "critical"},
                "annotations": {"summary": format!("订单网关延迟 p99 > 50ms on gw-{i:04}"), "description": "x".repeat(300)},
                "startsAt": "2026-11-23T01:29:00Z"
            })
        })
        .collect();
    let body = serde_json::json!({"version": "4", "status": "firing", "alerts": alerts});
    let alerts = warroom_core::alerts::normalize::parse_alertmanager(body.to_string().as_bytes())
        .expect("parse");
    let huge = warroom_core::alerts::normalize::parse_alertmanager(
        serde_json::json!({"version": "4", "alerts": [{"status": "firing",
            "labels": {"alertname": "Huge"}, "annotations": {"description": "y".repeat(200_000)},
            "startsAt": "2026-11-23T01:29:00Z"}]})
        .to_string()
        .as_bytes(),
    )
    .expect("parse");
    let blobs = || {
        std::fs::read_dir(dir.path().join("blobs"))
            .map(|d| d.count())
            .unwrap_or(0)
    };
    {
        let store = SledStore::open(dir.path()).expect("open");
        store
            .append_alerts(&[(at, alerts.clone())])
            .expect("append");
        assert_eq!(
            blobs(),
            0,
            "the batch is logged inline, not as a file of its own (create, sync, unlink)"
        );
        store.append_alerts(&[(at, huge.clone())]).expect("append");
    }
    let store = SledStore::open(dir.path()).expect("reopen");
    let read = store.alert_log(at).expect("read");
    assert!(
        read.len() > 2,
        "the batch is split into records: {}",
        read.len()
    );
    assert!(
        read.iter().all(|(t, _)| *t == at),
        "every record keeps the batch time"
    );
    let back: Vec<_> = read.into_iter().flat_map(|(_, a)| a).collect();
    let mut want = alerts;
    want.extend(huge);
    assert_eq!(back, want, "every alert, in order");
}
