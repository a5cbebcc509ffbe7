//! A small service for this crate's own tests: one route per kind of security requirement,
//! the account tables as its only migration, and a harness over it.

use crate::auth::{Caller, Location, Need, Requirement, Roles, Scheme, SchemeKind};
use crate::error::ErrorFormat;
use crate::ratelimit::{Bucket, DEFAULT};
use crate::server::Routes;
use crate::state::AppState;
use crate::testing::{Harness, RouteCreds, TestApp};
use crate::validation::{Additional, Property, Schema, StringRule};
use crate::Service;
use axum::handler::Handler;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use sqlx::migrate::Migrator;

#[cfg(feature = "sqlite")]
static MIGRATOR: Migrator = sqlx::migrate!("sql/sqlite");
#[cfg(feature = "postgres")]
static MIGRATOR: Migrator = sqlx::migrate!("sql/postgres");

pub static ROLES: Roles = Roles {
    admin: "admin",
    default: "reader",
    all: &["admin", "editor", "reader"],
    scopes: &[
        ("editor", &["items:write"]),
        ("admin", &["items:write", "items:delete"]),
    ],
};

/// Two requests a minute, two at once.
pub static TIGHT: Bucket = Bucket {
    name: "tight",
    per_minute: 2,
    burst: 2,
};

/// The contract's own buckets.
const BUCKETS: &[&Bucket] = &[&TIGHT];

pub static SERVICE: Service = service();

/// The fixture's service, as a value to vary in a test (`Service { …, ..service() }`).
pub const fn service() -> Service {
    Service {
        name: "fixture",
        envelope: false,
        errors: &ErrorFormat::APIGEN,
        roles: &ROLES,
        buckets: BUCKETS,
        api_key_headers: &["x-api-key"],
        auth_prefix: "/auth",
        registration_open: true,
        openapi_json: "{\"openapi\":\"3.0.3\"}",
        docs_html: "<!doctype html><title>fixture</title>",
        migrator: &MIGRATOR,
        soft_delete_tables: &[],
        paths: crate::service::Paths::DEFAULT,
        contract_paths: &[],
    }
}

pub static BEARER: Scheme = Scheme {
    name: "bearer",
    kind: SchemeKind::Bearer,
};
/// An API key in `Authorization`, beside bearer tokens (as Azure's contracts declare).
pub static AUTHORIZATION_KEY: Scheme = Scheme {
    name: "authorizationKey",
    kind: SchemeKind::ApiKey {
        location: Location::Header,
        param: "authorization",
    },
};
pub static KEY: Scheme = Scheme {
    name: "key",
    kind: SchemeKind::ApiKey {
        location: Location::Header,
        param: "x-api-key",
    },
};
pub static QUERY_KEY: Scheme = Scheme {
    name: "queryKey",
    kind: SchemeKind::ApiKey {
        location: Location::Query,
        param: "api_key",
    },
};
pub static COOKIE_KEY: Scheme = Scheme {
    name: "cookieKey",
    kind: SchemeKind::ApiKey {
        location: Location::Cookie,
        param: "session_key",
    },
};
pub static BASIC: Scheme = Scheme {
    name: "basic",
    kind: SchemeKind::Basic,
};

const fn requirement(
    operation: &'static str,
    alternatives: &'static [&'static [Need]],
    roles: &'static [&'static str],
    bucket: &'static Bucket,
) -> Requirement {
    Requirement {
        operation,
        alternatives,
        roles,
        admin_only: false,
        owner: false,
        strip_query: &[],
        bucket,
        idempotency: crate::idempotency::Policy::Off,
        deprecation: None,
    }
}

