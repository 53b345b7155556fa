//! The README's Rust quick start (kept compiling by `cargo clippy --all-targets`).

use bgcopy::{CopyCallback, CopyJob, CopyManager, JobState, JobType, Priority};
use std::{sync::Arc, time::Duration};

struct Progress;
impl CopyCallback for Progress {
    fn job_modification(&self, job: &CopyJob) -> bgcopy::CallbackResult {
        let p = job.get_progress().map_err(|e| e.to_string())?;
        eprintln!("{} / {} bytes", p.bytes_transferred, p.bytes_total);
        Ok(())
    }
}

fn main() -> bgcopy::Result<()> {
    // None = the platform default ($BGCOPY_STATE_DIR, else ~/.local/share/bgcopy).
    let manager = CopyManager::open(Some(std::path::Path::new("/tmp/bgcopy-state")))?;
    let job = manager.create_job("my download", JobType::Download)?;
    job.add_file("https://example.com/a.iso", "/tmp/a.iso")?;
    job.add_file("https://example.com/b.iso", "/tmp/b.iso")?;
    job.set_priority(Priority::Foreground)?;
    job.set_notify_flags(bgcopy::notify::JOB_MODIFICATION | bgcopy::notify::DEFAULT)?;
    job.set_notify_interface(Some(Arc::new(Progress)))?;
    job.resume()?;
    match job.wait(Some(Duration::from_secs(3600)))? {
        JobState::Transferred => {
            job.complete()?; // the files appear now, atomically
        }
        JobState::Error => {
            let e = job.get_error()?;
            let (context, code) = e.get_error();
            eprintln!(
                "failed: 0x{code:08X} ({context}): {}",
                e.get_error_description()
            );
            job.cancel()?;
        }
        other => eprintln!("still {other}; the job continues on the next open"),
    }
    Ok(())
}
