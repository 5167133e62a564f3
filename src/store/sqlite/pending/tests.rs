//! The pending index through the store: what it finds, what another process's writes do to
//! it, and reads that meet a fold.

use crate::domain::history::{Event, EventPayload};
use crate::domain::testkit::plain_order;
use crate::store::sqlite::tests::{file_url, visit};
use crate::store::sqlite::SqliteStore;
use crate::store::{Store, StoreError};

fn order(event_id: &str, customer_id: &str, order_id: &str) -> Event {
    Event {
        payload: EventPayload::Order(plain_order(order_id, 1_000)),
        ..visit(event_id, customer_id)
    }
}

#[tokio::test]
async fn pending_events_are_found_by_customer_and_by_id_after_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let url = file_url(dir.path());
    let batch: Vec<Event> = (0..300)
        .map(|n| visit(&format!("e-{n}"), &format!("c-{}", n % 7)))
        .collect();
    {
        let store = SqliteStore::connect(&url).await.unwrap();
        store.record_events(&batch).await.unwrap();
    }
    // A new process indexes what it finds pending.
    let store = SqliteStore::connect(&url).await.unwrap();
    assert_eq!(store.pending.len(), 600, "each event by customer and by id");
    let of_c3: Vec<Event> = batch
        .iter()
        .filter(|e| e.customer_id == "c-3")
        .cloned()
        .collect();
    assert_eq!(store.history("c-3").await.unwrap().events, of_c3);
    assert_eq!(store.event_count("c-3").await.unwrap(), of_c3.len() as u64);
    // Ids are found: a retry is a duplicate, a changed event under a stored id is refused.
    let retried = store.record_events(&batch[..10]).await.unwrap();
    assert_eq!((retried.stored, retried.duplicates), (0, 10));
    let changed = visit("e-5", "c-0");
    assert!(matches!(
        store.record_events(&[changed]).await,
        Err(StoreError::EventIdReused { .. })
    ));
}

#[tokio::test]
async fn pending_orders_are_found_for_refunds_reuse_checks_and_erasure() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::connect(&file_url(dir.path())).await.unwrap();
    store
        .record_events(&[order("e-1", "c-1", "o-1"), order("e-2", "c-2", "o-1")])
        .await
        .unwrap();
    assert!(matches!(
        store.record_events(&[order("e-3", "c-1", "o-1")]).await,
        Err(StoreError::OrderIdTaken { .. })
    ));
    // Erasing c-1 frees its order id and leaves c-2's.
    let erased = store.delete_customer("c-1").await.unwrap().unwrap();
    assert_eq!(erased.events_deleted, 1);
    let again = store.record_events(&[order("e-4", "c-1", "o-1")]).await;
    assert_eq!(again.unwrap().stored, 1);
    assert!(matches!(
        store.record_events(&[order("e-5", "c-2", "o-1")]).await,
        Err(StoreError::OrderIdTaken { .. })
    ));
    let (events, orders): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM pending_events), (SELECT count(*) FROM pending_orders)",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!((events, orders), (2, 2));
}

#[tokio::test]
async fn seqs_given_again_after_a_full_fold_do_not_mix_customers() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::connect(&file_url(dir.path())).await.unwrap();
    let first = visit("e-1", "c-1");
    store
        .record_events(std::slice::from_ref(&first))
        .await
        .unwrap();
    store.fold_pending().await.unwrap();
    // The pending table is empty: this event gets e-1's old seq.
    let second = visit("e-2", "c-2");
    store
        .record_events(std::slice::from_ref(&second))
        .await
        .unwrap();
    assert_eq!(store.history("c-1").await.unwrap().events, vec![first]);
    assert_eq!(store.history("c-2").await.unwrap().events, vec![second]);
    let retried = store.record_events(&[visit("e-1", "c-1")]).await.unwrap();
    assert_eq!(retried.duplicates, 1);
}

