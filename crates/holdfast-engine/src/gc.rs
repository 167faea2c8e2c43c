//! Blob garbage collection: removes the files of blobs that a committed metadata
//! transaction queued, and at start the orphans a crash left (files no record knows).

use crate::Engine;
use std::sync::Arc;
use std::time::Duration;

const BATCH: usize = 1000;

impl Engine {
    /// One collection pass; returns how many blobs were removed.
    pub async fn collect_garbage(&self) -> crate::EngineResult<usize> {
        let before = self.clock.now().plus_millis(-self.config.gc_grace_ms);
        let mut removed = 0;
        loop {
            let ids = self.meta.gc_candidates(before, BATCH).await?;
            if ids.is_empty() {
                return Ok(removed);
            }
            for id in &ids {
                self.blobs.delete(id).await?;
            }
            removed += ids.len();
            metrics::counter!("holdfast_gc_blobs_removed_total").increment(ids.len() as u64);
            self.meta.gc_done(ids).await?;
        }
    }

    /// Removes blob files that no version, part or queue entry refers to and that are
    /// older than `grace_secs` (a write in flight has a fresh file but no record yet).
    pub async fn sweep_orphans(&self, grace_secs: u64) -> crate::EngineResult<usize> {
        let files = self.blobs.list_older_than(grace_secs).await?;
        let mut removed = 0;
        for chunk in files.chunks(BATCH) {
            let unknown = self.meta.unknown_blobs(chunk.to_vec()).await?;
            for id in &unknown {
                self.blobs.delete(id).await?;
            }
            removed += unknown.len();
        }
        if removed > 0 {
            tracing::info!(removed, "removed orphan blobs");
        }
        Ok(removed)
    }

    /// Runs collection every `every` until the process ends.
    pub fn spawn_gc(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let engine = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                if let Err(e) = engine.collect_garbage().await {
                    tracing::warn!(error = %e, "blob collection pass failed");
                }
            }
        })
    }
}
