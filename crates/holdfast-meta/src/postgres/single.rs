//! The reads every request makes (its bucket, owner, policy, one bucket document) as one
//! statement each, outside an explicit transaction: one statement sees one snapshot, so
//! `BEGIN ... COMMIT` around it only added two round trips (issue #17: a 4 KiB PUT on
//! PostgreSQL made five such reads).

use super::{Fail, PgMeta, buckets};
use crate::model::Bucket;
use crate::{BucketConfigKind, MetaError, MetaResult};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

/// Runs `sql` once on a connection of the pool; at most one row.
async fn one(meta: &PgMeta, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Option<Row>, Fail> {
    let client = meta.pool.get().await?;
    let stmt = client.prepare_cached(sql).await?;
    Ok(client.query_opt(&stmt, params).await?)
}

pub(super) async fn bucket(meta: &PgMeta, name: &str) -> MetaResult<Option<Bucket>> {
    let sql = format!("SELECT {} FROM buckets WHERE name = $1", buckets::BUCKET_COLUMNS);
    let found = async { one(meta, &sql, &[&name]).await?.as_ref().map(buckets::bucket_from_row).transpose() };
    found.await.map_err(Fail::into_meta)
}

/// A bucket's document of `kind`; NoSuchBucket when the bucket does not exist.
pub(super) async fn config(meta: &PgMeta, bucket: &str, kind: BucketConfigKind) -> MetaResult<Option<String>> {
    let found = async {
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
        let row = one(meta, "SELECT account FROM bucket_owners WHERE bucket = $1", &[&bucket]).await?;
        Ok::<_, Fail>(row.map(|r| r.try_get::<_, String>(0)).transpose()?)
    };
    found.await.map_err(Fail::into_meta)
}

/// A bucket's policy document; NoSuchBucket when the bucket does not exist.
pub(super) async fn policy(meta: &PgMeta, bucket: &str) -> MetaResult<Option<String>> {
    let found = async {
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
