//! The request context: condition keys and their values for one request, and the helpers that
//! compute the keys Holdfast supplies (principal, time, transport, Object Lock).

use std::collections::BTreeMap;
use std::net::IpAddr;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::principal::Principal;

pub const OBJECT_LOCK_MODE: &str = "s3:object-lock-mode";
pub const OBJECT_LOCK_RETAIN_UNTIL_DATE: &str = "s3:object-lock-retain-until-date";
pub const OBJECT_LOCK_REMAINING_RETENTION_DAYS: &str = "s3:object-lock-remaining-retention-days";
pub const OBJECT_LOCK_LEGAL_HOLD: &str = "s3:object-lock-legal-hold";
pub const VERSION_ID: &str = "s3:versionid";
pub const PREFIX: &str = "s3:prefix";
pub const DELIMITER: &str = "s3:delimiter";
pub const MAX_KEYS: &str = "s3:max-keys";
pub const SOURCE_IP: &str = "aws:SourceIp";
pub const SECURE_TRANSPORT: &str = "aws:SecureTransport";
pub const CURRENT_TIME: &str = "aws:CurrentTime";
pub const EPOCH_TIME: &str = "aws:EpochTime";
pub const USERNAME: &str = "aws:username";
pub const USERID: &str = "aws:userid";
pub const PRINCIPAL_ARN: &str = "aws:PrincipalArn";
pub const PRINCIPAL_ACCOUNT: &str = "aws:PrincipalAccount";
pub const PRINCIPAL_TYPE: &str = "aws:PrincipalType";
pub const PRINCIPAL_SERVICE_NAME: &str = "aws:PrincipalServiceName";
pub const SOURCE_ARN: &str = "aws:SourceArn";
pub const SOURCE_ACCOUNT: &str = "aws:SourceAccount";
pub const REFERER: &str = "aws:Referer";
pub const USER_AGENT: &str = "aws:UserAgent";
pub const COPY_SOURCE: &str = "s3:x-amz-copy-source";
pub const METADATA_DIRECTIVE: &str = "s3:x-amz-metadata-directive";
pub const ACL: &str = "s3:x-amz-acl";
pub const GRANT_FULL_CONTROL: &str = "s3:x-amz-grant-full-control";

/// Request headers whose value, as sent, is the value of the S3 condition key `s3:<header>`
/// (Service Authorization Reference, "Condition keys for Amazon S3"). `x-amz-copy-source` is
/// not here: its key names the source as `bucket/key` ([`Context::set_copy_source`]). The
/// server-side-encryption keys are left out while Holdfast does not encrypt on request: a
/// policy requiring `AES256` must not be satisfied by a header the server ignores.
pub const HEADER_KEYS: &[&str] = &[
    "x-amz-acl",
    "x-amz-grant-full-control",
    "x-amz-grant-read",
    "x-amz-grant-read-acp",
    "x-amz-grant-write",
    "x-amz-grant-write-acp",
    "x-amz-metadata-directive",
    "x-amz-storage-class",
    "x-amz-website-redirect-location",
    "x-amz-content-sha256",
];

const MILLIS_PER_DAY: i64 = 86_400_000;

/// Condition keys and their values for one request. Keys compare case-insensitively (AWS
/// condition key names are case-insensitive); values are kept as given. A key may carry several
/// values (a multivalued key, for `ForAnyValue` / `ForAllValues`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    values: BTreeMap<String, Vec<String>>,
}

