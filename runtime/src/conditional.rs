//! Conditional requests (RFC 9110 §13) over row versions.
//!
//! Every table apigen creates has a `version` column: 1 when the row is created, one more
//! on every write. An item's entity tag is that number as a strong tag (`"3"`), so it
//! changes exactly when the stored row does. Reads answer with `ETag` and honour
//! `If-None-Match` (304, RFC 9110 §13.1.2, weak comparison); writes honour `If-Match`
//! (412, §13.1.1, strong comparison) and, with `REQUIRE_IF_MATCH`, refuse to run without
//! one (428, RFC 6585 §3). Header parsing is the `headers` crate's.
//!
//! A handler takes what it needs as an extractor — [`Precondition`] (`If-Match`) or
//! [`IfNoneMatchHeader`] — so it never copies the request's whole header map.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use headers::{ETag, HeaderMapExt, IfMatch, IfNoneMatch};

/// The entity tag of a row at `version`: `"<version>"`, strong.
pub fn etag(version: i64) -> String {
    let mut buf = [0u8; 22];
    String::from_utf8_lossy(etag_bytes(version, &mut buf)).into_owned()
}

/// `"<version>"` written into `buf` (an `i64` has at most 20 characters, quotes make 22):
/// the tag without a heap allocation.
fn etag_bytes(version: i64, buf: &mut [u8; 22]) -> &[u8] {
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(version).as_bytes();
    buf[0] = b'"';
    buf[1..=digits.len()].copy_from_slice(digits);
    buf[digits.len() + 1] = b'"';
    &buf[..digits.len() + 2]
}

fn typed(version: i64) -> ETag {
    etag(version)
        .parse()
        .expect("a quoted decimal is an entity-tag")
}

/// The `If-Match` of a write: what it asks of the row's current version.
#[derive(Debug, Clone, Default)]
pub struct Precondition {
    if_match: Option<IfMatch>,
}

impl Precondition {
    /// No precondition: the write applies to whatever version is current.
    pub const NONE: Precondition = Precondition { if_match: None };

    /// Reads `If-Match`. A member that is not an entity tag matches nothing, so a
    /// malformed header fails the precondition (412). Errors: 400 when the value is not
    /// text; 428 when `required` (`REQUIRE_IF_MATCH`) and the request carries none.
    pub fn from_headers(headers: &HeaderMap, required: bool) -> Result<Precondition, ApiError> {
        let if_match = headers
            .typed_try_get::<IfMatch>()
            .map_err(|_| ApiError::BadRequest("If-Match is not a list of entity tags".into()))?;
        if if_match.is_none() && required {
            return Err(ApiError::PreconditionRequired);
        }
        Ok(Precondition { if_match })
    }

    /// The request carries `If-Match`.
    pub fn is_set(&self) -> bool {
        self.if_match.is_some()
    }

    /// Whether the row at `version` satisfies it: no `If-Match`, `*`, or a strong tag equal
    /// to the row's (a weak tag never matches: RFC 9110 §13.1.1).
    pub fn passes(&self, version: i64) -> bool {
        self.if_match
            .as_ref()
            .is_none_or(|m| m.precondition_passes(&typed(version)))
    }

    /// `Ok` when the row at `version` satisfies it, else 412 naming the current ETag.
    pub fn check(&self, version: i64) -> Result<(), ApiError> {
        if self.passes(version) {
            Ok(())
        } else {
            Err(ApiError::PreconditionFailed(etag(version)))
        }
    }
}

/// 304 Not Modified with the row's `ETag` and no body.
pub fn not_modified_response(version: i64) -> Response {
    with_etag(StatusCode::NOT_MODIFIED.into_response(), version)
}

/// `res` with the `ETag` of the row at `version`.
pub fn with_etag(mut res: Response, version: i64) -> Response {
    let mut buf = [0u8; 22];
    if let Ok(tag) = HeaderValue::from_bytes(etag_bytes(version, &mut buf)) {
        res.headers_mut().insert(header::ETAG, tag);
    }
    res
}

/// A write's `If-Match`, taken from the request as an extractor: `REQUIRE_IF_MATCH`
/// comes from the state's configuration. Rejections: [`Precondition::from_headers`]'s
/// (400, 428).
impl FromRequestParts<AppState> for Precondition {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Precondition::from_headers(&parts.headers, state.config.require_if_match)
    }
}

/// The `If-None-Match` of a GET or HEAD (RFC 9110 §13.1.2), taken as an extractor. A
/// malformed header is as if absent: the full answer is always correct.
#[derive(Debug, Clone, Default)]
pub struct IfNoneMatchHeader(Option<IfNoneMatch>);

impl IfNoneMatchHeader {
    /// Reads `If-None-Match` from `headers`.
    pub fn from_headers(headers: &HeaderMap) -> IfNoneMatchHeader {
        IfNoneMatchHeader(headers.typed_get::<IfNoneMatch>())
    }

