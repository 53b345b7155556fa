//! Threat: the machine itself: a full state or data disk, a crash (SIGKILL) at every
//! step of `complete()`. A job's files are placed once and never downloaded again; a
//! change the store could not record is reported, never silently lost.

use bgcopy::{Completion, CopyManager, ErrorContext, JobState, JobType, ManagerOptions, codes};
use bgcopy_hostile_tests::*;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn opts() -> ManagerOptions {
    let mut o = ManagerOptions::default();
    o.checkpoint_interval = Duration::from_millis(50);
    o
}

/// Empty the store's WAL into the database and truncate it to 0 bytes (from a second
/// connection, as another process could): the next commit has to grow the file.
fn truncate_wal(state: &Path) {
    let c = rusqlite::Connection::open(state.join("bgcopy.db")).unwrap();
    c.busy_timeout(Duration::from_secs(5)).unwrap();
    let _: (i64, i64, i64) = c
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .unwrap();
}

fn temps_in(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".bgcopy-part"))
        .collect()
}

/// With the state disk full, `complete()` fails with DISK_FULL before anything is
/// moved; the job stays TRANSFERRED; with space back it completes. Opening a full
/// store reports DISK_FULL (or works), never IO_ERROR.
#[test]
fn complete_on_a_full_state_disk_moves_nothing() {
    let d = ScratchDir::new("fullstate");
    let Some(fs) = Tmpfs::mount(&d.0.join("statefs"), 4 << 20) else {
        skip("full state disk: needs root to mount a tmpfs");
        return;
    };
    let state = fs.0.join("state");
    let m = CopyManager::open_with(Some(&state), opts()).unwrap();
    let job = m.create_job("full", JobType::Download).unwrap();
    let url = shared_origin().url("fullstate", "size=300000");
    job.add_file(&url, &d.file("a.bin")).unwrap();
    job.add_file(&url, &d.file("b.bin")).unwrap();
    job.resume().unwrap();
    assert_eq!(
        job.wait(Some(Duration::from_secs(30))).unwrap(),
        JobState::Transferred
    );
    truncate_wal(&state);
    fs.fill();
    let e = job.complete().unwrap_err();
    assert_eq!(e.code(), codes::DISK_FULL, "{e}");
    assert!(
        !d.0.join("a.bin").exists() && !d.0.join("b.bin").exists(),
        "nothing moved"
    );
    assert_eq!(job.get_state().unwrap(), JobState::Transferred);
    let id = job.get_id();
    drop(m);
    // Another process opening the full store.
    let o = bgcopy(&state, &["list"]);
    assert!(
        o.status.success() || text(&o).contains("DISK_FULL"),
        "{}",
        text(&o)
    );
    assert!(!text(&o).contains("IO_ERROR"), "{}", text(&o));
    fs.unfill();
    let m = CopyManager::open_with(Some(&state), opts()).unwrap();
    let job = m.get_job(&id).unwrap();
    assert_eq!(job.get_state().unwrap(), JobState::Transferred);
    assert_eq!(job.complete().unwrap(), Completion::All);
    for n in ["a.bin", "b.bin"] {
        assert_eq!(std::fs::read(d.0.join(n)).unwrap(), content(300_000, 0));
    }
}

/// `list` on a full state disk once failed with IO_ERROR: it works, or says DISK_FULL.
#[test]
fn listing_a_store_on_a_full_disk_never_says_io_error() {
    let d = ScratchDir::new("fulllist");
    let Some(fs) = Tmpfs::mount(&d.0.join("statefs"), 4 << 20) else {
        skip("list on a full disk: needs root to mount a tmpfs");
        return;
    };
    let state = fs.0.join("state");
    {
        let m = CopyManager::open(Some(&state)).unwrap();
        let job = m.create_job("listed", JobType::Download).unwrap();
        job.add_file(
            &shared_origin().url("fulllist", "size=10"),
            &d.file("l.bin"),
        )
        .unwrap();
    }
    fs.fill();
    let o = bgcopy(&state, &["list"]);
    eprintln!("list on a full disk: {}", text(&o));
    assert!(
        (o.status.success() && String::from_utf8_lossy(&o.stdout).contains("listed"))
            || text(&o).contains("DISK_FULL"),
        "{}",
        text(&o)
    );
}

/// A fresh store on a full disk: DISK_FULL, not IO_ERROR.
#[test]
fn opening_a_store_on_a_full_disk_is_disk_full() {
    let d = ScratchDir::new("fullopen");
    let Some(fs) = Tmpfs::mount(&d.0.join("fs"), 1 << 20) else {
        skip("full disk at open: needs root to mount a tmpfs");
        return;
    };
    fs.fill();
    let e = CopyManager::open(Some(&fs.0.join("state"))).unwrap_err();
    assert_eq!(e.code(), codes::DISK_FULL, "{e}");
}

