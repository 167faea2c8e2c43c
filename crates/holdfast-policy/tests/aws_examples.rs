//! Table tests taken from the AWS documentation: the IAM User Guide ("Policy evaluation logic",
//! "IAM JSON policy elements": Principal, NotPrincipal, NotAction, NotResource, Condition
//! operators, multiple keys and values, IfExists, set operators, policy variables) and the S3
//! User Guide's bucket policy examples. Each test names the page it follows.

#![allow(clippy::unwrap_used)] // A test states what it expects with unwrap: a failure is the finding.

mod common;

use common::*;
use holdfast_policy::Decision::{Allow, ExplicitDeny, ImplicitDeny};
use holdfast_policy::{Context, Principal, bucket_arn, object_arn};

const BUCKET: &str = "amzn-s3-demo-bucket";

fn obj(key: &str) -> String {
    object_arn(BUCKET, key)
}

/// S3 UG, "Bucket policy examples: Granting read-only permission to anonymous users".
#[test]
fn public_read_bucket_policy() {
    let policy = bucket(
        r#"{"Version": "2012-10-17", "Statement": [{"Sid": "PublicRead", "Effect": "Allow",
            "Principal": "*", "Action": ["s3:GetObject", "s3:GetObjectVersion"],
            "Resource": ["arn:aws:s3:::amzn-s3-demo-bucket/*"]}]}"#,
        BUCKET,
    );
    let anon = Principal::anonymous();
    let ctx = context(&anon, &[]);
    assert_eq!(decide(&[], Some(&policy), &anon, "s3:GetObject", &obj("a/b.txt"), &ctx), Allow);
    assert_eq!(decide(&[], Some(&policy), &anon, "s3:PutObject", &obj("a/b.txt"), &ctx), ImplicitDeny);
    assert_eq!(decide(&[], Some(&policy), &anon, "s3:ListBucket", &bucket_arn(BUCKET), &ctx), ImplicitDeny);
    // Without a bucket policy an anonymous caller gets nothing.
    assert_eq!(decide(&[], None, &anon, "s3:GetObject", &obj("a"), &ctx), ImplicitDeny);
    // Identity policies never apply to anonymous callers.
    let everything =
        identity(r#"{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}"#);
    assert_eq!(decide(&[everything], None, &anon, "s3:GetObject", &obj("a"), &ctx), ImplicitDeny);
}

/// S3 UG, "Managing access based on specific IP addresses" (IPv4 and IPv6 together).
#[test]
fn ip_address_bucket_policy() {
    let policy = bucket(
        r#"{"Id": "SourceIP", "Version": "2012-10-17", "Statement": [{"Sid": "SourceIP", "Effect": "Deny",
            "Principal": "*", "Action": "s3:*",
            "Resource": ["arn:aws:s3:::amzn-s3-demo-bucket", "arn:aws:s3:::amzn-s3-demo-bucket/*"],
            "Condition": {"NotIpAddress": {"aws:SourceIp": ["192.0.2.0/24", "2001:DB8:1234:5678::/64"]}}}]}"#,
        BUCKET,
    );
    let alice = user("alice");
    let allow_all =
        identity(r#"{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}}"#);
    let idp = [allow_all];
    for (ip, expected) in [
        ("192.0.2.10", Allow),
        ("203.0.113.7", ExplicitDeny),
        ("2001:db8:1234:5678::1", Allow),
        ("2001:db8:1234:5679::1", ExplicitDeny),
    ] {
        let ctx = context(&alice, &[("aws:SourceIp", ip)]);
        assert_eq!(decide(&idp, Some(&policy), &alice, "s3:GetObject", &obj("k"), &ctx), expected, "{ip}");
    }
    // The root user is bound by an explicit bucket-policy Deny too.
    let root = root();
    let ctx = context(&root, &[("aws:SourceIp", "203.0.113.7")]);
    assert_eq!(decide(&[], Some(&policy), &root, "s3:GetObject", &obj("k"), &ctx), ExplicitDeny);
}

