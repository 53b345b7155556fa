//! One file over several connections (docs/spec.md §8 `set_max_connections_per_file`, BITS
//! Job5 HIGH_PERFORMANCE) and bandwidth limits, against the real test origin, whose
//! `rate=` paces each response like a server that caps every connection, and whose
//! `/stats` shows each request's `Range` and `If-Range`.

use bgcopy::{CopyJob, CopyManager, JobState, JobType, ManagerOptions, Priority};
use bgcopy_test_harness::{ScratchDir as Dir, content, shared_origin as origin};
use std::time::{Duration, Instant};

const MIB: u64 = 1 << 20;

fn open(dir: &Dir) -> CopyManager {
    CopyManager::open_with(Some(&dir.state()), ManagerOptions::default()).unwrap()
}

fn job_for(m: &CopyManager, dir: &Dir, url: &str, name: &str) -> CopyJob {
    let job = m.create_job(name, JobType::Download).unwrap();
    job.set_priority(Priority::Foreground).unwrap();
    job.add_file(url, &dir.file(name)).unwrap();
    job
}

fn finish(job: &CopyJob, secs: u64) -> JobState {
    job.resume().unwrap();
    let s = job.wait(Some(Duration::from_secs(secs))).unwrap();
    if s == JobState::Transferred {
        job.complete().unwrap();
    }
    s
}

fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap_or_default().to_string())
        .collect()
}

/// The `[a, b]` of each `bytes=a-b` request.
fn closed_ranges(name: &str) -> Vec<(u64, u64)> {
    strings(&origin().stats(name)["ranges"])
        .iter()
        .filter_map(|r| {
            let (a, b) = r.strip_prefix("bytes=")?.split_once('-')?;
            Some((a.parse().ok()?, b.parse().ok()?))
        })
        .collect()
}

#[test]
fn a_large_file_comes_over_several_connections_with_if_range_on_each() {
    let dir = Dir::new("seg-basic");
    let m = open(&dir);
    let size = 24 * MIB;
    // 6 MB/s per connection: one stream would take 4 s.
    let url = origin().url("seg-basic", &format!("size={size}&rate=6000000"));
    let job = job_for(&m, &dir, &url, "a.bin");
    assert_eq!(job.get_max_connections_per_file().unwrap(), 8);
    let t = Instant::now();
    assert_eq!(finish(&job, 60), JobState::Transferred);
    let took = t.elapsed();
    assert_eq!(std::fs::read(dir.file("a.bin")).unwrap(), content(size, 0));
    let s = origin().stats("seg-basic");
    let ranges = closed_ranges("seg-basic");
    assert!(ranges.len() >= 3, "segments: {ranges:?} ({s})");
    // Every segment request asks a closed range and names the validator.
    let if_ranges = strings(&s["if_ranges"]);
    assert_eq!(if_ranges[0], "", "the first request is for the whole file");
    assert!(
        if_ranges[1..].iter().all(|v| v == "\"v0-25165824\""),
        "{if_ranges:?}"
    );
    // Nothing was fetched twice: the bytes sent are the file (plus what the first
    // connection had in flight when its end moved).
    let sent = s["bytes_sent"].as_u64().unwrap();
    assert!(sent < size + 4 * MIB, "sent {sent}");
    assert!(took < Duration::from_secs(4), "took {took:?}");
}

#[test]
fn one_connection_per_file_when_the_job_says_so() {
    let dir = Dir::new("seg-one");
    let m = open(&dir);
    let size = 8 * MIB;
    let url = origin().url("seg-one", &format!("size={size}"));
    let job = job_for(&m, &dir, &url, "a.bin");
    job.set_max_connections_per_file(1).unwrap();
    assert_eq!(job.get_max_connections_per_file().unwrap(), 1);
    assert_eq!(
        job.set_max_connections_per_file(0).unwrap_err().code(),
        bgcopy::codes::E_INVALIDARG
    );
    assert_eq!(
        job.set_max_connections_per_file(65).unwrap_err().code(),
        bgcopy::codes::E_INVALIDARG
    );
    assert_eq!(finish(&job, 60), JobState::Transferred);
    assert_eq!(origin().stats("seg-one")["requests"], 1);
    assert_eq!(std::fs::read(dir.file("a.bin")).unwrap(), content(size, 0));
}

