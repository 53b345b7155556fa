//! Deterministic file content and validators.
//!
//! The byte at absolute offset `i` of content version `v` is
//! `((i % 251) + 7 * v) % 256`. Because the pattern repeats every 251 bytes,
//! any window of up to [`CHUNK`] bytes is a plain sub-slice of a precomputed
//! buffer, so serving content costs no per-byte work.

use std::sync::OnceLock;

/// Size of the body chunks the server writes (64 KiB).
pub const CHUNK: usize = 64 * 1024;

/// Period of the content pattern.
const PERIOD: u64 = 251;

/// `Last-Modified` value of content version 0.
pub const LAST_MODIFIED_V0: &str = "Sun, 06 Nov 1994 08:49:37 GMT";
/// `Last-Modified` value of content version 1 (one day later).
pub const LAST_MODIFIED_V1: &str = "Mon, 07 Nov 1994 08:49:37 GMT";

/// The byte at absolute offset `offset` of content version `version`.
pub fn byte_at(offset: u64, version: u8) -> u8 {
    (((offset % PERIOD) + 7 * u64::from(version)) % 256) as u8
}

/// Precomputed pattern buffers, one per content version.
fn patterns() -> &'static [Vec<u8>; 2] {
    static PATTERNS: OnceLock<[Vec<u8>; 2]> = OnceLock::new();
    PATTERNS.get_or_init(|| {
        let make = |v: u8| -> Vec<u8> {
            (0..(CHUNK as u64 + PERIOD))
                .map(|i| byte_at(i, v))
                .collect()
        };
        [make(0), make(1)]
    })
}

/// The content of `version` from absolute offset `offset`, `len` bytes long.
///
/// `len` must not exceed [`CHUNK`].
pub fn slice(version: u8, offset: u64, len: usize) -> &'static [u8] {
    debug_assert!(len <= CHUNK);
    let phase = (offset % PERIOD) as usize;
    &patterns()[usize::from(version.min(1))][phase..phase + len]
}

/// The `Last-Modified` value of a content version.
pub fn last_modified(version: u8) -> &'static str {
    if version == 0 {
        LAST_MODIFIED_V0
    } else {
        LAST_MODIFIED_V1
    }
}

/// The entity tag of a content version: `"v<version>-<size>"`, or
/// `W/"v<version>-<size>"` when `weak`.
pub fn etag(version: u8, size: u64, weak: bool) -> String {
    format!("{}\"v{version}-{size}\"", if weak { "W/" } else { "" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_match_formula() {
        for v in 0..2u8 {
            for off in [0u64, 1, 250, 251, 252, 1_000_003, u64::from(u32::MAX)] {
                let s = slice(v, off, 600);
                for (k, b) in s.iter().enumerate() {
                    assert_eq!(*b, byte_at(off + k as u64, v));
                }
            }
            assert_eq!(slice(v, 12345, CHUNK).len(), CHUNK);
        }
        assert_eq!(byte_at(249, 1), 0);
        assert_eq!(byte_at(250, 1), 1);
        assert_eq!(byte_at(251, 0), 0);
    }
}
