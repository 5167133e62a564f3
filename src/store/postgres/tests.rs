//! PostgreSQL specifics: several replicas (stores with pools of their own) on one database.
//! Skipped with a note unless `SEGMENTER_TEST_POSTGRES_URL` is set (see `testing`).

use std::time::Duration;

use sqlx::Connection;

use super::testing::{with_database, TestDatabase};
use super::*;
use crate::domain::history::{Channel, EventPayload, InteractionKind, Order, Refund};
use crate::domain::testkit::plain_order;
use crate::domain::time::Timestamp;
use crate::domain::validate::FieldViolation;

const PHONE: &str = "+8613800000001";
/// Long enough for both writers to be waiting on the blocking transaction.
const SETTLE: Duration = Duration::from_millis(300);

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_micros(1_700_000_000_000_000 + seconds * 1_000_000)
}

fn event(event_id: &str, customer_id: &str, t: Timestamp, payload: EventPayload) -> Event {
    Event {
        event_id: event_id.to_owned(),
        customer_id: customer_id.to_owned(),
        at: t,
        payload,
    }
}

fn visit(event_id: &str, customer_id: &str) -> Event {
    let payload = EventPayload::Interaction {
        kind: InteractionKind::SiteVisit,
        channel: Some(Channel::Web),
    };
    event(event_id, customer_id, at(0), payload)
}

fn order(event_id: &str, customer_id: &str, order_id: &str, amount: i64) -> Event {
    let payload = EventPayload::Order(Order {
        categories: vec!["phones".to_owned()],
        channel: Some(Channel::App),
        ..plain_order(order_id, amount)
    });
    event(event_id, customer_id, at(0), payload)
}

fn refund(event_id: &str, customer_id: &str, order_id: &str, amount: i64) -> Event {
    let payload = EventPayload::Refund(Refund {
        order_id: order_id.to_owned(),
        amount,
    });
    event(event_id, customer_id, at(1), payload)
}

fn with_phone(id: &str, phone: &str) -> CustomerProfile {
    CustomerProfile {
        id: id.to_owned(),
        phones: vec![phone.to_owned()],
        ..CustomerProfile::default()
    }
}

fn exceeds(amount: i64, left: i64, order_id: &str) -> Vec<FieldViolation> {
    vec![FieldViolation {
        field: "events[0].refund.amount".to_owned(),
        description: format!("refund of {amount} exceeds the {left} left of order {order_id}"),
    }]
}

fn add(a: RecordOutcome, b: RecordOutcome) -> RecordOutcome {
    RecordOutcome {
        stored: a.stored + b.stored,
        duplicates: a.duplicates + b.duplicates,
    }
}

