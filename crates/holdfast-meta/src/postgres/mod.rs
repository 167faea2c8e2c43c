//! The scale-out metadata store: PostgreSQL, shared by several stateless gateways.
//!
//! Every check-and-mutate runs in one READ COMMITTED transaction that first takes row
//! locks on what it decides about, always in the same order, so concurrent gateways
//! serialize exactly where they must and nowhere else:
//!
//! 1. the bucket row: `FOR KEY SHARE` by object writes (many at once), `FOR UPDATE` by
//!    bucket changes (versioning, lock configuration, deletion);
//! 2. an upload row `FOR UPDATE` (parts, completion, abort);
//! 3. the key's `latest` row `FOR UPDATE`: every change to a key's versions holds it, so
//!    the reads that follow see the key's committed history and nobody else changes it.
//!    A key that has no `latest` row yet is claimed by inserting one; a transaction that
//!    loses that race is retried from the start and then sees the winner's version.
//!
//! The whole transaction is retried on serialization failure (SQLSTATE 40001), deadlock
//! (40P01) and a lost insert race, so a serializable engine (CockroachDB, YugabyteDB) can
//! stand in. No advisory locks, no LISTEN/NOTIFY. Keys are `bytea` (byte order); names
//! that are ordered are `COLLATE "C"`. Triggers refuse a second time what the lock rules
//! refuse, judged by the database server's clock.

mod audit;
mod buckets;
mod clock;
mod events;
mod gc;
mod group_commit;
mod guards;
mod identity;
mod index_plans;
mod inline;
mod lease;
mod listed;
mod listing;
mod lock_history;
mod lock_jobs;
mod multipart;
mod objects;
mod outbox_vacuum;
mod put_audit;
mod put_listed;
mod put_sql;
mod replication;
mod report;
mod rows;
mod schema;
mod single;
mod tags;
pub mod tls;

use crate::model::*;
use crate::store::GatewayClock;
use crate::{BucketConfigKind, LifecycleAction, LockReport, MetaError, MetaResult, QueuedEvent, Settlement, TagSet};
use crate::{LockJob, LockJobBatch, LockJobChange, LockJobTask, TaskResult};
use crate::{QueuedReplication, ReplicaVersion, ReplicaWrite, ReplicationBacklog, ReplicationOutcome};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use holdfast_lock::{Bypass, DefaultRetention, LegalHold, Retention, UtcMillis};
use std::str::FromStr;
use std::time::Duration;
use tokio_postgres::error::SqlState;

pub use schema::SCHEMA_VERSION;

/// Attempts of one transaction before a persistent conflict is reported.
const MAX_ATTEMPTS: u32 = 12;

/// A transaction of the pool's connections.
pub(crate) type Tx<'a> = deadpool_postgres::Transaction<'a>;

/// How a gateway connects.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// `postgres://user:password@host:port/database` (libpq URL or key=value form).
    pub url: String,
    /// Connections this gateway keeps open.
    pub pool_size: usize,
    /// This gateway's name in the shared clock tables (unique per process).
    pub gateway: String,
    /// How long to wait for the database when opening.
    pub connect_timeout: Duration,
    /// Restore WORM guards changed outside Holdfast instead of refusing to open.
    pub accept_tamper: bool,
    /// Check the WORM guards at open (a gateway); off for `holdfast admin`, which reports on
    /// a tampered store instead of refusing or repairing it.
    pub check_guards: bool,
    /// The CA that signed the database's certificate (PEM), when the URL names no
    /// `sslrootcert` (see [`tls`] for what each `sslmode` checks).
    pub ca_file: Option<std::path::PathBuf>,
}

impl PgOptions {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            pool_size: 16,
            gateway: format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple()),
            connect_timeout: Duration::from_secs(10),
            accept_tamper: false,
            check_guards: true,
            ca_file: None,
        }
    }
}

/// Which row lock a lookup takes (see the module documentation for the order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RowLock {
    None,
    /// Keeps the row (and its key) from changing or going away; shared.
    KeyShare,
    Update,
}

impl RowLock {
    pub(crate) const fn sql(self) -> &'static str {
        match self {
            Self::None => "",
            Self::KeyShare => " FOR KEY SHARE",
            Self::Update => " FOR UPDATE",
        }
    }
}

