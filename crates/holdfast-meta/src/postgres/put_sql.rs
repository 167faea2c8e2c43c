//! Schema version 11: one PUT in one statement. `holdfast_put_version` does inside the
//! database what `objects::write_new` + `tags::put_version` do statement by statement, for
//! the case without side documents (no quota, notification or replication rules) and
//! without a protected `null` version to replace; anything else it declines (`slow`) before
//! changing a row, and the caller takes the statement-by-statement path. The lock state and
//! the version id come from the caller, decided by `holdfast_lock` against the bucket row
//! the caller holds (`FOR KEY SHARE`) in the same transaction; the WORM guard triggers stay.
//!
//! The body runs in its own subtransaction (the `EXCEPTION` block): a refusal or an error
//! undoes only this PUT and is answered as a code, so the other PUTs of the same group
//! commit go on. Codes: `ok` (with `new_seq`), `precondition` (412), `nosuchkey`
//! (If-Match on a key without a current version), `slow` (take the full path), `error:...`
//! (the full path runs it again and reports what it finds).

pub(super) const V11: &str = r#"
-- model::etag_list_matches: `*`, or ETags (quoted, weak or not) separated by commas.
CREATE FUNCTION holdfast_etag_list_matches(list text, etag text) RETURNS boolean
    LANGUAGE sql IMMUTABLE AS $$
    SELECT EXISTS (
        SELECT 1 FROM unnest(string_to_array(list, ',')) AS t(item)
        WHERE btrim(regexp_replace(regexp_replace(item, '^\s+|\s+$', '', 'g'), '^(W/)*', ''), '"') IN ('*', etag))
$$;

CREATE FUNCTION holdfast_put_version(
    p_bucket text, p_key bytea, p_version_id text, p_data text, p_size bigint, p_etag text,
    p_mode text, p_until bigint, p_hold boolean, p_now bigint, p_blobs text[], p_tags text,
    p_if_none_match text, p_if_match text,
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
                              lock_mode, lock_until_ms, legal_hold)
        VALUES (p_bucket, p_key, p_version_id, false, p_now, p_size, p_etag, p_data, p_mode, p_until, p_hold)
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
"#;
