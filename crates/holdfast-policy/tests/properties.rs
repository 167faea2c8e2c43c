//! Properties of the evaluator over generated policies and requests:
//! - adding a Deny statement never turns a denied request into an allowed one;
//! - adding an Allow statement never lifts an explicit Deny;
//! - a policy without Allow statements allows nothing;
//! - the decision does not depend on the order of statements (or of policies).
//!
//! Statements are drawn from small vocabularies (actions, resources, principals, conditions
//! that the requests can meet) so that most of them apply to some request, and are written as
//! JSON and parsed, so the parser is on the path too.

#![allow(clippy::unwrap_used)] // A test states what it expects with unwrap: a failure is the finding.

mod common;

use common::*;
use holdfast_policy::{Context, Decision, Policy, Principal, Request, authorize, evaluate};
use proptest::prelude::*;

const CASES: u32 = 2_000;

const ACTION_PATTERNS: &[&str] = &[
    "s3:GetObject",
    "s3:PutObject",
    "s3:Get*",
    "s3:*",
    "*",
    "s3:PutObjectRetention",
    "s3:BypassGovernanceRetention",
    "s3:?etObject",
    "s3:ListBucket",
];
const RESOURCE_PATTERNS: &[&str] = &[
    "*",
    "arn:aws:s3:::b",
    "arn:aws:s3:::b/*",
    "arn:aws:s3:::b/home/${aws:username}/*",
    "arn:aws:s3:::b/a*",
    "arn:aws:s3:::b/a/?",
];
const PRINCIPALS: &[&str] = &[
    r#""*""#,
    r#"{"AWS": "*"}"#,
    r#"{"AWS": "111122223333"}"#,
    r#"{"AWS": "arn:aws:iam::111122223333:root"}"#,
    r#"{"AWS": "arn:aws:iam::111122223333:user/alice"}"#,
    r#"{"AWS": ["arn:aws:iam::111122223333:user/bob", "111122223333"]}"#,
];
const CONDITIONS: &[&str] = &[
    r#"{"NumericGreaterThan": {"s3:object-lock-remaining-retention-days": "10"}}"#,
    r#"{"NumericLessThanEqualsIfExists": {"s3:max-keys": 100}}"#,
    r#"{"StringEquals": {"s3:prefix": ["a/", "home/"]}}"#,
    r#"{"StringNotEquals": {"s3:object-lock-mode": "COMPLIANCE"}}"#,
    r#"{"StringLike": {"s3:prefix": "home/${aws:username}/*"}}"#,
    r#"{"Bool": {"aws:SecureTransport": "false"}}"#,
    r#"{"IpAddress": {"aws:SourceIp": "192.0.2.0/24"}}"#,
    r#"{"NotIpAddress": {"aws:SourceIp": ["192.0.2.0/24", "2001:db8::/32"]}}"#,
    r#"{"Null": {"s3:versionid": "true"}}"#,
    r#"{"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]}}"#,
    r#"{"ForAnyValue:StringLike": {"aws:TagKeys": "a*"}}"#,
    r#"{"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}}"#,
    r#"{"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:user/*"}}"#,
];

const ACTIONS: &[&str] = &[
    "s3:GetObject",
    "s3:PutObject",
    "s3:GetObjectVersion",
    "s3:PutObjectRetention",
    "s3:BypassGovernanceRetention",
    "s3:ListBucket",
    "s3:DeleteObjectVersion",
];
const RESOURCES: &[&str] = &["arn:aws:s3:::b", "arn:aws:s3:::b/a/1", "arn:aws:s3:::b/home/alice/x", "arn:aws:s3:::b/z"];

