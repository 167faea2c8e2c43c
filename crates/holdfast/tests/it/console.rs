//! The web console (issue #16) in real headless Chromium through WebDriver: sign-in and
//! sign-out, a wrong secret, browsing a lock bucket, the actions and their refusals in the
//! API's words (rules D1/D2 COMPLIANCE, L5 legal hold, G3 GOVERNANCE without the bypass
//! permission, L8 legal hold permission), checked through the S3 API; CSRF and idle expiry.
//! Screenshots of each page go to `$HOLDFAST_CONSOLE_SCREENSHOTS` (else the target tmp dir).

use crate::console_support::*;
use crate::object_lock_support::{LOCKED, days, iso_millis};
use holdfast_testkit::aws_sdk_s3::Client;
use holdfast_testkit::aws_sdk_s3::error::ProvideErrorMetadata;
use holdfast_testkit::aws_sdk_s3::types::{
    DefaultRetention, ObjectLockConfiguration, ObjectLockEnabled, ObjectLockLegalHoldStatus, ObjectLockMode,
    ObjectLockRetentionMode, ObjectLockRule,
};
use holdfast_testkit::{ROOT_AK, ROOT_SK, bucket_name, raw_http};
use std::time::Duration;

/// Runs a whole browser session: one large future, whose polls in a debug build need more
/// than a test thread's 2 MiB of stack.
fn on_big_stack<F: std::future::Future<Output = ()> + 'static>(steps: fn() -> F) {
    let t = std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(move || tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(steps()))
        .unwrap();
    if let Err(panic) = t.join() {
        std::panic::resume_unwind(panic);
    }
}

/// A lock bucket with GOVERNANCE 1 day by default.
async fn lock_bucket(s3: &Client, tag: &str) -> String {
    let b = bucket_name(tag);
    s3.create_bucket().bucket(&b).object_lock_enabled_for_bucket(true).send().await.unwrap();
    let rule = ObjectLockRule::builder()
        .default_retention(DefaultRetention::builder().mode(ObjectLockRetentionMode::Governance).days(1).build())
        .build();
    let conf = ObjectLockConfiguration::builder().object_lock_enabled(ObjectLockEnabled::Enabled).rule(rule).build();
    s3.put_object_lock_configuration().bucket(&b).object_lock_configuration(conf).send().await.unwrap();
    b
}

async fn put(s3: &Client, b: &str, k: &str, compliance_days: Option<i64>) -> String {
    let mut p = s3.put_object().bucket(b).key(k).body(b"hello".to_vec().into());
    if let Some(d) = compliance_days {
        p = p.object_lock_mode(ObjectLockMode::Compliance).object_lock_retain_until_date(days(d));
    }
    p.send().await.unwrap().version_id.unwrap()
}

fn enc(s: &str) -> String {
    s.replace('/', "%2F")
}

fn version_url(endpoint: &str, b: &str, k: &str, v: &str) -> String {
    format!("{endpoint}{MOUNT}/version?bucket={b}&key={}&version={v}", enc(k))
}

#[test]
fn console_root_signs_in_browses_acts_and_signs_out() {
    on_big_stack(console_root_signs_in_browses_acts_and_signs_out_steps);
}

