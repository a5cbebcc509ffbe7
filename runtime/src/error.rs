//! The one HTTP error type, and the shape of error bodies as data.
//!
//! Every failure leaves the service as an [`ApiError`], whose variant fixes the status
//! code (RFC 9110 §15). The body follows the service's [`ErrorFormat`]: apigen's own
//! `{"error": {"code", "message", "details", "requestId"}}` (inside the
//! `{"data": null, …}` envelope for domain-spec services), or the contract's own error
//! schema, RFC 9457 problem details included, whose members apigen mapped by meaning
//! onto what the service knows of a failure ([`ErrorValue`]).

use crate::observability::current_request_id;
use crate::validation::FieldError;
use crate::Service;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

/// A failure, by the status code it answers with.
#[derive(Debug)]
pub enum ApiError {
    /// 400: the input broke the contract's constraints; every field error is listed.
    Validation(Vec<FieldError>),
    /// 400: the request could not be read (malformed JSON, a bad cursor).
    BadRequest(String),
    /// 401: no acceptable credential (the guard adds `WWW-Authenticate`).
    Unauthorized,
    /// 401: a login or refresh failed. Says nothing of which part was wrong.
    InvalidCredentials,
    /// 403: authenticated, but without the role or scope the operation needs.
    Forbidden,
    /// 404: no such row, or one the caller may not see.
    NotFound,
    /// 409: a unique value is already taken, or a version does not match.
    Conflict(String),
    /// 412: an `If-Match` precondition failed (RFC 9110 §13.1.1); the current entity tag
    /// of the row (`"3"`), sent back as `ETag` and named in the message.
    PreconditionFailed(String),
    /// 428: the service requires conditional writes (`REQUIRE_IF_MATCH`) and the request
    /// carries no `If-Match` (RFC 6585 §3).
    PreconditionRequired,
    /// 413: the body is larger than the configured cap.
    PayloadTooLarge,
    /// 415: the body is not `application/json`.
    UnsupportedMediaType,
    /// 422: well-formed but semantically invalid.
    Unprocessable(String),
    /// 422: the named field (its JSON name) refers to a row that does not exist (a
    /// foreign key); listed in `details`.
    UnknownReference(Vec<FieldError>),
    /// 409: several writers changed the row at once and this one gave up retrying
    /// (`db::WRITE_ATTEMPTS`); the request can be sent again.
    WriteConflict,
    /// 429: the caller's rate limit is spent (the guard adds `Retry-After`).
    RateLimited,
    /// 501: the contract declares this operation but nobody has implemented it yet; the
    /// operation id.
    NotImplemented(&'static str),
    /// 503: the database cannot be reached right now (with `Retry-After`).
    Unavailable,
    /// 503: the service is at a limit of its own right now (password hashing), and answers
    /// at once rather than queue (with `Retry-After: 1`).
    Busy,
    /// 500: anything else; the detail is logged with the request id, never returned.
    Internal(String),
}

impl ApiError {
    /// The status, machine code and client-facing message.
    pub fn parts(&self) -> (StatusCode, &'static str, String) {
        match self {
            ApiError::Validation(_) => (
                StatusCode::BAD_REQUEST,
                "VALIDATION_ERROR",
                "the request is invalid".into(),
            ),
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, "BAD_REQUEST", m.clone()),
            ApiError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "UNAUTHENTICATED",
                "authentication is required".into(),
            ),
            ApiError::InvalidCredentials => (
                StatusCode::UNAUTHORIZED,
                "INVALID_CREDENTIALS",
                "invalid credentials".into(),
            ),
            ApiError::Forbidden => (
                StatusCode::FORBIDDEN,
                "FORBIDDEN",
                "you may not do this".into(),
            ),
            ApiError::NotFound => (
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                "no such resource".into(),
            ),
            ApiError::Conflict(m) => (StatusCode::CONFLICT, "CONFLICT", m.clone()),
            ApiError::PreconditionFailed(current) => (
                StatusCode::PRECONDITION_FAILED,
                "PRECONDITION_FAILED",
                format!("the resource has changed: its current ETag is {current}"),
            ),
            ApiError::PreconditionRequired => (
                StatusCode::PRECONDITION_REQUIRED,
                "PRECONDITION_REQUIRED",
                "this change must be conditional: send If-Match with the ETag you read".into(),
            ),
            ApiError::UnknownReference(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "UNKNOWN_REFERENCE",
                "a field refers to a row that does not exist".into(),
            ),
            ApiError::WriteConflict => (
                StatusCode::CONFLICT,
                "CONFLICT",
                "the row was changed by others while this change was made; retry".into(),
            ),
            ApiError::PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                "the request body is too large".into(),
            ),
            ApiError::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UNSUPPORTED_MEDIA_TYPE",
                "the request body must be application/json".into(),
            ),
            ApiError::Unprocessable(m) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "UNPROCESSABLE", m.clone())
            }
            ApiError::RateLimited => (
                StatusCode::TOO_MANY_REQUESTS,
                "RATE_LIMITED",
                "too many requests; retry later".into(),
            ),
            ApiError::NotImplemented(op) => (
                StatusCode::NOT_IMPLEMENTED,
                "NOT_IMPLEMENTED",
                format!("operation {op} is not implemented yet"),
            ),
            ApiError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "UNAVAILABLE",
                "the service is temporarily unavailable".into(),
            ),
            ApiError::Busy => (
                StatusCode::SERVICE_UNAVAILABLE,
                "BUSY",
                "the service is busy; retry in a moment".into(),
            ),
            ApiError::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL",
                "an internal error occurred".into(),
            ),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (status, code, message) = self.parts();
        write!(f, "{} {code}: {message}", status.as_u16())
    }
}

