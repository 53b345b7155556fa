//! The project's own tasks (run from anywhere in the workspace):
//!
//! ```text
//! cargo xtask codegen [--check] [header] [node] [uniffi] [licenses]
//! cargo xtask pkg-config [--release]
//! ```
//!
//! `codegen` regenerates the committed generated files into place (every group unless
//! some are named):
//! - `header`: `include/bgcopy.h`, by cbindgen from `ffi-c/src` (constants tidied to
//!   the contract's hex form, typedef names in signatures);
//! - `node`: `bindings-node/index.d.ts`, written by `napi build` while it builds the
//!   addon (debug profile unless `BGCOPY_NODE_PROFILE` says otherwise);
//! - `uniffi`: the Kotlin and Swift sources and the Swift module's C header and module
//!   map, by `bindings-swift/generate.sh`;
//! - `licenses`: copies of `LICENSE-MIT` and `LICENSE-APACHE` in the Python and Node
//!   package folders (their packages carry only what is in their folder).
//!
//! With `--check` nothing in the tree changes: each file is generated and compared
//! with the committed one, and the exit status is 1 when any differs (the test
//! command runs this). `pkg-config` writes `target/<profile>/bgcopy.pc` for the build
//! tree, from `ffi-c/bgcopy.pc.in`, and the `libbgcopy.so.MAJOR` link (the SONAME).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

type Result<T> = std::result::Result<T, String>;

/// One generated file: its path under the workspace root and its content.
struct Generated {
    path: String,
    content: Vec<u8>,
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace root")
        .to_path_buf()
}

fn run(cmd: &mut Command) -> Result<()> {
    let what = format!("{cmd:?}");
    let status = cmd.status().map_err(|e| format!("run {what}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{what} failed ({status})"))
    }
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| format!("read {}: {e}", path.display()))
}

// ---------------------------------------------------------------------------------
// include/bgcopy.h

/// cbindgen writes constants in decimal: write the HRESULT codes as the hex values the
/// contract lists, parenthesized (`((int32_t)0x80200002u)`), the notification flags in hex,
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
/// contract's form) but also writes `struct bgcopy_x *` in every signature; write the
/// typedef names there instead (`bgcopy_job *j`, as in docs/spec.md §7). Constants: see
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

/// The version macros, after the other macros of `after_includes` (cbindgen cannot
/// read the package version; xtask is built from the same workspace version).
fn with_version(header: &str) -> Result<String> {
    const ANCHOR: &str = "#define BGCOPY_E_HTTP(status)";
    let at = header
        .find(ANCHOR)
        .and_then(|i| header[i..].find('\n').map(|n| i + n + 1))
        .ok_or("include/bgcopy.h: the BGCOPY_E_HTTP macro is missing (ffi-c/cbindgen.toml)")?;
    let block = format!(
        "/** This header's version (the library's: compare with bgcopy_version() at run time). */\n\
         #define BGCOPY_VERSION_MAJOR {}\n\
         #define BGCOPY_VERSION_MINOR {}\n\
         #define BGCOPY_VERSION_PATCH {}\n\
         /** The version as a string literal, e.g. \"0.1.0\". */\n\
         #define BGCOPY_VERSION_STRING \"{}\"\n",
        env!("CARGO_PKG_VERSION_MAJOR"),
        env!("CARGO_PKG_VERSION_MINOR"),
        env!("CARGO_PKG_VERSION_PATCH"),
        env!("CARGO_PKG_VERSION"),
    );
    Ok(format!("{}{block}{}", &header[..at], &header[at..]))
}

fn header(root: &Path) -> Result<Vec<Generated>> {
    let crate_dir = root.join("ffi-c");
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml"))
        .map_err(|e| format!("read ffi-c/cbindgen.toml: {e}"))?;
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(crate_dir.join("src/lib.rs"))
        .generate()
        .map_err(|e| format!("cbindgen: {e}"))?;
    let mut raw = Vec::new();
    bindings.write(&mut raw);
    let text = String::from_utf8(raw).map_err(|e| format!("cbindgen wrote non-UTF-8: {e}"))?;
    Ok(vec![Generated {
        path: "include/bgcopy.h".into(),
        content: with_version(&tidy_header(&text))?.into_bytes(),
    }])
}

