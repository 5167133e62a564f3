//! The known keys: what a build learns, how writes keep it, and that another process's
//! writes are never missed.

use super::*;
use crate::domain::history::{Event, EventPayload};
use crate::domain::testkit::plain_order;
use crate::store::sqlite::tests::{file_url, visit};
use crate::store::sqlite::SqliteStore;
use crate::store::Store;

fn order(event_id: &str, customer_id: &str, order_id: &str) -> Event {
    Event {
        payload: EventPayload::Order(plain_order(order_id, 1_000)),
        ..visit(event_id, customer_id)
    }
}

/// A store on a fresh file holding `c-1` with two events (one folded, one pending) and
/// orders `o-1` (folded) and `o-2` (pending); its keys learned.
async fn learned_store(dir: &tempfile::TempDir) -> SqliteStore {
    let store = SqliteStore::connect(&file_url(dir.path())).await.unwrap();
    store
        .record_events(&[order("e-1", "c-1", "o-1")])
        .await
        .unwrap();
    store.fold_pending().await.unwrap();
    store
        .record_events(&[order("e-2", "c-1", "o-2")])
        .await
        .unwrap();
    store.learn_keys().await.unwrap();
    assert!(store.knows_keys());
    store
}

#[tokio::test]
async fn a_build_learns_the_keys_of_both_the_large_and_the_pending_tables() {
    let dir = tempfile::tempdir().unwrap();
    let store = learned_store(&dir).await;
    let known = &store.known;
    assert_eq!(
        known.event_ids_maybe_stored(&["e-1", "e-2"]),
        ["e-1", "e-2"]
    );
    assert_eq!(
        known.orders_maybe_stored(&[("c-1", "o-1"), ("c-1", "o-2")]),
        [("c-1", "o-1"), ("c-1", "o-2")]
    );
    assert!(known.customers_not_known(&["c-1"]).is_empty());
    assert_eq!(known.customers_not_known(&["c-2"]), ["c-2"]);
    // A filter at a few keys holds no false positive for a handful of new ones.
    let new_ids: Vec<String> = (0..20).map(|n| format!("new-{n}")).collect();
    let new_ids: Vec<&str> = new_ids.iter().map(String::as_str).collect();
    assert!(known.event_ids_maybe_stored(&new_ids).is_empty());
    assert!(known.orders_maybe_stored(&[("c-1", "o-3")]).is_empty());
}

#[tokio::test]
async fn writes_keep_the_knowledge_in_step() {
    let dir = tempfile::tempdir().unwrap();
    let store = learned_store(&dir).await;
    store
        .record_events(&[order("e-3", "c-2", "o-9")])
        .await
        .unwrap();
    let known = &store.known;
    assert!(known.is_ready());
    assert_eq!(known.event_ids_maybe_stored(&["e-3"]), ["e-3"]);
    assert_eq!(
        known.orders_maybe_stored(&[("c-2", "o-9")]),
        [("c-2", "o-9")]
    );
    assert!(known.customers_not_known(&["c-2"]).is_empty());

    // Retries and reused ids are still told apart with the keys known.
    let retried = store.record_events(&[order("e-3", "c-2", "o-9")]).await;
    assert_eq!(retried.unwrap().duplicates, 1);
    let reused = store.record_events(&[visit("e-1", "c-1")]).await;
    assert!(matches!(reused, Err(StoreError::EventIdReused { .. })));
    let taken = store.record_events(&[order("e-4", "c-1", "o-1")]).await;
    assert!(matches!(taken, Err(StoreError::OrderIdTaken { .. })));
}

#[tokio::test]
async fn a_group_of_batches_makes_its_committed_customers_known() {
    let dir = tempfile::tempdir().unwrap();
    let store = learned_store(&dir).await;
    let group = [
        vec![order("e-20", "c-20", "o-20"), visit("e-21", "c-1")],
        vec![visit("e-22", "c-20"), visit("e-23", "c-21")],
        // Refused (a reused event id): its new customer is not stored, nor known.
        vec![visit("e-1", "c-22"), visit("e-24", "c-23")],
    ];
    let recorded = store.record_event_batches(&group).await;
    assert_eq!(recorded.outcomes.len(), 2);
    assert!(matches!(
        recorded.failure,
        Some(StoreError::EventIdReused { .. })
    ));
    let known = &store.known;
    assert!(known
        .customers_not_known(&["c-1", "c-20", "c-21"])
        .is_empty());
    assert_eq!(
        known.customers_not_known(&["c-22", "c-23"]),
        ["c-22", "c-23"]
    );
    assert!(store.history("c-23").await.unwrap().events.is_empty());
}

