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

/// One contract path among several that share an axum route because they differ only
/// inside a segment (`/v1/{name}` beside `/v1/{name}:test`, `/files/{id}` beside
/// `/files/{id}.json`): the segments its template splits, by their 0-based position in the
/// path (`/v1/{name}:test` → 1), the methods it serves, and its operations' router.
#[derive(Clone)]
pub struct Variant {
    segments: &'static [(usize, &'static [Piece])],
    methods: &'static [&'static str],
    router: axum::routing::MethodRouter,
}

impl Variant {
    /// `segments` (position, template pieces), `methods` (`"POST"`; `GET` serves `HEAD`
    /// too), and the operations' handlers.
    pub fn new(
        segments: &'static [(usize, &'static [Piece])],
        methods: &'static [&'static str],
        router: axum::routing::MethodRouter,
    ) -> Variant {
        Variant {
            segments,
            methods,
            router,
        }
    }

    fn fits(&self, path: &[String]) -> bool {
        self.segments.iter().all(|(i, pieces)| {
            path.get(*i)
                .is_some_and(|seg| split_segment(seg, pieces).is_some())
        })
    }

    fn serves(&self, method: &str) -> bool {
        self.methods
            .iter()
            .any(|m| *m == method || (method == "HEAD" && *m == "GET"))
    }
}

/// The service of an axum route that several contract paths share ([`Variant`]): a request
/// goes to the first variant whose template its path fits and that serves its method, else
/// to `plain` (the path whose segments are whole parameters), else to a variant that fits
/// (405 with its `Allow`), else 404. Variants come most specific first (the most literal
/// text). Segments are matched percent-decoded, as axum decodes what it captures.
#[derive(Clone)]
pub struct ByTemplate {
    variants: std::sync::Arc<[Variant]>,
    plain: Option<axum::routing::MethodRouter>,
}

impl ByTemplate {
    pub fn new(variants: Vec<Variant>, plain: Option<axum::routing::MethodRouter>) -> ByTemplate {
        ByTemplate {
            variants: variants.into(),
            plain,
        }
    }

    fn choose(&self, path: &str, method: &str) -> Option<axum::routing::MethodRouter> {
        let segments: Vec<String> = path
            .split('/')
            .skip(1)
            .map(|s| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .collect();
        let fitting = || self.variants.iter().filter(|v| v.fits(&segments));
        fitting()
            .find(|v| v.serves(method))
            .map(|v| v.router.clone())
            .or_else(|| self.plain.clone())
            .or_else(|| fitting().next().map(|v| v.router.clone()))
    }
}

impl tower::Service<Request> for ByTemplate {
    type Response = axum::response::Response;
    type Error = Infallible;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Self::Response, Infallible>> + Send>,
    >;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request) -> Self::Future {
        use axum::response::IntoResponse;
        use tower::ServiceExt;
        match self.choose(req.uri().path(), req.method().as_str()) {
            Some(router) => Box::pin(router.oneshot(req)),
            None => Box::pin(std::future::ready(Ok(ApiError::NotFound.into_response()))),
        }
    }
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

/// The names of the parameters a request's query held (`$sent` of a parameter struct), as
/// against the defaults the contract fills in: an operation refuses a parameter it does
/// not apply when the client sent it, not when the contract gives it a default.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
pub struct Sent(pub Vec<String>);

impl Sent {
    /// Whether the request's query held parameter `name` (its contract name).
    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|n| n == name)
    }
}

fn params<T: DeserializeOwned>(
    pairs: Vec<(String, String)>,
    schema: &'static Schema,
) -> Result<T, ApiError> {
    let mut sent: Vec<String> = pairs.iter().map(|(k, _)| k.clone()).collect();
    sent.sort();
    sent.dedup();
    let mut value = coerce_params(schema, pairs);
    validate(schema, &mut value, Mode::Params).map_err(ApiError::Validation)?;
    if let serde_json::Value::Object(o) = &mut value {
        o.insert("$sent".into(), sent.into());
    }
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

    /// Google-style custom methods beside the item path, and a file extension beside it.
    #[tokio::test]
    async fn paths_sharing_a_route_reach_the_operation_whose_template_fits() {
        use axum::body::Body;
        use axum::routing::{get, post};
        use tower::ServiceExt;
        const TEST: &[Piece] = &[Piece::Param, Piece::Lit(":test")];
        const RUN: &[Piece] = &[Piece::Param, Piece::Lit(":run")];
        const JSON: &[Piece] = &[Piece::Param, Piece::Lit(".json")];
        let app: axum::Router = axum::Router::new()
            .route_service(
                "/v1/{name}",
                ByTemplate::new(
                    vec![
                        Variant::new(&[(1, TEST)], &["POST"], post(|| async { "test" })),
                        Variant::new(&[(1, RUN)], &["GET"], get(|| async { "run" })),
                    ],
                    Some(get(|| async { "item" }).delete(|| async { "deleted" })),
                ),
            )
            .route_service(
                "/files/{id}",
                ByTemplate::new(
                    vec![Variant::new(
                        &[(1, JSON)],
                        &["GET"],
                        get(|| async { "json" }),
                    )],
                    None,
                ),
            );
        let call = |method: &str, uri: &str| {
            let app = app.clone();
            let req = Request::builder()
                .method(method)
                .uri(uri)
                .body(Body::empty())
                .unwrap();
            async move {
                let res = app.oneshot(req).await.unwrap();
                let status = res.status().as_u16();
                let body = axum::body::to_bytes(res.into_body(), 1 << 16)
                    .await
                    .unwrap();
                (status, String::from_utf8_lossy(&body).into_owned())
            }
        };
        assert_eq!(call("GET", "/v1/projects").await, (200, "item".into()));
        assert_eq!(
            call("DELETE", "/v1/projects").await,
            (200, "deleted".into())
        );
        assert_eq!(
            call("POST", "/v1/projects:test").await,
            (200, "test".into())
        );
        assert_eq!(
            call("POST", "/v1/projects%3Atest").await,
            (200, "test".into()),
            "matched decoded"
        );
        assert_eq!(call("GET", "/v1/projects:run").await, (200, "run".into()));
        // The item path takes any name, `a:test` included, for the methods it serves.
        assert_eq!(call("GET", "/v1/a:test").await, (200, "item".into()));
        assert_eq!(call("POST", "/v1/projects").await.0, 405);
        assert_eq!(call("GET", "/files/7.json").await, (200, "json".into()));
        assert_eq!(
            call("GET", "/files/7").await.0,
            404,
            "fits no template, no plain path"
        );
        assert_eq!(call("POST", "/files/7.json").await.0, 405);
    }

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
