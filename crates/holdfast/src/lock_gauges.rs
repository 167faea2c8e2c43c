//! The lock report as Prometheus gauges. Computing the report reads every
//! protected version (~90 ms of CPU at 60,000 locked versions), so a scrape never computes
//! it: a background task refreshes a snapshot at a fixed interval and scrapes render the
//! latest snapshot. Totals over all buckets are always rendered; the per-bucket series
//! (which name buckets) only for an audience allowed to see them.

use holdfast_meta::{LockReport, Tally};
use std::fmt::Write as _;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// One computed lock report.
struct Snapshot {
    reports: Vec<LockReport>,
    /// Over every bucket: governance, compliance, legal hold.
    totals: [Tally; 3],
    at: Instant,
    took: Duration,
}

const KINDS: [&str; 3] = ["governance", "compliance", "legal_hold"];

impl Snapshot {
    fn new(reports: Vec<LockReport>, at: Instant, took: Duration) -> Self {
        let mut totals = [Tally::default(), Tally::default(), Tally::default()];
        for r in &reports {
            for (t, add) in totals.iter_mut().zip([r.governance, r.compliance, r.legal_hold]) {
                t.versions += add.versions;
                t.bytes += add.bytes;
            }
        }
        Self { reports, totals, at, took }
    }
}

/// The latest lock report, refreshed in the background.
#[derive(Default)]
pub struct LockGauges {
    latest: RwLock<Option<Arc<Snapshot>>>,
}