#[test]
fn a_server_that_ignores_a_range_once_leaves_one_stream_and_no_error() {
    let dir = Dir::new("seg-norange");
    let m = open(&dir);
    let size = 16 * MIB;
    let url = origin().url(
        "seg-norange",
        &format!("size={size}&rate=8000000&norange_at=2"),
    );
    let job = job_for(&m, &dir, &url, "a.bin");
    assert_eq!(finish(&job, 60), JobState::Transferred);
    assert_eq!(job.get_error_count().unwrap(), 0);
    assert_eq!(std::fs::read(dir.file("a.bin")).unwrap(), content(size, 0));
    // After the refused range, one stream: no new split (the requests are the first,
    // the splits made before the refusal came back, and the refused part once more).
    let s = origin().stats("seg-norange");
    assert!(s["requests"].as_u64().unwrap() <= 9, "{s}");
    assert!(s["bytes_sent"].as_u64().unwrap() < size + 4 * MIB, "{s}");
}

#[test]
fn content_that_changes_mid_way_restarts_the_file_once() {
    let dir = Dir::new("seg-change");
    let m = open(&dir);
    let size = 16 * MIB;
    let url = origin().url(
        "seg-change",
        &format!("size={size}&rate=8000000&change_after=1"),
    );
    let job = job_for(&m, &dir, &url, "a.bin");
    assert_eq!(finish(&job, 60), JobState::Transferred);
    assert_eq!(std::fs::read(dir.file("a.bin")).unwrap(), content(size, 1));
    assert!(
        job.get_error_count().unwrap() >= 1,
        "the restart is recorded"
    );
}

#[test]
fn a_reset_segment_is_fetched_again() {
    let dir = Dir::new("seg-reset");
    let m = open(&dir);
    let size = 16 * MIB;
    // Whichever request covers byte 12 MiB first is reset there.
    let url = origin().url(
        "seg-reset",
        &format!(
            "size={size}&rate=8000000&reset_at={}&faults=20",
            12 * MIB + 12345
        ),
    );
    let job = job_for(&m, &dir, &url, "a.bin");
    assert_eq!(finish(&job, 60), JobState::Transferred);
    assert_eq!(std::fs::read(dir.file("a.bin")).unwrap(), content(size, 0));
    assert!(job.get_error_count().unwrap() >= 1, "the reset is counted");
    let ranges = closed_ranges("seg-reset");
    assert!(
        ranges
            .iter()
            .any(|(a, _)| *a >= 12 * MIB && *a <= 12 * MIB + 12345),
        "the reset segment went on from where it broke: {ranges:?}"
    );
}

