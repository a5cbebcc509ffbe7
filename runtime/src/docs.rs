//! The contract the service serves: `/openapi.json`, and a reference page at `/docs` that
//! renders it in API terms (JSON types, formats, constraints, examples, who may call each
//! operation) with a form to try each one. The page's script is this crate's
//! `assets/docs.js`, served at `/docs?app.js` (the page's own route, so no path of the
//! contract can clash with it): no CDN, nothing from another origin, and the
//! page's Content-Security-Policy allows scripts and requests from the service alone.

use crate::state::AppState;
use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::Router;
use std::sync::Arc;

/// The page's script (ECMAScript 2020, no dependency).
pub const SCRIPT: &str = include_str!("../assets/docs.js");

/// What the page may load (CSP Level 3): its script and the contract from the service,
/// requests to the service for "Try it", its inline styles; framed by no one.
pub const PAGE_POLICY: &str = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// The contract, the page and its script at the paths `state`'s configuration gives
/// ([`crate::Config::paths`]); the page names the contract's and the script's paths.
pub fn router(state: &AppState) -> Router<AppState> {
    let paths = &state.config.paths;
    let page: Arc<str> = state
        .service
        .docs_html
        .replace("__APIGEN_OPENAPI_PATH__", &paths.openapi)
        .replace("__APIGEN_DOCS_PATH__", &paths.docs)
        .into();
    Router::new().route(&paths.openapi, get(openapi)).route(
        &paths.docs,
        get(move |RawQuery(query): RawQuery| {
            let page = page.clone();
            async move {
                if query.as_deref() == Some("app.js") {
                    script().into_response()
                } else {
                    (
                        [(header::CONTENT_SECURITY_POLICY, PAGE_POLICY)],
                        Html(page.to_string()),
                    )
                        .into_response()
                }
            }
        }),
    )
}

/// The OpenAPI document, byte for byte as apigen wrote it.
async fn openapi(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        state.service.openapi_json,
    )
}

/// The page's script.
fn script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        SCRIPT,
    )
}
