//! The audit outbox is a queue: every PUT inserts a row and the trail follower deletes it a
//! moment later. Until a vacuum, each deleted row keeps its entries in the outbox's indexes,
//! and the follower's `ORDER BY id LIMIT` scan walks all of them: after a few seconds of 2,000
//! PUTs/s, 20,000 dead entries and 1.4 ms per scan (issue #17; autovacuum visits a table at most
//! once a minute). So the gateway vacuums the outbox itself after every [`EVERY`] rows it
//! removed: a few milliseconds for a table of a few hundred live rows, which keeps the scan
//! short. `SKIP_LOCKED`: a vacuum already running (another gateway's, autovacuum) is enough.
//! `TRUNCATE false`: giving the empty tail pages back needs the table's exclusive lock, which the
//! PUTs' inserts hold off (a vacuum then waited ~90 ms for it, holding a pooled connection).
//! It changes no row; a failure is logged and the next one tries again.

use deadpool_postgres::Pool;
use std::sync::atomic::{AtomicU64, Ordering};

/// Rows removed between two vacuums.
const EVERY: u64 = 2048;

#[derive(Default)]
pub(super) struct OutboxVacuum {
    removed: AtomicU64,
}

impl OutboxVacuum {
    /// Counts `n` rows removed; vacuums the outbox when another [`EVERY`] were.
    pub(super) async fn removed(&self, pool: &Pool, n: usize) {
        let before = self.removed.fetch_add(n as u64, Ordering::Relaxed);
        if before / EVERY == (before + n as u64) / EVERY {
            return;
        }
        let done = match pool.get().await {
            Ok(client) => client
                .batch_execute("VACUUM (SKIP_LOCKED, TRUNCATE false) audit_outbox")
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = done {
            tracing::warn!(error = %e, "could not vacuum the audit outbox");
        }
    }
}
