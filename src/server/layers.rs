//! Tower layers around every gRPC call: observation (request id, logs, metrics), load
//! shedding, and deadlines. Each answers with a proper gRPC status, never a transport error.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::codegen::http;
use tonic::Status;
use tower::{Layer, Service};
use tracing::Instrument;

use super::metrics::Metrics;

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The service that was polled ready serves this call; a fresh clone stays behind for the
/// next one (tower's usual hand-over for services called from a boxed future).
pub(super) fn take_ready<S: Clone>(inner: &mut S) -> S {
    let clone = inner.clone();
    std::mem::replace(inner, clone)
}

/// The canonical name of a gRPC status code, as metrics label it.
fn code_name(code: i32) -> &'static str {
    const NAMES: [&str; 17] = [
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    ];
    usize::try_from(code)
        .ok()
        .and_then(|i| NAMES.get(i))
        .copied()
        .unwrap_or("UNKNOWN")
}

/// Every method this server serves; anything else is labelled `other` in metrics, so callers
/// cannot grow the label set with made-up paths.
const SERVED_METHODS: [&str; 17] = [
    "/segmenter.v1.HistoryService/UpsertCustomer",
    "/segmenter.v1.HistoryService/GetCustomer",
    "/segmenter.v1.HistoryService/DeleteCustomer",
    "/segmenter.v1.HistoryService/RecordEvents",
    "/segmenter.v1.HistoryService/IngestEvents",
    "/segmenter.v1.SegmentationService/Classify",
    "/segmenter.v1.SegmentationService/BatchClassify",
    "/segmenter.v1.SegmentationService/RecommendAction",
    "/segmenter.v1.SegmentationService/ListSegmentMembers",
    "/segmenter.v1.SegmentationService/GetSegmentStats",
    "/segmenter.v1.SegmentationService/RefreshSnapshot",
    "/grpc.health.v1.Health/Check",
    "/grpc.health.v1.Health/Watch",
    "/grpc.health.v1.Health/List",
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
    "other",
];

fn method_label(path: &str) -> &'static str {
    SERVED_METHODS
        .iter()
        .find(|m| **m == path)
        .copied()
        .unwrap_or("other")
}

/// Records a call in the metrics exactly once: with its code when it completes, as CANCELLED
/// when the caller goes away first and the call's future is dropped.
struct CallRecord {
    metrics: Metrics,
    method: &'static str,
    started: Instant,
    recorded: bool,
}

impl CallRecord {
    fn finish(&mut self, code: &str) -> Duration {
        let elapsed = self.started.elapsed();
        self.metrics
            .observe(self.method, code, elapsed.as_secs_f64());
        self.recorded = true;
        elapsed
    }
}

impl Drop for CallRecord {
    fn drop(&mut self) {
        if !self.recorded {
            self.finish("CANCELLED");
        }
    }
}

/// A request id: the caller's `x-request-id` when it sent a sane one, else a fresh one.
fn request_id<B>(request: &http::Request<B>) -> String {
    request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.chars().all(|c| c.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(|| format!("{:016x}", rand::random::<u64>()))
}

/// Tags each call with a request id (span field and response header), logs its outcome and
/// records it in the metrics. Outermost, so refusals by inner layers are counted too.
#[derive(Clone)]
pub struct ObserveLayer {
    pub metrics: Metrics,
}

impl<S> Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Observe {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Observe<S> {
    inner: S,
    metrics: Metrics,
}

impl<S, B, R> Service<http::Request<B>> for Observe<S>
where
    S: Service<http::Request<B>, Response = http::Response<R>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Send,
    B: Send + 'static,
    R: Send + 'static,
{
    type Response = http::Response<R>;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let id = request_id(&request);
        let method = request.uri().path().to_owned();
        let span = tracing::info_span!(
            "grpc",
            request_id = %id,
            method = %method,
            caller = tracing::field::Empty
        );
        let mut record = CallRecord {
            metrics: self.metrics.clone(),
            method: method_label(&method),
            started: Instant::now(),
            recorded: false,
        };
        let mut inner = take_ready(&mut self.inner);
        Box::pin(
            async move {
                let mut response = inner.call(request).await?;
                // Errors are trailers-only responses with grpc-status in the headers; a success
                // sends it later in the trailers.
                let code = response
                    .headers()
                    .get("grpc-status")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<i32>().ok())
                    .unwrap_or(0);
                let code = code_name(code);
                let elapsed = record.finish(code);
                if let Ok(value) = http::HeaderValue::from_str(&id) {
                    response.headers_mut().insert(REQUEST_ID_HEADER, value);
                }
                let micros = elapsed.as_micros() as u64;
                if code == "OK" {
                    tracing::debug!(code, micros, "call served");
                } else {
                    tracing::info!(code, micros, "call answered with an error");
                }
                Ok(response)
            }
            .instrument(span),
        )
    }
}

/// Refuses calls beyond `max_in_flight` at once with RESOURCE_EXHAUSTED, at once, instead of
/// queueing them: a caller at checkout is better served by a fast "try later".
#[derive(Clone)]
pub struct ShedLayer {
    permits: Arc<Semaphore>,
    metrics: Metrics,
}

impl ShedLayer {
    pub fn new(max_in_flight: usize, metrics: Metrics) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(max_in_flight)),
            metrics,
        }
    }
}

