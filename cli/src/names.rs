//! Local names for `get`: file names from URLs, the `-i LIST` format, shell quoting.

use std::path::{Component, Path, PathBuf};

pub use bgcopy::names::file_name_from_url;

/// One entry of a `-i LIST` file.
#[derive(Debug, PartialEq, Eq)]
pub struct ListEntry {
    /// The URL.
    pub url: String,
    /// The path relative to the destination directory, if the line gave one.
    pub path: Option<PathBuf>,
    /// The content's expected SHA-256 (` sha256=HEX` at the end of the line).
    pub sha256: Option<String>,
}

/// Parse a LIST: one `URL` or `URL<TAB>relative/path` a line; blank lines and lines
/// starting with `#` are skipped. Errors name the line.
pub fn parse_list(text: &str) -> Result<Vec<ListEntry>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        // ` sha256=HEX` ends the line.
        let (line, sha256) = match line.trim_end().rsplit_once(char::is_whitespace) {
            Some((rest, last)) if last.starts_with("sha256=") => {
                (rest, Some(last["sha256=".len()..].to_string()))
            }
            _ => (line, None),
        };
        let t = line.trim();
        let (url, path) = match line.split_once('\t') {
            Some((u, p)) => (u.trim(), Some(p.trim())),
            None => (t, None),
        };
        if url.is_empty() || url.chars().any(char::is_whitespace) {
            return Err(format!(
                "line {}: expected \"URL\" or \"URL<TAB>relative/path\", got {line:?}",
                n + 1
            ));
        }
        let path = match path.filter(|p| !p.is_empty()) {
            None => None,
            Some(p) => {
                let pb = PathBuf::from(p);
                let ok =
                    pb.components().all(|c| matches!(c, Component::Normal(_))) && !p.ends_with('/');
                if !ok {
                    return Err(format!(
                        "line {}: {p:?} must be a relative file path without `.` or `..`",
                        n + 1
                    ));
                }
                Some(pb)
            }
        };
        out.push(ListEntry {
            url: url.to_string(),
            path,
            sha256,
        });
    }
    Ok(out)
}

/// Quote `s` for a POSIX shell when it needs quoting.
pub fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@%+=,".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// `path` made absolute against the current directory (not resolving symlinks).
pub fn absolute(path: &Path) -> std::io::Result<PathBuf> {
    std::path::absolute(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists() {
        let l = parse_list("# c\n\nhttp://a/x\r\nhttp://a/y\tsub/y.bin\n  http://a/z \n").unwrap();
        assert_eq!(l.len(), 3);
        assert_eq!(l[0].path, None);
        assert_eq!(l[1].path.as_deref(), Some(Path::new("sub/y.bin")));
        assert_eq!(l[2].url, "http://a/z");
        assert!(
            parse_list("http://a/x\t../y")
                .unwrap_err()
                .contains("line 1")
        );
        assert!(parse_list("http://a/x\t/etc/y").is_err());
        assert!(parse_list("\nhttp://a/x y").unwrap_err().contains("line 2"));
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("/tmp/a-b"), "/tmp/a-b");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
