//! The process's allocator: jemalloc with its background purge thread instead of glibc malloc,
//! so that memory comes back after load (issue #17: idle RSS after a heavy run ≤ 50 MiB).
//!
//! With glibc the server kept 70–142 MiB after a run that started it at ~13 MiB: every thread
//! that ever allocated (tokio workers, up to hundreds of blocking-pool threads) gets an arena,
//! and glibc gives an arena's free pages back only from its top, and only when that arena is
//! used again. Tuning it (`M_ARENA_MAX`, `malloc_trim` when idle) needs FFI, which this workspace
//! forbids (`unsafe_code = "forbid"`). mimalloc was measured too and kept 412 MiB idle (it purges
//! only when the thread that owns a page allocates again). jemalloc's background thread returns
//! dirty pages to the OS on a timer (`dirty_decay_ms`, 10 s) whether or not anything runs. Its
//! symbols are prefixed (Rust's allocations only; SQLite's C allocations stay with glibc): with
//! the unprefixed ones the process deadlocked at start under libfaketime (its interposed clock
//! calls and jemalloc's initialisation wait on each other), which the docs tests use to run the
//! guides a year ahead. Measurements:
//! docs/performance.md, "Memory that comes back".

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// How often [`spawn_gauges`] reads the allocator's statistics.
pub const GAUGE_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Publishes jemalloc's statistics as gauges (`holdfast_allocator_*_bytes` on
/// `/_holdfast/metrics`): `allocated` (live Rust allocations), `active` (their pages),
/// `resident` (what the allocator holds in RAM, dirty pages not yet returned included),
/// `retained` (address space kept, not resident). SQLite's allocations are not in them.
pub fn spawn_gauges() {
    use tikv_jemalloc_ctl::{epoch, stats};
    tokio::spawn(async {
        let mut tick = tokio::time::interval(GAUGE_EVERY);
        loop {
            tick.tick().await;
            // The statistics are a snapshot taken when the epoch advances.
            if epoch::advance().is_err() {
                return;
            }
            let read = [
                ("holdfast_allocator_allocated_bytes", stats::allocated::read()),
                ("holdfast_allocator_active_bytes", stats::active::read()),
                ("holdfast_allocator_resident_bytes", stats::resident::read()),
                ("holdfast_allocator_retained_bytes", stats::retained::read()),
            ];
            for (name, value) in read {
                if let Ok(v) = value {
                    metrics::gauge!(name).set(v as f64);
                }
            }
        }
    });
}
