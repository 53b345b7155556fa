//! `bgcopy_job`: every method of docs/spec.md §1's CopyJob.

use crate::boundary::{
    Handle, Out, Result, arg, boundary, call, free_array, get, handle, handle_add_ref,
    handle_release, new_array, new_handle, new_string, new_string_array, str_arg, str_list,
};
use crate::callback::{CCallback, bgcopy_callback};
use crate::file::{bgcopy_error, bgcopy_file};
use crate::types::*;
use bgcopy_core::{AuthScheme, AuthTarget, CopyCallback, CopyJob, Error, Priority, ProxyUsage};
use std::ffi::c_char;
use std::sync::Arc;
use std::time::Duration;

/// A transfer job. Opaque, reference counted, thread-safe: any number of threads may
/// use one handle at once.
pub struct bgcopy_job {
    pub(crate) inner: CopyJob,
}

handle!(bgcopy_job, CopyJob, "the job handle (bgcopy_job *)");

/// Run a setter taking a string.
fn set_str(
    j: *mut bgcopy_job,
    s: *const c_char,
    what: &str,
    f: impl FnOnce(&CopyJob, &str) -> Result<()>,
) -> i32 {
    call(j, |job| {
        // SAFETY: the C conventions.
        f(job, unsafe { str_arg(s, what) }?)
    })
}

/// Append a file: `remote_url` an http(s) URL, `local_path` an absolute path in an
/// existing directory, not already a file of the job. Nothing appears at `local_path`
/// before `bgcopy_job_complete`. `BGCOPY_E_INVALIDARG` for bad input,
/// `BGCOPY_E_INVALID_STATE` on a final job.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_job_add_file(
    j: *mut bgcopy_job,
    remote_url: *const c_char,
    local_path: *const c_char,
) -> i32 {
    call(j, |job| {
        // SAFETY: the C conventions.
        let (url, local) = unsafe {
            (
                str_arg(remote_url, "remote_url")?,
                str_arg(local_path, "local_path")?,
            )
        };
        job.add_file(url, local)
    })
}

/// Append `count` files, all or none (any bad file fails the whole call and adds
/// nothing). `files` may be NULL when `count` is 0 (a successful no-op).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_job_add_file_set(
    j: *mut bgcopy_job,
    files: *const bgcopy_file_info,
    count: usize,
) -> i32 {
    call(j, |job| {
        if files.is_null() && count > 0 {
            return Err(Error::invalid_arg("files is NULL but count is not 0"));
        }
        let infos: &[bgcopy_file_info] = if count == 0 {
            &[]
        } else {
            // SAFETY: a non-NULL array of `count` entries (the caller's contract).
            unsafe { std::slice::from_raw_parts(files, count) }
        };
        let mut pairs = Vec::with_capacity(infos.len());
        for (i, f) in infos.iter().enumerate() {
            // SAFETY: the C conventions.
            let pair = unsafe {
                (
                    str_arg(f.remote_name, &format!("files[{i}].remote_name"))?,
                    str_arg(f.local_name, &format!("files[{i}].local_name"))?,
                )
            };
            pairs.push(pair);
        }
        job.add_file_set(&pairs)
    })
}

/// The job's files in order: `*out_files` is an array of `*out_count` new file handles
/// (NULL when the job has none); free it with `bgcopy_file_array_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_job_enum_files(
    j: *mut bgcopy_job,
    out_files: *mut *mut *mut bgcopy_file,
    out_count: *mut usize,
) -> i32 {
    boundary(|| {
        // SAFETY: the C conventions.
        let (job, out_files, out_count) = unsafe {
            (
                arg(j)?,
                Out::new(out_files, "out_files")?,
                Out::new(out_count, "out_count")?,
            )
        };
        let files = job.inner().enum_files()?;
        let (array, n) = new_array(files.into_iter().map(bgcopy_file::wrap).collect());
        out_files.set(array);
        out_count.set(n);
        Ok(BGCOPY_S_OK)
    })
}

