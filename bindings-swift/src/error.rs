//! The one error conversion of this binding: a core [`bg::Error`] becomes
//! [`BgCopyError::Failed`] with the BITS code and symbol (Kotlin `BgCopyException`,
//! Swift `BgCopyError`), and one panic boundary for every fallible entry point.

use bgcopy as bg;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// The error every fallible bgcopy call throws: the numeric code (an unsigned
/// 32-bit HRESULT, e.g. `0x80200002`) and its symbol (`INVALID_STATE`, `HTTP_404`, …).
///
/// Kotlin: `catch (e: BgCopyException) { e.code(); e.symbol() }`;
/// Swift: `catch let e as BgCopyError { e.code(); e.symbol() }`.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Error)]
pub enum BgCopyError {
    /// The call failed (the only case).
    Failed {
        /// The BITS HRESULT code, e.g. 0x80200002 (INVALID_STATE); the table is in docs/spec.md#codes.
        code: u32,
        /// The code's symbolic name: `INVALID_STATE`, `HTTP_404`, `INVALID_ARG`, ….
        symbol: String,
        /// What went wrong, for people.
        detail: String,
    },
}

#[uniffi::export]
impl BgCopyError {
    /// The BITS HRESULT code (unsigned 32-bit; the table is in docs/spec.md#codes).
    pub fn code(&self) -> u32 {
        match self {
            BgCopyError::Failed { code, .. } => *code,
        }
    }

    /// The code's symbolic name (`INVALID_STATE`, `HTTP_404`, …).
    pub fn symbol(&self) -> String {
        match self {
            BgCopyError::Failed { symbol, .. } => symbol.clone(),
        }
    }

    /// What kind of failure it is: `HTTP`, `SERVER`, `NETWORK`, `LOCAL`, `VALIDATION`,
    /// `INVALID_ARGUMENT`, `INVALID_STATE`, `NOT_FOUND`, `STORE` or `OTHER` (the core's
    /// table, the same names in every language).
    pub fn kind(&self) -> String {
        bg::ErrorKind::of(self.code(), None).name().to_string()
    }

    /// An HTTP error's status (404, 503, …), else null/nil.
    pub fn http_status(&self) -> Option<u16> {
        bg::codes::http_status(self.code())
    }

    /// What went wrong, for people.
    pub fn detail(&self) -> String {
        match self {
            BgCopyError::Failed { detail, .. } => detail.clone(),
        }
    }
}

impl std::fmt::Display for BgCopyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            // The core's format, so every language prints errors alike.
            BgCopyError::Failed { code, detail, .. } => {
                write!(f, "{}", bg::Error::new(*code, detail.as_str()))
            }
        }
    }
}

impl std::error::Error for BgCopyError {}

impl BgCopyError {
    /// An error with `code` and a message.
    pub(crate) fn new(code: u32, detail: impl Into<String>) -> Self {
        BgCopyError::Failed {
            code,
            symbol: bg::codes::symbol(code),
            detail: detail.into(),
        }
    }
}

impl From<bg::Error> for BgCopyError {
    fn from(e: bg::Error) -> Self {
        BgCopyError::new(e.code(), e.message())
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
