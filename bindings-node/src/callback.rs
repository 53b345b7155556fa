//! Notification handlers (docs/spec.md §3) on the JS thread.
//!
//! The core calls [`bgcopy::CopyCallback`] on its notification thread and wants to know
//! whether the delivery worked. JS code can only run on the JS thread, so each call
//! is handed over through a ThreadsafeFunction, and the notification thread waits on
//! a channel until the handler has returned (or, when it returned a promise, until
//! that promise settled). A handler that throws or rejects is reported with
//! `process.emitWarning` and counts as a failed delivery; the core then delivers
//! TRANSFERRED / ERROR again after the job's minimum retry delay.
//!
//! Blocking the notification thread is safe because the JS thread never waits for it
//! while the wait is on: JS calls into the core are short, `wait()` runs off the JS
//! thread, and the only core call that joins the notification thread, closing the
//! manager, first raises `closing`, which makes the wait give up within
//! [`POLL`]. The wait also gives up when the ThreadsafeFunction is gone (the JS
//! environment is shutting down) and after [`HANDLER_TIMEOUT`] (a JS thread blocked
//! that long): a failed delivery, offered again later.
//!
//! Keeping the process alive: the ThreadsafeFunction is referenced (it keeps Node's
//! event loop alive) for as long as the core holds the handlers. The core releases
//! them when the job reaches ACKNOWLEDGED or CANCELLED (after the one modification
//! that reports it), when they are replaced or cleared, and when the manager closes;
//! then the ThreadsafeFunction is released and a script that finished exits.

use crate::args;
use crate::error::invalid_arg;
use crate::job::{CopyError, CopyFile, CopyJob};
use crate::manager::Mgr;
use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{RecvTimeoutError, SyncSender, sync_channel};
use std::time::{Duration, Instant};

/// How often a waiting notification checks whether it should give up.
const POLL: Duration = Duration::from_millis(20);

/// A handler (or its promise) running longer than this counts as a failed delivery.
const HANDLER_TIMEOUT: Duration = Duration::from_secs(60);

/// The four methods of a callback object, as JS spells them.
const METHODS: [&str; 4] = [
    "jobTransferred",
    "jobError",
    "jobModification",
    "fileTransferred",
];

/// What a delivery carries to the JS thread.
enum Event {
    Transferred,
    Error(bgcopy::CopyError),
    Modification,
    File(bgcopy::CopyFile),
}

impl Event {
    fn method(&self) -> &'static str {
        match self {
            Event::Transferred => METHODS[0],
            Event::Error(_) => METHODS[1],
            Event::Modification => METHODS[2],
            Event::File(_) => METHODS[3],
        }
    }
}

type Outcome = std::result::Result<(), String>;

/// A `then` reaction created from a Rust closure.
type Settle<'e> = Function<'e, Unknown<'e>, ()>;

/// The JS function behind the ThreadsafeFunction: a native `function () { return this }`
/// bound to the callback object, so that each call hands the object to the Rust side
/// on the JS thread, and the ThreadsafeFunction keeps it alive.
type ObjectTsfn = ThreadsafeFunction<(), This, (), Status, false>;

/// The `this` of a call, passed through untouched (a raw handle valid for the call).
struct This(napi::sys::napi_value);

impl FromNapiValue for This {
    unsafe fn from_napi_value(_env: napi::sys::napi_env, v: napi::sys::napi_value) -> Result<Self> {
        Ok(This(v))
    }
}

impl ToNapiValue for This {
    unsafe fn to_napi_value(_env: napi::sys::napi_env, v: Self) -> Result<napi::sys::napi_value> {
        Ok(v.0)
    }
}

/// A JS callback object set with `setNotifyInterface`.
pub(crate) struct JsCallback {
    tsfn: ObjectTsfn,
    /// The same bound function, to return the object from `getNotifyInterface()`. A
    /// `FunctionRef` may be dropped on any thread (napi routes the release to the JS
    /// thread).
    object: FunctionRef<(), This>,
    /// The manager stays open while a job holds handlers (a script may have dropped
    /// every handle of it): this reference is let go of with the handlers, when the
    /// job is final, the handlers are replaced or the manager closes.
    mgr: Arc<Mgr>,
    closing: Arc<AtomicBool>,
}

impl JsCallback {
    /// Wrap a JS object; its handler properties, where present, must be functions.
    pub(crate) fn new(env: &Env, v: Unknown, mgr: &Arc<Mgr>) -> Result<Arc<JsCallback>> {
        let obj = args::object(env, v, "callback")?;
        for m in METHODS {
            let f: Unknown = obj.get_named_property(m)?;
            if !args::is_nullish(&f) && f.get_type()? != ValueType::Function {
                return Err(invalid_arg(
                    env,
                    format!("callback.{m} must be a function (or left out)"),
                ));
            }
        }
        let identity: Function<(), This> =
            env.create_function_from_closure("bgcopyCallbackObject", |ctx| ctx.this::<This>())?;
        let bound = identity.bind(obj)?;
        let tsfn = bound
            .build_threadsafe_function::<()>()
            .callee_handled::<false>()
            .build_callback(|_ctx| Ok(()))?;
        Ok(Arc::new(JsCallback {
            tsfn,
            object: bound.create_ref()?,
            mgr: mgr.clone(),
            closing: mgr.closing.clone(),
        }))
    }

