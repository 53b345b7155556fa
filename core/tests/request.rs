//! What a job adds to its requests (docs/spec.md §8): custom headers (write-only too), the
//! security flags (redirect policy, https→http), credentials, new remote names, the
//! maximum download time and proxies, against the real test origin (whose `/stats`
//! shows the headers each request carried) and real proxies it starts.

use bgcopy::{
    AuthScheme, AuthTarget, CopyJob, CopyManager, ErrorContext, JobState, JobType, ManagerOptions,
    ProxySettings, ProxyUsage, codes, security,
};
use bgcopy_test_harness::{ScratchDir as Dir, content, shared_origin as origin};
use std::time::Duration;

fn open(dir: &Dir) -> CopyManager {
    let mut o = ManagerOptions::default();
    o.tls_root_certs = Some(vec![origin().cert.clone()]);
    CopyManager::open_with(Some(&dir.state()), o).unwrap()
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// One file job on `url`, saved as `dir/name`.
fn job_for(m: &CopyManager, dir: &Dir, url: &str, name: &str) -> CopyJob {
    let job = m.create_job(name, JobType::Download).unwrap();
    job.add_file(url, &dir.file(name)).unwrap();
    job
}

fn run(job: &CopyJob) -> JobState {
    job.resume().unwrap();
    job.wait(Some(Duration::from_secs(60))).unwrap()
}

/// The header lines the origin saw on each counted request of `name`.
fn seen(name: &str) -> Vec<Vec<String>> {
    let s = origin().stats(name);
    s["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|h| h.as_str().unwrap().to_string())
                .collect()
        })
        .collect()
}

#[test]
fn custom_headers_reach_the_origin_are_stored_and_can_be_made_write_only() {
    let dir = Dir::new("req-headers");
    let m = open(&dir);
    let job = job_for(&m, &dir, &origin().url("rq-h", "size=5000"), "rq-h");
    assert_eq!(job.get_custom_headers().unwrap(), Vec::<String>::new());
    job.set_custom_headers(&["X-Token:  secret-1 ", "User-Agent: custom/1.0"])
        .unwrap();
    assert_eq!(
        job.get_custom_headers().unwrap(),
        vec!["X-Token: secret-1", "User-Agent: custom/1.0"]
    );
    assert_eq!(run(&job), JobState::Transferred);
    let reqs = seen("rq-h");
    assert_eq!(reqs.len(), 1);
    assert!(
        reqs[0].contains(&"x-token: secret-1".to_string()),
        "{reqs:?}"
    );
    // The job's User-Agent replaces the manager's, not added to it.
    let agents: Vec<_> = reqs[0]
        .iter()
        .filter(|h| h.starts_with("user-agent:"))
        .collect();
    assert_eq!(agents, ["user-agent: custom/1.0"], "{reqs:?}");
    job.complete().unwrap();
    assert_eq!(std::fs::read(dir.file("rq-h")).unwrap(), content(5000, 0));

    // Stored with the job: another manager (after a reopen) reads them; write-only
    // hides them for good, but they are still sent and can be replaced.
    let job = job_for(&m, &dir, &origin().url("rq-w", "size=100"), "rq-w");
    job.set_custom_headers(&["X-Token: t2"]).unwrap();
    job.make_custom_headers_write_only().unwrap();
    let e = job.get_custom_headers().unwrap_err();
    assert_eq!(e.code(), codes::ACCESS_DENIED);
    assert!(!e.to_string().contains("t2"), "{e}");
    job.set_custom_headers(&["X-Token: t3"]).unwrap();
    let id = job.get_id();
    m.close().unwrap();
    drop(m);
    let m = open(&dir);
    let job = m.get_job(&id).unwrap();
    assert_eq!(
        job.get_custom_headers().unwrap_err().code(),
        codes::ACCESS_DENIED
    );
    assert_eq!(run(&job), JobState::Transferred);
    assert!(seen("rq-w")[0].contains(&"x-token: t3".to_string()));
    job.complete().unwrap();

    // Bad lines are refused, naming the problem, and change nothing.
    let job = job_for(&m, &dir, &origin().url("rq-b", "size=10"), "rq-b");
    job.set_custom_headers(&["X-Keep: 1"]).unwrap();
    for bad in [
        vec!["X-A: 1\r\nX-B: 2"],
        vec!["no colon"],
        vec!["Bad Name: 1"],
        vec!["Range: bytes=0-"],
        vec!["Host: elsewhere"],
        vec!["X-A: \u{7}"],
    ] {
        let e = job.set_custom_headers(&bad).unwrap_err();
        assert_eq!(e.code(), codes::E_INVALIDARG, "{bad:?}: {e}");
    }
    let many: Vec<String> = (0..65).map(|i| format!("X-{i}: v")).collect();
    assert_eq!(
        job.set_custom_headers(&many).unwrap_err().code(),
        codes::E_INVALIDARG
    );
    assert_eq!(job.get_custom_headers().unwrap(), vec!["X-Keep: 1"]);
    job.set_custom_headers::<&str>(&[]).unwrap();
    assert!(job.get_custom_headers().unwrap().is_empty());
    job.cancel().unwrap();
}

