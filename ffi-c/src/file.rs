//! `bgcopy_file` (CopyFile) and `bgcopy_error` (CopyError).

use crate::boundary::{
    Handle, Out, arg, boundary, call, get, handle, handle_add_ref, handle_release, new_handle,
    new_string, new_string_array, opt_str, str_arg,
};
use crate::types::*;
use bgcopy_core::{CopyError, CopyFile};
use std::ffi::c_char;

/// One file of a job. Opaque, reference counted, thread-safe.
pub struct bgcopy_file {
    pub(crate) inner: CopyFile,
}

handle!(bgcopy_file, CopyFile, "the file handle (bgcopy_file *)");

/// The error of a job in ERROR or TRANSIENT_ERROR, a snapshot taken by
/// `bgcopy_job_get_error`. Opaque, reference counted, thread-safe.
pub struct bgcopy_error {
    pub(crate) inner: CopyError,
}

handle!(bgcopy_error, CopyError, "the error handle (bgcopy_error *)");

/// The file's remote URL. Free `*out` with `bgcopy_string_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_file_get_remote_name(
    f: *mut bgcopy_file,
    out: *mut *mut c_char,
) -> i32 {
    get(f, out, |f| Ok(new_string(f.get_remote_name()?)))
}

/// The file's local path. Free `*out` with `bgcopy_string_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_file_get_local_name(
    f: *mut bgcopy_file,
    out: *mut *mut c_char,
) -> i32 {
    get(f, out, |f| Ok(new_string(f.get_local_name()?)))
}

/// The hidden temporary file that holds the bytes until `bgcopy_job_complete` (BITS
/// File3 `GetTemporaryName`), beside the local path. Free `*out` with
/// `bgcopy_string_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_file_get_temporary_name(
    f: *mut bgcopy_file,
    out: *mut *mut c_char,
) -> i32 {
    get(f, out, |f| Ok(new_string(f.get_temporary_name()?)))
}

/// Give the file a new remote URL (BITS File2 `SetRemoteName`: an expired signed
/// URL, a new token, a mirror), checked like `bgcopy_job_add_file`'s; not on a final
/// job. The bytes already here are kept when the new URL serves the same content
/// (If-Range with the stored validator), else the file starts over; a running
/// transfer starts again with it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_file_set_remote_name(
    f: *mut bgcopy_file,
    url: *const c_char,
) -> i32 {
    call(f, |file| {
        // SAFETY: the C conventions.
        file.set_remote_name(unsafe { str_arg(url, "url") }?)
    })
}

/// The last response's header lines (`Name: value`): an array of `*out_n` strings
/// `*out_lines` (free with `bgcopy_string_array_free`; NULL before any response). A
/// value holding one of the job's secrets shows as `***`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_file_get_response_headers(
    f: *mut bgcopy_file,
    out_lines: *mut *mut *mut c_char,
    out_n: *mut usize,
) -> i32 {
    boundary(|| {
        // SAFETY: the C conventions.
        let (file, out_lines, out_n) = unsafe {
            (
                arg(f)?,
                Out::new(out_lines, "out_lines")?,
                Out::new(out_n, "out_n")?,
            )
        };
        let (array, n) = new_string_array(file.inner().get_response_headers()?);
        out_lines.set(array);
        out_n.set(n);
        Ok(BGCOPY_S_OK)
    })
}

/// Check the content before the file counts as transferred: `algorithm` `"sha256"`,
/// `hex` its 64 hexadecimal digits (computed while the bytes are written). A mismatch
/// drops the bytes and puts the job in ERROR with `BGCOPY_E_VALIDATION_FAILED`;
/// `bgcopy_job_resume` fetches the file again. NULL or `""` `algorithm` removes the
/// check. `BGCOPY_E_INVALID_STATE` once the file's bytes are all transferred.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_file_set_expected_hash(
    f: *mut bgcopy_file,
    algorithm: *const c_char,
    hex: *const c_char,
) -> i32 {
    call(f, |file| {
        // SAFETY: the C conventions.
        let (algorithm, hex) = unsafe {
            (
                opt_str(algorithm, "algorithm")?.unwrap_or(""),
                opt_str(hex, "hex")?.unwrap_or(""),
            )
        };
        file.set_expected_hash(algorithm, hex)
    })
}

/// The expected digest: `*out_algorithm` (`"sha256"`) and `*out_hex` (free both with
/// `bgcopy_string_free`), both NULL when none is set.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_file_get_expected_hash(
    f: *mut bgcopy_file,
    out_algorithm: *mut *mut c_char,
    out_hex: *mut *mut c_char,
) -> i32 {
    boundary(|| {
        // SAFETY: the C conventions.
        let (file, algo, hex) = unsafe {
            (
                arg(f)?,
                Out::new(out_algorithm, "out_algorithm")?,
                Out::new(out_hex, "out_hex")?,
            )
        };
        match file.inner().get_expected_hash()? {
            Some((a, h)) => {
                algo.set(new_string(a));
                hex.set(new_string(h));
            }
            None => {
                algo.set(std::ptr::null_mut());
                hex.set(std::ptr::null_mut());
            }
        }
        Ok(BGCOPY_S_OK)
    })
}

