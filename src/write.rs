//! Stage 5, `write`: puts rendered files on disk without ever losing a user's file.
//!
//! Owns the write policy (DESIGN.md invariant 4): paths stay inside the target folder, a
//! new project appears all at once (written to a temporary sibling folder, then renamed),
//! single files are replaced atomically (temp file + rename), and user-owned files that
//! already exist are left alone. `dry_run` reports without touching the disk.

use crate::diag::Error;
use crate::plan::Owner;
use crate::render::File;
use std::io::Write;
use std::path::{Component, Path, PathBuf};

/// What a write did (or, in a dry run, would do). Paths are project-relative.
#[derive(Debug, Default, Clone)]
pub struct WriteReport {
    pub written: Vec<String>,
    /// User-owned files that already existed and were kept as they are.
    pub kept: Vec<String>,
}

/// Checks a project-relative path: no absolute paths, no `..`, no empty segments.
pub fn safe_relative(path: &str) -> Result<PathBuf, Error> {
    let p = Path::new(path);
    if path.is_empty()
        || p.is_absolute()
        || p.components().any(|c| !matches!(c, Component::Normal(_)))
    {
        return Err(Error::Target(format!(
            "refusing to write `{path}`: generated paths must stay inside the project folder"
        )));
    }
    Ok(p.to_path_buf())
}

/// Writes a new project into `dir`. A non-empty `dir` is refused unless `force`, in which
/// case generated files are replaced and existing user-owned files are kept.
///
/// Errors: `Error::Target` for a non-empty folder without `force`, a path that is not a
/// folder, or an unsafe path; `Error::Io` (naming the path) when the disk refuses.
pub fn write_project(
    dir: &Path,
    files: &[File],
    force: bool,
    dry_run: bool,
) -> Result<WriteReport, Error> {
    for f in files {
        safe_relative(&f.path)?;
    }
    let exists = dir.exists();
    if exists && !dir.is_dir() {
        return Err(Error::Target(format!(
            "{} exists and is not a folder",
            dir.display()
        )));
    }
    let non_empty = exists && fs_err::read_dir(dir)?.next().is_some();
    if non_empty && !force {
        return Err(Error::Target(format!("{} is not empty; choose a new folder, or pass --force to write into it (files you own there are kept)", dir.display())));
    }
    let mut report = WriteReport::default();
    if !exists {
        report.written = files.iter().map(|f| f.path.clone()).collect();
        if dry_run {
            return Ok(report);
        }
        let parent = match dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        fs_err::create_dir_all(&parent)?;
        let staging = tempfile::Builder::new()
            .prefix(".apigen-new-")
            .tempdir_in(&parent)
            .map_err(|e| {
                Error::Io(std::io::Error::new(
                    e.kind(),
                    format!("{}: {e}", parent.display()),
                ))
            })?;
        for f in files {
            let path = staging.path().join(safe_relative(&f.path)?);
            if let Some(p) = path.parent() {
                fs_err::create_dir_all(p)?;
            }
            fs_err::write(&path, &f.contents)?;
        }
        let staged = staging.keep();
        fs_err::rename(&staged, dir)?;
        return Ok(report);
    }
    for f in files {
        let path = dir.join(safe_relative(&f.path)?);
        if f.owner == Owner::User && path.exists() {
            report.kept.push(f.path.clone());
            continue;
        }
        report.written.push(f.path.clone());
        if !dry_run {
            write_atomic(&path, f.contents.as_bytes())?;
        }
    }
    Ok(report)
}

/// Applies a regeneration to the project in `dir`: each file replaced atomically, then
/// the deletions. Paths are checked to stay inside `dir`.
pub fn apply(dir: &Path, writes: &[File], deletes: &[String]) -> Result<(), Error> {
    for f in writes {
        write_atomic(&dir.join(safe_relative(&f.path)?), f.contents.as_bytes())?;
    }
    for d in deletes {
        fs_err::remove_file(dir.join(safe_relative(d)?))?;
    }
    Ok(())
}

/// Replaces `path` with `bytes` atomically: a temporary file in the same folder, then rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs_err::create_dir_all(parent)?;
    let mut tmp = tempfile::NamedTempFile::new_in(parent).map_err(|e| {
        Error::Io(std::io::Error::new(
            e.kind(),
            format!("{}: {e}", parent.display()),
        ))
    })?;
    tmp.write_all(bytes).map_err(|e| {
        Error::Io(std::io::Error::new(
            e.kind(),
            format!("{}: {e}", path.display()),
        ))
    })?;
    tmp.persist(path).map_err(|e| {
        Error::Io(std::io::Error::new(
            e.error.kind(),
            format!("{}: {}", path.display(), e.error),
        ))
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_paths_outside_the_project() {
        for bad in ["../x", "/etc/passwd", "a/../../b", ""] {
            assert!(safe_relative(bad).is_err(), "{bad}");
        }
        assert!(safe_relative("src/lib.rs").is_ok());
    }
}
