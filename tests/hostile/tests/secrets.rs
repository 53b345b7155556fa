//! Threat: another user reads the store (passwords in URLs, what you download), or a
//! caller points a download at the store itself.

use bgcopy::{CopyCallback, CopyJob, CopyManager, JobState, JobType, ManagerOptions, codes};
use bgcopy_hostile_tests::*;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// Under umask 000 the state directory is still 0700 and every store file 0600.
#[test]
fn the_store_is_private_whatever_the_umask() {
    let d = ScratchDir::new("modes");
    let state = d.state();
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "umask 000 && exec \"{}\" --state-dir \"{}\" create private",
            bgcopy_exe().display(),
            state.display()
        ))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(mode(&state), 0o700);
    for f in ["bgcopy.db", "bgcopy.db-wal", "bgcopy.db-shm", "engine.lock"] {
        let p = state.join(f);
        if p.exists() {
            assert_eq!(mode(&p), 0o600, "{f}");
        }
    }
    assert!(state.join("bgcopy.db").exists() && state.join("engine.lock").exists());
    // Another user cannot read it.
    if as_nobody("cat").is_some() {
        // The log holds the latest rows until a checkpoint copies them (closing
        // leaves it): it is as private as the database.
        for p in ["bgcopy.db", "bgcopy.db-wal"].map(|f| state.join(f)) {
            if p.exists() {
                let o = as_nobody("cat").unwrap().arg(&p).output().unwrap();
                assert!(!o.status.success(), "nobody read {}", p.display());
            }
        }
    } else {
        skip("reading the store as another user: needs root and setpriv");
    }
}

/// A state directory left world-readable (an older bgcopy, a careless mkdir) is
/// tightened at open; files too.
#[test]
fn a_wide_open_store_is_tightened() {
    let d = ScratchDir::new("tighten");
    let state = d.state();
    drop(CopyManager::open(Some(&state)).unwrap());
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o777)).unwrap();
    let db = state.join("bgcopy.db");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    drop(CopyManager::open(Some(&state)).unwrap());
    assert_eq!(mode(&state), 0o700);
    assert_eq!(mode(&db), 0o600);
}

/// A state directory that belongs to someone else is refused.
#[test]
fn another_users_state_directory_is_refused() {
    let d = ScratchDir::new("foreign");
    if !is_root() {
        skip("a state directory owned by another user: needs root to chown");
        return;
    }
    let state = d.state();
    std::fs::create_dir(&state).unwrap();
    std::os::unix::fs::chown(&state, Some(65534), Some(65534)).unwrap();
    let e = CopyManager::open(Some(&state)).unwrap_err();
    assert_eq!(e.code(), codes::ACCESS_DENIED, "{e}");
    assert!(e.message().contains("belongs to user 65534"), "{e}");
}

#[derive(Default)]
struct Seen(Mutex<Vec<String>>);

impl CopyCallback for Seen {
    fn job_error(&self, job: &CopyJob, error: &bgcopy::CopyError) -> bgcopy::CallbackResult {
        let mut s = self.0.lock().unwrap();
        s.push(error.get_error_description());
        for f in job.enum_files().unwrap() {
            s.push(f.get_remote_name().unwrap());
        }
        Ok(())
    }
}

