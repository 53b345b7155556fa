//! The values of docs/spec.md §2: states, priorities, types, contexts, flags, progress and times.

use std::time::SystemTime;

macro_rules! spec_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident = $n:expr => $s:literal,)* }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u32)]
        pub enum $name { $($(#[$vm])* $v = $n,)* }

        impl $name {
            /// Every value, in numeric order.
            pub const ALL: &'static [$name] = &[$($name::$v,)*];

            /// The value for a number, or `None` when out of range.
            pub fn from_u32(n: u32) -> Option<Self> {
                match n { $($n => Some($name::$v),)* _ => None }
            }

            /// The value for a number a caller passed as argument `what`: out of range
            /// is E_INVALIDARG naming the argument, the type and its range (one message
            /// in every language).
            pub fn try_from_number(what: &str, n: impl Into<i128>) -> crate::Result<Self> {
                let n: i128 = n.into();
                u32::try_from(n).ok().and_then(Self::from_u32).ok_or_else(|| {
                    let (first, last) = (Self::ALL[0] as u32, Self::ALL[Self::ALL.len() - 1] as u32);
                    let range = if (last - first) as usize + 1 == Self::ALL.len() {
                        format!("{first}..={last}")
                    } else {
                        Self::ALL
                            .iter()
                            .map(|v| format!("{} {}", v.name(), *v as u32))
                            .collect::<Vec<_>>()
                            .join(", ")
                    };
                    crate::Error::invalid_arg(format!(
                        "{what} must be a {} ({range}), not {n}",
                        stringify!($name)
                    ))
                })
            }

            /// The contract's name in upper case (`"SUSPENDED"`).
            pub fn name(self) -> &'static str {
                match self { $($name::$v => $s,)* }
            }

            /// The value for a contract name (case-insensitive).
            pub fn from_name(s: &str) -> Option<Self> {
                $(if s.eq_ignore_ascii_case($s) { return Some($name::$v); })*
                None
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

/// The contract's enums (states, priorities, job types, error contexts), listed once:
/// `for_each_spec_enum!(m)` calls macro `m!` with each as
/// `#[doc = …] Name { #[doc = …] Variant = number => "NAME", … }` (the docs are
/// attributes, not `///` comments: some binding generators read those verbatim). The
/// core defines
/// its enums this way; a binding declares its own types from the same list (with its
/// attributes, e.g. `#[napi]` or `#[derive(uniffi::Enum)]`) and gets the conversions and
/// number checks from [`spec_enum_conversions!`], so no binding retypes an enum.
#[macro_export]
macro_rules! for_each_spec_enum {
    ($m:ident) => {
        $m! {
        #[doc = "The state of a job (BG_JOB_STATE)."]
        JobState {
            #[doc = "Waiting for a transfer slot."]
            Queued = 0 => "QUEUED",
            #[doc = "Connecting to the server."]
            Connecting = 1 => "CONNECTING",
            #[doc = "Data is moving."]
            Transferring = 2 => "TRANSFERRING",
            #[doc = "Stopped by `suspend()` (or new, before the first `resume()`)."]
            Suspended = 3 => "SUSPENDED",
            #[doc = "A fatal error; `resume()` retries."]
            Error = 4 => "ERROR",
            #[doc = "A transient error; retried automatically after the retry delay."]
            TransientError = 5 => "TRANSIENT_ERROR",
            #[doc = "Every file is transferred; call `complete()` to make them visible."]
            Transferred = 6 => "TRANSFERRED",
            #[doc = "`complete()` ran: final."]
            Acknowledged = 7 => "ACKNOWLEDGED",
            #[doc = "`cancel()` ran: final."]
            Cancelled = 8 => "CANCELLED",
        }
        }
        $m! {
        #[doc = "The priority of a job (BG_JOB_PRIORITY). Lower numbers run first."]
        Priority {
            #[doc = "Always runs, outside the background slots."]
            Foreground = 0 => "FOREGROUND",
            #[doc = "First among background jobs."]
            High = 1 => "HIGH",
            #[doc = "The default."]
            Normal = 2 => "NORMAL",
            #[doc = "Last."]
            Low = 3 => "LOW",
        }
        }
        $m! {
        #[doc = "The kind of transfer (BG_JOB_TYPE). Only DOWNLOAD is built; the others fail with NOT_IMPLEMENTED."]
        JobType {
            #[doc = "Download files from servers."]
            Download = 0 => "DOWNLOAD",
            #[doc = "Reserved (NOT_IMPLEMENTED)."]
            Upload = 1 => "UPLOAD",
            #[doc = "Reserved (NOT_IMPLEMENTED)."]
            UploadReply = 2 => "UPLOAD_REPLY",
        }
        }
        $m! {
        #[doc = "Where an error came from (BG_ERROR_CONTEXT)."]
        ErrorContext {
            #[doc = "No error."]
            None = 0 => "NONE",
            #[doc = "Unknown origin."]
            Unknown = 1 => "UNKNOWN",
            #[doc = "The job manager itself (the store)."]
            GeneralQueueManager = 2 => "GENERAL_QUEUE_MANAGER",
            #[doc = "Delivering a notification."]
            QueueManagerNotification = 3 => "QUEUE_MANAGER_NOTIFICATION",
            #[doc = "The local file (disk full, permissions, …)."]
            LocalFile = 4 => "LOCAL_FILE",
            #[doc = "The remote file (HTTP status, changed file, …)."]
            RemoteFile = 5 => "REMOTE_FILE",
            #[doc = "The network (connect, TLS, timeouts, resets)."]
            GeneralTransport = 6 => "GENERAL_TRANSPORT",
            #[doc = "The server application."]
            RemoteApplication = 7 => "REMOTE_APPLICATION",
        }
        }
        $m! {
        #[doc = "What an entry of the event journal records (`events_since`)."]
        EventKind {
            #[doc = "The job entered the state the event carries (also at creation: SUSPENDED)."]
            StateChanged = 0 => "STATE_CHANGED",
            #[doc = "Every byte of the file the event names is transferred."]
            FileTransferred = 1 => "FILE_TRANSFERRED",
            #[doc = "The job hit an error (ERROR or TRANSIENT_ERROR); the event carries it."]
            Error = 2 => "ERROR",
            #[doc = "A call changed the job without changing its state (properties, files)."]
            Modified = 3 => "MODIFIED",
        }
        }
        $m! {
        #[doc = "Whom credentials are for (BG_AUTH_TARGET)."]
        AuthTarget {
            #[doc = "The server of the files' URLs."]
            Server = 1 => "SERVER",
            #[doc = "The proxy the job's requests go through."]
            Proxy = 2 => "PROXY",
        }
        }
        $m! {
        #[doc = "How credentials are sent (BG_AUTH_SCHEME's BASIC, and BEARER, which bgcopy adds)."]
        AuthScheme {
            #[doc = "`Authorization: Basic` with a user name and password (BITS value 1)."]
            Basic = 1 => "BASIC",
            #[doc = "`Authorization: Bearer` with a token, the secret (bgcopy's value 6; BITS stops at 5)."]
            Bearer = 6 => "BEARER",
        }
        }
        $m! {
        #[doc = "Which proxy a job's requests use (BG_JOB_PROXY_USAGE)."]
        ProxyUsage {
            #[doc = "The environment's: `https_proxy`/`http_proxy`/`all_proxy` and `no_proxy` (the default)."]
            Preconfig = 0 => "PRECONFIG",
            #[doc = "None: every request goes straight to the server."]
            NoProxy = 1 => "NO_PROXY",
            #[doc = "The job's own proxy URL and bypass list."]
            Override = 2 => "OVERRIDE",
        }
        }
    };
}

/// For a binding's copy of a contract enum (see [`for_each_spec_enum!`]): `From` both
/// ways with the core's enum of the same name, and a compile-time check that every
/// number is the core's.
#[macro_export]
macro_rules! spec_enum_conversions {
    ($name:ident { $($v:ident = $n:literal),* $(,)? }) => {
        const _: () = { $(assert!($crate::$name::$v as u32 == $n);)* };

        impl From<$crate::$name> for $name {
            fn from(v: $crate::$name) -> Self {
                match v { $($crate::$name::$v => $name::$v,)* }
            }
        }

        impl From<$name> for $crate::$name {
            fn from(v: $name) -> Self {
                match v { $($name::$v => $crate::$name::$v,)* }
            }
        }
    };
}

for_each_spec_enum!(spec_enum);

impl JobState {
    /// ACKNOWLEDGED or CANCELLED: the job is gone from the queue.
    pub fn is_final(self) -> bool {
        matches!(self, JobState::Acknowledged | JobState::Cancelled)
    }

    /// A state that `wait()` returns on.
    pub fn ends_wait(self) -> bool {
        matches!(
            self,
            JobState::Transferred | JobState::Error | JobState::Acknowledged | JobState::Cancelled
        )
    }

    /// QUEUED, CONNECTING or TRANSFERRING: the job wants a transfer slot.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            JobState::Queued | JobState::Connecting | JobState::Transferring
        )
    }
}

/// Notification flags (BG_NOTIFY_*), combined with `|`.
pub mod notify {
    /// The job reached TRANSFERRED.
    pub const JOB_TRANSFERRED: u32 = 0x01;
    /// The job reached ERROR.
    pub const JOB_ERROR: u32 = 0x02;
    /// No notifications at all.
    pub const DISABLE: u32 = 0x04;
    /// The job changed (state, progress, properties); coalesced.
    pub const JOB_MODIFICATION: u32 = 0x08;
    /// A file of the job finished transferring.
    pub const FILE_TRANSFERRED: u32 = 0x10;
    /// Every defined bit.
    pub const ALL: u32 = 0x1F;
    /// The default: TRANSFERRED | ERROR.
    pub const DEFAULT: u32 = JOB_TRANSFERRED | JOB_ERROR;
}

/// `bytes_total` while a size is not yet known.
pub const BYTES_UNKNOWN: u64 = u64::MAX;

/// Progress of a whole job (BG_JOB_PROGRESS).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct JobProgress {
    /// Sum of the file sizes; [`BYTES_UNKNOWN`] until every size is known; 0 without files.
    pub bytes_total: u64,
    /// Bytes transferred so far (never goes backwards except when a file must restart).
    pub bytes_transferred: u64,
    /// Number of files.
    pub files_total: u32,
    /// Number of files whose bytes are all transferred.
    pub files_transferred: u32,
}

/// Progress of one file (BG_FILE_PROGRESS).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct FileProgress {
    /// The file's size, [`BYTES_UNKNOWN`] until known.
    pub bytes_total: u64,
    /// Bytes transferred so far.
    pub bytes_transferred: u64,
    /// True only once `complete()` made the file visible at its local path.
    pub completed: bool,
}

