//! Helpers the project-folder tests share (`evolve.rs`, `regeneration.rs`, `e2e.rs`,
//! `scenario.rs`): the built binary, a new starter project, reading and editing its files,
//! and running a command with a time limit.
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

/// How long one cargo command over a generated project may take: a cold build of its
/// dependencies is a few minutes on CI's two cores; a generated suite, under one.
pub const CARGO_LIMIT: std::time::Duration = std::time::Duration::from_secs(20 * 60);

/// Runs `cmd` to completion, as `Command::output` does, but for at most `limit`: past it the
/// command's whole process group (cargo, and the test binaries it started) is killed and the
/// answer is an error naming the command, with what it had printed. A hung generated test
/// then fails its test here within minutes instead of holding CI until its own timeout.
pub fn output_within(
    cmd: &mut std::process::Command,
    limit: std::time::Duration,
) -> Result<std::process::Output, String> {
    use std::os::unix::process::CommandExt;
    let files = tempfile::tempdir().map_err(|e| format!("temporary folder: {e}"))?;
    let (out_path, err_path) = (files.path().join("out"), files.path().join("err"));
    let open = |p: &Path| std::fs::File::create(p).map_err(|e| format!("{}: {e}", p.display()));
    let mut child = cmd
        .stdout(open(&out_path)?)
        .stderr(open(&err_path)?)
        .stdin(std::process::Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    let started = std::time::Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() < limit => {
                std::thread::sleep(std::time::Duration::from_millis(200))
            }
            Ok(None) | Err(_) => {
                let group = format!("-{}", child.id());
                let _ = std::process::Command::new("kill")
                    .args(["-KILL", "--", &group])
                    .status();
                let _ = child.wait();
                let printed = std::fs::read_to_string(&out_path).unwrap_or_default()
                    + &std::fs::read_to_string(&err_path).unwrap_or_default();
                let tail: Vec<&str> = printed.lines().rev().take(60).collect();
                return Err(format!(
                    "{cmd:?} was still running after {} s and was killed; its last lines:\n{}",
                    limit.as_secs(),
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                ));
            }
        }
    };
    Ok(std::process::Output {
        status,
        stdout: std::fs::read(&out_path).unwrap_or_default(),
        stderr: std::fs::read(&err_path).unwrap_or_default(),
    })
}
