//! Stage 1, `load`: reads a contract file and decides what it is.
//!
//! Owns: reading the file, parsing YAML or JSON into a `serde_json::Value`, recognising
//! OpenAPI 3.0 / 3.1, apigen's domain spec, and Swagger 2.0 (refused), and normalising an
//! OpenAPI 3.1 document into the 3.0 shape the `openapiv3` crate reads. It also maps JSON
//! pointers back to source lines for diagnostics. It must not interpret the contract's
//! meaning: that is `resolve`'s job.

use crate::diag::{ptr, Diagnostic, Error, Severity};
use crate::spec::DomainSpec;
use serde_json::{Map, Value};
use std::path::Path;

/// How many diagnostics get a line number (see `Loaded::locate`).
pub const LOCATE_LIMIT: usize = 100;

/// What a contract file turned out to be.
#[derive(Debug, Clone)]
pub enum Contract {
    /// An OpenAPI document: `doc` normalised to the 3.0 shape, `original` as written (it is
    /// what the service serves) or `None` when normalising changed nothing (then `doc` is
    /// the document as written). `version` is the `openapi` field (3.0.x or 3.1.x).
    OpenApi {
        doc: Value,
        original: Option<Value>,
        version: String,
    },
    /// apigen's own domain spec (see `spec::DomainSpec` and `specs/domain-spec.schema.json`).
    Domain(Box<DomainSpec>),
}

/// A loaded contract with its source text (kept to locate lines for diagnostics).
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The path as the user gave it; every diagnostic names it.
    pub file: String,
    pub text: String,
    pub is_yaml: bool,
    pub contract: Contract,
    /// Warnings found while loading (3.1 features dropped in normalisation, say).
    pub diagnostics: Vec<Diagnostic>,
}

impl Loaded {
    /// Fills in `line` on diagnostics of this file whose pointer can be found in the text.
    /// Lines are looked up for the first `LOCATE_LIMIT` diagnostics only: each lookup scans
    /// the text, and a huge document can yield thousands of warnings (the pointer is always
    /// given).
    pub fn locate(&self, diags: &mut [Diagnostic]) {
        let mut locator: Option<Locator> = None;
        for d in diags.iter_mut().take(LOCATE_LIMIT) {
            if d.line.is_none() && d.file == self.file {
                let locator = locator.get_or_insert_with(|| Locator::new(&self.text, self.is_yaml));
                d.line = locator.line_of(&d.pointer);
            }
        }
    }
}

/// Reads and classifies the contract at `path`.
///
/// Errors: `Error::Io` when the file cannot be read; `Error::Invalid` with one diagnostic
/// for a syntax error (with line and column), a Swagger 2.0 document, an unknown
/// document kind, or a domain spec that does not match its schema.
pub fn load_file(path: &Path) -> Result<Loaded, Error> {
    let text = fs_err::read_to_string(path)?;
    load_str(&path.display().to_string(), &text)
}