async fn console_root_signs_in_browses_acts_and_signs_out_steps() {
    let srv = console_server("");
    let s3 = srv.client();
    let b = lock_bucket(&s3, "console-root").await;
    let va = put(&s3, &b, "docs/a.txt", Some(2)).await;
    let vb = put(&s3, &b, "docs/b.txt", None).await;
    put(&s3, &b, "top.txt", None).await;
    for _ in 0..5 {
        put(&s3, &b, "many/x", None).await;
    }
    let ep = &srv.endpoint;
    let web = Browser::start(1280, 900).await;

    // A wrong secret: the API's words, no session.
    let text = web.sign_in(ep, ROOT_AK, "not-the-secret").await;
    assert!(text.contains("SignatureDoesNotMatch"), "{text}");
    assert!(web.url().await.ends_with("/signin"));
    web.shot("signin-refused").await;
    web.goto(&format!("{ep}{MOUNT}/")).await;
    assert!(web.url().await.ends_with("/signin"), "still signed out");
    let text = web.sign_in(ep, "HFNOSUCHKEY000000000", "x").await;
    assert!(text.contains("InvalidAccessKeyId"), "{text}");

    // Buckets: versioning, Object Lock default, counts by mode (1 COMPLIANCE, 7 GOVERNANCE).
    let text = web.sign_in(ep, ROOT_AK, ROOT_SK).await;
    assert!(text.contains("Signed in as root"), "{text}");
    assert!(text.contains(&b) && text.contains("Enabled") && text.contains("on, GOVERNANCE 1 days"), "{text}");
    assert!(text.contains("1 / 5 B") && text.contains("7 / 35 B"), "{text}");
    let cookie = web.cookie("hf_console").await;
    assert_eq!((cookie["httpOnly"].as_bool(), cookie["sameSite"].as_str()), (Some(true), Some("Strict")), "{cookie}");
    web.shot("buckets").await;

    // A bucket: prefixes to open, then the versions under one.
    web.click_nav(&format!("a[href$='name={b}']")).await;
    let text = web.text().await;
    assert!(text.contains("docs/") && text.contains("many/") && text.contains("top.txt"), "{text}");
    web.shot("bucket").await;
    web.click_nav("a[href*='prefix=docs%2F']").await;
    let text = web.text().await;
    assert!(text.contains("a.txt") && text.contains("b.txt") && !text.contains("top.txt"), "{text}");
    web.shot("bucket-prefix").await;

    // Paging: 5 versions, 2 a page, never more than asked.
    web.goto(&format!("{ep}{MOUNT}/bucket?name={b}&prefix=many%2F&max=2")).await;
    let mut seen = web.count("tbody tr").await;
    assert_eq!(seen, 2);
    for want in [2, 1] {
        web.click_nav("#next-page").await;
        let n = web.count("tbody tr").await;
        assert_eq!(n, want);
        seen += n;
    }
    assert_eq!((seen, web.count("#next-page").await), (5, 0));

    // COMPLIANCE: explained, and a delete refused with the API's words (D1); still there.
    web.goto(&version_url(ep, &b, "docs/a.txt", &va)).await;
    let text = web.text().await;
    assert!(text.contains("Why can't I delete this?"), "{text}");
    assert!(text.contains("COMPLIANCE retention until") && text.contains("nobody, root included"), "{text}");
    assert!(text.contains(&format!("the API answers AccessDenied 403: \u{201c}{LOCKED}\u{201d}")), "{text}");
    web.shot("version-compliance").await;
    web.fill("#confirm", "docs/a.txt").await;
    web.click("#bypass").await;
    web.click_nav("#delete-form button").await;
    let text = web.text().await;
    assert!(text.contains("AccessDenied") && text.contains(LOCKED), "{text}");
    web.shot("delete-refused-compliance").await;
    s3.head_object().bucket(&b).key("docs/a.txt").version_id(&va).send().await.unwrap();

    // GOVERNANCE version: extend retention, set a legal hold (R8, L1), checked through S3.
    web.goto(&version_url(ep, &b, "docs/b.txt", &vb)).await;
    let until = days(10);
    let date = &iso_millis(&until)[..10];
    web.fill("#until", &format!("{}{}{}", &date[5..7], &date[8..10], &date[..4])).await;
    web.click_nav("#retention-form button").await;
    let text = web.text().await;
    assert!(text.contains("Retention set."), "{text}");
    let r = s3.get_object_retention().bucket(&b).key("docs/b.txt").version_id(&vb).send().await.unwrap();
    assert_eq!(&iso_millis(r.retention().unwrap().retain_until_date().unwrap())[..10], date);
    web.click_nav("#hold-on").await;
    assert!(web.text().await.contains("Legal hold set."));
    let h = s3.get_object_legal_hold().bucket(&b).key("docs/b.txt").version_id(&vb).send().await.unwrap();
    assert_eq!(h.legal_hold().unwrap().status(), Some(&ObjectLockLegalHoldStatus::On));
    // The timeline (R8, L1) and the explanation name who did what and when.
    let text = web.text().await;
    assert!(
        text.contains("A legal hold is on") && text.contains("The legal hold was placed by arn:aws:iam::"),
        "{text}"
    );
    assert!(text.contains("when the legal hold is lifted"), "{text}");
    let timeline = web.cmd_text("#timeline").await;
    let lines: Vec<&str> = timeline.lines().collect();
    assert_eq!(lines.len(), 3, "{timeline}");
    assert!(lines[0].contains("written with GOVERNANCE retention until"), "{timeline}");
    assert!(
        lines[1].contains("retention extended from GOVERNANCE until") && lines[1].contains("(PutObjectRetention)"),
        "{timeline}"
    );
    assert!(
        lines[2].contains("legal hold placed by arn:aws:iam::") && lines[2].contains(":root (PutObjectLegalHold)"),
        "{timeline}"
    );
    web.shot("version-after-actions").await;

    // Held: the bypass delete is refused (L5); lifted, a wrong confirmation deletes nothing,
    // the right one with the bypass deletes (G2).
    web.fill("#confirm", "docs/b.txt").await;
    web.click("#bypass").await;
    web.click_nav("#delete-form button").await;
    let text = web.text().await;
    assert!(text.contains("AccessDenied") && text.contains(LOCKED), "{text}");
    web.click_nav("#hold-off").await;
    assert!(web.text().await.contains("Legal hold lifted."));
    web.fill("#confirm", "docs/b.tx").await;
    web.click("#bypass").await;
    web.click_nav("#delete-form button").await;
    assert!(web.text().await.contains("ConfirmationMismatch"));
    s3.head_object().bucket(&b).key("docs/b.txt").version_id(&vb).send().await.unwrap();
    web.fill("#confirm", "docs/b.txt").await;
    web.click("#bypass").await;
    web.click_nav("#delete-form button").await;
    assert!(web.url().await.contains("/bucket?name="), "{}", web.url().await);
    let err = s3.head_object().bucket(&b).key("docs/b.txt").version_id(&vb).send().await.unwrap_err();
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(404));

    // The installation-wide pages.
    web.goto(&format!("{ep}{MOUNT}/report")).await;
    let text = web.text().await;
    assert!(text.contains(&b) && text.contains("after "), "{text}");
    assert!(web.count("svg").await >= 3);
    web.shot("report").await;
    web.goto(&format!("{ep}{MOUNT}/audit")).await;
    let text = web.text().await;
    assert!(text.contains("intact"), "{text}");
    web.shot("audit").await;
    web.goto(&format!("{ep}{MOUNT}/backlogs")).await;
    let text = web.text().await;
    assert!(text.contains("No replication rule has anything queued or failed."), "{text}");
    assert!(text.contains("No event delivery is waiting."), "{text}");
    web.shot("backlogs").await;

    // A phone's width.
    web.resize(390, 844).await;
    web.goto(&format!("{ep}{MOUNT}/")).await;
    web.shot("phone-buckets").await;
    web.goto(&version_url(ep, &b, "docs/a.txt", &va)).await;
    web.shot("phone-version").await;
    web.resize(1280, 900).await;

    // Sign-out ends the session.
    web.click_nav("form.signout button").await;
    assert!(web.url().await.ends_with("/signin?signedout=1"));
    web.goto(&format!("{ep}{MOUNT}/report")).await;
    assert!(web.url().await.contains("/signin"));
    web.quit().await;
}

