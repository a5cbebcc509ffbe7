//! Request ids, structured JSON logs and Prometheus metrics.
//!
//! Every request gets an id (from a valid `X-Request-ID` header, else a new UUID) that is
//! echoed in the response header, carried by every log line of the request, and put in
//! every error body. One JSON log line per request:
//!
//! ```text
//! {"timestamp":"2026-01-02T03:04:05.123456Z","level":"INFO","target":"…","request_id":"…",
//!  "message":"request finished","method":"GET","path":"/books/1","operation":"getBook",
//!  "status":200,"duration_ms":0.41}
//! ```
//!
//! Every line is one flat JSON object: `timestamp` (RFC 3339, UTC), `level`, `target`,
//! `request_id`, `trace_id` and `span_id` (inside a request: taken from the request's task,
//! so every event of the request carries them without a span), then the event's own fields.
//!
//! Trace context follows W3C Trace Context (Level 1): a valid `traceparent` puts the request
//! in the caller's trace (its parent id logged as `parent_span_id`, its `tracestate` kept);
//! without one, or with an invalid one, the request starts a trace. Each request is a span
//! of its own, with a new span id; [`trace_context`] gives the headers to send on outgoing
//! calls, so the trace continues through them. Lines reach stdout in
//! batches ([`LogBuffer`]): a request copies its line into memory and goes on, without a
//! system call or a thread wake-up of its own; lines are never dropped.

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};
use std::time::Instant;
use tracing::field::{Field, Visit};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

tokio::task_local! {
    /// The request being served: one task-local (one swap per poll of the request's
    /// future), shared by reference count between the request and its log line.
    static CURRENT: Arc<Current>;
}

/// What every log line of a request carries.
struct Current {
    /// The request id, kept as the header value it is echoed in (a reference-counted
    /// buffer: echoing it copies nothing).
    id: HeaderValue,
    /// The request's place in its trace.
    trace: Trace,
}

/// Runs `f` with `current` as the request being served (the access log line, tests).
fn in_request<R>(current: &Arc<Current>, f: impl FnOnce() -> R) -> R {
    CURRENT.sync_scope(Arc::clone(current), f)
}

/// A request's W3C Trace Context: the trace it belongs to and its own span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trace {
    /// 32 lowercase hex digits, never all zeros.
    pub trace_id: String,
    /// This request's span: 16 lowercase hex digits, never all zeros.
    pub span_id: String,
    /// The caller's span, from its `traceparent`; `None` when this request started the trace.
    pub parent_span_id: Option<String>,
    /// The trace flags (2 hex digits; `01`: sampled).
    pub flags: String,
    /// The caller's `tracestate`, passed on unchanged.
    pub tracestate: Option<String>,
}

/// The `traceparent` request header (W3C Trace Context §3.2).
pub const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
/// The `tracestate` request header (W3C Trace Context §3.3).
pub const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");

impl Trace {
    /// The context of a request with these headers: the caller's trace when `traceparent`
    /// is valid (`VERSION-TRACEID-PARENTID-FLAGS`, lowercase hex, version `ff` invalid,
    /// neither id all zeros; a future version may add fields after these), else a new one.
    pub fn of(headers: &axum::http::HeaderMap) -> Trace {
        let span_id = random_hex(8);
        let parsed = headers
            .get(&TRACEPARENT)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_traceparent);
        match parsed {
            Some((trace_id, parent, flags)) => Trace {
                trace_id,
                span_id,
                parent_span_id: Some(parent),
                flags,
                tracestate: headers
                    .get(&TRACESTATE)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string),
            },
            None => Trace {
                trace_id: random_hex(16),
                span_id,
                parent_span_id: None,
                // Sampled when this service records its spans (the `otel` feature, started).
                flags: if sampled_here() { "01" } else { "00" }.into(),
                tracestate: None,
            },
        }
    }

    /// The `traceparent` value naming this request's span as the parent of a call it makes.
    pub fn traceparent(&self) -> String {
        format!("00-{}-{}-{}", self.trace_id, self.span_id, self.flags)
    }
}

/// Whether this service exports the spans of the traces it starts.
fn sampled_here() -> bool {
    #[cfg(feature = "otel")]
    {
        crate::otel::enabled()
    }
    #[cfg(not(feature = "otel"))]
    {
        false
    }
}

