//! `holdfast config check`: the settings `serve` would run with, validated (the TLS
//! certificate and key loaded, the webhook targets parsed) and printed with every secret
//! masked.

use crate::config::{Config, MetaBackend, Overrides};
#[cfg(feature = "postgres")]
use anyhow::Context as _;
use std::fmt::Write as _;

/// Loads and checks the settings, then prints them; an error names what is wrong.
pub fn run(overrides: Overrides) -> anyhow::Result<()> {
    let source = overrides.config.clone();
    let cfg = Config::load(overrides)?;
    if let Some(tls) = &cfg.tls {
        crate::tls::load_certified_key(&tls.cert, &tls.key)?;
    }
    match &cfg.meta {
        #[cfg(feature = "sqlite")]
        MetaBackend::Sqlite => {}
        #[cfg(feature = "postgres")]
        MetaBackend::Postgres { url, ca_file, .. } => {
            holdfast_meta::postgres::tls::split_url(url, ca_file.as_deref()).map_err(anyhow::Error::msg)?;
            if let Some(ca) = ca_file {
                std::fs::metadata(ca).with_context(|| format!("cannot read [meta] ca_file {}", ca.display()))?;
            }
        }
        #[cfg(not(all(feature = "sqlite", feature = "postgres")))]
        left_out => return Err(left_out.compiled_out()),
    }
    match &source {
        Some(p) => println!("# {}: valid; effective settings (secrets masked):", p.display()),
        None => println!("# no configuration file; effective settings (secrets masked):"),
    }
    print!("{}", render(&cfg));
    Ok(())
}

const MASK: &str = "********";

/// A PostgreSQL URL with its password masked.
#[cfg(feature = "postgres")]
fn masked_url(url: &str) -> String {
    holdfast_meta::postgres::redact_url(url).replace(":***@", &format!(":{MASK}@"))
}

/// Without the PostgreSQL store (and its URL parser) the whole URL is masked.
#[cfg(not(feature = "postgres"))]
fn masked_url(_url: &str) -> String {
    MASK.to_owned()
}

