//! docs/spec.md §5 (bad input) at the core level: every mutator of a final job, a closed
//! manager, unusable state directories, string limits, notify flags, job ids,
//! add_file_set atomicity, numbers out of range, and the code table of §2/§6.
//! (The URL and local-path cases of add_file are in tests/scenarios/bad_input.json.)

use bgcopy::{
    CallbackResult, CopyCallback, CopyJob, CopyManager, Error, JobState, JobType, ManagerOptions,
    Priority, codes, notify,
};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------
// Support

use bgcopy_test_harness::{ScratchDir as Dir, shared_origin as origin};

/// A manager that never transfers (most tests here need no network).
fn open_idle(dir: &Dir) -> CopyManager {
    let mut o = ManagerOptions::default();
    o.start_transfers = false;
    CopyManager::open_with(Some(&dir.state()), o).unwrap()
}

/// Assert `r` failed with `code`.
#[track_caller]
fn expect_code<T: std::fmt::Debug>(what: &str, r: bgcopy::Result<T>, code: u32) {
    match r {
        Err(e) => {
            assert_eq!(
                e.code(),
                code,
                "{what}: expected {}, got {e}",
                codes::symbol(code)
            );
            assert!(!e.message().is_empty(), "{what}: empty message");
        }
        Ok(v) => panic!("{what}: expected {}, got Ok({v:?})", codes::symbol(code)),
    }
}

struct Nop;
impl CopyCallback for Nop {
    fn job_modification(&self, _job: &CopyJob) -> CallbackResult {
        Ok(())
    }
}

/// Everything a getter reports, to compare before and after refused calls.
#[derive(Debug, PartialEq)]
struct Snapshot {
    state: JobState,
    display_name: String,
    description: String,
    priority: Priority,
    flags: u32,
    no_progress_timeout: u32,
    retry_delay: u32,
    error_count: u32,
    files: Vec<(String, String)>,
    progress: bgcopy::JobProgress,
    times: bgcopy::JobTimes,
}

fn snapshot(job: &CopyJob) -> Snapshot {
    Snapshot {
        state: job.get_state().unwrap(),
        display_name: job.get_display_name().unwrap(),
        description: job.get_description().unwrap(),
        priority: job.get_priority().unwrap(),
        flags: job.get_notify_flags().unwrap(),
        no_progress_timeout: job.get_no_progress_timeout().unwrap(),
        retry_delay: job.get_minimum_retry_delay().unwrap(),
        error_count: job.get_error_count().unwrap(),
        files: job
            .enum_files()
            .unwrap()
            .iter()
            .map(|f| (f.get_remote_name().unwrap(), f.get_local_name().unwrap()))
            .collect(),
        progress: job.get_progress().unwrap(),
        times: job.get_times().unwrap(),
    }
}

type Mutator = Box<dyn Fn(&CopyJob) -> bgcopy::Result<()>>;

/// Every mutator of CopyJob, each called with arguments that are valid in themselves.
fn all_mutators(dir: &Dir) -> Vec<(&'static str, Mutator)> {
    let url = "http://127.0.0.1:9/f/never";
    let new_local = dir.file("new-file.bin");
    let new_local2 = new_local.clone();
    let set_local = dir.file("new-set.bin");
    vec![
        (
            "add_file",
            Box::new(move |j: &CopyJob| j.add_file(url, &new_local)),
        ),
        (
            "add_file_set",
            Box::new(move |j: &CopyJob| j.add_file_set(&[(url, set_local.as_str())])),
        ),
        (
            "add_file_set(empty)",
            Box::new(|j: &CopyJob| j.add_file_set::<&str, &str>(&[])),
        ),
        ("suspend", Box::new(|j: &CopyJob| j.suspend())),
        ("resume", Box::new(|j: &CopyJob| j.resume())),
        ("cancel", Box::new(|j: &CopyJob| j.cancel())),
        ("complete", Box::new(|j: &CopyJob| j.complete().map(|_| ()))),
        (
            "set_display_name",
            Box::new(|j: &CopyJob| j.set_display_name("renamed")),
        ),
        (
            "set_description",
            Box::new(|j: &CopyJob| j.set_description("described")),
        ),
        (
            "set_priority",
            Box::new(|j: &CopyJob| j.set_priority(Priority::High)),
        ),
        (
            "set_notify_flags",
            Box::new(|j: &CopyJob| j.set_notify_flags(notify::JOB_MODIFICATION)),
        ),
        (
            "set_notify_interface(Some)",
            Box::new(|j: &CopyJob| j.set_notify_interface(Some(Arc::new(Nop)))),
        ),
        (
            "set_notify_interface(None)",
            Box::new(|j: &CopyJob| j.set_notify_interface(None)),
        ),
        (
            "set_no_progress_timeout",
            Box::new(|j: &CopyJob| j.set_no_progress_timeout(5)),
        ),
        (
            "set_minimum_retry_delay",
            Box::new(|j: &CopyJob| j.set_minimum_retry_delay(5)),
        ),
        // Keep the list honest: a path that would be valid on a live job.
        (
            "add_file(again)",
            Box::new(move |j: &CopyJob| j.add_file(url, &new_local2)),
        ),
    ]
}

