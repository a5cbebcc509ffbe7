//! Schema → Rust type mapping, validation nodes and sample values.
//!
//! Owns how an OpenAPI Schema Object (OpenAPI 3.0.3 §4.7.24) becomes a Rust type, a node of
//! the generated service's validation tables, and a SQL storage class. Named component
//! schemas are memoised before recursing, so cyclic `$ref`s terminate. It must not look at
//! paths or operations: that is `resolve::openapi`.

use super::names::{doc_line, pascal_ident, rust_str, shouty_ident, snake_ident, Namespace};
use crate::diag::{ptr, Diagnostic, Severity};
use crate::model::{PropNode, RustType, SchemaNode, StructField, Variant};
use indexmap::IndexMap;
use openapiv3::{
    AdditionalProperties, ReferenceOr, Schema, SchemaKind, StringFormat, Type,
    VariantOrUnknownOrEmpty,
};
use serde_json::Value;
use std::collections::{HashMap, HashSet};

/// How a value is stored in SQL.
#[derive(Debug, Clone, PartialEq)]
pub enum Sql {
    Text,
    Int32,
    Int64,
    Real,
    Bool,
    Uuid,
    DateTime,
    Date,
    /// A string enum stored as TEXT (carries the Rust type name).
    Enum(String),
    Json,
}

/// A resolved type: its Rust spelling (never `Option`), its validation node and storage.
#[derive(Debug, Clone)]
pub struct Ty {
    pub rust: String,
    pub node: usize,
    pub sql: Sql,
    /// A named struct or union: wrap in `Box` when held directly by a struct field.
    pub boxed: bool,
    /// Index into `TypeBuilder::types` for named types.
    pub named: Option<usize>,
}

#[derive(Debug, Clone, Default)]
pub enum Additional {
    #[default]
    Deny,
    Allow,
    Schema(usize),
}

/// A property of an object node.
#[derive(Debug, Clone)]
pub struct Prop {
    pub name: String,
    pub node: usize,
    pub required: bool,
    pub read_only: bool,
    pub write_only: bool,
    pub default: Option<Value>,
    pub ty: Ty,
    /// No two rows hold the same value (`x-apigen-unique: true`).
    pub unique: bool,
    /// No two rows of one owner hold the same value (`x-apigen-unique: owner`).
    pub unique_per_owner: bool,
    pub references: Option<String>,
    pub renamed_from: Option<String>,
}

/// Validation node with raw (not yet literal) values; `to_schema_node` renders it.
#[derive(Debug, Clone, Default)]
pub struct Node {
    pub ident: String,
    pub kind: &'static str,
    pub nullable: bool,
    pub min_length: Option<u64>,
    pub max_length: Option<u64>,
    pub pattern: Option<String>,
    pub format: Option<&'static str>,
    pub enum_values: Vec<Value>,
    pub trim: bool,
    pub lowercase: bool,
    /// Control characters are allowed (`x-apigen-control-characters: true`); refused by
    /// default.
    pub allow_control: bool,
    pub minimum: Option<f64>,
    pub maximum: Option<f64>,
    pub exclusive_minimum: bool,
    pub exclusive_maximum: bool,
    pub multiple_of: Option<f64>,
    pub items: Option<usize>,
    pub min_items: Option<u64>,
    pub max_items: Option<u64>,
    pub unique_items: bool,
    pub properties: Vec<Prop>,
    pub additional: Additional,
    pub variants: Vec<usize>,
    pub example: Option<Value>,
    pub default: Option<Value>,
}

enum Memo {
    InProgress,
    Done(Ty),
}

/// Builds types and nodes for one document. `raw` is the whole document, used to follow
/// `$ref`s that point anywhere inside it.
pub struct TypeBuilder<'a> {
    pub file: String,
    pub raw: &'a Value,
    pub types: Vec<RustType>,
    pub nodes: Vec<Node>,
    pub diags: Vec<Diagnostic>,
    pub type_names: Namespace,
    node_names: Namespace,
    memo: HashMap<String, Memo>,
    depth: usize,
    /// Indexes kept in step with `nodes` and `types`, so large documents resolve in linear time.
    node_index: HashMap<String, usize>,
    type_index: HashMap<String, usize>,
    /// Names of the string-enum types (they are `Copy`).
    pub enums: HashSet<String>,
    /// The component schema pointer each named type came from.
    component_of: HashMap<String, String>,
}

const MAX_DEPTH: usize = 64;

/// Names a contract's type may not take: the prelude's, and those generated files import
/// by name (a schema called `Response` becomes `Response2`, so `Response` stays axum's).
const RESERVED_TYPE_NAMES: &[&str] = &[
    "Option",
    "Result",
    "Vec",
    "Box",
    "String",
    "Some",
    "None",
    "Ok",
    "Err",
    "Self",
    "Response",
    "State",
    "Extension",
    "StatusCode",
    "Json",
    "RawPathParams",
    "RawQuery",
    "RawBody",
    "ApiError",
    "AppState",
    "Caller",
    "Page",
    "Sort",
    "Filter",
    "ListOptions",
    "Db",
    "DbRow",
    "Pool",
    "Row",
    "Mode",
    "Uuid",
    "Value",
    "Database",
    "IsNull",
    "BoxDynError",
];

impl<'a> TypeBuilder<'a> {
    pub fn new(file: &str, raw: &'a Value) -> Self {
        TypeBuilder {
            file: file.to_string(),
            raw,
            types: Vec::new(),
            nodes: Vec::new(),
            diags: Vec::new(),
            type_names: {
                let mut names = Namespace::new();
                for reserved in RESERVED_TYPE_NAMES {
                    names.reserve(reserved);
                }
                names
            },
            node_names: Namespace::new(),
            memo: HashMap::new(),
            depth: 0,
            node_index: HashMap::new(),
            type_index: HashMap::new(),
            enums: HashSet::new(),
            component_of: HashMap::new(),
        }
    }

    fn diag(&mut self, sev: Severity, pointer: &str, msg: impl Into<String>, hint: &str) {
        let d = Diagnostic::new(sev, &self.file, pointer, msg);
        self.diags
            .push(if hint.is_empty() { d } else { d.hint(hint) });
    }

    fn new_node(&mut self, hint: &str, kind: &'static str) -> usize {
        let ident = self.node_names.claim(&shouty_ident(hint, "SCHEMA"));
        self.push_node(Node {
            ident,
            kind,
            ..Node::default()
        })
    }

