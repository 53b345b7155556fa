//! The engine's wake-up channel: a Unix datagram socket `<dir>/engine.sock` the engine
//! binds, to which every process sends one byte after a change it committed, so that
//! the engine acts at once instead of at its next periodic look. Datagrams carry no
//! data the engine trusts (it re-reads the store), so a lost or extra one is harmless.

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn socket_path(dir: &Path) -> PathBuf {
    dir.join("engine.sock")
}

/// The sending side, in every process (never blocks).
pub(crate) struct WakeSender {
    sock: UnixDatagram,
    path: PathBuf,
}

impl WakeSender {
    /// `None` when no socket can be made (the engine then sees changes at its
    /// periodic look).
    pub fn new(dir: &Path) -> Option<WakeSender> {
        let sock = UnixDatagram::unbound().ok()?;
        sock.set_nonblocking(true).ok()?;
        Some(WakeSender {
            sock,
            path: socket_path(dir),
        })
    }

    /// Wake the engine (if one listens; a full queue means it is awake already).
    pub fn send(&self) {
        let _ = self.sock.send_to(b"w", &self.path);
    }
}

/// The receiving side, bound by the engine while it holds the engine lock.
pub(crate) struct WakeReceiver {
    sock: UnixDatagram,
    path: PathBuf,
}

impl WakeReceiver {
    /// Bind `<dir>/engine.sock` (replacing a dead engine's). `None` when it cannot be
    /// bound (e.g. a path longer than a socket address allows).
    pub fn bind(dir: &Path) -> Option<WakeReceiver> {
        let path = socket_path(dir);
        // Only the engine binds, under the engine lock: a file there is a dead
        // engine's socket (the directory is private to this user).
        if std::fs::symlink_metadata(&path).is_ok_and(|m| {
            use std::os::unix::fs::FileTypeExt;
            m.file_type().is_socket()
        }) {
            let _ = std::fs::remove_file(&path);
        }
        let sock = UnixDatagram::bind(&path).ok()?;
        // Owner-only like every file of the directory, whatever the umask.
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
        Some(WakeReceiver { sock, path })
    }

    /// Wait up to `timeout` for wake-ups; `true` when one (or more) came.
    pub fn wait(&self, timeout: Duration) -> bool {
        let _ = self
            .sock
            .set_read_timeout(Some(timeout.max(Duration::from_millis(1))));
        let mut buf = [0u8; 64];
        if self.sock.recv(&mut buf).is_err() {
            return false;
        }
        // Take what else is queued: one pass answers them all.
        let _ = self.sock.set_nonblocking(true);
        while self.sock.recv(&mut buf).is_ok() {}
        let _ = self.sock.set_nonblocking(false);
        true
    }

    /// Wake a thread blocked in [`WakeReceiver::wait`] (to stop it). Never blocks: a
    /// full queue means the thread has wake-ups to take and will see why it woke.
    pub fn interrupt(&self) {
        if let Ok(s) = UnixDatagram::unbound()
            && s.set_nonblocking(true).is_ok()
        {
            let _ = s.send_to(b"s", &self.path);
        }
    }
}

impl Drop for WakeReceiver {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
