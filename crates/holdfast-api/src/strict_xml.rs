//! One strict layer for every XML request body. s3s deserializes bodies
//! leniently: an element it does not know (`<mode>` instead of `<Mode>`, `<rule>` instead
//! of `<Rule>`) is skipped, and the field it stood for reads as absent — which for a
//! retention or a lock configuration means *no protection*. Before s3s sees a body, it is
//! checked here against the operation's schema: every element must be one the operation
//! knows, in its place, spelled exactly, at most once where AWS allows one; numbers must be
//! plain decimal integers; booleans `true` or `false`; no DTD, no foreign namespace, no
//! attributes but the S3 `xmlns`. Anything else is 400 MalformedXML and changes nothing.
//! Values with a meaning of their own (modes, dates, statuses) are left to the operations,
//! which answer AWS's more specific codes.

use quick_xml::events::{BytesStart, Event};

/// The S3 namespace; the only one a body may name.
pub const S3_NS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// What an element holds.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// Text of any form (the operation judges it).
    Text,
    /// A decimal integer (digits, an optional leading `-`) that fits in an i64.
    Int,
    /// `true` or `false`.
    Bool,
    /// Child elements only (whitespace between them).
    Node(&'static [El]),
    /// Anything: a part AWS defines that Holdfast refuses as a whole (with a code of its
    /// own) rather than element by element.
    Any,
}

/// One element of a schema.
#[derive(Debug, Clone, Copy)]
pub struct El {
    name: &'static str,
    kind: Kind,
    repeats: bool,
}

const fn text(name: &'static str) -> El {
    El { name, kind: Kind::Text, repeats: false }
}
const fn int(name: &'static str) -> El {
    El { name, kind: Kind::Int, repeats: false }
}
const fn boolean(name: &'static str) -> El {
    El { name, kind: Kind::Bool, repeats: false }
}
const fn node(name: &'static str, children: &'static [El]) -> El {
    El { name, kind: Kind::Node(children), repeats: false }
}
const fn any(name: &'static str) -> El {
    El { name, kind: Kind::Any, repeats: false }
}
const fn many(el: El) -> El {
    El { repeats: true, ..el }
}

const RETENTION: El = node("Retention", &[text("Mode"), text("RetainUntilDate")]);
const LEGAL_HOLD: El = node("LegalHold", &[text("Status")]);
const LOCK_CONFIGURATION: El = node(
    "ObjectLockConfiguration",
    &[text("ObjectLockEnabled"), node("Rule", &[node("DefaultRetention", &[text("Mode"), int("Days"), int("Years")])])],
);
const VERSIONING: El = node("VersioningConfiguration", &[text("Status"), text("MfaDelete")]);
const DELETE: El = node(
    "Delete",
    &[
        boolean("Quiet"),
        many(node("Object", &[text("Key"), text("VersionId"), text("ETag"), text("LastModifiedTime"), int("Size")])),
    ],
);
const COMPLETE_MULTIPART: El = node(
    "CompleteMultipartUpload",
    &[many(node(
        "Part",
        &[
            int("PartNumber"),
            text("ETag"),
            text("ChecksumCRC32"),
            text("ChecksumCRC32C"),
            text("ChecksumCRC64NVME"),
            text("ChecksumSHA1"),
            text("ChecksumSHA256"),
        ],
    ))],
);
const TAG: El = node("Tag", &[text("Key"), text("Value")]);
const TAGGING: El = node("Tagging", &[node("TagSet", &[many(TAG)])]);
const SIZE_BOUNDS: [El; 2] = [int("ObjectSizeGreaterThan"), int("ObjectSizeLessThan")];
const LIFECYCLE_FILTER: El = node(
    "Filter",
    &[
        text("Prefix"),
        TAG,
        SIZE_BOUNDS[0],
        SIZE_BOUNDS[1],
        node("And", &[text("Prefix"), many(TAG), SIZE_BOUNDS[0], SIZE_BOUNDS[1]]),
    ],
);
const LIFECYCLE: El = node(
    "LifecycleConfiguration",
    &[many(node(
        "Rule",
        &[
            text("ID"),
            text("Prefix"),
            LIFECYCLE_FILTER,
            text("Status"),
            node("Expiration", &[text("Date"), int("Days"), boolean("ExpiredObjectDeleteMarker")]),
            many(node("Transition", &[text("Date"), int("Days"), text("StorageClass")])),
            node("NoncurrentVersionExpiration", &[int("NoncurrentDays"), int("NewerNoncurrentVersions")]),
            many(node(
                "NoncurrentVersionTransition",
                &[int("NoncurrentDays"), text("StorageClass"), int("NewerNoncurrentVersions")],
            )),
            node("AbortIncompleteMultipartUpload", &[int("DaysAfterInitiation")]),
        ],
    ))],
);
const KEY_FILTER: El = node("Filter", &[node("S3Key", &[many(node("FilterRule", &[text("Name"), text("Value")]))])]);
const TOPIC: El = many(node("TopicConfiguration", &[text("Id"), text("Topic"), many(text("Event")), KEY_FILTER]));
const QUEUE: El = many(node("QueueConfiguration", &[text("Id"), text("Queue"), many(text("Event")), KEY_FILTER]));
const FUNCTION: El =
    many(node("CloudFunctionConfiguration", &[text("Id"), text("CloudFunction"), many(text("Event")), KEY_FILTER]));
