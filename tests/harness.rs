//! The test harness's own helpers, tested: what e2e and the scenario rely on to fail
//! instead of hanging.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

/// A command past its limit is killed with everything it started (a cargo test and its
/// test binaries), and the error names it and carries what it printed.
#[test]
fn a_command_past_its_limit_is_killed_with_its_children() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("child.pid");
    let script = format!(
        "sleep 60 & echo $! > {}; echo started; wait",
        pid_file.display()
    );
    let started = Instant::now();
    let err = support::output_within(
        Command::new("bash").args(["-c", &script]),
        Duration::from_secs(1),
    )
    .expect_err("the command outlives its limit");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "killed at its limit"
    );
    assert!(
        err.contains("was killed") && err.contains("started"),
        "{err}"
    );
    let child = std::fs::read_to_string(&pid_file).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", child.trim())).unwrap_or_default();
    // Gone, or a zombie waiting for its reaper: either way no longer running.
    assert!(
        stat.is_empty() || stat.contains(") Z "),
        "the command's own child was killed too: {stat}"
    );
}

/// A command within its limit answers as `Command::output` does.
#[test]
fn a_command_within_its_limit_answers_its_status_and_output() {
    let out = support::output_within(
        Command::new("bash").args(["-c", "echo out; echo err >&2; exit 3"]),
        Duration::from_secs(30),
    )
    .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "out\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "err\n");
}
