//! Parses arbitrary bytes as an identity policy and as a bucket policy; whatever parses is
//! evaluated against a few requests. Nothing may panic, and no Allow may come from a policy
//! without Allow statements.
#![no_main]

use holdfast_policy::{Context, Decision, Effect, Policy, Principal, Request, authorize, evaluate};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let parsed = [
        Policy::parse_identity(&text),
        Policy::parse_bucket(&text, "b"),
    ];
    for policy in parsed.iter().flatten() {
        check(policy);
    }
});

fn check(policy: &Policy) {
    let callers = [
        Principal::root("111122223333"),
        Principal::user("111122223333", "alice", "AIDAALICE"),
        Principal::anonymous(),
    ];
    let requests = [
        ("s3:GetObject", "arn:aws:s3:::b/home/alice/x"),
        ("s3:PutObjectRetention", "arn:aws:s3:::b/k"),
        ("s3:ListBucket", "arn:aws:s3:::b"),
    ];
    let has_allow = policy.statements.iter().any(|s| s.effect == Effect::Allow);
    for caller in &callers {
        let mut context = Context::new();
        context.set_principal(caller);
        context.set_time(1_800_000_000_000);
        context.set_requested_retention(
            "GOVERNANCE",
            1_800_000_000_000 + 30 * 86_400_000,
            1_800_000_000_000,
        );
        context.insert("s3:prefix", "home/alice/");
        context.insert("aws:SourceIp", "192.0.2.1");
        context.insert_all("aws:TagKeys", ["a", "b"]);
        for (action, resource) in requests {
            let request = Request {
                principal: caller,
                action,
                resource,
                context: &context,
            };
            let decision = evaluate([policy], &request);
            assert!(has_allow || decision != Decision::Allow);
            let _ = authorize(std::slice::from_ref(policy), Some(policy), &request);
        }
    }
}
