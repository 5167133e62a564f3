//! Recording a batch of events inside one write transaction, and decoding stored events.
//!
//! A batch is decided in memory, event by event in order (so the first bad event is the one
//! reported), against what the database already holds for its orders and, when needed, its
//! event ids; it is written with multi-row statements. SQLite's write transaction is
//! exclusive, so nothing can change between the reads and the writes.
//!
//! Events and orders are written to the pending tables, which the background fold moves into
//! the large ones ([`super::journal`]); every lookup reads both places. The events are inserted
//! first, on the bet that their ids are new (what writers send, but on retries): the insert
//! checks the ids against the pending ones on the way, and one read-only lookup against the
//! folded ones. When an id turns out stored already, or repeated in the batch, the inserts are
//! taken back and each event is compared with what is stored.
//!
//! That insert is the only write before the batch is decided, and it is taken back by hand
//! when the batch is refused, so a batch needs no savepoint. The connection runs without
//! foreign key enforcement ([`unenforced`]) and the inserts are `OR IGNORE` forms: SQLite then
//! keeps no statement journal (a copy of every page a multi-row statement touches), and looks
//! up no customer per event. Every row written names a customer that the batch creates if
//! missing, so the keys hold all the same.
//!
//! Every lookup goes through a primary key, and keys are visited in sorted order, so a batch
//! touches each B-tree page once however large the tables grow.

use std::collections::HashMap;
use std::sync::LazyLock;

use sqlx::pool::PoolConnection;
use sqlx::{Sqlite, SqliteConnection, SqlitePool};

use super::customers::stored_ids;
use super::known::KnownKeys;
use super::now_micros;
use super::rows::{cut, execute_all, Shapes, Statement};
use crate::domain::history::{Event, EventPayload};
use crate::store::ledger::{apply_refund, LedgerEntry, OrderKey};
use crate::store::{RecordOutcome, StoreError};

/// Events encoded between two yields: about a millisecond of work.
const ENCODE_STEP: usize = 512;

/// Where a batch's events and orders are looked up: the large tables and the pending ones
/// ([`super::journal`]). A row is in exactly one of the two.
const EVENT_TABLES: [&str; 2] = ["events", "pending_events"];
/// Per events table: its newest rowid, and taking back what was inserted after one.
const NEWEST_EVENT: [&str; 2] = [
    "SELECT max(rowid) FROM events",
    "SELECT max(rowid) FROM pending_events",
];
const TAKE_BACK_EVENTS: [&str; 2] = [
    "DELETE FROM events WHERE rowid > ?",
    "DELETE FROM pending_events WHERE rowid > ?",
];

static FIND_EVENTS: LazyLock<[Shapes; 2]> = LazyLock::new(|| {
    EVENT_TABLES.map(|table| {
        Shapes::new(
            &format!("SELECT event_id, content FROM {table} WHERE event_id IN ("),
            "?",
            ")",
        )
    })
});
/// Whether any of the ids is in the events table that a [`Placement`] does not write:
/// read-only, so the fresh path writes nothing there.
static ANY_EVENT_ELSEWHERE: LazyLock<[Shapes; 2]> = LazyLock::new(|| {
    [EVENT_TABLES[1], EVENT_TABLES[0]].map(|table| {
        Shapes::new(
            &format!("SELECT 1 FROM {table} WHERE event_id IN ("),
            "?",
            ") LIMIT 1",
        )
    })
});
// Joined from the key list: `(a, b) IN (VALUES ...)` would scan the whole table.
static FIND_ORDERS: LazyLock<[Shapes; 2]> = LazyLock::new(|| {
    ORDER_TABLES.map(|table| {
        Shapes::new(
            "SELECT o.customer_id, o.order_id, o.at, o.amount, o.refunded FROM (VALUES ",
            "(?, ?)",
            &format!(
                ") AS k CROSS JOIN {table} AS o \
                 ON o.customer_id = k.column1 AND o.order_id = k.column2"
            ),
        )
    })
});
const ORDER_TABLES: [&str; 2] = ["orders", "pending_orders"];
static INSERT_CUSTOMERS: LazyLock<Shapes> = LazyLock::new(|| {
    Shapes::new(
        "INSERT OR IGNORE INTO customers (id, profile, created_at, updated_at) VALUES ",
        "(?, NULL, ?, ?)",
        "",
    )
});
static INSERT_EVENTS: LazyLock<[Shapes; 2]> = LazyLock::new(|| {
    EVENT_TABLES.map(|table| {
        Shapes::new(
            &format!("INSERT OR IGNORE INTO {table} (event_id, customer_id, at, content) VALUES "),
            "(?, ?, ?, ?)",
            "",
        )
    })
});
static INSERT_ORDERS: LazyLock<[Shapes; 2]> = LazyLock::new(|| {
    ORDER_TABLES.map(|table| {
        Shapes::new(
            &format!(
                "INSERT OR IGNORE INTO {table} \
                 (customer_id, order_id, event_id, at, amount, refunded) VALUES "
            ),
            "(?, ?, ?, ?, ?, ?)",
            "",
        )
    })
});

