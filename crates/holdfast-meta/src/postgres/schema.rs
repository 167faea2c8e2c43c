//! The PostgreSQL schema, created and migrated at start. `holdfast_schema` holds the
//! version; migrations run in one transaction that holds that row, so gateways starting
//! together migrate once. A database newer than this build is refused.

use super::WORM_GUARD_STATE;
use crate::{MetaError, MetaResult};

/// Schema versions this build knows; `MIGRATIONS[n - 1]` brings version n-1 to n.
pub const SCHEMA_VERSION: i32 = 17;

const MIGRATIONS: [&str; SCHEMA_VERSION as usize] = [
    V1,
    V2,
    super::tags::V3,
    super::audit::V4,
    super::guards::V5,
    super::replication::V6,
    super::replication::V7,
    super::lock_jobs::V8,
    super::lock_history::V9,
    super::listing::V10,
    super::put_sql::V11,
    super::listed::V12,
    super::inline::V13,
    super::put_listed::V14,
    super::put_audit::V15,
    super::listing::V16,
    super::index_plans::V17,
];

/// The part of version 1 that creates the WORM guards (checked and restored by `guards.rs`).
pub(super) fn guard_sql() -> &'static str {
    V1.find("CREATE FUNCTION holdfast_now_ms()").map_or("", |at| &V1[at..])
}

const V1: &str = r#"
CREATE TABLE clock_marks (
    session integer PRIMARY KEY,
    high_water_ms bigint NOT NULL
);

-- Each gateway's last compliance-clock reading and the database clock at that moment.
CREATE TABLE gateways (
    id text PRIMARY KEY,
    clock_ms bigint NOT NULL,
    db_ms bigint NOT NULL
);

CREATE TABLE buckets (
    name text COLLATE "C" PRIMARY KEY,
    created_ms bigint NOT NULL,
    versioning text NOT NULL,
    lock_enabled boolean NOT NULL DEFAULT false,
    default_retention text
);

-- Every object version and delete marker; seq orders a key's history.
CREATE TABLE versions (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    bucket text COLLATE "C" NOT NULL,
    key bytea NOT NULL,
    version_id text NOT NULL,
    delete_marker boolean NOT NULL,
    last_modified_ms bigint NOT NULL,
    size bigint NOT NULL DEFAULT 0,
    etag text NOT NULL DEFAULT '',
    data text,
    lock_mode text,
    lock_until_ms bigint,
    legal_hold boolean,
    UNIQUE (bucket, key, version_id)
);
CREATE INDEX versions_by_key ON versions (bucket, key, seq);

-- The current version (or delete marker) of each key. Its row is the key's lock.
CREATE TABLE latest (
    bucket text COLLATE "C" NOT NULL,
    key bytea NOT NULL,
    seq bigint NOT NULL,
    delete_marker boolean NOT NULL,
    PRIMARY KEY (bucket, key)
);

-- Blobs that a version or a part refers to; a blob file known to neither this table nor
-- gc_queue is an orphan of a crash.
CREATE TABLE blobs (id text PRIMARY KEY);
CREATE TABLE gc_queue (
    id text PRIMARY KEY,
    queued_ms bigint NOT NULL,
    claimed_until_ms bigint NOT NULL DEFAULT 0
);
CREATE INDEX gc_queue_by_time ON gc_queue (queued_ms);

CREATE TABLE uploads (
    upload_id text COLLATE "C" PRIMARY KEY,
    bucket text COLLATE "C" NOT NULL,
    key bytea NOT NULL,
    initiated_ms bigint NOT NULL,
    data text NOT NULL
);
CREATE INDEX uploads_by_key ON uploads (bucket, key, initiated_ms);

CREATE TABLE parts (
    upload_id text NOT NULL,
    part_number bigint NOT NULL,
    data text NOT NULL,
    PRIMARY KEY (upload_id, part_number)
);

CREATE TABLE completed_uploads (
    upload_id text PRIMARY KEY,
    bucket text COLLATE "C" NOT NULL,
    key bytea NOT NULL,
    seq bigint NOT NULL,
    completed_ms bigint NOT NULL
);

CREATE TABLE users (
    name text COLLATE "C" PRIMARY KEY,
    id text NOT NULL UNIQUE,
    path text NOT NULL,
    created_ms bigint NOT NULL
);
CREATE TABLE access_keys (
    access_key_id text PRIMARY KEY,
    user_name text COLLATE "C" NOT NULL REFERENCES users (name),
    sealed_secret bytea NOT NULL,
    active boolean NOT NULL,
    created_ms bigint NOT NULL
);
CREATE INDEX access_keys_by_user ON access_keys (user_name);
CREATE TABLE user_policies (
    user_name text COLLATE "C" NOT NULL REFERENCES users (name),
    name text COLLATE "C" NOT NULL,
    document text NOT NULL,
    PRIMARY KEY (user_name, name)
);
CREATE TABLE bucket_policies (
    bucket text COLLATE "C" PRIMARY KEY REFERENCES buckets (name) ON DELETE CASCADE,
    document text NOT NULL
);

