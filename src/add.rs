//! `apigen add-resource`: the field syntax, and adding a resource to a contract's text.
//!
//! Owns parsing `--field` values and inserting the new resource into the contract file as
//! text, so the user's formatting and comments survive (YAML domain specs and OpenAPI YAML
//! documents; an OpenAPI JSON document is re-printed, JSON having no comments to keep).
//! Pure: the caller validates the result by resolving it, and writes it.
//!
//! Field syntax, in the spirit of Rails and Loco generators: `NAME:TYPE[?][:unique]`.
//! `TYPE` is a domain-spec type (`string`, `text`, `integer`, `bigint`, `number`, `boolean`,
//! `uuid`, `email`, `url`, `date`, `datetime`, `json`), `ref:RESOURCE` (a foreign key), or
//! `enum:a|b|c`. A trailing `?` makes the field optional; `:unique` adds a unique constraint.
//! Examples: `title:string`, `rating:integer?`, `author:ref:author`,
//! `status:enum:draft|published`, `email:email:unique`.

use crate::resolve::names::{plural, snake_ident};
use heck::{ToLowerCamelCase, ToPascalCase};
use serde_json::{json, Map, Value};

/// One parsed `--field`.
#[derive(Debug, Clone, PartialEq)]
pub struct NewField {
    pub name: String,
    /// Domain-spec type, or `ref` / `enum`.
    pub kind: String,
    pub reference: Option<String>,
    pub values: Vec<String>,
    pub optional: bool,
    pub unique: bool,
}

const TYPES: [&str; 12] = [
    "string", "text", "integer", "bigint", "number", "boolean", "uuid", "email", "url", "date",
    "datetime", "json",
];

/// Parses `NAME:TYPE[?][:unique]`. Errors name the value and say what is expected.
pub fn parse_field(spec: &str) -> Result<NewField, String> {
    let bad = |why: &str| {
        format!("--field {spec:?}: {why}; expected NAME:TYPE[?][:unique], for example title:string, rating:integer?, author:ref:author, status:enum:draft|published")
    };
    let mut parts: Vec<&str> = spec.split(':').collect();
    let unique = parts.last() == Some(&"unique");
    if unique {
        parts.pop();
    }
    let (name, ty, rest) = match parts.as_slice() {
        [name, ty] => (*name, *ty, None),
        [name, ty, arg] => (*name, *ty, Some(*arg)),
        _ => return Err(bad("wrong number of parts")),
    };
    let name_ok = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !name_ok {
        return Err(bad(
            "the name must be letters, digits and `_`, starting with a letter",
        ));
    }
    let (ty, arg, optional) = match rest {
        None => (ty.trim_end_matches('?'), None, ty.ends_with('?')),
        Some(a) => (ty, Some(a.trim_end_matches('?')), a.ends_with('?')),
    };
    let mut f = NewField {
        name: name.to_string(),
        kind: ty.to_string(),
        reference: None,
        values: vec![],
        optional,
        unique,
    };
    match (ty, arg) {
        ("ref", Some(target)) if !target.is_empty() => {
            f.reference = Some(snake_ident(target, "resource"))
        }
        ("enum", Some(values)) => {
            f.values = values
                .split('|')
                .filter(|v| !v.is_empty())
                .map(String::from)
                .collect();
            if f.values.is_empty() {
                return Err(bad("an enum needs values, separated by `|`"));
            }
        }
        (t, None) if TYPES.contains(&t) => {}
        (t, _) => {
            return Err(bad(&format!(
                "unknown type `{t}` (types: {}, ref:RESOURCE, enum:a|b)",
                TYPES.join(", ")
            )))
        }
    }
    Ok(f)
}

/// The resource as domain-spec YAML lines, indented for a `resources:` block whose keys
/// stand at `indent` spaces.
fn domain_yaml(name: &str, fields: &[NewField], owned: bool, indent: usize) -> String {
    let pad = " ".repeat(indent);
    let mut out = format!("{pad}{name}:\n");
    if owned {
        out.push_str(&format!("{pad}  owned: true\n"));
    }
    out.push_str(&format!("{pad}  fields:\n"));
    for f in fields {
        let mut parts = Vec::new();
        match f.kind.as_str() {
            "ref" => parts.push(format!("ref: {}", f.reference.clone().unwrap_or_default())),
            "enum" => parts.push(format!("enum: [{}]", f.values.join(", "))),
            t => parts.push(format!("type: {t}")),
        }
        if f.optional {
            parts.push("optional: true".into());
        }
        if f.unique {
            parts.push("unique: true".into());
        }
        out.push_str(&format!(
            "{pad}    {}: {{ {} }}\n",
            f.name,
            parts.join(", ")
        ));
    }
    out
}

