//! The crash-only progress record (see `docs/durability.md`, "Two levels"). A
//! checkpoint makes bytes durable against a power loss (fdatasync, then the store)
//! every `checkpoint_bytes` or `checkpoint_interval`. But when only the *process*
//! dies (kill -9, a crash, an OOM kill) the kernel still holds every byte it wrote:
//! losing up to a checkpoint interval of them is needless. So beside the checkpoint,
//! each transfer keeps a small record of what it has written, rewritten (never synced)
//! after every write to the temporary file: `<state dir>/progress/<job>.<file>`.
//!
//! Recovery trusts a record only when it cannot be stale: its checksum holds, it was
//! written during this boot (`/proc/sys/kernel/random/boot_id`: after a reboot or a
//! power loss unsynced bytes may be gone, and the synced checkpoint alone counts), the
//! temporary file is the same file (device, inode: a yanked or remounted disk, or a
//! file replaced behind our back, fails), its length is what the record saw, and the
//! record is about the same content (size and validator as stored). Then recovery
//! syncs the temporary file and records the ranges as a checkpoint: the power-loss
//! guarantee is kept, since nothing counts before it is synced.
//!
//! A record is only made once a transfer has written [`AFTER`] bytes (a smaller file
//! re-fetches less than that anyway), and is removed when its file restarts or ends.

use crate::ranges::{self, Ranges};
use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use uuid::Uuid;

/// The most one write adds to a temporary file (at least a read buffer, and a direct
/// write's gathered bytes: `stream.rs` checks): what a file may be longer than its
/// record says after a kill.
pub(crate) const IN_FLIGHT: u64 = 512 << 10;

/// A transfer starts its record after writing this many bytes.
pub(crate) const AFTER: u64 = 512 << 10;

const MAGIC: &[u8; 8] = b"bgcpprg1";
/// At most this many ranges are recorded (a board has far fewer).
const MAX_RANGES: usize = 1024;

/// What a record says.
#[derive(Debug, PartialEq)]
pub(crate) struct Record {
    pub boot: String,
    pub dev: u64,
    pub ino: u64,
    pub len: u64,
    pub total: u64,
    pub validator: String,
    pub ranges: Ranges,
}

/// An open record of one transfer.
pub(crate) struct CrashLog {
    file: File,
    boot: String,
    dev: u64,
    ino: u64,
    total: u64,
    validator: String,
    buf: Vec<u8>,
    /// The longest record written so far (the file's length).
    written: usize,
}

/// The record's path.
pub(crate) fn path(state_dir: &Path, job: Uuid, idx: usize) -> PathBuf {
    state_dir.join("progress").join(format!("{job}.{idx}"))
}

/// This boot's id (`None` where the system has none: records are then never made).
pub(crate) fn boot_id() -> Option<String> {
    let mut s = String::new();
    File::open("/proc/sys/kernel/random/boot_id")
        .and_then(|mut f| f.read_to_string(&mut s))
        .ok()?;
    let s = s.trim().to_string();
    (s.len() == 36).then_some(s)
}

/// FNV-1a, 64 bits: the record's checksum.
fn fnv(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

impl CrashLog {
    /// Start the record of file `idx` of `job`, whose temporary file is `temp`, for
    /// content of `total` bytes under `validator`. `None` if it cannot be made (no
    /// boot id, the directory cannot be written): the transfer goes on without one.
    pub fn create(
        state_dir: &Path,
        job: Uuid,
        idx: usize,
        temp: &File,
        total: u64,
        validator: Option<&str>,
    ) -> Option<CrashLog> {
        let boot = boot_id()?;
        let meta = temp.metadata().ok()?;
        let p = path(state_dir, job, idx);
        let dir = p.parent()?;
        if std::fs::symlink_metadata(dir).is_err() {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new().mode(0o700).create(dir).ok()?;
        }
        // The state directory is private (0700); the record is too, and never follows
        // a link planted at its name.
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&p)
            .ok()?;
        Some(CrashLog {
            file,
            boot,
            dev: meta.dev(),
            ino: meta.ino(),
            total,
            validator: validator.unwrap_or_default().to_string(),
            buf: Vec::with_capacity(256),
            written: 0,
        })
    }

    /// `done` is written and no write reaches beyond `len` (the file's length is at most
    /// that): one `pwrite` of the whole record (never synced).
    pub fn write(&mut self, done: &[(u64, u64)], len: u64) {
        if done.len() > MAX_RANGES {
            return;
        }
        let b = &mut self.buf;
        b.clear();
        b.extend_from_slice(MAGIC);
        b.extend_from_slice(self.boot.as_bytes());
        let v = self.validator.as_bytes();
        for n in [
            self.dev,
            self.ino,
            len,
            self.total,
            v.len() as u64,
            done.len() as u64,
        ] {
            b.extend_from_slice(&n.to_le_bytes());
        }
        b.extend_from_slice(v);
        for (s, e) in done {
            b.extend_from_slice(&s.to_le_bytes());
            b.extend_from_slice(&e.to_le_bytes());
        }
        let sum = fnv(b);
        b.extend_from_slice(&sum.to_le_bytes());
        if self.file.write_all_at(b, 0).is_err() {
            return;
        }
        // A record shorter than the last one (done ranges merged) leaves the old tail
        // behind it: cut it off. A crash before the cut leaves the tail, which the
        // reader ignores (the record says its own length and carries its checksum).
        if b.len() < self.written && self.file.set_len(b.len() as u64).is_ok() {
            self.written = b.len();
        }
        self.written = self.written.max(b.len());
    }
}

