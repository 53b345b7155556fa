//! The operating-system edge: hidden temporary files opened without ever following a
//! link, owner-only modes for the state directory and its files, `NAME_MAX`, and the
//! crash points the durability tests use, room in the descriptor table (`fdtable.rs`),
//! the connection threads' scheduling policy (`sched.rs`).
//! One place to port to another platform.
//!
//! A temporary file is *ours* only if bgcopy created it (`O_CREAT|O_EXCL|O_NOFOLLOW`,
//! mode 0600) and recorded its device and inode in the store. Every later open, write,
//! truncation, rename or deletion first proves that identity: a link, a different
//! inode or anything else planted at the path is never followed, written or removed.

mod channel;
mod fdtable;
mod fork;
mod lock;
mod sched;

pub(crate) use channel::{WakeReceiver, WakeSender};
pub(crate) use fdtable::reserve as reserve_descriptors;
pub(crate) use fork::StoreGuard;
pub(crate) use lock::{Candidate, EngineLock, StopSignal, engine_pid};
pub(crate) use sched::batch_thread;

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Device and inode of a file bgcopy created: the proof that a path still names it
/// (together with its owner being this user, so another user's file that happens to
/// get a freed inode number never passes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FileId {
    pub dev: u64,
    pub ino: u64,
}

impl FileId {
    fn of(m: &std::fs::Metadata) -> FileId {
        FileId {
            dev: m.dev(),
            ino: m.ino(),
        }
    }

    /// `m` is this file: a regular file with this device and inode, owned by us.
    fn matches(self, m: &std::fs::Metadata) -> bool {
        self.is(m.file_type().is_file(), FileId::of(m), m.uid())
    }

    /// A file that is `regular`, has the identity `id` and belongs to `uid` is this one
    /// ([`FileId::matches`], [`Dir::is_ours`]).
    fn is(self, regular: bool, id: FileId, uid: u32) -> bool {
        // SAFETY: geteuid has no preconditions.
        let me = unsafe { libc::geteuid() };
        regular && id == self && uid == me
    }
}

/// `name` for a system call (a name holding NUL is no file's: InvalidInput).
fn c_name(name: &std::ffi::OsStr) -> io::Result<std::ffi::CString> {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::CString::new(name.as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

/// Why a path could not be used as one of our temporary files.
#[derive(Debug)]
pub(crate) enum TempError {
    /// Nothing is at the path.
    Missing,
    /// Something bgcopy did not create is at the path (a link, another file, a
    /// directory): left untouched.
    Foreign(String),
    /// Another I/O error.
    Io(io::Error),
}

impl From<io::Error> for TempError {
    fn from(e: io::Error) -> Self {
        match e.kind() {
            io::ErrorKind::NotFound => TempError::Missing,
            _ => TempError::Io(e),
        }
    }
}

/// Create a new temporary file: fails if anything at all is at `path` (no link is
/// followed), mode 0600 whatever the umask, close-on-exec. Returns it with its identity.
pub(crate) fn create_temp(path: &Path) -> Result<(File, FileId), TempError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| match e.kind() {
            io::ErrorKind::AlreadyExists => TempError::Foreign(format!(
                "{} already exists and was not created by this job",
                path.display()
            )),
            _ => TempError::Io(e),
        })?;
    // The umask may have taken bits away; never more than owner read/write.
    let mut meta = file.metadata()?;
    if meta.permissions().mode() & 0o7777 != 0o600 {
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        meta = file.metadata()?;
    }
    let id = FileId::of(&meta);
    Ok((file, id))
}

/// Open the temporary file `id` at `path` for reading and writing: never through a
/// link (`O_NOFOLLOW`), never blocking on a planted FIFO or device (`O_NONBLOCK`), and
/// only if what opened is a regular file with that device and inode.
pub(crate) fn open_temp(path: &Path, id: FileId) -> Result<File, TempError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::ELOOP) {
                TempError::Foreign(format!("{} is a symbolic link", path.display()))
            } else {
                TempError::from(e)
            }
        })?;
    let m = file.metadata()?;
    if !id.matches(&m) {
        return Err(TempError::Foreign(format!(
            "{} is not the file this job created",
            path.display()
        )));
    }
    set_blocking(&file)?;
    Ok(file)
}

fn set_blocking(file: &File) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let fd = file.as_raw_fd();
    // SAFETY: fcntl on a descriptor we own; no memory is involved.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 || libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Whether `path` itself (not what a link points to) is the regular file `id`.
