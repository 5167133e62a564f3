//! Recording a batch of events inside one write transaction, and decoding stored events.
//!
//! A batch is decided in memory, event by event in order (so the first bad event is the one
//! reported), against what the database already holds for its orders and, when needed, its
//! event ids; it is written with multi-row statements. SQLite's write transaction is
//! exclusive, so nothing can change between the reads and the writes.
//!
//! Events and orders are written to the pending tables, which the background fold moves into
//! the large ones ([`super::journal`]); every lookup reads both places, the pending ones
//! through this process's index of them ([`super::pending`]). The events are inserted first,
//! on the bet that their ids are new (what writers send, but on retries) once the batch shows
//! no repeated id and the lookups none stored. When an id turns out stored already (the
//! insert into a table with a unique key catches it too), or repeated in the batch, the
//! inserts are taken back and each event is compared with what is stored.
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
use super::pending::{self, Pending, PendingIndex};
use super::rows::{cut, execute_all, Shapes, Statement};
use crate::domain::history::{Event, EventPayload};
use crate::store::ledger::{apply_refund, LedgerEntry, OrderKey};
use crate::store::{RecordOutcome, StoreError};

/// Events encoded between two yields: about a millisecond of work.
const ENCODE_STEP: usize = 512;

/// Per events table: its newest rowid, and taking back what was inserted after one.
const NEWEST_EVENT: [&str; 2] = [
    "SELECT max(rowid) FROM events",
    "SELECT max(rowid) FROM pending_events",
];
const TAKE_BACK_EVENTS: [&str; 2] = [
    "DELETE FROM events WHERE rowid > ?",
    "DELETE FROM pending_events WHERE rowid > ?",
];

// Of the large table; the pending ones are found through their index.
static FIND_EVENTS: LazyLock<Shapes> = LazyLock::new(|| {
    Shapes::new(
        "SELECT event_id, content FROM events WHERE event_id IN (",
        "?",
        ")",
    )
});
static ANY_EVENT_FOLDED: LazyLock<Shapes> =
    LazyLock::new(|| Shapes::new("SELECT 1 FROM events WHERE event_id IN (", "?", ") LIMIT 1"));
