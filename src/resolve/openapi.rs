//! Resolves an OpenAPI 3.0 document (3.1 arrives normalised) into the `Model`.
//!
//! Owns grouping paths into resources, mapping operations to CRUD kinds, choosing the
//! entity schema stored in a table, parameters, bodies, success responses, axum routes
//! and the data the generated tests use. Types come from `types::TypeBuilder`.
//! **Invariant:** an operation apigen cannot serve in full still gets a handler that
//! compiles and answers 501, plus a diagnostic naming the construct and its location.

use super::names::{doc_line, pascal_ident, rust_str, snake_ident, Namespace};
use super::security::SecurityResolver;
use super::types::{Additional, Node, Prop, Sql, Ty, TypeBuilder};
use crate::diag::{ptr, Diagnostic, Severity};
use crate::model::*;
use heck::ToSnakeCase;
use indexmap::IndexMap;
use openapiv3::{
    MediaType, OpenAPI, Operation as OaOperation, Parameter, ParameterSchemaOrContent, PathItem,
    ReferenceOr, RequestBody, Response, Schema, StatusCode,
};
use serde_json::Value;

/// Upper bound on rows a list returns in one page, whatever the client asks.
pub const MAX_PAGE: i64 = 100;

/// An operation's success response: status, JSON schema (if any), the pointer of that
/// schema (or of the response), and its non-JSON media types.
type Success = (u16, Option<ReferenceOr<Schema>>, String, Vec<String>);

struct RawOp {
    path: String,
    method: &'static str,
    op: OaOperation,
    pointer: String,
    shared_params: Vec<ReferenceOr<Parameter>>,
}

/// Where an operation sits: the collection path of its group and whether it is on an item.
struct Placement {
    collection: String,
    item: bool,
    module_hint: String,
}

fn placement(path: &str) -> Placement {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let is_param = |s: &str| s.starts_with('{') && s.ends_with('}');
    let last_static = |segs: &[&str]| {
        segs.iter()
            .rev()
            .find(|s| !is_param(s))
            .map(|s| s.to_string())
            .unwrap_or_else(|| "root".into())
    };
    match segs.last() {
        Some(l) if is_param(l) && segs.len() >= 2 && !is_param(segs[segs.len() - 2]) => {
            let coll = format!("/{}", segs[..segs.len() - 1].join("/"));
            Placement {
                collection: coll,
                item: true,
                module_hint: segs[segs.len() - 2].to_string(),
            }
        }
        Some(_) => Placement {
            collection: path.to_string(),
            item: false,
            module_hint: last_static(&segs),
        },
        None => Placement {
            collection: "/".into(),
            item: false,
            module_hint: "root".into(),
        },
    }
}

/// `doc` as `openapiv3` types, read from the borrowed value (a large document is not copied).
///
/// Security schemes are read from the raw document (`security::SecurityResolver`), so a
/// scheme type `openapiv3` does not know (3.1 `mutualTLS`) must not make the document
/// unreadable: when that is what fails, the document is read again without them.
fn typed_document(doc: &Value) -> Result<OpenAPI, serde_path_to_error::Error<serde_json::Error>> {
    match serde_path_to_error::deserialize(doc) {
        Err(e) if in_security_schemes(e.path()) => {
            let mut copy = doc.clone();
            if let Some(c) = copy.get_mut("components").and_then(Value::as_object_mut) {
                c.remove("securitySchemes");
            }
            serde_path_to_error::deserialize(copy)
        }
        other => other,
    }
}

fn in_security_schemes(path: &serde_path_to_error::Path) -> bool {
    let mut segs = path.iter();
    matches!(
        (segs.next(), segs.next()),
        (
            Some(serde_path_to_error::Segment::Map { key: a }),
            Some(serde_path_to_error::Segment::Map { key: b })
        ) if a == "components" && b == "securitySchemes"
    )
}

/// Resolves `doc` (normalised 3.0) into a model; `served` is the document the service
/// serves. Returns error diagnostics when the document cannot be read as OpenAPI.
#[allow(clippy::too_many_arguments)]
pub fn resolve_document(
    file: &str,
    doc: &Value,
    served: &Value,
    envelope: bool,
    database: Database,
    package: Option<String>,
    is_domain: bool,
) -> Result<Model, Vec<Diagnostic>> {
    let missing = crate::timing::stage("missing", || missing_responses(file, doc));
    if !missing.is_empty() {
        return Err(missing);
    }
    let api: OpenAPI = match crate::timing::stage("openapiv3", || typed_document(doc)) {
        Ok(a) => a,
        Err(e) => {
            let pointer = e.path().iter().fold(String::new(), |acc, seg| match seg {
                serde_path_to_error::Segment::Seq { index } => ptr(&acc, &index.to_string()),
                serde_path_to_error::Segment::Map { key } => ptr(&acc, key),
                serde_path_to_error::Segment::Enum { variant } => ptr(&acc, variant),
                serde_path_to_error::Segment::Unknown => acc,
            });
            return Err(vec![Diagnostic::new(
                Severity::Error,
                file,
                pointer,
                format!("not a valid OpenAPI 3 document: {}", e.inner()),
            )
            .hint(
                "fix the value at that location; apigen follows OpenAPI 3.0.3 and 3.1.0",
            )]);
        }
    };
    let mut r = Resolver {
        file: file.to_string(),
        raw: doc,
        tb: TypeBuilder::new(file, doc),
        envelope,
        database,
        diags: Vec::new(),
        sec: Some(SecurityResolver::new(file, doc)),
        unserved_media: Vec::new(),
    };
    let model = crate::timing::stage("model", || r.run(&api, served, package, is_domain));
    let mut diags = r.diags;
    diags.extend(r.tb.diags);
    if diags.iter().any(Diagnostic::is_error) {
        return Err(diags);
    }
    let mut model = model;
    model.diagnostics = diags;
    Ok(model)
}

struct Resolver<'a> {
    file: String,
    raw: &'a Value,
    tb: TypeBuilder<'a>,
    envelope: bool,
    database: Database,
    diags: Vec<Diagnostic>,
    /// Taken by `run` when it builds the model's `Security`.
    sec: Option<SecurityResolver>,
    /// Request media types the service does not read (they answer 415), as (pointer of
    /// the `content` map, media type): left out of the served document so it describes
    /// what the service does. Each comes with an info diagnostic.
    unserved_media: Vec<(String, String)>,
}

/// An entity chosen for a group, before columns are built.
struct EntityChoice {
    ty: Ty,
    key_prop: usize,
}

impl<'a> Resolver<'a> {
    fn diag(&mut self, sev: Severity, pointer: &str, msg: impl Into<String>, hint: &str) {
        let d = Diagnostic::new(sev, &self.file, pointer, msg);
        self.diags
            .push(if hint.is_empty() { d } else { d.hint(hint) });
    }

    fn deref_value(&mut self, reference: &str, pointer: &str) -> Option<Value> {
        let target = crate::diag::fragment_pointer(reference);
        match target.and_then(|t| self.raw.pointer(&t)) {
            Some(v) => Some(v.clone()),
            None => {
                self.diag(
                    Severity::Error,
                    pointer,
                    format!("$ref `{reference}` cannot be resolved"),
                    "only local references (`#/components/…`) are supported; check the spelling",
                );
                None
            }
        }
    }

    fn deref<T: serde::de::DeserializeOwned + Clone>(
        &mut self,
        r: &ReferenceOr<T>,
        pointer: &str,
    ) -> Option<(T, String)> {
        match r {
            ReferenceOr::Item(t) => Some((t.clone(), pointer.to_string())),
            ReferenceOr::Reference { reference } => {
                let mut reference = reference.clone();
                for _ in 0..16 {
                    let v = self.deref_value(&reference, pointer)?;
                    let target = crate::diag::fragment_pointer(&reference).unwrap_or_default();
                    match serde_json::from_value::<ReferenceOr<T>>(v) {
                        Ok(ReferenceOr::Item(t)) => return Some((t, target)),
                        Ok(ReferenceOr::Reference { reference: next }) => reference = next,
                        Err(e) => {
                            self.diag(
                                Severity::Error,
                                &target,
                                format!("invalid object: {e}"),
                                "fix the referenced component",
                            );
                            return None;
                        }
                    }
                }
                self.diag(
                    Severity::Error,
                    pointer,
                    "reference chain too long or cyclic",
                    "point the $ref at the object itself",
                );
                None
            }
        }
    }

