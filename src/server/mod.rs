//! Wiring: configuration to a running gRPC server. Store, rules, snapshot refresher, services,
//! reflection, health, limits and graceful shutdown are all assembled here and nowhere else.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio_stream::StreamExt;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Certificate, Identity, ServerTlsConfig};

mod auth;
mod gathered_writes;
mod health;
mod layers;
mod metrics;

use auth::{AuthLayer, RateLimiter};
use gathered_writes::GatheredWrites;
use layers::{DeadlineLayer, ObserveLayer, ShedLayer};
use metrics::Metrics;

/// How often the database is pinged for the health status.
const HEALTH_PROBE_INTERVAL: Duration = Duration::from_secs(1);

use crate::api::pb::history_service_server::HistoryServiceServer;
use crate::api::pb::segmentation_service_server::SegmentationServiceServer;
use crate::api::{HistoryApi, SegmentationApi, FILE_DESCRIPTOR_SET};
use crate::app::{App, AppError, Clock, SystemClock};
use crate::auth::KeyCache;
use crate::config::Config;
use crate::domain::rules::{RuleSet, RuleSetError, VersionedRules};
use crate::store::{self, Store, StoreError};

/// HTTP/2 flow-control window, per stream and per connection: how much a client may send
/// before the server reads it.
const INGEST_WINDOW: u32 = 8 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("rule set {path}: {source}")]
    Rules { path: String, source: RuleSetError },
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("reflection: {0}")]
    Reflection(String),
    #[error("transport: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error(transparent)]
    App(#[from] AppError),
    #[error("API keys: {0}")]
    Keys(String),
}

/// Loads the configured rule set (built-in when no file is configured).
pub fn load_rules(config: &Config) -> Result<VersionedRules, ServerError> {
    let Some(path) = &config.rules_file else {
        return RuleSet::builtin().map_err(|source| ServerError::Rules {
            path: "built-in".to_owned(),
            source,
        });
    };
    let text = std::fs::read_to_string(path).map_err(|source| ServerError::Read {
        path: path.display().to_string(),
        source,
    })?;
    RuleSet::from_toml_over_builtin(&text).map_err(|source| ServerError::Rules {
        path: path.display().to_string(),
        source,
    })
}

/// Builds the use-case layer over the configured store, with a fresh current snapshot.
pub async fn build_app(config: &Config, clock: Arc<dyn Clock>) -> Result<Arc<App>, ServerError> {
    let store: Arc<dyn Store> = store::connect(&config.database_url).await?;
    let rules = load_rules(config)?;
    if let Some(path) = &config.auth.keys_file {
        let added = crate::auth::install_keys_file(store.as_ref(), path, clock.now())
            .await
            .map_err(|e| ServerError::Keys(e.to_string()))?;
        tracing::info!(added, path = %path.display(), "API keys installed from file");
    }
    let app = Arc::new(App::new(store, rules, config.app_settings(), clock));
    app.load_or_refresh_snapshot(Duration::from_secs(config.snapshot_interval_seconds))
        .await?;
    Ok(app)
}

/// A server running in the background of this process.
pub struct RunningServer {
    pub local_addr: SocketAddr,
    /// Where `/metrics` is served, when enabled.
    pub metrics_addr: Option<SocketAddr>,
    pub app: Arc<App>,
    stop: Option<oneshot::Sender<()>>,
    /// Ends calls still running when the grace period is over.
    hard_stop: watch::Sender<bool>,
    task: JoinHandle<Result<(), tonic::transport::Error>>,
    grace: Duration,
}

impl RunningServer {
    /// Stops accepting calls, lets in-flight ones finish within the grace period, and waits.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.finish().await;
    }

    /// Waits for the server task, giving calls in flight at most the grace period; calls still
    /// running then are dropped.
    async fn finish(mut self) {
        match tokio::time::timeout(self.grace, &mut self.task).await {
            Ok(Ok(Ok(()))) => tracing::info!("server stopped"),
            Ok(Ok(Err(error))) => tracing::error!(%error, "server failed"),
            Ok(Err(error)) => tracing::error!(%error, "server task failed"),
            Err(_) => {
                tracing::warn!(grace = ?self.grace, "grace period over; ending calls still in flight");
                let _ = self.hard_stop.send(true);
                if tokio::time::timeout(Duration::from_secs(1), &mut self.task)
                    .await
                    .is_err()
                {
                    self.task.abort();
                }
            }
        }
    }
}

