//! The edge between C and Rust, in one place (the rustls-ffi model):
//!
//! - [`boundary`] is the one panic boundary: every `extern "C"` function runs its whole
//!   body inside it. A failure becomes the function's HRESULT and this thread's last
//!   error message; a panic becomes `E_UNEXPECTED` and never unwinds into C.
//! - [`arg`], [`str_arg`], [`opt_str`] and [`Out::new`] check every pointer from C
//!   (NULL is `E_INVALIDARG`; strings must be UTF-8) and turn it into a Rust reference.
//! - [`Handle`] (declared with [`handle!`]) is what every handle type shares; [`call`],
//!   [`get`], [`handle_add_ref`] and [`handle_release`] are the bodies of its entry
//!   points, and with [`new_handle`], [`take_handle`] and the array helpers the only
//!   code that converts between `Arc`s and the opaque handle pointers C holds.

use bgcopy_core::{Error, codes};
use std::any::Any;
use std::cell::RefCell;
use std::ffi::{CStr, CString, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr::NonNull;
use std::sync::Arc;

pub(crate) type Result<T> = std::result::Result<T, Error>;

thread_local! {
    /// The message of this thread's last failure (`bgcopy_last_error_message`).
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

/// What an entry point returns when its body failed or panicked.
pub(crate) trait Returned {
    /// The value for a failure with error `e`.
    fn failed(e: &Error) -> Self;
}

impl Returned for i32 {
    fn failed(e: &Error) -> i32 {
        e.code() as i32
    }
}

impl Returned for () {
    fn failed(_: &Error) {}
}

impl<T> Returned for *const T {
    fn failed(_: &Error) -> Self {
        std::ptr::null()
    }
}

/// The panic boundary of every entry point: run `body`; on `Err` or a panic record the
/// message for `bgcopy_last_error_message` and return the failure value (the error's
/// HRESULT, `E_UNEXPECTED` for a panic).
pub(crate) fn boundary<R: Returned>(body: impl FnOnce() -> Result<R>) -> R {
    let e = match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(v)) => return v,
        Ok(Err(e)) => e,
        Err(payload) => panic_error(payload),
    };
    set_last_error(&e);
    R::failed(&e)
}

fn panic_error(payload: Box<dyn Any + Send>) -> Error {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_string());
    Error::new(
        codes::E_UNEXPECTED,
        format!("internal error, caught at the C boundary: {what}"),
    )
}

/// Record `e` as this thread's last failure.
pub(crate) fn set_last_error(e: &Error) {
    let text = c_string(e.to_string());
    LAST_ERROR.with(|l| *l.borrow_mut() = text);
}

/// This thread's last failure message; valid until the thread's next failure.
pub(crate) fn last_error_ptr() -> *const c_char {
    LAST_ERROR.with(|l| l.borrow().as_ptr())
}

/// A Rust string as a C string; a NUL (impossible in what C passed in) becomes U+FFFD.
pub(crate) fn c_string(s: impl Into<String>) -> CString {
    let s: String = s.into();
    CString::new(s).unwrap_or_else(|e| {
        let fixed = String::from_utf8_lossy(&e.into_vec()).replace('\0', "\u{FFFD}");
        CString::new(fixed).unwrap_or_default()
    })
}

/// A string for C to free with `bgcopy_string_free`.
pub(crate) fn new_string(s: impl Into<String>) -> *mut c_char {
    c_string(s).into_raw()
}

/// A required string argument: NULL or invalid UTF-8 is `E_INVALIDARG`.
///
/// # Safety
/// `p` is NULL or a NUL-terminated string that stays valid for the call.
pub(crate) unsafe fn str_arg<'a>(p: *const c_char, what: &str) -> Result<&'a str> {
    if p.is_null() {
        return Err(Error::invalid_arg(format!("{what} is NULL")));
    }
    // SAFETY: non-NULL, NUL-terminated and valid for the call (the caller's contract).
    let c = unsafe { CStr::from_ptr(p) };
    c.to_str().map_err(|e| {
        Error::invalid_arg(format!(
            "{what} is not valid UTF-8 (bad byte at offset {})",
            e.valid_up_to()
        ))
    })
}

/// An optional string argument: NULL is `None`.
///
/// # Safety
/// As [`str_arg`].
pub(crate) unsafe fn opt_str<'a>(p: *const c_char, what: &str) -> Result<Option<&'a str>> {
    if p.is_null() {
        Ok(None)
    } else {
        // SAFETY: forwarded contract.
        unsafe { str_arg(p, what) }.map(Some)
    }
}

/// An out-pointer, checked for NULL before any work is done and written only on success.
pub(crate) struct Out<T>(NonNull<T>);

impl<T> Out<T> {
    /// # Safety
    /// `p` is NULL or valid and aligned for writing a `T` for the call.
    pub(crate) unsafe fn new(p: *mut T, what: &str) -> Result<Self> {
        NonNull::new(p)
            .map(Out)
            .ok_or_else(|| Error::invalid_arg(format!("the out-pointer {what} is NULL")))
    }

