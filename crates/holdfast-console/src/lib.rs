//! The web console (issue #16): server-rendered pages under [`MOUNT`] on the S3 listener.
//! Every read and every action is an S3 call signed as the signed-in principal and handed to
//! the same edge the listener serves (see [`calls`]); the installation-wide pages (lock
//! report, audit trail, backlogs) read the engine and the trail and are shown to the root
//! principal only. No script: forms, links and inline SVG rendered here.

mod calls;
mod form;
mod html;
mod pages;
mod session;
mod svg;
mod xml;

use bytes::Bytes;
use holdfast_api::edge::Edge;
use holdfast_identity::{Directory, Principal};
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use session::{Session, Sessions};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where the console is served on the S3 listener. `/_holdfast/` is no bucket name S3
/// allows (a bucket name has no `_`), so path-style S3 requests never reach it; a
/// virtual-hosted request (`bucket.<base-domain>/_holdfast/...`) names an object and the
/// server leaves it to S3 (see [`Console::claims`]).
pub const MOUNT: &str = "/_holdfast/console";
const COOKIE: &str = "hf_console";
const PRE_COOKIE: &str = "hf_console_signin";
/// Form bodies are a few fields.
pub const MAX_FORM: usize = 16 << 10;
const CSP: &str = "default-src 'self'; script-src 'none'; object-src 'none'; base-uri 'none'; \
                   form-action 'self'; frame-ancestors 'none'; img-src 'self' data:";

/// `[console]` settings.
#[derive(Debug, Clone)]
pub struct ConsoleSettings {
    pub enabled: bool,
    /// A session unused this long is gone.
    pub idle: Duration,
    /// Sessions alive at most.
    pub max_sessions: usize,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        Self { enabled: true, idle: Duration::from_secs(900), max_sessions: 1000 }
    }
}

/// What the console reads besides the S3 API.
pub struct Backends {
    pub edge: Arc<Edge>,
    pub dir: Arc<Directory>,
    pub engine: Arc<holdfast_engine::Engine>,
    pub audit: Option<Arc<holdfast_audit::AuditLog>>,
    pub region: String,
    /// The base domain of virtual-hosted requests, if any.
    pub base_domain: Option<String>,
    /// Cookies are `Secure` (HTTPS listener).
    pub tls: bool,
    /// The audit anchors' bucket and prefix, when anchors are kept on this server.
    pub anchors: Option<(String, String)>,
}

pub struct Console {
    settings: ConsoleSettings,
    sessions: Sessions,
    b: Backends,
}

/// A request as the console sees it: body read whole (bounded by [`MAX_FORM`]).
pub struct Req {
    pub method: Method,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: http::HeaderMap,
    pub body: Bytes,
    pub peer: SocketAddr,
}

impl Req {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// What a handler answers.
pub enum Reply {
    Html(StatusCode, String),
    Redirect(String),
}

impl Console {
    pub fn new(settings: ConsoleSettings, backends: Backends) -> Self {
        let sessions = Sessions::new(settings.idle, settings.max_sessions);
        Self { settings, sessions, b: backends }
    }

    pub fn settings(&self) -> &ConsoleSettings {
        &self.settings
    }

    /// Whether a request is the console's: its path under [`MOUNT`], and not addressed to a
    /// virtual-hosted bucket (there the path is an object key, and S3 answers).
    pub fn claims<B>(&self, req: &Request<B>) -> bool {
        let path = req.uri().path();
        // Asked of every request the server takes: no string is built for it.
        if !path.strip_prefix(MOUNT).is_some_and(|rest| rest.is_empty() || rest.starts_with('/')) {
            return false;
        }
        let Some(domain) = self.b.base_domain.as_deref() else { return true };
        let host = req.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default();
        let name =
            host.rsplit_once(':').filter(|(_, p)| p.bytes().all(|b| b.is_ascii_digit())).map_or(host, |(h, _)| h);
        let name = name.to_ascii_lowercase();
        !(name.len() > domain.len() + 1
            && name.ends_with(&domain.to_ascii_lowercase())
            && name[..name.len() - domain.len()].ends_with('.'))
    }

