//! The test harness of generated projects (and of this crate): a fresh, migrated database
//! per test, the whole router driven in memory, and an administrator whose credentials
//! are sent where a route needs them.
//!
//! SQLite builds test on an in-memory database; PostgreSQL builds on a schema of their own
//! in the database named by `DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/test`),
//! dropped when the [`TestApp`] is.

use crate::server::Routes;
use crate::state::AppState;
use crate::{accounts, db, Config, Service};
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use std::time::Duration;
use tower::ServiceExt;

/// The signing key of the tests' access tokens.
pub const TEST_SECRET: &str = "apigen-test-secret-0123456789-abcdefghijklmnop";

/// The administrator's email and password, when the service accepts passwords.
pub const ADMIN_EMAIL: &str = "admin@example.test";
pub const ADMIN_PASSWORD: &str = "correct horse battery staple";

/// Which of the administrator's credentials a route needs: (method, axum route, each of
/// `bearer`, `basic`, `header:<name>`, `query:<name>`, `cookie:<name>`).
pub type RouteCreds = (&'static str, &'static str, &'static [&'static str]);

/// What a project's tests are about: its service, its routes, and which credentials its
/// security schemes take.
pub struct Harness {
    pub service: &'static Service,
    pub routes: Routes,
    /// The credentials of each route that needs some (routes not listed need none).
    pub route_creds: &'static [RouteCreds],
    /// Some scheme is HTTP basic: the administrator gets an account with a password.
    pub basic: bool,
    /// Some scheme is an API key: the administrator gets a key.
    pub api_key: bool,
}

/// The administrator the tests act as: an access token (`Bearer …`), and where the
/// contract has such schemes a basic credential (`Basic …`) and an API key.
pub struct Admin {
    pub subject: uuid::Uuid,
    pub token: String,
    pub basic: String,
    pub api_key: String,
}

/// One service under test.
pub struct TestApp {
    pub router: axum::Router,
    pub state: AppState,
    pub admin: Admin,
    route_creds: &'static [RouteCreds],
    /// (database URL, schema) to drop when the test ends.
    #[cfg_attr(feature = "sqlite", allow(dead_code))]
    cleanup: Option<(String, String)>,
}

/// A response: status, headers and the body parsed as JSON (`Value::Null` when empty, a
/// JSON string when it is not JSON).
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

/// Test settings: the environment, then `overrides`; a fixed JWT secret, limits high enough
/// never to trip, and no Redis unless an override sets `REDIS_URL`.
pub fn test_config(service: &Service, database_url: &str, overrides: &[(&str, &str)]) -> Config {
    let lookup = |name: &str| -> Option<String> {
        if let Some((_, v)) = overrides.iter().find(|(k, _)| *k == name) {
            return Some(v.to_string());
        }
        match name {
            "JWT_SECRET" => Some(TEST_SECRET.into()),
            "RATE_LIMIT_PER_MINUTE"
            | "RATE_LIMIT_BURST"
            | "AUTH_RATE_LIMIT_PER_MINUTE"
            | "AUTH_RATE_LIMIT_BURST" => Some("1000000".into()),
            "REDIS_URL" => None,
            _ => std::env::var(name).ok(),
        }
    };
    let mut config = Config::from_lookup(service, &lookup).expect("valid test environment");
    config.database_url = database_url.to_string();
    config.db_max_connections = 4;
    config.db_acquire_timeout = Duration::from_secs(10);
    config.body_limit_bytes = 64 * 1024;
    config
}

