//! The pages, one module each.

pub mod admin;
pub mod buckets;
pub mod objects;
pub mod report;
pub mod version;

/// "Can be emptied" of a bucket's lock report, as `holdfast admin report` words it.
pub fn emptied(r: &holdfast_engine::model::LockReport) -> String {
    r.emptiable().describe()
}
