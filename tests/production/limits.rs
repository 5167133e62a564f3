//! Deadlines (the client's `grpc-timeout` and the server's own limit) and load shedding.

use std::time::{Duration, Instant};

use segmenter::auth::Scope;
use tonic::{Code, Request};
use tonic_health::pb::health_check_response::ServingStatus;

use crate::support::*;

/// A Classify of `c-1` carrying `grpc-timeout`.
fn classify_within(timeout: Duration) -> Request<segmenter::api::pb::ClassifyRequest> {
    let mut request = Request::new(caller_request("c-1"));
    request.set_timeout(timeout);
    request
}

#[tokio::test]
async fn a_client_deadline_ends_a_slow_call_with_deadline_exceeded() {
    let t = TestServer::start().await;
    t.put_customer("c-1").await;
    t.knobs.delay_lookups(Duration::from_secs(2));
    let mut seg = t.seg().await;

    let started = Instant::now();
    let result = seg
        .classify(classify_within(Duration::from_millis(200)))
        .await;
    let elapsed = started.elapsed();
    let status = expect_code(result, Code::DeadlineExceeded);
    // The server may end the call a little before the client's own timer would.
    assert!(
        status.message().starts_with("no answer within "),
        "{status:?}"
    );
    assert!(
        elapsed >= Duration::from_millis(190) && elapsed < Duration::from_millis(1_000),
        "answered after {elapsed:?}"
    );

    let metrics = t.metrics().await;
    assert_eq!(
        metrics.value(
            "segmenter_grpc_requests_total",
            &[("code", "DEADLINE_EXCEEDED"), ("method", CLASSIFY_PATH)]
        ),
        1.0
    );
    t.shutdown().await;
}

/// The deadline runs from the call's arrival: time spent checking the API key (here a slow
/// key-table load) counts against it, and the answer is still DEADLINE_EXCEEDED on time.
#[tokio::test]
async fn time_spent_authenticating_counts_against_the_client_deadline() {
    let t = TestServer::start_with(|config, _| config.auth.enabled = true).await;
    t.put_customer("c-1").await;
    let key = t.create_key("erp", &[Scope::Classify]).await;
    t.knobs.delay_lookups(Duration::from_secs(2));
    t.knobs.delay_api_keys(Duration::from_millis(200));
    let mut seg = t.seg().await;
    let mut request = with_key(caller_request("c-1"), &key);
    request.set_timeout(Duration::from_millis(400));
    let started = Instant::now();
    let result = seg.classify(request).await;
    let elapsed = started.elapsed();
    let status = expect_code(result, Code::DeadlineExceeded);
    assert!(
        status.message().starts_with("no answer within "),
        "{status:?}"
    );
    assert!(
        elapsed < Duration::from_millis(1_000),
        "answered after {elapsed:?}"
    );
    t.shutdown().await;
}

#[tokio::test]
async fn the_server_limit_ends_a_slow_call_without_a_client_deadline() {
    let t = TestServer::start_with(|config, _| config.request_timeout_seconds = 1).await;
    t.put_customer("c-1").await;
    t.knobs.delay_lookups(Duration::from_secs(3));
    let mut seg = t.seg().await;

    let started = Instant::now();
    let result = seg.classify(caller_request("c-1")).await;
    let elapsed = started.elapsed();
    let status = expect_code(result, Code::DeadlineExceeded);
    assert_eq!(status.message(), "no answer within 1000 ms");
    assert!(
        elapsed >= Duration::from_millis(950) && elapsed < Duration::from_millis(2_500),
        "answered after {elapsed:?}"
    );
    // A client deadline longer than the server's limit does not extend it.
    let started = Instant::now();
    let result = seg.classify(classify_within(Duration::from_secs(10))).await;
    let status = expect_code(result, Code::DeadlineExceeded);
    assert_eq!(status.message(), "no answer within 1000 ms");
    assert!(started.elapsed() < Duration::from_millis(2_500));

    // Fast calls are untouched by the limit.
    t.knobs.delay_lookups(Duration::ZERO);
    seg.classify(caller_request("c-1"))
        .await
        .expect("a fast call");
    t.shutdown().await;
}

