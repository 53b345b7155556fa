//! Result codes (BITS HRESULT values) and the error type every fallible call returns.

use std::fmt;

/// The numeric result codes: BITS's HRESULT values (docs/spec.md#codes). Values are fixed forever: never renumber.
pub mod codes {
    /// Success.
    pub const S_OK: u32 = 0;
    /// Success, but some files of the job were not complete and were deleted.
    pub const PARTIAL_COMPLETE: u32 = 0x0020_0017;
    /// The job or file does not exist (or the job is final and gone from the queue).
    pub const NOT_FOUND: u32 = 0x8020_0001;
    /// The method is not allowed in the job's current state.
    pub const INVALID_STATE: u32 = 0x8020_0002;
    /// The job has no files.
    pub const EMPTY: u32 = 0x8020_0003;
    /// The error is not associated with a file.
    pub const FILE_NOT_AVAILABLE: u32 = 0x8020_0004;
    /// The error is not associated with a protocol.
    pub const PROTOCOL_NOT_AVAILABLE: u32 = 0x8020_0005;
    /// The job is not in an error state.
    pub const ERROR_INFORMATION_UNAVAILABLE: u32 = 0x8020_000F;
    /// The server did not return the file size.
    pub const MISSING_FILE_SIZE: u32 = 0x8020_0011;
    /// The server cannot serve the ranges the transfer needs.
    pub const INSUFFICIENT_RANGE_SUPPORT: u32 = 0x8020_0013;
    /// The server's response was not valid HTTP or broke the protocol.
    pub const INVALID_SERVER_RESPONSE: u32 = 0x8020_001B;
    /// A string argument is longer than allowed.
    pub const STRING_TOO_LONG: u32 = 0x8020_0021;
    /// Nothing was transferred for the job's no-progress timeout.
    pub const NO_PROGRESS: u32 = 0x8020_0024;
    /// The connection to the server could not be made.
    pub const CONNECT_FAILURE: u32 = 0x8020_002D;
    /// The connection closed before the transfer finished.
    pub const CONNECTION_CLOSED: u32 = 0x8020_002E;
    /// A content validation failed.
    pub const VALIDATION_FAILED: u32 = 0x8020_0053;
    /// The job spent longer than its maximum download time transferring (BITS
    /// `BG_E_MAXDOWNLOAD_TIMEOUT`).
    pub const MAXDOWNLOAD_TIMEOUT: u32 = 0x8020_0054;
    /// The remote file changed while it was being transferred.
    pub const REMOTE_FILE_CHANGED: u32 = 0x8020_0073;
    /// An argument is invalid.
    pub const E_INVALIDARG: u32 = 0x8007_0057;
    /// Not implemented.
    pub const E_NOTIMPL: u32 = 0x8000_4001;
    /// An unexpected internal failure (a caught panic).
    pub const E_UNEXPECTED: u32 = 0x8000_FFFF;
    /// Access denied by the operating system (HRESULT_FROM_WIN32(ERROR_ACCESS_DENIED)).
    pub const ACCESS_DENIED: u32 = 0x8007_0005;
    /// A path does not exist (HRESULT_FROM_WIN32(ERROR_PATH_NOT_FOUND)).
    pub const PATH_NOT_FOUND: u32 = 0x8007_0003;
    /// The disk is full (HRESULT_FROM_WIN32(ERROR_DISK_FULL)).
    pub const DISK_FULL: u32 = 0x8007_0070;
    /// Another local I/O failure (HRESULT_FROM_WIN32(ERROR_GEN_FAILURE)).
    pub const IO_ERROR: u32 = 0x8007_001F;
    /// The state directory is held by another process (HRESULT_FROM_WIN32(ERROR_LOCK_VIOLATION)).
    pub const LOCKED: u32 = 0x8007_0021;
    /// The store is corrupt or is not a bgcopy store (HRESULT_FROM_WIN32(ERROR_FILE_CORRUPT)).
    pub const STORE_CORRUPT: u32 = 0x8007_0570;
    /// The store was written by a newer bgcopy (HRESULT_FROM_WIN32(ERROR_REVISION_MISMATCH)).
    pub const STORE_TOO_NEW: u32 = 0x8007_051A;
    /// The host name could not be resolved (WinINet ERROR_INTERNET_NAME_NOT_RESOLVED);
    /// transient.
    pub const NAME_NOT_RESOLVED: u32 = 0x8007_2EE7;
    /// A network operation timed out (WinINet ERROR_INTERNET_TIMEOUT, as BITS reports it).
    pub const TIMEOUT: u32 = 0x8007_2EE2;
    /// TLS failed: certificate not trusted or handshake error (ERROR_INTERNET_SECURE_FAILURE).
    pub const SECURE_FAILURE: u32 = 0x8007_2F8F;
    /// Too many redirects, a redirect loop, or a refused redirect (ERROR_INTERNET_REDIRECT_FAILED).
    pub const REDIRECT_FAILED: u32 = 0x8007_2EFA;
    /// The first code of the HTTP status range: status `n` is `HTTP_BASE + n`.
    pub const HTTP_BASE: u32 = 0x8019_0000;