/// Release every handle of an array from `bgcopy_job_enum_files`, then the array.
/// `count` must be the count returned with it. NULL does nothing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_file_array_free(files: *mut *mut bgcopy_file, count: usize) {
    boundary(|| {
        // SAFETY: the C conventions: an array from enum_files with its count.
        unsafe { free_array(files, count) };
        Ok(())
    })
}

/// Stop transferring (-> SUSPENDED); progress is kept. Works in every non-final state.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_job_suspend(j: *mut bgcopy_job) -> i32 {
    call(j, CopyJob::suspend)
}

/// Queue the job (-> QUEUED) from SUSPENDED, ERROR, TRANSIENT_ERROR, or TRANSFERRED with
/// new files; clears the error. `BGCOPY_E_EMPTY` (state unchanged) without files.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_job_resume(j: *mut bgcopy_job) -> i32 {
    call(j, CopyJob::resume)
}

/// End the job (-> CANCELLED, final) and delete every temporary file.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_job_cancel(j: *mut bgcopy_job) -> i32 {
    call(j, CopyJob::cancel)
}

/// End the job (-> ACKNOWLEDGED, final): every fully transferred file appears at its
/// local path atomically; the others are deleted. Returns `BGCOPY_S_OK`, or the success
/// code `BGCOPY_S_PARTIAL_COMPLETE` when some files were not transferred. If a rename
/// fails, the error is returned and the job keeps its state (call again to finish).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_job_complete(j: *mut bgcopy_job) -> i32 {
    boundary(|| {
        // SAFETY: the C conventions.
        let job = unsafe { arg(j) }?;
        Ok(job.inner().complete()?.code() as i32)
    })
}

/// The job's id as canonical UUID text (36 characters). Free `*out` with
/// `bgcopy_string_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_job_get_id(j: *mut bgcopy_job, out: *mut *mut c_char) -> i32 {
    get(j, out, |job| Ok(new_string(job.get_id())))
}

/// The job's type (`BGCOPY_JOB_TYPE_*`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_job_get_type(j: *mut bgcopy_job, out: *mut bgcopy_job_type) -> i32 {
    get(j, out, |job| Ok(job.get_type()? as u32))
}

/// The job's state (`BGCOPY_JOB_STATE_*`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_job_get_state(
    j: *mut bgcopy_job,
    out: *mut bgcopy_job_state,
) -> i32 {
    get(j, out, |job| Ok(job.get_state()? as u32))
}

/// The job's progress.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_job_get_progress(
    j: *mut bgcopy_job,
    out: *mut bgcopy_job_progress,
) -> i32 {
    get(j, out, |job| {
        let p = job.get_progress()?;
        Ok(bgcopy_job_progress {
            bytes_total: p.bytes_total,
            bytes_transferred: p.bytes_transferred,
            files_total: p.files_total,
            files_transferred: p.files_transferred,
        })
    })
}

/// The job's time stamps (milliseconds since the Unix epoch; 0 = unset).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_job_get_times(
    j: *mut bgcopy_job,
    out: *mut bgcopy_job_times,
) -> i32 {
    get(j, out, |job| {
        let t = job.get_times()?;
        Ok(bgcopy_job_times {
            creation_time: t.creation_ms(),
            modification_time: t.modification_ms(),
            transfer_completion_time: t.transfer_completion_ms().unwrap_or(0),
        })
    })
}

/// The job's error, in ERROR or TRANSIENT_ERROR: `*out` is a new error handle (a
/// snapshot); else `BGCOPY_E_ERROR_INFORMATION_UNAVAILABLE`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_job_get_error(
    j: *mut bgcopy_job,
    out: *mut *mut bgcopy_error,
) -> i32 {
    get(j, out, |job| {
        Ok(new_handle(bgcopy_error::wrap(job.get_error()?)))
    })
}

/// The display name. Free `*out` with `bgcopy_string_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_job_get_display_name(
    j: *mut bgcopy_job,
    out: *mut *mut c_char,
) -> i32 {
    get(j, out, |job| Ok(new_string(job.get_display_name()?)))
}