/// The end of the block of top-level key `key` (the index of the first line after it that
/// starts at column 0), and the indentation of its first child.
fn block(lines: &[&str], key: &str) -> Option<(usize, usize, usize)> {
    let start = lines
        .iter()
        .position(|l| l.trim_end() == format!("{key}:") || l.starts_with(&format!("{key}: ")))?;
    let mut end = lines.len();
    let mut indent = None;
    for (i, l) in lines.iter().enumerate().skip(start + 1) {
        if l.trim().is_empty() || l.trim_start().starts_with('#') {
            continue;
        }
        let ind = l.len() - l.trim_start().len();
        if ind == 0 {
            end = i;
            break;
        }
        indent.get_or_insert(ind);
    }
    // Trailing blank lines and column-0 comments belong to what follows (or end the file).
    while end > start + 1 && (lines[end - 1].trim().is_empty() || lines[end - 1].starts_with('#')) {
        end -= 1;
    }
    Some((start, end, indent.unwrap_or(2)))
}

/// Inserts `text` (whole lines) at line index `at`.
fn insert_lines(original: &str, at: usize, text: &str) -> String {
    let lines: Vec<&str> = original.lines().collect();
    let mut out: Vec<String> = lines[..at].iter().map(|s| s.to_string()).collect();
    out.extend(text.lines().map(String::from));
    out.extend(lines[at..].iter().map(|s| s.to_string()));
    let mut s = out.join("\n");
    s.push('\n');
    s
}

/// Adds resource `name` to a domain spec's text. Errors: no `resources:` block, or a
/// resource of that name exists.
pub fn add_to_domain(
    text: &str,
    name: &str,
    fields: &[NewField],
    owned: bool,
) -> Result<String, String> {
    let lines: Vec<&str> = text.lines().collect();
    let (start, end, indent) =
        block(&lines, "resources").ok_or("the domain spec has no top-level `resources:` block")?;
    if lines[start + 1..end].iter().any(|l| {
        l.trim_end() == format!("{}{name}:", " ".repeat(indent))
            || l.starts_with(&format!("{}{name}: ", " ".repeat(indent)))
    }) {
        return Err(format!("resource `{name}` exists already"));
    }
    Ok(insert_lines(
        text,
        end,
        &domain_yaml(name, fields, owned, indent),
    ))
}

