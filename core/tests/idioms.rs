//! What every language's idiomatic layer forwards: a job's event stream, the one-call
//! download, error kinds. Against the real test origin.

use bgcopy::*;
use bgcopy_test_harness::{Origin, content};
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("bgc-idioms-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn drain(events: &mut JobEvents) -> Vec<JobEvent> {
    let start = Instant::now();
    let mut out = Vec::new();
    for ev in events.by_ref() {
        out.push(ev.unwrap());
        assert!(start.elapsed() < Duration::from_secs(60), "{out:?}");
    }
    out
}

#[test]
fn events_run_from_the_state_now_to_transferred_and_then_end() {
    let origin = Origin::start();
    let d = dir("events");
    let m = CopyManager::open(Some(&d.join("state"))).unwrap();
    let job = m.create_job("events", JobType::Download).unwrap();
    job.set_max_connections_per_file(1).unwrap();
    for (i, size) in [300_000u64, 200].iter().enumerate() {
        let local = d.join(format!("f{i}"));
        job.add_file(
            &origin.url(&format!("ev-{i}"), &format!("size={size}&rate=1000000")),
            local.to_str().unwrap(),
        )
        .unwrap();
    }
    let mut events = job.events().unwrap();
    job.resume().unwrap();
    let all = drain(&mut events);
    assert!(events.is_ended());
    assert!(events.next_event(Some(Duration::ZERO)).unwrap().is_none());
    let first = &all[0];
    assert_eq!(
        (first.kind, first.state),
        (JobEventKind::StateChanged, JobState::Suspended)
    );
    let last = all.last().unwrap();
    assert_eq!(
        (last.kind, last.state),
        (JobEventKind::StateChanged, JobState::Transferred)
    );
    assert_eq!(last.progress.files_transferred, 2);
    let mut files: Vec<u32> = all
        .iter()
        .filter(|e| e.kind == JobEventKind::FileTransferred)
        .map(|e| e.file_index.unwrap())
        .collect();
    files.sort();
    assert_eq!(files, [0, 1]);
    // 0.3 s at 1 MB/s: progress came in between, never going back.
    let progress: Vec<u64> = all
        .iter()
        .filter(|e| e.kind == JobEventKind::Progress)
        .map(|e| e.progress.bytes_transferred)
        .collect();
    assert!(!progress.is_empty(), "{all:?}");
    assert!(progress.windows(2).all(|w| w[0] <= w[1]), "{progress:?}");
    assert!(all.iter().any(|e| e.state == JobState::Transferring));
    // A stream opened on a job already TRANSFERRED gives that state and ends.
    let again = drain(&mut job.events().unwrap());
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].state, JobState::Transferred);
    job.complete().unwrap();
    m.close().unwrap();
    // After close: the stream ends.
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn an_http_error_ends_the_stream_with_its_kind_and_status() {
    let origin = Origin::start();
    let d = dir("events404");
    let m = CopyManager::open(Some(&d.join("state"))).unwrap();
    let job = m.create_job("404", JobType::Download).unwrap();
    job.add_file(
        &origin.url("missing", "status=404"),
        d.join("x").to_str().unwrap(),
    )
    .unwrap();
    let mut events = job.events().unwrap();
    job.resume().unwrap();
    let all = drain(&mut events);
    let last = all.last().unwrap();
    assert_eq!(
        (last.kind, last.state),
        (JobEventKind::Error, JobState::Error)
    );
    let err = last.error.as_ref().unwrap();
    assert_eq!(err.kind(), ErrorKind::Http);
    assert_eq!(err.http_status(), Some(404));
    assert_eq!(err.context(), Some(ErrorContext::RemoteFile));
    assert!(
        format!("{err}").starts_with("HTTP_404 (0x80190194): "),
        "{err}"
    );
    // The state change to ERROR came just before, without ending the stream.
    assert_eq!(all[all.len() - 2].state, JobState::Error);
    job.cancel().unwrap();
    m.close().unwrap();
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn one_call_downloads_into_a_directory_or_a_file_and_cancels_on_failure() {
    let origin = Origin::start();
    let d = dir("download");
    let mut opts = DownloadOptions::default();
    opts.state_dir = Some(d.join("state"));
    // Several URLs: into a directory (made), named from the URLs.
    let urls = [
        origin.url("one.bin", "size=1000"),
        origin.url("two.bin", "size=2000"),
    ];
    let refs: Vec<&str> = urls.iter().map(String::as_str).collect();
    let mut seen = Vec::new();
    let paths = download_until(
        &refs,
        &d.join("out"),
        &opts,
        &mut |e| seen.push(e.kind),
        &|| false,
    )
    .unwrap()
    .unwrap();
    assert_eq!(paths, [d.join("out/one.bin"), d.join("out/two.bin")]);
    assert_eq!(std::fs::read(&paths[0]).unwrap(), content(1000, 0));
    assert_eq!(std::fs::read(&paths[1]).unwrap(), content(2000, 0));
    assert_eq!(seen.first(), Some(&JobEventKind::StateChanged));
    assert!(seen.contains(&JobEventKind::FileTransferred));
    // One URL and a path that is not a directory: that file.
    let one = [origin.url("three", "size=10")];
    let p = download(&[one[0].as_str()], &d.join("three.dat"), &opts).unwrap();
    assert_eq!(p, [d.join("three.dat")]);
    assert_eq!(std::fs::read(&p[0]).unwrap(), content(10, 0));
    // Two URLs with one name: refused before anything starts.
    let same = [origin.url("a/x", "size=1"), origin.url("b/x", "size=1")];
    let e = download(&[same[0].as_str(), same[1].as_str()], &d.join("dup"), &opts).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    // A 404: the job's error, typed, and the job cancelled.
    let gone = [origin.url("gone", "status=404")];
    let e = download(&[gone[0].as_str()], &d.join("gone.bin"), &opts).unwrap_err();
    assert_eq!((e.kind(), e.http_status()), (ErrorKind::Http, Some(404)));
    assert!(!d.join("gone.bin").exists());
    let m = CopyManager::open(Some(&d.join("state"))).unwrap();
    assert!(
        m.enum_jobs().unwrap().is_empty(),
        "the failed job is cancelled"
    );
    m.close().unwrap();
    // A transient error (no connection) with no patience: a typed network error at once.
    let mut impatient = opts.clone();
    impatient.no_progress_timeout = 0;
    let t = Instant::now();
    let e = download(
        &["http://127.0.0.1:1/refused"],
        &d.join("refused.bin"),
        &impatient,
    )
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Network, "{e}");
    assert!(t.elapsed() < Duration::from_secs(20));
    // A stop: the job is cancelled, nothing is left.
    let slow = [origin.url("slow", "size=5000000&rate=100000")];
    let t = Instant::now();
    let stopped = download_until(
        &[slow[0].as_str()],
        &d.join("slow.bin"),
        &opts,
        &mut |_| {},
        &|| t.elapsed() > Duration::from_millis(300),
    )
    .unwrap();
    assert!(stopped.is_none());
    assert!(t.elapsed() < Duration::from_secs(10));
    let left: Vec<_> = std::fs::read_dir(&d)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .filter(|n| n.to_string_lossy().starts_with(".slow"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    let m = CopyManager::open(Some(&d.join("state"))).unwrap();
    assert!(m.enum_jobs().unwrap().is_empty());
    m.close().unwrap();
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn create_job_with_sets_everything_or_leaves_no_job() {
    let origin = Origin::start();
    let d = dir("setup");
    let m = CopyManager::open(Some(&d.join("state"))).unwrap();
    let local = d.join("a.bin");
    let job = m
        .create_job_with(
            "setup",
            JobSetup {
                files: vec![(
                    origin.url("setup-a", "size=1000"),
                    local.to_str().unwrap().to_string(),
                )],
                priority: Some(Priority::High),
                description: Some("one call".into()),
                ..JobSetup::default()
            },
        )
        .unwrap();
    assert_eq!(job.get_display_name().unwrap(), "setup");
    assert_eq!(job.get_priority().unwrap(), Priority::High);
    assert_eq!(job.get_description().unwrap(), "one call");
    assert_eq!(job.get_state().unwrap(), JobState::Suspended);
    let files = job.enum_files().unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].get_local_name().unwrap(), local.to_str().unwrap());
    job.resume().unwrap();
    assert_eq!(
        job.wait(Some(Duration::from_secs(30))).unwrap(),
        JobState::Transferred
    );
    job.complete().unwrap();
    assert_eq!(std::fs::read(&local).unwrap(), content(1000, 0));

    // A bad file (a relative path) fails the call with its code and leaves no job.
    let before = m.enum_jobs().unwrap().len();
    let journal = m.journal_end().unwrap();
    let e = m
        .create_job_with(
            "bad",
            JobSetup {
                files: vec![(origin.url("setup-b", "size=10"), "relative/b".into())],
                priority: Some(Priority::Low),
                ..JobSetup::default()
            },
        )
        .unwrap_err();
    assert_eq!(e.code(), codes::E_INVALIDARG, "{e}");
    assert_eq!(m.enum_jobs().unwrap().len(), before);
    // A description too long is refused before any job is made.
    let e = m
        .create_job_with(
            "long",
            JobSetup {
                description: Some("x".repeat(1025)),
                ..JobSetup::default()
            },
        )
        .unwrap_err();
    assert_eq!(e.code(), codes::STRING_TOO_LONG, "{e}");
    assert_eq!(m.enum_jobs().unwrap().len(), before);
    // Refused before any job was made: the bad file's job (made, then cancelled) is in
    // the journal, the long description's is not.
    let bad_job_entries = m.journal_end().unwrap() - journal;
    let after_long = m.journal_end().unwrap();
    assert!(bad_job_entries > 0);
    let e = m
        .create_job_with(
            "long again",
            JobSetup {
                description: Some("y".repeat(2000)),
                ..JobSetup::default()
            },
        )
        .unwrap_err();
    assert_eq!(e.code(), codes::STRING_TOO_LONG, "{e}");
    assert_eq!(m.journal_end().unwrap(), after_long);
    m.close().unwrap();
}

#[test]
fn a_stream_ends_at_cancel_and_at_close() {
    let origin = Origin::start();
    let d = dir("iter-error");
    let m = CopyManager::open(Some(&d.join("state"))).unwrap();
    let job = m.create_job("iter", JobType::Download).unwrap();
    job.add_file(
        &origin.url("iter-slow", "size=5000000&rate=100000"),
        d.join("slow").to_str().unwrap(),
    )
    .unwrap();
    job.resume().unwrap();
    let mut events = job.events().unwrap();
    assert_eq!(
        events.next().unwrap().unwrap().kind,
        JobEventKind::StateChanged
    );
    job.cancel().unwrap();
    let rest: Vec<_> = events.by_ref().take(100).collect::<Result<_>>().unwrap();
    assert_eq!(
        rest.last().map(|e| e.state),
        Some(JobState::Cancelled),
        "{rest:?}"
    );
    assert!(events.next().is_none());
    // After close a stream ends at once.
    let job = m.create_job("iter 2", JobType::Download).unwrap();
    let mut events = job.events().unwrap();
    assert_eq!(events.next().unwrap().unwrap().state, JobState::Suspended);
    m.close().unwrap();
    let rest: Vec<_> = events.by_ref().take(100).collect();
    assert!(rest.len() <= 1, "{rest:?}");
    assert!(events.next().is_none());
}
