//! Who is calling, and whether a policy's `Principal` element names them.

use crate::model::{Effect, Matcher, PrincipalId, Principals};

/// The authenticated caller of one request, as the evaluator needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The 12-digit account id the caller belongs to (Holdfast serves one account). Empty for
    /// anonymous callers.
    pub account_id: String,
    pub kind: CallerKind,
    /// The S3 canonical user id, matched by `{"CanonicalUser": ...}` principals.
    pub canonical_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallerKind {
    /// The account root user: allowed everything not explicitly denied by a bucket policy.
    Root,
    /// An IAM user: `name` appears in its ARN and `${aws:username}`, `id` (the unique id, e.g.
    /// `AIDA...`) in `${aws:userid}`.
    User { name: String, id: String },
    /// An unsigned request.
    Anonymous,
    /// An AWS service principal acting for the server itself, such as `s3.amazonaws.com`
    /// writing an inventory report: only a policy naming it (`{"Service": ...}`) or everyone
    /// (`"*"`) covers it; it belongs to no account.
    Service(String),
}

impl Principal {
    pub fn root(account_id: impl Into<String>) -> Self {
        Self { account_id: account_id.into(), kind: CallerKind::Root, canonical_id: None }
    }

    pub fn user(account_id: impl Into<String>, name: impl Into<String>, id: impl Into<String>) -> Self {
        Self {
            account_id: account_id.into(),
            kind: CallerKind::User { name: name.into(), id: id.into() },
            canonical_id: None,
        }
    }

    pub fn anonymous() -> Self {
        Self { account_id: String::new(), kind: CallerKind::Anonymous, canonical_id: None }
    }

    pub fn service(name: impl Into<String>) -> Self {
        Self { account_id: String::new(), kind: CallerKind::Service(name.into()), canonical_id: None }
    }

    pub fn with_canonical_id(mut self, id: impl Into<String>) -> Self {
        self.canonical_id = Some(id.into());
        self
    }

    pub fn is_root(&self) -> bool {
        self.kind == CallerKind::Root
    }

    pub fn is_anonymous(&self) -> bool {
        self.kind == CallerKind::Anonymous
    }

    pub fn service_name(&self) -> Option<&str> {
        match &self.kind {
            CallerKind::Service(name) => Some(name),
            _ => None,
        }
    }

    pub fn user_name(&self) -> Option<&str> {
        match &self.kind {
            CallerKind::User { name, .. } => Some(name),
            _ => None,
        }
    }

    /// `arn:aws:iam::<account>:root` or `arn:aws:iam::<account>:user/<name>`; none if anonymous.
    pub fn arn(&self) -> Option<String> {
        match &self.kind {
            CallerKind::Root => Some(format!("arn:aws:iam::{}:root", self.account_id)),
            CallerKind::User { name, .. } => Some(format!("arn:aws:iam::{}:user/{name}", self.account_id)),
            CallerKind::Anonymous | CallerKind::Service(_) => None,
        }
    }

    /// The value of `aws:userid`: the account id for root, the unique id for a user,
    /// `anonymous` for unsigned requests (the values the IAM documentation lists); none for a
    /// service principal.
    pub fn user_id(&self) -> Option<&str> {
        match &self.kind {
            CallerKind::Root => Some(&self.account_id),
            CallerKind::User { id, .. } => Some(id),
            CallerKind::Anonymous => Some("anonymous"),
            CallerKind::Service(_) => None,
        }
    }
}

/// Whether a statement's `Principal` / `NotPrincipal` element covers `caller`.
///
/// A user's request is made both by the user and by its account (IAM evaluates it as either),
/// while the root user and anonymous callers have one identity each. The element applies:
/// - `Principal` + Allow: when the caller itself is listed. An account principal grants the
///   account's users nothing by itself: AWS treats it as delegation to the account, whose
///   identity policies must then allow the user.
/// - `Principal` + Deny: when the caller or its account is listed, so a Deny naming the account
///   binds all of it.
/// - `NotPrincipal` + Deny: unless the caller *and* its account are listed (the IAM documentation
///   asks for both to exempt a user).
/// - `NotPrincipal` + Allow: unless the caller or its account is listed.
///
/// Where AWS is vague, these choices deny rather than allow.
pub(crate) fn covers(element: &Matcher<Principals>, caller: &Principal, effect: Effect) -> bool {
    let listed = element.items();
    let itself = lists_caller(listed, caller);
    let account = lists_account(listed, caller);
    match (element, effect) {
        (Matcher::Is(_), Effect::Allow) => itself,
        (Matcher::Is(_), Effect::Deny) => itself || account,
        (Matcher::Not(_), Effect::Deny) => !(itself && account),
        (Matcher::Not(_), Effect::Allow) => !(itself || account),
    }
}

/// Whether the caller's own identity is listed (root: its account; user: its ARN).
fn lists_caller(listed: &Principals, caller: &Principal) -> bool {
    let ids = match listed {
        Principals::Everyone => return true,
        Principals::Listed(ids) => ids,
    };
    ids.iter().any(|id| match id {
        PrincipalId::Everyone => true,
        _ if caller.is_anonymous() => false,
        PrincipalId::Service(name) => caller.service_name() == Some(name.as_str()),
        _ if caller.service_name().is_some() => false,
        PrincipalId::Account(account) => caller.is_root() && account == &caller.account_id,
        PrincipalId::Arn(arn) => caller.arn().as_deref() == Some(arn.as_str()),
        PrincipalId::CanonicalUser(id) => caller.canonical_id.as_deref() == Some(id.as_str()),
        PrincipalId::Federated(_) => false,
    })
}

