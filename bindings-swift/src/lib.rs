//! # bgcopy for Swift and Kotlin (UniFFI)
//!
//! The UniFFI crate behind the Kotlin package `io.github.bgcopy` (JVM and Android) and the Swift
//! module `BgCopy`: the `CopyManager`, `CopyJob`, `CopyFile` and `CopyError` as
//! UniFFI objects, `CopyCallback` as a foreign trait, the contract's values as enums and
//! records, and every failure as the error `BgCopyError` (Kotlin `BgCopyException`)
//! carrying the BITS code and symbol. Every method forwards to the Rust core (`bgcopy`).
//!
//! The foreign sources are generated from this library by `generate.sh` (UniFFI library
//! mode, names in `uniffi.toml`); see the folder's README.

mod callback;
mod error;
mod idioms;
mod objects;
mod oneshot;
mod types;

pub use callback::CopyCallback;
pub use error::BgCopyError;
pub use objects::{CopyError, CopyFile, CopyJob, CopyManager};
pub use types::{
    Completion, ErrorContext, ErrorInfo, FileProgress, FileSpec, JobProgress, JobSetup, JobState,
    JobTimes, JobType, ManagerOptions, NotifyFlag, Priority,
};

uniffi::setup_scaffolding!("bgcopy");

/// The symbolic name of a BITS HRESULT code (`0x80200002` → `"INVALID_STATE"`, `HTTP_404`, …;
/// `0x…` for a code without a name). The code may be given as its unsigned 32-bit value
/// or as a signed 32-bit HRESULT (Java's `int`, −2145386494); a number that is neither
/// comes back as its decimal text.
#[uniffi::export]
pub fn code_symbol(code: i64) -> String {
    match u32::try_from(code).or_else(|_| i32::try_from(code).map(|c| c as u32)) {
        Ok(c) => bgcopy::codes::symbol(c),
        Err(_) => code.to_string(),
    }
}

/// This library's version, e.g. `"0.1.0"` (the same number in every language).
#[uniffi::export]
pub fn bgcopy_version() -> String {
    bgcopy::VERSION.to_string()
}

/// The platform's default state directory (what `CopyManager.open(null)` uses).
#[uniffi::export]
pub fn default_state_dir() -> Result<String, BgCopyError> {
    error::guard(bgcopy::default_state_dir).map(|p| p.to_string_lossy().into_owned())
}