/// Set the display name (at most 256 characters, else `BGCOPY_E_STRING_TOO_LONG`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_job_set_display_name(
    j: *mut bgcopy_job,
    name: *const c_char,
) -> i32 {
    set_str(j, name, "name", CopyJob::set_display_name)
}

/// The description. Free `*out` with `bgcopy_string_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_job_get_description(
    j: *mut bgcopy_job,
    out: *mut *mut c_char,
) -> i32 {
    get(j, out, |job| Ok(new_string(job.get_description()?)))
}

/// Set the description (at most 1024 characters, else `BGCOPY_E_STRING_TOO_LONG`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_job_set_description(
    j: *mut bgcopy_job,
    text: *const c_char,
) -> i32 {
    set_str(j, text, "text", CopyJob::set_description)
}

/// Set the notify command line (BITS `SetNotifyCmdLine`): whichever process runs the
/// engine runs `program` (an absolute path) with the `nargs` strings of `args` as its
/// arguments, without a shell and with `BGCOPY_JOB_ID` in its environment, once each
/// time the job reaches TRANSFERRED or ERROR with the matching notification flag set
/// (again after the minimum retry delay while it exits non-zero). `program` NULL or ""
/// clears it. `args` may be NULL when `nargs` is 0. Strings are borrowed for the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_job_set_notify_cmd_line(
    j: *mut bgcopy_job,
    program: *const c_char,
    args: *const *const c_char,
    nargs: usize,
) -> i32 {
    call(j, |job| {
        // SAFETY: the C conventions.
        let program = unsafe { crate::boundary::opt_str(program, "program") }?.unwrap_or("");
        // SAFETY: the C conventions.
        let list = unsafe { str_list(args, nargs, "args") }?;
        job.set_notify_cmd_line(program, &list)
    })
}

/// Set the custom headers (BITS `SetCustomHeaders`): `n` lines `"Name: value"` (at
/// most 64 of 8192 bytes, 64 KiB in all; no CR, LF or NUL; not Range, If-Range, Host or the framing
/// headers), sent with every request of the job and with a redirect only to the same
/// origin (scheme, host, port). `n` 0 clears them (`lines` may then be NULL). Strings
/// are borrowed for the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_job_set_custom_headers(
    j: *mut bgcopy_job,
    lines: *const *const c_char,
    n: usize,
) -> i32 {
    call(j, |job| {
        // SAFETY: the C conventions.
        let list = unsafe { str_list(lines, n, "lines") }?;
        job.set_custom_headers(&list)
    })
}

/// The custom headers: an array of `*out_n` strings `*out_lines` (free with
/// `bgcopy_string_array_free`; NULL when there are none).
/// `BGCOPY_E_ACCESS_DENIED` (and nothing written) once they were made write-only.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_job_get_custom_headers(
    j: *mut bgcopy_job,
    out_lines: *mut *mut *mut c_char,
    out_n: *mut usize,
) -> i32 {
    boundary(|| {
        // SAFETY: the C conventions.
        let (job, out_lines, out_n) = unsafe {
            (
                arg(j)?,
                Out::new(out_lines, "out_lines")?,
                Out::new(out_n, "out_n")?,
            )
        };
        let lines = job.inner().get_custom_headers()?;
        let (array, n) = new_string_array(lines);
        out_lines.set(array);
        out_n.set(n);
        Ok(BGCOPY_S_OK)
    })
}

/// Make the custom headers write-only (BITS `MakeCustomHeadersWriteOnly`): from now
/// on `bgcopy_job_get_custom_headers` fails with `BGCOPY_E_ACCESS_DENIED` and nothing
/// shows them; they can still be replaced. There is no way back.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_job_make_custom_headers_write_only(j: *mut bgcopy_job) -> i32 {
    call(j, |job| job.make_custom_headers_write_only())
}

