//! `warroom_core::alerts::parse_prometheus` on any bytes: errors are fine, panics are
//! not, and the typed fast path gives exactly what the tree parser gives.
#![no_main]

use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let now = Utc.with_ymd_and_hms(2026, 3, 2, 1, 0, 0).unwrap();
    let fast = warroom_core::alerts::parse_prometheus(data, now);
    let tree = serde_json::from_slice::<serde_json::Value>(data)
        .map_err(|e| warroom_core::alerts::AlertParseError::NotJson(e.to_string()))
        .and_then(|v| warroom_core::alerts::prometheus_value(&v, now));
    assert_eq!(fast, tree);
});