/// Where a batch's new rows go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Placement {
    /// Into the pending tables, which the fold empties ([`super::journal`]): what a server
    /// does.
    #[default]
    Pending,
    /// Straight into the large tables: for bulk loaders, whose events come customer by
    /// customer, so the indexes take them nearly in order, and which would otherwise write
    /// every event twice (a demo load of 300,000 customers took 39.5 s through the pending
    /// tables and 22.2 s straight).
    Direct,
}

impl Placement {
    /// The index of the written table in [`EVENT_TABLES`] and [`ORDER_TABLES`].
    fn table(self) -> usize {
        match self {
            Placement::Direct => 0,
            Placement::Pending => 1,
        }
    }
}
/// A refunded order is updated where it is; in the other table the statement matches nothing.
static UPDATE_REFUNDED: LazyLock<[Shapes; 2]> = LazyLock::new(|| {
    ORDER_TABLES.map(|table| {
        Shapes::new(
            &format!("UPDATE {table} SET refunded = r.column3 FROM (VALUES "),
            "(?, ?, ?)",
            &format!(
                ") AS r WHERE {table}.customer_id = r.column1 AND {table}.order_id = r.column2"
            ),
        )
    })
});

/// The stored form of every event (`content_fingerprint()`), computed in steps with a yield
/// between them. It runs before the write transaction begins: then it overlaps the
/// transactions of other writers (statements, commits) instead of holding the writer.
pub(super) async fn encode(events: &[Event]) -> Result<Vec<String>, StoreError> {
    let mut contents: Vec<String> = Vec::with_capacity(events.len());
    for (step, chunk) in events.chunks(ENCODE_STEP).enumerate() {
        if step > 0 {
            tokio::task::yield_now().await;
        }
        contents.extend(chunk.iter().map(Event::content_fingerprint));
    }
    if let Some(index) = contents.iter().position(String::is_empty) {
        return Err(StoreError::Backend(format!(
            "events[{index}] cannot be encoded"
        )));
    }
    Ok(contents)
}

/// The writer connection without foreign key enforcement, for a transaction of [`record`]
/// calls (the pragma cannot change inside a transaction). The writer pool turns enforcement
/// back on whenever it hands the connection out ([`super::enforce_keys`]).
pub(super) async fn unenforced(pool: &SqlitePool) -> Result<PoolConnection<Sqlite>, StoreError> {
    let mut conn = pool.acquire().await?;
    sqlx::query("PRAGMA foreign_keys = OFF")
        .execute(&mut *conn)
        .await?;
    Ok(conn)
}

