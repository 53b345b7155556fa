//! Job descriptions: the JSON objects of `info --json` / `list --json`, the text of
//! `info` and `list`, and a small RFC 3339 formatter.

use bgcopy::{BYTES_UNKNOWN, CopyError, CopyJob, Event, Result};
use indicatif::HumanBytes;
use serde_json::{Value, json};
use std::fmt::Write as _;

pub use bgcopy::rfc3339;

pub use bgcopy::printable;

/// A byte count for JSON: `null` when unknown.
fn bytes_json(n: u64) -> Value {
    if n == BYTES_UNKNOWN {
        Value::Null
    } else {
        json!(n)
    }
}

/// The error of a job as JSON (see docs/cli.md).
pub fn error_json(e: &CopyError) -> Value {
    let (context, code) = e.get_error();
    let file = e.get_file().ok().map(|f| f.index());
    json!({
        "context": context.name(),
        "context_description": e.get_error_context_description(),
        "code": format!("0x{code:08X}"),
        "symbol": bgcopy::codes::symbol(code),
        "description": e.get_error_description(),
        "protocol": e.get_protocol().ok(),
        "file": file,
    })
}

/// The one object `get --json` prints when it ends: what a script needs to know.
pub fn get_json(job: &CopyJob, exit_status: i32) -> Result<Value> {
    let progress = job.get_progress()?;
    let error = match job.get_error() {
        Ok(e) => error_json(&e),
        Err(_) => Value::Null,
    };
    let mut files = Vec::new();
    for f in job.enum_files()? {
        let p = f.get_progress()?;
        files.push(json!({
            "url": f.get_remote_name()?,
            "path": f.get_local_name()?,
            "bytes_total": bytes_json(p.bytes_total),
            "bytes_transferred": p.bytes_transferred,
            "completed": p.completed,
        }));
    }
    Ok(json!({
        "id": job.get_id(),
        "state": job.get_state()?.name(),
        "files": files,
        "bytes_total": bytes_json(progress.bytes_total),
        "bytes_transferred": progress.bytes_transferred,
        "error": error,
        "exit_status": exit_status,
    }))
}

/// Everything about a job as one JSON object (the `info --json` schema).
pub fn job_json(job: &CopyJob) -> Result<Value> {
    let state = job.get_state()?;
    let progress = job.get_progress()?;
    let times = job.get_times()?;
    let error = match job.get_error() {
        Ok(e) => error_json(&e),
        Err(_) => Value::Null,
    };
    let mut files = Vec::new();
    for (i, f) in job.enum_files()?.iter().enumerate() {
        let p = f.get_progress()?;
        files.push(json!({
            "index": i,
            "remote_name": f.get_remote_name()?,
            "local_name": f.get_local_name()?,
            "temporary_name": f.get_temporary_name()?,
            "final_url": f.get_final_url()?,
            "expected_hash": f.get_expected_hash()?.map(|(a, h)| format!("{a}:{h}")),
            "validated": f.get_validation_state()?,
            "response_headers": f.get_response_headers()?,
            "bytes_total": bytes_json(p.bytes_total),
            "bytes_transferred": p.bytes_transferred,
            "completed": p.completed,
        }));
    }
    let proxy = job.get_proxy_settings()?;
    Ok(json!({
        "id": job.get_id(),
        "display_name": job.get_display_name()?,
        "description": job.get_description()?,
        "type": job.get_type()?.name(),
        "state": state.name(),
        "priority": job.get_priority()?.name(),
        "progress": {
            "bytes_total": bytes_json(progress.bytes_total),
            "bytes_transferred": progress.bytes_transferred,
            "files_total": progress.files_total,
            "files_transferred": progress.files_transferred,
        },
        "error": error,
        "error_count": job.get_error_count()?,
        "times": {
            "creation": rfc3339(times.creation_time),
            "modification": rfc3339(times.modification_time),
            "transfer_completion": times.transfer_completion_time.map(rfc3339),
        },
        "retry_delay": job.get_minimum_retry_delay()?,
        "no_progress_timeout": job.get_no_progress_timeout()?,
        "notify_flags": job.get_notify_flags()?,
        "notify_cmd": job.get_notify_cmd_line()?.map(|c| {
            let mut argv = vec![c.program];
            argv.extend(c.args);
            argv
        }),
        "custom_headers": custom_headers(job)?.map_or(json!("write-only"), |l| json!(l)),
        "security_flags": job.get_security_flags()?,
        "max_download_time": job.get_maximum_download_time()?,
        "max_connections_per_file": job.get_max_connections_per_file()?,
        "bandwidth_limit": job.get_bandwidth_limit()?,
        "client_certificate": job.get_client_certificate()?.map(|(c, k)| json!({"cert": c, "key": k})),
        "proxy": {
            "usage": proxy.usage.name(),
            "proxy": proxy.proxy,
            "bypass": proxy.bypass,
        },
        "files": files,
    }))
}

