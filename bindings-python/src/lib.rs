//! `bgcopy._bgcopy`: the pyo3 extension behind `import bgcopy`.
//!
//! A forward plus conversions: every method calls the Rust core (`bgcopy`) once and
//! converts its arguments, result and error. The enums, exceptions and result codes
//! are plain Python (`python/bgcopy/_types.py`); this module builds them through
//! cached references ([`convert`]). Threading rules (where the GIL is released, how
//! callbacks reach Python, what happens after `fork()`) are in `bindings-python/README.md`.

use pyo3::prelude::*;

mod callback;
mod convert;
mod errors;
mod handles;
mod idioms;
mod logs;
mod manager;
mod values;

/// The default state directory: `$BGCOPY_STATE_DIR`, else `$XDG_DATA_HOME/bgcopy`,
/// else `~/.local/share/bgcopy` (macOS: `~/Library/Application Support/bgcopy`).
#[pyfunction]
fn default_state_dir(py: Python<'_>) -> PyResult<std::path::PathBuf> {
    bgcopy::default_state_dir().map_err(|e| errors::core(py, &e))
}

/// The module.
#[pymodule]
#[pyo3(name = "_bgcopy")]
fn bgcopy_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<manager::PyCopyManager>()?;
    m.add_class::<handles::PyCopyJob>()?;
    m.add_class::<handles::PyCopyFile>()?;
    m.add_class::<handles::PyCopyError>()?;
    m.add_class::<values::PyJobProgress>()?;
    m.add_class::<values::PyFileProgress>()?;
    m.add_class::<values::PyJobTimes>()?;
    m.add_class::<values::PyEvent>()?;
    m.add_class::<idioms::PyJobEvent>()?;
    m.add_class::<idioms::PyJobEvents>()?;
    m.add_function(wrap_pyfunction!(idioms::download, m)?)?;
    m.add_function(wrap_pyfunction!(idioms::error_kind, m)?)?;
    m.add_function(wrap_pyfunction!(default_state_dir, m)?)?;
    m.add_function(wrap_pyfunction!(manager::close_all, m)?)?;
    m.add_function(wrap_pyfunction!(manager::bench_create_jobs, m)?)?;
    m.add_function(wrap_pyfunction!(handles::bench_get_progress, m)?)?;
    m.add_function(wrap_pyfunction!(errors::code_table, m)?)?;
    m.add_function(wrap_pyfunction!(errors::code_symbol, m)?)?;
    m.add_function(wrap_pyfunction!(logs::log_take, m)?)?;
    m.add_function(wrap_pyfunction!(logs::log_level, m)?)?;
    m.add_function(wrap_pyfunction!(logs::log_close, m)?)?;
    m.add_function(wrap_pyfunction!(logs::log_after_fork, m)?)?;
    m.add_function(wrap_pyfunction!(errors::code_from_symbol, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
