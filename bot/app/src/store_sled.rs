//! `Store` on sled 0.34. The only file that knows the on-disk layout.
//!
//! Trees (every value is a JSON envelope `{"v": <format>, "data": …}`):
//! - `meta`: `format` → layout version (refuses to open a newer layout).
//! - `counters`: `incident:YYYYMMDD` → u32 BE, the last incident sequence of that day.
//! - `incidents`: incident key (date u32 BE ‖ seq u32 BE) → incident.
//! - `timeline`: incident key ‖ id u64 BE → entry (ids from `generate_id`, so in order).
//! - `channels`: `adapter\0channel` → incident id; `incident_channels`: incident key ‖ id u64 BE → channel.
//! - `outbox`: seq u64 BE → `{action, attempts}`.
//! - `escalations`: escalation key (`IMS-…/policy`) → escalation state.
//! - `services`: service name → catalog service stored through the API.
//! - `plans`: plan id → change plan or action items (with task states).
//! - `overrides`: id u64 BE → (schedule, on-call override) added at run time.
//! - `meta` `scheduler` → the task scheduler's state (digests sent, reminder mark).
//!
//! Durability: `commit` runs one multi-tree transaction and then `flush`es, so it
//! returns only once everything is on disk; callers acknowledge after that.

use std::path::Path;

use chrono::{Datelike, NaiveDate};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};
use sled::{Db, Transactional, Tree};
use warroom_core::catalog::Service;
use warroom_core::event::Action;
use warroom_core::incident::{ChannelRef, Incident, IncidentId, TimelineEntry};
use warroom_core::oncall::Escalation;
use warroom_core::ports::{Commit, OutboxItem, SnapshotMeta, Store, StoreError};

/// Version of the layout and of every record written by this build.
const FORMAT: u32 = 1;
/// Key prefix of proposals in the meta tree.
const PROPOSAL_PREFIX: &[u8] = b"proposal/";

/// sled-backed [`Store`].
pub struct SledStore {
    db: Db,
    counters: Tree,
    incidents: Tree,
    timeline: Tree,
    channels: Tree,
    incident_channels: Tree,
    outbox: Tree,
    escalations: Tree,
    services: Tree,
    plans: Tree,
    overrides: Tree,
    meta: Tree,
    changes: Tree,
    gate: Tree,
    audit: Tree,
    snapshots: Tree,
    snapshot_index: Tree,
    alert_log: Tree,
    alert_bindings: Tree,
    silences: Tree,
    /// The audit chain's key and head; held while audit records are linked and written.
    chain: std::sync::Mutex<Chain>,
}

/// The audit hash chain's state: the HMAC key and the MAC of the last record.
#[derive(Default)]
struct Chain {
    key: Vec<u8>,
    head: String,
}

/// An audit record as stored: the entry and its links.
#[derive(Serialize, Deserialize)]
struct StoredAudit {
    #[serde(flatten)]
    entry: warroom_core::audit::AuditEntry,
    #[serde(default)]
    prev: String,
    #[serde(default)]
    mac: String,
}

/// One logged batch of alerts.
#[derive(Serialize, Deserialize)]
struct AlertBatch {
    at: chrono::DateTime<chrono::Utc>,
    alerts: Vec<warroom_core::alerts::Alert>,
}

#[derive(Serialize, Deserialize)]
struct Envelope<T> {
    v: u32,
    data: T,
}

#[derive(Serialize, Deserialize)]
struct OutboxRecord {
    action: Action,
    attempts: u32,
}

fn io(e: impl std::fmt::Display) -> StoreError {
    StoreError::Io(e.to_string())
}

fn encode<T: Serialize>(data: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(&Envelope { v: FORMAT, data }).map_err(io)
}

/// Largest alert-log record. sled writes anything above a quarter of its 512 KiB segment
/// to a file of its own (create, write, sync, later unlink), and that includes a tree
/// leaf, which holds up to 16 records: a group commit of 64 requests of 10 alerts
/// (~400 KiB as one record) did that on every flush. 16 × 7 KiB stays under the limit.
const ALERT_RECORD_MAX: usize = 7 * 1024;

