//! The values with fixed numbers (docs/spec.md §2) and the plain structs of the C ABI.
//!
//! Enumerations are `uint32_t` typedefs with `#define`d values (a C `enum` cannot be
//! checked for out-of-range values coming in; these are, and give `E_INVALIDARG`).
//! The `const _` blocks check every value against the core at compile time, and the
//! tests check that every code of the core has its C macro.

use bgcopy_core::{
    AuthScheme, AuthTarget, ErrorContext, EventKind, JobState, JobType, Priority, ProxyUsage,
    codes, notify,
};
use std::ffi::c_char;

/// The state of a job: one of the `BGCOPY_JOB_STATE_*` values.
pub type bgcopy_job_state = u32;
/// Waiting for a transfer slot.
pub const BGCOPY_JOB_STATE_QUEUED: u32 = 0;
/// Connecting to the server.
pub const BGCOPY_JOB_STATE_CONNECTING: u32 = 1;
/// Data is moving.
pub const BGCOPY_JOB_STATE_TRANSFERRING: u32 = 2;
/// Stopped by `bgcopy_job_suspend` (or new, before the first `bgcopy_job_resume`).
pub const BGCOPY_JOB_STATE_SUSPENDED: u32 = 3;
/// A fatal error; `bgcopy_job_resume` retries.
pub const BGCOPY_JOB_STATE_ERROR: u32 = 4;
/// A transient error; retried automatically after the retry delay.
pub const BGCOPY_JOB_STATE_TRANSIENT_ERROR: u32 = 5;
/// Every file is transferred; call `bgcopy_job_complete` to make them visible.
pub const BGCOPY_JOB_STATE_TRANSFERRED: u32 = 6;
/// `bgcopy_job_complete` ran (final).
pub const BGCOPY_JOB_STATE_ACKNOWLEDGED: u32 = 7;
/// `bgcopy_job_cancel` ran (final).
pub const BGCOPY_JOB_STATE_CANCELLED: u32 = 8;

const _: () = {
    assert!(BGCOPY_JOB_STATE_QUEUED == JobState::Queued as u32);
    assert!(BGCOPY_JOB_STATE_CONNECTING == JobState::Connecting as u32);
    assert!(BGCOPY_JOB_STATE_TRANSFERRING == JobState::Transferring as u32);
    assert!(BGCOPY_JOB_STATE_SUSPENDED == JobState::Suspended as u32);
    assert!(BGCOPY_JOB_STATE_ERROR == JobState::Error as u32);
    assert!(BGCOPY_JOB_STATE_TRANSIENT_ERROR == JobState::TransientError as u32);
    assert!(BGCOPY_JOB_STATE_TRANSFERRED == JobState::Transferred as u32);
    assert!(BGCOPY_JOB_STATE_ACKNOWLEDGED == JobState::Acknowledged as u32);
    assert!(BGCOPY_JOB_STATE_CANCELLED == JobState::Cancelled as u32);
};

/// The priority of a job: one of the `BGCOPY_PRIORITY_*` values (lower runs first).
pub type bgcopy_priority = u32;
/// Always runs, outside the background slots.
pub const BGCOPY_PRIORITY_FOREGROUND: u32 = 0;
/// First among background jobs.
pub const BGCOPY_PRIORITY_HIGH: u32 = 1;
/// The default.
pub const BGCOPY_PRIORITY_NORMAL: u32 = 2;
/// Last.
pub const BGCOPY_PRIORITY_LOW: u32 = 3;

const _: () = {
    assert!(BGCOPY_PRIORITY_FOREGROUND == Priority::Foreground as u32);
    assert!(BGCOPY_PRIORITY_HIGH == Priority::High as u32);
    assert!(BGCOPY_PRIORITY_NORMAL == Priority::Normal as u32);
    assert!(BGCOPY_PRIORITY_LOW == Priority::Low as u32);
};

