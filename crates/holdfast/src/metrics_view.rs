//! Who sees what on `/_holdfast/metrics`. The endpoint needs no S3 signature
//! (Prometheus cannot sign), so by default it must not name buckets: bucket names, with
//! their lock counts and retention dates, tell an outsider what is stored and for how long.
//! Per-bucket series are served only when the operator opts in (`[metrics] per_bucket`) or
//! to a scraper presenting `Authorization: Bearer <[metrics] token>`.

use http::HeaderMap;
use metrics_exporter_prometheus::PrometheusHandle;
use sha2::Digest as _;
use std::sync::Arc;

/// The label that names a bucket; series carrying it are per-bucket.
const BUCKET_LABEL: &str = "bucket";

/// The bearer token that unlocks per-bucket series. Never printed (`Debug` is redacted).
#[derive(Clone)]
pub struct MetricsToken(String);

impl std::fmt::Debug for MetricsToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MetricsToken(<redacted>)")
    }
}

/// Shortest token accepted: a guessable token would name the buckets to anyone.
pub const MIN_TOKEN_LEN: usize = 16;

impl MetricsToken {
    pub fn new(token: String) -> Result<Self, String> {
        if token.len() < MIN_TOKEN_LEN {
            return Err(format!("[metrics] token must be at least {MIN_TOKEN_LEN} characters"));
        }
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("[metrics] token must be printable ASCII without spaces".into());
        }
        Ok(Self(token))
    }

    /// Compares digests, so the time taken says nothing about how much of a guess was right.
    fn matches(&self, presented: &str) -> bool {
        sha2::Sha256::digest(self.0.as_bytes()) == sha2::Sha256::digest(presented.as_bytes())
    }
}

/// `[metrics]` as the edge applies it.
#[derive(Debug, Clone, Default)]
pub struct MetricsAccess {
    /// Per-bucket series for every scraper.
    pub per_bucket: bool,
    /// Per-bucket series for scrapers presenting this bearer token.
    pub token: Option<MetricsToken>,
}

/// What one scrape may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// Installation-wide figures only: no series names a bucket.
    Totals,
    /// Everything, per-bucket series included.
    PerBucket,
}

/// A bearer token was presented that is not the configured one.
#[derive(Debug, PartialEq, Eq)]
pub struct WrongToken;

impl MetricsAccess {
    /// The audience of a scrape with these headers. A wrong token is refused rather than
    /// served the totals, so that a misconfigured scraper shows up as failing, not as
    /// silently missing its per-bucket series.
    pub fn audience(&self, headers: &HeaderMap) -> Result<Audience, WrongToken> {
        let Some(token) = &self.token else {
            return Ok(if self.per_bucket { Audience::PerBucket } else { Audience::Totals });
        };
        let bearer = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim());
        match bearer {
            Some(t) if token.matches(t) => Ok(Audience::PerBucket),
            Some(_) => Err(WrongToken),
            None if self.per_bucket => Ok(Audience::PerBucket),
            None => Ok(Audience::Totals),
        }
    }
}

/// The labels of a sample line `name{a="x",b="y"} value`, split at commas outside quotes:
/// (name, labels, value), or `None` for a line without labels.
fn split_sample(line: &str) -> Option<(&str, Vec<&str>, &str)> {
    let open = line.find('{')?;
    let (name, rest) = (&line[..open], &line[open + 1..]);
    let (mut labels, mut start, mut quoted, mut escaped) = (Vec::new(), 0, false, false);
    for (i, c) in rest.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                labels.push(&rest[start..i]);
                start = i + 1;
            }
            '}' if !quoted => {
                if i > start {
                    labels.push(&rest[start..i]);
                }
                return Some((name, labels, rest[i + 1..].trim()));
            }
            _ => {}
        }
    }
    None
}

fn is_bucket_label(label: &str) -> bool {
    label.split_once('=').is_some_and(|(k, _)| k.trim() == BUCKET_LABEL)
}

/// The exporter's text without any series that names a bucket. Counters are kept as their
/// sum over buckets (same name, the other labels), so totals stay visible; other types
/// (a gauge's sum may mean nothing) are dropped.
pub fn without_bucket_labels(text: &str) -> String {
    enum Line<'a> {
        Text(&'a str),
        Sum(usize),
    }
    let mut lines = Vec::new();
    let mut sums: Vec<(String, f64)> = Vec::new();
    let mut counters = std::collections::BTreeSet::new();
    for line in text.lines() {
        if line.starts_with('#') {
            if let Some((name, "counter")) = line.strip_prefix("# TYPE ").and_then(|r| r.split_once(' ')) {
                counters.insert(name.to_owned());
            }
            lines.push(Line::Text(line));
            continue;
        }
        let Some((name, labels, value)) = split_sample(line).filter(|(_, l, _)| l.iter().any(|l| is_bucket_label(l)))
        else {
            lines.push(Line::Text(line));
            continue;
        };
        if !counters.contains(name) {
            continue;
        }
        let rest: Vec<&str> = labels.into_iter().filter(|l| !is_bucket_label(l)).collect();
        let series = if rest.is_empty() { name.to_owned() } else { format!("{name}{{{}}}", rest.join(",")) };
        let value: f64 = value.split_whitespace().next().and_then(|v| v.parse().ok()).unwrap_or(0.0);
        match sums.iter().position(|(s, _)| *s == series) {
            Some(i) => sums[i].1 += value,
            None => {
                lines.push(Line::Sum(sums.len()));
                sums.push((series, value));
            }
        }
    }
    let mut out = String::with_capacity(text.len());
    for line in lines {
        match line {
            Line::Text(t) => out.push_str(t),
            Line::Sum(i) => out.push_str(&format!("{} {}", sums[i].0, sums[i].1)),
        }
        out.push('\n');
    }
    out
}

