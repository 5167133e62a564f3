//! The harness of the production tests: a real server in-process on port 0 over a fresh SQLite
//! file, with a store double that can be made slow or unreachable at run time, clients (plain,
//! TLS, with or without API keys), and a tiny HTTP/1.1 client for `/metrics`.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use segmenter::api::pb;
use segmenter::api::pb::history_service_client::HistoryServiceClient;
use segmenter::api::pb::segmentation_service_client::SegmentationServiceClient;
use segmenter::app::{App, Clock, SystemClock};
use segmenter::auth::{ApiKeyRecord, Scope};
use segmenter::config::{AuthConfig, Config, MetricsConfig};
use segmenter::domain::history::{CustomerProfile, CustomerRef, Event, History};
use segmenter::domain::population::PopulationStats;
use segmenter::domain::time::Timestamp;
use segmenter::server::{self, RunningServer};
use segmenter::store::{
    DeleteOutcome, PoolStats, RecordOutcome, SqliteStore, Store, StoreError, UpsertOutcome,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::metadata::MetadataValue;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request, Status};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

pub const CLASSIFY_PATH: &str = "/segmenter.v1.SegmentationService/Classify";

// ---- the store double ----

/// Run-time switches of [`SlowStore`], shared with the test.
#[derive(Default)]
pub struct Knobs {
    lookup_delay_ms: AtomicU64,
    api_keys_delay_ms: AtomicU64,
    ping_delay_ms: AtomicU64,
    ping_fails: AtomicBool,
}

