//! Writing a body past the page cache (`O_DIRECT`): a transfer must have every byte on
//! the disk before it counts, so copying each byte into the page cache first, and then
//! waiting for the kernel to write it back, is work done twice. On a disk that takes
//! direct writes, a body is gathered in an aligned buffer and written in whole blocks
//! of [`ALIGN`] bytes with `O_DIRECT`: by the transfer's own descriptor switched to it
//! for the body (one stream) or by a second descriptor of the same temporary file (a
//! segmented file, whose connections share the ordinary one); what is not a whole
//! block (the end of a file, a resume from an odd offset) goes the ordinary way, and
//! any refusal of a direct write (a file system without it, an alignment it does not
//! take) falls back to ordinary writes for the rest of the file. The checkpoint's
//! `fdatasync` still makes the writes durable (the device's cache, the file's size and
//! its blocks): direct writes change how bytes reach the disk, not when they count as
//! there.

use std::alloc::{self, Layout};
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Offsets, lengths and the buffer's address of a direct write are multiples of this
/// (the largest logical block size of common disks; a multiple of 512 too).
pub(super) const ALIGN: usize = 4096;

/// A read buffer aligned to [`ALIGN`], zero-filled when it grows.
pub(crate) struct Buf {
    ptr: std::ptr::NonNull<u8>,
    len: usize,
}

// SAFETY: `Buf` owns its allocation as a `Vec<u8>` would.
unsafe impl Send for Buf {}
// SAFETY: shared access only reads.
unsafe impl Sync for Buf {}

impl Buf {
    pub(crate) const fn new() -> Buf {
        Buf {
            ptr: std::ptr::NonNull::dangling(),
            len: 0,
        }
    }

    /// Grow to at least `len` bytes (rounded up to [`ALIGN`]); the content is not kept.
    pub(crate) fn grow(&mut self, len: usize) {
        if len <= self.len {
            return;
        }
        let len = len.div_ceil(ALIGN) * ALIGN;
        let layout = Layout::from_size_align(len, ALIGN).expect("a buffer's layout");
        // SAFETY: the layout's size is not zero.
        let ptr = unsafe { alloc::alloc_zeroed(layout) };
        let Some(ptr) = std::ptr::NonNull::new(ptr) else {
            alloc::handle_alloc_error(layout);
        };
        self.release();
        self.ptr = ptr;
        self.len = len;
    }

    fn release(&mut self) {
        if self.len > 0 {
            // SAFETY: allocated in `grow` with this layout.
            unsafe {
                alloc::dealloc(
                    self.ptr.as_ptr(),
                    Layout::from_size_align_unchecked(self.len, ALIGN),
                );
            }
            self.len = 0;
        }
    }
}

impl Drop for Buf {
    fn drop(&mut self) {
        self.release();
    }
}

impl std::ops::Deref for Buf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: `len` initialised bytes (zero-filled at allocation).
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl std::ops::DerefMut for Buf {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `deref`, and `&mut self` is unique.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl Default for Buf {
    fn default() -> Buf {
        Buf::new()
    }
}

/// A second descriptor of `file` (the same open inode, not its name: nothing another
/// user does to the path can swap it) that writes past the page cache, or `None` where
/// that is not possible (no `/proc`, a file system without `O_DIRECT`, not Linux).
pub(super) fn reopen_direct(file: &File) -> Option<File> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        use std::os::unix::fs::OpenOptionsExt;
        let path = format!("/proc/self/fd/{}", file.as_raw_fd());
        use std::os::unix::fs::MetadataExt;
        let direct = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_DIRECT | libc::O_CLOEXEC)
            .open(path)
            .ok()?;
        // The same file, or none (a descriptor number reused under us cannot be).
        let (a, b) = (file.metadata().ok()?, direct.metadata().ok()?);
        ((a.dev(), a.ino()) == (b.dev(), b.ino())).then_some(direct)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = file;
        None
    }
}

/// The most one read takes (an ordinary sink writes each read at once).
pub(super) const READ_BUF: usize = 256 * 1024;

/// A body shorter than this goes the ordinary way: the switch to `O_DIRECT` and back
/// (or a segmented file's second descriptor) and a second write for its end cost more
/// than copying it.
pub(super) const MIN_BODY: u64 = 4 * ALIGN as u64;