/// Every mutator fails with INVALID_STATE and changes nothing; every getter works.
fn assert_frozen(what: &str, job: &CopyJob, dir: &Dir, final_state: JobState) {
    let before = snapshot(job);
    assert_eq!(before.state, final_state);
    for (name, call) in all_mutators(dir) {
        expect_code(
            &format!("{name} on {what}"),
            call(job),
            codes::INVALID_STATE,
        );
    }
    assert_eq!(
        snapshot(job),
        before,
        "a refused call changed the {what} job"
    );
    assert!(!Path::new(&dir.file("new-file.bin")).exists());

    // Getters.
    assert_eq!(job.get_type().unwrap(), JobType::Download);
    assert_eq!(job.get_id(), job.id().to_string());
    expect_code(
        &format!("get_error on {what}"),
        job.get_error().map(|_| ()),
        codes::ERROR_INFORMATION_UNAVAILABLE,
    );
    // The callback is dropped at the final state; the getter reports that.
    let end = Instant::now() + Duration::from_secs(20);
    while job.get_notify_interface().unwrap().is_some() {
        assert!(Instant::now() < end, "{what}: callback never released");
        std::thread::sleep(Duration::from_millis(10));
    }
    for f in job.enum_files().unwrap() {
        f.get_progress().unwrap();
    }
    assert_eq!(job.wait(Some(Duration::ZERO)).unwrap(), final_state);
    assert_eq!(job.wait(None).unwrap(), final_state);
}

// ---------------------------------------------------------------------------------
// Final jobs

#[test]
fn every_mutator_of_an_acknowledged_job_is_invalid_state() {
    let dir = Dir::new("acked");
    let m = CopyManager::open(Some(&dir.state())).unwrap();
    let job = m.create_job("acked", JobType::Download).unwrap();
    job.set_description("kept").unwrap();
    job.set_notify_interface(Some(Arc::new(Nop))).unwrap();
    let local = dir.file("a.bin");
    job.add_file(&origin().url("bad-acked", "size=1234"), &local)
        .unwrap();
    job.resume().unwrap();
    assert_eq!(
        job.wait(Some(Duration::from_secs(60))).unwrap(),
        JobState::Transferred
    );
    job.complete().unwrap();
    assert_frozen("ACKNOWLEDGED", &job, &dir, JobState::Acknowledged);
    let files = job.enum_files().unwrap();
    assert_eq!(files.len(), 1);
    let p = files[0].get_progress().unwrap();
    assert!(p.completed && p.bytes_transferred == 1234, "{p:?}");
    assert!(job.get_times().unwrap().transfer_completion_time.is_some());
    assert_eq!(job.get_description().unwrap(), "kept");
    // Gone from the manager.
    expect_code(
        "get_job",
        m.get_job(&job.get_id()).map(|_| ()),
        codes::NOT_FOUND,
    );
    assert!(m.enum_jobs().unwrap().is_empty());
    assert_eq!(std::fs::metadata(&local).unwrap().len(), 1234);
}

#[test]
fn every_mutator_of_a_cancelled_job_is_invalid_state() {
    let dir = Dir::new("cancelled");
    let m = open_idle(&dir);
    let job = m.create_job("cancelled", JobType::Download).unwrap();
    job.set_priority(Priority::Low).unwrap();
    job.set_notify_interface(Some(Arc::new(Nop))).unwrap();
    job.add_file("http://127.0.0.1:9/f/x", &dir.file("x.bin"))
        .unwrap();
    job.cancel().unwrap();
    assert_frozen("CANCELLED", &job, &dir, JobState::Cancelled);
    assert_eq!(job.get_priority().unwrap(), Priority::Low);
    assert_eq!(job.enum_files().unwrap().len(), 1);
    expect_code(
        "get_job",
        m.get_job(&job.get_id()).map(|_| ()),
        codes::NOT_FOUND,
    );

    // A job cancelled with no files, and one in ERROR, too.
    let empty = m.create_job("empty", JobType::Download).unwrap();
    empty.cancel().unwrap();
    assert_frozen("CANCELLED (empty)", &empty, &dir, JobState::Cancelled);
    // Final jobs stay final after reopening (they are gone from the store).
    drop(m);
    let m = open_idle(&dir);
    expect_code(
        "get_job",
        m.get_job(&job.get_id()).map(|_| ()),
        codes::NOT_FOUND,
    );
    assert!(m.enum_jobs().unwrap().is_empty());
}

// ---------------------------------------------------------------------------------
// Closed manager and open()

