//! The latest version of hot keys, kept in memory so that a HEAD or a small GET of a key
//! read before is answered without a trip to the blocking pool.
//!
//! Coherence: one process owns the embedded store and every change goes through the single
//! writer connection. Temporary triggers on that connection (`TOUCH_TRIGGERS`) note every
//! key whose version rows, current version, tags, inline bytes or replication status a job
//! changes, and every bucket row changed; the writer takes that list inside the batch's
//! transaction and invalidates those keys after `COMMIT` and before it answers any caller.
//! A filler reads the key's shard generation before its read and inserts only if no
//! invalidation of that shard came in between, so a read that raced with a commit is never
//! cached. Hence a cached entry is never older than a change acknowledged to any client.
//! The triggers catch every write path (PUT, copy, multipart, delete, lifecycle, lock and
//! legal-hold changes, lock jobs, tags, replication) without each having to remember.

use crate::model::VersionRecord;
use crate::{MetaError, MetaResult, TagSet};
use rusqlite::Connection;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Mutex;

/// Independent locks; a hit holds one for a hash lookup and a clone.
const SHARDS: usize = 32;
/// Bounds of the whole cache (split evenly across shards): small enough that it does not
/// keep an idle server's memory up, large enough for a backup tool's working set of HEADs.
pub(super) const MAX_ENTRIES: usize = 32 * 1024;
pub(super) const MAX_BYTES: usize = 16 << 20;
/// An entry larger than this (a large inline object) is never cached.
const MAX_ENTRY_BYTES: usize = 256 << 10;
/// Fixed cost counted per entry beyond its key and inline bytes (the record's strings,
/// headers and map overhead, roughly).
const ENTRY_OVERHEAD: usize = 512;

/// What a read of `(bucket, key, latest)` found: the version with its tags and replication
/// status, or no such key in an existing bucket.
#[derive(Clone)]
pub(super) enum Latest {
    Version(Box<(VersionRecord, TagSet)>),
    NoSuchKey,
}

struct Entry {
    value: Latest,
    cost: usize,
}

#[derive(Default)]
struct Shard {
    generation: u64,
    bytes: usize,
    map: HashMap<String, Entry>,
}

pub(super) struct ReadCache {
    shards: Vec<Mutex<Shard>>,
    hasher: std::collections::hash_map::RandomState,
}

impl Default for ReadCache {
    fn default() -> Self {
        Self { shards: (0..SHARDS).map(|_| Mutex::default()).collect(), hasher: Default::default() }
    }
}

/// One string per key: bucket names cannot hold '/', so the split is unambiguous.
fn cache_key(bucket: &str, key: &str) -> String {
    let mut s = String::with_capacity(bucket.len() + 1 + key.len());
    s.push_str(bucket);
    s.push('/');
    s.push_str(key);
    s
}

impl ReadCache {
    fn shard(&self, k: &str) -> &Mutex<Shard> {
        &self.shards[self.hasher.hash_one(k) as usize % SHARDS]
    }

    fn lock(m: &Mutex<Shard>) -> std::sync::MutexGuard<'_, Shard> {
        m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The cached latest of a key, or the generation a filler must present to [`Self::fill`].
    pub(super) fn get(&self, bucket: &str, key: &str) -> Result<Latest, u64> {
        let k = cache_key(bucket, key);
        let shard = Self::lock(self.shard(&k));
        match shard.map.get(&k) {
            Some(e) => Ok(e.value.clone()),
            None => Err(shard.generation),
        }
    }

    /// Caches what a read found, unless its shard was invalidated since `generation`.
    pub(super) fn fill(&self, bucket: &str, key: &str, generation: u64, value: &Latest) {
        let k = cache_key(bucket, key);
        let inline = match value {
            Latest::Version(v) => v.0.object.as_ref().and_then(|o| o.inline.as_ref()).map_or(0, bytes::Bytes::len),
            Latest::NoSuchKey => 0,
        };
        let cost = ENTRY_OVERHEAD + k.len() * 2 + inline;
        if cost > MAX_ENTRY_BYTES {
            return;
        }
        let (max_entries, max_bytes) = (MAX_ENTRIES / SHARDS, MAX_BYTES / SHARDS);
        let mut shard = Self::lock(self.shard(&k));
        if shard.generation != generation {
            return;
        }
        while !shard.map.is_empty() && (shard.map.len() >= max_entries || shard.bytes + cost > max_bytes) {
            // Any entry: hot keys come back on their next read.
            let Some(victim) = shard.map.keys().next().cloned() else { break };
            if let Some(e) = shard.map.remove(&victim) {
                shard.bytes -= e.cost;
            }
        }
        if shard.bytes + cost > max_bytes {
            return;
        }
        shard.bytes += cost;
        if let Some(old) = shard.map.insert(k, Entry { value: value.clone(), cost }) {
            shard.bytes -= old.cost;
        }
    }