/// Gather at least this much before a direct write (whole blocks of it are written)...
/// A kill -9 loses what is gathered (it was never written), and a write the kill
/// catches in the kernel still completes without being recorded: both stay well under
/// the 1 MiB a kill may cost (the largest write is [`MAX_BUF`]). Paired on the 1 GiB
/// download, gathering 256 KiB or 1 MiB made no difference (1.01×).
pub(super) const GATHER: usize = 256 << 10;

/// ...or until, when a read returns, the first byte gathered has waited this long: on
/// a slow link a kill loses at most about this much time's worth.
pub(super) const HOLD: Duration = Duration::from_millis(20);

/// The largest read buffer of a direct body: what is gathered plus one more read.
pub(crate) const MAX_BUF: usize = GATHER + READ_BUF;

/// The read buffer a body of `left` bytes (unknown: `None`) needs when written
/// directly: the whole body and one byte more (a read past its end is how its end
/// shows), in blocks, at most [`MAX_BUF`].
pub(super) fn buffer_for(left: Option<u64>) -> usize {
    left.map_or(MAX_BUF, |n| {
        usize::try_from(n)
            .unwrap_or(usize::MAX)
            .saturating_add(1)
            .div_ceil(ALIGN)
            .saturating_mul(ALIGN)
            .min(MAX_BUF)
    })
}

/// A direct write the file system or the device does not take (alignment, no support).
fn refused(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EINVAL) | Some(libc::EOPNOTSUPP)
    )
}

#[cfg(target_os = "linux")]
const O_DIRECT: libc::c_int = libc::O_DIRECT;
#[cfg(not(target_os = "linux"))]
const O_DIRECT: libc::c_int = 0;

/// `file`'s status flags (`F_GETFL`), where `O_DIRECT` can be switched (Linux).
fn status_flags(file: &File) -> Option<libc::c_int> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: F_GETFL on a valid descriptor.
        let flags = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GETFL) };
        (flags >= 0).then_some(flags)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = file;
        None
    }
}

/// Set `file`'s status flags (`F_SETFL`; the kernel refuses `O_DIRECT` where the
/// file system has no direct I/O).
fn set_status_flags(file: &File, flags: libc::c_int) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: F_SETFL on a valid descriptor.
    if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETFL, flags) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Give `file` its blocks up to `len` (its length becomes `len`; bytes already there
/// stay, the rest reads as zeros and counts as nothing: only checkpointed ranges do).
/// Direct writes into allocated blocks that do not extend the file run side by side
/// on ext4 and XFS; writes that allocate or extend take the inode's lock one at a
/// time. Best effort: a file system without `fallocate`, a size larger than the free
/// space (a server may announce any size: taking the disk for bytes that never come
/// would starve other programs), or a failure part-way leaves the file as it was, and
/// the writes report what fails.
/// `old` is the file's length now; returns its length after.
pub(super) fn preallocate(file: &File, old: u64, len: u64) -> u64 {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let Ok(end) = libc::off_t::try_from(len) else {
            return old;
        };
        if old >= len || free_space(file).is_none_or(|free| free < len - old) {
            return old;
        }
        // SAFETY: fallocate on a valid descriptor; mode 0 only allocates.
        if unsafe { libc::fallocate(file.as_raw_fd(), 0, 0, end) } != 0 {
            // ext4 keeps what it allocated before a failure (and the longer size).
            let _ = file.set_len(old);
            return old;
        }
        len
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (file, len);
        old
    }
}

/// Bytes an unprivileged user may still write on `file`'s file system.
#[cfg(target_os = "linux")]
fn free_space(file: &File) -> Option<u64> {
    use std::os::fd::AsRawFd;
    // SAFETY: fstatvfs fills the struct we own for a valid descriptor.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstatvfs(file.as_raw_fd(), &mut st) } != 0 {
        return None;
    }
    (st.f_bavail as u64).checked_mul(st.f_frsize as u64)
}

/// Where a body's bytes go: gathered in the buffer and written in whole blocks past
/// the page cache (`mode`), or written as they come.
pub(super) struct Sink {
    mode: Mode,
    /// Bytes gathered in the buffer, not yet written (they start at `at`).
    pub(super) held: usize,
    /// Gather this much before writing (none under a bandwidth limit, whose progress
    /// must show as the bytes come).
    gather: usize,
    /// When the oldest byte held arrived: none waits longer than [`HOLD`].
    since: Option<Instant>,
    /// The file offset of the buffer's first byte.
    pub(super) at: u64,
}

