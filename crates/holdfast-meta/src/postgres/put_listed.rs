//! Migration 14: less work in the database per grouped PUT (issue #17).
//!
//! - `holdfast_put_version` takes what a listing shows of the new version (storage class,
//!   checksum) and writes `latest`'s listed columns itself. The listed trigger of migration 12
//!   (which looked the version up and re-parsed its JSON on every PUT) now runs only when the
//!   statement did not write them: an inserted row without `version_id`, or an update of `seq`
//!   that left `version_id` and `last_modified_ms` as they were. Every other path that moves
//!   `latest` (delete markers, removals that promote an older version, multipart completion,
//!   replicas, lifecycle expiry, restores) sets only `seq` and keeps being filled by the trigger.
//!   A statement that moves `seq` therefore either writes all listed columns or none.
//! - The clock mark is no longer raised inside the function: the group raises it once, with the
//!   group's latest reading, in the same transaction (`group_commit.rs`).
//! - `versions` keeps a row whole up to a page (`toast_tuple_target`): a 4 KiB inline object and
//!   its document stay in the heap row instead of three TOAST chunks and their index entries, and
//!   the document is no longer offered to compression on every PUT. Larger rows are toasted as
//!   before.
//!
//! Everything else is migration 13's function, unchanged: the side-document check (`slow`), the
//! key's row lock, the conditions, the `null` version replaced, the subtransaction per PUT.

pub(super) const V14: &str = r#"
ALTER TABLE versions SET (toast_tuple_target = 8160);

DROP TRIGGER holdfast_latest_listed ON latest;
CREATE TRIGGER holdfast_latest_listed BEFORE INSERT ON latest
    FOR EACH ROW WHEN (NEW.version_id IS NULL) EXECUTE FUNCTION holdfast_latest_listed();
CREATE TRIGGER holdfast_latest_listed_moved BEFORE UPDATE OF seq ON latest
    FOR EACH ROW WHEN (NEW.version_id IS NOT DISTINCT FROM OLD.version_id
                       AND NEW.last_modified_ms IS NOT DISTINCT FROM OLD.last_modified_ms)
    EXECUTE FUNCTION holdfast_latest_listed();

DROP FUNCTION holdfast_put_version(text, bytea, text, text, bigint, text, text, bigint, boolean, bigint, text[], text, text, text, bytea);
CREATE FUNCTION holdfast_put_version(
    p_bucket text, p_key bytea, p_version_id text, p_data text, p_size bigint, p_etag text,
    p_mode text, p_until bigint, p_hold boolean, p_now bigint, p_blobs text[], p_tags text,
    p_if_none_match text, p_if_match text, p_inline bytea,
    p_storage_class text, p_ck_algorithm text, p_ck_kind text, p_ck_value text,
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
            -- Every listed column written here (the trigger then stays out).
            UPDATE latest SET seq = new_seq, delete_marker = false, version_id = p_version_id,
                   last_modified_ms = p_now, size = p_size, etag = p_etag, storage_class = p_storage_class,
                   checksum_algorithm = p_ck_algorithm, checksum_kind = p_ck_kind, checksum_value = p_ck_value
             WHERE bucket = p_bucket AND key = p_key;
        ELSE
            INSERT INTO latest (bucket, key, seq, delete_marker, version_id, last_modified_ms, size, etag,
                                storage_class, checksum_algorithm, checksum_kind, checksum_value)
            VALUES (p_bucket, p_key, new_seq, false, p_version_id, p_now, p_size, p_etag,
                    p_storage_class, p_ck_algorithm, p_ck_kind, p_ck_value)
            ON CONFLICT (bucket, key) DO NOTHING;
            IF NOT FOUND THEN
                -- Another transaction claimed the key first: the full path starts over.
                RAISE EXCEPTION 'lost the key' USING ERRCODE = 'HFS01';
            END IF;
        END IF;
        IF p_blobs IS NOT NULL AND cardinality(p_blobs) > 0 THEN
            INSERT INTO blobs (id) SELECT unnest(p_blobs) ON CONFLICT (id) DO NOTHING;
        END IF;
        IF p_tags IS NOT NULL THEN
            INSERT INTO version_tags (seq, tags) VALUES (new_seq, p_tags)
            ON CONFLICT (seq) DO UPDATE SET tags = excluded.tags;
        END IF;
    EXCEPTION
        WHEN SQLSTATE 'HFP01' THEN code := 'precondition'; new_seq := NULL;
        WHEN SQLSTATE 'HFP02' THEN code := 'nosuchkey'; new_seq := NULL;
        WHEN SQLSTATE 'HFS01' THEN code := 'slow'; new_seq := NULL;
        WHEN OTHERS THEN code := 'error:' || SQLSTATE || ': ' || SQLERRM; new_seq := NULL;
    END;
END $$;
"#;

/// What `latest` lists of a new version that the put function writes itself: storage class,
/// checksum algorithm, kind and value, as the migration 12 trigger reads them from the
/// version's JSON document (the same serde names).
pub(super) fn listed_args(
    object: &crate::model::ObjectData,
) -> (Option<&str>, Option<String>, Option<String>, Option<&str>) {
    let name = |v: serde_json::Result<serde_json::Value>| match v {
        Ok(serde_json::Value::String(s)) => Some(s),
        _ => None,
    };
    let ck = object.checksum.as_ref();
    (
        object.headers.storage_class.as_deref(),
        ck.and_then(|c| name(serde_json::to_value(c.algorithm))),
        ck.and_then(|c| name(serde_json::to_value(c.kind))),
        ck.map(|c| c.value.as_str()),
    )
}
