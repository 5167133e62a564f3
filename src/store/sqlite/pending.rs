//! Where this process finds the rows of the pending tables ([`super::journal`]), which have
//! no index but their recording order.
//!
//! Indexes on the pending tables keyed by customer, event id or order were the ingest's
//! critical path: every event inserted into each of them at a random place, and every commit
//! wrote back nearly every page of them, as the events of a group spread over all customers.
//! The tables are now only appended to, and this process keeps their rowids by key in memory
//! instead, until the fold moves the rows away: 16 bytes for each of an event's two entries
//! (by customer and by id) and 16 for an order's, about 40 bytes per pending event.
//!
//! Keys are held as 64-bit hashes, so a lookup may find rows of another key: every read
//! checks the keys of the rows it fetches. The index is a superset of the committed rows: a
//! write notes its rows before it commits, and a rolled-back write leaves entries whose rows
//! are gone, or were recorded again later under the same rowid with keys of their own (checked
//! as above).
//!
//! Rows leave the index only after the fold that moved them commits, and each such removal
//! starts a new generation: a reader whose snapshot may predate the fold reads the
//! generation before it starts, and reads again if it changed ([`PendingIndex::rowids`]).
//!
//! Another process's writes to the same file are noticed at this process's next write, like
//! the known keys ([`super::known`]), and the index catches up inside that write's
//! transaction ([`PendingIndex::sync`]). A loader's writes go to the large tables and cost
//! nothing here; another server's pending rows are read and added. Until then a reader
//! notices pending events beyond the newest this index holds, and finds its customers' rows by
//! scanning the table instead.

mod runs;
#[cfg(test)]
mod tests;

use std::hash::BuildHasher;
use std::sync::{LazyLock, Mutex, MutexGuard};

use sqlx::SqliteConnection;

use super::known::Baseline;
use super::rows::{cut, Shapes};
use runs::Runs;

use crate::store::StoreError;

/// The rowids of the pending tables by key, for this process.
#[derive(Debug, Default)]
pub(super) struct PendingIndex {
    index: Mutex<Index>,
}

#[derive(Debug, Default)]
struct Index {
    events_by_customer: Runs,
    events_by_id: Runs,
    orders_by_customer: Runs,
    /// Changes whenever rows leave the index.
    generation: u64,
    /// The newest event and order seqs noted since the pending rows were last all folded.
    newest_event: i64,
    newest_order: i64,
    /// The writer connection's baseline when the index last matched the tables.
    synced: Option<Baseline>,
}

/// Which pending table a lookup reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Pending {
    Events,
    Orders,
}

/// What a reader found for its keys, and in which generation.
#[derive(Debug)]
pub(super) struct Found {
    pub generation: u64,
    /// Pending events with later seqs are not in the index.
    pub newest_event: i64,
    /// Sorted, without repeats.
    pub rowids: Vec<i64>,
}

/// The index's hash of a key: fixed keys, as the index lives in this process only, and a
/// fast one, as a key it confuses with another only costs a row read and checked.
fn key_hash(key: &str) -> u64 {
    foldhash::fast::FixedState::default().hash_one(key)
}

