//! Buckets the bench makes for itself and removes afterwards: every version it wrote is
//! deleted (legal holds lifted, GOVERNANCE bypassed), uploads are aborted, the bucket goes.

use crate::client::{Call, S3};
use crate::workload::legal_hold_call;
use crate::xml;
use anyhow::bail;
use http::Method;

pub async fn create_bucket(s3: &mut S3, bucket: &str, lock: bool, versioned: bool) -> anyhow::Result<()> {
    let mut call = Call::new(Method::PUT, bucket, None);
    if lock {
        call = call.header("x-amz-bucket-object-lock-enabled", "true");
    }
    let r = s3.send(call, true).await?;
    // A listing bucket whose preparation was interrupted is filled again.
    if !(r.status == http::StatusCode::CONFLICT && r.text().contains("BucketAlreadyOwnedByYou")) {
        r.ok()?;
    }
    if versioned && !lock {
        let xml = "<VersioningConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
                   <Status>Enabled</Status></VersioningConfiguration>";
        s3.send(Call::new(Method::PUT, bucket, None).query("versioning", "").body_md5(xml), true).await?.ok()?;
    }
    Ok(())
}

/// Whether `bucket` exists and holds `key` (the last object a preparation writes).
pub async fn bucket_holds(s3: &mut S3, bucket: &str, key: &str) -> anyhow::Result<bool> {
    let r = s3.send(Call::new(Method::HEAD, bucket, Some(key)), false).await?;
    Ok(r.status.is_success())
}

/// Every (key, version id, is delete marker) of the bucket, a page at a time.
async fn for_each_version_page(
    s3: &mut S3,
    bucket: &str,
    mut f: impl AsyncFnMut(&mut S3, Vec<(String, String)>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let (mut key_marker, mut version_marker) = (String::new(), String::new());
    // Bounded: a page of 1,000 each time; 100,000 pages is 100 million versions.
    for _ in 0..100_000 {
        let mut call = Call::new(Method::GET, bucket, None).query("versions", "").query("max-keys", "1000");
        if !key_marker.is_empty() {
            call = call.query("key-marker", &key_marker).query("version-id-marker", &version_marker);
        }
        let r = s3.send(call, true).await?.ok()?;
        let text = r.text();
        let mut entries = Vec::new();
        for block in xml::all(&text, "Version").into_iter().chain(xml::all(&text, "DeleteMarker")) {
            if let (Some(k), Some(v)) = (xml::first(block, "Key"), xml::first(block, "VersionId")) {
                entries.push((xml::unescape(k), v.to_owned()));
            }
        }
        f(s3, entries).await?;
        if xml::first(&text, "IsTruncated") != Some("true") {
            return Ok(());
        }
        key_marker = xml::first(&text, "NextKeyMarker").map(xml::unescape).unwrap_or_default();
        version_marker = xml::first(&text, "NextVersionIdMarker").unwrap_or_default().to_owned();
    }
    bail!("bucket {bucket} has too many versions to clean up")
}

/// Removes everything the bench wrote to `bucket`, then the bucket. `holds` lifts legal
/// holds first (the legal-hold workload leaves some on).
pub async fn remove_bucket(s3: &mut S3, bucket: &str, holds: bool) -> anyhow::Result<()> {
    // Uploads in progress (an interrupted multipart run).
    let r = s3.send(Call::new(Method::GET, bucket, None).query("uploads", ""), true).await?.ok()?;
    let text = r.text();
    for up in xml::all(&text, "Upload") {
        if let (Some(k), Some(id)) = (xml::first(up, "Key"), xml::first(up, "UploadId")) {
            let key = xml::unescape(k);
            s3.send(Call::new(Method::DELETE, bucket, Some(&key)).query("uploadId", id), false).await?.ok()?;
        }
    }
    if holds {
        for_each_version_page(s3, bucket, async |s3, page| {
            for (k, v) in page {
                let call = legal_hold_call(bucket, &k, "OFF").query("versionId", &v);
                s3.send(call, false).await?.ok()?;
            }
            Ok(())
        })
        .await?;
    }
    // Deleting while listing would move the markers; list a page, delete it, list again.
    for _ in 0..100_000 {
        let mut page = Vec::new();
        let call = Call::new(Method::GET, bucket, None).query("versions", "").query("max-keys", "1000");
        let r = s3.send(call, true).await?.ok()?;
        let text = r.text();
        for block in xml::all(&text, "Version").into_iter().chain(xml::all(&text, "DeleteMarker")) {
            if let (Some(k), Some(v)) = (xml::first(block, "Key"), xml::first(block, "VersionId")) {
                page.push((k.to_owned(), v.to_owned()));
            }
        }
        if page.is_empty() {
            break;
        }
        let mut body = String::from("<Delete><Quiet>true</Quiet>");
        for (k, v) in &page {
            body.push_str(&format!("<Object><Key>{k}</Key><VersionId>{v}</VersionId></Object>"));
        }
        body.push_str("</Delete>");
        let call = Call::new(Method::POST, bucket, None)
            .query("delete", "")
            .header("x-amz-bypass-governance-retention", "true")
            .body_md5(body);
        let r = s3.send(call, true).await?.ok()?;
        if r.text().contains("<Error>") {
            bail!("could not delete every version of {bucket}: {}", r.text());
        }
    }
    s3.send(Call::new(Method::DELETE, bucket, None), false).await?.ok()?;
    Ok(())
}