    /// The code for HTTP status `status`.
    pub const fn http(status: u16) -> u32 {
        HTTP_BASE + status as u32
    }

    /// The HTTP status (100–999) of an HTTP code, `None` for every other code.
    pub const fn http_status(code: u32) -> Option<u16> {
        if code >= HTTP_BASE + 100 && code <= HTTP_BASE + 999 {
            Some((code - HTTP_BASE) as u16)
        } else {
            None
        }
    }

    /// The symbolic name of a code: the name in docs/spec.md#codes, `HTTP_404` for statuses,
    /// `INVALID_ARG`, `NOT_IMPLEMENTED`, `UNEXPECTED` for the E_ codes, else `0x…`.
    pub fn symbol(code: u32) -> String {
        let s = match code {
            S_OK => "OK",
            PARTIAL_COMPLETE => "PARTIAL_COMPLETE",
            NOT_FOUND => "NOT_FOUND",
            INVALID_STATE => "INVALID_STATE",
            EMPTY => "EMPTY",
            FILE_NOT_AVAILABLE => "FILE_NOT_AVAILABLE",
            PROTOCOL_NOT_AVAILABLE => "PROTOCOL_NOT_AVAILABLE",
            ERROR_INFORMATION_UNAVAILABLE => "ERROR_INFORMATION_UNAVAILABLE",
            MISSING_FILE_SIZE => "MISSING_FILE_SIZE",
            INSUFFICIENT_RANGE_SUPPORT => "INSUFFICIENT_RANGE_SUPPORT",
            INVALID_SERVER_RESPONSE => "INVALID_SERVER_RESPONSE",
            STRING_TOO_LONG => "STRING_TOO_LONG",
            NO_PROGRESS => "NO_PROGRESS",
            CONNECT_FAILURE => "CONNECT_FAILURE",
            CONNECTION_CLOSED => "CONNECTION_CLOSED",
            VALIDATION_FAILED => "VALIDATION_FAILED",
            MAXDOWNLOAD_TIMEOUT => "MAXDOWNLOAD_TIMEOUT",
            REMOTE_FILE_CHANGED => "REMOTE_FILE_CHANGED",
            E_INVALIDARG => "INVALID_ARG",
            E_NOTIMPL => "NOT_IMPLEMENTED",
            E_UNEXPECTED => "UNEXPECTED",
            ACCESS_DENIED => "ACCESS_DENIED",
            PATH_NOT_FOUND => "PATH_NOT_FOUND",
            DISK_FULL => "DISK_FULL",
            IO_ERROR => "IO_ERROR",
            LOCKED => "LOCKED",
            STORE_CORRUPT => "STORE_CORRUPT",
            STORE_TOO_NEW => "STORE_TOO_NEW",
            TIMEOUT => "TIMEOUT",
            NAME_NOT_RESOLVED => "NAME_NOT_RESOLVED",
            SECURE_FAILURE => "SECURE_FAILURE",
            REDIRECT_FAILED => "REDIRECT_FAILED",
            c if (HTTP_BASE + 100..HTTP_BASE + 1000).contains(&c) => {
                return format!("HTTP_{}", c - HTTP_BASE);
            }
            c => return format!("0x{c:08X}"),
        };
        s.to_string()
    }

    /// The code for a symbolic name, the inverse of [`symbol`].
    pub fn from_symbol(name: &str) -> Option<u32> {
        if let Some(n) = name.strip_prefix("HTTP_") {
            return n
                .parse::<u16>()
                .ok()
                .filter(|s| (100..1000).contains(s))
                .map(http);
        }
        if let Some(hex) = name.strip_prefix("0x") {
            return u32::from_str_radix(hex, 16).ok();
        }
        ALL.iter().copied().find(|&c| symbol(c) == name)
    }

    /// Every named code.
    pub const ALL: &[u32] = &[
        S_OK,
        PARTIAL_COMPLETE,
        NOT_FOUND,
        INVALID_STATE,
        EMPTY,
        FILE_NOT_AVAILABLE,
        PROTOCOL_NOT_AVAILABLE,
        ERROR_INFORMATION_UNAVAILABLE,
        MISSING_FILE_SIZE,
        INSUFFICIENT_RANGE_SUPPORT,
        INVALID_SERVER_RESPONSE,
        STRING_TOO_LONG,
        NO_PROGRESS,
        CONNECT_FAILURE,
        CONNECTION_CLOSED,
        VALIDATION_FAILED,
        MAXDOWNLOAD_TIMEOUT,
        REMOTE_FILE_CHANGED,
        E_INVALIDARG,
        E_NOTIMPL,
        E_UNEXPECTED,
        ACCESS_DENIED,
        PATH_NOT_FOUND,
        DISK_FULL,
        IO_ERROR,
        LOCKED,
        STORE_CORRUPT,
        STORE_TOO_NEW,
        TIMEOUT,
        SECURE_FAILURE,
        REDIRECT_FAILED,
        NAME_NOT_RESOLVED,
    ];
}

