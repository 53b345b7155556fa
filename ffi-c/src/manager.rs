//! `bgcopy_manager`: open, options, jobs, close.

use crate::boundary::{
    Handle, Out, Result, arg, boundary, call, free_array, get, handle, handle_add_ref,
    handle_release, new_array, new_handle, new_string, opt_str, str_arg,
};
use crate::job::bgcopy_job;
use crate::types::{BGCOPY_S_OK, bgcopy_event, bgcopy_job_type};
use bgcopy_core::{CopyManager, Error, Event, JobType, ManagerOptions};
use std::ffi::c_char;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A job manager: the durable job store of one state directory and the threads that
/// transfer its jobs. Opaque, reference counted, thread-safe.
pub struct bgcopy_manager {
    inner: CopyManager,
}

handle!(
    bgcopy_manager,
    CopyManager,
    "the manager handle (bgcopy_manager *)"
);

/// Settings of a manager for `bgcopy_manager_open_with`. Fill it with
/// `bgcopy_manager_options_init` (which sets `size` and every default), then change
/// members. Future versions only append members and keep accepting older sizes.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct bgcopy_manager_options {
    /// `sizeof(bgcopy_manager_options)`, set by `bgcopy_manager_options_init`.
    pub size: u32,
    /// Transfer slots shared by HIGH/NORMAL/LOW jobs (FOREGROUND jobs always run).
    /// At least 1; default 2.
    pub background_slots: u32,
    /// Connections one job uses at once (its files, and the segments of a large file).
    /// At least 1; default 8.
    pub connections_per_job: u32,
    /// A connection idle this long is a transient error. At least 1; default 60000.
    pub read_timeout_ms: u32,
    /// Connecting (TCP + TLS) may take this long. At least 1; default 30000.
    pub connect_timeout_ms: u32,
    /// Checkpoint at least this often while data moves. Default 1000.
    pub checkpoint_interval_ms: u32,
    /// Checkpoint after this many bytes of a file. Default 8 MiB.
    pub checkpoint_bytes: u64,
    /// At most one JOB_MODIFICATION per job per this interval. Default 500.
    pub notify_interval_ms: u32,
    /// How long a background job keeps its slot before an equal-priority job waiting
    /// for one takes its turn (round robin). Default 30000.
    pub time_slice_ms: u32,
    /// Bytes per second shared by all HIGH/NORMAL/LOW transfers; 0 = unlimited (default).
    pub background_bandwidth_limit: u64,
    /// Redirects followed per request. Default 10.
    pub max_redirects: u32,
    /// Follow a redirect from https to http. Default false (refused: a fatal error).
    pub allow_https_to_http_redirect: bool,
    /// Run transfers in this process (default true). False opens the store for
    /// inspection and changes only.
    pub start_transfers: bool,
    /// The User-Agent header; NULL (default) = "bgcopy/<version>". Borrowed for the call.
    pub user_agent: *const c_char,
    /// Paths of the PEM files holding the only root certificates to trust (like curl's
    /// `--cacert`); with `tls_root_certs_count` 0 (default) the Mozilla roots bundled
    /// with the library are trusted. Borrowed for the call.
    pub tls_root_certs: *const *const c_char,
    /// Number of entries of `tls_root_certs`.
    pub tls_root_certs_count: usize,
    /// Connections one file may use at once (segmented download) unless its job says
    /// otherwise; 1 = one stream. 1..=64; default 8.
    pub max_connections_per_file: u32,
    /// Connections to one host (name and port) at once, over all jobs. At least 1;
    /// default 16.
    pub connections_per_host: u32,
}

const OPTIONS_SIZE: usize = std::mem::size_of::<bgcopy_manager_options>();

fn ms(d: Duration) -> u32 {
    d.as_millis().min(u32::MAX as u128) as u32
}

fn options_to_c(o: &ManagerOptions) -> bgcopy_manager_options {
    bgcopy_manager_options {
        size: OPTIONS_SIZE as u32,
        background_slots: o.background_slots.min(u32::MAX as usize) as u32,
        connections_per_job: o.connections_per_job.min(u32::MAX as usize) as u32,
        read_timeout_ms: ms(o.read_timeout),
        connect_timeout_ms: ms(o.connect_timeout),
        checkpoint_interval_ms: ms(o.checkpoint_interval),
        checkpoint_bytes: o.checkpoint_bytes,
        notify_interval_ms: ms(o.notify_interval),
        time_slice_ms: ms(o.time_slice),
        background_bandwidth_limit: o.background_bandwidth_limit.unwrap_or(0),
        max_redirects: o.max_redirects,
        allow_https_to_http_redirect: o.allow_https_to_http_redirect,
        start_transfers: o.start_transfers,
        user_agent: std::ptr::null(),
        tls_root_certs: std::ptr::null(),
        tls_root_certs_count: 0,
        max_connections_per_file: o.max_connections_per_file.min(u32::MAX as usize) as u32,
        connections_per_host: o.connections_per_host.min(u32::MAX as usize) as u32,
    }
}