/// The security flags (`BGCOPY_SECURITY_*`; default 0).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_job_get_security_flags(j: *mut bgcopy_job, out: *mut u32) -> i32 {
    get(j, out, CopyJob::get_security_flags)
}

/// Set the security flags (BITS `SetSecurityFlags`): a redirect policy
/// (`BGCOPY_SECURITY_REDIRECT_*`) and `BGCOPY_SECURITY_ALLOW_HTTPS_TO_HTTP`. BITS's
/// certificate flags (0x0001-0x0010) are `BGCOPY_E_NOTIMPL`; other bits
/// `BGCOPY_E_INVALIDARG`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_job_set_security_flags(j: *mut bgcopy_job, flags: u32) -> i32 {
    call(j, |job| job.set_security_flags(flags))
}

/// Set the credentials for `target` (`BGCOPY_AUTH_TARGET_*`) and `scheme`
/// (`BGCOPY_AUTH_SCHEME_*`), replacing those set for the same pair (BITS
/// `SetCredentials`). BASIC: `user` (no `:`) and the password in `secret`; BEARER: an
/// empty `user` and the token in `secret`. Write-only: nothing returns or shows them.
/// SERVER credentials go with every request to the file URL's origin, before any
/// challenge (never after a redirect to another origin); PROXY ones to the job's proxy.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_job_set_credentials(
    j: *mut bgcopy_job,
    target: bgcopy_auth_target,
    scheme: bgcopy_auth_scheme,
    user: *const c_char,
    secret: *const c_char,
) -> i32 {
    call(j, |job| {
        let target = AuthTarget::try_from_number("target", target)?;
        let scheme = AuthScheme::try_from_number("scheme", scheme)?;
        // SAFETY: the C conventions.
        let (user, secret) = unsafe { (str_arg(user, "user")?, str_arg(secret, "secret")?) };
        job.set_credentials(target, scheme, user, secret)
    })
}

/// Forget the credentials for `target` and `scheme` (BITS `RemoveCredentials`);
/// `BGCOPY_S_OK` also when there are none.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_job_remove_credentials(
    j: *mut bgcopy_job,
    target: bgcopy_auth_target,
    scheme: bgcopy_auth_scheme,
) -> i32 {
    call(j, |job| {
        job.remove_credentials(
            AuthTarget::try_from_number("target", target)?,
            AuthScheme::try_from_number("scheme", scheme)?,
        )
    })
}

/// Choose the job's proxy (BITS `SetProxySettings`). `BGCOPY_PROXY_USAGE_PRECONFIG`
/// (the default): the environment's, like curl (`https_proxy` for https URLs,
/// `http_proxy` for http URLs, else `all_proxy`; `no_proxy` bypasses).
/// `BGCOPY_PROXY_USAGE_NO_PROXY`: none. `BGCOPY_PROXY_USAGE_OVERRIDE`: `proxy` is
/// `http://`, `https://`, `socks5h://` or `socks5://` `host[:port]` (credentials with
/// `bgcopy_job_set_credentials(BGCOPY_AUTH_TARGET_PROXY, BASIC, …)`, not in the URL) and
/// `bypass` lists hosts reached without it (`*`, host names with their subdomains, IP
/// addresses, CIDR networks; comma separated). `proxy` and `bypass` may be NULL (empty);
/// they must be empty for the other usages.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_job_set_proxy_settings(
    j: *mut bgcopy_job,
    usage: bgcopy_proxy_usage,
    proxy: *const c_char,
    bypass: *const c_char,
) -> i32 {
    call(j, |job| {
        let usage = ProxyUsage::try_from_number("usage", usage)?;
        // SAFETY: the C conventions.
        let (proxy, bypass) = unsafe {
            (
                crate::boundary::opt_str(proxy, "proxy")?.unwrap_or(""),
                crate::boundary::opt_str(bypass, "bypass")?.unwrap_or(""),
            )
        };
        job.set_proxy_settings(usage, proxy, bypass)
    })
}

