//! apigen's core: load → resolve → plan → render → write.
//!
//! Each stage is a module named after it. Everything here is a library with no terminal
//! I/O; `main.rs` is the thin command-line front. See ARCHITECTURE.md for the code map.

pub mod diag;
pub mod load;
pub mod model;
pub mod resolve;
pub mod spec;

pub use diag::{Diagnostic, Error, Severity};