    /// Drops the nodes from index `len` on (the nodes of parameters found to repeat an
    /// earlier operation's). Their idents stay claimed.
    pub fn discard_nodes_from(&mut self, len: usize) {
        for n in self.nodes.drain(len..) {
            self.node_index.remove(&n.ident);
        }
        self.memo
            .retain(|_, m| !matches!(m, Memo::Done(t) if t.node >= len));
    }

    /// Gives node `index` a new ident from `hint` (`BOOK_PATH`); returns it.
    pub fn rename_node(&mut self, index: usize, hint: &str) -> String {
        let ident = self.node_names.claim(&shouty_ident(hint, "SCHEMA"));
        self.node_index.remove(&self.nodes[index].ident);
        self.node_index.insert(ident.clone(), index);
        self.nodes[index].ident = ident.clone();
        ident
    }

    /// Appends a node (whose ident must be unique) and indexes it.
    pub fn push_node(&mut self, node: Node) -> usize {
        self.node_index.insert(node.ident.clone(), self.nodes.len());
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    /// The node with this ident.
    pub fn node_of(&self, ident: &str) -> Option<usize> {
        self.node_index.get(ident).copied()
    }

    /// The named type with this name.
    pub fn type_of(&self, name: &str) -> Option<usize> {
        self.type_index.get(name).copied()
    }

    /// The merge-patch struct of a PATCH body (RFC 7396) with `fields`: the body type
    /// `body` itself, rewritten, when its name ends in `Patch` (the contract's own patch
    /// schema), else a new struct named from `hint`. `schema` is the body's validation
    /// node. Returns the struct's name.
    pub fn merge_patch_type(
        &mut self,
        body: &str,
        hint: &str,
        schema: &str,
        doc: &str,
        fields: Vec<StructField>,
    ) -> String {
        if let Some(i) = self
            .type_of(body)
            .filter(|&i| body.ends_with("Patch") && self.types[i].kind == "struct")
        {
            self.types[i].fields = fields;
            if self.types[i].doc.is_empty() {
                self.types[i].doc = doc_line(doc);
            }
            return body.to_string();
        }
        let name = self.type_names.claim(&pascal_ident(hint, "Patch"));
        self.types.push(RustType {
            name: name.clone(),
            doc: doc_line(doc),
            kind: "struct".into(),
            fields,
            variants: vec![],
            schema: schema.to_string(),
            sql_text: false,
        });
        self.type_index.insert(name.clone(), self.types.len() - 1);
        name
    }

    /// The component schema (its JSON pointer) a named type was made from.
    pub fn component_of(&self, type_name: &str) -> Option<&str> {
        self.component_of.get(type_name).map(String::as_str)
    }

    /// A free-form JSON value (`serde_json::Value`) accepting anything.
    pub fn any(&mut self, hint: &str) -> Ty {
        let node = self.new_node(hint, "any");
        Ty {
            rust: "serde_json::Value".into(),
            node,
            sql: Sql::Json,
            boxed: false,
            named: None,
        }
    }

    /// Follows a local `$ref` to the schema it names. Errors (as diagnostics) for external
    /// or dangling references.
    pub fn deref_schema(&mut self, reference: &str, pointer: &str) -> Option<(String, Schema)> {
        let Some(target) = crate::diag::fragment_pointer(reference) else {
            self.diag(Severity::Error, pointer, format!("external $ref `{reference}` is not supported"), "bundle the document into one file first, for example with `npx @redocly/cli bundle`");
            return None;
        };
        let Some(v) = self.raw.pointer(&target) else {
            self.diag(
                Severity::Error,
                pointer,
                format!("$ref `{reference}` points at nothing in this document"),
                "check the spelling of the referenced component",
            );
            return None;
        };
        match serde_json::from_value::<ReferenceOr<Schema>>(v.clone()) {
            Ok(ReferenceOr::Item(s)) => Some((target.to_string(), s)),
            Ok(ReferenceOr::Reference { reference: next }) => {
                if next == reference || self.depth > MAX_DEPTH {
                    self.diag(
                        Severity::Error,
                        pointer,
                        format!("$ref `{reference}` refers to itself"),
                        "point the reference at a schema",
                    );
                    return None;
                }
                self.depth += 1;
                let r = self.deref_schema(&next, &target);
                self.depth -= 1;
                r
            }
            Err(e) => {
                self.diag(
                    Severity::Error,
                    &target,
                    format!("not a valid schema: {e}"),
                    "fix the schema the $ref points at",
                );
                None
            }
        }
    }

    /// The type of a schema or reference at `pointer`. `hint` names anonymous types
    /// (`PetTags`) and nodes.
    pub fn ty(&mut self, s: &ReferenceOr<Schema>, pointer: &str, hint: &str) -> Ty {
        match s {
            ReferenceOr::Reference { reference } => self.ty_ref(reference, pointer),
            ReferenceOr::Item(schema) => self.ty_inline(schema, pointer, hint),
        }
    }

    /// An inline schema, memoised by its location so that reaching it twice (through two
    /// `allOf`s, say) gives one type.
    fn ty_inline(&mut self, schema: &Schema, pointer: &str, hint: &str) -> Ty {
        let key = format!("inline:{pointer}");
        if let Some(Memo::Done(t)) = self.memo.get(&key) {
            return t.clone();
        }
        // Nominal types (structs, enums, unions) are memoised under `key` as soon as they are
        // reserved, so a cycle through inline schemas ends at the reserved type.
        let t = self.ty_schema(schema, pointer, hint, Some(&key));
        self.memo.insert(key, Memo::Done(t.clone()));
        t
    }

    pub fn ty_boxed(&mut self, s: &ReferenceOr<Box<Schema>>, pointer: &str, hint: &str) -> Ty {
        match s {
            ReferenceOr::Reference { reference } => self.ty_ref(reference, pointer),
            ReferenceOr::Item(schema) => self.ty_inline(schema, pointer, hint),
        }
    }

    fn ty_ref(&mut self, reference: &str, pointer: &str) -> Ty {
        match self.memo.get(reference) {
            Some(Memo::Done(t)) => return t.clone(),
            Some(Memo::InProgress) => {
                // A cycle through a non-nominal schema (an array alias of itself, say).
                self.diag(Severity::Warning, pointer, format!("$ref `{reference}` is cyclic through a schema that is not an object; it is served as free-form JSON"), "");
                return self.any("cyclic");
            }
            None => {}
        }
        let Some((target, schema)) = self.deref_schema(reference, pointer) else {
            return self.any("unresolved");
        };
        let name = target
            .rsplit('/')
            .next()
            .unwrap_or("Schema")
            .replace("~1", "/")
            .replace("~0", "~");
        if self.depth > MAX_DEPTH {
            return self.any(&name);
        }
        self.memo.insert(reference.to_string(), Memo::InProgress);
        self.depth += 1;
        let t = self.ty_schema(&schema, &target, &name, Some(reference));
        if t.named.is_some() {
            self.component_of
                .entry(t.rust.clone())
                .or_insert(target.clone());
        }
        self.depth -= 1;
        self.memo
            .insert(reference.to_string(), Memo::Done(t.clone()));
        t
    }

    /// Reserves a named type and its node before recursing, and memoises it under `memo_key`.
    fn reserve_named(
        &mut self,
        hint: &str,
        kind: &'static str,
        doc: &str,
        memo_key: Option<&str>,
        node_kind: &'static str,
    ) -> (usize, usize, Ty) {
        let name = self.type_names.claim(&pascal_ident(hint, "Schema"));
        let node = self.new_node(&name, node_kind);
        self.types.push(RustType {
            name: name.clone(),
            doc: doc_line(doc),
            kind: kind.to_string(),
            fields: vec![],
            variants: vec![],
            schema: self.nodes[node].ident.clone(),
            sql_text: false,
        });
        let idx = self.types.len() - 1;
        self.type_index.insert(name.clone(), idx);
        if kind == "enum" {
            self.enums.insert(name.clone());
        }
        let sql = if kind == "enum" {
            Sql::Enum(name.clone())
        } else {
            Sql::Json
        };
        let ty = Ty {
            rust: name,
            node,
            sql,
            boxed: kind != "enum",
            named: Some(idx),
        };
        if let Some(k) = memo_key {
            self.memo.insert(k.to_string(), Memo::Done(ty.clone()));
        }
        (idx, node, ty)
    }

    fn ty_schema(
        &mut self,
        schema: &Schema,
        pointer: &str,
        hint: &str,
        memo_key: Option<&str>,
    ) -> Ty {
        let data = &schema.schema_data;
        let doc = data
            .description
            .clone()
            .or_else(|| data.title.clone())
            .unwrap_or_default();
        let mut t = match &schema.schema_kind {
            SchemaKind::Type(Type::String(st)) => {
                let values: Vec<String> = st.enumeration.iter().flatten().cloned().collect();
                let nullable_enum = st.enumeration.iter().any(Option::is_none);
                if !values.is_empty() {
                    let t = self.string_enum(&values, hint, &doc, memo_key, pointer);
                    if nullable_enum {
                        self.nodes[t.node].nullable = true;
                    }
                    t
                } else {
                    let format = match &st.format {
                        VariantOrUnknownOrEmpty::Item(StringFormat::DateTime) => Some("date-time"),
                        VariantOrUnknownOrEmpty::Item(StringFormat::Date) => Some("date"),
                        VariantOrUnknownOrEmpty::Unknown(f) => match f.as_str() {
                            "uuid" => Some("uuid"),
                            "email" => Some("email"),
                            "uri" | "url" => Some("uri"),
                            "ipv4" => Some("ipv4"),
                            "ipv6" => Some("ipv6"),
                            _ => None,
                        },
                        _ => None,
                    };
                    let node = self.new_node(hint, "string");
                    let n = &mut self.nodes[node];
                    n.min_length = st.min_length.map(|v| v as u64);
                    n.max_length = st.max_length.map(|v| v as u64);
                    n.format = format;
                    n.trim = data
                        .extensions
                        .get("x-apigen-trim")
                        .and_then(Value::as_bool)
                        .unwrap_or(false);
                    n.lowercase = format == Some("email");
                    n.allow_control = data
                        .extensions
                        .get("x-apigen-control-characters")
                        .and_then(Value::as_bool)
                        .unwrap_or(false);
                    if let Some(p) = &st.pattern {
                        if pattern_compiles(p) {
                            self.nodes[node].pattern = Some(p.clone());
                        } else {
                            self.diag(Severity::Warning, &ptr(pointer, "pattern"), format!("pattern `{p}` uses syntax the Rust regex engines do not support (look-around or back-references); it is not enforced"), "rewrite the pattern without look-around, or enforce it in the service");
                        }
                    }
                    let (rust, sql) = match format {
                        Some("uuid") => ("uuid::Uuid", Sql::Uuid),
                        Some("date-time") => ("chrono::DateTime<chrono::Utc>", Sql::DateTime),
                        Some("date") => ("chrono::NaiveDate", Sql::Date),
                        _ => ("String", Sql::Text),
                    };
                    Ty {
                        rust: rust.into(),
                        node,
                        sql,
                        boxed: false,
                        named: None,
                    }
                }
            }
            SchemaKind::Type(Type::Integer(it)) => {
                let node = self.new_node(hint, "integer");
                let wide = !matches!(
                    &it.format,
                    VariantOrUnknownOrEmpty::Item(openapiv3::IntegerFormat::Int32)
                );
                let n = &mut self.nodes[node];
                n.minimum = it.minimum.map(|v| v as f64);
                n.maximum = it.maximum.map(|v| v as f64);
                n.exclusive_minimum = it.exclusive_minimum;
                n.exclusive_maximum = it.exclusive_maximum;
                n.multiple_of = it.multiple_of.map(|v| v as f64);
                n.enum_values = it
                    .enumeration
                    .iter()
                    .flatten()
                    .map(|v| Value::from(*v))
                    .collect();
                if !wide {
                    n.minimum = Some(
                        n.minimum
                            .map_or(i32::MIN as f64, |m| m.max(i32::MIN as f64)),
                    );
                    n.maximum = Some(
                        n.maximum
                            .map_or(i32::MAX as f64, |m| m.min(i32::MAX as f64)),
                    );
                }
                if wide {
                    Ty {
                        rust: "i64".into(),
                        node,
                        sql: Sql::Int64,
                        boxed: false,
                        named: None,
                    }
                } else {
                    Ty {
                        rust: "i32".into(),
                        node,
                        sql: Sql::Int32,
                        boxed: false,
                        named: None,
                    }
                }
            }
            SchemaKind::Type(Type::Number(nt)) => {
                let node = self.new_node(hint, "number");
                let n = &mut self.nodes[node];
                n.minimum = nt.minimum;
                n.maximum = nt.maximum;
                n.exclusive_minimum = nt.exclusive_minimum;
                n.exclusive_maximum = nt.exclusive_maximum;
                n.multiple_of = nt.multiple_of;
                n.enum_values = nt
                    .enumeration
                    .iter()
                    .flatten()
                    .filter_map(|v| serde_json::Number::from_f64(*v).map(Value::Number))
                    .collect();
                Ty {
                    rust: "f64".into(),
                    node,
                    sql: Sql::Real,
                    boxed: false,
                    named: None,
                }
            }
            SchemaKind::Type(Type::Boolean(_)) => {
                let node = self.new_node(hint, "boolean");
                Ty {
                    rust: "bool".into(),
                    node,
                    sql: Sql::Bool,
                    boxed: false,
                    named: None,
                }
            }
            SchemaKind::Type(Type::Array(at)) => {
                let item_hint = format!("{hint} item");
                let item = match &at.items {
                    Some(i) => self.ty_boxed(i, &ptr(pointer, "items"), &item_hint),
                    None => self.any(&item_hint),
                };
                let node = self.new_node(hint, "array");
                let n = &mut self.nodes[node];
                n.items = Some(item.node);
                n.min_items = at.min_items.map(|v| v as u64);
                n.max_items = at.max_items.map(|v| v as u64);
                n.unique_items = at.unique_items;
                Ty {
                    rust: format!("Vec<{}>", item.rust),
                    node,
                    sql: Sql::Json,
                    boxed: false,
                    named: None,
                }
            }
            SchemaKind::Type(Type::Object(ot)) => {
                let props = props_at(&ot.properties, pointer);
                self.object(
                    &props,
                    &ot.required,
                    ot.additional_properties.as_ref(),
                    hint,
                    &doc,
                    memo_key,
                    pointer,
                    data,
                )
            }
            SchemaKind::AllOf { all_of } => {
                self.all_of(all_of, hint, &doc, memo_key, pointer, data)
            }
            SchemaKind::OneOf { one_of } => {
                self.union(one_of, "oneOf", hint, &doc, memo_key, pointer)
            }
            SchemaKind::AnyOf { any_of } => {
                self.union(any_of, "anyOf", hint, &doc, memo_key, pointer)
            }
            SchemaKind::Not { .. } => {
                self.diag(
                    Severity::Info,
                    pointer,
                    "`not` schemas are not enforced; the value is accepted as free-form JSON",
                    "",
                );
                self.any(hint)
            }
            SchemaKind::Any(any) => {
                if !any.properties.is_empty() || any.typ.as_deref() == Some("object") {
                    let props = props_at(&any.properties, pointer);
                    self.object(
                        &props,
                        &any.required,
                        any.additional_properties.as_ref(),
                        hint,
                        &doc,
                        memo_key,
                        pointer,
                        data,
                    )
                } else if !any.all_of.is_empty() {
                    self.all_of(&any.all_of, hint, &doc, memo_key, pointer, data)
                } else if !any.one_of.is_empty() {
                    self.union(&any.one_of, "oneOf", hint, &doc, memo_key, pointer)
                } else if !any.any_of.is_empty() {
                    self.union(&any.any_of, "anyOf", hint, &doc, memo_key, pointer)
                } else {
                    self.any(hint)
                }
            }
        };
        // Nullable applies to the node (a shared named node keeps its own flag).
        if data.nullable && t.named.is_none() {
            self.nodes[t.node].nullable = true;
        } else if data.nullable {
            // A nullable named schema: make a wrapper node so other uses are not widened.
            self.nodes[t.node].nullable = true;
        }
        if t.named.is_none() {
            let n = &mut self.nodes[t.node];
            n.example = data.example.clone().or(n.example.take());
            n.default = data.default.clone();
        } else if let Some(ex) = data.example.clone() {
            self.nodes[t.node].example.get_or_insert(ex);
        }
        if t.rust == "serde_json::Value" {
            t.sql = Sql::Json;
        }
        t
    }

    fn string_enum(
        &mut self,
        values: &[String],
        hint: &str,
        doc: &str,
        memo_key: Option<&str>,
        pointer: &str,
    ) -> Ty {
        let (idx, node, ty) = self.reserve_named(hint, "enum", doc, memo_key, "string");
        let mut ns = Namespace::new();
        let mut variants = Vec::new();
        // A value listed twice is one variant (regression: oas-examples schema-enums.yaml).
        let mut unique: Vec<String> = Vec::new();
        for v in values {
            if !unique.contains(v) {
                unique.push(v.clone());
            }
        }
        let values = &unique;
        for v in values {
            // A descending sort key (`-createdAt`) beside its ascending one: `CreatedAtDesc`.
            let name = match v.strip_prefix('-').filter(|rest| !rest.is_empty()) {
                Some(rest) => ns.claim(&format!("{}Desc", pascal_ident(rest, "Empty"))),
                None => ns.claim(&pascal_ident(v, "Empty")),
            };
            variants.push(Variant {
                name,
                value_lit: rust_str(v),
                ty: String::new(),
            });
        }
        let _ = pointer;
        self.types[idx].variants = variants;
        self.nodes[node].enum_values = values.iter().map(|v| Value::String(v.clone())).collect();
        ty
    }

    #[allow(clippy::too_many_arguments)]
    fn object(
        &mut self,
        props: &[(String, ReferenceOr<Schema>, String)],
        required: &[String],
        additional: Option<&AdditionalProperties>,
        hint: &str,
        doc: &str,
        memo_key: Option<&str>,
        pointer: &str,
        data: &openapiv3::SchemaData,
    ) -> Ty {
        // JSON Schema (2020-12 §10.3.2.3, and OpenAPI 3.0.3 §4.7.24): without
        // `additionalProperties`, members beyond `properties` are allowed. Only an explicit
        // `false` closes an object (domain specs always say it); other members are then
        // accepted and ignored, never bound to a column (no mass assignment).
        let closed = matches!(additional, Some(AdditionalProperties::Any(false)));
        let extra = match additional {
            Some(AdditionalProperties::Any(true)) => Some(None),
            Some(AdditionalProperties::Schema(s)) => Some(Some(s.as_ref().clone())),
            _ => None,
        };
        if props.is_empty() {
            // A map or free-form object.
            let node = self.new_node(hint, "object");
            return match extra {
                Some(Some(s)) => {
                    let v = self.ty(
                        &s,
                        &ptr(pointer, "additionalProperties"),
                        &format!("{hint} value"),
                    );
                    self.nodes[node].additional = Additional::Schema(v.node);
                    Ty {
                        rust: format!("std::collections::BTreeMap<String, {}>", v.rust),
                        node,
                        sql: Sql::Json,
                        boxed: false,
                        named: None,
                    }
                }
                _ => {
                    self.nodes[node].additional = Additional::Allow;
                    Ty {
                        rust: "serde_json::Map<String, serde_json::Value>".into(),
                        node,
                        sql: Sql::Json,
                        boxed: false,
                        named: None,
                    }
                }
            };
        }
        let (idx, node, ty) = self.reserve_named(hint, "struct", doc, memo_key, "object");
        let type_name = ty.rust.clone();
        let mut field_names = Namespace::new();
        let mut fields = Vec::new();
        let mut node_props = Vec::new();
        for (pname, pschema, ppointer) in props {
            let ppointer = ppointer.as_str();
            let pt = self.ty(pschema, ppointer, &format!("{type_name} {pname}"));
            let (read_only, write_only, default, pdoc, unique, references, renamed_from) =
                self.prop_flags(pschema, ppointer);
            let is_required = required.iter().any(|r| r == pname);
            let nullable = self.nodes[pt.node].nullable;
            let fname = field_names.claim(&snake_ident(pname, "field"));
            let inner = if pt.boxed {
                format!("Box<{}>", pt.rust)
            } else {
                pt.rust.clone()
            };
            let defaultable = !pt.boxed && pt.named.is_none() || pt.rust.starts_with("Vec<");
            let optional = !is_required || nullable || (read_only && !defaultable);
            let rust = if optional {
                format!("Option<{inner}>")
            } else {
                inner
            };
            let mut serde = Vec::new();
            if fname != *pname {
                serde.push(format!("rename = {}", rust_str(pname)));
            }
            if optional {
                serde.push("default".into());
                if !(write_only || is_required && nullable) {
                    serde.push("skip_serializing_if = \"Option::is_none\"".into());
                }
            } else if read_only {
                serde.push("default".into());
            }
            if write_only {
                serde.push("skip_serializing".into());
            }
            fields.push(StructField {
                name: fname,
                ty: rust,
                doc: doc_line(&pdoc),
                serde: serde.join(", "),
            });
            let default = default.and_then(|d| self.fit_default(pt.node, d, ppointer));
            node_props.push(Prop {
                name: pname.clone(),
                node: pt.node,
                required: is_required,
                read_only,
                write_only,
                default,
                ty: pt,
                unique: unique.0,
                unique_per_owner: unique.1,
                references,
                renamed_from,
            });
        }
        self.types[idx].fields = fields;
        let n = &mut self.nodes[node];
        n.properties = node_props;
        n.additional = match extra {
            Some(None) => Additional::Allow,
            Some(Some(_)) => Additional::Allow,
            None if closed => Additional::Deny,
            None => Additional::Allow,
        };
        n.example = data.example.clone();
        ty
    }

    /// readOnly, writeOnly, default, description and apigen extensions of a property.
    #[allow(clippy::type_complexity)]
    fn prop_flags(
        &mut self,
        s: &ReferenceOr<Schema>,
        pointer: &str,
    ) -> (
        bool,
        bool,
        Option<Value>,
        String,
        (bool, bool),
        Option<String>,
        Option<String>,
    ) {
        let schema = match s {
            ReferenceOr::Item(s) => s.clone(),
            ReferenceOr::Reference { reference } => match self.deref_schema(reference, pointer) {
                Some((_, s)) => s,
                None => {
                    return (
                        false,
                        false,
                        None,
                        String::new(),
                        (false, false),
                        None,
                        None,
                    )
                }
            },
        };
        let d = &schema.schema_data;
        let ext = |k: &str| d.extensions.get(k).cloned();
        (
            d.read_only,
            d.write_only,
            d.default.clone(),
            d.description.clone().unwrap_or_default(),
            match ext("x-apigen-unique") {
                Some(Value::Bool(true)) => (true, false),
                Some(Value::String(s)) if s == "owner" => (false, true),
                _ => (false, false),
            },
            ext("x-apigen-references").and_then(|v| v.as_str().map(String::from)),
            ext("x-apigen-renamed-from").and_then(|v| v.as_str().map(String::from)),
        )
    }

    fn all_of(
        &mut self,
        parts: &[ReferenceOr<Schema>],
        hint: &str,
        doc: &str,
        memo_key: Option<&str>,
        pointer: &str,
        data: &openapiv3::SchemaData,
    ) -> Ty {
        // `allOf: [{$ref: X}]` (often with a description or readOnly beside it) is X itself.
        let refs: Vec<&ReferenceOr<Schema>> = parts
            .iter()
            .filter(|p| matches!(p, ReferenceOr::Reference { .. }))
            .collect();
        let inline_adds_nothing = parts.iter().all(|p| match p {
            ReferenceOr::Reference { .. } => true,
            ReferenceOr::Item(s) => match &s.schema_kind {
                SchemaKind::Any(a) => {
                    a.properties.is_empty()
                        && a.all_of.is_empty()
                        && a.one_of.is_empty()
                        && a.any_of.is_empty()
                        && a.typ.is_none()
                }
                SchemaKind::Type(Type::Object(o)) => o.properties.is_empty(),
                _ => false,
            },
        });
        if refs.len() == 1 && inline_adds_nothing {
            let i = parts
                .iter()
                .position(|p| matches!(p, ReferenceOr::Reference { .. }))
                .unwrap_or(0);
            return self.ty(refs[0], &ptr(&ptr(pointer, "allOf"), &i.to_string()), hint);
        }
        let mut props: IndexMap<String, (ReferenceOr<Schema>, String)> = IndexMap::new();
        let mut required: Vec<String> = Vec::new();
        let mut additional = None;
        let mut non_object = None;
        for (i, part) in parts.iter().enumerate() {
            let ppointer = ptr(&ptr(pointer, "allOf"), &i.to_string());
            if !self.collect_object(
                part,
                &ppointer,
                &mut props,
                &mut required,
                &mut additional,
                0,
            ) {
                non_object.get_or_insert((part.clone(), ppointer));
            }
        }
        if props.is_empty() {
            if let Some((part, p)) = non_object {
                return self.ty(&part, &p, hint);
            }
        }
        let props: Vec<(String, ReferenceOr<Schema>, String)> =
            props.into_iter().map(|(k, (s, p))| (k, s, p)).collect();
        self.object(
            &props,
            &required,
            additional.as_ref(),
            hint,
            doc,
            memo_key,
            pointer,
            data,
        )
    }

    /// Gathers properties of an allOf part (following refs and nested allOf). Returns false
    /// when the part is not an object schema.
    pub(crate) fn collect_object(
        &mut self,
        part: &ReferenceOr<Schema>,
        pointer: &str,
        props: &mut IndexMap<String, (ReferenceOr<Schema>, String)>,
        required: &mut Vec<String>,
        additional: &mut Option<AdditionalProperties>,
        depth: usize,
    ) -> bool {
        if depth > 16 {
            return false;
        }
        let (schema, base) = match part {
            ReferenceOr::Item(s) => (s.clone(), pointer.to_string()),
            ReferenceOr::Reference { reference } => match self.deref_schema(reference, pointer) {
                Some((target, s)) => (s, target),
                None => return false,
            },
        };
        let (p, r, a) = match &schema.schema_kind {
            SchemaKind::Type(Type::Object(o)) => {
                (&o.properties, &o.required, &o.additional_properties)
            }
            SchemaKind::Any(a)
                if !a.properties.is_empty()
                    || !a.all_of.is_empty()
                    || a.typ.as_deref() == Some("object") =>
            {
                for (i, sub) in a.all_of.iter().enumerate() {
                    self.collect_object(
                        sub,
                        &ptr(&ptr(&base, "allOf"), &i.to_string()),
                        props,
                        required,
                        additional,
                        depth + 1,
                    );
                }
                (&a.properties, &a.required, &a.additional_properties)
            }
            SchemaKind::AllOf { all_of } => {
                let mut any = false;
                for (i, sub) in all_of.iter().enumerate() {
                    any |= self.collect_object(
                        sub,
                        &ptr(&ptr(&base, "allOf"), &i.to_string()),
                        props,
                        required,
                        additional,
                        depth + 1,
                    );
                }
                return any;
            }
            _ => return false,
        };
        let props_ptr = ptr(&base, "properties");
        for (k, v) in p {
            props.insert(k.clone(), (unbox(v), ptr(&props_ptr, k)));
        }
        for k in r {
            if !required.contains(k) {
                required.push(k.clone());
            }
        }
        if a.is_some() {
            *additional = a.clone();
        }
        true
    }

    fn union(
        &mut self,
        alts: &[ReferenceOr<Schema>],
        keyword: &str,
        hint: &str,
        doc: &str,
        memo_key: Option<&str>,
        pointer: &str,
    ) -> Ty {
        if alts.len() == 1 {
            return self.ty(&alts[0], &ptr(&ptr(pointer, keyword), "0"), hint);
        }
        let (idx, node, ty) = self.reserve_named(hint, "union", doc, memo_key, "union");
        let mut ns = Namespace::new();
        let mut variants = Vec::new();
        let mut nodes = Vec::new();
        for (i, alt) in alts.iter().enumerate() {
            // An inline alternative's `title` names its variant and type (`Variant1` only
            // when the schema gives no name at all).
            let title = match alt {
                ReferenceOr::Item(s) => {
                    s.schema_data.title.clone().filter(|t| !t.trim().is_empty())
                }
                ReferenceOr::Reference { .. } => None,
            };
            let t = self.ty(
                alt,
                &ptr(&ptr(pointer, keyword), &i.to_string()),
                &title
                    .clone()
                    .unwrap_or_else(|| format!("{} variant {}", ty.rust, i + 1)),
            );
            let base = if t.named.is_some() {
                t.rust.clone()
            } else {
                title.unwrap_or_else(|| format!("Variant{}", i + 1))
            };
            let name = ns.claim(&pascal_ident(&base, "Variant"));
            let inner = if t.boxed {
                format!("Box<{}>", t.rust)
            } else {
                t.rust.clone()
            };
            variants.push(Variant {
                name,
                value_lit: String::new(),
                ty: inner,
            });
            nodes.push(t.node);
        }
        self.types[idx].variants = variants;
        self.nodes[node].variants = nodes;
        ty
    }

    /// A contract `default` made to fit its schema's type: `"12345"` for an integer becomes
    /// `12345` (regression: oas-examples schema-validation.yaml declares numbers as strings).
    /// A default that cannot fit is dropped with a warning, since the validator inserts
    /// defaults into requests as they are.
    pub fn fit_default(&mut self, node: usize, d: Value, pointer: &str) -> Option<Value> {
        let kind = self.nodes[node].kind;
        let fitted = self.fit(node, &d);
        if fitted.is_none() && !d.is_null() {
            self.diag(
                Severity::Warning,
                &ptr(pointer, "default"),
                format!("default {d} does not fit the schema ({kind}); it is not applied"),
                "make the default a value of the schema's type",
            );
        }
        fitted
    }

    /// `d` as a value of node `node`'s type, where it can be read as one; `None` otherwise.
    pub(crate) fn fit(&self, node: usize, d: &Value) -> Option<Value> {
        let kind = self.nodes[node].kind;
        let fitted = match (kind, d) {
            ("integer", Value::Number(n)) if n.is_i64() || n.is_u64() => Some(d.clone()),
            ("integer", Value::String(s)) => s.trim().parse::<i64>().ok().map(Value::from),
            ("number", Value::Number(_)) => Some(d.clone()),
            ("number", Value::String(s)) => s
                .trim()
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number),
            ("boolean", Value::Bool(_)) => Some(d.clone()),
            ("boolean", Value::String(s)) => match s.as_str() {
                "true" => Some(Value::Bool(true)),
                "false" => Some(Value::Bool(false)),
                _ => None,
            },
            ("string", Value::String(_)) => Some(d.clone()),
            ("string", Value::Number(_) | Value::Bool(_)) => Some(Value::String(d.to_string())),
            ("string" | "integer" | "number" | "boolean", Value::Null) => None,
            ("string" | "integer" | "number" | "boolean", _) => None,
            ("array", Value::Null) => None,
            ("array", _) => {
                let items: Vec<Value> = match d {
                    Value::Array(items) => items.clone(),
                    // An array parameter's default written as it travels in a query
                    // (soundcloud's `access`: "playable,preview"): a form-style list.
                    Value::String(text) => text
                        .split(',')
                        .map(|item| Value::String(item.trim().to_string()))
                        .collect(),
                    one => vec![one.clone()],
                };
                match self.nodes[node].items {
                    Some(item) => items
                        .iter()
                        .map(|v| self.fit(item, v))
                        .collect::<Option<Vec<_>>>()
                        .map(Value::Array),
                    None => Some(Value::Array(items)),
                }
            }
            _ => Some(d.clone()),
        };
        let allowed = &self.nodes[node].enum_values;
        fitted.filter(|v| allowed.is_empty() || allowed.contains(v))
    }

