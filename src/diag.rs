//! Diagnostics: every problem apigen finds in a contract, with where it is and what to do.
//!
//! This module owns the `Diagnostic` shape and the core's `Error` enum. It does no I/O and
//! never prints: the binary decides how to show diagnostics.

use serde::Serialize;
use std::fmt;

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Something the user may want to know (a default apigen chose, say).
    Info,
    /// The contract is usable, but part of it is served in a reduced way (for example an
    /// operation that answers 501 Not Implemented because its body type is not served yet).
    Warning,
    /// The contract cannot be turned into a project; nothing is written.
    Error,
}

/// One problem found in a contract.
///
/// `pointer` is an RFC 6901 JSON pointer into the document as read (`/paths/~1pets/get`);
/// `line` is 1-based and present when apigen could locate the pointer in the source text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub file: String,
    pub pointer: String,
    pub line: Option<usize>,
    pub message: String,
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn new(
        severity: Severity,
        file: &str,
        pointer: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            severity,
            file: file.to_string(),
            pointer: pointer.into(),
            line: None,
            message: message.into(),
            hint: None,
        }
    }

    /// Adds a hint that says what the user can do about it.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    /// `error: file.yaml:12 (#/paths/~1pets): message` then `  hint: …` on the next line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        write!(f, "{sev}: {}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if !self.pointer.is_empty() {
            write!(f, " (#{})", self.pointer)?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(h) = &self.hint {
            write!(f, "\n  hint: {h}")?;
        }
        Ok(())
    }
}

/// Escapes one reference token for a JSON pointer (RFC 6901 §3: `~` → `~0`, `/` → `~1`).
pub fn escape_token(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// The JSON pointer of a local `$ref` (`#/components/schemas/Pet` → `/components/schemas/Pet`),
/// percent-decoded: a pointer in a URI fragment is percent-encoded (RFC 6901 §6), so
/// `{` may appear as `%7B`. `None` for an external reference.
pub fn fragment_pointer(reference: &str) -> Option<String> {
    let fragment = reference.strip_prefix('#')?;
    let bytes = fragment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).and_then(|b| hex(*b)),
            bytes.get(i + 2).and_then(|b| hex(*b)),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// Joins a pointer and one more unescaped token.
pub fn ptr(base: &str, token: &str) -> String {
    format!("{base}/{}", escape_token(token))
}

/// Errors of the core. Contract problems are carried as diagnostics inside `Invalid`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The contract has at least one error-level diagnostic; nothing was written.
    #[error("{} problem(s) in the contract", .0.iter().filter(|d| d.is_error()).count())]
    Invalid(Vec<Diagnostic>),
    /// Reading or writing a file failed; the message names the path.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A template failed to render (a bug in apigen or in an override template).
    #[error("template {template}: {message}")]
    Template { template: String, message: String },
    /// The target is not acceptable (a non-empty folder without --force, say).
    #[error("{0}")]
    Target(String),
}
