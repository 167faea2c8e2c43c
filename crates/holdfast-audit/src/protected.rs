//! The versions the trail vouches are protected *now*, with memory bounded by their number
//! rather than by the trail's length (issue #17: a start on a trail of ~1,000,000 records
//! held every line as text and as a `serde_json::Value`, ~700 MiB, for the start check).
//!
//! [`crate::vouched_locks`] keeps every record and every version ever named. The answer it
//! gives for one version is its last record in (time, trail order) that carries `lock_after`
//! or removes it; the version counts when that record's lock protects. So two passes over the
//! same lines give the same answer: the first keeps, per version, only its latest *protecting*
//! record; the second drops a version when a later record unprotects or removes it. Lines
//! are read one at a time ([`TrailFiles`] streams the files).

use crate::{LockSnapshot, TAMPER_ACCEPTED_OP, VersionRef, protects};
use holdfast_lock::UtcMillis;
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// The fields of a record the replay reads; the rest of a line is skipped, not kept.
#[derive(Deserialize)]
struct Fields {
    time: Option<Value>,
    status: Option<Value>,
    op: Option<Value>,
    bucket: Option<Value>,
    key: Option<Value>,
    version_id: Option<Value>,
    lock_after: Option<Value>,
}

/// What one record says about one version, as [`crate::vouched_locks`] reads it.
enum Fact {
    Lock(VersionRef, Option<String>, LockSnapshot),
    Removed(VersionRef, Option<String>),
}

fn fact(line: &str) -> Option<Fact> {
    let f: Fields = serde_json::from_str(line).ok()?;
    let s = |v: &Option<Value>| v.as_ref().and_then(Value::as_str).map(str::to_owned);
    let succeeded = f.status.as_ref().and_then(Value::as_u64).is_none_or(|s| (200..300).contains(&s));
    let id = (s(&f.bucket)?, s(&f.key)?, s(&f.version_id)?);
    if !succeeded {
        return None;
    }
    let time = s(&f.time);
    if let Some(after) = f.lock_after.and_then(|v| serde_json::from_value::<LockSnapshot>(v).ok()) {
        return Some(Fact::Lock(id, time, after));
    }
    let op = f.op.as_ref().and_then(Value::as_str);
    matches!(op, Some("DeleteObject" | "DeleteObjects" | "LifecycleExpiration" | TAMPER_ACCEPTED_OP))
        .then_some(Fact::Removed(id, time))
}

/// Order of a record: its time, then its place in the lines (the stable sort of the full replay).
type Place = (Option<String>, u64);

/// Each version whose last record (by time, then order) protects at `now`, with that lock.
/// `lines` is called twice and must give the same lines in the same order each time: the
/// trails' records in chain order, then the outbox's backlog. Memory: the versions protected
/// by some record, not the records.
pub fn protected_now<E>(
    now: UtcMillis,
    mut lines: impl FnMut(&mut dyn FnMut(&str)) -> Result<(), E>,
) -> Result<BTreeMap<VersionRef, LockSnapshot>, E> {
    let mut kept: HashMap<VersionRef, (Place, LockSnapshot)> = HashMap::new();
    let mut n = 0u64;
    lines(&mut |line| {
        n += 1;
        if let Some(Fact::Lock(id, time, lock)) = fact(line)
            && protects(&lock, now)
        {
            let place = (time, n);
            match kept.get_mut(&id) {
                Some(k) if k.0 >= place => {}
                Some(k) => *k = (place, lock),
                None => {
                    kept.insert(id, (place, lock));
                }
            }
        }
    })?;
    let mut n = 0u64;
    lines(&mut |line| {
        n += 1;
        if kept.is_empty() {
            return;
        }
        let (id, time) = match fact(line) {
            Some(Fact::Lock(id, time, lock)) if !protects(&lock, now) => (id, time),
            Some(Fact::Removed(id, time)) => (id, time),
            _ => return,
        };
        if kept.get(&id).is_some_and(|k| k.0 < (time, n)) {
            kept.remove(&id);
        }
    })?;
    Ok(kept.into_iter().map(|(id, (_, lock))| (id, lock)).collect())
}

/// The trail files of some trails as they are now (their lengths noted), read again line by
/// line as often as needed: lines appended later are not seen, so every reading is the same.
pub struct TrailFiles {
    /// (file, bytes to read, whether it is its trail's last file).
    files: Vec<(PathBuf, u64, bool)>,
}

impl TrailFiles {
    pub fn snapshot(dirs: &[PathBuf]) -> std::io::Result<Self> {
        let mut files = Vec::new();
        for dir in dirs {
            let list = crate::trail_files(dir)?;
            let last = list.len().saturating_sub(1);
            for (i, f) in list.into_iter().enumerate() {
                let len = std::fs::metadata(&f)?.len();
                files.push((f, len, i == last));
            }
        }
        Ok(Self { files })
    }

    /// Calls `each` with every complete line, in chain order, trail after trail: what
    /// [`crate::TrailText::lines`] gives (an unfinished last line of a trail is left out, a
    /// byte that is not UTF-8 becomes U+FFFD), one line in memory at a time.
    pub fn for_each_line(&self, each: &mut dyn FnMut(&str)) -> std::io::Result<()> {
        let mut buf = Vec::new();
        for (path, len, last) in &self.files {
            let file = std::fs::File::open(path).map_err(|e| with_path(e, path))?;
            let mut r = BufReader::with_capacity(1 << 16, file.take(*len));
            loop {
                buf.clear();
                if r.read_until(b'\n', &mut buf).map_err(|e| with_path(e, path))? == 0 {
                    break;
                }
                let complete = buf.last() == Some(&b'\n');
                if complete {
                    buf.pop();
                } else if *last {
                    break;
                }
                each(&String::from_utf8_lossy(&buf));
            }
        }
        Ok(())
    }
}