/// The job's custom headers; `None` when they are write-only.
fn custom_headers(job: &CopyJob) -> Result<Option<Vec<String>>> {
    match job.get_custom_headers() {
        Ok(lines) => Ok(Some(lines)),
        Err(e) if e.code() == bgcopy::codes::ACCESS_DENIED => Ok(None),
        Err(e) => Err(e),
    }
}

/// `B of T (P%)`, or `B of ?` while the total is unknown.
pub fn bytes_of(done: u64, total: u64) -> String {
    if total == BYTES_UNKNOWN {
        format!("{} of ?", HumanBytes(done))
    } else if total == 0 {
        format!("{} of {}", HumanBytes(done), HumanBytes(total))
    } else {
        format!(
            "{} of {} ({}%)",
            HumanBytes(done),
            HumanBytes(total),
            (done as u128 * 100 / total as u128)
        )
    }
}

/// The error lines printed by `get`, `wait` and `info`: code in hex, symbol,
/// context and description.
pub fn error_text(e: &CopyError) -> String {
    let (context, code) = e.get_error();
    let mut s = format!(
        "{} (0x{code:08X}) in context {} ({})\n  description: {}",
        bgcopy::codes::symbol(code),
        context.name(),
        e.get_error_context_description(),
        printable(&e.get_error_description())
    );
    if let Ok(f) = e.get_file() {
        let remote = f.get_remote_name().unwrap_or_default();
        let local = f.get_local_name().unwrap_or_default();
        let _ = write!(s, "\n  file: {remote} -> {}", printable(&local));
    }
    if let Ok(p) = e.get_protocol() {
        let _ = write!(s, "\n  protocol: {p}");
    }
    s
}

/// The text of `info`.
pub fn job_text(job: &CopyJob) -> Result<String> {
    let p = job.get_progress()?;
    let t = job.get_times()?;
    let state = job.get_state()?;
    let mut s = String::new();
    let mut row = |k: &str, v: String| {
        let _ = writeln!(s, "{k:<20} {v}");
    };
    row("id:", job.get_id());
    row(
        "display name:",
        printable(&job.get_display_name()?).into_owned(),
    );
    row(
        "description:",
        printable(&job.get_description()?).into_owned(),
    );
    row("type:", job.get_type()?.name().into());
    row("state:", state.name().into());
    row("priority:", job.get_priority()?.name().into());
    row(
        "progress:",
        format!(
            "{}, {} of {} files",
            bytes_of(p.bytes_transferred, p.bytes_total),
            p.files_transferred,
            p.files_total
        ),
    );
    row("error count:", job.get_error_count()?.to_string());
    row(
        "retry delay:",
        format!("{} s", job.get_minimum_retry_delay()?),
    );
    row(
        "no-progress timeout:",
        format!("{} s", job.get_no_progress_timeout()?),
    );
    row(
        "notify command:",
        match job.get_notify_cmd_line()? {
            Some(c) => std::iter::once(c.program)
                .chain(c.args)
                .map(|a| printable(&crate::names::shell_quote(&a)).into_owned())
                .collect::<Vec<_>>()
                .join(" "),
            None => "-".into(),
        },
    );
    row(
        "custom headers:",
        match custom_headers(job)? {
            None => "(write-only)".into(),
            Some(lines) if lines.is_empty() => "-".into(),
            Some(lines) => printable(&lines.join("; ")).into_owned(),
        },
    );
    row(
        "security flags:",
        format!("0x{:04X}", job.get_security_flags()?),
    );
    let proxy = job.get_proxy_settings()?;
    row(
        "proxy:",
        match proxy.usage {
            bgcopy::ProxyUsage::Override if proxy.bypass.is_empty() => proxy.proxy,
            bgcopy::ProxyUsage::Override => format!("{} (not for {})", proxy.proxy, proxy.bypass),
            u => u.name().to_string(),
        },
    );
    row(
        "max download time:",
        match job.get_maximum_download_time()? {
            0 => "-".into(),
            s => format!("{s} s"),
        },
    );
    row(
        "connections per file:",
        job.get_max_connections_per_file()?.to_string(),
    );
    row(
        "bandwidth limit:",
        match job.get_bandwidth_limit()? {
            0 => "-".into(),
            n => format!("{n} B/s"),
        },
    );
    row("created:", rfc3339(t.creation_time));
    row("modified:", rfc3339(t.modification_time));
    row(
        "transferred:",
        t.transfer_completion_time.map_or("-".into(), rfc3339),
    );
    let err = match job.get_error() {
        Ok(e) => error_text(&e),
        Err(_) => "-".into(),
    };
    row("error:", err);
    let files = job.enum_files()?;
    let _ = writeln!(s, "files:               {}", files.len());
    for (i, f) in files.iter().enumerate() {
        let fp = f.get_progress()?;
        let _ = writeln!(
            s,
            "  [{i}] {}\n      -> {}\n      {}{}",
            f.get_remote_name()?,
            printable(&f.get_local_name()?),
            bytes_of(fp.bytes_transferred, fp.bytes_total),
            if fp.completed { ", completed" } else { "" }
        );
    }
    Ok(s)
}

