//! HistoryService: profiles, aliases and erasure.

use segmenter::api::pb;
use tonic::Code;

use crate::support::*;

#[tokio::test]
async fn upsert_creates_then_replaces_and_returns_normalised_aliases() {
    let t = TestServer::start().await;
    let first = t.upsert(li_wei()).await.expect("first upsert");
    assert!(first.created);
    let stored = first.customer.expect("customer");
    assert_eq!(stored.id, "c-1001");
    assert_eq!(stored.phones, vec!["+8613800000000"]);
    assert_eq!(stored.emails, vec!["li.wei@example.com"]);
    assert_eq!(
        stored.external_ids,
        vec![external("erp", "K-10442"), external("shop", "u_99812")]
    );
    assert_eq!(stored.display_name, "Li Wei");
    assert_eq!(stored.plan, pb::Plan::Paid as i32);

    let mut changed = li_wei();
    changed.region = "Shanghai".to_owned();
    let second = t.upsert(changed).await.expect("second upsert");
    assert!(!second.created);
    assert_eq!(second.customer.expect("customer").region, "Shanghai");
    let read = t.get(by_id("c-1001")).await.expect("get");
    assert_eq!(read.customer.expect("customer").region, "Shanghai");
    assert_eq!(read.event_count, 0);
    t.shutdown().await;
}

#[tokio::test]
async fn get_customer_by_every_kind_of_reference() {
    let t = TestServer::start().await;
    t.upsert(li_wei()).await.expect("upsert");
    t.record_ok(vec![
        order("e-1", "c-1001", ago(10), "o-1", 12_900),
        review("e-2", "c-1001", ago(9), 5),
    ])
    .await;
    let expected = t.get(by_id("c-1001")).await.expect("by id");
    assert_eq!(expected.event_count, 2);
    assert_eq!(expected.customer.as_ref().expect("customer").id, "c-1001");
    for reference in [
        by_phone("+8613800000000"),
        by_phone("+86 (138) 0000.0000"),
        by_email("li.wei@example.com"),
        by_email(" LI.WEI@EXAMPLE.COM"),
        by_external("erp", "K-10442"),
        by_external("shop", " u_99812 "),
    ] {
        let found = t.get(reference.clone()).await.expect("get by alias");
        assert_eq!(found, expected, "{reference:?}");
    }
    for unknown in [
        by_id("c-9999"),
        by_phone("+8613900000000"),
        by_email("nobody@example.com"),
        by_external("erp", "K-1"),
    ] {
        let status = t.get(unknown.clone()).await.expect_err("unknown");
        assert_eq!(status.code(), Code::NotFound, "{unknown:?}");
    }
    // A malformed reference is bad input, not an unknown customer.
    let status = t.get(by_phone("12345")).await.expect_err("malformed phone");
    assert_eq!(violated_fields(&status), vec!["customer.phone"]);
    t.shutdown().await;
}

#[tokio::test]
async fn delete_customer_erases_profile_aliases_and_events() {
    let t = TestServer::start().await;
    t.upsert(li_wei()).await.expect("upsert");
    let events = vec![
        order("e-1", "c-1001", ago(40), "o-1", 10_000),
        refund("e-2", "c-1001", ago(39), "o-1", 2_000),
        survey("e-3", "c-1001", ago(5), pb::SurveyKind::Csat, 5),
    ];
    t.record_ok(events.clone()).await;
    t.refresh().await;
    let before = t.classify(by_id("c-1001")).await;
    assert!(before.known);
    assert_eq!(code(&before, pb::Dimension::Lifecycle), "NEW");

    let deleted = t
        .history
        .clone()
        .delete_customer(pb::DeleteCustomerRequest {
            customer: Some(by_phone("+8613800000000")),
        })
        .await
        .expect("delete")
        .into_inner();
    assert_eq!(
        deleted,
        pb::DeleteCustomerResponse {
            deleted: true,
            events_deleted: 3
        }
    );

    for reference in [
        by_id("c-1001"),
        by_phone("+8613800000000"),
        by_email("li.wei@example.com"),
        by_external("erp", "K-10442"),
    ] {
        let status = t.get(reference).await.expect_err("erased");
        assert_eq!(status.code(), Code::NotFound);
    }
    t.refresh().await;
    let after = t.classify(by_id("c-1001")).await;
    assert!(!after.known);
    assert_eq!(code(&after, pb::Dimension::Lifecycle), "POTENTIAL");
    let features = after.features.expect("features");
    assert_eq!(features.purchases_ever, 0);
    assert_eq!(features.csat_avg_365d, None);
    let by_alias = t.classify(by_email("li.wei@example.com")).await;
    assert!(!by_alias.known);
    assert_eq!(by_alias.customer_id, "");

    // Nothing is left behind: the event ids, the order id and the aliases are free again.
    let again = t.record(events).await.expect("record again");
    assert_eq!((again.stored, again.duplicates), (3, 0));
    assert_eq!(t.event_count("c-1001").await, 3);
    let mut other = customer("c-2002");
    other.phones = vec!["+8613800000000".to_owned()];
    assert!(t.upsert(other).await.expect("alias is free").created);

    // Deleting what does not exist is not an error.
    let nothing = t
        .history
        .clone()
        .delete_customer(pb::DeleteCustomerRequest {
            customer: Some(by_id("c-none")),
        })
        .await
        .expect("delete unknown")
        .into_inner();
    assert_eq!(
        nothing,
        pb::DeleteCustomerResponse {
            deleted: false,
            events_deleted: 0
        }
    );
    t.shutdown().await;
}

