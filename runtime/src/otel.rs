//! Span export over OTLP/HTTP (OpenTelemetry Protocol, protobuf encoding), with the `otel`
//! feature.
//!
//! Each request the service answers becomes one server span (OpenTelemetry HTTP semantic
//! conventions: named `METHOD ROUTE`, with `http.request.method`, `http.route`, `url.path`
//! and `http.response.status_code`; status error for a 5xx) with the ids its log lines
//! carry ([`crate::observability::Trace`]): the caller's trace and span when it sent a
//! valid `traceparent`, else a trace the service starts, sampled.
//!
//! The exporter starts when `OTEL_EXPORTER_OTLP_ENDPOINT` or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set, unless `OTEL_SDK_DISABLED=true`; the other
//! standard variables (`OTEL_EXPORTER_OTLP_HEADERS`, `…_TIMEOUT`, `OTEL_SERVICE_NAME`,
//! `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER`, `OTEL_BSP_*`) are read by the
//! OpenTelemetry SDK itself. Spans leave in batches, from a thread of the exporter's own,
//! so a slow or absent collector never delays an answer; the batch still queued is sent
//! when the service stops.

use crate::observability::Trace;
use opentelemetry::trace::{
    Span as _, SpanContext, SpanId, SpanKind, Status, TraceContextExt as _, TraceFlags, TraceId,
    TraceState, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use std::sync::OnceLock;
use std::time::SystemTime;

static TRACER: OnceLock<(SdkTracerProvider, SdkTracer)> = OnceLock::new();

/// Whether spans are exported (the exporter was started).
pub fn enabled() -> bool {
    TRACER.get().is_some()
}

/// Stops the exporter when dropped, sending the spans still queued.
pub struct Guard(());

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some((provider, _)) = TRACER.get() {
            let _ = provider.shutdown();
        }
    }
}

/// Starts the exporter if the environment configures one (see the module's text), naming
/// the service `service` unless `OTEL_SERVICE_NAME` says otherwise. `None` when export
/// is off. Errors: the exporter cannot be built (an invalid endpoint or header value).
pub fn init_from_env(service: &str) -> Result<Option<Guard>, String> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    if var("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        return Ok(None);
    }
    if var("OTEL_EXPORTER_OTLP_ENDPOINT").is_none()
        && var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").is_none()
    {
        return Ok(None);
    }
    start(service, None).map(Some)
}

/// Starts the exporter sending to `traces_url` (the full URL, `…/v1/traces`) when given,
/// else where the `OTEL_EXPORTER_OTLP_*` variables say. Errors: the exporter cannot be
/// built, or one was started already.
pub fn start(service: &str, traces_url: Option<&str>) -> Result<Guard, String> {
    let service = service.to_string();
    let url = traces_url.map(str::to_string);
    // The blocking HTTP client runs a runtime of its own: build it outside the service's.
    let provider = std::thread::spawn(move || {
        use opentelemetry_otlp::WithExportConfig;
        let mut builder = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(opentelemetry_otlp::Protocol::HttpBinary);
        if let Some(url) = url {
            builder = builder.with_endpoint(url);
        }
        let exporter = builder.build().map_err(|e| e.to_string())?;
        let mut resource = opentelemetry_sdk::Resource::builder();
        if std::env::var("OTEL_SERVICE_NAME").is_err() {
            resource = resource.with_service_name(service);
        }
        Ok::<_, String>(
            SdkTracerProvider::builder()
                .with_batch_exporter(exporter)
                .with_resource(resource.build())
                .build(),
        )
    })
    .join()
    .map_err(|_| "the exporter's set-up panicked".to_string())??;
    let tracer = provider.tracer("apigen-runtime");
    TRACER
        .set((provider, tracer))
        .map_err(|_| "the OTLP exporter was started already".to_string())?;
    Ok(Guard(()))
}

/// Sends the spans queued so far (for tests, and before a planned stop).
pub fn flush() {
    if let Some((provider, _)) = TRACER.get() {
        let _ = provider.force_flush();
    }
}