    /// Renders node `i` as the literal-carrying `SchemaNode` the templates print: its rule
    /// is the Rust field initialisers that differ from the rule's `ANY` value.
    pub fn to_schema_node(&self, i: usize) -> SchemaNode {
        let n = &self.nodes[i];
        let mut rule = String::new();
        let mut set = |field: &str, value: Option<String>| {
            if let Some(v) = value {
                rule.push_str(&format!("{field}: {v}, "));
            }
        };
        let enum_values = || {
            let values: Vec<String> = n
                .enum_values
                .iter()
                .map(|v| rust_str(&v.to_string()))
                .collect();
            (!values.is_empty()).then(|| format!("&[{}]", values.join(", ")))
        };
        let yes = |b: bool| b.then(|| "true".to_string());
        match n.kind {
            "string" => {
                set("min_length", n.min_length.map(|v| format!("Some({v})")));
                set("max_length", n.max_length.map(|v| format!("Some({v})")));
                set(
                    "pattern",
                    n.pattern.as_ref().map(|p| format!("Some({})", rust_str(p))),
                );
                set(
                    "format",
                    n.format.map(|f| {
                        let v = match f {
                            "uuid" => "Uuid",
                            "email" => "Email",
                            "uri" => "Uri",
                            "date-time" => "DateTime",
                            "date" => "Date",
                            "ipv4" => "Ipv4",
                            _ => "Ipv6",
                        };
                        format!("Some(Format::{v})")
                    }),
                );
                set("enum_values", enum_values());
                set("trim", yes(n.trim));
                set("lowercase", yes(n.lowercase));
                set("allow_control", yes(n.allow_control));
            }
            "integer" | "number" => {
                set("minimum", n.minimum.map(|v| format!("Some({v:?})")));
                set("maximum", n.maximum.map(|v| format!("Some({v:?})")));
                set("exclusive_minimum", yes(n.exclusive_minimum));
                set("exclusive_maximum", yes(n.exclusive_maximum));
                set("multiple_of", n.multiple_of.map(|v| format!("Some({v:?})")));
                set("enum_values", enum_values());
            }
            "array" => {
                set("min_items", n.min_items.map(|v| format!("Some({v})")));
                set("max_items", n.max_items.map(|v| format!("Some({v})")));
                set("unique_items", yes(n.unique_items));
            }
            _ => {}
        }
        SchemaNode {
            ident: n.ident.clone(),
            kind: n.kind.to_string(),
            nullable: n.nullable,
            rule,
            items: n
                .items
                .map(|i| self.nodes[i].ident.clone())
                .unwrap_or_default(),
            properties: n
                .properties
                .iter()
                .map(|p| PropNode {
                    name_lit: rust_str(&p.name),
                    schema: self.nodes[p.node].ident.clone(),
                    required: p.required,
                    read_only: p.read_only,
                    write_only: p.write_only,
                    default: p
                        .default
                        .as_ref()
                        .map_or(String::new(), |d| rust_str(&d.to_string())),
                })
                .collect(),
            additional: match n.additional {
                Additional::Deny => "Additional::Deny".into(),
                Additional::Allow => "Additional::Allow".into(),
                Additional::Schema(s) => format!("Additional::Schema(&{})", self.nodes[s].ident),
            },
            variants: n
                .variants
                .iter()
                .map(|v| self.nodes[*v].ident.clone())
                .collect(),
        }
    }