/// (trace id, parent id, flags) of a valid `traceparent` value.
fn parse_traceparent(v: &str) -> Option<(String, String, String)> {
    let hex = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let mut parts = v.trim().split('-');
    let (version, trace, parent, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let rest_ok = match version {
        "00" => parts.next().is_none(),
        _ => true,
    };
    let valid = hex(version, 2)
        && version != "ff"
        && rest_ok
        && hex(trace, 32)
        && trace.bytes().any(|b| b != b'0')
        && hex(parent, 16)
        && parent.bytes().any(|b| b != b'0')
        && hex(flags, 2);
    valid.then(|| (trace.to_string(), parent.to_string(), flags.to_string()))
}

/// `bytes` (at most 16) random bytes as lowercase hex, never all zeros: `rand`'s
/// thread-local generator (a ChaCha stream the OS seeds and reseeds), so an id costs no
/// system call.
fn random_hex(bytes: usize) -> String {
    use rand::RngCore;
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut raw = [0u8; 16];
    let raw = &mut raw[..bytes.min(16)];
    loop {
        rand::rng().fill_bytes(raw);
        if raw.iter().any(|&b| b != 0) {
            break;
        }
    }
    let mut hex = [0u8; 32];
    for (pair, &b) in hex.chunks_exact_mut(2).zip(raw.iter()) {
        pair[0] = DIGITS[usize::from(b >> 4)];
        pair[1] = DIGITS[usize::from(b & 0xf)];
    }
    String::from_utf8_lossy(&hex[..raw.len() * 2]).into_owned()
}

/// The trace context of the request being served, for the headers of an outgoing call:
/// `traceparent` (this request's span as the parent) and `tracestate`. `None` outside a
/// request.
pub fn trace_context() -> Option<(String, Option<String>)> {
    CURRENT
        .try_with(|c| (c.trace.traceparent(), c.trace.tracestate.clone()))
        .ok()
}

/// The `X-Request-ID` header: the request's id, taken from the client or made here.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The id of the request being served, or `-` outside a request.
pub fn current_request_id() -> String {
    CURRENT
        .try_with(|c| c.id.to_str().unwrap_or("-").to_string())
        .unwrap_or_else(|_| "-".to_string())
}

/// Installs the JSON log subscriber, filtered by `RUST_LOG` (default `info`). Keep the
/// returned guard for the life of the process: dropping it writes out the lines still
/// buffered.
///
/// `RUST_LOG` is a comma-separated list of `level` and `target=level` directives
/// (`info,sqlx=warn`), read by [`log_filter`]. A value that does not parse is reported as
/// a warning, once logging is up, and `info` applies.
pub fn init_logging() -> LogFlush {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let (filter, problem) = log_filter(std::env::var("RUST_LOG").ok().as_deref());
    let subscriber = tracing_subscriber::fmt()
        .event_format(JsonLine)
        .with_writer(&LOG_BUFFER)
        .finish()
        .with(filter);
    let _ = subscriber.try_init();
    if let Some(problem) = problem {
        tracing::warn!(%problem, "RUST_LOG ignored; logging at info");
    }
    // Quiet periods still see their lines within LOG_FLUSH_EVERY.
    let _ = std::thread::Builder::new()
        .name("log-flush".into())
        .spawn(|| loop {
            std::thread::sleep(LOG_FLUSH_EVERY);
            LOG_BUFFER.flush(&mut std::io::stdout());
        });
    LogFlush
}

/// The log filter for a `RUST_LOG` value: target-and-level directives only
/// (`tracing_subscriber::filter::Targets`, which needs no regex engine; span and field
/// filters are not supported). Unset or blank means `info`. Errors: a value that does not
/// parse gives the `info` filter and the parser's message.
pub fn log_filter(value: Option<&str>) -> (tracing_subscriber::filter::Targets, Option<String>) {
    let default = || tracing_subscriber::filter::Targets::new().with_default(tracing::Level::INFO);
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => (default(), None),
        Some(v) => match v.parse() {
            Ok(filter) => (filter, None),
            Err(e) => (default(), Some(format!("`{v}`: {e}"))),
        },
    }
}

/// Lines are written out once this many bytes have gathered…
const LOG_BATCH_BYTES: usize = 32 * 1024;
/// …or at the latest this long after they were logged.
const LOG_FLUSH_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

/// The process's log lines on their way to stdout.
static LOG_BUFFER: LogBuffer = LogBuffer::new();

/// Log lines gathered in memory and written out in one write: when [`LOG_BATCH_BYTES`]
/// have gathered (by the request that fills it), every [`LOG_FLUSH_EVERY`] (a thread of
/// its own), at once for warnings and errors, and when the [`LogFlush`] guard is dropped.
/// Writes happen under the buffer's lock, so lines keep their order; a full or slow stdout
/// makes loggers wait rather than lose lines. Errors writing stdout are ignored: a closed
/// stdout must not stop the service.
pub struct LogBuffer {
    lines: Mutex<Vec<u8>>,
}

