//! Designs an OpenAPI document from a domain spec, by the backend standards apigen
//! follows (plural nouns under a version prefix, the envelope, cursors, merge-patch PATCH,
//! every status code documented).
//!
//! Owns the translation of `spec::DomainSpec` into an OpenAPI 3.0.3 document carrying
//! `x-apigen-*` extensions (table, envelope, pagination, uniqueness, references). The
//! result is both the document the service serves and the input of the one resolver, so
//! domain specs and OpenAPI contracts share every later stage. It must not build model types.

use super::names::{plural, snake_ident, with_article};
use crate::diag::{ptr, Diagnostic, Severity};
use crate::spec::{DomainSpec, FieldSpec, ResourceSpec, Unique};
use heck::{ToLowerCamelCase, ToPascalCase};
use serde_json::{json, Map, Value};

const OPS: [&str; 6] = ["list", "create", "read", "replace", "update", "delete"];
/// The field types of the domain spec (and of `add-resource`).
pub const TYPES: [&str; 12] = [
    "string", "text", "integer", "bigint", "number", "boolean", "uuid", "email", "url", "date",
    "datetime", "json",
];

/// Translates `spec` into an OpenAPI document. Problems (unknown types, refs to missing
/// resources, clashing names) are returned as diagnostics against `file`.
pub fn to_openapi(spec: &DomainSpec, file: &str) -> (Value, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let base = spec.base_path.clone().unwrap_or_else(|| "/api/v1".into());
    let base = base.trim_end_matches('/').to_string();
    let offset = spec.pagination.as_deref() == Some("offset");
    if let Some(p) = spec.pagination.as_deref() {
        if p != "offset" && p != "cursor" {
            diags.push(
                Diagnostic::new(
                    Severity::Error,
                    file,
                    "/pagination",
                    format!("unknown pagination `{p}`"),
                )
                .hint("use `cursor` or `offset`"),
            );
        }
    }
    if spec.name.trim().is_empty()
        || !spec
            .name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
        || !spec
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        diags.push(Diagnostic::new(Severity::Error, file, "/name", format!("invalid service name `{}`", spec.name)).hint("use letters, digits, `-` and `_`, starting with a letter (it becomes the crate name)"));
    }
    let mut schemas = Map::new();
    let mut paths = Map::new();
    schemas.insert("Error".into(), error_schema());
    schemas.insert("PageMeta".into(), page_meta(offset));
    let style = Style {
        envelope: true,
        offset,
        base: base.clone(),
        errors: ErrorAnswer::Schema("#/components/schemas/Error".into()),
    };
    for (rname, res) in &spec.resources {
        design_resource(
            spec,
            rname,
            res,
            &style,
            file,
            &mut diags,
            &mut schemas,
            &mut paths,
        );
    }
    let title = spec.title.clone().unwrap_or_else(|| spec.name.clone());
    let mut info =
        json!({"title": title, "version": spec.version.clone().unwrap_or_else(|| "1.0.0".into())});
    if let Some(d) = &spec.description {
        info["description"] = Value::String(d.clone());
    }
    let secured = spec.auth.is_some() || spec.resources.values().any(|r| !r.access.is_empty());
    let mut components = json!({"schemas": schemas});
    if secured {
        components["securitySchemes"] = json!({
            "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT", "description": "An access token from `POST /auth/login`."},
            "apiKeyAuth": {"type": "apiKey", "in": "header", "name": "X-API-Key", "description": "An API key issued by an administrator."},
        });
    }
    let mut doc = json!({
        "openapi": "3.0.3",
        "info": info,
        "x-apigen-envelope": true,
        "x-apigen-name": spec.name,
        "x-apigen-base-path": base,
        "paths": paths,
        "components": components,
    });
    if let Some(auth) = &spec.auth {
        let mut a = json!({"roles": auth.roles});
        if let Some(d) = &auth.default_role {
            a["default_role"] = Value::String(d.clone());
        }
        if let Some(r) = &auth.registration {
            if r != "open" && r != "closed" {
                diags.push(
                    Diagnostic::new(Severity::Error, file, "/auth/registration", format!("unknown registration `{r}`"))
                        .hint("use `open` (anyone may sign up) or `closed` (the default: an administrator creates accounts)"),
                );
            }
            a["registration"] = Value::String(r.clone());
        }
        if !auth.scopes.is_empty() {
            a["scopes"] = json!(auth.scopes);
        }
        doc["x-apigen-auth"] = a;
        if auth.roles.is_empty() {
            diags.push(
                Diagnostic::new(
                    Severity::Error,
                    file,
                    "/auth/roles",
                    "`auth` needs at least one role",
                )
                .hint("for example `roles: [admin, user]` (the first is the administrator)"),
            );
        }
    }
    (doc, diags)
}

