//! What one inventory row says about a version, as typed values, and the two spellings of
//! the columns AWS uses: the CSV names of `fileSchema` and the Parquet schema
//! (`message s3.inventory { ... }`). Amazon S3 User Guide, "Locating your inventory list".

use holdfast_lock::{LegalHold, Mode};
use holdfast_meta::{InventoryConfig, InventoryVersions, VersionRecord};

/// The optional fields in AWS's order, with their Parquet column and type.
const OPTIONAL: [(&str, &str, Kind); 15] = [
    ("Size", "size", Kind::Int),
    ("LastModifiedDate", "last_modified_date", Kind::Time),
    ("ETag", "e_tag", Kind::Str),
    ("StorageClass", "storage_class", Kind::Str),
    ("IsMultipartUploaded", "is_multipart_uploaded", Kind::Bool),
    ("ReplicationStatus", "replication_status", Kind::Str),
    ("EncryptionStatus", "encryption_status", Kind::Str),
    ("ObjectLockRetainUntilDate", "object_lock_retain_until_date", Kind::Time),
    ("ObjectLockMode", "object_lock_mode", Kind::Str),
    ("ObjectLockLegalHoldStatus", "object_lock_legal_hold_status", Kind::Str),
    ("IntelligentTieringAccessTier", "intelligent_tiering_access_tier", Kind::Str),
    ("BucketKeyStatus", "bucket_key_status", Kind::Str),
    ("ChecksumAlgorithm", "checksum_algorithm", Kind::Str),
    ("ObjectAccessControlList", "object_access_control_list", Kind::Str),
    ("ObjectOwner", "object_owner", Kind::Str),
];

/// The columns every report has.
const FIXED: [(&str, &str, Kind); 5] = [
    ("Bucket", "bucket", Kind::Str),
    ("Key", "key", Kind::Str),
    ("VersionId", "version_id", Kind::Str),
    ("IsLatest", "is_latest", Kind::Bool),
    ("IsDeleteMarker", "is_delete_marker", Kind::Bool),
];

/// A column's Parquet type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Str,
    Bool,
    Int,
    /// int64 milliseconds since the epoch, `TIMESTAMP_MILLIS`.
    Time,
}

/// One value of a row; `Null` is an empty CSV value and a Parquet null.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Str(String),
    Bool(bool),
    Int(i64),
    Time(i64),
    Null,
}

/// A report's columns: the fixed ones (bucket and key first), then the configuration's optional fields in AWS's
/// order, whatever order the configuration gives.
#[derive(Debug, Clone)]
pub struct Columns(Vec<(&'static str, &'static str, Kind)>);

impl Columns {
    pub fn of(config: &InventoryConfig) -> Self {
        // A report of current versions has no VersionId, IsLatest nor IsDeleteMarker (AWS
        // User Guide, "Amazon S3 Inventory list").
        let fixed = match config.versions {
            InventoryVersions::All => &FIXED[..],
            InventoryVersions::Current => &FIXED[..2],
        };
        let mut cols = fixed.to_vec();
        cols.extend(OPTIONAL.iter().copied().filter(|(f, _, _)| config.optional_fields.iter().any(|c| c == f)));
        Self(cols)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn kinds(&self) -> impl Iterator<Item = Kind> + '_ {
        self.0.iter().map(|c| c.2)
    }

    pub fn has(&self, field: &str) -> bool {
        self.0.iter().any(|c| c.0 == field)
    }

    /// `fileSchema` of a CSV report: the CSV names, `", "`-separated.
    pub fn csv_schema(&self) -> String {
        self.0.iter().map(|c| c.0).collect::<Vec<_>>().join(", ")
    }

    /// `fileSchema` of a Parquet report, as AWS writes it; also the schema of the files.
    pub fn parquet_schema(&self) -> String {
        let mut out = String::from("message s3.inventory {");
        for (i, (_, name, kind)) in self.0.iter().enumerate() {
            // Bucket and key are always there; AWS marks them required.
            let rep = if i < 2 { "required" } else { "optional" };
            let ty = match kind {
                Kind::Str => "binary",
                Kind::Bool => "boolean",
                Kind::Int | Kind::Time => "int64",
            };
            out.push_str(&format!(" {rep} {ty} {name}"));
            match kind {
                Kind::Str => out.push_str(" (UTF8)"),
                Kind::Time => out.push_str(" (TIMESTAMP_MILLIS)"),
                _ => {}
            }
            out.push(';');
        }
        out.push_str(" }");
        out
    }