/// Starts serving `app` per `config` until [`RunningServer::shutdown`] or `stop_signal`.
pub async fn start(
    config: &Config,
    app: Arc<App>,
    stop_signal: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<RunningServer, ServerError> {
    // Before listening: no call should wait on the database for a history.
    app.load_histories().await?;
    let listener = TcpListener::bind(&config.listen)
        .await
        .map_err(|source| ServerError::Bind {
            addr: config.listen.clone(),
            source,
        })?;
    let local_addr = listener.local_addr().map_err(|source| ServerError::Bind {
        addr: config.listen.clone(),
        source,
    })?;
    // Without TCP_NODELAY small responses wait for delayed ACKs: tens of ms at p99.
    let incoming = TcpIncoming::from(listener)
        .with_nodelay(Some(true))
        .map(|accepted| accepted.map(GatheredWrites::new));

    let reflection_v1 = reflection_builder()
        .register_encoded_file_descriptor_set(tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| ServerError::Reflection(e.to_string()))?;
    let reflection_v1alpha = reflection_builder()
        .register_encoded_file_descriptor_set(tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET)
        .build_v1alpha()
        .map_err(|e| ServerError::Reflection(e.to_string()))?;

    let (health, health_service) = tonic_health::server::health_reporter();
    health::set_all(&health, tonic_health::ServingStatus::Serving).await;
    health
        .set_service_status(health::LIVENESS, tonic_health::ServingStatus::Serving)
        .await;

    let max = config.max_message_bytes;
    let history = HistoryServiceServer::new(HistoryApi::new(app.clone()))
        .max_decoding_message_size(max)
        .max_encoding_message_size(max);
    let segmentation = SegmentationServiceServer::new(SegmentationApi::new(app.clone()))
        .max_decoding_message_size(max)
        .max_encoding_message_size(max);

    // One stop signal fans out to the gRPC server, the metrics endpoint and the background tasks.
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let (stopping_tx, stopping) = watch::channel(false);
    let (hard_stop, hard_stop_rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let background = [
        tokio::spawn(app.clone().run_snapshot_refresher(
            Duration::from_secs(config.snapshot_interval_seconds),
            stopped(stopping.clone()),
        )),
        tokio::spawn(app.clone().run_history_reloader(
            Duration::from_secs(config.history_reload_seconds),
            stopped(stopping.clone()),
        )),
        tokio::spawn(health::watch_database(
            app.clone(),
            health.clone(),
            HEALTH_PROBE_INTERVAL,
        )),
    ];
    let shutdown = async move {
        tokio::select! {
            _ = stop_rx => {}
            _ = stop_signal => {}
        }
        tracing::info!("shutting down: finishing calls in flight");
        set_all_not_serving(&health).await;
        let _ = stopping_tx.send(true);
        for task in background {
            task.abort();
        }
    };

    let metrics = Metrics::new();
    let metrics_addr = if config.metrics.listen.is_empty() {
        None
    } else {
        let addr = metrics::serve_metrics(
            &config.metrics.listen,
            metrics.clone(),
            app.clone(),
            stopped(stopping.clone()),
        )
        .await
        .map_err(|source| ServerError::Bind {
            addr: config.metrics.listen.clone(),
            source,
        })?;
        Some(addr)
    };

    let auth = if config.auth.enabled {
        let limiter = (config.auth.rate_limit_per_second > 0).then(|| {
            RateLimiter::new(
                config.auth.rate_limit_per_second,
                config.auth.rate_limit_burst,
            )
        });
        Some(AuthLayer::new(
            Arc::new(KeyCache::new(app.store().clone())),
            limiter,
        ))
    } else {
        warn_auth_disabled();
        None
    };
    // Deadline right after Observe: time spent authenticating or waiting counts against it.
    let layers = tower::ServiceBuilder::new()
        .layer(ObserveLayer {
            metrics: metrics.clone(),
        })
        .layer(DeadlineLayer {
            limit: Duration::from_secs(config.request_timeout_seconds),
            hard_stop: hard_stop_rx,
        })
        .option_layer(auth)
        .layer(ShedLayer::new(config.max_in_flight, metrics));
    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = tls_config(config)? {
        builder = builder.tls_config(tls)?;
    }
    let router = builder
        // 8 MiB instead of hyper's 1 MiB: an IngestEvents stream can send ~40,000 events
        // ahead while the previous group commits, so groups reach `GROUP_EVENTS`.
        .initial_stream_window_size(Some(INGEST_WINDOW))
        .initial_connection_window_size(Some(INGEST_WINDOW))
        .concurrency_limit_per_connection(config.concurrency_limit_per_connection)
        .layer(layers)
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(history)
        .add_service(segmentation);
    let task = tokio::spawn(router.serve_with_incoming_shutdown(incoming, shutdown));
    tracing::info!(
        %local_addr,
        metrics = ?metrics_addr,
        tls = config.tls.cert_file.is_some(),
        mtls = config.tls.client_ca_file.is_some(),
        database = %redact_url(&config.database_url),
        "segmenter serving gRPC"
    );
    Ok(RunningServer {
        local_addr,
        metrics_addr,
        app,
        stop: Some(stop_tx),
        hard_stop,
        task,
        grace: Duration::from_secs(config.shutdown_grace_seconds),
    })
}

/// Said loudly, on stderr and in the log, because it is a deployment mistake unless intended.
fn warn_auth_disabled() {
    eprintln!(
        "\n*** WARNING: authentication is DISABLED (auth.enabled = false): every caller may read, \
         write and erase customer data. Never expose this server beyond a trusted network. ***\n"
    );
    tracing::warn!("authentication disabled by configuration: every caller has every scope");
}

async fn set_all_not_serving(reporter: &tonic_health::server::HealthReporter) {
    health::set_all(reporter, tonic_health::ServingStatus::NotServing).await;
}

/// The TLS settings, when a certificate is configured; mTLS when a client CA is too.
fn tls_config(config: &Config) -> Result<Option<ServerTlsConfig>, ServerError> {
    let (Some(cert), Some(key)) = (&config.tls.cert_file, &config.tls.key_file) else {
        return Ok(None);
    };
    let read = |path: &std::path::Path| {
        std::fs::read(path).map_err(|source| ServerError::Read {
            path: path.display().to_string(),
            source,
        })
    };
    let mut tls = ServerTlsConfig::new().identity(Identity::from_pem(read(cert)?, read(key)?));
    if let Some(ca) = &config.tls.client_ca_file {
        tls = tls.client_ca_root(Certificate::from_pem(read(ca)?));
    }
    Ok(Some(tls))
}

/// Reflection over every served service and the `google.rpc` error details, so grpcurl and
/// similar clients work without the proto files. Each version's builder adds its own
/// reflection descriptors; the other version's are added by the caller so both are listed.
fn reflection_builder() -> tonic_reflection::server::Builder<'static> {
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
}

/// Serves until SIGTERM or Ctrl-C: what `segmenter serve` runs.
pub async fn serve(config: &Config, app: Arc<App>) -> Result<(), ServerError> {
    let server = start(config, app.clone(), futures::future::pending()).await?;
    let reloader = tokio::spawn(reload_rules_on_hangup(config.clone(), app));
    shutdown_signal().await;
    reloader.abort();
    server.shutdown().await;
    Ok(())
}

/// SIGHUP re-reads the rule-set file; a refused file is logged and the running rules stay.
async fn reload_rules_on_hangup(config: Config, app: Arc<App>) {
    #[cfg(unix)]
    {
        let Ok(mut hangups) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            return;
        };
        while hangups.recv().await.is_some() {
            let Some(path) = &config.rules_file else {
                tracing::info!("SIGHUP: no rules_file configured; built-in rules stay");
                continue;
            };
            let outcome = std::fs::read_to_string(path)
                .map_err(|e| e.to_string())
                .and_then(|text| app.replace_rules(&text).map_err(|e| e.to_string()));
            match outcome {
                Ok(version) => {
                    tracing::info!(%version, path = %path.display(), "rule set reloaded")
                }
                Err(error) => {
                    tracing::error!(%error, path = %path.display(), "rule set refused; the running one stays")
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (config, app);
    }
}

/// Builds the app with the system clock and serves it.
pub async fn run(config: &Config) -> Result<(), ServerError> {
    let app = build_app(config, Arc::new(SystemClock)).await?;
    serve(config, app).await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => futures::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = futures::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}

/// Hides a password in a database URL before it reaches logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            let user = credentials.split(':').next().unwrap_or("");
            format!("{}://{user}:***@{}", &url[..scheme_end], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}