    /// Answers one request of the console.
    pub async fn handle(&self, parts: http::request::Parts, body: Bytes, peer: SocketAddr) -> Response<Bytes> {
        let started = Instant::now();
        let req = Req {
            method: parts.method.clone(),
            path: parts.uri.path()[MOUNT.len()..].to_owned(),
            query: form::parse(parts.uri.query().unwrap_or_default()),
            headers: parts.headers,
            body,
            peer,
        };
        let mut resp = self.route(&req).await;
        let h = resp.headers_mut();
        h.insert("content-security-policy", HeaderValue::from_static(CSP));
        h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
        h.insert("x-frame-options", HeaderValue::from_static("DENY"));
        h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
        h.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
        if !h.contains_key(header::CACHE_CONTROL) {
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
        // The time spent here, for the paging measurement (scripts/bench-console.sh).
        if let Ok(v) = HeaderValue::from_str(&format!("app;dur={:.3}", started.elapsed().as_secs_f64() * 1000.0)) {
            h.insert("server-timing", v);
        }
        resp
    }

    async fn route(&self, req: &Req) -> Response<Bytes> {
        let (m, p) = (&req.method, req.path.as_str());
        if p == "/style.css" && *m == Method::GET {
            let mut r = Response::new(Bytes::from_static(html::CSS.as_bytes()));
            r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/css; charset=utf-8"));
            r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("max-age=300"));
            return r;
        }
        if p == "/signin" {
            return match *m {
                Method::GET => {
                    let note = if req.param("expired").is_some() {
                        Some("Your session expired (idle too long). Sign in again.")
                    } else if req.param("signedout").is_some() {
                        Some("Signed out.")
                    } else {
                        None
                    };
                    self.signin_form(None, note)
                }
                Method::POST => self.signin(req).await,
                _ => method_not_allowed(),
            };
        }
        if p.is_empty() && *m == Method::GET {
            return redirect(&format!("{MOUNT}/"));
        }
        let Some((sid, session)) = self.session_of(req) else {
            if *m == Method::POST {
                return self
                    .forbidden(None, "Your session has ended (signed out or idle too long); nothing was changed.");
            }
            let expired = cookie(&req.headers, COOKIE).is_some();
            let to = if expired { format!("{MOUNT}/signin?expired=1") } else { format!("{MOUNT}/signin") };
            return redirect(&to);
        };
        if *m == Method::POST {
            let fields = form::parse(&String::from_utf8_lossy(&req.body));
            let token = fields.iter().find(|(k, _)| k == "csrf").map(|(_, v)| v.as_str()).unwrap_or_default();
            if !session::same_token(token, &session.csrf) {
                return self
                    .forbidden(Some(&session), "The form's security token is missing or wrong; nothing was changed.");
            }
            if p == "/signout" {
                self.sessions.close(&sid);
                let mut r = redirect(&format!("{MOUNT}/signin?signedout=1"));
                r.headers_mut().insert(header::SET_COOKIE, self.clear_cookie(COOKIE));
                return r;
            }
            let reply = pages::version::act(self, &session, req, &fields, p).await;
            return reply.into_response();
        }
        if *m != Method::GET {
            return method_not_allowed();
        }
        let reply = match p {
            "/" => pages::buckets::page(self, &session, req).await,
            "/bucket" => pages::objects::page(self, &session, req).await,
            "/version" => pages::version::page(self, &session, req).await,
            "/report" | "/audit" | "/backlogs" if !session.is_root => Reply::Html(
                StatusCode::FORBIDDEN,
                html::page(
                    "Not for this principal",
                    Some(&session),
                    "<p>The installation-wide pages (lock report, audit trail, backlogs) are shown to the root \
                     principal only.</p>",
                ),
            ),
            "/report" => pages::report::page(self, &session).await,
            "/audit" => pages::admin::audit(self, &session).await,
            "/backlogs" => pages::admin::backlogs(self, &session).await,
            _ => Reply::Html(StatusCode::NOT_FOUND, html::page("Not found", Some(&session), "<p>No such page.</p>")),
        };
        reply.into_response()
    }

    fn session_of(&self, req: &Req) -> Option<(String, Session)> {
        let sid = cookie(&req.headers, COOKIE)?;
        let s = self.sessions.get(&sid)?;
        Some((sid, s))
    }

    fn forbidden(&self, session: Option<&Session>, why: &str) -> Response<Bytes> {
        let body = format!("<div class=\"refusal\" role=\"alert\"><p>{}</p></div>", html::esc(why));
        Reply::Html(StatusCode::FORBIDDEN, html::page("Refused", session, &body)).into_response()
    }

    fn cookie_value(&self, name: &str, value: &str, max_age: Option<u64>) -> HeaderValue {
        let secure = if self.b.tls { "; Secure" } else { "" };
        let age = max_age.map(|a| format!("; Max-Age={a}")).unwrap_or_default();
        HeaderValue::from_str(&format!("{name}={value}; Path={MOUNT}; HttpOnly; SameSite=Strict{secure}{age}"))
            .expect("tokens are hex")
    }

    fn clear_cookie(&self, name: &str) -> HeaderValue {
        self.cookie_value(name, "", Some(0))
    }