pub(crate) fn is_ours(path: &Path, id: FileId) -> Result<bool, io::Error> {
    match std::fs::symlink_metadata(path) {
        Ok(m) => Ok(id.matches(&m)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Delete `path` if it is still our file `id`; anything else there is left alone.
/// `Ok(true)` when nothing of ours remains at the path (deleted, or gone already).
pub(crate) fn remove_ours(path: &Path, id: FileId) -> io::Result<bool> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if id.matches(&m) => match std::fs::remove_file(path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(true),
            Err(e) => Err(e),
        },
        // Someone else's now (or gone): not ours to delete, nothing of ours is left.
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(e),
    }
}

/// A directory held open: names in it are renamed relative to it (no walk of its
/// path per file, and every rename lands in the same directory even if its path is
/// changed meanwhile), then it is synced once.
pub(crate) struct Dir(File);

impl Dir {
    pub(crate) fn open(path: &Path) -> io::Result<Dir> {
        OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
            .open(path)
            .map(Dir)
    }

    /// Rename the entry `from` of this directory to `to` (replacing what is there).
    pub(crate) fn rename(&self, from: &std::ffi::OsStr, to: &std::ffi::OsStr) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        let (a, b) = (c_name(from)?, c_name(to)?);
        let fd = self.0.as_raw_fd();
        // SAFETY: renameat with a directory descriptor we hold and two NUL-terminated
        // names we own.
        if unsafe { libc::renameat(fd, a.as_ptr(), fd, b.as_ptr()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    pub(crate) fn sync(&self) -> io::Result<()> {
        self.0.sync_all()
    }

    /// Whether the entry `name` of this directory itself (not what a link points to) is
    /// our regular file `id` ([`is_ours`] without walking the directory's path).
    pub(crate) fn is_ours(&self, name: &std::ffi::OsStr, id: FileId) -> io::Result<bool> {
        let st = match self.stat(name, false) {
            Ok(st) => st,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e),
        };
        let found = FileId {
            dev: st.dev,
            ino: st.ino,
        };
        Ok(id.is(st.kind == libc::S_IFREG, found, st.uid))
    }

    /// Whether the entry `name` of this directory is a directory, links followed (as
    /// [`Path::is_dir`]); `false` when it does not exist or cannot be read.
    pub(crate) fn is_dir(&self, name: &std::ffi::OsStr) -> bool {
        self.stat(name, true)
            .is_ok_and(|st| st.kind == libc::S_IFDIR)
    }

    /// `fstatat` of `name` in this directory (links followed or not), with 64-bit
    /// sizes and inode numbers on every Linux (a 32-bit `stat` fails on large files).
    // The fields' types differ by platform (u64 here, narrower or signed elsewhere).
    #[allow(clippy::unnecessary_cast)]
    fn stat(&self, name: &std::ffi::OsStr, follow: bool) -> io::Result<Stat> {
        use std::os::fd::AsRawFd;
        let c = c_name(name)?;
        let flags = if follow { 0 } else { libc::AT_SYMLINK_NOFOLLOW };
        #[cfg(target_os = "linux")]
        let (rc, st) = {
            let mut st = std::mem::MaybeUninit::<libc::stat64>::uninit();
            // SAFETY: fstatat64 with a directory descriptor we hold, a NUL-terminated
            // name we own and a buffer of the right type (read only on success).
            let rc =
                unsafe { libc::fstatat64(self.0.as_raw_fd(), c.as_ptr(), st.as_mut_ptr(), flags) };
            (rc, st)
        };
        #[cfg(not(target_os = "linux"))]
        let (rc, st) = {
            let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
            // SAFETY: as above, with the platform's `stat` (64-bit there).
            let rc =
                unsafe { libc::fstatat(self.0.as_raw_fd(), c.as_ptr(), st.as_mut_ptr(), flags) };
            (rc, st)
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: initialised by the successful call above.
        let st = unsafe { st.assume_init() };
        Ok(Stat {
            kind: st.st_mode as libc::mode_t & libc::S_IFMT,
            dev: st.st_dev as u64,
            ino: st.st_ino as u64,
            uid: st.st_uid,
        })
    }

    /// Whether names in this directory are compared byte for byte, so that a listing
    /// of it answers "is this name there" (not on a case-insensitive or normalising
    /// file system, nor in a case-folded ext4/tmpfs directory). Known only on Linux for
    /// ext2/3/4, btrfs and tmpfs; `false` elsewhere.
    // `f_type` and the magic numbers are `c_long` here, `c_uint` on s390x.
    #[allow(clippy::unnecessary_cast)]
    pub(crate) fn names_are_exact(&self) -> bool {
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            /// `FS_CASEFOLD_FL` (linux/fs.h): the directory's names are case-folded.
            const CASEFOLD: libc::c_long = 0x4000_0000;
            let fd = self.0.as_raw_fd();
            let mut fs = std::mem::MaybeUninit::<libc::statfs>::uninit();
            // SAFETY: fstatfs on a descriptor we hold into a buffer of the right type.
            if unsafe { libc::fstatfs(fd, fs.as_mut_ptr()) } != 0 {
                return false;
            }
            // SAFETY: initialised by the successful call above.
            let kind = unsafe { fs.assume_init() }.f_type;
            let known = [
                libc::EXT4_SUPER_MAGIC,
                libc::BTRFS_SUPER_MAGIC,
                libc::TMPFS_MAGIC,
            ];
            if !known.iter().any(|m| *m as i64 == kind as i64) {
                return false;
            }
            let mut flags: libc::c_long = 0;
            // SAFETY: FS_IOC_GETFLAGS writes the inode's flags into the long we own.
            let rc = unsafe { libc::ioctl(fd, libc::FS_IOC_GETFLAGS, &mut flags) };
            // A file system without the call has no case-folded directories either.
            rc != 0 || flags & CASEFOLD == 0
        }
        #[cfg(not(target_os = "linux"))]
        false
    }
}

/// The folder of the last name looked at, held open while the next names are in it
/// too: one at a time (a job may name thousands of folders).
#[derive(Default)]
pub(crate) struct HeldDir(Option<(std::path::PathBuf, Option<Dir>)>);

impl HeldDir {
    /// The folder `path`, opened unless it is the one held; `None` when it cannot be
    /// opened (the caller asks by path then).
    pub(crate) fn at(&mut self, path: &Path) -> Option<&Dir> {
        if self.0.as_ref().is_none_or(|(p, _)| p != path) {
            self.0 = Some((path.to_path_buf(), Dir::open(path).ok()));
        }
        self.0.as_ref().and_then(|(_, d)| d.as_ref())
    }
}

/// What [`Dir::stat`] reads of an entry.
struct Stat {
    /// `st_mode & S_IFMT`.
    kind: libc::mode_t,
    dev: u64,
    ino: u64,
    uid: libc::uid_t,
}

/// The longest file name (in bytes) the file system of `dir` accepts.
pub(crate) fn name_max(dir: &Path) -> usize {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return 255;
    };
    // SAFETY: pathconf reads a NUL-terminated path we own.
    let n = unsafe { libc::pathconf(c.as_ptr(), libc::_PC_NAME_MAX) };
    if n > 0 { n as usize } else { 255 }
}

/// Make `dir` the state directory: created 0700 if missing; if it exists it must be
/// a directory owned by this user, and group/other permissions are taken away.
pub(crate) fn secure_state_dir(dir: &Path) -> crate::Result<()> {
    use crate::error::{Error, codes};
    use std::os::unix::fs::DirBuilderExt;
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| Error::from_io(&format!("create {}", parent.display()), &e))?;
    }
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(Error::from_io(&format!("create {}", dir.display()), &e)),
    }
    let m = std::fs::metadata(dir)
        .map_err(|e| Error::from_io(&format!("open {}", dir.display()), &e))?;
    if !m.is_dir() {
        return Err(Error::invalid_arg(format!(
            "the state directory {} is not a directory",
            dir.display()
        )));
    }
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    if m.uid() != me {
        return Err(Error::new(
            codes::ACCESS_DENIED,
            format!(
                "the state directory {} belongs to user {}, not to you (user {me}): \
                 a job store is private to the user who owns it",
                dir.display(),
                m.uid()
            ),
        ));
    }
    if m.mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(|e| {
            Error::from_io(
                &format!("make the state directory {} private (0700)", dir.display()),
                &e,
            )
        })?;
    }
    Ok(())
}

