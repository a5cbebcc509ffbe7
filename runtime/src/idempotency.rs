//! Idempotency keys (IETF draft-ietf-httpapi-idempotency-key-header): a client that sends
//! `Idempotency-Key` with a POST or PATCH may send it again after a lost answer and gets
//! the first answer back instead of a second change.
//!
//! The first request with a key claims it (a row of `apigen_idempotency`, scoped to the
//! caller), runs, and stores its answer (status, body, `Content-Type`, `Location`,
//! `ETag`) with a fingerprint of the request (SHA-256 of method, path, query and body). A
//! repeat with the same fingerprint is answered from the store, marked
//! `Idempotent-Replayed: true`; the same key with another request is 422; a repeat while
//! the first still runs is 409. A server error (5xx) releases the claim, so a retry runs
//! again. Keys expire after `IDEMPOTENCY_TTL_SECS` (default 24 h) and are purged.
//!
//! The claim is committed at once, so a concurrent repeat sees it. The handler then runs
//! with one transaction for all its writes ([`crate::write::in_request`]), and the answer is
//! stored in that same transaction before it commits: the change and its stored answer are
//! kept together or not at all. Should the process die first, both roll back, the claim is
//! taken as abandoned once it is older than the request timeout, and a retry runs again —
//! never applying the change twice. A server error rolls the change back and releases
//! the claim.

use crate::error::ApiError;
use crate::state::AppState;
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// Whether an operation takes `Idempotency-Key`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Not offered (reads, the account routes).
    Off,
    /// Honoured when sent (every POST and PATCH of the contract).
    Optional,
    /// Required: 400 without it (`x-apigen-idempotency: required`).
    Required,
}

/// The request header (draft-ietf-httpapi-idempotency-key-header §2).
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
/// The header that marks a replayed answer.
pub const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");
/// The longest key accepted, in bytes.
pub const MAX_KEY_LEN: usize = 255;

/// The table of claimed keys, created at start-up if missing (it is the runtime's, apart
/// from the contract's migrations). Times are Unix seconds.
#[cfg(feature = "sqlite")]
pub(crate) const TABLE: &str = "CREATE TABLE IF NOT EXISTS apigen_idempotency (scope TEXT NOT NULL, key TEXT NOT NULL, fingerprint TEXT NOT NULL, status INTEGER, headers TEXT, body BLOB, created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, PRIMARY KEY (scope, key))";
#[cfg(feature = "postgres")]
pub(crate) const TABLE: &str = "CREATE TABLE IF NOT EXISTS apigen_idempotency (scope TEXT NOT NULL, key TEXT NOT NULL, fingerprint TEXT NOT NULL, status INTEGER, headers TEXT, body BYTEA, created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, PRIMARY KEY (scope, key))";

/// Creates the table of claimed keys when it is missing. Errors: the database's.
pub async fn ensure_table(pool: &crate::db::Pool) -> Result<(), sqlx::Error> {
    sqlx::query(TABLE).execute(pool).await.map(|_| ())
}

/// Deletes expired keys; how many. Errors: the database's.
pub async fn purge(pool: &crate::db::Pool) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query("DELETE FROM apigen_idempotency WHERE expires_at <= $1")
            .bind(now())
            .execute(pool)
            .await?
            .rows_affected(),
    )
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Whether `policy` applies to a request of `method`.
pub fn applies(policy: Policy, method: &Method) -> bool {
    policy != Policy::Off && (method == Method::POST || method == Method::PATCH)
}

