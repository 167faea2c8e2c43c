//! Each bucket's stored versions and bytes, kept by triggers in the transaction of every
//! change to `versions` (the bucket quota and capacity readings of issue #18 read it).
//!
//! Before, a bucket's usage was summed over its versions whenever it was read, and a bucket
//! with a quota reads it in every PUT's transaction, on the one writer thread: 150 ms per PUT
//! with 200,000 objects in the bucket, and every other write of the server waited behind it
//! (#17, docs/performance.md "A bucket's usage kept, not summed"). The triggers are part of the
//! database, so every connection that writes versions (an admin command beside the server, the
//! `sqlite3` shell) keeps the tally too; the start's check of the triggers (`guards.rs`) covers
//! them. Delete markers hold no bytes and are not counted.

use crate::{MetaResult, Tally};
use rusqlite::{Connection, OptionalExtension};

const TABLE: &str = "CREATE TABLE bucket_usage (
    bucket TEXT PRIMARY KEY,
    versions INTEGER NOT NULL,
    bytes INTEGER NOT NULL
) WITHOUT ROWID;";

/// The tally's triggers, (name, body after `CREATE TRIGGER <name> `): part of the triggers
/// the store checks at start (`guards.rs`), so that one dropped or altered outside Holdfast is
/// found like a missing guard.
pub(super) const TRIGGERS: [(&str, &str); 5] = [
    // Every bucket has its row from its creation on, so that a version's change is one
    // UPDATE (an upsert in every PUT cost about 1 % more of its instructions than this).
    (
        "bucket_usage_bucket_made",
        "AFTER INSERT ON buckets BEGIN INSERT OR REPLACE INTO bucket_usage (bucket, versions, bytes) \
         VALUES (NEW.name, 0, 0); END",
    ),
    ("bucket_usage_bucket_gone", "AFTER DELETE ON buckets BEGIN DELETE FROM bucket_usage WHERE bucket = OLD.name; END"),
    (
        "bucket_usage_insert",
        "AFTER INSERT ON versions WHEN NEW.delete_marker = 0 BEGIN \
         UPDATE bucket_usage SET versions = versions + 1, bytes = bytes + NEW.size WHERE bucket = NEW.bucket; END",
    ),
    (
        "bucket_usage_delete",
        "AFTER DELETE ON versions WHEN OLD.delete_marker = 0 BEGIN \
         UPDATE bucket_usage SET versions = versions - 1, bytes = bytes - OLD.size WHERE bucket = OLD.bucket; END",
    ),
    (
        "bucket_usage_update",
        "AFTER UPDATE OF bucket, delete_marker, size ON versions BEGIN \
         UPDATE bucket_usage SET versions = versions - 1, bytes = bytes - OLD.size \
         WHERE bucket = OLD.bucket AND OLD.delete_marker = 0; \
         UPDATE bucket_usage SET versions = versions + 1, bytes = bytes + NEW.size \
         WHERE bucket = NEW.bucket AND NEW.delete_marker = 0; END",
    ),
];

const REFILL: &str = "DELETE FROM bucket_usage;
INSERT INTO bucket_usage (bucket, versions, bytes)
    SELECT b.name, COUNT(v.seq), COALESCE(SUM(v.size), 0)
    FROM buckets b LEFT JOIN versions v ON v.bucket = b.name AND v.delete_marker = 0 GROUP BY b.name;";

/// Creates the tally and its triggers in a database without them (a new one, or one of schema
/// 7 or older), filled from the versions already stored, in one transaction.
pub(super) fn ensure(conn: &Connection) -> MetaResult<()> {
    let has: bool = conn
        .prepare("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'bucket_usage'")?
        .query_row([], |r| r.get::<_, i64>(0))?
        > 0;
    if has {
        return Ok(());
    }
    let mut sql = format!("BEGIN IMMEDIATE;\n{TABLE}\n");
    for (name, body) in TRIGGERS {
        // A table dropped outside Holdfast leaves its triggers (they are on other tables): the
        // tally is derived, so it is made again, whole.
        sql.push_str(&format!("DROP TRIGGER IF EXISTS {name};\nCREATE TRIGGER {name} {body};\n"));
    }
    sql.push_str(REFILL);
    sql.push_str("\nCOMMIT;");
    conn.execute_batch(&sql)?;
    Ok(())
}

/// Counts the tally afresh from the versions: after its triggers were found changed outside
/// Holdfast and restored, whatever was written meanwhile is counted again.
pub(super) fn refill(conn: &Connection) -> MetaResult<()> {
    conn.execute_batch(REFILL)?;
    Ok(())
}

/// Versions (not delete markers) and their bytes stored in `bucket`, noncurrent included.
pub(super) fn of(conn: &Connection, bucket: &str) -> MetaResult<Tally> {
    let row: Option<(i64, i64)> = conn
        .prepare_cached("SELECT versions, bytes FROM bucket_usage WHERE bucket = ?1")?
        .query_row([bucket], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let (versions, bytes) = row.unwrap_or((0, 0));
    Ok(Tally { versions: versions.max(0).cast_unsigned(), bytes: bytes.max(0).cast_unsigned() })
}
