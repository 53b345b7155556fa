//! What index.js builds the Node idioms from: a job's event stream (`job.events()`, an
//! async iterator) and the one-call download (`download()`), both the core's. Their
//! blocking waits run in slices (`next(timeoutMs)`) on a short-lived thread of their
//! own, not on libuv's pool (four threads shared with `fs`, `dns` and `zlib`, which a few
//! open streams would otherwise keep busy), so the event loop never blocks and an
//! `AbortSignal` is heard within a slice.

use crate::error::to_js;
use crate::manager::Mgr;
use crate::types::{JobProgress, JobState, Priority};
use napi::bindgen_prelude::*;
use napi_derive::napi;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Run `work` on a thread of its own and settle a promise with what `settle` makes of
/// its result on the JS thread.
fn on_thread<'e, T, V>(
    env: &'e Env,
    name: &str,
    work: impl FnOnce() -> T + Send + 'static,
    settle: impl FnOnce(Env, T) -> Result<V> + Send + 'static,
) -> Result<Object<'e>>
where
    T: Send + 'static,
    V: ToNapiValue + 'static,
{
    let (deferred, promise) = env.create_deferred()?;
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let out = work();
            deferred.resolve(move |env| settle(env, out));
        })
        .map_err(|e| {
            to_js(
                env,
                &bgcopy::Error::new(
                    bgcopy::codes::E_UNEXPECTED,
                    format!("cannot start a thread: {e}"),
                ),
            )
        })?;
    Ok(promise)
}

/// One event of a job's stream as the addon gives it (index.js turns it into the
/// `JobEvent` object, its error into a `BgCopyError`).
#[napi(object, object_from_js = false)]
pub struct RawJobEvent {
    /// `'STATE_CHANGED'`, `'PROGRESS'`, `'FILE_TRANSFERRED'` or `'ERROR'`.
    pub kind: String,
    pub state: JobState,
    pub progress: JobProgress,
    pub file_index: Option<u32>,
    /// ERROR: the error's message (`SYMBOL (0xCODE): text`), symbol, code, kind, status.
    pub error_message: Option<String>,
    pub error_code: Option<String>,
    pub error_hresult: Option<u32>,
    pub error_kind: Option<String>,
    pub error_status: Option<u32>,
    pub seq: i64,
    /// Milliseconds since the Unix epoch.
    pub time_ms: f64,
}

impl From<bgcopy::JobEvent> for RawJobEvent {
    fn from(e: bgcopy::JobEvent) -> Self {
        let err = e.error.as_ref();
        RawJobEvent {
            kind: e.kind.name().to_string(),
            state: e.state.into(),
            progress: e.progress.into(),
            file_index: e.file_index,
            error_message: err.map(|e| e.to_string()),
            error_code: err.map(|e| e.symbol()),
            error_hresult: err.map(|e| e.code()),
            error_kind: err.map(|e| e.kind().name().to_string()),
            error_status: err.and_then(|e| e.http_status()).map(u32::from),
            seq: i64::try_from(e.seq).unwrap_or(i64::MAX),
            time_ms: bgcopy::to_ms(e.time) as f64,
        }
    }
}

/// A job's event stream (`job._eventStream()`; index.js's `job.events()` reads it).
#[napi]
pub struct JobEventStream {
    stream: Arc<Mutex<Option<bgcopy::JobEvents>>>,
    /// Set by `close()`: a wait in progress drops the stream when it returns.
    closed: Arc<AtomicBool>,
    _mgr: Arc<Mgr>,
}

impl JobEventStream {
    pub(crate) fn new(stream: bgcopy::JobEvents, mgr: Arc<Mgr>) -> Self {
        JobEventStream {
            stream: Arc::new(Mutex::new(Some(stream))),
            closed: Arc::new(AtomicBool::new(false)),
            _mgr: mgr,
        }
    }
}

