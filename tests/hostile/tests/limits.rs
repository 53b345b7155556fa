//! Threat: input at the edges: file names at the file system's limit, a store row
//! with a value out of range.

use bgcopy::{CopyManager, JobState, JobType, codes};
use bgcopy_hostile_tests::*;
use std::time::Duration;

/// A valid 210-byte UTF-8 name once failed forever ("File name too long": the temp
/// name kept 100 characters); a 256-byte name was accepted and then stuck the job in
/// TRANSFERRED. Now the first works and the second is refused at `add_file`.
#[test]
fn file_names_up_to_name_max_work_and_longer_ones_are_refused() {
    let d = ScratchDir::new("names");
    let m = CopyManager::open(Some(&d.state())).unwrap();
    let job = m.create_job("long names", JobType::Download).unwrap();
    let url = shared_origin().url("longname", "size=5000");
    let name_210 = "é".repeat(105); // 210 bytes, 105 characters
    let name_255 = format!("{}x", "é".repeat(127)); // 255 bytes
    job.add_file(&url, &d.file(&name_210)).unwrap();
    job.add_file(&url, &d.file(&name_255)).unwrap();
    for f in job.enum_files().unwrap() {
        let t = f.get_temporary_name().unwrap();
        let n = std::path::Path::new(&t).file_name().unwrap().len();
        assert!(n <= 255, "temp name of {n} bytes");
    }
    for bad in [format!("{}xy", "é".repeat(127)), "a".repeat(300)] {
        let e = job.add_file(&url, &d.file(&bad)).unwrap_err();
        assert_eq!(e.code(), codes::STRING_TOO_LONG, "{} bytes: {e}", bad.len());
    }
    job.resume().unwrap();
    assert_eq!(
        job.wait(Some(Duration::from_secs(30))).unwrap(),
        JobState::Transferred
    );
    job.complete().unwrap();
    for n in [&name_210, &name_255] {
        assert_eq!(std::fs::read(d.0.join(n)).unwrap(), content(5000, 0));
    }
}

/// One out-of-range value in a stored row once made the store unopenable with
/// IO_ERROR; now the calls on that job fail with STORE_CORRUPT naming the row and the
/// column, and the rest of the queue works (jobs are read when used, not at open).
#[test]
fn an_out_of_range_stored_value_is_store_corrupt_naming_the_row() {
    let d = ScratchDir::new("corrupt");
    let id = {
        let m = CopyManager::open(Some(&d.state())).unwrap();
        let job = m.create_job("row", JobType::Download).unwrap();
        job.add_file(&shared_origin().url("row", "size=10"), &d.file("r.bin"))
            .unwrap();
        job.get_id()
    };
    let db = d.state().join("bgcopy.db");
    for (sql, column) in [
        ("UPDATE jobs SET priority = 99", "priority"),
        ("UPDATE jobs SET notify_flags = 4294967296", "notify_flags"),
        ("UPDATE jobs SET state = -1", "state"),
        ("UPDATE files SET done_bytes = -5", "done_bytes"),
        (
            "UPDATE jobs SET min_retry_delay = 5000000000",
            "min_retry_delay",
        ),
    ] {
        let c = rusqlite::Connection::open(&db).unwrap();
        let tx = c.unchecked_transaction().unwrap();
        tx.execute_batch("SAVEPOINT s").unwrap();
        tx.execute_batch(sql).unwrap();
        tx.execute_batch("RELEASE s").unwrap();
        tx.commit().unwrap();
        drop(c);
        let m = CopyManager::open(Some(&d.state())).unwrap();
        let other = m.create_job("healthy", JobType::Download).unwrap();
        let e = m.get_job(&id).unwrap_err();
        m.enum_jobs().unwrap();
        other.cancel().unwrap();
        drop(m);
        assert_eq!(e.code(), codes::STORE_CORRUPT, "{sql}: {e}");
        assert!(
            e.message().contains(&id) && e.message().contains(column),
            "{sql}: {e}"
        );
        // Repair it for the next case.
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute_batch(
            "UPDATE jobs SET priority = 2, notify_flags = 3, state = 3, \
             min_retry_delay = 600; UPDATE files SET done_bytes = 0;",
        )
        .unwrap();
    }
    assert!(CopyManager::open(Some(&d.state())).is_ok());
}
