//! The reads every request makes (its bucket, owner, policy, one bucket document) as one
//! statement each, outside an explicit transaction: one statement sees one snapshot, so
//! `BEGIN ... COMMIT` around it only added two round trips (issue #17: a 4 KiB PUT on
//! PostgreSQL made five such reads). Inside a request's [`crate::request_view`] scope, the
//! first of the bucket, its policy, owner or quota reads all four in one statement.

use super::{Fail, PgMeta, buckets};
use crate::model::Bucket;
use crate::request_view::{self, Answer, Held, Lookup, Part};
use crate::{BucketConfigKind, MetaError, MetaResult};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

/// Runs `sql` once on a connection of the pool; at most one row.
async fn one(meta: &PgMeta, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Option<Row>, Fail> {
    let client = meta.pool.get().await?;
    let stmt = client.prepare_cached(sql).await?;
    Ok(client.query_opt(&stmt, params).await?)
}

/// The bucket's row and its policy, owner and quota documents, in one statement.
async fn fetch(meta: &PgMeta, name: &str) -> Result<Held, Fail> {
    let sql = format!(
        "SELECT {}, (SELECT p.document FROM bucket_policies p WHERE p.bucket = b.name),
                (SELECT o.account FROM bucket_owners o WHERE o.bucket = b.name),
                (SELECT c.doc FROM bucket_configs c WHERE c.bucket = b.name AND c.kind = $2)
         FROM buckets b WHERE b.name = $1",
        buckets::BUCKET_COLUMNS
    );
    let row = one(meta, &sql, &[&name, &BucketConfigKind::Quota.as_str()]).await?;
    let held = |record, policy, owner, quota| Held {
        bucket: name.to_owned(),
        exists: row.is_some(),
        record: Some(record),
        policy: Some(policy),
        owner: Some(owner),
        quota: Some(quota),
    };
    Ok(match &row {
        None => held(None, None, None, None),
        Some(r) => held(Some(buckets::bucket_from_row(r)?), r.try_get(5)?, r.try_get(6)?, r.try_get(7)?),
    })
}

/// The request view's answer for `part` of `bucket`, fetching the whole view on the request's
/// first such read; `None`: read it alone.
async fn viewed(meta: &PgMeta, bucket: &str, part: Part) -> Result<Option<Answer>, Fail> {
    match request_view::take(bucket, part) {
        Lookup::Held(answer) => Ok(Some(answer)),
        Lookup::Alone => Ok(None),
        Lookup::Fetch => {
            request_view::hold(fetch(meta, bucket).await?);
            Ok(match request_view::take(bucket, part) {
                Lookup::Held(answer) => Some(answer),
                Lookup::Fetch | Lookup::Alone => None,
            })
        }
    }
}

/// A bucket document from the view: NoSuchBucket when the bucket does not exist.
fn document(answer: Answer) -> Result<Option<String>, Fail> {
    match answer {
        Answer::Doc { exists: true, doc } => Ok(doc),
        Answer::Doc { exists: false, .. } => Err(Fail::Meta(MetaError::NoSuchBucket)),
        Answer::Record(_) => Err(Fail::Meta(MetaError::Internal("a bucket document viewed as a record".into()))),
    }
}

pub(super) async fn bucket(meta: &PgMeta, name: &str) -> MetaResult<Option<Bucket>> {
    match viewed(meta, name, Part::Record).await.map_err(Fail::into_meta)? {
        Some(Answer::Record(record)) => return Ok(record),
        Some(Answer::Doc { .. }) | None => {}
    }
    let sql = format!("SELECT {} FROM buckets WHERE name = $1", buckets::BUCKET_COLUMNS);
    let found = async { one(meta, &sql, &[&name]).await?.as_ref().map(buckets::bucket_from_row).transpose() };
    found.await.map_err(Fail::into_meta)
}

/// A bucket's document of `kind`; NoSuchBucket when the bucket does not exist.
pub(super) async fn config(meta: &PgMeta, bucket: &str, kind: BucketConfigKind) -> MetaResult<Option<String>> {
    let found = async {
        if kind == BucketConfigKind::Quota
            && let Some(answer) = viewed(meta, bucket, Part::Quota).await?
        {
            return document(answer);
        }
        let row = one(
            meta,
            "SELECT c.doc FROM buckets b LEFT JOIN bucket_configs c ON c.bucket = b.name AND c.kind = $2
             WHERE b.name = $1",
            &[&bucket, &kind.as_str()],
        )
        .await?
        .ok_or(Fail::Meta(MetaError::NoSuchBucket))?;
        Ok::<_, Fail>(row.try_get::<_, Option<String>>(0)?)
    };
    found.await.map_err(Fail::into_meta)
}

pub(super) async fn owner(meta: &PgMeta, bucket: &str) -> MetaResult<Option<String>> {
    let found = async {
        if let Some(answer) = viewed(meta, bucket, Part::Owner).await? {
            // (No owner is recorded for a bucket that does not exist: none, as below.)
            return Ok(document(answer).ok().flatten());
        }
        let row = one(meta, "SELECT account FROM bucket_owners WHERE bucket = $1", &[&bucket]).await?;
        Ok::<_, Fail>(row.map(|r| r.try_get::<_, String>(0)).transpose()?)
    };
    found.await.map_err(Fail::into_meta)
}

/// A bucket's policy document; NoSuchBucket when the bucket does not exist.
pub(super) async fn policy(meta: &PgMeta, bucket: &str) -> MetaResult<Option<String>> {
    let found = async {
        if let Some(answer) = viewed(meta, bucket, Part::Policy).await? {
            return document(answer);
        }
        let row = one(
            meta,
            "SELECT p.document FROM buckets b LEFT JOIN bucket_policies p ON p.bucket = b.name WHERE b.name = $1",
            &[&bucket],
        )
        .await?
        .ok_or(Fail::Meta(MetaError::NoSuchBucket))?;
        Ok::<_, Fail>(row.try_get::<_, Option<String>>(0)?)
    };
    found.await.map_err(Fail::into_meta)
}