/// The PostgreSQL server tests use: `DATABASE_URL` when it names one, else the local `test`
/// database.
pub fn postgres_url() -> String {
    std::env::var("DATABASE_URL")
        .ok()
        .filter(|u| u.starts_with("postgres"))
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

/// A migrated database of its own: (pool, URL for the configuration, cleanup).
#[cfg(feature = "sqlite")]
async fn database(
    migrator: &sqlx::migrate::Migrator,
) -> (db::Pool, String, Option<(String, String)>) {
    let url = "sqlite::memory:".to_string();
    let pool = db::connect(&url, &db::PoolSettings::TEST)
        .await
        .expect("in-memory database");
    db::migrate(&pool, migrator)
        .await
        .expect("migrations apply");
    (pool, url, None)
}

/// A migrated database of its own: (pool, URL for the configuration, cleanup).
#[cfg(feature = "postgres")]
async fn database(
    migrator: &sqlx::migrate::Migrator,
) -> (db::Pool, String, Option<(String, String)>) {
    use sqlx::postgres::PgPoolOptions;
    let base = postgres_url();
    let schema = format!("test_{}", uuid::Uuid::new_v4().simple());
    let server = sqlx::PgPool::connect(&base)
        .await
        .expect("PostgreSQL is reachable at DATABASE_URL");
    sqlx::query(&format!("CREATE SCHEMA \"{schema}\""))
        .execute(&server)
        .await
        .expect("create test schema");
    server.close().await;
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .connect_with(schema_options(&base, &schema))
        .await
        .expect("connect to test schema");
    db::migrate(&pool, migrator)
        .await
        .expect("migrations apply");
    (pool, base.clone(), Some((base, schema)))
}

/// Connections to `base` that work in `schema` (its `search_path`) and carry its name as
/// their `application_name`, so the cleanup can find and end them (see `Drop for TestApp`).
/// Panics on a `DATABASE_URL` that is not a PostgreSQL URL.
#[cfg(feature = "postgres")]
fn schema_options(base: &str, schema: &str) -> sqlx::postgres::PgConnectOptions {
    use std::str::FromStr;
    sqlx::postgres::PgConnectOptions::from_str(base)
        .expect("valid DATABASE_URL")
        .options([("search_path", schema)])
        .application_name(schema)
}

/// Drops the test's schema. The test's runtime is blocked while this runs, so a transaction
/// its pool has not finished rolling back (a connection whose return to the pool is a task
/// that can no longer run) would hold its locks and `DROP SCHEMA` would wait forever: the
/// pool's connections, found by their `application_name`, are ended first, and a lock
/// timeout bounds the wait for anything else.
#[cfg(feature = "postgres")]
impl Drop for TestApp {
    fn drop(&mut self) {
        let Some((url, schema)) = self.cleanup.take() else {
            return;
        };
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(drop_schema(&url, &schema));
        })
        .join();
    }
}

/// Ends the connections named `schema`, then drops the schema; every failure is ignored (a
/// schema left behind costs disk, not correctness).
#[cfg(feature = "postgres")]
async fn drop_schema(url: &str, schema: &str) {
    use sqlx::Connection;
    let Ok(mut conn) = sqlx::PgConnection::connect(url).await else {
        return;
    };
    let _ = sqlx::query("SET lock_timeout = '30s'")
        .execute(&mut conn)
        .await;
    let _ = sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE application_name = $1 AND pid <> pg_backend_pid()",
    )
    .bind(schema)
    .execute(&mut conn)
    .await;
    let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
        .execute(&mut conn)
        .await;
    let _ = conn.close().await;
}

/// A valid access token (`Bearer …` header value) for `subject` with these roles and scopes.
pub fn token(state: &AppState, subject: uuid::Uuid, roles: &[String], scopes: &[String]) -> String {
    let t = crate::auth::issue_access_token(
        state,
        subject,
        roles,
        scopes,
        None,
        Duration::from_secs(600),
    )
    .expect("sign a token");
    format!("Bearer {t}")
}

