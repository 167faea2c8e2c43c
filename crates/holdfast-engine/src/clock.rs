//! The running compliance clock: the pure [`ComplianceClock`] fed by the system and
//! monotonic clocks, with jumps logged, counted and written to the audit trail.

use holdfast_audit::{AuditLog, AuditRecord};
use holdfast_lock::{ComplianceClock, UtcMillis};
use std::sync::{Arc, Mutex, OnceLock};

pub struct Clock {
    inner: Mutex<ComplianceClock>,
    started: std::time::Instant,
    /// Set at start when the system clock was behind the persisted high-water mark.
    behind_at_start: Option<(UtcMillis, UtcMillis)>,
    alarm: OnceLock<Arc<AuditLog>>,
}

impl Clock {
    /// `high_water` is the mark persisted by the metadata store.
    pub fn new(high_water: UtcMillis) -> Self {
        let mut clock = Self {
            inner: Mutex::new(ComplianceClock::new(high_water)),
            started: std::time::Instant::now(),
            behind_at_start: None,
            alarm: OnceLock::new(),
        };
        let now = clock.now();
        let system = UtcMillis::now_system();
        if now > system {
            tracing::warn!(
                high_water = %high_water,
                "the system clock is behind the compliance clock's high-water mark; retention is judged by the mark"
            );
            clock.behind_at_start = Some((system, high_water));
        }
        clock
    }

    /// Alarms (jumps, a system clock behind the mark at start) also go to the audit trail.
    pub fn set_alarm(&self, log: Arc<AuditLog>) {
        if let Some((system, high_water)) = self.behind_at_start {
            let mut r = AuditRecord::new("ClockBehindHighWater", high_water);
            r.principal = Some("holdfast:clock".into());
            r.detail = Some(serde_json::json!({
                "system": system.to_iso8601(),
                "high_water": high_water.to_iso8601(),
            }));
            log.append(r);
        }
        let _ = self.alarm.set(log);
    }

    /// "Now" for lock decisions; never earlier than any earlier reading.
    pub fn now(&self) -> UtcMillis {
        let mono = i64::try_from(self.started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let system = UtcMillis::now_system();
        let reading = match self.inner.lock() {
            Ok(mut c) => c.read(system, mono),
            Err(poisoned) => poisoned.into_inner().read(system, mono),
        };
        if let Some(jump) = reading.jump_ms {
            tracing::warn!(jump_ms = jump, now = %reading.now, "system clock jumped; compliance clock does not move backwards");
            metrics::counter!("holdfast_clock_jumps_total").increment(1);
            if let Some(log) = self.alarm.get() {
                let mut r = AuditRecord::new("ClockJump", reading.now);
                r.principal = Some("holdfast:clock".into());
                r.detail = Some(serde_json::json!({
                    "jump_ms": jump,
                    "system": system.to_iso8601(),
                    "compliance_now": reading.now.to_iso8601(),
                }));
                log.append(r);
            }
        }
        reading.now
    }
}
