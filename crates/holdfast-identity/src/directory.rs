//! The key directory: maps an access key to its principal and secret, for SigV4 and for
//! authorization. The root user comes from the server's configuration; every other user
//! lives in the [`IdentityStore`].

use crate::Sealer;
use holdfast_meta::{IdentityStore, MetaResult};
use std::sync::Arc;
use subtle::ConstantTimeEq;

#[derive(Clone)]
pub struct RootCredentials {
    pub access_key: String,
    pub secret_key: String,
}

impl std::fmt::Debug for RootCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RootCredentials").field("access_key", &self.access_key).finish_non_exhaustive()
    }
}

/// Who a request acts as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// The account root: every action unless a bucket policy denies it explicitly; never
    /// an override of COMPLIANCE retention or legal hold (P5, DP9).
    Root,
    User {
        name: String,
        id: String,
    },
    /// The root of another account configured on this installation (`[[accounts]]`): it
    /// owns the buckets it creates and reaches others' only where their bucket policy lets it.
    AccountRoot {
        account_id: String,
    },
    Anonymous,
}

/// Another account of this installation: its own root keys and its own buckets.
#[derive(Clone)]
pub struct Account {
    pub name: String,
    pub account_id: String,
    pub canonical_id: String,
    pub access_key: String,
    pub secret_key: String,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("name", &self.name)
            .field("account_id", &self.account_id)
            .finish_non_exhaustive()
    }
}

impl Principal {
    /// `arn:aws:iam::<account>:root` / `...:user/<name>`; anonymous has none.
    pub fn arn(&self, account_id: &str) -> Option<String> {
        match self {
            Self::Root => Some(format!("arn:aws:iam::{account_id}:root")),
            Self::User { name, .. } => Some(format!("arn:aws:iam::{account_id}:user/{name}")),
            Self::AccountRoot { account_id } => Some(format!("arn:aws:iam::{account_id}:root")),
            Self::Anonymous => None,
        }
    }
}

pub struct Directory {
    store: Arc<dyn IdentityStore>,
    sealer: Sealer,
    root: RootCredentials,
    account_id: String,
    canonical_id: String,
    accounts: Vec<Account>,
}

impl Directory {
    pub fn new(
        store: Arc<dyn IdentityStore>,
        sealer: Sealer,
        root: RootCredentials,
        account_id: String,
        canonical_id: String,
    ) -> Self {
        Self { store, sealer, root, account_id, canonical_id, accounts: Vec::new() }
    }

    /// Adds the other accounts this installation serves.
    #[must_use]
    pub fn with_accounts(mut self, accounts: Vec<Account>) -> Self {
        self.accounts = accounts;
        self
    }

    /// The installation's own account id.
    pub fn account_id(&self) -> &str {
        &self.account_id
    }

    /// The account a principal belongs to; anonymous callers have none.
    pub fn account_of<'p>(&'p self, p: &'p Principal) -> Option<&'p str> {
        match p {
            Principal::Root | Principal::User { .. } => Some(&self.account_id),
            Principal::AccountRoot { account_id } => Some(account_id),
            Principal::Anonymous => None,
        }
    }

    /// The canonical user id S3 shows as an account's owner id.
    pub fn canonical_id(&self, account_id: &str) -> &str {
        self.accounts.iter().find(|a| a.account_id == account_id).map_or(&self.canonical_id, |a| &a.canonical_id)
    }

    pub fn store(&self) -> &Arc<dyn IdentityStore> {
        &self.store
    }

    pub fn sealer(&self) -> &Sealer {
        &self.sealer
    }

    /// The principal and secret of an active key; `None` for an unknown or inactive key
    /// (both answered as InvalidAccessKeyId, as AWS does).
    pub async fn lookup(&self, access_key: &str) -> MetaResult<Option<(Principal, String)>> {
        if bool::from(access_key.as_bytes().ct_eq(self.root.access_key.as_bytes())) {
            return Ok(Some((Principal::Root, self.root.secret_key.clone())));
        }
        for a in &self.accounts {
            if bool::from(access_key.as_bytes().ct_eq(a.access_key.as_bytes())) {
                return Ok(Some((Principal::AccountRoot { account_id: a.account_id.clone() }, a.secret_key.clone())));
            }
        }
        let Some(key) = self.store.access_key(access_key).await? else { return Ok(None) };
        if !key.active {
            return Ok(None);
        }
        let Some(user) = self.store.user(&key.user).await? else { return Ok(None) };
        match self.sealer.open(&key.sealed_secret) {
            Ok(secret) => Ok(Some((Principal::User { name: user.name, id: user.id }, secret))),
            Err(e) => {
                tracing::error!(access_key, error = %e, "cannot open a stored secret");
                Ok(None)
            }
        }
    }

    /// The principal behind an access key that s3s already authenticated.
    pub async fn principal(&self, access_key: &str) -> MetaResult<Option<Principal>> {
        Ok(self.lookup(access_key).await?.map(|(p, _)| p))
    }

    /// The identity policies (JSON documents) attached to a principal.
    pub async fn identity_policies(&self, principal: &Principal) -> MetaResult<Vec<String>> {
        match principal {
            Principal::User { name, .. } => {
                Ok(self.store.user_policies(name).await?.into_iter().map(|(_, d)| d).collect())
            }
            Principal::Root | Principal::AccountRoot { .. } | Principal::Anonymous => Ok(Vec::new()),
        }
    }
}
