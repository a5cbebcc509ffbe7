//! Replays every input the fuzzer (`scripts/fuzz.sh`) ever crashed apigen with, kept in
//! `tests/fixtures/fuzz/`, through the fuzz target's own property (`apigen::fuzzing::check`):
//! each must now resolve or be refused with located diagnostics, without a panic.

use std::path::Path;

#[test]
fn saved_fuzz_crashes_no_longer_crash() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fuzz");
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/fixtures/fuzz exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.is_file())
        .collect();
    inputs.sort();
    assert!(
        !inputs.is_empty(),
        "no saved fuzz inputs in {}",
        dir.display()
    );
    for path in inputs {
        let data = std::fs::read(&path).expect("readable input");
        let outcome = std::panic::catch_unwind(|| apigen::fuzzing::check(&data));
        assert!(
            outcome.is_ok(),
            "{} still fails the fuzz property",
            path.display()
        );
    }
}
