//! The Node.js addon of bgcopy: `require('bgcopy')` / `import … from 'bgcopy'`.
//!
//! A forward plus conversions over the Rust core (`bgcopy`): every method of docs/spec.md §1 in
//! camelCase on the classes `CopyManager`, `CopyJob`, `CopyFile` and `CopyError`, the
//! docs/spec.md §2 values as TypeScript enums, 64-bit byte counts as `bigint`, times as `Date`.
//! No transfer logic lives here.
//!
//! - Errors (`error.rs`): a thrown `Error` whose `code` is the docs/spec.md §6 symbol
//!   (`'INVALID_STATE'`) and `hresult` the unsigned 32-bit code.
//! - Arguments (`args.rs`): every parameter arrives as an untyped JS value and is
//!   checked here, so that `undefined`, a number for a string, a lone surrogate, a
//!   fractional or negative number or an out-of-range enum value throw `INVALID_ARG`
//!   instead of being coerced.
//! - `wait` (`job.rs`) runs the core's blocking wait on a thread of its own and settles
//!   a Promise: the event loop keeps running.
//! - Callbacks (`callback.rs`): the core's notification thread hands each event to the
//!   JS thread through a ThreadsafeFunction and waits for the handler's outcome, so a
//!   throwing (or rejecting) handler is a failed delivery (docs/spec.md §3).
//!
//! The design notes are in `bindings-node/README.md`.

#![deny(clippy::all)]

mod args;
mod callback;
mod error;
mod idioms;
mod job;
mod manager;
mod types;

pub use job::{CopyError, CopyFile, CopyJob};

use napi_derive::napi;

/// This library's version, e.g. `"0.1.0"` (the same number in every language and in
/// package.json).
#[napi]
pub const VERSION: &str = bgcopy::VERSION;

/// Node's debug switch: with `bgcopy` in `NODE_DEBUG` (as for `util.debuglog`, e.g.
/// `NODE_DEBUG=bgcopy node app.js`; `bgcopy*` and `*` too), the library's log records
/// (state changes, retries, each request and answer; URLs without query or password,
/// never header values or credentials) go to stderr as `BGCOPY <pid>: LEVEL area:
/// message`. Read once, by the first `CopyManager.open`.
fn debug_log_from_env() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let wanted = std::env::var("NODE_DEBUG").is_ok_and(|v| {
            v.split([',', ' '])
                .map(|w| w.trim().to_ascii_lowercase())
                .any(|w| w == "bgcopy" || w == "bgcopy*" || w == "*")
        });
        if wanted {
            bgcopy::logging::log_to_stderr(
                bgcopy::logging::LevelFilter::Debug,
                &format!("BGCOPY {}: ", std::process::id()),
            );
        }
    });
}
pub use manager::CopyManager;
pub use types::*;
