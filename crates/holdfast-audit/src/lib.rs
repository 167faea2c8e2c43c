//! The audit trail: one JSON line per committed change or denied request,
//! in files under `<data-dir>/audit/`. Every line carries the SHA-256 of the line before it,
//! so an edit, a removal or a reordering breaks the chain at the first line it touches;
//! [`verify_dir`] finds it. A record is committed in the metadata store's outbox in the same
//! transaction as its change ([`scope`] says on whose behalf); [`AuditLog`] copies committed
//! records into the files in order and catches up after any failure.

mod anchor;
mod chain;
mod protected;
mod record;
mod replay;
pub mod scope;
mod writer;

pub use anchor::{
    ANCHOR_FORMAT, Anchor, AnchorCoverage, AnchorMismatch, MAIN_CHAIN, TrailHead, TrailText, anchor_key, chain_name,
    check_anchors, read_head,
};
pub use chain::{GENESIS, VerifyError, VerifyReport, seal_line, trail_files, verify_dir, verify_lines};
pub use protected::{TrailFiles, protected_now};
pub use record::{AuditRecord, LockSnapshot};
pub use replay::{TAMPER_ACCEPTED_OP, VersionRef, protects, shortfall, vouched_locks};
pub use scope::{Actor, ActorCell, ChangeFacts};
pub use writer::{AuditLog, AuditOptions, Outbox};

/// Name of the audit directory inside the data directory.
pub const AUDIT_DIR: &str = "audit";
