//! The notification contract of docs/spec.md §3, checked with a recording `CopyCallback`:
//! flags, coalescing of JOB_MODIFICATION, at-least-once TRANSFERRED/ERROR, nothing
//! after a final state, re-entrancy, blocking and panicking callbacks, and release of
//! the callback object.
//!
//! Timing: every timeout below is a hang guard, never a speed requirement. The only
//! time-based assertions are lower bounds the library promises (a failed delivery is
//! not retried before the minimum retry delay) and the coalescing upper bound on the
//! number of modifications.

use bgcopy::{
    CallbackResult, CopyCallback, CopyError, CopyFile, CopyJob, CopyManager, ErrorContext,
    FileProgress, JobProgress, JobState, JobType, ManagerOptions, Priority, codes, notify,
};
use bgcopy_test_harness::content;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------
// Support

use bgcopy_test_harness::{ScratchDir as Dir, shared_origin as origin};

fn open(dir: &Dir, interval_ms: u64) -> CopyManager {
    let mut o = ManagerOptions::default();
    o.notify_interval = Duration::from_millis(interval_ms);
    o.background_slots = 4;
    CopyManager::open_with(Some(&dir.0.join("state")), o).unwrap()
}

/// Poll `f` until true; fail with `what` after `timeout` (a hang guard).
fn eventually(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Wait (hang guard 60 s) for `job` to reach `want`.
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Transferred,
    Error,
    Modification,
    File,
}

/// One callback invocation and what the callback saw from inside it.
#[derive(Clone, Debug)]
struct Event {
    kind: Kind,
    at: Instant,
    job: String,
    state: Option<JobState>,
    progress: Option<JobProgress>,
    file: Option<(usize, FileProgress)>,
    error: Option<(ErrorContext, u32)>,
}

/// Records every delivery. `fail_*`: return `Err` for the first N calls of that kind;
/// `panic_*`: panic for the first N; `panic_always`: panic in every method.
#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<Event>>,
    fail_transferred: AtomicU32,
    fail_error: AtomicU32,
    panic_transferred: AtomicU32,
    panic_always: bool,
}

fn take_one(n: &AtomicU32) -> bool {
    n.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

impl Recorder {
    fn with_fail_transferred(n: u32) -> Recorder {
        let r = Recorder::default();
        r.fail_transferred.store(n, Ordering::SeqCst);
        r
    }

    fn record(&self, kind: Kind, job: &CopyJob, ev: impl FnOnce(&mut Event)) {
        let mut e = Event {
            kind,
            at: Instant::now(),
            job: job.get_id(),
            state: job.get_state().ok(),
            progress: job.get_progress().ok(),
            file: None,
            error: None,
        };
        ev(&mut e);
        self.events.lock().unwrap().push(e);
    }

    fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }

    fn of(&self, kind: Kind) -> Vec<Event> {
        self.events()
            .into_iter()
            .filter(|e| e.kind == kind)
            .collect()
    }

    fn count(&self, kind: Kind) -> usize {
        self.of(kind).len()
    }

    fn last_modification_state(&self) -> Option<JobState> {
        self.of(Kind::Modification).last().and_then(|e| e.state)
    }
}

impl CopyCallback for Recorder {
    fn job_transferred(&self, job: &CopyJob) -> CallbackResult {
        self.record(Kind::Transferred, job, |_| {});
        if self.panic_always || take_one(&self.panic_transferred) {
            panic!("recorder panics in job_transferred on purpose");
        }
        if take_one(&self.fail_transferred) {
            return Err("recorder fails job_transferred on purpose".into());
        }
        Ok(())
    }

    fn job_error(&self, job: &CopyJob, error: &CopyError) -> CallbackResult {
        self.record(Kind::Error, job, |e| e.error = Some(error.get_error()));
        if self.panic_always {
            panic!("recorder panics in job_error on purpose");
        }
        if take_one(&self.fail_error) {
            return Err("recorder fails job_error on purpose".into());
        }
        Ok(())
    }

    fn job_modification(&self, job: &CopyJob) -> CallbackResult {
        self.record(Kind::Modification, job, |_| {});
        if self.panic_always {
            panic!("recorder panics in job_modification on purpose");
        }
        Ok(())
    }

    fn file_transferred(&self, job: &CopyJob, file: &CopyFile) -> CallbackResult {
        let fp = file.get_progress().unwrap();
        self.record(Kind::File, job, |e| e.file = Some((file.index(), fp)));
        if self.panic_always {
            panic!("recorder panics in file_transferred on purpose");
        }
        Ok(())
    }
}

fn as_cb(r: &Arc<Recorder>) -> Option<Arc<dyn CopyCallback>> {
    Some(r.clone() as Arc<dyn CopyCallback>)
}

// ---------------------------------------------------------------------------------
// Flags

#[test]
fn transferred_flag_only_gets_no_modification_or_file_callbacks() {
    let dir = Dir::new("flags-t");
    let m = open(&dir, 50);
    let o = origin();
    let job = m.create_job("flags-t", JobType::Download).unwrap();
    job.set_notify_flags(notify::JOB_TRANSFERRED).unwrap();
    let rec = Arc::new(Recorder::default());
    job.set_notify_interface(as_cb(&rec)).unwrap();
    job.add_file(&o.url("nf-t1", "size=30000"), &dir.file("a.bin"))
        .unwrap();
    job.add_file(&o.url("nf-t2", "size=40000"), &dir.file("b.bin"))
        .unwrap();
    job.set_description("changes the job").unwrap();
    job.resume().unwrap();
    wait_for(&job, JobState::Transferred);
    eventually("job_transferred", Duration::from_secs(20), || {
        rec.count(Kind::Transferred) >= 1
    });
    // Give stray deliveries (there must be none) several intervals to show up.
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(rec.count(Kind::Transferred), 1, "{:?}", rec.events());
    assert_eq!(rec.count(Kind::Modification), 0, "{:?}", rec.events());
    assert_eq!(rec.count(Kind::File), 0, "{:?}", rec.events());
    assert_eq!(rec.count(Kind::Error), 0, "{:?}", rec.events());
    let t = &rec.of(Kind::Transferred)[0];
    assert_eq!(t.state, Some(JobState::Transferred));
    assert_eq!(t.job, job.get_id());

    // Not even the final-state modification without JOB_MODIFICATION.
    job.complete().unwrap();
    eventually("callback release", Duration::from_secs(20), || {
        Arc::strong_count(&rec) == 1
    });
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(rec.events().len(), 1, "{:?}", rec.events());
}