    /// A value valid for node `i` in input (read-only properties left out), or `None` when
    /// apigen cannot make one (a pattern it cannot satisfy, a required cycle).
    pub fn sample(&self, i: usize, variant: u64, depth: usize) -> Option<Value> {
        let n = &self.nodes[i];
        if depth > 8 {
            return None;
        }
        if let Some(ex) = &n.example {
            if variant == 0 && self.valid_example(i, ex) {
                return Some(ex.clone());
            }
        }
        if let Some(first) = n
            .enum_values
            .get((variant as usize) % n.enum_values.len().max(1))
        {
            return Some(first.clone());
        }
        Some(match n.kind {
            "string" => Value::String(self.sample_string(n, variant)?),
            "integer" | "number" => {
                let lo = n
                    .minimum
                    .map(|m| if n.exclusive_minimum { m + 1.0 } else { m })
                    .unwrap_or(1.0);
                let hi = n
                    .maximum
                    .map(|m| if n.exclusive_maximum { m - 1.0 } else { m });
                let mut v = lo.max(if n.minimum.is_none() { 1.0 } else { lo }) + variant as f64;
                if let Some(h) = hi {
                    if v > h {
                        v = lo;
                    }
                }
                if let Some(m) = n.multiple_of {
                    if m > 0.0 {
                        v = (v / m).ceil() * m;
                    }
                }
                if n.kind == "integer" {
                    Value::from(v.round() as i64)
                } else {
                    serde_json::Number::from_f64(v).map(Value::Number)?
                }
            }
            "boolean" => Value::Bool(variant % 2 == 0),
            "array" => {
                let count = n.min_items.unwrap_or(1).max(1);
                let item = n.items?;
                let mut out = Vec::new();
                for k in 0..count {
                    out.push(self.sample(item, variant + k, depth + 1)?);
                }
                Value::Array(out)
            }
            "object" => {
                let mut m = serde_json::Map::new();
                for p in &n.properties {
                    if p.read_only {
                        continue;
                    }
                    if p.required || depth == 0 {
                        match self.sample(p.node, variant, depth + 1) {
                            Some(v) => {
                                m.insert(p.name.clone(), v);
                            }
                            None if p.required => return None,
                            None => {}
                        }
                    }
                }
                Value::Object(m)
            }
            "union" => {
                return n
                    .variants
                    .first()
                    .and_then(|v| self.sample(*v, variant, depth + 1))
            }
            _ => Value::String(format!("value-{variant}")),
        })
    }

