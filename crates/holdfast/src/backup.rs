//! `holdfast admin backup` and `holdfast admin restore`: an online backup of an embedded
//! data dir, taken beside a running server, and its restore into a new data dir.
//!
//! The order makes the backup self-consistent:
//! 1. the metadata: SQLite's online backup API copies `meta.db` as one commit left it (the
//!    snapshot). Whatever it holds is what the backup holds;
//! 2. the blob files the snapshot's versions and parts refer to. A blob never changes once
//!    its version is committed, so a copy taken later is the same bytes. One can be gone
//!    only if its version was deleted after the snapshot and collected (60 s after the
//!    delete): then a new snapshot is taken and only the blobs not copied yet are copied;
//! 3. the audit trail up to the snapshot: every line whose outbox id (`rid`) is at most the
//!    highest id the snapshot had assigned. Those records are either in the files already
//!    or still in the snapshot's outbox (the restored server writes them at start); the
//!    copy's outbox forgets those the copied files hold. Lines after that record changes
//!    the snapshot does not hold, and are left out;
//! 4. the keys: `root-credentials`, `root-identity`, `secrets.key` (IAM secrets are sealed
//!    with it), then `meta.db` under its name and the manifest: a backup without
//!    `holdfast-backup.json` is unfinished.
//!
//! A backup dir has a data dir's layout: `restore` checks it and copies it into a new data dir.

use crate::config::{Config, MetaBackend};
use anyhow::{Context, bail};
use std::collections::BTreeSet;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

/// The manifest a finished backup ends with.
pub const MANIFEST: &str = "holdfast-backup.json";
/// Files of a data dir that a backup copies as they are (private keys).
const KEY_FILES: [&str; 3] = ["root-credentials", "root-identity", "secrets.key"];
/// Snapshots taken at most, when blobs were collected under the copy.
const ATTEMPTS: usize = 5;

fn private_dir(path: &Path) -> anyhow::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .with_context(|| format!("cannot create {}", path.display()))
}

fn fsync_dir(path: &Path) -> anyhow::Result<()> {
    std::fs::File::open(path).and_then(|f| f.sync_all()).with_context(|| format!("cannot sync {}", path.display()))
}

/// Copies a file to `to` (through a temporary beside it, fsynced, mode 0600); `Ok(None)` when
/// the source does not exist.
fn copy_file(from: &Path, to: &Path) -> anyhow::Result<Option<u64>> {
    let mut src = match std::fs::File::open(from) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", from.display())),
    };
    let tmp = to.with_extension("partial");
    let mut dst = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("cannot create {}", tmp.display()))?;
    let n = std::io::copy(&mut src, &mut dst).with_context(|| format!("cannot copy {}", from.display()))?;
    dst.sync_all().with_context(|| format!("cannot sync {}", tmp.display()))?;
    std::fs::rename(&tmp, to).with_context(|| format!("cannot rename {}", tmp.display()))?;
    Ok(Some(n))
}

fn blob_path(root: &Path, id: &str) -> PathBuf {
    root.join("blobs").join(&id[..2]).join(id)
}

/// A directory that may receive a backup or a restore: absent, or empty.
fn fresh_dir(dir: &Path, what: &str) -> anyhow::Result<()> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                bail!("{what} {} is not empty; give a new directory", dir.display());
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", dir.display())),
    }
    private_dir(dir)
}

/// The trail lines of `from` up to record `audit_high`, written to `to`: returns the records
/// kept and the outbox ids they carry.
fn copy_trail(from: &Path, to: &Path, audit_high: i64) -> anyhow::Result<(u64, Vec<i64>)> {
    private_dir(to)?;
    let mut records = 0;
    let mut rids = Vec::new();
    'files: for file in holdfast_audit::trail_files(from).with_context(|| format!("cannot list {}", from.display()))? {
        let bytes = std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
        // A line being written has no newline yet: it is not a record (its record is in the
        // snapshot's outbox, or after the snapshot).
        let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
        let text = std::str::from_utf8(&bytes[..complete])
            .with_context(|| format!("{} is not UTF-8; run `holdfast admin audit verify`", file.display()))?;
        let mut kept = String::new();
        let mut cut = false;
        for line in text.split_terminator('\n') {
            let rid = serde_json::from_str::<serde_json::Value>(line).ok().and_then(|v| v["rid"].as_i64());
            if rid.is_some_and(|rid| rid > audit_high) {
                cut = true;
                break;
            }
            rids.extend(rid);
            records += 1;
            kept.push_str(line);
            kept.push('\n');
        }
        if !kept.is_empty() {
            let name = file.file_name().context("trail file name")?;
            let path = to.join(name);
            let mut out = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .with_context(|| format!("cannot create {}", path.display()))?;
            out.write_all(kept.as_bytes())
                .and_then(|()| out.sync_all())
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        if cut || complete < bytes.len() {
            break 'files;
        }
    }
    fsync_dir(to)?;
    Ok((records, rids))
}

