//! The one-call download every language forwards (`bgcopy.download`, `download()` in
//! Node, `CopyManager.download` in Kotlin and Swift): the BITS model one level down.
//! It opens the manager, makes one FOREGROUND job of the URLs, follows its events,
//! completes it and returns where the files are. On an error the job is cancelled
//! (its temporary files deleted) and the job's error returned, with its kind and
//! HTTP status; a stop asked by the caller cancels it too.

use crate::error::{Error, Result};
use crate::handles::{CopyManager, JobEvent};
use crate::names::file_name_from_url;
use crate::types::{Completion, JobState, JobType, Priority};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The options of [`download`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct DownloadOptions {
    /// The state directory (`None`: the platform's default, as `open` takes it).
    pub state_dir: Option<PathBuf>,
    /// The job's priority. Default FOREGROUND (someone waits for it).
    pub priority: Priority,
    /// The job's display name. Default `bgcopy download NAME` (`… and N more`).
    pub display_name: Option<String>,
    /// How long the job may make no progress (transient errors: no name, no
    /// connection, a 503, …) before the download fails with the last error, in seconds.
    /// Default 60 (a BITS job waits 14 days; someone waits for this one); 0: the first
    /// error fails it.
    pub no_progress_timeout: u32,
    /// The delay before a transient error is retried, in seconds. Default 5.
    pub retry_delay: u32,
}

impl Default for DownloadOptions {
    fn default() -> Self {
        DownloadOptions {
            state_dir: None,
            priority: Priority::Foreground,
            display_name: None,
            no_progress_timeout: 60,
            retry_delay: 5,
        }
    }
}

/// How often [`download_until`] asks whether to stop.
const LOOK: Duration = Duration::from_millis(100);

/// Download `urls` into `dest` and return each file's path, in the order of `urls`.
/// `dest` is a directory (created if missing; each file named from its URL's last path
/// segment, like `curl -O`), or, for a single URL, the file's own path (its directory
/// created if missing) when it is not an existing directory and does not end with `/`.
pub fn download(urls: &[&str], dest: &Path, opts: &DownloadOptions) -> Result<Vec<PathBuf>> {
    download_until(urls, dest, opts, &mut |_| {}, &|| false)
        .map(|done| done.expect("never stopped"))
}

/// [`download`], with every event of the job given to `on_event` as it comes, and
/// `stop` asked about every 100 ms: when it says yes, the job is cancelled and the
/// answer is `Ok(None)` (each language turns that into its own cancellation).
pub fn download_until(
    urls: &[&str],
    dest: &Path,
    opts: &DownloadOptions,
    on_event: &mut dyn FnMut(&JobEvent),
    stop: &dyn Fn() -> bool,
) -> Result<Option<Vec<PathBuf>>> {
    destinations(urls, dest)?;
    let manager = CopyManager::open(opts.state_dir.as_deref())?;
    let result = manager.download_until(urls, dest, opts, on_event, stop);
    // The files are in place whatever closing says (it flushes and stops threads).
    let _ = manager.close();
    result
}

impl CopyManager {
    /// [`download_until`] with this manager (its state directory;
    /// [`DownloadOptions::state_dir`] is not used): what Kotlin's and Swift's
    /// `manager.download(...)` forward to.
    pub fn download_until(
        &self,
        urls: &[&str],
        dest: &Path,
        opts: &DownloadOptions,
        on_event: &mut dyn FnMut(&JobEvent),
        stop: &dyn Fn() -> bool,
    ) -> Result<Option<Vec<PathBuf>>> {
        let files = destinations(urls, dest)?;
        let done = run(self, &files, opts, on_event, stop)?;
        Ok(done.then(|| files.into_iter().map(|(_, p)| p).collect()))
    }
}

/// Follow one job to its end; `Ok(false)` when stopped. Any failure after the job
/// exists cancels it (its temporary files go).
fn run(
    manager: &CopyManager,
    files: &[(String, PathBuf)],
    opts: &DownloadOptions,
    on_event: &mut dyn FnMut(&JobEvent),
    stop: &dyn Fn() -> bool,
) -> Result<bool> {
    let name = opts
        .display_name
        .clone()
        .unwrap_or_else(|| crate::names::job_name("bgcopy download", files));
    let job = manager.create_job(&name, JobType::Download)?;
    let result = follow(&job, files, opts, on_event, stop);
    if !matches!(result, Ok(true)) {
        let _ = job.cancel();
    }
    result
}

fn follow(
    job: &crate::handles::CopyJob,
    files: &[(String, PathBuf)],
    opts: &DownloadOptions,
    on_event: &mut dyn FnMut(&JobEvent),
    stop: &dyn Fn() -> bool,
) -> Result<bool> {
    let pairs: Vec<(&str, String)> = files
        .iter()
        .map(|(u, p)| (u.as_str(), p.to_string_lossy().into_owned()))
        .collect();
    job.set_priority(opts.priority)?;
    job.set_no_progress_timeout(opts.no_progress_timeout)?;
    job.set_minimum_retry_delay(opts.retry_delay)?;
    job.add_file_set(&pairs)?;
    job.resume()?;
    let mut events = job.events()?;
    loop {
        if stop() {
            return Ok(false);
        }
        let Some(ev) = events.next_event(Some(LOOK))? else {
            if events.is_ended() {
                break;
            }
            continue;
        };
        on_event(&ev);
    }
    match job.get_state()? {
        JobState::Transferred => match job.complete()? {
            Completion::All => Ok(true),
            _ => Err(Error::new(
                crate::codes::PARTIAL_COMPLETE,
                "the download completed without every file",
            )),
        },
        JobState::Error => Err(job
            .get_error()
            .map(|e| Error::from(&e))
            .unwrap_or_else(|e| e)),
        // Cancelled or completed by someone else, or the manager closed.
        state => Err(Error::invalid_state(format!(
            "the download's job ended {state} before its files arrived"
        ))),
    }
}

/// Where each URL goes (see [`download`]).
fn destinations(urls: &[&str], dest: &Path) -> Result<Vec<(String, PathBuf)>> {
    if urls.is_empty() {
        return Err(Error::invalid_arg("no URLs to download"));
    }
    // `dir/` names a directory even before it exists.
    let dir_like = dest.as_os_str().to_string_lossy().ends_with('/');
    let dest = std::path::absolute(dest)
        .map_err(|e| Error::from_io(&format!("resolve {}", dest.display()), &e))?;
    if urls.len() == 1 && !dest.is_dir() && !dir_like {
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| Error::from_io(&format!("create {}", parent.display()), &e))?;
        }
        return Ok(vec![(urls[0].to_string(), dest)]);
    }
    let mut out: Vec<(String, PathBuf)> = Vec::with_capacity(urls.len());
    for url in urls {
        let path = dest.join(file_name_from_url(url));
        if let Some((other, _)) = out.iter().find(|(_, p)| *p == path) {
            return Err(Error::invalid_arg(format!(
                "{other} and {url} would both be saved as {}",
                path.display()
            )));
        }
        out.push((url.to_string(), path));
    }
    std::fs::create_dir_all(&dest)
        .map_err(|e| Error::from_io(&format!("create {}", dest.display()), &e))?;
    Ok(out)
}

