//! The embedded metadata store: SQLite in WAL mode.
//!
//! One writer thread owns the only read-write connection and runs queued write jobs in
//! batches: one transaction for every job that arrived while the previous batch ran (group
//! commit). Each job runs inside its own savepoint, so a job that fails is rolled back
//! alone. The writer commits without syncing and hands the batch to the syncer thread
//! ([`pipeline`]), which fdatasyncs the WAL and only then answers: nothing is acknowledged
//! before its batch is durable, and the next batch runs while the previous one syncs.
//! Reads use a small pool of read-only connections on the blocking thread pool; they
//! return only what is durable ([`pipeline::Durability::settle_read`]).

mod audit;
pub mod backup;
mod buckets;
mod checkpoint;
mod events;
mod gc;
mod guards;
mod identity;
mod listed;
mod listing;
mod lock_history;
mod lock_jobs;
mod multipart;
mod objects;
mod pipeline;
mod read_cache;
mod replication;
mod report;
mod rows;
mod schema;
pub use schema::SCHEMA_VERSION;
mod tags;
mod usage;

use crate::model::*;
use crate::{BucketConfigKind, LifecycleAction, LockReport, MetaError, MetaResult, QueuedEvent, Settlement, TagSet};
use crate::{LockJob, LockJobBatch, LockJobChange, LockJobTask, TaskResult};
use crate::{QueuedReplication, ReplicaVersion, ReplicaWrite, ReplicationBacklog, ReplicationOutcome};
use holdfast_lock::{Bypass, DefaultRetention, LegalHold, Retention, UtcMillis};
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// Most jobs in one transaction; bounds the latency a batch adds.
const MAX_BATCH: usize = 512;

type Reply = Box<dyn FnOnce(Result<(), String>) + Send>;

/// Where the writer thread is in a batch, for [`CommitObserver`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitStage {
    /// Every job of the batch ran; `COMMIT` comes next. An `Err` from the observer rolls
    /// the batch back instead (fault injection): every caller gets an error.
    BeforeCommit { jobs: usize },
    /// `COMMIT` returned: the batch is in the WAL (visible to readers once durable), not
    /// yet synced.
    Committed { jobs: usize },
    /// The syncer fdatasynced the WAL for batches of `jobs` jobs in all (no connection).
    /// Callers are answered only after this. An `Err` from the observer stands for a
    /// failed sync (fault injection).
    Synced { jobs: usize },
}

/// Watches (and may fail) the writer's commits: for tests that prove the order
/// "durable commit, then acknowledgement", and for fault injection. Runs on the writer
/// thread with its connection, or on the syncer thread without one ([`CommitStage::Synced`]).
pub type CommitObserver = std::sync::Arc<dyn Fn(CommitStage, Option<&Connection>) -> Result<(), String> + Send + Sync>;
type Work = Box<dyn FnOnce(&Connection) -> (bool, Reply) + Send>;

struct Job {
    work: Work,
    /// May change a bucket-level record (bucket, policy, owner, configuration): the batch
    /// that commits it empties the [`BucketCache`] before anyone is answered.
    touches_buckets: bool,
}

/// Bucket-level records that nearly every request reads (the bucket, its policy, its
/// owner), kept in memory so that a GET or HEAD needs one trip to the blocking pool (its
/// version) instead of four. Correct because one process owns an embedded store (the data
/// dir lock): every change goes through this writer, which empties the cache after the
/// commit and before answering; a read that raced with that change is not cached (its
/// generation is stale). Hits take only the read side of the lock.
#[derive(Default)]
struct BucketCache {
    generation: u64,
    entries: std::collections::HashMap<(CacheKind, String), Cached>,
}

/// Entries beyond which misses are not cached (many buckets: fall back to reading).
const MAX_CACHED: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum CacheKind {
    Bucket,
    Policy,
    Owner,
    /// A bucket document (every PUT reads the quota's: from memory, not the pool).
    Config(BucketConfigKind),
}

#[derive(Debug, Clone)]
pub(super) enum Cached {
    Bucket(Option<Bucket>),
    Text(Option<String>),
}

type SharedCache = Arc<std::sync::RwLock<BucketCache>>;

pub struct SqliteMeta {
    jobs: mpsc::Sender<Job>,
    /// Kept alive with the store; the writer and syncer threads and the readers share it.
    _durability: Arc<pipeline::Durability>,
    readers: Arc<ReadPool>,
    cache: SharedCache,
    /// Latest versions of hot keys (see `read_cache`): kept coherent by the writer.
    latest: Arc<read_cache::ReadCache>,
}

struct ReadPool {
    path: PathBuf,
    /// Idle connections, the most recently used last, with when each was put back.
    idle: Mutex<Vec<(Connection, Instant)>>,
    durability: Arc<pipeline::Durability>,
    /// [`READER_IDLE_KEEP`] (shorter in tests).
    keep: Duration,
}

/// Idle readers kept at most, and how long one may stay unused: after a burst the pool
/// shrinks back to what the steady traffic uses, and the connections' page caches, schemas
/// and statements go with them (#17: memory that comes back).
const MAX_IDLE_READERS: usize = 16;
const READER_IDLE_KEEP: Duration = Duration::from_secs(5);

impl ReadPool {
    fn with<T>(&self, f: impl FnOnce(&Connection) -> MetaResult<T>) -> MetaResult<T> {
        let conn = self.idle.lock().map_err(|_| MetaError::Internal("read pool poisoned".into()))?.pop();
        let conn = match conn {
            Some((c, _)) => c,
            None => open_reader(&self.path)?,
        };
        let out = f(&conn);
        // Whatever the outcome (a NoSuchKey too may reflect a write not durable yet).
        let out = self.durability.settle_read().and(out);
        let mut unused = Vec::new();
        if let Ok(mut idle) = self.idle.lock() {
            let now = Instant::now();
            // The least recently used come first: those unused for long are closed.
            let stale = idle.iter().take_while(|(_, at)| now.duration_since(*at) > self.keep).count();
            unused.extend(idle.drain(..stale).map(|(c, _)| c));
            if idle.len() < MAX_IDLE_READERS {
                idle.push((conn, now));
            }
        }
        // Closed outside the lock.
        drop(unused);
        out
    }
}