    fn run(
        &mut self,
        api: &OpenAPI,
        served: &Value,
        package: Option<String>,
        is_domain: bool,
    ) -> Model {
        let title = api.info.title.clone();
        let package = package.unwrap_or_else(|| {
            let p = snake_ident(&title, "service");
            let p: String = p.chars().take(40).collect();
            p.trim_end_matches('_').to_string()
        });
        // 1. Collect operations in document order.
        let mut raw_ops = Vec::new();
        for (path, item) in api.paths.paths.iter() {
            let pptr = ptr("/paths", path);
            let Some((item, _)) = self.deref::<PathItem>(item, &pptr) else {
                continue;
            };
            if path.contains('#') || path.contains('?') {
                self.diag(
                    Severity::Warning,
                    &pptr,
                    format!("path `{path}` contains `#` or `?`, which never reach a server as part of the path; its operations are not served"),
                    "give each operation its own path, or one path with a parameter",
                );
                continue;
            }
            if !path.starts_with('/') {
                self.diag(
                    Severity::Warning,
                    &pptr,
                    format!("path `{path}` does not start with `/`; it is skipped"),
                    "paths must start with `/` (OpenAPI 3.0.3 §4.7.8)",
                );
                continue;
            }
            let methods: [(&'static str, &Option<OaOperation>); 8] = [
                ("get", &item.get),
                ("put", &item.put),
                ("post", &item.post),
                ("delete", &item.delete),
                ("options", &item.options),
                ("head", &item.head),
                ("patch", &item.patch),
                ("trace", &item.trace),
            ];
            for (m, op) in methods {
                if let Some(op) = op {
                    raw_ops.push(RawOp {
                        path: path.clone(),
                        method: m,
                        op: op.clone(),
                        pointer: ptr(&pptr, m),
                        shared_params: item.parameters.clone(),
                    });
                }
            }
        }
        // 2. Group by collection path; nested lists of the same entity join their group later.
        let mut groups: IndexMap<String, Vec<usize>> = IndexMap::new();
        let mut hints: IndexMap<String, String> = IndexMap::new();
        for (i, o) in raw_ops.iter().enumerate() {
            let p = placement(&o.path);
            hints.entry(p.collection.clone()).or_insert(p.module_hint);
            groups.entry(p.collection).or_default().push(i);
        }
        let routes_map = canonical_routes(raw_ops.iter().map(|o| o.path.as_str()));
        let mut modules = Namespace::new();
        // Names a resource module may not take: the test harness's modules, and the layers'
        // own names (`services::services` trips clippy's module_inception).
        for reserved in [
            "mod",
            "common",
            "ops",
            "access",
            "accounts",
            "main",
            "health",
            "docs",
            "metrics",
            "support",
            "routes",
            "services",
            "repositories",
        ] {
            modules.reserve(reserved);
        }
        let mut funcs = Namespace::new();
        let mut resources = Vec::new();
        let mut seen_routes: IndexMap<(String, String), String> = IndexMap::new();
        // Choose each group's entity, then fold groups into their owner: a group whose
        // entity is another group's joins it (nested lists), and a group without a table
        // under another group's item path joins it as actions (`/books/{id}/publish`).
        let mut chosen: Vec<(String, Vec<usize>, Option<EntityChoice>)> = Vec::new();
        // Indexes of `chosen`: by entity type, and by collection path for groups with a table.
        let mut by_entity: std::collections::HashMap<String, usize> =
            std::collections::HashMap::new();
        let mut by_collection: std::collections::HashMap<String, usize> =
            std::collections::HashMap::new();
        for (coll, idxs) in &groups {
            let entity = self.choose_entity(coll, idxs.iter().map(|i| &raw_ops[*i]).collect());
            let owner = match &entity {
                Some(a) => by_entity.get(&a.ty.rust).copied(),
                // The earliest table-backed collection whose item path this path extends.
                None => coll
                    .match_indices("/{")
                    .filter_map(|(i, _)| by_collection.get(&coll[..i]).copied())
                    .min(),
            };
            if owner.is_none() {
                if let Some(a) = &entity {
                    by_entity.insert(a.ty.rust.clone(), chosen.len());
                    by_collection.insert(coll.clone(), chosen.len());
                }
            }
            match owner {
                Some(i) => chosen[i].1.extend(idxs.iter().copied()),
                None => chosen.push((coll.clone(), idxs.clone(), entity)),
            }
        }
        for (coll, idxs, entity) in &chosen {
            let hint = hints.get(coll).cloned().unwrap_or_default();
            let module = modules.claim(&snake_ident(&hint, "root"));
            let mut ops = Vec::new();
            let mut raw_of = Vec::new();
            for &i in idxs {
                let o = &raw_ops[i];
                let route = routes_map
                    .get(&o.path)
                    .cloned()
                    .unwrap_or_else(|| o.path.clone());
                if let Some(prev) = seen_routes.get(&(route.clone(), o.method.to_string())) {
                    self.diag(Severity::Warning, &o.pointer, format!("`{} {}` is the same route as `{prev}`; it is skipped", o.method.to_uppercase(), o.path), "two paths that differ only in parameter names are the same path (OpenAPI 3.0.3 §4.7.8)");
                    continue;
                }
                seen_routes.insert((route.clone(), o.method.to_string()), o.path.clone());
                let p = placement(&o.path);
                // Operations folded in from a sub-path are actions, whatever their method.
                let foreign = p.collection != *coll
                    && entity.as_ref().is_none_or(|_| o.method != "get" || p.item);
                let op = self.operation(o, &route, p.item, entity.as_ref(), &mut funcs, foreign);
                ops.push(op);
                raw_of.push(i);
            }
            let entity_model = entity.as_ref().map(|e| self.entity(e, &module));
            let owned = entity_model
                .as_ref()
                .is_some_and(|e| !e.owner_column.is_empty());
            for (op, &i) in ops.iter_mut().zip(&raw_of) {
                let o = &raw_ops[i];
                let raw = serde_json::to_value(&o.op).unwrap_or(Value::Null);
                let url = self.sample_url(op);
                let declared: Vec<String> = op
                    .query_params
                    .iter()
                    .filter_map(|p| serde_json::from_str::<String>(&p.name_lit).ok())
                    .collect();
                let sec = self
                    .sec
                    .as_mut()
                    .expect("security resolver present until run ends");
                let (guard, owner, access) = sec.operation(
                    &raw,
                    &o.pointer,
                    &op.operation_id,
                    &op.func,
                    &op.method,
                    &op.route,
                    url,
                    owned && op.implemented,
                    &declared,
                );
                op.guard = guard;
                op.owner = owner;
                op.access = access;
                if owned {
                    op.owner_expr = if owner {
                        "caller.owner_filter()".into()
                    } else {
                        "None".into()
                    };
                }
                op.caller_used = op.implemented && (owner || (owned && op.kind == "create"));
            }
            let mut res = Resource {
                module,
                label: hint.replace(['_', '-'], " "),
                entity: entity_model,
                operations: ops,
                tests: ResourceTests::default(),
            };
            self.finish_operations(&mut res);
            self.finalize(&mut res, entity.as_ref());
            res.tests = self.tests(&res, entity.as_ref());
            resources.push(res);
        }
        link_prereqs(&mut resources);
        // 3. Routes, grouped by axum path.
        let mut routes: IndexMap<String, Vec<RouteHandler>> = IndexMap::new();
        for r in &resources {
            for o in &r.operations {
                routes
                    .entry(o.route.clone())
                    .or_default()
                    .push(RouteHandler {
                        method: o.method.clone(),
                        module: r.module.clone(),
                        func: o.func.clone(),
                        guard: o.guard.clone(),
                    });
            }
        }
        let routes = routes
            .into_iter()
            .map(|(path, handlers)| Route { path, handlers })
            .collect();
        // 4. Types and schema nodes.
        let schemas = (0..self.tb.nodes.len())
            .map(|i| self.tb.to_schema_node(i))
            .collect();
        let mut types = self.tb.types.clone();
        for r in &resources {
            if let Some(e) = &r.entity {
                for c in &e.columns {
                    let bare = c.row_ty.replace("crate::models::", "");
                    let inner = bare
                        .strip_prefix("Option<")
                        .and_then(|s| s.strip_suffix('>'))
                        .unwrap_or(&bare);
                    if let Some(i) = self.tb.type_of(inner).filter(|&i| types[i].kind == "enum") {
                        types[i].sql_text = true;
                    }
                }
            }
        }
        let tables = table_order(&resources);
        let body_probe = resources
            .iter()
            .find(|r| r.tests.has_create && !r.tests.collection_url.is_empty())
            .map(|r| ("POST".to_string(), r.tests.collection_url.clone()))
            .or_else(|| {
                resources
                    .iter()
                    .flat_map(|r| r.tests.stubs.iter())
                    .find(|s| s.json_body && !s.body.is_empty() && s.method != "GET")
                    .map(|s| (s.method.clone(), s.url.clone()))
            });
        let paths: Vec<String> = api.paths.paths.keys().cloned().collect();
        let base = self
            .raw
            .get("x-apigen-base-path")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let sec = self.sec.take().expect("security resolver present");
        self.diags.extend(sec.diags.iter().cloned());
        let security = sec.finish(&paths, &base);
        let list_wrappers = resources
            .iter()
            .flat_map(|r| r.operations.iter())
            .any(|o| !o.list_wrapper.is_empty());
        let errors = if is_domain || self.envelope {
            super::errors::apigen_format(self.envelope)
        } else {
            super::errors::contract_format(api, &mut self.tb)
        };
        let mut openapi_json = if self.unserved_media.is_empty() {
            serde_json::to_string_pretty(served)
        } else {
            let mut doc = served.clone();
            for (at, media) in &self.unserved_media {
                if let Some(m) = doc.pointer_mut(at).and_then(Value::as_object_mut) {
                    m.shift_remove(media);
                }
            }
            serde_json::to_string_pretty(&doc)
        }
        .unwrap_or_default();
        openapi_json.push('\n');
        Model {
            package,
            title,
            api_version: api.info.version.clone(),
            generator_version: env!("CARGO_PKG_VERSION").to_string(),
            contract_file: String::new(),
            source_kind: if is_domain {
                "domain".into()
            } else {
                "openapi".into()
            },
            database: self.database,
            envelope: self.envelope,
            types,
            schemas,
            resources,
            routes,
            openapi_json,
            tables,
            body_probe,
            security,
            errors,
            list_wrappers,
            regex_crate: if super::types::needs_full_regex(
                self.tb.nodes.iter().filter_map(|n| n.pattern.as_deref()),
            ) {
                "regex".into()
            } else {
                "regex-lite".into()
            },
            diagnostics: vec![],
        }
    }

    /// The JSON media type of a content map (`application/json`, `*+json`, `*/*`).
    fn json_media(content: &IndexMap<String, MediaType>) -> Option<(&String, &MediaType)> {
        content
            .iter()
            .find(|(k, _)| {
                k.split(';')
                    .next()
                    .is_some_and(|t| t.trim() == "application/json")
            })
            .or_else(|| {
                content.iter().find(|(k, _)| {
                    k.contains("+json") || k.as_str() == "*/*" || k.as_str() == "application/*"
                })
            })
    }

    /// The success response of an operation: (status, JSON schema if any, pointer, non-JSON content types).
    fn success(&mut self, o: &RawOp) -> Option<Success> {
        let mut best: Option<(u16, &ReferenceOr<Response>, String)> = None;
        for (code, resp) in o.op.responses.responses.iter() {
            let (n, key) = match code {
                StatusCode::Code(n) => (*n, n.to_string()),
                StatusCode::Range(r) => (*r * 100, format!("{r}XX")),
            };
            if (200..300).contains(&n) && best.as_ref().is_none_or(|b| n < b.0) {
                best = Some((n, resp, ptr(&ptr(&o.pointer, "responses"), &key)));
            }
        }
        let (code, resp, rptr) = best?;
        let resp = resp.clone();
        let (resp, rptr) = self.deref::<Response>(&resp, &rptr)?;
        let json = Self::json_media(&resp.content)
            .and_then(|(k, m)| m.schema.clone().map(|s| (k.clone(), s)));
        let others: Vec<String> = resp.content.keys().cloned().collect();
        match json {
            Some((k, s)) => Some((
                code,
                Some(s),
                ptr(&ptr(&ptr(&rptr, "content"), &k), "schema"),
                vec![],
            )),
            None => Some((code, None, rptr, others)),
        }
    }

    /// Strips the `{data, meta, error}` envelope when the document declares one.
    fn payload(&mut self, s: ReferenceOr<Schema>, pointer: &str) -> (ReferenceOr<Schema>, String) {
        if !self.envelope {
            return (s, pointer.to_string());
        }
        let schema = match &s {
            ReferenceOr::Item(x) => Some((x.clone(), pointer.to_string())),
            ReferenceOr::Reference { reference } => self
                .tb
                .deref_schema(reference, pointer)
                .map(|(t, s)| (s, t)),
        };
        if let Some((schema, base)) = schema {
            if let openapiv3::SchemaKind::Type(openapiv3::Type::Object(o)) = &schema.schema_kind {
                if let Some(d) = o.properties.get("data") {
                    let d = match d {
                        ReferenceOr::Reference { reference } => ReferenceOr::Reference {
                            reference: reference.clone(),
                        },
                        ReferenceOr::Item(b) => ReferenceOr::Item(b.as_ref().clone()),
                    };
                    return (d, ptr(&ptr(&base, "properties"), "data"));
                }
            }
        }
        (s, pointer.to_string())
    }

    /// A response schema that decorates one named schema: `allOf: [{$ref: X}, {…}]` whose
    /// other parts only add optional properties (hypermedia `links`, say; train-travel's
    /// responses are built this way). Every body of `X` conforms to it (JSON Schema allOf),
    /// so a CRUD operation can answer with `X` itself. Returns the `$ref` part and its
    /// pointer; `None` for anything else (a part with `required`, two references, …).
    fn decorated_ref(
        s: &ReferenceOr<Schema>,
        pointer: &str,
    ) -> Option<(ReferenceOr<Schema>, String)> {
        let ReferenceOr::Item(schema) = s else {
            return None;
        };
        let parts = match &schema.schema_kind {
            openapiv3::SchemaKind::AllOf { all_of } => all_of,
            openapiv3::SchemaKind::Any(a)
                if !a.all_of.is_empty() && a.properties.is_empty() && a.required.is_empty() =>
            {
                &a.all_of
            }
            _ => return None,
        };
        let adds_optional_only = |x: &Schema| match &x.schema_kind {
            openapiv3::SchemaKind::Type(openapiv3::Type::Object(o)) => o.required.is_empty(),
            openapiv3::SchemaKind::Any(a) => {
                a.required.is_empty()
                    && a.all_of.is_empty()
                    && a.one_of.is_empty()
                    && a.any_of.is_empty()
                    && a.typ.as_deref().is_none_or(|t| t == "object")
            }
            _ => false,
        };
        let mut found = None;
        for (i, part) in parts.iter().enumerate() {
            match part {
                ReferenceOr::Reference { .. } if found.is_none() => {
                    found = Some((part.clone(), ptr(&ptr(pointer, "allOf"), &i.to_string())))
                }
                ReferenceOr::Item(x) if adds_optional_only(x) => {}
                _ => return None,
            }
        }
        found
    }

    /// A list response wrapped in an object: exactly one array property (`data`, `items`,
    /// …) beside optional ones only (`links`, `meta`), collected through `$ref` and allOf.
    /// Returns the property's name, its array schema and pointer. `None` when the schema is
    /// not such an object (a bare array, or a wrapper with other required members, which
    /// apigen cannot fill).
    fn list_wrapper(
        &mut self,
        s: &ReferenceOr<Schema>,
        pointer: &str,
    ) -> Option<(String, ReferenceOr<Schema>, String)> {
        let mut props = IndexMap::new();
        let mut required = Vec::new();
        let mut additional = None;
        if !self
            .tb
            .collect_object(s, pointer, &mut props, &mut required, &mut additional, 0)
        {
            return None;
        }
        let mut arrays = Vec::new();
        for (name, (ps, pp)) in &props {
            let resolved = match ps {
                ReferenceOr::Item(x) => Some(x.clone()),
                ReferenceOr::Reference { reference } => {
                    self.tb.deref_schema(reference, pp).map(|x| x.1)
                }
            };
            if let Some(openapiv3::SchemaKind::Type(openapiv3::Type::Array(_))) =
                resolved.map(|x| x.schema_kind)
            {
                arrays.push((name.clone(), ps.clone(), pp.clone()));
            }
        }
        match arrays.as_slice() {
            [(name, _, _)] if required.iter().all(|r| r == name) => arrays.pop(),
            _ => None,
        }
    }

    /// The items of an array schema (following one `$ref`), with a decorated item
    /// (`decorated_ref`) replaced by the schema it decorates.
    fn array_items(
        &mut self,
        s: &ReferenceOr<Schema>,
        pointer: &str,
    ) -> Option<(ReferenceOr<Schema>, String)> {
        let (resolved, base) = match s {
            ReferenceOr::Item(x) => (x.clone(), pointer.to_string()),
            ReferenceOr::Reference { reference } => {
                let (t, x) = self.tb.deref_schema(reference, pointer)?;
                (x, t)
            }
        };
        let openapiv3::SchemaKind::Type(openapiv3::Type::Array(a)) = resolved.schema_kind else {
            return None;
        };
        let items = super::types::unbox(a.items.as_ref()?);
        let ip = ptr(&base, "items");
        Some(Self::decorated_ref(&items, &ip).unwrap_or((items, ip)))
    }

    /// Chooses the entity schema of a group: the item GET response, else the collection
    /// GET's array items, else the create body (DESIGN.md). It must be an object with a key.
    fn choose_entity(&mut self, coll: &str, ops: Vec<&RawOp>) -> Option<EntityChoice> {
        let mut candidates: Vec<(ReferenceOr<Schema>, String, bool)> = Vec::new();
        let mut item_param = None;
        for o in &ops {
            let p = placement(&o.path);
            if o.method == "get" {
                if let Some((_, Some(s), sp, _)) = self.success(o) {
                    let (s, sp) = self.payload(s, &sp);
                    let (s, sp) = if p.item {
                        Self::decorated_ref(&s, &sp).unwrap_or((s, sp))
                    } else {
                        match self.list_wrapper(&s, &sp) {
                            Some((_, a, ap)) => (a, ap),
                            None => (s, sp),
                        }
                    };
                    if p.item {
                        item_param = o
                            .path
                            .rsplit('/')
                            .next()
                            .map(|s| s.trim_matches(['{', '}']).to_string());
                        candidates.insert(0, (s, sp, false));
                    } else {
                        candidates.push((s, sp, true));
                    }
                }
            }
        }
        // Only groups that can be read get a table; a group without a GET is actions only.
        let (schema, sp, is_array) = candidates.into_iter().next()?;
        let (schema, sp) = if is_array {
            self.array_items(&schema, &sp)?
        } else {
            (schema, sp)
        };
        // Entities must be named component schemas so every operation shares one type.
        if matches!(schema, ReferenceOr::Item(_)) {
            return None;
        }
        let ty = self.tb.ty(&schema, &sp, "entity");
        let named = ty.named?;
        if self.tb.types[named].kind != "struct" {
            return None;
        }
        let props = &self.tb.nodes[ty.node].properties;
        let key_prop = item_param
            .as_ref()
            .and_then(|p| props.iter().position(|x| &x.name == p))
            .or_else(|| props.iter().position(|x| x.name == "id"))?;
        let key = &props[key_prop];
        if !matches!(key.ty.sql, Sql::Int32 | Sql::Int64 | Sql::Uuid | Sql::Text) || key.write_only
        {
            self.diag(Severity::Info, &ptr("/paths", coll), format!("the key `{}` of `{}` is not an integer, UUID or string; the operations answer 501", key.name, ty.rust), "");
            return None;
        }
        Some(EntityChoice { ty, key_prop })
    }

    fn column_for(
        &mut self,
        p: &Prop,
        field: &StructField,
        cols: &mut Namespace,
        is_key: bool,
    ) -> Column {
        let name = cols.claim(&column_name(&p.name));
        let optional = field.ty.starts_with("Option<");
        let inner = field
            .ty
            .strip_prefix("Option<")
            .and_then(|s| s.strip_suffix('>'))
            .unwrap_or(&field.ty)
            .to_string();
        let node = &self.tb.nodes[p.node];
        let (lite, pg) = match &p.ty.sql {
            Sql::Text => ("TEXT", "TEXT"),
            Sql::Int32 => ("INTEGER", "INTEGER"),
            Sql::Int64 => ("INTEGER", "BIGINT"),
            Sql::Real => ("REAL", "DOUBLE PRECISION"),
            Sql::Bool => ("BOOLEAN", "BOOLEAN"),
            Sql::Uuid => ("BLOB", "UUID"),
            Sql::DateTime => ("TEXT", "TIMESTAMPTZ"),
            Sql::Date => ("TEXT", "DATE"),
            Sql::Enum(_) => ("TEXT", "TEXT"),
            Sql::Json => ("TEXT", "JSONB"),
        };
        let q = format!("\"{name}\"");
        let mut lite_checks = Vec::new();
        let mut pg_checks = Vec::new();
        match &p.ty.sql {
            Sql::Enum(_) | Sql::Text if !node.enum_values.is_empty() => {
                let list = node
                    .enum_values
                    .iter()
                    .filter_map(|v| v.as_str())
                    .map(|v| format!("'{}'", v.replace('\'', "''")))
                    .collect::<Vec<_>>()
                    .join(", ");
                lite_checks.push(format!("{q} IN ({list})"));
                pg_checks.push(format!("{q} IN ({list})"));
            }
            Sql::Text => {
                if let Some(m) = node.max_length {
                    lite_checks.push(format!("length({q}) <= {m}"));
                    pg_checks.push(format!("char_length({q}) <= {m}"));
                }
            }
            Sql::Int32 | Sql::Int64 | Sql::Real => {
                let num = |v: f64| {
                    if matches!(p.ty.sql, Sql::Real) {
                        format!("{v:?}")
                    } else {
                        format!("{}", v as i64)
                    }
                };
                if let Some(m) = node.minimum.filter(|m| *m > i32::MIN as f64) {
                    let op = if node.exclusive_minimum { ">" } else { ">=" };
                    lite_checks.push(format!("{q} {op} {}", num(m)));
                    pg_checks.push(format!("{q} {op} {}", num(m)));
                }
                if let Some(m) = node.maximum.filter(|m| *m < i32::MAX as f64) {
                    let op = if node.exclusive_maximum { "<" } else { "<=" };
                    lite_checks.push(format!("{q} {op} {}", num(m)));
                    pg_checks.push(format!("{q} {op} {}", num(m)));
                }
            }
            _ => {}
        }
        let (lite, pg) = if is_key && matches!(p.ty.sql, Sql::Int32 | Sql::Int64) {
            (
                "INTEGER",
                if p.ty.sql == Sql::Int32 {
                    "INTEGER GENERATED BY DEFAULT AS IDENTITY"
                } else {
                    "BIGINT GENERATED BY DEFAULT AS IDENTITY"
                },
            )
        } else {
            (lite, pg)
        };
        let json = p.ty.sql == Sql::Json;
        let (row_ty, row_suffix, bind) = if json {
            if optional {
                (
                    format!("Option<sqlx::types::Json<{inner}>>"),
                    ".map(|v| v.0)".to_string(),
                    format!("e.{}.clone().map(sqlx::types::Json)", field.name),
                )
            } else {
                (
                    format!("sqlx::types::Json<{inner}>"),
                    ".0".to_string(),
                    format!("sqlx::types::Json(e.{}.clone())", field.name),
                )
            }
        } else {
            (
                field.ty.clone(),
                String::new(),
                copy_or_clone(&format!("e.{}", field.name), &field.ty, &self.tb.enums),
            )
        };
        let row_ty = qualify(&row_ty);
        Column {
            name,
            field: field.name.clone(),
            json_name: p.name.clone(),
            sqlite_type: lite.to_string(),
            postgres_type: pg.to_string(),
            not_null: !optional || is_key,
            unique: p.unique && !is_key,
            sqlite_checks: lite_checks,
            postgres_checks: pg_checks,
            row_ty,
            row_suffix,
            bind,
            default_sql: p.default.as_ref().and_then(sql_literal).unwrap_or_default(),
            renamed_from: p
                .renamed_from
                .as_deref()
                .map(column_name)
                .unwrap_or_default(),
        }
    }

    fn entity(&mut self, e: &EntityChoice, module: &str) -> Entity {
        let named = e.ty.named.unwrap_or_default();
        let rtype = self.tb.types[named].clone();
        let props = self.tb.nodes[e.ty.node].properties.clone();
        let ext_table = self.raw_schema_ext(&e.ty.rust, "x-apigen-table");
        let table = ext_table.unwrap_or_else(|| snake_ident(module, "items"));
        if ["auth_users", "auth_refresh_tokens", "auth_api_keys"].contains(&table.as_str()) {
            let pointer = self.schema_pointer(&e.ty.rust);
            self.diag(
                Severity::Error,
                &pointer,
                format!("table `{table}` is the generated service's own account table"),
                "name the table with `x-apigen-table`",
            );
        }
        let mut cols = Namespace::new();
        let mut columns = Vec::new();
        for (i, (p, f)) in props.iter().zip(rtype.fields.iter()).enumerate() {
            columns.push(self.column_for(p, f, &mut cols, i == e.key_prop));
        }
        let key = columns.remove(e.key_prop);
        columns.insert(0, key.clone());
        let kp = &props[e.key_prop];
        let key_inner = rtype.fields[e.key_prop]
            .ty
            .strip_prefix("Option<")
            .and_then(|s| s.strip_suffix('>'))
            .unwrap_or(&rtype.fields[e.key_prop].ty)
            .to_string();
        let key_strategy = match kp.ty.sql {
            Sql::Uuid => "uuid",
            Sql::Text => "uuid_string",
            _ => "integer",
        }
        .to_string();
        let ts = |names: &[&str]| {
            props
                .iter()
                .zip(rtype.fields.iter())
                .find(|(p, _)| names.contains(&p.name.as_str()) && p.ty.sql == Sql::DateTime)
                .map(|(_, f)| f.name.clone())
                .unwrap_or_default()
        };
        let created_field = ts(&["createdAt", "created_at"]);
        let updated_field = ts(&["updatedAt", "updated_at"]);
        let mut foreign_keys = Vec::new();
        let mut indexes = Vec::new();
        for (p, c) in props.iter().zip(rtype.fields.iter()) {
            let col = columns.iter().find(|x| x.field == c.name).cloned();
            if let (Some(target), Some(col)) = (&p.references, col) {
                let ttable = self.table_of_domain_ref(target);
                foreign_keys.push(format!(
                    "CONSTRAINT \"{table}_{c}_fkey\" FOREIGN KEY (\"{c}\") REFERENCES \"{ttable}\" (\"id\")",
                    c = col.name
                ));
                indexes.push(format!(
                    "CREATE INDEX \"{table}_{}_idx\" ON \"{table}\" (\"{}\");",
                    col.name, col.name
                ));
            }
        }
        let database = self.database;
        let ph = move |i: usize| {
            if database == Database::Postgres {
                format!("${i}")
            } else {
                format!("?{i}")
            }
        };
        let quoted = |cols: &[Column]| {
            cols.iter()
                .map(|c| format!("\"{}\"", c.name))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let placeholders = |n: usize| (1..=n).map(ph).collect::<Vec<_>>().join(", ");
        let all = quoted(&columns);
        let returning = format!(" RETURNING {all}");
        let select_sql = format!("SELECT {all} FROM \"{table}\"");
        let key_sql = format!("\"{}\"", columns[0].name);
        // `x-apigen-owned`: the `owner_id` column is set once, on create, from the caller.
        let owned = self.raw_schema_flag(&e.ty.rust, "x-apigen-owned");
        let owner_column = if owned {
            match columns.iter().find(|c| c.name == "owner_id") {
                Some(c) => c.name.clone(),
                None => {
                    let pointer = self.schema_pointer(&e.ty.rust);
                    self.diag(Severity::Error, &ptr(&pointer, "x-apigen-owned"), format!("`{}` is `x-apigen-owned` but has no `ownerId` property to hold the owner", e.ty.rust), "add `ownerId: {type: string, format: uuid, readOnly: true, nullable: true}`");
                    String::new()
                }
            }
        } else {
            String::new()
        };
        let updated: Vec<&Column> = columns[1..]
            .iter()
            .filter(|c| c.field != created_field && c.name != owner_column)
            .collect();
        let assignments = updated
            .iter()
            .enumerate()
            .map(|(i, c)| format!("\"{}\" = {}", c.name, ph(i + 1)))
            .collect::<Vec<_>>()
            .join(", ");
        // Owned tables: every keyed statement takes the owner filter as its last argument
        // (NULL: any owner), so another owner's row is simply not found.
        let owner_sql = |i: usize| {
            if owner_column.is_empty() {
                String::new()
            } else if database == Database::Postgres {
                format!(
                    " AND ({}::uuid IS NULL OR \"{owner_column}\" = {})",
                    ph(i),
                    ph(i)
                )
            } else {
                format!(" AND ({} IS NULL OR \"{owner_column}\" = {})", ph(i), ph(i))
            }
        };
        let sql = EntitySql {
            get: format!("{select_sql} WHERE {key_sql} = {}{}", ph(1), owner_sql(2)),
            count: format!("SELECT COUNT(*) FROM \"{table}\""),
            insert: format!(
                "INSERT INTO \"{table}\" ({all}) VALUES ({}){returning}",
                placeholders(columns.len())
            ),
            insert_without_key: format!(
                "INSERT INTO \"{table}\" ({}) VALUES ({}){returning}",
                quoted(&columns[1..]),
                placeholders(columns.len() - 1)
            ),
            update: format!(
                "UPDATE \"{table}\" SET {assignments} WHERE {key_sql} = {}{}{returning}",
                ph(updated.len() + 1),
                owner_sql(updated.len() + 2)
            ),
            delete: format!(
                "DELETE FROM \"{table}\" WHERE {key_sql} = {}{}",
                ph(1),
                owner_sql(2)
            ),
            select: select_sql,
            key: key_sql,
        };
        Entity {
            type_name: e.ty.rust.clone(),
            table,
            key: key.clone(),
            key_ty: key_inner,
            key_strategy,
            columns,
            foreign_keys,
            indexes,
            created_field,
            updated_field,
            filters: vec![],
            sorts: vec![],
            sql,
            sqlite_defs: vec![],
            postgres_defs: vec![],
            update_binds: vec![],
            default_sort: String::new(),
            key_bind: String::new(),
            key_ref_ty: String::new(),
            owner_column,
        }
    }

    /// The JSON pointer of a named type's schema in the document.
    fn schema_pointer(&self, type_name: &str) -> String {
        self.tb
            .component_of(type_name)
            .map(String::from)
            .unwrap_or_else(|| format!("/components/schemas/{type_name}"))
    }

    fn raw_schema_ext(&self, type_name: &str, key: &str) -> Option<String> {
        self.raw
            .pointer(&self.schema_pointer(type_name))?
            .get(key)
            .and_then(Value::as_str)
            .map(String::from)
    }

    /// A boolean extension on a named schema (`x-apigen-owned: true`).
    fn raw_schema_flag(&self, type_name: &str, key: &str) -> bool {
        self.raw
            .pointer(&self.schema_pointer(type_name))
            .and_then(|s| s.get(key))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    fn table_of_domain_ref(&self, resource: &str) -> String {
        self.raw_schema_ext(&pascal_ident(resource, ""), "x-apigen-table")
            .unwrap_or_else(|| super::names::plural(resource))
    }

    /// Resolves parameters of one location into a struct + object node.
    fn params(
        &mut self,
        o: &RawOp,
        location: &str,
        struct_hint: &str,
    ) -> (Vec<Param>, usize, Vec<(String, Ty)>) {
        let mut merged: IndexMap<String, (Parameter, String)> = IndexMap::new();
        let shared: Vec<(ReferenceOr<Parameter>, String)> = o
            .shared_params
            .iter()
            .enumerate()
            .map(|(i, p)| {
                (
                    p.clone(),
                    ptr(&ptr(&ptr("/paths", &o.path), "parameters"), &i.to_string()),
                )
            })
            .collect();
        let own: Vec<(ReferenceOr<Parameter>, String)> =
            o.op.parameters
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    (
                        p.clone(),
                        ptr(&ptr(&o.pointer, "parameters"), &i.to_string()),
                    )
                })
                .collect();
        for (p, pp) in shared.into_iter().chain(own) {
            if let Some((param, at)) = self.deref::<Parameter>(&p, &pp) {
                let loc = match &param {
                    Parameter::Query { .. } => "query",
                    Parameter::Path { .. } => "path",
                    Parameter::Header { .. } => "header",
                    Parameter::Cookie { .. } => "cookie",
                };
                if loc == location {
                    merged.insert(param.parameter_data_ref().name.clone(), (param, at));
                } else if (loc == "header" || loc == "cookie")
                    && location == "query"
                    && param.parameter_data_ref().required
                {
                    self.diag(
                        Severity::Info,
                        &at,
                        format!(
                            "required {loc} parameter `{}` is not checked by the generated handler",
                            param.parameter_data_ref().name
                        ),
                        "read it from the request headers in the service if you need it",
                    );
                }
            }
        }
        // Path parameters follow the order in the path template.
        if location == "path" {
            let order: Vec<String> = o
                .path
                .split('/')
                .filter(|s| s.starts_with('{') && s.ends_with('}'))
                .map(|s| s.trim_matches(['{', '}']).to_string())
                .collect();
            let mut sorted = IndexMap::new();
            for name in &order {
                match merged.shift_remove(name) {
                    Some(v) => {
                        sorted.insert(name.clone(), v);
                    }
                    None => {
                        self.diag(Severity::Warning, &o.pointer, format!("path parameter `{name}` of `{}` is not declared; it is read as a string", o.path), "declare it under `parameters` with `in: path`");
                        let p: Parameter = serde_json::from_value(serde_json::json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}})).expect("static parameter");
                        sorted.insert(name.clone(), (p, o.pointer.clone()));
                    }
                }
            }
            merged = sorted;
        }
        let node = self.tb.nodes.len();
        let ident = format!("{} {}", struct_hint, location);
        let mut obj = Node {
            ident: String::new(),
            kind: "object",
            additional: Additional::Deny,
            ..Node::default()
        };
        let mut fields = Namespace::new();
        let mut out = Vec::new();
        let mut tys = Vec::new();
        for (name, (param, at)) in merged {
            let data = param.parameter_data_ref();
            let ty = match &data.format {
                ParameterSchemaOrContent::Schema(s) => {
                    self.tb
                        .ty(s, &ptr(&at, "schema"), &format!("{struct_hint} {name}"))
                }
                ParameterSchemaOrContent::Content(_) => {
                    self.tb.any(&format!("{struct_hint} {name}"))
                }
            };
            let kind = self.tb.nodes[ty.node].kind;
            let ty = if kind == "object"
                || kind == "union"
                || (kind == "array"
                    && self.tb.nodes[self.tb.nodes[ty.node].items.unwrap_or(ty.node)].kind
                        == "object")
            {
                self.diag(Severity::Warning, &at, format!("{location} parameter `{name}` is an object; it is accepted as free-form JSON text"), "use scalar or array parameters for a typed handler");
                let t = self.tb.any(&format!("{struct_hint} {name}"));
                self.tb.nodes[t.node].kind = "any";
                t
            } else {
                ty
            };
            let required = data.required || location == "path";
            let field = fields.claim(&snake_ident(&name, "param"));
            let rust = if ty.boxed {
                format!("Box<{}>", ty.rust)
            } else {
                ty.rust.clone()
            };
            let rust = qualify(&if required {
                rust
            } else {
                format!("Option<{rust}>")
            });
            let mut serde = Vec::new();
            if field != name {
                serde.push(format!("rename = {}", rust_str(&name)));
            }
            if !required {
                serde.push("default".to_string());
            }
            let default = match &data.format {
                ParameterSchemaOrContent::Schema(ReferenceOr::Item(s)) => {
                    s.schema_data.default.clone()
                }
                _ => None,
            };
            let default = default.and_then(|d| self.tb.fit_default(ty.node, d, &at));
            obj.properties.push(Prop {
                name: name.clone(),
                node: ty.node,
                required,
                read_only: false,
                write_only: false,
                default,
                ty: ty.clone(),
                unique: false,
                references: None,
                renamed_from: None,
            });
            out.push(Param {
                field,
                name_lit: rust_str(&name),
                ty: rust,
                required,
                serde: serde.join(", "),
            });
            tys.push((name, ty));
        }
        let _ = node;
        obj.ident = self.claim_node_ident(&ident);
        let index = self.tb.push_node(obj);
        (out, index, tys)
    }

    fn claim_node_ident(&mut self, hint: &str) -> String {
        // Node idents share the builder's namespace through a throwaway node.
        let t = self.tb.any(hint);
        let ident = self.tb.nodes[t.node].ident.clone();
        self.tb.nodes.pop();
        ident
    }

    fn operation(
        &mut self,
        o: &RawOp,
        route: &str,
        is_item: bool,
        entity: Option<&EntityChoice>,
        funcs: &mut Namespace,
        foreign: bool,
    ) -> Operation {
        let op_id =
            o.op.operation_id
                .clone()
                .unwrap_or_else(|| format!("{} {}", o.method, o.path));
        let func = funcs.claim(&snake_ident(&op_id, "operation"));
        let pascal = pascal_ident(&func, "Operation");
        let kind = match (o.method, is_item) {
            ("get", false) => "list",
            ("post", false) => "create",
            ("get", true) => "read",
            ("put", true) => "replace",
            ("patch", true) => "update",
            ("delete", true) => "delete",
            _ => "custom",
        };
        let is_action =
            o.op.extensions
                .get("x-apigen-action")
                .and_then(Value::as_bool)
                .unwrap_or(false);
        let kind = if is_action || foreign { "custom" } else { kind };
        let (path_params, path_node, path_tys) = self.params(o, "path", &format!("{pascal} path"));
        let (query_params, query_node, query_tys) =
            self.params(o, "query", &format!("{pascal} query"));
        // Request body.
        let mut body = None;
        let mut reasons: Vec<String> = Vec::new();
        if let Some(rb) = &o.op.request_body {
            let rbptr = ptr(&o.pointer, "requestBody");
            if let Some((rb, at)) = self.deref::<RequestBody>(rb, &rbptr) {
                match Self::json_media(&rb.content).map(|(k, m)| (k.clone(), m.schema.clone())) {
                    Some((k, Some(s))) => {
                        let others: Vec<String> =
                            rb.content.keys().filter(|x| **x != k).cloned().collect();
                        if !others.is_empty() {
                            self.diag(Severity::Info, &ptr(&at, "content"), format!("`{} {}` reads {k} bodies only; {} answer 415 and are left out of the served document", o.method.to_uppercase(), o.path, others.join(", ")), "implement the other media types by hand if clients send them");
                            for m in others {
                                self.unserved_media.push((ptr(&at, "content"), m));
                            }
                        }
                        let sp = ptr(&ptr(&ptr(&at, "content"), &k), "schema");
                        let ty = self.tb.ty(&s, &sp, &format!("{pascal} body"));
                        body = Some(Body {
                            ty: ty.rust.clone(),
                            schema: self.tb.nodes[ty.node].ident.clone(),
                            required: rb.required,
                            mode: "json".into(),
                        });
                    }
                    Some((_, None)) => {
                        let ty = self.tb.any(&format!("{pascal} body"));
                        body = Some(Body {
                            ty: ty.rust.clone(),
                            schema: self.tb.nodes[ty.node].ident.clone(),
                            required: rb.required,
                            mode: "json".into(),
                        });
                    }
                    None => {
                        let types: Vec<String> = rb.content.keys().cloned().collect();
                        self.diag(Severity::Warning, &ptr(&at, "content"), format!("request bodies of type {} are not served yet; `{} {}` answers 501", types.join(", "), o.method.to_uppercase(), o.path), "add an `application/json` body to the operation, or implement this handler by hand");
                        reasons.push(format!(
                            "its request body ({}) is not served yet",
                            types.join(", ")
                        ));
                        body = Some(Body {
                            ty: String::new(),
                            schema: String::new(),
                            required: rb.required,
                            mode: "unsupported".into(),
                        });
                    }
                }
            }
        }
        // Success response.
        // A list wrapped in an object, or an entity decorated with optional members, is
        // answered with the entity itself (see `list_wrapper`, `decorated_ref`); only where
        // a table can back the operation, so a stub keeps the contract's full type.
        let mut list_wrapper = String::new();
        let (status, success_ty, success_node) = match self.success(o) {
            Some((code, Some(s), sp, _)) => {
                let (s, sp) = self.payload(s, &sp);
                let crud = entity.is_some() && kind != "custom";
                let hint = format!("{pascal} response");
                let rust = match kind {
                    "list" if crud => {
                        let (arr, ap) = match self.list_wrapper(&s, &sp) {
                            Some((name, a, ap)) => {
                                list_wrapper = name;
                                (a, ap)
                            }
                            None => (s.clone(), sp.clone()),
                        };
                        match self.array_items(&arr, &ap) {
                            Some((items, ip)) => {
                                format!(
                                    "Vec<{}>",
                                    self.tb.ty(&items, &ip, &format!("{pascal} item")).rust
                                )
                            }
                            None => self.tb.ty(&s, &sp, &hint).rust,
                        }
                    }
                    _ if crud => match Self::decorated_ref(&s, &sp) {
                        Some((r, rp)) => self.tb.ty(&r, &rp, &hint).rust,
                        None => self.tb.ty(&s, &sp, &hint).rust,
                    },
                    _ => self.tb.ty(&s, &sp, &hint).rust,
                };
                (code, rust.clone(), Some(rust))
            }
            Some((code, None, rp, others)) => {
                if !others.is_empty() {
                    self.diag(
                        Severity::Warning,
                        &ptr(&rp, "content"),
                        format!(
                            "responses of type {} are not served yet; `{} {}` answers 501",
                            others.join(", "),
                            o.method.to_uppercase(),
                            o.path
                        ),
                        "declare an `application/json` response, or implement this handler by hand",
                    );
                    reasons.push(format!(
                        "its response ({}) is not served yet",
                        others.join(", ")
                    ));
                }
                (code, String::new(), None)
            }
            None => {
                let code = match kind {
                    "create" => 201,
                    "delete" => 204,
                    _ => 200,
                };
                self.diag(
                    Severity::Info,
                    &ptr(&o.pointer, "responses"),
                    format!(
                        "`{} {}` declares no 2xx response; it answers {code} on success",
                        o.method.to_uppercase(),
                        o.path
                    ),
                    "declare the success response in the contract",
                );
                (code, String::new(), None)
            }
        };
        let mut op = Operation {
            func: func.clone(),
            operation_id: op_id.clone(),
            doc: doc_line(
                o.op.summary
                    .as_deref()
                    .or(o.op.description.as_deref())
                    .unwrap_or(&op_id),
            ),
            method: o.method.to_string(),
            method_upper: o.method.to_uppercase(),
            path: o.path.clone(),
            route: route.to_string(),
            kind: kind.to_string(),
            implemented: false,
            not_implemented_reason: String::new(),
            path_struct: if path_params.is_empty() {
                String::new()
            } else {
                format!("{pascal}Path")
            },
            path_schema: self.tb.nodes[path_node].ident.clone(),
            path_params,
            query_struct: if query_params.is_empty() {
                String::new()
            } else {
                format!("{pascal}Query")
            },
            query_schema: self.tb.nodes[query_node].ident.clone(),
            query_params,
            body,
            success_status: status,
            success_const: status_const(status),
            success_ty,
            assigns: vec![],
            key_expr: String::new(),
            scope: vec![],
            limit_field: String::new(),
            offset_field: String::new(),
            page_field: String::new(),
            cursor_field: String::new(),
            sort_field: String::new(),
            filters: vec![],
            op_id_lit: rust_str(&op_id),
            service_ret: String::new(),
            response_kind: String::new(),
            body_arg: String::new(),
            list_mode: String::new(),
            limit_expr: String::new(),
            offset_expr: String::new(),
            sort_access: String::new(),
            create_key_expr: String::new(),
            location_expr: String::new(),
            uses_now: false,
            filter_rest: false,
            query_used: false,
            patch_fields: vec![],
            touch_expr: String::new(),
            guard: String::new(),
            access: String::new(),
            owner: false,
            owner_expr: String::new(),
            caller_used: false,
            list_wrapper,
        };
        // Decide whether the entity can serve this operation.
        if !reasons.is_empty() {
            op.not_implemented_reason = reasons.join("; ");
            return op;
        }
        let Some(e) = entity else {
            op.not_implemented_reason = if kind == "custom" {
                "it is a custom action".into()
            } else {
                "no table backs this path (no readable object schema with a key)".into()
            };
            return op;
        };
        let ent_ty = e.ty.rust.clone();
        let props = self.tb.nodes[e.ty.node].properties.clone();
        let fields = self.tb.types[e.ty.named.unwrap_or_default()].fields.clone();
        let success_fits = |want_vec: bool| match &success_node {
            Some(t) if want_vec => *t == format!("Vec<{ent_ty}>"),
            Some(t) => *t == ent_ty,
            None => false,
        };
        let mut why = String::new();
        // Key parameter for item operations: the last path parameter.
        if matches!(kind, "read" | "replace" | "update" | "delete") {
            if let Some((pname, pty)) = path_tys.last() {
                let key_ty = &props[e.key_prop].ty;
                let pf = op
                    .path_params
                    .last()
                    .map(|p| p.field.clone())
                    .unwrap_or_default();
                // Exact types only: an integer parameter cannot address the UUIDs a string key
                // gets (regression: atlassian.com/jira.json).
                op.key_expr = if pty.rust == key_ty.rust {
                    copy_or_clone(&format!("path.{pf}"), &pty.rust, &self.tb.enums)
                } else {
                    why = format!(
                        "path parameter `{pname}` is a {} but the key `{}` is a {}",
                        pty.rust, props[e.key_prop].name, key_ty.rust
                    );
                    String::new()
                };
            }
        }
        // Scope: every other path parameter must match an entity property of the same type.
        let scope_params: Vec<(String, Ty)> = match kind {
            "list" => path_tys.clone(),
            "create" if !path_tys.is_empty() => {
                why = "creating under a parent path is not generated yet".into();
                vec![]
            }
            _ if path_tys.len() > 1 => {
                why = "item operations under a parent path are not generated yet".into();
                vec![]
            }
            _ => vec![],
        };
        for (pname, pty) in &scope_params {
            let pf = op
                .path_params
                .iter()
                .find(|p| p.name_lit == rust_str(pname))
                .map(|p| p.field.clone())
                .unwrap_or_default();
            match props
                .iter()
                .zip(fields.iter())
                .find(|(p, _)| &p.name == pname && p.ty.rust == pty.rust)
            {
                Some((p, f)) => op.scope.push(Scope {
                    column: f.name.clone(),
                    bind: copy_or_clone(&format!("path.{pf}"), &pty.rust, &self.tb.enums),
                    parent_sql: p.references.as_ref().map_or(String::new(), |target| {
                        let ph = if self.database == Database::Postgres {
                            "$1"
                        } else {
                            "?1"
                        };
                        format!(
                            "SELECT 1 FROM \"{}\" WHERE \"id\" = {ph}",
                            self.table_of_domain_ref(target)
                        )
                    }),
                }),
                None => {
                    why =
                        format!("path parameter `{pname}` does not match a property of `{ent_ty}`");
                }
            }
        }
        if why.is_empty() {
            match kind {
                "list" => {
                    if !success_fits(true) {
                        why = format!("its success response is not a list of `{ent_ty}`");
                    }
                }
                "read" => {
                    if !success_fits(false) {
                        why = format!("its success response is not a `{ent_ty}`");
                    }
                }
                "delete" => {
                    if !op.success_ty.is_empty() {
                        why = "its success response has a body".into();
                    }
                }
                "create" | "replace" => {
                    if !(success_fits(false) || op.success_ty.is_empty()) {
                        why = format!("its success response is not a `{ent_ty}`");
                    } else {
                        match &op.body {
                            Some(b) if b.mode == "json" => match self.assigns(e, &b.ty, kind) {
                                // A body sharing no field with the entity would be ignored.
                                Ok(a) if !a.iter().any(|x| x.expr.contains("body.")) => {
                                    why = format!("its request body has no field of `{ent_ty}`")
                                }
                                Ok(a) => op.assigns = a,
                                Err(w) => why = w,
                            },
                            _ => why = "it has no JSON request body".into(),
                        }
                    }
                }
                "update" => {
                    if !(success_fits(false) || op.success_ty.is_empty()) {
                        why = format!("its success response is not a `{ent_ty}`");
                    } else if !matches!(&op.body, Some(b) if b.mode == "json") {
                        why = "it has no JSON request body".into();
                    } else if let Some(b) = &mut op.body {
                        b.mode = "patch".into();
                    }
                }
                _ => why = "it is a custom action".into(),
            }
        }
        if why.is_empty() {
            op.implemented = true;
            // Paging and sorting parameters the contract declares.
            for (p, (name, _)) in op.query_params.iter().zip(query_tys.iter()) {
                let base = p.ty.trim_start_matches("Option<").trim_end_matches('>');
                let is_int = base == "i64" || base == "i32";
                match name.as_str() {
                    "limit" | "perPage" | "per_page" | "pageSize" | "page_size" if is_int => {
                        op.limit_field = p.field.clone()
                    }
                    "offset" | "skip" if is_int => op.offset_field = p.field.clone(),
                    "page" if is_int => op.page_field = p.field.clone(),
                    "cursor" if base == "String" => op.cursor_field = p.field.clone(),
                    "sort" => op.sort_field = p.field.clone(),
                    _ => {}
                }
            }
            if kind == "list" {
                let understood = [
                    &op.limit_field,
                    &op.offset_field,
                    &op.page_field,
                    &op.cursor_field,
                    &op.sort_field,
                ];
                for (p, (name, ty)) in op.query_params.iter().zip(query_tys.iter()) {
                    if let Some((_, f)) = props.iter().zip(fields.iter()).find(|(x, _)| {
                        &x.name == name && x.ty.rust == ty.rust && !matches!(x.ty.sql, Sql::Json)
                    }) {
                        if !understood.iter().any(|u| **u == p.field) {
                            let value =
                                copy_or_clone(&format!("query.{}", p.field), &p.ty, &self.tb.enums);
                            // A required parameter always filters.
                            let bind = if p.ty.starts_with("Option<") {
                                value
                            } else {
                                format!("Some({value})")
                            };
                            op.filters.push(Filter {
                                query_field: p.field.clone(),
                                column: f.name.clone(),
                                bind,
                                copy: false,
                            });
                        }
                    }
                }
            }
            // A list must honour every required query parameter, or it would ignore it.
            let used: Vec<String> = [
                &op.limit_field,
                &op.offset_field,
                &op.page_field,
                &op.cursor_field,
                &op.sort_field,
            ]
            .iter()
            .map(|f| f.to_string())
            .chain(op.filters.iter().map(|f| f.query_field.clone()))
            .collect();
            if let Some(p) = op
                .query_params
                .iter()
                .find(|p| p.required && !used.contains(&p.field))
            {
                op.implemented = false;
                op.filters.clear();
                op.not_implemented_reason = format!("its required query parameter {} is not a filter, page or sort parameter apigen understands", p.name_lit);
            }
            op.query_used = !used.iter().all(String::is_empty) && op.implemented;
        } else {
            op.not_implemented_reason = why;
        }
        op
    }

    /// How to build the entity from `body` (create / replace): one assignment per field.
    fn assigns(
        &mut self,
        e: &EntityChoice,
        body_ty: &str,
        kind: &str,
    ) -> Result<Vec<Assign>, String> {
        let props = self.tb.nodes[e.ty.node].properties.clone();
        let fields = self.tb.types[e.ty.named.unwrap_or_default()].fields.clone();
        let body_fields: Vec<(Prop, StructField)> = match self
            .tb
            .type_of(body_ty)
            .filter(|&i| self.tb.types[i].kind == "struct")
        {
            Some(i) => {
                let node = self
                    .tb
                    .node_of(&self.tb.types[i].schema)
                    .unwrap_or_default();
                self.tb.nodes[node]
                    .properties
                    .clone()
                    .into_iter()
                    .zip(self.tb.types[i].fields.clone())
                    .collect()
            }
            None => {
                return Err(format!(
                    "its request body `{body_ty}` is not an object type"
                ))
            }
        };
        let owned = self.raw_schema_flag(&e.ty.rust, "x-apigen-owned");
        let mut out = Vec::new();
        for (i, (p, f)) in props.iter().zip(fields.iter()).enumerate() {
            let optional = f.ty.starts_with("Option<");
            let expr = if owned
                && kind == "create"
                && (p.name == "ownerId" || p.name == "owner_id")
                && p.ty.sql == Sql::Uuid
            {
                // The owner is whoever creates the row; a replace keeps it (the UPDATE
                // statement does not set the owner column).
                if optional {
                    "caller.subject".into()
                } else {
                    "caller.subject.unwrap_or_default()".into()
                }
            } else if i == e.key_prop {
                if kind == "replace" {
                    let k = copy_or_clone("key", &f.ty, &self.tb.enums);
                    if optional {
                        format!("Some({k})")
                    } else {
                        k
                    }
                } else if optional {
                    "None".into()
                } else {
                    "Default::default()".into()
                }
            } else if (p.name == "createdAt"
                || p.name == "created_at"
                || p.name == "updatedAt"
                || p.name == "updated_at")
                && p.ty.sql == Sql::DateTime
            {
                if optional {
                    "Some(now)".into()
                } else {
                    "now".into()
                }
            } else if let Some((bp, bf)) = body_fields
                .iter()
                .find(|(bp, _)| bp.name == p.name && !bp.read_only)
            {
                let _ = bp;
                if bf.ty == f.ty {
                    format!("body.{}", bf.name)
                } else if f.ty == format!("Option<{}>", bf.ty) {
                    format!("Some(body.{})", bf.name)
                } else {
                    return Err(format!(
                        "the body's `{}` ({}) does not fit the stored `{}` ({})",
                        bp.name, bf.ty, p.name, f.ty
                    ));
                }
            } else if optional {
                "None".into()
            } else if f.ty.starts_with("Vec<")
                || p.read_only
                    && matches!(
                        p.ty.sql,
                        Sql::Text
                            | Sql::Int32
                            | Sql::Int64
                            | Sql::Real
                            | Sql::Bool
                            | Sql::Uuid
                            | Sql::DateTime
                    )
            {
                "Default::default()".into()
            } else {
                return Err(format!(
                    "the stored `{}` cannot be filled from the request body",
                    p.name
                ));
            };
            out.push(Assign {
                field: f.name.clone(),
                expr,
            });
        }
        Ok(out)
    }

    /// Fills entity-level filters and sorts from the implemented operations.
    fn finish_operations(&mut self, res: &mut Resource) {
        let Some(e) = &mut res.entity else { return };
        for o in &mut res.operations {
            for f in &o.filters {
                if !e.filters.iter().any(|x| x.column == f.column) {
                    e.filters.push(Filter {
                        query_field: f.column.clone(),
                        column: e
                            .columns
                            .iter()
                            .find(|c| c.field == f.column)
                            .map(|c| c.name.clone())
                            .unwrap_or_default(),
                        bind: String::new(),
                        copy: false,
                    });
                }
            }
            for s in &o.scope {
                if !e.filters.iter().any(|x| x.query_field == s.column) {
                    e.filters.push(Filter {
                        query_field: s.column.clone(),
                        column: e
                            .columns
                            .iter()
                            .find(|c| c.field == s.column)
                            .map(|c| c.name.clone())
                            .unwrap_or_default(),
                        bind: String::new(),
                        copy: false,
                    });
                }
            }
        }
        // Sort keys come from the sort parameter's enum values (`name`, `-name`).
        let mut sorts = Vec::new();
        for o in &res.operations {
            if o.sort_field.is_empty() {
                continue;
            }
            let node = self
                .tb
                .node_of(&o.query_schema)
                .map(|i| self.tb.nodes[i].clone());
            if let Some(n) = node {
                if let Some(p) = n.properties.iter().find(|p| p.name == "sort") {
                    for v in &self.tb.nodes[p.node].enum_values {
                        let Some(v) = v.as_str() else { continue };
                        let name = v.trim_start_matches('-');
                        if let Some(c) = e.columns.iter().find(|c| c.json_name == name) {
                            if !sorts.iter().any(|s: &SortKey| s.json_name == v) {
                                sorts.push(SortKey {
                                    json_name: v.to_string(),
                                    column: c.name.clone(),
                                    value_lit: rust_str(v),
                                    descending: v.starts_with('-'),
                                });
                            }
                        }
                    }
                }
            }
        }
        e.sorts = sorts;
        // Filter types for the repository's filter struct; `column` holds the SQL column and
        // `bind` the Rust type, `query_field` the struct field.
        for f in &mut e.filters {
            if let Some(c) = e.columns.iter().find(|c| c.field == f.query_field) {
                let inner = c
                    .row_ty
                    .strip_prefix("Option<")
                    .and_then(|s| s.strip_suffix('>'))
                    .unwrap_or(&c.row_ty)
                    .to_string();
                f.copy = is_copy(&inner, &self.tb.enums);
                f.bind = inner;
            }
        }
    }

    fn tests(&mut self, res: &Resource, entity: Option<&EntityChoice>) -> ResourceTests {
        let mut t = ResourceTests {
            id_pointer: if self.envelope {
                "/data/id".into()
            } else {
                "/id".into()
            },
            list_pointer: if self.envelope {
                "/data".into()
            } else {
                String::new()
            },
            ..ResourceTests::default()
        };
        // Stubs: a concrete URL and a valid body for each operation that answers 501.
        let mut names = Namespace::new();
        let refused = |s: &Self, o: &Operation| {
            s.sec
                .as_ref()
                .and_then(|sec| sec.info(&o.guard))
                .is_some_and(|i| i.refuses_all)
        };
        for o in &res.operations {
            // Operations no credential can reach are covered by the denial matrix.
            if o.implemented || refused(self, o) {
                continue;
            }
            let Some(url) = self.sample_url(o) else {
                continue;
            };
            let body = match &o.body {
                Some(b) if b.mode == "json" => {
                    let node = self.tb.node_of(&b.schema);
                    match node.and_then(|n| self.tb.sample(n, 0, 0)) {
                        Some(v) => v.to_string(),
                        None if !b.required => String::new(),
                        None => continue,
                    }
                }
                Some(_) => "{}".to_string(),
                None => String::new(),
            };
            if o.method == "head" && !o.success_ty.is_empty() {
                continue;
            }
            let json_body = o.body.as_ref().is_some_and(|b| b.mode == "json");
            t.stubs.push(StubCase {
                name: names.claim(o.func.trim_end_matches('_')),
                json_body,
                method: o.method_upper.clone(),
                url,
                body,
            });
        }
        let Some(e) = entity else { return t };
        let Some(ent) = &res.entity else { return t };
        let find = |k: &str| {
            res.operations
                .iter()
                .find(|o| o.kind == k && o.implemented && o.scope.is_empty())
        };
        let create = find("create");
        let read = find("read");
        t.has_list = find("list").is_some();
        t.has_read = read.is_some();
        // Tests address rows through the read operation's URL; item operations elsewhere
        // (another path or parameter name) are not driven by these tests.
        // Replace and update tests change the create sample, so they also need the create's body.
        let create_body = create
            .and_then(|c| c.body.as_ref())
            .map(|b| b.schema.clone());
        let same_path = |k: &str| find(k).is_some_and(|o| read.is_some_and(|r| r.path == o.path));
        let same_body = |k: &str| {
            find(k).is_some_and(|o| o.body.as_ref().map(|b| b.schema.clone()) == create_body)
        };
        t.has_replace = same_path("replace") && same_body("replace");
        // Update may take its own (merge-patch) schema; checked against the field the test
        // changes once that is chosen, below.
        t.has_update = same_path("update")
            && find("update").is_some_and(|o| o.body.as_ref().is_some_and(|b| b.mode == "patch"));
        t.has_delete = same_path("delete");
        if let Some(l) = find("list") {
            t.list_url = self.sample_url(l).unwrap_or_default();
            t.list_mode = l.list_mode.clone();
            if !l.list_wrapper.is_empty() {
                t.list_pointer = ptr("", &l.list_wrapper);
            }
        }
        if let Some(r) = read {
            t.missing_url = self.sample_url(r).unwrap_or_default();
            if let (Some(i), Some(j)) = (r.path.rfind('{'), r.path.rfind('}')) {
                t.item_prefix = r.path[..i].to_string();
                t.item_suffix = r.path[j + 1..].to_string();
            }
            let _ = ent;
        }
        if let Some(l) = find("list") {
            t.collection_url = l.path.clone();
        }
        let Some(c) = create else { return t };
        if res
            .operations
            .iter()
            .any(|o| o.implemented && refused(self, o))
        {
            return t;
        }
        t.collection_url = c.path.clone();
        t.create_status = c.success_status;
        t.delete_status = find("delete").map(|d| d.success_status).unwrap_or(204);
        let Some(b) = &c.body else { return t };
        let Some(bnode) = self.tb.node_of(&b.schema) else {
            return t;
        };
        let (Some(s1), Some(s2)) = (self.tb.sample(bnode, 0, 0), self.tb.sample(bnode, 1, 0))
        else {
            self.diag(
                Severity::Info,
                "",
                format!(
                    "no valid sample body for `{}`; its CRUD tests are not generated",
                    c.operation_id
                ),
                "add `example` values to the schema's properties",
            );
            return t;
        };
        // Scoped creates, non-JSON success bodies, or paths with other params cannot be driven simply.
        if c.path_params.iter().any(|_| true) || (c.success_ty.is_empty() && read.is_none()) {
            return t;
        }
        t.has_create = true;
        // Refs to other tables need those rows first: only resources without FKs get CRUD tests.
        let node = &self.tb.nodes[bnode];
        for p in node.properties.iter().filter(|p| p.references.is_some()) {
            // Filled in by `link_prereqs` once every resource is known.
            t.prereqs.push(Prereq {
                field: p.name.clone(),
                url: String::new(),
                body2: String::new(),
                body: self.table_of_domain_ref(p.references.as_deref().unwrap_or_default()),
                id_pointer: String::new(),
                status: 0,
            });
        }
        t.crud = !c.success_ty.is_empty();
        // Filtering, sorting and nested lists, when the contract offers them.
        if let Some(l) = find("list") {
            for f in &l.filters {
                let Some(qp) = l.query_params.iter().find(|p| p.field == f.query_field) else {
                    continue;
                };
                let name: String = serde_json::from_str(&qp.name_lit).unwrap_or_default();
                let (Some(a), Some(b)) = (s1.get(&name), s2.get(&name)) else {
                    continue;
                };
                let is_ref = node
                    .properties
                    .iter()
                    .any(|p| p.name == name && p.references.is_some());
                if a != b && (a.is_string() || a.is_boolean() || a.is_number()) && !is_ref {
                    t.filter_param = name;
                    t.filter_value = match a {
                        Value::String(s) => percent_encode(s),
                        other => other.to_string(),
                    };
                    t.filter_json = a.to_string();
                    t.filter_fn = format!(
                        "list_filters_by_{}",
                        snake_ident(&t.filter_param, "value").trim_end_matches('_')
                    );
                    break;
                }
            }
            t.sort_newest =
                ent.sorts.iter().any(|s| s.json_name == "-createdAt") && !l.sort_field.is_empty();
        }
        let nested = res.operations.iter().find(|o| {
            o.kind == "list" && o.implemented && o.scope.len() == 1 && o.path_params.len() == 1
        });
        if let Some(nested) = nested {
            let pname: String =
                serde_json::from_str(&nested.path_params[0].name_lit).unwrap_or_default();
            if let (Some(i), Some(j)) = (nested.path.find('{'), nested.path.find('}')) {
                if base_has(&s1, &pname) {
                    t.scoped_prefix = nested.path[..i].to_string();
                    t.scoped_suffix = nested.path[j + 1..].to_string();
                    t.scoped_field = pname;
                }
            }
        }
        t.write_only = node
            .properties
            .iter()
            .filter(|p| p.write_only && base_has(&s1, &p.name))
            .map(|p| p.name.clone())
            .collect();
        let entity_props = &self.tb.nodes[e.ty.node].properties;
        t.roundtrip = node
            .properties
            .iter()
            .filter(|p| {
                // Timestamps by these names are set by the server whatever the body says.
                !["createdAt", "created_at", "updatedAt", "updated_at"].contains(&p.name.as_str())
                    && !p.write_only
                    && base_has(&s1, &p.name)
                    && entity_props
                        .iter()
                        .any(|x| x.name == p.name && !x.write_only && x.ty.rust == p.ty.rust)
            })
            .map(|p| p.name.clone())
            .collect();
        t.sample = s1.to_string();
        t.sample2 = s2.to_string();
        // A field to change in replace/update: the first non-key, writable string or number field.
        for p in &node.properties {
            if p.read_only || p.name == ent.key.json_name || p.references.is_some() {
                continue;
            }
            let n = &self.tb.nodes[p.node];
            if matches!(n.kind, "string" | "integer" | "number")
                && n.format.is_none_or(|f| f != "uuid")
                && !p.unique
            {
                if let (Some(a), Some(b)) =
                    (self.tb.sample(p.node, 0, 1), self.tb.sample(p.node, 2, 1))
                {
                    if a != b {
                        t.change_field = p.name.clone();
                        t.change_value = b.to_string();
                        break;
                    }
                }
            }
        }
        if t.has_update && !same_body("update") {
            // A separate patch schema must accept the changed field and refuse unknown ones,
            // as the update test sends both.
            let patch_node = find("update")
                .and_then(|o| o.body.as_ref())
                .and_then(|b| self.tb.node_of(&b.schema))
                .map(|i| &self.tb.nodes[i]);
            t.has_update = patch_node.is_some_and(|n| {
                matches!(n.additional, Additional::Deny)
                    && n.properties
                        .iter()
                        .any(|p| p.name == t.change_field && !p.read_only)
            });
        }
        // Invalid bodies, one per kind of constraint the contract declares.
        let base = s1.as_object().cloned().unwrap_or_default();
        let mut cases = Namespace::new();
        let mut push = |name: &str,
                        field: &str,
                        body: serde_json::Map<String, Value>,
                        out: &mut Vec<InvalidCase>| {
            out.push(InvalidCase {
                name: cases.claim(&snake_ident(name, "case")),
                body: Value::Object(body).to_string(),
                field: field.to_string(),
            });
        };
        let mut out = Vec::new();
        let mut unknown = base.clone();
        unknown.insert("unexpectedField".into(), Value::Bool(true));
        if matches!(node.additional, Additional::Deny) {
            push("unknown_field", "unexpectedField", unknown, &mut out);
        }
        for p in &node.properties {
            let n = &self.tb.nodes[p.node];
            let fname = snake_ident(&p.name, "field");
            if p.read_only {
                let ro = self
                    .tb
                    .sample(p.node, 0, 1)
                    .unwrap_or(Value::String("x".into()));
                let mut b = base.clone();
                b.insert(p.name.clone(), ro);
                push(&format!("{fname} read only"), &p.name, b, &mut out);
                continue;
            }
            if p.required && p.default.is_none() {
                let mut b = base.clone();
                b.remove(&p.name);
                push(&format!("{fname} missing"), &p.name, b, &mut out);
            }
            let mut bad = |suffix: &str, v: Value| {
                let mut b = base.clone();
                b.insert(p.name.clone(), v);
                push(&format!("{fname} {suffix}"), &p.name, b, &mut out);
            };
            match n.kind {
                "string" => {
                    bad("wrong type", Value::from(12345));
                    if let Some(m) = n.max_length {
                        if m < 10_000 {
                            bad("too long", Value::String("x".repeat(m as usize + 1)));
                        }
                    }
                    if let Some(m) = n.min_length.filter(|m| *m > 0) {
                        bad("too short", Value::String("x".repeat(m as usize - 1)));
                    }
                    if n.pattern.is_some() && n.enum_values.is_empty() {
                        bad("pattern mismatch", Value::String("\u{1}!".into()));
                    }
                    if !n.enum_values.is_empty() {
                        bad(
                            "not in enum",
                            Value::String("definitely-not-allowed".into()),
                        );
                    } else if let Some(f) = n.format {
                        if n.pattern.is_none() {
                            bad(
                                &format!("bad {f}"),
                                Value::String("not a valid value".into()),
                            );
                        }
                    }
                }
                "integer" | "number" => {
                    bad("wrong type", Value::String("abc".into()));
                    if let Some(m) = n.minimum.filter(|m| *m > -1e15 && *m > i32::MIN as f64) {
                        bad("below minimum", Value::from(m as i64 - 1));
                    }
                    if let Some(m) = n.maximum.filter(|m| *m < 1e15 && *m < i32::MAX as f64) {
                        bad("above maximum", Value::from(m as i64 + 1));
                    }
                }
                "boolean" => bad("wrong type", Value::String("yes".into())),
                "array" => bad("wrong type", Value::String("not a list".into())),
                _ => {}
            }
        }
        t.invalid_cases = out;
        if let Some(u) = node
            .properties
            .iter()
            .find(|p| p.unique && !p.read_only && base.contains_key(&p.name))
        {
            t.unique_field = u.name.clone();
            t.unique_fn = format!(
                "duplicate_{}_is_409",
                snake_ident(&u.name, "value").trim_end_matches('_')
            );
        }
        // Ownership: non-admins who may create rows and use the owner-only item
        // operations, each with a bearer token alone.
        if t.crud && t.has_read {
            if let Some(sec) = &self.sec {
                let owned: Vec<&Operation> = ["read", "replace", "update", "delete"]
                    .into_iter()
                    .filter(|k| match *k {
                        "read" => t.has_read,
                        "replace" => t.has_replace,
                        "update" => t.has_update,
                        _ => t.has_delete,
                    })
                    .filter_map(find)
                    .filter(|o| o.owner)
                    .collect();
                let create_info = sec.info(&c.guard);
                let infos: Vec<_> = owned.iter().filter_map(|o| sec.info(&o.guard)).collect();
                if let Some(ci) = create_info.filter(|ci| {
                    !owned.is_empty()
                        && infos.len() == owned.len()
                        && ci.bearer
                        && infos.iter().all(|i| i.bearer)
                }) {
                    let candidates = if ci.roles.is_empty() {
                        vec!["member".to_string()]
                    } else {
                        ci.roles.clone()
                    };
                    if let Some(role) = candidates.into_iter().find(|r| {
                        r != sec.admin_role()
                            && infos
                                .iter()
                                .all(|i| i.roles.is_empty() || i.roles.contains(r))
                    }) {
                        t.owner_role = role;
                        t.owner_methods = owned.iter().map(|o| o.method_upper.clone()).collect();
                    }
                }
            }
        }
        t
    }

    /// The body struct field for a JSON property, with its read-only flag.
    fn body_field(&self, body_ty: &str, prop: &str) -> Option<(StructField, bool)> {
        let t = self
            .tb
            .type_of(body_ty)
            .filter(|&i| self.tb.types[i].kind == "struct")
            .map(|i| &self.tb.types[i])?;
        let node = self.tb.node_of(&t.schema).map(|i| &self.tb.nodes[i])?;
        node.properties
            .iter()
            .zip(t.fields.iter())
            .find(|(p, _)| p.name == prop)
            .map(|(p, f)| (f.clone(), p.read_only))
    }

    /// Computes the expressions templates print for each operation and the entity's SQL.
    fn finalize(&mut self, res: &mut Resource, choice: Option<&EntityChoice>) {
        let envelope = self.envelope;
        let db = self.database;
        if let Some(e) = &mut res.entity {
            let key_col = e.key.name.clone();
            for (i, c) in e.columns.iter().enumerate() {
                e.sqlite_defs
                    .push(column_def(&e.table, c, i == 0, &e.key_strategy, false));
                e.postgres_defs
                    .push(column_def(&e.table, c, i == 0, &e.key_strategy, true));
            }
            for fk in &e.foreign_keys {
                e.sqlite_defs.push(fk.clone());
                e.postgres_defs.push(fk.clone());
            }
            e.update_binds = e.columns[1..]
                .iter()
                .filter(|c| c.field != e.created_field && c.name != e.owner_column)
                .map(|c| c.bind.clone())
                .collect();
            e.default_sort = e
                .columns
                .iter()
                .find(|c| !e.created_field.is_empty() && c.field == e.created_field)
                .map(|c| c.name.clone())
                .unwrap_or(key_col);
            let _ = db;
            e.key_bind = if is_copy(&e.key_ty, &self.tb.enums) {
                ".bind(*key)".into()
            } else {
                ".bind(key.to_owned())".into()
            };
            e.key_ref_ty = if e.key_ty == "String" {
                "&str".into()
            } else {
                format!("&{}", e.key_ty)
            };
        }
        let entity = res.entity.clone();
        for op in &mut res.operations {
            let empty = op.success_ty.is_empty();
            op.response_kind = if empty {
                "empty".into()
            } else if op.implemented && op.kind == "list" && envelope {
                "page".into()
            } else {
                "json".into()
            };
            op.service_ret = match op.response_kind.as_str() {
                "empty" => "()".into(),
                "page" => format!(
                    "crate::pagination::Page<crate::models::{}>",
                    entity
                        .as_ref()
                        .map(|e| e.type_name.clone())
                        .unwrap_or_default()
                ),
                _ => qualify(&op.success_ty),
            };
            if op.implemented && matches!(op.kind.as_str(), "create" | "replace" | "update") {
                if let Some(b) = &mut op.body {
                    b.required = true;
                }
            }
            op.body_arg = match &op.body {
                Some(b) if b.mode == "patch" => "serde_json::Value".into(),
                Some(b) if b.mode == "json" && b.required => qualify(&b.ty),
                Some(b) if b.mode == "json" => format!("Option<{}>", qualify(&b.ty)),
                _ => String::new(),
            };
            let Some(e) = &entity else { continue };
            if !op.implemented {
                continue;
            }
            let q = |f: &str| format!("query.{f}");
            let param_ty = |f: &str| {
                op.query_params
                    .iter()
                    .find(|p| p.field == f)
                    .map(|p| p.ty.clone())
                    .unwrap_or_default()
            };
            // `.map(i64::from)` / `i64::from(..)` only where the parameter is narrower than i64.
            let widen_opt = |f: &str| {
                if param_ty(f).contains("i64") {
                    String::new()
                } else {
                    ".map(i64::from)".to_string()
                }
            };
            let widen = |f: &str| {
                if param_ty(f).contains("i64") {
                    q(f)
                } else {
                    format!("i64::from({})", q(f))
                }
            };
            if op.kind == "list" {
                op.list_mode = if !op.cursor_field.is_empty() {
                    "cursor".into()
                } else if !op.page_field.is_empty() {
                    "offset".into()
                } else {
                    "plain".into()
                };
                op.limit_expr = if op.limit_field.is_empty() {
                    "crate::pagination::MAX_PAGE".into()
                } else if param_ty(&op.limit_field).starts_with("Option<") {
                    format!("crate::pagination::clamp_limit({}{}.unwrap_or(crate::pagination::MAX_PAGE))", q(&op.limit_field), widen_opt(&op.limit_field))
                } else {
                    format!("crate::pagination::clamp_limit({})", widen(&op.limit_field))
                };
                op.offset_expr = if op.list_mode == "cursor" {
                    format!(
                        "crate::pagination::decode_cursor({}.as_deref())?",
                        q(&op.cursor_field)
                    )
                } else if !op.page_field.is_empty() {
                    let f = op.page_field.as_str();
                    if param_ty(f).starts_with("Option<") {
                        format!("({}{}.unwrap_or(1).max(1) - 1) * limit", q(f), widen_opt(f))
                    } else {
                        format!("({}.max(1) - 1) * limit", widen(f))
                    }
                } else if op.offset_field.is_empty() {
                    "0".into()
                } else if param_ty(&op.offset_field).starts_with("Option<") {
                    format!(
                        "{}{}.unwrap_or(0).max(0)",
                        q(&op.offset_field),
                        widen_opt(&op.offset_field)
                    )
                } else {
                    format!("{}.max(0)", widen(&op.offset_field))
                };
                if !op.sort_field.is_empty() && !e.sorts.is_empty() {
                    op.sort_access = if param_ty(&op.sort_field) == "Option<String>" {
                        format!("{}.as_deref()", q(&op.sort_field))
                    } else {
                        format!("{}.as_ref().map(|s| s.as_str())", q(&op.sort_field))
                    };
                }
            }
            if op.kind == "create" {
                let key_json = e.key.json_name.clone();
                let base = match op
                    .body
                    .as_ref()
                    .and_then(|b| self.body_field(&b.ty, &key_json))
                {
                    Some((f, false)) if f.ty.starts_with("Option<") => format!("body.{}", f.name),
                    Some((f, false)) => format!("Some(body.{})", f.name),
                    _ => "None".into(),
                };
                op.create_key_expr = match (e.key_strategy.as_str(), base == "None") {
                    ("uuid", true) => "Some(uuid::Uuid::now_v7())".into(),
                    ("uuid_string", true) => "Some(uuid::Uuid::now_v7().to_string())".into(),
                    ("uuid", false) => format!("Some({base}.unwrap_or_else(uuid::Uuid::now_v7))"),
                    ("uuid_string", false) => {
                        format!("Some({base}.unwrap_or_else(|| uuid::Uuid::now_v7().to_string()))")
                    }
                    _ => base,
                };
                if !op.success_ty.is_empty() && op.path_params.is_empty() {
                    let key_field = e.key.field.clone();
                    let optional = e.key.row_ty.starts_with("Option<");
                    op.location_expr = if optional {
                        format!("format!(\"{{}}/{{}}\", {}, out.{key_field}.as_ref().map(|v| v.to_string()).unwrap_or_default())", rust_str(&op.path))
                    } else {
                        format!(
                            "format!(\"{{}}/{{}}\", {}, out.{key_field})",
                            rust_str(&op.path)
                        )
                    };
                }
            }
            if op.kind == "update" {
                if let Some(b) = &op.body {
                    let node = self.tb.node_of(&b.schema).map(|i| self.tb.nodes[i].clone());
                    let entity_node = choice.map(|c| self.tb.nodes[c.ty.node].clone());
                    if let (Some(n), Some(en)) = (node, entity_node) {
                        for p in &n.properties {
                            let Some(ep) = en.properties.iter().find(|x| x.name == p.name) else {
                                continue;
                            };
                            if ep.read_only || p.read_only || p.name == e.key.json_name {
                                continue;
                            }
                            if let Some(c) = e.columns.iter().find(|c| c.json_name == p.name) {
                                op.patch_fields.push(Assign {
                                    field: c.field.clone(),
                                    expr: rust_str(&p.name),
                                });
                            }
                        }
                    }
                }
                if !e.updated_field.is_empty() {
                    let optional = e
                        .columns
                        .iter()
                        .find(|c| c.field == e.updated_field)
                        .is_some_and(|c| c.row_ty.starts_with("Option<"));
                    op.touch_expr = if optional {
                        format!("current.{} = Some(chrono::Utc::now());", e.updated_field)
                    } else {
                        format!("current.{} = chrono::Utc::now();", e.updated_field)
                    };
                }
            }
            op.uses_now = op.assigns.iter().any(|a| a.expr.contains("now"));
            op.filter_rest = e.filters.len() > op.filters.len() + op.scope.len();
        }
    }

    /// The operation's path with each parameter replaced by a valid sample value.
    fn sample_url(&self, o: &Operation) -> Option<String> {
        let node = self.tb.node_of(&o.path_schema)?;
        let mut url = o.path.clone();
        for p in self.tb.nodes[node].properties.clone() {
            let v = self.tb.sample(p.node, 0, 1)?;
            let text = match v {
                Value::String(s) => s,
                Value::Array(a) => a
                    .iter()
                    .map(|x| {
                        x.as_str()
                            .map(String::from)
                            .unwrap_or_else(|| x.to_string())
                    })
                    .collect::<Vec<_>>()
                    .join(","),
                other => other.to_string(),
            };
            url = url.replace(&format!("{{{}}}", p.name), &percent_encode(&text));
        }
        let qnode = self.tb.node_of(&o.query_schema)?;
        let mut qs = Vec::new();
        for p in self.tb.nodes[qnode].properties.clone() {
            if !p.required {
                continue;
            }
            let v = self.tb.sample(p.node, 0, 1)?;
            let vals = match v {
                Value::Array(a) => a,
                other => vec![other],
            };
            for v in vals {
                let text = match v {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                qs.push(format!(
                    "{}={}",
                    percent_encode(&p.name),
                    percent_encode(&text)
                ));
            }
        }
        if !qs.is_empty() {
            url = format!("{url}?{}", qs.join("&"));
        }
        Some(url)
    }
}