impl Context {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` to the single value `value`, replacing earlier values.
    pub fn insert(&mut self, key: &str, value: impl Into<String>) -> &mut Self {
        self.values.insert(key.to_ascii_lowercase(), vec![value.into()]);
        self
    }

    /// Sets `key` to a set of values (possibly empty: present but empty set).
    pub fn insert_all<I, S>(&mut self, key: &str, values: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.values.insert(key.to_ascii_lowercase(), values.into_iter().map(Into::into).collect());
        self
    }

    /// Builder form of [`Context::insert`].
    pub fn with(mut self, key: &str, value: impl Into<String>) -> Self {
        self.insert(key, value);
        self
    }

    pub fn remove(&mut self, key: &str) -> &mut Self {
        self.values.remove(&key.to_ascii_lowercase());
        self
    }

    pub fn get(&self, key: &str) -> Option<&[String]> {
        self.values.get(&key.to_ascii_lowercase()).map(Vec::as_slice)
    }

    /// `aws:username` (users only), `aws:userid`, `aws:PrincipalArn`, `aws:PrincipalAccount`
    /// and `aws:PrincipalType`, with the values IAM gives each kind of caller.
    pub fn set_principal(&mut self, caller: &Principal) -> &mut Self {
        for key in [USERNAME, USERID, PRINCIPAL_ARN, PRINCIPAL_ACCOUNT, PRINCIPAL_TYPE, PRINCIPAL_SERVICE_NAME] {
            self.remove(key);
        }
        // A service principal carries aws:PrincipalServiceName and none of the identity keys.
        if let Some(service) = caller.service_name() {
            return self.insert(PRINCIPAL_SERVICE_NAME, service);
        }
        if let Some(id) = caller.user_id() {
            self.insert(USERID, id);
        }
        if let Some(name) = caller.user_name() {
            self.insert(USERNAME, name);
        }
        if let Some(arn) = caller.arn() {
            self.insert(PRINCIPAL_ARN, arn);
            self.insert(PRINCIPAL_ACCOUNT, caller.account_id.clone());
        }
        let kind = if caller.is_root() {
            "Account"
        } else if caller.is_anonymous() {
            "Anonymous"
        } else {
            "User"
        };
        self.insert(PRINCIPAL_TYPE, kind)
    }

    /// `aws:CurrentTime` (ISO 8601, UTC, seconds) and `aws:EpochTime` (seconds).
    pub fn set_time(&mut self, now_ms: i64) -> &mut Self {
        self.insert(CURRENT_TIME, iso8601_seconds(now_ms));
        self.insert(EPOCH_TIME, now_ms.div_euclid(1000).to_string())
    }

    pub fn set_source_ip(&mut self, ip: IpAddr) -> &mut Self {
        self.insert(SOURCE_IP, ip.to_string())
    }

    pub fn set_secure_transport(&mut self, tls: bool) -> &mut Self {
        self.insert(SECURE_TRANSPORT, if tls { "true" } else { "false" })
    }

    /// The retention a request asks for: `s3:object-lock-mode` (`GOVERNANCE` / `COMPLIANCE`),
    /// `s3:object-lock-retain-until-date` (ISO 8601, UTC) and
    /// `s3:object-lock-remaining-retention-days` (see [`remaining_retention_days`]).
    pub fn set_requested_retention(&mut self, mode: &str, retain_until_ms: i64, now_ms: i64) -> &mut Self {
        self.insert(OBJECT_LOCK_MODE, mode);
        self.insert(OBJECT_LOCK_RETAIN_UNTIL_DATE, iso8601_millis(retain_until_ms));
        self.insert(OBJECT_LOCK_REMAINING_RETENTION_DAYS, remaining_retention_days(now_ms, retain_until_ms).to_string())
    }

    /// The keys a request's headers supply: `s3:<header>` for each header of [`HEADER_KEYS`],
    /// and the global keys `aws:Referer` and `aws:UserAgent`. `headers` yields (name, value)
    /// pairs; names compare case-insensitively. A header sent twice keeps its first value.
    pub fn set_request_headers<'h>(&mut self, headers: impl IntoIterator<Item = (&'h str, &'h str)>) -> &mut Self {
        for (name, value) in headers {
            let key = if name.eq_ignore_ascii_case("referer") {
                REFERER.to_owned()
            } else if name.eq_ignore_ascii_case("user-agent") {
                USER_AGENT.to_owned()
            } else if HEADER_KEYS.iter().any(|h| h.eq_ignore_ascii_case(name)) {
                format!("s3:{}", name.to_ascii_lowercase())
            } else {
                continue;
            };
            if self.get(&key).is_none() {
                self.insert(&key, value);
            }
        }
        self
    }

    /// `s3:x-amz-copy-source` of CopyObject / UploadPartCopy: the source as `bucket/key`,
    /// decoded, without a leading slash or `?versionId=` (S3 User Guide, condition key examples:
    /// `"s3:x-amz-copy-source": "amzn-s3-demo-source-bucket/public/*"`).
    pub fn set_copy_source(&mut self, bucket: &str, key: &str) -> &mut Self {
        self.insert(COPY_SOURCE, format!("{bucket}/{key}"))
    }

    /// `s3:object-lock-legal-hold`: `ON` or `OFF`.
    pub fn set_requested_legal_hold(&mut self, on: bool) -> &mut Self {
        self.insert(OBJECT_LOCK_LEGAL_HOLD, if on { "ON" } else { "OFF" })
    }
}

/// Value of `s3:object-lock-remaining-retention-days` for a requested retain-until date.
///
/// **Rounding rule: a started day counts as a whole day** — the ceiling of the remaining time
/// in days, `ceil((retain_until - now) / 24 h)`, as MinIO computes it (spec §7 P2; AWS does not
/// document one). Exactly 10 days ahead gives 10; one millisecond more gives 11; a date already
/// reached gives 0 (never negative). So a bucket policy denying `NumericGreaterThan 10` accepts a
/// client that asks for "now + 10 days" (its "now" is slightly earlier than ours, so less than
/// 10 days remain here), and refuses anything a whole day or more beyond.
pub fn remaining_retention_days(now_ms: i64, retain_until_ms: i64) -> i64 {
    let remaining = i128::from(retain_until_ms) - i128::from(now_ms);
    if remaining <= 0 {
        return 0;
    }
    let days = (remaining + i128::from(MILLIS_PER_DAY) - 1) / i128::from(MILLIS_PER_DAY);
    i64::try_from(days).unwrap_or(i64::MAX)
}

fn datetime(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn iso8601_seconds(ms: i64) -> String {
    let t = datetime(ms.div_euclid(1000) * 1000);
    t.format(&Rfc3339).unwrap_or_default()
}

/// ISO 8601 with milliseconds only when they are not zero: `2030-01-01T00:00:00Z`.
fn iso8601_millis(ms: i64) -> String {
    datetime(ms).format(&Rfc3339).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = MILLIS_PER_DAY;
    const NOW: i64 = 1_800_000_000_000;

    #[test]
    fn remaining_days_round_a_started_day_up() {
        assert_eq!(remaining_retention_days(NOW, NOW + 10 * DAY), 10);
        assert_eq!(remaining_retention_days(NOW, NOW + 10 * DAY + 1), 11);
        assert_eq!(remaining_retention_days(NOW, NOW + 10 * DAY - 1), 10);
        assert_eq!(remaining_retention_days(NOW, NOW + 9 * DAY + 1), 10);
        assert_eq!(remaining_retention_days(NOW, NOW + 1), 1);
        assert_eq!(remaining_retention_days(NOW, NOW), 0);
        assert_eq!(remaining_retention_days(NOW, NOW - 5 * DAY), 0);
        // No overflow at the extremes: (2^64 - 1) ms is 213 503 982 334.6 days.
        assert_eq!(remaining_retention_days(i64::MIN, i64::MAX), 213_503_982_335);
    }

    #[test]
    fn remaining_days_whole_day_margins_around_the_seed_limit() {
        // Seed policy: Deny when remaining days > 10. A client asking for "now + N days" is a
        // little behind the server, so the server sees slightly less than N days.
        let skew = 1500;
        for (n, expected) in [(5, 5), (10, 10), (11, 11), (30, 30)] {
            assert_eq!(remaining_retention_days(NOW, NOW - skew + n * DAY), expected, "{n} days");
        }
    }

    #[test]
    fn keys_are_case_insensitive() {
        let mut c = Context::new();
        c.insert("AWS:SourceIp", "192.0.2.1");
        assert_eq!(c.get("aws:sourceip"), Some(&["192.0.2.1".to_owned()][..]));
        assert_eq!(c.get(SOURCE_IP), c.get("AWS:SOURCEIP"));
    }

    #[test]
    fn principal_keys_per_caller_kind() {
        let mut c = Context::new();
        c.set_principal(&Principal::user("111122223333", "alice", "AIDAALICE"));
        assert_eq!(c.get(USERNAME).unwrap(), ["alice"]);
        assert_eq!(c.get(USERID).unwrap(), ["AIDAALICE"]);
        assert_eq!(c.get(PRINCIPAL_ARN).unwrap(), ["arn:aws:iam::111122223333:user/alice"]);
        c.set_principal(&Principal::anonymous());
        assert_eq!(c.get(USERNAME), None);
        assert_eq!(c.get(PRINCIPAL_ARN), None);
        assert_eq!(c.get(USERID).unwrap(), ["anonymous"]);
        c.set_principal(&Principal::root("111122223333"));
        assert_eq!(c.get(USERID).unwrap(), ["111122223333"]);
        assert_eq!(c.get(PRINCIPAL_TYPE).unwrap(), ["Account"]);
    }

    #[test]
    fn header_keys_from_request_headers() {
        let mut c = Context::new();
        c.set_request_headers([
            ("X-Amz-Grant-Full-Control", "id=abc"),
            ("x-amz-acl", "bucket-owner-full-control"),
            ("x-amz-metadata-directive", "COPY"),
            ("Referer", "http://www.example.com/"),
            ("user-agent", "aws-cli/2"),
            ("x-amz-server-side-encryption", "AES256"),
            ("x-amz-copy-source", "/src/a%20b"),
            ("x-amz-meta-foo", "bar"),
            ("referer", "http://second.example.com/"),
        ]);
        assert_eq!(c.get(GRANT_FULL_CONTROL).unwrap(), ["id=abc"]);
        assert_eq!(c.get(ACL).unwrap(), ["bucket-owner-full-control"]);
        assert_eq!(c.get(METADATA_DIRECTIVE).unwrap(), ["COPY"]);
        assert_eq!(c.get(REFERER).unwrap(), ["http://www.example.com/"], "first value kept");
        assert_eq!(c.get(USER_AGENT).unwrap(), ["aws-cli/2"]);
        assert_eq!(c.get("s3:x-amz-server-side-encryption"), None, "not honoured, so not a key");
        assert_eq!(c.get(COPY_SOURCE), None, "only through set_copy_source");
        assert_eq!(c.get("s3:x-amz-meta-foo"), None);
        c.set_copy_source("src", "public/a b");
        assert_eq!(c.get(COPY_SOURCE).unwrap(), ["src/public/a b"]);
    }

    #[test]
    fn time_and_retention_keys() {
        let mut c = Context::new();
        c.set_time(1_767_225_600_123); // 2026-01-01T00:00:00.123Z
        assert_eq!(c.get(CURRENT_TIME).unwrap(), ["2026-01-01T00:00:00Z"]);
        assert_eq!(c.get(EPOCH_TIME).unwrap(), ["1767225600"]);
        c.set_requested_retention("GOVERNANCE", 1_767_225_600_000 + 30 * DAY, 1_767_225_600_000);
        assert_eq!(c.get(OBJECT_LOCK_MODE).unwrap(), ["GOVERNANCE"]);
        assert_eq!(c.get(OBJECT_LOCK_RETAIN_UNTIL_DATE).unwrap(), ["2026-01-31T00:00:00Z"]);
        assert_eq!(c.get(OBJECT_LOCK_REMAINING_RETENTION_DAYS).unwrap(), ["30"]);
        c.set_requested_legal_hold(true);
        assert_eq!(c.get(OBJECT_LOCK_LEGAL_HOLD).unwrap(), ["ON"]);
    }
}
