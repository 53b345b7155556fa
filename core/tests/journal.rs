//! The durable event journal (`events_since`) and what it feeds: callbacks in a
//! manager that does not run the transfers (its own store connection, as in another
//! process), and live progress published by the engine.

use bgcopy::{
    CallbackResult, CopyCallback, CopyError, CopyFile, CopyJob, CopyManager, Event, EventKind,
    JobState, JobType, ManagerOptions, codes,
};
use bgcopy_test_harness::{ScratchDir as Dir, content, shared_origin as origin};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn engine_opts() -> ManagerOptions {
    let mut o = ManagerOptions::default();
    o.notify_interval = Duration::from_millis(20);
    o
}

fn client_opts() -> ManagerOptions {
    let mut o = engine_opts();
    o.start_transfers = false;
    o
}

fn all_events(m: &CopyManager) -> Vec<Event> {
    let mut out: Vec<Event> = Vec::new();
    loop {
        let cursor = out.last().map_or(0, |e| e.seq);
        let batch = m.events_since(cursor, 3).unwrap();
        if batch.is_empty() {
            return out;
        }
        out.extend(batch);
    }
}

fn of_job<'a>(events: &'a [Event], job: &CopyJob) -> Vec<&'a Event> {
    let id = job.get_id();
    events.iter().filter(|e| e.job_id == id).collect()
}

