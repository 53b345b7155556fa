//! Argument conversions. Every parameter of the addon arrives as an untyped JS value
//! (`Unknown`; the TypeScript type is declared with `ts_arg_type`) and is converted
//! here, so that every bad value throws `INVALID_ARG` (docs/spec.md §5) instead of a napi
//! status error or a silent coercion (napi's own `u32` conversion wraps `-1` to
//! 4294967295 and truncates `1.5`; its string conversion replaces lone surrogates).

use crate::error::{OrThrow, invalid_arg};
use napi::bindgen_prelude::*;
use std::time::Duration;

/// How a value is named in messages: `undefined`, `null`, `a number (1.5)`, …
fn describe(v: &Unknown) -> String {
    match v.get_type() {
        Ok(ValueType::Undefined) => "undefined".into(),
        Ok(ValueType::Null) => "null".into(),
        Ok(ValueType::Number) => match v.coerce_to_number().and_then(|n| n.get_double()) {
            Ok(n) => format!("the number {n}"),
            Err(_) => "a number".into(),
        },
        Ok(ValueType::String) => "a string".into(),
        Ok(ValueType::Boolean) => "a boolean".into(),
        Ok(ValueType::BigInt) => "a bigint".into(),
        Ok(ValueType::Symbol) => "a symbol".into(),
        Ok(ValueType::Function) => "a function".into(),
        Ok(ValueType::Object) => "an object".into(),
        _ => "an unsupported value".into(),
    }
}

/// `undefined` or `null`.
pub(crate) fn is_nullish(v: &Unknown) -> bool {
    matches!(v.get_type(), Ok(ValueType::Undefined) | Ok(ValueType::Null))
}

/// A string of valid Unicode (no lone surrogates). NUL and length limits are the
/// core's checks.
pub(crate) fn string(env: &Env, v: Unknown, what: &str) -> Result<String> {
    if v.get_type()? != ValueType::String {
        return Err(invalid_arg(
            env,
            format!("{what} must be a string, not {}", describe(&v)),
        ));
    }
    let s: napi::JsString = unsafe { v.cast() }?;
    let utf16 = s.into_utf16()?;
    // `as_str` drops the NUL terminator napi writes and refuses lone surrogates.
    utf16.as_str().map_err(|_| {
        invalid_arg(
            env,
            format!("{what} is not valid Unicode: it contains a lone surrogate"),
        )
    })
}

/// A string, or `None` for `undefined`/`null`.
pub(crate) fn opt_string(env: &Env, v: Option<Unknown>, what: &str) -> Result<Option<String>> {
    match v {
        Some(v) if !is_nullish(&v) => string(env, v, what).map(Some),
        _ => Ok(None),
    }
}

/// A JS number (not NaN).
fn number(env: &Env, v: &Unknown, what: &str) -> Result<f64> {
    if v.get_type()? != ValueType::Number {
        return Err(invalid_arg(
            env,
            format!("{what} must be a number, not {}", describe(v)),
        ));
    }
    let n = v.coerce_to_number()?.get_double()?;
    if n.is_nan() {
        return Err(invalid_arg(
            env,
            format!("{what} must be a number, not NaN"),
        ));
    }
    Ok(n)
}

/// An integer in `min..=max` given as a JS number.
pub(crate) fn integer(env: &Env, v: &Unknown, what: &str, min: f64, max: f64) -> Result<f64> {
    let n = number(env, v, what)?;
    if n.fract() != 0.0 || n < min || n > max {
        return Err(invalid_arg(
            env,
            format!("{what} must be an integer from {min} to {max}, not {n}"),
        ));
    }
    Ok(n)
}

/// A `u32` (0 to 4294967295) given as a JS number.
pub(crate) fn uint32(env: &Env, v: Unknown, what: &str) -> Result<u32> {
    integer(env, &v, what, 0.0, u32::MAX as f64).map(|n| n as u32)
}

/// A contract enum value given as its number (`Priority.High`, or `1`); `from` is the
/// core's `try_from_number` of the enum (which checks the range).
pub(crate) fn enum_value<T>(
    env: &Env,
    v: Unknown,
    what: &str,
    from: impl FnOnce(&str, i64) -> bgcopy::Result<T>,
) -> Result<T> {
    const SAFE: f64 = 9_007_199_254_740_991.0; // Number.MAX_SAFE_INTEGER
    let n = integer(env, &v, what, -SAFE, SAFE)?;
    from(what, n as i64).or_throw(env)
}

/// A timeout in milliseconds: `undefined`/`null` = none (forever), else the core's
/// rule (`bgcopy::timeout_from_f64`: `Infinity` is forever, fractions round up).
pub(crate) fn timeout_ms(env: &Env, v: Option<Unknown>, what: &str) -> Result<Option<Duration>> {
    let Some(v) = v.filter(|v| !is_nullish(v)) else {
        return Ok(None);
    };
    let n = number(env, &v, what)?;
    bgcopy::timeout_from_f64(what, n, Duration::from_millis(1)).or_throw(env)
}

/// An object (not `null`, not a function), for option bags and callback objects.
pub(crate) fn object<'e>(env: &Env, v: Unknown<'e>, what: &str) -> Result<Object<'e>> {
    match v.get_type()? {
        ValueType::Object => unsafe { v.cast() },
        _ => Err(invalid_arg(
            env,
            format!("{what} must be an object, not {}", describe(&v)),
        )),
    }
}

/// An array, as its elements.
pub(crate) fn array<'e>(env: &Env, v: Unknown<'e>, what: &str) -> Result<Vec<Unknown<'e>>> {
    if v.get_type()? != ValueType::Object || !v.is_array()? {
        return Err(invalid_arg(
            env,
            format!("{what} must be an array, not {}", describe(&v)),
        ));
    }
    let arr: Object = unsafe { v.cast() }?;
    let len = arr.get_array_length()?;
    (0..len).map(|i| arr.get_element::<Unknown>(i)).collect()
}

/// An array of strings.
pub(crate) fn strings(env: &Env, v: Unknown, what: &str) -> Result<Vec<String>> {
    array(env, v, what)?
        .into_iter()
        .enumerate()
        .map(|(i, s)| string(env, s, &format!("{what}[{i}]")))
        .collect()
}

/// A boolean.
pub(crate) fn boolean(env: &Env, v: &Unknown, what: &str) -> Result<bool> {
    if v.get_type()? != ValueType::Boolean {
        return Err(invalid_arg(
            env,
            format!("{what} must be a boolean, not {}", describe(v)),
        ));
    }
    v.coerce_to_bool()
}

/// `[[remoteUrl, localPath], …]` as (remote, local) pairs.
pub(crate) fn file_pairs(env: &Env, files: Unknown, what: &str) -> Result<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    for (i, pair) in array(env, files, what)?.into_iter().enumerate() {
        let pair = array(env, pair, &format!("{what}[{i}]"))?;
        let [remote, local] = <[Unknown; 2]>::try_from(pair).map_err(|_| {
            invalid_arg(
                env,
                format!("{what}[{i}] must be a pair [remoteUrl, localPath]"),
            )
        })?;
        pairs.push((
            string(env, remote, &format!("{what}[{i}][0]"))?,
            string(env, local, &format!("{what}[{i}][1]"))?,
        ));
    }
    Ok(pairs)
}
