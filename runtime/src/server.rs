//! Building the whole router and serving it.

use crate::config::Config;
use crate::edge::Edge;
use crate::error::ApiError;
use crate::state::AppState;
use crate::{accounts, db, docs, health, observability, Service};
use axum::extract::DefaultBodyLimit;
use axum::http::HeaderValue;
use axum::Router;
use tower::ServiceBuilder;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// The whole HTTP surface: the contract's `routes` (each behind its security guard), the
/// account routes, health, metrics and docs, with request ids, logs, metrics, body cap,
/// timeout, CORS and security headers.
pub fn app(state: &AppState, routes: Router<AppState>) -> Router {
    let origins: Vec<HeaderValue> = state
        .config
        .cors_allowed_origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    // Install the metrics recorder before the first request is counted.
    let _ = observability::metrics_handle();
    let router = routes
        .merge(accounts::router(state))
        .merge(health::router())
        .merge(docs::router())
        .fallback(not_found);
    // CORS only when origins are configured: the layer answers every OPTIONS request as a
    // preflight, which would shadow OPTIONS operations the contract declares.
    let router = if origins.is_empty() {
        router
    } else {
        router.layer(
            CorsLayer::new()
                .allow_origin(AllowOrigin::list(origins))
                .allow_methods(tower_http::cors::Any)
                .allow_headers(tower_http::cors::Any),
        )
    };
    // One layer call, so each request passes one wrapper rather than one per concern.
    router
        .layer(
            ServiceBuilder::new()
                .layer(Edge::new(&state.config))
                .layer(DefaultBodyLimit::max(state.config.body_limit_bytes)),
        )
        .with_state(state.clone())
}

async fn not_found() -> ApiError {
    ApiError::NotFound
}

/// Builds the contract's routes for a state (the generated `routes::router`).
pub type Routes = fn(&AppState) -> Router<AppState>;

/// Connects, migrates, and serves `service` until SIGTERM or Ctrl-C, then drains
/// in-flight requests for at most `SHUTDOWN_GRACE_SECS`. Errors: the database cannot be
/// reached or migrated, the port cannot be bound, or the server fails.
pub async fn run(
    service: &'static Service,
    routes: Routes,
    config: Config,
) -> Result<(), Box<dyn std::error::Error>> {
    let pool = db::connect(
        &config.database_url,
        config.db_max_connections,
        config.db_acquire_timeout,
        config.db_statement_timeout,
    )
    .await?;
    db::migrate(&pool, service.migrator).await?;
    let grace = config.shutdown_grace;
    let listener = tokio::net::TcpListener::bind(("0.0.0.0", config.port)).await?;
    tracing::info!(address = %listener.local_addr()?, "listening");
    let state = AppState::new(service, pool.clone(), config)?;
    let limiter = state.limiter.clone();
    // In-process rate-limit buckets of callers gone quiet are dropped once a minute.
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            tick.tick().await;
            limiter.prune();
        }
    });
    let app =
        app(&state, routes(&state)).into_make_service_with_connect_info::<std::net::SocketAddr>();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        shutdown_signal().await;
        tracing::info!("shutting down: draining in-flight requests");
        let _ = tx.send(());
    });
    let server = tokio::spawn(async move { server.await });
    let _ = rx.await;
    match tokio::time::timeout(grace, server).await {
        Ok(joined) => joined??,
        Err(_) => tracing::warn!("shutdown grace period elapsed; exiting with requests in flight"),
    }
    pool.close().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}

#[cfg(test)]
mod tests {
    use crate::fixture::{app, app_with};
    use axum::http::StatusCode;

    #[tokio::test]
    async fn health_readiness_and_metrics() {
        let app = app().await;
        let r = app.send("GET", "/healthz", None).await;
        assert_eq!(
            (r.status, &r.body["status"]),
            (StatusCode::OK, &serde_json::json!("ok"))
        );
        assert_eq!(
            app.send("GET", "/readyz", None).await.status,
            StatusCode::OK
        );
        app.send("GET", "/public", None).await;
        let r = app.send("GET", "/metrics", None).await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(
            r.body
                .as_str()
                .unwrap_or_default()
                .contains("http_requests_total"),
            "{}",
            r.body
        );
        app.state.db.close().await;
        assert_eq!(
            app.send("GET", "/readyz", None).await.status,
            StatusCode::SERVICE_UNAVAILABLE
        );
    }

    #[tokio::test]
    async fn request_ids_are_taken_when_valid_else_made() {
        let app = app().await;
        let made = app.send("GET", "/healthz", None).await.headers["x-request-id"]
            .to_str()
            .unwrap()
            .to_string();
        assert_eq!(made.len(), 36);
        let r = app
            .send_with(
                "GET",
                "/healthz",
                None,
                &[("x-request-id", "bad id with spaces")],
            )
            .await;
        assert_ne!(r.headers["x-request-id"], "bad id with spaces");
    }

    #[tokio::test]
    async fn the_contract_and_its_reference_page_are_served() {
        let app = app().await;
        let r = app.send("GET", "/openapi.json", None).await;
        assert_eq!(
            (r.status, &r.body["openapi"]),
            (StatusCode::OK, &serde_json::json!("3.0.3"))
        );
        let r = app.send("GET", "/docs", None).await;
        assert!(r
            .body
            .as_str()
            .unwrap_or_default()
            .contains("<title>fixture"));
    }

    #[tokio::test]
    async fn hsts_only_when_configured() {
        let app = app().await;
        assert!(!app
            .send("GET", "/healthz", None)
            .await
            .headers
            .contains_key("strict-transport-security"));
        let app = app_with(&[("HSTS_MAX_AGE_SECS", "31536000")]).await;
        assert_eq!(
            app.send("GET", "/healthz", None).await.headers["strict-transport-security"],
            "max-age=31536000; includeSubDomains"
        );
    }

    #[tokio::test]
    async fn bodies_are_capped_typed_and_parsed() {
        let app = app().await;
        let r = app.send("POST", "/echo", Some(r#"{"name": "rex"}"#)).await;
        assert_eq!(
            (r.status, &r.body["name"]),
            (StatusCode::CREATED, &serde_json::json!("rex"))
        );
        let big = format!("{{\"name\": \"{}\"}}", "a".repeat(70 * 1024));
        assert_eq!(
            app.send("POST", "/echo", Some(&big)).await.status,
            StatusCode::PAYLOAD_TOO_LARGE
        );
        assert_eq!(
            app.send_with(
                "POST",
                "/echo",
                Some("{}"),
                &[("content-type", "text/plain")]
            )
            .await
            .status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
        let r = app.send("POST", "/echo", Some("{not json")).await;
        assert_eq!(
            (r.status, &r.body["error"]["code"]),
            (StatusCode::BAD_REQUEST, &serde_json::json!("BAD_REQUEST"))
        );
        let r = app
            .send("POST", "/echo", Some(r#"{"name": "", "extra": 1}"#))
            .await;
        app.assert_field_error(&r, "name");
        app.assert_field_error(&r, "extra");
        let r = app.send("POST", "/echo", None).await;
        app.assert_field_error(&r, "body");
    }
}
