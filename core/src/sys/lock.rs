//! One engine per state directory: an exclusive `flock` on `<dir>/engine.lock`,
//! holding the pid of the process that runs transfers. Any number of processes open
//! the directory; the one holding this lock is the engine. The kernel releases it when
//! that process exits or dies, so another can take over at once.

use crate::error::Result;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// Held while this process is the directory's engine; released on drop (and by the
/// kernel when the process dies, so a killed engine never leaves a stale lock).
#[derive(Debug)]
pub(crate) struct EngineLock {
    file: File,
}

impl EngineLock {
    /// Take the lock if no other process holds it (`None` when one does).
    pub fn try_acquire(dir: &Path) -> Result<Option<EngineLock>> {
        let file = crate::sys::private_file(&dir.join("engine.lock"))?;
        // SAFETY: flock on a file descriptor we own; no memory is involved.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            return Ok(None);
        }
        // One write of a fixed-width field at offset 0 (for people looking).
        let text = format!("{:<20}\n", std::process::id());
        let _ = file.write_all_at(text.as_bytes(), 0);
        let _ = file.set_len(text.len() as u64);
        Ok(Some(EngineLock { file }))
    }

    /// In a forked child: close this process's copy of the lock's descriptor (the
    /// parent's copy keeps the lock), so the lock ends with the parent's manager and
    /// not with the child. `self` must then be leaked, never dropped.
    pub fn close_inherited(&self) {
        // SAFETY: closes a descriptor this process owns; the caller leaks `self`, so
        // the `File` never closes it a second time.
        unsafe {
            libc::close(self.file.as_raw_fd());
        }
    }
}

/// The pid of the process running the engine for `dir`, if one runs: the engine's
/// exclusive lock makes a shared one fail (taken and released at once otherwise).
pub(crate) fn engine_pid(dir: &Path) -> Option<u32> {
    let file = File::open(dir.join("engine.lock")).ok()?;
    // SAFETY: flock on a descriptor we own.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) };
    if rc == 0 {
        // SAFETY: as above.
        unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_UN) };
        return None;
    }
    let mut text = String::new();
    use std::io::Read;
    (&file).read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}