/// How a sink writes whole blocks.
enum Mode {
    /// The ordinary way, as they come.
    Ordinary,
    /// By a second descriptor opened with `O_DIRECT` (a segmented file's, shared).
    Second(Arc<File>),
    /// By the transfer's own descriptor, switched to `O_DIRECT` while `on`; `flags`
    /// are its status flags without it (restored for ordinary writes and when the
    /// sink is dropped: the descriptor outlives the body).
    Switched {
        file: Arc<File>,
        flags: libc::c_int,
        on: bool,
    },
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.switch(false);
    }
}

impl Sink {
    /// A sink writing through `direct` (a second descriptor opened with `O_DIRECT`),
    /// or the ordinary way when `None`.
    pub(super) fn new(direct: Option<Arc<File>>, at: u64) -> Sink {
        Sink {
            mode: direct.map_or(Mode::Ordinary, Mode::Second),
            held: 0,
            gather: GATHER,
            since: None,
            at,
        }
    }

    /// A sink writing whole blocks by `file` itself switched to `O_DIRECT` (no second
    /// descriptor to open and prove the same file), or the ordinary way where the
    /// switch is refused (a file system without it, not Linux). Only for a
    /// descriptor no other thread writes by meanwhile: its ordinary writes would be
    /// refused while the switch is on.
    pub(super) fn switched(file: &Arc<File>, at: u64) -> Sink {
        let mut sink = Sink::new(None, at);
        if let Some(flags) = status_flags(file) {
            sink.mode = Mode::Switched {
                file: file.clone(),
                flags: flags & !O_DIRECT,
                on: flags & O_DIRECT != 0,
            };
            // A refused switch changed nothing: nothing to put back.
            if sink.switch(true).is_err() {
                sink.mode = Mode::Ordinary;
            }
        }
        sink
    }

    /// Turn a switched descriptor's `O_DIRECT` on or off (nothing to do in the other
    /// modes, or when it already is).
    fn switch(&mut self, on: bool) -> io::Result<()> {
        if let Mode::Switched {
            file,
            flags,
            on: now,
        } = &mut self.mode
            && *now != on
        {
            set_status_flags(file, if on { *flags | O_DIRECT } else { *flags })?;
            *now = on;
        }
        Ok(())
    }

    /// Write `bytes` at `at` the ordinary way (a switched descriptor is switched back
    /// first).
    fn ordinary(&mut self, file: &File, bytes: &[u8], at: u64) -> io::Result<()> {
        self.switch(false)?;
        file.write_all_at(bytes, at)
    }

    /// Write whole blocks `bytes` at `at` past the page cache.
    fn direct(&mut self, file: &File, bytes: &[u8], at: u64) -> io::Result<()> {
        self.switch(true)?;
        match &self.mode {
            Mode::Second(d) => d.write_all_at(bytes, at),
            Mode::Switched { .. } => file.write_all_at(bytes, at),
            Mode::Ordinary => unreachable!("a direct write by an ordinary sink"),
        }
    }

    /// How much the next read may take: `chunk` (less than a full read under a
    /// bandwidth limit, which then also stops the gathering), at most `room`, and no
    /// more than the buffer has left.
    pub(super) fn room(&mut self, chunk: usize, room: usize, buf: &Buf) -> usize {
        self.gather = if chunk < READ_BUF { 0 } else { GATHER };
        chunk.min(room).min(buf.len() - self.held)
    }

    /// `n` more bytes were read into the buffer after those held.
    pub(super) fn add(&mut self, n: usize) {
        if self.held == 0 && n > 0 {
            self.since = Some(Instant::now());
        }
        self.held += n;
    }

    pub(super) fn is_direct(&self) -> bool {
        !matches!(self.mode, Mode::Ordinary)
    }

