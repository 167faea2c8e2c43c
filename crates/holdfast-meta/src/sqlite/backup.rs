//! Online backup of the embedded database (`holdfast admin backup`): SQLite's backup API
//! copies every page in one step, inside one read transaction of the source, so the copy
//! is the database as one commit left it, while the server keeps writing (WAL: readers
//! never block the writer).

use crate::{MetaError, MetaResult};
use rusqlite::{Connection, OpenFlags};
use std::path::Path;

/// What a snapshot holds, for a backup to copy the rest of the data dir to match it.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Every blob file the copy's versions and parts refer to (the `blobs` table).
    pub blobs: Vec<String>,
    /// The highest audit outbox id assigned when the snapshot was taken (0: none yet). Trail
    /// lines with a higher `rid` record changes the snapshot does not hold.
    pub audit_high: i64,
    /// The records still in the copy's outbox (committed, maybe not in the files yet).
    pub outbox: Vec<i64>,
    /// The copy's schema version.
    pub schema_version: i64,
    /// Object versions and delete markers in the copy.
    pub versions: i64,
}

/// Copies the live database at `src` into a new file `dest` and reads what the rest of a
/// backup needs from the copy. `dest` must not exist.
pub fn snapshot(src: &Path, dest: &Path) -> MetaResult<Snapshot> {
    if dest.exists() {
        return Err(MetaError::Internal(format!("{} exists already", dest.display())));
    }
    let source = Connection::open_with_flags(src, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    source.busy_timeout(std::time::Duration::from_secs(10))?;
    let mut copy = Connection::open(dest)?;
    {
        let backup = rusqlite::backup::Backup::new(&source, &mut copy)?;
        // All pages in one step: one read transaction, so a commit of the server in the
        // middle cannot restart the copy (it would, page by page, under a steady writer).
        loop {
            match backup.step(-1)? {
                rusqlite::backup::StepResult::Done => break,
                rusqlite::backup::StepResult::More => {}
                _ => std::thread::sleep(std::time::Duration::from_millis(50)),
            }
        }
    }
    // One self-contained file; the server that opens it turns WAL on again.
    let _: String = copy.query_row("PRAGMA journal_mode=DELETE", [], |r| r.get(0))?;
    read_snapshot(&copy)
}

fn read_snapshot(copy: &Connection) -> MetaResult<Snapshot> {
    let blobs =
        copy.prepare("SELECT id FROM blobs ORDER BY id")?.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
    let audit_high = copy
        .query_row("SELECT seq FROM sqlite_sequence WHERE name = 'audit_outbox'", [], |r| r.get(0))
        .or_else(|e| if matches!(e, rusqlite::Error::QueryReturnedNoRows) { Ok(0) } else { Err(e) })?;
    let outbox = copy
        .prepare("SELECT id FROM audit_outbox ORDER BY id")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let schema_version = copy.query_row("SELECT version FROM schema_version", [], |r| r.get(0))?;
    let versions = copy.query_row("SELECT count(*) FROM versions", [], |r| r.get(0))?;
    Ok(Snapshot { blobs, audit_high, outbox, schema_version, versions })
}

/// Removes from the copy's outbox the records the copied trail files already hold (the
/// server had written them but not yet removed them when the snapshot was taken), as the
/// server itself does after writing them: the restored server then starts from the state a
/// clean stop leaves. Returns how many were removed.
pub fn forget_written(copy: &Path, ids: &[i64]) -> MetaResult<usize> {
    let mut conn = Connection::open(copy)?;
    let tx = conn.transaction()?;
    let mut removed = 0;
    {
        let mut stmt = tx.prepare("DELETE FROM audit_outbox WHERE id = ?1")?;
        for id in ids {
            removed += stmt.execute([id])?;
        }
    }
    tx.commit()?;
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_of_a_database_being_written() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("meta.db");
        let meta = crate::sqlite::SqliteMeta::open(&src).unwrap();
        drop(meta);
        // A second connection writes the outbox while the snapshot is taken.
        let writer = Connection::open(&src).unwrap();
        writer.execute_batch("PRAGMA journal_mode=WAL").unwrap();
        for i in 0..50 {
            writer.execute("INSERT INTO audit_outbox (record) VALUES (?1)", [format!("r{i}")]).unwrap();
        }
        writer.execute("DELETE FROM audit_outbox WHERE id <= 40", []).unwrap();
        let snap = snapshot(&src, &dir.path().join("copy.db")).unwrap();
        assert_eq!(snap.audit_high, 50);
        assert_eq!(snap.outbox, (41..=50).collect::<Vec<i64>>());
        assert_eq!(snap.schema_version, crate::sqlite::SCHEMA_VERSION);
        assert!(snapshot(&src, &dir.path().join("copy.db")).is_err(), "never over an existing file");
        assert_eq!(forget_written(&dir.path().join("copy.db"), &[41, 42, 99]).unwrap(), 2);
        let again = read_snapshot(&Connection::open(dir.path().join("copy.db")).unwrap()).unwrap();
        assert_eq!(again.outbox, (43..=50).collect::<Vec<i64>>());
        assert!(!dir.path().join("copy.db-wal").exists(), "the copy is one file");
    }
}