/// `holdfast admin backup`: see the module's documentation.
pub fn backup(data_dir: &Path, cfg: &Config, dest: &Path) -> anyhow::Result<()> {
    if let MetaBackend::Postgres { .. } = cfg.meta {
        bail!(
            "the metadata of this data dir is on PostgreSQL: back it up with pg_dump or pg_basebackup, then copy \
             the blob files and the audit trails (docs/operations.md#postgresql)"
        );
    }
    let db = data_dir.join("meta.db");
    if !db.is_file() {
        bail!("no metadata database at {}: not an embedded data dir", db.display());
    }
    let started = std::time::Instant::now();
    fresh_dir(dest, "backup directory")?;
    let copy_db = dest.join("meta.db.partial");
    let mut copied: BTreeSet<String> = BTreeSet::new();
    let mut bytes = 0u64;
    let mut snap = None;
    for attempt in 1..=ATTEMPTS {
        let _ = std::fs::remove_file(&copy_db);
        let s = holdfast_meta::sqlite::backup::snapshot(&db, &copy_db).context("cannot take the metadata snapshot")?;
        let mut gone = 0;
        for id in &s.blobs {
            if copied.contains(id) || id.len() < 2 {
                continue;
            }
            let to = blob_path(dest, id);
            private_dir(to.parent().context("blob dir")?)?;
            match copy_file(&blob_path(data_dir, id), &to)? {
                Some(n) => {
                    bytes += n;
                    copied.insert(id.clone());
                }
                None => gone += 1,
            }
        }
        if gone == 0 {
            snap = Some(s);
            break;
        }
        eprintln!(
            "{gone} blob files were collected after snapshot {attempt} (their versions were deleted since); taking a new one"
        );
    }
    let Some(snap) = snap else {
        bail!("blob files kept disappearing under the copy ({ATTEMPTS} snapshots); is the data dir being emptied?");
    };
    // Blobs of earlier snapshots that the last one no longer refers to.
    let wanted: BTreeSet<&String> = snap.blobs.iter().collect();
    for id in copied.iter().filter(|id| !wanted.contains(id)) {
        std::fs::remove_file(blob_path(dest, id))
            .with_context(|| format!("cannot remove blob {id} from the backup"))?;
    }
    for dir in std::fs::read_dir(dest.join("blobs")).into_iter().flatten().flatten() {
        fsync_dir(&dir.path())?;
    }
    let (records, rids) =
        copy_trail(&data_dir.join(holdfast_audit::AUDIT_DIR), &dest.join(holdfast_audit::AUDIT_DIR), snap.audit_high)?;
    let pending: BTreeSet<i64> = snap.outbox.iter().copied().collect();
    let written: Vec<i64> = rids.into_iter().filter(|id| pending.contains(id)).collect();
    holdfast_meta::sqlite::backup::forget_written(&copy_db, &written)
        .context("cannot update the copy's audit outbox")?;
    let trail = holdfast_audit::verify_dir(&dest.join(holdfast_audit::AUDIT_DIR))
        .context("cannot read the copied trail")?
        .map_err(|e| {
            anyhow::anyhow!(
                "the copied audit trail is BROKEN ({e}); the data dir's trail needs `holdfast admin audit verify`"
            )
        })?;
    for name in KEY_FILES {
        copy_file(&data_dir.join(name), &dest.join(name))?;
    }
    std::fs::rename(&copy_db, dest.join("meta.db")).context("cannot name the metadata copy")?;
    let manifest = serde_json::json!({
        "format": "holdfast-backup/1",
        "holdfast": env!("CARGO_PKG_VERSION"),
        "source": data_dir.display().to_string(),
        "taken_at": holdfast_lock::UtcMillis::now_system().to_iso8601(),
        "schema_version": snap.schema_version,
        "versions": snap.versions,
        "blobs": snap.blobs.len(),
        "blob_bytes": bytes,
        "audit_records": records,
        "audit_head": trail.head,
        "audit_outbox_pending": snap.outbox.len() - written.len(),
        "audit_high_rid": snap.audit_high,
    });
    let path = dest.join(MANIFEST);
    std::fs::write(&path, format!("{}\n", serde_json::to_string_pretty(&manifest)?))
        .with_context(|| format!("cannot write {}", path.display()))?;
    std::fs::File::open(&path).and_then(|f| f.sync_all())?;
    fsync_dir(dest)?;
    println!(
        "backup of {} in {}: {} versions, {} blob files ({} bytes), audit trail {} records (head {}) + {} in the outbox; {:.1} s",
        data_dir.display(),
        dest.display(),
        snap.versions,
        snap.blobs.len(),
        bytes,
        records,
        trail.head,
        snap.outbox.len() - written.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Copies the tree `from` into `to` (files 0600, directories 0700, fsynced).
fn copy_tree(from: &Path, to: &Path, files: &mut u64) -> anyhow::Result<()> {
    private_dir(to)?;
    for entry in std::fs::read_dir(from).with_context(|| format!("cannot read {}", from.display()))? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            copy_tree(&entry.path(), &target, files)?;
        } else if kind.is_file() && entry.file_name() != MANIFEST {
            copy_file(&entry.path(), &target)?;
            *files += 1;
        }
    }
    fsync_dir(to)
}

