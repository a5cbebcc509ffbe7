//! Conditional requests (RFC 9110 §13) over row versions.
//!
//! Every table apigen creates has a `version` column: 1 when the row is created, one more
//! on every write. An item's entity tag is that number as a strong tag (`"3"`), so it
//! changes exactly when the stored row does. Reads answer with `ETag` and honour
//! `If-None-Match` (304, RFC 9110 §13.1.2, weak comparison); writes honour `If-Match`
//! (412, §13.1.1, strong comparison) and, with `REQUIRE_IF_MATCH`, refuse to run without
//! one (428, RFC 6585 §3). Header parsing is the `headers` crate's.

use crate::error::ApiError;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use headers::{ETag, HeaderMapExt, IfMatch, IfNoneMatch};

/// The entity tag of a row at `version`: `"<version>"`, strong.
pub fn etag(version: i64) -> String {
    format!("\"{version}\"")
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

/// Whether a GET or HEAD of the row at `version` may answer 304: its `If-None-Match` is
/// `*` or lists the row's tag, weak or strong (RFC 9110 §13.1.2). A malformed header is
/// ignored, as if absent (the full answer is always correct).
pub fn not_modified(headers: &HeaderMap, version: i64) -> bool {
    headers
        .typed_get::<IfNoneMatch>()
        .is_some_and(|m| !m.precondition_passes(&typed(version)))
}

/// 304 Not Modified with the row's `ETag` and no body.
pub fn not_modified_response(version: i64) -> Response {
    with_etag(StatusCode::NOT_MODIFIED.into_response(), version)
}

/// `res` with the `ETag` of the row at `version`.
pub fn with_etag(mut res: Response, version: i64) -> Response {
    if let Ok(tag) = HeaderValue::from_str(&etag(version)) {
        res.headers_mut().insert(header::ETAG, tag);
    }
    res
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
        assert!(not_modified(&headers("if-none-match", "\"4\""), 4));
        assert!(not_modified(&headers("if-none-match", "W/\"4\""), 4));
        assert!(not_modified(&headers("if-none-match", "*"), 4));
        assert!(!not_modified(&headers("if-none-match", "\"3\""), 4));
        assert!(!not_modified(&HeaderMap::new(), 4));
        let res = not_modified_response(4);
        assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(res.headers()[header::ETAG], "\"4\"");
    }
}