/// Applies `events`, encoded as `contents` ([`encode`]), in order on an [`unenforced`]
/// connection inside a write transaction. `Ok(Err(_))`: the batch is refused and nothing of
/// it is written. `Err(_)`: the database failed, possibly halfway; the caller must roll the
/// transaction back.
pub(super) async fn record(
    conn: &mut SqliteConnection,
    events: &[Event],
    contents: &[String],
    placement: Placement,
    known: &KnownKeys,
) -> Result<Result<RecordOutcome, StoreError>, StoreError> {
    let mut ledger = stored_orders(conn, events, known).await?;

    // Optimistically, every event id is new (what writers send but on retries): unless one
    // is in the other events table, insert them all into the placement's, which checks them
    // on the way. If any was stored already, or repeats in the batch, take the inserts back
    // and decide event by event against what is stored. Rows inserted now get rowids above
    // every one of that table (SQLite's rowid rule, unless the largest rowid is taken, which
    // the guard rules out).
    let table = placement.table();
    let everything: Vec<usize> = (0..events.len()).collect();
    let (before,): (Option<i64>,) = sqlx::query_as(NEWEST_EVENT[table])
        .fetch_one(&mut *conn)
        .await?;
    let before = before.unwrap_or(0);
    let fresh = before < i64::MAX
        && !any_elsewhere(conn, events, placement, known).await?
        && execute_all(
            &mut *conn,
            event_rows(events, contents, &everything, placement),
        )
        .await?
            == events.len() as u64;
    // Noted before the batch is decided: a refused batch only costs later lookups.
    known.note_written(
        events.iter().map(|e| e.event_id.as_str()),
        events.iter().filter_map(order_key),
    );
    let mut stored = None;
    if !fresh {
        take_back_events(conn, table, before).await?;
        stored = Some(stored_contents(conn, events).await?);
    }
    let (outcome, accepted) = match decide(events, contents, stored.as_ref(), &mut ledger) {
        Ok(decided) => decided,
        Err(refused) => {
            if fresh {
                take_back_events(conn, table, before).await?;
            }
            return Ok(Err(refused));
        }
    };

    let events_left = (!fresh).then(|| event_rows(events, contents, &accepted, placement));
    let (new_orders, inserts, updates) = ledger_rows(events, &ledger, placement);
    let missing = missing_customers(conn, events, known).await?;
    let rows = customer_rows(missing).chain(events_left.into_iter().flatten());
    execute_all(&mut *conn, rows).await?;
    // `OR IGNORE` would skip a row that breaks a CHECK; the ledger rules that out, and a
    // skipped row fails the transaction rather than vanish.
    let inserted = execute_all(&mut *conn, inserts).await?;
    if inserted != new_orders as u64 {
        return Err(StoreError::Backend(format!(
            "stored {inserted} of {new_orders} new orders"
        )));
    }
    execute_all(conn, updates).await?;
    Ok(Ok(outcome))
}

/// Deletes the events inserted into events table `table` after rowid `before`.
async fn take_back_events(
    conn: &mut SqliteConnection,
    table: usize,
    before: i64,
) -> Result<(), StoreError> {
    sqlx::query(TAKE_BACK_EVENTS[table])
        .bind(before)
        .execute(conn)
        .await?;
    Ok(())
}

/// Decides the batch in order against the stored contents of its event ids (`None`: every
/// id is new and the batch repeats none) and the ledger of its orders, which it updates.
/// Returns the outcome and the events to store.
fn decide<'e>(
    events: &'e [Event],
    contents: &'e [String],
    stored: Option<&HashMap<&'e str, String>>,
    ledger: &mut HashMap<OrderKey<'e>, LedgerEntry>,
) -> Result<(RecordOutcome, Vec<usize>), StoreError> {
    let mut outcome = RecordOutcome::default();
    let mut seen: HashMap<&str, &str> = HashMap::new();
    let mut accepted = Vec::with_capacity(events.len());
    for (index, event) in events.iter().enumerate() {
        if let Some(stored) = stored {
            let content = contents[index].as_str();
            let earlier = seen
                .get(event.event_id.as_str())
                .copied()
                .or_else(|| stored.get(event.event_id.as_str()).map(String::as_str));
            if let Some(earlier) = earlier {
                if earlier == content {
                    outcome.duplicates += 1;
                    continue;
                }
                return Err(StoreError::EventIdReused {
                    index,
                    event_id: event.event_id.clone(),
                });
            }
            seen.insert(&event.event_id, content);
        }
        accepted.push(index);
        match &event.payload {
            EventPayload::Order(order) => {
                let key = (event.customer_id.as_str(), order.order_id.as_str());
                if ledger.contains_key(&key) {
                    return Err(StoreError::OrderIdTaken {
                        index,
                        customer_id: event.customer_id.clone(),
                        order_id: order.order_id.clone(),
                    });
                }
                let entry = LedgerEntry::added(index, event.at.micros(), order.amount);
                ledger.insert(key, entry);
            }
            EventPayload::Refund(refund) => apply_refund(ledger, index, event, refund)?,
            _ => {}
        }
        outcome.stored += 1;
    }
    Ok((outcome, accepted))
}

