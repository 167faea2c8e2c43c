//! The lock report as pictures: versions and bytes under each mode per bucket, retention
//! ending by month, and when each bucket can be emptied (root only).

use crate::html::{self, esc};
use crate::session::Session;
use crate::svg::{self, Row};
use crate::{Console, Reply};
use http::StatusCode;
use std::collections::BTreeMap;

pub async fn page(c: &Console, s: &Session) -> Reply {
    let reports = match c.b.engine.lock_report(None).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "console: cannot compute the lock report");
            return Reply::Html(
                StatusCode::INTERNAL_SERVER_ERROR,
                html::page("Lock report", Some(s), "<p class=\"bad\">The lock report could not be computed.</p>"),
            );
        }
    };
    let classes = ["bar-gov", "bar-comp", "bar-hold"];
    let versions: Vec<Row> = reports
        .iter()
        .map(|r| Row {
            label: r.bucket.clone(),
            values: vec![r.governance.versions, r.compliance.versions, r.legal_hold.versions],
        })
        .collect();
    let bytes: Vec<Row> = reports
        .iter()
        .map(|r| Row {
            label: r.bucket.clone(),
            values: vec![r.governance.bytes, r.compliance.bytes, r.legal_hold.bytes],
        })
        .collect();
    let mut months: BTreeMap<String, u64> = BTreeMap::new();
    for r in &reports {
        for m in &r.expiries_by_month {
            *months.entry(m.month.clone()).or_default() += m.versions;
        }
    }
    let months: Vec<(String, u64)> = months.into_iter().collect();
    let legend = "<ul class=\"legend\"><li class=\"gov\">GOVERNANCE</li><li class=\"comp\">COMPLIANCE</li>\
                  <li class=\"hold\">Legal hold</li></ul>";
    let mut body = String::new();
    if reports.is_empty() {
        body.push_str("<p>No bucket yet.</p>");
    } else {
        body.push_str(&format!(
            "<h2>Versions under each protection</h2>{legend}<figure>{}</figure>\
             <h2>Bytes under each protection</h2>{legend}<figure>{}</figure>",
            svg::bars("Versions under each protection, per bucket", &versions, &classes, |v| v.to_string()),
            svg::bars("Bytes under each protection, per bucket", &bytes, &classes, html::bytes),
        ));
        body.push_str("<h2>Retention ending, by month (all buckets)</h2>");
        if months.is_empty() {
            body.push_str("<p>No active retention.</p>");
        } else {
            body.push_str(&format!(
                "<figure>{}</figure>",
                svg::columns("Versions whose retention ends each month", &months)
            ));
        }
        body.push_str(
            "<h2>Figures</h2><div class=\"table\"><table><thead><tr><th scope=\"col\">Bucket</th>\
             <th scope=\"col\" class=\"num\">GOVERNANCE</th><th scope=\"col\" class=\"num\">COMPLIANCE</th>\
             <th scope=\"col\" class=\"num\">Legal hold</th><th scope=\"col\">Latest retain-until</th>\
             <th scope=\"col\">Can be emptied</th><th scope=\"col\">Ending by month</th></tr></thead><tbody>",
        );
        for r in &reports {
            let t = |t: holdfast_engine::model::Tally| format!("{} / {}", t.versions, html::bytes(t.bytes));
            let by_month: Vec<String> =
                r.expiries_by_month.iter().map(|m| format!("{}: {}", m.month, m.versions)).collect();
            body.push_str(&format!(
                "<tr><th scope=\"row\"><a href=\"{m}/bucket?name={q}\">{b}</a></th><td class=\"num\">{}</td><td class=\"num\">{}</td>\
                 <td class=\"num\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                t(r.governance),
                t(r.compliance),
                t(r.legal_hold),
                r.latest_retain_until.map(|u| u.to_iso8601()).unwrap_or_else(|| "—".into()),
                esc(&super::emptied(r)),
                esc(&by_month.join(", ")),
                m = crate::MOUNT,
                q = html::enc(&r.bucket),
                b = esc(&r.bucket),
            ));
        }
        body.push_str("</tbody></table></div>");
    }
    Reply::Html(StatusCode::OK, html::page("Lock report", Some(s), &body))
}
