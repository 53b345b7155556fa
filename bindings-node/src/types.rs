//! The values of docs/spec.md §2 as JS: enums (numbers, `JobState.Suspended`), progress with
//! `number` byte counts (`null` for an unknown size), times as `Date`, and the manager
//! options.

use crate::args;
use crate::error::{OrThrow, invalid_arg};
use bgcopy::{OptionKind, OptionValue};
use napi::bindgen_prelude::*;
use napi_derive::napi;
use std::time::Duration;

/// The contract's value for a size not yet known: 2^64 - 1 (u64::MAX), as a `bigint`.
/// Progress objects report `null` instead (a `number` cannot hold it exactly).
#[napi]
pub const BYTES_UNKNOWN: u64 = bgcopy::BYTES_UNKNOWN;

/// A contract enum as a JS enum (numbers: `JobState.Suspended === 3`), declared from
/// the core's one list, with conversions and number checks from the core.
macro_rules! js_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident = $n:literal => $s:literal,)* }) => {
        $(#[$m])*
        #[napi]
        pub enum $name { $($(#[$vm])* $v = $n,)* }
        bgcopy::spec_enum_conversions!($name { $($v = $n,)* });
    };
}

bgcopy::for_each_spec_enum!(js_enum);

/// Notification flags (BG_NOTIFY_*), combined with `|`:
/// `job.setNotifyFlags(NotifyFlags.JobTransferred | NotifyFlags.JobModification)`.
/// The default is `JobTransferred | JobError` (3).
#[napi]
pub enum NotifyFlags {
    /// The job reached TRANSFERRED (`jobTransferred`).
    JobTransferred = 0x01,
    /// The job reached ERROR (`jobError`).
    JobError = 0x02,
    /// No notifications at all.
    Disable = 0x04,
    /// The job changed: state, progress, properties (`jobModification`); coalesced.
    JobModification = 0x08,
    /// A file of the job finished transferring (`fileTransferred`).
    FileTransferred = 0x10,
}

// napi wants literal discriminants: check them against the core's flags.
const _: () = {
    assert!(NotifyFlags::JobTransferred as u32 == bgcopy::notify::JOB_TRANSFERRED);
    assert!(NotifyFlags::JobError as u32 == bgcopy::notify::JOB_ERROR);
    assert!(NotifyFlags::Disable as u32 == bgcopy::notify::DISABLE);
    assert!(NotifyFlags::JobModification as u32 == bgcopy::notify::JOB_MODIFICATION);
    assert!(NotifyFlags::FileTransferred as u32 == bgcopy::notify::FILE_TRANSFERRED);
};

/// A job's security flags (BITS values), combined with `|`: one redirect policy and
/// whether a redirect from https to http is followed, e.g.
/// `job.setSecurityFlags(SecurityFlags.RedirectAllowReport)`.
#[napi]
pub enum SecurityFlags {
    /// Follow redirects; the file keeps its remote name (the default).
    RedirectAllowSilent = 0x0000,
    /// Follow redirects; the final URL becomes the file's remote name.
    RedirectAllowReport = 0x0100,
    /// A redirect puts the job in ERROR with the redirect's HTTP status.
    RedirectDisallow = 0x0200,
    /// The bits that hold the redirect policy.
    RedirectPolicyMask = 0x0700,
    /// Follow a redirect from https to http.
    AllowHttpsToHttp = 0x0800,
}

const _: () = {
    use bgcopy::security as s;
    assert!(SecurityFlags::RedirectAllowSilent as u32 == s::REDIRECT_ALLOW_SILENT);
    assert!(SecurityFlags::RedirectAllowReport as u32 == s::REDIRECT_ALLOW_REPORT);
    assert!(SecurityFlags::RedirectDisallow as u32 == s::REDIRECT_DISALLOW);
    assert!(SecurityFlags::RedirectPolicyMask as u32 == s::REDIRECT_POLICY_MASK);
    assert!(SecurityFlags::AllowHttpsToHttp as u32 == s::ALLOW_HTTPS_TO_HTTP);
};

/// A byte count as a JS `number` (exact below 2^53 bytes, 8 PiB).
pub(crate) fn byte_count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A size as a JS `number`, or `null` while unknown (the core's `BYTES_UNKNOWN`).
pub struct Size(Option<i64>);

pub(crate) fn size(n: u64) -> Size {
    Size((n != bgcopy::BYTES_UNKNOWN).then(|| byte_count(n)))
}

impl TypeName for Size {
    fn type_name() -> &'static str {
        "number | null"
    }
    fn value_type() -> ValueType {
        ValueType::Number
    }
}

impl ToNapiValue for Size {
    unsafe fn to_napi_value(env: napi::sys::napi_env, val: Self) -> Result<napi::sys::napi_value> {
        // `null`, not a missing property, for an unknown size.
        unsafe { Option::<i64>::to_napi_value(env, val.0) }
    }
}

/// Progress of a whole job (BG_JOB_PROGRESS). Byte counts are `number`s (exact below
/// 2^53, 8 PiB), so `JSON.stringify` and arithmetic work.
#[napi(object, object_from_js = false)]
pub struct JobProgress {
    /// Sum of the file sizes; `null` until every size is known; 0 without files.
    #[napi(ts_type = "number | null")]
    pub bytes_total: Size,
    /// Bytes transferred so far.
    pub bytes_transferred: i64,
    /// Number of files.
    pub files_total: u32,
    /// Number of files whose bytes are all transferred.
    pub files_transferred: u32,
}

impl From<bgcopy::JobProgress> for JobProgress {
    fn from(p: bgcopy::JobProgress) -> Self {
        JobProgress {
            bytes_total: size(p.bytes_total),
            bytes_transferred: byte_count(p.bytes_transferred),
            files_total: p.files_total,
            files_transferred: p.files_transferred,
        }
    }
}

/// A file's expected digest (`getExpectedHash()`).
#[napi(object, object_from_js = false)]
pub struct ExpectedHash {
    /// `'sha256'`.
    pub algorithm: String,
    /// The digest's hexadecimal digits (lower case).
    pub hex: String,
}

/// A job's proxy settings (`getProxySettings()`).
#[napi(object, object_from_js = false)]
pub struct ProxySettings {
    /// Which proxy the job's requests use.
    pub usage: ProxyUsage,
    /// The proxy URL (`Override`), else `""`.
    pub proxy: String,
    /// The hosts reached without the proxy (`Override`), else `""`.
    pub bypass: String,
}

/// Progress of one file (BG_FILE_PROGRESS). Byte counts are `number`s.
#[napi(object, object_from_js = false)]
pub struct FileProgress {
    /// The file's size; `null` until known.
    #[napi(ts_type = "number | null")]
    pub bytes_total: Size,
    /// Bytes transferred so far.
    pub bytes_transferred: i64,
    /// True only once `complete()` made the file visible at its local path.
    pub completed: bool,
}

impl From<bgcopy::FileProgress> for FileProgress {
    fn from(p: bgcopy::FileProgress) -> Self {
        FileProgress {
            bytes_total: size(p.bytes_total),
            bytes_transferred: byte_count(p.bytes_transferred),
            completed: p.completed,
        }
    }
}

/// A point in time, given to JS as a `Date` (millisecond precision).
pub struct Timestamp(f64);

impl From<i64> for Timestamp {
    fn from(ms: i64) -> Self {
        Timestamp(ms as f64)
    }
}

impl TypeName for Timestamp {
    fn type_name() -> &'static str {
        "Date"
    }
    fn value_type() -> ValueType {
        ValueType::Object
    }
}

impl ToNapiValue for Timestamp {
    unsafe fn to_napi_value(env: napi::sys::napi_env, val: Self) -> Result<napi::sys::napi_value> {
        let mut out = std::ptr::null_mut();
        check_status!(
            unsafe { napi::sys::napi_create_date(env, val.0, &mut out) },
            "create a Date"
        )?;
        Ok(out)
    }
}

/// A point in time or none, given to JS as a `Date` or `null`.
pub struct MaybeTimestamp(Option<Timestamp>);

impl ToNapiValue for MaybeTimestamp {
    unsafe fn to_napi_value(env: napi::sys::napi_env, val: Self) -> Result<napi::sys::napi_value> {
        unsafe { Option::<Timestamp>::to_napi_value(env, val.0) }
    }
}

/// Time stamps of a job (BG_JOB_TIMES).
#[napi(object, object_from_js = false)]
pub struct JobTimes {
    /// When the job was created.
    #[napi(ts_type = "Date")]
    pub creation_time: Timestamp,
    /// Bumped by every change, state change and transferred bytes.
    #[napi(ts_type = "Date")]
    pub modification_time: Timestamp,
    /// When the job last reached TRANSFERRED; `null` before.
    #[napi(ts_type = "Date | null")]
    pub transfer_completion_time: MaybeTimestamp,
}

impl From<bgcopy::JobTimes> for JobTimes {
    fn from(t: bgcopy::JobTimes) -> Self {
        JobTimes {
            creation_time: t.creation_ms().into(),
            modification_time: t.modification_ms().into(),
            transfer_completion_time: MaybeTimestamp(t.transfer_completion_ms().map(Into::into)),
        }
    }
}

/// A job's notify command line (`getNotifyCmdLine`).
#[napi(object, object_from_js = false)]
pub struct NotifyCmdLine {
    /// The program (an absolute path).
    pub program: String,
    /// Its arguments.
    pub args: Vec<String>,
}

/// One entry of the durable event journal (`manager.eventsSince`).
#[napi(object, object_from_js = false)]
pub struct Event {
    /// The sequence number: pass the last one as the next call's cursor.
    pub seq: f64,
    /// The job's id.
    pub job_id: String,
    /// What happened.
    pub kind: EventKind,
    /// The job's state after the event.
    pub state: JobState,
    /// When it happened.
    #[napi(ts_type = "Date")]
    pub time: Timestamp,
    /// The file concerned, by index; absent for none.
    pub file_index: Option<u32>,
    /// `EventKind.Error`: the BITS HRESULT code (unsigned, `0x80190194` for HTTP 404);
    /// else absent.
    pub error_code: Option<u32>,
    /// `EventKind.Error`: the code's symbolic name (`'HTTP_404'`); else absent.
    pub error_symbol: Option<String>,
    /// `EventKind.Error`: where it came from; else absent.
    pub error_context: Option<ErrorContext>,
    /// `EventKind.Error`: the description; else absent.
    pub error_description: Option<String>,
}

impl From<bgcopy::Event> for Event {
    fn from(e: bgcopy::Event) -> Self {
        Event {
            seq: e.seq as f64,
            time: e.time_ms().into(),
            job_id: e.job_id,
            kind: e.kind.into(),
            state: e.state.into(),
            file_index: e.file_index,
            error_code: e.error_code,
            error_symbol: e.error_code.map(bgcopy::codes::symbol),
            error_context: e.error_context.map(Into::into),
            error_description: e.error_description,
        }
    }
}

/// What `CopyError.getError()` returns: the context and the code of the error.
#[napi(object, object_from_js = false)]
pub struct ErrorInfo {
    /// Where the error came from.
    pub context: ErrorContext,
    /// The BITS HRESULT code (docs/spec.md#codes) as an unsigned 32-bit number (`0x80190194` for HTTP 404).
    pub code: u32,
    /// The code's symbolic name (`'HTTP_404'`), as `err.code` of a thrown error.
    pub symbol: String,
}

/// The notification handlers of `setNotifyInterface`: any subset of these methods,
/// called with the object as `this` on the JS thread. A handler may return a promise;
/// the delivery is done when it settles. Throwing (or rejecting) is a failed delivery.
#[napi(object, object_from_js = false, object_to_js = false)]
pub struct CopyCallback {
    /// The job reached `Transferred` (flag `JobTransferred`); call `job.complete()`
    /// to make its files visible. Delivered again after the minimum retry delay
    /// while it throws.
    #[napi(ts_type = "(job: CopyJob) => unknown")]
    pub job_transferred: Option<()>,
    /// The job reached `Error` (flag `JobError`). Delivered again like
    /// `jobTransferred`.
    #[napi(ts_type = "(job: CopyJob, error: CopyError) => unknown")]
    pub job_error: Option<()>,
    /// The job changed: state, progress, properties (flag `JobModification`);
    /// coalesced (at most one per `notifyIntervalMs`), the last is never lost.
    #[napi(ts_type = "(job: CopyJob) => unknown")]
    pub job_modification: Option<()>,
    /// One file's bytes are all transferred (flag `FileTransferred`).
    #[napi(ts_type = "(job: CopyJob, file: CopyFile) => unknown")]
    pub file_transferred: Option<()>,
}

/// Options of `CopyManager.open` (all optional; the defaults suit real use).
#[napi(object, object_to_js = false)]
pub struct ManagerOptions {
    /// Transfer slots shared by HIGH/NORMAL/LOW jobs (FOREGROUND jobs always run). Default 2.
    pub background_slots: Option<u32>,
    /// Connections one job uses at once (its files, and the segments of a large
    /// file). Default 8.
    pub connections_per_job: Option<u32>,
    /// Connections one file may use at once (segmented download) unless its job says
    /// otherwise; 1 = one stream. Default 8.
    pub max_connections_per_file: Option<u32>,
    /// Connections to one host at once, over all jobs. Default 16.
    pub connections_per_host: Option<u32>,
    /// A connection idle this long (ms) is a transient error. Default 60000.
    pub read_timeout_ms: Option<u32>,
    /// Connecting (TCP + TLS) may take this long (ms). Default 30000.
    pub connect_timeout_ms: Option<u32>,
    /// Checkpoint after this many bytes of a file. Default 8 MiB.
    pub checkpoint_bytes: Option<f64>,
    /// Checkpoint at least this often (ms) while data moves. Default 1000.
    pub checkpoint_interval_ms: Option<u32>,
    /// At most one JOB_MODIFICATION per job per this interval (ms). Default 500.
    pub notify_interval_ms: Option<u32>,
    /// Bytes per second shared by all HIGH/NORMAL/LOW transfers. Default unlimited.
    pub background_bandwidth_limit: Option<f64>,
    /// How long (ms) a background job keeps its slot before an equal-priority job
    /// waiting for one takes its turn. Default 30000.
    pub time_slice_ms: Option<u32>,
    /// Redirects followed per request. Default 10.
    pub max_redirects: Option<u32>,
    /// Follow a redirect from https to http. Default false.
    pub allow_https_to_http_redirect: Option<bool>,
    /// PEM files of the only root certificates to trust (like curl's `--cacert`).
    /// Default: the Mozilla roots bundled with the library.
    pub tls_root_certs: Option<Vec<String>>,
    /// The User-Agent header. Default `bgcopy/<version>`.
    pub user_agent: Option<String>,
    /// Run transfers in this process. Default true; false opens the store for
    /// inspection and changes only.
    pub start_transfers: Option<bool>,
}

/// The core's option name of a JS key: camelCase to snake_case, durations in
/// milliseconds (`readTimeoutMs` → `read_timeout`).
fn option_name(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 4);
    for c in key.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    match out.strip_suffix("_ms") {
        Some(base)
            if bgcopy::ManagerOptions::spec(base)
                .is_ok_and(|s| matches!(s.kind, OptionKind::Duration { .. })) =>
        {
            base.to_string()
        }
        _ => out,
    }
}

/// The core options for a JS options object (`undefined`/`null`: the defaults): each
/// key through the core's option table, so an unknown key, a wrong type, a fraction or
/// a number out of range throws INVALID_ARG.
pub(crate) fn manager_options(env: &Env, v: Option<Unknown>) -> Result<bgcopy::ManagerOptions> {
    let mut o = bgcopy::ManagerOptions::default();
    let Some(v) = v.filter(|v| !args::is_nullish(v)) else {
        return Ok(o);
    };
    let obj = args::object(env, v, "options")?;
    for key in Object::keys(&obj)? {
        let val: Unknown = obj.get_named_property(&key)?;
        let name = option_name(&key);
        let spec = bgcopy::ManagerOptions::spec(&name)
            .map_err(|_| invalid_arg(env, format!("unknown manager option {key:?}")))?;
        if args::is_nullish(&val) {
            continue;
        }
        let what = format!("options.{key}");
        // 2^53: every integer up to it is exact in a JS number.
        const SAFE: f64 = 9_007_199_254_740_991.0;
        let int = |max: u64| args::integer(env, &val, &what, 0.0, (max as f64).min(SAFE));
        let value = match spec.kind {
            OptionKind::Count { max, .. } | OptionKind::OptionalCount { max, .. } => {
                OptionValue::Count(int(max)? as u64)
            }
            OptionKind::Duration { .. } => {
                OptionValue::Duration(Duration::from_millis(int(u64::MAX)? as u64))
            }
            OptionKind::Bool => OptionValue::Bool(args::boolean(env, &val, &what)?),
            OptionKind::Text => OptionValue::Text(args::string(env, val, &what)?),
            OptionKind::Paths => OptionValue::Paths(
                args::array(env, val, &what)?
                    .into_iter()
                    .enumerate()
                    .map(|(i, p)| args::string(env, p, &format!("{what}[{i}]")).map(Into::into))
                    .collect::<Result<Vec<_>>>()?,
            ),
            _ => return Err(invalid_arg(env, format!("{what} is not supported"))),
        };
        o.set(&name, value).or_throw(env)?;
    }
    Ok(o)
}