    fn valid_example(&self, i: usize, ex: &Value) -> bool {
        let n = &self.nodes[i];
        // Regression (GitHub's spec): an example outside the enum is not a valid sample.
        if !n.enum_values.is_empty() && !n.enum_values.contains(ex) {
            return false;
        }
        match (n.kind, ex) {
            ("string", Value::String(s)) => {
                let len = s.chars().count() as u64;
                n.min_length.is_none_or(|m| len >= m)
                    && n.max_length.is_none_or(|m| len <= m)
                    && n.pattern
                        .as_ref()
                        .is_none_or(|p| PatternMatcher::new(p).is_some_and(|m| m.is_match(s)))
                    && n.format.is_none()
            }
            ("integer", Value::Number(x)) => {
                x.is_i64()
                    && n.minimum.is_none_or(|m| x.as_f64().unwrap_or(0.0) > m)
                    && n.maximum.is_none_or(|m| x.as_f64().unwrap_or(0.0) < m)
            }
            ("boolean", Value::Bool(_)) => true,
            _ => false,
        }
    }

    fn sample_string(&self, n: &Node, variant: u64) -> Option<String> {
        let base = match n.format {
            Some("uuid") => format!("00000000-0000-4000-8000-{:012}", variant + 1),
            Some("email") => format!("user{variant}@example.com"),
            Some("uri") => format!("https://example.com/{variant}"),
            Some("date-time") => format!("2024-01-{:02}T10:00:00Z", variant % 28 + 1),
            Some("date") => format!("2024-01-{:02}", variant % 28 + 1),
            Some("ipv4") => format!("192.0.2.{}", variant % 250 + 1),
            Some("ipv6") => "2001:db8::1".into(),
            _ => {
                if let Some(p) = &n.pattern {
                    return sample_pattern(p, n.min_length, n.max_length, variant);
                }
                let min = n.min_length.unwrap_or(1).max(1) as usize;
                let max = n.max_length.map(|m| m as usize).unwrap_or(usize::MAX);
                let mut s = format!("sample-{variant}");
                while s.chars().count() < min {
                    s.push('x');
                }
                if s.chars().count() > max {
                    // Keep the variant distinct in the last characters.
                    let tail = variant.to_string();
                    let keep = max.saturating_sub(tail.len());
                    s = "s".repeat(keep) + &tail;
                    s = s
                        .chars()
                        .rev()
                        .take(max)
                        .collect::<Vec<_>>()
                        .into_iter()
                        .rev()
                        .collect();
                }
                s
            }
        };
        Some(base)
    }
}