fn open_reader(path: &Path) -> MetaResult<Connection> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    // Up to 16 idle readers each keep their page cache (2 MiB by default) for as long as they
    // live; the OS page cache holds the file anyway. Bounded so memory comes back (#17).
    conn.pragma_update(None, "cache_size", READER_CACHE_KIB)?;
    Ok(conn)
}

/// A reader connection's page cache, in KiB (SQLite's negative `cache_size`).
const READER_CACHE_KIB: i64 = -512;

impl SqliteMeta {
    /// Opens (creating if needed) the database at `path` and starts the writer thread.
    pub fn open(path: &Path) -> MetaResult<Self> {
        Self::open_observed(path, None)
    }

    /// [`Self::open`] with an observer of the writer's commits.
    pub fn open_observed(path: &Path, observer: Option<CommitObserver>) -> MetaResult<Self> {
        Self::open_with(path, observer, false)
    }

    /// [`Self::open_observed`]; with `accept_tamper`, WORM guards changed outside Holdfast
    /// are restored (and the discrepancy recorded) instead of refusing to open.
    pub fn open_with(path: &Path, observer: Option<CommitObserver>, accept_tamper: bool) -> MetaResult<Self> {
        let conn = Connection::open(path)?;
        guards::register_writer(&conn)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(MetaError::Internal(format!("could not enable WAL (journal_mode={mode})")));
        }
        conn.execute_batch("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;")?;
        conn.execute_batch(schema::SCHEMA)?;
        conn.execute_batch(identity::SCHEMA)?;
        conn.execute_batch(events::SCHEMA)?;
        conn.execute_batch(tags::SCHEMA)?;
        conn.execute_batch(audit::SCHEMA)?;
        conn.execute_batch(replication::SCHEMA)?;
        conn.execute_batch(replication::SCHEMA_REMOTE_VERSIONS)?;
        conn.execute_batch(lock_jobs::SCHEMA)?;
        conn.execute_batch(lock_history::SCHEMA)?;
        listed::ensure(&conn)?;
        usage::ensure(&conn)?;
        replication::note_existing(&conn)?;
        let version: Option<i64> = conn
            .query_row("SELECT version FROM schema_version", [], |r| r.get(0))
            .map(Some)
            .or_else(|e| if matches!(e, rusqlite::Error::QueryReturnedNoRows) { Ok(None) } else { Err(e) })?;
        // Schema 4 brought the guards as they are now: from there on they must be intact.
        let established = version.is_some_and(|v| v >= 4);
        guards::check_at_start(&conn, path, established, accept_tamper)?;
        match version {
            None => {
                conn.execute("INSERT INTO schema_version (version) VALUES (?1)", [schema::SCHEMA_VERSION])?;
            }
            Some(v) if v > schema::SCHEMA_VERSION => {
                return Err(MetaError::Internal(format!(
                    "the metadata database has schema version {v}, newer than this build supports ({})",
                    schema::SCHEMA_VERSION
                )));
            }
            Some(v) if v < schema::SCHEMA_VERSION => {
                // Additive: the tables above were created by `IF NOT EXISTS`. From now on an
                // older build refuses this database instead of misreading inline objects.
                conn.execute("UPDATE schema_version SET version = ?1", [schema::SCHEMA_VERSION])?;
            }
            Some(_) => {}
        }
        let touched = read_cache::install(&conn)?;
        // Every statement the writer runs stays prepared (the default of 16 is fewer than
        // one PUT batch uses with its transaction and savepoint statements).
        conn.set_prepared_statement_cache_capacity(WRITER_STATEMENTS);
        // From here on the syncer makes commits durable (what came before is synced).
        conn.execute_batch("PRAGMA synchronous=NORMAL;")?;
        let checkpoints = checkpoint::Checkpoints::start(&conn, path)?;
        let (tx, rx) = mpsc::channel::<Job>();
        let (synced_tx, synced_rx) = mpsc::sync_channel::<pipeline::Committed>(pipeline::MAX_UNSYNCED);
        let cache = SharedCache::default();
        let latest = Arc::new(read_cache::ReadCache::default());
        let caches = Caches { buckets: Arc::clone(&cache), latest: Arc::clone(&latest), touched };
        let durability = Arc::new(pipeline::Durability::default());
        let (writer_durability, syncer_durability) = (Arc::clone(&durability), Arc::clone(&durability));
        let syncer_observer = observer.clone();
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        let wal = PathBuf::from(wal);
        std::thread::Builder::new()
            .name("holdfast-meta-syncer".into())
            .spawn(move || pipeline::syncer_loop(&synced_rx, &wal, &syncer_durability, syncer_observer.as_ref()))
            .map_err(|e| MetaError::Internal(format!("cannot start syncer thread: {e}")))?;
        std::thread::Builder::new()
            .name("holdfast-meta-writer".into())
            .spawn(move || {
                writer_loop(&conn, &rx, &synced_tx, observer.as_ref(), &caches, &writer_durability, &checkpoints);
            })
            .map_err(|e| MetaError::Internal(format!("cannot start writer thread: {e}")))?;
        let readers = Arc::new(ReadPool {
            path: path.to_owned(),
            idle: Mutex::default(),
            durability: Arc::clone(&durability),
            keep: READER_IDLE_KEEP,
        });
        Ok(Self { jobs: tx, _durability: durability, readers, cache, latest })
    }

    /// Reads an existing database without changing anything (no schema, no guard check, no
    /// writer): for `holdfast admin audit verify`, which must report on a tampered file
    /// rather than refuse it. Every write answers an error.
    pub fn open_read_only(path: &Path) -> MetaResult<Self> {
        open_reader(path)?;
        let (tx, _) = mpsc::channel::<Job>();
        let durability = Arc::new(pipeline::Durability::default());
        let readers = Arc::new(ReadPool {
            path: path.to_owned(),
            idle: Mutex::default(),
            durability: Arc::clone(&durability),
            keep: READER_IDLE_KEEP,
        });
        Ok(Self { jobs: tx, _durability: durability, readers, cache: SharedCache::default(), latest: Arc::default() })
    }

    /// Runs `f` in the next write batch and returns its result once the batch is durable.
    /// For changes that may touch bucket-level records (the cache is emptied).
    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> MetaResult<T> + Send + 'static,
    ) -> MetaResult<T> {
        self.write_job(true, f).await
    }

    /// [`Self::write`] for changes to versions, uploads and queues only, never to a bucket's
    /// own records: the bucket cache stays.
    async fn write_object<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> MetaResult<T> + Send + 'static,
    ) -> MetaResult<T> {
        self.write_job(false, f).await
    }

    /// A bucket-level record through the cache; `load` reads it on a miss.
    pub(super) async fn cached(
        &self,
        kind: CacheKind,
        name: &str,
        load: impl FnOnce(&Connection) -> MetaResult<Cached> + Send + 'static,
    ) -> MetaResult<Cached> {
        let key = (kind, name.to_owned());
        let generation = {
            let cache = self.cache.read().map_err(|_| MetaError::Internal("bucket cache poisoned".into()))?;
            if let Some(hit) = cache.entries.get(&key) {
                return Ok(hit.clone());
            }
            cache.generation
        };
        let value = self.read(load).await?;
        if let Ok(mut cache) = self.cache.write()
            && cache.generation == generation
            && cache.entries.len() < MAX_CACHED
        {
            cache.entries.insert(key, value.clone());
        }
        Ok(value)
    }

    async fn write_job<T: Send + 'static>(
        &self,
        touches_buckets: bool,
        f: impl FnOnce(&Connection) -> MetaResult<T> + Send + 'static,
    ) -> MetaResult<T> {
        self.write_job_as(holdfast_audit::scope::current(), touches_buckets, f).await
    }

    /// Housekeeping writes (the outbox itself, collection, event delivery): never recorded.
    async fn write_unrecorded<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> MetaResult<T> + Send + 'static,
    ) -> MetaResult<T> {
        self.write_job_as(None, false, f).await
    }

    /// Runs `f` in the next batch; with an `actor`, its audit record is inserted in the
    /// same savepoint when `f` succeeds (and the actor learns the record's id once the
    /// batch commits).
    async fn write_job_as<T: Send + 'static>(
        &self,
        actor: Option<holdfast_audit::ActorCell>,
        touches_buckets: bool,
        f: impl FnOnce(&Connection) -> MetaResult<T> + Send + 'static,
    ) -> MetaResult<T> {
        let (done_tx, done_rx) = oneshot::channel::<MetaResult<T>>();
        let work: Work = Box::new(move |conn| {
            let (result, facts) = crate::trail::collect_sync(|| f(conn));
            let mut record_id = None;
            let result = match (result, &actor) {
                (Ok(value), Some(cell)) => audit::insert_change(conn, &cell.actor(), facts).map(|id| {
                    record_id = Some(id);
                    value
                }),
                (result, _) => result,
            };
            let ok = result.is_ok();
            let reply: Reply = Box::new(move |commit| {
                let out = match commit {
                    Ok(()) => {
                        if let (Some(cell), Some(id)) = (&actor, record_id) {
                            cell.add_committed(id);
                        }
                        result
                    }
                    Err(e) => Err(MetaError::Internal(format!("commit failed: {e}"))),
                };
                let _ = done_tx.send(out);
            });
            (ok, reply)
        });
        self.jobs
            .send(Job { work, touches_buckets })
            .map_err(|_| MetaError::Internal("metadata writer stopped".into()))?;
        done_rx.await.map_err(|_| MetaError::Internal("metadata writer dropped a job".into()))?
    }

    /// The latest version of a key with its tags and replication status: from the read
    /// cache when it holds the key (no thread hop), else read on the pool and cached.
    async fn latest_for_read(&self, bucket: &str, key: &str) -> MetaResult<(VersionRecord, TagSet)> {
        let found = match self.latest.get(bucket, key) {
            Ok(hit) => hit,
            Err(generation) => {
                let (b, k) = (bucket.to_owned(), key.to_owned());
                let value = self.read(move |c| read_cache::load(c, &b, &k)).await?;
                self.latest.fill(bucket, key, generation, &value);
                value
            }
        };
        match found {
            read_cache::Latest::Version(v) => Ok(*v),
            read_cache::Latest::NoSuchKey => Err(MetaError::NoSuchKey),
        }
    }

    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> MetaResult<T> + Send + 'static,
    ) -> MetaResult<T> {
        let pool = Arc::clone(&self.readers);
        tokio::task::spawn_blocking(move || pool.with(f))
            .await
            .map_err(|e| MetaError::Internal(format!("read task failed: {e}")))?
    }
}

