//! In-workspace fuzzing with proptest, so that CI (stable Rust, no libFuzzer run) exercises the
//! same contract as `fuzz/fuzz_targets/policy_json.rs`: parsing arbitrary text never panics,
//! and whatever parses evaluates without panicking and never allows without an Allow statement.
//!
//! Three generators: arbitrary Unicode text; JSON values built from the policy vocabulary and
//! random leaves; and byte-level mutations of valid policies.

#![allow(clippy::unwrap_used)] // A test states what it expects with unwrap: a failure is the finding.

use holdfast_policy::{Context, Decision, Effect, Policy, Principal, Request, authorize, evaluate};
use proptest::prelude::*;
use serde_json::{Map, Value};

const CASES: u32 = 3_000;

const SEEDS: &[&str] = &[
    r#"{"Version": "2012-10-17", "Statement": [{"Sid": "S", "Effect": "Deny", "Action": "s3:BypassGovernanceRetention", "Resource": "*"}]}"#,
    r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Principal": "*", "Action": ["s3:PutObjectRetention"], "Resource": "arn:aws:s3:::b/*", "Condition": {"NumericGreaterThan": {"s3:object-lock-remaining-retention-days": "10"}}}]}"#,
    r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/home/${aws:username}/${*}${?}${$}${aws:userid, 'x'}"}]}"#,
    r#"{"Version": "2008-10-17", "Statement": {"Effect": "Deny", "NotPrincipal": {"AWS": ["arn:aws:iam::111122223333:user/Bob", "111122223333"]}, "NotAction": "s3:Get*", "NotResource": "arn:aws:s3:::b/p/*", "Condition": {"NotIpAddress": {"aws:SourceIp": ["192.0.2.0/24", "2001:db8::/32"]}}}}"#,
    r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "*", "Resource": "*", "Condition": {"ForAllValues:StringEquals": {"aws:TagKeys": ["a"]}, "DateLessThan": {"aws:CurrentTime": "2030-01-01"}, "ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:user/*"}, "Null": {"s3:versionid": "true"}}}]}"#,
];

const KEYS: &[&str] = &[
    "Version",
    "Id",
    "Statement",
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "AWS",
    "CanonicalUser",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
    "StringLike",
    "ForAnyValue:NumericLessThanIfExists",
    "Null",
    "IpAddress",
    "s3:prefix",
    "aws:SourceIp",
    "aws:TagKeys",
];

const STRINGS: &[&str] = &[
    "2012-10-17",
    "2008-10-17",
    "Allow",
    "Deny",
    "*",
    "s3:*",
    "s3:Get?bject",
    "arn:aws:s3:::b/*",
    "arn:aws:s3:::b",
    "arn:aws:iam::111122223333:root",
    "111122223333",
    "home/${aws:username}/*",
    "${",
    "192.0.2.0/24",
    "::/0",
    "10",
    "true",
    "2030-01-01T00:00:00Z",
];

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => proptest::sample::select(STRINGS).prop_map(|s| Value::String(s.to_owned())),
        1 => "\\PC{0,12}".prop_map(Value::String),
        1 => any::<i64>().prop_map(Value::from),
        1 => any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        1 => any::<bool>().prop_map(Value::Bool),
        1 => Just(Value::Null),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(5, 64, 6, |inner| {
        let key = prop_oneof![4 => proptest::sample::select(KEYS).prop_map(str::to_owned), 1 => "\\PC{0,8}"];
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::vec((key, inner), 0..5)
                .prop_map(|entries| Value::Object(entries.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Insert, delete or replace characters of a valid policy.
fn mutated_seed() -> impl Strategy<Value = String> {
    let edit = (
        any::<prop::sample::Index>(),
        0u8..3,
        proptest::sample::select(&['{', '}', '[', ']', '"', ',', ':', '*', '$', '?', '\\', 'a', '0', ' '][..]),
    );
    (proptest::sample::select(SEEDS), proptest::collection::vec(edit, 1..6)).prop_map(|(seed, edits)| {
        let mut chars: Vec<char> = seed.chars().collect();
        for (at, kind, c) in edits {
            let i = at.index(chars.len().max(1)).min(chars.len());
            match kind {
                0 => chars.insert(i, c),
                1 if i < chars.len() => {
                    chars.remove(i);
                }
                _ if i < chars.len() => chars[i] = c,
                _ => chars.push(c),
            }
        }
        chars.into_iter().collect()
    })
}

/// The contract: no panic; whatever parses evaluates, and never allows without Allow.
fn check(text: &str) -> Result<(), TestCaseError> {
    for policy in [Policy::parse_identity(text), Policy::parse_bucket(text, "b")].iter().flatten() {
        let has_allow = policy.statements.iter().any(|s| s.effect == Effect::Allow);
        for caller in
            [Principal::root("111122223333"), Principal::user("111122223333", "alice", "AIDA"), Principal::anonymous()]
        {
            let mut context = Context::new();
            context.set_principal(&caller);
            context.set_time(1_800_000_000_000);
            context.insert("s3:prefix", "home/alice/");
            context.insert("aws:SourceIp", "192.0.2.1");
            context.insert_all("aws:TagKeys", ["a", "b"]);
            for (action, resource) in
                [("s3:GetObject", "arn:aws:s3:::b/home/alice/x"), ("s3:ListBucket", "arn:aws:s3:::b")]
            {
                let request = Request { principal: &caller, action, resource, context: &context };
                let decision = evaluate([policy], &request);
                prop_assert!(has_allow || decision != Decision::Allow);
                let _ = authorize(std::slice::from_ref(policy), Some(policy), &request);
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        check(&text)?;
    }

    #[test]
    fn policy_shaped_json_never_panics(value in json_value(), wrap in any::<bool>()) {
        // Half the time, put the value where a statement goes, so deeper checks are reached.
        let value = if wrap {
            serde_json::json!({"Version": "2012-10-17", "Statement": value})
        } else {
            value
        };
        check(&value.to_string())?;
    }

    #[test]
    fn mutated_policies_never_panic(text in mutated_seed()) {
        check(&text)?;
    }
}

#[test]
fn seeds_are_valid() {
    for seed in SEEDS {
        assert!(Policy::parse_identity(seed).is_ok() || Policy::parse_bucket(seed, "b").is_ok(), "{seed}");
    }
}

#[test]
fn deeply_nested_json_is_refused_not_overflowed() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(Policy::parse_identity(&deep).is_err());
    let deep_object = format!(r#"{{"Statement": {}{}}}"#, "[".repeat(100_000), "]".repeat(100_000));
    assert!(Policy::parse_bucket(&deep_object, "b").is_err());
}