/// Whether a Rust type spelled `ty` is `Copy` (primitives, UUIDs, chrono values, string
/// enums, and `Option`s of those), so generated code copies instead of cloning.
fn is_copy(ty: &str, enums: &std::collections::HashSet<String>) -> bool {
    let ty = ty.replace("crate::models::", "");
    let inner = ty
        .strip_prefix("Option<")
        .and_then(|s| s.strip_suffix('>'))
        .unwrap_or(&ty);
    matches!(
        inner,
        "i32"
            | "i64"
            | "f64"
            | "bool"
            | "uuid::Uuid"
            | "chrono::DateTime<chrono::Utc>"
            | "chrono::NaiveDate"
    ) || enums.contains(inner)
}

fn copy_or_clone(expr: &str, ty: &str, enums: &std::collections::HashSet<String>) -> String {
    if is_copy(ty, enums) {
        expr.to_string()
    } else {
        format!("{expr}.clone()")
    }
}

/// Prefixes named model types with `crate::models::` so generated code needs no imports.
pub fn qualify(ty: &str) -> String {
    let mut out = String::new();
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if !word.is_empty() {
            let std_names = [
                "Option",
                "Vec",
                "Box",
                "String",
                "i32",
                "i64",
                "f64",
                "bool",
                "serde_json",
                "Value",
                "Map",
                "std",
                "collections",
                "BTreeMap",
                "uuid",
                "Uuid",
                "chrono",
                "DateTime",
                "Utc",
                "NaiveDate",
                "crate",
                "models",
                "pagination",
                "Page",
            ];
            let starts_upper = word.starts_with(|c: char| c.is_ascii_uppercase());
            let prev_is_path = out.ends_with("::");
            if starts_upper && !prev_is_path && !std_names.contains(&word.as_str()) {
                out.push_str("crate::models::");
            }
            out.push_str(word);
            word.clear();
        }
    };
    for ch in ty.chars() {
        if ch.is_ascii_alphanumeric() || ch == '_' {
            word.push(ch);
        } else {
            flush(&mut word, &mut out);
            out.push(ch);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// Resolves each test prerequisite (a referenced table) to that table's create URL and
/// sample; a resource whose prerequisite cannot be created gets no CRUD tests.
fn link_prereqs(resources: &mut [Resource]) {
    type Creatable = (String, String, String, String, String, u16, bool);
    let creatable: Vec<Creatable> = resources
        .iter()
        .filter_map(|r| {
            r.entity.as_ref().map(|e| {
                (
                    e.table.clone(),
                    r.tests.collection_url.clone(),
                    r.tests.sample.clone(),
                    r.tests.sample2.clone(),
                    r.tests.id_pointer.clone(),
                    r.tests.create_status,
                    r.tests.crud && r.tests.prereqs.is_empty(),
                )
            })
        })
        .collect();
    for r in resources.iter_mut() {
        let mut ok = true;
        for p in &mut r.tests.prereqs {
            match creatable.iter().find(|c| c.0 == p.body && c.6) {
                Some(c) => {
                    p.url = c.1.clone();
                    p.body = c.2.clone();
                    p.body2 = c.3.clone();
                    p.id_pointer = c.4.clone();
                    p.status = c.5;
                }
                None => ok = false,
            }
        }
        if !ok {
            r.tests.crud = false;
            r.tests.prereqs.clear();
        }
    }
}

/// Entities ordered so that a table comes after every table it references.
fn table_order(resources: &[Resource]) -> Vec<Entity> {
    let mut pending: Vec<Entity> = resources.iter().filter_map(|r| r.entity.clone()).collect();
    let mut out: Vec<Entity> = Vec::new();
    while !pending.is_empty() {
        let names: Vec<String> = pending.iter().map(|e| e.table.clone()).collect();
        let ready = pending.iter().position(|e| {
            !e.foreign_keys.iter().any(|fk| {
                names
                    .iter()
                    .any(|n| n != &e.table && fk.contains(&format!("REFERENCES \"{n}\"")))
            })
        });
        let i = ready.unwrap_or(0);
        out.push(pending.remove(i));
    }
    out
}

/// Operations without `responses` (required by OpenAPI 3.0.3 §4.7.10), each at its pointer;
/// openapiv3 would only say "missing field" somewhere under `/paths`.
fn missing_responses(file: &str, doc: &Value) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    if let Some(Value::Object(paths)) = doc.get("paths") {
        for (p, item) in paths {
            for m in [
                "get", "put", "post", "delete", "options", "head", "patch", "trace",
            ] {
                if let Some(Value::Object(op)) = item.get(m) {
                    if !op.contains_key("responses") {
                        let pointer = ptr(&ptr("/paths", p), m);
                        out.push(Diagnostic::new(Severity::Error, file, pointer, "the operation has no `responses`").hint("OpenAPI 3.0 requires at least one response per operation (§4.7.10); add one, for example `'200': {description: OK}`"));
                    }
                }
            }
        }
    }
    out
}

/// The SQL column for a JSON property name: snake_case, never starting with a digit.
pub fn column_name(json_name: &str) -> String {
    let s = json_name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { ' ' })
        .collect::<String>()
        .to_snake_case();
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) {
        format!("c_{s}")
    } else {
        s
    }
}

