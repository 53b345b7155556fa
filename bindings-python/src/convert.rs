//! Conversions between Python values and the core's: the cached enum members of
//! `bgcopy._types`, and argument checks that turn bad input into `InvalidArgError`
//! (never a crash, never pyo3's generic `TypeError`).

use crate::errors::{OrRaise, invalid_arg, wrong_type};
use bgcopy::{ErrorContext, EventKind, JobState, JobType, Priority};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyBytes, PyFloat, PyInt, PyString};
use std::time::Duration;

/// The Python objects the extension hands out, built once.
pub struct Values {
    state: Vec<Py<PyAny>>,
    priority: Vec<Py<PyAny>>,
    job_type: Vec<Py<PyAny>>,
    context: Vec<Py<PyAny>>,
    event_kind: Vec<Py<PyAny>>,
    proxy_usage: Vec<Py<PyAny>>,
    /// `NotifyFlags(n)` for every n in 0..=0x1F.
    flags: Vec<Py<PyAny>>,
    completion_all: Py<PyAny>,
    completion_partial: Py<PyAny>,
    /// `_types._from_ms`: milliseconds → aware UTC datetime.
    pub from_ms: Py<PyAny>,
    /// `_types._resolve_future`.
    pub resolve_future: Py<PyAny>,
}

static VALUES: PyOnceLock<Values> = PyOnceLock::new();

fn members(module: &Bound<'_, PyModule>, class: &str, n: u32) -> PyResult<Vec<Py<PyAny>>> {
    let cls = module.getattr(class)?;
    (0..n).map(|i| cls.call1((i,)).map(Bound::unbind)).collect()
}

/// The cached values (imports `bgcopy._types` on first use).
pub fn values(py: Python<'_>) -> PyResult<&Values> {
    VALUES.get_or_try_init(py, || {
        let m = py.import("bgcopy._types")?;
        let completion = m.getattr("Completion")?;
        Ok(Values {
            state: members(&m, "JobState", JobState::ALL.len() as u32)?,
            priority: members(&m, "Priority", Priority::ALL.len() as u32)?,
            job_type: members(&m, "JobType", JobType::ALL.len() as u32)?,
            context: members(&m, "ErrorContext", ErrorContext::ALL.len() as u32)?,
            event_kind: members(&m, "EventKind", EventKind::ALL.len() as u32)?,
            proxy_usage: members(&m, "ProxyUsage", bgcopy::ProxyUsage::ALL.len() as u32)?,
            flags: members(&m, "NotifyFlags", bgcopy::notify::ALL + 1)?,
            completion_all: completion.call1((bgcopy::codes::S_OK,))?.unbind(),
            completion_partial: completion
                .call1((bgcopy::codes::PARTIAL_COMPLETE,))?
                .unbind(),
            from_ms: m.getattr("_from_ms")?.unbind(),
            resolve_future: m.getattr("_resolve_future")?.unbind(),
        })
    })
}

/// `JobState.X`.
pub fn state(py: Python<'_>, s: JobState) -> PyResult<Py<PyAny>> {
    Ok(values(py)?.state[s as usize].clone_ref(py))
}

/// `Priority.X`.
pub fn priority(py: Python<'_>, p: Priority) -> PyResult<Py<PyAny>> {
    Ok(values(py)?.priority[p as usize].clone_ref(py))
}

/// `ProxyUsage.X`.
pub fn proxy_usage_value(py: Python<'_>, u: bgcopy::ProxyUsage) -> PyResult<Py<PyAny>> {
    Ok(values(py)?.proxy_usage[u as usize].clone_ref(py))
}

/// A `ProxyUsage` (or its int value).
pub fn proxy_usage(obj: &Bound<'_, PyAny>) -> PyResult<bgcopy::ProxyUsage> {
    bgcopy::ProxyUsage::try_from_number("usage", uint(obj, "usage", u64::MAX)?).or_raise(obj.py())
}

/// `JobType.X`.
pub fn job_type(py: Python<'_>, t: JobType) -> PyResult<Py<PyAny>> {
    Ok(values(py)?.job_type[t as usize].clone_ref(py))
}

/// `ErrorContext.X`.
pub fn context(py: Python<'_>, c: ErrorContext) -> PyResult<Py<PyAny>> {
    Ok(values(py)?.context[c as usize].clone_ref(py))
}

/// `EventKind.X`.
pub fn event_kind(py: Python<'_>, k: EventKind) -> PyResult<Py<PyAny>> {
    Ok(values(py)?.event_kind[k as usize].clone_ref(py))
}

/// `NotifyFlags(bits)`.
pub fn flags(py: Python<'_>, bits: u32) -> PyResult<Py<PyAny>> {
    let v = values(py)?;
    match v.flags.get(bits as usize) {
        Some(f) => Ok(f.clone_ref(py)),
        None => Ok(bits.into_pyobject(py)?.into_any().unbind()),
    }
}

/// `Completion.ALL` / `Completion.PARTIAL`.
pub fn completion(py: Python<'_>, c: bgcopy::Completion) -> PyResult<Py<PyAny>> {
    let v = values(py)?;
    Ok(match c {
        bgcopy::Completion::All => v.completion_all.clone_ref(py),
        bgcopy::Completion::Partial => v.completion_partial.clone_ref(py),
    })
}

