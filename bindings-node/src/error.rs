//! The one error conversion of the addon: a core [`bgcopy::Error`] becomes a thrown JS
//! `Error` named `BgCopyError` with `code` (the symbol, Node's convention), `hresult`
//! (the unsigned 32-bit code), `kind` (the core's `ErrorKind` name) and `status` (an
//! HTTP error's status, else `null`). Its message is the core's
//! (`INVALID_STATE (0x80200002): …`). `instanceof BgCopyError` / `HttpError` / … hold
//! (index.js).

use napi::bindgen_prelude::*;

/// The JS error for a core error, as a napi error that throws exactly that object.
pub(crate) fn to_js(env: &Env, e: &bgcopy::Error) -> Error {
    build(env, e).unwrap_or_else(|fallback| fallback)
}

fn build(env: &Env, e: &bgcopy::Error) -> Result<Error> {
    Ok(Error::from(object(env, e)?))
}

/// The JS error object for a core error (what [`to_js`] throws).
pub(crate) fn object<'e>(env: &'e Env, e: &bgcopy::Error) -> Result<Unknown<'e>> {
    let mut obj = env.create_error(Error::new(Status::GenericFailure, e.to_string()))?;
    // `name` makes stacks read `BgCopyError: HTTP_404 (0x80190194): …`; the classes of
    // index.js (`BgCopyError`, `HttpError`, …) recognise it by `hresult` and `kind`.
    obj.set_named_property("name", "BgCopyError")?;
    obj.set_named_property("code", e.symbol())?;
    obj.set_named_property("hresult", e.code())?;
    obj.set_named_property("kind", e.kind().name())?;
    obj.set_named_property("status", e.http_status().map(u32::from))?;
    Ok(obj.to_unknown())
}

/// E_INVALIDARG (`code` `'INVALID_ARG'`) with a message.
pub(crate) fn invalid_arg(env: &Env, message: impl Into<String>) -> Error {
    to_js(env, &bgcopy::Error::invalid_arg(message))
}

/// `.or_throw(env)`: a core result as a napi result that throws the bgcopy error.
pub(crate) trait OrThrow<T> {
    fn or_throw(self, env: &Env) -> Result<T>;
}

impl<T> OrThrow<T> for bgcopy::Result<T> {
    fn or_throw(self, env: &Env) -> Result<T> {
        self.map_err(|e| to_js(env, &e))
    }
}
