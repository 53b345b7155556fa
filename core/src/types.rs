//! The values of SPEC §2: states, priorities, types, contexts, flags, progress and times.

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

            /// The SPEC name in upper case (`"SUSPENDED"`).
            pub fn name(self) -> &'static str {
                match self { $($name::$v => $s,)* }
            }

            /// The value for a SPEC name (case-insensitive).
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

spec_enum! {
    /// The state of a job (BG_JOB_STATE).
    JobState {
        /// Waiting for a transfer slot.
        Queued = 0 => "QUEUED",
        /// Connecting to the server.
        Connecting = 1 => "CONNECTING",
        /// Data is moving.
        Transferring = 2 => "TRANSFERRING",
        /// Stopped by `suspend()` (or new, before the first `resume()`).
        Suspended = 3 => "SUSPENDED",
        /// A fatal error; `resume()` retries.
        Error = 4 => "ERROR",
        /// A transient error; retried automatically after the retry delay.
        TransientError = 5 => "TRANSIENT_ERROR",
        /// Every file is transferred; call `complete()` to make them visible.
        Transferred = 6 => "TRANSFERRED",
        /// `complete()` ran: final.
        Acknowledged = 7 => "ACKNOWLEDGED",
        /// `cancel()` ran: final.
        Cancelled = 8 => "CANCELLED",
    }
}

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

spec_enum! {
    /// The priority of a job (BG_JOB_PRIORITY). Lower numbers run first.
    Priority {
        /// Always runs, outside the background slots.
        Foreground = 0 => "FOREGROUND",
        /// First among background jobs.
        High = 1 => "HIGH",
        /// The default.
        Normal = 2 => "NORMAL",
        /// Last.
        Low = 3 => "LOW",
    }
}

spec_enum! {
    /// The kind of transfer (BG_JOB_TYPE). Only DOWNLOAD is built.
    JobType {
        /// Download files from servers.
        Download = 0 => "DOWNLOAD",
        /// Reserved.
        Upload = 1 => "UPLOAD",
        /// Reserved.
        UploadReply = 2 => "UPLOAD_REPLY",
    }
}

spec_enum! {
    /// Where an error came from (BG_ERROR_CONTEXT).
    ErrorContext {
        /// No error.
        None = 0 => "NONE",
        /// Unknown origin.
        Unknown = 1 => "UNKNOWN",
        /// The job manager itself (the store).
        GeneralQueueManager = 2 => "GENERAL_QUEUE_MANAGER",
        /// Delivering a notification.
        QueueManagerNotification = 3 => "QUEUE_MANAGER_NOTIFICATION",
        /// The local file (disk full, permissions, …).
        LocalFile = 4 => "LOCAL_FILE",
        /// The remote file (HTTP status, changed file, …).
        RemoteFile = 5 => "REMOTE_FILE",
        /// The network (connect, TLS, timeouts, resets).
        GeneralTransport = 6 => "GENERAL_TRANSPORT",
        /// The server application.
        RemoteApplication = 7 => "REMOTE_APPLICATION",
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

/// Milliseconds since the Unix epoch (the store's and C's time unit).
pub(crate) fn to_ms(t: SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_millis()).map_or(i64::MIN, |ms| -ms),
    }
}

/// The inverse of [`to_ms`].
pub(crate) fn from_ms(ms: i64) -> SystemTime {
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

#[cfg(test)]
mod tests {
    use super::*;

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
