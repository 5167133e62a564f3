//! Recording events: round trips, idempotency, conflicts, the order/refund ledger.

use super::*;

pub(crate) async fn history_round_trips_every_payload(backend: &dyn Backend) {
    let store = backend.open().await;
    let profile = full_profile("c-1");
    store.upsert_customer(&profile).await.unwrap();
    let events = every_payload("c-1");
    assert_eq!(
        record(&*store, &events).await.unwrap(),
        stored(events.len() as u64)
    );

    let history = store.history("c-1").await.unwrap();
    assert_eq!(history.profile, Some(profile.clone()));
    assert_eq!(sorted(history.events), events);
    assert_eq!(store.event_count("c-1").await.unwrap(), events.len() as u64);
    let page = store.histories(None, 10).await.unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(
        (page[0].0.as_str(), &page[0].1.profile),
        ("c-1", &Some(profile))
    );
    assert_eq!(sorted(page[0].1.events.clone()), events);

    let events_only = every_payload("c-2");
    record(&*store, &events_only).await.unwrap_err(); // its event ids are taken by c-1
    let renamed: Vec<Event> = events_only
        .into_iter()
        .map(|e| Event {
            event_id: format!("c-2/{}", e.event_id),
            ..e
        })
        .collect();
    assert_eq!(
        record(&*store, &renamed).await.unwrap(),
        stored(renamed.len() as u64)
    );
    let history = store.history("c-2").await.unwrap();
    assert_eq!((history.profile, sorted(history.events)), (None, renamed));

    let unknown = store.history("c-3").await.unwrap();
    assert_eq!(unknown, History::default());
    assert!(!unknown.is_known());
    assert_eq!(store.event_count("c-3").await.unwrap(), 0);
}

pub(crate) async fn retried_batch_is_idempotent(backend: &dyn Backend) {
    let store = backend.open().await;
    let batch = [
        order("e-1", "c-1", at(0), "o-1", 1_000),
        refund("e-2", "c-1", at(10), "o-1", 100),
        visit("e-3", "c-1"),
    ];
    assert_eq!(record(&*store, &batch).await.unwrap(), stored(3));
    let again = RecordOutcome {
        stored: 0,
        duplicates: 3,
    };
    assert_eq!(record(&*store, &batch).await.unwrap(), again);
    assert_eq!(store.event_count("c-1").await.unwrap(), 3);

    let twice = [visit("e-4", "c-1"), visit("e-4", "c-1")];
    assert_eq!(
        record(&*store, &twice).await.unwrap(),
        RecordOutcome {
            stored: 1,
            duplicates: 1
        }
    );
    let mixed = [batch[1].clone(), visit("e-5", "c-1")];
    assert_eq!(
        record(&*store, &mixed).await.unwrap(),
        RecordOutcome {
            stored: 1,
            duplicates: 1
        }
    );
    assert_eq!(store.event_count("c-1").await.unwrap(), 5);
    // The duplicate refunds were not applied again: exactly 900 is left.
    let rest = [refund("e-6", "c-1", at(20), "o-1", 900)];
    assert_eq!(record(&*store, &rest).await.unwrap(), stored(1));
}

pub(crate) async fn event_id_reuse_is_refused(backend: &dyn Backend) {
    let store = backend.open().await;
    let original = visit("e-1", "c-1");
    record(&*store, std::slice::from_ref(&original))
        .await
        .unwrap();
    let reused = |result: Result<RecordOutcome, StoreError>| match result {
        Err(StoreError::EventIdReused { index, event_id }) => (index, event_id),
        other => panic!("expected EventIdReused, got {other:?}"),
    };

    let moved = Event {
        at: at(1),
        ..original.clone()
    };
    let result = record(&*store, &[visit("e-2", "c-2"), moved]).await;
    assert_eq!(reused(result), (1, "e-1".to_owned()));
    let elsewhere = Event {
        customer_id: "c-3".into(),
        ..original.clone()
    };
    assert_eq!(
        reused(record(&*store, &[elsewhere]).await),
        (0, "e-1".to_owned())
    );
    let in_batch = [
        visit("e-3", "c-1"),
        event("e-3", "c-1", at(0), EventPayload::Review { rating: 4 }),
    ];
    assert_eq!(
        reused(record(&*store, &in_batch).await),
        (1, "e-3".to_owned())
    );

    assert_eq!(store.history("c-1").await.unwrap().events, vec![original]);
    assert_eq!(
        store.resolve(&CustomerRef::Id("c-2".into())).await.unwrap(),
        None
    );
    assert_eq!(
        store.resolve(&CustomerRef::Id("c-3".into())).await.unwrap(),
        None
    );
    assert_eq!(store.customer_count().await.unwrap(), 1);
}

