//! Bucket operations over HTTP with the AWS SDK.

use holdfast_testkit::aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
use holdfast_testkit::{Server, bucket_name, error_code};

fn server() -> Server {
    Server::start(env!("CARGO_BIN_EXE_holdfast"))
}

#[tokio::test]
async fn create_head_list_delete_bucket() {
    let srv = server();
    let s3 = srv.client();
    let b = bucket_name("crud");
    let out = s3.create_bucket().bucket(&b).send().await.unwrap();
    assert_eq!(out.location(), Some(format!("/{b}").as_str()));
    s3.head_bucket().bucket(&b).send().await.unwrap();
    let list = s3.list_buckets().send().await.unwrap();
    let names: Vec<_> = list.buckets().iter().filter_map(|b| b.name()).collect();
    assert_eq!(names, vec![b.as_str()]);
    assert!(list.owner().and_then(|o| o.id()).is_some());
    // us-east-1 answers 200 when you re-create a bucket you own (AWS legacy behaviour; other
    // regions answer 409 BucketAlreadyOwnedByYou).
    s3.create_bucket().bucket(&b).send().await.unwrap();
    s3.delete_bucket().bucket(&b).send().await.unwrap();
    let err = s3.head_bucket().bucket(&b).send().await.unwrap_err();
    assert_eq!(error_code(&err).1, Some(404));
    let err = s3.delete_bucket().bucket(&b).send().await.unwrap_err();
    assert_eq!(error_code(&err), (Some("NoSuchBucket".into()), Some(404)));
}

#[tokio::test]
async fn delete_bucket_refuses_while_versions_or_markers_remain() {
    let srv = server();
    let s3 = srv.client();
    let b = bucket_name("notempty");
    s3.create_bucket().bucket(&b).send().await.unwrap();
    holdfast_testkit::enable_versioning(&s3, &b).await;
    let v = s3.put_object().bucket(&b).key("k").body(b"x".to_vec().into()).send().await.unwrap();
    let marker = s3.delete_object().bucket(&b).key("k").send().await.unwrap();
    assert_eq!(marker.delete_marker(), Some(true));
    let err = s3.delete_bucket().bucket(&b).send().await.unwrap_err();
    assert_eq!(error_code(&err), (Some("BucketNotEmpty".into()), Some(409)));
    s3.delete_object().bucket(&b).key("k").version_id(v.version_id().unwrap()).send().await.unwrap();
    let err = s3.delete_bucket().bucket(&b).send().await.unwrap_err();
    assert_eq!(error_code(&err).0.as_deref(), Some("BucketNotEmpty"), "the delete marker still counts");
    s3.delete_object().bucket(&b).key("k").version_id(marker.version_id().unwrap()).send().await.unwrap();
    s3.delete_bucket().bucket(&b).send().await.unwrap();
}

#[tokio::test]
async fn versioning_states_and_location() {
    let srv = server();
    let s3 = srv.client();
    let b = bucket_name("vers");
    s3.create_bucket().bucket(&b).send().await.unwrap();
    assert_eq!(s3.get_bucket_versioning().bucket(&b).send().await.unwrap().status(), None);
    for status in [BucketVersioningStatus::Enabled, BucketVersioningStatus::Suspended] {
        s3.put_bucket_versioning()
            .bucket(&b)
            .versioning_configuration(VersioningConfiguration::builder().status(status.clone()).build())
            .send()
            .await
            .unwrap();
        assert_eq!(s3.get_bucket_versioning().bucket(&b).send().await.unwrap().status(), Some(&status));
    }
    let loc = s3.get_bucket_location().bucket(&b).send().await.unwrap();
    // AWS answers `<LocationConstraint/>` for us-east-1, which the SDK reads as "".
    assert_eq!(loc.location_constraint().map(|c| c.as_str()).unwrap_or(""), "");
}

#[tokio::test]
async fn invalid_bucket_names_are_refused() {
    let srv = server();
    let s3 = srv.client();
    for name in ["ab", "UPPER-case", "under_score", "-leading", "192.168.1.1", &"x".repeat(64)] {
        let err = s3.create_bucket().bucket(name).send().await.unwrap_err();
        assert_eq!(error_code(&err), (Some("InvalidBucketName".into()), Some(400)), "{name}");
    }
    assert!(s3.list_buckets().send().await.unwrap().buckets().is_empty());
}
