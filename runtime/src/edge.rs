//! Middleware as hand-written tower services: [`Around`] and [`Wrapped`], and the
//! outermost layer every request passes, [`Edge`].

use crate::error::ApiError;
use crate::observability;
use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use tower::{Layer, Service};

/// A middleware written as one async function of the request and the service it wraps
/// (the guard, the edge). [`Wrapped`] runs it as a tower service.
pub trait Around: Clone + Send + Sync + 'static {
    /// Handles `req`, calling `inner` (at most once) to get the wrapped service's answer.
    fn around<S>(self, req: Request, inner: S) -> impl Future<Output = Response> + Send
    where
        S: Service<Request, Response = Response, Error = Infallible> + Send + 'static,
        S::Future: Send;
}

/// The service `M` wraps: what axum's `from_fn_with_state` does, with one allocation per
/// request (the boxed future) instead of three, and without splitting the request into
/// parts for extractors. Both the guard and the edge run on every request.
#[derive(Clone)]
pub struct Wrapped<M, S> {
    middleware: M,
    inner: S,
}

impl<M, S> Wrapped<M, S> {
    pub fn new(middleware: M, inner: S) -> Self {
        Wrapped { middleware, inner }
    }
}

impl<M, S> Service<Request> for Wrapped<M, S>
where
    M: Around,
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        // The service that was polled ready runs this request; a fresh clone waits for the next.
        let fresh = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, fresh);
        let middleware = self.middleware.clone();
        Box::pin(async move { Ok(middleware.around(req, inner).await) })
    }
}

/// The outermost middleware: request id, access log line, metrics by route, 503 when a
/// request takes longer than `REQUEST_TIMEOUT_SECS`, and the security headers every answer
/// carries (OWASP Secure Headers Project).
#[derive(Clone)]
pub struct Edge {
    pub timeout: std::time::Duration,
    /// `Strict-Transport-Security` (RFC 6797), only when the service is reached over TLS:
    /// else it would be ignored at best and lock browsers out of a plain-HTTP deployment at
    /// worst.
    pub hsts: Option<HeaderValue>,
}

impl Edge {
    /// The edge for these settings.
    pub fn new(config: &crate::Config) -> Edge {
        Edge {
            timeout: config.request_timeout,
            hsts: config.hsts_max_age.map(|age| {
                HeaderValue::from_str(&format!("max-age={age}; includeSubDomains"))
                    .unwrap_or(HeaderValue::from_static("max-age=31536000"))
            }),
        }
    }
}

impl<S> Layer<S> for Edge {
    type Service = Wrapped<Edge, S>;

    fn layer(&self, inner: S) -> Self::Service {
        Wrapped::new(self.clone(), inner)
    }
}

impl Around for Edge {
    async fn around<S>(self, req: Request, mut inner: S) -> Response
    where
        S: Service<Request, Response = Response, Error = Infallible> + Send + 'static,
        S::Future: Send,
    {
        let observed = observability::Observed::begin(&req);
        let limit = self.timeout;
        let handling = async move {
            // A panic anywhere below (a handler, a service the user wrote) is caught here:
            // the client gets a 500 in the contract's error format with its request id, an
            // error line names the panic, the access line is still written, and the
            // process serves on. Nothing below holds state a panic could leave half-done:
            // a transaction not committed is rolled back when dropped.
            let call = std::panic::AssertUnwindSafe(inner.call(req)).catch_unwind();
            match tokio::time::timeout(limit, call).await {
                Ok(Ok(Ok(res))) => res,
                Ok(Ok(Err(never))) => match never {},
                Ok(Err(panic)) => {
                    ApiError::Internal(format!("panic: {}", panic_message(&*panic))).into_response()
                }
                Err(_) => ApiError::Unavailable.into_response(),
            }
        };
        let mut res = observed.finish(handling).await;
        let headers = res.headers_mut();
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        // JSON answers load nothing: the strictest policy (a page of the service sets its own).
        if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
            headers.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
            );
        }
        if let Some(hsts) = self.hsts {
            headers.insert(header::STRICT_TRANSPORT_SECURITY, hsts);
        }
        res
    }
}

/// The message a panic was raised with (`panic!("…")` gives a `&str` or a `String`).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a panic with a value that is not text")
}
