//! What the user wrote in their service files (`src/services/<resource>.rs`): which
//! operations they implement themselves, so the generated tests follow them.
//!
//! A service file re-exports apigen's implementations and defines the functions the user
//! takes over; custom actions start there as stubs. A function counts as the user's when
//! the file defines it and its body is not apigen's stub (a lone
//! `Err(ApiError::NotImplemented(..))`). Reads with `syn`; never writes.

use std::collections::BTreeMap;

/// The functions `source` defines whose bodies are the user's own (not a 501 stub), in
/// file order. `None` when the file does not parse as Rust (conflict markers, say): what
/// it implements is then unknown.
pub fn written_functions(source: &str) -> Option<Vec<String>> {
    let file = syn::parse_file(source).ok()?;
    let mut out = Vec::new();
    for item in &file.items {
        if let syn::Item::Fn(f) = item {
            if !is_stub(&f.block) {
                out.push(f.sig.ident.to_string());
            }
        }
    }
    Some(out)
}

/// A body that only answers 501: `Err(ApiError::NotImplemented(..))`, with or without
/// `return` and a trailing `;`.
fn is_stub(block: &syn::Block) -> bool {
    let [stmt] = block.stmts.as_slice() else {
        return false;
    };
    let expr = match stmt {
        syn::Stmt::Expr(e, _) => e,
        _ => return false,
    };
    let expr = match expr {
        syn::Expr::Return(r) => match &r.expr {
            Some(e) => e.as_ref(),
            None => return false,
        },
        e => e,
    };
    let syn::Expr::Call(err) = expr else {
        return false;
    };
    if !path_ends_with(&err.func, "Err") || err.args.len() != 1 {
        return false;
    }
    match &err.args[0] {
        syn::Expr::Call(inner) => path_ends_with(&inner.func, "NotImplemented"),
        _ => false,
    }
}

fn path_ends_with(expr: &syn::Expr, name: &str) -> bool {
    matches!(expr, syn::Expr::Path(p) if p.path.segments.last().is_some_and(|s| s.ident == name))
}

/// Reads every `src/services/<module>.rs` under `dir`: module → the functions the user
/// wrote. Files that do not parse are left out, with their paths in the second list; a
/// project without the folder has none.
pub fn read_services(dir: &std::path::Path) -> (BTreeMap<String, Vec<String>>, Vec<String>) {
    let mut written = BTreeMap::new();
    let mut unreadable = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir.join("src/services")) else {
        return (written, unreadable);
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(module) = name.strip_suffix(".rs").filter(|m| *m != "mod") else {
            continue;
        };
        let Ok(text) = std::fs::read_to_string(entry.path()) else {
            continue;
        };
        match written_functions(&text) {
            Some(funcs) => {
                written.insert(module.to_string(), funcs);
            }
            None => unreadable.push(format!("src/services/{name}")),
        }
    }
    unreadable.sort();
    (written, unreadable)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(source: &str, expected: Option<&[&str]>) {
        let got = written_functions(source);
        assert_eq!(
            got.as_deref()
                .map(|v| v.iter().map(String::as_str).collect::<Vec<_>>()),
            expected.map(|e| e.to_vec()),
            "{source}"
        );
    }

    #[test]
    fn stubs_are_not_implementations_and_everything_else_is() {
        check("pub use crate::defaults::books::*;", Some(&[]));
        check("pub async fn publish_book() -> Result<(), ApiError> { Err(ApiError::NotImplemented(\"publishBook\")) }", Some(&[]));
        check(
            "async fn a() -> R { return Err(apigen_runtime::ApiError::NotImplemented(\"a\")); }",
            Some(&[]),
        );
        check("pub async fn publish_book(state: &AppState) -> Result<Book, ApiError> { let b = load(state).await?; Ok(b) }", Some(&["publish_book"]));
        check(
            "pub async fn get_book() -> Result<Book, ApiError> { Err(ApiError::NotFound) }",
            Some(&["get_book"]),
        );
        check(
            "fn helper() {}\npub fn two() -> u8 { 2 }",
            Some(&["helper", "two"]),
        );
    }

    #[test]
    fn a_file_with_conflict_markers_is_unknown() {
        check(
            "<<<<<<< ours\nfn a() {}\n=======\nfn b() {}\n>>>>>>> theirs\n",
            None,
        );
    }
}