/// One intake batch as alert-log records of at most [`ALERT_RECORD_MAX`] bytes (an alert
/// larger than that alone is one record), in order, each an [`AlertBatch`] with the
/// batch's time, encoded in one pass.
fn alert_records(
    at: chrono::DateTime<chrono::Utc>,
    alerts: &[warroom_core::alerts::Alert],
) -> Result<Vec<Vec<u8>>, StoreError> {
    const TAIL: &[u8] = b"]}}";
    let mut head = format!("{{\"v\":{FORMAT},\"data\":{{\"at\":").into_bytes();
    serde_json::to_writer(&mut head, &at).map_err(io)?;
    head.extend_from_slice(b",\"alerts\":[");
    let mut out = Vec::new();
    let mut cur = head.clone();
    let mut n = 0usize;
    for a in alerts {
        let mark = cur.len();
        if n > 0 {
            cur.push(b',');
        }
        serde_json::to_writer(&mut cur, a).map_err(io)?;
        n += 1;
        if n > 1 && cur.len() + TAIL.len() > ALERT_RECORD_MAX {
            let item = cur.split_off(mark + 1);
            cur.truncate(mark);
            cur.extend_from_slice(TAIL);
            out.push(std::mem::replace(&mut cur, head.clone()));
            cur.extend_from_slice(&item);
            n = 1;
        }
    }
    cur.extend_from_slice(TAIL);
    out.push(cur);
    Ok(out)
}

fn decode<T: DeserializeOwned>(key: &[u8], bytes: &[u8]) -> Result<T, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt {
        key: String::from_utf8_lossy(key).into_owned(),
        reason,
    };
    let env: Envelope<T> = serde_json::from_slice(bytes).map_err(|e| corrupt(e.to_string()))?;
    if env.v > FORMAT {
        return Err(corrupt(format!(
            "record format {} is newer than this build ({FORMAT})",
            env.v
        )));
    }
    Ok(env.data)
}

/// Decodes one `(key, value)` of a tree scan.
fn decode_entry<T: DeserializeOwned>(
    kv: sled::Result<(sled::IVec, sled::IVec)>,
) -> Result<T, StoreError> {
    let (k, v) = kv.map_err(io)?;
    decode(&k, &v)
}

fn incident_key(id: &IncidentId) -> [u8; 8] {
    let d = id.date();
    let day = d.year() as u32 * 10_000 + d.month() * 100 + d.day();
    let mut k = [0u8; 8];
    k[..4].copy_from_slice(&day.to_be_bytes());
    k[4..].copy_from_slice(&id.seq().to_be_bytes());
    k
}

fn channel_key(c: &ChannelRef) -> Vec<u8> {
    let mut k = c.adapter.as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(c.id.as_bytes());
    k
}

fn cat(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut k = a.to_vec();
    k.extend_from_slice(b);
    k
}

fn u64_at(bytes: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    let n = bytes.len().min(8);
    a[..n].copy_from_slice(&bytes[..n]);
    u64::from_be_bytes(a)
}

