//! Connection threads without work sleep (in a test binary of its own, so that the
//! process's CPU time is this test's only).

use bgcopy::{CopyManager, JobState, JobType, ManagerOptions, Priority};
use bgcopy_test_harness::{ScratchDir as Dir, content, shared_origin as origin};
use std::time::Duration;

const MIB: u64 = 1 << 20;

/// CPU time of this process so far (user + system), from /proc/self/stat.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let rest = stat.rsplit(')').next().unwrap();
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    Duration::from_millis(ticks * 1000 / hz)
}

#[test]
fn connection_threads_without_work_wait_instead_of_spinning() {
    // Two connections for one file while the job has eight: the six others have
    // nothing to do for 3 s and must sleep, not poll.
    let dir = Dir::new("seg-idle");
    let m = CopyManager::open_with(Some(&dir.state()), ManagerOptions::default()).unwrap();
    let url = origin().url("seg-idle", &format!("size={}&rate=1000000", 6 * MIB));
    let job = m.create_job("idle", JobType::Download).unwrap();
    job.set_priority(Priority::Foreground).unwrap();
    job.add_file(&url, &dir.file("a.bin")).unwrap();
    job.set_max_connections_per_file(2).unwrap();
    let cpu0 = cpu_time();
    job.resume().unwrap();
    assert_eq!(
        job.wait(Some(Duration::from_secs(60))).unwrap(),
        JobState::Transferred
    );
    job.complete().unwrap();
    let cpu = cpu_time() - cpu0;
    assert!(
        cpu < Duration::from_millis(800),
        "{cpu:?} of CPU for a 3 s transfer"
    );
    assert_eq!(
        std::fs::read(dir.file("a.bin")).unwrap(),
        content(6 * MIB, 0)
    );
}
