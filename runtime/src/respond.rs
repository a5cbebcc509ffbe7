//! Writing success responses: a bare JSON body, the `{"data", "meta", "error"}` envelope of
//! domain-spec services, or a list inside the contract's own wrapper object. Each body is
//! serialised once, straight from the value (no `serde_json::Value` of it first).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::ser::SerializeMap;
use serde::Serialize;

/// Bytes a JSON body's buffer starts with: one row of a typical resource, with its
/// envelope, fits, so an item answer is written without the buffer growing.
const BODY_CAPACITY: usize = 512;

/// Header slots an answer's map starts with: what the service's layers add to every
/// answer (content type, `ETag` or `Location`, three rate-limit headers, the request id,
/// four security headers) fits without the map growing and rehashing.
const RESPONSE_HEADERS: usize = 12;

/// `body` as JSON (`Content-Type: application/json`) with `status`. A value that cannot
/// be serialised (a map with non-string keys) is a 500 in the service's error format.
pub fn json<T: Serialize + ?Sized>(status: StatusCode, body: &T) -> Response {
    let mut buf = Vec::with_capacity(BODY_CAPACITY);
    if let Err(e) = serde_json::to_writer(&mut buf, body) {
        return crate::ApiError::Internal(format!("serialising an answer: {e}")).into_response();
    }
    let mut res = Response::new(axum::body::Body::from(buf));
    *res.status_mut() = status;
    let headers = res.headers_mut();
    headers.reserve(RESPONSE_HEADERS);
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}

/// `{"data": body, "meta": meta, "error": null}` with `status`; `meta` of `None` is `{}`.
pub fn enveloped<T: Serialize + ?Sized>(
    status: StatusCode,
    body: &T,
    meta: Option<serde_json::Value>,
) -> Response {
    json(
        status,
        &Envelope {
            data: body,
            meta: meta.unwrap_or_else(|| serde_json::json!({})),
            error: None,
        },
    )
}

/// [`enveloped`] when `envelope` (the service's [`crate::Service::envelope`]), else [`json`].
pub fn body<T: Serialize + ?Sized>(envelope: bool, status: StatusCode, body: &T) -> Response {
    if envelope {
        enveloped(status, body, None)
    } else {
        json(status, body)
    }
}

/// `{"data": …, "meta": …, "error": null}`.
#[derive(Serialize)]
struct Envelope<'a, T: Serialize + ?Sized> {
    data: &'a T,
    meta: serde_json::Value,
    error: Option<()>,
}

/// A body wrapped in a one-member object, `{"<key>": body}` (a list inside the contract's
/// own wrapper object).
pub fn wrapped<T: Serialize + ?Sized>(status: StatusCode, key: &'static str, body: &T) -> Response {
    json(status, &One(key, body))
}

struct One<'a, T: ?Sized>(&'static str, &'a T);

impl<T: Serialize + ?Sized> Serialize for One<'_, T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(1))?;
        m.serialize_entry(self.0, self.1)?;
        m.end()
    }
}

/// A response without a body.
pub fn empty(status: StatusCode) -> Response {
    status.into_response()
}

/// Adds a `Location` header (RFC 9110 §10.2.2) to a 201 response.
pub fn with_location(mut res: Response, location: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(location) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn text(res: Response) -> String {
        String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap()
    }

    #[tokio::test]
    async fn the_envelope_and_the_wrapper_hold_the_body_once() {
        let res = enveloped(
            StatusCode::OK,
            &[1, 2],
            Some(serde_json::json!({"limit": 2})),
        );
        assert_eq!(res.headers()[header::CONTENT_TYPE], "application/json");
        assert_eq!(
            text(res).await,
            r#"{"data":[1,2],"meta":{"limit":2},"error":null}"#
        );
        assert_eq!(
            text(wrapped(StatusCode::OK, "items", &[3])).await,
            r#"{"items":[3]}"#
        );
        assert_eq!(text(body(false, StatusCode::CREATED, "x")).await, r#""x""#);
    }

    #[test]
    fn a_location_that_is_no_header_value_is_left_out() {
        assert_eq!(
            with_location(empty(StatusCode::CREATED), "/books/1").headers()[header::LOCATION],
            "/books/1"
        );
        assert!(with_location(empty(StatusCode::CREATED), "/bad\nvalue")
            .headers()
            .get(header::LOCATION)
            .is_none());
    }

    #[tokio::test]
    async fn a_body_of_any_size_is_written_whole_and_an_unserialisable_one_is_a_500() {
        let long = "x".repeat(5 * BODY_CAPACITY);
        let res = json(StatusCode::ACCEPTED, &long);
        assert_eq!(res.status(), StatusCode::ACCEPTED);
        assert_eq!(text(res).await, format!("\"{long}\""));
        let keys: std::collections::BTreeMap<(u8, u8), u8> = [((1, 2), 3)].into();
        let res = json(StatusCode::OK, &keys);
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(
            !text(res).await.contains("key must be a string"),
            "the cause is logged, not sent"
        );
    }
}
