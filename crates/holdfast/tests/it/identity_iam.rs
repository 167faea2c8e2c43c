//! The IAM query API on the S3 endpoint, driven with the AWS SDK's IAM client:
//! users, access keys, inline user policies, IAM's error codes, and keys that stop working
//! when deactivated or deleted.

use holdfast_testkit::aws_sdk_iam::types::StatusType;
use holdfast_testkit::aws_sdk_s3::primitives::ByteStream;
use holdfast_testkit::{Server, bucket_name, error_code, iam_client};

const ALLOW_ALL_S3: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#;

fn iam_code<E: holdfast_testkit::aws_sdk_iam::error::ProvideErrorMetadata, R>(
    e: &holdfast_testkit::aws_sdk_iam::error::SdkError<E, R>,
) -> Option<String> {
    use holdfast_testkit::aws_sdk_iam::error::ProvideErrorMetadata as _;
    e.code().map(str::to_owned)
}

#[tokio::test]
async fn users_keys_and_policies_lifecycle() {
    let srv = Server::start(env!("CARGO_BIN_EXE_holdfast"));
    let iam = srv.iam();
    let created = iam.create_user().user_name("alice").send().await.unwrap();
    let user = created.user().unwrap();
    assert_eq!(user.user_name(), "alice");
    assert!(user.user_id().starts_with("AIDA"));
    assert!(user.arn().starts_with("arn:aws:iam::") && user.arn().ends_with(":user/alice"));
    let err = iam.create_user().user_name("alice").send().await.unwrap_err();
    assert_eq!(iam_code(&err).as_deref(), Some("EntityAlreadyExists"));
    let err = iam.create_user().user_name("bad name!").send().await.unwrap_err();
    assert_eq!(iam_code(&err).as_deref(), Some("ValidationError"));
    let err = iam.get_user().user_name("nobody").send().await.unwrap_err();
    assert_eq!(iam_code(&err).as_deref(), Some("NoSuchEntity"));
    assert_eq!(iam.get_user().user_name("alice").send().await.unwrap().user().unwrap().user_name(), "alice");
    iam.create_user().user_name("bob").send().await.unwrap();
    let names: Vec<_> =
        iam.list_users().send().await.unwrap().users().iter().map(|u| u.user_name().to_owned()).collect();
    assert_eq!(names, vec!["alice", "bob"]);

    let key = iam.create_access_key().user_name("alice").send().await.unwrap();
    let key = key.access_key().unwrap();
    assert!(key.access_key_id().starts_with("AKIA"));
    assert_eq!(key.secret_access_key().len(), 40);
    let listed = iam.list_access_keys().user_name("alice").send().await.unwrap();
    assert_eq!(listed.access_key_metadata().len(), 1);
    assert_eq!(listed.access_key_metadata()[0].status(), Some(&StatusType::Active));

    // The secret is stored sealed, never in the clear.
    let stored = srv.metadata_bytes();
    let secret = key.secret_access_key().as_bytes();
    let secret_hex = hex_of(secret);
    for needle in [secret, secret_hex.as_bytes()] {
        assert!(!stored.windows(needle.len()).any(|w| w == needle), "the secret is stored in the clear");
    }

    let err = iam
        .put_user_policy()
        .user_name("alice")
        .policy_name("p")
        .policy_document("{not json")
        .send()
        .await
        .unwrap_err();
    assert_eq!(iam_code(&err).as_deref(), Some("MalformedPolicyDocument"));
    let err = iam
        .put_user_policy()
        .user_name("alice")
        .policy_name("p")
        .policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*"}]}"#)
        .send()
        .await
        .unwrap_err();
    assert_eq!(iam_code(&err).as_deref(), Some("MalformedPolicyDocument"), "identity policies name no principal");
    iam.put_user_policy().user_name("alice").policy_name("s3-all").policy_document(ALLOW_ALL_S3).send().await.unwrap();
    let got = iam.get_user_policy().user_name("alice").policy_name("s3-all").send().await.unwrap();
    let doc = percent_decode(got.policy_document());
    assert_eq!(doc, ALLOW_ALL_S3);
    let names = iam.list_user_policies().user_name("alice").send().await.unwrap();
    assert_eq!(names.policy_names(), ["s3-all"]);

    let err = iam.delete_user().user_name("alice").send().await.unwrap_err();
    assert_eq!(iam_code(&err).as_deref(), Some("DeleteConflict"));
    iam.delete_user_policy().user_name("alice").policy_name("s3-all").send().await.unwrap();
    iam.delete_access_key().user_name("alice").access_key_id(key.access_key_id()).send().await.unwrap();
    let err = iam.delete_access_key().user_name("alice").access_key_id(key.access_key_id()).send().await.unwrap_err();
    assert_eq!(iam_code(&err).as_deref(), Some("NoSuchEntity"));
    iam.delete_user().user_name("alice").send().await.unwrap();
    let err = iam.get_user().user_name("alice").send().await.unwrap_err();
    assert_eq!(iam_code(&err).as_deref(), Some("NoSuchEntity"));
}