    /// Forgets what `touched` names (bumping the generation of each shard it touches).
    pub(super) fn invalidate(&self, touched: &Touched) {
        match touched {
            Touched::Everything => self.clear(),
            Touched::Keys(keys) => {
                for (bucket, key) in keys {
                    let k = cache_key(bucket, key);
                    let mut shard = Self::lock(self.shard(&k));
                    shard.generation += 1;
                    if let Some(e) = shard.map.remove(&k) {
                        shard.bytes -= e.cost;
                    }
                }
            }
        }
    }

    /// Forgets everything (a bucket row changed, or the writer cannot tell what changed).
    pub(super) fn clear(&self) {
        for s in &self.shards {
            let mut shard = Self::lock(s);
            shard.generation += 1;
            shard.map.clear();
            shard.bytes = 0;
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards.iter().map(|s| Self::lock(s).map.len()).sum()
    }
}

/// What a batch changed, as the triggers noted it.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Touched {
    Keys(Vec<(String, String)>),
    Everything,
}

/// Keys noted by the triggers since the last [`TouchLog::take`] (beyond this many the
/// writer forgets everything instead: a bound, and then cheaper than one by one).
const MAX_NOTED: usize = 1 << 16;

/// Where the triggers note what a transaction changes: memory of the writer, filled by the
/// SQL function `holdfast_touch(bucket, key)` that the triggers call. (Before, they inserted
/// into a temporary table that the writer read with `SELECT DISTINCT` and emptied, every
/// batch: three B-tree inserts per PUT and a sorted read per batch.) Unlike that table, a
/// savepoint rolled back does not take its notes back: the writer forgets a little more
/// than changed, which only costs misses.
#[derive(Default)]
pub(super) struct TouchLog {
    noted: std::sync::Mutex<Noted>,
}

#[derive(Default)]
struct Noted {
    keys: Vec<(String, String)>,
    everything: bool,
}

impl TouchLog {
    fn noted(&self) -> std::sync::MutexGuard<'_, Noted> {
        self.noted.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// One call of `holdfast_touch`: a NULL key stands for the whole bucket; anything
    /// unreadable counts as everything.
    fn note(&self, bucket: rusqlite::types::ValueRef<'_>, key: rusqlite::types::ValueRef<'_>) {
        use rusqlite::types::ValueRef;
        let text = |v: ValueRef<'_>| match v {
            ValueRef::Text(b) | ValueRef::Blob(b) => std::str::from_utf8(b).ok().map(str::to_owned),
            _ => None,
        };
        let mut noted = self.noted();
        if noted.everything {
            return;
        }
        match (text(bucket), text(key)) {
            (Some(b), Some(k)) if noted.keys.len() < MAX_NOTED => noted.keys.push((b, k)),
            // A bucket created, reconfigured or deleted: rare, so forget every key.
            _ => {
                noted.everything = true;
                noted.keys = Vec::new();
            }
        }
    }

    /// Takes (and empties) what was noted since the last call.
    pub(super) fn take(&self) -> Touched {
        let mut noted = self.noted();
        if std::mem::take(&mut noted.everything) {
            noted.keys = Vec::new();
            return Touched::Everything;
        }
        let mut keys = std::mem::take(&mut noted.keys);
        drop(noted);
        keys.sort_unstable();
        keys.dedup();
        Touched::Keys(keys)
    }
}

/// Created on the writer connection only (TEMP: nothing of this is in the database file,
/// the WORM guards' check of `sqlite_master` never sees it). Each notes `(bucket, key)`
/// through `holdfast_touch` ([`TouchLog`]); a NULL key stands for the whole bucket.
/// No trigger on INSERT into `inline_data`: its rows are inserted only right after their
/// version row, in the same job (`objects::insert_at`), whose trigger notes the key; one
/// there cost every PUT a lookup of that version and a second note (#17).
pub(super) const TOUCH_TRIGGERS: &str = r"
CREATE TEMP TRIGGER IF NOT EXISTS read_touch_versions_ins AFTER INSERT ON versions BEGIN
    SELECT holdfast_touch(NEW.bucket, NEW.key); END;
