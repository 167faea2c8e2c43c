//! Several gateways on one shared metadata store: each reports its compliance clock to the
//! store and compares it with the others', and sweeps orphan blobs only once they are older
//! than a grace period (another gateway may be writing a blob its record does not yet name).

use crate::Engine;
use holdfast_meta::GatewayClock;
use std::sync::Arc;
use std::time::Duration;

/// How far this gateway's clock is from the farthest other live gateway's (positive: this
/// one is ahead), or `None` when it is alone.
pub fn clock_skew_ms(readings: &[GatewayClock]) -> Option<i64> {
    let me = readings.iter().find(|r| r.this)?.offset_ms;
    readings.iter().filter(|r| !r.this).map(|r| me - r.offset_ms).max_by_key(|d| d.abs())
}

impl Engine {
    /// Records this gateway's clock in the shared store; warns (and sets
    /// `holdfast_clock_skew_ms`) when another live gateway's differs by more than `warn_ms`.
    pub async fn report_clock(&self, warn_ms: i64) -> crate::EngineResult<Option<i64>> {
        let readings = self.meta.report_clock(self.clock.now()).await?;
        let skew = clock_skew_ms(&readings);
        if let Some(me) = readings.iter().find(|r| r.this) {
            metrics::gauge!("holdfast_clock_db_offset_ms").set(me.offset_ms as f64);
        }
        if let Some(skew) = skew {
            metrics::gauge!("holdfast_clock_skew_ms").set(skew as f64);
            if skew.abs() > warn_ms {
                tracing::warn!(
                    skew_ms = skew,
                    gateways = readings.len(),
                    "this gateway's clock differs from another gateway's; retention is judged by each \
                     gateway's compliance clock and by the database clock in the WORM guard: fix the clocks (NTP)"
                );
            }
        }
        Ok(skew)
    }

    /// Reports the clock every `every` until the process ends.
    pub fn spawn_clock_report(self: &Arc<Self>, every: Duration, warn_ms: i64) -> tokio::task::JoinHandle<()> {
        let engine = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                if let Err(e) = engine.report_clock(warn_ms).await {
                    tracing::warn!(error = %e, "clock report to the shared store failed");
                }
            }
        })
    }

    /// Sweeps orphan blobs older than `grace_secs` every `every` (a shared blob directory has
    /// no moment when no gateway writes, so the start-up sweep alone would leave recent ones).
    pub fn spawn_orphan_sweep(self: &Arc<Self>, every: Duration, grace_secs: u64) -> tokio::task::JoinHandle<()> {
        let engine = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                if let Err(e) = engine.sweep_orphans(grace_secs).await {
                    tracing::warn!(error = %e, "orphan sweep failed");
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gw(name: &str, offset_ms: i64, this: bool) -> GatewayClock {
        GatewayClock { gateway: name.into(), offset_ms, this }
    }

    #[test]
    fn skew_is_the_largest_difference_from_another_gateway() {
        assert_eq!(clock_skew_ms(&[gw("a", 5, true)]), None);
        assert_eq!(clock_skew_ms(&[gw("a", 5, true), gw("b", 3, false), gw("c", 9, false)]), Some(-4));
        assert_eq!(clock_skew_ms(&[gw("a", 9_000, true), gw("b", 0, false), gw("c", 10, false)]), Some(9_000));
        assert_eq!(clock_skew_ms(&[gw("b", 0, false)]), None);
    }
}