#[test]
fn a_closed_manager_refuses_everything_but_getters() {
    let dir = Dir::new("closed");
    let m = open_idle(&dir);
    let job = m.create_job("closed", JobType::Download).unwrap();
    job.add_file("http://127.0.0.1:9/f/x", &dir.file("x.bin"))
        .unwrap();
    job.set_notify_interface(Some(Arc::new(Nop))).unwrap();
    let id = job.get_id();
    m.close().unwrap();
    m.close().unwrap(); // idempotent

    expect_code(
        "create_job",
        m.create_job("after", JobType::Download).map(|_| ()),
        codes::INVALID_STATE,
    );
    expect_code("get_job", m.get_job(&id).map(|_| ()), codes::INVALID_STATE);
    expect_code("enum_jobs", m.enum_jobs().map(|_| ()), codes::INVALID_STATE);
    let before = snapshot(&job);
    for (name, call) in all_mutators(&dir) {
        expect_code(
            &format!("{name} after close"),
            call(&job),
            codes::INVALID_STATE,
        );
    }
    assert_eq!(snapshot(&job), before);
    assert_eq!(before.state, JobState::Suspended);
    assert_eq!(before.files.len(), 1);
    assert!(job.get_notify_interface().unwrap().is_none());
    expect_code(
        "get_error",
        job.get_error().map(|_| ()),
        codes::ERROR_INFORMATION_UNAVAILABLE,
    );
    // wait() returns at once on a closed manager, even without a timeout.
    assert_eq!(job.wait(None).unwrap(), JobState::Suspended);
    drop(m);
    // Handles outlive the manager.
    assert_eq!(job.get_display_name().unwrap(), "closed");
    expect_code("suspend after drop", job.suspend(), codes::INVALID_STATE);
}

/// The code of a failed open; a panic is a failure of its own.
fn open_error(path: &Path, opts: ManagerOptions) -> Error {
    let p = path.to_path_buf();
    let r = catch_unwind(AssertUnwindSafe(move || {
        CopyManager::open_with(Some(&p), opts)
    }));
    match r {
        Err(_) => panic!("open({path:?}) panicked"),
        Ok(Ok(m)) => {
            let _ = m.close();
            panic!("open({path:?}) succeeded");
        }
        Ok(Err(e)) => {
            assert!(!e.message().is_empty());
            e
        }
    }
}

const IO_CODES: &[u32] = &[
    codes::E_INVALIDARG,
    codes::PATH_NOT_FOUND,
    codes::ACCESS_DENIED,
    codes::IO_ERROR,
];

#[test]
fn open_refuses_unusable_state_dirs() {
    let dir = Dir::new("open");
    // NUL inside the path.
    let e = open_error(
        Path::new(&format!("{}/a\0b", dir.0.display())),
        ManagerOptions::default(),
    );
    assert_eq!(e.code(), codes::E_INVALIDARG, "{e}");

    // Under a regular file (not creatable).
    let file = dir.0.join("regular");
    std::fs::write(&file, b"x").unwrap();
    let e = open_error(&file.join("state"), ManagerOptions::default());
    assert!(IO_CODES.contains(&e.code()), "{e}");
    // A regular file itself.
    let e = open_error(&file, ManagerOptions::default());
    assert!(IO_CODES.contains(&e.code()), "{e}");
    assert_eq!(std::fs::read(&file).unwrap(), b"x", "open touched the file");

    // A directory holding something that is not a bgcopy store.
    let foreign = dir.0.join("foreign");
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::write(foreign.join("bgcopy.db"), vec![0x42u8; 8192]).unwrap();
    let e = open_error(&foreign, ManagerOptions::default());
    assert!(
        e.code() == codes::STORE_CORRUPT || IO_CODES.contains(&e.code()),
        "{e}"
    );

    // Options out of range.
    for (name, opts) in [
        ("background_slots = 0", {
            let mut o = ManagerOptions::default();
            o.background_slots = 0;
            o
        }),
        ("connections_per_job = 0", {
            let mut o = ManagerOptions::default();
            o.connections_per_job = 0;
            o
        }),
    ] {
        let e = open_error(&dir.0.join("opts"), opts);
        assert_eq!(e.code(), codes::E_INVALIDARG, "{name}: {e}");
    }
}

/// A relative path that resolves to `target` from the current directory.
fn relative_to(target: &Path) -> PathBuf {
    let cwd = std::env::current_dir().unwrap();
    let mut rel = PathBuf::new();
    for _ in cwd.components().skip(1) {
        rel.push("..");
    }
    rel.join(target.strip_prefix("/").unwrap())
}

#[test]
fn open_refuses_a_relative_state_dir() {
    let dir = Dir::new("open-relative");
    let target = dir.0.join("rel-state");
    let rel = relative_to(&target);
    assert!(rel.is_relative());
    let r = catch_unwind(AssertUnwindSafe(|| CopyManager::open(Some(&rel))));
    let outcome = match r {
        Err(_) => "panicked".to_string(),
        Ok(Ok(m)) => {
            let _ = m.close();
            "succeeded".to_string()
        }
        Ok(Err(e)) => {
            assert!(IO_CODES.contains(&e.code()), "{e}");
            return;
        }
    };
    panic!(
        "open({rel:?}) {outcome}; created {target:?}: {}",
        target.exists()
    );
}

// ---------------------------------------------------------------------------------
// Strings