/// Create (or open) a file of the state directory with mode 0600 whatever the umask,
/// never through a link, and make an existing one 0600.
pub(crate) fn private_file(path: &Path) -> crate::Result<File> {
    use crate::error::Error;
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| Error::from_io(&format!("open {}", path.display()), &e))?;
    let m = file
        .metadata()
        .map_err(|e| Error::from_io(&format!("open {}", path.display()), &e))?;
    if !m.file_type().is_file() {
        return Err(Error::invalid_arg(format!(
            "{} is not a regular file",
            path.display()
        )));
    }
    if m.mode() & 0o777 != 0o600 {
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(|e| Error::from_io(&format!("chmod {}", path.display()), &e))?;
    }
    Ok(file)
}

/// Make an existing file of the state directory 0600 (SQLite's `-wal` and `-shm`,
/// which it creates with the database file's mode).
pub(crate) fn tighten_if_present(path: &Path) {
    if let Ok(m) = std::fs::symlink_metadata(path)
        && m.file_type().is_file()
        && m.mode() & 0o777 != 0o600
    {
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    }
}

/// The current process id: a handle whose recorded pid differs was inherited through
/// `fork()`.
pub(crate) fn pid() -> u32 {
    std::process::id()
}

/// Crash points for the durability tests (debug builds only): when the environment
/// variable `BGCOPY_CRASH_AT` names `point`, the process kills itself with SIGKILL
/// there, exactly as a crash or `kill -9` would.
#[inline]
pub(crate) fn crash_point(point: &str) {
    #[cfg(debug_assertions)]
    if std::env::var_os("BGCOPY_CRASH_AT").is_some_and(|v| v == point) {
        // SAFETY: raising SIGKILL on ourselves; nothing after it runs.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
    #[cfg(not(debug_assertions))]
    let _ = point;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("bgcopy-sys-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// `Dir::is_ours` is the path-based `is_ours` relative to a held folder: our file
    /// by its name, never through a link, nor another file; `Dir::is_dir` follows links.
    #[test]
    fn a_held_directory_asks_about_names_like_the_paths_do() {
        let d = scratch("asks");
        let (_file, id) = create_temp(&d.join("ours")).unwrap();
        std::fs::write(d.join("other"), b"x").unwrap();
        std::os::unix::fs::symlink(d.join("ours"), d.join("to-ours")).unwrap();
        std::fs::create_dir(d.join("sub")).unwrap();
        std::os::unix::fs::symlink(d.join("sub"), d.join("to-sub")).unwrap();
        let dir = Dir::open(&d).unwrap();
        for (name, ours) in [
            ("ours", true),
            ("other", false),
            ("to-ours", false),
            ("none", false),
        ] {
            let name = std::ffi::OsStr::new(name);
            assert_eq!(dir.is_ours(name, id).unwrap(), ours, "{name:?}");
            assert_eq!(
                is_ours(&d.join(name), id).unwrap(),
                ours,
                "{name:?} by path"
            );
        }
        for (name, is_dir) in [
            ("sub", true),
            ("to-sub", true),
            ("ours", false),
            ("none", false),
        ] {
            let name = std::ffi::OsStr::new(name);
            assert_eq!(dir.is_dir(name), is_dir, "{name:?}");
            assert_eq!(d.join(name).is_dir(), is_dir, "{name:?} by path");
        }
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_held_directory_renames_inside_itself_even_after_its_path_moves() {
        let d = scratch("dir");
        let inside = d.join("a");
        std::fs::create_dir(&inside).unwrap();
        std::fs::write(inside.join(".x.tmp"), b"bytes").unwrap();
        let dir = Dir::open(&inside).unwrap();
        // The path now names another directory: the rename still happens in the
        // one held open.
        std::fs::rename(&inside, d.join("moved")).unwrap();
        std::fs::create_dir(&inside).unwrap();
        dir.rename(".x.tmp".as_ref(), "x".as_ref()).unwrap();
        dir.sync().unwrap();
        assert_eq!(std::fs::read(d.join("moved/x")).unwrap(), b"bytes");
        assert!(!inside.join("x").exists());
        // A missing entry and a name with a NUL are errors, not a panic.
        assert_eq!(
            dir.rename("nothing".as_ref(), "y".as_ref())
                .unwrap_err()
                .kind(),
            io::ErrorKind::NotFound
        );
        let nul = std::ffi::OsStr::new("a\0b");
        assert_eq!(
            dir.rename(nul, "y".as_ref()).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
        assert!(Dir::open(&d.join("moved/x")).is_err(), "not a directory");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn temp_files_never_follow_or_reuse_what_is_there() {
        let d = scratch("temps");
        let victim = d.join("victim");
        std::fs::write(&victim, b"secret").unwrap();
        let link = d.join("link");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        assert!(matches!(create_temp(&link), Err(TempError::Foreign(_))));
        assert!(matches!(create_temp(&victim), Err(TempError::Foreign(_))));

        let t = d.join("t");
        let (_, id) = create_temp(&t).unwrap();
        assert_eq!(
            std::fs::metadata(&t).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(open_temp(&t, id).is_ok());
        // The same name, another inode (ours moved away, so its inode is not reused):
        // refused, left alone.
        std::fs::rename(&t, d.join("moved")).unwrap();
        std::fs::write(&t, b"planted").unwrap();
        assert!(matches!(open_temp(&t, id), Err(TempError::Foreign(_))));
        assert!(remove_ours(&t, id).unwrap());
        assert_eq!(std::fs::read(&t).unwrap(), b"planted");
        // A link at the name: refused, the target untouched.
        std::fs::remove_file(&t).unwrap();
        std::os::unix::fs::symlink(&victim, &t).unwrap();
        assert!(matches!(open_temp(&t, id), Err(TempError::Foreign(_))));
        assert!(!is_ours(&t, id).unwrap());
        assert_eq!(std::fs::read(&victim).unwrap(), b"secret");
        std::fs::remove_file(&t).unwrap();
        assert!(matches!(open_temp(&t, id), Err(TempError::Missing)));
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn name_max_is_the_file_systems() {
        assert!(name_max(Path::new("/tmp")) >= 14);
    }
}
