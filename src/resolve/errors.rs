//! The shape of error bodies: apigen's own, or the contract's error schema.
//!
//! Where an OpenAPI contract declares its own error schema, the contract wins over apigen's
//! own format. This module finds the schema a contract uses for its
//! error responses (4xx, 5xx, `4XX`, `5XX` and `default`, OpenAPI 3.0.3 §4.7.16) and maps
//! each of its properties onto what the service knows of a failure: the HTTP status, a
//! machine code, a message, the field errors and the request id. RFC 9457 problem
//! details (`application/problem+json`) map `type`, `title`, `status` and `detail` by
//! their RFC meanings. Where the schema leaves room for more members (no
//! `additionalProperties: false`) and has no `error` member of its own, apigen's own
//! `error` object rides along, so the request id and field errors still reach the client.
//!
//! Output: the body's objects as data ([`ErrorFormat`]), each member naming what it holds
//! ([`ErrorValue`]); the generated `lib.rs` writes them as the runtime's `ErrorFormat`
//! static, which the runtime fills in for each failure.

use super::names::shouty_ident;
use super::types::{unbox, TypeBuilder};
use crate::diag::ptr;
use crate::model::{ErrorFormat, ErrorMember, ErrorObject, ErrorValue};
use indexmap::IndexMap;
use openapiv3::{
    AdditionalProperties, OpenAPI, ReferenceOr, Response, Schema, SchemaKind, StatusCode, Type,
};
use serde_json::Value;

/// The runtime's name for apigen's own error object (`code`, `message`, `details`,
/// `requestId`).
const APIGEN_ERROR: &str = "APIGEN_ERROR";

/// What a member of the body holds while the mapping is built.
#[derive(Debug, Clone, PartialEq)]
enum Expr {
    Value(ErrorValue),
    Object(Vec<(String, Expr)>),
    /// apigen's own error object.
    Apigen,
}

fn value(v: ErrorValue) -> Option<Expr> {
    Some(Expr::Value(v))
}

fn json(text: &str) -> Option<Expr> {
    value(ErrorValue::Json(text.to_string()))
}

/// apigen's own format: `{"error": {…}}`, inside the envelope for domain specs.
pub fn apigen_format(envelope: bool) -> ErrorFormat {
    ErrorFormat {
        kind: if envelope { "envelope" } else { "apigen" }.into(),
        media_type: "application/json".into(),
        objects: vec![],
        extended: true,
        schema: String::new(),
    }
}

/// The objects of a body, nested ones first, named `ERROR_BODY`, `ERROR_BODY_1`, ….
fn flatten(fields: Vec<(String, Expr)>, objects: &mut Vec<ErrorObject>) -> String {
    let mut members = Vec::new();
    for (name, expr) in fields {
        let value = match expr {
            Expr::Value(v) => v,
            Expr::Apigen => ErrorValue::Object(APIGEN_ERROR.into()),
            Expr::Object(inner) => ErrorValue::Object(flatten(inner, objects)),
        };
        members.push(ErrorMember { name, value });
    }
    let ident = if objects.is_empty() {
        "ERROR_BODY".to_string()
    } else {
        shouty_ident(&format!("error body {}", objects.len()), "ERROR_BODY")
    };
    objects.push(ErrorObject {
        ident: ident.clone(),
        members,
    });
    ident
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
        fields.push(("error".into(), Expr::Apigen));
    } else if let Some((nested, np)) = nested_error {
        // A nested `{"error": {…}}` (Spotify's, say): apigen's members join it where the
        // nested schema leaves room and does not use their names already.
        let (declared, nested_open) = members(tb, &nested, &np);
        let mut inner = map_object(tb, &nested, &np, problem, 1).unwrap_or_default();
        let ours = [
            ("code", ErrorValue::Code),
            ("message", ErrorValue::Message),
            ("details", ErrorValue::Details),
            ("requestId", ErrorValue::RequestId),
        ];
        if nested_open {
            for (name, v) in &ours {
                if !declared.contains_key(*name) {
                    inner.push(((*name).into(), Expr::Value(v.clone())));
                }
            }
        }
        extended = ours.iter().all(|(name, v)| {
            inner
                .iter()
                .any(|(n, e)| n == name && *e == Expr::Value(v.clone()))
        });
        if let Some(slot) = fields.iter_mut().find(|(n, _)| n == "error") {
            slot.1 = Expr::Object(inner);
        } else {
            fields.push(("error".into(), Expr::Object(inner)));
        }
    }
    if fields.is_empty() {
        return apigen_format(false);
    }
    let mut objects = Vec::new();
    flatten(fields, &mut objects);
    ErrorFormat {
        kind: "contract".into(),
        media_type: media,
        objects,
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
) -> Option<Vec<(String, Expr)>> {
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

/// What one property holds, or `None` to leave an optional one out.
fn map_property(
    tb: &mut TypeBuilder,
    name: &str,
    s: &Schema,
    pointer: &str,
    required: bool,
    problem: bool,
    depth: usize,
) -> Option<Expr> {
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
        return required.then(|| Expr::Value(ErrorValue::Json(enum_values[0].to_string())));
    }
    let ty = json_type(s);
    let expr = match ty {
        "integer" | "number" => match key.as_str() {
            "status" | "statuscode" | "httpstatus" | "httpstatuscode" | "code" | "errorcode" => {
                value(ErrorValue::Status)
            }
            _ if required => value(ErrorValue::Status),
            _ => None,
        },
        "string" => {
            let uri = matches!(&s.schema_kind, SchemaKind::Type(Type::String(t))
                if matches!(&t.format, openapiv3::VariantOrUnknownOrEmpty::Unknown(f) if f.starts_with("uri")));
            match key.as_str() {
                // RFC 9457 §4.2.1: a problem type that says nothing more than the status.
                "type" if problem || uri => json("\"about:blank\""),
                // RFC 9457 §4.2.2: the status code's reason phrase.
                "title" => value(ErrorValue::Reason),
                "detail" | "message" | "msg" | "description" | "errordescription"
                | "errormessage" | "reason" | "details" => value(ErrorValue::Message),
                "code" | "errorcode" | "error" | "errortype" | "type" | "kind" => {
                    value(ErrorValue::Code)
                }
                "requestid" | "traceid" | "correlationid" | "instance" => {
                    value(ErrorValue::RequestId)
                }
                "status" | "statuscode" => value(ErrorValue::StatusText),
                _ if uri => {
                    required.then(|| Expr::Value(ErrorValue::Json("\"about:blank\"".into())))
                }
                _ if required => value(ErrorValue::Message),
                _ => None,
            }
        }
        "boolean" => required.then(|| Expr::Value(ErrorValue::Json("false".into()))),
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
                    value(ErrorValue::Details)
                }
                _ if required => json("[]"),
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
                Some(f) if !f.is_empty() || required => Some(Expr::Object(f)),
                _ => None,
            }
        }
        _ => None,
    };
    match expr {
        None if required && s.schema_data.nullable => json("null"),
        other => other,
    }
}
