//! Users, access keys and policies. Changes that count (two keys per user, no deleting a
//! user who still has keys or policies) hold the user row.

use super::rows::{execute, query, query_opt};
use super::{Fail, PgMeta, RowLock, buckets, read, write};
use crate::identity::{AccessKey, IdentityStore, User};
use crate::{MetaError, MetaResult};
use holdfast_lock::UtcMillis;
use tokio_postgres::Row;

/// IAM allows two access keys per user.
const MAX_KEYS_PER_USER: i64 = 2;

const KEY_COLUMNS: &str = "access_key_id, user_name, sealed_secret, active, created_ms";

fn user_from_row(r: &Row) -> Result<User, Fail> {
    Ok(User { name: r.try_get(0)?, id: r.try_get(1)?, path: r.try_get(2)?, created: UtcMillis(r.try_get(3)?) })
}

fn key_from_row(r: &Row) -> Result<AccessKey, Fail> {
    Ok(AccessKey {
        access_key_id: r.try_get(0)?,
        user: r.try_get(1)?,
        sealed_secret: r.try_get(2)?,
        active: r.try_get(3)?,
        created: UtcMillis(r.try_get(4)?),
    })
}

async fn require_user(tx: &super::Tx<'_>, name: &str, lock: RowLock) -> Result<(), Fail> {
    let sql = format!("SELECT 1 FROM users WHERE name = $1{}", lock.sql());
    match query_opt(tx, &sql, &[&name]).await? {
        Some(_) => Ok(()),
        None => Err(MetaError::NoSuchEntity(format!("The user with name {name} cannot be found.")).into()),
    }
}

fn no_such_key(id: &str) -> Fail {
    MetaError::NoSuchEntity(format!("The Access Key with id {id} cannot be found.")).into()
}

#[async_trait::async_trait]
impl IdentityStore for PgMeta {
    async fn create_user(&self, user: User) -> MetaResult<()> {
        write!(self, |tx| {
            let n = execute(
                &tx,
                "INSERT INTO users (name, id, path, created_ms) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                &[&user.name, &user.id, &user.path, &user.created.millis()],
            )
            .await?;
            if n == 0 {
                return Err(
                    MetaError::EntityAlreadyExists(format!("User with name {} already exists.", user.name)).into()
                );
            }
        })
    }

    async fn user(&self, name: &str) -> MetaResult<Option<User>> {
        read!(self, |tx| {
            query_opt(&tx, "SELECT name, id, path, created_ms FROM users WHERE name = $1", &[&name])
                .await?
                .as_ref()
                .map(user_from_row)
                .transpose()?
        })
    }

    async fn users(&self) -> MetaResult<Vec<User>> {
        read!(self, |tx| {
            query(&tx, "SELECT name, id, path, created_ms FROM users ORDER BY name", &[])
                .await?
                .iter()
                .map(user_from_row)
                .collect::<Result<Vec<_>, _>>()?
        })
    }

    async fn delete_user(&self, name: &str) -> MetaResult<()> {
        write!(self, |tx| {
            require_user(&tx, name, RowLock::Update).await?;
            let busy = query_opt(
                &tx,
                "SELECT 1 WHERE EXISTS (SELECT 1 FROM access_keys WHERE user_name = $1)
                             OR EXISTS (SELECT 1 FROM user_policies WHERE user_name = $1)",
                &[&name],
            )
            .await?;
            if busy.is_some() {
                return Err(MetaError::DeleteConflict(
                    "Cannot delete entity, must delete access keys and policies first.".into(),
                )
                .into());
            }
            execute(&tx, "DELETE FROM users WHERE name = $1", &[&name]).await?;
        })
    }

    async fn create_access_key(&self, key: AccessKey) -> MetaResult<()> {
        write!(self, |tx| {
            require_user(&tx, &key.user, RowLock::Update).await?;
            let n: i64 =
                super::rows::query_one(&tx, "SELECT count(*) FROM access_keys WHERE user_name = $1", &[&key.user])
                    .await?
                    .try_get(0)?;
            if n >= MAX_KEYS_PER_USER {
                return Err(MetaError::LimitExceeded("Cannot exceed quota for AccessKeysPerUser: 2".into()).into());
            }
            execute(
                &tx,
                &format!("INSERT INTO access_keys ({KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5)"),
                &[&key.access_key_id, &key.user, &key.sealed_secret, &key.active, &key.created.millis()],
            )
            .await?;
        })
    }

    async fn access_key(&self, access_key_id: &str) -> MetaResult<Option<AccessKey>> {
        read!(self, |tx| {
            let sql = format!("SELECT {KEY_COLUMNS} FROM access_keys WHERE access_key_id = $1");
            query_opt(&tx, &sql, &[&access_key_id]).await?.as_ref().map(key_from_row).transpose()?
        })
    }