/// S3 UG, "Enforcing encryption in transit": deny when aws:SecureTransport is false.
#[test]
fn https_only_bucket_policy() {
    let policy = bucket(
        r#"{"Version": "2012-10-17", "Statement": [{"Sid": "RestrictToTLSRequestsOnly", "Action": "s3:*",
            "Effect": "Deny", "Resource": ["arn:aws:s3:::amzn-s3-demo-bucket", "arn:aws:s3:::amzn-s3-demo-bucket/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}}, "Principal": "*"}]}"#,
        BUCKET,
    );
    let r = root();
    let plain = context(&r, &[("aws:SecureTransport", "false")]);
    let tls = context(&r, &[("aws:SecureTransport", "true")]);
    assert_eq!(decide(&[], Some(&policy), &r, "s3:PutObject", &obj("x"), &plain), ExplicitDeny);
    assert_eq!(decide(&[], Some(&policy), &r, "s3:PutObject", &obj("x"), &tls), Allow);
    // A missing key makes Bool false: no Deny.
    assert_eq!(decide(&[], Some(&policy), &r, "s3:PutObject", &obj("x"), &context(&r, &[])), Allow);
}

/// IAM UG, "IAM policy elements: Variables and tags" — the home-folder policy.
#[test]
fn home_folder_with_policy_variables() {
    let policy = identity(
        r#"{"Version": "2012-10-17", "Statement": [
            {"Action": ["s3:ListBucket"], "Effect": "Allow", "Resource": ["arn:aws:s3:::amzn-s3-demo-bucket"],
             "Condition": {"StringLike": {"s3:prefix": ["", "home/", "home/${aws:username}/*"]}}},
            {"Action": ["s3:GetObject", "s3:PutObject"], "Effect": "Allow",
             "Resource": ["arn:aws:s3:::amzn-s3-demo-bucket/home/${aws:username}/*"]}]}"#,
    );
    let p = [policy];
    let alice = user("alice");
    let ctx = |prefix: &str| context(&alice, &[("s3:prefix", prefix)]);
    let b = bucket_arn(BUCKET);
    assert_eq!(decide(&p, None, &alice, "s3:ListBucket", &b, &ctx("")), Allow);
    assert_eq!(decide(&p, None, &alice, "s3:ListBucket", &b, &ctx("home/")), Allow);
    assert_eq!(decide(&p, None, &alice, "s3:ListBucket", &b, &ctx("home/alice/docs")), Allow);
    assert_eq!(decide(&p, None, &alice, "s3:ListBucket", &b, &ctx("home/bob/")), ImplicitDeny);
    assert_eq!(decide(&p, None, &alice, "s3:ListBucket", &b, &context(&alice, &[])), ImplicitDeny);
    let c = context(&alice, &[]);
    assert_eq!(decide(&p, None, &alice, "s3:PutObject", &obj("home/alice/f"), &c), Allow);
    assert_eq!(decide(&p, None, &alice, "s3:PutObject", &obj("home/bob/f"), &c), ImplicitDeny);
    // A name with wildcard characters is substituted literally.
    let star = user("a*");
    let c = context(&star, &[]);
    assert_eq!(decide(&p, None, &star, "s3:GetObject", &obj("home/a*/f"), &c), Allow);
    assert_eq!(decide(&p, None, &star, "s3:GetObject", &obj("home/ab/f"), &c), ImplicitDeny);
}

/// IAM UG, "Version": under 2008-10-17 policy variables are plain text.
#[test]
fn policy_variables_only_under_2012_10_17() {
    let old = identity(
        r#"{"Version": "2008-10-17", "Statement": {"Effect": "Allow", "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::amzn-s3-demo-bucket/home/${aws:username}/*"}}"#,
    );
    let alice = user("alice");
    let c = context(&alice, &[]);
    let p = [old];
    assert_eq!(decide(&p, None, &alice, "s3:GetObject", &obj("home/alice/f"), &c), ImplicitDeny);
    assert_eq!(decide(&p, None, &alice, "s3:GetObject", &obj("home/${aws:username}/f"), &c), Allow);
}

