//! Strings, errors and codes: what every part of the C API shares.

use crate::boundary::{Out, boundary, last_error_ptr, new_string};
use crate::types::BGCOPY_S_OK;
use bgcopy_core::codes;
use std::ffi::{CString, c_char};

/// Free a string the library returned. NULL does nothing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_string_free(s: *mut c_char) {
    boundary(|| {
        if !s.is_null() {
            // SAFETY: a string from this library (`CString::into_raw`), freed once.
            drop(unsafe { CString::from_raw(s) });
        }
        Ok(())
    })
}

/// Free an array of `count` strings from this library (and each string). NULL does
/// nothing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_string_array_free(strings: *mut *mut c_char, count: usize) {
    boundary(|| {
        if strings.is_null() {
            return Ok(());
        }
        // SAFETY: an array of `count` strings from this library (a boxed slice), freed
        // once with its strings.
        let array = unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(strings, count)) };
        for s in array.iter() {
            if !s.is_null() {
                // SAFETY: each a `CString::into_raw` of this library, freed once.
                drop(unsafe { CString::from_raw(*s) });
            }
        }
        Ok(())
    })
}

/// This thread's message for its last failure, e.g. "INVALID_STATE (0x80200002): the
/// manager is closed" ("" before any failure). Owned by the library, valid until the
/// next bgcopy call on this thread. Never NULL.
#[unsafe(no_mangle)]
pub extern "C" fn bgcopy_last_error_message() -> *const c_char {
    boundary(|| Ok(last_error_ptr()))
}

/// The symbolic name of a code (docs/spec.md#codes): "OK", "PARTIAL_COMPLETE", "NOT_FOUND",
/// "INVALID_STATE", ..., "INVALID_ARG" for `BGCOPY_E_INVALIDARG`, "NOT_IMPLEMENTED",
/// "UNEXPECTED", "HTTP_404" for `BGCOPY_E_HTTP(404)`, else "0x" and 8 hex digits. Free
/// `*out` with `bgcopy_string_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_code_symbol(code: i32, out: *mut *mut c_char) -> i32 {
    boundary(|| {
        // SAFETY: the C conventions.
        let out = unsafe { Out::new(out, "out") }?;
        out.set(new_string(codes::symbol(code as u32)));
        Ok(BGCOPY_S_OK)
    })
}

/// The library's version, e.g. "0.1.0" (static, never NULL).
#[unsafe(no_mangle)]
pub extern "C" fn bgcopy_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// Static, NUL-terminated copies of an enum's names, indexed by value.
fn names_of<T: Copy>(
    all: &[T],
    name: impl Fn(T) -> &'static str,
    value: impl Fn(T) -> u32,
) -> Vec<Option<CString>> {
    let max = all.iter().map(|v| value(*v)).max().unwrap_or(0) as usize;
    let mut out = vec![None; max + 1];
    for v in all {
        out[value(*v) as usize] = CString::new(name(*v)).ok();
    }
    out
}

fn name_at(names: &'static [Option<CString>], n: u32) -> *const c_char {
    names
        .get(n as usize)
        .and_then(|c| c.as_ref())
        .map_or(std::ptr::null(), |c| c.as_ptr())
}

/// The name of job state `state` ("QUEUED", "CONNECTING", …, "CANCELLED"): a static
/// string (never free it), or NULL for a number that is no state.
#[unsafe(no_mangle)]
pub extern "C" fn bgcopy_job_state_name(state: crate::types::bgcopy_job_state) -> *const c_char {
    static NAMES: std::sync::OnceLock<Vec<Option<CString>>> = std::sync::OnceLock::new();
    use bgcopy_core::JobState;
    name_at(
        NAMES.get_or_init(|| names_of(JobState::ALL, JobState::name, |v| v as u32)),
        state,
    )
}

/// The name of priority `priority` ("FOREGROUND", "HIGH", "NORMAL", "LOW"): a static
/// string (never free it), or NULL for a number that is no priority.
#[unsafe(no_mangle)]
pub extern "C" fn bgcopy_priority_name(priority: crate::types::bgcopy_priority) -> *const c_char {
    static NAMES: std::sync::OnceLock<Vec<Option<CString>>> = std::sync::OnceLock::new();
    use bgcopy_core::Priority;
    name_at(
        NAMES.get_or_init(|| names_of(Priority::ALL, Priority::name, |v| v as u32)),
        priority,
    )
}
