//! Authorization: every S3 operation is judged with the actions AWS evaluates for it
//! (`holdfast_policy::actions_for`), the caller's identity policies and the bucket policy,
//! with the request's condition keys — including the Object Lock keys (spec §7 P1, P2).
//!
//! What the check learns for the handlers travels in the request extensions: who the caller
//! is ([`Caller`]), whether it may see lock headers on GET/HEAD ([`LockVisibility`], G2) and
//! whether it holds `s3:BypassGovernanceRetention` ([`BypassGrant`], P4, DP3).

use holdfast_identity::{Directory, Principal};
use holdfast_lock::UtcMillis;
use holdfast_policy::{
    ACCOUNT_RESOURCE, ActionCheck, Context, Decision, Need, Policy, Request, RequestTraits, ResourceKind, actions_for,
    bucket_arn, evaluate, object_arn,
};
use http::{HeaderMap, HeaderValue, Uri};
use s3s::path::S3Path;
use s3s::{S3Result, s3_error};
use std::net::SocketAddr;
use std::sync::Arc;

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

/// Whether GET/HEAD may show the retention and legal-hold headers (G2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockVisibility {
    pub retention: bool,
    pub legal_hold: bool,
}

/// Whether the caller is allowed `s3:BypassGovernanceRetention` on the target (P4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BypassGrant(pub bool);

/// Whether the caller is allowed `s3:ListBucket` on the bucket of a GET/HEAD: without it a
/// missing key answers 403, not 404 (AWS GetObject/HeadObject).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListGrant(pub bool);

/// Whether the caller is allowed `s3:GetObjectTagging` on the target of a GET/HEAD: only then
/// does the answer carry `x-amz-tagging-count` (AWS GetObject).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TagVisibility(pub bool);

/// Operations for which AWS defines `s3:ExistingObjectTag/<key>`: those acting on an existing
/// object version, but not PutObject or DeleteObject (S3 User Guide, "Tagging and access
/// control policies": the key is not supported when granting PUT Object and DELETE Object).
const EXISTING_TAG_OPERATIONS: &[&str] = &[
    "GetObject",
    "HeadObject",
    "GetObjectAcl",
    "PutObjectAcl",
    "GetObjectTagging",
    "PutObjectTagging",
    "DeleteObjectTagging",
    "GetObjectAttributes",
    "GetObjectRetention",
    "PutObjectRetention",
    "GetObjectLegalHold",
    "PutObjectLegalHold",
];

/// Whether any statement of these policies has a condition on an existing object tag: only
/// then is it worth reading the object's tags to authorize a request.
fn mentions_existing_tags<'p>(policies: impl IntoIterator<Item = &'p Policy>) -> bool {
    policies
        .into_iter()
        .flat_map(|p| &p.statements)
        .flat_map(|s| &s.conditions)
        .any(|c| c.key.len() > EXISTING_TAG.len() && c.key[..EXISTING_TAG.len()].eq_ignore_ascii_case(EXISTING_TAG))
}

const EXISTING_TAG: &str = "s3:ExistingObjectTag/";

/// The client's address, put in the request extensions by the HTTP edge (aws:SourceIp).
#[derive(Debug, Clone, Copy)]
pub struct RemoteAddr(pub SocketAddr);

fn header<'h>(h: &'h HeaderMap, name: &str) -> Option<&'h str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

fn query_pairs(uri: &Uri) -> Vec<(String, String)> {
    uri.query().map(form_pairs).unwrap_or_default()
}

/// A query string's pairs, decoded as a form (`+` is a space); shared with the S3 Control edge.
pub(crate) fn form_pairs(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|s| !s.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            let dec =
                |s: &str| percent_encoding::percent_decode_str(&s.replace('+', " ")).decode_utf8_lossy().into_owned();
            (dec(k), dec(v))
        })
        .collect()
}

