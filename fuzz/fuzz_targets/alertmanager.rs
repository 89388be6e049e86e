//! `warroom_core::alerts::parse_alertmanager` on any bytes: errors are fine, panics are
//! not, and the typed fast path gives exactly what the tree parser gives.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let fast = warroom_core::alerts::parse_alertmanager(data);
    let tree = serde_json::from_slice::<serde_json::Value>(data)
        .map_err(|e| warroom_core::alerts::AlertParseError::NotJson(e.to_string()))
        .and_then(|v| warroom_core::alerts::alertmanager_value(&v));
    assert_eq!(fast, tree);
});