/// Read and check a record (`None`: absent, torn or malformed).
pub(crate) fn read(state_dir: &Path, job: Uuid, idx: usize) -> Option<Record> {
    let mut f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path(state_dir, job, idx))
        .ok()?;
    let mut b = Vec::new();
    f.read_to_end(&mut b).ok()?;
    let head = MAGIC.len() + 36 + 6 * 8;
    if b.len() < head + 8 || &b[..MAGIC.len()] != MAGIC {
        return None;
    }
    let u64_at = |at: usize| -> Option<u64> {
        Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
    };
    let boot = std::str::from_utf8(&b[MAGIC.len()..MAGIC.len() + 36])
        .ok()?
        .to_string();
    let at = MAGIC.len() + 36;
    let (dev, ino, len, total, vlen, n) = (
        u64_at(at)?,
        u64_at(at + 8)?,
        u64_at(at + 16)?,
        u64_at(at + 24)?,
        u64_at(at + 32)? as usize,
        u64_at(at + 40)? as usize,
    );
    // Bytes after the record are the tail of a longer earlier one (see `write`).
    if n > MAX_RANGES || vlen > 4096 || b.len() < head + vlen + 16 * n + 8 {
        return None;
    }
    let body = head + vlen + 16 * n;
    if u64_at(body)? != fnv(&b[..body]) {
        return None;
    }
    let validator = std::str::from_utf8(&b[head..head + vlen]).ok()?.to_string();
    let first = head + vlen;
    let mut got = Vec::with_capacity(n);
    for i in 0..n {
        got.push((u64_at(first + 16 * i)?, u64_at(first + 16 * i + 8)?));
    }
    let ranges = ranges::normalize(got.clone());
    if ranges != got || ranges.last().is_some_and(|r| r.1 > total.min(len)) {
        return None;
    }
    Some(Record {
        boot,
        dev,
        ino,
        len,
        total,
        validator,
        ranges,
    })
}

/// Remove a record (its file restarted, ended, or its job is gone).
pub(crate) fn remove(state_dir: &Path, job: Uuid, idx: usize) {
    let _ = std::fs::remove_file(path(state_dir, job, idx));
}

