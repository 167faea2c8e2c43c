//! The `Condition` element: operators, the set qualifiers `ForAnyValue:` / `ForAllValues:`, the
//! `...IfExists` suffix, and how one condition is judged against the request context.
//!
//! Rules (IAM User Guide, "IAM JSON policy elements: Condition operators" and "Single-valued vs.
//! multivalued context keys"):
//! - a condition holds when, for its key, any request value matches any policy value (OR across
//!   values); negated operators (`StringNotEquals`, `NotIpAddress`, ...) hold when none does;
//! - a missing key makes a condition false, except for negated operators and `...IfExists`
//!   (true); `Null` tests presence itself;
//! - `ForAnyValue:` holds when at least one request value passes (false for a missing or empty
//!   key); `ForAllValues:` when every request value passes (true for a missing or empty key);
//! - a value that does not parse as its operator's type (number, date, bool, IP, ARN) never
//!   matches, for negated operators too.

use std::cmp::Ordering;
use std::fmt;
use std::net::IpAddr;

use time::format_description::well_known::{Iso8601, Rfc3339};
use time::{Date, OffsetDateTime, PrimitiveDateTime, UtcOffset};

use crate::cidr::Cidr;
use crate::glob::{self, Token};
use crate::keys::Context;
use crate::template::Template;

/// One `"Operator": { "key": values }` entry: a single key under a single operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub operator: Operator,
    /// The condition key as written (`s3:object-lock-remaining-retention-days`); looked up
    /// case-insensitively.
    pub key: String,
    /// The policy values (OR). Variables are live only for String and ARN operators under
    /// Version 2012-10-17.
    pub values: Vec<Template>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operator {
    pub qualifier: Option<SetQualifier>,
    pub test: Test,
    /// The `Not` form (`StringNotEquals`, `NotIpAddress`, ...).
    pub negated: bool,
    /// The `...IfExists` form: a missing key makes the condition true.
    pub if_exists: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetQualifier {
    ForAnyValue,
    ForAllValues,
}

/// The comparison an operator makes, independent of negation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Test {
    StringEquals,
    StringEqualsIgnoreCase,
    StringLike,
    Numeric(Comparison),
    Date(Comparison),
    Bool,
    BinaryEquals,
    IpAddress,
    ArnEquals,
    ArnLike,
    Null,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Equals,
    LessThan,
    LessThanEquals,
    GreaterThan,
    GreaterThanEquals,
}

/// Operator names without qualifier or `IfExists`: (name, test, negated).
const OPERATORS: &[(&str, Test, bool)] = &[
    ("StringEquals", Test::StringEquals, false),
    ("StringNotEquals", Test::StringEquals, true),
    ("StringEqualsIgnoreCase", Test::StringEqualsIgnoreCase, false),
    ("StringNotEqualsIgnoreCase", Test::StringEqualsIgnoreCase, true),
    ("StringLike", Test::StringLike, false),
    ("StringNotLike", Test::StringLike, true),
    ("NumericEquals", Test::Numeric(Comparison::Equals), false),
    ("NumericNotEquals", Test::Numeric(Comparison::Equals), true),
    ("NumericLessThan", Test::Numeric(Comparison::LessThan), false),
    ("NumericLessThanEquals", Test::Numeric(Comparison::LessThanEquals), false),
    ("NumericGreaterThan", Test::Numeric(Comparison::GreaterThan), false),
    ("NumericGreaterThanEquals", Test::Numeric(Comparison::GreaterThanEquals), false),
    ("DateEquals", Test::Date(Comparison::Equals), false),
    ("DateNotEquals", Test::Date(Comparison::Equals), true),
    ("DateLessThan", Test::Date(Comparison::LessThan), false),
    ("DateLessThanEquals", Test::Date(Comparison::LessThanEquals), false),
    ("DateGreaterThan", Test::Date(Comparison::GreaterThan), false),
    ("DateGreaterThanEquals", Test::Date(Comparison::GreaterThanEquals), false),
    ("Bool", Test::Bool, false),
    ("BinaryEquals", Test::BinaryEquals, false),
    ("IpAddress", Test::IpAddress, false),
    ("NotIpAddress", Test::IpAddress, true),
    ("ArnEquals", Test::ArnEquals, false),
    ("ArnNotEquals", Test::ArnEquals, true),
    ("ArnLike", Test::ArnLike, false),
    ("ArnNotLike", Test::ArnLike, true),
    ("Null", Test::Null, false),
];

