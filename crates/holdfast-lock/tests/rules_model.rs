//! The pure lock rules against an independent statement of the spec (R8, R9/DP5, D2..D5,
//! L4), over random states, requests and instants. This checks the rules on their own: in
//! the metadata store the WORM triggers would also refuse a COMPLIANCE delete the rules
//! wrongly allowed, and so hide such a mistake from `holdfast-meta/tests/lock_model.rs`.

#![allow(clippy::unwrap_used)] // A test states what it expects with unwrap: a failure is the finding.

use holdfast_lock::{Bypass, Instant, LegalHold, LockState, Mode, Retention, check_delete, check_retention_change};
use proptest::prelude::*;

fn retention() -> impl Strategy<Value = Retention> {
    (prop_oneof![Just(Mode::Governance), Just(Mode::Compliance)], 0i64..20)
        .prop_map(|(mode, until)| Retention { mode, until: Instant(until) })
}

fn state() -> impl Strategy<Value = LockState> {
    (proptest::option::of(retention()), proptest::option::of(prop_oneof![Just(LegalHold::On), Just(LegalHold::Off)]))
        .prop_map(|(retention, legal_hold)| LockState { retention, legal_hold })
}

fn bypass() -> impl Strategy<Value = Bypass> {
    prop_oneof![Just(Bypass::None), Just(Bypass::Governance)]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4096, ..ProptestConfig::default() })]

    /// D2..D5: a version may be removed iff no hold is on and its retention is expired,
    /// absent, or GOVERNANCE with bypass.
    #[test]
    fn delete_is_allowed_exactly_when_the_spec_allows(s in state(), now in 0i64..20, b in bypass()) {
        let held = s.legal_hold == Some(LegalHold::On);
        let allowed = !held
            && match s.retention {
                None => true,
                Some(r) if now >= r.until.0 => true,
                Some(r) => r.mode == Mode::Governance && b == Bypass::Governance,
            };
        prop_assert_eq!(check_delete(&s, Instant(now), b).is_ok(), allowed);
    }

    /// R8 with R9/DP5: while the current retention is active, COMPLIANCE may only be kept
    /// or extended; GOVERNANCE may be kept or extended, and anything else with bypass.
    #[test]
    fn retention_change_is_allowed_exactly_when_the_spec_allows(
        cur in proptest::option::of(retention()),
        req in proptest::option::of(retention()),
        now in 0i64..20,
        b in bypass(),
    ) {
        let allowed = match cur {
            Some(c) if now < c.until.0 => {
                let keeps = req.is_some_and(|r| r.mode == c.mode && r.until >= c.until);
                match c.mode {
                    Mode::Compliance => keeps,
                    Mode::Governance => keeps || b == Bypass::Governance,
                }
            }
            _ => true,
        };
        prop_assert_eq!(check_retention_change(cur, req, Instant(now), b).is_ok(), allowed);
    }
}