/// `s` as a Prometheus label value.
fn label(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn family(out: &mut String, name: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
}

impl LockGauges {
    /// Starts refreshing from `engine` every `every` (the first report at once).
    pub fn spawn(engine: Arc<holdfast_engine::Engine>, every: Duration) -> Arc<Self> {
        let gauges = Arc::new(Self::default());
        let me = Arc::clone(&gauges);
        tokio::spawn(async move {
            loop {
                let started = Instant::now();
                match engine.lock_report(None).await {
                    Ok(reports) => me.store(Snapshot::new(reports, started, started.elapsed())),
                    // The last snapshot stays, its age growing (holdfast_lock_report_age_seconds).
                    Err(e) => tracing::warn!(error = %e, "lock report for the metrics failed"),
                }
                tokio::time::sleep(every).await;
            }
        });
        gauges
    }

    fn store(&self, snapshot: Snapshot) {
        *self.latest.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Arc::new(snapshot));
    }

    fn latest(&self) -> Option<Arc<Snapshot>> {
        self.latest.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Appends the gauges of the latest snapshot (nothing before the first one); the series
    /// that name a bucket only with `per_bucket` (the scrape's audience may see them).
    pub fn render(&self, per_bucket: bool, out: &mut String) {
        let Some(s) = self.latest() else { return };
        family(out, "holdfast_lock_report_age_seconds", "Seconds since the lock figures were computed.");
        let _ = writeln!(out, "holdfast_lock_report_age_seconds {}", s.at.elapsed().as_secs_f64());
        family(out, "holdfast_lock_report_duration_seconds", "How long computing the lock figures took.");
        let _ = writeln!(out, "holdfast_lock_report_duration_seconds {}", s.took.as_secs_f64());
        family(
            out,
            "holdfast_lock_total_versions",
            "Protected versions in all buckets by kind (a version on legal hold may also be retained).",
        );
        for (kind, t) in KINDS.iter().zip(&s.totals) {
            let _ = writeln!(out, "holdfast_lock_total_versions{{kind=\"{kind}\"}} {}", t.versions);
        }
        family(out, "holdfast_lock_total_bytes", "Bytes of the protected versions in all buckets by kind.");
        for (kind, t) in KINDS.iter().zip(&s.totals) {
            let _ = writeln!(out, "holdfast_lock_total_bytes{{kind=\"{kind}\"}} {}", t.bytes);
        }
        if per_bucket {
            render_per_bucket(&s.reports, out);
        }
    }
}

/// The per-bucket series (names kept stable for dashboards).
fn render_per_bucket(reports: &[LockReport], out: &mut String) {
    let kinds = |r: &LockReport| KINDS.into_iter().zip([r.governance, r.compliance, r.legal_hold]);
    family(out, "holdfast_lock_versions", "Protected versions per bucket and kind.");
    for r in reports {
        for (kind, t) in kinds(r) {
            let _ = writeln!(
                out,
                "holdfast_lock_versions{{bucket=\"{}\",kind=\"{kind}\"}} {}",
                label(&r.bucket),
                t.versions
            );
        }
    }
    family(out, "holdfast_lock_bytes", "Bytes of the protected versions per bucket and kind.");
    for r in reports {
        for (kind, t) in kinds(r) {
            let _ = writeln!(out, "holdfast_lock_bytes{{bucket=\"{}\",kind=\"{kind}\"}} {}", label(&r.bucket), t.bytes);
        }
    }
    family(out, "holdfast_lock_latest_retain_until_seconds", "Latest active retain-until date per bucket (0: none).");
    for r in reports {
        let latest = r.latest_retain_until.map_or(0.0, |i| i.millis() as f64 / 1000.0);
        let _ = writeln!(out, "holdfast_lock_latest_retain_until_seconds{{bucket=\"{}\"}} {latest}", label(&r.bucket));
    }
    family(out, "holdfast_lock_expiring_versions", "Versions whose retention ends in the month, per bucket.");
    for r in reports {
        for m in &r.expiries_by_month {
            let (b, mo) = (label(&r.bucket), label(&m.month));
            let _ = writeln!(out, "holdfast_lock_expiring_versions{{bucket=\"{b}\",month=\"{mo}\"}} {}", m.versions);
        }
    }
    family(out, "holdfast_lock_expiring_bytes", "Bytes whose retention ends in the month, per bucket.");
    for r in reports {
        for m in &r.expiries_by_month {
            let (b, mo) = (label(&r.bucket), label(&m.month));
            let _ = writeln!(out, "holdfast_lock_expiring_bytes{{bucket=\"{b}\",month=\"{mo}\"}} {}", m.bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use holdfast_meta::MonthTally;

    fn report(bucket: &str, gov: u64) -> LockReport {
        LockReport {
            bucket: bucket.into(),
            governance: Tally { versions: gov, bytes: gov * 10 },
            compliance: Tally { versions: 1, bytes: 5 },
            legal_hold: Tally::default(),
            latest_retain_until: Some(holdfast_lock::UtcMillis(1_800_000_000_500)),
            expiries_by_month: vec![MonthTally { month: "2027-01".into(), versions: gov + 1, bytes: gov * 10 + 5 }],
        }
    }

    #[test]
    fn totals_always_names_only_per_bucket() {
        let g = LockGauges::default();
        let mut out = String::new();
        g.render(true, &mut out);
        assert_eq!(out, "", "nothing before the first report");
        g.store(Snapshot::new(vec![report("alpha", 2), report("beta", 3)], Instant::now(), Duration::from_millis(7)));
        let mut totals = String::new();
        g.render(false, &mut totals);
        assert!(!totals.contains("alpha") && !totals.contains("beta") && !totals.contains("bucket="), "{totals}");
        assert!(totals.contains("holdfast_lock_total_versions{kind=\"governance\"} 5\n"), "{totals}");
        assert!(totals.contains("holdfast_lock_total_bytes{kind=\"governance\"} 50\n"), "{totals}");
        assert!(totals.contains("holdfast_lock_total_versions{kind=\"compliance\"} 2\n"), "{totals}");
        assert!(totals.contains("holdfast_lock_total_versions{kind=\"legal_hold\"} 0\n"), "{totals}");
        assert!(totals.contains("holdfast_lock_report_duration_seconds 0.007\n"), "{totals}");
        let mut all = String::new();
        g.render(true, &mut all);
        assert!(all.contains("holdfast_lock_versions{bucket=\"alpha\",kind=\"governance\"} 2\n"), "{all}");
        assert!(all.contains("holdfast_lock_bytes{bucket=\"beta\",kind=\"governance\"} 30\n"), "{all}");
        assert!(all.contains("holdfast_lock_latest_retain_until_seconds{bucket=\"beta\"} 1800000000.5\n"), "{all}");
        assert!(all.contains("holdfast_lock_expiring_versions{bucket=\"alpha\",month=\"2027-01\"} 3\n"), "{all}");
        assert!(all.contains("holdfast_lock_expiring_bytes{bucket=\"beta\",month=\"2027-01\"} 35\n"), "{all}");
    }
}
