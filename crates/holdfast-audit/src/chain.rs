//! The chain. A line is
//!
//! ```text
//! {"hash":"<H>","seq":<n>,"prev":"<P>",<record fields>}
//! ```
//!
//! where `H` is the SHA-256 (hex) of the line's own bytes from `{"seq"` to the end — that is,
//! of the line with its `"hash":"<H>",` member taken out — `n` counts records from 1 across
//! every file, and `P` is the previous line's `H` ([`GENESIS`] for the first). Changing a
//! byte breaks `H`; removing a line breaks `seq` and `prev` of the next; swapping two lines
//! breaks `seq` and `prev` of the first of them.

use crate::AuditRecord;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::{Path, PathBuf};

/// `prev` of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

const HASH_PREFIX: &str = "{\"hash\":\"";

#[derive(Serialize)]
struct Sealed<'a> {
    seq: u64,
    prev: &'a str,
    #[serde(flatten)]
    record: &'a AuditRecord,
}

#[derive(Deserialize)]
struct Links {
    seq: u64,
    prev: String,
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The line (without newline) for record number `seq` following `prev`, and its hash.
pub fn seal_line(seq: u64, prev: &str, record: &AuditRecord) -> (String, String) {
    let body = serde_json::to_string(&Sealed { seq, prev, record }).expect("audit records serialize");
    let hash = sha256_hex(body.as_bytes());
    let line = format!("{HASH_PREFIX}{hash}\",{}", &body[1..]);
    (line, hash)
}

/// Splits a line into its claimed hash and the hashed body (`{"seq"...}`).
fn open_line(line: &str) -> Option<(&str, String)> {
    let rest = line.strip_prefix(HASH_PREFIX)?;
    let hash = rest.get(..64)?;
    let body = rest.get(64..)?.strip_prefix("\",")?;
    Some((hash, format!("{{{body}")))
}

/// The hash and number of the last line of a trail, read without verifying the chain
/// (the writer continues from it).
pub(crate) fn last_link(line: &str) -> Option<(u64, String)> {
    let (hash, body) = open_line(line)?;
    let links: Links = serde_json::from_str(&body).ok()?;
    Some((links.seq, hash.to_owned()))
}

/// Where the chain first breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyError {
    pub file: PathBuf,
    /// 1-based line number within `file`.
    pub line: usize,
    pub reason: String,
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} line {}: {}", self.file.display(), self.line, self.reason)
    }
}

impl std::error::Error for VerifyError {}

/// An intact trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    pub records: u64,
    pub files: usize,
    /// Hash of the last record: write it down elsewhere to detect a later truncation.
    pub head: String,
    /// Bytes after the last newline of the last file: a line being written right now, or
    /// one a crash cut short (the server drops it at its next start and writes the record
    /// again from the outbox). Not a record, not counted, not a break of the chain.
    pub unfinished_tail_bytes: u64,
}

/// Checks one sequence of lines (the files of a trail, in order) from the genesis.
pub fn verify_lines<'a>(
    lines: impl IntoIterator<Item = (&'a Path, usize, &'a str)>,
) -> Result<VerifyReport, VerifyError> {
    let mut prev = GENESIS.to_owned();
    let mut expected: u64 = 1;
    let mut files: Vec<&Path> = Vec::new();
    for (file, line_no, line) in lines {
        if files.last() != Some(&file) {
            files.push(file);
        }
        let broken = |reason: String| VerifyError { file: file.to_owned(), line: line_no, reason };
        let Some((hash, body)) = open_line(line) else {
            return Err(broken("not an audit record (no hash, or truncated)".into()));
        };
        if sha256_hex(body.as_bytes()) != hash {
            return Err(broken(format!("record {expected}: content does not match its hash (the line was changed)")));
        }
        let links: Links =
            serde_json::from_str(&body).map_err(|e| broken(format!("record {expected}: not valid JSON ({e})")))?;
        if links.seq != expected || links.prev != prev {
            return Err(broken(format!(
                "expected record {expected} following {}…, found record {} following {}… (a record was removed or \
                 the records were reordered)",
                &prev[..12],
                links.seq,
                links.prev.get(..12).unwrap_or(&links.prev)
            )));
        }
        prev = hash.to_owned();
        expected += 1;
    }
    Ok(VerifyReport { records: expected - 1, files: files.len(), head: prev, unfinished_tail_bytes: 0 })
}

/// The trail's files in chain order (`audit-000001.jsonl`, ...).
pub fn trail_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("audit-") && n.ends_with(".jsonl"))
            })
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    files.sort();
    Ok(files)
}

/// Verifies every file of the trail in `dir` (normally `<data-dir>/audit`).
pub fn verify_dir(dir: &Path) -> Result<Result<VerifyReport, VerifyError>, std::io::Error> {
    let text = crate::TrailText::read(dir)?;
    Ok(verify_lines(text.lines()).map(|r| VerifyReport { unfinished_tail_bytes: text.unfinished_tail_bytes, ..r }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trail(n: usize) -> Vec<String> {
        let mut prev = GENESIS.to_owned();
        (1..=n)
            .map(|i| {
                let mut r = AuditRecord::new("PutObject", holdfast_lock::UtcMillis(1_700_000_000_000));
                r.key = Some(format!("k{i}"));
                let (line, hash) = seal_line(i as u64, &prev, &r);
                prev = hash;
                line
            })
            .collect()
    }

    fn check(lines: &[String]) -> Result<VerifyReport, VerifyError> {
        let p = Path::new("audit-000001.jsonl");
        verify_lines(lines.iter().enumerate().map(|(i, l)| (p, i + 1, l.as_str())))
    }

    #[test]
    fn intact_trail_verifies() {
        let r = check(&trail(5)).unwrap();
        assert_eq!(r.records, 5);
        assert_eq!(check(&[]).unwrap().records, 0);
    }

    #[test]
    fn edit_removal_and_swap_name_the_first_broken_line() {
        let mut edited = trail(5);
        edited[2] = edited[2].replace("\"k3\"", "\"k9\"");
        assert_eq!(check(&edited).unwrap_err().line, 3);
        let mut removed = trail(5);
        removed.remove(1);
        assert_eq!(check(&removed).unwrap_err().line, 2);
        let mut swapped = trail(5);
        swapped.swap(3, 4);
        assert_eq!(check(&swapped).unwrap_err().line, 4);
        let mut rehashed = trail(3);
        // Re-sealing a changed record with a fresh hash still breaks the next link.
        let mut r = AuditRecord::new("PutObject", holdfast_lock::UtcMillis(0));
        r.key = Some("forged".into());
        rehashed[1] = seal_line(2, &last_link(&rehashed[0]).unwrap().1, &r).0;
        assert_eq!(check(&rehashed).unwrap_err().line, 3);
    }
}
