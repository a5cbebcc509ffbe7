//! Reading requests: path and query parameters and JSON bodies, each validated against
//! its schema before any business logic runs. Failures become `ApiError`s: 400 with all
//! field errors, 413 for a body over the cap, 415 for a body that is not JSON.

use crate::error::ApiError;
use crate::validation::{coerce_params, validate, FieldError, Kind, Mode, Schema};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, RawPathParams, Request};
use axum::http::{header, HeaderMap, StatusCode};
use serde::de::DeserializeOwned;
use std::convert::Infallible;

/// Path parameters, matched by position to the contract's parameters in `schema`.
pub fn path<T: DeserializeOwned>(
    raw: &RawPathParams,
    schema: &'static Schema,
) -> Result<T, ApiError> {
    let names: Vec<&str> = match &schema.kind {
        Kind::Object(o) => o.properties.iter().map(|p| p.name).collect(),
        _ => vec![],
    };
    let pairs = raw
        .iter()
        .zip(names)
        .map(|((_, v), name)| (name.to_string(), v.to_string()))
        .collect();
    params(pairs, schema)
}

/// One captured path segment of a route, as the contract's path template writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segment {
    /// The whole segment is one parameter (`/{id}`).
    Whole,
    /// Several parameters, or literal text around one (`/{x},{y}.{format}`,
    /// `/{sid}.json`): the pieces in order.
    Split(&'static [Piece]),
}

/// A piece of a [`Segment::Split`] template: literal text, or the next parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Piece {
    Lit(&'static str),
    Param,
}

/// Splits one captured segment by its template: each literal piece must appear, in order
/// (a parameter takes the longest text that still lets the rest match, so `{name}.{ext}`
/// reads `a.b.c` as `a.b` and `c`), and every parameter gets at least one character.
/// `None` when the segment does not fit the template.
pub fn split_segment(value: &str, pieces: &[Piece]) -> Option<Vec<String>> {
    fn go(value: &str, pieces: &[Piece], out: &mut Vec<String>) -> bool {
        match pieces.split_first() {
            None => value.is_empty(),
            Some((Piece::Lit(l), rest)) => value.strip_prefix(l).is_some_and(|v| go(v, rest, out)),
            Some((Piece::Param, rest)) => {
                // Longest first: try every end, from the last.
                let ends: Vec<usize> = value
                    .char_indices()
                    .map(|(i, _)| i)
                    .skip(1)
                    .chain(std::iter::once(value.len()))
                    .collect();
                for &end in ends.iter().rev() {
                    out.push(value[..end].to_string());
                    if go(&value[end..], rest, out) {
                        return true;
                    }
                    out.pop();
                }
                false
            }
        }
    }
    let mut out = Vec::new();
    go(value, pieces, &mut out).then_some(out)
}

/// Path parameters of a route with [`Segment::Split`] segments: each captured segment is
/// split by its template, and the pieces are matched by position to the contract's
/// parameters in `schema`. Errors: a segment that does not fit its template is 404 (no
/// operation has that path); pieces that break their schema are 400.
pub fn path_segments<T: DeserializeOwned>(
    raw: &RawPathParams,
    schema: &'static Schema,
    segments: &'static [Segment],
) -> Result<T, ApiError> {
    let names: Vec<&str> = match &schema.kind {
        Kind::Object(o) => o.properties.iter().map(|p| p.name).collect(),
        _ => vec![],
    };
    let mut values: Vec<String> = Vec::new();
    for ((_, v), segment) in raw.iter().zip(segments) {
        match segment {
            Segment::Whole => values.push(v.to_string()),
            Segment::Split(pieces) => {
                values.extend(split_segment(v, pieces).ok_or(ApiError::NotFound)?)
            }
        }
    }
    let pairs = values
        .into_iter()
        .zip(names)
        .map(|(v, name)| (name.to_string(), v))
        .collect();
    params(pairs, schema)
}

/// The most query parameters one request may carry; more are refused (400) before any is
/// read into a value.
pub const MAX_QUERY_PARAMS: usize = 100;

/// Query parameters from the raw query string (`a=1&b=x`). Errors: more than
/// [`MAX_QUERY_PARAMS`] of them (400), or values that break the schema.
pub fn query<T: DeserializeOwned>(
    raw: Option<&str>,
    schema: &'static Schema,
) -> Result<T, ApiError> {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(raw.unwrap_or("").as_bytes())
        .take(MAX_QUERY_PARAMS + 1)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if pairs.len() > MAX_QUERY_PARAMS {
        return Err(ApiError::BadRequest(format!(
            "too many query parameters: at most {MAX_QUERY_PARAMS}"
        )));
    }
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

/// A request body as it arrived: its bytes (or why they could not be read: over the cap,
/// a broken connection) and whether its `Content-Type` is JSON (`application/json` or
/// `application/*+json`, RFC 6839 §3.1). Read by [`json`], [`json_opt`] and [`json_value`].
pub struct RawBody {
    bytes: Result<Bytes, BytesRejection>,
    json: bool,
}

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = Infallible;

    async fn from_request(req: Request, state: &S) -> Result<Self, Infallible> {
        let json = is_json(req.headers());
        let bytes = Bytes::from_request(req, state).await;
        Ok(RawBody { bytes, json })
    }
}

impl RawBody {
    /// A body as a test or a non-HTTP caller has it.
    pub fn new(bytes: impl Into<Bytes>, json: bool) -> RawBody {
        RawBody {
            bytes: Ok(bytes.into()),
            json,
        }
    }

