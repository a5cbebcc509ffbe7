//! Fuzz target: arbitrary bytes as a contract, through `load` and `resolve`.
//!
//! The property is "no panic, no hang, no abort": every input either resolves to a model
//! or is refused with diagnostics. Inputs that are not UTF-8 go through the loader's
//! file path (which must refuse them cleanly), the rest through `load_str` twice — once
//! named `.yaml`, once `.json` — so both parsers see them.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    apigen::fuzzing::check(data);
});