impl Operator {
    /// Parses an operator name such as `ForAllValues:StringLikeIfExists`. Names are
    /// case-sensitive, as in AWS. `Null` takes no `IfExists`.
    pub fn parse(name: &str) -> Option<Self> {
        let (qualifier, rest) = if let Some(rest) = name.strip_prefix("ForAnyValue:") {
            (Some(SetQualifier::ForAnyValue), rest)
        } else if let Some(rest) = name.strip_prefix("ForAllValues:") {
            (Some(SetQualifier::ForAllValues), rest)
        } else {
            (None, name)
        };
        let (base, if_exists) = match rest.strip_suffix("IfExists") {
            Some(base) => (base, true),
            None => (rest, false),
        };
        let &(_, test, negated) = OPERATORS.iter().find(|(n, _, _)| *n == base)?;
        if test == Test::Null && if_exists {
            return None;
        }
        Some(Self { qualifier, test, negated, if_exists })
    }

    /// Whether policy variables are substituted in this operator's values.
    pub fn takes_variables(&self) -> bool {
        matches!(
            self.test,
            Test::StringEquals | Test::StringEqualsIgnoreCase | Test::StringLike | Test::ArnEquals | Test::ArnLike
        )
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.qualifier {
            Some(SetQualifier::ForAnyValue) => f.write_str("ForAnyValue:")?,
            Some(SetQualifier::ForAllValues) => f.write_str("ForAllValues:")?,
            None => {}
        }
        let (name, _, _) = OPERATORS
            .iter()
            .find(|(_, t, n)| *t == self.test && *n == self.negated)
            .expect("every operator comes from the table");
        f.write_str(name)?;
        if self.if_exists {
            f.write_str("IfExists")?;
        }
        Ok(())
    }
}

impl Condition {
    /// Whether the condition holds for the request context.
    pub fn holds(&self, ctx: &Context) -> bool {
        let op = self.operator;
        let present = ctx.get(&self.key).filter(|v| !v.is_empty());
        if op.test == Test::Null {
            // `"Null": {"k": "true"}` holds when k is absent, `"false"` when present.
            return self.values.iter().any(|v| match parse_bool(v.as_str()) {
                Some(want_absent) => want_absent == present.is_none(),
                None => false,
            });
        }
        match (op.qualifier, present) {
            (None, None) => op.if_exists || op.negated,
            (None, Some(values)) => {
                let any_match = values.iter().map(|v| self.matches_any(v, ctx));
                if op.negated { all_false(any_match) } else { any_true(any_match) }
            }
            (Some(SetQualifier::ForAnyValue), None) => op.if_exists,
            (Some(SetQualifier::ForAllValues), None) => true,
            (Some(SetQualifier::ForAnyValue), Some(values)) => values.iter().any(|v| self.passes(v, ctx)),
            (Some(SetQualifier::ForAllValues), Some(values)) => values.iter().all(|v| self.passes(v, ctx)),
        }
    }

    /// One request value against the operator, negation included (used per value by the set
    /// qualifiers).
    fn passes(&self, value: &str, ctx: &Context) -> bool {
        match self.matches_any(value, ctx) {
            Some(matched) => matched != self.operator.negated,
            None => false,
        }
    }

    /// Whether `value` matches any policy value: `Some(true)` if one matches, `Some(false)` if
    /// every comparison was made and none matched, `None` if some comparison could not be made
    /// (unparsable) and none matched.
    fn matches_any(&self, value: &str, ctx: &Context) -> Option<bool> {
        let mut all_comparable = true;
        for policy_value in &self.values {
            match compare(self.operator.test, value, policy_value, ctx) {
                Some(true) => return Some(true),
                Some(false) => {}
                None => all_comparable = false,
            }
        }
        all_comparable.then_some(false)
    }
}

/// Positive operators: some request value matched.
fn any_true(mut results: impl Iterator<Item = Option<bool>>) -> bool {
    results.any(|r| r == Some(true))
}

/// Negated operators: every request value was compared and none matched.
fn all_false(mut results: impl Iterator<Item = Option<bool>>) -> bool {
    results.all(|r| r == Some(false))
}