#[derive(Debug, Clone)]
struct Stmt {
    deny: bool,
    principal: Option<(bool, &'static str)>,
    action: (bool, Vec<&'static str>),
    resource: (bool, Vec<&'static str>),
    condition: Option<&'static str>,
}

impl Stmt {
    fn json(&self) -> String {
        let list = |items: &[&str]| {
            let quoted: Vec<String> = items.iter().map(|s| format!("\"{s}\"")).collect();
            format!("[{}]", quoted.join(", "))
        };
        let not = |negated: bool| if negated { "Not" } else { "" };
        let mut fields = vec![
            format!(r#""Effect": "{}""#, if self.deny { "Deny" } else { "Allow" }),
            format!(r#""{}Action": {}"#, not(self.action.0), list(&self.action.1)),
            format!(r#""{}Resource": {}"#, not(self.resource.0), list(&self.resource.1)),
        ];
        if let Some((negated, p)) = self.principal {
            fields.push(format!(r#""{}Principal": {p}"#, not(negated)));
        }
        if let Some(c) = self.condition {
            fields.push(format!(r#""Condition": {c}"#));
        }
        format!("{{{}}}", fields.join(", "))
    }
}

fn pick(items: &'static [&'static str]) -> impl Strategy<Value = &'static str> {
    proptest::sample::select(items)
}

fn stmt(with_principal: bool, deny: impl Strategy<Value = bool>) -> impl Strategy<Value = Stmt> {
    let principal = if with_principal {
        (proptest::bool::weighted(0.2), pick(PRINCIPALS)).prop_map(Some).boxed()
    } else {
        Just(None).boxed()
    };
    (
        deny,
        principal,
        (proptest::bool::weighted(0.2), proptest::collection::vec(pick(ACTION_PATTERNS), 1..3)),
        (proptest::bool::weighted(0.2), proptest::collection::vec(pick(RESOURCE_PATTERNS), 1..3)),
        proptest::option::weighted(0.4, pick(CONDITIONS)),
    )
        .prop_map(|(deny, principal, action, resource, condition)| {
            let mut s = Stmt { deny, principal, action, resource, condition };
            // S3 refuses a bucket-policy statement whose actions meet none of its resources
            // (s3:GetObject on a bucket ARN); widen such a statement's resources with "*".
            let single = policy_json(std::slice::from_ref(&s));
            if s.principal.is_some()
                && Policy::parse_bucket(&single, "b") == Err(holdfast_policy::MalformedPolicy::ActionNotApplicable)
            {
                s.resource.1.push("*");
            }
            s
        })
}

fn policy_json(statements: &[Stmt]) -> String {
    let body: Vec<String> = statements.iter().map(Stmt::json).collect();
    format!(r#"{{"Version": "2012-10-17", "Statement": [{}]}}"#, body.join(", "))
}

fn parse(statements: &[Stmt], is_bucket: bool) -> Policy {
    let json = policy_json(statements);
    let parsed = if is_bucket { Policy::parse_bucket(&json, "b") } else { Policy::parse_identity(&json) };
    parsed.unwrap_or_else(|e| panic!("generated policy refused: {e}\n{json}"))
}

#[derive(Debug, Clone)]
struct Req {
    caller: Principal,
    action: &'static str,
    resource: &'static str,
    context: Context,
}

fn caller() -> impl Strategy<Value = Principal> {
    prop_oneof![Just(root()), Just(user("alice")), Just(user("bob")), Just(Principal::anonymous())]
}

fn request() -> impl Strategy<Value = Req> {
    (
        caller(),
        pick(ACTIONS),
        pick(RESOURCES),
        proptest::option::of(0i64..40),
        proptest::option::of(pick(&["a/", "home/", "home/alice/x", "z"])),
        proptest::option::of(pick(&["true", "false"])),
        proptest::option::of(pick(&["192.0.2.9", "203.0.113.1", "2001:db8::1"])),
        proptest::option::of(proptest::collection::vec(pick(&["a", "b", "c"]), 0..3)),
        any::<bool>(),
    )
        .prop_map(|(caller, action, resource, days, prefix, tls, ip, tags, compliance)| {
            let mut context = context(&caller, &[]);
            context.set_time(1_800_000_000_000);
            if let Some(days) = days {
                let mode = if compliance { "COMPLIANCE" } else { "GOVERNANCE" };
                context.set_requested_retention(mode, 1_800_000_000_000 + days * 86_400_000, 1_800_000_000_000);
            }
            if let Some(p) = prefix {
                context.insert("s3:prefix", p);
            }
            if let Some(t) = tls {
                context.insert("aws:SecureTransport", t);
            }
            if let Some(ip) = ip {
                context.insert("aws:SourceIp", ip);
            }
            if let Some(tags) = tags {
                context.insert_all("aws:TagKeys", tags);
            }
            Req { caller, action, resource, context }
        })
}

impl Req {
    fn as_request(&self) -> Request<'_> {
        Request { principal: &self.caller, action: self.action, resource: self.resource, context: &self.context }
    }
}

fn statements(with_principal: bool) -> impl Strategy<Value = Vec<Stmt>> {
    proptest::collection::vec(stmt(with_principal, any::<bool>()), 1..6)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn adding_a_deny_never_turns_deny_into_allow(
        identity_stmts in statements(false),
        bucket_stmts in proptest::option::of(statements(true)),
        extra in stmt(true, Just(true)),
        extra_in_identity in any::<bool>(),
        req in request(),
    ) {
        let identity_policy = parse(&identity_stmts, false);
        let bucket_policy = bucket_stmts.as_ref().map(|s| parse(s, true));
        let before = authorize(std::slice::from_ref(&identity_policy), bucket_policy.as_ref(), &req.as_request());

        let (mut identity_after, mut bucket_after) = (identity_stmts.clone(), bucket_stmts.clone().unwrap_or_default());
        if extra_in_identity {
            identity_after.push(Stmt { principal: None, ..extra });
        } else {
            bucket_after.push(extra);
        }
        let identity_after = parse(&identity_after, false);
        let bucket_after = (!bucket_after.is_empty()).then(|| parse(&bucket_after, true));
        let after = authorize(std::slice::from_ref(&identity_after), bucket_after.as_ref(), &req.as_request());
        if before != Decision::Allow {
            prop_assert_ne!(after, Decision::Allow);
        }
        if before == Decision::ExplicitDeny {
            prop_assert_eq!(after, Decision::ExplicitDeny);
        }
    }

    #[test]
    fn adding_an_allow_never_lifts_an_explicit_deny(
        stmts in statements(true),
        extra in stmt(true, Just(false)),
        req in request(),
    ) {
        let before = evaluate([&parse(&stmts, true)], &req.as_request());
        let mut more = stmts.clone();
        more.push(extra);
        let after = evaluate([&parse(&more, true)], &req.as_request());
        if before == Decision::ExplicitDeny {
            prop_assert_eq!(after, Decision::ExplicitDeny);
        }
    }

    #[test]
    fn without_allow_statements_nothing_is_allowed(
        identity_stmts in proptest::collection::vec(stmt(false, Just(true)), 1..6),
        bucket_stmts in proptest::collection::vec(stmt(true, Just(true)), 1..6),
        req in request(),
    ) {
        let identity_policy = parse(&identity_stmts, false);
        let bucket_policy = parse(&bucket_stmts, true);
        prop_assert_ne!(evaluate([&identity_policy, &bucket_policy], &req.as_request()), Decision::Allow);
        // Through `authorize`, only the root user's default (and its bucket-policy escape) allows.
        let decision = authorize(std::slice::from_ref(&identity_policy), Some(&bucket_policy), &req.as_request());
        if !req.caller.is_root() {
            prop_assert_ne!(decision, Decision::Allow);
        }
    }

    #[test]
    fn statement_and_policy_order_do_not_matter(
        stmts in statements(true),
        identity_stmts in statements(false),
        seed in any::<u64>(),
        req in request(),
    ) {
        let mut shuffled = stmts.clone();
        shuffle(&mut shuffled, seed);
        let (a, b) = (parse(&stmts, true), parse(&shuffled, true));
        let identity_policy = parse(&identity_stmts, false);
        prop_assert_eq!(evaluate([&a], &req.as_request()), evaluate([&b], &req.as_request()));
        prop_assert_eq!(
            evaluate([&a, &identity_policy], &req.as_request()),
            evaluate([&identity_policy, &b], &req.as_request())
        );
    }
}

/// Fisher–Yates with a tiny xorshift, so the permutation comes from the generated seed.
fn shuffle<T>(items: &mut [T], mut seed: u64) {
    for i in (1..items.len()).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let j = usize::try_from(seed % (i as u64 + 1)).unwrap_or(0);
        items.swap(i, j);
    }
}

/// The generators are only useful if they produce every outcome often: check the mix.
#[test]
fn generators_cover_every_decision() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = (statements(true), request());
    let mut counts = std::collections::HashMap::new();
    for _ in 0..1_000 {
        let (stmts, req) = strategy.new_tree(&mut runner).unwrap().current();
        *counts.entry(evaluate([&parse(&stmts, true)], &req.as_request())).or_insert(0) += 1;
    }
    for decision in [Decision::Allow, Decision::ExplicitDeny, Decision::ImplicitDeny] {
        let n = counts.get(&decision).copied().unwrap_or(0);
        assert!(n >= 100, "{decision:?} only {n} times in 1000: {counts:?}");
    }
}
