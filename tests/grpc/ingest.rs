//! HistoryService.IngestEvents, and writers racing each other.

use segmenter::api::pb;
use tonic::Code;

use crate::support::*;

fn chunk(events: Vec<pb::Event>) -> pb::IngestEventsRequest {
    pb::IngestEventsRequest { events }
}

#[tokio::test]
async fn ingest_events_streams_chunks_and_counts_duplicates() {
    let t = TestServer::start().await;
    let a = vec![
        order("i-1", "c-1", ago(20), "o-1", 1_000),
        order("i-2", "c-2", ago(19), "o-1", 2_000),
        refund("i-3", "c-1", ago(18), "o-1", 500),
    ];
    let b = vec![
        review("i-4", "c-1", ago(2), 4),
        survey("i-5", "c-2", ago(1), pb::SurveyKind::Csat, 5),
    ];
    let chunks = vec![chunk(a.clone()), chunk(a), chunk(b)];
    let summary = t
        .history
        .clone()
        .ingest_events(futures::stream::iter(chunks))
        .await
        .expect("ingest")
        .into_inner();
    assert_eq!(
        summary,
        pb::IngestEventsResponse {
            stored: 5,
            duplicates: 3,
            chunks: 3
        }
    );
    assert_eq!(t.event_count("c-1").await, 3);
    assert_eq!(t.event_count("c-2").await, 2);

    // A bad chunk stops the stream; the chunks before it stay stored, the bad one does not.
    let chunks = vec![
        chunk(vec![review("i-6", "c-3", ago(1), 4)]),
        chunk(vec![
            review("i-7", "c-3", ago(1), 4),
            review("i-8", "c-3", ago(1), 9),
        ]),
    ];
    let status = t
        .history
        .clone()
        .ingest_events(futures::stream::iter(chunks))
        .await
        .expect_err("bad chunk");
    assert_eq!(violated_fields(&status), vec!["events[1].review.rating"]);
    assert_eq!(t.event_count("c-3").await, 1);
    t.shutdown().await;
}

#[tokio::test]
async fn ingest_says_which_chunk_the_store_refused() {
    let t = TestServer::start().await;
    let empty = t
        .history
        .clone()
        .ingest_events(futures::stream::iter(Vec::<pb::IngestEventsRequest>::new()))
        .await
        .expect("empty stream")
        .into_inner();
    assert_eq!(empty, pb::IngestEventsResponse::default());

    let chunks = vec![
        chunk(vec![order("i-1", "c-1", ago(3), "o-1", 100)]),
        chunk(vec![
            review("i-2", "c-1", ago(2), 5),
            refund("i-3", "c-1", ago(1), "o-9", 50),
        ]),
        chunk(vec![review("i-4", "c-1", ago(1), 5)]),
    ];
    let status = t
        .history
        .clone()
        .ingest_events(futures::stream::iter(chunks))
        .await
        .expect_err("missing order");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(
        status
            .message()
            .starts_with("chunk 1 rejected, 1 chunks stored before it"),
        "{}",
        status.message()
    );
    assert!(status.message().contains("events[1].refund.order_id"));
    assert_eq!(t.event_count("c-1").await, 1, "only the first chunk");
    t.shutdown().await;
}

/// Chunks sent one by one with a pause between them, so that the server stores them in
/// separate groups, each while it receives the next.
fn trickled(
    chunks: Vec<pb::IngestEventsRequest>,
) -> impl futures::Stream<Item = pb::IngestEventsRequest> {
    futures::stream::unfold(chunks.into_iter(), |mut rest| async move {
        let next = rest.next()?;
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
        Some((next, rest))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_stores_groups_in_stream_order_and_stops_at_a_refused_one() {
    let t = TestServer::start().await;
    // Each refund needs the order of the chunk before it, stored in an earlier group.
    let mut chunks = Vec::new();
    for n in 0..6 {
        let mut events = vec![order(
            &format!("o-{n}"),
            "c-1",
            ago(50 - n),
            &format!("order-{n}"),
            1_000,
        )];
        if n > 0 {
            let previous = format!("order-{}", n - 1);
            events.push(refund(
                &format!("r-{n}"),
                "c-1",
                ago(40 - n),
                &previous,
                100,
            ));
        }
        chunks.push(chunk(events));
    }
    let summary = t
        .history
        .clone()
        .ingest_events(trickled(chunks.clone()))
        .await
        .expect("ingest")
        .into_inner();
    assert_eq!((summary.stored, summary.chunks), (11, 6));

    // A refund beyond what is left, in the fourth chunk: three chunks stay stored.
    let mut refused = chunks;
    for (n, chunk) in refused.iter_mut().enumerate() {
        for event in &mut chunk.events {
            event.event_id = format!("{}-again", event.event_id);
            if let Some(pb::event::Payload::Order(order)) = &mut event.payload {
                order.order_id = format!("{}-again", order.order_id);
            }
            if let Some(pb::event::Payload::Refund(refund)) = &mut event.payload {
                refund.order_id = format!("{}-again", refund.order_id);
                if n == 3 {
                    refund.amount = 5_000;
                }
            }
        }
    }
    let status = t
        .history
        .clone()
        .ingest_events(trickled(refused))
        .await
        .expect_err("refund beyond the order");
    assert!(
        status
            .message()
            .starts_with("chunk 3 rejected, 3 chunks stored before it"),
        "{}",
        status.message()
    );
    assert_eq!(t.event_count("c-1").await, 11 + 5);
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_store_each_event_once() {
    let t = TestServer::start().await;
    let events: Vec<pb::Event> = (0..100)
        .map(|i| {
            order(
                &format!("e-{i}"),
                &format!("c-{}", i % 7),
                ago(1),
                &format!("o-{i}"),
                100,
            )
        })
        .collect();
    let calls = (0..8).map(|_| {
        let mut client = t.history.clone();
        let events = events.clone();
        tokio::spawn(async move {
            client
                .record_events(pb::RecordEventsRequest { events })
                .await
                .map(tonic::Response::into_inner)
        })
    });
    let mut stored = 0;
    let mut duplicates = 0;
    for call in calls.collect::<Vec<_>>() {
        let outcome = call.await.expect("join").expect("record");
        stored += outcome.stored;
        duplicates += outcome.duplicates;
    }
    assert_eq!((stored, duplicates), (100, 700));
    let mut total = 0;
    for c in 0..7 {
        total += t.event_count(&format!("c-{c}")).await;
    }
    assert_eq!(total, 100);

    // Racing upserts of one new customer: exactly one of them creates it.
    let upserts = (0..6).map(|i| {
        let mut client = t.history.clone();
        tokio::spawn(async move {
            client
                .upsert_customer(pb::UpsertCustomerRequest {
                    customer: Some(pb::Customer {
                        region: format!("r-{i}"),
                        ..customer("c-race")
                    }),
                })
                .await
                .map(|r| r.into_inner().created)
        })
    });
    let mut created = 0;
    for upsert in upserts.collect::<Vec<_>>() {
        if upsert.await.expect("join").expect("upsert") {
            created += 1;
        }
    }
    assert_eq!(created, 1);
    t.shutdown().await;
}
