//! Drains the histograms' recorded samples into their buckets on a timer.
//!
//! `metrics-exporter-prometheus` keeps every histogram sample (`holdfast_request_duration_seconds`
//! records one per request) in a lock-free list until something drains it: a scrape of
//! `/_holdfast/metrics`, or the exporter's upkeep. `install_recorder` leaves the upkeep to the
//! caller, so a server nobody scraped held ~20 bytes per request it ever served: 9 MiB after
//! 443,541 HEADs, tens of MiB after a benchmark run, without bound (issue #17, idle RSS).
//! Draining every second bounds it to a second of requests.

use metrics_exporter_prometheus::PrometheusHandle;
use std::time::Duration;

/// How often the samples are drained (the exporter's own upkeep task would use 5 s).
pub const UPKEEP_EVERY: Duration = Duration::from_secs(1);

/// Runs the exporter's upkeep every `every` for as long as the runtime lives.
pub fn spawn(handle: PrometheusHandle, every: Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tick.tick().await;
            handle.run_upkeep();
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use metrics_exporter_prometheus::PrometheusBuilder;
    use tikv_jemalloc_ctl::{epoch, stats};

    fn allocated() -> i64 {
        epoch::advance().unwrap();
        stats::allocated::read().unwrap() as i64
    }

    /// Samples recorded and never scraped are released by the upkeep alone. Without it the
    /// memory stays until a scrape (checked: with `spawn` removed the drop is ~0).
    #[tokio::test(flavor = "current_thread")]
    async fn recorded_samples_are_released_without_a_scrape() {
        const SAMPLES: usize = 1_000_000;
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let before = allocated();
        metrics::with_local_recorder(&recorder, || {
            let h = metrics::histogram!("upkeep_test_seconds");
            for i in 0..SAMPLES {
                h.record(i as f64);
            }
        });
        let held = allocated() - before;
        // At least the samples themselves (8 bytes each) are held until drained.
        assert!(held >= (SAMPLES * 8) as i64, "recording held only {held} bytes");

        spawn(handle, Duration::from_millis(10));
        let mut left = held;
        for _ in 0..200 {
            // A trickle of requests, as on a live server: the drained blocks are freed through
            // crossbeam's epochs, which advance as threads pin (every record pins).
            metrics::with_local_recorder(&recorder, || {
                let h = metrics::histogram!("upkeep_test_seconds");
                for _ in 0..256 {
                    h.record(1.0);
                }
            });
            tokio::time::sleep(Duration::from_millis(10)).await;
            left = allocated() - before;
            if left < held / 4 {
                break;
            }
        }
        assert!(left < held / 4, "upkeep released too little: {held} bytes held, {left} left");
    }
}
