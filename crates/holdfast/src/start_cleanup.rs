//! A start that fails creates nothing. `serve` binds its port and validates its
//! configuration before it touches the data dir; what can only fail later (the database,
//! the blob store, the audit trail) is undone here: if this start created the data dir, or
//! found it empty, and does not reach "listening", what it created is removed again, so
//! no data dir, credentials or database are left behind for the next start to trip on.

use std::path::{Path, PathBuf};

/// What was at the data dir's path before this start.
enum Before {
    /// Nothing: `created` is the topmost directory this start will create (the data dir or
    /// a missing ancestor of it).
    Absent { created: PathBuf },
    /// An empty directory: everything in it was made by this start.
    Empty,
    /// A data dir in use or with content: never touched on failure.
    InUse,
}

/// Armed from before the data dir is created until the server is ready; dropped armed
/// (an error returned from `serve`), it removes what this start created.
pub struct StartCleanup {
    dir: PathBuf,
    before: Before,
    armed: bool,
}

impl StartCleanup {
    /// Looks at `dir` before anything is created there.
    pub fn before_creating(dir: &Path) -> Self {
        let before = match std::fs::read_dir(dir) {
            Ok(mut entries) => {
                if entries.next().is_none() {
                    Before::Empty
                } else {
                    Before::InUse
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut created = dir.to_owned();
                while let Some(parent) = created.parent().filter(|p| !p.as_os_str().is_empty() && !p.exists()) {
                    created = parent.to_owned();
                }
                Before::Absent { created }
            }
            // Unreadable: the start fails on it anyway, and nothing is ours to remove.
            Err(_) => Before::InUse,
        };
        Self { dir: dir.to_owned(), before, armed: true }
    }

    /// The start succeeded: keep everything.
    pub fn disarm(mut self) {
        self.armed = false;
    }

    /// Whether another process (a gateway sharing the dir) holds the data dir's lock: then
    /// what is in it is not only this start's.
    fn in_use_by_another(&self) -> bool {
        let Ok(f) = std::fs::File::open(self.dir.join("holdfast.lock")) else { return false };
        matches!(f.try_lock(), Err(std::fs::TryLockError::WouldBlock))
    }
}

impl Drop for StartCleanup {
    fn drop(&mut self) {
        if !self.armed || matches!(self.before, Before::InUse) || self.in_use_by_another() {
            return;
        }
        let result = match &self.before {
            Before::Absent { created } => std::fs::remove_dir_all(created).map(|()| created.clone()),
            Before::Empty => std::fs::read_dir(&self.dir)
                .and_then(|entries| {
                    for entry in entries {
                        let path = entry?.path();
                        if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) }?;
                    }
                    Ok(())
                })
                .map(|()| self.dir.clone()),
            Before::InUse => return,
        };
        match result {
            Ok(path) => tracing::info!("start failed: removed what it created in {}", path.display()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(error = %e, "start failed and what it created in {} could not be removed", self.dir.display())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_only_what_a_failed_start_created() {
        let tmp = tempfile::tempdir().unwrap();
        let absent = tmp.path().join("a").join("data");
        let guard = StartCleanup::before_creating(&absent);
        std::fs::create_dir_all(absent.join("blobs")).unwrap();
        std::fs::write(absent.join("root-credentials"), b"x").unwrap();
        drop(guard);
        assert!(!tmp.path().join("a").exists(), "the missing ancestor made by the start is gone too");

        let empty = tmp.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        let guard = StartCleanup::before_creating(&empty);
        std::fs::create_dir_all(empty.join("audit")).unwrap();
        std::fs::write(empty.join("meta.db"), b"x").unwrap();
        drop(guard);
        assert!(empty.is_dir(), "a directory that existed stays");
        assert_eq!(std::fs::read_dir(&empty).unwrap().count(), 0, "emptied again");

        let used = tmp.path().join("used");
        std::fs::create_dir(&used).unwrap();
        std::fs::write(used.join("meta.db"), b"old").unwrap();
        let guard = StartCleanup::before_creating(&used);
        std::fs::write(used.join("new"), b"x").unwrap();
        drop(guard);
        assert!(used.join("meta.db").exists() && used.join("new").exists(), "a used data dir is never touched");

        let ok = tmp.path().join("ok");
        let guard = StartCleanup::before_creating(&ok);
        std::fs::create_dir(&ok).unwrap();
        guard.disarm();
        assert!(ok.is_dir(), "a start that succeeded keeps its data dir");

        // A gateway sharing the (fresh) dir holds its lock: nothing is removed.
        let shared = tmp.path().join("shared");
        let guard = StartCleanup::before_creating(&shared);
        std::fs::create_dir(&shared).unwrap();
        let lock = std::fs::File::create(shared.join("holdfast.lock")).unwrap();
        lock.lock_shared().unwrap();
        drop(guard);
        assert!(shared.join("holdfast.lock").exists());
    }
}
