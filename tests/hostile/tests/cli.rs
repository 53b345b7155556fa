//! Threat: the terminal and the user's own habits: escape sequences in job names, a
//! nervous double Ctrl-C.

use bgcopy::{CopyManager, JobState, JobType};
use bgcopy_hostile_tests::*;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Two SIGINTs 10–100 ms apart once exited 130 with the job still QUEUED. Any number
/// of signals ends with the job SUSPENDED and its checkpoint recorded.
#[test]
fn repeated_ctrl_c_always_leaves_the_job_suspended() {
    let d = ScratchDir::new("ctrlc");
    for (i, gaps) in [&[10u64][..], &[50], &[100], &[5, 5, 5, 5]]
        .iter()
        .enumerate()
    {
        let state = d.0.join(format!("state{i}"));
        let name = format!("ctrlc-{i}.bin");
        let url = shared_origin().url(&name, "size=4000000&rate=1000000");
        let child = Command::new(bgcopy_exe())
            .arg("--state-dir")
            .arg(&state)
            .args(["get", "--no-progress", "-d", d.0.to_str().unwrap(), &url])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(1000));
        let pid = child.id() as libc::pid_t;
        // SAFETY: signalling our own child.
        unsafe { libc::kill(pid, libc::SIGINT) };
        for g in gaps.iter() {
            std::thread::sleep(Duration::from_millis(*g));
            // SAFETY: as above (it may have exited already: ESRCH is fine).
            unsafe { libc::kill(pid, libc::SIGINT) };
        }
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(130),
            "gaps {gaps:?}: {}",
            text(&out)
        );
        let m = CopyManager::open(Some(&state)).unwrap();
        let jobs = m.enum_jobs().unwrap();
        assert_eq!(jobs.len(), 1);
        assert_eq!(
            jobs[0].get_state().unwrap(),
            JobState::Suspended,
            "gaps {gaps:?}"
        );
        let done = jobs[0].get_progress().unwrap().bytes_transferred;
        assert!(done > 0, "gaps {gaps:?}: the checkpoint was recorded");
    }
}

/// Job names with terminal control sequences are shown escaped by `list` and `info`;
/// `--json` keeps them exact.
#[test]
fn control_characters_in_names_are_escaped_on_the_terminal() {
    let d = ScratchDir::new("escape");
    let evil = "\u{1b}]0;pwned\u{7}\u{1b}[2Jname\rover\u{202e}txt";
    let id = {
        let m = CopyManager::open(Some(&d.state())).unwrap();
        let job = m.create_job(evil, JobType::Download).unwrap();
        job.set_description(evil).unwrap();
        job.get_id()
    };
    for args in [vec!["list"], vec!["info", id.as_str()]] {
        let o = bgcopy(&d.state(), &args);
        assert!(o.status.success(), "{}", text(&o));
        let out = String::from_utf8(o.stdout).unwrap();
        assert!(
            !out.contains('\u{1b}') && !out.contains('\r') && !out.contains('\u{7}'),
            "{args:?} printed raw control characters: {out:?}"
        );
        assert!(!out.contains('\u{202e}'), "{args:?}: {out:?}");
        assert!(out.contains("\\u{1b}]0;pwned"), "{args:?}: {out}");
    }
    let o = bgcopy(&d.state(), &["list", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v[0]["display_name"], evil, "JSON stays exact");
}
