//! The IAM query API on the S3 endpoint (`aws iam --endpoint-url ...`, boto3's `iam`
//! client): users, access keys and inline user policies, with IAM's XML and error codes.
//! Only the root user, or a user whose identity policies allow the `iam:` action, may call.

use crate::{Directory, Principal};
use holdfast_lock::UtcMillis;
use holdfast_meta::{AccessKey, MetaError, User};
use holdfast_policy::{Context, Decision, Policy, Request, authorize};
use rand::Rng;
use std::collections::HashMap;

const NS: &str = "https://iam.amazonaws.com/doc/2010-05-08/";

pub struct IamResponse {
    pub status: u16,
    pub body: String,
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&apos;")
}

/// An IAM error: (status, code, message).
struct IamError(u16, &'static str, String);

impl From<MetaError> for IamError {
    fn from(e: MetaError) -> Self {
        match e {
            MetaError::NoSuchEntity(m) => Self(404, "NoSuchEntity", m),
            MetaError::EntityAlreadyExists(m) => Self(409, "EntityAlreadyExists", m),
            MetaError::DeleteConflict(m) => Self(409, "DeleteConflict", m),
            MetaError::LimitExceeded(m) => Self(409, "LimitExceeded", m),
            other => {
                tracing::error!(error = %other, "identity store failure");
                Self(500, "ServiceFailure", "Request processing has failed due to some unknown error.".into())
            }
        }
    }
}

fn validation(m: impl Into<String>) -> IamError {
    IamError(400, "ValidationError", m.into())
}

fn random(prefix: &str, len: usize, alphabet: &[u8]) -> String {
    let mut rng = rand::rng();
    let tail: String = (0..len).map(|_| alphabet[rng.random_range(0..alphabet.len())] as char).collect();
    format!("{prefix}{tail}")
}

const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const SECRET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// `[\w+=,.@-]{1,64}`, IAM's user and policy name pattern.
fn valid_name(s: &str, max: usize) -> bool {
    !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"_+=,.@-".contains(&b))
}

pub struct Iam<'a> {
    pub dir: &'a Directory,
    pub caller: &'a Principal,
    pub request_id: &'a str,
}

type Params = HashMap<String, String>;

fn param<'p>(p: &'p Params, name: &str) -> Result<&'p str, IamError> {
    p.get(name).map(String::as_str).ok_or_else(|| {
        validation(format!(
            "1 validation error detected: Value null at '{name}' failed to satisfy constraint: Member must not be null"
        ))
    })
}

fn user_name(p: &Params) -> Result<&str, IamError> {
    let n = param(p, "UserName")?;
    if !valid_name(n, 64) {
        return Err(validation(format!("The specified value for userName is invalid: {n}")));
    }
    Ok(n)
}