/// The job's proxy settings: `*out_usage`, and `*out_proxy` / `*out_bypass` (free with
/// `bgcopy_string_free`; NULL when empty). Every out-pointer is required.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_job_get_proxy_settings(
    j: *mut bgcopy_job,
    out_usage: *mut bgcopy_proxy_usage,
    out_proxy: *mut *mut c_char,
    out_bypass: *mut *mut c_char,
) -> i32 {
    boundary(|| {
        // SAFETY: the C conventions.
        let (job, usage, proxy, bypass) = unsafe {
            (
                arg(j)?,
                Out::new(out_usage, "out_usage")?,
                Out::new(out_proxy, "out_proxy")?,
                Out::new(out_bypass, "out_bypass")?,
            )
        };
        let s = job.inner().get_proxy_settings()?;
        let text = |t: String| {
            if t.is_empty() {
                std::ptr::null_mut()
            } else {
                new_string(t)
            }
        };
        usage.set(s.usage as u32);
        proxy.set(text(s.proxy));
        bypass.set(text(s.bypass));
        Ok(BGCOPY_S_OK)
    })
}

/// Present a TLS client certificate (mutual TLS): `cert_pem_path` holds the
/// certificate (and chain), `key_pem_path` its private key (PKCS#8, PKCS#1 or SEC1).
/// Both are read and checked now (`BGCOPY_E_INVALIDARG` naming the file); the job
/// stores their absolute paths and reads them again when a transfer starts. A server
/// that refuses it fails the job with `BGCOPY_E_SECURE_FAILURE`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_job_set_client_certificate(
    j: *mut bgcopy_job,
    cert_pem_path: *const c_char,
    key_pem_path: *const c_char,
) -> i32 {
    call(j, |job| {
        // SAFETY: the C conventions.
        let (cert, key) = unsafe {
            (
                str_arg(cert_pem_path, "cert_pem_path")?,
                str_arg(key_pem_path, "key_pem_path")?,
            )
        };
        job.set_client_certificate(cert, key)
    })
}

/// Stop presenting a client certificate (`BGCOPY_S_OK` also when there is none).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_job_remove_client_certificate(j: *mut bgcopy_job) -> i32 {
    call(j, |job| job.remove_client_certificate())
}

/// The maximum download time in seconds (0: no limit, the default).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_job_get_maximum_download_time(
    j: *mut bgcopy_job,
    out: *mut u32,
) -> i32 {
    get(j, out, CopyJob::get_maximum_download_time)
}

/// Limit the time the job spends CONNECTING or TRANSFERRING, in seconds (BITS Job4
/// `SetMaximumDownloadTime`; 0 removes the limit). Time QUEUED, SUSPENDED or in
/// TRANSIENT_ERROR does not count; `bgcopy_job_resume` starts the count again. When it
/// passes, the job goes to ERROR with `BGCOPY_E_MAXDOWNLOAD_TIMEOUT`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_job_set_maximum_download_time(
    j: *mut bgcopy_job,
    seconds: u32,
) -> i32 {
    call(j, |job| job.set_maximum_download_time(seconds))
}

/// How many connections one file of the job may use at once (segmented download, BITS
/// Job5 HIGH_PERFORMANCE): the job's setting, else the manager's
/// `max_connections_per_file` option.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_job_get_max_connections_per_file(
    j: *mut bgcopy_job,
    out: *mut u32,
) -> i32 {
    get(j, out, CopyJob::get_max_connections_per_file)
}

/// Let one file of the job use up to `n` connections at once (1..=64; 1 = one stream,
/// else `BGCOPY_E_INVALIDARG`). A file is split only when the server honours ranges
/// for it and it is at least 2 MiB; every connection counts against the manager's
/// `connections_per_job` and `connections_per_host`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_job_set_max_connections_per_file(
    j: *mut bgcopy_job,
    n: u32,
) -> i32 {
    call(j, |job| job.set_max_connections_per_file(n))
}