impl Knobs {
    /// Every `resolve()` and `history()` waits this long before reading.
    pub fn delay_lookups(&self, delay: Duration) {
        self.lookup_delay_ms
            .store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    /// Every `api_keys()` (the key table load of authentication) waits this long.
    pub fn delay_api_keys(&self, delay: Duration) {
        self.api_keys_delay_ms
            .store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    /// Every `ping()` waits this long before answering (a database that hangs).
    pub fn delay_ping(&self, delay: Duration) {
        self.ping_delay_ms
            .store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    /// `ping()` fails (a database that is gone) while set.
    pub fn fail_ping(&self, fail: bool) {
        self.ping_fails.store(fail, Ordering::SeqCst);
    }

    fn lookup_delay(&self) -> Duration {
        Duration::from_millis(self.lookup_delay_ms.load(Ordering::SeqCst))
    }

    fn api_keys_delay(&self) -> Duration {
        Duration::from_millis(self.api_keys_delay_ms.load(Ordering::SeqCst))
    }

    fn ping_delay(&self) -> Duration {
        Duration::from_millis(self.ping_delay_ms.load(Ordering::SeqCst))
    }
}

/// A [`SqliteStore`] that delegates everything, but can delay `history()` and `api_keys()`
/// and delay or fail `ping()` as its [`Knobs`] say.
pub struct SlowStore {
    inner: SqliteStore,
    knobs: Arc<Knobs>,
}

#[async_trait]
impl Store for SlowStore {
    async fn upsert_customer(
        &self,
        profile: &CustomerProfile,
    ) -> Result<UpsertOutcome, StoreError> {
        self.inner.upsert_customer(profile).await
    }

    async fn upsert_customers(&self, profiles: &[CustomerProfile]) -> Result<u64, StoreError> {
        self.inner.upsert_customers(profiles).await
    }

    async fn resolve(&self, reference: &CustomerRef) -> Result<Option<String>, StoreError> {
        let delay = self.knobs.lookup_delay();
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        self.inner.resolve(reference).await
    }

    async fn profile(&self, customer_id: &str) -> Result<Option<CustomerProfile>, StoreError> {
        self.inner.profile(customer_id).await
    }

    async fn history(&self, customer_id: &str) -> Result<History, StoreError> {
        let delay = self.knobs.lookup_delay();
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        self.inner.history(customer_id).await
    }

    async fn event_count(&self, customer_id: &str) -> Result<u64, StoreError> {
        self.inner.event_count(customer_id).await
    }

    async fn delete_customer(
        &self,
        customer_id: &str,
    ) -> Result<Option<DeleteOutcome>, StoreError> {
        self.inner.delete_customer(customer_id).await
    }

    async fn record_events(&self, events: &[Event]) -> Result<RecordOutcome, StoreError> {
        self.inner.record_events(events).await
    }

    async fn customer_ids(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<String>, StoreError> {
        self.inner.customer_ids(after, limit).await
    }

    async fn histories(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<(String, History)>, StoreError> {
        self.inner.histories(after, limit).await
    }

    async fn customer_count(&self) -> Result<u64, StoreError> {
        self.inner.customer_count().await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let delay = self.knobs.ping_delay();
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        if self.knobs.ping_fails.load(Ordering::SeqCst) {
            return Err(StoreError::Backend(
                "database unreachable (test double)".to_owned(),
            ));
        }
        self.inner.ping().await
    }

    async fn insert_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError> {
        self.inner.insert_api_key(key).await
    }

    async fn update_api_key(&self, key: &ApiKeyRecord) -> Result<bool, StoreError> {
        self.inner.update_api_key(key).await
    }

    async fn api_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let delay = self.knobs.api_keys_delay();
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        self.inner.api_keys().await
    }

    async fn revoke_api_keys(&self, name_or_id: &str, at: Timestamp) -> Result<u64, StoreError> {
        self.inner.revoke_api_keys(name_or_id, at).await
    }

    async fn try_snapshot_lease(
        &self,
        holder: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<bool, StoreError> {
        self.inner.try_snapshot_lease(holder, now, until).await
    }

    async fn save_snapshot(
        &self,
        stats: &Arc<PopulationStats>,
        rules_version: &str,
    ) -> Result<(), StoreError> {
        self.inner.save_snapshot(stats, rules_version).await
    }

    async fn latest_snapshot(
        &self,
        rules_version: &str,
    ) -> Result<Option<PopulationStats>, StoreError> {
        self.inner.latest_snapshot(rules_version).await
    }

    fn pool_stats(&self) -> PoolStats {
        self.inner.pool_stats()
    }
}

// ---- the server ----

/// The test defaults: port 0 for gRPC and metrics, a SQLite file in `dir`, no scheduled
/// snapshot refresh, a short grace period, authentication off (the auth tests turn it on).
pub fn base_config(dir: &Path) -> Config {
    Config {
        listen: "127.0.0.1:0".to_owned(),
        database_url: format!("sqlite://{}", dir.join("t.db").display()),
        snapshot_interval_seconds: 3_600,
        snapshot_refresh_events: 0,
        shutdown_grace_seconds: 5,
        metrics: MetricsConfig {
            listen: "127.0.0.1:0".to_owned(),
        },
        auth: AuthConfig {
            enabled: false,
            ..AuthConfig::default()
        },
        ..Config::default()
    }
}

/// A running server over a [`SlowStore`]; the database lives in `dir`.
pub struct TestServer {
    pub addr: SocketAddr,
    pub metrics_addr: SocketAddr,
    pub app: Arc<App>,
    pub knobs: Arc<Knobs>,
    pub config: Config,
    server: Option<RunningServer>,
    pub dir: tempfile::TempDir,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(|_, _| {}).await
    }

    /// Starts with the test defaults after `adjust` changed the configuration.
    pub async fn start_with(adjust: impl FnOnce(&mut Config, &Path)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = base_config(dir.path());
        adjust(&mut config, dir.path());
        config.validate().expect("valid test configuration");
        let knobs = Arc::new(Knobs::default());
        let inner = SqliteStore::connect(&config.database_url)
            .await
            .expect("open SQLite");
        let store: Arc<dyn Store> = Arc::new(SlowStore {
            inner,
            knobs: knobs.clone(),
        });
        let rules = server::load_rules(&config).expect("rules");
        let app = Arc::new(App::new(
            store,
            rules,
            config.app_settings(),
            Arc::new(SystemClock),
        ));
        app.refresh_snapshot().await.expect("first snapshot");
        Self::serve(config, app, knobs, dir).await
    }

    /// Starts the way `segmenter serve` does: [`server::build_app`] over the configured
    /// database (keys file included); the knobs then switch nothing.
    pub async fn start_built(config: Config, dir: tempfile::TempDir) -> Self {
        let app = server::build_app(&config, Arc::new(SystemClock))
            .await
            .expect("build app");
        Self::serve(config, app, Arc::new(Knobs::default()), dir).await
    }

    async fn serve(
        config: Config,
        app: Arc<App>,
        knobs: Arc<Knobs>,
        dir: tempfile::TempDir,
    ) -> Self {
        let running = server::start(&config, app, futures::future::pending::<()>())
            .await
            .expect("start server");
        Self {
            addr: running.local_addr,
            metrics_addr: running.metrics_addr.expect("metrics enabled"),
            app: running.app.clone(),
            knobs,
            config,
            server: Some(running),
            dir,
        }
    }

    /// Takes the running server out, so a test can shut it down itself and time that.
    pub fn take_server(&mut self) -> RunningServer {
        self.server.take().expect("server still running")
    }

    pub async fn shutdown(mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await;
        }
    }

    pub fn store(&self) -> &dyn Store {
        self.app.store().as_ref()
    }

    /// A plaintext channel, connected now.
    pub async fn channel(&self) -> Channel {
        plain_endpoint(self.addr).connect().await.expect("connect")
    }

    pub async fn seg(&self) -> SegmentationServiceClient<Channel> {
        SegmentationServiceClient::new(self.channel().await)
    }

    pub async fn history(&self) -> HistoryServiceClient<Channel> {
        HistoryServiceClient::new(self.channel().await)
    }

    pub async fn health(&self) -> HealthClient<Channel> {
        HealthClient::new(self.channel().await)
    }

    /// Creates an API key on the server's store; returns the key itself.
    pub async fn create_key(&self, name: &str, scopes: &[Scope]) -> String {
        let (_, key) = segmenter::auth::create_key(self.store(), name, scopes.to_vec(), now())
            .await
            .expect("create key");
        key
    }

    /// `GET /metrics`, parsed.
    pub async fn metrics(&self) -> Metrics {
        let (status, body) = http_get(self.metrics_addr, "/metrics").await;
        assert_eq!(status, 200, "GET /metrics: {body}");
        Metrics::parse(&body)
    }

    /// Stores a profile of `id` with the phone [`phone_of`] gives it, directly (no gRPC call,
    /// so no metrics or keys involved), and lets the server re-read its histories.
    pub async fn put_customer(&self, id: &str) {
        let profile = CustomerProfile {
            id: id.to_owned(),
            phones: vec![phone_of(id)],
            ..CustomerProfile::default()
        };
        self.store()
            .upsert_customer(&profile)
            .await
            .expect("upsert customer");
        self.app.reload_histories().await.expect("reload histories");
    }
}

pub fn now() -> Timestamp {
    SystemClock.now()
}

pub fn plain_endpoint(addr: SocketAddr) -> Endpoint {
    Endpoint::from_shared(format!("http://{addr}"))
        .expect("endpoint")
        .connect_timeout(Duration::from_secs(5))
}

// ---- requests ----

pub fn by_id(id: &str) -> pb::CustomerRef {
    pb::CustomerRef {
        kind: Some(pb::customer_ref::Kind::Id(id.to_owned())),
    }
}

/// The phone [`TestServer::put_customer`] gives customer `c-<n>`.
pub fn phone_of(id: &str) -> String {
    format!("+86138{:0>8}", id.trim_start_matches("c-"))
}

/// A Classify by the caller's phone, as a call-centre asks: the phone is resolved in the
/// database, so [`Knobs::delay_lookups`] makes this call slow.
pub fn caller_request(id: &str) -> pb::ClassifyRequest {
    pb::ClassifyRequest {
        customer: Some(pb::CustomerRef {
            kind: Some(pb::customer_ref::Kind::Phone(phone_of(id))),
        }),
        options: None,
    }
}

pub fn classify_request(id: &str) -> pb::ClassifyRequest {
    pb::ClassifyRequest {
        customer: Some(by_id(id)),
        options: None,
    }
}

/// An order of `customer` one day ago.
/// A day before the tests started, in seconds, read from the clock once: an event built twice
/// (a retry) must be the same event, even when a second passes between the two.
static A_DAY_AGO: LazyLock<i64> = LazyLock::new(|| SystemClock.now().micros() / 1_000_000 - 86_400);

pub fn order(event_id: &str, customer: &str, amount: i64) -> pb::Event {
    let at = *A_DAY_AGO;
    pb::Event {
        event_id: event_id.to_owned(),
        customer: Some(by_id(customer)),
        occurred_at: Some(prost_types::Timestamp {
            seconds: at,
            nanos: 0,
        }),
        payload: Some(pb::event::Payload::Order(pb::Order {
            order_id: format!("o-{event_id}"),
            amount,
            currency: "CNY".to_owned(),
            units: 1,
            categories: vec!["books".to_owned()],
            channel: pb::Channel::Web as i32,
            ..pb::Order::default()
        })),
    }
}

pub fn record_request(events: Vec<pb::Event>) -> pb::RecordEventsRequest {
    pb::RecordEventsRequest { events }
}

/// `message` with `authorization: Bearer <key>`.
pub fn with_key<T>(message: T, key: &str) -> Request<T> {
    let mut request = Request::new(message);
    let value: MetadataValue<_> = format!("Bearer {key}").parse().expect("ascii key");
    request.metadata_mut().insert("authorization", value);
    request
}

/// `message` with a raw `authorization` value.
pub fn with_authorization<T>(message: T, value: &str) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", value.parse().expect("ascii value"));
    request
}

// ---- assertions ----

/// The status of a call that must fail with `code`.
#[track_caller]
pub fn expect_code<T: std::fmt::Debug>(result: Result<T, Status>, code: Code) -> Status {
    match result {
        Ok(answer) => panic!("expected {code:?}, got OK: {answer:?}"),
        Err(status) => {
            assert_eq!(status.code(), code, "{status:?}");
            status
        }
    }
}

/// The serving status of `service` by `grpc.health.v1.Health/Check`.
pub async fn health_status(client: &mut HealthClient<Channel>, service: &str) -> ServingStatus {
    let status = client
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await
        .unwrap_or_else(|e| panic!("health check of {service:?}: {e:?}"))
        .into_inner()
        .status;
    ServingStatus::try_from(status).expect("known serving status")
}

/// Polls `probe` every 100 ms until it returns `Some`, for at most `limit`; the value and how
/// long it took.
pub async fn poll_until<T, F, Fut>(limit: Duration, mut probe: F) -> Option<(T, Duration)>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(value) = probe().await {
            return Some((value, started.elapsed()));
        }
        if started.elapsed() >= limit {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---- /metrics over plain HTTP/1.1 ----

/// A plain HTTP/1.1 GET; the status code and the body.
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr)
            .await
            .expect("connect to metrics");
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .expect("send request");
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.expect("read response");
        raw
    };
    let raw = tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .expect("metrics answer within 10 s");
    let text = String::from_utf8(raw).expect("UTF-8 response");
    let (head, body) = text.split_once("\r\n\r\n").expect("HTTP head and body");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase()
            .starts_with("transfer-encoding: chunked")
    });
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    (status, body)
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).expect("chunk size");
        if size == 0 {
            break;
        }
        out.push_str(&rest[..size]);
        body = &rest[size + 2..];
    }
    out
}

