//! The running compliance clock: the pure [`ComplianceClock`] fed by the system and
//! monotonic clocks, with jumps logged and counted.

use holdfast_lock::{ComplianceClock, Instant};
use std::sync::Mutex;

pub struct Clock {
    inner: Mutex<ComplianceClock>,
    started: std::time::Instant,
}

impl Clock {
    /// `high_water` is the mark persisted by the metadata store.
    pub fn new(high_water: Instant) -> Self {
        let clock = Self { inner: Mutex::new(ComplianceClock::new(high_water)), started: std::time::Instant::now() };
        let now = clock.now();
        if now > Instant::now_system() {
            tracing::warn!(
                high_water = %high_water,
                "the system clock is behind the compliance clock's high-water mark; retention is judged by the mark"
            );
        }
        clock
    }

    /// "Now" for lock decisions; never earlier than any earlier reading.
    pub fn now(&self) -> Instant {
        let mono = i64::try_from(self.started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let reading = match self.inner.lock() {
            Ok(mut c) => c.read(Instant::now_system(), mono),
            Err(poisoned) => poisoned.into_inner().read(Instant::now_system(), mono),
        };
        if let Some(jump) = reading.jump_ms {
            tracing::warn!(jump_ms = jump, now = %reading.now, "system clock jumped; compliance clock does not move backwards");
            metrics::counter!("holdfast_clock_jumps_total").increment(1);
        }
        reading.now
    }
}
