//! One engine per state directory: an exclusive `flock` on `<dir>/engine.lock`,
//! holding the pid of the process that runs transfers. Any number of processes open
//! the directory; the one holding this lock is the engine. The kernel releases it when
//! that process exits or dies, so another can take over at once.
//!
//! A process standing for election ([`Candidate`]) does not poll: on Linux it sleeps
//! in `poll()` on a pidfd of the engine's process (readable when it exits or dies) and
//! an inotify watch on the lock file (an engine that closes touches it after letting
//! go), so an idle client costs no wake-ups and a takeover starts at once. Elsewhere
//! it looks every [`POLL`].

use crate::error::Result;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Without a way to sleep until the engine goes: how often a candidate tries.
const POLL: Duration = Duration::from_millis(200);
/// With one: a candidate tries again at least this often anyway (a missed event costs
/// at most this).
#[cfg(target_os = "linux")]
const SAFETY: Duration = Duration::from_secs(30);

/// Held while this process is the directory's engine; released on drop (and by the
/// kernel when the process dies, so a killed engine never leaves a stale lock).
#[derive(Debug)]
pub(crate) struct EngineLock {
    file: File,
}

/// The lock file's descriptor (a copy of it does not release the lock: `flock`
/// belongs to the open file, which stays open).
impl std::os::fd::AsFd for EngineLock {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.file.as_fd()
    }
}

impl EngineLock {
    /// Take the lock if no other process holds it (`None` when one does).
    pub fn try_acquire(dir: &Path) -> Result<Option<EngineLock>> {
        Candidate::new(dir).try_take()
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

/// A process standing for election: the lock file stays open between attempts, so an
/// attempt is one `flock` call (an idle client costs next to nothing).
pub(crate) struct Candidate {
    path: PathBuf,
    file: Option<File>,
}

impl Candidate {
    pub fn new(dir: &Path) -> Candidate {
        Candidate {
            path: dir.join("engine.lock"),
            file: None,
        }
    }

    /// Take the lock if no other process holds it (`None` when one does).
    pub fn try_take(&mut self) -> Result<Option<EngineLock>> {
        let file = match self.file.take() {
            Some(f) => f,
            None => crate::sys::private_file(&self.path)?,
        };
        // SAFETY: flock on a file descriptor we own; no memory is involved.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            self.file = Some(file);
            return Ok(None);
        }
        // The path may name another file by now (removed and made again while we held
        // the old one open): a lock on the old one excludes nobody. Closing it unlocks;
        // the next attempt opens the path again.
        let same = match (file.metadata(), std::fs::symlink_metadata(&self.path)) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        };
        if !same {
            return Ok(None);
        }
        // One write of a fixed-width field at offset 0 (for people looking).
        let text = format!("{:<20}\n", std::process::id());
        let _ = file.write_all_at(text.as_bytes(), 0);
        let _ = file.set_len(text.len() as u64);
        Ok(Some(EngineLock { file }))
    }

    /// Sleep until the engine may have gone, `stop` is raised, or a safety period
    /// passes; the caller then tries [`Candidate::try_take`] again.
    pub fn wait_turn(&self, stop: &StopSignal) {
        #[cfg(target_os = "linux")]
        if let Some(file) = &self.file {
            self.wait_linux(file, stop);
            return;
        }
        poll_readable(&[stop.rx.as_raw_fd()], POLL);
    }

    #[cfg(target_os = "linux")]
    fn wait_linux(&self, file: &File, stop: &StopSignal) {
        use std::os::fd::{FromRawFd, OwnedFd};
        // Armed before the pid is read and the lock looked at, so that nothing
        // between is missed: a new engine writes its pid, a leaving one touches it.
        // SAFETY: plain system calls; the descriptors are owned right away.
        let watch = unsafe {
            let fd = libc::inotify_init1(libc::IN_CLOEXEC | libc::IN_NONBLOCK);
            (fd >= 0).then(|| OwnedFd::from_raw_fd(fd))
        };
        if let Some(w) = &watch {
            use std::os::unix::ffi::OsStrExt;
            let path = std::ffi::CString::new(self.path.as_os_str().as_bytes()).ok();
            let mask = libc::IN_MODIFY
                | libc::IN_ATTRIB
                | libc::IN_CLOSE_WRITE
                | libc::IN_DELETE_SELF
                | libc::IN_MOVE_SELF;
            if let Some(p) = path {
                // SAFETY: a valid descriptor and NUL-terminated path.
                unsafe { libc::inotify_add_watch(w.as_raw_fd(), p.as_ptr(), mask) };
            }
        }
        let mut text = [0u8; 24];
        let n = file.read_at(&mut text, 0).unwrap_or(0);
        let pid = std::str::from_utf8(&text[..n])
            .ok()
            .and_then(|t| t.trim().parse::<libc::pid_t>().ok());
        // SAFETY: pidfd_open takes a pid and flags; the descriptor is owned at once.
        let pidfd = pid.filter(|p| *p > 0).and_then(|p| unsafe {
            let fd = libc::syscall(libc::SYS_pidfd_open, p, 0) as i32;
            (fd >= 0).then(|| OwnedFd::from_raw_fd(fd))
        });
        // The lock free already (the engine went before the watch was armed)?
        // SAFETY: flock on a descriptor we own.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) } == 0 {
            // SAFETY: as above.
            unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_UN) };
            return;
        }
        let (Some(w), Some(p)) = (&watch, &pidfd) else {
            poll_readable(&[stop.rx.as_raw_fd()], POLL);
            return;
        };
        poll_readable(&[stop.rx.as_raw_fd(), w.as_raw_fd(), p.as_raw_fd()], SAFETY);
    }
}

impl Drop for EngineLock {
    /// Let go, then touch the file: candidates sleeping on it wake (see [`Candidate`]).
    fn drop(&mut self) {
        // SAFETY: flock on a descriptor we own.
        unsafe { libc::flock(self.file.as_raw_fd(), libc::LOCK_UN) };
        let _ = self.file.set_modified(std::time::SystemTime::now());
    }
}

/// Wakes a thread sleeping in [`Candidate::wait_turn`] (one byte on a socket pair).
pub(crate) struct StopSignal {
    rx: std::os::unix::net::UnixStream,
    tx: std::os::unix::net::UnixStream,
}

impl StopSignal {
    pub fn new() -> std::io::Result<StopSignal> {
        let (rx, tx) = std::os::unix::net::UnixStream::pair()?;
        tx.set_nonblocking(true)?;
        Ok(StopSignal { rx, tx })
    }

    /// Wake the sleeper (now or at its next sleep).
    pub fn raise(&self) {
        use std::io::Write;
        let _ = (&self.tx).write(b"s");
    }
}

/// `poll()` on `fds` (readable) for at most `max`.
fn poll_readable(fds: &[std::os::fd::RawFd], max: Duration) {
    let mut set: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let ms = max.as_millis().min(i32::MAX as u128) as i32;
    // SAFETY: `set` is a valid array of `set.len()` pollfd structures.
    unsafe { libc::poll(set.as_mut_ptr(), set.len() as libc::nfds_t, ms) };
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
