//! `warroom::plan_import::from_csv` on any UTF-8 text: errors are fine, panics are not.
#![no_main]

use chrono::{NaiveDate, TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use warroom::plan_import::{from_csv, PlanMeta};

fuzz_target!(|text: &str| {
    let meta = PlanMeta {
        id: "CHG-FUZZ".into(),
        title: "fuzz".into(),
        coordinator: "@lead".into(),
        channel: Some("#chg".into()),
        date: NaiveDate::from_ymd_opt(2026, 3, 2),
        tz: warroom_core::Tz::Asia__Shanghai,
    };
    let now = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
    let _ = from_csv(text, meta, now);
});
