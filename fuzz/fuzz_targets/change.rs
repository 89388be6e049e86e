//! `warroom_core::changes::validate` on any JSON value: errors are fine, panics are not.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = warroom_core::changes::validate(&v);
    }
});