pub(crate) async fn batch_is_all_or_nothing(backend: &dyn Backend) {
    let store = backend.open().await;
    record(&*store, &[order("e-1", "c-1", at(0), "o-1", 500)])
        .await
        .unwrap();
    let batch = [
        visit("e-2", "c-new"),
        order("e-3", "c-1", at(1), "o-2", 700),
        refund("e-4", "c-1", at(2), "o-1", 500),
        refund("e-5", "c-1", at(3), "o-9", 1),
    ];
    match record(&*store, &batch).await {
        Err(StoreError::OrderMissing {
            index: 3,
            customer_id,
            order_id,
        }) => {
            assert_eq!((customer_id.as_str(), order_id.as_str()), ("c-1", "o-9"))
        }
        other => panic!("expected OrderMissing, got {other:?}"),
    }
    let mut bad_last = batch[..3].to_vec();
    bad_last.push(refund("e-5", "c-1", at(3), "o-1", 1));
    let expected = violation(
        "events[3].refund.amount",
        "refund of 1 exceeds the 0 left of order o-1",
    );
    assert!(
        matches!(record(&*store, &bad_last).await, Err(StoreError::Invalid(v)) if v == expected)
    );

    assert_eq!(
        store
            .resolve(&CustomerRef::Id("c-new".into()))
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.event_count("c-1").await.unwrap(), 1);
    assert_eq!(store.customer_count().await.unwrap(), 1);
    // Neither o-2 nor the refund of o-1 is on the books.
    assert_eq!(record(&*store, &batch[1..3]).await.unwrap(), stored(2));
    assert_eq!(store.event_count("c-1").await.unwrap(), 3);
}

pub(crate) async fn order_id_reuse_is_refused(backend: &dyn Backend) {
    let store = backend.open().await;
    let first = order("e-1", "c-1", at(0), "o-1", 100);
    record(&*store, std::slice::from_ref(&first)).await.unwrap();
    let taken = |result: Result<RecordOutcome, StoreError>| match result {
        Err(StoreError::OrderIdTaken {
            index,
            customer_id,
            order_id,
        }) => (index, customer_id, order_id),
        other => panic!("expected OrderIdTaken, got {other:?}"),
    };
    let owned = |i: usize, o: &str| (i, "c-1".to_owned(), o.to_owned());

    let result = record(&*store, &[order("e-2", "c-1", at(5), "o-1", 100)]).await;
    assert_eq!(taken(result), owned(0, "o-1"));
    let twice = [
        order("e-3", "c-1", at(1), "o-2", 10),
        order("e-4", "c-1", at(2), "o-2", 10),
    ];
    assert_eq!(taken(record(&*store, &twice).await), owned(1, "o-2"));
    assert_eq!(store.event_count("c-1").await.unwrap(), 1);

    let retry = record(&*store, std::slice::from_ref(&first)).await.unwrap();
    assert_eq!(
        retry,
        RecordOutcome {
            stored: 0,
            duplicates: 1
        }
    );
    let other_customer = [order("e-5", "c-2", at(0), "o-1", 100)];
    assert_eq!(record(&*store, &other_customer).await.unwrap(), stored(1));
}

pub(crate) async fn refund_without_order_is_missing(backend: &dyn Backend) {
    let store = backend.open().await;
    let early = [refund("e-1", "c-1", at(10), "o-1", 50)];
    let missing = |result: Result<RecordOutcome, StoreError>| match result {
        Err(StoreError::OrderMissing {
            index,
            customer_id,
            order_id,
        }) => (index, customer_id, order_id),
        other => panic!("expected OrderMissing, got {other:?}"),
    };
    let expected = (0, "c-1".to_owned(), "o-1".to_owned());
    assert_eq!(missing(record(&*store, &early).await), expected);
    assert_eq!(store.customer_count().await.unwrap(), 0);

    // Another customer's order of that id does not count.
    record(&*store, &[order("e-2", "c-2", at(0), "o-1", 100)])
        .await
        .unwrap();
    assert_eq!(missing(record(&*store, &early).await), expected);
    // Once the order arrives the writer's retry succeeds.
    record(&*store, &[order("e-3", "c-1", at(0), "o-1", 100)])
        .await
        .unwrap();
    assert_eq!(record(&*store, &early).await.unwrap(), stored(1));
}

