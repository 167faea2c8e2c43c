//! The two policies of the project's seed documents (AWS examples, inlined below): an identity policy that denies
//! `s3:BypassGovernanceRetention`, and the S3 User Guide's retention-limit bucket policy
//! (spec §7 P3: 30 days denied, 5 days allowed).

#![allow(clippy::unwrap_used)] // A test states what it expects with unwrap: a failure is the finding.

mod common;

use common::*;
use holdfast_policy::Decision::{Allow, ExplicitDeny};
use holdfast_policy::{Need, RequestTraits, actions_for, object_arn};

const BUCKET: &str = "obj-lock-test-bucket";
const DAY: i64 = 86_400_000;
const NOW: i64 = 1_800_000_000_000;

/// Seed 003: "IAM policy to prevent a user from bypassing governance retention", plus the
/// seed's "allow access to buckets" policy, attached together to one user.
fn deny_bypass_user_policies() -> Vec<holdfast_policy::Policy> {
    vec![
        identity(
            r#"{"Version": "2012-10-17", "Statement": [{"Sid": "VisualEditor0", "Effect": "Deny",
                "Action": "s3:BypassGovernanceRetention", "Resource": "*"}]}"#,
        ),
        identity(
            r#"{"Version": "2012-10-17", "Statement": [{"Sid": "VisualEditor0", "Effect": "Allow",
                "Action": "s3:*", "Resource": ["arn:aws:s3:::obj-lock-test-bucket", "arn:aws:s3:::obj-lock-test-bucket/*"]}]}"#,
        ),
    ]
}

#[test]
fn seed_identity_policy_denies_bypass_but_not_writes() {
    let policies = deny_bypass_user_policies();
    let u = user("writer");
    let c = context(&u, &[]);
    let key = object_arn(BUCKET, "object-key");
    for (action, expected) in [
        ("s3:PutObject", Allow),
        ("s3:PutObjectRetention", Allow),
        ("s3:DeleteObjectVersion", Allow),
        ("s3:GetObjectRetention", Allow),
        ("s3:BypassGovernanceRetention", ExplicitDeny),
    ] {
        assert_eq!(decide(&policies, None, &u, action, &key, &c), expected, "{action}");
    }

    // DeleteObject with a version id and the bypass header: the delete itself is allowed, the
    // (optional) bypass check is denied, so the bypass has no effect (spec P4).
    let traits = RequestTraits { version_id: true, bypass_governance: true, ..Default::default() };
    let checks = actions_for("DeleteObject", &traits).unwrap();
    let outcomes: Vec<_> = checks
        .iter()
        .map(|check| (check.action, check.need, decide(&policies, None, &u, check.action, &key, &c)))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("s3:DeleteObjectVersion", Need::Required, Allow),
            ("s3:BypassGovernanceRetention", Need::Optional, ExplicitDeny),
        ]
    );

    // The seed's remark: the root user can still bypass governance retention.
    let r = root();
    assert_eq!(decide(&[], None, &r, "s3:BypassGovernanceRetention", &key, &context(&r, &[])), Allow);
}

/// Seed 001 (S3 UG "Setting retention limits"), with the placeholders filled in.
fn retention_limit_policy() -> holdfast_policy::Policy {
    bucket(
        r#"{
            "Version": "2012-10-17",
            "Id": "<SetRetentionLimits",
            "Statement": [
                {
                    "Sid": "<SetRetentionPeriod",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": [
                        "s3:PutObjectRetention"
                    ],
                    "Resource": "arn:aws:s3:::obj-lock-test-bucket/*",
                    "Condition": {
                        "NumericGreaterThan": {
                            "s3:object-lock-remaining-retention-days": "10"
                        }
                    }
                }
            ]
        }"#,
        BUCKET,
    )
}

#[test]
fn seed_bucket_policy_caps_retention_at_ten_days() {
    let policy = retention_limit_policy();
    let writer = user("writer");
    let allow_all =
        [identity(r#"{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}}"#)];
    let key = object_arn(BUCKET, "object-key");
    let put_retention =
        |caller: &holdfast_policy::Principal, days: i64, identity_policies: &[holdfast_policy::Policy]| {
            let mut c = context(caller, &[]);
            // The client computed "now + days" a moment before the server read its clock.
            c.set_requested_retention("GOVERNANCE", NOW - 2_000 + days * DAY, NOW);
            decide(identity_policies, Some(&policy), caller, "s3:PutObjectRetention", &key, &c)
        };
    assert_eq!(put_retention(&writer, 30, &allow_all), ExplicitDeny, "30 days is denied");
    assert_eq!(put_retention(&writer, 5, &allow_all), Allow, "5 days is allowed");
    assert_eq!(put_retention(&writer, 10, &allow_all), Allow, "exactly the limit is allowed");
    assert_eq!(put_retention(&writer, 11, &allow_all), ExplicitDeny);
    // Principal "*" binds the root user too.
    let r = root();
    assert_eq!(put_retention(&r, 30, &[]), ExplicitDeny);
    assert_eq!(put_retention(&r, 5, &[]), Allow);
    // Other actions are untouched by the policy.
    let c = context(&writer, &[]);
    assert_eq!(decide(&allow_all, Some(&policy), &writer, "s3:PutObject", &key, &c), Allow);
}

#[test]
fn seed_policy_rounding_margins() {
    // Whole-day margins around the limit with the ceiling rule: 10 days + 1 ms counts as 11.
    let policy = retention_limit_policy();
    let r = root();
    let key = object_arn(BUCKET, "k");
    let decide_at = |until: i64| {
        let mut c = context(&r, &[]);
        c.set_requested_retention("COMPLIANCE", until, NOW);
        decide(&[], Some(&policy), &r, "s3:PutObjectRetention", &key, &c)
    };
    assert_eq!(decide_at(NOW + 10 * DAY), Allow);
    assert_eq!(decide_at(NOW + 10 * DAY + 1), ExplicitDeny);
    assert_eq!(decide_at(NOW + 9 * DAY + 1), Allow);
}