impl LogBuffer {
    pub const fn new() -> LogBuffer {
        LogBuffer {
            lines: Mutex::new(Vec::new()),
        }
    }

    /// Adds one formatted line; writes the buffer to `out` when it is full or `urgent`.
    pub fn push(&self, line: &[u8], urgent: bool, out: &mut impl std::io::Write) {
        let mut lines = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
        lines.extend_from_slice(line);
        if urgent || lines.len() >= LOG_BATCH_BYTES {
            let _ = out.write_all(&lines).and_then(|()| out.flush());
            lines.clear();
        }
    }

    /// Writes out whatever has gathered.
    pub fn flush(&self, out: &mut impl std::io::Write) {
        self.push(&[], true, out);
    }
}

impl Default for LogBuffer {
    fn default() -> Self {
        LogBuffer::new()
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for &'static LogBuffer {
    type Writer = LogLine;

    fn make_writer(&'a self) -> LogLine {
        LogLine {
            buffer: self,
            urgent: false,
        }
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> LogLine {
        LogLine {
            buffer: self,
            urgent: *meta.level() <= tracing::Level::WARN,
        }
    }
}

/// The writer of one event's line (the formatter writes a whole line at once).
pub struct LogLine {
    buffer: &'static LogBuffer,
    urgent: bool,
}

impl std::io::Write for LogLine {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buffer.push(bytes, self.urgent, &mut std::io::stdout());
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Writes out the buffered log lines when dropped (keep it until the process ends).
#[must_use = "dropping it at once writes nothing out later"]
pub struct LogFlush;

impl Drop for LogFlush {
    fn drop(&mut self) {
        LOG_BUFFER.flush(&mut std::io::stdout());
    }
}

/// Formats each event as one flat JSON object (see the module documentation).
pub struct JsonLine;

impl<S, N> FormatEvent<S, N> for JsonLine
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let meta = event.metadata();
        let stamp = rfc3339_micros(chrono::Utc::now());
        // The line is built in a buffer of its own with plain `String` pushes, then handed
        // to the writer whole: each member written straight to the writer cost a dynamic
        // call per piece, several hundred instructions a member.
        let mut line = JsonObject {
            out: String::with_capacity(LINE_CAPACITY),
        };
        line.out.push_str("{\"timestamp\":\"");
        line.out
            .push_str(std::str::from_utf8(&stamp).map_err(|_| std::fmt::Error)?);
        line.out.push('"');
        line.string("level", meta.level().as_str());
        line.string("target", meta.target());
        let _ = CURRENT.try_with(|c| {
            line.string("request_id", c.id.to_str().unwrap_or("-"));
            let t = &c.trace;
            line.string("trace_id", &t.trace_id);
            line.string("span_id", &t.span_id);
            if let Some(p) = &t.parent_span_id {
                line.string("parent_span_id", p);
            }
        });
        event.record(&mut line);
        line.out.push_str("}\n");
        writer.write_str(&line.out)
    }
}

/// Bytes a log line's buffer starts with: an access log line fits.
const LINE_CAPACITY: usize = 512;

/// `now` as an RFC 3339 UTC timestamp with microseconds (`2026-11-21T13:04:41.629636Z`,
/// 27 ASCII bytes), digit by digit: with `write!` and seven arguments it took about a sixth
/// of the access log line's instructions.
fn rfc3339_micros(now: chrono::DateTime<chrono::Utc>) -> [u8; 27] {
    use chrono::{Datelike, Timelike};
    let (date, time) = (now.date_naive(), now.time());
    let mut out = *b"0000-00-00T00:00:00.000000Z";
    let mut put = |at: usize, width: usize, mut value: u32| {
        for i in (at..at + width).rev() {
            out[i] = b'0' + (value % 10) as u8;
            value /= 10;
        }
    };
    put(0, 4, date.year().clamp(0, 9999) as u32);
    put(5, 2, date.month());
    put(8, 2, date.day());
    put(11, 2, time.hour());
    put(14, 2, time.minute());
    put(17, 2, time.second());
    // A leap second is reported as nanoseconds past 10^9.
    put(20, 6, time.nanosecond() % 1_000_000_000 / 1000);
    out
}

/// The rest of a JSON object being written after its first member: members are appended,
/// the caller closes it. Writing to a `String` cannot fail.
struct JsonObject {
    out: String,
}

impl JsonObject {
    fn key(&mut self, name: &str) {
        self.out.push(',');
        push_json_string(&mut self.out, name);
        self.out.push(':');
    }