/// A checkpoint the store cannot record is an error the job reports (TRANSIENT_ERROR
/// with DISK_FULL, context GENERAL_QUEUE_MANAGER), retried once there is space.
#[test]
fn a_checkpoint_that_cannot_be_recorded_is_reported_and_retried() {
    let d = ScratchDir::new("fullckpt");
    let Some(fs) = Tmpfs::mount(&d.0.join("statefs"), 4 << 20) else {
        skip("checkpoint on a full state disk: needs root to mount a tmpfs");
        return;
    };
    let state = fs.0.join("state");
    let m = CopyManager::open_with(Some(&state), opts()).unwrap();
    let job = m.create_job("ckpt", JobType::Download).unwrap();
    job.add_file(
        &shared_origin().url("fullckpt", "size=3000000&rate=1000000"),
        &d.file("c.bin"),
    )
    .unwrap();
    job.set_minimum_retry_delay(1).unwrap();
    job.resume().unwrap();
    wait_until(20, "bytes move", || {
        job.get_progress().unwrap().bytes_transferred > 200_000
    });
    truncate_wal(&state);
    fs.fill();
    wait_until(20, "TRANSIENT_ERROR", || {
        job.get_state().unwrap() == JobState::TransientError
    });
    let e = job.get_error().unwrap();
    assert_eq!(
        e.get_error(),
        (ErrorContext::GeneralQueueManager, codes::DISK_FULL),
        "{}",
        e.get_error_description()
    );
    fs.unfill();
    assert_eq!(
        job.wait(Some(Duration::from_secs(60))).unwrap(),
        JobState::Transferred
    );
    job.complete().unwrap();
    assert_eq!(
        std::fs::read(d.0.join("c.bin")).unwrap(),
        content(3_000_000, 0)
    );
}

/// The data disk full: a LOCAL_FILE DISK_FULL error (fatal), the store unharmed.
#[test]
fn a_full_data_disk_is_a_local_file_error() {
    let d = ScratchDir::new("fulldata");
    let Some(fs) = Tmpfs::mount(&d.0.join("datafs"), 1 << 20) else {
        skip("full data disk: needs root to mount a tmpfs");
        return;
    };
    let m = CopyManager::open_with(Some(&d.state()), opts()).unwrap();
    let job = m.create_job("data", JobType::Download).unwrap();
    job.add_file(
        &shared_origin().url("fulldata", "size=3000000"),
        fs.0.join("big.bin").to_str().unwrap(),
    )
    .unwrap();
    job.resume().unwrap();
    assert_eq!(
        job.wait(Some(Duration::from_secs(30))).unwrap(),
        JobState::Error
    );
    let e = job.get_error().unwrap();
    assert_eq!(
        e.get_error(),
        (ErrorContext::LocalFile, codes::DISK_FULL),
        "{}",
        e.get_error_description()
    );
    job.cancel().unwrap();
    assert!(temps_in(&fs.0).is_empty());
}

/// A full data disk does not stop `complete()`: moving a file into place needs no
/// space, and nothing is lost.
#[test]
fn complete_on_a_full_data_disk_places_every_file() {
    let d = ScratchDir::new("fulldatacomplete");
    let Some(fs) = Tmpfs::mount(&d.0.join("datafs"), 2 << 20) else {
        skip("complete on a full data disk: needs root to mount a tmpfs");
        return;
    };
    let m = CopyManager::open_with(Some(&d.state()), opts()).unwrap();
    let job = m.create_job("data", JobType::Download).unwrap();
    let url = shared_origin().url("fulldatacomplete", "size=300000");
    job.add_file(&url, fs.0.join("x.bin").to_str().unwrap())
        .unwrap();
    job.add_file(&url, fs.0.join("y.bin").to_str().unwrap())
        .unwrap();
    job.resume().unwrap();
    assert_eq!(
        job.wait(Some(Duration::from_secs(30))).unwrap(),
        JobState::Transferred
    );
    fs.fill();
    assert_eq!(job.complete().unwrap(), Completion::All);
    for n in ["x.bin", "y.bin"] {
        assert_eq!(std::fs::read(fs.0.join(n)).unwrap(), content(300_000, 0));
    }
    assert!(temps_in(&fs.0).is_empty());
}

/// Two done files and one partial, downloaded by a manager that is then closed.
/// Returns (job id, request counts of the three names).
fn prepared(d: &ScratchDir, tag: &str) -> String {
    let o = shared_origin();
    let mut opts = opts();
    // The stalled transfer lets go of the directory within a second of close().
    opts.read_timeout = Duration::from_millis(500);
    let m = CopyManager::open_with(Some(&d.state()), opts).unwrap();
    let job = m.create_job(tag, JobType::Download).unwrap();
    job.add_file(
        &o.url(&format!("{tag}-1"), "size=200000"),
        &d.file("one.bin"),
    )
    .unwrap();
    job.add_file(
        &o.url(&format!("{tag}-2"), "size=300000"),
        &d.file("two.bin"),
    )
    .unwrap();
    job.add_file(
        &o.url(&format!("{tag}-3"), "size=400000&stall_at=100000"),
        &d.file("three.bin"),
    )
    .unwrap();
    job.resume().unwrap();
    wait_until(30, "two files done, one partial", || {
        let p = job.get_progress().unwrap();
        p.files_transferred == 2 && p.bytes_transferred >= 500_000 + 100_000
    });
    job.suspend().unwrap();
    let id = job.get_id();
    drop(m);
    id
}

