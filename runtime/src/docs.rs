//! The contract the service serves: `/openapi.json` and an HTML reference page at `/docs`,
//! both from the [`crate::Service`] (the generated project embeds them at build time).

use crate::state::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::Router;

/// Both at the paths `state`'s configuration gives ([`crate::Config::paths`]).
pub fn router(state: &AppState) -> Router<AppState> {
    let paths = &state.config.paths;
    Router::new()
        .route(&paths.openapi, get(openapi))
        .route(&paths.docs, get(docs))
}

/// The OpenAPI document, byte for byte as apigen wrote it.
async fn openapi(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        state.service.openapi_json,
    )
}

/// The reference page: its own styles inline and nothing else loaded, framed by no one.
async fn docs(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_SECURITY_POLICY, "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")],
        Html(state.service.docs_html),
    )
}