/// The kind of job: one of the `BGCOPY_JOB_TYPE_*` values.
pub type bgcopy_job_type = u32;
/// Download files from servers.
pub const BGCOPY_JOB_TYPE_DOWNLOAD: u32 = 0;
/// Reserved: `bgcopy_manager_create_job` returns `BGCOPY_E_NOTIMPL`.
pub const BGCOPY_JOB_TYPE_UPLOAD: u32 = 1;
/// Reserved: `bgcopy_manager_create_job` returns `BGCOPY_E_NOTIMPL`.
pub const BGCOPY_JOB_TYPE_UPLOAD_REPLY: u32 = 2;

const _: () = {
    assert!(BGCOPY_JOB_TYPE_DOWNLOAD == JobType::Download as u32);
    assert!(BGCOPY_JOB_TYPE_UPLOAD == JobType::Upload as u32);
    assert!(BGCOPY_JOB_TYPE_UPLOAD_REPLY == JobType::UploadReply as u32);
};

/// Where an error came from: one of the `BGCOPY_ERROR_CONTEXT_*` values.
pub type bgcopy_error_context = u32;
/// No error.
pub const BGCOPY_ERROR_CONTEXT_NONE: u32 = 0;
/// Unknown origin.
pub const BGCOPY_ERROR_CONTEXT_UNKNOWN: u32 = 1;
/// The job manager itself (the store).
pub const BGCOPY_ERROR_CONTEXT_GENERAL_QUEUE_MANAGER: u32 = 2;
/// Delivering a notification.
pub const BGCOPY_ERROR_CONTEXT_QUEUE_MANAGER_NOTIFICATION: u32 = 3;
/// The local file (disk full, permissions, ...).
pub const BGCOPY_ERROR_CONTEXT_LOCAL_FILE: u32 = 4;
/// The remote file (HTTP status, changed file, ...).
pub const BGCOPY_ERROR_CONTEXT_REMOTE_FILE: u32 = 5;
/// The network (connect, TLS, timeouts, resets).
pub const BGCOPY_ERROR_CONTEXT_GENERAL_TRANSPORT: u32 = 6;
/// The server application.
pub const BGCOPY_ERROR_CONTEXT_REMOTE_APPLICATION: u32 = 7;

const _: () = {
    assert!(BGCOPY_ERROR_CONTEXT_NONE == ErrorContext::None as u32);
    assert!(BGCOPY_ERROR_CONTEXT_UNKNOWN == ErrorContext::Unknown as u32);
    assert!(BGCOPY_ERROR_CONTEXT_GENERAL_QUEUE_MANAGER == ErrorContext::GeneralQueueManager as u32);
    assert!(
        BGCOPY_ERROR_CONTEXT_QUEUE_MANAGER_NOTIFICATION
            == ErrorContext::QueueManagerNotification as u32
    );
    assert!(BGCOPY_ERROR_CONTEXT_LOCAL_FILE == ErrorContext::LocalFile as u32);
    assert!(BGCOPY_ERROR_CONTEXT_REMOTE_FILE == ErrorContext::RemoteFile as u32);
    assert!(BGCOPY_ERROR_CONTEXT_GENERAL_TRANSPORT == ErrorContext::GeneralTransport as u32);
    assert!(BGCOPY_ERROR_CONTEXT_REMOTE_APPLICATION == ErrorContext::RemoteApplication as u32);
};

/// Whom credentials are for: one of the `BGCOPY_AUTH_TARGET_*` values (BG_AUTH_TARGET).
pub type bgcopy_auth_target = u32;
/// The server of the files' URLs.
pub const BGCOPY_AUTH_TARGET_SERVER: u32 = 1;
/// The proxy the job's requests go through.
pub const BGCOPY_AUTH_TARGET_PROXY: u32 = 2;
const _: () = {
    assert!(BGCOPY_AUTH_TARGET_SERVER == AuthTarget::Server as u32);
    assert!(BGCOPY_AUTH_TARGET_PROXY == AuthTarget::Proxy as u32);
};