#[tokio::test]
async fn an_alias_of_another_customer_is_refused() {
    let t = TestServer::start().await;
    t.upsert(li_wei()).await.expect("upsert");
    for (field, taken) in [
        (
            "customer.phones[0]",
            pb::Customer {
                phones: vec!["+86 13800000000".to_owned()],
                ..customer("c-2")
            },
        ),
        (
            "customer.emails[0]",
            pb::Customer {
                emails: vec!["LI.WEI@example.com".to_owned()],
                ..customer("c-2")
            },
        ),
        (
            "customer.external_ids[0]",
            pb::Customer {
                external_ids: vec![external("erp", "K-10442")],
                ..customer("c-2")
            },
        ),
    ] {
        let status = t.upsert(taken).await.expect_err("alias taken");
        assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");
        assert!(status.message().starts_with(field), "{}", status.message());
        assert_eq!(
            t.get(by_id("c-2")).await.expect_err("c-2").code(),
            Code::NotFound
        );
    }
    // The owner keeps its alias.
    let owner = t.get(by_phone("+8613800000000")).await.expect("owner");
    assert_eq!(owner.customer.expect("customer").id, "c-1001");
    t.shutdown().await;
}

#[tokio::test]
async fn invalid_profile_names_every_bad_field() {
    let t = TestServer::start().await;
    let status = t
        .upsert(pb::Customer {
            phones: vec!["+8613800000000".to_owned(), "13800000000".to_owned()],
            emails: vec!["not-an-email".to_owned(), "ok@example.com".to_owned()],
            birthday: Some(pb::Birthday { month: 2, day: 30 }),
            plan: 42,
            ..customer("c-1")
        })
        .await
        .expect_err("invalid profile");
    assert_eq!(
        violated_set(&status),
        set(&[
            "customer.phones[1]",
            "customer.emails[0]",
            "customer.birthday.day",
            "customer.plan",
        ])
    );
    assert_eq!(
        t.get(by_id("c-1")).await.expect_err("c-1").code(),
        Code::NotFound
    );
    t.shutdown().await;
}

#[tokio::test]
async fn an_alias_conflict_names_the_alias_at_its_position_in_the_request() {
    let t = TestServer::start().await;
    t.upsert(li_wei()).await.expect("upsert");
    // The taken phone is the third one sent; the second is a duplicate of the first.
    let status = t
        .upsert(pb::Customer {
            phones: vec![
                "+8613700000000".to_owned(),
                "+86 137 0000 0000".to_owned(),
                "+8613800000000".to_owned(),
            ],
            ..customer("c-2")
        })
        .await
        .expect_err("phone taken");
    assert_eq!(status.code(), Code::AlreadyExists);
    assert!(
        status.message().starts_with("customer.phones[2]"),
        "the field must name the phone as sent: {}",
        status.message()
    );
    t.shutdown().await;
}

#[tokio::test]
async fn an_external_id_conflict_names_the_external_id_at_its_position_in_the_request() {
    let t = TestServer::start().await;
    t.upsert(li_wei()).await.expect("upsert");
    // The taken external id is the second one sent ("zz" sorts after "erp").
    let status = t
        .upsert(pb::Customer {
            external_ids: vec![external("zz", "1"), external("erp", "K-10442")],
            ..customer("c-3")
        })
        .await
        .expect_err("external id taken");
    assert_eq!(status.code(), Code::AlreadyExists);
    assert!(
        status.message().starts_with("customer.external_ids[1]"),
        "the field must name the external id as sent: {}",
        status.message()
    );
    t.shutdown().await;
}

#[tokio::test]
async fn an_upsert_replaces_the_aliases_and_frees_the_removed_ones() {
    let t = TestServer::start().await;
    t.upsert(li_wei()).await.expect("upsert");
    let replaced = t
        .upsert(pb::Customer {
            phones: vec!["+8613900000000".to_owned()],
            ..customer("c-1001")
        })
        .await
        .expect("replace");
    assert!(!replaced.created);
    let stored = t.get(by_id("c-1001")).await.expect("get");
    let profile = stored.customer.expect("customer");
    assert_eq!(profile.phones, vec!["+8613900000000"]);
    assert!(profile.emails.is_empty() && profile.external_ids.is_empty());
    assert_eq!(profile.display_name, "", "the whole profile is replaced");
    for removed in [
        by_phone("+8613800000000"),
        by_email("li.wei@example.com"),
        by_external("erp", "K-10442"),
    ] {
        let status = t.get(removed.clone()).await.expect_err("removed alias");
        assert_eq!(status.code(), Code::NotFound, "{removed:?}");
    }
    let new_owner = t
        .upsert(pb::Customer {
            phones: vec!["+8613800000000".to_owned()],
            external_ids: vec![external("erp", "K-10442")],
            ..customer("c-2")
        })
        .await
        .expect("freed aliases");
    assert!(new_owner.created);
    t.shutdown().await;
}

#[tokio::test]
async fn a_customer_first_seen_in_events_exists_before_its_profile() {
    let t = TestServer::start().await;
    t.record_ok(vec![order("e-1", "c-7", ago(1), "o-1", 100)])
        .await;
    let bare = t.get(by_id("c-7")).await.expect("known from events");
    assert_eq!(bare.customer, Some(customer("c-7")));
    assert_eq!(bare.event_count, 1);
    let upserted = t
        .upsert(pb::Customer {
            display_name: "Seven".to_owned(),
            ..customer("c-7")
        })
        .await
        .expect("upsert");
    assert!(!upserted.created, "the customer existed already");
    let read = t.get(by_id("c-7")).await.expect("get");
    assert_eq!(read.customer.expect("customer").display_name, "Seven");
    assert_eq!(read.event_count, 1, "the profile does not touch the events");
    t.shutdown().await;
}