    /// Whether the core's callback is this one.
    /// The JS object (on the JS thread).
    pub(crate) fn object<'e>(&self, env: &'e Env) -> Result<Unknown<'e>> {
        let obj = self.object.borrow_back(env)?.call(())?;
        Ok(unsafe { Unknown::from_raw_unchecked(env.raw(), obj.0) })
    }

    /// Run one delivery on the JS thread and wait for its outcome (on the core's
    /// notification thread).
    fn deliver(&self, job: &bgcopy::CopyJob, event: Event) -> Outcome {
        if self.closing.load(Ordering::SeqCst) {
            return Err("the manager is closing".into());
        }
        let (tx, rx) = sync_channel::<Outcome>(1);
        let job = job.clone();
        let mgr = self.mgr.clone();
        let closing = self.closing.clone();
        let status = self.tsfn.call_with_return_value(
            (),
            ThreadsafeFunctionCallMode::NonBlocking,
            move |obj, env| {
                // Never return an error from here, nor leave an exception pending:
                // napi would raise it as an uncaught exception.
                let obj = obj.map(|o| unsafe { Unknown::from_raw_unchecked(env.raw(), o.0) });
                let r = on_js_thread(&env, obj, mgr, &closing, job, event, &tx);
                let pending = take_exception(&env);
                match r {
                    Ok(Some(outcome)) => {
                        let _ = tx.try_send(outcome);
                    }
                    Ok(None) => {} // a promise: its settlement sends
                    Err(e) => {
                        let text = match pending {
                            Some(thrown) => format!("delivery failed: {}", describe_error(&thrown)),
                            None => format!("delivery failed: {e}"),
                        };
                        warn(&env, &text, None);
                        take_exception(&env);
                        let _ = tx.try_send(Err(text));
                    }
                }
                Ok(())
            },
        );
        if status != Status::Ok {
            return Err(format!("the JS thread does not take calls ({status})"));
        }
        let start = Instant::now();
        loop {
            match rx.recv_timeout(POLL) {
                Ok(outcome) => return outcome,
                Err(RecvTimeoutError::Disconnected) => {
                    return Err("the JS environment dropped the call".into());
                }
                Err(RecvTimeoutError::Timeout) => {
                    if self.closing.load(Ordering::SeqCst) {
                        return Err("the manager is closing".into());
                    }
                    if self.tsfn.aborted() {
                        return Err("the JS environment is gone".into());
                    }
                    if start.elapsed() > HANDLER_TIMEOUT {
                        return Err(format!(
                            "the handler did not finish within {HANDLER_TIMEOUT:?}"
                        ));
                    }
                }
            }
        }
    }
}

impl bgcopy::CopyCallback for JsCallback {
    fn job_transferred(&self, job: &bgcopy::CopyJob) -> bgcopy::CallbackResult {
        self.deliver(job, Event::Transferred)
    }
    fn job_error(
        &self,
        job: &bgcopy::CopyJob,
        error: &bgcopy::CopyError,
    ) -> bgcopy::CallbackResult {
        self.deliver(job, Event::Error(error.clone()))
    }
    fn job_modification(&self, job: &bgcopy::CopyJob) -> bgcopy::CallbackResult {
        self.deliver(job, Event::Modification)
    }
    fn file_transferred(
        &self,
        job: &bgcopy::CopyJob,
        file: &bgcopy::CopyFile,
    ) -> bgcopy::CallbackResult {
        self.deliver(job, Event::File(file.clone()))
    }
}

