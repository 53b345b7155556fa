//! One queue, many processes, under load and at rest: eight processes making mixed
//! calls on one state directory at once, and idle managers using no CPU.
//!
//! The child is this test binary run again with `BGCOPY_TEST_CHILD` set (see
//! `child_entry`).

use bgcopy::{CopyManager, JobState, JobType, ManagerOptions, Priority, codes};
use bgcopy_test_harness::children::{self, next_report, reports, spawn_child};
use bgcopy_test_harness::{
    ScratchDir as Dir, content, fd_table_size, open_files_limit, shared_origin as origin,
};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// xorshift64 (seeded per child).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x % n
    }
}

/// The child side. Does nothing unless `BGCOPY_TEST_CHILD` is set.
#[test]
fn child_entry() {
    let Some((mode, args)) = children::child_mode() else {
        return;
    };
    let state = std::path::Path::new(&args[0]);
    match mode.as_str() {
        // 200 mixed calls on jobs of its own and on all jobs; reports every job it
        // made with the state its last call left it in ("live" for resumed ones).
        "calls" => {
            let seed: u64 = args[1].parse().unwrap();
            let url_base = &args[2];
            let out_dir = &args[3];
            let m = CopyManager::open(Some(state)).unwrap();
            let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
            let mut mine: Vec<(bgcopy::CopyJob, &'static str)> = Vec::new();
            let fail = |what: &str, e: bgcopy::Error| -> ! {
                println!("@@ ERROR {what}: {e}");
                std::process::exit(1);
            };
            for call in 0..200 {
                let pick = if mine.is_empty() { 0 } else { rng.below(9) };
                let k = if mine.is_empty() {
                    0
                } else {
                    rng.below(mine.len() as u64) as usize
                };
                match pick {
                    0 => {
                        let job = m
                            .create_job(&format!("p{seed}-{call}"), JobType::Download)
                            .unwrap_or_else(|e| fail("create_job", e));
                        let name = format!("p{seed}-{call}.bin");
                        job.add_file(
                            &format!("{url_base}/f/{name}?size=3000"),
                            &format!("{out_dir}/{name}"),
                        )
                        .unwrap_or_else(|e| fail("add_file", e));
                        mine.push((job, "SUSPENDED"));
                    }
                    1 | 2 if mine[k].1 != "CANCELLED" => {
                        mine[k].0.resume().unwrap_or_else(|e| fail("resume", e));
                        mine[k].1 = "live";
                    }
                    3 if mine[k].1 == "SUSPENDED" => {
                        mine[k].0.cancel().unwrap_or_else(|e| fail("cancel", e));
                        mine[k].1 = "CANCELLED";
                    }
                    4 if mine[k].1 != "CANCELLED" => {
                        // A resumed job may be TRANSFERRED already: suspend is then
                        // INVALID_STATE, which the contract allows.
                        match mine[k].0.suspend() {
                            Ok(()) => mine[k].1 = "SUSPENDED",
                            Err(e) if e.code() == codes::INVALID_STATE => {}
                            Err(e) => fail("suspend", e),
                        }
                    }
                    5 if mine[k].1 != "CANCELLED" => {
                        let p = Priority::ALL[rng.below(3) as usize + 1];
                        mine[k]
                            .0
                            .set_priority(p)
                            .unwrap_or_else(|e| fail("set_priority", e));
                        mine[k]
                            .0
                            .set_description(&format!("call {call}"))
                            .unwrap_or_else(|e| fail("set_description", e));
                    }
                    6 => {
                        m.enum_jobs().unwrap_or_else(|e| fail("enum_jobs", e));
                    }
                    7 if mine[k].1 != "CANCELLED" => {
                        let id = mine[k].0.get_id();
                        let again = m.get_job(&id).unwrap_or_else(|e| fail("get_job", e));
                        again
                            .get_progress()
                            .unwrap_or_else(|e| fail("get_progress", e));
                    }
                    _ => {
                        mine[k]
                            .0
                            .get_state()
                            .unwrap_or_else(|e| fail("get_state", e));
                    }
                }
            }
            for (job, last) in &mine {
                println!("@@ {} {last}", job.get_id());
            }
            m.close().unwrap();
        }
        // Open a manager (standing for election) and idle until stdin closes.
        "idle" => {
            let m = CopyManager::open(Some(state)).unwrap();
            println!("@@ ready {}", m.is_engine());
            let mut line = String::new();
            let _ = std::io::stdin().read_line(&mut line);
            m.close().unwrap();
        }
        // Report the descriptor table's size before and after opening a manager.
        "fdtable" => {
            println!("@@ before {}", fd_table_size());
            let m = CopyManager::open(Some(state)).unwrap();
            println!("@@ after {} {}", fd_table_size(), m.is_engine());
            m.close().unwrap();
        }
        other => panic!("unknown child mode {other}"),
    }
}

#[test]
fn eight_processes_make_mixed_calls_at_once_and_nothing_is_lost() {
    let dir = Dir::new("proc-calls");
    let state = dir.state();
    let out = std::path::PathBuf::from(dir.file("x"))
        .parent()
        .unwrap()
        .to_path_buf();
    let base = origin().http_base();
    let children: Vec<_> = (0..8u64)
        .map(|i| {
            spawn_child(
                "calls",
                &[
                    state.to_str().unwrap(),
                    &(i + 1).to_string(),
                    &base,
                    out.to_str().unwrap(),
                ],
            )
        })
        .collect();
    let mut expected: HashMap<String, String> = HashMap::new();
    for (mut child, r) in children {
        let lines = reports(r);
        let status = child.wait().unwrap();
        assert!(status.success(), "a child failed: {lines:?}");
        for l in lines {
            assert!(!l.starts_with("ERROR"), "{l}");
            let (id, last) = l.split_once(' ').unwrap();
            expected.insert(id.to_string(), last.to_string());
        }
    }
    assert!(expected.len() >= 8, "too few jobs made: {}", expected.len());

    // Every job is there, in the state its process's last call left it; the resumed
    // ones finish.
    let mut o = ManagerOptions::default();
    o.background_slots = 8;
    let m = CopyManager::open_with(Some(&state), o).unwrap();
    let live: Vec<String> = m.enum_jobs().unwrap().iter().map(|j| j.get_id()).collect();
    for (id, last) in &expected {
        match last.as_str() {
            "CANCELLED" => {
                assert!(!live.contains(id), "{id} cancelled but listed");
                let e = m.get_job(id).unwrap_err();
                assert_eq!(e.code(), codes::NOT_FOUND, "{id}");
            }
            "SUSPENDED" => {
                let job = m.get_job(id).unwrap();
                assert_eq!(job.get_state().unwrap(), JobState::Suspended, "{id}");
            }
            "live" => {
                let job = m.get_job(id).unwrap();
                assert_eq!(
                    job.wait(Some(Duration::from_secs(60))).unwrap(),
                    JobState::Transferred,
                    "{id}"
                );
                job.complete().unwrap();
                let name = job.get_display_name().unwrap();
                let bytes = std::fs::read(out.join(format!("{name}.bin"))).unwrap();
                assert_eq!(bytes, content(3000, 0), "{id}");
            }
            other => panic!("unexpected report {other}"),
        }
    }
    // Nothing else: every live job is one a child made.
    for id in &live {
        assert!(expected.contains_key(id), "{id} appeared from nowhere");
    }
    m.close().unwrap();
}

/// A process forked by `sh -c` has room for 64 descriptors; growing the table while
/// the process has threads stalls every thread that opens a file or a socket for an
/// RCU grace period, so the engine makes room for what it may use when it starts, not
/// when its connections first need it (`sys/fdtable.rs`). The child is forked by `sh`,
/// which holds only its three standard descriptors: every other descriptor this
/// process has (or inherited) is closed when `sh` starts.
#[test]
fn the_engine_makes_room_for_its_descriptors_when_it_starts() {
    let dir = Dir::new("fdtable");
    let state = dir.state();
    let child = children::command("fdtable", &[state.to_str().unwrap()]);
    let mut sh = std::process::Command::new("sh");
    // Not `exec`: the shell forks the child, as it does for a command it waits for.
    sh.args(["-c", "\"$0\" \"$@\"; exit $?"])
        .arg(child.get_program())
        .args(child.get_args())
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit());
    // SAFETY: one system call between fork and exec (async-signal-safe); it marks the
    // descriptors above 2 close-on-exec, so that `sh` holds no other.
    unsafe {
        use std::os::unix::process::CommandExt;
        sh.pre_exec(|| {
            libc::syscall(
                libc::SYS_close_range,
                3u32,
                u32::MAX,
                libc::CLOSE_RANGE_CLOEXEC,
            );
            Ok(())
        });
    }
    sh.envs(child.get_envs().filter_map(|(k, v)| Some((k, v?))));
    let out = sh.output().unwrap();
    assert!(out.status.success(), "{:?}", out.status);
    let reports = reports(&out.stdout[..]);
    let size = |what: &str| -> usize {
        let r = reports.iter().find(|r| r.starts_with(what)).unwrap();
        r.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    // The soft limit caps the room made (it is far above 512 on every CI machine).
    let want = 512.min(open_files_limit());
    assert!(
        size("before") < want,
        "{reports:?}: the child started with room already"
    );
    assert!(size("after") >= want, "{reports:?}");
    assert!(
        reports.iter().any(|r| r.ends_with("true")),
        "{reports:?}: not the engine"
    );
}

/// CPU time of process `pid` so far (every thread's, in nanoseconds: the scheduler's
/// own count, not clock ticks) and how often its threads went to sleep (voluntary
/// context switches: each is a wake-up later).
fn cpu_and_wakeups(pid: u32) -> (u64, u64) {
    let (mut ns, mut wakeups) = (0, 0);
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let t = task.unwrap().path();
        // A thread may end between the listing and the reads.
        if let Ok(s) = std::fs::read_to_string(t.join("schedstat")) {
            ns += s.split_whitespace().next().unwrap().parse::<u64>().unwrap();
        }
        if let Ok(s) = std::fs::read_to_string(t.join("status")) {
            for line in s.lines() {
                if let Some(v) = line.strip_prefix("voluntary_ctxt_switches:") {
                    wakeups += v.trim().parse::<u64>().unwrap();
                }
            }
        }
    }
    (ns, wakeups)
}