/// One entry of the durable event journal ([`crate::CopyManager::events_since`]): every
/// state change, file transfer, error and change by a call, numbered in the order the
/// store committed them, the same in every process.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Event {
    /// The sequence number (grows by commit order; a cursor for `events_since`).
    pub seq: u64,
    /// The job's id.
    pub job_id: String,
    /// What happened.
    pub kind: EventKind,
    /// The job's state after the event.
    pub state: JobState,
    /// When it happened.
    pub time: SystemTime,
    /// The file concerned (FILE_TRANSFERRED; an ERROR on one file), by index.
    pub file_index: Option<u32>,
    /// ERROR: the BITS HRESULT code.
    pub error_code: Option<u32>,
    /// ERROR: where the error came from.
    pub error_context: Option<ErrorContext>,
    /// ERROR: the description (credentials redacted).
    pub error_description: Option<String>,
}

impl crate::error::ErrorKind {
    /// The kind of `code`; `context` (a job's error context, when known) places codes
    /// the table does not name (a LOCAL_FILE context is a local failure).
    pub fn of(code: u32, context: Option<ErrorContext>) -> crate::error::ErrorKind {
        Self::of_code(code, context == Some(ErrorContext::LocalFile))
    }
}

impl crate::error::Error {
    /// This error with the context of the job error it comes from.
    pub(crate) fn with_context(self, context: ErrorContext) -> Self {
        self.with_context_number(context as u32)
    }

