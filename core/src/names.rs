//! File names from URLs: what a one-call download (and the CLI's `get -d`) saves a URL
//! as when no name is given.

/// The file name a download saves `url` as in a directory: its last path segment, percent-decoded and
/// sanitized; `index.html` when that is empty.
pub fn file_name_from_url(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let end = rest.find(['?', '#']).unwrap_or(rest.len());
    let rest = &rest[..end];
    // Without a '/', everything is the authority: no path at all.
    let segment = rest.find('/').map_or("", |i| {
        let path = &rest[i..];
        &path[path.rfind('/').map_or(0, |j| j + 1)..]
    });
    sanitize(&percent_decode(segment))
}

/// Decode `%XX` escapes (invalid ones stay as they are); invalid UTF-8 becomes U+FFFD.
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// Make `name` a safe single file name: path separators and control characters become
/// `_`, surrounding white space goes, at most 255 bytes; `""`, `.` and `..` become
/// `index.html`. A name that looks like one of bgcopy's temporary files gets a `_`.
pub fn sanitize(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| {
            if c == '/' || c == '\\' || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    s = s.trim().to_string();
    if s.len() > 255 {
        let mut cut = 255;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    if s.is_empty() || s == "." || s == ".." {
        return "index.html".to_string();
    }
    if s.ends_with(".bgcopy-part") {
        s.push('_');
    }
    s
}

/// A display name for a job of `files` (URL, local path): `PREFIX NAME` after the first
/// file's name, `… and N more` for several, at most 256 characters.
pub fn job_name(prefix: &str, files: &[(String, std::path::PathBuf)]) -> String {
    let first = files
        .first()
        .and_then(|(_, l)| l.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut s = format!("{prefix} {first}");
    if files.len() > 1 {
        s.push_str(&format!(" and {} more", files.len() - 1));
    }
    s.chars().take(256).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_urls() {
        assert_eq!(file_name_from_url("http://h/a/b.iso?x=1#f"), "b.iso");
        assert_eq!(file_name_from_url("http://h/a/"), "index.html");
        assert_eq!(file_name_from_url("http://h"), "index.html");
        assert_eq!(file_name_from_url("http://h?q=/x"), "index.html");
        assert_eq!(
            file_name_from_url("http://h/my%20file%2Ftxt"),
            "my file_txt"
        );
        assert_eq!(file_name_from_url("http://h/%2e%2e"), "index.html");
        assert_eq!(file_name_from_url("http://h/caf%C3%A9"), "café");
        assert_eq!(file_name_from_url("http://h/bad%zz%4"), "bad%zz%4");
        assert_eq!(file_name_from_url("http://h/a%0Ab"), "a_b");
        assert_eq!(
            file_name_from_url("http://h/x.bgcopy-part"),
            "x.bgcopy-part_"
        );
        assert_eq!(sanitize(&"é".repeat(200)).len(), 254);
    }
}
