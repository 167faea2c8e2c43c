//! The SigV4 `Authorization` header parser (IAM requests, the audit's access-key field): never
//! panics on any header value.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = holdfast_identity::sigv4::parse_authorization(text);
    let _ = holdfast_identity::sigv4::service_of(text);
});
