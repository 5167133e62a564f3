//! Profiles, aliases, resolution and erasure.

use super::*;

pub(crate) async fn upsert_creates_then_replaces(backend: &dyn Backend) {
    let store = backend.open().await;
    store.ping().await.unwrap();
    assert_eq!(store.customer_count().await.unwrap(), 0);
    let first = full_profile("c-1");
    assert_eq!(
        store.upsert_customer(&first).await.unwrap(),
        UpsertOutcome { created: true }
    );
    assert_eq!(store.profile("c-1").await.unwrap(), Some(first.clone()));

    let mut second = first.clone();
    second.display_name = None;
    second.birthday = None;
    second.pins.clear();
    second.phones = vec!["+8613800000002".into()];
    second.emails.push("li@example.org".into());
    assert_eq!(
        store.upsert_customer(&second).await.unwrap(),
        UpsertOutcome { created: false }
    );
    assert_eq!(store.profile("c-1").await.unwrap(), Some(second));
    assert_eq!(
        store
            .resolve(&CustomerRef::Phone(PHONE.into()))
            .await
            .unwrap(),
        None
    );
    let new_phone = CustomerRef::Phone("+8613800000002".into());
    assert_eq!(
        store.resolve(&new_phone).await.unwrap().as_deref(),
        Some("c-1")
    );
    let new_email = CustomerRef::Email("li@example.org".into());
    assert_eq!(
        store.resolve(&new_email).await.unwrap().as_deref(),
        Some("c-1")
    );

    // A customer first seen in events already exists: its first profile is no creation.
    assert_eq!(
        record(&*store, &[visit("e-1", "c-2")]).await.unwrap(),
        stored(1)
    );
    assert_eq!(store.profile("c-2").await.unwrap(), None);
    assert_eq!(
        store.upsert_customer(&bare("c-2")).await.unwrap(),
        UpsertOutcome { created: false }
    );
    assert_eq!(store.profile("c-2").await.unwrap(), Some(bare("c-2")));
    assert_eq!(
        store.history("c-2").await.unwrap().events,
        vec![visit("e-1", "c-2")]
    );
    assert_eq!(store.customer_count().await.unwrap(), 2);
}

pub(crate) async fn alias_conflict_changes_nothing(backend: &dyn Backend) {
    let store = backend.open().await;
    let owner = full_profile("c-1");
    store.upsert_customer(&owner).await.unwrap();
    let taken = |alias: &str, field: &str| (alias.to_owned(), field.to_owned());
    let conflict = |result: Result<UpsertOutcome, StoreError>| match result {
        Err(StoreError::AliasTaken { alias, field }) => (alias, field),
        other => panic!("expected AliasTaken, got {other:?}"),
    };

    let mut newcomer = bare("c-2");
    newcomer.phones = vec!["+8613800000002".into(), PHONE.into()];
    let result = store.upsert_customer(&newcomer).await;
    assert_eq!(
        conflict(result),
        taken("phone +8613800000001", "customer.phones[1]")
    );
    assert_eq!(
        store.resolve(&CustomerRef::Id("c-2".into())).await.unwrap(),
        None
    );
    let phone2 = CustomerRef::Phone("+8613800000002".into());
    assert_eq!(store.resolve(&phone2).await.unwrap(), None);
    assert_eq!(store.customer_count().await.unwrap(), 1);

    let mut existing = bare("c-2");
    existing.phones = vec!["+8613800000002".into()];
    assert!(store.upsert_customer(&existing).await.unwrap().created);
    let mut grabbing = existing.clone();
    grabbing.display_name = Some("grabber".into());
    grabbing.emails = vec!["other@example.com".into(), EMAIL.into()];
    let result = store.upsert_customer(&grabbing).await;
    assert_eq!(
        conflict(result),
        taken("e-mail li.wei@example.com", "customer.emails[1]")
    );
    grabbing.emails.clear();
    grabbing.external_ids = vec![ext("erp", "K-10442")];
    let result = store.upsert_customer(&grabbing).await;
    assert_eq!(
        conflict(result),
        taken(
            "external id (\"erp\", \"K-10442\")",
            "customer.external_ids[0]"
        )
    );
    assert_eq!(store.profile("c-2").await.unwrap(), Some(existing));
    let other_email = CustomerRef::Email("other@example.com".into());
    assert_eq!(store.resolve(&other_email).await.unwrap(), None);
    assert_eq!(
        store.resolve(&phone2).await.unwrap().as_deref(),
        Some("c-2")
    );

    // The owner keeps everything, and re-upserting its own aliases is no conflict.
    assert_eq!(store.profile("c-1").await.unwrap(), Some(owner.clone()));
    assert_eq!(
        store
            .resolve(&CustomerRef::Email(EMAIL.into()))
            .await
            .unwrap()
            .as_deref(),
        Some("c-1")
    );
    assert!(!store.upsert_customer(&owner).await.unwrap().created);
    assert_eq!(store.customer_count().await.unwrap(), 2);
}