/// IAM UG, "Creating a condition with multiple context keys or values": AND across operators
/// and keys, OR across values.
#[test]
fn multiple_keys_and_values() {
    let policy = identity(
        r#"{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*",
            "Condition": {
                "DateGreaterThan": {"aws:CurrentTime": "2020-04-01T00:00:00Z"},
                "DateLessThan": {"aws:CurrentTime": "2020-06-30T23:59:59Z"},
                "StringEquals": {"aws:PrincipalTag/department": "finance", "aws:PrincipalTag/role": ["audit", "security"]}}}}"#,
    );
    let p = [policy];
    let u = user("carol");
    let check = |time: &str, dept: &str, role: &str| {
        let c = context(
            &u,
            &[("aws:CurrentTime", time), ("aws:PrincipalTag/department", dept), ("aws:PrincipalTag/role", role)],
        );
        decide(&p, None, &u, "s3:GetObject", &obj("x"), &c)
    };
    assert_eq!(check("2020-05-01T00:00:00Z", "finance", "audit"), Allow);
    assert_eq!(check("2020-05-01T00:00:00Z", "finance", "security"), Allow, "OR across values");
    assert_eq!(check("2020-05-01T00:00:00Z", "finance", "dev"), ImplicitDeny);
    assert_eq!(check("2020-05-01T00:00:00Z", "hr", "audit"), ImplicitDeny, "AND across keys");
    assert_eq!(check("2020-07-01T00:00:00Z", "finance", "audit"), ImplicitDeny, "AND across operators");
}

/// IAM UG, "IfExists condition operators" and S3 UG "Example: limiting max-keys".
#[test]
fn if_exists_and_max_keys() {
    let strict = identity(
        r#"{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:ListBucket",
            "Resource": "arn:aws:s3:::amzn-s3-demo-bucket", "Condition": {"NumericLessThanEquals": {"s3:max-keys": "10"}}}}"#,
    );
    let lenient = identity(
        r#"{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:ListBucket",
            "Resource": "arn:aws:s3:::amzn-s3-demo-bucket", "Condition": {"NumericLessThanEqualsIfExists": {"s3:max-keys": "10"}}}}"#,
    );
    let u = user("dave");
    let b = bucket_arn(BUCKET);
    let five = context(&u, &[("s3:max-keys", "5")]);
    let thousand = context(&u, &[("s3:max-keys", "1000")]);
    let none = context(&u, &[]);
    for (p, ctx, expected) in [
        (&strict, &five, Allow),
        (&strict, &thousand, ImplicitDeny),
        (&strict, &none, ImplicitDeny),
        (&lenient, &five, Allow),
        (&lenient, &thousand, ImplicitDeny),
        (&lenient, &none, Allow),
    ] {
        assert_eq!(decide(std::slice::from_ref(p), None, &u, "s3:ListBucket", &b, ctx), expected);
    }
}

/// S3 UG, "Requiring server-side encryption": Deny PutObject when the header is missing (Null).
#[test]
fn null_condition_denies_missing_header() {
    let policy = bucket(
        r#"{"Version": "2012-10-17", "Statement": [
            {"Sid": "DenyMissing", "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
             "Resource": "arn:aws:s3:::amzn-s3-demo-bucket/*", "Condition": {"Null": {"s3:x-amz-server-side-encryption": "true"}}},
            {"Sid": "DenyWrong", "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
             "Resource": "arn:aws:s3:::amzn-s3-demo-bucket/*", "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption": "AES256"}}}]}"#,
        BUCKET,
    );
    let r = root();
    let put = |extra: &[(&str, &str)]| decide(&[], Some(&policy), &r, "s3:PutObject", &obj("k"), &context(&r, extra));
    assert_eq!(put(&[]), ExplicitDeny);
    assert_eq!(put(&[("s3:x-amz-server-side-encryption", "aws:kms")]), ExplicitDeny);
    assert_eq!(put(&[("s3:x-amz-server-side-encryption", "AES256")]), Allow);
}