/// A contract `default` as an SQL literal valid in SQLite and PostgreSQL, when it is a
/// scalar (objects and arrays get no SQL default).
fn sql_literal(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(format!("'{}'", s.replace('\'', "''"))),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(if *b { "TRUE".into() } else { "FALSE".into() }),
        _ => None,
    }
}

/// One column definition of `CREATE TABLE` / `ADD COLUMN`. Constraints carry explicit
/// names (`<table>_<column>_key`, `_check`) so later migrations can drop or replace them.
pub fn column_def(
    table: &str,
    c: &Column,
    is_key: bool,
    key_strategy: &str,
    postgres: bool,
) -> String {
    let ty = if postgres {
        &c.postgres_type
    } else {
        &c.sqlite_type
    };
    let mut def = format!("\"{}\" {ty}", c.name);
    if is_key {
        def.push_str(if postgres || key_strategy == "integer" {
            " PRIMARY KEY"
        } else {
            " PRIMARY KEY NOT NULL"
        });
        return def;
    }
    if c.not_null {
        def.push_str(" NOT NULL");
    }
    if !c.default_sql.is_empty() {
        def.push_str(&format!(" DEFAULT {}", c.default_sql));
    }
    if c.unique {
        def.push_str(&format!(" CONSTRAINT \"{table}_{}_key\" UNIQUE", c.name));
    }
    let checks = if postgres {
        &c.postgres_checks
    } else {
        &c.sqlite_checks
    };
    if !checks.is_empty() {
        def.push_str(&format!(
            " CONSTRAINT \"{table}_{}_check\" CHECK ({})",
            c.name,
            checks.join(" AND ")
        ));
    }
    def
}