/// Whether the account the caller acts for is listed. Anonymous callers have none, so only
/// "everyone" covers them; for root this is the same as [`lists_caller`].
fn lists_account(listed: &Principals, caller: &Principal) -> bool {
    if caller.is_root() {
        return lists_caller(listed, caller);
    }
    let ids = match listed {
        Principals::Everyone => return true,
        Principals::Listed(ids) => ids,
    };
    ids.iter().any(|id| match id {
        PrincipalId::Everyone => true,
        PrincipalId::Account(account) => {
            !caller.is_anonymous() && caller.service_name().is_none() && account == &caller.account_id
        }
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCT: &str = "111122223333";

    #[test]
    fn caller_arns_and_user_ids() {
        assert_eq!(Principal::root(ACCT).arn().unwrap(), "arn:aws:iam::111122223333:root");
        let alice = Principal::user(ACCT, "alice", "AIDAALICE");
        assert_eq!(alice.arn().unwrap(), "arn:aws:iam::111122223333:user/alice");
        assert_eq!(alice.user_id(), Some("AIDAALICE"));
        assert_eq!(Principal::root(ACCT).user_id(), Some(ACCT));
        assert_eq!(Principal::anonymous().user_id(), Some("anonymous"));
        assert_eq!(Principal::service("s3.amazonaws.com").user_id(), None);
        assert_eq!(Principal::anonymous().arn(), None);
    }

    fn is(ids: Vec<PrincipalId>) -> Matcher<Principals> {
        Matcher::Is(Principals::Listed(ids))
    }

    fn not(ids: Vec<PrincipalId>) -> Matcher<Principals> {
        Matcher::Not(Principals::Listed(ids))
    }

    fn alice() -> Principal {
        Principal::user(ACCT, "alice", "AIDAALICE")
    }

    fn alice_arn() -> PrincipalId {
        PrincipalId::Arn("arn:aws:iam::111122223333:user/alice".into())
    }

    fn account() -> PrincipalId {
        PrincipalId::Account(ACCT.into())
    }

    #[test]
    fn everyone_includes_anonymous_but_nothing_else_does() {
        let anon = Principal::anonymous();
        assert!(covers(&Matcher::Is(Principals::Everyone), &anon, Effect::Allow));
        assert!(covers(&is(vec![PrincipalId::Everyone]), &anon, Effect::Allow));
        assert!(!covers(&is(vec![account()]), &anon, Effect::Deny));
        assert!(!covers(&is(vec![PrincipalId::Account(String::new())]), &anon, Effect::Deny));
        assert!(covers(&not(vec![account()]), &anon, Effect::Deny));
        assert!(!covers(&Matcher::Not(Principals::Everyone), &anon, Effect::Deny));
    }

    #[test]
    fn account_principal_names_root_and_denies_users() {
        assert!(covers(&is(vec![account()]), &Principal::root(ACCT), Effect::Allow));
        assert!(covers(&is(vec![account()]), &alice(), Effect::Deny));
        assert!(!covers(&is(vec![account()]), &alice(), Effect::Allow));
        assert!(!covers(&is(vec![account()]), &Principal::root("999999999999"), Effect::Deny));
    }

    #[test]
    fn user_arn_names_exactly_that_user() {
        assert!(covers(&is(vec![alice_arn()]), &alice(), Effect::Allow));
        assert!(!covers(&is(vec![alice_arn()]), &Principal::user(ACCT, "bob", "B"), Effect::Allow));
        assert!(!covers(&is(vec![alice_arn()]), &Principal::root(ACCT), Effect::Allow));
    }

    #[test]
    fn not_principal_deny_exempts_a_user_only_with_its_account() {
        // The IAM documentation's NotPrincipal example lists both the user and the account.
        assert!(!covers(&not(vec![alice_arn(), account()]), &alice(), Effect::Deny));
        assert!(covers(&not(vec![alice_arn()]), &alice(), Effect::Deny));
        assert!(covers(&not(vec![alice_arn(), account()]), &Principal::user(ACCT, "bob", "B"), Effect::Deny));
        assert!(!covers(&not(vec![account()]), &Principal::root(ACCT), Effect::Deny));
        assert!(covers(&not(vec![alice_arn()]), &Principal::root(ACCT), Effect::Deny));
    }

    /// `{"Service": "s3.amazonaws.com"}` names that service and nobody else; a service is
    /// in no account, so account principals never cover it.
    #[test]
    fn service_principal_names_that_service_only() {
        let s3 = Principal::service("s3.amazonaws.com");
        let named = is(vec![PrincipalId::Service("s3.amazonaws.com".into())]);
        assert!(covers(&named, &s3, Effect::Allow));
        assert!(!covers(&named, &Principal::service("logging.s3.amazonaws.com"), Effect::Allow));
        assert!(!covers(&named, &Principal::root(ACCT), Effect::Allow));
        assert!(!covers(&named, &Principal::anonymous(), Effect::Allow));
        assert!(!covers(&is(vec![account()]), &s3, Effect::Allow));
        assert!(!covers(&is(vec![account()]), &s3, Effect::Deny));
        assert!(!covers(&is(vec![PrincipalId::Account(String::new())]), &s3, Effect::Deny));
        assert!(covers(&Matcher::Is(Principals::Everyone), &s3, Effect::Allow));
        assert!(covers(&not(vec![account()]), &s3, Effect::Deny));
    }

    #[test]
    fn canonical_user_matches_canonical_id() {
        let p = is(vec![PrincipalId::CanonicalUser("abc".into())]);
        assert!(covers(&p, &Principal::root(ACCT).with_canonical_id("abc"), Effect::Allow));
        assert!(!covers(&p, &Principal::root(ACCT), Effect::Allow));
    }
}
