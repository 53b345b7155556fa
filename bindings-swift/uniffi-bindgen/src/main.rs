//! The `uniffi-bindgen` command, pinned to the UniFFI version of `bgcopy-uniffi`.
fn main() {
    uniffi::uniffi_bindgen_main()
}