const NOTIFICATION: El =
    node("NotificationConfiguration", &[TOPIC, QUEUE, FUNCTION, node("EventBridgeConfiguration", &[])]);

const REPLICATION_FILTER: El = node("Filter", &[text("Prefix"), TAG, node("And", &[text("Prefix"), many(TAG)])]);
const REPLICATION: El = node(
    "ReplicationConfiguration",
    &[
        text("Role"),
        many(node(
            "Rule",
            &[
                text("ID"),
                int("Priority"),
                text("Prefix"),
                REPLICATION_FILTER,
                text("Status"),
                node(
                    "SourceSelectionCriteria",
                    &[
                        node("SseKmsEncryptedObjects", &[text("Status")]),
                        node("ReplicaModifications", &[text("Status")]),
                    ],
                ),
                node("ExistingObjectReplication", &[text("Status")]),
                node(
                    "Destination",
                    &[
                        text("Bucket"),
                        text("Account"),
                        text("StorageClass"),
                        node("AccessControlTranslation", &[text("Owner")]),
                        node("EncryptionConfiguration", &[text("ReplicaKmsKeyID")]),
                        node("ReplicationTime", &[text("Status"), node("Time", &[int("Minutes")])]),
                        node("Metrics", &[text("Status"), node("EventThreshold", &[int("Minutes")])]),
                    ],
                ),
                node("DeleteMarkerReplication", &[text("Status")]),
            ],
        )),
    ],
);

const INVENTORY: El = node(
    "InventoryConfiguration",
    &[
        node(
            "Destination",
            &[node(
                "S3BucketDestination",
                &[
                    text("AccountId"),
                    text("Bucket"),
                    node("Encryption", &[node("SSE-S3", &[]), node("SSE-KMS", &[text("KeyId")])]),
                    text("Format"),
                    text("Prefix"),
                ],
            )],
        ),
        boolean("IsEnabled"),
        node("Filter", &[text("Prefix")]),
        text("Id"),
        text("IncludedObjectVersions"),
        node("OptionalFields", &[many(text("Field"))]),
        node("Schedule", &[text("Frequency")]),
    ],
);

/// The schema of an operation's body, for the operations that take an XML body.
pub fn schema(op: &str) -> Option<&'static El> {
    static SCHEMAS: [(&str, El); 12] = [
        ("PutObjectRetention", RETENTION),
        ("PutObjectLegalHold", LEGAL_HOLD),
        ("PutObjectLockConfiguration", LOCK_CONFIGURATION),
        ("PutBucketVersioning", VERSIONING),
        ("DeleteObjects", DELETE),
        ("CompleteMultipartUpload", COMPLETE_MULTIPART),
        ("PutObjectTagging", TAGGING),
        ("PutBucketTagging", TAGGING),
        ("PutBucketLifecycleConfiguration", LIFECYCLE),
        ("PutBucketNotificationConfiguration", NOTIFICATION),
        ("PutBucketReplication", REPLICATION),
        ("PutBucketInventoryConfiguration", INVENTORY),
    ];
    SCHEMAS.iter().find(|(name, _)| *name == op).map(|(_, el)| el)
}

