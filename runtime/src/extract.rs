//! Reading requests: path and query parameters and JSON bodies, each validated against
//! its schema before any business logic runs. Failures become `ApiError`s: 400 with all
//! field errors, 413 for a body over the cap, 415 for a body that is not JSON.

use crate::error::ApiError;
use crate::validation::{coerce_params, validate, Mode, Schema};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::RawPathParams;
use axum::http::{header, HeaderMap, StatusCode};
use serde::de::DeserializeOwned;

/// Path parameters, matched by position to the contract's parameters in `schema`.
pub fn path<T: DeserializeOwned>(
    raw: &RawPathParams,
    schema: &'static Schema,
) -> Result<T, ApiError> {
    let names: Vec<&str> = match &schema.kind {
        crate::validation::Kind::Object(o) => o.properties.iter().map(|p| p.name).collect(),
        _ => vec![],
    };
    let pairs = raw
        .iter()
        .zip(names)
        .map(|((_, v), name)| (name.to_string(), v.to_string()))
        .collect();
    params(pairs, schema)
}

/// Query parameters from the raw query string (`a=1&b=x`).
pub fn query<T: DeserializeOwned>(
    raw: Option<&str>,
    schema: &'static Schema,
) -> Result<T, ApiError> {
    let pairs = form_urlencoded::parse(raw.unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    params(pairs, schema)
}

fn params<T: DeserializeOwned>(
    pairs: Vec<(String, String)>,
    schema: &'static Schema,
) -> Result<T, ApiError> {
    let mut value = coerce_params(schema, pairs);
    validate(schema, &mut value, Mode::Params).map_err(ApiError::Validation)?;
    serde_json::from_value(value)
        .map_err(|e| ApiError::BadRequest(format!("invalid parameters: {e}")))
}

/// A validated JSON body. `Mode::Patch` allows required properties to be absent.
pub fn json<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    schema: &'static Schema,
    mode: Mode,
) -> Result<T, ApiError> {
    let value = json_value(headers, body, schema, mode)?;
    serde_json::from_value(value).map_err(|e| ApiError::BadRequest(format!("invalid body: {e}")))
}

/// An optional JSON body: `None` when the request has none.
pub fn json_opt<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    schema: &'static Schema,
) -> Result<Option<T>, ApiError> {
    match &body {
        Ok(b) if b.is_empty() => Ok(None),
        _ => json(headers, body, schema, Mode::Body).map(Some),
    }
}

/// A validated JSON body kept as a JSON object (partial updates).
pub fn json_value(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    schema: &'static Schema,
    mode: Mode,
) -> Result<serde_json::Value, ApiError> {
    let bytes = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge
        } else {
            ApiError::BadRequest("the request body could not be read".into())
        }
    })?;
    if bytes.is_empty() {
        return Err(ApiError::Validation(vec![crate::validation::FieldError {
            field: "body".into(),
            issue: "a JSON request body is required".into(),
        }]));
    }
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| {
            let m = m.trim().to_ascii_lowercase();
            m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
        })
        .unwrap_or(false);
    if !is_json {
        return Err(ApiError::UnsupportedMediaType);
    }
    let mut value: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::BadRequest(format!("malformed JSON: {e}")))?;
    validate(schema, &mut value, mode).map_err(ApiError::Validation)?;
    Ok(value)
}
