//! Schema 7: what a ListObjects entry shows of a key's current version (version id,
//! last-modified, size, ETag, storage class, checksum) kept in `latest` beside the pointer,
//! so that a page reads `latest` alone in key order — no join to `versions`, no decoding of
//! version documents. Every write of `latest` keeps these columns true: the version insert
//! writes them from the object it holds, the rarer moves of the pointer (a version removed,
//! a replica arriving late) fill them from the version row they point to.

use crate::MetaResult;
use crate::listing::checksum_columns;
use crate::model::ObjectData;
use holdfast_lock::UtcMillis;
use rusqlite::{Connection, params};

/// The listed columns, added to `latest` by [`ensure`].
const COLUMNS: [(&str, &str); 8] = [
    ("version_id", "TEXT"),
    ("last_modified_ms", "INTEGER"),
    ("size", "INTEGER"),
    ("etag", "TEXT"),
    ("storage_class", "TEXT"),
    ("checksum_algorithm", "TEXT"),
    ("checksum_kind", "TEXT"),
    ("checksum_value", "TEXT"),
];

/// `SET` clause of an UPDATE of `latest` that fills the listed columns from the version row
/// its `seq` points to (the object document's fields, as `crate::listing` names them;
/// NULL for a delete marker).
const FILL: &str = "(version_id, last_modified_ms, size, etag, storage_class,
                     checksum_algorithm, checksum_kind, checksum_value) =
    (SELECT v.version_id, v.last_modified_ms, json_extract(v.data, '$.size'), json_extract(v.data, '$.etag'),
            json_extract(v.data, '$.headers.storage_class'), json_extract(v.data, '$.checksum.algorithm'),
            json_extract(v.data, '$.checksum.kind'), json_extract(v.data, '$.checksum.value')
     FROM versions v WHERE v.seq = latest.seq)";

/// Adds the listed columns to a database without them (a new one, or one of schema 6 or
/// older) and fills them for every key, in the transaction that opens the database.
pub(super) fn ensure(conn: &Connection) -> MetaResult<()> {
    let has: bool = conn
        .prepare("SELECT count(*) FROM pragma_table_info('latest') WHERE name = 'version_id'")?
        .query_row([], |r| r.get::<_, i64>(0))?
        > 0;
    if has {
        return Ok(());
    }
    let mut sql = String::from("BEGIN IMMEDIATE;\n");
    for (name, ty) in COLUMNS {
        sql.push_str(&format!("ALTER TABLE latest ADD COLUMN {name} {ty};\n"));
    }
    sql.push_str(&format!("UPDATE latest SET {FILL};\nCOMMIT;"));
    conn.execute_batch(&sql)?;
    Ok(())
}

/// Makes `(bucket, key)` point to its new newest version `seq` (an object, or a delete
/// marker when `object` is `None`) with that version's listed columns.
pub(super) fn upsert(
    conn: &Connection,
    bucket: &str,
    key: &str,
    seq: i64,
    version_id: &str,
    last_modified: UtcMillis,
    object: Option<&ObjectData>,
) -> MetaResult<()> {
    let (alg, kind, value) = checksum_columns(object.and_then(|o| o.checksum.as_ref()));
    conn.prepare_cached(
        "INSERT INTO latest (bucket, key, seq, delete_marker, version_id, last_modified_ms, size, etag,
                             storage_class, checksum_algorithm, checksum_kind, checksum_value)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
         ON CONFLICT (bucket, key) DO UPDATE SET seq = excluded.seq, delete_marker = excluded.delete_marker,
             version_id = excluded.version_id, last_modified_ms = excluded.last_modified_ms,
             size = excluded.size, etag = excluded.etag, storage_class = excluded.storage_class,
             checksum_algorithm = excluded.checksum_algorithm, checksum_kind = excluded.checksum_kind,
             checksum_value = excluded.checksum_value",
    )?
    .execute(params![
        bucket,
        key.as_bytes(),
        seq,
        object.is_none(),
        version_id,
        last_modified.millis(),
        object.map(|o| i64::try_from(o.size).unwrap_or(i64::MAX)),
        object.map(|o| o.etag.as_str()),
        object.and_then(|o| o.headers.storage_class.as_deref()),
        alg,
        kind,
        value
    ])?;
    Ok(())
}

/// Fills the listed columns of `(bucket, key)` after its pointer moved to another existing
/// version (see [`FILL`]).
pub(super) fn refill(conn: &Connection, bucket: &str, key: &str) -> MetaResult<()> {
    conn.prepare_cached(&format!("UPDATE latest SET {FILL} WHERE bucket = ?1 AND key = ?2"))?
        .execute(params![bucket, key.as_bytes()])?;
    Ok(())
}