/// Tokens that must never authenticate with `state`'s service, as `Authorization` values:
/// (what it is, value) for a malformed, a wrongly signed, an `alg: none`, an expired, a
/// foreign-issuer, a foreign-audience, a not-yet-valid, a future-issued and an empty
/// token, each claiming the administrator role.
pub fn bad_tokens(state: &AppState, subject: uuid::Uuid) -> Vec<(&'static str, String)> {
    use base64::Engine;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let now = chrono::Utc::now().timestamp();
    let admin = state.service.roles.admin;
    let name = state.service.name;
    let with = |iss: &str, aud: &str, iat: i64, nbf: i64, exp: i64| crate::auth::Claims {
        sub: subject.to_string(),
        iss: iss.to_string(),
        aud: aud.to_string(),
        iat,
        nbf,
        exp,
        jti: "t".into(),
        sid: None,
        roles: vec![admin.to_string()],
        scope: String::new(),
    };
    let claims = |iss: &str, exp: i64| with(iss, name, now, now, exp);
    let sign =
        |claims: &crate::auth::Claims, secret: &[u8]| crate::auth::sign_for_tests(claims, secret);
    let none = format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"JWT"}"#),
        b64(serde_json::to_string(&claims(name, now + 600))
            .unwrap_or_default()
            .as_bytes())
    );
    vec![
        ("malformed", "Bearer not-a-jwt".to_string()),
        (
            "wrongly signed",
            format!(
                "Bearer {}",
                sign(
                    &claims(name, now + 600),
                    b"not-the-service-secret-0123456789abcdef"
                )
            ),
        ),
        ("alg none", format!("Bearer {none}")),
        (
            "expired",
            format!(
                "Bearer {}",
                sign(&claims(name, now - 3600), TEST_SECRET.as_bytes())
            ),
        ),
        (
            "from another issuer",
            format!(
                "Bearer {}",
                sign(&claims("someone-else", now + 600), TEST_SECRET.as_bytes())
            ),
        ),
        (
            "for another audience",
            format!(
                "Bearer {}",
                sign(
                    &with(name, "another-service", now, now, now + 600),
                    TEST_SECRET.as_bytes()
                )
            ),
        ),
        (
            "not valid yet",
            format!(
                "Bearer {}",
                sign(
                    &with(name, name, now, now + 600, now + 1200),
                    TEST_SECRET.as_bytes()
                )
            ),
        ),
        (
            "issued in the future",
            format!(
                "Bearer {}",
                sign(
                    &with(name, name, now + 600, now, now + 1200),
                    TEST_SECRET.as_bytes()
                )
            ),
        ),
        ("empty", "Bearer ".to_string()),
    ]
}

/// An HTTP basic credential (`Basic …`, RFC 7617) for `user:password` text.
pub fn basic(userpass: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(userpass)
    )
}

impl TestApp {
    /// The service of `harness` over a new, migrated database, with settings of its own
    /// (`("RATE_LIMIT_BURST", "3")`).
    pub async fn new(harness: &Harness, overrides: &[(&str, &str)]) -> TestApp {
        let (pool, url, cleanup) = database(harness.service.migrator).await;
        let config = test_config(harness.service, &url, overrides);
        let state = AppState::new(harness.service, pool, config).expect("valid limiter settings");
        let admin = admin(&state, harness).await;
        let router = crate::app(&state, (harness.routes)(&state));
        TestApp {
            router,
            state,
            admin,
            route_creds: harness.route_creds,
            cleanup,
        }
    }

    /// Sends one request as the administrator; `body` is sent as `application/json` text
    /// when given.
    pub async fn send(&self, method: &str, uri: &str, body: Option<&str>) -> Reply {
        self.send_with(method, uri, body, &[]).await
    }

    /// [`send`](Self::send) with extra headers.
    pub async fn send_with(
        &self,
        method: &str,
        uri: &str,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut uri = uri.to_string();
        let mut all: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        for cred in creds_for(self.route_creds, method, &uri) {
            match cred.split_once(':') {
                None if *cred == "bearer" => {
                    all.push(("authorization".into(), self.admin.token.clone()))
                }
                None => all.push(("authorization".into(), self.admin.basic.clone())),
                Some(("header", name)) => all.push((name.to_string(), self.admin.api_key.clone())),
                Some(("cookie", name)) => {
                    all.push(("cookie".into(), format!("{name}={}", self.admin.api_key)))
                }
                Some((_, name)) => {
                    // The key replaces any sample value the URL already has for that name.
                    let (path, query) = uri.split_once('?').unwrap_or((uri.as_str(), ""));
                    let mut q = form_urlencoded::Serializer::new(String::new());
                    for (k, v) in
                        form_urlencoded::parse(query.as_bytes()).filter(|(k, _)| k != name)
                    {
                        q.append_pair(&k, &v);
                    }
                    q.append_pair(name, &self.admin.api_key);
                    uri = format!("{path}?{}", q.finish());
                }
            }
        }
        let pairs: Vec<(&str, &str)> = all.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        self.send_raw(method, &uri, body, &pairs).await
    }

    /// Sends every request of `requests` (method, URI, body) at once, as the administrator,
    /// and waits for all: the replies in request order. For tests of concurrent clients:
    /// the requests interleave at every await (a database round trip) of the handlers.
    pub async fn send_all(&self, requests: &[(&str, &str, Option<&str>)]) -> Vec<Reply> {
        futures_util::future::join_all(
            requests
                .iter()
                .map(|(method, uri, body)| self.send(method, uri, *body)),
        )
        .await
    }