/// What the writer keeps coherent with its commits.
struct Caches {
    buckets: SharedCache,
    latest: Arc<read_cache::ReadCache>,
    /// What the triggers noted in the transaction the writer runs.
    touched: Arc<read_cache::TouchLog>,
}

impl Caches {
    fn forget_buckets(&self) {
        let mut c = self.buckets.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        c.generation += 1;
        c.entries.clear();
    }
}

fn writer_loop(
    conn: &Connection,
    rx: &mpsc::Receiver<Job>,
    syncer: &mpsc::SyncSender<pipeline::Committed>,
    observer: Option<&CommitObserver>,
    caches: &Caches,
    durability: &pipeline::Durability,
    checkpoints: &checkpoint::Checkpoints,
) {
    let mut seen = None;
    loop {
        let first = match rx.recv_timeout(EXTERNAL_CHANGE_WINDOW) {
            Ok(job) => job,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                forget_external_changes(conn, caches, &mut seen);
                continue;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        };
        checkpoints.bound_log(conn);
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if let Some(e) = durability.failed() {
            // A sync failed: nothing more is committed on top of a log that may have lost
            // frames. Dropping the jobs drops their replies: their callers get an error.
            tracing::error!(error = %e, jobs = batch.len(), "metadata log not durable; write refused until restart");
            continue;
        }
        let seq = durability.next_batch();
        let jobs = batch.len();
        // The thread must outlive anything a batch does (once it ended, every later
        // write answered "metadata writer stopped" until restart). A panic outside a job (an
        // observer) drops the batch's replies: its callers get an error.
        let batch = std::panic::AssertUnwindSafe(batch);
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            // Other connections' commits are looked for inside the batch's transaction, after
            // `BEGIN` and before any job: there `PRAGMA data_version` needs no read
            // transaction of its own (one per batch was 3% of the writer's time, #17).
            let mut begun = || forget_external_changes(conn, caches, &mut seen);
            commit_batch(conn, batch.0, observer, caches, &mut begun, &|| durability.begin_commit(seq))
        }));
        let committed = run.unwrap_or_else(|_| {
            tracing::error!("metadata write batch panicked; rolled back");
            BATCH_CLOCK.with(std::cell::Cell::take);
            end_transaction(conn);
            // The panic may have come after COMMIT: nothing cached may outlive it.
            caches.latest.clear();
            caches.touched.take();
            // Whether COMMIT ran is unknown: have it synced anyway (harmless if not), so the
            // durable mark moves on.
            (Ok(()), Vec::new())
        });
        let (result, replies) = committed;
        let wrote = result.is_ok();
        if syncer.send(pipeline::Committed { seq, jobs, result, replies }).is_err() {
            tracing::error!("metadata syncer stopped; writes are no longer acknowledged");
        }
        if wrote {
            checkpoints.committed();
        }
    }
}