/// `bucket/key[?versionId=v]` of an `x-amz-copy-source` header, read by s3s's own parser:
/// the source the policy is evaluated on is the object the copy reads (found by
/// fuzzing: a reading of its own took `%2Fb/k` as bucket "" and `b/k?x?versionId=v` as key
/// `k`, where s3s copies `b/k` and `b/k?x`). No source for a header s3s refuses (the request
/// fails there) or an access point (not supported).
pub fn copy_source(h: &HeaderMap) -> Option<(String, String, bool)> {
    match s3s::dto::CopySource::parse(header(h, "x-amz-copy-source")?).ok()? {
        s3s::dto::CopySource::Bucket { bucket, key, version_id } => {
            Some((bucket.into(), key.into(), version_id.is_some()))
        }
        _ => None,
    }
}

/// The request properties that change which actions are evaluated. One pass over the
/// request's header names: a lookup by a `&str` name parses and hashes it, and the ten lookups
/// this took were ~2 % of a 4 KiB GET (issue #17). As with `HeaderMap::get`, a value is the
/// first of its name.
fn traits(h: &HeaderMap, uri: &Uri) -> RequestTraits {
    use crate::ops::replication::{KIND_HEADER, SOURCE_VERSION_HEADER};
    let q = query_pairs(uri);
    let has_q = |name: &str| q.iter().any(|(k, v)| k == name && !v.is_empty());
    let is_true =
        |v: Option<&HeaderValue>| v.and_then(|v| v.to_str().ok()).is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let mut t = RequestTraits { version_id: has_q("versionId"), ..RequestTraits::default() };
    for name in h.keys() {
        match name.as_str() {
            "x-amz-copy-source" => t.source_version_id = copy_source(h).is_some_and(|(_, _, v)| v),
            "x-amz-object-lock-mode" | "x-amz-object-lock-retain-until-date" => t.lock_retention = true,
            "x-amz-object-lock-legal-hold" => t.lock_legal_hold = true,
            "x-amz-bypass-governance-retention" => t.bypass_governance = is_true(h.get(name)),
            "x-amz-bucket-object-lock-enabled" => t.object_lock_enabled = is_true(h.get(name)),
            "x-amz-acl" => t.acl = true,
            n if n.starts_with("x-amz-grant-") => t.acl = true,
            "x-amz-tagging" => t.tagging = true,
            SOURCE_VERSION_HEADER => t.replication = true,
            KIND_HEADER => t.replication_marker = h.get(name).and_then(|v| v.to_str().ok()) == Some("marker"),
            _ => {}
        }
    }
    t
}

/// A caller's identity policies and one bucket's policy and ownership, as read for a check.
#[derive(Clone)]
pub struct Policies {
    identity: Vec<Policy>,
    bucket: Option<Policy>,
    cross_account: bool,
}

pub struct Authorizer {
    dir: Arc<Directory>,
    /// Where object tags are read for `s3:ExistingObjectTag/<key>` conditions.
    objects: Option<Arc<holdfast_engine::Engine>>,
}

/// The inputs of one authorization.
pub struct Target<'a> {
    pub operation: &'a str,
    pub bucket: Option<&'a str>,
    pub key: Option<&'a str>,
    pub headers: &'a HeaderMap,
    pub uri: &'a Uri,
}

impl<'a> Target<'a> {
    /// The bucket and key of a path s3s resolved (path- or virtual-hosted-style).
    pub fn of_path(path: &'a S3Path) -> (Option<&'a str>, Option<&'a str>) {
        match path {
            S3Path::Root => (None, None),
            S3Path::Bucket { bucket } => (Some(bucket), None),
            S3Path::Object { bucket, key } => (Some(bucket), Some(key)),
        }
    }
}

impl Authorizer {
    pub fn new(dir: Arc<Directory>) -> Self {
        Self { dir, objects: None }
    }

    /// Reads object tags through `engine` when a policy has an `s3:ExistingObjectTag/<key>`
    /// condition.
    #[must_use]
    pub fn with_object_tags(mut self, engine: Arc<holdfast_engine::Engine>) -> Self {
        self.objects = Some(engine);
        self
    }

