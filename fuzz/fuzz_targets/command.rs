//! `warroom_core::command::parse` on any UTF-8 text: every input gets a `Parsed`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let _ = warroom_core::command::parse(text);
});