/// What a [`Background`] download gives: an event of its job, or its end (the paths;
/// `None` when it was stopped; or the error).
pub enum Step {
    /// An event of the download's job.
    Event(JobEvent),
    /// The end: the paths, `None` when stopped, or the error.
    Done(Result<Option<Vec<PathBuf>>>),
}

/// A download running on a thread of its own, read a step at a time with a timeout:
/// what the bindings whose waits must not block (Node's event loop, Kotlin coroutines,
/// Swift tasks) forward to. Dropping it (a task nobody reads any more) stops the
/// download, which cancels its job.
pub struct Background {
    rx: std::sync::Mutex<std::sync::mpsc::Receiver<Step>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Background {
    /// Run `download` on a new thread: it gets the sink for the job's events and the
    /// stop question ([`download_until`] or [`CopyManager::download_until`]).
    pub fn spawn<F>(download: F) -> Background
    where
        F: FnOnce(&mut dyn FnMut(&JobEvent), &dyn Fn() -> bool) -> Result<Option<Vec<PathBuf>>>
            + Send
            + 'static,
    {
        use std::sync::atomic::{AtomicBool, Ordering};
        let (tx, rx) = std::sync::mpsc::channel();
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        std::thread::spawn(move || {
            let events = tx.clone();
            let r = download(
                &mut |e| {
                    let _ = events.send(Step::Event(e.clone()));
                },
                &|| stopped.load(Ordering::SeqCst),
            );
            let _ = tx.send(Step::Done(r));
        });
        Background {
            rx: std::sync::Mutex::new(rx),
            stop,
        }
    }

    /// The next step within `timeout`, or `None` when the time passed.
    pub fn next_step(&self, timeout: Duration) -> Option<Step> {
        use std::sync::mpsc::RecvTimeoutError;
        let rx = self.rx.lock().unwrap_or_else(|p| p.into_inner());
        match rx.recv_timeout(timeout) {
            Ok(s) => Some(s),
            Err(RecvTimeoutError::Timeout) => None,
            // The thread always sends Done; after it, nothing more comes.
            Err(RecvTimeoutError::Disconnected) => Some(Step::Done(Err(Error::new(
                crate::codes::E_UNEXPECTED,
                "the download thread ended",
            )))),
        }
    }

    /// Stop: the job is cancelled, and the end comes as `Done(Ok(None))`.
    pub fn cancel(&self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.cancel();
    }
}
