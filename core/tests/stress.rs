//! Thread stress without deadlock: many threads calling the public API on shared jobs
//! while rate-limited transfers run, concurrent job creation, and close() racing with
//! transfers and calls. Every timeout is a hang guard; nothing asserts on speed.

use bgcopy::{
    CallbackResult, Completion, CopyCallback, CopyFile, CopyJob, CopyManager, JobState, JobType,
    ManagerOptions, Priority, codes, notify,
};
use bgcopy_test_harness::content;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------
// Support

use bgcopy_test_harness::{ScratchDir as Dir, shared_origin as origin};

/// xorshift64: a tiny deterministic RNG (seeded per thread).
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn wait_for(job: &CopyJob, want: JobState) {
    let got = job.wait(Some(Duration::from_secs(60))).unwrap();
    assert_eq!(
        got,
        want,
        "job {} ended in {got}, error: {:?}",
        job.get_id(),
        job.get_error()
            .map(|e| (e.get_error(), e.get_error_description()))
    );
}

/// A callback that reads its job from inside every delivery and counts them.
#[derive(Default)]
struct Reader {
    calls: AtomicU64,
}

impl CopyCallback for Reader {
    fn job_transferred(&self, job: &CopyJob) -> CallbackResult {
        self.calls.fetch_add(1, Ordering::Relaxed);
        job.get_progress().map(|_| ()).map_err(|e| e.to_string())
    }
    fn job_modification(&self, job: &CopyJob) -> CallbackResult {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let _ = (job.get_state(), job.get_progress(), job.enum_files());
        Ok(())
    }
    fn file_transferred(&self, _job: &CopyJob, file: &CopyFile) -> CallbackResult {
        self.calls.fetch_add(1, Ordering::Relaxed);
        file.get_progress().map(|_| ()).map_err(|e| e.to_string())
    }
}

/// The files of stress job `j`: (url, local path, size).
fn job_files(dir: &Dir, tag: &str, j: usize, n: usize, rate: u64) -> Vec<(String, String, u64)> {
    (0..n)
        .map(|f| {
            let size = 120_000 + 17_000 * (j * n + f) as u64;
            (
                origin().url(
                    &format!("st-{tag}-{j}-{f}"),
                    &format!("size={size}&rate={rate}"),
                ),
                dir.file(&format!("{tag}-{j}-{f}.bin")),
                size,
            )
        })
        .collect()
}

fn check_ok<T>(what: &str, r: bgcopy::Result<T>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("{what} failed: {e}"),
    }
}

// ---------------------------------------------------------------------------------

