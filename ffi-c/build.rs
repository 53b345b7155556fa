//! Generates `include/bgcopy.h` (cbindgen, from `src/`) and the build tree's
//! `bgcopy.pc` (next to libbgcopy.so, from `bgcopy.pc.in`). Files are rewritten only
//! when their content changes; `ffi-c/test.sh` fails when the committed header drifts.

use std::path::{Path, PathBuf};

fn write_if_changed(path: &Path, content: &[u8]) {
    if std::fs::read(path).ok().as_deref() == Some(content) {
        return;
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("create the output directory");
    }
    std::fs::write(path, content).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// cbindgen writes constants in decimal: write the HRESULT codes as the hex values the
/// SPEC lists, parenthesized (`((int32_t)0x80200002u)`), the notification flags in hex,
/// and large unsigned values in hex with their suffix.
fn tidy_constant(line: &str) -> Option<String> {
    let rest = line.strip_prefix("#define BGCOPY_")?;
    let (name, value) = rest.split_once(' ')?;
    let value = value.trim_end();
    if let Some(digits) = value
        .strip_prefix("(int32_t)")
        .and_then(|v| v.strip_suffix('u'))
    {
        let n: u32 = digits.parse().ok()?;
        return Some(format!("#define BGCOPY_{name} ((int32_t)0x{n:08X}u)\n"));
    }
    let n: u64 = value.parse().ok()?;
    if name.starts_with("S_") {
        return Some(format!("#define BGCOPY_{name} ((int32_t)0x{n:08X})\n"));
    }
    if name.starts_with("NOTIFY_") {
        return Some(format!("#define BGCOPY_{name} 0x{n:02X}\n"));
    }
    (n > i32::MAX as u64 && n <= u32::MAX as u64)
        .then(|| format!("#define BGCOPY_{name} 0x{n:08X}u\n"))
}

/// cbindgen's `style = "both"` defines `typedef struct bgcopy_x {...} bgcopy_x;` (the
/// SPEC's form) but also writes `struct bgcopy_x *` in every signature; write the
/// typedef names there instead (`bgcopy_job *j`, as in SPEC §7). Constants: see
/// [`tidy_constant`].
fn tidy_header(header: &str) -> String {
    let mut out = String::with_capacity(header.len());
    for line in header.split_inclusive('\n') {
        if line.starts_with("typedef struct") {
            out.push_str(line);
        } else if let Some(tidy) = tidy_constant(line) {
            out.push_str(&tidy);
        } else {
            out.push_str(&line.replace("struct bgcopy_", "bgcopy_"));
        }
    }
    out
}

fn main() {
    let crate_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let root = crate_dir
        .parent()
        .expect("the workspace root")
        .to_path_buf();
    for p in [
        "src",
        "cbindgen.toml",
        "bgcopy.pc.in",
        "../include/bgcopy.h",
    ] {
        println!("cargo:rerun-if-changed={p}");
    }

    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml"))
        .expect("read ffi-c/cbindgen.toml");
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(crate_dir.join("src/lib.rs"))
        .generate()
        .expect("cbindgen: generate include/bgcopy.h");
    let mut raw = Vec::new();
    bindings.write(&mut raw);
    let header = tidy_header(&String::from_utf8(raw).expect("cbindgen writes UTF-8"));
    write_if_changed(&root.join("include/bgcopy.h"), header.as_bytes());

    // target/<profile>/build/bgcopy-ffi-<hash>/out -> target/<profile>
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    if let Some(lib_dir) = out_dir.ancestors().nth(3) {
        let template = std::fs::read_to_string(crate_dir.join("bgcopy.pc.in"))
            .expect("read ffi-c/bgcopy.pc.in");
        let pc = template
            .replace("@prefix@", &root.to_string_lossy())
            .replace("@libdir@", &lib_dir.to_string_lossy())
            .replace("@includedir@", &root.join("include").to_string_lossy())
            .replace(
                "@version@",
                &std::env::var("CARGO_PKG_VERSION").unwrap_or_default(),
            );
        write_if_changed(&lib_dir.join("bgcopy.pc"), pc.as_bytes());
    }
}
