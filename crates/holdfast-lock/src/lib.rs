//! Object Lock rules as pure code.
//!
//! Given a version's lock state, a request and the compliance clock's "now", these functions
//! answer allow or deny. They do no I/O: the metadata store calls them inside the same
//! transaction that performs the change (check-and-mutate), so no path can skip them.
//! Rule IDs (B, W, R, L, D, DP) refer to `docs/spec/object-lock.md`.

mod clock;
mod instant;
mod rules;
mod state;

pub use clock::{ClockReading, ComplianceClock, JUMP_WARN_MS};
pub use instant::{Instant, ParseInstantError};
pub use rules::{Bypass, LockDenied, check_delete, check_retention_change};
pub use state::{
    DefaultRetention, LegalHold, LockState, MAX_DEFAULT_DAYS, MAX_DEFAULT_YEARS, Mode, ParseModeError, Period,
    Retention,
};