#[tokio::test]
async fn deactivated_and_deleted_keys_are_refused() {
    let srv = Server::start(env!("CARGO_BIN_EXE_holdfast"));
    let iam = srv.iam();
    iam.create_user().user_name("carol").send().await.unwrap();
    iam.put_user_policy().user_name("carol").policy_name("all").policy_document(ALLOW_ALL_S3).send().await.unwrap();
    let key = iam.create_access_key().user_name("carol").send().await.unwrap().access_key.unwrap();
    let carol = srv.client_as(key.access_key_id(), key.secret_access_key());
    let b = bucket_name("keys");
    carol.create_bucket().bucket(&b).send().await.unwrap();
    carol.put_object().bucket(&b).key("k").body(ByteStream::from_static(b"x")).send().await.unwrap();

    iam.update_access_key()
        .user_name("carol")
        .access_key_id(key.access_key_id())
        .status(StatusType::Inactive)
        .send()
        .await
        .unwrap();
    let err = carol.get_object().bucket(&b).key("k").send().await.unwrap_err();
    assert_eq!(error_code(&err), (Some("InvalidAccessKeyId".into()), Some(403)));
    iam.update_access_key()
        .user_name("carol")
        .access_key_id(key.access_key_id())
        .status(StatusType::Active)
        .send()
        .await
        .unwrap();
    carol.get_object().bucket(&b).key("k").send().await.unwrap();

    iam.delete_access_key().user_name("carol").access_key_id(key.access_key_id()).send().await.unwrap();
    let err = carol.get_object().bucket(&b).key("k").send().await.unwrap_err();
    assert_eq!(error_code(&err), (Some("InvalidAccessKeyId".into()), Some(403)));
    // IAM itself refuses a deleted key too.
    let gone = iam_client(&srv.endpoint, key.access_key_id(), key.secret_access_key());
    let err = gone.list_users().send().await.unwrap_err();
    assert_eq!(iam_code(&err).as_deref(), Some("InvalidClientTokenId"));
    // At most two keys per user.
    iam.create_access_key().user_name("carol").send().await.unwrap();
    iam.create_access_key().user_name("carol").send().await.unwrap();
    let err = iam.create_access_key().user_name("carol").send().await.unwrap_err();
    assert_eq!(iam_code(&err).as_deref(), Some("LimitExceeded"));
}

#[tokio::test]
async fn only_root_or_iam_allowed_users_manage_identity() {
    let srv = Server::start(env!("CARGO_BIN_EXE_holdfast"));
    let iam = srv.iam();
    iam.create_user().user_name("dave").send().await.unwrap();
    let key = iam.create_access_key().user_name("dave").send().await.unwrap().access_key.unwrap();
    let dave = iam_client(&srv.endpoint, key.access_key_id(), key.secret_access_key());
    let err = dave.create_user().user_name("eve").send().await.unwrap_err();
    assert_eq!(iam_code(&err).as_deref(), Some("AccessDenied"));
    iam.put_user_policy()
        .user_name("dave")
        .policy_name("admin")
        .policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:CreateUser","iam:ListUsers"],"Resource":"*"}]}"#)
        .send()
        .await
        .unwrap();
    dave.create_user().user_name("eve").send().await.unwrap();
    assert_eq!(dave.list_users().send().await.unwrap().users().len(), 2);
    let err = dave.delete_user().user_name("eve").send().await.unwrap_err();
    assert_eq!(iam_code(&err).as_deref(), Some("AccessDenied"), "only the actions the policy names");
    // A wrong secret is refused before anything else.
    let forged = iam_client(&srv.endpoint, key.access_key_id(), "not-the-secret");
    let err = forged.list_users().send().await.unwrap_err();
    assert_eq!(iam_code(&err).as_deref(), Some("SignatureDoesNotMatch"));
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() + 1 && i + 2 < b.len() + 1 {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// How PostgreSQL dumps a `bytea` holding these bytes.
fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
