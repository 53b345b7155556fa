//! Checks of the arguments every language passes through: text, lengths, local paths.

use crate::error::{Error, Result, codes};
use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
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
    dirs: HashMap<PathBuf, (PathBuf, usize)>,
    /// How many paths this call checks: a set of [`LIST_FROM`] or more reads its
    /// folders' names once instead of asking about each name (most do not exist yet,
    /// and asking about a name that does not exist costs a lookup each).
    expected: usize,
    /// Folder (as resolved) → its names, or `None` when they are not read (too many,
    /// or a file system that does not compare names byte for byte).
    listed: HashMap<PathBuf, Option<HashMap<OsString, Kind>>>,
    /// Names the listings of this call may still read: four per path checked, at
    /// least 4096, so a set never reads much more than asking would have cost.
    budget: usize,
    /// The last folder asked about: each name is asked about relative to it.
    held: crate::sys::HeldDir,
}

/// What a folder's listing says a name is (links not followed).
#[derive(Clone, Copy)]
enum Kind {
    Dir,
    File,
    /// A link, or a file system that does not say: asked about.
    Ask,
}

/// A set of at least this many files reads the names of its folders once.
const LIST_FROM: usize = 64;

impl<'a> LocalPaths<'a> {
    /// For `expected` paths (the size of the set being added).
    pub(crate) fn new(state_dir: &'a Path, expected: usize) -> Self {
        LocalPaths {
            state_dir,
            dirs: HashMap::new(),
            expected,
            listed: HashMap::new(),
            budget: expected.saturating_mul(4).max(4096),
            held: crate::sys::HeldDir::default(),
        }
    }

    /// Whether `name` in the folder `parent` is a directory, links followed.
    fn is_dir(&mut self, parent: &Path, name: &OsStr) -> bool {
        if self.expected >= LIST_FROM && !self.listed.contains_key(parent) {
            let names = self.list(parent);
            self.listed.insert(parent.to_path_buf(), names);
        }
        match self
            .listed
            .get(parent)
            .and_then(Option::as_ref)
            .map(|n| n.get(name))
        {
            Some(Some(Kind::Dir)) => return true,
            Some(Some(Kind::File)) | Some(None) => return false,
            Some(Some(Kind::Ask)) | None => {}
        }
        match self.held.at(parent) {
            Some(d) => d.is_dir(name),
            None => parent.join(name).is_dir(),
        }
    }

    /// The names in `parent`, within the call's budget, if its file system compares
    /// names byte for byte.
    fn list(&mut self, parent: &Path) -> Option<HashMap<OsString, Kind>> {
        if self.budget == 0 {
            return None;
        }
        if !self.held.at(parent)?.names_are_exact() {
            return None;
        }
        let mut names = HashMap::new();
        for entry in std::fs::read_dir(parent).ok()? {
            let entry = entry.ok()?;
            if self.budget == 0 {
                return None;
            }
            self.budget -= 1;
            let kind = match entry.file_type() {
                Ok(t) if t.is_dir() => Kind::Dir,
                Ok(t) if t.is_file() => Kind::File,
                _ => Kind::Ask,
            };
            names.insert(entry.file_name(), kind);
        }
        Some(names)
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
        if self.is_dir(&parent, name) {
            return Err(Error::invalid_arg(format!(
                "local path {local:?} is a directory"
            )));
        }
        Ok((parent.join(name), max))
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