    /// Whether the answer for the row at `version` is 304: the header is `*` or lists the
    /// row's tag, weak or strong (weak comparison).
    pub fn not_modified(&self, version: i64) -> bool {
        self.0
            .as_ref()
            .is_some_and(|m| !m.precondition_passes(&typed(version)))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for IfNoneMatchHeader {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(IfNoneMatchHeader::from_headers(&parts.headers))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(name: &'static str, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn if_match_passes_its_own_tag_and_any_but_not_others() {
        let p = Precondition::from_headers(&headers("if-match", "\"3\""), false).unwrap();
        assert!(p.is_set() && p.passes(3) && !p.passes(4));
        let any = Precondition::from_headers(&headers("if-match", "*"), false).unwrap();
        assert!(any.passes(1) && any.passes(99));
        let list = Precondition::from_headers(&headers("if-match", "\"1\", \"7\""), false).unwrap();
        assert!(list.passes(7) && !list.passes(2));
        let stale = Precondition::from_headers(&headers("if-match", "\"stale\""), false).unwrap();
        assert!(!stale.passes(1));
    }

    #[test]
    fn a_weak_tag_never_satisfies_if_match() {
        let p = Precondition::from_headers(&headers("if-match", "W/\"3\""), false).unwrap();
        assert!(!p.passes(3));
    }

    #[test]
    fn a_failed_check_names_the_current_tag() {
        let p = Precondition::from_headers(&headers("if-match", "\"1\""), false).unwrap();
        match p.check(2) {
            Err(ApiError::PreconditionFailed(tag)) => assert_eq!(tag, "\"2\""),
            other => panic!("{other:?}"),
        }
        let res = p.check(2).unwrap_err().into_response();
        assert_eq!(res.status(), StatusCode::PRECONDITION_FAILED);
        assert_eq!(res.headers()[header::ETAG], "\"2\"");
    }

    #[test]
    fn no_if_match_passes_unless_one_is_required() {
        let none = Precondition::from_headers(&HeaderMap::new(), false).unwrap();
        assert!(!none.is_set() && none.passes(5));
        assert!(matches!(
            Precondition::from_headers(&HeaderMap::new(), true),
            Err(ApiError::PreconditionRequired)
        ));
        assert_eq!(
            ApiError::PreconditionRequired.into_response().status(),
            StatusCode::PRECONDITION_REQUIRED
        );
    }

    #[test]
    fn a_malformed_if_match_never_passes() {
        let p = Precondition::from_headers(&headers("if-match", "3"), false).unwrap();
        assert!(
            p.is_set() && !p.passes(3),
            "an unquoted tag matches nothing: 412"
        );
    }

    #[test]
    fn if_none_match_compares_weakly() {
        let not_modified =
            |h: &HeaderMap, version| IfNoneMatchHeader::from_headers(h).not_modified(version);
        assert!(not_modified(&headers("if-none-match", "\"4\""), 4));
        assert!(not_modified(&headers("if-none-match", "W/\"4\""), 4));
        assert!(not_modified(&headers("if-none-match", "*"), 4));
        assert!(!not_modified(&headers("if-none-match", "\"3\""), 4));
        assert!(!not_modified(&HeaderMap::new(), 4));
        let res = not_modified_response(4);
        assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(res.headers()[header::ETAG], "\"4\"");
    }

    #[test]
    fn the_tag_is_the_quoted_decimal_version_at_every_extreme() {
        for v in [0, 1, 42, i64::MAX, i64::MIN, -7] {
            let quoted = format!("\"{v}\"");
            assert_eq!(etag(v), quoted, "{v}");
            let res = with_etag(StatusCode::OK.into_response(), v);
            assert_eq!(res.headers()[header::ETAG], quoted.as_str());
        }
    }

    fn parts(headers: &[(&'static str, &str)]) -> Parts {
        let mut req = axum::http::Request::builder().uri("/x");
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        req.body(()).expect("a request").into_parts().0
    }

    #[tokio::test]
    async fn if_none_match_is_extracted_and_compared_weakly() {
        let mut p = parts(&[("if-none-match", "W/\"4\", \"9\"")]);
        let h = IfNoneMatchHeader::from_request_parts(&mut p, &())
            .await
            .unwrap();
        assert!(h.not_modified(4) && h.not_modified(9) && !h.not_modified(5));
        let mut none = parts(&[]);
        let h = IfNoneMatchHeader::from_request_parts(&mut none, &())
            .await
            .unwrap();
        assert!(!h.not_modified(1));
        let mut bad = parts(&[("if-none-match", "4")]);
        let h = IfNoneMatchHeader::from_request_parts(&mut bad, &())
            .await
            .unwrap();
        assert!(!h.not_modified(4), "a malformed header is as if absent");
    }

    #[tokio::test]
    async fn the_precondition_extractor_reads_if_match_and_the_state_requirement() {
        let app = crate::fixture::app().await;
        let mut p = parts(&[("if-match", "\"2\"")]);
        let pre = Precondition::from_request_parts(&mut p, &app.state)
            .await
            .unwrap();
        assert!(pre.passes(2) && !pre.passes(3));
        let mut none = parts(&[]);
        let pre = Precondition::from_request_parts(&mut none, &app.state)
            .await
            .unwrap();
        assert!(!pre.is_set());
        let strict = crate::fixture::app_with(&[("REQUIRE_IF_MATCH", "true")]).await;
        let mut none = parts(&[]);
        assert!(matches!(
            Precondition::from_request_parts(&mut none, &strict.state).await,
            Err(ApiError::PreconditionRequired)
        ));
    }
}
