//! Shared helpers for the integration tests.
#![allow(dead_code)]

use holdfast_policy::{Context, Decision, Policy, Principal, Request, authorize};

pub const ACCOUNT: &str = "111122223333";

pub fn root() -> Principal {
    Principal::root(ACCOUNT)
}

pub fn user(name: &str) -> Principal {
    Principal::user(ACCOUNT, name, format!("AIDA{}", name.to_uppercase()))
}

pub fn identity(json: &str) -> Policy {
    Policy::parse_identity(json).unwrap_or_else(|e| panic!("identity policy refused: {e}\n{json}"))
}

pub fn bucket(json: &str, bucket: &str) -> Policy {
    Policy::parse_bucket(json, bucket).unwrap_or_else(|e| panic!("bucket policy refused: {e}\n{json}"))
}

/// A request context with the principal keys filled in, plus `extra` keys.
pub fn context(caller: &Principal, extra: &[(&str, &str)]) -> Context {
    let mut ctx = Context::new();
    ctx.set_principal(caller);
    for (k, v) in extra {
        ctx.insert(k, *v);
    }
    ctx
}

/// `authorize` for one action on one resource.
pub fn decide(
    identity_policies: &[Policy],
    bucket_policy: Option<&Policy>,
    caller: &Principal,
    action: &str,
    resource: &str,
    ctx: &Context,
) -> Decision {
    let request = Request { principal: caller, action, resource, context: ctx };
    authorize(identity_policies, bucket_policy, &request)
}