CREATE TEMP TRIGGER IF NOT EXISTS read_touch_versions_upd AFTER UPDATE ON versions BEGIN
    SELECT holdfast_touch(OLD.bucket, OLD.key);
    SELECT holdfast_touch(NEW.bucket, NEW.key); END;
CREATE TEMP TRIGGER IF NOT EXISTS read_touch_versions_del AFTER DELETE ON versions BEGIN
    SELECT holdfast_touch(OLD.bucket, OLD.key); END;
CREATE TEMP TRIGGER IF NOT EXISTS read_touch_latest_ins AFTER INSERT ON latest BEGIN
    SELECT holdfast_touch(NEW.bucket, NEW.key); END;
CREATE TEMP TRIGGER IF NOT EXISTS read_touch_latest_upd AFTER UPDATE ON latest BEGIN
    SELECT holdfast_touch(OLD.bucket, OLD.key);
    SELECT holdfast_touch(NEW.bucket, NEW.key); END;
CREATE TEMP TRIGGER IF NOT EXISTS read_touch_latest_del AFTER DELETE ON latest BEGIN
    SELECT holdfast_touch(OLD.bucket, OLD.key); END;
CREATE TEMP TRIGGER IF NOT EXISTS read_touch_tags_ins AFTER INSERT ON version_tags BEGIN
    SELECT holdfast_touch(bucket, key) FROM versions WHERE seq = NEW.seq; END;
CREATE TEMP TRIGGER IF NOT EXISTS read_touch_tags_upd AFTER UPDATE ON version_tags BEGIN
    SELECT holdfast_touch(bucket, key) FROM versions WHERE seq IN (OLD.seq, NEW.seq); END;
CREATE TEMP TRIGGER IF NOT EXISTS read_touch_tags_del AFTER DELETE ON version_tags BEGIN
    SELECT holdfast_touch(bucket, key) FROM versions WHERE seq = OLD.seq; END;
CREATE TEMP TRIGGER IF NOT EXISTS read_touch_inline_upd AFTER UPDATE ON inline_data BEGIN
    SELECT holdfast_touch(bucket, key) FROM versions WHERE seq IN (OLD.seq, NEW.seq); END;
CREATE TEMP TRIGGER IF NOT EXISTS read_touch_inline_del AFTER DELETE ON inline_data BEGIN
    SELECT holdfast_touch(bucket, key) FROM versions WHERE seq = OLD.seq; END;
CREATE TEMP TRIGGER IF NOT EXISTS read_touch_repl_ins AFTER INSERT ON replication_status BEGIN
    SELECT holdfast_touch(NEW.bucket, NEW.key); END;
CREATE TEMP TRIGGER IF NOT EXISTS read_touch_repl_upd AFTER UPDATE ON replication_status BEGIN
    SELECT holdfast_touch(OLD.bucket, OLD.key);
    SELECT holdfast_touch(NEW.bucket, NEW.key); END;
CREATE TEMP TRIGGER IF NOT EXISTS read_touch_repl_del AFTER DELETE ON replication_status BEGIN
    SELECT holdfast_touch(OLD.bucket, OLD.key); END;
CREATE TEMP TRIGGER IF NOT EXISTS read_touch_buckets_ins AFTER INSERT ON buckets BEGIN
    SELECT holdfast_touch(NEW.name, NULL); END;
CREATE TEMP TRIGGER IF NOT EXISTS read_touch_buckets_upd AFTER UPDATE ON buckets BEGIN
    SELECT holdfast_touch(OLD.name, NULL); END;
CREATE TEMP TRIGGER IF NOT EXISTS read_touch_buckets_del AFTER DELETE ON buckets BEGIN
    SELECT holdfast_touch(OLD.name, NULL); END;
";

/// Installs the triggers on the writer connection (after the schema exists) and returns
/// the log they fill.
pub(super) fn install(conn: &Connection) -> MetaResult<std::sync::Arc<TouchLog>> {
    // Statement and savepoint journals in memory, not in temporary files.
    conn.execute_batch("PRAGMA temp_store=MEMORY;")?;
    let log = std::sync::Arc::new(TouchLog::default());
    let noting = std::sync::Arc::clone(&log);
    // Not deterministic: it has an effect, SQLite must call it for every row.
    conn.create_scalar_function("holdfast_touch", 2, rusqlite::functions::FunctionFlags::SQLITE_UTF8, move |ctx| {
        noting.note(ctx.get_raw(0), ctx.get_raw(1));
        Ok(rusqlite::types::Null)
    })?;
    conn.execute_batch(TOUCH_TRIGGERS)?;
    Ok(log)
}

