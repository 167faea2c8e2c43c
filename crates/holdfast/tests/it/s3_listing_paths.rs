//! Listings that seek (issue #17): delimiter skipping past common prefixes that hold many
//! keys, keys around the delimiter boundary (the delimiter as last byte, twice, multi-byte
//! UTF-8, the highest code points), continuation tokens across common prefixes, max-keys 1,
//! and ListObjectVersions paging through a key with many versions and delete markers with
//! key-marker / version-id-marker as AWS defines them. Every page is compared with a model
//! of the listing computed from the keys in byte order.

use holdfast_testkit::aws_sdk_s3::Client;
use holdfast_testkit::aws_sdk_s3::primitives::ByteStream;
use holdfast_testkit::aws_sdk_s3::types::EncodingType;
use holdfast_testkit::{Server, bucket_name};

fn server() -> Server {
    Server::start(env!("CARGO_BIN_EXE_holdfast"))
}

/// Writes every key (8 at a time).
async fn fill(s3: &Client, b: &str, keys: &[String]) {
    for chunk in keys.chunks(8) {
        let mut set = tokio::task::JoinSet::new();
        for k in chunk {
            let (s3, b, k) = (s3.clone(), b.to_owned(), k.clone());
            set.spawn(async move {
                s3.put_object().bucket(b).key(k).body(ByteStream::from_static(b"x")).send().await.unwrap();
            });
        }
        while let Some(r) = set.join_next().await {
            r.unwrap();
        }
    }
}

/// Percent-decoding of `encoding-type=url` output.
fn url_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    Key(String),
    Prefix(String),
}

impl Item {
    fn name(&self) -> &str {
        match self {
            Item::Key(k) | Item::Prefix(k) => k,
        }
    }
}

/// What a listing of `keys` shows after `after`, in order: keys, and common prefixes once.
fn model(keys: &[String], prefix: &str, delimiter: Option<&str>, after: Option<&str>) -> Vec<Item> {
    let mut sorted = keys.to_vec();
    sorted.sort();
    let mut items: Vec<Item> = Vec::new();
    for k in sorted.iter().filter(|k| k.starts_with(prefix)) {
        let item = match delimiter.and_then(|d| k[prefix.len()..].find(d).map(|i| (i, d))) {
            Some((i, d)) => Item::Prefix(k[..prefix.len() + i + d.len()].to_owned()),
            None => Item::Key(k.clone()),
        };
        if after.is_some_and(|a| item.name() <= a) || items.last() == Some(&item) {
            continue;
        }
        items.push(item);
    }
    items
}

/// Pages through a ListObjectsV2 listing with continuation tokens, checking every page
/// against the model; returns the number of pages.
async fn page_v2(s3: &Client, b: &str, keys: &[String], prefix: &str, delimiter: Option<&str>, max: i32) -> usize {
    let all = model(keys, prefix, delimiter, None);
    let mut token: Option<String> = None;
    let mut at = 0;
    for pages in 1..=all.len() + 2 {
        let page = s3
            .list_objects_v2()
            .bucket(b)
            .prefix(prefix)
            .set_delimiter(delimiter.map(str::to_owned))
            .max_keys(max)
            .encoding_type(EncodingType::Url)
            .set_continuation_token(token.clone())
            .send()
            .await
            .unwrap();
        let mut got: Vec<Item> = page.contents().iter().map(|o| Item::Key(url_decode(o.key().unwrap()))).collect();
        got.extend(page.common_prefixes().iter().map(|p| Item::Prefix(url_decode(p.prefix().unwrap()))));
        got.sort_by(|a, b| a.name().cmp(b.name()));
        let want: Vec<Item> = all[at..].iter().take(usize::try_from(max).unwrap()).cloned().collect();
        let ctx = format!("prefix {prefix:?} delimiter {delimiter:?} max-keys {max} page {pages}");
        assert_eq!(got, want, "{ctx}");
        assert_eq!(page.key_count(), Some(i32::try_from(want.len()).unwrap()), "{ctx}");
        at += want.len();
        let more = at < all.len();
        assert_eq!(page.is_truncated(), Some(more), "{ctx}");
        if !more {
            assert_eq!(page.next_continuation_token(), None, "{ctx}");
            return pages;
        }
        token = Some(page.next_continuation_token().expect("a truncated page has a token").to_owned());
    }
    panic!("the listing did not end");
}