    /// Write what the buffer holds: nothing until [`GATHER`] bytes are held or the
    /// oldest has waited [`HOLD`], then its whole blocks; everything when `all` or when
    /// the writes are ordinary. Returns the bytes written.
    pub(super) fn flush(&mut self, buf: &mut Buf, file: &File, all: bool) -> io::Result<u64> {
        let before = self.at;
        if !self.is_direct() {
            file.write_all_at(&buf[..self.held], self.at)?;
            self.at += self.held as u64;
            self.held = 0;
            return Ok(self.at - before);
        }
        if !all && self.held < self.gather.max(1) && self.since.is_some_and(|t| t.elapsed() < HOLD)
        {
            return Ok(0);
        }
        // Up to a block boundary the ordinary way (once: a resume from an odd offset).
        let head = ((ALIGN - (self.at % ALIGN as u64) as usize) % ALIGN).min(self.held);
        if head > 0 {
            self.ordinary(file, &buf[..head], self.at)?;
            self.shift(buf, head);
        }
        let whole = self.held / ALIGN * ALIGN;
        if whole > 0 {
            match self.direct(file, &buf[..whole], self.at) {
                Ok(()) => {}
                // Not taken here (a file system or an alignment it refuses): ordinary
                // writes from now on, this one again from its start.
                Err(e) if refused(&e) => {
                    self.ordinary(file, &buf[..whole], self.at)?;
                    self.mode = Mode::Ordinary;
                }
                Err(e) => return Err(e),
            }
            self.shift(buf, whole);
        }
        if all && self.held > 0 {
            self.ordinary(file, &buf[..self.held], self.at)?;
            self.shift(buf, self.held);
        }
        Ok(self.at - before)
    }