#[test]
fn all_flags_deliver_every_kind_and_file_transferred_once_per_file() {
    let dir = Dir::new("flags-all");
    let m = open(&dir, 50);
    let o = origin();
    let sizes = [10_000u64, 70_000, 130_000];
    let job = m.create_job("flags-all", JobType::Download).unwrap();
    job.set_notify_flags(notify::ALL & !notify::DISABLE)
        .unwrap();
    assert_eq!(job.get_notify_flags().unwrap(), 0x1B);
    let rec = Arc::new(Recorder::default());
    job.set_notify_interface(as_cb(&rec)).unwrap();
    for (i, s) in sizes.iter().enumerate() {
        job.add_file(
            &o.url(&format!("nf-all-{i}"), &format!("size={s}")),
            &dir.file(&format!("{i}.bin")),
        )
        .unwrap();
    }
    // A second job with every bit set (0x1F includes DISABLE: nothing at all) and a
    // third, 0x1B, that fails: job_error arrives with the error.
    let silent = m.create_job("flags-disable", JobType::Download).unwrap();
    silent.set_notify_flags(notify::ALL).unwrap();
    let silent_rec = Arc::new(Recorder::default());
    silent.set_notify_interface(as_cb(&silent_rec)).unwrap();
    silent
        .add_file(&o.url("nf-all-silent", "size=5000"), &dir.file("s.bin"))
        .unwrap();
    let bad = m.create_job("flags-error", JobType::Download).unwrap();
    bad.set_notify_flags(0x1B).unwrap();
    let bad_rec = Arc::new(Recorder::default());
    bad.set_notify_interface(as_cb(&bad_rec)).unwrap();
    bad.add_file(&o.url("nf-all-404", "status=404"), &dir.file("e.bin"))
        .unwrap();

    job.resume().unwrap();
    silent.resume().unwrap();
    bad.resume().unwrap();
    wait_for(&job, JobState::Transferred);
    wait_for(&silent, JobState::Transferred);
    wait_for(&bad, JobState::Error);
    eventually(
        "transferred + 3 files + last modification",
        Duration::from_secs(20),
        || {
            rec.count(Kind::Transferred) >= 1
                && rec.count(Kind::File) >= 3
                && rec.last_modification_state() == Some(JobState::Transferred)
        },
    );
    eventually("job_error", Duration::from_secs(20), || {
        bad_rec.count(Kind::Error) >= 1
            && bad_rec.last_modification_state() == Some(JobState::Error)
    });
    std::thread::sleep(Duration::from_millis(300));

    assert_eq!(rec.count(Kind::Transferred), 1, "{:?}", rec.events());
    assert_eq!(rec.count(Kind::Error), 0);
    let mut files: Vec<(usize, FileProgress)> =
        rec.of(Kind::File).iter().map(|e| e.file.unwrap()).collect();
    files.sort_by_key(|f| f.0);
    assert_eq!(
        files.iter().map(|f| f.0).collect::<Vec<_>>(),
        vec![0, 1, 2],
        "FILE_TRANSFERRED once per file: {files:?}"
    );
    for (idx, fp) in &files {
        assert_eq!(fp.bytes_total, sizes[*idx]);
        assert_eq!(
            fp.bytes_transferred, sizes[*idx],
            "file {idx} not all there"
        );
        assert!(!fp.completed, "completed before complete()");
    }
    assert!(rec.count(Kind::Modification) >= 1);

    assert_eq!(bad_rec.count(Kind::Error), 1, "{:?}", bad_rec.events());
    assert_eq!(bad_rec.count(Kind::Transferred), 0);
    assert_eq!(bad_rec.count(Kind::File), 0);
    let e = &bad_rec.of(Kind::Error)[0];
    assert_eq!(e.error, Some((ErrorContext::RemoteFile, codes::http(404))));
    assert_eq!(e.state, Some(JobState::Error));

    assert!(
        silent_rec.events().is_empty(),
        "DISABLE must silence everything: {:?}",
        silent_rec.events()
    );

    job.complete().unwrap();
    silent.complete().unwrap();
    bad.cancel().unwrap();
    for (i, s) in sizes.iter().enumerate() {
        assert!(std::fs::read(dir.file(&format!("{i}.bin"))).unwrap() == content(*s, 0));
    }
    eventually("ACKNOWLEDGED modification", Duration::from_secs(20), || {
        rec.last_modification_state() == Some(JobState::Acknowledged)
    });
    // Still exactly one FILE_TRANSFERRED per file after complete().
    assert_eq!(rec.count(Kind::File), 3);
}

// ---------------------------------------------------------------------------------
// JOB_MODIFICATION coalescing

