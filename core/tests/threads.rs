//! The engine's threads as the system sees them: a job's connections run on threads
//! named `bgcopy-conn` (and the job's own `bgcopy-job`) with the batch scheduling
//! policy, and the manager's other threads keep the normal one (`sys/sched.rs`).
#![cfg(target_os = "linux")]

use bgcopy::{CopyManager, JobState, JobType, ManagerOptions};
use bgcopy_test_harness::{ScratchDir as Dir, shared_origin as origin};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Each thread of this process by name: the scheduling policies seen (field 41 of
/// `/proc/self/task/TID/stat`).
fn policies() -> HashMap<String, Vec<i32>> {
    let mut out: HashMap<String, Vec<i32>> = HashMap::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let t = task.unwrap().path();
        // A thread may end between the listing and the reads.
        let (Ok(comm), Ok(stat)) = (
            std::fs::read_to_string(t.join("comm")),
            std::fs::read_to_string(t.join("stat")),
        ) else {
            continue;
        };
        // Fields after the command's closing parenthesis start at field 3 (state).
        let rest = stat.rsplit(')').next().unwrap();
        let policy = rest
            .split_whitespace()
            .nth(41 - 3)
            .unwrap()
            .parse()
            .unwrap();
        out.entry(comm.trim().to_string()).or_default().push(policy);
    }
    out
}

#[test]
fn connection_threads_have_the_batch_policy_and_the_others_the_normal_one() {
    let dir = Dir::new("threads");
    let mut o = ManagerOptions::default();
    o.connections_per_job = 2;
    let m = CopyManager::open_with(Some(&dir.state()), o).unwrap();
    let job = m.create_job("threads", JobType::Download).unwrap();
    // Two slow files: both connections are busy for about two seconds.
    for n in ["a", "b"] {
        let url = origin().url(&format!("threads-{n}"), "size=400000&rate=200000");
        job.add_file(&url, &dir.file(&format!("{n}.bin"))).unwrap();
    }
    job.resume().unwrap();
    let t = Instant::now();
    let seen = loop {
        let p = policies();
        if p.contains_key("bgcopy-conn") && p.contains_key("bgcopy-job") {
            break p;
        }
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "no connection threads: {p:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(seen["bgcopy-conn"], vec![libc::SCHED_BATCH], "{seen:?}");
    assert_eq!(seen["bgcopy-job"], vec![libc::SCHED_BATCH], "{seen:?}");
    // Names as the system keeps them (15 bytes).
    for name in ["bgcopy-schedule", "bgcopy-checkpoi"] {
        assert!(
            seen[name].iter().all(|p| *p == libc::SCHED_OTHER),
            "{name}: {seen:?}"
        );
    }
    assert_eq!(
        job.wait(Some(Duration::from_secs(60))).unwrap(),
        JobState::Transferred
    );
    job.complete().unwrap();
}
