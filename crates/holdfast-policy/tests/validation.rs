//! What AWS refuses when a policy is stored, and the shapes it accepts.

#![allow(clippy::unwrap_used)] // A test states what it expects with unwrap: a failure is the finding.

use holdfast_policy::{Effect, MalformedPolicy, Matcher, Policy, PrincipalId, Principals, Version};

const B: &str = "examplebucket";

fn bucket_err(json: &str) -> MalformedPolicy {
    Policy::parse_bucket(json, B).expect_err(json)
}

fn identity_err(json: &str) -> MalformedPolicy {
    Policy::parse_identity(json).expect_err(json)
}

/// One statement wrapped in a 2012-10-17 document.
fn doc(statement: &str) -> String {
    format!(r#"{{"Version": "2012-10-17", "Statement": [{statement}]}}"#)
}

#[test]
fn refusals_table() {
    use MalformedPolicy::*;
    let public_read =
        r#""Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::examplebucket/*""#;
    let table: Vec<(String, MalformedPolicy)> = vec![
        ("".into(), InvalidJson),
        ("[]".into(), InvalidJson),
        ("{ not json".into(), InvalidJson),
        (r#"{"Version": "2012-10-17"}"#.into(), MissingField("Statement")),
        (r#"{"Version": "2012-10-17", "Statement": []}"#.into(), EmptyStatement),
        (r#"{"Version": "2012-10-18", "Statement": {"Effect": "Allow"}}"#.into(), InvalidVersion),
        (r#"{"Version": 2012, "Statement": {"Effect": "Allow"}}"#.into(), InvalidVersion),
        (
            format!(r#"{{"Version": "2012-10-17", "Foo": 1, "Statement": {{{public_read}}}}}"#),
            UnknownField("Foo".into()),
        ),
        (doc(&format!(r#"{{{public_read}, "Extra": true}}"#)), UnknownField("Extra".into())),
        (
            doc(r#"{"Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::examplebucket/*"}"#),
            MissingField("Effect"),
        ),
        (
            doc(
                r#"{"Effect": "allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::examplebucket/*"}"#,
            ),
            InvalidEffect("allow".into()),
        ),
        (
            doc(r#"{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::examplebucket/*"}"#),
            MissingField("Principal"),
        ),
        (
            doc(r#"{"Effect": "Allow", "Principal": "*", "Resource": "arn:aws:s3:::examplebucket/*"}"#),
            MissingField("Action"),
        ),
        (doc(r#"{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject"}"#), MissingField("Resource")),
        (
            doc(
                r#"{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "NotAction": "s3:PutObject", "Resource": "arn:aws:s3:::examplebucket/*"}"#,
            ),
            BothElements("Action"),
        ),
        (
            doc(
                r#"{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*", "NotResource": "arn:aws:s3:::examplebucket/a"}"#,
            ),
            BothElements("Resource"),
        ),
        (
            doc(
                r#"{"Effect": "Deny", "Principal": "*", "NotPrincipal": {"AWS": "111122223333"}, "Action": "s3:*", "Resource": "*"}"#,
            ),
            BothElements("Principal"),
        ),
        (
            doc(
                r#"{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::otherbucket/*"}"#,
            ),
            InvalidResource,
        ),
        (
            doc(r#"{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "examplebucket/*"}"#),
            InvalidResource,
        ),
        (doc(r#"{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": []}"#), InvalidResource),
        (
            doc(
                r#"{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObjekt", "Resource": "arn:aws:s3:::examplebucket/*"}"#,
            ),
            InvalidAction,
        ),
        (
            doc(
                r#"{"Effect": "Allow", "Principal": "*", "Action": "iam:CreateUser", "Resource": "arn:aws:s3:::examplebucket/*"}"#,
            ),
            InvalidAction,
        ),
        (
            doc(
                r#"{"Effect": "Allow", "Principal": "*", "Action": "GetObject", "Resource": "arn:aws:s3:::examplebucket/*"}"#,
            ),
            InvalidAction,
        ),
        (
            doc(
                r#"{"Effect": "Allow", "Principal": "alice", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::examplebucket/*"}"#,
            ),
            InvalidPrincipal,
        ),
        (
            doc(
                r#"{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::*:root"}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::examplebucket/*"}"#,
            ),
            InvalidPrincipal,
        ),
        (
            doc(
                r#"{"Effect": "Allow", "Principal": {"AWS": []}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::examplebucket/*"}"#,
            ),
            InvalidPrincipal,
        ),
        (
            doc(
                r#"{"Effect": "Allow", "Principal": {"Nobody": "x"}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::examplebucket/*"}"#,
            ),
            InvalidPrincipal,
        ),
        (
            doc(&format!(r#"{{{public_read}, "Condition": {{"StringEqualz": {{"s3:prefix": "a"}}}}}}"#)),
            UnknownConditionOperator("StringEqualz".into()),
        ),
        (
            doc(&format!(r#"{{{public_read}, "Condition": {{"NullIfExists": {{"s3:prefix": "true"}}}}}}"#)),
            UnknownConditionOperator("NullIfExists".into()),
        ),
        (
            doc(&format!(r#"{{{public_read}, "Condition": {{"StringEquals": "s3:prefix"}}}}"#)),
            InvalidValue("Condition"),
        ),
        (
            doc(&format!(r#"{{{public_read}, "Condition": {{"StringEquals": {{"s3:prefix": {{"a": 1}}}}}}}}"#)),
            InvalidValue("Condition"),
        ),
    ];
    for (json, expected) in table {
        assert_eq!(bucket_err(&json), expected, "{json}");
    }
}

#[test]
fn bucket_policies_are_limited_to_20_kb() {
    let statement = r#"{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::examplebucket/*"}"#;
    let fits = doc(&vec![statement; 150].join(","));
    assert!(fits.len() < holdfast_policy::MAX_BUCKET_POLICY_BYTES);
    assert!(Policy::parse_bucket(&fits, B).is_ok());
    let too_big = doc(&vec![statement; 250].join(","));
    assert_eq!(bucket_err(&too_big), MalformedPolicy::TooLarge);
    let identity_statement =
        r#"{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::examplebucket/*"}"#;
    let big_identity = doc(&vec![identity_statement; 250].join(","));
    assert!(big_identity.len() > holdfast_policy::MAX_BUCKET_POLICY_BYTES);
    assert!(Policy::parse_identity(&big_identity).is_ok(), "identity quotas are the caller's");
}

#[test]
fn actions_meet_their_resources_in_bucket_policies() {
    let ok = [
        (r#""s3:GetObject""#, r#""arn:aws:s3:::examplebucket/*""#),
        (r#""s3:GetObject""#, r#""arn:aws:s3:::example*""#),
        (r#""s3:GetObject""#, r#"["arn:aws:s3:::examplebucket", "arn:aws:s3:::examplebucket/k"]"#),
        (r#""s3:ListBucket""#, r#""arn:aws:s3:::examplebucket""#),
        (r#""s3:Get*""#, r#""arn:aws:s3:::examplebucket""#),
        (r#"["s3:GetObject", "s3:ListBucket"]"#, r#""arn:aws:s3:::examplebucket""#),
        (r#""s3:*""#, r#""arn:aws:s3:::examplebucket/*""#),
        (r#""*""#, r#""arn:aws:s3:::examplebucket""#),
        (r#""s3:ListAllMyBuckets""#, r#""*""#),
        (r#""s3:PutObject""#, r#""arn:aws:s3:::examplebucket/home/${aws:username}/*""#),
    ];
    for (action, resource) in ok {
        let json =
            doc(&format!(r#"{{"Effect": "Allow", "Principal": "*", "Action": {action}, "Resource": {resource}}}"#));
        Policy::parse_bucket(&json, B).unwrap_or_else(|e| panic!("{e}: {json}"));
    }
    // Not checked for NotAction / NotResource, nor for identity policies.
    let not_resource = doc(
        r#"{"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject", "NotResource": "arn:aws:s3:::examplebucket"}"#,
    );
    assert!(Policy::parse_bucket(&not_resource, B).is_ok());
    let identity = doc(r#"{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::examplebucket"}"#);
    assert!(Policy::parse_identity(&identity).is_ok());
}

/// `parse_bucket_permissive` (ceph/s3-tests mode, and reading a stored policy back) keeps a
/// statement whose actions cannot act on its resources; everything else is refused as before,
/// and such a statement never applies (s3-tests `test_bucket_policy_multipart`).
#[test]
fn permissive_parse_keeps_inapplicable_statements_only() {
    use holdfast_policy::{Context, Decision, Principal, Request, bucket_arn, evaluate, object_arn};
    let inapplicable = [
        (r#""s3:PutObject""#, r#""arn:aws:s3:::examplebucket""#),
        (r#""s3:GetObject""#, r#""arn:aws:s3:::examplebucket""#),
        (r#""s3:ListBucket""#, r#""arn:aws:s3:::examplebucket/*""#),
        (r#""s3:ListAllMyBuckets""#, r#""arn:aws:s3:::examplebucket""#),
    ];
    let caller = Principal::root("444455556666");
    let context = Context::new();
    for (action, resource) in inapplicable {
        let json =
            doc(&format!(r#"{{"Effect": "Allow", "Principal": "*", "Action": {action}, "Resource": {resource}}}"#));
        assert_eq!(bucket_err(&json), MalformedPolicy::ActionNotApplicable, "{json}");
        let policy = Policy::parse_bucket_permissive(&json, B).unwrap_or_else(|e| panic!("{e}: {json}"));
        // The requests S3 makes for these actions (each on its own kind of resource).
        for (name, arn) in [
            ("s3:PutObject", object_arn(B, "k")),
            ("s3:GetObject", object_arn(B, "k")),
            ("s3:ListBucket", bucket_arn(B)),
            ("s3:ListAllMyBuckets", holdfast_policy::ACCOUNT_RESOURCE.to_owned()),
        ] {
            let request = Request { principal: &caller, action: name, resource: &arn, context: &context };
            assert_eq!(evaluate([&policy], &request), Decision::ImplicitDeny, "{json}: {name} on {arn}");
        }
    }
    // Every other refusal stays.
    for (json, err) in [
        (
            doc(
                r#"{"Effect": "Allow", "Principal": "*", "Action": "s3:Nope", "Resource": "arn:aws:s3:::examplebucket/*"}"#,
            ),
            MalformedPolicy::InvalidAction,
        ),
        (
            doc(
                r#"{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::other/*"}"#,
            ),
            MalformedPolicy::InvalidResource,
        ),
        (
            doc(
                r#"{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::s3tenant1:root"}, "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::examplebucket"}"#,
            ),
            MalformedPolicy::InvalidPrincipal,
        ),
        (doc(r#"{"Effect": "Allow", "Principal": "*", "Resource": "*"}"#), MalformedPolicy::MissingField("Action")),
    ] {
        assert_eq!(Policy::parse_bucket_permissive(&json, B), Err(err.clone()), "{json}");
        assert_eq!(bucket_err(&json), err, "{json}");
    }
}

#[test]
fn refusal_messages_follow_aws() {
    assert_eq!(MalformedPolicy::UnknownField("Foo".into()).to_string(), "Unknown field Foo");
    assert_eq!(MalformedPolicy::MissingField("Effect").to_string(), "Missing required field Effect");
    assert_eq!(MalformedPolicy::InvalidResource.to_string(), "Policy has invalid resource");
    assert_eq!(MalformedPolicy::InvalidAction.to_string(), "Policy has invalid action");
    assert_eq!(MalformedPolicy::InvalidJson.to_string(), "Policies must be valid JSON and the first byte must be '{'");
    assert_eq!(MalformedPolicy::UnknownConditionOperator("X".into()).to_string(), "Invalid Condition type : X");
    assert_eq!(MalformedPolicy::S3_CODE, "MalformedPolicy");
    assert_eq!(MalformedPolicy::IAM_CODE, "MalformedPolicyDocument");
}

#[test]
fn identity_policies_refuse_principal_and_accept_other_services() {
    let with_principal = doc(r#"{"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "*"}"#);
    assert_eq!(identity_err(&with_principal), MalformedPolicy::PrincipalNotAllowed);
    let not_arn = doc(r#"{"Effect": "Allow", "Action": "s3:*", "Resource": "bucket/*"}"#);
    assert_eq!(identity_err(&not_arn), MalformedPolicy::InvalidResource);
    let p = Policy::parse_identity(&doc(
        r#"{"Effect": "Allow", "Action": ["iam:GetUser", "s3:Get*"], "Resource": ["*", "arn:aws:iam::111122223333:user/${aws:username}"]}"#,
    ))
    .unwrap();
    assert_eq!(p.statements[0].principal, None);
}

#[test]
fn accepted_shapes() {
    // Statement as a single object, Version 2008-10-17, Id, Sid, string or array elements.
    let p = Policy::parse_bucket(
        r#"{"Version": "2008-10-17", "Id": "P1", "Statement": {"Sid": "S1", "Effect": "Deny",
            "NotPrincipal": {"AWS": ["111122223333", "arn:aws:iam::111122223333:user/alice"], "CanonicalUser": "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"},
            "NotAction": ["s3:GetObject", "s3:List*"], "NotResource": "arn:aws:s3:::examplebucket/public/*",
            "Condition": {"Bool": {"aws:SecureTransport": false}, "NumericLessThan": {"s3:max-keys": 10}}}}"#,
        B,
    )
    .unwrap();
    assert_eq!(p.version, Version::V2008_10_17);
    assert_eq!(p.id.as_deref(), Some("P1"));
    let s = &p.statements[0];
    assert_eq!(s.sid.as_deref(), Some("S1"));
    assert_eq!(s.effect, Effect::Deny);
    assert_eq!(
        s.principal,
        Some(Matcher::Not(Principals::Listed(vec![
            PrincipalId::Account("111122223333".into()),
            PrincipalId::Arn("arn:aws:iam::111122223333:user/alice".into()),
            PrincipalId::CanonicalUser("79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be".into()),
        ])))
    );
    assert!(matches!(&s.action, Matcher::Not(a) if a.len() == 2));
    assert!(matches!(&s.resource, Matcher::Not(r) if r.len() == 1));
    assert_eq!(s.conditions.len(), 2);
    // Numbers and booleans in condition values are read as their text.
    let texts: Vec<&str> = s.conditions.iter().map(|c| c.values[0].as_str()).collect();
    assert!(texts.contains(&"false") && texts.contains(&"10"), "{texts:?}");

    // Missing Version is 2008-10-17; `{"AWS": "*"}` is everyone; root ARN is the account.
    let p = Policy::parse_bucket(
        r#"{"Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "*", "Resource": ["arn:aws:s3:::examplebucket", "arn:aws:s3:::example*/*"]},
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "s3:*", "Resource": "*"}]}"#,
        B,
    )
    .unwrap();
    assert_eq!(p.version, Version::V2008_10_17);
    assert_eq!(p.statements[0].principal, Some(Matcher::Is(Principals::Everyone)));
    assert_eq!(
        p.statements[1].principal,
        Some(Matcher::Is(Principals::Listed(vec![PrincipalId::Account("111122223333".into())])))
    );
}

#[test]
fn every_condition_operator_family_parses() {
    let ops = [
        "StringEquals",
        "StringNotEquals",
        "StringEqualsIgnoreCase",
        "StringNotEqualsIgnoreCase",
        "StringLike",
        "StringNotLike",
        "NumericEquals",
        "NumericNotEquals",
        "NumericLessThan",
        "NumericLessThanEquals",
        "NumericGreaterThan",
        "NumericGreaterThanEquals",
        "DateEquals",
        "DateNotEquals",
        "DateLessThan",
        "DateLessThanEquals",
        "DateGreaterThan",
        "DateGreaterThanEquals",
        "Bool",
        "BinaryEquals",
        "IpAddress",
        "NotIpAddress",
        "ArnEquals",
        "ArnLike",
        "ArnNotEquals",
        "ArnNotLike",
        "Null",
        "StringEqualsIfExists",
        "ForAnyValue:StringLike",
        "ForAllValues:StringEqualsIgnoreCaseIfExists",
    ];
    for op in ops {
        let json = doc(&format!(
            r#"{{"Effect": "Allow", "Principal": "*", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::examplebucket", "Condition": {{"{op}": {{"s3:prefix": ["a", "b"]}}}}}}"#
        ));
        let p = Policy::parse_bucket(&json, B).unwrap_or_else(|e| panic!("{op}: {e}"));
        assert_eq!(p.statements[0].conditions[0].operator.to_string(), op);
    }
}
