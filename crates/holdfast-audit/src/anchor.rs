//! Anchors: the head of a trail — its last record's number and hash — written
//! elsewhere, where it cannot be rewritten (an object under COMPLIANCE retention). The hash
//! chain alone shows an edit, a removal or a reordering *inside* the trail; it cannot show a
//! cut tail or a trail rewritten from scratch with fresh hashes. An anchor can: the trail
//! must still hold record `seq`, with exactly the anchored hash.
//!
//! This module is the pure part: the anchor document, its object key, where a trail's head
//! is, and [`check_anchors`], which compares a list of anchors with a trail's lines. Writing
//! and reading the anchor objects is the server's and the admin command's business.

use crate::chain::{last_link, trail_files};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};

/// `format` of the anchor documents this version writes.
pub const ANCHOR_FORMAT: &str = "holdfast-audit-anchor/1";

/// The name of the embedded server's chain (`<data>/audit`); a gateway's chain is named
/// after its directory (`gw-1`, ...).
pub const MAIN_CHAIN: &str = "main";

/// One anchor object's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anchor {
    pub format: String,
    /// Which trail (`main`, `gw-1`, ...).
    pub chain: String,
    /// Number of the trail's last record when anchored (= records in the trail).
    pub seq: u64,
    /// Hash of that record.
    pub hash: String,
    /// The file that held it.
    pub file: String,
    /// When the anchor was written (UTC, milliseconds).
    pub time: String,
    /// `interval` or `shutdown`.
    pub reason: String,
}

/// Where a trail stands: its last complete record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrailHead {
    pub seq: u64,
    pub hash: String,
    /// File name (no directory).
    pub file: String,
}

impl Anchor {
    pub fn of_head(chain: &str, head: &TrailHead, time: holdfast_lock::UtcMillis, reason: &str) -> Self {
        Self {
            format: ANCHOR_FORMAT.to_owned(),
            chain: chain.to_owned(),
            seq: head.seq,
            hash: head.hash.clone(),
            file: head.file.clone(),
            time: time.to_iso8601(),
            reason: reason.to_owned(),
        }
    }
}

/// The object key of an anchor: `<prefix>/<chain>/<seq, 20 digits>.json`, so that a listing
/// returns a chain's anchors in record order.
pub fn anchor_key(prefix: &str, chain: &str, seq: u64) -> String {
    let prefix = prefix.trim_matches('/');
    if prefix.is_empty() { format!("{chain}/{seq:020}.json") } else { format!("{prefix}/{chain}/{seq:020}.json") }
}

/// The chain name of a trail directory: `main` for `<data>/audit`, else the directory's
/// own name (`gw-1`).
pub fn chain_name(audit_base: &Path, trail_dir: &Path) -> String {
    match trail_dir.strip_prefix(audit_base) {
        Ok(rel) if rel.as_os_str().is_empty() => MAIN_CHAIN.to_owned(),
        _ => trail_dir.file_name().map_or_else(|| MAIN_CHAIN.to_owned(), |n| n.to_string_lossy().into_owned()),
    }
}

/// Bytes read from the end of the last file at a time when looking for the head.
const TAIL_WINDOW: u64 = 64 << 10;

/// The last complete record of the trail in `dir` (`None` when it has no record). A line
/// still being written (no newline yet) is not a record. The chain is not verified here.
pub fn read_head(dir: &Path) -> std::io::Result<Option<TrailHead>> {
    use std::io::{Read, Seek, SeekFrom};
    for path in trail_files(dir)?.iter().rev() {
        let mut f = std::fs::File::open(path)?;
        let len = f.metadata()?.len();
        let mut window = TAIL_WINDOW;
        loop {
            let start = len.saturating_sub(window);
            f.seek(SeekFrom::Start(start))?;
            let mut bytes = Vec::new();
            f.by_ref().take(len - start).read_to_end(&mut bytes)?;
            let Some(end) = bytes.iter().rposition(|&b| b == b'\n') else {
                if start == 0 {
                    break; // no complete line in this file: look at the one before
                }
                window *= 2;
                continue;
            };
            let begin = bytes[..end].iter().rposition(|&b| b == b'\n').map(|p| p + 1);
            let begin = match begin {
                Some(b) => b,
                None if start == 0 => 0,
                None => {
                    window *= 2;
                    continue;
                }
            };
            let line = String::from_utf8_lossy(&bytes[begin..end]);
            let (seq, hash) = last_link(&line)
                .ok_or_else(|| std::io::Error::other(format!("the last record of {} is unreadable", path.display())))?;
            let file = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            return Ok(Some(TrailHead { seq, hash, file }));
        }
    }
    Ok(None)
}