pub struct PgMeta {
    pool: Pool,
    gateway: String,
    /// The audit chain this process's records go to (`gw-<n>`), set once at start.
    chain: std::sync::Arc<std::sync::OnceLock<String>>,
    /// PUTs committed in groups (one transaction, one WAL flush for many).
    group: group_commit::GroupCommit,
    /// Rows removed from the audit outbox since its last vacuum.
    outbox: outbox_vacuum::OutboxVacuum,
    /// What was wrong with the WORM guards when they were restored at open (accepted).
    tampered: Option<Vec<String>>,
}

/// What a step inside a transaction can end with.
#[derive(Debug)]
pub(crate) enum Fail {
    /// A domain refusal or failure: the transaction rolls back and the caller gets it.
    Meta(MetaError),
    Db(tokio_postgres::Error),
    /// Another transaction won a race this one cannot wait for (it inserted the same
    /// `latest` row first): run the whole transaction again.
    Retry,
}

impl From<MetaError> for Fail {
    fn from(e: MetaError) -> Self {
        Self::Meta(e)
    }
}

impl From<tokio_postgres::Error> for Fail {
    fn from(e: tokio_postgres::Error) -> Self {
        Self::Db(e)
    }
}

impl From<holdfast_lock::LockDenied> for Fail {
    fn from(e: holdfast_lock::LockDenied) -> Self {
        Self::Meta(MetaError::Locked(e))
    }
}

impl From<serde_json::Error> for Fail {
    fn from(e: serde_json::Error) -> Self {
        Self::Meta(e.into())
    }
}

impl From<deadpool_postgres::PoolError> for Fail {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        Self::Meta(MetaError::Internal(format!("no database connection: {e}")))
    }
}

/// The SQLSTATE the WORM guard triggers raise.
pub(crate) const WORM_GUARD_STATE: &str = "HFW01";

impl Fail {
    fn retryable(&self) -> bool {
        match self {
            Self::Retry => true,
            Self::Db(e) => {
                matches!(e.code(), Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED)
            }
            Self::Meta(_) => false,
        }
    }

    fn into_meta(self) -> MetaError {
        match self {
            Self::Meta(e) => e,
            Self::Retry => MetaError::ConditionalConflict,
            Self::Db(e) if e.code().map(SqlState::code) == Some(WORM_GUARD_STATE) => {
                tracing::error!(error = %e, "database WORM guard refused a change the lock rules allowed");
                MetaError::Locked(holdfast_lock::LockDenied::Compliance)
            }
            Self::Db(e) => MetaError::Internal(format!("metadata database: {}", db_message(&e))),
        }
    }
}

/// An error's text including the server's message (tokio-postgres' Display omits it).
fn db_message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        // A failed TLS handshake says why only in its source (e.g. the certificate's fault).
        None => match std::error::Error::source(e) {
            Some(cause) => format!("{e}: {cause}"),
            None => e.to_string(),
        },
    }
}

/// The URL without its password, for messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &url[s + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}{}:***{}", &url[..s + 3], user, &url[at..])
        }
        _ => url.to_owned(),
    }
}

/// Runs `$body` (an expression that may use `$tx` and `?` with [`Fail`]) in one
/// transaction of `$iso`, committing at the end; retries the whole transaction on a
/// serialization failure, a deadlock or a lost race.
macro_rules! transaction {
    ($meta:expr, $iso:expr, |$tx:ident| $body:expr) => {{
        let mut attempt: u32 = 0;
        loop {
            let outcome: Result<_, $crate::postgres::Fail> = async {
                let mut client = $meta.pool.get().await?;
                let $tx = client.build_transaction().isolation_level($iso).start().await?;
                let value = $body;
                $tx.commit().await?;
                Ok(value)
            }
            .await;
            match $crate::postgres::settle(outcome, &mut attempt).await {
                Some(result) => break result,
                None => continue,
            }
        }
    }};
}

