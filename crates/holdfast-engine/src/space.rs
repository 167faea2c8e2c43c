//! The free-space reserve: a full disk is a state, not a crash.
//!
//! Below `reserve` bytes free on the data volume, new data (PUT, copy, part upload,
//! completion, new uploads) is refused before any byte is written, so what is left serves
//! what must keep working on a full disk: reads, deletes, lock and legal-hold changes,
//! bucket configuration and the audit trail. Free space is read with `statvfs` on the data
//! dir at every admission, so writes resume on their own once space returns. Far above the
//! reserve a reading is reused for a short while (see [`READING_REUSE`]): a volume filled
//! from outside is noticed within that time; near the reserve every admission reads it.
//!
//! On the embedded store a *ballast* file is kept as well: SQLite needs free space to delete
//! (WAL frames, a checkpoint that may grow the database), so when the volume is filled from
//! outside despite the reserve, the ballast is released and deletes go on; it is made again
//! once space is back.

use crate::{EngineError, EngineResult};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// The ballast file, in the data dir (outside `blobs/` and `tmp/`, which sweeps visit).
pub const BALLAST_FILE: &str = "space-ballast";
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;
/// Bounds of the default reserve: 5% of the volume, but no more than this ...
const DEFAULT_RESERVE_MAX: u64 = GIB;
/// ... and no less than this (a delete, a lock change and the audit trail need a few MiB).
const DEFAULT_RESERVE_MIN: u64 = 16 * MIB;
/// The ballast is a quarter of the reserve, at most this.
const BALLAST_MAX: u64 = 32 * MIB;
/// How long an admission may rely on the last reading instead of `statvfs` (two syscalls
/// and five gauges per PUT were ~2.5 % of a 4 KiB PUT's CPU, #17) ...
pub const READING_REUSE: std::time::Duration = std::time::Duration::from_millis(50);
/// ... and only while the volume had this much more than the reserve free, beyond every
/// byte admitted since the reading: near the reserve each admission reads the volume.
pub const REUSE_MARGIN: u64 = 64 * MIB;

/// One reading of the data volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpaceReading {
    /// Bytes an unprivileged writer may still use (`f_bavail`).
    pub free: u64,
    /// Size of the volume.
    pub total: u64,
    /// The reserve in force (`[limits] min_free_bytes`).
    pub reserve: u64,
    /// Bytes held by the ballast file now (0 when released or not used).
    pub ballast: u64,
}

impl SpaceReading {
    /// Whether new data is refused.
    pub fn low(&self) -> bool {
        self.free < self.reserve
    }
}

/// The default of `[limits] min_free_bytes` for a volume of `total` bytes: 5% of it, at
/// most 1 GiB, at least 16 MiB.
pub fn default_reserve(total: u64) -> u64 {
    (total / 20).clamp(DEFAULT_RESERVE_MIN, DEFAULT_RESERVE_MAX)
}

/// The ballast kept for a reserve: a quarter of it, at most 32 MiB (0 without a reserve).
pub fn ballast_for(reserve: u64) -> u64 {
    (reserve / 4).min(BALLAST_MAX)
}

/// Free and total bytes of the volume holding `dir`.
pub fn volume(dir: &Path) -> io::Result<(u64, u64)> {
    let st = rustix::fs::statvfs(dir).map_err(io::Error::from)?;
    let unit = if st.f_frsize > 0 { st.f_frsize } else { st.f_bsize };
    Ok((st.f_bavail.saturating_mul(unit), st.f_blocks.saturating_mul(unit)))
}

/// Watches the data volume: admits new data, keeps the ballast, sets the gauges.
pub struct DiskSpace {
    dir: PathBuf,
    reserve: u64,
    /// Size of the ballast file when held; 0: no ballast (PostgreSQL, or no reserve).
    ballast_size: u64,
    ballast_held: AtomicBool,
    /// Serialises making and releasing the ballast.
    ballast_lock: Mutex<()>,
    /// Declared bytes of the writes admitted and not finished yet: concurrent writes near
    /// the threshold do not all pass on the same reading.
    in_flight: AtomicU64,
    /// Whether the last reading was low (to log the changes, not every refusal).
    low: AtomicBool,
    /// The last reading's free bytes and when it was taken, for admissions far above the
    /// reserve ([`READING_REUSE`], [`REUSE_MARGIN`]).
    last: Mutex<Option<LastReading>>,
    /// Readings of the volume taken (for tests of the reuse).
    readings: AtomicU64,
}

