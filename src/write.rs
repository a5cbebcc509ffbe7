//! Stage 5, `write`: puts rendered files on disk without ever losing a user's file.
//!
//! Owns the write policy (ARCHITECTURE.md: apigen never writes outside the target folder …): paths stay inside the target folder, a
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
/// `reuse` is a folder that may already hold some of `files` at their project paths
/// (rustfmt's scratch folder, [`crate::Generated::scratch`]). When `dir` is new, a file
/// whose copy there has exactly its bytes is renamed into place instead of written again:
/// creating a file is the costly step on some file systems (ext4 without a journal scans
/// recently deleted inodes on every create), and a large contract has over a thousand.
/// Copies that differ, are missing or cannot be renamed (another file system) are ignored.
///
/// Errors: `Error::Target` for a non-empty folder without `force`, a path that is not a
/// folder, or an unsafe path; `Error::Io` (naming the path) when the disk refuses.
pub fn write_project(
    dir: &Path,
    files: &[File],
    force: bool,
    dry_run: bool,
    reuse: Option<&Path>,
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
            let moved = reuse.is_some_and(|r| move_if_same(&r.join(&f.path), &path, &f.contents));
            if !moved {
                fs_err::write(&path, &f.contents)?;
            }
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

/// Renames `from` to `to` when `from` holds exactly `contents`; whether it did.
fn move_if_same(from: &Path, to: &Path, contents: &str) -> bool {
    std::fs::read(from).is_ok_and(|b| b == contents.as_bytes()) && std::fs::rename(from, to).is_ok()
}

/// Applies a regeneration to the project in `dir`, all or nothing: every path is checked
/// to stay inside `dir` and every file it replaces is read first; then each file is
/// replaced atomically and the deletions follow. When any step fails, the files already
/// written or deleted are put back as they were (files that did not exist are removed)
/// and the first error is returned, naming its path.
pub fn apply(dir: &Path, writes: &[File], deletes: &[String]) -> Result<(), Error> {
    let mut before: Vec<(PathBuf, Option<Vec<u8>>)> = Vec::new();
    for path in writes
        .iter()
        .map(|f| f.path.as_str())
        .chain(deletes.iter().map(String::as_str))
    {
        let full = dir.join(safe_relative(path)?);
        let old = if full.is_file() {
            Some(fs_err::read(&full)?)
        } else {
            None
        };
        before.push((full, old));
    }
    let mut done = 0;
    let result = (|| {
        for f in writes {
            write_atomic(&dir.join(&f.path), f.contents.as_bytes())?;
            done += 1;
        }
        for d in deletes {
            fs_err::remove_file(dir.join(d))?;
            done += 1;
        }
        Ok(())
    })();
    if result.is_err() {
        for (path, old) in before[..done].iter().rev() {
            // Best effort: the original error is the one to report.
            let _ = match old {
                Some(bytes) => write_atomic(path, bytes),
                None => std::fs::remove_file(path).map_err(Error::from),
            };
        }
    }
    result
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

    #[test]
    fn a_new_project_takes_identical_scratch_files_and_writes_the_rest() {
        let scratch = tempfile::tempdir().unwrap();
        let out = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(scratch.path().join("src")).unwrap();
        std::fs::write(scratch.path().join("src/a.rs"), "fn a() {}\n").unwrap();
        std::fs::write(scratch.path().join("src/b.rs"), "stale\n").unwrap();
        let file = |path: &str, contents: &str| File {
            path: path.into(),
            contents: contents.into(),
            owner: Owner::Generated,
        };
        let files = [
            file("src/a.rs", "fn a() {}\n"),
            file("src/b.rs", "fn b() {}\n"),
            file("Cargo.toml", "[package]\n"),
        ];
        let dir = out.path().join("p");
        let report = write_project(&dir, &files, false, false, Some(scratch.path())).unwrap();
        assert_eq!(report.written.len(), 3);
        for f in &files {
            assert_eq!(
                std::fs::read_to_string(dir.join(&f.path)).unwrap(),
                f.contents
            );
        }
        // Moved when identical; a differing copy is neither used nor touched.
        assert!(!scratch.path().join("src/a.rs").exists());
        assert_eq!(
            std::fs::read_to_string(scratch.path().join("src/b.rs")).unwrap(),
            "stale\n"
        );
    }
}