    /// The sign-in form. A sign-in form carries a token that must match a cookie set with it
    /// (double submit): another site cannot sign a browser in under its own keys.
    fn signin_form(&self, refusal: Option<&calls::Refusal>, note: Option<&str>) -> Response<Bytes> {
        let pre = session::token();
        let mut body = String::new();
        if let Some(r) = refusal {
            body.push_str(&html::refusal(r));
        }
        if let Some(n) = note {
            body.push_str(&html::notice(n));
        }
        body.push_str(&format!(
            "<form class=\"stack\" method=\"post\" action=\"{MOUNT}/signin\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{pre}\">\
             <label for=\"access_key\">Access key</label>\
             <input id=\"access_key\" name=\"access_key\" autocomplete=\"username\" required spellcheck=\"false\">\
             <label for=\"secret_key\">Secret key</label>\
             <input id=\"secret_key\" name=\"secret_key\" type=\"password\" autocomplete=\"current-password\" required>\
             <button type=\"submit\">Sign in</button></form>\
             <p class=\"muted\">The root keys, an IAM user's keys, or another account's root keys. The secret stays \
             on the server for the session; every action is checked and audited as that principal.</p>"
        ));
        let status = if refusal.is_some() { StatusCode::FORBIDDEN } else { StatusCode::OK };
        let mut r = Reply::Html(status, html::page("Sign in", None, &body)).into_response();
        r.headers_mut().insert(header::SET_COOKIE, self.cookie_value(PRE_COOKIE, &pre, None));
        r
    }

    async fn signin(&self, req: &Req) -> Response<Bytes> {
        let fields = form::parse(&String::from_utf8_lossy(&req.body));
        let get = |n: &str| fields.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str()).unwrap_or_default();
        let pre = cookie(&req.headers, PRE_COOKIE).unwrap_or_default();
        if pre.is_empty() || !session::same_token(get("csrf"), &pre) {
            return self.forbidden(
                None,
                "The sign-in form's security token is missing or wrong; sign in again from the form.",
            );
        }
        let (key, secret) = (get("access_key").trim(), get("secret_key"));
        // The API's words: an unknown or inactive key, a secret that does not match.
        let refused =
            |code: &str, message: &str| calls::Refusal { status: 403, code: code.into(), message: message.into() };
        let found = match self.b.dir.lookup(key).await {
            Ok(f) => f,
            Err(e) => {
                tracing::error!(error = %e, "console sign-in: cannot read the identity directory");
                return self.signin_form(
                    Some(&refused("InternalError", "We encountered an internal error. Please try again.")),
                    None,
                );
            }
        };
        let Some((principal, stored)) = found else {
            tracing::info!(target: "holdfast::console", access_key = key, "sign-in refused: unknown key");
            return self.signin_form(
                Some(&refused(
                    "InvalidAccessKeyId",
                    "The AWS Access Key Id you provided does not exist in our records.",
                )),
                None,
            );
        };
        if !session::same_token(secret, &stored) {
            tracing::info!(target: "holdfast::console", access_key = key, "sign-in refused: wrong secret");
            return self.signin_form(
                Some(&refused(
                    "SignatureDoesNotMatch",
                    "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
                )),
                None,
            );
        }
        let (name, is_root) = match &principal {
            Principal::Root => ("root".to_owned(), true),
            Principal::User { name, .. } => (format!("user/{name}"), false),
            Principal::AccountRoot { account_id } => (format!("account/{account_id}"), false),
            Principal::Anonymous => ("anonymous".to_owned(), false),
        };
        tracing::info!(target: "holdfast::console", principal = %name, "signed in");
        let sid = self.sessions.open(name, is_root, key.to_owned(), secret.to_owned());
        let mut r = redirect(&format!("{MOUNT}/"));
        r.headers_mut().append(header::SET_COOKIE, self.cookie_value(COOKIE, &sid, None));
        r.headers_mut().append(header::SET_COOKIE, self.clear_cookie(PRE_COOKIE));
        r
    }

    /// An S3 call as `session`'s principal.
    async fn call(&self, session: &Session, req: &Req, call: calls::Call<'_>) -> calls::Answer {
        calls::send(&self.b.edge, &self.b.region, session, req.peer, call).await
    }
}

impl Reply {
    fn into_response(self) -> Response<Bytes> {
        match self {
            Reply::Html(status, text) => {
                let mut r = Response::new(Bytes::from(text));
                *r.status_mut() = status;
                r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
                r
            }
            Reply::Redirect(to) => redirect(&to),
        }
    }
}

fn redirect(to: &str) -> Response<Bytes> {
    let mut r = Response::new(Bytes::new());
    *r.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

fn method_not_allowed() -> Response<Bytes> {
    let mut r = Response::new(Bytes::from_static(b"method not allowed\n"));
    *r.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    r
}

/// The value of cookie `name`.
fn cookie(headers: &http::HeaderMap, name: &str) -> Option<String> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|c| {
        let (k, v) = c.trim().split_once('=')?;
        (k == name && !v.is_empty()).then(|| v.to_owned())
    })
}
