//! A bucket's objects and versions, one page at a time: ListObjectVersions with a
//! delimiter, so folders are prefixes to open and no page reads more than it shows.

use crate::calls::{self, Call};
use crate::html::{self, enc, esc};
use crate::session::Session;
use crate::{Console, Reply, Req, xml};
use http::StatusCode;

pub const DEFAULT_PAGE: usize = 100;
pub const MAX_PAGE: usize = 1000;

pub async fn page(c: &Console, s: &Session, req: &Req) -> Reply {
    let bucket = req.param("name").unwrap_or_default().to_owned();
    let prefix = req.param("prefix").unwrap_or_default().to_owned();
    let size = req.param("max").and_then(|m| m.parse::<usize>().ok()).unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    let mut call = Call::get(calls::path(&bucket, None))
        .q("versions", "")
        .q("delimiter", "/")
        .q("max-keys", size.to_string())
        .q("prefix", prefix.clone());
    if let Some(k) = req.param("key-marker").filter(|k| !k.is_empty()) {
        call = call.q("key-marker", k);
        if let Some(v) = req.param("version-id-marker").filter(|v| !v.is_empty()) {
            call = call.q("version-id-marker", v);
        }
    }
    let title = format!("Bucket {bucket}");
    let a = c.call(s, req, call).await;
    if !a.ok() {
        let status = StatusCode::from_u16(a.status).unwrap_or(StatusCode::FORBIDDEN);
        return Reply::Html(status, html::page(&title, Some(s), &html::refusal(&a.refusal())));
    }
    let text = a.text();
    let m = crate::MOUNT;
    let qb = enc(&bucket);
    let mut body =
        format!("<nav class=\"crumbs\" aria-label=\"Prefix\"><a href=\"{m}/bucket?name={qb}\">{}</a>", esc(&bucket));
    let mut acc = String::new();
    for part in prefix.split_inclusive('/') {
        acc.push_str(part);
        body.push_str(&format!(
            " / <a href=\"{m}/bucket?name={qb}&amp;prefix={}\">{}</a>",
            enc(&acc),
            esc(part.trim_end_matches('/'))
        ));
    }
    body.push_str("</nav>");
    let mut rows = String::new();
    for p in xml::blocks(&text, "CommonPrefixes") {
        let p = xml::text(p, "Prefix").unwrap_or_default();
        let shown = p.strip_prefix(prefix.as_str()).unwrap_or(&p);
        rows.push_str(&format!(
            "<tr><th scope=\"row\" colspan=\"6\"><a href=\"{m}/bucket?name={qb}&amp;prefix={}\">{}</a></th></tr>",
            enc(&p),
            esc(shown)
        ));
    }
    for (marker, v) in entries(&text) {
        let key = xml::text(v, "Key").unwrap_or_default();
        let vid = xml::text(v, "VersionId").unwrap_or_default();
        let latest = xml::text(v, "IsLatest").is_some_and(|l| l == "true");
        let size = xml::text(v, "Size").and_then(|s| s.parse::<u64>().ok());
        let modified = xml::text(v, "LastModified").unwrap_or_default();
        let shown = key.strip_prefix(prefix.as_str()).unwrap_or(&key);
        rows.push_str(&format!(
            "<tr><th scope=\"row\"><a href=\"{m}/version?bucket={qb}&amp;key={}&amp;version={}\">{}</a></th>\
             <td class=\"mono\">{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
            enc(&key),
            enc(&vid),
            esc(shown),
            esc(&vid),
            if latest { "latest" } else { "" },
            if marker { "delete marker" } else { "version" },
            size.map(html::bytes).unwrap_or_default(),
            esc(&modified)
        ));
    }
    if rows.is_empty() {
        body.push_str("<p>Nothing under this prefix.</p>");
    } else {
        body.push_str(&format!(
            "<div class=\"table\"><table><thead><tr><th scope=\"col\">Key</th><th scope=\"col\">Version</th>\
             <th scope=\"col\">Latest</th><th scope=\"col\">Kind</th><th scope=\"col\" class=\"num\">Size</th>\
             <th scope=\"col\">Last modified</th></tr></thead><tbody>{rows}</tbody></table></div>"
        ));
    }
    body.push_str("<div class=\"pager\">");
    if req.param("key-marker").is_some() {
        body.push_str(&format!(
            "<a href=\"{m}/bucket?name={qb}&amp;prefix={}&amp;max={size}\">First page</a>",
            enc(&prefix)
        ));
    }
    if xml::text(&text, "IsTruncated").is_some_and(|t| t == "true") {
        let nk = xml::text(&text, "NextKeyMarker").unwrap_or_default();
        let nv = xml::text(&text, "NextVersionIdMarker").unwrap_or_default();
        body.push_str(&format!(
            "<a rel=\"next\" id=\"next-page\" href=\"{m}/bucket?name={qb}&amp;prefix={}&amp;max={size}&amp;key-marker={}&amp;version-id-marker={}\">Next page</a>",
            enc(&prefix),
            enc(&nk),
            enc(&nv)
        ));
    }
    body.push_str("</div>");
    Reply::Html(StatusCode::OK, html::page(&title, Some(s), &body))
}

/// The `<Version>` and `<DeleteMarker>` elements in document order; `true` for a marker.
fn entries(xml: &str) -> Vec<(bool, &str)> {
    let mut out = Vec::new();
    let mut rest = xml;
    loop {
        let v = rest.find("<Version>");
        let d = rest.find("<DeleteMarker>");
        let (marker, start, open, close) = match (v, d) {
            (Some(v), Some(d)) if d < v => (true, d, "<DeleteMarker>", "</DeleteMarker>"),
            (Some(v), _) => (false, v, "<Version>", "</Version>"),
            (None, Some(d)) => (true, d, "<DeleteMarker>", "</DeleteMarker>"),
            (None, None) => break,
        };
        let body = &rest[start + open.len()..];
        let Some(end) = body.find(close) else { break };
        out.push((marker, &body[..end]));
        rest = &body[end + close.len()..];
    }
    out
}
