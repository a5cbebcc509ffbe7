//! The property the fuzz target (`fuzz/fuzz_targets/load_resolve.rs`) checks, kept in the
//! library so the regression test (`tests/fuzz_regressions.rs`) replays saved inputs
//! through exactly the same code.
//!
//! Property: any byte string given as a contract is either resolved into a model (which
//! then plans without panicking) or refused with `Error::Invalid`, whose error-level
//! diagnostics name the file and carry a message. No panic, no other error kind (load and
//! resolve do no I/O here, and render is not involved).

use crate::diag::Error;
use crate::{load, plan, resolve};

/// The file name diagnostics must carry. The loader picks JSON or YAML from the text itself
/// (a document starting with `{` or `[` is JSON), so one name covers both parsers.
const NAME: &str = "fuzz-input.yaml";

/// Runs `data` through load → resolve → plan. Panics (the fuzzer's signal) when the
/// property above does not hold. Input that is not UTF-8 is skipped: `load_file` refuses it
/// with an I/O error naming the file before any parsing happens.
pub fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let outcome = load::load_str(NAME, text)
        .and_then(|loaded| resolve::resolve(&loaded, &resolve::ResolveOptions::default()));
    match outcome {
        Ok(model) => {
            plan::plan(&model);
        }
        Err(Error::Invalid(diags)) => {
            assert!(
                diags.iter().any(|d| d.is_error()),
                "refused without an error-level diagnostic: {diags:?}"
            );
            for d in diags.iter().filter(|d| d.is_error()) {
                assert_eq!(d.file, NAME, "diagnostic names another file: {d}");
                assert!(
                    !d.message.trim().is_empty(),
                    "diagnostic without a message: {d:?}"
                );
            }
        }
        Err(other) => panic!("load/resolve failed with a non-contract error: {other}"),
    }
}