/// One request value against one policy value; `None` when either does not parse.
fn compare(test: Test, value: &str, policy: &Template, ctx: &Context) -> Option<bool> {
    Some(match test {
        Test::StringEquals => policy.resolve(ctx)? == value,
        Test::StringEqualsIgnoreCase => policy.resolve(ctx)?.to_lowercase() == value.to_lowercase(),
        Test::StringLike => glob::matches(&policy.pattern(ctx)?, value, false),
        Test::Numeric(cmp) => {
            let ordering = parse_number(value)?.partial_cmp(&parse_number(policy.as_str())?)?;
            cmp.accepts(ordering)
        }
        Test::Date(cmp) => cmp.accepts(parse_date(value)?.cmp(&parse_date(policy.as_str())?)),
        Test::Bool => parse_bool(value)? == parse_bool(policy.as_str())?,
        Test::BinaryEquals => value == policy.as_str(),
        Test::IpAddress => Cidr::parse(policy.as_str())?.contains(value.trim().parse::<IpAddr>().ok()?),
        // AWS documents ArnEquals and ArnLike alike: per-component wildcard match.
        Test::ArnEquals | Test::ArnLike => arn_matches(&policy.pattern(ctx)?, value)?,
        Test::Null => return None,
    })
}

impl Comparison {
    fn accepts(self, ordering: Ordering) -> bool {
        match self {
            Self::Equals => ordering == Ordering::Equal,
            Self::LessThan => ordering == Ordering::Less,
            Self::LessThanEquals => ordering != Ordering::Greater,
            Self::GreaterThan => ordering == Ordering::Greater,
            Self::GreaterThanEquals => ordering != Ordering::Less,
        }
    }
}

/// Decimal numbers (`10`, `-1.5`, `1e3`); never `inf` or `NaN`.
pub(crate) fn parse_number(s: &str) -> Option<f64> {
    let s = s.trim();
    let plausible = s.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'));
    let n: f64 = if plausible {
        s.parse().ok()?
    } else {
        return None;
    };
    n.is_finite().then_some(n)
}

/// `true` / `false`, any case.
pub(crate) fn parse_bool(s: &str) -> Option<bool> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// W3C ISO 8601 forms (date, date-time with or without zone, fractions, offsets) or epoch
/// seconds, as nanoseconds since the epoch.
pub(crate) fn parse_date(s: &str) -> Option<i128> {
    let s = s.trim();
    let digits = s.strip_prefix('-').unwrap_or(s);
    if !digits.is_empty() && digits.len() <= 12 && digits.bytes().all(|b| b.is_ascii_digit()) {
        let secs: i64 = s.parse().ok()?;
        return Some(i128::from(secs) * 1_000_000_000);
    }
    let t = OffsetDateTime::parse(s, &Rfc3339)
        .or_else(|_| OffsetDateTime::parse(s, &Iso8601::DEFAULT))
        .or_else(|_| PrimitiveDateTime::parse(s, &Iso8601::DEFAULT).map(|t| t.assume_offset(UtcOffset::UTC)))
        .or_else(|_| Date::parse(s, &Iso8601::DEFAULT).map(|d| d.midnight().assume_offset(UtcOffset::UTC)))
        .ok()?;
    Some(t.unix_timestamp_nanos())
}