#[test]
fn nul_characters_are_refused_everywhere() {
    let dir = Dir::new("nul");
    let m = open_idle(&dir);
    let job = m.create_job("nul", JobType::Download).unwrap();
    for s in ["\0", "\0start", "mid\0dle", "end\0", "é\0日"] {
        expect_code(
            &format!("create_job({s:?})"),
            m.create_job(s, JobType::Download).map(|_| ()),
            codes::E_INVALIDARG,
        );
        expect_code(
            &format!("set_display_name({s:?})"),
            job.set_display_name(s),
            codes::E_INVALIDARG,
        );
        expect_code(
            &format!("set_description({s:?})"),
            job.set_description(s),
            codes::E_INVALIDARG,
        );
        expect_code(
            &format!("get_job({s:?})"),
            m.get_job(&format!("{}{s}", job.get_id())).map(|_| ()),
            codes::E_INVALIDARG,
        );
    }
    // NUL beyond the length limit is still E_INVALIDARG or STRING_TOO_LONG, never Ok.
    let long_nul = format!("{}\0", "x".repeat(300));
    let e = job.set_display_name(&long_nul).unwrap_err();
    assert!(
        e.code() == codes::E_INVALIDARG || e.code() == codes::STRING_TOO_LONG,
        "{e}"
    );
    assert_eq!(job.get_display_name().unwrap(), "nul");
    assert_eq!(job.get_description().unwrap(), "");
    assert_eq!(m.enum_jobs().unwrap().len(), 1);
}

#[test]
fn length_limits_count_characters_not_bytes() {
    let dir = Dir::new("lengths");
    let m = open_idle(&dir);
    let job = m.create_job("lengths", JobType::Download).unwrap();
    // ASCII, 2-byte, 3-byte and 4-byte characters all count as one.
    for c in ['a', 'é', '日', '🦀'] {
        let ok = c.to_string().repeat(256);
        let long = c.to_string().repeat(257);
        job.set_display_name(&ok).unwrap();
        assert_eq!(job.get_display_name().unwrap(), ok);
        expect_code(
            &format!("set_display_name(257 x {c:?})"),
            job.set_display_name(&long),
            codes::STRING_TOO_LONG,
        );
        assert_eq!(
            job.get_display_name().unwrap(),
            ok,
            "changed by a refused call"
        );
        let created = m.create_job(&ok, JobType::Download).unwrap();
        assert_eq!(created.get_display_name().unwrap(), ok);
        created.cancel().unwrap();
        expect_code(
            &format!("create_job(257 x {c:?})"),
            m.create_job(&long, JobType::Download).map(|_| ()),
            codes::STRING_TOO_LONG,
        );

        let ok = c.to_string().repeat(1024);
        let long = c.to_string().repeat(1025);
        job.set_description(&ok).unwrap();
        assert_eq!(job.get_description().unwrap(), ok);
        expect_code(
            &format!("set_description(1025 x {c:?})"),
            job.set_description(&long),
            codes::STRING_TOO_LONG,
        );
        assert_eq!(
            job.get_description().unwrap(),
            ok,
            "changed by a refused call"
        );
    }
    // Empty strings are fine.
    job.set_description("").unwrap();
    assert_eq!(job.get_description().unwrap(), "");
    // The limits hold across a reopen (the store keeps the whole text).
    let name = "🦀".repeat(256);
    let desc = "日".repeat(1024);
    job.set_display_name(&name).unwrap();
    job.set_description(&desc).unwrap();
    let id = job.get_id();
    drop(m);
    let m = open_idle(&dir);
    let job = m.get_job(&id).unwrap();
    assert_eq!(job.get_display_name().unwrap(), name);
    assert_eq!(job.get_description().unwrap(), desc);
    assert_eq!(
        m.enum_jobs().unwrap().len(),
        1,
        "refused create_job left a job"
    );

    // Huge URLs and paths are refused (not a crash).
    let huge_url = format!("http://127.0.0.1/{}", "a".repeat(100_000));
    let e = job.add_file(&huge_url, &dir.file("h.bin")).unwrap_err();
    assert!(
        e.code() == codes::STRING_TOO_LONG || e.code() == codes::E_INVALIDARG,
        "{e}"
    );
    let huge_path = format!("{}/{}", dir.0.display(), "p".repeat(100_000));
    let e = job.add_file("http://127.0.0.1/x", &huge_path).unwrap_err();
    assert!(
        e.code() == codes::STRING_TOO_LONG || e.code() == codes::E_INVALIDARG,
        "{e}"
    );
    assert!(job.enum_files().unwrap().is_empty());
}

