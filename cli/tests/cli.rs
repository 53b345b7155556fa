//! End-to-end tests of the `bgcopy` binary against the fault-injecting test origin.

use bgcopy_test_harness::{Origin, content};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// One origin for the whole test binary (it exits when this process does).
fn origin() -> &'static Origin {
    static ORIGIN: OnceLock<Origin> = OnceLock::new();
    ORIGIN.get_or_init(Origin::start)
}

/// A fresh scratch directory.
fn scratch(tag: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let d = std::env::temp_dir().join(format!(
        "bgcopy-cli-test-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn exe() -> &'static str {
    env!("CARGO_BIN_EXE_bgcopy")
}

/// Run `bgcopy --state-dir STATE ARGS…` in `cwd`.
fn run_in(cwd: &Path, state: &Path, args: &[&str]) -> Output {
    Command::new(exe())
        .current_dir(cwd)
        .env_remove("BGCOPY_STATE_DIR")
        .arg("--state-dir")
        .arg(state)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run bgcopy")
}

/// `run` with proxy variables: `envs` set, every other proxy variable removed.
fn run_env(state: &Path, envs: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = Command::new(exe());
    for v in ["http_proxy", "https_proxy", "all_proxy", "no_proxy"] {
        cmd.env_remove(v).env_remove(v.to_ascii_uppercase());
    }
    cmd.current_dir(state.parent().unwrap())
        .env_remove("BGCOPY_STATE_DIR")
        .envs(envs.iter().copied())
        .arg("--state-dir")
        .arg(state)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run bgcopy")
}

fn run(state: &Path, args: &[&str]) -> Output {
    run_in(state.parent().unwrap(), state, args)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[track_caller]
fn ok(o: &Output) -> String {
    assert_eq!(
        o.status.code(),
        Some(0),
        "stdout: {}\nstderr: {}",
        text(&o.stdout),
        text(&o.stderr)
    );
    text(&o.stdout)
}

#[track_caller]
fn fails(o: &Output, code: i32) -> String {
    assert_eq!(
        o.status.code(),
        Some(code),
        "stdout: {}\nstderr: {}",
        text(&o.stdout),
        text(&o.stderr)
    );
    text(&o.stderr)
}

fn info(state: &Path, job: &str) -> Value {
    serde_json::from_str(&ok(&run(state, &["info", job, "--json"]))).unwrap()
}

fn create(state: &Path, name: &str) -> String {
    let id = ok(&run(state, &["create", name])).trim().to_string();
    assert_eq!(id.len(), 36, "{id}");
    id
}

#[test]
fn get_two_files_into_a_directory() {
    let o = origin();
    let d = scratch("get2");
    let out = d.join("out");
    let r = run(
        &d.join("state"),
        &[
            "get",
            "-d",
            out.to_str().unwrap(),
            &o.url("get2-a.bin", "size=300000"),
            &o.url("dir/get2%20b.txt", "size=1234"),
        ],
    );
    let err = ok(&r);
    assert!(err.is_empty(), "stdout stays empty: {err}");
    assert!(
        text(&r.stderr).contains("downloaded 2 files, 301234 bytes"),
        "{}",
        text(&r.stderr)
    );
    assert_eq!(
        std::fs::read(out.join("get2-a.bin")).unwrap(),
        content(300_000, 0)
    );
    assert_eq!(
        std::fs::read(out.join("get2 b.txt")).unwrap(),
        content(1234, 0)
    );
    // The job is gone (ACKNOWLEDGED) and nothing else is left in the directory.
    assert_eq!(ok(&run(&d.join("state"), &["list", "--json"])).trim(), "[]");
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 2);
}

#[test]
fn get_to_an_output_file_in_the_current_directory() {
    let o = origin();
    let d = scratch("geto");
    let r = run_in(
        &d,
        &d.join("state"),
        &[
            "get",
            "--no-progress",
            "-o",
            "x.bin",
            &o.url("geto.bin", "size=5000&reset_at=2000"),
        ],
    );
    ok(&r);
    assert!(
        r.stderr.is_empty(),
        "--no-progress prints nothing: {}",
        text(&r.stderr)
    );
    assert_eq!(std::fs::read(d.join("x.bin")).unwrap(), content(5000, 0));

    // Without -d the current directory is used, with the URL's name.
    let r = run_in(
        &d,
        &d.join("state"),
        &["get", &o.url("geto-cwd.bin", "size=10")],
    );
    ok(&r);
    assert_eq!(
        std::fs::read(d.join("geto-cwd.bin")).unwrap(),
        content(10, 0)
    );
}

#[test]
fn get_from_a_list() {
    let o = origin();
    let d = scratch("list");
    let list = d.join("urls.txt");
    std::fs::write(
        &list,
        format!(
            "# a comment\n\n{}\n{}\tsub/dir/renamed.bin\n  \n{}\r\n",
            o.url("list-a.bin", "size=100"),
            o.url("list-b.bin", "size=200"),
            o.url("list-c/", "size=300"),
        ),
    )
    .unwrap();
    let out = d.join("out");
    let r = run(
        &d.join("state"),
        &[
            "get",
            "-i",
            list.to_str().unwrap(),
            "-d",
            out.to_str().unwrap(),
            "--priority",
            "HIGH",
        ],
    );
    ok(&r);
    assert!(text(&r.stderr).contains("downloaded 3 files, 600 bytes"));
    assert_eq!(
        std::fs::read(out.join("list-a.bin")).unwrap(),
        content(100, 0)
    );
    assert_eq!(
        std::fs::read(out.join("sub/dir/renamed.bin")).unwrap(),
        content(200, 0)
    );
    // An empty last segment gets "index.html".
    assert_eq!(
        std::fs::read(out.join("index.html")).unwrap(),
        content(300, 0)
    );

    // A path escaping the directory is a usage error.
    std::fs::write(&list, format!("{}\t../evil\n", o.url("list-x", ""))).unwrap();
    let e = fails(
        &run(&d.join("state"), &["get", "-i", list.to_str().unwrap()]),
        2,
    );
    assert!(e.contains("line 1"), "{e}");
}

#[test]
fn get_of_a_404_reports_the_error() {
    let o = origin();
    let d = scratch("404");
    let state = d.join("state");
    let r = run(
        &state,
        &[
            "get",
            "-d",
            d.to_str().unwrap(),
            &o.url("nf.bin", "status=404"),
        ],
    );
    // The server's error: exit status 7.
    let e = fails(&r, 7);
    assert!(e.contains("0x80190194"), "{e}");
    assert!(e.contains("HTTP_404"), "{e}");
    assert!(e.contains("REMOTE_FILE"), "{e}");
    assert!(e.contains("404"), "{e}");
    assert!(e.contains("cancel"), "says how to discard the job: {e}");
    assert!(!d.join("nf.bin").exists());
    // The job is kept in ERROR, with the error in its JSON.
    let jobs: Value = serde_json::from_str(&ok(&run(&state, &["list", "--json"]))).unwrap();
    let job = &jobs[0];
    assert_eq!(job["state"], "ERROR");
    assert_eq!(job["priority"], "FOREGROUND");
    assert_eq!(job["error"]["code"], "0x80190194");
    assert_eq!(job["error"]["symbol"], "HTTP_404");
    assert_eq!(job["error"]["context"], "REMOTE_FILE");
    assert_eq!(job["error"]["protocol"], "http");
    assert!(job["error_count"].as_u64().unwrap() >= 1);
    ok(&run(&state, &["cancel", job["id"].as_str().unwrap()]));
    assert_eq!(ok(&run(&state, &["list", "--json"])).trim(), "[]");
}

#[test]
fn manage_a_job_step_by_step() {
    let o = origin();
    let d = scratch("steps");
    let state = d.join("state");
    let id = create(&state, "step job");
    let j = info(&state, &id);
    assert_eq!(j["id"], id.as_str());
    assert_eq!(j["state"], "SUSPENDED");
    assert_eq!(j["type"], "DOWNLOAD");
    assert_eq!(j["priority"], "NORMAL");
    assert_eq!(j["display_name"], "step job");
    assert_eq!(j["description"], "");
    assert_eq!(j["progress"]["bytes_total"], 0);
    assert_eq!(j["progress"]["files_total"], 0);
    assert_eq!(j["error"], Value::Null);
    assert_eq!(j["error_count"], 0);
    assert_eq!(j["retry_delay"], 600);
    assert_eq!(j["no_progress_timeout"], 1_209_600);
    assert_eq!(j["times"]["transfer_completion"], Value::Null);
    let created = j["times"]["creation"].as_str().unwrap();
    assert!(created.ends_with('Z') && created.len() == 24, "{created}");

    // Resuming an empty job fails with EMPTY.
    let e = fails(&run(&state, &["resume", &id]), 1);
    assert!(e.contains("EMPTY") && e.contains("0x80200003"), "{e}");

    // LOCAL is made absolute against the current directory.
    let url = o.url("steps.bin", "size=70000");
    ok(&run_in(&d, &state, &["add", &id, &url, "steps.bin"]));
    ok(&run(
        &state,
        &[
            "set",
            &id,
            "--priority",
            "high",
            "--retry-delay",
            "5",
            "--no-progress-timeout",
            "120",
            "--display-name",
            "renamed",
            "--description",
            "a description",
        ],
    ));
    let j = info(&state, &id);
    assert_eq!(j["priority"], "HIGH");
    assert_eq!(j["retry_delay"], 5);
    assert_eq!(j["no_progress_timeout"], 120);
    assert_eq!(j["display_name"], "renamed");
    assert_eq!(j["description"], "a description");
    assert_eq!(
        j["progress"]["bytes_total"],
        Value::Null,
        "unknown size is null"
    );
    let f = &j["files"][0];
    assert_eq!(f["remote_name"], url.as_str());
    assert_eq!(
        f["local_name"],
        d.join("steps.bin").to_str().unwrap(),
        "absolute local name"
    );
    assert_eq!(f["bytes_transferred"], 0);
    assert_eq!(f["completed"], false);

    let list: Value = serde_json::from_str(&ok(&run(&state, &["list", "--json"]))).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["id"], id.as_str());
    let table = ok(&run(&state, &["list"]));
    assert!(
        table.contains(&id) && table.contains("SUSPENDED"),
        "{table}"
    );
    let human = ok(&run(&state, &["info", &id]));
    assert!(
        human.contains("renamed") && human.contains("steps.bin"),
        "{human}"
    );

    ok(&run(&state, &["resume", &id]));
    let w = run(&state, &["wait", &id, "--timeout", "60"]);
    ok(&w);
    assert!(text(&w.stderr).contains("complete"), "{}", text(&w.stderr));
    let j = info(&state, &id);
    assert_eq!(j["state"], "TRANSFERRED");
    assert_eq!(j["progress"]["bytes_total"], 70000);
    assert_eq!(j["progress"]["bytes_transferred"], 70000);
    assert!(j["times"]["transfer_completion"].is_string());
    assert!(
        !d.join("steps.bin").exists(),
        "nothing visible before complete"
    );
    // wait on a TRANSFERRED job returns at once.
    ok(&run(&state, &["wait", &id]));
    let c = run(&state, &["complete", &id]);
    ok(&c);
    assert!(!text(&c.stderr).contains("partial"));
    assert_eq!(
        std::fs::read(d.join("steps.bin")).unwrap(),
        content(70000, 0)
    );
    let e = fails(&run(&state, &["info", &id]), 1);
    assert!(e.contains("NOT_FOUND"), "{e}");
}

#[test]
fn complete_reports_partial() {
    let o = origin();
    let d = scratch("partial");
    let state = d.join("state");
    let id = create(&state, "partial");
    let a = d.join("a.bin");
    ok(&run(
        &state,
        &[
            "add",
            &id,
            &o.url("partial-a", "size=100"),
            a.to_str().unwrap(),
        ],
    ));
    ok(&run(&state, &["resume", &id]));
    ok(&run(&state, &["run", "--until-idle"]));
    // A file added after TRANSFERRED has no bytes: complete() drops it.
    let b = d.join("b.bin");
    ok(&run(
        &state,
        &[
            "add",
            &id,
            &o.url("partial-b", "size=100"),
            b.to_str().unwrap(),
        ],
    ));
    let r = run(&state, &["complete", &id]);
    ok(&r);
    let e = text(&r.stderr);
    assert!(e.contains("partial") && e.contains("0x00200017"), "{e}");
    assert!(e.contains("b.bin"), "{e}");
    assert_eq!(std::fs::read(&a).unwrap(), content(100, 0));
    assert!(!b.exists());
}

#[test]
fn suspend_and_cancel() {
    let o = origin();
    let d = scratch("cancel");
    let state = d.join("state");
    let id = create(&state, "c");
    let local = d.join("c.bin");
    ok(&run(
        &state,
        &[
            "add",
            &id,
            &o.url("cancel.bin", "size=10"),
            local.to_str().unwrap(),
        ],
    ));
    ok(&run(&state, &["resume", &id]));
    assert_eq!(info(&state, &id)["state"], "QUEUED");
    ok(&run(&state, &["suspend", &id]));
    assert_eq!(info(&state, &id)["state"], "SUSPENDED");
    // wait on a SUSPENDED job would never end: INVALID_STATE.
    let e = fails(&run(&state, &["wait", &id]), 1);
    assert!(e.contains("INVALID_STATE") && e.contains("resume"), "{e}");
    ok(&run(&state, &["cancel", &id]));
    assert_eq!(ok(&run(&state, &["list", "--json"])).trim(), "[]");
    let e = fails(&run(&state, &["cancel", &id]), 1);
    assert!(e.contains("NOT_FOUND"), "{e}");
    assert!(!local.exists());
    assert_eq!(origin().stats("cancel.bin")["requests"], 0);
}

#[test]
fn bad_arguments_exit_2() {
    let d = scratch("args");
    let state = d.join("state");
    let cases: &[&[&str]] = &[
        &[],
        &["frobnicate"],
        &["get"],
        &["get", "--priority", "urgent", "http://h/x"],
        &["get", "-o", "a", "http://h/x", "http://h/y"],
        &["get", "-o", "a", "-d", "b", "http://h/x"],
        &["get", "-d", "b", "http://h/x/a", "http://h/y/a"],
        &["set", "00000000-0000-0000-0000-000000000000"],
        &["set", "x", "--retry-delay", "-1"],
        &["info"],
        &["add", "x", "http://h/x"],
        &["wait", "x", "--timeout", "soon"],
        &["demo", "--size", "lots"],
    ];
    for args in cases {
        let e = fails(&run(&state, args), 2);
        assert!(
            e.starts_with("error:") || e.contains("Usage"),
            "{args:?}: {e}"
        );
    }
    assert!(!state.join("bgcopy.db").exists(), "no store was touched");
    ok(&run(&state, &["--help"]));
    ok(&run(&state, &["get", "--help"]));
}

#[test]
fn unknown_jobs_are_not_found() {
    let d = scratch("unknown");
    let state = d.join("state");
    let id = "6f1c9b1e-8d3a-4c55-9a47-0d7f4f0d2b11";
    for cmd in ["info", "resume", "suspend", "cancel", "complete", "wait"] {
        let e = fails(&run(&state, &[cmd, id]), 1);
        assert!(
            e.contains("NOT_FOUND") && e.contains("0x80200001"),
            "{cmd}: {e}"
        );
        assert!(e.starts_with("bgcopy: NOT_FOUND (0x80200001): "), "{e}");
    }
    let e = fails(&run(&state, &["info", "not-a-uuid"]), 1);
    assert!(e.contains("INVALID_ARG"), "{e}");
}

#[test]
fn commands_work_while_run_transfers() {
    // One queue, many processes (docs/spec.md §9): `bgcopy run` is the engine; other commands
    // open the same directory as clients.
    let d = scratch("shared");
    let state = d.join("state");
    let mut daemon = Command::new(exe())
        .arg("--state-dir")
        .arg(&state)
        .args(["run", "--quiet"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = daemon.id().to_string();
    let t0 = Instant::now();
    while std::fs::read_to_string(state.join("engine.lock"))
        .unwrap_or_default()
        .trim()
        != pid
    {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "run never became the engine"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let listed = run(&state, &["list"]);
    let made = run(&state, &["create", "while-run"]);
    daemon.kill().unwrap();
    daemon.wait().unwrap();
    ok(&listed);
    let id = ok(&made).trim().to_string();
    assert!(ok(&run(&state, &["list"])).contains(&id));
}

#[test]
fn inspection_commands_do_not_transfer() {
    let o = origin();
    let d = scratch("inspect");
    let state = d.join("state");
    let id = create(&state, "idle");
    let local = d.join("i.bin");
    ok(&run(
        &state,
        &[
            "add",
            &id,
            &o.url("inspect.bin", "size=100000"),
            local.to_str().unwrap(),
        ],
    ));
    ok(&run(&state, &["resume", &id]));
    for _ in 0..2 {
        let j = info(&state, &id);
        assert_eq!(j["state"], "QUEUED");
        assert_eq!(j["progress"]["bytes_transferred"], 0);
        ok(&run(&state, &["list"]));
        std::thread::sleep(Duration::from_millis(700));
    }
    assert_eq!(o.stats("inspect.bin")["requests"], 0);
}

#[test]
fn run_until_idle_finishes_queued_jobs() {
    let o = origin();
    let d = scratch("idle");
    let state = d.join("state");
    let mut jobs = Vec::new();
    for (i, size) in [1000u64, 250_000, 3].into_iter().enumerate() {
        let id = create(&state, &format!("job {i}"));
        let local = d.join(format!("{i}.bin"));
        let url = o.url(
            &format!("idle-{i}"),
            &format!("size={size}&close_at={}", size / 2),
        );
        ok(&run(&state, &["add", &id, &url, local.to_str().unwrap()]));
        ok(&run(&state, &["set", &id, "--retry-delay", "1"]));
        ok(&run(&state, &["resume", &id]));
        jobs.push((id, local, size));
    }
    // A suspended job does not keep `run --until-idle` busy.
    let parked = create(&state, "parked");
    ok(&run(
        &state,
        &[
            "add",
            &parked,
            &o.url("idle-parked", ""),
            d.join("p").to_str().unwrap(),
        ],
    ));
    let r = run(&state, &["run", "--until-idle"]);
    ok(&r);
    assert!(
        text(&r.stderr).contains("TRANSFERRED"),
        "{}",
        text(&r.stderr)
    );
    for (id, local, size) in jobs {
        assert_eq!(info(&state, &id)["state"], "TRANSFERRED");
        ok(&run(&state, &["complete", &id]));
        assert_eq!(std::fs::read(&local).unwrap(), content(size, 0));
    }
    assert_eq!(info(&state, &parked)["state"], "SUSPENDED");
}

#[test]
fn wait_times_out_with_3() {
    let o = origin();
    let d = scratch("timeout");
    let state = d.join("state");
    let id = create(&state, "slow");
    let url = o.url("timeout.bin", "size=1000000&rate=100000");
    ok(&run(
        &state,
        &["add", &id, &url, d.join("t.bin").to_str().unwrap()],
    ));
    ok(&run(&state, &["resume", &id]));
    let t0 = Instant::now();
    let e = fails(&run(&state, &["wait", &id, "--timeout", "0.5"]), 3);
    assert!(e.contains("timed out"), "{e}");
    assert!(t0.elapsed() < Duration::from_secs(30));
    let j = info(&state, &id);
    assert_eq!(
        j["state"], "QUEUED",
        "a closed engine leaves the job queued"
    );
    ok(&run(&state, &["cancel", &id]));
}

#[test]
fn demo_downloads_its_own_file() {
    let d = scratch("demo");
    let out = d.join("out");
    let r = run(
        &d.join("state"),
        &["demo", "--size", "1MiB", "-d", out.to_str().unwrap()],
    );
    let stdout = ok(&r);
    assert!(
        stdout.contains("size check: 1048576 bytes on disk, 1048576 served: OK"),
        "{stdout}"
    );
    assert!(
        stdout.contains("content check") && stdout.contains("OK"),
        "{stdout}"
    );
    assert!(
        stdout.contains(out.join("demo.bin").to_str().unwrap()),
        "{stdout}"
    );
    assert_eq!(
        std::fs::metadata(out.join("demo.bin")).unwrap().len(),
        1 << 20
    );
}

#[test]
fn ctrl_c_suspends_and_the_hint_continues() {
    let o = origin();
    let d = scratch("ctrlc");
    let state = d.join("state");
    let url = o.url("ctrlc.bin", "size=600000&rate=200000");
    let child = Command::new(exe())
        .arg("--state-dir")
        .arg(&state)
        .args(["get", "-d", d.to_str().unwrap(), &url])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1200));
    let k = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(k.success());
    let r = child.wait_with_output().unwrap();
    let e = fails(&r, 130);
    assert!(e.contains("suspended"), "{e}");
    let jobs: Value = serde_json::from_str(&ok(&run(&state, &["list", "--json"]))).unwrap();
    let id = jobs[0]["id"].as_str().unwrap().to_string();
    assert_eq!(jobs[0]["state"], "SUSPENDED");
    let done = jobs[0]["progress"]["bytes_transferred"].as_u64().unwrap();
    assert!(done > 0 && done < 600_000, "{done}");
    assert!(e.contains(&format!("resume {id} && ")), "{e}");
    assert!(e.contains(&format!("wait {id} && ")), "{e}");
    assert!(e.contains(&format!("complete {id}")), "{e}");
    ok(&run(&state, &["resume", &id]));
    ok(&run(&state, &["wait", &id, "--no-progress"]));
    ok(&run(&state, &["complete", &id]));
    assert_eq!(
        std::fs::read(d.join("ctrlc.bin")).unwrap(),
        content(600_000, 0)
    );
    let ranges = o.stats("ctrlc.bin")["ranges"].to_string();
    assert!(ranges.contains("bytes="), "resumed with a range: {ranges}");
}

#[test]
fn events_follow_shows_what_other_processes_do() {
    use std::io::{BufRead, BufReader};
    let o = origin();
    let d = scratch("events");
    let state = d.join("state");
    let id = create(&state, "journal");
    // The journal so far: the creation.
    let first = ok(&run(&state, &["events"]));
    assert!(
        first.starts_with("1 ") && first.contains(&id) && first.contains("STATE_CHANGED"),
        "{first}"
    );
    let mut follow = Command::new(exe())
        .arg("--state-dir")
        .arg(&state)
        .args(["events", "--follow", "--json", "--since", "1"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut daemon = Command::new(exe())
        .arg("--state-dir")
        .arg(&state)
        .args(["run", "--quiet"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let local = d.join("e.bin");
    ok(&run(
        &state,
        &[
            "add",
            &id,
            &o.url("events.bin", "size=70000"),
            local.to_str().unwrap(),
        ],
    ));
    ok(&run(&state, &["resume", &id]));
    // The follower prints each entry as it is committed, whoever committed it.
    let mut lines = BufReader::new(follow.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    let t0 = Instant::now();
    while !seen.contains(&("STATE_CHANGED".to_string(), "TRANSFERRED".to_string())) {
        assert!(t0.elapsed() < Duration::from_secs(60), "{seen:?}");
        let line = lines.next().expect("events --follow ended").unwrap();
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["job"], id.as_str(), "{line}");
        assert!(v["seq"].as_u64().unwrap() > 1, "{line}");
        seen.push((
            v["kind"].as_str().unwrap().to_string(),
            v["state"].as_str().unwrap().to_string(),
        ));
    }
    let pos = |k: &str, s: &str| {
        seen.iter()
            .position(|e| e.0 == k && e.1 == s)
            .unwrap_or_else(|| panic!("no {k} {s} in {seen:?}"))
    };
    assert_eq!(seen[0], ("MODIFIED".into(), "SUSPENDED".into()), "{seen:?}");
    assert!(pos("STATE_CHANGED", "QUEUED") < pos("STATE_CHANGED", "TRANSFERRING"));
    assert!(pos("FILE_TRANSFERRED", "TRANSFERRING") < pos("STATE_CHANGED", "TRANSFERRED"));
    // Ctrl-C ends the follower with 130.
    let k = Command::new("kill")
        .args(["-INT", &follow.id().to_string()])
        .status()
        .unwrap();
    assert!(k.success());
    assert_eq!(follow.wait().unwrap().code(), Some(130));
    daemon.kill().unwrap();
    daemon.wait().unwrap();
    // --since and --limit page through the journal; a bad limit is INVALID_ARG.
    let page = ok(&run(&state, &["events", "--since", "1", "--limit", "2"]));
    assert_eq!(page.lines().count(), 2, "{page}");
    assert!(page.starts_with("2 "), "{page}");
    let e = fails(&run(&state, &["events", "--limit", "0"]), 1);
    assert!(e.contains("INVALID_ARG (0x80070057)"), "{e}");
}

#[test]
fn fire_and_forget_with_a_notify_command() {
    // A script queues a job with a notify command and exits; `bgcopy run` started
    // later transfers it and runs the command once; the command completes the job.
    let o = origin();
    let d = scratch("notify-cmd");
    let state = d.join("state");
    let id = create(&state, "fire and forget");
    let local = d.join("f.bin");
    ok(&run(
        &state,
        &[
            "add",
            &id,
            &o.url("ff.bin", "size=50000"),
            local.to_str().unwrap(),
        ],
    ));
    let out = d.join("cmd.log");
    let script = format!(
        "echo \"$BGCOPY_JOB_ID\" >> '{}'; exec '{}' --state-dir '{}' complete \"$BGCOPY_JOB_ID\"",
        out.display(),
        exe(),
        state.display()
    );
    ok(&run(
        &state,
        &["set", &id, "--notify-cmd", "/bin/sh", "-c", &script],
    ));
    let shown = ok(&run(&state, &["info", &id]));
    assert!(
        shown.contains("notify command:      /bin/sh -c '"),
        "{shown}"
    );
    assert_eq!(info(&state, &id)["notify_cmd"][1], "-c");
    let e = fails(
        &run(&state, &["set", &id, "--notify-cmd", "relative.sh"]),
        1,
    );
    assert!(e.contains("INVALID_ARG"), "{e}");
    ok(&run(&state, &["resume", &id]));
    assert!(!out.exists());

    let mut daemon = Command::new(exe())
        .arg("--state-dir")
        .arg(&state)
        .args(["run", "--quiet"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while !local.exists() {
        assert!(t0.elapsed() < Duration::from_secs(60), "never completed");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(1500));
    daemon.kill().unwrap();
    daemon.wait().unwrap();
    assert_eq!(std::fs::read(&local).unwrap(), content(50000, 0));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), format!("{id}\n"));
    let log = ok(&run(&state, &["events", "--json"]));
    assert!(log.contains("\"ACKNOWLEDGED\""), "{log}");
}

#[test]
fn service_install_status_uninstall_without_systemd() {
    // No systemd user manager here (and none on PATH): the unit is written, the
    // command says how to start the engine, `status` sees `bgcopy run` when it runs.
    let d = scratch("service");
    let state = d.join("state");
    let config = d.join("config");
    let svc = |args: &[&str]| {
        Command::new(exe())
            .env("XDG_CONFIG_HOME", &config)
            .env("PATH", "/nonexistent")
            .arg("--state-dir")
            .arg(&state)
            .arg("service")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let said = ok(&svc(&["install"]));
    assert!(
        said.contains("systemctl --user enable --now bgcopy-"),
        "{said}"
    );
    let units: Vec<PathBuf> = std::fs::read_dir(config.join("systemd/user"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(units.len(), 1, "{units:?}");
    let unit = std::fs::read_to_string(&units[0]).unwrap();
    let state_abs = std::fs::canonicalize(&state).unwrap();
    assert!(
        unit.contains(&format!(
            "ExecStart=\"{}\" --state-dir \"{}\" run",
            exe(),
            state_abs.display()
        )),
        "{unit}"
    );
    assert!(unit.contains("SuccessExitStatus=130") && unit.contains("WantedBy=default.target"));

    let status = ok(&svc(&["status"]));
    assert!(
        status.contains("(installed)") && status.contains("engine:  not running"),
        "{status}"
    );
    create(&state, "queued");
    let daemon = Command::new(exe())
        .arg("--state-dir")
        .arg(&state)
        .args(["run"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = daemon.id();
    let t0 = Instant::now();
    let status = loop {
        let s = ok(&svc(&["status"]));
        if s.contains("engine:  running") || t0.elapsed() > Duration::from_secs(20) {
            break s;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        status.contains(&format!("running in process {pid}")),
        "{status}"
    );
    assert!(status.contains("queue:   1 jobs"), "{status}");
    // SIGTERM: the daemon stops cleanly (130) and says so.
    let k = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(k.success());
    let out = daemon.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    let log = text(&out.stderr);
    assert!(
        log.contains("this process runs the transfers") && log.contains("stopping"),
        "{log}"
    );

    let said = ok(&svc(&["uninstall"]));
    assert!(said.contains("removed"), "{said}");
    assert!(!units[0].exists());
    let status = ok(&svc(&["status"]));
    assert!(status.contains("(not installed)"), "{status}");
}

#[test]
fn get_again_continues_the_interrupted_job() {
    // Like `curl -C -` / `wget -c`: the same `get` after Ctrl-C continues the job the
    // first one left (and says so) instead of starting from zero.
    let o = origin();
    let d = scratch("continue");
    let state = d.join("state");
    let url = o.url("continue.bin", "size=600000&rate=200000");
    let get = || {
        Command::new(exe())
            .arg("--state-dir")
            .arg(&state)
            .args(["get", "-d", d.to_str().unwrap(), &url])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let first = get();
    std::thread::sleep(Duration::from_millis(1200));
    let k = Command::new("kill")
        .args(["-INT", &first.id().to_string()])
        .status()
        .unwrap();
    assert!(k.success());
    fails(&first.wait_with_output().unwrap(), 130);
    let jobs: Value = serde_json::from_str(&ok(&run(&state, &["list", "--json"]))).unwrap();
    let id = jobs[0]["id"].as_str().unwrap().to_string();
    let done = jobs[0]["progress"]["bytes_transferred"].as_u64().unwrap();
    assert!(done > 0 && done < 600_000, "{done}");

    let second = get().wait_with_output().unwrap();
    ok(&second);
    let e = text(&second.stderr);
    assert!(e.contains(&format!("continuing job {id}")), "{e}");
    assert_eq!(
        std::fs::read(d.join("continue.bin")).unwrap(),
        content(600_000, 0)
    );
    // One job, not two; the second request started where the first stopped.
    let listed: Value = serde_json::from_str(&ok(&run(&state, &["list", "--json"]))).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 0, "{listed}");
    let ranges = o.stats("continue.bin")["ranges"].to_string();
    assert!(
        ranges.contains("bytes="),
        "continued with a range: {ranges}"
    );
    // A third `get` of the same URL is a new job (the last one was completed).
    let third = get().wait_with_output().unwrap();
    ok(&third);
    assert!(!text(&third.stderr).contains("continuing"));
}

#[test]
fn headers_and_security_flags_from_the_command_line() {
    let o = origin();
    let d = scratch("headers");
    let state = d.join("state");
    // get -H: sent with the request.
    let out = d.join("h.bin");
    ok(&run(
        &state,
        &[
            "get",
            "-H",
            "X-Token: cli-1",
            "-H",
            "X-Other: 2",
            "-o",
            out.to_str().unwrap(),
            &o.url("cli-rq-h", "size=500"),
        ],
    ));
    let seen = o.stats("cli-rq-h")["headers"][0].clone();
    assert!(
        seen.as_array()
            .unwrap()
            .iter()
            .any(|h| h == "x-token: cli-1"),
        "{seen}"
    );
    assert_eq!(std::fs::read(&out).unwrap(), content(500, 0));

    // set: headers, then write-only; info shows them, then only that they are hidden.
    let id = create(&state, "headers");
    let local = d.join("later.bin");
    ok(&run(
        &state,
        &[
            "add",
            &id,
            &o.url("cli-rq-x", "size=10"),
            local.to_str().unwrap(),
        ],
    ));
    ok(&run(
        &state,
        &["set", &id, "-H", "X-A: 1", "--security-flags", "0x0100"],
    ));
    let j = info(&state, &id);
    assert_eq!(j["files"][0]["final_url"], Value::Null);
    let temp = j["files"][0]["temporary_name"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        temp.starts_with(d.join(".later.bin.").to_str().unwrap()),
        "{temp}"
    );
    assert_eq!(j["custom_headers"], serde_json::json!(["X-A: 1"]));
    assert_eq!(j["security_flags"], 0x100);
    ok(&run(&state, &["set", &id, "--headers-write-only"]));
    let j = info(&state, &id);
    assert_eq!(j["custom_headers"], "write-only");
    let t = ok(&run(&state, &["info", &id]));
    assert!(t.contains("(write-only)") && !t.contains("X-A"), "{t}");
    // Bad values: exit 1 with the code; nothing changes.
    let e = fails(&run(&state, &["set", &id, "-H", "Host: x"]), 1);
    assert!(e.contains("INVALID_ARG"), "{e}");
    let e = fails(&run(&state, &["set", &id, "--security-flags", "0x0004"]), 1);
    assert!(e.contains("NOT_IMPLEMENTED"), "{e}");
    assert_eq!(info(&state, &id)["security_flags"], 0x100);
    ok(&run(&state, &["cancel", &id]));
}

#[test]
fn credentials_and_max_time_from_the_command_line() {
    let o = origin();
    let d = scratch("creds");
    let state = d.join("state");
    // get -u: Basic credentials; never shown by info.
    let out = d.join("u.bin");
    ok(&run(
        &state,
        &[
            "get",
            "-u",
            "cliuser:cli-s3cret",
            "-o",
            out.to_str().unwrap(),
            &o.url("cli-auth-u", "size=400&auth=basic:cliuser:cli-s3cret"),
        ],
    ));
    assert_eq!(std::fs::read(&out).unwrap(), content(400, 0));
    // get --bearer.
    let out = d.join("b.bin");
    ok(&run(
        &state,
        &[
            "get",
            "--bearer",
            "cli.tok",
            "-o",
            out.to_str().unwrap(),
            &o.url("cli-auth-b", "size=300&auth=bearer:cli.tok"),
        ],
    ));
    assert_eq!(std::fs::read(&out).unwrap(), content(300, 0));
    // Without credentials: the HTTP error (exit code of a failed job).
    let out = d.join("n.bin");
    let e = fails(
        &run(
            &state,
            &[
                "get",
                "--priority",
                "high",
                "-o",
                out.to_str().unwrap(),
                &o.url("cli-auth-n", "size=300&auth=bearer:cli.tok"),
            ],
        ),
        7,
    );
    assert!(e.contains("HTTP_401") || e.contains("401"), "{e}");

    // set -u / --max-time on an existing job; info shows the time, never a secret.
    let id = create(&state, "creds");
    ok(&run(
        &state,
        &["set", &id, "-u", "x:cli-hidden", "--max-time", "30"],
    ));
    let j = info(&state, &id);
    assert_eq!(j["max_download_time"], 30);
    let t = ok(&run(&state, &["info", &id]));
    assert!(t.contains("30 s") && !t.contains("cli-hidden"), "{t}");
    assert!(!j.to_string().contains("cli-hidden"));
    let e = fails(&run(&state, &["set", &id, "-u", "no-colon"]), 2);
    assert!(e.contains("USER:PASSWORD"), "{e}");
    let e = fails(&run(&state, &["set", &id, "--bearer", "bad token"]), 1);
    assert!(e.contains("INVALID_ARG") && !e.contains("bad token"), "{e}");
    // --limit-rate (curl's K/M suffixes) and --connections, shown by info.
    ok(&run(
        &state,
        &["set", &id, "--limit-rate", "2M", "--connections", "3"],
    ));
    let j = info(&state, &id);
    assert_eq!(j["bandwidth_limit"], 2 << 20);
    assert_eq!(j["max_connections_per_file"], 3);
    let t = ok(&run(&state, &["info", &id]));
    assert!(t.contains("2097152 B/s"), "{t}");
    let e = fails(&run(&state, &["set", &id, "--connections", "0"]), 1);
    assert!(e.contains("INVALID_ARG"), "{e}");
    fails(&run(&state, &["set", &id, "--limit-rate", "fast"]), 2);
    ok(&run(&state, &["cancel", &id]));
    // get --connections 1 --limit-rate: one stream, at most the rate.
    let out = d.join("lim.bin");
    let t0 = std::time::Instant::now();
    ok(&run(
        &state,
        &[
            "get",
            "--no-progress",
            "--connections",
            "1",
            "--limit-rate",
            "1M",
            "-o",
            out.to_str().unwrap(),
            &o.url("cli-lim", "size=3000000"),
        ],
    ));
    assert!(
        t0.elapsed() >= std::time::Duration::from_millis(2000),
        "{:?}",
        t0.elapsed()
    );
    assert_eq!(std::fs::read(&out).unwrap(), content(3_000_000, 0));
    assert_eq!(o.stats("cli-lim")["requests"], 1);
}

#[test]
fn proxies_from_the_environment_and_the_command_line() {
    let o = origin();
    let d = scratch("proxies");
    let state = d.join("state");
    let (purl, pid) = o.proxy("http", None);
    let through = |n: u64| {
        let log = o.proxy_log(pid);
        assert_eq!(log["established"], n, "{log}");
    };
    // PRECONFIG: http_proxy from the environment, like curl.
    let out = d.join("env.bin");
    let url = o.url("cli-px-env", "size=700");
    ok(&run_env(
        &state,
        &[("http_proxy", purl.as_str())],
        &["get", "--no-progress", "-o", out.to_str().unwrap(), &url],
    ));
    assert_eq!(std::fs::read(&out).unwrap(), content(700, 0));
    through(1);
    // no_proxy bypasses it; --noproxy '*' turns it off.
    let out = d.join("np.bin");
    let url = o.url("cli-px-np", "size=700");
    ok(&run_env(
        &state,
        &[
            ("http_proxy", purl.as_str()),
            ("no_proxy", "localhost,127.0.0.1"),
        ],
        &["get", "--no-progress", "-o", out.to_str().unwrap(), &url],
    ));
    let out = d.join("star.bin");
    let url = o.url("cli-px-star", "size=700");
    ok(&run_env(
        &state,
        &[("http_proxy", purl.as_str())],
        &[
            "get",
            "--no-progress",
            "--noproxy",
            "*",
            "-o",
            out.to_str().unwrap(),
            &url,
        ],
    ));
    through(1);
    // -x: OVERRIDE; the job shows it in info.
    let out = d.join("x.bin");
    ok(&run(
        &state,
        &[
            "get",
            "--no-progress",
            "-x",
            &purl,
            "-o",
            out.to_str().unwrap(),
            &o.url("cli-px-x", "size=500"),
        ],
    ));
    through(2);
    // A SOCKS5 proxy with credentials, set on an existing job.
    let (surl, sid) = o.proxy("socks5", Some("cu:cpw"));
    let id = create(&state, "socks");
    let local = d.join("s.bin");
    ok(&run(
        &state,
        &[
            "add",
            &id,
            &o.url("cli-px-s", "size=600"),
            local.to_str().unwrap(),
        ],
    ));
    ok(&run(
        &state,
        &[
            "set",
            &id,
            "-x",
            &surl,
            "-U",
            "cu:cpw",
            "--noproxy",
            "example.com",
        ],
    ));
    let j = info(&state, &id);
    assert_eq!(j["proxy"]["usage"], "OVERRIDE");
    assert_eq!(j["proxy"]["proxy"], surl.as_str());
    assert_eq!(j["proxy"]["bypass"], "example.com");
    assert!(!j.to_string().contains("cpw"));
    ok(&run(&state, &["resume", &id]));
    ok(&run(&state, &["wait", &id, "--timeout", "60"]));
    ok(&run(&state, &["complete", &id]));
    assert_eq!(std::fs::read(&local).unwrap(), content(600, 0));
    assert_eq!(o.proxy_log(sid)["connections"], 1);
    // --noproxy without -x (other than '*') is refused.
    let e = fails(&run(&state, &["set", &id, "--noproxy", "example.com"]), 1);
    assert!(e.contains("INVALID_ARG") || e.contains("NOT_FOUND"), "{e}");
}

#[test]
fn client_certificates_cacert_and_max_redirs_from_the_command_line() {
    let o = origin();
    let d = scratch("mtls");
    let state = d.join("state");
    let url = format!("https://localhost:{}/f/cli-mt?size=800", o.mtls);
    let out = d.join("m.bin");
    let (cacert, cert, key) = (
        o.cert.to_str().unwrap(),
        o.client_cert.to_str().unwrap(),
        o.client_key.to_str().unwrap(),
    );
    // Without --cacert the origin's certificate is not trusted: SECURE_FAILURE.
    let e = fails(
        &run(
            &state,
            &[
                "get",
                "--no-progress",
                "--cert",
                cert,
                "--key",
                key,
                "-o",
                out.to_str().unwrap(),
                &url,
            ],
        ),
        6,
    );
    assert!(e.contains("SECURE_FAILURE"), "{e}");
    ok(&run(
        &state,
        &[
            "--cacert",
            cacert,
            "get",
            "--no-progress",
            "--cert",
            cert,
            "--key",
            key,
            "-o",
            out.to_str().unwrap(),
            &url,
        ],
    ));
    assert_eq!(std::fs::read(&out).unwrap(), content(800, 0));
    let j = ok(&run(&state, &["list", "--json"]));
    assert!(!j.contains("BEGIN"), "{j}");
    // --max-redirs 0: a redirect is too many.
    let out = d.join("r.bin");
    let e = fails(
        &run(
            &state,
            &[
                "get",
                "--no-progress",
                "--max-redirs",
                "0",
                "-o",
                out.to_str().unwrap(),
                &o.url("cli-redir", "redirect=1&size=10"),
            ],
        ),
        7,
    );
    assert!(e.contains("REDIRECT_FAILED"), "{e}");
}

#[test]
fn sha256_from_the_command_line_and_in_a_list() {
    let o = origin();
    let d = scratch("sha256");
    let state = d.join("state");
    // content(2000, 0) and content(5000, 0)
    let h2000 = "63d8d35920be456776a35578ade76725c687821ad55d4bb950225fed2d33e6cb";
    let h5000 = "69dbee893909fa17d1be397e0c07691336fe42049c29d403467d3d4a1fc3b5a1";
    let out = d.join("one.bin");
    ok(&run(
        &state,
        &[
            "get",
            "--no-progress",
            "--sha256",
            h2000,
            "-o",
            out.to_str().unwrap(),
            &o.url("cli-sha-1", "size=2000"),
        ],
    ));
    assert_eq!(std::fs::read(&out).unwrap(), content(2000, 0));
    // A wrong digest: VALIDATION_FAILED, exit 9, nothing at the path.
    let bad = d.join("bad.bin");
    let e = fails(
        &run(
            &state,
            &[
                "get",
                "--no-progress",
                "--sha256",
                h5000,
                "-o",
                bad.to_str().unwrap(),
                &o.url("cli-sha-2", "size=2000"),
            ],
        ),
        9,
    );
    assert!(e.contains("VALIDATION_FAILED"), "{e}");
    assert!(!bad.exists());
    // A LIST line may end with sha256=HEX.
    let list = d.join("list.txt");
    std::fs::write(
        &list,
        format!(
            "{}\ta.bin sha256={h2000}\n{}\tb.bin\n",
            o.url("cli-sha-3", "size=2000"),
            o.url("cli-sha-4", "size=5000")
        ),
    )
    .unwrap();
    let dir = d.join("out");
    ok(&run(
        &state,
        &[
            "get",
            "--no-progress",
            "-i",
            list.to_str().unwrap(),
            "-d",
            dir.to_str().unwrap(),
        ],
    ));
    assert_eq!(std::fs::read(dir.join("a.bin")).unwrap(), content(2000, 0));
    assert_eq!(std::fs::read(dir.join("b.bin")).unwrap(), content(5000, 0));
    // --sha256 with several URLs is a usage error.
    fails(
        &run(
            &state,
            &["get", "--sha256", h2000, &o.url("x", ""), &o.url("y", "")],
        ),
        2,
    );
}

#[test]
fn a_new_url_from_the_command_line() {
    let o = origin();
    let d = scratch("newurl");
    let state = d.join("state");
    let id = create(&state, "newurl");
    let local = d.join("n.bin");
    ok(&run(
        &state,
        &[
            "add",
            &id,
            &o.url("cli-nu-old/a", "size=400"),
            local.to_str().unwrap(),
        ],
    ));
    ok(&run(
        &state,
        &[
            "set",
            &id,
            "--url",
            &format!("0={}", o.url("cli-nu-mid/a", "size=400")),
        ],
    ));
    let old = format!("{}/f/cli-nu-mid/", o.http_base());
    let new = format!("{}/f/cli-nu-new/", o.http_base());
    ok(&run(&state, &["set", &id, "--replace-prefix", &old, &new]));
    assert_eq!(
        info(&state, &id)["files"][0]["remote_name"],
        o.url("cli-nu-new/a", "size=400")
    );
    let e = fails(&run(&state, &["set", &id, "--url", "3=http://x/"]), 1);
    assert!(e.contains("no file 3"), "{e}");
    fails(&run(&state, &["set", &id, "--url", "nonsense"]), 2);
    ok(&run(&state, &["resume", &id]));
    ok(&run(&state, &["wait", &id, "--timeout", "60"]));
    ok(&run(&state, &["complete", &id]));
    assert_eq!(std::fs::read(&local).unwrap(), content(400, 0));
    assert_eq!(o.stats("cli-nu-new/a")["requests"], 1);
}

#[test]
fn version_is_the_librarys() {
    let state = scratch("version").join("state");
    let out = ok(&run(&state, &["--version"]));
    assert_eq!(out.trim(), format!("bgcopy {}", bgcopy::VERSION));
    assert_eq!(bgcopy::VERSION, env!("CARGO_PKG_VERSION"));
}

#[test]
fn completions_for_every_shell() {
    let state = scratch("completions").join("state");
    let bash = ok(&run(&state, &["completions", "bash"]));
    assert!(
        bash.contains("_bgcopy()") && bash.contains("complete -F"),
        "{bash}"
    );
    for word in [
        "get",
        "--limit-rate",
        "--json",
        "completions",
        "--user-agent",
    ] {
        assert!(bash.contains(word), "bash completion lacks {word}");
    }
    // The script is valid bash.
    let dir = scratch("completions-check");
    let script = dir.join("bgcopy.bash");
    std::fs::write(&script, &bash).unwrap();
    let check = Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", text(&check.stderr));
    let zsh = ok(&run(&state, &["completions", "zsh"]));
    assert!(zsh.starts_with("#compdef bgcopy"), "{zsh}");
    let fish = ok(&run(&state, &["completions", "fish"]));
    assert!(fish.contains("complete -c bgcopy"), "{fish}");
    assert!(fish.contains("-l limit-rate"), "{fish}");
    fails(&run(&state, &["completions", "tcsh"]), 2);
}

#[test]
fn man_pages() {
    let state = scratch("man").join("state");
    let page = ok(&run(&state, &["man"]));
    assert!(page.contains(".TH bgcopy 1"), "{page}");
    for word in ["get", "completions", "user\\-agent", "Exit codes"] {
        assert!(page.contains(word), "the page lacks {word}");
    }
    // No path of this repository in what an installed binary prints.
    assert!(!page.contains("docs/"), "{page}");
    let help = ok(&run(&state, &["--help"]));
    assert!(!help.contains("docs/") && !help.contains(".md"), "{help}");
    let dir = scratch("man-dir");
    ok(&run(&state, &["man", "--dir", dir.to_str().unwrap()]));
    for f in ["bgcopy.1", "bgcopy-get.1", "bgcopy-completions.1"] {
        let t = std::fs::read_to_string(dir.join(f)).unwrap_or_default();
        assert!(t.contains(".TH"), "{f}: {t}");
    }
}

#[test]
fn get_json_prints_one_object_at_the_end() {
    let o = origin();
    let d = scratch("json");
    let state = d.join("state");
    let url = o.url("j.bin", "size=3000");
    let out = ok(&run(
        &state,
        &["get", "--json", "-d", d.to_str().unwrap(), &url],
    ));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "one line of JSON: {out}");
    let v: Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(v["state"], "ACKNOWLEDGED");
    assert_eq!(v["exit_status"], 0);
    assert_eq!(v["bytes_transferred"], 3000);
    assert_eq!(v["error"], Value::Null);
    assert_eq!(v["files"][0]["url"], url);
    assert_eq!(v["files"][0]["completed"], true);
    assert_eq!(
        v["files"][0]["path"].as_str().unwrap(),
        d.join("j.bin").to_str().unwrap()
    );
    assert_eq!(v["id"].as_str().unwrap().len(), 36);
    assert_eq!(std::fs::read(d.join("j.bin")).unwrap(), content(3000, 0));

    // A failure: the object carries the error and the exit status.
    let r = run(
        &state,
        &[
            "get",
            "--json",
            "-d",
            d.to_str().unwrap(),
            &o.url("jnf.bin", "status=404"),
        ],
    );
    let e = fails(&r, 7);
    assert!(e.contains("HTTP_404"), "{e}");
    let v: Value = serde_json::from_str(text(&r.stdout).trim()).unwrap();
    assert_eq!(v["state"], "ERROR");
    assert_eq!(v["exit_status"], 7);
    assert_eq!(v["error"]["symbol"], "HTTP_404");

    // A failure before there is a job to follow: still one object, without an id.
    let missing = d.join("no-such-list");
    let r = run(&state, &["get", "--json", "-i", missing.to_str().unwrap()]);
    let e = fails(&r, 8);
    assert!(e.contains("PATH_NOT_FOUND"), "{e}");
    let v: Value = serde_json::from_str(text(&r.stdout).trim()).unwrap();
    assert_eq!(v["id"], Value::Null);
    assert_eq!(v["exit_status"], 8);
    assert_eq!(v["error"]["symbol"], "PATH_NOT_FOUND");
}

#[test]
fn exit_statuses_tell_failures_apart() {
    let o = origin();
    let d = scratch("exits");
    let state = d.join("state");
    let dir = d.to_str().unwrap();
    // The server's error status: 7.
    fails(
        &run(
            &state,
            &["get", "-q", "-d", dir, &o.url("x404.bin", "status=403")],
        ),
        7,
    );
    // Nothing listens on the port: 5 (connection), never DNS's 4.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let e = fails(
        &run(
            &state,
            &[
                "get",
                "-q",
                "--no-progress-timeout",
                "0",
                "-d",
                dir,
                &format!("http://127.0.0.1:{closed}/f"),
            ],
        ),
        5,
    );
    assert!(e.contains("CONNECT_FAILURE"), "{e}");
    // A wrong SHA-256: 9.
    let e = fails(
        &run(
            &state,
            &[
                "get",
                "-q",
                "--sha256",
                &"0".repeat(64),
                "-d",
                dir,
                &o.url("xhash.bin", "size=100"),
            ],
        ),
        9,
    );
    assert!(e.contains("VALIDATION_FAILED"), "{e}");
    // A local directory that cannot be written: 8 (root may write anywhere; then skip).
    let ro = d.join("ro");
    std::fs::create_dir(&ro).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o500)).unwrap();
    if std::fs::write(ro.join("probe"), b"x").is_err() {
        let e = fails(
            &run(
                &state,
                &[
                    "get",
                    "-q",
                    "-d",
                    ro.to_str().unwrap(),
                    &o.url("xro.bin", "size=10"),
                ],
            ),
            8,
        );
        assert!(
            e.contains("ACCESS_DENIED") || e.contains("LOCAL_FILE"),
            "{e}"
        );
    }
    // Bad arguments stay 2; an unknown job stays 1.
    fails(
        &run(&state, &["get", "--limit-rate", "lots", "http://x/"]),
        2,
    );
    fails(
        &run(&state, &["info", "00000000-0000-7000-8000-000000000000"]),
        1,
    );
}

#[test]
fn quiet_prints_only_errors_and_verbose_logs_the_library() {
    let o = origin();
    let d = scratch("quiet");
    let state = d.join("state");
    let dir = d.to_str().unwrap();
    let r = run(
        &state,
        &["-q", "get", "-d", dir, &o.url("q.bin", "size=5000")],
    );
    ok(&r);
    assert_eq!(text(&r.stderr), "", "-q prints nothing on success");
    assert_eq!(text(&r.stdout), "");

    let r = run(
        &state,
        &[
            "get",
            "-vv",
            "-d",
            dir,
            &o.url("v.bin", "size=5000&token=s3cr3t"),
        ],
    );
    ok(&r);
    let log = text(&r.stderr);
    assert!(
        log.contains("INFO job:") && log.contains("-> TRANSFERRED"),
        "{log}"
    );
    assert!(log.contains("DEBUG http: GET http://127.0.0.1:"), "{log}");
    assert!(log.contains("/v.bin?…"), "the query is left out: {log}");
    assert!(!log.contains("s3cr3t"), "no query value in the log: {log}");
    assert!(log.contains("DEBUG http: 200 5000 bytes from"), "{log}");
    // -v alone: state changes, no requests.
    let r = run(
        &state,
        &["get", "-v", "-d", dir, &o.url("v1.bin", "size=10")],
    );
    let log = text(&r.stderr);
    assert!(log.contains("INFO job:") && !log.contains("DEBUG"), "{log}");
}

#[test]
fn request_flags_reach_the_engine() {
    let o = origin();
    let d = scratch("ua");
    let state = d.join("state");
    let dir = d.to_str().unwrap();
    ok(&run(
        &state,
        &[
            "--user-agent",
            "my-tool/2.0",
            "--connect-timeout",
            "5",
            "--read-timeout",
            "7.5",
            "get",
            "-d",
            dir,
            &o.url("ua.bin", "size=10"),
        ],
    ));
    let stats = o.stats("ua.bin");
    let sent: Vec<String> = stats["headers"][0]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap().to_string())
        .collect();
    assert!(
        sent.contains(&"user-agent: my-tool/2.0".to_string()),
        "{sent:?}"
    );
    // And from the environment, like the other variables.
    let r = run_env(
        &state,
        &[("BGCOPY_USER_AGENT", "env-tool/1")],
        &["get", "-d", dir, &o.url("ua2.bin", "size=10")],
    );
    ok(&r);
    let h = o.stats("ua2.bin")["headers"][0].to_string();
    assert!(h.contains("user-agent: env-tool/1"), "{h}");
    fails(&run(&state, &["--connect-timeout", "0", "list"]), 2);
    fails(&run(&state, &["--read-timeout", "soon", "list"]), 2);
}
