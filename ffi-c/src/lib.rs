//! The C ABI of bgcopy (docs/spec.md §7): `libbgcopy.so` / `libbgcopy.a` and
//! `include/bgcopy.h`, generated from this crate by cbindgen (`build.rs`).
//!
//! Every docs/spec.md §1 method is a `bgcopy_<object>_<method>` function here, a one-line
//! forward to the core plus pointer checks and conversions. The rules every function
//! keeps (HRESULT returns, out-pointers written only on success, reference-counted
//! handles, UTF-8 strings, per-thread error messages, no panic crossing into C) live in
//! [`boundary`]; the C-side contract is written in `ffi-c/README.md` and at the top of
//! the header.

// The C names are the public names (`bgcopy_job`, not `BgcopyJob`).
#![allow(non_camel_case_types)]
// The safety contract of every entry point is the one C convention written in the
// header's preamble (handles live, pointers NULL or valid, strings NUL-terminated).
#![allow(clippy::missing_safety_doc)]

mod boundary;
mod callback;
mod file;
mod general;
mod job;
mod manager;
mod types;

pub use callback::bgcopy_callback;
pub use file::{bgcopy_error, bgcopy_file};
pub use job::bgcopy_job;
pub use manager::{bgcopy_manager, bgcopy_manager_options};
pub use types::*;