// Joined from the key list: `(a, b) IN (VALUES ...)` would scan the whole table.
static FIND_ORDERS: LazyLock<Shapes> = LazyLock::new(|| {
    Shapes::new(
        "SELECT o.customer_id, o.order_id, o.at, o.amount, o.refunded FROM (VALUES ",
        "(?, ?)",
        ") AS k CROSS JOIN orders AS o ON o.customer_id = k.column1 AND o.order_id = k.column2",
    )
});
static INSERT_CUSTOMERS: LazyLock<Shapes> = LazyLock::new(|| {
    Shapes::new(
        "INSERT OR IGNORE INTO customers (id, profile, created_at, updated_at) VALUES ",
        "(?, NULL, ?, ?)",
        "",
    )
});
// Pending rows get their seq from the writer, which notes it in the index.
static INSERT_EVENTS: LazyLock<[Shapes; 2]> = LazyLock::new(|| {
    [
        Shapes::new(
            "INSERT OR IGNORE INTO events (event_id, customer_id, at, content) VALUES ",
            "(?, ?, ?, ?)",
            "",
        ),
        Shapes::new(
            "INSERT OR IGNORE INTO pending_events (event_id, customer_id, at, content, seq) \
             VALUES ",
            "(?, ?, ?, ?, ?)",
            "",
        ),
    ]
});
static INSERT_ORDERS: LazyLock<[Shapes; 2]> = LazyLock::new(|| {
    [
        Shapes::new(
            "INSERT OR IGNORE INTO orders \
             (customer_id, order_id, event_id, at, amount, refunded) VALUES ",
            "(?, ?, ?, ?, ?, ?)",
            "",
        ),
        Shapes::new(
            "INSERT OR IGNORE INTO pending_orders \
             (customer_id, order_id, event_id, at, amount, refunded, seq) VALUES ",
            "(?, ?, ?, ?, ?, ?, ?)",
            "",
        ),
    ]
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
    /// The index of the written table in [`NEWEST_EVENT`] and the other per-table statements.
    fn table(self) -> usize {
        match self {
            Placement::Direct => 0,
            Placement::Pending => 1,
        }
    }
}
/// A refunded order is updated where it is: a folded one by key, a pending one by seq.
static UPDATE_REFUNDED: LazyLock<Shapes> = LazyLock::new(|| {
    Shapes::new(
        "UPDATE orders SET refunded = r.column3 FROM (VALUES ",
        "(?, ?, ?)",
        ") AS r WHERE orders.customer_id = r.column1 AND orders.order_id = r.column2",
    )
});
static UPDATE_PENDING_REFUNDED: LazyLock<Shapes> = LazyLock::new(|| {
    Shapes::new(
        "UPDATE pending_orders SET refunded = r.column2 FROM (VALUES ",
        "(?, ?)",
        ") AS r WHERE pending_orders.seq = r.column1",
    )
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

/// What a batch is decided against besides the database: the keys known not to be stored, and
/// where the pending rows are.
pub(super) struct Lookups<'a> {
    pub known: &'a KnownKeys,
    pub pending: &'a PendingIndex,
}

/// Applies `events`, encoded as `contents` ([`encode`]), in order on an [`unenforced`]
/// connection inside a write transaction whose [`PendingIndex::sync`] has run. `Ok(Err(_))`:
/// the batch is refused and nothing of it is written. `Err(_)`: the database failed, possibly
/// halfway; the caller must roll the transaction back.
///
/// Adds to `looked_up` the customers the known keys did not hold; every one of them is stored
/// once the transaction commits, and the caller then notes them
/// ([`KnownKeys::note_customers`]). The other customers are known already: noting all of them
/// again cost a lookup in a million keys per event.
pub(super) async fn record<'e>(
    conn: &mut SqliteConnection,
    events: &'e [Event],
    contents: &[String],
    placement: Placement,
    lookups: Lookups<'_>,
    looked_up: &mut Vec<&'e str>,
) -> Result<Result<RecordOutcome, StoreError>, StoreError> {
    let Lookups { known, pending } = lookups;
    let (mut ledger, pending_orders) = stored_orders(conn, events, known, pending).await?;

    // Optimistically, every event id is new (what writers send but on retries): unless the
    // batch repeats one or a lookup finds one stored, insert them all. If any was stored
    // already after all (a unique key refuses it), take the inserts back and decide event by
    // event against what is stored. Rows inserted now get rowids above every one of that
    // table (SQLite's rowid rule, or the seqs given, unless the largest rowid is taken, which
    // the guard rules out).
    let table = placement.table();
    let everything: Vec<usize> = (0..events.len()).collect();
    let (before,): (Option<i64>,) = sqlx::query_as(NEWEST_EVENT[table])
        .fetch_one(&mut *conn)
        .await?;
    let before = before.unwrap_or(0);
    let ids = sorted_unique(events.iter().map(|e| e.event_id.as_str()));
    let fresh = before < i64::MAX - events.len() as i64
        && ids.len() == events.len()
        && !any_stored(
            conn,
            &known.event_ids_maybe_stored(&ids),
            placement,
            pending,
        )
        .await?
        && execute_all(
            &mut *conn,
            event_rows(events, contents, &everything, placement, before),
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
        stored = Some(stored_contents(conn, events, pending).await?);
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

    let events_left = (!fresh).then(|| event_rows(events, contents, &accepted, placement, before));
    let orders_before = match placement {
        Placement::Direct => 0,
        Placement::Pending => newest_pending_order(conn).await?,
    };
    let orders = ledger_rows(events, &ledger, &pending_orders, placement, orders_before);
    let (missing, not_known) = missing_customers(conn, events, known).await?;
    looked_up.extend(not_known);
    let rows = customer_rows(missing).chain(events_left.into_iter().flatten());
    execute_all(&mut *conn, rows).await?;
    // `OR IGNORE` would skip a row that breaks a CHECK; the ledger rules that out, and a
    // skipped row fails the transaction rather than vanish.
    let inserted = execute_all(&mut *conn, orders.inserts).await?;
    if inserted != orders.new.len() as u64 {
        return Err(StoreError::Backend(format!(
            "stored {inserted} of {} new orders",
            orders.new.len()
        )));
    }
    execute_all(conn, orders.updates).await?;
    if placement == Placement::Pending {
        // Before the commit: the index may list rows a reader cannot see yet, never the
        // other way round.
        pending.note_events(accepted.iter().zip(before + 1..).map(|(&i, seq)| {
            let event = &events[i];
            (event.customer_id.as_str(), event.event_id.as_str(), seq)
        }));
        pending.note_orders(
            orders
                .new
                .iter()
                .zip(orders_before + 1..)
                .map(|(((customer, _), _, _), seq)| (*customer, seq)),
        );
    }
    Ok(Ok(outcome))
}

async fn newest_pending_order(conn: &mut SqliteConnection) -> Result<i64, StoreError> {
    let (newest,): (Option<i64>,) = sqlx::query_as("SELECT max(seq) FROM pending_orders")
        .fetch_one(conn)
        .await?;
    Ok(newest.unwrap_or(0))
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
    ledger: &mut Ledger<'e>,
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

/// Whether any of `ids` (sorted, those the known keys do not rule out) is stored where no
/// unique key would refuse it on insert: among the pending events, or, when the batch goes
/// there, among the folded ones. Read-only.
async fn any_stored(
    conn: &mut SqliteConnection,
    ids: &[&str],
    placement: Placement,
    pending: &PendingIndex,
) -> Result<bool, StoreError> {
    let rows = pending::events_at(conn, &pending.of_event_ids(ids.iter().copied()).rowids).await?;
    if rows
        .iter()
        .any(|row| ids.binary_search(&row.event_id.as_str()).is_ok())
    {
        return Ok(true);
    }
    if placement == Placement::Direct {
        return Ok(false);
    }
    for range in cut(ids.len()) {
        let mut query = sqlx::query(ANY_EVENT_FOLDED.sql(range.len()));
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
    pending: &PendingIndex,
) -> Result<HashMap<&'e str, String>, StoreError> {
    let ids = sorted_unique(events.iter().map(|e| e.event_id.as_str()));
    let mut stored = HashMap::new();
    for range in cut(ids.len()) {
        let chunk = &ids[range];
        let mut query = sqlx::query_as(FIND_EVENTS.sql(chunk.len()));
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
    let found = pending.of_event_ids(ids.iter().copied());
    for row in pending::events_at(conn, &found.rowids).await? {
        // The index finds by hash: rows of other ids are skipped here.
        if let Ok(at) = ids.binary_search(&row.event_id.as_str()) {
            stored.insert(ids[at], row.content);
        }
    }
    Ok(stored)
}

/// The stored orders that the batch's orders and refunds name, and the seq of each of them
/// that is pending.
async fn stored_orders<'e>(
    conn: &mut SqliteConnection,
    events: &'e [Event],
    known: &KnownKeys,
    pending: &PendingIndex,
) -> Result<(Ledger<'e>, HashMap<OrderKey<'e>, i64>), StoreError> {
    let keys = sorted_unique(events.iter().filter_map(order_key));
    let keys = known.orders_maybe_stored(&keys);
    let mut ledger = HashMap::new();
    for range in cut(keys.len()) {
        let chunk = &keys[range];
        let mut query = sqlx::query_as(FIND_ORDERS.sql(chunk.len()));
        for (customer, order) in chunk {
            query = query.bind(*customer).bind(*order);
        }
        let rows: Vec<(String, String, i64, i64, i64)> = query.fetch_all(&mut *conn).await?;
        for (customer, order, at, amount, refunded) in rows {
            let Ok(found) = chunk.binary_search(&(customer.as_str(), order.as_str())) else {
                continue;
            };
            ledger.insert(chunk[found], LedgerEntry::stored(at, amount, refunded));
        }
    }
    let mut pending_seqs = HashMap::new();
    let customers = sorted_unique(keys.iter().map(|(customer, _)| *customer));
    let found = pending.of_customers(Pending::Orders, customers.into_iter());
    for row in pending::orders_at(conn, &found.rowids).await? {
        // The index finds by the customer's hash: other customers' orders are skipped here.
        let Ok(at) = keys.binary_search(&(row.customer_id.as_str(), row.order_id.as_str())) else {
            continue;
        };
        let entry = LedgerEntry::stored(row.at, row.amount, row.refunded);
        ledger.insert(keys[at], entry);
        pending_seqs.insert(keys[at], row.seq);
    }
    Ok((ledger, pending_seqs))
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
/// The customers of `events` that are not stored, and those the known keys did not hold.
async fn missing_customers<'e>(
    conn: &mut SqliteConnection,
    events: &'e [Event],
    known: &KnownKeys,
) -> Result<(Vec<&'e str>, Vec<&'e str>), StoreError> {
    let customers = sorted_unique(events.iter().map(|e| e.customer_id.as_str()));
    let not_known = known.customers_not_known(&customers);
    let stored = stored_ids(conn, &not_known).await?;
    let missing = not_known
        .iter()
        .copied()
        .filter(|id| stored.binary_search(id).is_err())
        .collect();
    Ok((missing, not_known))
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
/// breaks ties between equal instants. Pending ones get the seqs after `before`.
fn event_rows<'q>(
    events: &'q [Event],
    contents: &'q [String],
    accepted: &'q [usize],
    placement: Placement,
    before: i64,
) -> impl Iterator<Item = Statement<'q>> + 'q {
    let shapes = &INSERT_EVENTS[placement.table()];
    cut(accepted.len()).map(move |range| {
        let mut query = sqlx::query(shapes.sql(range.len()));
        for (&i, seq) in accepted[range.clone()]
            .iter()
            .zip(before + 1 + range.start as i64..)
        {
            let event = &events[i];
            query = query
                .bind(event.event_id.as_str())
                .bind(event.customer_id.as_str())
                .bind(event.at.micros())
                .bind(contents[i].as_str());
            if placement == Placement::Pending {
                query = query.bind(seq);
            }
        }
        query
    })
}

type Ledger<'e> = HashMap<OrderKey<'e>, LedgerEntry>;

/// A batch's writes to the ledger.
struct OrderRows<'q, I, U> {
    /// The new orders, in key order: (key, entry, index of the event adding it).
    new: Vec<(OrderKey<'q>, &'q LedgerEntry, usize)>,
    inserts: I,
    updates: U,
}

/// The new orders, the statements that insert them (with their refunds so far; pending ones
/// get the seqs after `orders_before`), and those that update refunded stored ones.
fn ledger_rows<'q>(
    events: &'q [Event],
    ledger: &'q Ledger<'q>,
    pending_seqs: &HashMap<OrderKey<'q>, i64>,
    placement: Placement,
    orders_before: i64,
) -> OrderRows<'q, impl Iterator<Item = Statement<'q>> + 'q, impl Iterator<Item = Statement<'q>> + 'q>
{
    let mut new: Vec<(OrderKey<'q>, &LedgerEntry, usize)> = ledger
        .iter()
        .filter_map(|(key, entry)| entry.added_by.map(|index| (*key, entry, index)))
        .collect();
    new.sort_unstable_by_key(|(key, _, _)| *key);
    let (mut refunded_pending, mut refunded_folded): (Vec<_>, Vec<_>) = ledger
        .iter()
        .filter(|(_, entry)| entry.added_by.is_none() && entry.changed)
        .map(|(key, entry)| (*key, pending_seqs.get(key).copied(), entry.refunded))
        .partition(|(_, seq, _)| seq.is_some());
    refunded_pending.sort_unstable_by_key(|(_, seq, _)| *seq);
    refunded_folded.sort_unstable_by_key(|(key, _, _)| *key);

    let shapes = &INSERT_ORDERS[placement.table()];
    let inserted = new.clone();
    let inserts = cut(new.len()).map(move |range| {
        let mut query = sqlx::query(shapes.sql(range.len()));
        let rows = inserted[range.clone()].iter();
        for (((customer, order), entry, index), seq) in
            rows.zip(orders_before + 1 + range.start as i64..)
        {
            query = query
                .bind(*customer)
                .bind(*order)
                .bind(events[*index].event_id.as_str())
                .bind(entry.at)
                .bind(entry.amount)
                .bind(entry.refunded);
            if placement == Placement::Pending {
                query = query.bind(seq);
            }
        }
        query
    });
    let folded_updates = cut(refunded_folded.len()).map(move |range| {
        let mut query = sqlx::query(UPDATE_REFUNDED.sql(range.len()));
        for ((customer, order), _, refunded) in &refunded_folded[range] {
            query = query.bind(*customer).bind(*order).bind(*refunded);
        }
        query
    });
    let pending_updates = cut(refunded_pending.len()).map(move |range| {
        let mut query = sqlx::query(UPDATE_PENDING_REFUNDED.sql(range.len()));
        for (_, seq, refunded) in &refunded_pending[range] {
            query = query.bind(*seq).bind(*refunded);
        }
        query
    });
    OrderRows {
        new,
        inserts,
        updates: folded_updates.chain(pending_updates),
    }
}