#[test]
fn test_urls_name_the_test_database() {
    let cases = [
        (
            "postgres://postgres@127.0.0.1:5432/postgres",
            "postgres://postgres@127.0.0.1:5432/t",
        ),
        (
            "postgres://u:p@h/db?sslmode=disable",
            "postgres://u:p@h/t?sslmode=disable",
        ),
        ("postgresql://h:5432", "postgresql://h:5432/t"),
        (
            "postgres:///db?host=/run/postgresql",
            "postgres:///t?host=/run/postgresql",
        ),
    ];
    for (url, expected) in cases {
        assert_eq!(with_database(url, "t"), expected, "{url}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_migrate_together_and_connect_opens_postgres() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let starting: Vec<_> = (0..4).map(|_| PostgresStore::connect(db.url())).collect();
    for store in futures::future::join_all(starting).await {
        store.unwrap().ping().await.unwrap();
    }
    let postgresql = db.url().replacen("postgres://", "postgresql://", 1);
    for url in [db.url(), postgresql.as_str()] {
        let store = crate::store::connect(url).await.unwrap();
        store.record_events(&[visit("e-1", "c-1")]).await.unwrap();
        assert_eq!(store.event_count("c-1").await.unwrap(), 1);
    }
    let store = db.store().await;
    let (applied,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM _sqlx_migrations")
        .fetch_one(store.pool())
        .await
        .unwrap();
    // Each migration applied exactly once, however many replicas started together.
    let files = std::fs::read_dir(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/store/migrations/postgres"
    ))
    .unwrap()
    .count() as i64;
    assert_eq!(applied, files);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_sending_one_batch_store_it_once() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let (a, b) = (db.store().await, db.store().await);
    const AGAIN: u64 = 300;
    let rounds = 10;
    for round in 0..rounds {
        let mut batch = Vec::new();
        for c in 0..3 {
            let customer = format!("c-{c}");
            let order_id = format!("o-{round}");
            batch.push(order(&format!("{round}/{c}/o"), &customer, &order_id, 100));
            batch.push(refund(&format!("{round}/{c}/r"), &customer, &order_id, 40));
            for v in 0..4 {
                batch.push(visit(&format!("{round}/{c}/v{v}"), &customer));
            }
        }
        let n = batch.len() as u64;
        // Visits only, one writer sending them backwards: the writers now and then wait on
        // each other in a circle (a deadlock, retried).
        let again: Vec<Event> = (0..AGAIN)
            .map(|v| visit(&format!("{round}/again/{v}"), &format!("c-{}", v % 3)))
            .collect();
        let backwards: Vec<Event> = again.iter().rev().cloned().collect();

        let (x, y) = tokio::join!(a.record_events(&batch), b.record_events(&batch));
        let (x, y) = (x.unwrap(), y.unwrap());
        assert_eq!(x.stored + x.duplicates, n);
        assert_eq!(y.stored + y.duplicates, n);
        assert_eq!(
            add(x, y),
            RecordOutcome {
                stored: n,
                duplicates: n
            },
            "round {round}"
        );

        let (x, y) = tokio::join!(a.record_events(&again), b.record_events(&backwards));
        let both = RecordOutcome {
            stored: AGAIN,
            duplicates: AGAIN,
        };
        assert_eq!(add(x.unwrap(), y.unwrap()), both, "round {round}");
    }
    for c in 0..3 {
        let customer = format!("c-{c}");
        assert_eq!(
            a.event_count(&customer).await.unwrap(),
            rounds * (6 + AGAIN / 3)
        );
        // Every refund was applied exactly once: 60 is left of each order.
        let over = [refund("late", &customer, "o-0", 61)];
        match b.record_events(&over).await {
            Err(StoreError::Invalid(v)) => assert_eq!(v, exceeds(61, 60, "o-0")),
            other => panic!("expected Invalid, got {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_refunds_cannot_overdraw_an_order() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let (a, b) = (db.store().await, db.store().await);
    a.record_events(&[order("e-1", "c-1", "o-1", 100)])
        .await
        .unwrap();

    // Both refunds start while a third session holds the order row: they queue on it.
    let mut blocker = db.connection().await;
    let mut tx = blocker.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM orders WHERE order_id = 'o-1' FOR UPDATE")
        .execute(&mut *tx)
        .await
        .unwrap();
    let first = tokio::spawn({
        let a = a.clone();
        async move { a.record_events(&[refund("e-2", "c-1", "o-1", 60)]).await }
    });
    let second = tokio::spawn({
        let b = b.clone();
        async move { b.record_events(&[refund("e-3", "c-1", "o-1", 60)]).await }
    });
    tokio::time::sleep(SETTLE).await;
    assert!(!first.is_finished() && !second.is_finished());
    tx.commit().await.unwrap();

    let results = [first.await.unwrap(), second.await.unwrap()];
    let stored = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(stored, 1, "{results:?}");
    for result in results {
        match result {
            Ok(outcome) => assert_eq!(outcome.stored, 1),
            Err(StoreError::Invalid(v)) => assert_eq!(v, exceeds(60, 40, "o-1")),
            Err(other) => panic!("expected Invalid, got {other:?}"),
        }
    }
    assert_eq!(a.event_count("c-1").await.unwrap(), 2);

    // Without the queue: many pairs at once, never both.
    for n in 0..20 {
        let order_id = format!("o-many-{n}");
        let placed = [order(&format!("{order_id}/o"), "c-1", &order_id, 100)];
        a.record_events(&placed).await.unwrap();
        let mine = [refund(&format!("{order_id}/a"), "c-1", &order_id, 51)];
        let theirs = [refund(&format!("{order_id}/b"), "c-1", &order_id, 51)];
        let (x, y) = tokio::join!(a.record_events(&mine), b.record_events(&theirs));
        assert!(x.is_ok() != y.is_ok(), "{x:?} {y:?}");
        for result in [x, y] {
            if let Err(error) = result {
                assert!(matches!(error, StoreError::Invalid(_)), "{error:?}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_cannot_give_one_phone_to_two_customers() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let (a, b) = (db.store().await, db.store().await);

    // A third session claims the phone without committing: both upserts pass their alias
    // check, then wait on its key; once it rolls back they race for the phone themselves.
    let mut blocker = db.connection().await;
    let mut tx = blocker.begin().await.unwrap();
    sqlx::query("INSERT INTO customers VALUES ('c-0', NULL, 0, 0)")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("INSERT INTO aliases VALUES ('phone', $1, 'c-0')")
        .bind(PHONE)
        .execute(&mut *tx)
        .await
        .unwrap();
    let first = tokio::spawn({
        let a = a.clone();
        async move { a.upsert_customer(&with_phone("c-1", PHONE)).await }
    });
    let second = tokio::spawn({
        let b = b.clone();
        async move { b.upsert_customer(&with_phone("c-2", PHONE)).await }
    });
    tokio::time::sleep(SETTLE).await;
    assert!(!first.is_finished() && !second.is_finished());
    tx.rollback().await.unwrap();

    let results = [first.await.unwrap(), second.await.unwrap()];
    let winner = match &results {
        [Ok(_), Err(_)] => "c-1",
        [Err(_), Ok(_)] => "c-2",
        other => panic!("expected one winner: {other:?}"),
    };
    for result in results {
        match result {
            Ok(outcome) => assert!(outcome.created),
            Err(StoreError::AliasTaken { alias, field }) => {
                assert_eq!(
                    (alias.as_str(), field.as_str()),
                    ("phone +8613800000001", "customer.phones[0]")
                )
            }
            Err(other) => panic!("expected AliasTaken, got {other:?}"),
        }
    }
    let owner = a.resolve(&CustomerRef::Phone(PHONE.into())).await.unwrap();
    assert_eq!(owner.as_deref(), Some(winner));
    assert_eq!(b.customer_count().await.unwrap(), 1);

    // Without the queue: many pairs at once, never both; one customer created per pair.
    for n in 0..20 {
        let phone = format!("+1415555{n:04}");
        let (mine, theirs) = (
            with_phone(&format!("x-{n}"), &phone),
            with_phone(&format!("y-{n}"), &phone),
        );
        let (x, y) = tokio::join!(a.upsert_customer(&mine), b.upsert_customer(&theirs));
        assert!(x.is_ok() != y.is_ok(), "{x:?} {y:?}");
        for result in [x, y] {
            if let Err(error) = result {
                assert!(matches!(error, StoreError::AliasTaken { .. }), "{error:?}");
            }
        }
    }
    assert_eq!(a.customer_count().await.unwrap(), 21);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_create_a_customer_once() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let (a, b) = (db.store().await, db.store().await);
    for n in 0..20 {
        let id = format!("c-{n}");
        let phone = format!("+1415555{n:04}");
        let profile = with_phone(&id, &phone);
        let (x, y) = tokio::join!(a.upsert_customer(&profile), b.upsert_customer(&profile));
        let created = [x.unwrap(), y.unwrap()]
            .iter()
            .filter(|o| o.created)
            .count();
        assert_eq!(created, 1, "{id}");
        let owner = a.resolve(&CustomerRef::Phone(phone)).await.unwrap();
        assert_eq!(owner, Some(id));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasure_beside_a_writer_loses_no_event() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let (a, b) = (db.store().await, db.store().await);
    const BATCHES: u64 = 40;
    let writer = tokio::spawn(async move {
        let mut stored = 0;
        for n in 0..BATCHES {
            let batch = [
                visit(&format!("e-{n}"), "c-1"),
                visit(&format!("f-{n}"), "c-1"),
            ];
            stored += a.record_events(&batch).await.unwrap().stored;
        }
        stored
    });
    let eraser = tokio::spawn({
        let b = b.clone();
        async move {
            let mut erased = 0;
            for _ in 0..BATCHES {
                if let Some(outcome) = b.delete_customer("c-1").await.unwrap() {
                    erased += outcome.events_deleted;
                }
                tokio::task::yield_now().await;
            }
            erased
        }
    });
    let stored = writer.await.unwrap();
    let erased = eraser.await.unwrap();
    assert_eq!(stored, 2 * BATCHES);
    assert_eq!(erased + b.event_count("c-1").await.unwrap(), stored);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_reads_use_the_customer_index_without_sorting() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    db.store().await; // migrates
    let mut conn = db.connection().await;
    // The tables are empty and small sets are cheap to sort: with every alternative priced
    // out, a plan still sorts only when the index cannot give the order.
    for setting in ["enable_seqscan", "enable_bitmapscan", "enable_sort"] {
        sqlx::query(&format!("SET {setting} = off"))
            .execute(&mut conn)
            .await
            .unwrap();
    }
    let page = "SELECT id FROM customers WHERE id > $1 ORDER BY id LIMIT $2";
    for (sql, index) in [
        (HISTORY_EVENTS, "events_by_customer"),
        (PAGE_EVENTS, "events_by_customer"),
        (page, "customers_pkey"),
    ] {
        let explain = format!("EXPLAIN {}", sql.replace("$1", "'a'").replace("$2", "'z'"));
        let explain = explain.replace("LIMIT 'z'", "LIMIT 5");
        let plan: Vec<(String,)> = sqlx::query_as(&explain).fetch_all(&mut conn).await.unwrap();
        let plan: Vec<String> = plan.into_iter().map(|(line,)| line).collect();
        assert!(
            plan.iter().any(|line| line.contains(index))
                && !plan.iter().any(|line| line.contains("Sort")),
            "{sql}: {plan:#?}"
        );
    }
}
