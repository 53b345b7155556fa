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
//! Threading: see `docs/threading.md` in the repository.

#![warn(missing_docs)]

mod complete;
mod delivery;
mod durable;
mod error;
mod job;
mod lock;
mod manager;
mod model;
mod policy;
mod recovery;
mod store;
mod sys;
mod transfer;
mod types;
mod urls;

pub use error::{Error, Result, codes};
pub use job::{CallbackResult, Completion, CopyCallback, CopyError, CopyFile, CopyJob};
pub use manager::{CopyManager, ManagerOptions, default_state_dir};
pub use types::{
    BYTES_UNKNOWN, ErrorContext, FileProgress, JobProgress, JobState, JobTimes, JobType, Priority,
    notify,
};
