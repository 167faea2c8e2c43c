//! AWS IAM policy documents as pure code: model, parser and validation, and the evaluator S3
//! uses — no I/O, no async, no knowledge of the wire.
//!
//! ```
//! use holdfast_policy::{authorize, object_arn, Context, Decision, Policy, Principal, Request};
//!
//! let deny_bypass = Policy::parse_identity(r#"{
//!     "Version": "2012-10-17",
//!     "Statement": [
//!         {"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::locked/*"},
//!         {"Effect": "Deny", "Action": "s3:BypassGovernanceRetention", "Resource": "*"}
//!     ]
//! }"#).unwrap();
//! let alice = Principal::user("111122223333", "alice", "AIDAALICE");
//! let mut context = Context::new();
//! context.set_principal(&alice);
//! let resource = object_arn("locked", "report.pdf");
//! let request = |action| Request { principal: &alice, action, resource: &resource, context: &context };
//!
//! let identity = [deny_bypass];
//! assert_eq!(authorize(&identity, None, &request("s3:PutObjectRetention")), Decision::Allow);
//! assert_eq!(authorize(&identity, None, &request("s3:BypassGovernanceRetention")), Decision::ExplicitDeny);
//! ```
//!
//! # How a request is judged
//! 1. [`actions_for`] names the actions AWS evaluates for the S3 operation, each on the bucket
//!    or the object ARN.
//! 2. The server fills a [`Context`] with the request's condition keys ([`keys`]).
//! 3. [`authorize`] answers each action from the caller's identity policies and the bucket
//!    policy: explicit Deny wins, then Allow, else implicit deny; the account root is allowed
//!    unless a bucket policy denies it; anonymous callers only where a bucket policy allows
//!    `Principal: "*"`.
//!
//! # `s3:object-lock-remaining-retention-days`
//! Computed by [`remaining_retention_days`]: **a started day counts as a whole day**
//! (`ceil((retain_until - now) / 24 h)`, as MinIO does; AWS documents no rule), and never
//! below 0. Exactly 10 days ahead is 10, 10 days and 1 ms is 11. So the seed bucket policy
//! "Deny PutObjectRetention when `NumericGreaterThan 10`" accepts "now + 10 days" from a client
//! whose clock is slightly behind, and refuses 11 days and more.
//!
//! # Choices where AWS is not explicit
//! - A policy variable without a value makes its pattern match nothing.
//! - A value that does not parse for its operator (number, date, bool, IP, ARN) never matches,
//!   for negated operators too.
//! - An account principal in a bucket-policy Deny binds every user of the account; in an Allow
//!   it grants only the root (see [`Principal`]).

mod actions;
mod cidr;
mod condition;
mod eval;
mod glob;
pub mod keys;
mod model;
mod parse;
mod principal;
mod template;

pub use actions::{
    ACCOUNT_RESOURCE, ActionCheck, Need, RequestTraits, ResourceKind, S3_ACTIONS, actions_for, bucket_arn, object_arn,
};
pub use condition::{Comparison, Condition, Operator, SetQualifier, Test};
pub use eval::{Decision, Request, authorize, evaluate, statement_applies};
pub use glob::{wildcard_match, wildcard_match_ignore_case};
pub use keys::{Context, remaining_retention_days};
pub use model::{Effect, Matcher, Policy, PrincipalId, Principals, Statement, Version};
pub use parse::{MAX_BUCKET_POLICY_BYTES, MalformedPolicy, PolicyKind, parse_policy};
pub use principal::{CallerKind, Principal};
pub use template::Template;
