//! Retain-until dates (headers and XML, rules W2/R15): parsing never panics, and a date that
//! parses is written back in the one form Holdfast emits, which parses to the same instant.
#![no_main]

use holdfast_lock::UtcMillis;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(instant) = UtcMillis::parse(text) {
        let written = instant.to_iso8601();
        let again = UtcMillis::parse(&written).expect("Holdfast's own form parses");
        assert_eq!(again, instant, "{text:?} -> {written}");
    }
});