/// What kind of failure an error is, for code that handles kinds differently (retry a
/// network error, show an HTTP status, fix an argument): one table, used by every
/// language's error classes and the CLI's exit statuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The server answered with an HTTP error status ([`Error::http_status`]).
    Http,
    /// The server's answer cannot be used: not valid HTTP, a failed redirect, ranges
    /// it cannot serve, a remote file that keeps changing, no size.
    Server,
    /// The network: the name did not resolve, no connection, the connection broke or
    /// went silent, TLS failed, no progress or the maximum download time.
    Network,
    /// A local file or directory: missing, not allowed, the disk full, an I/O error.
    Local,
    /// The content is not what was expected (a SHA-256 mismatch, the app's verdict).
    Validation,
    /// An argument is invalid (or a string too long).
    InvalidArgument,
    /// The call is not allowed in the job's state (or after `close()`).
    InvalidState,
    /// The job or file does not exist.
    NotFound,
    /// The state directory: held by another process, corrupt, or from a newer bgcopy.
    Store,
    /// Everything else (not implemented, an unexpected failure, no error information).
    Other,
}

impl ErrorKind {
    /// The kind of `code`; `local_file` (a job error in context LOCAL_FILE) places codes
    /// the table does not name. [`ErrorKind::of`] takes the context itself.
    pub(crate) fn of_code(code: u32, local_file: bool) -> ErrorKind {
        use codes::*;
        match code {
            c if (HTTP_BASE + 100..=HTTP_BASE + 999).contains(&c) => ErrorKind::Http,
            INVALID_SERVER_RESPONSE
            | REDIRECT_FAILED
            | INSUFFICIENT_RANGE_SUPPORT
            | REMOTE_FILE_CHANGED
            | MISSING_FILE_SIZE => ErrorKind::Server,
            NAME_NOT_RESOLVED | CONNECT_FAILURE | CONNECTION_CLOSED | TIMEOUT | SECURE_FAILURE
            | NO_PROGRESS | MAXDOWNLOAD_TIMEOUT => ErrorKind::Network,
            PATH_NOT_FOUND | ACCESS_DENIED | DISK_FULL | IO_ERROR => ErrorKind::Local,
            VALIDATION_FAILED => ErrorKind::Validation,
            E_INVALIDARG | STRING_TOO_LONG => ErrorKind::InvalidArgument,
            INVALID_STATE | EMPTY => ErrorKind::InvalidState,
            NOT_FOUND => ErrorKind::NotFound,
            LOCKED | STORE_CORRUPT | STORE_TOO_NEW => ErrorKind::Store,
            _ if local_file => ErrorKind::Local,
            _ => ErrorKind::Other,
        }
    }

