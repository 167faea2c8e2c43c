//! Figures of one measured cell, as a table row or JSON.

use crate::runner::Tally;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub op: String,
    pub size: u64,
    pub concurrency: usize,
    pub lock: bool,
    pub ops: u64,
    pub errors: u64,
    pub seconds: f64,
    pub ops_per_sec: f64,
    pub mib_per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Peak resident set of the server during the cell (MiB), with `--server-pid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_rss_mib: Option<f64>,
    /// Keys handled per second, where an operation handles many (DeleteObjects, listing
    /// sweeps) or one key of many (the backup workload's phases).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keys_per_sec: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[idx.min(sorted.len() - 1)]) / 1000.0
}

impl Row {
    pub fn new(op: &str, size: u64, concurrency: usize, lock: bool, mut t: Tally) -> Self {
        t.latencies_us.sort_unstable();
        let secs = t.elapsed.as_secs_f64().max(1e-9);
        Self {
            op: op.to_owned(),
            size,
            concurrency,
            lock,
            ops: t.ok,
            errors: t.errors,
            seconds: secs,
            ops_per_sec: t.ok as f64 / secs,
            mib_per_sec: t.bytes as f64 / secs / f64::from(1u32 << 20),
            p50_ms: percentile(&t.latencies_us, 0.50),
            p99_ms: percentile(&t.latencies_us, 0.99),
            max_ms: t.latencies_us.last().map_or(0.0, |m| f64::from(*m) / 1000.0),
            server_rss_mib: None,
            keys_per_sec: None,
            first_error: t.first_error,
        }
    }
}

pub fn human_size(n: u64) -> String {
    if n >= 1 << 30 && n.is_multiple_of(1 << 30) {
        format!("{}GiB", n >> 30)
    } else if n >= 1 << 20 && n.is_multiple_of(1 << 20) {
        format!("{}MiB", n >> 20)
    } else if n >= 1 << 10 && n.is_multiple_of(1 << 10) {
        format!("{}KiB", n >> 10)
    } else {
        format!("{n}B")
    }
}

pub const HEADER: &str =
    "op            size     conc      ops      ops/s      MiB/s    p50 ms    p99 ms    max ms  errors";

pub fn line(r: &Row) -> String {
    let op = if r.lock { format!("{}+lock", r.op) } else { r.op.clone() };
    let mut s = format!(
        "{op:<12} {:>6} {:>6} {:>8} {:>10.0} {:>10.1} {:>9.2} {:>9.2} {:>9.2} {:>7}",
        human_size(r.size),
        r.concurrency,
        r.ops,
        r.ops_per_sec,
        r.mib_per_sec,
        r.p50_ms,
        r.p99_ms,
        r.max_ms,
        r.errors
    );
    if let Some(k) = r.keys_per_sec {
        s.push_str(&format!("  keys/s {k:.0}"));
    }
    if let Some(rss) = r.server_rss_mib {
        s.push_str(&format!("  rss {rss:.0} MiB"));
    }
    if let Some(e) = &r.first_error {
        s.push_str(&format!("  ({e})"));
    }
    s
}

/// `4KiB`, `64MiB`, `1GiB`, `4096`, `4k`, `64m`.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim().to_ascii_lowercase();
    let digits: String = t.chars().take_while(char::is_ascii_digit).collect();
    let n: u64 = digits.parse().map_err(|_| format!("not a size: {s}"))?;
    let shift = match &t[digits.len()..] {
        "" | "b" => 0,
        "k" | "kib" | "kb" => 10,
        "m" | "mib" | "mb" => 20,
        "g" | "gib" | "gb" => 30,
        other => return Err(format!("unknown size unit {other:?} in {s}")),
    };
    Ok(n << shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4KiB"), Ok(4096));
        assert_eq!(parse_size("64m"), Ok(64 << 20));
        assert_eq!(parse_size("0"), Ok(0));
        assert!(parse_size("4x").is_err());
        assert_eq!(human_size(4096), "4KiB");
        assert_eq!(human_size(64 << 20), "64MiB");
    }

    #[test]
    fn percentiles() {
        let v: Vec<u32> = (1..=100).map(|i| i * 1000).collect();
        assert_eq!(percentile(&v, 0.5), 51.0);
        assert_eq!(percentile(&v, 0.99), 99.0);
    }
}