/// How credentials are sent: one of the `BGCOPY_AUTH_SCHEME_*` values.
pub type bgcopy_auth_scheme = u32;
/// `Authorization: Basic` with a user name and password (BITS's BASIC, 1).
pub const BGCOPY_AUTH_SCHEME_BASIC: u32 = 1;
/// `Authorization: Bearer` with a token as the secret (bgcopy's value; BITS stops at 5).
pub const BGCOPY_AUTH_SCHEME_BEARER: u32 = 6;
const _: () = {
    assert!(BGCOPY_AUTH_SCHEME_BASIC == AuthScheme::Basic as u32);
    assert!(BGCOPY_AUTH_SCHEME_BEARER == AuthScheme::Bearer as u32);
};

/// Which proxy a job uses: one of the `BGCOPY_PROXY_USAGE_*` values (BG_JOB_PROXY_USAGE).
pub type bgcopy_proxy_usage = u32;
/// The environment's: `https_proxy`/`http_proxy`/`all_proxy` and `no_proxy` (default).
pub const BGCOPY_PROXY_USAGE_PRECONFIG: u32 = 0;
/// No proxy: every request goes straight to the server.
pub const BGCOPY_PROXY_USAGE_NO_PROXY: u32 = 1;
/// The job's own proxy URL and bypass list.
pub const BGCOPY_PROXY_USAGE_OVERRIDE: u32 = 2;
const _: () = {
    assert!(BGCOPY_PROXY_USAGE_PRECONFIG == ProxyUsage::Preconfig as u32);
    assert!(BGCOPY_PROXY_USAGE_NO_PROXY == ProxyUsage::NoProxy as u32);
    assert!(BGCOPY_PROXY_USAGE_OVERRIDE == ProxyUsage::Override as u32);
};

/// What an event of the journal records: one of the `BGCOPY_EVENT_KIND_*` values.
pub type bgcopy_event_kind = u32;
/// The job entered the state the event carries (also at creation: SUSPENDED).
pub const BGCOPY_EVENT_KIND_STATE_CHANGED: u32 = 0;
/// Every byte of the file the event names is transferred.
pub const BGCOPY_EVENT_KIND_FILE_TRANSFERRED: u32 = 1;
/// The job hit an error (ERROR or TRANSIENT_ERROR); the event carries it.
pub const BGCOPY_EVENT_KIND_ERROR: u32 = 2;
/// A call changed the job without changing its state (properties, files).
pub const BGCOPY_EVENT_KIND_MODIFIED: u32 = 3;

const _: () = {
    assert!(BGCOPY_EVENT_KIND_STATE_CHANGED == EventKind::StateChanged as u32);
    assert!(BGCOPY_EVENT_KIND_FILE_TRANSFERRED == EventKind::FileTransferred as u32);
    assert!(BGCOPY_EVENT_KIND_ERROR == EventKind::Error as u32);
    assert!(BGCOPY_EVENT_KIND_MODIFIED == EventKind::Modified as u32);
};

/// One entry of the durable event journal (`bgcopy_manager_events_since`). The
/// array it comes in, and `error_description`, are freed by `bgcopy_event_array_free`.
#[repr(C)]
#[derive(Debug)]
pub struct bgcopy_event {
    /// The sequence number: pass the last one as the next call's cursor.
    pub seq: u64,
    /// The job's id (36 characters and a NUL).
    pub job_id: [c_char; 37],
    /// What happened: a `BGCOPY_EVENT_KIND_*` value.
    pub kind: bgcopy_event_kind,
    /// The job's state after the event.
    pub state: bgcopy_job_state,
    /// When, in milliseconds since the Unix epoch (UTC).
    pub time: i64,
    /// The file concerned, by index; -1 for none.
    pub file_index: i64,
    /// For `BGCOPY_EVENT_KIND_ERROR`: the BITS HRESULT code; else 0.
    pub error_code: i32,
    /// For `BGCOPY_EVENT_KIND_ERROR`: where it came from; else `BGCOPY_ERROR_CONTEXT_NONE`.
    pub error_context: bgcopy_error_context,
    /// For `BGCOPY_EVENT_KIND_ERROR`: the description; else NULL.
    pub error_description: *mut c_char,
}