#[test]
fn custom_headers_follow_a_redirect_only_within_the_origin() {
    let dir = Dir::new("req-redirect");
    let m = open(&dir);
    // Same origin (a relative Location on the same port): sent again.
    let job = job_for(
        &m,
        &dir,
        &origin().url("rq-same", "redirect=2&size=300"),
        "a",
    );
    job.set_custom_headers(&["X-Token: same"]).unwrap();
    assert_eq!(run(&job), JobState::Transferred);
    assert!(seen("rq-same")[0].contains(&"x-token: same".to_string()));
    job.complete().unwrap();

    // Another origin (http → the https port): dropped, like curl without
    // --location-trusted.
    let target = format!("{}/f/rq-other?size=300", origin().https_base());
    let url = origin().url("rq-from", &format!("to={}", encode(&target)));
    let job = job_for(&m, &dir, &url, "b");
    job.set_custom_headers(&["X-Token: other"]).unwrap();
    assert_eq!(run(&job), JobState::Transferred);
    let reqs = seen("rq-other");
    assert_eq!(reqs.len(), 1);
    assert!(
        !reqs[0].iter().any(|h| h.starts_with("x-token")),
        "{reqs:?}"
    );
    job.complete().unwrap();
}

#[test]
fn redirect_policies_silent_report_and_disallow() {
    let dir = Dir::new("req-policy");
    let m = open(&dir);
    let url = origin().url("rq-p", "redirect=1&size=200");
    let final_url = origin().url("rq-p", "size=200");

    // ALLOW_SILENT (the default): the remote name stays; the final URL is reported
    // apart (stored with the file: a reopened manager reads it).
    let job = job_for(&m, &dir, &url, "silent");
    assert_eq!(job.get_security_flags().unwrap(), 0);
    let file = &job.enum_files().unwrap()[0];
    assert_eq!(file.get_final_url().unwrap(), None);
    let temp = file.get_temporary_name().unwrap();
    let temp_name = std::path::Path::new(&temp)
        .file_name()
        .unwrap()
        .to_string_lossy();
    assert!(temp_name.starts_with(".silent.") && temp_name.ends_with(".bgcopy-part"));
    assert_eq!(run(&job), JobState::Transferred);
    assert_eq!(std::fs::read(&temp).unwrap(), content(200, 0));
    assert_eq!(file.get_remote_name().unwrap(), url);
    let mut o = ManagerOptions::default();
    o.start_transfers = false;
    let reader = CopyManager::open_with(Some(&dir.state()), o).unwrap();
    let stored = reader.get_job(&job.get_id()).unwrap().enum_files().unwrap()[0]
        .get_final_url()
        .unwrap();
    assert_eq!(stored.as_deref(), Some(final_url.as_str()));
    reader.close().unwrap();
    job.complete().unwrap();

    // ALLOW_REPORT: the final URL becomes the remote name (stored: another manager
    // sees it).
    let job = job_for(&m, &dir, &url, "report");
    job.set_security_flags(security::REDIRECT_ALLOW_REPORT)
        .unwrap();
    assert_eq!(run(&job), JobState::Transferred);
    let mut o = ManagerOptions::default();
    o.start_transfers = false;
    let other = CopyManager::open_with(Some(&dir.state()), o).unwrap();
    let seen_there = other.get_job(&job.get_id()).unwrap().enum_files().unwrap()[0]
        .get_remote_name()
        .unwrap();
    assert_eq!(seen_there, final_url);
    assert_eq!(
        other
            .get_job(&job.get_id())
            .unwrap()
            .get_security_flags()
            .unwrap(),
        security::REDIRECT_ALLOW_REPORT
    );
    job.complete().unwrap();
    assert_eq!(std::fs::read(dir.file("report")).unwrap(), content(200, 0));

    // DISALLOW: ERROR with the redirect's status (BITS), not retried.
    let job = job_for(&m, &dir, &url, "disallow");
    job.set_security_flags(security::REDIRECT_DISALLOW).unwrap();
    assert_eq!(run(&job), JobState::Error);
    let e = job.get_error().unwrap();
    assert_eq!(e.get_error().1, codes::http(302), "{e:?}");
    assert!(
        e.get_error_description().contains("DISALLOW"),
        "{}",
        e.get_error_description()
    );
    assert_eq!(job.enum_files().unwrap()[0].get_remote_name().unwrap(), url);
    job.cancel().unwrap();

    // Flags BITS has that bgcopy refuses: certificate ones (E_NOTIMPL), undefined
    // bits and policies (E_INVALIDARG); nothing changes.
    let job = job_for(&m, &dir, &url, "bad");
    job.set_security_flags(security::ALLOW_HTTPS_TO_HTTP)
        .unwrap();
    for (flags, code) in [
        (0x0001, codes::E_NOTIMPL),
        (0x0008, codes::E_NOTIMPL),
        (0x0300, codes::E_INVALIDARG),
        (0x1000, codes::E_INVALIDARG),
    ] {
        assert_eq!(job.set_security_flags(flags).unwrap_err().code(), code);
    }
    assert_eq!(
        job.get_security_flags().unwrap(),
        security::ALLOW_HTTPS_TO_HTTP
    );
    job.cancel().unwrap();
}

