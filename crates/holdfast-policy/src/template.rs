//! Policy variables: `${aws:username}`, `${aws:userid}`, any request key, the escapes `${*}`,
//! `${?}`, `${$}`, and the default form `${key, 'default'}`.
//!
//! They are substituted in `Resource` / `NotResource` and in String and ARN condition values, and
//! only under `Version: 2012-10-17`; under 2008-10-17 the text is taken literally (AWS does the
//! same). A substituted value is always literal: a user named `a*` does not become a wildcard.
//! When a variable has no value and no default, the pattern matches nothing: IAM documents that
//! an element whose variable cannot be resolved does not match.

use crate::glob::{self, Token};
use crate::keys::Context;

/// A policy string, possibly containing variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    raw: String,
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    /// Policy text: in a wildcard context its `*` and `?` are wildcards.
    Text(String),
    /// `${*}`, `${?}`, `${$}`: the character itself, never a wildcard.
    Escaped(char),
    /// `${key}` or `${key, 'default'}`; `key` is lower-cased (condition keys ignore case).
    Variable { key: String, default: Option<String> },
}

impl Template {
    /// A template whose text is taken as written (Version 2008-10-17, or non-string operators).
    pub fn literal(raw: &str) -> Self {
        Self { raw: raw.to_owned(), parts: vec![Part::Text(raw.to_owned())] }
    }

    /// Parses `${...}` variables. An unterminated `${` is kept as text.
    pub fn with_variables(raw: &str) -> Self {
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut rest = raw;
        while let Some(start) = rest.find("${") {
            let Some(len) = rest[start + 2..].find('}') else {
                break;
            };
            text.push_str(&rest[..start]);
            let inner = &rest[start + 2..start + 2 + len];
            rest = &rest[start + 2 + len + 1..];
            let part = match inner {
                "*" => Part::Escaped('*'),
                "?" => Part::Escaped('?'),
                "$" => Part::Escaped('$'),
                _ => parse_variable(inner),
            };
            if !text.is_empty() {
                parts.push(Part::Text(std::mem::take(&mut text)));
            }
            parts.push(part);
        }
        text.push_str(rest);
        if !text.is_empty() {
            parts.push(Part::Text(text));
        }
        Self { raw: raw.to_owned(), parts }
    }

    /// The string as written in the policy.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The value with variables substituted, for equality operators; `None` if a variable is
    /// unresolved.
    pub(crate) fn resolve(&self, ctx: &Context) -> Option<String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Escaped(c) => out.push(*c),
                Part::Variable { key, default } => out.push_str(&lookup(ctx, key, default.as_deref())?),
            }
        }
        Some(out)
    }

    /// The wildcard pattern with variables substituted literally; `None` if one is unresolved.
    pub(crate) fn pattern(&self, ctx: &Context) -> Option<Vec<Token>> {
        let mut out = Vec::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.extend(glob::wildcard_tokens(t)),
                Part::Escaped(c) => out.push(Token::Char(*c)),
                Part::Variable { key, default } => {
                    out.extend(glob::literal_tokens(&lookup(ctx, key, default.as_deref())?));
                }
            }
        }
        Some(out)
    }
}

fn parse_variable(inner: &str) -> Part {
    // `${key, 'default value'}`: the default is single-quoted after a comma.
    if let Some((key, default)) = inner.split_once(',') {
        let default = default.trim();
        if default.len() >= 2 && default.starts_with('\'') && default.ends_with('\'') {
            return Part::Variable {
                key: key.trim().to_ascii_lowercase(),
                default: Some(default[1..default.len() - 1].to_owned()),
            };
        }
    }
    Part::Variable { key: inner.trim().to_ascii_lowercase(), default: None }
}

/// A variable takes the value of a single-valued request key; multivalued keys cannot be
/// variables.
fn lookup(ctx: &Context, key: &str, default: Option<&str>) -> Option<String> {
    match ctx.get(key) {
        Some([one]) => Some(one.clone()),
        Some([]) | None => default.map(str::to_owned),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Context {
        let mut c = Context::new();
        c.insert("aws:username", "alice");
        c.insert("aws:userid", "AIDAEXAMPLE");
        c
    }

    #[test]
    fn substitutes_known_variables() {
        let t = Template::with_variables("arn:aws:s3:::home/${aws:username}/*");
        assert_eq!(t.resolve(&ctx()).as_deref(), Some("arn:aws:s3:::home/alice/*"));
        let t = Template::with_variables("${AWS:UserId}");
        assert_eq!(t.resolve(&ctx()).as_deref(), Some("AIDAEXAMPLE"));
    }

    #[test]
    fn escapes_are_literal_characters() {
        let t = Template::with_variables("a${*}b${?}c${$}");
        assert_eq!(t.resolve(&ctx()).as_deref(), Some("a*b?c$"));
        let p = t.pattern(&ctx()).unwrap();
        assert!(glob::matches(&p, "a*b?c$", false));
        assert!(!glob::matches(&p, "aXbYc$", false));
    }

    #[test]
    fn unresolved_variable_matches_nothing_unless_defaulted() {
        let t = Template::with_variables("${aws:PrincipalTag/team}");
        assert_eq!(t.resolve(&ctx()), None);
        let t = Template::with_variables("${aws:PrincipalTag/team, 'none'}");
        assert_eq!(t.resolve(&ctx()).as_deref(), Some("none"));
    }

    #[test]
    fn literal_templates_keep_dollar_braces() {
        let t = Template::literal("home/${aws:username}");
        assert_eq!(t.resolve(&ctx()).as_deref(), Some("home/${aws:username}"));
        let t = Template::with_variables("a${unterminated");
        assert_eq!(t.resolve(&ctx()).as_deref(), Some("a${unterminated"));
    }
}
