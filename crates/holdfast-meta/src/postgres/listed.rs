//! PostgreSQL migration 12: what a ListObjects entry shows of a key's current version
//! (version id, last-modified, size, ETag, storage class, checksum) kept in `latest` beside
//! the pointer, so that a page reads `latest` alone in key order — no join to `versions`, no
//! decoding of version documents. A trigger fills them from the version row whenever a row
//! of `latest` is inserted or its pointer set, whichever statement or function does it (the
//! put function, a removal that promotes an older version, a replica, a restore).

pub(super) const V12: &str = r"
ALTER TABLE latest
    ADD COLUMN version_id text,
    ADD COLUMN last_modified_ms bigint,
    ADD COLUMN size bigint,
    ADD COLUMN etag text,
    ADD COLUMN storage_class text,
    ADD COLUMN checksum_algorithm text,
    ADD COLUMN checksum_kind text,
    ADD COLUMN checksum_value text;

CREATE FUNCTION holdfast_latest_listed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SELECT v.version_id, v.last_modified_ms, (d->>'size')::bigint, d->>'etag', d->'headers'->>'storage_class',
           d->'checksum'->>'algorithm', d->'checksum'->>'kind', d->'checksum'->>'value'
      INTO NEW.version_id, NEW.last_modified_ms, NEW.size, NEW.etag, NEW.storage_class,
           NEW.checksum_algorithm, NEW.checksum_kind, NEW.checksum_value
      FROM versions v CROSS JOIN LATERAL (SELECT v.data::json AS d) doc
     WHERE v.seq = NEW.seq;
    RETURN NEW;
END $$;

CREATE TRIGGER holdfast_latest_listed BEFORE INSERT OR UPDATE OF seq ON latest
    FOR EACH ROW EXECUTE FUNCTION holdfast_latest_listed();

UPDATE latest SET seq = seq;
";
