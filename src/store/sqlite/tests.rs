//! SQLite specifics: connection settings, crash durability, query plans.

use super::journal::{Folded, FOLD_ORDER_TABLE, PENDING_EVENTS, PENDING_ORDERS};
use super::*;
use crate::domain::history::{Channel, EventPayload, InteractionKind};
use crate::domain::time::Timestamp;

pub(super) fn visit(event_id: &str, customer_id: &str) -> Event {
    Event {
        event_id: event_id.to_owned(),
        customer_id: customer_id.to_owned(),
        at: Timestamp::from_seconds(1_750_000_000),
        payload: EventPayload::Interaction {
            kind: InteractionKind::SiteVisit,
            channel: Some(Channel::Web),
        },
    }
}

pub(super) fn file_url(dir: &std::path::Path) -> String {
    format!("sqlite://{}", dir.join("segmenter.db").display())
}

async fn pragma(pool: &SqlitePool, name: &str) -> i64 {
    sqlx::query_scalar(&format!("PRAGMA {name}"))
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn connections_are_durable_and_readers_read_only() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::connect(&file_url(dir.path())).await.unwrap();
    for pool in [store.pool(), store.reader_pool()] {
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(pool)
            .await
            .unwrap();
        assert_eq!(mode, "wal");
        assert_eq!(pragma(pool, "synchronous").await, 2, "FULL");
        assert_eq!(pragma(pool, "foreign_keys").await, 1);
        assert_eq!(pragma(pool, "busy_timeout").await, 5000);
    }
    assert_eq!(pragma(store.reader_pool(), "query_only").await, 1);
    let write = sqlx::query("DELETE FROM customers")
        .execute(store.reader_pool())
        .await;
    assert!(write.is_err(), "the reader pool must not write");
}

/// A store in a file under `dir` that holds one recorded visit: the store, the event and what
/// recording it did.
async fn one_visit_recorded(dir: &std::path::Path) -> (SqliteStore, Event, RecordOutcome) {
    let store = SqliteStore::connect(&file_url(dir)).await.unwrap();
    let event = visit("e-1", "c-1");
    let outcome = store
        .record_events(std::slice::from_ref(&event))
        .await
        .unwrap();
    (store, event, outcome)
}

#[tokio::test]
async fn an_acknowledged_write_survives_a_crash_and_an_unclosed_drop() {
    let dir = tempfile::tempdir().unwrap();
    let url = file_url(dir.path());
    let (store, event, outcome) = one_visit_recorded(dir.path()).await;
    assert_eq!(
        outcome,
        RecordOutcome {
            stored: 1,
            duplicates: 0
        }
    );

    // What a kill -9 leaves behind right after the acknowledgement: the files as they are
    // while the store is still open (the WAL is not checkpointed yet).
    let crashed = tempfile::tempdir().unwrap();
    for suffix in ["", "-wal"] {
        let name = format!("segmenter.db{suffix}");
        std::fs::copy(dir.path().join(&name), crashed.path().join(&name)).unwrap();
    }
    let recovered = SqliteStore::connect(&file_url(crashed.path()))
        .await
        .unwrap();
    assert_eq!(
        recovered.history("c-1").await.unwrap().events,
        vec![event.clone()]
    );

    // Opening copied the WAL into the database file before serving: the file alone now holds
    // the event, though its WAL was never checkpointed before the crash.
    let (_copy_dir, from_file_alone) = open_copy_of_file_alone(crashed.path()).await;
    assert_eq!(
        from_file_alone.history("c-1").await.unwrap().events,
        vec![event.clone()]
    );

    drop(store);
    let reopened = SqliteStore::connect(&url).await.unwrap();
    assert_eq!(reopened.history("c-1").await.unwrap().events, vec![event]);
    assert_eq!(reopened.customer_count().await.unwrap(), 1);
}

/// Opens a copy of the database file in `dir` without its WAL: what the file alone holds.
async fn open_copy_of_file_alone(dir: &std::path::Path) -> (tempfile::TempDir, SqliteStore) {
    let copy_dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        dir.join("segmenter.db"),
        copy_dir.path().join("segmenter.db"),
    )
    .unwrap();
    let store = SqliteStore::connect(&file_url(copy_dir.path()))
        .await
        .unwrap();
    (copy_dir, store)
}