#[test]
fn notify_flags_refuse_every_unknown_bit() {
    let dir = Dir::new("flags");
    let m = open_idle(&dir);
    let job = m.create_job("flags", JobType::Download).unwrap();
    assert_eq!(job.get_notify_flags().unwrap(), notify::DEFAULT);
    assert_eq!(notify::DEFAULT, 0x3);
    for flags in 0..=notify::ALL {
        job.set_notify_flags(flags).unwrap();
        assert_eq!(job.get_notify_flags().unwrap(), flags);
    }
    job.set_notify_flags(0x0B).unwrap();
    for bit in 5..32 {
        for flags in [
            1u32 << bit,
            (1u32 << bit) | 0x0B,
            (1u32 << bit) | notify::ALL,
        ] {
            expect_code(
                &format!("set_notify_flags({flags:#x})"),
                job.set_notify_flags(flags),
                codes::E_INVALIDARG,
            );
        }
    }
    expect_code(
        "set_notify_flags(u32::MAX)",
        job.set_notify_flags(u32::MAX),
        codes::E_INVALIDARG,
    );
    assert_eq!(job.get_notify_flags().unwrap(), 0x0B);
}

// ---------------------------------------------------------------------------------
// Job ids

#[test]
fn get_job_accepts_braces_and_refuses_garbage() {
    let dir = Dir::new("ids");
    let m = open_idle(&dir);
    let job = m.create_job("ids", JobType::Download).unwrap();
    let id = job.get_id();
    assert_eq!(id.len(), 36);
    assert_eq!(id, id.to_lowercase(), "canonical text is lower case");
    for form in [
        id.clone(),
        format!("{{{id}}}"),
        id.to_uppercase(),
        format!("{{{}}}", id.to_uppercase()),
    ] {
        let j = m
            .get_job(&form)
            .unwrap_or_else(|e| panic!("get_job({form:?}): {e}"));
        assert_eq!(j, job);
        assert_eq!(j.get_id(), id);
    }
    let garbage = [
        String::new(),
        " ".into(),
        "{}".into(),
        "not-a-uuid".into(),
        "1234".into(),
        format!("{id}0"),
        format!(" {id}"),
        format!("{id} "),
        format!("{id}\n"),
        id[..35].to_string(),
        id.replace('-', "_"),
        format!("{}g", &id[..35]),
        "{{{}}}".into(),
        "💥".repeat(36),
    ];
    for g in &garbage {
        expect_code(
            &format!("get_job({g:?})"),
            m.get_job(g).map(|_| ()),
            codes::E_INVALIDARG,
        );
    }
    for unknown in [
        "00000000-0000-0000-0000-000000000000".to_string(),
        "ffffffff-ffff-ffff-ffff-ffffffffffff".to_string(),
        format!("{{{}}}", uuid_like(&id)),
    ] {
        expect_code(
            &format!("get_job({unknown:?})"),
            m.get_job(&unknown).map(|_| ()),
            codes::NOT_FOUND,
        );
    }
}

/// A UUID differing from `id` in its last digit.
fn uuid_like(id: &str) -> String {
    let last = id.chars().last().unwrap();
    let other = if last == '0' { '1' } else { '0' };
    format!("{}{other}", &id[..35])
}

#[test]
fn get_job_refuses_unbalanced_braces() {
    let dir = Dir::new("ids-braces");
    let m = open_idle(&dir);
    let id = m.create_job("ids", JobType::Download).unwrap().get_id();
    for g in [
        format!("{{{id}"),
        format!("{id}}}"),
        format!("{{{{{id}}}}}"),
        format!("}}{id}{{"),
    ] {
        expect_code(
            &format!("get_job({g:?})"),
            m.get_job(&g).map(|_| ()),
            codes::E_INVALIDARG,
        );
    }
}

// ---------------------------------------------------------------------------------
// add_file_set

#[test]
fn add_file_set_empty_is_a_no_op_success() {
    // Decision (documented here): an empty list is a successful no-op, like appending
    // nothing; it does not change the files or the state. resume() still says EMPTY.
    let dir = Dir::new("set-empty");
    let m = open_idle(&dir);
    let job = m.create_job("set-empty", JobType::Download).unwrap();
    job.add_file_set::<&str, &str>(&[]).unwrap();
    job.add_file_set(&Vec::<(String, String)>::new()).unwrap();
    assert!(job.enum_files().unwrap().is_empty());
    assert_eq!(job.get_state().unwrap(), JobState::Suspended);
    let p = job.get_progress().unwrap();
    assert_eq!((p.files_total, p.bytes_total), (0, 0));
    expect_code("resume", job.resume(), codes::EMPTY);
    assert_eq!(job.get_state().unwrap(), JobState::Suspended);

    job.add_file("http://127.0.0.1:9/f/a", &dir.file("a.bin"))
        .unwrap();
    job.add_file_set::<&str, &str>(&[]).unwrap();
    assert_eq!(job.enum_files().unwrap().len(), 1);
}

/// (what, the set, the expected code)
type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, u32);

