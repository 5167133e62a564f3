//! Tests of the resident set: kept in step with every write, scanned in order.

use std::sync::Arc;

use crate::app::{App, AppSettings, Clock};
use crate::domain::compact::CompactHistory;
use crate::domain::dimensions::Dimension;
use crate::domain::features::compute_features;
use crate::domain::history::{
    CustomerProfile, CustomerRef, Event, EventPayload, Order, Plan, Refund,
};
use crate::domain::rules::RuleSet;
use crate::domain::time::Timestamp;
use crate::store::SqliteStore;

const NOW: i64 = 1_751_328_000;

struct FixedClock;

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_seconds(NOW)
    }
}

async fn loaded_app() -> App {
    let store = Arc::new(SqliteStore::connect("sqlite::memory:").await.unwrap());
    let app = App::new(
        store,
        RuleSet::builtin().unwrap(),
        AppSettings::default(),
        Arc::new(FixedClock),
    );
    app.load_histories().await.unwrap();
    app
}

fn at(days_ago: i64) -> Timestamp {
    Timestamp::from_seconds(NOW - days_ago * 86_400)
}

fn event(id: &str, when: Timestamp, payload: EventPayload) -> (CustomerRef, Event) {
    let event = Event {
        event_id: id.into(),
        customer_id: String::new(),
        at: when,
        payload,
    };
    (CustomerRef::Id("c1".into()), event)
}

fn order(id: &str, amount: i64, category: &str) -> EventPayload {
    EventPayload::Order(Order {
        order_id: id.into(),
        amount,
        cost: Some(amount / 2),
        discount_amount: 0,
        coupon_code: None,
        units: 1,
        categories: vec![category.into()],
        channel: None,
        consideration_seconds: Some(60),
    })
}

/// What the resident set holds must compute the same features as the stored history.
async fn assert_in_step(app: &App, id: &str) {
    let stored = app.store().history(id).await.unwrap();
    let from_store = CompactHistory::from_history(&stored);
    let resident = app.resident.get(id).unwrap_or_default();
    let windows = &app.rules().rules.windows;
    for as_of in [at(0), at(40), at(400)] {
        assert_eq!(
            compute_features(&resident, as_of, windows),
            compute_features(&from_store, as_of, windows),
            "customer {id} at {as_of:?}"
        );
    }
    assert_eq!(resident.profile, from_store.profile);
}

#[test]
fn a_prefetched_scan_visits_every_customer_once_in_order() {
    for count in [0, 1, 5, 9, 100] {
        let customers: super::Population = (0..count)
            .map(|n| {
                (
                    Arc::from(format!("c{n:03}")),
                    Arc::new(CompactHistory::default()),
                )
            })
            .collect();
        let mut seen = Vec::new();
        super::scan_prefetched(&customers, |id, _| seen.push(id.to_string()));
        let expected: Vec<String> = (0..count).map(|n| format!("c{n:03}")).collect();
        assert_eq!(seen, expected);
    }
}

#[tokio::test]
async fn writes_through_the_app_keep_the_resident_set_in_step() {
    let app = loaded_app().await;
    app.record_events(vec![event("e1", at(30), order("o1", 1_000, "tea"))])
        .await
        .unwrap();
    assert_in_step(&app, "c1").await;

    // Later and earlier events, a refund, and an event sharing an instant with a stored
    // one (which forces a rebuild from the store).
    let refund = EventPayload::Refund(Refund {
        order_id: "o1".into(),
        amount: 400,
    });
    app.record_events(vec![
        event("e3", at(10), refund),
        event("e0", at(300), order("o0", 2_000, "cake")),
        event("e2", at(30), EventPayload::Review { rating: 5 }),
    ])
    .await
    .unwrap();
    assert_in_step(&app, "c1").await;

    // A retry with one new event: duplicates make the app re-read the customer.
    app.record_events(vec![
        event("e1", at(30), order("o1", 1_000, "tea")),
        event("e4", at(5), EventPayload::PlanChange { plan: Plan::Paid }),
    ])
    .await
    .unwrap();
    assert_in_step(&app, "c1").await;
    let classified = app
        .classify(&CustomerRef::Id("c1".into()), &Default::default())
        .await
        .unwrap();
    assert_eq!(classified.classification.features.frequency, 2);
}