/// Notification flag: the job reached TRANSFERRED.
pub const BGCOPY_NOTIFY_JOB_TRANSFERRED: u32 = 0x01;
/// Notification flag: the job reached ERROR.
pub const BGCOPY_NOTIFY_JOB_ERROR: u32 = 0x02;
/// Notification flag: no notifications at all.
pub const BGCOPY_NOTIFY_DISABLE: u32 = 0x04;
/// Notification flag: the job changed (state, progress, properties); coalesced.
pub const BGCOPY_NOTIFY_JOB_MODIFICATION: u32 = 0x08;
/// Notification flag: a file of the job finished transferring.
pub const BGCOPY_NOTIFY_FILE_TRANSFERRED: u32 = 0x10;
/// The default notification flags: JOB_TRANSFERRED | JOB_ERROR.
pub const BGCOPY_NOTIFY_DEFAULT: u32 = 0x03;

const _: () = {
    assert!(BGCOPY_NOTIFY_JOB_TRANSFERRED == notify::JOB_TRANSFERRED);
    assert!(BGCOPY_NOTIFY_JOB_ERROR == notify::JOB_ERROR);
    assert!(BGCOPY_NOTIFY_DISABLE == notify::DISABLE);
    assert!(BGCOPY_NOTIFY_JOB_MODIFICATION == notify::JOB_MODIFICATION);
    assert!(BGCOPY_NOTIFY_FILE_TRANSFERRED == notify::FILE_TRANSFERRED);
    assert!(BGCOPY_NOTIFY_DEFAULT == notify::DEFAULT);
};

/// Security flag (redirect policy): follow redirects, keep the remote name (default).
pub const BGCOPY_SECURITY_REDIRECT_ALLOW_SILENT: u32 = 0x0000;
/// Security flag (redirect policy): follow redirects; the final URL becomes the
/// file's remote name.
pub const BGCOPY_SECURITY_REDIRECT_ALLOW_REPORT: u32 = 0x0100;
/// Security flag (redirect policy): a redirect puts the job in ERROR with its HTTP
/// status.
pub const BGCOPY_SECURITY_REDIRECT_DISALLOW: u32 = 0x0200;
/// The bits of the security flags that hold the redirect policy.
pub const BGCOPY_SECURITY_REDIRECT_POLICY_MASK: u32 = 0x0700;
/// Security flag: follow a redirect from https to http.
pub const BGCOPY_SECURITY_ALLOW_HTTPS_TO_HTTP: u32 = 0x0800;

const _: () = {
    use bgcopy_core::security as s;
    assert!(BGCOPY_SECURITY_REDIRECT_ALLOW_SILENT == s::REDIRECT_ALLOW_SILENT);
    assert!(BGCOPY_SECURITY_REDIRECT_ALLOW_REPORT == s::REDIRECT_ALLOW_REPORT);
    assert!(BGCOPY_SECURITY_REDIRECT_DISALLOW == s::REDIRECT_DISALLOW);
    assert!(BGCOPY_SECURITY_REDIRECT_POLICY_MASK == s::REDIRECT_POLICY_MASK);
    assert!(BGCOPY_SECURITY_ALLOW_HTTPS_TO_HTTP == s::ALLOW_HTTPS_TO_HTTP);
};

/// `bytes_total` while a size is not yet known (UINT64_MAX).
pub const BGCOPY_BYTES_UNKNOWN: u64 = 0xFFFF_FFFF_FFFF_FFFF;
/// `bgcopy_job_wait` timeout meaning "no timeout".
pub const BGCOPY_WAIT_INFINITE: u32 = 0xFFFF_FFFF;