/// The fingerprint of a request: SHA-256 over its method, path and query, and body, hex.
pub fn fingerprint(method: &Method, path_and_query: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(method.as_str().as_bytes());
    h.update([0]);
    h.update(path_and_query.as_bytes());
    h.update([0]);
    h.update(body);
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The headers of an answer that a replay repeats.
const KEPT: [HeaderName; 3] = [header::CONTENT_TYPE, header::LOCATION, header::ETAG];

/// Runs `handler` for `req` under `policy` for the caller `scope` (their subject, or the
/// API key's id): a first request runs and its answer is stored, a repeat is answered
/// from the store. Errors (as answers): 400 for a missing (when required) or malformed
/// key, 409 while the first request still runs, 413 for a body over the limit, 422 for
/// the same key with another request.
pub async fn run<S>(
    state: &AppState,
    scope: &str,
    policy: Policy,
    req: Request,
    handler: &mut S,
) -> Response
where
    S: tower::Service<Request, Response = Response, Error = std::convert::Infallible>,
{
    let key = match req.headers().get(&IDEMPOTENCY_KEY) {
        None if policy == Policy::Required => {
            return ApiError::BadRequest("this operation requires an Idempotency-Key header".into())
                .into_response()
        }
        None => return call(handler, req).await,
        Some(v) => match v.to_str() {
            Ok(k) if !k.is_empty() && k.len() <= MAX_KEY_LEN => k.to_string(),
            _ => {
                return ApiError::BadRequest(format!(
                    "Idempotency-Key must be 1 to {MAX_KEY_LEN} visible ASCII characters"
                ))
                .into_response()
            }
        },
    };
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, state.config.body_limit_bytes).await {
        Ok(b) => b,
        Err(_) => return ApiError::PayloadTooLarge.into_response(),
    };
    let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let print = fingerprint(&parts.method, target, &bytes);
    match claim(state, scope, &key, &print).await {
        Ok(Claim::Ours) => {}
        Ok(Claim::Stored(answer)) => return answer,
        Ok(Claim::Refused(e)) => return e.into_response(),
        Err(e) => return ApiError::from(e).into_response(),
    }
    let (res, finished) =
        crate::write::in_request(call(handler, Request::from_parts(parts, Body::from(bytes))))
            .await;
    let tx = finished.transaction().await;
    if res.status().is_server_error() {
        // The change (if any) rolls back with `tx`; a retry runs again.
        drop(tx);
        return match release(state, scope, &key).await {
            Ok(()) => res,
            Err(e) => ApiError::from(e).into_response(),
        };
    }
    let (answer, res) = Answer::of(res).await;
    let stored = match tx {
        Some(mut tx) => match answer.save(&mut *tx, scope, &key).await {
            Ok(()) => tx.commit().await,
            Err(e) => Err(e),
        },
        None => answer.save(&state.db, scope, &key).await,
    };
    match stored {
        Ok(()) => res,
        Err(e) => {
            // Neither the change nor its answer was kept: let a retry run again.
            let _ = release(state, scope, &key).await;
            ApiError::from(e).into_response()
        }
    }
}

async fn call<S>(handler: &mut S, req: Request) -> Response
where
    S: tower::Service<Request, Response = Response, Error = std::convert::Infallible>,
{
    match handler.call(req).await {
        Ok(res) => res,
        Err(never) => match never {},
    }
}

enum Claim {
    /// This request holds the key: run it.
    Ours,
    /// The key's first answer, to replay.
    Stored(Response),
    /// 409 or 422.
    Refused(ApiError),
}

type Row = (String, Option<i32>, Option<String>, Option<Vec<u8>>, i64);

async fn claim(
    state: &AppState,
    scope: &str,
    key: &str,
    print: &str,
) -> Result<Claim, sqlx::Error> {
    let now = now();
    let ttl = state.config.idempotency_ttl.as_secs() as i64;
    // An expired key, or a claim left by a request that cannot still be running (older
    // than the request timeout), no longer holds.
    let abandoned = now - state.config.request_timeout.as_secs() as i64 - 5;
    sqlx::query("DELETE FROM apigen_idempotency WHERE scope = $1 AND key = $2 AND (expires_at <= $3 OR (status IS NULL AND created_at < $4))")
        .bind(scope)
        .bind(key)
        .bind(now)
        .bind(abandoned)
        .execute(&state.db)
        .await?;
    let claimed = sqlx::query("INSERT INTO apigen_idempotency (scope, key, fingerprint, created_at, expires_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING")
        .bind(scope)
        .bind(key)
        .bind(print)
        .bind(now)
        .bind(now + ttl)
        .execute(&state.db)
        .await?
        .rows_affected()
        == 1;
    if claimed {
        return Ok(Claim::Ours);
    }
    let row: Option<Row> = sqlx::query_as("SELECT fingerprint, status, headers, body, created_at FROM apigen_idempotency WHERE scope = $1 AND key = $2")
        .bind(scope)
        .bind(key)
        .fetch_optional(&state.db)
        .await?;
    Ok(match row {
        // Released between the two statements: the client may retry.
        None => Claim::Refused(ApiError::Conflict(
            "a request with this Idempotency-Key was just retried; send it again".into(),
        )),
        Some((stored, _, _, _, _)) if stored != print => Claim::Refused(ApiError::Unprocessable(
            "this Idempotency-Key was used for a different request".into(),
        )),
        Some((_, None, _, _, _)) => Claim::Refused(ApiError::Conflict(
            "a request with this Idempotency-Key is still being processed".into(),
        )),
        Some((_, Some(status), headers, body, _)) => {
            Claim::Stored(replay(status, headers.as_deref(), body.unwrap_or_default()))
        }
    })
}

