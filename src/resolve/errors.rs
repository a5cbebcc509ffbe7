//! The shape of error bodies: apigen's own, or the contract's error schema.
//!
//! STANDARDS.md: "where an OpenAPI contract declares something different (its own error
//! schema …), the contract wins". This module finds the schema a contract uses for its
//! error responses (4xx, 5xx, `4XX`, `5XX` and `default`, OpenAPI 3.0.3 §4.7.16) and maps
//! each of its properties onto what the service knows of a failure: the HTTP status, a
//! machine code, a message, the field errors and the request id. RFC 9457 problem
//! details (`application/problem+json`) map `type`, `title`, `status` and `detail` by
//! their RFC meanings. Where the schema leaves room for more members (no
//! `additionalProperties: false`) and has no `error` member of its own, apigen's own
//! `error` object rides along, so the request id and field errors still reach the client.
//!
//! Output: a `serde_json::json!` expression over the names `status` (`StatusCode`),
//! `code` (`&str`), `message` (`String`), `details` (`serde_json::Value`) and
//! `request_id` (`String`), which the generated `error.rs` evaluates.

use super::names::rust_str;
use super::types::{unbox, TypeBuilder};
use crate::diag::ptr;
use crate::model::ErrorFormat;
use indexmap::IndexMap;
use openapiv3::{
    AdditionalProperties, OpenAPI, ReferenceOr, Response, Schema, SchemaKind, StatusCode, Type,
};
use serde_json::Value;

/// apigen's own error object (STANDARDS.md, "HTTP contract").
const APIGEN_ERROR: &str =
    r#"{ "code": code, "message": message, "details": details, "requestId": request_id }"#;