impl Iam<'_> {
    /// Handles one form-encoded IAM request.
    pub async fn handle(&self, form: &[u8]) -> IamResponse {
        let params: Params = form_urlencoded::parse(form).into_owned().collect();
        let action = params.get("Action").cloned().unwrap_or_default();
        match self.dispatch(&action, &params).await {
            Ok(result) => IamResponse {
                status: 200,
                body: format!(
                    "<{action}Response xmlns=\"{NS}\">{result}<ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata></{action}Response>",
                    self.request_id
                ),
            },
            Err(IamError(status, code, message)) => error_response(status, code, &message, self.request_id),
        }
    }

    fn user_arn(&self, name: &str) -> String {
        format!("arn:aws:iam::{}:user/{name}", self.dir.account_id())
    }

    async fn allow(&self, action: &str, resource: &str) -> Result<(), IamError> {
        let denied = || {
            IamError(
                403,
                "AccessDenied",
                format!("User is not authorized to perform: {action} on resource: {resource}"),
            )
        };
        let caller = match self.caller {
            Principal::Root => return Ok(()),
            // Other accounts have no IAM users here; their roots manage nothing in IAM.
            Principal::AccountRoot { .. } | Principal::Anonymous => return Err(denied()),
            Principal::User { name, id } => holdfast_policy::Principal::user(self.dir.account_id(), name, id),
        };
        let docs = self.dir.identity_policies(self.caller).await?;
        let policies: Vec<Policy> = docs.iter().filter_map(|d| Policy::parse_identity(d).ok()).collect();
        let mut context = Context::new();
        context.set_principal(&caller);
        context.set_time(UtcMillis::now_system().millis());
        let request = Request { principal: &caller, action, resource, context: &context };
        match authorize(&policies, None, &request) {
            Decision::Allow => Ok(()),
            _ => Err(denied()),
        }
    }

    fn user_xml(&self, u: &User) -> String {
        format!("<User>{}</User>", self.user_fields(u))
    }

    fn user_fields(&self, u: &User) -> String {
        format!(
            "<Path>{}</Path><UserName>{}</UserName><UserId>{}</UserId><Arn>{}</Arn><CreateDate>{}</CreateDate>",
            esc(&u.path),
            esc(&u.name),
            esc(&u.id),
            esc(&self.user_arn(&u.name)),
            u.created.to_iso8601()
        )
    }

    /// The user a request names, or the caller itself when it names none.
    fn target_user<'p>(&'p self, p: &'p Params) -> Result<&'p str, IamError> {
        if p.contains_key("UserName") {
            return user_name(p);
        }
        match self.caller {
            Principal::User { name, .. } => Ok(name),
            _ => Err(validation("UserName is required when the caller is the root user")),
        }
    }

    async fn dispatch(&self, action: &str, p: &Params) -> Result<String, IamError> {
        let store = self.dir.store();
        match action {
            "CreateUser" => {
                let name = user_name(p)?;
                self.allow("iam:CreateUser", &self.user_arn(name)).await?;
                let path = p.get("Path").cloned().unwrap_or_else(|| "/".into());
                if !path.starts_with('/') || !path.ends_with('/') {
                    return Err(validation(
                        "The specified value for path is invalid. It must begin and end with / and contain only alphanumeric characters and/or / characters.",
                    ));
                }
                let user = User {
                    name: name.to_owned(),
                    id: random("AIDA", 17, UPPER),
                    path,
                    created: UtcMillis::now_system(),
                };
                store.create_user(user.clone()).await?;
                Ok(format!("<CreateUserResult>{}</CreateUserResult>", self.user_xml(&user)))
            }
            "GetUser" => {
                let name = self.target_user(p)?;
                self.allow("iam:GetUser", &self.user_arn(name)).await?;
                let user = store
                    .user(name)
                    .await?
                    .ok_or_else(|| MetaError::NoSuchEntity(format!("The user with name {name} cannot be found.")))?;
                Ok(format!("<GetUserResult>{}</GetUserResult>", self.user_xml(&user)))
            }
            "ListUsers" => {
                self.allow("iam:ListUsers", &format!("arn:aws:iam::{}:user/", self.dir.account_id())).await?;
                let prefix = p.get("PathPrefix").map_or("/", String::as_str);
                let users: String = store
                    .users()
                    .await?
                    .iter()
                    .filter(|u| u.path.starts_with(prefix))
                    .map(|u| format!("<member>{}</member>", self.user_fields(u)))
                    .collect();
                Ok(format!("<ListUsersResult><Users>{users}</Users><IsTruncated>false</IsTruncated></ListUsersResult>"))
            }
            "DeleteUser" => {
                let name = user_name(p)?;
                self.allow("iam:DeleteUser", &self.user_arn(name)).await?;
                store.delete_user(name).await?;
                Ok(String::new())
            }
            "CreateAccessKey" => {
                let name = self.target_user(p)?;
                self.allow("iam:CreateAccessKey", &self.user_arn(name)).await?;
                let secret = random("", 40, SECRET);
                let key = AccessKey {
                    access_key_id: random("AKIA", 16, UPPER),
                    user: name.to_owned(),
                    sealed_secret: self.dir.sealer().seal(&secret),
                    active: true,
                    created: UtcMillis::now_system(),
                };
                store.create_access_key(key.clone()).await?;
                Ok(format!(
                    "<CreateAccessKeyResult><AccessKey><UserName>{}</UserName><AccessKeyId>{}</AccessKeyId><Status>Active</Status><SecretAccessKey>{}</SecretAccessKey><CreateDate>{}</CreateDate></AccessKey></CreateAccessKeyResult>",
                    esc(name),
                    key.access_key_id,
                    esc(&secret),
                    key.created.to_iso8601()
                ))
            }
            "ListAccessKeys" => {
                let name = self.target_user(p)?;
                self.allow("iam:ListAccessKeys", &self.user_arn(name)).await?;
                let keys: String = store
                    .access_keys(name)
                    .await?
                    .iter()
                    .map(|k| {
                        format!(
                            "<member><UserName>{}</UserName><AccessKeyId>{}</AccessKeyId><Status>{}</Status><CreateDate>{}</CreateDate></member>",
                            esc(&k.user),
                            k.access_key_id,
                            if k.active { "Active" } else { "Inactive" },
                            k.created.to_iso8601()
                        )
                    })
                    .collect();
                Ok(format!(
                    "<ListAccessKeysResult><UserName>{}</UserName><AccessKeyMetadata>{keys}</AccessKeyMetadata><IsTruncated>false</IsTruncated></ListAccessKeysResult>",
                    esc(name)
                ))
            }
            "UpdateAccessKey" => {
                let name = self.target_user(p)?;
                self.allow("iam:UpdateAccessKey", &self.user_arn(name)).await?;
                let id = param(p, "AccessKeyId")?;
                let active = match param(p, "Status")? {
                    "Active" => true,
                    "Inactive" => false,
                    other => {
                        return Err(validation(format!(
                            "1 validation error detected: Value '{other}' at 'status' failed to satisfy constraint: Member must satisfy enum value set: [Active, Inactive]"
                        )));
                    }
                };
                store.set_access_key_active(name, id, active).await?;
                Ok(String::new())
            }
            "DeleteAccessKey" => {
                let name = self.target_user(p)?;
                self.allow("iam:DeleteAccessKey", &self.user_arn(name)).await?;
                store.delete_access_key(name, param(p, "AccessKeyId")?).await?;
                Ok(String::new())
            }
            "PutUserPolicy" => {
                let name = user_name(p)?;
                self.allow("iam:PutUserPolicy", &self.user_arn(name)).await?;
                let policy_name = param(p, "PolicyName")?;
                if !valid_name(policy_name, 128) {
                    return Err(validation(format!("The specified value for policyName is invalid: {policy_name}")));
                }
                let doc = param(p, "PolicyDocument")?;
                Policy::parse_identity(doc).map_err(|e| IamError(400, "MalformedPolicyDocument", e.to_string()))?;
                store.put_user_policy(name, policy_name, doc).await?;
                Ok(String::new())
            }
            "GetUserPolicy" => {
                let name = user_name(p)?;
                self.allow("iam:GetUserPolicy", &self.user_arn(name)).await?;
                let policy_name = param(p, "PolicyName")?;
                let doc = store.user_policy(name, policy_name).await?.ok_or_else(|| {
                    MetaError::NoSuchEntity(format!("The user policy with name {policy_name} cannot be found."))
                })?;
                // IAM returns the document URL-encoded (RFC 3986), as clients expect.
                let encoded: String =
                    form_urlencoded::byte_serialize(doc.as_bytes()).collect::<String>().replace('+', "%20");
                Ok(format!(
                    "<GetUserPolicyResult><UserName>{}</UserName><PolicyName>{}</PolicyName><PolicyDocument>{}</PolicyDocument></GetUserPolicyResult>",
                    esc(name),
                    esc(policy_name),
                    esc(&encoded)
                ))
            }
            "ListUserPolicies" => {
                let name = user_name(p)?;
                self.allow("iam:ListUserPolicies", &self.user_arn(name)).await?;
                let names: String = store
                    .user_policies(name)
                    .await?
                    .iter()
                    .map(|(n, _)| format!("<member>{}</member>", esc(n)))
                    .collect();
                Ok(format!(
                    "<ListUserPoliciesResult><PolicyNames>{names}</PolicyNames><IsTruncated>false</IsTruncated></ListUserPoliciesResult>"
                ))
            }
            "DeleteUserPolicy" => {
                let name = user_name(p)?;
                self.allow("iam:DeleteUserPolicy", &self.user_arn(name)).await?;
                store.delete_user_policy(name, param(p, "PolicyName")?).await?;
                Ok(String::new())
            }
            "" => Err(IamError(400, "MissingAction", "Missing Action".into())),
            other => {
                Err(IamError(400, "InvalidAction", format!("Could not find operation {other} for version 2010-05-08")))
            }
        }
    }
}

pub fn error_response(status: u16, code: &str, message: &str, request_id: &str) -> IamResponse {
    let kind = if status >= 500 { "Receiver" } else { "Sender" };
    IamResponse {
        status,
        body: format!(
            "<ErrorResponse xmlns=\"{NS}\"><Error><Type>{kind}</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>",
            esc(code),
            esc(message)
        ),
    }
}
