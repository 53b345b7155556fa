//! Threat: a local attacker who can write a destination directory (or who planted
//! something there) tries to make bgcopy follow a link, write or truncate a file it
//! did not create, or delete another program's files.

use bgcopy::{CopyManager, ErrorContext, JobState, JobType, ManagerOptions, codes};
use bgcopy_hostile_tests::*;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

fn opts(transfers: bool) -> ManagerOptions {
    let mut o = ManagerOptions::default();
    o.checkpoint_interval = Duration::from_millis(100);
    o.start_transfers = transfers;
    o
}

fn open(state: &Path) -> CopyManager {
    CopyManager::open_with(Some(state), opts(true)).unwrap()
}

/// A 2 MB file only root may read, the attacker's target.
fn victim(dir: &Path) -> (PathBuf, Vec<u8>) {
    let p = dir.join("victim.secret");
    let bytes = vec![0x5A; 2_000_000];
    std::fs::write(&p, &bytes).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    (p, bytes)
}

/// A job suspended halfway through a slow download; the manager is closed.
/// Returns (job id, temporary file, URL).
fn partial(state: &Path, dir: &Path, name: &str) -> (String, PathBuf, String) {
    let url = shared_origin().url(name, "size=2000000&rate=1000000");
    let m = open(state);
    let job = m.create_job(name, JobType::Download).unwrap();
    job.add_file(&url, dir.join(name).to_str().unwrap())
        .unwrap();
    job.resume().unwrap();
    wait_until(30, "half the bytes", || {
        job.get_progress().unwrap().bytes_transferred > 300_000
    });
    job.suspend().unwrap();
    let temp = PathBuf::from(job.enum_files().unwrap()[0].get_temporary_name().unwrap());
    let id = job.get_id();
    drop(m);
    assert!(temp.exists(), "the partial file exists");
    (id, temp, url)
}

fn replace_with_link(temp: &Path, target: &Path) {
    std::fs::remove_file(temp).unwrap();
    std::os::unix::fs::symlink(target, temp).unwrap();
}

#[track_caller]
fn assert_access_denied(job: &bgcopy::CopyJob) {
    assert_eq!(job.get_state().unwrap(), JobState::Error);
    let e = job.get_error().unwrap();
    assert_eq!(
        e.get_error(),
        (ErrorContext::LocalFile, codes::ACCESS_DENIED),
        "{}",
        e.get_error_description()
    );
    assert_eq!(e.get_file().unwrap().index(), 0);
}

#[test]
fn temp_names_cannot_be_predicted() {
    let d = ScratchDir::new("names");
    let m = open(&d.state());
    let job = m.create_job("names", JobType::Download).unwrap();
    let url = shared_origin().url("names", "size=10");
    job.add_file(&url, &d.file("a.bin")).unwrap();
    job.add_file(&url, &d.file("b.bin")).unwrap();
    let names: Vec<String> = job
        .enum_files()
        .unwrap()
        .iter()
        .map(|f| f.get_temporary_name().unwrap())
        .collect();
    let id = job.get_id().replace('-', "");
    for n in &names {
        assert!(!n.contains(&id), "{n} holds the job id");
        assert!(n.ends_with(".bgcopy-part"), "{n}");
        let random = n.rsplit('.').nth(1).unwrap();
        assert_eq!(random.len(), 32, "{n}: 128 random bits");
    }
    assert_ne!(
        names[0].rsplit('.').nth(1),
        names[1].rsplit('.').nth(1),
        "every file has its own random part"
    );
}

