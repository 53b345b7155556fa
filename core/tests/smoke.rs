use bgcopy::*;
use bgcopy_test_harness::{Origin, content};
use std::time::Duration;

#[test]
fn downloads_and_resumes_after_reset() {
    let origin = Origin::start();
    let dir = std::env::temp_dir().join(format!("bgc-smoke-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let m = CopyManager::open(Some(&dir.join("state"))).unwrap();
    let job = m.create_job("smoke", JobType::Download).unwrap();
    job.set_minimum_retry_delay(1).unwrap();
    let local = dir.join("a.bin");
    job.add_file(
        &origin.url("smoke-a", "size=3000000&reset_at=1000000"),
        local.to_str().unwrap(),
    )
    .unwrap();
    job.resume().unwrap();
    let st = job.wait(Some(Duration::from_secs(30))).unwrap();
    assert_eq!(
        st,
        JobState::Transferred,
        "{:?}",
        job.get_error().map(|e| e.get_error_description())
    );
    assert!(!local.exists());
    assert_eq!(job.complete().unwrap(), Completion::All);
    assert_eq!(std::fs::read(&local).unwrap(), content(3_000_000, 0));
    assert_eq!(job.get_error_count().unwrap(), 1);
    let stats = origin.stats("smoke-a");
    assert_eq!(stats["requests"], 2, "{stats}");
}