/// How soon the caches forget what another process committed (`holdfast admin replicate`
/// beside a running server): the writer compares SQLite's `data_version`, which moves only
/// for other connections' commits, this often when idle and at the start of every batch
/// (in its transaction, before its jobs). A command
/// that writes beside a server waits twice this long before it reports success.
pub const EXTERNAL_CHANGE_WINDOW: std::time::Duration = std::time::Duration::from_millis(50);

fn forget_external_changes(conn: &Connection, caches: &Caches, seen: &mut Option<i64>) {
    let now = conn.prepare_cached("PRAGMA data_version").and_then(|mut s| s.query_row([], |r| r.get::<_, i64>(0))).ok();
    if now.is_some() && now == *seen {
        return;
    }
    // Changed, first look, or unreadable: nothing cached can be trusted.
    caches.latest.clear();
    caches.forget_buckets();
    *seen = now;
}

/// Runs one batch in one transaction and commits it (not synced yet: the syncer answers the
/// replies once it is). Any failure (BEGIN, a transaction SQLite rolled back on its own,
/// the observer, COMMIT) fails the whole batch and leaves no transaction open: the next
/// batch starts clean.
fn commit_batch(
    conn: &Connection,
    batch: Vec<Job>,
    observer: Option<&CommitObserver>,
    caches: &Caches,
    begun: &mut dyn FnMut(),
    begin_commit: &dyn Fn(),
) -> (Result<(), String>, Vec<Reply>) {
    let jobs = batch.len();
    let touches_buckets = batch.iter().any(|j| j.touches_buckets);
    let (replies, ran) = run_batch(conn, batch, begun);
    // Inside the transaction: the keys its jobs changed, as the triggers noted them.
    let touched = caches.touched.take();
    let committed = ran
        .and_then(|()| observer.map_or(Ok(()), |o| o(CommitStage::BeforeCommit { jobs }, Some(conn))))
        .and_then(|()| {
            begin_commit();
            run_cached(conn, "COMMIT").map_err(|e| e.to_string())
        });
    if let Err(e) = &committed {
        end_transaction(conn);
        tracing::error!(error = %e, jobs, "metadata commit failed; the batch is rolled back, the next one goes on");
    } else if let Some(o) = observer {
        let _ = o(CommitStage::Committed { jobs }, Some(conn));
    }
    if touches_buckets {
        // Before any answer: whoever sees the change acknowledged reads it fresh. (Emptying
        // early is safe; a cache that showed new state would have to wait for the sync.)
        caches.forget_buckets();
    }
    // Likewise (after COMMIT, so that no read of the old state can be cached after this).
    // Readers fill the cache only once what they read is durable (`ReadPool::with` waits
    // for the sync), so a hit never shows a write that is not yet synced.
    caches.latest.invalidate(&touched);
    // Callers are answered by the syncer, after the fdatasync that covers this commit.
    (committed, replies)
}

/// Statements the writer keeps prepared: the store's own and the transaction's.
const WRITER_STATEMENTS: usize = 256;

/// One statement of transaction control, prepared once (parsing `SAVEPOINT job` twice per
/// job cost more than running it).
fn run_cached(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// Rolls back whatever transaction is still open. After a failed COMMIT SQLite may or may
/// not have rolled back already (SQLITE_FULL, SQLITE_IOERR); a transaction left open would
/// make every later `BEGIN` fail.
fn end_transaction(conn: &Connection) {
    if !conn.is_autocommit()
        && let Err(e) = conn.execute_batch("ROLLBACK")
    {
        tracing::error!(error = %e, "cannot roll back the metadata transaction; the next batch retries");
    }
}

/// Runs the jobs of a batch inside one transaction, each in its own savepoint. The result
/// says whether the transaction still holds every job that succeeded: an `Err` fails the
/// batch (every reply gets it).
/// `begun` runs once the transaction is open, before the first job.
fn run_batch(conn: &Connection, batch: Vec<Job>, begun: &mut dyn FnMut()) -> (Vec<Reply>, Result<(), String>) {
    end_transaction(conn);
    if let Err(e) = run_cached(conn, "BEGIN IMMEDIATE") {
        // Without a transaction every savepoint would commit on its own, before the batch is
        // judged: run nothing (dropping a job drops its reply: its caller gets an error).
        tracing::error!(error = %e, "cannot begin metadata transaction");
        return (Vec::new(), Err(format!("cannot begin: {e}")));
    }
    begun();
    defer_clock();
    let mut replies = Vec::with_capacity(batch.len());
    for job in batch {
        if run_cached(conn, "SAVEPOINT job").is_err() {
            continue; // the job's reply is dropped: its caller sees an internal error
        }
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (job.work)(conn)));
        match outcome {
            Ok((true, reply)) => {
                let _ = run_cached(conn, "RELEASE job");
                replies.push(reply);
            }
            Ok((false, reply)) => {
                let _ = conn.execute_batch("ROLLBACK TO job; RELEASE job");
                replies.push(reply);
            }
            Err(_) => {
                tracing::error!("metadata write job panicked; rolled back");
                let _ = conn.execute_batch("ROLLBACK TO job; RELEASE job");
            }
        }
        if conn.is_autocommit() {
            // SQLite rolled the whole transaction back on its own (e.g. SQLITE_FULL in a
            // statement): the jobs before this one are gone too, and the rest must not run
            // outside a transaction. They are dropped (their callers get an error).
            BATCH_CLOCK.with(std::cell::Cell::take);
            return (replies, Err("the transaction was rolled back (disk full or I/O error)".into()));
        }
    }
    // In the transaction, after every job: a failure here fails the batch.
    if let Err(e) = flush_clock(conn) {
        return (replies, Err(format!("cannot raise the compliance clock: {e}")));
    }
    (replies, Ok(()))
}

