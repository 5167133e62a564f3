//! SegmentationService.BatchClassify: a stream of references in, indexed results out.

use prost::Message as _;
use segmenter::api::pb;
use tonic::Code;

use crate::support::*;

/// The reference at global position `g` of the batch test.
fn batch_ref(g: u64) -> pb::CustomerRef {
    if g == 1_500 {
        return by_phone("12345");
    }
    let k = g % 50;
    match g % 3 {
        0 => by_id(&format!("k-{k:02}")),
        1 => by_id(&format!("u-{g}")),
        _ => by_phone(&format!("+861380000{k:04}")),
    }
}

#[tokio::test]
async fn batch_classify_streams_indexed_results_and_isolates_bad_refs() {
    let t = TestServer::start().await;
    for k in 0..50u64 {
        t.upsert(pb::Customer {
            phones: vec![format!("+861380000{k:04}")],
            ..customer(&format!("k-{k:02}"))
        })
        .await
        .expect("upsert");
    }
    let events = (0..50i64)
        .map(|k| {
            order(
                &format!("o-{k}"),
                &format!("k-{k:02}"),
                ago(k + 1),
                "o-1",
                1_000 * (k + 1),
            )
        })
        .collect();
    t.record_ok(events).await;

    let messages: Vec<pb::BatchClassifyRequest> = (0..3u64)
        .map(|m| pb::BatchClassifyRequest {
            options: (m == 0).then(at_now),
            customers: (m * 1_000..(m + 1) * 1_000).map(batch_ref).collect(),
        })
        .collect();
    let mut stream = t
        .seg
        .clone()
        .batch_classify(futures::stream::iter(messages))
        .await
        .expect("batch")
        .into_inner();
    let mut results = Vec::new();
    let mut largest = 0;
    let mut responses = 0;
    while let Some(response) = stream.message().await.expect("response") {
        largest = largest.max(response.encoded_len());
        // Results come in bounded responses (256 each), in request order.
        assert!(!response.results.is_empty() && response.results.len() <= 256);
        responses += 1;
        results.extend(response.results);
    }
    eprintln!("largest BatchClassify response: {largest} bytes");
    // 1,000 results per request message: 256 + 256 + 256 + 232, three times.
    assert_eq!(responses, 12);
    assert_eq!(results.len(), 3_000);

    let sample = t.classify(by_id("k-07")).await;
    for (position, result) in results.iter().enumerate() {
        let g = position as u64;
        assert_eq!(result.index, g);
        assert_eq!(result.customer, Some(batch_ref(g)));
        match (&result.outcome, g) {
            (Some(pb::batch_classify_result::Outcome::Error(error)), 1_500) => {
                assert_eq!(error.code, Code::InvalidArgument as i32);
                assert!(
                    error.message.contains("customer.phone"),
                    "{}",
                    error.message
                );
            }
            (Some(pb::batch_classify_result::Outcome::Classification(c)), _) if g != 1_500 => {
                let k = g % 50;
                match g % 3 {
                    1 => {
                        assert!(!c.known);
                        assert_eq!(c.customer_id, format!("u-{g}"));
                        assert_eq!(code(c, pb::Dimension::Lifecycle), "POTENTIAL");
                    }
                    _ => {
                        assert!(c.known, "{g}");
                        assert_eq!(c.customer_id, format!("k-{k:02}"));
                        assert_eq!(code(c, pb::Dimension::Lifecycle), "NEW");
                        if k == 7 {
                            assert_eq!(c, &sample, "the batch answers like Classify");
                        }
                    }
                }
            }
            (outcome, _) => panic!("unexpected outcome at {g}: {outcome:?}"),
        }
    }
    t.shutdown().await;
}