#[test]
fn https_to_http_redirect_is_refused_unless_the_job_allows_it() {
    let dir = Dir::new("req-downgrade");
    let m = open(&dir);
    let target = origin().url("rq-down", "size=100");
    let url = format!("{}/f/rq-up?to={}", origin().https_base(), encode(&target));
    let job = job_for(&m, &dir, &url, "refused");
    assert_eq!(run(&job), JobState::Error);
    assert_eq!(
        job.get_error().unwrap().get_error().1,
        codes::REDIRECT_FAILED
    );
    job.cancel().unwrap();

    let job = job_for(&m, &dir, &url, "allowed");
    job.set_security_flags(security::ALLOW_HTTPS_TO_HTTP)
        .unwrap();
    assert_eq!(run(&job), JobState::Transferred);
    job.complete().unwrap();
    assert_eq!(std::fs::read(dir.file("allowed")).unwrap(), content(100, 0));
}

#[test]
fn credentials_basic_and_bearer_reach_only_the_origin_and_are_never_shown() {
    let dir = Dir::new("req-creds");
    let m = open(&dir);
    // Without credentials the origin answers 401: ERROR with HTTP_401.
    let url = origin().url("rq-basic", "size=700&auth=basic:alice:s3cr3t-pw");
    let job = job_for(&m, &dir, &url, "basic");
    assert_eq!(run(&job), JobState::Error);
    let e = job.get_error().unwrap();
    assert_eq!(e.get_error().1, codes::http(401));
    // BASIC: sent before any challenge, stored with the job (a reopened manager uses
    // them), never shown.
    job.set_credentials(AuthTarget::Server, AuthScheme::Basic, "alice", "s3cr3t-pw")
        .unwrap();
    let id = job.get_id();
    m.close().unwrap();
    drop(m);
    let m = open(&dir);
    let job = m.get_job(&id).unwrap();
    assert_eq!(run(&job), JobState::Transferred);
    let reqs = seen("rq-basic");
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    assert!(
        reqs[1].contains(&"authorization: Basic YWxpY2U6czNjcjN0LXB3".to_string()),
        "{reqs:?}"
    );
    job.complete().unwrap();
    let events = m.events_since(0, 10_000).unwrap();
    assert!(!format!("{events:?}").contains("s3cr3t"));

    // BEARER, and remove_credentials: the next request carries none (401 again).
    let url = origin().url("rq-bearer", "size=300&auth=bearer:tok.EN-1");
    let job = job_for(&m, &dir, &url, "bearer");
    job.set_credentials(AuthTarget::Server, AuthScheme::Bearer, "", "tok.EN-1")
        .unwrap();
    // A custom Authorization header gives way to the credentials.
    job.set_custom_headers(&["Authorization: Bearer stale"])
        .unwrap();
    assert_eq!(run(&job), JobState::Transferred);
    assert!(seen("rq-bearer")[0].contains(&"authorization: Bearer tok.EN-1".to_string()));
    job.complete().unwrap();
    let job = job_for(&m, &dir, &url, "bearer2");
    job.set_credentials(AuthTarget::Server, AuthScheme::Bearer, "", "tok.EN-1")
        .unwrap();
    job.remove_credentials(AuthTarget::Server, AuthScheme::Bearer)
        .unwrap();
    job.remove_credentials(AuthTarget::Server, AuthScheme::Basic)
        .unwrap();
    assert_eq!(run(&job), JobState::Error);
    assert_eq!(job.get_error().unwrap().get_error().1, codes::http(401));
    job.cancel().unwrap();

    // A URL's userinfo is Basic credentials (percent-decoded), shown redacted.
    let plain = origin().url("rq-userinfo", "size=200&auth=basic:bob:p%40ss");
    let url = plain.replacen("http://", "http://bob:p%40ss@", 1);
    let job = job_for(&m, &dir, &url, "userinfo");
    let shown = job.enum_files().unwrap()[0].get_remote_name().unwrap();
    assert!(shown.starts_with("http://bob:***@"), "{shown}");
    assert_eq!(run(&job), JobState::Transferred);
    job.complete().unwrap();

    // Never after a redirect to another origin (http → the https port).
    let target = format!("{}/f/rq-cross?size=300", origin().https_base());
    let url = origin().url(
        "rq-cross-from",
        &format!("to={}&auth=basic:carol:pw", encode(&target)),
    );
    let job = job_for(&m, &dir, &url, "cross");
    job.set_credentials(AuthTarget::Server, AuthScheme::Basic, "carol", "pw")
        .unwrap();
    assert_eq!(run(&job), JobState::Transferred);
    let reqs = seen("rq-cross");
    assert_eq!(reqs.len(), 1);
    assert!(
        !reqs[0].iter().any(|h| h.starts_with("authorization")),
        "{reqs:?}"
    );
    job.complete().unwrap();

    // Bad input: E_INVALIDARG naming the problem, never echoing the secret.
    let job = m.create_job("bad", JobType::Download).unwrap();
    for (scheme, user, secret) in [
        (AuthScheme::Basic, "a:b", "pw-secret-1"),
        (AuthScheme::Basic, "a", "pw-secret-2\r\nX-Evil: 1"),
        (AuthScheme::Bearer, "user", "tok-secret-3"),
        (AuthScheme::Bearer, "", "tok secret 4"),
    ] {
        let e = job
            .set_credentials(AuthTarget::Server, scheme, user, secret)
            .unwrap_err();
        assert_eq!(e.code(), codes::E_INVALIDARG, "{e}");
        assert!(!e.to_string().contains(&secret[..11]), "{e}");
    }
    assert_eq!(
        AuthTarget::try_from_number("target", 3).unwrap_err().code(),
        codes::E_INVALIDARG
    );
    job.cancel().unwrap();
}