/// A write: READ COMMITTED, row locks taken by the body. With an actor in scope
/// ([`holdfast_audit::scope`]) the change's audit record is inserted into the outbox before
/// the commit, in the same transaction, and the actor learns its id after it.
macro_rules! write {
    ($meta:expr, |$tx:ident| $body:expr) => {{
        $crate::request_view::drop_held();
        let actor = holdfast_audit::scope::current();
        let (value, record) =
            $crate::postgres::transaction!($meta, tokio_postgres::IsolationLevel::ReadCommitted, |$tx| {
                let (value, facts) =
                    $crate::trail::collect_async(async { Ok::<_, $crate::postgres::Fail>($body) }).await;
                let value = value?;
                let record = match &actor {
                    Some(cell) => {
                        Some($crate::postgres::audit::insert(&$tx, &$meta.audit_chain(), &cell.actor(), facts).await?)
                    }
                    None => None,
                };
                (value, record)
            })?;
        if let (Some(cell), Some(id)) = (&actor, record) {
            cell.add_committed(id);
        }
        Ok(value)
    }};
}

/// A housekeeping write (the outbox itself, collection, event delivery): never recorded.
macro_rules! write_unrecorded {
    ($meta:expr, |$tx:ident| $body:expr) => {{
        $crate::request_view::drop_held();
        $crate::postgres::transaction!($meta, tokio_postgres::IsolationLevel::ReadCommitted, |$tx| $body)
    }};
}

/// A read: one snapshot for every statement of the body.
macro_rules! read {
    ($meta:expr, |$tx:ident| $body:expr) => {
        $crate::postgres::transaction!($meta, tokio_postgres::IsolationLevel::RepeatableRead, |$tx| $body)
    };
}

pub(crate) use {read, transaction, write};

/// Decides what follows an attempt: `Some` to return, `None` to run it again.
pub(crate) async fn settle<T>(outcome: Result<T, Fail>, attempt: &mut u32) -> Option<MetaResult<T>> {
    match outcome {
        Ok(v) => Some(Ok(v)),
        Err(e) if e.retryable() && *attempt + 1 < MAX_ATTEMPTS => {
            *attempt += 1;
            // Exponential backoff with jitter: 1 ms, 2 ms, ... up to 128 ms.
            let cap = 1u64 << (*attempt).min(7);
            let ms = rand::random_range(0..=cap);
            tracing::debug!(attempt = *attempt, "metadata transaction conflicted; retrying");
            tokio::time::sleep(Duration::from_millis(ms)).await;
            None
        }
        Err(e) => Some(Err(e.into_meta())),
    }
}

/// What every gateway session runs with (the connection's startup options, after any the
/// database URL gives): `holdfast.writer` marks it as a gateway's (guards.rs);
/// `enable_seqscan = off` makes the planner take a statement's index over a scan it costed
/// from statistics gathered while the table was tiny (index_plans.rs).
const SESSION_SETTINGS: &str = "-c holdfast.writer=on -c enable_seqscan=off";

impl PgMeta {
    /// Connects, creates or migrates the schema, and checks that it is not newer than this
    /// build. Fails with a clear message when the database cannot be reached.
    pub async fn open(options: PgOptions) -> MetaResult<Self> {
        let shown = redact_url(&options.url);
        let (url, tls_choice) = tls::split_url(&options.url, options.ca_file.as_deref())?;
        let tls = tls::connector(&tls_choice)?;
        let mut config = tokio_postgres::Config::from_str(&url)
            .map_err(|e| MetaError::Internal(format!("invalid database URL {shown}: {e}")))?;
        config.connect_timeout(options.connect_timeout);
        if config.get_application_name().is_none() {
            config.application_name("holdfast");
        }
        // Marks this gateway's sessions: only they may release a legal hold (guards.rs). And
        // keeps their statements on their indexes (index_plans.rs: a plan a connection cached
        // while a table was tiny scanned the whole table on every GET as it grew, #17).
        let startup = match config.get_options() {
            Some(o) => format!("{o} {SESSION_SETTINGS}"),
            None => SESSION_SETTINGS.to_owned(),
        };
        config.options(&startup);
        let tampered;
        let manager = Manager::from_config(config, tls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager)
            .max_size(options.pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_secs(30)))
            .create_timeout(Some(options.connect_timeout))
            .build()
            .map_err(|e| MetaError::Internal(format!("cannot build the connection pool: {e}")))?;
        {
            let mut client = pool.get().await.map_err(|e| {
                let detail = match &e {
                    deadpool_postgres::PoolError::Backend(db) => db_message(db),
                    other => other.to_string(),
                };
                MetaError::Internal(format!("cannot reach the metadata database at {shown}: {detail}"))
            })?;
            schema::migrate(&mut client).await?;
            tampered =
                if options.check_guards { guards::check_at_start(&client, options.accept_tamper).await? } else { None };
        }
        Ok(Self {
            pool,
            gateway: options.gateway,
            chain: Default::default(),
            group: group_commit::GroupCommit::new(),
            outbox: outbox_vacuum::OutboxVacuum::default(),
            tampered,
        })
    }

    /// This gateway's name in the shared tables.
    pub fn gateway(&self) -> &str {
        &self.gateway
    }

    /// The audit chain this process writes (`default` until the server names it).
    pub(crate) fn audit_chain(&self) -> String {
        self.chain.get().cloned().unwrap_or_else(|| "default".to_owned())
    }
}