fn replay(status: i32, headers: Option<&str>, body: Vec<u8>) -> Response {
    let mut res = Response::new(Body::from(body));
    *res.status_mut() = u16::try_from(status)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::OK);
    let pairs: Vec<(String, String)> = headers
        .and_then(|h| serde_json::from_str(h).ok())
        .unwrap_or_default();
    for (name, value) in pairs {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            res.headers_mut().insert(n, v);
        }
    }
    res.headers_mut()
        .insert(REPLAYED, HeaderValue::from_static("true"));
    res
}

/// Gives up the claim on `key`, so a retry runs again. Errors: the database's.
async fn release(state: &AppState, scope: &str, key: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM apigen_idempotency WHERE scope = $1 AND key = $2")
        .bind(scope)
        .bind(key)
        .execute(&state.db)
        .await?;
    Ok(())
}

/// The part of an answer that is stored for replay: status, the [`KEPT`] headers, body.
struct Answer {
    status: i32,
    headers: String,
    body: Vec<u8>,
}

impl Answer {
    /// Reads `res` through: what to store, and the same answer to send.
    async fn of(res: Response) -> (Answer, Response) {
        let (parts, body) = res.into_parts();
        let bytes: Bytes = axum::body::to_bytes(body, usize::MAX)
            .await
            .unwrap_or_default();
        let kept: Vec<(String, String)> = KEPT
            .iter()
            .filter_map(|n| {
                parts
                    .headers
                    .get(n)
                    .and_then(|v| v.to_str().ok())
                    .map(|v| (n.as_str().to_string(), v.to_string()))
            })
            .collect();
        let answer = Answer {
            status: i32::from(parts.status.as_u16()),
            headers: serde_json::to_string(&kept).unwrap_or_default(),
            body: bytes.to_vec(),
        };
        (answer, Response::from_parts(parts, Body::from(bytes)))
    }