fn requests(tag: &str) -> Vec<u64> {
    (1..=3)
        .map(|i| {
            shared_origin().stats(&format!("{tag}-{i}"))["requests"]
                .as_u64()
                .unwrap()
        })
        .collect()
}

/// SIGKILL at each step of `complete()`: the next open finishes it. Files are in
/// place, identical, never fetched again; no temporary file is left; a file the user
/// edited after it was placed is not overwritten.
#[test]
fn a_crash_at_any_step_of_complete_is_finished_by_the_next_open() {
    for (i, point) in [
        "complete:after-intent",
        "complete:after-first-rename",
        "complete:after-renames",
    ]
    .into_iter()
    .enumerate()
    {
        let d = ScratchDir::new(&format!("crash{i}"));
        let tag = format!("crash{i}");
        let id = prepared(&d, &tag);
        let before = requests(&tag);
        let o = bgcopy_env(
            &d.state(),
            &["complete", &id],
            &[("BGCOPY_CRASH_AT", point)],
        );
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            o.status.signal(),
            Some(9),
            "{point}: killed there: {}",
            text(&o)
        );
        // The user edits a file that was already placed.
        let one = d.0.join("one.bin");
        let edited = one.exists();
        if edited {
            std::fs::write(&one, b"edited by the user").unwrap();
        }
        // The next open (any command) finishes the job.
        let o = bgcopy(&d.state(), &["list", "--json"]);
        assert!(o.status.success(), "{point}: {}", text(&o));
        let list: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(
            list.as_array().unwrap().len(),
            0,
            "{point}: job finished: {list}"
        );
        if edited {
            assert_eq!(
                std::fs::read(&one).unwrap(),
                b"edited by the user",
                "{point}"
            );
        } else {
            assert_eq!(std::fs::read(&one).unwrap(), content(200_000, 0), "{point}");
        }
        assert_eq!(
            std::fs::read(d.0.join("two.bin")).unwrap(),
            content(300_000, 0),
            "{point}"
        );
        assert!(
            !d.0.join("three.bin").exists(),
            "{point}: the partial file is dropped"
        );
        assert!(temps_in(&d.0).is_empty(), "{point}: {:?}", temps_in(&d.0));
        // Reopening again changes nothing and fetches nothing.
        let m = CopyManager::open(Some(&d.state())).unwrap();
        assert!(m.enum_jobs().unwrap().is_empty());
        drop(m);
        assert_eq!(requests(&tag), before, "{point}: nothing downloaded again");
    }
}

/// A rename that fails in `complete()` leaves the job TRANSFERRED with its files
/// intact (those moved are completed); the next `complete()` finishes.
#[test]
fn a_failed_rename_leaves_the_job_transferred_and_retry_works() {
    let d = ScratchDir::new("renamefail");
    let o = shared_origin();
    let m = CopyManager::open_with(Some(&d.state()), opts()).unwrap();
    let job = m.create_job("rename", JobType::Download).unwrap();
    job.add_file(&o.url("renamefail-1", "size=100000"), &d.file("one.bin"))
        .unwrap();
    job.add_file(&o.url("renamefail-2", "size=100000"), &d.file("two.bin"))
        .unwrap();
    job.resume().unwrap();
    assert_eq!(
        job.wait(Some(Duration::from_secs(30))).unwrap(),
        JobState::Transferred
    );
    // A non-empty directory where file two must go: rename(2) refuses (even as root).
    std::fs::create_dir_all(d.0.join("two.bin/blocker")).unwrap();
    let e = job.complete().unwrap_err();
    assert_ne!(e.code(), codes::S_OK);
    assert_eq!(job.get_state().unwrap(), JobState::Transferred);
    let files = job.enum_files().unwrap();
    assert!(files[0].get_progress().unwrap().completed);
    assert!(!files[1].get_progress().unwrap().completed);
    assert!(Path::new(&files[1].get_temporary_name().unwrap()).exists());
    std::fs::remove_dir_all(d.0.join("two.bin")).unwrap();
    assert_eq!(job.complete().unwrap(), Completion::All);
    for n in ["one.bin", "two.bin"] {
        assert_eq!(std::fs::read(d.0.join(n)).unwrap(), content(100_000, 0));
    }
    assert!(temps_in(&d.0).is_empty());
}