/// Suspend `job` once it has more than `bytes` bytes.
fn suspend_after(job: &CopyJob, bytes: u64) {
    let t0 = std::time::Instant::now();
    while job.get_progress().unwrap().bytes_transferred <= bytes {
        assert!(t0.elapsed() < Duration::from_secs(30), "no progress");
        std::thread::sleep(Duration::from_millis(20));
    }
    job.suspend().unwrap();
}

#[test]
fn a_new_remote_name_keeps_the_bytes_of_the_same_content_and_restarts_on_other() {
    let dir = Dir::new("req-rename");
    let m = open(&dir);
    // Same content under another URL (same ETag): the resume asks the new URL for
    // the rest with If-Range, and the bytes already here are kept.
    let job = job_for(
        &m,
        &dir,
        &origin().url("rn-a", "size=3000000&rate=2000000"),
        "same",
    );
    // One stream, so the new URL's one request shows where the bytes end.
    job.set_max_connections_per_file(1).unwrap();
    job.resume().unwrap();
    suspend_after(&job, 400_000);
    let file = &job.enum_files().unwrap()[0];
    let had = job.get_progress().unwrap().bytes_transferred;
    let new_url = origin().url("rn-b", "size=3000000");
    file.set_remote_name(&new_url).unwrap();
    assert_eq!(file.get_remote_name().unwrap(), new_url);
    assert_eq!(run(&job), JobState::Transferred);
    let s = origin().stats("rn-b");
    assert_eq!(s["requests"], 1, "{s}");
    assert_eq!(s["if_ranges"][0], "\"v0-3000000\"", "{s}");
    let from = s["range_starts"][0].as_u64().unwrap();
    // Resumed where the bytes end (at least what progress showed before the suspend,
    // at most the whole file less what the new URL sent).
    assert!(
        from >= 400_000.min(had) && from < 3_000_000,
        "resumed at {from}, had {had}: {s}"
    );
    job.complete().unwrap();
    assert_eq!(
        std::fs::read(dir.file("same")).unwrap(),
        content(3_000_000, 0)
    );

    // Other content under the new URL (another ETag): the file starts over.
    let job = job_for(
        &m,
        &dir,
        &origin().url("rn-c", "size=2000000&rate=2000000"),
        "other",
    );
    job.resume().unwrap();
    suspend_after(&job, 300_000);
    job.enum_files().unwrap()[0]
        .set_remote_name(&origin().url("rn-d", "size=2000000&change_after=0"))
        .unwrap();
    assert_eq!(run(&job), JobState::Transferred);
    job.complete().unwrap();
    assert_eq!(
        std::fs::read(dir.file("other")).unwrap(),
        content(2_000_000, 1)
    );

    // While it runs: the transfer starts again at the new URL.
    let job = job_for(
        &m,
        &dir,
        &origin().url("rn-e", "size=2000000&rate=1000000"),
        "running",
    );
    job.resume().unwrap();
    let t0 = std::time::Instant::now();
    while job.get_progress().unwrap().bytes_transferred < 100_000 {
        assert!(t0.elapsed() < Duration::from_secs(30));
        std::thread::sleep(Duration::from_millis(20));
    }
    job.enum_files().unwrap()[0]
        .set_remote_name(&origin().url("rn-f", "size=2000000"))
        .unwrap();
    assert_eq!(
        job.wait(Some(Duration::from_secs(60))).unwrap(),
        JobState::Transferred
    );
    assert_eq!(origin().stats("rn-f")["requests"], 1);
    job.complete().unwrap();
    assert_eq!(
        std::fs::read(dir.file("running")).unwrap(),
        content(2_000_000, 0)
    );
}

