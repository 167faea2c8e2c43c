//! PostgreSQL migration 17: the key lookups of a PUT stay on their indexes whatever the
//! planner's statistics say.
//!
//! The planner costs a scan of a table it believes empty or tiny below any index. A connection
//! caches the put function's plans, and keeps one until the next autoanalyze of the table
//! replaces it: a table that fills fast after such a reading is scanned whole by every PUT in
//! between (issue #17: the function's "this key's row, locked" went from 7.5 to 578 µs, the
//! gateway's PUT rate from 2,400 to 1,250/s, `scripts/pg-put-profile.sh` with `PRE_RUNS=1
//! PRE_GAP=90`). Two ways to that reading, one change each (`tests/pg_index_plans.rs`):
//!
//! - **A table filled, emptied and vacuumed** (a benchmark's cleanup, a retention run that prunes
//!   a whole repository): VACUUM cut it down to no pages and ANALYZE recorded no rows.
//!   `vacuum_truncate = false` on the per-object tables keeps the pages (the free space map hands
//!   them to the next rows, nothing is lost), so a scan of the emptied table costs what its size
//!   says, for every statement that reads it.
//! - **A table analyzed while it held a page or two** (a new deployment's first objects, before
//!   a backup starts writing thousands a second): the put function runs with `enable_seqscan =
//!   off`. Every statement in it finds its rows by a key that has an index; the setting only
//!   makes the planner take that index over a scan it misjudged (a statement without an index
//!   would still scan).
//!
//! The other statements of a request met the second way as well (session 11): a gateway
//! connection that ran GET's reads (the key's row in `latest`, its version, its tags) a few times
//! while the tables were tiny cached scans for them, and kept scanning the tables whole on every
//! GET as they grew, until an autoanalyze. So every gateway session now starts with
//! `enable_seqscan = off` (`SESSION_SETTINGS` in `mod.rs`), with the same reasoning: their
//! statements find rows by indexed keys, and a statement with no usable index still scans.
pub(super) const V17: &str = "
ALTER TABLE latest SET (vacuum_truncate = false);
ALTER TABLE versions SET (vacuum_truncate = false);
ALTER TABLE version_tags SET (vacuum_truncate = false);
ALTER TABLE blobs SET (vacuum_truncate = false);
ALTER FUNCTION holdfast_put_version(text, bytea, text, text, bigint, text, text, bigint, boolean, bigint, text[],
    text, text, text, bytea, text, text, text, text, text, text) SET enable_seqscan = off;
";