/// An ARN has six colon-separated parts, the last of which may itself contain colons; each
/// part is matched on its own so that `*` never spans a colon. `None` if `value` is not an ARN.
fn arn_matches(pattern: &[Token], value: &str) -> Option<bool> {
    let value_parts: Vec<&str> = value.splitn(6, ':').collect();
    if value_parts.len() != 6 || value_parts[0] != "arn" {
        return None;
    }
    let mut pattern_parts: Vec<&[Token]> = Vec::with_capacity(6);
    let mut rest = pattern;
    while pattern_parts.len() < 5 {
        let Some(colon) = rest.iter().position(|t| *t == Token::Char(':')) else {
            break;
        };
        pattern_parts.push(&rest[..colon]);
        rest = &rest[colon + 1..];
    }
    pattern_parts.push(rest);
    if pattern_parts.len() != 6 {
        return Some(false);
    }
    Some(pattern_parts.iter().zip(&value_parts).all(|(p, v)| glob::matches(p, v, false)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cond(op: &str, key: &str, values: &[&str]) -> Condition {
        let operator = Operator::parse(op).unwrap_or_else(|| panic!("operator {op}"));
        let values = values
            .iter()
            .map(|v| if operator.takes_variables() { Template::with_variables(v) } else { Template::literal(v) })
            .collect();
        Condition { operator, key: key.to_owned(), values }
    }

    fn ctx(pairs: &[(&str, &[&str])]) -> Context {
        let mut c = Context::new();
        for (k, vs) in pairs {
            c.insert_all(k, vs.iter().copied());
        }
        c
    }

    fn holds(op: &str, key: &str, values: &[&str], pairs: &[(&str, &[&str])]) -> bool {
        cond(op, key, values).holds(&ctx(pairs))
    }

    #[test]
    fn operator_names_round_trip() {
        for name in [
            "StringEquals",
            "ForAllValues:StringNotLikeIfExists",
            "ForAnyValue:NumericLessThanEquals",
            "NotIpAddressIfExists",
            "ArnNotLike",
            "DateGreaterThanEquals",
            "Null",
            "BinaryEquals",
        ] {
            assert_eq!(Operator::parse(name).unwrap().to_string(), name);
        }
        for bad in ["stringequals", "StringEqual", "NullIfExists", "ForAnyValues:StringEquals", "IfExists", ""] {
            assert_eq!(Operator::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn string_operators() {
        let k = "s3:prefix";
        assert!(holds("StringEquals", k, &["home/"], &[(k, &["home/"])]));
        assert!(!holds("StringEquals", k, &["home/"], &[(k, &["Home/"])]));
        assert!(holds("StringEquals", k, &["a", "home/"], &[(k, &["home/"])]), "OR across values");
        assert!(holds("StringNotEquals", k, &["a", "b"], &[(k, &["c"])]));
        assert!(!holds("StringNotEquals", k, &["a", "b"], &[(k, &["b"])]));
        assert!(holds("StringEqualsIgnoreCase", k, &["HOME/"], &[(k, &["home/"])]));
        assert!(!holds("StringNotEqualsIgnoreCase", k, &["HOME/"], &[(k, &["home/"])]));
        assert!(holds("StringLike", k, &["home/*"], &[(k, &["home/a/b"])]));
        assert!(!holds("StringLike", k, &["home/*"], &[(k, &["Home/a"])]));
        assert!(holds("StringNotLike", k, &["home/*"], &[(k, &["other/"])]));
    }

    #[test]
    fn missing_key_is_false_except_negated_and_if_exists() {
        let none: &[(&str, &[&str])] = &[];
        let k = "s3:x";
        for op in ["StringEquals", "StringLike", "NumericLessThan", "DateGreaterThan", "Bool", "IpAddress", "ArnLike"] {
            assert!(!holds(op, k, &["1"], none), "{op}");
            assert!(holds(&format!("{op}IfExists"), k, &["1"], none), "{op}IfExists");
        }
        for op in [
            "StringNotEquals",
            "StringNotEqualsIgnoreCase",
            "StringNotLike",
            "NumericNotEquals",
            "DateNotEquals",
            "NotIpAddress",
            "ArnNotEquals",
            "ArnNotLike",
        ] {
            assert!(holds(op, k, &["1"], none), "{op}");
        }
        // A key present with an empty set counts as missing.
        assert!(!holds("StringEquals", k, &["1"], &[(k, &[])]));
    }

    #[test]
    fn if_exists_still_tests_a_present_key() {
        let k = "s3:max-keys";
        assert!(holds("NumericLessThanEqualsIfExists", k, &["100"], &[(k, &["10"])]));
        assert!(!holds("NumericLessThanEqualsIfExists", k, &["100"], &[(k, &["1000"])]));
    }

    #[test]
    fn null_tests_presence() {
        let k = "aws:SecureTransport";
        assert!(holds("Null", k, &["true"], &[]));
        assert!(!holds("Null", k, &["true"], &[(k, &["false"])]));
        assert!(holds("Null", k, &["false"], &[(k, &["false"])]));
        assert!(!holds("Null", k, &["false"], &[]));
        assert!(!holds("Null", k, &["maybe"], &[]));
    }

    #[test]
    fn numeric_operators() {
        let k = "s3:object-lock-remaining-retention-days";
        assert!(holds("NumericGreaterThan", k, &["10"], &[(k, &["30"])]));
        assert!(!holds("NumericGreaterThan", k, &["10"], &[(k, &["10"])]));
        assert!(holds("NumericGreaterThanEquals", k, &["10"], &[(k, &["10"])]));
        assert!(holds("NumericLessThan", k, &["10"], &[(k, &["9.5"])]));
        assert!(holds("NumericLessThanEquals", k, &["10"], &[(k, &["10.0"])]));
        assert!(holds("NumericEquals", k, &["10"], &[(k, &["10.0"])]));
        assert!(holds("NumericNotEquals", k, &["10"], &[(k, &["11"])]));
        assert!(holds("NumericEquals", k, &["-1"], &[(k, &["-1"])]));
    }

    #[test]
    fn unparsable_numbers_and_dates_never_match() {
        let k = "s3:max-keys";
        for op in ["NumericEquals", "NumericNotEquals", "NumericGreaterThan", "NumericLessThan"] {
            assert!(!holds(op, k, &["10"], &[(k, &["ten"])]), "{op} on bad request value");
            assert!(!holds(op, k, &["ten"], &[(k, &["10"])]), "{op} on bad policy value");
            assert!(!holds(op, k, &["10"], &[(k, &["inf"])]), "{op} on inf");
        }
        let d = "aws:CurrentTime";
        for op in ["DateEquals", "DateNotEquals", "DateLessThan", "DateGreaterThan"] {
            assert!(!holds(op, d, &["2026-01-01T00:00:00Z"], &[(d, &["yesterday"])]), "{op}");
        }
    }

    #[test]
    fn date_operators_accept_iso8601_and_epoch() {
        let k = "aws:CurrentTime";
        let now: &[(&str, &[&str])] = &[(k, &["2026-06-01T12:00:00Z"])];
        assert!(holds("DateGreaterThan", k, &["2026-01-01T00:00:00Z"], now));
        assert!(holds("DateLessThan", k, &["2027-01-01"], now));
        assert!(holds("DateEquals", k, &["2026-06-01T14:00:00+02:00"], now));
        assert!(holds("DateEquals", k, &["2026-06-01T12:00:00.000Z"], now));
        assert!(holds("DateEquals", k, &["1780315200"], now), "epoch seconds");
        assert!(holds("DateLessThanEquals", k, &["2026-06-01T12:00:00"], now));
        assert!(holds("DateGreaterThanEquals", k, &["2026-06-01T12:00:00Z"], now));
        assert!(holds("DateNotEquals", k, &["2026-06-01T12:00:01Z"], now));
        let retain: &[(&str, &[&str])] = &[("s3:object-lock-retain-until-date", &["2030-01-01T00:00:00.000Z"])];
        assert!(holds("DateGreaterThan", "s3:object-lock-retain-until-date", &["2029-12-31T23:59:59Z"], retain));
    }

    #[test]
    fn bool_operator() {
        let k = "aws:SecureTransport";
        assert!(holds("Bool", k, &["false"], &[(k, &["false"])]));
        assert!(holds("Bool", k, &["true"], &[(k, &["TRUE"])]));
        assert!(!holds("Bool", k, &["true"], &[(k, &["false"])]));
        assert!(!holds("Bool", k, &["true"], &[(k, &["yes"])]));
    }

    #[test]
    fn ip_address_operators() {
        let k = "aws:SourceIp";
        assert!(holds("IpAddress", k, &["192.0.2.0/24"], &[(k, &["192.0.2.7"])]));
        assert!(!holds("IpAddress", k, &["192.0.2.0/24"], &[(k, &["203.0.113.1"])]));
        assert!(holds("IpAddress", k, &["10.0.0.0/8", "2001:db8::/32"], &[(k, &["2001:db8::5"])]));
        assert!(holds("NotIpAddress", k, &["192.0.2.0/24"], &[(k, &["203.0.113.1"])]));
        assert!(!holds("NotIpAddress", k, &["192.0.2.0/24"], &[(k, &["192.0.2.1"])]));
        assert!(!holds("IpAddress", k, &["192.0.2.0/24"], &[(k, &["not-an-ip"])]));
        assert!(!holds("NotIpAddress", k, &["192.0.2.0/24"], &[(k, &["not-an-ip"])]));
    }

    #[test]
    fn arn_operators_match_per_component() {
        let k = "aws:PrincipalArn";
        let alice: &[(&str, &[&str])] = &[(k, &["arn:aws:iam::111122223333:user/alice"])];
        assert!(holds("ArnEquals", k, &["arn:aws:iam::111122223333:user/alice"], alice));
        assert!(holds("ArnLike", k, &["arn:aws:iam::*:user/*"], alice));
        assert!(holds("ArnLike", k, &["arn:aws:iam::111122223333:*"], alice));
        assert!(!holds("ArnLike", k, &["arn:aws:iam::*"], alice), "a star does not span components");
        assert!(!holds("ArnLike", k, &["arn:aws:iam::*:user/bob"], alice));
        assert!(holds("ArnNotLike", k, &["arn:aws:iam::*:user/bob"], alice));
        assert!(!holds("ArnLike", k, &["*"], &[(k, &["not-an-arn"])]));
        assert!(holds(
            "ArnLike",
            "aws:SourceArn",
            &["arn:aws:s3:::bucket/a:b*"],
            &[("aws:SourceArn", &["arn:aws:s3:::bucket/a:b:c"])]
        ));
    }

    #[test]
    fn for_any_value_and_for_all_values() {
        let k = "aws:TagKeys";
        // ForAllValues: every request value must be in the policy set; an empty or missing set
        // passes (the IAM documentation's warning case).
        assert!(holds("ForAllValues:StringEquals", k, &["a", "b"], &[(k, &["a"])]));
        assert!(!holds("ForAllValues:StringEquals", k, &["a", "b"], &[(k, &["a", "c"])]));
        assert!(holds("ForAllValues:StringEquals", k, &["a", "b"], &[(k, &[])]));
        assert!(holds("ForAllValues:StringEquals", k, &["a", "b"], &[]));
        // ForAnyValue: at least one request value; empty or missing fails.
        assert!(holds("ForAnyValue:StringEquals", k, &["a", "b"], &[(k, &["c", "b"])]));
        assert!(!holds("ForAnyValue:StringEquals", k, &["a", "b"], &[(k, &["c"])]));
        assert!(!holds("ForAnyValue:StringEquals", k, &["a"], &[(k, &[])]));
        assert!(!holds("ForAnyValue:StringEquals", k, &["a"], &[]));
        assert!(holds("ForAnyValue:StringEqualsIfExists", k, &["a"], &[]));
        // Negated inner operators apply per request value.
        assert!(holds("ForAnyValue:StringNotEquals", k, &["a"], &[(k, &["a", "z"])]));
        assert!(!holds("ForAllValues:StringNotEquals", k, &["a"], &[(k, &["a", "z"])]));
        assert!(holds("ForAllValues:StringLike", k, &["team-*"], &[(k, &["team-a", "team-b"])]));
    }

    #[test]
    fn unqualified_operator_on_multivalued_key_matches_any_value() {
        let k = "aws:TagKeys";
        assert!(holds("StringEquals", k, &["b"], &[(k, &["a", "b"])]));
        assert!(!holds("StringNotEquals", k, &["b"], &[(k, &["a", "b"])]));
    }

    #[test]
    fn variables_in_string_values() {
        let k = "s3:prefix";
        let c: &[(&str, &[&str])] = &[("aws:username", &["alice"]), (k, &["home/alice/docs"])];
        assert!(holds("StringLike", k, &["home/${aws:username}/*"], c));
        assert!(!holds(
            "StringLike",
            k,
            &["home/${aws:username}/*"],
            &[("aws:username", &["bob"]), (k, &["home/alice/x"])]
        ));
        assert!(holds("StringEquals", k, &["${*}"], &[(k, &["*"])]));
        assert!(!holds("StringLike", k, &["${*}"], &[(k, &["anything"])]));
        // Unresolved variable: the value never matches.
        assert!(!holds("StringLike", k, &["home/${aws:username}/*"], &[(k, &["home//x"])]));
    }

    #[test]
    fn condition_keys_compare_case_insensitively() {
        assert!(holds("StringEquals", "S3:Prefix", &["x"], &[("s3:prefix", &["x"])]));
        assert!(holds("StringEquals", "s3:prefix", &["x"], &[("S3:PREFIX", &["x"])]));
    }

    #[test]
    fn number_and_date_parsers() {
        assert_eq!(parse_number(" 42 "), Some(42.0));
        assert_eq!(parse_number("1e3"), Some(1000.0));
        for bad in ["", "NaN", "inf", "infinity", "0x10", "1,5", "--1"] {
            assert_eq!(parse_number(bad), None, "{bad}");
        }
        assert_eq!(parse_date("0"), Some(0));
        assert_eq!(parse_date("1970-01-02"), Some(86_400_000_000_000));
        for bad in ["", "tomorrow", "2026-13-01", "1e9"] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }
}
