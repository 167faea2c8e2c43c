//! The pure lock rules against an independent statement of the spec (R8, R9/DP5, D2..D5,
//! L4, W2..W5, R15), over random states, requests and instants. This checks the rules on their own: in
//! the metadata store the WORM triggers would also refuse a COMPLIANCE delete the rules
//! wrongly allowed, and so hide such a mistake from `holdfast-meta/tests/lock_model.rs`.

#![allow(clippy::unwrap_used)] // A test states what it expects with unwrap: a failure is the finding.

use holdfast_lock::{
    Bypass, LegalHold, LockHeaders, LockState, Mode, Retention, UtcMillis, WriteDenial, check_delete,
    check_retention_change, parse_retain_until, requested_lock, retain_until_header,
};
use proptest::prelude::*;

fn retention() -> impl Strategy<Value = Retention> {
    (prop_oneof![Just(Mode::Governance), Just(Mode::Compliance)], 0i64..20)
        .prop_map(|(mode, until)| Retention { mode, until: UtcMillis(until) })
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
        prop_assert_eq!(check_delete(&s, UtcMillis(now), b).is_ok(), allowed);
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
        prop_assert_eq!(check_retention_change(cur, req, UtcMillis(now), b).is_ok(), allowed);
    }
}

fn header(values: &'static [&'static str]) -> impl Strategy<Value = Option<&'static str>> {
    proptest::option::of(proptest::sample::select(values))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4096, ..ProptestConfig::default() })]

    /// W2..W5 against an independent statement: an empty header is absent; mode and date
    /// travel together; then the mode's value, the date's form, the date in the future
    /// (strictly), then the legal hold's value.
    #[test]
    fn write_headers_are_judged_exactly_as_the_spec_says(
        mode in header(&["", "GOVERNANCE", "COMPLIANCE", "governance", "X"]),
        until_s in -3i64..3,
        until_form in header(&["", "rfc3339", "garbage"]),
        hold in header(&["", "ON", "OFF", "on"]),
    ) {
        let now = UtcMillis(1_893_456_000_000);
        let date = UtcMillis(now.0 + until_s * 1000);
        let until_text = until_form.map(|f| match f {
            "rfc3339" => date.to_iso8601(),
            other => other.to_owned(),
        });
        let h = LockHeaders { mode, retain_until: retain_until_header(until_text.as_deref()), legal_hold: hold };
        let present = |v: Option<&str>| v.filter(|v| !v.is_empty()).is_some();
        let want = if present(mode) && !present(until_text.as_deref()) {
            Err(WriteDenial::ModeWithoutDate)
        } else if !present(mode) && present(until_text.as_deref()) {
            Err(WriteDenial::DateWithoutMode)
        } else if present(mode) && !matches!(mode, Some("GOVERNANCE" | "COMPLIANCE")) {
            Err(WriteDenial::UnknownMode(mode.unwrap().to_owned()))
        } else if present(mode) && until_form == Some("garbage") {
            Err(WriteDenial::RetainUntilNotIso8601)
        } else if present(mode) && until_s <= 0 {
            Err(WriteDenial::RetainUntilInPast)
        } else if present(hold) && !matches!(hold, Some("ON" | "OFF")) {
            Err(WriteDenial::UnknownLegalHold(hold.unwrap().to_owned()))
        } else {
            let retention = present(mode).then(|| Retention { mode: mode.unwrap().parse().unwrap(), until: date });
            let legal_hold = hold.and_then(LegalHold::parse);
            Ok(LockState { retention, legal_hold })
        };
        prop_assert_eq!(requested_lock(h, now), want);
    }

    /// R15, G4: every instant of a four-digit year that Holdfast writes parses back to itself,
    /// read as a client's date and by the one parser under it alike.
    #[test]
    fn retain_until_parser_reads_what_holdfast_writes(ms in 0i64..253_402_300_799_999) {
        let i = UtcMillis(ms);
        prop_assert_eq!(parse_retain_until(&i.to_iso8601()), Ok(i));
        prop_assert_eq!(UtcMillis::parse(&i.to_iso8601()), Ok(i));
    }
}