pub(crate) async fn resolve_by_every_reference(backend: &dyn Backend) {
    let store = backend.open().await;
    let mut profile = full_profile("c-1");
    profile.phones.push("+14155550100".into());
    profile.emails.push("wei@example.net".into());
    profile.external_ids.push(ext("shop", "u_99812"));
    store.upsert_customer(&profile).await.unwrap();
    record(&*store, &[visit("e-1", "c-events")]).await.unwrap();

    let found = [
        CustomerRef::Id("c-1".into()),
        CustomerRef::Phone(PHONE.into()),
        CustomerRef::Phone("+14155550100".into()),
        CustomerRef::Email(EMAIL.into()),
        CustomerRef::Email("wei@example.net".into()),
        CustomerRef::External(ext("erp", "K-10442")),
        CustomerRef::External(ext("shop", "u_99812")),
    ];
    for reference in &found {
        assert_eq!(
            store.resolve(reference).await.unwrap().as_deref(),
            Some("c-1"),
            "{reference:?}"
        );
    }
    let events_only = CustomerRef::Id("c-events".into());
    assert_eq!(
        store.resolve(&events_only).await.unwrap().as_deref(),
        Some("c-events")
    );
    let unknown = [
        CustomerRef::Id("c-2".into()),
        CustomerRef::Id(PHONE.into()),
        CustomerRef::Phone("+8613800000009".into()),
        CustomerRef::Email("LI.WEI@example.com".into()),
        CustomerRef::External(ext("erp", "u_99812")),
        CustomerRef::External(ext("shop", "K-10442")),
        CustomerRef::External(ext("erp\u{1f}K", "10442")),
    ];
    for reference in &unknown {
        assert_eq!(
            store.resolve(reference).await.unwrap(),
            None,
            "{reference:?}"
        );
    }
}

pub(crate) async fn delete_erases_everything(backend: &dyn Backend) {
    let store = backend.open().await;
    let profile = full_profile("c-1");
    store.upsert_customer(&profile).await.unwrap();
    let events = [
        order("e-1", "c-1", at(0), "o-1", 100),
        refund("e-2", "c-1", at(1), "o-1", 40),
        visit("e-3", "c-1"),
    ];
    record(&*store, &events).await.unwrap();
    record(&*store, &[visit("e-4", "c-2"), visit("e-5", "c-3")])
        .await
        .unwrap();

    let outcome = store.delete_customer("c-1").await.unwrap();
    assert_eq!(outcome, Some(DeleteOutcome { events_deleted: 3 }));
    let references = [
        CustomerRef::Id("c-1".into()),
        CustomerRef::Phone(PHONE.into()),
        CustomerRef::Email(EMAIL.into()),
        CustomerRef::External(ext("erp", "K-10442")),
    ];
    for reference in &references {
        assert_eq!(
            store.resolve(reference).await.unwrap(),
            None,
            "{reference:?}"
        );
    }
    assert_eq!(store.history("c-1").await.unwrap(), History::default());
    assert_eq!(store.profile("c-1").await.unwrap(), None);
    assert_eq!(store.event_count("c-1").await.unwrap(), 0);
    assert_eq!(
        store.customer_ids(None, 10).await.unwrap(),
        vec!["c-2", "c-3"]
    );
    assert_eq!(store.delete_customer("c-1").await.unwrap(), None);
    assert_eq!(store.delete_customer("nobody").await.unwrap(), None);
    let events_only = store.delete_customer("c-3").await.unwrap();
    assert_eq!(events_only, Some(DeleteOutcome { events_deleted: 1 }));
    assert_eq!(
        store.history("c-2").await.unwrap().events,
        vec![visit("e-4", "c-2")]
    );

    // The aliases and the order id are free again.
    let heir = CustomerProfile {
        id: "c-2".into(),
        ..profile
    };
    assert_eq!(
        store.upsert_customer(&heir).await.unwrap(),
        UpsertOutcome { created: false }
    );
    let reorder = [order("e-6", "c-1", at(5), "o-1", 100)];
    assert_eq!(record(&*store, &reorder).await.unwrap(), stored(1));
    assert_eq!(store.customer_count().await.unwrap(), 2);
}

