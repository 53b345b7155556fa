use bgcopy::*;
use bgcopy_test_harness::{Origin, content};
use std::time::Duration;

#[test]
fn downloads_and_resumes_after_reset() {
    let origin = Origin::start();
    let dir = std::env::temp_dir().join(format!("bgc-smoke-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let m = CopyManager::open(Some(&dir.join("state"))).unwrap();
    let job = m.create_job("smoke", JobType::Download).unwrap();
    job.set_minimum_retry_delay(1).unwrap();
    // One stream: the reset makes a TRANSIENT_ERROR and one resume (a segmented file
    // fetches a broken segment again at once: tests/segmented.rs).
    job.set_max_connections_per_file(1).unwrap();
    let local = dir.join("a.bin");
    job.add_file(
        &origin.url("smoke-a", "size=3000000&reset_at=1000000"),
        local.to_str().unwrap(),
    )
    .unwrap();
    job.resume().unwrap();
    let st = job.wait(Some(Duration::from_secs(30))).unwrap();
    assert_eq!(
        st,
        JobState::Transferred,
        "{:?}",
        job.get_error().map(|e| e.get_error_description())
    );
    assert!(!local.exists());
    assert_eq!(job.complete().unwrap(), Completion::All);
    assert_eq!(std::fs::read(&local).unwrap(), content(3_000_000, 0));
    assert_eq!(job.get_error_count().unwrap(), 1);
    let stats = origin.stats("smoke-a");
    assert_eq!(stats["requests"], 2, "{stats}");
}

#[test]
fn waits_in_the_background_answer_or_stop_when_cancelled() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::mpsc::channel;
    let dir = std::env::temp_dir().join(format!("bgc-waitbg-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let m = CopyManager::open(Some(&dir.join("state"))).unwrap();
    let job = m.create_job("wait", JobType::Download).unwrap();
    let slice = Duration::from_millis(20);

    // Answered: the timeout passes on the helper thread.
    let (tx, rx) = channel();
    job.wait_in_background(
        Some(Duration::from_millis(50)),
        slice,
        || false,
        move |r| tx.send(r.map(|r| r.unwrap())).unwrap(),
    )
    .unwrap();
    let got = rx.recv_timeout(Duration::from_secs(10)).unwrap().unwrap();
    assert_eq!(
        (got.state, got.end),
        (JobState::Suspended, WaitEnd::TimedOut)
    );

    // Cancelled: no answer, and the thread ends within a slice or so.
    let cancel = Arc::new(AtomicBool::new(false));
    let (tx, rx) = channel();
    let c = cancel.clone();
    job.wait_in_background(
        None,
        slice,
        move || c.load(Ordering::SeqCst),
        move |r| tx.send(r.is_none()).unwrap(),
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(60));
    cancel.store(true, Ordering::SeqCst);
    assert!(
        rx.recv_timeout(Duration::from_secs(10)).unwrap(),
        "cancelled: no answer"
    );

    // Closing the manager ends a wait with no timeout.
    let (tx, rx) = channel();
    job.wait_in_background(
        None,
        slice,
        || false,
        move |r| tx.send(r.map(|r| r.unwrap().end)).unwrap(),
    )
    .unwrap();
    m.close().unwrap();
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(10)).unwrap(),
        Some(WaitEnd::Closed)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A job of more files than the first batch of temporary files (twice the connections)
/// plus one more batch: the rest are made while the first ones transfer, and every
/// file arrives whole, each with its own content.
#[test]
fn many_files_while_their_temporary_files_are_made_in_batches() {
    let origin = Origin::start();
    let dir = std::env::temp_dir().join(format!("bgc-smoke-many-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("out")).unwrap();
    let mut opts = ManagerOptions::default();
    opts.connections_per_job = 2;
    let m = CopyManager::open_with(Some(&dir.join("state")), opts).unwrap();
    let job = m.create_job("many", JobType::Download).unwrap();
    let n = 300u64;
    let files: Vec<(String, String)> = (0..n)
        .map(|i| {
            let local = dir.join("out").join(format!("f{i}.bin"));
            (
                origin.url(&format!("many-{i}"), &format!("size={}", 100 + i)),
                local.to_string_lossy().into_owned(),
            )
        })
        .collect();
    job.add_file_set(&files).unwrap();
    job.resume().unwrap();
    let st = job.wait(Some(Duration::from_secs(60))).unwrap();
    assert_eq!(
        st,
        JobState::Transferred,
        "{:?}",
        job.get_error().map(|e| e.get_error_description())
    );
    assert_eq!(job.get_error_count().unwrap(), 0);
    assert_eq!(job.complete().unwrap(), Completion::All);
    for (i, (_, local)) in files.iter().enumerate() {
        assert_eq!(
            std::fs::read(local).unwrap(),
            content(100 + i as u64, 0),
            "{local}"
        );
    }
    // No temporary file is left behind.
    let left: Vec<_> = std::fs::read_dir(dir.join("out"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    m.close().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn files_interleaved_across_directories_all_land_and_no_temporary_is_left() {
    let origin = Origin::start();
    let dir = std::env::temp_dir().join(format!("bgc-smoke-dirs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for d in 0..3 {
        std::fs::create_dir_all(dir.join(format!("d{d}"))).unwrap();
    }
    let m = CopyManager::open(Some(&dir.join("state"))).unwrap();
    let job = m.create_job("dirs", JobType::Download).unwrap();
    // complete() moves them in this order: the directory changes at every file.
    let files: Vec<(String, String)> = (0..12u64)
        .map(|i| {
            let local = dir.join(format!("d{}", i % 3)).join(format!("f{i}.bin"));
            (
                origin.url(&format!("dirs-{i}"), &format!("size={}", 5000 + i)),
                local.to_string_lossy().into_owned(),
            )
        })
        .collect();
    job.add_file_set(&files).unwrap();
    job.resume().unwrap();
    assert_eq!(
        job.wait(Some(Duration::from_secs(60))).unwrap(),
        JobState::Transferred
    );
    assert_eq!(job.complete().unwrap(), Completion::All);
    for (i, (_, local)) in files.iter().enumerate() {
        assert_eq!(std::fs::read(local).unwrap(), content(5000 + i as u64, 0));
    }
    for d in 0..3 {
        let names: Vec<String> = std::fs::read_dir(dir.join(format!("d{d}")))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 4, "d{d}: {names:?}");
        assert!(names.iter().all(|n| !n.starts_with('.')), "d{d}: {names:?}");
    }
    m.close().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