#[tokio::test]
async fn another_processs_pending_events_are_read_before_and_indexed_after_a_write() {
    let dir = tempfile::tempdir().unwrap();
    let url = file_url(dir.path());
    let this = SqliteStore::connect(&url).await.unwrap();
    let other = SqliteStore::connect(&url).await.unwrap();
    let theirs = visit("e-1", "c-1");
    other
        .record_events(std::slice::from_ref(&theirs))
        .await
        .unwrap();

    // Not in this store's index, yet read: past the newest seq it holds.
    assert_eq!(this.pending.len(), 0);
    assert_eq!(
        this.history("c-1").await.unwrap().events,
        vec![theirs.clone()]
    );
    assert_eq!(this.event_count("c-1").await.unwrap(), 1);
    let page = this.histories(None, 10).await.unwrap();
    assert_eq!(page[0].1.events, vec![theirs.clone()]);

    // This store's next write notices the other's and indexes it.
    let ours = visit("e-2", "c-1");
    this.record_events(std::slice::from_ref(&ours))
        .await
        .unwrap();
    assert_eq!(this.pending.len(), 4);
    let retried = this
        .record_events(std::slice::from_ref(&theirs))
        .await
        .unwrap();
    assert_eq!(retried.duplicates, 1, "the other's event id is known");
    assert_eq!(
        this.history("c-1").await.unwrap().events,
        vec![theirs, ours]
    );
}

#[tokio::test]
async fn a_read_that_meets_a_fold_reads_again() {
    let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
    store.record_events(&[visit("e-1", "c-1")]).await.unwrap();
    let before = store.pending.generation();
    let mut conn = store.reader_pool().acquire().await.unwrap();
    let found = store.pending_of(&mut conn, before, &["c-1"]).await.unwrap();
    assert_eq!(found.map(|rows| rows.len()), Some(1));

    // A fold step committed between the reader's start and its lookup.
    store.pending.note_folded(Some(0), None);
    let found = store.pending_of(&mut conn, before, &["c-1"]).await.unwrap();
    assert!(found.is_none());
    drop(conn);
    // Read from the start, the history is whole.
    assert_eq!(store.history("c-1").await.unwrap().events.len(), 1);
}

#[tokio::test]
async fn a_loaders_writes_leave_the_index_as_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let url = file_url(dir.path());
    let server = SqliteStore::connect(&url).await.unwrap();
    let loader = SqliteStore::connect(&url).await.unwrap().writing_directly();
    server.record_events(&[visit("e-1", "c-1")]).await.unwrap();
    let generation = server.pending.generation();
    loader.record_events(&[visit("e-2", "c-2")]).await.unwrap();

    server.record_events(&[visit("e-3", "c-1")]).await.unwrap();
    assert_eq!(server.pending.generation(), generation, "not rebuilt");
    assert_eq!(server.pending.len(), 4);
    assert_eq!(server.history("c-1").await.unwrap().events.len(), 2);
    assert_eq!(
        server.history("c-2").await.unwrap().events,
        vec![visit("e-2", "c-2")]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_beside_writes_and_folds_see_every_committed_event_once() {
    // Each customer's events are committed in id order; a read at any moment must see a
    // prefix of them, whole and without repeats, however the folds move them meanwhile.
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::connect(&file_url(dir.path())).await.unwrap();
    let event = |n: usize| {
        let mut event = visit(&format!("e-{n:05}"), &format!("c-{}", n % 3));
        event.at = crate::domain::time::Timestamp::from_seconds(1_750_000_000 + n as i64);
        event
    };
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            for batch in 0..60 {
                let events: Vec<Event> = (batch * 30..(batch + 1) * 30).map(event).collect();
                store.record_events(&events).await.unwrap();
                if batch % 7 == 3 {
                    store.fold_pending().await.unwrap();
                }
            }
        })
    };
    let mut reads = 0;
    while !writer.is_finished() || reads < 20 {
        for customer in ["c-0", "c-1", "c-2"] {
            let ids: Vec<String> = store
                .history(customer)
                .await
                .unwrap()
                .events
                .into_iter()
                .map(|e| e.event_id)
                .collect();
            let offset: usize = customer[2..].parse().unwrap();
            let expected: Vec<String> = (0..ids.len())
                .map(|k| format!("e-{:05}", k * 3 + offset))
                .collect();
            assert_eq!(ids, expected, "{customer} after {reads} reads");
        }
        let page = store.histories(None, 10).await.unwrap();
        for (customer, history) in &page {
            let offset: usize = customer[2..].parse().unwrap();
            for (k, e) in history.events.iter().enumerate() {
                assert_eq!(e.event_id, format!("e-{:05}", k * 3 + offset));
            }
        }
        reads += 1;
    }
    writer.await.unwrap();
    assert_eq!(store.event_count("c-0").await.unwrap(), 600);
}
