//! The delivery loop: claims due deliveries from the metadata queue, posts each to its
//! target, and settles it (delivered, or retried later with exponential backoff). Claims
//! are leased, so a delivery cut short by a crash is handed out again after the lease.

use crate::Targets;
use bytes::Bytes;
use holdfast_lock::UtcMillis;
use holdfast_meta::{MetaStore, QueuedEvent, Settlement};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct EventSettings {
    /// Region named in the records.
    pub region: String,
    /// First retry delay; doubles with every failed attempt...
    pub retry_min: Duration,
    /// ...up to this.
    pub retry_max: Duration,
    /// One delivery attempt.
    pub timeout: Duration,
    /// How often the queue is polled when it is empty.
    pub poll: Duration,
}

impl Default for EventSettings {
    fn default() -> Self {
        Self {
            region: "us-east-1".into(),
            retry_min: Duration::from_secs(1),
            retry_max: Duration::from_secs(300),
            timeout: Duration::from_secs(10),
            poll: Duration::from_millis(250),
        }
    }
}

/// Deliveries claimed per pass.
const BATCH: usize = 100;

pub struct Dispatcher {
    meta: Arc<dyn MetaStore>,
    targets: Targets,
    settings: EventSettings,
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Dispatcher {
    pub fn new(meta: Arc<dyn MetaStore>, targets: Targets, settings: EventSettings) -> Self {
        Self { meta, targets, settings }
    }

    fn backoff(&self, attempts: u32) -> Duration {
        let factor = 1u32.checked_shl(attempts.min(20)).unwrap_or(u32::MAX);
        self.settings.retry_min.saturating_mul(factor).min(self.settings.retry_max)
    }

    fn lease_ms(&self) -> i64 {
        millis(self.settings.timeout).saturating_mul(2).max(1000)
    }

    /// One target's deliveries, in queue order. After a failure the rest wait for the retry
    /// without being tried (the target is down; no point knocking once per event).
    async fn deliver_to(&self, arn: &str, events: Vec<QueuedEvent>) -> Vec<(i64, Settlement)> {
        let mut out = Vec::with_capacity(events.len());
        let Some(endpoint) = self.targets.endpoint(arn) else {
            tracing::warn!(target = arn, count = events.len(), "dropping events for a target no longer configured");
            metrics::counter!("holdfast_events_dropped_total").increment(events.len() as u64);
            return events.into_iter().map(|e| (e.id, Settlement::Delivered)).collect();
        };
        let mut down = false;
        for e in events {
            let retry = Settlement::RetryAt(UtcMillis::now_system().plus_millis(millis(self.backoff(e.attempts))));
            if down {
                out.push((e.id, retry));
                continue;
            }
            let body = Bytes::from(crate::render(&e, &self.settings.region).to_string());
            match endpoint.post(body, self.settings.timeout).await {
                Ok(()) => {
                    metrics::counter!("holdfast_events_delivered_total", "target" => arn.to_owned()).increment(1);
                    out.push((e.id, Settlement::Delivered));
                }
                Err(err) => {
                    tracing::debug!(target = arn, attempts = e.attempts, error = %err, "event delivery failed");
                    metrics::counter!("holdfast_events_failed_total", "target" => arn.to_owned()).increment(1);
                    down = true;
                    out.push((e.id, retry));
                }
            }
        }
        out
    }

    /// Claims and settles one batch; returns how many deliveries it handled.
    pub async fn pass(&self) -> holdfast_meta::MetaResult<usize> {
        let claimed = self.meta.claim_events(UtcMillis::now_system(), self.lease_ms(), BATCH).await?;
        let n = claimed.len();
        if n == 0 {
            return Ok(0);
        }
        let mut by_target: BTreeMap<String, Vec<QueuedEvent>> = BTreeMap::new();
        for e in claimed {
            by_target.entry(e.target.clone()).or_default().push(e);
        }
        let results = futures::future::join_all(
            by_target.into_iter().map(|(arn, evs)| async move { self.deliver_to(&arn, evs).await }),
        )
        .await;
        self.meta.settle_events(results.into_iter().flatten().collect()).await?;
        Ok(n)
    }

    /// Runs until the process ends.
    pub fn spawn(self: Arc<Self>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                match self.pass().await {
                    Ok(n) if n == BATCH => continue,
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "event queue pass failed"),
                }
                tokio::time::sleep(self.settings.poll).await;
            }
        })
    }
}
