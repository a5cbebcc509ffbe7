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

use crate::diag::Error;
use crate::load::{Contract, Loaded};
use crate::resolve::domain::{design_resource, ErrorAnswer, Style};
use crate::resolve::names::snake_ident;
use crate::resolve::ResolveOptions;
use crate::spec::{DomainSpec, FieldSpec, ResourceSpec};
use indexmap::IndexMap;
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

/// The contract `loaded` with resource `name` added, its fields given as `--field` values
/// (see the module documentation), and the resource's snake_case name. The result is
/// validated by resolving it with `opts` before it is returned. Errors (`Error::Target`
/// naming the file, or `Error::Invalid`): a name that is not singular snake_case, no field,
/// a malformed field, a resource, path or schema that exists already, or a contract the
/// addition makes invalid.
pub fn add_resource(
    loaded: &Loaded,
    name: &str,
    fields: &[String],
    owned: bool,
    opts: &ResolveOptions,
) -> Result<(String, String), Error> {
    let resource = snake_ident(name, "resource");
    if resource != name || name.ends_with('_') {
        return Err(Error::Target(format!("invalid resource name `{name}`: use a singular snake_case name such as `review` or `order_item`")));
    }
    if fields.is_empty() {
        return Err(Error::Target(
            "give the resource at least one --field, for example --field title:string".into(),
        ));
    }
    let parsed = fields
        .iter()
        .map(|f| parse_field(f))
        .collect::<Result<Vec<_>, _>>()
        .map_err(Error::Target)?;
    let new_text = match &loaded.contract {
        Contract::Domain(_) => add_to_domain(&loaded.text, &resource, &parsed, owned),
        Contract::OpenApi { .. } => {
            add_to_openapi(&loaded.text, loaded.is_yaml, &resource, &parsed, owned)
        }
    }
    .map_err(|e| Error::Target(format!("{}: {e}", loaded.file)))?;
    // Validate the whole new contract before anything is written.
    let check = crate::load::load_str(&loaded.file, &new_text)?;
    crate::resolve::resolve(&check, opts)?;
    Ok((resource, new_text))
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

/// The paths and schemas of resource `name` for an OpenAPI contract, designed by the same
/// code as a domain spec's resources ([`crate::resolve::domain::design_resource`]): list,
/// create, read, replace, update through a merge-patch `…Patch` schema, delete, and a
/// nested list per reference. Bodies are bare (an OpenAPI contract has no envelope), so
/// lists page by number; errors answer as `errors` says (the contract's own error answers).
/// Errors: the diagnostics of the design (a reference to a name that is not a resource, a
/// field that clashes with a server-set one), as text.
pub fn openapi_parts(
    name: &str,
    fields: &[NewField],
    owned: bool,
    prefix: &str,
    errors: ErrorAnswer,
) -> Result<(Members, Members), String> {
    let mut resources = IndexMap::new();
    for f in fields {
        if let Some(target) = &f.reference {
            // A stand-in for the referenced resource, which lives in the contract already.
            resources.insert(target.clone(), ResourceSpec::default());
        }
    }
    let res = resource_spec(fields, owned);
    resources.insert(name.to_string(), res.clone());
    let spec = DomainSpec {
        name: name.to_string(),
        resources,
        ..DomainSpec::default()
    };
    let style = Style {
        envelope: false,
        offset: true,
        base: prefix.trim_end_matches('/').to_string(),
        errors,
    };
    let (mut paths, mut schemas, mut diags) = (Map::new(), Map::new(), Vec::new());
    design_resource(
        &spec,
        name,
        &res,
        &style,
        "add-resource",
        &mut diags,
        &mut schemas,
        &mut paths,
    );
    let errors: Vec<String> = diags
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.message.clone())
        .collect();
    if !errors.is_empty() {
        return Err(errors.join("; "));
    }
    Ok((paths, schemas))
}

/// A JSON object's members: the `paths` and the `components.schemas` a resource adds.
type Members = Map<String, Value>;

/// The domain-spec resource the `--field`s describe.
fn resource_spec(fields: &[NewField], owned: bool) -> ResourceSpec {
    let mut res = ResourceSpec {
        owned,
        ..ResourceSpec::default()
    };
    for f in fields {
        let mut spec = FieldSpec {
            optional: f.optional,
            unique: if f.unique {
                crate::spec::Unique::Global
            } else {
                crate::spec::Unique::No
            },
            ..FieldSpec::default()
        };
        match f.kind.as_str() {
            "ref" => spec.reference = f.reference.clone(),
            "enum" => spec.enum_values = Some(f.values.clone()),
            t => spec.ty = Some(t.to_string()),
        }
        res.fields.insert(f.name.clone(), spec);
    }
    res
}

