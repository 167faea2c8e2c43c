//! Policy evaluation for one account, as the IAM User Guide's "Policy evaluation logic"
//! describes it for requests within a single account: an applicable explicit Deny in any policy
//! wins; otherwise an applicable Allow in the identity policies or the bucket policy allows;
//! otherwise the request is implicitly denied.

use crate::glob;
use crate::keys::Context;
use crate::model::{Effect, Policy, Statement};
use crate::principal::{self, Principal};

/// The outcome of evaluating policies for one request and one action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    /// A statement with `Effect: Deny` applies: nothing can override it.
    ExplicitDeny,
    /// No Deny applies and an Allow does (or the caller is the account root).
    Allow,
    /// Nothing applies: denied by default.
    ImplicitDeny,
}

impl Decision {
    pub fn is_allowed(self) -> bool {
        self == Self::Allow
    }
}

/// One action on one resource by one caller.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub principal: &'a Principal,
    /// `s3:GetObject`, ... (see [`crate::actions_for`]).
    pub action: &'a str,
    /// `arn:aws:s3:::bucket` or `arn:aws:s3:::bucket/key` (see [`crate::bucket_arn`],
    /// [`crate::object_arn`]).
    pub resource: &'a str,
    /// Condition keys of the request, and the values of policy variables.
    pub context: &'a Context,
}

/// Combines the given policies: any applicable Deny → [`Decision::ExplicitDeny`]; else any
/// applicable Allow → [`Decision::Allow`]; else [`Decision::ImplicitDeny`].
///
/// Statements without `Principal` (identity policies) apply to the caller; statements with one
/// (bucket policies) apply when it covers the caller. No root or anonymous rule is applied here:
/// that is [`authorize`].
pub fn evaluate<'p>(policies: impl IntoIterator<Item = &'p Policy>, request: &Request<'_>) -> Decision {
    let mut allowed = false;
    for policy in policies {
        for statement in &policy.statements {
            if statement_applies(statement, request) {
                match statement.effect {
                    Effect::Deny => return Decision::ExplicitDeny,
                    Effect::Allow => allowed = true,
                }
            }
        }
    }
    if allowed { Decision::Allow } else { Decision::ImplicitDeny }
}

/// Actions the account root may always take on a bucket policy, whatever that policy says, so
/// that a bad policy can never lock the owner out (S3 User Guide, bucket policies: the root
/// user can always delete or replace the policy).
const ROOT_ALWAYS: &[&str] = &["s3:GetBucketPolicy", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy"];

/// The final answer for a request, with the caller rules of a single account:
/// - the account root is allowed unless a bucket-policy statement explicitly denies it, and may
///   always get, put and delete the bucket policy itself;
/// - an IAM user is allowed by an Allow in its identity policies or in the bucket policy, and
///   denied by a Deny in either;
/// - an anonymous caller is allowed only where the bucket policy allows everyone
///   (`Principal: "*"`), and identity policies never apply to it.
///
/// `identity_policies` are those attached to the caller (ignored for root and anonymous callers,
/// who have none).
pub fn authorize(identity_policies: &[Policy], bucket_policy: Option<&Policy>, request: &Request<'_>) -> Decision {
    let caller = request.principal;
    if caller.is_root() && ROOT_ALWAYS.iter().any(|a| a.eq_ignore_ascii_case(request.action)) {
        return Decision::Allow;
    }
    // Identity policies never apply to anonymous callers nor to a service principal: only a
    // resource policy can grant them anything.
    let no_identity = caller.is_root() || caller.is_anonymous() || caller.service_name().is_some();
    let identity: &[Policy] = if no_identity { &[] } else { identity_policies };
    match evaluate(identity.iter().chain(bucket_policy), request) {
        Decision::ImplicitDeny if caller.is_root() => Decision::Allow,
        decision => decision,
    }
}

/// Whether every element of the statement matches the request.
pub fn statement_applies(statement: &Statement, request: &Request<'_>) -> bool {
    let principal_ok = match &statement.principal {
        None => true,
        Some(element) => principal::covers(element, request.principal, statement.effect),
    };
    principal_ok
        && statement.action.applies(
            statement.action.items().iter().any(|pattern| glob::wildcard_match_ignore_case(pattern, request.action)),
        )
        && statement.resource.applies(statement.resource.items().iter().any(|template| {
            template.pattern(request.context).is_some_and(|p| glob::matches(&p, request.resource, false))
        }))
        && statement.conditions.iter().all(|c| c.holds(request.context))
}