/// apigen's own format: `{"error": {…}}`, inside the envelope for domain specs.
pub fn apigen_format(envelope: bool) -> ErrorFormat {
    ErrorFormat {
        media_type: "application/json".into(),
        body_expr: if envelope {
            format!(r#"{{ "data": null, "error": {APIGEN_ERROR} }}"#)
        } else {
            format!(r#"{{ "error": {APIGEN_ERROR} }}"#)
        },
        extended: true,
        schema: String::new(),
    }
}

/// The error format of an OpenAPI contract: the most used JSON schema among its error
/// responses, mapped as the module documentation says; apigen's own when the contract
/// declares none, or one that is not an object.
pub fn contract_format(api: &OpenAPI, tb: &mut TypeBuilder) -> ErrorFormat {
    // (media type, schema key) → (uses, schema, pointer)
    let mut seen: IndexMap<(String, String), (usize, ReferenceOr<Schema>, String)> =
        IndexMap::new();
    for (path, item) in api.paths.paths.iter() {
        let ReferenceOr::Item(item) = item else {
            continue;
        };
        for (method, op) in item.iter() {
            let responses = ptr(&ptr(&ptr("/paths", path), method), "responses");
            for (code, resp) in op.responses.responses.iter() {
                let is_error = match code {
                    StatusCode::Code(n) => *n >= 400,
                    StatusCode::Range(r) => *r >= 4,
                };
                if is_error {
                    note(api, resp, &ptr(&responses, &code.to_string()), &mut seen);
                }
            }
            if let Some(resp) = &op.responses.default {
                note(api, resp, &ptr(&responses, "default"), &mut seen);
            }
        }
    }
    let Some(((media, key), (_, schema, pointer))) =
        seen.into_iter().max_by_key(|(_, (n, _, _))| *n)
    else {
        return apigen_format(false);
    };
    let problem = media.contains("problem");
    let Some(mut fields) = map_object(tb, &schema, &pointer, problem, 0) else {
        return apigen_format(false);
    };
    let (mut top, open) = members(tb, &schema, &pointer);
    let nested_error = top.shift_remove("error");
    let mut extended = open && nested_error.is_none();
    if extended {
        fields.push(("error".into(), APIGEN_ERROR.into()));
    } else if let Some((nested, np)) = nested_error {
        // A nested `{"error": {…}}` (Spotify's, say): apigen's members join it where the
        // nested schema leaves room and does not use their names already.
        let (declared, nested_open) = members(tb, &nested, &np);
        let mut inner = map_object(tb, &nested, &np, problem, 1).unwrap_or_default();
        let ours = [
            ("code", "code"),
            ("message", "message"),
            ("details", "details"),
            ("requestId", "request_id"),
        ];
        if nested_open {
            for (name, expr) in ours {
                if !declared.contains_key(name) {
                    inner.push((name.into(), expr.into()));
                }
            }
        }
        extended = ours
            .iter()
            .all(|(name, expr)| inner.iter().any(|(n, e)| n == name && e == expr));
        if let Some(slot) = fields.iter_mut().find(|(n, _)| n == "error") {
            slot.1 = object_expr(&inner);
        } else {
            fields.push(("error".into(), object_expr(&inner)));
        }
    }
    if fields.is_empty() {
        return apigen_format(false);
    }
    ErrorFormat {
        media_type: media,
        body_expr: object_expr(&fields),
        extended,
        schema: key,
    }
}

/// Counts one error response's JSON schema.
fn note(
    api: &OpenAPI,
    resp: &ReferenceOr<Response>,
    pointer: &str,
    seen: &mut IndexMap<(String, String), (usize, ReferenceOr<Schema>, String)>,
) {
    let (resp, pointer) = match resp {
        ReferenceOr::Item(r) => (r, pointer.to_string()),
        ReferenceOr::Reference { reference } => {
            let name = reference.rsplit('/').next().unwrap_or_default();
            match api.components.as_ref().and_then(|c| c.responses.get(name)) {
                Some(ReferenceOr::Item(r)) => (r, format!("/components/responses/{name}")),
                _ => return,
            }
        }
    };
    let json = resp.content.iter().find(|(k, _)| {
        let t = k.split(';').next().unwrap_or_default().trim();
        t == "application/json" || t.ends_with("+json")
    });
    let Some((media, m)) = json else { return };
    let Some(schema) = &m.schema else { return };
    let at = ptr(&ptr(&ptr(&pointer, "content"), media), "schema");
    let key = match schema {
        ReferenceOr::Reference { reference } => reference.clone(),
        ReferenceOr::Item(_) => at.clone(),
    };
    let media = media
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_string();
    seen.entry((media, key))
        .or_insert((0, schema.clone(), at))
        .0 += 1;
}

/// The schema behind a `$ref` (or the schema itself).
fn resolved(tb: &mut TypeBuilder, s: &ReferenceOr<Schema>, pointer: &str) -> Option<Schema> {
    match s {
        ReferenceOr::Item(x) => Some(x.clone()),
        ReferenceOr::Reference { reference } => tb.deref_schema(reference, pointer).map(|x| x.1),
    }
}

/// The members an object schema declares (through `$ref` and allOf), each with its
/// schema and pointer, and whether it takes others (no `additionalProperties: false`).
type Members = IndexMap<String, (ReferenceOr<Schema>, String)>;

fn members(tb: &mut TypeBuilder, s: &ReferenceOr<Schema>, pointer: &str) -> (Members, bool) {
    let mut props = IndexMap::new();
    let mut required = Vec::new();
    let mut additional = None;
    tb.collect_object(s, pointer, &mut props, &mut required, &mut additional, 0);
    let open = !matches!(additional, Some(AdditionalProperties::Any(false)));
    (props, open)
}

/// The JSON type of a schema: `string`, `integer`, `number`, `boolean`, `array`,
/// `object`, or empty when it does not say.
fn json_type(s: &Schema) -> &'static str {
    match &s.schema_kind {
        SchemaKind::Type(Type::String(_)) => "string",
        SchemaKind::Type(Type::Integer(_)) => "integer",
        SchemaKind::Type(Type::Number(_)) => "number",
        SchemaKind::Type(Type::Boolean(_)) => "boolean",
        SchemaKind::Type(Type::Array(_)) => "array",
        SchemaKind::Type(Type::Object(_)) => "object",
        SchemaKind::AllOf { .. } => "object",
        SchemaKind::Any(a) => match a.typ.as_deref() {
            Some("string") => "string",
            Some("integer") => "integer",
            Some("number") => "number",
            Some("boolean") => "boolean",
            Some("array") => "array",
            Some("object") => "object",
            _ if !a.properties.is_empty() => "object",
            _ => "",
        },
        _ => "",
    }
}

/// Maps the properties of an object schema to expressions; `None` when it is no object.
fn map_object(
    tb: &mut TypeBuilder,
    s: &ReferenceOr<Schema>,
    pointer: &str,
    problem: bool,
    depth: usize,
) -> Option<Vec<(String, String)>> {
    let mut props = IndexMap::new();
    let mut required = Vec::new();
    let mut additional = None;
    if depth > 2 || !tb.collect_object(s, pointer, &mut props, &mut required, &mut additional, 0) {
        return None;
    }
    let mut out = Vec::new();
    for (name, (ps, pp)) in props {
        let is_required = required.contains(&name);
        let Some(schema) = resolved(tb, &ps, &pp) else {
            continue;
        };
        if schema.schema_data.read_only && !is_required {
            continue;
        }
        if let Some(expr) = map_property(tb, &name, &schema, &pp, is_required, problem, depth) {
            out.push((name, expr));
        }
    }
    Some(out)
}

/// The expression for one property, or `None` to leave an optional one out.
fn map_property(
    tb: &mut TypeBuilder,
    name: &str,
    s: &Schema,
    pointer: &str,
    required: bool,
    problem: bool,
    depth: usize,
) -> Option<String> {
    let key: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase();
    let enum_values: Vec<Value> = match &s.schema_kind {
        SchemaKind::Type(Type::String(t)) => t
            .enumeration
            .iter()
            .flatten()
            .map(|v| Value::String(v.clone()))
            .collect(),
        SchemaKind::Type(Type::Integer(t)) => t
            .enumeration
            .iter()
            .flatten()
            .map(|v| Value::from(*v))
            .collect(),
        SchemaKind::Any(a) => a.enumeration.clone(),
        _ => vec![],
    };
    if !enum_values.is_empty() {
        // A closed set apigen cannot choose from meaningfully: its first value, if needed.
        return required.then(|| enum_values[0].to_string());
    }
    let ty = json_type(s);
    let status = "status.as_u16()";
    let expr = match ty {
        "integer" | "number" => match key.as_str() {
            "status" | "statuscode" | "httpstatus" | "httpstatuscode" | "code" | "errorcode" => {
                Some(status.to_string())
            }
            _ if required => Some(status.to_string()),
            _ => None,
        },
        "string" => {
            let uri = matches!(&s.schema_kind, SchemaKind::Type(Type::String(t))
                if matches!(&t.format, openapiv3::VariantOrUnknownOrEmpty::Unknown(f) if f.starts_with("uri")));
            match key.as_str() {
                // RFC 9457 §4.2.1: a problem type that says nothing more than the status.
                "type" if problem || uri => Some("\"about:blank\"".into()),
                // RFC 9457 §4.2.2: the status code's reason phrase.
                "title" => Some(r#"status.canonical_reason().unwrap_or("Error")"#.into()),
                "detail" | "message" | "msg" | "description" | "errordescription"
                | "errormessage" | "reason" | "details" => Some("message".into()),
                "code" | "errorcode" | "error" | "errortype" | "type" | "kind" => {
                    Some("code".into())
                }
                "requestid" | "traceid" | "correlationid" | "instance" => Some("request_id".into()),
                "status" | "statuscode" => Some("status.as_str()".into()),
                _ if uri => required.then(|| "\"about:blank\"".into()),
                _ if required => Some("message".into()),
                _ => None,
            }
        }
        "boolean" => required.then(|| "false".into()),
        "array" => {
            let items_fit = match &s.schema_kind {
                SchemaKind::Type(Type::Array(a)) => match a.items.as_ref().map(unbox) {
                    None => true,
                    Some(items) => {
                        let ip = format!("{pointer}/items");
                        let mut props = IndexMap::new();
                        let mut req = Vec::new();
                        let mut additional = None;
                        tb.collect_object(&items, &ip, &mut props, &mut req, &mut additional, 0)
                            && req.iter().all(|r| r == "field" || r == "issue")
                            && (!matches!(additional, Some(AdditionalProperties::Any(false)))
                                || (props.contains_key("field") && props.contains_key("issue")))
                    }
                },
                _ => false,
            };
            match key.as_str() {
                "details" | "errors" | "fielderrors" | "issues" | "violations" if items_fit => {
                    Some("details".into())
                }
                _ if required => Some("[]".into()),
                _ => None,
            }
        }
        "object" => {
            let fields = map_object(
                tb,
                &ReferenceOr::Item(s.clone()),
                pointer,
                problem,
                depth + 1,
            );
            match fields {
                Some(f) if !f.is_empty() || required => Some(object_expr(&f)),
                _ => None,
            }
        }
        _ => None,
    };
    match expr {
        None if required && s.schema_data.nullable => Some("null".into()),
        other => other,
    }
}

/// `{ "name": expr, … }` for `serde_json::json!`.
fn object_expr(fields: &[(String, String)]) -> String {
    let members: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{}: {v}", rust_str(k)))
        .collect();
    format!("{{ {} }}", members.join(", "))
}
