//! Stage 4, `render`: templates + model → file contents.
//!
//! Owns the minijinja environment: templates embedded from `templates/` at build time,
//! optionally overridden file by file from a folder laid out the same way, strict about
//! undefined values, with a `rust` filter that writes a Rust string literal and a `json`
//! filter that writes JSON text as a `serde_json::Value` expression. It must not
//! compute names or types (the model has them) and does no I/O beyond reading overrides.

use crate::diag::Error;
use crate::model::Model;
use crate::plan::{Owner, PlannedFile};
use include_dir::{include_dir, Dir};
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use std::path::Path;

static TEMPLATES: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/templates");

/// A rendered file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    pub path: String,
    pub contents: String,
    pub owner: Owner,
}

/// The names of every embedded template (`src/lib.rs.j2`, …).
pub fn embedded_templates() -> Vec<String> {
    let mut out = Vec::new();
    fn walk(d: &Dir<'static>, out: &mut Vec<String>) {
        for f in d.files() {
            out.push(f.path().to_string_lossy().replace('\\', "/"));
        }
        for sub in d.dirs() {
            walk(sub, out);
        }
    }
    walk(&TEMPLATES, &mut out);
    out.sort();
    out
}

/// Builds the environment. Templates under `overrides` (same layout as `templates/`)
/// replace the embedded ones of the same name. Errors: an override that cannot be read or
/// parsed, or one whose name matches no embedded template (a typo would be silently unused).
pub fn environment(overrides: Option<&Path>) -> Result<Environment<'static>, Error> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_keep_trailing_newline(true);
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".html.j2") {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    env.add_filter("rust", |s: String| format!("{s:?}"));
    env.add_filter("json", json_expr);
    // Booleans print as Rust and SQL spell them, not Python's `True`.
    env.set_formatter(|out, state, value| {
        if value.kind() == minijinja::value::ValueKind::Bool {
            out.write_str(if value.is_true() { "true" } else { "false" })?;
            Ok(())
        } else {
            minijinja::escape_formatter(out, state, value)
        }
    });
    let known = embedded_templates();
    for name in &known {
        let file = TEMPLATES.get_file(name).expect("listed template exists");
        let text = file.contents_utf8().unwrap_or_default();
        env.add_template_owned(name.clone(), text.to_string())
            .map_err(|e| Error::Template {
                template: name.clone(),
                message: e.to_string(),
            })?;
    }
    if let Some(dir) = overrides {
        for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
            let entry = entry.map_err(|e| Error::Target(format!("{}: {e}", dir.display())))?;
            if !entry.file_type().is_file() {
                continue;
            }
            let rel = entry
                .path()
                .strip_prefix(dir)
                .unwrap_or(entry.path())
                .to_string_lossy()
                .replace('\\', "/");
            if !known.contains(&rel) {
                return Err(Error::Target(format!(
                    "{}: no embedded template is named `{rel}`; override templates must mirror apigen's `templates/` folder (for example `src/lib.rs.j2`)",
                    entry.path().display()
                )));
            }
            let text = fs_err::read_to_string(entry.path())?;
            env.add_template_owned(rel.clone(), text)
                .map_err(|e| Error::Template {
                    template: entry.path().display().to_string(),
                    message: e.to_string(),
                })?;
        }
    }
    Ok(env)
}

/// Renders every planned file. Errors: a template that fails (an undefined value, say).
pub fn render(
    env: &Environment<'_>,
    model: &Model,
    files: &[PlannedFile],
) -> Result<Vec<File>, Error> {
    // Convert the model once; template values are reference-counted, so every file shares it.
    let model_value = minijinja::Value::from_serialize(model);
    let resources: Vec<minijinja::Value> = model
        .resources
        .iter()
        .map(minijinja::Value::from_serialize)
        .collect();
    files
        .iter()
        .map(|pf| {
            let tmpl = env.get_template(&pf.template).map_err(|e| Error::Template { template: pf.template.clone(), message: e.to_string() })?;
            let ctx = match pf.resource {
                Some(i) => minijinja::context! { model => model_value.clone(), resource => resources[i].clone() },
                None => minijinja::context! { model => model_value.clone() },
            };
            let contents = tmpl.render(ctx).map_err(|e| Error::Template { template: pf.template.clone(), message: format!("{e:#}") })?;
            Ok(File { path: pf.path.clone(), contents, owner: pf.owner })
        })
        .collect()
}

/// JSON text as a Rust expression of its `serde_json::Value`: `json!({"title": "x"})`, with
/// strings as Rust literals. Values too large for `json!`'s macro recursion (more than 40
/// members in an object, or 2,000 bytes) parse a raw string instead. Text that is not JSON
/// becomes a JSON string of it.
pub fn json_expr(text: String) -> String {
    let value: serde_json::Value =
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text.clone()));
    fn widest(v: &serde_json::Value) -> usize {
        match v {
            serde_json::Value::Object(m) => m.values().map(widest).max().unwrap_or(0).max(m.len()),
            serde_json::Value::Array(a) => a.iter().map(widest).max().unwrap_or(0).max(a.len()),
            _ => 0,
        }
    }
    let compact = value.to_string();
    if widest(&value) > 40 || compact.len() > 2_000 {
        let hashes = "#".repeat(
            (1..)
                .find(|n| !compact.contains(&format!("\"{}", "#".repeat(*n))))
                .unwrap_or(1),
        );
        return format!("serde_json::from_str::<serde_json::Value>(r{hashes}\"{compact}\"{hashes}).expect(\"JSON\")");
    }
    let mut out = String::from("json!(");
    write_json(&value, &mut out);
    out.push(')');
    out
}

fn write_json(v: &serde_json::Value, out: &mut String) {
    use serde_json::Value;
    match v {
        Value::String(s) => out.push_str(&format!("{s:?}")),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_json(item, out);
            }
            out.push(']');
        }
        Value::Object(members) => {
            out.push('{');
            for (i, (k, item)) in members.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&format!("{k:?}: "));
                write_json(item, out);
            }
            out.push('}');
        }
        // A bare integer literal in `json!` is an `i32`: wider ones need their type.
        Value::Number(n) if n.is_i64() && i32::try_from(n.as_i64().unwrap_or(0)).is_err() => {
            out.push_str(&format!("{n}_i64"))
        }
        Value::Number(n) if n.is_u64() && !n.is_i64() => out.push_str(&format!("{n}_u64")),
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::json_expr;

    #[test]
    fn json_becomes_a_json_macro_with_rust_string_literals() {
        assert_eq!(
            json_expr(r#"{"a": "x\u0001", "b": [1, -2.5, null, true]}"#.into()),
            r#"json!({"a": "x\u{1}", "b": [1, -2.5, null, true]})"#
        );
        assert_eq!(json_expr("not json".into()), r#"json!("not json")"#);
        // Integers wider than `i32` carry their type (regression: box.com's `space_amount`).
        assert_eq!(
            json_expr(r#"[2147483647, 11345156112, -3000000000, 18446744073709551615]"#.into()),
            "json!([2147483647, 11345156112_i64, -3000000000_i64, 18446744073709551615_u64])"
        );
        let wide = serde_json::Value::Object(
            (0..50)
                .map(|i| (format!("k{i}"), serde_json::Value::from(i)))
                .collect(),
        )
        .to_string();
        assert!(json_expr(wide).starts_with("serde_json::from_str::<serde_json::Value>(r#\""));
    }
}