/// The files of a trail and their text, read once for both checks (chain and anchors).
/// As [`crate::verify_dir`] does, an unfinished last line (no newline yet: being written,
/// or cut short by a crash) is left out: it is not a record yet.
pub struct TrailText {
    files: Vec<PathBuf>,
    texts: Vec<String>,
    /// Bytes of the unfinished last line left out.
    pub unfinished_tail_bytes: u64,
}

impl TrailText {
    pub fn read(dir: &Path) -> std::io::Result<Self> {
        let files = trail_files(dir)?;
        let mut texts = Vec::with_capacity(files.len());
        let mut tail = 0;
        for (n, f) in files.iter().enumerate() {
            // A byte that is not UTF-8 becomes U+FFFD, and its line then fails its hash.
            let mut text = String::from_utf8_lossy(&std::fs::read(f)?).into_owned();
            if n + 1 == files.len() && !text.ends_with('\n') {
                let end = text.rfind('\n').map_or(0, |p| p + 1);
                tail = (text.len() - end) as u64;
                text.truncate(end);
            }
            texts.push(text);
        }
        Ok(Self { files, texts, unfinished_tail_bytes: tail })
    }

    /// (file, 1-based line number, line) in chain order, as [`crate::verify_lines`] takes them.
    pub fn lines(&self) -> impl Iterator<Item = (&Path, usize, &str)> {
        self.files.iter().zip(&self.texts).flat_map(|(f, text)| {
            text.split_terminator('\n').enumerate().map(move |(i, line)| (f.as_path(), i + 1, line))
        })
    }
}

/// A trail that agrees with every anchor of its chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnchorCoverage {
    /// How many anchors were checked.
    pub anchors: usize,
    /// The anchor with the highest record number, if any.
    pub latest: Option<Anchor>,
    /// Records in the trail.
    pub records: u64,
}

/// How a trail contradicts an anchor: the first anchor (in record order) it fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnchorMismatch {
    /// The trail ends before the anchored record: its tail was cut.
    Truncated { anchor: Box<Anchor>, records: u64 },
    /// The trail has the anchored record, with another hash: it was rewritten.
    Rewritten { anchor: Box<Anchor>, found: String, file: PathBuf, line: usize },
}

impl fmt::Display for AnchorMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated { anchor, records } => write!(
                f,
                "chain {}: TRUNCATED: the trail ends at record {records}, but the anchor written at {} ({}) \
                 records record {} with hash {}",
                anchor.chain, anchor.time, anchor.reason, anchor.seq, anchor.hash
            ),
            Self::Rewritten { anchor, found, file, line } => write!(
                f,
                "chain {}: REWRITTEN: record {} ({} line {line}) has hash {found}, but the anchor written at {} ({}) \
                 records hash {}",
                anchor.chain,
                anchor.seq,
                file.display(),
                anchor.time,
                anchor.reason,
                anchor.hash
            ),
        }
    }
}

impl std::error::Error for AnchorMismatch {}

