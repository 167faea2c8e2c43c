//! ListObjects, ListObjectsV2 and ListObjectVersions: prefixes, delimiters,
//! paging with markers and continuation tokens, start-after, max-keys, encoding-type=url.

use holdfast_testkit::aws_sdk_s3::Client;
use holdfast_testkit::aws_sdk_s3::primitives::ByteStream;
use holdfast_testkit::aws_sdk_s3::types::EncodingType;
use holdfast_testkit::{Server, bucket_name, error_code};

fn server() -> Server {
    Server::start(env!("CARGO_BIN_EXE_holdfast"))
}

async fn fill(s3: &Client, b: &str, keys: &[&str]) {
    for k in keys {
        s3.put_object().bucket(b).key(*k).body(ByteStream::from_static(b"x")).send().await.unwrap();
    }
}

const TREE: [&str; 9] = ["a/1", "a/2", "a/b/3", "b", "c/1", "c/2/x", "d", "e/", "e/f"];

#[tokio::test]
async fn v2_prefix_delimiter_and_common_prefixes() {
    let srv = server();
    let s3 = srv.client();
    let b = bucket_name("lv2");
    s3.create_bucket().bucket(&b).send().await.unwrap();
    fill(&s3, &b, &TREE).await;

    let all = s3.list_objects_v2().bucket(&b).send().await.unwrap();
    let keys: Vec<_> = all.contents().iter().map(|o| o.key().unwrap()).collect();
    assert_eq!(keys, TREE.to_vec());
    assert_eq!(all.key_count(), Some(9));
    assert_eq!(all.is_truncated(), Some(false));
    assert_eq!(all.contents()[0].size(), Some(1));
    assert_eq!(all.contents()[0].e_tag(), Some("\"9dd4e461268c8034f5c8564e155c67a6\""));

    let top = s3.list_objects_v2().bucket(&b).delimiter("/").send().await.unwrap();
    let keys: Vec<_> = top.contents().iter().map(|o| o.key().unwrap()).collect();
    let cps: Vec<_> = top.common_prefixes().iter().map(|p| p.prefix().unwrap()).collect();
    assert_eq!(keys, vec!["b", "d"]);
    assert_eq!(cps, vec!["a/", "c/", "e/"]);
    assert_eq!(top.key_count(), Some(5));

    let under_a = s3.list_objects_v2().bucket(&b).prefix("a/").delimiter("/").send().await.unwrap();
    let keys: Vec<_> = under_a.contents().iter().map(|o| o.key().unwrap()).collect();
    let cps: Vec<_> = under_a.common_prefixes().iter().map(|p| p.prefix().unwrap()).collect();
    assert_eq!(keys, vec!["a/1", "a/2"]);
    assert_eq!(cps, vec!["a/b/"]);
    assert_eq!(under_a.prefix(), Some("a/"));

    let none = s3.list_objects_v2().bucket(&b).prefix("zzz").send().await.unwrap();
    assert!(none.contents().is_empty());
    assert_eq!(none.key_count(), Some(0));
}

#[tokio::test]
async fn v2_paging_with_continuation_token_start_after_and_max_keys() {
    let srv = server();
    let s3 = srv.client();
    let b = bucket_name("lv2page");
    s3.create_bucket().bucket(&b).send().await.unwrap();
    fill(&s3, &b, &TREE).await;

    // Paging with a delimiter: common prefixes count toward max-keys and are not repeated.
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..20 {
        let page = s3
            .list_objects_v2()
            .bucket(&b)
            .delimiter("/")
            .max_keys(2)
            .set_continuation_token(token.clone())
            .send()
            .await
            .unwrap();
        assert!(page.key_count().unwrap() <= 2);
        seen.extend(page.contents().iter().map(|o| o.key().unwrap().to_owned()));
        seen.extend(page.common_prefixes().iter().map(|p| p.prefix().unwrap().to_owned()));
        if page.is_truncated() != Some(true) {
            assert!(page.next_continuation_token().is_none());
            break;
        }
        token = page.next_continuation_token().map(str::to_owned);
        assert!(token.is_some());
    }
    seen.sort();
    assert_eq!(seen, vec!["a/", "b", "c/", "d", "e/"]);

    let after = s3.list_objects_v2().bucket(&b).start_after("c/1").send().await.unwrap();
    let keys: Vec<_> = after.contents().iter().map(|o| o.key().unwrap()).collect();
    assert_eq!(keys, vec!["c/2/x", "d", "e/", "e/f"]);
    assert_eq!(after.start_after(), Some("c/1"));

    let zero = s3.list_objects_v2().bucket(&b).max_keys(0).send().await.unwrap();
    assert!(zero.contents().is_empty());
    assert_eq!(zero.is_truncated(), Some(false));

    let err = s3.list_objects_v2().bucket(&b).continuation_token("!!not-a-token!!").send().await.unwrap_err();
    assert_eq!(error_code(&err), (Some("InvalidArgument".into()), Some(400)));
    let err = s3.list_objects_v2().bucket("missing-bucket-zz").send().await.unwrap_err();
    assert_eq!(error_code(&err), (Some("NoSuchBucket".into()), Some(404)));
}

