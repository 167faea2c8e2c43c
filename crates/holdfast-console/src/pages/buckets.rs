//! The buckets the principal may list: versioning, Object Lock default, a policy summary,
//! and the lock report's versions and bytes by mode.

use crate::calls::{self, Call};
use crate::html::{self, enc, esc};
use crate::session::Session;
use crate::{Console, Reply, Req, xml};
use http::StatusCode;
use std::collections::HashMap;

/// Buckets shown at most (each costs a few calls).
const MAX_SHOWN: usize = 200;

pub async fn page(c: &Console, s: &Session, req: &Req) -> Reply {
    let list = c.call(s, req, Call::get("/".into())).await;
    if !list.ok() {
        let body = html::refusal(&list.refusal());
        return Reply::Html(
            StatusCode::from_u16(list.status).unwrap_or(StatusCode::FORBIDDEN),
            html::page("Buckets", Some(s), &body),
        );
    }
    let text = list.text();
    let names: Vec<String> = xml::blocks(&text, "Bucket").iter().filter_map(|b| xml::text(b, "Name")).collect();
    let reports: HashMap<String, holdfast_engine::model::LockReport> = if s.is_root {
        c.b.engine.lock_report(None).await.unwrap_or_default().into_iter().map(|r| (r.bucket.clone(), r)).collect()
    } else {
        HashMap::new()
    };
    let mut rows = String::new();
    for name in names.iter().take(MAX_SHOWN) {
        let versioning = c.call(s, req, Call::get(calls::path(name, None)).q("versioning", "")).await;
        let versioning = if versioning.ok() {
            xml::text(&versioning.text(), "Status").unwrap_or_else(|| "never enabled".into())
        } else {
            format!("({})", versioning.refusal().code)
        };
        let lock = c.call(s, req, Call::get(calls::path(name, None)).q("object-lock", "")).await;
        let lock = lock_summary(&lock);
        let policy = c.call(s, req, Call::get(calls::path(name, None)).q("policy", "")).await;
        let policy = policy_summary(&policy);
        // The report's figures go to whoever may list the bucket's versions (the same check
        // ListObjectVersions makes); the root sees them all.
        let report = match reports.get(name) {
            Some(r) => Some(r.clone()),
            None if !s.is_root => {
                let probe =
                    c.call(s, req, Call::get(calls::path(name, None)).q("versions", "").q("max-keys", "1")).await;
                if probe.ok() {
                    c.b.engine.lock_report(Some(name)).await.ok().and_then(|v| v.into_iter().next())
                } else {
                    None
                }
            }
            None => None,
        };
        let tally = |t: holdfast_engine::model::Tally| format!("{} / {}", t.versions, html::bytes(t.bytes));
        let (gov, comp, hold, empt) = match &report {
            Some(r) => (tally(r.governance), tally(r.compliance), tally(r.legal_hold), super::emptied(r)),
            None => ("—".into(), "—".into(), "—".into(), "—".into()),
        };
        rows.push_str(&format!(
            "<tr><th scope=\"row\"><a href=\"{m}/bucket?name={q}\">{n}</a></th><td>{v}</td><td>{l}</td><td>{p}</td>\
             <td class=\"num\">{gov}</td><td class=\"num\">{comp}</td><td class=\"num\">{hold}</td><td>{empt}</td></tr>",
            m = crate::MOUNT,
            q = enc(name),
            n = esc(name),
            v = esc(&versioning),
            l = lock,
            p = esc(&policy),
            empt = esc(&empt)
        ));
    }
    let more = if names.len() > MAX_SHOWN {
        format!("<p class=\"muted\">The first {MAX_SHOWN} of {} buckets.</p>", names.len())
    } else {
        String::new()
    };
    let body = if names.is_empty() {
        "<p>No bucket this principal may list.</p>".to_owned()
    } else {
        format!(
            "<div class=\"table\"><table><caption class=\"muted\">Versions / bytes under each protection (— : not \
             shown to this principal)</caption><thead><tr><th scope=\"col\">Bucket</th><th scope=\"col\">Versioning</th>\
             <th scope=\"col\">Object Lock default</th><th scope=\"col\">Policy</th><th scope=\"col\" class=\"num\">GOVERNANCE</th>\
             <th scope=\"col\" class=\"num\">COMPLIANCE</th><th scope=\"col\" class=\"num\">Legal hold</th>\
             <th scope=\"col\">Can be emptied</th></tr></thead><tbody>{rows}</tbody></table></div>{more}"
        )
    };
    Reply::Html(StatusCode::OK, html::page("Buckets", Some(s), &body))
}

fn lock_summary(a: &calls::Answer) -> String {
    if !a.ok() {
        let r = a.refusal();
        return if r.code == "ObjectLockConfigurationNotFoundError" {
            "off".to_owned()
        } else {
            format!("({})", esc(&r.code))
        };
    }
    let t = a.text();
    let Some(rule) = xml::blocks(&t, "DefaultRetention").first().map(|s| (*s).to_owned()) else {
        return "on, no default retention".to_owned();
    };
    let mode = xml::text(&rule, "Mode").unwrap_or_default();
    let period = match (xml::text(&rule, "Days"), xml::text(&rule, "Years")) {
        (Some(d), _) => format!("{d} days"),
        (_, Some(y)) => format!("{y} years"),
        _ => String::new(),
    };
    format!("on, <span class=\"mode-{m}\">{m}</span> {p}", m = esc(&mode), p = esc(&period))
}

fn policy_summary(a: &calls::Answer) -> String {
    if !a.ok() {
        let r = a.refusal();
        return if r.code == "NoSuchBucketPolicy" { "none".into() } else { format!("({})", r.code) };
    }
    let Ok(doc) = serde_json::from_slice::<serde_json::Value>(&a.body) else { return "unreadable".into() };
    let statements = match doc.get("Statement") {
        Some(serde_json::Value::Array(v)) => v.clone(),
        Some(v) => vec![v.clone()],
        None => Vec::new(),
    };
    let count =
        |effect: &str| statements.iter().filter(|s| s.get("Effect").and_then(|e| e.as_str()) == Some(effect)).count();
    let denied: Vec<String> = statements
        .iter()
        .filter(|s| s.get("Effect").and_then(|e| e.as_str()) == Some("Deny"))
        .flat_map(|s| match s.get("Action") {
            Some(serde_json::Value::String(a)) => vec![a.clone()],
            Some(serde_json::Value::Array(v)) => v.iter().filter_map(|a| a.as_str().map(str::to_owned)).collect(),
            _ => Vec::new(),
        })
        .take(4)
        .collect();
    let mut out = format!("{} statements: {} Allow, {} Deny", statements.len(), count("Allow"), count("Deny"));
    if !denied.is_empty() {
        out.push_str(&format!(" (denies {})", denied.join(", ")));
    }
    out
}