/// Whether a contract's `pattern` compiles in one of the generated service's regex
/// engines: `regex-lite` (preferred: ASCII `\d` and `\w` as in ECMA-262 without the `u`
/// flag, and a fraction of the build time) or `regex` (needed for Unicode classes such as
/// `\p{L}`). Neither supports look-around or back-references.
pub fn pattern_compiles(pattern: &str) -> bool {
    PatternMatcher::new(pattern).is_some()
}

/// Whether a generated service needs the full `regex` crate: some pattern compiles only
/// there. Then every pattern of the service runs in `regex`.
pub fn needs_full_regex<'p>(mut patterns: impl Iterator<Item = &'p str>) -> bool {
    patterns.any(|p| PatternMatcher::new(p).is_some_and(|m| m.lite.is_none()))
}

/// A pattern compiled in every engine that accepts it. A string matches when it matches in
/// each, so a sample or an example is valid whichever engine the service ends up with
/// (they differ on Unicode digits and word characters).
struct PatternMatcher {
    lite: Option<regex_lite::Regex>,
    full: Option<regex::Regex>,
}

impl PatternMatcher {
    /// `None` when neither engine compiles `pattern`.
    fn new(pattern: &str) -> Option<Self> {
        let lite = regex_lite::Regex::new(pattern).ok();
        let full = regex::Regex::new(pattern).ok();
        (lite.is_some() || full.is_some()).then_some(PatternMatcher { lite, full })
    }

