//! The audit trail (verify status, head, anchors) and the backlogs (root only).

use crate::calls::{self, Call};
use crate::html::{self, esc};
use crate::session::Session;
use crate::{Console, Reply, xml};
use http::StatusCode;

pub async fn audit(c: &Console, s: &Session) -> Reply {
    let mut body = String::new();
    match &c.b.audit {
        None => body.push_str("<p>This server keeps no audit trail.</p>"),
        Some(log) => {
            let dir = log.dir().to_owned();
            // Reading and hashing the whole trail is file work: off the async workers.
            let checked = tokio::task::spawn_blocking(move || {
                (holdfast_audit::verify_dir(&dir), holdfast_audit::read_head(&dir))
            })
            .await;
            let (verify, head) = match checked {
                Ok(v) => v,
                Err(e) => {
                    tracing::error!(error = %e, "console: the trail check failed");
                    return Reply::Html(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        html::page("Audit trail", Some(s), "<p class=\"bad\">The check failed.</p>"),
                    );
                }
            };
            body.push_str("<h2>Verification</h2><dl class=\"facts\">");
            match verify {
                Ok(Ok(r)) => body.push_str(&format!(
                    "<dt>Status</dt><dd class=\"ok\" id=\"verify-status\">intact</dd><dt>Records</dt><dd>{}</dd>\
                     <dt>Files</dt><dd>{}</dd><dt>Head hash</dt><dd class=\"mono\">{}</dd>",
                    r.records,
                    r.files,
                    esc(&r.head)
                )),
                Ok(Err(e)) => body.push_str(&format!(
                    "<dt>Status</dt><dd class=\"bad\" id=\"verify-status\">BROKEN</dd><dt>Where</dt><dd class=\"mono\">{}</dd>",
                    esc(&e.to_string())
                )),
                Err(e) => body.push_str(&format!(
                    "<dt>Status</dt><dd class=\"bad\" id=\"verify-status\">unreadable</dd><dt>Error</dt><dd>{}</dd>",
                    esc(&e.to_string())
                )),
            }
            if let Ok(Some(h)) = head {
                body.push_str(&format!("<dt>Head record</dt><dd>#{} in {}</dd>", h.seq, esc(&h.file)));
            }
            body.push_str("</dl>");
            body.push_str(&format!(
                "<p class=\"muted\">The same check as <code>holdfast admin audit verify</code> (hash chain of {}).</p>",
                esc(&log.dir().display().to_string())
            ));
        }
    }
    body.push_str("<h2>Anchors</h2>");
    match &c.b.anchors {
        None => {
            body.push_str("<p>Anchors are off or kept on a remote endpoint (<code>[audit] anchor_bucket</code>).</p>")
        }
        Some((bucket, prefix)) => {
            let req = crate::Req {
                method: http::Method::GET,
                path: String::new(),
                query: Vec::new(),
                headers: http::HeaderMap::new(),
                body: bytes::Bytes::new(),
                peer: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            };
            let a = c
                .call(
                    s,
                    &req,
                    Call::get(calls::path(bucket, None))
                        .q("list-type", "2")
                        .q("prefix", prefix.clone())
                        .q("max-keys", "1000"),
                )
                .await;
            if !a.ok() {
                body.push_str(&html::refusal(&a.refusal()));
            } else {
                let text = a.text();
                let items = xml::blocks(&text, "Contents");
                let count = items.len();
                let mut rows = String::new();
                for item in items.iter().rev().take(20) {
                    rows.push_str(&format!(
                        "<tr><td class=\"mono\">{}</td><td>{}</td></tr>",
                        esc(&xml::text(item, "Key").unwrap_or_default()),
                        esc(&xml::text(item, "LastModified").unwrap_or_default())
                    ));
                }
                body.push_str(&format!(
                    "<p>{count} anchors in <code>{}</code> (the latest 20 below, COMPLIANCE-locked).</p>\
                     <div class=\"table\"><table><thead><tr><th scope=\"col\">Anchor</th><th scope=\"col\">Written</th></tr>\
                     </thead><tbody>{rows}</tbody></table></div>",
                    esc(bucket)
                ));
            }
        }
    }
    Reply::Html(StatusCode::OK, html::page("Audit trail", Some(s), &body))
}

pub async fn backlogs(c: &Console, s: &Session) -> Reply {
    let mut body = String::from("<h2>Replication</h2>");
    match c.b.engine.replication_backlog(None).await {
        Ok(rows) if rows.is_empty() => body.push_str("<p>No replication rule has anything queued or failed.</p>"),
        Ok(rows) => {
            body.push_str(
                "<div class=\"table\"><table><thead><tr><th scope=\"col\">Bucket</th><th scope=\"col\">Rule</th>\
                 <th scope=\"col\">Destination</th><th scope=\"col\" class=\"num\">Pending</th><th scope=\"col\" class=\"num\">Failed</th>\
                 <th scope=\"col\">Oldest pending</th></tr></thead><tbody>",
            );
            for r in rows {
                body.push_str(&format!(
                    "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td><td class=\"num\">{} / {}</td><td class=\"num\">{} / {}</td><td>{}</td></tr>",
                    esc(&r.bucket),
                    esc(&r.rule_id),
                    esc(&r.destination),
                    r.pending,
                    html::bytes(r.pending_bytes),
                    r.failed,
                    html::bytes(r.failed_bytes),
                    r.oldest_pending.map(|t| t.to_iso8601()).unwrap_or_else(|| "—".into())
                ));
            }
            body.push_str("</tbody></table></div>");
        }
        Err(e) => {
            body.push_str(&format!("<p class=\"bad\">Cannot read the replication backlog: {}</p>", esc(&e.to_string())))
        }
    }
    body.push_str("<h2>Event notifications</h2>");
    match c.b.engine.event_backlog().await {
        Ok(rows) if rows.is_empty() => body.push_str("<p>No event delivery is waiting.</p>"),
        Ok(rows) => {
            body.push_str(
                "<div class=\"table\"><table><thead><tr><th scope=\"col\">Target</th>\
                 <th scope=\"col\" class=\"num\">Waiting</th><th scope=\"col\" class=\"num\">Failed before</th>\
                 <th scope=\"col\" class=\"num\">Most attempts</th></tr></thead><tbody>",
            );
            for r in rows {
                body.push_str(&format!(
                    "<tr><th scope=\"row\">{}</th><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                    esc(&r.target),
                    r.queued,
                    r.retrying,
                    r.most_attempts
                ));
            }
            body.push_str("</tbody></table></div>");
        }
        Err(e) => {
            body.push_str(&format!("<p class=\"bad\">Cannot read the event backlog: {}</p>", esc(&e.to_string())))
        }
    }
    Reply::Html(StatusCode::OK, html::page("Backlogs", Some(s), &body))
}
