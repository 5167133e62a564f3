//! Paging, concurrent writers, reopening.

use super::*;

pub(crate) async fn pages_through_ids_and_histories(backend: &dyn Backend) {
    let store = backend.open().await;
    let ids = [
        "b", "B", "a-2", "a-10", "é", "z", "Z9", "0", "ä", "a", "a-1", "𝔘",
    ];
    let mut expected = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let profile = (i % 3 != 0).then(|| bare(id));
        if let Some(profile) = &profile {
            store.upsert_customer(profile).await.unwrap();
        }
        // 0 to 3 events, at least one for customers without a profile.
        let events: Vec<Event> = (0..(i % 4).max(usize::from(profile.is_none())))
            .map(|n| {
                event(
                    &format!("{id}/{n}"),
                    id,
                    at(n as i64),
                    EventPayload::Review { rating: 3 },
                )
            })
            .collect();
        record(&*store, &events).await.unwrap();
        expected.push((id.to_string(), History { profile, events }));
    }
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    let expected_ids: Vec<String> = expected.iter().map(|(id, _)| id.clone()).collect();

    let mut paged = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store.customer_ids(after.as_deref(), 5).await.unwrap();
        assert!(page.len() <= 5);
        let Some(last) = page.last().cloned() else {
            break;
        };
        paged.extend(page);
        after = Some(last);
    }
    assert_eq!(paged, expected_ids);
    assert_eq!(
        store.customer_ids(None, 0).await.unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(
        store.customer_ids(Some("a-3"), 3).await.unwrap(),
        vec!["b", "z", "ä"]
    );
    assert_eq!(
        store.customer_ids(Some("𝔘"), 3).await.unwrap(),
        Vec::<String>::new()
    );

    let mut paged = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store.histories(after.as_deref(), 4).await.unwrap();
        assert!(page.len() <= 4);
        let Some((last, _)) = page.last() else { break };
        after = Some(last.clone());
        paged.extend(page.into_iter().map(|(id, h)| {
            (
                id,
                History {
                    events: sorted(h.events),
                    ..h
                },
            )
        }));
    }
    assert_eq!(paged, expected);
    let (first_id, _) = &store.histories(Some("Z9"), 1).await.unwrap()[0];
    assert_eq!(first_id, "a");
}

pub(crate) async fn concurrent_writers_all_succeed(backend: &dyn Backend) {
    const TASKS: usize = 8;
    const BATCHES: usize = 50;
    let store = backend.open().await;
    let batch = |task: usize, n: usize| {
        let customer = format!("c-{}", n % 4);
        let order_id = format!("o-{task}-{n}");
        vec![
            order(
                &format!("{order_id}/order"),
                &customer,
                at(n as i64),
                &order_id,
                100,
            ),
            refund(
                &format!("{order_id}/refund"),
                &customer,
                at(n as i64 + 1),
                &order_id,
                40,
            ),
            visit(&format!("{order_id}/visit"), &customer),
        ]
    };
    let reader = {
        let store = store.clone();
        tokio::spawn(async move {
            for _ in 0..50 {
                store.histories(None, 10).await.unwrap();
            }
        })
    };
    let writers: Vec<_> = (0..TASKS)
        .map(|task| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut total = RecordOutcome::default();
                for n in (0..BATCHES).chain([0]) {
                    let outcome = store.record_events(&batch(task, n)).await.unwrap();
                    total.stored += outcome.stored;
                    total.duplicates += outcome.duplicates;
                }
                total
            })
        })
        .collect();
    for writer in writers {
        assert_eq!(
            writer.await.unwrap(),
            RecordOutcome {
                stored: 3 * BATCHES as u64,
                duplicates: 3
            }
        );
    }
    reader.await.unwrap();

    assert_eq!(store.customer_count().await.unwrap(), 4);
    let mut events = 0;
    for customer in ["c-0", "c-1", "c-2", "c-3"] {
        events += store.event_count(customer).await.unwrap();
    }
    assert_eq!(events, (3 * TASKS * BATCHES) as u64);
}

pub(crate) async fn data_survives_reopening(backend: &dyn Backend) {
    let profile = full_profile("c-1");
    let events = every_payload("c-1");
    {
        let store = backend.open().await;
        store.upsert_customer(&profile).await.unwrap();
        record(&*store, &events).await.unwrap();
    }
    let store = backend.open().await;
    let history = store.history("c-1").await.unwrap();
    assert_eq!(
        (history.profile, sorted(history.events)),
        (Some(profile), events.clone())
    );
    let by_phone = store
        .resolve(&CustomerRef::Phone(PHONE.into()))
        .await
        .unwrap();
    assert_eq!(by_phone.as_deref(), Some("c-1"));
    let retry = RecordOutcome {
        stored: 0,
        duplicates: events.len() as u64,
    };
    assert_eq!(record(&*store, &events).await.unwrap(), retry);
    // The refund ledger persisted too: 1_999 - 250 is left of o-1.
    let over = [refund("e-late", "c-1", at(0), "o-1", 1_750)];
    let expected = violation(
        "events[0].refund.amount",
        "refund of 1750 exceeds the 1749 left of order o-1",
    );
    assert!(matches!(record(&*store, &over).await, Err(StoreError::Invalid(v)) if v == expected));
}