#[test]
fn a_link_planted_at_the_temp_name_is_never_followed() {
    let d = ScratchDir::new("planted");
    let (victim, secret) = victim(&d.0);
    let m = open(&d.state());
    let job = m.create_job("planted", JobType::Download).unwrap();
    job.add_file(
        &shared_origin().url("planted", "size=300000"),
        &d.file("out.bin"),
    )
    .unwrap();
    let temp = PathBuf::from(job.enum_files().unwrap()[0].get_temporary_name().unwrap());
    std::os::unix::fs::symlink(&victim, &temp).unwrap();
    job.resume().unwrap();
    assert_eq!(
        job.wait(Some(Duration::from_secs(30))).unwrap(),
        JobState::Error
    );
    assert_access_denied(&job);
    assert_eq!(std::fs::read(&victim).unwrap(), secret, "victim untouched");
    assert_eq!(
        std::fs::read_link(&temp).unwrap(),
        victim,
        "the link is left alone"
    );
    // resume() starts over under a new name.
    let new_temp = job.enum_files().unwrap()[0].get_temporary_name().unwrap();
    assert_ne!(PathBuf::from(&new_temp), temp);
    job.resume().unwrap();
    assert_eq!(
        job.wait(Some(Duration::from_secs(30))).unwrap(),
        JobState::Transferred
    );
    job.complete().unwrap();
    let out = d.0.join("out.bin");
    assert!(
        std::fs::symlink_metadata(&out)
            .unwrap()
            .file_type()
            .is_file()
    );
    assert_eq!(std::fs::read(&out).unwrap(), content(300_000, 0));
    assert_eq!(std::fs::read(&victim).unwrap(), secret);
}

/// The reported attack: another user who can write the destination directory plants
/// links at the temporary names it can predict (and, as the worst case, at the exact
/// name); root's download never writes through them.
#[test]
fn another_user_cannot_make_root_write_through_a_link() {
    let d = ScratchDir::new("crossuser");
    let Some(_) = as_nobody("true") else {
        skip("cross-user temp-file attack: needs root and setpriv (same-user variant runs)");
        return;
    };
    let shared = d.0.join("shared");
    std::fs::create_dir(&shared).unwrap();
    // A folder every user may write (no sticky bit), like a misconfigured share.
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
    let private = d.0.join("private");
    std::fs::create_dir(&private).unwrap();
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o711)).unwrap();
    let (victim, secret) = victim(&private);

    let m = open(&d.state());
    let job = m.create_job("crossuser", JobType::Download).unwrap();
    for i in 0..9 {
        let params = if i == 0 {
            "size=400000&rate=400000"
        } else {
            "size=200000"
        };
        job.add_file(
            &shared_origin().url(&format!("crossuser-{i}"), params),
            shared.join(format!("f{i}.bin")).to_str().unwrap(),
        )
        .unwrap();
    }
    // The worst case: the attacker knows file 8's exact temporary name.
    let exact = job.enum_files().unwrap()[8].get_temporary_name().unwrap();
    let plant = |at: &str| {
        as_nobody("ln")
            .unwrap()
            .args(["-s", victim.to_str().unwrap(), at])
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap()
            .success()
    };
    assert!(plant(&exact), "nobody can write the shared folder");
    assert_eq!(
        std::fs::symlink_metadata(&exact).unwrap().uid(),
        65534,
        "planted by nobody"
    );
    job.resume().unwrap();
    // As soon as any temporary file shows up, plant links at every name derived from
    // it the way the old naming scheme allowed (`.<name>.<job id>-<idx>.bgcopy-part`).
    wait_until(30, "a temporary file", || {
        std::fs::read_dir(&shared)
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().ends_with(".bgcopy-part"))
    });
    let jid = job.get_id().replace('-', "");
    for i in 0..9 {
        let guess = shared.join(format!(".f{i}.bin.{jid}-{i}.bgcopy-part"));
        // (A name taken meanwhile by the real file fails to plant: fine.)
        plant(guess.to_str().unwrap());
    }
    let state = job.wait(Some(Duration::from_secs(60))).unwrap();
    assert_eq!(state, JobState::Error, "file 8's planted link is refused");
    let e = job.get_error().unwrap();
    assert_eq!(e.get_error().1, codes::ACCESS_DENIED);
    assert_eq!(e.get_file().unwrap().index(), 8);
    assert_eq!(std::fs::read(&victim).unwrap(), secret, "victim untouched");
    job.resume().unwrap();
    assert_eq!(
        job.wait(Some(Duration::from_secs(60))).unwrap(),
        JobState::Transferred
    );
    job.complete().unwrap();
    for i in 0..9 {
        let p = shared.join(format!("f{i}.bin"));
        let meta = std::fs::symlink_metadata(&p).unwrap();
        assert!(
            meta.file_type().is_file(),
            "{} is a regular file",
            p.display()
        );
        assert_eq!(meta.uid(), 0);
    }
    assert_eq!(std::fs::read(&victim).unwrap(), secret, "victim untouched");
    assert_eq!(
        std::fs::read_link(&exact).unwrap(),
        victim,
        "the link is left alone"
    );
}

