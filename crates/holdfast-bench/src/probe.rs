//! Physical limits of the disk under a directory, measured the way a store uses it:
//! how many small durable writes per second parallel writers get (each a 4 KiB write and
//! an fdatasync), and how fast one writer streams data with an fdatasync every 64 MiB.

use serde::Serialize;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Serialize)]
pub struct ProbeResult {
    pub what: String,
    pub threads: usize,
    pub per_sec: f64,
    pub unit: &'static str,
}

/// `threads` writers, each overwriting 4 KiB blocks of its own preallocated file and
/// calling fdatasync after every write, for `duration`.
pub fn fsync_rate(dir: &Path, threads: usize, duration: Duration) -> std::io::Result<ProbeResult> {
    const FILE: u64 = 1 << 20;
    let mut handles = Vec::new();
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    for t in 0..threads {
        let path = dir.join(format!("hfbench-fsync-{}-{t}", std::process::id()));
        let mut f = File::options().create(true).truncate(true).read(true).write(true).open(&path)?;
        f.write_all(&vec![0u8; FILE as usize])?;
        f.sync_all()?;
        handles.push(std::thread::spawn(move || -> std::io::Result<u64> {
            let block = [0x5au8; 4096];
            let mut n = 0u64;
            while Instant::now() < deadline {
                f.write_all_at(&block, (n * 4096) % FILE)?;
                f.sync_data()?;
                n += 1;
            }
            drop(f);
            std::fs::remove_file(&path)?;
            Ok(n)
        }));
    }
    let mut total = 0;
    for h in handles {
        total += h.join().map_err(|_| std::io::Error::other("probe thread panicked"))??;
    }
    Ok(ProbeResult {
        what: "4 KiB write + fdatasync".into(),
        threads,
        per_sec: total as f64 / started.elapsed().as_secs_f64(),
        unit: "syncs/s",
    })
}

/// How the bandwidth probe writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// Through the page cache (`write`), as fio's default `psync` engine does.
    Buffered,
    /// `O_DIRECT` from an aligned buffer, as the store writes a large body's whole chunks
    /// (crates/holdfast-blob/src/local.rs): the device's bandwidth, without the page cache.
    Direct,
}

const MIB: usize = 1 << 20;

/// 1 MiB of pseudo-random bytes starting at a 4 KiB-aligned address (a direct write's
/// buffer): `(buffer, start)`.
fn aligned_random_mib() -> (Vec<u8>, usize) {
    const ALIGN: usize = 4096;
    let mut buf: Vec<u8> = Vec::with_capacity(MIB + ALIGN);
    let start = (ALIGN - buf.as_ptr().addr() % ALIGN) % ALIGN;
    buf.resize(start, 0);
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..MIB / 8 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        buf.extend_from_slice(&x.to_le_bytes());
    }
    (buf, start)
}

/// One pass of the pattern: 1 MiB writes at increasing offsets of a new file, fdatasync
/// every 64 MiB, up to `max_bytes` or `duration`. Bytes written and seconds taken.
fn one_pass(path: &Path, mode: WriteMode, max_bytes: u64, duration: Duration) -> std::io::Result<(u64, f64)> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut options = File::options();
    options.write(true).create(true).truncate(true);
    if mode == WriteMode::Direct {
        options.custom_flags(rustix::fs::OFlags::DIRECT.bits() as i32);
    }
    let f = options.open(path)?;
    let (mut buf, start) = aligned_random_mib();
    let started = Instant::now();
    let mut written = 0u64;
    while written < max_bytes && started.elapsed() < duration {
        for _ in 0..64 {
            // A different first word per MiB: no two blocks of the file alike.
            buf[start..start + 8].copy_from_slice(&written.to_le_bytes());
            f.write_all_at(&buf[start..], written)?;
            written += MIB as u64;
        }
        f.sync_data()?;
    }
    let secs = started.elapsed().as_secs_f64();
    drop(f);
    std::fs::remove_file(path)?;
    Ok((written, secs))
}

/// One writer appending 1 MiB writes, fdatasync every 64 MiB, up to `max_bytes` or `duration`.
///
/// Buffered, the first pass after a while measures this virtual machine's memory more than
/// its disk: every page-cache page it fills may be a guest page the host must fault in (or
/// one reclaim must free first), and the cost moved 2.5x between this probe and fio run one
/// after the other on the same pattern (docs/performance.md, "Which disk probe"). So a
/// buffered probe writes `max_bytes.min(1 GiB)` once unmeasured, then measures; a direct one
/// touches no page cache and needs no warm-up.
pub fn sync_bandwidth(dir: &Path, mode: WriteMode, max_bytes: u64, duration: Duration) -> std::io::Result<ProbeResult> {
    let path = dir.join(format!("hfbench-seq-{}", std::process::id()));
    if mode == WriteMode::Buffered {
        one_pass(&path, mode, max_bytes.min(1 << 30), duration)?;
    }
    let (written, secs) = one_pass(&path, mode, max_bytes, duration)?;
    Ok(ProbeResult {
        what: match mode {
            WriteMode::Buffered => "sequential 1 MiB writes, fdatasync every 64 MiB".into(),
            WriteMode::Direct => "sequential 1 MiB O_DIRECT writes, fdatasync every 64 MiB".into(),
        },
        threads: 1,
        per_sec: written as f64 / secs / MIB as f64,
        unit: "MiB/s",
    })
}

pub fn line(r: &ProbeResult) -> String {
    format!("probe: {:<48} threads {:>2}  {:>10.0} {}", r.what, r.threads, r.per_sec, r.unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both modes write the pattern and leave nothing behind; the direct one says so in its
    /// name (bench-compare.sh tells the two apart by it).
    #[test]
    fn bandwidth_probes_measure_both_modes_and_clean_up() {
        let dir = tempfile::tempdir().unwrap();
        for mode in [WriteMode::Direct, WriteMode::Buffered] {
            let r = match sync_bandwidth(dir.path(), mode, 64 << 20, Duration::from_secs(10)) {
                Ok(r) => r,
                // A file system without O_DIRECT (tmpfs as /tmp): the caller skips this one.
                Err(e) if mode == WriteMode::Direct && e.kind() == std::io::ErrorKind::InvalidInput => continue,
                Err(e) => panic!("{mode:?}: {e}"),
            };
            assert!(r.per_sec > 0.0 && r.unit == "MiB/s", "{r:?}");
            assert_eq!(r.what.contains("O_DIRECT"), mode == WriteMode::Direct);
            assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "the probe's file is left");
        }
    }

    /// The direct probe's buffer starts at an address a direct write takes.
    #[test]
    fn the_direct_buffer_is_aligned() {
        let (buf, start) = aligned_random_mib();
        assert_eq!(buf[start..].as_ptr().addr() % 4096, 0);
        assert_eq!(buf.len() - start, MIB);
    }
}
