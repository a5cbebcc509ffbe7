//! Formatting of rendered Rust sources with `rustfmt`, so generated projects pass
//! `cargo fmt --check` (STYLE.md: "Formatted output").
//!
//! This is the one place the core runs a program. When `rustfmt` is missing the sources
//! are left as rendered and the caller is told, so it can say so.

use crate::render::File;
use std::io::Write;
use std::process::{Command, Stdio};

/// Formats every `.rs` file in place with `rustfmt --edition 2021`. Returns the paths it
/// could not format (rustfmt missing, or a syntax error it reported) with the reason.
pub fn format_rust(files: &mut [File]) -> Vec<(String, String)> {
    let mut failed = Vec::new();
    for f in files.iter_mut().filter(|f| f.path.ends_with(".rs")) {
        match rustfmt(&f.contents) {
            Ok(out) => f.contents = out,
            Err(e) => failed.push((f.path.clone(), e)),
        }
    }
    failed
}

fn rustfmt(src: &str) -> Result<String, String> {
    let mut child = Command::new("rustfmt")
        .args(["--edition", "2021", "--emit", "stdout", "--quiet"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run rustfmt: {e}"))?;
    let mut stdin = child.stdin.take().ok_or("rustfmt has no stdin")?;
    let input = src.to_string();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().map_err(|e| format!("rustfmt failed: {e}"))?;
    let _ = writer.join();
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    String::from_utf8(out.stdout).map_err(|e| e.to_string())
}