/// Why a body was refused (for the message and for tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed(pub String);

fn malformed(why: impl Into<String>) -> Malformed {
    Malformed(why.into())
}

struct Open {
    el: &'static El,
    seen: Vec<&'static str>,
    text: String,
}

fn check_attributes(e: &BytesStart<'_>, ns: &str) -> Result<(), Malformed> {
    for attr in e.attributes() {
        let attr = attr.map_err(|e| malformed(format!("bad attribute: {e}")))?;
        let value = attr
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|e| malformed(format!("bad attribute value: {e}")))?;
        if attr.key.as_ref() != b"xmlns" || value != ns {
            return Err(malformed(format!(
                "unexpected attribute {}=\"{value}\"",
                String::from_utf8_lossy(attr.key.as_ref())
            )));
        }
    }
    Ok(())
}

fn check_value(el: &El, text: &str) -> Result<(), Malformed> {
    let ok = match el.kind {
        Kind::Int => {
            // A sign is kept for the operations to judge (a negative retention period is
            // AWS's InvalidRetentionPeriod, not MalformedXML); nothing else but digits.
            let digits = text.strip_prefix('-').unwrap_or(text);
            !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) && text.parse::<i64>().is_ok()
        }
        Kind::Bool => text == "true" || text == "false",
        Kind::Text | Kind::Node(_) | Kind::Any => true,
    };
    if ok { Ok(()) } else { Err(malformed(format!("<{}> must be {}, not {text:?}", el.name, expected(el.kind)))) }
}

fn expected(kind: Kind) -> &'static str {
    match kind {
        Kind::Int => "a decimal integer",
        Kind::Bool => "true or false",
        Kind::Text | Kind::Node(_) | Kind::Any => "text",
    }
}

/// Checks `body` against `root`'s schema.
pub fn validate(root: &'static El, body: &[u8]) -> Result<(), Malformed> {
    validate_in(root, body, S3_NS)
}

/// The S3 Control API's namespace (CreateJob).
pub const S3_CONTROL_NS: &str = "http://awss3control.amazonaws.com/doc/2018-08-20/";

/// A CreateJob body, as S3 Batch Operations takes it (`Any`: operations Holdfast does
/// not run; the job API refuses them by name).
pub const CREATE_JOB: El = node(
    "CreateJobRequest",
    &[
        boolean("ConfirmationRequired"),
        node(
            "Operation",
            &[
                node("S3PutObjectLegalHold", &[node("LegalHold", &[text("Status")])]),
                node(
                    "S3PutObjectRetention",
                    &[
                        boolean("BypassGovernanceRetention"),
                        node("Retention", &[text("RetainUntilDate"), text("Mode")]),
                    ],
                ),
                any("LambdaInvoke"),
                any("S3PutObjectCopy"),
                any("S3PutObjectAcl"),
                any("S3PutObjectTagging"),
                any("S3DeleteObjectTagging"),
                any("S3InitiateRestoreObject"),
                any("S3ReplicateObject"),
                any("S3ComputeObjectChecksum"),
                any("S3UpdateObjectEncryption"),
            ],
        ),
        node(
            "Report",
            &[
                text("Bucket"),
                text("Format"),
                boolean("Enabled"),
                text("Prefix"),
                text("ReportScope"),
                text("ExpectedBucketOwner"),
            ],
        ),
        text("ClientRequestToken"),
        node(
            "Manifest",
            &[
                node("Spec", &[text("Format"), node("Fields", &[many(text("member"))])]),
                node("Location", &[text("ObjectArn"), text("ObjectVersionId"), text("ETag")]),
            ],
        ),
        text("Description"),
        int("Priority"),
        text("RoleArn"),
        node("Tags", &[many(node("member", &[text("Key"), text("Value")]))]),
        any("ManifestGenerator"),
    ],
);

