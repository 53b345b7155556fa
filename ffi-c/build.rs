//! The shared library's SONAME: `libbgcopy.so.MAJOR` (`libbgcopy.so.0` before 1.0), so
//! that programs linked against it keep working across compatible updates and the
//! installed layout is the usual one (`libbgcopy.so.0.1.0`, with `libbgcopy.so.0` and
//! `libbgcopy.so` links; `ffi-c/install.sh`). `cargo xtask pkg-config` adds the
//! `libbgcopy.so.0` link to the build tree.

fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os == "linux" || os == "android" || os.ends_with("bsd") {
        let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap_or_else(|_| "0".into());
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libbgcopy.so.{major}");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