    async fn access_keys(&self, user: &str) -> MetaResult<Vec<AccessKey>> {
        read!(self, |tx| {
            require_user(&tx, user, RowLock::None).await?;
            let sql = format!(
                "SELECT {KEY_COLUMNS} FROM access_keys WHERE user_name = $1 ORDER BY created_ms, access_key_id"
            );
            query(&tx, &sql, &[&user]).await?.iter().map(key_from_row).collect::<Result<Vec<_>, _>>()?
        })
    }

    async fn set_access_key_active(&self, user: &str, access_key_id: &str, active: bool) -> MetaResult<()> {
        write!(self, |tx| {
            require_user(&tx, user, RowLock::KeyShare).await?;
            let n = execute(
                &tx,
                "UPDATE access_keys SET active = $3 WHERE user_name = $1 AND access_key_id = $2",
                &[&user, &access_key_id, &active],
            )
            .await?;
            if n == 0 {
                return Err(no_such_key(access_key_id));
            }
        })
    }

    async fn delete_access_key(&self, user: &str, access_key_id: &str) -> MetaResult<()> {
        write!(self, |tx| {
            require_user(&tx, user, RowLock::Update).await?;
            let n = execute(
                &tx,
                "DELETE FROM access_keys WHERE user_name = $1 AND access_key_id = $2",
                &[&user, &access_key_id],
            )
            .await?;
            if n == 0 {
                return Err(no_such_key(access_key_id));
            }
        })
    }

    async fn put_user_policy(&self, user: &str, name: &str, document: &str) -> MetaResult<()> {
        write!(self, |tx| {
            require_user(&tx, user, RowLock::KeyShare).await?;
            execute(
                &tx,
                "INSERT INTO user_policies (user_name, name, document) VALUES ($1, $2, $3)
                 ON CONFLICT (user_name, name) DO UPDATE SET document = excluded.document",
                &[&user, &name, &document],
            )
            .await?;
        })
    }

    async fn user_policy(&self, user: &str, name: &str) -> MetaResult<Option<String>> {
        read!(self, |tx| {
            require_user(&tx, user, RowLock::None).await?;
            let row = query_opt(
                &tx,
                "SELECT document FROM user_policies WHERE user_name = $1 AND name = $2",
                &[&user, &name],
            )
            .await?;
            row.map(|r| r.try_get::<_, String>(0)).transpose()?
        })
    }

    async fn user_policies(&self, user: &str) -> MetaResult<Vec<(String, String)>> {
        read!(self, |tx| {
            require_user(&tx, user, RowLock::None).await?;
            let rows =
                query(&tx, "SELECT name, document FROM user_policies WHERE user_name = $1 ORDER BY name", &[&user])
                    .await?;
            rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect::<Result<Vec<_>, Fail>>()?
        })
    }

    async fn delete_user_policy(&self, user: &str, name: &str) -> MetaResult<()> {
        write!(self, |tx| {
            require_user(&tx, user, RowLock::Update).await?;
            let n =
                execute(&tx, "DELETE FROM user_policies WHERE user_name = $1 AND name = $2", &[&user, &name]).await?;
            if n == 0 {
                return Err(
                    MetaError::NoSuchEntity(format!("The user policy with name {name} cannot be found.")).into()
                );
            }
        })
    }

    async fn set_bucket_policy(&self, bucket: &str, document: Option<&str>) -> MetaResult<()> {
        write!(self, |tx| {
            buckets::require(&tx, bucket, RowLock::KeyShare).await?;
            match document {
                Some(d) => {
                    execute(
                        &tx,
                        "INSERT INTO bucket_policies (bucket, document) VALUES ($1, $2)
                         ON CONFLICT (bucket) DO UPDATE SET document = excluded.document",
                        &[&bucket, &d],
                    )
                    .await?
                }
                None => execute(&tx, "DELETE FROM bucket_policies WHERE bucket = $1", &[&bucket]).await?,
            };
        })
    }

    async fn set_bucket_owner(&self, bucket: &str, account: &str) -> MetaResult<()> {
        write!(self, |tx| {
            buckets::require(&tx, bucket, RowLock::KeyShare).await?;
            execute(
                &tx,
                "INSERT INTO bucket_owners (bucket, account) VALUES ($1, $2)
                 ON CONFLICT (bucket) DO UPDATE SET account = excluded.account",
                &[&bucket, &account],
            )
            .await?;
        })
    }

    async fn bucket_owners(&self) -> MetaResult<Vec<(String, String)>> {
        read!(self, |tx| {
            let rows = query(&tx, "SELECT bucket, account FROM bucket_owners ORDER BY bucket", &[]).await?;
            rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect::<Result<Vec<_>, Fail>>()?
        })
    }

    async fn bucket_owner(&self, bucket: &str) -> MetaResult<Option<String>> {
        super::single::owner(self, bucket).await
    }

    async fn bucket_policy(&self, bucket: &str) -> MetaResult<Option<String>> {
        super::single::policy(self, bucket).await
    }
}