/// `items` sorted and without repeats.
fn sorted_unique<T: Ord>(items: impl Iterator<Item = T>) -> Vec<T> {
    let mut items: Vec<T> = items.collect();
    items.sort_unstable();
    items.dedup();
    items
}

/// Whether any event id of the batch is in the events table that `placement` does not write.
async fn any_elsewhere(
    conn: &mut SqliteConnection,
    events: &[Event],
    placement: Placement,
    known: &KnownKeys,
) -> Result<bool, StoreError> {
    let shapes = &ANY_EVENT_ELSEWHERE[placement.table()];
    let ids = sorted_unique(events.iter().map(|e| e.event_id.as_str()));
    let ids = known.event_ids_maybe_stored(&ids);
    for range in cut(ids.len()) {
        let mut query = sqlx::query(shapes.sql(range.len()));
        for id in &ids[range] {
            query = query.bind(*id);
        }
        if query.fetch_optional(&mut *conn).await?.is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The stored content of every event id of the batch that is stored already.
async fn stored_contents<'e>(
    conn: &mut SqliteConnection,
    events: &'e [Event],
) -> Result<HashMap<&'e str, String>, StoreError> {
    let ids = sorted_unique(events.iter().map(|e| e.event_id.as_str()));
    let mut stored = HashMap::new();
    for shapes in FIND_EVENTS.iter() {
        for range in cut(ids.len()) {
            let chunk = &ids[range];
            let mut query = sqlx::query_as(shapes.sql(chunk.len()));
            for id in chunk {
                query = query.bind(*id);
            }
            let rows: Vec<(String, String)> = query.fetch_all(&mut *conn).await?;
            for (id, content) in rows {
                // Found by equality, so the chunk holds the id.
                if let Ok(at) = chunk.binary_search(&id.as_str()) {
                    stored.insert(chunk[at], content);
                }
            }
        }
    }
    Ok(stored)
}

/// The stored orders that the batch's orders and refunds name.
async fn stored_orders<'e>(
    conn: &mut SqliteConnection,
    events: &'e [Event],
    known: &KnownKeys,
) -> Result<HashMap<OrderKey<'e>, LedgerEntry>, StoreError> {
    let keys = sorted_unique(events.iter().filter_map(order_key));
    let keys = known.orders_maybe_stored(&keys);
    let mut ledger = HashMap::new();
    for shapes in FIND_ORDERS.iter() {
        for range in cut(keys.len()) {
            let chunk = &keys[range];
            let mut query = sqlx::query_as(shapes.sql(chunk.len()));
            for (customer, order) in chunk {
                query = query.bind(*customer).bind(*order);
            }
            let rows: Vec<(String, String, i64, i64, i64)> = query.fetch_all(&mut *conn).await?;
            for (customer, order, at, amount, refunded) in rows {
                let Ok(found) = chunk.binary_search(&(customer.as_str(), order.as_str())) else {
                    continue;
                };
                let entry = LedgerEntry::stored(at, amount, refunded);
                ledger.insert(chunk[found], entry);
            }
        }
    }
    Ok(ledger)
}

/// The order an ORDER or REFUND event names.
fn order_key(event: &Event) -> Option<OrderKey<'_>> {
    match &event.payload {
        EventPayload::Order(o) => Some((event.customer_id.as_str(), o.order_id.as_str())),
        EventPayload::Refund(r) => Some((event.customer_id.as_str(), r.order_id.as_str())),
        _ => None,
    }
}