impl PendingIndex {
    fn index(&self) -> MutexGuard<'_, Index> {
        // The index holds no invariant a panicking writer could break halfway: entries are
        // only ever a superset, so a poisoned lock is still usable.
        self.index
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Inside a write transaction that touches the pending tables, whose writer baseline is
    /// `now` ([`Baseline`]): brings the index in step with them unless it has followed every
    /// write since it was last built. Most other connections' commits are a loader's, which
    /// add no pending rows; rows another server appended after the newest this index holds
    /// are read and added; and when pending rows this index holds were folded away by another
    /// process, it is rebuilt whole.
    pub async fn sync(&self, conn: &mut SqliteConnection, now: Baseline) -> Result<(), StoreError> {
        let (synced, newest) = {
            let index = self.index();
            (index.synced, (index.newest_event, index.newest_order))
        };
        if synced == Some(now) {
            return Ok(());
        }
        let (last_event, last_order): (Option<i64>, Option<i64>) = sqlx::query_as(
            "SELECT (SELECT max(seq) FROM pending_events), (SELECT max(seq) FROM pending_orders)",
        )
        .fetch_one(&mut *conn)
        .await?;
        let (last_event, last_order) = (last_event.unwrap_or(0), last_order.unwrap_or(0));
        let appended_only = synced.is_some_and(|synced| synced.same_connection(&now))
            && last_event >= newest.0
            && last_order >= newest.1;
        let after = if appended_only {
            newest
        } else {
            self.clear();
            (0, 0)
        };
        let events: Vec<(i64, String, String)> =
            sqlx::query_as("SELECT seq, customer_id, event_id FROM pending_events WHERE seq > ?")
                .bind(after.0)
                .fetch_all(&mut *conn)
                .await?;
        let orders: Vec<(i64, String)> =
            sqlx::query_as("SELECT seq, customer_id FROM pending_orders WHERE seq > ?")
                .bind(after.1)
                .fetch_all(&mut *conn)
                .await?;
        self.note_events(
            events
                .iter()
                .map(|(seq, customer, event)| (customer.as_str(), event.as_str(), *seq)),
        );
        self.note_orders(
            orders
                .iter()
                .map(|(seq, customer)| (customer.as_str(), *seq)),
        );
        self.index().synced = Some(now);
        if synced.is_some() {
            tracing::info!(
                events = events.len(),
                orders = orders.len(),
                whole = !appended_only,
                "another connection wrote to the database: pending rows indexed"
            );
        }
        Ok(())
    }

    /// Forgets every entry, as a new generation.
    fn clear(&self) {
        let mut index = self.index();
        index.events_by_customer.clear();
        index.events_by_id.clear();
        index.orders_by_customer.clear();
        index.newest_event = 0;
        index.newest_order = 0;
        index.generation += 1;
    }

    /// Pending events about to be written: (customer, event id, seq).
    pub fn note_events<'e>(&self, rows: impl Iterator<Item = (&'e str, &'e str, i64)>) {
        let (by_customer, by_id): (Vec<_>, Vec<_>) = rows
            .map(|(customer, event, seq)| ((key_hash(customer), seq), (key_hash(event), seq)))
            .unzip();
        let newest = by_customer.iter().map(|&(_, seq)| seq).max();
        let mut index = self.index();
        index.events_by_customer.add(by_customer);
        index.events_by_id.add(by_id);
        index.newest_event = index.newest_event.max(newest.unwrap_or(0));
    }

    /// Pending orders about to be written: (customer, seq).
    pub fn note_orders<'o>(&self, rows: impl Iterator<Item = (&'o str, i64)>) {
        let by_customer: Vec<(u64, i64)> = rows
            .map(|(customer, seq)| (key_hash(customer), seq))
            .collect();
        let newest = by_customer.iter().map(|&(_, seq)| seq).max();
        let mut index = self.index();
        index.orders_by_customer.add(by_customer);
        index.newest_order = index.newest_order.max(newest.unwrap_or(0));
    }

    /// After a fold committed: the rows up to these seqs left the pending tables.
    pub fn note_folded(&self, last_event: Option<i64>, last_order: Option<i64>) {
        if last_event.is_none() && last_order.is_none() {
            return;
        }
        let mut index = self.index();
        if let Some(last) = last_event {
            index.events_by_customer.drop_through(last);
            index.events_by_id.drop_through(last);
            if last >= index.newest_event {
                // The table is empty: the next seqs start from 1 again.
                index.newest_event = 0;
            }
        }
        if let Some(last) = last_order {
            index.orders_by_customer.drop_through(last);
            if last >= index.newest_order {
                index.newest_order = 0;
            }
        }
        index.generation += 1;
    }

    /// The generation a reader starts in, before its first read.
    pub fn generation(&self) -> u64 {
        self.index().generation
    }

    /// The rowids of the pending events or orders of these customers.
    pub fn of_customers<'c>(
        &self,
        table: Pending,
        customers: impl Iterator<Item = &'c str>,
    ) -> Found {
        let index = self.index();
        let runs = match table {
            Pending::Events => &index.events_by_customer,
            Pending::Orders => &index.orders_by_customer,
        };
        found(&index, runs, customers)
    }

    /// The rowids of the pending events with these ids.
    pub fn of_event_ids<'e>(&self, ids: impl Iterator<Item = &'e str>) -> Found {
        let index = self.index();
        found(&index, &index.events_by_id, ids)
    }

    /// How many entries the index holds: pending events twice, orders once.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        let index = self.index();
        index.events_by_customer.len() + index.events_by_id.len() + index.orders_by_customer.len()
    }
}