#[test]
fn add_file_set_partial_failure_leaves_the_job_unchanged() {
    let dir = Dir::new("set-partial");
    let m = open_idle(&dir);
    let job = m.create_job("set-partial", JobType::Download).unwrap();
    let good = "http://127.0.0.1:9/f/good";
    let existing = dir.file("existing.bin");
    job.add_file(good, &existing).unwrap();
    std::thread::sleep(Duration::from_millis(5)); // a later change would bump the time
    let before = snapshot(&job);
    let new1 = dir.file("new1.bin");
    let new2 = dir.file("new2.bin");
    let long_url = format!("http://127.0.0.1/{}", "u".repeat(100_000));
    let missing_dir = dir.file("no/such/dir/x.bin");
    let cases: Vec<Case> = vec![
        (
            "bad scheme second",
            vec![(good, &new1), ("ftp://h/x", &new2)],
            codes::E_INVALIDARG,
        ),
        (
            "bad scheme first",
            vec![("ftp://h/x", &new1), (good, &new2)],
            codes::E_INVALIDARG,
        ),
        (
            "relative path last",
            vec![(good, &new1), (good, &new2), (good, "rel.bin")],
            codes::E_INVALIDARG,
        ),
        (
            "missing directory",
            vec![(good, &new1), (good, &missing_dir)],
            codes::E_INVALIDARG,
        ),
        (
            "duplicate inside the set",
            vec![(good, &new1), (good, &new1)],
            codes::E_INVALIDARG,
        ),
        (
            "duplicate of a job file",
            vec![(good, &new1), (good, &existing)],
            codes::E_INVALIDARG,
        ),
        (
            "CR/LF in the URL",
            vec![(good, &new1), ("http://h/x\r\nX: y", &new2)],
            codes::E_INVALIDARG,
        ),
        (
            "NUL in a path",
            vec![(good, &new1), (good, "/tmp/a\0b")],
            codes::E_INVALIDARG,
        ),
        (
            "URL too long",
            vec![(good, &new1), (&long_url, &new2)],
            codes::STRING_TOO_LONG,
        ),
    ];
    for (what, set, code) in &cases {
        expect_code(what, job.add_file_set(set), *code);
        assert_eq!(snapshot(&job), before, "{what} changed the job");
    }
    // Still unchanged after a reopen (nothing half-written to the store).
    let id = job.get_id();
    drop(m);
    let m = open_idle(&dir);
    let job = m.get_job(&id).unwrap();
    let after = snapshot(&job);
    assert_eq!(after.files, before.files);
    assert_eq!(after.progress, before.progress);
    // And a good set still goes in, in order.
    job.add_file_set(&[(good, new1.as_str()), (good, new2.as_str())])
        .unwrap();
    let locals: Vec<String> = job
        .enum_files()
        .unwrap()
        .iter()
        .map(|f| f.get_local_name().unwrap())
        .collect();
    assert_eq!(locals, vec![existing, new1, new2]);
}

// ---------------------------------------------------------------------------------
// Numbers

#[test]
fn numbers_at_their_limits_are_accepted() {
    let dir = Dir::new("numbers");
    let m = open_idle(&dir);
    let job = m.create_job("numbers", JobType::Download).unwrap();
    for v in [0, 1, u32::MAX] {
        job.set_no_progress_timeout(v).unwrap();
        assert_eq!(job.get_no_progress_timeout().unwrap(), v);
        job.set_minimum_retry_delay(v).unwrap();
        assert_eq!(job.get_minimum_retry_delay().unwrap(), v);
    }
    for p in Priority::ALL {
        job.set_priority(*p).unwrap();
        assert_eq!(job.get_priority().unwrap(), *p);
    }
    // Reserved job types are E_NOTIMPL, not a crash.
    for t in [JobType::Upload, JobType::UploadReply] {
        expect_code(
            &format!("create_job({t})"),
            m.create_job("t", t).map(|_| ()),
            codes::E_NOTIMPL,
        );
    }
    assert_eq!(job.wait(Some(Duration::ZERO)).unwrap(), JobState::Suspended);
    assert_eq!(
        job.wait(Some(Duration::from_millis(1))).unwrap(),
        JobState::Suspended
    );
}

#[test]
fn wait_with_a_huge_timeout_does_not_panic() {
    let dir = Dir::new("wait-huge");
    let m = open_idle(&dir);
    let done = m.create_job("done", JobType::Download).unwrap();
    done.cancel().unwrap();
    for t in [Duration::MAX, Duration::from_secs(u64::MAX / 2)] {
        let r = catch_unwind(AssertUnwindSafe(|| done.wait(Some(t))));
        match r {
            Ok(s) => assert_eq!(s.unwrap(), JobState::Cancelled),
            Err(_) => panic!("wait(Some({t:?})) panicked"),
        }
    }
    // On a live job it blocks until the job ends.
    let job = m.create_job("live", JobType::Download).unwrap();
    let j = job.clone();
    let waiter = std::thread::spawn(move || j.wait(Some(Duration::MAX)));
    std::thread::sleep(Duration::from_millis(100));
    job.cancel().unwrap();
    let r = waiter.join().expect("wait(Some(Duration::MAX)) panicked");
    assert_eq!(r.unwrap(), JobState::Cancelled);
}

// ---------------------------------------------------------------------------------
// Codes

