//! The generated README's OWASP table names the tests that show each defence: every test it
//! names exists, in the runtime crate (`module::tests::name`) or in the generated suite
//! (`module::name`, a template under `templates/tests/api/`), so the table cannot drift from
//! what is tested.

use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The backticked `a::b` and `a::tests::b` names of a text.
fn named_tests(text: &str) -> Vec<(String, String, bool)> {
    let mut out = Vec::new();
    for (i, chunk) in text.split('`').enumerate() {
        if i % 2 == 0 || chunk.contains(' ') {
            continue;
        }
        let parts: Vec<&str> = chunk.split("::").collect();
        let ident = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        };
        match parts.as_slice() {
            [module, "tests", name] if ident(module) && ident(name) => {
                out.push((module.to_string(), name.to_string(), true))
            }
            [module, name] if ident(module) && ident(name) => {
                out.push((module.to_string(), name.to_string(), false))
            }
            _ => {}
        }
    }
    out
}

#[test]
fn every_test_the_owasp_table_names_exists() {
    let readme = std::fs::read_to_string(root().join("templates/README.md.j2")).unwrap();
    let table = &readme[readme
        .find("### OWASP API Security Top 10")
        .expect("the OWASP table")..];
    let named = named_tests(table);
    assert!(named.len() > 20, "the table names tests: {named:?}");
    let mut missing = Vec::new();
    for (module, name, runtime) in &named {
        let file = if *runtime {
            root().join(format!("runtime/src/{module}.rs"))
        } else {
            root().join(format!("templates/tests/api/{module}.rs.j2"))
        };
        let source = std::fs::read_to_string(&file).unwrap_or_default();
        if !source.contains(&format!("fn {name}(")) {
            missing.push(format!("{module}::{name} (in {})", file.display()));
        }
    }
    assert!(
        missing.is_empty(),
        "the OWASP table names tests that do not exist:\n{}",
        missing.join("\n")
    );
}