#[test]
fn modifications_coalesced_monotonic_and_last_never_lost() {
    let dir = Dir::new("coalesce");
    let interval = Duration::from_millis(200);
    let m = open(&dir, interval.as_millis() as u64);
    let o = origin();
    let size = 200_000u64;
    let job = m.create_job("coalesce", JobType::Download).unwrap();
    job.set_notify_flags(notify::JOB_MODIFICATION | notify::JOB_TRANSFERRED)
        .unwrap();
    job.add_file(
        &o.url("nf-coalesce", &format!("size={size}&rate=100000")),
        &dir.file("c.bin"),
    )
    .unwrap();
    let rec = Arc::new(Recorder::default());
    let start = Instant::now();
    job.set_notify_interface(as_cb(&rec)).unwrap();
    job.resume().unwrap();
    wait_for(&job, JobState::Transferred);
    eventually(
        "the last modification to report TRANSFERRED",
        Duration::from_secs(20),
        || rec.last_modification_state() == Some(JobState::Transferred),
    );
    let elapsed = start.elapsed();
    let mods = rec.of(Kind::Modification);
    let bound = (elapsed.as_millis() / interval.as_millis()) as usize + 3;
    assert!(
        mods.len() >= 2,
        "a ~2 s transfer must report several modifications, got {}",
        mods.len()
    );
    assert!(
        mods.len() <= bound,
        "{} modifications in {elapsed:?} with a {interval:?} interval (bound {bound})",
        mods.len()
    );
    // Progress seen inside successive modifications never goes backwards.
    let mut prev = JobProgress::default();
    for e in &mods {
        let p = e.progress.unwrap();
        assert!(
            p.bytes_transferred >= prev.bytes_transferred
                && p.files_transferred >= prev.files_transferred,
            "progress went backwards: {prev:?} then {p:?}"
        );
        prev = p;
    }
    let last = mods.last().unwrap().progress.unwrap();
    assert_eq!(last, job.get_progress().unwrap());
    assert_eq!(last.bytes_transferred, size);
    assert_eq!(last.files_transferred, 1);

    // complete(): the one modification reporting ACKNOWLEDGED, then silence.
    job.complete().unwrap();
    eventually(
        "the ACKNOWLEDGED modification",
        Duration::from_secs(20),
        || rec.last_modification_state() == Some(JobState::Acknowledged),
    );
    let n = rec.events().len();
    std::thread::sleep(Duration::from_millis(600));
    let events = rec.events();
    assert_eq!(events.len(), n, "deliveries after ACKNOWLEDGED: {events:?}");
    let acked = events
        .iter()
        .filter(|e| e.state == Some(JobState::Acknowledged))
        .count();
    assert_eq!(acked, 1, "{events:?}");
}

// ---------------------------------------------------------------------------------
// Final states

#[test]
fn nothing_after_cancel_except_one_modification() {
    let dir = Dir::new("cancel");
    let m = open(&dir, 100);
    let o = origin();
    let job = m.create_job("cancel", JobType::Download).unwrap();
    job.set_notify_flags(0x1B).unwrap();
    let rec = Arc::new(Recorder::default());
    job.set_notify_interface(as_cb(&rec)).unwrap();
    // One small file finishes (FILE_TRANSFERRED is then pending or delivered), one
    // large one is mid-transfer when the job is cancelled.
    job.add_file(&o.url("nf-cancel-small", "size=1000"), &dir.file("s.bin"))
        .unwrap();
    job.add_file(
        &o.url("nf-cancel-big", "size=2000000&rate=200000"),
        &dir.file("b.bin"),
    )
    .unwrap();
    job.resume().unwrap();
    eventually(
        "some progress on the big file",
        Duration::from_secs(30),
        || job.get_progress().unwrap().bytes_transferred > 50_000,
    );
    job.cancel().unwrap();
    let n = rec.events().len();
    std::thread::sleep(Duration::from_secs(1));
    let events = rec.events();
    let after = &events[n..];
    assert!(
        after.iter().all(|e| e.kind == Kind::Modification),
        "only a modification may follow cancel(): {after:?}"
    );
    assert!(
        after.len() <= 1,
        "at most one modification after cancel(): {after:?}"
    );
    if let Some(e) = after.first() {
        assert_eq!(e.state, Some(JobState::Cancelled), "{e:?}");
    }
    // The transfer must not have reached TRANSFERRED (and so notified) meanwhile.
    assert_eq!(rec.count(Kind::Transferred), 0);
    assert_eq!(job.get_state().unwrap(), JobState::Cancelled);
    eventually("callback release", Duration::from_secs(20), || {
        Arc::strong_count(&rec) == 1
    });
    assert!(job.get_notify_interface().unwrap().is_none());
    let leftovers: Vec<_> = std::fs::read_dir(&dir.0)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .filter(|n| n != "state")
        .collect();
    assert!(leftovers.is_empty(), "cancel() left {leftovers:?}");
}

// ---------------------------------------------------------------------------------
// At least once

#[test]
fn failed_transferred_callback_is_redelivered_after_retry_delay() {
    let dir = Dir::new("redeliver");
    let m = open(&dir, 50);
    let o = origin();
    let job = m.create_job("redeliver", JobType::Download).unwrap();
    job.set_minimum_retry_delay(1).unwrap();
    let rec = Arc::new(Recorder::with_fail_transferred(1));
    job.set_notify_interface(as_cb(&rec)).unwrap();
    job.add_file(&o.url("nf-redeliver", "size=2000"), &dir.file("r.bin"))
        .unwrap();
    job.resume().unwrap();
    wait_for(&job, JobState::Transferred);
    eventually("the redelivery", Duration::from_secs(20), || {
        rec.count(Kind::Transferred) >= 2
    });
    let t = rec.of(Kind::Transferred);
    let gap = t[1].at.duration_since(t[0].at);
    assert!(
        gap >= Duration::from_millis(900),
        "redelivered after {gap:?}, before the 1 s minimum retry delay"
    );
    // Accepted the second time: no third delivery.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(rec.count(Kind::Transferred), 2, "{:?}", rec.events());
    job.complete().unwrap();
}