/// IAM UG, "NotPrincipal": deny everyone except Bob (listed together with his account).
#[test]
fn not_principal_deny_everyone_but_one_user() {
    let policy = bucket(
        r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Deny",
            "NotPrincipal": {"AWS": ["arn:aws:iam::111122223333:user/Bob", "arn:aws:iam::111122223333:root"]},
            "Action": "s3:*", "Resource": ["arn:aws:s3:::amzn-s3-demo-bucket", "arn:aws:s3:::amzn-s3-demo-bucket/*"]}]}"#,
        BUCKET,
    );
    let allow_all =
        [identity(r#"{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}}"#)];
    let bob = user("Bob");
    let alice = user("alice");
    let anon = Principal::anonymous();
    let r = root();
    let get = |who: &Principal| decide(&allow_all, Some(&policy), who, "s3:GetObject", &obj("k"), &context(who, &[]));
    assert_eq!(get(&bob), Allow);
    assert_eq!(get(&alice), ExplicitDeny);
    assert_eq!(get(&anon), ExplicitDeny);
    assert_eq!(get(&r), Allow, "the account root is listed");
}

/// IAM UG, "NotAction": allow everything except IAM; deny everything but listed actions.
#[test]
fn not_action() {
    let allow_but_iam = identity(
        r#"{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}}"#,
    );
    let u = user("erin");
    let c = context(&u, &[]);
    let p = [allow_but_iam];
    assert_eq!(decide(&p, None, &u, "s3:DeleteObject", &obj("k"), &c), Allow);
    assert_eq!(decide(&p, None, &u, "iam:CreateUser", "arn:aws:iam::111122223333:user/x", &c), ImplicitDeny);

    let deny_but_reads = bucket(
        r#"{"Version": "2012-10-17", "Statement": {"Effect": "Deny", "Principal": "*",
            "NotAction": ["s3:Get*", "s3:List*"], "Resource": "arn:aws:s3:::amzn-s3-demo-bucket/*"}}"#,
        BUCKET,
    );
    let all =
        [identity(r#"{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}"#)];
    assert_eq!(decide(&all, Some(&deny_but_reads), &u, "s3:GetObject", &obj("k"), &c), Allow);
    assert_eq!(decide(&all, Some(&deny_but_reads), &u, "s3:getobjectretention", &obj("k"), &c), Allow);
    assert_eq!(decide(&all, Some(&deny_but_reads), &u, "s3:PutObject", &obj("k"), &c), ExplicitDeny);
}

/// IAM UG, "NotResource": deny everything outside the payroll folder.
#[test]
fn not_resource() {
    let policy = identity(
        r#"{"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
            {"Effect": "Deny", "Action": "s3:*",
             "NotResource": ["arn:aws:s3:::HRBucket/Payroll", "arn:aws:s3:::HRBucket/Payroll/*"]}]}"#,
    );
    let u = user("frank");
    let c = context(&u, &[]);
    let p = [policy];
    assert_eq!(decide(&p, None, &u, "s3:GetObject", "arn:aws:s3:::HRBucket/Payroll/jan.csv", &c), Allow);
    assert_eq!(decide(&p, None, &u, "s3:ListBucket", "arn:aws:s3:::HRBucket/Payroll", &c), Allow);
    assert_eq!(decide(&p, None, &u, "s3:GetObject", "arn:aws:s3:::HRBucket/Other/x", &c), ExplicitDeny);
    assert_eq!(
        decide(&p, None, &u, "s3:GetObject", "arn:aws:s3:::hrbucket/Payroll/x", &c),
        ExplicitDeny,
        "resources are case-sensitive"
    );
}

/// IAM UG, "Set operators for multivalued context keys", including the empty-set warning.
#[test]
fn for_all_values_passes_on_an_empty_set() {
    let policy = identity(
        r#"{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "*",
            "Condition": {"ForAllValues:StringEquals": {"aws:TagKeys": ["environment", "cost-center"]}}}}"#,
    );
    let any = identity(
        r#"{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "*",
            "Condition": {"ForAnyValue:StringEquals": {"aws:TagKeys": ["environment", "cost-center"]}}}}"#,
    );
    let u = user("gina");
    let with = |keys: &[&str]| {
        let mut c = context(&u, &[]);
        c.insert_all("aws:TagKeys", keys.iter().copied());
        c
    };
    let (all, any) = ([policy], [any]);
    let put = |p: &[holdfast_policy::Policy], c: &Context| decide(p, None, &u, "s3:PutObject", &obj("k"), c);
    assert_eq!(put(&all, &with(&["environment"])), Allow);
    assert_eq!(put(&all, &with(&["environment", "owner"])), ImplicitDeny);
    assert_eq!(put(&all, &with(&[])), Allow, "empty set: ForAllValues is true");
    assert_eq!(put(&all, &context(&u, &[])), Allow, "missing key: ForAllValues is true");
    assert_eq!(put(&any, &with(&["owner", "cost-center"])), Allow);
    assert_eq!(put(&any, &with(&[])), ImplicitDeny);
    assert_eq!(put(&any, &context(&u, &[])), ImplicitDeny);
}

