//! The policy language as data: what a validated policy document says, nothing about JSON.

use crate::condition::Condition;
use crate::template::Template;

/// A validated policy document (identity policy or bucket policy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub version: Version,
    pub id: Option<String>,
    pub statements: Vec<Statement>,
}

/// The policy language version. Only 2012-10-17 substitutes policy variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// `2008-10-17`, also what a document without `Version` is taken to be.
    V2008_10_17,
    /// `2012-10-17`, the current language.
    V2012_10_17,
}

impl Version {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V2008_10_17 => "2008-10-17",
            Self::V2012_10_17 => "2012-10-17",
        }
    }

    pub fn has_variables(self) -> bool {
        self == Self::V2012_10_17
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub sid: Option<String>,
    pub effect: Effect,
    /// `None` in identity policies: the statement is about whoever the policy is attached to.
    pub principal: Option<Matcher<Principals>>,
    pub action: Matcher<Vec<String>>,
    pub resource: Matcher<Vec<Template>>,
    /// All must hold (AND across operators and keys).
    pub conditions: Vec<Condition>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// An element and its `Not` form: `Action` / `NotAction`, `Resource` / `NotResource`,
/// `Principal` / `NotPrincipal`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Matcher<T> {
    /// Applies to what is listed.
    Is(T),
    /// Applies to everything except what is listed.
    Not(T),
}

impl<T> Matcher<T> {
    pub fn items(&self) -> &T {
        match self {
            Self::Is(t) | Self::Not(t) => t,
        }
    }

    /// Whether the element matches, given whether the listed items match.
    pub(crate) fn applies(&self, listed_matches: bool) -> bool {
        match self {
            Self::Is(_) => listed_matches,
            Self::Not(_) => !listed_matches,
        }
    }
}

/// The principals a `Principal` / `NotPrincipal` element lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principals {
    /// `"*"` or `{"AWS": "*"}`: everyone, anonymous callers included.
    Everyone,
    Listed(Vec<PrincipalId>),
}

/// One principal named in a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalId {
    /// `{"AWS": "*"}` inside a list.
    Everyone,
    /// `"123456789012"` or `"arn:aws:iam::123456789012:root"`.
    Account(String),
    /// Any other IAM ARN, e.g. `arn:aws:iam::123456789012:user/alice`.
    Arn(String),
    /// `{"CanonicalUser": "79a5..."}`.
    CanonicalUser(String),
    /// `{"Service": "..."}`: accepted, never matches a caller of this server.
    Service(String),
    /// `{"Federated": "..."}`: accepted, never matches a caller of this server.
    Federated(String),
}