#[test]
fn failed_error_callback_is_redelivered() {
    let dir = Dir::new("redeliver-err");
    let m = open(&dir, 50);
    let o = origin();
    let job = m.create_job("redeliver-err", JobType::Download).unwrap();
    job.set_minimum_retry_delay(1).unwrap();
    let rec = Arc::new(Recorder::default());
    rec.fail_error.store(2, Ordering::SeqCst);
    job.set_notify_interface(as_cb(&rec)).unwrap();
    job.add_file(&o.url("nf-redeliver-410", "status=410"), &dir.file("e.bin"))
        .unwrap();
    job.resume().unwrap();
    wait_for(&job, JobState::Error);
    eventually("two redeliveries", Duration::from_secs(20), || {
        rec.count(Kind::Error) >= 3
    });
    let t = rec.of(Kind::Error);
    for w in t.windows(2) {
        let gap = w[1].at.duration_since(w[0].at);
        assert!(
            gap >= Duration::from_millis(900),
            "redelivered after {gap:?}"
        );
    }
    assert!(
        t.iter()
            .all(|e| e.error == Some((ErrorContext::RemoteFile, codes::http(410))))
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(rec.count(Kind::Error), 3, "{:?}", rec.events());
    job.cancel().unwrap();
}

#[test]
fn panicking_transferred_callback_counts_as_failed_and_is_redelivered() {
    let dir = Dir::new("redeliver-panic");
    let m = open(&dir, 50);
    let o = origin();
    let job = m.create_job("redeliver-panic", JobType::Download).unwrap();
    job.set_minimum_retry_delay(1).unwrap();
    let rec = Arc::new(Recorder::default());
    rec.panic_transferred.store(1, Ordering::SeqCst);
    job.set_notify_interface(as_cb(&rec)).unwrap();
    job.add_file(
        &o.url("nf-redeliver-panic", "size=2000"),
        &dir.file("p.bin"),
    )
    .unwrap();
    job.resume().unwrap();
    wait_for(&job, JobState::Transferred);
    eventually(
        "the redelivery after a panic",
        Duration::from_secs(20),
        || rec.count(Kind::Transferred) >= 2,
    );
    let t = rec.of(Kind::Transferred);
    assert!(t[1].at.duration_since(t[0].at) >= Duration::from_millis(900));
    assert_eq!(job.get_state().unwrap(), JobState::Transferred);
    assert_eq!(job.get_error_count().unwrap(), 0);
    job.complete().unwrap();
    assert!(std::fs::read(dir.file("p.bin")).unwrap() == content(2000, 0));
}

#[test]
fn callback_set_after_transferred_still_receives_it() {
    let dir = Dir::new("late");
    let m = open(&dir, 50);
    let o = origin();
    let job = m.create_job("late", JobType::Download).unwrap();
    job.add_file(&o.url("nf-late", "size=3000"), &dir.file("l.bin"))
        .unwrap();
    job.resume().unwrap();
    wait_for(&job, JobState::Transferred);
    // Let the notifier run several passes with no callback set.
    std::thread::sleep(Duration::from_millis(300));
    let rec = Arc::new(Recorder::default());
    job.set_notify_interface(as_cb(&rec)).unwrap();
    eventually("the late job_transferred", Duration::from_secs(20), || {
        rec.count(Kind::Transferred) >= 1
    });
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(rec.count(Kind::Transferred), 1);
    job.complete().unwrap();
}

// ---------------------------------------------------------------------------------
// Re-entrancy, blocking and panicking callbacks

/// On job_transferred of its job: reads, complete() on its own job, and cancel(),
/// set_priority(), get_error(), resume() on other jobs, plus manager calls.
struct Reentrant {
    manager: Mutex<Option<Arc<CopyManager>>>,
    other_error: CopyJob,
    other_cancel: CopyJob,
    results: Mutex<Vec<String>>,
    done: AtomicBool,
}

impl CopyCallback for Reentrant {
    fn job_modification(&self, job: &CopyJob) -> CallbackResult {
        // Reads of every kind from inside a callback.
        let _ = (job.get_state(), job.get_progress(), job.get_times());
        for f in job.enum_files().map_err(|e| e.to_string())? {
            let _ = (f.get_progress(), f.get_local_name());
        }
        let _ = self.other_error.get_state();
        Ok(())
    }

    fn job_transferred(&self, job: &CopyJob) -> CallbackResult {
        let mut r = Vec::new();
        let sym = |x: Result<(), bgcopy::Error>| match x {
            Ok(()) => "OK".to_string(),
            Err(e) => e.symbol(),
        };
        r.push(sym(self.other_error.set_priority(Priority::High)));
        r.push(match self.other_error.get_error() {
            Ok(e) => codes::symbol(e.get_error().1),
            Err(e) => e.symbol(),
        });
        r.push(sym(self.other_cancel.cancel()));
        r.push(sym(job.set_description("set from inside the callback")));
        if let Some(m) = self.manager.lock().unwrap().take() {
            r.push(format!(
                "jobs={}",
                m.enum_jobs().map(|j| j.len()).unwrap_or(99)
            ));
            r.push(sym(m.get_job(&job.get_id()).map(|_| ())));
        }
        r.push(match job.complete() {
            Ok(c) => codes::symbol(c.code()),
            Err(e) => e.symbol(),
        });
        r.push(sym(self.other_error.resume()));
        *self.results.lock().unwrap() = r;
        self.done.store(true, Ordering::SeqCst);
        Ok(())
    }
}

#[test]
fn callback_may_call_any_method_without_deadlock() {
    let dir = Dir::new("reentrant");
    let m = Arc::new(open(&dir, 50));
    let o = origin();
    let err_job = m.create_job("other-error", JobType::Download).unwrap();
    err_job
        .add_file(&o.url("nf-re-404", "status=404"), &dir.file("e.bin"))
        .unwrap();
    err_job.resume().unwrap();
    wait_for(&err_job, JobState::Error);
    let cancel_job = m.create_job("other-cancel", JobType::Download).unwrap();
    cancel_job
        .add_file(&o.url("nf-re-never", "size=10"), &dir.file("c.bin"))
        .unwrap();

    let job = m.create_job("reentrant", JobType::Download).unwrap();
    job.set_notify_flags(0x1B).unwrap();
    let cb = Arc::new(Reentrant {
        manager: Mutex::new(Some(m.clone())),
        other_error: err_job.clone(),
        other_cancel: cancel_job.clone(),
        results: Mutex::new(Vec::new()),
        done: AtomicBool::new(false),
    });
    job.set_notify_interface(Some(cb.clone() as Arc<dyn CopyCallback>))
        .unwrap();
    job.add_file(&o.url("nf-re-a", "size=20000"), &dir.file("a.bin"))
        .unwrap();
    job.add_file(&o.url("nf-re-b", "size=30000"), &dir.file("b.bin"))
        .unwrap();
    job.resume().unwrap();
    eventually("the callback's calls", Duration::from_secs(30), || {
        cb.done.load(Ordering::SeqCst)
    });
    let r = cb.results.lock().unwrap().clone();
    assert_eq!(
        r,
        vec!["OK", "HTTP_404", "OK", "OK", "jobs=2", "OK", "OK", "OK"],
        "results of the calls made inside the callback"
    );
    assert_eq!(
        job.wait(Some(Duration::from_secs(5))).unwrap(),
        JobState::Acknowledged
    );
    assert_eq!(
        job.get_description().unwrap(),
        "set from inside the callback"
    );
    assert_eq!(cancel_job.get_state().unwrap(), JobState::Cancelled);
    assert_eq!(err_job.get_priority().unwrap(), Priority::High);
    assert!(std::fs::read(dir.file("a.bin")).unwrap() == content(20000, 0));
    assert!(std::fs::read(dir.file("b.bin")).unwrap() == content(30000, 0));
    // The callback (and the manager Arc it held) is released after ACKNOWLEDGED.
    eventually("callback release", Duration::from_secs(20), || {
        Arc::strong_count(&cb) == 1
    });
    err_job.cancel().unwrap();
}

/// A gate a callback blocks on until the test opens it (at most 60 s).
#[derive(Default)]
struct Gate {
    open: Mutex<bool>,
    cv: Condvar,
    entered: AtomicU32,
    left: AtomicU32,
}

impl Gate {
    fn block(&self) {
        self.entered.fetch_add(1, Ordering::SeqCst);
        let g = self.open.lock().unwrap();
        let _g = self
            .cv
            .wait_timeout_while(g, Duration::from_secs(60), |open| !*open)
            .unwrap();
        self.left.fetch_add(1, Ordering::SeqCst);
    }
    fn release(&self) {
        *self.open.lock().unwrap() = true;
        self.cv.notify_all();
    }
}

struct Blocking(Gate);

impl CopyCallback for Blocking {
    fn job_modification(&self, _job: &CopyJob) -> CallbackResult {
        self.0.block();
        Ok(())
    }
}

#[test]
fn blocking_callback_never_stalls_a_transfer() {
    let dir = Dir::new("blocking");
    let m = open(&dir, 50);
    let o = origin();
    let a = m.create_job("blocked", JobType::Download).unwrap();
    a.set_notify_flags(notify::JOB_MODIFICATION).unwrap();
    let cb = Arc::new(Blocking(Gate::default()));
    a.set_notify_interface(Some(cb.clone() as Arc<dyn CopyCallback>))
        .unwrap();
    a.add_file(&o.url("nf-block-a", "size=300000"), &dir.file("a.bin"))
        .unwrap();
    // The add_file above is a modification: the callback now blocks the notifier.
    eventually("the callback to block", Duration::from_secs(20), || {
        cb.0.entered.load(Ordering::SeqCst) >= 1
    });

    // Another job and the blocked callback's own job both finish meanwhile, and API
    // calls on the blocked job return (no lock is held during the callback).
    let b = m.create_job("free", JobType::Download).unwrap();
    b.add_file(&o.url("nf-block-b", "size=250000"), &dir.file("b.bin"))
        .unwrap();
    b.resume().unwrap();
    a.set_priority(Priority::High).unwrap();
    a.resume().unwrap();
    wait_for(&b, JobState::Transferred);
    wait_for(&a, JobState::Transferred);
    assert_eq!(
        cb.0.left.load(Ordering::SeqCst),
        0,
        "the callback must still be blocked"
    );
    b.complete().unwrap();
    a.complete().unwrap();
    assert!(std::fs::read(dir.file("a.bin")).unwrap() == content(300_000, 0));
    assert!(std::fs::read(dir.file("b.bin")).unwrap() == content(250_000, 0));
    cb.0.release();
    eventually("callback release", Duration::from_secs(20), || {
        Arc::strong_count(&cb) == 1
    });
}

#[test]
fn panicking_callback_never_fails_a_transfer() {
    let dir = Dir::new("panic");
    let m = open(&dir, 20);
    let o = origin();
    let job = m.create_job("panic", JobType::Download).unwrap();
    job.set_notify_flags(0x1B).unwrap();
    job.set_minimum_retry_delay(1).unwrap();
    let rec = Arc::new(Recorder {
        panic_always: true,
        ..Recorder::default()
    });
    job.set_notify_interface(as_cb(&rec)).unwrap();
    job.add_file(
        &o.url("nf-panic-a", "size=100000&rate=400000"),
        &dir.file("a.bin"),
    )
    .unwrap();
    job.add_file(&o.url("nf-panic-b", "size=50000"), &dir.file("b.bin"))
        .unwrap();
    job.resume().unwrap();
    wait_for(&job, JobState::Transferred);
    eventually("panicking deliveries", Duration::from_secs(20), || {
        rec.count(Kind::Transferred) >= 1 && rec.count(Kind::File) >= 2
    });
    assert!(rec.count(Kind::Modification) >= 1);
    assert_eq!(job.get_error_count().unwrap(), 0);
    assert_eq!(job.get_state().unwrap(), JobState::Transferred);
    // The library is still healthy: another job on the same manager transfers.
    let other = m.create_job("after-panic", JobType::Download).unwrap();
    other
        .add_file(&o.url("nf-panic-c", "size=7000"), &dir.file("c.bin"))
        .unwrap();
    other.resume().unwrap();
    wait_for(&other, JobState::Transferred);
    assert_eq!(job.complete().unwrap(), bgcopy::Completion::All);
    other.complete().unwrap();
    assert!(std::fs::read(dir.file("a.bin")).unwrap() == content(100_000, 0));
    assert!(std::fs::read(dir.file("b.bin")).unwrap() == content(50_000, 0));
    eventually("callback release", Duration::from_secs(20), || {
        Arc::strong_count(&rec) == 1
    });
}

// ---------------------------------------------------------------------------------
// Release and clearing

#[test]
fn callbacks_released_at_final_state_and_at_close() {
    let dir = Dir::new("release");
    let m = open(&dir, 50);
    let o = origin();
    // complete(), with three flag sets; cancel(); then close().
    let mut recs = Vec::new();
    for (i, flags) in [notify::DEFAULT, 0x1B, notify::ALL].into_iter().enumerate() {
        let job = m.create_job("release", JobType::Download).unwrap();
        job.set_notify_flags(flags).unwrap();
        let rec = Arc::new(Recorder::default());
        job.set_notify_interface(as_cb(&rec)).unwrap();
        assert!(Arc::strong_count(&rec) >= 2);
        job.add_file(
            &o.url(&format!("nf-rel-{i}"), "size=4000"),
            &dir.file(&format!("r{i}.bin")),
        )
        .unwrap();
        job.resume().unwrap();
        wait_for(&job, JobState::Transferred);
        job.complete().unwrap();
        recs.push((format!("complete flags {flags:#x}"), job, rec));
    }
    let cancelled = m.create_job("release-cancel", JobType::Download).unwrap();
    cancelled.set_notify_flags(0x1B).unwrap();
    let rec = Arc::new(Recorder::default());
    cancelled.set_notify_interface(as_cb(&rec)).unwrap();
    cancelled.cancel().unwrap();
    recs.push(("cancel".into(), cancelled, rec));

    for (what, job, rec) in &recs {
        eventually(
            &format!("release after {what}"),
            Duration::from_secs(20),
            || Arc::strong_count(rec) == 1,
        );
        assert!(job.get_notify_interface().unwrap().is_none(), "{what}");
    }

    let open_job = m.create_job("release-close", JobType::Download).unwrap();
    let rec = Arc::new(Recorder::default());
    open_job.set_notify_interface(as_cb(&rec)).unwrap();
    assert!(open_job.get_notify_interface().unwrap().is_some());
    m.close().unwrap();
    eventually("release after close()", Duration::from_secs(20), || {
        Arc::strong_count(&rec) == 1
    });
    assert!(open_job.get_notify_interface().unwrap().is_none());
}

#[test]
fn clearing_the_notify_interface_stops_deliveries() {
    let dir = Dir::new("clear");
    let m = open(&dir, 200);
    let o = origin();
    let job = m.create_job("clear", JobType::Download).unwrap();
    job.set_notify_flags(0x1B).unwrap();
    let rec = Arc::new(Recorder::default());
    job.set_notify_interface(as_cb(&rec)).unwrap();
    job.set_description("a modification").unwrap();
    eventually("the first modification", Duration::from_secs(20), || {
        rec.count(Kind::Modification) >= 1
    });
    job.set_notify_interface(None).unwrap();
    assert!(job.get_notify_interface().unwrap().is_none());
    eventually("the library to let go", Duration::from_secs(20), || {
        Arc::strong_count(&rec) == 1
    });
    let n = rec.events().len();
    job.add_file(&o.url("nf-clear", "size=20000"), &dir.file("c.bin"))
        .unwrap();
    job.resume().unwrap();
    wait_for(&job, JobState::Transferred);
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(rec.events().len(), n, "{:?}", &rec.events()[n..]);
    job.complete().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(rec.events().len(), n, "{:?}", &rec.events()[n..]);
}

#[test]
fn progress_never_goes_backwards_across_suspend_and_resume() {
    let dir = Dir::new("monotonic");
    let m = open(&dir, 30);
    let o = origin();
    let size = 600_000u64;
    let job = m.create_job("monotonic", JobType::Download).unwrap();
    job.set_notify_flags(notify::JOB_MODIFICATION).unwrap();
    let rec = Arc::new(Recorder::default());
    job.set_notify_interface(as_cb(&rec)).unwrap();
    job.add_file(
        &o.url("nf-monotonic", &format!("size={size}&rate=300000")),
        &dir.file("m.bin"),
    )
    .unwrap();
    // A reader polling the getter meanwhile must never see progress drop either.
    let stop = Arc::new(AtomicBool::new(false));
    let poller = {
        let job = job.clone();
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut prev = 0;
            while !stop.load(Ordering::SeqCst) {
                let p = job.get_progress().unwrap().bytes_transferred;
                assert!(p >= prev, "get_progress went backwards: {prev} then {p}");
                prev = p;
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };
    job.resume().unwrap();
    let mut last = 0;
    for round in 0..4 {
        eventually(
            &format!("progress in round {round}"),
            Duration::from_secs(30),
            || job.get_progress().unwrap().bytes_transferred > last + 40_000,
        );
        job.suspend().unwrap();
        last = job.get_progress().unwrap().bytes_transferred;
        std::thread::sleep(Duration::from_millis(50));
        let held = job.get_progress().unwrap().bytes_transferred;
        assert!(held >= last, "suspend lost progress: {last} then {held}");
        job.resume().unwrap();
    }
    wait_for(&job, JobState::Transferred);
    stop.store(true, Ordering::SeqCst);
    poller.join().expect("the progress poller failed");
    eventually(
        "the TRANSFERRED modification",
        Duration::from_secs(20),
        || rec.last_modification_state() == Some(JobState::Transferred),
    );
    let mut prev = 0;
    for e in rec.of(Kind::Modification) {
        let p = e.progress.unwrap().bytes_transferred;
        assert!(
            p >= prev,
            "modification progress went backwards: {prev} then {p}"
        );
        prev = p;
    }
    assert_eq!(prev, size);
    job.complete().unwrap();
    assert!(std::fs::read(dir.file("m.bin")).unwrap() == content(size, 0));
    // Every resume continued where the transfer stopped (no request from zero after
    // the first).
    let stats = o.stats("nf-monotonic");
    let ranges = stats["ranges"].as_array().unwrap();
    assert!(ranges.len() >= 2, "{stats}");
    assert!(
        ranges[1..].iter().all(|r| r.as_str().unwrap().starts_with("bytes=")
            && r.as_str().unwrap() != "bytes=0-"),
        "a resume restarted from zero: {stats}"
    );
}

// ---------------------------------------------------------------------------------
// The callback object's lifetime and the library lock

/// A callback whose `Drop` checks, from another thread, that the library lock is free
/// while the library drops it. (User code runs in a callback's destructor: in C the
/// `release` function, in Python `__del__` under the GIL. If the library dropped it
/// while holding its lock, any bgcopy call from there would deadlock.)
struct DropProbe {
    job: CopyJob,
    free: Verdict,
}

impl CopyCallback for DropProbe {}

impl Drop for DropProbe {
    fn drop(&mut self) {
        let (tx, rx) = std::sync::mpsc::channel();
        let job = self.job.clone();
        std::thread::spawn(move || {
            let _ = job.get_state();
            let _ = tx.send(());
        });
        let free = rx.recv_timeout(Duration::from_secs(2)).is_ok();
        *self.free.lock().unwrap() = Some(free);
    }
}

/// The probe's verdict: `None` until dropped, then whether the lock was free.
type Verdict = Arc<Mutex<Option<bool>>>;

fn probe(job: &CopyJob) -> (Option<Arc<dyn CopyCallback>>, Verdict) {
    let free = Arc::new(Mutex::new(None));
    let cb = DropProbe {
        job: job.clone(),
        free: free.clone(),
    };
    (Some(Arc::new(cb) as Arc<dyn CopyCallback>), free)
}

/// Wait (hang guard) for the probe's verdict: `Some(true)` = dropped with the lock free.
fn probe_verdict(what: &str, free: &Mutex<Option<bool>>) -> bool {
    eventually(
        &format!("the drop after {what}"),
        Duration::from_secs(20),
        || free.lock().unwrap().is_some(),
    );
    *free.lock().unwrap() == Some(true)
}

#[test]
fn callback_objects_are_dropped_outside_the_library_lock() {
    let dir = Dir::new("drop-lock");
    let m = open(&dir, 50);
    let o = origin();
    // Cases run one after the other: a drop under the lock holds the lock for the
    // probe's 2 s and would spoil a concurrent case.
    let mut bad = Vec::new();
    let mut check = |what: &'static str, free: Verdict| {
        if !probe_verdict(what, &free) {
            bad.push(what);
        }
    };

    let j = m.create_job("cleared", JobType::Download).unwrap();
    let (cb, free) = probe(&j);
    j.set_notify_interface(cb).unwrap();
    j.set_notify_interface(None).unwrap();
    check("set_notify_interface(None)", free);

    let (cb, free) = probe(&j);
    j.set_notify_interface(cb).unwrap();
    j.set_notify_interface(Some(Arc::new(Recorder::default())))
        .unwrap();
    check("set_notify_interface(another)", free);

    for (what, flags) in [
        ("complete() with flags 0x3", notify::DEFAULT),
        ("complete() with flags 0xB", 0x0B),
    ] {
        let j = m.create_job(what, JobType::Download).unwrap();
        j.set_notify_flags(flags).unwrap();
        let (cb, free) = probe(&j);
        j.set_notify_interface(cb).unwrap();
        j.add_file(
            &o.url(&format!("nf-drop-{flags}"), "size=1000"),
            &dir.file(&format!("{flags}.bin")),
        )
        .unwrap();
        j.resume().unwrap();
        wait_for(&j, JobState::Transferred);
        j.complete().unwrap();
        check(what, free);
    }

    for (what, flags) in [
        ("cancel() with flags 0x3", notify::DEFAULT),
        ("cancel() with flags 0xB", 0x0B),
    ] {
        let j = m.create_job(what, JobType::Download).unwrap();
        j.set_notify_flags(flags).unwrap();
        let (cb, free) = probe(&j);
        j.set_notify_interface(cb).unwrap();
        j.cancel().unwrap();
        check(what, free);
    }

    let j = m.create_job("closed", JobType::Download).unwrap();
    let (cb, free) = probe(&j);
    j.set_notify_interface(cb).unwrap();
    m.close().unwrap();
    check("close()", free);

    assert!(
        bad.is_empty(),
        "the library dropped the callback object while holding its lock after: {bad:?}"
    );
}

/// Holds the manager and closes it from inside job_transferred.
struct Closer {
    manager: Arc<CopyManager>,
    outcome: Mutex<Option<String>>,
}

impl CopyCallback for Closer {
    fn job_transferred(&self, _job: &CopyJob) -> CallbackResult {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.manager.close()));
        *self.outcome.lock().unwrap() = Some(match r {
            Ok(Ok(())) => "OK".into(),
            Ok(Err(e)) => e.symbol(),
            Err(_) => "panicked".into(),
        });
        Ok(())
    }
}

