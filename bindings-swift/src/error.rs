//! The one error conversion of this binding: a core [`bg::Error`] becomes the
//! [`BgCopyError`] case of its kind with the BITS code and symbol (Kotlin
//! `BgCopyException.Http`, …; Swift `BgCopyError.Http`, …), and one panic boundary for
//! every fallible entry point.

use bgcopy as bg;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// The error every fallible bgcopy call throws, one case per kind of failure (the
/// core's `ErrorKind`, the same table in every language). Each carries the numeric code
/// (the unsigned 32-bit HRESULT, e.g. `0x80200002`, held in a 64-bit integer), its
/// symbol (`INVALID_STATE`, `HTTP_404`, …) and the message; `Http` also the status.
/// The error prints as `SYMBOL (0xCODE): text` (Kotlin `message`/`toString()`, Swift
/// `description`/`localizedDescription`).
///
/// Kotlin: `catch (e: BgCopyException.Http) { e.status }`,
/// `catch (e: BgCopyException) { e.code(); e.symbol() }`;
/// Swift: `catch let e as BgCopyError { e.code(); e.symbol() }`,
/// `catch BgCopyError.Http(_, _, _, let status)`.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Error)]
#[uniffi::export(Display)]
pub enum BgCopyError {
    /// The server answered with an HTTP error status (`status`).
    Http {
        code: i64,
        symbol: String,
        detail: String,
        status: i32,
    },
    /// The server's answer cannot be used (not valid HTTP, a failed redirect, no
    /// ranges, a remote file that keeps changing, no size).
    Server {
        code: i64,
        symbol: String,
        detail: String,
    },
    /// The network: DNS, connect, a broken or silent connection, TLS, no progress, the
    /// maximum download time.
    Network {
        code: i64,
        symbol: String,
        detail: String,
    },
    /// A local file or directory: missing, not allowed, the disk full, an I/O error.
    Local {
        code: i64,
        symbol: String,
        detail: String,
    },
    /// The content is not what was expected (a SHA-256 mismatch, the app's verdict).
    Validation {
        code: i64,
        symbol: String,
        detail: String,
    },
    /// An argument is invalid (or a string too long).
    InvalidArgument {
        code: i64,
        symbol: String,
        detail: String,
    },
    /// Not allowed in the job's state (or after `close()`).
    InvalidState {
        code: i64,
        symbol: String,
        detail: String,
    },
    /// No such job or file.
    NotFound {
        code: i64,
        symbol: String,
        detail: String,
    },
    /// The state directory's store cannot be used (locked, corrupt, too new).
    Store {
        code: i64,
        symbol: String,
        detail: String,
    },
    /// Anything else (not implemented, unexpected, no error information).
    Other {
        code: i64,
        symbol: String,
        detail: String,
    },
}

/// The fields every case has.
macro_rules! fields {
    ($e:expr) => {
        match $e {
            BgCopyError::Http {
                code,
                symbol,
                detail,
                ..
            }
            | BgCopyError::Server {
                code,
                symbol,
                detail,
            }
            | BgCopyError::Network {
                code,
                symbol,
                detail,
            }
            | BgCopyError::Local {
                code,
                symbol,
                detail,
            }
            | BgCopyError::Validation {
                code,
                symbol,
                detail,
            }
            | BgCopyError::InvalidArgument {
                code,
                symbol,
                detail,
            }
            | BgCopyError::InvalidState {
                code,
                symbol,
                detail,
            }
            | BgCopyError::NotFound {
                code,
                symbol,
                detail,
            }
            | BgCopyError::Store {
                code,
                symbol,
                detail,
            }
            | BgCopyError::Other {
                code,
                symbol,
                detail,
            } => (code, symbol, detail),
        }
    };
}

#[uniffi::export]
impl BgCopyError {
    /// The BITS HRESULT code (its unsigned 32-bit value; the table is in
    /// docs/spec.md#codes).
    pub fn code(&self) -> i64 {
        *fields!(self).0
    }

    /// The code's symbolic name (`INVALID_STATE`, `HTTP_404`, …).
    pub fn symbol(&self) -> String {
        fields!(self).1.clone()
    }

    /// What kind of failure it is: `HTTP`, `SERVER`, `NETWORK`, `LOCAL`, `VALIDATION`,
    /// `INVALID_ARGUMENT`, `INVALID_STATE`, `NOT_FOUND`, `STORE` or `OTHER` (the case's
    /// name as the core's table spells it, the same in every language).
    pub fn kind(&self) -> String {
        self.core_kind().name().to_string()
    }