#[async_trait::async_trait]
impl crate::MetaStore for PgMeta {
    async fn create_bucket(&self, name: &str, lock_enabled: bool, now: UtcMillis) -> MetaResult<()> {
        write!(self, |tx| buckets::create(&tx, name, lock_enabled, now).await?)
    }

    async fn bucket(&self, name: &str) -> MetaResult<Option<Bucket>> {
        single::bucket(self, name).await
    }

    async fn buckets(&self) -> MetaResult<Vec<Bucket>> {
        read!(self, |tx| buckets::all(&tx).await?)
    }

    async fn delete_bucket(&self, name: &str) -> MetaResult<()> {
        let now = UtcMillis::now_system();
        write!(self, |tx| {
            buckets::require_empty(&tx, name).await?;
            // Uploads in progress go with the bucket.
            multipart::drop_bucket_uploads(&tx, name, now).await?;
            buckets::delete(&tx, name).await?
        })
    }

    async fn set_versioning(&self, name: &str, versioning: Versioning) -> MetaResult<()> {
        write!(self, |tx| buckets::set_versioning(&tx, name, versioning).await?)
    }

    async fn set_lock_configuration(&self, name: &str, default: Option<DefaultRetention>) -> MetaResult<()> {
        write!(self, |tx| buckets::set_lock_configuration(&tx, name, default).await?)
    }

    async fn put_version(
        &self,
        v: NewVersion,
        tags: TagSet,
        cond: WriteConditions,
        now: UtcMillis,
    ) -> MetaResult<VersionRecord> {
        inline::check(&v.object)?;
        crate::request_view::drop_held();
        let actor = holdfast_audit::scope::current();
        let req = group_commit::Request { v, tags, cond, now };
        let req = match self.group.put(&self.pool, &self.chain, req, actor.clone()).await {
            group_commit::Answer::Done(result) => {
                let (rec, record) = result?;
                if let (Some(cell), Some(id)) = (&actor, record) {
                    cell.add_committed(id);
                }
                return Ok(*rec);
            }
            group_commit::Answer::Slow(req) => *req,
        };
        let group_commit::Request { v, tags, cond, now } = req;
        write!(self, |tx| tags::put_version(&tx, &v, &tags, &cond, now).await?)
    }

    fn stores_inline(&self) -> bool {
        true
    }

    async fn version(&self, bucket: &str, key: &str, sel: &VersionSelector) -> MetaResult<VersionRecord> {
        read!(self, |tx| inline::resolve_content(&tx, bucket, key, sel).await?)
    }

    async fn delete(
        &self,
        bucket: &str,
        key: &str,
        sel: &VersionSelector,
        bypass: Bypass,
        now: UtcMillis,
    ) -> MetaResult<DeleteOutcome> {
        write!(self, |tx| objects::delete(&tx, bucket, key, sel, bypass, now).await?)
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
        write!(self, |tx| objects::set_retention(&tx, bucket, key, sel, retention, bypass, now).await?)
    }

    async fn set_legal_hold(
        &self,
        bucket: &str,
        key: &str,
        sel: &VersionSelector,
        hold: LegalHold,
    ) -> MetaResult<VersionRecord> {
        let now = UtcMillis::now_system();
        write!(self, |tx| objects::set_legal_hold(&tx, bucket, key, sel, hold, now).await?)
    }

    async fn list_objects(&self, q: ListQuery) -> MetaResult<ListPage> {
        read!(self, |tx| listing::list_objects(&tx, &q).await?)
    }

