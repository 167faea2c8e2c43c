//! The compliance clock (design.md §Time): "now" for every lock decision.
//!
//! It is the system clock, but it never moves backwards: not while running and not across
//! restarts (the caller persists [`ComplianceClock::high_water_mark`] and passes it back in
//! at start). A jump of the system clock relative to the monotonic clock is reported so the
//! caller can log and count it; moving the host clock forward is the classic way to expire
//! WORM data early, and Holdfast makes it visible.

use crate::UtcMillis;

/// A system clock that disagrees with the monotonic clock by more than this is "jumping".
pub const JUMP_WARN_MS: i64 = 5_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockReading {
    /// The instant to judge retention by; never earlier than any earlier reading.
    pub now: UtcMillis,
    /// System clock minus where the monotonic clock says it should be, when the difference
    /// exceeds [`JUMP_WARN_MS`] (positive: jumped forward).
    pub jump_ms: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct ComplianceClock {
    high_water: UtcMillis,
    last: Option<(UtcMillis, i64)>,
}

impl ComplianceClock {
    /// `persisted` is the high-water mark saved by an earlier run (or `UtcMillis(0)`).
    pub fn new(persisted: UtcMillis) -> Self {
        Self { high_water: persisted, last: None }
    }

    pub fn high_water_mark(&self) -> UtcMillis {
        self.high_water
    }

    /// Takes one reading. `system` is the wall clock, `monotonic_ms` any monotonic counter.
    pub fn read(&mut self, system: UtcMillis, monotonic_ms: i64) -> ClockReading {
        let jump_ms = self.last.and_then(|(last_sys, last_mono)| {
            let expected = last_sys.0.saturating_add(monotonic_ms - last_mono);
            let drift = system.0 - expected;
            (drift.abs() > JUMP_WARN_MS).then_some(drift)
        });
        self.last = Some((system, monotonic_ms));
        self.high_water = self.high_water.max(system);
        ClockReading { now: self.high_water, jump_ms }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_moves_backwards_across_restart() {
        let mut c = ComplianceClock::new(UtcMillis(10_000));
        let r = c.read(UtcMillis(4_000), 0);
        assert_eq!(r.now, UtcMillis(10_000), "a system clock behind the persisted mark is ignored");
        assert_eq!(c.read(UtcMillis(12_000), 8_000).now, UtcMillis(12_000));
    }

    #[test]
    fn reports_jumps_both_ways() {
        let mut c = ComplianceClock::new(UtcMillis(0));
        assert_eq!(c.read(UtcMillis(1_000_000), 0).jump_ms, None);
        assert_eq!(c.read(UtcMillis(1_001_000), 1_000).jump_ms, None);
        let fwd = c.read(UtcMillis(1_001_000 + 86_400_000), 2_000);
        assert_eq!(fwd.jump_ms, Some(86_400_000 - 1_000));
        let back = c.read(UtcMillis(1_000_000), 3_000);
        assert!(back.jump_ms.unwrap() < 0);
        assert_eq!(back.now, UtcMillis(1_001_000 + 86_400_000), "the reading never goes back");
    }
}
