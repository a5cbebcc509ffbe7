//! Formatting of rendered Rust sources with `rustfmt`, so generated projects pass
//! `cargo fmt --check`.
//!
//! This is the one place the core runs a program. A large contract renders over a
//! thousand files, so rustfmt is not started once per file: files that declare no
//! out-of-line module (leaves) are written to a private temporary folder and handed to a
//! few rustfmt processes at once, one per core, in batches of about equal size. Files that
//! declare modules (`lib.rs`, `routes/mod.rs`, …) go through rustfmt's standard input,
//! where it formats just the text given and does not follow `mod` declarations. When
//! `rustfmt` is missing or fails, the files it was given are left as rendered and
//! reported, so the caller can say so.

use crate::render::File;
use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// What [`format_rust`] did: the files it could not format, and the folder it formatted in.
#[derive(Debug, Default)]
pub struct Formatted {
    /// Project-relative paths rustfmt could not format, with the reason (rustfmt's
    /// message, or why it could not run); those files are left as rendered.
    pub failed: Vec<(String, String)>,
    /// rustfmt's scratch folder: the files it formatted by path, laid out at their project
    /// paths and identical to their formatted contents. A new project's files can be moved
    /// from here rather than written again ([`crate::write::write_project`]); the folder is
    /// removed when this is dropped.
    pub scratch: Option<tempfile::TempDir>,
}

/// Formats every `.rs` file in place with `rustfmt --edition 2021`.
/// Modules declared under `#[rustfmt::skip]` (generated tables) are left as rendered, as
/// `cargo fmt` leaves them.
pub fn format_rust(files: &mut [File]) -> Formatted {
    let skipped: Vec<String> = files
        .iter()
        .flat_map(|f| skipped_modules(&f.path, &f.contents))
        .collect();
    let (parents, leaves): (Vec<usize>, Vec<usize>) = (0..files.len())
        .filter(|&i| files[i].path.ends_with(".rs") && !skipped.contains(&files[i].path))
        .partition(|&i| declares_modules(&files[i].contents));
    let mut failed = Vec::new();
    // An empty rustfmt.toml named on every command line: rustfmt's defaults whatever
    // configuration lies above the temporary folder, and no search for one per file.
    let scratch = tempfile::tempdir().and_then(|d| {
        std::fs::write(d.path().join(CONFIG), "")?;
        Ok(d)
    });
    let dir = match scratch {
        Ok(d) => d,
        Err(e) => {
            let why = format!("no temporary folder: {e}");
            let failed = leaves
                .iter()
                .chain(&parents)
                .map(|&i| (files[i].path.clone(), why.clone()))
                .collect();
            return Formatted {
                failed,
                scratch: None,
            };
        }
    };
    // Start every process before waiting on any, so they share the cores.
    let mut batches: Vec<(Vec<usize>, Result<Child, String>)> = Vec::new();
    for batch in balanced_batches(files, &leaves) {
        let written = batch.iter().try_for_each(|&i| {
            let p = dir.path().join(&files[i].path);
            p.parent().map_or(Ok(()), std::fs::create_dir_all)?;
            std::fs::write(&p, &files[i].contents)
        });
        let child = written.map_err(|e| e.to_string()).and_then(|()| {
            rustfmt(dir.path())
                .args(batch.iter().map(|&i| dir.path().join(&files[i].path)))
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|e| format!("cannot run rustfmt: {e}"))
        });
        batches.push((batch, child));
    }
    let piped: Vec<(usize, Result<Child, String>)> = parents
        .iter()
        .map(|&i| (i, through_stdin(dir.path(), &files[i].contents)))
        .collect();
    for (batch, child) in batches {
        match finish(child) {
            Ok(_) => {
                for i in batch {
                    match std::fs::read_to_string(dir.path().join(&files[i].path)) {
                        Ok(text) => files[i].contents = text,
                        Err(e) => failed.push((files[i].path.clone(), e.to_string())),
                    }
                }
            }
            Err(why) => failed.extend(batch.iter().map(|&i| (files[i].path.clone(), why.clone()))),
        }
    }
    for (i, child) in piped {
        match finish(child).and_then(|out| String::from_utf8(out).map_err(|e| e.to_string())) {
            Ok(text) => files[i].contents = text,
            Err(why) => failed.push((files[i].path.clone(), why)),
        }
    }
    failed.sort();
    Formatted {
        failed,
        scratch: Some(dir),
    }
}

/// The configuration file `format_rust` writes at the top of its scratch folder.
const CONFIG: &str = "rustfmt.toml";

/// `rustfmt --edition 2021` with the empty configuration in `scratch`.
fn rustfmt(scratch: &Path) -> Command {
    let mut c = Command::new("rustfmt");
    c.args(["--edition", "2021", "--quiet", "--config-path"])
        .arg(scratch.join(CONFIG));
    c
}