#[tokio::test]
async fn the_population_list_is_kept_until_the_next_write() {
    let app = loaded_app().await;
    app.record_events(vec![event("e1", at(30), order("o1", 1_000, "tea"))])
        .await
        .unwrap();
    let first = app.resident.population();
    assert!(Arc::ptr_eq(&first, &app.resident.population()));
    let ids = |list: &super::Population| -> Vec<String> {
        list.iter().map(|(id, _)| id.to_string()).collect()
    };
    assert_eq!(ids(&first), vec!["c1".to_owned()]);

    // Every kind of write lists anew: events, a profile, an erasure.
    let mut second = event("e2", at(20), order("o2", 500, "tea")).1;
    second.customer_id = "c2".into();
    let c2 = CustomerRef::Id("c2".into());
    app.record_events(vec![(c2.clone(), second)]).await.unwrap();
    let listed = app.resident.population();
    assert!(!Arc::ptr_eq(&first, &listed));
    assert_eq!(ids(&listed), vec!["c1".to_owned(), "c2".to_owned()]);
    assert_eq!(listed[0].1.facts().len(), 1, "c1 keeps its one order");

    app.upsert_customer(&CustomerProfile {
        id: "c0".into(),
        ..CustomerProfile::default()
    })
    .await
    .unwrap();
    assert_eq!(ids(&app.resident.population()), ["c0", "c1", "c2"]);
    app.delete_customer(&c2).await.unwrap();
    assert_eq!(ids(&app.resident.population()), ["c0", "c1"]);
    // The list taken first still shows the population as it was.
    assert_eq!(ids(&first), vec!["c1".to_owned()]);
}

#[tokio::test]
async fn profiles_pins_and_erasure_reach_the_resident_set() {
    let app = loaded_app().await;
    let mut profile = CustomerProfile {
        id: "c1".into(),
        ..CustomerProfile::default()
    };
    profile.pins.insert(Dimension::ValueTier, "HIGH".to_owned());
    app.upsert_customer(&profile).await.unwrap();
    assert_in_step(&app, "c1").await;
    let reference = CustomerRef::Id("c1".into());
    let classified = app.classify(&reference, &Default::default()).await.unwrap();
    assert!(classified.classification.known);
    assert_eq!(classified.classification.code(Dimension::ValueTier), "HIGH");

    app.delete_customer(&reference).await.unwrap();
    assert!(app.resident.get("c1").is_none());
    let classified = app.classify(&reference, &Default::default()).await.unwrap();
    assert!(!classified.classification.known);
}

