//! A version: its headers, lock state, replication status, lock timeline, why a delete is
//! refused; and the actions on it (retention, legal hold, GOVERNANCE bypass delete), each an
//! S3 call as the signed-in principal so that a refusal is the API's, word for word.

use crate::calls::{self, Call, Refusal};
use crate::html::{self, enc, esc};
use crate::session::Session;
use crate::{Console, Reply, Req};
use bytes::Bytes;
use holdfast_engine::model::{HistoryOrder, LockHistoryQuery, VersionSelector};
use http::{Method, StatusCode};

/// Lock changes a timeline page shows.
const TIMELINE_PAGE: usize = 50;

const S3_NS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// The headers a version page lists, in this order.
const SHOWN: [&str; 11] = [
    "content-type",
    "content-length",
    "etag",
    "last-modified",
    "x-amz-version-id",
    "x-amz-object-lock-mode",
    "x-amz-object-lock-retain-until-date",
    "x-amz-object-lock-legal-hold",
    "x-amz-replication-status",
    "x-amz-server-side-encryption",
    "x-amz-storage-class",
];

pub async fn page(c: &Console, s: &Session, req: &Req) -> Reply {
    let bucket = req.param("bucket").unwrap_or_default();
    let key = req.param("key").unwrap_or_default();
    let version = req.param("version").unwrap_or_default();
    let note = req.param("done").map(|d| match d {
        "retention" => "Retention set.",
        "hold-on" => "Legal hold set.",
        "hold-off" => "Legal hold lifted.",
        _ => "Done.",
    });
    render(c, s, req, bucket, key, version, None, note, false).await
}

#[allow(clippy::too_many_arguments)]
async fn render(
    c: &Console,
    s: &Session,
    req: &Req,
    bucket: &str,
    key: &str,
    version: &str,
    refusal: Option<&Refusal>,
    note: Option<&str>,
    bypass_attempt: bool,
) -> Reply {
    let title = key.to_owned();
    let head = c.call(s, req, head_call(bucket, key, version)).await;
    let m = crate::MOUNT;
    let mut body = format!(
        "<nav class=\"crumbs\" aria-label=\"Location\"><a href=\"{m}/bucket?name={qb}\">{b}</a> · version <code>{v}</code></nav>",
        qb = enc(bucket),
        b = esc(bucket),
        v = esc(version)
    );
    if let Some(r) = refusal {
        body.push_str(&html::refusal(r));
    }
    if let Some(n) = note {
        body.push_str(&html::notice(n));
    }
    let marker = head.header("x-amz-delete-marker") == Some("true");
    if !head.ok() && !marker {
        // HEAD answers without a body: the code is the status's.
        let r = Refusal {
            status: head.status,
            code: match head.status {
                403 => "AccessDenied".into(),
                404 => "NoSuchVersion".into(),
                n => format!("HTTP {n}"),
            },
            message: match head.status {
                403 => "Access Denied".into(),
                404 => "The specified version does not exist.".into(),
                _ => String::new(),
            },
        };
        body.push_str(&html::refusal(&r));
        let status = StatusCode::from_u16(head.status).unwrap_or(StatusCode::FORBIDDEN);
        return Reply::Html(status, html::page(&title, Some(s), &body));
    }
    let mode = head.header("x-amz-object-lock-mode").unwrap_or_default().to_owned();
    let until = head.header("x-amz-object-lock-retain-until-date").unwrap_or_default().to_owned();
    let hold = head.header("x-amz-object-lock-legal-hold").unwrap_or("OFF").to_owned();
    body.push_str("<h2>Lock state</h2><dl class=\"facts\">");
    body.push_str(&format!(
        "<dt>Retention</dt><dd>{}</dd><dt>Legal hold</dt><dd class=\"hold-{h}\">{h}</dd><dt>Replication</dt><dd>{r}</dd></dl>",
        if mode.is_empty() { "none".to_owned() } else { format!("<span class=\"mode-{m}\">{m}</span> until {u}", m = esc(&mode), u = esc(&until)) },
        h = esc(&hold),
        r = esc(head.header("x-amz-replication-status").unwrap_or("none (not replicated)")),
    ));
    // Lock details go to whoever may read the version's retention or legal hold (the API
    // decides, as for GetObjectRetention / GetObjectLegalHold).
    let may_see_lock = may_read_lock(c, s, req, bucket, key, version).await;
    if may_see_lock {
        body.push_str(&why(c, bucket, key, version, refusal.filter(|_| bypass_attempt)).await);
        body.push_str(&timeline(c, bucket, key, version, req.param("history")).await);
    } else {
        body.push_str(
            "<h2>Why can't I delete this?</h2><p class=\"muted\">Not shown: this principal may read neither the \
             retention nor the legal hold of this version.</p>",
        );
    }
    body.push_str("<h2>Headers</h2><dl class=\"facts\">");
    for name in SHOWN {
        if let Some(v) = head.header(name) {
            body.push_str(&format!("<dt>{}</dt><dd class=\"mono\">{}</dd>", esc(name), esc(v)));
        }
    }
    for (name, v) in head.headers.iter() {
        if name.as_str().starts_with("x-amz-meta-") {
            body.push_str(&format!(
                "<dt>{}</dt><dd class=\"mono\">{}</dd>",
                esc(name.as_str()),
                esc(v.to_str().unwrap_or("?"))
            ));
        }
    }
    if marker {
        body.push_str("<dt>kind</dt><dd>delete marker</dd>");
    }
    body.push_str("</dl>");
    body.push_str(&actions(s, bucket, key, version, &mode));
    let status = refusal.and_then(|r| StatusCode::from_u16(r.status).ok()).unwrap_or(StatusCode::OK);
    Reply::Html(status, html::page(&title, Some(s), &body))
}