/// Like `load_file` for text already in memory; `file` is the name used in diagnostics.
pub fn load_str(file: &str, text: &str) -> Result<Loaded, Error> {
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    let is_json = trimmed.starts_with('{') || trimmed.starts_with('[');
    let value = if is_json {
        parse_json(file, trimmed)?
    } else {
        parse_yaml(file, text)?
    };
    let fail = |pointer: &str, message: String, hint: &str| {
        Error::Invalid(vec![Diagnostic::new(
            Severity::Error,
            file,
            pointer,
            message,
        )
        .hint(hint)])
    };
    let Value::Object(root) = &value else {
        return Err(fail("", "the document is not a mapping".into(), "a contract is an OpenAPI document (with an `openapi` field) or an apigen domain spec (with `resources`)"));
    };
    let mut diagnostics = Vec::new();
    let contract = if let Some(v) = root.get("swagger") {
        return Err(fail(
            "/swagger",
            format!("Swagger {} documents are not supported", v.as_str().unwrap_or("2.0")),
            "convert it to OpenAPI 3 first, for example with `npx swagger2openapi in.yaml -o out.yaml`, then run apigen on the result",
        ));
    } else if let Some(v) = root.get("openapi") {
        let version = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        if version.starts_with("3.0") {
            // Most 3.0 documents have no boolean schemas: normalise in place, and keep a
            // separate original (re-read from the text) only when something changed, so a
            // large document is held once.
            let mut doc = value;
            let original = if normalise_boolean_schemas(&mut doc) {
                Some(if is_json {
                    parse_json(file, trimmed)?
                } else {
                    parse_yaml(file, text)?
                })
            } else {
                None
            };
            Contract::OpenApi {
                doc,
                original,
                version,
            }
        } else if version.starts_with("3.1") {
            let doc = normalise_31(file, value.clone(), &mut diagnostics);
            Contract::OpenApi {
                doc,
                original: Some(value),
                version,
            }
        } else {
            return Err(fail(
                "/openapi",
                format!("OpenAPI version {version} is not supported"),
                "apigen reads OpenAPI 3.0.x and 3.1.x",
            ));
        }
    } else if root.contains_key("resources") {
        let spec: DomainSpec = serde_path_to_error::deserialize(value.clone()).map_err(|e| {
            let pointer = path_to_pointer(&e.path().to_string());
            fail(
                &pointer,
                format!("invalid domain spec: {}", e.inner()),
                "see specs/domain-spec.schema.json for the fields a domain spec may have",
            )
        })?;
        Contract::Domain(Box::new(spec))
    } else {
        return Err(fail(
            "",
            "not an OpenAPI 3 document (no `openapi` field) nor an apigen domain spec (no `resources`)".into(),
            "check that you passed the right file",
        ));
    };
    let mut loaded = Loaded {
        file: file.to_string(),
        text: text.to_string(),
        is_yaml: !is_json,
        contract,
        diagnostics,
    };
    let mut diags = std::mem::take(&mut loaded.diagnostics);
    loaded.locate(&mut diags);
    loaded.diagnostics = diags;
    Ok(loaded)
}

fn parse_json(file: &str, text: &str) -> Result<Value, Error> {
    serde_json::from_str(text).map_err(|e| {
        let mut d = Diagnostic::new(Severity::Error, file, "", format!("invalid JSON: {e}"))
            .hint("fix the syntax at that line");
        d.line = Some(e.line());
        Error::Invalid(vec![d])
    })
}

fn parse_yaml(file: &str, text: &str) -> Result<Value, Error> {
    let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).map_err(|e| {
        let mut d = Diagnostic::new(Severity::Error, file, "", format!("invalid YAML: {e}"))
            .hint("fix the syntax at that line");
        d.line = e.location().map(|l| l.line());
        Error::Invalid(vec![d])
    })?;
    Ok(yaml_to_json(yaml))
}

/// Converts YAML to JSON. Keys that are not strings (`200:` for a response code, `true`)
/// become their plain text, as OpenAPI means them.
fn yaml_to_json(v: serde_yaml_ng::Value) -> Value {
    use serde_yaml_ng::Value as Y;
    match v {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                n.as_f64()
                    .and_then(serde_json::Number::from_f64)
                    .map(Value::Number)
                    .unwrap_or(Value::Null)
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(seq) => Value::Array(seq.into_iter().map(yaml_to_json).collect()),
        Y::Mapping(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                let key = match k {
                    Y::String(s) => s,
                    Y::Number(n) => n.to_string(),
                    Y::Bool(b) => b.to_string(),
                    Y::Null => "null".to_string(),
                    other => serde_yaml_ng::to_string(&other)
                        .unwrap_or_default()
                        .trim()
                        .to_string(),
                };
                out.insert(key, yaml_to_json(v));
            }
            Value::Object(out)
        }
        Y::Tagged(t) => yaml_to_json(t.value),
    }
}