#[tokio::test]
async fn v1_marker_and_next_marker() {
    let srv = server();
    let s3 = srv.client();
    let b = bucket_name("lv1");
    s3.create_bucket().bucket(&b).send().await.unwrap();
    fill(&s3, &b, &TREE).await;
    let page = s3.list_objects().bucket(&b).max_keys(3).send().await.unwrap();
    let keys: Vec<_> = page.contents().iter().map(|o| o.key().unwrap()).collect();
    assert_eq!(keys, vec!["a/1", "a/2", "a/b/3"]);
    assert_eq!(page.is_truncated(), Some(true));
    assert_eq!(page.next_marker(), None, "NextMarker only comes with a delimiter");
    let next = s3.list_objects().bucket(&b).marker("a/b/3").max_keys(3).send().await.unwrap();
    let keys: Vec<_> = next.contents().iter().map(|o| o.key().unwrap()).collect();
    assert_eq!(keys, vec!["b", "c/1", "c/2/x"]);
    let delim = s3.list_objects().bucket(&b).delimiter("/").max_keys(2).send().await.unwrap();
    assert_eq!(delim.next_marker(), Some("b"));
    assert_eq!(delim.is_truncated(), Some(true));
    let rest = s3.list_objects().bucket(&b).delimiter("/").marker("b").send().await.unwrap();
    let cps: Vec<_> = rest.common_prefixes().iter().map(|p| p.prefix().unwrap()).collect();
    assert_eq!(cps, vec!["c/", "e/"]);
    assert_eq!(rest.contents().iter().map(|o| o.key().unwrap()).collect::<Vec<_>>(), vec!["d"]);
}

#[tokio::test]
async fn encoding_type_url_encodes_keys_and_prefixes() {
    let srv = server();
    let s3 = srv.client();
    let b = bucket_name("lenc");
    s3.create_bucket().bucket(&b).send().await.unwrap();
    fill(&s3, &b, &["sp ace/x", "plus+é"]).await;
    let out = s3.list_objects_v2().bucket(&b).delimiter("/").encoding_type(EncodingType::Url).send().await.unwrap();
    // The Rust SDK hands url-encoded fields through as they came (boto3 decodes them).
    let keys: Vec<_> = out.contents().iter().map(|o| o.key().unwrap()).collect();
    assert_eq!(keys, vec!["plus%2B%C3%A9"]);
    assert_eq!(out.common_prefixes()[0].prefix(), Some("sp%20ace/"));
    assert_eq!(out.delimiter(), Some("/"));
    // On the wire they are percent-encoded.
    let raw = holdfast_testkit::raw_http(
        &srv.addr,
        holdfast_testkit::signed_request(
            &srv.addr,
            "GET",
            &format!("/{b}?list-type=2&encoding-type=url"),
            &[],
            b"",
            holdfast_testkit::ROOT_AK,
            holdfast_testkit::ROOT_SK,
            std::time::SystemTime::now(),
        ),
    )
    .await
    .unwrap();
    assert_eq!(raw.status, 200);
    let text = raw.text();
    assert!(text.contains("<Key>plus%2B%C3%A9</Key>"), "{text}");
    assert!(text.contains("<Key>sp%20ace/x</Key>"), "{text}");
}

#[tokio::test]
async fn object_versions_paging_with_key_and_version_markers() {
    let srv = server();
    let s3 = srv.client();
    let b = bucket_name("lver");
    s3.create_bucket().bucket(&b).send().await.unwrap();
    holdfast_testkit::enable_versioning(&s3, &b).await;
    let mut expected = Vec::new();
    for key in ["k1", "k2"] {
        let mut ids = Vec::new();
        for _ in 0..3 {
            ids.push(
                s3.put_object()
                    .bucket(&b)
                    .key(key)
                    .body(ByteStream::from_static(b"x"))
                    .send()
                    .await
                    .unwrap()
                    .version_id()
                    .unwrap()
                    .to_owned(),
            );
        }
        ids.reverse();
        expected.extend(ids.into_iter().map(|id| (key.to_owned(), id)));
    }
    let marker = s3.delete_object().bucket(&b).key("k2").send().await.unwrap().version_id().unwrap().to_owned();
    expected.insert(3, ("k2".to_owned(), marker));

    let mut seen: Vec<(String, String, bool)> = Vec::new();
    let (mut km, mut vm): (Option<String>, Option<String>) = (None, None);
    for _ in 0..20 {
        let page = s3
            .list_object_versions()
            .bucket(&b)
            .max_keys(2)
            .set_key_marker(km.clone())
            .set_version_id_marker(vm.clone())
            .send()
            .await
            .unwrap();
        let mut entries: Vec<(String, String, bool)> = page
            .versions()
            .iter()
            .map(|v| (v.key().unwrap().to_owned(), v.version_id().unwrap().to_owned(), v.is_latest().unwrap()))
            .chain(
                page.delete_markers()
                    .iter()
                    .map(|m| (m.key().unwrap().to_owned(), m.version_id().unwrap().to_owned(), m.is_latest().unwrap())),
            )
            .collect();
        entries.sort_by_key(|(k, id, _)| expected.iter().position(|(ek, eid)| ek == k && eid == id));
        assert!(entries.len() <= 2);
        seen.extend(entries);
        if page.is_truncated() != Some(true) {
            break;
        }
        km = page.next_key_marker().map(str::to_owned);
        vm = page.next_version_id_marker().map(str::to_owned);
    }
    let ids: Vec<(String, String)> = seen.iter().map(|(k, id, _)| (k.clone(), id.clone())).collect();
    assert_eq!(ids, expected);
    let latest: Vec<bool> = seen.iter().map(|(_, _, l)| *l).collect();
    assert_eq!(latest, vec![true, false, false, true, false, false, false], "k1 newest and k2's marker are latest");

    let only_k2 = s3.list_object_versions().bucket(&b).prefix("k2").send().await.unwrap();
    assert_eq!(only_k2.versions().len(), 3);
    assert_eq!(only_k2.delete_markers().len(), 1);
    let after_k1 = s3.list_object_versions().bucket(&b).key_marker("k1").send().await.unwrap();
    assert!(after_k1.versions().iter().all(|v| v.key() == Some("k2")));
}