/// How designed operations answer.
pub struct Style {
    /// Bodies in the `{"data", "meta", "error"}` envelope (domain specs); else bare bodies,
    /// as a resource added to an OpenAPI contract answers.
    pub envelope: bool,
    /// Lists page by number (`page`, `perPage`) rather than by cursor. Without the envelope
    /// a list is a bare array, with no place for a next cursor, so it pages by number.
    pub offset: bool,
    /// Path prefix of every path (`/api/v1`).
    pub base: String,
    /// What error answers carry.
    pub errors: ErrorAnswer,
}

/// The body of a designed operation's error answers.
#[derive(Debug, Clone)]
pub enum ErrorAnswer {
    /// `application/json` with this schema (a `$ref`).
    Schema(String),
    /// The contract's own response object (a `$ref` to `#/components/responses/…`).
    Response(String),
    /// The contract's own `content` map, copied.
    Content(Value),
    /// A description alone: the contract documents no error body.
    None,
}

/// Designs the operations, paths and schemas of one resource of `spec` into `paths` and
/// `schemas`: list, create, read, replace, update (a merge-patch `…Patch` schema), delete,
/// its actions and a nested list per reference, each with its access rules and every
/// answer it can give.
#[allow(clippy::too_many_arguments)]
pub fn design_resource(
    spec: &DomainSpec,
    rname: &str,
    res: &ResourceSpec,
    style: &Style,
    file: &str,
    diags: &mut Vec<Diagnostic>,
    schemas: &mut Map<String, Value>,
    paths: &mut Map<String, Value>,
) {
    let (base, offset) = (style.base.as_str(), style.offset);
    let error_schema = &style.errors;
    let rptr = ptr("/resources", rname);
    let singular = snake_ident(rname, "resource");
    if singular != *rname {
        diags.push(
            Diagnostic::new(
                Severity::Error,
                file,
                &rptr,
                format!("resource name `{rname}` is not snake_case"),
            )
            .hint(format!("rename it `{singular}`")),
        );
    }
    let plural_name = res.plural.clone().unwrap_or_else(|| plural(&singular));
    let type_name = singular.to_pascal_case();
    let (schema, filters, sorts) = entity_schema(spec, rname, res, &rptr, file, diags, schemas);
    // PATCH takes any subset of the fields (RFC 7396 merge patch): the same properties,
    // none required.
    let mut patch = schema.clone();
    if let Some(m) = patch.as_object_mut() {
        m.remove("required");
        m.insert(
            "description".into(),
            Value::String(format!(
                "Fields of {} to change; those left out keep their value.",
                with_article(&singular.replace('_', " "))
            )),
        );
    }
    schemas.insert(format!("{type_name}Patch"), patch);
    schemas.insert(type_name.clone(), schema);
    if style.envelope {
        schemas.insert(
            format!("{type_name}Envelope"),
            envelope(
                json!({"$ref": format!("#/components/schemas/{type_name}")}),
                json!({"type": "object"}),
            ),
        );
        schemas.insert(format!("{type_name}ListEnvelope"), envelope(json!({"type": "array", "items": {"$ref": format!("#/components/schemas/{type_name}")}}), json!({"$ref": "#/components/schemas/PageMeta"})));
    }
    for e in &res.except {
        if !OPS.contains(&e.as_str()) {
            diags.push(
                Diagnostic::new(
                    Severity::Error,
                    file,
                    ptr(&rptr, "except"),
                    format!("unknown operation `{e}`"),
                )
                .hint(format!("use one of {}", OPS.join(", "))),
            );
        }
    }
    for k in res.access.keys() {
        if !OPS.contains(&k.as_str()) && !res.actions.contains(k) {
            diags.push(
                Diagnostic::new(
                    Severity::Error,
                    file,
                    ptr(&ptr(&rptr, "access"), k),
                    format!("`{k}` is neither an operation nor an action of `{rname}`"),
                )
                .hint(format!(
                    "use one of {} or a declared action",
                    OPS.join(", ")
                )),
            );
        }
    }
    let has = |op: &str| !res.except.iter().any(|e| e == op);
    let coll = format!("{base}/{plural_name}");
    let item = format!("{coll}/{{id}}");
    let (one, many) = if style.envelope {
        (
            json!({"$ref": format!("#/components/schemas/{type_name}Envelope")}),
            json!({"$ref": format!("#/components/schemas/{type_name}ListEnvelope")}),
        )
    } else {
        (
            json!({"$ref": format!("#/components/schemas/{type_name}")}),
            json!({"type": "array", "items": {"$ref": format!("#/components/schemas/{type_name}")}}),
        )
    };
    let entity_ref = json!({"$ref": format!("#/components/schemas/{type_name}")});
    let patch_ref = json!({"$ref": format!("#/components/schemas/{type_name}Patch")});
    let label = singular.replace('_', " ");
    let id_param = json!({"name": "id", "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}});
    let plural_pascal = plural_name.to_pascal_case();
    let plural_words = plural_name.replace('_', " ");
    let write_errors: &[&str] = &["400", "404", "409", "412", "413", "415", "422", "428"];
    // (operation, on the item path?, method, operationId, summary, body?, status, response?, errors)
    type OpRow<'a> = (
        &'a str,
        bool,
        &'a str,
        String,
        String,
        bool,
        &'a str,
        Option<&'a Value>,
        &'a [&'a str],
    );
    let rows: [OpRow; 6] = [
        (
            "list",
            false,
            "get",
            format!("list{plural_pascal}"),
            format!("List {plural_words}"),
            false,
            "200",
            Some(&many),
            &["400"],
        ),
        (
            "create",
            false,
            "post",
            format!("create{type_name}"),
            format!("Create {}", with_article(&label)),
            true,
            "201",
            Some(&one),
            &["400", "409", "413", "415", "422"],
        ),
        (
            "read",
            true,
            "get",
            format!("get{type_name}"),
            format!("Get {}", with_article(&label)),
            false,
            "200",
            Some(&one),
            &["304", "400", "404"],
        ),
        (
            "replace",
            true,
            "put",
            format!("replace{type_name}"),
            format!("Replace {}", with_article(&label)),
            true,
            "200",
            Some(&one),
            write_errors,
        ),
        (
            "update",
            true,
            "patch",
            format!("update{type_name}"),
            format!("Update {} partially", with_article(&label)),
            true,
            "200",
            Some(&one),
            write_errors,
        ),
        (
            "delete",
            true,
            "delete",
            format!("delete{type_name}"),
            format!("Delete {}", with_article(&label)),
            false,
            "204",
            None,
            &["400", "404", "409", "412", "428"],
        ),
    ];
    let mut coll_item = Map::new();
    let mut item_item = Map::new();
    for (name, on_item, method, id, summary, body, status, response, errors) in rows {
        if !has(name) {
            continue;
        }
        let params = match (name, on_item) {
            ("list", _) => {
                let mut params = list_params(&filters, &sorts, offset);
                if res.soft_delete {
                    params.push(json!({"name": "deleted", "in": "query", "description": "Administrators only: `true` lists the deleted rows instead of the live ones (each can be restored).", "schema": {"type": "boolean", "default": false}}));
                }
                params
            }
            (_, true) => vec![id_param.clone()],
            _ => vec![],
        };
        let mut o = op(
            &id,
            &summary,
            params,
            body.then(|| {
                if name == "update" {
                    patch_ref.clone()
                } else {
                    entity_ref.clone()
                }
            }),
            status,
            response.cloned(),
            errors,
            name == "list",
            error_schema,
        );
        if matches!(name, "read" | "create" | "replace" | "update") {
            o["responses"][status]["headers"] = json!({"ETag": etag_header()});
        }
        if matches!(name, "create" | "update") {
            match res.idempotency.as_deref() {
                None | Some("optional") => {}
                Some("required") => o["x-apigen-idempotency"] = Value::from("required"),
                Some(other) => diags.push(
                    Diagnostic::new(
                        Severity::Error,
                        file,
                        ptr(&rptr, "idempotency"),
                        format!("unknown idempotency `{other}`"),
                    )
                    .hint("use `required` or `optional`"),
                ),
            }
        }
        if name == "list" && res.soft_delete {
            o["responses"]["403"] =
                error_response("`deleted=true` is for administrators.", error_schema);
        }
        if name == "delete" && res.soft_delete {
            o["description"] = Value::String(format!("The {label} is kept, marked deleted: reads, lists and changes no longer see it, its unique values are free again, and an administrator can restore it."));
        }
        apply_access(&mut o, spec, res, name, &rptr, file, diags);
        if name == "list" && res.soft_delete && spec.auth.is_some() && o["security"] == json!([]) {
            // Public, but an administrator's credentials are read when sent: `deleted=true`
            // is theirs.
            o["security"] = json!([{"bearerAuth": []}, {"apiKeyAuth": []}, {}]);
        }
        document_service_errors(&mut o, error_schema);
        if on_item {
            &mut item_item
        } else {
            &mut coll_item
        }
        .insert(method.into(), o);
    }
    if !coll_item.is_empty() {
        paths.insert(coll.clone(), Value::Object(coll_item));
    }
    if !item_item.is_empty() {
        paths.insert(item.clone(), Value::Object(item_item));
    }
    for action in &res.actions {
        let a = snake_ident(action, "action");
        let mut o = op(
            &format!("{}{type_name}", a.to_lower_camel_case()),
            &format!(
                "{} {}",
                capitalised(&a.replace('_', " ")),
                with_article(&label)
            ),
            vec![id_param.clone()],
            None,
            "200",
            Some(one.clone()),
            &["400", "404"],
            false,
            error_schema,
        );
        o["x-apigen-action"] = Value::Bool(true);
        apply_access(&mut o, spec, res, action, &rptr, file, diags);
        document_service_errors(&mut o, error_schema);
        paths.insert(format!("{item}/{a}"), json!({"post": o}));
    }
    // Soft delete: an administrator brings a deleted row back.
    if res.soft_delete && has("delete") && !res.actions.iter().any(|a| a == "restore") {
        let mut o = op(
            &format!("restore{type_name}"),
            &format!("Restore a deleted {label}"),
            vec![id_param.clone()],
            None,
            "200",
            Some(one.clone()),
            &["400", "404", "409"],
            false,
            error_schema,
        );
        o["x-apigen-restore"] = Value::Bool(true);
        o["description"] = Value::String(format!("Brings back a deleted {label} (404 when it is not deleted; 409 when a live row took one of its unique values meanwhile)."));
        o["responses"]["200"]["headers"] = json!({"ETag": etag_header()});
        apply_access(&mut o, spec, res, "restore", &rptr, file, diags);
        document_service_errors(&mut o, error_schema);
        paths.insert(format!("{item}/restore"), json!({"post": o}));
    }
    // Nested lists: /{parents}/{parentId}/{plural} for every `ref` field.
    if has("list") {
        for (fname, f) in &res.fields {
            if let Some(target) = &f.reference {
                let Some(tres) = spec.resources.get(target) else {
                    continue;
                };
                let tplural = tres
                    .plural
                    .clone()
                    .unwrap_or_else(|| plural(&snake_ident(target, "resource")));
                let prop = format!("{}Id", fname.to_lower_camel_case());
                let p = json!({"name": prop, "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}});
                let mut params = vec![p];
                params.extend(list_params(&[], &sorts, offset));
                let mut o = op(
                    &format!(
                        "list{}{}",
                        target.to_pascal_case(),
                        plural_name.to_pascal_case()
                    ),
                    &format!(
                        "List the {} of {}",
                        plural_name.replace('_', " "),
                        with_article(&target.replace('_', " "))
                    ),
                    params,
                    None,
                    "200",
                    Some(many.clone()),
                    &["400", "404"],
                    true,
                    error_schema,
                );
                apply_access(&mut o, spec, res, "list", &rptr, file, diags);
                document_service_errors(&mut o, error_schema);
                paths.insert(
                    format!("{base}/{tplural}/{{{prop}}}/{plural_name}"),
                    json!({"get": o}),
                );
            }
        }
    }
}

/// The entity schema of a resource, the filters (name, parameter schema) and sort keys a
/// list allows. String enums are hoisted into `components` so a filter parameter and the
/// field share one type.
fn entity_schema(
    spec: &DomainSpec,
    rname: &str,
    res: &ResourceSpec,
    rptr: &str,
    file: &str,
    diags: &mut Vec<Diagnostic>,
    components: &mut Map<String, Value>,
) -> (Value, Vec<(String, Value)>, Vec<String>) {
    let mut props = Map::new();
    let mut required = vec![
        Value::from("id"),
        Value::from("createdAt"),
        Value::from("updatedAt"),
    ];
    props.insert("id".into(), json!({"type": "string", "format": "uuid", "readOnly": true, "description": "Server-assigned identifier."}));
    let mut filters = Vec::new();
    let mut sorts = vec!["createdAt".to_string()];
    for (fname, f) in &res.fields {
        let fptr = ptr(&ptr(rptr, "fields"), fname);
        let reserved = [
            "id",
            "createdAt",
            "updatedAt",
            "ownerId",
            "deletedAt",
            "version",
        ];
        let mut name = fname.to_lower_camel_case();
        if f.reference.is_some() {
            name = format!("{name}Id");
        }
        if reserved.contains(&name.as_str()) {
            diags.push(
                Diagnostic::new(
                    Severity::Error,
                    file,
                    &fptr,
                    format!("field `{fname}` clashes with the server-set field `{name}`"),
                )
                .hint("rename the field"),
            );
            continue;
        }
        if props.contains_key(&name) {
            diags.push(
                Diagnostic::new(
                    Severity::Error,
                    file,
                    &fptr,
                    format!("field `{fname}` becomes `{name}`, which another field already is"),
                )
                .hint("rename one of them"),
            );
            continue;
        }
        let Some(mut schema) = field_schema(spec, f, &fptr, file, diags) else {
            continue;
        };
        if f.read_only && !f.optional && f.default.is_none() {
            diags.push(
                Diagnostic::new(Severity::Error, file, ptr(&fptr, "read_only"), format!("read-only field `{fname}` has no value to start with: requests cannot set it"))
                    .hint("give it a `default`, or make it `optional: true`"),
            );
        }
        if f.unique == Unique::PerOwner && !res.owned {
            diags.push(
                Diagnostic::new(
                    Severity::Error,
                    file,
                    ptr(&fptr, "unique"),
                    format!("`unique: owner` on field `{fname}` of a resource that is not `owned`"),
                )
                .hint("add `owned: true` to the resource, or write `unique: true`"),
            );
        }
        let mut filter_schema = json!({"type": schema["type"].clone()});
        if let Some(fmt) = schema.get("format") {
            filter_schema["format"] = fmt.clone();
        }
        if let Some(values) = schema.get("enum").cloned() {
            let enum_name = format!("{}{}", rname.to_pascal_case(), fname.to_pascal_case());
            components.insert(enum_name.clone(), json!({"type": "string", "enum": values}));
            let r = json!({"$ref": format!("#/components/schemas/{enum_name}")});
            filter_schema = r.clone();
            if let Some(o) = schema.as_object_mut() {
                o.remove("type");
                o.remove("enum");
                o.insert("allOf".into(), Value::Array(vec![r]));
            }
        }
        if f.enum_values.is_some() || f.reference.is_some() || f.ty.as_deref() == Some("boolean") {
            filters.push((name.clone(), filter_schema));
        }
        if f.unique.any()
            || f.enum_values.is_some()
            || matches!(
                f.ty.as_deref(),
                Some("integer" | "bigint" | "number" | "date" | "datetime")
            )
        {
            sorts.push(name.clone());
        }
        if !f.optional && f.default.is_none() {
            required.push(Value::String(name.clone()));
        }
        props.insert(name, schema);
    }
    if res.owned {
        props.insert("ownerId".into(), json!({"type": "string", "format": "uuid", "readOnly": true, "nullable": true, "description": "The user who owns this row."}));
    }
    props.insert(
        "createdAt".into(),
        json!({"type": "string", "format": "date-time", "readOnly": true}),
    );
    props.insert(
        "updatedAt".into(),
        json!({"type": "string", "format": "date-time", "readOnly": true}),
    );
    // The row's version: its entity tag (`ETag: "3"`), the value `If-Match` names.
    props.insert(
        "version".into(),
        json!({"type": "integer", "format": "int64", "minimum": 1, "default": 1, "readOnly": true, "description": "Server-set: 1 when created, one more on every change; the item's ETag."}),
    );
    required.push(Value::from("version"));
    let pick = |given: &Option<Vec<String>>,
                key: &str,
                diags: &mut Vec<Diagnostic>|
     -> Option<Vec<String>> {
        given.as_ref().map(|list| {
            list.iter()
                .filter_map(|f| {
                    let n = f.to_lower_camel_case();
                    let n = if res.fields.get(f).is_some_and(|x| x.reference.is_some()) {
                        format!("{n}Id")
                    } else {
                        n
                    };
                    if props.contains_key(&n) {
                        Some(n)
                    } else {
                        diags.push(
                            Diagnostic::new(
                                Severity::Error,
                                file,
                                ptr(rptr, key),
                                format!("`{f}` is not a field of `{rname}`"),
                            )
                            .hint("list fields declared under `fields`"),
                        );
                        None
                    }
                })
                .collect()
        })
    };
    let filters = match pick(&res.filters, "filters", diags) {
        None => filters,
        Some(names) => names
            .into_iter()
            .map(|n| {
                let p = &props[&n];
                let schema = match p.get("allOf") {
                    Some(Value::Array(a)) if !a.is_empty() => a[0].clone(),
                    _ => {
                        let mut s = json!({"type": p["type"].clone()});
                        if let Some(fmt) = p.get("format") {
                            s["format"] = fmt.clone();
                        }
                        s
                    }
                };
                (n, schema)
            })
            .collect(),
    };
    let sorts = pick(&res.sort, "sort", diags).unwrap_or(sorts);
    let mut schema = json!({
        "type": "object",
        "additionalProperties": false,
        "required": required,
        "properties": props,
        "x-apigen-table": res.table.clone().unwrap_or_else(|| res.plural.clone().unwrap_or_else(|| plural(rname))),
    });
    if let Some(d) = &res.description {
        schema["description"] = Value::String(d.clone());
    }
    if res.owned {
        schema["x-apigen-owned"] = Value::Bool(true);
    }
    if res.soft_delete {
        schema["x-apigen-soft-delete"] = Value::Bool(true);
    }
    if let Some(old) = &res.renamed_from {
        schema["x-apigen-renamed-from"] = Value::String(old.clone());
    }
    (schema, filters, sorts)
}

/// Sets `security`, `x-apigen-roles`, `x-apigen-owner` and `x-apigen-rate-limit` on
/// operation `o` from the resource's `access` entry for `name` (an operation or action).
fn apply_access(
    o: &mut Value,
    spec: &DomainSpec,
    res: &ResourceSpec,
    name: &str,
    rptr: &str,
    file: &str,
    diags: &mut Vec<Diagnostic>,
) {
    if let Some(limit) = &res.rate_limit {
        o["x-apigen-rate-limit"] = json!({"per_minute": limit.per_minute, "burst": limit.burst.unwrap_or(limit.per_minute)});
    }
    let signed_in = json!([{"bearerAuth": []}, {"apiKeyAuth": []}]);
    let roles = spec
        .auth
        .as_ref()
        .map(|a| a.roles.clone())
        .unwrap_or_default();
    let aptr = ptr(&ptr(rptr, "access"), name);
    match res.access.get(name) {
        None if spec.auth.is_none() => {}
        // Default deny: what the spec does not open is for the administrator.
        None => {
            o["security"] = signed_in;
            o["x-apigen-roles"] = json!(roles.first().cloned().into_iter().collect::<Vec<_>>());
        }
        Some(Value::String(s)) if s == "public" => o["security"] = json!([]),
        Some(Value::String(s)) if s == "authenticated" => o["security"] = signed_in,
        Some(Value::String(s)) if s == "owner" => {
            if !res.owned {
                diags.push(
                    Diagnostic::new(
                        Severity::Error,
                        file,
                        &aptr,
                        format!("`{name}: owner` on a resource that is not `owned`"),
                    )
                    .hint("add `owned: true` to the resource, or choose roles"),
                );
            }
            o["security"] = signed_in;
            o["x-apigen-owner"] = Value::Bool(true);
        }
        Some(Value::Array(list)) if !list.is_empty() && list.iter().all(Value::is_string) => {
            for r in list {
                let r = r.as_str().unwrap_or_default();
                if !roles.iter().any(|x| x == r) {
                    diags.push(
                        Diagnostic::new(
                            Severity::Error,
                            file,
                            &aptr,
                            format!("role `{r}` is not declared under `auth.roles`"),
                        )
                        .hint("declare it, or fix its name"),
                    );
                }
            }
            o["security"] = signed_in;
            o["x-apigen-roles"] = Value::Array(list.clone());
        }
        Some(other) => diags.push(
            Diagnostic::new(
                Severity::Error,
                file,
                &aptr,
                format!("`{other}` is not an access rule"),
            )
            .hint("use `public`, `authenticated`, `owner` or a list of roles"),
        ),
    }
}

fn field_schema(
    spec: &DomainSpec,
    f: &FieldSpec,
    fptr: &str,
    file: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<Value> {
    let kinds = usize::from(f.ty.is_some())
        + usize::from(f.enum_values.is_some())
        + usize::from(f.reference.is_some());
    if kinds != 1 {
        diags.push(
            Diagnostic::new(
                Severity::Error,
                file,
                fptr,
                "a field needs exactly one of `type`, `enum` or `ref`",
            )
            .hint("for example `title: { type: string }`"),
        );
        return None;
    }
    let mut s = if let Some(values) = &f.enum_values {
        if values.is_empty() {
            diags.push(
                Diagnostic::new(
                    Severity::Error,
                    file,
                    ptr(fptr, "enum"),
                    "an enum needs at least one value",
                )
                .hint("list the allowed values"),
            );
            return None;
        }
        json!({"type": "string", "enum": values})
    } else if let Some(target) = &f.reference {
        if !spec.resources.contains_key(target) {
            diags.push(
                Diagnostic::new(
                    Severity::Error,
                    file,
                    ptr(fptr, "ref"),
                    format!("`{target}` is not a resource of this spec"),
                )
                .hint(format!(
                    "declare `{target}` under `resources`, or fix the name"
                )),
            );
            return None;
        }
        json!({"type": "string", "format": "uuid", "x-apigen-references": target})
    } else {
        let t = f.ty.as_deref().unwrap_or_default();
        match type_schema(t) {
            Some(schema) => schema,
            None => {
                let other = t;
                diags.push(
                    Diagnostic::new(
                        Severity::Error,
                        file,
                        ptr(fptr, "type"),
                        format!("unknown field type `{other}`"),
                    )
                    .hint(format!("use one of {}", TYPES.join(", "))),
                );
                return None;
            }
        }
    };
    let o = s.as_object_mut()?;
    let mut set = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            o.insert(k.into(), v);
        }
    };
    set("minLength", f.min_length.map(Value::from));
    set("maxLength", f.max_length.map(Value::from));
    set("pattern", f.pattern.clone().map(Value::from));
    let int = matches!(f.ty.as_deref(), Some("integer" | "bigint"));
    let num = |v: f64| {
        if int {
            Value::from(v as i64)
        } else {
            Value::from(v)
        }
    };
    set("minimum", f.minimum.map(num));
    set("maximum", f.maximum.map(num));
    set("default", f.default.clone());
    set("description", f.description.clone().map(Value::from));
    set("example", f.example.clone());
    if f.optional {
        o.insert("nullable".into(), Value::Bool(true));
    }
    match f.unique {
        Unique::No => {}
        Unique::Global => {
            o.insert("x-apigen-unique".into(), Value::Bool(true));
        }
        Unique::PerOwner => {
            o.insert("x-apigen-unique".into(), Value::from("owner"));
        }
    }
    if f.read_only {
        o.insert("readOnly".into(), Value::Bool(true));
    }
    if f.trim {
        o.insert("x-apigen-trim".into(), Value::Bool(true));
    }
    if let Some(r) = &f.renamed_from {
        // `renamed_from` names the field as the contract wrote it; a reference's property
        // (and column) carries `Id` (`_id`), so the old one did too.
        let old = if f.reference.is_some() {
            format!("{}Id", r.to_lower_camel_case())
        } else {
            r.to_lower_camel_case()
        };
        o.insert("x-apigen-renamed-from".into(), Value::String(old));
    }
    if let Some(p) = &f.pattern {
        if !super::types::pattern_compiles(p) {
            diags.push(
                Diagnostic::new(
                    Severity::Error,
                    file,
                    ptr(fptr, "pattern"),
                    format!("pattern `{p}` is not a valid regular expression for the service"),
                )
                .hint("use RE2-style syntax without look-around"),
            );
        }
    }
    Some(s)
}

/// The OpenAPI schema of a domain-spec field type (`email` → string/email), or `None` for
/// an unknown type. Shared with `add-resource`.
pub fn type_schema(ty: &str) -> Option<Value> {
    Some(match ty {
        "string" | "text" => json!({"type": "string"}),
        "integer" | "bigint" => json!({"type": "integer", "format": "int64"}),
        "number" => json!({"type": "number", "format": "double"}),
        "boolean" => json!({"type": "boolean"}),
        "uuid" => json!({"type": "string", "format": "uuid"}),
        "email" => json!({"type": "string", "format": "email"}),
        "url" => json!({"type": "string", "format": "uri"}),
        "date" => json!({"type": "string", "format": "date"}),
        "datetime" => json!({"type": "string", "format": "date-time"}),
        "json" => json!({"description": "Free-form JSON."}),
        _ => return None,
    })
}

fn list_params(filters: &[(String, Value)], sorts: &[String], offset: bool) -> Vec<Value> {
    let mut out = Vec::new();
    if offset {
        out.push(json!({"name": "page", "in": "query", "schema": {"type": "integer", "format": "int64", "minimum": 1, "default": 1}}));
        out.push(json!({"name": "perPage", "in": "query", "schema": {"type": "integer", "format": "int64", "minimum": 1, "maximum": 100, "default": 20}}));
    } else {
        // Opaque: the service checks a cursor by its seal (a cursor it did not issue for this
        // list and ordering is 400), so the contract gives no shape a client could rely on,
        // and no pattern is matched on every page request.
        out.push(json!({"name": "cursor", "in": "query", "description": "Opaque cursor from `meta.nextCursor`.", "schema": {"type": "string", "maxLength": 2048}}));
        out.push(json!({"name": "limit", "in": "query", "schema": {"type": "integer", "format": "int64", "minimum": 1, "maximum": 100, "default": 20}}));
    }
    if !sorts.is_empty() {
        let mut values = Vec::new();
        for s in sorts {
            values.push(Value::String(s.clone()));
            values.push(Value::String(format!("-{s}")));
        }
        out.push(json!({"name": "sort", "in": "query", "description": "Sort key; a leading `-` sorts descending.", "schema": {"type": "string", "enum": values}}));
    }
    for (f, schema) in filters {
        out.push(json!({"name": f, "in": "query", "description": format!("Only rows whose `{f}` equals this value."), "schema": schema}));
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn op(
    id: &str,
    summary: &str,
    params: Vec<Value>,
    body: Option<Value>,
    status: &str,
    ok: Option<Value>,
    errors: &[&str],
    paged: bool,
    error_schema: &ErrorAnswer,
) -> Value {
    let mut responses = Map::new();
    let mut okr = json!({"description": "Success."});
    if let Some(schema) = ok {
        okr["content"] = json!({"application/json": {"schema": schema}});
    }
    responses.insert(status.into(), okr);
    for e in errors {
        if *e == "304" {
            responses.insert(
                "304".into(),
                json!({"description": "Not modified: the row's ETag is one `If-None-Match` lists.", "headers": {"ETag": etag_header()}}),
            );
            continue;
        }
        let description = match *e {
            "400" => "The request is malformed or invalid.",
            "404" => "No such row.",
            "409" => "The change conflicts with stored rows: a unique value is taken, the row is still referenced, or concurrent changes kept this one from applying (retry).",
            "412" => "`If-Match` does not name the row's current ETag: it changed since it was read. The answer carries the current `ETag`.",
            "422" => "A field refers to a row that does not exist; `details` names it.",
            "428" => "The service requires `If-Match` on changes (`REQUIRE_IF_MATCH`).",
            "413" => "The body is too large.",
            "415" => "The body is not JSON.",
            _ => "Error.",
        };
        responses.insert((*e).into(), error_response(description, error_schema));
    }
    let mut o = json!({"operationId": id, "summary": summary, "responses": responses});
    if !params.is_empty() {
        o["parameters"] = Value::Array(params);
    }
    if let Some(b) = body {
        o["requestBody"] =
            json!({"required": true, "content": {"application/json": {"schema": b}}});
    }
    if paged {
        o["x-apigen-pagination"] = Value::Bool(true);
    }
    o
}

/// Adds the answers every generated operation can give besides its own: 401 and 403 when
/// it needs credentials, 429 (rate limit) and 503 (database unavailable) always — so a
/// client, or a conformance checker, finds every status code it can receive documented.
fn document_service_errors(o: &mut Value, error_schema: &ErrorAnswer) {
    let protected = o
        .get("security")
        .and_then(Value::as_array)
        .is_some_and(|s| !s.is_empty());
    let mut add = vec![];
    if protected {
        add.push(("401", "No valid credentials were presented."));
        add.push(("403", "The credentials lack a required role or scope."));
    }
    add.push((
        "429",
        "Too many requests; retry after `Retry-After` seconds.",
    ));
    add.push(("503", "The database is unavailable; retry later."));
    if let Some(responses) = o.get_mut("responses").and_then(Value::as_object_mut) {
        for (status, description) in add {
            responses
                .entry(status)
                .or_insert_with(|| error_response(description, error_schema));
        }
    }
}

/// An error answer: its description and what it carries.
/// The `ETag` response header of an item answer (RFC 9110 §8.8.3): the row's version.
fn etag_header() -> Value {
    json!({"description": "The row's entity tag: its version, quoted (`\"3\"`). Send it back in `If-Match` to change the row only if nobody else has, or in `If-None-Match` to be told 304 when it has not changed.", "schema": {"type": "string"}})
}

fn error_response(description: &str, answer: &ErrorAnswer) -> Value {
    match answer {
        ErrorAnswer::Schema(r) => {
            json!({"description": description, "content": {"application/json": {"schema": {"$ref": r}}}})
        }
        ErrorAnswer::Response(r) => json!({"$ref": r}),
        ErrorAnswer::Content(c) => json!({"description": description, "content": c}),
        ErrorAnswer::None => json!({"description": description}),
    }
}

fn envelope(data: Value, meta: Value) -> Value {
    json!({
        "type": "object",
        "required": ["data", "meta", "error"],
        "properties": {"data": data, "meta": meta, "error": {"nullable": true, "description": "Always null on success."}},
    })
}

fn page_meta(offset: bool) -> Value {
    if offset {
        json!({"type": "object", "required": ["page", "perPage", "total"], "properties": {"page": {"type": "integer"}, "perPage": {"type": "integer"}, "total": {"type": "integer"}}})
    } else {
        json!({"type": "object", "required": ["limit"], "properties": {"limit": {"type": "integer"}, "nextCursor": {"type": "string", "nullable": true}}})
    }
}

fn error_schema() -> Value {
    json!({
        "type": "object",
        "required": ["data", "error"],
        "properties": {
            "data": {"nullable": true},
            "error": {
                "type": "object",
                "required": ["code", "message", "details", "requestId"],
                "properties": {
                    "code": {"type": "string", "example": "VALIDATION_ERROR"},
                    "message": {"type": "string"},
                    "details": {"type": "array", "items": {"type": "object", "required": ["field", "issue"], "properties": {"field": {"type": "string"}, "issue": {"type": "string"}}}},
                    "requestId": {"type": "string"}
                }
            }
        }
    })
}

/// `text` with its first letter in upper case (`publish a book` → `Publish a book`).
fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