/// The job's bandwidth limit in bytes per second (0: none, the default).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_job_get_bandwidth_limit(j: *mut bgcopy_job, out: *mut u64) -> i32 {
    get(j, out, CopyJob::get_bandwidth_limit)
}

/// Limit the job to `bytes_per_second` over all its connections (0: none); applies
/// within a second while it transfers. Above `INT64_MAX`: `BGCOPY_E_INVALIDARG`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_job_set_bandwidth_limit(
    j: *mut bgcopy_job,
    bytes_per_second: u64,
) -> i32 {
    call(j, |job| job.set_bandwidth_limit(bytes_per_second))
}

/// Give every file whose remote URL starts with `old_prefix` that URL with the prefix
/// replaced by `new_prefix` (BITS Job3 `ReplaceRemotePrefix`), all or none (each new
/// URL is checked like `bgcopy_job_add_file`'s). A file keeps its bytes when the new
/// URL serves the same content (If-Range with the stored validator), else starts
/// over. `*out_count` (may be NULL) receives how many files changed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_job_replace_remote_prefix(
    j: *mut bgcopy_job,
    old_prefix: *const c_char,
    new_prefix: *const c_char,
    out_count: *mut u32,
) -> i32 {
    boundary(|| {
        // SAFETY: the C conventions.
        let (job, old, new) = unsafe {
            (
                arg(j)?,
                str_arg(old_prefix, "old_prefix")?,
                str_arg(new_prefix, "new_prefix")?,
            )
        };
        let n = job.inner().replace_remote_prefix(old, new)?;
        if !out_count.is_null() {
            // SAFETY: a non-NULL out-pointer is valid for a write (the C conventions).
            unsafe { *out_count = n };
        }
        Ok(BGCOPY_S_OK)
    })
}

/// The notify command line: `*out_program` (free with `bgcopy_string_free`) and an
/// array of `*out_nargs` argument strings `*out_args` (free with
/// `bgcopy_string_array_free`). When none is set: `*out_program` and `*out_args` NULL,
/// `*out_nargs` 0, and `BGCOPY_S_OK`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_job_get_notify_cmd_line(
    j: *mut bgcopy_job,
    out_program: *mut *mut c_char,
    out_args: *mut *mut *mut c_char,
    out_nargs: *mut usize,
) -> i32 {
    boundary(|| {
        // SAFETY: the C conventions.
        let (job, out_program, out_args, out_nargs) = unsafe {
            (
                arg(j)?,
                Out::new(out_program, "out_program")?,
                Out::new(out_args, "out_args")?,
                Out::new(out_nargs, "out_nargs")?,
            )
        };
        match job.inner().get_notify_cmd_line()? {
            Some(cmd) => {
                let (array, n) = new_string_array(cmd.args);
                out_program.set(new_string(cmd.program));
                out_args.set(array);
                out_nargs.set(n);
            }
            None => {
                out_program.set(std::ptr::null_mut());
                out_args.set(std::ptr::null_mut());
                out_nargs.set(0);
            }
        }
        Ok(BGCOPY_S_OK)
    })
}

/// The priority (`BGCOPY_PRIORITY_*`; default NORMAL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_job_get_priority(
    j: *mut bgcopy_job,
    out: *mut bgcopy_priority,
) -> i32 {
    get(j, out, |job| Ok(job.get_priority()? as u32))
}

/// Set the priority (a `BGCOPY_PRIORITY_*` value, else `BGCOPY_E_INVALIDARG`); the
/// scheduler re-evaluates at once.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_job_set_priority(j: *mut bgcopy_job, p: bgcopy_priority) -> i32 {
    call(j, |job| {
        job.set_priority(Priority::try_from_number("priority", p)?)
    })
}

/// The notification flags (`BGCOPY_NOTIFY_*`; default `BGCOPY_NOTIFY_DEFAULT`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_job_get_notify_flags(j: *mut bgcopy_job, out: *mut u32) -> i32 {
    get(j, out, CopyJob::get_notify_flags)
}