    /// Write the result (the last thing an entry point does).
    pub(crate) fn set(self, value: T) {
        // SAFETY: checked non-NULL in `new`; valid for writes by the caller's contract.
        unsafe { self.0.as_ptr().write(value) }
    }
}

/// An opaque, reference-counted object handed to C as `*mut Self` (an `Arc<Self>`)
/// around a core object. Implemented with [`handle!`].
pub(crate) trait Handle: Sized + Send + Sync + 'static {
    /// The core object behind the handle.
    type Inner;
    /// How messages name a NULL handle of this type.
    const NAME: &'static str;
    /// Wrap a core object.
    fn wrap(inner: Self::Inner) -> Self;
    /// The core object.
    fn inner(&self) -> &Self::Inner;
}

/// `handle!(bgcopy_x, CoreType, "how errors name it")`: the [`Handle`] impl of a
/// handle struct `bgcopy_x { inner: CoreType }` (the struct itself is written out, so
/// that cbindgen declares it).
macro_rules! handle {
    ($c:ident, $inner:ty, $name:literal) => {
        impl $crate::boundary::Handle for $c {
            type Inner = $inner;
            const NAME: &'static str = $name;
            fn wrap(inner: $inner) -> Self {
                $c { inner }
            }
            fn inner(&self) -> &$inner {
                &self.inner
            }
        }
    };
}
pub(crate) use handle;

/// The body of a call on a handle: check it, run `f` on its core object; the HRESULT
/// is S_OK unless `f` fails.
pub(crate) fn call<H: Handle>(h: *mut H, f: impl FnOnce(&H::Inner) -> Result<()>) -> i32 {
    boundary(|| {
        // SAFETY: the C conventions (every handle NULL or live).
        let h = unsafe { arg(h) }?;
        f(h.inner())?;
        Ok(0)
    })
}

/// The body of a getter: check the handle and the out-pointer first, write `*out` on
/// success.
pub(crate) fn get<H: Handle, T>(
    h: *mut H,
    out: *mut T,
    f: impl FnOnce(&H::Inner) -> Result<T>,
) -> i32 {
    boundary(|| {
        // SAFETY: the C conventions (every pointer NULL or valid for the call).
        let (h, out) = unsafe { (arg(h)?, Out::new(out, "out")?) };
        out.set(f(h.inner())?);
        Ok(0)
    })
}

/// The body of `bgcopy_x_add_ref`: one more reference; returns `p` (NULL stays NULL).
pub(crate) fn handle_add_ref<H: Handle>(p: *mut H) -> *mut H {
    let r: *const H = boundary(|| {
        // SAFETY: the C conventions (a handle is NULL or live).
        Ok(unsafe { add_ref(p) }.cast_const())
    });
    r.cast_mut()
}

/// The body of `bgcopy_x_release`: give up one reference (NULL does nothing).
pub(crate) fn handle_release<H: Handle>(p: *mut H) {
    boundary(|| {
        // SAFETY: the C conventions: the caller gives up one reference.
        drop(unsafe { take_handle(p) });
        Ok(())
    })
}

/// A new handle owned by C (one reference).
pub(crate) fn new_handle<T: Handle>(value: T) -> *mut T {
    Arc::into_raw(Arc::new(value)).cast_mut()
}

/// A handle argument: NULL is `E_INVALIDARG`.
///
/// # Safety
/// `p` is NULL or a live handle of type `T` from this library.
pub(crate) unsafe fn arg<'a, T: Handle>(p: *const T) -> Result<&'a T> {
    // SAFETY: a non-NULL pointer is a live handle (the caller's contract).
    unsafe { p.as_ref() }.ok_or_else(|| Error::invalid_arg(format!("{} is NULL", T::NAME)))
}

/// Take back the reference a handle pointer owns (`None` for NULL).
///
/// # Safety
/// `p` is NULL or a live handle whose reference the caller gives up.
pub(crate) unsafe fn take_handle<T: Handle>(p: *const T) -> Option<Arc<T>> {
    // SAFETY: `p` came from `Arc::into_raw` and still owns one reference.
    (!p.is_null()).then(|| unsafe { Arc::from_raw(p) })
}

/// One more reference to a handle; returns it (NULL stays NULL).
///
/// # Safety
/// `p` is NULL or a live handle.
pub(crate) unsafe fn add_ref<T: Handle>(p: *mut T) -> *mut T {
    if !p.is_null() {
        // SAFETY: a live handle is an `Arc` with at least one strong reference.
        unsafe { Arc::increment_strong_count(p.cast_const()) };
    }
    p
}

/// Run `f` with a handle to `value` that C borrows for the call (a callback argument).
/// If C takes its own reference (`_add_ref`) the object lives on.
pub(crate) fn borrowed<T: Handle, R>(value: T, f: impl FnOnce(*mut T) -> R) -> R {
    let h = Arc::new(value);
    f(Arc::as_ptr(&h).cast_mut())
}