    /// Sends exactly these headers: no credentials are added.
    pub async fn send_raw(
        &self,
        method: &str,
        uri: &str,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut req = Request::builder().method(method).uri(uri);
        if body.is_some()
            && !headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        {
            req = req.header("content-type", "application/json");
        }
        // A careful client: every POST and PATCH carries a fresh Idempotency-Key unless the
        // test sends its own, so operations that require one are driven as clients would.
        // An empty value sends none.
        let key = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("idempotency-key"));
        if key.is_none() && matches!(method, "POST" | "PATCH") {
            req = req.header("idempotency-key", uuid::Uuid::new_v4().to_string());
        }
        for (k, v) in headers {
            if !(k.eq_ignore_ascii_case("idempotency-key") && v.is_empty()) {
                req = req.header(*k, *v);
            }
        }
        let req = req
            .body(
                body.map(|b| Body::from(b.to_string()))
                    .unwrap_or_else(Body::empty),
            )
            .expect("valid request");
        let res = self
            .router
            .clone()
            .oneshot(req)
            .await
            .expect("router answers");
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.into_body().collect().await.expect("body").to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    /// Asserts a 400 whose field errors name `field` (or a member of it). Where the
    /// contract's error format has no room for apigen's field errors, the status is all a
    /// test can check.
    pub fn assert_field_error(&self, reply: &Reply, field: &str) {
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "body: {}",
            reply.body
        );
        if !self.state.service.errors.extended {
            return;
        }
        assert_eq!(
            reply.body["error"]["code"], "VALIDATION_ERROR",
            "body: {}",
            reply.body
        );
        let details = reply.body["error"]["details"].as_array().expect("details");
        assert!(
            details
                .iter()
                .any(|d| d["field"].as_str().is_some_and(|f| f == field
                    || f.starts_with(&format!("{field}."))
                    || f.starts_with(&format!("{field}[")))),
            "no error for {field}: {}",
            reply.body
        );
    }

    /// The machine code of an error reply, where the format carries apigen's `error`
    /// object (`None` otherwise).
    pub fn error_code<'r>(&self, reply: &'r Reply) -> Option<&'r str> {
        self.state
            .service
            .errors
            .extended
            .then(|| reply.body["error"]["code"].as_str())
            .flatten()
    }
}

/// Sets up the administrator's credentials.
async fn admin(state: &AppState, harness: &Harness) -> Admin {
    let roles = vec![state.service.roles.admin.to_string()];
    let (subject, basic) = if harness.basic {
        let user = accounts::create_user(state, ADMIN_EMAIL, ADMIN_PASSWORD, &roles)
            .await
            .expect("create the admin account");
        (
            user.id,
            format!(
                "Basic {}",
                base64::Engine::encode(
                    &base64::engine::general_purpose::STANDARD,
                    format!("{ADMIN_EMAIL}:{ADMIN_PASSWORD}")
                )
            ),
        )
    } else {
        (uuid::Uuid::now_v7(), String::new())
    };
    let api_key = if harness.api_key {
        accounts::issue_api_key(state, "test admin", &roles, &[], Some(subject))
            .await
            .expect("issue the admin API key")
            .0
    } else {
        String::new()
    };
    let token = token(
        state,
        subject,
        &roles,
        &state.service.roles.scopes_for(&roles),
    );
    Admin {
        subject,
        token,
        basic,
        api_key,
    }
}