    /// `s3:ExistingObjectTag/<key>` for each tag of the version a request names. A version
    /// that cannot be read (missing, a delete marker) has no tags: conditions on them fail.
    async fn existing_tags(&self, t: &Target<'_>, cx: &mut Context) {
        let (Some(engine), Some(bucket), Some(key)) = (&self.objects, t.bucket, t.key) else { return };
        let version = query_pairs(t.uri).into_iter().find(|(k, v)| k == "versionId" && !v.is_empty()).map(|(_, v)| v);
        let sel = holdfast_engine::model::VersionSelector::from_option(version);
        if let Ok((_, tags)) = engine.object_tags(bucket, key, &sel).await {
            for (k, v) in tags {
                cx.insert(&format!("{EXISTING_TAG}{k}"), v);
            }
        }
    }

    pub fn directory(&self) -> &Arc<Directory> {
        &self.dir
    }

    fn policy_principal(&self, p: &Principal) -> holdfast_policy::Principal {
        match p {
            Principal::Root => holdfast_policy::Principal::root(self.dir.account_id()),
            Principal::User { name, id } => holdfast_policy::Principal::user(self.dir.account_id(), name, id),
            Principal::AccountRoot { account_id } => holdfast_policy::Principal::root(account_id.clone()),
            Principal::Anonymous => holdfast_policy::Principal::anonymous(),
        }
    }

    async fn identity_policies(&self, p: &Principal) -> S3Result<Vec<Policy>> {
        let docs = self.dir.identity_policies(p).await.map_err(|e| s3_error!(InternalError, "{e}"))?;
        // Documents were validated when stored; one that no longer parses grants nothing.
        Ok(docs.iter().filter_map(|d| Policy::parse_identity(d).ok()).collect())
    }

    async fn bucket_policy(&self, bucket: &str) -> Option<Policy> {
        let doc = self.dir.store().bucket_policy(bucket).await.ok().flatten()?;
        // Permissive: a policy stored in s3-tests mode may hold statements AWS would have
        // refused as inapplicable; they never apply, and the rest of the policy must.
        Policy::parse_bucket_permissive(&doc, bucket).ok()
    }

