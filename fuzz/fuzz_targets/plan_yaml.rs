//! `warroom::plan_import::from_yaml` on any UTF-8 text: errors are fine, panics are not.
#![no_main]

use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use warroom::plan_import::from_yaml;

fuzz_target!(|text: &str| {
    let now = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
    let _ = from_yaml(text, warroom_core::Tz::Asia__Shanghai, now);
});