#[test]
fn codes_are_distinct_and_symbols_round_trip() {
    let all = codes::ALL;
    let mut values = all.to_vec();
    values.sort_unstable();
    values.dedup();
    assert_eq!(
        values.len(),
        all.len(),
        "duplicate code values in codes::ALL"
    );
    let mut symbols: Vec<String> = all.iter().map(|c| codes::symbol(*c)).collect();
    symbols.sort();
    symbols.dedup();
    assert_eq!(symbols.len(), all.len(), "duplicate symbols");
    for &c in all {
        let s = codes::symbol(c);
        assert!(!s.is_empty() && !s.starts_with("0x"), "{c:#x} has no name");
        assert!(
            s.chars()
                .all(|ch| ch.is_ascii_uppercase() || ch.is_ascii_digit() || ch == '_'),
            "{s}"
        );
        assert_eq!(codes::from_symbol(&s), Some(c), "{s}");
        assert_eq!(Error::new(c, "m").symbol(), s);
        // No named code falls in the HTTP range (its symbol would be ambiguous).
        assert!(!(codes::http(100)..=codes::http(999)).contains(&c), "{s}");
    }
    // docs/spec.md §2 values, and the §6 names of the E_ codes.
    for (name, value) in [
        ("NOT_FOUND", 0x8020_0001u32),
        ("INVALID_STATE", 0x8020_0002),
        ("EMPTY", 0x8020_0003),
        ("FILE_NOT_AVAILABLE", 0x8020_0004),
        ("PROTOCOL_NOT_AVAILABLE", 0x8020_0005),
        ("ERROR_INFORMATION_UNAVAILABLE", 0x8020_000F),
        ("MISSING_FILE_SIZE", 0x8020_0011),
        ("INSUFFICIENT_RANGE_SUPPORT", 0x8020_0013),
        ("PARTIAL_COMPLETE", 0x0020_0017),
        ("INVALID_SERVER_RESPONSE", 0x8020_001B),
        ("STRING_TOO_LONG", 0x8020_0021),
        ("NO_PROGRESS", 0x8020_0024),
        ("CONNECT_FAILURE", 0x8020_002D),
        ("CONNECTION_CLOSED", 0x8020_002E),
        ("VALIDATION_FAILED", 0x8020_0053),
        ("REMOTE_FILE_CHANGED", 0x8020_0073),
        ("INVALID_ARG", 0x8007_0057),
        ("NOT_IMPLEMENTED", 0x8000_4001),
        ("UNEXPECTED", 0x8000_FFFF),
    ] {
        assert_eq!(codes::from_symbol(name), Some(value), "{name}");
        assert_eq!(codes::symbol(value), name);
        assert!(all.contains(&value), "{name} missing from codes::ALL");
    }
    assert!(all.contains(&codes::S_OK));
    // PARTIAL_COMPLETE is a success HRESULT; every other non-zero code is a failure.
    for &c in all {
        let success = c == codes::S_OK || c == codes::PARTIAL_COMPLETE;
        assert_eq!((c as i32) >= 0, success, "{}", codes::symbol(c));
    }
    assert_eq!(bgcopy::Completion::All.code(), codes::S_OK);
    assert_eq!(bgcopy::Completion::Partial.code(), codes::PARTIAL_COMPLETE);

    // HTTP statuses.
    assert_eq!(codes::http(404), 0x8019_0194);
    assert_eq!(codes::symbol(0x8019_0194), "HTTP_404");
    assert_eq!(codes::from_symbol("HTTP_404"), Some(0x8019_0194));
    for s in 100..=999u16 {
        let c = codes::http(s);
        assert_eq!(c, 0x8019_0000 + s as u32);
        assert_eq!(codes::symbol(c), format!("HTTP_{s}"));
        assert_eq!(codes::from_symbol(&format!("HTTP_{s}")), Some(c));
    }
    for bad in [
        "HTTP_99",
        "HTTP_1000",
        "HTTP_",
        "HTTP_x",
        "NOPE",
        "",
        "invalid_state",
    ] {
        assert_eq!(codes::from_symbol(bad), None, "{bad:?}");
    }
    // Any u32 survives symbol -> from_symbol (unnamed ones as 0x…).
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    for _ in 0..20_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let c = x as u32;
        assert_eq!(codes::from_symbol(&codes::symbol(c)), Some(c), "{c:#x}");
    }
}

#[test]
fn spellings_of_the_same_local_path_are_duplicates() {
    let dir = Dir::new("dup-spelling");
    std::fs::create_dir_all(dir.0.join("sub")).unwrap();
    let m = open_idle(&dir);
    let job = m.create_job("dup", JobType::Download).unwrap();
    let url = "http://127.0.0.1:9/f/x";
    let base = dir.0.display().to_string();
    job.add_file(url, &format!("{base}/a.bin")).unwrap();
    for other in [format!("{base}//a.bin"), format!("{base}/./a.bin")] {
        expect_code(
            &format!("add_file({other:?})"),
            job.add_file(url, &other),
            codes::E_INVALIDARG,
        );
    }
    assert_eq!(job.enum_files().unwrap().len(), 1);
}

