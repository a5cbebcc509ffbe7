//! Resolves an OpenAPI 3.0 document (3.1 arrives normalised) into the `Model`.
//!
//! Owns grouping paths into resources, mapping operations to CRUD kinds, choosing the
//! entity schema stored in a table, parameters, bodies, success responses, axum routes
//! and the data the generated tests use. Types come from `types::TypeBuilder`.
//! **Invariant:** an operation apigen cannot serve in full still gets a handler that
//! compiles and answers 501, plus a diagnostic naming the construct and its location.

use super::names::{doc_line, pascal_ident, rust_str, snake_ident, with_article, Namespace};
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

mod entities;
mod implement;
mod operations;
mod paths;
mod test_plan;

use entities::*;
use operations::operation_kind;
use paths::*;
use test_plan::*;

/// Upper bound on rows a list returns in one page, whatever the client asks.
pub const MAX_PAGE: i64 = 100;

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
        path_structs: IndexMap::new(),
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

/// A path-parameter struct: its validation node, its name, its parameters' types.
type PathStruct = (usize, String, Vec<(String, Ty)>);

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
    /// The path-parameter structs of the resource being resolved, by the parameters they
    /// hold: (validation node, struct name, parameter types).
    path_structs: IndexMap<String, PathStruct>,
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

    /// Names the path-parameter structs several operations share after what they address:
    /// `BookPath` for the item of books (one per distinct parameter list; the first keeps
    /// the plain name, later ones take the operation's).
    fn name_shared_path_structs(&mut self, ops: &mut [Operation], subject: &str) {
        let mut named = false;
        let shared: Vec<(String, String)> = ops
            .iter()
            .filter(|o| !o.path_struct.is_empty())
            .map(|o| (o.path_struct.clone(), o.path_schema.clone()))
            .fold(Vec::<(String, String, usize)>::new(), |mut acc, (s, n)| {
                match acc.iter_mut().find(|(x, _, _)| *x == s) {
                    Some(e) => e.2 += 1,
                    None => acc.push((s, n, 1)),
                }
                acc
            })
            .into_iter()
            .filter(|(_, _, uses)| *uses > 1)
            .map(|(s, n, _)| (s, n))
            .collect();
        for (old, node_ident) in shared {
            if named {
                continue;
            }
            let Some(node) = self.tb.node_of(&node_ident) else {
                continue;
            };
            named = true;
            let name = self.tb.type_names.claim(&format!("{subject}Path"));
            let ident = self.tb.rename_node(node, &format!("{subject} path"));
            for o in ops.iter_mut().filter(|o| o.path_struct == old) {
                o.path_struct = name.clone();
                o.path_schema = ident.clone();
            }
        }
    }

    /// Every path and query parameter struct, once, and the model types they use.
    fn param_structs(&self, resources: &[Resource]) -> (Vec<ParamStruct>, Vec<String>) {
        let mut out: Vec<(ParamStruct, Vec<String>)> = Vec::new();
        for op in resources.iter().flat_map(|r| r.operations.iter()) {
            for (name, fields, what) in [
                (&op.path_struct, &op.path_params, "Path"),
                (&op.query_struct, &op.query_params, "Query"),
            ] {
                if name.is_empty() {
                    continue;
                }
                let at = format!("`{} {}`", op.method_upper, op.path);
                let sent = what == "Query" && !op.unapplied_query.is_empty();
                match out.iter_mut().find(|(s, _)| s.name == *name) {
                    Some((s, ats)) => {
                        s.sent |= sent;
                        ats.push(at)
                    }
                    None => out.push((
                        ParamStruct {
                            name: name.clone(),
                            doc: String::new(),
                            fields: fields.clone(),
                            sent,
                        },
                        vec![format!("{what} parameters of {at}")],
                    )),
                }
            }
        }
        let mut models = Imports::default();
        let structs = out
            .into_iter()
            .map(|(mut s, ats)| {
                s.doc = match ats.len() {
                    1 => format!("{}.", ats[0]),
                    2 => format!("{} and {}.", ats[0], ats[1]),
                    n => format!("{}, {} and {} more operations.", ats[0], ats[1], n - 2),
                };
                for f in &s.fields {
                    for n in self.model_names(&f.ty) {
                        models.model(&n);
                    }
                }
                s
            })
            .collect();
        (structs, models.models)
    }

    fn run(
        &mut self,
        api: &OpenAPI,
        served: &Value,
        package: Option<String>,
        is_domain: bool,
    ) -> Model {
        let title = api.info.title.clone();
        let package = package.unwrap_or_else(|| super::names::package_name(&title));
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
            "defaults",
            "repositories",
        ] {
            modules.reserve(reserved);
        }
        let mut funcs = Namespace::new();
        let mut resources = Vec::new();
        let mut seen_routes: IndexMap<(String, String, String), String> = IndexMap::new();
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
            self.path_structs.clear();
            for &i in idxs {
                let o = &raw_ops[i];
                let route = routes_map
                    .get(&o.path)
                    .cloned()
                    .unwrap_or_else(|| o.path.clone());
                // Paths sharing a route but splitting a segment differently are told apart
                // by their templates at run time, so they are different routes here.
                let template = format!("{:?}", paths::split_positions(&o.path));
                let seen = (route.clone(), template, o.method.to_string());
                if let Some(prev) = seen_routes.get(&seen) {
                    self.diag(Severity::Warning, &o.pointer, format!("`{} {}` is the same route as `{prev}`; it is skipped", o.method.to_uppercase(), o.path), "two paths that differ only in parameter names are the same path (OpenAPI 3.0.3 §4.7.8)");
                    continue;
                }
                seen_routes.insert(seen, o.path.clone());
                let p = placement(&o.path);
                // Operations folded in from a sub-path are actions, whatever their method.
                let foreign = p.collection != *coll
                    && entity.as_ref().is_none_or(|_| o.method != "get" || p.item);
                let op = self.operation(o, &route, p.item, entity.as_ref(), &mut funcs, foreign);
                ops.push(op);
                raw_of.push(i);
            }
            let entity_model = entity.as_ref().map(|e| self.entity(e, &module));
            let subject = entity_model.as_ref().map_or_else(
                || pascal_ident(&super::names::singular(&module), "Item"),
                |e| e.type_name.clone(),
            );
            self.name_shared_path_structs(&mut ops, &subject);
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
                // An action on one row of an owned table can be owner-checked: the handler
                // loads the row through the owner filter before the user's code runs.
                let row_key = match &entity_model {
                    Some(e) if owned && op.kind == OperationKind::Custom => {
                        action_row_key(&o.path, coll, &op.path_params, &e.key_ty)
                    }
                    _ => String::new(),
                };
                let (guard, owner, access) = sec.operation(
                    &raw,
                    &o.pointer,
                    &op.operation_id,
                    &op.func,
                    &op.method,
                    &op.route,
                    url,
                    owned && (op.implemented || !row_key.is_empty()),
                    &declared,
                );
                op.guard = guard;
                op.owner = owner;
                op.access = access;
                if owner {
                    op.owned_row = row_key;
                }
                op.caller_used = op.implemented
                    && (owner
                        || (owned && op.kind == OperationKind::Create)
                        || !op.paging.deleted.is_empty());
            }
            let mut res = Resource {
                module,
                label: hint.replace(['_', '-'], " "),
                entity: entity_model,
                operations: ops,
                tests: ResourceTests::default(),
                imports: ResourceImports::default(),
            };
            self.finish_operations(&mut res);
            self.finalize(&mut res, entity.as_ref());
            for op in &mut res.operations {
                op.if_none_match = op.etag && op.kind == OperationKind::Read;
            }
            let ops = &res.operations;
            res.imports.routes.conditional = [
                ("self", ops.iter().any(|o| o.etag)),
                ("IfNoneMatchHeader", ops.iter().any(|o| o.if_none_match)),
                ("Precondition", ops.iter().any(|o| o.conditional)),
            ]
            .into_iter()
            .filter(|&(_, used)| used)
            .map(|(name, _)| name.to_string())
            .collect();
            res.tests = self.tests(&res, entity.as_ref());
            resources.push(res);
        }
        link_prereqs(&mut resources);
        // 3. Routes, grouped by axum path, and within one by the contract path's template.
        let mut routes: IndexMap<String, IndexMap<String, Vec<RouteHandler>>> = IndexMap::new();
        for r in &resources {
            for o in &r.operations {
                let key = paths::split_positions(&o.path)
                    .iter()
                    .map(|(i, pieces)| format!("{i}:{pieces:?}"))
                    .collect::<Vec<_>>()
                    .join("/");
                routes
                    .entry(o.route.clone())
                    .or_default()
                    .entry(key)
                    .or_default()
                    .push(RouteHandler {
                        method: o.method.clone(),
                        module: r.module.clone(),
                        func: o.func.clone(),
                        guard: o.guard.clone(),
                        path: o.path.clone(),
                    });
            }
        }
        let routes: Vec<Route> = routes
            .into_iter()
            .map(|(path, by_template)| route_of(path, by_template))
            .collect();
        // Routes matched by template name their methods in full (`axum::routing::post`), so
        // only plain routes need the import.
        let mut route_methods: Vec<String> = Vec::new();
        for r in routes.iter().filter(|r| r.variants.is_empty()) {
            if let Some(first) = r.handlers.first() {
                if !route_methods.contains(&first.method) {
                    route_methods.push(first.method.clone());
                }
            }
        }
        route_methods.sort();
        let (param_structs, param_models) = self.param_structs(&resources);
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
        let query_probe = resources
            .iter()
            .flat_map(|r| r.operations.iter())
            .filter(|o| o.implemented && o.method == "get" && !o.query_struct.is_empty())
            .find_map(|o| self.sample_url(o));
        let paths: Vec<String> = api.paths.paths.keys().cloned().collect();
        let deepest = paths
            .iter()
            .map(|p| p.split('/').filter(|s| !s.is_empty()).count())
            .max()
            .unwrap_or(0);
        let unknown_route = format!("/no/such/route{}", "/x".repeat(deepest.saturating_sub(2)));
        let base = self
            .raw
            .get("x-apigen-base-path")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let sec = self.sec.take().expect("security resolver present");
        let (security, sec_diags) = sec.finish(&paths, &base);
        self.diags.extend(sec_diags);
        let list_wrappers = resources
            .iter()
            .flat_map(|r| r.operations.iter())
            .any(|o| !o.list_wrapper.is_empty());
        let errors = if is_domain || self.envelope {
            crate::resolve::errors::apigen_format(self.envelope)
        } else {
            crate::resolve::errors::contract_format(api, &mut self.tb)
        };
        let mut doc = served.clone();
        for (at, media) in &self.unserved_media {
            if let Some(m) = doc.pointer_mut(at).and_then(Value::as_object_mut) {
                m.shift_remove(media);
            }
        }
        document_control_characters(&mut doc);
        let mut openapi_json = serde_json::to_string_pretty(&doc).unwrap_or_default();
        openapi_json.push('\n');
        let service_paths = crate::model::ServicePaths::for_routes(&routes, &security.auth_prefix);
        for (default, path) in &service_paths.moved {
            self.diags.push(
                Diagnostic::new(
                    Severity::Info,
                    &self.file,
                    "#/paths",
                    format!("the contract routes `{default}`, a path of the service's own endpoints: its operation keeps it, and the endpoint is served at `{path}`"),
                )
                .hint("probes and scrapers use the moved path (see the generated README); the environment can choose another"),
            );
        }
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
            param_structs,
            param_models,
            schemas,
            resources,
            routes,
            service_paths,
            route_methods,
            openapi_json,
            tables,
            account_tables_sqlite: crate::runtime::account_tables(Database::Sqlite).into(),
            account_tables_postgres: crate::runtime::account_tables(Database::Postgres).into(),
            body_probe,
            query_probe,
            unknown_route,
            security,
            errors,
            list_wrappers,
            regex_crate: if crate::resolve::types::needs_full_regex(
                self.tb.nodes.iter().filter_map(|n| n.pattern.as_deref()),
            ) {
                "regex".into()
            } else {
                "regex-lite".into()
            },
            diagnostics: vec![],
        }
    }
}