    /// `n` bytes of the buffer are in the file: the rest moves to its start.
    fn shift(&mut self, buf: &mut Buf, n: usize) {
        buf.copy_within(n..self.held, 0);
        self.at += n as u64;
        self.held -= n;
        self.since = (self.held > 0).then(Instant::now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileExt;

    fn temp(name: &str) -> (std::path::PathBuf, File) {
        let dir = std::env::temp_dir().join(format!("bgcopy-direct-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        (path, file)
    }

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 + i / 4096) as u8).collect()
    }

    /// Feed `body` in reads of `step` bytes from `at`, as a transfer does; returns
    /// what each flush wrote.
    fn feed(sink: &mut Sink, buf: &mut Buf, file: &File, body: &[u8], step: usize) -> Vec<u64> {
        let mut wrote = Vec::new();
        let mut i = 0;
        while i < body.len() {
            let n = sink
                .room(READ_BUF, usize::MAX, buf)
                .min(step)
                .min(body.len() - i);
            let h = sink.held;
            buf[h..h + n].copy_from_slice(&body[i..i + n]);
            sink.add(n);
            i += n;
            let end = i == body.len();
            wrote.push(sink.flush(buf, file, end).unwrap());
        }
        wrote
    }

    #[test]
    fn a_body_lands_whole_at_its_offset_from_any_start_in_whole_blocks_then_its_tail() {
        for (k, (start, len, step)) in [
            (0u64, 3 * GATHER + 12_345, 100_000),
            (4096 * 3, 2 * GATHER, 65_536),
            (1000, GATHER + 5000, 256 * 1024),
            (77, 10_000, 3000),
            (0, 64 * 1024, 16 * 1024),
        ]
        .into_iter()
        .enumerate()
        {
            let (path, file) = temp(&format!("body-{k}"));
            let body = data(len);
            // What was there before the start stays.
            file.write_all_at(&vec![0xAA; start as usize], 0).unwrap();
            // A second descriptor (a segmented file's) or the descriptor switched.
            let file = Arc::new(file);
            let second = reopen_direct(&file).map(Arc::new);
            let can = second.is_some();
            let mut sink = if k % 2 == 0 {
                Sink::new(second, start)
            } else {
                drop(second);
                Sink::switched(&file, start)
            };
            assert_eq!(sink.is_direct(), can, "case {k}");
            let mut buf = Buf::new();
            buf.grow(buffer_for(Some(len as u64)));
            let wrote = feed(&mut sink, &mut buf, &file, &body, step);
            assert_eq!(wrote.iter().sum::<u64>(), len as u64, "case {k}");
            assert_eq!((sink.held, sink.at), (0, start + len as u64), "case {k}");
            let direct = sink.is_direct();
            drop(sink);
            let got = std::fs::read(&path).unwrap();
            assert_eq!(got.len() as u64, start + len as u64, "case {k}");
            assert!(got[..start as usize].iter().all(|&b| b == 0xAA), "case {k}");
            assert!(got[start as usize..] == body[..], "case {k}");
            if direct {
                // Before the end, every write but a first one up to a block boundary
                // ends on a block boundary, and is made only once enough is gathered.
                let mut at = start;
                for (j, w) in wrote[..wrote.len() - 1].iter().enumerate() {
                    at += w;
                    if *w > 0 && !(j == 0 && start % ALIGN as u64 != 0) {
                        assert_eq!(at % ALIGN as u64, 0, "case {k} write {j}");
                        assert!(*w >= (GATHER - ALIGN) as u64, "case {k} write {j}: {w}");
                    }
                }
            }
        }
    }

    #[test]
    fn an_ordinary_sink_writes_every_read_at_once() {
        let (path, file) = temp("ordinary");
        let body = data(300_000);
        let mut sink = Sink::new(None, 0);
        let mut buf = Buf::new();
        buf.grow(buffer_for(None));
        let wrote = feed(&mut sink, &mut buf, &file, &body, 70_000);
        assert_eq!(wrote, vec![70_000, 70_000, 70_000, 70_000, 20_000]);
        assert_eq!(std::fs::read(&path).unwrap(), body);
    }

    #[test]
    fn under_a_bandwidth_limit_whole_blocks_are_written_as_they_come() {
        let (path, file) = temp("limited");
        let body = data(50_000);
        let mut sink = Sink::new(reopen_direct(&file).map(Arc::new), 0);
        let mut buf = Buf::new();
        buf.grow(buffer_for(None));
        let mut i = 0;
        let mut wrote = 0;
        while i < body.len() {
            // A limited chunk: less than a full read.
            let n = sink.room(10_000, usize::MAX, &buf).min(body.len() - i);
            let h = sink.held;
            buf[h..h + n].copy_from_slice(&body[i..i + n]);
            sink.add(n);
            i += n;
            wrote += sink.flush(&mut buf, &file, i == body.len()).unwrap();
            // Never more than a block waits.
            assert!(sink.held < ALIGN, "{}", sink.held);
            assert_eq!(wrote, i as u64 - sink.held as u64);
        }
        assert_eq!(std::fs::read(&path).unwrap(), body);
    }

    #[test]
    fn gathered_bytes_wait_at_most_hold() {
        let (path, file) = temp("hold");
        let Some(d) = reopen_direct(&file) else {
            return;
        };
        let body = data(10_000);
        let mut sink = Sink::new(Some(Arc::new(d)), 0);
        let mut buf = Buf::new();
        buf.grow(buffer_for(None));
        let n = sink.room(READ_BUF, usize::MAX, &buf);
        assert!(n >= body.len());
        buf[..body.len()].copy_from_slice(&body);
        sink.add(body.len());
        assert_eq!(sink.flush(&mut buf, &file, false).unwrap(), 0, "gathering");
        std::thread::sleep(HOLD + Duration::from_millis(5));
        // Waited long enough: the whole blocks go, the rest waits for more.
        assert_eq!(
            sink.flush(&mut buf, &file, false).unwrap(),
            2 * ALIGN as u64
        );
        assert_eq!(sink.held, 10_000 - 2 * ALIGN);
        assert_eq!(
            sink.flush(&mut buf, &file, true).unwrap(),
            sink.at - 2 * ALIGN as u64
        );
        assert_eq!(std::fs::read(&path).unwrap(), body);
    }

    #[test]
    fn a_direct_descriptor_is_the_same_file_and_writes_past_the_page_cache() {
        let (path, file) = temp("same");
        let Some(d) = reopen_direct(&file) else {
            // No O_DIRECT on this file system (or not Linux): ordinary writes only.
            return;
        };
        use std::os::fd::AsRawFd;
        use std::os::unix::fs::MetadataExt;
        // SAFETY: F_GETFL on a valid descriptor.
        let flags = unsafe { libc::fcntl(d.as_raw_fd(), libc::F_GETFL) };
        assert_ne!(flags & libc::O_DIRECT, 0);
        let (a, b) = (file.metadata().unwrap(), d.metadata().unwrap());
        assert_eq!((a.dev(), a.ino()), (b.dev(), b.ino()));
        // Replacing the name does not move the descriptors.
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, b"other").unwrap();
        let mut buf = Buf::new();
        buf.grow(ALIGN);
        buf[..4].copy_from_slice(b"mine");
        d.write_all_at(&buf[..ALIGN], 0).unwrap();
        let mut back = [0u8; 4];
        file.read_exact_at(&mut back, 0).unwrap();
        assert_eq!(&back, b"mine");
        assert_eq!(std::fs::read(&path).unwrap(), b"other");
    }

