//! The audit trail (issue #5): one JSON line per state-changing or denied request, in files
//! under `<data-dir>/audit/`. Every line carries the SHA-256 of the line before it, so an
//! edit, a removal or a reordering breaks the chain at the first line it touches;
//! [`verify_dir`] finds it. [`AuditLog`] appends from a writer thread that batches lines and
//! fsyncs them: callers that need the record durable before they answer (lock changes,
//! denials) wait for that fsync; the others do not wait.

mod anchor;
mod chain;
mod record;
mod writer;

pub use anchor::{
    ANCHOR_FORMAT, Anchor, AnchorCoverage, AnchorMismatch, MAIN_CHAIN, TrailHead, TrailText, anchor_key, chain_name,
    check_anchors, read_head,
};
pub use chain::{GENESIS, VerifyError, VerifyReport, seal_line, verify_dir, verify_lines};
pub use record::{AuditRecord, LockSnapshot};
pub use writer::{AuditLog, AuditOptions};

/// Name of the audit directory inside the data directory.
pub const AUDIT_DIR: &str = "audit";