impl std::error::Error for ApiError {}

/// What a failure tells the client, before a format shapes it.
#[derive(Debug, Clone)]
pub struct Failure<'a> {
    pub status: StatusCode,
    pub code: &'a str,
    pub message: &'a str,
    /// Field errors (`[{"field", "issue"}]`), empty unless the input was invalid.
    pub details: &'a [FieldError],
    pub request_id: &'a str,
}

/// How error bodies look: a media type and the members of the body.
#[derive(Debug)]
pub struct ErrorFormat {
    /// `Content-Type` of error answers: `application/json`, or the contract's own
    /// (`application/problem+json`, RFC 9457 §3).
    pub media_type: &'static str,
    /// The body's members, in order.
    pub body: &'static [Member],
    /// The body carries apigen's own `error` object (`code`, `message`, `details`,
    /// `requestId`), so clients and tests can read the machine code and field errors.
    pub extended: bool,
}

/// One member of an error body object.
#[derive(Debug)]
pub struct Member {
    pub name: &'static str,
    pub value: ErrorValue,
}

impl Member {
    pub const fn new(name: &'static str, value: ErrorValue) -> Member {
        Member { name, value }
    }
}

/// What one member of an error body holds.
#[derive(Debug)]
pub enum ErrorValue {
    /// The status code as a number (`404`).
    Status,
    /// The status code as a string (`"404"`).
    StatusText,
    /// The status code's reason phrase (`"Not Found"`): RFC 9457 §3.1.4 `title`.
    Reason,
    /// The machine code (`NOT_FOUND`).
    Code,
    /// The client-facing message.
    Message,
    /// The field errors, `[{"field", "issue"}]`.
    Details,
    /// The request id (also in `X-Request-ID`).
    RequestId,
    /// A fixed JSON value, as JSON text (`"about:blank"` for RFC 9457 §4.2.1 `type`,
    /// `false`, `null`, `[]`, an enumeration's first value).
    Json(&'static str),
    /// A nested object.
    Object(&'static [Member]),
}

/// apigen's own error object.
pub const APIGEN_ERROR: &[Member] = &[
    Member::new("code", ErrorValue::Code),
    Member::new("message", ErrorValue::Message),
    Member::new("details", ErrorValue::Details),
    Member::new("requestId", ErrorValue::RequestId),
];

impl ErrorFormat {
    /// apigen's own format: `{"error": {"code", "message", "details", "requestId"}}`.
    pub const APIGEN: ErrorFormat = ErrorFormat {
        media_type: "application/json",
        body: &[Member::new("error", ErrorValue::Object(APIGEN_ERROR))],
        extended: true,
    };

    /// apigen's own format inside the envelope: `{"data": null, "error": {…}}`.
    pub const ENVELOPE: ErrorFormat = ErrorFormat {
        media_type: "application/json",
        body: &[
            Member::new("data", ErrorValue::Json("null")),
            Member::new("error", ErrorValue::Object(APIGEN_ERROR)),
        ],
        extended: true,
    };

    /// The body of `failure` in this format.
    pub fn body(&self, failure: &Failure<'_>) -> Value {
        object(self.body, failure)
    }
}

fn object(members: &[Member], f: &Failure<'_>) -> Value {
    let mut out = Map::with_capacity(members.len());
    for m in members {
        out.insert(m.name.to_string(), value(&m.value, f));
    }
    Value::Object(out)
}

fn value(v: &ErrorValue, f: &Failure<'_>) -> Value {
    match v {
        ErrorValue::Status => Value::from(f.status.as_u16()),
        ErrorValue::StatusText => Value::from(f.status.as_str()),
        ErrorValue::Reason => Value::from(f.status.canonical_reason().unwrap_or("Error")),
        ErrorValue::Code => Value::from(f.code),
        ErrorValue::Message => Value::from(f.message),
        ErrorValue::Details => serde_json::to_value(f.details).unwrap_or(Value::Array(vec![])),
        ErrorValue::RequestId => Value::from(f.request_id),
        ErrorValue::Json(text) => serde_json::from_str(text).unwrap_or(Value::Null),
        ErrorValue::Object(members) => object(members, f),
    }
}

impl IntoResponse for ApiError {
    /// The installed [`Service`]'s format (apigen's own before one is installed). 401 gets a
    /// challenge naming the service (RFC 9110 §15.5.2; the guard replaces it with the
    /// operation's schemes), 503 a `Retry-After`.
    fn into_response(self) -> Response {
        let (status, code, message) = self.parts();
        let request_id = current_request_id();
        match &self {
            ApiError::Internal(detail) => {
                tracing::error!(request_id = %request_id, detail = %detail, "internal error")
            }
            ApiError::Unavailable => {
                tracing::warn!(request_id = %request_id, "database unavailable")
            }
            _ => {}
        }
        let details = match &self {
            ApiError::Validation(errors) | ApiError::UnknownReference(errors) => errors.as_slice(),
            _ => &[],
        };
        let service = Service::current();
        let format = service.map_or(&ErrorFormat::APIGEN, |s| s.errors);
        let body = format.body(&Failure {
            status,
            code,
            message: &message,
            details,
            request_id: &request_id,
        });
        let mut res = (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(format.media_type),
            )],
            body.to_string(),
        )
            .into_response();
        if status == StatusCode::UNAUTHORIZED {
            let realm = service.map_or("api", |s| s.name);
            if let Ok(challenge) = HeaderValue::from_str(&format!("Bearer realm=\"{realm}\"")) {
                res.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, challenge);
            }
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            let after = if matches!(self, ApiError::Busy) {
                "1"
            } else {
                "5"
            };
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static(after));
        }
        if let ApiError::PreconditionFailed(current) = &self {
            if let Ok(tag) = HeaderValue::from_str(current) {
                res.headers_mut().insert(header::ETAG, tag);
            }
        }
        res
    }
}