    /// The condition keys every request carries, plus those its headers and query supply.
    fn context(
        &self,
        caller: &holdfast_policy::Principal,
        t: &Target<'_>,
        remote: Option<RemoteAddr>,
        until: Option<Result<UtcMillis, holdfast_lock::WriteDenial>>,
    ) -> Context {
        let mut cx = Context::new();
        let now = UtcMillis::now_system().millis();
        cx.set_principal(caller);
        cx.set_time(now);
        cx.set_secure_transport(false);
        if let Some(RemoteAddr(addr)) = remote {
            cx.set_source_ip(addr.ip());
        }
        for (k, v) in query_pairs(t.uri) {
            match k.as_str() {
                "versionId" => {
                    cx.insert("s3:versionid", v);
                }
                "prefix" => {
                    cx.insert("s3:prefix", v);
                }
                "delimiter" => {
                    cx.insert("s3:delimiter", v);
                }
                "max-keys" => {
                    cx.insert("s3:max-keys", v);
                }
                _ => {}
            }
        }
        // Keys straight from headers (s3:x-amz-acl, s3:x-amz-grant-*, s3:x-amz-metadata-directive,
        // aws:Referer, ...) and the copy source as `bucket/key`.
        cx.set_request_headers(t.headers.iter().filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?))));
        if let Some((bucket, key, _)) = copy_source(t.headers) {
            cx.set_copy_source(&bucket, &key);
        }
        // Lock headers of PutObject / CopyObject / CreateMultipartUpload (P2); the date as the
        // access hook parsed it.
        if let (Some(mode), Some(Ok(until))) = (header(t.headers, "x-amz-object-lock-mode"), until) {
            cx.set_requested_retention(mode, until.millis(), now);
        }
        if let Some(hold) = header(t.headers, "x-amz-object-lock-legal-hold") {
            cx.set_requested_legal_hold(hold == "ON");
        }
        // Tags a write asks for (x-amz-tagging): s3:RequestObjectTag/<key>, s3:RequestObjectTagKeys.
        // A header that does not parse is refused by the operation itself.
        if matches!(t.operation, "PutObject" | "CreateMultipartUpload" | "CopyObject")
            && let Ok(tags) = crate::tags::tags_from_header(header(t.headers, "x-amz-tagging"), false)
            && !tags.is_empty()
        {
            crate::tags::request_tag_keys(&mut cx, &tags);
        }
        cx
    }

    /// Judges one operation. `extra` adds condition keys that only the parsed body knows
    /// (PutObjectRetention, PutObjectLegalHold). Optional checks are recorded in `ext`.
    pub async fn check(
        &self,
        caller: &Principal,
        t: &Target<'_>,
        ext: &mut http::Extensions,
        extra: impl FnOnce(&mut Context),
    ) -> S3Result<()> {
        self.check_with(caller, t, ext, extra, None).await
    }

    /// What [`check`](Self::check) reads about a caller and a bucket before it judges: read
    /// once for the many tasks of a lock job's batch that act on one bucket.
    pub async fn policies(&self, caller: &Principal, bucket: &str) -> S3Result<Policies> {
        Ok(Policies {
            identity: self.identity_policies(caller).await?,
            bucket: self.bucket_policy(bucket).await,
            cross_account: self.is_cross_account(caller, bucket).await,
        })
    }

    /// [`check`](Self::check), with the caller's and the target bucket's policies read
    /// already (`Some`) or read here (`None`).
    pub async fn check_with(
        &self,
        caller: &Principal,
        t: &Target<'_>,
        ext: &mut http::Extensions,
        extra: impl FnOnce(&mut Context),
        loaded: Option<&Policies>,
    ) -> S3Result<()> {
        let traits = traits(t.headers, t.uri);
        let Some(checks) = actions_for(t.operation, &traits) else {
            // An operation without an action mapping is not implemented; only root reaches it.
            return if *caller == Principal::Root { Ok(()) } else { Err(s3_error!(AccessDenied, "Access Denied")) };
        };
        let (bucket, key) = (t.bucket.map(str::to_owned), t.key.map(str::to_owned));
        let principal = self.policy_principal(caller);
        let (identity, target_policy) = match loaded {
            Some(p) => (p.identity.clone(), p.bucket.clone()),
            None => (
                self.identity_policies(caller).await?,
                match &bucket {
                    Some(b) => self.bucket_policy(b).await,
                    None => None,
                },
            ),
        };
        // Condition keys are read only by a policy's statements: with no policy to evaluate
        // (the common case of the account's root on a bucket without a policy) the context is
        // left empty rather than built from every header and query parameter.
        let copies = checks.iter().any(|c| c.resource == ResourceKind::CopySource);
        let mut context = if identity.is_empty() && target_policy.is_none() && !copies {
            Context::new()
        } else {
            let remote = ext.get::<RemoteAddr>().copied();
            let until = crate::convert::RetainUntil::of(ext);
            let mut context = self.context(&principal, t, remote, until);
            extra(&mut context);
            context
        };
        if EXISTING_TAG_OPERATIONS.contains(&t.operation)
            && mentions_existing_tags(identity.iter().chain(&target_policy))
        {
            self.existing_tags(t, &mut context).await;
        }
        // A bucket being created, and the account resource, belong to the caller's account.
        let target_cross = match (bucket.as_deref(), loaded) {
            (Some(_), Some(p)) if t.operation != "CreateBucket" => p.cross_account,
            (Some(b), None) if t.operation != "CreateBucket" => self.is_cross_account(caller, b).await,
            _ => false,
        };
        let mut visibility = LockVisibility { retention: false, legal_hold: false };
        let mut bypass = None;
        let mut list = None;
        let mut tags_visible = false;
        for ActionCheck { action, resource, need } in checks {
            let policy = match resource {
                ResourceKind::Account => None,
                ResourceKind::Bucket | ResourceKind::Object => target_policy.as_ref(),
                ResourceKind::CopySource => {
                    let Some((sb, sk, _)) = copy_source(t.headers) else { continue };
                    let source_policy = self.bucket_policy(&sb).await;
                    let arn = object_arn(&sb, &sk);
                    let cross = self.is_cross_account(caller, &sb).await;
                    let allowed =
                        self.decide(&identity, source_policy.as_ref(), &principal, action, &arn, &context, cross);
                    if !allowed {
                        return Err(s3_error!(AccessDenied, "Access Denied"));
                    }
                    continue;
                }
            };
            let cross = resource != ResourceKind::Account && target_cross;
            // With no policy at all no statement reads the resource: no ARN is formatted.
            let arn = match resource {
                _ if identity.is_empty() && policy.is_none() => String::new(),
                ResourceKind::Account => ACCOUNT_RESOURCE.to_owned(),
                ResourceKind::Bucket => bucket.as_deref().map(bucket_arn).unwrap_or_default(),
                _ => object_arn(bucket.as_deref().unwrap_or_default(), key.as_deref().unwrap_or_default()),
            };
            let allowed = (!cross && self.bucket_policy_root_exception(caller, action))
                || self.decide(&identity, policy, &principal, action, &arn, &context, cross);
            match (need, action) {
                (Need::Required, _) if !allowed => return Err(s3_error!(AccessDenied, "Access Denied")),
                (Need::Optional, "s3:GetObjectRetention") => visibility.retention = allowed,
                (Need::Optional, "s3:GetObjectLegalHold") => visibility.legal_hold = allowed,
                (Need::Optional, "s3:BypassGovernanceRetention") => bypass = Some(allowed),
                (Need::Optional, "s3:ListBucket") => list = Some(allowed),
                (Need::Optional, "s3:GetObjectTagging" | "s3:GetObjectVersionTagging") => tags_visible = allowed,
                _ => {}
            }
        }
        ext.insert(visibility);
        if let Some(b) = bypass {
            ext.insert(BypassGrant(b));
        }
        if let Some(l) = list {
            ext.insert(ListGrant(l));
        }
        ext.insert(TagVisibility(tags_visible));
        ext.insert(Caller(caller.clone()));
        Ok(())
    }

    /// Whether the bucket policy of `bucket` lets the AWS service principal `service` take
    /// `action` on `key` with the condition keys `keys` (`aws:SourceArn`, ...). Only the
    /// bucket policy can grant a service anything: without one the answer is no.
    pub async fn service_allowed(
        &self,
        service: &str,
        action: &str,
        bucket: &str,
        key: &str,
        keys: &[(&str, &str)],
    ) -> bool {
        let Some(policy) = self.bucket_policy(bucket).await else { return false };
        let principal = holdfast_policy::Principal::service(service);
        let mut context = Context::new();
        context.set_principal(&principal);
        context.set_time(UtcMillis::now_system().millis());
        for (k, v) in keys {
            context.insert(k, *v);
        }
        let resource = object_arn(bucket, key);
        let request = Request { principal: &principal, action, resource: &resource, context: &context };
        holdfast_policy::authorize(&[], Some(&policy), &request) == Decision::Allow
    }

    /// The account that owns `bucket`: another account's where one is recorded, else the
    /// installation's.
    pub async fn bucket_account(&self, bucket: &str) -> String {
        match self.dir.store().bucket_owner(bucket).await.ok().flatten() {
            Some(account) => account,
            None => self.dir.account_id().to_owned(),
        }
    }

    /// Whether the caller acts on a bucket another account owns (or anonymously on any).
    async fn is_cross_account(&self, caller: &Principal, bucket: &str) -> bool {
        let Some(mine) = self.dir.account_of(caller) else { return false };
        let owner = self.dir.store().bucket_owner(bucket).await.ok().flatten();
        owner.as_deref().unwrap_or(self.dir.account_id()) != mine
    }

    #[allow(clippy::too_many_arguments)]
    fn decide(
        &self,
        identity: &[Policy],
        bucket_policy: Option<&Policy>,
        principal: &holdfast_policy::Principal,
        action: &str,
        resource: &str,
        context: &Context,
        cross_account: bool,
    ) -> bool {
        let request = Request { principal, action, resource, context };
        if !cross_account {
            return holdfast_policy::authorize(identity, bucket_policy, &request) == Decision::Allow;
        }
        // Across accounts AWS needs both sides: the owner's bucket policy must allow this
        // principal, and the caller's own account must allow the action (its root always
        // does); any explicit Deny still wins.
        let resource_allows = bucket_policy.is_some_and(|p| evaluate([p], &request) == Decision::Allow);
        let caller_allows = principal.is_root() || evaluate(identity, &request) == Decision::Allow;
        let denied = evaluate(identity.iter().chain(bucket_policy), &request) == Decision::ExplicitDeny;
        resource_allows && caller_allows && !denied
    }

    /// AWS lets the account root manage the bucket policy even when the policy denies it, so
    /// that a bad policy cannot lock everyone out.
    fn bucket_policy_root_exception(&self, caller: &Principal, action: &str) -> bool {
        *caller == Principal::Root
            && matches!(action, "s3:GetBucketPolicy" | "s3:PutBucketPolicy" | "s3:DeleteBucketPolicy")
    }
}

