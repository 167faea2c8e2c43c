//! The audit trail's outbox is the metadata store's `audit_outbox`: the
//! follower that writes the files reads and empties it through this adapter.

use crate::Engine;
use holdfast_audit::{AuditLog, AuditOptions, Outbox};
use holdfast_meta::MetaStore;
use std::io;
use std::path::Path;
use std::sync::Arc;

struct MetaOutbox(Arc<dyn MetaStore>);

fn io_error(e: holdfast_meta::MetaError) -> io::Error {
    io::Error::other(e.to_string())
}

#[async_trait::async_trait]
impl Outbox for MetaOutbox {
    async fn append(&self, records: Vec<String>) -> io::Result<Vec<i64>> {
        self.0.audit_append(records).await.map_err(io_error)
    }

    async fn pending(&self, limit: usize) -> io::Result<Vec<(i64, String)>> {
        self.0.audit_pending(limit).await.map_err(io_error)
    }

    async fn remove(&self, ids: Vec<i64>) -> io::Result<()> {
        self.0.audit_remove(ids).await.map_err(io_error)
    }
}

impl Engine {
    /// Opens the audit trail in `dir` (named `chain` in a shared store), fed from the
    /// metadata store's outbox, and sends lifecycle actions and clock alarms there.
    pub fn open_audit(&self, dir: &Path, chain: &str, opts: AuditOptions) -> io::Result<Arc<AuditLog>> {
        self.meta.set_audit_chain(chain);
        let log = Arc::new(AuditLog::open(dir, Arc::new(MetaOutbox(Arc::clone(&self.meta))), opts)?);
        self.set_audit(Arc::clone(&log));
        Ok(log)
    }
}