const _: () = assert!(BGCOPY_BYTES_UNKNOWN == bgcopy_core::BYTES_UNKNOWN);

/// 0: Success.
pub const BGCOPY_S_OK: i32 = 0;
/// 0x00200017: Success of `bgcopy_job_complete`: some files were not transferred and were deleted.
pub const BGCOPY_S_PARTIAL_COMPLETE: i32 = 0x0020_0017;
/// 0x80200001: The job or file does not exist (or the job is final and gone from the queue).
pub const BGCOPY_E_NOT_FOUND: i32 = 0x8020_0001_u32 as i32;
/// 0x80200002: The call is not allowed in the job's state, or the manager is closed.
pub const BGCOPY_E_INVALID_STATE: i32 = 0x8020_0002_u32 as i32;
/// 0x80200003: The job has no files.
pub const BGCOPY_E_EMPTY: i32 = 0x8020_0003_u32 as i32;
/// 0x80200004: The error is not about a file.
pub const BGCOPY_E_FILE_NOT_AVAILABLE: i32 = 0x8020_0004_u32 as i32;
/// 0x80200005: The error is not about a protocol.
pub const BGCOPY_E_PROTOCOL_NOT_AVAILABLE: i32 = 0x8020_0005_u32 as i32;
/// 0x8020000F: The job is not in ERROR or TRANSIENT_ERROR.
pub const BGCOPY_E_ERROR_INFORMATION_UNAVAILABLE: i32 = 0x8020_000F_u32 as i32;
/// 0x80200011: The server did not return the file size.
pub const BGCOPY_E_MISSING_FILE_SIZE: i32 = 0x8020_0011_u32 as i32;
/// 0x80200013: The server cannot serve the ranges the transfer needs.
pub const BGCOPY_E_INSUFFICIENT_RANGE_SUPPORT: i32 = 0x8020_0013_u32 as i32;
/// 0x8020001B: The server's response was not valid HTTP or broke the protocol.
pub const BGCOPY_E_INVALID_SERVER_RESPONSE: i32 = 0x8020_001B_u32 as i32;
/// 0x80200021: A string argument is longer than allowed.
pub const BGCOPY_E_STRING_TOO_LONG: i32 = 0x8020_0021_u32 as i32;
/// 0x80200024: Nothing was transferred for the job's no-progress timeout.
pub const BGCOPY_E_NO_PROGRESS: i32 = 0x8020_0024_u32 as i32;
/// 0x8020002D: The connection to the server could not be made.
pub const BGCOPY_E_CONNECT_FAILURE: i32 = 0x8020_002D_u32 as i32;
/// 0x8020002E: The connection closed before the transfer finished.
pub const BGCOPY_E_CONNECTION_CLOSED: i32 = 0x8020_002E_u32 as i32;
/// 0x80200053: A content validation failed.
pub const BGCOPY_E_VALIDATION_FAILED: i32 = 0x8020_0053_u32 as i32;
/// 0x80200054: The job spent longer than its maximum download time transferring.
pub const BGCOPY_E_MAXDOWNLOAD_TIMEOUT: i32 = 0x8020_0054_u32 as i32;
/// 0x80200073: The remote file changed while it was being transferred.
pub const BGCOPY_E_REMOTE_FILE_CHANGED: i32 = 0x8020_0073_u32 as i32;
/// 0x80070057: An argument is invalid: NULL handle or out-pointer, bad UTF-8, out of range, .
pub const BGCOPY_E_INVALIDARG: i32 = 0x8007_0057_u32 as i32;
/// 0x80004001: Not implemented (UPLOAD jobs).
pub const BGCOPY_E_NOTIMPL: i32 = 0x8000_4001_u32 as i32;
/// 0x8000FFFF: An unexpected internal failure (a panic caught at the C boundary).
pub const BGCOPY_E_UNEXPECTED: i32 = 0x8000_FFFF_u32 as i32;
/// 0x80070005: Access denied by the operating system.
pub const BGCOPY_E_ACCESS_DENIED: i32 = 0x8007_0005_u32 as i32;
/// 0x80070003: A path does not exist.
pub const BGCOPY_E_PATH_NOT_FOUND: i32 = 0x8007_0003_u32 as i32;
/// 0x80070070: The disk is full.
pub const BGCOPY_E_DISK_FULL: i32 = 0x8007_0070_u32 as i32;
/// 0x8007001F: Another local I/O failure.
pub const BGCOPY_E_IO_ERROR: i32 = 0x8007_001F_u32 as i32;
/// 0x80070021: The state directory is held by another process (the message names it).
pub const BGCOPY_E_LOCKED: i32 = 0x8007_0021_u32 as i32;
/// 0x80070570: The store is corrupt or is not a bgcopy store.
pub const BGCOPY_E_STORE_CORRUPT: i32 = 0x8007_0570_u32 as i32;
/// 0x8007051A: The store was written by a newer bgcopy.
pub const BGCOPY_E_STORE_TOO_NEW: i32 = 0x8007_051A_u32 as i32;
/// 0x80072EE2: A network operation timed out.
pub const BGCOPY_E_TIMEOUT: i32 = 0x8007_2EE2_u32 as i32;
/// 0x80072F8F: TLS failed: certificate not trusted or handshake error.
pub const BGCOPY_E_SECURE_FAILURE: i32 = 0x8007_2F8F_u32 as i32;
/// 0x80072EFA: Too many redirects, a redirect loop, or a refused redirect.
pub const BGCOPY_E_REDIRECT_FAILED: i32 = 0x8007_2EFA_u32 as i32;
/// 0x80072EE7: The host name could not be resolved (DNS); transient.
pub const BGCOPY_E_NAME_NOT_RESOLVED: i32 = 0x8007_2EE7_u32 as i32;
/// 0x80190000: HTTP status n is reported as `BGCOPY_E_HTTP_BASE + n` (see `BGCOPY_E_HTTP`).
pub const BGCOPY_E_HTTP_BASE: i32 = 0x8019_0000_u32 as i32;

