//! Prometheus metrics, served over plain HTTP on their own port so scraping never competes with
//! gRPC traffic and needs no gRPC client.

use std::net::SocketAddr;
use std::sync::Arc;

use prometheus::core::Collector;
use prometheus::{
    Encoder, Gauge, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    Opts, Registry, TextEncoder,
};

use crate::app::App;

#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    in_flight: IntGauge,
    shed: IntCounter,
    events_ingested: IntCounter,
    snapshot_age: Gauge,
    snapshot_customers: IntGauge,
    snapshot_active_buyers: IntGauge,
    snapshot_refresh_seconds: Histogram,
    pool_size: IntGauge,
    pool_idle: IntGauge,
}

/// Registers a collector built from static, valid definitions. Runs once at start-up, never
/// on a request path, so a programming error here may stop the process.
fn register<C: Collector + Clone + 'static>(
    registry: &Registry,
    collector: prometheus::Result<C>,
) -> C {
    let collector = collector.expect("static metric definitions are valid");
    registry
        .register(Box::new(collector.clone()))
        .expect("metric names are distinct");
    collector
}

impl Metrics {
    pub fn new() -> Self {
        let registry =
            Registry::new_custom(Some("segmenter".to_owned()), None).expect("valid metric prefix");
        let latency_buckets = vec![
            0.000_25, 0.000_5, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            10.0,
        ];
        let r = &registry;
        let inner = Inner {
            requests: register(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "grpc_requests_total",
                        "gRPC calls by method and status code",
                    ),
                    &["method", "code"],
                ),
            ),
            latency: register(
                r,
                HistogramVec::new(
                    HistogramOpts::new(
                        "grpc_request_duration_seconds",
                        "gRPC call latency until the response headers",
                    )
                    .buckets(latency_buckets),
                    &["method"],
                ),
            ),
            in_flight: register(
                r,
                IntGauge::new("grpc_in_flight", "gRPC calls being served"),
            ),
            shed: register(
                r,
                IntCounter::new("grpc_shed_total", "calls refused by the in-flight limit"),
            ),
            events_ingested: register(
                r,
                IntCounter::new("events_ingested_total", "events newly stored"),
            ),
            snapshot_age: register(
                r,
                Gauge::new(
                    "snapshot_age_seconds",
                    "age of the current population snapshot",
                ),
            ),
            snapshot_customers: register(
                r,
                IntGauge::new("snapshot_customers", "customers in the current snapshot"),
            ),
            snapshot_active_buyers: register(
                r,
                IntGauge::new(
                    "snapshot_active_buyers",
                    "active buyers in the current snapshot",
                ),
            ),
            snapshot_refresh_seconds: register(
                r,
                Histogram::with_opts(HistogramOpts::new(
                    "snapshot_refresh_duration_seconds",
                    "time to recompute the current population snapshot",
                )),
            ),
            pool_size: register(
                r,
                IntGauge::new("db_pool_connections", "database connections open"),
            ),
            pool_idle: register(
                r,
                IntGauge::new("db_pool_idle_connections", "database connections idle"),
            ),
            registry,
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    pub fn observe(&self, method: &str, code: &str, seconds: f64) {
        self.inner.requests.with_label_values(&[method, code]).inc();
        self.inner
            .latency
            .with_label_values(&[method])
            .observe(seconds);
    }

    pub fn in_flight(&self) -> &IntGauge {
        &self.inner.in_flight
    }

    pub fn shed(&self) {
        self.inner.shed.inc();
    }

    /// The text exposition, with the gauges that mirror the app read just now.
    pub fn render(&self, app: &App) -> String {
        let inner = &self.inner;
        let stored = app.events_stored_total();
        let counted = inner.events_ingested.get();
        if stored > counted {
            inner.events_ingested.inc_by(stored - counted);
        }
        let snapshot = app.current_snapshot();
        let age_micros = app.now().micros() - snapshot.info.as_of.micros();
        inner.snapshot_age.set(age_micros as f64 / 1e6);
        inner.snapshot_customers.set(snapshot.info.customers as i64);
        inner
            .snapshot_active_buyers
            .set(snapshot.info.active_buyers as i64);
        for seconds in app.take_refresh_durations() {
            inner.snapshot_refresh_seconds.observe(seconds);
        }
        let pool = app.store().pool_stats();
        inner.pool_size.set(i64::from(pool.size));
        inner.pool_idle.set(pool.idle as i64);
        let mut buffer = Vec::new();
        if let Err(error) = TextEncoder::new().encode(&inner.registry.gather(), &mut buffer) {
            tracing::warn!(%error, "metrics encoding failed");
        }
        String::from_utf8(buffer).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Serves `GET /metrics` on `addr` until `shutdown` resolves; returns the bound address.
pub async fn serve_metrics(
    addr: &str,
    metrics: Metrics,
    app: Arc<App>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let router = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let body = metrics.render(&app);
            async move {
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "text/plain; version=0.0.4",
                    )],
                    body,
                )
            }
        }),
    );
    tokio::spawn(async move {
        let served = axum::serve(listener, router)
            .with_graceful_shutdown(shutdown)
            .await;
        if let Err(error) = served {
            tracing::error!(%error, "metrics endpoint failed");
        }
    });
    Ok(local)
}