/// IAM UG, "Policy evaluation logic" for one account: identity and resource policies are
/// combined; an explicit Deny in either wins; otherwise an Allow in either allows.
#[test]
fn identity_and_bucket_policies_combine() {
    let allow_user_in_bucket_policy = bucket(
        r#"{"Version": "2012-10-17", "Statement": {"Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::111122223333:user/hank"}, "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::amzn-s3-demo-bucket/*"}}"#,
        BUCKET,
    );
    let deny_in_identity = identity(
        r#"{"Version": "2012-10-17", "Statement": {"Effect": "Deny", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::amzn-s3-demo-bucket/secret/*"}}"#,
    );
    let hank = user("hank");
    let ivy = user("ivy");
    let c = context(&hank, &[]);
    let bp = Some(&allow_user_in_bucket_policy);
    assert_eq!(decide(&[], bp, &hank, "s3:GetObject", &obj("a"), &c), Allow, "bucket policy alone allows");
    assert_eq!(decide(&[], bp, &ivy, "s3:GetObject", &obj("a"), &context(&ivy, &[])), ImplicitDeny);
    let idp = [deny_in_identity];
    assert_eq!(
        decide(&idp, bp, &hank, "s3:GetObject", &obj("secret/x"), &c),
        ExplicitDeny,
        "identity Deny beats bucket Allow"
    );
    assert_eq!(decide(&idp, bp, &hank, "s3:GetObject", &obj("a"), &c), Allow);
}

/// An account principal in an Allow delegates to the account: it grants its users nothing by
/// itself, while a Deny naming the account binds its users.
#[test]
fn account_principal_in_bucket_policy() {
    let allow = bucket(
        r#"{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Principal": {"AWS": "111122223333"},
            "Action": "s3:GetObject", "Resource": "arn:aws:s3:::amzn-s3-demo-bucket/*"}}"#,
        BUCKET,
    );
    let deny = bucket(
        r#"{"Version": "2012-10-17", "Statement": {"Effect": "Deny", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
            "Action": "s3:DeleteObject", "Resource": "arn:aws:s3:::amzn-s3-demo-bucket/*"}}"#,
        BUCKET,
    );
    let jo = user("jo");
    let c = context(&jo, &[]);
    assert_eq!(decide(&[], Some(&allow), &jo, "s3:GetObject", &obj("a"), &c), ImplicitDeny);
    let all =
        [identity(r#"{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}}"#)];
    assert_eq!(decide(&all, Some(&deny), &jo, "s3:DeleteObject", &obj("a"), &c), ExplicitDeny);
    let r = root();
    assert_eq!(decide(&[], Some(&deny), &r, "s3:DeleteObject", &obj("a"), &context(&r, &[])), ExplicitDeny);
}

/// The root user: allowed by default, denied only explicitly, and never locked out of the
/// bucket policy itself.
#[test]
fn root_rules() {
    let lockout = bucket(
        r#"{"Version": "2012-10-17", "Statement": {"Effect": "Deny", "Principal": "*", "Action": "s3:*",
            "Resource": ["arn:aws:s3:::amzn-s3-demo-bucket", "arn:aws:s3:::amzn-s3-demo-bucket/*"]}}"#,
        BUCKET,
    );
    let r = root();
    let c = context(&r, &[]);
    let b = bucket_arn(BUCKET);
    assert_eq!(decide(&[], None, &r, "s3:BypassGovernanceRetention", &obj("a"), &c), Allow);
    assert_eq!(decide(&[], Some(&lockout), &r, "s3:GetObject", &obj("a"), &c), ExplicitDeny);
    for action in ["s3:GetBucketPolicy", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy"] {
        assert_eq!(decide(&[], Some(&lockout), &r, action, &b, &c), Allow, "{action}");
    }
    // Identity policies passed for root are ignored (root has none in IAM).
    let deny =
        [identity(r#"{"Version": "2012-10-17", "Statement": {"Effect": "Deny", "Action": "*", "Resource": "*"}}"#)];
    assert_eq!(decide(&deny, None, &r, "s3:GetObject", &obj("a"), &c), Allow);
    // A user with no policy at all is implicitly denied.
    let u = user("kim");
    assert_eq!(decide(&[], None, &u, "s3:GetObject", &obj("a"), &context(&u, &[])), ImplicitDeny);
}

/// IAM UG, "Condition operators": ArnLike on aws:PrincipalArn, Date operators on
/// aws:CurrentTime and aws:EpochTime.
#[test]
fn arn_and_time_conditions() {
    let policy = bucket(
        r#"{"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::amzn-s3-demo-bucket/*",
             "Condition": {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::111122223333:user/team-*"}}},
            {"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::amzn-s3-demo-bucket/*",
             "Condition": {"DateGreaterThan": {"aws:EpochTime": "1893456000"}}}]}"#,
        BUCKET,
    );
    let member = user("team-a");
    let outsider = user("solo");
    let mut c = context(&member, &[]);
    c.set_time(1_800_000_000_000);
    assert_eq!(decide(&[], Some(&policy), &member, "s3:GetObject", &obj("a"), &c), Allow);
    let mut later = c.clone();
    later.set_time(1_900_000_000_000);
    assert_eq!(decide(&[], Some(&policy), &member, "s3:GetObject", &obj("a"), &later), ExplicitDeny);
    let mut c = context(&outsider, &[]);
    c.set_time(1_800_000_000_000);
    assert_eq!(decide(&[], Some(&policy), &outsider, "s3:GetObject", &obj("a"), &c), ImplicitDeny);
}