const VIEWER: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":[
  "s3:ListAllMyBuckets","s3:ListBucket","s3:ListBucketVersions","s3:GetObject","s3:GetObjectVersion",
  "s3:GetObjectRetention","s3:GetObjectLegalHold","s3:GetBucketVersioning","s3:GetBucketObjectLockConfiguration",
  "s3:GetBucketPolicy","s3:DeleteObject","s3:DeleteObjectVersion","s3:PutObjectRetention"],"Resource":"*"}]}"#;

#[test]
fn console_user_without_legal_hold_or_bypass_permission_is_refused_and_nothing_changes() {
    on_big_stack(console_user_without_legal_hold_or_bypass_permission_is_refused_and_nothing_changes_steps);
}

async fn console_user_without_legal_hold_or_bypass_permission_is_refused_and_nothing_changes_steps() {
    let srv = console_server("");
    let s3 = srv.client();
    let b = lock_bucket(&s3, "console-user").await;
    let v = put(&s3, &b, "k", None).await;
    let iam = srv.iam();
    iam.create_user().user_name("viewer").send().await.unwrap();
    iam.put_user_policy().user_name("viewer").policy_name("p").policy_document(VIEWER).send().await.unwrap();
    let key = iam.create_access_key().user_name("viewer").send().await.unwrap().access_key.unwrap();
    let (ak, sk) = (key.access_key_id().to_owned(), key.secret_access_key().to_owned());
    let as_user = srv.client_as(&ak, &sk);
    let web = Browser::start(1280, 900).await;
    let text = web.sign_in(&srv.endpoint, &ak, &sk).await;
    assert!(text.contains("Signed in as user/viewer") && text.contains(&b), "{text}");

    // L8: no s3:PutObjectLegalHold. The page shows the API's refusal, word for word.
    let api = as_user
        .put_object_legal_hold()
        .bucket(&b)
        .key("k")
        .version_id(&v)
        .legal_hold(
            holdfast_testkit::aws_sdk_s3::types::ObjectLockLegalHold::builder()
                .status(ObjectLockLegalHoldStatus::On)
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    let (code, message) = (api.code().unwrap().to_owned(), api.message().unwrap().to_owned());
    assert_eq!(code, "AccessDenied");
    web.goto(&version_url(&srv.endpoint, &b, "k", &v)).await;
    web.click_nav("#hold-on").await;
    let text = web.text().await;
    assert!(text.contains(&format!("Refused: {code}")) && text.contains(&message), "{text}");
    web.shot("user-hold-refused").await;
    let err = s3.get_object_legal_hold().bucket(&b).key("k").version_id(&v).send().await.unwrap_err();
    assert_eq!(err.code(), Some("NoSuchObjectLockConfiguration"), "the hold was never set");

    // G3: GOVERNANCE without s3:BypassGovernanceRetention: the same words as the API.
    let api = as_user.delete_object().bucket(&b).key("k").version_id(&v).bypass_governance_retention(true).send().await;
    let api = api.unwrap_err();
    web.fill("#confirm", "k").await;
    web.click("#bypass").await;
    web.click_nav("#delete-form button").await;
    let text = web.text().await;
    assert!(text.contains(api.code().unwrap()) && text.contains(api.message().unwrap()), "{text}\n{api:?}");
    assert!(
        text.contains("Governance bypass was asked for by a caller without s3:BypassGovernanceRetention"),
        "{text}"
    );
    web.shot("user-bypass-refused").await;
    s3.head_object().bucket(&b).key("k").version_id(&v).send().await.unwrap();

    // The installation-wide pages are the root's.
    web.goto(&format!("{}{MOUNT}/report", srv.endpoint)).await;
    assert!(web.text().await.contains("root principal only"));
    web.quit().await;
}

/// The response's `Set-Cookie` value named `name`.
fn set_cookie<'a>(r: &'a holdfast_testkit::RawResponse, name: &str) -> Option<&'a str> {
    r.headers
        .iter()
        .filter(|(k, _)| k == "set-cookie")
        .map(|(_, v)| v.as_str())
        .find(|v| v.starts_with(&format!("{name}=")))
}