/// [`validate`] for a body whose only namespace is `ns`.
pub fn validate_in(root: &'static El, body: &[u8], ns: &str) -> Result<(), Malformed> {
    let text = std::str::from_utf8(body).map_err(|_| malformed("the body is not UTF-8"))?;
    let mut reader = quick_xml::Reader::from_str(text);
    let mut stack: Vec<Open> = Vec::new();
    let mut done = false;
    loop {
        let event = reader.read_event().map_err(|e| malformed(format!("not well-formed XML: {e}")))?;
        match event {
            Event::Start(e) | Event::Empty(e) if done => {
                return Err(malformed(format!(
                    "content after the root element: <{}>",
                    String::from_utf8_lossy(e.name().as_ref())
                )));
            }
            ref ev @ (Event::Start(ref e) | Event::Empty(ref e)) => {
                let empty = matches!(ev, Event::Empty(_));
                let name = std::str::from_utf8(e.name().as_ref())
                    .map_err(|_| malformed("an element name is not UTF-8"))?
                    .to_owned();
                let el: &'static El = match stack.last_mut() {
                    // Inside a part taken whole: anything goes.
                    Some(parent) if matches!(parent.el.kind, Kind::Any) => parent.el,
                    None if name == root.name => root,
                    None => return Err(malformed(format!("the root element must be <{}>, not <{name}>", root.name))),
                    Some(parent) => {
                        let Kind::Node(children) = parent.el.kind else {
                            return Err(malformed(format!("<{}> holds text, not <{name}>", parent.el.name)));
                        };
                        let child = children
                            .iter()
                            .find(|c| c.name == name)
                            .ok_or_else(|| malformed(format!("<{name}> is not allowed in <{}>", parent.el.name)))?;
                        if !child.repeats && parent.seen.contains(&child.name) {
                            return Err(malformed(format!("<{name}> appears more than once in <{}>", parent.el.name)));
                        }
                        parent.seen.push(child.name);
                        child
                    }
                };
                if !matches!(el.kind, Kind::Any) {
                    check_attributes(e, ns)?;
                }
                if empty {
                    check_value(el, "")?;
                    done = stack.is_empty();
                } else {
                    stack.push(Open { el, seen: Vec::new(), text: String::new() });
                }
            }
            Event::End(_) => {
                // quick-xml checks that end tags match their start tags.
                let open = stack.pop().ok_or_else(|| malformed("an end tag without a start tag"))?;
                check_value(open.el, &open.text)?;
                done = stack.is_empty();
            }
            Event::Text(t) => {
                let t = t.decode().map_err(|e| malformed(format!("bad text: {e}")))?;
                let t = quick_xml::escape::unescape(&t).map_err(|e| malformed(format!("bad text: {e}")))?;
                push_text(stack.last_mut(), &t)?;
            }
            Event::GeneralRef(r) => {
                let name = r.decode().map_err(|e| malformed(format!("bad reference: {e}")))?;
                let reference = format!("&{name};");
                let resolved = quick_xml::escape::unescape(&reference)
                    .map_err(|_| malformed(format!("unknown entity {reference}")))?;
                push_text(stack.last_mut(), &resolved)?;
            }
            Event::CData(c) => {
                let t = std::str::from_utf8(&c).map_err(|_| malformed("CDATA is not UTF-8"))?.to_owned();
                push_text(stack.last_mut(), &t)?;
            }
            Event::DocType(_) => return Err(malformed("a document type declaration is not allowed")),
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) => {}
            Event::Eof => break,
        }
    }
    if !done || !stack.is_empty() {
        return Err(malformed(format!("the body is not a complete <{}> document", root.name)));
    }
    Ok(())
}

