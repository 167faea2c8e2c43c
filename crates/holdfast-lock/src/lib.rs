//! Object Lock rules as pure code.
//!
//! Given a version's lock state (or a bucket's lock configuration), a request and the
//! compliance clock's "now", these functions answer allow or deny, naming the rule that
//! denied: the write rules (W2..W7, W9), the retention and delete rules (R8, D2..D6), and
//! the one parser of dates (`UtcMillis::parse`, under `parse_retain_until` for a client's).
//! They do no I/O: the metadata store calls them inside the same transaction that performs the change (check-and-mutate), so no path can skip them.
//! Rule IDs (B, W, R, L, D, DP) refer to `docs/spec/object-lock.md`.

mod clock;
mod explain;
mod rules;
mod settings;
mod state;
mod utc_millis;
mod write;

pub use clock::{ClockReading, ComplianceClock, JUMP_WARN_MS};
pub use explain::{
    BYPASS_NOT_GRANTED, BYPASS_ON_PLAIN_BUCKET, Explanation, LOCKED, Refusal, Removal, S3Refusal, explain_removal,
};
pub use rules::{Bypass, BypassDenial, LockDenied, bypass, check_delete, check_retention_change, replica_lock};
pub use settings::{
    BucketDenial, DefaultDenial, PeriodUnit, RetentionDenial, check_lock_configuration, check_versioning_change,
    default_retention, requested_retention,
};
pub use state::{
    DefaultRetention, LegalHold, LockState, MAX_DEFAULT_DAYS, MAX_DEFAULT_YEARS, Mode, ParseModeError, Period,
    Retention,
};
pub use utc_millis::{ParseUtcMillisError, UtcMillis};
pub use write::{
    BucketLock, LockHeaders, WriteDenial, check_write, lock_for_new_version, parse_retain_until, requested_lock,
    retain_until_header,
};