/// The effective settings as TOML-like lines; secrets appear as `********`.
pub fn render(c: &Config) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "listen = {:?}", c.listen.to_string());
    let _ = writeln!(o, "data_dir = {:?}", c.data_dir.display().to_string());
    let _ = writeln!(o, "region = {:?}", c.region);
    let _ = writeln!(
        o,
        "base_domain = {}",
        c.base_domain.as_deref().map_or("none (path style only)".into(), |d| format!("{d:?}"))
    );
    let _ = writeln!(o, "aws_strict = {}", c.aws_strict);
    let _ = writeln!(o, "log = {:?}", c.log);
    let _ = writeln!(o, "log_format = {:?}", format!("{:?}", c.log_format).to_ascii_lowercase());
    let _ = writeln!(o, "\n[tls]");
    match &c.tls {
        Some(t) => {
            let _ = writeln!(o, "cert = {:?}", t.cert.display().to_string());
            let _ = writeln!(o, "key = {:?}", t.key.display().to_string());
            let _ = writeln!(o, "reload_secs = {}", t.reload_every.as_secs_f64());
        }
        None => {
            let _ = writeln!(o, "# off: plain HTTP");
        }
    }
    let _ = writeln!(o, "\n[limits]");
    let _ = writeln!(o, "max_put_size = {}", c.max_put_size);
    let _ = writeln!(o, "min_part_size = {}", c.min_part_size);
    let _ = writeln!(o, "max_chunk_size = {}", c.max_chunk_size);
    let _ = writeln!(o, "inline_max_size = {}", c.inline_max_size);
    match c.min_free_bytes {
        Some(n) => {
            let _ = writeln!(o, "min_free_bytes = {n}");
        }
        None => {
            let _ = writeln!(o, "min_free_bytes = default (5% of the volume, 16 MiB..1 GiB)");
        }
    }
    let _ = writeln!(o, "idle_secs = {}", c.connections.idle.as_secs());
    let _ = writeln!(o, "header_secs = {}", c.connections.header.as_secs());
    let _ = writeln!(o, "body_idle_secs = {}", c.connections.body_idle.as_secs());
    match c.connections.max_connections {
        Some(n) => {
            let _ = writeln!(o, "max_connections = {n}");
        }
        None => {
            let _ = writeln!(o, "max_connections = default (from the open-files limit at start)");
        }
    }
    let _ = writeln!(o, "\n[meta]");
    match &c.meta {
        MetaBackend::Sqlite => {
            let _ = writeln!(o, "backend = \"sqlite\"");
        }
        MetaBackend::Postgres { url, pool_size, orphan_grace_secs, ca_file } => {
            let _ = writeln!(o, "backend = \"postgres\"");
            let _ = writeln!(o, "url = {:?}", masked_url(url));
            let _ = writeln!(o, "pool_size = {pool_size}");
            let _ = writeln!(o, "orphan_grace_secs = {orphan_grace_secs}");
            if let Some(ca) = ca_file {
                let _ = writeln!(o, "ca_file = {:?}", ca.display().to_string());
            }
        }
    }
    for a in &c.accounts {
        let _ = writeln!(
            o,
            "\n[[accounts]]\nname = {:?}\naccess_key = {:?}\nsecret_key = \"{MASK}\"",
            a.name, a.access_key
        );
    }
    let _ = writeln!(o, "\n[notify]");
    for w in &c.webhooks {
        let _ = writeln!(o, "webhook.{}.endpoint = {:?}", w.id, w.endpoint);
    }
    let _ = writeln!(o, "retry_min_ms = {}", c.event_retry_min.as_millis());
    let _ = writeln!(o, "retry_max_ms = {}", c.event_retry_max.as_millis());
    let _ = writeln!(o, "\n[lifecycle]");
    let _ = writeln!(o, "interval_seconds = {}", c.lifecycle_interval.as_secs_f64());
    let _ = writeln!(o, "day_seconds = {}", c.lifecycle_day_ms as f64 / 1000.0);
    let _ = writeln!(o, "\n[inventory]");
    let _ = writeln!(o, "day_seconds = {}", c.inventory_day_ms as f64 / 1000.0);
    let _ = writeln!(o, "rows_per_file = {}", c.inventory_rows_per_file);
    let _ = writeln!(o, "\n[audit]");
    match &c.anchor {
        Some(a) => {
            let _ = writeln!(o, "anchor_bucket = {:?}", a.bucket);
            let _ = writeln!(o, "anchor_prefix = {:?}", a.prefix);
            let _ = writeln!(o, "anchor_interval_secs = {}", a.interval.as_secs_f64());
            let _ = writeln!(o, "anchor_retention_days = {}", a.retention_days);
            if let Some(r) = &a.remote {
                let _ = writeln!(o, "anchor_endpoint = {:?}", r.authority);
                let _ = writeln!(o, "anchor_access_key = {:?}", r.access_key);
                let _ = writeln!(o, "anchor_secret_key = \"{MASK}\"");
                let _ = writeln!(o, "anchor_region = {:?}", r.region);
            }
        }
        None => {
            let _ = writeln!(o, "# no anchors");
        }
    }
    let _ = writeln!(o, "\n[metrics]");
    let _ = writeln!(o, "per_bucket = {}", c.metrics_access.per_bucket);
    let _ =
        writeln!(o, "token = {}", if c.metrics_access.token.is_some() { format!("\"{MASK}\"") } else { "none".into() });
    let _ = writeln!(o, "lock_refresh_secs = {}", c.lock_gauges_refresh.as_secs_f64());
    let _ = writeln!(o, "\n[replication]");
    let _ = writeln!(o, "retry_min_ms = {}", c.replication.retry_min.as_millis());
    let _ = writeln!(o, "retry_max_ms = {}", c.replication.retry_max.as_millis());
    let _ = writeln!(o, "poll_ms = {}", c.replication.poll.as_millis());
    let _ = writeln!(o, "lease_ms = {}", c.replication.lease.as_millis());
    let _ = writeln!(o, "multipart_threshold = {}", c.replication_multipart.threshold);
    let _ = writeln!(o, "multipart_part_size = {}", c.replication_multipart.part_size);
    for (id, t) in &c.replication_targets {
        let _ = writeln!(
            o,
            "target.{id}.endpoint = {:?}\ntarget.{id}.access_key = {:?}\ntarget.{id}.secret_key = \"{MASK}\"\ntarget.{id}.region = {:?}",
            t.endpoint,
            t.access_key,
            t.region.as_deref().unwrap_or("us-east-1")
        );
        let _ = writeln!(o, "target.{id}.kind = {:?}", t.kind.as_deref().unwrap_or("holdfast"));
        if let Some(ca) = &t.ca_file {
            let _ = writeln!(o, "target.{id}.ca_file = {:?}", ca.display().to_string());
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(
            &file,
            "[meta]\nurl = \"postgres://hf:pg-password-1@db:5432/hf\"\n\
             [[accounts]]\nname = \"b\"\naccess_key = \"AKB\"\nsecret_key = \"account-secret-2\"\n\
             [metrics]\ntoken = \"metrics-token-333333\"\n\
             [audit]\nanchor_bucket = \"anchors\"\nanchor_endpoint = \"http://10.0.0.1:9000\"\n\
             anchor_access_key = \"AKA\"\nanchor_secret_key = \"anchor-secret-4\"\n",
        )
        .unwrap();
        let c = Config::load(Overrides { config: Some(file), ..Default::default() }).unwrap();
        let text = render(&c);
        for secret in ["pg-password-1", "account-secret-2", "metrics-token-333333", "anchor-secret-4"] {
            assert!(!text.contains(secret), "{secret} printed:\n{text}");
        }
        for shown in [
            "postgres://hf:********@db:5432/hf",
            "access_key = \"AKB\"",
            "anchor_access_key = \"AKA\"",
            "listen = \"127.0.0.1:9000\"",
        ] {
            assert!(text.contains(shown), "{shown} missing:\n{text}");
        }
    }
}