impl SledStore {
    /// Opens (or creates) the store in `dir`.
    ///
    /// # Errors
    /// When sled cannot open the directory or the layout is newer than this build.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        // No background flusher: every commit (and every id allocation) flushes before it
        // returns, and without that thread nothing keeps the directory locked after the
        // store is dropped, so a reopen in the same process never races it.
        // sled's IO threads may still hold the directory's lock for a moment after a
        // store of this process was dropped (a large write finishing under load): wait
        // for it a little rather than fail. Another process holding it still fails.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let db = loop {
            match sled::Config::new().path(dir).flush_every_ms(None).open() {
                // sled words it "could not acquire lock on …" (kind Other).
                Err(sled::Error::Io(e))
                    if e.to_string().contains("could not acquire lock")
                        && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                other => break other.map_err(io)?,
            }
        };
        Self::from_db(db)
    }

    fn from_db(db: Db) -> Result<Self, StoreError> {
        let meta = db.open_tree("meta").map_err(io)?;
        match meta.get("format").map_err(io)? {
            Some(v) => {
                let found = u64_at(&v) as u32;
                if found > FORMAT {
                    return Err(StoreError::Corrupt {
                        key: "meta/format".into(),
                        reason: format!("layout {found} is newer than this build ({FORMAT})"),
                    });
                }
            }
            None => {
                meta.insert("format", &u64::from(FORMAT).to_be_bytes())
                    .map_err(io)?;
            }
        }
        let t = |n: &str| db.open_tree(n).map_err(io);
        Ok(Self {
            counters: t("counters")?,
            incidents: t("incidents")?,
            timeline: t("timeline")?,
            channels: t("channels")?,
            incident_channels: t("incident_channels")?,
            outbox: t("outbox")?,
            escalations: t("escalations")?,
            services: t("services")?,
            plans: t("plans")?,
            overrides: t("overrides")?,
            changes: t("changes")?,
            gate: t("gate")?,
            audit: t("audit")?,
            snapshots: t("snapshots")?,
            snapshot_index: t("snapshot_index")?,
            alert_log: t("alert_log")?,
            alert_bindings: t("alert_bindings")?,
            silences: t("silences")?,
            chain: std::sync::Mutex::new(Chain {
                key: Vec::new(),
                head: match db.open_tree("audit").map_err(io)?.last().map_err(io)? {
                    Some((k, v)) => decode::<StoredAudit>(&k, &v)?.mac,
                    None => String::new(),
                },
            }),
            meta,
            db,
        })
    }

    /// Sets the key audit records are signed with (`[audit]`, or the data dir's key file).
    pub fn set_audit_key(&self, key: Vec<u8>) {
        self.lock_chain().key = key;
    }

    fn lock_chain(&self) -> std::sync::MutexGuard<'_, Chain> {
        // Only whole assignments happen under the lock; a poisoned value is still sound.
        self.chain.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Links `entries` after `head`: (key, value, new head) per record.
    fn link(
        &self,
        chain: &Chain,
        entries: &[warroom_core::audit::AuditEntry],
    ) -> Result<(Vec<([u8; 8], Vec<u8>)>, String), StoreError> {
        let mut head = chain.head.clone();
        let mut out = Vec::with_capacity(entries.len());
        for entry in entries {
            let seq = self.db.generate_id().map_err(io)?;
            let mac = crate::audit_chain::mac(&chain.key, seq, &head, entry);
            let rec = StoredAudit {
                entry: entry.clone(),
                prev: std::mem::replace(&mut head, mac.clone()),
                mac,
            };
            out.push((seq.to_be_bytes(), encode(&rec)?));
        }
        Ok((out, head))
    }

    /// Appends audit entries outside an engine commit (the agent's model calls and tool
    /// calls), linked into the chain, and flushes.
    ///
    /// # Errors
    /// [`StoreError::Io`].
    pub fn append_audit(
        &self,
        entries: &[warroom_core::audit::AuditEntry],
    ) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut chain = self.lock_chain();
        let (records, head) = self.link(&chain, entries)?;
        let mut batch = sled::Batch::default();
        for (k, v) in &records {
            batch.insert(k, v.as_slice());
        }
        self.audit.apply_batch(batch).map_err(io)?;
        self.flush()?;
        chain.head = head;
        Ok(())
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.db.flush().map(|_| ()).map_err(io)
    }
}

type TxResult<T> = Result<T, ConflictableTransactionError<StoreError>>;

fn abort<T>(e: StoreError) -> TxResult<T> {
    Err(ConflictableTransactionError::Abort(e))
}

fn tx_put_incident(tree: &TransactionalTree, inc: &Incident) -> TxResult<()> {
    let key = incident_key(&inc.id);
    let found = match tree.get(key)? {
        Some(old) => match decode::<Incident>(&key, &old) {
            Ok(old) => Some(old.revision),
            Err(e) => return abort(e),
        },
        None => None,
    };
    let ok = match found {
        None => inc.revision == 0,
        Some(rev) => inc.revision == rev + 1,
    };
    if !ok {
        let found = found.unwrap_or(0);
        return abort(StoreError::Conflict {
            id: inc.id.clone(),
            expected: inc.revision.saturating_sub(1),
            found,
        });
    }
    match encode(inc) {
        Ok(bytes) => {
            tree.insert(&key, bytes)?;
            Ok(())
        }
        Err(e) => abort(e),
    }
}

