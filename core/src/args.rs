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

/// Checks the local paths given to `add_file`/`add_file_set`: each must be absolute,
/// name a file (its name within the file system's `NAME_MAX` bytes) in an existing
/// directory that is not inside the state directory. [`LocalPaths::check`] returns the
/// path with its directory resolved. Each directory is resolved (and its `NAME_MAX`
/// read) once per call, not once per file: a thousand files in one folder were a
/// thousand `realpath` walks and `statfs` calls.
pub(crate) struct LocalPaths<'a> {
    state_dir: &'a Path,
    /// Directory as given → (as the kernel resolves it, its `NAME_MAX`).
    dirs: std::collections::HashMap<PathBuf, (PathBuf, usize)>,
    /// The last file's directory (as resolved), held open: the next names in it are
    /// looked up without walking its path again. One at a time (a job may name
    /// thousands of directories).
    held: Option<(PathBuf, crate::sys::Dir)>,
}

impl<'a> LocalPaths<'a> {
    pub(crate) fn new(state_dir: &'a Path) -> Self {
        LocalPaths {
            state_dir,
            dirs: std::collections::HashMap::new(),
            held: None,
        }
    }

    /// The path, checked, and its directory's `NAME_MAX`.
    pub(crate) fn check(&mut self, local: &str) -> Result<(PathBuf, usize)> {
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
        let given = path.parent().unwrap_or(Path::new("/"));
        let name = path.file_name().unwrap_or_default();
        if name == ".." || name == "." {
            return Err(Error::invalid_arg(format!(
                "local path {local:?} does not name a file"
            )));
        }
        let (parent, max) = match self.dirs.get(given) {
            Some((p, m)) => (p.clone(), *m),
            None => {
                let resolved = self.dir(local, given)?;
                self.dirs.insert(given.to_path_buf(), resolved.clone());
                resolved
            }
        };
        let bytes = name.len();
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
        if self.held.as_ref().is_none_or(|(p, _)| *p != parent) {
            self.held = crate::sys::Dir::open(&parent)
                .ok()
                .map(|d| (parent.clone(), d));
        }
        let path = parent.join(name);
        let is_dir = match &self.held {
            Some((_, d)) => d.is_dir(name),
            None => path.is_dir(),
        };
        if is_dir {
            return Err(Error::invalid_arg(format!(
                "local path {local:?} is a directory"
            )));
        }
        Ok((path, max))
    }

    /// The directory `given` of `local` as the kernel resolves it (symlinks, `..`), so
    /// that two spellings of one file are one file, and its `NAME_MAX`.
    fn dir(&self, local: &str, given: &Path) -> Result<(PathBuf, usize)> {
        let parent = match given.canonicalize() {
            Ok(p) if p.is_dir() => p,
            _ => {
                return Err(Error::invalid_arg(format!(
                    "the directory of local path {local:?} does not exist"
                )));
            }
        };
        if parent.starts_with(self.state_dir) {
            return Err(Error::invalid_arg(format!(
                "local path {local:?} is inside the state directory {}: bgcopy never writes \
                 its downloads among its own files",
                self.state_dir.display()
            )));
        }
        let max = crate::sys::name_max(&parent);
        Ok((parent, max))
    }
}