/// On the JS thread: call the handler as a method of the callback object. `Some` is
/// the outcome; `None` means the handler returned a promise whose settlement will
/// send it.
fn on_js_thread(
    env: &Env,
    obj: Result<Unknown>,
    mgr: Arc<Mgr>,
    closing: &AtomicBool,
    job: bgcopy::CopyJob,
    event: Event,
    tx: &SyncSender<Outcome>,
) -> Result<Option<Outcome>> {
    if closing.load(Ordering::SeqCst) {
        return Ok(Some(Err("the manager is closing".into())));
    }
    let name = event.method();
    let obj: Object = unsafe { obj?.cast() }?;
    let handler: Unknown = obj.get_named_property(name)?;
    if args::is_nullish(&handler) {
        // Not implemented by this object: nothing to do, delivered.
        return Ok(Some(Ok(())));
    }
    let what = format!("the {name} handler of job {}", job.get_id());
    if handler.get_type()? != ValueType::Function {
        warn(env, &format!("{what} is not a function"), None);
        return Ok(Some(Err(format!("{what} is not a function"))));
    }
    let js_job = CopyJob::new(job, mgr);
    let result = match event {
        Event::Transferred | Event::Modification => call_method(&obj, handler, js_job),
        Event::Error(e) => call_method(&obj, handler, FnArgs::from((js_job, CopyError::new(e)))),
        Event::File(f) => call_method(&obj, handler, FnArgs::from((js_job, CopyFile::new(f)))),
    };
    let value = match result {
        Ok(v) => v,
        Err(e) => {
            let thrown = JsError::from(e).into_unknown(*env);
            let text = format!("{what} threw: {}", describe_error(&thrown));
            warn(env, &text, Some(thrown));
            return Ok(Some(Err(text)));
        }
    };
    if !value.is_promise()? {
        return Ok(Some(Ok(())));
    }
    // An async handler: the delivery is done when its promise settles.
    let promise: Object = unsafe { value.cast() }?;
    let then: Function<FnArgs<(Settle, Settle)>, Unknown> = promise.get_named_property("then")?;
    let ok_tx = tx.clone();
    let on_fulfilled = env.create_function_from_closure("bgcopyHandlerDone", move |_ctx| {
        let _ = ok_tx.try_send(Ok(()));
        Ok(())
    })?;
    let err_tx = tx.clone();
    // Neither reaction may throw: the promise `then` returns would reject, unhandled.
    let on_rejected = env.create_function_from_closure("bgcopyHandlerFailed", move |ctx| {
        let reason = ctx.get::<Unknown>(0).ok();
        let shown = reason
            .as_ref()
            .map_or_else(|| "undefined".into(), describe_error);
        let text = format!("{what} rejected: {shown}");
        warn(ctx.env, &text, reason);
        let _ = err_tx.try_send(Err(text));
        Ok(())
    })?;
    then.bind(promise)?
        .call((on_fulfilled, on_rejected).into())?;
    Ok(None)
}

/// Take (and clear) the exception pending on the JS thread, if any.
fn take_exception<'e>(env: &'e Env) -> Option<Unknown<'e>> {
    let mut pending = false;
    let status = unsafe { napi::sys::napi_is_exception_pending(env.raw(), &mut pending) };
    if status != napi::sys::Status::napi_ok || !pending {
        return None;
    }
    let mut value = std::ptr::null_mut();
    let status = unsafe { napi::sys::napi_get_and_clear_last_exception(env.raw(), &mut value) };
    (status == napi::sys::Status::napi_ok && !value.is_null())
        .then(|| unsafe { Unknown::from_raw_unchecked(env.raw(), value) })
}

/// `obj.handler(...args)`: the handler called as a method of the callback object. A
/// thrown exception comes back as the error (and is no longer pending).
fn call_method<'e, A: JsValuesTupleIntoVec>(
    obj: &Object<'e>,
    handler: Unknown<'e>,
    args: A,
) -> Result<Unknown<'e>> {
    let f: Function<'e, A, Unknown<'e>> = unsafe { handler.cast() }?;
    f.bind(*obj)?.call(args)
}

/// A thrown value for a message: its `message` if it is an Error, else `String(v)`.
fn describe_error(v: &Unknown) -> String {
    let text = (|| -> Result<String> {
        if v.is_error()? {
            let obj: Object = unsafe { v.cast() }?;
            let name: Unknown = obj.get_named_property("name")?;
            let message: Unknown = obj.get_named_property("message")?;
            return Ok(format!(
                "{}: {}",
                name.coerce_to_string()?.into_utf8()?.as_str()?,
                message.coerce_to_string()?.into_utf8()?.as_str()?
            ));
        }
        Ok(v.coerce_to_string()?.into_utf8()?.as_str()?.to_string())
    })();
    text.unwrap_or_else(|_| "a value that cannot be shown".into())
}

/// `process.emitWarning(text, { type: 'BgcopyCallbackWarning', code:
/// 'BGCOPY_CALLBACK_FAILED', detail: <the error's stack> })`. Best effort: a failure
/// here is ignored (and its exception cleared).
fn warn(env: &Env, text: &str, thrown: Option<Unknown>) {
    let r = (|| -> Result<()> {
        let global = env.get_global()?;
        let process: Object = global.get_named_property("process")?;
        let emit: Function<FnArgs<(String, Object)>, Unknown> =
            process.get_named_property("emitWarning")?;
        let mut options = Object::new(env)?;
        options.set_named_property("type", "BgcopyCallbackWarning")?;
        options.set_named_property("code", "BGCOPY_CALLBACK_FAILED")?;
        if let Some(t) = thrown.filter(|t| t.is_error().unwrap_or(false)) {
            let t: Object = unsafe { t.cast() }?;
            let stack: Unknown = t.get_named_property("stack")?;
            if stack.get_type()? == ValueType::String {
                options.set_named_property("detail", stack)?;
            }
        }
        emit.bind(process)?
            .call((text.to_string(), options).into())?;
        Ok(())
    })();
    drop(r);
    take_exception(env);
}