/// An aware UTC datetime for milliseconds since the epoch.
pub fn datetime(py: Python<'_>, ms: i64) -> PyResult<Py<PyAny>> {
    Ok(values(py)?.from_ms.bind(py).call1((ms,))?.unbind())
}

/// The type name of `obj`, for messages.
pub fn type_name(obj: &Bound<'_, PyAny>) -> String {
    if obj.is_none() {
        return "None".to_string();
    }
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".to_string())
}

fn describe(obj: &Bound<'_, PyAny>) -> String {
    obj.repr()
        .map(|r| {
            let s = r.to_string();
            if s.chars().count() > 60 {
                format!("{}…", s.chars().take(60).collect::<String>())
            } else {
                s
            }
        })
        .unwrap_or_else(|_| type_name(obj))
}

/// A sequence of `str` (not a `str` itself, which would be a sequence of letters).
pub fn strings(py: Python<'_>, obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<String>> {
    if obj.is_instance_of::<PyString>() {
        return Err(wrong_type(
            py,
            format!("{what} must be a sequence of str, not a str"),
        ));
    }
    let it = obj.try_iter().map_err(|_| {
        wrong_type(
            py,
            format!("{what} must be a sequence of str, not {}", type_name(obj)),
        )
    })?;
    it.enumerate()
        .map(|(i, a)| string(&a?, &format!("{what}[{i}]")))
        .collect()
}

