//! `holdfast admin backup` and `restore` in a build without the embedded store: both copy an
//! embedded data dir, which this build cannot open (`backup.rs` with the `sqlite` feature).

use crate::config::{Config, MetaBackend};
use std::path::Path;

pub fn backup(_data_dir: &Path, cfg: &Config, _dest: &Path) -> anyhow::Result<()> {
    if let MetaBackend::Postgres { .. } = cfg.meta {
        anyhow::bail!(
            "the metadata of this data dir is on PostgreSQL: back it up with pg_dump or pg_basebackup, then copy \
             the blob files and the audit trails (docs/operations.md#postgresql)"
        );
    }
    Err(MetaBackend::Sqlite.compiled_out())
}

pub fn restore(_from: &Path, _data_dir: &Path) -> anyhow::Result<()> {
    Err(MetaBackend::Sqlite.compiled_out())
}