    fn is_match(&self, s: &str) -> bool {
        self.lite.as_ref().is_none_or(|r| r.is_match(s))
            && self.full.as_ref().is_none_or(|r| r.is_match(s))
    }
}

/// A string matching `pattern` and the length bounds, made deterministically from
/// `variant`; `None` when none is found.
pub fn sample_pattern(
    pattern: &str,
    min: Option<u64>,
    max: Option<u64>,
    variant: u64,
) -> Option<String> {
    use rand::distr::Distribution;
    use rand::SeedableRng;
    let matcher = PatternMatcher::new(pattern)?;
    // The generator knows no anchors; OpenAPI patterns are usually `^…$` around the whole,
    // which a generated string meets anyway (the matcher still checks the pattern as given).
    let unanchored = pattern.strip_prefix('^').unwrap_or(pattern);
    let unanchored = match unanchored.strip_suffix('$') {
        Some(rest) if !rest.ends_with('\\') || rest.ends_with("\\\\") => rest,
        _ => unanchored,
    };
    let gen = rand_regex::Regex::compile(unanchored, 12).ok()?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0x5eed + variant);
    for _ in 0..200 {
        let s: String = gen.sample(&mut rng);
        let len = s.chars().count() as u64;
        if matcher.is_match(&s)
            && min.is_none_or(|m| len >= m)
            && max.is_none_or(|m| len <= m)
            && !s.trim().is_empty()
            && s.trim() == s
        {
            return Some(s);
        }
    }
    None
}

