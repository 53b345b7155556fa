//! # bgcopy
//!
//! Durable background HTTP(S) downloads with the job model of Windows BITS
//! (`IBackgroundCopyJob`): a [`CopyManager`] owns a durable queue of [`CopyJob`]s, each
//! with [`CopyFile`]s, priorities, progress, retries and notifications
//! ([`CopyCallback`]). Jobs survive crashes and restarts: every mutating call is
//! durable when it returns, and transfers resume from their last checkpoint.
//!
//! ```no_run
//! use bgcopy::{CopyManager, JobType, JobState};
//! let manager = CopyManager::open(Some(std::path::Path::new("/tmp/bgcopy-state")))?;
//! let job = manager.create_job("example", JobType::Download)?;
//! job.add_file("https://example.com/file.iso", "/tmp/file.iso")?;
//! job.resume()?;
//! if job.wait(None)? == JobState::Transferred {
//!     job.complete()?;
//! }
//! # Ok::<(), bgcopy::Error>(())
//! ```
//!
//! Modules, threads and locks: see `docs/architecture.md` in the repository.

#![warn(missing_docs)]

mod args;
mod complete;
mod download;
mod engine;
mod error;
mod handles;
pub mod logging;
pub mod names;
mod notifier;
mod options;
mod policy;
mod proxy;
mod ranges;
mod record;
mod redact;
mod request;
mod store;
mod sys;
mod table;
mod types;
mod urls;
mod wake;

pub use download::{Background, DownloadOptions, Step, download, download_until};
pub use error::{Error, ErrorKind, Result, codes};

/// This library's version (`MAJOR.MINOR.PATCH`): one number for the Rust crates, the C
/// library (`bgcopy_version()`, `BGCOPY_VERSION_*`), the Python and npm packages and the
/// Kotlin/Swift package, checked equal by the tests.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub use handles::{
    CallbackResult, CopyCallback, CopyError, CopyFile, CopyJob, CopyManager, JobEvent,
    JobEventKind, JobEvents, JobSetup, ServeEnd, WaitOutcome, default_state_dir, engine_pid,
};
pub use options::{ManagerOptions, OptionKind, OptionSpec, OptionValue};
pub use proxy::ProxySettings;
pub use redact::printable;
pub use request::security;
pub use table::WaitEnd;
pub use types::{
    AuthScheme, AuthTarget, BYTES_UNKNOWN, Completion, ErrorContext, Event, EventKind,
    FileProgress, JobProgress, JobState, JobTimes, JobType, NotifyCmdLine, Priority, ProxyUsage,
    from_ms, notify, rfc3339, timeout_from_f64, to_ms,
};