#[tokio::test]
async fn calls_beyond_the_in_flight_limit_are_shed_at_once() {
    let t = TestServer::start_with(|config, _| config.max_in_flight = 2).await;
    t.put_customer("c-1").await;
    t.knobs.delay_lookups(Duration::from_secs(1));
    let seg = t.seg().await;
    let mut health = t.health().await;

    let started = Instant::now();
    let calls = (0..6).map(|_| {
        let mut seg = seg.clone();
        async move {
            let result = seg.classify(caller_request("c-1")).await;
            (result, started.elapsed())
        }
    });
    let overload = futures::future::join_all(calls);
    // Health is exempt from shedding and answers during the overload.
    let during = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let status = health_status(&mut health, "").await;
        (status, started.elapsed())
    };
    let (results, (health_during, health_at)) = tokio::join!(overload, during);

    assert_eq!(health_during, ServingStatus::Serving);
    assert!(
        health_at < Duration::from_millis(900),
        "health answered only after {health_at:?}, not during the overload"
    );
    let mut ok = 0;
    let mut shed = 0;
    for (result, at) in &results {
        match result {
            Ok(_) => {
                ok += 1;
                assert!(*at >= Duration::from_millis(950), "served after {at:?}");
            }
            Err(status) => {
                assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
                assert_eq!(
                    status.message(),
                    "server at its in-flight limit; retry with backoff"
                );
                assert!(
                    *at < Duration::from_millis(500),
                    "shed only after {at:?}; shedding must be immediate"
                );
                shed += 1;
            }
        }
    }
    assert_eq!((ok, shed), (2, 4), "2 served, 4 shed");

    let metrics = t.metrics().await;
    assert_eq!(metrics.value("segmenter_grpc_shed_total", &[]), 4.0);
    assert_eq!(
        metrics.value(
            "segmenter_grpc_requests_total",
            &[("code", "RESOURCE_EXHAUSTED"), ("method", CLASSIFY_PATH)]
        ),
        4.0
    );
    assert_eq!(
        metrics.value(
            "segmenter_grpc_requests_total",
            &[("code", "OK"), ("method", CLASSIFY_PATH)]
        ),
        2.0
    );
    assert_eq!(metrics.value("segmenter_grpc_in_flight", &[]), 0.0);

    // Once the overload is over, calls are served again.
    t.knobs.delay_lookups(Duration::ZERO);
    seg.clone()
        .classify(caller_request("c-1"))
        .await
        .expect("served after the overload");
    t.shutdown().await;
}

/// A call the client abandons (its future dropped: the HTTP/2 stream is reset) is no longer in
/// flight: the gauge returns to 0 instead of counting a phantom call forever.
#[tokio::test]
async fn an_abandoned_call_is_not_counted_in_flight_forever() {
    let t = TestServer::start().await;
    t.put_customer("c-1").await;
    t.knobs.delay_lookups(Duration::from_secs(30));
    let mut seg = t.seg().await;

    let abandoned = tokio::time::timeout(
        Duration::from_millis(300),
        seg.classify(caller_request("c-1")),
    )
    .await;
    assert!(abandoned.is_err(), "the slow call cannot have finished");
    let settled = poll_until(Duration::from_secs(3), || async {
        let in_flight = t.metrics().await.value("segmenter_grpc_in_flight", &[]);
        (in_flight == 0.0).then_some(())
    })
    .await;
    let in_flight = t.metrics().await.value("segmenter_grpc_in_flight", &[]);
    assert!(
        settled.is_some(),
        "segmenter_grpc_in_flight stays at {in_flight} after the only call was abandoned"
    );
    t.knobs.delay_lookups(Duration::ZERO);
    t.shutdown().await;
}
