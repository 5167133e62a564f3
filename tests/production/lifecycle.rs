//! Graceful shutdown and database-aware health.

use std::time::{Duration, Instant};

use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::support::*;

#[tokio::test]
async fn shutdown_lets_the_call_in_flight_finish_and_refuses_new_ones() {
    let mut t = TestServer::start().await;
    t.put_customer("c-1").await;
    t.knobs.delay_lookups(Duration::from_secs(1));
    let seg = t.seg().await;
    let mut idle = t.seg().await; // a connection with no call in flight

    let started = Instant::now();
    let in_flight = tokio::spawn({
        let mut seg = seg.clone();
        async move {
            let result = seg.classify(caller_request("c-1")).await;
            (result, started.elapsed())
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;

    let server = t.take_server();
    let shutdown = tokio::spawn(async move {
        server.shutdown().await;
        started.elapsed()
    });
    tokio::time::sleep(Duration::from_millis(200)).await;

    // While the call is finishing, the listener is closed: new connections are refused.
    let refused = plain_endpoint(t.addr).connect().await;
    assert!(
        refused.is_err(),
        "a new connection was accepted during shutdown"
    );

    let (result, finished_at) = in_flight.await.expect("join call");
    let classified = result
        .expect("the call in flight completes")
        .into_inner()
        .classification
        .expect("classification");
    assert!(classified.known);
    assert!(finished_at >= Duration::from_millis(950), "{finished_at:?}");

    let stopped_at = tokio::time::timeout(Duration::from_secs(10), shutdown)
        .await
        .expect("shutdown returns within the grace period")
        .expect("join shutdown");
    // The server answered before it stopped; the client reads the answer a moment later.
    assert!(
        stopped_at >= Duration::from_millis(950)
            && stopped_at + Duration::from_millis(100) >= finished_at,
        "shutdown returned at {stopped_at:?}, before the call finished at {finished_at:?}"
    );
    assert!(
        stopped_at < Duration::from_secs(5),
        "shutdown took {stopped_at:?}; the grace period is 5 s"
    );

    // After shutdown: new calls on old connections and new connections both fail.
    let late = idle.classify(caller_request("c-1")).await;
    expect_code(late, Code::Unavailable);
    let late = seg.clone().classify(caller_request("c-1")).await;
    expect_code(late, Code::Unavailable);
    assert!(plain_endpoint(t.addr).connect().await.is_err());
}

/// The grace period bounds shutdown: a call that needs longer is dropped when it ends, and the
/// server is gone by then (it does not go on serving in the background).
#[tokio::test]
async fn shutdown_drops_calls_still_running_when_the_grace_period_ends() {
    let mut t = TestServer::start_with(|config, _| config.shutdown_grace_seconds = 1).await;
    t.put_customer("c-1").await;
    t.knobs.delay_lookups(Duration::from_secs(4));
    let seg = t.seg().await;
    let started = Instant::now();
    let in_flight = tokio::spawn({
        let mut seg = seg.clone();
        async move {
            let result = seg.classify(caller_request("c-1")).await;
            (result, started.elapsed())
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;

    let server = t.take_server();
    server.shutdown().await;
    let stopped_at = started.elapsed();
    assert!(
        stopped_at < Duration::from_millis(2_500),
        "shutdown took {stopped_at:?} with a grace period of 1 s"
    );

    let (result, ended_at) = tokio::time::timeout(Duration::from_secs(10), in_flight)
        .await
        .expect("the call ends")
        .expect("join call");
    assert!(
        result.is_err(),
        "the call outlived the grace period and was still answered at {ended_at:?}: the server \
         kept running after shutdown returned"
    );
    assert!(
        ended_at < Duration::from_millis(3_000),
        "the dropped call ended only at {ended_at:?}"
    );
}

#[tokio::test]
async fn health_follows_the_database_and_liveness_does_not() {
    let t = TestServer::start().await;
    let mut health = t.health().await;
    assert_eq!(health_status(&mut health, "").await, ServingStatus::Serving);
    assert_eq!(
        health_status(&mut health, "liveness").await,
        ServingStatus::Serving
    );

    t.knobs.fail_ping(true);
    let (_, after) = wait_for_status(&health, "", ServingStatus::NotServing, 3)
        .await
        .expect("NOT_SERVING within 3 s of the database failing");
    for service in [
        "segmenter.v1.HistoryService",
        "segmenter.v1.SegmentationService",
    ] {
        assert_eq!(
            health_status(&mut health, service).await,
            ServingStatus::NotServing,
            "{service}"
        );
    }
    assert_eq!(
        health_status(&mut health, "liveness").await,
        ServingStatus::Serving,
        "liveness stays SERVING while the database is down"
    );
    assert!(after <= Duration::from_secs(3), "{after:?}");

    t.knobs.fail_ping(false);
    wait_for_status(&health, "", ServingStatus::Serving, 3)
        .await
        .expect("SERVING again within 3 s of the database coming back");
    assert_eq!(
        health_status(&mut health, "segmenter.v1.SegmentationService").await,
        ServingStatus::Serving
    );
    assert_eq!(
        health_status(&mut health, "liveness").await,
        ServingStatus::Serving
    );
    t.shutdown().await;
}

/// A database that hangs instead of failing does not answer either: health must not stay
/// SERVING on a ping that never returns.
#[tokio::test]
async fn health_reports_a_hanging_database_as_not_serving() {
    let t = TestServer::start().await;
    let health = t.health().await;
    t.knobs.delay_ping(Duration::from_secs(60));
    wait_for_status(&health, "", ServingStatus::NotServing, 6)
        .await
        .expect("NOT_SERVING within 6 s of the database hanging");
    assert_eq!(
        health_status(&mut health.clone(), "liveness").await,
        ServingStatus::Serving
    );
    t.shutdown().await;
}

/// Polls the health of `service` until it is `wanted`, for at most `seconds`.
async fn wait_for_status(
    client: &HealthClient<tonic::transport::Channel>,
    service: &str,
    wanted: ServingStatus,
    seconds: u64,
) -> Option<((), Duration)> {
    poll_until(Duration::from_secs(seconds), || {
        let mut client = client.clone();
        let service = service.to_owned();
        async move { (health_status(&mut client, &service).await == wanted).then_some(()) }
    })
    .await
}