#[test]
fn dot_dot_spelling_of_a_local_path_is_a_duplicate() {
    let dir = Dir::new("dup-dotdot");
    std::fs::create_dir_all(dir.0.join("sub")).unwrap();
    let m = open_idle(&dir);
    let job = m.create_job("dup", JobType::Download).unwrap();
    let url = "http://127.0.0.1:9/f/x";
    let base = dir.0.display().to_string();
    job.add_file(url, &format!("{base}/a.bin")).unwrap();
    let other = format!("{base}/sub/../a.bin");
    expect_code(
        &format!("add_file({other:?})"),
        job.add_file(url, &other),
        codes::E_INVALIDARG,
    );
    assert_eq!(job.enum_files().unwrap().len(), 1);
}

/// A local path that names a directory (itself, or through a link) is refused, also
/// after other files of the same folder in one `add_file_set`; a link to a file, or a
/// name nothing holds yet, is a file.
#[test]
fn a_local_path_naming_a_directory_is_refused() {
    let dir = Dir::new("local-is-dir");
    std::fs::create_dir_all(dir.0.join("sub")).unwrap();
    std::os::unix::fs::symlink(dir.0.join("sub"), dir.0.join("to-sub")).unwrap();
    std::fs::write(dir.0.join("plain"), b"x").unwrap();
    std::os::unix::fs::symlink(dir.0.join("plain"), dir.0.join("to-plain")).unwrap();
    let m = open_idle(&dir);
    let job = m.create_job("dirs", JobType::Download).unwrap();
    let url = "http://127.0.0.1:9/f/x";
    let base = dir.0.display().to_string();
    for name in ["sub", "to-sub"] {
        let set = [
            (url.to_string(), format!("{base}/a.bin")),
            (url.to_string(), format!("{base}/{name}")),
        ];
        expect_code(
            &format!("add_file_set(.., {name})"),
            job.add_file_set(&set),
            codes::E_INVALIDARG,
        );
        let e = job.add_file(url, &format!("{base}/{name}")).unwrap_err();
        assert!(e.message().contains("is a directory"), "{name}: {e}");
    }
    assert_eq!(job.enum_files().unwrap().len(), 0);
    let set = [
        (url.to_string(), format!("{base}/a.bin")),
        (url.to_string(), format!("{base}/to-plain")),
        (url.to_string(), format!("{base}/sub/b.bin")),
    ];
    job.add_file_set(&set).unwrap();
    assert_eq!(job.enum_files().unwrap().len(), 3);

    // A large set (its folders' names are read once), and one whose folder holds more
    // names than are worth reading (each is asked about).
    let big = dir.0.join("big");
    std::fs::create_dir(&big).unwrap();
    std::fs::create_dir(big.join("d")).unwrap();
    std::os::unix::fs::symlink(big.join("d"), big.join("to-d")).unwrap();
    for i in 0..4200 {
        std::fs::write(big.join(format!("old{i}")), b"").unwrap();
    }
    for folder in [dir.0.clone(), big.clone()] {
        let job = m.create_job("many", JobType::Download).unwrap();
        let folder = folder.display().to_string();
        let many = |last: &str| -> Vec<(String, String)> {
            (0..99)
                .map(|i| (url.to_string(), format!("{folder}/n{i}.bin")))
                .chain([(url.to_string(), format!("{folder}/{last}"))])
                .collect()
        };
        let dirs: &[&str] = if folder.ends_with("big") {
            &["d", "to-d"]
        } else {
            &["sub", "to-sub"]
        };
        for name in dirs {
            expect_code(
                &format!("add_file_set(100 in {folder}, {name})"),
                job.add_file_set(&many(name)),
                codes::E_INVALIDARG,
            );
        }
        let file = if folder.ends_with("big") {
            "old7"
        } else {
            "to-plain"
        };
        job.add_file_set(&many(file)).unwrap();
        assert_eq!(job.enum_files().unwrap().len(), 100);
    }
}

/// Manager options no manager can run with are refused by the core itself, for every
/// binding alike.
#[test]
fn unusable_manager_options_are_invalid_arg() {
    let d = Dir::new("options");
    let tweaks: Vec<fn(&mut ManagerOptions)> = vec![
        |o| o.background_slots = 0,
        |o| o.background_slots = 1025,
        |o| o.connections_per_job = 0,
        |o| o.connections_per_job = usize::MAX,
        |o| o.read_timeout = Duration::ZERO,
        |o| o.connect_timeout = Duration::ZERO,
        |o| o.background_bandwidth_limit = Some(0),
        |o| o.user_agent = "agent\r\nInjected: yes".into(),
    ];
    for (i, tweak) in tweaks.into_iter().enumerate() {
        let mut o = ManagerOptions::default();
        tweak(&mut o);
        let e = CopyManager::open_with(Some(&d.state()), o).unwrap_err();
        assert_eq!(e.code(), codes::E_INVALIDARG, "tweak {i}: {e}");
    }
    // The defaults and the edges of the ranges open.
    let mut o = ManagerOptions::default();
    o.background_slots = 1024;
    o.connections_per_job = 1;
    CopyManager::open_with(Some(&d.state()), o).unwrap();
}
