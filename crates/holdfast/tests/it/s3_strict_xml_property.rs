//! A property over the wire: random sequences of lock operations (retention with
//! bypass, legal hold, default retention), each body either valid or mutated the way a
//! careless or hostile client would (case, unknown or repeated elements, loose numbers,
//! foreign namespaces, cut-off XML). A mutated body is always refused and changes nothing; a
//! valid one does exactly what it says. So no request leaves a version less protected than
//! before unless it was a valid, permitted change.

use crate::object_lock_support::*;
use holdfast_testkit::aws_sdk_s3::Client;
use holdfast_testkit::aws_sdk_s3::types::ObjectLockMode;
use rand::{Rng, SeedableRng};

const ROUNDS: usize = 240;

#[derive(Debug, Clone, Copy)]
enum Mutation {
    None,
    LowerCase,
    Unknown,
    Repeat,
    LooseNumber,
    ForeignNamespace,
    CutOff,
}

const MUTATIONS: [Mutation; 7] = [
    Mutation::None,
    Mutation::LowerCase,
    Mutation::Unknown,
    Mutation::Repeat,
    Mutation::LooseNumber,
    Mutation::ForeignNamespace,
    Mutation::CutOff,
];

/// `body` changed by `m` (which must make it invalid), or `None` when `m` does not apply.
fn mutate(body: &str, leaf: &str, m: Mutation, rng: &mut impl Rng) -> Option<String> {
    match m {
        Mutation::None => Some(body.to_owned()),
        Mutation::LowerCase => {
            let lower = format!("{}{}", leaf[..1].to_ascii_lowercase(), &leaf[1..]);
            Some(
                body.replace(&format!("<{leaf}>"), &format!("<{lower}>"))
                    .replace(&format!("</{leaf}>"), &format!("</{lower}>")),
            )
        }
        Mutation::Unknown => {
            let at = body.find(&format!("<{leaf}>"))?;
            let n = rng.random_range(0..9);
            Some(format!("{}<Extra{n}>x</Extra{n}>{}", &body[..at], &body[at..]))
        }
        Mutation::Repeat => {
            let start = body.find(&format!("<{leaf}>"))?;
            let end = body.find(&format!("</{leaf}>"))? + leaf.len() + 3;
            let element = &body[start..end];
            Some(format!("{}{element}{}", &body[..end], &body[end..]))
        }
        Mutation::LooseNumber => {
            let start = body.find("<Days>")? + "<Days>".len();
            let end = body.find("</Days>")?;
            let loose = ["1.5", "1e2", "30abc", " 30", "+30", "30.0"][rng.random_range(0..6)];
            Some(format!("{}{loose}{}", &body[..start], &body[end..]))
        }
        Mutation::ForeignNamespace => {
            let close = body.find('>')?;
            Some(format!("{} xmlns=\"http://example.com/x\"{}", &body[..close], &body[close..]))
        }
        Mutation::CutOff => Some(body[..body.len() - rng.random_range(1..8)].to_owned()),
    }
}

/// Everything the property watches: retention, hold, bucket default.
type State = (Option<(String, String)>, Option<String>, Option<(String, Option<i32>)>);

async fn state(s3: &Client, b: &str, v: &str) -> State {
    let retention = get_retention(s3, b, "doc", v).await.map(|(m, u)| (m, iso_millis(&u)));
    let hold = s3
        .get_object_legal_hold()
        .bucket(b)
        .key("doc")
        .version_id(v)
        .send()
        .await
        .ok()
        .and_then(|h| h.legal_hold().and_then(|h| h.status()).map(|s| s.as_str().to_owned()));
    let cfg = s3.get_object_lock_configuration().bucket(b).send().await.unwrap();
    let default = cfg
        .object_lock_configuration()
        .and_then(|c| c.rule())
        .and_then(|r| r.default_retention())
        .map(|d| (d.mode().map(|m| m.as_str().to_owned()).unwrap_or_default(), d.days()));
    (retention, hold, default)
}