/// The customers the events name that are not stored yet, each once, in id order.
async fn missing_customers<'e>(
    conn: &mut SqliteConnection,
    events: &'e [Event],
    known: &KnownKeys,
) -> Result<Vec<&'e str>, StoreError> {
    let customers = sorted_unique(events.iter().map(|e| e.customer_id.as_str()));
    let mut customers = known.customers_not_known(&customers);
    let stored = stored_ids(conn, &customers).await?;
    customers.retain(|id| stored.binary_search(id).is_err());
    Ok(customers)
}

/// Creates the customer rows the events need (foreign key).
fn customer_rows(customers: Vec<&str>) -> impl Iterator<Item = Statement<'_>> + '_ {
    let now = now_micros();
    let ranges: Vec<_> = cut(customers.len()).collect();
    ranges.into_iter().map(move |range| {
        let mut query = sqlx::query(INSERT_CUSTOMERS.sql(range.len()));
        for id in &customers[range] {
            query = query.bind(*id).bind(now).bind(now);
        }
        query
    })
}

/// Inserts the accepted events in batch order: their rowids keep the recording order that
/// breaks ties between equal instants.
fn event_rows<'q>(
    events: &'q [Event],
    contents: &'q [String],
    accepted: &'q [usize],
    placement: Placement,
) -> impl Iterator<Item = Statement<'q>> + 'q {
    let shapes = &INSERT_EVENTS[placement.table()];
    cut(accepted.len()).map(move |range| {
        let mut query = sqlx::query(shapes.sql(range.len()));
        for &i in &accepted[range] {
            let event = &events[i];
            query = query
                .bind(event.event_id.as_str())
                .bind(event.customer_id.as_str())
                .bind(event.at.micros())
                .bind(contents[i].as_str());
        }
        query
    })
}

/// How many new orders the batch has, the statements that insert them (with their refunds so
/// far), and those that update refunded stored ones, both in key order.
fn ledger_rows<'q>(
    events: &'q [Event],
    ledger: &'q HashMap<OrderKey<'q>, LedgerEntry>,
    placement: Placement,
) -> (
    usize,
    impl Iterator<Item = Statement<'q>> + 'q,
    impl Iterator<Item = Statement<'q>> + 'q,
) {
    let mut new: Vec<(OrderKey<'q>, &LedgerEntry, usize)> = ledger
        .iter()
        .filter_map(|(key, entry)| entry.added_by.map(|index| (*key, entry, index)))
        .collect();
    new.sort_unstable_by_key(|(key, _, _)| *key);
    let mut refunded: Vec<(OrderKey<'q>, i64)> = ledger
        .iter()
        .filter(|(_, entry)| entry.added_by.is_none() && entry.changed)
        .map(|(key, entry)| (*key, entry.refunded))
        .collect();
    refunded.sort_unstable_by_key(|(key, _)| *key);

    let new_orders = new.len();
    let inserts: Vec<_> = cut(new.len()).collect();
    let updates: Vec<_> = cut(refunded.len()).collect();
    let inserts = inserts.into_iter().map(move |range| {
        let mut query = sqlx::query(INSERT_ORDERS[placement.table()].sql(range.len()));
        for ((customer, order), entry, index) in &new[range] {
            query = query
                .bind(*customer)
                .bind(*order)
                .bind(events[*index].event_id.as_str())
                .bind(entry.at)
                .bind(entry.amount)
                .bind(entry.refunded);
        }
        query
    });
    let updates = UPDATE_REFUNDED.iter().flat_map(move |shapes| {
        // Owned per table: the statements bind its keys, which borrow the batch, not it.
        let refunded = refunded.clone();
        updates.clone().into_iter().map(move |range| {
            let mut query = sqlx::query(shapes.sql(range.len()));
            for ((customer, order), refunded) in &refunded[range] {
                query = query.bind(*customer).bind(*order).bind(*refunded);
            }
            query
        })
    });
    (new_orders, inserts, updates)
}

/// Decodes a stored `content_fingerprint()` back into the event. serde_json's
/// `float_roundtrip` feature (Cargo.toml) keeps ticket sentiments exact.
pub(super) fn decode_event(content: &str) -> Result<Event, StoreError> {
    serde_json::from_str(content)
        .map_err(|e| StoreError::Backend(format!("undecodable stored event: {e}")))
}