impl SledStore {
    /// Alert batches received at or after `since`, oldest first, at most about
    /// `max_alerts` alerts (the newest), without pruning the log (for readers such as
    /// the agent's `alert_query` and the analysis card; the engine prunes at replay).
    /// Reads the log from its newest record back and stops at the first one older than
    /// `since`, so a long log or a storm costs a bounded read.
    ///
    /// # Errors
    /// [`StoreError::Io`] and undecodable records.
    pub fn alerts_since(
        &self,
        since: chrono::DateTime<chrono::Utc>,
        max_alerts: usize,
    ) -> Result<
        Vec<(
            chrono::DateTime<chrono::Utc>,
            Vec<warroom_core::alerts::Alert>,
        )>,
        StoreError,
    > {
        let mut out = Vec::new();
        let mut n = 0usize;
        for kv in self.alert_log.iter().rev() {
            let (k, v) = kv.map_err(io)?;
            let b: AlertBatch = decode(&k, &v)?;
            if b.at < since || n >= max_alerts {
                break;
            }
            n += b.alerts.len();
            out.push((b.at, b.alerts));
        }
        out.reverse();
        Ok(out)
    }
}

impl Store for SledStore {
    fn allocate_incident_id(&self, day: NaiveDate) -> Result<IncidentId, StoreError> {
        let key = format!("incident:{}", day.format("%Y%m%d"));
        let next = self
            .counters
            .update_and_fetch(key, |old| {
                let n = old.map(|b| u64_at(b) as u32).unwrap_or(0);
                Some(u64::from(n + 1).to_be_bytes().to_vec())
            })
            .map_err(io)?
            .map(|b| u64_at(&b) as u32)
            .ok_or_else(|| io("counter vanished"))?;
        self.flush()?;
        Ok(IncidentId::new(day, next))
    }

    fn incident(&self, id: &IncidentId) -> Result<Option<Incident>, StoreError> {
        let key = incident_key(id);
        self.incidents
            .get(key)
            .map_err(io)?
            .map(|v| decode(&key, &v))
            .transpose()
    }

    fn incidents(&self) -> Result<Vec<Incident>, StoreError> {
        self.incidents.iter().rev().map(decode_entry).collect()
    }

    fn timeline(&self, id: &IncidentId) -> Result<Vec<TimelineEntry>, StoreError> {
        self.timeline
            .scan_prefix(incident_key(id))
            .map(decode_entry)
            .collect()
    }

    fn channel_incident(&self, channel: &ChannelRef) -> Result<Option<IncidentId>, StoreError> {
        let key = channel_key(channel);
        self.channels
            .get(&key)
            .map_err(io)?
            .map(|v| decode(&key, &v))
            .transpose()
    }

    fn incident_channels(&self, id: &IncidentId) -> Result<Vec<ChannelRef>, StoreError> {
        self.incident_channels
            .scan_prefix(incident_key(id))
            .map(decode_entry)
            .collect()
    }