/// `bgcopy list` once truncated a 2 MB file through a link at a temp path (recovery's
/// `set_len`). Opening never writes through a link; the job reports the file.
#[test]
fn recovery_never_truncates_through_a_link() {
    let d = ScratchDir::new("recovery");
    let (victim, secret) = victim(&d.0);
    let (id, temp, _) = partial(&d.state(), &d.0, "recovery.bin");
    replace_with_link(&temp, &victim);
    // What `bgcopy list` does: open for inspection.
    let o = bgcopy(&d.state(), &["list"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(std::fs::read(&victim).unwrap(), secret, "victim untouched");
    let m = open(&d.state());
    let job = m.get_job(&id).unwrap();
    assert_access_denied(&job);
    assert!(
        job.get_error()
            .unwrap()
            .get_error_description()
            .contains("untouched"),
        "{}",
        job.get_error().unwrap().get_error_description()
    );
    job.resume().unwrap();
    assert_eq!(
        job.wait(Some(Duration::from_secs(60))).unwrap(),
        JobState::Transferred
    );
    job.complete().unwrap();
    assert_eq!(
        std::fs::read(d.0.join("recovery.bin")).unwrap(),
        content(2_000_000, 0)
    );
    assert_eq!(std::fs::read(&victim).unwrap(), secret);
    assert_eq!(std::fs::read_link(&temp).unwrap(), victim);
}

/// `complete()` once left the final path as a link to the victim. A swapped temp is
/// refused before anything moves.
#[test]
fn complete_refuses_a_swapped_temp_file() {
    let d = ScratchDir::new("swap");
    let (victim, secret) = victim(&d.0);
    let m = open(&d.state());
    let job = m.create_job("swap", JobType::Download).unwrap();
    job.add_file(
        &shared_origin().url("swap", "size=100000"),
        &d.file("a.bin"),
    )
    .unwrap();
    job.add_file(
        &shared_origin().url("swap2", "size=100000"),
        &d.file("b.bin"),
    )
    .unwrap();
    job.resume().unwrap();
    assert_eq!(
        job.wait(Some(Duration::from_secs(30))).unwrap(),
        JobState::Transferred
    );
    let temp = PathBuf::from(job.enum_files().unwrap()[0].get_temporary_name().unwrap());
    replace_with_link(&temp, &victim);
    let e = job.complete().unwrap_err();
    assert_eq!(e.code(), codes::ACCESS_DENIED, "{e}");
    assert!(
        !d.0.join("a.bin").exists() && !d.0.join("b.bin").exists(),
        "nothing moved"
    );
    assert_access_denied(&job);
    assert_eq!(std::fs::read(&victim).unwrap(), secret);
    job.resume().unwrap();
    assert_eq!(
        job.wait(Some(Duration::from_secs(30))).unwrap(),
        JobState::Transferred
    );
    job.complete().unwrap();
    for n in ["a.bin", "b.bin"] {
        let p = d.0.join(n);
        assert!(std::fs::symlink_metadata(&p).unwrap().file_type().is_file());
        assert_eq!(std::fs::read(&p).unwrap(), content(100_000, 0));
    }
    assert_eq!(std::fs::read_link(&temp).unwrap(), victim);
}

#[test]
fn cancel_deletes_only_files_bgcopy_created() {
    let d = ScratchDir::new("cancel");
    let (id, temp, _) = partial(&d.state(), &d.0, "cancel.bin");
    // Someone replaced the partial file with one of their own.
    std::fs::remove_file(&temp).unwrap();
    std::fs::write(&temp, b"not bgcopy's").unwrap();
    let m = CopyManager::open_with(Some(&d.state()), opts(false)).unwrap();
    m.get_job(&id).unwrap().cancel().unwrap();
    drop(m);
    assert_eq!(std::fs::read(&temp).unwrap(), b"not bgcopy's");

    // Its own partial file it does delete.
    let (id, temp, _) = partial(&d.state(), &d.0, "cancel2.bin");
    let m = CopyManager::open_with(Some(&d.state()), opts(false)).unwrap();
    m.get_job(&id).unwrap().cancel().unwrap();
    assert!(!temp.exists());
}

/// Two stores downloading into one folder: opening one never deletes the other's
/// partial files (it once destroyed a running 8 MB download).
#[test]
fn one_store_never_deletes_another_stores_downloads() {
    let d = ScratchDir::new("twostores");
    let (a, b) = (d.0.join("state-a"), d.0.join("state-b"));
    let (id_a, temp_a, _) = partial(&a, &d.0, "a.bin");
    let len = std::fs::metadata(&temp_a).unwrap().len();
    // Store B uses the same folder, then cancels and reopens (every open cleans up).
    let (id_b, _, _) = partial(&b, &d.0, "b.bin");
    let m = CopyManager::open_with(Some(&b), opts(false)).unwrap();
    m.get_job(&id_b).unwrap().cancel().unwrap();
    drop(m);
    let o = bgcopy(&b, &["list"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        std::fs::metadata(&temp_a).unwrap().len(),
        len,
        "A's file intact"
    );
    let m = open(&a);
    let job = m.get_job(&id_a).unwrap();
    job.resume().unwrap();
    assert_eq!(
        job.wait(Some(Duration::from_secs(60))).unwrap(),
        JobState::Transferred
    );
    job.complete().unwrap();
    assert_eq!(
        std::fs::read(d.0.join("a.bin")).unwrap(),
        content(2_000_000, 0)
    );
}

/// A process killed right after recording a round's new temporary files (their open
/// descriptors were waiting for its connections, nothing written yet): the next engine
/// resumes into the files the dead one created (none is taken for someone else's, the
/// job does not fail with ACCESS_DENIED) and no orphan is left.
#[test]
fn a_kill_right_after_the_temp_ledger_commit_resumes_into_those_files() {
    let d = ScratchDir::new("ledgerkill");
    let o = shared_origin();
    let m = CopyManager::open_with(Some(&d.state()), opts(false)).unwrap();
    let job = m.create_job("ledger", JobType::Download).unwrap();
    let names: Vec<String> = (0..6).map(|i| format!("l{i}.bin")).collect();
    for n in &names {
        job.add_file(
            &o.url(&format!("ledgerkill-{n}"), "size=150000"),
            &d.file(n),
        )
        .unwrap();
    }
    job.resume().unwrap();
    let id = job.get_id();
    drop(m);
    // A process runs the job and dies (SIGKILL) just after recording its temporaries.
    let out = bgcopy_env(
        &d.state(),
        &["wait", &id],
        &[("BGCOPY_CRASH_AT", "engine:temps-recorded")],
    );
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(out.status.signal(), Some(9), "killed there: {}", text(&out));
    let temps = |dir: &Path| -> Vec<PathBuf> {
        std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.to_string_lossy().ends_with(".bgcopy-part"))
            .collect()
    };
    assert_eq!(temps(&d.0).len(), names.len(), "the dead process made them");

    let m = open(&d.state());
    let job = m.get_job(&id).unwrap();
    let recorded: Vec<PathBuf> = job
        .enum_files()
        .unwrap()
        .iter()
        .map(|f| PathBuf::from(f.get_temporary_name().unwrap()))
        .collect();
    let mut made = temps(&d.0);
    made.sort();
    let mut known = recorded.clone();
    known.sort();
    assert_eq!(made, known, "the files made are the ones the job records");
    job.resume().unwrap();
    assert_eq!(
        job.wait(Some(Duration::from_secs(60))).unwrap(),
        JobState::Transferred,
        "{:?}",
        job.get_error().map(|e| e.get_error_context_description())
    );
    assert_eq!(job.complete().unwrap(), bgcopy::Completion::All);
    for n in &names {
        assert_eq!(
            std::fs::read(d.0.join(n)).unwrap(),
            content(150_000, 0),
            "{n}"
        );
    }
    assert!(temps(&d.0).is_empty(), "no orphan: {:?}", temps(&d.0));
}