thread_local! {
    /// On the writer thread while a batch runs: the highest instant its jobs raised the
    /// compliance clock to, written once before the batch's `COMMIT` ([`flush_clock`]) instead
    /// of by every job (one statement and one savepoint-journalled page less per PUT, #17).
    /// `None` elsewhere: [`bump_clock`] writes at once.
    static BATCH_CLOCK: std::cell::Cell<Option<i64>> = const { std::cell::Cell::new(None) };
}

/// Raises the persisted compliance-clock high-water mark within the current transaction (in
/// a writer batch: before its `COMMIT`, in the same transaction). A job rolled back after
/// this still raises it: its `now` was read from the clock all the same, and the mark is only
/// a lower bound of the time.
fn bump_clock(conn: &Connection, now: holdfast_lock::UtcMillis) -> MetaResult<()> {
    let deferred = BATCH_CLOCK.with(|c| c.get().map(|high| c.set(Some(high.max(now.millis())))).is_some());
    if deferred { Ok(()) } else { write_clock(conn, now.millis()) }
}

fn write_clock(conn: &Connection, millis: i64) -> MetaResult<()> {
    conn.prepare_cached(
        "INSERT INTO clock (id, high_water_ms) VALUES (1, ?1)
         ON CONFLICT (id) DO UPDATE SET high_water_ms = max(high_water_ms, excluded.high_water_ms)",
    )?
    .execute([millis])?;
    Ok(())
}

/// Starts deferring [`bump_clock`] to [`flush_clock`] (the writer, after `BEGIN`).
fn defer_clock() {
    BATCH_CLOCK.with(|c| c.set(Some(i64::MIN)));
}

/// Writes what the batch's jobs raised the clock to, if anything, and stops deferring.
fn flush_clock(conn: &Connection) -> MetaResult<()> {
    match BATCH_CLOCK.with(|c| c.take()) {
        Some(high) if high > i64::MIN => write_clock(conn, high),
        _ => Ok(()),
    }
}

/// A trigger refusal surfaces as an SQLite constraint error; keep its meaning.
fn worm_guard(e: rusqlite::Error) -> MetaError {
    let msg = e.to_string();
    if msg.contains("WORM guard") {
        tracing::error!(%msg, "database WORM guard refused a change the lock rules allowed");
        MetaError::Locked(holdfast_lock::LockDenied::Compliance)
    } else {
        MetaError::from(e)
    }
}

#[async_trait::async_trait]
impl crate::MetaStore for SqliteMeta {
    async fn create_bucket(&self, name: &str, lock_enabled: bool, now: UtcMillis) -> MetaResult<()> {
        let name = name.to_owned();
        self.write(move |c| buckets::create(c, &name, lock_enabled, now)).await
    }

    async fn bucket(&self, name: &str) -> MetaResult<Option<Bucket>> {
        let owned = name.to_owned();
        match self.cached(CacheKind::Bucket, name, move |c| Ok(Cached::Bucket(buckets::get(c, &owned)?))).await? {
            Cached::Bucket(b) => Ok(b),
            Cached::Text(_) => Err(MetaError::Internal("bucket cache holds the wrong kind".into())),
        }
    }

    async fn buckets(&self) -> MetaResult<Vec<Bucket>> {
        self.read(buckets::all).await
    }

    async fn delete_bucket(&self, name: &str) -> MetaResult<()> {
        let name = name.to_owned();
        let now = UtcMillis::now_system();
        self.write(move |c| {
            buckets::require_empty(c, &name)?;
            // Uploads in progress go with the bucket.
            multipart::drop_bucket_uploads(c, &name, now)?;
            buckets::delete(c, &name)
        })
        .await
    }

    async fn set_versioning(&self, name: &str, versioning: Versioning) -> MetaResult<()> {
        let name = name.to_owned();
        self.write(move |c| buckets::set_versioning(c, &name, versioning)).await
    }

    async fn set_lock_configuration(&self, name: &str, default: Option<DefaultRetention>) -> MetaResult<()> {
        let name = name.to_owned();
        self.write(move |c| buckets::set_lock_configuration(c, &name, default)).await
    }

    async fn put_version(
        &self,
        v: NewVersion,
        tags: TagSet,
        cond: WriteConditions,
        now: UtcMillis,
    ) -> MetaResult<VersionRecord> {
        self.write_object(move |c| tags::put_version(c, &v, &tags, &cond, now)).await
    }

    async fn version(&self, bucket: &str, key: &str, sel: &VersionSelector) -> MetaResult<VersionRecord> {
        if *sel == VersionSelector::Latest {
            let mut rec = self.latest_for_read(bucket, key).await?.0;
            rec.replication = None;
            return Ok(rec);
        }
        let (bucket, key, sel) = (bucket.to_owned(), key.to_owned(), sel.clone());
        self.read(move |c| objects::resolve_content(c, &bucket, &key, &sel)).await
    }