/// The OpenAPI path items and component schema for a resource (following STANDARDS.md
/// like the domain spec's design, without the envelope), under `prefix`.
pub fn openapi_parts(
    name: &str,
    fields: &[NewField],
    prefix: &str,
) -> (Vec<(String, Value)>, String, Value) {
    let type_name = name.to_pascal_case();
    let plural_name = plural(name);
    let entity = json!({"$ref": format!("#/components/schemas/{type_name}")});
    let mut props = Map::new();
    props.insert(
        "id".into(),
        json!({"type": "string", "format": "uuid", "readOnly": true}),
    );
    let mut required = vec![Value::from("id")];
    for f in fields {
        let mut s = match f.kind.as_str() {
            "ref" => {
                json!({"type": "string", "format": "uuid", "x-apigen-references": f.reference})
            }
            "enum" => json!({"type": "string", "enum": f.values}),
            t => crate::resolve::domain::type_schema(t).unwrap_or_else(|| json!({})),
        };
        if f.unique {
            s["x-apigen-unique"] = Value::Bool(true);
        }
        if f.optional {
            s["nullable"] = Value::Bool(true);
        }
        let prop = if f.kind == "ref" {
            format!("{}Id", f.name.to_lower_camel_case())
        } else {
            f.name.to_lower_camel_case()
        };
        if !f.optional {
            required.push(Value::String(prop.clone()));
        }
        props.insert(prop, s);
    }
    for ts in ["createdAt", "updatedAt"] {
        props.insert(
            ts.into(),
            json!({"type": "string", "format": "date-time", "readOnly": true}),
        );
        required.push(Value::from(ts));
    }
    let schema = json!({"type": "object", "additionalProperties": false, "required": required, "properties": props});
    let ok = |status: &str, body: Option<Value>| {
        let mut r = json!({"description": "Success."});
        if let Some(b) = body {
            r["content"] = json!({"application/json": {"schema": b}});
        }
        json!({ status: r })
    };
    let id = json!([{"name": "id", "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}}]);
    let body = json!({"required": true, "content": {"application/json": {"schema": entity}}});
    let coll = json!({
        "get": {"operationId": format!("list{}", plural_name.to_pascal_case()), "parameters": [{"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100}}, {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0}}], "responses": ok("200", Some(json!({"type": "array", "items": entity})))},
        "post": {"operationId": format!("create{type_name}"), "requestBody": body, "responses": ok("201", Some(entity.clone()))},
    });
    let item = json!({
        "get": {"operationId": format!("get{type_name}"), "parameters": id, "responses": ok("200", Some(entity.clone()))},
        "put": {"operationId": format!("replace{type_name}"), "parameters": id, "requestBody": body, "responses": ok("200", Some(entity.clone()))},
        "patch": {"operationId": format!("update{type_name}"), "parameters": id, "requestBody": body, "responses": ok("200", Some(entity.clone()))},
        "delete": {"operationId": format!("delete{type_name}"), "parameters": id, "responses": ok("204", None)},
    });
    let base = format!("{}/{plural_name}", prefix.trim_end_matches('/'));
    (
        vec![(base.clone(), coll), (format!("{base}/{{id}}"), item)],
        type_name,
        schema,
    )
}

/// The longest `/segment/...` prefix shared by every path of a document (`/api/v1`), or "".
pub fn common_prefix(paths: &[String]) -> String {
    let split: Vec<Vec<&str>> = paths
        .iter()
        .map(|p| p.split('/').filter(|s| !s.is_empty()).collect())
        .collect();
    let Some(first) = split.first() else {
        return String::new();
    };
    let mut n = 0;
    while n < first.len()
        && !first[n].starts_with('{')
        && split.iter().all(|s| s.len() > n + 1 && s[n] == first[n])
    {
        n += 1;
    }
    first[..n].iter().map(|s| format!("/{s}")).collect()
}

/// YAML text of a JSON value as a block at `indent` spaces (keys in order).
fn to_yaml_block(key: &str, v: &Value, indent: usize) -> String {
    let mut map = serde_yaml_ng::Mapping::new();
    map.insert(
        serde_yaml_ng::Value::String(key.to_string()),
        serde_yaml_ng::to_value(v).unwrap_or(serde_yaml_ng::Value::Null),
    );
    let text = serde_yaml_ng::to_string(&map).unwrap_or_default();
    text.lines()
        .map(|l| format!("{}{l}\n", " ".repeat(indent)))
        .collect()
}

/// Adds resource `name` to an OpenAPI document's text (YAML edited in place, JSON
/// re-printed). Errors: a path or schema of that name exists, or the text cannot be read.
pub fn add_to_openapi(
    text: &str,
    is_yaml: bool,
    name: &str,
    fields: &[NewField],
) -> Result<String, String> {
    let doc: Value = if is_yaml {
        serde_yaml_ng::from_str(text).map_err(|e| e.to_string())?
    } else {
        serde_json::from_str(text).map_err(|e| e.to_string())?
    };
    let existing: Vec<String> = doc
        .get("paths")
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    let (paths, type_name, schema) = openapi_parts(name, fields, &common_prefix(&existing));
    if paths.iter().any(|(p, _)| existing.contains(p)) {
        return Err(format!("the document already has the path {}", paths[0].0));
    }
    if doc
        .pointer(&format!("/components/schemas/{type_name}"))
        .is_some()
    {
        return Err(format!("the document already has a schema `{type_name}`"));
    }
    if !is_yaml {
        let mut doc = doc;
        let root = doc.as_object_mut().ok_or("the document is not an object")?;
        let paths_obj = root.entry("paths").or_insert_with(|| json!({}));
        for (p, item) in paths {
            paths_obj[p.as_str()] = item;
        }
        let comps = root.entry("components").or_insert_with(|| json!({}));
        if comps.get("schemas").is_none() {
            comps["schemas"] = json!({});
        }
        comps["schemas"][type_name.as_str()] = schema;
        let mut out = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?;
        out.push('\n');
        return Ok(out);
    }
    // YAML: append to the end of the `paths:` block, then of `components:` → `schemas:`.
    let mut out = text.to_string();
    let lines: Vec<&str> = out.lines().collect();
    let (_, end, indent) =
        block(&lines, "paths").ok_or("the document has no top-level `paths:` block")?;
    let mut add = String::new();
    for (p, item) in &paths {
        add.push_str(&to_yaml_block(p, item, indent));
    }
    out = insert_lines(&out, end, &add);
    let lines: Vec<&str> = out.lines().collect();
    match block(&lines, "components") {
        Some((cstart, cend, cindent)) => {
            let schemas_line = (cstart + 1..cend)
                .find(|&i| lines[i].trim_end() == format!("{}schemas:", " ".repeat(cindent)));
            match schemas_line {
                Some(s) => {
                    let mut send = cend;
                    for (i, l) in lines.iter().enumerate().take(cend).skip(s + 1) {
                        let ind = l.len() - l.trim_start().len();
                        if !l.trim().is_empty()
                            && !l.trim_start().starts_with('#')
                            && ind <= cindent
                        {
                            send = i;
                            break;
                        }
                    }
                    let child = lines[s + 1..send]
                        .iter()
                        .find(|l| !l.trim().is_empty())
                        .map(|l| l.len() - l.trim_start().len())
                        .unwrap_or(cindent * 2);
                    out = insert_lines(&out, send, &to_yaml_block(&type_name, &schema, child));
                }
                None => {
                    let block_text = format!(
                        "{}schemas:\n{}",
                        " ".repeat(cindent),
                        to_yaml_block(&type_name, &schema, cindent * 2)
                    );
                    out = insert_lines(&out, cend, &block_text);
                }
            }
        }
        None => {
            out.push_str(&format!(
                "components:\n  schemas:\n{}",
                to_yaml_block(&type_name, &schema, 4)
            ));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(spec: &str, expected: Result<(&str, &str, bool, bool), &str>) {
        match (parse_field(spec), expected) {
            (Ok(f), Ok((name, kind, optional, unique))) => assert_eq!(
                (f.name.as_str(), f.kind.as_str(), f.optional, f.unique),
                (name, kind, optional, unique),
                "{spec}"
            ),
            (Err(e), Err(needle)) => assert!(e.contains(needle), "{spec}: {e}"),
            (got, want) => panic!("{spec}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn field_syntax() {
        check("title:string", Ok(("title", "string", false, false)));
        check("rating:integer?", Ok(("rating", "integer", true, false)));
        check("author:ref:author", Ok(("author", "ref", false, false)));
        check("editor:ref:author?", Ok(("editor", "ref", true, false)));
        check(
            "status:enum:draft|published",
            Ok(("status", "enum", false, false)),
        );
        check("email:email:unique", Ok(("email", "email", false, true)));
        check("title", Err("wrong number of parts"));
        check("title:money", Err("unknown type `money`"));
        check("9x:string", Err("the name must be"));
        check("s:enum:", Err("an enum needs values"));
    }

    #[test]
    fn domain_insertion_keeps_comments_and_what_follows() {
        let text = "# my service\nname: shop\nresources:\n  # the items\n  item:\n    fields:\n      title: { type: string }\n\n# trailing comment\n";
        let out = add_to_domain(
            text,
            "review",
            &[parse_field("rating:integer?").unwrap()],
            true,
        )
        .unwrap();
        assert!(
            out.starts_with("# my service\nname: shop\nresources:\n  # the items\n  item:"),
            "{out}"
        );
        assert!(out.contains("  review:\n    owned: true\n    fields:\n      rating: { type: integer, optional: true }\n"), "{out}");
        assert!(out.ends_with("\n# trailing comment\n"), "{out}");
        assert!(add_to_domain(&out, "review", &[], false)
            .unwrap_err()
            .contains("exists already"));
    }

    #[test]
    fn common_prefixes() {
        assert_eq!(
            common_prefix(&["/api/v1/a".into(), "/api/v1/b/{id}".into()]),
            "/api/v1"
        );
        assert_eq!(common_prefix(&["/a".into(), "/b".into()]), "");
    }
}