/// A `str` argument (UTF-8; NUL and length are checked by the core).
pub fn string(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<String> {
    let py = obj.py();
    match obj.cast::<PyString>() {
        Ok(s) => s.to_cow().map(|c| c.into_owned()).map_err(|_| {
            invalid_arg(
                py,
                format!("{what} is not valid Unicode text (it contains a lone surrogate)"),
            )
        }),
        Err(_) => Err(wrong_type(
            py,
            format!("{what} must be a str, not {}", type_name(obj)),
        )),
    }
}

/// A path argument: `str`, UTF-8 `bytes`, or an `os.PathLike` of either.
pub fn path(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<String> {
    let py = obj.py();
    if obj.is_instance_of::<PyString>() {
        return string(obj, what);
    }
    if let Ok(b) = obj.cast::<PyBytes>() {
        return std::str::from_utf8(b.as_bytes())
            .map(str::to_string)
            .map_err(|_| invalid_arg(py, format!("{what} is not valid UTF-8")));
    }
    if !obj.is_none() && obj.hasattr("__fspath__").unwrap_or(false) {
        let p = py.import("os")?.call_method1("fspath", (obj,))?;
        if p.is_instance_of::<PyString>() || p.is_instance_of::<PyBytes>() {
            return path(&p, what);
        }
    }
    Err(wrong_type(
        py,
        format!(
            "{what} must be a str or os.PathLike, not {}",
            type_name(obj)
        ),
    ))
}

/// A whole number in `0..=max` (a `bool` is refused; `IntEnum`/`IntFlag` members are ints).
pub fn uint(obj: &Bound<'_, PyAny>, what: &str, max: u64) -> PyResult<u64> {
    let py = obj.py();
    if obj.is_instance_of::<PyBool>() || !obj.is_instance_of::<PyInt>() {
        return Err(wrong_type(
            py,
            format!("{what} must be an int, not {}", type_name(obj)),
        ));
    }
    match obj.extract::<u64>() {
        Ok(v) if v <= max => Ok(v),
        _ => Err(invalid_arg(
            py,
            format!(
                "{what} must be an integer from 0 to {max}, not {}",
                describe(obj)
            ),
        )),
    }
}

/// A `u32` argument.
pub fn u32_arg(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<u32> {
    uint(obj, what, u32::MAX as u64).map(|v| v as u32)
}

/// A `bool` argument (only `True`/`False`).
pub fn boolean(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<bool> {
    match obj.cast::<PyBool>() {
        Ok(b) => Ok(b.is_true()),
        Err(_) => Err(wrong_type(
            obj.py(),
            format!("{what} must be a bool, not {}", type_name(obj)),
        )),
    }
}

/// `uuid.UUID`, imported once.
pub fn uuid_class(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    static UUID: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    UUID.get_or_try_init(py, || py.import("uuid")?.getattr("UUID").map(Bound::unbind))
        .map(|c| c.bind(py))
}

/// A job id: its text, or a `uuid.UUID` taken as its text.
pub fn job_id(obj: &Bound<'_, PyAny>) -> PyResult<String> {
    if obj.is_instance(uuid_class(obj.py())?)? {
        return Ok(obj.str()?.to_string());
    }
    string(obj, "job_id")
}

/// The seconds of `obj` if it is a `datetime.timedelta` (`total_seconds()`).
fn timedelta_seconds(obj: &Bound<'_, PyAny>) -> PyResult<Option<f64>> {
    static TIMEDELTA: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let py = obj.py();
    let cls = TIMEDELTA.get_or_try_init(py, || {
        py.import("datetime")?
            .getattr("timedelta")
            .map(Bound::unbind)
    })?;
    if !obj.is_instance(cls.bind(py))? {
        return Ok(None);
    }
    obj.call_method0("total_seconds")?.extract().map(Some)
}

/// A number of seconds (int, float or `datetime.timedelta`, ≥ 0, not NaN); `inf` gives
/// `None` when `allow_forever`, else it is refused.
pub fn seconds(
    obj: &Bound<'_, PyAny>,
    what: &str,
    allow_forever: bool,
) -> PyResult<Option<Duration>> {
    let py = obj.py();
    if let Some(v) = timedelta_seconds(obj)? {
        return match bgcopy::timeout_from_f64(what, v, Duration::from_secs(1)) {
            Ok(Some(t)) => Ok(Some(t)),
            _ => Err(invalid_arg(
                py,
                format!("{what} must be a duration ≥ 0, not {}", describe(obj)),
            )),
        };
    }
    if obj.is_instance_of::<PyBool>()
        || !(obj.is_instance_of::<PyInt>() || obj.is_instance_of::<PyFloat>())
    {
        return Err(wrong_type(
            py,
            format!(
                "{what} must be a number of seconds (int, float or timedelta), not {}",
                type_name(obj)
            ),
        ));
    }
    let bad = || {
        invalid_arg(
            py,
            format!(
                "{what} must be a number of seconds ≥ 0{}, not {}",
                if allow_forever { " (or None)" } else { "" },
                describe(obj)
            ),
        )
    };
    let v: f64 = obj.extract().map_err(|_| bad())?;
    // The core's rule (NaN and negatives refused, infinity = no timeout).
    match bgcopy::timeout_from_f64(what, v, Duration::from_secs(1)) {
        Ok(None) if !allow_forever => Err(bad()),
        Ok(t) => Ok(t),
        Err(_) => Err(bad()),
    }
}

/// Whole seconds as a `u32`: an int, or a `datetime.timedelta` of whole seconds.
pub fn whole_seconds(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<u32> {
    if let Some(v) = timedelta_seconds(obj)? {
        if v.fract() != 0.0 || !(0.0..=u32::MAX as f64).contains(&v) {
            return Err(invalid_arg(
                obj.py(),
                format!(
                    "{what} must be whole seconds from 0 to {}, not {}",
                    u32::MAX,
                    describe(obj)
                ),
            ));
        }
        return Ok(v as u32);
    }
    u32_arg(obj, what)
}

/// A `Priority` (or its int value).
pub fn priority_arg(obj: &Bound<'_, PyAny>) -> PyResult<Priority> {
    Priority::try_from_number("priority", uint(obj, "priority", u64::MAX)?).or_raise(obj.py())
}

/// An `AuthTarget` (or its int value).
pub fn auth_target(obj: &Bound<'_, PyAny>) -> PyResult<bgcopy::AuthTarget> {
    bgcopy::AuthTarget::try_from_number("target", uint(obj, "target", u64::MAX)?).or_raise(obj.py())
}

/// An `AuthScheme` (or its int value).
pub fn auth_scheme(obj: &Bound<'_, PyAny>) -> PyResult<bgcopy::AuthScheme> {
    bgcopy::AuthScheme::try_from_number("scheme", uint(obj, "scheme", u64::MAX)?).or_raise(obj.py())
}

/// A `JobType` (or its int value).
pub fn job_type_arg(obj: &Bound<'_, PyAny>) -> PyResult<JobType> {
    JobType::try_from_number("job_type", uint(obj, "job_type", u64::MAX)?).or_raise(obj.py())
}

/// `repr()` of a Python `str` (for `__repr__` methods).
pub fn str_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// `files` as (remote URL, local path) pairs: an iterable of 2-item iterables (not
/// strings); TypeError naming the bad item otherwise.
pub fn file_pairs(py: Python<'_>, files: &Bound<'_, PyAny>) -> PyResult<Vec<(String, String)>> {
    let not_pairs = || {
        wrong_type(
            py,
            format!(
                "files must be an iterable of (remote_url, local_path) pairs, not {}",
                type_name(files)
            ),
        )
    };
    if files.is_none() || files.is_instance_of::<PyString>() {
        return Err(not_pairs());
    }
    let mut pairs = Vec::new();
    for (i, item) in files.try_iter().map_err(|_| not_pairs())?.enumerate() {
        let item = item?;
        let pair: Vec<Bound<'_, PyAny>> = if item.is_instance_of::<PyString>() {
            Vec::new()
        } else {
            match item.try_iter() {
                Ok(it) => it.collect::<PyResult<_>>()?,
                Err(_) => Vec::new(),
            }
        };
        if pair.len() != 2 {
            return Err(wrong_type(
                py,
                format!(
                    "files[{i}] must be a (remote_url, local_path) pair, not {}",
                    type_name(&item)
                ),
            ));
        }
        pairs.push((
            string(&pair[0], &format!("files[{i}] remote_url"))?,
            path(&pair[1], &format!("files[{i}] local_path"))?,
        ));
    }
    Ok(pairs)
}