#[cfg(test)]
mod tests {
    use super::{copy_source, traits};
    use holdfast_policy::RequestTraits;
    use http::HeaderMap;

    /// The one pass over the names reads what a lookup of each header read: presence, and the
    /// first value of a name given twice.
    /// A header map with these fields appended in order (a name may repeat).
    fn header_map(fields: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in fields {
            h.append(*name, value.parse().unwrap());
        }
        h
    }

    /// The one pass over the names reads what a lookup of each header read: presence, and the
    /// first value of a name given twice.
    #[test]
    fn traits_are_read_from_the_headers_in_one_pass() {
        let h = header_map(&[
            ("x-amz-bypass-governance-retention", "TRUE"),
            ("x-amz-bypass-governance-retention", "false"),
            ("x-amz-object-lock-retain-until-date", "2030-01-01T00:00:00Z"),
            ("x-amz-grant-read", "id=x"),
            ("x-amz-copy-source", "src/k?versionId=v1"),
            ("x-holdfast-replication-kind", "marker"),
            ("x-amz-tagging", "a=b"),
        ]);
        let expected = RequestTraits {
            version_id: true,
            source_version_id: true,
            lock_retention: true,
            bypass_governance: true,
            acl: true,
            tagging: true,
            replication_marker: true,
            ..RequestTraits::default()
        };
        assert_eq!(traits(&h, &"/b/k?versionId=v".parse().unwrap()), expected);
        let h = header_map(&[
            ("x-amz-bypass-governance-retention", "false"),
            ("x-amz-bypass-governance-retention", "true"),
            ("x-amz-bucket-object-lock-enabled", "True"),
            ("x-amz-object-lock-legal-hold", "ON"),
            ("x-holdfast-replication-source-version-id", "v"),
            ("x-holdfast-replication-kind", "version"),
            ("x-amz-acl", "private"),
        ]);
        let expected = RequestTraits {
            object_lock_enabled: true,
            lock_legal_hold: true,
            replication: true,
            acl: true,
            ..RequestTraits::default()
        };
        assert_eq!(traits(&h, &"/b".parse().unwrap()), expected);
        assert_eq!(traits(&HeaderMap::new(), &"/b/k?versionId=".parse().unwrap()), RequestTraits::default());
    }

    fn source(v: &str) -> Option<(String, String, bool)> {
        let mut h = http::HeaderMap::new();
        h.insert("x-amz-copy-source", http::HeaderValue::from_str(v).unwrap());
        copy_source(&h)
    }

    /// The access check names the object s3s copies (two fuzz findings).
    #[test]
    fn copy_source_is_the_object_s3s_copies() {
        let s = |b: &str, k: &str, v| Some((b.to_owned(), k.to_owned(), v));
        assert_eq!(source("src/a%20b.txt?versionId=v1"), s("src", "a b.txt", true));
        assert_eq!(source("/src/a"), s("src", "a", false));
        // Was bucket "" and key "src/k": the policy was judged on another ARN.
        assert_eq!(source("%2Fsrc/k"), s("src", "k", false));
        // Was key "k" (and a version id): s3s copies the object named `k?x`.
        assert_eq!(source("src/k?x?versionId=v1"), s("src", "k?x", true));
        assert_eq!(source("src/k?versionIdx=1"), s("src", "k?versionIdx=1", false));
        assert_eq!(source("no-key"), None);
    }
}