// ---------------------------------------------------------------------------------
// bindings-node/index.d.ts

fn node(root: &Path) -> Result<Vec<Generated>> {
    const PATH: &str = "bindings-node/index.d.ts";
    let dts = root.join(PATH);
    // napi build writes index.d.ts in place: keep the committed one and put it back,
    // so that only `write` below decides what the tree holds.
    let committed = read(&dts)?;
    let mut cmd = Command::new("node");
    cmd.arg("build.js").current_dir(root.join("bindings-node"));
    if std::env::var_os("BGCOPY_NODE_PROFILE").is_none() {
        cmd.env("BGCOPY_NODE_PROFILE", "debug");
    }
    let built = run(&mut cmd).and_then(|()| read(&dts));
    std::fs::write(&dts, &committed).map_err(|e| format!("restore {PATH}: {e}"))?;
    Ok(vec![Generated {
        path: PATH.into(),
        content: built?,
    }])
}

// ---------------------------------------------------------------------------------
// The UniFFI sources

fn uniffi(root: &Path) -> Result<Vec<Generated>> {
    const FILES: [&str; 4] = [
        "kotlin/src/main/kotlin/io/github/bgcopy/bgcopy.kt",
        "swift/Sources/BgCopy/BgCopy.swift",
        "swift/Sources/BgCopyFFI/BgCopyFFI.h",
        "swift/Sources/BgCopyFFI/module.modulemap",
    ];
    let tmp = std::env::temp_dir().join(format!("bgcopy-codegen-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let generated =
        run(Command::new(root.join("bindings-swift/generate.sh")).arg(&tmp)).and_then(|()| {
            FILES
                .iter()
                .map(|f| {
                    Ok(Generated {
                        path: format!("bindings-swift/{f}"),
                        content: read(&tmp.join(f))?,
                    })
                })
                .collect()
        });
    let _ = std::fs::remove_dir_all(&tmp);
    generated
}

// ---------------------------------------------------------------------------------
// target/<profile>/bgcopy.pc

fn pkg_config(root: &Path, release: bool) -> Result<()> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let lib_dir = target.join(if release { "release" } else { "debug" });
    let template = String::from_utf8(read(&root.join("ffi-c/bgcopy.pc.in"))?)
        .map_err(|e| format!("ffi-c/bgcopy.pc.in: {e}"))?;
    let pc = template
        .replace("@prefix@", &root.to_string_lossy())
        .replace("@libdir@", &lib_dir.to_string_lossy())
        .replace("@includedir@", &root.join("include").to_string_lossy())
        .replace("@licensedir@", &root.to_string_lossy())
        .replace("@version@", env!("CARGO_PKG_VERSION"));
    std::fs::create_dir_all(&lib_dir).map_err(|e| format!("{}: {e}", lib_dir.display()))?;
    let out = lib_dir.join("bgcopy.pc");
    std::fs::write(&out, pc).map_err(|e| format!("write {}: {e}", out.display()))?;
    println!("wrote {}", out.display());
    // The library's SONAME is libbgcopy.so.MAJOR (ffi-c/build.rs): programs linked
    // against the build tree look for that name when they start.
    #[cfg(unix)]
    {
        let soname = lib_dir.join(concat!("libbgcopy.so.", env!("CARGO_PKG_VERSION_MAJOR")));
        let _ = std::fs::remove_file(&soname);
        std::os::unix::fs::symlink("libbgcopy.so", &soname)
            .map_err(|e| format!("link {}: {e}", soname.display()))?;
        println!("linked {} -> libbgcopy.so", soname.display());
    }
    Ok(())
}

// ---------------------------------------------------------------------------------
// The licence texts inside each package's folder (a wheel, an sdist and an npm tarball
// carry only what is in their folder).

/// Where the root's `LICENSE-MIT` and `LICENSE-APACHE` are copied.
const LICENSE_COPIES: &[&str] = &["bindings-python", "bindings-node"];

fn licenses(root: &Path) -> Result<Vec<Generated>> {
    let mut out = Vec::new();
    for name in ["LICENSE-MIT", "LICENSE-APACHE"] {
        let text = read(&root.join(name))?;
        for dir in LICENSE_COPIES {
            out.push(Generated {
                path: format!("{dir}/{name}"),
                content: text.clone(),
            });
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------

fn codegen(root: &Path, check: bool, groups: &[String]) -> Result<bool> {
    let all = groups.is_empty();
    let wants = |g: &str| all || groups.iter().any(|x| x == g);
    for g in groups {
        if !["header", "node", "uniffi", "licenses"].contains(&g.as_str()) {
            return Err(format!(
                "unknown group {g:?}: the groups are header, node, uniffi, licenses"
            ));
        }
    }
    let mut files = Vec::new();
    if wants("header") {
        files.extend(header(root)?);
    }
    if wants("node") {
        files.extend(node(root)?);
    }
    if wants("uniffi") {
        files.extend(uniffi(root)?);
    }
    if wants("licenses") {
        files.extend(licenses(root)?);
    }
    let mut current = true;
    for f in files {
        let path = root.join(&f.path);
        let same = std::fs::read(&path).ok().as_deref() == Some(&f.content[..]);
        if same {
            println!("{}: up to date", f.path);
        } else if check {
            println!(
                "{}: differs from what `cargo xtask codegen` generates: run it and commit",
                f.path
            );
            current = false;
        } else {
            std::fs::write(&path, &f.content).map_err(|e| format!("write {}: {e}", f.path))?;
            println!("{}: regenerated", f.path);
        }
    }
    Ok(current)
}

const USAGE: &str = "usage: cargo xtask codegen [--check] [header] [node] [uniffi] [licenses]
       cargo xtask pkg-config [--release]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = root();
    let result = match args.first().map(String::as_str) {
        Some("codegen") => {
            let check = args.iter().any(|a| a == "--check");
            let groups: Vec<String> = args[1..]
                .iter()
                .filter(|a| *a != "--check")
                .cloned()
                .collect();
            codegen(&root, check, &groups)
        }
        Some("pkg-config") => {
            let release = args.iter().any(|a| a == "--release");
            pkg_config(&root, release).map(|()| true)
        }
        _ => Err(USAGE.to_string()),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_are_written_in_the_spec_form() {
        assert_eq!(
            tidy_constant("#define BGCOPY_E_INVALID_STATE (int32_t)2149580802u\n").as_deref(),
            Some("#define BGCOPY_E_INVALID_STATE ((int32_t)0x80200002u)\n")
        );
        assert_eq!(
            tidy_constant("#define BGCOPY_S_PARTIAL_COMPLETE 2097175\n").as_deref(),
            Some("#define BGCOPY_S_PARTIAL_COMPLETE ((int32_t)0x00200017)\n")
        );
        assert_eq!(
            tidy_constant("#define BGCOPY_NOTIFY_JOB_ERROR 2\n").as_deref(),
            Some("#define BGCOPY_NOTIFY_JOB_ERROR 0x02\n")
        );
        assert_eq!(
            tidy_constant("#define BGCOPY_WAIT_INFINITE 4294967295\n").as_deref(),
            Some("#define BGCOPY_WAIT_INFINITE 0xFFFFFFFFu\n")
        );
        assert_eq!(tidy_constant("#define BGCOPY_JOB_STATE_ERROR 4\n"), None);
        assert_eq!(
            tidy_header("void f(struct bgcopy_job *j);\n"),
            "void f(bgcopy_job *j);\n"
        );
    }
}
