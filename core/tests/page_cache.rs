//! Bodies are written past the page cache (`O_DIRECT`, docs/decisions.md "Writes past the
//! page cache"): after a download, a file written that way has almost none of its pages
//! in the page cache (only the last partial block, written the ordinary way), while a
//! small file written the ordinary way has all of them. `mincore` tells which pages
//! are resident, without reading them.

#![cfg(target_os = "linux")]

use bgcopy::{CopyManager, JobState, JobType, ManagerOptions, Priority};
use bgcopy_test_harness::{ScratchDir as Dir, content, shared_origin as origin};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Duration;

/// Whether the directory's file system takes `O_DIRECT` (tmpfs before Linux 6.6 does
/// not; then bgcopy writes the ordinary way and there is nothing to see here).
fn takes_direct(dir: &Path) -> bool {
    let probe = dir.join("direct-probe");
    let ok = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(libc::O_DIRECT)
        .open(&probe)
        .is_ok();
    let _ = std::fs::remove_file(&probe);
    ok
}

/// Pages of `path` in the page cache, and pages in all.
fn resident(path: &str) -> (usize, usize) {
    let file = std::fs::File::open(path).unwrap();
    let len = file.metadata().unwrap().len() as usize;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
    let pages = len.div_ceil(page);
    // SAFETY: a read-only shared mapping of an open file of `len` bytes, unmapped
    // below; mincore fills one byte per page of it.
    unsafe {
        let addr = libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_SHARED,
            file.as_raw_fd(),
            0,
        );
        assert_ne!(addr, libc::MAP_FAILED);
        let mut vec = vec![0u8; pages];
        assert_eq!(libc::mincore(addr, len, vec.as_mut_ptr()), 0);
        libc::munmap(addr, len);
        (vec.iter().filter(|&&b| b & 1 == 1).count(), pages)
    }
}

fn download(dir: &Dir, name: &str, size: u64, connections: u32) -> String {
    let m = CopyManager::open_with(Some(&dir.state()), ManagerOptions::default()).unwrap();
    let job = m.create_job(name, JobType::Download).unwrap();
    job.set_priority(Priority::Foreground).unwrap();
    job.set_max_connections_per_file(connections).unwrap();
    let local = dir.file(name);
    job.add_file(&origin().url(name, &format!("size={size}")), &local)
        .unwrap();
    job.resume().unwrap();
    assert_eq!(
        job.wait(Some(Duration::from_secs(60))).unwrap(),
        JobState::Transferred
    );
    job.complete().unwrap();
    local
}

#[test]
fn large_bodies_bypass_the_page_cache_and_small_ones_do_not() {
    let dir = Dir::new("page-cache");
    let at = Path::new(&dir.file("x")).parent().unwrap().to_path_buf();
    if !takes_direct(&at) {
        eprintln!("{}: no O_DIRECT on this file system; skipped", at.display());
        return;
    }
    // One stream, segmented, and a small body (ordinary writes: under 16 KiB).
    let cases = [
        ("one.bin", 6_000_001u64, 1u32),
        ("seg.bin", 24 << 20, 8),
        ("small.bin", 12_000, 1),
    ];
    for (name, size, connections) in cases {
        let local = download(&dir, name, size, connections);
        let (cached, pages) = resident(&local);
        if size >= 16 << 10 {
            // The last partial block of each body goes the ordinary way, and a
            // resume's odd head: a few pages at most.
            assert!(
                cached <= 16,
                "{name}: {cached} of {pages} pages in the page cache"
            );
        } else {
            assert_eq!(cached, pages, "{name}: written the ordinary way");
        }
        assert!(
            std::fs::read(&local).unwrap() == content(size, 0),
            "{name}: bytes differ"
        );
    }
}
