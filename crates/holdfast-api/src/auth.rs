//! Who is calling: SigV4 secrets for s3s, and the access check that runs before every
//! operation (anonymous requests are refused until bucket policies exist).

use s3s::access::{S3Access, S3AccessContext};
use s3s::auth::{S3Auth, SecretKey};
use s3s::{S3Result, s3_error};
use std::sync::{Arc, Mutex};
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

pub struct KeyStore {
    root: RootCredentials,
}

impl KeyStore {
    pub fn new(root: RootCredentials) -> Self {
        Self { root }
    }
}

#[async_trait::async_trait]
impl S3Auth for KeyStore {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        if bool::from(access_key.as_bytes().ct_eq(self.root.access_key.as_bytes())) {
            return Ok(SecretKey::from(self.root.secret_key.clone()));
        }
        Err(s3_error!(InvalidAccessKeyId, "The AWS Access Key Id you provided does not exist in our records."))
    }
}

/// The S3 operation a request resolved to, recorded for metrics and logs at the HTTP edge.
#[derive(Clone, Default)]
pub struct OpSlot(pub Arc<Mutex<Option<String>>>);

impl OpSlot {
    pub fn get(&self) -> Option<String> {
        self.0.lock().ok().and_then(|g| g.clone())
    }
}

pub struct Access;

#[async_trait::async_trait]
impl S3Access for Access {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let op = cx.s3_op().name().to_owned();
        if let Some(slot) = cx.extensions_mut().get::<OpSlot>()
            && let Ok(mut g) = slot.0.lock()
        {
            *g = Some(op);
        }
        if cx.credentials().is_none() {
            return Err(s3_error!(AccessDenied, "Access Denied"));
        }
        // W4: runs before s3s parses the header (and would refuse it in its own words).
        if matches!(cx.s3_op().name(), "PutObject" | "CopyObject" | "CreateMultipartUpload") {
            crate::convert::check_retain_until_header(cx.headers())?;
        }
        Ok(())
    }
}