/// Records the span of a request answered `status` after running from `started` to
/// `ended`; `route` is the matched path template. Does nothing while export is off.
pub(crate) fn record(
    trace: &Trace,
    method: &str,
    route: &str,
    path: &str,
    status: u16,
    started: SystemTime,
    ended: SystemTime,
) {
    let Some((_, tracer)) = TRACER.get() else {
        return;
    };
    let (Ok(trace_id), Ok(span_id)) = (
        TraceId::from_hex(&trace.trace_id),
        SpanId::from_hex(&trace.span_id),
    ) else {
        return;
    };
    let flags = u8::from_str_radix(&trace.flags, 16).unwrap_or(0);
    let parent = match &trace.parent_span_id {
        Some(p) => match SpanId::from_hex(p) {
            Ok(parent) => Context::new().with_remote_span_context(SpanContext::new(
                trace_id,
                parent,
                TraceFlags::new(flags),
                true,
                trace
                    .tracestate
                    .as_deref()
                    .and_then(|s| s.parse::<TraceState>().ok())
                    .unwrap_or_default(),
            )),
            Err(_) => Context::new(),
        },
        None => Context::new(),
    };
    let mut builder = tracer
        .span_builder(format!("{method} {route}"))
        .with_kind(SpanKind::Server)
        .with_start_time(started)
        .with_attributes([
            KeyValue::new("http.request.method", method.to_string()),
            KeyValue::new("http.route", route.to_string()),
            KeyValue::new("url.path", path.to_string()),
            KeyValue::new("http.response.status_code", i64::from(status)),
        ]);
    builder.trace_id = Some(trace_id);
    builder.span_id = Some(span_id);
    let mut span = tracer.build_with_context(builder, &parent);
    if status >= 500 {
        span.set_status(Status::error(format!("answered {status}")));
    }
    span.end_with_timestamp(ended);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::otlp::{hex, receiver};

    /// A request's span reaches a real OTLP/HTTP receiver with the ids of its log lines:
    /// in the caller's trace under the caller's span, or in a trace of its own.
    #[tokio::test]
    async fn request_spans_are_exported_over_otlp_http_with_their_trace_context() {
        let (url, received) = receiver();
        let _guard = start("fixture", Some(&url)).expect("the exporter starts");
        let app = crate::fixture::app().await;
        let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let r = app
            .send_raw("GET", "/public", None, &[("traceparent", parent)])
            .await;
        assert_eq!(r.status, axum::http::StatusCode::OK);
        let r = app.send_raw("GET", "/public", None, &[]).await;
        assert_eq!(r.status, axum::http::StatusCode::OK);
        flush();
        let mut spans = Vec::new();
        while spans.len() < 2 {
            let batch = received
                .recv_timeout(std::time::Duration::from_secs(10))
                .expect("the receiver got the spans");
            for rs in batch.resource_spans {
                let service = rs
                    .resource
                    .iter()
                    .flat_map(|r| r.attributes.iter())
                    .find(|a| a.key == "service.name")
                    .and_then(|a| a.value.clone())
                    .map(|v| format!("{:?}", v.value));
                assert!(service.is_some_and(|s| s.contains("fixture")));
                for ss in rs.scope_spans {
                    spans.extend(ss.spans);
                }
            }
        }
        let joined = spans
            .iter()
            .find(|s| hex(&s.trace_id) == "4bf92f3577b34da6a3ce929d0e0e4736")
            .expect("the span in the caller's trace");
        assert_eq!(hex(&joined.parent_span_id), "00f067aa0ba902b7");
        assert_eq!(joined.name, "GET /public");
        assert_eq!(joined.kind, 2, "a server span");
        assert!(joined.end_time_unix_nano >= joined.start_time_unix_nano);
        let status = joined
            .attributes
            .iter()
            .find(|a| a.key == "http.response.status_code")
            .and_then(|a| a.value.clone())
            .map(|v| format!("{:?}", v.value));
        assert!(status.is_some_and(|s| s.contains("200")), "{joined:?}");
        let started = spans
            .iter()
            .find(|s| s.parent_span_id.is_empty())
            .expect("the span of a trace the service started");
        assert_eq!(started.trace_id.len(), 16);
        assert_ne!(
            hex(&started.trace_id),
            hex(&joined.trace_id),
            "a trace of its own"
        );
    }
}
