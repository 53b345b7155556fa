//! Room in the process's descriptor table, made before the engine's threads need it.
//!
//! Linux keeps a process's open descriptors in a table that doubles when a descriptor
//! past its end is opened. A forked process's table is as large as its parent's open
//! descriptors need (`exec` keeps it): a program started by `sh -c`, a dash script or
//! time(1) begins with room for 64 (one started by an interactive bash, which holds
//! descriptor 255, with 256). While the process has more than one thread,
//! that growth waits for an RCU grace period (`expand_fdtable()` calls
//! `synchronize_rcu()`), and every thread that opens a file or a socket meanwhile
//! waits for it too. A job of many files goes past 64 descriptors within its first
//! milliseconds (a socket per connection, up to 256 temporary files kept open for their
//! connections, `engine/pool.rs`), with all its connection threads running: the
//! growth then stalls them all, twice (64 to 128 to 256). Measured here on 1000 files
//! of 64 KiB over 16 connections, the transfer took 168 ms from a table of 64 and
//! 150 ms from a table already grown (medians of 24 pairs). So the engine grows the
//! table once when it starts, to what it may use. A table never shrinks; 512 slots
//! cost 4 KiB.

use std::os::fd::BorrowedFd;

/// Make room for descriptors `0..count` (at most up to the soft `RLIMIT_NOFILE`): copy
/// `fd` (any descriptor the process holds) to a number `count - 1` or above and close
/// the copy at once. Best effort: on failure the table grows later as it always would.
pub(crate) fn reserve(fd: BorrowedFd<'_>, count: usize) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes the struct we pass.
        let soft = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 {
            usize::try_from(lim.rlim_cur).unwrap_or(usize::MAX)
        } else {
            return;
        };
        let Some(highest) = count.min(soft).checked_sub(1) else {
            return;
        };
        let Ok(highest) = libc::c_int::try_from(highest) else {
            return;
        };
        // SAFETY: F_DUPFD_CLOEXEC on a descriptor we borrow; the copy is closed at once.
        unsafe {
            let copy = libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, highest);
            if copy >= 0 {
                libc::close(copy);
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (fd, count);
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use bgcopy_test_harness::{fd_table_size, open_files_limit};
    use std::os::fd::AsFd;

    #[test]
    fn the_table_has_room_for_what_was_reserved() {
        let dir = std::fs::File::open(std::env::temp_dir()).unwrap();
        let want = (fd_table_size() * 4).min(open_files_limit());
        super::reserve(dir.as_fd(), want);
        assert!(fd_table_size() >= want, "{} < {want}", fd_table_size());
        // The descriptor that made the room is closed again.
        assert!(!std::path::Path::new(&format!("/proc/self/fd/{}", want - 1)).exists());
        // Nothing to make room for: nothing happens (and nothing fails).
        super::reserve(dir.as_fd(), 0);
    }
}