    /// The values of `v`'s row, one per column. A delete marker has its dates' column
    /// `LastModifiedDate` and nothing else among the optional fields.
    pub fn values(&self, bucket: &str, v: &VersionRecord) -> Vec<Value> {
        let s = |x: &str| Value::Str(x.to_owned());
        let o = v.object.as_ref();
        self.0
            .iter()
            .map(|(field, _, _)| match (*field, o) {
                ("Bucket", _) => s(bucket),
                ("Key", _) => s(&v.key),
                ("VersionId", _) if v.version_id == "null" => Value::Null,
                ("VersionId", _) => s(&v.version_id),
                ("IsLatest", _) => Value::Bool(v.is_latest),
                ("IsDeleteMarker", _) => Value::Bool(o.is_none()),
                ("LastModifiedDate", _) => Value::Time(v.last_modified.0),
                (_, None) => Value::Null,
                ("ObjectLockRetainUntilDate", _) => v.lock.retention.map_or(Value::Null, |r| Value::Time(r.until.0)),
                ("ObjectLockMode", _) => match v.lock.retention.map(|r| r.mode) {
                    Some(Mode::Governance) => s("GOVERNANCE"),
                    Some(Mode::Compliance) => s("COMPLIANCE"),
                    None => Value::Null,
                },
                ("ObjectLockLegalHoldStatus", _) => match v.lock.legal_hold {
                    Some(LegalHold::On) => s("ON"),
                    _ => s("OFF"),
                },
                ("Size", Some(o)) => Value::Int(i64::try_from(o.size).unwrap_or(i64::MAX)),
                ("ETag", Some(o)) => s(&o.etag),
                ("StorageClass", Some(o)) => s(o.headers.storage_class.as_deref().unwrap_or("STANDARD")),
                ("IsMultipartUploaded", Some(o)) => Value::Bool(!o.parts.is_empty()),
                // Holdfast has no server-side encryption.
                ("EncryptionStatus", Some(_)) => s("NOT-SSE"),
                ("ReplicationStatus", Some(_)) => v.replication.map_or(Value::Null, |r| s(r.as_str())),
                ("ChecksumAlgorithm", Some(o)) => o.checksum.as_ref().map_or(Value::Null, |c| s(c.algorithm.as_str())),
                _ => Value::Null,
            })
            .collect()
    }
}

/// A key as AWS writes it in a CSV report: URL-encoded (unreserved characters and `/` kept,
/// a space as `+`, every other byte `%XX`), so `urllib.parse.unquote_plus` gives it back.
/// Parquet reports carry the key as it is.
pub fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// One CSV line (with its line end): every value in double quotes as AWS writes them (`"`
/// inside doubled), the key URL-encoded, dates as `2026-12-07T01:23:45.678Z`.
pub fn csv_line(values: &[Value]) -> String {
    let mut out = String::new();
    for (i, value) in values.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let text = match value {
            Value::Str(s) if i == 1 => encode_key(s),
            Value::Str(s) => s.clone(),
            Value::Bool(b) => b.to_string(),
            Value::Int(n) => n.to_string(),
            Value::Time(ms) => holdfast_lock::UtcMillis(*ms).to_iso8601(),
            Value::Null => String::new(),
        };
        out.push('"');
        out.push_str(&text.replace('"', "\"\""));
        out.push('"');
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use holdfast_lock::{LockState, UtcMillis};
    use holdfast_meta::{InventoryFormat, InventoryFrequency};

    fn config(fields: &[&str]) -> InventoryConfig {
        InventoryConfig {
            id: "r".into(),
            enabled: true,
            prefix: None,
            versions: InventoryVersions::All,
            frequency: InventoryFrequency::Daily,
            optional_fields: fields.iter().map(|f| (*f).to_owned()).collect(),
            destination_bucket: "d".into(),
            destination_account: None,
            destination_prefix: None,
            format: InventoryFormat::Parquet,
        }
    }

    #[test]
    fn keys_are_url_encoded_as_aws_writes_them() {
        assert_eq!(encode_key("logs/a b+c,é\"~"), "logs/a+b%2Bc%2C%C3%A9%22~");
    }

    #[test]
    fn every_value_is_quoted_and_a_marker_has_only_its_date() {
        let v = VersionRecord {
            seq: 1,
            bucket: "b".into(),
            key: "k\"".into(),
            version_id: "null".into(),
            last_modified: UtcMillis(0),
            is_latest: true,
            object: None,
            lock: LockState::default(),
            replication: None,
        };
        // The configuration's order does not matter: AWS's order is kept.
        let cols = Columns::of(&config(&["ObjectLockMode", "LastModifiedDate", "Size"]));
        assert_eq!(
            csv_line(&cols.values("b", &v)),
            "\"b\",\"k%22\",\"\",\"true\",\"true\",\"\",\"1970-01-01T00:00:00.000Z\",\"\"\n"
        );
        assert_eq!(
            cols.csv_schema(),
            "Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size, LastModifiedDate, ObjectLockMode"
        );
        let current = Columns::of(&InventoryConfig { versions: InventoryVersions::Current, ..config(&["Size"]) });
        assert_eq!(current.csv_schema(), "Bucket, Key, Size");
        assert_eq!(
            current.parquet_schema(),
            "message s3.inventory { required binary bucket (UTF8); required binary key (UTF8); optional int64 size; }"
        );
    }

    /// The schema string of AWS's documented Parquet manifest, for every field it lists.
    #[test]
    fn parquet_schema_is_the_one_aws_documents() {
        let all: Vec<&str> = OPTIONAL.iter().map(|f| f.0).take(13).collect();
        assert_eq!(
            Columns::of(&config(&all)).parquet_schema(),
            "message s3.inventory { required binary bucket (UTF8); required binary key (UTF8); optional binary \
             version_id (UTF8); optional boolean is_latest; optional boolean is_delete_marker; optional int64 size; \
             optional int64 last_modified_date (TIMESTAMP_MILLIS); optional binary e_tag (UTF8); optional binary \
             storage_class (UTF8); optional boolean is_multipart_uploaded; optional binary replication_status (UTF8); \
             optional binary encryption_status (UTF8); optional int64 object_lock_retain_until_date (TIMESTAMP_MILLIS); \
             optional binary object_lock_mode (UTF8); optional binary object_lock_legal_hold_status (UTF8); optional \
             binary intelligent_tiering_access_tier (UTF8); optional binary bucket_key_status (UTF8); optional binary \
             checksum_algorithm (UTF8); }"
        );
    }
}
