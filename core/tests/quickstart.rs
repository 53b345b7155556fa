//! The README's Rust quick start is core/examples/quickstart.rs, verbatim, and it runs
//! against the test origin: a download and a job that complete, then an HTTP 404 that
//! ends with the job cancelled and no file.

#[allow(dead_code)]
#[path = "../examples/quickstart.rs"]
mod quickstart;

use bgcopy::CopyManager;
use bgcopy_test_harness::{Origin, content};

#[test]
fn the_readme_shows_the_example_and_it_runs() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let example = std::fs::read_to_string(root.join("core/examples/quickstart.rs")).unwrap();
    let body = &example[example.find("use bgcopy::").unwrap()..];
    assert!(
        readme.contains(&format!("```rust\n{body}```")),
        "README.md's Rust quick start is not core/examples/quickstart.rs"
    );

    let origin = Origin::start();
    let dir = std::env::temp_dir().join(format!("bgc-quickstart-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let state = dir.join("state");
    // The only test of this binary: no other thread reads the environment.
    unsafe { std::env::set_var("BGCOPY_STATE_DIR", &state) };

    let dest = dir.join("ok.bin");
    let url = origin.url("qs-ok", "size=300000&rate=1000000");
    quickstart::run(&url, dest.to_str().unwrap()).unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), content(300_000, 0));
    assert_eq!(
        std::fs::read(dir.join("ok.bin.copy")).unwrap(),
        content(300_000, 0)
    );

    let missing = dir.join("nf.bin");
    quickstart::run(
        &origin.url("qs-404", "status=404"),
        missing.to_str().unwrap(),
    )
    .unwrap();
    assert!(!missing.exists() && !dir.join("nf.bin.copy").exists());
    let m = CopyManager::open(Some(&state)).unwrap();
    assert!(m.enum_jobs().unwrap().is_empty(), "every job ended");
    m.close().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