async fn may_read_lock(c: &Console, s: &Session, req: &Req, bucket: &str, key: &str, version: &str) -> bool {
    for sub in ["retention", "legal-hold"] {
        let mut call = Call::get(calls::path(bucket, Some(key))).q(sub, "");
        if !version.is_empty() {
            call = call.q("versionId", version);
        }
        // 404 NoSuchObjectLockConfiguration: allowed, nothing set.
        if c.call(s, req, call).await.status != 403 {
            return true;
        }
    }
    false
}

fn selector(version: &str) -> VersionSelector {
    if version.is_empty() { VersionSelector::Latest } else { VersionSelector::Id(version.to_owned()) }
}

/// "Why can't I delete this?": the lock rules' verdict on a delete of this version now
/// (`holdfast_lock::explain_removal` through the engine), in the API's words. After a
/// bypass delete (`bypass_refused`: the API's answer to it) refused with the words of a
/// bypass not granted, the verdict for a caller without `s3:BypassGovernanceRetention`.
async fn why(c: &Console, bucket: &str, key: &str, version: &str, bypass_refused: Option<&Refusal>) -> String {
    let sel = selector(version);
    let not_granted = holdfast_lock::BYPASS_NOT_GRANTED;
    let bypass_refused = bypass_refused.is_some_and(|r| r.code == not_granted.code && r.message == not_granted.message);
    let verdict = match c.b.engine.explain_delete(bucket, key, &sel, bypass_refused, false).await {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(error = %e, "console: cannot explain a delete");
            return "<h2>Why can't I delete this?</h2><p class=\"bad\">The explanation could not be read.</p>".into();
        }
    };
    let mut items = String::new();
    match &verdict.refused {
        None => items.push_str("<li>Nothing protects this version now: a delete is decided by permissions alone.</li>"),
        Some(e) => {
            items.push_str(&format!(
                "<li id=\"why-rule\"><strong>{}</strong> <span class=\"muted\">(the API answers <code>{}</code> {}: \u{201c}{}\u{201d})</span></li>",
                esc(&e.sentence()),
                esc(e.s3.code),
                e.s3.status,
                esc(e.s3.message)
            ));
            if let Some(p) = &verdict.hold_placed {
                items.push_str(&format!(
                    "<li>The legal hold was placed by <strong>{}</strong> at {} ({}).</li>",
                    esc(p.principal.as_deref().unwrap_or("an unrecorded principal")),
                    p.time.to_iso8601(),
                    esc(&p.op)
                ));
            }
            let when = match (e.refusal, e.allowed_from) {
                (holdfast_lock::Refusal::LegalHold, _) => "when the legal hold is lifted".to_owned(),
                (_, Some(t)) => format!("from {}", t.to_iso8601()),
                (_, None) => "—".to_owned(),
            };
            items.push_str(&format!("<li>It will allow a delete <strong>{}</strong>.</li>", esc(&when)));
            if e.bypass_allows_now {
                items.push_str(
                    "<li>A caller allowed <code>s3:BypassGovernanceRetention</code> may delete it now with the bypass \
                     (the box below).</li>",
                );
            }
        }
    }
    format!(
        "<section class=\"why\" aria-labelledby=\"why-h\"><h2 id=\"why-h\">Why can't I delete this?</h2><ul>{items}</ul>\
         <p class=\"muted\">At {} (the compliance clock).</p></section>",
        verdict.now.to_iso8601()
    )
}

