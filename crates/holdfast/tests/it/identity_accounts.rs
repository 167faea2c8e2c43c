//! Other accounts on one installation (`[[accounts]]`): each owns the buckets it creates,
//! sees only those in ListBuckets, and reaches another account's buckets only where that
//! bucket's policy lets it (both sides must allow, as across AWS accounts). This is what
//! ceph/s3-tests' "alt" user is: a second account.

use holdfast_testkit::aws_sdk_s3::primitives::ByteStream;
use holdfast_testkit::{Server, ServerOptions, bucket_name, error_code};
use sha2::Digest as _;

const ALT_AK: &str = "HFALTACCOUNTKEY00001";
const ALT_SK: &str = "alt-account-secret-key-000000000000000000";

pub(crate) fn account_id(access_key: &str) -> String {
    let canonical = hex::encode(sha2::Sha256::digest(format!("holdfast-owner:{access_key}")));
    let n = u64::from_str_radix(&canonical[..15], 16).unwrap();
    format!("{:012}", n % 1_000_000_000_000)
}

fn server() -> Server {
    Server::start_with(
        env!("CARGO_BIN_EXE_holdfast"),
        ServerOptions {
            config_toml: format!(
                "[[accounts]]\nname = \"alt\"\naccess_key = \"{ALT_AK}\"\nsecret_key = \"{ALT_SK}\"\n"
            ),
            ..Default::default()
        },
    )
}

#[tokio::test]
async fn accounts_own_their_buckets_and_cross_only_by_bucket_policy() {
    let srv = server();
    let main = srv.client();
    let alt = srv.client_as(ALT_AK, ALT_SK);
    let (mine, theirs) = (bucket_name("main"), bucket_name("alt"));
    main.create_bucket().bucket(&mine).send().await.unwrap();
    main.put_object().bucket(&mine).key("foo123bar").body(ByteStream::from_static(b"foo")).send().await.unwrap();
    alt.create_bucket().bucket(&theirs).send().await.unwrap();

    let listed = |out: holdfast_testkit::aws_sdk_s3::operation::list_buckets::ListBucketsOutput| {
        out.buckets().iter().map(|b| b.name().unwrap().to_owned()).collect::<Vec<_>>()
    };
    assert_eq!(listed(main.list_buckets().send().await.unwrap()), vec![mine.clone()]);
    let alt_list = alt.list_buckets().send().await.unwrap();
    assert_ne!(alt_list.owner().unwrap().id(), main.list_buckets().send().await.unwrap().owner().unwrap().id());
    assert_eq!(listed(alt_list), vec![theirs.clone()]);

    // s3-tests test_object_copy_not_owned_bucket: copying out of another account's bucket.
    let err = alt
        .copy_object()
        .bucket(&theirs)
        .key("bar321foo")
        .copy_source(format!("{mine}/foo123bar"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), (Some("AccessDenied".into()), Some(403)));
    for err in [
        error_code(&alt.get_object().bucket(&mine).key("foo123bar").send().await.unwrap_err()),
        error_code(&alt.list_objects_v2().bucket(&mine).send().await.unwrap_err()),
        error_code(&alt.delete_object().bucket(&mine).key("foo123bar").send().await.unwrap_err()),
        error_code(
            &main.put_object().bucket(&theirs).key("x").body(ByteStream::from_static(b"x")).send().await.unwrap_err(),
        ),
    ] {
        assert_eq!(err, (Some("AccessDenied".into()), Some(403)));
    }
    // Bucket names are global.
    let err = alt.create_bucket().bucket(&mine).send().await.unwrap_err();
    assert_eq!(error_code(&err), (Some("BucketAlreadyExists".into()), Some(409)));

    // The owner grants the other account read access by bucket policy.
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{}:root"}},"Action":"s3:GetObject","Resource":"arn:aws:s3:::{mine}/*"}}]}}"#,
        account_id(ALT_AK)
    );
    main.put_bucket_policy().bucket(&mine).policy(policy).send().await.unwrap();
    let got = alt.get_object().bucket(&mine).key("foo123bar").send().await.unwrap();
    assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), b"foo");
    alt.copy_object().bucket(&theirs).key("bar321foo").copy_source(format!("{mine}/foo123bar")).send().await.unwrap();
    let err = alt.delete_object().bucket(&mine).key("foo123bar").send().await.unwrap_err();
    assert_eq!(error_code(&err), (Some("AccessDenied".into()), Some(403)), "only what the policy names");

    // A deleted bucket's name is free again, for any account.
    alt.delete_object().bucket(&theirs).key("bar321foo").send().await.unwrap();
    alt.delete_bucket().bucket(&theirs).send().await.unwrap();
    main.create_bucket().bucket(&theirs).send().await.unwrap();
    assert!(listed(main.list_buckets().send().await.unwrap()).contains(&theirs));
}

/// listings and uploads name the account that owns the bucket (they named the
/// installation's root account whoever owned it).
#[tokio::test]
async fn listings_name_the_bucket_owner() {
    let srv = server();
    let alt = srv.client_as(ALT_AK, ALT_SK);
    let theirs = bucket_name("altowner");
    alt.create_bucket().bucket(&theirs).send().await.unwrap();
    alt.put_object().bucket(&theirs).key("k").body(ByteStream::from_static(b"x")).send().await.unwrap();
    let upload = alt.create_multipart_upload().bucket(&theirs).key("up").send().await.unwrap();
    let expected = hex::encode(sha2::Sha256::digest(format!("holdfast-owner:{ALT_AK}")));
    let root_id = hex::encode(sha2::Sha256::digest(format!("holdfast-owner:{}", holdfast_testkit::ROOT_AK)));
    assert_ne!(expected, root_id);
    let v1 = alt.list_objects().bucket(&theirs).send().await.unwrap();
    assert_eq!(v1.contents()[0].owner().and_then(|o| o.id()), Some(expected.as_str()));
    let v2 = alt.list_objects_v2().bucket(&theirs).fetch_owner(true).send().await.unwrap();
    assert_eq!(v2.contents()[0].owner().and_then(|o| o.id()), Some(expected.as_str()));
    let versions = alt.list_object_versions().bucket(&theirs).send().await.unwrap();
    assert_eq!(versions.versions()[0].owner().and_then(|o| o.id()), Some(expected.as_str()));
    let uploads = alt.list_multipart_uploads().bucket(&theirs).send().await.unwrap();
    let u = &uploads.uploads()[0];
    assert_eq!(u.owner().and_then(|o| o.id()), Some(expected.as_str()));
    assert_eq!(u.initiator().and_then(|i| i.id()), Some(expected.as_str()));
    let parts = alt.list_parts().bucket(&theirs).key("up").upload_id(upload.upload_id().unwrap()).send().await.unwrap();
    assert_eq!(parts.owner().and_then(|o| o.id()), Some(expected.as_str()));
    assert_eq!(parts.initiator().and_then(|i| i.id()), Some(expected.as_str()));
}