#[test]
fn replace_remote_prefix_rewrites_matching_files_all_or_none() {
    let dir = Dir::new("req-prefix");
    let m = open(&dir);
    let job = m.create_job("prefix", JobType::Download).unwrap();
    job.add_file(&origin().url("rp-old/1", "size=100"), &dir.file("1"))
        .unwrap();
    job.add_file(&origin().url("rp-old/2", "size=200"), &dir.file("2"))
        .unwrap();
    job.add_file(&origin().url("rp-keep", "size=300"), &dir.file("3"))
        .unwrap();
    let old = format!("{}/f/rp-old/", origin().http_base());
    let new = format!("{}/f/rp-new/", origin().http_base());
    // A prefix that would make a bad URL changes nothing.
    for (from, to) in [
        (old.as_str(), "ftp://x/"),
        (old.as_str(), "http://bad host/"),
        ("", "x"),
    ] {
        let e = job.replace_remote_prefix(from, to).unwrap_err();
        assert_eq!(e.code(), codes::E_INVALIDARG, "{from} → {to}: {e}");
    }
    assert_eq!(job.replace_remote_prefix(&old, &new).unwrap(), 2);
    assert_eq!(
        job.replace_remote_prefix("https://nowhere/", &new).unwrap(),
        0
    );
    let names: Vec<String> = job
        .enum_files()
        .unwrap()
        .iter()
        .map(|f| f.get_remote_name().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            origin().url("rp-new/1", "size=100"),
            origin().url("rp-new/2", "size=200"),
            origin().url("rp-keep", "size=300")
        ]
    );
    assert_eq!(run(&job), JobState::Transferred);
    assert_eq!(origin().stats("rp-new/2")["requests"], 1);
    assert_eq!(origin().stats("rp-old/2")["requests"], 0);
    job.complete().unwrap();
    // Final jobs refuse it.
    assert_eq!(
        job.replace_remote_prefix(&new, &old).unwrap_err().code(),
        codes::INVALID_STATE
    );
}

#[test]
fn the_maximum_download_time_ends_a_transfer_with_maxdownload_timeout() {
    let dir = Dir::new("req-maxtime");
    let m = open(&dir);
    let job = job_for(
        &m,
        &dir,
        &origin().url("mt-a", "size=20000000&rate=1000000"),
        "slow",
    );
    assert_eq!(job.get_maximum_download_time().unwrap(), 0);
    // One stream at 1 MB/s: 20 s of work.
    job.set_max_connections_per_file(1).unwrap();
    job.set_maximum_download_time(1).unwrap();
    assert_eq!(job.get_maximum_download_time().unwrap(), 1);
    let t0 = std::time::Instant::now();
    assert_eq!(run(&job), JobState::Error);
    let took = t0.elapsed();
    let e = job.get_error().unwrap();
    assert_eq!(
        e.get_error().1,
        codes::MAXDOWNLOAD_TIMEOUT,
        "{}",
        e.get_error_description()
    );
    assert!(took >= Duration::from_secs(1), "ended after {took:?}");
    // Stored with the job; resume() counts again from zero (so it runs another
    // second), and 0 lifts the limit.
    let id = job.get_id();
    m.close().unwrap();
    drop(m);
    let m = open(&dir);
    let job = m.get_job(&id).unwrap();
    assert_eq!(job.get_maximum_download_time().unwrap(), 1);
    let before = job.get_progress().unwrap().bytes_transferred;
    assert_eq!(run(&job), JobState::Error);
    let after = job.get_progress().unwrap().bytes_transferred;
    assert!(after > before, "{before} then {after}");
    job.set_maximum_download_time(0).unwrap();
    job.resume().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        job.get_state().unwrap().is_active(),
        "{:?}",
        job.get_state()
    );
    job.cancel().unwrap();
}

