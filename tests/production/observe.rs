//! Request ids and the Prometheus endpoint.

use segmenter::api::pb;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::{Code, Request};

use crate::support::*;

const REQUEST_ID: &str = "x-request-id";

#[tokio::test]
async fn every_answer_carries_a_request_id_and_a_sent_one_is_echoed() {
    let t = TestServer::start().await;
    t.put_customer("c-1").await;
    let mut seg = t.seg().await;

    let response = seg
        .classify(classify_request("c-1"))
        .await
        .expect("classify");
    let generated = response
        .metadata()
        .get(REQUEST_ID)
        .expect("x-request-id on a success")
        .to_str()
        .expect("ASCII id")
        .to_owned();
    assert_eq!(generated.len(), 16, "{generated:?}");
    assert!(
        generated.chars().all(|c| c.is_ascii_hexdigit()),
        "{generated:?}"
    );
    let another = seg
        .classify(classify_request("c-1"))
        .await
        .expect("classify");
    assert_ne!(
        another.metadata().get(REQUEST_ID).expect("x-request-id"),
        generated.as_str(),
        "ids are per call"
    );

    let mut request = Request::new(classify_request("c-1"));
    request
        .metadata_mut()
        .insert(REQUEST_ID, "abc-123".parse().expect("ascii"));
    let response = seg.classify(request).await.expect("classify");
    assert_eq!(
        response.metadata().get(REQUEST_ID).expect("echoed id"),
        "abc-123"
    );

    // Errors carry it too.
    let mut request = Request::new(pb::GetCustomerRequest {
        customer: Some(by_id("nobody")),
    });
    request
        .metadata_mut()
        .insert(REQUEST_ID, "abc-124".parse().expect("ascii"));
    let status = expect_code(
        t.history().await.get_customer(request).await,
        Code::NotFound,
    );
    assert_eq!(
        status.metadata().get(REQUEST_ID).expect("id on an error"),
        "abc-124"
    );

    // An unusable id (too long) is replaced, not echoed.
    let long = "x".repeat(200);
    let mut request = Request::new(classify_request("c-1"));
    request
        .metadata_mut()
        .insert(REQUEST_ID, long.parse().expect("ascii"));
    let response = seg.classify(request).await.expect("classify");
    let replaced = response
        .metadata()
        .get(REQUEST_ID)
        .expect("id")
        .to_str()
        .unwrap();
    assert_eq!(replaced.len(), 16, "{replaced:?}");
    t.shutdown().await;
}