/// Every code macro with its symbolic name, for the tests (and `bgcopy_code_symbol`'s
/// documentation): each must equal the core's code of that symbol.
#[cfg(test)]
pub(crate) const C_CODES: &[(&str, i32)] = &[
    ("OK", BGCOPY_S_OK),
    ("PARTIAL_COMPLETE", BGCOPY_S_PARTIAL_COMPLETE),
    ("NOT_FOUND", BGCOPY_E_NOT_FOUND),
    ("INVALID_STATE", BGCOPY_E_INVALID_STATE),
    ("EMPTY", BGCOPY_E_EMPTY),
    ("FILE_NOT_AVAILABLE", BGCOPY_E_FILE_NOT_AVAILABLE),
    ("PROTOCOL_NOT_AVAILABLE", BGCOPY_E_PROTOCOL_NOT_AVAILABLE),
    (
        "ERROR_INFORMATION_UNAVAILABLE",
        BGCOPY_E_ERROR_INFORMATION_UNAVAILABLE,
    ),
    ("MISSING_FILE_SIZE", BGCOPY_E_MISSING_FILE_SIZE),
    (
        "INSUFFICIENT_RANGE_SUPPORT",
        BGCOPY_E_INSUFFICIENT_RANGE_SUPPORT,
    ),
    ("INVALID_SERVER_RESPONSE", BGCOPY_E_INVALID_SERVER_RESPONSE),
    ("STRING_TOO_LONG", BGCOPY_E_STRING_TOO_LONG),
    ("NO_PROGRESS", BGCOPY_E_NO_PROGRESS),
    ("CONNECT_FAILURE", BGCOPY_E_CONNECT_FAILURE),
    ("CONNECTION_CLOSED", BGCOPY_E_CONNECTION_CLOSED),
    ("VALIDATION_FAILED", BGCOPY_E_VALIDATION_FAILED),
    ("MAXDOWNLOAD_TIMEOUT", BGCOPY_E_MAXDOWNLOAD_TIMEOUT),
    ("REMOTE_FILE_CHANGED", BGCOPY_E_REMOTE_FILE_CHANGED),
    ("INVALID_ARG", BGCOPY_E_INVALIDARG),
    ("NOT_IMPLEMENTED", BGCOPY_E_NOTIMPL),
    ("UNEXPECTED", BGCOPY_E_UNEXPECTED),
    ("ACCESS_DENIED", BGCOPY_E_ACCESS_DENIED),
    ("PATH_NOT_FOUND", BGCOPY_E_PATH_NOT_FOUND),
    ("DISK_FULL", BGCOPY_E_DISK_FULL),
    ("IO_ERROR", BGCOPY_E_IO_ERROR),
    ("LOCKED", BGCOPY_E_LOCKED),
    ("STORE_CORRUPT", BGCOPY_E_STORE_CORRUPT),
    ("STORE_TOO_NEW", BGCOPY_E_STORE_TOO_NEW),
    ("TIMEOUT", BGCOPY_E_TIMEOUT),
    ("SECURE_FAILURE", BGCOPY_E_SECURE_FAILURE),
    ("REDIRECT_FAILED", BGCOPY_E_REDIRECT_FAILED),
    ("NAME_NOT_RESOLVED", BGCOPY_E_NAME_NOT_RESOLVED),
];