fn cookie_value(set: &str) -> &str {
    set.split(';').next().unwrap().split_once('=').unwrap().1
}

fn form_token(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").unwrap() + "name=\"csrf\" value=\"".len();
    html[at..at + 64].to_owned()
}

async fn http(addr: &str, method: &str, path: &str, cookie: &str, body: &str) -> holdfast_testkit::RawResponse {
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    raw_http(addr, req.into_bytes()).await.unwrap()
}

#[test]
fn console_csrf_token_and_idle_expiry_refuse_and_change_nothing() {
    on_big_stack(console_csrf_token_and_idle_expiry_refuse_and_change_nothing_steps);
}

async fn console_csrf_token_and_idle_expiry_refuse_and_change_nothing_steps() {
    let srv = console_server("[console]\nidle_secs = 3\n");
    let s3 = srv.client();
    let b = lock_bucket(&s3, "console-csrf").await;
    let v = put(&s3, &b, "k", None).await;
    let addr = &srv.addr;

    // Sign-in over plain HTTP: the pre-session token, then the session cookie's attributes.
    let form = http(addr, "GET", &format!("{MOUNT}/signin"), "", "").await;
    assert_eq!(form.status, 200);
    let csp = form.header("content-security-policy").unwrap();
    assert!(csp.starts_with("default-src 'self'; script-src 'none'"), "{csp}");
    let pre = cookie_value(set_cookie(&form, "hf_console_signin").unwrap()).to_owned();
    let creds = format!("access_key={ROOT_AK}&secret_key={ROOT_SK}");
    let r = http(addr, "POST", &format!("{MOUNT}/signin"), "", &format!("csrf={pre}&{creds}")).await;
    assert_eq!(r.status, 403, "no pre-session cookie: refused");
    let r = http(
        addr,
        "POST",
        &format!("{MOUNT}/signin"),
        &format!("hf_console_signin={pre}"),
        &format!("csrf={pre}&{creds}"),
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.text());
    let set = set_cookie(&r, "hf_console").unwrap();
    assert!(set.contains("; Path=/_holdfast/console; HttpOnly; SameSite=Strict") && !set.contains("Secure"), "{set}");
    let sid = format!("hf_console={}", cookie_value(set));
    let page = http(addr, "GET", &format!("{MOUNT}/version?bucket={b}&key=k&version={v}"), &sid, "").await;
    assert_eq!(page.status, 200);
    assert!(!page.text().contains(ROOT_SK), "the secret never reaches the browser");
    let token = form_token(&page.text());

    // CSRF: without the token, with a wrong one: 403 and no hold.
    let hold = format!("{MOUNT}/version/legal-hold");
    let fields = format!("bucket={b}&key=k&version={v}&status=ON");
    for body in [fields.clone(), format!("csrf={}&{fields}", "0".repeat(64))] {
        let r = http(addr, "POST", &hold, &sid, &body).await;
        assert_eq!(r.status, 403, "{}", r.text());
        assert!(r.text().contains("security token is missing or wrong"));
    }
    let err = s3.get_object_legal_hold().bucket(&b).key("k").version_id(&v).send().await.unwrap_err();
    assert_eq!(err.code(), Some("NoSuchObjectLockConfiguration"));
    // With the token the same request works: the refusals above were the token's.
    let r = http(addr, "POST", &hold, &sid, &format!("csrf={token}&{fields}")).await;
    assert_eq!(r.status, 303, "{}", r.text());
    let h = s3.get_object_legal_hold().bucket(&b).key("k").version_id(&v).send().await.unwrap();
    assert_eq!(h.legal_hold().unwrap().status(), Some(&ObjectLockLegalHoldStatus::On));

    // Idle expiry: the session is gone; a POST with its valid token changes nothing.
    tokio::time::sleep(Duration::from_millis(3300)).await;
    let r = http(addr, "GET", &format!("{MOUNT}/"), &sid, "").await;
    assert_eq!((r.status, r.header("location")), (303, Some("/_holdfast/console/signin?expired=1")));
    let off = format!("csrf={token}&bucket={b}&key=k&version={v}&status=OFF");
    let r = http(addr, "POST", &hold, &sid, &off).await;
    assert_eq!(r.status, 403);
    let h = s3.get_object_legal_hold().bucket(&b).key("k").version_id(&v).send().await.unwrap();
    assert_eq!(h.legal_hold().unwrap().status(), Some(&ObjectLockLegalHoldStatus::On), "still held");

    // In the browser: signed in, idle past the limit, sent back to sign in.
    let web = Browser::start(1280, 900).await;
    web.sign_in(&srv.endpoint, ROOT_AK, ROOT_SK).await;
    tokio::time::sleep(Duration::from_millis(3300)).await;
    web.goto(&format!("{}{MOUNT}/bucket?name={b}", srv.endpoint)).await;
    assert!(web.url().await.ends_with("/signin?expired=1"));
    assert!(web.text().await.contains("Your session expired"));
    web.shot("session-expired").await;
    web.quit().await;
}

#[tokio::test]
async fn console_off_and_virtual_host_paths_stay_s3() {
    let off = holdfast_testkit::Server::start_with(
        env!("CARGO_BIN_EXE_holdfast"),
        holdfast_testkit::ServerOptions {
            env: vec![("HOLDFAST_CONSOLE".into(), "false".into())],
            ..Default::default()
        },
    );
    let r = http(&off.addr, "GET", &format!("{MOUNT}/"), "", "").await;
    assert_ne!(r.status, 303);
    assert!(r.text().contains("<Error>"), "S3 answers: {}", r.text());
    // With a base domain, `bucket.<domain>/_holdfast/console/` is an object key: S3's.
    let on = console_server("base_domain = \"s3.test\"\n");
    let req = format!("GET {MOUNT}/ HTTP/1.1\r\nHost: bkt.s3.test\r\nConnection: close\r\n\r\n");
    let r = raw_http(&on.addr, req.into_bytes()).await.unwrap();
    assert!(r.status != 303 && r.text().contains("<Error>"), "{} {}", r.status, r.text());
    let r = http(&on.addr, "GET", &format!("{MOUNT}/"), "", "").await;
    assert_eq!((r.status, r.header("location")), (303, Some("/_holdfast/console/signin")));
}