/// The app's verdict once the file is transferred (BITS File3 `SetValidationState`):
/// nonzero marks the bytes valid; 0 drops them and puts the job in ERROR with
/// `BGCOPY_E_VALIDATION_FAILED` (`bgcopy_job_resume` fetches the file again).
/// `BGCOPY_E_INVALID_STATE` before its bytes are all transferred.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_file_set_validation_state(f: *mut bgcopy_file, valid: i32) -> i32 {
    call(f, |file| file.set_validation_state(valid != 0))
}

/// Whether the app marked the bytes valid: `*out` 1 or 0 (0 until it does).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_file_get_validation_state(
    f: *mut bgcopy_file,
    out: *mut i32,
) -> i32 {
    get(f, out, |file| Ok(i32::from(file.get_validation_state()?)))
}

/// The URL the file's last response came from, after redirects; `*out` NULL before
/// any response. Free `*out` with `bgcopy_string_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_file_get_final_url(
    f: *mut bgcopy_file,
    out: *mut *mut c_char,
) -> i32 {
    get(f, out, |f| {
        Ok(f.get_final_url()?.map_or(std::ptr::null_mut(), new_string))
    })
}

/// The file's progress.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_file_get_progress(
    f: *mut bgcopy_file,
    out: *mut bgcopy_file_progress,
) -> i32 {
    get(f, out, |f| {
        let p = f.get_progress()?;
        Ok(bgcopy_file_progress {
            bytes_total: p.bytes_total,
            bytes_transferred: p.bytes_transferred,
            completed: p.completed,
        })
    })
}

/// The file's position in its job (0 for the first file added).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_file_get_index(f: *mut bgcopy_file, out: *mut usize) -> i32 {
    get(f, out, |f| Ok(f.index()))
}

/// Take one more reference to the file; returns `f`. NULL returns NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_file_add_ref(f: *mut bgcopy_file) -> *mut bgcopy_file {
    handle_add_ref(f)
}

/// Release a reference to the file. NULL does nothing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_file_release(f: *mut bgcopy_file) {
    handle_release(f)
}

/// Where the error came from (`BGCOPY_ERROR_CONTEXT_*`) and its code (an HRESULT such
/// as `BGCOPY_E_CONNECT_FAILURE` or `BGCOPY_E_HTTP(404)`). Both out-pointers are
/// required.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_error_get_error(
    e: *mut bgcopy_error,
    out_context: *mut bgcopy_error_context,
    out_code: *mut i32,
) -> i32 {
    boundary(|| {
        // SAFETY: the C conventions.
        let (error, out_context, out_code) = unsafe {
            (
                arg(e)?,
                Out::new(out_context, "out_context")?,
                Out::new(out_code, "out_code")?,
            )
        };
        let (context, code) = error.inner().get_error();
        out_context.set(context as u32);
        out_code.set(code as i32);
        Ok(BGCOPY_S_OK)
    })
}

/// The file the error is about: `*out` is a new file handle; else
/// `BGCOPY_E_FILE_NOT_AVAILABLE`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_error_get_file(
    e: *mut bgcopy_error,
    out: *mut *mut bgcopy_file,
) -> i32 {
    get(e, out, |e| Ok(new_handle(bgcopy_file::wrap(e.get_file()?))))
}

/// What went wrong, for people. Free `*out` with `bgcopy_string_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_error_get_error_description(
    e: *mut bgcopy_error,
    out: *mut *mut c_char,
) -> i32 {
    get(e, out, |e| Ok(new_string(e.get_error_description())))
}

/// What the error's context means, for people. Free `*out` with `bgcopy_string_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_error_get_error_context_description(
    e: *mut bgcopy_error,
    out: *mut *mut c_char,
) -> i32 {
    get(e, out, |e| {
        Ok(new_string(e.get_error_context_description()))
    })
}

/// The protocol of the failed transfer, "http" or "https"; else
/// `BGCOPY_E_PROTOCOL_NOT_AVAILABLE`. Free `*out` with `bgcopy_string_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_error_get_protocol(
    e: *mut bgcopy_error,
    out: *mut *mut c_char,
) -> i32 {
    get(e, out, |e| Ok(new_string(e.get_protocol()?)))
}

/// Take one more reference to the error; returns `e`. NULL returns NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_error_add_ref(e: *mut bgcopy_error) -> *mut bgcopy_error {
    handle_add_ref(e)
}

/// Release a reference to the error. NULL does nothing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_error_release(e: *mut bgcopy_error) {
    handle_release(e)
}