pub(crate) async fn refunds_are_bounded_by_what_is_left(backend: &dyn Backend) {
    let store = backend.open().await;
    let invalid = |result: Result<RecordOutcome, StoreError>| match result {
        Err(StoreError::Invalid(violations)) => violations,
        other => panic!("expected Invalid, got {other:?}"),
    };
    let same_batch = [
        order("e-1", "c-1", at(0), "o-1", 1_000),
        refund("e-2", "c-1", at(1), "o-1", 600),
    ];
    assert_eq!(record(&*store, &same_batch).await.unwrap(), stored(2));
    assert_eq!(
        invalid(record(&*store, &[refund("e-3", "c-1", at(2), "o-1", 500)]).await),
        violation(
            "events[0].refund.amount",
            "refund of 500 exceeds the 400 left of order o-1"
        )
    );
    let exact = [visit("e-4", "c-1"), refund("e-5", "c-1", at(3), "o-1", 400)];
    assert_eq!(record(&*store, &exact).await.unwrap(), stored(2));
    assert_eq!(
        invalid(record(&*store, &[refund("e-6", "c-1", at(4), "o-1", 1)]).await),
        violation(
            "events[0].refund.amount",
            "refund of 1 exceeds the 0 left of order o-1"
        )
    );

    record(&*store, &[order("e-7", "c-1", at(0), "o-2", 300)])
        .await
        .unwrap();
    let two = [
        refund("e-8", "c-1", at(1), "o-2", 200),
        refund("e-9", "c-1", at(2), "o-2", 200),
    ];
    assert_eq!(
        invalid(record(&*store, &two).await),
        violation(
            "events[1].refund.amount",
            "refund of 200 exceeds the 100 left of order o-2"
        )
    );
    // The first refund of the failed batch was rolled back: all 300 are still left.
    let whole = [refund("e-10", "c-1", at(3), "o-2", 300)];
    assert_eq!(record(&*store, &whole).await.unwrap(), stored(1));
    assert_eq!(store.event_count("c-1").await.unwrap(), 6);
}

pub(crate) async fn refund_before_its_order_is_invalid(backend: &dyn Backend) {
    let store = backend.open().await;
    let fields = |result: Result<RecordOutcome, StoreError>| match result {
        Err(StoreError::Invalid(violations)) => {
            violations.into_iter().map(|v| v.field).collect::<Vec<_>>()
        }
        other => panic!("expected Invalid, got {other:?}"),
    };
    let placed = at(100);
    record(&*store, &[order("e-1", "c-1", placed, "o-1", 500)])
        .await
        .unwrap();
    let early = refund("e-2", "c-1", Timestamp(placed.micros() - 1), "o-1", 100);
    assert_eq!(
        fields(record(&*store, &[early]).await),
        vec!["events[0].occurred_at"]
    );
    let both = [
        order("e-3", "c-1", placed, "o-2", 500),
        refund("e-4", "c-1", at(99), "o-2", 100),
    ];
    assert_eq!(
        fields(record(&*store, &both).await),
        vec!["events[1].occurred_at"]
    );
    assert_eq!(store.event_count("c-1").await.unwrap(), 1);
    let same_instant = [refund("e-5", "c-1", placed, "o-1", 500)];
    assert_eq!(record(&*store, &same_instant).await.unwrap(), stored(1));
}

pub(crate) async fn ledger_follows_batch_order(backend: &dyn Backend) {
    let store = backend.open().await;
    record(&*store, &[order("e-1", "c-1", at(0), "o-1", 500)])
        .await
        .unwrap();
    let failure = |result: Result<RecordOutcome, StoreError>| match result {
        Err(StoreError::OrderMissing { index, .. }) => format!("missing {index}"),
        Err(StoreError::OrderIdTaken { index, .. }) => format!("taken {index}"),
        Err(StoreError::EventIdReused { index, .. }) => format!("reused {index}"),
        Err(StoreError::Invalid(v)) => format!("invalid {}", v[0].field),
        other => panic!("expected a refusal, got {other:?}"),
    };
    // A refund ahead of its order in the batch finds no order yet.
    let refund_first = [
        refund("e-2", "c-1", at(5), "o-2", 10),
        order("e-3", "c-1", at(1), "o-2", 100),
    ];
    assert_eq!(failure(record(&*store, &refund_first).await), "missing 0");
    // The first refusal by index is reported, whatever its kind.
    let taken_first = [
        visit("e-4", "c-1"),
        order("e-5", "c-1", at(1), "o-1", 100),
        event("e-1", "c-1", at(0), EventPayload::Review { rating: 2 }),
    ];
    assert_eq!(failure(record(&*store, &taken_first).await), "taken 1");
    let reused_first = [
        event("e-1", "c-1", at(0), EventPayload::Review { rating: 2 }),
        refund("e-6", "c-1", at(5), "o-1", 501),
    ];
    assert_eq!(failure(record(&*store, &reused_first).await), "reused 0");
    let invalid_first = [
        refund("e-7", "c-1", at(5), "o-1", 501),
        order("e-8", "c-1", at(1), "o-1", 100),
    ];
    assert_eq!(
        failure(record(&*store, &invalid_first).await),
        "invalid events[0].refund.amount"
    );
    assert_eq!(store.event_count("c-1").await.unwrap(), 1);

    // Refunds of a stored order and of a new one, spread over one batch, add up.
    let mixed = [
        refund("e-9", "c-1", at(2), "o-1", 200),
        order("e-10", "c-1", at(1), "o-3", 300),
        refund("e-11", "c-1", at(3), "o-3", 100),
        refund("e-12", "c-1", at(4), "o-1", 300),
        refund("e-13", "c-1", at(5), "o-3", 200),
    ];
    assert_eq!(record(&*store, &mixed).await.unwrap(), stored(5));
    for order_id in ["o-1", "o-3"] {
        let over = [refund("e-14", "c-1", at(9), order_id, 1)];
        assert_eq!(
            failure(record(&*store, &over).await),
            "invalid events[0].refund.amount"
        );
    }
}

