//! One process per state directory: an exclusive `flock` on `<dir>/lock`, holding the pid.

use crate::error::{Error, Result, codes};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// Held while a manager has the directory open; released on drop (and by the kernel
/// when the process dies, so a killed process never leaves a stale lock).
#[derive(Debug)]
pub(crate) struct DirLock {
    _file: File,
}

impl DirLock {
    pub fn acquire(dir: &Path) -> Result<DirLock> {
        let path = dir.join("lock");
        let mut file = crate::sys::private_file(&path)?;
        // SAFETY: flock on a file descriptor we own; no memory is involved.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            // The holder writes its pid just after it takes the lock: a lock file
            // created a moment ago may still be empty, so look again briefly.
            let mut holder = String::new();
            for _ in 0..40 {
                holder.clear();
                let _ = file.seek(SeekFrom::Start(0));
                let _ = file.read_to_string(&mut holder);
                if !holder.trim().is_empty() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            let holder = holder.trim();
            let who = if holder.is_empty() {
                "another process".to_string()
            } else {
                format!("process {holder}")
            };
            return Err(Error::new(
                codes::LOCKED,
                format!(
                    "the state directory {} is in use by {who}; close that manager first",
                    dir.display()
                ),
            ));
        }
        // One write of a fixed-width field at offset 0: a reader never sees the file
        // empty or half-written once any holder wrote it.
        let text = format!("{:<20}\n", std::process::id());
        let _ = file.write_all_at(text.as_bytes(), 0);
        let _ = file.set_len(text.len() as u64);
        Ok(DirLock { _file: file })
    }
}

impl DirLock {
    /// In a forked child: close this process's copy of the lock's descriptor (the
    /// parent's copy keeps the lock), so the lock ends with the parent's manager and
    /// not with the child. `self` must then be leaked, never dropped.
    pub fn close_inherited(&self) {
        // SAFETY: closes a descriptor this process owns; the caller leaks `self`, so
        // the `File` never closes it a second time.
        unsafe {
            libc::close(self._file.as_raw_fd());
        }
    }
}