#[tokio::test]
async fn a_deleted_customer_is_recreated_by_its_next_event() {
    let dir = tempfile::tempdir().unwrap();
    let store = learned_store(&dir).await;
    store.delete_customer("c-1").await.unwrap().unwrap();
    assert_eq!(store.known.customers_not_known(&["c-1"]), ["c-1"]);
    store.record_events(&[visit("e-7", "c-1")]).await.unwrap();
    let history = store.history("c-1").await.unwrap();
    assert_eq!(history.events.len(), 1);
    let id = store
        .resolve(&crate::domain::history::CustomerRef::Id("c-1".into()))
        .await
        .unwrap();
    assert_eq!(id.as_deref(), Some("c-1"));
}

#[tokio::test]
async fn another_process_writing_to_the_file_drops_the_knowledge() {
    let dir = tempfile::tempdir().unwrap();
    let server = learned_store(&dir).await;
    // An importer writing straight into the large tables, and deleting a customer: keys the
    // server's knowledge would call certainly new, and a customer it would call stored.
    let importer = SqliteStore::connect(&file_url(dir.path()))
        .await
        .unwrap()
        .writing_directly();
    importer
        .record_events(&[order("e-9", "c-5", "o-5")])
        .await
        .unwrap();
    importer.delete_customer("c-1").await.unwrap().unwrap();

    let reused = server.record_events(&[visit("e-9", "c-6")]).await;
    assert!(matches!(reused, Err(StoreError::EventIdReused { .. })));
    assert!(!server.knows_keys());
    let taken = server.record_events(&[order("e-10", "c-5", "o-5")]).await;
    assert!(matches!(taken, Err(StoreError::OrderIdTaken { .. })));
    server.record_events(&[visit("e-11", "c-1")]).await.unwrap();
    assert_eq!(server.history("c-1").await.unwrap().events.len(), 1);

    // Relearned, the server knows the importer's keys too.
    server.learn_keys().await.unwrap();
    assert_eq!(server.known.event_ids_maybe_stored(&["e-9"]), ["e-9"]);
    assert!(server.known.customers_not_known(&["c-5"]).is_empty());
}

#[tokio::test]
async fn a_new_writer_connection_drops_the_knowledge() {
    let dir = tempfile::tempdir().unwrap();
    let store = learned_store(&dir).await;
    // data_version counts from each connection's start: another connection's count says
    // nothing about writes between the two.
    store.known.note_new_connection();
    store.record_events(&[visit("e-5", "c-1")]).await.unwrap();
    assert!(!store.knows_keys());
}

#[test]
fn writes_noted_during_a_build_join_what_it_read() {
    let known = KnownKeys::default();
    let baseline = Baseline {
        connection: 1,
        data_version: 1,
    };
    *known.state() = State::Building {
        build: 7,
        baseline,
        noted: Noted::default(),
    };
    known.note_written(["e-new"].into_iter(), [("c-1", "o-new")].into_iter());
    known.note_customers(["c-new", "c-gone"].into_iter());
    known.forget_customer("c-gone");
    known.forget_customer("c-read");
    assert_eq!(known.event_ids_maybe_stored(&["e-new"]), ["e-new"]);

    let mut read = empty_keys();
    read.customers
        .insert(known.customer_digest.digest("c-read"));
    read.customers
        .insert(known.customer_digest.digest("c-kept"));
    read.events.add(key_hash("e-read"));

    // A build overtaken by a newer one leaves the state alone.
    assert!(known.install(6, Ok(empty_keys())).unwrap().is_none());
    assert!(!known.is_ready());

    let size = known.install(7, Ok(read)).unwrap().unwrap();
    assert_eq!(size.customers, 2);
    assert!(known.is_ready());
    assert_eq!(
        known.event_ids_maybe_stored(&["e-new", "e-read"]),
        ["e-new", "e-read"]
    );
    assert_eq!(
        known.orders_maybe_stored(&[("c-1", "o-new")]),
        [("c-1", "o-new")]
    );
    assert_eq!(
        known.customers_not_known(&["c-new", "c-kept", "c-gone", "c-read"]),
        ["c-gone", "c-read"]
    );
}

fn empty_keys() -> Keys {
    Keys {
        events: GrowingBloom::planned_for(100),
        orders: GrowingBloom::planned_for(100),
        customers: DigestSet::default(),
    }
}

#[test]
fn a_failed_read_leaves_the_keys_unknown() {
    let known = KnownKeys::default();
    *known.state() = State::Building {
        build: 1,
        baseline: Baseline {
            connection: 1,
            data_version: 1,
        },
        noted: Noted::default(),
    };
    let failed = known.install(1, Err(StoreError::Backend("disk gone".into())));
    assert!(failed.is_err());
    assert!(!known.is_ready());
    assert_eq!(known.customers_not_known(&["c-1"]), ["c-1"]);
}

#[test]
fn the_digest_set_hashes_a_digest_by_its_low_half() {
    let digests = DigestKeys::default();
    let mut set = DigestSet::default();
    let stored = digests.digest("c-1");
    set.insert(stored);
    assert!(set.contains(&stored));
    assert!(!set.contains(&digests.digest("c-2")));
    assert_eq!(DigestAsHash.hash_one(stored), stored as u64);
}
