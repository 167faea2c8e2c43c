//! Settings, layered: command line > environment > TOML file > defaults.

use anyhow::{Context, bail};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// What the TOML file may contain. Every field is optional; absent means "not set here".
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub region: Option<String>,
    pub base_domain: Option<String>,
    pub aws_strict: Option<bool>,
    pub log: Option<String>,
    pub limits: Option<LimitsConfig>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Largest single PUT or part body in bytes (default 5 GiB).
    pub max_put_size: Option<u64>,
    /// Smallest multipart part other than the last, in bytes (default 5 MiB).
    pub min_part_size: Option<u64>,
    /// Largest aws-chunked chunk accepted, in bytes (default 16 MiB).
    pub max_chunk_size: Option<u64>,
}

/// The effective settings.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub region: String,
    pub base_domain: Option<String>,
    pub aws_strict: bool,
    pub log: String,
    pub max_put_size: u64,
    pub min_part_size: u64,
    pub max_chunk_size: u64,
}

/// Values from the command line or environment (clap resolves that precedence).
#[derive(Debug, Default)]
pub struct Overrides {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub config: Option<PathBuf>,
    pub region: Option<String>,
    pub base_domain: Option<String>,
}

fn read_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("invalid config file {}", path.display()))
}

impl Config {
    pub fn load(o: Overrides) -> anyhow::Result<Self> {
        let file = match &o.config {
            Some(p) => read_file(p)?,
            None => FileConfig::default(),
        };
        let limits = file.limits.unwrap_or_default();
        let listen = o.listen.or(file.listen).unwrap_or_else(|| "127.0.0.1:9000".into());
        let listen: SocketAddr =
            listen.parse().with_context(|| format!("invalid listen address {listen:?} (expected IP:PORT)"))?;
        let region = o.region.or(file.region).unwrap_or_else(|| "us-east-1".into());
        if region.is_empty() || !region.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            bail!("invalid region {region:?}");
        }
        Ok(Self {
            listen,
            data_dir: o.data_dir.or(file.data_dir).unwrap_or_else(|| PathBuf::from("./holdfast-data")),
            region,
            base_domain: o.base_domain.or(file.base_domain).filter(|d| !d.is_empty()),
            aws_strict: file.aws_strict.unwrap_or(false),
            log: file.log.unwrap_or_else(|| "info".into()),
            max_put_size: limits.max_put_size.unwrap_or(5 << 30),
            min_part_size: limits.min_part_size.unwrap_or(5 << 20),
            max_chunk_size: limits.max_chunk_size.unwrap_or(16 << 20),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_beats_file_beats_defaults() {
        let dir = std::env::temp_dir().join(format!("holdfast-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.toml");
        std::fs::write(&file, "listen = \"127.0.0.1:7000\"\nregion = \"eu-west-1\"\n[limits]\nmin_part_size = 1024\n")
            .unwrap();
        let c = Config::load(Overrides {
            listen: Some("127.0.0.1:7001".into()),
            config: Some(file.clone()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(c.listen.port(), 7001);
        assert_eq!(c.region, "eu-west-1");
        assert_eq!(c.min_part_size, 1024);
        assert_eq!(c.data_dir, PathBuf::from("./holdfast-data"));
        std::fs::write(&file, "listen = 5\n").unwrap();
        assert!(Config::load(Overrides { config: Some(file.clone()), ..Default::default() }).is_err());
        std::fs::write(&file, "unknown_key = 1\n").unwrap();
        assert!(Config::load(Overrides { config: Some(file), ..Default::default() }).is_err());
        assert!(Config::load(Overrides { listen: Some("nonsense".into()), ..Default::default() }).is_err());
    }
}