/// The properties of the schema at `pointer`, each with its own pointer.
fn props_at(
    properties: &IndexMap<String, ReferenceOr<Box<Schema>>>,
    pointer: &str,
) -> Vec<(String, ReferenceOr<Schema>, String)> {
    let base = ptr(pointer, "properties");
    properties
        .iter()
        .map(|(k, v)| (k.clone(), unbox(v), ptr(&base, k)))
        .collect()
}

pub(crate) fn unbox(s: &ReferenceOr<Box<Schema>>) -> ReferenceOr<Schema> {
    match s {
        ReferenceOr::Reference { reference } => ReferenceOr::Reference {
            reference: reference.clone(),
        },
        ReferenceOr::Item(b) => ReferenceOr::Item(b.as_ref().clone()),
    }
}

#[cfg(test)]
mod sample_tests {
    #[test]
    fn anchored_patterns_are_sampled() {
        for p in ["^[0-9-]{10,17}$", "^[A-Z]{2,5}$", "[a-z]+", "^ab$", "^a\\$"] {
            let s = super::sample_pattern(p, None, None, 0);
            assert!(s.is_some(), "{p}");
        }
        assert_eq!(
            super::sample_pattern("^a\\$", None, None, 0).as_deref(),
            Some("a$")
        );
    }
}