#[test]
fn too_many_requests_on_a_segment_backs_the_whole_file_off() {
    let dir = Dir::new("seg-429");
    let m = open(&dir);
    let size = 16 * MIB;
    // Requests 2..=4 get 429 with Retry-After: 1.
    let url = origin().url(
        "seg-429",
        &format!("size={size}&rate=8000000&status=429&status_from=2&fail=4&retry_after=1"),
    );
    let job = job_for(&m, &dir, &url, "a.bin");
    job.set_minimum_retry_delay(0).unwrap();
    assert_eq!(finish(&job, 60), JobState::Transferred);
    assert_eq!(std::fs::read(dir.file("a.bin")).unwrap(), content(size, 0));
    let s = origin().stats("seg-429");
    let at: Vec<u64> = s["at_ms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    // After the first 429 (request 2) the file waits the second the server asked for:
    // no request within it (only the ones sent at the same instant as request 2, before
    // its answer came), not a storm of retries.
    let first_429 = at[1];
    let during: Vec<_> = at[2..]
        .iter()
        .filter(|t| **t > first_429 + 100 && **t < first_429 + 900)
        .collect();
    assert!(during.is_empty(), "requests during the back-off: {at:?}");
    assert!(at.len() <= 20, "{at:?}");
    assert!(job.get_error_count().unwrap() >= 1);
}

#[test]
fn a_job_limit_holds_over_all_its_connections_and_changes_at_once() {
    let dir = Dir::new("seg-bw");
    let m = open(&dir);
    let size = 200 * MIB;
    let url = origin().url("seg-bw", &format!("size={size}"));
    let job = job_for(&m, &dir, &url, "a.bin");
    let limit = 4_000_000u64;
    job.set_bandwidth_limit(limit).unwrap();
    assert_eq!(job.get_bandwidth_limit().unwrap(), limit);
    job.resume().unwrap();
    let bytes = || job.get_progress().unwrap().bytes_transferred;
    // Let the segments start, then measure 5 s.
    let t = Instant::now();
    while bytes() < 2 * MIB && t.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let (b0, t0) = (bytes(), Instant::now());
    std::thread::sleep(Duration::from_secs(5));
    let rate = (bytes() - b0) as f64 / t0.elapsed().as_secs_f64();
    assert!(
        (rate - limit as f64).abs() <= limit as f64 * 0.10,
        "{rate:.0} B/s under a limit of {limit}"
    );
    let ranges = closed_ranges("seg-bw");
    assert!(ranges.len() >= 2, "several connections: {ranges:?}");
    // A lower limit applies within a second.
    let low = 1_000_000u64;
    job.set_bandwidth_limit(low).unwrap();
    std::thread::sleep(Duration::from_secs(1));
    let (b1, t1) = (bytes(), Instant::now());
    std::thread::sleep(Duration::from_secs(3));
    let rate = (bytes() - b1) as f64 / t1.elapsed().as_secs_f64();
    assert!(
        (rate - low as f64).abs() <= low as f64 * 0.15,
        "{rate:.0} B/s after the limit went to {low}"
    );
    job.cancel().unwrap();
}

#[test]
fn the_background_limit_changes_while_transfers_run() {
    let dir = Dir::new("seg-bg");
    let m = open(&dir);
    assert_eq!(m.get_background_bandwidth_limit().unwrap(), 0);
    m.set_background_bandwidth_limit(2_000_000).unwrap();
    assert_eq!(m.get_background_bandwidth_limit().unwrap(), 2_000_000);
    // 20 MB/s per connection: without a limit the job runs far faster than 10 MB/s
    // but cannot finish before it is measured (a 200 MiB file at full speed did).
    let url = origin().url("seg-bg", &format!("size={}&rate=20000000", 400 * MIB));
    let job = m.create_job("bg", JobType::Download).unwrap();
    job.add_file(&url, &dir.file("a.bin")).unwrap();
    job.resume().unwrap();
    let bytes = || job.get_progress().unwrap().bytes_transferred;
    let t = Instant::now();
    while bytes() < MIB && t.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let (b0, t0) = (bytes(), Instant::now());
    std::thread::sleep(Duration::from_secs(3));
    let rate = (bytes() - b0) as f64 / t0.elapsed().as_secs_f64();
    assert!((rate - 2e6).abs() <= 2e6 * 0.15, "{rate:.0} B/s");
    // Lifted: much faster at once.
    m.set_background_bandwidth_limit(0).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let (b1, t1) = (bytes(), Instant::now());
    std::thread::sleep(Duration::from_secs(1));
    let rate = (bytes() - b1) as f64 / t1.elapsed().as_secs_f64();
    assert!(rate > 10e6, "{rate:.0} B/s without a limit");
    job.cancel().unwrap();
    drop(m);
    // The setting stays with the state directory.
    let m = open(&dir);
    assert_eq!(m.get_background_bandwidth_limit().unwrap(), 0);
    m.set_background_bandwidth_limit(5).unwrap();
    drop(m);
    assert_eq!(open(&dir).get_background_bandwidth_limit().unwrap(), 5);
}

#[test]
fn the_per_host_cap_bounds_every_transfer_to_one_host_and_shares_it() {
    let dir = Dir::new("seg-host");
    let mut o = ManagerOptions::default();
    o.connections_per_host = 2;
    let m = CopyManager::open_with(Some(&dir.state()), o).unwrap();
    // Four files of 1 MB at 1 MB/s each, in one job of 8 connections: with 2
    // connections to the host, they come two at a time (about 2 s), not all at once.
    let job = m.create_job("capped", JobType::Download).unwrap();
    job.set_priority(Priority::Foreground).unwrap();
    for i in 0..4 {
        let url = origin().url(&format!("seg-host-{i}"), "size=1000000&rate=1000000");
        job.add_file(&url, &dir.file(&format!("h{i}.bin"))).unwrap();
    }
    // A background job on the same host waits its turn too, and is not starved.
    let bg = m.create_job("bg", JobType::Download).unwrap();
    let url = origin().url("seg-host-bg", "size=1000000&rate=1000000");
    bg.add_file(&url, &dir.file("bg.bin")).unwrap();
    let t = Instant::now();
    job.resume().unwrap();
    bg.resume().unwrap();
    assert_eq!(
        job.wait(Some(Duration::from_secs(30))).unwrap(),
        JobState::Transferred
    );
    assert_eq!(
        bg.wait(Some(Duration::from_secs(30))).unwrap(),
        JobState::Transferred
    );
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(2400),
        "five 1 s files over 2 connections took {took:?}"
    );
    let mut starts: Vec<u64> = (0..4)
        .map(|i| format!("seg-host-{i}"))
        .chain(["seg-host-bg".to_string()])
        .map(|n| origin().stats(&n)["at_ms"][0].as_u64().unwrap())
        .collect();
    starts.sort_unstable();
    // At most two requests at once: the third starts when one of the first two ended.
    assert!(starts[2] >= starts[0] + 800, "{starts:?}");
    assert!(starts[4] >= starts[0] + 1600, "{starts:?}");
    job.complete().unwrap();
    bg.complete().unwrap();
}