/// S3 UG, Object Lock: require a mode and cap the retain-until date with the lock keys.
#[test]
fn object_lock_condition_keys() {
    let policy = bucket(
        r#"{"Version": "2012-10-17", "Statement": [
            {"Effect": "Deny", "Principal": "*", "Action": "s3:PutObjectRetention", "Resource": "arn:aws:s3:::amzn-s3-demo-bucket/*",
             "Condition": {"StringNotEquals": {"s3:object-lock-mode": "COMPLIANCE"}}},
            {"Effect": "Deny", "Principal": "*", "Action": "s3:PutObjectRetention", "Resource": "arn:aws:s3:::amzn-s3-demo-bucket/*",
             "Condition": {"DateGreaterThan": {"s3:object-lock-retain-until-date": "2031-01-01T00:00:00Z"}}},
            {"Effect": "Deny", "Principal": "*", "Action": "s3:PutObjectLegalHold", "Resource": "arn:aws:s3:::amzn-s3-demo-bucket/*",
             "Condition": {"StringEquals": {"s3:object-lock-legal-hold": "OFF"}}}]}"#,
        BUCKET,
    );
    let writer = user("lee");
    let all =
        [identity(r#"{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}}"#)];
    let now = 1_893_456_000_000; // 2030-01-01
    let day = 86_400_000;
    let retention = |mode: &str, days: i64| {
        let mut c = context(&writer, &[]);
        c.set_requested_retention(mode, now + days * day, now);
        decide(&all, Some(&policy), &writer, "s3:PutObjectRetention", &obj("k"), &c)
    };
    assert_eq!(retention("COMPLIANCE", 30), Allow);
    assert_eq!(retention("GOVERNANCE", 30), ExplicitDeny);
    assert_eq!(retention("COMPLIANCE", 400), ExplicitDeny);
    let hold = |on: bool| {
        let mut c = context(&writer, &[]);
        c.set_requested_legal_hold(on);
        decide(&all, Some(&policy), &writer, "s3:PutObjectLegalHold", &obj("k"), &c)
    };
    assert_eq!(hold(true), Allow);
    assert_eq!(hold(false), ExplicitDeny);
}

/// Actions match case-insensitively with `*` and `?`; `s3:*` and `*` cover everything.
#[test]
fn action_wildcards() {
    let u = user("max");
    let c = context(&u, &[]);
    for (pattern, action, expected) in [
        ("s3:*", "s3:GetObject", Allow),
        ("*", "s3:PutObject", Allow),
        ("S3:GETOBJECT", "s3:GetObject", Allow),
        ("s3:Get*", "s3:GetObjectLegalHold", Allow),
        ("s3:Get*", "s3:PutObject", ImplicitDeny),
        ("s3:?etObject", "s3:GetObject", Allow),
        ("s3:GetObject", "s3:GetObjectVersion", ImplicitDeny),
    ] {
        let p = [identity(&format!(
            r#"{{"Version": "2012-10-17", "Statement": {{"Effect": "Allow", "Action": "{pattern}", "Resource": "*"}}}}"#
        ))];
        assert_eq!(decide(&p, None, &u, action, &obj("k"), &c), expected, "{pattern} vs {action}");
    }
}

/// S3 UG, "Policy examples for ACLs": Account A grants s3:PutObject to another account on the
/// condition that the upload grants the bucket owner full control (`s3:x-amz-grant-full-control`)
/// or carries the canned ACL `bucket-owner-full-control` (`s3:x-amz-acl`); the keys come from
/// the request headers.
#[test]
fn put_object_requiring_bucket_owner_full_control() {
    let policy = bucket(
        r#"{"Version": "2012-10-17", "Statement": [
            {"Sid": "statement1", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::444455556666:root"},
             "Action": "s3:PutObject", "Resource": "arn:aws:s3:::amzn-s3-demo-bucket/*",
             "Condition": {"StringEquals": {"s3:x-amz-grant-full-control": "id=AccountA-CanonicalUserID"}}},
            {"Sid": "statement2", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::444455556666:root"},
             "Action": "s3:PutObject", "Resource": "arn:aws:s3:::amzn-s3-demo-bucket/*",
             "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control"}}}]}"#,
        BUCKET,
    );
    let other = Principal::root("444455556666");
    let with = |headers: &[(&str, &str)]| {
        let mut ctx = context(&other, &[]);
        ctx.set_request_headers(headers.iter().copied());
        ctx
    };
    let put = |ctx: &Context| {
        holdfast_policy::evaluate(
            [&policy],
            &holdfast_policy::Request {
                principal: &other,
                action: "s3:PutObject",
                resource: &obj("HappyFace.jpg"),
                context: ctx,
            },
        )
    };
    assert_eq!(put(&with(&[("x-amz-grant-full-control", "id=AccountA-CanonicalUserID")])), Allow);
    assert_eq!(put(&with(&[("x-amz-acl", "bucket-owner-full-control")])), Allow);
    assert_eq!(put(&with(&[("x-amz-grant-full-control", "id=SomeoneElse")])), ImplicitDeny);
    assert_eq!(put(&with(&[("x-amz-acl", "public-read")])), ImplicitDeny);
    assert_eq!(put(&with(&[])), ImplicitDeny);
}

