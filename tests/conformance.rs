//! The short conformance run CI does: `scripts/conformance.sh` on the domain-spec example
//! (specs/bookstore.yaml) with 10 schemathesis examples per operation and every check on,
//! in all four phases (examples, coverage, fuzzing, stateful).
//! The full run (100 examples, three contracts) is `scripts/conformance.sh` from the README.
//!
//! Needs python3; installs schemathesis from PyPI when it is missing. The generated project
//! builds in the target dir the end-to-end tests share (target/e2e).

use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn schemathesis_finds_no_failure_in_the_generated_bookstore() {
    let have = Command::new("schemathesis").arg("--version").output();
    if !have.is_ok_and(|o| o.status.success()) {
        let pip = Command::new("python3")
            .args(["-m", "pip", "install", "--quiet", "schemathesis>=4.3,<5"])
            .status()
            .expect("python3 runs");
        assert!(pip.success(), "could not install schemathesis from PyPI");
    }
    let out = Command::new("bash")
        .arg(root().join("scripts/conformance.sh"))
        .args(["--examples", "10", "bookstore"])
        .env("APIGEN", env!("CARGO_BIN_EXE_apigen"))
        .env("CONFORMANCE_TARGET", root().join("target/e2e"))
        .env("CONFORMANCE_DIR", root().join("target/conformance-ci"))
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("conformance: bookstore PASS"),
        "conformance run failed:\n{stdout}\n{stderr}"
    );
    // The run really exercised the operations: schemathesis reports its case count.
    let generated = stdout
        .lines()
        .find_map(|l| l.trim().split_once(" generated"))
        .and_then(|(n, _)| n.trim().parse::<u32>().ok())
        .unwrap_or(0);
    assert!(
        generated >= 100,
        "too few test cases ran ({generated}):\n{stdout}"
    );
}
