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

/// One writer appending 1 MiB writes, fdatasync every 64 MiB, up to `max_bytes` or `duration`.
pub fn sync_bandwidth(dir: &Path, max_bytes: u64, duration: Duration) -> std::io::Result<ProbeResult> {
    let path = dir.join(format!("hfbench-seq-{}", std::process::id()));
    let mut f = File::create(&path)?;
    let mut chunk = vec![0u8; 1 << 20];
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for w in chunk.chunks_exact_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        w.copy_from_slice(&x.to_le_bytes());
    }
    let started = Instant::now();
    let mut written = 0u64;
    while written < max_bytes && started.elapsed() < duration {
        for _ in 0..64 {
            chunk[0..8].copy_from_slice(&written.to_le_bytes());
            f.write_all(&chunk)?;
            written += 1 << 20;
        }
        f.sync_data()?;
    }
    let secs = started.elapsed().as_secs_f64();
    drop(f);
    std::fs::remove_file(&path)?;
    Ok(ProbeResult {
        what: "sequential 1 MiB writes, fdatasync every 64 MiB".into(),
        threads: 1,
        per_sec: written as f64 / secs / f64::from(1u32 << 20),
        unit: "MiB/s",
    })
}

pub fn line(r: &ProbeResult) -> String {
    format!("probe: {:<48} threads {:>2}  {:>10.0} {}", r.what, r.threads, r.per_sec, r.unit)
}