    fn string(&mut self, name: &str, value: &str) {
        self.key(name);
        push_json_string(&mut self.out, value);
    }
}

impl Visit for JsonObject {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.string(field.name(), value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.key(field.name());
        self.out.push_str(itoa::Buffer::new().format(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.key(field.name());
        self.out.push_str(itoa::Buffer::new().format(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.key(field.name());
        self.out.push_str(if value { "true" } else { "false" });
    }

    /// The shortest decimal that reads back as `value` (`ryu`); JSON has no NaN or
    /// infinity, so those are written as `null`.
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.key(field.name());
        if value.is_finite() {
            self.out.push_str(ryu::Buffer::new().format_finite(value));
        } else {
            self.out.push_str("null");
        }
    }

    /// `Debug` and `%Display` values (the message among them) are written as strings,
    /// escaped as they are formatted.
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write;
        self.key(field.name());
        self.out.push('"');
        // Formatting into a `String` fails only if `value`'s own `Debug` does; what it
        // wrote until then stays, and the string is closed either way.
        let _ = write!(JsonEscaped(&mut self.out), "{value:?}");
        self.out.push('"');
    }
}

/// Writes `s` as a JSON string (RFC 8259 §7: quote, backslash and control characters
/// escaped).
fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    push_json_chars(out, s);
    out.push('"');
}

/// Whether a byte must be escaped inside a JSON string (RFC 8259 §7): quote, backslash and
/// the control characters U+0000 to U+001F.
const NEEDS_ESCAPE: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = true;
        b += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

/// Writes `s` escaped for the inside of a JSON string; runs of characters that need no
/// escape are copied whole.
fn push_json_chars(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut rest = s;
    while let Some(i) = rest.bytes().position(|b| NEEDS_ESCAPE[usize::from(b)]) {
        // The byte at `i` is ASCII, so `i` and `i + 1` are character boundaries.
        out.push_str(&rest[..i]);
        let b = rest.as_bytes()[i];
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            _ => {
                out.push_str("\\u00");
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 0xf)]));
            }
        }
        rest = &rest[i + 1..];
    }
    out.push_str(rest);
}

/// A writer that escapes what is formatted into it for the inside of a JSON string, so a
/// `Debug` value is written without an intermediate `String`.
struct JsonEscaped<'a>(&'a mut String);

impl std::fmt::Write for JsonEscaped<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        push_json_chars(self.0, s);
        Ok(())
    }
}

/// `db_query_duration_seconds{kind="read"}` and `{kind="write"}`, registered once, when the
/// recorder is installed: a statement records through a handle (an atomic add) instead
/// of looking its key up.
static DB_DURATION: OnceLock<(metrics::Histogram, metrics::Histogram)> = OnceLock::new();

/// The handle of `db_query_duration_seconds` for writes (`true`) or reads; `None` before
/// the recorder is installed (nothing would be scraped).
pub(crate) fn db_duration(write: bool) -> Option<&'static metrics::Histogram> {
    DB_DURATION
        .get()
        .map(|(read, written)| if write { written } else { read })
}

/// The process-wide Prometheus recorder (installed on first use).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets(&[
                    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ])
                .expect("static buckets are valid")
                // Statements take microseconds to milliseconds.
                .set_buckets_for_metric(
                    metrics_exporter_prometheus::Matcher::Full("db_query_duration_seconds".into()),
                    &[
                        0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 2.5,
                    ],
                )
                .expect("static buckets are valid");
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            // Histogram samples wait in the recorder until upkeep folds them into buckets;
            // without it (and without a scrape) they pile up and memory grows per request.
            let upkeep = handle.clone();
            std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || loop {
                    std::thread::sleep(std::time::Duration::from_secs(5));
                    upkeep.run_upkeep();
                })
                .expect("a thread can be spawned at start-up");
            // Another recorder may exist in tests that build several apps; keep the first.
            let _ = metrics::set_global_recorder(recorder);
            let _ = DB_DURATION.set((
                metrics::histogram!("db_query_duration_seconds", "kind" => "read"),
                metrics::histogram!("db_query_duration_seconds", "kind" => "write"),
            ));
            handle
        })
        .clone()
}

/// A new request id: a random UUID v4 (RFC 9562 §5.4) from `rand`'s thread-local
/// generator, so making one costs no system call (`Uuid::new_v4` asks the OS each time).
fn new_request_id() -> HeaderValue {
    let bytes: [u8; 16] = rand::random();
    let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let text = uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .hyphenated()
        .encode_lower(&mut text);
    HeaderValue::from_str(text).expect("a hyphenated UUID is a valid header value")
}

fn valid_request_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