#[tokio::test]
async fn mutated_lock_bodies_never_weaken_protection() {
    let seed: u64 = std::env::var("HOLDFAST_PROPERTY_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5EED_0011);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let srv = server();
    let s3 = srv.client();
    let b = lock_bucket(&s3, "prop").await;
    let mut until = days(2);
    let v = put_locked(&s3, &b, "doc", ObjectLockMode::Governance, &until).await;
    let config_body = |days: u32| {
        format!(
            "<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention><Mode>COMPLIANCE</Mode><Days>{days}</Days></DefaultRetention></Rule></ObjectLockConfiguration>"
        )
    };
    let r = raw_md5(&srv, "PUT", &format!("/{b}?object-lock"), &[], config_body(30).as_bytes()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let mut hold: Option<&str> = None;
    let (mut refused, mut applied) = (0, 0);
    for round in 0..ROUNDS {
        let before = state(&s3, &b, &v).await;
        let m = MUTATIONS[rng.random_range(0..MUTATIONS.len())];
        // A valid body of one of three operations, and what it does.
        let (path, body, leaf, headers): (String, String, &str, Vec<(&str, &str)>) = match rng.random_range(0..3) {
            0 => {
                let later = holdfast_testkit::aws_sdk_s3::primitives::DateTime::from_secs(
                    until.secs() + 3600 * rng.random_range(1..48),
                );
                let body = format!(
                    "<Retention><Mode>GOVERNANCE</Mode><RetainUntilDate>{}</RetainUntilDate></Retention>",
                    iso(&later)
                );
                let leaf = ["Mode", "RetainUntilDate"][rng.random_range(0..2)];
                if matches!(m, Mutation::None) {
                    until = later;
                }
                (
                    format!("/{b}/doc?retention&versionId={v}"),
                    body,
                    leaf,
                    vec![("x-amz-bypass-governance-retention", "true")],
                )
            }
            1 => {
                let next = if hold == Some("ON") { "OFF" } else { "ON" };
                let body = format!("<LegalHold><Status>{next}</Status></LegalHold>");
                if matches!(m, Mutation::None) {
                    hold = Some(next);
                }
                (format!("/{b}/doc?legal-hold&versionId={v}"), body, "Status", vec![])
            }
            _ => {
                let leaf = ["Rule", "DefaultRetention", "Mode", "Days"][rng.random_range(0..4)];
                (format!("/{b}?object-lock"), config_body(30), leaf, vec![])
            }
        };
        let Some(sent) = mutate(&body, leaf, m, &mut rng).filter(|s| matches!(m, Mutation::None) || *s != body) else {
            continue;
        };
        let r = raw_md5(&srv, "PUT", &path, &headers, sent.as_bytes()).await;
        let after = state(&s3, &b, &v).await;
        if matches!(m, Mutation::None) {
            assert_eq!(r.status, 200, "round {round} (seed {seed}): valid body refused: {sent}\n{}", r.text());
            applied += 1;
        } else {
            assert!(
                r.status == 400,
                "round {round} (seed {seed}): mutated body ({m:?}) answered {}: {sent}\n{}",
                r.status,
                r.text()
            );
            assert_eq!(before, after, "round {round} (seed {seed}): a refused body changed the state: {sent}");
            refused += 1;
        }
        // The protection is exactly what the valid requests asked for.
        assert_eq!(after.0.as_ref().map(|(m, _)| m.as_str()), Some("GOVERNANCE"));
        assert_eq!(after.0.as_ref().map(|(_, u)| u.clone()), Some(iso_millis(&until)), "round {round} (seed {seed})");
        assert_eq!(after.1.as_deref(), hold, "round {round} (seed {seed})");
        assert_eq!(after.2, Some(("COMPLIANCE".to_owned(), Some(30))), "round {round} (seed {seed})");
    }
    eprintln!(
        "seed {seed}: {applied} valid lock requests applied, {refused} mutated ones refused with nothing changed"
    );
    assert!(refused > ROUNDS / 2 && applied > 10, "{applied} applied, {refused} refused");
}
