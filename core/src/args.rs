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
    /// The last file's folder, held open. One at a time (a job may name thousands).
    held: Option<Folder>,
    /// How many paths this call checks (a large set reads its folders' names once).
    expected: usize,
}

/// A folder of the files being checked: held open (its names are looked up without
/// walking its path again) and, for a large set, its names read once: a name that
/// does not exist yet (the usual case) then costs no lookup at all.
struct Folder {
    path: PathBuf,
    dir: Option<crate::sys::Dir>,
    names: Option<std::collections::HashMap<std::ffi::OsString, Kind>>,
}

/// What a folder's listing says a name is (links not followed).
#[derive(Clone, Copy)]
enum Kind {
    Dir,
    File,
    /// A link, or a file system that does not say: asked about.
    Ask,
}

/// A set of at least this many files reads the names of each of its folders once.
const LIST_FROM: usize = 64;

impl Folder {
    fn open(path: &Path, expected: usize) -> Folder {
        // Reading more entries than four per file checked costs more than asking.
        let names = (expected >= LIST_FROM)
            .then(|| Folder::names(path, expected.saturating_mul(4).max(4096)))
            .flatten();
        Folder {
            path: path.to_path_buf(),
            dir: crate::sys::Dir::open(path).ok(),
            names,
        }
    }

    /// The folder's names (`None` when it holds more than `most`, or cannot be read).
    fn names(
        path: &Path,
        most: usize,
    ) -> Option<std::collections::HashMap<std::ffi::OsString, Kind>> {
        let mut names = std::collections::HashMap::new();
        for entry in std::fs::read_dir(path).ok()? {
            let entry = entry.ok()?;
            if names.len() >= most {
                return None;
            }
            let kind = match entry.file_type() {
                Ok(t) if t.is_dir() => Kind::Dir,
                Ok(t) if t.is_file() => Kind::File,
                _ => Kind::Ask,
            };
            names.insert(entry.file_name(), kind);
        }
        Some(names)
    }

    /// Whether `name` in this folder is a directory, links followed.
    fn is_dir(&self, name: &std::ffi::OsStr) -> bool {
        match self.names.as_ref().map(|n| n.get(name)) {
            Some(Some(Kind::Dir)) => true,
            Some(Some(Kind::File)) | Some(None) => false,
            Some(Some(Kind::Ask)) | None => match &self.dir {
                Some(d) => d.is_dir(name),
                None => self.path.join(name).is_dir(),
            },
        }
    }
}

impl<'a> LocalPaths<'a> {
    /// For `expected` paths (the size of the set being added).
    pub(crate) fn new(state_dir: &'a Path, expected: usize) -> Self {
        LocalPaths {
            state_dir,
            dirs: std::collections::HashMap::new(),
            held: None,
            expected,
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
        if self.held.as_ref().is_none_or(|f| f.path != parent) {
            self.held = Some(Folder::open(&parent, self.expected));
        }
        let is_dir = self.held.as_ref().is_some_and(|f| f.is_dir(name));
        if is_dir {
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