pub static PUBLIC: Requirement = requirement("public", &[&[]], &[], &DEFAULT);
pub static EDITORS: Requirement = requirement(
    "editors",
    &[&[Need {
        scheme: &BEARER,
        scopes: &[],
    }]],
    &["editor"],
    &DEFAULT,
);
pub static SCOPED: Requirement = requirement(
    "scoped",
    &[&[Need {
        scheme: &BEARER,
        scopes: &["items:write"],
    }]],
    &[],
    &DEFAULT,
);
pub static KEYED: Requirement = Requirement {
    strip_query: &["api_key"],
    ..requirement(
        "keyed",
        &[
            &[Need {
                scheme: &KEY,
                scopes: &[],
            }],
            &[Need {
                scheme: &QUERY_KEY,
                scopes: &[],
            }],
        ],
        &[],
        &DEFAULT,
    )
};
pub static PASSWORD: Requirement = requirement(
    "password",
    &[&[Need {
        scheme: &BASIC,
        scopes: &[],
    }]],
    &[],
    &DEFAULT,
);
pub static BY_COOKIE: Requirement = requirement(
    "byCookie",
    &[&[Need {
        scheme: &COOKIE_KEY,
        scopes: &[],
    }]],
    &[],
    &DEFAULT,
);
pub static NOBODY: Requirement = requirement("nobody", &[], &[], &DEFAULT);
pub static LIMITED: Requirement = requirement("limited", &[&[]], &[], &TIGHT);
/// A token with scope `items:write`, or an API key in `Authorization`.
pub static TOKEN_OR_KEY: Requirement = requirement(
    "tokenOrKey",
    &[
        &[Need {
            scheme: &BEARER,
            scopes: &["items:write"],
        }],
        &[Need {
            scheme: &AUTHORIZATION_KEY,
            scopes: &[],
        }],
    ],
    &[],
    &DEFAULT,
);
/// Deprecated since 2026-01-01T00:00:00Z, sunset 2027-06-30; editors only.
pub static OLD: Requirement = Requirement {
    deprecation: Some(&crate::auth::Deprecation {
        since: 1_767_225_600,
        sunset: Some("Wed, 30 Jun 2027 00:00:00 GMT"),
    }),
    ..requirement(
        "oldWhoami",
        &[&[Need {
            scheme: &BEARER,
            scopes: &[],
        }]],
        &["editor"],
        &DEFAULT,
    )
};
/// POST and PATCH honour `Idempotency-Key`.
pub static IDEMPOTENT: Requirement = Requirement {
    idempotency: crate::idempotency::Policy::Optional,
    ..requirement("orders", &[&[]], &[], &DEFAULT)
};
/// Signed in or not; POST honours `Idempotency-Key`.
pub static LEDGER: Requirement = Requirement {
    operation: "ledger",
    idempotency: crate::idempotency::Policy::Optional,
    ..OPTIONAL
};
/// POST requires `Idempotency-Key`.
pub static KEY_REQUIRED: Requirement = Requirement {
    idempotency: crate::idempotency::Policy::Required,
    ..requirement("payments", &[&[]], &[], &DEFAULT)
};
pub static OPTIONAL: Requirement = requirement(
    "optional",
    &[
        &[Need {
            scheme: &BEARER,
            scopes: &[],
        }],
        &[],
    ],
    &[],
    &DEFAULT,
);

static NAME: Schema = Schema::string(StringRule {
    min_length: Some(1),
    max_length: Some(20),
    ..StringRule::ANY
});
static PET: Schema = Schema::object(Additional::Deny, &[Property::new("name", &NAME).required()]);

#[derive(serde::Deserialize, serde::Serialize)]
struct Pet {
    name: String,
}

/// Echoes a validated JSON body.
async fn echo(body: crate::extract::RawBody) -> Result<Response, crate::ApiError> {
    let pet: Pet = crate::extract::json(body, &PET, crate::validation::Mode::Body)?;
    Ok(crate::respond::json(axum::http::StatusCode::CREATED, &pet))
}

/// Answers who the caller is, and the query the handler saw.
async fn whoami(Extension(caller): Extension<Caller>, uri: axum::http::Uri) -> Response {
    crate::respond::json(
        axum::http::StatusCode::OK,
        &serde_json::json!({ "subject": caller.subject, "roles": caller.roles, "admin": caller.admin, "query": uri.query() }),
    )
}

