//! The public objects: `CopyManager`, `CopyJob`, `CopyFile`, `CopyError` and the
//! `CopyCallback` trait. They are thin: each method checks its arguments and goes
//! through the `JobTable`.

mod error;
mod events;
mod file;
mod job;
mod manager;
mod requests;
mod wait;

pub use error::CopyError;
pub use events::{JobEvent, JobEventKind, JobEvents};
pub use file::CopyFile;
pub(crate) use job::CallbackSlot;
pub use job::{CallbackResult, CopyCallback, CopyJob};
pub use manager::{CopyManager, JobSetup, ServeEnd, default_state_dir, engine_pid};
pub use wait::WaitOutcome;
