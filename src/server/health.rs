//! `grpc.health.v1` follows the database: SERVING only while the store answers, so an
//! orchestrator stops routing to a replica that lost its database and resumes when it is back.

use std::sync::Arc;
use std::time::Duration;

use tonic_health::server::HealthReporter;
use tonic_health::ServingStatus;

use crate::app::App;

/// How long a ping may take before the database counts as unreachable.
const PING_TIMEOUT: Duration = Duration::from_secs(2);

/// Services whose health is reported: the whole server ("") and each gRPC service.
pub const SERVICES: [&str; 3] = [
    "",
    "segmenter.v1.HistoryService",
    "segmenter.v1.SegmentationService",
];

/// A service that is SERVING while the process runs, whatever the database does: for liveness
/// probes, so a database outage makes replicas unready but does not restart them.
pub const LIVENESS: &str = "liveness";

pub async fn set_all(reporter: &HealthReporter, status: ServingStatus) {
    for service in SERVICES {
        reporter.set_service_status(service, status).await;
    }
}

/// Pings the store every `interval` and reports the result; only changes are logged.
pub async fn watch_database(app: Arc<App>, reporter: HealthReporter, interval: Duration) {
    let mut serving = true;
    loop {
        tokio::time::sleep(interval).await;
        // A hanging database is as unusable as an unreachable one.
        let reachable = match tokio::time::timeout(PING_TIMEOUT, app.store().ping()).await {
            Ok(result) => result,
            Err(_) => Err(crate::store::StoreError::Backend(format!(
                "no answer to a ping within {} ms",
                PING_TIMEOUT.as_millis()
            ))),
        };
        match (&reachable, serving) {
            (Ok(()), false) => {
                tracing::info!("database reachable again: SERVING");
                set_all(&reporter, ServingStatus::Serving).await;
                serving = true;
            }
            (Err(error), true) => {
                tracing::error!(%error, "database unreachable: NOT_SERVING");
                set_all(&reporter, ServingStatus::NotServing).await;
                serving = false;
            }
            _ => {}
        }
    }
}