    async fn version_for_read(
        &self,
        bucket: &str,
        key: &str,
        sel: &VersionSelector,
        with_tags: bool,
    ) -> MetaResult<(VersionRecord, Option<TagSet>)> {
        if *sel == VersionSelector::Latest {
            let (rec, tags) = self.latest_for_read(bucket, key).await?;
            let tags = (with_tags && !rec.is_delete_marker()).then_some(tags);
            return Ok((rec, tags));
        }
        let (bucket, key, sel) = (bucket.to_owned(), key.to_owned(), sel.clone());
        self.read(move |c| {
            let mut rec = objects::resolve_content(c, &bucket, &key, &sel)?;
            let tags = (with_tags && !rec.is_delete_marker()).then(|| tags::of_seq(c, rec.seq)).transpose()?;
            rec.replication = replication::status(c, &bucket, &key, &rec.version_id)?;
            Ok((rec, tags))
        })
        .await
    }

    fn stores_inline(&self) -> bool {
        true
    }

    async fn delete(
        &self,
        bucket: &str,
        key: &str,
        sel: &VersionSelector,
        bypass: Bypass,
        now: UtcMillis,
    ) -> MetaResult<DeleteOutcome> {
        let (bucket, key, sel) = (bucket.to_owned(), key.to_owned(), sel.clone());
        self.write_object(move |c| objects::delete(c, &bucket, &key, &sel, bypass, now)).await
    }

    async fn set_retention(
        &self,
        bucket: &str,
        key: &str,
        sel: &VersionSelector,
        retention: Option<Retention>,
        bypass: Bypass,
        now: UtcMillis,
    ) -> MetaResult<VersionRecord> {
        let (bucket, key, sel) = (bucket.to_owned(), key.to_owned(), sel.clone());
        self.write_object(move |c| objects::set_retention(c, &bucket, &key, &sel, retention, bypass, now)).await
    }

    async fn set_legal_hold(
        &self,
        bucket: &str,
        key: &str,
        sel: &VersionSelector,
        hold: LegalHold,
    ) -> MetaResult<VersionRecord> {
        let (bucket, key, sel) = (bucket.to_owned(), key.to_owned(), sel.clone());
        let now = UtcMillis::now_system();
        self.write_object(move |c| objects::set_legal_hold(c, &bucket, &key, &sel, hold, now)).await
    }

    async fn list_objects(&self, q: ListQuery) -> MetaResult<ListPage> {
        self.read(move |c| listing::list_objects(c, &q)).await
    }

    async fn list_versions(&self, q: ListQuery) -> MetaResult<ListPage> {
        self.read(move |c| listing::list_versions(c, &q)).await
    }

    async fn create_upload(&self, upload: Upload) -> MetaResult<()> {
        self.write_object(move |c| multipart::create(c, &upload)).await
    }

    async fn upload(&self, bucket: &str, key: &str, upload_id: &str) -> MetaResult<Upload> {
        let (bucket, key, id) = (bucket.to_owned(), key.to_owned(), upload_id.to_owned());
        self.read(move |c| multipart::get(c, &bucket, &key, &id)).await
    }

    async fn put_part(&self, bucket: &str, key: &str, upload_id: &str, part: Part) -> MetaResult<()> {
        let (bucket, key, id) = (bucket.to_owned(), key.to_owned(), upload_id.to_owned());
        let now = UtcMillis::now_system();
        self.write_object(move |c| multipart::put_part(c, &bucket, &key, &id, &part, now)).await
    }

    async fn parts(&self, upload_id: &str, after: u32, max: usize) -> MetaResult<(Vec<Part>, bool)> {
        let id = upload_id.to_owned();
        self.read(move |c| multipart::parts(c, &id, after, max)).await
    }

    async fn list_uploads(&self, q: UploadListQuery) -> MetaResult<UploadPage> {
        self.read(move |c| multipart::list(c, &q)).await
    }

    async fn complete_upload(
        &self,
        upload: &Upload,
        object: ObjectData,
        cond: WriteConditions,
        now: UtcMillis,
    ) -> MetaResult<VersionRecord> {
        let upload = upload.clone();
        self.write_object(move |c| tags::complete(c, &upload, &object, &cond, now)).await
    }

    async fn completed_upload(&self, bucket: &str, key: &str, upload_id: &str) -> MetaResult<Option<VersionRecord>> {
        let (bucket, key, id) = (bucket.to_owned(), key.to_owned(), upload_id.to_owned());
        self.read(move |c| multipart::completed(c, &bucket, &key, &id)).await
    }

    async fn abort_upload(&self, bucket: &str, key: &str, upload_id: &str) -> MetaResult<()> {
        let (bucket, key, id) = (bucket.to_owned(), key.to_owned(), upload_id.to_owned());
        let now = UtcMillis::now_system();
        self.write_object(move |c| multipart::abort(c, &bucket, &key, &id, now)).await
    }

    async fn gc_candidates(&self, before: UtcMillis, limit: usize) -> MetaResult<Vec<String>> {
        self.read(move |c| gc::candidates(c, before, limit)).await
    }

    async fn gc_done(&self, blobs: Vec<String>) -> MetaResult<()> {
        self.write_unrecorded(move |c| gc::done(c, &blobs)).await
    }

    async fn unknown_blobs(&self, blobs: Vec<String>) -> MetaResult<Vec<String>> {
        self.read(move |c| gc::unknown(c, blobs)).await
    }

    async fn clock_high_water(&self) -> MetaResult<UtcMillis> {
        self.read(gc::clock_high_water).await
    }

    async fn put_bucket_config(&self, bucket: &str, kind: BucketConfigKind, doc: Option<String>) -> MetaResult<()> {
        let bucket = bucket.to_owned();
        self.write(move |c| events::put_config(c, &bucket, kind, doc.as_deref())).await
    }

    async fn bucket_config(&self, bucket: &str, kind: BucketConfigKind) -> MetaResult<Option<String>> {
        // Documents change through `write` (which empties the cache before answering) or
        // through another process (`holdfast admin bucket quota`: forgotten within
        // EXTERNAL_CHANGE_WINDOW, which that command waits out).
        let owned = bucket.to_owned();
        match self
            .cached(CacheKind::Config(kind), bucket, move |c| Ok(Cached::Text(events::config(c, &owned, kind)?)))
            .await?
        {
            Cached::Text(doc) => Ok(doc),
            Cached::Bucket(_) => Err(MetaError::Internal("bucket cache holds the wrong kind".into())),
        }
    }