/// `holdfast admin restore`: checks a backup (manifest, trail) and copies it into a new
/// data dir, which `holdfast serve` then opens like any other (the start checks the store
/// against the trail).
pub fn restore(from: &Path, data_dir: &Path) -> anyhow::Result<()> {
    let manifest = std::fs::read_to_string(from.join(MANIFEST))
        .with_context(|| format!("{} has no {MANIFEST}: not a finished `holdfast admin backup`", from.display()))?;
    let manifest: serde_json::Value = serde_json::from_str(&manifest).context("unreadable backup manifest")?;
    if manifest["format"] != "holdfast-backup/1" {
        bail!("unknown backup format {}", manifest["format"]);
    }
    let schema = manifest["schema_version"].as_i64().unwrap_or(i64::MAX);
    if schema > holdfast_meta::sqlite::SCHEMA_VERSION {
        bail!(
            "the backup has metadata schema {schema}, newer than this build reads ({}): restore it with the holdfast \
             that made it ({})",
            holdfast_meta::sqlite::SCHEMA_VERSION,
            manifest["holdfast"]
        );
    }
    let trail = holdfast_audit::verify_dir(&from.join(holdfast_audit::AUDIT_DIR))
        .context("cannot read the backup's trail")?
        .map_err(|e| anyhow::anyhow!("the backup's audit trail is BROKEN: {e}"))?;
    if manifest["audit_head"].as_str() != Some(trail.head.as_str()) {
        bail!("the backup's audit trail ends at {} but its manifest says {}", trail.head, manifest["audit_head"]);
    }
    let blobs = blob_ids(from)?;
    if Some(blobs.len() as u64) != manifest["blobs"].as_u64() {
        bail!("the backup holds {} blob files, its manifest {}", blobs.len(), manifest["blobs"]);
    }
    fresh_dir(data_dir, "data dir")?;
    let mut files = 0;
    copy_tree(from, data_dir, &mut files)?;
    println!(
        "restored the backup of {} taken at {} into {}: {} files, audit trail {} records (head {}); start it with \
         `holdfast serve --data-dir {}`",
        manifest["source"].as_str().unwrap_or("?"),
        manifest["taken_at"].as_str().unwrap_or("?"),
        data_dir.display(),
        files,
        trail.records,
        trail.head,
        data_dir.display()
    );
    Ok(())
}

fn blob_ids(root: &Path) -> anyhow::Result<Vec<String>> {
    let mut ids = Vec::new();
    for dir in std::fs::read_dir(root.join("blobs")).into_iter().flatten() {
        for f in std::fs::read_dir(dir?.path())? {
            ids.push(f?.file_name().to_string_lossy().into_owned());
        }
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A trail of `n` records with outbox ids 1..=n over two files, the last line unfinished.
    fn trail(dir: &Path, n: i64) {
        std::fs::create_dir_all(dir).unwrap();
        let mut prev = holdfast_audit::GENESIS.to_owned();
        let mut files = [String::new(), String::new()];
        for i in 1..=n {
            let mut r = holdfast_audit::AuditRecord::new("PutObject", holdfast_lock::UtcMillis(1_700_000_000_000));
            r.rid = Some(i);
            let (line, hash) = holdfast_audit::seal_line(u64::try_from(i).unwrap(), &prev, &r);
            prev = hash;
            files[usize::from(i > n / 2)].push_str(&format!("{line}\n"));
        }
        std::fs::write(dir.join("audit-000001.jsonl"), &files[0]).unwrap();
        std::fs::write(dir.join("audit-000002.jsonl"), format!("{}{{\"hash\":\"torn", files[1])).unwrap();
    }

    #[test]
    fn the_trail_is_cut_at_the_snapshot() {
        let tmp = tempfile::tempdir().unwrap();
        trail(&tmp.path().join("a"), 10);
        // Cut inside the second file: records 1..=7.
        let (records, rids) = copy_trail(&tmp.path().join("a"), &tmp.path().join("b"), 7).unwrap();
        assert_eq!((records, rids), (7, (1..=7).collect::<Vec<i64>>()));
        let report = holdfast_audit::verify_dir(&tmp.path().join("b")).unwrap().unwrap();
        assert_eq!((report.records, report.unfinished_tail_bytes), (7, 0));
        // Beyond the last record: everything complete, the unfinished line left out.
        let (records, _) = copy_trail(&tmp.path().join("a"), &tmp.path().join("c"), 99).unwrap();
        assert_eq!(records, 10);
        assert_eq!(holdfast_audit::verify_dir(&tmp.path().join("c")).unwrap().unwrap().unfinished_tail_bytes, 0);
        // Inside the first file: the second is not created.
        let (records, _) = copy_trail(&tmp.path().join("a"), &tmp.path().join("d"), 3).unwrap();
        assert_eq!(records, 3);
        assert!(!tmp.path().join("d/audit-000002.jsonl").exists());
    }
}