    fn is_empty(&self) -> bool {
        matches!(&self.bytes, Ok(b) if b.is_empty())
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| {
            let m = m.trim().to_ascii_lowercase();
            m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
        })
        .unwrap_or(false)
}

/// A validated JSON body. `Mode::Patch` allows required properties to be absent (a merge
/// patch, RFC 7396).
pub fn json<T: DeserializeOwned>(
    body: RawBody,
    schema: &'static Schema,
    mode: Mode,
) -> Result<T, ApiError> {
    let value = json_value(body, schema, mode)?;
    serde_json::from_value(value).map_err(|e| ApiError::BadRequest(format!("invalid body: {e}")))
}

/// An optional JSON body: `None` when the request has none.
pub fn json_opt<T: DeserializeOwned>(
    body: RawBody,
    schema: &'static Schema,
) -> Result<Option<T>, ApiError> {
    if body.is_empty() {
        return Ok(None);
    }
    json(body, schema, Mode::Body).map(Some)
}

/// A validated JSON body kept as a JSON value.
pub fn json_value(
    body: RawBody,
    schema: &'static Schema,
    mode: Mode,
) -> Result<serde_json::Value, ApiError> {
    let bytes = body.bytes.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge
        } else {
            ApiError::BadRequest("the request body could not be read".into())
        }
    })?;
    if bytes.is_empty() {
        return Err(ApiError::Validation(vec![FieldError {
            field: "body".into(),
            issue: "a JSON request body is required".into(),
        }]));
    }
    if !body.json {
        return Err(ApiError::UnsupportedMediaType);
    }
    let mut value: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::BadRequest(format!("malformed JSON: {e}")))?;
    validate(schema, &mut value, mode).map_err(ApiError::Validation)?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_segment_is_split_by_its_template() {
        use Piece::{Lit, Param};
        let coords = [Param, Lit(","), Param, Lit("."), Param];
        assert_eq!(
            split_segment("1.5,2.5.png", &coords),
            Some(vec!["1.5".into(), "2.5".into(), "png".into()])
        );
        let json = [Param, Lit(".json")];
        assert_eq!(
            split_segment("CA123.json", &json),
            Some(vec!["CA123".into()])
        );
        assert_eq!(split_segment("CA123.xml", &json), None, "does not fit: 404");
        assert_eq!(
            split_segment(".json", &json),
            None,
            "a parameter is never empty"
        );
        let rates = [Lit("rates@"), Param, Lit("@"), Param];
        assert_eq!(
            split_segment("rates@EUR@USD", &rates),
            Some(vec!["EUR".into(), "USD".into()])
        );
        assert_eq!(split_segment("rates@EUR", &rates), None);
        assert_eq!(
            split_segment("é.json", &json),
            Some(vec!["é".into()]),
            "characters, not bytes"
        );
    }
    use crate::validation::{Additional, Property, StringRule};

    static NAME: Schema = Schema::string(StringRule {
        min_length: Some(1),
        ..StringRule::ANY
    });
    static PET: Schema =
        Schema::object(Additional::Deny, &[Property::new("name", &NAME).required()]);

    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Pet {
        name: String,
    }

    #[test]
    fn json_media_types_are_recognised_by_their_type_and_suffix() {
        let with = |v: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(
                header::CONTENT_TYPE,
                axum::http::HeaderValue::from_static(v),
            );
            is_json(&h)
        };
        assert!(with("application/json"));
        assert!(with("Application/JSON; charset=utf-8"));
        assert!(with("application/merge-patch+json"));
        assert!(!with("text/plain"));
        assert!(!with("application/jsonx"));
        assert!(!is_json(&HeaderMap::new()));
    }

    #[test]
    fn bodies_are_parsed_validated_and_typed() {
        let pet: Pet = json(RawBody::new(r#"{"name": "rex"}"#, true), &PET, Mode::Body).unwrap();
        assert_eq!(pet, Pet { name: "rex".into() });
        assert!(matches!(
            json::<Pet>(RawBody::new("{}", false), &PET, Mode::Body),
            Err(ApiError::UnsupportedMediaType)
        ));
        assert!(matches!(
            json::<Pet>(RawBody::new("{", true), &PET, Mode::Body),
            Err(ApiError::BadRequest(_))
        ));
        assert!(matches!(
            json::<Pet>(RawBody::new("{}", true), &PET, Mode::Body),
            Err(ApiError::Validation(_))
        ));
        assert_eq!(json_opt::<Pet>(RawBody::new("", true), &PET).unwrap(), None);
        let patch = json_value(RawBody::new("{}", true), &PET, Mode::Patch).unwrap();
        assert_eq!(
            patch,
            serde_json::json!({}),
            "a merge patch may leave required members out"
        );
    }

    #[test]
    fn query_strings_are_capped_before_they_are_read() {
        static OPEN: Schema = Schema::object(Additional::Allow, &[]);
        let many: Vec<String> = (0..3_000).map(|i| format!("p{i}=x")).collect();
        let raw = many.join("&");
        match query::<serde_json::Value>(Some(&raw), &OPEN) {
            Err(ApiError::BadRequest(m)) => assert!(m.contains("too many query parameters"), "{m}"),
            other => panic!("{other:?}"),
        }
        let fits = many[..MAX_QUERY_PARAMS].join("&");
        assert!(query::<serde_json::Value>(Some(&fits), &OPEN).is_ok());
    }
}
