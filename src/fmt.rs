//! Formatting of rendered Rust sources with `rustfmt`, so generated projects pass
//! `cargo fmt --check` (STYLE.md: "Formatted output").
//!
//! This is the one place the core runs a program. Sources are written to a private
//! temporary folder laid out as the project and formatted by one rustfmt process over the
//! crate roots (not one per file: a large contract renders over a thousand files). When
//! `rustfmt` is missing or fails, the files are left as rendered and reported, so the
//! caller can say so.

use crate::render::File;
use std::process::Command;

/// Formats every `.rs` file in place with `rustfmt --edition 2021`. The files are laid
/// out in a temporary folder as in the project and rustfmt is given the crate roots (files
/// no `mod` declaration reaches are passed too), as `cargo fmt` does. Returns the paths it
/// could not format, with the reason.
pub fn format_rust(files: &mut [File]) -> Vec<(String, String)> {
    let indices: Vec<usize> = files
        .iter()
        .enumerate()
        .filter(|(_, f)| f.path.ends_with(".rs"))
        .map(|(i, _)| i)
        .collect();
    let fail_all = |files: &[File], why: String| {
        indices
            .iter()
            .map(|&i| (files[i].path.clone(), why.clone()))
            .collect::<Vec<_>>()
    };
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => return fail_all(files, format!("no temporary folder: {e}")),
    };
    for &i in &indices {
        let p = dir.path().join(&files[i].path);
        let written = p
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|_| std::fs::write(&p, &files[i].contents));
        if let Err(e) = written {
            return fail_all(files, e.to_string());
        }
    }
    let roots: Vec<std::path::PathBuf> = indices
        .iter()
        .map(|&i| files[i].path.as_str())
        .filter(|p| {
            !(p.starts_with("src/") || p.starts_with("tests/api/"))
                || matches!(*p, "src/lib.rs" | "src/main.rs" | "tests/api/main.rs")
        })
        .map(|p| dir.path().join(p))
        .collect();
    let out = Command::new("rustfmt")
        .args(["--edition", "2021", "--quiet"])
        .args(&roots)
        .output();
    let reason = match out {
        Ok(o) if o.status.success() => None,
        Ok(o) => Some(String::from_utf8_lossy(&o.stderr).into_owned()),
        Err(e) => Some(format!("cannot run rustfmt: {e}")),
    };
    if let Some(r) = reason {
        return fail_all(files, r);
    }
    let mut failed = Vec::new();
    for &i in &indices {
        match std::fs::read_to_string(dir.path().join(&files[i].path)) {
            Ok(text) => files[i].contents = text,
            Err(e) => failed.push((files[i].path.clone(), e.to_string())),
        }
    }
    failed
}
