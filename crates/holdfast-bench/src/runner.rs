//! The load loop: `concurrency` workers, each with its own connection, take operation
//! numbers from one counter until the count is reached or the time is up. Always bounded:
//! by count, by duration, and by a timeout on every request.

use crate::client::{Endpoint, S3};
use crate::sigv4::Signer;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Longest a single operation may take before it counts as an error.
pub const OP_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Writes the objects the measured operation needs.
    Fill,
    Measure,
}

#[derive(Debug, Default)]
pub struct Tally {
    pub ok: u64,
    pub errors: u64,
    pub bytes: u64,
    /// Latency of every operation, successful or not, in microseconds.
    pub latencies_us: Vec<u32>,
    pub first_error: Option<String>,
    pub elapsed: Duration,
}

/// What a load runs: operation number `n` of a preparation or of a measurement, returning
/// the payload bytes it moved. The single-operation [`crate::workload::Workload`] and each
/// phase of the backup workload ([`crate::backup`]) are jobs.
pub trait Job: Send + Sync + 'static {
    fn fill_one(&self, s3: &mut S3, n: u64) -> impl Future<Output = anyhow::Result<u64>> + Send;
    fn one(&self, s3: &mut S3, n: u64) -> impl Future<Output = anyhow::Result<u64>> + Send;
}

pub struct Load {
    pub endpoint: Arc<Endpoint>,
    pub signer: Option<Arc<Signer>>,
    pub concurrency: usize,
    pub count: u64,
    pub duration: Duration,
}

impl Load {
    pub async fn run<W: Job>(&self, work: Arc<W>, phase: Phase) -> Tally {
        let next = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let deadline = started + self.duration;
        let mut tasks = Vec::with_capacity(self.concurrency);
        for _ in 0..self.concurrency.max(1) {
            let (work, next) = (Arc::clone(&work), Arc::clone(&next));
            let mut s3 = S3::new(Arc::clone(&self.endpoint), self.signer.clone());
            let count = self.count;
            tasks.push(tokio::spawn(async move {
                let mut t = Tally::default();
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= count || Instant::now() >= deadline {
                        break;
                    }
                    let t0 = Instant::now();
                    let result = match phase {
                        Phase::Fill => tokio::time::timeout(OP_TIMEOUT, work.fill_one(&mut s3, n)).await,
                        Phase::Measure => tokio::time::timeout(OP_TIMEOUT, work.one(&mut s3, n)).await,
                    };
                    t.latencies_us.push(u32::try_from(t0.elapsed().as_micros()).unwrap_or(u32::MAX));
                    match result {
                        Ok(Ok(bytes)) => {
                            t.ok += 1;
                            t.bytes += bytes;
                        }
                        Ok(Err(e)) => {
                            t.errors += 1;
                            t.first_error.get_or_insert_with(|| format!("{e:#}"));
                        }
                        Err(_) => {
                            t.errors += 1;
                            t.first_error.get_or_insert_with(|| format!("timed out after {OP_TIMEOUT:?}"));
                        }
                    }
                }
                t
            }));
        }
        let mut total = Tally::default();
        for task in tasks {
            match task.await {
                Ok(t) => {
                    total.ok += t.ok;
                    total.errors += t.errors;
                    total.bytes += t.bytes;
                    total.latencies_us.extend(t.latencies_us);
                    if total.first_error.is_none() {
                        total.first_error = t.first_error;
                    }
                }
                Err(e) => {
                    total.errors += 1;
                    total.first_error.get_or_insert_with(|| format!("worker failed: {e}"));
                }
            }
        }
        total.elapsed = started.elapsed();
        total
    }
}
