//! Helpers the project-folder tests share (`evolve.rs`, `regeneration.rs`): the built
//! binary, a new starter project, and reading and editing its files.
#![allow(dead_code)] // each test crate uses some of them

use assert_cmd::Command;
use std::path::{Path, PathBuf};

/// The `apigen` binary this crate built.
pub fn apigen() -> Command {
    Command::cargo_bin("apigen").expect("binary is built")
}

/// A new project from the starter bookstore spec: the temporary folder (removed when
/// dropped) and the project in it.
pub fn project() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("shop");
    apigen().arg("new").arg(&dir).assert().success();
    (tmp, dir)
}

/// The project file `p`, as text. Panics, naming it, when it cannot be read.
pub fn read(dir: &Path, p: &str) -> String {
    std::fs::read_to_string(dir.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"))
}

/// Writes the project file `p`, creating its folders.
pub fn write(dir: &Path, p: &str, text: &str) {
    let path = dir.join(p);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// Rewrites the project file `p` through `f`.
pub fn edit(dir: &Path, p: &str, f: impl FnOnce(String) -> String) {
    let text = read(dir, p);
    write(dir, p, &f(text));
}