/// serde_path_to_error paths look like `resources.book.fields[0]`; turn them into a pointer.
fn path_to_pointer(path: &str) -> String {
    if path == "." {
        return String::new();
    }
    let mut out = String::new();
    for part in path.split('.') {
        let mut rest = part;
        if let Some(i) = rest.find('[') {
            out = ptr(&out, &rest[..i]);
            rest = &rest[i..];
            for idx in rest.split('[').filter(|s| !s.is_empty()) {
                out = ptr(&out, idx.trim_end_matches(']'));
            }
        } else {
            out = ptr(&out, rest);
        }
    }
    out
}

/// Rewrites an OpenAPI 3.1 document into the 3.0 shape (OpenAPI 3.1 §4.8.24 uses JSON
/// Schema 2020-12; 3.0 §4.7.24 an extended subset of draft 5):
/// `type: [T, "null"]` → `type: T, nullable: true`; `const` → one-value `enum`;
/// numeric `exclusiveMinimum`/`exclusiveMaximum` → `minimum`/`maximum` with the boolean
/// flag; schema `examples` arrays → `example`; `webhooks` are dropped with a warning.
pub fn normalise_31(file: &str, mut doc: Value, diags: &mut Vec<Diagnostic>) -> Value {
    if let Value::Object(root) = &mut doc {
        root.insert("openapi".into(), Value::String("3.0.3".into()));
        if root.remove("webhooks").is_some() {
            diags.push(
                Diagnostic::new(
                    Severity::Warning,
                    file,
                    "/webhooks",
                    "webhooks are not served: apigen generates the API's own operations only",
                )
                .hint("implement outgoing webhook calls in a service"),
            );
        }
        root.remove("jsonSchemaDialect");
        root.entry("paths")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(Value::Object(info)) = root.get_mut("info") {
            if let Some(Value::Object(lic)) = info.get_mut("license") {
                lic.remove("identifier");
            }
            info.remove("summary");
        }
    }
    walk_doc(&mut doc, &mut |schema| normalise_schema_keywords(schema));
    normalise_boolean_schemas(&mut doc);
    // 3.1 made an operation's `responses` optional (OpenAPI 3.1.0 §4.8.10); 3.0 requires it.
    if let Some(Value::Object(paths)) = doc.get_mut("paths") {
        for (_, item) in paths.iter_mut() {
            if let Value::Object(item) = item {
                for m in [
                    "get", "put", "post", "delete", "options", "head", "patch", "trace",
                ] {
                    if let Some(Value::Object(op)) = item.get_mut(m) {
                        op.entry("responses")
                            .or_insert_with(|| Value::Object(Map::new()));
                    }
                }
            }
        }
    }
    doc
}

/// JSON Schema allows `true` and `false` as schemas; OpenAPI 3.0 tooling expects objects.
/// Wherever a schema stands, `true` becomes `{}` (anything) and `false` becomes
/// `{"not": {}}` (nothing); `additionalProperties` keeps its boolean (3.0 allows one there).
/// Returns whether any schema was changed.
pub fn normalise_boolean_schemas(doc: &mut Value) -> bool {
    walk_doc(doc, &mut |_| {})
}

/// Visits every Schema Object of an OpenAPI document exactly: those under
/// `components/schemas`, every `schema` field (parameters, media types, headers), and the
/// subschemas of schemas (`properties`, `items`, `allOf`, …). Property *names* are never
/// mistaken for keywords. Boolean schemas are turned into objects on the way; the result
/// says whether there were any.
fn walk_doc(v: &mut Value, f: &mut dyn FnMut(&mut Map<String, Value>)) -> bool {
    let mut changed = false;
    match v {
        Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                changed |= match k.as_str() {
                    "schema" => walk_schema(child, f),
                    "schemas" => match child {
                        Value::Object(m) => {
                            m.values_mut().fold(false, |c, s| walk_schema(s, f) | c)
                        }
                        _ => false,
                    },
                    "example" | "examples" | "default" => false,
                    _ => walk_doc(child, f),
                }
            }
        }
        Value::Array(xs) => changed = xs.iter_mut().fold(false, |c, x| walk_doc(x, f) | c),
        _ => {}
    }
    changed
}