/// The lock timeline, oldest first, a page of changes at a time (`history` is the cursor).
async fn timeline(c: &Console, bucket: &str, key: &str, version: &str, history: Option<&str>) -> String {
    let after = history.and_then(|h| h.parse::<i64>().ok());
    let q = LockHistoryQuery { order: HistoryOrder::OldestFirst, after, limit: TIMELINE_PAGE };
    let t = match c.b.engine.lock_timeline(bucket, key, &selector(version), q).await {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(error = %e, "console: cannot read a lock timeline");
            return "<h2>Lock timeline</h2><p class=\"bad\">The lock history could not be read.</p>".into();
        }
    };
    let mut out = String::from("<h2>Lock timeline</h2><ol class=\"timeline\" id=\"timeline\">");
    for e in &t.events {
        out.push_str(&format!("<li>{}</li>", esc(&e.describe())));
    }
    out.push_str("</ol>");
    if let Some(next) = t.next {
        out.push_str(&format!(
            "<p><a href=\"{}/version?bucket={}&amp;key={}&amp;version={}&amp;history={next}\">Later changes</a></p>",
            crate::MOUNT,
            enc(bucket),
            enc(key),
            enc(version)
        ));
    }
    out
}

fn actions(s: &Session, bucket: &str, key: &str, version: &str, mode: &str) -> String {
    let m = crate::MOUNT;
    let hidden = format!(
        "{}<input type=\"hidden\" name=\"bucket\" value=\"{}\"><input type=\"hidden\" name=\"key\" value=\"{}\">\
         <input type=\"hidden\" name=\"version\" value=\"{}\">",
        html::csrf_field(s),
        esc(bucket),
        esc(key),
        esc(version)
    );
    let sel = |x: &str| if mode == x || (mode.is_empty() && x == "GOVERNANCE") { " selected" } else { "" };
    format!(
        "<h2>Actions</h2>\
         <form class=\"inline\" method=\"post\" action=\"{m}/version/retention\" id=\"retention-form\">{hidden}\
         <div><label for=\"mode\">Mode</label><br><select id=\"mode\" name=\"mode\">\
         <option{g}>GOVERNANCE</option><option{c}>COMPLIANCE</option></select></div>\
         <div><label for=\"until\">Retain until (UTC date)</label><br><input id=\"until\" name=\"until\" type=\"date\" required></div>\
         <div><label><input type=\"checkbox\" name=\"bypass\" value=\"1\"> bypass GOVERNANCE (to shorten)</label></div>\
         <button type=\"submit\">Set retention</button></form>\
         <form class=\"inline\" method=\"post\" action=\"{m}/version/legal-hold\" id=\"hold-on-form\">{hidden}\
         <input type=\"hidden\" name=\"status\" value=\"ON\"><button type=\"submit\" id=\"hold-on\">Set legal hold</button></form>\
         <form class=\"inline\" method=\"post\" action=\"{m}/version/legal-hold\" id=\"hold-off-form\">{hidden}\
         <input type=\"hidden\" name=\"status\" value=\"OFF\"><button type=\"submit\" id=\"hold-off\">Lift legal hold</button></form>\
         <h2>Delete this version</h2>\
         <form class=\"stack\" method=\"post\" action=\"{m}/version/delete\" id=\"delete-form\">{hidden}\
         <label for=\"confirm\">Type the key <code>{k}</code> to confirm</label>\
         <input id=\"confirm\" name=\"confirm\" autocomplete=\"off\" required spellcheck=\"false\">\
         <label><input type=\"checkbox\" name=\"bypass\" value=\"1\" id=\"bypass\"> bypass GOVERNANCE retention \
         (needs s3:BypassGovernanceRetention)</label>\
         <button type=\"submit\" class=\"danger\">Delete version permanently</button></form>",
        g = sel("GOVERNANCE"),
        c = sel("COMPLIANCE"),
        k = esc(key),
    )
}