/// # Safety
/// `p` is a valid options struct whose `size` was checked.
unsafe fn options_from_c(c: &bgcopy_manager_options) -> Result<ManagerOptions> {
    // Ranges are checked by the core (`ManagerOptions::validate`).
    let mut o = ManagerOptions::default();
    o.background_slots = c.background_slots as usize;
    o.connections_per_job = c.connections_per_job as usize;
    o.read_timeout = Duration::from_millis(c.read_timeout_ms.into());
    o.connect_timeout = Duration::from_millis(c.connect_timeout_ms.into());
    o.checkpoint_interval = Duration::from_millis(c.checkpoint_interval_ms.into());
    o.checkpoint_bytes = c.checkpoint_bytes;
    o.notify_interval = Duration::from_millis(c.notify_interval_ms.into());
    o.time_slice = Duration::from_millis(c.time_slice_ms.into());
    o.background_bandwidth_limit =
        (c.background_bandwidth_limit != 0).then_some(c.background_bandwidth_limit);
    o.max_redirects = c.max_redirects;
    o.allow_https_to_http_redirect = c.allow_https_to_http_redirect;
    o.start_transfers = c.start_transfers;
    o.max_connections_per_file = c.max_connections_per_file as usize;
    o.connections_per_host = c.connections_per_host as usize;
    // SAFETY: the strings are NULL or valid for the call (the caller's contract).
    if let Some(ua) = unsafe { opt_str(c.user_agent, "options: user_agent") }? {
        o.user_agent = ua.to_string();
    }
    if c.tls_root_certs_count > 0 {
        if c.tls_root_certs.is_null() {
            return Err(Error::invalid_arg(
                "options: tls_root_certs is NULL but tls_root_certs_count is not 0",
            ));
        }
        // SAFETY: a non-NULL array of `tls_root_certs_count` string pointers.
        let paths = unsafe { std::slice::from_raw_parts(c.tls_root_certs, c.tls_root_certs_count) };
        let mut certs = Vec::with_capacity(paths.len());
        for (i, &p) in paths.iter().enumerate() {
            // SAFETY: as above.
            let s = unsafe { str_arg(p, &format!("options: tls_root_certs[{i}]")) }?;
            certs.push(PathBuf::from(s));
        }
        o.tls_root_certs = Some(certs);
    }
    Ok(o)
}

fn open(dir: Option<&str>, opts: ManagerOptions) -> Result<*mut bgcopy_manager> {
    let m = CopyManager::open_with(dir.map(Path::new), opts)?;
    Ok(new_handle(bgcopy_manager::wrap(m)))
}

/// Fill `*out` with the default options and its `size`.
///
/// Returns `BGCOPY_S_OK`, or `BGCOPY_E_INVALIDARG` when `out` is NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_manager_options_init(out: *mut bgcopy_manager_options) -> i32 {
    boundary(|| {
        // SAFETY: the C conventions (every pointer NULL or valid for the call).
        let out = unsafe { Out::new(out, "out") }?;
        out.set(options_to_c(&ManagerOptions::default()));
        Ok(BGCOPY_S_OK)
    })
}

/// Open (or create) the job store in `state_dir` with default options. Any number of
/// managers, in any processes, share one directory and see one queue; one process at a
/// time transfers its jobs (the engine: the first with `start_transfers`, and another
/// takes over within 2 s when it exits or dies).
///
/// `state_dir` NULL = the platform default (`$BGCOPY_STATE_DIR`, else
/// `$XDG_DATA_HOME/bgcopy`, else `~/.local/share/bgcopy`). On success `*out` is a new
/// manager handle: release it with `bgcopy_manager_release`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_manager_open(
    state_dir: *const c_char,
    out: *mut *mut bgcopy_manager,
) -> i32 {
    boundary(|| {
        // SAFETY: the C conventions.
        let out = unsafe { Out::new(out, "out") }?;
        // SAFETY: the C conventions.
        let dir = unsafe { opt_str(state_dir, "state_dir") }?;
        out.set(open(dir, ManagerOptions::default())?);
        Ok(BGCOPY_S_OK)
    })
}

