//! The same-server anchor target: anchors go through the engine's own put path, with a
//! COMPLIANCE lock, into a bucket of this server. No HTTP, no credentials, and it works
//! at shutdown after the listener is closed. The lock then protects an anchor exactly as
//! it protects any version: no API call, lifecycle rule or admin path removes it early.

use anyhow::{Context, bail};
use futures::StreamExt as _;
use holdfast_engine::{BodyClaims, Engine, GetObject, PutObject, ReadConditions};
use holdfast_lock::{LockState, Mode, Retention};
use holdfast_meta::{Bucket, ListQuery, ObjectHeaders, VersionSelector, WriteConditions};

/// The anchor bucket's record; fails unless it exists and has Object Lock enabled.
pub async fn check_bucket(engine: &Engine, bucket: &str) -> anyhow::Result<Bucket> {
    match engine.bucket(bucket).await.context("cannot read the anchor bucket")? {
        None => bail!("anchor bucket {bucket:?} does not exist on this server (create it with Object Lock enabled)"),
        Some(b) if !b.lock_enabled => bail!("anchor bucket {bucket:?} does not have Object Lock enabled"),
        Some(b) => Ok(b),
    }
}

/// Writes one anchor under COMPLIANCE retention for `days`; returns its version id.
pub async fn put(engine: &Engine, bucket: &str, key: &str, body: Vec<u8>, days: i64) -> anyhow::Result<String> {
    let checked = check_bucket(engine, bucket).await?;
    let until = engine.clock.now().plus_millis(days.saturating_mul(86_400_000));
    let len = body.len() as u64;
    let body = futures::stream::once(async move { Ok(bytes::Bytes::from(body)) }).boxed();
    let record = engine
        .put_object_from_reserve(
            &checked,
            PutObject {
                key: key.to_owned(),
                headers: ObjectHeaders { content_type: Some("application/json".into()), ..ObjectHeaders::default() },
                body,
                claims: BodyClaims { content_length: Some(len), ..BodyClaims::none() },
                lock: LockState { retention: Some(Retention { mode: Mode::Compliance, until }), legal_hold: None },
                conditions: WriteConditions::default(),
            },
        )
        .await
        .with_context(|| format!("cannot write the anchor {bucket}/{key}"))?;
    Ok(record.version_id)
}

/// Every object version under `prefix`: (key, version id).
pub async fn list(engine: &Engine, bucket: &str, prefix: &str) -> anyhow::Result<Vec<(String, String)>> {
    check_bucket(engine, bucket).await?;
    let mut out = Vec::new();
    let (mut after, mut after_version) = (None, None);
    for _ in 0..100_000 {
        let page = engine
            .list_versions(ListQuery {
                bucket: bucket.to_owned(),
                prefix: prefix.to_owned(),
                delimiter: None,
                after: after.take(),
                after_version: after_version.take(),
                max_keys: 1000,
            })
            .await
            .with_context(|| format!("cannot list the anchors in {bucket}/{prefix}"))?;
        out.extend(
            page.versions.iter().filter(|v| !v.is_delete_marker()).map(|v| (v.key.clone(), v.version_id.clone())),
        );
        if !page.truncated {
            return Ok(out);
        }
        after = page.next_marker;
        after_version = page.next_version_marker;
    }
    bail!("too many anchors under {bucket}/{prefix}")
}

pub async fn get(engine: &Engine, bucket: &str, key: &str, version: &str) -> anyhow::Result<Vec<u8>> {
    read(engine, bucket, key, VersionSelector::Id(version.to_owned())).await
}

pub async fn get_latest(engine: &Engine, bucket: &str, key: &str) -> anyhow::Result<Vec<u8>> {
    read(engine, bucket, key, VersionSelector::Latest).await
}

async fn read(engine: &Engine, bucket: &str, key: &str, version: VersionSelector) -> anyhow::Result<Vec<u8>> {
    let read = engine
        .get_object(
            GetObject {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
                version,
                range: None,
                part_number: None,
                conditions: ReadConditions::default(),
                with_tags: false,
            },
            true,
        )
        .await
        .with_context(|| format!("cannot read the anchor {bucket}/{key}"))?;
    let mut out = Vec::new();
    if let Some(mut body) = read.body {
        while let Some(chunk) = body.next().await {
            out.extend_from_slice(&chunk.with_context(|| format!("cannot read the anchor {bucket}/{key}"))?);
        }
    }
    Ok(out)
}