impl From<sqlx::Error> for ApiError {
    /// Unique violations and deleting a row still referenced are 409 (the request is valid,
    /// but conflicts with the rows stored: RFC 9110 §15.5.10), a reference to no row 422
    /// (RFC 9110 §15.5.21), check violations 400, pool and I/O failures and statements
    /// stopped at their timeout 503; everything else is an opaque 500.
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::RowNotFound => ApiError::NotFound,
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                ApiError::Conflict("a unique value is already taken".into())
            }
            // PostgreSQL says which side broke: a row still referenced (409) or a reference
            // to no row (422). SQLite says only "FOREIGN KEY constraint failed"; the
            // generated writes name the dangling field themselves (`db::dangling`).
            sqlx::Error::Database(db)
                if db.is_foreign_key_violation() && db.message().contains("is not present") =>
            {
                ApiError::Unprocessable("a referenced row does not exist".into())
            }
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => ApiError::Conflict(
                if db.message().contains("still referenced") {
                    "this row is still referenced by other rows"
                } else {
                    "a referenced row does not exist, or this row is still referenced"
                }
                .into(),
            ),
            sqlx::Error::Database(db) if db.is_check_violation() => {
                ApiError::BadRequest("a value breaks a constraint".into())
            }
            // A statement stopped at DB_STATEMENT_TIMEOUT_SECS: PostgreSQL's query_canceled
            // (57014), SQLite's SQLITE_INTERRUPT (9, from the runtime's statement clock).
            sqlx::Error::Database(db) if matches!(db.code().as_deref(), Some("57014" | "9")) => {
                ApiError::Unavailable
            }
            sqlx::Error::PoolTimedOut
            | sqlx::Error::Io(_)
            | sqlx::Error::PoolClosed
            | sqlx::Error::Tls(_) => ApiError::Unavailable,
            _ => ApiError::Internal(e.to_string()),
        }
    }
}

