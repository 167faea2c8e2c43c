//! A small tmpfs for the fault tests (a full disk, a full trail): mounted for the test's
//! life and unmounted on drop. Needs root, as CI has.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Tmpfs {
    path: PathBuf,
    /// The temporary directory holding the mount point, when the tmpfs made it.
    _dir: Option<tempfile::TempDir>,
}

impl Tmpfs {
    /// A tmpfs of `size` (`64m`, `64k`) on a fresh temporary mount point.
    pub fn mount(size: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("fs");
        let mut fs = Self::mount_at(&path, size);
        fs._dir = Some(dir);
        fs
    }

    /// A tmpfs of `size` at `path` (created if needed).
    pub fn mount_at(path: &Path, size: &str) -> Self {
        std::fs::create_dir_all(path).expect("mount point");
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700"), "tmpfs"])
            .arg(path)
            .status()
            .expect("run mount");
        assert!(ok.success(), "cannot mount a tmpfs at {}: these tests need root", path.display());
        Self { path: path.to_owned(), _dir: None }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Gives the volume a new size (space returns, or goes).
    pub fn resize(&self, size: &str) {
        let ok = Command::new("mount").args(["-o", &format!("remount,size={size}")]).arg(&self.path).status();
        assert!(ok.is_ok_and(|s| s.success()), "cannot resize the tmpfs at {}", self.path.display());
    }

    /// Writes a file until the volume is full (ENOSPC), as another process would.
    pub fn fill(&self, name: &str) -> PathBuf {
        let file = self.path.join(name);
        let mut f = std::fs::File::create(&file).expect("filler file");
        for chunk in [vec![0xA5u8; 64 << 10], vec![1u8; 512]] {
            for _ in 0..4096 {
                if f.write_all(&chunk).is_err() {
                    break;
                }
            }
        }
        file
    }

    /// Writes a file of `bytes` bytes.
    pub fn occupy(&self, name: &str, bytes: usize) -> PathBuf {
        let file = self.path.join(name);
        std::fs::write(&file, vec![0x5Au8; bytes]).expect("occupy");
        file
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}