    async fn list_versions(&self, q: ListQuery) -> MetaResult<ListPage> {
        read!(self, |tx| listing::list_versions(&tx, &q).await?)
    }

    async fn create_upload(&self, upload: Upload) -> MetaResult<()> {
        write!(self, |tx| multipart::create(&tx, &upload).await?)
    }

    async fn upload(&self, bucket: &str, key: &str, upload_id: &str) -> MetaResult<Upload> {
        read!(self, |tx| multipart::get(&tx, bucket, key, upload_id, RowLock::None).await?)
    }

    async fn put_part(&self, bucket: &str, key: &str, upload_id: &str, part: Part) -> MetaResult<()> {
        let now = UtcMillis::now_system();
        write!(self, |tx| multipart::put_part(&tx, bucket, key, upload_id, &part, now).await?)
    }

    async fn parts(&self, upload_id: &str, after: u32, max: usize) -> MetaResult<(Vec<Part>, bool)> {
        read!(self, |tx| multipart::parts(&tx, upload_id, after, max).await?)
    }

    async fn list_uploads(&self, q: UploadListQuery) -> MetaResult<UploadPage> {
        read!(self, |tx| multipart::list(&tx, &q).await?)
    }

    async fn complete_upload(
        &self,
        upload: &Upload,
        object: ObjectData,
        cond: WriteConditions,
        now: UtcMillis,
    ) -> MetaResult<VersionRecord> {
        write!(self, |tx| tags::complete(&tx, upload, &object, &cond, now).await?)
    }

    async fn completed_upload(&self, bucket: &str, key: &str, upload_id: &str) -> MetaResult<Option<VersionRecord>> {
        read!(self, |tx| multipart::completed(&tx, bucket, key, upload_id).await?)
    }

    async fn abort_upload(&self, bucket: &str, key: &str, upload_id: &str) -> MetaResult<()> {
        let now = UtcMillis::now_system();
        write!(self, |tx| multipart::abort(&tx, bucket, key, upload_id, now).await?)
    }

    async fn gc_candidates(&self, before: UtcMillis, limit: usize) -> MetaResult<Vec<String>> {
        let now = UtcMillis::now_system();
        write_unrecorded!(self, |tx| gc::claim(&tx, before, limit, now).await?)
    }

    async fn gc_done(&self, blobs: Vec<String>) -> MetaResult<()> {
        write_unrecorded!(self, |tx| gc::done(&tx, &blobs).await?)
    }

    async fn unknown_blobs(&self, blobs: Vec<String>) -> MetaResult<Vec<String>> {
        read!(self, |tx| gc::unknown(&tx, &blobs).await?)
    }

    async fn clock_high_water(&self) -> MetaResult<UtcMillis> {
        read!(self, |tx| clock::high_water(&tx).await?)
    }

    async fn report_clock(&self, now: UtcMillis) -> MetaResult<Vec<GatewayClock>> {
        write_unrecorded!(self, |tx| clock::report(&tx, &self.gateway, now).await?)
    }

    fn shared(&self) -> bool {
        true
    }

    async fn put_lock_job(&self, job: LockJob) -> MetaResult<LockJob> {
        write_unrecorded!(self, |tx| lock_jobs::put(&tx, &job).await?)
    }

    async fn lock_jobs(&self, id: Option<&str>) -> MetaResult<Vec<LockJob>> {
        read!(self, |tx| lock_jobs::list(&tx, id).await?)
    }

    async fn update_lock_job(&self, id: &str, change: LockJobChange) -> MetaResult<Option<LockJob>> {
        write_unrecorded!(self, |tx| lock_jobs::update(&tx, id, &change).await?)
    }

    async fn add_lock_job_tasks(&self, id: &str, tasks: Vec<LockJobTask>) -> MetaResult<()> {
        write_unrecorded!(self, |tx| lock_jobs::add_tasks(&tx, id, &tasks).await?)
    }

    async fn lock_job_tasks(&self, id: &str, after: i64, limit: usize) -> MetaResult<Vec<LockJobTask>> {
        read!(self, |tx| lock_jobs::tasks(&tx, id, after, limit).await?)
    }