fn walk_schema(v: &mut Value, f: &mut dyn FnMut(&mut Map<String, Value>)) -> bool {
    let mut changed = false;
    if let Value::Bool(b) = v {
        *v = if *b {
            Value::Object(Map::new())
        } else {
            serde_json::json!({"not": {}})
        };
        changed = true;
    }
    let Value::Object(map) = v else {
        return changed;
    };
    f(map);
    let all = |xs: &mut dyn Iterator<Item = &mut Value>,
               f: &mut dyn FnMut(&mut Map<String, Value>)| {
        xs.fold(false, |c, s| walk_schema(s, f) | c)
    };
    for (k, child) in map.iter_mut() {
        changed |= match (k.as_str(), child) {
            ("properties" | "patternProperties" | "$defs" | "definitions", Value::Object(m)) => {
                all(&mut m.values_mut(), f)
            }
            ("items" | "not" | "contains", child) => walk_schema(child, f),
            ("additionalProperties", child) if child.is_object() => walk_schema(child, f),
            ("allOf" | "oneOf" | "anyOf", Value::Array(xs)) => all(&mut xs.iter_mut(), f),
            _ => false,
        }
    }
    changed
}

/// Rewrites the 3.1 keywords of one schema into their 3.0 form (see `normalise_31`).
fn normalise_schema_keywords(map: &mut Map<String, Value>) {
    if let Some(Value::Array(types)) = map.get("type").cloned() {
        let non_null: Vec<&Value> = types
            .iter()
            .filter(|t| t.as_str() != Some("null"))
            .collect();
        if non_null.len() < types.len() {
            map.insert("nullable".into(), Value::Bool(true));
        }
        if non_null.len() == 1 {
            map.insert("type".into(), non_null[0].clone());
        } else {
            map.remove("type");
        }
    } else if map.get("type").and_then(Value::as_str) == Some("null") {
        map.remove("type");
        map.insert("nullable".into(), Value::Bool(true));
    }
    if let Some(c) = map.remove("const") {
        map.insert("enum".into(), Value::Array(vec![c]));
    }
    for (key, bound) in [
        ("exclusiveMinimum", "minimum"),
        ("exclusiveMaximum", "maximum"),
    ] {
        if let Some(n @ Value::Number(_)) = map.get(key).cloned() {
            map.insert(bound.into(), n);
            map.insert(key.into(), Value::Bool(true));
        }
    }
    if let Some(Value::Array(ex)) = map.get("examples").cloned() {
        map.remove("examples");
        if let Some(first) = ex.into_iter().next() {
            map.entry("example").or_insert(first);
        }
    }
    for key in [
        "$schema",
        "$id",
        "$anchor",
        "$comment",
        "$defs",
        "contentEncoding",
        "contentMediaType",
        "unevaluatedProperties",
        "prefixItems",
        "dependentRequired",
        "dependentSchemas",
        "propertyNames",
        "if",
        "then",
        "else",
        "contains",
        "minContains",
        "maxContains",
    ] {
        map.remove(key);
    }
    // `anyOf: [X, {type: null}]` is 3.1's way to say "nullable X".
    for comb in ["anyOf", "oneOf"] {
        if let Some(Value::Array(alts)) = map.get_mut(comb) {
            let before = alts.len();
            alts.retain(|a| {
                !(a.as_object().is_some_and(|o| {
                    o.len() == 1 && o.get("type").and_then(Value::as_str) == Some("null")
                }))
            });
            if alts.len() < before {
                map.insert("nullable".into(), Value::Bool(true));
            }
        }
    }
}

