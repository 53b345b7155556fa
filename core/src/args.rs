//! Checks of the arguments every language passes through: text, lengths, local paths.

use crate::error::{Error, Result, codes};
use std::path::{Path, PathBuf};

pub(crate) fn check_text(what: &str, s: &str) -> Result<()> {
    if s.contains('\0') {
        return Err(Error::invalid_arg(format!(
            "{what} contains a NUL character"
        )));
    }
    Ok(())
}

pub(crate) fn check_len(what: &str, s: &str, max: usize) -> Result<()> {
    check_text(what, s)?;
    let n = s.chars().count();
    if n > max {
        return Err(Error::new(
            codes::STRING_TOO_LONG,
            format!("{what} is {n} characters; at most {max} are allowed"),
        ));
    }
    Ok(())
}

/// Check a local path given to `add_file`: absolute, naming a file (its name within
/// the file system's `NAME_MAX` bytes) in an existing directory that is not inside
/// the state directory `state_dir`. Returns it with the directory resolved.
pub(crate) fn check_local(local: &str, state_dir: &Path) -> Result<PathBuf> {
    check_len("local path", local, 4096)?;
    let path = PathBuf::from(local);
    if !path.is_absolute() {
        return Err(Error::invalid_arg(format!(
            "local path {local:?} is not absolute"
        )));
    }
    if local.ends_with('/') || path.file_name().is_none() {
        return Err(Error::invalid_arg(format!(
            "local path {local:?} does not name a file"
        )));
    }
    let parent = path.parent().unwrap_or(Path::new("/"));
    let name = path.file_name().unwrap_or_default();
    if name == ".." || name == "." {
        return Err(Error::invalid_arg(format!(
            "local path {local:?} does not name a file"
        )));
    }
    // The directory as the kernel resolves it (symlinks, `..`), so that two spellings
    // of one file are one file.
    let parent = match parent.canonicalize() {
        Ok(p) if p.is_dir() => p,
        _ => {
            return Err(Error::invalid_arg(format!(
                "the directory of local path {local:?} does not exist"
            )));
        }
    };
    if parent.starts_with(state_dir) {
        return Err(Error::invalid_arg(format!(
            "local path {local:?} is inside the state directory {}: bgcopy never writes \
             its downloads among its own files",
            state_dir.display()
        )));
    }
    let bytes = name.len();
    let max = crate::sys::name_max(&parent);
    if bytes > max {
        return Err(Error::new(
            codes::STRING_TOO_LONG,
            format!(
                "the file name of local path {local:?} is {bytes} bytes; the file system \
                 of {} allows at most {max}",
                parent.display()
            ),
        ));
    }
    let path = parent.join(name);
    if path.is_dir() {
        return Err(Error::invalid_arg(format!(
            "local path {local:?} is a directory"
        )));
    }
    Ok(path)
}