/// The type and format of the key (`id`) of `resource`'s schema in the contract (its
/// PascalCase name, through `$ref`s and `allOf`), when it has one.
fn key_schema(doc: &Value, resource: &str) -> Option<Value> {
    fn find(doc: &Value, s: &Value, depth: usize) -> Option<Value> {
        if depth > 8 {
            return None;
        }
        if let Some(r) = s.get("$ref").and_then(Value::as_str) {
            let target = doc.pointer(r.strip_prefix('#')?)?;
            return find(doc, target, depth + 1);
        }
        if let Some(id) = s.pointer("/properties/id") {
            let id = match id.get("$ref").and_then(Value::as_str) {
                Some(r) => doc.pointer(r.strip_prefix('#')?)?,
                None => id,
            };
            let mut key = Map::new();
            for k in ["type", "format"] {
                if let Some(v) = id.get(k) {
                    key.insert(k.into(), v.clone());
                }
            }
            return (!key.is_empty()).then_some(Value::Object(key));
        }
        s.get("allOf")
            .and_then(Value::as_array)?
            .iter()
            .find_map(|part| find(doc, part, depth + 1))
    }
    let name = heck::ToPascalCase::to_pascal_case(resource);
    find(doc, doc.pointer(&format!("/components/schemas/{name}"))?, 0)
}

/// Gives property and parameter `prop` inside `v` the key's type and format.
fn retype(v: &mut Value, prop: &str, key: &Value) {
    let apply = |s: &mut Value| {
        if let (Some(s), Some(k)) = (s.as_object_mut(), key.as_object()) {
            s.remove("format");
            for (kk, kv) in k {
                s.insert(kk.clone(), kv.clone());
            }
        }
    };
    match v {
        Value::Object(m) => {
            if m.get("name").and_then(Value::as_str) == Some(prop) && m.get("in").is_some() {
                if let Some(s) = m.get_mut("schema") {
                    apply(s);
                }
            }
            if let Some(s) = m.get_mut("properties").and_then(|p| p.get_mut(prop)) {
                apply(s);
            }
            for child in m.values_mut() {
                retype(child, prop, key);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| retype(i, prop, key)),
        _ => {}
    }
}

/// What most of the contract's error answers (4xx, 5xx, `default`) carry: the response
/// object they refer to, else the schema of their JSON body, else their inline content.
fn contract_errors(doc: &Value) -> ErrorAnswer {
    let mut counts: IndexMap<String, (usize, ErrorAnswer)> = IndexMap::new();
    for item in doc
        .get("paths")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|p| p.values())
    {
        for op in item.as_object().into_iter().flat_map(|o| o.values()) {
            for (status, resp) in op
                .get("responses")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                if !(status == "default" || status.starts_with('4') || status.starts_with('5')) {
                    continue;
                }
                let answer = if let Some(r) = resp.get("$ref").and_then(Value::as_str) {
                    ErrorAnswer::Response(r.to_string())
                } else if let Some(r) = resp
                    .pointer("/content/application~1json/schema/$ref")
                    .and_then(Value::as_str)
                {
                    ErrorAnswer::Schema(r.to_string())
                } else if let Some(c) = resp
                    .get("content")
                    .filter(|c| c.as_object().is_some_and(|m| !m.is_empty()))
                {
                    ErrorAnswer::Content(c.clone())
                } else {
                    continue;
                };
                let key = format!("{answer:?}");
                counts.entry(key).or_insert((0, answer)).0 += 1;
            }
        }
    }
    counts
        .into_values()
        .max_by_key(|(n, _)| *n)
        .map_or(ErrorAnswer::None, |(_, a)| a)
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
    owned: bool,
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
    let (mut paths, mut schemas) = openapi_parts(
        name,
        fields,
        owned,
        &common_prefix(&existing),
        contract_errors(&doc),
    )?;
    // A reference holds the referenced row's key, typed as the contract types that key.
    for f in fields {
        let Some(target) = &f.reference else { continue };
        if let Some(key) = key_schema(&doc, target) {
            let prop = format!(
                "{}Id",
                heck::ToLowerCamelCase::to_lower_camel_case(f.name.as_str())
            );
            for v in paths.values_mut().chain(schemas.values_mut()) {
                retype(v, &prop, &key);
            }
        }
    }
    if let Some(p) = paths.keys().find(|p| existing.contains(p)) {
        return Err(format!("the document already has the path {p}"));
    }
    if let Some(n) = schemas
        .keys()
        .find(|n| doc.pointer(&format!("/components/schemas/{n}")).is_some())
    {
        return Err(format!("the document already has a schema `{n}`"));
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
        for (n, schema) in schemas {
            comps["schemas"][n.as_str()] = schema;
        }
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
    let schema_blocks = |indent: usize| -> String {
        schemas
            .iter()
            .map(|(n, v)| to_yaml_block(n, v, indent))
            .collect()
    };
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
                    out = insert_lines(&out, send, &schema_blocks(child));
                }
                None => {
                    let block_text = format!(
                        "{}schemas:\n{}",
                        " ".repeat(cindent),
                        schema_blocks(cindent * 2)
                    );
                    out = insert_lines(&out, cend, &block_text);
                }
            }
        }
        None => {
            out.push_str(&format!("components:\n  schemas:\n{}", schema_blocks(4)));
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