    async fn run_lock_job_batch(&self, batch: LockJobBatch) -> MetaResult<Option<Vec<(i64, TaskResult)>>> {
        // Each task's change inserts its own record (its actor is the job's creator).
        let chain = self.audit_chain();
        write_unrecorded!(self, |tx| lock_jobs::run_batch(&tx, &chain, &batch).await?)
    }

    async fn acquire_lease(&self, name: &str, holder: &str, ttl_ms: i64) -> MetaResult<bool> {
        write_unrecorded!(self, |tx| lease::acquire(&tx, name, holder, ttl_ms).await?)
    }

    async fn put_bucket_config(&self, bucket: &str, kind: BucketConfigKind, doc: Option<String>) -> MetaResult<()> {
        write!(self, |tx| events::put_config(&tx, bucket, kind, doc.as_deref()).await?)
    }

    async fn bucket_config(&self, bucket: &str, kind: BucketConfigKind) -> MetaResult<Option<String>> {
        single::config(self, bucket, kind).await
    }

    async fn swap_bucket_config(
        &self,
        bucket: &str,
        kind: BucketConfigKind,
        expected: Option<String>,
        doc: Option<String>,
    ) -> MetaResult<bool> {
        write!(self, |tx| events::swap_config(&tx, bucket, kind, expected.as_deref(), doc.as_deref()).await?)
    }

    async fn version_for_read(
        &self,
        bucket: &str,
        key: &str,
        sel: &VersionSelector,
        with_tags: bool,
    ) -> MetaResult<(VersionRecord, Option<TagSet>)> {
        read!(self, |tx| {
            let mut rec = inline::resolve_content(&tx, bucket, key, sel).await?;
            let tags =
                if with_tags && !rec.is_delete_marker() { Some(tags::of_seq(&tx, rec.seq).await?) } else { None };
            rec.replication = replication::status(&tx, bucket, key, &rec.version_id).await?;
            (rec, tags)
        })
    }

    async fn claim_replications(
        &self,
        now: UtcMillis,
        lease_ms: i64,
        limit: usize,
    ) -> MetaResult<Vec<QueuedReplication>> {
        write_unrecorded!(self, |tx| replication::claim(&tx, now, lease_ms, limit).await?)
    }

    async fn settle_replications(&self, outcomes: Vec<(QueuedReplication, ReplicationOutcome)>) -> MetaResult<()> {
        let chain = self.audit_chain();
        write_unrecorded!(self, |tx| replication::settle(&tx, &chain, &outcomes).await?)
    }

    async fn put_replica(&self, r: ReplicaVersion, now: UtcMillis) -> MetaResult<ReplicaWrite> {
        if let Some(object) = &r.object {
            inline::check(object)?;
        }
        write!(self, |tx| replication::put_replica(&tx, &r, now).await?)
    }

    async fn complete_replica_upload(
        &self,
        upload: &Upload,
        r: ReplicaVersion,
        now: UtcMillis,
    ) -> MetaResult<ReplicaWrite> {
        if r.object.as_ref().is_some_and(|o| o.inline.is_some()) {
            return Err(MetaError::Internal("a completed upload keeps no inline bytes".into()));
        }
        write!(self, |tx| multipart::complete_replica(&tx, upload, &r, now).await?)
    }

    async fn requeue_replication(
        &self,
        bucket: &str,
        prefix: &str,
        after: i64,
        limit: usize,
        now: UtcMillis,
    ) -> MetaResult<(u64, Option<i64>)> {
        write!(self, |tx| replication::requeue(&tx, bucket, prefix, after, limit, now).await?)
    }

    async fn remote_version(
        &self,
        destination: &str,
        bucket: &str,
        key: &str,
        version_id: &str,
    ) -> MetaResult<Option<String>> {
        read!(self, |tx| replication::remote_version(&tx, destination, bucket, key, version_id).await?)
    }

    async fn set_remote_version(
        &self,
        destination: &str,
        bucket: &str,
        key: &str,
        version_id: &str,
        remote_version_id: &str,
    ) -> MetaResult<()> {
        write_unrecorded!(self, |tx| replication::set_remote_version(
            &tx,
            [destination, bucket, key, version_id, remote_version_id]
        )
        .await?)
    }

    async fn replication_backlog(&self, bucket: Option<&str>) -> MetaResult<Vec<ReplicationBacklog>> {
        read!(self, |tx| replication::backlog(&tx, bucket).await?)
    }