#[test]
fn eight_threads_hammer_four_jobs_during_transfers() {
    let dir = Dir::new("hammer");
    let mut o = ManagerOptions::default();
    o.background_slots = 4;
    o.notify_interval = Duration::from_millis(50);
    let m = Arc::new(CopyManager::open_with(Some(&dir.state()), o).unwrap());
    let mut jobs = Vec::new();
    let mut files = Vec::new();
    let reader = Arc::new(Reader::default());
    for j in 0..4 {
        let job = m
            .create_job(&format!("hammer-{j}"), JobType::Download)
            .unwrap();
        let fs = job_files(&dir, "h", j, 3, 150_000);
        job.add_file_set(
            &fs.iter()
                .map(|(u, l, _)| (u.as_str(), l.as_str()))
                .collect::<Vec<_>>(),
        )
        .unwrap();
        job.set_notify_flags(0x1B).unwrap();
        job.set_notify_interface(Some(reader.clone() as Arc<dyn CopyCallback>))
            .unwrap();
        job.resume().unwrap();
        jobs.push(job);
        files.push(fs);
    }
    let ids: HashSet<String> = jobs.iter().map(|j| j.get_id()).collect();

    let run_for = Duration::from_secs(3);
    let start = Arc::new(Barrier::new(8));
    let total_ops = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..8u64)
        .map(|t| {
            let jobs = jobs.clone();
            let m = m.clone();
            let ids = ids.clone();
            let start = start.clone();
            let total_ops = total_ops.clone();
            std::thread::spawn(move || {
                let mut rng = Rng::new(t + 1);
                start.wait();
                let began = Instant::now();
                let mut ops = 0u64;
                while began.elapsed() < run_for {
                    let job = &jobs[rng.below(jobs.len() as u64) as usize];
                    match rng.below(13) {
                        0 => {
                            let p = check_ok("get_progress", job.get_progress());
                            assert_eq!(p.files_total, 3);
                            if p.bytes_total != bgcopy::BYTES_UNKNOWN {
                                assert!(p.bytes_transferred <= p.bytes_total, "{p:?}");
                            }
                            assert!(p.files_transferred <= 3);
                        }
                        1 => {
                            let s = check_ok("get_state", job.get_state());
                            assert!(!s.is_final(), "{s}");
                        }
                        2 => {
                            let fs = check_ok("enum_files", job.enum_files());
                            assert_eq!(fs.len(), 3);
                            for f in fs {
                                let p = check_ok("file get_progress", f.get_progress());
                                if p.bytes_total != bgcopy::BYTES_UNKNOWN {
                                    assert!(p.bytes_transferred <= p.bytes_total, "{p:?}");
                                }
                                assert!(!p.completed);
                            }
                        }
                        3 => {
                            let p = Priority::ALL[rng.below(4) as usize];
                            check_ok("set_priority", job.set_priority(p));
                        }
                        4 => check_ok(
                            "set_description",
                            job.set_description(&format!("thread {t} op {ops}")),
                        ),
                        5 => check_ok("suspend", job.suspend()),
                        6 | 7 => check_ok("resume", job.resume()),
                        8 => match job.get_error() {
                            Ok(e) => {
                                let _ = (e.get_error(), e.get_error_description(), e.get_file());
                            }
                            Err(e) => assert_eq!(
                                e.code(),
                                codes::ERROR_INFORMATION_UNAVAILABLE,
                                "get_error: {e}"
                            ),
                        },
                        9 => {
                            let s = check_ok("wait", job.wait(Some(Duration::from_millis(10))));
                            assert!(!s.is_final(), "{s}");
                        }
                        10 => check_ok(
                            "set_notify_flags",
                            job.set_notify_flags(rng.below(0x20) as u32),
                        ),
                        11 => {
                            let all = check_ok("enum_jobs", m.enum_jobs());
                            let got: HashSet<String> = all.iter().map(|j| j.get_id()).collect();
                            assert_eq!(got, ids);
                        }
                        _ => {
                            let j = check_ok("get_job", m.get_job(&job.get_id()));
                            assert_eq!(&j, job);
                        }
                    }
                    ops += 1;
                }
                total_ops.fetch_add(ops, Ordering::Relaxed);
            })
        })
        .collect();
    // Meanwhile a monitor checks that no job's progress ever drops (suspend/resume
    // keeps progress; the origin never changes a file here, so nothing restarts).
    let monitor_stop = Arc::new(AtomicBool::new(false));
    let monitor = {
        let jobs = jobs.clone();
        let stop = monitor_stop.clone();
        std::thread::spawn(move || {
            let mut prev = vec![0u64; jobs.len()];
            while !stop.load(Ordering::SeqCst) {
                for (i, job) in jobs.iter().enumerate() {
                    let p = job.get_progress().unwrap().bytes_transferred;
                    assert!(
                        p >= prev[i],
                        "job {i}: progress went backwards: {} then {p}",
                        prev[i]
                    );
                    prev[i] = p;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    for t in threads {
        t.join().expect("a stress thread panicked");
    }
    monitor_stop.store(true, Ordering::SeqCst);
    monitor.join().expect("the progress monitor failed");
    assert!(total_ops.load(Ordering::Relaxed) > 8);

    // Afterwards everything still works and the bytes are right.
    for job in &jobs {
        job.set_notify_flags(notify::DEFAULT).unwrap();
        job.resume().unwrap();
    }
    for (job, fs) in jobs.iter().zip(&files) {
        wait_for(job, JobState::Transferred);
        let p = job.get_progress().unwrap();
        let total: u64 = fs.iter().map(|f| f.2).sum();
        assert_eq!(
            (p.bytes_total, p.bytes_transferred, p.files_transferred),
            (total, total, 3)
        );
        assert_eq!(job.complete().unwrap(), Completion::All);
        for (_, local, size) in fs {
            let got = std::fs::read(local).unwrap();
            assert!(got == content(*size, 0), "{local}: bytes differ");
        }
    }
    assert!(m.enum_jobs().unwrap().is_empty());
    m.close().unwrap();
}

#[test]
fn concurrent_create_job_ids_distinct_and_durable() {
    let dir = Dir::new("create");
    let mut o = ManagerOptions::default();
    o.start_transfers = false;
    let m = Arc::new(CopyManager::open_with(Some(&dir.state()), o.clone()).unwrap());
    let start = Arc::new(Barrier::new(8));
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let m = m.clone();
            let start = start.clone();
            std::thread::spawn(move || {
                start.wait();
                (0..100)
                    .map(|i| {
                        let name = format!("t{t}-{i}");
                        let job = m.create_job(&name, JobType::Download).unwrap();
                        (job.get_id(), name)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut created = Vec::new();
    for t in threads {
        created.extend(t.join().expect("a create thread panicked"));
    }
    let ids: HashSet<&String> = created.iter().map(|(id, _)| id).collect();
    assert_eq!(ids.len(), 800, "job ids must be distinct");
    let listed = m.enum_jobs().unwrap();
    assert_eq!(listed.len(), 800);
    let listed_ids: HashSet<String> = listed.iter().map(|j| j.get_id()).collect();
    assert_eq!(listed_ids.len(), 800);
    assert!(ids.iter().all(|id| listed_ids.contains(*id)));
    // Creation order within each thread is kept by enum_jobs.
    let order: Vec<String> = listed
        .iter()
        .map(|j| j.get_display_name().unwrap())
        .collect();
    for t in 0..8 {
        let mine: Vec<usize> = order
            .iter()
            .filter(|n| n.starts_with(&format!("t{t}-")))
            .map(|n| n.split('-').nth(1).unwrap().parse().unwrap())
            .collect();
        assert_eq!(mine, (0..100).collect::<Vec<_>>(), "thread {t}");
    }

    m.close().unwrap();
    drop(m);
    let m = CopyManager::open_with(Some(&dir.state()), o).unwrap();
    let reopened = m.enum_jobs().unwrap();
    assert_eq!(reopened.len(), 800);
    for (id, name) in &created {
        let j = m.get_job(id).unwrap();
        assert_eq!(&j.get_display_name().unwrap(), name);
        assert_eq!(j.get_state().unwrap(), JobState::Suspended);
    }
    m.close().unwrap();
}

#[test]
fn close_while_transfers_and_calls_are_in_flight() {
    let dir = Dir::new("close");
    let mut o = ManagerOptions::default();
    o.background_slots = 4;
    o.notify_interval = Duration::from_millis(20);
    let m = Arc::new(CopyManager::open_with(Some(&dir.state()), o.clone()).unwrap());
    let reader = Arc::new(Reader::default());
    let mut jobs = Vec::new();
    let mut files = Vec::new();
    for j in 0..3 {
        let job = m
            .create_job(&format!("close-{j}"), JobType::Download)
            .unwrap();
        let fs = job_files(&dir, "c", j, 2, 200_000);
        for (u, l, _) in &fs {
            job.add_file(u, l).unwrap();
        }
        job.set_notify_flags(0x1B).unwrap();
        job.set_notify_interface(Some(reader.clone() as Arc<dyn CopyCallback>))
            .unwrap();
        job.resume().unwrap();
        jobs.push(job);
        files.push(fs);
    }
    let end = Instant::now() + Duration::from_secs(30);
    while jobs
        .iter()
        .any(|j| j.get_progress().unwrap().bytes_transferred == 0)
    {
        assert!(Instant::now() < end, "no transfer started");
        std::thread::sleep(Duration::from_millis(10));
    }

    let closed = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    // Threads that made a call after close() (each counts itself once).
    let called_after = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..6u64)
        .map(|t| {
            let jobs = jobs.clone();
            let m = m.clone();
            let closed = closed.clone();
            let stop = stop.clone();
            let called_after = called_after.clone();
            std::thread::spawn(move || {
                let mut rng = Rng::new(100 + t);
                let mut after_close = 0u32;
                while !stop.load(Ordering::SeqCst) {
                    // Read before the call: if close() had returned, the call must see it.
                    let was_closed = closed.load(Ordering::SeqCst);
                    let job = &jobs[rng.below(3) as usize];
                    let mutation = match rng.below(9) {
                        0 => Some(job.set_priority(Priority::ALL[rng.below(4) as usize])),
                        1 => Some(job.set_description("racing close")),
                        2 => Some(job.suspend()),
                        3 => Some(job.resume()),
                        4 => Some(job.set_notify_flags(rng.below(0x20) as u32)),
                        5 => Some(m.create_job("racer", JobType::Download).map(|_| ())),
                        6 => Some(m.enum_jobs().map(|_| ())),
                        7 => Some(m.get_job(&job.get_id()).map(|_| ())),
                        _ => {
                            // Getters work before and after close.
                            check_ok("get_state", job.get_state());
                            check_ok("get_progress", job.get_progress());
                            check_ok("get_times", job.get_times());
                            check_ok("enum_files", job.enum_files());
                            check_ok("get_priority", job.get_priority());
                            check_ok("wait", job.wait(Some(Duration::from_millis(5))));
                            None
                        }
                    };
                    match mutation {
                        Some(Ok(())) => assert!(!was_closed, "a call succeeded after close()"),
                        Some(Err(e)) => {
                            assert_eq!(e.code(), codes::INVALID_STATE, "{e}");
                        }
                        None => {}
                    }
                    if was_closed {
                        after_close += 1;
                        if after_close == 1 {
                            called_after.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                }
                after_close
            })
        })
        .collect();

    std::thread::sleep(Duration::from_millis(400));
    m.close().unwrap();
    closed.store(true, Ordering::SeqCst);
    // Let every thread make calls after close() (a loaded machine may be slow to).
    let end = Instant::now() + Duration::from_secs(30);
    while called_after.load(Ordering::SeqCst) < 6 && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(100));
    stop.store(true, Ordering::SeqCst);
    for t in threads {
        let n = t.join().expect("an API thread panicked");
        assert!(n > 0, "a thread made no calls after close()");
    }

    // After close: every mutator and the manager calls are INVALID_STATE, getters work.
    let is_invalid_state = |what: &str, r: bgcopy::Result<()>| match r {
        Err(e) if e.code() == codes::INVALID_STATE => {}
        other => panic!("{what} after close: {other:?}"),
    };
    is_invalid_state(
        "create_job",
        m.create_job("late", JobType::Download).map(|_| ()),
    );
    is_invalid_state("enum_jobs", m.enum_jobs().map(|_| ()));
    is_invalid_state("get_job", m.get_job(&jobs[0].get_id()).map(|_| ()));
    for job in &jobs {
        is_invalid_state("resume", job.resume());
        is_invalid_state("cancel", job.cancel());
        is_invalid_state("complete", job.complete().map(|_| ()));
        is_invalid_state(
            "add_file",
            job.add_file(&origin().url("st-late", "size=1"), &dir.file("late.bin")),
        );
        let s = job.get_state().unwrap();
        assert!(!s.is_final(), "{s}");
        // wait() returns at once on a closed manager.
        job.wait(None).unwrap();
        assert!(job.get_notify_interface().unwrap().is_none());
    }
    m.close().unwrap();
    drop(m);
    assert_eq!(
        Arc::strong_count(&reader),
        1,
        "close() must release the callbacks"
    );

    // The jobs continue on the next open and their bytes are right.
    let m = CopyManager::open_with(Some(&dir.state()), o).unwrap();
    // The 3 jobs plus the ones the racing threads created before close().
    let names: Vec<String> = m
        .enum_jobs()
        .unwrap()
        .iter()
        .map(|j| j.get_display_name().unwrap())
        .collect();
    assert_eq!(names.iter().filter(|n| n.starts_with("close-")).count(), 3);
    assert!(
        names
            .iter()
            .all(|n| n.starts_with("close-") || n == "racer")
    );
    for (job, fs) in jobs.iter().zip(&files) {
        let job = m.get_job(&job.get_id()).unwrap();
        job.resume().unwrap();
        wait_for(&job, JobState::Transferred);
        assert_eq!(job.complete().unwrap(), Completion::All);
        for (_, local, size) in fs {
            let got = std::fs::read(local).unwrap();
            assert!(got == content(*size, 0), "{local}: bytes differ");
        }
    }
    m.close().unwrap();
}