/// One sample of the Prometheus text exposition.
#[derive(Debug, Clone)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// The samples of a `/metrics` answer.
#[derive(Debug)]
pub struct Metrics {
    pub text: String,
    pub samples: Vec<Sample>,
}

impl Metrics {
    pub fn parse(text: &str) -> Self {
        let samples = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(|line| {
                let (series, value) = line
                    .rsplit_once(' ')
                    .unwrap_or_else(|| panic!("bad sample line {line:?}"));
                let value: f64 = match value {
                    "+Inf" => f64::INFINITY,
                    "-Inf" => f64::NEG_INFINITY,
                    v => v
                        .parse()
                        .unwrap_or_else(|_| panic!("bad value in {line:?}")),
                };
                let (name, labels) = match series.split_once('{') {
                    None => (series.to_owned(), BTreeMap::new()),
                    Some((name, rest)) => {
                        let inner = rest.strip_suffix('}').expect("closing brace");
                        (name.to_owned(), parse_labels(inner))
                    }
                };
                Sample {
                    name,
                    labels,
                    value,
                }
            })
            .collect();
        Self {
            text: text.to_owned(),
            samples,
        }
    }

    /// The value of the one sample named `name` with exactly `labels`.
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let wanted: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.samples
            .iter()
            .find(|s| s.name == name && s.labels == wanted)
            .map(|s| s.value)
    }

    /// Like [`Metrics::get`], but the sample must exist.
    #[track_caller]
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.get(name, labels)
            .unwrap_or_else(|| panic!("no sample {name}{labels:?} in:\n{}", self.text))
    }

    /// Every sample named `name`.
    pub fn all(&self, name: &str) -> Vec<&Sample> {
        self.samples.iter().filter(|s| s.name == name).collect()
    }
}

fn parse_labels(mut text: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    while !text.is_empty() {
        let (key, rest) = text.split_once("=\"").expect("label key");
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let mut end = rest.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, escaped)) = chars.next() {
                        value.push(match escaped {
                            'n' => '\n',
                            other => other,
                        });
                    }
                }
                '"' => {
                    end = i;
                    break;
                }
                c => value.push(c),
            }
        }
        labels.insert(key.trim_start_matches(',').to_owned(), value);
        text = rest[end + 1..].trim_start_matches(',');
    }
    labels
}

// ---- files ----

/// Writes `contents` to `name` in `dir`; returns the path.
pub fn write_file(dir: &Path, name: &str, contents: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("write file");
    path
}
