//! Building the whole router and serving it.

use crate::config::Config;
use crate::edge::Edge;
use crate::error::ApiError;
use crate::state::AppState;
use crate::{accounts, db, docs, health, observability, Service};
use axum::body::Body;
use axum::extract::{ConnectInfo, DefaultBodyLimit};
use axum::http::HeaderValue;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tower::{service_fn, ServiceBuilder, ServiceExt};
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
        .merge(health::router(state))
        .merge(docs::router(state))
        .fallback(not_found);
    // CORS only when origins are configured: the layer answers every OPTIONS request as a
    // preflight, which would shadow OPTIONS operations the contract declares.
    let router = if origins.is_empty() {
        router
    } else {
        use axum::http::{HeaderName, Method};
        let configured = state.config.cors_allowed_headers.iter().map(String::as_str);
        let headers: Vec<HeaderName> = configured
            .chain(state.service.api_key_headers.iter().copied())
            .filter_map(|h| HeaderName::from_bytes(h.as_bytes()).ok())
            .collect();
        let exposed = [
            "etag",
            "location",
            "ratelimit-limit",
            "ratelimit-remaining",
            "ratelimit-reset",
            "retry-after",
            "x-request-id",
        ]
        .map(HeaderName::from_static);
        router.layer(
            CorsLayer::new()
                .allow_origin(AllowOrigin::list(origins))
                .allow_methods([
                    Method::GET,
                    Method::HEAD,
                    Method::POST,
                    Method::PUT,
                    Method::PATCH,
                    Method::DELETE,
                    Method::OPTIONS,
                ])
                .allow_headers(headers)
                .expose_headers(exposed),
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
        &db::PoolSettings::from_config(&config),
    )
    .await?;
    db::migrate(&pool, service.migrator).await?;
    let grace = config.shutdown_grace;
    let listener = tokio::net::TcpListener::bind(("0.0.0.0", config.port)).await?;
    tracing::info!(address = %listener.local_addr()?, "listening");
    let state = AppState::new(service, pool.clone(), config)?;
    let limiter = state.limiter.clone();
    // In-process rate-limit buckets of callers gone quiet are dropped once a minute, and
    // expired idempotency keys deleted.
    let keys = pool.clone();
    let retention = state.config.soft_delete_retention;
    let soft = service.soft_delete_tables;
    let audit_retention = state.config.audit_retention;
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            tick.tick().await;
            limiter.prune();
            if let Err(e) = crate::idempotency::purge(&keys).await {
                tracing::warn!(error = %e, "purging expired idempotency keys failed");
            }
            if let Some(keep) = audit_retention {
                let before =
                    chrono::Utc::now() - chrono::Duration::from_std(keep).unwrap_or_default();
                if let Err(e) = crate::audit::purge(&keys, before).await {
                    tracing::warn!(error = %e, "purging audit records past their retention failed");
                }
            }
            if let Some(keep) = retention.filter(|_| !soft.is_empty()) {
                let before =
                    chrono::Utc::now() - chrono::Duration::from_std(keep).unwrap_or_default();
                match db::purge_deleted(&keys, soft, before).await {
                    Ok(0) => {}
                    Ok(n) => {
                        tracing::info!(rows = n, "purged soft-deleted rows past their retention")
                    }
                    Err(e) => tracing::warn!(error = %e, "purging soft-deleted rows failed"),
                }
            }
        }
    });
    let app = app(&state, routes(&state));
    let limits = Limits::from(&state.config);
    serve(listener, app, limits, grace, shutdown_signal()).await;
    pool.close().await;
    Ok(())
}

/// How connections are held: the defences against clients that open many connections or
/// send their requests slowly (slowloris).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// A client must send a request's whole header within this long of the connection
    /// opening or of the previous answer on it; else the connection is closed. This also
    /// ends idle keep-alive connections.
    pub header_read_timeout: Duration,
    /// Connections held at once; past it new ones wait in the listen backlog until one ends.
    pub max_connections: usize,
}