impl<S> Layer<S> for ShedLayer {
    type Service = Shed<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Shed {
            inner,
            permits: self.permits.clone(),
            metrics: self.metrics.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Shed<S> {
    inner: S,
    permits: Arc<Semaphore>,
    metrics: Metrics,
}

/// Holds an in-flight slot; released however the call ends, a caller's cancellation included.
struct InFlight {
    gauge: prometheus::IntGauge,
    _permit: OwnedSemaphorePermit,
}

impl InFlight {
    fn new(gauge: prometheus::IntGauge, permit: OwnedSemaphorePermit) -> Self {
        gauge.inc();
        Self {
            gauge,
            _permit: permit,
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.gauge.dec();
    }
}

impl<S, B, R> Service<http::Request<B>> for Shed<S>
where
    S: Service<http::Request<B>, Response = http::Response<R>> + Clone + Send + 'static,
    S::Future: Send,
    B: Send + 'static,
    R: Default + Send + 'static,
{
    type Response = http::Response<R>;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let mut inner = take_ready(&mut self.inner);
        if crate::api::is_infrastructure_call(request.uri().path()) {
            return Box::pin(inner.call(request));
        }
        let Ok(permit) = self.permits.clone().try_acquire_owned() else {
            self.metrics.shed();
            let status =
                Status::resource_exhausted("server at its in-flight limit; retry with backoff");
            return Box::pin(async move { Ok(status.into_http()) });
        };
        let guard = InFlight::new(self.metrics.in_flight().clone(), permit);
        Box::pin(async move {
            let response = inner.call(request).await;
            drop(guard);
            response
        })
    }
}

/// Ends calls at the earlier of the server's limit and the client's `grpc-timeout` with
/// DEADLINE_EXCEEDED (tonic's own timeout answers CANCELLED).
#[derive(Clone)]
pub struct DeadlineLayer {
    pub limit: Duration,
    /// Becomes true when the shutdown grace period is over: calls still running are ended.
    pub hard_stop: tokio::sync::watch::Receiver<bool>,
}

impl<S> Layer<S> for DeadlineLayer {
    type Service = Deadline<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Deadline {
            inner,
            limit: self.limit,
            hard_stop: self.hard_stop.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Deadline<S> {
    inner: S,
    limit: Duration,
    hard_stop: tokio::sync::watch::Receiver<bool>,
}

/// How much earlier than a client's deadline the server answers DEADLINE_EXCEEDED.
const CLIENT_DEADLINE_MARGIN: Duration = Duration::from_millis(5);

/// Parses a `grpc-timeout` value: up to 8 digits and a unit (H, M, S, m, u, n).
pub fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let amount: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount * 3600),
        "M" => Duration::from_secs(amount * 60),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

impl<S, B, R> Service<http::Request<B>> for Deadline<S>
where
    S: Service<http::Request<B>, Response = http::Response<R>> + Clone + Send + 'static,
    S::Future: Send,
    B: Send + 'static,
    R: Default + Send + 'static,
{
    type Response = http::Response<R>;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        // The clock starts now, not when the future is first polled; and a client's deadline is
        // answered a little early, before tonic's own grpc-timeout handling (CANCELLED) and the
        // client's timer fire.
        let client = request
            .headers()
            .get("grpc-timeout")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_grpc_timeout)
            .map(|c| c.saturating_sub(CLIENT_DEADLINE_MARGIN.min(c / 10)));
        let budget = client.map_or(self.limit, |c| c.min(self.limit));
        let deadline = tokio::time::Instant::now() + budget;
        let mut inner = take_ready(&mut self.inner);
        let mut hard_stop = self.hard_stop.clone();
        Box::pin(async move {
            tokio::select! {
                outcome = tokio::time::timeout_at(deadline, inner.call(request)) => match outcome {
                    Ok(response) => response,
                    Err(_) => Ok(Status::deadline_exceeded(format!(
                        "no answer within {} ms",
                        budget.as_millis()
                    ))
                    .into_http()),
                },
                _ = hard_stop.wait_for(|stop| *stop) => {
                    Ok(Status::unavailable("server stopped before the call finished; retry").into_http())
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeouts_parse_every_unit() {
        assert_eq!(parse_grpc_timeout("2S"), Some(Duration::from_secs(2)));
        assert_eq!(parse_grpc_timeout("250m"), Some(Duration::from_millis(250)));
        assert_eq!(parse_grpc_timeout("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_grpc_timeout("3M"), Some(Duration::from_secs(180)));
        assert_eq!(parse_grpc_timeout("10u"), Some(Duration::from_micros(10)));
        assert_eq!(
            parse_grpc_timeout("99999999n"),
            Some(Duration::from_nanos(99_999_999))
        );
        for bad in ["", "S", "123456789S", "5x", "-5S", "1.5S"] {
            assert_eq!(parse_grpc_timeout(bad), None, "{bad}");
        }
    }

    #[test]
    fn unknown_paths_share_one_metric_label() {
        assert_eq!(
            method_label("/segmenter.v1.SegmentationService/Classify"),
            "/segmenter.v1.SegmentationService/Classify"
        );
        assert_eq!(method_label("/made.up/Path1"), "other");
        assert_eq!(method_label(""), "other");
    }

    #[test]
    fn code_names_are_canonical() {
        assert_eq!(code_name(0), "OK");
        assert_eq!(code_name(4), "DEADLINE_EXCEEDED");
        assert_eq!(code_name(8), "RESOURCE_EXHAUSTED");
        assert_eq!(code_name(16), "UNAUTHENTICATED");
        assert_eq!(code_name(99), "UNKNOWN");
    }
}
