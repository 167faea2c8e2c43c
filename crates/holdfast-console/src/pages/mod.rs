//! The pages, one module each.

pub mod admin;
pub mod buckets;
pub mod objects;
pub mod report;
pub mod version;

use holdfast_lock::UtcMillis;

/// "Can be emptied" of a bucket's lock report, as `holdfast admin report` words it.
pub fn emptied(latest: Option<UtcMillis>, held: u64) -> String {
    match (latest, held) {
        (_, n) if n > 0 => format!("not while {n} versions are under legal hold"),
        (Some(t), _) => format!("after {}", t.to_iso8601()),
        (None, _) => "now (nothing is protected)".to_owned(),
    }
}