/// The port of `url` (`http://127.0.0.1:P/…`).
fn port_of(url: &str) -> String {
    url.split(':')
        .nth(2)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn proxies_http_and_socks5_with_credentials_a_bypass_list_and_407() {
    let dir = Dir::new("req-proxy");
    let m = open(&dir);
    let target = format!("127.0.0.1:{}", port_of(&origin().http_base()));
    // tinyproxy wanting Basic credentials: without them the CONNECT is refused, an
    // ERROR with HTTP_407 in the transport context; with them the file comes through
    // the proxy's tunnel.
    let (purl, pid) = origin().proxy("http", Some("pu:ppw"));
    let job = job_for(&m, &dir, &origin().url("px-http", "size=40000"), "px-http");
    assert_eq!(job.get_proxy_settings().unwrap(), ProxySettings::default());
    job.set_proxy_settings(ProxyUsage::Override, &purl, "")
        .unwrap();
    assert_eq!(
        job.get_proxy_settings().unwrap(),
        ProxySettings {
            usage: ProxyUsage::Override,
            proxy: purl.clone(),
            bypass: String::new()
        }
    );
    assert_eq!(run(&job), JobState::Error);
    let e = job.get_error().unwrap();
    assert_eq!(
        e.get_error(),
        (ErrorContext::GeneralTransport, codes::http(407)),
        "{}",
        e.get_error_description()
    );
    assert_eq!(origin().stats("px-http")["requests"], 0);
    job.set_credentials(AuthTarget::Proxy, AuthScheme::Basic, "pu", "ppw")
        .unwrap();
    assert_eq!(run(&job), JobState::Transferred);
    job.complete().unwrap();
    assert_eq!(
        std::fs::read(dir.file("px-http")).unwrap(),
        content(40000, 0)
    );
    let log = origin().proxy_log(pid);
    assert_eq!(log["established"], 1, "{log}");
    assert!(
        log["targets"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t == target.as_str()),
        "{log}"
    );

    // A bypassed host goes straight to the server: the proxy sees nothing more.
    let job = job_for(
        &m,
        &dir,
        &origin().url("px-bypass", "size=300"),
        "px-bypass",
    );
    job.set_proxy_settings(ProxyUsage::Override, &purl, "localhost, 127.0.0.0/8")
        .unwrap();
    assert_eq!(run(&job), JobState::Transferred);
    job.complete().unwrap();
    assert_eq!(origin().proxy_log(pid)["connections"], log["connections"]);

    // microsocks with username/password (SOCKS5, the proxy resolves names); stored
    // with the job: a reopened manager uses it.
    let (surl, sid) = origin().proxy("socks5", Some("su:spw"));
    let job = job_for(
        &m,
        &dir,
        &origin().url("px-socks", "size=50000"),
        "px-socks",
    );
    job.set_proxy_settings(ProxyUsage::Override, &surl, "")
        .unwrap();
    job.set_credentials(AuthTarget::Proxy, AuthScheme::Basic, "su", "spw")
        .unwrap();
    let id = job.get_id();
    m.close().unwrap();
    drop(m);
    let m = open(&dir);
    let job = m.get_job(&id).unwrap();
    assert_eq!(job.get_proxy_settings().unwrap().proxy, surl);
    assert_eq!(run(&job), JobState::Transferred);
    job.complete().unwrap();
    assert_eq!(
        std::fs::read(dir.file("px-socks")).unwrap(),
        content(50000, 0)
    );
    let log = origin().proxy_log(sid);
    assert_eq!(log["connections"], 1, "{log}");
    assert_eq!(log["targets"][0], target.as_str(), "{log}");

    // NO_PROXY: straight to the server whatever the environment says.
    let job = job_for(&m, &dir, &origin().url("px-none", "size=100"), "px-none");
    job.set_proxy_settings(ProxyUsage::NoProxy, "", "").unwrap();
    assert_eq!(run(&job), JobState::Transferred);
    job.complete().unwrap();

    // Bad settings change nothing; a proxy takes BASIC credentials only.
    let job = m.create_job("bad", JobType::Download).unwrap();
    for (usage, proxy, bypass) in [
        (ProxyUsage::Override, "", ""),
        (ProxyUsage::Override, "ftp://127.0.0.1:1", ""),
        (ProxyUsage::Override, "http://u:secret-pw@127.0.0.1:1", ""),
        (ProxyUsage::NoProxy, &purl, ""),
        (ProxyUsage::Override, &purl, "bad entry!"),
    ] {
        let e = job.set_proxy_settings(usage, proxy, bypass).unwrap_err();
        assert_eq!(e.code(), codes::E_INVALIDARG, "{proxy} {bypass}: {e}");
        assert!(!e.to_string().contains("secret-pw"), "{e}");
    }
    assert_eq!(job.get_proxy_settings().unwrap(), ProxySettings::default());
    assert_eq!(
        job.set_credentials(AuthTarget::Proxy, AuthScheme::Bearer, "", "tok")
            .unwrap_err()
            .code(),
        codes::E_NOTIMPL
    );
    job.cancel().unwrap();
}

#[test]
fn a_client_certificate_opens_a_port_that_requires_one() {
    let dir = Dir::new("req-mtls");
    let m = open(&dir);
    let o = origin();
    let url = format!("https://localhost:{}/f/mt-a?size=20000", o.mtls);
    let (cert, key) = (
        o.client_cert.to_str().unwrap(),
        o.client_key.to_str().unwrap(),
    );
    // Without one the server refuses the handshake: SECURE_FAILURE, fatal.
    let job = job_for(&m, &dir, &url, "mt-a");
    assert_eq!(job.get_client_certificate().unwrap(), None);
    assert_eq!(run(&job), JobState::Error);
    assert_eq!(
        job.get_error().unwrap().get_error().1,
        codes::SECURE_FAILURE,
        "{}",
        job.get_error().unwrap().get_error_description()
    );
    // Bad files are refused at the call and change nothing.
    let missing = dir.file("missing.pem");
    for (c, k) in [(missing.as_str(), key), (key, key), (cert, cert), ("", key)] {
        let e = job.set_client_certificate(c, k).unwrap_err();
        assert_eq!(e.code(), codes::E_INVALIDARG, "{c} {k}: {e}");
    }
    assert_eq!(job.get_client_certificate().unwrap(), None);
    // With it the file comes; stored with the job (a reopened manager presents it).
    job.set_client_certificate(cert, key).unwrap();
    let id = job.get_id();
    m.close().unwrap();
    drop(m);
    let m = open(&dir);
    let job = m.get_job(&id).unwrap();
    assert_eq!(
        job.get_client_certificate().unwrap(),
        Some((
            o.client_cert
                .canonicalize()
                .unwrap()
                .to_string_lossy()
                .into_owned(),
            o.client_key
                .canonicalize()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        ))
    );
    assert_eq!(run(&job), JobState::Transferred);
    job.complete().unwrap();
    assert_eq!(std::fs::read(dir.file("mt-a")).unwrap(), content(20000, 0));
    // Removed: refused again.
    let job = job_for(&m, &dir, &url.replace("mt-a", "mt-b"), "mt-b");
    job.set_client_certificate(cert, key).unwrap();
    job.remove_client_certificate().unwrap();
    assert_eq!(run(&job), JobState::Error);
    assert_eq!(
        job.get_error().unwrap().get_error().1,
        codes::SECURE_FAILURE
    );
    job.cancel().unwrap();
}

fn sha256_hex(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn an_expected_sha256_is_checked_across_a_resume_and_a_mismatch_refetches() {
    let dir = Dir::new("req-hash");
    let m = open(&dir);
    let good = sha256_hex(&content(3_000_000, 0));
    // The digest of bytes written by two runs (suspended mid-way): the resume hashes
    // what the first run wrote, then goes on.
    let job = job_for(
        &m,
        &dir,
        &origin().url("hs-ok", "size=3000000&rate=3000000"),
        "hs-ok",
    );
    let f = &job.enum_files().unwrap()[0];
    assert_eq!(f.get_expected_hash().unwrap(), None);
    f.set_expected_hash("SHA-256", &good.to_uppercase())
        .unwrap();
    assert_eq!(
        f.get_expected_hash().unwrap(),
        Some(("sha256".into(), good.clone()))
    );
    job.resume().unwrap();
    suspend_after(&job, 500_000);
    assert_eq!(run(&job), JobState::Transferred);
    assert!(origin().stats("hs-ok")["range_starts"][1].as_u64().unwrap() > 0);
    // Set too late: INVALID_STATE.
    assert_eq!(
        f.set_expected_hash("sha256", &good).unwrap_err().code(),
        codes::INVALID_STATE
    );
    job.complete().unwrap();

    // A mismatch: ERROR with VALIDATION_FAILED on the file, the bytes dropped; with
    // the right digest a resume fetches the file again from zero.
    let job = job_for(&m, &dir, &origin().url("hs-bad", "size=200000"), "hs-bad");
    let f = &job.enum_files().unwrap()[0];
    f.set_expected_hash("sha256", &"0".repeat(64)).unwrap();
    assert_eq!(run(&job), JobState::Error);
    let e = job.get_error().unwrap();
    assert_eq!(
        e.get_error(),
        (ErrorContext::RemoteFile, codes::VALIDATION_FAILED)
    );
    assert_eq!(e.get_file().unwrap().index(), 0);
    assert!(
        e.get_error_description()
            .contains(&sha256_hex(&content(200_000, 0)))
    );
    assert_eq!(f.get_progress().unwrap().bytes_transferred, 0);
    f.set_expected_hash("sha256", &sha256_hex(&content(200_000, 0)))
        .unwrap();
    assert_eq!(run(&job), JobState::Transferred);
    let s = origin().stats("hs-bad");
    assert_eq!(s["requests"], 2);
    assert_eq!(s["ranges"][1], "", "{s}");
    job.complete().unwrap();

    // Another size than the expected content's (the digest fixes the size): the same
    // VALIDATION_FAILED.
    let job = job_for(&m, &dir, &origin().url("hs-size", "size=1500"), "hs-size");
    job.enum_files().unwrap()[0]
        .set_expected_hash("sha256", &sha256_hex(&content(1000, 0)))
        .unwrap();
    assert_eq!(run(&job), JobState::Error);
    assert_eq!(
        job.get_error().unwrap().get_error().1,
        codes::VALIDATION_FAILED
    );
    job.cancel().unwrap();

    // Bad input.
    let job = job_for(&m, &dir, &origin().url("hs-x", "size=10"), "hs-x");
    let f = &job.enum_files().unwrap()[0];
    for (algo, hex, code) in [
        ("md5", "0".repeat(32), codes::E_NOTIMPL),
        ("sha-3", good.clone(), codes::E_INVALIDARG),
        ("sha256", "12".into(), codes::E_INVALIDARG),
        ("sha256", "g".repeat(64), codes::E_INVALIDARG),
    ] {
        assert_eq!(
            f.set_expected_hash(algo, &hex).unwrap_err().code(),
            code,
            "{algo} {hex}"
        );
    }
    f.set_expected_hash("sha256", &good).unwrap();
    f.set_expected_hash("", "").unwrap();
    assert_eq!(f.get_expected_hash().unwrap(), None);
    job.cancel().unwrap();
}

#[test]
fn the_app_validates_files_and_response_headers_hide_secrets() {
    let dir = Dir::new("req-valid");
    let m = open(&dir);
    let job = m.create_job("valid", JobType::Download).unwrap();
    job.add_file(&origin().url("vs-a", "size=1000"), &dir.file("a"))
        .unwrap();
    job.add_file(
        &origin().url("vs-b", "size=2000&echo_auth=1&auth=bearer:vs.secret.tok"),
        &dir.file("b"),
    )
    .unwrap();
    job.set_credentials(AuthTarget::Server, AuthScheme::Bearer, "", "vs.secret.tok")
        .unwrap();
    let files = job.enum_files().unwrap();
    assert_eq!(
        files[0].get_response_headers().unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(
        files[0].set_validation_state(true).unwrap_err().code(),
        codes::INVALID_STATE
    );
    assert_eq!(run(&job), JobState::Transferred);
    // The last response's headers; an echoed secret is hidden.
    let h = files[1].get_response_headers().unwrap();
    assert!(h.contains(&"etag: \"v0-2000\"".to_string()), "{h:?}");
    assert!(
        h.contains(&"x-echo-authorization: ***".to_string()),
        "{h:?}"
    );
    assert!(!h.iter().any(|l| l.contains("vs.secret")), "{h:?}");
    // Validation: false until the app says; false drops the file (ERROR with
    // VALIDATION_FAILED on it), and resume() fetches it again.
    assert!(!files[0].get_validation_state().unwrap());
    files[0].set_validation_state(true).unwrap();
    assert!(files[0].get_validation_state().unwrap());
    files[1].set_validation_state(false).unwrap();
    assert_eq!(job.get_state().unwrap(), JobState::Error);
    let e = job.get_error().unwrap();
    assert_eq!(e.get_error().1, codes::VALIDATION_FAILED);
    assert_eq!(e.get_file().unwrap().index(), 1);
    assert_eq!(files[1].get_progress().unwrap().bytes_transferred, 0);
    assert_eq!(run(&job), JobState::Transferred);
    assert_eq!(origin().stats("vs-b")["requests"], 2);
    assert_eq!(origin().stats("vs-a")["requests"], 1);
    assert!(!files[1].get_validation_state().unwrap());
    // Stored with the file: another manager reads headers and validation.
    let mut o = ManagerOptions::default();
    o.start_transfers = false;
    let reader = CopyManager::open_with(Some(&dir.state()), o).unwrap();
    let seen = reader.get_job(&job.get_id()).unwrap().enum_files().unwrap();
    assert!(seen[0].get_validation_state().unwrap());
    assert!(
        seen[1]
            .get_response_headers()
            .unwrap()
            .contains(&"etag: \"v0-2000\"".to_string())
    );
    reader.close().unwrap();
    job.complete().unwrap();
    assert_eq!(std::fs::read(dir.file("b")).unwrap(), content(2000, 0));
}

#[test]
fn allow_report_to_another_origin_never_carries_the_jobs_secrets_there() {
    let dir = Dir::new("req-report-origin");
    let m = open(&dir);
    // http (wants the token) → https (another origin, slow): ALLOW_REPORT makes the
    // https URL the remote name; the resume goes there directly, without the token or
    // the custom header.
    let target = format!(
        "{}/f/ro-to?size=2000000&rate=1000000&echo_auth=1",
        origin().https_base()
    );
    let url = origin().url("ro-from", &format!("to={}", encode(&target)));
    let job = job_for(&m, &dir, &url, "ro");
    job.set_security_flags(security::REDIRECT_ALLOW_REPORT)
        .unwrap();
    job.set_credentials(AuthTarget::Server, AuthScheme::Bearer, "", "ro.secret.tok")
        .unwrap();
    job.set_custom_headers(&["X-Key: ro-key-value"]).unwrap();
    job.resume().unwrap();
    suspend_after(&job, 200_000);
    let file = &job.enum_files().unwrap()[0];
    assert_eq!(file.get_remote_name().unwrap(), target);
    assert_eq!(run(&job), JobState::Transferred);
    let reqs = seen("ro-to");
    assert!(reqs.len() >= 2, "{reqs:?}");
    for r in &reqs {
        assert!(
            !r.iter()
                .any(|h| h.starts_with("authorization") || h.starts_with("x-key")),
            "{reqs:?}"
        );
    }
    job.complete().unwrap();
    assert_eq!(
        std::fs::read(dir.file("ro")).unwrap(),
        content(2_000_000, 0)
    );
}