/// Open `state` again, retrying while the old manager still lets go (hang guard).
fn reopen_eventually(state: &std::path::Path, what: &str) -> CopyManager {
    let end = Instant::now() + Duration::from_secs(15);
    loop {
        match CopyManager::open(Some(state)) {
            Ok(m) => return m,
            Err(e) => assert!(
                Instant::now() < end,
                "{what}: the state directory was never released: {e}"
            ),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_callback_may_close_the_manager() {
    let dir = Dir::new("close-inside");
    let m = Arc::new(open(&dir, 50));
    let o = origin();
    let job = m.create_job("close-inside", JobType::Download).unwrap();
    job.add_file(&o.url("nf-close-inside", "size=1000"), &dir.file("a.bin"))
        .unwrap();
    let cb = Arc::new(Closer {
        manager: m.clone(),
        outcome: Mutex::new(None),
    });
    job.set_notify_interface(Some(cb.clone() as Arc<dyn CopyCallback>))
        .unwrap();
    job.resume().unwrap();
    eventually("the callback's close()", Duration::from_secs(30), || {
        cb.outcome.lock().unwrap().is_some()
    });
    assert_eq!(cb.outcome.lock().unwrap().as_deref(), Some("OK"));
    expect_invalid_state(m.enum_jobs().map(|_| ()));
    // close() released the directory although the manager object still exists.
    let m2 = reopen_eventually(&dir.0.join("state"), "close() inside a callback");
    let again = m2.get_job(&job.get_id()).unwrap();
    assert_eq!(again.get_state().unwrap(), JobState::Transferred);
    again.complete().unwrap();
}

/// Closes the manager from its destructor (in C a callback's `release`, in Python
/// `__del__`), optionally after `gate` opens; records what close() returned.
struct CloseOnDrop {
    manager: Arc<CopyManager>,
    gate: Option<Arc<(Mutex<bool>, Condvar)>>,
    dropping: Arc<AtomicBool>,
    outcome: Arc<Mutex<Option<String>>>,
}

impl CopyCallback for CloseOnDrop {}

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.dropping.store(true, Ordering::SeqCst);
        if let Some(gate) = &self.gate {
            let (open, cv) = &**gate;
            let mut o = open.lock().unwrap();
            while !*o {
                o = cv.wait(o).unwrap();
            }
            drop(o);
            // Let the other thread's close() get as far as waiting for this thread.
            std::thread::sleep(Duration::from_millis(300));
        }
        let r = self.manager.close();
        *self.outcome.lock().unwrap() = Some(match r {
            Ok(()) => "OK".into(),
            Err(e) => e.symbol(),
        });
    }
}

/// Run `f` on another thread; fail if it has not returned after 30 s (a hang guard:
/// a deadlock would otherwise hang the test binary).
fn finishes(what: &str, f: impl FnOnce() + Send + 'static) {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    assert!(
        rx.recv_timeout(Duration::from_secs(30)).is_ok(),
        "{what} deadlocked"
    );
}