    async fn swap_bucket_config(
        &self,
        bucket: &str,
        kind: BucketConfigKind,
        expected: Option<String>,
        doc: Option<String>,
    ) -> MetaResult<bool> {
        let bucket = bucket.to_owned();
        self.write(move |c| {
            // One writer at a time: the read and the write are one transaction.
            if events::config(c, &bucket, kind)? != expected {
                return Ok(false);
            }
            events::put_config(c, &bucket, kind, doc.as_deref())?;
            Ok(true)
        })
        .await
    }

    async fn claim_replications(
        &self,
        now: UtcMillis,
        lease_ms: i64,
        limit: usize,
    ) -> MetaResult<Vec<QueuedReplication>> {
        self.write_unrecorded(move |c| replication::claim(c, now, lease_ms, limit)).await
    }

    async fn settle_replications(&self, outcomes: Vec<(QueuedReplication, ReplicationOutcome)>) -> MetaResult<()> {
        self.write_unrecorded(move |c| replication::settle(c, &outcomes)).await
    }

    async fn put_replica(&self, r: ReplicaVersion, now: UtcMillis) -> MetaResult<ReplicaWrite> {
        if r.object.as_ref().is_some_and(|o| o.inline.is_some() && !o.segments.is_empty()) {
            return Err(MetaError::Internal("inline bytes must be the whole object".into()));
        }
        self.write_object(move |c| replication::put_replica(c, &r, now)).await
    }

    async fn complete_replica_upload(
        &self,
        upload: &Upload,
        r: ReplicaVersion,
        now: UtcMillis,
    ) -> MetaResult<ReplicaWrite> {
        let upload = upload.clone();
        self.write_object(move |c| multipart::complete_replica(c, &upload, &r, now)).await
    }

    async fn requeue_replication(
        &self,
        bucket: &str,
        prefix: &str,
        after: i64,
        limit: usize,
        now: UtcMillis,
    ) -> MetaResult<(u64, Option<i64>)> {
        let (bucket, prefix) = (bucket.to_owned(), prefix.to_owned());
        self.write_object(move |c| replication::requeue(c, &bucket, &prefix, after, limit, now)).await
    }

    async fn remote_version(
        &self,
        destination: &str,
        bucket: &str,
        key: &str,
        version_id: &str,
    ) -> MetaResult<Option<String>> {
        let ids = [destination, bucket, key, version_id].map(str::to_owned);
        self.read(move |c| replication::remote_version(c, &ids)).await
    }

    async fn set_remote_version(
        &self,
        destination: &str,
        bucket: &str,
        key: &str,
        version_id: &str,
        remote_version_id: &str,
    ) -> MetaResult<()> {
        let ids = [destination, bucket, key, version_id, remote_version_id].map(str::to_owned);
        self.write_unrecorded(move |c| replication::set_remote_version(c, &ids)).await
    }

    async fn replication_backlog(&self, bucket: Option<&str>) -> MetaResult<Vec<ReplicationBacklog>> {
        let bucket = bucket.map(str::to_owned);
        self.read(move |c| replication::backlog(c, bucket.as_deref())).await
    }

    async fn event_backlog(&self) -> MetaResult<Vec<crate::EventBacklog>> {
        self.read(events::backlog).await
    }

    async fn claim_events(&self, now: UtcMillis, lease_ms: i64, limit: usize) -> MetaResult<Vec<QueuedEvent>> {
        self.write_unrecorded(move |c| events::claim(c, now, lease_ms, limit)).await
    }

    async fn settle_events(&self, outcomes: Vec<(i64, Settlement)>) -> MetaResult<()> {
        self.write_unrecorded(move |c| events::settle(c, &outcomes)).await
    }

    async fn lifecycle_delete(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
        action: LifecycleAction,
        now: UtcMillis,
    ) -> MetaResult<DeleteOutcome> {
        let (bucket, key, id) = (bucket.to_owned(), key.to_owned(), version_id.to_owned());
        self.write_object(move |c| objects::lifecycle_delete(c, &bucket, &key, &id, action, now)).await
    }

    async fn lock_report(&self, bucket: Option<&str>, now: UtcMillis) -> MetaResult<Vec<LockReport>> {
        let bucket = bucket.map(str::to_owned);
        self.read(move |c| report::lock_report(c, bucket.as_deref(), now)).await
    }

    async fn lock_history(
        &self,
        bucket: &str,
        key: &str,
        sel: &VersionSelector,
        q: crate::LockHistoryQuery,
    ) -> MetaResult<crate::LockHistory> {
        let (bucket, key, sel) = (bucket.to_owned(), key.to_owned(), sel.clone());
        self.read(move |c| lock_history::read(c, &bucket, &key, &sel, q)).await
    }

    async fn bucket_usage(&self, bucket: &str) -> MetaResult<crate::Tally> {
        let bucket = bucket.to_owned();
        self.read(move |c| {
            buckets::require(c, &bucket)?;
            usage::of(c, &bucket)
        })
        .await
    }

    async fn version_tags(
        &self,
        bucket: &str,
        key: &str,
        sel: &VersionSelector,
    ) -> MetaResult<(VersionRecord, TagSet)> {
        let (bucket, key, sel) = (bucket.to_owned(), key.to_owned(), sel.clone());
        self.read(move |c| tags::get(c, &bucket, &key, &sel)).await
    }

    async fn set_version_tags(
        &self,
        bucket: &str,
        key: &str,
        sel: &VersionSelector,
        tags: TagSet,
    ) -> MetaResult<VersionRecord> {
        let (bucket, key, sel) = (bucket.to_owned(), key.to_owned(), sel.clone());
        self.write_object(move |c| tags::set(c, &bucket, &key, &sel, &tags)).await
    }

