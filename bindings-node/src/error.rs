//! The one error conversion of the addon: a core [`bgcopy::Error`] becomes a thrown JS
//! `Error` with `code` (the docs/spec.md §6 symbol, Node's convention) and `hresult` (the
//! unsigned 32-bit code). Its message is the core's (`INVALID_STATE (0x80200002): …`).

use napi::bindgen_prelude::*;

/// The JS error for a core error, as a napi error that throws exactly that object.
pub(crate) fn to_js(env: &Env, e: &bgcopy::Error) -> Error {
    build(env, e).unwrap_or_else(|fallback| fallback)
}

fn build(env: &Env, e: &bgcopy::Error) -> Result<Error> {
    let mut obj = env.create_error(Error::new(Status::GenericFailure, e.to_string()))?;
    obj.set_named_property("code", e.symbol())?;
    obj.set_named_property("hresult", e.code())?;
    Ok(Error::from(obj.to_unknown()))
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