#[tokio::test]
async fn metrics_count_calls_latencies_events_snapshot_and_pool() {
    let t = TestServer::start().await;
    let mut history = t.history().await;
    let mut seg = t.seg().await;
    let stored = history
        .record_events(record_request(vec![
            order("e-1", "c-1", 100),
            order("e-2", "c-1", 200),
            order("e-3", "c-2", 300),
        ]))
        .await
        .expect("record")
        .into_inner();
    assert_eq!((stored.stored, stored.duplicates), (3, 0));
    // A retry stores nothing new and must not be counted as ingested.
    let retried = history
        .record_events(record_request(vec![order("e-1", "c-1", 100)]))
        .await
        .expect("retry")
        .into_inner();
    assert_eq!((retried.stored, retried.duplicates), (0, 1));
    for id in ["c-1", "c-2"] {
        seg.classify(classify_request(id)).await.expect("classify");
    }
    expect_code(
        seg.classify(pb::ClassifyRequest {
            customer: None,
            options: None,
        })
        .await,
        Code::InvalidArgument,
    );

    let m = t.metrics().await;
    let classify_ok = [("code", "OK"), ("method", CLASSIFY_PATH)];
    assert_eq!(m.value("segmenter_grpc_requests_total", &classify_ok), 2.0);
    assert_eq!(
        m.value(
            "segmenter_grpc_requests_total",
            &[("code", "INVALID_ARGUMENT"), ("method", CLASSIFY_PATH)]
        ),
        1.0
    );
    assert_eq!(
        m.value(
            "segmenter_grpc_requests_total",
            &[
                ("code", "OK"),
                ("method", "/segmenter.v1.HistoryService/RecordEvents")
            ]
        ),
        2.0
    );

    // The latency histogram of Classify: cumulative buckets ending in +Inf = count = 3 calls.
    let histogram = "segmenter_grpc_request_duration_seconds";
    let buckets: Vec<(f64, f64)> = m
        .all(&format!("{histogram}_bucket"))
        .into_iter()
        .filter(|s| s.labels.get("method").map(String::as_str) == Some(CLASSIFY_PATH))
        .map(|s| {
            let le = s.labels.get("le").expect("le label");
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().expect("numeric le")
            };
            (le, s.value)
        })
        .collect();
    assert!(buckets.len() >= 10, "{buckets:?}");
    assert!(buckets
        .windows(2)
        .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1));
    assert_eq!(buckets.last().copied(), Some((f64::INFINITY, 3.0)));
    assert_eq!(
        m.value(&format!("{histogram}_count"), &[("method", CLASSIFY_PATH)]),
        3.0
    );
    let sum = m.value(&format!("{histogram}_sum"), &[("method", CLASSIFY_PATH)]);
    assert!(sum > 0.0 && sum < 10.0, "{sum}");

    assert_eq!(m.value("segmenter_events_ingested_total", &[]), 3.0);
    let age = m.value("segmenter_snapshot_age_seconds", &[]);
    assert!((0.0..600.0).contains(&age), "snapshot age {age}");
    let pool = m.value("segmenter_db_pool_connections", &[]);
    assert!(pool >= 1.0, "pool connections {pool}");
    let idle = m.value("segmenter_db_pool_idle_connections", &[]);
    assert!(idle <= pool, "idle {idle} of {pool}");
    assert_eq!(m.value("segmenter_grpc_in_flight", &[]), 0.0);
    assert_eq!(m.value("segmenter_grpc_shed_total", &[]), 0.0);

    // Counts accumulate between scrapes; the endpoint answers nothing else.
    seg.classify(classify_request("c-1"))
        .await
        .expect("classify");
    let again = t.metrics().await;
    assert_eq!(
        again.value("segmenter_grpc_requests_total", &classify_ok),
        3.0
    );
    assert_eq!(again.value("segmenter_events_ingested_total", &[]), 3.0);
    let (status, _) = http_get(t.metrics_addr, "/other").await;
    assert_eq!(status, 404);
    t.shutdown().await;
}

/// Method labels come from the served methods only: calls to made-up paths (anyone can send
/// them, even without a key) must not each create their own time series.
#[tokio::test]
async fn made_up_methods_do_not_grow_the_metric_labels() {
    let t = TestServer::start_with(|config, _| config.auth.enabled = true).await;
    let mut grpc = tonic::client::Grpc::new(t.channel().await);
    for i in 0..40 {
        grpc.ready().await.expect("ready");
        let path = PathAndQuery::try_from(format!("/made.up.Service{i}/Method{i}")).expect("path");
        let codec = tonic_prost::ProstCodec::<(), ()>::default();
        let refused = grpc.unary(Request::new(()), path, codec).await;
        expect_code(refused, Code::Unauthenticated);
    }
    let m = t.metrics().await;
    let methods: std::collections::BTreeSet<&str> = m
        .all("segmenter_grpc_requests_total")
        .into_iter()
        .filter_map(|s| s.labels.get("method").map(String::as_str))
        .collect();
    assert!(
        methods.iter().all(|m| !m.starts_with("/made.up.")),
        "made-up paths became label values: {} distinct methods: {methods:?}",
        methods.len()
    );
    let refused: f64 = m
        .all("segmenter_grpc_requests_total")
        .into_iter()
        .filter(|s| s.labels.get("code").map(String::as_str) == Some("UNAUTHENTICATED"))
        .map(|s| s.value)
        .sum();
    assert_eq!(refused, 40.0, "the refusals are still counted");
    t.shutdown().await;
}