    /// The job error's context, for an error made from one ([`crate::CopyError`], a
    /// job event's error).
    pub fn context(&self) -> Option<ErrorContext> {
        self.context_number().and_then(ErrorContext::from_u32)
    }
}

impl Event {
    /// [`Event::time`] in milliseconds since the Unix epoch.
    pub fn time_ms(&self) -> i64 {
        to_ms(self.time)
    }

    /// An ERROR entry's error as one printable line, `SYMBOL (0xCODE): description`
    /// (control characters escaped); `None` for the other kinds.
    pub fn error_text(&self) -> Option<String> {
        let code = self.error_code?;
        Some(format!(
            "{} (0x{code:08X}): {}",
            crate::codes::symbol(code),
            crate::redact::printable(self.error_description.as_deref().unwrap_or(""))
        ))
    }
}

/// The notify command line of a job (BITS `SetNotifyCmdLine`): a program the engine
/// runs, without a shell, when the job reaches TRANSFERRED or ERROR.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NotifyCmdLine {
    /// The program: an absolute path.
    pub program: String,
    /// Its arguments (without the program name).
    pub args: Vec<String>,
}

/// Time stamps of a job (BG_JOB_TIMES).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JobTimes {
    /// When the job was created.
    pub creation_time: SystemTime,
    /// Bumped by every change, state change and transferred bytes.
    pub modification_time: SystemTime,
    /// When the job last reached TRANSFERRED; `None` before.
    pub transfer_completion_time: Option<SystemTime>,
}