const _: () = {
    assert!(BGCOPY_S_PARTIAL_COMPLETE as u32 == codes::PARTIAL_COMPLETE);
    assert!(BGCOPY_E_INVALIDARG as u32 == codes::E_INVALIDARG);
    assert!(BGCOPY_E_UNEXPECTED as u32 == codes::E_UNEXPECTED);
    assert!(BGCOPY_E_HTTP_BASE as u32 == codes::HTTP_BASE);
};

/// Progress of a whole job.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct bgcopy_job_progress {
    /// Sum of the file sizes; `BGCOPY_BYTES_UNKNOWN` until every size is known; 0
    /// without files.
    pub bytes_total: u64,
    /// Bytes transferred so far.
    pub bytes_transferred: u64,
    /// Number of files.
    pub files_total: u32,
    /// Number of files whose bytes are all transferred.
    pub files_transferred: u32,
}

/// Progress of one file.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct bgcopy_file_progress {
    /// The file's size; `BGCOPY_BYTES_UNKNOWN` until known.
    pub bytes_total: u64,
    /// Bytes transferred so far.
    pub bytes_transferred: u64,
    /// True only once `bgcopy_job_complete` made the file visible at its local path.
    pub completed: bool,
}

/// Time stamps of a job, in milliseconds since the Unix epoch (UTC); 0 = unset.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct bgcopy_job_times {
    /// When the job was created.
    pub creation_time: i64,
    /// Bumped by every change, state change and transferred bytes.
    pub modification_time: i64,
    /// When the job last reached TRANSFERRED; 0 before.
    pub transfer_completion_time: i64,
}

/// One file for `bgcopy_job_add_file_set`: both strings are borrowed for the call.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct bgcopy_file_info {
    /// The http(s) URL.
    pub remote_name: *const c_char,
    /// The absolute local path, in an existing directory.
    pub local_name: *const c_char,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_core_code_has_its_c_macro() {
        for &(symbol, value) in C_CODES {
            assert_eq!(
                codes::from_symbol(symbol),
                Some(value as u32),
                "{symbol} = {value:#x}"
            );
        }
        for &code in codes::ALL {
            assert!(
                C_CODES.iter().any(|&(_, v)| v as u32 == code),
                "core code {} has no BGCOPY_ macro",
                codes::symbol(code)
            );
        }
    }
}