/// Many profiles at once end as upserting them one by one would, or change nothing.
pub(crate) async fn batch_upserts_replay_in_order(backend: &dyn Backend) {
    let store = backend.open().await;
    let with = |id: &str, phones: &[&str], emails: &[&str]| CustomerProfile {
        phones: phones.iter().map(|p| (*p).to_owned()).collect(),
        emails: emails.iter().map(|e| (*e).to_owned()).collect(),
        ..bare(id)
    };
    let (p1, p2, p3) = (PHONE, "+8613800000002", "+8613800000003");
    store
        .upsert_customer(&with("c-1", &[p1], &[]))
        .await
        .unwrap();
    record(&*store, &[visit("e-1", "c-9")]).await.unwrap();

    let batch = [
        with("c-2", &[], &[EMAIL]),
        // c-1 lets p1 go; c-3 takes it later in the batch.
        with("c-1", &[p2], &[]),
        with("c-3", &[p1, p1], &[]),
        // c-2's second profile replaces its first and frees the e-mail address for c-4.
        with("c-2", &[p3], &[]),
        with("c-4", &[], &[EMAIL]),
        // Known from events only: a first profile is no creation.
        with("c-9", &[], &[]),
    ];
    assert_eq!(store.upsert_customers(&batch).await.unwrap(), 3);
    let owner = |reference: CustomerRef| {
        let store = store.clone();
        async move { store.resolve(&reference).await.unwrap() }
    };
    assert_eq!(
        owner(CustomerRef::Phone(p1.into())).await.as_deref(),
        Some("c-3")
    );
    assert_eq!(
        owner(CustomerRef::Phone(p2.into())).await.as_deref(),
        Some("c-1")
    );
    assert_eq!(
        owner(CustomerRef::Phone(p3.into())).await.as_deref(),
        Some("c-2")
    );
    assert_eq!(
        owner(CustomerRef::Email(EMAIL.into())).await.as_deref(),
        Some("c-4")
    );
    assert_eq!(store.profile("c-2").await.unwrap(), Some(batch[3].clone()));
    assert_eq!(store.profile("c-3").await.unwrap(), Some(batch[2].clone()));
    assert_eq!(store.customer_count().await.unwrap(), 5);

    // A claim of another customer's alias fails the whole batch; the first one is named.
    let conflicting = [
        with("c-5", &[], &[]),
        with("c-6", &["+8613800000004"], &[]),
        with("c-7", &["+8613800000005", p2], &[]),
        with("c-8", &["+8613800000004"], &[]),
    ];
    match store.upsert_customers(&conflicting).await {
        Err(StoreError::AliasTaken { alias, field }) => {
            assert_eq!(
                (alias.as_str(), field.as_str()),
                ("phone +8613800000002", "customer.phones[1]")
            )
        }
        other => panic!("expected AliasTaken, got {other:?}"),
    }
    let within = [
        with("c-6", &["+8613800000004"], &[]),
        with("c-8", &["+8613800000004"], &[]),
    ];
    match store.upsert_customers(&within).await {
        Err(StoreError::AliasTaken { field, .. }) => assert_eq!(field, "customer.phones[0]"),
        other => panic!("expected AliasTaken, got {other:?}"),
    }
    assert_eq!(store.customer_count().await.unwrap(), 5);
    assert_eq!(
        owner(CustomerRef::Phone("+8613800000004".into())).await,
        None
    );
    assert_eq!(store.upsert_customers(&[]).await.unwrap(), 0);
}
