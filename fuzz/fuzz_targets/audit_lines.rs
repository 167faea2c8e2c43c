//! The audit chain verifier on arbitrary trails: never panics, and reports a break for any
//! trail that is not exactly a chain it sealed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let file = Path::new("audit-000001.jsonl");
    let lines: Vec<(&Path, usize, &str)> =
        text.split_terminator('\n').enumerate().map(|(i, l)| (file, i + 1, l)).collect();
    if let Ok(report) = holdfast_audit::verify_lines(lines.iter().copied()) {
        assert_eq!(report.records as usize, lines.len());
    }
});
