//! `warroom_core::alerts::parse_prometheus` on any bytes: errors are fine, panics are not.
#![no_main]

use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let now = Utc.with_ymd_and_hms(2026, 3, 2, 1, 0, 0).unwrap();
    let _ = warroom_core::alerts::parse_prometheus(data, now);
});