#[tokio::test]
async fn batch_classify_refuses_changed_options() {
    let t = TestServer::start().await;
    let messages = vec![
        pb::BatchClassifyRequest {
            options: Some(at_now()),
            customers: vec![by_id("a")],
        },
        pb::BatchClassifyRequest {
            options: Some(pb::ClassifyOptions {
                locale: "zh-CN".to_owned(),
                ..at_now()
            }),
            customers: vec![by_id("b")],
        },
    ];
    let mut stream = t
        .seg
        .clone()
        .batch_classify(futures::stream::iter(messages))
        .await
        .expect("batch")
        .into_inner();
    let first = stream.message().await.expect("first").expect("message");
    assert_eq!(first.results.len(), 1);
    assert_eq!(first.results[0].index, 0);
    let status = stream.message().await.expect_err("changed options");
    assert_eq!(violated_fields(&status), vec!["options"]);
    t.shutdown().await;
}

/// Runs a BatchClassify stream; the results of every answered message, then the error if any.
async fn run_batch(
    t: &TestServer,
    messages: Vec<pb::BatchClassifyRequest>,
) -> (Vec<pb::BatchClassifyResult>, Option<tonic::Status>) {
    let mut stream = t
        .seg
        .clone()
        .batch_classify(futures::stream::iter(messages))
        .await
        .expect("batch")
        .into_inner();
    let mut results = Vec::new();
    loop {
        match stream.message().await {
            Ok(Some(response)) => results.extend(response.results),
            Ok(None) => return (results, None),
            Err(status) => return (results, Some(status)),
        }
    }
}

#[tokio::test]
async fn batch_classify_of_nothing_answers_nothing() {
    let t = TestServer::start().await;
    let (results, error) = run_batch(&t, vec![]).await;
    assert!(results.is_empty() && error.is_none());
    let (results, error) = run_batch(
        &t,
        vec![pb::BatchClassifyRequest {
            options: Some(at_now()),
            customers: vec![],
        }],
    )
    .await;
    assert!(results.is_empty() && error.is_none());
    t.shutdown().await;
}

/// The options are "taken from the first message, later ones must be equal or absent": a first
/// message without options means the defaults, so other options later must be refused rather
/// than silently ignored (or, worse, applied to some messages and not to others).
#[tokio::test]
async fn batch_classify_refuses_options_that_arrive_after_the_first_message() {
    let t = TestServer::start().await;
    let messages = vec![
        pb::BatchClassifyRequest {
            options: None,
            customers: vec![by_id("a")],
        },
        pb::BatchClassifyRequest {
            options: Some(pb::ClassifyOptions {
                locale: "zh-CN".to_owned(),
                ..at(ago(30))
            }),
            customers: vec![by_id("b")],
        },
    ];
    let (results, error) = run_batch(&t, messages).await;
    let answered: Vec<String> = results
        .iter()
        .map(|r| match &r.outcome {
            Some(pb::batch_classify_result::Outcome::Classification(c)) => format!(
                "#{} as_of {:?} lifecycle {:?}",
                r.index,
                c.as_of.as_ref().map(|t| t.seconds),
                assignment(c, pb::Dimension::Lifecycle).display_name
            ),
            other => format!("#{} {other:?}", r.index),
        })
        .collect();
    let status = error.unwrap_or_else(|| {
        panic!("the later options were silently ignored (now = {NOW_SECONDS}): {answered:?}")
    });
    assert_eq!(
        results.len(),
        1,
        "the first message is answered: {answered:?}"
    );
    let first = match &results[0].outcome {
        Some(pb::batch_classify_result::Outcome::Classification(c)) => c,
        other => panic!("{other:?}"),
    };
    assert_eq!(first.as_of, Some(now()), "no options: classified at now");
    assert_eq!(violated_fields(&status), vec!["options"]);
    t.shutdown().await;
}