impl JobTimes {
    /// [`JobTimes::creation_time`] in milliseconds since the Unix epoch.
    pub fn creation_ms(&self) -> i64 {
        to_ms(self.creation_time)
    }

    /// [`JobTimes::modification_time`] in milliseconds since the Unix epoch.
    pub fn modification_ms(&self) -> i64 {
        to_ms(self.modification_time)
    }

    /// [`JobTimes::transfer_completion_time`] in milliseconds since the Unix epoch.
    pub fn transfer_completion_ms(&self) -> Option<i64> {
        self.transfer_completion_time.map(to_ms)
    }
}

/// Milliseconds since the Unix epoch, the one time unit that crosses into every
/// language (C's `int64_t`, JavaScript's `Date`, Python's `datetime`). Saturates at
/// the ends of `i64` (about 292 million years either way), never panics.
pub fn to_ms(t: SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_millis()).map_or(i64::MIN, |ms| -ms),
    }
}

/// A timeout a caller gave as a number of `unit`s (a binding's seconds or
/// milliseconds), argument `what`: NaN or negative is E_INVALIDARG; infinity, or more
/// than `u32::MAX` seconds (136 years), is `None` (no timeout); a fraction of a
/// millisecond rounds up. One rule for every language.
pub fn timeout_from_f64(
    what: &str,
    value: f64,
    unit: std::time::Duration,
) -> crate::Result<Option<std::time::Duration>> {
    if value.is_nan() || value < 0.0 {
        return Err(crate::Error::invalid_arg(format!(
            "{what} must be a number >= 0 (or none, for no timeout), not {value}"
        )));
    }
    let ms = value * unit.as_secs_f64() * 1000.0;
    if ms / 1000.0 > u32::MAX as f64 {
        return Ok(None);
    }
    // Up to the next millisecond, ignoring float noise (1.1 s is 1100.0000000000002 ms).
    Ok(Some(std::time::Duration::from_millis(
        (ms - 1e-6).ceil().max(0.0) as u64,
    )))
}