/// S3 UG, "Bucket policy examples using condition keys": s3:PutObject with a restriction on the
/// copy source (`s3:x-amz-copy-source`, `bucket/key`) and on the metadata directive.
#[test]
fn copy_source_and_metadata_directive() {
    let policy = bucket(
        r#"{"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::amzn-s3-demo-bucket/*",
             "Condition": {"StringLike": {"s3:x-amz-copy-source": "amzn-s3-demo-source-bucket/public/*"}}},
            {"Effect": "Deny", "Principal": "*", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::amzn-s3-demo-bucket/*",
             "Condition": {"StringEquals": {"s3:x-amz-metadata-directive": "REPLACE"}}}]}"#,
        BUCKET,
    );
    let alice = user("alice");
    let copy = |source_key: &str, directive: Option<&str>| {
        let mut ctx = context(&alice, &[]);
        ctx.set_copy_source("amzn-s3-demo-source-bucket", source_key);
        if let Some(d) = directive {
            ctx.set_request_headers([("x-amz-metadata-directive", d)]);
        }
        decide(&[], Some(&policy), &alice, "s3:PutObject", &obj("copy"), &ctx)
    };
    assert_eq!(copy("public/PublicHappyFace1.jpg", None), Allow);
    assert_eq!(copy("public/PublicHappyFace1.jpg", Some("COPY")), Allow);
    assert_eq!(copy("private/secret.jpg", None), ImplicitDeny);
    assert_eq!(copy("public/PublicHappyFace1.jpg", Some("REPLACE")), ExplicitDeny);
    // A plain upload has no copy source.
    let plain = context(&alice, &[]);
    assert_eq!(decide(&[], Some(&policy), &alice, "s3:PutObject", &obj("up"), &plain), ImplicitDeny);
}

/// IAM UG, "...IfExists condition operators" with the global key `aws:Referer` (ceph/s3-tests
/// `test_bucket_policy_set_condition_operator_end_with_IfExists`): a present Referer must match,
/// an absent one passes.
#[test]
fn referer_if_exists() {
    let policy = bucket(
        r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::amzn-s3-demo-bucket/*",
            "Condition": {"StringLikeIfExists": {"aws:Referer": "http://www.example.com/*"}}}]}"#,
        BUCKET,
    );
    let anon = Principal::anonymous();
    let get = |referer: Option<&str>| {
        let mut ctx = context(&anon, &[]);
        ctx.set_request_headers(referer.map(|r| ("Referer", r)));
        decide(&[], Some(&policy), &anon, "s3:GetObject", &obj("foo"), &ctx)
    };
    assert_eq!(get(Some("http://www.example.com/")), Allow);
    assert_eq!(get(Some("http://www.example.com/index.html")), Allow);
    assert_eq!(get(Some("http://example.com")), ImplicitDeny);
    assert_eq!(get(None), Allow);
}

/// S3 UG, "Bucket policy examples: Granting permissions for S3 Inventory and S3 analytics":
/// the destination's policy lets `s3.amazonaws.com` put for one source bucket of one
/// account, with the ACL the writer sends; nothing else, and nobody else by that statement.
#[test]
fn inventory_destination_bucket_policy() {
    let policy = bucket(
        r#"{"Version": "2012-10-17", "Statement": [{"Sid": "InventoryAndAnalyticsExamplePolicy",
            "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": "s3:PutObject",
            "Resource": ["arn:aws:s3:::amzn-s3-demo-bucket/*"],
            "Condition": {"ArnLike": {"aws:SourceArn": "arn:aws:s3:::amzn-s3-demo-source-bucket"},
                          "StringEquals": {"aws:SourceAccount": "111122223333",
                                           "s3:x-amz-acl": "bucket-owner-full-control"}}}]}"#,
        BUCKET,
    );
    let s3 = Principal::service("s3.amazonaws.com");
    let writer = |source: &str, account: &str| {
        context(
            &s3,
            &[("aws:SourceArn", source), ("aws:SourceAccount", account), ("s3:x-amz-acl", "bucket-owner-full-control")],
        )
    };
    let ok = writer("arn:aws:s3:::amzn-s3-demo-source-bucket", ACCOUNT);
    assert_eq!(decide(&[], Some(&policy), &s3, "s3:PutObject", &obj("inv/a.csv.gz"), &ok), Allow);
    let other_source = writer("arn:aws:s3:::another-bucket", ACCOUNT);
    assert_eq!(decide(&[], Some(&policy), &s3, "s3:PutObject", &obj("inv/a.csv.gz"), &other_source), ImplicitDeny);
    let other_account = writer("arn:aws:s3:::amzn-s3-demo-source-bucket", "444455556666");
    assert_eq!(decide(&[], Some(&policy), &s3, "s3:PutObject", &obj("inv/a.csv.gz"), &other_account), ImplicitDeny);
    // Without the policy the service may put nothing, and identity policies never grant it.
    let everything =
        identity(r#"{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}"#);
    assert_eq!(decide(&[everything], None, &s3, "s3:PutObject", &obj("inv/a.csv.gz"), &ok), ImplicitDeny);
    // The statement names the service: the account's root and users gain nothing from it.
    let alice = user("alice");
    assert_eq!(decide(&[], Some(&policy), &alice, "s3:PutObject", &obj("a"), &context(&alice, &[])), ImplicitDeny);
}