/// The contract's `operationId` of the operation that answered, put in the response's
/// extensions by the route's guard (`-` in the log line for other routes).
#[derive(Clone, Copy, Debug)]
pub struct Operation(pub &'static str);

/// What is known of a request before it is handed on: its id, what its log line and its
/// metrics say of it. [`Observed::finish`] runs the rest of the request with the id.
pub struct Observed {
    id: HeaderValue,
    trace: Trace,
    method: Method,
    uri: Uri,
    route: Option<MatchedPath>,
    started: Instant,
}

impl Observed {
    /// Takes the id from a valid `X-Request-ID` header, else makes a UUID v4. The route is
    /// the matched path template (`Router::layer` runs after routing), `unmatched` if none.
    pub fn begin(req: &Request) -> Observed {
        let id = req
            .headers()
            .get(X_REQUEST_ID)
            .filter(|v| v.to_str().is_ok_and(valid_request_id))
            .cloned()
            .unwrap_or_else(new_request_id);
        Observed {
            id,
            trace: Trace::of(req.headers()),
            method: req.method().clone(),
            uri: req.uri().clone(),
            route: req.extensions().get::<MatchedPath>().cloned(),
            started: Instant::now(),
        }
    }

    /// Runs `handling` with the request id in scope, then echoes the id in `X-Request-ID`,
    /// counts the answer and writes the access log line.
    pub async fn finish(self, handling: impl std::future::Future<Output = Response>) -> Response {
        let Observed {
            id,
            trace,
            method,
            uri,
            route,
            started,
        } = self;
        let current = Arc::new(Current { id, trace });
        let mut res = CURRENT.scope(Arc::clone(&current), handling).await;
        let elapsed = started.elapsed();
        let seconds = elapsed.as_secs_f64();
        let status = res.status();
        with_route_metrics(
            route.as_ref().map_or("unmatched", MatchedPath::as_str),
            method_label(&method),
            status,
            |m| {
                m.requests.increment(1);
                m.duration.record(seconds);
                if let Some(errors) = &m.errors {
                    errors.increment(1);
                }
            },
        );
        res.headers_mut().insert(X_REQUEST_ID, current.id.clone());
        let operation = res.extensions().get::<Operation>().map_or("-", |o| o.0);
        let user_id = res.extensions().get::<Subject>().map(|s| s.0.to_string());
        let service = crate::Service::current().map_or("-", |s| s.name);
        #[cfg(feature = "otel")]
        {
            let ended = std::time::SystemTime::now();
            crate::otel::record(
                &current.trace,
                method.as_str(),
                route.as_ref().map_or("unmatched", MatchedPath::as_str),
                uri.path(),
                status.as_u16(),
                ended.checked_sub(elapsed).unwrap_or(ended),
                ended,
            );
        }
        in_request(&current, || {
            tracing::info!(
                service,
                user_id = user_id.as_deref().unwrap_or("-"),
                method = method.as_str(),
                path = uri.path(),
                operation,
                status = status.as_u16(),
                duration_ms = elapsed.as_micros() as f64 / 1000.0,
                "request finished"
            )
        });
        res
    }
}

/// A log sink that can be read back ([`capture`]).
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn lines(&self) -> Vec<serde_json::Value> {
        let bytes = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        String::from_utf8_lossy(&bytes)
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

/// Runs `work` with every log line it writes (at every level) captured in the service's
/// JSON format, for tests: its output and the lines, one JSON object each. Lines written by
/// tasks it spawns are not captured.
pub async fn capture<F: std::future::Future>(work: F) -> (F::Output, Vec<serde_json::Value>) {
    use tracing::instrument::WithSubscriber;
    // tracing caches which levels and callsites anyone listens to, and a test thread that
    // logs while no capture is alive could leave that cache saying "nobody" under a
    // capture on another thread. A global subscriber that listens to everything and
    // writes nothing keeps the cache open in a process that captures.
    static OPEN: std::sync::Once = std::sync::Once::new();
    OPEN.call_once(|| {
        let _ = tracing::subscriber::set_global_default(tracing_subscriber::registry());
        tracing::callsite::rebuild_interest_cache();
    });
    let captured = Captured::default();
    let sink = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .event_format(JsonLine)
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || sink.clone())
        .finish();
    let out = work.with_subscriber(subscriber).await;
    (out, captured.lines())
}

/// A security event: a WARN log line with a machine-readable `event` (and the request id,
/// as every line in a request), counted in `security_events_total{event}`. Never carries a
/// secret: no password, token or key, only what identifies the caller (subject, key id,
/// client address) and the operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityEvent {
    /// A sign-in with a wrong password, an unknown or a disabled account.
    SignInFailed,
    /// A token, key or password that does not authenticate, on an operation that needs one.
    InvalidCredential,
    /// An authenticated caller without the role, scope or ownership the operation needs.
    Forbidden,
    /// A request over its rate-limit bucket.
    RateLimited,
    /// A spent refresh token presented again: its whole family is revoked.
    RefreshTokenReused,
    /// A revoked API key presented.
    RevokedKeyUsed,
}