/// Compares a chain's anchors with its trail's lines (in chain order). Each line's own
/// `seq` and hash are read as written; run [`crate::verify_lines`] too, for the chain
/// itself. Anchors of other chains are ignored.
pub fn check_anchors<'a>(
    chain: &str,
    anchors: &[Anchor],
    lines: impl IntoIterator<Item = (&'a Path, usize, &'a str)>,
) -> Result<AnchorCoverage, AnchorMismatch> {
    let mut mine: Vec<&Anchor> = anchors.iter().filter(|a| a.chain == chain).collect();
    mine.sort_by_key(|a| a.seq);
    let mut pending = mine.iter().peekable();
    let mut records = 0;
    for (file, line_no, line) in lines {
        records += 1;
        // An unreadable line counts as a record whose hash matches nothing.
        let (seq, hash) = last_link(line).unwrap_or((records, String::new()));
        while let Some(anchor) = pending.peek() {
            if anchor.seq > seq {
                break;
            }
            if anchor.seq == seq && anchor.hash != hash {
                return Err(AnchorMismatch::Rewritten {
                    anchor: Box::new((**anchor).clone()),
                    found: hash,
                    file: file.to_owned(),
                    line: line_no,
                });
            }
            // Equal: covered. Lower (a seq this trail skipped): caught below by the chain
            // check, or here if the trail's numbering jumps past it.
            if anchor.seq < seq {
                return Err(AnchorMismatch::Rewritten {
                    anchor: Box::new((**anchor).clone()),
                    found: format!("(no record {}; numbering jumps to {seq})", anchor.seq),
                    file: file.to_owned(),
                    line: line_no,
                });
            }
            pending.next();
        }
    }
    if let Some(anchor) = pending.next() {
        return Err(AnchorMismatch::Truncated { anchor: Box::new((**anchor).clone()), records });
    }
    Ok(AnchorCoverage { anchors: mine.len(), latest: mine.last().map(|a| (*a).clone()), records })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AuditRecord, GENESIS, seal_line};

    fn trail(n: usize, tag: &str) -> Vec<String> {
        let mut prev = GENESIS.to_owned();
        (1..=n)
            .map(|i| {
                let mut r = AuditRecord::new("PutObject", holdfast_lock::UtcMillis(1_700_000_000_000));
                r.key = Some(format!("{tag}{i}"));
                let (line, hash) = seal_line(i as u64, &prev, &r);
                prev = hash;
                line
            })
            .collect()
    }

    fn anchor_at(lines: &[String], seq: u64) -> Anchor {
        let (s, hash) = last_link(&lines[seq as usize - 1]).unwrap();
        assert_eq!(s, seq);
        let head = TrailHead { seq, hash, file: "audit-000001.jsonl".into() };
        Anchor::of_head(MAIN_CHAIN, &head, holdfast_lock::UtcMillis(0), "interval")
    }

    fn check(anchors: &[Anchor], lines: &[String]) -> Result<AnchorCoverage, AnchorMismatch> {
        let p = Path::new("audit-000001.jsonl");
        check_anchors(MAIN_CHAIN, anchors, lines.iter().enumerate().map(|(i, l)| (p, i + 1, l.as_str())))
    }

    #[test]
    fn an_intact_trail_is_covered_by_its_anchors() {
        let t = trail(6, "k");
        let anchors = vec![anchor_at(&t, 5), anchor_at(&t, 2), anchor_at(&t, 6)];
        let c = check(&anchors, &t).unwrap();
        assert_eq!((c.anchors, c.records), (3, 6));
        assert_eq!(c.latest.unwrap().seq, 6);
        // Records after the last anchor are fine (not anchored yet).
        let c = check(&anchors[..2], &t).unwrap();
        assert_eq!(c.latest.unwrap().seq, 5);
        // No anchors: nothing to contradict.
        assert_eq!(check(&[], &t).unwrap().latest, None);
    }

    #[test]
    fn a_cut_tail_is_truncation_against_the_first_anchor_past_the_end() {
        let t = trail(6, "k");
        let anchors = vec![anchor_at(&t, 2), anchor_at(&t, 5), anchor_at(&t, 6)];
        let err = check(&anchors, &t[..4]).unwrap_err();
        let AnchorMismatch::Truncated { anchor, records } = &err else { panic!("{err}") };
        assert_eq!((anchor.seq, *records), (5, 4));
        assert!(err.to_string().contains("TRUNCATED: the trail ends at record 4"), "{err}");
        // Emptied completely.
        let err = check(&anchors, &[]).unwrap_err();
        assert!(matches!(err, AnchorMismatch::Truncated { records: 0, ref anchor } if anchor.seq == 2), "{err}");
    }

    #[test]
    fn a_trail_rewritten_from_scratch_fails_the_first_anchor() {
        let t = trail(6, "k");
        let forged = trail(8, "forged");
        let anchors = vec![anchor_at(&t, 3), anchor_at(&t, 6)];
        let err = check(&anchors, &forged).unwrap_err();
        let AnchorMismatch::Rewritten { anchor, found, line, .. } = &err else { panic!("{err}") };
        assert_eq!((anchor.seq, *line), (3, 3));
        assert_eq!(found, &last_link(&forged[2]).unwrap().1);
        assert!(err.to_string().contains("REWRITTEN: record 3"), "{err}");
        // A forged trail that is also shorter fails on the first anchor it reaches.
        assert!(matches!(check(&anchors, &forged[..2]), Err(AnchorMismatch::Truncated { .. })));
    }

    #[test]
    fn anchors_of_other_chains_are_ignored() {
        let t = trail(3, "k");
        let mut other = anchor_at(&t, 3);
        other.chain = "gw-2".into();
        other.hash = "f".repeat(64);
        assert_eq!(check(&[other], &t).unwrap().anchors, 0);
    }

    #[test]
    fn an_unfinished_last_line_is_not_a_record() {
        let tmp = tempfile::tempdir().unwrap();
        let t = trail(3, "k");
        std::fs::write(tmp.path().join("audit-000001.jsonl"), t.join("\n") + "\n{\"hash\":\"ab").unwrap();
        let text = TrailText::read(tmp.path()).unwrap();
        assert_eq!((text.lines().count(), text.unfinished_tail_bytes), (3, 11));
        assert_eq!(crate::verify_lines(text.lines()).unwrap().records, 3);
    }

    #[test]
    fn head_keys_and_chain_names() {
        assert_eq!(anchor_key("anchors/", "main", 42), "anchors/main/00000000000000000042.json");
        assert_eq!(anchor_key("", "gw-1", 1), "gw-1/00000000000000000001.json");
        let base = Path::new("/d/audit");
        assert_eq!(chain_name(base, base), "main");
        assert_eq!(chain_name(base, &base.join("gw-3")), "gw-3");

        let tmp = tempfile::tempdir().unwrap();
        assert_eq!(read_head(tmp.path()).unwrap(), None);
        let t = trail(3, "k");
        let big: Vec<String> = trail(400, "a-longer-key-to-make-the-file-larger-than-the-window-");
        std::fs::write(tmp.path().join("audit-000001.jsonl"), big.join("\n") + "\n").unwrap();
        let head = read_head(tmp.path()).unwrap().unwrap();
        assert_eq!((head.seq, head.file.as_str()), (400, "audit-000001.jsonl"));
        assert_eq!(head.hash, last_link(&big[399]).unwrap().1);
        // A line being written is not the head; an empty last file defers to the one before.
        std::fs::write(tmp.path().join("audit-000001.jsonl"), t.join("\n") + "\n" + "{\"hash\":\"ab").unwrap();
        std::fs::write(tmp.path().join("audit-000002.jsonl"), "").unwrap();
        let head = read_head(tmp.path()).unwrap().unwrap();
        assert_eq!((head.seq, head.hash), (3, last_link(&t[2]).unwrap().1));
        // A file of one line only.
        std::fs::write(tmp.path().join("audit-000002.jsonl"), t[0].clone() + "\n").unwrap();
        assert_eq!(read_head(tmp.path()).unwrap().unwrap().seq, 1);
    }
}