/// Finds the 1-based line of an RFC 6901 pointer in YAML or JSON text, by following keys
/// at increasing indentation (YAML) or in order (JSON). Returns `None` when unsure.
pub fn locate_pointer(text: &str, pointer: &str, is_yaml: bool) -> Option<usize> {
    Locator::new(text, is_yaml).line_of(pointer)
}

/// Where the walk of `Locator::line_of` stands after some pointer tokens: the 0-based line
/// of the last key found, its indentation, and whether any key was found yet.
type Place = (usize, isize, bool);

/// Looks up many pointers in one text: the text is split into lines once, and the place of
/// every pointer prefix walked is remembered, so diagnostics under the same path item (a
/// large document's usual case) share the long scans.
pub struct Locator<'a> {
    text: &'a str,
    lines: Vec<&'a str>,
    /// Byte offset where each line starts (JSON lookups search the text, then map back).
    starts: Vec<usize>,
    is_yaml: bool,
    /// Pointer prefix → place after it (`None`: not found, so neither is anything below).
    seen: std::collections::HashMap<String, Option<Place>>,
}

impl<'a> Locator<'a> {
    pub fn new(text: &'a str, is_yaml: bool) -> Self {
        let lines: Vec<&str> = text.lines().collect();
        let starts = lines
            .iter()
            .map(|l| l.as_ptr() as usize - text.as_ptr() as usize)
            .collect();
        Locator {
            text,
            lines,
            starts,
            is_yaml,
            seen: Default::default(),
        }
    }

    /// The 1-based line of `pointer` (see `locate_pointer`).
    pub fn line_of(&mut self, pointer: &str) -> Option<usize> {
        if pointer.is_empty() {
            return None;
        }
        let mut place: Place = (0, -1, false);
        let mut prefix = String::with_capacity(pointer.len());
        for raw in pointer.split('/').skip(1) {
            prefix.push('/');
            prefix.push_str(raw);
            place = match self.seen.get(&prefix) {
                Some(known) => (*known)?,
                None => {
                    let tok = raw.replace("~1", "/").replace("~0", "~");
                    let next = self.step(place, &tok);
                    self.seen.insert(prefix.clone(), next);
                    next?
                }
            };
        }
        place.2.then_some(place.0 + 1)
    }

    /// Finds `tok` below `place`.
    fn step(&self, (line, indent, found_any): Place, tok: &str) -> Option<Place> {
        let lines = &self.lines;
        let start = line + usize::from(found_any);
        if !self.is_yaml {
            // JSON keys are always quoted: the next `"tok"`, found with one substring search
            // from the current line itself (in a one-line document every key is on it).
            let from = *self.starts.get(line)?;
            let at = from + self.text[from..].find(&format!("\"{tok}\""))?;
            let i = self.starts.partition_point(|&s| s <= at) - 1;
            return Some((i, leading(lines[i]) as isize, true));
        }
        let mut hit = find_key(lines, start, indent, tok, found_any);
        if hit.is_none() {
            if let Ok(index) = tok.parse::<usize>() {
                hit = find_item(lines, start, indent, index);
            }
        }
        if hit.is_none() && found_any {
            // A key inside a flow mapping on the current line: `price: { type: money }`.
            let cur = lines.get(line).copied().unwrap_or("");
            if cur.contains(&format!("{tok}:")) || cur.contains(&format!("\"{tok}\"")) {
                return Some((line, indent, found_any));
            }
        }
        let (i, ind) = hit?;
        Some((i, ind, true))
    }
}

