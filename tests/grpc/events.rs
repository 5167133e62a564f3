//! HistoryService: recording events, all or nothing and idempotent, and streaming them.

use segmenter::api::pb;
use segmenter::api::pb::event::Payload;
use tonic::Code;

use crate::support::*;

fn five_events(id: &str) -> Vec<pb::Event> {
    vec![
        order("r-1", id, ago(30), "o-1", 5_000),
        refund("r-2", id, ago(29), "o-1", 1_000),
        interaction("r-3", id, ago(20), pb::InteractionKind::Chat),
        ticket(
            "r-4",
            id,
            ago(10),
            "t-1",
            pb::TicketKind::Question,
            Some(0.2),
            false,
        ),
        ticket(
            "r-5",
            id,
            ago(9),
            "t-1",
            pb::TicketKind::Question,
            None,
            true,
        ),
    ]
}

#[tokio::test]
async fn record_events_retry_is_idempotent() {
    let t = TestServer::start().await;
    let first = t.record(five_events("c-1")).await.expect("first");
    assert_eq!((first.stored, first.duplicates), (5, 0));
    let retry = t.record(five_events("c-1")).await.expect("retry");
    assert_eq!((retry.stored, retry.duplicates), (0, 5));
    assert_eq!(t.event_count("c-1").await, 5);
    // The refund was applied once: 4,000 of 5,000 remain, so 4,000 more may be refunded.
    t.record_ok(vec![refund("r-6", "c-1", ago(1), "o-1", 4_000)])
        .await;
    t.shutdown().await;
}

#[tokio::test]
async fn reused_event_id_with_other_content_is_refused_and_nothing_is_stored() {
    let t = TestServer::start().await;
    t.record_ok(vec![order("e-1", "c-1", ago(3), "o-1", 1_000)])
        .await;
    let status = t
        .record(vec![
            review("e-2", "c-1", ago(2), 4),
            order("e-1", "c-1", ago(3), "o-1", 1_001),
        ])
        .await
        .expect_err("reused id");
    assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");
    assert!(
        status.message().contains("events[1].event_id"),
        "{}",
        status.message()
    );
    assert_eq!(t.event_count("c-1").await, 1);

    // The same event id for another customer is other content as well.
    let status = t
        .record(vec![order("e-1", "c-2", ago(3), "o-1", 1_000)])
        .await
        .expect_err("id of another customer");
    assert_eq!(status.code(), Code::AlreadyExists);
    assert_eq!(t.event_count("c-2").await, 0);

    // An order id is unique per customer, whatever the event id.
    let status = t
        .record(vec![order("e-3", "c-1", ago(1), "o-1", 1_000)])
        .await
        .expect_err("order id taken");
    assert_eq!(status.code(), Code::AlreadyExists);
    assert!(status.message().contains("events[0].order.order_id"));

    // The first event of the refused batch was not kept.
    let later = t
        .record(vec![review("e-2", "c-1", ago(2), 4)])
        .await
        .expect("e-2");
    assert_eq!((later.stored, later.duplicates), (1, 0));
    t.shutdown().await;
}

#[tokio::test]
async fn a_batch_is_all_or_nothing() {
    let t = TestServer::start().await;
    t.record_ok(vec![order("e-0", "c-1", ago(50), "o-0", 1_000)])
        .await;

    // Bad input in the last event: nothing of the batch, and no new customer.
    let mut batch = vec![
        order("e-1", "c-1", ago(5), "o-1", 2_000),
        review("e-2", "c-1", ago(4), 5),
        order("e-3", "c-new", ago(3), "o-1", 300),
        order("e-4", "c-1", ago(2), "o-2", -1),
    ];
    let status = t.record(batch.clone()).await.expect_err("bad last event");
    assert_eq!(violated_fields(&status), vec!["events[3].order.amount"]);
    assert_eq!(t.event_count("c-1").await, 1);
    assert_eq!(
        t.get(by_id("c-new")).await.expect_err("not created").code(),
        Code::NotFound
    );

    // A refusal only the store can see (the refund's order is unknown) rolls back as well.
    batch[3] = refund("e-4", "c-1", ago(2), "o-404", 100);
    let status = t.record(batch.clone()).await.expect_err("missing order");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(t.event_count("c-1").await, 1);
    assert_eq!(t.event_count("c-new").await, 0);

    batch[3] = refund("e-4", "c-1", ago(2), "o-1", 100);
    t.record_ok(batch).await;
    assert_eq!(t.event_count("c-1").await, 4);
    assert_eq!(t.event_count("c-new").await, 1);
    t.shutdown().await;
}

