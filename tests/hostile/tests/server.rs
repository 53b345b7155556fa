//! Threat: a hostile or broken server (or a redirect it sends) tries to make bgcopy
//! loop hot, accept a bad URL, report the wrong error, or download forever.

use bgcopy::{CopyJob, CopyManager, ErrorContext, JobState, JobType, ManagerOptions, codes};
use bgcopy_hostile_tests::*;
use std::time::{Duration, Instant, SystemTime};

fn manager(d: &ScratchDir) -> CopyManager {
    let mut o = ManagerOptions::default();
    o.checkpoint_interval = Duration::from_millis(100);
    CopyManager::open_with(Some(&d.state()), o).unwrap()
}

fn job(m: &CopyManager, d: &ScratchDir, url: &str) -> CopyJob {
    let job = m.create_job("hostile", JobType::Download).unwrap();
    job.add_file(url, &d.file("out.bin")).unwrap();
    job.set_minimum_retry_delay(1).unwrap();
    job
}

fn pct(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// `503` with `Retry-After: 9223372036854775` once overflowed the retry arithmetic
/// into about 1,500 requests in 5 s. Now it is clamped (a day) and never hot.
#[test]
fn a_huge_retry_after_never_makes_a_hot_loop() {
    let d = ScratchDir::new("retryafter");
    let o = shared_origin();
    let name = "huge-retry-after";
    let m = manager(&d);
    let job = job(
        &m,
        &d,
        &o.url(name, "status=503&retry_after=9223372036854775"),
    );
    job.resume().unwrap();
    wait_until(10, "TRANSIENT_ERROR", || {
        job.get_state().unwrap() == JobState::TransientError
    });
    std::thread::sleep(Duration::from_secs(3));
    let requests = o.stats(name)["requests"].as_u64().unwrap();
    assert_eq!(requests, 1, "no retry within 3 s of a huge Retry-After");
    assert_eq!(job.get_state().unwrap(), JobState::TransientError);
    assert_eq!(job.get_error().unwrap().get_error().1, codes::http(503));
}

/// An HTTP-date `Retry-After` is honoured: the retry does not come before it, even
/// with a minimum retry delay of 1 s.
#[test]
fn an_http_date_retry_after_is_honoured() {
    let d = ScratchDir::new("retrydate");
    let server = ScriptedServer::start(|r| {
        if r.number == 1 {
            let at = SystemTime::now() + Duration::from_secs(4);
            response(
                "503 Service Unavailable",
                &[("Retry-After", httpdate::fmt_http_date(at))],
                b"later",
            )
        } else {
            response("200 OK", &[], b"finally")
        }
    });
    let m = manager(&d);
    let job = job(&m, &d, &server.url("x"));
    job.resume().unwrap();
    assert_eq!(
        job.wait(Some(Duration::from_secs(20))).unwrap(),
        JobState::Transferred
    );
    let r = server.requests();
    assert_eq!(r.len(), 2);
    let gap = r[1].at - r[0].at;
    // The date has one-second resolution: at least 3 s of the 4 remain.
    assert!(gap >= Duration::from_millis(2900), "retried after {gap:?}");
}

#[test]
fn invalid_ports_and_foreign_schemes_are_refused_at_add() {
    let d = ScratchDir::new("urls");
    let m = manager(&d);
    let job = m.create_job("urls", JobType::Download).unwrap();
    for bad in [
        "http://127.0.0.1:99999/x",
        "http://127.0.0.1:65536/x",
        "http://[::1/x",
        "data:text/plain,x",
        "javascript:alert(1)",
        "http://alice:pw@127.0.0.1:99999/x",
    ] {
        let e = job.add_file(bad, &d.file("x.bin")).unwrap_err();
        assert_eq!(e.code(), codes::E_INVALIDARG, "{bad}: {e}");
        assert!(
            !e.message().contains(":pw@"),
            "the password is not shown: {e}"
        );
    }
}

#[test]
fn redirects_to_bad_urls_are_redirect_failed() {
    let d = ScratchDir::new("redirects");
    let o = shared_origin();
    let m = manager(&d);
    for (i, to) in [
        "data:text/plain,hello",
        "http://127.0.0.1:99999/x",
        "file:///etc/passwd",
        "ftp://127.0.0.1/x",
    ]
    .into_iter()
    .enumerate()
    {
        let job = job(
            &m,
            &d,
            &o.url(&format!("redir-{i}"), &format!("to={}", pct(to))),
        );
        job.set_no_progress_timeout(0).unwrap();
        job.resume().unwrap();
        assert_eq!(
            job.wait(Some(Duration::from_secs(20))).unwrap(),
            JobState::Error,
            "{to}"
        );
        let e = job.get_error().unwrap();
        assert_eq!(
            e.get_error(),
            (ErrorContext::RemoteFile, codes::REDIRECT_FAILED),
            "{to}: {}",
            e.get_error_description()
        );
        job.cancel().unwrap();
    }
}

#[test]
fn dns_failure_is_name_not_resolved_and_transient() {
    // A name that cannot resolve; skip if this machine's resolver hangs instead of
    // failing (no network tests beyond loopback).
    use std::net::ToSocketAddrs;
    let host = "bgcopy-test.invalid";
    let t = Instant::now();
    let fails_fast = (host, 80).to_socket_addrs().is_err() && t.elapsed() < Duration::from_secs(2);
    if !fails_fast {
        skip("the resolver does not fail fast for .invalid names here");
        return;
    }
    let d = ScratchDir::new("dns");
    let m = manager(&d);
    let j = job(&m, &d, &format!("http://{host}/x"));
    j.resume().unwrap();
    wait_until(20, "TRANSIENT_ERROR", || {
        j.get_state().unwrap() == JobState::TransientError
    });
    let e = j.get_error().unwrap();
    assert_eq!(
        e.get_error(),
        (ErrorContext::GeneralTransport, codes::NAME_NOT_RESOLVED),
        "{}",
        e.get_error_description()
    );
    assert_eq!(codes::symbol(codes::NAME_NOT_RESOLVED), "NAME_NOT_RESOLVED");
    assert_eq!(codes::NAME_NOT_RESOLVED, 0x8007_2EE7);
}

#[test]
fn an_oversized_response_head_is_an_invalid_server_response() {
    let d = ScratchDir::new("bighead");
    let server = ScriptedServer::start(|_| {
        let huge = "x".repeat(200_000);
        response("200 OK", &[("X-Filler", huge)], b"body")
    });
    let m = manager(&d);
    let j = job(&m, &d, &server.url("x"));
    j.resume().unwrap();
    wait_until(20, "an error", || {
        matches!(
            j.get_state().unwrap(),
            JobState::TransientError | JobState::Error
        )
    });
    let e = j.get_error().unwrap();
    assert_eq!(
        e.get_error().1,
        codes::INVALID_SERVER_RESPONSE,
        "{}",
        e.get_error_description()
    );
}

/// A server whose size changes on every attempt (and whose connections drop) once made
/// an endless download-again cycle the no-progress timeout never ended: after
/// MAX_CHANGED_RESTARTS (5) restarts of a file the job goes to ERROR with
/// REMOTE_FILE_CHANGED, and `resume()` gives it a new round.
#[test]
fn a_remote_file_that_changes_on_every_attempt_ends_in_error() {
    let d = ScratchDir::new("changing");
    const HALF: usize = 50_000;
    let server = ScriptedServer::start(|r| {
        // The size grows with every request; the body always breaks off halfway.
        let size = 100_000 + r.number as usize;
        let body = vec![b'z'; size];
        let head = match r.range_start() {
            Some(a) if (a as usize) < size => format!(
                "HTTP/1.1 206 Partial Content\r\nConnection: close\r\nContent-Range: bytes {a}-{}/{size}\r\nContent-Length: {}\r\n\r\n",
                size - 1,
                size - a as usize
            ),
            _ => format!("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: {size}\r\n\r\n"),
        };
        let mut out = head.into_bytes();
        out.extend_from_slice(&body[..HALF]);
        out
    });
    let m = manager(&d);
    let j = job(&m, &d, &server.url("x"));
    j.resume().unwrap();
    assert_eq!(
        j.wait(Some(Duration::from_secs(60))).unwrap(),
        JobState::Error
    );
    let e = j.get_error().unwrap();
    assert_eq!(
        e.get_error(),
        (ErrorContext::RemoteFile, codes::REMOTE_FILE_CHANGED),
        "{}",
        e.get_error_description()
    );
    let before = server.requests().len();
    assert!((6..=20).contains(&before), "{before} requests");
    // A new round after resume().
    j.resume().unwrap();
    assert_eq!(
        j.wait(Some(Duration::from_secs(60))).unwrap(),
        JobState::Error
    );
    assert!(server.requests().len() > before);
}

/// A server that answers a status line and then drips one header line every 100 ms
/// never lets a read wait for the read timeout (400 ms here), so only the bound on the
/// whole response head ends it: twice the read timeout after the request, a transient
/// TIMEOUT. Without that bound the connection would be held forever; with a bound equal
/// to the read timeout the socket timeout is set anew on every request.
#[test]
fn a_response_head_dripped_byte_by_byte_ends_in_timeout_after_twice_the_read_timeout() {
    use std::io::{BufRead, BufReader, Write};
    let d = ScratchDir::new("drip");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel::<Instant>();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(&conn);
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                    line.clear();
                }
                let _ = tx.send(Instant::now());
                let mut w = &conn;
                if w.write_all(b"HTTP/1.1 200 OK\r\n").is_err() {
                    return;
                }
                // At most 30 s: the test fails long before if nothing ends the head.
                for _ in 0..300 {
                    std::thread::sleep(Duration::from_millis(100));
                    if w.write_all(b"X-Drip: a\r\n").is_err() {
                        return;
                    }
                }
            });
        }
    });
    let mut o = ManagerOptions::default();
    o.read_timeout = Duration::from_millis(400);
    let m = CopyManager::open_with(Some(&d.state()), o).unwrap();
    let j = job(&m, &d, &format!("http://127.0.0.1:{port}/drip"));
    j.resume().unwrap();
    let asked = rx.recv_timeout(Duration::from_secs(10)).expect("a request");
    wait_until(10, "TRANSIENT_ERROR", || {
        j.get_state().unwrap() == JobState::TransientError
    });
    let after = asked.elapsed();
    let e = j.get_error().unwrap();
    assert_eq!(
        e.get_error().1,
        codes::TIMEOUT,
        "{}",
        e.get_error_description()
    );
    assert!(
        after >= Duration::from_millis(800),
        "the head may take twice the read timeout, not once: ended after {after:?}"
    );
}