/// The line of YAML `key` below the current node (at deeper indentation).
fn find_key(
    lines: &[&str],
    start: usize,
    indent: isize,
    tok: &str,
    nested: bool,
) -> Option<(usize, isize)> {
    let key_forms = [
        format!("{tok}:"),
        format!("'{tok}':"),
        format!("\"{tok}\":"),
        format!("\"{tok}\" :"),
    ];
    for (i, l) in lines.iter().enumerate().skip(start) {
        let t = l.trim_start().trim_start_matches("- ");
        let ind = leading(l) as isize;
        if nested && ind <= indent && !l.trim().is_empty() && !l.trim_start().starts_with('#') {
            return None;
        }
        if key_forms.iter().any(|k| t.starts_with(k.as_str())) {
            return Some((i, ind));
        }
    }
    None
}

/// The line of the `index`-th `- ` item below the current node (YAML block sequences).
fn find_item(lines: &[&str], start: usize, indent: isize, index: usize) -> Option<(usize, isize)> {
    let mut count = 0;
    let mut item_indent = None;
    for (i, l) in lines.iter().enumerate().skip(start) {
        if l.trim().is_empty() || l.trim_start().starts_with('#') {
            continue;
        }
        let ind = leading(l) as isize;
        if ind <= indent && !l.trim_start().starts_with('-') {
            return None;
        }
        if l.trim_start().starts_with("- ") || l.trim() == "-" {
            let ii = *item_indent.get_or_insert(ind);
            if ind == ii {
                if count == index {
                    return Some((i, ind + 1));
                }
                count += 1;
            }
        }
    }
    None
}

fn leading(l: &str) -> usize {
    l.len() - l.trim_start_matches([' ', '-']).len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_yaml_pointers() {
        let text = "openapi: 3.0.0\npaths:\n  /pets:\n    get:\n      responses:\n        '200':\n          description: ok\n";
        assert_eq!(locate_pointer(text, "/paths/~1pets/get", true), Some(4));
        assert_eq!(
            locate_pointer(text, "/paths/~1pets/get/responses/200", true),
            Some(6)
        );
        assert_eq!(locate_pointer(text, "/paths/~1dogs", true), None);
        let flow = "resources:\n  item:\n    fields:\n      price: { type: money }\n";
        assert_eq!(
            locate_pointer(flow, "/resources/item/fields/price/type", true),
            Some(4)
        );
        let list = "tags:\n  - a\n  - b\n";
        assert_eq!(locate_pointer(list, "/tags/1", true), Some(3));
    }

    #[test]
    fn normalises_31_types() {
        let doc = serde_json::json!({"openapi": "3.1.0", "components": {"schemas": {"A": {"type": ["string", "null"], "const": "x", "exclusiveMinimum": 3}}}});
        let out = normalise_31("f", doc, &mut vec![]);
        let a = &out["components"]["schemas"]["A"];
        assert_eq!(a["type"], "string");
        assert_eq!(a["nullable"], true);
        assert_eq!(a["enum"], serde_json::json!(["x"]));
        assert_eq!(a["minimum"], 3);
        assert_eq!(a["exclusiveMinimum"], true);
        assert_eq!(out["openapi"], "3.0.3");
    }

    /// Regression (atlassian.com/jira.json): a property *named* `properties` or `const` is not
    /// a keyword, and must not be rewritten.
    #[test]
    fn property_names_are_not_keywords() {
        let doc = serde_json::json!({"openapi": "3.1.0", "components": {"schemas": {"A": {"type": "object", "properties": {
            "properties": {"type": "object", "readOnly": true, "additionalProperties": {"readOnly": true}},
            "const": {"type": "string"},
            "flag": false
        }}}}});
        let out = normalise_31("f", doc, &mut vec![]);
        let props = &out["components"]["schemas"]["A"]["properties"];
        assert_eq!(props["properties"]["readOnly"], true);
        assert_eq!(props["const"], serde_json::json!({"type": "string"}));
        assert_eq!(props["flag"], serde_json::json!({"not": {}}));
    }

    #[test]
    fn path_to_pointer_handles_indices() {
        assert_eq!(
            path_to_pointer("resources.book.fields[0]"),
            "/resources/book/fields/0"
        );
    }
}