#[tokio::test]
async fn a_refund_waits_for_its_order() {
    let t = TestServer::start().await;
    let early_refund = refund("e-2", "c-1", ago(1), "o-1", 500);
    let status = t
        .record(vec![early_refund.clone()])
        .await
        .expect_err("order missing");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(
        status.message().contains("events[0].refund.order_id"),
        "{}",
        status.message()
    );
    assert_eq!(t.event_count("c-1").await, 0);

    t.record_ok(vec![order("e-1", "c-1", ago(2), "o-1", 2_000)])
        .await;
    t.record_ok(vec![early_refund]).await;
    assert_eq!(t.event_count("c-1").await, 2);

    // Within one batch a refund may follow its order.
    t.record_ok(vec![
        order("e-3", "c-1", ago(2), "o-2", 700),
        refund("e-4", "c-1", ago(1), "o-2", 700),
    ])
    .await;
    // A refund may not precede its order.
    let status = t
        .record(vec![
            order("e-5", "c-1", ago(2), "o-3", 700),
            refund("e-6", "c-1", ago(3), "o-3", 100),
        ])
        .await
        .expect_err("refund before order");
    assert_eq!(violated_fields(&status), vec!["events[1].occurred_at"]);
    t.shutdown().await;
}

#[tokio::test]
async fn a_refund_above_what_is_left_is_invalid() {
    let t = TestServer::start().await;
    t.record_ok(vec![
        order("e-1", "c-1", ago(5), "o-1", 1_000),
        refund("e-2", "c-1", ago(4), "o-1", 600),
    ])
    .await;
    let status = t
        .record(vec![
            review("e-3", "c-1", ago(3), 2),
            refund("e-4", "c-1", ago(3), "o-1", 401),
        ])
        .await
        .expect_err("too much");
    assert_eq!(violated_fields(&status), vec!["events[1].refund.amount"]);
    assert_eq!(t.event_count("c-1").await, 2);
    t.record_ok(vec![refund("e-4", "c-1", ago(3), "o-1", 400)])
        .await;
    let status = t
        .record(vec![refund("e-5", "c-1", ago(2), "o-1", 1)])
        .await
        .expect_err("fully refunded");
    assert_eq!(violated_fields(&status), vec!["events[0].refund.amount"]);
    t.shutdown().await;
}

#[tokio::test]
async fn invalid_events_name_every_bad_field() {
    let t = TestServer::start().await;
    let bad_money = order_with("e-0", "c-1", ago(1), "o-1", -5, |o| {
        o.currency = "USD".to_owned();
    });
    let future = review("e-1", "c-1", from_now(301), 5);
    let unknown_channel = event(
        "e-2",
        "c-1",
        ago(1),
        Payload::Interaction(pb::Interaction {
            kind: pb::InteractionKind::Chat as i32,
            channel: 99,
        }),
    );
    let no_id = review("", "c-1", ago(1), 4);
    let mut several = order_with("e-4", "c-1", ago(1), "", 100, |o| {
        o.units = 0;
        o.discount_amount = -1;
    });
    several.customer = Some(by_email("not-an-email"));
    let survey_out_of_range = survey("e-5", "c-1", ago(1), pb::SurveyKind::Nps, 11);
    let fine = review("e-6", "c-1", from_now(299), 3);
    let status = t
        .record(vec![
            bad_money,
            future,
            unknown_channel,
            no_id,
            several,
            survey_out_of_range,
            fine,
        ])
        .await
        .expect_err("invalid");
    assert_eq!(
        violated_set(&status),
        set(&[
            "events[0].order.amount",
            "events[0].order.currency",
            "events[1].occurred_at",
            "events[2].interaction.channel",
            "events[3].event_id",
            "events[4].customer.email",
            "events[4].order.order_id",
            "events[4].order.units",
            "events[4].order.discount_amount",
            "events[5].survey.score",
        ])
    );
    assert_eq!(violated_fields(&status).len(), 10, "each field once");
    assert!(
        status.message().starts_with("10 invalid fields: "),
        "{}",
        status.message()
    );
    assert_eq!(t.event_count("c-1").await, 0);

    // Less than 5 minutes ahead of the (fixed) server clock is accepted.
    t.record_ok(vec![review("e-6", "c-1", from_now(299), 3)])
        .await;
    t.shutdown().await;
}

#[tokio::test]
async fn an_oversized_batch_is_refused_as_a_whole() {
    let t = TestServer::start().await;
    let events: Vec<pb::Event> = (0..10_001)
        .map(|i| review(&format!("big-{i}"), "c-1", ago(1), 5))
        .collect();
    let status = t.record(events).await.expect_err("too many");
    assert_eq!(violated_fields(&status), vec!["events"]);
    assert_eq!(t.event_count("c-1").await, 0);
    t.shutdown().await;
}

#[tokio::test]
async fn events_may_name_their_customer_by_any_alias() {
    let t = TestServer::start().await;
    t.upsert(li_wei()).await.expect("upsert");
    let got = t
        .record(vec![
            event_for(
                "e-1",
                by_phone("+86 138 0000 0000"),
                ago(3),
                Payload::Order(order_payload("o-1", 1_000)),
            ),
            event_for(
                "e-2",
                by_email("Li.Wei@example.com"),
                ago(2),
                Payload::Review(pb::Review { rating: 5 }),
            ),
            event_for(
                "e-3",
                by_external("shop", "u_99812"),
                ago(1),
                Payload::Refund(pb::Refund {
                    order_id: "o-1".to_owned(),
                    amount: 100,
                    currency: "cny".to_owned(),
                }),
            ),
        ])
        .await
        .expect("record by alias");
    assert_eq!((got.stored, got.duplicates), (3, 0));
    assert_eq!(t.event_count("c-1001").await, 3);

    // An alias nobody has cannot create a customer (only an id can).
    let status = t
        .record(vec![
            review("e-4", "c-1001", ago(1), 4),
            event_for(
                "e-5",
                by_phone("+8613911112222"),
                ago(1),
                Payload::Review(pb::Review { rating: 4 }),
            ),
        ])
        .await
        .expect_err("unknown alias");
    assert_eq!(violated_fields(&status), vec!["events[1].customer"]);
    assert_eq!(t.event_count("c-1001").await, 3);
    t.shutdown().await;
}