/// Batches larger than one multi-row statement, with remainders of every size.
pub(crate) async fn large_batches_are_stored_whole(backend: &dyn Backend) {
    let store = backend.open().await;
    let mut expected = 0;
    for (batch, size) in [2_500_usize, 1, 1_023, 1_025].into_iter().enumerate() {
        let events: Vec<Event> = (0..size)
            .map(|n| {
                // An order, its refund and a visit share a customer.
                let customer = format!("c-{}", (n / 3) % 37);
                let id = format!("e-{batch}-{n}");
                match n % 3 {
                    0 => order(&id, &customer, at(n as i64), &format!("o-{batch}-{n}"), 900),
                    1 => refund(
                        &id,
                        &customer,
                        at(n as i64 + 1),
                        &format!("o-{batch}-{}", n - 1),
                        300,
                    ),
                    _ => visit(&id, &customer),
                }
            })
            .collect();
        assert_eq!(record(&*store, &events).await.unwrap(), stored(size as u64));
        assert_eq!(
            record(&*store, &events).await.unwrap(),
            RecordOutcome {
                stored: 0,
                duplicates: size as u64
            }
        );
        expected += size;
    }
    let mut total = 0;
    for n in 0..37 {
        let history = store.history(&format!("c-{n}")).await.unwrap();
        total += history.events.len();
    }
    assert_eq!(total, expected);
    assert_eq!(store.customer_count().await.unwrap(), 37);
    // Each order kept 600 of its 900 after one refund of 300.
    let last = [refund("e-x", "c-0", at(10_000), "o-0-0", 600)];
    assert_eq!(record(&*store, &last).await.unwrap(), stored(1));
}

pub(crate) async fn batches_stop_at_the_first_failure(backend: &dyn Backend) {
    let store = backend.open().await;
    let first = vec![order("e-1", "c-1", at(0), "o-1", 500), visit("e-2", "c-2")];
    // Sees the order of the batch before it, and repeats one of its events.
    let second = vec![refund("e-3", "c-1", at(1), "o-1", 200), visit("e-2", "c-2")];
    let failing = vec![
        visit("e-4", "c-3"),
        refund("e-5", "c-1", at(2), "o-1", 400), // 300 left
    ];
    let after = vec![visit("e-6", "c-4")];
    let recorded = store
        .record_event_batches(&[first, second, failing, after])
        .await;
    let expected_outcomes = [
        stored(2),
        RecordOutcome {
            stored: 1,
            duplicates: 1,
        },
    ];
    assert_eq!(recorded.outcomes, expected_outcomes);
    let expected = violation(
        "events[1].refund.amount",
        "refund of 400 exceeds the 300 left of order o-1",
    );
    assert!(
        matches!(&recorded.failure, Some(StoreError::Invalid(v)) if *v == expected),
        "{:?}",
        recorded.failure
    );

    // Batches before the failure are stored; the failing one and those after it are not.
    assert_eq!(store.event_count("c-1").await.unwrap(), 2);
    assert_eq!(store.event_count("c-2").await.unwrap(), 1);
    assert_eq!(store.history("c-3").await.unwrap().events, vec![]);
    assert_eq!(store.history("c-4").await.unwrap().events, vec![]);
    // And the ledger kept the first refund only.
    assert_eq!(
        record(&*store, &[refund("e-7", "c-1", at(3), "o-1", 300)])
            .await
            .unwrap(),
        stored(1)
    );

    let nothing = store.record_event_batches(&[]).await;
    assert!(nothing.outcomes.is_empty() && nothing.failure.is_none());
}