/// `n` borrowed strings from `ptrs` (NULL allowed when `n` is 0), for a call.
///
/// # Safety
/// `ptrs` points to `n` C strings (or is NULL with `n` 0).
pub(crate) unsafe fn str_list(
    ptrs: *const *const c_char,
    n: usize,
    what: &str,
) -> Result<Vec<String>> {
    if ptrs.is_null() && n > 0 {
        return Err(Error::invalid_arg(format!(
            "{what} is NULL but its count is not 0"
        )));
    }
    let raw: &[*const c_char] = if n == 0 {
        &[]
    } else {
        // SAFETY: a non-NULL array of `n` strings (the caller's contract).
        unsafe { std::slice::from_raw_parts(ptrs, n) }
    };
    let mut list = Vec::with_capacity(raw.len());
    for (i, a) in raw.iter().enumerate() {
        // SAFETY: the C conventions.
        list.push(unsafe { str_arg(*a, &format!("{what}[{i}]")) }?.to_string());
    }
    Ok(list)
}

/// An owned array of new strings for `bgcopy_string_array_free` (NULL when empty).
pub(crate) fn new_string_array(items: Vec<String>) -> (*mut *mut c_char, usize) {
    let n = items.len();
    if n == 0 {
        return (std::ptr::null_mut(), 0);
    }
    let array: Box<[*mut c_char]> = items.into_iter().map(new_string).collect();
    (Box::into_raw(array).cast::<*mut c_char>(), n)
}

/// An array of new handles for C (NULL when empty), freed with [`free_array`].
pub(crate) fn new_array<T: Handle>(items: Vec<T>) -> (*mut *mut T, usize) {
    if items.is_empty() {
        return (std::ptr::null_mut(), 0);
    }
    let array: Box<[*mut T]> = items.into_iter().map(new_handle).collect();
    let n = array.len();
    (Box::into_raw(array).cast::<*mut T>(), n)
}

/// Release every handle of an array from [`new_array`], then the array.
///
/// # Safety
/// `p` is NULL or an array from [`new_array`] with exactly `n` elements, each a handle
/// the caller still owns.
pub(crate) unsafe fn free_array<T: Handle>(p: *mut *mut T, n: usize) {
    if p.is_null() {
        return;
    }
    // SAFETY: `p` and `n` describe the boxed slice `new_array` leaked.
    let array = unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(p, n)) };
    for &h in array.iter() {
        // SAFETY: each element owns one reference.
        drop(unsafe { take_handle(h.cast_const()) });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_e_unexpected_with_a_message() {
        let hr: i32 = boundary(|| -> Result<i32> { panic!("boom") });
        assert_eq!(hr, codes::E_UNEXPECTED as i32);
        // SAFETY: the pointer is this thread's NUL-terminated message.
        let msg = unsafe { CStr::from_ptr(last_error_ptr()) }
            .to_str()
            .unwrap();
        assert!(msg.starts_with("UNEXPECTED (0x8000FFFF)"), "{msg}");
        assert!(msg.contains("boom"), "{msg}");
        // Functions returning nothing or a pointer are guarded the same way.
        boundary(|| -> Result<()> { panic!("in release") });
        let p: *const c_char = boundary(|| -> Result<*const c_char> { panic!("ptr") });
        assert!(p.is_null());
    }

    #[test]
    fn errors_set_the_thread_message_and_success_keeps_it() {
        let hr: i32 = boundary(|| -> Result<i32> { Err(Error::invalid_state("nope")) });
        assert_eq!(hr, codes::INVALID_STATE as i32);
        let ok: i32 = boundary(|| Ok(0));
        assert_eq!(ok, 0);
        // SAFETY: as above.
        let msg = unsafe { CStr::from_ptr(last_error_ptr()) }
            .to_str()
            .unwrap();
        assert_eq!(msg, "INVALID_STATE (0x80200002): nope");
        // Another thread has its own message.
        std::thread::spawn(|| {
            // SAFETY: as above.
            let m = unsafe { CStr::from_ptr(last_error_ptr()) };
            assert!(m.to_bytes().is_empty());
        })
        .join()
        .unwrap();
    }

    #[test]
    fn strings_are_checked() {
        // SAFETY: NULL and valid C strings.
        unsafe {
            assert_eq!(
                str_arg(std::ptr::null(), "x").unwrap_err().code(),
                codes::E_INVALIDARG
            );
            let bad = c"\xff\xfe";
            assert_eq!(
                str_arg(bad.as_ptr(), "x").unwrap_err().code(),
                codes::E_INVALIDARG
            );
            assert_eq!(str_arg(c"é".as_ptr(), "x").unwrap(), "é");
            assert_eq!(opt_str(std::ptr::null(), "x").unwrap(), None);
        }
        assert_eq!(c_string("a\0b").to_str().unwrap(), "a\u{FFFD}b");
    }
}