-- Another account owns the bucket (issue #4); the record goes with the bucket.
CREATE TABLE bucket_owners (
    bucket text COLLATE "C" PRIMARY KEY REFERENCES buckets (name) ON DELETE CASCADE,
    account text NOT NULL
);

-- Bucket-level documents: notification and lifecycle configuration (issue #5).
CREATE TABLE bucket_configs (
    bucket text COLLATE "C" NOT NULL REFERENCES buckets (name) ON DELETE CASCADE,
    kind text NOT NULL,
    doc text NOT NULL,
    PRIMARY KEY (bucket, kind)
);

-- One row per (event, target), queued in the transaction that made the change. `due_ms` is
-- when it may next be handed out: now for a new event, later for a failed one (backoff) or
-- a claimed one (lease).
CREATE TABLE event_queue (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    target text NOT NULL,
    config_id text NOT NULL,
    event text NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    due_ms bigint NOT NULL
);
CREATE INDEX event_queue_due ON event_queue (due_ms, id);
CREATE SEQUENCE event_sequencer;

-- The lock report reads only protected versions.
CREATE INDEX versions_protected ON versions (bucket, lock_until_ms) WHERE lock_mode IS NOT NULL OR legal_hold;

-- Defence in depth: the database refuses what the lock rules refuse, judged by the
-- database server's clock (gateways' compliance clocks are never behind their system
-- clocks; a gateway whose clock runs ahead is refused here, which is the point).
CREATE FUNCTION holdfast_now_ms() RETURNS bigint LANGUAGE sql VOLATILE
AS $$ SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint $$;

CREATE FUNCTION holdfast_worm_guard_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.legal_hold IS TRUE
       OR (OLD.lock_mode = 'COMPLIANCE' AND OLD.lock_until_ms > holdfast_now_ms()) THEN
        RAISE EXCEPTION 'WORM guard: refusing to delete a protected version' USING ERRCODE = '@STATE@';
    END IF;
    RETURN OLD;
END $$;
CREATE TRIGGER worm_guard_delete BEFORE DELETE ON versions
    FOR EACH ROW EXECUTE FUNCTION holdfast_worm_guard_delete();

CREATE FUNCTION holdfast_worm_guard_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.lock_mode = 'COMPLIANCE' AND OLD.lock_until_ms > holdfast_now_ms()
       AND (NEW.lock_mode IS DISTINCT FROM 'COMPLIANCE' OR NEW.lock_until_ms IS NULL
            OR NEW.lock_until_ms < OLD.lock_until_ms OR NEW.data IS DISTINCT FROM OLD.data
            OR NEW.key IS DISTINCT FROM OLD.key OR NEW.bucket IS DISTINCT FROM OLD.bucket) THEN
        RAISE EXCEPTION 'WORM guard: refusing to weaken COMPLIANCE retention' USING ERRCODE = '@STATE@';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER worm_guard_update BEFORE UPDATE ON versions
    FOR EACH ROW EXECUTE FUNCTION holdfast_worm_guard_update();

-- TRUNCATE skips row triggers: refuse it while anything is protected.
CREATE FUNCTION holdfast_worm_guard_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM versions WHERE legal_hold IS TRUE
               OR (lock_mode = 'COMPLIANCE' AND lock_until_ms > holdfast_now_ms())) THEN
        RAISE EXCEPTION 'WORM guard: refusing to truncate protected versions' USING ERRCODE = '@STATE@';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER worm_guard_truncate BEFORE TRUNCATE ON versions
    FOR EACH STATEMENT EXECUTE FUNCTION holdfast_worm_guard_truncate();
"#;

/// Version 2: leases for background jobs that one gateway at a time runs.
const V2: &str = r#"
-- One row per job (the lifecycle pass): who runs it, since when, and until when unless
-- renewed; all by the database server's clock.
CREATE TABLE leases (
    name text PRIMARY KEY,
    holder text NOT NULL,
    since_ms bigint NOT NULL,
    expires_ms bigint NOT NULL
);
"#;

fn internal(what: &str, e: &tokio_postgres::Error) -> MetaError {
    MetaError::Internal(format!("{what}: {}", super::db_message(e)))
}

/// Creates the schema or brings it to [`SCHEMA_VERSION`].
pub(super) async fn migrate(client: &mut deadpool_postgres::Object) -> MetaResult<()> {
    // Two gateways creating the version table at once: one of them may fail; try again.
    let create = "CREATE TABLE IF NOT EXISTS holdfast_schema (
                      id integer PRIMARY KEY CHECK (id = 1), version integer NOT NULL);
                  INSERT INTO holdfast_schema (id, version) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;";
    let mut tries = 0;
    while let Err(e) = client.batch_execute(create).await {
        tries += 1;
        if tries == 5 {
            return Err(internal("cannot create the schema version table", &e));
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let tx = client.transaction().await.map_err(|e| internal("cannot begin the migration", &e))?;
    let row = tx
        .query_one("SELECT version FROM holdfast_schema WHERE id = 1 FOR UPDATE", &[])
        .await
        .map_err(|e| internal("cannot read the schema version", &e))?;
    let found: i32 = row.get(0);
    if found > SCHEMA_VERSION {
        return Err(MetaError::Internal(format!(
            "the metadata database has schema version {found}, newer than this build supports ({SCHEMA_VERSION}); \
             upgrade Holdfast"
        )));
    }
    for version in found + 1..=SCHEMA_VERSION {
        let sql = MIGRATIONS[usize::try_from(version - 1).unwrap_or_default()].replace("@STATE@", WORM_GUARD_STATE);
        tx.batch_execute(&sql).await.map_err(|e| internal(&format!("schema migration to version {version}"), &e))?;
        tx.execute("UPDATE holdfast_schema SET version = $1 WHERE id = 1", &[&version])
            .await
            .map_err(|e| internal("cannot record the schema version", &e))?;
        tracing::info!(version, "metadata schema migrated");
    }
    tx.commit().await.map_err(|e| internal("cannot commit the migration", &e))?;
    Ok(())
}