/// Set the notification flags; unknown bits are `BGCOPY_E_INVALIDARG`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_job_set_notify_flags(j: *mut bgcopy_job, flags: u32) -> i32 {
    call(j, |job| job.set_notify_flags(flags))
}

/// A copy of the installed callback; every member NULL when none is installed. The
/// library keeps owning the context: do not call `release` on it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_job_get_notify_interface(
    j: *mut bgcopy_job,
    out: *mut bgcopy_callback,
) -> i32 {
    get(j, out, |job| {
        Ok(job
            .get_notify_interface_as::<CCallback>()?
            .map_or(bgcopy_callback::NONE, |cb| cb.c_struct()))
    })
}

/// Install (a copy of) `cb` as the job's callback, or with NULL clear it; not
/// persisted. On success the library owns `cb->context` and calls `cb->release` once
/// when it drops the callback; the callback replaced (if any) is released. On failure
/// (e.g. `BGCOPY_E_INVALID_STATE` on a final job) `release` is not called. See
/// `bgcopy_callback` for the threading rules.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_job_set_notify_interface(
    j: *mut bgcopy_job,
    cb: *const bgcopy_callback,
) -> i32 {
    call(j, |job| {
        // SAFETY: `cb` is NULL or a valid struct for the call; it is copied.
        let new = unsafe { cb.as_ref() }.map(|c| CCallback::new(*c));
        let r = job.set_notify_interface(new.clone().map(|c| c as Arc<dyn CopyCallback>));
        if r.is_err()
            && let Some(n) = &new
        {
            n.disarm();
        }
        drop(new);
        r
    })
}

/// Seconds without progress before a transient error becomes ERROR (default 1209600,
/// 14 days).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_job_get_no_progress_timeout(
    j: *mut bgcopy_job,
    out: *mut u32,
) -> i32 {
    get(j, out, CopyJob::get_no_progress_timeout)
}

/// Set the no-progress timeout in seconds; 0 makes every error fatal.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_job_set_no_progress_timeout(
    j: *mut bgcopy_job,
    seconds: u32,
) -> i32 {
    call(j, |job| job.set_no_progress_timeout(seconds))
}

/// The minimum retry delay in seconds (default 600).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_job_get_minimum_retry_delay(
    j: *mut bgcopy_job,
    out: *mut u32,
) -> i32 {
    get(j, out, CopyJob::get_minimum_retry_delay)
}

/// Set the minimum retry delay in seconds: the cap of the transient-error backoff and
/// the callback redelivery delay (0 acts as 1).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_job_set_minimum_retry_delay(
    j: *mut bgcopy_job,
    seconds: u32,
) -> i32 {
    call(j, |job| job.set_minimum_retry_delay(seconds))
}

/// Errors seen (transient and fatal); never reset.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_job_get_error_count(j: *mut bgcopy_job, out: *mut u32) -> i32 {
    get(j, out, CopyJob::get_error_count)
}

/// Block until the job is TRANSFERRED, ERROR, ACKNOWLEDGED or CANCELLED, the manager
/// closes, or `timeout_ms` passes (`BGCOPY_WAIT_INFINITE`: no timeout); `*out` is the
/// state then (a timeout is not a failure).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_job_wait(
    j: *mut bgcopy_job,
    timeout_ms: u32,
    out: *mut bgcopy_job_state,
) -> i32 {
    get(j, out, |job| {
        let timeout =
            (timeout_ms != BGCOPY_WAIT_INFINITE).then(|| Duration::from_millis(timeout_ms.into()));
        Ok(job.wait(timeout)? as u32)
    })
}

/// Take one more reference to the job (e.g. to keep a handle a callback borrowed);
/// returns `j`. NULL returns NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_job_add_ref(j: *mut bgcopy_job) -> *mut bgcopy_job {
    handle_add_ref(j)
}

/// Release a reference to the job. NULL does nothing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_job_release(j: *mut bgcopy_job) {
    handle_release(j)
}