#[tokio::test]
async fn a_reload_sees_writes_made_past_the_app() {
    let app = loaded_app().await;
    app.record_events(vec![event("e1", at(30), order("o1", 1_000, "tea"))])
        .await
        .unwrap();
    // Another process (an import, another replica) writes to the same database.
    let mut direct = event("e2", at(20), order("o2", 500, "tea")).1;
    direct.customer_id = "c2".into();
    app.store().record_events(&[direct]).await.unwrap();
    assert!(app.resident.get("c2").is_none());

    app.reload_histories().await.unwrap();
    assert_eq!(app.resident_customers(), 2);
    assert_in_step(&app, "c1").await;
    assert_in_step(&app, "c2").await;

    // Erased by another process: gone after the next reload.
    app.store().delete_customer("c2").await.unwrap();
    app.reload_histories().await.unwrap();
    assert_eq!(app.resident_customers(), 1);
    assert!(app.resident.get("c2").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ingest_stream_is_resident_once_finished() {
    let app = Arc::new(loaded_app().await);
    let mut stream = app.ingest_stream();
    let groups = [
        vec![vec![event("e1", at(30), order("o1", 1_000, "tea"))]],
        vec![
            vec![event("e2", at(20), order("o2", 2_000, "tea"))],
            vec![event("e3", at(10), order("o3", 500, "cups"))],
        ],
        // A retry of a stored event: the customer is re-read whole.
        vec![vec![
            event("e3", at(10), order("o3", 500, "cups")),
            event("e4", at(5), order("o4", 700, "tea")),
        ]],
    ];
    let mut sizes = Vec::new();
    for group in groups {
        sizes.push(group.len());
        let earlier = stream.submit(group).await;
        // What storing the group before did, or nothing for the first.
        assert!(earlier.failure.is_none(), "{:?}", earlier.failure);
        let expected = if sizes.len() > 1 {
            sizes[sizes.len() - 2]
        } else {
            0
        };
        assert_eq!(earlier.outcomes.len(), expected);
    }
    let (last, taken_in) = stream.finish().await;
    taken_in.unwrap();
    assert!(last.failure.is_none(), "{:?}", last.failure);
    assert_eq!(last.outcomes.len(), 1);
    assert_eq!(last.outcomes[0].duplicates, 1);
    assert_eq!(app.resident.get("c1").unwrap().facts().len(), 4);
    assert_in_step(&app, "c1").await;
}

#[tokio::test]
async fn an_ingest_stream_stops_at_the_first_refused_batch_and_keeps_those_before() {
    let app = Arc::new(loaded_app().await);
    let mut stream = app.ingest_stream();
    let reused_order = event("e9", at(10), order("o1", 300, "tea"));
    let first = stream
        .submit(vec![
            vec![event("e1", at(30), order("o1", 1_000, "tea"))],
            vec![reused_order],
            vec![event("e5", at(1), order("o5", 100, "tea"))],
        ])
        .await;
    assert!(first.outcomes.is_empty() && first.failure.is_none());
    // Handed over before the refusal is known: dropped unstored once it is.
    let earlier = stream
        .submit(vec![vec![event("e6", at(2), order("o6", 100, "tea"))]])
        .await;
    assert_eq!(earlier.outcomes.len(), 1);
    assert!(
        matches!(earlier.failure, Some(crate::app::AppError::Store(_))),
        "{:?}",
        earlier.failure
    );
    let (last, taken_in) = stream.finish().await;
    taken_in.unwrap();
    assert!(last.outcomes.is_empty() && last.failure.is_none());
    assert_eq!(app.resident.get("c1").unwrap().facts().len(), 1);
    assert_eq!(app.store().history("c1").await.unwrap().events.len(), 1);
    assert_in_step(&app, "c1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_committed_after_its_caller_went_away_is_still_taken_in() {
    let app = Arc::new(loaded_app().await);
    let mut stream = app.ingest_stream();
    stream
        .submit(vec![vec![event("e1", at(30), order("o1", 1_000, "tea"))]])
        .await;
    // The caller goes away while the group is being stored.
    drop(stream);
    for _ in 0..500 {
        if app.resident.get("c1").is_some_and(|h| h.facts().len() == 1) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(app.resident.get("c1").unwrap().facts().len(), 1);
    assert_in_step(&app, "c1").await;
}

#[tokio::test]
async fn many_lookups_under_one_lock_answer_as_single_ones() {
    let app = loaded_app().await;
    app.record_events(vec![event("e1", at(30), order("o1", 1_000, "tea"))])
        .await
        .unwrap();
    let ids = ["c1", "nobody", "c1"];
    let many = app.resident.get_many(ids.into_iter());
    let single: Vec<_> = ids.iter().map(|id| app.resident.get(id)).collect();
    assert_eq!(many, single);
    assert!(many[0].is_some() && many[1].is_none());

    // A batch by id, and one mixing in another kind of reference, load alike.
    let by_id = [
        CustomerRef::Id("c1".into()),
        CustomerRef::Id("nobody".into()),
    ];
    let mixed = [
        CustomerRef::Id("c1".into()),
        CustomerRef::Email("nobody@example.com".into()),
    ];
    let loaded = app.load_many(&by_id).await;
    assert_eq!(loaded[0].as_ref().unwrap().0, "c1");
    assert_eq!(
        loaded[0].as_ref().unwrap().1,
        app.resident.get("c1").unwrap()
    );
    assert_eq!(loaded[1].as_ref().unwrap().0, "nobody");
    assert_eq!(*loaded[1].as_ref().unwrap().1, CompactHistory::default());
    let loaded = app.load_many(&mixed).await;
    assert_eq!(
        loaded[0].as_ref().unwrap().1,
        app.resident.get("c1").unwrap()
    );
    assert_eq!(loaded[1].as_ref().unwrap().0, "");
}