/// The latest version of a key with its tags, as one consistent snapshot (a read-only
/// connection's deferred transaction), and NoSuchKey as a value.
pub(super) fn load(conn: &Connection, bucket: &str, key: &str) -> MetaResult<Latest> {
    let tx = conn.unchecked_transaction()?;
    let found = super::objects::resolve_content(conn, bucket, key, &crate::model::VersionSelector::Latest);
    let out = match found {
        Ok(mut rec) => {
            let tags = if rec.is_delete_marker() { TagSet::new() } else { super::tags::of_seq(conn, rec.seq)? };
            rec.replication = super::replication::status(conn, bucket, key, &rec.version_id)?;
            Latest::Version(Box::new((rec, tags)))
        }
        Err(MetaError::NoSuchKey) => Latest::NoSuchKey,
        Err(e) => return Err(e),
    };
    tx.finish()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_fill_that_raced_with_an_invalidation_is_dropped() {
        let c = ReadCache::default();
        let g = c.get("b", "k").err().unwrap();
        c.invalidate(&Touched::Keys(vec![("b".into(), "k".into())]));
        c.fill("b", "k", g, &Latest::NoSuchKey);
        assert!(c.get("b", "k").is_err(), "stale fill must not be cached");
        let g = c.get("b", "k").err().unwrap();
        c.fill("b", "k", g, &Latest::NoSuchKey);
        assert!(matches!(c.get("b", "k"), Ok(Latest::NoSuchKey)));
        c.invalidate(&Touched::Everything);
        assert!(c.get("b", "k").is_err());
    }

    #[test]
    fn the_triggers_note_each_changed_key_and_a_bucket_change_as_everything() {
        let conn = Connection::open_in_memory().unwrap();
        for schema in [super::super::schema::SCHEMA, super::super::tags::SCHEMA, super::super::replication::SCHEMA] {
            conn.execute_batch(schema).unwrap();
        }
        let log = install(&conn).unwrap();
        conn.execute_batch("INSERT INTO buckets (name, created_ms, versioning) VALUES ('b', 0, 'Enabled');").unwrap();
        assert_eq!(log.take(), Touched::Everything);
        assert_eq!(log.take(), Touched::Keys(Vec::new()), "taking empties the log");
        let put = |key: &str| {
            conn.execute(
                "INSERT INTO versions (bucket, key, version_id, delete_marker, last_modified_ms)
                 VALUES ('b', ?1, 'v', 0, 0)",
                [key.as_bytes()],
            )
            .unwrap();
            let seq = conn.last_insert_rowid();
            conn.execute("INSERT INTO inline_data (seq, bytes) VALUES (?1, x'00')", [seq]).unwrap();
            conn.execute(
                "INSERT INTO latest (bucket, key, seq, delete_marker) VALUES ('b', ?1, ?2, 0)
                 ON CONFLICT (bucket, key) DO UPDATE SET seq = excluded.seq",
                rusqlite::params![key.as_bytes(), seq],
            )
            .unwrap();
            seq
        };
        // Inside a savepoint rolled back: noted all the same (forgetting more is safe).
        conn.execute_batch("BEGIN; SAVEPOINT job;").unwrap();
        put("k2");
        conn.execute_batch("ROLLBACK TO job; RELEASE job;").unwrap();
        let seq = put("k1");
        conn.execute_batch("COMMIT").unwrap();
        let both = Touched::Keys(vec![("b".into(), "k1".into()), ("b".into(), "k2".into())]);
        assert_eq!(log.take(), both, "each key once, sorted");
        conn.execute("INSERT INTO version_tags (seq, tags) VALUES (?1, '{}')", [seq]).unwrap();
        conn.execute("UPDATE versions SET legal_hold = 1 WHERE seq = ?1", [seq]).unwrap();
        conn.execute("DELETE FROM inline_data WHERE seq = ?1", [seq]).unwrap();
        assert_eq!(log.take(), Touched::Keys(vec![("b".into(), "k1".into())]));
    }

    #[test]
    fn entries_stay_within_their_bound() {
        let c = ReadCache::default();
        for i in 0..(MAX_ENTRIES * 2) {
            let key = format!("k{i}");
            let g = c.get("b", &key).err().unwrap();
            c.fill("b", &key, g, &Latest::NoSuchKey);
        }
        assert!(c.len() <= MAX_ENTRIES, "{} entries", c.len());
        let bytes: usize = c.shards.iter().map(|s| ReadCache::lock(s).bytes).sum();
        assert!(bytes <= MAX_BYTES);
    }
}