impl From<&Config> for Limits {
    fn from(config: &Config) -> Limits {
        Limits {
            header_read_timeout: config.header_read_timeout,
            max_connections: config.max_connections,
        }
    }
}

/// Serves `app` on `listener` over HTTP/1.1 until `shutdown` completes, then stops
/// accepting, lets every connection finish the request it is serving (idle ones close at
/// once), and returns when they have, or after `grace`. Each request carries
/// [`ConnectInfo`] with the peer's address. Errors accepting a connection (out of file
/// descriptors) are logged and retried after a pause; they never stop the server.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    limits: Limits,
    grace: Duration,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // A slot first, so a full server leaves new connections in the backlog rather
        // than accepting and dropping them.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a connection failed; retrying");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service = service_fn(move |mut req: axum::http::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            app.clone().oneshot(req.map(Body::new))
        });
        let conn = graceful
            .watch(http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service)));
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(peer = %peer, error = %e, "connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    tracing::info!("shutting down: draining in-flight requests");
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(grace) => {
            tracing::warn!("shutdown grace period elapsed; exiting with requests in flight");
        }
    }
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

    /// A contract that claims every path of the service's own endpoints: apigen moves them
    /// aside, as it does in the generated `SERVICE`.
    static CLAIMING: crate::Service = crate::Service {
        paths: crate::Paths {
            health: "/_service/healthz",
            ready: "/_service/readyz",
            metrics: "/_service/metrics",
            openapi: "/_service/openapi.json",
            docs: "/_service/docs",
        },
        contract_paths: &["/healthz", "/readyz", "/metrics", "/openapi.json", "/docs"],
        ..crate::fixture::service()
    };

    fn claiming_routes(_: &crate::AppState) -> axum::Router<crate::AppState> {
        use axum::routing::{get, post};
        let mut r = axum::Router::new();
        for path in CLAIMING.contract_paths {
            r = r.route(
                path,
                get(|| async { "the contract's" }).post(|| async { "posted" }),
            );
        }
        r.route("/public", post(|| async { "ok" }))
    }

    static CLAIMING_HARNESS: crate::testing::Harness = crate::testing::Harness {
        service: &CLAIMING,
        routes: claiming_routes,
        route_creds: &[],
        basic: false,
        api_key: false,
    };

    #[tokio::test]
    async fn a_contract_claiming_the_service_paths_wins_and_the_endpoints_move_aside() {
        let app = crate::testing::TestApp::new(&CLAIMING_HARNESS, &[]).await;
        for path in CLAIMING.contract_paths {
            let r = app.send("GET", path, None).await;
            assert_eq!(
                (r.status, r.body.as_str()),
                (StatusCode::OK, Some("the contract's")),
                "{path}"
            );
        }
        let r = app.send("GET", "/_service/healthz", None).await;
        assert_eq!(r.body["status"], "ok");
        assert_eq!(
            app.send("GET", "/_service/readyz", None).await.status,
            StatusCode::OK
        );
        let metrics = app.send("GET", "/_service/metrics", None).await;
        assert!(metrics
            .body
            .as_str()
            .unwrap_or_default()
            .contains("http_requests_total"));
        let doc = app.send("GET", "/_service/openapi.json", None).await;
        assert_eq!(doc.body["openapi"], "3.0.3");
        assert_eq!(
            app.send("GET", "/_service/docs", None).await.status,
            StatusCode::OK
        );
    }

    #[tokio::test]
    async fn configured_endpoint_paths_are_served_and_checked() {
        let app = app_with(&[
            ("METRICS_PATH", "/internal/metrics"),
            ("HEALTH_PATH", "/live"),
        ])
        .await;
        assert_eq!(app.send("GET", "/live", None).await.status, StatusCode::OK);
        assert_eq!(
            app.send("GET", "/internal/metrics", None).await.status,
            StatusCode::OK
        );
        assert_eq!(
            app.send("GET", "/metrics", None).await.status,
            StatusCode::NOT_FOUND
        );
        let config = |pairs: &'static [(&'static str, &'static str)]| {
            crate::Config::from_lookup(&CLAIMING, &move |k| {
                if k == "JWT_SECRET" {
                    return Some("k3J9xQ2mZp7Lw4Rt8Vb1Nc6Hy0Ds5Fg_Ue-Aq".into());
                }
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            })
        };
        assert!(config(&[]).is_ok());
        for (pairs, needle) in [
            (
                &[("METRICS_PATH", "/metrics")][..],
                "is a path of the contract",
            ),
            (
                &[("HEALTH_PATH", "/x"), ("READY_PATH", "/x")],
                "are both `/x`",
            ),
            (&[("DOCS_PATH", "docs")], "not an absolute path"),
            (&[("DOCS_PATH", "/docs/{page}")], "not an absolute path"),
            (
                &[("OPENAPI_PATH", "/auth/openapi.json")],
                "under the account routes",
            ),
        ] {
            let err = config(pairs).unwrap_err().to_string();
            assert!(err.contains(needle), "{pairs:?}: {err}");
        }
    }

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
            StatusCode::OK,
            "a probe is reused for a second"
        );
        tokio::time::sleep(crate::health::READINESS_TTL + std::time::Duration::from_millis(100))
            .await;
        assert_eq!(
            app.send("GET", "/readyz", None).await.status,
            StatusCode::SERVICE_UNAVAILABLE
        );
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_500_and_the_service_serves_on() {
        let app = app().await;
        let r = app.send("GET", "/panic", None).await;
        assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(r.body["error"]["code"], "INTERNAL");
        let id = r.body["error"]["requestId"].as_str().unwrap_or_default();
        assert!(id.len() > 8, "the 500 names its request: {}", r.body);
        assert!(
            !r.body.to_string().contains("deliberate"),
            "the panic message is logged, never answered: {}",
            r.body
        );
        assert_eq!(
            app.send("GET", "/public", None).await.status,
            StatusCode::OK
        );
    }

    #[test]
    fn panic_messages_are_read_from_either_payload() {
        let text: Box<dyn std::any::Any + Send> = Box::new("static");
        assert_eq!(crate::edge::panic_message(&*text), "static");
        let owned: Box<dyn std::any::Any + Send> = Box::new(String::from("owned"));
        assert_eq!(crate::edge::panic_message(&*owned), "owned");
        let other: Box<dyn std::any::Any + Send> = Box::new(7_u8);
        assert!(crate::edge::panic_message(&*other).contains("not text"));
    }

    #[tokio::test]
    async fn metrics_need_the_token_when_one_is_set() {
        let app = app_with(&[("METRICS_TOKEN", "m3tr1cs-t0ken-for-the-scraper")]).await;
        assert_eq!(
            app.send("GET", "/metrics", None).await.status,
            StatusCode::UNAUTHORIZED
        );
        let wrong = app
            .send_with(
                "GET",
                "/metrics",
                None,
                &[("authorization", "Bearer m3tr1cs-t0ken-for-the-scrapeX")],
            )
            .await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
        let right = app
            .send_with(
                "GET",
                "/metrics",
                None,
                &[("authorization", "Bearer m3tr1cs-t0ken-for-the-scraper")],
            )
            .await;
        assert_eq!(right.status, StatusCode::OK);
    }

    /// The scrape shows the pool's connections, how long writes take, and the
    /// authentication failures and rate-limit rejections by their reason and bucket.
    #[tokio::test]
    async fn metrics_count_pool_connections_auth_failures_and_rejections() {
        let app = app_with(&[]).await;
        let _ = app.send("GET", "/metrics", None).await;
        app.send_raw(
            "GET",
            "/editors",
            None,
            &[("authorization", "Bearer not-a-token")],
        )
        .await;
        for _ in 0..4 {
            app.send_raw("GET", "/limited", None, &[]).await;
        }
        let json = [("content-type", "application/json")];
        let r = app.send_raw("POST", "/ledger", Some("\"x\""), &json).await;
        assert_eq!(r.status, axum::http::StatusCode::CREATED, "{}", r.body);
        let r = app.send_raw("GET", "/metrics", None, &[]).await;
        let text = match &r.body {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        for needle in [
            "db_pool_connections{state=\"idle\"}",
            "db_pool_connections{state=\"in_use\"}",
            "auth_failures_total{reason=\"invalid_credential\"}",
            "rate_limit_rejections_total{bucket=\"tight\"}",
            "security_events_total{event=\"rate_limited\"}",
            "db_query_duration_seconds_bucket{kind=\"write\",le=\"0.0001\"}",
        ] {
            assert!(
                text.contains(needle),
                "{needle} missing from the scrape:\n{text}"
            );
        }
    }

    /// A server on a free loopback port with `limits`; returns its address and the sender
    /// that shuts it down.
    async fn listen(
        limits: super::Limits,
    ) -> (
        std::net::SocketAddr,
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<()>,
    ) {
        let app = app().await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(super::serve(
            listener,
            app.router.clone(),
            limits,
            std::time::Duration::from_secs(5),
            async {
                let _ = rx.await;
            },
        ));
        (addr, tx, server)
    }

    /// Reads until the peer closes the connection or `within` passes; true when it closed.
    async fn closed_within(
        stream: &mut tokio::net::TcpStream,
        within: std::time::Duration,
    ) -> bool {
        use tokio::io::AsyncReadExt;
        let mut buf = [0u8; 4096];
        tokio::time::timeout(within, async {
            loop {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await
        .is_ok()
    }

    #[tokio::test]
    async fn slow_headers_and_idle_connections_are_cut_off() {
        use std::time::Duration;
        use tokio::io::AsyncWriteExt;
        let limits = super::Limits {
            header_read_timeout: Duration::from_millis(500),
            max_connections: 16,
        };
        let (addr, _stop, _server) = listen(limits).await;
        // A client dripping one header line at a time never finishes its header.
        let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
        slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let _ = slow.write_all(b"X-Drip: 1\r\n").await;
        assert!(
            closed_within(&mut slow, Duration::from_secs(3)).await,
            "a dripping header was not cut off"
        );
        // A keep-alive connection left idle after its answer is closed too.
        let mut idle = tokio::net::TcpStream::connect(addr).await.unwrap();
        idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        assert!(
            closed_within(&mut idle, Duration::from_secs(3)).await,
            "an idle connection stayed open"
        );
        // A prompt client is served.
        let mut prompt = tokio::net::TcpStream::connect(addr).await.unwrap();
        prompt
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut prompt, &mut answer)
            .await
            .unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }

    #[tokio::test]
    async fn connections_past_the_cap_wait_for_a_free_slot() {
        use std::time::Duration;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let limits = super::Limits {
            header_read_timeout: Duration::from_secs(30),
            max_connections: 1,
        };
        let (addr, _stop, _server) = listen(limits).await;
        let holder = tokio::net::TcpStream::connect(addr).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut waiting = tokio::net::TcpStream::connect(addr).await.unwrap();
        waiting
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 64];
        assert!(
            tokio::time::timeout(Duration::from_millis(300), waiting.read(&mut buf))
                .await
                .is_err(),
            "a connection past the cap was served"
        );
        drop(holder);
        let mut answer = String::new();
        tokio::time::timeout(Duration::from_secs(3), waiting.read_to_string(&mut answer))
            .await
            .unwrap()
            .unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }

    #[tokio::test]
    async fn shutdown_closes_idle_connections_and_stops_accepting() {
        use std::time::Duration;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let limits = super::Limits {
            header_read_timeout: Duration::from_secs(30),
            max_connections: 16,
        };
        let (addr, stop, server) = listen(limits).await;
        let mut idle = tokio::net::TcpStream::connect(addr).await.unwrap();
        idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 1024];
        assert!(idle.read(&mut buf).await.unwrap() > 0);
        stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(3), server)
            .await
            .expect("shutdown waited on an idle connection")
            .unwrap();
        assert!(closed_within(&mut idle, Duration::from_secs(1)).await);
        assert!(
            tokio::net::TcpStream::connect(addr).await.is_err(),
            "still accepting after shutdown"
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