/// Remove every record whose file is not in `keep`.
pub(crate) fn sweep(state_dir: &Path, keep: &std::collections::HashSet<(Uuid, usize)>) {
    let Ok(entries) = std::fs::read_dir(state_dir.join("progress")) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        let key = name
            .split_once('.')
            .and_then(|(j, i)| Some((Uuid::try_parse(j).ok()?, i.parse().ok()?)));
        if key.is_none_or(|k| !keep.contains(&k)) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// The ranges a record proves are in `temp` beyond the stored checkpoint, or `None`
/// when it proves nothing (see the module's text). The stored size and validator must
/// be the record's, or none yet (a file not checkpointed since its start: a restart
/// removes the record before its bytes are dropped).
pub(crate) fn trusted(
    rec: &Record,
    temp: &File,
    total: Option<u64>,
    validator: Option<&str>,
    synced: &[(u64, u64)],
) -> Option<Ranges> {
    let meta = temp.metadata().ok()?;
    let same_boot = boot_id().is_some_and(|b| b == rec.boot);
    // `len` is where the furthest write that may have happened ends: the file's length
    // lies between the end of what the record says is written and that, plus one more
    // write the kill cut short after it began (a write sleeping in the kernel's dirty
    // page throttling has already made the file longer; its bytes are not counted).
    let written_end = rec.ranges.last().map_or(0, |r| r.1);
    let same_file = meta.dev() == rec.dev
        && meta.ino() == rec.ino
        && (written_end..=rec.len.saturating_add(IN_FLIGHT)).contains(&meta.len());
    let same_content = match (total, validator) {
        (Some(t), Some(v)) => t == rec.total && v == rec.validator,
        (None, None) => synced.is_empty(),
        _ => false,
    };
    if !(same_boot && same_file && same_content && !rec.validator.is_empty()) {
        return None;
    }
    // It must hold at least what the checkpoint holds (it was written after it).
    let mut both = rec.ranges.clone();
    both.extend_from_slice(synced);
    let both = ranges::normalize(both);
    (both == rec.ranges && ranges::sum(&rec.ranges) > ranges::sum(synced))
        .then(|| rec.ranges.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_round_trips_and_is_trusted_only_for_the_same_file_and_content() {
        let dir = std::env::temp_dir().join(format!("bgcopy-crashlog-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let temp_path = dir.join("t");
        let temp = File::create(&temp_path).unwrap();
        temp.set_len(300).unwrap();
        let job = Uuid::new_v4();
        let Some(mut log) = CrashLog::create(&dir, job, 3, &temp, 1000, Some("\"e\"")) else {
            return; // no boot id on this system
        };
        log.write(&[(0, 50), (60, 100), (200, 300)], 300);
        // Fewer ranges than before (two merged): a shorter record, still read. It once
        // left the longer one's tail and was refused, so a kill -9 re-fetched it all.
        log.write(&[(0, 100), (200, 300)], 300);
        let rec = read(&dir, job, 3).unwrap();
        assert_eq!(rec.ranges, vec![(0, 100), (200, 300)]);
        // A crash between the write and the cut: the tail is ignored.
        let p = path(&dir, job, 3);
        let mut with_tail = std::fs::read(&p).unwrap();
        with_tail.extend_from_slice(&[7u8; 16]);
        std::fs::write(&p, &with_tail).unwrap();
        assert_eq!(read(&dir, job, 3).unwrap().ranges, rec.ranges);
        std::fs::write(&p, &with_tail[..with_tail.len() - 16]).unwrap();
        let t = |total, v, synced: &[(u64, u64)]| trusted(&rec, &temp, total, v, synced);
        assert_eq!(
            t(Some(1000), Some("\"e\""), &[(0, 50)]),
            Some(rec.ranges.clone())
        );
        assert_eq!(
            t(None, None, &[]),
            Some(rec.ranges.clone()),
            "not checkpointed yet"
        );
        assert_eq!(rec.validator, "\"e\"");
        assert_eq!(t(Some(1000), Some("\"other\""), &[]), None, "other content");
        assert_eq!(t(Some(999), Some("\"e\""), &[]), None, "other size");
        assert_eq!(
            t(Some(1000), Some("\"e\""), &[(0, 150)]),
            None,
            "behind the checkpoint"
        );
        // Killed inside a write after the record: longer by at most one write.
        temp.set_len(300 + IN_FLIGHT).unwrap();
        assert_eq!(
            t(Some(1000), Some("\"e\""), &[]),
            Some(rec.ranges.clone()),
            "one write cut short"
        );
        temp.set_len(301 + IN_FLIGHT).unwrap();
        assert_eq!(
            t(Some(1000), Some("\"e\""), &[]),
            None,
            "longer than any write"
        );
        temp.set_len(250).unwrap();
        assert_eq!(
            t(Some(1000), Some("\"e\""), &[]),
            None,
            "shorter than the bytes"
        );
        // Torn or foreign bytes are no record.
        let p = path(&dir, job, 3);
        let mut bytes = std::fs::read(&p).unwrap();
        bytes[20] ^= 1;
        std::fs::write(&p, &bytes).unwrap();
        assert_eq!(read(&dir, job, 3), None);
        sweep(&dir, &Default::default());
        assert!(!p.exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