/// A request message may carry any number of references (the proto sets no limit), but the
/// results of one message went out as one response message: about 3 KB per classification, so
/// 1,000 references make about 3.5 MB (near the 4 MB a default gRPC client accepts) and about
/// 5,500 exceed the default `max_message_bytes` of 16 MB, which kills the whole stream with
/// OUT_OF_RANGE. Here the server allows 1 MiB messages and one message asks for 1,000 unknown
/// customers: every result must still arrive, in responses the server may send.
#[tokio::test]
async fn batch_classify_answers_a_large_message_within_the_message_size_limit() {
    let t = TestServer::start_with(|config| config.max_message_bytes = 1024 * 1024).await;
    let message = pb::BatchClassifyRequest {
        options: Some(at_now()),
        customers: (0..1_000).map(|i| by_id(&format!("u-{i}"))).collect(),
    };
    let (results, error) = run_batch(&t, vec![message]).await;
    if let Some(status) = error {
        panic!(
            "stream failed after {} results: {:?} {}",
            results.len(),
            status.code(),
            status.message()
        );
    }
    let indexes: Vec<u64> = results.iter().map(|r| r.index).collect();
    assert_eq!(indexes, (0..1_000).collect::<Vec<u64>>());
    t.shutdown().await;
}

/// The codes view answers the same segments as the full view, without reasons or features.
#[tokio::test]
async fn the_codes_view_carries_the_same_segments_without_reasons() {
    let t = TestServer::start().await;
    let events = (0..5i64)
        .map(|k| {
            order(
                &format!("o-{k}"),
                &format!("k-{k}"),
                ago(k + 1),
                "o-1",
                1_000 * (k + 1),
            )
        })
        .collect();
    t.record_ok(events).await;
    let codes = pb::ClassifyOptions {
        view: pb::ClassificationView::Codes as i32,
        ..at_now()
    };
    let references = || (0..6).map(|k| by_id(&format!("k-{k}"))).collect::<Vec<_>>();
    let (results, error) = run_batch(
        &t,
        vec![pb::BatchClassifyRequest {
            options: Some(codes),
            customers: references(),
        }],
    )
    .await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(results.len(), 6);
    for (result, reference) in results.iter().zip(references()) {
        let Some(pb::batch_classify_result::Outcome::Classification(lean)) = &result.outcome else {
            panic!("a classification for {reference:?}");
        };
        let full = t.classify(reference).await;
        assert_eq!(lean.customer_id, full.customer_id);
        assert_eq!(lean.known, full.known);
        assert_eq!(lean.rfm_scores, full.rfm_scores);
        assert!(lean.features.is_none());
        assert_eq!(lean.assignments.len(), full.assignments.len());
        for (a, b) in lean.assignments.iter().zip(&full.assignments) {
            assert_eq!(
                (a.dimension, &a.code, a.pinned),
                (b.dimension, &b.code, b.pinned)
            );
            assert!(a.reasons.is_empty() && a.display_name.is_empty());
            assert!(a.secondary_traits.is_empty());
        }
    }
    t.shutdown().await;
}

/// Messages are classified while earlier answers are sent, yet a client that waits for each
/// answer before it sends the next message is answered, in order, without a deadlock.
#[tokio::test]
async fn batch_classify_answers_a_client_that_waits_for_each_answer() {
    let t = TestServer::start().await;
    let (requests, outgoing) = tokio::sync::mpsc::channel(1);
    let mut stream = t
        .seg
        .clone()
        .batch_classify(tokio_stream::wrappers::ReceiverStream::new(outgoing))
        .await
        .expect("batch")
        .into_inner();
    for round in 0..3u64 {
        let message = pb::BatchClassifyRequest {
            options: (round == 0).then(at_now),
            customers: vec![by_id(&format!("w-{round}a")), by_id(&format!("w-{round}b"))],
        };
        requests.send(message).await.expect("the server reads");
        let wait = std::time::Duration::from_secs(10);
        let answer = tokio::time::timeout(wait, stream.message())
            .await
            .expect("answered before the next message is sent")
            .expect("no error")
            .expect("a response");
        let indices: Vec<u64> = answer.results.iter().map(|r| r.index).collect();
        assert_eq!(indices, vec![2 * round, 2 * round + 1]);
    }
    drop(requests);
    assert!(stream.message().await.expect("clean end").is_none());
    t.shutdown().await;
}