/// How many orders the fixture has taken: each call of [`order`] is one more.
pub static ORDERS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Takes an order (counts it) and answers 201 with its number and the body it got; with
/// `?slow` it takes 300 ms, with `?fail` it answers 500.
async fn order(uri: axum::http::Uri, body: String) -> Response {
    let query = uri.query().unwrap_or_default();
    if query.contains("slow") {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    let n = ORDERS.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
    if query.contains("fail") {
        return crate::ApiError::Internal("the fixture fails on request".into()).into_response();
    }
    let mut res = crate::respond::json(
        axum::http::StatusCode::CREATED,
        &serde_json::json!({ "order": n, "body": body }),
    );
    res.headers_mut().insert(
        axum::http::header::LOCATION,
        axum::http::HeaderValue::from_static("/orders/1"),
    );
    res
}

/// Writes a row of `fixture_ledger` (and its audit record) through [`crate::write::Write`],
/// as a generated repository does; answers 500 after writing when the query says `fail`.
async fn ledger(
    axum::extract::State(state): axum::extract::State<AppState>,
    uri: axum::http::Uri,
    body: String,
) -> Response {
    let write = async {
        #[cfg(feature = "sqlite")]
        const LEDGER: &str = "CREATE TABLE IF NOT EXISTS fixture_ledger (id INTEGER PRIMARY KEY AUTOINCREMENT, note TEXT NOT NULL)";
        #[cfg(feature = "postgres")]
        const LEDGER: &str = "CREATE TABLE IF NOT EXISTS fixture_ledger (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, note TEXT NOT NULL)";
        sqlx::query(LEDGER).execute(&state.db).await?;
        let mut w = crate::write::Write::begin(&state.db).await?;
        let id: i64 =
            sqlx::query_scalar("INSERT INTO fixture_ledger (note) VALUES ($1) RETURNING id")
                .bind(&body)
                .fetch_one(w.conn())
                .await?;
        let mut fields = crate::audit::Fields::new();
        fields.value("note", Some(&body));
        crate::audit::record(
            w.conn(),
            crate::audit::Action::Create,
            "fixture_ledger",
            &id.to_string(),
            fields,
        )
        .await?;
        w.commit().await?;
        Ok::<i64, sqlx::Error>(id)
    };
    match write.await {
        Err(e) => crate::ApiError::from(e).into_response(),
        Ok(_) if uri.query().unwrap_or_default().contains("fail") => {
            crate::ApiError::Internal("the fixture fails after writing".into()).into_response()
        }
        Ok(id) => crate::respond::json(
            axum::http::StatusCode::CREATED,
            &serde_json::json!({ "id": id }),
        ),
    }
}

/// Panics, as a service with a bug would.
async fn panics() -> Response {
    panic!("the fixture's deliberate panic")
}

fn routes(state: &AppState) -> Router<AppState> {
    use crate::auth::Guard;
    Router::new()
        .route("/public", get(whoami.layer(Guard::new(state, &PUBLIC))))
        .route("/old", get(whoami.layer(Guard::new(state, &OLD))))
        .route(
            "/token-or-key",
            get(whoami.layer(Guard::new(state, &TOKEN_OR_KEY))),
        )
        .route("/editors", get(whoami.layer(Guard::new(state, &EDITORS))))
        .route("/scoped", post(whoami.layer(Guard::new(state, &SCOPED))))
        .route("/keyed", get(whoami.layer(Guard::new(state, &KEYED))))
        .route("/password", get(whoami.layer(Guard::new(state, &PASSWORD))))
        .route("/nobody", get(whoami.layer(Guard::new(state, &NOBODY))))
        .route("/limited", get(whoami.layer(Guard::new(state, &LIMITED))))
        .route("/optional", get(whoami.layer(Guard::new(state, &OPTIONAL))))
        .route(
            "/cookie",
            get(whoami.layer(Guard::new(state, &BY_COOKIE)))
                .post(whoami.layer(Guard::new(state, &BY_COOKIE))),
        )
        .route("/echo", post(echo.layer(Guard::new(state, &PUBLIC))))
        .route("/panic", get(panics.layer(Guard::new(state, &PUBLIC))))
        .route(
            "/orders",
            post(order.layer(Guard::new(state, &IDEMPOTENT)))
                .put(order.layer(Guard::new(state, &IDEMPOTENT))),
        )
        .route("/ledger", post(ledger.layer(Guard::new(state, &LEDGER))))
        .route(
            "/payments",
            post(order.layer(Guard::new(state, &KEY_REQUIRED))),
        )
}

const ROUTES: Routes = routes;
const CREDS: &[RouteCreds] = &[
    ("GET", "/editors", &["bearer"]),
    ("GET", "/old", &["bearer"]),
    ("POST", "/scoped", &["bearer"]),
    ("GET", "/keyed", &["header:x-api-key"]),
    ("GET", "/password", &["basic"]),
];

pub static HARNESS: Harness = Harness {
    service: &SERVICE,
    routes: ROUTES,
    route_creds: CREDS,
    basic: true,
    api_key: true,
};

/// The fixture service over a fresh database.
pub async fn app() -> TestApp {
    TestApp::new(&HARNESS, &[]).await
}

/// [`app`] with settings of its own.
pub async fn app_with(overrides: &[(&str, &str)]) -> TestApp {
    TestApp::new(&HARNESS, overrides).await
}