/// `bgcopy_manager_open` with options (`opts` NULL = the defaults). `opts->size` must be
/// `sizeof(bgcopy_manager_options)` (use `bgcopy_manager_options_init`); a zero slot
/// count, connection count or timeout is `BGCOPY_E_INVALIDARG`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_manager_open_with(
    state_dir: *const c_char,
    opts: *const bgcopy_manager_options,
    out: *mut *mut bgcopy_manager,
) -> i32 {
    boundary(|| {
        // SAFETY: the C conventions.
        let out = unsafe { Out::new(out, "out") }?;
        // SAFETY: the C conventions.
        let dir = unsafe { opt_str(state_dir, "state_dir") }?;
        let options = if opts.is_null() {
            ManagerOptions::default()
        } else {
            // SAFETY: `opts` points to at least a `size` member; read only that first.
            let size = unsafe { std::ptr::addr_of!((*opts).size).read() } as usize;
            if size != OPTIONS_SIZE {
                return Err(Error::invalid_arg(format!(
                    "options: size is {size}, this library's bgcopy_manager_options has {OPTIONS_SIZE} bytes: call bgcopy_manager_options_init"
                )));
            }
            // SAFETY: a whole options struct, by its size.
            unsafe { options_from_c(&*opts) }?
        };
        out.set(open(dir, options)?);
        Ok(BGCOPY_S_OK)
    })
}

/// The manager's state directory (absolute, canonical). Free `*out` with
/// `bgcopy_string_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_manager_get_state_dir(
    m: *mut bgcopy_manager,
    out: *mut *mut c_char,
) -> i32 {
    get(m, out, |m| Ok(new_string(m.state_dir().to_string_lossy())))
}

/// Create a job (state SUSPENDED, a fresh UUID id). `display_name` at most 256
/// characters (`BGCOPY_E_STRING_TOO_LONG`); `type` a `BGCOPY_JOB_TYPE_*` (UPLOAD types:
/// `BGCOPY_E_NOTIMPL`). `*out` is a new job handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_manager_create_job(
    m: *mut bgcopy_manager,
    display_name: *const c_char,
    r#type: bgcopy_job_type,
    out: *mut *mut bgcopy_job,
) -> i32 {
    get(m, out, |m| {
        // SAFETY: the C conventions.
        let name = unsafe { str_arg(display_name, "display_name") }?;
        let t = JobType::try_from_number("type", r#type)?;
        Ok(new_handle(bgcopy_job::wrap(m.create_job(name, t)?)))
    })
}

/// The job with id `job_id` (canonical UUID text, braces allowed). `BGCOPY_E_NOT_FOUND`
/// for unknown and final jobs, `BGCOPY_E_INVALIDARG` when `job_id` is not a UUID.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_manager_get_job(
    m: *mut bgcopy_manager,
    job_id: *const c_char,
    out: *mut *mut bgcopy_job,
) -> i32 {
    get(m, out, |m| {
        // SAFETY: the C conventions.
        let id = unsafe { str_arg(job_id, "job_id") }?;
        Ok(new_handle(bgcopy_job::wrap(m.get_job(id)?)))
    })
}

/// Every job not ACKNOWLEDGED or CANCELLED, in creation order: `*out_jobs` is an array
/// of `*out_count` new job handles (NULL when there are none); free it with
/// `bgcopy_job_array_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_manager_enum_jobs(
    m: *mut bgcopy_manager,
    out_jobs: *mut *mut *mut bgcopy_job,
    out_count: *mut usize,
) -> i32 {
    boundary(|| {
        // SAFETY: the C conventions.
        let (m, out_jobs, out_count) = unsafe {
            (
                arg(m)?,
                Out::new(out_jobs, "out_jobs")?,
                Out::new(out_count, "out_count")?,
            )
        };
        let jobs = m.inner().enum_jobs()?;
        let (array, n) = new_array(jobs.into_iter().map(bgcopy_job::wrap).collect());
        out_jobs.set(array);
        out_count.set(n);
        Ok(BGCOPY_S_OK)
    })
}

/// Release every handle of an array from `bgcopy_manager_enum_jobs`, then the array.
/// `count` must be the count returned with it. NULL does nothing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_job_array_free(jobs: *mut *mut bgcopy_job, count: usize) {
    boundary(|| {
        // SAFETY: the C conventions: an array from enum_jobs with its count.
        unsafe { free_array(jobs, count) };
        Ok(())
    })
}