/// Suspend `job` once it has at least `bytes` (live progress).
fn suspend_after(job: &CopyJob, bytes: u64) {
    let t = Instant::now();
    while job.get_progress().unwrap().bytes_transferred < bytes {
        assert!(t.elapsed() < Duration::from_secs(30), "no progress");
        std::thread::sleep(Duration::from_millis(10));
    }
    job.suspend().unwrap();
}

#[test]
fn a_shorter_new_content_leaves_no_old_bytes_at_the_end() {
    // 8 MiB of a 24 MiB file, then its URL serves other content of 4 MiB: the file
    // restarts, comes in segments, and is exactly the new content (not 4 MiB of it
    // followed by the old bytes).
    let dir = Dir::new("seg-shrink");
    let m = open(&dir);
    let big = origin().url("seg-shrink-a", &format!("size={}&rate=8000000", 24 * MIB));
    let job = job_for(&m, &dir, &big, "a.bin");
    // One stream first (the bytes are a prefix), segments after the change.
    job.set_max_connections_per_file(1).unwrap();
    job.resume().unwrap();
    suspend_after(&job, 8 * MIB);
    job.set_max_connections_per_file(8).unwrap();
    let small = origin().url("seg-shrink-b", &format!("size={}", 4 * MIB));
    job.enum_files().unwrap()[0]
        .set_remote_name(&small)
        .unwrap();
    assert_eq!(finish(&job, 60), JobState::Transferred);
    assert_eq!(
        std::fs::read(dir.file("a.bin")).unwrap(),
        content(4 * MIB, 0)
    );
}

#[test]
fn another_files_error_stops_a_segmented_file_which_resumes_intact() {
    // File b breaks after half a second, before a's first checkpoint: the run stops
    // (TRANSIENT_ERROR) while a is in segments; the retry in this process goes on
    // from a's ranges as they were written.
    let dir = Dir::new("seg-abort");
    let m = open(&dir);
    let job = m.create_job("two", JobType::Download).unwrap();
    job.set_priority(Priority::Foreground).unwrap();
    job.set_minimum_retry_delay(1).unwrap();
    let a = origin().url("seg-abort-a", &format!("size={}&rate=1000000", 32 * MIB));
    let b = origin().url("seg-abort-b", "size=100000&rate=100000&reset_at=50000");
    job.add_file(&a, &dir.file("a.bin")).unwrap();
    job.add_file(&b, &dir.file("b.bin")).unwrap();
    assert_eq!(finish(&job, 90), JobState::Transferred);
    assert!(job.get_error_count().unwrap() >= 1);
    assert_eq!(
        std::fs::read(dir.file("a.bin")).unwrap(),
        content(32 * MIB, 0)
    );
    assert_eq!(
        std::fs::read(dir.file("b.bin")).unwrap(),
        content(100_000, 0)
    );
}

#[test]
fn resumed_segments_from_a_server_that_stopped_doing_ranges_end_as_one_stream() {
    // Segments of a file are in; then the server ignores every Range (the same
    // content and ETag): the file goes on over one stream (here: from 0, since the
    // server sends the whole file), never a loop of refused requests.
    let dir = Dir::new("seg-refuse");
    let m = open(&dir);
    let size = 16 * MIB;
    let url = origin().url("seg-refuse", &format!("size={size}&rate=2000000"));
    let job = job_for(&m, &dir, &url, "a.bin");
    job.resume().unwrap();
    suspend_after(&job, 4 * MIB);
    let before = origin().stats("seg-refuse")["requests"].as_u64().unwrap();
    let plain = origin().url("seg-refuse", &format!("size={size}&norange=1"));
    job.enum_files().unwrap()[0]
        .set_remote_name(&plain)
        .unwrap();
    assert_eq!(finish(&job, 60), JobState::Transferred);
    assert_eq!(std::fs::read(dir.file("a.bin")).unwrap(), content(size, 0));
    // One refused request per connection that asked at once (8 at most), then one
    // stream: not a loop.
    let after = origin().stats("seg-refuse")["requests"].as_u64().unwrap();
    assert!(
        after - before <= 10,
        "{} requests after the change",
        after - before
    );
}