#[napi]
impl JobEventStream {
    /// The next event within `timeoutMs`, or `null` (the time passed, or the stream
    /// ended: `ended`).
    #[napi(ts_return_type = "Promise<RawJobEvent | null>")]
    pub fn next<'e>(&self, env: &'e Env, timeout_ms: u32) -> Result<Object<'e>> {
        let (stream, closed) = (self.stream.clone(), self.closed.clone());
        let timeout = Duration::from_millis(timeout_ms.into());
        on_thread(
            env,
            "bgcopy-events",
            move || {
                let mut g = stream.lock().unwrap_or_else(|p| p.into_inner());
                let out = match g.as_mut() {
                    Some(s) if !closed.load(Ordering::SeqCst) => s.next_event(Some(timeout)),
                    _ => Ok(None),
                };
                if closed.load(Ordering::SeqCst) {
                    g.take();
                }
                out
            },
            |env, out| {
                out.map(|e| e.map(RawJobEvent::from))
                    .map_err(|e| to_js(&env, &e))
            },
        )
    }

    /// The stream delivered its last event (or was closed).
    #[napi(getter)]
    pub fn ended(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
            || self
                .stream
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .as_ref()
                .is_none_or(|s| s.is_ended())
    }

    /// Release the stream (idempotent). Never waits: a `next()` in progress lets go
    /// of it when its slice ends.
    #[napi]
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        if let Ok(mut g) = self.stream.try_lock() {
            g.take();
        }
    }
}

/// A one-call download running on a thread of its own (`_download(...)`; index.js's
/// `download()` reads it): the core's background download.
#[napi]
pub struct DownloadTask(Arc<bgcopy::Background>);

/// What `DownloadTask.next` gives: an event, or the end (`done`: the paths, or
/// `cancelled`).
#[napi(object, object_from_js = false)]
pub struct DownloadStep {
    pub event: Option<RawJobEvent>,
    pub done: bool,
    pub cancelled: bool,
    pub paths: Option<Vec<String>>,
}

fn step(env: Env, output: Option<bgcopy::Step>) -> Result<Option<DownloadStep>> {
    Ok(match output {
        None => None,
        Some(bgcopy::Step::Event(e)) => Some(DownloadStep {
            event: Some(e.into()),
            done: false,
            cancelled: false,
            paths: None,
        }),
        Some(bgcopy::Step::Done(r)) => {
            let r = r.map_err(|e| to_js(&env, &e))?;
            Some(DownloadStep {
                event: None,
                done: true,
                cancelled: r.is_none(),
                paths: r.map(|p| {
                    p.into_iter()
                        .map(|p| p.to_string_lossy().into_owned())
                        .collect()
                }),
            })
        }
    })
}

#[napi]
impl DownloadTask {
    /// The next event or the end within `timeoutMs`, or `null`.
    #[napi(ts_return_type = "Promise<DownloadStep | null>")]
    pub fn next<'e>(&self, env: &'e Env, timeout_ms: u32) -> Result<Object<'e>> {
        let task = self.0.clone();
        let timeout = Duration::from_millis(timeout_ms.into());
        on_thread(
            env,
            "bgcopy-download-step",
            move || task.next_step(timeout),
            step,
        )
    }

    /// Stop: the job is cancelled, and the end comes as `cancelled`.
    #[napi]
    pub fn cancel(&self) {
        self.0.cancel();
    }
}

/// Start the core's one-call download of `urls` into `dest` on a thread (index.js's
/// `download()` is the API).
#[napi(js_name = "_download")]
#[cfg_attr(test, allow(dead_code))] // registered with Node by the macro, not called from Rust
pub fn download(
    urls: Vec<String>,
    dest: String,
    state_dir: Option<String>,
    priority: Option<Priority>,
) -> DownloadTask {
    let mut opts = bgcopy::DownloadOptions::default();
    opts.state_dir = state_dir.map(Into::into);
    if let Some(p) = priority {
        opts.priority = p.into();
    }
    DownloadTask(Arc::new(bgcopy::Background::spawn(
        move |on_event, stop| {
            let refs: Vec<&str> = urls.iter().map(String::as_str).collect();
            bgcopy::download_until(&refs, std::path::Path::new(&dest), &opts, on_event, stop)
        },
    )))
}