/// Poll `f` until it is true (60 s hang guard).
fn until(what: &str, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(60);
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn every_state_change_file_and_error_is_journaled_in_order_and_seen_alike_by_every_manager() {
    let dir = Dir::new("journal-order");
    let engine = CopyManager::open_with(Some(&dir.state()), engine_opts()).unwrap();
    let client = CopyManager::open_with(Some(&dir.state()), client_opts()).unwrap();
    assert!(engine.is_engine() && !client.is_engine());

    // Created in the client, transferred by the engine.
    let job = client.create_job("journal", JobType::Download).unwrap();
    let a = dir.file("a.bin");
    let b = dir.file("b.bin");
    job.add_file(&origin().url("jr-a", "size=5000"), &a)
        .unwrap();
    job.add_file(&origin().url("jr-b", "size=7000"), &b)
        .unwrap();
    job.set_description("two files").unwrap();
    job.resume().unwrap();
    assert_eq!(
        job.wait(Some(Duration::from_secs(60))).unwrap(),
        JobState::Transferred
    );
    job.complete().unwrap();

    let seen = all_events(&client);
    assert_eq!(seen, all_events(&engine), "two managers, one journal");
    let mine = of_job(&seen, &job);
    let kinds: Vec<(EventKind, JobState)> = mine.iter().map(|e| (e.kind, e.state)).collect();
    use EventKind::*;
    use JobState::*;
    assert_eq!(
        kinds[..5],
        [
            (StateChanged, Suspended),
            (Modified, Suspended),
            (Modified, Suspended),
            (Modified, Suspended),
            (StateChanged, Queued),
        ],
        "{kinds:?}"
    );
    assert_eq!(
        kinds.last(),
        Some(&(StateChanged, Acknowledged)),
        "{kinds:?}"
    );
    let files: Vec<u32> = mine
        .iter()
        .filter(|e| e.kind == FileTransferred)
        .filter_map(|e| e.file_index)
        .collect();
    let mut sorted = files.clone();
    sorted.sort();
    assert_eq!(sorted, [0, 1], "each file once: {kinds:?}");
    let transferred = mine
        .iter()
        .position(|e| (e.kind, e.state) == (StateChanged, Transferred))
        .expect("TRANSFERRED journaled");
    let last_file = mine
        .iter()
        .rposition(|e| e.kind == FileTransferred)
        .unwrap();
    assert!(last_file < transferred, "{kinds:?}");
    // Numbers grow, times do not go back.
    assert!(seen.windows(2).all(|w| w[0].seq < w[1].seq));
    assert!(mine.windows(2).all(|w| w[0].time <= w[1].time));
    assert_eq!(std::fs::read(&a).unwrap(), content(5000, 0));

    // A cursor past the end returns nothing; the limit is checked.
    let last = seen.last().unwrap().seq;
    assert!(client.events_since(last, 10).unwrap().is_empty());
    assert_eq!(client.events_since(0, 1).unwrap().len(), 1);
    for bad in [0, 10_001] {
        let e = client.events_since(0, bad).unwrap_err();
        assert_eq!(e.code(), codes::E_INVALIDARG, "{e}");
    }

    // A fatal error carries its code and the file.
    let bad = client.create_job("missing", JobType::Download).unwrap();
    bad.add_file(&origin().url("jr-404", "status=404"), &dir.file("c.bin"))
        .unwrap();
    bad.resume().unwrap();
    assert_eq!(
        bad.wait(Some(Duration::from_secs(60))).unwrap(),
        JobState::Error
    );
    let seen = client.events_since(last, 100).unwrap();
    let err = seen
        .iter()
        .find(|e| e.kind == EventKind::Error && e.job_id == bad.get_id())
        .expect("the error is journaled");
    assert_eq!(err.state, JobState::Error);
    assert_eq!(err.error_code, Some(0x8019_0194), "{err:?}");
    assert_eq!(err.error_context, Some(bgcopy::ErrorContext::RemoteFile));
    assert_eq!(err.file_index, Some(0));
    assert!(
        err.error_description
            .as_deref()
            .is_some_and(|d| d.contains("404")),
        "{err:?}"
    );

    // The journal survives reopening; after close the call is refused.
    client.close().unwrap();
    engine.close().unwrap();
    let e = client.events_since(0, 10).unwrap_err();
    assert_eq!(e.code(), codes::INVALID_STATE);
    let again = CopyManager::open_with(Some(&dir.state()), client_opts()).unwrap();
    let after = all_events(&again);
    assert_eq!(after.len(), all_events_count(&after));
    assert!(after.iter().any(|e| e.job_id == job.get_id()));
}

fn all_events_count(e: &[Event]) -> usize {
    e.iter()
        .map(|e| e.seq)
        .collect::<std::collections::HashSet<_>>()
        .len()
}

#[derive(Default)]
struct Recorder {
    log: Mutex<Vec<String>>,
}

impl CopyCallback for Recorder {
    fn job_transferred(&self, _job: &CopyJob) -> CallbackResult {
        self.log.lock().unwrap().push("TRANSFERRED".into());
        Ok(())
    }
    fn job_error(&self, _job: &CopyJob, error: &CopyError) -> CallbackResult {
        let code = error.get_error().1;
        self.log.lock().unwrap().push(format!("ERROR {code:#x}"));
        Ok(())
    }
    fn job_modification(&self, _job: &CopyJob) -> CallbackResult {
        self.log.lock().unwrap().push("MODIFICATION".into());
        Ok(())
    }
    fn file_transferred(&self, _job: &CopyJob, file: &CopyFile) -> CallbackResult {
        let name = file.get_local_name().unwrap();
        let name = name.rsplit('/').next().unwrap().to_string();
        self.log.lock().unwrap().push(format!("FILE {name}"));
        Ok(())
    }
}

impl Recorder {
    fn count(&self, what: &str) -> usize {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.as_str() == what)
            .count()
    }
}