/// Idle means no polling: over 10 s, 11 idle managers (one the engine, which looks at
/// the store once a second) wake at most 30 times in all, and use under 1 % of one
/// CPU. (Each candidate sleeps until the engine's process exits or its lock file
/// changes; a client that polled the lock 5 times a second woke 500 times.)
#[test]
fn ten_idle_clients_and_an_idle_engine_use_almost_no_cpu() {
    let dir = Dir::new("proc-idle");
    let state = dir.state();
    let mut children = Vec::new();
    let mut engines = 0;
    for _ in 0..11 {
        let (child, mut r) = spawn_child("idle", &[state.to_str().unwrap()]);
        let ready = next_report(&mut r);
        if ready == "ready true" {
            engines += 1;
        }
        children.push((child, r));
    }
    assert_eq!(engines, 1, "exactly one engine");
    // Let start-up settle, then measure 10 s of idling.
    std::thread::sleep(Duration::from_secs(1));
    let pids: Vec<u32> = children.iter().map(|(c, _)| c.id()).collect();
    let total = || {
        pids.iter()
            .map(|p| cpu_and_wakeups(*p))
            .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
    };
    let before = total();
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(10));
    let after = total();
    let elapsed = t0.elapsed().as_secs_f64();
    let percent = 100.0 * (after.0 - before.0) as f64 / 1e9 / elapsed;
    let wakeups = after.1 - before.1;
    eprintln!("11 idle managers, {elapsed:.1} s: {wakeups} wake-ups, {percent:.3} % CPU");
    if std::env::var_os("BGCOPY_IDLE_DEBUG").is_some() {
        for p in &pids {
            for task in std::fs::read_dir(format!("/proc/{p}/task")).unwrap() {
                let t = task.unwrap().path();
                let comm = std::fs::read_to_string(t.join("comm")).unwrap_or_default();
                let ss = std::fs::read_to_string(t.join("schedstat")).unwrap_or_default();
                eprintln!("{p} {} {}", comm.trim(), ss.trim());
            }
        }
    }
    for (mut child, _) in children {
        drop(child.stdin.take());
        let _ = child.kill();
        let _ = child.wait();
    }
    assert!(
        wakeups <= 30,
        "11 idle managers woke {wakeups} times in {elapsed:.1} s"
    );
    assert!(
        percent < 1.0,
        "11 idle managers used {percent:.3} % of one CPU over {elapsed:.1} s"
    );
}

