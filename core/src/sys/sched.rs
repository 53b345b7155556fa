//! The scheduling policy of a transfer's connection threads.
//!
//! A job's connections are threads that block on the network and the disk, up to
//! `connections_per_job` of them at once, beside the server (often on the same
//! machine in tests, always beside the app). Under the normal policy every wake-up of
//! one of them (a response head, a body, the disk) may pre-empt whatever runs on that
//! CPU: another connection thread holding the job table's lock for a moment, the
//! app's own threads, a local server. `SCHED_BATCH` keeps their share of the CPU (their
//! nice value still counts) but gives up that wake-up pre-emption: a throughput policy
//! for throughput threads, as a background transfer service's should be. Measured on
//! 1000 files of 64 KiB over 16 connections on two CPUs: fewer involuntary switches
//! (508 → 350 a run), less CPU, and 2.5–7.5 % less wall time (docs/decisions.md).

/// Give the calling thread the batch policy (Linux `SCHED_BATCH`), if it has the
/// normal one: a thread an app runs with a real-time policy is left as it is. Best
/// effort: a refusal (a sandbox) leaves the policy unchanged; elsewhere nothing.
pub(crate) fn batch_thread() {
    #[cfg(target_os = "linux")]
    // SAFETY: sched_getscheduler/sched_setscheduler on the calling thread (0) with a
    // parameter struct we own.
    unsafe {
        if libc::sched_getscheduler(0) == libc::SCHED_OTHER {
            let p = libc::sched_param { sched_priority: 0 };
            let _ = libc::sched_setscheduler(0, libc::SCHED_BATCH, &p);
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #[test]
    fn a_normal_thread_gets_the_batch_policy_and_another_thread_keeps_its_own() {
        let (mine, other) = std::thread::scope(|s| {
            let other = s.spawn(|| {
                // SAFETY: sched_getscheduler on the calling thread.
                unsafe { libc::sched_getscheduler(0) }
            });
            let mine = s
                .spawn(|| {
                    super::batch_thread();
                    // SAFETY: as above.
                    unsafe { libc::sched_getscheduler(0) }
                })
                .join()
                .unwrap();
            (mine, other.join().unwrap())
        });
        assert_eq!(mine, libc::SCHED_BATCH);
        assert_eq!(other, libc::SCHED_OTHER);
    }
}