    /// An HTTP error's status (404, 503, …), else null/nil.
    pub fn http_status(&self) -> Option<i32> {
        match self {
            BgCopyError::Http { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// What went wrong, for people (without the code: see `toString()` / `description`).
    pub fn detail(&self) -> String {
        fields!(self).2.clone()
    }
}

impl std::fmt::Display for BgCopyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The core's format, so every language prints errors alike.
        let (code, _, detail) = fields!(self);
        write!(f, "{}", bg::Error::new(*code as u32, detail.as_str()))
    }
}

impl std::error::Error for BgCopyError {}

impl BgCopyError {
    /// An error with `code` and a message, its case from the core's table.
    pub(crate) fn new(code: u32, detail: impl Into<String>) -> Self {
        Self::of_kind(bg::ErrorKind::of(code, None), code, detail.into())
    }

    fn of_kind(kind: bg::ErrorKind, code: u32, detail: String) -> Self {
        let symbol = bg::codes::symbol(code);
        let code = i64::from(code);
        match kind {
            bg::ErrorKind::Http => BgCopyError::Http {
                code,
                symbol,
                detail,
                status: bg::codes::http_status(code as u32).map_or(0, i32::from),
            },
            bg::ErrorKind::Server => BgCopyError::Server {
                code,
                symbol,
                detail,
            },
            bg::ErrorKind::Network => BgCopyError::Network {
                code,
                symbol,
                detail,
            },
            bg::ErrorKind::Local => BgCopyError::Local {
                code,
                symbol,
                detail,
            },
            bg::ErrorKind::Validation => BgCopyError::Validation {
                code,
                symbol,
                detail,
            },
            bg::ErrorKind::InvalidArgument => BgCopyError::InvalidArgument {
                code,
                symbol,
                detail,
            },
            bg::ErrorKind::InvalidState => BgCopyError::InvalidState {
                code,
                symbol,
                detail,
            },
            bg::ErrorKind::NotFound => BgCopyError::NotFound {
                code,
                symbol,
                detail,
            },
            bg::ErrorKind::Store => BgCopyError::Store {
                code,
                symbol,
                detail,
            },
            _ => BgCopyError::Other {
                code,
                symbol,
                detail,
            },
        }
    }

    fn core_kind(&self) -> bg::ErrorKind {
        match self {
            BgCopyError::Http { .. } => bg::ErrorKind::Http,
            BgCopyError::Server { .. } => bg::ErrorKind::Server,
            BgCopyError::Network { .. } => bg::ErrorKind::Network,
            BgCopyError::Local { .. } => bg::ErrorKind::Local,
            BgCopyError::Validation { .. } => bg::ErrorKind::Validation,
            BgCopyError::InvalidArgument { .. } => bg::ErrorKind::InvalidArgument,
            BgCopyError::InvalidState { .. } => bg::ErrorKind::InvalidState,
            BgCopyError::NotFound { .. } => bg::ErrorKind::NotFound,
            BgCopyError::Store { .. } => bg::ErrorKind::Store,
            BgCopyError::Other { .. } => bg::ErrorKind::Other,
        }
    }
}

impl From<bg::Error> for BgCopyError {
    // The core's kind, which knows a job error's context (LOCAL_FILE makes any code
    // LOCAL).
    fn from(e: bg::Error) -> Self {
        Self::of_kind(e.kind(), e.code(), e.message().to_string())
    }
}

/// A Kotlin/Swift callback threw something other than `BgCopyError`: the delivery failed
/// (and is retried after the job's minimum retry delay).
impl From<uniffi::UnexpectedUniFFICallbackError> for BgCopyError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        BgCopyError::new(
            bg::codes::E_UNEXPECTED,
            format!("the callback failed: {}", e.reason),
        )
    }
}

/// The panic boundary: runs a core call, turns its error into [`BgCopyError`] and a panic
/// into E_UNEXPECTED (0x8000FFFF) instead of a UniFFI internal error.
pub(crate) fn guard<T>(f: impl FnOnce() -> bg::Result<T>) -> Result<T, BgCopyError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r.map_err(BgCopyError::from),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(BgCopyError::new(
                bg::codes::E_UNEXPECTED,
                format!("internal error (panic): {what}"),
            ))
        }
    }
}