#[test]
fn a_resume_in_a_client_process_reaches_the_engine_at_once() {
    // The engine runs in a child; a resume here wakes it through the wake-up socket,
    // not at a periodic look: the job leaves QUEUED within 50 ms (the median of 7;
    // measured ~4 ms; without the wake-up datagram it is ~110 ms or more).
    let dir = Dir::new("proc-wake");
    let state = dir.state();
    let (mut engine, mut r) = spawn_child("idle", &[state.to_str().unwrap()]);
    assert_eq!(next_report(&mut r), "ready true");
    let mut o = ManagerOptions::default();
    o.start_transfers = false;
    let m = CopyManager::open_with(Some(&state), o).unwrap();
    let mut delays = Vec::new();
    for i in 0..7 {
        let job = m
            .create_job(&format!("wake {i}"), JobType::Download)
            .unwrap();
        job.add_file(
            &origin().url(&format!("wake-{i}"), "size=2000000&rate=1000000"),
            &dir.file(&format!("w{i}.bin")),
        )
        .unwrap();
        // Let the engine's periodic look pass, so that only a wake-up can explain a
        // quick start.
        std::thread::sleep(Duration::from_millis(300));
        let t0 = Instant::now();
        job.resume().unwrap();
        while job.get_state().unwrap() == JobState::Queued {
            assert!(t0.elapsed() < Duration::from_secs(10), "never started");
            std::thread::sleep(Duration::from_millis(2));
        }
        delays.push(t0.elapsed());
        job.cancel().unwrap();
    }
    delays.sort();
    let median = delays[delays.len() / 2];
    eprintln!("resume → engine start, median of 7: {median:?} ({delays:?})");
    assert!(
        median < Duration::from_millis(50),
        "the engine saw resumes after {delays:?}: no wake-up?"
    );
    m.close().unwrap();
    drop(engine.stdin.take());
    let _ = engine.wait();
}

/// A clean close of the engine's manager (its process goes on) hands the engine to a
/// waiting candidate at once: the candidate sleeps on the lock file, which the leaving
/// engine touches. (The engine's process does not exit here, so only that touch can
/// wake it before its 30 s safety look.)
#[test]
fn closing_the_engine_hands_it_over_at_once() {
    let dir = Dir::new("proc-handover");
    let state = dir.state();
    let first = CopyManager::open(Some(&state)).unwrap();
    let second = CopyManager::open(Some(&state)).unwrap();
    assert!(first.is_engine() && !second.is_engine());
    // The candidate asleep.
    std::thread::sleep(Duration::from_millis(300));
    let t0 = Instant::now();
    first.close().unwrap();
    while !second.is_engine() {
        assert!(t0.elapsed() < Duration::from_secs(40), "no takeover");
        std::thread::sleep(Duration::from_millis(5));
    }
    let took = t0.elapsed();
    eprintln!("clean close → takeover: {took:?}");
    assert!(took < Duration::from_secs(5), "took over after {took:?}");
    second.close().unwrap();
}