#[tokio::test]
async fn a_settled_store_leaves_its_file_whole_and_its_wal_empty() {
    // What a loader leaves for the next process: no pending rows and no WAL to copy back.
    let dir = tempfile::tempdir().unwrap();
    let (store, event, _) = one_visit_recorded(dir.path()).await;
    let wal = dir.path().join("segmenter.db-wal");
    assert!(std::fs::metadata(&wal).unwrap().len() > 0);

    store.settle().await.unwrap();
    assert_eq!(std::fs::metadata(&wal).unwrap().len(), 0);
    let pending: i64 = sqlx::query_scalar("SELECT count(*) FROM pending_events")
        .fetch_one(store.reader_pool())
        .await
        .unwrap();
    assert_eq!(pending, 0);

    // The database file alone holds the event.
    let (_copy_dir, copy) = open_copy_of_file_alone(dir.path()).await;
    assert_eq!(copy.history("c-1").await.unwrap().events, vec![event]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stores_on_one_file_write_side_by_side() {
    // As the server and an importer process would: each has its own single-writer pool, so
    // only BEGIN IMMEDIATE and the busy timeout keep them from failing with SQLITE_BUSY.
    let dir = tempfile::tempdir().unwrap();
    let url = file_url(dir.path());
    let first = SqliteStore::connect(&url).await.unwrap();
    let second = SqliteStore::connect(&url).await.unwrap();
    let tasks: Vec<_> = [first, second]
        .into_iter()
        .enumerate()
        .map(|(s, store)| {
            tokio::spawn(async move {
                for n in 0..100 {
                    let customer = format!("c-{}", n % 3);
                    let batch = [visit(&format!("e-{s}-{n}"), &customer)];
                    let outcome = store.record_events(&batch).await.unwrap();
                    assert_eq!(outcome.stored, 1);
                    store.history(&customer).await.unwrap();
                }
                store
            })
        })
        .collect();
    let mut stores = Vec::new();
    for task in tasks {
        stores.push(task.await.unwrap());
    }
    let total: u64 = [
        stores[0].event_count("c-0").await.unwrap(),
        stores[1].event_count("c-1").await.unwrap(),
        stores[0].event_count("c-2").await.unwrap(),
    ]
    .iter()
    .sum();
    assert_eq!(total, 200);
}

#[tokio::test]
async fn event_writes_leave_foreign_keys_enforced() {
    // Event writes turn enforcement off for their transaction; the writer pool turns it back
    // on for whoever takes the connection next, also after a refused batch.
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::connect(&file_url(dir.path())).await.unwrap();
    let reused = [visit("e-1", "c-1"), visit("e-1", "c-2")];
    let recorded = store
        .record_event_batches(&[vec![visit("e-0", "c-0")], reused.to_vec()])
        .await;
    assert_eq!(recorded.outcomes.len(), 1);
    assert!(matches!(
        recorded.failure,
        Some(StoreError::EventIdReused { index: 1, .. })
    ));
    assert_eq!(store.customer_count().await.unwrap(), 1, "c-1 taken back");
    assert_eq!(pragma(store.pool(), "foreign_keys").await, 1);
    let orphan = sqlx::query("INSERT INTO events VALUES ('e-9', 'nobody', 0, '{}')")
        .execute(store.pool())
        .await;
    assert!(
        orphan.is_err(),
        "an event without its customer must be refused"
    );
}

fn visit_at(event_id: &str, customer_id: &str, seconds: i64) -> Event {
    Event {
        at: Timestamp::from_seconds(seconds),
        ..visit(event_id, customer_id)
    }
}

async fn pending_rows(store: &SqliteStore) -> (i64, i64) {
    sqlx::query_as("SELECT (SELECT count(*) FROM pending_events), (SELECT count(*) FROM events)")
        .fetch_one(store.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn a_history_spanning_the_fold_keeps_recording_order_at_equal_instants() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::connect(&file_url(dir.path())).await.unwrap();
    let first = visit_at("e-1", "c", 100);
    store
        .record_events(std::slice::from_ref(&first))
        .await
        .unwrap();
    let moved = store.fold_pending().await.unwrap();
    assert_eq!(
        moved,
        Folded {
            events: 1,
            orders: 0
        }
    );
    // Recorded after e-1 at the same instant, and before it in time.
    let second = visit_at("e-2", "c", 100);
    let earlier = visit_at("e-0", "c", 50);
    store
        .record_events(&[second.clone(), earlier.clone()])
        .await
        .unwrap();
    assert_eq!(
        pending_rows(&store).await,
        (2, 1),
        "both places hold events"
    );

    let expected = vec![earlier, first, second];
    assert_eq!(store.history("c").await.unwrap().events, expected);
    let page = store.histories(None, 10).await.unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].1.events, expected);
    assert_eq!(store.event_count("c").await.unwrap(), 3);
    // A retry of the folded event is a duplicate, not a new event.
    let retried = store.record_events(&[visit_at("e-1", "c", 100)]).await;
    assert_eq!(retried.unwrap().duplicates, 1);

    store.fold_pending().await.unwrap();
    assert_eq!(pending_rows(&store).await, (0, 3));
    assert_eq!(store.history("c").await.unwrap().events, expected);

    store
        .record_events(&[visit_at("e-3", "c", 10)])
        .await
        .unwrap();
    let erased = store.delete_customer("c").await.unwrap().unwrap();
    assert_eq!(erased.events_deleted, 4, "folded and pending events alike");
    assert_eq!(pending_rows(&store).await, (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_store_folds_what_is_pending_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::connect(&file_url(dir.path())).await.unwrap();
    let batch: Vec<Event> = (0..50)
        .map(|n| visit(&format!("e-{n}"), &format!("c-{}", n % 7)))
        .collect();
    store.record_events(&batch).await.unwrap();
    // The folder looks once a second and folds after a look that saw no new events.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while pending_rows(&store).await != (0, 50) {
        assert!(std::time::Instant::now() < deadline, "nothing folded");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(store.history("c-0").await.unwrap().events.len(), 8);
}

#[tokio::test]
async fn batches_check_their_customers_in_the_narrow_id_index() {
    let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
    let sql = format!("EXPLAIN QUERY PLAN {}", customers::FIND_CUSTOMERS.sql(4));
    let plan: Vec<(i64, i64, i64, String)> = sqlx::query_as(&sql)
        .bind("a")
        .bind("b")
        .bind("c")
        .bind("d")
        .fetch_all(store.pool())
        .await
        .unwrap();
    assert!(
        plan.iter()
            .any(|row| row.3.contains("USING COVERING INDEX customers_by_id")),
        "{plan:?}"
    );
    // A batch naming a new and a stored customer creates only the new one.
    store.record_events(&[visit("e-1", "c-1")]).await.unwrap();
    store
        .record_events(&[visit("e-2", "c-1"), visit("e-3", "c-2")])
        .await
        .unwrap();
    assert_eq!(store.customer_count().await.unwrap(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loader_writing_directly_and_a_server_writing_pending_agree() {
    let dir = tempfile::tempdir().unwrap();
    let url = file_url(dir.path());
    let server = SqliteStore::connect(&url).await.unwrap();
    let loader = SqliteStore::connect(&url).await.unwrap().writing_directly();
    server
        .record_events(&[visit_at("e-1", "c", 100)])
        .await
        .unwrap();
    loader
        .record_events(&[visit_at("e-2", "c", 50)])
        .await
        .unwrap();
    assert_eq!(pending_rows(&server).await, (1, 1), "one in each place");

    // Each sees the other's events: as duplicates, or as reuse when the content differs.
    let again = loader.record_events(&[visit_at("e-1", "c", 100)]).await;
    assert_eq!(again.unwrap().duplicates, 1);
    let reused = server.record_events(&[visit_at("e-2", "c", 51)]).await;
    assert!(matches!(reused, Err(StoreError::EventIdReused { .. })));
    let history = server.history("c").await.unwrap().events;
    assert_eq!(
        history,
        vec![visit_at("e-2", "c", 50), visit_at("e-1", "c", 100)]
    );
}

#[tokio::test]
async fn a_fold_copies_rows_in_the_ranked_order_without_sorting_them_again() {
    let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
    sqlx::query(FOLD_ORDER_TABLE)
        .execute(store.pool())
        .await
        .unwrap();
    for copy in [PENDING_EVENTS.copy, PENDING_ORDERS.copy] {
        let plan: Vec<(i64, i64, i64, String)> =
            sqlx::query_as(&format!("EXPLAIN QUERY PLAN {copy}"))
                .fetch_all(store.pool())
                .await
                .unwrap();
        let steps: Vec<&str> = plan.iter().map(|row| row.3.as_str()).collect();
        // The ranks are read in order and each row is fetched by its seq: a sort here would
        // hold every copied row, content and all, in memory.
        assert_eq!(
            steps,
            ["SCAN o", "SEARCH p USING INTEGER PRIMARY KEY (rowid=?)"],
            "{copy}"
        );
    }
}
