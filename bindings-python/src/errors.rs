//! The one error conversion: a core [`bgcopy::Error`] (or a bad argument found here)
//! becomes the `bgcopy.BgCopyError` subclass for its code, built by
//! `bgcopy._types._make_error`, carrying `.code` and `.symbol`.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyList;

static MAKE_ERROR: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// The exception for `code` with `message`; `type_error` picks `InvalidArgTypeError`.
pub fn make(py: Python<'_>, code: u32, message: &str, type_error: bool) -> PyErr {
    build(
        py,
        code,
        message,
        type_error,
        bgcopy::ErrorKind::of(code, None),
    )
}

/// The exception for `code` of `kind` (the core's table: the class for a code the
/// exceptions do not name, e.g. `HttpError`, `NetworkError`).
fn build(
    py: Python<'_>,
    code: u32,
    message: &str,
    type_error: bool,
    kind: bgcopy::ErrorKind,
) -> PyErr {
    let built = MAKE_ERROR
        .import(py, "bgcopy._types", "_make_error")
        .and_then(|f| {
            f.call1((
                code,
                bgcopy::codes::symbol(code),
                message,
                type_error,
                kind.name(),
                bgcopy::codes::http_status(code),
            ))
        });
    match built {
        Ok(exc) => PyErr::from_value(exc),
        Err(e) => e,
    }
}

/// A core error as a Python exception.
pub fn core(py: Python<'_>, e: &bgcopy::Error) -> PyErr {
    build(py, e.code(), e.message(), false, e.kind())
}

/// E_INVALIDARG: `InvalidArgError` (a `ValueError`).
pub fn invalid_arg(py: Python<'_>, message: impl AsRef<str>) -> PyErr {
    make(py, bgcopy::codes::E_INVALIDARG, message.as_ref(), false)
}

/// E_INVALIDARG for a wrong type: `InvalidArgTypeError` (also a `TypeError`).
pub fn wrong_type(py: Python<'_>, message: impl AsRef<str>) -> PyErr {
    make(py, bgcopy::codes::E_INVALIDARG, message.as_ref(), true)
}

/// `.or_raise(py)` on a core result.
pub trait OrRaise<T> {
    /// The value, or the error as a Python exception.
    fn or_raise(self, py: Python<'_>) -> PyResult<T>;
}

impl<T> OrRaise<T> for bgcopy::Result<T> {
    #[inline]
    fn or_raise(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| core(py, &e))
    }
}

/// The core's `codes::symbol`, for `bgcopy.codes.symbol`.
#[pyfunction]
#[pyo3(name = "_code_symbol")]
pub fn code_symbol(code: u32) -> String {
    bgcopy::codes::symbol(code)
}

/// The core's `codes::from_symbol`, for `bgcopy.codes.from_symbol`.
#[pyfunction]
#[pyo3(name = "_code_from_symbol")]
pub fn code_from_symbol(name: &str) -> Option<u32> {
    bgcopy::codes::from_symbol(name)
}

/// Every named code of the core with its symbol: `[(code, symbol)]` (for the tests
/// that keep `bgcopy.codes` in step with the core).
#[pyfunction]
#[pyo3(name = "_code_table")]
pub fn code_table(py: Python<'_>) -> PyResult<Bound<'_, PyList>> {
    let rows: Vec<(u32, String)> = bgcopy::codes::ALL
        .iter()
        .map(|&c| (c, bgcopy::codes::symbol(c)))
        .collect();
    PyList::new(py, rows)
}
