//! `/healthz` (the process is alive), `/readyz` (the database answers; probed at most
//! once a second, however many callers ask) and `/metrics` (Prometheus text format,
//! behind `METRICS_TOKEN` when it is set).

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::json;
use std::time::{Duration, Instant};

/// The three endpoints at the paths `state`'s configuration gives ([`crate::Config::paths`]).
pub fn router(state: &AppState) -> Router<AppState> {
    let paths = &state.config.paths;
    Router::new()
        .route(&paths.health, get(healthz))
        .route(&paths.ready, get(readyz))
        .route(&paths.metrics, get(metrics))
}

async fn healthz() -> impl IntoResponse {
    axum::Json(json!({ "status": "ok" }))
}

/// How long a readiness probe's answer is reused.
pub const READINESS_TTL: Duration = Duration::from_secs(1);

/// The last readiness probe: `/readyz` asks the database at most once per
/// [`READINESS_TTL`], and callers arriving while a probe runs wait for its answer, so a
/// flood of `/readyz` costs the database one query a second.
#[derive(Default)]
pub struct Readiness {
    last: tokio::sync::Mutex<Option<(Instant, bool)>>,
}

impl Readiness {
    /// Whether the database answered `SELECT 1` within 2 s, probed now or at most
    /// [`READINESS_TTL`] ago.
    pub async fn ready(&self, db: &crate::db::Pool) -> bool {
        let mut last = self.last.lock().await;
        if let Some((at, ready)) = *last {
            if at.elapsed() < READINESS_TTL {
                return ready;
            }
        }
        let ping = sqlx::query("SELECT 1").execute(db);
        let ready = matches!(
            tokio::time::timeout(Duration::from_secs(2), ping).await,
            Ok(Ok(_))
        );
        *last = Some((Instant::now(), ready));
        ready
    }
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    if state.readiness.ready(&state.db).await {
        (StatusCode::OK, axum::Json(json!({ "status": "ready" })))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({ "status": "unavailable" })),
        )
    }
}

/// Prometheus metrics; with `METRICS_TOKEN` set, only for `Authorization: Bearer <token>`
/// (401 otherwise, compared in constant time).
async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(token) = &state.config.metrics_token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .unwrap_or("");
        if !same_secret(given, token.expose()) {
            return ApiError::Unauthorized.into_response();
        }
    }
    // The pool's connections at the moment of the scrape.
    let open = state.db.size();
    let idle = u32::try_from(state.db.num_idle()).unwrap_or(u32::MAX);
    metrics::gauge!("db_pool_connections", "state" => "idle").set(f64::from(idle));
    metrics::gauge!("db_pool_connections", "state" => "in_use")
        .set(f64::from(open.saturating_sub(idle)));
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::observability::metrics_handle().render(),
    )
        .into_response()
}

/// Equality of two secrets in time independent of where they differ (their SHA-256
/// digests are compared, so lengths leak nothing either).
fn same_secret(a: &str, b: &str) -> bool {
    use sha2::{Digest, Sha256};
    use subtle::ConstantTimeEq;
    Sha256::digest(a.as_bytes())
        .ct_eq(&Sha256::digest(b.as_bytes()))
        .into()
}