impl SecurityEvent {
    /// The `event` value: `sign_in_failed`, `invalid_credential`, `forbidden`,
    /// `rate_limited`, `refresh_token_reused`, `revoked_key_used`.
    pub fn as_str(self) -> &'static str {
        match self {
            SecurityEvent::SignInFailed => "sign_in_failed",
            SecurityEvent::InvalidCredential => "invalid_credential",
            SecurityEvent::Forbidden => "forbidden",
            SecurityEvent::RateLimited => "rate_limited",
            SecurityEvent::RefreshTokenReused => "refresh_token_reused",
            SecurityEvent::RevokedKeyUsed => "revoked_key_used",
        }
    }
}

/// Logs and counts security event `event` about `operation` (`-` for none); `detail` says
/// what happened in words, without any secret. Authentication failures are counted in
/// `auth_failures_total{reason}` as well.
pub fn security(event: SecurityEvent, operation: &str, detail: &str) {
    tracing::warn!(event = event.as_str(), operation, detail, "security event");
    metrics::counter!("security_events_total", "event" => event.as_str()).increment(1);
    if matches!(
        event,
        SecurityEvent::SignInFailed
            | SecurityEvent::InvalidCredential
            | SecurityEvent::RevokedKeyUsed
    ) {
        metrics::counter!("auth_failures_total", "reason" => event.as_str()).increment(1);
    }
}

/// The subject of the request's caller, for the access log's `user_id` (a response
/// extension the guard sets).
#[derive(Debug, Clone, Copy)]
pub struct Subject(pub uuid::Uuid);

/// The metric handles of one (route, method, status), registered on first use. Recording
/// through a handle is an atomic add; the `metrics` macros with owned labels would build
/// and look up a new key on every request.
struct RouteMetrics {
    requests: metrics::Counter,
    duration: metrics::Histogram,
    /// Only for 4xx and 5xx.
    errors: Option<metrics::Counter>,
}