/// The served document's `pattern` for text the service refuses control characters in:
/// C0 but tab, line feed and carriage return, DEL and C1 (the runtime's validation rule).
/// ECMA-262 syntax, as JSON Schema's `pattern` is (JSON Schema Validation §6.3.3).
pub const NO_CONTROL_CHARACTERS: &str = "^[^\\x00-\\x08\\x0B\\x0C\\x0E-\\x1F\\x7F-\\x9F]*$";

/// Says in the served document what the service enforces beyond the contract's words:
/// every free-text string schema (no `pattern`, `format`, `enum` or `const`, and no
/// `x-apigen-control-characters: true`) gets [`NO_CONTROL_CHARACTERS`] as its `pattern`,
/// so clients and contract testers (schemathesis) know such text is refused with 400.
/// Walks every schema position; examples are left as written.
fn document_control_characters(v: &mut Value) {
    match v {
        Value::Object(o) => {
            let text = match o.get("type") {
                Some(Value::String(t)) => t == "string",
                Some(Value::Array(ts)) => ts.iter().any(|t| t == "string"),
                _ => false,
            };
            let constrained = ["pattern", "format", "enum", "const", "$ref"]
                .iter()
                .any(|k| o.contains_key(*k))
                || o.get("x-apigen-control-characters")
                    .and_then(Value::as_bool)
                    == Some(true);
            if text && !constrained {
                o.insert(
                    "pattern".into(),
                    Value::String(NO_CONTROL_CHARACTERS.into()),
                );
            }
            for (k, child) in o.iter_mut() {
                if !matches!(
                    k.as_str(),
                    "example" | "examples" | "default" | "x-apigen-fixture"
                ) {
                    document_control_characters(child);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(document_control_characters),
        _ => {}
    }
}

/// The path field holding the key of the row an action on `path` acts on: `path` is
/// `{collection}/{param}/…` with `{param}` its last path parameter, of the key's type
/// `key_ty`. Empty when the action is not on one row of the collection.
fn action_row_key(path: &str, collection: &str, params: &[Param], key_ty: &str) -> String {
    let Some(rest) = path
        .strip_prefix(collection)
        .and_then(|r| r.strip_prefix("/{"))
    else {
        return String::new();
    };
    let Some((name, tail)) = rest.split_once('}') else {
        return String::new();
    };
    let Some(last) = params.last() else {
        return String::new();
    };
    let last_name: String = serde_json::from_str(&last.name_lit).unwrap_or_default();
    let one_row = tail.starts_with('/') && !tail.contains('{');
    let key_fits = last.ty == key_ty || last.ty == format!("Option<{key_ty}>");
    if one_row && last_name == name && key_fits {
        last.field.clone()
    } else {
        String::new()
    }
}

/// The route at axum path `path` from its handlers grouped by template (the empty key: the
/// contract path whose segments are whole parameters). One group is served as it is;
/// several are told apart at run time, the most literal text first.
fn route_of(path: String, by_template: IndexMap<String, Vec<RouteHandler>>) -> Route {
    use paths::TemplatePiece;
    if by_template.len() == 1 {
        let handlers = by_template.into_values().next().unwrap_or_default();
        return Route {
            path,
            handlers,
            variants: vec![],
        };
    }
    let mut plain = Vec::new();
    let mut variants: Vec<(usize, RouteVariant)> = Vec::new();
    for (key, handlers) in by_template {
        if key.is_empty() {
            plain = handlers;
            continue;
        }
        let positions = handlers
            .first()
            .map(|h| paths::split_positions(&h.path))
            .unwrap_or_default();
        let literal: usize = positions
            .iter()
            .flat_map(|(_, ps)| ps.iter())
            .map(|p| match p {
                TemplatePiece::Lit(l) => l.len(),
                TemplatePiece::Param(_) => 0,
            })
            .sum();
        let segments = positions
            .iter()
            .map(|(i, pieces)| {
                let ps: Vec<String> = pieces
                    .iter()
                    .map(|p| match p {
                        TemplatePiece::Lit(l) => {
                            format!("apigen_runtime::extract::Piece::Lit({})", rust_str(l))
                        }
                        TemplatePiece::Param(_) => {
                            "apigen_runtime::extract::Piece::Param".to_string()
                        }
                    })
                    .collect();
                format!("({i}, &[{}])", ps.join(", "))
            })
            .collect();
        let mut methods: Vec<String> = handlers.iter().map(|h| h.method.to_uppercase()).collect();
        methods.dedup();
        variants.push((
            literal,
            RouteVariant {
                segments,
                methods,
                handlers,
            },
        ));
    }
    variants.sort_by_key(|v| std::cmp::Reverse(v.0));
    Route {
        path,
        handlers: plain,
        variants: variants.into_iter().map(|(_, v)| v).collect(),
    }
}