impl From<serde_json::Error> for ApiError {
    fn from(e: serde_json::Error) -> Self {
        ApiError::Internal(format!("json: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn failure(details: &[FieldError]) -> Failure<'_> {
        Failure {
            status: StatusCode::NOT_FOUND,
            code: "NOT_FOUND",
            message: "no such resource",
            details,
            request_id: "req-1",
        }
    }

    #[test]
    fn apigen_format_names_code_message_details_and_request_id() {
        let body = ErrorFormat::APIGEN.body(&failure(&[]));
        assert_eq!(
            body,
            json!({"error": {"code": "NOT_FOUND", "message": "no such resource", "details": [], "requestId": "req-1"}})
        );
        let enveloped = ErrorFormat::ENVELOPE.body(&failure(&[]));
        assert_eq!(enveloped["data"], Value::Null);
        assert_eq!(enveloped["error"]["requestId"], "req-1");
    }

    #[test]
    fn a_problem_details_format_maps_members_by_meaning() {
        // RFC 9457 problem details with apigen's error object beside them.
        static PROBLEM: ErrorFormat = ErrorFormat {
            media_type: "application/problem+json",
            body: &[
                Member::new("type", ErrorValue::Json("\"about:blank\"")),
                Member::new("title", ErrorValue::Reason),
                Member::new("status", ErrorValue::Status),
                Member::new("detail", ErrorValue::Message),
                Member::new("code", ErrorValue::StatusText),
                Member::new("error", ErrorValue::Object(APIGEN_ERROR)),
            ],
            extended: true,
        };
        let details = [FieldError {
            field: "name".into(),
            issue: "is required".into(),
        }];
        let body = PROBLEM.body(&failure(&details));
        assert_eq!(body["type"], "about:blank");
        assert_eq!(body["title"], "Not Found");
        assert_eq!(body["status"], 404);
        assert_eq!(body["detail"], "no such resource");
        assert_eq!(body["code"], "404");
        assert_eq!(
            body["error"]["details"],
            json!([{"field": "name", "issue": "is required"}])
        );
        let order: Vec<&String> = body.as_object().unwrap().keys().collect();
        assert_eq!(
            order,
            ["type", "title", "status", "detail", "code", "error"]
        );
    }

    #[test]
    fn statuses_are_exact_and_internal_details_stay_inside() {
        assert_eq!(
            ApiError::Conflict("x".into()).parts().0,
            StatusCode::CONFLICT
        );
        assert_eq!(
            ApiError::Unprocessable("x".into()).parts().0,
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(
            ApiError::NotImplemented("op").parts().0,
            StatusCode::NOT_IMPLEMENTED
        );
        let (status, _, message) = ApiError::Internal("password=hunter2".into()).parts();
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!message.contains("hunter2"));
    }

    #[test]
    fn unavailable_answers_carry_retry_after_and_unauthorized_a_challenge() {
        let res = ApiError::Unavailable.into_response();
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(res.headers()[header::RETRY_AFTER], "5");
        let res = ApiError::Unauthorized.into_response();
        assert!(res.headers()[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .starts_with("Bearer realm="));
    }
}