fn found<'k>(index: &Index, runs: &Runs, keys: impl Iterator<Item = &'k str>) -> Found {
    let mut rowids = Vec::new();
    for key in keys {
        runs.rowids(key_hash(key), &mut rowids);
    }
    rowids.sort_unstable();
    rowids.dedup();
    Found {
        generation: index.generation,
        newest_event: index.newest_event,
        rowids,
    }
}

/// A row of `pending_events`.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct PendingEvent {
    pub seq: i64,
    pub event_id: String,
    pub customer_id: String,
    pub at: i64,
    pub content: String,
}

/// A row of `pending_orders`.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct PendingOrder {
    pub seq: i64,
    pub customer_id: String,
    pub order_id: String,
    pub at: i64,
    pub amount: i64,
    pub refunded: i64,
}

static EVENTS_AT: LazyLock<Shapes> = LazyLock::new(|| {
    Shapes::new(
        "SELECT seq, event_id, customer_id, at, content FROM pending_events WHERE seq IN (",
        "?",
        ")",
    )
});
static EVENTS_OF: LazyLock<Shapes> = LazyLock::new(|| {
    Shapes::new(
        "SELECT seq, event_id, customer_id, at, content FROM pending_events \
         WHERE customer_id IN (",
        "?",
        ")",
    )
});
static ORDERS_AT: LazyLock<Shapes> = LazyLock::new(|| {
    Shapes::new(
        "SELECT seq, customer_id, order_id, at, amount, refunded FROM pending_orders \
         WHERE seq IN (",
        "?",
        ")",
    )
});

/// The pending events at these rowids that are still there, in seq order.
pub(super) async fn events_at(
    conn: &mut SqliteConnection,
    rowids: &[i64],
) -> Result<Vec<PendingEvent>, StoreError> {
    rows_at(conn, &EVENTS_AT, rowids).await
}

/// The pending events of these customers, found by scanning the table: for a reader that
/// met events this process's index does not hold.
pub(super) async fn events_of_scanned(
    conn: &mut SqliteConnection,
    customers: &[&str],
) -> Result<Vec<PendingEvent>, StoreError> {
    rows_at(conn, &EVENTS_OF, customers).await
}

/// The pending orders at these rowids that are still there, in seq order.
pub(super) async fn orders_at(
    conn: &mut SqliteConnection,
    rowids: &[i64],
) -> Result<Vec<PendingOrder>, StoreError> {
    rows_at(conn, &ORDERS_AT, rowids).await
}

/// The rows of a `shapes` statement for each chunk of `keys`.
async fn rows_at<'a, T, K>(
    conn: &mut SqliteConnection,
    shapes: &'a Shapes,
    keys: &'a [K],
) -> Result<Vec<T>, StoreError>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow> + Send + Unpin,
    K: sqlx::Encode<'a, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite> + Copy + Send + Sync + 'a,
{
    let mut rows = Vec::with_capacity(keys.len());
    for range in cut(keys.len()) {
        let mut query = sqlx::query_as::<_, T>(shapes.sql(range.len()));
        for key in &keys[range] {
            query = query.bind(*key);
        }
        rows.extend(query.fetch_all(&mut *conn).await?);
    }
    Ok(rows)
}