fn push_text(open: Option<&mut Open>, t: &str) -> Result<(), Malformed> {
    match open {
        Some(o) if matches!(o.el.kind, Kind::Any) => Ok(()),
        Some(o) if matches!(o.el.kind, Kind::Node(_)) => {
            if t.trim().is_empty() {
                Ok(())
            } else {
                Err(malformed(format!("<{}> holds elements, not text {t:?}", o.el.name)))
            }
        }
        Some(o) => {
            o.text.push_str(t);
            Ok(())
        }
        None if t.trim().is_empty() => Ok(()),
        None => Err(malformed(format!("text outside the root element: {t:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(op: &str, body: &str) -> Result<(), Malformed> {
        validate(schema(op).unwrap(), body.as_bytes())
    }

    #[test]
    fn valid_bodies_pass() {
        let ns = format!("xmlns=\"{S3_NS}\"");
        for (op, body) in [
            (
                "PutObjectRetention",
                format!(
                    "<?xml version=\"1.0\"?><Retention {ns}><Mode>GOVERNANCE</Mode>\n<RetainUntilDate>2030-01-01T00:00:00Z</RetainUntilDate></Retention>"
                ),
            ),
            ("PutObjectRetention", "<Retention/>".into()),
            ("PutObjectLegalHold", "<LegalHold><Status>ON</Status></LegalHold>".into()),
            (
                "PutObjectLockConfiguration",
                "<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention><Mode>COMPLIANCE</Mode><Days>30</Days></DefaultRetention></Rule></ObjectLockConfiguration>".into(),
            ),
            (
                "DeleteObjects",
                "<Delete><Quiet>true</Quiet><Object><Key>a &amp; b</Key></Object><Object><Key><![CDATA[c<d]]></Key><VersionId>null</VersionId></Object></Delete>".into(),
            ),
            (
                "PutBucketLifecycleConfiguration",
                "<LifecycleConfiguration><Rule><ID>r</ID><Filter><And><Prefix>p/</Prefix><Tag><Key>k</Key><Value>v</Value></Tag><Tag><Key>k2</Key><Value/></Tag></And></Filter><Status>Enabled</Status><NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays></NoncurrentVersionExpiration></Rule></LifecycleConfiguration>".into(),
            ),
            ("PutBucketNotificationConfiguration", "<NotificationConfiguration/>".into()),
        ] {
            assert_eq!(check(op, &body), Ok(()), "{op}: {body}");
        }
    }

    #[test]
    fn what_s3s_would_drop_is_refused() {
        for (op, body, why) in [
            // lower-case elements silently removed a retention and a default.
            ("PutObjectRetention", "<Retention><mode>GOVERNANCE</mode></Retention>", "<mode> is not allowed"),
            (
                "PutObjectLockConfiguration",
                "<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><rule/></ObjectLockConfiguration>",
                "<rule> is not allowed",
            ),
            (
                "PutObjectRetention",
                "<Retention><Mode>GOVERNANCE</Mode><Mode>COMPLIANCE</Mode></Retention>",
                "more than once",
            ),
            ("PutObjectRetention", "<retention/>", "root element"),
            ("PutObjectRetention", "<Retention xmlns=\"http://example.com/\"/>", "unexpected attribute"),
            (
                "PutObjectRetention",
                "<s3:Retention xmlns:s3=\"http://s3.amazonaws.com/doc/2006-03-01/\"/>",
                "root element|unexpected attribute",
            ),
            ("PutObjectRetention", "<Retention>text</Retention>", "not text"),
            ("PutObjectRetention", "<Retention></Retention><Retention/>", "after the root"),
            ("PutObjectRetention", "<Retention><Mode>GOVERNANCE</Mode>", "not well-formed|not a complete"),
            ("PutObjectRetention", "<!DOCTYPE r [<!ENTITY x \"y\">]><Retention/>", "document type"),
            ("PutObjectRetention", "", "not a complete"),
            ("PutObjectLegalHold", "<LegalHold><Status>ON<b/></Status></LegalHold>", "holds text"),
            ("DeleteObjects", "<Delete><Quiet>True</Quiet></Delete>", "true or false"),
            ("DeleteObjects", "<Delete><Object><Key>k</Key><Extra/></Object></Delete>", "<Extra> is not allowed"),
            ("PutObjectRetention", "<Retention><Mode>&bogus;</Mode></Retention>", "entity|not well-formed"),
        ] {
            let err = check(op, body).expect_err(body);
            assert!(why.split('|').any(|w| err.0.contains(w)), "{body}: {}", err.0);
        }
    }

    #[test]
    fn numbers_are_plain_decimal_integers() {
        let config = |days: &str| {
            format!(
                "<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention><Mode>GOVERNANCE</Mode><Days>{days}</Days></DefaultRetention></Rule></ObjectLockConfiguration>"
            )
        };
        for bad in ["1.5", "1e2", "2abc", "--1", "-", "+1", " 1", "", "99999999999999999999", "0x10", "１"] {
            let err = check("PutObjectLockConfiguration", &config(bad)).expect_err(bad);
            assert!(err.0.contains("decimal integer"), "{bad}: {}", err.0);
        }
        for good in ["0", "1", "36500", "0007", "-1"] {
            assert_eq!(check("PutObjectLockConfiguration", &config(good)), Ok(()), "{good}");
        }
    }
}