#[test]
fn callbacks_in_a_manager_that_does_not_transfer_fire_for_the_engines_changes() {
    let dir = Dir::new("journal-callbacks");
    let engine = CopyManager::open_with(Some(&dir.state()), engine_opts()).unwrap();
    let client = CopyManager::open_with(Some(&dir.state()), client_opts()).unwrap();
    let rec = Arc::new(Recorder::default());

    let job = client.create_job("cb", JobType::Download).unwrap();
    job.add_file(&origin().url("jc-a", "size=3000"), &dir.file("x.bin"))
        .unwrap();
    job.add_file(&origin().url("jc-b", "size=4000"), &dir.file("y.bin"))
        .unwrap();
    job.set_notify_interface(Some(rec.clone() as Arc<dyn CopyCallback>))
        .unwrap();
    job.set_notify_flags(0x1B).unwrap();
    job.resume().unwrap();
    until("TRANSFERRED in the client", || {
        rec.count("TRANSFERRED") == 1
    });
    until("both files in the client", || {
        rec.count("FILE x.bin") == 1 && rec.count("FILE y.bin") == 1
    });
    assert!(rec.count("MODIFICATION") >= 1);

    // An ERROR reached in the engine fires in the client, with its code.
    let bad = client.create_job("cb-bad", JobType::Download).unwrap();
    bad.add_file(&origin().url("jc-404", "status=404"), &dir.file("z.bin"))
        .unwrap();
    bad.set_notify_interface(Some(rec.clone() as Arc<dyn CopyCallback>))
        .unwrap();
    bad.resume().unwrap();
    until("ERROR in the client", || rec.count("ERROR 0x80190194") == 1);

    // Each only once, and the engine's manager, with no callback, fired nothing.
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(rec.count("TRANSFERRED"), 1);
    assert_eq!(rec.count("FILE x.bin"), 1);
    assert_eq!(rec.count("ERROR 0x80190194"), 1);
    job.complete().unwrap();
    bad.cancel().unwrap();
    client.close().unwrap();
    engine.close().unwrap();
}

#[test]
fn the_engines_live_progress_reaches_other_managers_before_a_checkpoint() {
    let dir = Dir::new("journal-progress");
    let mut o = engine_opts();
    // No checkpoint until the file is done: what the client sees is published.
    o.checkpoint_interval = Duration::from_secs(600);
    o.checkpoint_bytes = 1 << 40;
    let engine = CopyManager::open_with(Some(&dir.state()), o).unwrap();
    let client = CopyManager::open_with(Some(&dir.state()), client_opts()).unwrap();
    let size = 600_000u64;
    let job = client.create_job("progress", JobType::Download).unwrap();
    job.add_file(
        &origin().url("jp-a", &format!("size={size}&rate=200000")),
        &dir.file("p.bin"),
    )
    .unwrap();
    job.resume().unwrap();
    let mut seen = Vec::new();
    until("the transfer to end", || {
        let p = job.get_progress().unwrap();
        seen.push(p.bytes_transferred);
        std::thread::sleep(Duration::from_millis(50));
        job.get_state().unwrap() == JobState::Transferred
    });
    assert!(
        seen.windows(2).all(|w| w[0] <= w[1]),
        "progress went backwards: {seen:?}"
    );
    let mid: std::collections::BTreeSet<u64> = seen
        .iter()
        .copied()
        .filter(|b| *b > 0 && *b < size)
        .collect();
    // About 3 s at 200 kB/s, published every 400 ms: several distinct values.
    assert!(mid.len() >= 3, "live progress not published: {seen:?}");
    job.complete().unwrap();
    client.close().unwrap();
    engine.close().unwrap();
}

/// A notify command line that appends `$BGCOPY_JOB_ID $1` to `out` and exits `code`.
fn appender(out: &std::path::Path, tag: &str, code: i32) -> (String, Vec<String>) {
    (
        "/bin/sh".to_string(),
        vec![
            "-c".to_string(),
            format!(
                "echo \"$BGCOPY_JOB_ID $1\" >> '{}'; exit {code}",
                out.display()
            ),
            "sh".to_string(),
            tag.to_string(),
        ],
    )
}