    fn commit(&self, commit: Commit) -> Result<Vec<OutboxItem>, StoreError> {
        // Ids are taken outside the transaction (sled's generator is monotonic and
        // crash-safe; a retried transaction must not take new ones).
        let timeline_ids = commit
            .timeline
            .iter()
            .map(|_| self.db.generate_id())
            .collect::<Result<Vec<_>, _>>()
            .map_err(io)?;
        let outbox_ids = commit
            .outbox
            .iter()
            .map(|_| self.db.generate_id())
            .collect::<Result<Vec<_>, _>>()
            .map_err(io)?;
        let bind_id = self.db.generate_id().map_err(io)?;
        let timeline: Vec<(Vec<u8>, Vec<u8>)> = commit
            .timeline
            .iter()
            .zip(&timeline_ids)
            .map(|((id, e), n)| Ok((cat(&incident_key(id), &n.to_be_bytes()), encode(e)?)))
            .collect::<Result<_, StoreError>>()?;
        let outbox: Vec<(u64, Vec<u8>)> = commit
            .outbox
            .iter()
            .zip(&outbox_ids)
            .map(|(a, n)| {
                Ok((
                    *n,
                    encode(&OutboxRecord {
                        action: a.clone(),
                        attempts: 0,
                    })?,
                ))
            })
            .collect::<Result<_, StoreError>>()?;
        let bind = match &commit.bind {
            Some((ch, id)) => Some((
                channel_key(ch),
                encode(id)?,
                cat(&incident_key(id), &bind_id.to_be_bytes()),
                encode(ch)?,
                id.clone(),
            )),
            None => None,
        };
        let escalations: Vec<(Vec<u8>, Vec<u8>)> = commit
            .escalations
            .iter()
            .map(|e| Ok((e.key.as_bytes().to_vec(), encode(e)?)))
            .collect::<Result<_, StoreError>>()?;
        let services: Vec<(Vec<u8>, Vec<u8>)> = commit
            .services
            .iter()
            .map(|s| Ok((s.name.trim().to_lowercase().into_bytes(), encode(s)?)))
            .collect::<Result<_, StoreError>>()?;
        let plans: Vec<(Vec<u8>, Vec<u8>)> = commit
            .plans
            .iter()
            .map(|p| Ok((p.id.as_bytes().to_vec(), encode(p)?)))
            .collect::<Result<_, StoreError>>()?;
        let scheduler = commit.scheduler.as_ref().map(encode).transpose()?;
        let overrides: Vec<([u8; 8], Vec<u8>)> = commit
            .overrides
            .iter()
            .map(|o| Ok((self.db.generate_id().map_err(io)?.to_be_bytes(), encode(o)?)))
            .collect::<Result<_, StoreError>>()?;
        let changes: Vec<(Vec<u8>, Vec<u8>)> = commit
            .changes
            .iter()
            .map(|c| Ok((c.id.as_bytes().to_vec(), encode(c)?)))
            .collect::<Result<_, StoreError>>()?;
        let gate: Vec<(Vec<u8>, Vec<u8>)> = commit
            .gate
            .iter()
            .map(|g| Ok((g.change.as_bytes().to_vec(), encode(g)?)))
            .collect::<Result<_, StoreError>>()?;
        // Audit records are linked into the chain; the chain lock is held until the
        // transaction is decided, so the head moves only with what was written.
        let mut chain = (!commit.audit.is_empty()).then(|| self.lock_chain());
        let (audit, audit_head) = match &chain {
            Some(c) => {
                let (records, head) = self.link(c, &commit.audit)?;
                (records, Some(head))
            }
            None => (Vec::new(), None),
        };
        let bindings: Vec<(Vec<u8>, Vec<u8>)> = commit
            .alert_bindings
            .iter()
            .map(|(c, id)| Ok((c.as_bytes().to_vec(), encode(id)?)))
            .collect::<Result<_, StoreError>>()?;
        // Proposals live in the meta tree under `proposal/<id>` (sled's transaction takes
        // at most 14 trees), so they commit with the answer that shows their buttons.
        let proposals: Vec<(Vec<u8>, Vec<u8>)> = commit
            .proposals
            .iter()
            .map(|p| Ok((cat(PROPOSAL_PREFIX, p.id.as_bytes()), encode(p)?)))
            .collect::<Result<_, StoreError>>()?;
        let silences: Vec<(Vec<u8>, Vec<u8>)> = commit
            .silences
            .iter()
            .map(|x| Ok((x.id.as_bytes().to_vec(), encode(x)?)))
            .collect::<Result<_, StoreError>>()?;
        let result = (
            &self.incidents,
            &self.timeline,
            &self.channels,
            &self.incident_channels,
            &self.outbox,
            &self.escalations,
            &self.services,
            &self.plans,
            &self.meta,
            &self.overrides,
            &self.changes,
            &self.gate,
            &self.audit,
            &self.alert_bindings,
        )
            .transaction(
                |(
                    incidents,
                    tl,
                    channels,
                    inc_channels,
                    ob,
                    esc,
                    svc,
                    pl,
                    meta,
                    ov,
                    ch,
                    gt,
                    au,
                    ab,
                )| {
                    for (k, v) in &bindings {
                        ab.insert(k.as_slice(), v.as_slice())?;
                    }
                    for (k, v) in &changes {
                        ch.insert(k.as_slice(), v.as_slice())?;
                    }
                    for (k, v) in &gate {
                        gt.insert(k.as_slice(), v.as_slice())?;
                    }
                    for (k, v) in &audit {
                        au.insert(k, v.as_slice())?;
                    }
                    for (k, v) in &overrides {
                        ov.insert(k, v.as_slice())?;
                    }
                    for (k, v) in &plans {
                        pl.insert(k.as_slice(), v.as_slice())?;
                    }
                    for id in &commit.delete_plans {
                        pl.remove(id.as_bytes())?;
                    }
                    if let Some(v) = &scheduler {
                        meta.insert("scheduler", v.as_slice())?;
                    }
                    for (k, v) in &proposals {
                        meta.insert(k.as_slice(), v.as_slice())?;
                    }
                    for (k, v) in &escalations {
                        esc.insert(k.as_slice(), v.as_slice())?;
                    }
                    for (k, v) in &services {
                        svc.insert(k.as_slice(), v.as_slice())?;
                    }
                    if let Some(inc) = &commit.incident {
                        tx_put_incident(incidents, inc)?;
                    }
                    for (k, v) in &timeline {
                        tl.insert(k.as_slice(), v.as_slice())?;
                    }
                    if let Some((ck, cv, ik, iv, id)) = &bind {
                        let already = match channels.get(ck.as_slice())? {
                            Some(v) => decode::<IncidentId>(ck, &v).ok().as_ref() == Some(id),
                            None => false,
                        };
                        if !already {
                            channels.insert(ck.as_slice(), cv.as_slice())?;
                            inc_channels.insert(ik.as_slice(), iv.as_slice())?;
                        }
                    }
                    for (n, v) in &outbox {
                        ob.insert(&n.to_be_bytes(), v.as_slice())?;
                    }
                    Ok(())
                },
            );
        match result {
            Ok(()) => {}
            Err(TransactionError::Abort(e)) => return Err(e),
            Err(TransactionError::Storage(e)) => return Err(io(e)),
        }
        if let (Some(c), Some(head)) = (chain.as_mut(), audit_head) {
            c.head = head;
        }
        drop(chain);
        // Silences are not part of the transaction (sled's tuple limit); they are
        // written before the flush, so they are as durable as the rest.
        for (k, v) in &silences {
            self.silences
                .insert(k.as_slice(), v.as_slice())
                .map_err(io)?;
        }
        self.flush()?;
        Ok(commit
            .outbox
            .into_iter()
            .zip(outbox_ids)
            .map(|(action, seq)| OutboxItem {
                seq,
                action,
                attempts: 0,
            })
            .collect())
    }