fn with_path(e: std::io::Error, path: &Path) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn lines_of(records: &[Value]) -> Vec<String> {
        records.iter().map(Value::to_string).collect()
    }

    /// The bounded replay answers what the full one does, whatever the order of times.
    #[test]
    fn same_answer_as_the_full_replay() {
        let far = "2100-01-01T00:00:00.000Z";
        let records = [
            json!({"time":"2026-01-01T00:00:05Z","op":"PutObject","status":200,"bucket":"b","key":"k","version_id":"v1",
                   "lock_after":{"mode":"COMPLIANCE","retain_until":far}}),
            // Unprotected by a record written earlier in the file but later in time.
            json!({"time":"2026-01-01T00:00:01Z","op":"PutObject","status":200,"bucket":"b","key":"k","version_id":"v2",
                   "lock_after":{"legal_hold":"ON"}}),
            json!({"time":"2026-01-01T00:00:09Z","op":"PutObjectLegalHold","status":200,"bucket":"b","key":"k","version_id":"v2",
                   "lock_after":{"legal_hold":"OFF"}}),
            json!({"time":"2026-01-01T00:00:02Z","op":"PutObjectLegalHold","status":200,"bucket":"b","key":"k","version_id":"v2",
                   "lock_after":{"legal_hold":"ON"}}),
            // Removed, then protected again later in time (a tamper accepted, then a hold).
            json!({"time":"2026-01-01T00:00:03Z","op":"DeleteObject","status":204,"bucket":"b","key":"k","version_id":"v3"}),
            json!({"time":"2026-01-01T00:00:04Z","op":"PutObjectLegalHold","status":200,"bucket":"b","key":"k","version_id":"v3",
                   "lock_after":{"legal_hold":"ON"}}),
            json!({"time":"2026-01-01T00:00:01Z","op":"PutObject","status":200,"bucket":"b","key":"k","version_id":"v3",
                   "lock_after":{}}),
            // A failed removal and an expired retention change nothing / protect nothing.
            json!({"time":"2026-01-01T00:00:06Z","op":"DeleteObject","status":403,"bucket":"b","key":"k","version_id":"v1"}),
            json!({"time":"2026-01-01T00:00:07Z","op":"PutObject","status":200,"bucket":"b","key":"k","version_id":"v4",
                   "lock_after":{"mode":"GOVERNANCE","retain_until":"2001-01-01T00:00:00.000Z"}}),
            // Same time: the later line wins.
            json!({"time":"2026-01-01T00:00:08Z","op":"PutObject","status":200,"bucket":"b","key":"k","version_id":"v5",
                   "lock_after":{"legal_hold":"ON"}}),
            json!({"time":"2026-01-01T00:00:08Z","op":"DeleteObject","status":204,"bucket":"b","key":"k","version_id":"v5"}),
            json!({"time":"2026-01-01T00:00:08Z","op":"PutObject","status":200,"bucket":"b","key":"k","version_id":"v6",
                   "lock_after":{"legal_hold":"OFF"}}),
            json!({"time":"2026-01-01T00:00:08Z","op":"PutObjectLegalHold","status":200,"bucket":"b","key":"k","version_id":"v6",
                   "lock_after":{"legal_hold":"ON"}}),
        ];
        let now = UtcMillis::parse("2030-01-01T00:00:00Z").unwrap();
        let mut sorted: Vec<&Value> = records.iter().collect();
        sorted.sort_by(|a, b| a["time"].as_str().cmp(&b["time"].as_str()));
        let mut full = crate::vouched_locks(sorted);
        full.retain(|_, l| protects(l, now));
        let lines = lines_of(&records);
        let bounded = protected_now(now, |each| {
            lines.iter().for_each(|l| each(l));
            Ok::<_, ()>(())
        })
        .unwrap();
        assert_eq!(bounded, full);
        let ids: Vec<&str> = bounded.keys().map(|(_, _, v)| v.as_str()).collect();
        assert_eq!(ids, ["v1", "v3", "v6"]);
    }

    #[test]
    fn trail_files_read_like_trail_text() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("audit");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("audit-000001.jsonl"), b"a\nb\xff\nno newline").unwrap();
        std::fs::write(dir.join("audit-000002.jsonl"), b"c\nd\nunfinished").unwrap();
        let files = TrailFiles::snapshot(std::slice::from_ref(&dir)).unwrap();
        // Appended after the snapshot: not seen.
        let mut f = std::fs::OpenOptions::new().append(true).open(dir.join("audit-000002.jsonl")).unwrap();
        std::io::Write::write_all(&mut f, b" tail\ne\n").unwrap();
        let mut got = Vec::new();
        files.for_each_line(&mut |l| got.push(l.to_owned())).unwrap();
        let text = crate::TrailText::read(&dir).unwrap();
        let want: Vec<String> = text.lines().map(|(_, _, l)| l.to_owned()).collect();
        assert_eq!(want.len(), 7, "the text now has the appended lines");
        assert_eq!(got, ["a", "b\u{fffd}", "no newline", "c", "d"]);
    }
}
