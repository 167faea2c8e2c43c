//! The AWS S3 event message (`{"Records":[...]}`, event version 2.1), with the version's
//! Object Lock state added under `s3.object.objectLock` when it has one.

use holdfast_meta::QueuedEvent;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};

/// Keys are URL-encoded as in AWS records (space as `+`; letters, digits, `-_.~/` kept).
const KEY_ENCODE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~').remove(b'/');

fn encode_key(key: &str) -> String {
    key.split(' ').map(|part| utf8_percent_encode(part, KEY_ENCODE).to_string()).collect::<Vec<_>>().join("+")
}

/// The JSON body delivered for one queued event.
pub fn render(q: &QueuedEvent, region: &str) -> Value {
    let e = &q.event;
    let mut object = json!({
        "key": encode_key(&e.key),
        "sequencer": format!("{:016X}", e.sequencer),
    });
    if let Some(size) = e.size {
        object["size"] = json!(size);
    }
    if let Some(etag) = &e.etag {
        object["eTag"] = json!(etag);
    }
    if e.version_id != "null" {
        object["versionId"] = json!(e.version_id);
    }
    if e.lock.retention.is_some() || e.lock.legal_hold.is_some() {
        let mut lock = json!({});
        if let Some(r) = e.lock.retention {
            lock["mode"] = json!(r.mode.as_str());
            lock["retainUntilDate"] = json!(r.until.to_iso8601());
        }
        if let Some(h) = e.lock.legal_hold {
            lock["legalHoldStatus"] = json!(h.as_str());
        }
        object["objectLock"] = lock;
    }
    if let Some(status) = &e.replication_status {
        object["replicationStatus"] = json!(status);
    }
    json!({
        "Records": [{
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": region,
            "eventTime": e.time.to_iso8601(),
            "eventName": e.name.strip_prefix("s3:").unwrap_or(&e.name),
            "userIdentity": { "principalId": "holdfast" },
            "requestParameters": { "sourceIPAddress": "" },
            "responseElements": {},
            "s3": {
                "s3SchemaVersion": "1.0",
                "configurationId": q.config_id,
                "bucket": {
                    "name": e.bucket,
                    "ownerIdentity": { "principalId": "holdfast" },
                    "arn": format!("arn:aws:s3:::{}", e.bucket),
                },
                "object": object,
            },
        }]
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use holdfast_lock::{LegalHold, LockState, Mode, Retention, UtcMillis};
    use holdfast_meta::ObjectEvent;

    #[test]
    fn aws_shape_with_lock_state() {
        let q = QueuedEvent {
            id: 1,
            target: "arn:holdfast:sqs::w:webhook".into(),
            config_id: "cfg".into(),
            attempts: 0,
            event: ObjectEvent {
                name: "s3:ObjectCreated:Put".into(),
                bucket: "b".into(),
                key: "dir/a b+c.txt".into(),
                version_id: "v1".into(),
                size: Some(3),
                etag: Some("abc".into()),
                time: UtcMillis(0),
                replication_status: None,
                lock: LockState {
                    retention: Some(Retention { mode: Mode::Compliance, until: UtcMillis(86_400_000) }),
                    legal_hold: Some(LegalHold::On),
                },
                sequencer: 255,
            },
        };
        let v = render(&q, "us-east-1");
        let r = &v["Records"][0];
        assert_eq!(r["eventName"], "ObjectCreated:Put");
        assert_eq!(r["s3"]["object"]["key"], "dir/a+b%2Bc.txt");
        assert_eq!(r["s3"]["object"]["sequencer"], "00000000000000FF");
        assert_eq!(r["s3"]["object"]["objectLock"]["mode"], "COMPLIANCE");
        assert_eq!(r["s3"]["object"]["objectLock"]["retainUntilDate"], "1970-01-02T00:00:00.000Z");
        assert_eq!(r["s3"]["object"]["objectLock"]["legalHoldStatus"], "ON");
        assert_eq!(r["s3"]["configurationId"], "cfg");
    }
}
