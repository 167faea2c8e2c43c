//! Schema version 13: small objects' bytes inline in their version row on PostgreSQL, as the
//! embedded store keeps them (issue #17). A 4 KiB PUT then writes no blob file: no temporary
//! file created, fsynced, renamed and its directory fsynced (on this machine creating the file
//! alone was half of a gateway's CPU per PUT), and the bytes become durable with the row, in the
//! transaction's one WAL flush. The column is `EXTERNAL` (out of line, never compressed: object
//! bytes are mostly incompressible and a failed compression attempt costs CPU on every PUT).
//! `holdfast_put_version` takes the bytes; the WORM guard refuses to change them once written
//! (the delete guards of `versions` already cover the row they live in).

use super::rows::query_one;
use super::{Fail, Tx};
use crate::model::{ObjectData, VersionRecord, VersionSelector};
use crate::{MetaError, MetaResult};

pub(super) const V13: &str = r#"
ALTER TABLE versions ADD COLUMN inline_bytes bytea;
ALTER TABLE versions ALTER COLUMN inline_bytes SET STORAGE EXTERNAL;

DROP FUNCTION holdfast_put_version(text, bytea, text, text, bigint, text, text, bigint, boolean, bigint, text[], text, text, text);
CREATE FUNCTION holdfast_put_version(
    p_bucket text, p_key bytea, p_version_id text, p_data text, p_size bigint, p_etag text,
    p_mode text, p_until bigint, p_hold boolean, p_now bigint, p_blobs text[], p_tags text,
    p_if_none_match text, p_if_match text, p_inline bytea,
    OUT code text, OUT new_seq bigint)
LANGUAGE plpgsql AS $$
DECLARE
    held bigint;
    cur_etag text;
    old record;
    blob text;
BEGIN
    code := 'ok';
    -- Side documents are judged on the full path (the quota's row lock, the rules' matching).
    IF EXISTS (SELECT 1 FROM bucket_configs WHERE bucket = p_bucket AND kind IN ('quota', 'notification', 'replication')) THEN
        code := 'slow';
        RETURN;
    END IF;
    BEGIN
        SELECT seq INTO held FROM latest WHERE bucket = p_bucket AND key = p_key FOR UPDATE;
        IF held IS NOT NULL AND (p_if_none_match IS NOT NULL OR p_if_match IS NOT NULL) THEN
            SELECT etag INTO cur_etag FROM versions WHERE seq = held AND NOT delete_marker;
        END IF;
        IF p_if_none_match IS NOT NULL AND cur_etag IS NOT NULL
           AND holdfast_etag_list_matches(p_if_none_match, cur_etag) THEN
            RAISE EXCEPTION 'precondition' USING ERRCODE = 'HFP01';
        END IF;
        IF p_if_match IS NOT NULL THEN
            IF cur_etag IS NULL THEN
                RAISE EXCEPTION 'no such key' USING ERRCODE = 'HFP02';
            ELSIF NOT holdfast_etag_list_matches(p_if_match, cur_etag) THEN
                RAISE EXCEPTION 'precondition' USING ERRCODE = 'HFP01';
            END IF;
        END IF;
        IF p_version_id = 'null' AND held IS NOT NULL THEN
            SELECT seq, data, lock_mode, legal_hold INTO old FROM versions
             WHERE bucket = p_bucket AND key = p_key AND version_id = 'null';
            IF FOUND THEN
                -- Any protection at all: the lock rules judge it on the full path (delete::replace_null).
                IF old.lock_mode IS NOT NULL OR old.legal_hold IS TRUE THEN
                    RAISE EXCEPTION 'slow' USING ERRCODE = 'HFS01';
                END IF;
                DELETE FROM versions WHERE seq = old.seq;
                DELETE FROM lock_history WHERE seq = old.seq;
                DELETE FROM replication_status WHERE bucket = p_bucket AND key = p_key AND version_id = 'null';
                FOR blob IN SELECT s ->> 'blob' FROM jsonb_array_elements(old.data::jsonb -> 'segments') AS s LOOP
                    DELETE FROM blobs WHERE id = blob;
                    INSERT INTO gc_queue (id, queued_ms) VALUES (blob, p_now) ON CONFLICT (id) DO NOTHING;
                END LOOP;
            END IF;
        END IF;
        INSERT INTO versions (bucket, key, version_id, delete_marker, last_modified_ms, size, etag, data,
                              lock_mode, lock_until_ms, legal_hold, inline_bytes)
        VALUES (p_bucket, p_key, p_version_id, false, p_now, p_size, p_etag, p_data, p_mode, p_until, p_hold, p_inline)
        RETURNING seq INTO new_seq;
        IF held IS NOT NULL THEN
            INSERT INTO latest (bucket, key, seq, delete_marker) VALUES (p_bucket, p_key, new_seq, false)
            ON CONFLICT (bucket, key) DO UPDATE SET seq = excluded.seq, delete_marker = excluded.delete_marker;
        ELSE
            INSERT INTO latest (bucket, key, seq, delete_marker) VALUES (p_bucket, p_key, new_seq, false)
            ON CONFLICT (bucket, key) DO NOTHING;
            IF NOT FOUND THEN
                -- Another transaction claimed the key first: the full path starts over.
                RAISE EXCEPTION 'lost the key' USING ERRCODE = 'HFS01';
            END IF;
        END IF;
        INSERT INTO blobs (id) SELECT unnest(p_blobs) ON CONFLICT (id) DO NOTHING;
        IF p_tags IS NOT NULL THEN
            INSERT INTO version_tags (seq, tags) VALUES (new_seq, p_tags)
            ON CONFLICT (seq) DO UPDATE SET tags = excluded.tags;
        END IF;
        INSERT INTO clock_marks (session, high_water_ms) VALUES (pg_backend_pid(), p_now)
        ON CONFLICT (session) DO UPDATE SET high_water_ms = GREATEST(clock_marks.high_water_ms, excluded.high_water_ms);
    EXCEPTION
        WHEN SQLSTATE 'HFP01' THEN code := 'precondition'; new_seq := NULL;
        WHEN SQLSTATE 'HFP02' THEN code := 'nosuchkey'; new_seq := NULL;
        WHEN SQLSTATE 'HFS01' THEN code := 'slow'; new_seq := NULL;
        WHEN OTHERS THEN code := 'error:' || SQLSTATE || ': ' || SQLERRM; new_seq := NULL;
    END;
