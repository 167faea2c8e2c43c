//! The syntax and limits AWS applies to a tag set, read from the `x-amz-tagging` header or a
//! `<Tagging>` body, and the request's tags as policy condition keys. Used by the handlers
//! (ops/tagging.rs, writes) and by the access check alike.

use crate::error::invalid_argument;
use holdfast_engine::model::{MAX_TAG_KEY, MAX_TAG_VALUE, MAX_TAGS, TagSet};
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Result};

const HEADER_MESSAGE: &str = "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates.";

const MALFORMED: &str = "The XML you provided was not well-formed or did not validate against our published schema";

fn malformed() -> S3Error {
    S3Error::with_message(S3ErrorCode::MalformedXML, MALFORMED)
}

fn invalid_tag(message: &str) -> S3Error {
    S3Error::with_message(S3ErrorCode::InvalidTag, message.to_owned())
}

/// More than 10 tags. AWS answers 400 BadRequest "Object tags cannot be greater than 10";
/// ceph/s3-tests (`test_put_excess_tags`) expects 400 InvalidTag (the `aws_strict` choice).
fn too_many(aws_strict: bool) -> S3Error {
    if aws_strict {
        let mut e = S3Error::with_message(
            S3ErrorCode::Custom("BadRequest".into()),
            "Object tags cannot be greater than 10".to_owned(),
        );
        e.set_status_code(http::StatusCode::BAD_REQUEST);
        e
    } else {
        invalid_tag("Object tags cannot be greater than 10")
    }
}

/// AWS counts tag lengths in UTF-16 code units ("Amazon S3 object tags are internally
/// represented in UTF-16").
fn utf16_len(s: &str) -> usize {
    s.encode_utf16().count()
}

/// Checks one tag's key and value as AWS does.
fn check_tag(key: &str, value: &str) -> S3Result<()> {
    if key.is_empty() {
        return Err(invalid_tag("The TagKey you have provided is invalid"));
    }
    if utf16_len(key) > MAX_TAG_KEY {
        return Err(invalid_tag("The TagKey you have provided is too long, max 128"));
    }
    if utf16_len(value) > MAX_TAG_VALUE {
        return Err(invalid_tag("The TagValue you have provided is too long, max 256"));
    }
    if key.starts_with("aws:") {
        return Err(invalid_tag("Your TagKey cannot be prefixed with aws:"));
    }
    Ok(())
}

/// A tag set from (key, value) pairs: at most 10, unique keys, each checked.
fn tag_set(pairs: Vec<(String, String)>, aws_strict: bool, duplicate: impl Fn() -> S3Error) -> S3Result<TagSet> {
    if pairs.len() > MAX_TAGS {
        return Err(too_many(aws_strict));
    }
    let mut tags = TagSet::new();
    for (k, v) in pairs {
        check_tag(&k, &v)?;
        if tags.insert(k, v).is_some() {
            return Err(duplicate());
        }
    }
    Ok(tags)
}

/// The `x-amz-tagging` header of PutObject, CreateMultipartUpload and CopyObject (REPLACE):
/// URL query parameters, `key=value&key2` (a key without `=` has the empty value).
pub fn tags_from_header(header: Option<&str>, aws_strict: bool) -> S3Result<TagSet> {
    let Some(header) = header.filter(|h| !h.is_empty()) else { return Ok(TagSet::new()) };
    let bad = || invalid_argument(HEADER_MESSAGE, "x-amz-tagging", Some(header));
    let mut pairs = Vec::new();
    for part in header.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        let decode =
            |s: &str| percent_encoding::percent_decode_str(&s.replace('+', " ")).decode_utf8().map(|c| c.into_owned());
        pairs.push((decode(k).map_err(|_| bad())?, decode(v).map_err(|_| bad())?));
    }
    tag_set(pairs, aws_strict, bad)
}

/// The `<Tagging>` body of PutObjectTagging. A `<Tag>` without `<Key>` or `<Value>` does
/// not validate against the schema (MalformedXML).
pub(crate) fn tags_from_body(tagging: &Tagging, aws_strict: bool) -> S3Result<TagSet> {
    let mut pairs = Vec::with_capacity(tagging.tag_set.len());
    for t in &tagging.tag_set {
        match (&t.key, &t.value) {
            (Some(k), Some(v)) => pairs.push((k.clone(), v.clone())),
            _ => return Err(malformed()),
        }
    }
    tag_set(pairs, aws_strict, || invalid_tag("Cannot provide multiple Tags with the same key"))
}

/// The request's tags as condition keys: `s3:RequestObjectTag/<key>` and
/// `s3:RequestObjectTagKeys` (AWS: PutObject, PutObjectTagging and their versions).
pub(crate) fn request_tag_keys(cx: &mut holdfast_policy::Context, tags: &TagSet) {
    for (k, v) in tags {
        cx.insert(&format!("s3:RequestObjectTag/{k}"), v.clone());
    }
    cx.insert_all("s3:RequestObjectTagKeys", tags.keys().cloned());
}

pub(crate) fn to_dto(tags: &TagSet) -> Vec<Tag> {
    tags.iter().map(|(k, v)| Tag { key: Some(k.clone()), value: Some(v.clone()) }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(e: &S3Error) -> String {
        e.code().as_str().to_owned()
    }

    #[test]
    fn header_parses_as_query_parameters() {
        let t = tags_from_header(Some("foo=bar&bar&a%20b=c%2Bd+e"), false).unwrap();
        assert_eq!(t.get("foo").map(String::as_str), Some("bar"));
        assert_eq!(t.get("bar").map(String::as_str), Some(""));
        assert_eq!(t.get("a b").map(String::as_str), Some("c+d e"));
        assert!(tags_from_header(None, false).unwrap().is_empty());
        assert!(tags_from_header(Some(""), false).unwrap().is_empty());
        let dup = tags_from_header(Some("a=1&a=2"), false).unwrap_err();
        assert_eq!(code(&dup), "InvalidArgument");
        assert_eq!(code(&tags_from_header(Some("a=%ff"), false).unwrap_err()), "InvalidArgument");
    }

    #[test]
    fn limits_count_utf16_code_units() {
        // U+1F600 is two UTF-16 code units: 64 of them are 128 units, 65 are 130.
        let emoji64 = "\u{1F600}".repeat(64);
        assert!(check_tag(&emoji64, "").is_ok());
        assert_eq!(code(&check_tag(&"\u{1F600}".repeat(65), "").unwrap_err()), "InvalidTag");
        assert!(check_tag(&"k".repeat(128), &"v".repeat(256)).is_ok());
        assert_eq!(code(&check_tag(&"k".repeat(129), "").unwrap_err()), "InvalidTag");
        assert_eq!(code(&check_tag("k", &"v".repeat(257)).unwrap_err()), "InvalidTag");
        assert_eq!(code(&check_tag("", "v").unwrap_err()), "InvalidTag");
        assert_eq!(code(&check_tag("aws:x", "v").unwrap_err()), "InvalidTag");
    }

    #[test]
    fn eleven_tags_depend_on_the_mode() {
        let eleven: Vec<String> = (0..11).map(|i| format!("k{i}=v")).collect();
        let header = eleven.join("&");
        assert_eq!(code(&tags_from_header(Some(&header), false).unwrap_err()), "InvalidTag");
        let strict = tags_from_header(Some(&header), true).unwrap_err();
        assert_eq!((code(&strict), strict.status_code()), ("BadRequest".into(), Some(http::StatusCode::BAD_REQUEST)));
        assert_eq!(tags_from_header(Some(&eleven[..10].join("&")), true).unwrap().len(), 10);
    }
}