/// The inverse of [`to_ms`] (a time the platform cannot represent is the epoch).
pub fn from_ms(ms: i64) -> SystemTime {
    let d = std::time::Duration::from_millis(ms.unsigned_abs());
    let t = if ms >= 0 {
        SystemTime::UNIX_EPOCH.checked_add(d)
    } else {
        SystemTime::UNIX_EPOCH.checked_sub(d)
    };
    t.unwrap_or(SystemTime::UNIX_EPOCH)
}

pub(crate) fn now_ms() -> i64 {
    to_ms(SystemTime::now())
}

/// How `complete()` ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Completion {
    /// Every file is at its local path (S_OK).
    All,
    /// Some files were not transferred and were deleted (PARTIAL_COMPLETE).
    Partial,
}

impl Completion {
    /// S_OK or PARTIAL_COMPLETE.
    pub fn code(self) -> u32 {
        match self {
            Completion::All => crate::error::codes::S_OK,
            Completion::Partial => crate::error::codes::PARTIAL_COMPLETE,
        }
    }
}

/// `SystemTime` as RFC 3339 UTC with milliseconds: `2024-05-01T12:34:56.789Z`.
pub fn rfc3339(t: SystemTime) -> String {
    let ms: i128 = match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => d.as_millis() as i128,
        Err(e) => -(e.duration().as_millis() as i128),
    };
    let days = ms.div_euclid(86_400_000) as i64;
    let in_day = ms.rem_euclid(86_400_000) as i64;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000
    )
}

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timeouts_follow_one_rule() {
        let s = Duration::from_secs(1);
        let ms = Duration::from_millis(1);
        let t = |v, u| timeout_from_f64("timeout", v, u).unwrap();
        assert_eq!(t(1.1, s), Some(Duration::from_millis(1100)));
        assert_eq!(t(0.0, s), Some(Duration::ZERO));
        assert_eq!(t(0.0001, s), Some(ms));
        assert_eq!(t(2.5, ms), Some(Duration::from_millis(3)));
        assert_eq!(t(f64::INFINITY, ms), None);
        assert_eq!(t(1e300, s), None);
        for bad in [-1.0, f64::NAN, f64::NEG_INFINITY] {
            let e = timeout_from_f64("timeout", bad, s).unwrap_err();
            assert_eq!(e.code(), crate::codes::E_INVALIDARG);
            assert!(e.to_string().contains("timeout"), "{e}");
        }
    }

    #[test]
    fn numbers_become_enum_values_or_a_named_error() {
        assert_eq!(
            Priority::try_from_number("priority", 1u32).unwrap(),
            Priority::High
        );
        let e = Priority::try_from_number("priority", 4u32).unwrap_err();
        assert_eq!(
            e.to_string(),
            "INVALID_ARG (0x80070057): priority must be a Priority (0..=3), not 4"
        );
        assert!(JobType::try_from_number("type", -1i64).is_err());
        assert!(JobState::try_from_number("state", u64::MAX).is_err());
    }

    #[test]
    fn names_and_numbers() {
        assert_eq!(JobState::from_u32(3), Some(JobState::Suspended));
        assert_eq!(JobState::from_u32(9), None);
        assert_eq!(JobState::TransientError.name(), "TRANSIENT_ERROR");
        assert_eq!(Priority::from_name("high"), Some(Priority::High));
        assert_eq!(ErrorContext::RemoteFile as u32, 5);
        assert_eq!(
            from_ms(to_ms(SystemTime::UNIX_EPOCH)),
            SystemTime::UNIX_EPOCH
        );
    }
}
