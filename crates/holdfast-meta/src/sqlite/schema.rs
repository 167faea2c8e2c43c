//! The embedded schema. Keys are BLOBs so that SQLite's BINARY ordering is UTF-8 byte
//! order, which is how S3 lists.

/// 2: small objects' bytes inline (`inline_data`). A build that knows only version 1
/// would read such objects as empty, so it refuses a database at version 2.
/// 3: object tags (`version_tags`, `upload_tags`, in `tags.rs`). An older build
/// would drop the tags of completed uploads and could not show them, so it refuses it.
/// 4: the audit outbox and WORM guards that work whatever SQLite opens the file
/// (`guards.rs`); from 4 on, a guard that is missing or altered at start is
/// tampering, not an old schema.
/// 5: bucket replication (`replication_queue`, `replication_status`, in `replication.rs`).
/// An older build would write versions without queueing their replication.
/// 6: versions' lock histories (`lock_history`, in `lock_history.rs`), written with each lock
/// change's audit record. An older build would change locks without recording their history.
/// 7: what a listing shows of each key's current version, in `latest` (`listed.rs`). An
/// older build would move the pointer without them.
/// 8: each bucket's stored versions and bytes, kept by triggers (`bucket_usage`, in
/// `usage.rs`). An older build would take the triggers for tampering.
pub const SCHEMA_VERSION: i64 = 8;

pub const SCHEMA: &str = r"
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);

CREATE TABLE IF NOT EXISTS clock (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    high_water_ms INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS buckets (
    name TEXT PRIMARY KEY,
    created_ms INTEGER NOT NULL,
    versioning TEXT NOT NULL,
    lock_enabled INTEGER NOT NULL DEFAULT 0,
    default_retention TEXT
);

-- Every object version and delete marker; seq orders a key's history.
CREATE TABLE IF NOT EXISTS versions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    bucket TEXT NOT NULL,
    key BLOB NOT NULL,
    version_id TEXT NOT NULL,
    delete_marker INTEGER NOT NULL,
    last_modified_ms INTEGER NOT NULL,
    size INTEGER NOT NULL DEFAULT 0,
    etag TEXT NOT NULL DEFAULT '',
    data TEXT,
    lock_mode TEXT,
    lock_until_ms INTEGER,
    legal_hold INTEGER,
    UNIQUE (bucket, key, version_id)
);
-- ListObjectVersions reads keys ascending and each key's versions newest first: this
-- order, so that a page never sorts a key's history (added without a schema version:
-- an older build keeps it up to date like any index).
CREATE INDEX IF NOT EXISTS versions_by_key_desc ON versions (bucket, key, seq DESC);
-- `versions_by_key` (bucket, key, seq) served nothing the index above does not (SQLite
-- walks an index either way; every query of a key's versions is a lookup or newest first)
-- and cost every PUT a B-tree insert (#17). Dropped without a schema version: an older
-- build recreates it when it opens the file, and keeps it up to date like any index.
DROP INDEX IF EXISTS versions_by_key;

-- The current version (or delete marker) of each key.
CREATE TABLE IF NOT EXISTS latest (
    bucket TEXT NOT NULL,
    key BLOB NOT NULL,
    seq INTEGER NOT NULL,
    delete_marker INTEGER NOT NULL,
    PRIMARY KEY (bucket, key)
) WITHOUT ROWID;

-- Blobs that a version or a part refers to. A blob file not listed here or in gc_queue
-- is an orphan of a crash and may be swept.
CREATE TABLE IF NOT EXISTS blobs (id TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS gc_queue (id TEXT PRIMARY KEY, queued_ms INTEGER NOT NULL) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS uploads (
    upload_id TEXT PRIMARY KEY,
    bucket TEXT NOT NULL,
    key BLOB NOT NULL,
    initiated_ms INTEGER NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS uploads_by_key ON uploads (bucket, key, initiated_ms);

CREATE TABLE IF NOT EXISTS parts (
    upload_id TEXT NOT NULL,
    part_number INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (upload_id, part_number)
) WITHOUT ROWID;

-- Uploads that completed, and the version each made: a repeated CompleteMultipartUpload
-- answers with that version instead of NoSuchUpload, as S3 does.
CREATE TABLE IF NOT EXISTS completed_uploads (
    upload_id TEXT PRIMARY KEY,
    bucket TEXT NOT NULL,
    key BLOB NOT NULL,
    seq INTEGER NOT NULL,
    completed_ms INTEGER NOT NULL
);

-- The bytes of small objects, inserted in the transaction that inserts their version, so
-- that one commit (one fsync of the WAL) makes bytes and metadata durable together. Rows
-- never change, and go only after (or with) their version.
CREATE TABLE IF NOT EXISTS inline_data (
    seq INTEGER PRIMARY KEY,
    bytes BLOB NOT NULL
);

";