END $$;

CREATE FUNCTION holdfast_worm_guard_inline() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.inline_bytes IS DISTINCT FROM OLD.inline_bytes THEN
        RAISE EXCEPTION 'WORM guard: inline object bytes never change' USING ERRCODE = '@STATE@';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER worm_guard_inline BEFORE UPDATE OF inline_bytes ON versions
    FOR EACH ROW EXECUTE FUNCTION holdfast_worm_guard_inline();
"#;

/// The part of version 13 that creates the inline bytes' WORM guard (checked and restored by
/// `guards.rs` with the others).
pub(super) fn guard_sql() -> &'static str {
    V13.find("CREATE FUNCTION holdfast_worm_guard_inline()").map_or("", |at| &V13[at..])
}

/// [`super::objects::resolve`] for a read of the content: with the inline bytes of a small
/// object.
pub(super) async fn resolve_content(
    tx: &Tx<'_>,
    bucket: &str,
    key: &str,
    sel: &VersionSelector,
) -> Result<VersionRecord, Fail> {
    let mut rec = super::objects::resolve(tx, bucket, key, sel).await?;
    load(tx, &mut rec).await?;
    Ok(rec)
}

/// Fills in the inline bytes of an object version that keeps them (no segments, not empty).
async fn load(tx: &Tx<'_>, rec: &mut VersionRecord) -> Result<(), Fail> {
    let seq = rec.seq;
    let Some(obj) = rec.object.as_mut() else { return Ok(()) };
    if !obj.segments.is_empty() || obj.size == 0 {
        return Ok(());
    }
    let row = query_one(tx, "SELECT inline_bytes FROM versions WHERE seq = $1", &[&seq]).await?;
    let bytes: Option<Vec<u8>> = row.try_get(0)?;
    let bytes =
        bytes.ok_or_else(|| MetaError::Internal(format!("version {seq} has no segments and no inline bytes")))?;
    if bytes.len() as u64 != obj.size {
        return Err(
            MetaError::Internal(format!("version {seq}: {} inline bytes for size {}", bytes.len(), obj.size)).into()
        );
    }
    obj.inline = Some(bytes::Bytes::from(bytes));
    Ok(())
}

/// Inline bytes are the whole object and its only content.
pub(super) fn check(object: &ObjectData) -> MetaResult<()> {
    match &object.inline {
        Some(bytes) if bytes.len() as u64 != object.size || !object.segments.is_empty() => {
            Err(MetaError::Internal("inline bytes must be the whole object and its only content".into()))
        }
        _ => Ok(()),
    }
}
