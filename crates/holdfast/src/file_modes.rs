//! The data directory is private to the server's user: directories 0700, files
//! 0600. Small objects live inside the metadata database and the trail names every change,
//! so no file in it may be readable by another local user.
//!
//! New files get the mode from the process umask (set once at start, so SQLite's `-wal` /
//! `-shm`, blobs, temporaries and audit files are all covered, whoever creates them); files
//! left wider by an older build, a restore or an operator are narrowed at start.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Group and other bits: none may be set on anything in the data dir.
const NOT_OWNER: u32 = 0o077;

/// Makes every file and directory this process creates private to its user.
pub fn restrict_umask() {
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(NOT_OWNER));
}

/// What [`narrow_modes`] changed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Narrowed {
    pub files: u64,
    pub dirs: u64,
}

/// Walks `dir` (itself included; symbolic links are neither followed nor changed) and
/// removes the group and other bits of every file and directory that has any.
pub fn narrow_modes(dir: &Path) -> io::Result<Narrowed> {
    let mut narrowed = Narrowed::default();
    let mut pending = vec![dir.to_owned()];
    while let Some(path) = pending.pop() {
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(m) => m,
            // Removed meanwhile (a temporary finished, another gateway's sweep): here and below.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        let kind = meta.file_type();
        if kind.is_symlink() {
            continue;
        }
        let mode = meta.permissions().mode() & 0o7777;
        if mode & NOT_OWNER != 0 {
            match std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode & !NOT_OWNER)) {
                Ok(()) if kind.is_dir() => narrowed.dirs += 1,
                Ok(()) => narrowed.files += 1,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            }
        }
        if kind.is_dir() {
            let entries = match std::fs::read_dir(&path) {
                Ok(entries) => entries,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            for entry in entries {
                pending.push(entry?.path());
            }
        }
    }
    Ok(narrowed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn narrows_what_is_wider_and_leaves_the_rest() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("data");
        let sub = root.join("blobs").join("ab");
        std::fs::create_dir_all(&sub).unwrap();
        let wide = root.join("meta.db");
        let private = sub.join("blob");
        let readonly = root.join("ro");
        std::fs::write(&wide, b"x").unwrap();
        std::fs::write(&private, b"y").unwrap();
        std::fs::write(&readonly, b"z").unwrap();
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(root.join("blobs"), std::fs::Permissions::from_mode(0o775)).unwrap();
        std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::set_permissions(&wide, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::set_permissions(&readonly, std::fs::Permissions::from_mode(0o444)).unwrap();
        // A link out of the data dir is not followed: its target keeps its mode.
        let outside = tmp.path().join("outside");
        std::fs::write(&outside, b"o").unwrap();
        std::fs::set_permissions(&outside, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("link")).unwrap();

        assert_eq!(narrow_modes(&root).unwrap(), Narrowed { files: 2, dirs: 2 });
        assert_eq!(mode(&root), 0o700);
        assert_eq!(mode(&root.join("blobs")), 0o700);
        assert_eq!(mode(&sub), 0o700);
        assert_eq!(mode(&wide), 0o600);
        assert_eq!(mode(&private), 0o600);
        assert_eq!(mode(&readonly), 0o400, "narrower than 0600 stays as it is");
        assert_eq!(mode(&outside), 0o644);
        assert_eq!(narrow_modes(&root).unwrap(), Narrowed::default(), "a second pass finds nothing");
    }
}
