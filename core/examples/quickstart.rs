//! The README's Rust quick start (kept compiling by `cargo clippy --all-targets`; run
//! against the test origin by core/tests/quickstart.rs).

use bgcopy::{CopyManager, DownloadOptions, ErrorKind, JobEventKind, JobSetup, JobState, Priority};
use std::path::Path;

fn main() -> bgcopy::Result<()> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "https://example.com/file.iso".into());
    let dest = args.next().unwrap_or_else(|| "/tmp/file.iso".into());
    run(&url, &dest)
}

pub fn run(url: &str, dest: &str) -> bgcopy::Result<()> {
    // The common case in one call: a job made, followed, completed; on failure the job
    // is cancelled and the error returned (store: $BGCOPY_STATE_DIR, else the platform's).
    // (This example then fetches the same URL again, the BITS way.)
    let copy = format!("{dest}.copy");
    match bgcopy::download(&[url], Path::new(&copy), &DownloadOptions::default()) {
        Ok(paths) => println!("downloaded {}", paths[0].display()),
        Err(e) if e.kind() == ErrorKind::Http => {
            // HTTP 404: HTTP_404 (0x80190194): …
            eprintln!("HTTP {}: {e}", e.http_status().unwrap_or_default());
        }
        Err(e) => return Err(e),
    }

    // The BITS model: a durable job set up in one call, its events from the journal.
    let manager = CopyManager::open(None)?;
    let setup = JobSetup {
        files: vec![(url.into(), dest.into())],
        priority: Some(Priority::Foreground),
        ..JobSetup::default()
    };
    let job = manager.create_job_with("my download", setup)?;
    job.resume()?;
    for ev in job.events()? {
        let ev = ev?;
        if ev.kind == JobEventKind::Progress {
            let p = ev.progress;
            println!("{} / {} bytes", p.bytes_transferred, p.bytes_total);
        }
    }
    match job.get_state()? {
        // The file appears now, atomically.
        JobState::Transferred => println!("{:?} {dest}", job.complete()?),
        JobState::Error => {
            let e = job.get_error()?;
            let (context, code) = e.get_error();
            let symbol = bgcopy::codes::symbol(code);
            eprintln!(
                "failed: {symbol} ({context}): {}",
                e.get_error_description()
            );
            job.cancel()?;
        }
        other => println!("still {other}; the job continues on the next open"),
    }
    // Every call returns bgcopy::Result; an Error has its code, symbol, kind and text.
    if let Err(e) = job.resume() {
        eprintln!("{} {}", e.symbol(), e.kind()); // INVALID_STATE INVALID_STATE
    }
    manager.close()
}