    async fn event_backlog(&self) -> MetaResult<Vec<crate::EventBacklog>> {
        read!(self, |tx| events::backlog(&tx).await?)
    }

    async fn claim_events(&self, now: UtcMillis, lease_ms: i64, limit: usize) -> MetaResult<Vec<QueuedEvent>> {
        write_unrecorded!(self, |tx| events::claim(&tx, now, lease_ms, limit).await?)
    }

    async fn settle_events(&self, outcomes: Vec<(i64, Settlement)>) -> MetaResult<()> {
        write_unrecorded!(self, |tx| events::settle(&tx, &outcomes).await?)
    }

    async fn lifecycle_delete(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
        action: LifecycleAction,
        now: UtcMillis,
    ) -> MetaResult<DeleteOutcome> {
        write!(self, |tx| objects::lifecycle_delete(&tx, bucket, key, version_id, action, now).await?)
    }

    async fn lock_report(&self, bucket: Option<&str>, now: UtcMillis) -> MetaResult<Vec<LockReport>> {
        read!(self, |tx| report::lock_report(&tx, bucket, now).await?)
    }

    async fn lock_history(
        &self,
        bucket: &str,
        key: &str,
        sel: &VersionSelector,
        q: crate::LockHistoryQuery,
    ) -> MetaResult<crate::LockHistory> {
        read!(self, |tx| lock_history::read(&tx, bucket, key, sel, q).await?)
    }

    async fn bucket_usage(&self, bucket: &str) -> MetaResult<crate::Tally> {
        read!(self, |tx| {
            buckets::require(&tx, bucket, RowLock::None).await?;
            buckets::usage(&tx, bucket).await?
        })
    }

    async fn version_tags(
        &self,
        bucket: &str,
        key: &str,
        sel: &VersionSelector,
    ) -> MetaResult<(VersionRecord, TagSet)> {
        read!(self, |tx| tags::get(&tx, bucket, key, sel).await?)
    }

    async fn set_version_tags(
        &self,
        bucket: &str,
        key: &str,
        sel: &VersionSelector,
        tags: TagSet,
    ) -> MetaResult<VersionRecord> {
        write!(self, |tx| tags::set(&tx, bucket, key, sel, &tags).await?)
    }

    async fn set_upload_tags(&self, bucket: &str, key: &str, upload_id: &str, tags: TagSet) -> MetaResult<()> {
        write!(self, |tx| tags::set_upload(&tx, bucket, key, upload_id, &tags).await?)
    }

    async fn key_tags(&self, bucket: &str, key: &str) -> MetaResult<Vec<(String, TagSet)>> {
        read!(self, |tx| tags::of_key(&tx, bucket, key).await?)
    }

    async fn audit_append(&self, records: Vec<String>) -> MetaResult<Vec<i64>> {
        let chain = self.audit_chain();
        write_unrecorded!(self, |tx| audit::append(&tx, &chain, &records).await?)
    }

    async fn audit_pending(&self, limit: usize) -> MetaResult<Vec<(i64, String)>> {
        let chain = self.audit_chain();
        read!(self, |tx| audit::pending(&tx, &chain, limit).await?)
    }

    async fn audit_backlog(&self) -> MetaResult<Vec<String>> {
        read!(self, |tx| audit::backlog(&tx).await?)
    }

    async fn audit_remove(&self, ids: Vec<i64>) -> MetaResult<()> {
        let chain = self.audit_chain();
        let n = ids.len();
        write_unrecorded!(self, |tx| audit::remove(&tx, &chain, &ids).await?)?;
        self.outbox.removed(&self.pool, n).await;
        Ok(())
    }

    fn startup_notices(&self) -> Vec<holdfast_audit::AuditRecord> {
        self.tampered
            .iter()
            .map(|found| {
                let mut r = holdfast_audit::AuditRecord::new("WormGuardsRestored", UtcMillis::now_system());
                r.principal = Some("holdfast:meta".into());
                r.detail = Some(serde_json::json!({ "found": found }));
                r
            })
            .collect()
    }

    fn set_audit_chain(&self, chain: &str) {
        if self.chain.set(chain.to_owned()).is_err() {
            tracing::warn!(chain, "the audit chain was already named; keeping the first name");
        }
    }
}