/// Route → the handles of each (method, status) seen on it (a handful per route).
type RouteTable = HashMap<String, Vec<(&'static str, StatusCode, RouteMetrics)>>;

fn with_route_metrics(
    route: &str,
    method: &'static str,
    status: StatusCode,
    record: impl Fn(&RouteMetrics),
) {
    static TABLE: OnceLock<RwLock<RouteTable>> = OnceLock::new();
    let table = TABLE.get_or_init(Default::default);
    let find = |t: &RouteTable| -> bool {
        let found = t
            .get(route)
            .and_then(|v| v.iter().find(|(m, s, _)| *m == method && *s == status));
        found.map(|(_, _, m)| record(m)).is_some()
    };
    if find(&table.read().unwrap_or_else(PoisonError::into_inner)) {
        return;
    }
    let mut t = table.write().unwrap_or_else(PoisonError::into_inner);
    if find(&t) {
        return;
    }
    let labels = [
        ("method", method.to_string()),
        ("route", route.to_string()),
        ("status", status.as_u16().to_string()),
    ];
    let failed = status.is_client_error() || status.is_server_error();
    let m = RouteMetrics {
        requests: metrics::counter!("http_requests_total", &labels),
        duration: metrics::histogram!("http_request_duration_seconds", &labels),
        errors: failed.then(|| metrics::counter!("http_request_errors_total", &labels)),
    };
    record(&m);
    t.entry(route.to_string())
        .or_default()
        .push((method, status, m));
}

/// The method as a metric label: the methods of RFC 9110 §9 and PATCH (RFC 5789) by name,
/// any other as `OTHER`, so callers cannot grow the metric set by inventing methods.
fn method_label(method: &Method) -> &'static str {
    const STANDARD: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
    ];
    STANDARD
        .iter()
        .find(|m| **m == method.as_str())
        .copied()
        .unwrap_or("OTHER")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logged(event: impl FnOnce()) -> Vec<serde_json::Value> {
        let captured = Captured::default();
        let sink = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .event_format(JsonLine)
            .with_writer(move || sink.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, event);
        let text = String::from_utf8(captured.0.lock().expect("sink").clone()).expect("UTF-8");
        text.lines()
            .map(|l| serde_json::from_str(l).expect("each line is one JSON object"))
            .collect()
    }

    #[test]
    fn new_request_ids_are_distinct_uuid_v4s() {
        let text = |id: HeaderValue| id.to_str().expect("ASCII").to_string();
        let ids: std::collections::HashSet<String> =
            (0..1000).map(|_| text(new_request_id())).collect();
        assert_eq!(ids.len(), 1000);
        for id in &ids {
            assert_eq!(
                uuid::Uuid::parse_str(id).expect("a UUID").get_version_num(),
                4,
                "{id}"
            );
        }
        let other = text(std::thread::spawn(new_request_id).join().expect("thread"));
        assert!(
            !ids.contains(&other),
            "another thread starts from a seed of its own"
        );
    }

    #[test]
    fn rust_log_takes_levels_and_target_directives_and_falls_back_to_info() {
        use tracing::level_filters::LevelFilter;
        let (filter, problem) = log_filter(None);
        assert!(problem.is_none());
        assert_eq!(filter.default_level(), Some(LevelFilter::INFO));
        let (filter, problem) = log_filter(Some("warn,sqlx=error,tower_http=debug"));
        assert!(problem.is_none());
        assert_eq!(filter.default_level(), Some(LevelFilter::WARN));
        assert!(filter.would_enable("tower_http::trace", &tracing::Level::DEBUG));
        assert!(!filter.would_enable("sqlx::query", &tracing::Level::WARN));
        let (filter, problem) = log_filter(Some("sqlx=loud"));
        assert!(problem.expect("a message").contains("sqlx=loud"));
        assert_eq!(filter.default_level(), Some(LevelFilter::INFO));
    }

    #[test]
    fn log_lines_wait_for_a_full_batch_a_warning_or_a_flush() {
        let buffer = LogBuffer::new();
        let mut out = Vec::new();
        buffer.push(b"one\n", false, &mut out);
        assert!(out.is_empty(), "an info line waits for the batch");
        buffer.push(&vec![b'x'; LOG_BATCH_BYTES], false, &mut out);
        assert_eq!(
            out.len(),
            4 + LOG_BATCH_BYTES,
            "a full batch is written out whole"
        );
        assert!(out.starts_with(b"one\nxx"), "in order");
        buffer.push(b"two\n", false, &mut out);
        buffer.push(b"warn\n", true, &mut out);
        assert!(
            out.ends_with(b"xtwo\nwarn\n"),
            "a warning writes out what waits before it, then itself"
        );
        buffer.push(b"three\n", false, &mut out);
        assert!(!out.ends_with(b"three\n"));
        buffer.flush(&mut out);
        assert!(out.ends_with(b"warn\nthree\n"));
    }

    #[test]
    fn timestamps_are_rfc3339_utc_with_microseconds() {
        use chrono::TimeZone;
        let at = chrono::Utc
            .with_ymd_and_hms(2026, 1, 2, 3, 4, 5)
            .single()
            .expect("a valid date")
            + chrono::TimeDelta::microseconds(7);
        assert_eq!(&rfc3339_micros(at), b"2026-01-02T03:04:05.000007Z");
        let now = chrono::Utc::now();
        let parsed = chrono::DateTime::parse_from_rfc3339(
            std::str::from_utf8(&rfc3339_micros(now)).expect("ASCII"),
        );
        assert_eq!(
            parsed.expect("RFC 3339").timestamp_micros(),
            now.timestamp_micros()
        );
    }

    #[test]
    fn an_access_log_line_is_one_flat_json_object() {
        let lines = logged(|| {
            let current = Arc::new(Current {
                id: HeaderValue::from_static("req-1"),
                trace: Trace::of(&axum::http::HeaderMap::new()),
            });
            in_request(&current, || {
                tracing::info!(
                    method = "GET",
                    path = "/a \"quoted\"\n\\path",
                    operation = "getThing",
                    status = 200u16,
                    duration_ms = 1.5,
                    "request finished"
                )
            })
        });
        assert_eq!(lines.len(), 1);
        let line = &lines[0];
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["message"], "request finished");
        assert_eq!(line["request_id"], "req-1");
        assert_eq!(line["method"], "GET");
        assert_eq!(line["path"], "/a \"quoted\"\n\\path");
        assert_eq!(line["operation"], "getThing");
        assert_eq!(line["status"], 200);
        assert_eq!(line["duration_ms"], 1.5);
        let timestamp = line["timestamp"].as_str().expect("timestamp");
        assert!(
            chrono::DateTime::parse_from_rfc3339(timestamp).is_ok(),
            "{timestamp}"
        );
    }

    #[test]
    fn traceparent_values_are_checked_as_w3c_trace_context_says() {
        let ok = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(
            parse_traceparent(ok),
            Some((
                "4bf92f3577b34da6a3ce929d0e0e4736".into(),
                "00f067aa0ba902b7".into(),
                "01".into()
            ))
        );
        // A later version may carry more fields; version 00 may not.
        assert!(
            parse_traceparent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what")
                .is_some()
        );
        for bad in [
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "garbage",
        ] {
            assert_eq!(parse_traceparent(bad), None, "{bad}");
        }
    }

    /// Every line of a request carries its trace: the caller's when it sent a valid
    /// `traceparent` (with the caller's span as the parent), a new one otherwise.
    #[tokio::test]
    async fn log_lines_carry_the_trace_of_the_request() {
        let app = crate::fixture::app().await;
        let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let (_, joined) = capture(app.send_raw(
            "GET",
            "/public",
            None,
            &[("traceparent", parent), ("tracestate", "vendor=opaque")],
        ))
        .await;
        let access = joined
            .iter()
            .find(|l| l["message"] == "request finished")
            .expect("access line");
        assert_eq!(access["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(access["parent_span_id"], "00f067aa0ba902b7");
        let span = access["span_id"].as_str().expect("span id");
        assert!(
            span.len() == 16 && span != "00f067aa0ba902b7",
            "a span of its own: {span}"
        );
        for headers in [vec![], vec![("traceparent", "00-zz-zz-01")]] {
            let (_, started) = capture(app.send_raw("GET", "/public", None, &headers)).await;
            let access = started
                .iter()
                .find(|l| l["message"] == "request finished")
                .expect("access line");
            let trace = access["trace_id"].as_str().expect("trace id");
            assert!(
                trace.len() == 32 && trace != "4bf92f3577b34da6a3ce929d0e0e4736",
                "{trace}"
            );
            assert!(access.get("parent_span_id").is_none());
        }
        let t = Trace::of(&axum::http::HeaderMap::new());
        let current = Arc::new(Current {
            id: HeaderValue::from_static("req-1"),
            trace: t.clone(),
        });
        let passed_on = in_request(&current, trace_context).expect("inside a request");
        assert_eq!(
            passed_on.0,
            format!("00-{}-{}-{}", t.trace_id, t.span_id, t.flags)
        );
        // Sampled only where this service exports spans (the `otel` feature, started).
        assert_eq!(t.flags, if sampled_here() { "01" } else { "00" });
        assert_eq!(trace_context(), None, "outside a request");
    }

    #[test]
    fn lines_outside_a_request_have_no_request_id_and_odd_numbers_stay_json() {
        let lines =
            logged(|| tracing::warn!(ratio = f64::NAN, error = %"a\u{1}b \"c\" \\d", "odd"));
        assert_eq!(lines[0]["level"], "WARN");
        assert!(lines[0].get("request_id").is_none());
        assert!(lines[0]["ratio"].is_null());
        // A Display value goes through `record_debug`, escaped as it is formatted.
        assert_eq!(lines[0]["error"], "a\u{1}b \"c\" \\d");
    }

    #[test]
    fn every_character_survives_escaping_and_numbers_read_back() {
        // Every ASCII byte, some multi-byte characters, and escapes at both ends.
        let mut text: String = (0u8..0x80).map(char::from).collect();
        text.push_str("é€😀\"\\\n");
        text.insert(0, '"');
        let mut out = String::new();
        push_json_string(&mut out, &text);
        assert_eq!(serde_json::from_str::<String>(&out).expect("JSON"), text);
        assert!(out.contains("\\u001f") && out.contains("\\u0000"), "{out}");
        let lines = logged(|| {
            tracing::info!(
                big = u64::MAX,
                low = i64::MIN,
                whole = 2.0,
                tiny = 1e-7,
                yes = true,
                "numbers"
            )
        });
        let line = &lines[0];
        assert_eq!(line["big"], u64::MAX);
        assert_eq!(line["low"], i64::MIN);
        assert_eq!(line["whole"], 2.0);
        assert_eq!(line["tiny"], 1e-7);
        assert_eq!(line["yes"], true);
    }

    #[test]
    fn random_ids_are_lowercase_hex_of_their_length_and_differ() {
        for bytes in [8, 16] {
            let ids: std::collections::HashSet<String> =
                (0..500).map(|_| random_hex(bytes)).collect();
            assert_eq!(ids.len(), 500);
            for id in &ids {
                assert_eq!(id.len(), bytes * 2, "{id}");
                assert!(
                    id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
                    "{id}"
                );
            }
        }
    }
}