#[derive(Debug, Clone, Copy)]
struct LastReading {
    free: u64,
    at: std::time::Instant,
    /// Declared bytes admitted on this reading since it was taken.
    admitted: u64,
}

/// Holds an admitted write's declared bytes against the reserve until dropped.
pub struct SpaceClaim<'a> {
    space: &'a DiskSpace,
    bytes: u64,
}

impl Drop for SpaceClaim<'_> {
    fn drop(&mut self) {
        self.space.in_flight.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

impl DiskSpace {
    /// Watches the volume of `dir` with `reserve` bytes kept free; with `ballast_size` > 0
    /// also keeps a ballast file of that size in `dir` (made now if space allows; an old
    /// one is adopted).
    pub fn open(dir: &Path, reserve: u64, ballast_size: u64) -> io::Result<Self> {
        let path = dir.join(BALLAST_FILE);
        let held = ballast_size > 0 && std::fs::metadata(&path).is_ok_and(|m| m.len() == ballast_size);
        if ballast_size == 0 || !held {
            // A ballast of another size (changed settings) or none wanted: start over.
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        let space = Self {
            dir: dir.to_owned(),
            reserve,
            ballast_size,
            ballast_held: AtomicBool::new(held),
            ballast_lock: Mutex::new(()),
            in_flight: AtomicU64::new(0),
            low: AtomicBool::new(false),
            last: Mutex::new(None),
            readings: AtomicU64::new(0),
        };
        space.tend()?;
        Ok(space)
    }

    pub fn reserve(&self) -> u64 {
        self.reserve
    }

    /// Reads the volume, releases the ballast if the disk is nearly exhausted, sets the
    /// gauges and logs a change of state. Cheap (one `statvfs`): called on every write
    /// admission, delete, lock change, health check and metrics scrape.
    pub fn measure(&self) -> io::Result<SpaceReading> {
        let at = std::time::Instant::now();
        self.readings.fetch_add(1, Ordering::Relaxed);
        let (mut free, total) = volume(&self.dir)?;
        if self.ballast_held.load(Ordering::Acquire) && free < self.ballast_size {
            // Filled from outside despite the reserve: give SQLite room to delete.
            self.release_ballast(free);
            free = volume(&self.dir)?.0;
        }
        let reading = SpaceReading {
            free,
            total,
            reserve: self.reserve,
            ballast: if self.ballast_held.load(Ordering::Acquire) { self.ballast_size } else { 0 },
        };
        let low = reading.low();
        if let Ok(mut last) = self.last.lock() {
            *last = Some(LastReading { free, at, admitted: 0 });
        }
        if self.low.swap(low, Ordering::AcqRel) != low {
            if low {
                tracing::warn!(
                    free = reading.free,
                    reserve = reading.reserve,
                    "disk space low: new data is refused (507 InsufficientStorage) until free space is above the reserve; reads, deletes and lock changes go on"
                );
            } else {
                tracing::info!(
                    free = reading.free,
                    reserve = reading.reserve,
                    "disk space above the reserve again: new data is accepted"
                );
            }
        }
        metrics::gauge!("holdfast_disk_free_bytes").set(reading.free as f64);
        metrics::gauge!("holdfast_disk_total_bytes").set(reading.total as f64);
        metrics::gauge!("holdfast_disk_reserve_bytes").set(reading.reserve as f64);
        metrics::gauge!("holdfast_disk_ballast_bytes").set(reading.ballast as f64);
        metrics::gauge!("holdfast_disk_low").set(if low { 1.0 } else { 0.0 });
        Ok(reading)
    }

    /// [`Self::measure`], and makes the ballast again once there is room for it above the
    /// reserve. For the periodic watch (it may write `ballast_size` bytes).
    pub fn tend(&self) -> io::Result<SpaceReading> {
        let reading = self.measure()?;
        if self.ballast_size > 0
            && !self.ballast_held.load(Ordering::Acquire)
            && reading.free >= self.reserve.saturating_add(self.ballast_size)
        {
            self.make_ballast()?;
            return self.measure();
        }
        Ok(reading)
    }

    /// Admits a write of `incoming` bytes (its declared length; 0 when unknown or for a
    /// record only): refused with [`EngineError::InsufficientStorage`] when it would leave
    /// less than the reserve free. The claim holds the bytes until the write ends.
    pub fn admit(&self, incoming: u64) -> EngineResult<SpaceClaim<'_>> {
        if self.admit_on_last_reading(incoming) {
            self.in_flight.fetch_add(incoming, Ordering::AcqRel);
            return Ok(SpaceClaim { space: self, bytes: incoming });
        }
        let reading = self.measure()?;
        let pending = self.in_flight.fetch_add(incoming, Ordering::AcqRel);
        let claim = SpaceClaim { space: self, bytes: incoming };
        let after = reading.free.saturating_sub(pending).saturating_sub(incoming);
        if self.reserve > 0 && (reading.low() || after < self.reserve) {
            return Err(EngineError::InsufficientStorage { free: reading.free, reserve: self.reserve });
        }
        Ok(claim)
    }

    /// Whether the last reading, younger than [`READING_REUSE`], leaves more than the
    /// reserve plus [`REUSE_MARGIN`] free after everything admitted on it, in flight and
    /// `incoming`: then it admits `incoming` on it without reading the volume again.
    fn admit_on_last_reading(&self, incoming: u64) -> bool {
        let Ok(mut last) = self.last.lock() else { return false };
        let Some(r) = last.as_mut() else { return false };
        if r.at.elapsed() >= READING_REUSE {
            return false;
        }
        let pending = self.in_flight.load(Ordering::Acquire);
        let after = r.free.saturating_sub(r.admitted).saturating_sub(pending).saturating_sub(incoming);
        if after < self.reserve.saturating_add(REUSE_MARGIN) {
            return false;
        }
        r.admitted = r.admitted.saturating_add(incoming);
        true
    }

    /// Readings of the volume taken so far.
    pub fn readings(&self) -> u64 {
        self.readings.load(Ordering::Relaxed)
    }

    /// The error for a write the volume itself refused (ENOSPC while writing a blob, or
    /// SQLite's "database or disk is full"): 507 with a fresh reading, like an admission.
    pub fn refused(&self) -> EngineError {
        match self.measure() {
            Ok(r) => EngineError::InsufficientStorage { free: r.free, reserve: self.reserve },
            Err(e) => EngineError::Io(e),
        }
    }

    fn release_ballast(&self, free: u64) {
        let Ok(_guard) = self.ballast_lock.lock() else { return };
        if !self.ballast_held.load(Ordering::Acquire) {
            return;
        }
        match std::fs::remove_file(self.dir.join(BALLAST_FILE)) {
            Ok(()) => {
                self.ballast_held.store(false, Ordering::Release);
                tracing::warn!(
                    free,
                    released = self.ballast_size,
                    "disk nearly full: released the space ballast so that deletes and lock changes can commit"
                );
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => self.ballast_held.store(false, Ordering::Release),
            Err(e) => tracing::error!(error = %e, "cannot release the space ballast"),
        }
    }

    fn make_ballast(&self) -> io::Result<()> {
        let Ok(_guard) = self.ballast_lock.lock() else { return Ok(()) };
        if self.ballast_held.load(Ordering::Acquire) {
            return Ok(());
        }
        let path = self.dir.join(BALLAST_FILE);
        let made = write_ballast(&path, self.ballast_size);
        if let Err(e) = made {
            let _ = std::fs::remove_file(&path);
            tracing::warn!(error = %e, "cannot make the space ballast; retrying later");
            return Ok(());
        }
        self.ballast_held.store(true, Ordering::Release);
        tracing::info!(bytes = self.ballast_size, path = %path.display(), "space ballast in place");
        Ok(())
    }
}

/// Allocates `size` bytes for real (fallocate; zeros where the filesystem cannot), durably,
/// under a temporary name renamed into place: the ballast never shows at `path` half made.
fn write_ballast(path: &Path, size: u64) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    let made = allocate(&tmp, size).and_then(|()| std::fs::rename(&tmp, path));
    if made.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    made
}

fn allocate(path: &Path, size: u64) -> io::Result<()> {
    use std::io::Write as _;
    let mut f = std::fs::File::options().write(true).create(true).truncate(true).open(path)?;
    match rustix::fs::fallocate(&f, rustix::fs::FallocateFlags::empty(), 0, size) {
        Ok(()) => {}
        Err(rustix::io::Errno::OPNOTSUPP | rustix::io::Errno::NOSYS) => {
            let zeros = vec![0u8; MIB as usize];
            let mut left = size;
            while left > 0 {
                let n = left.min(MIB);
                f.write_all(&zeros[..n as usize])?;
                left -= n;
            }
        }
        Err(e) => return Err(e.into()),
    }
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_reserve_is_five_percent_within_bounds() {
        assert_eq!(default_reserve(64 * MIB), 16 * MIB, "small volume: the floor");
        assert_eq!(default_reserve(10 * GIB), GIB / 2);
        assert_eq!(default_reserve(1000 * GIB), GIB, "large volume: the ceiling");
        assert_eq!(ballast_for(8 * MIB), 2 * MIB);
        assert_eq!(ballast_for(GIB), 32 * MIB);
        assert_eq!(ballast_for(0), 0);
    }

    #[test]
    fn admission_against_the_reserve_and_a_ballast_kept() {
        let dir = tempfile::tempdir().unwrap();
        let (free, _) = volume(dir.path()).unwrap();
        let space = DiskSpace::open(dir.path(), MIB, 256 << 10).unwrap();
        assert_eq!(std::fs::metadata(dir.path().join(BALLAST_FILE)).unwrap().len(), 256 << 10);
        let claim = space.admit(1000).expect("plenty of room");
        assert_eq!(space.in_flight.load(Ordering::Acquire), 1000);
        drop(claim);
        assert_eq!(space.in_flight.load(Ordering::Acquire), 0);
        match space.admit(free) {
            Err(EngineError::InsufficientStorage { reserve, .. }) => assert_eq!(reserve, MIB),
            other => panic!("a write as large as the volume's free space was admitted: {:?}", other.is_ok()),
        }
        assert_eq!(space.in_flight.load(Ordering::Acquire), 0, "a refused claim is released");
        let none = DiskSpace::open(dir.path(), 0, 0).unwrap();
        assert!(!dir.path().join(BALLAST_FILE).exists(), "no ballast wanted: the old one goes");
        assert!(none.admit(1 << 40).is_ok(), "no reserve: nothing is refused here");
    }

    #[test]
    fn a_reading_is_reused_only_far_above_the_reserve_and_briefly() {
        let dir = tempfile::tempdir().unwrap();
        let far = DiskSpace::open(dir.path(), MIB, 0).unwrap();
        let taken = far.readings();
        for _ in 0..100 {
            drop(far.admit(4096).expect("far above the reserve"));
        }
        // A stall of the test thread past READING_REUSE (a loaded CI machine) may take one
        // fresh reading in the loop; 100 admissions on one or two readings is the reuse.
        assert!(far.readings() - taken <= 1, "admissions far above the reserve reuse the reading");
        let taken = far.readings();
        std::thread::sleep(READING_REUSE);
        drop(far.admit(4096).unwrap());
        assert_eq!(far.readings(), taken + 1, "an old reading is not reused");
        // A write that takes most of the volume is in flight: the next admission reads it.
        let (free, _) = volume(dir.path()).unwrap();
        let big = far.admit(free - 3 * REUSE_MARGIN / 2).expect("room for it");
        let before = far.readings();
        drop(far.admit(4096).unwrap());
        assert_eq!(far.readings(), before + 1, "bytes in flight count against the reuse");
        drop(big);

        // Near the reserve every admission reads the volume.
        let (free, _) = volume(dir.path()).unwrap();
        let near = DiskSpace::open(dir.path(), free - REUSE_MARGIN / 2, 0).unwrap();
        let taken = near.readings();
        for n in 1..=5 {
            drop(near.admit(4096).unwrap());
            assert_eq!(near.readings(), taken + n);
        }
    }
}