/// Starts rustfmt on `text` through standard input (the formatted text comes back on
/// standard output). rustfmt reads all of its input before it writes, so writing first
/// and reading afterwards cannot deadlock.
fn through_stdin(scratch: &Path, text: &str) -> Result<Child, String> {
    let mut child = rustfmt(scratch)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run rustfmt: {e}"))?;
    let mut stdin = child.stdin.take().ok_or("rustfmt has no standard input")?;
    let written = stdin.write_all(text.as_bytes());
    drop(stdin);
    match written {
        Ok(()) => Ok(child),
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            Err(format!("cannot write to rustfmt: {e}"))
        }
    }
}

/// Waits for a rustfmt process; its standard output on success, its message otherwise.
fn finish(child: Result<Child, String>) -> Result<Vec<u8>, String> {
    let out = child?
        .wait_with_output()
        .map_err(|e| format!("rustfmt did not finish: {e}"))?;
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

/// The name a line declares an out-of-line module by (`mod name;`, `pub mod name;`, …).
fn module_declared(line: &str) -> Option<&str> {
    let line = line.trim();
    let decl = line
        .strip_prefix("pub(crate) ")
        .or_else(|| line.strip_prefix("pub "))
        .unwrap_or(line);
    decl.strip_prefix("mod ")?.strip_suffix(';')
}

/// Whether a source declares an out-of-line module, which rustfmt would follow if the
/// file were passed by path.
fn declares_modules(text: &str) -> bool {
    text.lines().any(|l| module_declared(l).is_some())
}

/// The files of the modules `path` declares right after a `#[rustfmt::skip]` line:
/// `src/lib.rs` declaring `pub mod schemas;` names `src/schemas.rs` (a `mod.rs` or a crate
/// root declares its modules beside itself; other files, in the folder of their name).
fn skipped_modules(path: &str, text: &str) -> Vec<String> {
    let (dir, stem) = match path.rsplit_once('/') {
        Some((d, f)) => (format!("{d}/"), f.trim_end_matches(".rs")),
        None => (String::new(), path.trim_end_matches(".rs")),
    };
    let base = if matches!(stem, "mod" | "lib" | "main") {
        dir
    } else {
        format!("{dir}{stem}/")
    };
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    lines
        .windows(2)
        .filter(|w| w[0] == "#[rustfmt::skip]")
        .filter_map(|w| module_declared(w[1]).map(|name| format!("{base}{name}.rs")))
        .collect()
}

/// Splits `leaves` into one batch per available core (at most 8), each about the same
/// number of bytes: the largest files first, each to the lightest batch so far.
fn balanced_batches(files: &[File], leaves: &[usize]) -> Vec<Vec<usize>> {
    let n = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8)
        .min(leaves.len().max(1));
    let mut order = leaves.to_vec();
    order.sort_by_key(|&i| std::cmp::Reverse(files[i].contents.len()));
    let mut batches: Vec<(usize, Vec<usize>)> = vec![(0, Vec::new()); n];
    for i in order {
        if let Some(lightest) = batches.iter_mut().min_by_key(|(bytes, _)| *bytes) {
            lightest.0 += files[i].contents.len();
            lightest.1.push(i);
        }
    }
    batches
        .into_iter()
        .map(|(_, b)| b)
        .filter(|b| !b.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Owner;

    #[test]
    fn module_declarations_are_recognised() {
        assert!(declares_modules("pub mod a;\n"));
        assert!(declares_modules("// x\nmod tests;\n"));
        assert!(declares_modules("    pub(crate) mod inner;"));
        assert!(!declares_modules("mod tests {\n}\n"));
        assert!(!declares_modules("fn main() {}\n"));
    }

    #[test]
    fn skipped_modules_are_found_beside_their_parent() {
        let lib = "pub mod a;\n#[rustfmt::skip]\npub mod schemas;\n";
        assert_eq!(skipped_modules("src/lib.rs", lib), ["src/schemas.rs"]);
        assert_eq!(
            skipped_modules("src/routes/mod.rs", "#[rustfmt::skip]\nmod t;"),
            ["src/routes/t.rs"]
        );
        assert_eq!(
            skipped_modules("src/x.rs", "#[rustfmt::skip]\nmod t;"),
            ["src/x/t.rs"]
        );
        assert!(skipped_modules("src/lib.rs", "#[rustfmt::skip]\nfn f() {}\n").is_empty());
    }

    #[test]
    fn batches_cover_every_leaf_once() {
        let files: Vec<File> = (0..7)
            .map(|i| File {
                path: format!("src/f{i}.rs"),
                contents: "x".repeat(10 * (i + 1)),
                owner: Owner::Generated,
            })
            .collect();
        let leaves: Vec<usize> = (0..7).collect();
        let mut all: Vec<usize> = balanced_batches(&files, &leaves).concat();
        all.sort();
        assert_eq!(all, leaves);
        assert!(balanced_batches(&files, &[]).is_empty());
    }
}