#[test]
fn a_callback_destructor_may_close_inside_close() {
    let dir = Dir::new("close-in-drop");
    let m = Arc::new(open(&dir, 50));
    let job = m.create_job("close-in-drop", JobType::Download).unwrap();
    let outcome = Arc::new(Mutex::new(None));
    let cb = CloseOnDrop {
        manager: m.clone(),
        gate: None,
        dropping: Arc::new(AtomicBool::new(false)),
        outcome: outcome.clone(),
    };
    job.set_notify_interface(Some(Arc::new(cb) as Arc<dyn CopyCallback>))
        .unwrap();
    // close() drops the callback on this thread; its destructor closes again.
    let m2 = m.clone();
    finishes("close() inside a destructor run by close()", move || {
        m2.close().unwrap()
    });
    assert_eq!(outcome.lock().unwrap().as_deref(), Some("OK"));
    assert!(m.is_closed());
    drop(reopen_eventually(
        &dir.0.join("state"),
        "close() in a destructor",
    ));
}

#[test]
fn a_destructor_on_the_notifier_thread_may_close_while_another_close_waits_for_it() {
    let dir = Dir::new("close-race");
    let m = Arc::new(open(&dir, 50));
    let job = m.create_job("close-race", JobType::Download).unwrap();
    let gate = Arc::new((Mutex::new(false), Condvar::new()));
    let dropping = Arc::new(AtomicBool::new(false));
    let outcome = Arc::new(Mutex::new(None));
    let cb = CloseOnDrop {
        manager: m.clone(),
        gate: Some(gate.clone()),
        dropping: dropping.clone(),
        outcome: outcome.clone(),
    };
    job.set_notify_interface(Some(Arc::new(cb) as Arc<dyn CopyCallback>))
        .unwrap();
    // A final state: the notification thread lets go of the callback; its destructor
    // waits for this thread to be inside close(), which joins the notification thread.
    job.cancel().unwrap();
    eventually("the destructor", Duration::from_secs(20), || {
        dropping.load(Ordering::SeqCst)
    });
    let m2 = m.clone();
    finishes("close() racing a destructor's close()", move || {
        *gate.0.lock().unwrap() = true;
        gate.1.notify_all();
        m2.close().unwrap();
    });
    eventually("the destructor's close()", Duration::from_secs(30), || {
        outcome.lock().unwrap().is_some()
    });
    assert_eq!(outcome.lock().unwrap().as_deref(), Some("OK"));
    drop(reopen_eventually(
        &dir.0.join("state"),
        "close() racing a destructor",
    ));
}