#[tokio::test]
async fn an_event_repeated_within_a_batch_counts_once() {
    let t = TestServer::start().await;
    let e = review("e-1", "c-1", ago(1), 4);
    let got = t.record(vec![e.clone(), e]).await.expect("twice");
    assert_eq!((got.stored, got.duplicates), (1, 1));
    assert_eq!(t.event_count("c-1").await, 1);
    let status = t
        .record(vec![
            review("e-2", "c-1", ago(1), 4),
            review("e-2", "c-1", ago(1), 5),
        ])
        .await
        .expect_err("same id, other content");
    assert_eq!(status.code(), Code::AlreadyExists);
    assert_eq!(t.event_count("c-1").await, 1);
    t.shutdown().await;
}

#[tokio::test]
async fn event_validation_boundaries() {
    let t = TestServer::start().await;
    // Accepted: exactly 5 minutes ahead, a free order, a refund at its order's instant, the
    // ends of every score range.
    t.record_ok(vec![
        review("ok-1", "c-1", from_now(300), 1),
        order("ok-2", "c-1", ago(1), "o-1", 0),
        order("ok-3", "c-1", ago(1), "o-2", 500),
        refund("ok-4", "c-1", ago(1), "o-2", 500),
        survey("ok-5", "c-1", ago(1), pb::SurveyKind::Ces, 7),
        survey("ok-6", "c-1", ago(1), pb::SurveyKind::Nps, 0),
        survey("ok-7", "c-1", ago(1), pb::SurveyKind::Csat, 5),
        ticket(
            "ok-8",
            "c-1",
            ago(1),
            "t-1",
            pb::TicketKind::Claim,
            Some(-1.0),
            false,
        ),
    ])
    .await;

    let mut no_payload = review("b-0", "c-1", ago(1), 3);
    no_payload.payload = None;
    let mut no_instant = review("b-1", "c-1", ago(1), 3);
    no_instant.occurred_at = None;
    let mut no_customer = review("b-2", "c-1", ago(1), 3);
    no_customer.customer = None;
    let status = t
        .record(vec![
            no_payload,
            no_instant,
            no_customer,
            survey("b-3", "c-1", ago(1), pb::SurveyKind::Ces, 8),
            survey("b-4", "c-1", ago(1), pb::SurveyKind::Csat, 0),
            ticket(
                "b-5",
                "c-1",
                ago(1),
                "t-2",
                pb::TicketKind::Question,
                Some(1.5),
                false,
            ),
            survey("b-6", "c-1", ago(1), pb::SurveyKind::Unspecified, 3),
            refund("b-7", "c-1", ago(1), "o-2", 0),
            review("b-8", "c-1", from_now(301), 0),
        ])
        .await
        .expect_err("invalid");
    assert_eq!(
        violated_fields(&status),
        vec![
            "events[0].payload",
            "events[1].occurred_at",
            "events[2].customer",
            "events[3].survey.score",
            "events[4].survey.score",
            "events[5].support_ticket.sentiment",
            "events[6].survey.kind",
            "events[7].refund.amount",
            "events[8].occurred_at",
            "events[8].review.rating",
        ]
    );
    assert_eq!(t.event_count("c-1").await, 8);
    t.shutdown().await;
}

#[tokio::test]
async fn a_retry_may_name_the_customer_by_another_alias() {
    let t = TestServer::start().await;
    t.upsert(li_wei()).await.expect("upsert");
    let payload = Payload::Order(order_payload("o-1", 1_000));
    let first = t
        .record(vec![event_for(
            "e-1",
            by_phone("+8613800000000"),
            ago(1),
            payload.clone(),
        )])
        .await
        .expect("by phone");
    assert_eq!((first.stored, first.duplicates), (1, 0));
    for reference in [by_id("c-1001"), by_external("erp", "K-10442")] {
        let retry = t
            .record(vec![event_for("e-1", reference, ago(1), payload.clone())])
            .await
            .expect("retry");
        assert_eq!((retry.stored, retry.duplicates), (0, 1));
    }
    // The same id for another customer is other content.
    let status = t
        .record(vec![event_for("e-1", by_id("c-other"), ago(1), payload)])
        .await
        .expect_err("other customer");
    assert_eq!(status.code(), Code::AlreadyExists);
    assert_eq!(t.event_count("c-1001").await, 1);
    t.shutdown().await;
}
