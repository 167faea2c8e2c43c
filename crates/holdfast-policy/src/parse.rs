//! JSON → [`Policy`], with the validation AWS does when a policy is stored
//! (PutBucketPolicy → `MalformedPolicy`, PutUserPolicy → `MalformedPolicyDocument`).
//!
//! The walk is by hand over `serde_json::Value` rather than derived, so that every refusal can
//! say what AWS says ("Unknown field X", "Missing required field Effect", ...) and so that the
//! string-or-array shapes of the language stay explicit.

use serde_json::{Map, Value};

use crate::actions;
use crate::condition::{Condition, Operator};
use crate::glob::{self, wildcard_match};
use crate::model::{Effect, Matcher, Policy, PrincipalId, Principals, Statement, Version};
use crate::template::Template;

/// Which kind of policy a document is validated as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind<'a> {
    /// Attached to a user: no `Principal`; any service's actions and any ARN are accepted.
    Identity,
    /// The policy of this bucket: `Principal` required, only `s3:` actions, resources in the
    /// bucket.
    Bucket(&'a str),
}

/// Why a policy document was refused. The messages follow AWS's wording; the S3 error code is
/// `MalformedPolicy`, the IAM one `MalformedPolicyDocument`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MalformedPolicy {
    #[error("Policies must be valid JSON and the first byte must be '{{'")]
    InvalidJson,
    #[error("Unknown field {0}")]
    UnknownField(String),
    #[error("Missing required field {0}")]
    MissingField(&'static str),
    #[error("The policy must contain a valid version string")]
    InvalidVersion,
    #[error("Could not parse the policy: Statement is empty!")]
    EmptyStatement,
    #[error("Invalid effect: {0}")]
    InvalidEffect(String),
    #[error("Statement must not contain both {0} and Not{0}")]
    BothElements(&'static str),
    #[error("Policy document should not specify a principal.")]
    PrincipalNotAllowed,
    #[error("Invalid principal in policy")]
    InvalidPrincipal,
    #[error("Policy has invalid action")]
    InvalidAction,
    #[error("Policy has invalid resource")]
    InvalidResource,
    #[error("Invalid Condition type : {0}")]
    UnknownConditionOperator(String),
    #[error("Invalid value for the field {0}")]
    InvalidValue(&'static str),
    #[error("Action does not apply to any resource(s) in statement")]
    ActionNotApplicable,
    #[error("Policy exceeds the maximum allowed document size.")]
    TooLarge,
}

impl MalformedPolicy {
    /// The S3 error code for a refused bucket policy.
    pub const S3_CODE: &'static str = "MalformedPolicy";
    /// The IAM error code for a refused identity policy.
    pub const IAM_CODE: &'static str = "MalformedPolicyDocument";
}

/// The largest bucket policy S3 stores, in bytes (S3 User Guide: bucket policies are limited
/// to 20 KB). Identity policies have IAM's per-user quota instead, which spans all of a user's
/// inline policies and so is for the caller to check.
pub const MAX_BUCKET_POLICY_BYTES: usize = 20 * 1024;

impl Policy {
    /// Parses and validates an identity (user) policy.
    ///
    /// # Errors
    /// [`MalformedPolicy`] for anything IAM would refuse.
    pub fn parse_identity(json: &str) -> Result<Self, MalformedPolicy> {
        parse_policy(json, PolicyKind::Identity)
    }

    /// Parses and validates the policy of `bucket`.
    ///
    /// # Errors
    /// [`MalformedPolicy`] for anything S3 would refuse at PutBucketPolicy.
    pub fn parse_bucket(json: &str, bucket: &str) -> Result<Self, MalformedPolicy> {
        parse_policy(json, PolicyKind::Bucket(bucket))
    }

    /// As [`Policy::parse_bucket`], except that a statement none of whose actions can act on
    /// any of its resources (`s3:PutObject` on `arn:aws:s3:::bucket`) is kept instead of
    /// refused with [`MalformedPolicy::ActionNotApplicable`]. Such a statement never applies
    /// to a request, so the policy means the same; only the refusal AWS makes at
    /// PutBucketPolicy is skipped (ceph/s3-tests stores such policies). Use this to read a
    /// stored policy back, whichever way it was accepted.
    ///
    /// # Errors
    /// [`MalformedPolicy`] for everything else [`Policy::parse_bucket`] refuses.
    pub fn parse_bucket_permissive(json: &str, bucket: &str) -> Result<Self, MalformedPolicy> {
        parse_with(json, PolicyKind::Bucket(bucket), false)
    }
}

/// Parses and validates a policy document of the given kind.
///
/// # Errors
/// [`MalformedPolicy`], with AWS's message for the first problem found.
pub fn parse_policy(json: &str, kind: PolicyKind<'_>) -> Result<Policy, MalformedPolicy> {
    parse_with(json, kind, true)
}

/// `applicable_actions`: refuse bucket-policy statements whose actions cannot act on any of
/// their resources (AWS's check at PutBucketPolicy).
fn parse_with(json: &str, kind: PolicyKind<'_>, applicable_actions: bool) -> Result<Policy, MalformedPolicy> {
    if matches!(kind, PolicyKind::Bucket(_)) && json.len() > MAX_BUCKET_POLICY_BYTES {
        return Err(MalformedPolicy::TooLarge);
    }
    if !json.trim_start().starts_with('{') {
        return Err(MalformedPolicy::InvalidJson);
    }
    let doc: Value = serde_json::from_str(json).map_err(|_| MalformedPolicy::InvalidJson)?;
    let doc = doc.as_object().ok_or(MalformedPolicy::InvalidJson)?;
    reject_unknown(doc, &["Version", "Id", "Statement"])?;

    let version = match doc.get("Version") {
        None => Version::V2008_10_17,
        Some(Value::String(v)) if v == "2012-10-17" => Version::V2012_10_17,
        Some(Value::String(v)) if v == "2008-10-17" => Version::V2008_10_17,
        Some(_) => return Err(MalformedPolicy::InvalidVersion),
    };
    let id = optional_string(doc, "Id")?;
    let statements = match doc.get("Statement") {
        None => return Err(MalformedPolicy::MissingField("Statement")),
        Some(Value::Object(one)) => vec![parse_statement(one, version, kind, applicable_actions)?],
        Some(Value::Array(list)) if list.is_empty() => return Err(MalformedPolicy::EmptyStatement),
        Some(Value::Array(list)) => list
            .iter()
            .map(|s| match s {
                Value::Object(s) => parse_statement(s, version, kind, applicable_actions),
                _ => Err(MalformedPolicy::InvalidValue("Statement")),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(MalformedPolicy::InvalidValue("Statement")),
    };
    Ok(Policy { version, id, statements })
}

const STATEMENT_FIELDS: &[&str] =
    &["Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource", "NotResource", "Condition"];

fn parse_statement(
    s: &Map<String, Value>,
    version: Version,
    kind: PolicyKind<'_>,
    applicable_actions: bool,
) -> Result<Statement, MalformedPolicy> {
    reject_unknown(s, STATEMENT_FIELDS)?;
    let sid = optional_string(s, "Sid")?;
    let effect = match s.get("Effect") {
        None => return Err(MalformedPolicy::MissingField("Effect")),
        Some(Value::String(e)) if e == "Allow" => Effect::Allow,
        Some(Value::String(e)) if e == "Deny" => Effect::Deny,
        Some(other) => return Err(MalformedPolicy::InvalidEffect(display(other))),
    };

    let principal = match (either(s, "Principal")?, kind) {
        (Some(_), PolicyKind::Identity) => return Err(MalformedPolicy::PrincipalNotAllowed),
        (None, PolicyKind::Bucket(_)) => return Err(MalformedPolicy::MissingField("Principal")),
        (None, PolicyKind::Identity) => None,
        (Some(m), PolicyKind::Bucket(_)) => Some(map_matcher(m, parse_principals)?),
    };

    let action = either(s, "Action")?.ok_or(MalformedPolicy::MissingField("Action"))?;
    let action = map_matcher(action, |v| parse_actions(v, kind))?;

    let resource = either(s, "Resource")?.ok_or(MalformedPolicy::MissingField("Resource"))?;
    let resource = map_matcher(resource, |v| parse_resources(v, version, kind))?;
    if let (PolicyKind::Bucket(bucket), Matcher::Is(actions), Matcher::Is(resources)) = (kind, &action, &resource)
        && applicable_actions
        && !some_action_applies(actions, resources, bucket)
    {
        return Err(MalformedPolicy::ActionNotApplicable);
    }

    let conditions = match s.get("Condition") {
        None => Vec::new(),
        Some(Value::Object(block)) => parse_conditions(block, version)?,
        Some(_) => return Err(MalformedPolicy::InvalidValue("Condition")),
    };
    Ok(Statement { sid, effect, principal, action, resource, conditions })
}

/// The `X` or `NotX` element of a statement, refusing both at once.
fn either<'v>(s: &'v Map<String, Value>, name: &'static str) -> Result<Option<Matcher<&'v Value>>, MalformedPolicy> {
    let not_name = format!("Not{name}");
    match (s.get(name), s.get(&not_name)) {
        (Some(_), Some(_)) => Err(MalformedPolicy::BothElements(name)),
        (Some(v), None) => Ok(Some(Matcher::Is(v))),
        (None, Some(v)) => Ok(Some(Matcher::Not(v))),
        (None, None) => Ok(None),
    }
}

fn map_matcher<T>(
    m: Matcher<&Value>,
    parse: impl FnOnce(&Value) -> Result<T, MalformedPolicy>,
) -> Result<Matcher<T>, MalformedPolicy> {
    Ok(match m {
        Matcher::Is(v) => Matcher::Is(parse(v)?),
        Matcher::Not(v) => Matcher::Not(parse(v)?),
    })
}

/// A string or a non-empty array of strings.
fn string_list(v: &Value) -> Option<Vec<&str>> {
    match v {
        Value::String(s) => Some(vec![s.as_str()]),
        Value::Array(items) if !items.is_empty() => items.iter().map(Value::as_str).collect(),
        _ => None,
    }
}

fn parse_principals(v: &Value) -> Result<Principals, MalformedPolicy> {
    let map = match v {
        Value::String(s) if s == "*" => return Ok(Principals::Everyone),
        Value::Object(map) if !map.is_empty() => map,
        _ => return Err(MalformedPolicy::InvalidPrincipal),
    };
    let mut ids = Vec::new();
    for (kind, values) in map {
        for value in string_list(values).ok_or(MalformedPolicy::InvalidPrincipal)? {
            ids.push(parse_principal_id(kind, value)?);
        }
    }
    if ids.contains(&PrincipalId::Everyone) {
        return Ok(Principals::Everyone);
    }
    Ok(Principals::Listed(ids))
}

fn parse_principal_id(kind: &str, value: &str) -> Result<PrincipalId, MalformedPolicy> {
    let invalid = MalformedPolicy::InvalidPrincipal;
    // Partial wildcards are not part of the Principal language (IAM: use aws:PrincipalArn).
    if value.is_empty() || (value != "*" && value.contains(['*', '?'])) {
        return Err(invalid);
    }
    match kind {
        "AWS" if value == "*" => Ok(PrincipalId::Everyone),
        "AWS" if is_account_id(value) => Ok(PrincipalId::Account(value.to_owned())),
        "AWS" => {
            let rest =
                value.strip_prefix("arn:aws:iam::").or_else(|| value.strip_prefix("arn:aws:sts::")).ok_or(invalid)?;
            let (account, resource) = rest.split_once(':').ok_or(MalformedPolicy::InvalidPrincipal)?;
            if !is_account_id(account) || resource.is_empty() {
                return Err(MalformedPolicy::InvalidPrincipal);
            }
            if resource == "root" && value.starts_with("arn:aws:iam::") {
                Ok(PrincipalId::Account(account.to_owned()))
            } else {
                Ok(PrincipalId::Arn(value.to_owned()))
            }
        }
        "CanonicalUser" if value != "*" => Ok(PrincipalId::CanonicalUser(value.to_owned())),
        "Service" if value != "*" => Ok(PrincipalId::Service(value.to_owned())),
        "Federated" if value != "*" => Ok(PrincipalId::Federated(value.to_owned())),
        _ => Err(invalid),
    }
}

fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

fn parse_actions(v: &Value, kind: PolicyKind<'_>) -> Result<Vec<String>, MalformedPolicy> {
    let list = string_list(v).ok_or(MalformedPolicy::InvalidAction)?;
    for action in &list {
        if !valid_action(action, kind) {
            return Err(MalformedPolicy::InvalidAction);
        }
    }
    Ok(list.into_iter().map(str::to_owned).collect())
}

/// `*`, or `service:pattern`; in a bucket policy the pattern must name at least one S3 action.
fn valid_action(action: &str, kind: PolicyKind<'_>) -> bool {
    if action == "*" {
        return true;
    }
    let Some((service, name)) = action.split_once(':') else {
        return false;
    };
    let service_ok = !service.is_empty() && service.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if !service_ok || name.is_empty() || name.contains(':') {
        return false;
    }
    match kind {
        PolicyKind::Identity => true,
        PolicyKind::Bucket(_) => service.eq_ignore_ascii_case("s3") && actions::names_known_action(name),
    }
}

fn parse_resources(v: &Value, version: Version, kind: PolicyKind<'_>) -> Result<Vec<Template>, MalformedPolicy> {
    let list = string_list(v).ok_or(MalformedPolicy::InvalidResource)?;
    list.into_iter()
        .map(|r| {
            if !valid_resource(r, kind) {
                return Err(MalformedPolicy::InvalidResource);
            }
            Ok(if version.has_variables() { Template::with_variables(r) } else { Template::literal(r) })
        })
        .collect()
}

/// `*` or an ARN; in a bucket policy an `arn:aws:s3:::` ARN whose bucket part can name this
/// bucket (AWS refuses a bucket policy about other buckets).
fn valid_resource(resource: &str, kind: PolicyKind<'_>) -> bool {
    if resource == "*" {
        return true;
    }
    match kind {
        PolicyKind::Identity => resource.starts_with("arn:"),
        PolicyKind::Bucket(bucket) => match resource.strip_prefix("arn:aws:s3:::") {
            Some(path) => {
                let bucket_part = path.split('/').next().unwrap_or_default();
                wildcard_match(bucket_part, bucket)
            }
            None => false,
        },
    }
}

/// S3 refuses a bucket-policy statement none of whose actions can act on any of its resources
/// (`s3:GetObject` on `arn:aws:s3:::bucket`, `s3:ListBucket` on `arn:aws:s3:::bucket/*`).
/// `NotAction` / `NotResource` statements are not checked.
fn some_action_applies(actions: &[String], resources: &[Template], bucket: &str) -> bool {
    use actions::ResourceKind;
    let mut kinds = Vec::new();
    for action in actions {
        match action.split_once(':') {
            Some((_, name)) => kinds.extend(actions::known_actions_named(name).map(actions::resource_kind_of)),
            None => kinds.extend([ResourceKind::Account, ResourceKind::Bucket, ResourceKind::Object]),
        }
    }
    let bucket_arn = actions::bucket_arn(bucket);
    let object_prefix = format!("{bucket_arn}/");
    resources.iter().any(|resource| {
        let raw = resource.as_str();
        let tokens: Vec<_> = glob::wildcard_tokens(raw).collect();
        kinds.iter().any(|kind| match kind {
            ResourceKind::Account => raw == "*",
            ResourceKind::Bucket => glob::matches(&tokens, &bucket_arn, false),
            ResourceKind::Object | ResourceKind::CopySource => glob::can_match_with_prefix(&tokens, &object_prefix),
        })
    })
}

fn parse_conditions(block: &Map<String, Value>, version: Version) -> Result<Vec<Condition>, MalformedPolicy> {
    let mut conditions = Vec::new();
    for (name, entries) in block {
        let operator = Operator::parse(name).ok_or_else(|| MalformedPolicy::UnknownConditionOperator(name.clone()))?;
        let Value::Object(entries) = entries else {
            return Err(MalformedPolicy::InvalidValue("Condition"));
        };
        for (key, values) in entries {
            if key.is_empty() {
                return Err(MalformedPolicy::InvalidValue("Condition"));
            }
            let values = condition_values(values)
                .ok_or(MalformedPolicy::InvalidValue("Condition"))?
                .into_iter()
                .map(|v| {
                    if version.has_variables() && operator.takes_variables() {
                        Template::with_variables(&v)
                    } else {
                        Template::literal(&v)
                    }
                })
                .collect();
            conditions.push(Condition { operator, key: key.clone(), values });
        }
    }
    Ok(conditions)
}

/// A scalar (string, number, bool) or an array of scalars, each as its text.
fn condition_values(v: &Value) -> Option<Vec<String>> {
    fn scalar(v: &Value) -> Option<String> {
        match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }
    match v {
        Value::Array(items) => items.iter().map(scalar).collect(),
        other => scalar(other).map(|s| vec![s]),
    }
}

fn reject_unknown(map: &Map<String, Value>, known: &[&str]) -> Result<(), MalformedPolicy> {
    match map.keys().find(|k| !known.contains(&k.as_str())) {
        Some(unknown) => Err(MalformedPolicy::UnknownField(unknown.clone())),
        None => Ok(()),
    }
}

fn optional_string(map: &Map<String, Value>, field: &'static str) -> Result<Option<String>, MalformedPolicy> {
    match map.get(field) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(MalformedPolicy::InvalidValue(field)),
    }
}

fn display(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