fn expect_invalid_state(r: bgcopy::Result<()>) {
    match r {
        Err(e) => assert_eq!(e.code(), codes::INVALID_STATE, "{e}"),
        Ok(()) => panic!("expected INVALID_STATE"),
    }
}

/// Holds the only manager reference; completes its job from inside the callback, so
/// the library drops the last manager reference itself, on its notification thread.
struct LastOwner {
    _manager: Arc<CopyManager>,
}

impl CopyCallback for LastOwner {
    fn job_transferred(&self, job: &CopyJob) -> CallbackResult {
        job.complete().map(|_| ()).map_err(|e| e.to_string())
    }
}

fn last_manager_reference_dropped_by_the_library(flags: u32) {
    let dir = Dir::new(&format!("last-owner-{flags}"));
    let m = Arc::new(open(&dir, 50));
    let o = origin();
    let job = m.create_job("last-owner", JobType::Download).unwrap();
    job.set_notify_flags(flags).unwrap();
    job.add_file(
        &o.url(&format!("nf-last-owner-{flags}"), "size=1000"),
        &dir.file("a.bin"),
    )
    .unwrap();
    let cb = Arc::new(LastOwner {
        _manager: m.clone(),
    });
    let weak = Arc::downgrade(&cb);
    job.set_notify_interface(Some(cb as Arc<dyn CopyCallback>))
        .unwrap();
    drop(m); // the callback now holds the only CopyManager
    job.resume().unwrap();
    // The job completes inside the callback; the library then drops the callback and
    // with it the manager, which must close cleanly and release the directory.
    let what = format!("flags {flags:#x}");
    eventually(
        &format!("{what}: the callback's release"),
        Duration::from_secs(30),
        || weak.upgrade().is_none(),
    );
    let m2 = reopen_eventually(&dir.0.join("state"), &what);
    // The dropped manager closed: its engine let go of the directory.
    eventually(
        &format!("{what}: the engine lock"),
        Duration::from_secs(10),
        || m2.is_engine(),
    );
    assert!(m2.enum_jobs().unwrap().is_empty(), "{what}");
    assert_eq!(job.get_state().unwrap(), JobState::Acknowledged, "{what}");
    assert!(std::fs::read(dir.file("a.bin")).unwrap() == content(1000, 0));
}

#[test]
fn last_manager_reference_dropped_by_the_library_with_modification_flag() {
    last_manager_reference_dropped_by_the_library(0x0B);
}

#[test]
fn last_manager_reference_dropped_by_the_library_with_default_flags() {
    last_manager_reference_dropped_by_the_library(notify::DEFAULT);
}