fn head_call(bucket: &str, key: &str, version: &str) -> Call<'static> {
    let mut c = Call::get(calls::path(bucket, Some(key)));
    c.method = Method::HEAD;
    if !version.is_empty() {
        c = c.q("versionId", version);
    }
    c
}

/// A POST under `/version/...`.
pub async fn act(c: &Console, s: &Session, req: &Req, fields: &[(String, String)], path: &str) -> Reply {
    let get = |n: &str| fields.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str()).unwrap_or_default();
    let (bucket, key, version) = (get("bucket"), get("key"), get("version"));
    let target = |done: &str| {
        format!("{}/version?bucket={}&key={}&version={}&done={done}", crate::MOUNT, enc(bucket), enc(key), enc(version))
    };
    let mut call = Call::get(calls::path(bucket, Some(key)));
    call.method = Method::PUT;
    if !version.is_empty() {
        call = call.q("versionId", version);
    }
    let done = match path {
        "/version/retention" => {
            let mode = get("mode");
            let Some(until) = retain_until(get("until")) else {
                let r = Refusal {
                    status: 400,
                    code: "InvalidArgument".into(),
                    message: "Retain until must be a date (YYYY-MM-DD).".into(),
                };
                return render(c, s, req, bucket, key, version, Some(&r), None, false).await;
            };
            call = call.q("retention", "");
            if get("bypass") == "1" {
                call = call.h("x-amz-bypass-governance-retention", "true");
            }
            call.body = Bytes::from(format!(
                "<Retention xmlns=\"{S3_NS}\"><Mode>{}</Mode><RetainUntilDate>{until}</RetainUntilDate></Retention>",
                esc(mode)
            ));
            "retention"
        }
        "/version/legal-hold" => {
            let status = if get("status") == "ON" { "ON" } else { "OFF" };
            call = call.q("legal-hold", "");
            call.body = Bytes::from(format!("<LegalHold xmlns=\"{S3_NS}\"><Status>{status}</Status></LegalHold>"));
            if status == "ON" { "hold-on" } else { "hold-off" }
        }
        "/version/delete" => {
            if get("confirm") != key {
                let r = Refusal {
                    status: 400,
                    code: "ConfirmationMismatch".into(),
                    message: "The typed key does not match; nothing was deleted.".into(),
                };
                return render(c, s, req, bucket, key, version, Some(&r), None, false).await;
            }
            call.method = Method::DELETE;
            if get("bypass") == "1" {
                call = call.h("x-amz-bypass-governance-retention", "true");
            }
            "deleted"
        }
        _ => return Reply::Html(StatusCode::NOT_FOUND, html::page("Not found", Some(s), "<p>No such action.</p>")),
    };
    let a = c.call(s, req, call).await;
    if !a.ok() {
        let bypass_attempt = done == "deleted" && get("bypass") == "1";
        return render(c, s, req, bucket, key, version, Some(&a.refusal()), None, bypass_attempt).await;
    }
    if done == "deleted" {
        let prefix = key.rsplit_once('/').map(|(p, _)| format!("{p}/")).unwrap_or_default();
        return Reply::Redirect(format!("{}/bucket?name={}&prefix={}", crate::MOUNT, enc(bucket), enc(&prefix)));
    }
    Reply::Redirect(target(done))
}

/// `YYYY-MM-DD` (a date input's value) as the end of that day's first second, UTC.
fn retain_until(date: &str) -> Option<String> {
    let b = date.as_bytes();
    let ok = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter().enumerate().all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    ok.then(|| format!("{date}T00:00:00.000Z"))
}
