//! The audit trail's hash chain: every record carries the MAC of the one before it and its
//! own HMAC-SHA256 over (position, previous MAC, entry), keyed with a secret the auditors'
//! copy of the trail does not contain. An edited, deleted, inserted or reordered record
//! breaks the chain at that point, and `warroom audit verify` names it.
//!
//! Pure functions over records; the store (`store_sled.rs`) links records as it appends
//! them, the CLI and the API verify and export.

use sha2::{Digest, Sha256};
use warroom_core::audit::{AuditEntry, AuditRecord};

/// HMAC-SHA256 (RFC 2104).
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(data);
    let inner = inner.finalize();
    let mut outer = Sha256::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner);
    let mut out = [0u8; 32];
    out.copy_from_slice(&outer.finalize());
    out
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The MAC of the record at `seq` holding `entry`, after a record whose MAC is `prev`
/// (empty for the first record).
pub fn mac(key: &[u8], seq: u64, prev: &str, entry: &AuditEntry) -> String {
    let body = serde_json::to_string(entry).unwrap_or_default();
    hex(&hmac_sha256(
        key,
        format!("{seq}\n{prev}\n{body}").as_bytes(),
    ))
}

/// What a verification found.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Verdict {
    /// Records checked.
    pub records: usize,
    /// The first broken record and why; `None` when the whole chain holds.
    pub broken: Option<Broken>,
}

/// Where the chain breaks.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Broken {
    /// Position of the record (its `seq`), or of the record after a gap.
    pub seq: u64,
    /// What is wrong.
    pub reason: String,
}

/// Checks `records` (in stored order) against `key`.
pub fn verify(records: &[AuditRecord], key: &[u8]) -> Verdict {
    let mut prev = String::new();
    let mut last_seq = 0u64;
    for r in records {
        let broken = |reason: String| Verdict {
            records: records.len(),
            broken: Some(Broken { seq: r.seq, reason }),
        };
        if r.seq <= last_seq && last_seq != 0 {
            return broken(format!("out of order: follows record {last_seq}"));
        }
        if r.prev != prev {
            return broken(if prev.is_empty() {
                "the first record names a predecessor: records before it were deleted".into()
            } else {
                "does not follow the record before it: a record was deleted, inserted or moved"
                    .into()
            });
        }
        if r.mac.is_empty() {
            return broken("not signed".into());
        }
        if !crate::http::same(
            mac(key, r.seq, &r.prev, &r.entry).as_bytes(),
            r.mac.as_bytes(),
        ) {
            return broken(
                "its MAC does not match its content: the record was edited (or the key is wrong)"
                    .into(),
            );
        }
        prev = r.mac.clone();
        last_seq = r.seq;
    }
    Verdict {
        records: records.len(),
        broken: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn chain(key: &[u8], n: u64) -> Vec<AuditRecord> {
        let mut prev = String::new();
        (1..=n)
            .map(|seq| {
                let entry = AuditEntry {
                    at: chrono::Utc
                        .timestamp_opt(1_700_000_000 + seq as i64, 0)
                        .unwrap(),
                    actor: None,
                    action: "llm.tool_call".into(),
                    subject: "IMS-20261123-001".into(),
                    detail: serde_json::json!({"name": "change_query", "n": seq}),
                };
                let m = mac(key, seq * 10, &prev, &entry);
                let r = AuditRecord {
                    seq: seq * 10,
                    entry,
                    prev: prev.clone(),
                    mac: m.clone(),
                };
                prev = m;
                r
            })
            .collect()
    }

    #[test]
    fn an_untouched_chain_verifies() {
        let v = verify(&chain(b"k", 5), b"k");
        assert_eq!(
            v,
            Verdict {
                records: 5,
                broken: None
            }
        );
    }

    #[test]
    fn an_edit_a_deletion_a_reordering_and_a_wrong_key_are_each_named() {
        let good = chain(b"k", 5);
        let mut edited = good.clone();
        edited[2].entry.detail = serde_json::json!({"name": "page_oncall"});
        assert_eq!(verify(&edited, b"k").broken.map(|b| b.seq), Some(30));
        let mut deleted = good.clone();
        deleted.remove(1);
        let b = verify(&deleted, b"k").broken.expect("broken");
        assert_eq!(b.seq, 30, "{b:?}");
        assert!(b.reason.contains("deleted"), "{b:?}");
        let mut swapped = good.clone();
        swapped.swap(3, 4);
        assert_eq!(verify(&swapped, b"k").broken.map(|b| b.seq), Some(50));
        let head_cut = good[1..].to_vec();
        assert_eq!(verify(&head_cut, b"k").broken.map(|b| b.seq), Some(20));
        assert!(verify(&good, b"other").broken.is_some());
    }

    #[test]
    fn hmac_matches_the_rfc_4231_test_vector() {
        // Test case 2.
        assert_eq!(
            hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