    fn outbox(&self) -> Result<Vec<OutboxItem>, StoreError> {
        let mut out = Vec::new();
        for kv in self.outbox.iter() {
            let (k, v) = kv.map_err(io)?;
            match decode::<OutboxRecord>(&k, &v) {
                Ok(rec) => out.push(OutboxItem {
                    seq: u64_at(&k),
                    action: rec.action,
                    attempts: rec.attempts,
                }),
                // One record this build cannot read must not hold up every later message:
                // it moves to `outbox-unreadable`, kept for an operator, and is logged once.
                Err(e) => {
                    tracing::error!(error = %e, "an outbox record cannot be read; set aside in outbox-unreadable");
                    let aside = self.db.open_tree("outbox-unreadable").map_err(io)?;
                    aside.insert(&k, v.clone()).map_err(io)?;
                    self.outbox.remove(&k).map_err(io)?;
                }
            }
        }
        Ok(out)
    }

    fn escalations(&self) -> Result<Vec<Escalation>, StoreError> {
        let mut out = Vec::new();
        for kv in self.escalations.iter() {
            let (k, v) = kv.map_err(io)?;
            let e: Escalation = decode(&k, &v)?;
            if e.next_at.is_some() {
                out.push(e);
            }
        }
        Ok(out)
    }

    fn services(&self) -> Result<Vec<Service>, StoreError> {
        self.services.iter().map(decode_entry).collect()
    }

    fn overrides(&self) -> Result<Vec<(String, warroom_core::oncall::Override)>, StoreError> {
        self.overrides.iter().map(decode_entry).collect()
    }

    fn plans(&self) -> Result<Vec<warroom_core::tasks::Plan>, StoreError> {
        self.plans.iter().map(decode_entry).collect()
    }

    fn scheduler_state(&self) -> Result<warroom_core::ports::SchedulerState, StoreError> {
        match self.meta.get("scheduler").map_err(io)? {
            Some(v) => decode(b"meta/scheduler", &v),
            None => Ok(Default::default()),
        }
    }

    fn ack(&self, seq: u64) -> Result<(), StoreError> {
        self.outbox.remove(seq.to_be_bytes()).map_err(io)?;
        self.flush()
    }

    fn changes(&self) -> Result<Vec<warroom_core::changes::ChangeEvent>, StoreError> {
        self.changes.iter().map(decode_entry).collect()
    }

    fn gate_records(&self) -> Result<Vec<warroom_core::changes::GateRecord>, StoreError> {
        self.gate.iter().map(decode_entry).collect()
    }