    /// Stores the answer on the claim of `key`, through `db` (the request's transaction,
    /// or the pool when the request wrote nothing). Errors: the database's.
    async fn save<'c, E>(self, db: E, scope: &str, key: &str) -> Result<(), sqlx::Error>
    where
        E: sqlx::Executor<'c, Database = crate::db::Db>,
    {
        sqlx::query("UPDATE apigen_idempotency SET status = $1, headers = $2, body = $3 WHERE scope = $4 AND key = $5")
            .bind(self.status)
            .bind(self.headers)
            .bind(self.body)
            .bind(scope)
            .bind(key)
            .execute(db)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_differ_by_method_target_and_body() {
        let a = fingerprint(&Method::POST, "/books", b"{}");
        assert_eq!(a, fingerprint(&Method::POST, "/books", b"{}"));
        assert_ne!(a, fingerprint(&Method::PATCH, "/books", b"{}"));
        assert_ne!(a, fingerprint(&Method::POST, "/books?x=1", b"{}"));
        assert_ne!(a, fingerprint(&Method::POST, "/books", b"{ }"));
        assert_eq!(a.len(), 64);
    }

    use crate::fixture::{app, app_with};

    async fn order(
        app: &crate::testing::TestApp,
        url: &str,
        key: Option<&str>,
        body: &str,
    ) -> crate::testing::Reply {
        // An empty value: the harness sends no key at all.
        app.send_raw(
            "POST",
            url,
            Some(body),
            &[("idempotency-key", key.unwrap_or(""))],
        )
        .await
    }

    #[tokio::test]
    async fn a_repeat_replays_the_first_answer_without_running_again() {
        let app = app().await;
        let first = order(&app, "/orders", Some("k-replay"), r#"{"item":1}"#).await;
        assert_eq!(first.status, StatusCode::CREATED);
        assert!(first.headers.get(&REPLAYED).is_none());
        let again = order(&app, "/orders", Some("k-replay"), r#"{"item":1}"#).await;
        assert_eq!(again.status, StatusCode::CREATED);
        assert_eq!(
            again.body, first.body,
            "the same answer, not a second order"
        );
        assert_eq!(again.headers[&REPLAYED], "true");
        assert_eq!(again.headers[header::LOCATION], "/orders/1");
        // Without a key, or with another, it runs again.
        let other = order(&app, "/orders", Some("k-other"), r#"{"item":1}"#).await;
        assert_ne!(other.body["order"], first.body["order"]);
        let none = order(&app, "/orders", None, r#"{"item":1}"#).await;
        assert_ne!(none.body["order"], other.body["order"]);
    }

    #[tokio::test]
    async fn the_same_key_for_another_request_is_422() {
        let app = app().await;
        assert_eq!(
            order(&app, "/orders", Some("k-mismatch"), r#"{"item":1}"#)
                .await
                .status,
            StatusCode::CREATED
        );
        let r = order(&app, "/orders", Some("k-mismatch"), r#"{"item":2}"#).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    }

    #[tokio::test]
    async fn a_repeat_while_the_first_runs_is_409() {
        let app = app().await;
        let (a, b) = tokio::join!(order(&app, "/orders?slow", Some("k-flight"), "{}"), async {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            order(&app, "/orders?slow", Some("k-flight"), "{}").await
        });
        assert_eq!(a.status, StatusCode::CREATED);
        assert_eq!(b.status, StatusCode::CONFLICT, "{}", b.body);
    }

    #[tokio::test]
    async fn a_server_error_releases_the_key_and_an_expired_key_runs_again() {
        let app = app().await;
        let failed = order(&app, "/orders?fail", Some("k-fail"), "{}").await;
        assert_eq!(failed.status, StatusCode::INTERNAL_SERVER_ERROR);
        let retried = order(&app, "/orders?fail", Some("k-fail"), "{}").await;
        assert!(
            retried.headers.get(&REPLAYED).is_none(),
            "a 5xx is never replayed"
        );
        let app = app_with(&[("IDEMPOTENCY_TTL_SECS", "0")]).await;
        let first = order(&app, "/orders", Some("k-expire"), "{}").await;
        let again = order(&app, "/orders", Some("k-expire"), "{}").await;
        assert!(
            again.headers.get(&REPLAYED).is_none(),
            "an expired key is a new key"
        );
        assert_ne!(again.body["order"], first.body["order"]);
        assert!(
            purge(&app.state.db).await.unwrap() >= 1,
            "expired keys are purged"
        );
    }

    #[tokio::test]
    async fn a_required_key_is_400_when_missing_and_keys_are_bounded() {
        let app = app().await;
        let r = order(&app, "/payments", None, "{}").await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
        assert_eq!(
            order(&app, "/payments", Some("k-pay"), "{}").await.status,
            StatusCode::CREATED
        );
        let long = "k".repeat(MAX_KEY_LEN + 1);
        assert_eq!(
            order(&app, "/orders", Some(&long), "{}").await.status,
            StatusCode::BAD_REQUEST
        );
        // PUT never takes a key: it is idempotent by itself.
        let mut puts = Vec::new();
        for _ in 0..2 {
            let headers = [("idempotency-key", "k-put")];
            puts.push(app.send_raw("PUT", "/orders", Some("{}"), &headers).await);
        }
        let (put, put2) = (&puts[0], &puts[1]);
        assert!(put2.headers.get(&REPLAYED).is_none());
        assert_ne!(put.body["order"], put2.body["order"]);
    }

    #[test]
    fn only_posts_and_patches_take_keys() {
        assert!(applies(Policy::Optional, &Method::POST));
        assert!(applies(Policy::Required, &Method::PATCH));
        assert!(!applies(Policy::Optional, &Method::PUT));
        assert!(!applies(Policy::Off, &Method::POST));
    }

    async fn ledger_rows(app: &crate::testing::TestApp) -> (i64, i64) {
        let rows = sqlx::query_scalar("SELECT count(*) FROM fixture_ledger")
            .fetch_one(&app.state.db)
            .await
            .unwrap_or(0);
        let audit = sqlx::query_scalar(
            "SELECT count(*) FROM apigen_audit WHERE resource = 'fixture_ledger'",
        )
        .fetch_one(&app.state.db)
        .await
        .unwrap();
        (rows, audit)
    }

    /// The change, its audit record and the stored answer commit together: a request that
    /// fails after writing leaves none of them, and its retry applies the change once.
    #[tokio::test]
    async fn the_change_and_its_stored_answer_commit_in_one_transaction() {
        let app = app().await;
        let key = [("idempotency-key", "ledger-1")];
        let r = app
            .send_with("POST", "/ledger?fail", Some("\"a\""), &key)
            .await;
        assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            ledger_rows(&app).await,
            (0, 0),
            "the failed request's write rolled back"
        );
        let r = app.send_with("POST", "/ledger", Some("\"b\""), &key).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let again = app.send_with("POST", "/ledger", Some("\"b\""), &key).await;
        assert_eq!(again.body, r.body);
        assert_eq!(again.headers.get(REPLAYED).unwrap(), "true");
        assert_eq!(
            ledger_rows(&app).await,
            (1, 1),
            "one change, one audit record"
        );
        let stored: Option<i32> =
            sqlx::query_scalar("SELECT status FROM apigen_idempotency WHERE key = 'ledger-1'")
                .fetch_one(&app.state.db)
                .await
                .unwrap();
        assert_eq!(stored, Some(201));
        // Without a key each write commits on its own.
        let r = app.send("POST", "/ledger", Some("\"c\"")).await;
        assert_eq!(r.status, StatusCode::CREATED);
        assert_eq!(ledger_rows(&app).await, (2, 2));
    }
}