fn base_has(v: &Value, key: &str) -> bool {
    v.as_object().is_some_and(|o| o.contains_key(key))
}

fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `http::StatusCode` associated constant for a code, or `from_u16` for unusual ones.
fn status_const(code: u16) -> String {
    let name = match code {
        200 => "OK",
        201 => "CREATED",
        202 => "ACCEPTED",
        203 => "NON_AUTHORITATIVE_INFORMATION",
        204 => "NO_CONTENT",
        205 => "RESET_CONTENT",
        206 => "PARTIAL_CONTENT",
        207 => "MULTI_STATUS",
        _ => "OK",
    };
    name.to_string()
}

/// axum routes for OpenAPI paths: each parameter is renamed after the first parameter seen
/// at the same position under the same prefix, so sibling routes never clash in the router
/// (`/pets/{petId}` and `/pets/{id}/toys` share one name).
pub fn canonical_routes<'p>(paths: impl Iterator<Item = &'p str>) -> IndexMap<String, String> {
    let mut names: IndexMap<String, String> = IndexMap::new();
    let mut out = IndexMap::new();
    for path in paths {
        if out.contains_key(path) {
            continue;
        }
        let mut prefix = String::new();
        let mut route = String::new();
        let mut used = Namespace::new();
        for seg in path.split('/').skip(1) {
            if seg.starts_with('{') && seg.ends_with('}') && seg.matches('{').count() == 1 {
                let key = format!("{prefix}/{{}}");
                let candidate = names
                    .entry(key.clone())
                    .or_insert_with(|| snake_ident(seg.trim_matches(['{', '}']), "param"))
                    .clone();
                let name = used.claim(&candidate);
                route.push_str(&format!("/{{{name}}}"));
                prefix = key;
            } else {
                let lit = seg.replace('{', "{{").replace('}', "}}");
                route.push('/');
                route.push_str(&lit);
                prefix = format!("{prefix}/{seg}");
            }
        }
        if route.is_empty() {
            route.push('/');
        }
        out.insert(path.to_string(), route);
    }
    out
}