/// The metrics endpoint's text for the edge: the exporter's series (without those naming a
/// bucket unless this scraper may see them) and the lock gauges. Nothing here computes: the
/// lock figures are cached.
pub struct MetricsEndpoint {
    pub exporter: PrometheusHandle,
    pub access: MetricsAccess,
    pub lock_gauges: Option<Arc<crate::lock_gauges::LockGauges>>,
}

impl holdfast_api::edge::MetricsPage for MetricsEndpoint {
    fn render(&self, headers: &HeaderMap) -> Option<String> {
        let audience = self.access.audience(headers).ok()?;
        let mut text = self.exporter.render();
        if audience == Audience::Totals {
            text = without_bucket_labels(&text);
        }
        if let Some(gauges) = &self.lock_gauges {
            gauges.render(audience == Audience::PerBucket, &mut text);
        }
        Some(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(auth: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(a) = auth {
            h.insert(http::header::AUTHORIZATION, a.parse().unwrap());
        }
        h
    }

    #[test]
    fn audience_follows_the_settings_and_the_token() {
        let open = MetricsAccess { per_bucket: false, token: None };
        assert_eq!(open.audience(&headers(None)), Ok(Audience::Totals));
        assert_eq!(open.audience(&headers(Some("Bearer anything-at-all-here"))), Ok(Audience::Totals));
        let public = MetricsAccess { per_bucket: true, token: None };
        assert_eq!(public.audience(&headers(None)), Ok(Audience::PerBucket));
        let token = MetricsToken::new("s3cret-token-0123456789".into()).unwrap();
        let guarded = MetricsAccess { per_bucket: false, token: Some(token) };
        assert_eq!(guarded.audience(&headers(None)), Ok(Audience::Totals));
        assert_eq!(guarded.audience(&headers(Some("Bearer s3cret-token-0123456789"))), Ok(Audience::PerBucket));
        assert_eq!(guarded.audience(&headers(Some("bearer  s3cret-token-0123456789"))), Ok(Audience::PerBucket));
        assert_eq!(guarded.audience(&headers(Some("Bearer s3cret-token-012345678"))), Err(WrongToken));
        assert_eq!(guarded.audience(&headers(Some("Basic czNjcmV0"))), Ok(Audience::Totals), "not a bearer");
        assert!(MetricsToken::new("short".into()).is_err());
        assert!(MetricsToken::new("has a space in it, long enough".into()).is_err());
        assert_eq!(format!("{:?}", guarded.token), "Some(MetricsToken(<redacted>))");
    }

    #[test]
    fn bucket_series_are_summed_or_dropped() {
        let text = "# TYPE holdfast_lifecycle_skipped_protected_total counter\n\
holdfast_lifecycle_skipped_protected_total{bucket=\"secret-a\"} 3\n\
holdfast_lifecycle_skipped_protected_total{bucket=\"secret-b\"} 4\n\
# TYPE holdfast_x_total counter\n\
holdfast_x_total{op=\"a,b\",bucket=\"secret-c\"} 1\n\
holdfast_x_total{op=\"a,b\",bucket=\"secret-d\"} 2\n\
holdfast_x_total{op=\"c\"} 5\n\
# TYPE holdfast_g gauge\n\
holdfast_g{bucket=\"secret-e\"} 9\n\
holdfast_requests_total{op=\"PutObject\",status=\"200\"} 1\n\
holdfast_bytes_in_total 10\n";
        let out = without_bucket_labels(text);
        assert!(!out.contains("secret"), "{out}");
        assert_eq!(
            out,
            "# TYPE holdfast_lifecycle_skipped_protected_total counter\n\
holdfast_lifecycle_skipped_protected_total 7\n\
# TYPE holdfast_x_total counter\n\
holdfast_x_total{op=\"a,b\"} 3\n\
holdfast_x_total{op=\"c\"} 5\n\
# TYPE holdfast_g gauge\n\
holdfast_requests_total{op=\"PutObject\",status=\"200\"} 1\n\
holdfast_bytes_in_total 10\n"
        );
    }
}
