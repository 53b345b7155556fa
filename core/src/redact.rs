//! The one redaction rule for showing URLs: a password in the userinfo (or a lone user
//! name, where services put tokens) becomes `***` wherever bgcopy shows a URL or text
//! that may hold one (getters, error messages, descriptions, logs).

use std::borrow::Cow;

/// What `***` replaces.
const MASK: &str = "***";

/// `url` with the secret part of its userinfo replaced by `***`
/// (`https://alice:***@host/…`, `https://***@host/…` for a lone user name).
pub fn redact_url(url: &str) -> String {
    redact_text(url).into_owned()
}

/// `text` as the log shows it: every URL in it without its query and fragment (`?…`;
/// signed URLs carry their tokens there) and with its password masked, whoever wrote
/// the text (an error description quoting a redirect's `Location`, say).
pub fn loggable_text(text: &str) -> String {
    let text = redact_text(text);
    if !text.contains("://") {
        return text.into_owned();
    }
    let ends_url = |c: char| {
        c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '`' | ')' | ']' | '}' | '|')
    };
    let mut out = String::with_capacity(text.len());
    let mut rest: &str = &text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail.find(ends_url).unwrap_or(tail.len());
        let url = &tail[..end];
        match url.find(['?', '#']) {
            Some(q) => {
                out.push_str(&url[..q]);
                out.push_str("?…");
            }
            None => out.push_str(url),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// `text` with the userinfo secret of every URL in it replaced by `***`.
pub fn redact_text(text: &str) -> Cow<'_, str> {
    if !text.contains("://") || !text.contains('@') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| {
                matches!(c, '/' | '?' | '#' | '\\' | '"' | '\'' | '<' | '>' | '`')
                    || c.is_whitespace()
                    || c.is_control()
            })
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(at) if at > 0 => {
                let userinfo = &authority[..at];
                match userinfo.split_once(':') {
                    Some((user, _)) if !user.is_empty() => {
                        out.push_str(user);
                        out.push(':');
                        out.push_str(MASK);
                    }
                    _ => out.push_str(MASK),
                }
                out.push_str(&authority[at..]);
            }
            _ => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// `s` safe to print on a terminal: control characters (ESC sequences, CR, BEL, …) and
/// the invisible bidirectional overrides are shown escaped (`\u{1b}`). JSON output
/// stays exact; this is for human output only.
pub fn printable(s: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| {
        c.is_control()
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !s.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if unsafe_char(c) {
            let _ = std::fmt::Write::write_fmt(&mut out, format_args!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logged_text_has_no_secret_and_no_query_in_any_url() {
        assert_eq!(
            loggable_text(
                "redirect loop at https://a:b@h.test/x?sig=1 then \"http://c.test/?t=2\" (ok)"
            ),
            "redirect loop at https://a:***@h.test/x?… then \"http://c.test/?…\" (ok)"
        );
        assert_eq!(loggable_text("no url ?here"), "no url ?here");
        assert_eq!(loggable_text("end http://h/p#frag"), "end http://h/p?…");
    }

    #[test]
    fn a_logged_url_has_no_secret_and_no_query() {
        assert_eq!(
            loggable_text("https://u:pw@h.test/a/b?X-Amz-Signature=abc#f"),
            "https://u:***@h.test/a/b?…"
        );
        assert_eq!(loggable_text("http://h.test/x"), "http://h.test/x");
    }

    #[test]
    fn secrets_are_redacted() {
        assert_eq!(
            redact_url("https://alice:pw@host/x"),
            "https://alice:***@host/x"
        );
        assert_eq!(redact_url("https://tok3n@host/x"), "https://***@host/x");
        assert_eq!(redact_url("https://host/x@y"), "https://host/x@y");
        assert_eq!(
            redact_text("GET \"http://u:p%40ss@h:1/a\" then https://v:q@i/ done"),
            "GET \"http://u:***@h:1/a\" then https://v:***@i/ done"
        );
        assert_eq!(redact_text("no url @ all"), "no url @ all");
        assert_eq!(redact_text("x://@h"), "x://@h");
    }
}