fn lines(p: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn the_notify_command_line_runs_once_per_state_in_whichever_process_runs_the_engine() {
    let dir = Dir::new("journal-cmdline");
    let out = std::path::PathBuf::from(dir.file("cmd.log"));
    // A client queues the job with its command line and closes: no engine yet.
    let client = CopyManager::open_with(Some(&dir.state()), client_opts()).unwrap();
    let job = client.create_job("cmd", JobType::Download).unwrap();
    let id = job.get_id();
    job.add_file(&origin().url("jcmd-a", "size=9000"), &dir.file("a.bin"))
        .unwrap();
    let (program, args) = appender(&out, "transferred", 0);
    job.set_notify_cmd_line(&program, &args).unwrap();
    let got = job.get_notify_cmd_line().unwrap().unwrap();
    assert_eq!((got.program.as_str(), &got.args), (program.as_str(), &args));
    job.resume().unwrap();
    client.close().unwrap();
    assert!(lines(&out).is_empty());

    // An engine opened later transfers it and runs the command once.
    let engine = CopyManager::open_with(Some(&dir.state()), engine_opts()).unwrap();
    until("the command line", || !lines(&out).is_empty());
    assert_eq!(lines(&out), [format!("{id} transferred")]);
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(lines(&out).len(), 1, "ran more than once");

    // A command that fails runs again after the minimum retry delay, also in the next
    // engine; a successful run ends it.
    let job2 = engine.create_job("failing", JobType::Download).unwrap();
    let id2 = job2.get_id();
    job2.add_file(&origin().url("jcmd-404", "status=404"), &dir.file("b.bin"))
        .unwrap();
    job2.set_minimum_retry_delay(1).unwrap();
    let (program, args) = appender(&out, "error", 1);
    job2.set_notify_cmd_line(&program, &args).unwrap();
    job2.resume().unwrap();
    let errors = || {
        lines(&out)
            .iter()
            .filter(|l| **l == format!("{id2} error"))
            .count()
    };
    until("two failed runs", || errors() >= 2);
    engine.close().unwrap();
    let after_close = errors();
    // The next engine keeps trying; a command that now succeeds is the last run.
    let engine = CopyManager::open_with(Some(&dir.state()), engine_opts()).unwrap();
    let again = engine.get_job(&id2).unwrap();
    until("a run by the next engine", || errors() > after_close);
    let ok_program = appender(&out, "error-ok", 0);
    // Changing the command line does not re-arm it; the pending run uses the new one.
    again
        .set_notify_cmd_line(&ok_program.0, &ok_program.1)
        .unwrap();
    until("the successful run", || {
        lines(&out).contains(&format!("{id2} error-ok"))
    });
    let total = lines(&out).len();
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(lines(&out).len(), total, "ran after succeeding");
    let job = engine.get_job(&id).unwrap();
    assert_eq!(job.get_state().unwrap(), JobState::Transferred);
    job.complete().unwrap();
    again.cancel().unwrap();
    engine.close().unwrap();
}

#[test]
fn notify_command_line_arguments_are_checked() {
    let dir = Dir::new("journal-cmdargs");
    let m = CopyManager::open_with(Some(&dir.state()), client_opts()).unwrap();
    let job = m.create_job("args", JobType::Download).unwrap();
    assert_eq!(job.get_notify_cmd_line().unwrap(), None);
    let bad = |program: &str, args: &[&str], code: u32| {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let e = job.set_notify_cmd_line(program, &args).unwrap_err();
        assert_eq!(e.code(), code, "{program:?} {args:?}: {e}");
    };
    bad("notify.sh", &[], codes::E_INVALIDARG);
    bad("./notify.sh", &[], codes::E_INVALIDARG);
    bad("/bin/true\0x", &[], codes::E_INVALIDARG);
    bad("/bin/echo", &["a\0b"], codes::E_INVALIDARG);
    bad(
        &format!("/{}", "x".repeat(5000)),
        &[],
        codes::STRING_TOO_LONG,
    );
    bad("/bin/echo", &[&"y".repeat(40000)], codes::STRING_TOO_LONG);
    assert_eq!(job.get_notify_cmd_line().unwrap(), None);
    // Arguments keep empty strings and their order; reopen keeps them.
    let args = vec!["".to_string(), "two words".to_string(), "".to_string()];
    job.set_notify_cmd_line("/bin/echo", &args).unwrap();
    m.close().unwrap();
    let m = CopyManager::open_with(Some(&dir.state()), client_opts()).unwrap();
    let job = m.get_job(&job.get_id()).unwrap();
    let got = job.get_notify_cmd_line().unwrap().unwrap();
    assert_eq!(got.program, "/bin/echo");
    assert_eq!(got.args, args);
    // An empty program clears it; a final job refuses.
    job.set_notify_cmd_line("", &[]).unwrap();
    assert_eq!(job.get_notify_cmd_line().unwrap(), None);
    job.cancel().unwrap();
    let e = job.set_notify_cmd_line("/bin/true", &[]).unwrap_err();
    assert_eq!(e.code(), codes::INVALID_STATE);
}