    #[test]
    fn a_switched_descriptor_writes_past_the_page_cache_and_is_ordinary_again_after() {
        let (path, file) = temp("switched");
        let file = Arc::new(file);
        use std::os::fd::AsRawFd;
        // SAFETY: F_GETFL on a valid descriptor.
        let flags = |f: &File| unsafe { libc::fcntl(f.as_raw_fd(), libc::F_GETFL) };
        let mut sink = Sink::switched(&file, 0);
        // The switch works wherever a direct descriptor opens (the same file system).
        assert_eq!(sink.is_direct(), reopen_direct(&file).is_some());
        if !sink.is_direct() {
            // No O_DIRECT on this file system (or not Linux): ordinary writes only.
            assert_eq!(flags(&file) & O_DIRECT, 0);
            return;
        }
        assert_ne!(flags(&file) & O_DIRECT, 0, "switched on for the body");
        let body = data(3 * ALIGN + 100);
        let mut buf = Buf::new();
        buf.grow(buffer_for(Some(body.len() as u64)));
        buf[..body.len()].copy_from_slice(&body);
        sink.add(body.len());
        // The whole blocks go past the page cache; the tail is an ordinary write,
        // which switches the descriptor back first.
        assert_eq!(
            sink.flush(&mut buf, &file, true).unwrap(),
            body.len() as u64
        );
        assert_eq!(flags(&file) & O_DIRECT, 0, "switched off for the tail");
        drop(sink);
        assert_eq!(flags(&file) & O_DIRECT, 0);
        // Ordinary again: an unaligned write and read (refused under O_DIRECT) work.
        file.write_all_at(b"xy", 1).unwrap();
        let mut back = [0u8; 3];
        file.read_exact_at(&mut back, 0).unwrap();
        assert_eq!(back, [body[0], b'x', b'y']);
        // A sink dropped while switched on (a body broken off) switches it back too.
        let sink = Sink::switched(&file, 0);
        assert!(sink.is_direct());
        assert_ne!(flags(&file) & O_DIRECT, 0);
        drop(sink);
        assert_eq!(flags(&file) & O_DIRECT, 0);
        assert_eq!(std::fs::read(&path).unwrap().len(), body.len());
    }

    #[test]
    fn preallocation_keeps_the_bytes_and_never_takes_more_than_the_free_space() {
        let (path, file) = temp("prealloc");
        file.write_all_at(b"head", 0).unwrap();
        let len = |f: &File| f.metadata().unwrap().len();
        preallocate(&file, 4, 1 << 20);
        let got = std::fs::read(&path).unwrap();
        #[cfg(target_os = "linux")]
        {
            assert_eq!(got.len(), 1 << 20);
            assert!(got[4..].iter().all(|&b| b == 0));
        }
        assert_eq!(&got[..4], b"head");
        // Shorter than the file: nothing changes.
        preallocate(&file, len(&file), 10);
        assert_eq!(std::fs::read(&path).unwrap(), got);
        // A size no disk here has (a server may announce anything): the file stays.
        preallocate(&file, len(&file), 1 << 62);
        assert_eq!(len(&file), got.len() as u64);
        preallocate(&file, len(&file), u64::MAX);
        assert_eq!(len(&file), got.len() as u64);
    }

    #[test]
    fn buffers_are_aligned_and_sized_to_the_body() {
        let mut b = Buf::new();
        assert_eq!(b.len(), 0);
        b.grow(1);
        assert_eq!(b.len(), ALIGN);
        assert_eq!(b.as_ptr() as usize % ALIGN, 0);
        b.grow(3 * ALIGN + 1);
        assert_eq!(b.len(), 4 * ALIGN);
        assert_eq!(b.as_ptr() as usize % ALIGN, 0);
        b.grow(10);
        assert_eq!(b.len(), 4 * ALIGN, "never shrinks");
        assert_eq!(buffer_for(Some(64 * 1024)), 64 * 1024 + ALIGN);
        assert_eq!(buffer_for(Some(64 * 1024 - 1)), 64 * 1024);
        assert_eq!(buffer_for(Some(u64::MAX)), MAX_BUF);
        assert_eq!(buffer_for(None), MAX_BUF);
    }
}
