//! Users, access keys and policies in SQLite.

use super::{CacheKind, Cached, SqliteMeta};
use crate::identity::{AccessKey, IdentityStore, User};
use crate::{MetaError, MetaResult};
use holdfast_lock::UtcMillis;
use rusqlite::{Connection, OptionalExtension, Row, params};

pub(super) const SCHEMA: &str = r"
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    path TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS access_keys (
    access_key_id TEXT PRIMARY KEY,
    user_name TEXT NOT NULL REFERENCES users (name),
    sealed_secret BLOB NOT NULL,
    active INTEGER NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS access_keys_by_user ON access_keys (user_name);
CREATE TABLE IF NOT EXISTS user_policies (
    user_name TEXT NOT NULL REFERENCES users (name),
    name TEXT NOT NULL,
    document TEXT NOT NULL,
    PRIMARY KEY (user_name, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS bucket_owners (
    bucket TEXT PRIMARY KEY REFERENCES buckets (name) ON DELETE CASCADE,
    account TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS bucket_policies (
    bucket TEXT PRIMARY KEY REFERENCES buckets (name) ON DELETE CASCADE,
    document TEXT NOT NULL
) WITHOUT ROWID;
";

/// IAM allows two access keys per user.
const MAX_KEYS_PER_USER: i64 = 2;

fn user_from_row(r: &Row<'_>) -> rusqlite::Result<User> {
    Ok(User { name: r.get(0)?, id: r.get(1)?, path: r.get(2)?, created: UtcMillis(r.get(3)?) })
}

fn key_from_row(r: &Row<'_>) -> rusqlite::Result<AccessKey> {
    Ok(AccessKey {
        access_key_id: r.get(0)?,
        user: r.get(1)?,
        sealed_secret: r.get(2)?,
        active: r.get(3)?,
        created: UtcMillis(r.get(4)?),
    })
}

const KEY_COLUMNS: &str = "access_key_id, user_name, sealed_secret, active, created_ms";

fn require_user(conn: &Connection, name: &str) -> MetaResult<()> {
    let found: Option<i64> = conn.query_row("SELECT 1 FROM users WHERE name = ?1", [name], |r| r.get(0)).optional()?;
    found.map(|_| ()).ok_or_else(|| MetaError::NoSuchEntity(format!("The user with name {name} cannot be found.")))
}

fn no_such_key(id: &str) -> MetaError {
    MetaError::NoSuchEntity(format!("The Access Key with id {id} cannot be found."))
}

#[async_trait::async_trait]
impl IdentityStore for SqliteMeta {
    async fn create_user(&self, user: User) -> MetaResult<()> {
        self.write(move |c| {
            let taken: Option<i64> =
                c.query_row("SELECT 1 FROM users WHERE name = ?1", [&user.name], |r| r.get(0)).optional()?;
            if taken.is_some() {
                return Err(MetaError::EntityAlreadyExists(format!("User with name {} already exists.", user.name)));
            }
            c.execute(
                "INSERT INTO users (name, id, path, created_ms) VALUES (?1, ?2, ?3, ?4)",
                params![user.name, user.id, user.path, user.created.millis()],
            )?;
            Ok(())
        })
        .await
    }

    async fn user(&self, name: &str) -> MetaResult<Option<User>> {
        let name = name.to_owned();
        self.read(move |c| {
            Ok(c.query_row("SELECT name, id, path, created_ms FROM users WHERE name = ?1", [&name], user_from_row)
                .optional()?)
        })
        .await
    }

    async fn users(&self) -> MetaResult<Vec<User>> {
        self.read(|c| {
            let mut stmt = c.prepare("SELECT name, id, path, created_ms FROM users ORDER BY name")?;
            let rows = stmt.query_map([], user_from_row)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn delete_user(&self, name: &str) -> MetaResult<()> {
        let name = name.to_owned();
        self.write(move |c| {
            require_user(c, &name)?;
            let keys: i64 =
                c.query_row("SELECT count(*) FROM access_keys WHERE user_name = ?1", [&name], |r| r.get(0))?;
            let policies: i64 =
                c.query_row("SELECT count(*) FROM user_policies WHERE user_name = ?1", [&name], |r| r.get(0))?;
            if keys > 0 || policies > 0 {
                return Err(MetaError::DeleteConflict(
                    "Cannot delete entity, must delete access keys and policies first.".into(),
                ));
            }
            c.execute("DELETE FROM users WHERE name = ?1", [&name])?;
            Ok(())
        })
        .await
    }

    async fn create_access_key(&self, key: AccessKey) -> MetaResult<()> {
        self.write(move |c| {
            require_user(c, &key.user)?;
            let n: i64 =
                c.query_row("SELECT count(*) FROM access_keys WHERE user_name = ?1", [&key.user], |r| r.get(0))?;
            if n >= MAX_KEYS_PER_USER {
                return Err(MetaError::LimitExceeded("Cannot exceed quota for AccessKeysPerUser: 2".into()));
            }
            c.execute(
                &format!("INSERT INTO access_keys ({KEY_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5)"),
                params![key.access_key_id, key.user, key.sealed_secret, key.active, key.created.millis()],
            )?;
            Ok(())
        })
        .await
    }

    async fn access_key(&self, access_key_id: &str) -> MetaResult<Option<AccessKey>> {
        let id = access_key_id.to_owned();
        self.read(move |c| {
            Ok(c.query_row(
                &format!("SELECT {KEY_COLUMNS} FROM access_keys WHERE access_key_id = ?1"),
                [&id],
                key_from_row,
            )
            .optional()?)
        })
        .await
    }

    async fn access_keys(&self, user: &str) -> MetaResult<Vec<AccessKey>> {
        let user = user.to_owned();
        self.read(move |c| {
            require_user(c, &user)?;
            let mut stmt =
                c.prepare(&format!("SELECT {KEY_COLUMNS} FROM access_keys WHERE user_name = ?1 ORDER BY created_ms"))?;
            let rows = stmt.query_map([&user], key_from_row)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn set_access_key_active(&self, user: &str, access_key_id: &str, active: bool) -> MetaResult<()> {
        let (user, id) = (user.to_owned(), access_key_id.to_owned());
        self.write(move |c| {
            require_user(c, &user)?;
            let n = c.execute(
                "UPDATE access_keys SET active = ?3 WHERE user_name = ?1 AND access_key_id = ?2",
                params![user, id, active],
            )?;
            if n == 0 {
                return Err(no_such_key(&id));
            }
            Ok(())
        })
        .await
    }

    async fn delete_access_key(&self, user: &str, access_key_id: &str) -> MetaResult<()> {
        let (user, id) = (user.to_owned(), access_key_id.to_owned());
        self.write(move |c| {
            require_user(c, &user)?;
            let n =
                c.execute("DELETE FROM access_keys WHERE user_name = ?1 AND access_key_id = ?2", params![user, id])?;
            if n == 0 {
                return Err(no_such_key(&id));
            }
            Ok(())
        })
        .await
    }

    async fn put_user_policy(&self, user: &str, name: &str, document: &str) -> MetaResult<()> {
        let (user, name, document) = (user.to_owned(), name.to_owned(), document.to_owned());
        self.write(move |c| {
            require_user(c, &user)?;
            c.execute(
                "INSERT INTO user_policies (user_name, name, document) VALUES (?1, ?2, ?3)
                 ON CONFLICT (user_name, name) DO UPDATE SET document = excluded.document",
                params![user, name, document],
            )?;
            Ok(())
        })
        .await
    }

    async fn user_policy(&self, user: &str, name: &str) -> MetaResult<Option<String>> {
        let (user, name) = (user.to_owned(), name.to_owned());
        self.read(move |c| {
            require_user(c, &user)?;
            Ok(c.query_row(
                "SELECT document FROM user_policies WHERE user_name = ?1 AND name = ?2",
                params![user, name],
                |r| r.get(0),
            )
            .optional()?)
        })
        .await
    }

    async fn user_policies(&self, user: &str) -> MetaResult<Vec<(String, String)>> {
        let user = user.to_owned();
        self.read(move |c| {
            require_user(c, &user)?;
            let mut stmt = c.prepare("SELECT name, document FROM user_policies WHERE user_name = ?1 ORDER BY name")?;
            let rows = stmt.query_map([&user], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn delete_user_policy(&self, user: &str, name: &str) -> MetaResult<()> {
        let (user, name) = (user.to_owned(), name.to_owned());
        self.write(move |c| {
            require_user(c, &user)?;
            let n = c.execute("DELETE FROM user_policies WHERE user_name = ?1 AND name = ?2", params![user, name])?;
            if n == 0 {
                return Err(MetaError::NoSuchEntity(format!("The user policy with name {name} cannot be found.")));
            }
            Ok(())
        })
        .await
    }

    async fn set_bucket_policy(&self, bucket: &str, document: Option<&str>) -> MetaResult<()> {
        let (bucket, document) = (bucket.to_owned(), document.map(str::to_owned));
        self.write(move |c| {
            super::buckets::require(c, &bucket)?;
            match document {
                Some(d) => c.execute(
                    "INSERT INTO bucket_policies (bucket, document) VALUES (?1, ?2)
                     ON CONFLICT (bucket) DO UPDATE SET document = excluded.document",
                    params![bucket, d],
                )?,
                None => c.execute("DELETE FROM bucket_policies WHERE bucket = ?1", [&bucket])?,
            };
            Ok(())
        })
        .await
    }

    async fn bucket_policy(&self, bucket: &str) -> MetaResult<Option<String>> {
        let owned = bucket.to_owned();
        let doc = self
            .cached(CacheKind::Policy, bucket, move |c| {
                super::buckets::require(c, &owned)?;
                let mut stmt = c.prepare_cached("SELECT document FROM bucket_policies WHERE bucket = ?1")?;
                Ok(Cached::Text(stmt.query_row([&owned], |r| r.get(0)).optional()?))
            })
            .await?;
        cached_text(doc)
    }

    async fn set_bucket_owner(&self, bucket: &str, account: &str) -> MetaResult<()> {
        let (bucket, account) = (bucket.to_owned(), account.to_owned());
        self.write(move |c| {
            super::buckets::require(c, &bucket)?;
            c.execute(
                "INSERT INTO bucket_owners (bucket, account) VALUES (?1, ?2)
                 ON CONFLICT (bucket) DO UPDATE SET account = excluded.account",
                params![bucket, account],
            )?;
            Ok(())
        })
        .await
    }

    async fn bucket_owners(&self) -> MetaResult<Vec<(String, String)>> {
        self.read(|c| {
            let mut stmt = c.prepare("SELECT bucket, account FROM bucket_owners ORDER BY bucket")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn bucket_owner(&self, bucket: &str) -> MetaResult<Option<String>> {
        let owned = bucket.to_owned();
        let owner = self
            .cached(CacheKind::Owner, bucket, move |c| {
                let mut stmt = c.prepare_cached("SELECT account FROM bucket_owners WHERE bucket = ?1")?;
                Ok(Cached::Text(stmt.query_row([&owned], |r| r.get(0)).optional()?))
            })
            .await?;
        cached_text(owner)
    }
}

fn cached_text(c: Cached) -> MetaResult<Option<String>> {
    match c {
        Cached::Text(t) => Ok(t),
        Cached::Bucket(_) => Err(MetaError::Internal("bucket cache holds the wrong kind".into())),
    }
}