/// The table of `list`.
pub fn jobs_table(jobs: &[CopyJob]) -> Result<String> {
    let mut s = format!(
        "{:<36}  {:<15}  {:<10}  {:>7}  {:<26}  {}\n",
        "ID", "STATE", "PRIORITY", "FILES", "BYTES", "NAME"
    );
    for job in jobs {
        let p = job.get_progress()?;
        let state = job.get_state()?;
        let _ = writeln!(
            s,
            "{:<36}  {:<15}  {:<10}  {:>7}  {:<26}  {}",
            job.get_id(),
            state.name(),
            job.get_priority()?.name(),
            format!("{}/{}", p.files_transferred, p.files_total),
            bytes_of(p.bytes_transferred, p.bytes_total),
            printable(&job.get_display_name()?)
        );
    }
    Ok(s)
}

/// One journal entry as a line of `bgcopy events`: number, UTC time, job, what, state,
/// and the file or the error.
pub fn event_text(e: &Event) -> String {
    let mut s = format!(
        "{} {} {} {:<16} {}",
        e.seq,
        rfc3339(e.time),
        e.job_id,
        e.kind.name(),
        e.state.name()
    );
    if let Some(i) = e.file_index {
        let _ = write!(s, " file {i}");
    }
    if let Some(error) = e.error_text() {
        let _ = write!(s, " {error}");
    }
    s
}

/// One journal entry as `bgcopy events --json` prints it (one object a line).
pub fn event_json(e: &Event) -> Value {
    json!({
        "seq": e.seq,
        "time": rfc3339(e.time),
        "job": e.job_id,
        "kind": e.kind.name(),
        "state": e.state.name(),
        "file_index": e.file_index,
        "error": e.error_code.map(|code| json!({
            "code": format!("0x{code:08X}"),
            "symbol": bgcopy::codes::symbol(code),
            "context": e.error_context.map(|c| c.name()),
            "description": e.error_description,
        })),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(printable("plain name"), "plain name");
        assert_eq!(printable("a\x1b[2Jb\r"), "a\\u{1b}[2Jb\\u{d}");
        assert_eq!(printable("x\u{202e}y"), "x\\u{202e}y");
    }
    use std::time::{Duration, SystemTime};

    #[test]
    fn rfc3339_dates() {
        let at = |ms: u64| rfc3339(SystemTime::UNIX_EPOCH + Duration::from_millis(ms));
        assert_eq!(at(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(at(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(at(4_107_542_399_999), "2100-02-28T23:59:59.999Z");
        assert_eq!(
            rfc3339(SystemTime::UNIX_EPOCH - Duration::from_millis(1)),
            "1969-12-31T23:59:59.999Z"
        );
    }

    #[test]
    fn byte_text() {
        assert_eq!(bytes_of(0, BYTES_UNKNOWN), "0 B of ?");
        assert!(bytes_of(512, 1024).ends_with("(50%)"));
    }
}