    /// The kind's name (`HTTP`, `NETWORK`, `INVALID_ARGUMENT`, …), the same in every
    /// language.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Http => "HTTP",
            ErrorKind::Server => "SERVER",
            ErrorKind::Network => "NETWORK",
            ErrorKind::Local => "LOCAL",
            ErrorKind::Validation => "VALIDATION",
            ErrorKind::InvalidArgument => "INVALID_ARGUMENT",
            ErrorKind::InvalidState => "INVALID_STATE",
            ErrorKind::NotFound => "NOT_FOUND",
            ErrorKind::Store => "STORE",
            ErrorKind::Other => "OTHER",
        }
    }

    /// Every kind, in order.
    pub const ALL: &'static [ErrorKind] = &[
        ErrorKind::Http,
        ErrorKind::Server,
        ErrorKind::Network,
        ErrorKind::Local,
        ErrorKind::Validation,
        ErrorKind::InvalidArgument,
        ErrorKind::InvalidState,
        ErrorKind::NotFound,
        ErrorKind::Store,
        ErrorKind::Other,
    ];
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The error of every fallible bgcopy call: a BITS code plus a human message (and, for
/// a job's error, its context).
#[derive(Clone, PartialEq, Eq)]
pub struct Error {
    code: u32,
    message: String,
    /// The job error's context (BG_ERROR_CONTEXT number; see `types::ErrorContext`).
    context: Option<u32>,
}

/// BG_ERROR_CONTEXT_LOCAL_FILE.
const LOCAL_FILE_CONTEXT: u32 = 4;

/// `std::result::Result` with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// An error with `code` (see [`codes`]) and a message for people.
    /// A URL's userinfo secret in the message is shown as `***`.
    pub fn new(code: u32, message: impl Into<String>) -> Self {
        let message = message.into();
        let message = match crate::redact::redact_text(&message) {
            std::borrow::Cow::Borrowed(_) => message,
            std::borrow::Cow::Owned(m) => m,
        };
        Error {
            code,
            message,
            context: None,
        }
    }

    /// This error with the context (BG_ERROR_CONTEXT number) of the job error it comes
    /// from.
    pub(crate) fn with_context_number(mut self, context: u32) -> Self {
        self.context = Some(context);
        self
    }

    /// E_INVALIDARG with a message.
    pub fn invalid_arg(message: impl Into<String>) -> Self {
        Self::new(codes::E_INVALIDARG, message)
    }

    /// INVALID_STATE with a message.
    pub fn invalid_state(message: impl Into<String>) -> Self {
        Self::new(codes::INVALID_STATE, message)
    }

    /// The numeric code, as an unsigned 32-bit HRESULT.
    pub fn code(&self) -> u32 {
        self.code
    }

    /// The code's symbolic name (`INVALID_STATE`, `HTTP_404`, …).
    pub fn symbol(&self) -> String {
        codes::symbol(self.code)
    }

    /// The message for people.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// What kind of failure it is.
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::of_code(self.code, self.context == Some(LOCAL_FILE_CONTEXT))
    }

    /// The HTTP status of an [`ErrorKind::Http`] error (`HTTP_404` → 404).
    pub fn http_status(&self) -> Option<u16> {
        codes::http_status(self.code)
    }

    /// The job error's context as its BG_ERROR_CONTEXT number (see
    /// [`Error::context`]).
    pub(crate) fn context_number(&self) -> Option<u32> {
        self.context
    }

    pub(crate) fn from_io(context: &str, e: &std::io::Error) -> Self {
        use std::io::ErrorKind as K;
        let code = match e.kind() {
            K::NotFound => codes::PATH_NOT_FOUND,
            K::PermissionDenied | K::ReadOnlyFilesystem => codes::ACCESS_DENIED,
            K::StorageFull | K::QuotaExceeded => codes::DISK_FULL,
            _ => codes::IO_ERROR,
        };
        Self::new(code, format!("{context}: {e}"))
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (0x{:08X}): {}",
            self.symbol(),
            self.code,
            self.message
        )
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (0x{:08X}): {}",
            self.symbol(),
            self.code,
            self.message
        )
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::codes::*;

    #[test]
    fn kinds_and_http_status() {
        use super::{Error, ErrorKind};
        let e = Error::new(http(404), "gone");
        assert_eq!((e.kind(), e.http_status()), (ErrorKind::Http, Some(404)));
        assert_eq!(format!("{e}"), "HTTP_404 (0x80190194): gone");
        assert_eq!(Error::new(TIMEOUT, "").kind(), ErrorKind::Network);
        assert_eq!(Error::new(SECURE_FAILURE, "").kind(), ErrorKind::Network);
        assert_eq!(Error::new(DISK_FULL, "").kind(), ErrorKind::Local);
        assert_eq!(Error::invalid_arg("x").kind(), ErrorKind::InvalidArgument);
        assert_eq!(Error::invalid_state("x").kind(), ErrorKind::InvalidState);
        assert_eq!(Error::new(NOT_FOUND, "").kind(), ErrorKind::NotFound);
        assert_eq!(Error::new(REDIRECT_FAILED, "").kind(), ErrorKind::Server);
        assert_eq!(Error::new(E_NOTIMPL, "").kind(), ErrorKind::Other);
        assert_eq!(Error::new(TIMEOUT, "").http_status(), None);
        assert_eq!(http_status(HTTP_BASE + 99), None);
        // A code the table does not place, in a LOCAL_FILE context: local.
        let e = Error::new(E_UNEXPECTED, "").with_context_number(4);
        assert_eq!(e.kind(), ErrorKind::Local);
        let names: std::collections::HashSet<_> = ErrorKind::ALL.iter().map(|k| k.name()).collect();
        assert_eq!(names.len(), ErrorKind::ALL.len());
    }

    #[test]
    fn symbols_round_trip() {
        for &c in ALL {
            assert_eq!(from_symbol(&symbol(c)), Some(c), "{c:#x}");
        }
        assert_eq!(symbol(http(404)), "HTTP_404");
        assert_eq!(from_symbol("HTTP_503"), Some(0x8019_01F7));
        assert_eq!(symbol(0x1234), "0x00001234");
        assert_eq!(from_symbol("NOPE"), None);
    }
}