/// The password of `https://alice:pw@host/…` is used for the request and shown
/// nowhere: not by getters, `info`, `list --json`, error descriptions, `run` logs or
/// notifications.
#[test]
fn url_userinfo_is_used_but_never_shown() {
    let d = ScratchDir::new("userinfo");
    const SECRET: &str = "s3cr3t-PW";
    let server = ScriptedServer::start(|r| {
        if r.head.starts_with("GET /ok") {
            response("200 OK", &[], b"authorized")
        } else {
            response("404 Not Found", &[], b"no")
        }
    });
    let ok_url = format!("http://alice:{SECRET}@127.0.0.1:{}/ok", server.port);
    let bad_url = format!("http://alice:{SECRET}@127.0.0.1:{}/missing", server.port);
    let state = d.state();
    let (ok_id, bad_id);
    {
        let mut o = ManagerOptions::default();
        o.checkpoint_interval = Duration::from_millis(50);
        let m = CopyManager::open_with(Some(&state), o).unwrap();
        let ok = m.create_job("ok", JobType::Download).unwrap();
        ok.add_file(&ok_url, &d.file("ok.bin")).unwrap();
        ok.resume().unwrap();
        assert_eq!(
            ok.wait(Some(Duration::from_secs(20))).unwrap(),
            JobState::Transferred
        );
        let bad = m.create_job("bad", JobType::Download).unwrap();
        bad.add_file(&bad_url, &d.file("bad.bin")).unwrap();
        let seen = Arc::new(Seen::default());
        bad.set_notify_interface(Some(seen.clone())).unwrap();
        bad.resume().unwrap();
        assert_eq!(
            bad.wait(Some(Duration::from_secs(20))).unwrap(),
            JobState::Error
        );
        wait_until(10, "the error notification", || {
            !seen.0.lock().unwrap().is_empty()
        });
        let remote = ok.enum_files().unwrap()[0].get_remote_name().unwrap();
        assert_eq!(
            remote,
            format!("http://alice:***@127.0.0.1:{}/ok", server.port)
        );
        for s in seen.0.lock().unwrap().iter() {
            assert!(!s.contains(SECRET), "notification shows the secret: {s}");
        }
        let desc = bad.get_error().unwrap().get_error_description();
        assert!(!desc.contains(SECRET), "{desc}");
        ok_id = ok.get_id();
        bad_id = bad.get_id();
    }
    // The credential was sent: Basic alice:s3cr3t-PW.
    let auth = server.requests()[0]
        .header("authorization")
        .unwrap_or_default();
    assert_eq!(auth, "Basic YWxpY2U6czNjcjN0LVBX");
    // Every CLI output.
    let mut outputs = vec![
        bgcopy(&state, &["info", &ok_id]),
        bgcopy(&state, &["info", &ok_id, "--json"]),
        bgcopy(&state, &["info", &bad_id]),
        bgcopy(&state, &["info", &bad_id, "--json"]),
        bgcopy(&state, &["list"]),
        bgcopy(&state, &["list", "--json"]),
    ];
    assert!(bgcopy(&state, &["resume", &bad_id]).status.success());
    outputs.push(bgcopy(&state, &["run", "--until-idle"]));
    outputs.push(bgcopy(
        &state,
        &["get", "-o", d.file("again.bin").as_str(), &bad_url],
    ));
    for o in &outputs {
        let t = text(o);
        assert!(!t.contains(SECRET), "the secret is shown: {t}");
    }
    assert!(
        text(&outputs[1]).contains("alice:***@"),
        "{}",
        text(&outputs[1])
    );
    assert!(bgcopy(&state, &["complete", &ok_id]).status.success());
    assert_eq!(std::fs::read(d.0.join("ok.bin")).unwrap(), b"authorized");
}

/// `get -o <state>/bgcopy.db URL` once replaced the live database; `-o <state>/lock`
/// broke the lock. A local path in the state directory is E_INVALIDARG, however it is
/// spelled.
#[test]
fn downloads_never_land_in_the_state_directory() {
    let d = ScratchDir::new("intostate");
    let state = d.state();
    let m = CopyManager::open(Some(&state)).unwrap();
    let job = m.create_job("x", JobType::Download).unwrap();
    let url = shared_origin().url("intostate", "size=10");
    let link = d.0.join("link-to-state");
    std::os::unix::fs::symlink(&state, &link).unwrap();
    std::fs::create_dir(state.join("sub")).unwrap();
    for local in [
        state.join("bgcopy.db"),
        state.join("lock"),
        state.join("bgcopy.db-wal"),
        state.join("new-file"),
        state.join("sub/x"),
        link.join("bgcopy.db"),
        state.join("../state/bgcopy.db"),
    ] {
        let e = job.add_file(&url, local.to_str().unwrap()).unwrap_err();
        assert_eq!(e.code(), codes::E_INVALIDARG, "{}: {e}", local.display());
    }
    drop(m);
    let db = std::fs::read(state.join("bgcopy.db")).unwrap();
    for target in ["bgcopy.db", "lock"] {
        let o = bgcopy(
            &state,
            &["get", "-o", state.join(target).to_str().unwrap(), &url],
        );
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        assert!(text(&o).contains("INVALID_ARG"), "{}", text(&o));
    }
    assert!(std::fs::read(state.join("bgcopy.db")).unwrap().len() >= db.len());
    let o = bgcopy(&state, &["list", "--json"]);
    assert!(o.status.success(), "the store still works: {}", text(&o));
}