/// The durable event journal: up to `limit` (1..=10000) entries numbered above
/// `cursor`, oldest first (start with 0, then pass the last entry's `seq`). Every
/// process sees the same numbers; a job's entries are kept while it is live and for 7
/// days after it became final. `*out_events` is a new array of `*out_count` entries
/// (NULL when none); free it with `bgcopy_event_array_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_manager_events_since(
    m: *mut bgcopy_manager,
    cursor: u64,
    limit: u32,
    out_events: *mut *mut bgcopy_event,
    out_count: *mut usize,
) -> i32 {
    boundary(|| {
        // SAFETY: the C conventions.
        let (m, out_events, out_count) = unsafe {
            (
                arg(m)?,
                Out::new(out_events, "out_events")?,
                Out::new(out_count, "out_count")?,
            )
        };
        let events = m.inner().events_since(cursor, limit)?;
        let array: Box<[bgcopy_event]> = events.into_iter().map(c_event).collect();
        let n = array.len();
        out_events.set(if n == 0 {
            std::ptr::null_mut()
        } else {
            Box::into_raw(array).cast::<bgcopy_event>()
        });
        out_count.set(n);
        Ok(BGCOPY_S_OK)
    })
}

fn c_event(e: Event) -> bgcopy_event {
    let mut job_id = [0 as c_char; 37];
    for (d, b) in job_id.iter_mut().zip(e.job_id.bytes().take(36)) {
        *d = b as c_char;
    }
    bgcopy_event {
        seq: e.seq,
        job_id,
        kind: e.kind as u32,
        state: e.state as u32,
        time: e.time_ms(),
        file_index: e.file_index.map_or(-1, i64::from),
        error_code: e.error_code.unwrap_or(0) as i32,
        error_context: e.error_context.map_or(0, |c| c as u32),
        error_description: e.error_description.map_or(std::ptr::null_mut(), new_string),
    }
}

/// Free an array from `bgcopy_manager_events_since` (and its descriptions). `count`
/// must be the count returned with it. NULL does nothing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_event_array_free(events: *mut bgcopy_event, count: usize) {
    boundary(|| {
        if events.is_null() {
            return Ok(());
        }
        // SAFETY: an array from events_since with its count (a boxed slice), freed once.
        let array = unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(events, count)) };
        for e in array.iter() {
            if !e.error_description.is_null() {
                // SAFETY: a string from this library, freed once with its array.
                drop(unsafe { std::ffi::CString::from_raw(e.error_description) });
            }
        }
        Ok(())
    })
}

/// Change the bandwidth limit shared by every HIGH, NORMAL and LOW transfer of the
/// queue (bytes per second; 0: none) while they run: it applies within a second,
/// whichever process runs the transfers, and stays with the state directory (it
/// replaces the `background_bandwidth_limit` option from then on). FOREGROUND jobs are
/// never limited by it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_manager_set_background_bandwidth_limit(
    m: *mut bgcopy_manager,
    bytes_per_second: u64,
) -> i32 {
    call(m, |m| m.set_background_bandwidth_limit(bytes_per_second))
}

/// The background bandwidth limit in bytes per second (0: none): the one stored for
/// the state directory, else the option the manager was opened with.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_manager_get_background_bandwidth_limit(
    m: *mut bgcopy_manager,
    out: *mut u64,
) -> i32 {
    get(m, out, CopyManager::get_background_bandwidth_limit)
}

/// Stop every transfer (each checkpoints where it is), flush the store, stop the
/// manager's threads and release the state directory. Jobs continue on the next open.
/// Idempotent. Afterwards the manager's calls and its jobs' mutators return
/// `BGCOPY_E_INVALID_STATE`; getters keep answering. The handle must still be released.
/// Allowed inside a notification callback and inside a callback's `release` (which may
/// run inside a close: both calls then return `BGCOPY_S_OK`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_manager_close(m: *mut bgcopy_manager) -> i32 {
    call(m, CopyManager::close)
}

/// Take one more reference to the manager; returns `m`. NULL returns NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_manager_add_ref(m: *mut bgcopy_manager) -> *mut bgcopy_manager {
    handle_add_ref(m)
}

/// Release a reference to the manager. Releasing the last one closes the manager (as
/// `bgcopy_manager_close`, which stops and joins its threads). Job handles stay valid
/// (getters answer, mutators return `BGCOPY_E_INVALID_STATE`) until released. NULL
/// does nothing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bgcopy_manager_release(m: *mut bgcopy_manager) {
    handle_release(m)
}