    async fn set_upload_tags(&self, bucket: &str, key: &str, upload_id: &str, tags: TagSet) -> MetaResult<()> {
        let (bucket, key, id) = (bucket.to_owned(), key.to_owned(), upload_id.to_owned());
        self.write_object(move |c| tags::set_upload(c, &bucket, &key, &id, &tags)).await
    }

    async fn key_tags(&self, bucket: &str, key: &str) -> MetaResult<Vec<(String, TagSet)>> {
        let (bucket, key) = (bucket.to_owned(), key.to_owned());
        self.read(move |c| tags::of_key(c, &bucket, &key)).await
    }

    async fn put_lock_job(&self, job: LockJob) -> MetaResult<LockJob> {
        self.write_unrecorded(move |c| lock_jobs::put(c, &job)).await
    }

    async fn lock_jobs(&self, id: Option<&str>) -> MetaResult<Vec<LockJob>> {
        let id = id.map(str::to_owned);
        self.read(move |c| lock_jobs::list(c, id.as_deref())).await
    }

    async fn update_lock_job(&self, id: &str, change: LockJobChange) -> MetaResult<Option<LockJob>> {
        let id = id.to_owned();
        self.write_unrecorded(move |c| lock_jobs::update(c, &id, &change)).await
    }

    async fn add_lock_job_tasks(&self, id: &str, tasks: Vec<LockJobTask>) -> MetaResult<()> {
        let id = id.to_owned();
        self.write_unrecorded(move |c| lock_jobs::add_tasks(c, &id, &tasks)).await
    }

    async fn lock_job_tasks(&self, id: &str, after: i64, limit: usize) -> MetaResult<Vec<LockJobTask>> {
        let id = id.to_owned();
        self.read(move |c| lock_jobs::tasks(c, &id, after, limit)).await
    }

    async fn run_lock_job_batch(&self, batch: LockJobBatch) -> MetaResult<Option<Vec<(i64, TaskResult)>>> {
        // Unrecorded as a whole: each task's change commits its own record (its actor is
        // the job's creator), in this same transaction.
        self.write_unrecorded(move |c| lock_jobs::run_batch(c, &batch)).await
    }

    async fn audit_append(&self, records: Vec<String>) -> MetaResult<Vec<i64>> {
        self.write_unrecorded(move |c| audit::append(c, &records)).await
    }

    async fn audit_pending(&self, limit: usize) -> MetaResult<Vec<(i64, String)>> {
        self.read(move |c| audit::pending(c, limit)).await
    }

    async fn audit_backlog(&self) -> MetaResult<Vec<String>> {
        self.read(|c| Ok(audit::pending(c, usize::MAX)?.into_iter().map(|(_, r)| r).collect())).await
    }

    async fn audit_remove(&self, ids: Vec<i64>) -> MetaResult<()> {
        self.write_unrecorded(move |c| audit::remove(c, &ids)).await
    }
}

#[cfg(test)]
mod read_pool_tests {
    use super::*;

    /// A burst's extra readers are closed once unused for the keep time; the one in use stays.
    #[test]
    fn idle_readers_unused_for_the_keep_time_are_closed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta.db");
        Connection::open(&path).unwrap().execute_batch("PRAGMA journal_mode=WAL; CREATE TABLE t (x);").unwrap();
        let pool = ReadPool { path, idle: Mutex::default(), durability: Arc::default(), keep: Duration::from_secs(1) };
        let idle = |p: &ReadPool| p.idle.lock().unwrap().len();
        // Three readers at once (a burst), all kept idle afterwards.
        pool.with(|_| pool.with(|_| pool.with(|_| Ok(())))).unwrap();
        assert_eq!(idle(&pool), 3);
        // Used again within the keep time: nothing closed.
        pool.with(|_| Ok(())).unwrap();
        assert_eq!(idle(&pool), 3);
        std::thread::sleep(Duration::from_millis(1300));
        // The next use takes the most recent one and closes the two left unused.
        pool.with(|c| Ok(c.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0))?)).unwrap();
        assert_eq!(idle(&pool), 1);
    }
}

#[cfg(test)]
mod clock_tests {
    use super::*;
    use crate::MetaStore;

    fn high_water(path: &Path) -> Option<i64> {
        use rusqlite::OptionalExtension;
        let conn = Connection::open(path).unwrap();
        conn.query_row("SELECT high_water_ms FROM clock WHERE id = 1", [], |r| r.get(0)).optional().unwrap()
    }

    /// Outside a writer batch (a plain connection) the clock is written at once.
    #[test]
    fn outside_a_batch_the_clock_is_raised_at_once() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(schema::SCHEMA).unwrap();
        bump_clock(&conn, UtcMillis(5)).unwrap();
        bump_clock(&conn, UtcMillis(3)).unwrap();
        let got: i64 = conn.query_row("SELECT high_water_ms FROM clock", [], |r| r.get(0)).unwrap();
        assert_eq!(got, 5);
    }

    /// In a batch, each job's raise is written once before the COMMIT, in its transaction: the
    /// highest instant of the batch; one that is lower never moves the mark back. A job rolled
    /// back after raising it still raised it (its instant was read from the clock).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_raises_the_clock_once_to_its_highest_instant() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta.db");
        let s = Arc::new(SqliteMeta::open(&path).unwrap());
        let base = 1_900_000_000_000_i64;
        let mut tasks = Vec::new();
        for i in 0..32_i64 {
            let s = Arc::clone(&s);
            tasks.push(tokio::spawn(async move {
                s.write_unrecorded(move |c| bump_clock(c, UtcMillis(base + i * 7 % 32))).await.unwrap();
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(high_water(&path), Some(base + 31));
        s.write_unrecorded(move |c| bump_clock(c, UtcMillis(base))).await.unwrap();
        assert_eq!(high_water(&path), Some(base + 31), "never moves back");
        let failed = s
            .write_unrecorded(move |c| {
                bump_clock(c, UtcMillis(base + 100))?;
                Err::<(), _>(MetaError::Internal("the job fails after raising the clock".into()))
            })
            .await;
        assert!(failed.is_err());
        assert_eq!(high_water(&path), Some(base + 100));
        assert_eq!(s.clock_high_water().await.unwrap(), UtcMillis(base + 100));
    }
}
