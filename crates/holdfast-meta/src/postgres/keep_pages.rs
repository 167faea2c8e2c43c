//! PostgreSQL migration 17: the per-object tables keep their pages when VACUUM empties them.
//!
//! A table that was filled, emptied and vacuumed (a benchmark's cleanup; a retention run that
//! prunes a whole repository) was cut down to no pages, and ANALYZE recorded no rows. The
//! planner then costs a scan of it at nothing, below any index, and a connection caches that
//! plan for the put function's "this key's row, locked" until the next autoanalyze: as the
//! table fills again every PUT reads every row written since (issue #17: 7.5 → 578 µs per
//! lookup, the gateway's PUT rate 2,400 → 1,250/s, `scripts/pg-put-profile.sh` with
//! `PRE_RUNS=1 PRE_GAP=90`). With its pages kept, a scan of the emptied table costs what its
//! size says and the indexes win (`tests/pg_emptied.rs`). The space is not lost: the free space
//! map hands it to the next rows. A table that was never larger than a few pages can still get
//! a scan while it is small; the autoanalyze that its growth triggers replaces that plan.
pub(super) const V17: &str = "
ALTER TABLE latest SET (vacuum_truncate = false);
ALTER TABLE versions SET (vacuum_truncate = false);
ALTER TABLE version_tags SET (vacuum_truncate = false);
ALTER TABLE blobs SET (vacuum_truncate = false);
";