/// The credentials of the route `method uri` matches (static segments win over `{params}`).
fn creds_for(table: &'static [RouteCreds], method: &str, uri: &str) -> &'static [&'static str] {
    let path = uri.split('?').next().unwrap_or(uri);
    let segs: Vec<&str> = path.split('/').collect();
    let mut best: Option<(usize, &'static [&'static str])> = None;
    for (m, route, creds) in table {
        if !m.eq_ignore_ascii_case(method) {
            continue;
        }
        let rsegs: Vec<&str> = route.split('/').collect();
        if rsegs.len() != segs.len() {
            continue;
        }
        let mut score = 0;
        let mut ok = true;
        for (r, s) in rsegs.iter().zip(&segs) {
            // `{name}` captures a segment; `{{` and `}}` are literal braces (axum's escape,
            // for contract paths like `/{Sid}.json` that put text around a parameter).
            let literal = r.starts_with("{{") || !(r.starts_with('{') && r.ends_with('}'));
            if !literal && !s.is_empty() {
                continue;
            }
            if r.replace("{{", "{").replace("}}", "}") == *s {
                score += 1;
            } else {
                ok = false;
                break;
            }
        }
        if ok && best.is_none_or(|(b, _)| score > b) {
            best = Some((score, creds));
        }
    }
    best.map(|(_, c)| c).unwrap_or(&[])
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &[RouteCreds] = &[
        ("GET", "/files/{id}", &["bearer"]),
        ("GET", "/files/latest", &["header:x-key"]),
        ("GET", "/{{Sid}}.json", &["basic"]),
    ];

    #[test]
    fn static_segments_win_over_parameters_and_escaped_braces_are_text() {
        assert_eq!(creds_for(TABLE, "GET", "/files/7"), &["bearer"]);
        assert_eq!(
            creds_for(TABLE, "get", "/files/latest?x=1"),
            &["header:x-key"]
        );
        assert_eq!(creds_for(TABLE, "GET", "/{Sid}.json"), &["basic"]);
        assert!(creds_for(TABLE, "POST", "/files/7").is_empty());
        assert!(creds_for(TABLE, "GET", "/files/7/more").is_empty());
    }

    /// A test's pool can be left holding a transaction nobody will finish (its rollback is a
    /// task of the test's runtime, blocked while the test app drops): the cleanup ends it
    /// instead of waiting for its locks forever.
    #[cfg(feature = "postgres")]
    #[tokio::test]
    async fn a_schema_is_dropped_even_while_an_abandoned_transaction_holds_its_locks() {
        use sqlx::{ConnectOptions, Connection};
        let base = postgres_url();
        let schema = format!("test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(&base).await.unwrap();
        sqlx::query(&format!("CREATE SCHEMA \"{schema}\""))
            .execute(&mut admin)
            .await
            .unwrap();
        // A connection as the test pools open them.
        let mut held = schema_options(&base, &schema).connect().await.unwrap();
        for sql in [
            "CREATE TABLE rows (id integer)",
            "BEGIN",
            "LOCK TABLE rows IN ACCESS EXCLUSIVE MODE",
        ] {
            sqlx::raw_sql(sql).execute(&mut held).await.unwrap();
        }
        tokio::time::timeout(Duration::from_secs(60), drop_schema(&base, &schema))
            .await
            .expect("the cleanup does not wait for the abandoned transaction");
        let left: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM information_schema.schemata WHERE schema_name = $1",
        )
        .bind(&schema)
        .fetch_one(&mut admin)
        .await
        .unwrap();
        assert_eq!(left, 0, "the schema is gone");
        drop(held);
    }
}

/// A real OTLP/HTTP receiver for tests of span export (feature `otel`).
#[cfg(feature = "otel")]
pub mod otlp {
    pub use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use prost::Message;
    use std::io::{BufRead, BufReader, Read, Write};

    /// A minimal OTLP/HTTP receiver on a loopback port, on a thread of its own: answers
    /// every POST 200 and hands on each export request it decoded. The URL to send spans
    /// to (`http://127.0.0.1:PORT/v1/traces`) and the receiving end.
    pub fn receiver() -> (String, std::sync::mpsc::Receiver<ExportTraceServiceRequest>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/v1/traces", listener.local_addr().unwrap());
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        break;
                    }
                    let mut length = 0usize;
                    loop {
                        let mut header = String::new();
                        reader.read_line(&mut header).unwrap();
                        let header = header.trim_end();
                        if header.is_empty() {
                            break;
                        }
                        if let Some((name, value)) = header.split_once(':') {
                            if name.eq_ignore_ascii_case("content-length") {
                                length = value.trim().parse().unwrap();
                            }
                        }
                    }
                    let mut body = vec![0; length];
                    reader.read_exact(&mut body).unwrap();
                    if let Ok(request) = ExportTraceServiceRequest::decode(body.as_slice()) {
                        let _ = tx.send(request);
                    }
                    let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n");
                }
            }
        });
        (url, rx)
    }

    /// Bytes as lowercase hex (trace and span ids).
    pub fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}