    fn audit(&self) -> Result<Vec<warroom_core::audit::AuditRecord>, StoreError> {
        self.audit
            .iter()
            .map(|kv| {
                let (k, v) = kv.map_err(io)?;
                let stored: StoredAudit = decode(&k, &v)?;
                Ok(warroom_core::audit::AuditRecord {
                    seq: u64_at(&k),
                    entry: stored.entry,
                    prev: stored.prev,
                    mac: stored.mac,
                })
            })
            .collect()
    }

    fn put_snapshot(&self, snap: &warroom_core::changes::Snapshot) -> Result<u64, StoreError> {
        let id = self.db.generate_id().map_err(io)?;
        let meta = SnapshotMeta {
            id,
            host: snap.host.clone(),
            service: snap.service.clone(),
            change_id: snap.change_id.clone(),
            phase: snap.phase,
            taken_at: snap.taken_at,
        };
        let (body, meta) = (encode(snap)?, encode(&meta)?);
        let key = id.to_be_bytes();
        let result = (&self.snapshots, &self.snapshot_index).transaction(|(s, i)| {
            s.insert(&key, body.as_slice())?;
            i.insert(&key, meta.as_slice())?;
            Ok(())
        });
        match result {
            Ok(()) => {}
            Err(TransactionError::Abort(e)) => return Err(e),
            Err(TransactionError::Storage(e)) => return Err(io(e)),
        }
        self.flush()?;
        Ok(id)
    }

    fn snapshot(&self, id: u64) -> Result<Option<warroom_core::changes::Snapshot>, StoreError> {
        let key = id.to_be_bytes();
        match self.snapshots.get(key).map_err(io)? {
            Some(v) => decode(&key, &v).map(Some),
            None => Ok(None),
        }
    }

    fn snapshot_index(&self) -> Result<Vec<SnapshotMeta>, StoreError> {
        self.snapshot_index.iter().map(decode_entry).collect()
    }

    fn append_alerts(
        &self,
        batches: &[(
            chrono::DateTime<chrono::Utc>,
            Vec<warroom_core::alerts::Alert>,
        )],
    ) -> Result<(), StoreError> {
        // Plain inserts, not a batch: each record is a whole set of alerts on its own,
        // and none is acknowledged before the flush below, so a crash half-way loses
        // only alerts that got no 202. A sled batch would add a manifest record that
        // is written and synced to disk separately: two syncs per flush instead of one.
        for (at, alerts) in batches {
            for rec in alert_records(*at, alerts)? {
                let id = self.db.generate_id().map_err(io)?;
                self.alert_log.insert(id.to_be_bytes(), rec).map_err(io)?;
            }
        }
        self.flush()
    }

    fn alert_log(
        &self,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<
        Vec<(
            chrono::DateTime<chrono::Utc>,
            Vec<warroom_core::alerts::Alert>,
        )>,
        StoreError,
    > {
        let mut out = Vec::new();
        let mut old = Vec::new();
        for kv in self.alert_log.iter() {
            let (k, v) = kv.map_err(io)?;
            let b: AlertBatch = decode(&k, &v)?;
            if b.at < since {
                old.push(k);
            } else {
                out.push((b.at, b.alerts));
            }
        }
        for k in old {
            self.alert_log.remove(k).map_err(io)?;
        }
        Ok(out)
    }

    fn alert_bindings(&self) -> Result<Vec<(String, IncidentId)>, StoreError> {
        self.alert_bindings
            .iter()
            .map(|kv| {
                let (k, v) = kv.map_err(io)?;
                Ok((String::from_utf8_lossy(&k).into_owned(), decode(&k, &v)?))
            })
            .collect()
    }

    fn silences(&self) -> Result<Vec<warroom_core::alerts::Silence>, StoreError> {
        self.silences.iter().map(decode_entry).collect()
    }

    fn proposals(&self) -> Result<Vec<warroom_core::assist::ProposalRecord>, StoreError> {
        self.meta
            .scan_prefix(PROPOSAL_PREFIX)
            .map(decode_entry)
            .collect()
    }

    fn record_attempt(&self, seq: u64) -> Result<(), StoreError> {
        let key = seq.to_be_bytes();
        if let Some(v) = self.outbox.get(key).map_err(io)? {
            let mut rec: OutboxRecord = decode(&key, &v)?;
            rec.attempts = rec.attempts.saturating_add(1);
            self.outbox.insert(key, encode(&rec)?).map_err(io)?;
        }
        Ok(())
    }
}