/// Keys on both sides of the delimiter, with it twice, multi-byte and the highest code
/// points, and two common prefixes holding many keys each.
fn boundary_keys() -> Vec<String> {
    let mut keys: Vec<String> = [
        "a",
        "a/",
        "a/x",
        "a/x/y",
        "a//z",
        "a0",
        "a.",
        "a/\u{ffff}",
        "a\u{ffff}",
        "a/\u{10ffff}/q",
        "b//c",
        "b/c/d",
        "b/c/",
        "é/1",
        "é/2/3",
        "éa",
        "日本/x",
        "日本/y/z",
        "日本語",
        "\u{10ffff}",
        "\u{10ffff}/end",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    for p in ["m/", "n/"] {
        keys.extend((0..60).map(|i| format!("{p}{i:03}")));
    }
    keys
}

/// A new bucket holding [`boundary_keys`], and those keys.
async fn boundary_bucket(s3: &Client, tag: &str) -> (String, Vec<String>) {
    let b = bucket_name(tag);
    s3.create_bucket().bucket(&b).send().await.unwrap();
    let keys = boundary_keys();
    fill(s3, &b, &keys).await;
    (b, keys)
}

#[tokio::test]
async fn v2_delimiter_skipping_matches_the_model_around_the_boundary() {
    let srv = server();
    let s3 = srv.client();
    let (b, keys) = boundary_bucket(&s3, "lseek").await;

    // The whole bucket rolls up into few entries, each prefix listed once after skipping its keys.
    let top = model(&keys, "", Some("/"), None);
    assert!(top.contains(&Item::Prefix("m/".into())) && top.contains(&Item::Prefix("a/".into())));
    assert_eq!(page_v2(&s3, &b, &keys, "", Some("/"), 1000).await, 1);
    for (prefix, delimiter) in [
        ("", Some("/")),
        ("a", Some("/")),
        ("a/", Some("/")),
        ("", Some("//")),
        ("b", Some("/")),
        ("", Some("é")),
        ("日本/", Some("/")),
        ("", Some("\u{ffff}")),
        ("", None),
        ("m/", Some("/")),
    ] {
        for max in [1, 2, 3, 1000] {
            page_v2(&s3, &b, &keys, prefix, delimiter, max).await;
        }
    }
}

#[tokio::test]
async fn v2_start_after_inside_and_around_a_common_prefix() {
    let srv = server();
    let s3 = srv.client();
    let (b, keys) = boundary_bucket(&s3, "lafter").await;
    for after in ["a", "a/", "a/x", "a.", "a0", "m/", "m/030", "m0", "é/1", "éa", "\u{10ffff}", "\u{10ffff}/end"] {
        let page = s3
            .list_objects_v2()
            .bucket(&b)
            .delimiter("/")
            .start_after(after)
            .encoding_type(EncodingType::Url)
            .send()
            .await
            .unwrap();
        let mut got: Vec<Item> = page.contents().iter().map(|o| Item::Key(url_decode(o.key().unwrap()))).collect();
        got.extend(page.common_prefixes().iter().map(|p| Item::Prefix(url_decode(p.prefix().unwrap()))));
        got.sort_by(|a, b| a.name().cmp(b.name()));
        assert_eq!(got, model(&keys, "", Some("/"), Some(after)), "start-after {after:?}");
        assert_eq!(page.is_truncated(), Some(false));
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    key: String,
    version_id: String,
    latest: bool,
    marker: bool,
}

/// Entries as a page shows them: the versions, then the delete markers, each in order.
fn as_listed(entries: &[Entry]) -> Vec<Entry> {
    let (markers, versions): (Vec<Entry>, Vec<Entry>) = entries.iter().cloned().partition(|e| e.marker);
    versions.into_iter().chain(markers).collect()
}

async fn versions_page(
    s3: &Client,
    b: &str,
    delimiter: Option<&str>,
    max: i32,
    key_marker: Option<String>,
    version_marker: Option<String>,
) -> (Vec<Entry>, Vec<String>, bool, Option<String>, Option<String>) {
    let page = s3
        .list_object_versions()
        .bucket(b)
        .set_delimiter(delimiter.map(str::to_owned))
        .max_keys(max)
        .set_key_marker(key_marker)
        .set_version_id_marker(version_marker)
        .send()
        .await
        .unwrap();
    // Versions, then delete markers: each list in listing order.
    let entries: Vec<Entry> = page
        .versions()
        .iter()
        .map(|v| Entry {
            key: v.key().unwrap().to_owned(),
            version_id: v.version_id().unwrap().to_owned(),
            latest: v.is_latest().unwrap(),
            marker: false,
        })
        .chain(page.delete_markers().iter().map(|m| Entry {
            key: m.key().unwrap().to_owned(),
            version_id: m.version_id().unwrap().to_owned(),
            latest: m.is_latest().unwrap(),
            marker: true,
        }))
        .collect();
    let prefixes = page.common_prefixes().iter().map(|p| p.prefix().unwrap().to_owned()).collect();
    (
        entries,
        prefixes,
        page.is_truncated() == Some(true),
        page.next_key_marker().map(str::to_owned),
        page.next_version_id_marker().map(str::to_owned),
    )
}

#[tokio::test]
async fn versions_paging_through_a_key_with_many_versions_and_delete_markers() {
    let srv = server();
    let s3 = srv.client();
    let b = bucket_name("lvmany");
    s3.create_bucket().bucket(&b).send().await.unwrap();
    holdfast_testkit::enable_versioning(&s3, &b).await;
    // History, oldest first: "g" once, "h" 150 times with a delete marker after every 40th
    // version and at the end, "h/x" and "h/y" (a common prefix under "/"), "i" once.
    let mut history: Vec<Entry> = Vec::new();
    let put = async |key: &str| {
        let r = s3.put_object().bucket(&b).key(key).body(ByteStream::from_static(b"v")).send().await.unwrap();
        Entry { key: key.to_owned(), version_id: r.version_id().unwrap().to_owned(), latest: false, marker: false }
    };
    let del = async |key: &str| {
        let r = s3.delete_object().bucket(&b).key(key).send().await.unwrap();
        assert_eq!(r.delete_marker(), Some(true));
        Entry { key: key.to_owned(), version_id: r.version_id().unwrap().to_owned(), latest: false, marker: true }
    };
    history.push(put("g").await);
    for i in 1..=150 {
        history.push(put("h").await);
        if i % 40 == 0 {
            history.push(del("h").await);
        }
    }
    history.push(del("h").await);
    for k in ["h/x", "h/y", "i"] {
        history.push(put(k).await);
    }
    // The listing: keys ascending, each key's history newest first, the newest is latest.
    let mut expected: Vec<Entry> = Vec::new();
    let mut keys: Vec<String> = history.iter().map(|e| e.key.clone()).collect();
    keys.sort();
    keys.dedup();
    for k in &keys {
        let mut h: Vec<Entry> = history.iter().filter(|e| &e.key == k).cloned().rev().collect();
        h[0].latest = true;
        expected.extend(h);
    }
    let h: Vec<&Entry> = expected.iter().filter(|e| e.key == "h").collect();
    assert_eq!(h.len(), 154);
    assert!(h[0].marker && h[0].latest);

    // Paging with the markers each page returns yields every entry once, in order.
    for max in [1, 7, 1000] {
        let (mut seen, mut km, mut vm) = (Vec::new(), None, None);
        for _ in 0..=expected.len() {
            let (entries, prefixes, truncated, nkm, nvm) = versions_page(&s3, &b, None, max, km, vm).await;
            assert!(prefixes.is_empty());
            assert!(entries.len() <= usize::try_from(max).unwrap());
            let at = seen.len();
            assert_eq!(entries, as_listed(&expected[at..at + entries.len()]), "max-keys {max} at {at}");
            seen.extend(expected[at..at + entries.len()].iter().cloned());
            if !truncated {
                assert_eq!((nkm.as_deref(), nvm.as_deref()), (None, None));
                break;
            }
            let last = &expected[seen.len() - 1];
            assert_eq!(nkm.as_deref(), Some(last.key.as_str()), "NextKeyMarker is the last key listed");
            assert_eq!(nvm.as_deref(), Some(last.version_id.as_str()), "NextVersionIdMarker is its version");
            (km, vm) = (nkm, nvm);
        }
        assert_eq!(seen, expected, "max-keys {max}");
    }

    // key-marker alone: after every version of that key.
    let (entries, ..) = versions_page(&s3, &b, None, 1, Some("h".into()), None).await;
    assert_eq!(entries[0].key, "h/x");
    // key-marker with version-id-marker: the versions of the key older than that one, on.
    let at = expected.iter().position(|e| e.key == "h").unwrap();
    for skip in [0, 1, 40, 41, 153] {
        let m = &expected[at + skip];
        let (entries, _, truncated, ..) =
            versions_page(&s3, &b, None, 3, Some("h".into()), Some(m.version_id.clone())).await;
        let want = as_listed(&expected[at + skip + 1..at + skip + 4]);
        assert_eq!(entries, want, "after version {skip} of h (marker: {})", m.marker);
        assert_eq!(truncated, at + skip + 4 < expected.len(), "after version {skip} of h");
    }
    // With a delimiter, "h/x" and "h/y" roll up into "h/", listed once between "h" and "i",
    // and a page that ends on it carries no version marker.
    let (entries, prefixes, truncated, nkm, nvm) = versions_page(&s3, &b, Some("/"), 1000, None, None).await;
    assert_eq!(prefixes, vec!["h/".to_owned()]);
    assert_eq!(entries.len(), expected.len() - 2);
    assert!(!truncated);
    assert_eq!((nkm, nvm), (None, None));
    let (entries, prefixes, truncated, nkm, nvm) = versions_page(&s3, &b, Some("/"), 1, Some("h".into()), None).await;
    assert!(entries.is_empty());
    assert_eq!(prefixes, vec!["h/".to_owned()]);
    assert!(truncated);
    assert_eq!((nkm.as_deref(), nvm), (Some("h/"), None));
    let (entries, prefixes, truncated, ..) = versions_page(&s3, &b, Some("/"), 1, Some("h/".into()), None).await;
    assert_eq!((entries[0].key.as_str(), prefixes.len(), truncated), ("i", 0, false));
}
